//! GSA: DOP and active satellites.

use super::Reader;
use crate::nmea::field::{self, Fields, Scan};
use crate::nmea::{Constellation, ParseError, SentenceType};

/// The GSA fix type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FixType {
    /// 1: no fix.
    NoFix,
    /// 2: 2D fix.
    Fix2D,
    /// 3: 3D fix.
    Fix3D,
}

/// Most PRN fields a GSA may carry: 12 in the standard, 18 on some Quectel receivers
/// (AeroRust/nmea PR #116).
pub const GSA_MAX_PRNS: usize = 18;

/// GSA - GNSS DOP and Active Satellites
/// (<https://gpsd.gitlab.io/gpsd/NMEA.html#_gsa_gps_dop_and_active_satellites>).
///
/// ```text
///         1 2 3                        14 15  16  17  18
///         | | |                         |  |   |   |   |
///  $--GSA,a,a,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x.x,x.x,x.x,h*hh<CR><LF>
/// ```
/// 1 selection mode (M manual, A automatic), 2 fix type (1 none, 2 2D, 3 3D),
/// 3–14 PRNs of the satellites used (12 fields; 18 on some receivers), 15 PDOP, 16 HDOP,
/// 17 VDOP, 18 GNSS system id (NMEA 4.10+; ignored when it is not an integer, as the
/// SiRF-TriG fourth DOP in beidou-bd.log). Receivers send one GSA per constellation
/// per epoch; the [`crate::nmea::fix::FixAssembler`] merges them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GsaData {
    /// Selection mode letter (`M` or `A`).
    pub selection: Option<u8>,
    /// Fix type.
    pub fix_type: Option<FixType>,
    prns: [u16; GSA_MAX_PRNS],
    prn_count: u8,
    /// Position dilution of precision.
    pub pdop: Option<f32>,
    /// Horizontal dilution of precision.
    pub hdop: Option<f32>,
    /// Vertical dilution of precision.
    pub vdop: Option<f32>,
    /// NMEA 4.10 GNSS system id (1 GPS, 2 GLONASS, 3 Galileo, 4 BeiDou, 5 QZSS, 6 NavIC).
    pub system_id: Option<u8>,
}

/// How many of the fields after the fix type are PRNs, and whether a system id follows
/// the three DOPs, by the number `n` of those fields; `None` for a wrong count.
#[inline(always)]
fn layout(n: usize) -> Option<(usize, bool)> {
    match n {
        15 | 21 => Some((n - 3, false)),
        16 | 22 => Some((n - 4, true)),
        17..=20 => Some((n - 3, false)),
        _ => None,
    }
}

impl GsaData {
    /// The common case in one pass: the fields counted first, then PRNs of at most three
    /// digits. `None` for anything else, which [`GsaData::parse`] then decides.
    #[inline(always)]
    pub(crate) fn parse_fast(fields: Option<&[u8]>) -> Option<Self> {
        let all = fields?;
        let commas = field::count_commas(all);
        // Fields after the fix type: all fields (commas + 1) but the first two.
        let (prn_fields, has_system_id) = layout(commas.checked_sub(1)?)?;
        let mut s = Scan::new(fields)?;
        let selection = match s.raw()? {
            [] => None,
            [c] => Some(*c),
            _ => return None,
        };
        let fix_type = match s.small()? {
            None => None,
            Some(1) => Some(FixType::NoFix),
            Some(2) => Some(FixType::Fix2D),
            Some(3) => Some(FixType::Fix3D),
            Some(_) => return None,
        };
        let mut prns = [0u16; GSA_MAX_PRNS];
        let mut prn_count = 0usize;
        for _ in 0..prn_fields {
            if let Some(prn) = s.small()?
                && let Some(slot) = prns.get_mut(prn_count)
            {
                *slot = prn;
                prn_count += 1;
            }
        }
        let pdop = field::decimal32(s.raw()?).ok()?;
        let hdop = field::decimal32(s.raw()?).ok()?;
        let vdop = field::decimal32(s.raw()?).ok()?;
        let system_id = if has_system_id {
            field::uint_as::<u8>(s.raw()?).ok().flatten()
        } else {
            None
        };
        Some(GsaData {
            selection,
            fix_type,
            prns,
            prn_count: prn_count as u8,
            pdop,
            hdop,
            vdop,
            system_id,
        })
    }

    pub(crate) fn parse(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        let mut r = Reader::new(f, SentenceType::Gsa, 17)?;
        let selection = r.get(field::char1)?;
        let fix_type = r.get(|f| match field::uint(f)? {
            None => Ok(None),
            Some(1) => Ok(Some(FixType::NoFix)),
            Some(2) => Ok(Some(FixType::Fix2D)),
            Some(3) => Ok(Some(FixType::Fix3D)),
            Some(_) => Err(field::Bad),
        })?;
        // The rest is PRNs, then 3 DOPs, then maybe a system id: collect it to count it.
        let mut rest: [&[u8]; GSA_MAX_PRNS + 4] = [&[]; GSA_MAX_PRNS + 4];
        let mut n = 0usize;
        while r.has_more() {
            let Some(slot) = rest.get_mut(n) else {
                return Err(ParseError::FieldCount {
                    sentence: SentenceType::Gsa,
                    found: u8::MAX,
                });
            };
            *slot = r.raw();
            n += 1;
        }
        let Some((prn_fields, has_system_id)) = layout(n) else {
            return Err(ParseError::FieldCount {
                sentence: SentenceType::Gsa,
                found: u8::try_from(n + 2).unwrap_or(u8::MAX),
            });
        };
        let bad = |i: usize| ParseError::Field {
            sentence: SentenceType::Gsa,
            field: u8::try_from(i + 3).unwrap_or(u8::MAX),
        };
        let mut prns = [0u16; GSA_MAX_PRNS];
        let mut prn_count = 0u8;
        for (i, f) in rest.iter().enumerate().take(prn_fields) {
            let prn = field::uint_as::<u16>(f).map_err(|_| bad(i))?;
            if let (Some(prn), Some(slot)) = (prn, prns.get_mut(usize::from(prn_count))) {
                *slot = prn;
                prn_count += 1;
            }
        }
        let dop =
            |i: usize| field::decimal32(rest.get(i).copied().unwrap_or(&[])).map_err(|_| bad(i));
        let pdop = dop(prn_fields)?;
        let hdop = dop(prn_fields + 1)?;
        let vdop = dop(prn_fields + 2)?;
        // SiRF-TriG writes a fourth DOP (a decimal) where NMEA 4.10 has the system id: a
        // last field that is not a small integer is ignored rather than rejected.
        let system_id = if has_system_id {
            let f = rest.get(prn_fields + 3).copied().unwrap_or(&[]);
            field::uint_as::<u8>(f).ok().flatten()
        } else {
            None
        };
        let data = GsaData {
            selection,
            fix_type,
            prns,
            prn_count,
            pdop,
            hdop,
            vdop,
            system_id,
        };
        r.finish()?;
        Ok(data)
    }

    /// The PRNs of the satellites used, in sentence order (empty fields skipped).
    pub fn prns(&self) -> &[u16] {
        self.prns.get(..usize::from(self.prn_count)).unwrap_or(&[])
    }

    /// The constellation named by the system id, if any.
    pub fn constellation(&self) -> Option<Constellation> {
        self.system_id.and_then(Constellation::from_system_id)
    }
}

#[cfg(test)]
mod tests {
    use super::FixType;
    use crate::nmea::{Constellation, ParseError, SentenceData, SentenceType, parse};

    fn gsa(body: &str) -> Result<super::GsaData, ParseError> {
        match parse(body.as_bytes())?.data {
            SentenceData::Gsa(d) => Ok(d),
            other => panic!("not GSA: {other:?}"),
        }
    }

    #[test]
    fn test_parse_nmea23() {
        // triton400.log; gpsd SKY: pdop 2.60, hdop 1.50, vdop 2.10, uSat 6.
        let d = gsa("GPGSA,A,3,08,07,11,28,17,26,,,,,,,02.6,01.5,02.1").unwrap();
        assert_eq!(d.fix_type, Some(FixType::Fix3D));
        assert_eq!(d.prns(), &[8, 7, 11, 28, 17, 26]);
        assert_eq!((d.pdop, d.hdop, d.vdop), (Some(2.6), Some(1.5), Some(2.1)));
        assert_eq!(d.system_id, None);
    }

    #[test]
    fn test_parse_nmea410_system_id() {
        let d = gsa("GNGSA,A,3,82,66,81,,,,,,,,,,1.05,0.64,0.83,2").unwrap();
        assert_eq!(d.prns(), &[82, 66, 81]);
        assert_eq!(d.constellation(), Some(Constellation::Glonass));
        assert_eq!(d.hdop, Some(0.64));
    }

    #[test]
    fn test_parse_18_prns() {
        let d =
            gsa("GNGSA,A,3,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,1.0,0.5,0.8,1").unwrap();
        assert_eq!(d.prns().len(), 18);
        assert_eq!(d.prns().last(), Some(&18));
        assert_eq!(d.system_id, Some(1));
    }

    #[test]
    fn test_sirf_trig_fourth_dop_is_ignored() {
        // beidou-bd.log: gpsd accepts it; the last field is a DOP, not a system id.
        let d = gsa("GPGSA,A,3,25,32,,,,,,,,,,,5.1,1.3,4.9,3.3").unwrap();
        assert_eq!(d.system_id, None);
        assert_eq!(d.prns(), &[25, 32]);
        assert_eq!(d.vdop, Some(4.9));
    }

    #[test]
    fn test_rejects() {
        assert_eq!(
            gsa("GPGSA,A,4,08,07,11,28,17,26,,,,,,,02.6,01.5,02.1"),
            Err(ParseError::Field {
                sentence: SentenceType::Gsa,
                field: 2
            })
        );
        assert!(gsa("GPGSA,A,3,08,07,11,28,17,26,,,,,,,02.6,01.5,02.1,1,2,3,4,5,6,7,8").is_err());
        assert!(gsa("GPGSA,A,3,08,07").is_err());
    }
}
