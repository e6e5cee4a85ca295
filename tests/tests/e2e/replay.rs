//! Corridor-monitor scenarios on the Northern Corridor, through `ects-gateway replay` as
//! a real process: NMEA generated along the corridor (with detours, stops, noise and a
//! seal cut written into it) in, published payloads out.
//!
//! Every scenario drives a truck from the Mombasa origin zone along the corridor line
//! (`firmware/tests/data/corridors/northern-corridor-waypoints.geojson`). "Alarms" are the
//! event types other than `trip.armed`, `position`, `zone.entered` and `zone.exited`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use ects_e2e::{bin, repo_root};
use serde_json::{Value, json};

const DECLARATION: &str = "22MBAIM400123456";
const SEAL: &str = "022043756090";
/// 2026-11-28T06:00:00Z.
const START: i64 = 1_796_018_400;

#[derive(Clone, Copy)]
struct LatLon {
    lat: f64,
    lon: f64,
}

fn corridor_line() -> Vec<LatLon> {
    let path =
        repo_root().join("firmware/tests/data/corridors/northern-corridor-waypoints.geojson");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let line = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["geometry"]["type"] == "LineString")
        .unwrap();
    line["geometry"]["coordinates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| LatLon {
            lat: c[1].as_f64().unwrap(),
            lon: c[0].as_f64().unwrap(),
        })
        .collect()
}

/// Metres per degree (east, north) at `lat`, WGS 84.
fn scale(lat: f64) -> (f64, f64) {
    let (a, e2) = (6_378_137.0f64, 6.694_379_990_141_316e-3f64);
    let phi = lat.to_radians();
    let w2 = 1.0 - e2 * phi.sin().powi(2);
    let n = a / w2.sqrt();
    let m = a * (1.0 - e2) / (w2 * w2.sqrt());
    (
        n * phi.cos() * std::f64::consts::PI / 180.0,
        m * std::f64::consts::PI / 180.0,
    )
}

/// The corridor as a walkable line: cumulative lengths in metres.
struct Route {
    v: Vec<LatLon>,
    cum: Vec<f64>,
}

impl Route {
    fn new() -> Route {
        let v = corridor_line();
        let mut cum = vec![0.0];
        for w in v.windows(2) {
            let (kx, ky) = scale((w[0].lat + w[1].lat) / 2.0);
            let (dx, dy) = ((w[1].lon - w[0].lon) * kx, (w[1].lat - w[0].lat) * ky);
            cum.push(cum.last().unwrap() + dx.hypot(dy));
        }
        Route { v, cum }
    }

    fn length(&self) -> f64 {
        *self.cum.last().unwrap()
    }

    /// The point `s` metres along, moved `offset` metres to the left of travel, and the
    /// course there.
    fn at(&self, s: f64, offset: f64) -> (LatLon, f64) {
        let s = s.clamp(0.0, self.length());
        let k = self
            .cum
            .partition_point(|c| *c <= s)
            .clamp(1, self.v.len() - 1)
            - 1;
        let (a, b) = (self.v[k], self.v[k + 1]);
        let f = (s - self.cum[k]) / (self.cum[k + 1] - self.cum[k]);
        let p = LatLon {
            lat: a.lat + (b.lat - a.lat) * f,
            lon: a.lon + (b.lon - a.lon) * f,
        };
        let (kx, ky) = scale(p.lat);
        let (dx, dy) = ((b.lon - a.lon) * kx, (b.lat - a.lat) * ky);
        let len = dx.hypot(dy);
        // Left normal of the travel direction (dx, dy) is (-dy, dx).
        let (nx, ny) = (-dy / len * offset, dx / len * offset);
        let course = dx.atan2(dy).to_degrees().rem_euclid(360.0);
        (
            LatLon {
                lat: p.lat + ny / ky,
                lon: p.lon + nx / kx,
            },
            course,
        )
    }
}

/// Deterministic noise.
struct Rng(u64);
impl Rng {
    fn signed(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// What the truck does: drive to a chainage, or stand still.
enum Leg {
    /// Drive to `to_m` along the route, `offset(s)` metres left of the centre line.
    Drive { to_m: f64, offset: fn(f64) -> f64 },
    /// Stand for this many seconds.
    Stop { secs: i64 },
    /// Drive on for this many seconds without a fix: jammed (satellites tracked at
    /// 20 dB-Hz instead of 42) or shaded (no satellite in view, as in a tunnel).
    Outage { secs: i64, jammed: bool },
}

/// What the receiver says about a fix.
#[derive(Clone, Copy, PartialEq)]
enum Sky {
    /// A 3D fix, eight satellites at 42 dB-Hz.
    Clear,
    /// No fix, eight satellites tracked at 20 dB-Hz.
    Jammed,
    /// No fix, no satellite in view.
    Shaded,
}

struct Trip {
    fixes: Vec<(i64, LatLon, f64, f64, Sky)>, // (unix s, position, speed m/s, course, sky)
}

fn centre(_: f64) -> f64 {
    0.0
}

/// Generates fixes every `interval` s at `speed` m/s through `legs`, with `noise` metres
/// of uniform noise and, when `outlier_every` > 0, one fix in that many thrown 300 m
/// sideways.
fn generate(
    route: &Route,
    legs: &[Leg],
    interval: i64,
    speed: f64,
    noise: f64,
    outlier_every: u64,
) -> Trip {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (mut t, mut s) = (START, 0.0f64);
    let mut fixes = Vec::new();
    let mut n = 0u64;
    let mut emit = |t: i64, s: f64, off: f64, v: f64, sky: Sky, fixes: &mut Vec<_>| {
        n += 1;
        let mut off = off + rng.signed() * noise;
        let along = rng.signed() * noise;
        if outlier_every > 0 && n.is_multiple_of(outlier_every) {
            off += 300.0 * rng.signed().signum();
        }
        let (p, course) = route.at(s + along, off);
        fixes.push((t, p, v, course, sky));
    };
    for leg in legs {
        match *leg {
            Leg::Drive { to_m, offset } => {
                while s < to_m.min(route.length()) {
                    emit(t, s, offset(s), speed, Sky::Clear, &mut fixes);
                    s += speed * interval as f64;
                    t += interval;
                }
            }
            Leg::Stop { secs } => {
                let end = t + secs;
                while t < end {
                    emit(t, s, 0.0, 0.0, Sky::Clear, &mut fixes);
                    t += interval;
                }
            }
            Leg::Outage { secs, jammed } => {
                let end = t + secs;
                let sky = if jammed { Sky::Jammed } else { Sky::Shaded };
                while t < end {
                    emit(t, s, 0.0, speed, sky, &mut fixes);
                    s += speed * interval as f64;
                    t += interval;
                }
            }
        }
    }
    Trip { fixes }
}

fn nmea_checksum(body: &str) -> u8 {
    body.bytes().fold(0, |a, b| a ^ b)
}

fn dm(v: f64, deg_width: usize) -> String {
    let a = v.abs();
    let d = a.trunc();
    let m = (a - d) * 60.0;
    format!("{:0w$}{:08.5}", d as u32, m, w = deg_width)
}

/// RMC + GGA + GSV per fix, as a u-blox receiver would send them.
fn nmea(trip: &Trip) -> String {
    let mut out = String::new();
    for &(t, p, v, course, sky) in &trip.fixes {
        let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
        let (y, mo, d) = civil(days);
        let hms = format!("{:02}{:02}{:02}.00", secs / 3600, secs / 60 % 60, secs % 60);
        let date = format!("{d:02}{mo:02}{:02}", y % 100);
        let mut sentences = Vec::new();
        if sky == Sky::Clear {
            let lat = format!("{},{}", dm(p.lat, 2), if p.lat < 0.0 { 'S' } else { 'N' });
            let lon = format!("{},{}", dm(p.lon, 3), if p.lon < 0.0 { 'W' } else { 'E' });
            let knots = v / 0.514_444;
            sentences.push(format!(
                "GPRMC,{hms},A,{lat},{lon},{knots:.2},{course:.1},{date},,,A"
            ));
            sentences.push(format!(
                "GPGGA,{hms},{lat},{lon},1,08,0.9,1200.0,M,-12.0,M,,"
            ));
        } else {
            sentences.push(format!("GPRMC,{hms},V,,,,,,,{date},,,N"));
            sentences.push(format!("GPGGA,{hms},,,,,0,00,99.99,,,,,,"));
        }
        match sky {
            Sky::Shaded => sentences.push("GPGSV,1,1,00".to_string()),
            Sky::Clear | Sky::Jammed => {
                let snr = if sky == Sky::Clear { 42 } else { 20 };
                for part in 0..2 {
                    let mut gsv = format!("GPGSV,2,{},08", part + 1);
                    for k in 0..4 {
                        let prn = part * 4 + k + 1;
                        let _ = write!(gsv, ",{prn:02},{:02},{:03},{snr}", 20 + 5 * k, 45 * k);
                    }
                    sentences.push(gsv);
                }
            }
        }
        for s in sentences {
            let _ = write!(out, "${s}*{:02X}\r\n", nmea_checksum(&s));
        }
    }
    out
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn rfc3339(t: i64) -> String {
    let (y, mo, d) = civil(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Writes the corridor (half-width `w`), the zones and the config into `dir`.
fn setup(dir: &Path, w: f64, extra_zones: &[Value], monitor_extra: &str) -> PathBuf {
    let route = Route::new();
    let line: Vec<Value> = route.v.iter().map(|p| json!([p.lon, p.lat])).collect();
    let corridors = json!({"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "properties": {"id": "northern", "half_width_m": w},
        "geometry": {"type": "LineString", "coordinates": line}}]});
    std::fs::write(dir.join("corridors.geojson"), corridors.to_string()).unwrap();
    let (first, last) = (route.v[0], *route.v.last().unwrap());
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

[monitor]
corridors = ["corridors.geojson"]
zones = ["zones.geojson"]
stop_limit_s = 1800
position_interval_s = 600
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
"#,
        rfc3339(START + 3 * 86_400)
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

fn run(name: &str, w: f64, legs: &[Leg], noise: f64, extra_zones: &[Value]) -> Vec<Value> {
    run_with(name, w, legs, 10, noise, 0, extra_zones, "")
}

#[allow(clippy::too_many_arguments)]
fn run_with(
    name: &str,
    w: f64,
    legs: &[Leg],
    interval: i64,
    noise: f64,
    outlier_every: u64,
    extra_zones: &[Value],
    monitor_extra: &str,
) -> Vec<Value> {
    let dir = scratch(name);
    let config = setup(&dir, w, extra_zones, monitor_extra);
    let trip = generate(&Route::new(), legs, interval, 25.0, noise, outlier_every);
    let gps = dir.join("gps.nmea");
    std::fs::write(&gps, nmea(&trip)).unwrap();
    replay(&config, &gps, None)
}

fn whole() -> Vec<Leg> {
    vec![Leg::Drive {
        to_m: f64::INFINITY,
        offset: centre,
    }]
}

#[test]
fn clean_trip_gives_no_alarm_at_25_m_500_m_and_2_km() {
    for (w, noise) in [(25.0, 5.0), (500.0, 30.0), (2000.0, 30.0)] {
        let events = run(&format!("replay-clean-{w}"), w, &whole(), noise, &[]);
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
        let hours = Route::new().length() / 25.0 / 3600.0;
        assert!(
            (positions as f64) < hours * 6.0 + 5.0,
            "{positions} positions"
        );
    }
}

fn detour(s: f64) -> f64 {
    // 2 km off the line between 600 and 610 km (ramping over 1 km each way).
    let (a, b) = (600_000.0, 610_000.0);
    if s < a - 1000.0 || s > b + 1000.0 {
        0.0
    } else if s < a {
        2000.0 * (s - (a - 1000.0)) / 1000.0
    } else if s > b {
        2000.0 * ((b + 1000.0) - s) / 1000.0
    } else {
        2000.0
    }
}

#[test]
fn a_2_km_detour_gives_one_deviation_and_one_return() {
    let legs = [Leg::Drive {
        to_m: f64::INFINITY,
        offset: detour,
    }];
    let events = run("replay-detour", 500.0, &legs, 30.0, &[]);
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
    let legs = [
        Leg::Drive {
            to_m: 300_000.0,
            offset: centre,
        },
        Leg::Stop { secs: 40 * 60 },
        Leg::Drive {
            to_m: f64::INFINITY,
            offset: centre,
        },
    ];
    let events = run("replay-stop", 500.0, &legs, 30.0, &[]);
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
    let route = Route::new();
    let (p, _) = route.at(300_000.0, 0.0);
    let rest = json!({"type": "Feature",
        "properties": {"id": "mtito-andei-rest", "kind": "rest_stop", "radius_m": 400.0, "dwell_limit_s": 1800},
        "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]}});
    let legs = [
        Leg::Drive {
            to_m: 300_000.0,
            offset: centre,
        },
        Leg::Stop { secs: 10 * 60 },
        Leg::Drive {
            to_m: f64::INFINITY,
            offset: centre,
        },
    ];
    let events = run(
        "replay-rest",
        500.0,
        &legs,
        30.0,
        std::slice::from_ref(&rest),
    );
    assert!(alarms(&events).is_empty(), "{:?}", alarms(&events));
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "zone.entered" && e["details"]["zone"] == "mtito-andei-rest")
    );
    // The same stop for 40 minutes overstays the rest stop's limit once, and is not an
    // unauthorized stop (the zone allows stopping).
    let legs = [
        Leg::Drive {
            to_m: 300_000.0,
            offset: centre,
        },
        Leg::Stop { secs: 40 * 60 },
        Leg::Drive {
            to_m: f64::INFINITY,
            offset: centre,
        },
    ];
    let events = run("replay-rest-long", 500.0, &legs, 30.0, &[rest]);
    assert_eq!(alarms(&events), ["stop.overstay"]);
}

#[test]
fn a_seal_cut_100_km_before_the_destination_is_critical() {
    let dir = scratch("replay-seal");
    let config = setup(&dir, 500.0, &[], "");
    let route = Route::new();
    let trip = generate(&route, &whole(), 10, 25.0, 30.0, 0);
    let gps = dir.join("gps.nmea");
    std::fs::write(&gps, nmea(&trip)).unwrap();
    let cut_s = route.length() - 100_000.0;
    let &(t, p, ..) = trip
        .fixes
        .iter()
        .find(|(t, ..)| (*t - START) as f64 * 25.0 >= cut_s)
        .unwrap();
    let frame =
        std::fs::read_to_string(repo_root().join("firmware/tests/data/seal-frames/teratrack.txt"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string();
    let (y, mo, d) = civil(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    let when = format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    let frame = frame
        .replace("2022-03-09 10:56:01", &when)
        .replace("\"LockCutOff\":\"0\"", "\"LockCutOff\":\"1\"")
        .replace("-6.846451", &format!("{:.6}", p.lat))
        .replace("39.316324", &format!("{:.6}", p.lon));
    let seal = dir.join("seal.txt");
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
    assert_eq!(e["device_time"], rfc3339(t));
}

fn edge_inside(_: f64) -> f64 {
    480.0
}

#[test]
fn a_noisy_track_along_the_corridor_edge_does_not_flap() {
    // 1 Hz for 100 km, 20 m inside the 500 m edge, ±30 m noise, one fix in 37 thrown
    // 300 m sideways: no deviation, no jump.
    let legs = [Leg::Drive {
        to_m: 100_000.0,
        offset: edge_inside,
    }];
    let events = run_with("replay-noisy", 500.0, &legs, 1, 30.0, 37, &[], "");
    assert!(alarms(&events).is_empty(), "{:?}", alarms(&events));
    assert!(events.iter().filter(|e| e["type"] == "position").count() >= 6);
    // Not vacuous: without confirmation and margin, the same track flaps.
    let raw = "confirm_fixes = 1\nconfirm_s = 0\nmargin_m = 0.0";
    let events = run_with("replay-noisy-raw", 500.0, &legs, 1, 30.0, 37, &[], raw);
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
    let legs = [Leg::Drive {
        to_m: f64::INFINITY,
        offset: detour,
    }];
    let dir = scratch("replay-determinism");
    let config = setup(&dir, 500.0, &[], "");
    let trip = generate(&Route::new(), &legs, 10, 25.0, 30.0, 0);
    let gps = dir.join("gps.nmea");
    std::fs::write(&gps, nmea(&trip)).unwrap();
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
    let verify = Command::new(bin("ects-tools"))
        .arg("verify")
        .stdin(
            std::fs::File::open({
                let p = dir.join("out.jsonl");
                std::fs::write(&p, &a.stdout).unwrap();
                p
            })
            .unwrap(),
        )
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
    let legs = |jammed| {
        [
            Leg::Drive {
                to_m: 200_000.0,
                offset: centre,
            },
            Leg::Outage { secs: 300, jammed },
            Leg::Drive {
                to_m: 400_000.0,
                offset: centre,
            },
        ]
    };
    let events = run("replay-jammed", 500.0, &legs(true), 30.0, &[]);
    assert_eq!(alarms(&events), ["gps.jamming", "gps.restored"]);
    let jam = events.iter().find(|e| e["type"] == "gps.jamming").unwrap();
    assert_eq!(jam["severity"], "critical");
    assert_eq!(jam["details"]["receiver_flag"], false);
    assert!(jam["details"]["cn0_drop_db"].as_f64().unwrap() >= 20.0);
    let events = run("replay-tunnel", 500.0, &legs(false), 30.0, &[]);
    assert_eq!(alarms(&events), ["gps.lost", "gps.restored"]);
    let lost = events.iter().find(|e| e["type"] == "gps.lost").unwrap();
    let speed = lost["details"]["last_speed_mps"].as_f64().unwrap();
    assert!((speed - 25.0).abs() < 0.01, "{speed}");
    let restored = events.iter().find(|e| e["type"] == "gps.restored").unwrap();
    let outage = restored["details"]["outage_s"].as_u64().unwrap();
    assert!((300..=320).contains(&outage), "{outage}");
}
