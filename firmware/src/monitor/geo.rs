//! Distances on the WGS 84 ellipsoid for corridor and zone tests.
//!
//! Everything here is a *local tangent plane*: around a reference latitude, one degree of
//! latitude is `M(φ)·π/180` metres and one degree of longitude `N(φ)·cos φ·π/180` metres,
//! with `M` and `N` the WGS 84 meridional and prime-vertical radii of curvature. For
//! segments up to a few kilometres and offsets up to a few kilometres this is exact to a
//! few centimetres (research note: ≤ 0.01 m at 1 km, ≤ 0.3 m at 5 km offset), far better
//! than the 1 % the corridor check promises, and it costs a few multiplications.
//!
//! Lines between two positions are straight in longitude/latitude, as RFC 7946 (GeoJSON)
//! defines them; the plane of a segment maps them to straight lines exactly.

use crate::nmea::LatLon;

/// WGS 84 semi-major axis, metres.
pub const WGS84_A: f64 = 6_378_137.0;
/// WGS 84 first eccentricity squared.
pub const WGS84_E2: f64 = 6.694_379_990_141_316e-3;

/// Metres per degree of latitude and of longitude around one latitude.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// Metres per degree of longitude (east).
    pub kx: f64,
    /// Metres per degree of latitude (north).
    pub ky: f64,
}

impl Scale {
    /// The local scale at `lat_deg`. Within 0.01° of a pole the longitude scale is held
    /// at its value there, so it never reaches zero.
    pub fn at(lat_deg: f64) -> Scale {
        let phi = lat_deg.clamp(-89.99, 89.99).to_radians();
        let s = libm::sin(phi);
        let w2 = 1.0 - WGS84_E2 * s * s;
        let w = libm::sqrt(w2);
        let n = WGS84_A / w;
        let m = WGS84_A * (1.0 - WGS84_E2) / (w2 * w);
        let rad = core::f64::consts::PI / 180.0;
        Scale {
            kx: n * libm::cos(phi) * rad,
            ky: m * rad,
        }
    }

    /// `p` relative to `origin` in metres (east, north).
    #[inline]
    pub fn project(&self, origin: LatLon, p: LatLon) -> (f64, f64) {
        (
            wrap_lon(p.lon - origin.lon) * self.kx,
            (p.lat - origin.lat) * self.ky,
        )
    }
}

/// A longitude difference brought into −180..180 (corridors never span half the globe, but
/// one may cross the antimeridian).
#[inline]
pub fn wrap_lon(d: f64) -> f64 {
    if d > 180.0 {
        d - 360.0
    } else if d < -180.0 {
        d + 360.0
    } else {
        d
    }
}

/// Distance between two nearby points (up to tens of kilometres) in the local plane at
/// their mean latitude, metres.
pub fn local_distance_m(a: LatLon, b: LatLon) -> f64 {
    let (x, y) = Scale::at((a.lat + b.lat) / 2.0).project(a, b);
    libm::sqrt(x * x + y * y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_scale_matches_known_values() {
        // On the equator: 1° of longitude = 111 319.49 m, 1° of latitude = 110 574.3 m.
        let s = Scale::at(0.0);
        assert!((s.kx - 111_319.49).abs() < 0.01, "{}", s.kx);
        assert!((s.ky - 110_574.27).abs() < 0.01, "{}", s.ky);
        // At 45°: 78 847 m and 111 131.75 m (111 132.92 − 559.82 cos 2φ + 1.175 cos 4φ).
        let s = Scale::at(45.0);
        assert!((s.kx - 78_847.0).abs() < 1.0, "{}", s.kx);
        assert!((s.ky - 111_131.75).abs() < 0.1, "{}", s.ky);
        assert!(Scale::at(90.0).kx > 0.0);
    }

    #[test]
    fn test_wrap_lon() {
        assert_eq!(wrap_lon(359.0), -1.0);
        assert_eq!(wrap_lon(-359.0), 1.0);
        assert_eq!(wrap_lon(10.0), 10.0);
    }
}
