//! Fuzz the jt808 decoder and its stream framer: no input may panic.
#![no_main]

use ects_firmware::seal::jt808::{Jt808Framing, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ects_fuzz::decode_and_stream::<Jt808Framing>(data, decode));
