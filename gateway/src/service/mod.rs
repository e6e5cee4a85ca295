//! The gateway service (`ects-gateway run`): sources → decode → stage → journal → uplink.
//!
//! ```text
//!  serial / TCP sources ──(one bounded queue each)──► stage task ──► EventLog (journal)
//!   decode, reply to the device                        Stage::on_input / tick       │
//!                                                      overload reports             ▼
//!                                                                         uplink (MQTT, QoS 1)
//! ```
//!
//! - Each source runs in its own task ([`source`]) and sends [`stage::Input`]s over its own
//!   bounded queue. The stage task takes at most [`BURST`] items from each queue in turn,
//!   so a flooded source cannot starve the others; fixes that do not fit a queue are
//!   dropped at the source, counted, and reported as `gateway.dropped` (reason
//!   `overload`).
//! - **Group commit, ACK after durable.** Each round of the stage task (up to [`BURST`]
//!   items of every queue) files all the events it produced with deferred appends and
//!   commits the journal once — one `fdatasync` for every alarm and report of the round,
//!   from however many e-locks — when any of them is critical or a device waits for its
//!   ACK; only then are the waiting devices' replies released
//!   ([`source::Queued::Durable`]). So a device never deletes a report the journal could
//!   still lose, and a critical event is durable before the uplink can read it. Rounds
//!   with only routine events and no waiting device leave them to the journal's group
//!   commit (the uplink's tick, within `journal.commit_interval`).
//! - The stage task owns the [`stage::Stage`] (the corridor monitor,
//!   [`monitor_stage::MonitorStage`]), passes it the wall clock, and files every event it produces in the
//!   journal, then wakes the uplink. It beats a [`Health`] heartbeat at least once a
//!   second; the main loop sends systemd's `WATCHDOG=1` only while that heartbeat is fresh,
//!   so a stuck pipeline gets the service restarted.
//! - The panel task ([`crate::gpio`]) drives the status LED and buzzer from what the
//!   service tells it (ready, stuck, sources lost, critical events) and turns an opening
//!   of the enclosure into an input of its own queue (`enclosure`).
//! - Configuration-class failures found at start (unusable TLS material or password file)
//!   are [`ServiceError::Setup`], checked before anything starts: the binary exits 2, which
//!   the systemd unit does not restart.
//! - Start: a `gateway.started` event, with `unclean_shutdown` set when the marker file
//!   `<state_dir>/running` of the previous run is still there; then `READY=1`.
//! - Stop (SIGTERM / SIGINT): `STOPPING=1`; sources stop; the stage drains what is
//!   queued and ticks once more; the uplink gets [`DRAIN`] to deliver the backlog, then
//!   publishes `offline` and disconnects; the journal is flushed and the marker removed.
//!   The whole stop takes at most [`SHUTDOWN_BUDGET`].

pub mod monitor_stage;
pub mod notify;
pub mod source;
pub mod stage;
pub mod wire;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ects_firmware::event::{
    DeviceRef, DropReason, Event, EventKind, GatewayDropped, GatewayStarted, Protocol, Severity,
};
use ects_firmware::text::Text;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::command::CommandHandler;
use crate::config::{Config, Transport, is_gps};
use crate::gpio::{CdevPanel, LogPanel, Panel, PanelIo, PanelState};
use crate::journal::event_log::EventLog;
use crate::journal::fs::ProductionFilesystem;
use crate::journal::{Journal, JournalConfig, JournalError};
use crate::seal_keys::SealKeys;
use crate::uplink::{self, StopWhen, UplinkConfig, UplinkError};
use notify::Notifier;
use source::{Link, Queued, SourceStats};
pub use stage::{Input, PassThrough, Stage};
use wire::SourceState;

/// Inputs taken from one source's queue before the next source gets its turn.
pub const BURST: usize = 32;
/// The longest a stop may take, from the signal to the process exit.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(5);
/// Part of the stop budget the uplink may spend delivering the backlog before `offline`.
pub const DRAIN: Duration = Duration::from_secs(2);
/// A pipeline whose heartbeat is older than this is stuck: no more watchdog pings.
pub const STALL: Duration = Duration::from_secs(3);
/// The name of the clean-shutdown marker in the state directory.
pub const MARKER: &str = "running";

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A file or directory of the service could not be used.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The uplink failed (its journal, or its TLS material).
    #[error(transparent)]
    Uplink(#[from] UplinkError),
    /// A file the configuration names cannot be used (TLS material, password file): a
    /// configuration problem that restarting does not fix.
    #[error("{0}")]
    Setup(String),
    /// A task of the service ended when it should not have (the pipeline, the uplink).
    #[error("{0}")]
    Task(String),
}

impl ServiceError {
    /// Whether the configuration is at fault (the binary exits 2, which systemd does not
    /// restart).
    pub fn is_config(&self) -> bool {
        matches!(self, ServiceError::Setup(_))
    }
}

/// The pipeline's heartbeat: when the stage task last made a round.
#[derive(Debug)]
pub struct Health {
    start: Instant,
    beat_ms: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            start: Instant::now(),
            beat_ms: AtomicU64::new(0),
        }
    }
}

impl Health {
    /// Records a round of the pipeline now.
    pub fn beat(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.beat_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last beat.
    pub fn age(&self) -> Duration {
        self.start
            .elapsed()
            .saturating_sub(Duration::from_millis(self.beat_ms.load(Ordering::Relaxed)))
    }

    /// Whether the pipeline beat within [`STALL`].
    pub fn healthy(&self) -> bool {
        self.age() < STALL
    }
}

fn lock(
    log: &Mutex<EventLog<ProductionFilesystem>>,
) -> MutexGuard<'_, EventLog<ProductionFilesystem>> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

/// [`PassThrough`] over `config`'s GPS sources and position interval: what the monitor
/// stage does with inputs no trip concerns.
pub fn pass_through(config: &Config) -> PassThrough {
    let interval = ects_firmware::time::Duration::from_secs(
        i64::try_from(config.position_interval.as_secs()).unwrap_or(i64::MAX),
    );
    PassThrough::new(
        interval,
        config
            .sources
            .iter()
            .filter(|s| is_gps(s.protocol))
            .map(|s| (s.name.clone(), s.protocol)),
    )
}

/// One source's queue, as the stage task sees it.
struct Queue {
    rx: mpsc::Receiver<Queued>,
    stats: Arc<SourceStats>,
    name: ects_firmware::event::SourceName,
}

/// Where the stage task's events go: the journal, the uplink's wake-up, the panel.
#[derive(Clone)]
struct Sink {
    log: Arc<Mutex<EventLog<ProductionFilesystem>>>,
    wake_uplink: Arc<Notify>,
    panel: Arc<PanelState>,
    /// A commit failed: every call commits (and reports failure) until one succeeds, even
    /// without new events, so that nothing filed before the failure is taken as durable.
    owed: Arc<std::sync::atomic::AtomicBool>,
}

impl Sink {
    /// Files `events` in the journal — the group commit: all of them deferred, then one
    /// commit when any is critical or a device waits for an ACK (`durable`), all under
    /// one lock so the uplink cannot read a record before it is durable. Then fires
    /// `durable` (the devices' replies may go out) — or drops it if the commit failed —
    /// and wakes the uplink; critical events sound the panel. Routine events without a
    /// waiting device are committed by the journal's tick, within the commit interval.
    ///
    /// Returns false when the commit failed: the events are not durable yet, and nothing
    /// that depends on them (the stage's saved state, a command's answer) may go out.
    fn file(&self, events: &mut Vec<Event>, durable: &mut Vec<oneshot::Sender<()>>) -> bool {
        let owed = self.owed.load(Ordering::SeqCst);
        if events.is_empty() && durable.is_empty() && !owed {
            return true;
        }
        let committed = {
            let mut log = lock(&self.log);
            // Any event but a routine position is committed now: critical ones because they
            // must be durable before they count as accepted, the others because the stage
            // saves the detector state that raised them right after (`Stage::filed`), and a
            // saved "already reported" must never outlive its event.
            let mut must_commit = false;
            let now = Instant::now();
            for e in events.drain(..) {
                if e.severity == Severity::Critical {
                    self.panel.alarms.fetch_add(1, Ordering::Relaxed);
                }
                must_commit |= !matches!(e.kind, EventKind::Position(_));
                if let Err(err) = log.append_deferred(e, now) {
                    tracing::error!(error = %err, "an event could not be journaled");
                }
            }
            if must_commit || owed || !durable.is_empty() {
                let ok = log.commit()
                    .inspect_err(|e| tracing::error!(error = %e, "journal commit failed: events not yet durable, device replies withheld"))
                    .is_ok();
                self.owed.store(!ok, Ordering::SeqCst);
                ok
            } else {
                true
            }
        };
        if committed {
            for d in durable.drain(..) {
                let _ = d.send(()); // the device may have gone meanwhile
            }
        } else {
            durable.clear();
        }
        self.wake_uplink.notify_one();
        committed
    }
}

/// `gateway.dropped` (overload) for what each source had to drop since the last call.
fn overload_reports(queues: &[Queue], out: &mut Vec<Event>) {
    for q in queues {
        let count = q.stats.overload.swap(0, Ordering::Relaxed);
        if count == 0 {
            continue;
        }
        let alarm = q.stats.overload_alarm.swap(false, Ordering::Relaxed);
        tracing::warn!(source = %q.name, count, "queue full: inputs dropped");
        let worst = if alarm {
            Severity::Critical
        } else {
            Severity::Info
        };
        let mut e = Event::new(
            EventKind::GatewayDropped(GatewayDropped {
                count,
                reason: DropReason::Overload,
                worst,
                first_seq: None,
                last_seq: None,
            }),
            crate::wall_clock(),
        );
        e.device = Text::new(q.name.as_str()).ok().map(|id| DeviceRef {
            protocol: Protocol::Gateway,
            id,
        });
        if alarm {
            e.severity = Severity::Critical;
        }
        out.push(e);
    }
}

/// The stage task: fair rounds over the queues, the stage, the journal. Returns when
/// `stop` is set and every queue is empty and closed or drained.
async fn pipeline(
    mut stage: Box<dyn Stage>,
    mut queues: Vec<Queue>,
    sink: Sink,
    wake: Arc<Notify>,
    health: Arc<Health>,
    mut stop: watch::Receiver<bool>,
) {
    let panel = sink.panel.clone();
    let mut out = Vec::new();
    let mut durable = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_tick = Instant::now();
    loop {
        let mut busy = false;
        for q in &mut queues {
            for _ in 0..BURST {
                match q.rx.try_recv() {
                    Ok(Queued::Durable(d)) => {
                        durable.push(d);
                        busy = true;
                    }
                    Ok(Queued::Input(input)) => {
                        match &input {
                            Input::SourceLost { .. } => {
                                panel.sources_lost.fetch_add(1, Ordering::Relaxed);
                            }
                            Input::SourceRestored { .. } => {
                                let _ = panel.sources_lost.fetch_update(
                                    Ordering::Relaxed,
                                    Ordering::Relaxed,
                                    |n| Some(n.saturating_sub(1)),
                                );
                            }
                            _ => {}
                        }
                        stage.on_input(input, crate::wall_clock(), &mut out);
                        busy = true;
                    }
                    Err(_) => break,
                }
            }
        }
        overload_reports(&queues, &mut out);
        if last_tick.elapsed() >= Duration::from_secs(1) {
            stage.tick(crate::wall_clock(), &mut out);
            last_tick = Instant::now();
        }
        if sink.file(&mut out, &mut durable) {
            stage.filed();
        } // else: the stage saves after the next commit that succeeds
        health.beat();
        let stopping = *stop.borrow();
        if stopping && !busy {
            break;
        }
        if busy {
            tokio::task::yield_now().await;
        } else {
            tokio::select! {
                () = wake.notified() => {}
                _ = ticker.tick() => {}
                _ = stop.changed() => {}
            }
        }
    }
    stage.stopping();
    stage.tick(crate::wall_clock(), &mut out);
    overload_reports(&queues, &mut out);
    let filed = sink.file(&mut out, &mut durable);
    if filed {
        stage.filed();
    }
    stage.stopped(filed);
}

/// The panel task: LED, buzzer and tamper switch every [`crate::gpio::PERIOD`]; an
/// opening of the enclosure becomes an input. LED and buzzer are turned off at stop.
async fn panel(mut io: Box<dyn PanelIo>, state: Arc<PanelState>, mut link: Link) {
    let start = Instant::now();
    let mut panel = Panel::new(state);
    let mut period = tokio::time::interval(crate::gpio::PERIOD);
    period.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut stop = link.stop.clone();
    loop {
        tokio::select! {
            _ = period.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let t_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        if panel.step(io.as_mut(), t_ms) {
            tracing::warn!("enclosure opened");
            let source = link.name.clone();
            link.control(Input::EnclosureOpened { source }).await;
        }
    }
    io.set_led(false);
    io.set_buzzer(false);
}

/// Reads the first line of the MQTT password file.
fn read_password(path: &Path) -> Result<String, ServiceError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ServiceError::Setup(format!("uplink.password_file: {}: {e}", path.display()))
    })?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

/// The uplink settings of `config`.
fn uplink_config(config: &Config) -> Result<UplinkConfig, ServiceError> {
    let u = &config.uplink;
    let mut c = UplinkConfig::new(config.gateway.clone(), u.host.clone(), u.port);
    c.keep_alive = u.keep_alive;
    c.max_rate = u.max_rate;
    c.resend_delay = u.resend_delay;
    if let Some(tls) = &u.tls {
        // Checked here, before anything starts, so that a bad file is a configuration
        // error (the uplink would otherwise fail after start-up).
        crate::tls::client_config(tls)
            .map_err(|e| ServiceError::Setup(format!("uplink TLS: {e}")))?;
    }
    c.tls = u.tls.clone();
    if let Some(user) = &u.username {
        let password = match &u.password_file {
            Some(p) => read_password(p)?,
            None => String::new(),
        };
        c.credentials = Some((user.clone(), password));
    }
    Ok(c)
}

/// Runs the service until `shutdown` completes, then stops within [`SHUTDOWN_BUDGET`].
///
/// # Errors
/// [`ServiceError::Setup`] if the TLS material or the password file cannot be used
/// (checked first); another [`ServiceError`] if the state directory or the journal cannot
/// be used at start, or the journal fails while running.
pub async fn run(
    config: Config,
    stage: Box<dyn Stage>,
    commands: Box<dyn CommandHandler>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    run_with(config, stage, commands, Notifier::from_env(), shutdown).await
}

/// [`run`], telling systemd through `notifier` (tests give their own socket).
///
/// # Errors
/// As [`run`].
pub async fn run_with(
    config: Config,
    stage: Box<dyn Stage>,
    commands: Box<dyn CommandHandler>,
    notifier: Notifier,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ServiceError::Io { path, source }
    };
    let uplink_cfg = uplink_config(&config)?;
    std::fs::create_dir_all(&config.state_dir).map_err(io(&config.state_dir))?;
    let marker = config.state_dir.join(MARKER);
    let unclean = marker.exists();
    std::fs::write(&marker, format!("{}\n", std::process::id())).map_err(io(&marker))?;

    let mut jc = JournalConfig::new(config.state_dir.join("journal"));
    jc.max_bytes = config.journal.max_bytes;
    jc.commit_interval = config.journal.commit_interval;
    jc.resend_window = config.journal.resend_window;
    let (journal, recovery) = Journal::open(ProductionFilesystem, jc)?;
    tracing::info!(?recovery, "journal opened");
    let log = Arc::new(Mutex::new(EventLog::new(
        journal,
        config.gateway.clone(),
        config.uplink.encoding,
    )));
    let version = Text::new(crate::VERSION)
        .unwrap_or_else(|_| Text::new("unknown").unwrap_or_else(|_| unreachable!()));
    let started = Event::new(
        EventKind::GatewayStarted(GatewayStarted {
            version,
            unclean_shutdown: unclean,
        }),
        crate::wall_clock(),
    );
    if unclean {
        tracing::warn!("the previous run did not shut down cleanly");
    }
    let wake_uplink = Arc::new(Notify::new());
    let panel_state = Arc::new(PanelState::default());
    let sink = Sink {
        log: log.clone(),
        wake_uplink: wake_uplink.clone(),
        panel: panel_state.clone(),
        owed: Arc::default(),
    };
    let _ = sink.file(&mut vec![started], &mut Vec::new());

    let (uplink_stop, uplink_stop_rx) = watch::channel(StopWhen::Never);
    let mut uplink = tokio::spawn(uplink::run(
        uplink_cfg,
        log.clone(),
        wake_uplink.clone(),
        Some(commands),
        uplink_stop_rx,
    ));

    let (stop_sources, stop_rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let mut queues = Vec::new();
    let mut sources = Vec::new();
    for s in &config.sources {
        let (tx, rx) = mpsc::channel(s.queue.get());
        let stats = Arc::new(SourceStats::default());
        queues.push(Queue {
            rx,
            stats: stats.clone(),
            name: s.name.clone(),
        });
        if s.protocol == Protocol::Native && s.keys.0.is_empty() {
            tracing::warn!(source = %s.name, "native source without keys_file: every report will be reported as spoofed (unknown key)");
        }
        let link = Link {
            name: s.name.clone(),
            protocol: s.protocol,
            tx,
            stats,
            wake: wake.clone(),
            stop: stop_rx.clone(),
            state: if s.protocol == Protocol::Native {
                // Native seal counters survive restarts: replays stay replays.
                let path = config.state_dir.join(format!("native-{}.json", s.name));
                SourceState::with_counters(&s.keys, path)
            } else {
                SourceState::new(&s.keys)
            }
            .map_err(|e| ServiceError::Setup(format!("sources `{}`: {e}", s.name)))?,
        };
        sources.push(match &s.transport {
            Transport::Serial { path, baud } => {
                tokio::spawn(source::serial(link, path.clone(), *baud))
            }
            Transport::Tcp {
                listen,
                max_connections,
            } => tokio::spawn(source::tcp(link, *listen, *max_connections)),
        });
    }
    {
        let (tx, rx) = mpsc::channel(8);
        let stats = Arc::new(SourceStats::default());
        let name =
            ects_firmware::event::SourceName::new("enclosure").unwrap_or_else(|_| unreachable!());
        queues.push(Queue {
            rx,
            stats: stats.clone(),
            name: name.clone(),
        });
        let link = Link {
            name,
            protocol: Protocol::Gpio,
            tx,
            stats,
            wake: wake.clone(),
            stop: stop_rx.clone(),
            state: SourceState::new(&SealKeys::default()).map_err(ServiceError::Setup)?,
        };
        let io: Box<dyn PanelIo> = match config.board.as_ref().and_then(|b| b.gpio.as_ref()) {
            None => Box::new(LogPanel),
            Some(gpio) => match CdevPanel::open(gpio) {
                Ok(p) => Box::new(p),
                Err(e) => {
                    tracing::error!(error = %e, "GPIO unavailable: no status LED, buzzer or tamper switch");
                    Box::new(LogPanel)
                }
            },
        };
        sources.push(tokio::spawn(panel(io, panel_state.clone(), link)));
    }
    let health = Arc::new(Health::default());
    health.beat();
    let (stop_pipeline, pipeline_stop_rx) = watch::channel(false);
    let mut pipeline = tokio::spawn(pipeline(
        stage,
        queues,
        sink,
        wake,
        health.clone(),
        pipeline_stop_rx,
    ));

    notifier.notify("READY=1");
    panel_state.ready.store(true, Ordering::Relaxed);
    tracing::info!(gateway = %config.gateway, sources = config.sources.len(), "gateway running");
    let ping_every = notifier
        .watchdog()
        .map_or(Duration::from_secs(1), |w| w / 2);
    let mut ping = tokio::time::interval(ping_every);
    let mut stalled = false;
    tokio::pin!(shutdown);
    let mut result: Result<(), ServiceError> = Ok(());
    let mut uplink_done = false;
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = ping.tick() => {
                panel_state.stuck.store(!health.healthy(), Ordering::Relaxed);
                if health.healthy() {
                    if stalled {
                        tracing::info!("pipeline is making progress again");
                        stalled = false;
                    }
                    if notifier.watchdog().is_some() {
                        notifier.notify("WATCHDOG=1");
                    }
                } else if !stalled {
                    stalled = true;
                    tracing::error!(age_ms = health.age().as_millis() as u64, "pipeline stuck: withholding watchdog pings");
                }
            }
            r = &mut uplink => {
                uplink_done = true;
                match r {
                    Ok(Err(e)) => result = Err(e.into()),
                    Ok(Ok(_)) => {}
                    Err(e) => result = Err(ServiceError::Task(format!("the uplink task ended: {e}"))),
                }
                break;
            }
            r = &mut pipeline => {
                let why = r.err().map_or_else(|| "returned".to_string(), |e| e.to_string());
                result = Err(ServiceError::Task(format!("the pipeline task ended: {why}")));
                break;
            }
        }
    }

    // Stop: sources, then the pipeline (drains the queues), then the uplink (drains the
    // journal for a moment, says offline), then the journal.
    let deadline = tokio::time::Instant::now() + SHUTDOWN_BUDGET - Duration::from_millis(300);
    notifier.notify("STOPPING=1");
    tracing::info!("stopping");
    let _ = stop_sources.send(true);
    for s in sources {
        let _ = tokio::time::timeout_at(deadline, s).await;
    }
    let _ = stop_pipeline.send(true);
    if !pipeline.is_finished()
        && tokio::time::timeout_at(deadline, &mut pipeline)
            .await
            .is_err()
    {
        tracing::error!("the pipeline did not stop in time");
        pipeline.abort();
    }
    if !uplink_done {
        let _ = uplink_stop.send(StopWhen::Drained);
        let drain_until = (tokio::time::Instant::now() + DRAIN).min(deadline);
        let mut ended = tokio::time::timeout_at(drain_until, &mut uplink).await;
        if ended.is_err() {
            let _ = uplink_stop.send(StopWhen::Now);
            ended = tokio::time::timeout_at(deadline, &mut uplink).await;
        }
        match ended {
            Err(_) => {
                tracing::warn!("the uplink did not stop in time");
                uplink.abort();
            }
            Ok(Ok(Err(e))) if result.is_ok() => result = Err(e.into()),
            Ok(_) => {}
        }
    }
    // `try_lock`: a pipeline stuck inside the journal holds the lock, and the stop must
    // still end (systemd would kill it anyway, after TimeoutStopSec).
    let flushed = match log.try_lock() {
        Ok(mut log) => log.journal().flush().map_err(ServiceError::from),
        Err(std::sync::TryLockError::Poisoned(p)) => {
            p.into_inner().journal().flush().map_err(ServiceError::from)
        }
        Err(std::sync::TryLockError::WouldBlock) => Err(ServiceError::Task(
            "the journal is busy (stuck pipeline): not flushed".into(),
        )),
    };
    if let Err(e) = flushed {
        tracing::error!(error = %e, "journal flush on stop failed");
        if result.is_ok() {
            result = Err(e);
        }
    }
    if result.is_ok() {
        let _ = std::fs::remove_file(&marker);
    }
    tracing::info!("stopped");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_overload_is_reported_once_per_batch_with_its_worst() {
        let (_tx, rx) = mpsc::channel(1);
        let stats = Arc::new(SourceStats::default());
        stats.overload.store(7, Ordering::Relaxed);
        stats.overload_alarm.store(true, Ordering::Relaxed);
        let queues = vec![Queue {
            rx,
            stats: stats.clone(),
            name: ects_firmware::event::SourceName::new("noisy").unwrap(),
        }];
        let mut out = Vec::new();
        overload_reports(&queues, &mut out);
        overload_reports(&queues, &mut out);
        assert_eq!(out.len(), 1, "counters are taken, not re-reported");
        let EventKind::GatewayDropped(d) = &out[0].kind else {
            panic!("{:?}", out[0].kind)
        };
        assert_eq!(
            (d.count, d.reason, d.worst),
            (7, DropReason::Overload, Severity::Critical)
        );
        assert_eq!(out[0].severity, Severity::Critical);
        assert_eq!(out[0].device.as_ref().unwrap().id.as_str(), "noisy");
    }

    /// A fresh state directory and the configuration of a service with one TCP e-lock
    /// source (`jt600`, returned: its port) and an uplink to a port where no broker is.
    fn tcp_lock_service(name: &str) -> (PathBuf, Config, u16) {
        let dir = std::env::temp_dir().join(format!("ects-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let free_port = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (broker, device) = (free_port(), free_port());
        let text = format!(
            "[gateway]\nid = \"{name}\"\nstate_dir = \"{}\"\n[uplink]\nhost = \"127.0.0.1\"\nport = {broker}\n[[sources]]\nname = \"locks\"\nkind = \"tcp\"\nprotocol = \"jt600\"\nlisten = \"127.0.0.1:{device}\"\n",
            dir.display()
        );
        let config = Config::from_toml(&format!("{name}.toml"), &text, None).unwrap();
        (dir, config, device)
    }

    /// Runs the service on its own runtime thread until the returned sender fires.
    fn spawn_service(
        config: Config,
        stage: Box<dyn Stage>,
        notifier: Notifier,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<Result<(), ServiceError>>,
    ) {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let service = std::thread::spawn(move || {
            let commands = Box::new(crate::command::NoTripRegistry { why: "a test" });
            runtime.block_on(run_with(config, stage, commands, notifier, async {
                let _ = stop_rx.await;
            }))
        });
        (stop_tx, service)
    }

    /// A stage that blocks (as a journal write that never returns would) stops the
    /// watchdog pings; when it moves again, they resume.
    #[test]
    fn test_a_stuck_pipeline_stops_the_watchdog_pings() {
        use std::os::unix::net::UnixDatagram;
        use std::sync::atomic::AtomicBool;

        struct Stuck(Arc<AtomicBool>);
        impl Stage for Stuck {
            fn on_input(
                &mut self,
                _: Input,
                _: ects_firmware::time::Timestamp,
                _: &mut Vec<Event>,
            ) {
                self.0.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_secs(8));
            }
            fn tick(&mut self, _: ects_firmware::time::Timestamp, _: &mut Vec<Event>) {}
        }

        let (dir, config, device) = tcp_lock_service("stuck");
        let sock = dir.join("notify.sock");
        let rx = UnixDatagram::bind(&sock).unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let notifier = Notifier::new(sock.to_str(), Some("1000000"), None, 0);
        let blocked = Arc::new(AtomicBool::new(false));
        let stage = Box::new(Stuck(blocked.clone()));
        let (stop_tx, service) = spawn_service(config, stage, notifier);
        let messages = |for_: Duration| {
            let until = Instant::now() + for_;
            let mut got = Vec::new();
            while Instant::now() < until {
                let mut buf = [0u8; 64];
                if let Ok(n) = rx.recv(&mut buf) {
                    got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
            got
        };
        let mut before = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && !before.iter().any(|m| m == "WATCHDOG=1") {
            before.extend(messages(Duration::from_millis(200)));
        }
        assert_eq!(
            before.first().map(String::as_str),
            Some("READY=1"),
            "{before:?}"
        );
        assert!(before.iter().any(|m| m == "WATCHDOG=1"), "{before:?}");

        let frame = b"(3301210003,U06,1,040812,185302,T,22.564025,N,113.242329,E,5,152,9,32%,0000000000011,10133,5173,22,100,1,300,100,10)";
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", device)).unwrap();
        std::io::Write::write_all(&mut conn, frame).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !blocked.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the stage never got the input");
            std::thread::sleep(Duration::from_millis(10));
        }
        // STALL (3 s) after the last beat the pings stop; look from 4 s to 6 s.
        let _ = messages(Duration::from_secs(4));
        let during = messages(Duration::from_secs(2));
        assert!(
            !during.iter().any(|m| m == "WATCHDOG=1"),
            "pinged while stuck: {during:?}"
        );
        // The stage returns 8 s after it blocked: the pings come back.
        let after = messages(Duration::from_secs(6));
        assert!(after.iter().any(|m| m == "WATCHDOG=1"), "{after:?}");

        let _ = stop_tx.send(());
        service.join().unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A device's ACK comes back only once the events of its report are in the journal:
    /// a stage that takes 400 ms over each seal report delays the ACK, and when the ACK
    /// arrives the journal files already hold the report's event — a routine position
    /// report and a critical shock alarm alike. (With the ACK written at decode time, it
    /// would arrive while the stage still sleeps and the journal lacks the event.)
    #[test]
    fn test_a_device_is_acknowledged_only_after_its_event_is_journaled() {
        use std::io::{Read, Write};

        const DELAY: Duration = Duration::from_millis(400);
        struct Slow(PassThrough);
        impl Stage for Slow {
            fn on_input(
                &mut self,
                input: Input,
                now: ects_firmware::time::Timestamp,
                out: &mut Vec<Event>,
            ) {
                if matches!(input, Input::Seal { .. }) {
                    std::thread::sleep(DELAY);
                }
                self.0.on_input(input, now, out);
            }
            fn tick(&mut self, now: ects_firmware::time::Timestamp, out: &mut Vec<Event>) {
                self.0.tick(now, out);
            }
        }

        let (dir, config, device) = tcp_lock_service("ack-order");
        let stage = Box::new(Slow(pass_through(&config)));
        let (stop_tx, service) = spawn_service(config, stage, Notifier::new(None, None, None, 0));
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut conn = loop {
            match std::net::TcpStream::connect(("127.0.0.1", device)) {
                Ok(c) => break c,
                Err(e) => {
                    assert!(Instant::now() < deadline, "the source never listened: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let journaled = |device: &str| {
            let mut found = false;
            crate::journal::inspect::inspect(
                &ProductionFilesystem,
                &dir.join("journal"),
                |r, _| {
                    let v: serde_json::Value =
                        serde_json::from_slice(&r.payload).unwrap_or_default();
                    found |= v["device"]["id"] == device;
                },
            )
            .unwrap();
            found
        };
        let shock: Vec<u8> = {
            let text = include_str!("../../../firmware/tests/data/seal-frames/jt600.txt");
            let hex = text.lines().nth(3).unwrap().trim();
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()
        };
        let position_report = b"(3301210003,U06,1,040812,185302,T,22.564025,N,113.242329,E,5,152,9,32%,0000000000011,10133,5173,22,100,1,300,100,10)".to_vec();
        for (frame, ack, id) in [
            (position_report, &b"(S20)"[..], "3301210003"),
            (shock, &b"(P35)"[..], "8043396604"),
        ] {
            assert!(!journaled(id));
            let sent = Instant::now();
            conn.write_all(&frame).unwrap();
            let mut got = vec![0u8; ack.len()];
            conn.read_exact(&mut got).unwrap();
            let waited = sent.elapsed();
            // Checked at once, before anything else can happen in the journal.
            assert!(journaled(id), "ACK for {id} before its event was journaled");
            assert_eq!(got, ack);
            assert!(
                waited >= DELAY,
                "the ACK did not wait for the stage: {waited:?}"
            );
        }
        let _ = stop_tx.send(());
        service.join().unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn test_health_goes_stale_without_beats() {
        let h = Health::default();
        h.beat();
        assert!(h.healthy());
        let old = Health {
            start: Instant::now() - Duration::from_secs(10),
            beat_ms: AtomicU64::new(0),
        };
        assert!(!old.healthy());
        old.beat();
        assert!(old.healthy());
    }
}
