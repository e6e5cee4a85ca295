//! One trip under customs control and the detectors that watch it.
//!
//! A [`TripMonitor`] is armed by an officer with a [`TripPlan`] (declaration, vehicle,
//! seals, corridor, origin, destination, deadline) and then fed, in time order, the fixes
//! of the vehicle's GPS ([`TripMonitor::on_fix`]), the seal events of its seals
//! ([`TripMonitor::on_seal_event`]) and clock ticks ([`TripMonitor::tick`]). It returns
//! the events customs acts on through a callback. It does no I/O and reads no clock.
//!
//! Detectors, each confirmed so that GPS noise does not flap alarms:
//!
//! | detector | raises | confirmation |
//! | --- | --- | --- |
//! | route deviation | `route.deviation` (critical), then `route.returned` | out: further than width + margin for N fixes *and* T seconds; back: nearer than width − margin for N fixes |
//! | wrong way (U-turn) | `route.deviation` with reason `wrong_way` | chainage more than `backtrack_m` behind the furthest point reached, for N fixes and T seconds |
//! | unauthorized stop | `stop.unauthorized` | the vehicle stays within `stop_radius_m` for `stop_limit_s` outside every zone (two fixes outside the radius restart the stop; one outlier does not) |
//! | zone overstay | `stop.overstay` | inside a zone longer than its own dwell limit |
//! | zones | `zone.entered`, `zone.exited` | N fixes inside; N fixes more than `zone_exit_margin_m` outside |
//! | deadline | `transit.overdue` | the deadline passes before the vehicle reaches its destination |
//! | GPS | `gps.lost` (while moving), `gps.restored`, `gps.jamming`, `gps.jump` | from [`IntegrityMonitor`] |
//! | seals | `seal.opened` / `seal.tampered` made critical unless the trip is disarmed and the vehicle is inside its destination | — |
//!
//! Fixes that are invalid, worse than `max_hdop`, older than the last one used, or an
//! impossible jump never move the corridor, zone or stop detectors.
//!
//! # Invariants
//! - Every alarm is raised once per episode: a deviation gives exactly one
//!   `route.deviation` and at most one `route.returned`.
//! - Fixed size (see `test_trip_monitor_fits_in_one_kib`), no heap, no panics.
//! - Disarmed trips raise nothing but re-graded seal events.

use core::fmt;

use heapless::Vec;

use super::corridor::Corridor;
use super::geo::local_distance_m;
use super::zone::Zone;
use crate::event::{
    CorridorId, Declaration, DeviationReason, Event, EventKind, GpsJamming, OfficerId, Position,
    PositionReport, RouteDeviation, RouteReturned, SealId, Severity, StopOverstay,
    StopUnauthorized, TransitOverdue, TripArmed, TripDisarmed, VehicleId, ZoneCrossing,
};
use crate::nmea::LatLon;
use crate::nmea::fix::Fix;
use crate::nmea::integrity::{IntegrityConfig, IntegrityMonitor, IntegritySignal};
use crate::time::{Duration, Timestamp};

/// A C/N0 drop and a loss of fix this close together (seconds) are jamming.
pub const JAM_WINDOW_S: i64 = 120;
/// A fix time this far (seconds) ahead of the gateway's clock is not believed.
pub const MAX_FIX_AHEAD_S: i64 = 300;

/// Most seals one trip carries.
pub const MAX_TRIP_SEALS: usize = 4;
/// Most zones a vehicle can be inside at once.
pub const MAX_ZONES_INSIDE: usize = 4;

/// Thresholds of the detectors. Defaults are for road freight; every one is configuration.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorConfig {
    /// Fixes outside (or inside, for the return) needed to confirm a deviation or return.
    pub confirm_fixes: u8,
    /// Seconds outside needed to confirm a deviation.
    pub confirm_s: u32,
    /// Hysteresis margin around the corridor width, metres (capped at half the width).
    pub margin_m: f32,
    /// How far behind the furthest chainage reached counts as going the wrong way, metres.
    pub backtrack_m: f32,
    /// A stop is the vehicle staying within this radius, metres.
    pub stop_radius_m: f32,
    /// Longest stop outside every zone, seconds.
    pub stop_limit_s: u32,
    /// Fixes needed to confirm entering or leaving a zone.
    pub zone_confirm_fixes: u8,
    /// How far outside a zone a fix must be to count towards leaving it, metres.
    pub zone_exit_margin_m: f32,
    /// Speed above which the vehicle counts as moving (for `gps.lost`), m/s.
    pub moving_mps: f32,
    /// Fixes with a worse HDOP are not used by the detectors.
    pub max_hdop: f32,
    /// Shortest time between routine `position` events, seconds (0: every fix).
    pub position_interval_s: u32,
    /// GPS integrity thresholds.
    pub integrity: IntegrityConfig,
}

impl Default for MonitorConfig {
    /// 3 fixes and 60 s to confirm, 25 m margin, 1 km wrong-way, 150 m / 15 min stops,
    /// 2 fixes and 30 m for zones, 2 m/s moving, HDOP 10, positions every 60 s.
    fn default() -> Self {
        MonitorConfig {
            confirm_fixes: 3,
            confirm_s: 60,
            margin_m: 25.0,
            backtrack_m: 1000.0,
            stop_radius_m: 150.0,
            stop_limit_s: 900,
            zone_confirm_fixes: 2,
            zone_exit_margin_m: 30.0,
            moving_mps: 2.0,
            max_hdop: 10.0,
            position_interval_s: 60,
            integrity: IntegrityConfig::default(),
        }
    }
}

/// The corridors and zones trips refer to (by index).
#[derive(Debug, Clone, Copy)]
pub struct Geography<'a> {
    /// Configured corridors.
    pub corridors: &'a [Corridor<'a>],
    /// Configured zones.
    pub zones: &'a [Zone<'a>],
}

/// What an officer arms: the trip's identity and its route.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TripPlan {
    /// Customs declaration (transit document) number.
    pub declaration: Declaration,
    /// The vehicle.
    pub vehicle: VehicleId,
    /// The seals and e-locks on the load.
    pub seals: Vec<SealId, MAX_TRIP_SEALS>,
    /// Index of the corridor in [`Geography::corridors`].
    pub corridor: u16,
    /// Index of the origin zone in [`Geography::zones`].
    pub origin: u16,
    /// Index of the destination zone in [`Geography::zones`].
    pub destination: u16,
    /// When the vehicle must have reached its destination.
    pub deadline: Timestamp,
}

/// Why an operation on a trip was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TripError {
    /// The plan names a corridor or zone index that does not exist.
    UnknownGeography,
    /// Disarming needs the vehicle inside its destination zone.
    NotAtDestination,
    /// The trip is already disarmed.
    AlreadyDisarmed,
}

impl fmt::Display for TripError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TripError::UnknownGeography => {
                "the trip names a corridor or zone that is not configured"
            }
            TripError::NotAtDestination => "the vehicle is not inside its destination zone",
            TripError::AlreadyDisarmed => "the trip is already disarmed",
        })
    }
}

impl core::error::Error for TripError {}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
enum Route {
    /// Inside the corridor (or not yet located).
    On,
    /// Outside since `since` for `count` fixes; not confirmed yet.
    Suspect { since: Timestamp, count: u8 },
    /// Deviation confirmed at `since`; `back` consecutive fixes inside.
    Deviated { since: Timestamp, back: u8 },
}

/// What one fix did to a [`Route`] state.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Change {
    None,
    /// The episode is confirmed: raise the alarm.
    Confirmed,
    /// The vehicle is confirmed back; the episode began at `since`.
    Returned {
        since: Timestamp,
    },
}

impl Route {
    /// One fix of a confirmed-episode detector: `out` says the fix is off course, `back`
    /// that it is clearly back on course (the hysteresis lies between the two). An episode
    /// is confirmed by `confirm` consecutive `out` fixes spanning `confirm_t`, and ends
    /// after `confirm` consecutive `back` fixes.
    fn step(
        &mut self,
        out: bool,
        back: bool,
        t: Timestamp,
        confirm: u8,
        confirm_t: Duration,
    ) -> Change {
        match *self {
            Route::On => {
                if out {
                    *self = Route::Suspect { since: t, count: 1 };
                }
                Change::None
            }
            Route::Suspect { since, count } => {
                if !out {
                    *self = Route::On;
                    return Change::None;
                }
                let count = count.saturating_add(1);
                *self = Route::Suspect { since, count };
                if count >= confirm && t - since >= confirm_t {
                    *self = Route::Deviated { since, back: 0 };
                    return Change::Confirmed;
                }
                Change::None
            }
            Route::Deviated { since, back: n } => {
                let n = if back { n.saturating_add(1) } else { 0 };
                *self = Route::Deviated { since, back: n };
                if n >= confirm {
                    *self = Route::On;
                    return Change::Returned { since };
                }
                Change::None
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct ZoneSlot {
    zone: u16,
    entered_at: Timestamp,
    /// Consecutive fixes outside by more than the exit margin.
    out: u8,
    overstay_reported: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct StopState {
    anchor: LatLon,
    since: Timestamp,
    /// The last fix inside the radius: the stop lasted at least `last_in - since`.
    last_in: Timestamp,
    /// Consecutive fixes outside the stop radius.
    moved: u8,
    reported: bool,
}

/// A jump not yet believed: the signal, the jumped fix's position, the last good fix.
type PendingJump = (
    IntegritySignal,
    Option<Position>,
    Option<(LatLon, Timestamp)>,
);

/// The state of one armed (or disarmed) trip. See the module docs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TripMonitor {
    plan: TripPlan,
    disarmed: bool,
    arrived: bool,
    overdue_reported: bool,
    /// Last fix time used by the detectors.
    last_t: Option<Timestamp>,
    last_position: Option<Position>,
    last_position_event: Option<Timestamp>,
    route: Route,
    hint: Option<u32>,
    /// Furthest chainage reached, metres, and the last one with its time.
    progress_m: f64,
    last_chainage: Option<(f64, Timestamp)>,
    wrong_way: Route,
    zones: Vec<ZoneSlot, MAX_ZONES_INSIDE>,
    /// Zones a fix was inside but not yet confirmed: (zone, consecutive fixes).
    entering: Vec<(u16, u8), MAX_ZONES_INSIDE>,
    stop: Option<StopState>,
    integrity: IntegrityMonitor,
    gps_lost: bool,
    jamming: bool,
    /// A jump not yet confirmed: the signal, its fix's position, and the last good fix
    /// before it. Confirmed (reported) when the next fix stays with the jumped position;
    /// dropped as an outlier when the next fix comes back.
    pending_jump: Option<PendingJump>,
    last_good: Option<(LatLon, Timestamp)>,
    /// The last all-satellite C/N0 drop and when it was seen: jamming only if the fix is
    /// lost within [`JAM_WINDOW_S`] of it.
    cn0_drop: Option<(f32, Timestamp)>,
    config: MonitorConfig,
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs().max(0)).unwrap_or(u32::MAX)
}

impl TripMonitor {
    /// Arms a trip: returns the monitor and emits `trip.armed`.
    ///
    /// # Errors
    /// [`TripError::UnknownGeography`] if the plan names a corridor or zone that `geo`
    /// does not have.
    pub fn arm(
        plan: TripPlan,
        officer: OfficerId,
        geo: &Geography<'_>,
        config: MonitorConfig,
        now: Timestamp,
        mut emit: impl FnMut(Event),
    ) -> Result<Self, TripError> {
        let corridor = geo.corridors.get(plan.corridor as usize);
        let origin = geo.zones.get(plan.origin as usize);
        let destination = geo.zones.get(plan.destination as usize);
        let (Some(corridor), Some(origin), Some(destination)) = (corridor, origin, destination)
        else {
            return Err(TripError::UnknownGeography);
        };
        let monitor = TripMonitor {
            plan,
            disarmed: false,
            arrived: false,
            overdue_reported: false,
            last_t: None,
            last_position: None,
            last_position_event: None,
            route: Route::On,
            hint: None,
            progress_m: 0.0,
            last_chainage: None,
            wrong_way: Route::On,
            zones: Vec::new(),
            entering: Vec::new(),
            stop: None,
            integrity: IntegrityMonitor::new(config.integrity),
            gps_lost: false,
            jamming: false,
            pending_jump: None,
            last_good: None,
            cn0_drop: None,
            config,
        };
        emit(monitor.event(
            EventKind::TripArmed(TripArmed {
                officer,
                corridor: corridor.id.clone(),
                origin: origin.id.clone(),
                destination: destination.id.clone(),
                deadline: monitor.plan.deadline,
            }),
            now,
        ));
        Ok(monitor)
    }

    /// The plan.
    pub fn plan(&self) -> &TripPlan {
        &self.plan
    }

    /// Whether an officer has disarmed the trip.
    pub fn is_disarmed(&self) -> bool {
        self.disarmed
    }

    /// Whether a route deviation (or wrong-way travel) is in progress.
    pub fn is_deviated(&self) -> bool {
        matches!(self.route, Route::Deviated { .. })
            || matches!(self.wrong_way, Route::Deviated { .. })
    }

    /// Whether the vehicle is (confirmed) inside zone `zone`.
    pub fn is_inside(&self, zone: u16) -> bool {
        self.zones.iter().any(|s| s.zone == zone)
    }

    /// Re-points the trip's corridor and zone indices after the geometry changed (a
    /// restart with other files, an update from central): `corridor` and `zone` map an old
    /// index to the new one, or `None` where that corridor or zone is gone. Returns `false`
    /// (and changes nothing) if the trip's own corridor, origin or destination is gone;
    /// zones the vehicle was in that are gone are forgotten.
    pub fn remap(
        &mut self,
        corridor: impl Fn(u16) -> Option<u16>,
        zone: impl Fn(u16) -> Option<u16>,
    ) -> bool {
        let (Some(c), Some(o), Some(d)) = (
            corridor(self.plan.corridor),
            zone(self.plan.origin),
            zone(self.plan.destination),
        ) else {
            return false;
        };
        if c != self.plan.corridor {
            self.hint = None;
        }
        self.plan.corridor = c;
        self.plan.origin = o;
        self.plan.destination = d;
        let mut zones = Vec::new();
        for slot in &self.zones {
            if let Some(z) = zone(slot.zone) {
                let _ = zones.push(ZoneSlot { zone: z, ..*slot });
            }
        }
        self.zones = zones;
        let mut entering = Vec::new();
        for &(z0, n) in &self.entering {
            if let Some(z) = zone(z0) {
                let _ = entering.push((z, n));
            }
        }
        self.entering = entering;
        true
    }

    /// The trip's corridor geometry was replaced: progress along it is measured afresh
    /// (a shorter or re-routed corridor must not make every truck look like it turned
    /// back).
    pub fn corridor_changed(&mut self) {
        self.hint = None;
        self.last_chainage = None;
        self.progress_m = 0.0;
        if matches!(self.wrong_way, Route::Suspect { .. }) {
            self.wrong_way = Route::On;
        }
    }

    /// Whether `seal` (an e-seal or lock id, or a device id) belongs to this trip.
    pub fn has_seal(&self, seal: &str) -> bool {
        self.plan.seals.iter().any(|s| s.as_str() == seal)
    }

    /// Disarms the trip (an officer at the destination). Emits `trip.disarmed`.
    ///
    /// # Errors
    /// [`TripError::NotAtDestination`] unless the vehicle is confirmed inside its
    /// destination zone; [`TripError::AlreadyDisarmed`].
    pub fn disarm(
        &mut self,
        officer: OfficerId,
        geo: &Geography<'_>,
        now: Timestamp,
        mut emit: impl FnMut(Event),
    ) -> Result<(), TripError> {
        if self.disarmed {
            return Err(TripError::AlreadyDisarmed);
        }
        if !self.is_inside(self.plan.destination) {
            return Err(TripError::NotAtDestination);
        }
        self.disarmed = true;
        let zone = geo
            .zones
            .get(self.plan.destination as usize)
            .map(|z| z.id.clone());
        emit(self.event(EventKind::TripDisarmed(TripDisarmed { officer, zone }), now));
        Ok(())
    }

    /// Attaches the trip to a seal event of one of its seals and grades it: an opening or
    /// tampering is critical unless the trip is disarmed and the vehicle is inside its
    /// destination, where it is the expected end of the transit (info).
    pub fn on_seal_event(&self, event: &mut Event) {
        event.trip = Some(self.plan.declaration.clone());
        event.vehicle = Some(self.plan.vehicle.clone());
        if event.position.is_none() {
            event.position.clone_from(&self.last_position);
        }
        if matches!(
            event.kind,
            EventKind::SealOpened(_) | EventKind::SealTampered(_)
        ) {
            event.severity = if self.disarmed && self.is_inside(self.plan.destination) {
                Severity::Info
            } else {
                Severity::Critical
            };
        }
    }

    /// Time-driven checks (deadline, dwell limits) for when fixes are sparse.
    pub fn tick(&mut self, geo: &Geography<'_>, now: Timestamp, mut emit: impl FnMut(Event)) {
        if self.disarmed {
            return;
        }
        self.timers(geo, now, &mut emit);
    }

    /// Feeds one GPS epoch of the vehicle (from NMEA, UBX or an e-lock's own report).
    /// `now` is the gateway's receive time; the detectors use the fix's own time when it
    /// has one.
    pub fn on_fix(
        &mut self,
        geo: &Geography<'_>,
        fix: &Fix,
        now: Timestamp,
        mut emit: impl FnMut(Event),
    ) {
        if self.disarmed {
            return;
        }
        // A device clock far ahead of the gateway's must not push the detectors' time into
        // the future (every later fix would look old): such fixes take the receive time.
        let t = fix
            .time
            .filter(|ft| *ft <= now + Duration::from_secs(MAX_FIX_AHEAD_S))
            .unwrap_or(now);
        let position = fix.event_position();
        let mut jump = None;
        for signal in self.integrity.step(fix) {
            if matches!(signal, IntegritySignal::PositionJump { .. }) {
                jump = Some(signal);
            } else {
                self.on_signal(signal, position.as_ref(), t, &mut emit);
            }
        }
        if let Some(pending) = self.pending_jump.take_if(|_| fix.position.is_some()) {
            // (A fix without a position decides nothing: the jump stays pending.)
            let (signal, at, before) = pending;
            let came_back = jump.is_some()
                && matches!((fix.position, before), (Some(p), Some((b, bt)))
                    if self.plausible(b, bt, p, t));
            if came_back {
                jump = None; // the jumped fix was an outlier
            } else {
                self.report_jump(signal, at, t, &mut emit);
            }
        }
        let usable = fix.mode.has_fix()
            && !fix.simulated
            && fix.hdop.is_none_or(|h| h <= self.config.max_hdop)
            && self.last_t.is_none_or(|last| t > last);
        let (Some(p), Some(pos), true) = (fix.position, position, usable) else {
            return;
        };
        if let Some(signal) = jump {
            // Not believed until the next fix: it must not move the detectors, nor become
            // the position later events carry (a single outlier would otherwise put the
            // truck 300 m off the road in the next alarm or position report).
            self.pending_jump = Some((signal, Some(pos), self.last_good));
            return;
        }
        self.last_position = Some(pos.clone());
        if self.last_position_event.is_none_or(|last| {
            t - last >= Duration::from_secs(self.config.position_interval_s.into())
        }) {
            self.last_position_event = Some(t);
            emit(self.event(EventKind::Position(PositionReport { buffered: false }), t));
        }
        self.last_good = Some((p, t));
        self.last_t = Some(t);
        self.zones_step(geo, p, t, &mut emit);
        self.route_step(geo, p, t, &mut emit);
        self.stop_step(p, t);
        self.timers(geo, t, &mut emit);
    }

    /// Feeds the receiver's own jamming detector (u-blox MON-RF).
    pub fn on_mon_rf(
        &mut self,
        rf: &crate::ubx::MonRfData,
        now: Timestamp,
        mut emit: impl FnMut(Event),
    ) {
        if self.disarmed {
            return;
        }
        if let Some(IntegritySignal::ReceiverJamming { .. }) = self.integrity.step_mon_rf(rf) {
            let pos = self.last_position.clone();
            let mut e = self.event(
                EventKind::GpsJamming(GpsJamming {
                    cn0_drop_db: self.cn0_drop.map(|(d, _)| d),
                    receiver_flag: true,
                }),
                now,
            );
            e.position = pos;
            emit(e);
        }
    }

    fn on_signal(
        &mut self,
        signal: IntegritySignal,
        position: Option<&Position>,
        t: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        match signal {
            IntegritySignal::Cn0Drop { drop_db, .. } => {
                self.cn0_drop = Some((drop_db, t));
                if self.gps_lost && !self.jamming {
                    self.jamming = true;
                    self.emit_jamming(t, emit);
                }
            }
            IntegritySignal::FixLost { last_speed_mps, .. } => {
                let window = Duration::from_secs(JAM_WINDOW_S);
                if self
                    .cn0_drop
                    .is_some_and(|(_, at)| (t - at).abs() <= window)
                {
                    self.gps_lost = true;
                    self.jamming = true;
                    self.emit_jamming(t, emit);
                } else if last_speed_mps.is_some_and(|v| v >= self.config.moving_mps) {
                    self.gps_lost = true;
                    if let Some(kind) = signal.event_kind() {
                        let mut e = self.event(kind, t);
                        e.position.clone_from(&self.last_position);
                        emit(e);
                    }
                }
            }
            IntegritySignal::FixRestored { .. } => {
                if self.gps_lost
                    && let Some(kind) = signal.event_kind()
                {
                    let mut e = self.event(kind, t);
                    e.position = position.cloned();
                    emit(e);
                }
                self.gps_lost = false;
                self.jamming = false;
                self.cn0_drop = None;
            }
            // No event type (time steps, simulator mode, MON-RF comes through on_mon_rf).
            _ => {}
        }
    }

    /// Whether moving from `a` at `ta` to `b` at `tb` is possible for a vehicle.
    fn plausible(&self, a: LatLon, ta: Timestamp, b: LatLon, tb: Timestamp) -> bool {
        let dt = (tb - ta).as_secs_f64().abs();
        let limit = f64::from(self.config.integrity.max_speed_mps) * dt
            + f64::from(self.config.integrity.min_jump_m);
        local_distance_m(a, b) <= limit
    }

    fn report_jump(
        &self,
        signal: IntegritySignal,
        at: Option<Position>,
        t: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        if let Some(kind) = signal.event_kind() {
            let mut e = self.event(kind, t);
            if at.is_some() {
                e.position = at;
            }
            emit(e);
        }
    }

    fn emit_jamming(&self, t: Timestamp, emit: &mut impl FnMut(Event)) {
        let mut e = self.event(
            EventKind::GpsJamming(GpsJamming {
                cn0_drop_db: self.cn0_drop.map(|(d, _)| d),
                receiver_flag: false,
            }),
            t,
        );
        e.position.clone_from(&self.last_position);
        emit(e);
    }

    fn event(&self, kind: EventKind, at: Timestamp) -> Event {
        let mut e = Event::new(kind, at);
        e.trip = Some(self.plan.declaration.clone());
        e.vehicle = Some(self.plan.vehicle.clone());
        e.position.clone_from(&self.last_position);
        e
    }

    fn in_any_zone(&self) -> bool {
        !self.zones.is_empty()
    }

    fn zones_step(
        &mut self,
        geo: &Geography<'_>,
        p: LatLon,
        t: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        let confirm = self.config.zone_confirm_fixes.max(1);
        let margin = f64::from(self.config.zone_exit_margin_m.max(0.0));
        // Leaving: confirmed slots.
        let mut i = 0;
        while i < self.zones.len() {
            let slot = &mut self.zones[i];
            let Some(zone) = geo.zones.get(slot.zone as usize) else {
                self.zones.swap_remove(i);
                continue;
            };
            if zone.outside_by_m(p, margin + 1.0) > margin {
                slot.out = slot.out.saturating_add(1);
            } else {
                slot.out = 0;
            }
            if slot.out >= confirm {
                let (id, kind) = (zone.id.clone(), zone.kind);
                self.zones.swap_remove(i);
                emit(self.event(
                    EventKind::ZoneExited(ZoneCrossing {
                        zone: id,
                        zone_kind: kind,
                    }),
                    t,
                ));
                continue;
            }
            i += 1;
        }
        // Entering: zones the fix is inside but not confirmed.
        let mut still: Vec<(u16, u8), MAX_ZONES_INSIDE> = Vec::new();
        for (zi, zone) in geo.zones.iter().enumerate() {
            let zi = zi as u16;
            if self.is_inside(zi) || !zone.contains(p) {
                continue;
            }
            let count = self
                .entering
                .iter()
                .find(|(z, _)| *z == zi)
                .map_or(0, |(_, c)| *c)
                .saturating_add(1);
            if count >= confirm {
                let slot = ZoneSlot {
                    zone: zi,
                    entered_at: t,
                    out: 0,
                    overstay_reported: false,
                };
                if self.zones.push(slot).is_ok() {
                    if zi == self.plan.destination {
                        self.arrived = true;
                    }
                    // A stop inside a zone is the zone's business (its dwell limit).
                    self.stop = None;
                    emit(self.event(
                        EventKind::ZoneEntered(ZoneCrossing {
                            zone: zone.id.clone(),
                            zone_kind: zone.kind,
                        }),
                        t,
                    ));
                }
            } else {
                let _ = still.push((zi, count));
            }
        }
        self.entering = still;
    }

    fn route_step(
        &mut self,
        geo: &Geography<'_>,
        p: LatLon,
        t: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        let Some(corridor) = geo.corridors.get(self.plan.corridor as usize) else {
            return;
        };
        let w = f64::from(corridor.half_width_m);
        let margin = f64::from(self.config.margin_m.max(0.0)).min(w / 2.0);
        let (w_out, w_in) = (w + margin, w - margin);
        let Some(m) = corridor.locate(p, self.hint, w_in) else {
            return;
        };
        self.hint = Some(m.segment);
        // Inside an authorized zone, being off the centre line is no deviation.
        let outside = m.distance_m > w_out && !self.in_any_zone();
        let inside = m.distance_m < w_in || self.in_any_zone();
        let (confirm, confirm_t) = self.confirmation();
        match self.route.step(outside, inside, t, confirm, confirm_t) {
            Change::Confirmed => {
                emit(self.deviation(corridor.id, m.distance_m, w, DeviationReason::Outside, t))
            }
            Change::Returned { since } => {
                emit(self.returned(corridor.id, m.distance_m, since, t));
            }
            Change::None => {}
        }
        if m.distance_m <= w {
            self.progress(corridor.id, m.chainage_m, m.distance_m, w, t, emit);
        }
    }

    /// Wrong-way detection from the chainage of in-corridor fixes.
    fn progress(
        &mut self,
        id: &CorridorId,
        chainage: f64,
        distance: f64,
        w: f64,
        t: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        // A chainage change faster than any truck is a re-localization (a corridor that
        // passes near itself), not travel: start over from there.
        let plausible = self.last_chainage.is_none_or(|(c, t0)| {
            let dt = (t - t0).as_secs_f64().max(1.0);
            (chainage - c).abs() <= dt * f64::from(self.config.integrity.max_speed_mps) + 500.0
        });
        self.last_chainage = Some((chainage, t));
        if !plausible {
            // Rebase on the new place; a confirmed wrong-way episode stays open until the
            // vehicle is confirmed back (below), an unconfirmed one is dropped.
            self.progress_m = chainage;
            if matches!(self.wrong_way, Route::Suspect { .. }) {
                self.wrong_way = Route::On;
            }
        }
        self.progress_m = self.progress_m.max(chainage);
        let backtrack = f64::from(self.config.backtrack_m);
        let behind_by = self.progress_m - chainage;
        let behind = behind_by > backtrack;
        // Hysteresis: back on course only clearly ahead of the wrong-way threshold.
        let ahead = behind_by < backtrack * 0.75;
        let (confirm, confirm_t) = self.confirmation();
        match self.wrong_way.step(behind, ahead, t, confirm, confirm_t) {
            Change::Confirmed => {
                emit(self.deviation(id, distance, w, DeviationReason::WrongWay, t));
            }
            Change::Returned { since } => emit(self.returned(id, distance, since, t)),
            Change::None => {}
        }
    }

    /// Fixes and seconds that confirm a deviation (or, fixes, a return).
    fn confirmation(&self) -> (u8, Duration) {
        (
            self.config.confirm_fixes.max(1),
            Duration::from_secs(self.config.confirm_s.into()),
        )
    }

    fn returned(&self, id: &CorridorId, d: f64, since: Timestamp, t: Timestamp) -> Event {
        self.event(
            EventKind::RouteReturned(RouteReturned {
                corridor: id.clone(),
                distance_m: d as f32,
                outside_s: secs(t - since),
            }),
            t,
        )
    }

    fn deviation(
        &self,
        id: &CorridorId,
        d: f64,
        w: f64,
        reason: DeviationReason,
        t: Timestamp,
    ) -> Event {
        self.event(
            EventKind::RouteDeviation(RouteDeviation {
                corridor: id.clone(),
                distance_m: d as f32,
                width_m: w as f32,
                reason,
            }),
            t,
        )
    }

    fn stop_step(&mut self, p: LatLon, t: Timestamp) {
        if self.in_any_zone() {
            self.stop = None;
            return;
        }
        let radius = f64::from(self.config.stop_radius_m);
        match &mut self.stop {
            None => {
                self.stop = Some(StopState {
                    anchor: p,
                    since: t,
                    last_in: t,
                    moved: 0,
                    reported: false,
                });
            }
            Some(s) => {
                if local_distance_m(s.anchor, p) > radius {
                    s.moved = s.moved.saturating_add(1);
                    if s.moved >= 2 {
                        *s = StopState {
                            anchor: p,
                            since: t,
                            last_in: t,
                            moved: 0,
                            reported: false,
                        };
                    }
                } else {
                    s.moved = 0;
                    s.last_in = t;
                }
            }
        }
    }

    fn timers(&mut self, geo: &Geography<'_>, now: Timestamp, emit: &mut impl FnMut(Event)) {
        if !self.arrived && !self.overdue_reported && now > self.plan.deadline {
            self.overdue_reported = true;
            emit(self.event(
                EventKind::TransitOverdue(TransitOverdue {
                    deadline: self.plan.deadline,
                    overdue_s: secs(now - self.plan.deadline),
                }),
                now,
            ));
        }
        // Measured by fixes, not by the clock: a vehicle whose sparse reports (an e-lock
        // every 10 minutes) are far apart is not stopped in between.
        if let Some(s) = self.stop
            && !s.reported
            && s.moved == 0
            && !self.in_any_zone()
        {
            let dwell = s.last_in - s.since;
            if dwell >= Duration::from_secs(self.config.stop_limit_s.into()) {
                if let Some(s) = &mut self.stop {
                    s.reported = true;
                }
                emit(self.event(
                    EventKind::StopUnauthorized(StopUnauthorized {
                        dwell_s: secs(dwell),
                        limit_s: self.config.stop_limit_s,
                    }),
                    now,
                ));
            }
        }
        for i in 0..self.zones.len() {
            let slot = self.zones[i];
            let Some(zone) = geo.zones.get(slot.zone as usize) else {
                continue;
            };
            let Some(limit) = zone.dwell_limit_s else {
                continue;
            };
            let dwell = now - slot.entered_at;
            if !slot.overstay_reported && dwell >= Duration::from_secs(limit.into()) {
                self.zones[i].overstay_reported = true;
                emit(self.event(
                    EventKind::StopOverstay(StopOverstay {
                        zone: zone.id.clone(),
                        dwell_s: secs(dwell),
                        limit_s: limit,
                    }),
                    now,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{SealOpened, SealTampered, TamperKind, UnlockMethod, ZoneId, ZoneKind};
    use crate::monitor::corridor::{
        IndexNode, Segment, build_index, build_segments, index_len, segments_needed,
    };
    use crate::monitor::zone::Shape;
    use crate::nmea::fix::FixMode;
    use std::vec::Vec as StdVec;

    const T0: i64 = 1_780_000_000;

    /// A straight east-west corridor on the equator from lon 30.0 to 30.1 (≈ 11 km), an
    /// origin circle at its start and a destination circle at its end.
    struct World {
        cid: CorridorId,
        zid: [ZoneId; 3],
        segments: StdVec<Segment>,
        index: StdVec<IndexNode>,
    }

    fn world() -> World {
        let v = [
            LatLon {
                lat: 0.0,
                lon: 30.0,
            },
            LatLon {
                lat: 0.0,
                lon: 30.1,
            },
        ];
        let n = segments_needed(&v, 1000.0).unwrap();
        let mut segments = std::vec![Segment::default(); n];
        build_segments(&v, 1000.0, &mut segments).unwrap();
        let mut index = std::vec![IndexNode::default(); index_len(n)];
        build_index(&segments, &mut index).unwrap();
        World {
            cid: "c".parse().unwrap(),
            zid: [
                "origin".parse().unwrap(),
                "dest".parse().unwrap(),
                "rest".parse().unwrap(),
            ],
            segments,
            index,
        }
    }

    fn with<R>(w: &World, f: impl FnOnce(&Geography<'_>) -> R) -> R {
        let corridors = [Corridor::new(&w.cid, 100.0, &w.segments, &w.index).unwrap()];
        let circle = |lon: f64, r: f64| Shape::Circle {
            centre: LatLon { lat: 0.0, lon },
            radius_m: r,
        };
        let zones = [
            Zone::new(&w.zid[0], ZoneKind::Origin, circle(30.0, 300.0), None).unwrap(),
            Zone::new(&w.zid[1], ZoneKind::Destination, circle(30.1, 300.0), None).unwrap(),
            Zone::new(
                &w.zid[2],
                ZoneKind::RestStop,
                circle(30.05, 200.0),
                Some(1800),
            )
            .unwrap(),
        ];
        f(&Geography {
            corridors: &corridors,
            zones: &zones,
        })
    }

    fn plan() -> TripPlan {
        let mut seals = Vec::new();
        seals.push("SEAL-1".parse().unwrap()).unwrap();
        TripPlan {
            declaration: "22MBAIM400123456".parse().unwrap(),
            vehicle: "KCX 123A".parse().unwrap(),
            seals,
            corridor: 0,
            origin: 0,
            destination: 1,
            deadline: Timestamp::from_unix_seconds(T0 + 86_400),
        }
    }

    fn fix(secs: i64, lat: f64, lon: f64) -> Fix {
        Fix {
            time: Some(Timestamp::from_unix_seconds(T0 + secs)),
            position: Some(LatLon { lat, lon }),
            mode: FixMode::Fix3D,
            speed_mps: Some(10.0),
            hdop: Some(1.0),
            ..Fix::default()
        }
    }

    fn types(events: &[Event]) -> StdVec<&'static str> {
        events
            .iter()
            .map(|e| e.event_type().as_str())
            .filter(|t| *t != "position")
            .collect()
    }

    /// Drives along the corridor from lon 30.0 at 10 m/s, one fix every 10 s, with
    /// `lat_at(i)` as the sideways offset in degrees.
    fn drive(
        w: &World,
        m: &mut TripMonitor,
        fixes: i64,
        lat_at: impl Fn(i64) -> f64,
    ) -> StdVec<Event> {
        drive_range(w, m, 0..fixes, lat_at)
    }

    /// As [`drive`], for fixes number `range` only.
    fn drive_range(
        w: &World,
        m: &mut TripMonitor,
        range: core::ops::Range<i64>,
        lat_at: impl Fn(i64) -> f64,
    ) -> StdVec<Event> {
        let mut out = StdVec::new();
        with(w, |g| {
            for i in range {
                let lon = 30.0 + i as f64 * 100.0 / 111_319.49;
                let now = Timestamp::from_unix_seconds(T0 + i * 10);
                m.on_fix(g, &fix(i * 10, lat_at(i), lon), now, |e| out.push(e));
            }
        });
        out
    }

    fn armed(w: &World) -> TripMonitor {
        with(w, |g| {
            TripMonitor::arm(
                plan(),
                "KRA-1".parse().unwrap(),
                g,
                MonitorConfig::default(),
                Timestamp::from_unix_seconds(T0),
                |_| {},
            )
            .unwrap()
        })
    }

    #[test]
    fn test_trip_monitor_fits_in_one_kib() {
        let size = size_of::<TripMonitor>();
        std::println!("TripMonitor: {size} bytes");
        assert!(size <= 1024, "{size} bytes");
    }

    #[test]
    fn test_clean_drive_then_disarm_and_open_is_info() {
        let w = world();
        let mut m = armed(&w);
        let events = drive(&w, &mut m, 112, |_| 0.0);
        assert_eq!(
            types(&events),
            [
                "zone.entered",
                "zone.exited",
                "zone.entered",
                "zone.exited",
                "zone.entered"
            ],
            "origin, rest stop, destination"
        );
        let mut out = StdVec::new();
        let mut opened = Event::new(
            EventKind::SealOpened(SealOpened {
                lock: None,
                method: UnlockMethod::Card,
            }),
            Timestamp::from_unix_seconds(T0 + 2000),
        );
        m.on_seal_event(&mut opened);
        assert_eq!(
            opened.severity,
            Severity::Critical,
            "armed: critical even at destination"
        );
        with(&w, |g| {
            m.disarm(
                "KRA-2".parse().unwrap(),
                g,
                Timestamp::from_unix_seconds(T0 + 2000),
                |e| out.push(e),
            )
        })
        .unwrap();
        assert_eq!(types(&out), ["trip.disarmed"]);
        m.on_seal_event(&mut opened);
        assert_eq!(opened.severity, Severity::Info);
        assert_eq!(
            opened.trip.as_ref().map(|d| d.as_str()),
            Some("22MBAIM400123456")
        );
    }

    #[test]
    fn test_disarm_outside_destination_is_refused_and_seal_cut_is_critical() {
        let w = world();
        let mut m = armed(&w);
        drive(&w, &mut m, 30, |_| 0.0);
        let r = with(&w, |g| {
            m.disarm(
                "KRA-2".parse().unwrap(),
                g,
                Timestamp::from_unix_seconds(T0),
                |_| {},
            )
        });
        assert_eq!(r, Err(TripError::NotAtDestination));
        let mut cut = Event::new(
            EventKind::SealTampered(SealTampered {
                lock: None,
                tamper: TamperKind::Cut,
            }),
            Timestamp::from_unix_seconds(T0 + 300),
        );
        cut.severity = Severity::Info;
        m.on_seal_event(&mut cut);
        assert_eq!(cut.severity, Severity::Critical);
        assert!(
            cut.position.is_some(),
            "the last known position is attached"
        );
    }

    #[test]
    fn test_deviation_once_and_return_once() {
        let w = world();
        let mut m = armed(&w);
        // 500 m off (0.0045°) from fix 20 to 39, on the line otherwise.
        let events = drive(&w, &mut m, 60, |i| {
            if (20..40).contains(&i) { 0.0045 } else { 0.0 }
        });
        let t: StdVec<_> = types(&events)
            .into_iter()
            .filter(|t| t.starts_with("route"))
            .collect();
        assert_eq!(t, ["route.deviation", "route.returned"]);
        let dev = events
            .iter()
            .find(|e| e.event_type().as_str() == "route.deviation")
            .unwrap();
        assert_eq!(dev.severity, Severity::Critical);
    }

    #[test]
    fn test_single_outliers_neither_deviate_nor_jump() {
        let w = world();
        let mut m = armed(&w);
        // One fix in 7 thrown 3 km sideways.
        let events = drive(&w, &mut m, 100, |i| if i % 7 == 3 { 0.027 } else { 0.0 });
        let t: StdVec<_> = types(&events)
            .into_iter()
            .filter(|t| t.starts_with("route") || t.starts_with("gps"))
            .collect();
        assert!(t.is_empty(), "{t:?}");
    }

    #[test]
    fn test_a_seal_cut_right_after_an_outlier_carries_the_last_good_position() {
        let w = world();
        let mut m = armed(&w);
        drive(&w, &mut m, 30, |_| 0.0);
        // One fix 3 km sideways (not yet known to be an outlier), then the seal is cut.
        drive_range(&w, &mut m, 30..31, |_| 0.027);
        let mut cut = Event::new(
            EventKind::SealTampered(SealTampered {
                lock: None,
                tamper: TamperKind::Cut,
            }),
            Timestamp::from_unix_seconds(T0 + 305),
        );
        m.on_seal_event(&mut cut);
        let p = cut.position.expect("a position is attached");
        assert!(p.lat().abs() < 0.001, "placed at the outlier: {}", p.lat());
    }

    #[test]
    fn test_an_outlier_then_a_fix_without_position_is_not_a_jump() {
        let w = world();
        let mut m = armed(&w);
        let mut events = drive(&w, &mut m, 30, |_| 0.0);
        events.extend(drive_range(&w, &mut m, 30..31, |_| 0.027));
        // The receiver loses its fix for one epoch, then is back on the road.
        with(&w, |g| {
            let mut nofix = fix(310, 0.0, 30.0);
            nofix.position = None;
            nofix.mode = FixMode::NoFix;
            m.on_fix(g, &nofix, Timestamp::from_unix_seconds(T0 + 310), |e| {
                events.push(e)
            });
        });
        events.extend(drive_range(&w, &mut m, 32..40, |_| 0.0));
        let jumps = types(&events).iter().filter(|t| **t == "gps.jump").count();
        assert_eq!(jumps, 0, "{:?}", types(&events));
    }

    #[test]
    fn test_persistent_jump_is_reported_once() {
        let w = world();
        let mut m = armed(&w);
        let events = drive(&w, &mut m, 40, |i| if i >= 20 { 0.09 } else { 0.0 });
        let jumps = types(&events).iter().filter(|t| **t == "gps.jump").count();
        assert_eq!(jumps, 1);
    }

    #[test]
    fn test_u_turn_is_wrong_way() {
        let w = world();
        let mut m = armed(&w);
        let mut out = StdVec::new();
        with(&w, |g| {
            // 5 km east, then back west 3 km, on the centre line.
            let mut lon_m = 0.0f64;
            for i in 0..80i64 {
                lon_m += if i < 50 { 100.0 } else { -100.0 };
                let lon = 30.0 + lon_m / 111_319.49;
                m.on_fix(
                    g,
                    &fix(i * 10, 0.0, lon),
                    Timestamp::from_unix_seconds(T0 + i * 10),
                    |e| out.push(e),
                );
            }
        });
        let dev: StdVec<_> = out
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::RouteDeviation(d) => Some(d.reason),
                _ => None,
            })
            .collect();
        assert_eq!(dev, [DeviationReason::WrongWay]);
    }

    #[test]
    fn test_overdue_once_unless_arrived() {
        let w = world();
        let mut m = armed(&w);
        let mut out = StdVec::new();
        with(&w, |g| {
            for h in [23, 25, 26] {
                m.tick(g, Timestamp::from_unix_seconds(T0 + h * 3600), |e| {
                    out.push(e)
                });
            }
        });
        assert_eq!(types(&out), ["transit.overdue"]);
    }

    #[test]
    fn test_state_survives_a_restart_mid_deviation() {
        let w = world();
        let mut m = armed(&w);
        let off = |i: i64| if (20..40).contains(&i) { 0.0045 } else { 0.0 };
        // Up to fix 29: the deviation is confirmed; then the gateway restarts from a
        // snapshot and the rest of the drive continues on the restored state.
        let before = drive_range(&w, &mut m, 0..30, off);
        let snapshot = serde_json::to_string(&m).unwrap();
        let mut restored: TripMonitor = serde_json::from_str(&snapshot).unwrap();
        assert_eq!(restored, m);
        assert!(restored.is_deviated());
        let after = drive_range(&w, &mut restored, 30..60, off);
        let route = |v: &[Event]| -> StdVec<&'static str> {
            types(v)
                .into_iter()
                .filter(|t| t.starts_with("route"))
                .collect()
        };
        assert_eq!(route(&before), ["route.deviation"]);
        assert_eq!(route(&after), ["route.returned"]);
    }

    #[test]
    fn test_sparse_reports_of_a_moving_truck_are_no_stop() {
        let w = world();
        let mut m = armed(&w);
        let mut out = StdVec::new();
        with(&w, |g| {
            // A report every 8 minutes, 1 km apart, outside every zone; ticks in between.
            for k in 0..8i64 {
                let t = T0 + 600 + k * 480;
                let lon = 30.01 + k as f64 * 0.009;
                let now = Timestamp::from_unix_seconds(t);
                m.on_fix(g, &fix(600 + k * 480, 0.0, lon), now, |e| out.push(e));
                for s in (0..480).step_by(60) {
                    m.tick(g, Timestamp::from_unix_seconds(t + s), |e| out.push(e));
                }
            }
        });
        assert!(
            !types(&out).contains(&"stop.unauthorized"),
            "{:?}",
            types(&out)
        );
    }

    #[test]
    fn test_a_fix_dated_in_the_future_does_not_blind_the_trip() {
        let w = world();
        let mut m = armed(&w);
        let mut out = StdVec::new();
        with(&w, |g| {
            let now = Timestamp::from_unix_seconds(T0 + 100);
            // A device clock two days ahead: past the deadline if believed.
            m.on_fix(g, &fix(100 + 2 * 86_400, 0.0, 30.01), now, |e| out.push(e));
        });
        assert!(
            !types(&out).contains(&"transit.overdue"),
            "{:?}",
            types(&out)
        );
        // Later correct fixes still drive the detectors: a 500 m deviation is confirmed.
        let events = drive_range(&w, &mut m, 20..40, |_| 0.0045);
        assert!(
            types(&events).contains(&"route.deviation"),
            "{:?}",
            types(&events)
        );
    }
}
