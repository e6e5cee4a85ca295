//! Time as data: UTC timestamps and durations, passed into the core as arguments.
//!
//! The core never reads a clock. The gateway owns the clock and hands a [`Timestamp`] to
//! every decoder and state machine, which is what makes them deterministic, replayable and
//! testable (the pattern of smoltcp's `time` module).
//!
//! Invariants:
//! - A [`Timestamp`] is UTC, in microseconds since 1970-01-01T00:00:00Z, ignoring leap
//!   seconds (as POSIX time does). Its text form is RFC 3339 with a `Z` offset.
//! - Only years 0000–9999 have a text form; [`Timestamp::from_civil`] and the parser reject
//!   anything else, so every valid `Timestamp` built from text prints back.
//! - Arithmetic saturates instead of overflowing: no operation here panics.
//!
//! ```
//! use ects_firmware::time::{Duration, Timestamp};
//! let t: Timestamp = "2026-11-28T16:18:06.5Z".parse().unwrap();
//! let later = t + Duration::from_secs(90);
//! assert_eq!(later - t, Duration::from_secs(90));
//! let mut buf = [0u8; Timestamp::MAX_TEXT_LEN];
//! assert_eq!(later.format_rfc3339(&mut buf), "2026-11-28T16:19:36.500Z");
//! ```

use core::fmt;
use core::ops::{Add, Sub};
use core::str::FromStr;

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// A span of time in microseconds (may be negative: device clocks drift both ways).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Duration(i64);

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    /// A duration of `micros` microseconds.
    pub const fn from_micros(micros: i64) -> Self {
        Duration(micros)
    }

    /// A duration of `millis` milliseconds (saturating).
    pub const fn from_millis(millis: i64) -> Self {
        Duration(millis.saturating_mul(1_000))
    }

    /// A duration of `secs` seconds (saturating).
    pub const fn from_secs(secs: i64) -> Self {
        Duration(secs.saturating_mul(MICROS_PER_SEC))
    }

    /// The duration in microseconds.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The duration in whole seconds, truncated toward zero.
    pub const fn as_secs(self) -> i64 {
        self.0 / MICROS_PER_SEC
    }

    /// The duration in seconds as a float (for rates and reports, not for bookkeeping).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_SEC as f64
    }

    /// The absolute value (saturating at `i64::MAX`).
    pub const fn abs(self) -> Self {
        Duration(self.0.saturating_abs())
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Duration {
    type Output = Duration;
    fn sub(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_sub(rhs.0))
    }
}

/// A UTC instant, in microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a text timestamp or a civil date was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeError {
    /// The text does not have the RFC 3339 shape `YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)`.
    Syntax,
    /// A field is out of range (month 13, 31 February, hour 24, offset ±24:00, …).
    Range,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeError::Syntax => {
                f.write_str("expected an RFC 3339 time such as 2026-11-28T16:18:06Z")
            }
            TimeError::Range => f.write_str("a date or time field is out of range"),
        }
    }
}

impl core::error::Error for TimeError {}

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// Longest text form: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    pub const MAX_TEXT_LEN: usize = 27;

    /// The instant `micros` microseconds after the Unix epoch.
    pub const fn from_unix_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// The instant `secs` seconds after the Unix epoch (saturating).
    pub const fn from_unix_seconds(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(MICROS_PER_SEC))
    }

    /// Microseconds since the Unix epoch.
    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (floor).
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(MICROS_PER_SEC)
    }

    /// Builds a timestamp from a UTC calendar date and time of day.
    ///
    /// `second` may not be 60: leap seconds are folded as POSIX time does, by the caller.
    ///
    /// # Errors
    /// [`TimeError::Range`] for a year outside 0–9999 or any field out of range.
    pub fn from_civil(
        year: i32,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        micros: u32,
    ) -> Result<Self, TimeError> {
        if !(0..=9999).contains(&year)
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
            || micros >= 1_000_000
        {
            return Err(TimeError::Range);
        }
        let days = days_from_civil(year, month, day);
        let secs = days * SECS_PER_DAY
            + i64::from(hour) * 3600
            + i64::from(minute) * 60
            + i64::from(second);
        Ok(Timestamp(secs * MICROS_PER_SEC + i64::from(micros)))
    }

    /// The UTC calendar fields: (year, month, day, hour, minute, second, microsecond).
    pub fn to_civil(self) -> (i64, u8, u8, u8, u8, u8, u32) {
        let secs = self.0.div_euclid(MICROS_PER_SEC);
        let micros = self.0.rem_euclid(MICROS_PER_SEC) as u32;
        let days = secs.div_euclid(SECS_PER_DAY);
        let sod = secs.rem_euclid(SECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        (
            y,
            m,
            d,
            (sod / 3600) as u8,
            ((sod / 60) % 60) as u8,
            (sod % 60) as u8,
            micros,
        )
    }

    /// Writes the RFC 3339 form into `buf` and returns it as a `&str`.
    ///
    /// The fraction is omitted for whole seconds, printed with 3 digits for whole
    /// milliseconds and with 6 otherwise. Years outside 0000–9999 are clamped to those
    /// bounds (such instants cannot come from [`Timestamp::from_civil`] or the parser).
    pub fn format_rfc3339(self, buf: &mut [u8; Self::MAX_TEXT_LEN]) -> &str {
        let (y, mo, d, h, mi, s, us) = self.clamped().to_civil();
        let y = y as u32; // clamped to 0..=9999 above
        let mut n = 0;
        for (v, width, sep) in [
            (y, 4, b'-'),
            (u32::from(mo), 2, b'-'),
            (u32::from(d), 2, b'T'),
            (u32::from(h), 2, b':'),
            (u32::from(mi), 2, b':'),
            (u32::from(s), 2, b'.'),
        ] {
            n = write_digits(buf, n, v, width);
            buf[n] = sep;
            n += 1;
        }
        if us == 0 {
            n -= 1; // drop the '.' written after the seconds
        } else if us % 1000 == 0 {
            n = write_digits(buf, n, us / 1000, 3);
        } else {
            n = write_digits(buf, n, us, 6);
        }
        buf[n] = b'Z';
        n += 1;
        // Only ASCII digits and separators were written.
        core::str::from_utf8(&buf[..n]).unwrap_or("")
    }

    fn clamped(self) -> Timestamp {
        const MIN: i64 = -62_167_219_200 * MICROS_PER_SEC; // 0000-01-01T00:00:00Z
        const MAX: i64 = 253_402_300_799 * MICROS_PER_SEC + 999_999; // 9999-12-31T23:59:59.999999Z
        Timestamp(self.0.clamp(MIN, MAX))
    }

    /// Parses an RFC 3339 timestamp (`T` or space between date and time, `Z`, `z` or a
    /// numeric offset, up to 9 fraction digits of which 6 are kept).
    ///
    /// # Errors
    /// [`TimeError::Syntax`] for the wrong shape, [`TimeError::Range`] for impossible fields.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimeError> {
        let b = text.as_bytes();
        if b.len() < 20 || b.len() > 40 {
            return Err(TimeError::Syntax);
        }
        let num = |range: core::ops::Range<usize>| -> Result<u32, TimeError> {
            let mut v = 0u32;
            for &c in &b[range] {
                if !c.is_ascii_digit() {
                    return Err(TimeError::Syntax);
                }
                v = v * 10 + u32::from(c - b'0');
            }
            Ok(v)
        };
        let sep = |i: usize, allowed: &[u8]| -> Result<(), TimeError> {
            if allowed.contains(&b[i]) {
                Ok(())
            } else {
                Err(TimeError::Syntax)
            }
        };
        sep(4, b"-")?;
        sep(7, b"-")?;
        sep(10, b"Tt ")?;
        sep(13, b":")?;
        sep(16, b":")?;
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut i = 19;
        let mut micros = 0u32;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 6 {
                    micros = micros * 10 + u32::from(b[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 || digits > 9 {
                return Err(TimeError::Syntax);
            }
            for _ in digits..6 {
                micros *= 10;
            }
        }
        let offset_secs: i64 = match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(&c @ (b'+' | b'-')) if i + 6 == b.len() => {
                if b[i + 3] != b':' {
                    return Err(TimeError::Syntax);
                }
                let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if oh > 23 || om > 59 {
                    return Err(TimeError::Range);
                }
                let off = i64::from(oh * 3600 + om * 60);
                if c == b'-' { -off } else { off }
            }
            _ => return Err(TimeError::Syntax),
        };
        let local = Timestamp::from_civil(
            year as i32,
            month as u8,
            day as u8,
            hour as u8,
            minute as u8,
            second as u8,
            micros,
        )?;
        Ok(Timestamp(local.0 - offset_secs * MICROS_PER_SEC))
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(rhs.0))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(rhs.0))
    }
}

impl Sub for Timestamp {
    type Output = Duration;
    fn sub(self, rhs: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; Self::MAX_TEXT_LEN];
        f.write_str(self.format_rfc3339(&mut buf))
    }
}

impl FromStr for Timestamp {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, TimeError> {
        Timestamp::parse_rfc3339(s)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; Self::MAX_TEXT_LEN];
        s.serialize_str(self.format_rfc3339(&mut buf))
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 UTC timestamp")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse_rfc3339(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Writes `v` as exactly `width` decimal digits at `buf[at..]`; returns the new end.
fn write_digits(buf: &mut [u8], at: usize, v: u32, width: u32) -> usize {
    let mut div = 10u32.pow(width - 1);
    let mut n = at;
    while div > 0 {
        buf[n] = b'0' + ((v / div) % 10) as u8;
        n += 1;
        div /= 10;
    }
    n
}

/// Whether `year` is a Gregorian leap year.
pub const fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1–12) of `year`; 0 for an invalid month.
pub const fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

// Howard Hinnant's `days_from_civil` / `civil_from_days`
// (https://howardhinnant.github.io/date_algorithms.html), proleptic Gregorian.
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(t: Timestamp) -> std::string::String {
        let mut buf = [0u8; Timestamp::MAX_TEXT_LEN];
        t.format_rfc3339(&mut buf).into()
    }

    #[test]
    fn test_epoch_and_known_instants() {
        assert_eq!(text(Timestamp::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            text(Timestamp::from_unix_seconds(1_764_345_600)),
            "2025-11-28T16:00:00Z"
        );
        assert_eq!(
            text(Timestamp::from_unix_micros(951_782_400_000_001)),
            "2000-02-29T00:00:00.000001Z"
        );
        assert_eq!(
            text(Timestamp::from_unix_micros(-1)),
            "1969-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn test_parse_offsets_and_fractions() {
        let t: Timestamp = "2011-02-16T05:59:10.000Z".parse().unwrap();
        assert_eq!(text(t), "2011-02-16T05:59:10Z");
        let u: Timestamp = "2011-02-16T08:59:10+03:00".parse().unwrap();
        assert_eq!(t, u);
        let v: Timestamp = "2011-02-16 05:59:10.123456789z".parse().unwrap();
        assert_eq!(v.unix_micros() - t.unix_micros(), 123_456);
    }

    #[test]
    fn test_parse_rejects() {
        for bad in [
            "",
            "2011-02-16",
            "2011-02-16T05:59:10",
            "2011-02-30T05:59:10Z",
            "2011-13-01T05:59:10Z",
            "2011-02-16T24:00:00Z",
            "2011-02-16T05:59:60Z",
            "2011-02-16T05:59:10.Z",
            "2011-02-16T05:59:10+0300",
            "2011-02-16T05:59:10+24:00",
            "2011-02-16T05:59:10Zjunk",
            "٢٠١١-02-16T05:59:10Z",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn test_arithmetic_saturates() {
        let t = Timestamp::from_unix_micros(i64::MAX);
        assert_eq!(t + Duration::from_secs(1), t);
        assert_eq!(
            Timestamp::from_unix_micros(i64::MIN) - t,
            Duration::from_micros(i64::MIN)
        );
        assert_eq!(
            Duration::from_secs(i64::MAX),
            Duration::from_micros(i64::MAX)
        );
    }

    proptest! {
        #[test]
        fn prop_text_round_trip(us in -62_167_219_200_000_000i64..=253_402_300_799_999_999i64) {
            let t = Timestamp::from_unix_micros(us);
            let s = text(t);
            prop_assert_eq!(Timestamp::parse_rfc3339(&s), Ok(t));
        }

        #[test]
        fn prop_civil_round_trip(y in 0i32..=9999, m in 1u8..=12, d in 1u8..=31, h in 0u8..24, mi in 0u8..60, s in 0u8..60, us in 0u32..1_000_000) {
            match Timestamp::from_civil(y, m, d, h, mi, s, us) {
                Ok(t) => prop_assert_eq!(t.to_civil(), (i64::from(y), m, d, h, mi, s, us)),
                Err(_) => prop_assert!(d > days_in_month(y, m)),
            }
        }

        #[test]
        fn prop_parse_never_panics(s in "\\PC{0,45}") {
            let _ = Timestamp::parse_rfc3339(&s);
        }

        #[test]
        fn prop_format_any_instant_is_bounded(us in any::<i64>()) {
            let s = text(Timestamp::from_unix_micros(us));
            prop_assert!(s.len() <= Timestamp::MAX_TEXT_LEN);
            prop_assert!(Timestamp::parse_rfc3339(&s).is_ok());
        }
    }
}
