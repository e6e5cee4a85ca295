//! TeraTrack JSON e-locks: one JSON object per report, a master lock with optional slave
//! (sub-)locks, acknowledged with `{01}` when the lock asks for it (`"MessageAck":"1"`).
//!
//! Parsing uses `serde-json-core` (no heap, borrowed strings): no hand-written JSON
//! parser. Every value arrives as a string (`"LockOpen":"0"`). Both spellings of the
//! tamper flag (`SealTampered`, `SealTempered`) and of the device type (`DeviceType`,
//! `DiviceType`) occur in the field. Coordinates are already signed; `DateTime` is taken
//! as UTC. `CardNo` identifies a person and is not kept.
//!
//! # Invariants
//! No input makes [`decode`] panic; objects longer than [`MAX_FRAME`] or with more than
//! [`crate::seal::MAX_LOCKS`] − 1 slaves are refused.

use serde::Deserialize;

use crate::event::Protocol;
use crate::seal::framer::{Framing, Scan, skip_to};
use crate::seal::util::{KPH_MPS, civil_full, device_id, parse_f64, parse_u32, position, text};
use crate::seal::{Alarm, Alarms, DecodeError, Decoded, LockState, MAX_LOCKS, Reply, SealReport};
use crate::time::Timestamp;

/// Longest JSON object accepted, in bytes.
pub const MAX_FRAME: usize = 4096;
const MAX_SLAVES: usize = MAX_LOCKS - 1;

/// Stream framing: a balanced `{ … }` object (braces inside strings ignored).
#[derive(Debug, Clone, Copy)]
pub struct TeraTrackFraming;

impl Framing for TeraTrackFraming {
    fn scan(buf: &[u8]) -> Scan {
        if buf.first() != Some(&b'{') {
            return skip_to(buf, |b| b == b'{');
        }
        let (mut depth, mut in_str, mut esc) = (0usize, false, false);
        for (i, &b) in buf.iter().enumerate().take(MAX_FRAME) {
            if in_str {
                match (esc, b) {
                    (true, _) => esc = false,
                    (false, b'\\') => esc = true,
                    (false, b'"') => in_str = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Scan::Frame(i + 1);
                    }
                }
                _ => {}
            }
        }
        if buf.len() >= MAX_FRAME {
            Scan::Skip(1)
        } else {
            Scan::Incomplete
        }
    }
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
struct Master<'a> {
    MDeviceID: &'a str,
    DateTime: Option<&'a str>,
    Latitude: Option<&'a str>,
    Longitude: Option<&'a str>,
    Speed: Option<&'a str>,
    LockCutOff: Option<&'a str>,
    SealTampered: Option<&'a str>,
    SealTempered: Option<&'a str>,
    MessageAck: Option<&'a str>,
    LockRope: Option<&'a str>,
    LockStatus: Option<&'a str>,
    LockOpen: Option<&'a str>,
    PasswordError: Option<&'a str>,
    IllegalCard: Option<&'a str>,
    LowPower: Option<&'a str>,
    UnCoverBack: Option<&'a str>,
    LockStuck: Option<&'a str>,
    Power: Option<&'a str>,
    Index: Option<&'a str>,
    #[serde(borrow)]
    Slave: Option<heapless::Vec<Slave<'a>, MAX_SLAVES>>,
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
struct Slave<'a> {
    SDeviceId: Option<&'a str>,
    SPower: Option<&'a str>,
    SLockCutOff: Option<&'a str>,
    SLockOpen: Option<&'a str>,
    SUnCoverBack: Option<&'a str>,
    STimeOut: Option<&'a str>,
    SLockRope: Option<&'a str>,
    SSealTempered: Option<&'a str>,
    SSealTampered: Option<&'a str>,
    SLockStuck: Option<&'a str>,
}

fn flag(v: Option<&str>) -> bool {
    v == Some("1")
}

fn bool_of(v: Option<&str>) -> Option<bool> {
    match v {
        Some("1") => Some(true),
        Some("0") => Some(false),
        _ => None,
    }
}

/// Decodes one TeraTrack JSON report.
///
/// # Errors
/// [`DecodeError::BadField`] for JSON that does not parse or lacks `MDeviceID`, and the
/// other [`DecodeError`]s for bad values.
pub fn decode(frame: &[u8]) -> Result<Decoded, DecodeError> {
    if frame.len() > MAX_FRAME {
        return Err(DecodeError::TooLong {
            max: MAX_FRAME,
            len: frame.len(),
        });
    }
    let (m, _) = serde_json_core::from_slice::<Master<'_>>(frame)
        .map_err(|_| DecodeError::BadField("json"))?;
    let device = device_id(m.MDeviceID)?;
    let mut r = SealReport::new(Protocol::Teratrack, device.clone(), text("json", "type")?);
    r.index = m.Index.map(|i| parse_u32(i, "Index")).transpose()?;
    r.device_time = m.DateTime.map(parse_time).transpose()?.flatten();
    if let (Some(lat), Some(lon)) = (m.Latitude, m.Longitude) {
        let (lat, lon) = (parse_f64(lat, "Latitude")?, parse_f64(lon, "Longitude")?);
        // No validity field: a 0,0 position is the lock's "no fix".
        let mut p = position(lat, lon, !(lat == 0.0 && lon == 0.0))?;
        p.fix_time = r.device_time;
        if let Some(s) = m.Speed {
            p.speed_mps = Some(parse_f64(s, "Speed")? as f32 * KPH_MPS);
        }
        r.position = Some(p);
    }
    r.battery_pct = m
        .Power
        .map(|p| parse_u32(p, "Power"))
        .transpose()?
        .and_then(|p| u8::try_from(p).ok())
        .filter(|p| *p <= 100);
    let a = &mut r.alarms;
    a.set_if(flag(m.LockCutOff), Alarm::Cut);
    a.set_if(flag(m.SealTampered) || flag(m.SealTempered), Alarm::Tamper);
    a.set_if(flag(m.PasswordError), Alarm::WrongPassword);
    a.set_if(flag(m.IllegalCard), Alarm::IllegalCard);
    a.set_if(flag(m.LowPower), Alarm::LowBattery);
    a.set_if(flag(m.UnCoverBack), Alarm::CaseOpen);
    a.set_if(flag(m.LockStuck), Alarm::LockStuck);
    let mut main = LockState::new(0);
    main.locked = bool_of(m.LockOpen)
        .map(|open| !open)
        .or(bool_of(m.LockStatus));
    main.sealed = bool_of(m.LockRope);
    r.push_lock(main)?;
    for (i, s) in m.Slave.iter().flatten().enumerate() {
        let mut l = LockState::new(u8::try_from(i + 1).map_err(|_| DecodeError::TooMany)?);
        l.id = s.SDeviceId.map(|id| text(id, "SDeviceId")).transpose()?;
        l.locked = bool_of(s.SLockOpen).map(|open| !open);
        l.sealed = bool_of(s.SLockRope);
        l.battery_pct = s
            .SPower
            .and_then(|p| parse_u32(p, "SPower").ok())
            .and_then(|p| u8::try_from(p).ok())
            .filter(|p| *p <= 100);
        let mut la = Alarms::EMPTY;
        la.set_if(flag(s.SLockCutOff), Alarm::Cut);
        la.set_if(
            flag(s.SSealTempered) || flag(s.SSealTampered),
            Alarm::Tamper,
        );
        la.set_if(flag(s.SUnCoverBack), Alarm::CaseOpen);
        la.set_if(flag(s.SLockStuck), Alarm::LockStuck);
        la.set_if(flag(s.STimeOut), Alarm::LockTimeout);
        l.alarms = la;
        r.push_lock(l)?;
    }
    let reply = if flag(m.MessageAck) {
        Some(Reply::text(&["{01}"])?)
    } else {
        None
    };
    Decoded::single(device, r, reply)
}

/// `YYYY-MM-DD hh:mm:ss`.
fn parse_time(s: &str) -> Result<Option<Timestamp>, DecodeError> {
    let b = s.as_bytes();
    if b.len() != 19 || b.get(10) != Some(&b' ') {
        return Err(DecodeError::BadField("DateTime"));
    }
    let n = |r: core::ops::Range<usize>| -> Result<u32, DecodeError> {
        parse_u32(
            s.get(r).ok_or(DecodeError::BadField("DateTime"))?,
            "DateTime",
        )
    };
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    Ok(civil_full(y, mo, d, h, mi, se))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_ignores_braces_in_strings() {
        assert_eq!(TeraTrackFraming::scan(br#"{"a":"}{"}x"#), Scan::Frame(10));
        assert_eq!(TeraTrackFraming::scan(br#"{"a":{"b":1}"#), Scan::Incomplete);
        assert_eq!(TeraTrackFraming::scan(b"xx{"), Scan::Skip(2));
    }

    #[test]
    fn refuses_bad_json() {
        assert!(decode(b"{").is_err());
        assert!(decode(b"{}").is_err());
        assert!(decode(br#"{"MDeviceID":""}"#).is_err());
        assert!(decode(br#"{"MDeviceID":"1","Latitude":"91","Longitude":"0"}"#).is_err());
    }

    #[test]
    fn minimal_report() {
        let d = decode(br#"{"MDeviceID":"7","MessageAck":"0","LockOpen":"1"}"#).unwrap();
        assert!(d.reply.is_none());
        assert_eq!(d.reports[0].locks[0].locked, Some(false));
    }
}
