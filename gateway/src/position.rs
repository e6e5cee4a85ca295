//! Position events: how a receiver's fixes become `position` events, thinned.
//!
//! Data frugality: a receiver reports a fix every second, central needs far fewer. One
//! [`Thinning`] per receiver decides which fixes become events; the demo and the
//! service's pass-through stage share it, so they thin the same way.
//!
//! Invariants of [`Thinning::due`]:
//! - the first fix is always due;
//! - a change of validity (fix lost or regained) is due at once;
//! - otherwise a fix is due once `interval` of receiver time, in either direction, has
//!   passed since the last due one (a receiver clock that steps backwards — cold start,
//!   week rollover — must not silence positions until it catches up again).

use ects_firmware::time::{Duration, Timestamp};

/// Which fixes of one receiver become position events. See the module documentation.
#[derive(Debug, Clone)]
pub struct Thinning {
    interval: Duration,
    /// Receiver time and validity of the last fix that was due.
    last: Option<(Timestamp, bool)>,
}

impl Thinning {
    /// Positions at least `interval` of receiver time apart.
    pub fn new(interval: Duration) -> Self {
        Thinning {
            interval,
            last: None,
        }
    }

    /// Whether a fix at receiver time `at`, valid or not, is due; remembers it if so.
    pub fn due(&mut self, at: Timestamp, valid: bool) -> bool {
        let due = match self.last {
            None => true,
            Some((last, was_valid)) => was_valid != valid || (at - last).abs() >= self.interval,
        };
        if due {
            self.last = Some((at, valid));
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_first_validity_change_and_interval() {
        let t = |s: i64| Timestamp::from_unix_seconds(1_764_345_600 + s);
        let mut th = Thinning::new(Duration::from_secs(30));
        assert!(th.due(t(0), true));
        assert!(!th.due(t(10), true));
        assert!(th.due(t(11), false), "validity change");
        assert!(!th.due(t(12), false));
        assert!(th.due(t(41), false));
        assert!(th.due(t(0), false), "clock stepped back 41 s");
    }
}
