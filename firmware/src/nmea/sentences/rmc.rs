//! RMC: recommended minimum specific GNSS data.

use super::Reader;
use crate::nmea::field::{self, Fields};
use crate::nmea::{LatLon, NmeaDate, NmeaTime, ParseError, PosMode, SentenceType};

/// RMC - Recommended Minimum Specific GNSS Data
/// (<https://gpsd.gitlab.io/gpsd/NMEA.html#_rmc_recommended_minimum_navigation_information>).
///
/// ```text
///         1         2 3       4 5        6 7   8   9      10  11 12 13
///         |         | |       | |        | |   |   |      |   |  |  |
///  $--RMC,hhmmss.ss,A,ddmm.mm,a,dddmm.mm,a,x.x,x.x,ddmmyy,x.x,a,m,s*hh<CR><LF>
/// ```
/// 1 UTC time, 2 status (A valid, V void), 3–6 position, 7 speed over ground (knots),
/// 8 track made good (degrees true), 9 date, 10–11 magnetic variation (E/W),
/// 12 mode indicator (NMEA 2.3+), 13 navigational status (NMEA 4.1+, ignored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmcData {
    /// UTC time of the fix.
    pub time: Option<NmeaTime>,
    /// Status: `true` for A (valid), `false` for V (void / receiver warning).
    pub valid: Option<bool>,
    /// Position.
    pub position: Option<LatLon>,
    /// Speed over ground, knots.
    pub speed_knots: Option<f32>,
    /// Track made good, degrees true.
    pub track_deg: Option<f32>,
    /// UTC date.
    pub date: Option<NmeaDate>,
    /// Magnetic variation, degrees (east positive).
    pub magvar_deg: Option<f32>,
    /// Mode indicator (NMEA 2.3+).
    pub mode: Option<PosMode>,
}

impl RmcData {
    #[inline(always)]
    pub(crate) fn parse(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        let mut r = Reader::new(f, SentenceType::Rmc, 11)?;
        let time = r.get(field::time)?;
        let valid = r.status()?;
        let position = r.lat_lon()?;
        let speed_knots = r.get(field::decimal32)?;
        let track_deg = r.get(field::decimal32)?;
        let date = r.get(field::date)?;
        let magvar = r.get(field::decimal32)?;
        let magvar_deg = match (magvar, r.raw()) {
            (None, _) => None,
            (Some(v), b"E") => Some(v),
            (Some(v), b"W") => Some(-v),
            (Some(_), _) => {
                return Err(r.error_at(11));
            }
        };
        let mode = r.mode()?;
        let data = RmcData {
            time,
            valid,
            position,
            speed_knots,
            track_deg,
            date,
            magvar_deg,
            mode,
        };
        r.finish()?;
        Ok(data)
    }

    /// Whether this RMC reports a usable fix: status A and a mode other than N.
    pub fn has_fix(&self) -> bool {
        super::status_fix(self.valid, self.mode)
    }
}

#[cfg(test)]
mod tests {
    use crate::nmea::{NmeaDate, ParseError, PosMode, SentenceData, SentenceType, parse};

    fn rmc(body: &str) -> Result<super::RmcData, ParseError> {
        match parse(body.as_bytes())?.data {
            SentenceData::Rmc(d) => Ok(d),
            other => panic!("not RMC: {other:?}"),
        }
    }

    #[test]
    fn test_parse_triton400() {
        // triton400.log; gpsd TPV: time 2013-04-01T03:01:29.000Z, lat 26.636210000,
        // lon -80.189820000, track 219.6, speed 0.000, magvar absent in the sentence.
        let d = rmc("GPRMC,030129.0,A,2638.1726,N,08011.3892,W,0.00,219.6,010413,,").unwrap();
        let t = d.date.unwrap().at(&d.time.unwrap()).unwrap();
        assert_eq!(t.to_string(), "2013-04-01T03:01:29Z");
        let p = d.position.unwrap();
        assert!((p.lat - 26.63621).abs() < 1e-9 && (p.lon + 80.18982).abs() < 1e-9);
        assert_eq!(d.speed_knots, Some(0.0));
        assert_eq!(d.track_deg, Some(219.6));
        assert_eq!(d.valid, Some(true));
        assert_eq!(d.mode, None);
        assert_eq!(d.magvar_deg, None);
        assert!(d.has_fix());
    }

    #[test]
    fn test_parse_v23_with_mode_and_magvar() {
        let d = rmc("GNRMC,001031.00,A,4404.13993,N,12118.86023,W,0.146,,100117,3.1,W,D").unwrap();
        assert_eq!(d.mode, Some(PosMode::Differential));
        assert_eq!(d.magvar_deg, Some(-3.1));
        assert_eq!(d.track_deg, None);
        assert_eq!(d.date, NmeaDate::new(2017, 1, 10));
    }

    #[test]
    fn test_no_fix_and_empty_fields() {
        let d = rmc("GPRMC,,V,,,,,,,,,,N").unwrap();
        assert_eq!(d.time, None);
        assert_eq!(d.position, None);
        assert!(!d.has_fix());
        let d = rmc("GPRMC,120000,A,,,,,,,010413,,,N").unwrap();
        assert!(!d.has_fix(), "mode N overrides status A");
    }

    #[test]
    fn test_rejects_malformed() {
        assert_eq!(
            rmc("GPRMC,030129.0,X,2638.1726,N,08011.3892,W,0.00,219.6,010413,,"),
            Err(ParseError::Field {
                sentence: SentenceType::Rmc,
                field: 2
            })
        );
        assert_eq!(
            rmc("GPRMC,030129.0,A,2638.1726,N,08011.3892,W,0.00,219.6,320413,,"),
            Err(ParseError::Field {
                sentence: SentenceType::Rmc,
                field: 9
            })
        );
        assert_eq!(
            rmc("GPRMC,030129.0,A,2638.1726,N,08011.3892,W,0.00,219.6,010413,1.0,Q"),
            Err(ParseError::Field {
                sentence: SentenceType::Rmc,
                field: 11
            })
        );
        assert_eq!(
            rmc("GPRMC,030129.0,A,2638.1726"),
            Err(ParseError::FieldCount {
                sentence: SentenceType::Rmc,
                found: 3
            })
        );
    }
}
