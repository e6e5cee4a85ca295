//! Fuzz the native seal-reader protocol: arbitrary frames never panic and are never
//! accepted under a key the fuzzer does not know; a frame the fuzzer builds from its
//! input round-trips through emit → verify, and its replay is refused.
//! Build with `cargo fuzz` (it sets `cfg(fuzzing)`, which skips the CRC check so the
//! fuzzer reaches the MAC and counter logic).
#![no_main]

use ects_firmware::seal::native::{Event, MAX_FRAME, NativeError, ReportRepr, SealKey, Verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = SealKey([0x5a; 32]);
    let mut v: Verifier<4> = Verifier::new();
    let _ = v.add_seal(0x0042_0000_0000_1234, key.clone());
    // Arbitrary bytes: only errors, never an accepted report (the fuzzer cannot forge
    // an HMAC-SHA256 tag).
    assert!(v.verify(data).is_err());

    // Structured: build a report from the input and round-trip it.
    if data.len() >= 19 {
        let u64_at = |i: usize| u64::from_be_bytes(data[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_be_bytes(data[i..i + 4].try_into().unwrap_or([0; 4]));
        let event = match data[16] % 5 {
            0 => Event::Status,
            1 => Event::Sealed,
            2 => Event::Opened,
            3 => Event::Tamper,
            _ => Event::LowBattery,
        };
        let r = ReportRepr {
            seal: u64_at(0),
            counter: u32_at(8),
            time: u32_at(12),
            event,
            status: data[17] & 0x0f,
            battery_mv: u16::from(data[18]) * 20,
        };
        let mut buf = [0u8; MAX_FRAME];
        let n = r.emit(&key, &mut buf).expect("a report fits MAX_FRAME");
        let mut v: Verifier<1> = Verifier::new();
        v.add_seal(r.seal, key).expect("room for one seal");
        let d = v.verify(&buf[..n]).expect("an emitted frame verifies");
        assert_eq!(d.reports[0].index, Some(r.counter));
        assert!(matches!(
            v.verify(&buf[..n]),
            Err(NativeError::Replayed { .. })
        ));
    }
});
