//! Property tests for the seal decoders and framers: no panic on any input, streaming
//! framers independent of how reads split the stream, and the native protocol's
//! emit → verify round trip with its rejections.

use ects_firmware::seal::eseal::EsealFraming;
use ects_firmware::seal::framer::{Framer, Framing};
use ects_firmware::seal::jt600::Jt600Framing;
use ects_firmware::seal::jt808::Jt808Framing;
use ects_firmware::seal::native::{
    Event, MAX_FRAME, NativeError, NativeFraming, ReportRepr, SealKey, Verifier,
};
use ects_firmware::seal::teratrack::TeraTrackFraming;
use ects_firmware::seal::{eseal, jt600, jt808, teratrack};
use proptest::prelude::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/seal-frames");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The capture frames of a protocol as bytes.
fn frames(name: &str) -> Vec<Vec<u8>> {
    let txt = std::fs::read_to_string(format!("{DATA}/{name}.txt")).expect("frames");
    txt.lines()
        .map(|l| {
            if l.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex(l)
            } else {
                l.as_bytes().to_vec()
            }
        })
        .collect()
}

/// Runs `stream` through a framer in chunks of the given sizes; returns the frames.
fn frame_all<F: Framing>(stream: &[u8], chunks: &[usize]) -> Vec<Vec<u8>> {
    let mut framer: Framer<F, 2048> = Framer::new();
    let mut out = vec![0u8; 4096];
    let mut got = Vec::new();
    let mut rest = stream;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        let mut piece = &rest[..n];
        rest = &rest[n..];
        while !piece.is_empty() {
            let taken = framer.push(piece);
            piece = &piece[taken..];
            while let Some(f) = framer.next_frame(&mut out) {
                if let Ok(f) = f {
                    got.push(f.to_vec());
                }
            }
        }
    }
    got
}

fn key(b: u8) -> SealKey {
    SealKey([b; 32])
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Status),
        Just(Event::Sealed),
        Just(Event::Opened),
        Just(Event::Tamper),
        Just(Event::LowBattery)
    ]
}

fn repr() -> impl Strategy<Value = ReportRepr> {
    (
        any::<u64>(),
        0u32..u32::MAX,
        any::<u32>(),
        event(),
        0u8..16,
        any::<u16>(),
    )
        .prop_map(
            |(seal, counter, time, event, status, battery_mv)| ReportRepr {
                seal,
                counter,
                time,
                event,
                status,
                battery_mv,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = jt600::decode(&bytes);
        let _ = jt808::decode(&bytes);
        let _ = eseal::decode(&bytes);
        let _ = teratrack::decode(&bytes);
        let mut v: Verifier<2> = Verifier::new();
        let _ = v.verify(&bytes);
    }

    /// Real frames with one byte changed, truncated or extended still never panic.
    #[test]
    fn mutated_captures_never_panic(pick in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), b in any::<u8>(), cut in any::<prop::sample::Index>()) {
        for (name, decode) in [
            ("jt600", jt600::decode as fn(&[u8]) -> _),
            ("jt808-elock", jt808::decode),
            ("eseal", eseal::decode),
            ("teratrack", teratrack::decode),
        ] {
            let all = frames(name);
            let mut f = pick.get(&all).clone();
            let i = at.index(f.len());
            f[i] = b;
            let _ = decode(&f);
            let _ = decode(&f[..cut.index(f.len() + 1)]);
            f.push(b);
            let _ = decode(&f);
        }
    }

    /// Framers return the same frames however the stream is split into reads, with
    /// garbage between frames.
    #[test]
    fn jt600_framer_ignores_read_boundaries(chunks in proptest::collection::vec(1usize..64, 1..8), noise in proptest::collection::vec(any::<u8>().prop_filter("no frame start", |b| *b != b'$' && *b != b'('), 0..8)) {
        let captures = frames("jt600");
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for f in &captures {
            // Binary frames and ASCII frames without binary content round-trip verbatim.
            if f[0] == b'$' || !f[1..f.len() - 1].iter().any(|b| matches!(b, b'(' | b')' | b'=')) {
                stream.extend_from_slice(&noise);
                stream.extend_from_slice(f);
                expected.push(f.clone());
            }
        }
        prop_assert_eq!(frame_all::<Jt600Framing>(&stream, &chunks), expected);
    }

    #[test]
    fn jt808_framer_ignores_read_boundaries(chunks in proptest::collection::vec(1usize..64, 1..8)) {
        let captures = frames("jt808-elock");
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for f in &captures {
            // Skip the capture whose body holds an unstuffed 7E: no framer can split it.
            if f[0] != 0x7e || !f[1..f.len() - 1].contains(&0x7e) {
                stream.extend_from_slice(b"\r\n");
                stream.extend_from_slice(f);
                expected.push(f.clone());
            }
        }
        prop_assert_eq!(frame_all::<Jt808Framing>(&stream, &chunks), expected);
    }

    #[test]
    fn text_framers_ignore_read_boundaries(chunks in proptest::collection::vec(1usize..64, 1..8)) {
        let eseal = frames("eseal");
        let stream: Vec<u8> = eseal.iter().flat_map(|f| [f.as_slice(), b"\r\n"].concat()).collect();
        prop_assert_eq!(frame_all::<EsealFraming>(&stream, &chunks), eseal);
        let json = frames("teratrack");
        let stream: Vec<u8> = json.iter().flat_map(|f| [b"\n ".as_slice(), f.as_slice()].concat()).collect();
        prop_assert_eq!(frame_all::<TeraTrackFraming>(&stream, &chunks), json);
    }

    #[test]
    fn native_round_trip(r in repr(), k in any::<u8>()) {
        let mut buf = [0u8; MAX_FRAME];
        let n = r.emit(&key(k), &mut buf).expect("fits");
        prop_assert_eq!(n, r.buffer_len());
        let mut v: Verifier<1> = Verifier::new();
        v.add_seal(r.seal, key(k)).expect("room");
        let d = v.verify(&buf[..n]).expect("authentic");
        prop_assert_eq!(d.reports[0].index, Some(r.counter));
        prop_assert_eq!(d.reports[0].battery_mv, Some(r.battery_mv));
        prop_assert_eq!(v.last_counter(r.seal), Some(r.counter));
        // The same frame again is a replay; it never advances the counter.
        let replay = v.verify(&buf[..n]);
        prop_assert_eq!(replay, Err(NativeError::Replayed { seal: r.seal, counter: r.counter, last: r.counter }));
        // Through the stream framer, split anywhere, the frame comes out whole.
        let frames = frame_all::<NativeFraming>(&[&[0u8, 1, 2][..], &buf[..n]].concat(), &[3, 5]);
        prop_assert_eq!(frames, vec![buf[..n].to_vec()]);
    }

    /// Any single-bit change to an authentic frame is rejected, and never accepted as
    /// a different report.
    #[test]
    fn native_bit_flips_are_rejected(r in repr(), bit in 0usize..(44 * 8)) {
        let mut buf = [0u8; MAX_FRAME];
        let n = r.emit(&key(1), &mut buf).expect("fits");
        buf[bit / 8] ^= 1 << (bit % 8);
        let mut v: Verifier<1> = Verifier::new();
        v.add_seal(r.seal, key(1)).expect("room");
        prop_assert!(v.verify(&buf[..n]).is_err());
        prop_assert_eq!(v.last_counter(r.seal), None);
    }
}
