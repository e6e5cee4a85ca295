//! GST: GNSS pseudorange error statistics.

use super::Reader;
use crate::nmea::field::{self, Fields};
use crate::nmea::{NmeaTime, ParseError, SentenceType};

/// GST - GNSS Pseudorange Error Statistics
/// (<https://gpsd.gitlab.io/gpsd/NMEA.html#_gst_gps_pseudorange_noise_statistics>).
///
/// ```text
///         1         2   3   4   5   6   7   8
///         |         |   |   |   |   |   |   |
///  $--GST,hhmmss.ss,x.x,x.x,x.x,x.x,x.x,x.x,x.x*hh<CR><LF>
/// ```
/// 1 UTC time, 2 RMS of the pseudorange residuals (m), 3 semi-major and 4 semi-minor
/// axis of the error ellipse (1σ, m), 5 its orientation (degrees from true north),
/// 6 latitude, 7 longitude and 8 altitude error (1σ, m).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GstData {
    /// UTC time.
    pub time: Option<NmeaTime>,
    /// RMS of the pseudorange residuals, metres.
    pub rms_m: Option<f32>,
    /// Error ellipse semi-major axis, metres.
    pub major_m: Option<f32>,
    /// Error ellipse semi-minor axis, metres.
    pub minor_m: Option<f32>,
    /// Error ellipse orientation, degrees from true north.
    pub orient_deg: Option<f32>,
    /// Latitude error, metres.
    pub lat_err_m: Option<f32>,
    /// Longitude error, metres.
    pub lon_err_m: Option<f32>,
    /// Altitude error, metres.
    pub alt_err_m: Option<f32>,
}

impl GstData {
    pub(crate) fn parse(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        let mut r = Reader::new(f, SentenceType::Gst, 8)?;
        let data = GstData {
            time: r.get(field::time)?,
            rms_m: r.get(field::decimal32)?,
            major_m: r.get(field::decimal32)?,
            minor_m: r.get(field::decimal32)?,
            orient_deg: r.get(field::decimal32)?,
            lat_err_m: r.get(field::decimal32)?,
            lon_err_m: r.get(field::decimal32)?,
            alt_err_m: r.get(field::decimal32)?,
        };
        r.finish()?;
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use crate::nmea::{ParseError, SentenceData, SentenceType, parse};

    #[test]
    fn test_parse() {
        // skytraq-fix.log shape; gpsd GST echoes these numbers as rms/major/minor/…
        let SentenceData::Gst(d) = parse(b"GPGST,024603.00,3.2,6.6,4.7,47.3,5.8,5.6,22.0")
            .unwrap()
            .data
        else {
            panic!()
        };
        assert_eq!(d.rms_m, Some(3.2));
        assert_eq!(d.orient_deg, Some(47.3));
        assert_eq!(d.alt_err_m, Some(22.0));
        assert_eq!(
            parse(b"GPGST,024603.00,3.2,6.6,4.7,47.3,5.8,x,22.0"),
            Err(ParseError::Field {
                sentence: SentenceType::Gst,
                field: 7
            })
        );
        assert!(parse(b"GPGST,024603.00,3.2").is_err());
    }
}
