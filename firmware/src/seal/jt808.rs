//! JT/T 808 e-locks: `7E`-delimited, byte-stuffed, XOR-checked frames; location reports
//! with lock TLVs; Jointech's 0x5501 (live) / 0x5502 (blind-area, buffered) reports; and
//! the platform replies the terminal waits for.
//!
//! ```text
//!  7E | id:u16 | attr:u16 | [ver:u8] | terminal: 6 BCD (10 if ver) | index:u16 (u8 for 0x55xx) | body | xor | 7E
//! ```
//! `attr` bits 0–9 are the body length, bit 13 marks a sub-packaged message (total:u16,
//! seq:u16 follow the index), bit 14 a 2019 header with a version byte, and bit 15 (on
//! Jointech 0x55xx) asks for a reply. Inside the delimiters `7D 02` stands for `7E` and
//! `7D 01` for `7D`; the checksum is the XOR of every un-stuffed byte between the
//! delimiters before it.
//!
//! Padlock models redefine the 0x0200 alarm word ([`Options::padlock`]).
//!
//! Messages decoded:
//! - `0x0200` location: alarm:u32, status:u32, lat/lon:u32 (1e-6 °), altitude:i16,
//!   speed:u16 (0.1 km/h), course:u16, time BCD `YYMMDDhhmmss` (UTC+8, as the standard
//!   says), then TLVs: `0x0B` lock command / card / password / unlock result, `0x60` lock
//!   events, `0x63` lock list {6-byte id, battery mV:u16, seal (`0x31` = sealed), state,
//!   rssi}, `0xD5` lock list {count, 5-byte id, 5-byte card, battery %, status:u16 with
//!   bit 5 = unlocked}, `0xEB` extended blocks (`0x0089` alarm word, `0x00C5` motion,
//!   `0x00C6` battery alarm, `0x002D` battery voltage), and battery/charge TLVs.
//!   Acknowledged with the platform general reply `0x8001 {index, id, result 0}`.
//! - `0x5501`/`0x5502`: the jt600 location block (time in UTC), rssi, satellites,
//!   odometer, battery (`AA`/`AB` = charging), cell, product, status, alarm, then TLVs
//!   (`0x02` altitude, `0x0B` lock, `0x0C` tilt). `0x5502` positions were buffered in a
//!   blind area and are flagged [`SealReport::buffered`]. When `attr` bit 15 is set the
//!   platform answers `0x4401 {id, result 0}`.
//! - `0x0002` heartbeat, `0x0102` authentication (general reply) and `0x0100`
//!   registration (`0x8100` with the terminal id as authentication code).
//! - An ASCII `( … )` frame on the same link is a command result ([`FrameKind::Reply`]);
//!   its last field is masked, because lock commands (`ELOCK`) carry the unlock password.
//!
//! Card numbers and passwords never reach the report.
//!
//! # Invariants
//! No input makes [`decode`] panic; frames longer than [`MAX_FRAME`] are refused.

use crate::event::{Protocol, UnlockMethod};
use crate::seal::framer::{Framing, Scan, find_from, skip_to};
use crate::seal::jt600::{LocationCursor, decode_location};
use crate::seal::util::{Cursor, KPH_MPS, bcd_time, device_id, hex_text, position, text};
use crate::seal::{
    Alarm, DecodeError, Decoded, FrameKind, LockState, MAX_REPLY, Reply, SealReport, UnlockAttempt,
};
use crate::text::Text;
use crate::time::Duration;

/// Longest frame accepted on the wire (stuffed, with delimiters), in bytes.
pub const MAX_FRAME: usize = 2 * MAX_BODY + 64;
/// Longest body the header can announce.
const MAX_BODY: usize = 1023;
/// Longest un-stuffed frame.
const MAX_UNSTUFFED: usize = MAX_BODY + 32;

/// Location report.
pub const MSG_LOCATION: u16 = 0x0200;
/// Jointech live location report.
pub const MSG_LOCATION_2: u16 = 0x5501;
/// Jointech blind-area (buffered) location report.
pub const MSG_LOCATION_BLIND: u16 = 0x5502;
/// Heartbeat.
pub const MSG_HEARTBEAT: u16 = 0x0002;
/// Terminal registration.
pub const MSG_REGISTER: u16 = 0x0100;
/// Terminal authentication.
pub const MSG_AUTH: u16 = 0x0102;
/// Platform general reply.
pub const MSG_GENERAL_REPLY: u16 = 0x8001;
/// Platform general reply to Jointech 0x55xx messages.
pub const MSG_GENERAL_REPLY_2: u16 = 0x4401;
/// Registration reply.
pub const MSG_REGISTER_REPLY: u16 = 0x8100;

/// Stream framing: `7E … 7E`, or an ASCII `( … )` command result.
#[derive(Debug, Clone, Copy)]
pub struct Jt808Framing;

impl Framing for Jt808Framing {
    fn scan(buf: &[u8]) -> Scan {
        let (open, close) = match buf.first() {
            None => return Scan::Incomplete,
            Some(0x7e) => (0x7e, 0x7e),
            Some(b'(') => (b'(', b')'),
            Some(_) => return skip_to(buf, |b| b == 0x7e || b == b'('),
        };
        match find_from(buf, 1, |b| b == close) {
            // `7E 7E`: the end of a lost frame and the start of the next.
            Some(1) if open == 0x7e => Scan::Skip(1),
            Some(end) if end < MAX_FRAME => Scan::Frame(end + 1),
            Some(_) => Scan::Skip(1),
            None if buf.len() >= MAX_FRAME => Scan::Skip(1),
            None => Scan::Incomplete,
        }
    }
}

/// Un-stuffs the bytes between the delimiters of `frame` and checks the XOR.
fn unstuff(frame: &[u8], out: &mut heapless::Vec<u8, MAX_UNSTUFFED>) -> Result<(), DecodeError> {
    let inner = frame
        .strip_prefix(&[0x7e])
        .and_then(|f| f.strip_suffix(&[0x7e]))
        .ok_or(DecodeError::BadFraming)?;
    let mut it = inner.iter();
    while let Some(&b) = it.next() {
        let v = match b {
            0x7d => match it.next() {
                Some(0x02) => 0x7e,
                Some(0x01) => 0x7d,
                _ => return Err(DecodeError::BadEscape),
            },
            // A bare 7E inside a frame handed to us whole (some captures are not
            // re-stuffed) is taken as data; the checksum still guards the content.
            v => v,
        };
        out.push(v).map_err(|_| DecodeError::TooLong {
            max: MAX_UNSTUFFED,
            len: inner.len(),
        })?;
    }
    let (&found, body) = out.split_last().ok_or(DecodeError::Truncated)?;
    let calculated = body.iter().fold(0u8, |a, b| a ^ b);
    if calculated != found && !cfg!(fuzzing) {
        return Err(DecodeError::BadChecksum { calculated, found });
    }
    out.pop();
    Ok(())
}

/// How to read the 0x0200 alarm word, which some e-lock models redefine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// The terminal is a padlock (G-360P, G-508P): alarm bits 0 and 4 mean removal and
    /// bit 1 tampering, instead of the standard SOS, overspeed and fault.
    pub padlock: bool,
}

/// Decodes one frame with the standard alarm word (see [`decode_with`]).
///
/// # Errors
/// As [`decode_with`].
pub fn decode(frame: &[u8]) -> Result<Decoded, DecodeError> {
    decode_with(frame, Options::default())
}

/// Decodes one frame: `7E … 7E` binary, or an ASCII `( … )` command result.
///
/// # Errors
/// A [`DecodeError`] for malformed frames; unknown message ids decode as
/// [`FrameKind::Unsupported`].
pub fn decode_with(frame: &[u8], options: Options) -> Result<Decoded, DecodeError> {
    if frame.len() > MAX_FRAME {
        return Err(DecodeError::TooLong {
            max: MAX_FRAME,
            len: frame.len(),
        });
    }
    if frame.first() == Some(&b'(') {
        return decode_result(frame);
    }
    let mut buf = heapless::Vec::<u8, MAX_UNSTUFFED>::new();
    unstuff(frame, &mut buf)?;
    let mut c = Cursor::new(&buf);
    let id = c.u16()?;
    let attr = c.u16()?;
    let body_len = usize::from(attr & 0x03ff);
    let version = attr & 0x4000 != 0;
    if version {
        c.u8()?;
    }
    let terminal = c.take(if version { 10 } else { 6 })?;
    let short_index = id == MSG_LOCATION_2 || id == MSG_LOCATION_BLIND;
    let index = if short_index {
        u16::from(c.u8()?)
    } else {
        c.u16()?
    };
    if attr & 0x2000 != 0 {
        c.skip(4)?; // sub-package total and sequence
    }
    let body = c.rest();
    if body.len() != body_len {
        return Err(DecodeError::BadField("body length"));
    }
    let device = terminal_id(terminal)?;
    let header = Header {
        terminal,
        index,
        id,
    };
    match id {
        MSG_LOCATION => {
            let mut r = decode_location_0200(body, device.clone(), options)?;
            r.index = Some(u32::from(index));
            let reply = general_reply(&header)?;
            Decoded::single(device, r, Some(reply))
        }
        MSG_LOCATION_2 | MSG_LOCATION_BLIND => {
            let mut r = decode_location_55xx(body, device.clone(), id)?;
            r.index = Some(u32::from(index));
            let reply = if attr & 0x8000 != 0 {
                Some(general_reply_2(&header)?)
            } else {
                None
            };
            Decoded::single(device, r, reply)
        }
        MSG_HEARTBEAT | MSG_AUTH => {
            let mut d = Decoded::empty(FrameKind::Heartbeat, Some(device));
            d.reply = Some(general_reply(&header)?);
            Ok(d)
        }
        MSG_REGISTER => {
            let mut d = Decoded::empty(FrameKind::Heartbeat, Some(device.clone()));
            let mut b: heapless::Vec<u8, 48> = heapless::Vec::new();
            let _ = b.extend_from_slice(&index.to_be_bytes());
            let _ = b.push(0);
            b.extend_from_slice(device.as_bytes())
                .map_err(|_| DecodeError::TooMany)?;
            d.reply = Some(message(MSG_REGISTER_REPLY, terminal, &[0, 0], &b)?);
            Ok(d)
        }
        _ => Ok(Decoded::empty(FrameKind::Unsupported, Some(device))),
    }
}

struct Header<'a> {
    terminal: &'a [u8],
    index: u16,
    id: u16,
}

/// The terminal id: its BCD digits as text (hex if not BCD).
fn terminal_id(t: &[u8]) -> Result<crate::event::DeviceId, DecodeError> {
    hex_text(t, "terminal id")
}

/// Builds a stuffed platform message to `terminal`.
fn message(id: u16, terminal: &[u8], serial: &[u8], body: &[u8]) -> Result<Reply, DecodeError> {
    let mut raw: heapless::Vec<u8, MAX_REPLY> = heapless::Vec::new();
    let len = u16::try_from(body.len()).map_err(|_| DecodeError::TooMany)?;
    let parts: [&[u8]; 4] = [&id.to_be_bytes(), &len.to_be_bytes(), terminal, serial];
    for p in parts.iter().chain(core::iter::once(&body)) {
        raw.extend_from_slice(p).map_err(|_| DecodeError::TooMany)?;
    }
    let xor = raw.iter().fold(0u8, |a, b| a ^ b);
    raw.push(xor).map_err(|_| DecodeError::TooMany)?;
    let mut out: heapless::Vec<u8, MAX_REPLY> = heapless::Vec::new();
    let mut put = |b: u8| out.push(b).map_err(|_| DecodeError::TooMany);
    put(0x7e)?;
    for &b in &raw {
        match b {
            0x7e => {
                put(0x7d)?;
                put(0x02)?;
            }
            0x7d => {
                put(0x7d)?;
                put(0x01)?;
            }
            b => put(b)?,
        }
    }
    put(0x7e)?;
    Reply::binary(&out)
}

/// `0x8001`: {terminal's index, terminal's message id, result 0 = success}; platform serial 0.
fn general_reply(h: &Header<'_>) -> Result<Reply, DecodeError> {
    let i = h.index.to_be_bytes();
    let m = h.id.to_be_bytes();
    let body = [i[0], i[1], m[0], m[1], 0];
    message(MSG_GENERAL_REPLY, h.terminal, &[0, 0], &body)
}

/// `0x4401`: {message id, result 0}, with a one-byte serial of 1 (as the reference
/// platform sends it).
fn general_reply_2(h: &Header<'_>) -> Result<Reply, DecodeError> {
    let m = h.id.to_be_bytes();
    message(MSG_GENERAL_REPLY_2, h.terminal, &[1], &[m[0], m[1], 0])
}

fn decode_location_0200(
    body: &[u8],
    device: crate::event::DeviceId,
    options: Options,
) -> Result<SealReport, DecodeError> {
    let mut r = SealReport::new(Protocol::Jt808, device, text("0x0200", "type")?);
    let mut c = Cursor::new(body);
    let alarm = c.u32()?;
    let status = c.u32()?;
    let lat = f64::from(c.u32()?) / 1e6;
    let lon = f64::from(c.u32()?) / 1e6;
    let alt = c.u16()? as i16;
    let speed = c.u16()?;
    let course = c.u16()?;
    let t = c.take(6)?;
    // Terminal time is Beijing time (UTC+8).
    let time = bcd_time(t, false)?.map(|t| t - Duration::from_secs(8 * 3600));
    let bit = |v: u32, n: u32| v & (1 << n) != 0;
    let lat = if bit(status, 2) { -lat } else { lat };
    let lon = if bit(status, 3) { -lon } else { lon };
    let mut p = position(lat, lon, bit(status, 1))?;
    p.alt_msl_m = Some(f32::from(alt));
    p.speed_mps = Some(f32::from(speed) / 10.0 * KPH_MPS);
    p.track_deg = Some(f32::from(course));
    p.fix_time = time;
    r.device_time = time;
    r.status = Some(status);
    if bit(status, 26) {
        r.charging = Some(true);
    }
    let a = &mut r.alarms;
    if options.padlock {
        a.set_if(bit(alarm, 0) || bit(alarm, 4), Alarm::Removal);
        a.set_if(bit(alarm, 1), Alarm::Tamper);
    } else {
        a.set_if(bit(alarm, 0), Alarm::Sos);
        a.set_if(bit(alarm, 1), Alarm::Overspeed);
        a.set_if(
            bit(alarm, 4) || bit(alarm, 9) || bit(alarm, 10) || bit(alarm, 11),
            Alarm::Fault,
        );
    }
    a.set_if(bit(alarm, 5) || bit(alarm, 6), Alarm::GpsAntennaCut);
    a.set_if(bit(alarm, 7) || bit(alarm, 18), Alarm::LowBattery);
    a.set_if(bit(alarm, 8), Alarm::PowerCut);
    a.set_if(bit(alarm, 15), Alarm::Shock);
    a.set_if(bit(alarm, 16) || bit(alarm, 17), Alarm::Tamper);
    r.position = Some(p);
    while c.remaining() >= 2 {
        let tag = c.u8()?;
        let len = usize::from(c.u8()?);
        let Ok(v) = c.take(len) else {
            break; // a TLV running past the body: ignore the tail, as terminals pad
        };
        tlv_0200(&mut r, tag, v)?;
    }
    Ok(r)
}

fn tlv_0200(r: &mut SealReport, tag: u8, v: &[u8]) -> Result<(), DecodeError> {
    let mut c = Cursor::new(v);
    match tag {
        0x0b => lock_tlv(r, v)?,
        0x31 => {
            if let (Some(p), Ok(n)) = (r.position.as_mut(), c.u8()) {
                p.satellites = Some(n);
            }
        }
        0x60 => r.vendor_alarm = c.u16().ok(),
        0x63 => {
            for (i, chunk) in v.chunks_exact(11).enumerate() {
                let mut l = LockState::new(u8::try_from(i + 1).map_err(|_| DecodeError::TooMany)?);
                let mut lc = Cursor::new(chunk);
                l.id = Some(hex_text(lc.take(6)?, "lock id")?);
                l.battery_mv = Some(lc.u16()?);
                l.sealed = Some(lc.u8()? == 0x31);
                r.push_lock(l)?;
            }
        }
        0xd5 if v.len() == 2 => r.battery_mv = Some(c.u16()?.saturating_mul(10)),
        0xd5 => {
            let count = c.u8()?;
            for i in 1..=count {
                let mut l = LockState::new(i);
                l.id = Some(hex_text(c.take(5)?, "lock id")?);
                c.skip(5)?; // card number: not kept
                l.battery_pct = Some(c.u8()?).filter(|b| *b <= 100);
                l.locked = Some(c.u16()? & (1 << 5) == 0);
                r.push_lock(l)?;
            }
        }
        0xd4 | 0xe1 | 0xe9 if v.len() == 1 => match c.u8()? {
            0xff => r.charging = Some(true),
            b if b <= 100 => r.battery_pct = Some(b),
            _ => {}
        },
        0xe4 if v.len() >= 2 => {
            if c.u8()? == 0 {
                r.charging = Some(true);
            }
            r.battery_pct = Some(c.u8()?).filter(|b| *b <= 100);
        }
        0xeb => extended_eb(r, v)?,
        _ => {}
    }
    Ok(())
}

/// `0xEB`: a list of {len:u16, type:u16, data} blocks (when not a cell list or text).
fn extended_eb(r: &mut SealReport, v: &[u8]) -> Result<(), DecodeError> {
    let mut c = Cursor::new(v);
    let first = u16::from_be_bytes([
        v.first().copied().unwrap_or(0),
        v.get(1).copied().unwrap_or(0),
    ]);
    let printable = v.iter().all(|b| (0x20..0x7f).contains(b));
    if (first > 200 && v.len() >= 3 && (v.len() - 3).is_multiple_of(5)) || printable {
        return Ok(()); // cell towers or a time zone name
    }
    while c.remaining() >= 4 {
        let len = usize::from(c.u16()?);
        let Ok(block) = c.take(len) else { break };
        let mut b = Cursor::new(block);
        let kind = b.u16()?;
        match kind {
            0x0089 => {
                let a = b.u32()?;
                r.alarms.set_if(a & 1 == 0, Alarm::PowerCut);
                r.alarms.set_if(a & (1 << 12) == 0, Alarm::Removal);
            }
            0x00c5 => {
                let a = b.u32()?;
                r.alarms.set_if(a & (1 << 6) == 0, Alarm::Shock);
            }
            0x00c6 => {
                let a = b.u8()?;
                r.alarms.set_if(a == 3 || a == 4, Alarm::LowBattery);
            }
            0x002d if len == 4 => r.battery_mv = Some(b.u16()?),
            0x00a8 | 0x00e1 => r.battery_pct = Some(b.u8()?).filter(|p| *p <= 100),
            _ => {}
        }
    }
    Ok(())
}

/// `0x0B`: lock command:u8, then a card:u32 (length 5–6) or a 6-character password
/// (length ≥ 7), then, for even lengths, the unlock result.
fn lock_tlv(r: &mut SealReport, v: &[u8]) -> Result<(), DecodeError> {
    let mut c = Cursor::new(v);
    let command = c.u8()?;
    let len = v.len();
    let mut method = UnlockMethod::Remote;
    let mut card = false;
    if (5..=6).contains(&len) {
        c.skip(4)?; // card number: not kept
        method = UnlockMethod::Card;
        card = true;
    } else if len >= 7 {
        c.skip(6)?; // password: never kept
        method = UnlockMethod::Password;
    }
    let result = if len.is_multiple_of(2) {
        Some(c.u8()?)
    } else {
        None
    };
    r.unlock = Some(UnlockAttempt {
        method,
        granted: None,
        source_code: Some(command),
        result_code: result,
        wrong_attempts: None,
        card_presented: card,
    });
    Ok(())
}

fn decode_location_55xx(
    body: &[u8],
    device: crate::event::DeviceId,
    id: u16,
) -> Result<SealReport, DecodeError> {
    let name = if id == MSG_LOCATION_BLIND {
        "0x5502"
    } else {
        "0x5501"
    };
    let mut r = SealReport::new(Protocol::Jt808, device, text(name, "type")?);
    r.buffered = id == MSG_LOCATION_BLIND;
    let mut lc = LocationCursor::new(body);
    decode_location(&mut lc, &mut r)?;
    let c = lc.inner();
    c.skip(1)?; // rssi
    let sats = c.u8()?;
    c.skip(4)?; // odometer
    match c.u8()? {
        b if b <= 100 => r.battery_pct = Some(b),
        0xaa | 0xab => r.charging = Some(true),
        _ => {}
    }
    c.skip(6)?; // cell id, lac
    let product = c.u8()?;
    let status = c.u16()?;
    let alarm = c.u16()?;
    r.status = Some(u32::from(status));
    let bit = |n: u16| alarm & (1 << n) != 0;
    match product {
        1 | 2 => r.alarms.set_if(bit(0), Alarm::LowBattery),
        3 => {
            r.alarms.set_if(bit(0), Alarm::Overspeed);
            r.alarms.set_if(bit(1) || bit(3), Alarm::LowBattery);
            r.alarms.set_if(bit(2), Alarm::Shock);
            r.alarms.set_if(bit(5), Alarm::GeofenceEnter);
            r.alarms.set_if(bit(6), Alarm::GeofenceExit);
        }
        _ => {}
    }
    if let Some(p) = r.position.as_mut() {
        p.satellites = Some(sats);
    }
    while c.remaining() >= 2 {
        let tag = c.u8()?;
        let len = usize::from(c.u8()?);
        let Ok(v) = c.take(len) else { break };
        let mut t = Cursor::new(v);
        match tag {
            0x02 => {
                if let (Some(p), Ok(a)) = (r.position.as_mut(), t.u16()) {
                    p.alt_msl_m = Some(f32::from(a as i16));
                }
            }
            0x0b => lock_tlv(&mut r, v)?,
            0x0c => {
                let mut xyz = [0i16; 3];
                for axis in &mut xyz {
                    *axis = t.u16()? as i16;
                }
                r.tilt = Some(xyz);
            }
            _ => {}
        }
    }
    Ok(r)
}

/// An ASCII command result, e.g. `(740190311185,1,001,ELOCK,3,529439)`.
fn decode_result(frame: &[u8]) -> Result<Decoded, DecodeError> {
    let s = core::str::from_utf8(frame).map_err(|_| DecodeError::BadField("text"))?;
    let inner = s
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or(DecodeError::BadFraming)?;
    let id = inner.split(',').next().unwrap_or("");
    let device = device_id(id)?;
    let mut masked: heapless::String<64> = heapless::String::new();
    let keep = match inner.rfind(',') {
        Some(i) => inner.get(..=i).unwrap_or(""),
        None => inner,
    };
    for part in ["(", keep, "***)"] {
        masked
            .push_str(part)
            .map_err(|_| DecodeError::BadField("result"))?;
    }
    let mut r = SealReport::new(Protocol::Jt808, device.clone(), text("result", "type")?);
    r.result = Some(Text::new(&masked).map_err(|_| DecodeError::BadField("result"))?);
    let mut d = Decoded::empty(FrameKind::Reply, Some(device));
    d.reports.push(r).map_err(|_| DecodeError::TooMany)?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing_round_trip() {
        let reply = message(
            MSG_GENERAL_REPLY,
            &[0x7e, 0x7d, 0, 0, 0, 1],
            &[0, 0],
            &[0x7e],
        )
        .unwrap();
        let b = reply.as_bytes();
        assert_eq!(b.first(), Some(&0x7e));
        assert_eq!(b.last(), Some(&0x7e));
        assert!(!b[1..b.len() - 1].contains(&0x7e));
        let mut out = heapless::Vec::new();
        unstuff(b, &mut out).unwrap();
        assert_eq!(&out[4..7], &[0x7e, 0x7d, 0]);
    }

    /// A 0x0200 report whose alarm word has only bit 0 set: SOS on a standard terminal,
    /// removal on a padlock.
    #[test]
    fn padlock_alarm_word() {
        let mut body = [0u8; 28];
        body[3] = 0x01; // alarm bit 0
        body[22..28].copy_from_slice(&[0x25, 0x11, 0x24, 0x11, 0x51, 0x47]);
        let frame = message(
            MSG_LOCATION,
            &[0, 0x95, 0x90, 0x06, 0x89, 0x83],
            &[0, 1],
            &body,
        )
        .unwrap();
        let std = decode(frame.as_bytes()).unwrap();
        assert!(std.reports[0].alarms.contains(Alarm::Sos));
        let pad = decode_with(frame.as_bytes(), Options { padlock: true }).unwrap();
        assert!(pad.reports[0].alarms.contains(Alarm::Removal));
        assert!(!pad.reports[0].alarms.contains(Alarm::Sos));
    }

    #[test]
    fn bad_checksum_and_escape() {
        assert_eq!(
            decode(&[0x7e, 0x00, 0x02, 0x00, 0x00, 0x01, 0x7e]),
            Err(DecodeError::BadChecksum {
                calculated: 0x02,
                found: 0x01
            })
        );
        assert_eq!(
            decode(&[0x7e, 0x7d, 0x05, 0x7e]),
            Err(DecodeError::BadEscape)
        );
        assert!(decode(&[0x7e, 0x7e]).is_err());
    }
}
