//! Field-level parsing shared by the sentence decoders: a comma splitter and parsers for
//! numbers, times, dates and coordinates.
//!
//! Invariants: every parser takes a borrowed field, returns `Ok(None)` for an empty field,
//! `Err(())`-like [`Bad`] for a malformed one, never allocates and never panics. Numbers are
//! parsed by hand (decimal mantissa and scale) rather than through `f64::from_str`: NMEA
//! numbers are short fixed-point decimals, and this is both exact enough (1e-9° on
//! coordinates) and several times faster.

use super::{NmeaDate, NmeaTime};

/// A malformed field (the caller knows which one and turns it into a [`super::ParseError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bad;

/// Result of parsing one field: `Ok(None)` when empty.
pub(crate) type FieldResult<T> = Result<Option<T>, Bad>;

/// The comma-separated fields after the address field.
#[derive(Debug, Clone)]
pub(crate) struct Fields<'a> {
    rest: Option<&'a [u8]>,
    /// 1-based index of the field `next` returns next.
    pub(crate) index: u8,
    /// How many fields that exist in the sentence were returned so far.
    pub(crate) present: u8,
}

impl<'a> Fields<'a> {
    /// Splits `fields` (the body after `<address>,`); `None` means there are no fields.
    pub(crate) fn new(fields: Option<&'a [u8]>) -> Self {
        Fields {
            rest: fields,
            index: 1,
            present: 0,
        }
    }

    /// The next field; an absent trailing field reads as empty.
    #[inline(always)]
    pub(crate) fn next_field(&mut self) -> &'a [u8] {
        let Some(rest) = self.rest else {
            self.index = self.index.saturating_add(1);
            return &[];
        };
        self.index = self.index.saturating_add(1);
        self.present = self.present.saturating_add(1);
        match rest.iter().position(|&b| b == b',') {
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i).unwrap_or(&[])
            }
            None => {
                self.rest = None;
                rest
            }
        }
    }

    /// Whether fields are left.
    #[inline(always)]
    pub(crate) fn has_more(&self) -> bool {
        self.rest.is_some()
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The number of commas in `b`, eight bytes per step (the exact zero-byte test of Bit
/// Twiddling Hacks on `w ^ ",,,,,,,,"`, its flags summed by one multiplication).
#[inline(always)]
pub(crate) fn count_commas(b: &[u8]) -> usize {
    let mut words = b.chunks_exact(8);
    let mut n = 0;
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().unwrap_or([0; 8])) ^ (ONES * u64::from(b','));
        let zero = !(((x & !HIGHS) + !HIGHS) | x) & HIGHS;
        n += ((zero >> 7).wrapping_mul(ONES) >> 56) as usize;
    }
    n + words.remainder().iter().filter(|&&b| b == b',').count()
}

/// A one-pass reader of fields in their most common form, for the decoders' fast paths.
///
/// Each method reads the next field only when it has the simple form it expects, and
/// returns `None` otherwise (the decoder then starts over on the general path, which gives
/// the exact error). Whatever a fast path accepts, the general path decodes to the same
/// value: the fast readers accept a subset of the general parsers' input and compute the
/// same arithmetic.
#[derive(Debug, Clone)]
pub(crate) struct Scan<'a> {
    rest: &'a [u8],
    /// Whether the last field has been read.
    done: bool,
}

impl<'a> Scan<'a> {
    /// A reader of `fields` (the body after `<address>,`); `None` without fields.
    #[inline(always)]
    pub(crate) fn new(fields: Option<&'a [u8]>) -> Option<Self> {
        Some(Scan {
            rest: fields?,
            done: false,
        })
    }

    /// Whether every field has been read.
    #[inline(always)]
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Ends the field at `len` bytes into `rest`: skips it and its comma.
    #[inline(always)]
    fn advance(&mut self, len: usize) {
        match self.rest.get(len + 1..) {
            Some(rest) => self.rest = rest,
            None => {
                self.rest = &[];
                self.done = true;
            }
        }
    }

    /// The next field as 0 to 3 ASCII digits (`Some(None)` when empty).
    #[inline(always)]
    pub(crate) fn small(&mut self) -> Option<Option<u16>> {
        Some(self.small_len()?.0)
    }

    /// [`Scan::small`] with the field's length.
    #[inline(always)]
    pub(crate) fn small_len(&mut self) -> Option<(Option<u16>, usize)> {
        if self.done {
            return None;
        }
        let d = |b: &u8| {
            let v = b.wrapping_sub(b'0');
            (v <= 9).then_some(u16::from(v))
        };
        // One arm per length; each matches the field with its comma or as the last one.
        let (v, len) = match self.rest {
            [] | [b',', ..] => (None, 0),
            [a] | [a, b',', ..] => (Some(d(a)?), 1),
            [a, b] | [a, b, b',', ..] => (Some(d(a)? * 10 + d(b)?), 2),
            [a, b, c] | [a, b, c, b',', ..] => (Some(d(a)? * 100 + d(b)? * 10 + d(c)?), 3),
            _ => return None,
        };
        self.advance(len);
        Some((v, len))
    }

    /// The next field as raw bytes (the last field: everything left).
    #[inline(always)]
    pub(crate) fn raw(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        let n = self
            .rest
            .iter()
            .position(|&b| b == b',')
            .unwrap_or(self.rest.len());
        let f = self.rest.get(..n)?;
        self.advance(n);
        Some(f)
    }
}

/// An unsigned integer of at most 9 digits.
#[inline(always)]
pub(crate) fn uint(f: &[u8]) -> FieldResult<u32> {
    if f.is_empty() {
        return Ok(None);
    }
    if f.len() > 9 {
        return Err(Bad);
    }
    let mut v: u32 = 0;
    for &b in f {
        if !b.is_ascii_digit() {
            return Err(Bad);
        }
        v = v * 10 + u32::from(b - b'0');
    }
    Ok(Some(v))
}

/// An unsigned integer that must fit in `T`.
#[inline(always)]
pub(crate) fn uint_as<T: TryFrom<u32>>(f: &[u8]) -> FieldResult<T> {
    match uint(f)? {
        None => Ok(None),
        Some(v) => T::try_from(v).map(Some).map_err(|_| Bad),
    }
}

const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// Accumulates ASCII digits onto `acc` (the caller bounds the count to 18).
#[inline(always)]
fn digits(d: &[u8], mut acc: i64) -> Result<i64, Bad> {
    for &b in d {
        let v = b.wrapping_sub(b'0');
        if v > 9 {
            return Err(Bad);
        }
        acc = acc * 10 + i64::from(v);
    }
    Ok(acc)
}

/// A decimal number `[+-]digits[.digits]` as (mantissa, number of fraction digits).
/// At most 18 significant digits; leading zeros do not count.
#[inline(always)]
fn fixed(f: &[u8]) -> FieldResult<(i64, usize)> {
    let (neg, body) = match f {
        [] => return Ok(None),
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, f),
    };
    let (int, frac) = match body.iter().position(|&b| b == b'.') {
        Some(i) => (
            body.get(..i).unwrap_or(&[]),
            body.get(i + 1..).unwrap_or(&[]),
        ),
        None => (body, &[][..]),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(Bad);
    }
    let leading = int.iter().take_while(|&&b| b == b'0').count();
    if int.len() - leading + frac.len() > 18 {
        return Err(Bad);
    }
    let m = digits(frac, digits(int, 0)?)?;
    Ok(Some((if neg { -m } else { m }, frac.len())))
}

/// A decimal number as `f64`.
#[inline(always)]
pub(crate) fn decimal(f: &[u8]) -> FieldResult<f64> {
    Ok(fixed(f)?.map(|(m, scale)| match scale {
        0 => m as f64,
        _ => m as f64 / POW10.get(scale).copied().unwrap_or(1e18),
    }))
}

/// A number in `lo..=hi` truncated to an integer: plain digits take an integer fast path
/// (the usual GSV elevation, azimuth and C/N0), a fraction or sign the decimal path.
#[inline(always)]
pub(crate) fn int_in(f: &[u8], lo: i32, hi: i32) -> FieldResult<i32> {
    let v = match f {
        [] => return Ok(None),
        [a] if a.is_ascii_digit() => i32::from(a - b'0'),
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            i32::from(a - b'0') * 10 + i32::from(b - b'0')
        }
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            i32::from(a - b'0') * 100 + i32::from(b - b'0') * 10 + i32::from(c - b'0')
        }
        _ => match decimal(f)? {
            Some(v) if v >= f64::from(lo) && v <= f64::from(hi) => v as i32,
            _ => return Err(Bad),
        },
    };
    if (lo..=hi).contains(&v) {
        Ok(Some(v))
    } else {
        Err(Bad)
    }
}

/// A decimal number as `f32`.
#[inline(always)]
pub(crate) fn decimal32(f: &[u8]) -> FieldResult<f32> {
    Ok(decimal(f)?.map(|v| v as f32))
}

/// A single character field.
#[inline(always)]
pub(crate) fn char1(f: &[u8]) -> FieldResult<u8> {
    match f {
        [] => Ok(None),
        [c] => Ok(Some(*c)),
        _ => Err(Bad),
    }
}

#[inline(always)]
fn two_digits(f: &[u8], at: usize) -> Result<u8, Bad> {
    match (f.get(at), f.get(at + 1)) {
        (Some(a @ b'0'..=b'9'), Some(b @ b'0'..=b'9')) => Ok((a - b'0') * 10 + (b - b'0')),
        _ => Err(Bad),
    }
}

/// `hhmmss[.s…]` UTC time of day. Seconds may be 60 (leap second).
#[inline(always)]
pub(crate) fn time(f: &[u8]) -> FieldResult<NmeaTime> {
    if f.is_empty() {
        return Ok(None);
    }
    if f.len() < 6 {
        return Err(Bad);
    }
    let hour = two_digits(f, 0)?;
    let minute = two_digits(f, 2)?;
    let second = two_digits(f, 4)?;
    let micros = match f.get(6..) {
        None | Some([]) => 0,
        Some([b'.', frac @ ..]) => {
            let mut us: u32 = 0;
            let mut scale: u32 = 100_000;
            for &b in frac {
                if !b.is_ascii_digit() {
                    return Err(Bad);
                }
                us += u32::from(b - b'0') * scale;
                scale /= 10;
            }
            us
        }
        Some(_) => return Err(Bad),
    };
    if hour > 23 || minute > 59 || second > 60 {
        return Err(Bad);
    }
    Ok(Some(NmeaTime {
        hour,
        minute,
        second,
        micros,
    }))
}

/// `ddmmyy` date; two-digit years are taken as 2000–2099 except 80–99 (1980–1999, the
/// GPS era before 2000).
#[inline(always)]
pub(crate) fn date(f: &[u8]) -> FieldResult<NmeaDate> {
    if f.is_empty() {
        return Ok(None);
    }
    if f.len() != 6 {
        return Err(Bad);
    }
    let day = two_digits(f, 0)?;
    let month = two_digits(f, 2)?;
    let yy = two_digits(f, 4)?;
    let year = if yy >= 80 {
        1900 + u16::from(yy)
    } else {
        2000 + u16::from(yy)
    };
    NmeaDate::new(year, month, day).map(Some).ok_or(Bad)
}

/// A coordinate `(d)ddmm.mmm…` with its hemisphere field, in signed degrees.
/// Both empty: `None`. One empty or out of range: malformed.
#[inline(always)]
pub(crate) fn coordinate(value: &[u8], hemi: &[u8], max_deg: f64) -> FieldResult<f64> {
    let (pos, neg) = if max_deg > 90.0 {
        (b'E', b'W')
    } else {
        (b'N', b'S')
    };
    match (value.is_empty(), hemi) {
        (true, []) => return Ok(None),
        (true, _) | (false, []) => return Err(Bad),
        _ => {}
    }
    let sign = match hemi {
        [c] if *c == pos => 1.0,
        [c] if *c == neg => -1.0,
        _ => return Err(Bad),
    };
    // Split `(d)ddmm.mmm` in the text: whole degrees, then minutes as an integer
    // mantissa over 10^frac, so no integer division is needed.
    let (int, frac) = match value.iter().position(|&b| b == b'.') {
        Some(i) => (
            value.get(..i).unwrap_or(&[]),
            value.get(i + 1..).unwrap_or(&[]),
        ),
        None => (value, &[][..]),
    };
    let split = int.len().saturating_sub(2);
    let (deg_digits, min_digits) = int.split_at(split);
    if deg_digits.len() > 5 || frac.len() > 15 || (int.is_empty() && frac.is_empty()) {
        return Err(Bad);
    }
    let degrees = digits(deg_digits, 0)?;
    let minutes_scaled = digits(frac, digits(min_digits, 0)?)?;
    let minutes = minutes_scaled as f64 / POW10.get(frac.len()).copied().unwrap_or(1e18);
    // 60 is allowed: MTK receivers write the pole as 8960.000000 before their first fix
    // (mtk-3301.log), and gpsd accepts it.
    if minutes > 60.0 {
        return Err(Bad);
    }
    let deg = degrees as f64 + minutes / 60.0;
    if deg > max_deg {
        return Err(Bad);
    }
    Ok(Some(sign * deg))
}

/// A latitude and longitude from four fields: both coordinates or neither.
#[inline(always)]
pub(crate) fn lat_lon(lat: &[u8], ns: &[u8], lon: &[u8], ew: &[u8]) -> FieldResult<(f64, f64)> {
    match (coordinate(lat, ns, 90.0)?, coordinate(lon, ew, 180.0)?) {
        (Some(a), Some(o)) => Ok(Some((a, o))),
        (None, None) => Ok(None),
        _ => Err(Bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_fields_split_and_count() {
        let mut f = Fields::new(Some(b"a,,b"));
        assert!(f.has_more());
        assert_eq!(f.next_field(), b"a");
        assert_eq!(f.next_field(), b"");
        assert_eq!(f.next_field(), b"b");
        assert!(!f.has_more());
        assert_eq!(f.next_field(), b"");
        assert_eq!((f.index, f.present), (5, 3));
        assert!(!Fields::new(None).has_more());
    }

    #[test]
    fn test_count_commas() {
        for s in [
            &b""[..],
            b",",
            b"a,b",
            b",,,,,,,,,,,,,,,,,",
            b"GPGSA,A,3,08,07,11,,,,,1.0,2.0,\xac",
        ] {
            let want = s.iter().filter(|&&b| b == b',').count();
            assert_eq!(count_commas(s), want, "{s:?}");
        }
        let all: std::vec::Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        for i in 0..all.len() {
            let s = &all[i..];
            assert_eq!(count_commas(s), s.iter().filter(|&&b| b == b',').count());
        }
    }

    #[test]
    fn test_numbers() {
        assert_eq!(uint(b"0042"), Ok(Some(42)));
        assert_eq!(uint(b""), Ok(None));
        assert_eq!(uint(b"4a"), Err(Bad));
        assert_eq!(uint(b"1234567890"), Err(Bad));
        assert_eq!(uint_as::<u8>(b"256"), Err(Bad));
        assert_eq!(decimal(b"-0028"), Ok(Some(-28.0)));
        assert_eq!(decimal(b"1.5"), Ok(Some(1.5)));
        assert_eq!(decimal(b".5"), Ok(Some(0.5)));
        assert_eq!(decimal(b"5."), Ok(Some(5.0)));
        for bad in [
            &b"."[..],
            b"-",
            b"1.2.3",
            b"1e5",
            b"--1",
            b"1234567890123456789",
        ] {
            assert_eq!(decimal(bad), Err(Bad), "{bad:?}");
        }
        // Leading zeros do not count against the 18-digit limit.
        assert_eq!(decimal(b"000000000000000000001.5"), Ok(Some(1.5)));
    }

    #[test]
    fn test_int_in() {
        assert_eq!(int_in(b"", 0, 99), Ok(None));
        assert_eq!(int_in(b"7", 0, 99), Ok(Some(7)));
        assert_eq!(int_in(b"045", 0, 360), Ok(Some(45)));
        assert_eq!(int_in(b"45.7", 0, 99), Ok(Some(45)));
        assert_eq!(int_in(b"-05", -90, 90), Ok(Some(-5)));
        assert_eq!(int_in(b"361", 0, 360), Err(Bad));
        assert_eq!(int_in(b"99.5", 0, 99), Err(Bad));
        assert_eq!(int_in(b"1a", 0, 99), Err(Bad));
        assert_eq!(int_in(b"0001", 0, 99), Ok(Some(1)));
    }

    #[test]
    fn test_time_and_date() {
        assert_eq!(
            time(b"030129.05"),
            Ok(Some(NmeaTime {
                hour: 3,
                minute: 1,
                second: 29,
                micros: 50_000
            }))
        );
        assert_eq!(time(b"235960").map(|t| t.map(|t| t.second)), Ok(Some(60)));
        for bad in [
            &b"2400000"[..],
            b"12345",
            b"120000x",
            b"12:00:00",
            b"126000",
        ] {
            assert_eq!(time(bad), Err(Bad), "{bad:?}");
        }
        assert_eq!(date(b"010413"), Ok(NmeaDate::new(2013, 4, 1)));
        assert_eq!(date(b"311299"), Ok(NmeaDate::new(1999, 12, 31)));
        assert_eq!(date(b"300213"), Err(Bad));
        assert_eq!(date(b"0104135"), Err(Bad));
    }

    #[test]
    fn test_coordinates() {
        // Values checked against gpsd's TPV in triton400.log.chk.
        let (lat, lon) = lat_lon(b"2638.1726", b"N", b"08011.3892", b"W")
            .unwrap()
            .unwrap();
        assert!((lat - 26.636210000).abs() < 1e-9);
        assert!((lon - -80.189820000).abs() < 1e-9);
        assert_eq!(lat_lon(b"", b"", b"", b""), Ok(None));
        assert_eq!(lat_lon(b"2638.1726", b"N", b"", b""), Err(Bad));
        assert_eq!(lat_lon(b"2638.1726", b"", b"08011.3892", b"W"), Err(Bad));
        assert_eq!(lat_lon(b"2638.1726", b"E", b"08011.3892", b"W"), Err(Bad));
        assert_eq!(lat_lon(b"9100.0000", b"N", b"08011.3892", b"W"), Err(Bad));
        assert_eq!(lat_lon(b"2660.0001", b"N", b"08011.3892", b"W"), Err(Bad));
        assert_eq!(
            lat_lon(b"8960.000000", b"N", b"00000.000000", b"E"),
            Ok(Some((90.0, 0.0)))
        );
        assert_eq!(lat_lon(b"9000.0001", b"N", b"00000.0", b"E"), Err(Bad));
        assert_eq!(lat_lon(b"-2638.1726", b"N", b"08011.3892", b"W"), Err(Bad));
    }
}
