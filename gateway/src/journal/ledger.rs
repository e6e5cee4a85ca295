//! The ledger: the journal's small, crash-safe state file.
//!
//! ```text
//!  offset  size  field
//!  0       4     magic            "ECL1"
//!  4       4     version          u32 LE, 2 (1: without critical_acked, read as 0)
//!  8       8     seq_reserved     u64 LE: no sequence number below this was ever handed out
//!                                 by an earlier run; a new run starts at or above it
//!  16      8     events_acked     u64 LE: every Events record with seq ≤ this is acknowledged
//!  24      8     positions_acked  u64 LE: the same for Positions
//!  32      8     dropped_total    u64 LE: events dropped over the journal's life
//!  40      8     critical_acked   u64 LE: the same for Critical (version 2 only)
//!  48      4     crc              CRC-32C of all bytes before it (40 in version 1)
//! ```
//!
//! Written as `ledger.tmp` (synced), renamed over `ledger`, then the directory is synced:
//! a crash leaves either the old or the new ledger, never a mix.

use std::path::Path;

use super::fs::Filesystem;

/// File name of the ledger.
pub const LEDGER: &str = "ledger";
/// File name of the ledger being replaced.
pub const LEDGER_TMP: &str = "ledger.tmp";
const MAGIC: [u8; 4] = *b"ECL1";
const LEN: usize = 52;
/// Length of a version-1 ledger (read, never written).
const LEN_V1: usize = 44;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// The ledger's contents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Sequence numbers below this may have been used by an earlier run.
    pub seq_reserved: u64,
    /// Ack point of the Events stream.
    pub events_acked: u64,
    /// Ack point of the Positions stream.
    pub positions_acked: u64,
    /// Events dropped over the journal's life.
    pub dropped_total: u64,
    /// Ack point of the Critical stream.
    pub critical_acked: u64,
}

/// What was found where the ledger should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerState {
    /// A valid ledger.
    Valid(Ledger),
    /// No ledger (a new journal, or one that never acknowledged anything).
    Missing,
    /// A ledger that failed its checks.
    Corrupt,
}

impl Ledger {
    /// The encoded form.
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..8].copy_from_slice(&2u32.to_le_bytes());
        b[8..16].copy_from_slice(&self.seq_reserved.to_le_bytes());
        b[16..24].copy_from_slice(&self.events_acked.to_le_bytes());
        b[24..32].copy_from_slice(&self.positions_acked.to_le_bytes());
        b[32..40].copy_from_slice(&self.dropped_total.to_le_bytes());
        b[40..48].copy_from_slice(&self.critical_acked.to_le_bytes());
        let crc = CRC.checksum(&b[..48]);
        b[48..52].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes `bytes`; `None` if they are not a valid version-2 (or version-1) ledger.
    pub fn decode(bytes: &[u8]) -> Option<Ledger> {
        let body = match (bytes.len(), bytes.get(4..8)?) {
            (LEN, v) if v == 2u32.to_le_bytes() => LEN - 4,
            (LEN_V1, v) if v == 1u32.to_le_bytes() => LEN_V1 - 4,
            _ => return None,
        };
        if bytes[0..4] != MAGIC {
            return None;
        }
        let crc = u32::from_le_bytes(bytes[body..body + 4].try_into().ok()?);
        if CRC.checksum(&bytes[..body]) != crc {
            return None;
        }
        let u64_at = |at: usize| bytes[at..at + 8].try_into().ok().map(u64::from_le_bytes);
        Some(Ledger {
            seq_reserved: u64_at(8)?,
            events_acked: u64_at(16)?,
            positions_acked: u64_at(24)?,
            dropped_total: u64_at(32)?,
            critical_acked: if body > 40 { u64_at(40)? } else { 0 },
        })
    }

    /// The ack point of `stream`.
    pub fn acked(&self, stream: super::Stream) -> u64 {
        match stream {
            super::Stream::Critical => self.critical_acked,
            super::Stream::Events => self.events_acked,
            super::Stream::Positions => self.positions_acked,
        }
    }

    /// Sets the ack point of `stream`.
    pub fn set_acked(&mut self, stream: super::Stream, acked: u64) {
        match stream {
            super::Stream::Critical => self.critical_acked = acked,
            super::Stream::Events => self.events_acked = acked,
            super::Stream::Positions => self.positions_acked = acked,
        }
    }

    /// Reads the ledger in `dir`.
    pub fn load<FS: Filesystem>(fs: &FS, dir: &Path) -> LedgerState {
        let path = dir.join(LEDGER);
        match fs.read_at(&path, 0, LEN + 1) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LedgerState::Missing,
            Err(_) => LedgerState::Corrupt,
            Ok(bytes) => Ledger::decode(&bytes).map_or(LedgerState::Corrupt, LedgerState::Valid),
        }
    }

    /// Replaces the ledger in `dir` atomically and durably.
    ///
    /// # Errors
    /// The I/O error of any step; the previous ledger is then still in place.
    pub fn store<FS: Filesystem>(&self, fs: &FS, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(LEDGER_TMP);
        fs.write_file(&tmp, &self.encode())?;
        fs.rename(&tmp, &dir.join(LEDGER))?;
        fs.sync_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fs::{TailPersistence, TestFilesystem};
    use super::*;

    #[test]
    fn test_round_trip_and_damage() {
        let l = Ledger {
            seq_reserved: 4096,
            events_acked: 17,
            positions_acked: 12,
            dropped_total: 3,
            critical_acked: 21,
        };
        let b = l.encode();
        assert_eq!(Ledger::decode(&b), Some(l));
        for i in 0..LEN {
            let mut d = b;
            d[i] ^= 0x04;
            assert_eq!(Ledger::decode(&d), None, "byte {i}");
        }
        assert_eq!(Ledger::decode(&b[..LEN - 1]), None);
        assert_eq!(Ledger::decode(&b[..LEN_V1]), None);
    }

    #[test]
    fn test_a_version_1_ledger_is_read_with_no_critical_ack_point() {
        // Written by the journal before critical events had a stream of their own.
        let mut v1 = [0u8; LEN_V1];
        v1[0..4].copy_from_slice(&MAGIC);
        v1[4..8].copy_from_slice(&1u32.to_le_bytes());
        v1[8..16].copy_from_slice(&4096u64.to_le_bytes());
        v1[16..24].copy_from_slice(&17u64.to_le_bytes());
        v1[24..32].copy_from_slice(&12u64.to_le_bytes());
        v1[32..40].copy_from_slice(&3u64.to_le_bytes());
        let crc = CRC.checksum(&v1[..40]);
        v1[40..44].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            Ledger::decode(&v1),
            Some(Ledger {
                seq_reserved: 4096,
                events_acked: 17,
                positions_acked: 12,
                dropped_total: 3,
                critical_acked: 0,
            })
        );
    }

    #[test]
    fn test_store_is_atomic_across_a_crash() {
        let fs = TestFilesystem::new();
        let dir = Path::new("/j");
        assert_eq!(Ledger::load(&fs, dir), LedgerState::Missing);
        let a = Ledger {
            seq_reserved: 1,
            ..Ledger::default()
        };
        a.store(&fs, dir).unwrap();
        let b = Ledger {
            seq_reserved: 2,
            ..Ledger::default()
        };
        // The new ledger is written and renamed, but the directory is not yet synced.
        fs.write_file(&dir.join(LEDGER_TMP), &b.encode()).unwrap();
        fs.rename(&dir.join(LEDGER_TMP), &dir.join(LEDGER)).unwrap();
        fs.crash(TailPersistence::Lost);
        assert_eq!(Ledger::load(&fs, dir), LedgerState::Valid(a));
        b.store(&fs, dir).unwrap();
        fs.crash(TailPersistence::Lost);
        assert_eq!(Ledger::load(&fs, dir), LedgerState::Valid(b));
    }
}
