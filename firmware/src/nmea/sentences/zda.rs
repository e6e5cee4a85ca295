//! ZDA: time and date.

use super::Reader;
use crate::nmea::field::{self, Fields};
use crate::nmea::{NmeaDate, NmeaTime, ParseError, SentenceType};

/// ZDA - Time & Date - UTC, day, month, year and local time zone
/// (<https://gpsd.gitlab.io/gpsd/NMEA.html#_zda_time_date_utc_day_month_year_and_local_time_zone>).
///
/// ```text
///         1         2  3  4    5  6
///         |         |  |  |    |  |
///  $--ZDA,hhmmss.ss,xx,xx,xxxx,xx,xx*hh<CR><LF>
/// ```
/// 1 UTC time, 2 day, 3 month, 4 year (four digits), 5 local zone hours (−13…13),
/// 6 local zone minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZdaData {
    /// UTC time.
    pub time: Option<NmeaTime>,
    /// UTC date (all three fields present and valid).
    pub date: Option<NmeaDate>,
    /// Local zone offset from UTC, minutes.
    pub local_offset_min: Option<i16>,
}

impl ZdaData {
    pub(crate) fn parse(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        let mut r = Reader::new(f, SentenceType::Zda, 4)?;
        let time = r.get(field::time)?;
        let day = r.get(field::uint_as::<u8>)?;
        let month = r.get(field::uint_as::<u8>)?;
        let year = r.get(field::uint_as::<u16>)?;
        let date = match (day, month, year) {
            (Some(d), Some(m), Some(y)) => Some(NmeaDate::new(y, m, d).ok_or(r.error_at(2))?),
            (None, None, None) => None,
            _ => return Err(r.error_at(2)),
        };
        let hours = r.get(|f| {
            // firefly-II.log writes "+00".
            let neg = f.first() == Some(&b'-');
            let digits = match f.first() {
                Some(b'-' | b'+') => f.get(1..).unwrap_or(&[]),
                _ => f,
            };
            if digits.is_empty() && !f.is_empty() {
                return Err(field::Bad);
            }
            Ok(field::uint_as::<u8>(digits)?
                .map(|h| if neg { -i16::from(h) } else { i16::from(h) }))
        })?;
        let minutes = r.get(field::uint_as::<u8>)?;
        let local_offset_min = match hours {
            None => None,
            Some(h) if h.abs() <= 13 && minutes.unwrap_or(0) < 60 => {
                let m = i16::from(minutes.unwrap_or(0));
                Some(if h < 0 { h * 60 - m } else { h * 60 + m })
            }
            Some(_) => return Err(r.error_at(5)),
        };
        let data = ZdaData {
            time,
            date,
            local_offset_min,
        };
        r.finish()?;
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use crate::nmea::{NmeaDate, ParseError, SentenceData, SentenceType, parse};

    fn zda(body: &str) -> Result<super::ZdaData, ParseError> {
        match parse(body.as_bytes())?.data {
            SentenceData::Zda(d) => Ok(d),
            other => panic!("not ZDA: {other:?}"),
        }
    }

    #[test]
    fn test_parse() {
        let d = zda("GPZDA,201530.00,04,07,2002,00,00").unwrap();
        assert_eq!(d.date, NmeaDate::new(2002, 7, 4));
        assert_eq!(d.time.unwrap().hour, 20);
        assert_eq!(d.local_offset_min, Some(0));
        let d = zda("GPZDA,201530.00,04,07,2002,-05,30").unwrap();
        assert_eq!(d.local_offset_min, Some(-330));
        let d = zda("GPZDA,005947.00,08,07,2010,+02,00").unwrap();
        assert_eq!(d.local_offset_min, Some(120));
        assert!(zda("GPZDA,005947.00,08,07,2010,+,00").is_err());
        let d = zda("GNZDA,,,,,,").unwrap();
        assert_eq!((d.time, d.date, d.local_offset_min), (None, None, None));
        assert_eq!(
            zda("GPZDA,201530.00,31,02,2002,00,00"),
            Err(ParseError::Field {
                sentence: SentenceType::Zda,
                field: 2
            })
        );
        assert_eq!(
            zda("GPZDA,201530.00,04,,2002,00,00"),
            Err(ParseError::Field {
                sentence: SentenceType::Zda,
                field: 2
            })
        );
    }
}
