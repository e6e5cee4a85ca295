//! The MQTT uplink: delivers the journal to the central broker, at least once.
//!
//! rumqttc keeps unacknowledged publishes only in RAM and drops them when the broker has no
//! saved session; so the journal, not the client, is the source of truth here:
//!
//! - Records are read from the journal and published with QoS 1, at most
//!   [`UplinkConfig::window`] in flight. A record is acknowledged in the journal only on the
//!   broker's PUBACK for that exact publish (packet ids are matched to sequence numbers in
//!   the order rumqttc reports the publishes going out).
//! - After every (re)connect the journal's cursors are rewound: everything not yet
//!   acknowledged is published again (the event id lets central de-duplicate).
//! - The events stream is always drained before positions, so a fresh critical alarm never
//!   waits behind a backlog of positions.
//! - Reconnects back off exponentially with jitter (rumqttc retries as fast as it is polled).
//! - The retained status topic carries a Last Will (`offline`), a birth (`online`) after
//!   each connect, a periodic health report, and an explicit `offline` on shutdown (a clean
//!   DISCONNECT does not fire the Will).
//!
//! rumqttc's event loop runs in a task of its own and only forwards what it sees, so no
//! future of it is ever cancelled half-way.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ects_firmware::event::GatewayId;
use ects_firmware::time::Timestamp;
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, LastWill, MqttOptions, Outgoing, Packet, QoS,
};
use tokio::sync::{Notify, mpsc, watch};

use crate::journal::event_log::EventLog;
use crate::journal::fs::Filesystem;
use crate::journal::{JournalError, Stream};
use crate::topic::Topics;

/// Uplink settings.
#[derive(Debug, Clone)]
pub struct UplinkConfig {
    /// The gateway id: MQTT client id and first topic level.
    pub gateway: GatewayId,
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT keep-alive; the Last Will fires about 1.5 × this after the gateway vanishes.
    pub keep_alive: Duration,
    /// Journal records in flight at most.
    pub window: usize,
    /// Interval of the health report on the status topic.
    pub status_interval: Duration,
    /// First reconnect delay; doubles up to `backoff_max`, with ±25 % jitter.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// User name and password, if the broker wants them.
    pub credentials: Option<(String, String)>,
}

impl UplinkConfig {
    /// Defaults for `gateway` and a broker at `host:port`: keep-alive 30 s, window 64,
    /// status every 60 s, reconnect backoff 0.5 s to 60 s.
    pub fn new(gateway: GatewayId, host: impl Into<String>, port: u16) -> Self {
        UplinkConfig {
            gateway,
            host: host.into(),
            port,
            keep_alive: Duration::from_secs(30),
            window: 64,
            status_interval: Duration::from_secs(60),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            credentials: None,
        }
    }
}

/// When [`run`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopWhen {
    /// Keep delivering until told otherwise.
    Never,
    /// Once the journal holds nothing unacknowledged (the `journal drain` field tool).
    Drained,
    /// Now: publish `offline`, disconnect, return.
    Now,
}

/// Why the uplink stopped working.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The MQTT client's event loop is gone.
    #[error("MQTT client stopped: {0}")]
    Client(String),
}

/// What a run of the uplink did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UplinkReport {
    /// Journal records acknowledged by the broker.
    pub acked: u64,
    /// Journal records published (more than `acked` when some were sent again).
    pub published: u64,
    /// Connections made.
    pub connects: u64,
}

#[derive(Debug, Clone, Copy)]
enum Sent {
    Record(u64),
    Control,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn status_payload<FS: Filesystem>(
    state: &str,
    log: Option<&mut EventLog<FS>>,
    link: &str,
) -> Vec<u8> {
    let mut v = serde_json::json!({
        "v": 1,
        "state": state,
        "version": crate::VERSION,
        "link": link,
        "at": Timestamp::from_unix_micros(now_us()).to_string(),
    });
    if let Some(log) = log {
        let s = log.journal().stats();
        v["backlog"] = (s.backlog.0 + s.backlog.1).into();
        v["oldest_unacked_s"] = s
            .oldest_unacked_us
            .map(|us| ((now_us() - us) / 1_000_000).max(0))
            .into();
        v["dropped"] = s.dropped_total.into();
    }
    v.to_string().into_bytes()
}

fn jittered(d: Duration) -> Duration {
    // ±25 %, from the clock's nanoseconds: enough to keep a fleet from reconnecting in step.
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let factor = 0.75 + f64::from(n % 1000) / 2000.0;
    d.mul_f64(factor)
}

fn lock<FS: Filesystem>(log: &Mutex<EventLog<FS>>) -> MutexGuard<'_, EventLog<FS>> {
    // A panic elsewhere while holding the lock leaves the journal consistent on disk.
    log.lock().unwrap_or_else(|e| e.into_inner())
}

struct Link<FS: Filesystem> {
    config: UplinkConfig,
    topics: Topics,
    client: AsyncClient,
    log: Arc<Mutex<EventLog<FS>>>,
    connected: bool,
    /// Publishes handed to rumqttc whose packet id is not known yet, in order.
    awaiting_pkid: VecDeque<Sent>,
    by_pkid: HashMap<u16, Sent>,
    in_flight: usize,
    /// Packet id of the `offline` status published on shutdown, once known.
    offline_pending: bool,
    report: UplinkReport,
}

impl<FS: Filesystem> Link<FS> {
    fn publish(
        &mut self,
        topic: String,
        retain: bool,
        payload: Vec<u8>,
        sent: Sent,
    ) -> Result<(), UplinkError> {
        self.client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .map_err(|e| UplinkError::Client(e.to_string()))?;
        self.awaiting_pkid.push_back(sent);
        Ok(())
    }

    fn publish_status(&mut self, state: &str) -> Result<(), UplinkError> {
        let payload = status_payload(
            state,
            Some(&mut lock(&self.log)),
            if self.connected { "up" } else { "down" },
        );
        self.publish(self.topics.status(), true, payload, Sent::Control)
    }

    /// Publishes journal records while the window has room: events first, then positions.
    fn pump(&mut self) -> Result<(), UplinkError> {
        if !self.connected {
            return Ok(());
        }
        while self.in_flight < self.config.window {
            let want = self.config.window - self.in_flight;
            let batch = {
                let mut log = lock(&self.log);
                let j = log.journal();
                let mut batch = j.next_batch(Stream::Events, want)?;
                if batch.is_empty() {
                    batch = j.next_batch(Stream::Positions, want)?;
                }
                batch
            };
            if batch.is_empty() {
                break;
            }
            for r in batch {
                self.publish(
                    self.topics.events(r.severity),
                    false,
                    r.payload,
                    Sent::Record(r.seq),
                )?;
                self.in_flight += 1;
                self.report.published += 1;
            }
        }
        Ok(())
    }

    fn drained(&mut self) -> bool {
        self.in_flight == 0 && {
            let s = lock(&self.log).journal().stats();
            s.backlog == (0, 0)
        }
    }

    fn on_event(&mut self, event: Event) -> Result<(), UplinkError> {
        match event {
            Event::Incoming(Packet::ConnAck(ack)) => {
                if ack.code != ConnectReturnCode::Success {
                    tracing::error!(code = ?ack.code, "broker refused the connection");
                    return Ok(());
                }
                self.connected = true;
                self.report.connects += 1;
                tracing::info!(
                    session_present = ack.session_present,
                    "connected to the broker"
                );
                // Whatever was in flight on the old connection is sent again from the journal.
                self.awaiting_pkid.clear();
                self.by_pkid.clear();
                self.in_flight = 0;
                lock(&self.log).journal().rewind();
                self.publish_status("online")?;
                self.pump()?;
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some(sent) = self.awaiting_pkid.pop_front() {
                    self.by_pkid.insert(pkid, sent);
                }
            }
            Event::Incoming(Packet::PubAck(ack)) => match self.by_pkid.remove(&ack.pkid) {
                Some(Sent::Record(seq)) => {
                    lock(&self.log).journal().ack(seq);
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.report.acked += 1;
                    self.pump()?;
                }
                Some(Sent::Control) => self.offline_pending = false,
                None => {}
            },
            Event::Incoming(Packet::Disconnect) => {
                tracing::warn!("broker disconnected us");
                self.connected = false;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Runs the uplink until `stop` says so (or, with [`StopWhen::Drained`], until the journal
/// is fully acknowledged). `wake` is notified by whoever appends to the journal.
///
/// # Errors
/// [`UplinkError`] if the journal fails or the MQTT client stops; broker and network
/// failures are not errors: they are retried with backoff.
pub async fn run<FS: Filesystem>(
    config: UplinkConfig,
    log: Arc<Mutex<EventLog<FS>>>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<StopWhen>,
) -> Result<UplinkReport, UplinkError> {
    let topics = Topics::new(&config.gateway);
    let mut options = MqttOptions::new(config.gateway.as_str(), config.host.clone(), config.port);
    options
        .set_keep_alive(config.keep_alive)
        .set_clean_session(true)
        .set_inflight(u16::try_from(config.window * 2 + 8).unwrap_or(u16::MAX))
        .set_max_packet_size(256 * 1024, 256 * 1024)
        .set_last_will(LastWill::new(
            topics.status(),
            status_payload::<FS>("offline", None, "down"),
            QoS::AtLeastOnce,
            true,
        ));
    if let Some((user, password)) = &config.credentials {
        options.set_credentials(user.clone(), password.clone());
    }
    let (client, mut eventloop) = AsyncClient::new(options, config.window * 2 + 16);

    // The event loop in its own task: it reconnects with backoff and forwards what it sees.
    let (tx, mut rx) = mpsc::channel::<Result<Event, String>>(256);
    let (min, max) = (config.backoff_min, config.backoff_max);
    let poller = tokio::spawn(async move {
        let mut backoff = min;
        loop {
            match eventloop.poll().await {
                Ok(event) => {
                    if matches!(event, Event::Incoming(Packet::ConnAck(_))) {
                        backoff = min;
                    }
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if tx.send(Err(e.to_string())).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(jittered(backoff)).await;
                    backoff = (backoff * 2).min(max);
                }
            }
        }
    });

    let mut link = Link {
        config: config.clone(),
        topics,
        client,
        log,
        connected: false,
        awaiting_pkid: VecDeque::new(),
        by_pkid: HashMap::new(),
        in_flight: 0,
        offline_pending: false,
        report: UplinkReport::default(),
    };
    let mut status = tokio::time::interval(config.status_interval);
    status.reset();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut stop_when = *stop.borrow();
    let result = loop {
        if stop_when == StopWhen::Now || (stop_when == StopWhen::Drained && link.drained()) {
            break Ok(());
        }
        tokio::select! {
            changed = stop.changed() => {
                stop_when = if changed.is_ok() { *stop.borrow() } else { StopWhen::Now };
            }
            event = rx.recv() => match event {
                Some(Ok(event)) => {
                    if let Err(e) = link.on_event(event) {
                        break Err(e);
                    }
                }
                Some(Err(e)) => {
                    if link.connected {
                        tracing::warn!(error = %e, "lost the broker; reconnecting with backoff");
                    } else {
                        tracing::debug!(error = %e, "broker not reachable");
                    }
                    link.connected = false;
                }
                None => break Err(UplinkError::Client("event loop ended".into())),
            },
            () = wake.notified() => {
                if let Err(e) = link.pump() {
                    break Err(e);
                }
            }
            _ = tick.tick() => {
                let tick_result = lock(&link.log).journal().tick(Instant::now());
                if let Err(e) = tick_result {
                    tracing::warn!(error = %e, "journal commit deferred");
                }
                if let Err(e) = link.pump() {
                    break Err(e);
                }
            }
            _ = status.tick(), if link.connected => {
                if let Err(e) = link.publish_status("online") {
                    break Err(e);
                }
            }
        }
    };

    // Shutdown: say `offline` ourselves (a clean DISCONNECT does not fire the Will), wait
    // briefly for the broker to take it, then disconnect.
    if link.connected {
        let offline = status_payload("offline", Some(&mut lock(&link.log)), "down");
        if link
            .publish(link.topics.status(), true, offline, Sent::Control)
            .is_ok()
        {
            link.offline_pending = true;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            while link.offline_pending && link.connected {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(Ok(event))) => {
                        let is_status_ack = matches!(&event, Event::Incoming(Packet::PubAck(a)) if matches!(link.by_pkid.get(&a.pkid), Some(Sent::Control)));
                        let _ = link.on_event(event);
                        if is_status_ack {
                            link.offline_pending = false;
                        }
                    }
                    Ok(Some(Err(_))) | Ok(None) | Err(_) => break,
                }
            }
        }
        let _ = link.client.try_disconnect();
        // Let the event loop send the DISCONNECT.
        let _ = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
    }
    poller.abort();
    if let Err(e) = lock(&link.log).journal().flush() {
        tracing::warn!(error = %e, "journal flush on shutdown failed");
    }
    result.map(|()| link.report)
}
