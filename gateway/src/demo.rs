//! The newcomer's demo: a recorded GPS capture through the firmware decoders into events.
//!
//! This is the smallest honest version of the appliance's main job until the simulators
//! and the uplink land: real receiver bytes (a Telit HE910 capture from gpsd's regression
//! suite, with fix loss and recovery) go through the same framer and sentence decoders the
//! service uses, become `position` events thinned the way the gateway thins them (data
//! frugality), are filed in the store-and-forward journal (which gives them their ids,
//! `<gateway>:<seq>`), and are read back from it, written out in their published encoding
//! one payload a line, and acknowledged — what the uplink does with a broker.
//!
//! Invariants:
//! - Deterministic: time is taken from the data (the receiver's UTC), never from a clock;
//!   the same input gives byte-identical output.
//! - On a fresh journal, sequence numbers start at 1 and increase by one per event written.
//! - Positions are thinned as the service thins them ([`crate::position::Thinning`]).

use std::io::Write;
use std::time::Instant;

use ects_firmware::event::{
    DeviceRef, Event, EventKind, GatewayStarted, Position, PositionReport, Protocol,
};
use ects_firmware::nmea::framer::Framer;
use ects_firmware::nmea::{KNOTS_TO_MPS, RmcData, SentenceData, parse};
use ects_firmware::text::Text;
use ects_firmware::time::{Duration, Timestamp};

use crate::journal::event_log::{EventLog, EventLogError};
use crate::journal::fs::Filesystem;
use crate::journal::{JournalError, Stream};
use crate::payload::CBOR_MAGIC;
use crate::position::Thinning;

/// The bundled capture: Telit HE910 NMEA, 187 epochs, 37 of them without a fix
/// (gpsd regression log, BSD-2-Clause; see `firmware/tests/data/gpsd-logs/README.md`).
pub const DEMO_GPS_CAPTURE: &[u8] =
    include_bytes!("../../firmware/tests/data/gpsd-logs/telit-he910.log");

/// Settings of a demo run (the gateway id and the payload encoding are the event log's).
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// The source name of the GPS receiver, used as its device id.
    pub gps_source: Text<32>,
    /// Minimum receiver time between two routine position events.
    pub position_interval: Duration,
}

/// What a demo run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// Sentences framed with a valid checksum and decoded.
    pub accepted: u64,
    /// Lines refused by the framer or the decoder.
    pub rejected: u64,
    /// Events written.
    pub events: u64,
}

/// Why a demo run stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// An event could not be filed.
    #[error(transparent)]
    EventLog(#[from] EventLogError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The output could not be written.
    #[error("writing events: {0}")]
    Io(#[from] std::io::Error),
}

struct Emitter<'a, W: Write, FS: Filesystem> {
    log: &'a mut EventLog<FS>,
    out: W,
}

impl<W: Write, FS: Filesystem> Emitter<'_, W, FS> {
    /// Files the event in the journal, then does what a connected uplink does: reads what
    /// the journal holds, in sequence order, writes each payload and acknowledges it.
    fn emit(&mut self, event: Event) -> Result<(), DemoError> {
        self.log.append(event, Instant::now())?;
        let journal = self.log.journal();
        let mut records = Vec::new();
        for stream in Stream::ALL {
            records.extend(journal.next_batch(stream, usize::MAX)?);
        }
        records.sort_by_key(|r| r.seq);
        for r in records {
            if r.payload.starts_with(&CBOR_MAGIC) {
                for b in &r.payload {
                    write!(self.out, "{b:02x}")?;
                }
            } else {
                self.out.write_all(&r.payload)?;
            }
            self.out.write_all(b"\n")?;
            journal.ack(r.seq);
        }
        Ok(())
    }
}

fn position_of(rmc: &RmcData, fix_time: Timestamp) -> Option<Position> {
    let ll = rmc.position?;
    let mut p = Position::new(ll.lat, ll.lon, rmc.has_fix()).ok()?;
    p.fix_time = Some(fix_time);
    p.speed_mps = rmc.speed_knots.map(|k| k * KNOTS_TO_MPS);
    p.track_deg = rmc.track_deg;
    Some(p)
}

/// Runs `capture` through the decoders and writes the resulting events to `out`.
///
/// # Errors
/// [`DemoError`] if writing fails or an event cannot be encoded; decoding problems in the
/// capture are counted in the summary, not errors.
pub fn run<FS: Filesystem>(
    config: &DemoConfig,
    capture: &[u8],
    log: &mut EventLog<FS>,
    out: impl Write,
) -> Result<DemoSummary, DemoError> {
    let mut emitter = Emitter { log, out };
    let mut summary = DemoSummary::default();
    let mut framer: Framer = Framer::new();
    let device = DeviceRef {
        protocol: Protocol::Nmea,
        id: config.gps_source.clone(),
    };
    let mut started = false;
    let mut thinning = Thinning::new(config.position_interval);

    for &byte in capture {
        let frame = match framer.push(byte) {
            None => continue,
            Some(Err(_)) => {
                summary.rejected += 1;
                continue;
            }
            Some(Ok(frame)) => frame,
        };
        let Ok(sentence) = parse(frame.body()) else {
            summary.rejected += 1;
            continue;
        };
        summary.accepted += 1;
        let SentenceData::Rmc(rmc) = sentence.data else {
            continue;
        };
        let (Some(date), Some(time)) = (rmc.date, rmc.time) else {
            continue;
        };
        let Some(now) = date.at(&time) else { continue };
        if !started {
            let version =
                Text::new(crate::VERSION).unwrap_or_else(|_| Text::new("unknown").expect("valid"));
            emitter.emit(Event::new(
                EventKind::GatewayStarted(GatewayStarted {
                    version,
                    unclean_shutdown: false,
                }),
                now,
            ))?;
            summary.events += 1;
            started = true;
        }
        let Some(position) = position_of(&rmc, now) else {
            continue;
        };
        if thinning.due(now, position.valid) {
            let mut event =
                Event::new(EventKind::Position(PositionReport { buffered: false }), now);
            event.device = Some(device.clone());
            event.device_time = position.fix_time;
            event.position = Some(position);
            emitter.emit(event)?;
            summary.events += 1;
        }
    }
    if framer.finish().is_some() {
        summary.rejected += 1;
    }
    emitter.log.journal().flush()?;
    emitter.out.flush()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::fs::TestFilesystem;
    use crate::journal::{Journal, JournalConfig};
    use crate::payload::Encoding;

    fn config(interval_s: i64) -> DemoConfig {
        DemoConfig {
            gps_source: Text::new("gps0").unwrap(),
            position_interval: Duration::from_secs(interval_s),
        }
    }

    fn log() -> EventLog<TestFilesystem> {
        let (j, _) = Journal::open(TestFilesystem::new(), JournalConfig::new("/demo")).unwrap();
        EventLog::new(j, "demo-gw".parse().unwrap(), Encoding::Json)
    }

    fn lines(interval_s: i64) -> (Vec<serde_json::Value>, DemoSummary) {
        let mut out = Vec::new();
        let summary = run(&config(interval_s), DEMO_GPS_CAPTURE, &mut log(), &mut out).unwrap();
        let events = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        (events, summary)
    }

    #[test]
    fn test_ids_are_consecutive_and_first_is_started() {
        let (events, summary) = lines(30);
        assert_eq!(events.len() as u64, summary.events);
        assert_eq!(events[0]["type"], "gateway.started");
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e["id"], format!("demo-gw:{}", i + 1));
        }
    }

    #[test]
    fn test_every_dated_rmc_with_a_position_is_an_event_without_thinning() {
        // Counted on the raw text, independently of the decoder: RMC lines with a date field
        // and a latitude. (The capture has no corrupt RMC lines: gpsd accepts them all.)
        let text = String::from_utf8_lossy(DEMO_GPS_CAPTURE);
        let rmc_with_position = text
            .lines()
            .filter(|l| l.len() > 6 && &l[3..6] == "RMC")
            .filter(|l| {
                let f: Vec<&str> = l.split(',').collect();
                f.len() > 9 && !f[3].is_empty() && f[9].len() == 6
            })
            .count();
        let (all, _) = lines(0);
        assert_eq!(
            all.iter().filter(|e| e["type"] == "position").count(),
            rmc_with_position
        );
        let (thin, _) = lines(30);
        let times: Vec<Timestamp> = thin
            .iter()
            .filter(|e| e["type"] == "position")
            .map(|e| e["received_at"].as_str().unwrap().parse().unwrap())
            .collect();
        assert!(times.len() > 1 && times.len() < rmc_with_position / 10);
        assert!(
            times
                .windows(2)
                .all(|w| w[1] - w[0] >= Duration::from_secs(30))
        );
    }

    fn sentence(body: &str) -> String {
        let sum = ects_firmware::nmea::framer::checksum(body.as_bytes());
        format!("${body}*{sum:02X}\r\n")
    }

    #[test]
    fn test_a_validity_change_is_written_at_once() {
        let capture: String = [
            "GPRMC,100000.00,A,0038.0000,N,03416.0000,E,10.0,90.0,281126,,,A",
            "GPRMC,100001.00,V,0038.0010,N,03416.0100,E,10.0,90.0,281126,,,N",
            "GPRMC,100002.00,V,0038.0020,N,03416.0200,E,10.0,90.0,281126,,,N",
            "GPRMC,100003.00,A,0038.0030,N,03416.0300,E,10.0,90.0,281126,,,A",
        ]
        .iter()
        .map(|b| sentence(b))
        .collect();
        let mut out = Vec::new();
        let summary = run(&config(30), capture.as_bytes(), &mut log(), &mut out).unwrap();
        assert_eq!(
            summary,
            DemoSummary {
                accepted: 4,
                rejected: 0,
                events: 4
            }
        );
        let valid: Vec<bool> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice::<serde_json::Value>(l).unwrap())
            .filter(|e| e["type"] == "position")
            .map(|e| e["position"]["valid"].as_bool().unwrap())
            .collect();
        assert_eq!(valid, [true, false, true]);
    }

    #[test]
    fn test_deterministic() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        run(&config(30), DEMO_GPS_CAPTURE, &mut log(), &mut a).unwrap();
        run(&config(30), DEMO_GPS_CAPTURE, &mut log(), &mut b).unwrap();
        assert_eq!(a, b);
    }
}
