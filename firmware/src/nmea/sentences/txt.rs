//! TXT: text transmission.

use super::Reader;
use crate::nmea::field::{self, Fields};
use crate::nmea::{ParseError, SentenceType};

/// TXT - Text Transmission (receiver banners, antenna status, warnings).
///
/// ```text
///         1  2  3  4
///         |  |  |  |
///  $--TXT,xx,xx,xx,c--c*hh<CR><LF>
/// ```
/// 1 total number of sentences, 2 sentence number, 3 text identifier, 4 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxtData<'a> {
    /// Total number of sentences in this message.
    pub total: Option<u8>,
    /// This sentence's number (1-based).
    pub number: Option<u8>,
    /// Text identifier (e.g. 00 error, 01 warning, 02 notice, 07 user).
    pub ident: Option<u8>,
    /// The text (printable ASCII; a text containing commas is cut at the first one).
    pub text: &'a str,
}

impl<'a> TxtData<'a> {
    pub(crate) fn parse(f: &mut Fields<'a>) -> Result<Self, ParseError> {
        let mut r = Reader::new(f, SentenceType::Txt, 4)?;
        let total = r.get(field::uint_as::<u8>)?;
        let number = r.get(field::uint_as::<u8>)?;
        let ident = r.get(field::uint_as::<u8>)?;
        let raw = r.raw();
        let text = core::str::from_utf8(raw).map_err(|_| r.error_at(4))?;
        let data = TxtData {
            total,
            number,
            ident,
            text,
        };
        r.finish()?;
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use crate::nmea::{SentenceData, parse};

    #[test]
    fn test_parse() {
        let s = parse(b"GNTXT,01,01,02,ANTENNA OK").unwrap();
        let SentenceData::Txt(d) = s.data else {
            panic!()
        };
        assert_eq!((d.total, d.number, d.ident), (Some(1), Some(1), Some(2)));
        assert_eq!(d.text, "ANTENNA OK");
        assert!(parse(b"GNTXT,01,01").is_err());
    }
}
