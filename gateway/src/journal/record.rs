//! The on-disk record: a fixed 32-byte header and the payload, CRC-32C protected.
//!
//! ```text
//!  offset  size  field
//!  0       4     magic        "ECJ1" (0x45 0x43 0x4a 0x31): resynchronisation point after corruption
//!  4       4     payload_len  u32 LE, at most MAX_PAYLOAD
//!  8       4     crc          CRC-32C (Castagnoli) of bytes 12..32 and the payload
//!  12      8     seq          u64 LE, journal sequence number (the event id's second half)
//!  20      8     received_at  i64 LE, gateway receive time, µs since the Unix epoch
//!  28      1     severity     0 critical, 1 warning, 2 info
//!  29      1     stream       0 events, 1 positions
//!  30      2     reserved     zero
//!  32      n     payload      the published payload bytes (JSON or CBOR)
//! ```
//!
//! # Warning
//! Any change to this layout breaks every journal already on a device. Change the magic
//! and write a migration if it must change.

use ects_firmware::event::Severity;

/// Size of the record header.
pub const HEADER_LEN: usize = 32;
/// Largest payload accepted (an event payload is well under 2 KiB).
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// The record magic.
pub const MAGIC: [u8; 4] = *b"ECJ1";

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Which log a record lives in. Positions are kept apart from everything else so that the
/// full-disk policy can evict whole segments of positions without touching alarms; critical
/// events are kept apart so that they are delivered before any backlog of other events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// `critical` events (seal cut, route deviation, jamming…): delivered first. Never
    /// evicted.
    Critical,
    /// Every other event except `position`: warnings, trip lifecycle, health. Never evicted.
    Events,
    /// Routine `position` events: evicted oldest-first when the journal is full.
    Positions,
}

impl Stream {
    /// Every stream, in drain priority order.
    pub const ALL: [Stream; 3] = [Stream::Critical, Stream::Events, Stream::Positions];

    /// Prefix of this stream's segment file names.
    pub const fn prefix(self) -> &'static str {
        match self {
            Stream::Critical => "critical",
            Stream::Events => "events",
            Stream::Positions => "positions",
        }
    }

    /// What one record of the stream is, for messages: `position` or `event`.
    pub const fn noun(self) -> &'static str {
        match self {
            Stream::Critical => "critical event",
            Stream::Events => "event",
            Stream::Positions => "position",
        }
    }

    const fn code(self) -> u8 {
        match self {
            Stream::Events => 0,
            Stream::Positions => 1,
            Stream::Critical => 2,
        }
    }

    fn from_code(code: u8) -> Option<Stream> {
        match code {
            0 => Some(Stream::Events),
            1 => Some(Stream::Positions),
            2 => Some(Stream::Critical),
            _ => None,
        }
    }
}

pub(crate) const fn severity_code(s: Severity) -> u8 {
    match s {
        Severity::Critical => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    }
}

fn severity_from_code(code: u8) -> Option<Severity> {
    match code {
        0 => Some(Severity::Critical),
        1 => Some(Severity::Warning),
        2 => Some(Severity::Info),
        _ => None,
    }
}

/// One record, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Journal sequence number.
    pub seq: u64,
    /// Gateway receive time, µs since the Unix epoch.
    pub received_at_us: i64,
    /// The event's severity.
    pub severity: Severity,
    /// The stream it belongs to.
    pub stream: Stream,
    /// The payload as it will be published.
    pub payload: Vec<u8>,
}

impl Record {
    /// Bytes this record takes on disk.
    pub fn disk_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Appends the encoded record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&(self.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]); // crc, filled below
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.received_at_us.to_le_bytes());
        out.push(severity_code(self.severity));
        out.push(self.stream.code());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.payload);
        let mut digest = CRC.digest();
        digest.update(&out[start + 12..]);
        let crc = digest.finalize().to_le_bytes();
        out[start + 8..start + 12].copy_from_slice(&crc);
    }
}

/// What is found at an offset of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A valid record taking `len` bytes.
    Valid {
        /// The record.
        record: Record,
        /// Bytes it takes.
        len: usize,
    },
    /// The bytes end before the record does: a torn write at the tail.
    Truncated,
    /// Not a valid record (bad magic, impossible length, CRC mismatch).
    Corrupt,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Decodes the record at the start of `bytes`. Never panics.
pub fn decode(bytes: &[u8]) -> Decoded {
    if bytes.len() < HEADER_LEN {
        // A prefix of the magic (or nothing of it) at the very end is a torn header.
        let n = bytes.len().min(4);
        return if bytes[..n] == MAGIC[..n] {
            Decoded::Truncated
        } else {
            Decoded::Corrupt
        };
    }
    if bytes[..4] != MAGIC {
        return Decoded::Corrupt;
    }
    let len = u32_at(bytes, 4) as usize;
    if len > MAX_PAYLOAD || bytes[30..32] != [0, 0] {
        return Decoded::Corrupt;
    }
    if bytes.len() < HEADER_LEN + len {
        return Decoded::Truncated;
    }
    let total = HEADER_LEN + len;
    let mut digest = CRC.digest();
    digest.update(&bytes[12..total]);
    if digest.finalize() != u32_at(bytes, 8) {
        return Decoded::Corrupt;
    }
    let (Some(severity), Some(stream)) =
        (severity_from_code(bytes[28]), Stream::from_code(bytes[29]))
    else {
        return Decoded::Corrupt;
    };
    Decoded::Valid {
        record: Record {
            seq: u64_at(bytes, 12),
            received_at_us: u64_at(bytes, 20) as i64,
            severity,
            stream,
            payload: bytes[HEADER_LEN..total].to_vec(),
        },
        len: total,
    }
}

/// The next offset after `from` where a valid record starts, if any (resynchronisation
/// after corruption: look for the magic, then demand a valid CRC).
pub fn resync(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at + 4 <= bytes.len() {
        let rel = bytes[at..].windows(4).position(|w| w == MAGIC)?;
        at += rel;
        if let Decoded::Valid { .. } = decode(&bytes[at..]) {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// The result of scanning a whole segment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Valid records with their offsets, in file order.
    pub records: Vec<(usize, Record)>,
    /// Corrupt regions skipped (each may have held one or more records).
    pub corrupt_regions: u64,
    /// Bytes skipped inside corrupt regions.
    pub corrupt_bytes: u64,
    /// Where the valid data ends: a torn tail or trailing garbage starts here (equals the
    /// file length when there is none).
    pub valid_end: usize,
    /// Bytes at the end that are the beginning of a record cut short (a torn write).
    pub torn_bytes: usize,
}

impl Scan {
    /// Offset of the first record with a sequence number above `seq`, or the end of the
    /// valid data when there is none (where a reader starts after record `seq`).
    pub fn offset_after(&self, seq: u64) -> u64 {
        self.records
            .iter()
            .find(|(_, r)| r.seq > seq)
            .map_or(self.valid_end as u64, |(off, _)| *off as u64)
    }
}

/// Scans a segment: every valid record, corrupt regions skipped, torn tail located.
pub fn scan(bytes: &[u8]) -> Scan {
    let mut s = Scan::default();
    let mut at = 0;
    while at < bytes.len() {
        match decode(&bytes[at..]) {
            Decoded::Valid { record, len } => {
                s.records.push((at, record));
                at += len;
                s.valid_end = at;
            }
            Decoded::Truncated => {
                s.torn_bytes = bytes.len() - at;
                break;
            }
            Decoded::Corrupt => match resync(bytes, at + 1) {
                Some(next) => {
                    s.corrupt_regions += 1;
                    s.corrupt_bytes += (next - at) as u64;
                    at = next;
                }
                None => {
                    // Garbage to the end: counted as one corrupt region, then truncated.
                    s.corrupt_regions += 1;
                    s.corrupt_bytes += (bytes.len() - at) as u64;
                    break;
                }
            },
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(seq: u64, payload: &[u8]) -> Record {
        Record {
            seq,
            received_at_us: 1_764_345_600_000_000 + seq as i64,
            severity: Severity::Warning,
            stream: Stream::Events,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn test_round_trip_and_layout() {
        let mut buf = Vec::new();
        rec(7, b"{\"a\":1}").encode_into(&mut buf);
        assert_eq!(&buf[..4], b"ECJ1");
        assert_eq!(buf.len(), HEADER_LEN + 7);
        assert_eq!(
            decode(&buf),
            Decoded::Valid {
                record: rec(7, b"{\"a\":1}"),
                len: buf.len()
            }
        );
    }

    #[test]
    fn test_torn_and_corrupt() {
        let mut buf = Vec::new();
        rec(1, b"hello").encode_into(&mut buf);
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]), Decoded::Truncated, "cut {cut}");
        }
        let mut flipped = buf.clone();
        flipped[HEADER_LEN + 2] ^= 0x10;
        assert_eq!(decode(&flipped), Decoded::Corrupt);
    }

    #[test]
    fn test_scan_skips_a_corrupt_record_and_finds_the_torn_tail() {
        let mut buf = Vec::new();
        for seq in 1..=5 {
            rec(seq, b"payload").encode_into(&mut buf);
        }
        let one = HEADER_LEN + 7;
        buf[one * 2 + 20] ^= 0xff; // record 3 rots
        let full = buf.len();
        rec(6, b"payload").encode_into(&mut buf);
        buf.truncate(full + 10); // record 6 torn
        let s = scan(&buf);
        assert_eq!(
            s.records.iter().map(|(_, r)| r.seq).collect::<Vec<_>>(),
            [1, 2, 4, 5]
        );
        assert_eq!(s.corrupt_regions, 1);
        assert_eq!(s.valid_end, full);
    }

    proptest! {
        #[test]
        fn prop_scan_never_panics_and_is_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let s = scan(&bytes);
            prop_assert!(s.valid_end <= bytes.len());
        }

        #[test]
        fn prop_a_single_bit_flip_is_always_detected(
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            bit in 0usize..(8 * 232),
        ) {
            let mut buf = Vec::new();
            let r = rec(42, &payload);
            r.encode_into(&mut buf);
            let bit = bit % (buf.len() * 8);
            buf[bit / 8] ^= 1 << (bit % 8);
            // CRC-32C catches every single-bit error; magic, length and reserved bytes are
            // checked directly.
            prop_assert!(!matches!(decode(&buf), Decoded::Valid { .. }), "{:?}", r);
        }
    }
}
