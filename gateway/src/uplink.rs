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
//! - The critical stream is drained first, then the other events, then positions, so a
//!   fresh critical alarm never waits behind a backlog (only behind the records already in
//!   flight, at most `window`).
//! - Reconnects back off exponentially with jitter (rumqttc retries as fast as it is polled).
//! - The retained status topic carries a Last Will (`offline`), a birth (`online`) after
//!   each connect, a periodic health report, and an explicit `offline` on shutdown (a clean
//!   DISCONNECT does not fire the Will).
//!
//! Each connection attempt gets its own rumqttc client and event loop, polled in a task of
//! its own that only forwards what it sees: no future of it is cancelled half-way, and a
//! publish queued for a dead connection dies with it instead of going out on the next one
//! under a packet id that would then be matched to the wrong record.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ects_firmware::event::{CommandId, GatewayId};
use ects_firmware::text::Ident;
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, LastWill, MqttOptions, Outgoing, Packet, Publish, QoS,
};
use tokio::sync::{Notify, mpsc, watch};

use crate::command::{self, Applied, Command, CommandHandler, Refused};
use crate::journal::JournalError;
use crate::journal::event_log::EventLog;
use crate::journal::fs::Filesystem;
use crate::tls::{TlsError, TlsSettings, client_config};
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
    /// TLS material; `None` for plain TCP (a broker on the same host or a protected LAN).
    pub tls: Option<TlsSettings>,
    /// Journal records published per second at most (a backlog on a VSAT or metered link
    /// should not saturate it); `None` for no limit.
    pub max_rate: Option<u32>,
    /// When the broker comes back without the gateway's session (it lost its state), how
    /// long to wait before sending again what it had acknowledged in the journal's resend
    /// window: central's subscribers lost their sessions too and need time to reconnect
    /// and subscribe again, or the resend reaches nobody.
    pub resend_delay: Duration,
}

impl UplinkConfig {
    /// Defaults for `gateway` and a broker at `host:port`: keep-alive 30 s, window 64,
    /// status every 60 s, reconnect backoff 0.5 s to 60 s, resend delay 10 s.
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
            tls: None,
            max_rate: None,
            resend_delay: Duration::from_secs(10),
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
    /// The TLS material cannot be used (checked before connecting).
    #[error(transparent)]
    Tls(#[from] TlsError),
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
    /// Times the broker was found to have lost the gateway's session, and the journal's
    /// acknowledged records were sent again.
    pub resends: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Record(u64),
    Status,
    Offline,
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
        "at": crate::wall_clock().to_string(),
    });
    if let Some(log) = log {
        let s = log.journal().stats();
        v["backlog"] = (s.backlog.0 + s.backlog.1).into();
        v["oldest_unacked_s"] = s
            .oldest_unacked_us
            .map(|us| ((crate::wall_clock().unix_micros() - us) / 1_000_000).max(0))
            .into();
        v["dropped"] = s.dropped_total.into();
        v["storage"] = crate::health::STORAGE.to_json(s.io_failing);
    }
    v.to_string().into_bytes()
}

/// What a field engineer should check, for the connection failures that have a usual
/// cause (rustls and rumqttc report them in their own terms).
fn hint(error: &str) -> Option<&'static str> {
    const HINTS: &[(&str, &str)] = &[
        (
            "UnknownIssuer",
            "TLS: the broker's certificate is not signed by the CA given (--tls-ca)",
        ),
        (
            "NotValidForName",
            "TLS: the broker's certificate is not for this host name (see --tls-server-name)",
        ),
        (
            "CertificateRequired",
            "TLS: the broker requires a client certificate (--tls-cert, --tls-key)",
        ),
        (
            "BadCertificate",
            "TLS: the broker refused this gateway's client certificate",
        ),
        (
            "UnknownCA",
            "TLS: the broker does not trust the CA of this gateway's client certificate",
        ),
        (
            "Expired",
            "TLS: a certificate has expired (or the gateway's clock is wrong)",
        ),
        (
            "Connection refused",
            "nothing listens at the broker address: wrong host/port, or the broker is down",
        ),
        (
            "BadUserNamePassword",
            "the broker refused the user name or password",
        ),
        (
            "NotAuthorized",
            "the broker does not authorize this client id (its ACL)",
        ),
    ];
    HINTS
        .iter()
        .find(|(needle, _)| error.contains(needle))
        .map(|(_, hint)| *hint)
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
    /// The `offline` status published on shutdown is not acknowledged yet.
    offline_pending: bool,
    /// Token bucket of `max_rate`: records that may be published now, and when it was
    /// last refilled.
    tokens: f64,
    refilled: Instant,
    /// The last connection failure, to log each new kind once.
    last_error: Option<String>,
    /// Applies commands from central; `None`: not subscribed to commands.
    commands: Option<Box<dyn CommandHandler>>,
    /// Outcomes of the latest commands by id: a command delivered twice (QoS 1) is answered
    /// again, not applied again.
    recent_commands: VecDeque<(CommandId, Result<(), String>)>,
    /// Commands applied whose changes are not on disk yet: answered when they are.
    saving: Vec<Saving>,
    /// Number of the current connection (command deliveries are acknowledged on theirs).
    connection: u64,
    /// A publish was not taken (request queue closed or full): reconnect.
    stalled: bool,
    /// When the last connection was lost (what the broker acknowledged since a resend
    /// window before that may be gone with its state).
    lost_at: Option<Instant>,
    /// A resend is due at this time, of everything acknowledged since the second instant.
    resend_at: Option<(tokio::time::Instant, Instant)>,
    report: UplinkReport,
}

/// The answer to a command whose changes could not be saved before the gateway stopped.
const NOT_SAVED: &str = "not confirmed: the gateway stopped before what the command changed \
                         was saved; the broker delivers it again when the gateway is back";
/// The same, for a command the broker was already told was done with.
const NOT_SAVED_SEND_AGAIN: &str = "not saved: the gateway stopped before what the command \
                                    changed was saved (storage failing); send it again";

/// How a command is answered.
#[derive(Debug, Clone, Copy)]
enum Answer<'a> {
    /// For good: remembered (when `remember`) and `deliveries` acknowledged, once the
    /// outcome event is durable.
    Final {
        remember: bool,
        deliveries: &'a [Delivery],
    },
    /// Not for good (`"final": false`): not remembered, not acknowledged; the broker
    /// delivers the command again and a later answer supersedes this one.
    NotFinal,
}

/// A command applied, waiting for its changes to be saved before it is answered.
#[derive(Debug)]
struct Saving {
    id: CommandId,
    command: Option<Ident<24>>,
    saved: tokio::sync::oneshot::Receiver<()>,
    /// When it was applied.
    since: Instant,
    /// Its deliveries were acknowledged before it was saved (see [`ACK_WAITING_AFTER`]):
    /// the broker will not deliver it again.
    acked_early: bool,
    /// The deliveries of it, acknowledged to the broker once it is answered (or after
    /// [`ACK_WAITING_AFTER`]).
    deliveries: Vec<Delivery>,
}

/// A command as the broker delivered it, on which connection.
#[derive(Debug)]
struct Delivery {
    connection: u64,
    publish: Publish,
}

/// A command whose save takes longer than this is acknowledged to the broker before it is
/// answered (see `Link::answer_saved`).
const ACK_WAITING_AFTER: Duration = Duration::from_secs(30);

impl<FS: Filesystem> Link<FS> {
    /// Hands a publish to the current connection. Returns false when that connection is
    /// already gone (its event loop ended): the caller stops; what was not sent is sent
    /// again from the journal after the reconnect.
    fn publish(&mut self, topic: String, retain: bool, payload: Vec<u8>, sent: Sent) -> bool {
        match self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
        {
            Ok(()) => {
                self.awaiting_pkid.push_back(sent);
                true
            }
            Err(e) => {
                // The connection's request queue is closed, or full although it is up: a
                // record fetched for this publish would wait until the next connection
                // anyway, so a new connection is made (see `run`).
                tracing::debug!(error = %e, "publish not taken by the MQTT client");
                self.stalled = true;
                false
            }
        }
    }

    fn publish_status(&mut self, state: &str) -> Result<(), UplinkError> {
        let payload = status_payload(
            state,
            Some(&mut lock(&self.log)),
            if self.connected { "up" } else { "down" },
        );
        self.publish(self.topics.status(), true, payload, Sent::Status);
        Ok(())
    }

    /// The connection went down (noted once, when it was up): what the broker acknowledged
    /// from one resend window before this moment may have to be sent again.
    fn went_down(&mut self) {
        if self.connected {
            self.lost_at = Some(Instant::now());
        }
        self.connected = false;
    }

    /// The connection is gone (or never came): schedule a new one after the backoff. Each
    /// new kind of failure is logged as a warning (a wrong CA or a refused client
    /// certificate must be visible in the log); repeats of the same one at debug level.
    fn lost(
        &mut self,
        error: &str,
        reconnect_at: &mut Option<tokio::time::Instant>,
        backoff: &mut Duration,
    ) {
        if self.connected {
            tracing::warn!(error, "lost the broker; reconnecting with backoff");
        } else if self.last_error.as_deref() != Some(error) {
            let broker = format!("{}:{}", self.config.host, self.config.port);
            match hint(error) {
                Some(hint) => {
                    tracing::warn!(error, %broker, hint, "cannot connect to the broker; retrying with backoff")
                }
                None => {
                    tracing::warn!(error, %broker, "cannot connect to the broker; retrying with backoff")
                }
            }
        } else {
            tracing::debug!(error, "broker still not reachable");
        }
        self.last_error = Some(error.to_string());
        self.went_down();
        *reconnect_at = Some(tokio::time::Instant::now() + jittered(*backoff));
        *backoff = (*backoff * 2).min(self.config.backoff_max);
    }

    /// Publishes journal records while the window has room: events first, then positions.
    fn pump(&mut self) -> Result<(), UplinkError> {
        if !self.connected {
            return Ok(());
        }
        if let Some(rate) = self.config.max_rate {
            let now = Instant::now();
            let rate = f64::from(rate.max(1));
            self.tokens =
                (self.tokens + now.duration_since(self.refilled).as_secs_f64() * rate).min(rate);
            self.refilled = now;
        }
        while self.in_flight < self.config.window {
            let mut want = self.config.window - self.in_flight;
            if self.config.max_rate.is_some() {
                want = want.min(self.tokens as usize);
                if want == 0 {
                    break; // the next tick refills the bucket
                }
            }
            // Critical events first, then other events, then positions.
            let batch = lock(&self.log).journal().next_batch_in_order(want)?;
            if batch.is_empty() {
                break;
            }
            for r in batch {
                let topic = self.topics.events(r.severity);
                if !self.publish(topic, false, r.payload, Sent::Record(r.seq)) {
                    return Ok(());
                }
                self.in_flight += 1;
                self.report.published += 1;
                self.tokens -= 1.0;
            }
        }
        Ok(())
    }

    /// Validates and applies a command, answers it on the result topic and records its
    /// outcome as an event (published like any other). A command whose changes must be
    /// saved is answered once they are ([`Link::answer_saved`]): `ok` means it survives a
    /// power cut.
    ///
    /// The broker's delivery is acknowledged (PUBACK) only after the answer and its event
    /// are handed over and journaled: a gateway that dies before that gets the command
    /// again from its persistent session, and a command already applied is recognised
    /// (a repeated `trip.arm` of the same plan is answered `ok` again, not refused).
    fn on_command(&mut self, name: &str, publish: Publish) -> Result<(), UplinkError> {
        let delivery = Delivery {
            connection: self.connection,
            publish,
        };
        // Only a command that parsed is remembered: one refused as malformed may come back
        // corrected under the same id.
        let (id, command, outcome, remember) = match command::parse(name, &delivery.publish.payload)
        {
            Err(r) => (r.command_id, r.command, Err(r.error), false),
            Ok(envelope) => {
                tracing::info!(command = name, command_id = %envelope.command_id, "command received");
                let name = Ident::<24>::new(name).ok();
                if let Some(s) = self.saving.iter_mut().find(|s| s.id == envelope.command_id) {
                    // Delivered again (QoS 1) while its changes are being saved: it is
                    // answered (and acknowledged) when they are.
                    tracing::debug!(command_id = %envelope.command_id, "command delivered again while saving");
                    s.deliveries.push(delivery);
                    return Ok(());
                }
                let repeat = self
                    .recent_commands
                    .iter()
                    .find(|(id, _)| *id == envelope.command_id)
                    .map(|(_, o)| o.clone());
                if let Some(outcome) = repeat {
                    // Delivered again (QoS 1): answer again, do not apply again.
                    let result = command::result_payload(
                        Some(&envelope.command_id),
                        name.as_deref(),
                        &outcome,
                        true,
                    );
                    self.publish(self.topics.result(), false, result, Sent::Status);
                    self.acknowledge(&[delivery]);
                    return Ok(());
                }
                // A command already in effect (delivered again after a restart) is answered
                // ok even when it has expired since.
                let fresh = envelope.check_fresh(crate::wall_clock()).or_else(|e| {
                    let in_effect = match (&envelope.command, self.commands.as_ref()) {
                        (Command::StatusRequest, _) | (_, None) => Some(false),
                        (_, Some(h)) => h.already_applied(&envelope),
                    };
                    match in_effect {
                        Some(true) => Ok(()),
                        Some(false) => Err(Refused::Final(e)),
                        // This process cannot tell (`journal drain`): left to the service.
                        None => Err(Refused::NotNow(e)),
                    }
                });
                let applied: Result<Applied, Refused> = match (fresh, &envelope.command) {
                    (Err(stale), _) => Err(stale),
                    (Ok(()), Command::StatusRequest) => {
                        self.publish_status("online")?;
                        Ok(Applied::Done)
                    }
                    (Ok(()), _) => match self.commands.as_mut() {
                        Some(handler) => handler.apply(&envelope),
                        None => Err(Refused::NotNow("commands are not handled here".into())),
                    },
                };
                match applied {
                    Ok(Applied::Saving(saved)) => {
                        self.saving.push(Saving {
                            id: envelope.command_id,
                            command: name,
                            saved,
                            since: Instant::now(),
                            acked_early: false,
                            deliveries: vec![delivery],
                        });
                        return Ok(());
                    }
                    Ok(Applied::Done) => (Some(envelope.command_id), name, Ok(()), true),
                    Err(Refused::Final(e)) => (Some(envelope.command_id), name, Err(e), true),
                    Err(Refused::NotNow(e)) => {
                        // Answered, not remembered, not acknowledged: the broker delivers
                        // it again (to the service, once it runs).
                        return self.answer(
                            Some(envelope.command_id),
                            name,
                            Err(e),
                            Answer::NotFinal,
                        );
                    }
                }
            }
        };
        self.answer(
            id,
            command,
            outcome,
            Answer::Final {
                remember,
                deliveries: &[delivery],
            },
        )
    }

    /// Answers the commands whose changes are now on disk. While the link is down they
    /// wait: an answer cannot be published then, and the broker delivers the command
    /// again at the reconnect (it is not acknowledged yet).
    fn answer_saved(&mut self) -> Result<(), UplinkError> {
        use tokio::sync::oneshot::error::TryRecvError;
        let mut i = 0;
        while self.connected && i < self.saving.len() {
            let outcome = match self.saving[i].saved.try_recv() {
                Err(TryRecvError::Empty) => {
                    if self.saving[i].since.elapsed() >= ACK_WAITING_AFTER {
                        // Its save is taking long (a failing SD card): acknowledge the
                        // delivery anyway, so that it does not hold one of the broker's
                        // few in-flight slots and stall every later command. It is still
                        // answered when saved; a repeat of its id is still recognised.
                        let deliveries = std::mem::take(&mut self.saving[i].deliveries);
                        if self.acknowledge(&deliveries) > 0 {
                            tracing::warn!(command_id = %self.saving[i].id, "command not saved yet; acknowledged to the broker meanwhile");
                            self.saving[i].acked_early = true;
                        }
                    }
                    i += 1;
                    continue;
                }
                Ok(()) => true,
                Err(TryRecvError::Closed) => false,
            };
            let done = self.saving.swap_remove(i);
            self.answer_done(done, outcome)?;
        }
        Ok(())
    }

    /// Answers a command that was saving: saved, or not (the gateway is stopping). One not
    /// saved is answered, not remembered, and left unacknowledged so that the broker
    /// delivers it again — unless it was acknowledged early, when the answer is final and
    /// central must send it again.
    fn answer_done(&mut self, done: Saving, saved: bool) -> Result<(), UplinkError> {
        if saved {
            let answer = Answer::Final {
                remember: true,
                deliveries: &done.deliveries,
            };
            return self.answer(Some(done.id), done.command, Ok(()), answer);
        }
        let (error, answer) = if done.acked_early {
            (
                NOT_SAVED_SEND_AGAIN,
                Answer::Final {
                    remember: false,
                    deliveries: &[],
                },
            )
        } else {
            (NOT_SAVED, Answer::NotFinal)
        };
        self.answer(Some(done.id), done.command, Err(error.to_string()), answer)
    }

    /// Answers command `id` on the result topic and records the outcome as an event; a
    /// final answer is then remembered (a command delivered again is answered again, not
    /// applied again) and its deliveries acknowledged — but only once the event is
    /// durable: if it cannot be filed, the broker delivers the command again.
    fn answer(
        &mut self,
        id: Option<CommandId>,
        command: Option<Ident<24>>,
        outcome: Result<(), String>,
        answer: Answer<'_>,
    ) -> Result<(), UplinkError> {
        if let Err(e) = &outcome {
            tracing::warn!(command = command.as_deref(), error = %e, "command refused");
        }
        let event =
            command::outcome_event(id.as_ref(), command.as_ref(), &outcome, crate::wall_clock());
        let filed = {
            let mut log = lock(&self.log);
            // Durable before the broker is told the command is done with.
            let filed = log
                .append(event, Instant::now())
                .map(|_| ())
                .map_err(|e| e.to_string())
                .and_then(|()| log.commit().map(|_| ()).map_err(|e| e.to_string()));
            if let Err(e) = &filed {
                tracing::error!(error = %e, "could not record a command outcome; the broker delivers the command again");
            }
            filed.is_ok()
        };
        // Final only if the event is durable: otherwise the broker delivers the command
        // again and it is judged again.
        let final_answer = filed && matches!(answer, Answer::Final { .. });
        let result =
            command::result_payload(id.as_ref(), command.as_deref(), &outcome, final_answer);
        self.publish(self.topics.result(), false, result, Sent::Status);
        if let (
            Answer::Final {
                remember,
                deliveries,
            },
            true,
        ) = (answer, filed)
        {
            if let Some(id) = id.filter(|_| remember) {
                self.recent_commands.push_back((id, outcome));
                if self.recent_commands.len() > 256 {
                    self.recent_commands.pop_front();
                }
            }
            self.acknowledge(deliveries);
        }
        self.pump()
    }

    /// Acknowledges command deliveries to the broker (manual acks: see `on_command`).
    /// Only those of the current connection: a packet id of an earlier one may name
    /// another message now (a broker that lost its state); the broker delivers those again.
    /// Returns how many were acknowledged.
    fn acknowledge(&mut self, deliveries: &[Delivery]) -> usize {
        let mut acked = 0;
        for d in deliveries
            .iter()
            .filter(|d| d.connection == self.connection)
        {
            match self.client.try_ack(&d.publish) {
                Ok(()) => acked += 1,
                Err(e) => {
                    tracing::debug!(error = %e, "command delivery not acknowledged (delivered again)")
                }
            }
        }
        acked
    }

    fn drained(&mut self) -> bool {
        // Commands being saved are answered first (unless the link is down: they are
        // delivered again after the restart).
        (self.saving.is_empty() || !self.connected)
            && self.in_flight == 0
            && self.resend_at.is_none()
            && {
                let mut log = lock(&self.log);
                let j = log.journal();
                j.backlog() == (0, 0) && !j.resending()
            }
    }

    /// The broker came back without our session: it lost its state, and with it perhaps
    /// records it had acknowledged but not yet delivered (queued for a subscriber that was
    /// away, or in flight to one). Schedules a resend of what the journal acknowledged
    /// since one resend window before the connection was lost.
    fn schedule_resend(&mut self) {
        let (window, kept) = {
            let mut log = lock(&self.log);
            let j = log.journal();
            (j.config().resend_window, j.keeps_acknowledged())
        };
        if window.is_zero() || (self.lost_at.is_none() && !kept) {
            // Nothing to resend: no window, or the first connection of a journal that has
            // never had anything acknowledged (kept).
            return;
        }
        let reference = self.lost_at.unwrap_or_else(Instant::now);
        let since = self
            .resend_at
            .map(|(_, since)| since)
            .into_iter()
            .chain(reference.checked_sub(window))
            .min()
            .unwrap_or(reference);
        let at = tokio::time::Instant::now() + self.config.resend_delay;
        tracing::info!(
            delay_s = self.config.resend_delay.as_secs_f64(),
            "the broker has no session for us (new, expired or lost with its state): resending what it acknowledged recently, after a delay for subscribers to return"
        );
        self.resend_at = Some((at, since));
    }

    /// The scheduled resend is due.
    fn resend(&mut self) -> Result<(), UplinkError> {
        let Some((_, since)) = self.resend_at.take() else {
            return Ok(());
        };
        let count = lock(&self.log).journal().resend_since(since)?;
        self.report.resends += 1;
        tracing::warn!(
            records = count,
            "resending records the broker acknowledged before it lost its state (central de-duplicates by id)"
        );
        self.pump()
    }

    fn on_event(&mut self, event: Event) -> Result<(), UplinkError> {
        match event {
            Event::Incoming(Packet::ConnAck(ack)) => {
                if ack.code != ConnectReturnCode::Success {
                    tracing::error!(code = ?ack.code, "broker refused the connection");
                    return Ok(());
                }
                self.connected = true;
                self.last_error = None;
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
                if !ack.session_present {
                    self.schedule_resend();
                } else if let Some((at, _)) = self.resend_at.as_mut() {
                    // A resend was due while we were away: give subscribers the delay again.
                    *at = tokio::time::Instant::now() + self.config.resend_delay;
                }
                if self.commands.is_some()
                    && let Err(e) = self
                        .client
                        .try_subscribe(self.topics.commands_filter(), QoS::AtLeastOnce)
                {
                    tracing::warn!(error = %e, "could not subscribe to commands");
                }
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
                Some(Sent::Offline) => self.offline_pending = false,
                Some(Sent::Status) | None => {}
            },
            Event::Incoming(Packet::Publish(p)) => {
                match self.topics.command_name(&p.topic).map(str::to_owned) {
                    Some(name) => self.on_command(&name, p)?,
                    None => {
                        self.acknowledge(&[Delivery {
                            connection: self.connection,
                            publish: p,
                        }]);
                    }
                }
            }
            Event::Incoming(Packet::Disconnect) => {
                tracing::warn!("broker disconnected us");
                self.went_down();
            }
            _ => {}
        }
        Ok(())
    }
}

/// One connection attempt: its own client, event loop and event channel. A new one is made
/// for every attempt, so that requests queued for a dead connection die with it and can
/// never be matched to the packet ids of the next one.
struct Connection {
    client: AsyncClient,
    events: mpsc::Receiver<Result<Event, String>>,
    poller: tokio::task::JoinHandle<()>,
}

impl Connection {
    fn open(options: &MqttOptions, capacity: usize) -> Connection {
        let (client, mut eventloop) = AsyncClient::new(options.clone(), capacity);
        let (tx, events) = mpsc::channel(256);
        let poller = tokio::spawn(async move {
            loop {
                let event = eventloop.poll().await;
                let failed = event.is_err();
                if tx.send(event.map_err(|e| e.to_string())).await.is_err() || failed {
                    return; // the connection is over: the uplink makes a new one
                }
            }
        });
        Connection {
            client,
            events,
            poller,
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// Runs the uplink until `stop` says so (or, with [`StopWhen::Drained`], until the journal
/// is fully acknowledged). `wake` is notified by whoever appends to the journal. With a
/// `commands` handler, the gateway subscribes to its command topic and answers commands.
///
/// # Errors
/// [`UplinkError`] if the journal fails; broker and network failures are not errors: they
/// are retried with exponential backoff and jitter.
pub async fn run<FS: Filesystem>(
    config: UplinkConfig,
    log: Arc<Mutex<EventLog<FS>>>,
    wake: Arc<Notify>,
    commands: Option<Box<dyn CommandHandler>>,
    mut stop: watch::Receiver<StopWhen>,
) -> Result<UplinkReport, UplinkError> {
    let topics = Topics::new(&config.gateway);
    let mut options = MqttOptions::new(config.gateway.as_str(), config.host.clone(), config.port);
    options
        .set_keep_alive(config.keep_alive)
        // A persistent session: its absence at a reconnect tells that the broker lost its
        // state (see `schedule_resend`). The journal, not the session, is what is resent.
        .set_clean_session(false)
        // Commands are acknowledged once answered (`Link::on_command`).
        .set_manual_acks(true)
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
    if let Some(tls) = &config.tls {
        let client = client_config(tls)?;
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(client),
        ));
    }
    // Room for the window's records, and for the results, statuses and acknowledgements
    // of a burst of commands: a full channel reads as a closed connection.
    let capacity = config.window * 2 + 16 + 256;
    let mut conn = Connection::open(&options, capacity);
    let mut link = Link {
        config: config.clone(),
        topics,
        client: conn.client.clone(),
        log,
        connected: false,
        awaiting_pkid: VecDeque::new(),
        by_pkid: HashMap::new(),
        in_flight: 0,
        offline_pending: false,
        tokens: 0.0,
        refilled: Instant::now(),
        last_error: None,
        commands,
        recent_commands: VecDeque::new(),
        saving: Vec::new(),
        connection: 0,
        stalled: false,
        lost_at: None,
        resend_at: None,
        report: UplinkReport::default(),
    };
    let mut backoff = config.backoff_min;
    let mut reconnect_at: Option<tokio::time::Instant> = None;
    let mut status = tokio::time::interval(config.status_interval);
    status.reset();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut stop_when = *stop.borrow();
    let result = loop {
        if std::mem::take(&mut link.stalled) && reconnect_at.is_none() && !conn.poller.is_finished()
        {
            // The request queue is full on a live connection (a closed one reports its
            // own error through `conn.events`, read below).
            link.lost(
                "the MQTT client's request queue is full",
                &mut reconnect_at,
                &mut backoff,
            );
        }
        if let Err(e) = link.answer_saved() {
            break Err(e);
        }
        if stop_when == StopWhen::Now || (stop_when == StopWhen::Drained && link.drained()) {
            break Ok(());
        }
        let reconnect = async {
            match reconnect_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let resend_due = async {
            match link.resend_at {
                Some((at, _)) if link.connected => tokio::time::sleep_until(at).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = stop.changed() => {
                stop_when = if changed.is_ok() { *stop.borrow() } else { StopWhen::Now };
            }
            event = conn.events.recv(), if reconnect_at.is_none() => match event {
                Some(Ok(event)) => {
                    if matches!(event, Event::Incoming(Packet::ConnAck(_))) {
                        backoff = config.backoff_min;
                    }
                    if let Err(e) = link.on_event(event) {
                        break Err(e);
                    }
                }
                Some(Err(e)) => link.lost(&e, &mut reconnect_at, &mut backoff),
                None => link.lost("event loop ended", &mut reconnect_at, &mut backoff),
            },
            () = reconnect => {
                reconnect_at = None;
                conn = Connection::open(&options, capacity);
                link.client = conn.client.clone();
                link.connection += 1;
            }
            () = resend_due => {
                if let Err(e) = link.resend() {
                    break Err(e);
                }
            }
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
                if let Err(e) = link.answer_saved() {
                    break Err(e);
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

    // Shutdown: commands whose changes were not saved are told so (and left unacknowledged:
    // the broker delivers them again when the gateway is back); then say `offline`
    // ourselves (a clean DISCONNECT does not fire the Will), wait briefly for the broker
    // to take it, and disconnect.
    let _ = link.answer_saved();
    for unsaved in std::mem::take(&mut link.saving) {
        if link.connected {
            let _ = link.answer_done(unsaved, false);
        }
    }
    if link.connected {
        let offline = status_payload("offline", Some(&mut lock(&link.log)), "down");
        if link.publish(link.topics.status(), true, offline, Sent::Offline) {
            link.offline_pending = true;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            while link.offline_pending && link.connected {
                match tokio::time::timeout_at(deadline, conn.events.recv()).await {
                    Ok(Some(Ok(event))) => {
                        let _ = link.on_event(event);
                    }
                    Ok(Some(Err(_)) | None) | Err(_) => break,
                }
            }
        }
        let _ = link.client.try_disconnect();
        // Let the event loop send the DISCONNECT.
        let _ = tokio::time::timeout(Duration::from_millis(500), conn.events.recv()).await;
    }
    drop(conn);
    if let Err(e) = lock(&link.log).journal().flush() {
        tracing::warn!(error = %e, "journal flush on shutdown failed");
    }
    result.map(|()| link.report)
}
