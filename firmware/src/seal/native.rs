//! The ECTS Edge native seal-reader protocol: length-delimited, CRC-checked frames whose
//! reports carry a per-seal monotonic counter and a MAC under a per-seal key.
//!
//! ISO 18185 seal radio traffic is clear text and unauthenticated, so the gateway does not
//! trust a seal report it cannot verify. The seal-reader firmware (which shares this
//! crate) signs each report with the seal's key; the gateway checks the CRC (line noise),
//! then the MAC (forgery), then the counter (replay). The byte-by-byte layout is in
//! `docs/protocol.md`; in short:
//!
//! ```text
//!  offset  size  field
//!  0       2     sync EC 75
//!  2       1     version (1)
//!  3       1     type: 01 seal report (reader → gateway), 81 acknowledgement (gateway → reader)
//!  4       2     payload length L, big-endian (report: 20, ack: 12)
//!  6       L     payload
//!  6+L     16    MAC: HMAC-SHA256(seal key, bytes 2 .. 6+L), first 16 bytes
//!  22+L    2     CRC-16/CCITT-FALSE (IBM-3740) of bytes 2 .. 22+L, big-endian
//!
//!  report payload: seal id u64 (manufacturer u16 ‖ serial u48) | counter u32 |
//!                  time u32 (Unix seconds, UTC) | event u8 | status u8 | battery mV u16
//!  ack payload:    seal id u64 | counter u32
//! ```
//!
//! # Invariants
//! - [`Verifier::verify`] accepts a report only if its CRC and MAC verify and its counter
//!   is above the last accepted one for that seal; only then does the counter advance.
//!   The MAC comparison is constant-time.
//! - Rejections are typed ([`NativeError`]); the forged, replayed and unknown-key cases
//!   become a `seal.spoofed` report through [`NativeError::spoof_report`].
//! - No input panics; no heap; at most `N` provisioned seals.
//!
//! ```
//! use ects_firmware::seal::native::{Event, ReportRepr, SealKey, Verifier, NativeError};
//! let key = SealKey([7; 32]);
//! let report = ReportRepr { seal: 0x0042_0000_0000_1234, counter: 1, time: 1_764_345_600,
//!                           event: Event::Opened, status: 0, battery_mv: 3600 };
//! let mut frame = [0u8; 64];
//! let n = report.emit(&key, &mut frame).unwrap();
//! let mut gw: Verifier<4> = Verifier::new();
//! gw.add_seal(report.seal, key).unwrap();
//! assert!(gw.verify(&frame[..n]).is_ok());
//! // The same frame again is a replay.
//! assert!(matches!(gw.verify(&frame[..n]), Err(NativeError::Replayed { counter: 1, last: 1, .. })));
//! ```

use core::fmt;

use crc::{CRC_16_IBM_3740, Crc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::event::{DeviceId, Protocol, SpoofReason};
use crate::seal::framer::{Framing, Scan, skip_to};
use crate::seal::util::text;
use crate::seal::{
    Alarm, Decoded, FrameKind, LockState, MAX_REPORTS, Reply, SealReport, Transition,
};
use crate::time::Timestamp;

/// First two bytes of every frame.
pub const SYNC: [u8; 2] = [0xec, 0x75];
/// Protocol version this module speaks.
pub const VERSION: u8 = 1;
/// Frame type: seal report, reader → gateway.
pub const TYPE_REPORT: u8 = 0x01;
/// Frame type: acknowledgement, gateway → reader.
pub const TYPE_ACK: u8 = 0x81;
/// Bytes of MAC carried (HMAC-SHA256 truncated).
pub const MAC_LEN: usize = 16;
/// Payload length of a version-1 report.
pub const REPORT_LEN: usize = 20;
/// Payload length of an acknowledgement.
pub const ACK_LEN: usize = 12;
/// Largest payload a frame may announce.
pub const MAX_PAYLOAD: usize = 64;
/// Bytes around the payload: sync, version, type, length, MAC, CRC.
pub const OVERHEAD: usize = 6 + MAC_LEN + 2;
/// Largest frame.
pub const MAX_FRAME: usize = MAX_PAYLOAD + OVERHEAD;

const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);
type HmacSha256 = Hmac<Sha256>;

/// A seal's 256-bit MAC key. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey(pub [u8; 32]);

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(..)")
    }
}

/// Why a native frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NativeError {
    /// Fewer bytes than the header announces (or than a header).
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes received.
        got: usize,
    },
    /// More bytes than the header announces, or a payload above [`MAX_PAYLOAD`].
    TooLong {
        /// Largest length accepted here.
        max: usize,
        /// Length received.
        len: usize,
    },
    /// Wrong sync bytes, version, type or payload length for the type.
    BadFraming,
    /// The CRC does not match: line noise, not an attack. The frame is dropped.
    BadCrc {
        /// CRC computed over the frame.
        calculated: u16,
        /// CRC the frame carries.
        found: u16,
    },
    /// No key is provisioned for this seal.
    UnknownKey {
        /// The seal id the frame claims.
        seal: u64,
    },
    /// The MAC does not verify under the seal's key: forged or altered.
    BadMac {
        /// The seal id the frame claims.
        seal: u64,
    },
    /// The counter is not above the last accepted one: a replay.
    Replayed {
        /// The seal id.
        seal: u64,
        /// Counter in the frame.
        counter: u32,
        /// Last counter accepted from this seal.
        last: u32,
    },
    /// The verifier already holds its maximum number of seals.
    TooManySeals,
    /// A field value the protocol does not define.
    BadField(&'static str),
}

impl fmt::Display for NativeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NativeError::Truncated { needed, got } => {
                write!(f, "truncated frame: {got} bytes, {needed} needed")
            }
            NativeError::TooLong { max, len } => write!(f, "frame too long: {len} > {max} bytes"),
            NativeError::BadFraming => f.write_str("bad sync, version, type or length"),
            NativeError::BadCrc { calculated, found } => {
                write!(
                    f,
                    "CRC mismatch: calculated {calculated:#06x}, frame has {found:#06x}"
                )
            }
            NativeError::UnknownKey { seal } => write!(f, "no key for seal {}", SealName(*seal)),
            NativeError::BadMac { seal } => {
                write!(
                    f,
                    "MAC does not verify for seal {}: forged or altered",
                    SealName(*seal)
                )
            }
            NativeError::Replayed {
                seal,
                counter,
                last,
            } => write!(
                f,
                "replayed report from seal {}: counter {counter} not above {last}",
                SealName(*seal)
            ),
            NativeError::TooManySeals => f.write_str("no room for another seal key"),
            NativeError::BadField(name) => write!(f, "field `{name}` has an undefined value"),
        }
    }
}

impl core::error::Error for NativeError {}

impl NativeError {
    /// The spoofing verdict, for the rejections that mean "do not trust this seal report".
    pub fn spoof_reason(&self) -> Option<SpoofReason> {
        match self {
            NativeError::BadMac { .. } => Some(SpoofReason::BadMac),
            NativeError::Replayed { .. } => Some(SpoofReason::Replayed),
            NativeError::UnknownKey { .. } => Some(SpoofReason::UnknownKey),
            _ => None,
        }
    }

    /// A report carrying the `seal.spoofed` verdict for forged, replayed and unknown-key
    /// frames; `None` for noise and framing errors (those are dropped silently).
    pub fn spoof_report(&self) -> Option<SealReport> {
        let reason = self.spoof_reason()?;
        let (seal, counter) = match *self {
            NativeError::BadMac { seal } | NativeError::UnknownKey { seal } => (seal, None),
            NativeError::Replayed { seal, counter, .. } => (seal, Some(counter)),
            _ => return None,
        };
        let mut r = SealReport::new(
            Protocol::Native,
            seal_device_id(seal).ok()?,
            text("spoofed", "type").ok()?,
        );
        r.spoofed = Some(reason);
        r.index = counter;
        Some(r)
    }
}

/// Prints a seal id as `<manufacturer hex>-<serial hex>`.
#[derive(Debug, Clone, Copy)]
pub struct SealName(pub u64);

impl fmt::Display for SealName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}-{:012x}", self.0 >> 48, self.0 & 0xffff_ffff_ffff)
    }
}

fn seal_device_id(seal: u64) -> Result<DeviceId, NativeError> {
    let mut s: heapless::String<17> = heapless::String::new();
    fmt::write(&mut s, format_args!("{}", SealName(seal)))
        .map_err(|_| NativeError::BadField("seal id"))?;
    text(&s, "seal id").map_err(|_| NativeError::BadField("seal id"))
}

/// What happened at the seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Periodic status, nothing happened.
    Status = 0,
    /// The seal was closed and armed.
    Sealed = 1,
    /// The seal was opened.
    Opened = 2,
    /// Tampering: cable cut or case opened (see the status bits).
    Tamper = 3,
    /// The battery crossed the low threshold.
    LowBattery = 4,
}

impl Event {
    fn from_u8(v: u8) -> Result<Self, NativeError> {
        Ok(match v {
            0 => Event::Status,
            1 => Event::Sealed,
            2 => Event::Opened,
            3 => Event::Tamper,
            4 => Event::LowBattery,
            _ => return Err(NativeError::BadField("event")),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Event::Status => "status",
            Event::Sealed => "sealed",
            Event::Opened => "opened",
            Event::Tamper => "tamper",
            Event::LowBattery => "low_battery",
        }
    }
}

/// Status bit: the seal is closed (armed).
pub const STATUS_SEALED: u8 = 1 << 0;
/// Status bit: the cable or shackle is cut.
pub const STATUS_CUT: u8 = 1 << 1;
/// Status bit: the case is open.
pub const STATUS_CASE_OPEN: u8 = 1 << 2;
/// Status bit: battery low.
pub const STATUS_LOW_BATTERY: u8 = 1 << 3;
const STATUS_KNOWN: u8 = 0x0f;

/// A validated seal report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRepr {
    /// Seal id: manufacturer (16 bits) ‖ serial (48 bits), as in ISO 18185-2.
    pub seal: u64,
    /// Per-seal counter, strictly increasing.
    pub counter: u32,
    /// Seal clock, Unix seconds UTC.
    pub time: u32,
    /// What happened.
    pub event: Event,
    /// `STATUS_*` bits.
    pub status: u8,
    /// Battery in millivolts.
    pub battery_mv: u16,
}

impl ReportRepr {
    /// Bytes of the frame [`ReportRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        REPORT_LEN + OVERHEAD
    }

    fn payload(&self) -> [u8; REPORT_LEN] {
        let mut p = [0u8; REPORT_LEN];
        let parts: [&[u8]; 6] = [
            &self.seal.to_be_bytes(),
            &self.counter.to_be_bytes(),
            &self.time.to_be_bytes(),
            &[self.event as u8],
            &[self.status],
            &self.battery_mv.to_be_bytes(),
        ];
        let mut at = 0;
        for part in parts {
            if let Some(dst) = p.get_mut(at..at + part.len()) {
                dst.copy_from_slice(part);
            }
            at += part.len();
        }
        p
    }

    fn parse(p: &[u8]) -> Result<Self, NativeError> {
        let arr: &[u8; REPORT_LEN] = p.try_into().map_err(|_| NativeError::BadFraming)?;
        let [
            s0,
            s1,
            s2,
            s3,
            s4,
            s5,
            s6,
            s7,
            c0,
            c1,
            c2,
            c3,
            t0,
            t1,
            t2,
            t3,
            ev,
            st,
            b0,
            b1,
        ] = *arr;
        if st & !STATUS_KNOWN != 0 {
            return Err(NativeError::BadField("status"));
        }
        Ok(ReportRepr {
            seal: u64::from_be_bytes([s0, s1, s2, s3, s4, s5, s6, s7]),
            counter: u32::from_be_bytes([c0, c1, c2, c3]),
            time: u32::from_be_bytes([t0, t1, t2, t3]),
            event: Event::from_u8(ev)?,
            status: st,
            battery_mv: u16::from_be_bytes([b0, b1]),
        })
    }

    /// Writes the signed frame into `buf` and returns its length (seal-reader side, and
    /// tests).
    ///
    /// # Errors
    /// [`NativeError::TooLong`] if `buf` is shorter than [`ReportRepr::buffer_len`].
    pub fn emit(&self, key: &SealKey, buf: &mut [u8]) -> Result<usize, NativeError> {
        emit_frame(TYPE_REPORT, &self.payload(), key, buf)
    }
}

/// Writes a frame of `kind` around `payload`, signed with `key`.
fn emit_frame(
    kind: u8,
    payload: &[u8],
    key: &SealKey,
    buf: &mut [u8],
) -> Result<usize, NativeError> {
    let total = payload.len() + OVERHEAD;
    let max = buf.len();
    let out = buf
        .get_mut(..total)
        .ok_or(NativeError::TooLong { max, len: total })?;
    let len = u16::try_from(payload.len()).map_err(|_| NativeError::TooLong {
        max: MAX_PAYLOAD,
        len: payload.len(),
    })?;
    let (head, rest) = out.split_at_mut(6);
    head.copy_from_slice(&[
        SYNC[0],
        SYNC[1],
        VERSION,
        kind,
        len.to_be_bytes()[0],
        len.to_be_bytes()[1],
    ]);
    let (pl, rest) = rest.split_at_mut(payload.len());
    pl.copy_from_slice(payload);
    let (mac_out, crc_out) = rest.split_at_mut(MAC_LEN);
    let mut mac = HmacSha256::new_from_slice(&key.0).map_err(|_| NativeError::BadField("key"))?;
    mac.update(head.get(2..).unwrap_or(&[]));
    mac.update(pl);
    let tag = mac.finalize().into_bytes();
    mac_out.copy_from_slice(tag.get(..MAC_LEN).ok_or(NativeError::BadField("mac"))?);
    let mut digest = CRC16.digest();
    digest.update(head.get(2..).unwrap_or(&[]));
    digest.update(pl);
    digest.update(mac_out);
    crc_out.copy_from_slice(&digest.finalize().to_be_bytes());
    Ok(total)
}

/// A checked view of a native frame.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps `buffer` without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    /// Wraps `buffer` after checking sync, version, length and CRC. After this succeeds
    /// no accessor can fail.
    ///
    /// # Errors
    /// [`NativeError::Truncated`], [`NativeError::TooLong`], [`NativeError::BadFraming`]
    /// or [`NativeError::BadCrc`].
    pub fn new_checked(buffer: T) -> Result<Self, NativeError> {
        let f = Self::new_unchecked(buffer);
        f.check()?;
        Ok(f)
    }

    fn check(&self) -> Result<(), NativeError> {
        let b = self.buffer.as_ref();
        let got = b.len();
        let header = b
            .get(..6)
            .ok_or(NativeError::Truncated { needed: 6, got })?;
        if header.get(..2) != Some(&SYNC[..]) || header.get(2) != Some(&VERSION) {
            return Err(NativeError::BadFraming);
        }
        let len = self.payload_len();
        if len > MAX_PAYLOAD {
            return Err(NativeError::TooLong {
                max: MAX_PAYLOAD,
                len,
            });
        }
        let needed = len + OVERHEAD;
        if got < needed {
            return Err(NativeError::Truncated { needed, got });
        }
        if got > needed {
            return Err(NativeError::TooLong {
                max: needed,
                len: got,
            });
        }
        let calculated = CRC16.checksum(b.get(2..needed - 2).unwrap_or(&[]));
        let found = u16::from_be_bytes([
            b.get(needed - 2).copied().unwrap_or(0),
            b.get(needed - 1).copied().unwrap_or(0),
        ]);
        if calculated != found && !cfg!(fuzzing) {
            return Err(NativeError::BadCrc { calculated, found });
        }
        Ok(())
    }

    /// Frame type byte.
    pub fn kind(&self) -> u8 {
        self.buffer.as_ref().get(3).copied().unwrap_or(0)
    }

    /// Payload length field.
    pub fn payload_len(&self) -> usize {
        let b = self.buffer.as_ref();
        usize::from(u16::from_be_bytes([
            b.get(4).copied().unwrap_or(0),
            b.get(5).copied().unwrap_or(0),
        ]))
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(6..6 + self.payload_len())
            .unwrap_or(&[])
    }

    /// The bytes the MAC covers (version through payload).
    pub fn signed(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(2..6 + self.payload_len())
            .unwrap_or(&[])
    }

    /// The MAC.
    pub fn mac(&self) -> &[u8] {
        let at = 6 + self.payload_len();
        self.buffer.as_ref().get(at..at + MAC_LEN).unwrap_or(&[])
    }
}

/// Stream framing: sync, then the length field decides the frame size; a bad length
/// resynchronises on the next sync byte.
#[derive(Debug, Clone, Copy)]
pub struct NativeFraming;

impl Framing for NativeFraming {
    fn scan(buf: &[u8]) -> Scan {
        match (buf.first(), buf.get(1)) {
            (None, _) | (Some(0xec), None) => return Scan::Incomplete,
            (Some(0xec), Some(0x75)) => {}
            _ => return skip_to(buf, |b| b == 0xec),
        }
        let (Some(&hi), Some(&lo)) = (buf.get(4), buf.get(5)) else {
            return Scan::Incomplete;
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len > MAX_PAYLOAD {
            return Scan::Skip(1);
        }
        let total = len + OVERHEAD;
        if buf.len() >= total {
            Scan::Frame(total)
        } else {
            Scan::Incomplete
        }
    }
}

#[derive(Debug, Clone)]
struct SealEntry {
    seal: u64,
    key: SealKey,
    last: Option<u32>,
}

/// The gateway side: provisioned seal keys and the last counter accepted from each.
#[derive(Debug, Clone, Default)]
pub struct Verifier<const N: usize> {
    seals: heapless::Vec<SealEntry, N>,
}

impl<const N: usize> Verifier<N> {
    /// No seals provisioned.
    pub const fn new() -> Self {
        Verifier {
            seals: heapless::Vec::new(),
        }
    }

    /// Provisions (or re-keys) `seal`. Re-keying keeps the last counter.
    ///
    /// # Errors
    /// [`NativeError::TooManySeals`] past `N` seals.
    pub fn add_seal(&mut self, seal: u64, key: SealKey) -> Result<(), NativeError> {
        if let Some(e) = self.seals.iter_mut().find(|e| e.seal == seal) {
            e.key = key;
            return Ok(());
        }
        self.seals
            .push(SealEntry {
                seal,
                key,
                last: None,
            })
            .map_err(|_| NativeError::TooManySeals)
    }

    /// The last counter accepted from `seal` (for the journal to persist).
    pub fn last_counter(&self, seal: u64) -> Option<u32> {
        self.seals
            .iter()
            .find(|e| e.seal == seal)
            .and_then(|e| e.last)
    }

    /// Restores the last accepted counter of a provisioned seal after a restart.
    ///
    /// # Errors
    /// [`NativeError::UnknownKey`] if the seal is not provisioned.
    pub fn set_last_counter(&mut self, seal: u64, counter: u32) -> Result<(), NativeError> {
        let e = self
            .seals
            .iter_mut()
            .find(|e| e.seal == seal)
            .ok_or(NativeError::UnknownKey { seal })?;
        e.last = Some(counter);
        Ok(())
    }

    /// Verifies a report frame and, if it is authentic and fresh, decodes it and builds
    /// the signed acknowledgement.
    ///
    /// # Errors
    /// A [`NativeError`]: framing and CRC errors (drop the frame), or `UnknownKey`,
    /// `BadMac`, `Replayed` (report [`NativeError::spoof_report`] as `seal.spoofed`).
    pub fn verify(&mut self, frame: &[u8]) -> Result<Decoded, NativeError> {
        match self.check(frame)? {
            Verified::Fresh(d) => Ok(d),
            Verified::Resend { seal, counter, .. } => Err(NativeError::Replayed {
                seal,
                counter,
                last: counter,
            }),
        }
    }

    /// As [`Verifier::verify`], but an authentic report whose counter is the last one
    /// accepted is told apart: it is the reader sending again a report whose
    /// acknowledgement it did not get (lost on the way, or withheld by the gateway), and it
    /// gets the acknowledgement again. Replaying the seal's latest report gains an
    /// attacker nothing: no new event comes of it.
    ///
    /// # Errors
    /// As [`Verifier::verify`]; `Replayed` only for counters below the last one.
    pub fn check(&mut self, frame: &[u8]) -> Result<Verified, NativeError> {
        let f = Frame::new_checked(frame)?;
        if f.kind() != TYPE_REPORT || f.payload_len() != REPORT_LEN {
            return Err(NativeError::BadFraming);
        }
        let payload = f.payload();
        let seal = u64::from_be_bytes(
            payload
                .get(..8)
                .and_then(|s| s.try_into().ok())
                .ok_or(NativeError::BadFraming)?,
        );
        let entry = self
            .seals
            .iter_mut()
            .find(|e| e.seal == seal)
            .ok_or(NativeError::UnknownKey { seal })?;
        let mut mac =
            HmacSha256::new_from_slice(&entry.key.0).map_err(|_| NativeError::BadField("key"))?;
        mac.update(f.signed());
        mac.verify_truncated_left(f.mac())
            .map_err(|_| NativeError::BadMac { seal })?;
        // Authentic from here on: the fields can be trusted as the seal's.
        let repr = ReportRepr::parse(payload)?;
        let resend = entry.last == Some(repr.counter);
        if let Some(last) = entry.last
            && repr.counter < last
        {
            return Err(NativeError::Replayed {
                seal,
                counter: repr.counter,
                last,
            });
        }
        let mut ack = [0u8; ACK_LEN + OVERHEAD];
        let mut ack_payload = [0u8; ACK_LEN];
        let (a, b) = ack_payload.split_at_mut(8);
        a.copy_from_slice(&seal.to_be_bytes());
        b.copy_from_slice(&repr.counter.to_be_bytes());
        let n = emit_frame(TYPE_ACK, &ack_payload, &entry.key, &mut ack)?;
        let reply = Reply::binary(ack.get(..n).unwrap_or(&[]))
            .map_err(|_| NativeError::BadField("reply"))?;
        let decoded = report(&repr, reply)?;
        if resend {
            return Ok(Verified::Resend {
                decoded,
                seal,
                counter: repr.counter,
            });
        }
        // Only a fully accepted report advances the counter.
        entry.last = Some(repr.counter);
        Ok(Verified::Fresh(decoded))
    }
}

/// An authentic report, as [`Verifier::check`] found it.
#[derive(Debug)]
pub enum Verified {
    /// A new report: its counter is above the last one accepted (now advanced to it).
    Fresh(Decoded),
    /// The last accepted report again: acknowledge it again, report nothing new.
    Resend {
        /// The report and its acknowledgement.
        decoded: Decoded,
        /// The seal.
        seal: u64,
        /// Its counter (the last accepted).
        counter: u32,
    },
}

fn report(repr: &ReportRepr, reply: Reply) -> Result<Decoded, NativeError> {
    let device = seal_device_id(repr.seal)?;
    let bad = |_| NativeError::BadField("report");
    let mut r = SealReport::new(
        Protocol::Native,
        device.clone(),
        text(repr.event.name(), "type").map_err(bad)?,
    );
    r.index = Some(repr.counter);
    r.device_time = Some(Timestamp::from_unix_seconds(i64::from(repr.time)));
    r.battery_mv = Some(repr.battery_mv);
    let mut lock = LockState::new(0);
    lock.sealed = Some(repr.status & STATUS_SEALED != 0);
    lock.id = Some(text(&device, "seal id").map_err(bad)?);
    r.push_lock(lock).map_err(bad)?;
    r.alarms.set_if(repr.status & STATUS_CUT != 0, Alarm::Cut);
    r.alarms
        .set_if(repr.status & STATUS_CASE_OPEN != 0, Alarm::CaseOpen);
    r.alarms
        .set_if(repr.status & STATUS_LOW_BATTERY != 0, Alarm::LowBattery);
    if repr.event == Event::Tamper
        && !r.alarms.contains(Alarm::Cut)
        && !r.alarms.contains(Alarm::CaseOpen)
    {
        r.alarms.insert(Alarm::Tamper);
    }
    let mut reports = heapless::Vec::<SealReport, MAX_REPORTS>::new();
    reports
        .push(r)
        .map_err(|_| NativeError::BadField("report"))?;
    let mut d = Decoded::from_reports(device, reports, Some(reply));
    if repr.event != Event::Status {
        d.kind = FrameKind::Event;
    }
    if let Some(r) = d.reports.first_mut() {
        r.transition = match repr.event {
            Event::Sealed => Some(Transition::Closed),
            Event::Opened => Some(Transition::Opened),
            _ => None,
        };
    }
    Ok(d)
}

/// Decodes an acknowledgement frame (reader side): the seal id and counter it confirms,
/// after checking its MAC under `key`.
///
/// # Errors
/// Framing, CRC or MAC errors.
pub fn verify_ack(frame: &[u8], key: &SealKey) -> Result<(u64, u32), NativeError> {
    let f = Frame::new_checked(frame)?;
    if f.kind() != TYPE_ACK || f.payload_len() != ACK_LEN {
        return Err(NativeError::BadFraming);
    }
    let p = f.payload();
    let seal = u64::from_be_bytes(
        p.get(..8)
            .and_then(|s| s.try_into().ok())
            .ok_or(NativeError::BadFraming)?,
    );
    let counter = u32::from_be_bytes(
        p.get(8..12)
            .and_then(|s| s.try_into().ok())
            .ok_or(NativeError::BadFraming)?,
    );
    let mut mac = HmacSha256::new_from_slice(&key.0).map_err(|_| NativeError::BadField("key"))?;
    mac.update(f.signed());
    mac.verify_truncated_left(f.mac())
        .map_err(|_| NativeError::BadMac { seal })?;
    Ok((seal, counter))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: SealKey = SealKey([0x11; 32]);
    const SEAL: u64 = 0x0042_0000_0000_1234;

    fn report(counter: u32) -> ReportRepr {
        ReportRepr {
            seal: SEAL,
            counter,
            time: 1_764_345_600,
            event: Event::Tamper,
            status: STATUS_CUT,
            battery_mv: 3600,
        }
    }

    fn frame(counter: u32) -> ([u8; MAX_FRAME], usize) {
        let mut buf = [0u8; MAX_FRAME];
        let n = report(counter).emit(&KEY, &mut buf).unwrap();
        (buf, n)
    }

    fn verifier() -> Verifier<4> {
        let mut v = Verifier::new();
        v.add_seal(SEAL, KEY).unwrap();
        v
    }

    #[test]
    fn accepts_and_acknowledges() {
        let (buf, n) = frame(7);
        let mut v = verifier();
        let d = v.verify(&buf[..n]).unwrap();
        assert_eq!(d.kind, FrameKind::Event);
        assert_eq!(d.device.as_deref(), Some("0042-000000001234"));
        let r = &d.reports[0];
        assert_eq!(r.index, Some(7));
        assert!(r.alarms.contains(Alarm::Cut));
        assert_eq!(v.last_counter(SEAL), Some(7));
        let ack = d.reply.unwrap();
        assert_eq!(verify_ack(ack.as_bytes(), &KEY), Ok((SEAL, 7)));
    }

    #[test]
    fn forged_mac_is_rejected() {
        let (mut buf, n) = frame(1);
        // Attacker flips the event to "status" and fixes the CRC, but cannot fix the MAC.
        buf[6 + 16] = 0;
        let crc = CRC16.checksum(&buf[2..n - 2]).to_be_bytes();
        buf[n - 2..n].copy_from_slice(&crc);
        let mut v = verifier();
        let e = v.verify(&buf[..n]).unwrap_err();
        assert_eq!(e, NativeError::BadMac { seal: SEAL });
        assert_eq!(e.spoof_reason(), Some(SpoofReason::BadMac));
        assert_eq!(e.spoof_report().unwrap().spoofed, Some(SpoofReason::BadMac));
        assert_eq!(
            v.last_counter(SEAL),
            None,
            "a forged frame does not advance the counter"
        );
    }

    #[test]
    fn wrong_key_is_bad_mac() {
        let (buf, n) = frame(1);
        let mut v: Verifier<2> = Verifier::new();
        v.add_seal(SEAL, SealKey([0x22; 32])).unwrap();
        assert_eq!(v.verify(&buf[..n]), Err(NativeError::BadMac { seal: SEAL }));
    }

    #[test]
    fn replayed_counter_is_rejected() {
        let mut v = verifier();
        let (b5, n5) = frame(5);
        let (b4, n4) = frame(4);
        v.verify(&b5[..n5]).unwrap();
        let e = v.verify(&b5[..n5]).unwrap_err();
        assert_eq!(
            e,
            NativeError::Replayed {
                seal: SEAL,
                counter: 5,
                last: 5
            }
        );
        assert_eq!(
            v.verify(&b4[..n4]),
            Err(NativeError::Replayed {
                seal: SEAL,
                counter: 4,
                last: 5
            })
        );
        assert_eq!(
            e.spoof_report().unwrap().spoofed,
            Some(SpoofReason::Replayed)
        );
        let (b6, n6) = frame(6);
        assert!(v.verify(&b6[..n6]).is_ok());
    }

    #[test]
    fn truncated_frame_is_rejected() {
        let (buf, n) = frame(1);
        let mut v = verifier();
        for cut in 0..n {
            let e = v.verify(&buf[..cut]).unwrap_err();
            assert!(
                matches!(e, NativeError::Truncated { got, .. } if got == cut),
                "{cut}: {e}"
            );
            assert_eq!(e.spoof_reason(), None);
        }
    }

    #[test]
    fn noise_is_a_crc_error_not_a_spoof() {
        let (mut buf, n) = frame(1);
        buf[10] ^= 0x40;
        let e = verifier().verify(&buf[..n]).unwrap_err();
        assert!(matches!(e, NativeError::BadCrc { .. }));
        assert_eq!(e.spoof_report(), None);
    }

    /// The test vector in `docs/protocol.md`, computed independently (Python hmac/hashlib).
    #[test]
    fn matches_documented_test_vector() {
        let vector = "ec75010100140042000000001234000000076929c70003020e100fae11c66ff9d1ef4842df3106c0b38a6f54";
        let expected: heapless::Vec<u8, 64> = (0..vector.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&vector[i..i + 2], 16).unwrap())
            .collect();
        let (buf, n) = frame(7);
        assert_eq!(&buf[..n], &expected[..]);
    }

    #[test]
    fn unknown_seal() {
        let (buf, n) = frame(1);
        let mut v: Verifier<1> = Verifier::new();
        assert_eq!(
            v.verify(&buf[..n]),
            Err(NativeError::UnknownKey { seal: SEAL })
        );
    }
}
