//! The corridor monitor in the gateway: geometry from GeoJSON files, trips and thresholds
//! from the TOML config, and the routing of fixes and seal reports to the trips they
//! belong to.
//!
//! The detectors themselves are `ects_firmware::monitor` (no_std state machines); this
//! module owns the buffers they borrow and decides which trip an input concerns:
//!
//! - a fix from GPS source `S` goes to every armed trip configured with `gps = "S"`
//!   (an on-truck unit); fixes from other sources raise nothing;
//! - a seal report goes to the trip that lists its seal or device id in `seals`; its
//!   position feeds that trip's detectors when the trip has no GPS source of its own (a
//!   border post watching e-locks); its seal events are graded by the trip
//!   ([`TripMonitor::on_seal_event`]), and the trip emits its own thinned positions;
//! - seal reports of devices in no trip pass through as events, their positions thinned
//!   per device to one per `position_interval_s`;
//! - a tamper or low-battery alarm that a device keeps reporting in every status report is
//!   raised once per episode (until a report without it).
//!
//! # Invariants
//! - Every error names the file, the place in it (`[monitor]` key, `[[trips]]` entry,
//!   GeoJSON feature number and id) and what was expected.
//! - Deterministic: output depends only on the inputs and the times given.
//! - Bounded: at most [`MAX_TRIPS`] trips, [`MAX_GEOJSON_BYTES`] per GeoJSON file,
//!   [`MAX_VERTICES`] vertices per corridor, [`MAX_THINNED_DEVICES`] devices remembered
//!   for position thinning.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ects_firmware::event::{
    CorridorId, Declaration, Event, EventKind, OfficerId, SealId, SourceName, VehicleId, ZoneId,
    ZoneKind,
};
use ects_firmware::monitor::corridor::{
    self, Corridor, IndexNode, Segment, build_index, build_segments, index_len,
};
use ects_firmware::monitor::zone::{Shape, Zone};
use ects_firmware::monitor::{Geography, MonitorConfig, TripMonitor, TripPlan};
use ects_firmware::nmea::LatLon;
use ects_firmware::nmea::fix::{Fix, FixMode};
use ects_firmware::seal::SealReport;
use ects_firmware::seal::events::for_each_event;
use ects_firmware::time::{Duration, Timestamp};
use serde::Deserialize;

/// Most trips one gateway monitors.
pub const MAX_TRIPS: usize = 100_000;
/// Default of `[monitor] keep_disarmed_h`: a disarmed trip is kept a day (late seal
/// reports of the unloading are still graded against it), then retired.
pub const DEFAULT_KEEP_DISARMED_H: u32 = 24;
/// Largest GeoJSON file read.
pub const MAX_GEOJSON_BYTES: u64 = 64 << 20;
/// Most vertices in one corridor (after splitting long segments).
pub const MAX_VERTICES: usize = 2_000_000;
/// Most corridors, and most zones (trips refer to them by 16-bit index).
pub const MAX_GEOMETRIES: usize = u16::MAX as usize;
/// Devices remembered for position thinning of seals in no trip.
pub const MAX_THINNED_DEVICES: usize = 10_000;

/// A configuration error: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorConfigError {
    /// The file at fault.
    pub file: PathBuf,
    /// Where in it: `[monitor] stop_limit_s`, `[[trips]] #2 (22MBA…) corridor`,
    /// `feature 3 (id "malaba")`.
    pub place: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for MonitorConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.file.display(),
            self.place,
            self.message
        )
    }
}

impl std::error::Error for MonitorConfigError {}

fn err(file: &Path, place: impl Into<String>, message: impl Into<String>) -> MonitorConfigError {
    MonitorConfigError {
        file: file.to_path_buf(),
        place: place.into(),
        message: message.into(),
    }
}

/// The `[monitor]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonitor {
    #[serde(default)]
    corridors: Vec<PathBuf>,
    #[serde(default)]
    zones: Vec<PathBuf>,
    max_segment_m: Option<f64>,
    confirm_fixes: Option<u8>,
    confirm_s: Option<u32>,
    margin_m: Option<f32>,
    backtrack_m: Option<f32>,
    stop_radius_m: Option<f32>,
    stop_limit_s: Option<u32>,
    zone_confirm_fixes: Option<u8>,
    zone_exit_margin_m: Option<f32>,
    moving_mps: Option<f32>,
    max_hdop: Option<f32>,
    keep_disarmed_h: Option<u32>,
}

/// One `[[trips]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrip {
    declaration: String,
    vehicle: String,
    #[serde(default)]
    seals: Vec<String>,
    corridor: String,
    origin: String,
    destination: String,
    deadline: String,
    officer: String,
    gps: Option<String>,
}

/// A corridor's geometry, owned.
#[derive(Debug, Clone)]
pub struct CorridorData {
    /// Its id (GeoJSON `properties.id`).
    pub id: CorridorId,
    /// Half-width, metres (`properties.half_width_m`).
    pub half_width_m: f32,
    segments: Vec<Segment>,
    index: Vec<IndexNode>,
}

/// A zone's geometry, owned.
#[derive(Debug, Clone)]
pub struct ZoneData {
    /// Its id.
    pub id: ZoneId,
    /// What it is for.
    pub kind: ZoneKind,
    /// Dwell limit, seconds.
    pub dwell_limit_s: Option<u32>,
    circle: Option<(LatLon, f64)>,
    ring: Vec<LatLon>,
}

/// A trip from the config, resolved against the geometry.
#[derive(Debug, Clone)]
pub struct TripConfig {
    /// What the officer armed.
    pub plan: TripPlan,
    /// Who armed it.
    pub officer: OfficerId,
    /// The GPS source that reports this vehicle's position, if the gateway rides on it.
    pub gps: Option<SourceName>,
}

/// Everything the monitor needs, validated.
#[derive(Debug, Clone)]
pub struct MonitorSettings {
    /// Detector thresholds.
    pub config: MonitorConfig,
    /// Corridors, in file order.
    pub corridors: Vec<CorridorData>,
    /// Zones, in file order.
    pub zones: Vec<ZoneData>,
    /// Trips armed from the config.
    pub trips: Vec<TripConfig>,
    /// Longest corridor segment, metres (`[monitor] max_segment_m`).
    pub max_segment_m: f64,
    /// How long a disarmed trip is kept before it is retired (`[monitor] keep_disarmed_h`).
    pub keep_disarmed: Duration,
}

impl CorridorData {
    /// Builds a corridor from its vertices.
    ///
    /// # Errors
    /// The firmware's [`corridor::CorridorError`] as text.
    pub fn build(
        id: CorridorId,
        half_width_m: f32,
        vertices: &[LatLon],
        max_segment_m: f64,
    ) -> Result<Self, String> {
        let n = corridor::segments_needed(vertices, max_segment_m).map_err(|e| e.to_string())?;
        if n > MAX_VERTICES {
            return Err(format!(
                "{n} segments after splitting at {max_segment_m} m; at most {MAX_VERTICES}"
            ));
        }
        let mut segments = vec![Segment::default(); n];
        build_segments(vertices, max_segment_m, &mut segments).map_err(|e| e.to_string())?;
        let mut index = vec![IndexNode::default(); index_len(n)];
        build_index(&segments, &mut index).map_err(|e| e.to_string())?;
        let data = CorridorData {
            id,
            half_width_m,
            segments,
            index,
        };
        data.view().map_err(|e| e.to_string())?;
        Ok(data)
    }

    fn view(&self) -> Result<Corridor<'_>, corridor::CorridorError> {
        Corridor::new(&self.id, self.half_width_m, &self.segments, &self.index)
    }

    /// Memory held, bytes.
    pub fn memory_bytes(&self) -> usize {
        self.segments.len() * size_of::<Segment>() + self.index.len() * size_of::<IndexNode>()
    }
}

impl ZoneData {
    fn view(&self) -> Result<Zone<'_>, ects_firmware::monitor::ZoneError> {
        let shape = match self.circle {
            Some((centre, radius_m)) => Shape::Circle { centre, radius_m },
            None => Shape::Polygon(&self.ring),
        };
        Zone::new(&self.id, self.kind, shape, self.dwell_limit_s)
    }
}

/// Reads the `[monitor]` table and the `[[trips]]` array of the config file `file`
/// (paths in it are relative to the file's directory). Trips' routine positions are
/// thinned to one per `position_interval_s` (the config's `[positions] interval_s`).
///
/// # Errors
/// [`MonitorConfigError`] naming the file, the key or feature, and what was expected.
pub fn load(
    file: &Path,
    monitor: Option<toml::Value>,
    trips: Option<toml::Value>,
    position_interval_s: u32,
) -> Result<MonitorSettings, MonitorConfigError> {
    let raw: RawMonitor = match monitor {
        None => RawMonitor::default(),
        Some(v) => v
            .try_into()
            .map_err(|e: toml::de::Error| err(file, "[monitor]", e.message().trim().to_string()))?,
    };
    let mut config = thresholds(file, &raw)?;
    config.position_interval_s = position_interval_s;
    let base = file.parent().unwrap_or(Path::new("."));
    let max_segment_m = raw.max_segment_m.unwrap_or(1000.0);
    if !(10.0..=5000.0).contains(&max_segment_m) {
        return Err(err(
            file,
            "[monitor] max_segment_m",
            "expected metres between 10 and 5000",
        ));
    }
    let mut corridors = Vec::new();
    for path in &raw.corridors {
        corridors.extend(load_corridors(&base.join(path), max_segment_m)?);
    }
    let mut zones = Vec::new();
    for path in &raw.zones {
        zones.extend(load_zones(&base.join(path))?);
    }
    unique(file, "corridor", corridors.iter().map(|c| c.id.as_str()))?;
    unique(file, "zone", zones.iter().map(|z| z.id.as_str()))?;
    // Trips refer to corridors and zones by 16-bit index.
    if corridors.len() > MAX_GEOMETRIES || zones.len() > MAX_GEOMETRIES {
        return Err(err(
            file,
            "[monitor]",
            format!("at most {MAX_GEOMETRIES} corridors and {MAX_GEOMETRIES} zones"),
        ));
    }
    let raw_trips: Vec<RawTrip> = match trips {
        None => Vec::new(),
        Some(v) => v
            .try_into()
            .map_err(|e: toml::de::Error| err(file, "[[trips]]", e.message().trim().to_string()))?,
    };
    if raw_trips.len() > MAX_TRIPS {
        return Err(err(file, "[[trips]]", format!("at most {MAX_TRIPS} trips")));
    }
    let keep_disarmed_h = raw.keep_disarmed_h.unwrap_or(DEFAULT_KEEP_DISARMED_H);
    if !(1..=8760).contains(&keep_disarmed_h) {
        return Err(err(
            file,
            "[monitor] keep_disarmed_h",
            "expected hours between 1 and 8760",
        ));
    }
    let mut trips = Vec::new();
    for (i, t) in raw_trips.into_iter().enumerate() {
        trips.push(trip(file, i + 1, t, &corridors, &zones)?);
    }
    unique(
        file,
        "trip declaration",
        trips.iter().map(|t| t.plan.declaration.as_str()),
    )?;
    Ok(MonitorSettings {
        config,
        corridors,
        zones,
        trips,
        max_segment_m,
        keep_disarmed: Duration::from_secs(i64::from(keep_disarmed_h) * 3600),
    })
}

fn unique<'a>(
    file: &Path,
    what: &str,
    ids: impl Iterator<Item = &'a str>,
) -> Result<(), MonitorConfigError> {
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(err(
                file,
                format!("{what} \"{id}\""),
                "defined twice; ids must be unique",
            ));
        }
    }
    Ok(())
}

fn thresholds(file: &Path, raw: &RawMonitor) -> Result<MonitorConfig, MonitorConfigError> {
    let d = MonitorConfig::default();
    let c = MonitorConfig {
        confirm_fixes: raw.confirm_fixes.unwrap_or(d.confirm_fixes),
        confirm_s: raw.confirm_s.unwrap_or(d.confirm_s),
        margin_m: raw.margin_m.unwrap_or(d.margin_m),
        backtrack_m: raw.backtrack_m.unwrap_or(d.backtrack_m),
        stop_radius_m: raw.stop_radius_m.unwrap_or(d.stop_radius_m),
        stop_limit_s: raw.stop_limit_s.unwrap_or(d.stop_limit_s),
        zone_confirm_fixes: raw.zone_confirm_fixes.unwrap_or(d.zone_confirm_fixes),
        zone_exit_margin_m: raw.zone_exit_margin_m.unwrap_or(d.zone_exit_margin_m),
        moving_mps: raw.moving_mps.unwrap_or(d.moving_mps),
        max_hdop: raw.max_hdop.unwrap_or(d.max_hdop),
        position_interval_s: d.position_interval_s,
        integrity: d.integrity,
    };
    let checks: [(&str, bool, &str); 9] = [
        (
            "confirm_fixes",
            (1..=50).contains(&c.confirm_fixes),
            "a count from 1 to 50",
        ),
        (
            "zone_confirm_fixes",
            (1..=50).contains(&c.zone_confirm_fixes),
            "a count from 1 to 50",
        ),
        (
            "margin_m",
            (0.0..=1000.0).contains(&c.margin_m),
            "metres from 0 to 1000",
        ),
        (
            "backtrack_m",
            (50.0..=100_000.0).contains(&c.backtrack_m),
            "metres from 50 to 100000",
        ),
        (
            "stop_radius_m",
            (10.0..=5000.0).contains(&c.stop_radius_m),
            "metres from 10 to 5000",
        ),
        ("stop_limit_s", c.stop_limit_s >= 60, "seconds, at least 60"),
        (
            "zone_exit_margin_m",
            (0.0..=1000.0).contains(&c.zone_exit_margin_m),
            "metres from 0 to 1000",
        ),
        (
            "moving_mps",
            (0.1..=50.0).contains(&c.moving_mps),
            "m/s from 0.1 to 50",
        ),
        (
            "max_hdop",
            (0.5..=100.0).contains(&c.max_hdop),
            "a dilution from 0.5 to 100",
        ),
    ];
    for (key, ok, expected) in checks {
        if !ok {
            return Err(err(
                file,
                format!("[monitor] {key}"),
                format!("expected {expected}"),
            ));
        }
    }
    Ok(c)
}

fn trip(
    file: &Path,
    n: usize,
    t: RawTrip,
    corridors: &[CorridorData],
    zones: &[ZoneData],
) -> Result<TripConfig, MonitorConfigError> {
    let place = |key: &str| format!("[[trips]] #{n} ({}) {key}", t.declaration);
    let text_err =
        |key: &str, e: ects_firmware::text::TextError| err(file, place(key), e.to_string());
    let declaration = Declaration::new(&t.declaration).map_err(|e| text_err("declaration", e))?;
    let vehicle = VehicleId::new(&t.vehicle).map_err(|e| text_err("vehicle", e))?;
    let officer = OfficerId::new(&t.officer).map_err(|e| text_err("officer", e))?;
    let mut seals = heapless::Vec::new();
    for s in &t.seals {
        let id = SealId::new(s).map_err(|e| text_err("seals", e))?;
        seals.push(id).map_err(|_| {
            err(
                file,
                place("seals"),
                format!(
                    "at most {} seals per trip",
                    ects_firmware::monitor::trip::MAX_TRIP_SEALS
                ),
            )
        })?;
    }
    let corridor = corridors
        .iter()
        .position(|c| c.id.as_str() == t.corridor)
        .ok_or_else(|| {
            err(
                file,
                place("corridor"),
                format!("no corridor \"{}\" in the corridor files", t.corridor),
            )
        })?;
    let zone = |key: &str, id: &str| {
        zones
            .iter()
            .position(|z| z.id.as_str() == id)
            .ok_or_else(|| {
                err(
                    file,
                    place(key),
                    format!("no zone \"{id}\" in the zone files"),
                )
            })
    };
    let origin = zone("origin", &t.origin)?;
    let destination = zone("destination", &t.destination)?;
    let deadline: Timestamp = t.deadline.parse().map_err(|_| {
        err(
            file,
            place("deadline"),
            "expected an RFC 3339 UTC time such as 2026-12-01T18:00:00Z",
        )
    })?;
    let gps = t
        .gps
        .as_deref()
        .map(SourceName::new)
        .transpose()
        .map_err(|e| text_err("gps", e))?;
    Ok(TripConfig {
        plan: TripPlan {
            declaration,
            vehicle,
            seals,
            corridor: corridor as u16,
            origin: origin as u16,
            destination: destination as u16,
            deadline,
        },
        officer,
        gps,
    })
}

fn read_geojson(path: &Path) -> Result<Vec<serde_json::Value>, MonitorConfigError> {
    use std::io::Read;
    let f =
        std::fs::File::open(path).map_err(|e| err(path, "file", format!("cannot open: {e}")))?;
    let mut text = String::new();
    f.take(MAX_GEOJSON_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| err(path, "file", format!("cannot read: {e}")))?;
    if text.len() as u64 > MAX_GEOJSON_BYTES {
        return Err(err(
            path,
            "file",
            format!("larger than {MAX_GEOJSON_BYTES} bytes"),
        ));
    }
    parse_geojson(path, &text)
}

/// The features of a GeoJSON text (`path` only names it in errors).
fn parse_geojson(path: &Path, text: &str) -> Result<Vec<serde_json::Value>, MonitorConfigError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| err(path, format!("line {}", e.line()), format!("not JSON: {e}")))?;
    match v.get("type").and_then(|t| t.as_str()) {
        Some("FeatureCollection") => v
            .get("features")
            .and_then(|f| f.as_array())
            .cloned()
            .ok_or_else(|| err(path, "features", "expected an array of features")),
        Some("Feature") => Ok(vec![v]),
        _ => Err(err(
            path,
            "type",
            "expected a GeoJSON FeatureCollection or Feature (RFC 7946)",
        )),
    }
}

fn feature_place(n: usize, f: &serde_json::Value) -> String {
    match f.pointer("/properties/id").and_then(|v| v.as_str()) {
        Some(id) => format!("feature {n} (id \"{id}\")"),
        None => format!("feature {n}"),
    }
}

fn position(v: &serde_json::Value) -> Option<LatLon> {
    let a = v.as_array()?;
    // RFC 7946: [longitude, latitude, optional altitude].
    if !(2..=3).contains(&a.len()) {
        return None;
    }
    Some(LatLon {
        lon: a[0].as_f64()?,
        lat: a[1].as_f64()?,
    })
}

fn positions(v: &serde_json::Value) -> Result<Vec<LatLon>, String> {
    let a = v.as_array().ok_or("expected an array of positions")?;
    let list: Vec<LatLon> = a
        .iter()
        .enumerate()
        .map(|(i, p)| {
            position(p)
                .filter(|p| p.lat.abs() <= 90.0 && p.lon.abs() <= 180.0)
                .ok_or_else(|| {
                    format!("position {i} is not [longitude, latitude] within ±180, ±90")
                })
        })
        .collect::<Result<_, _>>()?;
    // The index and the zone tests compare longitudes directly: geometry across the
    // antimeridian would be mis-measured, so it is refused (split it in two instead).
    if let Some(i) = list
        .windows(2)
        .position(|w| (w[1].lon - w[0].lon).abs() > 180.0)
    {
        return Err(format!(
            "positions {i} and {} cross the antimeridian (180°), which is not supported: split the geometry there",
            i + 1
        ));
    }
    Ok(list)
}

fn prop_id<T: std::str::FromStr>(f: &serde_json::Value) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    let id = f
        .pointer("/properties/id")
        .and_then(|v| v.as_str())
        .ok_or("expected properties.id, a string")?;
    id.parse::<T>()
        .map_err(|e| format!("properties.id \"{id}\": {e}"))
}

/// Reads a corridors file: LineString features with `properties.id` and
/// `properties.half_width_m`. Features of other types are skipped (a waypoint file may
/// carry its border posts as Points).
///
/// # Errors
/// [`MonitorConfigError`] naming the file and feature.
pub fn load_corridors(
    path: &Path,
    max_segment_m: f64,
) -> Result<Vec<CorridorData>, MonitorConfigError> {
    corridors_from_features(path, &read_geojson(path)?, max_segment_m)
}

/// [`load_corridors`] on a GeoJSON text already read (`path` names it in errors).
///
/// # Errors
/// As [`load_corridors`].
pub fn corridors_from_str(
    path: &Path,
    text: &str,
    max_segment_m: f64,
) -> Result<Vec<CorridorData>, MonitorConfigError> {
    corridors_from_features(path, &parse_geojson(path, text)?, max_segment_m)
}

fn corridors_from_features(
    path: &Path,
    features: &[serde_json::Value],
    max_segment_m: f64,
) -> Result<Vec<CorridorData>, MonitorConfigError> {
    let mut out = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let place = feature_place(i + 1, f);
        let ty = f.pointer("/geometry/type").and_then(|t| t.as_str());
        if ty != Some("LineString") {
            continue;
        }
        let id: CorridorId = prop_id(f).map_err(|m| err(path, &place, m))?;
        let w = f
            .pointer("/properties/half_width_m")
            .and_then(|v| v.as_f64())
            .filter(|w| (1.0..=50_000.0).contains(w))
            .ok_or_else(|| {
                err(
                    path,
                    &place,
                    "expected properties.half_width_m, metres from 1 to 50000",
                )
            })?;
        let coords = f
            .pointer("/geometry/coordinates")
            .ok_or_else(|| err(path, &place, "expected geometry.coordinates"))?;
        let vertices = positions(coords).map_err(|m| err(path, &place, m))?;
        let data = CorridorData::build(id, w as f32, &vertices, max_segment_m)
            .map_err(|m| err(path, &place, m))?;
        out.push(data);
    }
    if out.is_empty() {
        return Err(err(
            path,
            "features",
            "no LineString feature: expected at least one corridor",
        ));
    }
    Ok(out)
}

/// Reads a zones file: Polygon features (outer ring only) or Point features with
/// `properties.radius_m`, each with `properties.id`, `properties.kind` (`origin`,
/// `destination`, `border_post`, `customs_yard`, `rest_stop`) and optionally
/// `properties.dwell_limit_s`.
///
/// # Errors
/// [`MonitorConfigError`] naming the file and feature.
pub fn load_zones(path: &Path) -> Result<Vec<ZoneData>, MonitorConfigError> {
    zones_from_features(path, &read_geojson(path)?)
}

/// [`load_zones`] on a GeoJSON text already read (`path` names it in errors).
///
/// # Errors
/// As [`load_zones`].
pub fn zones_from_str(path: &Path, text: &str) -> Result<Vec<ZoneData>, MonitorConfigError> {
    zones_from_features(path, &parse_geojson(path, text)?)
}

fn zones_from_features(
    path: &Path,
    features: &[serde_json::Value],
) -> Result<Vec<ZoneData>, MonitorConfigError> {
    let mut out = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let place = feature_place(i + 1, f);
        let e = |m: String| err(path, &place, m);
        let id: ZoneId = prop_id(f).map_err(e)?;
        let kind: ZoneKind = f
            .pointer("/properties/kind")
            .cloned()
            .and_then(|k| serde_json::from_value(k).ok())
            .ok_or_else(|| {
                e("expected properties.kind: origin, destination, border_post, customs_yard or rest_stop".into())
            })?;
        let dwell_limit_s = match f.pointer("/properties/dwell_limit_s") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|s| u32::try_from(s).ok())
                    .filter(|s| *s >= 60)
                    .ok_or_else(|| {
                        e("expected properties.dwell_limit_s, whole seconds ≥ 60".into())
                    })?,
            ),
        };
        let coords = f.pointer("/geometry/coordinates");
        let (circle, ring) = match f.pointer("/geometry/type").and_then(|t| t.as_str()) {
            Some("Point") => {
                let centre = coords.and_then(position).ok_or_else(|| {
                    e("expected geometry.coordinates [longitude, latitude]".into())
                })?;
                let r = f
                    .pointer("/properties/radius_m")
                    .and_then(|v| v.as_f64())
                    .ok_or_else(|| e("a Point zone needs properties.radius_m, metres".into()))?;
                (Some((centre, r)), Vec::new())
            }
            Some("Polygon") => {
                let rings = coords
                    .and_then(|c| c.as_array())
                    .ok_or_else(|| e("expected geometry.coordinates, an array of rings".into()))?;
                if rings.len() != 1 {
                    return Err(e(
                        "holes are not supported: expected exactly one (outer) ring".into(),
                    ));
                }
                (None, positions(&rings[0]).map_err(e)?)
            }
            other => {
                return Err(e(format!(
                    "expected a Polygon or a Point geometry, found {}",
                    other.unwrap_or("none")
                )));
            }
        };
        let data = ZoneData {
            id,
            kind,
            dwell_limit_s,
            circle,
            ring,
        };
        data.view().map_err(|m| e(m.to_string()))?;
        out.push(data);
    }
    Ok(out)
}

struct TripEntry {
    monitor: TripMonitor,
    gps: Option<SourceName>,
    /// When it was disarmed (for retirement).
    disarmed_at: Option<Timestamp>,
}

/// The gateway's monitor: geometry, trips and routing (see the module docs).
pub struct GatewayMonitor {
    config: MonitorConfig,
    corridors: Vec<CorridorData>,
    zones: Vec<ZoneData>,
    trips: Vec<TripEntry>,
    /// Last position event per device in no trip.
    thinned: HashMap<String, Timestamp>,
    /// Alarms devices are reporting now (device, lock, kind): see `drop_standing_alarms`.
    standing: std::collections::HashSet<String>,
    /// Trips whose state changed since [`GatewayMonitor::take_dirty`].
    dirty: Vec<usize>,
    /// Corridor and zone updates from central (latest per id).
    updates: Vec<GeometryUpdate>,
    /// Longest corridor segment (updates are split like the configured files).
    max_segment_m: f64,
    /// Disarmed trips are retired after this.
    keep_disarmed: Duration,
    /// Declarations of the trips in `[[trips]]`: never retired (they would be armed again
    /// at the next start).
    configured: std::collections::HashSet<String>,
}

impl fmt::Debug for GatewayMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayMonitor")
            .field("corridors", &self.corridors.len())
            .field("zones", &self.zones.len())
            .field("trips", &self.trips.len())
            .finish()
    }
}

/// Runs `f` with the firmware's view of the geometry.
fn with_geo<R>(
    corridors: &[CorridorData],
    zones: &[ZoneData],
    f: impl FnOnce(&Geography<'_>) -> R,
) -> R {
    // Views were validated when the data was built; a view that fails is left out.
    let cs: Vec<Corridor<'_>> = corridors.iter().filter_map(|c| c.view().ok()).collect();
    let zs: Vec<Zone<'_>> = zones.iter().filter_map(|z| z.view().ok()).collect();
    f(&Geography {
        corridors: &cs,
        zones: &zs,
    })
}

impl GatewayMonitor {
    /// A monitor with the settings' geometry; arms the configured trips at `now`
    /// (emitting `trip.armed` for each). See [`GatewayMonitor::keep_configured`].
    pub fn new(settings: MonitorSettings, now: Timestamp, out: &mut Vec<Event>) -> Self {
        let mut m = GatewayMonitor {
            config: settings.config,
            corridors: settings.corridors,
            zones: settings.zones,
            trips: Vec::new(),
            thinned: HashMap::new(),
            standing: std::collections::HashSet::new(),
            dirty: Vec::new(),
            updates: Vec::new(),
            max_segment_m: settings.max_segment_m,
            keep_disarmed: settings.keep_disarmed,
            configured: settings
                .trips
                .iter()
                .map(|t| t.plan.declaration.to_string())
                .collect(),
        };
        for t in settings.trips {
            // Cannot fail: `load` resolved the indices against this geometry.
            let _ = m.arm(t, now, out);
        }
        m
    }

    /// Declares the trips of `[[trips]]` (when they are armed later than [`GatewayMonitor::new`],
    /// as the service does after resuming saved trips): they are never retired.
    pub fn keep_configured<'a>(&mut self, declarations: impl IntoIterator<Item = &'a str>) {
        self.configured
            .extend(declarations.into_iter().map(str::to_string));
    }

    /// Arms a trip.
    ///
    /// # Errors
    /// The firmware's refusal (unknown corridor or zone index).
    pub fn arm(
        &mut self,
        trip: TripConfig,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) -> Result<(), ects_firmware::monitor::TripError> {
        let config = self.config;
        let monitor = with_geo(&self.corridors, &self.zones, |geo| {
            TripMonitor::arm(trip.plan, trip.officer, geo, config, now, |e| out.push(e))
        })?;
        self.trips.push(TripEntry {
            monitor,
            gps: trip.gps,
            disarmed_at: None,
        });
        self.dirty.push(self.trips.len() - 1);
        Ok(())
    }

    /// Disarms the trip of `declaration` (an officer at the destination).
    ///
    /// # Errors
    /// A message for central when there is no such trip or it cannot be disarmed.
    pub fn disarm(
        &mut self,
        declaration: &str,
        officer: OfficerId,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) -> Result<(), String> {
        let i = self
            .trips
            .iter()
            .position(|t| t.monitor.plan().declaration.as_str() == declaration)
            .ok_or_else(|| format!("no trip {declaration}"))?;
        let entry = &mut self.trips[i];
        with_geo(&self.corridors, &self.zones, |geo| {
            entry.monitor.disarm(officer, geo, now, |e| out.push(e))
        })
        .map_err(|e| e.to_string())?;
        entry.disarmed_at = Some(now);
        self.dirty.push(i);
        Ok(())
    }

    /// Retires the trips disarmed longer than `[monitor] keep_disarmed_h` ago: they leave
    /// memory (and the caller deletes their saved state), so that a post arming a thousand
    /// trips a day never reaches [`MAX_TRIPS`]. A disarmed trip whose disarm time is not
    /// known (resumed from an older state file) counts as disarmed now. Trips written in
    /// `[[trips]]` are never retired (the next start would arm them again). Returns the
    /// declarations retired.
    pub fn retire(&mut self, now: Timestamp) -> Vec<String> {
        let keep = self.keep_disarmed;
        let mut gone = Vec::with_capacity(self.trips.len());
        for (i, t) in self.trips.iter_mut().enumerate() {
            if t.monitor.is_disarmed() && t.disarmed_at.is_none() {
                t.disarmed_at = Some(now);
                self.dirty.push(i);
            }
            gone.push(
                t.disarmed_at.is_some_and(|at| now - at >= keep)
                    && !self
                        .configured
                        .contains(t.monitor.plan().declaration.as_str()),
            );
        }
        if !gone.contains(&true) {
            return Vec::new();
        }
        // Indices of the trips that stay move down past the retired ones.
        let mut new_index = Vec::with_capacity(gone.len());
        let mut next = 0;
        for &g in &gone {
            new_index.push(next);
            next += usize::from(!g);
        }
        let dirty = std::mem::take(&mut self.dirty);
        self.dirty = dirty
            .into_iter()
            .filter(|&i| gone.get(i) == Some(&false))
            .map(|i| new_index[i])
            .collect();
        let mut retired = Vec::new();
        let mut k = 0;
        self.trips.retain(|t| {
            let keep = !gone[k];
            k += 1;
            if !keep {
                retired.push(t.monitor.plan().declaration.to_string());
            }
            keep
        });
        retired
    }

    /// Whether a trip with this declaration is known (armed or disarmed).
    pub fn has_trip(&self, declaration: &str) -> bool {
        self.trips
            .iter()
            .any(|t| t.monitor.plan().declaration.as_str() == declaration)
    }

    /// Whether some trip takes its position from GPS source `source`.
    pub fn has_gps_source(&self, source: &str) -> bool {
        self.trips
            .iter()
            .any(|t| t.gps.as_ref().is_some_and(|g| g.as_str() == source))
    }

    /// Trips armed or disarmed.
    pub fn trip_count(&self) -> usize {
        self.trips.len()
    }

    /// A fix from GPS source `source`.
    pub fn on_fix(&mut self, source: &str, fix: &Fix, now: Timestamp, out: &mut Vec<Event>) {
        let (trips, dirty) = (&mut self.trips, &mut self.dirty);
        with_geo(&self.corridors, &self.zones, |geo| {
            for (i, t) in trips.iter_mut().enumerate() {
                if t.gps.as_ref().is_some_and(|g| g.as_str() == source) {
                    t.monitor.on_fix(geo, fix, now, |e| out.push(e));
                    dirty.push(i);
                }
            }
        });
    }

    /// A seal report judged new by de-duplication.
    pub fn on_seal_report(&mut self, report: &SealReport, now: Timestamp, out: &mut Vec<Event>) {
        let device = report.device.as_str();
        let mut events = Vec::new();
        for_each_event(report, now, |e| events.push(e));
        self.drop_standing_alarms(device, &mut events);
        let seal_ids: Vec<&str> = report
            .locks
            .iter()
            .filter_map(|l| l.id.as_ref().map(|id| id.as_str()))
            .collect();
        // The armed trip the seal is on; a disarmed trip only when no armed one has it (the
        // opening at the destination after the disarm). An e-lock reused for a new trip
        // belongs to the new one.
        let carries = |t: &TripEntry| {
            t.monitor.has_seal(device) || seal_ids.iter().any(|s| t.monitor.has_seal(s))
        };
        let owner = self
            .trips
            .iter()
            .rposition(|t| carries(t) && !t.monitor.is_disarmed())
            .or_else(|| self.trips.iter().rposition(carries));
        let Some(i) = owner else {
            let interval = Duration::from_secs(self.config.position_interval_s.into());
            for e in events {
                if matches!(e.kind, EventKind::Position(_)) {
                    let at = e.device_time.unwrap_or(now);
                    let due = self
                        .thinned
                        .get(device)
                        .is_none_or(|last| (at - *last).abs() >= interval);
                    if !due {
                        continue;
                    }
                    if self.thinned.len() >= MAX_THINNED_DEVICES {
                        self.thinned.clear();
                    }
                    self.thinned.insert(device.to_string(), at);
                }
                out.push(e);
            }
            return;
        };
        let entry = &mut self.trips[i];
        if entry.gps.is_none()
            && let Some(fix) = fix_of(report)
        {
            with_geo(&self.corridors, &self.zones, |geo| {
                entry.monitor.on_fix(geo, &fix, now, |e| out.push(e));
            });
            self.dirty.push(i);
        }
        for mut e in events {
            if matches!(e.kind, EventKind::Position(_)) {
                continue; // the trip emits its own, thinned
            }
            entry.monitor.on_seal_event(&mut e);
            out.push(e);
        }
    }

    /// Drops tamper and low-battery events a device already reported and still reports:
    /// e-locks repeat a standing alarm flag in every status report, and one alarm per
    /// episode is what central acts on. A report without the flag ends the episode.
    fn drop_standing_alarms(&mut self, device: &str, events: &mut Vec<Event>) {
        let key = |e: &Event| -> Option<String> {
            match &e.kind {
                EventKind::SealTampered(t) => {
                    Some(format!("{device}\u{0}{:?}\u{0}{:?}", t.lock, t.tamper))
                }
                EventKind::SealLowBattery(b) => {
                    Some(format!("{device}\u{0}{:?}\u{0}battery", b.lock))
                }
                _ => None,
            }
        };
        let now: std::collections::HashSet<String> = events.iter().filter_map(key).collect();
        let prefix = format!("{device}\u{0}");
        self.standing
            .retain(|k| !k.starts_with(&prefix) || now.contains(k));
        events.retain(|e| match key(e) {
            Some(k) if self.standing.contains(&k) => {
                tracing::debug!(device, "standing alarm repeated; not reported again");
                false
            }
            _ => true,
        });
        if self.standing.len() + now.len() > MAX_THINNED_DEVICES {
            self.standing.clear();
        }
        self.standing.extend(now);
    }

    /// Time-driven checks of every trip (deadlines, dwell limits).
    pub fn tick(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        let (trips, dirty) = (&mut self.trips, &mut self.dirty);
        with_geo(&self.corridors, &self.zones, |geo| {
            for (i, t) in trips.iter_mut().enumerate() {
                let before = out.len();
                t.monitor.tick(geo, now, |e| out.push(e));
                if out.len() > before {
                    dirty.push(i);
                }
            }
        });
    }
}

impl GatewayMonitor {
    /// Applies a validated command from central: `trip.arm`, `trip.disarm`,
    /// `corridor.update`, `zone.update` (`status.request` is the uplink's). Emits the
    /// trip's own events (`trip.armed`, `trip.disarmed`); the caller records the outcome
    /// (`command.applied` / `command.rejected`) and answers on the result topic.
    ///
    /// # Errors
    /// A short reason for central: unknown corridor or zone, a trip already armed, no such
    /// trip, the vehicle not at its destination, invalid geometry.
    pub fn apply(
        &mut self,
        envelope: &crate::command::Envelope,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) -> Result<(), String> {
        use crate::command::Command;
        let officer = || {
            envelope
                .officer
                .clone()
                .ok_or_else(|| "officer: required for trip commands".to_string())
        };
        if self.already_applied(envelope) {
            // In effect already: central retrying a command it had no answer to, or the
            // broker delivering it again after a restart. Answer ok and raise nothing new
            // (applying a geometry again would reset the progress of every trip on it).
            return Ok(());
        }
        match &envelope.command {
            Command::ArmTrip(a) => {
                if let Some(t) = self
                    .trips
                    .iter()
                    .find(|t| t.monitor.plan().declaration == a.declaration)
                {
                    if t.monitor.is_disarmed() {
                        return Err(format!(
                            "trip {} was disarmed; a declaration is armed once",
                            a.declaration
                        ));
                    }
                    return Err(format!("trip {} is already armed", a.declaration));
                }
                if let Some((seal, other)) = a.seals.iter().find_map(|s| {
                    self.trips
                        .iter()
                        .find(|t| !t.monitor.is_disarmed() && t.monitor.has_seal(s.as_str()))
                        .map(|t| (s, t.monitor.plan().declaration.clone()))
                }) {
                    return Err(format!("seal {seal} is on armed trip {other}"));
                }
                if self.trips.len() >= MAX_TRIPS {
                    return Err(format!("at most {MAX_TRIPS} trips"));
                }
                let trip = TripConfig {
                    plan: self.plan_for(a)?,
                    officer: officer()?,
                    gps: None,
                };
                self.arm(trip, now, out).map_err(|e| e.to_string())
            }
            Command::DisarmTrip(d) => self.disarm(d.declaration.as_str(), officer()?, now, out),
            Command::UpdateCorridor(g) => self.update_geometry(GeometryUpdate {
                kind: GeometryKind::Corridor,
                id: g.id.to_string(),
                geojson: g.geojson.to_string(),
            }),
            Command::UpdateZone(g) => self.update_geometry(GeometryUpdate {
                kind: GeometryKind::Zone,
                id: g.id.to_string(),
                geojson: g.geojson.to_string(),
            }),
            Command::StatusRequest => Err("status.request is answered by the uplink".into()),
        }
    }

    /// Whether `envelope` is already in effect: a `trip.arm` whose trip is armed with the
    /// same plan (declaration, vehicle, seals in order, corridor, zones, deadline), a
    /// `trip.disarm` of a trip already disarmed, or a corridor or zone update whose
    /// geometry is the latest one central sent for that id.
    pub fn already_applied(&self, envelope: &crate::command::Envelope) -> bool {
        use crate::command::Command;
        let trip = |declaration: &str| {
            self.trips
                .iter()
                .find(|t| t.monitor.plan().declaration.as_str() == declaration)
        };
        match &envelope.command {
            Command::ArmTrip(a) => trip(a.declaration.as_str()).is_some_and(|t| {
                !t.monitor.is_disarmed() && self.plan_for(a).ok().as_ref() == Some(t.monitor.plan())
            }),
            Command::DisarmTrip(d) => {
                trip(d.declaration.as_str()).is_some_and(|t| t.monitor.is_disarmed())
            }
            Command::UpdateCorridor(g) | Command::UpdateZone(g) => {
                let kind = if matches!(envelope.command, Command::UpdateCorridor(_)) {
                    GeometryKind::Corridor
                } else {
                    GeometryKind::Zone
                };
                let geojson = g.geojson.to_string();
                self.updates
                    .iter()
                    .rev()
                    .find(|u| u.kind == kind && u.id == g.id.as_str())
                    .is_some_and(|u| u.geojson == geojson)
            }
            Command::StatusRequest => false,
        }
    }

    /// The trip plan a `trip.arm` asks for, its corridor and zones found by id.
    fn plan_for(&self, a: &crate::command::ArmTrip) -> Result<TripPlan, String> {
        let corridor = self
            .corridors
            .iter()
            .position(|c| c.id == a.corridor)
            .ok_or_else(|| format!("no corridor {}", a.corridor))?;
        let zone = |id: &ZoneId| {
            self.zones
                .iter()
                .position(|z| z.id == *id)
                .ok_or_else(|| format!("no zone {id}"))
        };
        let (origin, destination) = (zone(&a.origin)?, zone(&a.destination)?);
        let mut seals = heapless::Vec::new();
        for s in &a.seals {
            seals
                .push(s.clone())
                .map_err(|_| "too many seals".to_string())?;
        }
        Ok(TripPlan {
            declaration: a.declaration.clone(),
            vehicle: a.vehicle.clone(),
            seals,
            corridor: u16::try_from(corridor).map_err(|_| "too many corridors".to_string())?,
            origin: u16::try_from(origin).map_err(|_| "too many zones".to_string())?,
            destination: u16::try_from(destination).map_err(|_| "too many zones".to_string())?,
            deadline: a.deadline,
        })
    }
}

/// Which geometry a [`GeometryUpdate`] replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeometryKind {
    /// A corridor (`corridor.update`).
    Corridor,
    /// A zone (`zone.update`).
    Zone,
}

/// A corridor or zone replaced (or added) by central, kept so that it can be re-applied
/// after a restart.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GeometryUpdate {
    /// Corridor or zone.
    pub kind: GeometryKind,
    /// Its id.
    pub id: String,
    /// The GeoJSON feature, as received.
    pub geojson: String,
}

impl GatewayMonitor {
    /// Replaces (or adds) a corridor or zone; the latest update of each id is kept in
    /// [`GatewayMonitor::geometry_updates`].
    ///
    /// # Errors
    /// The geometry is invalid or does not carry `id`.
    pub fn update_geometry(&mut self, update: GeometryUpdate) -> Result<(), String> {
        let full = match update.kind {
            GeometryKind::Corridor => {
                self.corridors.len() >= MAX_GEOMETRIES
                    && !self.corridors.iter().any(|c| c.id.as_str() == update.id)
            }
            GeometryKind::Zone => {
                self.zones.len() >= MAX_GEOMETRIES
                    && !self.zones.iter().any(|z| z.id.as_str() == update.id)
            }
        };
        if full {
            return Err(format!("at most {MAX_GEOMETRIES} corridors and zones each"));
        }
        match update.kind {
            GeometryKind::Corridor => {
                let new = corridors_from_str(
                    Path::new("corridor.update"),
                    &update.geojson,
                    self.max_segment_m,
                );
                replace_one(&mut self.corridors, new, &update.id, "LineString", |c| {
                    c.id.as_str()
                })?;
                // Trips on it measure their progress afresh.
                if let Some(ci) = self
                    .corridors
                    .iter()
                    .position(|c| c.id.as_str() == update.id)
                {
                    for (i, t) in self.trips.iter_mut().enumerate() {
                        if usize::from(t.monitor.plan().corridor) == ci {
                            t.monitor.corridor_changed();
                            self.dirty.push(i);
                        }
                    }
                }
            }
            GeometryKind::Zone => {
                let new = zones_from_str(Path::new("zone.update"), &update.geojson);
                replace_one(&mut self.zones, new, &update.id, "Polygon or Point", |z| {
                    z.id.as_str()
                })?;
            }
        }
        // In place: re-applied in the same order after a restart, updates rebuild the same
        // corridor and zone indices.
        match self
            .updates
            .iter_mut()
            .find(|u| u.kind == update.kind && u.id == update.id)
        {
            Some(u) => *u = update,
            None => self.updates.push(update),
        }
        Ok(())
    }

    /// The geometry updates applied since start (the latest per corridor or zone).
    pub fn geometry_updates(&self) -> &[GeometryUpdate] {
        &self.updates
    }
}

/// The geometry ids saved trips' indices refer to.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeometryIds {
    /// Corridor ids, in index order.
    pub corridors: Vec<CorridorId>,
    /// Zone ids, in index order.
    pub zones: Vec<ZoneId>,
}

/// One trip's saved state: its full detector state and its GPS source.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedTrip {
    /// The trip and its detectors.
    pub monitor: TripMonitor,
    /// The GPS source that reports its position.
    pub gps: Option<SourceName>,
    /// When it was disarmed (absent in files of earlier versions).
    #[serde(default)]
    pub disarmed_at: Option<Timestamp>,
}

/// For each id of `old`, its index in `new` (`None` where it is gone).
fn reindex<T: PartialEq>(old: &[T], new: &[T]) -> Vec<Option<u16>> {
    old.iter()
        .map(|id| new.iter().position(|n| n == id).map(|i| i as u16))
        .collect()
}

/// [`SavedTrip`] by reference, for saving without a copy.
#[derive(Debug, serde::Serialize)]
pub struct SavedTripRef<'a> {
    /// The trip and its detectors.
    pub monitor: &'a TripMonitor,
    /// The GPS source that reports its position.
    pub gps: &'a Option<SourceName>,
    /// When it was disarmed.
    pub disarmed_at: Option<Timestamp>,
}

impl GatewayMonitor {
    /// The ids of the geometry trips' indices refer to now.
    pub fn geometry_ids(&self) -> GeometryIds {
        GeometryIds {
            corridors: self.corridors.iter().map(|c| c.id.clone()).collect(),
            zones: self.zones.iter().map(|z| z.id.clone()).collect(),
        }
    }

    /// Marks trip `i` as changed (a save that failed is retried).
    pub fn mark_dirty(&mut self, i: usize) {
        self.dirty.push(i);
    }

    /// Indices of the trips whose state changed since the last call (to be saved).
    pub fn take_dirty(&mut self) -> Vec<usize> {
        let mut d = std::mem::take(&mut self.dirty);
        d.sort_unstable();
        d.dedup();
        d
    }

    /// Trip `i`'s declaration and state, for saving.
    pub fn saved_trip(&self, i: usize) -> Option<(&str, SavedTripRef<'_>)> {
        self.trips.get(i).map(|t| {
            (
                t.monitor.plan().declaration.as_str(),
                SavedTripRef {
                    monitor: &t.monitor,
                    gps: &t.gps,
                    disarmed_at: t.disarmed_at,
                },
            )
        })
    }

    /// Resumes saved trips, so that a deviation in progress or a running dwell timer
    /// continues where it was. Their indices, taken on geometry `saved`, are re-pointed by
    /// id to the geometry configured now; a trip whose corridor, origin or destination is
    /// no longer configured, or whose declaration is already known, is skipped (logged).
    /// Returns how many trips were resumed.
    pub fn restore(&mut self, saved: &GeometryIds, trips: Vec<SavedTrip>) -> usize {
        let now = self.geometry_ids();
        let corridors = reindex(&saved.corridors, &now.corridors);
        let zones = reindex(&saved.zones, &now.zones);
        let mut resumed = 0;
        for mut t in trips {
            let declaration = t.monitor.plan().declaration.clone();
            if self.has_trip(declaration.as_str()) || self.trips.len() >= MAX_TRIPS {
                tracing::warn!(trip = %declaration, "saved trip skipped: already known or too many trips");
                continue;
            }
            let ok = t.monitor.remap(
                |i| corridors.get(usize::from(i)).copied().flatten(),
                |i| zones.get(usize::from(i)).copied().flatten(),
            );
            if !ok {
                tracing::warn!(trip = %declaration, "saved trip skipped: its corridor or zones are no longer configured");
                continue;
            }
            self.trips.push(TripEntry {
                monitor: t.monitor,
                gps: t.gps,
                disarmed_at: t.disarmed_at,
            });
            resumed += 1;
        }
        resumed
    }
}

/// Replaces (or adds) the one geometry `loaded` holds, which must carry `id`.
fn replace_one<T>(
    list: &mut Vec<T>,
    loaded: Result<Vec<T>, MonitorConfigError>,
    id: &str,
    geometry: &str,
    id_of: impl Fn(&T) -> &str,
) -> Result<(), String> {
    let mut new = loaded.map_err(|e| e.to_string())?;
    if new.len() != 1 || id_of(&new[0]) != id {
        return Err(format!(
            "expected one {geometry} feature with properties.id \"{id}\""
        ));
    }
    let item = new.remove(0);
    match list.iter_mut().find(|x| id_of(x) == id) {
        Some(slot) => *slot = item,
        None => list.push(item),
    }
    Ok(())
}

/// The fix an e-lock's own position report stands for.
pub fn fix_of(report: &SealReport) -> Option<Fix> {
    let p = report.position.as_ref()?;
    Some(Fix {
        time: p.fix_time.or(report.device_time),
        position: Some(LatLon {
            lat: p.lat(),
            lon: p.lon(),
        }),
        speed_mps: p.speed_mps,
        track_deg: p.track_deg,
        alt_msl_m: p.alt_msl_m,
        hdop: p.hdop,
        satellites_used: p.satellites,
        mode: if p.valid {
            FixMode::Fix2D
        } else {
            FixMode::NoFix
        },
        ..Fix::default()
    })
}

/// A small corridor and two zones for unit tests here and in the service.
#[cfg(test)]
pub(crate) mod test_geometry {
    use super::*;

    pub(crate) const CORRIDOR: &str = r#"{"type":"Feature","properties":{"id":"c1","half_width_m":200},
        "geometry":{"type":"LineString","coordinates":[[30.0,0.0],[30.1,0.0]]}}"#;
    pub(crate) const ZONES: &str = r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"id":"o","kind":"origin","radius_m":300},
         "geometry":{"type":"Point","coordinates":[30.0,0.0]}},
        {"type":"Feature","properties":{"id":"d","kind":"destination","radius_m":300},
         "geometry":{"type":"Point","coordinates":[30.1,0.0]}}]}"#;

    /// Trip `declaration` armed by command, its e-lock reporting a valid position at
    /// (lon, 0) at `now`.
    pub(crate) fn armed_and_at(
        m: &mut GatewayMonitor,
        declaration: &str,
        lon: f64,
        now: Timestamp,
    ) {
        let mut out = Vec::new();
        let arm = crate::command::parse(
            "trip.arm",
            format!(
                r#"{{"v":1,"command_id":"a-{declaration}","officer":"KRA-1","args":{{"declaration":"{declaration}","vehicle":"KCX 1",
               "seals":["S-{declaration}"],"corridor":"c1","origin":"o","destination":"d","deadline":"2030-01-01T00:00:00Z"}}}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        m.apply(&arm, now, &mut out).unwrap();
        let fix = Fix {
            time: Some(now),
            position: Some(LatLon { lat: 0.0, lon }),
            mode: FixMode::Fix3D,
            ..Fix::default()
        };
        let i = m
            .trips
            .iter()
            .position(|t| t.monitor.plan().declaration.as_str() == declaration)
            .unwrap();
        m.trips[i].gps = Some(SourceName::new(declaration).unwrap());
        for k in 0..5 {
            let mut f = fix;
            f.time = Some(now + Duration::from_secs(k));
            m.on_fix(declaration, &f, now, &mut out);
        }
    }

    /// Settings with that geometry and no trips.
    pub(crate) fn settings() -> MonitorSettings {
        MonitorSettings {
            config: MonitorConfig::default(),
            corridors: corridors_from_str(Path::new("c.geojson"), CORRIDOR, 1000.0).unwrap(),
            zones: zones_from_str(Path::new("z.geojson"), ZONES).unwrap(),
            trips: Vec::new(),
            max_segment_m: 1000.0,
            keep_disarmed: Duration::from_secs(i64::from(DEFAULT_KEEP_DISARMED_H) * 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::parse;

    use super::test_geometry::{CORRIDOR, ZONES, armed_and_at, settings};

    fn monitor() -> GatewayMonitor {
        GatewayMonitor::new(settings(), Timestamp::from_unix_seconds(0), &mut Vec::new())
    }

    fn command(name: &str, body: &str) -> crate::command::Envelope {
        parse(name, body.as_bytes()).unwrap()
    }

    #[test]
    fn test_commands_arm_disarm_and_update() {
        let mut m = monitor();
        let mut out = Vec::new();
        let now = Timestamp::from_unix_seconds(1000);
        let arm = command(
            "trip.arm",
            r#"{"v":1,"command_id":"c-1","officer":"KRA-1","args":{"declaration":"D1","vehicle":"KCX 1",
               "seals":["S1"],"corridor":"c1","origin":"o","destination":"d","deadline":"2030-01-01T00:00:00Z"}}"#,
        );
        m.apply(&arm, now, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].event_type().as_str(), "trip.armed");
        // The same arm again (central retrying, or the broker delivering it again after
        // a restart): done already, nothing new.
        assert!(m.already_applied(&arm));
        m.apply(&arm, now, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        // Another plan under the same declaration: refused.
        let other = command(
            "trip.arm",
            r#"{"v":1,"command_id":"c-1b","officer":"KRA-1","args":{"declaration":"D1","vehicle":"KCX 2",
               "seals":["S1"],"corridor":"c1","origin":"o","destination":"d","deadline":"2030-01-01T00:00:00Z"}}"#,
        );
        assert!(!m.already_applied(&other));
        assert!(
            m.apply(&other, now, &mut out)
                .unwrap_err()
                .contains("already armed")
        );
        let disarm = command(
            "trip.disarm",
            r#"{"v":1,"command_id":"c-2","officer":"KRA-2","args":{"declaration":"D1"}}"#,
        );
        let e = m.apply(&disarm, now, &mut out).unwrap_err();
        assert!(e.contains("not inside its destination"), "{e}");
        // An e-lock still on an armed trip cannot be put on another one.
        let reused = arm_with(&arm, "d");
        assert_eq!(
            m.apply(&reused, now, &mut out).unwrap_err(),
            "seal S1 is on armed trip D1"
        );
        let mut bad_zone = arm_with(&arm, "nowhere");
        if let crate::command::Command::ArmTrip(a) = &mut bad_zone.command {
            a.seals = vec!["S2".parse().unwrap()];
        }
        assert_eq!(
            m.apply(&bad_zone, now, &mut out).unwrap_err(),
            "no zone nowhere"
        );
        let update = command(
            "zone.update",
            &format!(
                r#"{{"v":1,"command_id":"c-3","officer":"KRA-1","args":{{"id":"r1","geojson":{}}}}}"#,
                r#"{"type":"Feature","properties":{"id":"r1","kind":"rest_stop","radius_m":200,"dwell_limit_s":1800},"geometry":{"type":"Point","coordinates":[30.05,0.0]}}"#
            ),
        );
        assert!(!m.already_applied(&update));
        m.apply(&update, now, &mut out).unwrap();
        assert_eq!(m.zones.len(), 3);
        // The same update again is in effect (not applied again); another geometry is not.
        assert!(m.already_applied(&update));
        let mut moved = update.clone();
        if let crate::command::Command::UpdateZone(g) = &mut moved.command {
            g.geojson["properties"]["radius_m"] = 300.into();
        }
        assert!(!m.already_applied(&moved));
        let wrong_id = command(
            "corridor.update",
            &format!(
                r#"{{"v":1,"command_id":"c-4","officer":"KRA-1","args":{{"id":"c2","geojson":{CORRIDOR}}}}}"#
            ),
        );
        assert!(
            m.apply(&wrong_id, now, &mut out)
                .unwrap_err()
                .contains("properties.id")
        );
    }

    #[test]
    fn test_disarmed_trips_are_retired_after_the_keep_time_and_indices_stay_right() {
        let mut m = monitor();
        let t0 = Timestamp::from_unix_seconds(1_000_000);
        let hour = |h: i64| Duration::from_secs(h * 3600);
        armed_and_at(&mut m, "D1", 30.1, t0); // at the destination
        armed_and_at(&mut m, "D2", 30.05, t0); // on the way
        armed_and_at(&mut m, "D3", 30.1, t0); // at the destination
        m.take_dirty();
        let mut out = Vec::new();
        let disarm = |d: &str| {
            command(
                "trip.disarm",
                &format!(
                    r#"{{"v":1,"command_id":"d-{d}","officer":"KRA-2","args":{{"declaration":"{d}"}}}}"#
                ),
            )
        };
        assert!(!m.already_applied(&disarm("D1")));
        m.apply(&disarm("D1"), t0, &mut out).unwrap();
        // Delivered again (after a restart): in effect already, ok, nothing new recorded.
        assert!(m.already_applied(&disarm("D1")));
        let n = out.len();
        m.apply(&disarm("D1"), t0 + hour(1), &mut out).unwrap();
        assert_eq!(out.len(), n);
        m.apply(&disarm("D3"), t0 + hour(20), &mut out).unwrap();
        assert!(m.retire(t0 + hour(23)).is_empty(), "kept for a day");
        m.take_dirty();
        m.mark_dirty(1); // D2 changed and waits for its save
        m.mark_dirty(2); // so did D3
        assert_eq!(m.retire(t0 + hour(25)), ["D1"]);
        assert_eq!(m.trip_count(), 2);
        // The pending saves now point at D2 and D3 where they moved.
        let dirty: Vec<&str> = m
            .take_dirty()
            .into_iter()
            .map(|i| m.saved_trip(i).unwrap().0)
            .collect();
        assert_eq!(dirty, ["D2", "D3"]);
        // D1's declaration and seal are free again; D3 goes a day after its own disarm.
        assert!(!m.has_trip("D1"));
        assert!(m.retire(t0 + hour(43)).is_empty());
        assert_eq!(m.retire(t0 + hour(45)), ["D3"]);
        assert!(m.has_trip("D2"), "an armed trip is never retired");
        assert_eq!(m.retire(t0 + hour(10_000)), Vec::<String>::new());
        // A trip written in [[trips]] stays: the next start would arm it again.
        armed_and_at(&mut m, "D4", 30.1, t0);
        m.keep_configured(["D4"]);
        m.apply(&disarm("D4"), t0, &mut out).unwrap();
        assert!(m.retire(t0 + hour(10_000)).is_empty());
        assert!(m.has_trip("D4"));
    }

    #[test]
    fn test_saved_trips_resume_by_geometry_id() {
        let mut m = monitor();
        let arm = command(
            "trip.arm",
            r#"{"v":1,"command_id":"c-1","officer":"KRA-1","args":{"declaration":"D1","vehicle":"KCX 1",
               "seals":["S1"],"corridor":"c1","origin":"o","destination":"d","deadline":"2030-01-01T00:00:00Z"}}"#,
        );
        m.apply(&arm, Timestamp::from_unix_seconds(0), &mut Vec::new())
            .unwrap();
        assert_eq!(m.take_dirty(), [0]);
        assert!(m.take_dirty().is_empty());
        let ids = m.geometry_ids();
        let (declaration, saved) = m.saved_trip(0).unwrap();
        assert_eq!(declaration, "D1");
        let text = serde_json::to_string(&saved).unwrap();
        let back: SavedTrip = serde_json::from_str(&text).unwrap();
        // Same geometry, zones in another order: resumed, indices re-pointed.
        let mut other = monitor();
        other.zones.reverse();
        assert_eq!(other.restore(&ids, vec![back.clone()]), 1);
        let plan = other.trips[0].monitor.plan();
        assert_eq!(other.zones[usize::from(plan.origin)].id.as_str(), "o");
        assert_eq!(other.zones[usize::from(plan.destination)].id.as_str(), "d");
        // Known already: skipped.
        assert_eq!(other.restore(&ids, vec![back.clone()]), 0);
        // Destination gone: skipped.
        let mut gone = monitor();
        gone.zones.retain(|z| z.id.as_str() != "d");
        assert_eq!(gone.restore(&ids, vec![back]), 0);
        assert_eq!(gone.trip_count(), 0);
    }

    #[test]
    fn test_a_standing_cut_is_reported_once_per_episode() {
        let sample = include_str!("../../firmware/tests/data/seal-frames/teratrack.txt")
            .lines()
            .next()
            .unwrap();
        let frame = |index: u32, cut: bool| {
            sample
                .replace("\"Index\":\"20\"", &format!("\"Index\":\"{index}\""))
                .replace(
                    "\"LockCutOff\":\"0\"",
                    if cut {
                        "\"LockCutOff\":\"1\""
                    } else {
                        "\"LockCutOff\":\"0\""
                    },
                )
        };
        let mut m = monitor();
        let mut cuts = 0;
        for (index, cut) in [
            (1, false),
            (2, true),
            (3, true),
            (4, true),
            (5, false),
            (6, true),
        ] {
            let decoded =
                ects_firmware::seal::teratrack::decode(frame(index, cut).as_bytes()).unwrap();
            let mut out = Vec::new();
            for r in &decoded.reports {
                m.on_seal_report(r, Timestamp::from_unix_seconds(index.into()), &mut out);
            }
            cuts += out
                .iter()
                .filter(|e| matches!(e.kind, EventKind::SealTampered(_)))
                .count();
        }
        assert_eq!(cuts, 2, "one per episode: reports 2–4, then 6");
    }

    fn arm_with(arm: &crate::command::Envelope, destination: &str) -> crate::command::Envelope {
        let mut e = arm.clone();
        if let crate::command::Command::ArmTrip(a) = &mut e.command {
            a.destination = destination.parse().unwrap();
            a.declaration = "D2".parse().unwrap();
        }
        e
    }

    #[test]
    fn test_geometry_across_the_antimeridian_is_refused() {
        let text = r#"{"type":"Feature","properties":{"id":"fiji","half_width_m":100},
            "geometry":{"type":"LineString","coordinates":[[179.9,-17.0],[-179.9,-17.1]]}}"#;
        let e = corridors_from_str(Path::new("f.geojson"), text, 1000.0).unwrap_err();
        assert!(e.to_string().contains("cross the antimeridian"), "{e}");
    }

    #[test]
    fn test_config_errors_name_file_and_key() {
        let dir = std::env::temp_dir().join(format!("ects-monitor-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("c.geojson"), CORRIDOR).unwrap();
        std::fs::write(dir.join("z.geojson"), ZONES).unwrap();
        let file = dir.join("gw.toml");
        let load_text = |text: &str| {
            let t: toml::Table = toml::from_str(text).unwrap();
            load(
                &file,
                t.get("monitor").cloned(),
                t.get("trips").cloned(),
                60,
            )
            .map(|_| ())
            .unwrap_err()
            .to_string()
        };
        let base = "[monitor]\ncorridors = [\"c.geojson\"]\nzones = [\"z.geojson\"]\n";
        let trip = "[[trips]]\ndeclaration = \"D1\"\nvehicle = \"V\"\ncorridor = \"c1\"\norigin = \"o\"\ndestination = \"d\"\nofficer = \"K\"\n";
        let f = file.display();
        for (text, expected) in [
            (
                format!("{base}stop_limit_s = 5\n"),
                format!("{f}: [monitor] stop_limit_s: expected seconds, at least 60"),
            ),
            (
                format!("{base}colour = 1\n"),
                format!("{f}: [monitor]: unknown field `colour`"),
            ),
            (
                format!("{base}{trip}deadline = \"tomorrow\"\n"),
                format!(
                    "{f}: [[trips]] #1 (D1) deadline: expected an RFC 3339 UTC time such as 2026-12-01T18:00:00Z"
                ),
            ),
            (
                format!("{base}{trip}deadline = \"2030-01-01T00:00:00Z\"\n")
                    .replace("\"c1\"", "\"c9\""),
                format!(
                    "{f}: [[trips]] #1 (D1) corridor: no corridor \"c9\" in the corridor files"
                ),
            ),
            (
                "[monitor]\ncorridors = [\"missing.geojson\"]\n".to_string(),
                format!(
                    "{}: file: cannot open: No such file or directory (os error 2)",
                    dir.join("missing.geojson").display()
                ),
            ),
        ] {
            let got = load_text(&text);
            assert!(got.starts_with(&expected), "{got}\n  expected {expected}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
