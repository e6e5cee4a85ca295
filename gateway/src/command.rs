//! Commands from central (`ects/v1/{gateway}/cmd/{command}`): parsed, validated against
//! limits, applied by a [`CommandHandler`], answered on `…/result`, and recorded as a
//! `command.applied` or `command.rejected` event.
//!
//! ```text
//! payload: {"v":1, "command_id":"c-0001", "officer":"KRA-04417", "args":{…}}   at most 16 KiB
//!          optional "expires_at":"2026-11-28T12:00:00Z": refused, not applied, if it arrives
//!          later (the broker queues commands for an offline gateway; see `Envelope::check_fresh`)
//! result:  {"v":1, "command_id":"c-0001", "command":"trip.arm", "ok":true, "final":true}
//!          {"v":1, "command_id":"c-0001", "command":"trip.arm", "ok":false, "final":true, "error":"…"}
//!          ("final":false: the broker delivers the command again; a later result supersedes)
//! ```
//!
//! Invariants: nothing a command carries reaches a handler unvalidated (every string is a
//! bounded [`Text`]/[`Ident`], times are RFC 3339, lists are bounded); every command — even
//! malformed, oversized or unknown — gets exactly one result and one event, and none can
//! crash the gateway.

use ects_firmware::event::{
    CommandApplied, CommandId, CommandRejected, CorridorId, Declaration, Event, EventKind, Note,
    OfficerId, SealId, VehicleId, ZoneId,
};
use ects_firmware::text::{Ident, Text};
use ects_firmware::time::Timestamp;
use serde::Deserialize;

/// Largest command payload accepted.
pub const MAX_COMMAND_BYTES: usize = 16 * 1024;
/// Most seals one trip may carry (the monitor keeps them in a fixed-size trip state).
pub const MAX_SEALS: usize = ects_firmware::monitor::trip::MAX_TRIP_SEALS;
/// Largest GeoJSON geometry accepted in a corridor or zone update.
pub const MAX_GEOJSON_BYTES: usize = 12 * 1024;

/// `trip.arm`: register and arm a trip.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmTrip {
    /// Customs declaration number.
    pub declaration: Declaration,
    /// Vehicle plate(s).
    pub vehicle: VehicleId,
    /// Seal ids (1 to [`MAX_SEALS`]).
    pub seals: Vec<SealId>,
    /// Corridor to follow.
    pub corridor: CorridorId,
    /// Origin zone.
    pub origin: ZoneId,
    /// Destination zone.
    pub destination: ZoneId,
    /// Arrival deadline.
    pub deadline: Timestamp,
}

/// `trip.disarm`: disarm a trip.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisarmTrip {
    /// Customs declaration number.
    pub declaration: Declaration,
}

/// `corridor.update` / `zone.update`: replace a geometry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateGeometry {
    /// The corridor or zone id.
    pub id: Ident<32>,
    /// A GeoJSON object (RFC 7946), checked by the geometry loader.
    pub geojson: serde_json::Value,
}

/// A validated command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `trip.arm`.
    ArmTrip(ArmTrip),
    /// `trip.disarm`.
    DisarmTrip(DisarmTrip),
    /// `corridor.update`.
    UpdateCorridor(UpdateGeometry),
    /// `zone.update`.
    UpdateZone(UpdateGeometry),
    /// `status.request`: publish a health status now.
    StatusRequest,
}

/// A command with its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Id chosen by central, echoed in the result.
    pub command_id: CommandId,
    /// The officer on whose authority it is sent, when the command needs one.
    pub officer: Option<OfficerId>,
    /// After this the command is stale and is refused instead of applied.
    pub expires_at: Option<Timestamp>,
    /// The command.
    pub command: Command,
}

impl Envelope {
    /// Refuses a command that arrives after its `expires_at`.
    ///
    /// The gateway keeps a persistent MQTT session, so a command central publishes while
    /// the gateway is offline is queued by the broker and delivered when the link returns,
    /// possibly hours later. A `trip.arm` for a truck that has already gone, or a
    /// `zone.update` superseded since, should then be refused rather than applied; central
    /// says how long a command stays good by giving it an `expires_at`. Without one, a
    /// command is applied whenever it arrives.
    ///
    /// # Errors
    /// Says when it expired and when it arrived.
    pub fn check_fresh(&self, now: Timestamp) -> Result<(), String> {
        match self.expires_at {
            Some(expires_at) if now > expires_at => Err(format!(
                "expired at {expires_at}, received {now}: not applied"
            )),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    v: u8,
    command_id: CommandId,
    #[serde(default)]
    officer: Option<OfficerId>,
    #[serde(default)]
    expires_at: Option<Timestamp>,
    #[serde(default)]
    args: Option<serde_json::Value>,
}

/// A refused command: what could be read of it, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The command id, if it could be read.
    pub command_id: Option<CommandId>,
    /// The command name, if it is a valid name.
    pub command: Option<Ident<24>>,
    /// Why.
    pub error: String,
}

fn args<T: serde::de::DeserializeOwned>(args: Option<serde_json::Value>) -> Result<T, String> {
    serde_json::from_value(args.unwrap_or(serde_json::Value::Null))
        .map_err(|e| format!("args: {e}"))
}

/// Parses and validates the command `name` with `payload`.
///
/// # Errors
/// A [`Rejection`] saying what is wrong; it carries whatever could be read, so that the
/// result can still name the command.
pub fn parse(name: &str, payload: &[u8]) -> Result<Envelope, Rejection> {
    let command = Ident::<24>::new(name).ok();
    let reject = |command_id: Option<CommandId>, error: String| Rejection {
        command_id,
        command: command.clone(),
        error,
    };
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(reject(
            None,
            format!(
                "payload of {} bytes exceeds {MAX_COMMAND_BYTES}",
                payload.len()
            ),
        ));
    }
    let raw: RawEnvelope = serde_json::from_slice(payload).map_err(|e| {
        // Still try to find the id, so central can match the error to its command.
        let id = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| {
                v.get("command_id")?
                    .as_str()
                    .and_then(|s| CommandId::new(s).ok())
            });
        reject(id, format!("malformed command: {e}"))
    })?;
    let id = Some(raw.command_id.clone());
    if raw.v != 1 {
        return Err(reject(
            id,
            format!("unsupported version {} (this gateway speaks 1)", raw.v),
        ));
    }
    let needs_officer = |c: &Command| matches!(c, Command::ArmTrip(_) | Command::DisarmTrip(_));
    let command = match name {
        "trip.arm" => {
            let a: ArmTrip = args(raw.args).map_err(|e| reject(id.clone(), e))?;
            if a.seals.is_empty() || a.seals.len() > MAX_SEALS {
                return Err(reject(
                    id,
                    format!("args.seals: expected 1 to {MAX_SEALS} seal ids"),
                ));
            }
            if a.origin == a.destination {
                return Err(reject(
                    id,
                    "args: origin and destination must differ".into(),
                ));
            }
            Command::ArmTrip(a)
        }
        "trip.disarm" => Command::DisarmTrip(args(raw.args).map_err(|e| reject(id.clone(), e))?),
        "corridor.update" | "zone.update" => {
            let g: UpdateGeometry = args(raw.args).map_err(|e| reject(id.clone(), e))?;
            if !g.geojson.is_object() || g.geojson.to_string().len() > MAX_GEOJSON_BYTES {
                return Err(reject(
                    id,
                    format!(
                        "args.geojson: expected a GeoJSON object of at most {MAX_GEOJSON_BYTES} bytes"
                    ),
                ));
            }
            if name == "corridor.update" {
                Command::UpdateCorridor(g)
            } else {
                Command::UpdateZone(g)
            }
        }
        "status.request" => Command::StatusRequest,
        other => return Err(reject(id, format!("unknown command {other:?}"))),
    };
    if needs_officer(&command) && raw.officer.is_none() {
        return Err(reject(
            id,
            "officer: required for trip commands (chain of custody)".into(),
        ));
    }
    Ok(Envelope {
        command_id: raw.command_id,
        officer: raw.officer,
        expires_at: raw.expires_at,
        command,
    })
}

/// A command applied, and whether what it changed is on disk yet.
#[derive(Debug)]
pub enum Applied {
    /// Nothing of it needs saving: answer now.
    Done,
    /// Answer once this fires: the trips or geometry it changed are then durable, and a
    /// power cut can no longer undo a command central was told succeeded. If the sender
    /// is dropped instead, the state could not be saved before the gateway stopped.
    Saving(tokio::sync::oneshot::Receiver<()>),
}

/// Why a handler did not apply a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// For good (unknown trip, invalid geometry, …): answered, and the delivery is done
    /// with.
    Final(String),
    /// Not by this process, not now (the gateway is stopping; `journal drain` has no trip
    /// registry): answered, but left unacknowledged, so that the broker delivers it again
    /// to the gateway service when it runs.
    NotNow(String),
}

impl Refused {
    /// The reason, for central.
    pub fn reason(&self) -> &str {
        match self {
            Refused::Final(r) | Refused::NotNow(r) => r,
        }
    }
}

impl From<String> for Refused {
    fn from(reason: String) -> Self {
        Refused::Final(reason)
    }
}

/// Applies validated commands. The gateway service's implementation owns the trip registry
/// and the monitor's geometry; a field tool without them refuses what it cannot do.
pub trait CommandHandler: Send {
    /// Applies `envelope`, or says why not.
    ///
    /// # Errors
    /// A short reason, sent back to central and recorded in the `command.rejected` event.
    fn apply(&mut self, envelope: &Envelope) -> Result<Applied, Refused>;

    /// Whether `envelope` is already in effect (the same `trip.arm` for a trip that is
    /// armed, a `trip.disarm` of a trip already disarmed, the same geometry update): a
    /// command delivered again after a restart, which is answered ok even past its
    /// `expires_at`. `None`: this handler cannot tell (it has no trip registry), so an
    /// expired command is left for the service to judge.
    fn already_applied(&self, envelope: &Envelope) -> Option<bool> {
        let _ = envelope;
        None
    }
}

/// The command handler of a gateway without a trip registry (the `journal drain` field
/// tool): `status.request` is answered
/// by the uplink itself; everything else is refused, saying why.
#[derive(Debug, Clone, Copy)]
pub struct NoTripRegistry {
    /// Why there is none, e.g. "`journal drain` has no trip registry; send it to the
    /// gateway service".
    pub why: &'static str,
}

impl CommandHandler for NoTripRegistry {
    fn apply(&mut self, envelope: &Envelope) -> Result<Applied, Refused> {
        let name = match envelope.command {
            Command::ArmTrip(_) => "trip.arm",
            Command::DisarmTrip(_) => "trip.disarm",
            Command::UpdateCorridor(_) => "corridor.update",
            Command::UpdateZone(_) => "zone.update",
            Command::StatusRequest => "status.request",
        };
        Err(Refused::NotNow(format!("{name}: {}", self.why)))
    }
}

/// The result payload for a command. `final_answer` false: the broker delivers the
/// command again (it is not acknowledged), and a later result for the same id supersedes
/// this one.
pub fn result_payload(
    command_id: Option<&CommandId>,
    command: Option<&str>,
    outcome: &Result<(), String>,
    final_answer: bool,
) -> Vec<u8> {
    let mut v = serde_json::json!({ "v": 1, "command_id": command_id.map(|c| c.as_str()), "command": command, "ok": outcome.is_ok(), "final": final_answer });
    if let Err(e) = outcome {
        v["error"] = e.as_str().into();
    }
    v.to_string().into_bytes()
}

/// The event recording a command's outcome.
pub fn outcome_event(
    command_id: Option<&CommandId>,
    command: Option<&Ident<24>>,
    outcome: &Result<(), String>,
    at: Timestamp,
) -> Event {
    let kind = match (outcome, command_id, command) {
        (Ok(()), Some(id), Some(name)) => EventKind::CommandApplied(CommandApplied {
            command_id: id.clone(),
            command: name.clone(),
        }),
        (Ok(()), _, _) => EventKind::CommandRejected(CommandRejected {
            command_id: command_id.cloned(),
            command: command.cloned(),
            error: note("applied without an id"),
        }),
        (Err(e), _, _) => EventKind::CommandRejected(CommandRejected {
            command_id: command_id.cloned(),
            command: command.cloned(),
            error: note(e),
        }),
    };
    Event::new(kind, at)
}

/// `e` cut to a [`Note`]'s size at a character boundary, control characters replaced.
fn note(e: &str) -> Note {
    let clean: String = e
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut end = clean.len().min(96);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    Note::new(clean[..end].trim())
        .or_else(|_| Text::new("unspecified error"))
        .expect("a constant, valid note")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARM: &str = r#"{"v":1,"command_id":"c-1","officer":"KRA-04417","args":{"declaration":"22MBAIM400123456","vehicle":"KCX 123A","seals":["JT701-1"],"corridor":"northern","origin":"mombasa-port","destination":"kampala-icd","deadline":"2026-12-02T18:00:00Z"}}"#;

    #[test]
    fn test_valid_arm() {
        let e = parse("trip.arm", ARM.as_bytes()).unwrap();
        assert_eq!(e.command_id.as_str(), "c-1");
        assert!(matches!(e.command, Command::ArmTrip(ref a) if a.seals.len() == 1));
    }

    #[test]
    fn test_rejections_keep_what_could_be_read() {
        let r = parse(
            "trip.arm",
            ARM.replace(r#""officer":"KRA-04417","#, "").as_bytes(),
        )
        .unwrap_err();
        assert_eq!(r.command_id.unwrap().as_str(), "c-1");
        assert!(r.error.contains("officer"), "{}", r.error);
        let r = parse("trip.arm", ARM.replace(r#"["JT701-1"]"#, "[]").as_bytes()).unwrap_err();
        assert!(r.error.contains("seals"), "{}", r.error);
        let r = parse(
            "trip.arm",
            ARM.replace("2026-12-02T18:00:00Z", "tomorrow").as_bytes(),
        )
        .unwrap_err();
        assert!(r.error.starts_with("args:"), "{}", r.error);
        let r = parse("trip.launch", br#"{"v":1,"command_id":"c-2"}"#).unwrap_err();
        assert_eq!(r.error, r#"unknown command "trip.launch""#);
        let r = parse("status.request", br#"{"v":1,"command_id":"c-3""#).unwrap_err();
        assert!(r.error.starts_with("malformed command"), "{}", r.error);
        let r = parse("status.request", &vec![b' '; MAX_COMMAND_BYTES + 1]).unwrap_err();
        assert!(r.error.contains("exceeds"), "{}", r.error);
        let r = parse("a/b", br#"{"v":1,"command_id":"c-4"}"#).unwrap_err();
        assert_eq!(r.command, None);
    }

    #[test]
    fn test_a_command_past_its_expiry_is_refused() {
        let at = |t: &str| Timestamp::parse_rfc3339(t).unwrap();
        let e = parse("trip.arm", ARM.as_bytes()).unwrap();
        assert_eq!(e.expires_at, None);
        assert_eq!(e.check_fresh(at("2099-01-01T00:00:00Z")), Ok(()));
        let body = ARM.replace(
            r#""officer""#,
            r#""expires_at":"2026-11-28T12:00:00Z","officer""#,
        );
        let e = parse("trip.arm", body.as_bytes()).unwrap();
        assert_eq!(e.check_fresh(at("2026-11-28T12:00:00Z")), Ok(()));
        let err = e.check_fresh(at("2026-11-28T12:00:01Z")).unwrap_err();
        assert!(err.contains("expired at 2026-11-28T12:00:00Z"), "{err}");
        let bad = ARM.replace(r#""officer""#, r#""expires_at":"soon","officer""#);
        let r = parse("trip.arm", bad.as_bytes()).unwrap_err();
        assert!(r.error.starts_with("malformed command"), "{}", r.error);
        assert_eq!(r.command_id.unwrap().as_str(), "c-1");
    }

    #[test]
    fn test_outcome_event_and_result() {
        let id = CommandId::new("c-9").unwrap();
        let name: Ident<24> = "trip.disarm".parse().unwrap();
        let bad: Result<(), String> = Err("é".repeat(80));
        let e = outcome_event(Some(&id), Some(&name), &bad, Timestamp::UNIX_EPOCH);
        assert!(matches!(e.kind, EventKind::CommandRejected(ref r) if r.error.len() <= 96));
        let v: serde_json::Value =
            serde_json::from_slice(&result_payload(Some(&id), Some("trip.disarm"), &bad, true))
                .unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["command_id"], "c-9");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2_000, ..Default::default() })]

            /// Any name and payload gives a command or a rejection, never a panic; the
            /// answer is JSON with the right `ok`, and the recorded event encodes.
            #[test]
            fn prop_any_command_is_answered(
                name in prop_oneof![
                    Just("trip.arm".to_string()),
                    Just("trip.disarm".to_string()),
                    Just("zone.update".to_string()),
                    ".{0,40}",
                ],
                payload in prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..512),
                    // ARM with one byte changed: mostly still JSON, often still valid.
                    (0..ARM.len(), any::<u8>()).prop_map(|(i, b)| {
                        let mut p = ARM.as_bytes().to_vec();
                        p[i] = b;
                        p
                    }),
                ],
            ) {
                let (id, command, outcome) = match parse(&name, &payload) {
                    Ok(e) => (Some(e.command_id), Ident::<24>::new(&name).ok(), Ok(())),
                    Err(r) => (r.command_id, r.command, Err(r.error)),
                };
                let answer = result_payload(id.as_ref(), command.as_deref(), &outcome, true);
                let v: serde_json::Value = serde_json::from_slice(&answer).unwrap();
                prop_assert_eq!(v["ok"].as_bool(), Some(outcome.is_ok()));
                let at = Timestamp::from_unix_seconds(0);
                let event = outcome_event(id.as_ref(), command.as_ref(), &outcome, at);
                prop_assert!(crate::payload::encode(&event, crate::payload::Encoding::Json).is_ok());
            }
        }
    }
}
