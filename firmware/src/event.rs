//! The event model: one normalized [`Event`] for everything the appliance reports.
//!
//! Seal and e-lock reports from any vendor, corridor alarms, GPS integrity alarms, the trip
//! lifecycle and gateway health all become an `Event` before they reach the journal and the
//! MQTT uplink. Central systems (monitoring centres, several customs administrations) read
//! one payload shape, whatever device produced it.
//!
//! # Invariants
//! - The set of event types is closed: [`EventType::ALL`]. A type's name (`seal.opened`) is
//!   part of the wire contract (`docs/mqtt.md`, `docs/schema/event.v1.json`); adding one is a
//!   schema change, renaming one is a breaking change.
//! - The `type` and `details` of an event always agree: both come from one [`EventKind`].
//! - Every string is bounded ([`crate::text`]), so an `Event` has a fixed size and needs no
//!   heap. Floats that the wire form requires are finite; a non-finite one makes
//!   serialization fail with an error rather than print `null`.
//! - [`Event::id`] is `None` until the gateway's journal assigns it; every published event
//!   has one (`<gateway>:<seq>`, stable across retries, so central can de-duplicate).
//! - Device time and gateway receive time are kept apart: device clocks drift.
//!
//! # Wire form
//! ```json
//! {"v":1,"id":"ke-malaba-01:42","type":"seal.tampered","severity":"critical",
//!  "trip":"22MBAIM400123456","vehicle":"KCX 123A","seal":"JT701-0012",
//!  "device":{"protocol":"jt600","id":"3200000001"},
//!  "position":{"lat":0.6346,"lon":34.2759,"valid":true,"fix_time":"2026-11-28T10:00:00Z"},
//!  "device_time":"2026-11-28T10:00:01Z","received_at":"2026-11-28T10:00:02.5Z",
//!  "details":{"lock":1,"tamper":"cut"}}
//! ```
//! Units are part of field names (`distance_m`, `speed_mps`, `dwell_s`); positions are
//! WGS 84 degrees; times are RFC 3339 UTC.

use core::fmt;

use serde::{Serialize, Serializer};

use crate::text::{Ident, Text, TextError};
use crate::time::Timestamp;

/// Version of the payload schema, sent as `v` in every event.
pub const SCHEMA_VERSION: u8 = 1;

/// A gateway's id: first level under `ects/v1/` in MQTT topics, first half of event ids.
pub type GatewayId = Ident<32>;
/// A customs declaration (transit document) number: the trip's identity.
pub type Declaration = Text<40>;
/// A vehicle: registration plate(s) of truck and trailer.
pub type VehicleId = Text<24>;
/// An e-seal or e-lock id (manufacturer id + serial where the device gives both).
pub type SealId = Text<32>;
/// A device's own id on its protocol (IMEI, terminal phone number, serial).
pub type DeviceId = Text<32>;
/// A customs officer's service id.
pub type OfficerId = Text<24>;
/// A corridor id from the corridor configuration.
pub type CorridorId = Ident<32>;
/// A zone id from the zone configuration.
pub type ZoneId = Ident<32>;
/// A serial or network source name from the gateway configuration.
pub type SourceName = Ident<32>;
/// A command id chosen by central, echoed in results.
pub type CommandId = Text<40>;
/// A short human-readable explanation.
pub type Note = Text<96>;

/// The stable id of a published event: gateway id and journal sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventId {
    /// The gateway that accepted the event.
    pub gateway: GatewayId,
    /// The journal sequence number: strictly increasing per gateway, never reused.
    pub seq: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.gateway, self.seq)
    }
}

/// Why an [`EventId`] text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventIdError {
    /// No `:` between gateway id and sequence number.
    MissingSeparator,
    /// The gateway part is not a valid [`GatewayId`].
    Gateway(TextError),
    /// The sequence part is not a decimal `u64`.
    Seq,
}

impl fmt::Display for EventIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventIdError::MissingSeparator => f.write_str("expected <gateway>:<seq>"),
            EventIdError::Gateway(e) => write!(f, "gateway id {e}"),
            EventIdError::Seq => f.write_str("sequence number is not a decimal u64"),
        }
    }
}

impl core::error::Error for EventIdError {}

impl core::str::FromStr for EventId {
    type Err = EventIdError;
    fn from_str(s: &str) -> Result<Self, EventIdError> {
        let (gw, seq) = s.rsplit_once(':').ok_or(EventIdError::MissingSeparator)?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EventIdError::Seq);
        }
        Ok(EventId {
            gateway: GatewayId::new(gw).map_err(EventIdError::Gateway)?,
            seq: seq.parse().map_err(|_| EventIdError::Seq)?,
        })
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How urgently a human must act; also the last level of the MQTT event topic.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Someone must act now (seal cut, route deviation, jamming). Fsynced before accepted.
    Critical,
    /// Needs attention (overstay, low battery, GPS lost, drops).
    Warning,
    /// Record of normal operation (positions, zone crossings, trip lifecycle).
    Info,
}

impl Severity {
    /// All severities, most urgent first.
    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Info];

    /// The wire name: `critical`, `warning` or `info`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The wire protocol a report came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Protocol {
    /// NMEA 0183 GPS receiver.
    Nmea,
    /// u-blox UBX binary GPS receiver.
    Ubx,
    /// Jointech JT600 family (JT600/JT701/JT701D/JT709).
    Jt600,
    /// JT/T 808 based e-locks.
    Jt808,
    /// The `##S,…,E##` e-seal protocol.
    Eseal,
    /// TeraTrack JSON e-locks.
    Teratrack,
    /// ECTS Edge's own authenticated seal-reader protocol.
    Native,
    /// A GPIO input of the gateway board (enclosure tamper switch).
    Gpio,
    /// The gateway itself (health, commands, trip lifecycle).
    Gateway,
}

/// Which device a report came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceRef {
    /// The protocol it speaks.
    pub protocol: Protocol,
    /// Its id on that protocol.
    pub id: DeviceId,
}

/// Why a [`Position`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionError;

impl fmt::Display for PositionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("latitude must be within ±90° and longitude within ±180°")
    }
}

impl core::error::Error for PositionError {}

/// A WGS 84 position with the quality a customs officer needs to judge it.
///
/// Optional float fields that are not finite are left out of the wire form.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Position {
    lat: f64,
    lon: f64,
    /// Whether the receiver or device called the fix valid. Invalid fixes are still
    /// reported (they show where a device *thinks* it is) but never raise corridor alarms.
    pub valid: bool,
    /// UTC time of the fix, from the receiver or device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix_time: Option<Timestamp>,
    /// Ground speed in m/s.
    #[serde(skip_serializing_if = "not_finite")]
    pub speed_mps: Option<f32>,
    /// Course over ground in degrees true, 0–360.
    #[serde(skip_serializing_if = "not_finite")]
    pub track_deg: Option<f32>,
    /// Altitude above mean sea level in metres.
    #[serde(skip_serializing_if = "not_finite")]
    pub alt_msl_m: Option<f32>,
    /// Horizontal dilution of precision.
    #[serde(skip_serializing_if = "not_finite")]
    pub hdop: Option<f32>,
    /// Satellites used in the fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satellites: Option<u8>,
}

/// Rounds half away from zero to 7 decimals. Only called with |x| ≤ 180, so the scaled
/// value fits an `i64` exactly enough; `core` has no `f64::round`, hence the casts.
fn round_1e7(x: f64) -> f64 {
    let scaled = x * 1e7;
    let rounded = if scaled >= 0.0 {
        (scaled + 0.5) as i64
    } else {
        (scaled - 0.5) as i64
    };
    rounded as f64 / 1e7
}

fn not_finite(v: &Option<f32>) -> bool {
    !v.is_some_and(f32::is_finite)
}

fn finite_f32<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f32(*v)
    } else {
        Err(serde::ser::Error::custom("a required number is not finite"))
    }
}

impl Position {
    /// A position with only coordinates and validity; set the other fields directly.
    ///
    /// Coordinates are rounded to 1e-7° (about 1 cm): no receiver in this trade is more
    /// precise, and the shorter numbers keep payloads small (data frugality).
    ///
    /// # Errors
    /// [`PositionError`] if a coordinate is not finite or out of range.
    pub fn new(lat: f64, lon: f64, valid: bool) -> Result<Self, PositionError> {
        if !(lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0) {
            return Err(PositionError);
        }
        Ok(Position {
            lat: round_1e7(lat),
            lon: round_1e7(lon),
            valid,
            fix_time: None,
            speed_mps: None,
            track_deg: None,
            alt_msl_m: None,
            hdop: None,
            satellites: None,
        })
    }

    /// Latitude in degrees, north positive.
    pub fn lat(&self) -> f64 {
        self.lat
    }

    /// Longitude in degrees, east positive.
    pub fn lon(&self) -> f64 {
        self.lon
    }
}

/// How a seal or lock was opened, or how someone tried to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnlockMethod {
    /// RFID/NFC card.
    Card,
    /// Password or PIN.
    Password,
    /// Remote command (SMS, platform, Bluetooth).
    Remote,
    /// Mechanical key.
    Key,
    /// The device did not say.
    Unknown,
}

/// What kind of tampering a seal or lock reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TamperKind {
    /// Rope, cable or shackle cut.
    Cut,
    /// Device removed from the container or vehicle.
    Removal,
    /// Device case opened.
    CaseOpen,
    /// Shock above the device's threshold.
    Shock,
    /// Device dropped.
    Drop,
    /// Another tamper signal the device does not detail.
    Other,
}

/// Why a seal report was judged forged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SpoofReason {
    /// The message authentication code does not verify.
    BadMac,
    /// The counter is not above the last one accepted: a replay.
    Replayed,
    /// No key is configured for this seal.
    UnknownKey,
}

/// What a zone is for; decides which rules apply inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ZoneKind {
    /// Where the transit starts (port, ICD).
    Origin,
    /// Where the transit ends and may be disarmed.
    Destination,
    /// A border crossing point.
    BorderPost,
    /// A customs-controlled yard.
    CustomsYard,
    /// An authorized rest stop.
    RestStop,
}

/// Why events were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DropReason {
    /// Evicted by the journal's full-disk policy (oldest routine positions first).
    Evicted,
    /// Refused at the door: the journal was full of alarms.
    DiskFull,
    /// Lost to corruption found on disk (bit rot, torn write).
    Corrupt,
    /// Refused because an input queue was full (back-pressure on a flooded source).
    Overload,
}

/// Details of `position`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PositionReport {
    /// Replayed from a device's blind-area buffer, not live.
    pub buffered: bool,
}

/// Details of `seal.opened`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SealOpened {
    /// Lock index on multi-lock devices (1-based), if the device says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<u8>,
    /// How it was opened.
    pub method: UnlockMethod,
}

/// Details of `seal.closed`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SealClosed {
    /// Lock index on multi-lock devices (1-based), if the device says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<u8>,
}

/// Details of `seal.tampered`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SealTampered {
    /// Lock index on multi-lock devices (1-based), if the device says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<u8>,
    /// What the device detected.
    pub tamper: TamperKind,
}

/// Details of `seal.low_battery`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SealLowBattery {
    /// Lock index on multi-lock devices (1-based), if the device says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<u8>,
    /// Remaining charge in percent, if reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery_pct: Option<u8>,
    /// Battery voltage in millivolts, if reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery_mv: Option<u16>,
}

/// Details of `seal.wrong_credentials`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SealWrongCredentials {
    /// Lock index on multi-lock devices (1-based), if the device says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<u8>,
    /// Card or password.
    pub method: UnlockMethod,
    /// Failed attempts counted by the device, if reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u16>,
}

/// Details of `seal.spoofed`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SealSpoofed {
    /// Why the report was refused.
    pub reason: SpoofReason,
    /// The counter the report carried, if it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counter: Option<u32>,
}

/// Details of `route.deviation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteDeviation {
    /// The corridor the trip must follow.
    pub corridor: CorridorId,
    /// Distance from the corridor centre line when confirmed, metres.
    #[serde(serialize_with = "finite_f32")]
    pub distance_m: f32,
    /// The corridor half-width, metres.
    #[serde(serialize_with = "finite_f32")]
    pub width_m: f32,
    /// Outside the corridor, or inside it but heading back the way it came.
    pub reason: DeviationReason,
}

/// What kind of route deviation was confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeviationReason {
    /// Further from the centre line than the corridor's half-width.
    Outside,
    /// Inside the corridor but going back along it (a U-turn): the distance along the
    /// route fell well behind the furthest point reached.
    WrongWay,
}

/// Details of `route.returned`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteReturned {
    /// The corridor the trip must follow.
    pub corridor: CorridorId,
    /// Distance from the centre line when the return was confirmed, metres.
    #[serde(serialize_with = "finite_f32")]
    pub distance_m: f32,
    /// How long the vehicle was outside, seconds.
    pub outside_s: u32,
}

/// Details of `stop.unauthorized`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StopUnauthorized {
    /// How long the vehicle has been stopped, seconds.
    pub dwell_s: u32,
    /// The limit for a stop outside any zone, seconds.
    pub limit_s: u32,
}

/// Details of `stop.overstay`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StopOverstay {
    /// The zone overstayed.
    pub zone: ZoneId,
    /// How long the vehicle has been inside, seconds.
    pub dwell_s: u32,
    /// The zone's dwell limit, seconds.
    pub limit_s: u32,
}

/// Details of `transit.overdue`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitOverdue {
    /// The deadline set when the trip was armed.
    pub deadline: Timestamp,
    /// How far past the deadline, seconds.
    pub overdue_s: u32,
}

/// Details of `zone.entered` and `zone.exited`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneCrossing {
    /// The zone.
    pub zone: ZoneId,
    /// What the zone is for.
    pub zone_kind: ZoneKind,
}

/// Details of `gps.lost`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpsLost {
    /// Age of the last valid fix when loss was confirmed, seconds.
    pub last_fix_age_s: u32,
    /// Speed at the last valid fix, m/s.
    #[serde(skip_serializing_if = "not_finite")]
    pub last_speed_mps: Option<f32>,
}

/// Details of `gps.restored`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpsRestored {
    /// How long there was no valid fix, seconds.
    pub outage_s: u32,
}

/// Details of `gps.jamming`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpsJamming {
    /// Drop of the mean carrier-to-noise density over all satellites, dB.
    #[serde(skip_serializing_if = "not_finite")]
    pub cn0_drop_db: Option<f32>,
    /// The receiver's own jamming detector (u-blox MON-RF) reported jamming.
    pub receiver_flag: bool,
}

/// Details of `gps.jump`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpsJump {
    /// Distance between consecutive fixes, metres.
    #[serde(serialize_with = "finite_f32")]
    pub distance_m: f32,
    /// Time between them, seconds.
    #[serde(serialize_with = "finite_f32")]
    pub elapsed_s: f32,
    /// The speed that would imply, m/s.
    #[serde(serialize_with = "finite_f32")]
    pub implied_speed_mps: f32,
}

/// Details of `trip.armed`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TripArmed {
    /// The officer who armed it.
    pub officer: OfficerId,
    /// The corridor it must follow.
    pub corridor: CorridorId,
    /// Origin zone.
    pub origin: ZoneId,
    /// Destination zone.
    pub destination: ZoneId,
    /// When it must have arrived.
    pub deadline: Timestamp,
}

/// Details of `trip.disarmed`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TripDisarmed {
    /// The officer who disarmed it.
    pub officer: OfficerId,
    /// The zone the vehicle was in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<ZoneId>,
}

/// Details of types that carry none (`enclosure.opened`): an empty object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoDetails {}

/// Details of `source.lost`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceLost {
    /// The configured source (serial port or listener) that went away.
    pub source: SourceName,
}

/// Details of `source.restored`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceRestored {
    /// The configured source that came back.
    pub source: SourceName,
    /// How long it was gone, seconds.
    pub outage_s: u32,
}

/// Details of `gateway.started`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayStarted {
    /// Software version.
    pub version: Text<24>,
    /// The previous run did not shut down cleanly (power cut, crash, watchdog).
    pub unclean_shutdown: bool,
}

/// Details of `gateway.dropped`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayDropped {
    /// How many events were dropped.
    pub count: u64,
    /// Why.
    pub reason: DropReason,
    /// The most urgent severity among them.
    pub worst: Severity,
    /// First dropped sequence number, when they had been journaled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<u64>,
    /// Last dropped sequence number, when they had been journaled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
}

/// Details of `command.applied`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandApplied {
    /// The id central gave the command.
    pub command_id: CommandId,
    /// The command name (`trip.arm`, …).
    pub command: Ident<24>,
}

/// Details of `command.rejected`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandRejected {
    /// The id central gave the command, if it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_id: Option<CommandId>,
    /// The command name, if it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Ident<24>>,
    /// What was wrong.
    pub error: Note,
}

macro_rules! event_types {
    ($( $(#[$doc:meta])* $variant:ident($details:ty) => $name:literal, $severity:ident; )*) => {
        /// The closed set of event types. See `docs/mqtt.md` for when each is raised.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $( $(#[$doc])* $variant, )*
        }

        impl EventType {
            /// Every event type, in documentation order.
            pub const ALL: &'static [EventType] = &[$( EventType::$variant, )*];

            /// The wire name, e.g. `seal.opened`.
            pub const fn as_str(self) -> &'static str {
                match self { $( EventType::$variant => $name, )* }
            }

            /// The severity an event of this type has unless the monitor decides otherwise
            /// (a seal opened inside the destination while the trip is disarmed is `info`).
            pub const fn default_severity(self) -> Severity {
                match self { $( EventType::$variant => Severity::$severity, )* }
            }

            /// Looks up a wire name.
            pub fn from_name(name: &str) -> Option<EventType> {
                match name { $( $name => Some(EventType::$variant), )* _ => None }
            }
        }

        /// An event's type together with its type-specific details.
        #[derive(Debug, Clone, PartialEq)]
        pub enum EventKind {
            $( $(#[$doc])* $variant($details), )*
        }

        impl EventKind {
            /// The type of this event.
            pub const fn event_type(&self) -> EventType {
                match self { $( EventKind::$variant(_) => EventType::$variant, )* }
            }
        }

        /// Serializes only the details object; the type name is written by [`Event`].
        impl Serialize for EventKind {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $( EventKind::$variant(d) => d.serialize(s), )* }
            }
        }
    };
}

event_types! {
    /// A position report, thinned by the gateway to what the trip needs.
    Position(PositionReport) => "position", Info;
    /// A seal or lock was opened.
    SealOpened(SealOpened) => "seal.opened", Critical;
    /// A seal or lock was closed or locked.
    SealClosed(SealClosed) => "seal.closed", Info;
    /// A seal or lock reported cut, removal, case opening, shock or drop.
    SealTampered(SealTampered) => "seal.tampered", Critical;
    /// A seal or lock battery is low.
    SealLowBattery(SealLowBattery) => "seal.low_battery", Warning;
    /// Someone tried to open a lock with a wrong card or password.
    SealWrongCredentials(SealWrongCredentials) => "seal.wrong_credentials", Warning;
    /// A seal report failed authentication or was a replay.
    SealSpoofed(SealSpoofed) => "seal.spoofed", Critical;
    /// The vehicle left its corridor (confirmed over several fixes).
    RouteDeviation(RouteDeviation) => "route.deviation", Critical;
    /// The vehicle is back inside its corridor.
    RouteReturned(RouteReturned) => "route.returned", Info;
    /// The vehicle stopped outside any authorized zone for too long.
    StopUnauthorized(StopUnauthorized) => "stop.unauthorized", Warning;
    /// The vehicle stayed in a zone longer than the zone's dwell limit.
    StopOverstay(StopOverstay) => "stop.overstay", Warning;
    /// The transit deadline passed before arrival.
    TransitOverdue(TransitOverdue) => "transit.overdue", Warning;
    /// The vehicle entered a zone.
    ZoneEntered(ZoneCrossing) => "zone.entered", Info;
    /// The vehicle left a zone.
    ZoneExited(ZoneCrossing) => "zone.exited", Info;
    /// The GPS fix was lost while moving.
    GpsLost(GpsLost) => "gps.lost", Warning;
    /// A valid GPS fix is back.
    GpsRestored(GpsRestored) => "gps.restored", Info;
    /// GPS jamming: fix lost with an all-satellite C/N0 drop, or the receiver's own flag.
    GpsJamming(GpsJamming) => "gps.jamming", Critical;
    /// A physically impossible position jump (spoofing).
    GpsJump(GpsJump) => "gps.jump", Critical;
    /// An officer armed a trip.
    TripArmed(TripArmed) => "trip.armed", Info;
    /// An officer disarmed a trip.
    TripDisarmed(TripDisarmed) => "trip.disarmed", Info;
    /// The gateway's own enclosure tamper switch opened.
    EnclosureOpened(NoDetails) => "enclosure.opened", Critical;
    /// A serial port or network source went away.
    SourceLost(SourceLost) => "source.lost", Warning;
    /// A source came back.
    SourceRestored(SourceRestored) => "source.restored", Info;
    /// The gateway started.
    GatewayStarted(GatewayStarted) => "gateway.started", Info;
    /// The gateway dropped events; says how many and why.
    GatewayDropped(GatewayDropped) => "gateway.dropped", Warning;
    /// A command from central was validated and applied.
    CommandApplied(CommandApplied) => "command.applied", Info;
    /// A command from central was refused.
    CommandRejected(CommandRejected) => "command.rejected", Warning;
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One thing the appliance reports. See the module documentation for the wire form.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Assigned by the journal; `None` until then.
    pub id: Option<EventId>,
    /// Type and details.
    pub kind: EventKind,
    /// Starts as the type's default; the monitor may lower or raise it.
    pub severity: Severity,
    /// The customs declaration number of the trip, when one is armed.
    pub trip: Option<Declaration>,
    /// The vehicle.
    pub vehicle: Option<VehicleId>,
    /// The seal or lock concerned.
    pub seal: Option<SealId>,
    /// The device that reported it.
    pub device: Option<DeviceRef>,
    /// Where it happened.
    pub position: Option<Position>,
    /// The device's own time for it (may drift).
    pub device_time: Option<Timestamp>,
    /// When the gateway received it (gateway clock, NTP/GPS disciplined).
    pub received_at: Timestamp,
}

impl Event {
    /// An event of `kind` received at `received_at`, with the type's default severity and
    /// nothing else set.
    pub fn new(kind: EventKind, received_at: Timestamp) -> Self {
        Event {
            id: None,
            severity: kind.event_type().default_severity(),
            kind,
            trip: None,
            vehicle: None,
            seal: None,
            device: None,
            position: None,
            device_time: None,
            received_at,
        }
    }

    /// The event's type.
    pub const fn event_type(&self) -> EventType {
        self.kind.event_type()
    }
}

#[derive(Serialize)]
struct Wire<'a> {
    v: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a EventId>,
    #[serde(rename = "type")]
    ty: EventType,
    severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    trip: Option<&'a Declaration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vehicle: Option<&'a VehicleId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seal: Option<&'a SealId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<&'a DeviceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<&'a Position>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_time: Option<Timestamp>,
    received_at: Timestamp,
    details: &'a EventKind,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            v: SCHEMA_VERSION,
            id: self.id.as_ref(),
            ty: self.kind.event_type(),
            severity: self.severity,
            trip: self.trip.as_ref(),
            vehicle: self.vehicle.as_ref(),
            seal: self.seal.as_ref(),
            device: self.device.as_ref(),
            position: self.position.as_ref(),
            device_time: self.device_time,
            received_at: self.received_at,
            details: &self.kind,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn test_type_names_are_unique_and_round_trip() {
        for (i, a) in EventType::ALL.iter().enumerate() {
            assert_eq!(EventType::from_name(a.as_str()), Some(*a));
            for b in &EventType::ALL[i + 1..] {
                assert_ne!(a.as_str(), b.as_str());
            }
        }
        assert_eq!(EventType::from_name("seal.open"), None);
    }

    #[test]
    fn test_wire_form_of_a_full_event() {
        let mut e = Event::new(
            EventKind::SealTampered(SealTampered {
                lock: Some(1),
                tamper: TamperKind::Cut,
            }),
            t("2026-11-28T10:00:02.5Z"),
        );
        e.id = Some("ke-malaba-01:42".parse().unwrap());
        e.trip = Some(Text::new("22MBAIM400123456").unwrap());
        e.device = Some(DeviceRef {
            protocol: Protocol::Jt600,
            id: Text::new("3200000001").unwrap(),
        });
        let mut p = Position::new(0.6346, 34.2759, true).unwrap();
        p.fix_time = Some(t("2026-11-28T10:00:00Z"));
        p.hdop = Some(f32::NAN); // left out, never `null`
        e.position = Some(p);
        e.device_time = Some(t("2026-11-28T10:00:01Z"));
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            concat!(
                r#"{"v":1,"id":"ke-malaba-01:42","type":"seal.tampered","severity":"critical","#,
                r#""trip":"22MBAIM400123456","device":{"protocol":"jt600","id":"3200000001"},"#,
                r#""position":{"lat":0.6346,"lon":34.2759,"valid":true,"fix_time":"2026-11-28T10:00:00Z"},"#,
                r#""device_time":"2026-11-28T10:00:01Z","received_at":"2026-11-28T10:00:02.500Z","#,
                r#""details":{"lock":1,"tamper":"cut"}}"#
            )
        );
    }

    #[test]
    fn test_non_finite_required_float_is_an_error() {
        let e = Event::new(
            EventKind::GpsJump(GpsJump {
                distance_m: f32::INFINITY,
                elapsed_s: 1.0,
                implied_speed_mps: 1.0,
            }),
            Timestamp::UNIX_EPOCH,
        );
        assert!(serde_json::to_string(&e).is_err());
    }

    #[test]
    fn test_event_id_parse() {
        let id: EventId = "gw-1:18446744073709551615".parse().unwrap();
        assert_eq!(id.seq, u64::MAX);
        assert_eq!(id.to_string(), "gw-1:18446744073709551615");
        assert_eq!(
            "gw-1".parse::<EventId>(),
            Err(EventIdError::MissingSeparator)
        );
        assert_eq!("gw-1:+1".parse::<EventId>(), Err(EventIdError::Seq));
        assert_eq!(
            "gw-1:18446744073709551616".parse::<EventId>(),
            Err(EventIdError::Seq)
        );
        assert!(matches!(
            "a/b:1".parse::<EventId>(),
            Err(EventIdError::Gateway(_))
        ));
    }

    #[test]
    fn test_position_is_rounded_to_a_centimetre() {
        let p = Position::new(50.840203333333335, -4.347110000000001, true).unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"lat":50.8402033,"lon":-4.34711,"valid":true}"#
        );
        let q = Position::new(-89.99999995, 179.99999999, true).unwrap();
        assert_eq!((q.lat(), q.lon()), (-90.0, 180.0));
    }

    #[test]
    fn test_position_range() {
        assert!(Position::new(90.0, -180.0, false).is_ok());
        assert!(Position::new(90.1, 0.0, true).is_err());
        assert!(Position::new(0.0, f64::NAN, true).is_err());
    }
}
