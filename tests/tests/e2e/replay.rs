//! Corridor-monitor scenarios on the Northern Corridor, through `ects-gateway replay` as
//! a real process: NMEA generated along the corridor (with detours, stops, noise and a
//! seal cut written into it) in, published payloads out.
//!
//! Every scenario drives a truck from the Mombasa origin zone along the corridor line
//! (`firmware/tests/data/corridors/northern-corridor-waypoints.geojson`). "Alarms" are the
//! event types other than `trip.armed`, `position`, `zone.entered` and `zone.exited`.

use std::path::{Path, PathBuf};
use std::process::Command;

use ects_e2e::{bin, repo_root};
use ects_tools::sim::{self, LatLon, Leg, Route, Script, SimFix, rfc3339};
use serde_json::{Value, json};

pub(crate) const DECLARATION: &str = "22MBAIM400123456";
const SEAL: &str = "022043756090";
/// 2026-11-30T06:00:00Z.
const START: i64 = 1_796_018_400;

pub(crate) fn route() -> Route {
    let path =
        repo_root().join("firmware/tests/data/corridors/northern-corridor-waypoints.geojson");
    Route::from_geojson(&std::fs::read_to_string(path).unwrap(), None).unwrap()
}

fn script(legs: Vec<Leg>, interval_s: i64, noise_m: f64, outlier_every: u64) -> Script {
    Script {
        legs,
        start: START,
        interval_s,
        speed_mps: 25.0,
        noise_m,
        outlier_every,
        seed: 0x2545_F491_4F6C_DD1D,
    }
}

fn nmea(fixes: &[SimFix]) -> String {
    fixes.iter().map(sim::nmea_epoch).collect()
}

/// Writes the corridor (half-width `w`), the zones and the config into `dir`.
fn setup(dir: &Path, w: f64, extra_zones: &[Value], monitor_extra: &str) -> PathBuf {
    setup_service(dir, w, extra_zones, monitor_extra, START, "", "")
}

/// [`setup`] for a service: trip deadline 3 days after `start`, `gateway_extra` lines in
/// `[gateway]`, `extra` tables (uplink, sources) at the end; gateway id `ke-test-01`.
pub(crate) fn setup_service(
    dir: &Path,
    w: f64,
    extra_zones: &[Value],
    monitor_extra: &str,
    start: i64,
    gateway_extra: &str,
    extra: &str,
) -> PathBuf {
    let route = route();
    let line: Vec<Value> = route
        .vertices
        .iter()
        .map(|p| json!([p.lon, p.lat]))
        .collect();
    let corridors = json!({"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "properties": {"id": "northern", "half_width_m": w},
        "geometry": {"type": "LineString", "coordinates": line}}]});
    std::fs::write(dir.join("corridors.geojson"), corridors.to_string()).unwrap();
    let (first, last) = (route.vertices[0], *route.vertices.last().unwrap());
    let circle = |id: &str, kind: &str, p: LatLon, r: f64, dwell: Option<u32>| {
        json!({"type": "Feature",
            "properties": {"id": id, "kind": kind, "radius_m": r, "dwell_limit_s": dwell},
            "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]}})
    };
    let mut zones = vec![
        circle("mombasa-port", "origin", first, 3000.0, None),
        circle("kigali-icd", "destination", last, 3000.0, None),
        circle(
            "malaba",
            "border_post",
            LatLon {
                lat: 0.6380,
                lon: 34.2684,
            },
            1500.0,
            Some(6 * 3600),
        ),
    ];
    zones.extend_from_slice(extra_zones);
    let zones = json!({"type": "FeatureCollection", "features": zones});
    std::fs::write(dir.join("zones.geojson"), zones.to_string()).unwrap();
    let config = format!(
        r#"[gateway]
id = "ke-test-01"
{gateway_extra}

[positions]
interval_s = 600

[monitor]
corridors = ["corridors.geojson"]
zones = ["zones.geojson"]
stop_limit_s = 1800
{monitor_extra}

[[trips]]
declaration = "{DECLARATION}"
vehicle = "KCX 123A / ZD 4567"
seals = ["{SEAL}"]
corridor = "northern"
origin = "mombasa-port"
destination = "kigali-icd"
deadline = "{}"
officer = "KRA-0042"
gps = "gps"

{extra}
"#,
        rfc3339(start + 3 * 86_400)
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, config).unwrap();
    path
}

fn replay(config: &Path, gps: &Path, seal: Option<&Path>) -> Vec<Value> {
    let mut cmd = Command::new(bin("ects-gateway"));
    cmd.arg("replay")
        .arg("--config")
        .arg(config)
        .arg("--gps")
        .arg(gps);
    if let Some(s) = seal {
        cmd.arg("--seal").arg(format!("teratrack:{}", s.display()));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A fresh scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = ects_e2e::scratch(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const ROUTINE: [&str; 4] = ["trip.armed", "position", "zone.entered", "zone.exited"];

fn alarms(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .filter(|t| !ROUTINE.contains(&t.as_str()))
        .collect()
}

/// Replays the drive `legs` (a [`sim::parse_legs`] script) with fixes every 10 s.
fn run(name: &str, w: f64, legs: &str, noise: f64, extra_zones: &[Value]) -> Vec<Value> {
    run_with(
        name,
        w,
        script(sim::parse_legs(legs).unwrap(), 10, noise, 0),
        extra_zones,
        "",
    )
}

fn run_with(
    name: &str,
    w: f64,
    script: Script,
    extra_zones: &[Value],
    monitor_extra: &str,
) -> Vec<Value> {
    let dir = scratch(name);
    let config = setup(&dir, w, extra_zones, monitor_extra);
    let gps = dir.join("gps.nmea");
    std::fs::write(&gps, nmea(&sim::generate(&route(), &script))).unwrap();
    replay(&config, &gps, None)
}

#[test]
fn clean_trip_gives_no_alarm_at_25_m_500_m_and_2_km() {
    for (w, noise) in [(25.0, 5.0), (500.0, 30.0), (2000.0, 30.0)] {
        let events = run(&format!("replay-clean-{w}"), w, "end", noise, &[]);
        assert!(alarms(&events).is_empty(), "W = {w}: {:?}", alarms(&events));
        let zones: Vec<&str> = events
            .iter()
            .filter(|e| e["type"] == "zone.entered")
            .map(|e| e["details"]["zone"].as_str().unwrap())
            .collect();
        assert_eq!(zones, ["mombasa-port", "malaba", "kigali-icd"], "W = {w}");
        // Every event carries the trip; positions are thinned to one per 10 minutes.
        assert!(events.iter().all(|e| e["trip"] == DECLARATION));
        let positions = events.iter().filter(|e| e["type"] == "position").count();
        let hours = route().length() / 25.0 / 3600.0;
        assert!(
            (positions as f64) < hours * 6.0 + 5.0,
            "{positions} positions"
        );
    }
}

#[test]
fn a_2_km_detour_gives_one_deviation_and_one_return() {
    // 2 km off the line between 600 and 610 km, ramping over 1 km each way.
    let events = run(
        "replay-detour",
        500.0,
        "detour:600-610@2000, end",
        30.0,
        &[],
    );
    assert_eq!(alarms(&events), ["route.deviation", "route.returned"]);
    let dev = events
        .iter()
        .find(|e| e["type"] == "route.deviation")
        .unwrap();
    assert_eq!(dev["severity"], "critical");
    assert_eq!(dev["details"]["reason"], "outside");
    assert_eq!(dev["details"]["corridor"], "northern");
    let d = dev["details"]["distance_m"].as_f64().unwrap();
    assert!(d > 525.0 && d < 2100.0, "{d}");
    let back = events
        .iter()
        .find(|e| e["type"] == "route.returned")
        .unwrap();
    let outside = back["details"]["outside_s"].as_u64().unwrap();
    // About 11–12 km off-corridor at 25 m/s.
    assert!((300..=600).contains(&outside), "{outside}");
}

#[test]
fn a_40_minute_stop_outside_any_zone_gives_one_unauthorized_stop() {
    let events = run("replay-stop", 500.0, "drive:300, stop:40, end", 30.0, &[]);
    assert_eq!(alarms(&events), ["stop.unauthorized"]);
    let e = events
        .iter()
        .find(|e| e["type"] == "stop.unauthorized")
        .unwrap();
    assert_eq!(e["details"]["limit_s"], 1800);
    assert_eq!(e["severity"], "warning");
}

#[test]
fn a_10_minute_stop_in_a_rest_stop_with_a_30_minute_limit_gives_none() {
    let (p, _) = route().at(300_000.0, 0.0);
    let rest = json!({"type": "Feature",
        "properties": {"id": "mtito-andei-rest", "kind": "rest_stop", "radius_m": 400.0, "dwell_limit_s": 1800},
        "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]}});
    let rest = std::slice::from_ref(&rest);
    let events = run("replay-rest", 500.0, "drive:300, stop:10, end", 30.0, rest);
    assert!(alarms(&events).is_empty(), "{:?}", alarms(&events));
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "zone.entered" && e["details"]["zone"] == "mtito-andei-rest")
    );
    // The same stop for 40 minutes overstays the rest stop's limit once, and is not an
    // unauthorized stop (the zone allows stopping).
    let events = run(
        "replay-rest-long",
        500.0,
        "drive:300, stop:40, end",
        30.0,
        rest,
    );
    assert_eq!(alarms(&events), ["stop.overstay"]);
}

#[test]
fn a_seal_cut_100_km_before_the_destination_is_critical() {
    let dir = scratch("replay-seal");
    let config = setup(&dir, 500.0, &[], "");
    let route = route();
    let fixes = sim::generate(
        &route,
        &script(sim::parse_legs("end").unwrap(), 10, 30.0, 0),
    );
    let gps = dir.join("gps.nmea");
    std::fs::write(&gps, nmea(&fixes)).unwrap();
    let cut = fixes
        .iter()
        .find(|f| f.along_m >= route.length() - 100_000.0)
        .unwrap();
    let seal = dir.join("seal.txt");
    let frame = sim::teratrack_frame(SEAL, 20, cut, sim::LockState::Cut);
    std::fs::write(&seal, format!("{frame}\n")).unwrap();
    let events = replay(&config, &gps, Some(&seal));
    assert_eq!(alarms(&events), ["seal.tampered"]);
    let e = events
        .iter()
        .find(|e| e["type"] == "seal.tampered")
        .unwrap();
    assert_eq!(e["severity"], "critical");
    assert_eq!(e["trip"], DECLARATION);
    assert_eq!(e["details"]["tamper"], "cut");
    assert_eq!(e["device"]["id"], SEAL);
    assert_eq!(e["device_time"], rfc3339(cut.t));
}

#[test]
fn a_noisy_track_along_the_corridor_edge_does_not_flap() {
    // 1 Hz for 100 km, 20 m inside the 500 m edge, ±30 m noise, one fix in 37 thrown
    // 300 m sideways: no deviation, no jump.
    let legs = sim::parse_legs("drive:100@480").unwrap();
    let events = run_with(
        "replay-noisy",
        500.0,
        script(legs.clone(), 1, 30.0, 37),
        &[],
        "",
    );
    assert!(alarms(&events).is_empty(), "{:?}", alarms(&events));
    assert!(events.iter().filter(|e| e["type"] == "position").count() >= 6);
    // Not vacuous: without confirmation and margin, the same track flaps.
    let raw = "confirm_fixes = 1\nconfirm_s = 0\nmargin_m = 0.0";
    let events = run_with(
        "replay-noisy-raw",
        500.0,
        script(legs, 1, 30.0, 37),
        &[],
        raw,
    );
    let deviations = alarms(&events)
        .iter()
        .filter(|t| *t == "route.deviation")
        .count();
    assert!(
        deviations > 10,
        "{deviations} deviations without hysteresis"
    );
}

#[test]
fn replay_is_deterministic_and_its_output_verifies() {
    let dir = scratch("replay-determinism");
    let config = setup(&dir, 500.0, &[], "");
    let legs = sim::parse_legs("detour:600-610@2000, end").unwrap();
    let gps = dir.join("gps.nmea");
    std::fs::write(
        &gps,
        nmea(&sim::generate(&route(), &script(legs, 10, 30.0, 0))),
    )
    .unwrap();
    let run = || {
        Command::new(bin("ects-gateway"))
            .args(["replay", "--config"])
            .arg(&config)
            .arg("--gps")
            .arg(&gps)
            .output()
            .unwrap()
    };
    let (a, b) = (run(), run());
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout, "same input, same bytes");
    let out = dir.join("out.jsonl");
    std::fs::write(&out, &a.stdout).unwrap();
    let verify = Command::new(bin("ects-tools"))
        .arg("verify")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    // Ids are consecutive from 1.
    let ids: Vec<String> = String::from_utf8(a.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(id, &format!("ke-test-01:{}", i + 1));
    }
}

#[test]
fn broken_geometry_is_named_by_file_and_feature() {
    let dir = scratch("replay-broken");
    let config = setup(&dir, 500.0, &[], "");
    let bad = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "ok", "kind": "rest_stop", "radius_m": 100.0},
         "geometry": {"type": "Point", "coordinates": [30.0, 0.0]}},
        {"type": "Feature", "properties": {"id": "bowtie", "kind": "customs_yard"},
         "geometry": {"type": "Polygon", "coordinates": [[[30.0, 0.0], [30.0, 0.0]]]}}]});
    std::fs::write(dir.join("zones.geojson"), bad.to_string()).unwrap();
    let gps = dir.join("gps.nmea");
    std::fs::write(&gps, "").unwrap();
    let out = Command::new(bin("ects-gateway"))
        .args(["replay", "--config"])
        .arg(&config)
        .arg("--gps")
        .arg(&gps)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("zones.geojson: feature 2 (id \"bowtie\"): a polygon ring needs 3 to"),
        "{err}"
    );
}

#[test]
fn jamming_is_told_from_a_tunnel() {
    let events = run(
        "replay-jammed",
        500.0,
        "drive:200, jam:300, drive:400",
        30.0,
        &[],
    );
    assert_eq!(alarms(&events), ["gps.jamming", "gps.restored"]);
    let jam = events.iter().find(|e| e["type"] == "gps.jamming").unwrap();
    assert_eq!(jam["severity"], "critical");
    assert_eq!(jam["details"]["receiver_flag"], false);
    assert!(jam["details"]["cn0_drop_db"].as_f64().unwrap() >= 20.0);
    let events = run(
        "replay-tunnel",
        500.0,
        "drive:200, tunnel:300, drive:400",
        30.0,
        &[],
    );
    assert_eq!(alarms(&events), ["gps.lost", "gps.restored"]);
    let lost = events.iter().find(|e| e["type"] == "gps.lost").unwrap();
    let speed = lost["details"]["last_speed_mps"].as_f64().unwrap();
    assert!((speed - 25.0).abs() < 0.01, "{speed}");
    let restored = events.iter().find(|e| e["type"] == "gps.restored").unwrap();
    let outage = restored["details"]["outage_s"].as_u64().unwrap();
    assert!((300..=320).contains(&outage), "{outage}");
}
