//! Fuzzes the corridor monitor: GeoJSON corridor and zone files through the gateway's
//! loaders, and arbitrary floats (NaN, ±inf, huge) as corridor vertices and fixes through
//! the firmware's corridor index and a trip's detectors. Nothing may panic.
//!
//! Run: `cargo +nightly fuzz run monitor` from the repository root.

#![no_main]

use std::path::Path;

use ects_firmware::event::{CorridorId, ZoneId, ZoneKind};
use ects_firmware::monitor::corridor::{
    Corridor, IndexNode, Segment, build_index, build_segments, index_len, segments_needed,
};
use ects_firmware::monitor::zone::{Shape, Zone};
use ects_firmware::monitor::{Geography, MonitorConfig, TripMonitor, TripPlan};
use ects_firmware::nmea::LatLon;
use ects_firmware::nmea::fix::{Fix, FixMode};
use ects_firmware::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fn floats(data: &[u8]) -> Vec<f64> {
    data.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ects_gateway::monitor::corridors_from_str(Path::new("fuzz.geojson"), text, 1000.0);
        let _ = ects_gateway::monitor::zones_from_str(Path::new("fuzz.geojson"), text);
    }
    let f = floats(data);
    if f.len() < 6 {
        return;
    }
    let split = (f.len() / 2).max(4) & !1;
    let vertices: Vec<LatLon> = f[..split]
        .chunks_exact(2)
        .map(|c| LatLon { lat: c[0], lon: c[1] })
        .collect();
    let Ok(n) = segments_needed(&vertices, 5000.0) else { return };
    if n > 100_000 {
        return;
    }
    let mut segments = vec![Segment::default(); n];
    if build_segments(&vertices, 5000.0, &mut segments).is_err() {
        return;
    }
    let mut index = vec![IndexNode::default(); index_len(n)];
    build_index(&segments, &mut index).unwrap();
    let cid: CorridorId = "c".parse().unwrap();
    let zid: ZoneId = "z".parse().unwrap();
    let Ok(corridor) = Corridor::new(&cid, 100.0, &segments, &index) else { return };
    let ring: Vec<LatLon> = vertices.iter().take(8).copied().collect();
    let zones: Vec<Zone<'_>> = [
        Zone::new(&zid, ZoneKind::Origin, Shape::Polygon(&ring), Some(600)),
        Zone::new(
            &zid,
            ZoneKind::Destination,
            Shape::Circle { centre: vertices[0], radius_m: 500.0 },
            None,
        ),
    ]
    .into_iter()
    .filter_map(Result::ok)
    .collect();
    if zones.len() < 2 {
        return;
    }
    let corridors = [corridor];
    let geo = Geography { corridors: &corridors, zones: &zones };
    let plan = TripPlan {
        declaration: "D".parse().unwrap(),
        vehicle: "V".parse().unwrap(),
        seals: heapless::Vec::new(),
        corridor: 0,
        origin: 0,
        destination: 1,
        deadline: Timestamp::from_unix_seconds(1_000_000),
    };
    let mut trip = TripMonitor::arm(plan, "O".parse().unwrap(), &geo, MonitorConfig::default(), Timestamp::from_unix_seconds(0), |_| {}).unwrap();
    let mut hint = None;
    for (i, c) in f[split..].chunks_exact(2).enumerate() {
        let p = LatLon { lat: c[0], lon: c[1] };
        if let Some(m) = corridors[0].locate(p, hint, 50.0) {
            hint = Some(m.segment);
        }
        let t = Timestamp::from_unix_seconds(i as i64 * 7);
        let fix = Fix {
            time: Some(t),
            position: Some(p),
            mode: FixMode::Fix3D,
            speed_mps: Some(c[0] as f32),
            ..Fix::default()
        };
        trip.on_fix(&geo, &fix, t, |_| {});
        trip.tick(&geo, t, |_| {});
    }
});
