//! Per-sentence decoders: one `*Data` struct per sentence type, each in its own file with
//! the field layout drawn in its docs.
//!
//! Invariants: decoders read fields left to right through a shared reader that names the
//! failing field in the error; empty fields decode to `None`; missing trailing fields (older
//! NMEA versions) read as empty; extra trailing fields (newer versions) are ignored.
//! Each decoder checks a minimum field count so that a short, checksum-valid fragment is
//! not mistaken for a sentence.

mod gga;
mod gll;
mod gns;
mod gsa;
mod gst;
mod gsv;
mod rmc;
mod txt;
mod vtg;
mod zda;

pub use gga::{GgaData, GgaQuality};
pub use gll::GllData;
pub use gns::{GnsData, GnsModes};
pub use gsa::{FixType, GsaData};
pub use gst::GstData;
pub use gsv::{GsvData, GsvSatellite};
pub use rmc::RmcData;
pub use txt::TxtData;
pub use vtg::VtgData;
pub use zda::ZdaData;

use super::field::{self, Bad, FieldResult, Fields};
use super::{LatLon, ParseError, PosMode, SentenceType};

/// The fix rule of RMC and GLL: status A, and a mode indicator (when present) other than N.
pub(crate) fn status_fix(valid: Option<bool>, mode: Option<PosMode>) -> bool {
    valid == Some(true) && mode.is_none_or(|m| m.has_fix())
}

/// Reads the fields of one sentence and turns field errors into [`ParseError`]s.
pub(crate) struct Reader<'a, 'f> {
    fields: &'f mut Fields<'a>,
    sentence: SentenceType,
    min_fields: u8,
}

impl<'a, 'f> Reader<'a, 'f> {
    /// Starts reading a sentence that must have at least `min_fields` fields. The count
    /// is checked as fields are read (no separate pass): [`Reader::finish`] and any field
    /// error on a sentence that ran out of fields report [`ParseError::FieldCount`].
    pub(crate) fn new(
        fields: &'f mut Fields<'a>,
        sentence: SentenceType,
        min_fields: u8,
    ) -> Result<Self, ParseError> {
        Ok(Reader {
            fields,
            sentence,
            min_fields,
        })
    }

    /// Whether fields are left.
    pub(crate) fn has_more(&self) -> bool {
        self.fields.has_more()
    }

    /// How many of the sentence's fields have been read.
    pub(crate) fn fields_seen(&self) -> u8 {
        self.fields.present
    }

    /// Ends reading: fails when the sentence had fewer than the minimum number of fields.
    pub(crate) fn finish(&self) -> Result<(), ParseError> {
        match self.short() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The field-count error, when the sentence ran out of fields below the minimum.
    fn short(&self) -> Option<ParseError> {
        (!self.fields.has_more() && self.fields.present < self.min_fields).then_some(
            ParseError::FieldCount {
                sentence: self.sentence,
                found: self.fields.present,
            },
        )
    }

    /// The error for field `index`: a field-count error if the sentence is short.
    pub(crate) fn error_at(&self, index: u8) -> ParseError {
        self.short().unwrap_or(ParseError::Field {
            sentence: self.sentence,
            field: index,
        })
    }

    /// The next raw field.
    #[inline(always)]
    pub(crate) fn raw(&mut self) -> &'a [u8] {
        self.fields.next_field()
    }

    /// Parses the next field with `p`.
    #[inline(always)]
    pub(crate) fn get<T>(
        &mut self,
        p: impl FnOnce(&[u8]) -> FieldResult<T>,
    ) -> Result<Option<T>, ParseError> {
        let index = self.fields.index;
        let f = self.fields.next_field();
        p(f).map_err(|Bad| self.error_at(index))
    }

    /// Parses the next field, which must be empty or equal to `unit` (e.g. `M` after an
    /// altitude).
    #[inline(always)]
    pub(crate) fn unit(&mut self, unit: u8) -> Result<(), ParseError> {
        let index = self.fields.index;
        match self.fields.next_field() {
            [] => Ok(()),
            [c] if *c == unit => Ok(()),
            _ => Err(self.error_at(index)),
        }
    }

    /// Reads four fields `lat,N/S,lon,E/W`.
    #[inline(always)]
    pub(crate) fn lat_lon(&mut self) -> Result<Option<LatLon>, ParseError> {
        let index = self.fields.index;
        let lat = self.fields.next_field();
        let ns = self.fields.next_field();
        let lon = self.fields.next_field();
        let ew = self.fields.next_field();
        field::lat_lon(lat, ns, lon, ew)
            .map(|p| p.map(|(lat, lon)| LatLon { lat, lon }))
            .map_err(|Bad| self.error_at(index))
    }

    /// Reads a status field `A` (valid, `true`) or `V` (void, `false`).
    #[inline(always)]
    pub(crate) fn status(&mut self) -> Result<Option<bool>, ParseError> {
        let index = self.fields.index;
        match self.fields.next_field() {
            [] => Ok(None),
            b"A" => Ok(Some(true)),
            b"V" => Ok(Some(false)),
            _ => Err(self.error_at(index)),
        }
    }

    /// Reads a positioning-mode indicator.
    #[inline(always)]
    pub(crate) fn mode(&mut self) -> Result<Option<PosMode>, ParseError> {
        let index = self.fields.index;
        match self.fields.next_field() {
            [] => Ok(None),
            [c] => PosMode::from_byte(*c)
                .map(Some)
                .ok_or_else(|| self.error_at(index)),
            _ => Err(self.error_at(index)),
        }
    }
}

/// The fast paths (`parse_fast`) must agree with the general decoders on everything they
/// accept: on every GSV and GSA of the gpsd logs, on those sentences with bytes changed,
/// and on random fields.
#[cfg(test)]
mod fast_path_tests {
    use super::{GsaData, GsvData};
    use crate::nmea::field::Fields;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn check(kind: &[u8], fields: &[u8]) -> bool {
        let f = Some(fields);
        match kind {
            b"GSV" => GsvData::parse_fast(f).map(|fast| {
                assert_eq!(Ok(fast), GsvData::parse(&mut Fields::new(f)), "{fields:?}");
            }),
            b"GSA" => GsaData::parse_fast(f).map(|fast| {
                assert_eq!(Ok(fast), GsaData::parse(&mut Fields::new(f)), "{fields:?}");
            }),
            _ => None,
        }
        .is_some()
    }

    /// The fields of every GSV and GSA line of the gpsd logs, with their type.
    fn corpus() -> Vec<(Vec<u8>, Vec<u8>)> {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/gpsd-logs");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "log") {
                continue;
            }
            for line in std::fs::read(path).unwrap().split(|&b| b == b'\n') {
                let Some(body) = line.strip_prefix(b"$") else {
                    continue;
                };
                let end = body.iter().rposition(|&b| b == b'*').unwrap_or(body.len());
                if let (Some(kind @ (b"GSV" | b"GSA")), Some(b',')) = (body.get(2..5), body.get(5))
                {
                    out.push((kind.to_vec(), body[6..end].to_vec()));
                }
            }
        }
        out
    }

    #[test]
    fn test_fast_paths_agree_on_the_gpsd_logs() {
        let corpus = corpus();
        let fast = corpus.iter().filter(|(k, f)| check(k, f)).count();
        // Nearly every real sentence takes the fast path.
        assert!(
            fast * 100 >= corpus.len() * 95,
            "{fast} of {}",
            corpus.len()
        );
        // Every byte of every sentence replaced by each of a few telling bytes.
        for (kind, fields) in corpus.iter().step_by(10) {
            for i in 0..fields.len() {
                for b in *b",-+.09AaFx\0" {
                    let mut m = fields.clone();
                    m[i] = b;
                    check(kind, &m);
                    m.remove(i);
                    check(kind, &m);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        #[test]
        fn prop_fast_paths_agree(
            kind in prop_oneof![Just(&b"GSV"[..]), Just(&b"GSA"[..])],
            fields in "[0-9AM]{0,3}(,[-+.0-9A-F]{0,4}){0,23}",
        ) {
            check(kind, fields.as_bytes());
        }

        #[test]
        fn prop_fast_paths_agree_on_numbers(
            kind in prop_oneof![Just(&b"GSV"[..]), Just(&b"GSA"[..])],
            fields in proptest::collection::vec("[0-9]{0,4}|[0-9]\\.[0-9]{1,2}", 2..24),
        ) {
            check(kind, fields.join(",").as_bytes());
        }
    }
}
