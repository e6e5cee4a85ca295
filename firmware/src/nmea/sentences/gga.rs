//! GGA: GPS fix data.

use super::Reader;
use crate::nmea::field::{self, Fields};
use crate::nmea::{LatLon, NmeaTime, ParseError, SentenceType};

/// The GGA fix quality indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GgaQuality {
    /// 0: fix not available.
    Invalid,
    /// 1: GPS (SPS) fix.
    Gps,
    /// 2: differential GPS fix.
    Dgps,
    /// 3: PPS fix.
    Pps,
    /// 4: RTK fixed integer.
    RtkFixed,
    /// 5: RTK float.
    RtkFloat,
    /// 6: estimated (dead reckoning).
    Estimated,
    /// 7: manual input.
    Manual,
    /// 8: simulation. Not a real position.
    Simulation,
}

impl GgaQuality {
    /// Decodes the indicator digit.
    pub const fn from_u8(v: u8) -> Option<GgaQuality> {
        Some(match v {
            0 => GgaQuality::Invalid,
            1 => GgaQuality::Gps,
            2 => GgaQuality::Dgps,
            3 => GgaQuality::Pps,
            4 => GgaQuality::RtkFixed,
            5 => GgaQuality::RtkFloat,
            6 => GgaQuality::Estimated,
            7 => GgaQuality::Manual,
            8 => GgaQuality::Simulation,
            _ => return None,
        })
    }

    /// Whether the quality denotes any fix (everything but 0).
    pub const fn has_fix(&self) -> bool {
        !matches!(self, GgaQuality::Invalid)
    }
}

/// GGA - Global Positioning System Fix Data
/// (<https://gpsd.gitlab.io/gpsd/NMEA.html#_gga_global_positioning_system_fix_data>).
///
/// ```text
///         1         2       3 4        5 6 7  8   9  10 11 12 13  14
///         |         |       | |        | | |  |   |  |  |  |  |   |
///  $--GGA,hhmmss.ss,ddmm.mm,a,dddmm.mm,a,x,xx,x.x,x.x,M,x.x,M,x.x,xxxx*hh<CR><LF>
/// ```
/// 1 UTC time, 2–5 position, 6 quality, 7 satellites used, 8 HDOP, 9–10 altitude above
/// mean sea level (metres), 11–12 geoid separation (metres), 13 age of differential
/// data (s), 14 differential station id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GgaData {
    /// UTC time of the fix (no date: see RMC/ZDA).
    pub time: Option<NmeaTime>,
    /// Position.
    pub position: Option<LatLon>,
    /// Fix quality.
    pub quality: Option<GgaQuality>,
    /// Satellites used in the solution.
    pub satellites: Option<u8>,
    /// Horizontal dilution of precision.
    pub hdop: Option<f32>,
    /// Altitude above mean sea level, metres.
    pub alt_msl_m: Option<f32>,
    /// Geoid separation (ellipsoid minus mean sea level), metres.
    pub geoid_sep_m: Option<f32>,
    /// Age of differential corrections, seconds.
    pub dgps_age_s: Option<f32>,
    /// Differential reference station id.
    pub dgps_station: Option<u16>,
}

impl GgaData {
    #[inline(always)]
    pub(crate) fn parse(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        let mut r = Reader::new(f, SentenceType::Gga, 14)?;
        let time = r.get(field::time)?;
        let position = r.lat_lon()?;
        let quality = r.get(|f| match field::uint_as::<u8>(f)? {
            None => Ok(None),
            Some(q) => GgaQuality::from_u8(q).map(Some).ok_or(field::Bad),
        })?;
        let satellites = r.get(field::uint_as::<u8>)?;
        let hdop = r.get(field::decimal32)?;
        let alt_msl_m = r.get(field::decimal32)?;
        r.unit(b'M')?;
        let geoid_sep_m = r.get(field::decimal32)?;
        r.unit(b'M')?;
        let dgps_age_s = r.get(field::decimal32)?;
        let dgps_station = r.get(field::uint_as::<u16>)?;
        let data = GgaData {
            time,
            position,
            quality,
            satellites,
            hdop,
            alt_msl_m,
            geoid_sep_m,
            dgps_age_s,
            dgps_station,
        };
        r.finish()?;
        Ok(data)
    }

    /// Whether this GGA reports a fix (quality present and not 0).
    pub fn has_fix(&self) -> bool {
        self.quality.is_some_and(|q| q.has_fix())
    }
}

#[cfg(test)]
mod tests {
    use super::GgaQuality;
    use crate::nmea::{ParseError, SentenceData, SentenceType, parse};

    fn gga(body: &str) -> Result<super::GgaData, ParseError> {
        match parse(body.as_bytes())?.data {
            SentenceData::Gga(d) => Ok(d),
            other => panic!("not GGA: {other:?}"),
        }
    }

    #[test]
    fn test_parse_triton400() {
        // gpsd TPV: lat 26.636210000, lon -80.189820000, altMSL 16.0, geoidSep -28.0.
        let d = gga("GPGGA,030129.00,2638.1726,N,08011.3892,W,1,06,1.5,00016,M,-0028,M,,").unwrap();
        assert_eq!(d.quality, Some(GgaQuality::Gps));
        assert_eq!(d.satellites, Some(6));
        assert_eq!(d.hdop, Some(1.5));
        assert_eq!(d.alt_msl_m, Some(16.0));
        assert_eq!(d.geoid_sep_m, Some(-28.0));
        assert_eq!(d.dgps_age_s, None);
        let p = d.position.unwrap();
        assert!((p.lat - 26.63621).abs() < 1e-9 && (p.lon + 80.18982).abs() < 1e-9);
        assert!(d.has_fix());
    }

    #[test]
    fn test_rtk_and_dgps_station() {
        // nmea-rtk.log style: 8-decimal coordinates, RTK fixed, station id.
        let d = gga(
            "GNGGA,132822.00,3723.46587704,N,12202.26957864,W,4,12,0.8,13.567,M,-32.231,M,1.0,0031",
        )
        .unwrap();
        assert_eq!(d.quality, Some(GgaQuality::RtkFixed));
        assert_eq!(d.dgps_station, Some(31));
        assert_eq!(d.dgps_age_s, Some(1.0));
        let p = d.position.unwrap();
        assert!((p.lat - (37.0 + 23.46587704 / 60.0)).abs() < 1e-12);
    }

    #[test]
    fn test_no_fix_and_errors() {
        let d = gga("GPGGA,012530.562,,,,,0,00,,,M,0.0,M,,0000").unwrap();
        assert!(!d.has_fix());
        assert_eq!(d.position, None);
        let d = gga("GPGGA,012530.562,,,,,,00,,,M,0.0,M,,0000").unwrap();
        assert_eq!(d.quality, None);
        assert_eq!(
            gga("GPGGA,030129.00,2638.1726,N,08011.3892,W,9,06,1.5,00016,M,-0028,M,,"),
            Err(ParseError::Field {
                sentence: SentenceType::Gga,
                field: 6
            })
        );
        assert_eq!(
            gga("GPGGA,030129.00,2638.1726,N,08011.3892,W,1,06,1.5,00016,F,-0028,M,,"),
            Err(ParseError::Field {
                sentence: SentenceType::Gga,
                field: 10
            })
        );
    }
}
