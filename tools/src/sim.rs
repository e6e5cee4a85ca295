//! Device simulators for hardware-in-loop tests and the demo: a truck driving a corridor,
//! as its GPS receiver (NMEA 0183) and its e-lock (TeraTrack JSON) would report it.
//!
//! A [`Route`] is a corridor's centre line (a GeoJSON LineString). A [`Script`] of
//! [`Leg`]s says what the truck does — drive to a kilometre post with a sideways
//! [`Offset`] (a detour), stop, lose its fix (jammed, or shaded as in a tunnel) — and
//! [`generate`] turns it into timed [`SimFix`]es, with deterministic noise and outliers.
//! [`nmea_epoch`] writes one fix as a u-blox receiver would (RMC, GGA, GSV with C/N0);
//! [`teratrack_frame`] writes an e-lock report, optionally with a cut alarm.
//!
//! Invariants: deterministic (same script and seed, same bytes); every sentence carries a
//! valid checksum; times are UTC from the script's start.

use std::fmt::Write as _;

use ects_firmware::time::Timestamp;

/// A WGS 84 position, degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    /// Latitude, north positive.
    pub lat: f64,
    /// Longitude, east positive.
    pub lon: f64,
}

/// Metres per degree (east, north) at `lat`, WGS 84.
pub fn scale(lat: f64) -> (f64, f64) {
    let (a, e2) = (6_378_137.0f64, 6.694_379_990_141_316e-3f64);
    let phi = lat.to_radians();
    let w2 = 1.0 - e2 * phi.sin().powi(2);
    let n = a / w2.sqrt();
    let m = a * (1.0 - e2) / (w2 * w2.sqrt());
    let rad = std::f64::consts::PI / 180.0;
    (n * phi.cos() * rad, m * rad)
}

/// A corridor's centre line with cumulative lengths, metres.
#[derive(Debug, Clone)]
pub struct Route {
    /// The vertices.
    pub vertices: Vec<LatLon>,
    cum: Vec<f64>,
}

impl Route {
    /// A route through `vertices` (at least two).
    ///
    /// # Errors
    /// Fewer than two vertices.
    pub fn new(vertices: Vec<LatLon>) -> Result<Route, String> {
        if vertices.len() < 2 {
            return Err("a route needs at least two vertices".into());
        }
        let mut cum = vec![0.0];
        for w in vertices.windows(2) {
            let (kx, ky) = scale((w[0].lat + w[1].lat) / 2.0);
            let (dx, dy) = ((w[1].lon - w[0].lon) * kx, (w[1].lat - w[0].lat) * ky);
            cum.push(cum.last().copied().unwrap_or(0.0) + dx.hypot(dy));
        }
        Ok(Route { vertices, cum })
    }

    /// The first LineString of a GeoJSON text (with `properties.id == id` if given).
    ///
    /// # Errors
    /// Not GeoJSON, or no such LineString.
    pub fn from_geojson(text: &str, id: Option<&str>) -> Result<Route, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let features = match v["type"].as_str() {
            Some("FeatureCollection") => v["features"].as_array().cloned().unwrap_or_default(),
            _ => vec![v],
        };
        let line = features
            .iter()
            .find(|f| {
                f["geometry"]["type"] == "LineString"
                    && id.is_none_or(|id| f["properties"]["id"].as_str() == Some(id))
            })
            .ok_or("no matching LineString feature")?;
        let vertices = line["geometry"]["coordinates"]
            .as_array()
            .ok_or("geometry.coordinates is not an array")?
            .iter()
            .map(|c| {
                Some(LatLon {
                    lon: c.get(0)?.as_f64()?,
                    lat: c.get(1)?.as_f64()?,
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or("a coordinate is not [longitude, latitude]")?;
        Route::new(vertices)
    }

    /// Length, metres.
    pub fn length(&self) -> f64 {
        self.cum.last().copied().unwrap_or(0.0)
    }

    /// The point `s` metres along, moved `offset` metres to the left of travel, and the
    /// course there (degrees true).
    pub fn at(&self, s: f64, offset: f64) -> (LatLon, f64) {
        let s = s.clamp(0.0, self.length());
        let n = self.vertices.len();
        let k = self.cum.partition_point(|c| *c <= s).clamp(1, n - 1) - 1;
        let (a, b) = (self.vertices[k], self.vertices[k + 1]);
        let span = self.cum[k + 1] - self.cum[k];
        let f = if span > 0.0 {
            (s - self.cum[k]) / span
        } else {
            0.0
        };
        let p = LatLon {
            lat: a.lat + (b.lat - a.lat) * f,
            lon: a.lon + (b.lon - a.lon) * f,
        };
        let (kx, ky) = scale(p.lat);
        let (dx, dy) = ((b.lon - a.lon) * kx, (b.lat - a.lat) * ky);
        let len = dx.hypot(dy).max(1e-9);
        // The left normal of the travel direction (dx, dy) is (-dy, dx).
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

/// Sideways position while driving, metres left of the centre line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Offset {
    /// This many metres all along.
    Constant(f64),
    /// A detour: `offset_m` between `from_m` and `to_m` along the route, ramping over
    /// `ramp_m` each way, on the centre line elsewhere.
    Detour {
        /// Where the detour is fully out, metres along.
        from_m: f64,
        /// Where it starts coming back.
        to_m: f64,
        /// How far out.
        offset_m: f64,
        /// Length of the way out and back.
        ramp_m: f64,
    },
}

impl Offset {
    /// The offset `s` metres along.
    pub fn at(&self, s: f64) -> f64 {
        match *self {
            Offset::Constant(m) => m,
            Offset::Detour {
                from_m,
                to_m,
                offset_m,
                ramp_m,
            } => {
                let ramp = ramp_m.max(1.0);
                if s < from_m - ramp || s > to_m + ramp {
                    0.0
                } else if s < from_m {
                    offset_m * (s - (from_m - ramp)) / ramp
                } else if s > to_m {
                    offset_m * ((to_m + ramp) - s) / ramp
                } else {
                    offset_m
                }
            }
        }
    }
}

/// What the truck does next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Leg {
    /// Drive to `to_m` metres along the route (clamped to its end).
    Drive {
        /// Where to.
        to_m: f64,
        /// Sideways position on the way.
        offset: Offset,
    },
    /// Stand still this many seconds.
    Stop {
        /// How long.
        secs: i64,
    },
    /// Drive on this many seconds without a fix.
    Outage {
        /// How long.
        secs: i64,
        /// Jammed (satellites tracked at 20 dB-Hz) or shaded (none in view, a tunnel).
        jammed: bool,
    },
}

/// What the receiver says about the sky.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sky {
    /// A 3D fix, eight satellites at 42 dB-Hz.
    Clear,
    /// No fix, eight satellites tracked at 20 dB-Hz.
    Jammed,
    /// No fix, no satellite in view.
    Shaded,
}

/// A truck's drive: the legs and how the receiver reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The legs, in order.
    pub legs: Vec<Leg>,
    /// Start, Unix seconds UTC.
    pub start: i64,
    /// Seconds between fixes (≥ 1).
    pub interval_s: i64,
    /// Driving speed, m/s.
    pub speed_mps: f64,
    /// Uniform position noise, ± metres.
    pub noise_m: f64,
    /// One fix in this many thrown 300 m sideways (0: none).
    pub outlier_every: u64,
    /// Noise seed.
    pub seed: u64,
}

/// One simulated epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimFix {
    /// Unix seconds UTC.
    pub t: i64,
    /// Where the receiver puts the truck (with noise).
    pub position: LatLon,
    /// Metres along the route (without noise).
    pub along_m: f64,
    /// Ground speed, m/s.
    pub speed_mps: f64,
    /// Course, degrees true.
    pub course_deg: f64,
    /// Fix state.
    pub sky: Sky,
}

/// Deterministic xorshift noise in −1..1.
struct Rng(u64);
impl Rng {
    fn signed(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// The fixes `script` produces on `route`.
pub fn generate(route: &Route, script: &Script) -> Vec<SimFix> {
    let mut rng = Rng(script.seed | 1);
    let interval = script.interval_s.max(1);
    let (mut t, mut s) = (script.start, 0.0f64);
    let mut out = Vec::new();
    let mut n = 0u64;
    let mut emit = |t: i64, s: f64, off: f64, v: f64, sky: Sky, out: &mut Vec<SimFix>| {
        n += 1;
        let mut off = off + rng.signed() * script.noise_m;
        let along = rng.signed() * script.noise_m;
        if script.outlier_every > 0 && n.is_multiple_of(script.outlier_every) {
            off += 300.0 * rng.signed().signum();
        }
        let (p, course) = route.at(s + along, off);
        out.push(SimFix {
            t,
            position: p,
            along_m: s,
            speed_mps: v,
            course_deg: course,
            sky,
        });
    };
    let step = script.speed_mps * interval as f64;
    for leg in &script.legs {
        match *leg {
            Leg::Drive { to_m, offset } => {
                while s < to_m.min(route.length()) && step > 0.0 {
                    emit(t, s, offset.at(s), script.speed_mps, Sky::Clear, &mut out);
                    s += step;
                    t += interval;
                }
            }
            Leg::Stop { secs } => {
                let end = t + secs;
                while t < end {
                    emit(t, s, 0.0, 0.0, Sky::Clear, &mut out);
                    t += interval;
                }
            }
            Leg::Outage { secs, jammed } => {
                let end = t + secs;
                let sky = if jammed { Sky::Jammed } else { Sky::Shaded };
                while t < end {
                    emit(t, s, 0.0, script.speed_mps, sky, &mut out);
                    s += step;
                    t += interval;
                }
            }
        }
    }
    out
}

/// UTC calendar fields of `t` (Unix seconds): (year, month, day, hour, minute, second).
fn civil(t: i64) -> (i64, u8, u8, u8, u8, u8) {
    let (y, mo, d, h, mi, s, _) = Timestamp::from_unix_seconds(t).to_civil();
    (y, mo, d, h, mi, s)
}

/// `t` (Unix seconds) as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(t: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn dm(v: f64, deg_width: usize) -> String {
    let a = v.abs();
    let d = a.trunc();
    let m = (a - d) * 60.0;
    format!("{:0w$}{:08.5}", d as u32, m, w = deg_width)
}

fn checksum(body: &str) -> u8 {
    body.bytes().fold(0, |a, b| a ^ b)
}

/// One epoch as a u-blox receiver sends it: RMC, GGA and GSV (CR LF line ends).
pub fn nmea_epoch(f: &SimFix) -> String {
    let (y, mo, d, h, mi, s) = civil(f.t);
    let hms = format!("{h:02}{mi:02}{s:02}.00");
    let date = format!("{d:02}{mo:02}{:02}", y % 100);
    let mut sentences = Vec::new();
    if f.sky == Sky::Clear {
        let p = f.position;
        let lat = format!("{},{}", dm(p.lat, 2), if p.lat < 0.0 { 'S' } else { 'N' });
        let lon = format!("{},{}", dm(p.lon, 3), if p.lon < 0.0 { 'W' } else { 'E' });
        let knots = f.speed_mps / 0.514_444;
        let course = f.course_deg;
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
    match f.sky {
        Sky::Shaded => sentences.push("GPGSV,1,1,00".to_string()),
        Sky::Clear | Sky::Jammed => {
            let snr = if f.sky == Sky::Clear { 42 } else { 20 };
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
    let mut out = String::new();
    for s in sentences {
        let _ = write!(out, "${s}*{:02X}\r\n", checksum(&s));
    }
    out
}

/// What an e-lock report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// Locked and sealed.
    Locked,
    /// The lock cable was cut.
    Cut,
    /// Opened (with a card).
    Opened,
}

/// A TeraTrack e-lock JSON report (one line, no line end) from `device` at `f`.
pub fn teratrack_frame(device: &str, index: u32, f: &SimFix, state: LockState) -> String {
    let (y, mo, d, h, mi, s) = civil(f.t);
    let when = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
    let flag = |b: bool| if b { "1" } else { "0" };
    let cut = state == LockState::Cut;
    let open = state == LockState::Opened;
    // Speed in km/h, as the device reports it.
    let kmh = (f.speed_mps * 3.6).round() as u32;
    let imei: String = format!("86{device:0>13}").chars().take(15).collect();
    serde_json::json!({
        "MDeviceID": device, "DeviceType": "1", "DataType": if cut || open { "2" } else { "1" },
        "DataLength": "69", "DateTime": when,
        "Latitude": format!("{:.6}", f.position.lat), "Longitude": format!("{:.6}", f.position.lon),
        "LongitudeState": "1", "LatitudeState": "0", "Speed": kmh.to_string(), "Mileage": "0",
        "FenceAlarm": "0", "AreaAlarmID": "0", "LockCutOff": flag(cut), "SealTampered": "0",
        "MessageAck": "1", "LockRope": flag(!cut), "LockStatus": flag(!open && !cut),
        "LockOpen": flag(open), "PasswordError": "0", "CardNo": "60000644", "IllegalCard": "0",
        "LowPower": "0", "UnCoverBack": "0", "CoverStatus": "1", "LockStuck": "0", "Power": "79",
        "GSM": "16", "IMEI": imei, "Index": index.to_string(), "Slave": []
    })
    .to_string()
}

/// Parses a drive script: legs separated by `,` —
/// `drive:KM[@OFFSET_M]`, `detour:FROM_KM-TO_KM@OFFSET_M`, `stop:MINUTES`,
/// `jam:SECONDS`, `tunnel:SECONDS`, `end`. `detour` drives to `TO_KM` + 1 km with the
/// detour, ramping over 1 km each way.
///
/// # Errors
/// A message naming the leg that does not parse.
pub fn parse_legs(text: &str) -> Result<Vec<Leg>, String> {
    let mut legs = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || {
            format!(
                "leg `{part}`: expected drive:KM[@M], detour:A-B@M, stop:MIN, jam:S, tunnel:S or end"
            )
        };
        let num = |s: &str| s.trim().parse::<f64>().map_err(|_| bad());
        let (kind, arg) = part.split_once(':').unwrap_or((part, ""));
        legs.push(match kind {
            "end" => Leg::Drive {
                to_m: f64::INFINITY,
                offset: Offset::Constant(0.0),
            },
            "drive" => {
                let (km, off) = arg.split_once('@').unwrap_or((arg, "0"));
                Leg::Drive {
                    to_m: num(km)? * 1000.0,
                    offset: Offset::Constant(num(off)?),
                }
            }
            "detour" => {
                let (span, off) = arg.split_once('@').ok_or_else(bad)?;
                let (a, b) = span.split_once('-').ok_or_else(bad)?;
                let (a, b) = (num(a)? * 1000.0, num(b)? * 1000.0);
                Leg::Drive {
                    to_m: b + 1000.0,
                    offset: Offset::Detour {
                        from_m: a,
                        to_m: b,
                        offset_m: num(off)?,
                        ramp_m: 1000.0,
                    },
                }
            }
            "stop" => Leg::Stop {
                secs: (num(arg)? * 60.0) as i64,
            },
            "jam" | "tunnel" => Leg::Outage {
                secs: num(arg)? as i64,
                jammed: kind == "jam",
            },
            _ => return Err(bad()),
        });
    }
    Ok(legs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route() -> Route {
        Route::new(vec![
            LatLon {
                lat: 0.0,
                lon: 30.0,
            },
            LatLon {
                lat: 0.0,
                lon: 30.1,
            },
        ])
        .unwrap()
    }

    #[test]
    fn test_nmea_checksums_and_shape() {
        let script = Script {
            legs: parse_legs("drive:2, jam:30, tunnel:30, stop:1, end").unwrap(),
            start: 1_796_018_400,
            interval_s: 10,
            speed_mps: 25.0,
            noise_m: 0.0,
            outlier_every: 0,
            seed: 7,
        };
        let fixes = generate(&route(), &script);
        assert!(fixes.iter().any(|f| f.sky == Sky::Jammed));
        let text: String = fixes.iter().map(nmea_epoch).collect();
        for line in text.lines() {
            let (body, cs) = line[1..].split_once('*').unwrap();
            assert_eq!(
                u8::from_str_radix(cs, 16).unwrap(),
                checksum(body),
                "{line}"
            );
        }
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("$GPRMC,060000.00,A,0000.00000,N,03000.00000,E,48.60,90.0,301126"),
            "{first}"
        );
        assert_eq!(rfc3339(1_796_018_400), "2026-11-30T06:00:00Z");
    }

    #[test]
    fn test_route_offset_is_left_of_travel() {
        let (p, course) = route().at(5000.0, 100.0);
        assert!((course - 90.0).abs() < 1e-9);
        // Travelling east, left is north.
        assert!((p.lat * scale(0.0).1 - 100.0).abs() < 0.01);
    }

    #[test]
    fn test_bad_legs_are_named() {
        assert_eq!(
            parse_legs("drive:5, fly:3").unwrap_err(),
            "leg `fly:3`: expected drive:KM[@M], detour:A-B@M, stop:MIN, jam:S, tunnel:S or end"
        );
    }

    #[test]
    fn test_teratrack_frame_is_json_with_the_cut() {
        let f = generate(
            &route(),
            &Script {
                legs: parse_legs("drive:1").unwrap(),
                start: 0,
                interval_s: 1,
                speed_mps: 10.0,
                noise_m: 0.0,
                outlier_every: 0,
                seed: 1,
            },
        )[0];
        let v: serde_json::Value =
            serde_json::from_str(&teratrack_frame("022043756090", 5, &f, LockState::Cut)).unwrap();
        assert_eq!(v["LockCutOff"], "1");
        assert_eq!(v["DateTime"], "1970-01-01 00:00:00");
    }
}
