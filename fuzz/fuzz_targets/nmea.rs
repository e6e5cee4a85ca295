//! Fuzzes the whole NMEA pipeline: framer → decoders → epoch assembler → integrity
//! monitor, with small and default framer buffers, and the mixed NMEA/UBX stream with
//! the NAV-PVT and MON-RF decoders. The framer's bulk `feed` must give exactly what its
//! byte-wise `push` gives. Built with `cfg(fuzzing)`, the framer
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

/// The framed results of `push` byte by byte and of `feed` (the input in two pieces, cut
/// where the first byte says) must be the same.
fn feed_equals_push<const N: usize>(data: &[u8], optional_checksum: bool) {
    let new = || {
        if optional_checksum {
            Framer::<N>::with_optional_checksum()
        } else {
            Framer::<N>::new()
        }
    };
    let mut framer = new();
    let mut pushed = Vec::new();
    for &b in data {
        if let Some(r) = framer.push(b) {
            pushed.push(r.map(|f| f.raw().to_vec()));
        }
    }
    let mut framer = new();
    let mut fed = Vec::new();
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (a, b) = data.split_at(cut);
    for mut part in [a, b] {
        while let Some(r) = framer.feed(&mut part) {
            fed.push(r.map(|f| f.raw().to_vec()));
        }
        assert!(part.is_empty());
    }
    assert_eq!(pushed, fed);
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
    feed_equals_push::<256>(data, false);
    feed_equals_push::<24>(data, true);
});
