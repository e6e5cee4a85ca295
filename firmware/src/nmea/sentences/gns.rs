//! GNS: GNSS fix data (multi-constellation GGA).

use super::Reader;
use crate::nmea::field::{self, Fields};
use crate::nmea::{LatLon, NmeaTime, ParseError, PosMode, SentenceType};

/// The per-constellation mode string of GNS (`c--c`): one [`PosMode`] letter each for GPS,
/// GLONASS, Galileo, BeiDou, QZSS, NavIC (as many as the receiver writes, at most 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GnsModes {
    modes: [u8; 8],
    len: u8,
}

impl GnsModes {
    fn parse(f: &[u8]) -> Result<Self, field::Bad> {
        let mut out = GnsModes::default();
        if f.len() > out.modes.len() {
            return Err(field::Bad);
        }
        for (slot, &b) in out.modes.iter_mut().zip(f) {
            PosMode::from_byte(b).ok_or(field::Bad)?;
            *slot = b;
        }
        out.len = f.len() as u8; // at most 8, checked above
        Ok(out)
    }

    /// The modes in order (GPS, GLONASS, Galileo, BeiDou, QZSS, NavIC, …).
    pub fn iter(&self) -> impl Iterator<Item = PosMode> + '_ {
        self.modes
            .iter()
            .take(usize::from(self.len))
            .filter_map(|&b| PosMode::from_byte(b))
    }

    /// Whether any constellation has a fix (any letter other than N).
    pub fn has_fix(&self) -> bool {
        self.iter().any(|m| m.has_fix())
    }

    /// Whether any constellation reports simulator mode (S).
    pub fn is_simulated(&self) -> bool {
        self.iter().any(|m| m == PosMode::Simulator)
    }

    /// The "best" mode: the first mode with a fix, else `NoFix` (or `None` when empty).
    pub fn best(&self) -> Option<PosMode> {
        self.iter()
            .find(|m| m.has_fix())
            .or_else(|| self.iter().next())
    }
}

/// GNS - GNSS Fix Data
/// (<https://gpsd.gitlab.io/gpsd/NMEA.html#_gns_fix_data>).
///
/// ```text
///         1         2       3 4        5 6    7  8   9   10  11  12   13
///         |         |       | |        | |    |  |   |   |   |   |    |
///  $--GNS,hhmmss.ss,ddmm.mm,a,dddmm.mm,a,c--c,xx,x.x,x.x,x.x,x.x,xxxx,a*hh<CR><LF>
/// ```
/// 1 UTC time, 2–5 position, 6 mode per constellation, 7 satellites used, 8 HDOP,
/// 9 altitude above mean sea level (m), 10 geoid separation (m), 11 age of differential
/// data (s), 12 differential station id, 13 navigational status (NMEA 4.1+, ignored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GnsData {
    /// UTC time.
    pub time: Option<NmeaTime>,
    /// Position.
    pub position: Option<LatLon>,
    /// Mode per constellation.
    pub modes: GnsModes,
    /// Satellites used.
    pub satellites: Option<u8>,
    /// Horizontal dilution of precision.
    pub hdop: Option<f32>,
    /// Altitude above mean sea level, metres.
    pub alt_msl_m: Option<f32>,
    /// Geoid separation, metres.
    pub geoid_sep_m: Option<f32>,
    /// Age of differential corrections, seconds.
    pub dgps_age_s: Option<f32>,
    /// Differential reference station id.
    pub dgps_station: Option<u16>,
}

impl GnsData {
    pub(crate) fn parse(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        let mut r = Reader::new(f, SentenceType::Gns, 12)?;
        let time = r.get(field::time)?;
        let position = r.lat_lon()?;
        let modes = r.get(|f| GnsModes::parse(f).map(Some))?.unwrap_or_default();
        let data = GnsData {
            time,
            position,
            modes,
            satellites: r.get(field::uint_as::<u8>)?,
            hdop: r.get(field::decimal32)?,
            alt_msl_m: r.get(field::decimal32)?,
            geoid_sep_m: r.get(field::decimal32)?,
            dgps_age_s: r.get(field::decimal32)?,
            dgps_station: r.get(field::uint_as::<u16>)?,
        };
        r.finish()?;
        Ok(data)
    }

    /// Whether this GNS reports a fix (any constellation not N).
    pub fn has_fix(&self) -> bool {
        self.modes.has_fix()
    }
}

#[cfg(test)]
mod tests {
    use crate::nmea::{ParseError, PosMode, SentenceData, SentenceType, parse};

    fn gns(body: &str) -> Result<super::GnsData, ParseError> {
        match parse(body.as_bytes())?.data {
            SentenceData::Gns(d) => Ok(d),
            other => panic!("not GNS: {other:?}"),
        }
    }

    #[test]
    fn test_parse_furuno() {
        let d = gns("GNGNS,120213.000,5957.0062,N,01100.6429,E,NDD,11,1.3,168.9,39.5,,,V").unwrap();
        assert!(d.has_fix());
        assert_eq!(d.modes.best(), Some(PosMode::Differential));
        assert_eq!(d.satellites, Some(11));
        assert_eq!(d.alt_msl_m, Some(168.9));
        assert_eq!(d.geoid_sep_m, Some(39.5));
        let p = d.position.unwrap();
        assert!((p.lat - (59.0 + 57.0062 / 60.0)).abs() < 1e-9);
    }

    #[test]
    fn test_no_fix_mode_string_parses() {
        // AeroRust/nmea #108: a multi-constellation "N…" mode string with no fix.
        let d = gns("GNGNS,191434.96,,,,,NNN,,,,,,").unwrap();
        assert!(!d.has_fix());
        assert_eq!(d.modes.best(), Some(PosMode::NoFix));
        let d = gns("GNGNS,074150.799,,,,,NNNN,00,,,0.0,,0000").unwrap();
        assert_eq!(d.satellites, Some(0));
        assert!(!d.has_fix());
        assert!(
            gns("GNGNS,120213.000,5957.0062,N,01100.6429,E,SN,11,1.3,168.9,39.5,,")
                .unwrap()
                .modes
                .is_simulated()
        );
        assert_eq!(
            gns("GNGNS,120213.000,5957.0062,N,01100.6429,E,NXD,11,1.3,168.9,39.5,,"),
            Err(ParseError::Field {
                sentence: SentenceType::Gns,
                field: 6
            })
        );
        assert_eq!(
            gns("GNGNS,120213.000,5957.0062,N,01100.6429,E,NNNNNNNNN,11,1.3,168.9,39.5,,"),
            Err(ParseError::Field {
                sentence: SentenceType::Gns,
                field: 6
            })
        );
    }
}
