//! Fuzz the teratrack decoder and its stream framer: no input may panic.
#![no_main]

use ects_firmware::seal::teratrack::{TeraTrackFraming, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ects_fuzz::decode_and_stream::<TeraTrackFraming>(data, decode));
