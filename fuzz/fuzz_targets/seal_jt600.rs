//! Fuzz the jt600 decoder and its stream framer: no input may panic.
#![no_main]

use ects_firmware::seal::jt600::{Jt600Framing, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ects_fuzz::decode_and_stream::<Jt600Framing>(data, decode));
