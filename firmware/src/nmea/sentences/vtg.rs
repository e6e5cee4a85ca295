//! VTG: track made good and ground speed.

use super::Reader;
use crate::nmea::field::{self, Fields};
use crate::nmea::{ParseError, PosMode, SentenceType};

/// VTG - Track made good and Ground speed
/// (<https://gpsd.gitlab.io/gpsd/NMEA.html#_vtg_track_made_good_and_ground_speed>).
///
/// ```text
///         1   2 3   4 5   6 7   8 9
///         |   | |   | |   | |   | |
///  $--VTG,x.x,T,x.x,M,x.x,N,x.x,K,m*hh<CR><LF>
/// ```
/// 1 track (degrees true), 3 track (degrees magnetic), 5 speed (knots), 7 speed (km/h),
/// 9 mode indicator (NMEA 2.3+). Fields 2, 4, 6, 8 are the unit letters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VtgData {
    /// Track, degrees true.
    pub track_true_deg: Option<f32>,
    /// Track, degrees magnetic.
    pub track_mag_deg: Option<f32>,
    /// Speed over ground, knots.
    pub speed_knots: Option<f32>,
    /// Speed over ground, km/h.
    pub speed_kph: Option<f32>,
    /// Mode indicator (NMEA 2.3+).
    pub mode: Option<PosMode>,
}

impl VtgData {
    #[inline(always)]
    pub(crate) fn parse(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        let mut r = Reader::new(f, SentenceType::Vtg, 8)?;
        let track_true_deg = r.get(field::decimal32)?;
        r.unit(b'T')?;
        let track_mag_deg = r.get(field::decimal32)?;
        r.unit(b'M')?;
        let speed_knots = r.get(field::decimal32)?;
        r.unit(b'N')?;
        let speed_kph = r.get(field::decimal32)?;
        r.unit(b'K')?;
        let mode = r.mode()?;
        let data = VtgData {
            track_true_deg,
            track_mag_deg,
            speed_knots,
            speed_kph,
            mode,
        };
        r.finish()?;
        Ok(data)
    }

    /// Speed over ground in m/s, from knots or else from km/h.
    pub fn speed_mps(&self) -> Option<f32> {
        self.speed_knots
            .map(|k| k * crate::nmea::KNOTS_TO_MPS)
            .or(self.speed_kph.map(|k| k / 3.6))
    }
}

#[cfg(test)]
mod tests {
    use crate::nmea::{ParseError, PosMode, SentenceData, SentenceType, parse};

    fn vtg(body: &str) -> Result<super::VtgData, ParseError> {
        match parse(body.as_bytes())?.data {
            SentenceData::Vtg(d) => Ok(d),
            other => panic!("not VTG: {other:?}"),
        }
    }

    #[test]
    fn test_parse() {
        let d = vtg("GPVTG,054.7,T,034.4,M,005.5,N,010.2,K,A").unwrap();
        assert_eq!(d.track_true_deg, Some(54.7));
        assert_eq!(d.track_mag_deg, Some(34.4));
        assert_eq!(d.speed_knots, Some(5.5));
        assert_eq!(d.speed_kph, Some(10.2));
        assert_eq!(d.mode, Some(PosMode::Autonomous));
        assert!((d.speed_mps().unwrap() - 2.829_444).abs() < 1e-5);
        let d = vtg("GNVTG,,T,,M,0.040,N,0.074,K,D").unwrap();
        assert_eq!(d.track_true_deg, None);
        assert_eq!(
            vtg("GPVTG,054.7,X,034.4,M,005.5,N,010.2,K,A"),
            Err(ParseError::Field {
                sentence: SentenceType::Vtg,
                field: 2
            })
        );
    }
}
