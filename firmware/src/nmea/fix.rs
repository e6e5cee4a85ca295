//! The epoch assembler: turns a stream of decoded sentences into one [`Fix`] per epoch.
//!
//! A receiver reports each measurement epoch as a burst of sentences (RMC, GGA, GSA per
//! constellation, GSV groups per constellation and signal, VTG, ZDA, …) in a vendor-specific
//! order. The [`FixAssembler`] merges them:
//!
//! - **Epochs** are delimited by the UTC time of day carried by RMC, GGA, GNS, GLL, ZDA and
//!   GST: a sentence with a different time closes the current epoch, and
//!   [`FixAssembler::push`] returns the completed [`Fix`]. Sentences without a time (GSA,
//!   GSV, VTG) belong to the current epoch. [`FixAssembler::flush`] closes the last one.
//! - **Date**: only RMC and ZDA carry a date; an RMC's date is only trusted with status A
//!   (MTK receivers send 1980 dates from their RTC before the first fix, and gpsd ignores
//!   them too). The last date seen is carried to GGA, GNS and
//!   GLL times, rolling over at midnight (a time more than 12 h before the time the date
//!   was learned at is taken to be on the next day). Until a date is known, fixes have no
//!   [`Fix::time`], only [`Fix::time_of_day`].
//! - **Several GSA per epoch** (NMEA 4.10: one per constellation) are merged, not
//!   overwritten: satellites used are counted per constellation (AeroRust/nmea #148).
//! - **GSV** C/N0 values are summarised per constellation ([`Cn0Summary`]).
//! - **Fix mode** (gpsd's numbering: 1 none, 2 2D, 3 3D): GGA and GNS give 3D when they
//!   carry an altitude, else 2D (as gpsd; some receivers claim 3D with 3 satellites); quality 0 / mode N
//!   gives no fix; GSA states the mode outright; RMC and GLL with status A only say "at least
//!   2D" and keep the last known dimension; status V gives no fix.
//! - **Empty fields** never overwrite known values within an epoch.
//!
//! Invariants: fixed-size state only (no heap), O(1) work per sentence apart from the at
//! most 18 PRNs of a GSA, and no input makes it panic.
//!
//! ```
//! use ects_firmware::nmea::{parse, fix::{FixAssembler, FixMode}};
//! let mut asm = FixAssembler::new();
//! for body in [
//!     &b"GPRMC,030129.0,A,2638.1726,N,08011.3892,W,0.00,219.6,010413,,"[..],
//!     b"GPGGA,030129.00,2638.1726,N,08011.3892,W,1,06,1.5,00016,M,-0028,M,,",
//!     b"GPGSA,A,3,08,07,11,28,17,26,,,,,,,02.6,01.5,02.1",
//! ] {
//!     assert!(asm.push(&parse(body).unwrap()).is_none());
//! }
//! let fix = asm.flush().unwrap();
//! assert_eq!(fix.mode, FixMode::Fix3D);
//! assert_eq!(fix.time.unwrap().to_string(), "2013-04-01T03:01:29Z");
//! assert_eq!(fix.satellites_used, Some(6));
//! ```

use super::sentences::{FixType, GgaQuality, GsaData, GsvData};
use super::{
    Constellation, KNOTS_TO_MPS, LatLon, NmeaDate, NmeaTime, PosMode, Sentence, SentenceData,
    Talker,
};
use crate::time::Timestamp;

/// The fix mode, numbered as gpsd's TPV `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum FixMode {
    /// 1: no fix.
    #[default]
    NoFix = 1,
    /// 2: 2D fix.
    Fix2D = 2,
    /// 3: 3D fix.
    Fix3D = 3,
}

impl FixMode {
    /// gpsd's number (1, 2, 3).
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether there is a position fix (2D or 3D).
    pub const fn has_fix(self) -> bool {
        !matches!(self, FixMode::NoFix)
    }
}

/// C/N0 summary of one constellation over one epoch's GSV sentences.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ConstellationCn0 {
    /// Satellite/signal observations reported in view.
    pub in_view: u8,
    /// Observations with a C/N0 value (tracked).
    pub tracked: u8,
    /// Sum of the C/N0 values, dB-Hz (for the mean).
    cn0_sum: u32,
    /// Highest C/N0, dB-Hz.
    pub max_cn0_dbhz: Option<u8>,
}

impl ConstellationCn0 {
    /// Mean C/N0 of the tracked observations, dB-Hz.
    pub fn mean_cn0_dbhz(&self) -> Option<f32> {
        (self.tracked > 0).then(|| self.cn0_sum as f32 / f32::from(self.tracked))
    }

    fn add(&mut self, cn0: Option<u8>) {
        self.in_view = self.in_view.saturating_add(1);
        if let Some(c) = cn0 {
            self.tracked = self.tracked.saturating_add(1);
            self.cn0_sum = self.cn0_sum.saturating_add(u32::from(c));
            self.max_cn0_dbhz = Some(self.max_cn0_dbhz.map_or(c, |m| m.max(c)));
        }
    }
}

/// Per-constellation C/N0 summary of an epoch, indexed by [`Constellation::index`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cn0Summary {
    per: [ConstellationCn0; 7],
}

impl Cn0Summary {
    /// The summary of one constellation.
    pub fn get(&self, c: Constellation) -> &ConstellationCn0 {
        const EMPTY: ConstellationCn0 = ConstellationCn0 {
            in_view: 0,
            tracked: 0,
            cn0_sum: 0,
            max_cn0_dbhz: None,
        };
        self.per.get(c.index()).unwrap_or(&EMPTY)
    }

    /// The constellations with at least one observation, with their summaries.
    pub fn iter(&self) -> impl Iterator<Item = (Constellation, &ConstellationCn0)> {
        Constellation::ALL
            .iter()
            .zip(self.per.iter())
            .filter(|(_, s)| s.in_view > 0)
            .map(|(c, s)| (*c, s))
    }

    /// Observations with a C/N0 value, over all constellations.
    pub fn tracked(&self) -> u16 {
        self.per.iter().map(|s| u16::from(s.tracked)).sum()
    }

    /// Mean C/N0 over all tracked observations, dB-Hz.
    pub fn mean_cn0_dbhz(&self) -> Option<f32> {
        let n = self.tracked();
        let sum: u32 = self.per.iter().map(|s| s.cn0_sum).sum();
        (n > 0).then(|| sum as f32 / f32::from(n))
    }

    /// Whether no GSV was seen in the epoch.
    pub fn is_empty(&self) -> bool {
        self.per.iter().all(|s| s.in_view == 0)
    }

    fn add(&mut self, c: Constellation, cn0: Option<u8>) {
        if let Some(s) = self.per.get_mut(c.index()) {
            s.add(cn0);
        }
    }
}

/// One epoch's merged navigation solution.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Fix {
    /// UTC time of the epoch, when the date is known.
    pub time: Option<Timestamp>,
    /// UTC time of day of the epoch.
    pub time_of_day: Option<NmeaTime>,
    /// Position (only reported by sentences that also said there is a fix).
    pub position: Option<LatLon>,
    /// Altitude above mean sea level, metres.
    pub alt_msl_m: Option<f32>,
    /// Speed over ground, m/s.
    pub speed_mps: Option<f32>,
    /// Track over ground, degrees true.
    pub track_deg: Option<f32>,
    /// Fix mode.
    pub mode: FixMode,
    /// The receiver flagged the solution as simulated (RMC/GLL/GNS mode S, GGA quality 8).
    pub simulated: bool,
    /// The solution is differential or RTK.
    pub differential: bool,
    /// Satellites used: from GGA/GNS, else counted from the GSAs.
    pub satellites_used: Option<u8>,
    /// Satellites used per constellation, counted from the GSAs (indexed by
    /// [`Constellation::index`]).
    pub used_per_constellation: [u8; 7],
    /// Horizontal dilution of precision.
    pub hdop: Option<f32>,
    /// Position dilution of precision.
    pub pdop: Option<f32>,
    /// Vertical dilution of precision.
    pub vdop: Option<f32>,
    /// C/N0 summary from the epoch's GSV sentences.
    pub cn0: Cn0Summary,
}

/// What one position sentence (RMC, GGA, GNS, GLL) says, in the context of its epoch:
/// the per-sentence view the `decode nmea` CLI prints.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SentenceFix {
    /// The sentence's own time of day under the carried date (`None` without a date).
    pub time: Option<Timestamp>,
    /// Position, only when the sentence reports a fix.
    pub position: Option<LatLon>,
    /// Altitude above mean sea level (GGA, GNS), only with a fix.
    pub alt_msl_m: Option<f32>,
    /// Speed over ground (RMC), m/s, only with a fix.
    pub speed_mps: Option<f32>,
    /// Track over ground (RMC), degrees true, only with a fix.
    pub track_deg: Option<f32>,
    /// Whether the sentence itself reports a fix.
    pub valid: bool,
    /// The epoch's fix mode after this sentence.
    pub mode: FixMode,
}

/// A sentence's statement about the fix mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModeClaim {
    Exact(FixMode),
    AtLeast2D,
}

/// Merges sentences into per-epoch [`Fix`]es (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct FixAssembler {
    /// The epoch being assembled.
    cur: Fix,
    /// Whether `cur` holds anything.
    open: bool,
    /// Whether the current epoch had an exact mode statement (GGA/GNS/GSA).
    exact_mode: bool,
    gsa_count: u8,
    gsa_used: u8,
    /// The last date and the time of day it was learned at.
    date: Option<(NmeaDate, NmeaTime)>,
    /// The last dimension stated by GGA/GNS/GSA (for RMC/GLL "A").
    last_dimension: FixMode,
}

impl Fix {
    /// The event model's position for this fix (quality fields included); `None` without
    /// a position or with coordinates out of range.
    pub fn event_position(&self) -> Option<crate::event::Position> {
        let ll = self.position?;
        let mut p = crate::event::Position::new(ll.lat, ll.lon, self.mode.has_fix()).ok()?;
        p.fix_time = self.time;
        p.speed_mps = self.speed_mps;
        p.track_deg = self.track_deg;
        p.alt_msl_m = self.alt_msl_m;
        p.hdop = self.hdop;
        p.satellites = self.satellites_used;
        Some(p)
    }
}

impl FixAssembler {
    /// An empty assembler.
    pub fn new() -> Self {
        FixAssembler::default()
    }

    /// The epoch assembled so far (it may still change).
    pub fn current(&self) -> &Fix {
        &self.cur
    }

    /// The last date learned from RMC or ZDA.
    pub fn date(&self) -> Option<NmeaDate> {
        self.date.map(|(d, _)| d)
    }

    /// Feeds a sentence. Returns the previous epoch's [`Fix`] when this sentence starts a
    /// new epoch.
    pub fn push(&mut self, s: &Sentence<'_>) -> Option<Fix> {
        let time = sentence_time(s);
        let done = match (time, self.cur.time_of_day) {
            (Some(t), Some(cur)) if t != cur => self.close(),
            _ => None,
        };
        if let Some(t) = time {
            self.cur.time_of_day = Some(t);
        }
        self.open = true;
        match &s.data {
            SentenceData::Rmc(d) => {
                let fix = d.has_fix();
                if let (Some(date), Some(t), true) = (d.date, d.time, fix) {
                    self.date = Some((date, t));
                }
                self.claim(if fix {
                    ModeClaim::AtLeast2D
                } else {
                    ModeClaim::Exact(FixMode::NoFix)
                });
                self.note_pos_mode(d.mode);
                if fix {
                    set(&mut self.cur.position, d.position);
                    set(
                        &mut self.cur.speed_mps,
                        d.speed_knots.map(|k| k * KNOTS_TO_MPS),
                    );
                    set(&mut self.cur.track_deg, d.track_deg);
                }
            }
            SentenceData::Gga(d) => {
                if let Some(q) = d.quality {
                    self.cur.simulated |= q == GgaQuality::Simulation;
                    self.cur.differential |= matches!(
                        q,
                        GgaQuality::Dgps | GgaQuality::RtkFixed | GgaQuality::RtkFloat
                    );
                }
                self.fix_data(d.has_fix(), d.position, d.alt_msl_m, d.satellites, d.hdop);
            }
            SentenceData::Gns(d) => {
                self.note_pos_mode(d.modes.best());
                self.cur.simulated |= d.modes.is_simulated();
                self.fix_data(d.has_fix(), d.position, d.alt_msl_m, d.satellites, d.hdop);
            }
            SentenceData::Gll(d) => {
                let fix = d.has_fix();
                self.claim(if fix {
                    ModeClaim::AtLeast2D
                } else {
                    ModeClaim::Exact(FixMode::NoFix)
                });
                self.note_pos_mode(d.mode);
                if fix {
                    set(&mut self.cur.position, d.position);
                }
            }
            SentenceData::Vtg(d) => {
                if d.mode.is_none_or(|m| m.has_fix()) {
                    set(&mut self.cur.speed_mps, d.speed_mps());
                    set(&mut self.cur.track_deg, d.track_true_deg);
                }
                self.note_pos_mode(d.mode);
            }
            SentenceData::Gsa(d) => self.gsa(s.talker, d),
            SentenceData::Gsv(d) => self.gsv(s.talker, d),
            SentenceData::Zda(d) => {
                if let (Some(date), Some(t)) = (d.date, d.time) {
                    self.date = Some((date, t));
                }
            }
            _ => {}
        }
        self.stamp();
        done
    }

    /// The per-sentence view of a position sentence (RMC, GGA, GNS, GLL) already pushed;
    /// `None` for other sentence types.
    pub fn sentence_fix(&self, s: &Sentence<'_>) -> Option<SentenceFix> {
        let mut v = SentenceFix::default();
        let (time, position) = match &s.data {
            SentenceData::Rmc(d) => {
                v.valid = d.has_fix();
                if v.valid {
                    v.speed_mps = d.speed_knots.map(|k| k * KNOTS_TO_MPS);
                    v.track_deg = d.track_deg;
                }
                (d.time, d.position)
            }
            SentenceData::Gga(d) => {
                v.valid = d.has_fix();
                v.alt_msl_m = d.alt_msl_m;
                (d.time, d.position)
            }
            SentenceData::Gns(d) => {
                v.valid = d.has_fix();
                v.alt_msl_m = d.alt_msl_m;
                (d.time, d.position)
            }
            SentenceData::Gll(d) => {
                v.valid = d.has_fix();
                (d.time, d.position)
            }
            _ => return None,
        };
        v.time = time.and_then(|t| self.timestamp(&t));
        v.position = position.filter(|_| v.valid);
        v.alt_msl_m = v.alt_msl_m.filter(|_| v.valid);
        v.mode = self.cur.mode;
        Some(v)
    }

    /// Closes the current epoch, if it holds anything, and returns it.
    pub fn flush(&mut self) -> Option<Fix> {
        self.close()
    }

    fn close(&mut self) -> Option<Fix> {
        if !self.open {
            return None;
        }
        let mut fix = core::mem::take(&mut self.cur);
        if fix.satellites_used.is_none() && self.gsa_count > 0 {
            fix.satellites_used = Some(self.gsa_used);
        }
        self.open = false;
        self.exact_mode = false;
        self.gsa_count = 0;
        self.gsa_used = 0;
        Some(fix)
    }

    /// The part GGA and GNS have in common.
    fn fix_data(
        &mut self,
        fix: bool,
        position: Option<LatLon>,
        alt_msl_m: Option<f32>,
        satellites: Option<u8>,
        hdop: Option<f32>,
    ) {
        self.claim(ModeClaim::Exact(dimension(fix, alt_msl_m.is_some())));
        if fix {
            set(&mut self.cur.position, position);
            set(&mut self.cur.alt_msl_m, alt_msl_m);
        }
        set(&mut self.cur.satellites_used, satellites);
        set(&mut self.cur.hdop, hdop);
    }

    fn claim(&mut self, claim: ModeClaim) {
        match claim {
            ModeClaim::Exact(m) => {
                // Within an epoch the best exact statement wins: receivers that send one
                // GSA per constellation may send "1" for a constellation without a fix.
                if !self.exact_mode || m > self.cur.mode {
                    self.cur.mode = m;
                }
                self.exact_mode = true;
                if m.has_fix() {
                    self.last_dimension = m;
                }
            }
            ModeClaim::AtLeast2D => {
                if !self.exact_mode || !self.cur.mode.has_fix() {
                    self.cur.mode = self.last_dimension.max(FixMode::Fix2D);
                }
            }
        }
    }

    fn note_pos_mode(&mut self, mode: Option<PosMode>) {
        match mode {
            Some(PosMode::Simulator) => self.cur.simulated = true,
            Some(PosMode::Differential | PosMode::RtkFixed | PosMode::RtkFloat) => {
                self.cur.differential = true;
            }
            _ => {}
        }
    }

    fn gsa(&mut self, talker: Talker, d: &GsaData) {
        self.gsa_count = self.gsa_count.saturating_add(1);
        let used = u8::try_from(d.prns().len()).unwrap_or(u8::MAX);
        self.gsa_used = self.gsa_used.saturating_add(used);
        for &prn in d.prns() {
            let c = d
                .constellation()
                .or(talker.constellation())
                .unwrap_or_else(|| constellation_of_prn(prn));
            if let Some(n) = self.cur.used_per_constellation.get_mut(c.index()) {
                *n = n.saturating_add(1);
            }
        }
        let mode = match d.fix_type {
            Some(FixType::Fix3D) => FixMode::Fix3D,
            Some(FixType::Fix2D) => FixMode::Fix2D,
            Some(FixType::NoFix) | None => FixMode::NoFix,
        };
        if d.fix_type.is_some() {
            self.claim(ModeClaim::Exact(mode));
        }
        set(&mut self.cur.pdop, d.pdop);
        set(&mut self.cur.hdop, d.hdop);
        set(&mut self.cur.vdop, d.vdop);
    }

    fn gsv(&mut self, talker: Talker, d: &GsvData) {
        for sat in d.satellites() {
            let c = talker
                .constellation()
                .map(|c| {
                    // GPS talkers report SBAS satellites as PRN 33–64.
                    if c == Constellation::Gps && (33..=64).contains(&sat.prn) {
                        Constellation::Sbas
                    } else {
                        c
                    }
                })
                .unwrap_or_else(|| constellation_of_prn(sat.prn));
            self.cur.cn0.add(c, sat.cn0_dbhz);
        }
    }

    /// Recomputes the epoch's full timestamp from its time of day and the carried date.
    fn stamp(&mut self) {
        self.cur.time = self.cur.time_of_day.and_then(|t| self.timestamp(&t));
    }

    /// The UTC timestamp of a time of day under the carried date (rolling over midnight),
    /// or `None` while no date is known.
    pub fn timestamp(&self, t: &NmeaTime) -> Option<Timestamp> {
        const DAY_US: i64 = 86_400_000_000;
        let (date, at) = self.date?;
        let base = date.at(t)?;
        let diff = t.micros_of_day() - at.micros_of_day();
        Some(if diff < -DAY_US / 2 {
            base + crate::time::Duration::from_micros(DAY_US)
        } else if diff > DAY_US / 2 {
            base - crate::time::Duration::from_micros(DAY_US)
        } else {
            base
        })
    }
}

/// The fix mode GGA and GNS imply.
fn dimension(fix: bool, has_alt: bool) -> FixMode {
    if !fix {
        FixMode::NoFix
    } else if has_alt {
        FixMode::Fix3D
    } else {
        FixMode::Fix2D
    }
}

fn set<T>(slot: &mut Option<T>, v: Option<T>) {
    if v.is_some() {
        *slot = v;
    }
}

/// The UTC time of day a sentence carries, if any.
pub fn sentence_time(s: &Sentence<'_>) -> Option<NmeaTime> {
    match &s.data {
        SentenceData::Rmc(d) => d.time,
        SentenceData::Gga(d) => d.time,
        SentenceData::Gns(d) => d.time,
        SentenceData::Gll(d) => d.time,
        SentenceData::Zda(d) => d.time,
        SentenceData::Gst(d) => d.time,
        _ => None,
    }
}

/// The constellation of an NMEA satellite id when the talker does not say (GN talker):
/// 1–32 GPS, 33–64 SBAS, 65–96 GLONASS, 193–202 QZSS, 201–264 BeiDou (u-blox numbering),
/// 301–336 Galileo; anything else is counted as GPS.
pub fn constellation_of_prn(prn: u16) -> Constellation {
    match prn {
        33..=64 | 120..=158 => Constellation::Sbas,
        65..=96 => Constellation::Glonass,
        193..=200 => Constellation::Qzss,
        201..=264 | 401..=437 => Constellation::Beidou,
        301..=336 => Constellation::Galileo,
        _ => Constellation::Gps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmea::parse;

    fn run(asm: &mut FixAssembler, bodies: &[&str]) -> std::vec::Vec<Fix> {
        let mut out = std::vec::Vec::new();
        for b in bodies {
            let s = parse(b.as_bytes()).unwrap();
            out.extend(asm.push(&s));
        }
        out
    }

    #[test]
    fn test_epochs_close_on_new_time() {
        let mut asm = FixAssembler::new();
        let fixes = run(
            &mut asm,
            &[
                "GPGGA,030129.00,2638.1726,N,08011.3892,W,1,06,1.5,00016,M,-0028,M,,",
                "GPRMC,030129.0,A,2638.1726,N,08011.3892,W,0.00,219.6,010413,,",
                "GPGGA,030130.00,2638.1727,N,08011.3892,W,1,06,1.5,00016,M,-0028,M,,",
            ],
        );
        assert_eq!(fixes.len(), 1);
        assert_eq!(fixes[0].time.unwrap().to_string(), "2013-04-01T03:01:29Z");
        assert_eq!(fixes[0].mode, FixMode::Fix3D);
        assert_eq!(fixes[0].speed_mps, Some(0.0));
        // The date is carried to the next epoch's GGA.
        assert_eq!(
            asm.current().time.unwrap().to_string(),
            "2013-04-01T03:01:30Z"
        );
    }

    #[test]
    fn test_date_rolls_over_midnight() {
        let mut asm = FixAssembler::new();
        run(
            &mut asm,
            &[
                "GPRMC,235959.5,A,2638.1726,N,08011.3892,W,0.00,219.6,311213,,",
                "GPGGA,000000.5,2638.1726,N,08011.3892,W,1,06,1.5,00016,M,-0028,M,,",
            ],
        );
        assert_eq!(
            asm.current().time.unwrap().to_string(),
            "2014-01-01T00:00:00.500Z"
        );
    }

    #[test]
    fn test_multiple_gsa_are_merged() {
        // ublox-zed-f9p-nmea.log: one GNGSA per constellation.
        let mut asm = FixAssembler::new();
        run(
            &mut asm,
            &[
                "GNGGA,002031.00,4404.13990,N,12118.86024,W,1,12,0.64,1095.2,M,-21.5,M,,",
                "GNGSA,A,3,13,16,21,15,10,29,27,20,,,,,1.05,0.64,0.83,1",
                "GNGSA,A,3,82,66,81,,,,,,,,,,1.05,0.64,0.83,2",
                "GNGSA,A,1,,,,,,,,,,,,,1.05,0.64,0.83,3",
            ],
        );
        let fix = asm.flush().unwrap();
        assert_eq!(
            fix.mode,
            FixMode::Fix3D,
            "a no-fix GSA for one system does not win"
        );
        assert_eq!(fix.used_per_constellation[Constellation::Gps.index()], 8);
        assert_eq!(
            fix.used_per_constellation[Constellation::Glonass.index()],
            3
        );
        assert_eq!(
            fix.satellites_used,
            Some(12),
            "GGA's count wins over the GSA sum"
        );
    }

    #[test]
    fn test_gsv_cn0_summary() {
        let mut asm = FixAssembler::new();
        run(
            &mut asm,
            &[
                "GPGSV,2,1,05,08,75,303,44,07,66,172,50,35,51,055,36,28,39,325,",
                "GPGSV,2,2,05,17,31,254,30",
                "GLGSV,1,1,01,65,10,100,20",
            ],
        );
        let fix = asm.flush().unwrap();
        let gps = fix.cn0.get(Constellation::Gps);
        assert_eq!((gps.in_view, gps.tracked), (4, 3));
        assert_eq!(gps.mean_cn0_dbhz(), Some(124.0 / 3.0));
        assert_eq!(gps.max_cn0_dbhz, Some(50));
        assert_eq!(fix.cn0.get(Constellation::Sbas).tracked, 1);
        assert_eq!(
            fix.cn0.get(Constellation::Glonass).mean_cn0_dbhz(),
            Some(20.0)
        );
        assert_eq!(fix.cn0.mean_cn0_dbhz(), Some(180.0 / 5.0));
        assert_eq!(fix.cn0.iter().count(), 3);
    }

    #[test]
    fn test_no_fix_and_simulator() {
        let mut asm = FixAssembler::new();
        run(
            &mut asm,
            &[
                "GPRMC,081434.590,V,5212.978993,N,00653.097906,E,0.052,0.00,230808,,,N",
                "GPGGA,081434.590,5212.978993,N,00653.097906,E,0,3,,102.907,M,47.093,M,,",
            ],
        );
        let fix = asm.flush().unwrap();
        assert_eq!(fix.mode, FixMode::NoFix);
        assert_eq!(fix.position, None, "no position without a fix");
        run(
            &mut asm,
            &["GPRMC,120000,A,5212.978993,N,00653.097906,E,0.0,0.0,230808,,,S"],
        );
        let fix = asm.flush().unwrap();
        assert!(fix.simulated);
        assert_eq!(fix.mode, FixMode::Fix2D);
        assert!(asm.flush().is_none());
    }

    #[test]
    fn test_rmc_keeps_last_dimension() {
        let mut asm = FixAssembler::new();
        run(
            &mut asm,
            &[
                "GPGGA,030129.00,2638.1726,N,08011.3892,W,1,06,1.5,00016,M,-0028,M,,",
                "GPRMC,030130.0,A,2638.1726,N,08011.3892,W,0.00,219.6,010413,,",
            ],
        );
        assert_eq!(asm.current().mode, FixMode::Fix3D);
        // No altitude: 2D.
        run(
            &mut asm,
            &["GPGGA,030131.00,2638.1726,N,08011.3892,W,1,03,1.5,,M,-0028,M,,"],
        );
        assert_eq!(asm.current().mode, FixMode::Fix2D);
    }
}
