//! Read-only inspection of a journal directory, for `ects-gateway journal stat|dump|verify`.
//!
//! Unlike [`super::Journal::open`], nothing here repairs or moves anything: a field engineer
//! can look at a journal (even one copied off a failed unit) without changing it. Every
//! segment is scanned in full, so this reads the whole journal.

use std::path::Path;

use super::fs::Filesystem;
use super::ledger::{Ledger, LedgerState};
use super::record::{Record, Stream, scan};
use super::{Result, io_err, parse_segment_name};

/// What one segment file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentReport {
    /// File name.
    pub name: String,
    /// Its stream.
    pub stream: Stream,
    /// Sealed (`.seg`) or still open (`.open`).
    pub sealed: bool,
    /// File size.
    pub bytes: u64,
    /// Valid records found.
    pub records: u64,
    /// Records the sealed name promises (None for open segments).
    pub promised: Option<u64>,
    /// Corrupt regions skipped.
    pub corrupt_regions: u64,
    /// Bytes after the last valid record that do not form one (a torn tail).
    pub torn_bytes: u64,
}

impl SegmentReport {
    /// The segment is free of damage.
    pub fn is_clean(&self) -> bool {
        self.corrupt_regions == 0
            && self.torn_bytes == 0
            && self.promised.is_none_or(|p| p == self.records)
    }
}

/// What a journal directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The ledger as found.
    pub ledger: LedgerState,
    /// Every segment, in stream then sequence order.
    pub segments: Vec<SegmentReport>,
    /// Files that are neither segments nor the ledger.
    pub other_files: Vec<String>,
    /// Unacknowledged records per stream: (events, positions).
    pub backlog: (u64, u64),
    /// Acknowledged records still on disk, kept for a resend after the broker lost its
    /// state.
    pub acknowledged_kept: u64,
    /// Receive time (µs since the epoch) of the oldest unacknowledged record.
    pub oldest_unacked_us: Option<i64>,
    /// Highest sequence number found.
    pub max_seq: u64,
}

impl Inspection {
    /// No damage anywhere (a torn tail of an open segment counts: it is repaired on start).
    pub fn is_clean(&self) -> bool {
        matches!(self.ledger, LedgerState::Valid(_) | LedgerState::Missing)
            && self.segments.iter().all(SegmentReport::is_clean)
    }
}

/// Inspects the journal in `dir`, calling `each` for every valid record with whether it is
/// acknowledged.
///
/// # Errors
/// [`JournalError::Io`](super::JournalError::Io) if the directory or a segment cannot be read.
pub fn inspect<FS: Filesystem>(
    fs: &FS,
    dir: &Path,
    mut each: impl FnMut(&Record, bool),
) -> Result<Inspection> {
    let ledger = Ledger::load(fs, dir);
    let acked = match &ledger {
        LedgerState::Valid(l) => *l,
        _ => Ledger::default(),
    };
    let mut names = fs.list(dir).map_err(io_err(dir))?;
    names.sort();
    let mut segs = Vec::new();
    let mut other_files = Vec::new();
    for name in names {
        match parse_segment_name(&name) {
            Some((stream, seg)) => segs.push((stream, seg, name)),
            None if name == super::ledger::LEDGER => {}
            None => other_files.push(name),
        }
    }
    segs.sort_by_key(|(stream, seg, _)| (*stream, seg.first_seq, seg.sealed));
    let mut out = Inspection {
        ledger,
        segments: Vec::new(),
        other_files,
        backlog: (0, 0),
        acknowledged_kept: 0,
        oldest_unacked_us: None,
        max_seq: 0,
    };
    for (stream, seg, name) in segs {
        let path = dir.join(&name);
        let len = fs.len(&path).map_err(io_err(&path))?;
        let bytes = fs.read_at(&path, 0, len as usize).map_err(io_err(&path))?;
        let s = scan(&bytes);
        let ack_point = acked.acked(stream);
        for (_, r) in &s.records {
            let is_acked = r.seq <= ack_point;
            if is_acked {
                out.acknowledged_kept += 1;
            } else {
                match stream {
                    Stream::Events | Stream::Critical => out.backlog.0 += 1,
                    Stream::Positions => out.backlog.1 += 1,
                }
                out.oldest_unacked_us = Some(
                    out.oldest_unacked_us
                        .map_or(r.received_at_us, |o| o.min(r.received_at_us)),
                );
            }
            out.max_seq = out.max_seq.max(r.seq);
            each(r, is_acked);
        }
        out.segments.push(SegmentReport {
            name,
            stream,
            sealed: seg.sealed,
            bytes: len,
            records: s.records.len() as u64,
            promised: seg.sealed.then_some(seg.count),
            corrupt_regions: s.corrupt_regions,
            torn_bytes: s.torn_bytes as u64,
        });
    }
    Ok(out)
}
