//! De-duplication of resent seal reports, before they become events.
//!
//! Devices resend a report until they see the acknowledgement they expect; a lost or late
//! reply, a reconnect or a wrong ACK (traccar issue 5550) means the same report arrives
//! again. [`Dedup`] remembers the last `N` report keys — protocol, device, message type,
//! index or counter, and device time — and says whether a report was already seen.
//!
//! # Invariants
//! - Exact keys, no hashes: two different reports are never merged by a collision.
//! - Bounded: the oldest key is forgotten when the `N`+1th arrives; `N` should cover a
//!   device's resend window at the gateway's report rate.
//! - A report with neither an index nor a device time cannot be told from a resend, so it
//!   is always [`Verdict::New`].
//! - Only the report is dropped, never the reply: a device that resends still gets its
//!   acknowledgement (else it keeps resending).
//!
//! ```
//! use ects_firmware::seal::dedup::{Dedup, Verdict};
//! use ects_firmware::seal::jt600;
//! let frame = b"(3301210003,U06,1,040812,185302,T,22.564025,N,113.242329,E,5,152,9,32%,0000000000011,10133,5173,22,100,1,300,100,10)";
//! let mut seen: Dedup<64> = Dedup::new();
//! let first = jt600::decode(frame).unwrap();
//! let again = jt600::decode(frame).unwrap();
//! assert_eq!(seen.check(&first.reports[0]), Verdict::New);
//! assert_eq!(seen.check(&again.reports[0]), Verdict::Duplicate);
//! ```

use crate::event::{DeviceId, Protocol};
use crate::seal::{MessageType, SealReport};
use crate::time::Timestamp;

/// Whether a report was seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// First time: turn it into events.
    New,
    /// A resend of a report already handled: drop it (but still send the reply).
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    protocol: Protocol,
    device: DeviceId,
    msg_type: MessageType,
    index: Option<u32>,
    device_time: Option<Timestamp>,
}

/// Remembers the last `N` report keys.
#[derive(Debug, Clone, Default)]
pub struct Dedup<const N: usize> {
    seen: heapless::Deque<Key, N>,
}

impl<const N: usize> Dedup<N> {
    /// Nothing seen yet.
    pub const fn new() -> Self {
        Dedup {
            seen: heapless::Deque::new(),
        }
    }

    /// Checks `report` and remembers it.
    pub fn check(&mut self, report: &SealReport) -> Verdict {
        if report.index.is_none() && report.device_time.is_none() {
            return Verdict::New;
        }
        let key = Key {
            protocol: report.protocol,
            device: report.device.clone(),
            msg_type: report.msg_type.clone(),
            index: report.index,
            device_time: report.device_time,
        };
        if self.seen.iter().any(|k| *k == key) {
            return Verdict::Duplicate;
        }
        if self.seen.is_full() {
            self.seen.pop_front();
        }
        // Cannot fail: a slot was freed above when full (and N = 0 stores nothing).
        let _ = self.seen.push_back(key);
        Verdict::New
    }

    /// Keys remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Text;

    fn report(index: Option<u32>, secs: Option<i64>) -> SealReport {
        let mut r = SealReport::new(
            Protocol::Jt600,
            Text::new("1").unwrap(),
            Text::new("U06").unwrap(),
        );
        r.index = index;
        r.device_time = secs.map(Timestamp::from_unix_seconds);
        r
    }

    #[test]
    fn same_key_is_duplicate_other_is_new() {
        let mut d: Dedup<4> = Dedup::new();
        assert_eq!(d.check(&report(Some(1), Some(10))), Verdict::New);
        assert_eq!(d.check(&report(Some(1), Some(10))), Verdict::Duplicate);
        assert_eq!(d.check(&report(Some(2), Some(10))), Verdict::New);
        assert_eq!(
            d.check(&report(Some(1), Some(11))),
            Verdict::New,
            "index wrapped, later time"
        );
        let mut other = report(Some(1), Some(10));
        other.msg_type = Text::new("U01").unwrap();
        assert_eq!(d.check(&other), Verdict::New);
    }

    #[test]
    fn unkeyed_reports_are_always_new() {
        let mut d: Dedup<4> = Dedup::new();
        assert_eq!(d.check(&report(None, None)), Verdict::New);
        assert_eq!(d.check(&report(None, None)), Verdict::New);
        assert!(d.is_empty());
    }

    #[test]
    fn bounded_window_forgets_the_oldest() {
        let mut d: Dedup<2> = Dedup::new();
        for i in 0..3 {
            assert_eq!(d.check(&report(Some(i), None)), Verdict::New);
        }
        assert_eq!(d.len(), 2);
        assert_eq!(d.check(&report(Some(0), None)), Verdict::New, "forgotten");
        assert_eq!(d.check(&report(Some(2), None)), Verdict::Duplicate);
    }
}
