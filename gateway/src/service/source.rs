//! Sources: serial ports and TCP listeners, each feeding the pipeline through its own
//! bounded queue.
//!
//! - A **serial source** opens its device (tokio-serial, 8N1), decodes what it reads,
//!   writes each seal frame's reply back on the port, and sends [`Input`]s to its queue.
//!   When the device disappears (read error, end of file, or it cannot be opened) it sends
//!   `SourceLost` once, logs which device is missing, retries every [`RETRY`], and sends
//!   `SourceRestored` with the outage when the device is back.
//! - A **TCP source** listens, accepts at most `max_connections` device connections (more
//!   are closed at once), decodes each connection with its own framer (de-duplication and
//!   native seal counters are shared by the source), writes the replies back on the
//!   connection, and closes connections idle for [`IDLE`].
//!
//! **A device is acknowledged only for what is durable.** A seal frame's reply (the ACK
//! after which the device deletes its copy) is written only once the events the stage
//! made of everything the stream delivered up to that frame are `fdatasync`ed in the
//! journal, critical and routine alike: after the inputs of a read, the session queues an
//! [`Queued::Durable`] marker and waits; the stage task fires it after the journal commit
//! that covers every input queued before it (each queue is FIFO, so a marker also covers
//! earlier inputs of the same source, such as the original of a resend). If the commit
//! fails the marker is dropped and no reply goes out: the device keeps its report and
//! resends. Replies go out in stream order; a session reads on while at most
//! [`MAX_WAITING_REPLIES`] of them wait, then waits for the oldest.
//!
//! Invariants: every buffer is bounded (a read buffer of [`READ_BUF`] bytes and the
//! decoder's framers). Inputs that no reply vouches for (GPS fixes, spoofed native frames)
//! never wait for room in the queue — when it is full they are dropped and counted in
//! [`SourceStats`] (reported as `gateway.dropped`, reason `overload`), so a flooded source
//! cannot slow down the others. Inputs of a read that produced a reply, the marker, and
//! losses and returns wait for room instead (dropping what the ACK vouches for would lose
//! it: the device deletes its copy): a flooded e-lock source slows down only its own
//! streams. Every task ends when the stop signal flips.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use ects_firmware::event::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio_serial::SerialPortBuilderExt;

use super::stage::{Input, SourceName};
use super::wire::{Output, SourceState, WireDecoder};

/// How often a missing serial device or an unbindable listener is tried again.
pub const RETRY: std::time::Duration = std::time::Duration::from_millis(250);
/// A TCP connection with no bytes for this long is closed (frees its slot).
pub const IDLE: std::time::Duration = std::time::Duration::from_secs(600);
/// Bytes read at a time.
pub const READ_BUF: usize = 4096;
/// Replies one session keeps waiting for their journal commit while it reads on.
pub const MAX_WAITING_REPLIES: usize = 8;
/// Longest a reply write may take before the link is considered gone.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Counters a source shares with the pipeline.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Inputs dropped because the queue was full, not yet reported.
    pub overload: AtomicU64,
    /// Whether any of them was a seal event (an alarm, not a position).
    pub overload_alarm: AtomicBool,
}

/// What a source queues for the stage task.
// Unboxed like `Input` itself (see there): the queue's bound limits what the size costs.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Queued {
    /// A decoded input (or a loss or return of the source).
    Input(Input),
    /// A device reply waiting for everything queued before it to be durable: the stage
    /// task sends on it after the journal commit that covers those inputs' events, and
    /// drops it (no reply goes out) if that commit failed.
    Durable(oneshot::Sender<()>),
}

/// What a source task needs from the service.
#[derive(Debug, Clone)]
pub struct Link {
    /// The source's name.
    pub name: SourceName,
    /// Its protocol.
    pub protocol: Protocol,
    /// Its queue towards the pipeline.
    pub tx: mpsc::Sender<Queued>,
    /// Its overload counters.
    pub stats: Arc<SourceStats>,
    /// Wakes the pipeline.
    pub wake: Arc<Notify>,
    /// Flips to `true` when the service stops.
    pub stop: watch::Receiver<bool>,
    /// What the source's streams share (de-duplication, native seal keys and counters).
    pub state: Arc<SourceState>,
}

impl Link {
    fn decoder(&self) -> Option<WireDecoder> {
        WireDecoder::new(self.name.clone(), self.protocol, self.state.clone())
    }

    /// Queues data inputs without waiting; a full queue drops and counts.
    fn deliver(&self, out: &mut Output) {
        if out.inputs.is_empty() {
            return;
        }
        for input in out.inputs.drain(..) {
            if let Err(mpsc::error::TrySendError::Full(Queued::Input(input))) =
                self.tx.try_send(Queued::Input(input))
            {
                self.stats.overload.fetch_add(1, Ordering::Relaxed);
                if matches!(&input, Input::Seal { report, .. } if report.is_event()) {
                    self.stats.overload_alarm.store(true, Ordering::Relaxed);
                }
            }
        }
        self.wake.notify_one();
    }

    /// Queues `item`, waiting for room. `false` if the service stops first (or the stage
    /// task is gone): the item is not queued.
    async fn queue(&mut self, item: Queued) -> bool {
        let tx = self.tx.clone();
        let sent = tokio::select! {
            r = tx.send(item) => r.is_ok(),
            _ = self.stop.wait_for(|s| *s) => false,
        };
        if sent {
            self.wake.notify_one();
        }
        sent
    }

    /// Queues the inputs of a read that produced a reply, waiting for room, then the
    /// marker that follows them. Returns what fires once they (and everything the source
    /// queued before) are durable — or closes if the commit failed; `None` when the
    /// service stops first (or the stage task is gone).
    async fn deliver_durably(&mut self, out: &mut Output) -> Option<oneshot::Receiver<()>> {
        for input in std::mem::take(&mut out.inputs) {
            if !self.queue(Queued::Input(input)).await {
                return None;
            }
        }
        let (durable, committed) = oneshot::channel();
        self.queue(Queued::Durable(durable))
            .await
            .then_some(committed)
    }

    /// Queues a loss or return, waiting for room (unless the service stops).
    pub(crate) async fn control(&mut self, input: Input) {
        self.queue(Queued::Input(input)).await;
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps `d`, or less if the service stops.
    async fn pause(&mut self, d: std::time::Duration) {
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            _ = self.stop.wait_for(|s| *s) => {}
        }
    }
}

/// Why a session with a device ended.
enum End {
    Stopped,
    Gone(String),
}

/// What a session does next.
enum Step {
    Stop,
    /// The oldest waiting reply's commit is done (`true`) or failed.
    Committed(bool),
    Read(Result<std::io::Result<usize>, tokio::time::error::Elapsed>),
}

/// Reads, decodes, replies and delivers until the stream ends, stays silent for `idle`
/// (TCP only: a serial seal reader may rightly be silent for hours), or the service stops.
/// Replies wait for their commit in order, at most [`MAX_WAITING_REPLIES`] at a time; the
/// session reads on meanwhile, so a device that sends without waiting for each ACK gets
/// its reports grouped into fewer commits.
async fn session<S>(
    stream: &mut S,
    decoder: &mut WireDecoder,
    link: &mut Link,
    idle: Option<std::time::Duration>,
) -> End
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    // `None`: a timeout that never fires in practice.
    let idle = idle.unwrap_or(std::time::Duration::from_secs(u64::from(u32::MAX)));
    let mut buf = vec![0u8; READ_BUF];
    let mut out = Output::default();
    let mut stop = link.stop.clone();
    // Replies (in stream order) and what fires when what they acknowledge is durable.
    let mut waiting: VecDeque<(Vec<u8>, oneshot::Receiver<()>)> = VecDeque::new();
    loop {
        let step = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => Step::Stop,
            c = async {
                match waiting.front_mut() {
                    Some((_, committed)) => committed.await.is_ok(),
                    None => std::future::pending().await,
                }
            }, if !waiting.is_empty() => Step::Committed(c),
            r = tokio::time::timeout(idle, stream.read(&mut buf)),
                if waiting.len() < MAX_WAITING_REPLIES => Step::Read(r),
        };
        let n = match step {
            Step::Stop => return End::Stopped,
            Step::Committed(ok) => {
                let Some((reply, _)) = waiting.pop_front() else {
                    continue;
                };
                if !ok {
                    tracing::warn!(source = %link.name, "events not durable: reply withheld (the device will resend)");
                    continue;
                }
                match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&reply)).await {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) => return End::Gone(format!("writing a reply: {e}")),
                    Err(_) => return End::Gone("a reply write timed out".into()),
                }
            }
            Step::Read(Err(_)) => return End::Gone(format!("idle for {} s", idle.as_secs())),
            Step::Read(Ok(Ok(0))) => return End::Gone("end of file".into()),
            Step::Read(Ok(Ok(n))) => n,
            Step::Read(Ok(Err(e))) => return End::Gone(e.to_string()),
        };
        decoder.feed(buf.get(..n).unwrap_or(&[]), &mut out);
        if out.reply.is_empty() {
            link.deliver(&mut out);
            continue;
        }
        // The reply is an ACK: it goes out only once what it acknowledges is durable.
        let reply = std::mem::take(&mut out.reply);
        match link.deliver_durably(&mut out).await {
            Some(committed) => waiting.push_back((reply, committed)),
            None => return End::Stopped,
        }
    }
}

/// Runs a serial source until the service stops. See the module documentation.
pub async fn serial(mut link: Link, path: PathBuf, baud: u32) {
    let Some(mut decoder) = link.decoder() else {
        return;
    };
    let device = path.display().to_string();
    // Since when the device is missing; `None` while it is there (or before the first try).
    let mut lost_since: Option<Instant> = None;
    while !link.stopping() {
        let opened = tokio_serial::new(device.as_str(), baud)
            .data_bits(tokio_serial::DataBits::Eight)
            .parity(tokio_serial::Parity::None)
            .stop_bits(tokio_serial::StopBits::One)
            .flow_control(tokio_serial::FlowControl::None)
            .open_native_async();
        match opened {
            Ok(mut port) => {
                match lost_since.take() {
                    Some(since) => {
                        let outage = since.elapsed();
                        tracing::info!(source = %link.name, %device, outage_s = outage.as_secs(), "serial device is back");
                        let outage = ects_firmware::time::Duration::from_micros(
                            i64::try_from(outage.as_micros()).unwrap_or(i64::MAX),
                        );
                        link.control(Input::SourceRestored {
                            source: link.name.clone(),
                            outage,
                        })
                        .await;
                    }
                    None => {
                        tracing::info!(source = %link.name, %device, baud, "serial device open")
                    }
                }
                match session(&mut port, &mut decoder, &mut link, None).await {
                    End::Stopped => return,
                    End::Gone(why) => {
                        tracing::warn!(source = %link.name, %device, error = %why, "serial device gone; retrying every {} ms", RETRY.as_millis());
                        lost_since = Some(Instant::now());
                        link.control(Input::SourceLost {
                            source: link.name.clone(),
                        })
                        .await;
                        // A node that opens but fails at once must not spin.
                        link.pause(RETRY).await;
                    }
                }
            }
            Err(e) => {
                if lost_since.is_none() {
                    tracing::warn!(source = %link.name, %device, error = %e, "serial device missing; retrying every {} ms", RETRY.as_millis());
                    lost_since = Some(Instant::now());
                    link.control(Input::SourceLost {
                        source: link.name.clone(),
                    })
                    .await;
                } else {
                    tracing::debug!(source = %link.name, %device, error = %e, "serial device still missing");
                }
                link.pause(RETRY).await;
            }
        }
    }
}

/// Runs a TCP source until the service stops. See the module documentation.
pub async fn tcp(mut link: Link, listen: std::net::SocketAddr, max_connections: usize) {
    let listener = loop {
        match TcpListener::bind(listen).await {
            Ok(l) => break l,
            Err(e) => {
                tracing::warn!(source = %link.name, %listen, error = %e, "cannot listen; retrying");
                link.pause(RETRY * 4).await;
                if link.stopping() {
                    return;
                }
            }
        }
    };
    tracing::info!(source = %link.name, %listen, max_connections, "listening for devices");
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut stop = link.stop.clone();
    let mut refused_logged = false;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((socket, peer)) => match slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    refused_logged = false;
                    let Some(decoder) = link.decoder() else {
                        return;
                    };
                    tokio::spawn(connection(socket, peer, decoder, link.clone(), slot));
                }
                Err(_) => {
                    if !refused_logged {
                        tracing::warn!(source = %link.name, %peer, max_connections, "connection limit reached; refusing connections");
                        refused_logged = true;
                    }
                    drop(socket);
                }
            },
            Err(e) => {
                tracing::warn!(source = %link.name, error = %e, "accept failed");
                link.pause(RETRY / 2).await;
            }
        }
    }
}

async fn connection(
    mut socket: TcpStream,
    peer: std::net::SocketAddr,
    mut decoder: WireDecoder,
    mut link: Link,
    _slot: tokio::sync::OwnedSemaphorePermit,
) {
    let _ = socket.set_nodelay(true);
    tracing::debug!(source = %link.name, %peer, "device connected");
    if let End::Gone(why) = session(&mut socket, &mut decoder, &mut link, Some(IDLE)).await {
        tracing::debug!(source = %link.name, %peer, reason = %why, "device disconnected");
    }
}

#[cfg(test)]
mod tests {
    use ects_firmware::seal::{Alarm, SealReport};
    use ects_firmware::text::Text;

    use super::*;

    fn link(queue: usize) -> (Link, mpsc::Receiver<Queued>, watch::Sender<bool>) {
        let (tx, rx) = mpsc::channel(queue);
        let (stop_tx, stop) = watch::channel(false);
        let link = Link {
            name: SourceName::new("locks").unwrap(),
            protocol: Protocol::Jt600,
            tx,
            stats: Arc::new(SourceStats::default()),
            wake: Arc::new(Notify::new()),
            stop,
            state: SourceState::new(&crate::seal_keys::SealKeys::default()).unwrap(),
        };
        (link, rx, stop_tx)
    }

    /// Three cut alarms of one read, as the decoder hands them over.
    fn alarms(link: &Link) -> Output {
        let mut report = SealReport::new(
            Protocol::Jt600,
            Text::new("1").unwrap(),
            Text::new("U06").unwrap(),
        );
        report.alarms.insert(Alarm::Cut);
        let mut out = Output::default();
        for _ in 0..3 {
            out.inputs.push(Input::Seal {
                source: link.name.clone(),
                report: report.clone(),
            });
        }
        out
    }

    /// Inputs an ACK vouches for wait for room (none is dropped), then the marker follows
    /// them; it fires when the stage task commits and closes when the commit failed. A
    /// stop while waiting for room gives up.
    #[tokio::test]
    async fn test_acknowledged_inputs_wait_for_room_then_the_marker_follows() {
        for outcome in ["committed", "commit failed", "stopping"] {
            let (mut link, mut rx, stop) = link(1);
            let mut out = alarms(&link);
            let stats = link.stats.clone();
            let delivering = tokio::spawn(async move {
                let committed = link.deliver_durably(&mut out).await?;
                Some(committed.await.is_ok())
            });
            assert!(matches!(
                rx.recv().await,
                Some(Queued::Input(Input::Seal { .. }))
            ));
            if outcome == "stopping" {
                stop.send(true).unwrap();
                assert_eq!(delivering.await.unwrap(), None);
                continue;
            }
            for _ in 0..2 {
                assert!(matches!(
                    rx.recv().await,
                    Some(Queued::Input(Input::Seal { .. }))
                ));
            }
            let Some(Queued::Durable(durable)) = rx.recv().await else {
                panic!("no marker after the inputs")
            };
            if outcome == "committed" {
                durable.send(()).unwrap();
            } else {
                drop(durable);
            }
            let committed = delivering.await.unwrap();
            assert_eq!(committed, Some(outcome == "committed"), "{outcome}");
            assert_eq!(stats.overload.load(Ordering::Relaxed), 0, "nothing dropped");
        }
    }

    /// A session reads on while replies wait for their commits, and writes each reply
    /// only after its own commit and every earlier one: a later commit does not release
    /// an earlier reply, and a failed commit withholds its reply only.
    #[tokio::test]
    async fn test_replies_go_out_after_their_commit_in_stream_order() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let (mut link, mut rx, _stop) = link(8);
        let (mut device, mut gateway) = tokio::io::duplex(4096);
        let mut decoder = link.decoder().unwrap();
        let session =
            tokio::spawn(async move { session(&mut gateway, &mut decoder, &mut link, None).await });
        let frame = |id: &str| {
            format!(
                "({id},U06,1,040812,185302,T,22.564025,N,113.242329,E,5,152,9,32%,0000000000011,10133,5173,22,100,1,300,100,10)"
            )
        };
        // Three reports, each read on its own; each gets a marker.
        let mut markers = Vec::new();
        for id in ["3301210001", "3301210002", "3301210003"] {
            device.write_all(frame(id).as_bytes()).await.unwrap();
            assert!(matches!(rx.recv().await, Some(Queued::Input(_))));
            let Some(Queued::Durable(d)) = rx.recv().await else {
                panic!("no marker for {id}")
            };
            markers.push(d);
        }
        let third = markers.pop().unwrap();
        let second = markers.pop().unwrap();
        let first = markers.pop().unwrap();
        async fn nothing(device: &mut tokio::io::DuplexStream) -> bool {
            let mut byte = [0u8; 1];
            let wait = std::time::Duration::from_millis(100);
            tokio::time::timeout(wait, device.read(&mut byte))
                .await
                .is_err()
        }
        // The second commit alone releases nothing: the first reply still waits.
        second.send(()).unwrap();
        assert!(nothing(&mut device).await, "a reply before its commit");
        // The first commit fails: its reply is withheld, the second goes out.
        drop(first);
        let mut ack = [0u8; 5];
        device.read_exact(&mut ack).await.unwrap();
        assert_eq!(&ack, b"(S20)");
        assert!(nothing(&mut device).await, "the failed one was sent");
        third.send(()).unwrap();
        device.read_exact(&mut ack).await.unwrap();
        assert_eq!(&ack, b"(S20)");
        drop(device);
        assert!(matches!(session.await.unwrap(), End::Gone(_)));
    }

    #[test]
    fn test_a_full_queue_drops_and_counts_without_waiting() {
        let (link, mut rx, _stop) = link(1);
        let mut out = alarms(&link);
        link.deliver(&mut out);
        assert!(out.inputs.is_empty());
        assert_eq!(link.stats.overload.load(Ordering::Relaxed), 2);
        assert!(link.stats.overload_alarm.load(Ordering::Relaxed));
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err());
    }
}
