//! Seal and e-lock protocols: decoders that turn vendor frames into one [`SealReport`]
//! model, plus the reply bytes each device expects.
//!
//! Border posts see e-seals and GPS e-locks from many vendors. Each protocol module parses
//! one frame (already cut out of the byte stream by a [`framer`]) into a [`Decoded`]: the
//! normalized reports, what kind of frame it was, and the acknowledgement to send back.
//! Devices resend a report until they get the exact reply their protocol expects, so the
//! reply is part of the decoder's contract, not an afterthought; [`dedup`] drops the
//! resends that slip through anyway.
//!
//! | module | devices | frames |
//! | --- | --- | --- |
//! | [`jt600`] | Jointech JT600/JT701/JT701D/JT709 | binary `$…`, ASCII `(…)` |
//! | [`jt808`] | JT/T 808 e-locks, Jointech 0x5501/0x5502 | `7E…7E`, byte-stuffed |
//! | [`eseal`] | `##S,…,E##` e-seals | ASCII |
//! | [`teratrack`] | TeraTrack e-locks with sub-locks | JSON |
//! | [`native`] | ECTS Edge seal readers | authenticated binary, see `docs/protocol.md` |
//!
//! # Invariants
//! - Input is untrusted: no decoder panics, allocates or reads past its input, whatever
//!   the bytes (property tests and cargo-fuzz targets check this).
//! - Everything is bounded: at most [`MAX_REPORTS`] reports per frame, [`MAX_LOCKS`] locks
//!   per report, [`MAX_REPLY`] reply bytes. A frame that would need more is refused with a
//!   typed [`DecodeError`], never truncated silently.
//! - Personal data stays out: an RFID card number is reduced to "a card was presented",
//!   and a password never enters a report.

pub mod dedup;
pub mod eseal;
pub mod events;
pub mod framer;
pub mod jt600;
pub mod jt808;
pub mod native;
pub mod teratrack;
mod util;

use core::fmt;

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

use crate::event::{DeviceId, Position, Protocol, SpoofReason, TamperKind, UnlockMethod};
use crate::text::Text;
use crate::time::Timestamp;

/// Most reports one frame may carry (a JT600 binary frame holds a list of positions).
pub const MAX_REPORTS: usize = 40;
/// Most locks one report may describe (JT/T 808 lock lists, TeraTrack sub-locks).
pub const MAX_LOCKS: usize = 8;
/// Longest reply the gateway sends back to a device, in bytes.
pub const MAX_REPLY: usize = 96;

/// A lock or sub-lock identifier as the device reports it.
pub type LockId = Text<24>;
/// A vendor message type (`U01`, `P45`, `0x0200`, `Event-Door`), kept for de-duplication.
pub type MessageType = Text<24>;
/// A command result a device sent back, as text.
pub type ResultText = Text<64>;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame ends before a field it announces.
    Truncated,
    /// The frame is `len` bytes long; at most `max` are accepted.
    TooLong {
        /// Largest accepted frame, in bytes.
        max: usize,
        /// Length of this frame.
        len: usize,
    },
    /// The frame does not start or end with this protocol's delimiters.
    BadFraming,
    /// An escape sequence that the protocol does not define.
    BadEscape,
    /// The frame's checksum does not match its content.
    BadChecksum {
        /// Checksum computed over the received bytes.
        calculated: u8,
        /// Checksum carried by the frame.
        found: u8,
    },
    /// A field is missing or malformed; the name says which.
    BadField(&'static str),
    /// The frame carries more reports than [`MAX_REPORTS`] or more locks than [`MAX_LOCKS`].
    TooMany,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("frame is truncated"),
            DecodeError::TooLong { max, len } => {
                write!(f, "frame is {len} bytes long, at most {max} are accepted")
            }
            DecodeError::BadFraming => f.write_str("frame delimiters are missing or wrong"),
            DecodeError::BadEscape => f.write_str("undefined escape sequence"),
            DecodeError::BadChecksum { calculated, found } => {
                write!(
                    f,
                    "checksum mismatch: calculated {calculated:#04x}, frame has {found:#04x}"
                )
            }
            DecodeError::BadField(name) => write!(f, "field `{name}` is missing or malformed"),
            DecodeError::TooMany => f.write_str("frame carries more reports or locks than fit"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// What a frame was, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// Positions only.
    Position,
    /// At least one report carries an alarm, an unlock attempt or a lock event.
    Event,
    /// A keep-alive with no report.
    Heartbeat,
    /// The device answering one of our commands (not a report to acknowledge).
    Reply,
    /// A well-formed frame of a type we do not decode.
    Unsupported,
}

/// A condition a device reports. Several can hold at once: see [`Alarms`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum Alarm {
    /// Rope, cable or shackle cut.
    Cut,
    /// Device removed from the container or vehicle.
    Removal,
    /// Device case or back cover opened.
    CaseOpen,
    /// Shock or vibration above threshold.
    Shock,
    /// Device dropped.
    Drop,
    /// Tampering the device does not detail.
    Tamper,
    /// Container door opened.
    Door,
    /// Battery low.
    LowBattery,
    /// External power cut.
    PowerCut,
    /// A wrong password was entered.
    WrongPassword,
    /// An unauthorised card was presented.
    IllegalCard,
    /// The lock mechanism is stuck.
    LockStuck,
    /// Entered a geofence.
    GeofenceEnter,
    /// Left a geofence.
    GeofenceExit,
    /// SOS button.
    Sos,
    /// Over the speed limit.
    Overspeed,
    /// Device fault.
    Fault,
    /// GPS antenna cut or disconnected.
    GpsAntennaCut,
    /// A sub-lock stopped answering its master.
    LockTimeout,
}

impl Alarm {
    /// Every alarm, in bit order.
    pub const ALL: [Alarm; 19] = [
        Alarm::Cut,
        Alarm::Removal,
        Alarm::CaseOpen,
        Alarm::Shock,
        Alarm::Drop,
        Alarm::Tamper,
        Alarm::Door,
        Alarm::LowBattery,
        Alarm::PowerCut,
        Alarm::WrongPassword,
        Alarm::IllegalCard,
        Alarm::LockStuck,
        Alarm::GeofenceEnter,
        Alarm::GeofenceExit,
        Alarm::Sos,
        Alarm::Overspeed,
        Alarm::Fault,
        Alarm::GpsAntennaCut,
        Alarm::LockTimeout,
    ];

    /// The wire name (`snake_case`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Alarm::Cut => "cut",
            Alarm::Removal => "removal",
            Alarm::CaseOpen => "case_open",
            Alarm::Shock => "shock",
            Alarm::Drop => "drop",
            Alarm::Tamper => "tamper",
            Alarm::Door => "door",
            Alarm::LowBattery => "low_battery",
            Alarm::PowerCut => "power_cut",
            Alarm::WrongPassword => "wrong_password",
            Alarm::IllegalCard => "illegal_card",
            Alarm::LockStuck => "lock_stuck",
            Alarm::GeofenceEnter => "geofence_enter",
            Alarm::GeofenceExit => "geofence_exit",
            Alarm::Sos => "sos",
            Alarm::Overspeed => "overspeed",
            Alarm::Fault => "fault",
            Alarm::GpsAntennaCut => "gps_antenna_cut",
            Alarm::LockTimeout => "lock_timeout",
        }
    }

    /// The event-model tamper kind this alarm means, if it is a tamper alarm.
    pub const fn tamper_kind(self) -> Option<TamperKind> {
        match self {
            Alarm::Cut => Some(TamperKind::Cut),
            Alarm::Removal => Some(TamperKind::Removal),
            Alarm::CaseOpen => Some(TamperKind::CaseOpen),
            Alarm::Shock => Some(TamperKind::Shock),
            Alarm::Drop => Some(TamperKind::Drop),
            Alarm::Tamper => Some(TamperKind::Other),
            _ => None,
        }
    }
}

impl fmt::Display for Alarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Alarm`]s; serializes as a JSON array of names in a fixed order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Alarms(u32);

impl Alarms {
    /// The empty set.
    pub const EMPTY: Alarms = Alarms(0);

    /// Adds `alarm`.
    pub fn insert(&mut self, alarm: Alarm) {
        self.0 |= 1 << (alarm as u8);
    }

    /// Adds `alarm` when `cond` holds.
    pub fn set_if(&mut self, cond: bool, alarm: Alarm) {
        if cond {
            self.insert(alarm);
        }
    }

    /// Whether `alarm` is in the set.
    pub const fn contains(self, alarm: Alarm) -> bool {
        self.0 & (1 << (alarm as u8)) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The alarms in the set, in [`Alarm::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Alarm> {
        Alarm::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl Serialize for Alarms {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for a in self.iter() {
            seq.serialize_element(a.as_str())?;
        }
        seq.end()
    }
}

/// State of one lock: the device's own lock (`index` 0) or a sub-lock / listed lock (1…).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockState {
    /// 0 for the device's own lock, 1… for listed or slave locks in the device's order.
    pub index: u8,
    /// The lock's own id, where the device gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<LockId>,
    /// Whether the shackle is locked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// Whether the seal (rope, cable) is intact and armed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed: Option<bool>,
    /// Lock battery in millivolts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery_mv: Option<u16>,
    /// Lock battery in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery_pct: Option<u8>,
    /// Alarms raised by this lock.
    #[serde(skip_serializing_if = "Alarms::is_empty")]
    pub alarms: Alarms,
}

impl LockState {
    /// A lock with only its index set.
    pub const fn new(index: u8) -> Self {
        LockState {
            index,
            id: None,
            locked: None,
            sealed: None,
            battery_mv: None,
            battery_pct: None,
            alarms: Alarms::EMPTY,
        }
    }
}

/// An unlock attempt (card, password, remote command) and its outcome.
///
/// The card number and password themselves are deliberately absent: they identify a
/// person or open the lock, and the central system needs neither to judge the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnlockAttempt {
    /// How the unlock was attempted.
    pub method: UnlockMethod,
    /// Whether the device granted it, when it says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granted: Option<bool>,
    /// The device's raw code for what triggered the attempt (JT701 P45 "event source"),
    /// for audit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_code: Option<u8>,
    /// The device's raw result or verification code, for audit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_code: Option<u8>,
    /// Wrong password attempts counted by the device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrong_attempts: Option<u16>,
    /// Whether a card was presented (its number is not kept).
    pub card_presented: bool,
}

/// One normalized report from a seal, e-seal or e-lock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SealReport {
    /// Protocol it arrived on.
    pub protocol: Protocol,
    /// The device's id on that protocol.
    pub device: DeviceId,
    /// The vendor message type.
    pub msg_type: MessageType,
    /// The device's sequence number or counter for this report, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Device time of the report (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_time: Option<Timestamp>,
    /// Where the device was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// A report replayed from the device's buffer (blind area), not a live one.
    pub buffered: bool,
    /// Device battery in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery_pct: Option<u8>,
    /// Device battery in millivolts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery_mv: Option<u16>,
    /// Whether the device is charging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging: Option<bool>,
    /// Alarms the device raised.
    #[serde(skip_serializing_if = "Alarms::is_empty")]
    pub alarms: Alarms,
    /// A vendor alarm or alert code the model does not map, kept for audit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_alarm: Option<u16>,
    /// The device's raw status word, kept for audit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u32>,
    /// Lock and seal states.
    #[serde(skip_serializing_if = "heapless::Vec::is_empty")]
    pub locks: heapless::Vec<LockState, MAX_LOCKS>,
    /// An unlock attempt this report describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlock: Option<UnlockAttempt>,
    /// Temperature from a device or peripheral sensor, °C.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f32>,
    /// Tilt of the device on x, y, z as the device reports it (raw units).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tilt: Option<[i16; 3]>,
    /// Set when the report failed authentication: it must become a `seal.spoofed` event
    /// and nothing else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spoofed: Option<SpoofReason>,
    /// A command result the device sent back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultText>,
    /// The seal or lock was opened or closed, as an explicit device event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
}

/// An explicit open or close reported by the device (not inferred from a state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Opened or unlocked.
    Opened,
    /// Closed, locked or armed.
    Closed,
}

impl SealReport {
    /// An empty report for `device`; decoders fill in the rest.
    pub fn new(protocol: Protocol, device: DeviceId, msg_type: MessageType) -> Self {
        SealReport {
            protocol,
            device,
            msg_type,
            index: None,
            device_time: None,
            position: None,
            buffered: false,
            battery_pct: None,
            battery_mv: None,
            charging: None,
            alarms: Alarms::EMPTY,
            vendor_alarm: None,
            status: None,
            locks: heapless::Vec::new(),
            unlock: None,
            temperature_c: None,
            tilt: None,
            spoofed: None,
            result: None,
            transition: None,
        }
    }

    /// Whether the report is an event rather than a plain position: it carries an alarm,
    /// an unlock attempt, a vendor alarm code, a lock alarm or a spoofing verdict.
    pub fn is_event(&self) -> bool {
        !self.alarms.is_empty()
            || self.unlock.is_some()
            || self.vendor_alarm.is_some()
            || self.spoofed.is_some()
            || self.transition.is_some()
            || self.locks.iter().any(|l| !l.alarms.is_empty())
    }

    /// Adds a lock state.
    ///
    /// # Errors
    /// [`DecodeError::TooMany`] past [`MAX_LOCKS`].
    pub fn push_lock(&mut self, lock: LockState) -> Result<(), DecodeError> {
        self.locks.push(lock).map_err(|_| DecodeError::TooMany)
    }
}

/// Bytes to send back to the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    bytes: heapless::Vec<u8, MAX_REPLY>,
    text: bool,
}

impl Reply {
    /// A text reply (ASCII protocols).
    ///
    /// # Errors
    /// [`DecodeError::TooMany`] if it is longer than [`MAX_REPLY`].
    pub fn text(parts: &[&str]) -> Result<Self, DecodeError> {
        let mut bytes = heapless::Vec::new();
        for p in parts {
            bytes
                .extend_from_slice(p.as_bytes())
                .map_err(|_| DecodeError::TooMany)?;
        }
        Ok(Reply { bytes, text: true })
    }

    /// A binary reply.
    ///
    /// # Errors
    /// [`DecodeError::TooMany`] if it is longer than [`MAX_REPLY`].
    pub fn binary(data: &[u8]) -> Result<Self, DecodeError> {
        let bytes = heapless::Vec::from_slice(data).map_err(|_| DecodeError::TooMany)?;
        Ok(Reply { bytes, text: false })
    }

    /// The bytes to write to the device.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the reply is printable text (otherwise show it as hex).
    pub fn is_text(&self) -> bool {
        self.text
    }
}

/// The result of decoding one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// What the frame was.
    pub kind: FrameKind,
    /// The device it came from, when the frame names it.
    pub device: Option<DeviceId>,
    /// Normalized reports, in frame order.
    pub reports: heapless::Vec<SealReport, MAX_REPORTS>,
    /// What to send back, if anything.
    pub reply: Option<Reply>,
}

impl Decoded {
    /// A frame with no reports.
    pub fn empty(kind: FrameKind, device: Option<DeviceId>) -> Self {
        Decoded {
            kind,
            device,
            reports: heapless::Vec::new(),
            reply: None,
        }
    }

    /// Frame with one report; kind as for [`Decoded::from_reports`].
    ///
    /// # Errors
    /// None in practice ([`MAX_REPORTS`] ≥ 1); typed for uniformity.
    pub fn single(
        device: DeviceId,
        report: SealReport,
        reply: Option<Reply>,
    ) -> Result<Self, DecodeError> {
        let mut reports = heapless::Vec::new();
        reports.push(report).map_err(|_| DecodeError::TooMany)?;
        Ok(Self::from_reports(device, reports, reply))
    }

    /// Frame with `reports`; its kind is [`FrameKind::Event`] if any report is an event,
    /// else [`FrameKind::Position`].
    pub fn from_reports(
        device: DeviceId,
        reports: heapless::Vec<SealReport, MAX_REPORTS>,
        reply: Option<Reply>,
    ) -> Self {
        let kind = if reports.iter().any(SealReport::is_event) {
            FrameKind::Event
        } else {
            FrameKind::Position
        };
        Decoded {
            kind,
            device: Some(device),
            reports,
            reply,
        }
    }
}
