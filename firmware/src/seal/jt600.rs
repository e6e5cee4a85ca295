//! Jointech "jt600" family (JT600, JT701, JT701D, JT709, GL600): binary `$` frames and
//! ASCII `( … )` frames, with the acknowledgement each message needs.
//!
//! # Binary frames
//! ```text
//!  24 | unit id: 5 bytes BCD | short: ver<<4|x, len:u16         | records… | index
//!     |                      | long:  proto:u8, ver:u8, len:u16  | records… | index
//! ```
//! The format is long when byte 8 is `00` (the high byte of a long frame's length). The
//! frame is `len + 10` bytes. Each record starts with a 17-byte location block:
//! `DDMMYY hhmmss` BCD, latitude `ddmm.mmmm` (8 BCD digits), longitude `dddmm.mmmm`
//! (9 digits) then a flags nibble (bit 0 valid, bit 1 north, bit 2 east), speed (2 BCD
//! digits, knots) and course/2. Long records add odometer:u32, satellites:u8,
//! vehicle:u32, status:u16, battery:u8 (`FF` = charging), cid:u16, lac:u16, rssi:u8; short
//! records add 10 bytes that depend on the version nibble (1: satellites, power, flags,
//! altitude, cell; 2: fuel and a 4-byte status; 3: fuel ×3, odometer, 24-bit status).
//! Status bit 5 of a long record asks for an acknowledgement: `(P35)` when the protocol
//! byte is below `0x19`, `(P69,0,<index>)` from `0x19` on.
//!
//! # ASCII frames
//! `(<id>,<type>,…)`: `U01`–`U03` positions (acknowledged `(S39)`, with an optional XOR
//! checksum that is verified), `U06` alarms (`(S20)`), `P45` JT701 lock events
//! (`(P69,0,<index>)`), `W01` (GP-series positions), `@JT` heartbeats and `WLNET`
//! peripheral frames (a binary location block and a wireless temperature sensor).
//! `U04`, `U09` and other types are reported as unsupported, with no reply.
//!
//! On the wire, ASCII frames escape bytes of their binary parts: `3D 15` → `(`,
//! `3D 14` → `)`, `3D 11` → `,`, `3D 00` → `=`. [`Jt600Framing`] undoes that; [`decode`]
//! takes un-escaped frames.
//!
//! # Invariants
//! After [`BinaryFrame::new_checked`] succeeds the header accessors cannot fail; records
//! are still parsed with bounds checks. No input makes [`decode`] panic.

use crate::event::{Protocol, UnlockMethod};
use crate::seal::framer::{Framing, Scan, copy_into, find_from, skip_to};
use crate::seal::util::{
    Cursor, KNOT_MPS, KPH_MPS, MPH_MPS, bcd, bcd_lenient, bcd_time, civil_ascii, decimal_text,
    degrees_minutes, device_id, fmt_u64, hemisphere, parse_f64, parse_u32, position, text,
    validity_av,
};
use crate::seal::{
    Alarm, DecodeError, Decoded, FrameKind, MAX_REPORTS, Reply, SealReport, UnlockAttempt,
};

/// Longest jt600 frame accepted, in bytes (the longest in the test captures is 415).
pub const MAX_FRAME: usize = 1024;

const LOCATION_LEN: usize = 17;
const LONG_RECORD_LEN: usize = LOCATION_LEN + 17;
const SHORT_RECORD_LEN: usize = LOCATION_LEN + 10;

/// Stream framing for jt600 connections (see [`crate::seal::framer`]).
#[derive(Debug, Clone, Copy)]
pub struct Jt600Framing;

impl Framing for Jt600Framing {
    fn scan(buf: &[u8]) -> Scan {
        match buf.first() {
            None => Scan::Incomplete,
            Some(b'$') => {
                let Some(len) = binary_frame_len(buf) else {
                    return Scan::Incomplete;
                };
                if len > MAX_FRAME {
                    return Scan::Skip(1);
                }
                if buf.len() >= len {
                    Scan::Frame(len)
                } else {
                    Scan::Incomplete
                }
            }
            Some(b'(') => match find_from(buf, 1, |b| b == b')') {
                Some(end) if end < MAX_FRAME => Scan::Frame(end + 1),
                Some(_) => Scan::Skip(1),
                None if buf.len() >= MAX_FRAME => Scan::Skip(1),
                None => match find_from(buf, 1, |b| b == b'(' || b == b'$') {
                    // A new start before any `)`: the first frame was cut off.
                    Some(i) if buf.get(i) == Some(&b'(') => Scan::Skip(i),
                    _ => Scan::Incomplete,
                },
            },
            Some(_) => skip_to(buf, |b| b == b'$' || b == b'('),
        }
    }

    fn extract(raw: &[u8], out: &mut [u8]) -> Result<usize, DecodeError> {
        if raw.first() != Some(&b'(') {
            return copy_into(raw, out);
        }
        let max = out.len();
        let mut n = 0;
        let mut it = raw.iter();
        while let Some(&b) = it.next() {
            let v = if b == 0x3d {
                match it.next() {
                    Some(0x15) => b'(',
                    Some(0x14) => b')',
                    Some(0x11) => b',',
                    Some(0x00) => b'=',
                    _ => return Err(DecodeError::BadEscape),
                }
            } else {
                b
            };
            let slot = out.get_mut(n).ok_or(DecodeError::TooLong {
                max,
                len: raw.len(),
            })?;
            *slot = v;
            n += 1;
        }
        Ok(n)
    }
}

/// Total length of the binary frame starting `buf`, once 10 header bytes are there.
fn binary_frame_len(buf: &[u8]) -> Option<usize> {
    let long = *buf.get(8)? == 0;
    let at = if long { 8 } else { 7 };
    let hi = *buf.get(at)?;
    let lo = *buf.get(at + 1)?;
    buf.get(9)?;
    Some(usize::from(u16::from_be_bytes([hi, lo])) + 10)
}

/// A checked view of a binary `$` frame.
#[derive(Debug, Clone)]
pub struct BinaryFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> BinaryFrame<T> {
    /// Wraps `buffer` without checks; accessors may then return errors.
    pub const fn new_unchecked(buffer: T) -> Self {
        BinaryFrame { buffer }
    }

    /// Wraps `buffer` after checking the `$` header and that the length field matches the
    /// buffer length exactly.
    ///
    /// # Errors
    /// [`DecodeError::BadFraming`], [`DecodeError::Truncated`] or [`DecodeError::TooLong`].
    pub fn new_checked(buffer: T) -> Result<Self, DecodeError> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks the header and length.
    ///
    /// # Errors
    /// As [`BinaryFrame::new_checked`].
    pub fn check_len(&self) -> Result<(), DecodeError> {
        let b = self.buffer.as_ref();
        if b.first() != Some(&b'$') {
            return Err(DecodeError::BadFraming);
        }
        if b.len() > MAX_FRAME {
            return Err(DecodeError::TooLong {
                max: MAX_FRAME,
                len: b.len(),
            });
        }
        let len = binary_frame_len(b).ok_or(DecodeError::Truncated)?;
        if len > b.len() {
            return Err(DecodeError::Truncated);
        }
        if len < b.len() {
            return Err(DecodeError::TooLong {
                max: len,
                len: b.len(),
            });
        }
        if len < self.header_len() + 1 {
            return Err(DecodeError::Truncated);
        }
        Ok(())
    }

    /// Whether this is the long format.
    pub fn is_long(&self) -> bool {
        self.buffer.as_ref().get(8) == Some(&0)
    }

    fn header_len(&self) -> usize {
        if self.is_long() { 10 } else { 9 }
    }

    /// The unit id as the device prints it: 10 BCD digits without leading zeros.
    ///
    /// # Errors
    /// [`DecodeError::BadField`] if the id is not BCD.
    pub fn unit_id(&self) -> Result<u64, DecodeError> {
        let id = self
            .buffer
            .as_ref()
            .get(1..6)
            .ok_or(DecodeError::Truncated)?;
        let hi = bcd(id, 5, "unit id")?;
        let tail = bcd_tail(id)?;
        Ok(u64::from(hi) * 100_000 + u64::from(tail))
    }

    /// Protocol byte of the long format (0 for the short format).
    pub fn protocol_version(&self) -> u8 {
        if self.is_long() {
            self.buffer.as_ref().get(6).copied().unwrap_or(0)
        } else {
            0
        }
    }

    /// The version nibble (short format: selects the record layout).
    pub fn version(&self) -> u8 {
        let at = if self.is_long() { 7 } else { 6 };
        self.buffer.as_ref().get(at).copied().unwrap_or(0) >> 4
    }

    /// The records, between the header and the index byte.
    pub fn records(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(self.header_len()..b.len().saturating_sub(1))
            .unwrap_or(&[])
    }

    /// The frame's index (last byte).
    pub fn index(&self) -> u8 {
        self.buffer.as_ref().last().copied().unwrap_or(0)
    }
}

/// Digits 6–10 of a 5-byte BCD id.
fn bcd_tail(id: &[u8]) -> Result<u32, DecodeError> {
    let b = id.get(2..5).ok_or(DecodeError::Truncated)?;
    // Skip the first nibble of byte 2 (digit 5), then read five digits.
    let mut v = 0u32;
    for i in 1..6 {
        let byte = b.get(i / 2).ok_or(DecodeError::Truncated)?;
        let n = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
        if n > 9 {
            return Err(DecodeError::BadField("unit id"));
        }
        v = v * 10 + u32::from(n);
    }
    Ok(v)
}

/// The 17-byte location block shared by binary records, WLNET frames and JT/T 808
/// message 0x5501/0x5502.
///
/// # Errors
/// [`DecodeError::Truncated`] or [`DecodeError::BadField`] for non-BCD dates or
/// coordinates.
pub fn decode_location(
    c: &mut LocationCursor<'_>,
    report: &mut SealReport,
) -> Result<(), DecodeError> {
    let b = c.0.take(LOCATION_LEN)?;
    let time = bcd_time(b.get(0..6).ok_or(DecodeError::Truncated)?, true)?;
    let lat_raw = bcd(b.get(6..10).ok_or(DecodeError::Truncated)?, 8, "latitude")?;
    let lon_bytes = b.get(10..15).ok_or(DecodeError::Truncated)?;
    let lon_raw = bcd(lon_bytes, 9, "longitude")?;
    let flags = lon_bytes.get(4).copied().unwrap_or(0) & 0x0f;
    let to_deg =
        |raw: u32| f64::from(raw / 1_000_000) + f64::from(raw % 1_000_000) / 10_000.0 / 60.0;
    let mut lat = to_deg(lat_raw);
    let mut lon = to_deg(lon_raw);
    if flags & 0x2 == 0 {
        lat = -lat;
    }
    if flags & 0x4 == 0 {
        lon = -lon;
    }
    let mut pos = position(lat, lon, flags & 0x1 != 0)?;
    pos.fix_time = time;
    pos.speed_mps = Some(bcd_lenient(b.get(15).copied().unwrap_or(0)) as f32 * KNOT_MPS);
    pos.track_deg = Some(f32::from(b.get(16).copied().unwrap_or(0)) * 2.0);
    report.device_time = time;
    report.position = Some(pos);
    Ok(())
}

/// A cursor positioned at a location block (see [`decode_location`]).
#[derive(Debug)]
pub struct LocationCursor<'a>(Cursor<'a>);

impl<'a> LocationCursor<'a> {
    /// A cursor over `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        LocationCursor(Cursor::new(buf))
    }
    pub(crate) fn inner(&mut self) -> &mut Cursor<'a> {
        &mut self.0
    }
}

/// Decodes one jt600 frame (binary, or un-escaped ASCII).
///
/// # Errors
/// A [`DecodeError`] for malformed frames; unknown but well-formed message types decode
/// as [`FrameKind::Unsupported`].
pub fn decode(frame: &[u8]) -> Result<Decoded, DecodeError> {
    match frame.first() {
        Some(b'$') => decode_binary(frame),
        Some(b'(') => decode_ascii(frame),
        _ => Err(DecodeError::BadFraming),
    }
}

fn decode_binary(frame: &[u8]) -> Result<Decoded, DecodeError> {
    let f = BinaryFrame::new_checked(frame)?;
    let device = decimal_text(f.unit_id()?, "unit id")?;
    let long = f.is_long();
    let proto = f.protocol_version();
    let version = f.version();
    if !long && !(1..=3).contains(&version) {
        return Ok(Decoded::empty(FrameKind::Unsupported, Some(device)));
    }
    let index = f.index();
    let mut reports = heapless::Vec::<SealReport, MAX_REPORTS>::new();
    let mut c = LocationCursor::new(f.records());
    let mut ack = false;
    let record_len = if long {
        LONG_RECORD_LEN
    } else {
        SHORT_RECORD_LEN
    };
    loop {
        let rem = c.0.remaining();
        if rem == 0 {
            break;
        }
        if rem < record_len {
            if long && !reports.is_empty() {
                // Extension bytes after the last record (geofence id, reserved).
                break;
            }
            return Err(DecodeError::Truncated);
        }
        let msg = text(if long { "binary-long" } else { "binary" }, "type")?;
        let mut r = SealReport::new(Protocol::Jt600, device.clone(), msg);
        r.index = Some(u32::from(index));
        decode_location(&mut c, &mut r)?;
        let cur = c.inner();
        if long {
            cur.skip(4)?; // odometer
            let sats = cur.u8()?;
            cur.skip(4)?; // vehicle id
            let status = cur.u16()?;
            let battery = cur.u8()?;
            cur.skip(5)?; // cid, lac, rssi
            if let Some(p) = r.position.as_mut() {
                p.satellites = Some(sats);
            }
            r.status = Some(u32::from(status));
            let bit = |n: u16| status & (1 << n) != 0;
            r.alarms.set_if(bit(1), Alarm::GeofenceEnter);
            r.alarms.set_if(bit(2), Alarm::GeofenceExit);
            r.alarms.set_if(bit(3), Alarm::PowerCut);
            r.alarms.set_if(bit(4), Alarm::Shock);
            r.alarms.set_if(bit(11), Alarm::LowBattery);
            r.alarms.set_if(bit(14), Alarm::Fault);
            ack |= bit(5);
            if battery == 0xff {
                r.charging = Some(true);
            } else if battery <= 100 {
                r.battery_pct = Some(battery);
            }
            if proto == 0x17 || proto == 0x19 {
                // Geofence id and reserved bytes, then whatever precedes the index.
                cur.rest();
            }
        } else {
            match version {
                1 => {
                    let sats = cur.u8()?;
                    cur.skip(2)?; // power, flags
                    let alt = cur.u16()?;
                    cur.skip(5)?; // cid, lac, rssi
                    if let Some(p) = r.position.as_mut() {
                        p.satellites = Some(sats);
                        p.alt_msl_m = Some(f32::from(alt));
                    }
                }
                2 => {
                    cur.skip(1)?; // fuel high byte
                    let s = cur.take(4)?;
                    let st = u32::from_be_bytes(s.try_into().map_err(|_| DecodeError::Truncated)?);
                    cur.skip(5)?; // odometer, fuel low byte
                    r.status = Some(st);
                    let b1 = (st >> 16) as u8;
                    r.charging = Some(b1 & 0x01 != 0);
                    r.alarms.set_if(b1 & 0x04 != 0, Alarm::Sos);
                    r.alarms.set_if(b1 & 0x08 != 0, Alarm::GpsAntennaCut);
                    r.alarms.set_if(b1 & 0x10 != 0, Alarm::Overspeed);
                }
                _ => {
                    let s = cur.take(10)?;
                    // fuel1..3 (36 bits) and odometer (20 bits) precede the 24-bit status.
                    let st = s.get(7..10).ok_or(DecodeError::Truncated)?;
                    r.status = Some(st.iter().fold(0u32, |a, &b| a << 8 | u32::from(b)));
                }
            }
        }
        reports.push(r).map_err(|_| DecodeError::TooMany)?;
    }
    let reply = if ack {
        if proto < 0x19 {
            Some(Reply::text(&["(P35)"])?)
        } else {
            let mut b = [0u8; 20];
            Some(Reply::text(&[
                "(P69,0,",
                fmt_u64(u64::from(index), &mut b),
                ")",
            ])?)
        }
    } else {
        None
    };
    Ok(Decoded::from_reports(device, reports, reply))
}

/// Splits `s` on commas into at most `N` fields.
fn fields<const N: usize>(s: &str) -> Result<heapless::Vec<&str, N>, DecodeError> {
    let mut v = heapless::Vec::new();
    for f in s.split(',') {
        v.push(f)
            .map_err(|_| DecodeError::BadField("too many fields"))?;
    }
    Ok(v)
}

fn decode_ascii(frame: &[u8]) -> Result<Decoded, DecodeError> {
    if frame.len() > MAX_FRAME {
        return Err(DecodeError::TooLong {
            max: MAX_FRAME,
            len: frame.len(),
        });
    }
    let inner = frame
        .strip_prefix(b"(")
        .and_then(|f| f.strip_suffix(b")"))
        .ok_or(DecodeError::BadFraming)?;
    // WLNET frames carry raw binary after their sixth comma; split the text part first.
    if let Some(at) = find_subslice(inner, b",WLNET,") {
        return decode_wlnet(inner, at);
    }
    let s = core::str::from_utf8(inner).map_err(|_| DecodeError::BadField("text"))?;
    let f = fields::<40>(s)?;
    let id = f.first().copied().unwrap_or("");
    let device = device_id(id)?;
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::BadField("device id"));
    }
    match f.get(1).copied() {
        Some("@JT") => Ok(Decoded::empty(FrameKind::Heartbeat, Some(device))),
        Some(t @ ("U01" | "U02" | "U03" | "U06")) => decode_u(s, &f, t, device),
        Some("P45") => decode_p45(&f, device),
        Some("W01") => decode_w01(&f, device),
        _ => Ok(Decoded::empty(FrameKind::Unsupported, Some(device))),
    }
}

fn find_subslice(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decimal degrees at field `i` with its hemisphere letter at `i + 1`.
fn signed_degrees(
    f: &[&str],
    i: usize,
    pos: &str,
    neg: &str,
    name: &'static str,
) -> Result<f64, DecodeError> {
    signed_with(f, i, pos, neg, name, parse_f64)
}

/// A coordinate at field `i`, read by `parse`, with its hemisphere letter at `i + 1`.
fn signed_with(
    f: &[&str],
    i: usize,
    pos: &str,
    neg: &str,
    name: &'static str,
    parse: fn(&str, &'static str) -> Result<f64, DecodeError>,
) -> Result<f64, DecodeError> {
    let v = parse(get(f, i, name)?, name)?;
    hemisphere(v, get(f, i + 1, name)?, pos, neg, name)
}

fn get<'a>(f: &[&'a str], i: usize, name: &'static str) -> Result<&'a str, DecodeError> {
    f.get(i).copied().ok_or(DecodeError::BadField(name))
}

/// `(id,U0x,[alarm,]date,time,T|F,lat,N|S,lon,E|W,speed,course,sats,batt%,status,cid,lac,gsm,odometer,serial[,xx]…)`
fn decode_u(
    s: &str,
    f: &[&str],
    t: &str,
    device: crate::event::DeviceId,
) -> Result<Decoded, DecodeError> {
    let o = if matches!(f.get(4).copied(), Some("T" | "F")) {
        0
    } else if matches!(f.get(5).copied(), Some("T" | "F")) {
        1
    } else {
        return Err(DecodeError::BadField("validity"));
    };
    let mut r = SealReport::new(Protocol::Jt600, device.clone(), text(t, "type")?);
    if o == 1 {
        let code = parse_u32(get(f, 2, "alarm")?, "alarm")?;
        r.vendor_alarm = Some(u16::try_from(code).map_err(|_| DecodeError::BadField("alarm"))?);
    }
    let time = civil_ascii(get(f, 2 + o, "date")?, get(f, 3 + o, "time")?, true)?;
    let valid = get(f, 4 + o, "validity")? == "T";
    let lat = signed_degrees(f, 5 + o, "N", "S", "latitude")?;
    let lon = signed_degrees(f, 7 + o, "E", "W", "longitude")?;
    let mut p = position(lat, lon, valid)?;
    p.fix_time = time;
    p.speed_mps = Some(parse_f64(get(f, 9 + o, "speed")?, "speed")? as f32 * MPH_MPS);
    p.track_deg = Some(parse_f64(get(f, 10 + o, "course")?, "course")? as f32);
    p.satellites = u8::try_from(parse_u32(get(f, 11 + o, "satellites")?, "satellites")?).ok();
    let batt = get(f, 12 + o, "battery")?
        .strip_suffix('%')
        .ok_or(DecodeError::BadField("battery"))?;
    r.battery_pct = u8::try_from(parse_u32(batt, "battery")?)
        .ok()
        .filter(|b| *b <= 100);
    let status = get(f, 13 + o, "status")?;
    if status.is_empty() || status.len() > 32 || !status.bytes().all(|b| b == b'0' || b == b'1') {
        return Err(DecodeError::BadField("status"));
    }
    r.status = u32::from_str_radix(status, 2).ok();
    r.index = Some(parse_u32(get(f, 18 + o, "serial")?, "serial")?);
    // U01–U03 may end with a two-hex-digit XOR of everything between `(` and it.
    if let (0, Some(ck), 20) = (o, f.get(19), f.len())
        && ck.len() == 2
    {
        let found = u8::from_str_radix(ck, 16).map_err(|_| DecodeError::BadField("checksum"))?;
        let body = s.get(..s.len() - 2).ok_or(DecodeError::Truncated)?;
        let calculated = body.bytes().fold(0u8, |a, b| a ^ b);
        if calculated != found {
            return Err(DecodeError::BadChecksum { calculated, found });
        }
    }
    r.device_time = time;
    r.position = Some(p);
    let ack = if t == "U06" { "(S20)" } else { "(S39)" };
    Decoded::single(device, r, Some(Reply::text(&[ack])?))
}

/// `(id,P45,ddmmyy,hhmmss,lat,N|S,lon,E|W,A|V,speed,course,event source,unlock check,rfid,password check,wrong count,index,…)`
fn decode_p45(f: &[&str], device: crate::event::DeviceId) -> Result<Decoded, DecodeError> {
    let mut r = SealReport::new(Protocol::Jt600, device.clone(), text("P45", "type")?);
    let time = civil_ascii(get(f, 2, "date")?, get(f, 3, "time")?, true)?;
    let lat = signed_degrees(f, 4, "N", "S", "latitude")?;
    let lon = signed_degrees(f, 6, "E", "W", "longitude")?;
    let valid = validity_av(get(f, 8, "validity")?)?;
    let mut p = position(lat, lon, valid)?;
    p.fix_time = time;
    p.speed_mps = Some(parse_u32(get(f, 9, "speed")?, "speed")? as f32 * MPH_MPS);
    p.track_deg = Some(parse_u32(get(f, 10, "course")?, "course")? as f32);
    let source = parse_u32(get(f, 11, "event source")?, "event source")?;
    let check = parse_u32(get(f, 12, "unlock check")?, "unlock check")?;
    let rfid = get(f, 13, "rfid")?;
    if !rfid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::BadField("rfid"));
    }
    parse_u32(get(f, 14, "password check")?, "password check")?;
    let wrong = parse_u32(get(f, 15, "wrong passwords")?, "wrong passwords")?;
    let index = parse_u32(get(f, 16, "index")?, "index")?;
    let card = !rfid.bytes().all(|b| b == b'0');
    // The card number identifies a person: keep only that one was presented.
    r.unlock = Some(UnlockAttempt {
        method: if card {
            UnlockMethod::Card
        } else {
            UnlockMethod::Unknown
        },
        granted: None,
        source_code: u8::try_from(source).ok(),
        result_code: u8::try_from(check).ok(),
        wrong_attempts: u16::try_from(wrong).ok(),
        card_presented: card,
    });
    r.alarms.set_if(wrong > 0, Alarm::WrongPassword);
    r.index = Some(index);
    r.device_time = time;
    r.position = Some(p);
    let mut b = [0u8; 20];
    let reply = Reply::text(&["(P69,0,", fmt_u64(u64::from(index), &mut b), ")"])?;
    Decoded::single(device, r, Some(reply))
}

/// `(id,W01,dddmm.mmmm,E|W,ddmm.mmmm,N|S,A|V,ddmmyy,hhmmss,speed km/h,course,power,gps,gsm,alert,…)`
fn decode_w01(f: &[&str], device: crate::event::DeviceId) -> Result<Decoded, DecodeError> {
    let mut r = SealReport::new(Protocol::Jt600, device.clone(), text("W01", "type")?);
    let lon = signed_with(f, 2, "E", "W", "longitude", degrees_minutes)?;
    let lat = signed_with(f, 4, "N", "S", "latitude", degrees_minutes)?;
    let valid = validity_av(get(f, 6, "validity")?)?;
    let time = civil_ascii(get(f, 7, "date")?, get(f, 8, "time")?, true)?;
    let mut p = position(lat, lon, valid)?;
    p.fix_time = time;
    p.speed_mps = Some(parse_u32(get(f, 9, "speed")?, "speed")? as f32 * KPH_MPS);
    p.track_deg = Some(parse_u32(get(f, 10, "course")?, "course")? as f32);
    let alert = parse_u32(get(f, 14, "alert")?, "alert")?;
    r.vendor_alarm = u16::try_from(alert).ok().filter(|a| *a != 0);
    r.device_time = time;
    r.position = Some(p);
    Decoded::single(device, r, None)
}

/// `(id,x,y,WLNET,5,2,<binary>)`: a location block, the sensor's reading time (6 BCD
/// bytes), its 5-byte id, then flags:u8, battery mV:u16, battery %:u8, rssi:u8, type:u8,
/// temperature:i16 (0.1 °C), humidity:u8 and 3 reserved bytes.
fn decode_wlnet(inner: &[u8], at: usize) -> Result<Decoded, DecodeError> {
    let head = inner.get(..at).ok_or(DecodeError::Truncated)?;
    let head = core::str::from_utf8(head).map_err(|_| DecodeError::BadField("text"))?;
    let id = head.split(',').next().unwrap_or("");
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::BadField("device id"));
    }
    let device = device_id(id)?;
    // After ",WLNET," come two small text fields and the binary payload.
    let rest = inner.get(at + 7..).ok_or(DecodeError::Truncated)?;
    let mut commas = rest
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b',')
        .map(|(i, _)| i);
    let _ = commas.next().ok_or(DecodeError::Truncated)?;
    let second = commas.next().ok_or(DecodeError::Truncated)?;
    let payload = rest.get(second + 1..).ok_or(DecodeError::Truncated)?;
    let mut r = SealReport::new(Protocol::Jt600, device.clone(), text("WLNET", "type")?);
    let mut c = LocationCursor::new(payload);
    decode_location(&mut c, &mut r)?;
    let cur = c.inner();
    cur.skip(6 + 5 + 6)?; // reading time, sensor id, flags..type
    let t = cur.u16()? as i16;
    r.temperature_c = Some(f32::from(t) / 10.0);
    Decoded::single(device, r, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_undone() {
        let mut out = [0u8; 16];
        let n = Jt600Framing::extract(b"(1,=\x15=\x14=\x11=\x00)", &mut out);
        assert_eq!(n, Ok(8));
        assert_eq!(out.get(..8), Some(&b"(1,(),=)"[..]));
        assert_eq!(
            Jt600Framing::extract(b"(=\x42)", &mut out),
            Err(DecodeError::BadEscape)
        );
    }

    #[test]
    fn short_frames_do_not_panic() {
        for n in 0..40 {
            let mut f = [0u8; 40];
            f[0] = b'$';
            assert!(decode(&f[..n]).is_err() || n >= 10);
        }
        assert!(decode(b"(").is_err());
        assert!(decode(b"()").is_err());
    }
}
