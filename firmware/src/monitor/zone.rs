//! Zones: origin and destination yards, border posts, customs yards and authorized rest
//! stops, each a circle or a polygon with its own dwell limit.
//!
//! Polygons are a single outer ring of WGS 84 vertices (RFC 7946 lines: straight in
//! longitude/latitude), borrowed from the caller. Containment is an even-odd ray test in
//! degrees, which is exact for such lines; distances to the boundary use the local plane
//! of [`super::geo`].
//!
//! # Invariants
//! - Tests never panic and allocate nothing; an invalid point is outside every zone.
//! - A zone's bounding box is computed once, so the per-fix test of a far zone is four
//!   comparisons.

use core::fmt;

use super::geo::{Scale, local_distance_m, wrap_lon};
use crate::event::{ZoneId, ZoneKind};
use crate::nmea::LatLon;

/// Most vertices a polygon zone may have (a yard outline needs tens, not thousands).
pub const MAX_POLYGON_VERTICES: usize = 4096;

/// The shape of a zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape<'a> {
    /// A circle around a centre.
    Circle {
        /// Centre.
        centre: LatLon,
        /// Radius, metres.
        radius_m: f64,
    },
    /// A polygon: the outer ring (closing vertex optional).
    Polygon(&'a [LatLon]),
}

/// Why a zone was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZoneError {
    /// The radius is not a positive finite number of metres (or above 100 km).
    BadRadius,
    /// Fewer than three distinct vertices, or more than [`MAX_POLYGON_VERTICES`].
    BadRing,
    /// Vertex or centre `n` (0-based) is not a WGS 84 position.
    BadVertex(usize),
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneError::BadRadius => {
                f.write_str("radius must be a positive number of metres up to 100000")
            }
            ZoneError::BadRing => write!(
                f,
                "a polygon ring needs 3 to {MAX_POLYGON_VERTICES} distinct vertices"
            ),
            ZoneError::BadVertex(n) => write!(
                f,
                "position {n} is not a valid WGS 84 position (longitude −180..180, latitude −90..90)"
            ),
        }
    }
}

impl core::error::Error for ZoneError {}

/// A configured zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Zone<'a> {
    /// Its id.
    pub id: &'a ZoneId,
    /// What it is for.
    pub kind: ZoneKind,
    /// How long a vehicle may stay inside, seconds (`None`: no limit).
    pub dwell_limit_s: Option<u32>,
    shape: Shape<'a>,
    /// Bounding box: min lat, max lat, min lon, max lon (degrees).
    bbox: [f64; 4],
}

fn valid(p: LatLon) -> bool {
    p.lat.is_finite() && p.lon.is_finite() && p.lat.abs() <= 90.0 && p.lon.abs() <= 180.0
}

impl<'a> Zone<'a> {
    /// A zone; checks the shape.
    ///
    /// # Errors
    /// [`ZoneError`] for a bad radius, ring or vertex.
    pub fn new(
        id: &'a ZoneId,
        kind: ZoneKind,
        shape: Shape<'a>,
        dwell_limit_s: Option<u32>,
    ) -> Result<Self, ZoneError> {
        let bbox = match shape {
            Shape::Circle { centre, radius_m } => {
                if !valid(centre) {
                    return Err(ZoneError::BadVertex(0));
                }
                if !(radius_m.is_finite() && radius_m > 0.0 && radius_m <= 100_000.0) {
                    return Err(ZoneError::BadRadius);
                }
                let s = Scale::at(centre.lat);
                let (dlat, dlon) = (radius_m / s.ky * 1.01, radius_m / s.kx * 1.01);
                [
                    centre.lat - dlat,
                    centre.lat + dlat,
                    centre.lon - dlon,
                    centre.lon + dlon,
                ]
            }
            Shape::Polygon(ring) => {
                if ring.len() < 3 || ring.len() > MAX_POLYGON_VERTICES + 1 {
                    return Err(ZoneError::BadRing);
                }
                let mut b = [
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                ];
                let mut distinct = 0;
                for (i, &v) in ring.iter().enumerate() {
                    if !valid(v) {
                        return Err(ZoneError::BadVertex(i));
                    }
                    if i == 0 || v != ring[i - 1] {
                        distinct += 1;
                    }
                    b = [
                        b[0].min(v.lat),
                        b[1].max(v.lat),
                        b[2].min(v.lon),
                        b[3].max(v.lon),
                    ];
                }
                if ring.first() == ring.last() {
                    distinct -= 1;
                }
                if distinct < 3 {
                    return Err(ZoneError::BadRing);
                }
                b
            }
        };
        Ok(Zone {
            id,
            kind,
            dwell_limit_s,
            shape,
            bbox,
        })
    }

    /// The shape.
    pub fn shape(&self) -> Shape<'a> {
        self.shape
    }

    /// Whether `p` is inside (boundary included).
    pub fn contains(&self, p: LatLon) -> bool {
        if !valid(p) || !self.in_bbox(p, 0.0) {
            return false;
        }
        match self.shape {
            Shape::Circle { centre, radius_m } => local_distance_m(centre, p) <= radius_m,
            Shape::Polygon(ring) => ring_contains(ring, p),
        }
    }

    /// How far outside `p` is, metres: 0 inside, else the distance to the boundary. Used
    /// for exit hysteresis; a point further than `cap_m` may return any value ≥ `cap_m`.
    pub fn outside_by_m(&self, p: LatLon, cap_m: f64) -> f64 {
        if !valid(p) {
            return f64::INFINITY;
        }
        if !self.in_bbox(p, cap_m) {
            return cap_m;
        }
        match self.shape {
            Shape::Circle { centre, radius_m } => (local_distance_m(centre, p) - radius_m).max(0.0),
            Shape::Polygon(ring) => {
                if ring_contains(ring, p) {
                    return 0.0;
                }
                let s = Scale::at(p.lat);
                let mut best = f64::INFINITY;
                for w in ring.windows(2) {
                    best = best.min(segment_distance(&s, p, w[0], w[1]));
                }
                if let (Some(&a), Some(&b)) = (ring.last(), ring.first()) {
                    best = best.min(segment_distance(&s, p, a, b));
                }
                best
            }
        }
    }

    fn in_bbox(&self, p: LatLon, margin_m: f64) -> bool {
        let s = Scale::at(p.lat);
        let (mlat, mlon) = (margin_m / s.ky, margin_m / s.kx);
        p.lat >= self.bbox[0] - mlat
            && p.lat <= self.bbox[1] + mlat
            && p.lon >= self.bbox[2] - mlon
            && p.lon <= self.bbox[3] + mlon
    }
}

/// Even-odd rule over the ring (closed implicitly).
fn ring_contains(ring: &[LatLon], p: LatLon) -> bool {
    let mut inside = false;
    let n = ring.len();
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (ring[i], ring[j]);
        if (a.lat > p.lat) != (b.lat > p.lat) {
            let x = a.lon + (p.lat - a.lat) / (b.lat - a.lat) * wrap_lon(b.lon - a.lon);
            if p.lon < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

fn segment_distance(s: &Scale, p: LatLon, a: LatLon, b: LatLon) -> f64 {
    let (bx, by) = s.project(a, b);
    let (px, py) = s.project(a, p);
    let l2 = bx * bx + by * by;
    let t = if l2 > 0.0 {
        ((px * bx + py * by) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (ex, ey) = (px - t * bx, py - t * by);
    libm::sqrt(ex * ex + ey * ey)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }

    #[test]
    fn test_circle_and_polygon() {
        let id = ZoneId::new("malaba").unwrap();
        let c = Zone::new(
            &id,
            ZoneKind::BorderPost,
            Shape::Circle {
                centre: ll(0.638, 34.2684),
                radius_m: 500.0,
            },
            Some(3600),
        )
        .unwrap();
        assert!(c.contains(ll(0.638, 34.2684)));
        assert!(c.contains(ll(0.638 + 400.0 / 110_574.0, 34.2684)));
        assert!(!c.contains(ll(0.638 + 600.0 / 110_574.0, 34.2684)));
        let out = c.outside_by_m(ll(0.638 + 600.0 / 110_574.0, 34.2684), 1e9);
        assert!((out - 100.0).abs() < 0.5, "{out}");

        let ring = [
            ll(0.0, 0.0),
            ll(0.0, 0.01),
            ll(0.01, 0.01),
            ll(0.01, 0.0),
            ll(0.0, 0.0),
        ];
        let z = Zone::new(&id, ZoneKind::RestStop, Shape::Polygon(&ring), None).unwrap();
        assert!(z.contains(ll(0.005, 0.005)));
        assert!(!z.contains(ll(0.005, 0.011)));
        let out = z.outside_by_m(ll(0.005, 0.011), 1e9);
        assert!((out - 111.32).abs() < 0.1, "{out}");
        assert_eq!(z.outside_by_m(ll(0.005, 0.005), 1e9), 0.0);
        assert!(z.outside_by_m(ll(1.0, 1.0), 500.0) >= 500.0);
    }

    #[test]
    fn test_bad_zones() {
        let id = ZoneId::new("z").unwrap();
        let bad = [ll(0.0, 0.0), ll(0.0, 1.0), ll(0.0, 0.0)];
        assert_eq!(
            Zone::new(&id, ZoneKind::RestStop, Shape::Polygon(&bad), None),
            Err(ZoneError::BadRing)
        );
        let circle = Shape::Circle {
            centre: ll(0.0, 0.0),
            radius_m: f64::NAN,
        };
        assert_eq!(
            Zone::new(&id, ZoneKind::RestStop, circle, None),
            Err(ZoneError::BadRadius)
        );
        let nan = [ll(0.0, 0.0), ll(f64::NAN, 1.0), ll(1.0, 1.0)];
        assert_eq!(
            Zone::new(&id, ZoneKind::RestStop, Shape::Polygon(&nan), None),
            Err(ZoneError::BadVertex(1))
        );
    }
}
