//! Corridors: a route polyline with a half-width, and the per-fix "where am I on it" query.
//!
//! A corridor is built once from its vertices into caller-provided buffers (no heap): a
//! [`Segment`] per polyline piece, with its own local tangent plane ([`super::geo`]), and a
//! packed bounding-box tree over the segments ([`IndexNode`], fan-out [`FANOUT`]). Segments
//! longer than `max_segment_m` are split into equal pieces, linear in longitude/latitude
//! as RFC 7946 defines lines, so the local plane stays exact (see the research note: the
//! error that matters is segment length, not the ellipsoid).
//!
//! [`Corridor::locate`] answers, per fix: the distance to the nearest point of the
//! polyline, which segment it is on, and the chainage (metres along the route from the
//! first vertex). It first looks at a few segments around a hint (the previous fix's
//! segment): when the fix is within `accept_m` of one of them — the common case, a truck
//! on its road — that is the answer and it costs a few dozen multiplications whatever the
//! corridor's length. Otherwise a branch-and-bound descent of the box tree finds the exact
//! nearest segment.
//!
//! # Invariants
//! - `locate` never panics and allocates nothing; on an empty corridor it returns `None`.
//! - Distances are metres on the WGS 84 ellipsoid, accurate to well under 1 % of the
//!   distance for segments up to `max_segment_m` ≤ 5 km and offsets up to a few km.
//! - Chainage is continuous and non-decreasing along the polyline, from 0 to
//!   [`Corridor::length_m`].

use core::fmt;

use super::geo::{Scale, wrap_lon};
use crate::event::CorridorId;
use crate::nmea::LatLon;

/// Children per node of the box tree.
pub const FANOUT: usize = 16;
/// Segments examined around the hint: `HINT_BEFORE` before it and `HINT_AFTER` from it.
const HINT_BEFORE: usize = 2;
const HINT_AFTER: usize = 8;
/// Deepest box tree supported (16⁶ ≈ 16 M segments).
const MAX_DEPTH: usize = 6;
/// Lower bounds to boxes are computed with the scale at the fix; shrink them a little so
/// that the scale's change over a tall box never prunes a box that holds the nearest
/// segment.
const BOUND_SAFETY: f64 = 0.98;

/// One piece of the polyline with its local plane, ready for distance tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    a: LatLon,
    kx: f64,
    ky: f64,
    dx: f64,
    dy: f64,
    inv_len2: f64,
    len: f64,
    chain0: f64,
}

/// A bounding box in degrees (one node of the index).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexNode {
    min_lat: f64,
    max_lat: f64,
    min_lon: f64,
    max_lon: f64,
}

impl Default for Segment {
    fn default() -> Self {
        Segment {
            a: LatLon { lat: 0.0, lon: 0.0 },
            kx: 0.0,
            ky: 0.0,
            dx: 0.0,
            dy: 0.0,
            inv_len2: 0.0,
            len: 0.0,
            chain0: 0.0,
        }
    }
}

impl Default for IndexNode {
    fn default() -> Self {
        IndexNode {
            min_lat: f64::INFINITY,
            max_lat: f64::NEG_INFINITY,
            min_lon: f64::INFINITY,
            max_lon: f64::NEG_INFINITY,
        }
    }
}

impl IndexNode {
    fn include(&mut self, p: LatLon) {
        self.min_lat = self.min_lat.min(p.lat);
        self.max_lat = self.max_lat.max(p.lat);
        self.min_lon = self.min_lon.min(p.lon);
        self.max_lon = self.max_lon.max(p.lon);
    }

    fn merge(&mut self, o: &IndexNode) {
        self.min_lat = self.min_lat.min(o.min_lat);
        self.max_lat = self.max_lat.max(o.max_lat);
        self.min_lon = self.min_lon.min(o.min_lon);
        self.max_lon = self.max_lon.max(o.max_lon);
    }

    /// A lower bound of the squared distance from `p` to anything in the box, m².
    #[inline]
    fn bound2(&self, p: LatLon, s: &Scale) -> f64 {
        let dy = if p.lat < self.min_lat {
            self.min_lat - p.lat
        } else if p.lat > self.max_lat {
            p.lat - self.max_lat
        } else {
            0.0
        };
        let dx = if p.lon < self.min_lon {
            self.min_lon - p.lon
        } else if p.lon > self.max_lon {
            p.lon - self.max_lon
        } else {
            0.0
        };
        let (x, y) = (dx * s.kx * BOUND_SAFETY, dy * s.ky * BOUND_SAFETY);
        x * x + y * y
    }
}

/// Why a corridor could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorridorError {
    /// Fewer than two distinct vertices.
    TooFewVertices,
    /// Vertex `n` (0-based) is not a finite WGS 84 position.
    BadVertex(usize),
    /// The segment buffer is too small: this many are needed.
    SegmentBuffer(usize),
    /// The index buffer does not have the length [`index_len`] gives: this many are needed.
    IndexBuffer(usize),
    /// The half-width is not a positive finite number of metres.
    BadWidth,
}

impl fmt::Display for CorridorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorridorError::TooFewVertices => {
                f.write_str("a corridor needs at least two distinct vertices")
            }
            CorridorError::BadVertex(n) => write!(
                f,
                "vertex {n} is not a valid WGS 84 position (longitude −180..180, latitude −90..90)"
            ),
            CorridorError::SegmentBuffer(n) => {
                write!(f, "segment buffer too small: {n} segments needed")
            }
            CorridorError::IndexBuffer(n) => write!(f, "index buffer must hold exactly {n} nodes"),
            CorridorError::BadWidth => {
                f.write_str("the half-width must be a positive number of metres")
            }
        }
    }
}

impl core::error::Error for CorridorError {}

fn valid(p: LatLon) -> bool {
    p.lat.is_finite() && p.lon.is_finite() && p.lat.abs() <= 90.0 && p.lon.abs() <= 180.0
}

/// How many pieces the segment a→b is split into so that none is longer than `max_m`.
fn pieces(a: LatLon, b: LatLon, max_m: f64) -> usize {
    let s = Scale::at((a.lat + b.lat) / 2.0);
    let (x, y) = s.project(a, b);
    let len = libm::sqrt(x * x + y * y);
    // A hair of tolerance: a segment drawn at exactly `max_m` must stay whole.
    if max_m.is_nan() || max_m <= 0.0 || len <= max_m * 1.000_1 {
        1
    } else {
        // Bounded: a 20,000 km segment split at 1 m would be 2e7 pieces; cap it so the
        // count stays meaningful for buffers.
        (libm::ceil(len / max_m) as usize).clamp(1, 1 << 24)
    }
}

/// How many [`Segment`]s [`build_segments`] writes for `vertices` (repeated vertices are
/// skipped; long segments are split at `max_segment_m`).
///
/// # Errors
/// [`CorridorError::BadVertex`] for a vertex that is not a WGS 84 position.
pub fn segments_needed(vertices: &[LatLon], max_segment_m: f64) -> Result<usize, CorridorError> {
    let mut n = 0usize;
    let mut prev: Option<LatLon> = None;
    for (i, &v) in vertices.iter().enumerate() {
        if !valid(v) {
            return Err(CorridorError::BadVertex(i));
        }
        if let Some(p) = prev {
            if p == v {
                continue;
            }
            n = n.saturating_add(pieces(p, v, max_segment_m));
        }
        prev = Some(v);
    }
    if n == 0 {
        return Err(CorridorError::TooFewVertices);
    }
    Ok(n)
}

/// Fills `out` with the segments of the polyline `vertices`; returns how many were written.
///
/// # Errors
/// As [`segments_needed`], and [`CorridorError::SegmentBuffer`] when `out` is too small.
pub fn build_segments(
    vertices: &[LatLon],
    max_segment_m: f64,
    out: &mut [Segment],
) -> Result<usize, CorridorError> {
    let need = segments_needed(vertices, max_segment_m)?;
    if out.len() < need {
        return Err(CorridorError::SegmentBuffer(need));
    }
    let mut n = 0;
    let mut chain = 0.0;
    let mut prev: Option<LatLon> = None;
    for &v in vertices {
        let Some(p) = prev else {
            prev = Some(v);
            continue;
        };
        if p == v {
            continue;
        }
        let k = pieces(p, v, max_segment_m);
        let dlon = wrap_lon(v.lon - p.lon);
        for i in 0..k {
            let f0 = i as f64 / k as f64;
            let f1 = (i + 1) as f64 / k as f64;
            let a = LatLon {
                lat: p.lat + (v.lat - p.lat) * f0,
                lon: p.lon + dlon * f0,
            };
            let b = LatLon {
                lat: p.lat + (v.lat - p.lat) * f1,
                lon: p.lon + dlon * f1,
            };
            let seg = Segment::new(a, b, chain);
            chain += seg.len;
            out[n] = seg;
            n += 1;
        }
        prev = Some(v);
    }
    Ok(n)
}

impl Segment {
    fn new(a: LatLon, b: LatLon, chain0: f64) -> Segment {
        let s = Scale::at((a.lat + b.lat) / 2.0);
        let (dx, dy) = s.project(a, b);
        let len2 = dx * dx + dy * dy;
        Segment {
            a,
            kx: s.kx,
            ky: s.ky,
            dx,
            dy,
            inv_len2: if len2 > 0.0 { 1.0 / len2 } else { 0.0 },
            len: libm::sqrt(len2),
            chain0,
        }
    }

    /// The segment's start.
    pub fn start(&self) -> LatLon {
        self.a
    }

    /// The segment's end.
    pub fn end(&self) -> LatLon {
        LatLon {
            lat: self.a.lat + self.dy / self.ky,
            lon: self.a.lon + self.dx / self.kx,
        }
    }

    /// Length, metres.
    pub fn length_m(&self) -> f64 {
        self.len
    }

    /// Squared distance from `p` to the segment, m², and the fraction 0..1 along it of
    /// the nearest point.
    #[inline]
    fn distance2(&self, p: LatLon) -> (f64, f64) {
        let px = wrap_lon(p.lon - self.a.lon) * self.kx;
        let py = (p.lat - self.a.lat) * self.ky;
        let t = ((px * self.dx + py * self.dy) * self.inv_len2).clamp(0.0, 1.0);
        let ex = px - t * self.dx;
        let ey = py - t * self.dy;
        (ex * ex + ey * ey, t)
    }
}

/// Node counts per level of the index over `segments` segments, bottom level first.
fn levels(segments: usize) -> impl Iterator<Item = usize> {
    let mut n = segments;
    core::iter::from_fn(move || {
        if n <= 1 {
            return None;
        }
        n = n.div_ceil(FANOUT);
        Some(n)
    })
}

/// The number of [`IndexNode`]s the index over `segments` segments needs.
pub fn index_len(segments: usize) -> usize {
    levels(segments).sum()
}

/// Fills `index` (of length [`index_len`]`(segments.len())`) with the box tree.
///
/// # Errors
/// [`CorridorError::IndexBuffer`] when `index` has the wrong length.
pub fn build_index(segments: &[Segment], index: &mut [IndexNode]) -> Result<(), CorridorError> {
    let need = index_len(segments.len());
    if index.len() != need {
        return Err(CorridorError::IndexBuffer(need));
    }
    let mut start = 0;
    let mut below = segments.len();
    for (level, count) in levels(segments.len()).enumerate() {
        for j in 0..count {
            let mut node = IndexNode::default();
            let lo = j * FANOUT;
            let hi = ((j + 1) * FANOUT).min(below);
            for c in lo..hi {
                if level == 0 {
                    node.include(segments[c].start());
                    node.include(segments[c].end());
                } else {
                    let child = index[start - below + c];
                    node.merge(&child);
                }
            }
            index[start + j] = node;
        }
        start += count;
        below = count;
    }
    Ok(())
}

/// Where a fix is relative to a corridor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// Distance to the polyline, metres.
    pub distance_m: f64,
    /// Index of the segment the nearest point lies on.
    pub segment: u32,
    /// Metres along the route from its first vertex to the nearest point.
    pub chainage_m: f64,
    /// The answer came from the hint window (continuity with the previous fix).
    pub from_hint: bool,
}

/// A corridor ready for per-fix queries: borrowed segments and index.
#[derive(Debug, Clone, Copy)]
pub struct Corridor<'a> {
    /// The corridor's id (from the corridor configuration).
    pub id: &'a CorridorId,
    /// Half-width, metres: a fix further than this from the centre line is outside.
    pub half_width_m: f32,
    segments: &'a [Segment],
    index: &'a [IndexNode],
}

impl<'a> Corridor<'a> {
    /// A corridor over segments and index built by [`build_segments`] and [`build_index`].
    ///
    /// # Errors
    /// [`CorridorError::IndexBuffer`] when the index does not fit the segments,
    /// [`CorridorError::TooFewVertices`] without segments, [`CorridorError::BadWidth`].
    pub fn new(
        id: &'a CorridorId,
        half_width_m: f32,
        segments: &'a [Segment],
        index: &'a [IndexNode],
    ) -> Result<Self, CorridorError> {
        if segments.is_empty() {
            return Err(CorridorError::TooFewVertices);
        }
        if index.len() != index_len(segments.len()) {
            return Err(CorridorError::IndexBuffer(index_len(segments.len())));
        }
        if !(half_width_m.is_finite() && half_width_m > 0.0) {
            return Err(CorridorError::BadWidth);
        }
        Ok(Corridor {
            id,
            half_width_m,
            segments,
            index,
        })
    }

    /// Length along the route, metres.
    pub fn length_m(&self) -> f64 {
        self.segments.last().map_or(0.0, |s| s.chain0 + s.len)
    }

    /// The segments.
    pub fn segments(&self) -> &'a [Segment] {
        self.segments
    }

    /// The nearest point of the corridor to `p` (see the module docs). `hint` is the
    /// previous fix's [`Match::segment`]; when a segment near it is within `accept_m`,
    /// that segment is the answer even if another part of the corridor is nearer (a
    /// route that doubles back on itself must not make the chainage jump).
    pub fn locate(&self, p: LatLon, hint: Option<u32>, accept_m: f64) -> Option<Match> {
        if !valid(p) {
            return None;
        }
        let mut best = (f64::INFINITY, 0usize, 0.0);
        if let Some(h) = hint {
            let h = (h as usize).min(self.segments.len() - 1);
            let lo = h.saturating_sub(HINT_BEFORE);
            let hi = (h + HINT_AFTER).min(self.segments.len());
            for (i, s) in self.segments[lo..hi].iter().enumerate() {
                let (d2, t) = s.distance2(p);
                if d2 < best.0 {
                    best = (d2, lo + i, t);
                }
            }
            if best.0 <= accept_m * accept_m {
                return Some(self.make_match(best, true));
            }
        }
        self.search(p, &mut best);
        best.0.is_finite().then(|| self.make_match(best, false))
    }

    fn make_match(&self, (d2, i, t): (f64, usize, f64), from_hint: bool) -> Match {
        let s = &self.segments[i];
        Match {
            distance_m: libm::sqrt(d2),
            segment: i as u32,
            chainage_m: s.chain0 + t * s.len,
            from_hint,
        }
    }

    /// Branch-and-bound over the box tree; improves `best` (squared distance, segment,
    /// fraction).
    fn search(&self, p: LatLon, best: &mut (f64, usize, f64)) {
        let scale = Scale::at(p.lat);
        // Level offsets and counts, bottom first.
        let mut offs = [0usize; MAX_DEPTH + 1];
        let mut counts = [0usize; MAX_DEPTH + 1];
        let mut depth = 0;
        let mut off = 0;
        for c in levels(self.segments.len()) {
            if depth == MAX_DEPTH {
                // Deeper than supported: scan everything (never reached below 16 M).
                return self.scan(p, best);
            }
            offs[depth] = off;
            counts[depth] = c;
            off += c;
            depth += 1;
        }
        if depth == 0 {
            return self.scan(p, best);
        }
        // Explicit stack of (level, node index): at most FANOUT per level.
        let mut stack = [(0u8, 0u32); MAX_DEPTH * FANOUT];
        let mut sp = 0;
        let top = depth - 1;
        for j in 0..counts[top] {
            if sp < stack.len() {
                stack[sp] = (top as u8, j as u32);
                sp += 1;
            }
        }
        while sp > 0 {
            sp -= 1;
            let (level, j) = stack[sp];
            let (level, j) = (level as usize, j as usize);
            let node = &self.index[offs[level] + j];
            if node.bound2(p, &scale) >= best.0 {
                continue;
            }
            let lo = j * FANOUT;
            if level == 0 {
                let hi = (lo + FANOUT).min(self.segments.len());
                for (i, s) in self.segments[lo..hi].iter().enumerate() {
                    let (d2, t) = s.distance2(p);
                    if d2 < best.0 {
                        *best = (d2, lo + i, t);
                    }
                }
            } else {
                let hi = (lo + FANOUT).min(counts[level - 1]);
                // Best first: push the children that can still hold something nearer,
                // farthest first, so that the nearest is examined next and tightens the
                // bound early (a corridor's nodes are in route order, not space order).
                let mut kids = [(0.0f64, 0u32); FANOUT];
                let mut k = 0;
                for c in lo..hi {
                    let b = self.index[offs[level - 1] + c].bound2(p, &scale);
                    if b < best.0 {
                        kids[k] = (b, c as u32);
                        k += 1;
                    }
                }
                let kids = &mut kids[..k];
                kids.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
                for &(_, c) in kids.iter() {
                    if sp < stack.len() {
                        stack[sp] = ((level - 1) as u8, c);
                        sp += 1;
                    }
                }
            }
        }
    }

    fn scan(&self, p: LatLon, best: &mut (f64, usize, f64)) {
        for (i, s) in self.segments.iter().enumerate() {
            let (d2, t) = s.distance2(p);
            if d2 < best.0 {
                *best = (d2, i, t);
            }
        }
    }
}
