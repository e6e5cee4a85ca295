//! The corridor monitor as the service's pipeline stage, its command handler, and the
//! persistence of trips and detector state.
//!
//! - [`MonitorStage`] routes inputs to the [`GatewayMonitor`]: fixes from a GPS source
//!   that feeds a trip, and every seal report; fixes from other GPS sources and source
//!   losses go through the [`PassThrough`] stage unchanged (thinned positions).
//! - [`MonitorCommands`] applies central's `trip.arm`, `trip.disarm`, `corridor.update` and
//!   `zone.update` to the same monitor; the trip events they raise are filed by the stage at
//!   its next call (within a second).
//! - [`MonitorState`] keeps the trip registry and detector state in
//!   `<state_dir>/monitor.json` (written to a temporary file, synced, renamed, directory
//!   synced), so a reboot in the middle of a transit resumes a deviation in progress or a
//!   running dwell timer instead of starting over.
//!
//! Invariants:
//! - The state is saved *after* the events that changed it are journaled
//!   ([`Stage::filed`]): a crash in between repeats an alarm after restart, it never loses
//!   one. States that changed without an alarm (positions, stop anchors) are saved at
//!   least every [`SAVE_INTERVAL`].
//! - A saved state from other geometry (ids changed) is not restored; the configured
//!   trips are armed instead, and the refusal is logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ects_firmware::event::{Event, EventKind};
use ects_firmware::time::Timestamp;

use super::stage::{Input, PassThrough, Stage};
use crate::command::{CommandHandler, Envelope};
use crate::monitor::{GatewayMonitor, MonitorSettings, Snapshot};

/// Longest time a state change without an alarm waits before it is saved.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(30);
/// The state file in the state directory.
pub const STATE_FILE: &str = "monitor.json";

/// The monitor shared by the stage and the command handler, and where it is saved.
#[derive(Debug)]
pub struct MonitorState {
    monitor: Mutex<GatewayMonitor>,
    path: PathBuf,
    /// Events raised by commands, filed by the stage at its next call.
    outbox: Mutex<Vec<Event>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MonitorState {
    /// The monitor for `settings`, resumed from `<state_dir>/monitor.json` when that holds
    /// a state of the same geometry; configured trips not in it are armed at `now` (their
    /// `trip.armed` events wait in the outbox).
    pub fn open(settings: MonitorSettings, state_dir: &Path, now: Timestamp) -> Arc<Self> {
        let path = state_dir.join(STATE_FILE);
        let configured = settings.trips.clone();
        let mut events = Vec::new();
        let mut monitor = GatewayMonitor::new(
            MonitorSettings {
                trips: Vec::new(),
                ..settings
            },
            now,
            &mut events,
        );
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Snapshot>(&bytes) {
                Ok(snapshot) => match monitor.restore(snapshot) {
                    Ok(n) => {
                        tracing::info!(trips = n, file = %path.display(), "trips and detector state resumed")
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), "saved trips not resumed: {e}")
                    }
                },
                Err(e) => {
                    tracing::warn!(file = %path.display(), "saved trips not readable, not resumed: {e}")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(file = %path.display(), "saved trips not readable: {e}"),
        }
        for trip in configured {
            if !monitor.has_trip(trip.plan.declaration.as_str())
                && let Err(e) = monitor.arm(trip, now, &mut events)
            {
                tracing::error!("a configured trip could not be armed: {e}");
            }
        }
        let state = Arc::new(MonitorState {
            monitor: Mutex::new(monitor),
            path,
            outbox: Mutex::new(events),
        });
        state.save();
        state
    }

    /// Writes the state file (temporary file, sync, rename, directory sync). A failure is
    /// logged; the next save tries again.
    fn save(&self) {
        let snapshot = lock(&self.monitor).snapshot();
        if let Err(e) = write_atomically(&self.path, &snapshot) {
            tracing::error!(file = %self.path.display(), "trip state not saved: {e}");
        }
    }

    /// Trips armed or disarmed.
    pub fn trip_count(&self) -> usize {
        lock(&self.monitor).trip_count()
    }
}

fn write_atomically(path: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    serde_json::to_writer(&mut f, snapshot)?;
    f.flush()?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The pipeline stage (see the module docs).
#[derive(Debug)]
pub struct MonitorStage {
    state: Arc<MonitorState>,
    fallback: PassThrough,
    /// An alarm or trip event was produced and is not saved yet.
    alarm_unsaved: bool,
    /// Something changed since this instant and is not saved yet.
    changed_since: Option<Instant>,
}

impl MonitorStage {
    /// The stage over `state`, with `fallback` for what no trip concerns.
    pub fn new(state: Arc<MonitorState>, fallback: PassThrough) -> Self {
        MonitorStage {
            state,
            fallback,
            alarm_unsaved: true, // save once after the first filing
            changed_since: None,
        }
    }

    fn outbox(&mut self, out: &mut Vec<Event>) {
        let mut outbox = lock(&self.state.outbox);
        if !outbox.is_empty() {
            self.alarm_unsaved = true;
            out.append(&mut outbox);
        }
    }

    fn note(&mut self, new: &[Event]) {
        if new.is_empty() {
            return;
        }
        self.changed_since.get_or_insert_with(Instant::now);
        if new
            .iter()
            .any(|e| !matches!(e.kind, EventKind::Position(_)))
        {
            self.alarm_unsaved = true;
        }
    }
}

impl Stage for MonitorStage {
    fn on_input(&mut self, input: Input, now: Timestamp, out: &mut Vec<Event>) {
        self.outbox(out);
        let before = out.len();
        match input {
            Input::Fix { source, fix } => {
                let mut monitor = lock(&self.state.monitor);
                if monitor.has_gps_source(source.as_str()) {
                    monitor.on_fix(source.as_str(), &fix, now, out);
                    // Detector state moves with every fix, not only with alarms.
                    self.changed_since.get_or_insert_with(Instant::now);
                } else {
                    drop(monitor);
                    self.fallback.on_input(Input::Fix { source, fix }, now, out);
                }
            }
            Input::Seal { report, .. } => {
                lock(&self.state.monitor).on_seal_report(&report, now, out);
            }
            other => self.fallback.on_input(other, now, out),
        }
        let new: Vec<Event> = out[before..].to_vec();
        self.note(&new);
    }

    fn tick(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        self.outbox(out);
        let before = out.len();
        lock(&self.state.monitor).tick(now, out);
        self.fallback.tick(now, out);
        let new: Vec<Event> = out[before..].to_vec();
        self.note(&new);
    }

    fn filed(&mut self) {
        let due = self
            .changed_since
            .is_some_and(|t| t.elapsed() >= SAVE_INTERVAL);
        if self.alarm_unsaved || due {
            self.state.save();
            self.alarm_unsaved = false;
            self.changed_since = None;
        }
    }
}

/// Central's commands applied to the monitor (see the module docs).
#[derive(Debug)]
pub struct MonitorCommands(pub Arc<MonitorState>);

impl CommandHandler for MonitorCommands {
    fn apply(&mut self, envelope: &Envelope) -> Result<(), String> {
        let mut events = Vec::new();
        let outcome = lock(&self.0.monitor).apply(envelope, crate::wall_clock(), &mut events);
        if outcome.is_ok() {
            lock(&self.0.outbox).append(&mut events);
        }
        outcome
    }
}
