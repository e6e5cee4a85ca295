//! GLL: geographic position, latitude/longitude.

use super::Reader;
use crate::nmea::field::{self, Fields};
use crate::nmea::{LatLon, NmeaTime, ParseError, PosMode, SentenceType};

/// GLL - Geographic Position - Latitude/Longitude
/// (<https://gpsd.gitlab.io/gpsd/NMEA.html#_gll_geographic_position_latitudelongitude>).
///
/// ```text
///         1       2 3        4 5         6 7
///         |       | |        | |         | |
///  $--GLL,ddmm.mm,a,dddmm.mm,a,hhmmss.ss,A,m*hh<CR><LF>
/// ```
/// 1–4 position, 5 UTC time, 6 status (A valid, V void), 7 mode indicator (NMEA 2.3+).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GllData {
    /// Position.
    pub position: Option<LatLon>,
    /// UTC time of the position.
    pub time: Option<NmeaTime>,
    /// Status: `true` for A (valid).
    pub valid: Option<bool>,
    /// Mode indicator (NMEA 2.3+).
    pub mode: Option<PosMode>,
}

impl GllData {
    #[inline(always)]
    pub(crate) fn parse(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        let mut r = Reader::new(f, SentenceType::Gll, 6)?;
        let position = r.lat_lon()?;
        let time = r.get(field::time)?;
        let valid = r.status()?;
        let mode = r.mode()?;
        let data = GllData {
            position,
            time,
            valid,
            mode,
        };
        r.finish()?;
        Ok(data)
    }

    /// Whether this GLL reports a usable fix: status A and a mode other than N.
    pub fn has_fix(&self) -> bool {
        super::status_fix(self.valid, self.mode)
    }
}

#[cfg(test)]
mod tests {
    use crate::nmea::{ParseError, PosMode, SentenceData, SentenceType, parse};

    fn gll(body: &str) -> Result<super::GllData, ParseError> {
        match parse(body.as_bytes())?.data {
            SentenceData::Gll(d) => Ok(d),
            other => panic!("not GLL: {other:?}"),
        }
    }

    #[test]
    fn test_parse() {
        // triton400.log; gpsd TPV: lat 26.636210000, lon -80.189820000, mode 2.
        let d = gll("GPGLL,2638.1726,N,08011.3892,W,030129.000,A,A").unwrap();
        let p = d.position.unwrap();
        assert!((p.lat - 26.63621).abs() < 1e-9 && (p.lon + 80.18982).abs() < 1e-9);
        assert_eq!(d.time.unwrap().second, 29);
        assert_eq!(d.mode, Some(PosMode::Autonomous));
        assert!(d.has_fix());
        // NMEA 2.0: no mode field.
        let d = gll("GPGLL,4916.45,N,12311.12,W,225444,A").unwrap();
        assert_eq!(d.mode, None);
        assert!(d.has_fix());
        let d = gll("GPGLL,,,,,,V,N").unwrap();
        assert!(!d.has_fix());
        assert_eq!(
            gll("GPGLL,4916.45,N,12311.12,W,225444,A,Z"),
            Err(ParseError::Field {
                sentence: SentenceType::Gll,
                field: 7
            })
        );
    }
}
