//! Fuzzes central's commands as the gateway receives them from the broker: the command name
//! (a topic level) and payload through `command::parse`, then — when they validate — applied
//! to a real monitor (a small corridor and two zones), answered (`result_payload` must be
//! JSON) and recorded (`outcome_event` must encode). Nothing may panic.
//!
//! Input: the first byte picks one of the known command names (or, above them, the name is
//! taken from the input up to the first NUL); the rest is the payload.
//!
//! Run: `cargo +nightly fuzz run command` from the repository root.

#![no_main]

use std::path::Path;
use std::sync::Mutex;

use ects_firmware::monitor::MonitorConfig;
use ects_firmware::time::{Duration, Timestamp};
use ects_gateway::command::{outcome_event, parse, result_payload};
use ects_gateway::monitor::{GatewayMonitor, MonitorSettings, corridors_from_str, zones_from_str};
use ects_gateway::payload::{Encoding, encode};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = [
    "trip.arm",
    "trip.disarm",
    "corridor.update",
    "zone.update",
    "status.request",
    "trip.bogus",
];

const CORRIDOR: &str = r#"{"type":"Feature","properties":{"id":"c1","half_width_m":200},
    "geometry":{"type":"LineString","coordinates":[[30.0,0.0],[30.1,0.0]]}}"#;
const ZONES: &str = r#"{"type":"FeatureCollection","features":[
    {"type":"Feature","properties":{"id":"o","kind":"origin","radius_m":300},
     "geometry":{"type":"Point","coordinates":[30.0,0.0]}},
    {"type":"Feature","properties":{"id":"d","kind":"destination","radius_m":300},
     "geometry":{"type":"Point","coordinates":[30.1,0.0]}}]}"#;

fn monitor() -> GatewayMonitor {
    let settings = MonitorSettings {
        config: MonitorConfig::default(),
        corridors: corridors_from_str(Path::new("c.geojson"), CORRIDOR, 1000.0).unwrap(),
        zones: zones_from_str(Path::new("z.geojson"), ZONES).unwrap(),
        trips: Vec::new(),
        max_segment_m: 1000.0,
        keep_disarmed: Duration::from_secs(3600),
    };
    GatewayMonitor::new(settings, Timestamp::from_unix_seconds(0), &mut Vec::new())
}

// One monitor across runs, as in the gateway: commands accumulate (trips, geometry).
static MONITOR: Mutex<Option<GatewayMonitor>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let (name, payload) = match NAMES.get(usize::from(first)) {
        Some(name) => (name.to_string(), rest),
        None => {
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let Ok(name) = std::str::from_utf8(&rest[..end]) else {
                return;
            };
            (name.to_string(), rest.get(end + 1..).unwrap_or(&[]))
        }
    };
    let now = Timestamp::from_unix_seconds(1_764_345_600);
    let (id, command, outcome) = match parse(&name, payload) {
        Err(r) => (r.command_id, r.command, Err(r.error)),
        Ok(envelope) => {
            let mut guard = MONITOR.lock().unwrap_or_else(|e| e.into_inner());
            let m = guard.get_or_insert_with(monitor);
            if m.trip_count() > 1_000 || m.geometry_updates().len() > 100 {
                *m = monitor();
            }
            let mut out = Vec::new();
            let outcome = m.apply(&envelope, now, &mut out);
            for event in &out {
                encode(event, Encoding::Json).expect("a trip event encodes");
                encode(event, Encoding::Cbor).expect("a trip event encodes");
            }
            let name = ects_firmware::text::Ident::<24>::new(&name).ok();
            (Some(envelope.command_id), name, outcome)
        }
    };
    let result = result_payload(id.as_ref(), command.as_deref(), &outcome, true);
    let v: serde_json::Value = serde_json::from_slice(&result).expect("the result is JSON");
    assert_eq!(v["ok"].as_bool(), Some(outcome.is_ok()));
    let event = outcome_event(id.as_ref(), command.as_ref(), &outcome, now);
    encode(&event, Encoding::Json).expect("the outcome event encodes");
});
