//! The pipeline stage: what the service does between decoded inputs and the journal.
//!
//! Sources decode bytes into [`Input`]s; one [`Stage`] turns them into [`Event`]s, which the
//! service files in the journal. The service's stage is the corridor monitor
//! ([`super::monitor_stage::MonitorStage`]); [`PassThrough`] — thinned positions, seal
//! reports mapped with the firmware's mapping (`ects_firmware::seal::events`) — handles
//! what no trip concerns.
//!
//! Contract of a [`Stage`]:
//!
//! ```text
//! on_input(input, now, out)   once per input, in arrival order per source
//! tick(now, out)              about once a second, and before shutdown
//! ```
//!
//! - `now` is the gateway's wall clock; a stage never reads a clock itself.
//! - A stage only pushes to `out`; it never blocks or does I/O. Events it pushes are
//!   journaled in that order.
//! - Seal reports arrive already de-duplicated (devices resend until acknowledged) and
//!   not yet acknowledged: the device gets its ACK after the events the stage pushes in
//!   the same round are durable in the journal (see [`super::source`]).

use std::collections::HashMap;

pub use ects_firmware::event::SourceName;
use ects_firmware::event::{
    DeviceRef, Event, EventKind, NoDetails, PositionReport, Protocol, SourceLost, SourceRestored,
};
use ects_firmware::nmea::fix::Fix;
use ects_firmware::seal::SealReport;
use ects_firmware::seal::events::for_each_event;
use ects_firmware::text::Text;
use ects_firmware::time::{Duration, Timestamp};

use crate::position::Thinning;

/// One decoded input from a source.
// A seal report is large (its lock list is inline, no heap in the firmware model); inputs
// are moved once into a bounded queue, so the size costs queue memory, which the bound
// limits, and a box per report would only add an allocation per frame.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A GPS receiver's epoch.
    Fix {
        /// The source it came from.
        source: SourceName,
        /// The merged navigation solution.
        fix: Fix,
    },
    /// A seal or e-lock report, new (not a resend); acknowledged once its events are
    /// durable.
    Seal {
        /// The source it came from.
        source: SourceName,
        /// The normalized report.
        report: SealReport,
    },
    /// A source went away (device unplugged, port gone).
    SourceLost {
        /// The source.
        source: SourceName,
    },
    /// A source came back.
    SourceRestored {
        /// The source.
        source: SourceName,
        /// How long it was gone.
        outage: Duration,
    },
    /// The unit's own enclosure tamper switch opened (debounced, once per opening).
    EnclosureOpened {
        /// The panel input that saw it (`enclosure`).
        source: SourceName,
    },
}

impl Input {
    /// The source the input came from.
    pub fn source(&self) -> &SourceName {
        match self {
            Input::Fix { source, .. }
            | Input::Seal { source, .. }
            | Input::SourceLost { source }
            | Input::SourceRestored { source, .. }
            | Input::EnclosureOpened { source } => source,
        }
    }
}

/// A pipeline stage: inputs in, events out, time as an argument. See the module docs.
pub trait Stage: Send {
    /// Handles one input received at `now`; pushes the events it means to `out`.
    fn on_input(&mut self, input: Input, now: Timestamp, out: &mut Vec<Event>);
    /// Lets time-based rules fire (overstay, GPS lost, …); called about once a second.
    fn tick(&mut self, now: Timestamp, out: &mut Vec<Event>);
    /// Called after the events pushed so far are in the journal: a stage that persists
    /// its state does it here, so that a saved alarm state never precedes its journaled
    /// alarm (a crash in between would otherwise lose the alarm).
    fn filed(&mut self) {}
    /// Called once when the pipeline is about to stop, before its final tick: a stage that
    /// takes work from elsewhere (central's commands) stops taking it, so that nothing it
    /// accepts can miss the final filing.
    fn stopping(&mut self) {}
    /// Called once when the pipeline stops, after the last filing: a stage that persists
    /// its state saves all of it now and waits until it is on disk — unless `filed` is
    /// false (the last journal commit failed): then it saves nothing, since a saved state
    /// must never be ahead of the events that changed it.
    fn stopped(&mut self, filed: bool) {
        let _ = filed;
    }
}

/// The stage for what no trip concerns: thinned positions per GPS source, seal reports as
/// events, source losses and returns as events.
#[derive(Debug)]
pub struct PassThrough {
    interval: Duration,
    /// GPS sources' protocols, by source name (the device in position events).
    gps: HashMap<SourceName, Protocol>,
    thinning: HashMap<SourceName, Thinning>,
}

impl PassThrough {
    /// Positions of each GPS source at least `interval` of receiver time apart; `gps`
    /// names the GPS sources and their protocols.
    pub fn new(interval: Duration, gps: impl IntoIterator<Item = (SourceName, Protocol)>) -> Self {
        PassThrough {
            interval,
            gps: gps.into_iter().collect(),
            thinning: HashMap::new(),
        }
    }

    fn fix(&mut self, source: SourceName, fix: &Fix, now: Timestamp, out: &mut Vec<Event>) {
        // A fix without a date cannot be placed in time; one without a position says only
        // "no fix", which is the monitor's to judge (gps.lost), not a position.
        let (Some(at), Some(p)) = (fix.time, fix.event_position()) else {
            return;
        };
        let interval = self.interval;
        let thinning = self
            .thinning
            .entry(source.clone())
            .or_insert_with(|| Thinning::new(interval));
        if !thinning.due(at, p.valid) {
            return;
        }
        let protocol = self.gps.get(&source).copied().unwrap_or(Protocol::Nmea);
        let mut e = Event::new(EventKind::Position(PositionReport { buffered: false }), now);
        e.device = Text::new(source.as_str())
            .ok()
            .map(|id| DeviceRef { protocol, id });
        e.device_time = Some(at);
        e.position = Some(p);
        out.push(e);
    }
}

impl Stage for PassThrough {
    fn on_input(&mut self, input: Input, now: Timestamp, out: &mut Vec<Event>) {
        match input {
            Input::Fix { source, fix } => self.fix(source, &fix, now, out),
            Input::Seal { report, .. } => for_each_event(&report, now, |e| out.push(e)),
            Input::SourceLost { source } => {
                out.push(Event::new(
                    EventKind::SourceLost(SourceLost { source }),
                    now,
                ));
            }
            Input::EnclosureOpened { source } => {
                let mut e = Event::new(EventKind::EnclosureOpened(NoDetails {}), now);
                e.device = Text::new(source.as_str()).ok().map(|id| DeviceRef {
                    protocol: Protocol::Gpio,
                    id,
                });
                out.push(e);
            }
            Input::SourceRestored { source, outage } => {
                let outage_s = u32::try_from(outage.as_secs().max(0)).unwrap_or(u32::MAX);
                out.push(Event::new(
                    EventKind::SourceRestored(SourceRestored { source, outage_s }),
                    now,
                ));
            }
        }
    }

    fn tick(&mut self, _now: Timestamp, _out: &mut Vec<Event>) {}
}

#[cfg(test)]
mod tests {
    use ects_firmware::event::EventType;
    use ects_firmware::nmea::LatLon;
    use ects_firmware::nmea::fix::FixMode;
    use ects_firmware::seal::Alarm;

    use super::*;

    fn name(s: &str) -> SourceName {
        SourceName::new(s).unwrap()
    }

    fn fix(s: i64, valid: bool) -> Fix {
        Fix {
            time: Some(Timestamp::from_unix_seconds(1_764_345_600 + s)),
            position: Some(LatLon {
                lat: 0.6346,
                lon: 34.2759,
            }),
            mode: if valid {
                FixMode::Fix3D
            } else {
                FixMode::NoFix
            },
            ..Fix::default()
        }
    }

    fn types(out: &[Event]) -> Vec<EventType> {
        out.iter().map(|e| e.kind.event_type()).collect()
    }

    #[test]
    fn test_positions_are_thinned_per_source() {
        let mut st = PassThrough::new(Duration::from_secs(30), [(name("gps"), Protocol::Ubx)]);
        let now = Timestamp::from_unix_seconds(1_764_345_700);
        let mut out = Vec::new();
        for s in 0..61 {
            st.on_input(
                Input::Fix {
                    source: name("gps"),
                    fix: fix(s, true),
                },
                now,
                &mut out,
            );
            st.on_input(
                Input::Fix {
                    source: name("gps2"),
                    fix: fix(s, true),
                },
                now,
                &mut out,
            );
        }
        assert_eq!(out.len(), 6, "3 per source: 0, 30, 60 s");
        assert_eq!(out[0].device.as_ref().unwrap().protocol, Protocol::Ubx);
        assert_eq!(out[0].device.as_ref().unwrap().id.as_str(), "gps");
        assert_eq!(out[0].received_at, now);
        out.clear();
        let undated = Fix {
            time: None,
            ..fix(61, true)
        };
        st.on_input(
            Input::Fix {
                source: name("gps"),
                fix: undated,
            },
            now,
            &mut out,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn test_seal_reports_and_source_changes_become_events() {
        let mut st = PassThrough::new(Duration::from_secs(30), []);
        let now = Timestamp::from_unix_seconds(1_764_345_700);
        let mut report = SealReport::new(
            Protocol::Jt600,
            Text::new("3301210003").unwrap(),
            Text::new("U06").unwrap(),
        );
        report.alarms.insert(Alarm::Cut);
        let mut out = Vec::new();
        st.on_input(
            Input::Seal {
                source: name("locks"),
                report,
            },
            now,
            &mut out,
        );
        st.on_input(
            Input::SourceLost {
                source: name("gps"),
            },
            now,
            &mut out,
        );
        st.on_input(
            Input::EnclosureOpened {
                source: name("enclosure"),
            },
            now,
            &mut out,
        );
        st.on_input(
            Input::SourceRestored {
                source: name("gps"),
                outage: Duration::from_secs(3),
            },
            now,
            &mut out,
        );
        assert_eq!(
            types(&out),
            [
                EventType::SealTampered,
                EventType::SourceLost,
                EventType::EnclosureOpened,
                EventType::SourceRestored
            ]
        );
        assert_eq!(out[2].severity, ects_firmware::event::Severity::Critical);
        assert_eq!(out[2].device.as_ref().unwrap().protocol, Protocol::Gpio);
        let EventKind::SourceRestored(r) = &out[3].kind else {
            panic!()
        };
        assert_eq!(r.outage_s, 3);
    }
}
