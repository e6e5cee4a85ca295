//! Small parsing helpers shared by the seal decoders: a bounds-checked byte cursor, BCD
//! and ASCII number parsing, and device-time construction.
//!
//! Every function returns a [`DecodeError`] instead of panicking on short or odd input.

use crate::event::{DeviceId, Position};
use crate::seal::DecodeError;
use crate::text::Text;
use crate::time::Timestamp;

/// Knots to metres per second.
pub(crate) const KNOT_MPS: f32 = 0.514_444;
/// Kilometres per hour to metres per second.
pub(crate) const KPH_MPS: f32 = 1.0 / 3.6;
/// Miles per hour to metres per second.
pub(crate) const MPH_MPS: f32 = 0.447_04;

/// A forward-only reader over a byte slice; every read is bounds-checked.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) const fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.take(n).map(|_| ())
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        s
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let s = self.take(1)?;
        s.first().copied().ok_or(DecodeError::Truncated)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes(
            s.try_into().map_err(|_| DecodeError::Truncated)?,
        ))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes(
            s.try_into().map_err(|_| DecodeError::Truncated)?,
        ))
    }
}

/// The value of `digits` packed-BCD nibbles starting at the first nibble of `bytes`.
/// Fails with `BadField(field)` on a nibble above 9 or if `bytes` is too short.
pub(crate) fn bcd(bytes: &[u8], digits: usize, field: &'static str) -> Result<u32, DecodeError> {
    let mut v: u32 = 0;
    for i in 0..digits {
        let b = bytes.get(i / 2).ok_or(DecodeError::Truncated)?;
        let n = if i % 2 == 0 { b >> 4 } else { b & 0x0f };
        if n > 9 {
            return Err(DecodeError::BadField(field));
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(n)))
            .ok_or(DecodeError::BadField(field))?;
    }
    Ok(v)
}

/// A byte read as two BCD digits without checking them (devices put non-BCD values in
/// some speed fields; the reference decoder reads them the same way).
pub(crate) fn bcd_lenient(b: u8) -> u32 {
    u32::from(b >> 4) * 10 + u32::from(b & 0x0f)
}

/// A UTC timestamp from two-digit-year civil fields, or `None` if they are not a date
/// (devices without a fix often send zeros).
pub(crate) fn civil(yy: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<Timestamp> {
    civil_full(2000 + yy % 100, mo, d, h, mi, s)
}

/// A UTC timestamp from civil fields, or `None` if they are not a date and time.
pub(crate) fn civil_full(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<Timestamp> {
    let b = |v: u32| u8::try_from(v).ok();
    Timestamp::from_civil(
        i32::try_from(y).ok()?,
        b(mo)?,
        b(d)?,
        b(h)?,
        b(mi)?,
        b(s)?,
        0,
    )
    .ok()
}

/// `A` (valid) or `V` (void) fix status.
pub(crate) fn validity_av(s: &str) -> Result<bool, DecodeError> {
    match s {
        "A" => Ok(true),
        "V" => Ok(false),
        _ => Err(DecodeError::BadField("validity")),
    }
}

/// Six packed-BCD bytes of date and time: `DDMMYY hhmmss` when `dmy`, else
/// `YYMMDD hhmmss`. `None` if the digits are not a valid date.
pub(crate) fn bcd_time(b: &[u8], dmy: bool) -> Result<Option<Timestamp>, DecodeError> {
    let d = |i: usize| bcd(b.get(i..).unwrap_or(&[]), 2, "time");
    let (yy, mo, dd) = if dmy {
        (d(2)?, d(1)?, d(0)?)
    } else {
        (d(0)?, d(1)?, d(2)?)
    };
    Ok(civil(yy, mo, dd, d(3)?, d(4)?, d(5)?))
}

/// `ddmmyy` and `hhmmss` ASCII fields to a timestamp (`None` if not a valid date).
pub(crate) fn civil_ascii(
    date: &str,
    time: &str,
    dmy: bool,
) -> Result<Option<Timestamp>, DecodeError> {
    let d = six_digits(date).ok_or(DecodeError::BadField("date"))?;
    let t = six_digits(time).ok_or(DecodeError::BadField("time"))?;
    let (yy, mo, dd) = if dmy {
        (d[2], d[1], d[0])
    } else {
        (d[0], d[1], d[2])
    };
    Ok(civil(yy, mo, dd, t[0], t[1], t[2]))
}

fn six_digits(s: &str) -> Option<[u32; 3]> {
    let b = s.as_bytes();
    if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let pair = |i: usize| -> Option<u32> {
        let hi = b.get(i)?;
        let lo = b.get(i + 1)?;
        Some(u32::from(hi - b'0') * 10 + u32::from(lo - b'0'))
    };
    Some([pair(0)?, pair(2)?, pair(4)?])
}

/// Parses an unsigned decimal integer field.
pub(crate) fn parse_u32(s: &str, field: &'static str) -> Result<u32, DecodeError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::BadField(field));
    }
    s.parse().map_err(|_| DecodeError::BadField(field))
}

/// Parses a plain decimal number (`12`, `-3.25`, `0.31`); no exponents, no `inf`/`nan`.
pub(crate) fn parse_f64(s: &str, field: &'static str) -> Result<f64, DecodeError> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let ok = !body.is_empty()
        && body.len() <= 24
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && body.bytes().filter(|&b| b == b'.').count() <= 1
        && body.bytes().any(|b| b.is_ascii_digit());
    if !ok {
        return Err(DecodeError::BadField(field));
    }
    s.parse().map_err(|_| DecodeError::BadField(field))
}

/// A device id made of text from the frame.
pub(crate) fn device_id(s: &str) -> Result<DeviceId, DecodeError> {
    Text::new(s).map_err(|_| DecodeError::BadField("device id"))
}

/// A bounded text field.
pub(crate) fn text<const N: usize>(s: &str, field: &'static str) -> Result<Text<N>, DecodeError> {
    Text::new(s).map_err(|_| DecodeError::BadField(field))
}

/// A position from signed degrees.
pub(crate) fn position(lat: f64, lon: f64, valid: bool) -> Result<Position, DecodeError> {
    Position::new(lat, lon, valid).map_err(|_| DecodeError::BadField("coordinates"))
}

/// Applies a hemisphere letter (`N`/`S`/`E`/`W`) to a magnitude.
pub(crate) fn hemisphere(
    v: f64,
    h: &str,
    pos: &str,
    neg: &str,
    field: &'static str,
) -> Result<f64, DecodeError> {
    if h == pos {
        Ok(v)
    } else if h == neg {
        Ok(-v)
    } else {
        Err(DecodeError::BadField(field))
    }
}

/// Degrees from `(d)ddmm.mmmm` text.
pub(crate) fn degrees_minutes(s: &str, field: &'static str) -> Result<f64, DecodeError> {
    let v = parse_f64(s, field)?;
    if v < 0.0 {
        return Err(DecodeError::BadField(field));
    }
    let deg = (v / 100.0) as u32;
    let min = v - f64::from(deg) * 100.0;
    Ok(f64::from(deg) + min / 60.0)
}

/// Lowercase hex of `bytes` into a bounded text (ids printed as hex).
pub(crate) fn hex_text<const N: usize>(
    bytes: &[u8],
    field: &'static str,
) -> Result<Text<N>, DecodeError> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s: heapless::String<N> = heapless::String::new();
    for b in bytes {
        for n in [b >> 4, b & 0x0f] {
            let c = HEX.get(usize::from(n)).copied().unwrap_or(b'0');
            s.push(char::from(c))
                .map_err(|_| DecodeError::BadField(field))?;
        }
    }
    text(&s, field)
}

/// Decimal digits of `v` into a bounded text.
pub(crate) fn decimal_text<const N: usize>(
    v: u64,
    field: &'static str,
) -> Result<Text<N>, DecodeError> {
    let mut buf = [0u8; 20];
    text(fmt_u64(v, &mut buf), field)
}

/// Formats `v` in decimal into `buf`, returning the digits.
pub(crate) fn fmt_u64(v: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        if let Some(d) = buf.get_mut(i) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    core::str::from_utf8(buf.get(i..).unwrap_or(&[])).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_digits() {
        assert_eq!(bcd(&[0x12, 0x34, 0x5f], 5, "x"), Ok(12345));
        assert_eq!(bcd(&[0x1a], 2, "x"), Err(DecodeError::BadField("x")));
        assert_eq!(bcd(&[0x12], 4, "x"), Err(DecodeError::Truncated));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_f64("-3.25", "x"), Ok(-3.25));
        assert!(parse_f64("1e5", "x").is_err());
        assert!(parse_f64("nan", "x").is_err());
        assert!(parse_f64(".", "x").is_err());
        let mut b = [0; 20];
        assert_eq!(fmt_u64(u64::MAX, &mut b), "18446744073709551615");
        assert_eq!(fmt_u64(0, &mut b), "0");
        assert_eq!(
            decimal_text::<20>(8_043_396_604, "x").map(|t| t.as_str() == "8043396604"),
            Ok(true)
        );
    }
}
