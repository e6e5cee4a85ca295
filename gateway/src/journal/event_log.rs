//! The journal as the engine and the uplink see it: events in, published payloads out.
//!
//! [`EventLog::append`] gives an [`Event`] its id (`<gateway>:<seq>`, the journal sequence
//! number), encodes it in the configured payload encoding, and files it in the right stream
//! (`position` events apart, so the full-disk policy can evict them). Every drop the journal
//! counts is turned into a `gateway.dropped` event right after, so that nothing is lost
//! silently: the drop report itself is an event, with its own id, on its way to central.

use std::time::Instant;

use ects_firmware::event::{
    DeviceRef, Event, EventId, EventKind, GatewayDropped, GatewayId, Protocol, Severity,
};
use ects_firmware::text::Text;
use ects_firmware::time::Timestamp;

use super::fs::Filesystem;
use super::{Appended, Commit, DropReport, Journal, JournalError, Stream};
use crate::payload::{Encoding, PayloadError, encode};

/// Why an event was not filed.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// The event cannot be encoded (a defect upstream; nothing was filed).
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The journal refused it (counted and reported as `gateway.dropped`) or failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Events in, published payloads out. See the module documentation.
#[derive(Debug)]
pub struct EventLog<FS: Filesystem> {
    journal: Journal<FS>,
    gateway: GatewayId,
    encoding: Encoding,
}

/// The stream an event belongs to.
pub fn stream_of(event: &Event) -> Stream {
    match event.kind {
        EventKind::Position(_) => Stream::Positions,
        _ if event.severity == Severity::Critical => Stream::Critical,
        _ => Stream::Events,
    }
}

impl<FS: Filesystem> EventLog<FS> {
    /// Wraps an open journal; `gateway` names events, `encoding` is the payload format.
    pub fn new(journal: Journal<FS>, gateway: GatewayId, encoding: Encoding) -> Self {
        EventLog {
            journal,
            gateway,
            encoding,
        }
    }

    /// The journal underneath (for reading, acknowledging and ticking).
    pub fn journal(&mut self) -> &mut Journal<FS> {
        &mut self.journal
    }

    /// Files `event` and returns its sequence number and durability.
    ///
    /// # Errors
    /// [`EventLogError::Payload`] if the event cannot be encoded (checked before anything is
    /// filed); [`EventLogError::Journal`] if the journal refused it — the refusal is then
    /// reported as a `gateway.dropped` event.
    pub fn append(&mut self, event: Event, now: Instant) -> Result<Appended, EventLogError> {
        // `Now` syncs critical records only (`file`), drop reports included.
        self.append_with(event, now, Commit::Now)
    }

    /// Files `event` without syncing it, whatever its severity ([`Journal::append_deferred`]):
    /// it is durable once [`EventLog::commit`] returns `Ok`. The `gateway.dropped` reports
    /// it causes are deferred the same way.
    ///
    /// # Errors
    /// As [`EventLog::append`].
    pub fn append_deferred(
        &mut self,
        event: Event,
        now: Instant,
    ) -> Result<Appended, EventLogError> {
        self.append_with(event, now, Commit::Later)
    }

    /// Makes everything filed so far durable ([`Journal::commit`]); returns the highest
    /// durable sequence number.
    ///
    /// # Errors
    /// The journal's I/O error: nothing filed since the last successful commit may be
    /// reported as accepted.
    pub fn commit(&mut self) -> Result<u64, JournalError> {
        self.journal.commit()
    }

    fn append_with(
        &mut self,
        event: Event,
        now: Instant,
        when: Commit,
    ) -> Result<Appended, EventLogError> {
        let at = event.received_at;
        let result = self.file(event, now, when);
        self.report_drops(at, now, when);
        result
    }

    /// Gives `event` the id of the next journal record, encodes it once, and appends it.
    /// An event that cannot be encoded fails here, before it takes a sequence number.
    fn file(
        &mut self,
        mut event: Event,
        now: Instant,
        when: Commit,
    ) -> Result<Appended, EventLogError> {
        let seq = self.journal.next_seq();
        event.id = Some(EventId {
            gateway: self.gateway.clone(),
            seq,
        });
        let payload = encode(&event, self.encoding)?;
        let when = match (when, event.severity) {
            (Commit::Now, Severity::Critical) => Commit::Now,
            _ => Commit::Later,
        };
        let appended = self.journal.append_with(
            stream_of(&event),
            event.severity,
            event.received_at.unix_micros(),
            |given| {
                debug_assert_eq!(given, seq, "the journal hands out next_seq()");
                payload
            },
            now,
            when,
        )?;
        Ok(appended)
    }

    /// Files a `gateway.dropped` event for every drop the journal counted. A drop report
    /// that is itself refused stays counted in the journal's lifetime total and is merged
    /// into the next report.
    fn report_drops(&mut self, at: Timestamp, now: Instant, when: Commit) {
        let mut pending: Vec<DropReport> = self.journal.take_drops();
        let mut rounds = 0;
        while !pending.is_empty() && rounds < 2 {
            rounds += 1;
            for d in std::mem::take(&mut pending) {
                let mut event = Event::new(
                    EventKind::GatewayDropped(GatewayDropped {
                        count: d.count,
                        reason: d.reason,
                        worst: d.worst,
                        first_seq: d.seq_range.map(|r| r.0),
                        last_seq: d.seq_range.map(|r| r.1),
                    }),
                    at,
                );
                event.device = Text::new("journal").ok().map(|id| DeviceRef {
                    protocol: Protocol::Gateway,
                    id,
                });
                if d.worst == Severity::Critical {
                    event.severity = Severity::Critical;
                }
                let result = self.file(event, now, when);
                if let Err(e) = result {
                    tracing::error!(error = %e, count = d.count, "could not file a gateway.dropped report");
                }
            }
            pending = self.journal.take_drops();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ects_firmware::event::{GpsRestored, PositionReport};

    use super::super::JournalConfig;
    use super::super::fs::TestFilesystem;
    use super::super::record::{HEADER_LEN, MAX_PAYLOAD};
    use super::*;

    fn log(max_segments: u64) -> EventLog<TestFilesystem> {
        let seg = (HEADER_LEN + MAX_PAYLOAD) as u64;
        let config = JournalConfig {
            dir: "/j".into(),
            max_bytes: max_segments * seg,
            segment_bytes: seg,
            commit_interval: Duration::from_secs(1),
            resend_window: Duration::ZERO,
        };
        let (j, _) = Journal::open(TestFilesystem::new(), config).unwrap();
        EventLog::new(j, "ke-malaba-01".parse().unwrap(), Encoding::Json)
    }

    #[test]
    fn test_ids_and_streams() {
        let mut l = log(16);
        let now = Instant::now();
        let t = Timestamp::from_unix_seconds(1_764_345_600);
        let a = l
            .append(
                Event::new(EventKind::Position(PositionReport { buffered: false }), t),
                now,
            )
            .unwrap();
        let b = l
            .append(
                Event::new(EventKind::GpsRestored(GpsRestored { outage_s: 3 }), t),
                now,
            )
            .unwrap();
        let pos = l.journal().next_batch(Stream::Positions, 10).unwrap();
        let ev = l.journal().next_batch(Stream::Events, 10).unwrap();
        assert_eq!((pos.len(), ev.len()), (1, 1));
        let v: serde_json::Value = serde_json::from_slice(&ev[0].payload).unwrap();
        assert_eq!(v["id"], format!("ke-malaba-01:{}", b.seq));
        let v: serde_json::Value = serde_json::from_slice(&pos[0].payload).unwrap();
        assert_eq!(v["id"], format!("ke-malaba-01:{}", a.seq));
    }

    #[test]
    fn test_a_fresh_critical_event_goes_before_a_backlog_of_lesser_ones() {
        let mut l = log(64);
        let now = Instant::now();
        let t = Timestamp::from_unix_seconds(1_764_345_600);
        // An outage left a backlog of warnings and positions…
        for _ in 0..500 {
            let lesser = Event::new(EventKind::GpsRestored(GpsRestored { outage_s: 3 }), t);
            l.append(lesser, now).unwrap();
            let pos = Event::new(EventKind::Position(PositionReport { buffered: false }), t);
            l.append(pos, now).unwrap();
        }
        // …then a seal is cut.
        let mut cut = Event::new(EventKind::GpsRestored(GpsRestored { outage_s: 3 }), t);
        cut.severity = Severity::Critical;
        let cut = l.append(cut, now).unwrap();
        // As the uplink reads: the cut comes first.
        let first = l.journal().next_batch_in_order(64).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].seq, cut.seq);
        assert_eq!(l.journal().backlog(), (501, 500));
    }

    #[test]
    fn test_evictions_become_gateway_dropped_events() {
        let mut l = log(4);
        let now = Instant::now();
        let t = Timestamp::from_unix_seconds(1_764_345_600);
        for _ in 0..2_000 {
            l.append(
                Event::new(EventKind::Position(PositionReport { buffered: false }), t),
                now,
            )
            .unwrap();
        }
        let events = l.journal().next_batch(Stream::Events, 1_000).unwrap();
        let dropped: u64 = events
            .iter()
            .map(|r| serde_json::from_slice::<serde_json::Value>(&r.payload).unwrap())
            .filter(|v| v["type"] == "gateway.dropped")
            .inspect(|v| assert_eq!(v["details"]["reason"], "evicted"))
            .map(|v| v["details"]["count"].as_u64().unwrap())
            .sum();
        let kept = std::iter::from_fn(|| {
            let b = l.journal().next_batch(Stream::Positions, 100).unwrap();
            (!b.is_empty()).then_some(b.len() as u64)
        })
        .sum::<u64>();
        assert!(dropped > 0);
        assert_eq!(
            dropped + kept,
            2_000,
            "every position is delivered or reported dropped"
        );
    }

    #[test]
    fn test_unencodable_event_takes_no_id() {
        let mut l = log(16);
        let e = Event::new(
            EventKind::GpsJump(ects_firmware::event::GpsJump {
                distance_m: f32::NAN,
                elapsed_s: 1.0,
                implied_speed_mps: 1.0,
            }),
            Timestamp::UNIX_EPOCH,
        );
        assert!(matches!(
            l.append(e, Instant::now()),
            Err(EventLogError::Payload(_))
        ));
        assert_eq!(l.journal().stats().next_seq, 1);
    }
}
