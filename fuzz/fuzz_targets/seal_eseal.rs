//! Fuzz the eseal decoder and its stream framer: no input may panic.
#![no_main]

use ects_firmware::seal::eseal::{EsealFraming, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ects_fuzz::decode_and_stream::<EsealFraming>(data, decode));
