//! NMEA 0183 decoding: framing, per-sentence decoders, epoch assembly and GPS integrity.
//!
//! The pipeline is `bytes → `[`framer::Framer`]` → `[`Frame`](framer::Frame)` → `[`parse`]` →
//! `[`Sentence`]` → `[`fix::FixAssembler`]` → `[`fix::Fix`]` → `[`integrity::IntegrityMonitor`].
//! Every stage is borrowed, bounded and heap-free; nothing here panics on any input.
//!
//! [`parse`] takes the checksummed body of a framed sentence (between `$` and `*`) and
//! decodes RMC, GGA, GNS, GLL, VTG, GSA, GSV, ZDA, GST and TXT from any talker. Other
//! standard sentences (GBS, RMB, …) and proprietary `$P…` sentences are recognised and
//! returned undecoded ([`SentenceData::Other`], [`SentenceData::Proprietary`]): they are valid
//! input, not errors.
//!
//! ```
//! use ects_firmware::nmea::{parse, SentenceData, Talker};
//! let s = parse(b"GPGGA,030129.00,2638.1726,N,08011.3892,W,1,06,1.5,00016,M,-0028,M,,").unwrap();
//! assert_eq!(s.talker, Talker::Gp);
//! let SentenceData::Gga(gga) = s.data else { panic!() };
//! assert_eq!(gga.satellites, Some(6));
//! assert!((gga.position.unwrap().lat - 26.63621).abs() < 1e-9);
//! ```

use core::fmt;

pub(crate) mod field;
pub mod fix;
pub mod framer;
pub mod integrity;
pub mod sentences;

pub use sentences::{
    GgaData, GllData, GnsData, GsaData, GstData, GsvData, RmcData, TxtData, VtgData, ZdaData,
};

use crate::time::Timestamp;
use field::Fields;

/// Knots to metres per second (1 knot = 1852 m / 3600 s).
pub const KNOTS_TO_MPS: f32 = 1852.0 / 3600.0;

/// A UTC time of day from a sentence. `second` may be 60 during a leap second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NmeaTime {
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–60.
    pub second: u8,
    /// Fraction of the second, 0–999 999 µs.
    pub micros: u32,
}

impl NmeaTime {
    /// Microseconds since midnight (a leap second counts as second 60).
    pub fn micros_of_day(&self) -> i64 {
        ((i64::from(self.hour) * 60 + i64::from(self.minute)) * 60 + i64::from(self.second))
            * 1_000_000
            + i64::from(self.micros)
    }
}

/// A calendar date from RMC or ZDA. Always a valid Gregorian date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NmeaDate {
    year: u16,
    month: u8,
    day: u8,
}

impl NmeaDate {
    /// A date, or `None` when it does not exist (year must be 1980–9999).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        let ok = (1980..=9999).contains(&year)
            && day >= 1
            && day <= crate::time::days_in_month(i32::from(year), month);
        ok.then_some(NmeaDate { year, month, day })
    }

    /// The year.
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The month, 1–12.
    pub fn month(&self) -> u8 {
        self.month
    }

    /// The day of the month, 1–31.
    pub fn day(&self) -> u8 {
        self.day
    }

    /// Combines the date with a time of day. A leap second (second 60) is folded onto
    /// second 59 with the fraction kept (as POSIX time would); returns `None` only if the
    /// date is outside what [`Timestamp`] can represent.
    pub fn at(&self, t: &NmeaTime) -> Option<Timestamp> {
        Timestamp::from_civil(
            i32::from(self.year),
            self.month,
            self.day,
            t.hour,
            t.minute,
            t.second.min(59),
            t.micros,
        )
        .ok()
    }
}

/// A position in WGS 84 degrees (north and east positive).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatLon {
    /// Latitude, −90 to 90.
    pub lat: f64,
    /// Longitude, −180 to 180.
    pub lon: f64,
}

/// GNSS constellations, numbered as gpsd's `gnssid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Constellation {
    /// GPS (USA), also SBAS PRNs reported under GP.
    Gps,
    /// SBAS augmentation satellites.
    Sbas,
    /// Galileo (EU).
    Galileo,
    /// BeiDou (China).
    Beidou,
    /// QZSS (Japan).
    Qzss,
    /// GLONASS (Russia).
    Glonass,
    /// NavIC / IRNSS (India).
    Navic,
}

impl Constellation {
    /// All constellations, in `gnssid` order.
    pub const ALL: [Constellation; 7] = [
        Constellation::Gps,
        Constellation::Sbas,
        Constellation::Galileo,
        Constellation::Beidou,
        Constellation::Qzss,
        Constellation::Glonass,
        Constellation::Navic,
    ];

    /// Short lower-case name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Constellation::Gps => "gps",
            Constellation::Sbas => "sbas",
            Constellation::Galileo => "galileo",
            Constellation::Beidou => "beidou",
            Constellation::Qzss => "qzss",
            Constellation::Glonass => "glonass",
            Constellation::Navic => "navic",
        }
    }

    /// Index into [`Constellation::ALL`].
    pub const fn index(&self) -> usize {
        match self {
            Constellation::Gps => 0,
            Constellation::Sbas => 1,
            Constellation::Galileo => 2,
            Constellation::Beidou => 3,
            Constellation::Qzss => 4,
            Constellation::Glonass => 5,
            Constellation::Navic => 6,
        }
    }

    /// The constellation of an NMEA 4.10 GNSS System ID (GSA field 18, GSV signal context).
    pub const fn from_system_id(id: u8) -> Option<Constellation> {
        match id {
            1 => Some(Constellation::Gps),
            2 => Some(Constellation::Glonass),
            3 => Some(Constellation::Galileo),
            4 => Some(Constellation::Beidou),
            5 => Some(Constellation::Qzss),
            6 => Some(Constellation::Navic),
            _ => None,
        }
    }
}

/// The talker: who sent the sentence (the first two letters of the address field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Talker {
    /// `GP`: GPS.
    Gp,
    /// `GL`: GLONASS.
    Gl,
    /// `GA`: Galileo.
    Ga,
    /// `GB`: BeiDou (NMEA 4.10 name).
    Gb,
    /// `BD`: BeiDou (pre-4.10 Chinese name).
    Bd,
    /// `GQ`: QZSS (NMEA 4.11 name).
    Gq,
    /// `QZ`: QZSS (vendor name).
    Qz,
    /// `GI`: NavIC.
    Gi,
    /// `GN`: combined GNSS solution.
    Gn,
    /// Any other two upper-case letters or digits (e.g. `SN`, `GY` from Unicore).
    Other([u8; 2]),
    /// A proprietary sentence (`$P…`): no talker.
    Proprietary,
}

impl Talker {
    fn from_bytes(a: u8, b: u8) -> Option<Talker> {
        Some(match [a, b] {
            [b'G', b'P'] => Talker::Gp,
            [b'G', b'L'] => Talker::Gl,
            [b'G', b'A'] => Talker::Ga,
            [b'G', b'B'] => Talker::Gb,
            [b'B', b'D'] => Talker::Bd,
            [b'G', b'Q'] => Talker::Gq,
            [b'Q', b'Z'] => Talker::Qz,
            [b'G', b'I'] => Talker::Gi,
            [b'G', b'N'] => Talker::Gn,
            [a, b] if is_address_byte(a) && is_address_byte(b) => Talker::Other([a, b]),
            _ => return None,
        })
    }

    /// The talker as text (`"GP"`, …; `"P"` for proprietary).
    pub fn as_str(&self) -> &str {
        match self {
            Talker::Gp => "GP",
            Talker::Gl => "GL",
            Talker::Ga => "GA",
            Talker::Gb => "GB",
            Talker::Bd => "BD",
            Talker::Gq => "GQ",
            Talker::Qz => "QZ",
            Talker::Gi => "GI",
            Talker::Gn => "GN",
            Talker::Other(b) => core::str::from_utf8(b).unwrap_or("??"),
            Talker::Proprietary => "P",
        }
    }

    /// The single constellation this talker speaks for (`None` for GN and non-GNSS talkers).
    pub const fn constellation(&self) -> Option<Constellation> {
        match self {
            Talker::Gp => Some(Constellation::Gps),
            Talker::Gl => Some(Constellation::Glonass),
            Talker::Ga => Some(Constellation::Galileo),
            Talker::Gb | Talker::Bd => Some(Constellation::Beidou),
            Talker::Gq | Talker::Qz => Some(Constellation::Qzss),
            Talker::Gi => Some(Constellation::Navic),
            _ => None,
        }
    }
}

fn ascii(b: &[u8]) -> Result<&str, ParseError> {
    core::str::from_utf8(b).map_err(|_| ParseError::Address)
}

fn is_address_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

/// The positioning-mode indicator of RMC, GLL, VTG and (one per constellation) GNS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PosMode {
    /// `A`: autonomous GNSS fix.
    Autonomous,
    /// `D`: differential (DGPS/SBAS).
    Differential,
    /// `E`: estimated (dead reckoning).
    Estimated,
    /// `F`: RTK float.
    RtkFloat,
    /// `M`: manual input.
    Manual,
    /// `N`: no fix (data not valid).
    NoFix,
    /// `P`: precise (military/PPS).
    Precise,
    /// `R`: RTK fixed integer.
    RtkFixed,
    /// `S`: simulator. A fix in simulator mode is not a real position.
    Simulator,
}

impl PosMode {
    /// Decodes a mode letter.
    pub const fn from_byte(b: u8) -> Option<PosMode> {
        Some(match b {
            b'A' => PosMode::Autonomous,
            b'D' => PosMode::Differential,
            b'E' => PosMode::Estimated,
            b'F' => PosMode::RtkFloat,
            b'M' => PosMode::Manual,
            b'N' => PosMode::NoFix,
            b'P' => PosMode::Precise,
            b'R' => PosMode::RtkFixed,
            b'S' => PosMode::Simulator,
            _ => return None,
        })
    }

    /// Whether the mode carries a usable position (not `N`; `E`, `M` and `S` are positions
    /// but not measured ones, see [`PosMode::is_measured`]).
    pub const fn has_fix(&self) -> bool {
        !matches!(self, PosMode::NoFix)
    }

    /// Whether the position was measured from satellites (`A`, `D`, `F`, `P`, `R`).
    pub const fn is_measured(&self) -> bool {
        matches!(
            self,
            PosMode::Autonomous
                | PosMode::Differential
                | PosMode::RtkFloat
                | PosMode::Precise
                | PosMode::RtkFixed
        )
    }
}

/// Which standard sentence failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SentenceType {
    /// Recommended minimum data.
    Rmc,
    /// Fix data.
    Gga,
    /// GNSS fix data.
    Gns,
    /// Geographic position.
    Gll,
    /// Track and speed over ground.
    Vtg,
    /// DOP and active satellites.
    Gsa,
    /// Satellites in view.
    Gsv,
    /// Time and date.
    Zda,
    /// Pseudorange error statistics.
    Gst,
    /// Text.
    Txt,
}

impl SentenceType {
    /// The three-letter sentence identifier.
    pub const fn as_str(&self) -> &'static str {
        match self {
            SentenceType::Rmc => "RMC",
            SentenceType::Gga => "GGA",
            SentenceType::Gns => "GNS",
            SentenceType::Gll => "GLL",
            SentenceType::Vtg => "VTG",
            SentenceType::Gsa => "GSA",
            SentenceType::Gsv => "GSV",
            SentenceType::Zda => "ZDA",
            SentenceType::Gst => "GST",
            SentenceType::Txt => "TXT",
        }
    }
}

/// Why a framed sentence could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// The address field is neither `TTSSS…` (talker + type) nor `P…`.
    Address,
    /// Field `field` (1-based, after the address) of a `sentence` is malformed.
    Field {
        /// The sentence type.
        sentence: SentenceType,
        /// 1-based field number after the address field.
        field: u8,
    },
    /// The sentence has the wrong number of fields (`found`).
    FieldCount {
        /// The sentence type.
        sentence: SentenceType,
        /// The number of fields after the address field.
        found: u8,
    },
}

impl ParseError {
    /// A short, stable, machine-readable name (used in CLI counters).
    pub const fn as_str(&self) -> &'static str {
        match self {
            ParseError::Address => "bad_address",
            ParseError::Field { .. } => "bad_field",
            ParseError::FieldCount { .. } => "bad_field_count",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Address => f.write_str("address field is not a talker and sentence type"),
            ParseError::Field { sentence, field } => {
                write!(f, "{} field {field} is malformed", sentence.as_str())
            }
            ParseError::FieldCount { sentence, found } => {
                write!(
                    f,
                    "{} has the wrong number of fields ({found})",
                    sentence.as_str()
                )
            }
        }
    }
}

impl core::error::Error for ParseError {}

/// A decoded sentence: who sent it, its type and its data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sentence<'a> {
    /// The talker.
    pub talker: Talker,
    /// The sentence type as written (`"RMC"`; for proprietary sentences everything after
    /// the `P`, e.g. `"GRME"`).
    pub kind: &'a str,
    /// The decoded fields.
    pub data: SentenceData<'a>,
}

/// The decoded fields of a sentence.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SentenceData<'a> {
    /// RMC.
    Rmc(RmcData),
    /// GGA.
    Gga(GgaData),
    /// GNS.
    Gns(GnsData),
    /// GLL.
    Gll(GllData),
    /// VTG.
    Vtg(VtgData),
    /// GSA.
    Gsa(GsaData),
    /// GSV.
    Gsv(GsvData),
    /// ZDA.
    Zda(ZdaData),
    /// GST.
    Gst(GstData),
    /// TXT.
    Txt(TxtData<'a>),
    /// A proprietary sentence; `fields` is everything after the first comma (may be empty).
    Proprietary {
        /// The fields, undecoded.
        fields: &'a str,
    },
    /// A standard sentence type this crate does not decode (GBS, RMB, …).
    Other {
        /// The fields, undecoded.
        fields: &'a str,
    },
}

/// Decodes the body of a framed sentence (the bytes between `$` and `*`, as returned by
/// [`framer::Frame::body`]).
///
/// # Errors
/// [`ParseError::Address`] for a malformed address field; [`ParseError::Field`] or
/// [`ParseError::FieldCount`] when a decoded sentence type has malformed fields.
pub fn parse(body: &[u8]) -> Result<Sentence<'_>, ParseError> {
    // The usual address, two talker letters and a decoded three-letter type: dispatched
    // without scanning for the comma or checking the letters one by one.
    if let Some((&[a, b, k0, k1, k2, b','], fields)) = body.split_first_chunk::<6>()
        && a != b'P'
        && let Some(talker) = Talker::from_bytes(a, b)
        && let Some(r) = decode(talker, [k0, k1, k2], Some(fields))
    {
        return r;
    }
    let (address, fields) = match body.iter().position(|&b| b == b',') {
        Some(i) => (body.get(..i).unwrap_or(&[]), body.get(i + 1..)),
        None => (body, None),
    };
    let fields_str = || match fields {
        Some(f) => core::str::from_utf8(f).map_err(|_| ParseError::Address),
        None => Ok(""),
    };
    if let [b'P', rest @ ..] = address {
        if rest.is_empty() || !rest.iter().all(|&b| is_address_byte(b)) {
            return Err(ParseError::Address);
        }
        return Ok(Sentence {
            talker: Talker::Proprietary,
            kind: ascii(rest)?,
            data: SentenceData::Proprietary {
                fields: fields_str()?,
            },
        });
    }
    let (Some(&a), Some(&b), Some(kind)) = (address.first(), address.get(1), address.get(2..))
    else {
        return Err(ParseError::Address);
    };
    let talker = Talker::from_bytes(a, b).ok_or(ParseError::Address)?;
    if kind.is_empty() || kind.len() > 6 || !kind.iter().all(|&b| is_address_byte(b)) {
        return Err(ParseError::Address);
    }
    if let Ok(known) = <[u8; 3]>::try_from(kind)
        && let Some(r) = decode(talker, known, fields)
    {
        return r;
    }
    Ok(Sentence {
        talker,
        kind: ascii(kind)?,
        data: SentenceData::Other {
            fields: fields_str()?,
        },
    })
}

/// Decodes the fields of a sentence type this crate decodes; `None` for other types.
/// A decoded type's name is returned as a constant (no UTF-8 check of the address).
#[inline(always)]
fn decode<'a>(
    talker: Talker,
    kind: [u8; 3],
    fields: Option<&'a [u8]>,
) -> Option<Result<Sentence<'a>, ParseError>> {
    let mut f = Fields::new(fields);
    // The fast paths build the sentence in place; anything they do not take goes to the
    // general decoder, which gives the exact error.
    let done =
        |kind: &'static str, data: SentenceData<'a>| Some(Ok(Sentence { talker, kind, data }));
    // Matching a 3-byte array compiles to integer compares.
    let (kind, data) = match kind {
        [b'G', b'S', b'V'] => {
            if let Some(d) = GsvData::parse_fast(fields) {
                return done("GSV", SentenceData::Gsv(d));
            }
            ("GSV", GsvData::parse(&mut f).map(SentenceData::Gsv))
        }
        [b'G', b'S', b'A'] => {
            if let Some(d) = GsaData::parse_fast(fields) {
                return done("GSA", SentenceData::Gsa(d));
            }
            ("GSA", GsaData::parse(&mut f).map(SentenceData::Gsa))
        }
        [b'G', b'G', b'A'] => ("GGA", GgaData::parse(&mut f).map(SentenceData::Gga)),
        [b'R', b'M', b'C'] => ("RMC", RmcData::parse(&mut f).map(SentenceData::Rmc)),
        [b'V', b'T', b'G'] => ("VTG", VtgData::parse(&mut f).map(SentenceData::Vtg)),
        [b'G', b'L', b'L'] => ("GLL", GllData::parse(&mut f).map(SentenceData::Gll)),
        [b'Z', b'D', b'A'] => ("ZDA", ZdaData::parse(&mut f).map(SentenceData::Zda)),
        [b'G', b'S', b'T'] => ("GST", GstData::parse(&mut f).map(SentenceData::Gst)),
        [b'G', b'N', b'S'] => ("GNS", GnsData::parse(&mut f).map(SentenceData::Gns)),
        [b'T', b'X', b'T'] => ("TXT", TxtData::parse(&mut f).map(SentenceData::Txt)),
        _ => return None,
    };
    Some(data.map(|data| Sentence { talker, kind, data }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_every_talker_is_decoded() {
        for (t, talker) in [
            ("GP", Talker::Gp),
            ("GN", Talker::Gn),
            ("GL", Talker::Gl),
            ("GA", Talker::Ga),
            ("GB", Talker::Gb),
            ("BD", Talker::Bd),
            ("GQ", Talker::Gq),
            ("QZ", Talker::Qz),
            ("GI", Talker::Gi),
        ] {
            let body = std::format!("{t}ZDA,201530.00,04,07,2002,00,00");
            let s = parse(body.as_bytes()).unwrap();
            assert_eq!(s.talker, talker);
            assert_eq!(s.talker.as_str(), t);
            assert_eq!(s.kind, "ZDA");
            assert!(matches!(s.data, SentenceData::Zda(_)));
        }
        let s = parse(b"SNRSTAT,1,2").unwrap();
        assert_eq!(s.talker.as_str(), "SN");
        assert_eq!(s.kind, "RSTAT");
        assert_eq!(s.data, SentenceData::Other { fields: "1,2" });
    }

    #[test]
    fn test_proprietary_and_other() {
        let s = parse(b"PGRME,15.0,M,45.0,M,25.0,M").unwrap();
        assert_eq!(s.talker, Talker::Proprietary);
        assert_eq!(s.kind, "GRME");
        assert_eq!(
            s.data,
            SentenceData::Proprietary {
                fields: "15.0,M,45.0,M,25.0,M"
            }
        );
        let s = parse(b"PMTK011").unwrap();
        assert_eq!(s.kind, "MTK011");
        assert_eq!(s.data, SentenceData::Proprietary { fields: "" });
        let s = parse(b"GNGBS,235503.00,1.6,1.4,3.2,,,,").unwrap();
        assert_eq!(s.kind, "GBS");
    }

    #[test]
    fn test_bad_addresses() {
        for bad in [
            &b""[..],
            b"G",
            b"GP",
            b"gpRMC,1",
            b"GPRMC-,1",
            b"P",
            b"P,1",
            b"GPTOOLONG,1",
        ] {
            assert_eq!(parse(bad), Err(ParseError::Address), "{bad:?}");
        }
    }

    #[test]
    fn test_date_at_folds_leap_second() {
        let d = NmeaDate::new(2016, 12, 31).unwrap();
        let t = NmeaTime {
            hour: 23,
            minute: 59,
            second: 60,
            micros: 500_000,
        };
        assert_eq!(
            d.at(&t).map(|t| t.to_string()),
            Some("2016-12-31T23:59:59.500Z".into())
        );
        assert_eq!(NmeaDate::new(2015, 2, 29), None);
        assert_eq!(NmeaDate::new(1979, 1, 1), None);
    }
}
