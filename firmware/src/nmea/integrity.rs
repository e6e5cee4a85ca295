//! GPS integrity signals: what the corridor monitor needs to know about the *quality* of
//! the position stream, derived from NMEA alone.
//!
//! The [`IntegrityMonitor`] is a state machine fed one [`Fix`] per epoch (from
//! [`crate::nmea::fix::FixAssembler`]); it returns the [`IntegritySignal`]s that epoch
//! raised. It does no I/O and reads no clock: elapsed time comes from the fixes' own UTC
//! times.
//!
//! Signals (each raised once on entering the condition, not every epoch):
//!
//! - [`IntegritySignal::FixLost`] after [`IntegrityConfig::lost_after_epochs`] epochs
//!   without a fix following a fix, and [`IntegritySignal::FixRestored`] when a fix returns.
//! - [`IntegritySignal::Cn0Drop`]: the jamming signature. Jamming raises the noise floor
//!   of every satellite at once, so both the mean and the strongest C/N0 over *all*
//!   tracked satellites fall by at least [`IntegrityConfig::cn0_drop_db`] against a running
//!   baseline. Partial sky blockage (trees, buildings) lowers some satellites but leaves the
//!   strongest near its baseline, so it does not trigger. Losing every satellite while GSV
//!   still lists satellites in view counts as a drop to 0 dB-Hz.
//! - [`IntegritySignal::TimeJump`]: the fix time went backwards or jumped forward by more
//!   than [`IntegrityConfig::max_time_step`] between consecutive epochs.
//! - [`IntegritySignal::Simulated`]: the receiver flags its solution as simulated (mode S,
//!   GGA quality 8) — a real receiver in a truck never should.
//! - [`IntegritySignal::ReceiverJamming`] (from [`IntegrityMonitor::step_mon_rf`]): the
//!   u-blox receiver's own RF monitor reports jamming (MON-RF state warning or critical).
//! - [`IntegritySignal::PositionJump`]: two consecutive fixes further apart than
//!   [`IntegrityConfig::min_jump_m`] and than [`IntegrityConfig::max_speed_mps`] allows in
//!   the time between them (spoofing or a receiver reset).
//!
//! Invariants: fixed-size state, at most [`MAX_SIGNALS`] signals per epoch, no panics.
//!
//! ```
//! use ects_firmware::nmea::LatLon;
//! use ects_firmware::nmea::fix::{Fix, FixMode};
//! use ects_firmware::nmea::integrity::{IntegrityMonitor, IntegritySignal};
//! let mut monitor = IntegrityMonitor::new(Default::default());
//! let position = Some(LatLon { lat: 0.3476, lon: 32.5825 });
//! let fix = Fix { mode: FixMode::Fix3D, position, ..Fix::default() };
//! let lost = Fix::default();
//! assert!(monitor.step(&fix).is_empty());
//! assert!(monitor.step(&lost).is_empty()); // one epoch is not enough
//! assert!(monitor.step(&lost).is_empty());
//! assert!(matches!(monitor.step(&lost)[..], [IntegritySignal::FixLost { .. }]));
//! assert!(matches!(monitor.step(&fix)[..], [IntegritySignal::FixRestored { .. }]));
//! ```

use super::LatLon;
use super::fix::Fix;
use crate::event::{EventKind, GpsJamming, GpsJump, GpsLost, GpsRestored};
use crate::time::{Duration, Timestamp};

/// Most signals one epoch can raise.
pub const MAX_SIGNALS: usize = 6;

/// Signals raised by one epoch.
pub type Signals = heapless::Vec<IntegritySignal, MAX_SIGNALS>;

/// Thresholds of the [`IntegrityMonitor`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntegrityConfig {
    /// Consecutive epochs without a fix before [`IntegritySignal::FixLost`] (≥ 1).
    pub lost_after_epochs: u8,
    /// C/N0 drop of mean and maximum, dB, that counts as jamming.
    pub cn0_drop_db: f32,
    /// Tracked satellites needed before a C/N0 baseline is learned.
    pub cn0_min_tracked: u16,
    /// Epochs of baseline learning before C/N0 drops are reported.
    pub cn0_warmup_epochs: u8,
    /// Largest forward step of the fix time between consecutive epochs.
    pub max_time_step: Duration,
    /// Highest plausible speed, m/s.
    pub max_speed_mps: f32,
    /// Smallest jump reported, metres (below it, noise at low speed is ignored).
    pub min_jump_m: f32,
}

impl Default for IntegrityConfig {
    /// Road-freight defaults: 3 epochs to confirm loss, 10 dB C/N0 drop, 30 s time step,
    /// 70 m/s (250 km/h) and 200 m for jumps.
    fn default() -> Self {
        IntegrityConfig {
            lost_after_epochs: 3,
            cn0_drop_db: 10.0,
            cn0_min_tracked: 4,
            cn0_warmup_epochs: 5,
            max_time_step: Duration::from_secs(30),
            max_speed_mps: 70.0,
            min_jump_m: 200.0,
        }
    }
}

/// An integrity condition raised by an epoch.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum IntegritySignal {
    /// The fix has been lost for the configured number of epochs.
    FixLost {
        /// Time since the last fix, when both times are known.
        last_fix_age: Option<Duration>,
        /// Speed at the last fix, m/s.
        last_speed_mps: Option<f32>,
    },
    /// A fix is back after [`IntegritySignal::FixLost`].
    FixRestored {
        /// Time since the last fix before the outage, when known.
        outage: Option<Duration>,
    },
    /// The all-satellite C/N0 drop of jamming.
    Cn0Drop {
        /// Baseline mean C/N0, dB-Hz.
        baseline_dbhz: f32,
        /// This epoch's mean C/N0 (0 when nothing is tracked), dB-Hz.
        current_dbhz: f32,
        /// Drop of the mean, dB.
        drop_db: f32,
    },
    /// The fix time stepped backwards or too far forwards.
    TimeJump {
        /// The previous epoch's time.
        from: Timestamp,
        /// This epoch's time.
        to: Timestamp,
    },
    /// The receiver reports a simulated solution.
    Simulated,
    /// The receiver's own jamming detector (u-blox MON-RF) entered warning or critical.
    ReceiverJamming {
        /// The worst jamming state over the RF blocks.
        state: crate::ubx::JammingState,
        /// The highest CW jamming indicator (0–255).
        jam_indicator: u8,
    },
    /// An implausible jump between consecutive fixes.
    PositionJump {
        /// Distance, metres.
        distance_m: f32,
        /// Time between the fixes, seconds.
        elapsed_s: f32,
        /// The speed the jump implies, m/s.
        implied_speed_mps: f32,
    },
}

impl IntegritySignal {
    /// The normalized event for this signal, where the event model has one
    /// (`gps.lost`, `gps.restored`, `gps.jamming`, `gps.jump`). Time jumps and simulator
    /// mode have no event kind yet.
    pub fn event_kind(&self) -> Option<EventKind> {
        match *self {
            IntegritySignal::FixLost {
                last_fix_age,
                last_speed_mps,
            } => Some(EventKind::GpsLost(GpsLost {
                last_fix_age_s: last_fix_age.map_or(0, clamp_secs),
                last_speed_mps,
            })),
            IntegritySignal::FixRestored { outage } => Some(EventKind::GpsRestored(GpsRestored {
                outage_s: outage.map_or(0, clamp_secs),
            })),
            IntegritySignal::Cn0Drop { drop_db, .. } => Some(EventKind::GpsJamming(GpsJamming {
                cn0_drop_db: Some(drop_db),
                receiver_flag: false,
            })),
            IntegritySignal::PositionJump {
                distance_m,
                elapsed_s,
                implied_speed_mps,
            } => Some(EventKind::GpsJump(GpsJump {
                distance_m,
                elapsed_s,
                implied_speed_mps,
            })),
            IntegritySignal::ReceiverJamming { .. } => Some(EventKind::GpsJamming(GpsJamming {
                cn0_drop_db: None,
                receiver_flag: true,
            })),
            IntegritySignal::TimeJump { .. } | IntegritySignal::Simulated => None,
        }
    }
}

fn clamp_secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs().max(0)).unwrap_or(u32::MAX)
}

/// Derives [`IntegritySignal`]s from consecutive fixes (see the module docs).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntegrityMonitor {
    config: IntegrityConfig,
    /// Last epoch's time.
    last_time: Option<Timestamp>,
    /// Last fix with a position: (time, position, speed).
    last_fix: Option<(Option<Timestamp>, LatLon, Option<f32>)>,
    had_fix: bool,
    no_fix_epochs: u8,
    lost: bool,
    simulated: bool,
    /// C/N0 baseline (mean, max), exponentially averaged.
    cn0_baseline: Option<(f32, f32)>,
    cn0_epochs: u8,
    jammed: bool,
    receiver_jammed: bool,
}

impl IntegrityMonitor {
    /// A monitor with `config`.
    pub fn new(config: IntegrityConfig) -> Self {
        IntegrityMonitor {
            config,
            last_time: None,
            last_fix: None,
            had_fix: false,
            no_fix_epochs: 0,
            lost: false,
            simulated: false,
            cn0_baseline: None,
            cn0_epochs: 0,
            jammed: false,
            receiver_jammed: false,
        }
    }

    /// Processes one epoch's fix; returns the signals it raised.
    pub fn step(&mut self, fix: &Fix) -> Signals {
        let mut out = Signals::new();
        self.time_jump(fix, &mut out);
        self.simulated(fix, &mut out);
        self.cn0(fix, &mut out);
        self.fix_state(fix, &mut out);
        out
    }

    /// Processes a u-blox MON-RF report: raises [`IntegritySignal::ReceiverJamming`] when
    /// the receiver's jamming state enters warning or critical.
    pub fn step_mon_rf(&mut self, rf: &crate::ubx::MonRfData) -> Option<IntegritySignal> {
        use crate::ubx::JammingState;
        let state = rf.jamming_state();
        let jammed = matches!(state, JammingState::Warning | JammingState::Critical);
        let raise = jammed && !self.receiver_jammed;
        self.receiver_jammed = jammed;
        raise.then_some(IntegritySignal::ReceiverJamming {
            state,
            jam_indicator: rf.jam_indicator(),
        })
    }

    fn time_jump(&mut self, fix: &Fix, out: &mut Signals) {
        let Some(t) = fix.time else { return };
        if let Some(prev) = self.last_time {
            let step = t - prev;
            if step < Duration::ZERO || step > self.config.max_time_step {
                let _ = out.push(IntegritySignal::TimeJump { from: prev, to: t });
            }
        }
        self.last_time = Some(t);
    }

    fn simulated(&mut self, fix: &Fix, out: &mut Signals) {
        if fix.simulated && !self.simulated {
            let _ = out.push(IntegritySignal::Simulated);
        }
        self.simulated = fix.simulated;
    }

    fn cn0(&mut self, fix: &Fix, out: &mut Signals) {
        if fix.cn0.is_empty() {
            return; // no GSV this epoch: nothing to say
        }
        let tracked = fix.cn0.tracked();
        let mean = fix.cn0.mean_cn0_dbhz().unwrap_or(0.0);
        let max = fix
            .cn0
            .iter()
            .filter_map(|(_, s)| s.max_cn0_dbhz)
            .max()
            .map_or(0.0, f32::from);
        let drop = self.config.cn0_drop_db;
        match self.cn0_baseline {
            Some((base_mean, base_max)) if self.cn0_epochs >= self.config.cn0_warmup_epochs => {
                let dropped = mean <= base_mean - drop && max <= base_max - drop;
                if dropped && !self.jammed {
                    let _ = out.push(IntegritySignal::Cn0Drop {
                        baseline_dbhz: base_mean,
                        current_dbhz: mean,
                        drop_db: base_mean - mean,
                    });
                }
                // Hysteresis: clear once the mean is back within half the threshold.
                if dropped {
                    self.jammed = true;
                } else if mean > base_mean - drop / 2.0 {
                    self.jammed = false;
                }
            }
            _ => {}
        }
        // Learn the baseline only from healthy epochs.
        if !self.jammed && tracked >= self.config.cn0_min_tracked {
            self.cn0_baseline = Some(match self.cn0_baseline {
                None => (mean, max),
                Some((m, x)) => (m + (mean - m) / 8.0, x + (max - x) / 8.0),
            });
            self.cn0_epochs = self.cn0_epochs.saturating_add(1);
        }
    }

    fn fix_state(&mut self, fix: &Fix, out: &mut Signals) {
        let has_fix = fix.mode.has_fix() && fix.position.is_some();
        if !has_fix {
            self.no_fix_epochs = self.no_fix_epochs.saturating_add(1);
            if self.had_fix
                && !self.lost
                && self.no_fix_epochs >= self.config.lost_after_epochs.max(1)
            {
                self.lost = true;
                let (last_t, _, speed) =
                    self.last_fix
                        .unwrap_or((None, LatLon { lat: 0.0, lon: 0.0 }, None));
                let _ = out.push(IntegritySignal::FixLost {
                    last_fix_age: elapsed(last_t, fix.time),
                    last_speed_mps: speed,
                });
            }
            return;
        }
        let Some(pos) = fix.position else { return };
        self.no_fix_epochs = 0;
        if self.lost {
            self.lost = false;
            let last_t = self.last_fix.and_then(|(t, _, _)| t);
            let _ = out.push(IntegritySignal::FixRestored {
                outage: elapsed(last_t, fix.time),
            });
        } else if let Some((p0, dt)) = self.last_fix.and_then(|(t0, p0, _)| {
            let dt = elapsed(t0, fix.time).filter(|d| *d > Duration::ZERO)?;
            Some((p0, dt))
        }) {
            let distance_m = distance_m(p0, pos);
            let elapsed_s = dt.as_secs_f64() as f32;
            let implied = distance_m / elapsed_s;
            if distance_m >= self.config.min_jump_m && implied > self.config.max_speed_mps {
                let _ = out.push(IntegritySignal::PositionJump {
                    distance_m,
                    elapsed_s,
                    implied_speed_mps: implied,
                });
            }
        }
        self.had_fix = true;
        self.last_fix = Some((fix.time, pos, fix.speed_mps));
    }
}

fn elapsed(from: Option<Timestamp>, to: Option<Timestamp>) -> Option<Duration> {
    Some(to? - from?)
}

/// Great-circle distance (haversine, mean Earth radius), metres.
pub fn distance_m(a: LatLon, b: LatLon) -> f32 {
    const R: f64 = 6_371_008.8;
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = libm::sin(dlat / 2.0) * libm::sin(dlat / 2.0)
        + libm::cos(la1) * libm::cos(la2) * libm::sin(dlon / 2.0) * libm::sin(dlon / 2.0);
    (2.0 * R * libm::asin(libm::sqrt(h.clamp(0.0, 1.0)))) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmea::fix::{FixAssembler, FixMode};
    use crate::nmea::{Constellation, framer::Framer, parse};

    fn at(secs: i64) -> Option<Timestamp> {
        Some(Timestamp::from_unix_seconds(1_700_000_000 + secs))
    }

    fn fix(secs: i64, lat: f64, lon: f64) -> Fix {
        Fix {
            time: at(secs),
            mode: FixMode::Fix3D,
            position: Some(LatLon { lat, lon }),
            speed_mps: Some(10.0),
            ..Fix::default()
        }
    }

    fn no_fix(secs: i64) -> Fix {
        Fix {
            time: at(secs),
            ..Fix::default()
        }
    }

    #[test]
    fn test_distance() {
        // One degree of latitude is about 111.2 km.
        let d = distance_m(LatLon { lat: 0.0, lon: 0.0 }, LatLon { lat: 1.0, lon: 0.0 });
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
        assert_eq!(
            distance_m(
                LatLon {
                    lat: 45.0,
                    lon: 9.0
                },
                LatLon {
                    lat: 45.0,
                    lon: 9.0
                }
            ),
            0.0
        );
    }

    #[test]
    fn test_fix_lost_and_restored() {
        let mut m = IntegrityMonitor::new(IntegrityConfig::default());
        assert!(m.step(&fix(0, 0.0, 32.0)).is_empty());
        assert!(m.step(&no_fix(1)).is_empty());
        assert!(m.step(&no_fix(2)).is_empty());
        let s = m.step(&no_fix(3));
        assert_eq!(
            s[..],
            [IntegritySignal::FixLost {
                last_fix_age: Some(Duration::from_secs(3)),
                last_speed_mps: Some(10.0)
            }]
        );
        assert!(m.step(&no_fix(4)).is_empty(), "raised once");
        let s = m.step(&fix(10, 0.0, 32.0001));
        assert_eq!(
            s[..],
            [IntegritySignal::FixRestored {
                outage: Some(Duration::from_secs(10))
            }]
        );
        let kind = s[0].event_kind().unwrap();
        assert_eq!(kind.event_type().as_str(), "gps.restored");
    }

    #[test]
    fn test_position_jump() {
        let mut m = IntegrityMonitor::new(IntegrityConfig::default());
        m.step(&fix(0, 0.0, 32.0));
        // 30 m in 1 s: a truck.
        assert!(m.step(&fix(1, 0.00027, 32.0)).is_empty());
        // 11 km in 1 s: not a truck.
        let s = m.step(&fix(2, 0.1, 32.0));
        let [
            IntegritySignal::PositionJump {
                distance_m,
                implied_speed_mps,
                ..
            },
        ] = s[..]
        else {
            panic!("{s:?}")
        };
        assert!((distance_m - 11_090.0).abs() < 50.0);
        assert!(implied_speed_mps > 10_000.0);
        assert_eq!(s[0].event_kind().unwrap().event_type().as_str(), "gps.jump");
    }

    #[test]
    fn test_time_jump_and_simulated() {
        let mut m = IntegrityMonitor::new(IntegrityConfig::default());
        m.step(&fix(100, 0.0, 32.0));
        assert!(matches!(
            m.step(&no_fix(99))[..],
            [IntegritySignal::TimeJump { .. }]
        ));
        assert!(m.step(&no_fix(100)).is_empty());
        // A one-day jump (the third no-fix epoch also confirms the loss of fix).
        let s = m.step(&no_fix(86_500));
        assert!(matches!(s[0], IntegritySignal::TimeJump { .. }), "{s:?}");
        assert!(matches!(s[1], IntegritySignal::FixLost { .. }), "{s:?}");
        let mut sim = fix(86_501, 0.0, 32.0);
        sim.simulated = true;
        assert!(m.step(&sim).contains(&IntegritySignal::Simulated));
        sim.time = at(86_502);
        assert!(
            !m.step(&sim).contains(&IntegritySignal::Simulated),
            "raised once"
        );
    }

    /// Feeds NMEA text through the framer and assembler into the monitor.
    fn signals_of(text: &str) -> std::vec::Vec<IntegritySignal> {
        let mut framer: Framer = Framer::new();
        let mut asm = FixAssembler::new();
        let mut m = IntegrityMonitor::new(IntegrityConfig::default());
        let mut out = std::vec::Vec::new();
        for &b in text.as_bytes() {
            if let Some(Ok(frame)) = framer.push(b) {
                let s = parse(frame.body()).unwrap();
                if let Some(fix) = asm.push(&s) {
                    out.extend(m.step(&fix));
                }
            }
        }
        if let Some(fix) = asm.flush() {
            out.extend(m.step(&fix));
        }
        out
    }

    fn nmea(body: &str) -> std::string::String {
        let sum = crate::nmea::framer::checksum(body.as_bytes());
        std::format!("${body}*{sum:02X}\r\n")
    }

    fn epoch(sec: u32, cn0: [u8; 4]) -> std::string::String {
        let [a, b, c, d] = cn0;
        nmea(&std::format!(
            "GPRMC,1200{sec:02}.00,A,4404.13993,N,12118.86023,W,0.1,,100117,,,A"
        )) + &nmea(&std::format!(
            "GPGSV,1,1,04,01,40,100,{a:02},02,40,200,{b:02},03,40,300,{c:02},04,40,050,{d:02}"
        ))
    }

    #[test]
    fn test_cn0_drop_on_all_satellites_only() {
        let mut text = std::string::String::new();
        for s in 0..8 {
            text += &epoch(s, [45, 42, 40, 38]);
        }
        // Trees: two satellites fade, the strongest stays. No alarm.
        text += &epoch(8, [44, 20, 18, 38]);
        text += &epoch(9, [45, 42, 40, 38]);
        assert!(signals_of(&text).is_empty(), "{:?}", signals_of(&text));
        // Jammer: everything falls by ~15 dB at once.
        text += &epoch(10, [30, 27, 25, 23]);
        text += &epoch(11, [29, 27, 25, 23]);
        let s = signals_of(&text);
        assert_eq!(s.len(), 1, "{s:?}");
        let IntegritySignal::Cn0Drop {
            drop_db,
            baseline_dbhz,
            ..
        } = s[0]
        else {
            panic!()
        };
        // The baseline (41.25 dB-Hz when healthy) learned a little from the tree epoch.
        assert!(
            baseline_dbhz > 39.0 && baseline_dbhz < 41.3,
            "{baseline_dbhz}"
        );
        assert!(
            (drop_db - (baseline_dbhz - 26.25)).abs() < 1e-3,
            "{drop_db}"
        );
        let event = s[0].event_kind().unwrap();
        assert_eq!(event.event_type().as_str(), "gps.jamming");
    }

    #[test]
    fn test_receiver_jamming_from_mon_rf() {
        let block = |state: u8, ind: u8| {
            let mut b = [0u8; 24];
            b[1] = state;
            b[16] = ind;
            b
        };
        let rf = |state, ind| {
            let mut p = std::vec![0u8, 1, 0, 0];
            p.extend_from_slice(&block(state, ind));
            crate::ubx::MonRfData::parse(&p).unwrap()
        };
        let mut m = IntegrityMonitor::new(IntegrityConfig::default());
        assert_eq!(m.step_mon_rf(&rf(1, 10)), None);
        let s = m.step_mon_rf(&rf(3, 200)).unwrap();
        assert_eq!(
            s,
            IntegritySignal::ReceiverJamming {
                state: crate::ubx::JammingState::Critical,
                jam_indicator: 200
            }
        );
        assert_eq!(s.event_kind().unwrap().event_type().as_str(), "gps.jamming");
        assert_eq!(m.step_mon_rf(&rf(2, 150)), None, "raised once");
        assert_eq!(m.step_mon_rf(&rf(1, 10)), None);
        assert!(m.step_mon_rf(&rf(2, 150)).is_some());
    }

    #[test]
    fn test_constellation_summary_feeds_cn0() {
        let mut asm = FixAssembler::new();
        asm.push(&parse(b"GLGSV,1,1,01,65,10,100,20").unwrap());
        let fix = asm.flush().unwrap();
        assert_eq!(fix.cn0.get(Constellation::Glonass).tracked, 1);
    }
}
