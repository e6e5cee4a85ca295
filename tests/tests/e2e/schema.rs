//! Every event type, in its smallest and its fullest form, encoded by the gateway's payload
//! encoder (JSON and CBOR) and validated against `docs/schema/event.v1.json`.

use ects_firmware::event::*;
use ects_firmware::text::Text;
use ects_firmware::time::Timestamp;
use ects_gateway::payload::{Encoding, encode, to_json_value};
use ects_tools::verify::EventValidator;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn t<const N: usize>(s: &str) -> Text<N> {
    Text::new(s).unwrap()
}

/// One `EventKind` per type. `full` sets every optional field. No wildcard arm: a new
/// event type does not compile until it has a sample here, so it cannot miss the schema.
fn sample(ty: EventType, full: bool) -> EventKind {
    let zone = || "busia-yard".parse().unwrap();
    let corridor = || "northern-corridor".parse().unwrap();
    match ty {
        EventType::Position => EventKind::Position(PositionReport { buffered: full }),
        EventType::SealOpened => EventKind::SealOpened(SealOpened {
            lock: full.then_some(2),
            method: UnlockMethod::Card,
        }),
        EventType::SealClosed => EventKind::SealClosed(SealClosed {
            lock: full.then_some(1),
        }),
        EventType::SealTampered => EventKind::SealTampered(SealTampered {
            lock: full.then_some(1),
            tamper: TamperKind::CaseOpen,
        }),
        EventType::SealLowBattery => EventKind::SealLowBattery(SealLowBattery {
            lock: full.then_some(3),
            battery_pct: full.then_some(9),
            battery_mv: full.then_some(3_410),
        }),
        EventType::SealWrongCredentials => EventKind::SealWrongCredentials(SealWrongCredentials {
            lock: full.then_some(1),
            method: UnlockMethod::Password,
            attempts: full.then_some(3),
        }),
        EventType::SealSpoofed => EventKind::SealSpoofed(SealSpoofed {
            reason: SpoofReason::Replayed,
            counter: full.then_some(41),
        }),
        EventType::RouteDeviation => EventKind::RouteDeviation(RouteDeviation {
            corridor: corridor(),
            distance_m: 812.5,
            width_m: 500.0,
            reason: ects_firmware::event::DeviationReason::Outside,
        }),
        EventType::RouteReturned => EventKind::RouteReturned(RouteReturned {
            corridor: corridor(),
            distance_m: 120.0,
            outside_s: 1_260,
        }),
        EventType::StopUnauthorized => EventKind::StopUnauthorized(StopUnauthorized {
            dwell_s: 2_700,
            limit_s: 1_800,
        }),
        EventType::StopOverstay => EventKind::StopOverstay(StopOverstay {
            zone: zone(),
            dwell_s: 8_000,
            limit_s: 7_200,
        }),
        EventType::TransitOverdue => EventKind::TransitOverdue(TransitOverdue {
            deadline: ts("2026-11-30T18:00:00Z"),
            overdue_s: 3_600,
        }),
        EventType::ZoneEntered => EventKind::ZoneEntered(ZoneCrossing {
            zone: zone(),
            zone_kind: ZoneKind::CustomsYard,
        }),
        EventType::ZoneExited => EventKind::ZoneExited(ZoneCrossing {
            zone: zone(),
            zone_kind: ZoneKind::BorderPost,
        }),
        EventType::GpsLost => EventKind::GpsLost(GpsLost {
            last_fix_age_s: 30,
            last_speed_mps: full.then_some(22.2),
        }),
        EventType::GpsRestored => EventKind::GpsRestored(GpsRestored { outage_s: 95 }),
        EventType::GpsJamming => EventKind::GpsJamming(GpsJamming {
            cn0_drop_db: full.then_some(17.5),
            receiver_flag: full,
        }),
        EventType::GpsJump => EventKind::GpsJump(GpsJump {
            distance_m: 41_000.0,
            elapsed_s: 1.0,
            implied_speed_mps: 41_000.0,
        }),
        EventType::TripArmed => EventKind::TripArmed(TripArmed {
            officer: t("KRA-04417"),
            corridor: corridor(),
            origin: "mombasa-port".parse().unwrap(),
            destination: "kampala-icd".parse().unwrap(),
            deadline: ts("2026-12-02T18:00:00Z"),
        }),
        EventType::TripDisarmed => EventKind::TripDisarmed(TripDisarmed {
            officer: t("URA-1102"),
            zone: full.then(zone),
        }),
        EventType::EnclosureOpened => EventKind::EnclosureOpened(NoDetails {}),
        EventType::SourceLost => EventKind::SourceLost(SourceLost {
            source: "gps0".parse().unwrap(),
        }),
        EventType::SourceRestored => EventKind::SourceRestored(SourceRestored {
            source: "gps0".parse().unwrap(),
            outage_s: 2,
        }),
        EventType::GatewayStarted => EventKind::GatewayStarted(GatewayStarted {
            version: t(ects_gateway::VERSION),
            unclean_shutdown: full,
        }),
        EventType::GatewayDropped => EventKind::GatewayDropped(GatewayDropped {
            count: 1_234,
            reason: DropReason::Evicted,
            worst: Severity::Info,
            first_seq: full.then_some(100),
            last_seq: full.then_some(1_333),
        }),
        EventType::CommandApplied => EventKind::CommandApplied(CommandApplied {
            command_id: t("c-0001"),
            command: "trip.arm".parse().unwrap(),
        }),
        EventType::CommandRejected => EventKind::CommandRejected(CommandRejected {
            command_id: full.then_some(t("c-0002")),
            command: full.then(|| "trip.disarm".parse().unwrap()),
            error: t("officer id missing"),
        }),
    }
}

fn event(ty: EventType, full: bool) -> Event {
    let mut e = Event::new(sample(ty, full), ts("2026-11-28T10:00:02.5Z"));
    assert_eq!(e.event_type(), ty);
    e.id = Some("ke-malaba-01:42".parse().unwrap());
    if full {
        e.trip = Some(t("22MBAIM400123456"));
        e.vehicle = Some(t("KCX 123A / ZF 4411"));
        e.seal = Some(t("JT701-000123"));
        e.device = Some(DeviceRef {
            protocol: Protocol::Jt808,
            id: t("013912345678"),
        });
        let mut p = Position::new(0.6346, 34.2759, true).unwrap();
        p.fix_time = Some(ts("2026-11-28T10:00:00Z"));
        p.speed_mps = Some(13.9);
        p.track_deg = Some(271.5);
        p.alt_msl_m = Some(1_219.0);
        p.hdop = Some(0.9);
        p.satellites = Some(11);
        e.position = Some(p);
        e.device_time = Some(ts("2026-11-28T10:00:01.000123Z"));
    }
    e
}

#[test]
fn every_event_type_validates_in_both_encodings() {
    let validator = EventValidator::v1().unwrap();
    let mut checked = 0;
    for &ty in EventType::ALL {
        for full in [false, true] {
            let e = event(ty, full);
            for encoding in [Encoding::Json, Encoding::Cbor] {
                let bytes = encode(&e, encoding).unwrap();
                let value = to_json_value(&bytes).unwrap();
                assert_eq!(value["type"], ty.as_str());
                let errors = validator.errors(&value);
                assert!(
                    errors.is_empty(),
                    "{ty} full={full} {encoding:?}: {errors:?}\n{value}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, EventType::ALL.len() * 4);
}

#[test]
fn schema_lists_exactly_the_model_types() {
    let schema: serde_json::Value =
        serde_json::from_str(ects_tools::verify::EVENT_SCHEMA_V1).unwrap();
    let mut in_schema: Vec<&str> = schema["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut in_model: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    in_schema.sort_unstable();
    in_model.sort_unstable();
    assert_eq!(in_schema, in_model);
}

#[test]
fn details_of_another_type_are_refused() {
    // The schema ties `details` to `type`: swapping them must fail validation.
    let validator = EventValidator::v1().unwrap();
    let mut value =
        to_json_value(&encode(&event(EventType::RouteDeviation, true), Encoding::Json).unwrap())
            .unwrap();
    value["type"] = "gps.jump".into();
    assert!(!validator.errors(&value).is_empty());
}

#[test]
fn mqtt_doc_names_every_type() {
    let doc = std::fs::read_to_string(ects_e2e::repo_root().join("docs/mqtt.md")).unwrap();
    for ty in EventType::ALL {
        assert!(
            doc.contains(&format!("`{}`", ty.as_str())),
            "docs/mqtt.md does not document {ty}"
        );
    }
}

#[test]
fn cbor_is_smaller_than_json_for_every_full_event() {
    // Sizes are deterministic; BENCHMARKS.md quotes this table (`--nocapture` prints it).
    let (mut json_total, mut cbor_total) = (0, 0);
    for &ty in EventType::ALL {
        let e = event(ty, true);
        let json = encode(&e, Encoding::Json).unwrap().len();
        let cbor = encode(&e, Encoding::Cbor).unwrap().len();
        eprintln!("{:<24} json {json:>4} B  cbor {cbor:>4} B", ty.as_str());
        assert!(cbor < json, "{ty}: cbor {cbor} >= json {json}");
        json_total += json;
        cbor_total += cbor;
    }
    eprintln!(
        "{:<24} json {json_total:>4} B  cbor {cbor_total:>4} B",
        "total"
    );
}
