//! The "eSeal" ASCII protocol: `##S,…,E##` sentences and their `<type> ACK,<index>`
//! replies.
//!
//! ```text
//!  ##S,<devtype>,<id>,<customer>,<fw>,<type>,<index>,YYYY-MM-DD,hh:mm:ss,<interval>,
//!     A|V,<lat>N|S <lon>E|W,<course>,<speed km/h>,Open|Close,<accel g>,<nfc>,<battery V>,<rssi>,E##
//! ```
//! Report types: `Startup`, `Normal`, `Button-Normal`, `Termination` and the events
//! `Event-Door`, `Event-Shock`, `Event-Drop`, `Event-Lock`, `Event-RC-Unlock`. Each is
//! acknowledged with the sentence prefix up to the type, then `<type> ACK,<index>,E##`
//! and CR LF; a `Startup` acknowledgement also carries the configuration string the
//! gateway wants the seal to use. Other sentences (`Startup OK`, `RC-NFC DEL ACK`) are the
//! seal answering our commands: they are [`FrameKind::Reply`] and get no reply.
//!
//! # Invariants
//! No input makes [`decode`] panic; a sentence longer than [`MAX_FRAME`] is refused.

use crate::event::{Protocol, UnlockMethod};
use crate::seal::framer::{Framing, Scan, skip_to};
use crate::seal::util::{
    KPH_MPS, civil_full, device_id, hemisphere, parse_f64, parse_u32, position, text, validity_av,
};
use crate::seal::{
    Alarm, DecodeError, Decoded, FrameKind, LockState, Reply, SealReport, UnlockAttempt,
};
use crate::time::Timestamp;

/// Longest sentence accepted, in bytes.
pub const MAX_FRAME: usize = 256;

/// Stream framing: from `##` to `E##` (a trailing CR LF is dropped as garbage).
#[derive(Debug, Clone, Copy)]
pub struct EsealFraming;

impl Framing for EsealFraming {
    fn scan(buf: &[u8]) -> Scan {
        if !buf.starts_with(b"##") {
            if buf.len() == 1 && buf.first() == Some(&b'#') {
                return Scan::Incomplete;
            }
            return skip_to(buf, |b| b == b'#');
        }
        match buf.windows(3).skip(2).position(|w| w == b"E##") {
            Some(i) if i + 5 <= MAX_FRAME => Scan::Frame(i + 5),
            Some(_) => Scan::Skip(2),
            None if buf.len() >= MAX_FRAME => Scan::Skip(2),
            None => Scan::Incomplete,
        }
    }
}

/// Decodes one sentence; a `Startup` is acknowledged without a configuration string.
///
/// # Errors
/// A [`DecodeError`] for malformed sentences.
pub fn decode(frame: &[u8]) -> Result<Decoded, DecodeError> {
    decode_with(frame, None)
}

/// Decodes one sentence; `startup_config` is appended to a `Startup` acknowledgement.
///
/// # Errors
/// A [`DecodeError`] for malformed sentences.
pub fn decode_with(frame: &[u8], startup_config: Option<&str>) -> Result<Decoded, DecodeError> {
    if frame.len() > MAX_FRAME {
        return Err(DecodeError::TooLong {
            max: MAX_FRAME,
            len: frame.len(),
        });
    }
    let s = core::str::from_utf8(frame).map_err(|_| DecodeError::BadField("text"))?;
    let s = s.trim_end_matches(['\r', '\n']);
    if !s.starts_with("##S,") || !s.ends_with(",E##") {
        return Err(DecodeError::BadFraming);
    }
    let mut f: heapless::Vec<&str, 24> = heapless::Vec::new();
    for part in s.split(',') {
        f.push(part)
            .map_err(|_| DecodeError::BadField("too many fields"))?;
    }
    let get = |i: usize, name: &'static str| f.get(i).copied().ok_or(DecodeError::BadField(name));
    let id = get(2, "device id")?;
    let device = device_id(id)?;
    let kind = get(5, "type")?;
    let is_report = matches!(
        kind,
        "Startup"
            | "Normal"
            | "Button-Normal"
            | "Termination"
            | "Event-Door"
            | "Event-Shock"
            | "Event-Drop"
            | "Event-Lock"
            | "Event-RC-Unlock"
    );
    if !is_report {
        // The seal answering one of our commands, or a type we do not know.
        let k = if kind.ends_with(" OK") || kind.ends_with(" ACK") {
            FrameKind::Reply
        } else {
            FrameKind::Unsupported
        };
        return Ok(Decoded::empty(k, Some(device)));
    }
    if f.len() != 20 {
        return Err(DecodeError::BadField("field count"));
    }
    let index_text = get(6, "index")?;
    let index = parse_u32(index_text, "index")?;
    let mut r = SealReport::new(Protocol::Eseal, device.clone(), text(kind, "type")?);
    r.index = Some(index);
    let time = parse_time(get(7, "date")?, get(8, "time")?)?;
    let valid = validity_av(get(10, "validity")?)?;
    let (lat, lon) = get(11, "coordinates")?
        .split_once(' ')
        .ok_or(DecodeError::BadField("coordinates"))?;
    let split = |v: &'static str, s: &str| -> Result<(f64, usize), DecodeError> {
        let n = s.len().checked_sub(1).ok_or(DecodeError::BadField(v))?;
        Ok((
            parse_f64(s.get(..n).ok_or(DecodeError::BadField(v))?, v)?,
            n,
        ))
    };
    let (la, n) = split("latitude", lat)?;
    let la = hemisphere(la, lat.get(n..).unwrap_or(""), "N", "S", "latitude")?;
    let (lo, n) = split("longitude", lon)?;
    let lo = hemisphere(lo, lon.get(n..).unwrap_or(""), "E", "W", "longitude")?;
    let mut p = position(la, lo, valid)?;
    p.fix_time = time;
    p.track_deg = Some(parse_u32(get(12, "course")?, "course")? as f32);
    p.speed_mps = Some(parse_u32(get(13, "speed")?, "speed")? as f32 * KPH_MPS);
    let mut lock = LockState::new(0);
    lock.locked = match get(14, "door")? {
        "Open" => Some(false),
        "Close" => Some(true),
        _ => None,
    };
    r.push_lock(lock)?;
    let volts = parse_f64(get(17, "battery")?, "battery")?;
    if (0.0..=60.0).contains(&volts) {
        r.battery_mv = Some((volts * 1000.0) as u16);
    }
    match kind {
        "Event-Door" => r.alarms.insert(Alarm::Door),
        "Event-Shock" => r.alarms.insert(Alarm::Shock),
        "Event-Drop" => r.alarms.insert(Alarm::Drop),
        "Event-Lock" => r.transition = Some(crate::seal::Transition::Closed),
        "Event-RC-Unlock" => {
            r.transition = Some(crate::seal::Transition::Opened);
            r.unlock = Some(UnlockAttempt {
                method: UnlockMethod::Remote,
                granted: Some(true),
                source_code: None,
                result_code: None,
                wrong_attempts: None,
                card_presented: false,
            });
        }
        _ => {}
    }
    r.device_time = time;
    r.position = Some(p);
    // Reply: everything up to the type, then `<type> ACK,<index>[,<config>],E##\r\n`.
    let prefix_len = f.iter().take(5).map(|x| x.len() + 1).sum::<usize>();
    let prefix = s.get(..prefix_len).ok_or(DecodeError::BadFraming)?;
    let reply = match (kind, startup_config) {
        ("Startup", Some(cfg)) => {
            Reply::text(&[prefix, kind, " ACK,", index_text, ",", cfg, ",E##\r\n"])?
        }
        _ => Reply::text(&[prefix, kind, " ACK,", index_text, ",E##\r\n"])?,
    };
    Decoded::single(device, r, Some(reply))
}

fn parse_time(date: &str, time: &str) -> Result<Option<Timestamp>, DecodeError> {
    let num = |s: Option<&str>, name| -> Result<u32, DecodeError> {
        parse_u32(s.ok_or(DecodeError::BadField(name))?, name)
    };
    let mut d = date.split('-');
    let (y, mo, da) = (
        num(d.next(), "date")?,
        num(d.next(), "date")?,
        num(d.next(), "date")?,
    );
    let mut t = time.split(':');
    let (h, mi, se) = (
        num(t.next(), "time")?,
        num(t.next(), "time")?,
        num(t.next(), "time")?,
    );
    Ok(civil_full(y, mo, da, h, mi, se))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NORMAL: &[u8] = b"##S,eSeal,1000821,256,3.0.6,Normal,34,2017-08-31,08:14:40,15,A,25.708828N 100.372870W,10,0,Close,0.71,0:0:3:0,3.8,-73,E##";

    #[test]
    fn normal_is_acknowledged_with_its_index() {
        let d = decode(NORMAL).unwrap();
        let reply = d.reply.unwrap();
        assert_eq!(
            reply.as_bytes(),
            b"##S,eSeal,1000821,256,3.0.6,Normal ACK,34,E##\r\n"
        );
        assert!(reply.is_text());
    }

    #[test]
    fn startup_ack_carries_config() {
        let s = b"##S,eSeal,1000821,256,3.0.6,Startup,1,2017-08-31,02:01:19,3,V,0.000000N 0.000000E,0,0,Close,3.25,0:0:5:0,3.8,-93,E##";
        let d = decode_with(s, Some("180,30,30,16,1")).unwrap();
        assert_eq!(
            d.reply.unwrap().as_bytes(),
            b"##S,eSeal,1000821,256,3.0.6,Startup ACK,1,180,30,30,16,1,E##\r\n"
        );
    }

    #[test]
    fn events_map_to_alarms() {
        let door = [&NORMAL[..28], b"Event-Door", &NORMAL[34..]].concat();
        let d = decode(&door).unwrap();
        assert_eq!(d.kind, FrameKind::Event);
        assert!(d.reports[0].alarms.contains(Alarm::Door));
        assert!(
            d.reply
                .unwrap()
                .as_bytes()
                .ends_with(b",Event-Door ACK,34,E##\r\n")
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(decode(b"##S,E##").is_err());
        assert!(decode(b"").is_err());
        assert!(decode(b"##S,a,b,c,d,Normal,1,E##").is_err());
    }
}
