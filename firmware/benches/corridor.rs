//! Per-fix corridor check on a 20,000-vertex, ~1,450 km corridor: ours (hint + box tree)
//! side by side with the `geo` crate's brute-force haversine closest point, same fixes.
//!
//! The corridor is the Northern Corridor waypoint line (Mombasa–Kigali) densified to
//! 20,000 vertices with a ±40 m lateral wiggle (period ~2 km), so that segments are short
//! and not collinear, as on a real road. The fixes follow it at ~75 m spacing with ±30 m
//! noise, as a truck's 1 Hz GPS would (in order, so the hint works as in service); a
//! second case uses random points anywhere within 5 km of the corridor, in random order
//! (no useful hint: the worst case of the index).
//!
//! Run: `cargo bench -p ects-firmware --bench corridor`; results go to BENCHMARKS.md.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ects_firmware::event::CorridorId;
use ects_firmware::monitor::corridor::{
    Corridor, IndexNode, Segment, build_index, build_segments, index_len, segments_needed,
};
use ects_firmware::nmea::LatLon;
use geo::{Closest, Distance, Haversine, HaversineClosestPoint, LineString, Point};

const VERTICES: usize = 20_000;

fn waypoints() -> Vec<LatLon> {
    let text = include_str!("../tests/data/corridors/northern-corridor-waypoints.geojson");
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
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

/// Deterministic xorshift for reproducible noise.
struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn signed(&mut self) -> f64 {
        self.unit() * 2.0 - 1.0
    }
}

fn densify(w: &[LatLon], n: usize) -> Vec<LatLon> {
    // Cumulative chord lengths in metres (local plane), then n evenly spaced points with a
    // sideways wiggle.
    let m_per_deg = 111_320.0;
    let mut cum = vec![0.0];
    for p in w.windows(2) {
        let dx = (p[1].lon - p[0].lon) * m_per_deg * p[0].lat.to_radians().cos();
        let dy = (p[1].lat - p[0].lat) * m_per_deg;
        cum.push(cum.last().unwrap() + (dx * dx + dy * dy).sqrt());
    }
    let total = *cum.last().unwrap();
    let mut out = Vec::with_capacity(n);
    let mut k = 0;
    for i in 0..n {
        let s = total * i as f64 / (n - 1) as f64;
        while k + 2 < cum.len() && cum[k + 1] < s {
            k += 1;
        }
        let f = ((s - cum[k]) / (cum[k + 1] - cum[k])).clamp(0.0, 1.0);
        let (a, b) = (w[k], w[k + 1]);
        let wiggle = 40.0 * (s / 2000.0 * std::f64::consts::TAU).sin() / m_per_deg;
        // Perpendicular to the chord (in degrees; good enough for a wiggle).
        let (dx, dy) = (b.lon - a.lon, b.lat - a.lat);
        let norm = (dx * dx + dy * dy).sqrt();
        out.push(LatLon {
            lat: a.lat + (b.lat - a.lat) * f + wiggle * dx / norm,
            lon: a.lon + (b.lon - a.lon) * f - wiggle * dy / norm,
        });
    }
    out
}

fn bench(c: &mut Criterion) {
    let vertices = densify(&waypoints(), VERTICES);
    let n = segments_needed(&vertices, 2000.0).unwrap();
    let mut segments = vec![Segment::default(); n];
    build_segments(&vertices, 2000.0, &mut segments).unwrap();
    let mut index = vec![IndexNode::default(); index_len(n)];
    build_index(&segments, &mut index).unwrap();
    let id: CorridorId = "northern".parse().unwrap();
    let corridor = Corridor::new(&id, 100.0, &segments, &index).unwrap();
    let line: LineString<f64> = vertices.iter().map(|p| (p.lon, p.lat)).collect();

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let noise = 30.0 / 111_320.0;
    // A truck: one fix near every vertex, in order.
    let track: Vec<LatLon> = vertices
        .iter()
        .map(|p| LatLon {
            lat: p.lat + rng.signed() * noise,
            lon: p.lon + rng.signed() * noise,
        })
        .collect();
    // Anywhere within ~5 km, random order.
    let scattered: Vec<LatLon> = (0..4096)
        .map(|_| {
            let p = vertices[(rng.unit() * (VERTICES - 1) as f64) as usize];
            let r = 5000.0 / 111_320.0;
            LatLon {
                lat: p.lat + rng.signed() * r,
                lon: p.lon + rng.signed() * r,
            }
        })
        .collect();

    eprintln!(
        "corridor: {} vertices, {} segments, {:.1} km, index {} nodes; segments {} B + index {} B",
        vertices.len(),
        segments.len(),
        corridor.length_m() / 1000.0,
        index.len(),
        segments.len() * size_of::<Segment>(),
        index.len() * size_of::<IndexNode>(),
    );

    let mut g = c.benchmark_group("corridor_per_fix");
    g.bench_function("ours_track_with_hint", |b| {
        let mut i = 0;
        let mut hint = None;
        b.iter(|| {
            let p = track[i];
            i = (i + 1) % track.len();
            if i == 0 {
                hint = None;
            }
            let m = corridor.locate(black_box(p), hint, 75.0).unwrap();
            hint = Some(m.segment);
            black_box(m.distance_m)
        })
    });
    g.bench_function("ours_scattered_no_hint", |b| {
        let mut i = 0;
        b.iter(|| {
            let p = scattered[i];
            i = (i + 1) % scattered.len();
            black_box(corridor.locate(black_box(p), None, 0.0).unwrap().distance_m)
        })
    });
    g.bench_function("geo_haversine_closest_point", |b| {
        let mut i = 0;
        b.iter(|| {
            let p = track[i];
            i = (i + 1) % track.len();
            let fix = Point::new(p.lon, p.lat);
            let d = match line.haversine_closest_point(black_box(&fix)) {
                Closest::SinglePoint(q) | Closest::Intersection(q) => Haversine.distance(q, fix),
                Closest::Indeterminate => f64::NAN,
            };
            black_box(d)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
