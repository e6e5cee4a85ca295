//! The store-and-forward journal: an event exists once it is here, and it stays until the
//! central broker has acknowledged it.
//!
//! # Design constraints
//! - **Nothing accepted is lost silently.** Every drop (eviction under the full-disk
//!   policy, refusal, corruption found on disk) is counted and handed out by
//!   [`Journal::take_drops`] to become a `gateway.dropped` event.
//! - **Durability by priority.** A `critical` record is written and `fdatasync`ed before
//!   [`Journal::append`] returns. Everything else is group-committed: buffered and synced
//!   at most [`JournalConfig::commit_interval`] later ([`Journal::tick`]), in large
//!   sequential writes (SD cards wear by the erase block, not the byte).
//! - **Group commit of critical records, same durability.** A caller that has several
//!   records at once (alarms from several e-locks) files them with
//!   [`Journal::append_deferred`] and makes them durable together with one
//!   [`Journal::commit`]: one `fdatasync` per stream for the whole group. Invariant: a
//!   record is reported durable (`Appended::durable`, or the sequence number `commit`
//!   returns) only after the `fdatasync` that covers it returned; the caller tells no one
//!   (device ACK, uplink) before that. Deferred records nobody commits are synced by
//!   [`Journal::tick`] like routine ones. [`Journal::next_batch`] reads what is written
//!   but not yet synced, so a reader must not run between the deferred appends and their
//!   commit (the service holds one lock over both).
//! - **Three streams.** `position` events go to their own segments ([`Stream::Positions`]),
//!   critical events to theirs ([`Stream::Critical`], read first by the uplink so that a
//!   fresh alarm never waits behind a backlog), everything else to [`Stream::Events`]. Each
//!   has its own cursor and ack point. The full-disk policy evicts whole position
//!   segments, oldest first, and never an alarm while any position remains; when only
//!   events are left and the journal is full, positions are refused (and counted) and so,
//!   as the last resort, are new events — an event already accepted is never evicted.
//! - **Sequence numbers are never reused**, even across crashes and a lost ledger: the
//!   ledger reserves them in blocks of [`SEQ_RESERVATION`] before they are handed out, so
//!   an id once published never names a different event.
//! - **Acks are per stream and contiguous.** The uplink reads records through a cursor
//!   ([`Journal::next_batch`]) and acknowledges them one by one ([`Journal::ack`]), in any
//!   order; a stream's ack point advances over the contiguous acknowledged prefix, and a
//!   segment is deleted only when every record in it is acknowledged. After a reconnect,
//!   [`Journal::rewind`] moves the cursors back to the ack points (at-least-once).
//! - **A resend window.** Fully acknowledged segments are kept for
//!   [`JournalConfig::resend_window`] (the ack point is sampled on each [`Journal::tick`]);
//!   [`Journal::resend_since`] delivers again what was acknowledged since a given time, for
//!   a broker that lost its state. Kept segments are the first to go when space is needed
//!   and never count as backlog.
//! - **Recovery never refuses to start.** A torn tail is truncated, corrupt records are
//!   skipped and counted, a damaged ledger or unreadable segment is moved aside and
//!   reported in [`Recovery`].
//!
//! # On-disk layout
//! ```text
//! <dir>/ledger                                          see ledger.rs
//! <dir>/events-<first seq:020>.open                     the segment being written
//! <dir>/events-<first:020>-<last:020>-<count:010>.seg   sealed segments
//! <dir>/positions-…, <dir>/critical-…                  the same for positions, critical
//! <dir>/*.corrupt                                       files moved aside by recovery
//! segment = record*                                     see record.rs
//! ```
//! Sealed segment names carry their last sequence number and record count, so start-up
//! lists the directory and scans only the open segments: its cost does not grow with the
//! backlog.

pub mod event_log;
pub mod fs;
pub mod inspect;
pub mod ledger;
pub mod record;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ects_firmware::event::{DropReason, Severity};

use self::fs::{AppendFile, Filesystem, ProductionFilesystem};
use self::ledger::{LEDGER, LEDGER_TMP, Ledger, LedgerState};
pub use self::record::Stream;
use self::record::{Decoded, HEADER_LEN, MAX_PAYLOAD, Record, decode, resync, scan};

/// Sequence numbers reserved in the ledger at a time (one ledger write per block).
pub const SEQ_RESERVATION: u64 = 4096;
/// Pending bytes of one stream that trigger a write (not a sync) before the commit interval.
const WRITE_BUFFER: usize = 256 * 1024;
/// Bytes read from a segment at a time by the cursor.
const READ_CHUNK: usize = 256 * 1024;
/// Default of [`JournalConfig::resend_window`].
pub const DEFAULT_RESEND_WINDOW: Duration = Duration::from_secs(30 * 60);
/// Ack-point samples for the resend window are at least this far apart (and at least a
/// 2,000th of the window); a newer sample replaces a younger one, which only makes a resend
/// reach further back.
const ACK_SAMPLE_SPACING: Duration = Duration::from_secs(1);

/// Journal settings; see [`JournalConfig::new`] for the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    /// The journal's directory (created if missing).
    pub dir: PathBuf,
    /// Upper bound of all segments together, bytes.
    pub max_bytes: u64,
    /// Size at which a segment is sealed and a new one started, bytes.
    pub segment_bytes: u64,
    /// Longest time a non-critical record waits in memory before it is synced.
    pub commit_interval: Duration,
    /// How long acknowledged records are kept so that they can be sent again when the
    /// broker turns out to have lost its state ([`Journal::resend_since`]). Zero: a segment
    /// goes as soon as all its records are acknowledged. Under space pressure retained
    /// records go first, before any unacknowledged one.
    pub resend_window: Duration,
}

impl JournalConfig {
    /// Defaults: 512 MiB in all, 4 MiB segments, 1 s group commit, acknowledged records
    /// kept 30 minutes for a resend.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JournalConfig {
            dir: dir.into(),
            max_bytes: 512 * 1024 * 1024,
            segment_bytes: 4 * 1024 * 1024,
            commit_interval: Duration::from_secs(1),
            resend_window: DEFAULT_RESEND_WINDOW,
        }
    }
}

/// Why the journal refused something.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The configuration cannot work.
    #[error("journal configuration: {0}")]
    Config(String),
    /// An I/O error the journal could not absorb.
    #[error("journal {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The payload is larger than a record can hold.
    #[error("payload of {0} bytes is larger than the {MAX_PAYLOAD}-byte record limit")]
    TooLarge(usize),
    /// The journal is full and the policy refuses this record (counted as a drop).
    #[error("journal is full: {0} refused")]
    Full(&'static str),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Result type of journal operations.
pub type Result<T> = std::result::Result<T, JournalError>;

/// Events the journal dropped, to be reported as a `gateway.dropped` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropReport {
    /// Why.
    pub reason: DropReason,
    /// How many.
    pub count: u64,
    /// The most urgent severity among them (`Info` when only positions).
    pub worst: Severity,
    /// Their sequence numbers, when they had them.
    pub seq_range: Option<(u64, u64)>,
}

/// What start-up found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes of torn tails truncated from open segments.
    pub torn_bytes: u64,
    /// Corrupt regions skipped in open segments.
    pub corrupt_regions: u64,
    /// Files moved aside (`*.corrupt`): damaged ledger, unparseable segment names.
    pub moved_aside: Vec<String>,
    /// The ledger was missing or damaged and state was rebuilt from the segments.
    pub ledger_rebuilt: bool,
    /// Records found unacknowledged.
    pub backlog: u64,
}

/// A snapshot for health reports and `journal stat`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Unacknowledged records: (events, critical ones included; positions).
    pub backlog: (u64, u64),
    /// Receive time (µs) of the oldest unacknowledged record, if any.
    pub oldest_unacked_us: Option<i64>,
    /// Bytes of all segments, including what is still buffered.
    pub bytes: u64,
    /// Number of segment files.
    pub segments: usize,
    /// Next sequence number to hand out.
    pub next_seq: u64,
    /// Ack points: (events, positions).
    pub acked: (u64, u64),
    /// Ack point of the critical events.
    pub critical_acked: u64,
    /// Events dropped over the journal's life (persisted).
    pub dropped_total: u64,
    /// Positions are being refused: the journal is full of events.
    pub refusing_positions: bool,
    /// Bytes handed to the filesystem since open (write-amplification figure).
    pub bytes_written: u64,
    /// Bytes of sealed segments kept only for the resend window (all acknowledged).
    pub retained_bytes: u64,
    /// Storage is failing: a sync, ledger store, reclaim or segment roll failed, and the
    /// journal has not been fully on disk since (the status payload's `storage.journal`).
    pub io_failing: bool,
}

/// The outcome of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The record's sequence number (its event id is `<gateway>:<seq>`).
    pub seq: u64,
    /// The record is on stable storage already (always for `critical` through
    /// [`Journal::append`] unless the disk failed, in which case it stays buffered and is
    /// retried by [`Journal::tick`]; never through [`Journal::append_deferred`]).
    pub durable: bool,
}

/// When an append makes its record durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commit {
    /// Before the append returns (critical records through [`Journal::append`]).
    Now,
    /// At the next [`Journal::commit`], [`Journal::flush`] or due [`Journal::tick`].
    Later,
}

#[derive(Debug, Clone)]
struct Segment {
    /// Sequence number in the file name (≤ that of its first record).
    first_seq: u64,
    last_seq: u64,
    count: u64,
    bytes: u64,
    sealed: bool,
}

impl Segment {
    fn file_name(&self, stream: Stream) -> String {
        if self.sealed {
            format!(
                "{}-{:020}-{:020}-{:010}.seg",
                stream.prefix(),
                self.first_seq,
                self.last_seq,
                self.count
            )
        } else {
            format!("{}-{:020}.open", stream.prefix(), self.first_seq)
        }
    }
}

fn parse_segment_name(name: &str) -> Option<(Stream, Segment)> {
    let (stream, rest) = Stream::ALL.iter().find_map(|s| {
        name.strip_prefix(s.prefix())
            .and_then(|r| r.strip_prefix('-'))
            .map(|r| (*s, r))
    })?;
    let num = |s: &str| -> Option<u64> {
        (s.len() == 20 || s.len() == 10).then_some(())?;
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if let Some(first) = rest.strip_suffix(".open") {
        return Some((
            stream,
            Segment {
                first_seq: num(first)?,
                last_seq: 0,
                count: 0,
                bytes: 0,
                sealed: false,
            },
        ));
    }
    let mut parts = rest.strip_suffix(".seg")?.split('-');
    let (first, last, count) = (
        num(parts.next()?)?,
        num(parts.next()?)?,
        num(parts.next()?)?,
    );
    if parts.next().is_some() || last < first || count == 0 {
        return None;
    }
    Some((
        stream,
        Segment {
            first_seq: first,
            last_seq: last,
            count,
            bytes: 0,
            sealed: true,
        },
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Cursor {
    /// Index into `segments`.
    segment: usize,
    offset: u64,
}

#[derive(Debug, Clone, Copy)]
struct Inflight {
    seq: u64,
    acked: bool,
    /// Where the record starts, so `rewind` can return to the first unacked one.
    at: Cursor,
}

struct StreamState<F> {
    stream: Stream,
    segments: VecDeque<Segment>,
    /// Handle of the open (last, unsealed) segment.
    file: Option<F>,
    /// Encoded records not yet handed to the filesystem.
    pending: Vec<u8>,
    /// Handed to the filesystem but not yet synced.
    unsynced: bool,
    /// When the oldest not-yet-durable record was appended.
    dirty_since: Option<Instant>,
    acked: u64,
    unacked: u64,
    inflight: VecDeque<Inflight>,
    /// Acknowledged beyond the ack point but rewound before the prefix completed: skipped
    /// when read again, so a reconnect does not resend what the broker already has.
    acked_ahead: std::collections::BTreeSet<u64>,
    cursor: Cursor,
    /// Cache of segment bytes for the cursor: (segment first_seq, offset, bytes).
    read_cache: Option<(u64, u64, Vec<u8>)>,
    /// Valid records the cursor has read in its current segment since its start (to count
    /// corrupt losses); `None` when it did not start at the beginning.
    read_in_segment: Option<u64>,
    /// How far losses to corruption have been counted: the cursor reads some records twice
    /// (after a rewind or for a resend), their losses count once. (segment first_seq,
    /// offset) of corrupt regions, and the last_seq of segments checked against their count.
    corrupt_counted: (u64, u64),
    missing_counted: u64,
    /// Acknowledged records sent again because the broker lost its state (all ≤ `acked`),
    /// not yet acknowledged on this connection.
    resend: VecDeque<Inflight>,
    /// While set to `p`, records with `p < seq ≤ acked` are delivered again when the
    /// cursor reads them (a resend in progress).
    resend_after: Option<u64>,
    /// (when, ack point) samples covering the resend window, oldest first.
    ack_samples: VecDeque<(Instant, u64)>,
    /// Acknowledged records up to here are older than the resend window: their segments
    /// may be deleted.
    expired: u64,
}

impl<F> StreamState<F> {
    fn new(stream: Stream) -> Self {
        StreamState {
            stream,
            segments: VecDeque::new(),
            file: None,
            pending: Vec::new(),
            unsynced: false,
            dirty_since: None,
            acked: 0,
            unacked: 0,
            inflight: VecDeque::new(),
            acked_ahead: std::collections::BTreeSet::new(),
            cursor: Cursor {
                segment: 0,
                offset: 0,
            },
            read_cache: None,
            read_in_segment: Some(0),
            corrupt_counted: (0, 0),
            missing_counted: 0,
            resend: VecDeque::new(),
            resend_after: None,
            ack_samples: VecDeque::new(),
            expired: 0,
        }
    }

    /// Bytes of sealed segments whose every record is acknowledged (kept for a resend).
    fn retained_bytes(&self) -> u64 {
        self.segments
            .iter()
            .take_while(|s| s.sealed && s.last_seq <= self.acked)
            .map(|s| s.bytes)
            .sum()
    }

    fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Bytes of `seg` a reader can read: of the open segment, only what reached the
    /// filesystem (the rest is still buffered in `pending`).
    fn readable(&self, seg: &Segment) -> u64 {
        if seg.sealed {
            seg.bytes
        } else {
            seg.bytes - self.pending.len() as u64
        }
    }

    fn open_segment(&self) -> Option<&Segment> {
        self.segments.back().filter(|s| !s.sealed)
    }
}

/// The journal. See the module documentation.
pub struct Journal<FS: Filesystem = ProductionFilesystem> {
    fs: FS,
    config: JournalConfig,
    /// Indexed by [`index`]: events, positions, critical.
    streams: [StreamState<FS::File>; 3],
    next_seq: u64,
    ledger: Ledger,
    ledger_dirty: bool,
    ledger_dirty_since: Option<Instant>,
    /// See [`Stats::io_failing`]: set by any I/O failure, cleared by a tick that finds
    /// everything on disk.
    io_failing: bool,
    drops: Vec<DropReport>,
    refusing_positions: bool,
    /// The last write failed for lack of space and nothing could be evicted.
    disk_full: bool,
    bytes_written: u64,
}

impl<FS: Filesystem> std::fmt::Debug for Journal<FS> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.config.dir)
            .field("next_seq", &self.next_seq)
            .finish()
    }
}

const fn index(stream: Stream) -> usize {
    match stream {
        Stream::Events => 0,
        Stream::Positions => 1,
        Stream::Critical => 2,
    }
}

impl<FS: Filesystem> Journal<FS> {
    /// Opens (or creates) the journal in `config.dir`, repairing what a crash left.
    ///
    /// # Errors
    /// [`JournalError::Config`] for impossible sizes; [`JournalError::Io`] only when the
    /// directory itself cannot be created, listed or written. Damaged files are repaired or
    /// moved aside, not errors.
    pub fn open(fs: FS, config: JournalConfig) -> Result<(Self, Recovery)> {
        if config.segment_bytes < (HEADER_LEN + MAX_PAYLOAD) as u64 {
            return Err(JournalError::Config(format!(
                "segment_bytes must be at least {} (one largest record)",
                HEADER_LEN + MAX_PAYLOAD
            )));
        }
        if config.max_bytes < 2 * config.segment_bytes {
            return Err(JournalError::Config(
                "max_bytes must be at least two segments".into(),
            ));
        }
        let dir = config.dir.clone();
        fs.create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut recovery = Recovery::default();
        let mut journal = Journal {
            fs,
            config,
            streams: [
                StreamState::new(Stream::Events),
                StreamState::new(Stream::Positions),
                StreamState::new(Stream::Critical),
            ],
            next_seq: 1,
            ledger: Ledger::default(),
            ledger_dirty: false,
            ledger_dirty_since: None,
            io_failing: false,
            drops: Vec::new(),
            refusing_positions: false,
            disk_full: false,
            bytes_written: 0,
        };

        let ledger_state = Ledger::load(&journal.fs, &dir);
        let mut names = journal.fs.list(&dir).map_err(io_err(&dir))?;
        names.sort();
        match ledger_state {
            LedgerState::Valid(l) => journal.ledger = l,
            LedgerState::Missing => {
                recovery.ledger_rebuilt = names.iter().any(|n| parse_segment_name(n).is_some())
            }
            LedgerState::Corrupt => {
                recovery.ledger_rebuilt = true;
                journal.move_aside(LEDGER, &mut recovery)?;
            }
        }
        for name in &names {
            if name == LEDGER_TMP {
                let _ = journal.fs.remove(&dir.join(name)); // an interrupted ledger update
            } else if let Some((stream, seg)) = parse_segment_name(name) {
                journal.streams[index(stream)].segments.push_back(seg);
            } else if name != LEDGER && !name.ends_with(".corrupt") {
                tracing::warn!(file = %dir.join(name).display(), "unknown file in the journal directory, left alone");
            }
        }
        for stream in Stream::ALL {
            journal.recover_stream(stream, &mut recovery)?;
        }
        let max_seen = journal
            .streams
            .iter()
            .flat_map(|s| s.segments.iter())
            .map(|s| s.last_seq)
            .max()
            .unwrap_or(0);
        journal.next_seq = journal.ledger.seq_reserved.max(max_seen + 1).max(1);
        if recovery.ledger_rebuilt && max_seen > 0 {
            // The ledger's reservation is lost: skip a whole block so that no sequence
            // number handed out (and perhaps published) before the damage is reused.
            journal.next_seq = max_seen + 1 + SEQ_RESERVATION;
        }
        for st in &journal.streams {
            journal.ledger.set_acked(st.stream, st.acked);
        }
        recovery.backlog = journal.streams.iter().map(|s| s.unacked).sum();
        journal.fs.sync_dir(&dir).map_err(io_err(&dir))?;
        Ok((journal, recovery))
    }

    fn move_aside(&mut self, name: &str, recovery: &mut Recovery) -> Result<()> {
        let dir = self.config.dir.clone();
        let existing = self.fs.list(&dir).map_err(io_err(&dir))?;
        let aside = (1..)
            .map(|n| format!("{name}.{n}.corrupt"))
            .find(|c| !existing.contains(c))
            .unwrap_or_else(|| format!("{name}.corrupt"));
        self.fs
            .rename(&dir.join(name), &dir.join(&aside))
            .map_err(io_err(&dir))?;
        tracing::warn!(file = %dir.join(name).display(), moved_to = %aside, "damaged journal file moved aside");
        recovery.moved_aside.push(aside);
        Ok(())
    }

    fn path(&self, stream: Stream, seg: &Segment) -> PathBuf {
        self.config.dir.join(seg.file_name(stream))
    }

    fn recover_stream(&mut self, stream: Stream, recovery: &mut Recovery) -> Result<()> {
        let i = index(stream);
        let mut segs: Vec<Segment> = self.streams[i].segments.drain(..).collect();
        segs.sort_by_key(|s| (s.first_seq, s.sealed));
        let acked_in_ledger = self.ledger.acked(stream);
        let mut kept: VecDeque<Segment> = VecDeque::new();
        let last_index = segs.len().saturating_sub(1);
        for (n, mut seg) in segs.into_iter().enumerate() {
            let path = self.path(stream, &seg);
            if seg.sealed {
                seg.bytes = match self.fs.len(&path) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "unreadable segment");
                        self.move_aside(&seg.file_name(stream), recovery)?;
                        continue;
                    }
                };
                kept.push_back(seg);
                continue;
            }
            // An open segment: scan it, cut a torn tail, and seal it unless it is the last.
            let len = self.fs.len(&path).map_err(io_err(&path))?;
            let bytes = self
                .fs
                .read_at(&path, 0, len as usize)
                .map_err(io_err(&path))?;
            let s = scan(&bytes);
            recovery.corrupt_regions += s.corrupt_regions;
            if (s.valid_end as u64) < len {
                recovery.torn_bytes += len - s.valid_end as u64;
                self.fs
                    .truncate(&path, s.valid_end as u64)
                    .map_err(io_err(&path))?;
            }
            if s.records.is_empty() {
                self.fs.remove(&path).map_err(io_err(&path))?;
                continue;
            }
            seg.count = s.records.len() as u64;
            seg.last_seq = s
                .records
                .iter()
                .map(|(_, r)| r.seq)
                .max()
                .unwrap_or(seg.first_seq);
            seg.bytes = s.valid_end as u64;
            if n != last_index {
                let open_path = path;
                seg.sealed = true;
                self.fs
                    .rename(&open_path, &self.path(stream, &seg))
                    .map_err(io_err(&open_path))?;
            }
            kept.push_back(seg);
        }
        // Reclaim what the ledger says is acknowledged, unless it is kept for a resend
        // (when these were acknowledged is not known: they get a whole window from now).
        while self.config.resend_window.is_zero()
            && kept
                .front()
                .is_some_and(|s| s.sealed && s.last_seq <= acked_in_ledger)
        {
            if let Some(seg) = kept.pop_front() {
                let p = self.path(stream, &seg);
                self.fs.remove(&p).map_err(io_err(&p))?;
            }
        }
        let acked = acked_in_ledger;
        // The cursor starts in the first segment holding an unacknowledged record (or at the
        // end of an open one that holds none).
        let first_unacked = kept
            .iter()
            .position(|s| s.last_seq > acked)
            .unwrap_or_else(|| match kept.back() {
                Some(open) if !open.sealed => kept.len() - 1,
                _ => kept.len(),
            });
        let mut unacked: u64 = kept.iter().skip(first_unacked).map(|s| s.count).sum();
        let mut cursor = Cursor {
            segment: first_unacked,
            offset: 0,
        };
        if let Some(first) = kept.get(first_unacked).filter(|s| s.first_seq <= acked) {
            // The ack point falls inside this segment: count what is acknowledged and start
            // the cursor after it.
            let p = self.path(stream, first);
            let bytes = self
                .fs
                .read_at(&p, 0, first.bytes as usize)
                .map_err(io_err(&p))?;
            let s = scan(&bytes);
            let done = s.records.iter().filter(|(_, r)| r.seq <= acked).count() as u64;
            unacked = unacked.saturating_sub(done);
            cursor.offset = s.offset_after(acked);
        }
        if let Some(open) = kept.back().filter(|s| !s.sealed) {
            let p = self.path(stream, open);
            self.streams[i].file = Some(self.fs.open_append(&p).map_err(io_err(&p))?);
        }
        let st = &mut self.streams[i];
        // Losses behind the cursor are in acknowledged records: not counted (again).
        st.missing_counted = kept
            .iter()
            .take(cursor.segment)
            .map(|s| s.last_seq)
            .max()
            .unwrap_or(0);
        st.corrupt_counted = kept
            .get(cursor.segment)
            .map_or((0, 0), |s| (s.first_seq, cursor.offset));
        st.segments = kept;
        st.acked = acked;
        st.unacked = unacked;
        st.cursor = cursor;
        st.read_in_segment = (cursor.offset == 0).then_some(0);
        Ok(())
    }

    /// Appends a record and returns its sequence number. `payload` is called with that
    /// number so the event id can be put into the payload.
    ///
    /// `critical` records are durable when this returns; others within the commit interval
    /// (call [`Journal::tick`] regularly).
    ///
    /// # Errors
    /// [`JournalError::TooLarge`] for an oversized payload; [`JournalError::Full`] when the
    /// full-disk policy refuses the record (it is counted in [`Journal::take_drops`]);
    /// [`JournalError::Io`] when the sequence reservation cannot be stored.
    pub fn append(
        &mut self,
        stream: Stream,
        severity: Severity,
        received_at_us: i64,
        payload: impl FnOnce(u64) -> Vec<u8>,
        now: Instant,
    ) -> Result<Appended> {
        let when = if severity == Severity::Critical {
            Commit::Now
        } else {
            Commit::Later
        };
        self.append_with(stream, severity, received_at_us, payload, now, when)
    }

    /// Appends a record like [`Journal::append`] but syncs nothing, whatever its severity:
    /// the record is durable once a later [`Journal::commit`] (or [`Journal::flush`])
    /// returns `Ok`, and at the latest a commit interval later ([`Journal::tick`]) like a
    /// routine record. This is group commit for critical records: append everything that
    /// arrived together, commit once, and only then tell anyone (a device's ACK, the
    /// uplink) that they are accepted. [`Appended::durable`] is always `false`.
    ///
    /// # Errors
    /// As [`Journal::append`].
    pub fn append_deferred(
        &mut self,
        stream: Stream,
        severity: Severity,
        received_at_us: i64,
        payload: impl FnOnce(u64) -> Vec<u8>,
        now: Instant,
    ) -> Result<Appended> {
        self.append_with(
            stream,
            severity,
            received_at_us,
            payload,
            now,
            Commit::Later,
        )
    }

    /// Makes every record appended so far durable (one `fdatasync` per stream that has
    /// records not yet synced, none when there is nothing to sync) and returns the highest
    /// sequence number handed out: every record appended with a sequence number up to it
    /// is on stable storage. The ledger is not stored here (acks move it; see
    /// [`Journal::tick`]).
    ///
    /// # Errors
    /// The first I/O error; both streams are tried. What could not be synced stays
    /// buffered and is retried by the next commit or tick: a caller must not report the
    /// records as accepted after an error.
    pub fn commit(&mut self) -> Result<u64> {
        let mut first_err = None;
        for stream in Stream::ALL {
            if let Err(e) = self.sync_stream(stream) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(self.next_seq - 1), Err)
    }

    fn append_with(
        &mut self,
        stream: Stream,
        severity: Severity,
        received_at_us: i64,
        payload: impl FnOnce(u64) -> Vec<u8>,
        now: Instant,
        when: Commit,
    ) -> Result<Appended> {
        match self.try_append(stream, severity, received_at_us, payload, now, when) {
            Err(JournalError::Io { path, source }) => {
                // Refused before it was accepted (the segment could not be rolled, the
                // sequence reservation not stored): a drop like any other.
                self.io_failing = true;
                let refusal = self.refuse(stream, severity);
                if source.kind() == std::io::ErrorKind::StorageFull {
                    tracing::warn!(path = %path.display(), "disk full: record refused");
                    Err(refusal)
                } else {
                    Err(JournalError::Io { path, source })
                }
            }
            other => other,
        }
    }

    fn try_append(
        &mut self,
        stream: Stream,
        severity: Severity,
        received_at_us: i64,
        payload: impl FnOnce(u64) -> Vec<u8>,
        now: Instant,
        when: Commit,
    ) -> Result<Appended> {
        let seq = self.next_seq;
        let payload = payload(seq);
        if payload.len() > MAX_PAYLOAD {
            return Err(JournalError::TooLarge(payload.len()));
        }
        let record = Record {
            seq,
            received_at_us,
            severity,
            stream,
            payload,
        };
        let len = record.disk_len() as u64;
        if !self.make_room(len)? {
            match stream {
                Stream::Positions => {
                    if !self.refusing_positions {
                        tracing::warn!(
                            "journal full of events: refusing positions until space is freed"
                        );
                    }
                    self.refusing_positions = true;
                }
                Stream::Events | Stream::Critical => {
                    tracing::error!(severity = %severity, "journal full of unacknowledged events: refusing an event");
                }
            }
            return Err(self.refuse(stream, severity));
        }
        let pending = self.streams[index(stream)].pending.len() as u64;
        if pending + len > self.config.segment_bytes && self.write_pending(stream).is_err() {
            // The disk refuses writes and a segment's worth is already buffered: refuse
            // rather than grow memory without bound.
            return Err(self.refuse(stream, severity));
        }
        if self.disk_full {
            // The disk refused the last write and nothing could be evicted. Retry what is
            // buffered (space may be back); while it stays full, new records are refused
            // and counted, and those already accepted wait in memory for space.
            for st in Stream::ALL {
                let _ = self.write_pending(st);
            }
            if self.disk_full {
                return Err(self.refuse(stream, severity));
            }
        }
        if stream == Stream::Positions {
            self.refusing_positions = false;
        }
        if seq >= self.ledger.seq_reserved {
            self.ledger.seq_reserved = seq + SEQ_RESERVATION;
            self.store_ledger()?;
        }
        let i = index(stream);
        let need_new = match self.streams[i].open_segment() {
            None => true,
            Some(open) => open.count > 0 && open.bytes + len > self.config.segment_bytes,
        };
        if need_new {
            self.roll(stream, seq)?;
        }
        let st = &mut self.streams[i];
        record.encode_into(&mut st.pending);
        if let Some(open) = st.segments.back_mut() {
            open.count += 1;
            open.last_seq = seq;
            open.bytes += len;
        }
        st.unacked += 1;
        st.dirty_since.get_or_insert(now);
        self.next_seq += 1;
        let durable = if when == Commit::Now {
            match self.sync_stream(stream) {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, seq, "critical event not yet durable; retrying on the next tick");
                    false
                }
            }
        } else {
            if self.streams[i].pending.len() >= WRITE_BUFFER
                && let Err(e) = self.write_pending(stream)
            {
                tracing::warn!(error = %e, "journal write deferred");
            }
            false
        };
        Ok(Appended { seq, durable })
    }

    /// Group commit: syncs every stream whose oldest buffered record has waited the commit
    /// interval, and stores the ledger when acks have moved. Call it at least every
    /// `commit_interval`.
    ///
    /// # Errors
    /// The first I/O error; buffered records stay buffered and are retried.
    pub fn tick(&mut self, now: Instant) -> Result<()> {
        let interval = self.config.commit_interval;
        let mut first_err = None;
        for stream in Stream::ALL {
            let due = self.streams[index(stream)]
                .dirty_since
                .is_some_and(|t| now.duration_since(t) >= interval);
            if due && let Err(e) = self.sync_stream(stream) {
                first_err.get_or_insert(e);
            }
        }
        if self.ledger_dirty {
            let since = *self.ledger_dirty_since.get_or_insert(now);
            if now.duration_since(since) >= interval
                && let Err(e) = self.store_ledger()
            {
                first_err.get_or_insert(e);
            }
        }
        for stream in Stream::ALL {
            self.sample_ack_point(stream, now);
            if let Err(e) = self.reclaim(stream) {
                first_err.get_or_insert(e);
            }
        }
        if first_err.is_some() {
            self.io_failing = true;
        } else if !self.ledger_dirty && self.streams.iter().all(|s| s.dirty_since.is_none()) {
            // Everything on disk, and this tick's reclaim worked: storage is fine again.
            self.io_failing = false;
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Records where `stream`'s ack point is at `now`, and moves its expiry point to where
    /// the ack point was one resend window ago.
    fn sample_ack_point(&mut self, stream: Stream, now: Instant) {
        let window = self.config.resend_window;
        // Samples at least this far apart: at most ~2,000 per window.
        let spacing = ACK_SAMPLE_SPACING.max(window / 2_000);
        let st = &mut self.streams[index(stream)];
        let n = st.ack_samples.len();
        // The last sample may be replaced while it is younger than `spacing` after the one
        // before it (that only makes a resend reach further back); otherwise a new one.
        let replace = n >= 2
            && st
                .ack_samples
                .get(n - 2)
                .is_some_and(|(t, _)| now.saturating_duration_since(*t) < spacing);
        match st.ack_samples.back_mut() {
            Some(last) if last.1 == st.acked => {}
            Some(last) if replace => *last = (now, st.acked),
            _ => st.ack_samples.push_back((now, st.acked)),
        }
        let Some(cutoff) = now.checked_sub(window) else {
            return;
        };
        while st.ack_samples.get(1).is_some_and(|(t, _)| *t <= cutoff) {
            st.ack_samples.pop_front();
        }
        if let Some(&(t, acked)) = st.ack_samples.front()
            && t <= cutoff
        {
            st.expired = st.expired.max(acked);
        }
    }

    /// Makes everything durable now (shutdown, tests).
    ///
    /// # Errors
    /// The first I/O error.
    pub fn flush(&mut self) -> Result<()> {
        for stream in Stream::ALL {
            self.sync_stream(stream)?;
        }
        if self.ledger_dirty {
            self.store_ledger()?;
        }
        Ok(())
    }

    fn store_ledger(&mut self) -> Result<()> {
        let dir = self.config.dir.clone();
        self.ledger.store(&self.fs, &dir).map_err(io_err(&dir))?;
        self.bytes_written += 44;
        self.ledger_dirty = false;
        self.ledger_dirty_since = None;
        Ok(())
    }

    fn write_pending(&mut self, stream: Stream) -> Result<()> {
        let i = index(stream);
        let path = match self.streams[i].open_segment() {
            Some(open) => self.path(stream, open),
            None => return Ok(()),
        };
        let st = &mut self.streams[i];
        if st.pending.is_empty() {
            return Ok(());
        }
        let Some(file) = st.file.as_mut() else {
            return Ok(());
        };
        let result = file.append(&st.pending);
        if result.is_err() {
            // A failed write may have landed in part: cut it back to the last whole record
            // so that a retry does not leave half a buffer (and then the whole) behind.
            let on_disk = self.streams[i].segments.back().map_or(0, |seg| seg.bytes)
                - self.streams[i].pending.len() as u64;
            self.fs.truncate(&path, on_disk).map_err(io_err(&path))?;
        }
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                // The disk is fuller than `max_bytes` assumed: make room by the same policy
                // and try again; the records stay buffered meanwhile.
                if self.free_by_eviction(stream)? {
                    return self.write_pending(stream);
                }
                if !self.disk_full {
                    tracing::warn!(
                        "disk full and no positions left to evict: refusing positions, buffering events"
                    );
                }
                self.disk_full = true;
                return Err(io_err(&path)(e));
            }
            Err(e) => return Err(io_err(&path)(e)),
        }
        if self.disk_full {
            tracing::info!("disk accepts writes again");
            self.disk_full = false;
        }
        let st = &mut self.streams[i];
        self.bytes_written += st.pending.len() as u64;
        st.pending.clear();
        st.unsynced = true;
        Ok(())
    }

    /// Evicts one position segment other than the one `writing` is appending to. Returns
    /// whether anything was freed.
    fn free_by_eviction(&mut self, writing: Stream) -> Result<bool> {
        if self.drop_retained()? {
            let dir = self.config.dir.clone();
            self.fs.sync_dir(&dir).map_err(io_err(&dir))?;
            return Ok(true);
        }
        let p = index(Stream::Positions);
        let n = self.streams[p].segments.len();
        let can = match (n, writing) {
            (0, _) => false,
            (1, Stream::Positions) => false, // only the segment being written
            (1, Stream::Events | Stream::Critical) => {
                self.seal(Stream::Positions)?;
                self.streams[p]
                    .segments
                    .front()
                    .is_some_and(|s| s.bytes > 0)
            }
            _ => true,
        };
        if !can {
            return Ok(false);
        }
        self.evict_oldest_position_segment()?;
        let dir = self.config.dir.clone();
        self.fs.sync_dir(&dir).map_err(io_err(&dir))?;
        Ok(true)
    }

    fn sync_stream(&mut self, stream: Stream) -> Result<()> {
        let synced = self.sync_stream_inner(stream);
        self.io_failing |= synced.is_err();
        synced
    }

    fn sync_stream_inner(&mut self, stream: Stream) -> Result<()> {
        self.write_pending(stream)?;
        let i = index(stream);
        let path = match self.streams[i].open_segment() {
            Some(open) => self.path(stream, open),
            None => self.config.dir.clone(),
        };
        let st = &mut self.streams[i];
        if st.unsynced {
            if let Some(file) = st.file.as_mut() {
                file.sync().map_err(io_err(&path))?;
            }
            st.unsynced = false;
        }
        st.dirty_since = None;
        Ok(())
    }

    /// Seals the open segment of `stream` (if any) and opens a new one named `first_seq`.
    fn roll(&mut self, stream: Stream, first_seq: u64) -> Result<()> {
        self.seal(stream)?;
        let seg = Segment {
            first_seq,
            last_seq: 0,
            count: 0,
            bytes: 0,
            sealed: false,
        };
        let path = self.path(stream, &seg);
        let file = self.fs.open_append(&path).map_err(io_err(&path))?;
        let dir = self.config.dir.clone();
        self.fs.sync_dir(&dir).map_err(io_err(&dir))?;
        let st = &mut self.streams[index(stream)];
        st.file = Some(file);
        st.segments.push_back(seg);
        Ok(())
    }

    fn seal(&mut self, stream: Stream) -> Result<()> {
        let i = index(stream);
        let Some(open) = self.streams[i].open_segment().cloned() else {
            return Ok(());
        };
        if open.count == 0 {
            return Ok(());
        }
        self.sync_stream(stream)?;
        let from = self.path(stream, &open);
        let mut sealed = open;
        sealed.sealed = true;
        let to = self.path(stream, &sealed);
        self.fs.rename(&from, &to).map_err(io_err(&from))?;
        let st = &mut self.streams[i];
        st.file = None;
        if let Some(back) = st.segments.back_mut() {
            back.sealed = true;
        }
        // The directory is synced by `roll` (new segment) or `make_room` (eviction).
        Ok(())
    }

    /// Evicts position segments until `len` more bytes fit. Returns whether they fit.
    fn make_room(&mut self, len: u64) -> Result<bool> {
        let total = |j: &Self| j.streams.iter().map(StreamState::bytes).sum::<u64>();
        let mut evicted = false;
        while total(self) + len > self.config.max_bytes {
            if self.drop_retained()? {
                evicted = true;
                continue;
            }
            let p = index(Stream::Positions);
            if self.streams[p].segments.is_empty() {
                break;
            }
            if self.streams[p].segments.len() == 1 {
                self.seal(Stream::Positions)?;
            }
            self.evict_oldest_position_segment()?;
            evicted = true;
        }
        if evicted {
            let dir = self.config.dir.clone();
            self.fs.sync_dir(&dir).map_err(io_err(&dir))?;
        }
        Ok(total(self) + len <= self.config.max_bytes)
    }

    fn evict_oldest_position_segment(&mut self) -> Result<()> {
        let p = index(Stream::Positions);
        let Some(seg) = self.streams[p].segments.front().cloned() else {
            return Ok(());
        };
        let acked = self.streams[p].acked;
        // Records of this segment still unacknowledged are dropped: count them.
        let (lost, first_lost) = if seg.first_seq > acked {
            (seg.count, seg.first_seq)
        } else {
            let path = self.path(Stream::Positions, &seg);
            let bytes = self
                .fs
                .read_at(&path, 0, seg.bytes as usize)
                .map_err(io_err(&path))?;
            let s = scan(&bytes);
            let mut unacked = s
                .records
                .iter()
                .filter(|(_, r)| r.seq > acked)
                .map(|(_, r)| r.seq);
            let first = unacked.next();
            (
                first.map_or(0, |_| 1 + unacked.count() as u64),
                first.unwrap_or(seg.last_seq),
            )
        };
        self.remove_front(Stream::Positions)?;
        let st = &mut self.streams[p];
        st.unacked = st.unacked.saturating_sub(lost);
        st.acked = st.acked.max(seg.last_seq);
        st.expired = st.expired.max(seg.last_seq);
        let acked = st.acked;
        st.acked_ahead.retain(|&s| s > acked);
        self.ledger.positions_acked = st.acked;
        self.mark_ledger_dirty();
        if lost > 0 {
            tracing::warn!(
                count = lost,
                "journal full: oldest unacknowledged positions evicted"
            );
            self.record_drop(
                DropReason::Evicted,
                lost,
                Severity::Info,
                Some((first_lost, seg.last_seq)),
            );
        }
        Ok(())
    }

    /// The ledger is stored by the next [`Journal::tick`] a commit interval after this (the
    /// journal reads no clock of its own).
    fn mark_ledger_dirty(&mut self) {
        self.ledger_dirty = true;
    }

    /// Counts a record refused for lack of space and returns the error for it.
    fn refuse(&mut self, stream: Stream, severity: Severity) -> JournalError {
        self.record_drop(DropReason::DiskFull, 1, severity, None);
        JournalError::Full(stream.noun())
    }

    fn record_drop(
        &mut self,
        reason: DropReason,
        count: u64,
        worst: Severity,
        seq_range: Option<(u64, u64)>,
    ) {
        self.ledger.dropped_total += count;
        self.mark_ledger_dirty();
        if let Some(last) = self.drops.last_mut().filter(|d| d.reason == reason) {
            last.count += count;
            last.worst = last.worst.min(worst);
            last.seq_range = match (last.seq_range, seq_range) {
                (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
                (a, b) => a.or(b),
            };
        } else {
            self.drops.push(DropReport {
                reason,
                count,
                worst,
                seq_range,
            });
        }
    }

    /// Takes the drops counted since the last call (to be reported as `gateway.dropped`).
    pub fn take_drops(&mut self) -> Vec<DropReport> {
        std::mem::take(&mut self.drops)
    }

    /// The next batch of the first stream in [`Stream::ALL`] order that has one: critical
    /// events first, then other events, then positions, so that a fresh alarm never waits
    /// behind a backlog of lesser records (how the uplink reads).
    ///
    /// # Errors
    /// As [`Journal::next_batch`].
    pub fn next_batch_in_order(&mut self, max: usize) -> Result<Vec<Record>> {
        for stream in Stream::ALL {
            let batch = self.next_batch(stream, max)?;
            if !batch.is_empty() {
                return Ok(batch);
            }
        }
        Ok(Vec::new())
    }

    /// Reads up to `max` records of `stream` from its cursor, in order, and marks them in
    /// flight. Corrupt records are skipped and counted as drops.
    ///
    /// # Errors
    /// [`JournalError::Io`] if a segment cannot be read.
    pub fn next_batch(&mut self, stream: Stream, max: usize) -> Result<Vec<Record>> {
        let i = index(stream);
        // Readers see what is buffered too: hand it to the filesystem (not a sync). If the
        // disk refuses, what is already on it is still delivered; the rest waits in memory.
        if !self.streams[i].pending.is_empty()
            && let Err(e) = self.write_pending(stream)
        {
            tracing::warn!(error = %e, "buffered journal records not yet written");
        }
        let mut out = Vec::new();
        while out.len() < max {
            let cur = self.streams[i].cursor;
            let Some(seg) = self.streams[i].segments.get(cur.segment).cloned() else {
                // Past the last segment: a resend in progress is complete.
                self.streams[i].resend_after = None;
                break;
            };
            let readable = self.streams[i].readable(&seg);
            if cur.offset >= readable {
                if seg.sealed {
                    self.finish_segment_read(stream, &seg);
                    continue;
                }
                // The open segment has nothing more: a resend in progress is complete.
                self.streams[i].resend_after = None;
                break;
            }
            let bytes = self.cached(stream, &seg, cur.offset)?;
            match decode(&bytes) {
                Decoded::Valid { record, len } => {
                    let st = &mut self.streams[i];
                    st.cursor.offset += len as u64;
                    if let Some(n) = st.read_in_segment.as_mut() {
                        *n += 1;
                    }
                    if record.seq > st.acked {
                        st.resend_after = None; // past the acknowledged records
                        if st.inflight.back().is_none_or(|f| f.seq < record.seq) {
                            let acked = st.acked_ahead.remove(&record.seq);
                            st.inflight.push_back(Inflight {
                                seq: record.seq,
                                acked,
                                at: cur,
                            });
                            if acked {
                                self.advance_ack_point(i);
                            } else {
                                out.push(record);
                            }
                        }
                    } else if st.resend_after.is_some_and(|p| record.seq > p)
                        && st.resend.back().is_none_or(|f| f.seq < record.seq)
                    {
                        // Acknowledged once, by a broker that has since lost it.
                        st.resend.push_back(Inflight {
                            seq: record.seq,
                            acked: false,
                            at: cur,
                        });
                        out.push(record);
                    }
                }
                Decoded::Truncated | Decoded::Corrupt => {
                    // Bit rot inside the segment: skip to the next valid record.
                    let path = self.path(stream, &seg);
                    let rest = self
                        .fs
                        .read_at(&path, cur.offset, (seg.bytes - cur.offset) as usize)
                        .map_err(io_err(&path))?;
                    let next = resync(&rest, 1).map_or(seg.bytes, |n| cur.offset + n as u64);
                    tracing::warn!(file = %path.display(), offset = cur.offset, skipped = next - cur.offset, "corrupt journal record skipped");
                    let st = &mut self.streams[i];
                    st.cursor.offset = next;
                    st.read_cache = None;
                    let fresh = (seg.first_seq, cur.offset) >= st.corrupt_counted;
                    if fresh {
                        st.corrupt_counted = (seg.first_seq, next);
                    }
                    if !seg.sealed && fresh {
                        // Open segments have no count in their name: count the region.
                        self.record_drop(DropReason::Corrupt, 1, Severity::Info, None);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Moves the cursor past a sealed segment it has read to the end. Records the segment's
    /// name promised but the cursor did not find are drops (bit rot).
    fn finish_segment_read(&mut self, stream: Stream, seg: &Segment) {
        let st = &mut self.streams[index(stream)];
        let missing = st
            .read_in_segment
            .filter(|_| seg.last_seq > st.missing_counted)
            .map_or(0, |n| seg.count.saturating_sub(n));
        st.missing_counted = st.missing_counted.max(seg.last_seq);
        st.cursor = Cursor {
            segment: st.cursor.segment + 1,
            offset: 0,
        };
        st.read_in_segment = Some(0);
        if missing > 0 {
            st.unacked = st.unacked.saturating_sub(missing);
            self.record_drop(
                DropReason::Corrupt,
                missing,
                Severity::Info,
                Some((seg.first_seq, seg.last_seq)),
            );
        }
    }

    fn cached(&mut self, stream: Stream, seg: &Segment, offset: u64) -> Result<Vec<u8>> {
        let i = index(stream);
        if let Some((first, start, bytes)) = &self.streams[i].read_cache
            && *first == seg.first_seq
            && offset >= *start
        {
            let rel = (offset - start) as usize;
            if let Some(rest) = bytes.get(rel..)
                && let Decoded::Valid { len, .. } = decode(rest)
            {
                return Ok(rest[..len].to_vec());
            }
        }
        let path = self.path(stream, seg);
        let chunk = self
            .fs
            .read_at(&path, offset, READ_CHUNK.max(HEADER_LEN + MAX_PAYLOAD))
            .map_err(io_err(&path))?;
        let head = match decode(&chunk) {
            Decoded::Valid { len, .. } => chunk[..len].to_vec(),
            _ => chunk.clone(),
        };
        self.streams[i].read_cache = Some((seg.first_seq, offset, chunk));
        Ok(head)
    }

    /// Acknowledges one record (the broker's PUBACK for it). Unknown or already
    /// acknowledged sequence numbers are ignored.
    pub fn ack(&mut self, seq: u64) {
        for i in 0..self.streams.len() {
            let st = &mut self.streams[i];
            if let Ok(pos) = st.inflight.binary_search_by_key(&seq, |f| f.seq) {
                st.inflight[pos].acked = true;
                self.advance_ack_point(i);
                return;
            }
            if let Ok(pos) = st.resend.binary_search_by_key(&seq, |f| f.seq) {
                st.resend[pos].acked = true;
                while st.resend.front().is_some_and(|f| f.acked) {
                    st.resend.pop_front();
                }
                return;
            }
        }
    }

    /// Moves stream `i`'s ack point over the acknowledged prefix of what is in flight,
    /// then reclaims segments that became fully acknowledged.
    fn advance_ack_point(&mut self, i: usize) {
        let st = &mut self.streams[i];
        let mut moved = false;
        while let Some(f) = st.inflight.front().filter(|f| f.acked).copied() {
            st.inflight.pop_front();
            st.acked = st.acked.max(f.seq);
            st.unacked = st.unacked.saturating_sub(1);
            moved = true;
        }
        if !moved {
            return;
        }
        if self.config.resend_window.is_zero() {
            st.expired = st.acked;
        }
        let (stream, acked) = (st.stream, st.acked);
        self.ledger.set_acked(stream, acked);
        self.mark_ledger_dirty();
        if let Err(e) = self.reclaim(stream) {
            tracing::warn!(error = %e, "journal space not reclaimed yet");
        }
    }

    /// Deletes sealed segments whose every record is acknowledged and older than the
    /// resend window (and not being sent again right now).
    fn reclaim(&mut self, stream: Stream) -> Result<()> {
        let mut removed = false;
        while self.front_is_retained(stream, false) {
            self.remove_front(stream)?;
            removed = true;
        }
        if removed {
            let dir = self.config.dir.clone();
            self.fs.sync_dir(&dir).map_err(io_err(&dir))?;
            // Space came back: let positions in again (a failing write sets it again).
            self.disk_full = false;
        }
        Ok(())
    }

    /// Whether the oldest segment of `stream` is sealed, fully acknowledged and read
    /// through, so that deleting it loses nothing unacknowledged: with `force`, even inside
    /// the resend window (space is needed); without, only once expired and not being sent
    /// again.
    fn front_is_retained(&self, stream: Stream, force: bool) -> bool {
        let st = &self.streams[index(stream)];
        let Some(seg) = st.segments.front() else {
            return false;
        };
        let read_through = st.cursor.segment > 0 || st.cursor.offset >= seg.bytes;
        let acked = seg.sealed && seg.last_seq <= st.acked;
        // With `force`, even while a resend is reading it: the resend loses those records,
        // where keeping them would cost an unacknowledged position.
        acked
            && (force
                || (read_through
                    && seg.last_seq <= st.expired
                    && st.resend.front().is_none_or(|f| f.seq > seg.last_seq)))
    }

    /// Deletes the oldest segment of `stream` and re-points the cursor and what is in
    /// flight. Counting what it held is the caller's business.
    fn remove_front(&mut self, stream: Stream) -> Result<()> {
        let i = index(stream);
        let Some(seg) = self.streams[i].segments.front().cloned() else {
            return Ok(());
        };
        if self.streams[i].cursor.segment == 0 && self.streams[i].cursor.offset >= seg.bytes {
            self.finish_segment_read(stream, &seg);
        }
        let path = self.path(stream, &seg);
        self.fs.remove(&path).map_err(io_err(&path))?;
        let st = &mut self.streams[i];
        st.segments.pop_front();
        if st.cursor.segment == 0 {
            st.cursor = Cursor {
                segment: 0,
                offset: 0,
            };
            st.read_in_segment = Some(0);
        } else {
            st.cursor.segment -= 1;
        }
        for q in [&mut st.inflight, &mut st.resend] {
            q.retain(|f| f.seq > seg.last_seq);
            for f in q.iter_mut() {
                f.at.segment = f.at.segment.saturating_sub(1);
            }
        }
        st.read_cache = None;
        Ok(())
    }

    /// Deletes one retained segment (acknowledged, kept for the resend window) of either
    /// stream, because space is needed. Returns whether one went.
    fn drop_retained(&mut self) -> Result<bool> {
        for stream in [Stream::Positions, Stream::Events, Stream::Critical] {
            if self.front_is_retained(stream, true) {
                tracing::debug!(
                    stream = stream.noun(),
                    "space needed: a segment kept for the resend window deleted early"
                );
                self.remove_front(stream)?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Moves both cursors back to the first unacknowledged record (after a reconnect:
    /// everything in flight is sent again, and a resend in progress resumes).
    pub fn rewind(&mut self) {
        for st in &mut self.streams {
            let first = st.resend.front().or(st.inflight.front()).map(|f| f.at);
            // A resend that has not reached all its records yet: never move forward.
            let target = match (first, st.resend_after.is_some()) {
                (Some(at), true) => Some(at.min(st.cursor)),
                (first, _) => first,
            };
            if let Some(at) = target {
                st.cursor = at;
                st.read_in_segment = (at.offset == 0).then_some(0);
            }
            if let Some(first) = st.resend.front() {
                st.resend_after = Some(first.seq - 1);
            }
            st.resend.clear();
            let acked: Vec<u64> = st
                .inflight
                .iter()
                .filter(|f| f.acked)
                .map(|f| f.seq)
                .collect();
            st.acked_ahead.extend(acked);
            st.inflight.clear();
        }
    }

    /// The broker lost its state (it answered a reconnect with no session): what it had
    /// acknowledged but perhaps not yet delivered is gone. Moves the cursors back so that
    /// every record acknowledged after `since` is delivered again by [`Journal::next_batch`]
    /// (as far as the resend window kept them), and returns at most how many that is.
    /// Unacknowledged and in-flight records are unaffected; acknowledging a resent record
    /// again is harmless.
    ///
    /// # Errors
    /// [`JournalError::Io`] if the segment to restart in cannot be read.
    pub fn resend_since(&mut self, since: Instant) -> Result<u64> {
        let mut total = 0;
        for stream in Stream::ALL {
            let i = index(stream);
            let _ = self.write_pending(stream);
            // Acknowledged beyond the ack point by the broker that lost them: not skipped.
            self.streams[i].acked_ahead.clear();
            let st = &self.streams[i];
            // The ack point at `since`: the latest sample taken no later (older samples are
            // conservative; with none, everything kept goes again).
            let from = st
                .ack_samples
                .iter()
                .rev()
                .find(|(t, _)| *t <= since)
                .map_or(0, |&(_, a)| a);
            if from >= st.acked {
                continue;
            }
            let Some(n) = st.segments.iter().position(|s| s.last_seq > from) else {
                continue;
            };
            let seg = st.segments[n].clone();
            let offset = if seg.first_seq > from {
                0
            } else {
                let path = self.path(stream, &seg);
                let bytes = self
                    .fs
                    .read_at(&path, 0, st.readable(&seg) as usize)
                    .map_err(io_err(&path))?;
                scan(&bytes).offset_after(from)
            };
            let st = &mut self.streams[i];
            // Records resent but not yet confirmed are read again too (the broker that
            // took them is gone): their queue is dropped and the cursor goes back to them.
            let mut at = Cursor { segment: n, offset };
            let mut from = from;
            if let Some(f) = st.resend.front() {
                at = at.min(f.at);
                from = from.min(f.seq - 1);
            }
            st.resend.clear();
            if at >= st.cursor && st.resend_after.is_none() {
                continue; // nothing kept behind the cursor
            }
            // At most this many (fewer where space was needed or records were corrupt).
            total += st.acked - from;
            if at < st.cursor {
                st.cursor = at;
                st.read_in_segment = (at.offset == 0).then_some(0);
            }
            st.resend_after = Some(st.resend_after.map_or(from, |p| p.min(from)));
            st.read_cache = None;
        }
        Ok(total)
    }

    /// Whether any acknowledged record is still kept (for a resend).
    pub fn keeps_acknowledged(&self) -> bool {
        self.streams.iter().any(|s| {
            s.segments
                .front()
                .is_some_and(|f| f.first_seq <= s.acked && s.acked > 0)
        })
    }

    /// A resend ([`Journal::resend_since`]) is still being delivered or acknowledged.
    pub fn resending(&self) -> bool {
        self.streams
            .iter()
            .any(|s| s.resend_after.is_some() || !s.resend.is_empty())
    }

    /// The sequence number the next [`Journal::append`] hands out (and passes to its
    /// `payload` function).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Unacknowledged records: (events, critical ones included; positions). Cheap: no I/O.
    pub fn backlog(&self) -> (u64, u64) {
        (
            self.streams[index(Stream::Events)].unacked
                + self.streams[index(Stream::Critical)].unacked,
            self.streams[index(Stream::Positions)].unacked,
        )
    }

    /// A snapshot of the journal's state.
    pub fn stats(&mut self) -> Stats {
        let oldest = Stream::ALL
            .into_iter()
            .filter_map(|s| self.oldest_unacked(s))
            .min();
        Stats {
            backlog: self.backlog(),
            oldest_unacked_us: oldest,
            bytes: self.streams.iter().map(StreamState::bytes).sum(),
            segments: self.streams.iter().map(|s| s.segments.len()).sum(),
            next_seq: self.next_seq,
            acked: (
                self.streams[index(Stream::Events)].acked,
                self.streams[index(Stream::Positions)].acked,
            ),
            critical_acked: self.streams[index(Stream::Critical)].acked,
            dropped_total: self.ledger.dropped_total,
            refusing_positions: self.refusing_positions || self.disk_full,
            bytes_written: self.bytes_written,
            retained_bytes: self.streams.iter().map(StreamState::retained_bytes).sum(),
            io_failing: self.io_failing,
        }
    }

    fn oldest_unacked(&mut self, stream: Stream) -> Option<i64> {
        let i = index(stream);
        if self.streams[i].unacked == 0 {
            return None;
        }
        let at = self.streams[i]
            .inflight
            .front()
            .map_or(self.streams[i].cursor, |f| f.at);
        let seg = self.streams[i].segments.get(at.segment)?.clone();
        let _ = self.write_pending(stream);
        let bytes = self.cached(stream, &seg, at.offset).ok()?;
        match decode(&bytes) {
            Decoded::Valid { record, .. } => Some(record.received_at_us),
            _ => None,
        }
    }

    /// Every record still on disk, in stream then sequence order, acknowledged or not
    /// (for `journal dump` and tests). Corrupt regions are skipped.
    ///
    /// # Errors
    /// [`JournalError::Io`] if a segment cannot be read.
    pub fn records(&mut self, stream: Stream) -> Result<Vec<Record>> {
        let _ = self.write_pending(stream);
        let segs: Vec<Segment> = self.streams[index(stream)]
            .segments
            .iter()
            .cloned()
            .collect();
        let mut out = Vec::new();
        for seg in segs {
            let path = self.path(stream, &seg);
            let bytes = self
                .fs
                .read_at(&path, 0, seg.bytes as usize)
                .map_err(io_err(&path))?;
            out.extend(scan(&bytes).records.into_iter().map(|(_, r)| r));
        }
        Ok(out)
    }

    /// The configuration in use.
    pub fn config(&self) -> &JournalConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests;
