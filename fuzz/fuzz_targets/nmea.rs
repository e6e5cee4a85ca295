//! Fuzzes the whole NMEA pipeline: framer → decoders → epoch assembler → integrity
//! monitor, with small and default framer buffers, and the mixed NMEA/UBX stream with
//! the NAV-PVT and MON-RF decoders. Built with `cfg(fuzzing)`, the framer
//! skips checksum verification so that mutated input reaches the decoders.
//!
//! Run: `cargo +nightly fuzz run nmea` from the repository root.

#![no_main]

use ects_firmware::nmea::fix::FixAssembler;
use ects_firmware::nmea::framer::Framer;
use ects_firmware::nmea::integrity::IntegrityMonitor;
use ects_firmware::nmea::parse;
use ects_firmware::ubx::{MixedFramer, MixedItem, UbxMessage};
use libfuzzer_sys::fuzz_target;

fn run<const N: usize>(data: &[u8]) {
    let mut framer = Framer::<N>::new();
    let mut asm = FixAssembler::new();
    let mut monitor = IntegrityMonitor::new(Default::default());
    for &b in data {
        let Some(Ok(frame)) = framer.push(b) else {
            continue;
        };
        assert!(frame.raw().len() <= N);
        let Ok(s) = parse(frame.body()) else { continue };
        let _ = asm.sentence_fix(&s);
        if let Some(fix) = asm.push(&s) {
            let _ = monitor.step(&fix);
        }
    }
    let _ = framer.finish();
    if let Some(fix) = asm.flush() {
        let _ = monitor.step(&fix);
    }
}

/// The same bytes as a mixed NMEA/UBX serial stream.
fn run_mixed(data: &[u8]) {
    let mut framer = MixedFramer::new();
    let mut monitor = IntegrityMonitor::new(Default::default());
    for &b in data {
        match framer.push(b) {
            Some(MixedItem::Ubx(Ok(frame))) => match frame.message() {
                Ok(UbxMessage::NavPvt(pvt)) => {
                    let _ = monitor.step(&pvt.to_fix());
                }
                Ok(UbxMessage::MonRf(rf)) => {
                    let _ = monitor.step_mon_rf(&rf);
                }
                _ => {}
            },
            Some(MixedItem::Nmea(Ok(frame))) => {
                let _ = parse(frame.body());
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    run::<256>(data);
    run::<24>(data);
    run_mixed(data);
});
