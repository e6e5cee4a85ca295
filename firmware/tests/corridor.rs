//! Corridor geometry against Karney geodesics (geographiclib) and against a brute-force
//! scan: the index and the hint never change the answer, and distances are within 1 %.

use ects_firmware::event::CorridorId;
use ects_firmware::monitor::corridor::{
    Corridor, IndexNode, Segment, build_index, build_segments, index_len, segments_needed,
};
use ects_firmware::nmea::LatLon;
use geographiclib_rs::{DirectGeodesic, Geodesic, InverseGeodesic};
use proptest::prelude::*;

struct Built {
    id: CorridorId,
    segments: Vec<Segment>,
    index: Vec<IndexNode>,
}

fn build(vertices: &[LatLon], max_segment_m: f64) -> Built {
    let n = segments_needed(vertices, max_segment_m).unwrap();
    let mut segments = vec![Segment::default(); n];
    assert_eq!(
        build_segments(vertices, max_segment_m, &mut segments),
        Ok(n)
    );
    let mut index = vec![IndexNode::default(); index_len(n)];
    build_index(&segments, &mut index).unwrap();
    Built {
        id: "test".parse().unwrap(),
        segments,
        index,
    }
}

impl Built {
    fn corridor(&self, w: f32) -> Corridor<'_> {
        Corridor::new(&self.id, w, &self.segments, &self.index).unwrap()
    }
}

/// A random-walk polyline: start, then `steps` of (length m, turn degrees).
fn walk(start: (f64, f64), steps: &[(f64, f64)]) -> Vec<LatLon> {
    let g = Geodesic::wgs84();
    let mut out = vec![LatLon {
        lat: start.0,
        lon: start.1,
    }];
    let mut azi = 60.0;
    let (mut lat, mut lon) = start;
    for &(len, turn) in steps {
        azi += turn;
        let (la, lo): (f64, f64) = g.direct(lat, lon, azi, len);
        (lat, lon) = (la, lo);
        out.push(LatLon { lat, lon });
    }
    out
}

fn brute(c: &Corridor<'_>, p: LatLon) -> f64 {
    (0..c.segments().len())
        .map(|i| {
            let one = &c.segments()[i..=i];
            let mut idx = vec![IndexNode::default(); index_len(1)];
            build_index(one, &mut idx).unwrap();
            let id: CorridorId = "x".parse().unwrap();
            Corridor::new(&id, 1.0, one, &idx)
                .unwrap()
                .locate(p, None, 0.0)
                .unwrap()
                .distance_m
        })
        .fold(f64::INFINITY, f64::min)
}

/// The point `d` metres (geodesic) to the `side` of the polyline at `frac` along segment
/// `seg`, with the foot of the perpendicular.
fn offset_point(v: &[LatLon], seg: usize, frac: f64, d: f64, side: f64) -> (LatLon, LatLon) {
    let g = Geodesic::wgs84();
    let (a, b) = (v[seg], v[seg + 1]);
    let foot = LatLon {
        lat: a.lat + (b.lat - a.lat) * frac,
        lon: a.lon + (b.lon - a.lon) * frac,
    };
    let (_s, azi, _azi2, _a): (f64, f64, f64, f64) = g.inverse(a.lat, a.lon, b.lat, b.lon);
    let (lat, lon): (f64, f64) = g.direct(foot.lat, foot.lon, azi + 90.0 * side, d);
    (LatLon { lat, lon }, foot)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// A point generated at a known geodesic distance from a random corridor is measured
    /// within 1 % (plus 5 cm) of it, and classified against the corridor's half-width
    /// correctly whenever it is more than 1 % away from the edge.
    #[test]
    fn prop_known_geodesic_distance(
        lat in -35.0f64..35.0,
        lon in -20.0f64..50.0,
        steps in proptest::collection::vec((50.0f64..2000.0, -25.0f64..25.0), 1..60),
        seg_pick in 0usize..1000,
        frac in 0.05f64..0.95,
        d in 0.0f64..2500.0,
        side in prop_oneof![Just(1.0f64), Just(-1.0f64)],
        width in 25.0f32..2000.0,
    ) {
        let v = walk((lat, lon), &steps);
        let built = build(&v, 2000.0);
        let c = built.corridor(width);
        let seg = seg_pick % (v.len() - 1);
        let (p, _foot) = offset_point(&v, seg, frac, d, side);
        let got = c.locate(p, None, 0.0).unwrap();
        // Another part of the polyline may be nearer than the generated distance, never
        // further.
        prop_assert!(got.distance_m <= d * 1.01 + 0.05, "{} > {d}", got.distance_m);
        let exact = brute(&c, p);
        prop_assert!((got.distance_m - exact).abs() < 1e-6, "index {} vs scan {exact}", got.distance_m);
        if got.segment as usize == seg && got.distance_m > 0.0 {
            prop_assert!((got.distance_m - d).abs() <= d * 0.01 + 0.05, "{} vs {d}", got.distance_m);
        }
        let w = f64::from(width);
        if (got.segment as usize == seg) && (d - w).abs() > w * 0.01 + 0.05 {
            prop_assert_eq!(got.distance_m <= w, d <= w);
        }
    }

    /// The hint never makes `locate` worse than `accept_m`, and without acceptance it
    /// agrees with the full search.
    #[test]
    fn prop_hint_agrees_with_search(
        steps in proptest::collection::vec((50.0f64..3000.0, -120.0f64..120.0), 1..120),
        seg_pick in 0usize..1000,
        hint in 0u32..2000,
        frac in 0.0f64..1.0,
        d in 0.0f64..5000.0,
        accept in 0.0f64..500.0,
    ) {
        let v = walk((0.5, 33.0), &steps);
        let built = build(&v, 1000.0);
        let c = built.corridor(100.0);
        let seg = seg_pick % (v.len() - 1);
        let (p, _) = offset_point(&v, seg, frac, d, 1.0);
        let full = c.locate(p, None, 0.0).unwrap();
        let hinted = c.locate(p, Some(hint), accept).unwrap();
        if hinted.from_hint {
            prop_assert!(hinted.distance_m <= accept + 1e-9);
        } else {
            prop_assert!((hinted.distance_m - full.distance_m).abs() < 1e-9);
        }
        prop_assert!(hinted.chainage_m >= 0.0 && hinted.chainage_m <= c.length_m() + 1e-6);
    }
}

#[test]
fn test_long_segments_are_split_and_chainage_is_length() {
    // Mombasa → Nairobi as one 440 km chord: split into ≤ 1 km pieces.
    let v = [
        LatLon {
            lat: -4.0435,
            lon: 39.6682,
        },
        LatLon {
            lat: -1.2864,
            lon: 36.8172,
        },
    ];
    let built = build(&v, 1000.0);
    assert!(built.segments.len() >= 440 && built.segments.len() < 450);
    let g = Geodesic::wgs84();
    let s: f64 = g.inverse(v[0].lat, v[0].lon, v[1].lat, v[1].lon);
    let c = built.corridor(500.0);
    // The lon/lat-straight line and the geodesic differ slightly; lengths agree to 0.1 %.
    assert!(
        (c.length_m() - s).abs() < s * 1e-3,
        "{} vs {s}",
        c.length_m()
    );
    let m = c.locate(v[1], None, 0.0).unwrap();
    assert!(m.distance_m < 0.01);
    assert!((m.chainage_m - c.length_m()).abs() < 1e-6);
}

#[test]
fn test_bad_input_is_refused_not_panicking() {
    use ects_firmware::monitor::CorridorError;
    let nan = [
        LatLon { lat: 0.0, lon: 0.0 },
        LatLon {
            lat: f64::NAN,
            lon: 0.0,
        },
    ];
    assert_eq!(
        segments_needed(&nan, 1000.0),
        Err(CorridorError::BadVertex(1))
    );
    let same = [LatLon { lat: 1.0, lon: 1.0 }; 3];
    assert_eq!(
        segments_needed(&same, 1000.0),
        Err(CorridorError::TooFewVertices)
    );
    let v = walk((0.0, 30.0), &[(1000.0, 0.0), (1000.0, 10.0)]);
    let mut small = [Segment::default(); 1];
    assert_eq!(
        build_segments(&v, 1000.0, &mut small),
        Err(CorridorError::SegmentBuffer(2))
    );
    let built = build(&v, 1000.0);
    let id: CorridorId = "c".parse().unwrap();
    assert!(Corridor::new(&id, -1.0, &built.segments, &built.index).is_err());
    assert!(Corridor::new(&id, 10.0, &built.segments, &[]).is_err());
    let c = built.corridor(10.0);
    assert_eq!(
        c.locate(
            LatLon {
                lat: f64::NAN,
                lon: 0.0
            },
            Some(99),
            10.0
        ),
        None
    );
}
