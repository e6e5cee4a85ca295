//! The corridor monitor as the service's pipeline stage, its command handler, and the
//! persistence of trips and detector state.
//!
//! - [`MonitorStage`] routes inputs to the [`GatewayMonitor`]: fixes from a GPS source
//!   that feeds a trip, and every seal report; fixes from other GPS sources and source
//!   losses go through the [`PassThrough`] stage unchanged (thinned positions).
//! - [`MonitorCommands`] applies central's `trip.arm`, `trip.disarm`, `corridor.update` and
//!   `zone.update` to the same monitor; the trip events they raise are filed by the stage at
//!   its next call (within a second), and the command is answered only after the save that
//!   follows is on disk ([`Applied::Saving`]): an `ok` central has seen survives a power cut.
//! - [`MonitorState`] keeps the trip registry and detector state in `<state_dir>/trips/`:
//!   one file per trip (`<hex of the declaration>.json`, written only when that trip
//!   changed) and `geometry.json` (the corridor and zone ids the trips' indices refer
//!   to). Each is written to a temporary file and renamed over the old one; then one
//!   `syncfs` makes the whole batch durable and the directory is synced (one flush per
//!   save, not one per trip: a border post has thousands of trips). The writing happens on
//!   a thread of its own ([`Saver`]): the stage only serializes what changed, so the
//!   pipeline — and the devices' ACKs waiting on it — never waits for the SD card. A reboot
//!   in the middle of a transit resumes a deviation in progress or a running dwell timer
//!   instead of starting over.
//!
//! Invariants:
//! - The state is saved *after* the events that changed it are journaled
//!   ([`Stage::filed`]): a crash in between repeats an alarm after restart, it never loses
//!   one. States that changed without an alarm (positions, stop anchors) are saved at
//!   least every [`SAVE_INTERVAL`], and all of them at a clean stop.
//! - Saves, and the deletions of retired trips, reach the disk in the order they were
//!   taken (one queue, one thread).
//! - A command is told "saved" only when every save queued up to its own has succeeded; a
//!   failed save holds the commands behind it until a full rewrite succeeds.
//! - Saved trips are re-pointed by corridor and zone id to the geometry configured at
//!   start; a trip whose corridor, origin or destination is gone is not resumed (logged),
//!   and configured trips not resumed are armed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ects_firmware::event::{Event, EventKind};
use ects_firmware::time::Timestamp;

use super::stage::{Input, PassThrough, Stage};
use crate::command::{Applied, CommandHandler, Envelope, Refused};
use crate::monitor::{GatewayMonitor, GeometryIds, GeometryUpdate, MonitorSettings, SavedTrip};

/// Longest time a state change without an alarm waits before it is saved. Trips change
/// with every fix; saving each trip at most this often bounds the SD card's wear, and a
/// crash costs at most this much of progress or stop-anchor state (alarm states are saved
/// at once).
pub const SAVE_INTERVAL: Duration = Duration::from_secs(120);
/// Trip files handed to the saver at a time: with the saver's queue of 4, at most ~5 such
/// parts (a few MB) wait in memory.
const SAVE_CHUNK: usize = 256;
/// A failed save is retried this often.
const SAVE_RETRY: Duration = Duration::from_secs(5);
/// How often disarmed trips are looked at for retirement.
const RETIRE_INTERVAL: Duration = Duration::from_secs(60);
/// The trip-state directory in the state directory.
pub const STATE_DIR: &str = "trips";
/// The geometry ids file in [`STATE_DIR`].
const GEOMETRY_FILE: &str = "geometry.json";
/// Central's corridor and zone updates, in [`STATE_DIR`].
const UPDATES_FILE: &str = "updates.json";

/// The monitor shared by the stage and the command handler, and where it is saved.
#[derive(Debug)]
pub struct MonitorState {
    monitor: Mutex<GatewayMonitor>,
    /// `<state_dir>/trips`.
    dir: PathBuf,
    /// The geometry ids last handed to the saver.
    saved_ids: Mutex<Option<GeometryIds>>,
    /// Central's geometry updates last handed to the saver.
    saved_updates: Mutex<Vec<GeometryUpdate>>,
    /// The saver thread's queue and handle (see [`Saver`]).
    saver: Mutex<Option<Saver>>,
    /// Set when a write failed: the next save writes everything again.
    save_failed: Arc<SaveFailure>,
    /// Number of the last batch handed to the saver.
    batches: std::sync::atomic::AtomicU64,

    /// Events raised by commands, filed by the stage at its next call.
    outbox: Mutex<Outbox>,
}

/// Told when a command's changes are on disk (see [`Applied::Saving`]).
type Waiter = tokio::sync::oneshot::Sender<()>;

/// A failed save, shared by the stage and the saver.
#[derive(Debug, Default)]
struct SaveFailure {
    /// A write failed since the last batch was taken: write everything again.
    pending: AtomicBool,
    /// The batch that failed (its remaining parts are skipped); 0: none.
    batch: std::sync::atomic::AtomicU64,
    /// Set by the saver at a failure, cleared by the next full rewrite: batches in between
    /// are skipped.
    blocked: AtomicBool,
    /// Commands whose changes a failed save left unsaved: told after the next save that
    /// succeeds (dropped, so told "not saved", if the gateway stops first).
    waiting: Mutex<Vec<Waiter>>,
}

/// What the saver thread does, in the order it is asked.
enum Job {
    /// Part of a batch of files to write (each to a temporary name, renamed over the old
    /// one), in order; the last part ends with one `syncfs` and a directory sync. Once a
    /// part fails, the rest of its batch is skipped: trip files must not go out after the
    /// geometry ids they refer to failed (the next batch writes everything again).
    Write {
        files: Vec<(PathBuf, Vec<u8>)>,
        batch: u64,
        last: bool,
        /// A full rewrite (every trip, the ids, the updates), taken after a failure.
        full: bool,
    },
    /// Files to delete (retired trips), then a directory sync.
    Remove(Vec<PathBuf>),
    /// Tell these commands that what they changed is saved, unless a failed write left
    /// state unsaved (then they wait for the next save that succeeds).
    Notify(Vec<Waiter>),
    /// Answer once everything asked before is done.
    Flush(std::sync::mpsc::SyncSender<()>),
}

impl Job {
    /// Does the job (on the saver thread, or inline when there is none).
    fn run(self, dir: &Path, failed: &SaveFailure) {
        match self {
            Job::Write {
                files,
                batch,
                last,
                full,
            } => {
                if failed.batch.load(AtomicOrdering::SeqCst) == batch {
                    return; // an earlier part of this batch failed
                }
                if failed.blocked.load(AtomicOrdering::SeqCst) {
                    if !full {
                        // After a failure, nothing partial goes out (its ids may be the
                        // ones that failed) until the full rewrite.
                        return;
                    }
                    failed.blocked.store(false, AtomicOrdering::SeqCst);
                }
                if let Err(e) = write_files(dir, &files, last) {
                    tracing::error!(dir = %dir.display(), "trip state not saved (retried): {e}");
                    failed.batch.store(batch, AtomicOrdering::SeqCst);
                    failed.blocked.store(true, AtomicOrdering::SeqCst);
                    failed.pending.store(true, AtomicOrdering::SeqCst);
                    crate::health::STORAGE.trips_saved(false);
                } else if last {
                    crate::health::STORAGE.trips_saved(true);
                }
            }
            Job::Remove(paths) => {
                for path in &paths {
                    match std::fs::remove_file(path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            tracing::warn!(file = %path.display(), "retired trip's state not deleted: {e}")
                        }
                    }
                }
                if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
                    tracing::warn!(dir = %dir.display(), "trip directory not synced: {e}");
                }
            }
            Job::Notify(waiters) => {
                let mut waiting = lock(&failed.waiting);
                waiting.extend(waiters);
                if !failed.blocked.load(AtomicOrdering::SeqCst) {
                    for w in waiting.drain(..) {
                        let _ = w.send(()); // the uplink may have gone: nothing to tell
                    }
                }
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// The thread that writes trip state, so that the pipeline (and with it the devices' ACKs)
/// does not wait for the disk: the stage serializes what changed under the monitor lock and
/// hands the bytes over; the writes and the flush happen here, in the order asked. One
/// thread, one queue: a trip's file cannot be written after its retirement deleted it.
struct Saver {
    queue: std::sync::mpsc::SyncSender<Job>,
    thread: std::thread::JoinHandle<()>,
}

impl std::fmt::Debug for Saver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Saver")
    }
}

impl Saver {
    fn start(dir: PathBuf, failed: Arc<SaveFailure>) -> std::io::Result<Saver> {
        // A few batches may wait; beyond that the stage waits (backpressure, not memory).
        let (queue, jobs) = std::sync::mpsc::sync_channel::<Job>(4);
        let thread = std::thread::Builder::new()
            .name("trip-saver".into())
            .spawn(move || {
                for job in jobs {
                    job.run(&dir, &failed);
                }
            })?;
        Ok(Saver { queue, thread })
    }
}

/// Writes `files` in order (the caller orders updates, ids, trips), then makes them durable.
fn write_files(dir: &Path, files: &[(PathBuf, Vec<u8>)], sync: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (path, bytes) in files {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
    }
    if sync { sync_all(dir) } else { Ok(()) }
}

/// `value` as JSON (the saved types always serialize; an empty file would be skipped as
/// unreadable at start, never misread).
fn json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

impl Drop for MonitorState {
    fn drop(&mut self) {
        // Everything handed over is written before the state is gone.
        let saver = self
            .saver
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(saver) = saver {
            drop(saver.queue);
            let _ = saver.thread.join();
        }
    }
}

/// What commands leave for the stage.
#[derive(Debug, Default)]
struct Outbox {
    /// Their events (`trip.armed`, `trip.disarmed`), to be journaled.
    events: Vec<Event>,
    /// Trips changed (armed, disarmed, corridor replaced): to be saved once those events
    /// are journaled.
    trips_changed: bool,
    /// The commands that made these changes, told once they are saved.
    waiting: Vec<Waiter>,
    /// The pipeline is stopping: commands are refused (their events could not be filed).
    closed: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MonitorState {
    /// The monitor for `settings`, resumed from `<state_dir>/monitor.json` when that holds
    /// a state of the same geometry; configured trips not in it are armed at `now` (their
    /// `trip.armed` events wait in the outbox).
    pub fn open(settings: MonitorSettings, state_dir: &Path, now: Timestamp) -> Arc<Self> {
        let dir = state_dir.join(STATE_DIR);
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
        // Central's geometry updates first: the saved trips' indices include them.
        match std::fs::read(dir.join(UPDATES_FILE)) {
            Ok(bytes) => match serde_json::from_slice::<Vec<GeometryUpdate>>(&bytes) {
                Ok(updates) => {
                    let n = updates.len();
                    let failed = updates
                        .into_iter()
                        .filter_map(|u| monitor.update_geometry(u).err())
                        .inspect(|e| tracing::warn!("a saved geometry update not re-applied: {e}"))
                        .count();
                    tracing::info!(
                        updates = n - failed,
                        "central's geometry updates re-applied"
                    );
                }
                Err(e) => tracing::warn!("saved geometry updates not readable: {e}"),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("saved geometry updates not readable: {e}"),
        }
        let mut regeometry = false;
        match read_saved(&dir) {
            Ok(Some((ids, trips))) => {
                let found = trips.len();
                let n = monitor.restore(&ids, trips);
                regeometry = ids != monitor.geometry_ids();
                tracing::info!(trips = n, of = found, dir = %dir.display(), "trips and detector state resumed");
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(dir = %dir.display(), "saved trips not resumed: {e}"),
        }
        // Resumed trips are saved already, unless their indices were re-pointed to other
        // geometry: then they are written again with the new ids (at the first save).
        monitor.take_dirty();
        if regeometry {
            for i in 0..monitor.trip_count() {
                monitor.mark_dirty(i);
            }
        }
        monitor.keep_configured(configured.iter().map(|t| t.plan.declaration.as_str()));
        for trip in configured {
            if !monitor.has_trip(trip.plan.declaration.as_str())
                && let Err(e) = monitor.arm(trip, now, &mut events)
            {
                tracing::error!("a configured trip could not be armed: {e}");
            }
        }
        let save_failed = Arc::new(SaveFailure::default());
        let saver = Saver::start(dir.clone(), save_failed.clone())
            .inspect_err(|e| tracing::error!("no trip-saver thread, saving inline: {e}"))
            .ok();
        let state = Arc::new(MonitorState {
            monitor: Mutex::new(monitor),
            dir,
            saved_ids: Mutex::new(None),
            saved_updates: Mutex::new(Vec::new()),
            saver: Mutex::new(saver),
            save_failed,
            batches: std::sync::atomic::AtomicU64::new(0),

            outbox: Mutex::new(Outbox {
                events,
                ..Outbox::default()
            }),
        });
        // Trips wait for the stage's first save, after their `trip.armed` is journaled.
        state.save_geometry();
        state
    }

    /// Writes the geometry ids (when they changed: geometry commands append corridors and
    /// zones) and the state of every trip that changed since the last save, then makes
    /// the batch durable with one flush. The ids go first, so that a saved trip never
    /// refers to an index the saved ids do not have. A failure is logged and the trip is
    /// saved again next time.
    ///
    /// Then tells `waiters` once this save (and every one before it) is on disk.
    fn save(&self, waiters: Vec<Waiter>) {
        self.write(true, waiters);
    }

    /// Writes only the geometry updates and ids (the command handler's part: trips are
    /// saved by the stage, after their events are journaled).
    fn save_geometry(&self) {
        self.write(false, Vec::new());
    }

    fn write(&self, trips: bool, waiters: Vec<Waiter>) {
        // The saver's lock first and until the batch is queued: batches reach the queue in
        // the order they were taken (ids written by one never overwrite newer ones).
        let saver = lock(&self.saver);
        let mut monitor = lock(&self.monitor);
        let mut saved_ids = lock(&self.saved_ids);
        let mut saved_updates = lock(&self.saved_updates);
        // Only a save that includes the trips can be the full rewrite after a failure: a
        // geometry-only save that took the flag would clear the failure (and tell the
        // waiting commands "saved") without writing their trips.
        let full = trips && self.save_failed.pending.swap(false, AtomicOrdering::SeqCst);
        if full {
            // A write failed: write everything again.
            *saved_ids = None;
            saved_updates.clear();
            for i in 0..monitor.trip_count() {
                monitor.mark_dirty(i);
            }
        }
        let ids = monitor.geometry_ids();
        let new_ids = saved_ids.as_ref() != Some(&ids);
        let new_updates = saved_updates.as_slice() != monitor.geometry_updates();
        let dirty = if trips {
            monitor.take_dirty()
        } else {
            Vec::new()
        };
        if dirty.is_empty() && !new_ids && !new_updates {
            if !waiters.is_empty() {
                // Nothing new: they are told once the saves already queued are done.
                self.submit_with(&saver, Job::Notify(waiters));
            }
            return;
        }
        // In this order: updates before ids (ids that include an added zone must find it
        // again), ids before trips (a saved trip never refers to an index the saved ids do
        // not have).
        let batch = self.batches.fetch_add(1, AtomicOrdering::SeqCst) + 1;
        let mut files = Vec::with_capacity(dirty.len().min(SAVE_CHUNK) + 2);
        if new_updates {
            files.push((
                self.dir.join(UPDATES_FILE),
                json(&monitor.geometry_updates()),
            ));
            *saved_updates = monitor.geometry_updates().to_vec();
        }
        if new_ids {
            files.push((self.dir.join(GEOMETRY_FILE), json(&ids)));
            *saved_ids = Some(ids);
        }
        for &i in &dirty {
            if let Some((declaration, saved)) = monitor.saved_trip(i) {
                let path = self.dir.join(format!("{}.json", hex(declaration)));
                files.push((path, json(&saved)));
            }
            if files.len() >= SAVE_CHUNK {
                // A large batch (thousands of trips at start) goes in parts, so that the
                // serialized bytes waiting in memory stay bounded; the queue being full
                // then makes this wait, as writing inline did.
                let part = std::mem::take(&mut files);
                self.submit_with(
                    &saver,
                    Job::Write {
                        files: part,
                        batch,
                        last: false,
                        full,
                    },
                );
            }
        }
        drop((monitor, saved_ids, saved_updates));
        self.submit_with(
            &saver,
            Job::Write {
                files,
                batch,
                last: true,
                full,
            },
        );
        if !waiters.is_empty() || full {
            // After a full rewrite, also the commands a failed save left waiting.
            self.submit_with(&saver, Job::Notify(waiters));
        }
    }

    /// Hands `job` to the saver thread (or does it here if there is none).
    fn submit(&self, job: Job) {
        self.submit_with(&lock(&self.saver), job);
    }

    fn submit_with(&self, saver: &Option<Saver>, job: Job) {
        let job = match saver.as_ref() {
            Some(s) => match s.queue.send(job) {
                Ok(()) => return,
                Err(std::sync::mpsc::SendError(job)) => job,
            },
            None => job,
        };
        job.run(&self.dir, &self.save_failed);
    }

    /// Waits until everything handed to the saver is on disk (shutdown, tests).
    pub fn flush(&self) {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        self.submit(Job::Flush(done));
        let _ = wait.recv();
    }

    /// Trips armed or disarmed.
    pub fn trip_count(&self) -> usize {
        lock(&self.monitor).trip_count()
    }

    /// Retires trips disarmed longer than `[monitor] keep_disarmed_h` ago and deletes their
    /// saved state (see [`GatewayMonitor::retire`]).
    fn retire(&self, now: Timestamp) {
        let retired = lock(&self.monitor).retire(now);
        if retired.is_empty() {
            return;
        }
        // Through the saver's queue: after any write of these trips already handed over.
        self.submit(Job::Remove(
            retired
                .iter()
                .map(|d| self.dir.join(format!("{}.json", hex(d))))
                .collect(),
        ));
        tracing::info!(
            trips = retired.len(),
            "disarmed trips retired (kept for [monitor] keep_disarmed_h)"
        );
    }
}

/// A declaration as a file name: lowercase hex of its bytes (declarations may hold `/`).
fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The saved geometry ids and trips in `dir`, if there are any. Unreadable trip files are
/// skipped (logged), so one damaged file does not cost the others.
fn read_saved(dir: &Path) -> std::io::Result<Option<(GeometryIds, Vec<SavedTrip>)>> {
    let ids = match std::fs::read(dir.join(GEOMETRY_FILE)) {
        Ok(b) => serde_json::from_slice::<GeometryIds>(&b)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut trips = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name()
                    .is_some_and(|n| n != GEOMETRY_FILE && n != UPDATES_FILE)
        })
        .collect();
    names.sort();
    for path in names {
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<SavedTrip>(&b).map_err(|e| e.to_string()))
        {
            Ok(t) => trips.push(t),
            Err(e) => {
                tracing::warn!(file = %path.display(), "saved trip not readable, skipped: {e}")
            }
        }
    }
    Ok(Some((ids, trips)))
}

/// `syncfs` of the filesystem holding `dir` (the files just renamed into it), then a sync
/// of the directory itself.
fn sync_all(dir: &Path) -> std::io::Result<()> {
    let d = std::fs::File::open(dir)?;
    rustix::fs::syncfs(&d)?;
    d.sync_all()
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
    /// When disarmed trips were last looked at for retirement.
    retired_at: Option<Instant>,
    /// When a failed save was last retried.
    retried_at: Option<Instant>,
    /// Commands whose changes this stage has taken from the outbox, told after its next
    /// save.
    waiting: Vec<Waiter>,
}

impl MonitorStage {
    /// The stage over `state`, with `fallback` for what no trip concerns.
    pub fn new(state: Arc<MonitorState>, fallback: PassThrough) -> Self {
        MonitorStage {
            state,
            fallback,
            alarm_unsaved: true, // save once after the first filing
            changed_since: None,
            retired_at: None,
            retried_at: None,
            waiting: Vec::new(),
        }
    }

    fn outbox(&mut self, out: &mut Vec<Event>) {
        let mut outbox = lock(&self.state.outbox);
        if outbox.trips_changed || !outbox.events.is_empty() {
            self.alarm_unsaved = true;
            outbox.trips_changed = false;
            out.append(&mut outbox.events);
        }
        self.waiting.append(&mut outbox.waiting);
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
        self.note(&out[before..]);
    }

    fn tick(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        self.outbox(out);
        let before = out.len();
        lock(&self.state.monitor).tick(now, out);
        self.fallback.tick(now, out);
        self.note(&out[before..]);
        if self
            .retired_at
            .is_none_or(|t| t.elapsed() >= RETIRE_INTERVAL)
        {
            self.retired_at = Some(Instant::now());
            self.state.retire(now);
            // Trips whose disarm time was just learned are saved with it.
            self.changed_since.get_or_insert_with(Instant::now);
        }
    }

    fn filed(&mut self) {
        let due = self
            .changed_since
            .is_some_and(|t| t.elapsed() >= SAVE_INTERVAL);
        // A failed save is retried on its own, not only when something changes again.
        let retry = self.state.save_failed.pending.load(AtomicOrdering::SeqCst)
            && self.retried_at.is_none_or(|t| t.elapsed() >= SAVE_RETRY);
        if retry {
            self.retried_at = Some(Instant::now());
        }
        if self.alarm_unsaved || due || retry || !self.waiting.is_empty() {
            // A command applied since this round took the outbox has changed its trip
            // already, but its event is not journaled yet: the trip must not be saved
            // ahead of it. The save waits for the next round (the outbox is held so that
            // no command slips in between the look and the save).
            let outbox = lock(&self.state.outbox);
            if !outbox.events.is_empty() || outbox.trips_changed {
                return;
            }
            self.state.save(std::mem::take(&mut self.waiting));
            drop(outbox);
            self.alarm_unsaved = false;
            self.changed_since = None;
        }
    }

    fn stopping(&mut self) {
        lock(&self.state.outbox).closed = true;
    }

    fn stopped(&mut self, filed: bool) {
        if filed {
            // A clean stop keeps every trip's latest state, not only its last alarm's.
            self.state.save(std::mem::take(&mut self.waiting));
        } else {
            // The events are not durable: nothing is saved ahead of them, and the commands
            // waiting on them are not told "saved".
            self.waiting.clear();
        }
        self.state.flush();
        // Commands whose changes a failed save left unsaved are told now (their senders
        // dropped), while the uplink can still answer them.
        lock(&self.state.save_failed.waiting).clear();
        self.alarm_unsaved = false;
        self.changed_since = None;
    }
}

/// Central's commands applied to the monitor (see the module docs).
#[derive(Debug)]
pub struct MonitorCommands(pub Arc<MonitorState>);

impl CommandHandler for MonitorCommands {
    fn apply(&mut self, envelope: &Envelope) -> Result<Applied, Refused> {
        // The outbox is held across the command (lock order: outbox, then monitor), so a
        // command is either refused or its events reach the stage's final tick.
        let mut outbox = lock(&self.0.outbox);
        if outbox.closed {
            return Err(Refused::NotNow(
                "the gateway is stopping: the broker delivers the command again when it is back"
                    .into(),
            ));
        }
        let mut events = Vec::new();
        lock(&self.0.monitor).apply(envelope, crate::wall_clock(), &mut events)?;
        // (A repeat already in effect changes nothing, but is answered only after the
        // save that made it durable, like the first delivery.)
        // Answered once the stage has journaled its events and saved what it changed.
        let (saved, answer) = tokio::sync::oneshot::channel();
        outbox.events.append(&mut events);
        outbox.trips_changed = true;
        outbox.waiting.push(saved);
        drop(outbox);
        // Geometry updates raise no event: save them now. Trips the command changed are
        // saved by the stage once their events are journaled.
        self.0.save_geometry();
        Ok(Applied::Saving(answer))
    }

    fn already_applied(&self, envelope: &Envelope) -> Option<bool> {
        Some(lock(&self.0.monitor).already_applied(envelope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::test_geometry::settings;

    fn command(name: &str, body: &str) -> Envelope {
        crate::command::parse(name, body.as_bytes()).unwrap()
    }

    /// `trip.arm` of `declaration` (seal `S-<declaration>`) on corridor c1.
    fn arm(id: &str, declaration: &str) -> Envelope {
        command(
            "trip.arm",
            &format!(
                r#"{{"v":1,"command_id":"{id}","officer":"K","args":{{"declaration":"{declaration}","vehicle":"V",
                   "seals":["S-{declaration}"],"corridor":"c1","origin":"o","destination":"d","deadline":"2030-01-01T00:00:00Z"}}}}"#
            ),
        )
    }

    /// `zone.update` adding rest stop r1 (200 m around 30.05° E on the equator).
    fn rest_stop_update() -> Envelope {
        let rest = r#"{"type":"Feature","properties":{"id":"r1","kind":"rest_stop","radius_m":200},"geometry":{"type":"Point","coordinates":[30.05,0.0]}}"#;
        command(
            "zone.update",
            &format!(
                r#"{{"v":1,"command_id":"z","officer":"K","args":{{"id":"r1","geojson":{rest}}}}}"#
            ),
        )
    }

    /// The saved state file of trip `declaration` under `dir`.
    fn trip_file(dir: &Path, declaration: &str) -> PathBuf {
        dir.join(STATE_DIR)
            .join(format!("{}.json", hex(declaration)))
    }

    /// A fresh state directory `ects-monitor-<name>-<pid>`, the wall clock's time, and a
    /// monitor there with its command handler and stage.
    fn started(
        name: &str,
    ) -> (
        PathBuf,
        Timestamp,
        Arc<MonitorState>,
        MonitorCommands,
        MonitorStage,
    ) {
        let dir = std::env::temp_dir().join(format!("ects-monitor-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let t = crate::wall_clock();
        let state = MonitorState::open(settings(), &dir, t);
        let commands = MonitorCommands(state.clone());
        let stage = MonitorStage::new(state.clone(), PassThrough::new(Default::default(), []));
        (dir, t, state, commands, stage)
    }

    #[test]
    fn test_trips_and_geometry_updates_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("ects-monitor-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let t = Timestamp::from_unix_seconds(1_000);
        let state = MonitorState::open(settings(), &dir, t);
        let mut commands = MonitorCommands(state.clone());
        // A rest stop added by central, then a trip whose destination is that zone.
        commands.apply(&rest_stop_update()).unwrap();
        commands
            .apply(&command(
                "trip.arm",
                r#"{"v":1,"command_id":"a","officer":"K","args":{"declaration":"D/1","vehicle":"V",
                   "seals":["S"],"corridor":"c1","origin":"o","destination":"r1","deadline":"2030-01-01T00:00:00Z"}}"#,
            ))
            .unwrap();
        assert_eq!(state.trip_count(), 1);
        // Commands save geometry only; the stage saves the trip once its `trip.armed` is
        // filed.
        let mut stage = MonitorStage::new(state.clone(), PassThrough::new(Default::default(), []));
        let mut out = Vec::new();
        stage.tick(t, &mut out);
        assert!(
            out.iter()
                .any(|e| matches!(e.kind, EventKind::TripArmed(_)))
        );
        stage.filed();
        drop((commands, stage, state));
        // A new process with the configured geometry only: the update and the trip return.
        let again = MonitorState::open(settings(), &dir, t);
        assert_eq!(again.trip_count(), 1);
        let monitor = lock(&again.monitor);
        assert_eq!(monitor.geometry_updates().len(), 1);
        assert_eq!(monitor.geometry_ids().zones.len(), 3);
        assert!(monitor.has_trip("D/1"));
        drop(monitor);
        drop(again); // its saver finishes first
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_a_command_is_confirmed_only_once_what_it_changed_is_on_disk() {
        use tokio::sync::oneshot::error::TryRecvError;
        let (dir, t, state, mut commands, mut stage) = started("told");
        let mut out = Vec::new();
        stage.tick(t, &mut out);
        stage.filed();
        state.flush();
        let saving = |applied: Applied| match applied {
            Applied::Saving(rx) => rx,
            Applied::Done => panic!("a trip command must wait for its save"),
        };
        let trip_file = |d: &str| trip_file(&dir, d);

        // Applied in memory: not confirmed until the stage has filed its event and the
        // saver has written the trip.
        let mut a = saving(commands.apply(&arm("a", "D1")).unwrap());
        state.flush();
        assert_eq!(a.try_recv(), Err(TryRecvError::Empty));
        out.clear();
        stage.tick(t, &mut out);
        assert!(
            out.iter()
                .any(|e| matches!(e.kind, EventKind::TripArmed(_)))
        );
        state.flush();
        assert_eq!(a.try_recv(), Err(TryRecvError::Empty), "told before filing");
        stage.filed();
        state.flush();
        assert_eq!(a.try_recv(), Ok(()));
        assert!(trip_file("D1").exists());

        // The save fails (the trip directory is in the way): no confirmation, until a
        // later save succeeds.
        let trips = dir.join(STATE_DIR);
        std::fs::rename(&trips, dir.join("aside")).unwrap();
        std::fs::write(&trips, "in the way").unwrap();
        let mut b = saving(commands.apply(&arm("b", "D2")).unwrap());
        stage.tick(t, &mut out);
        stage.filed();
        state.flush();
        assert_eq!(
            b.try_recv(),
            Err(TryRecvError::Empty),
            "told though not saved"
        );
        // The disk works again, and a geometry command comes first: its own save (the
        // geometry only) must not count as the rewrite that saves D2.
        std::fs::remove_file(&trips).unwrap();
        let mut z = saving(commands.apply(&rest_stop_update()).unwrap());
        state.flush();
        assert_eq!(
            b.try_recv(),
            Err(TryRecvError::Empty),
            "told before its trip was written"
        );
        assert!(!trip_file("D2").exists());
        // The stage's next save is the full rewrite: both are told.
        stage.tick(t, &mut out);
        stage.filed();
        state.flush();
        assert_eq!(b.try_recv(), Ok(()));
        assert_eq!(z.try_recv(), Ok(()));
        assert!(trip_file("D2").exists() && trip_file("D1").exists());

        // Not saved when the gateway stops: the command is told so (its sender dropped).
        std::fs::rename(&trips, dir.join("aside2")).unwrap();
        std::fs::write(&trips, "in the way").unwrap();
        let mut c = saving(commands.apply(&arm("c", "D3")).unwrap());
        stage.stopping();
        stage.tick(t, &mut out);
        stage.filed();
        stage.stopped(true);
        // Told while the uplink (which holds `commands`) is still there to answer.
        assert_eq!(c.try_recv(), Err(TryRecvError::Closed));
        drop((commands, stage, state));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_a_trip_changed_by_a_command_is_not_saved_before_its_event_is_filed() {
        let (dir, t, state, mut commands, mut stage) = started("order");
        let trip_file = trip_file(&dir, "D9");
        let mut out = Vec::new();
        // The round takes the (empty) outbox and files; the command comes in between.
        stage.tick(t, &mut out);
        let _answer = commands.apply(&arm("a", "D9")).unwrap();
        stage.filed();
        state.flush();
        assert!(
            !trip_file.exists(),
            "the trip was saved before its trip.armed was filed"
        );
        // The next round files the event, then saves.
        out.clear();
        stage.tick(t, &mut out);
        assert!(
            out.iter()
                .any(|e| matches!(e.kind, EventKind::TripArmed(_)))
        );
        stage.filed();
        state.flush();
        assert!(trip_file.exists());
        drop((commands, stage, state));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_a_failed_save_is_done_again_in_full() {
        let dir = std::env::temp_dir().join(format!("ects-monitor-fail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t = crate::wall_clock();
        let state = MonitorState::open(settings(), &dir, t);
        state.flush();
        // The trips directory is replaced by a file: the next save fails.
        let trips = dir.join(STATE_DIR);
        std::fs::remove_dir_all(&trips).unwrap();
        std::fs::write(&trips, "in the way").unwrap();
        {
            let mut m = lock(&state.monitor);
            crate::monitor::test_geometry::armed_and_at(&mut m, "D1", 30.05, t);
            crate::monitor::test_geometry::armed_and_at(&mut m, "D2", 30.05, t);
        }
        state.save(Vec::new());
        state.flush();
        assert!(state.save_failed.pending.load(AtomicOrdering::SeqCst));
        // The disk is usable again: the next save writes the ids and every trip, though
        // nothing changed since.
        std::fs::remove_file(&trips).unwrap();
        state.save(Vec::new());
        state.flush();
        let mut names: Vec<String> = std::fs::read_dir(&trips)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                format!("{}.json", hex("D1")),
                format!("{}.json", hex("D2")),
                GEOMETRY_FILE.to_string()
            ]
        );
        drop(state);
        let again = MonitorState::open(settings(), &dir, t);
        assert_eq!(again.trip_count(), 2);
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_after_a_failed_write_nothing_partial_goes_out_until_the_full_rewrite() {
        let base = std::env::temp_dir().join(format!("ects-saver-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let (bad, good) = (base.join("bad"), base.join("good"));
        std::fs::write(&bad, "a file where the directory should be").unwrap();
        let failed = SaveFailure::default();
        let write = |dir: &Path, name: &str, batch: u64, full: bool| {
            Job::Write {
                files: vec![(dir.join(name), b"{}".to_vec())],
                batch,
                last: true,
                full,
            }
            .run(dir, &failed);
        };
        // Batch 1 (new geometry ids) fails; batch 2, taken before the failure was seen,
        // holds a trip that refers to those ids: it must not be written.
        write(&bad, GEOMETRY_FILE, 1, false);
        assert!(failed.pending.load(AtomicOrdering::SeqCst));
        write(&good, "trip.json", 2, false);
        assert!(
            !good.join("trip.json").exists(),
            "a trip after its failed ids"
        );
        // The full rewrite goes out, and so does what follows it.
        write(&good, GEOMETRY_FILE, 3, true);
        assert!(good.join(GEOMETRY_FILE).exists());
        write(&good, "trip.json", 4, false);
        assert!(good.join("trip.json").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn test_commands_are_refused_once_stopping_and_none_accepted_is_lost() {
        let (dir, t, state, mut commands, mut stage) = started("stop");
        // Applied just before the stop: its event reaches the final tick.
        commands.apply(&arm("a", "D1")).unwrap();
        stage.stopping();
        let mut out = Vec::new();
        stage.tick(t, &mut out);
        assert!(
            out.iter()
                .any(|e| matches!(e.kind, EventKind::TripArmed(_)))
        );
        // After it: refused (central gets an error result and sends it again later).
        let e = commands.apply(&arm("b", "D2")).unwrap_err();
        assert!(e.reason().contains("stopping"), "{e:?}");
        assert!(!lock(&state.monitor).has_trip("D2"));
        stage.stopped(true);
        drop((commands, stage, state));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_a_retired_trip_leaves_memory_and_disk() {
        use ects_firmware::time::Duration as Span;
        let dir = std::env::temp_dir().join(format!("ects-monitor-retire-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let t = crate::wall_clock(); // commands are applied at the wall clock's time
        let state = MonitorState::open(settings(), &dir, t);
        {
            let mut m = lock(&state.monitor);
            crate::monitor::test_geometry::armed_and_at(&mut m, "D1", 30.1, t);
            crate::monitor::test_geometry::armed_and_at(&mut m, "D2", 30.05, t);
        }
        let mut commands = MonitorCommands(state.clone());
        commands
            .apply(&command(
                "trip.disarm",
                r#"{"v":1,"command_id":"d","officer":"K","args":{"declaration":"D1"}}"#,
            ))
            .unwrap();
        let mut stage = MonitorStage::new(state.clone(), PassThrough::new(Default::default(), []));
        let mut out = Vec::new();
        stage.tick(t, &mut out);
        stage.filed();
        state.flush(); // the saver thread writes
        let files = |d: &Path| std::fs::read_dir(d.join(STATE_DIR)).unwrap().count();
        assert_eq!(files(&dir), 3, "two trips and the geometry ids");
        assert_eq!(state.trip_count(), 2);
        // A day and an hour later: D1 is retired, its file deleted; D2 stays.
        stage.retired_at = None;
        stage.tick(t + Span::from_secs(25 * 3600), &mut out);
        assert_eq!(state.trip_count(), 1);
        state.flush();
        assert_eq!(files(&dir), 2);
        drop((commands, stage, state));
        let again = MonitorState::open(settings(), &dir, t);
        assert_eq!(again.trip_count(), 1);
        assert!(lock(&again.monitor).has_trip("D2"));
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
