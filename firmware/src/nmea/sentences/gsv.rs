//! GSV: satellites in view.

use super::Reader;
use crate::nmea::field::{self, Fields, Scan};
use crate::nmea::{ParseError, SentenceType};

/// One satellite of a GSV sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GsvSatellite {
    /// PRN / satellite id as the talker numbers it.
    pub prn: u16,
    /// Elevation, degrees (−90…90).
    pub elevation_deg: Option<i8>,
    /// Azimuth, degrees true (0…359).
    pub azimuth_deg: Option<u16>,
    /// Carrier-to-noise density C/N0, dB-Hz (0…99); `None` when not tracked.
    pub cn0_dbhz: Option<u8>,
}

/// GSV - GNSS Satellites in View
/// (<https://gpsd.gitlab.io/gpsd/NMEA.html#_gsv_satellites_in_view>).
///
/// ```text
///         1 2 3  4  5  6   7  8  9  10  11 …    16 17 18  19 20
///         | | |  |  |  |   |  |  |  |   |       |  |  |   |  |
///  $--GSV,x,x,xx,xx,xx,xxx,xx,xx,xx,xxx,xx,…,xx,xx,xxx,xx,h*hh<CR><LF>
/// ```
/// 1 number of sentences in the group, 2 this sentence's number, 3 satellites in view,
/// then up to four groups of PRN, elevation, azimuth, C/N0; a last odd field is the
/// NMEA 4.10 signal id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GsvData {
    /// Number of GSV sentences in this group.
    pub total: u8,
    /// This sentence's number, 1-based.
    pub number: u8,
    /// Satellites in view (for the whole group).
    pub in_view: Option<u8>,
    sats: [GsvSatellite; 4],
    sat_count: u8,
    /// NMEA 4.10 signal id.
    pub signal_id: Option<u8>,
}

impl GsvData {
    /// The common case in one pass: counts and angles of at most three digits, no sign,
    /// all in range. `None` for anything else, which [`GsvData::parse`] then decides.
    #[inline(always)]
    pub(crate) fn parse_fast(fields: Option<&[u8]>) -> Option<Self> {
        let mut s = Scan::new(fields)?;
        let byte = |v: Option<u16>| v.map(u8::try_from).transpose().ok();
        let total = byte(s.small()?)??;
        let number = byte(s.small()?)??;
        let in_view = byte(s.small()?)?;
        if total == 0 || number == 0 || number > total {
            return None;
        }
        let at_most = |v: Option<u16>, max: u16| match v {
            Some(v) if v > max => None,
            v => Some(v),
        };
        // Built in place: satellites stored into a separate array and copied over would
        // be read back wider than written (a store-forwarding stall).
        let mut d = GsvData {
            total,
            number,
            in_view,
            sats: [GsvSatellite::default(); 4],
            sat_count: 0,
            signal_id: None,
        };
        for group in 0..5 {
            if s.is_done() {
                break;
            }
            let (prn, len) = s.small_len()?;
            if s.is_done() {
                // The signal id: one digit (hex letters take the general path).
                d.signal_id = match (prn, len) {
                    (None, _) => None,
                    (Some(v), 1) => Some(v as u8),
                    _ => return None,
                };
                break;
            }
            if group == 4 {
                return None;
            }
            // The ranges make the `as` conversions exact.
            let elevation_deg = at_most(s.small()?, 90)?.map(|v| v as i8);
            let azimuth_deg = at_most(s.small()?, 360)?;
            let cn0_dbhz = at_most(s.small()?, 99)?.map(|v| v as u8);
            let Some(prn) = prn else { continue };
            if let Some(slot) = d.sats.get_mut(usize::from(d.sat_count)) {
                *slot = GsvSatellite {
                    prn,
                    elevation_deg,
                    azimuth_deg,
                    cn0_dbhz,
                };
                d.sat_count += 1;
            }
        }
        Some(d)
    }

    pub(crate) fn parse(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        let mut r = Reader::new(f, SentenceType::Gsv, 3)?;
        let bad = |field: u8| ParseError::Field {
            sentence: SentenceType::Gsv,
            field,
        };
        let count_error = |found: u8| ParseError::FieldCount {
            sentence: SentenceType::Gsv,
            found,
        };
        let total = r.get(field::uint_as::<u8>)?.ok_or(bad(1))?;
        let number = r.get(field::uint_as::<u8>)?.ok_or(bad(2))?;
        if total == 0 || number == 0 || number > total {
            return Err(bad(2));
        }
        let in_view = r.get(field::uint_as::<u8>)?;
        let mut sats = [GsvSatellite::default(); 4];
        let mut sat_count = 0u8;
        let mut signal_id = None;
        // Up to four groups of four fields; a single field after them is the signal id.
        for group in 0..5 {
            if !r.has_more() {
                break;
            }
            let first = r.raw();
            if !r.has_more() {
                signal_id = Some(first);
                break;
            }
            if group == 4 {
                return Err(count_error(r.fields_seen()));
            }
            let prn = field::uint_as::<u16>(first).map_err(|_| bad(4 + 4 * group))?;
            // The ranges make the `as` conversions exact.
            let elevation_deg = r.get(|f| Ok(field::int_in(f, -90, 90)?.map(|v| v as i8)))?;
            let azimuth_deg = r.get(|f| Ok(field::int_in(f, 0, 360)?.map(|v| v as u16)))?;
            let cn0_dbhz = r.get(|f| Ok(field::int_in(f, 0, 99)?.map(|v| v as u8)))?;
            if !r.has_more() && r.fields_seen() % 4 != 3 {
                return Err(count_error(r.fields_seen()));
            }
            // An all-empty group is padding; a group without a PRN carries nothing usable.
            let Some(prn) = prn else { continue };
            if let Some(slot) = sats.get_mut(usize::from(sat_count)) {
                *slot = GsvSatellite {
                    prn,
                    elevation_deg,
                    azimuth_deg,
                    cn0_dbhz,
                };
                sat_count += 1;
            }
        }
        // Signal ids are one hex digit (0–F) in NMEA 4.11.
        let signal_id = match signal_id {
            None | Some([]) => None,
            Some([c]) => Some(
                char::from(*c)
                    .to_digit(16)
                    .map(|d| d as u8)
                    .ok_or(bad(r.fields_seen()))?,
            ),
            Some(_) => return Err(bad(r.fields_seen())),
        };
        let data = GsvData {
            total,
            number,
            in_view,
            sats,
            sat_count,
            signal_id,
        };
        r.finish()?;
        Ok(data)
    }

    /// The satellites of this sentence (0–4).
    pub fn satellites(&self) -> &[GsvSatellite] {
        self.sats.get(..usize::from(self.sat_count)).unwrap_or(&[])
    }

    /// Whether this is the last sentence of its group.
    pub fn is_last(&self) -> bool {
        self.number == self.total
    }
}

#[cfg(test)]
mod tests {
    use super::GsvSatellite;
    use crate::nmea::{ParseError, SentenceData, SentenceType, parse};

    fn gsv(body: &str) -> Result<super::GsvData, ParseError> {
        match parse(body.as_bytes())?.data {
            SentenceData::Gsv(d) => Ok(d),
            other => panic!("not GSV: {other:?}"),
        }
    }

    #[test]
    fn test_parse_triton400() {
        // gpsd SKY: PRN 20 el 9 az 138 ss 36; PRN 13 el 4 az 183 ss 51; PRN 32 el 3 az 113 ss 44.
        let d = gsv("GPGSV,3,3,11,20,09,138,36,13,04,183,51,32,03,113,44,,,,").unwrap();
        assert_eq!((d.total, d.number, d.in_view), (3, 3, Some(11)));
        assert!(d.is_last());
        assert_eq!(d.satellites().len(), 3);
        assert_eq!(
            d.satellites()[0],
            GsvSatellite {
                prn: 20,
                elevation_deg: Some(9),
                azimuth_deg: Some(138),
                cn0_dbhz: Some(36)
            }
        );
        assert_eq!(d.signal_id, None);
    }

    #[test]
    fn test_signal_id_and_untracked() {
        // furuno_gl_ga.log 20-field GAGSV with signal id 7 and untracked satellites.
        let d = gsv("GAGSV,2,2,07,27,18,333,,30,16,279,,05,11,185,41,,,,,7").unwrap();
        assert_eq!(d.signal_id, Some(7));
        assert_eq!(d.satellites().len(), 3);
        assert_eq!(d.satellites()[0].cn0_dbhz, None);
        assert_eq!(d.satellites()[2].cn0_dbhz, Some(41));
        let d = gsv("GPGSV,1,1,00").unwrap();
        assert!(d.satellites().is_empty());
    }

    #[test]
    fn test_rejects() {
        assert_eq!(
            gsv("GPGSV,3,4,11"),
            Err(ParseError::Field {
                sentence: SentenceType::Gsv,
                field: 2
            })
        );
        assert!(gsv("GPGSV,3,1,11,08,75").is_err());
        assert!(gsv("GPGSV,3,1,11,08,95,303,44").is_err());
        assert!(
            gsv("GPGSV,3,1,11,08,75,303,44,07,66,172,51,11,51,055,36,28,39,325,36,1,2,3,4")
                .is_err()
        );
    }
}
