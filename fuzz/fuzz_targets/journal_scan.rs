//! The journal's segment scanner on arbitrary bytes (a segment after bit rot or a torn
//! write): it must never panic, and what it calls valid must re-encode to the same bytes.
#![no_main]

use ects_gateway::journal::record::{scan, Record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = scan(data);
    assert!(s.valid_end <= data.len());
    for (offset, record) in &s.records {
        let mut buf: Vec<u8> = Vec::new();
        Record::encode_into(record, &mut buf);
        assert_eq!(&data[*offset..*offset + buf.len()], &buf[..]);
    }
});
