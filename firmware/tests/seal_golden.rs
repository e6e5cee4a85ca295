//! Golden tests: every frame in `tests/data/seal-frames/` (from Traccar's test suite,
//! Apache-2.0, see the README there) decoded and checked against the reference decoder's
//! assertions in the matching `.expect.tsv`, plus the framer cases in `jt600-framing.tsv`.
//!
//! The expectations are read from the TSV files, not written from our own output: the
//! number of positions (`verifyPosition` one, `verifyPositions` a list, `verifyNull`
//! none), exact `position(time, valid, lat, lon)` assertions, named attributes, and the
//! unit id named in the `frame_kind` column.

use ects_firmware::seal::framer::Framer;
use ects_firmware::seal::jt600::Jt600Framing;
use ects_firmware::seal::{Alarm, DecodeError, Decoded, FrameKind};
use ects_firmware::seal::{eseal, jt600, jt808, teratrack};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/seal-frames");

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

struct Row {
    line: usize,
    call: String,
    expected: String,
    frame_kind: String,
    frame: Vec<u8>,
}

fn rows(name: &str) -> Vec<Row> {
    let txt = std::fs::read_to_string(format!("{DATA}/{name}.txt")).expect("frames");
    let tsv = std::fs::read_to_string(format!("{DATA}/{name}.expect.tsv")).expect("expectations");
    let frames: Vec<&str> = txt.lines().collect();
    let mut out = Vec::new();
    for l in tsv.lines().skip(1) {
        let c: Vec<&str> = l.split('\t').collect();
        assert_eq!(c.len(), 5, "{name}: bad row {l}");
        let line: usize = c[0].parse().expect("line");
        let raw = frames[line - 1];
        let frame = match c[1] {
            "hex" => hex(raw),
            "ascii" => raw.as_bytes().to_vec(),
            e => panic!("unknown encoding {e}"),
        };
        out.push(Row {
            line,
            call: c[2].to_string(),
            expected: c[3].to_string(),
            frame_kind: c[4].to_string(),
            frame,
        });
    }
    assert_eq!(out.len(), frames.len(), "{name}: every frame has a row");
    out
}

/// `position("2011-02-16 05:59:10.000", true, 22.54977, -114.07705)` → its parts.
fn exact_position(expected: &str) -> Option<(String, bool, f64, f64)> {
    let start = expected.find("position(")? + "position(".len();
    let end = start + expected[start..].find(')')?;
    let parts: Vec<&str> = expected[start..end].split(',').map(str::trim).collect();
    let time = parts[0].trim_matches('"');
    // "2011-02-16 05:59:10.000" → "2011-02-16T05:59:10Z"
    let rfc = format!("{}T{}Z", &time[..10], &time[11..19]);
    Some((
        rfc,
        parts[1] == "true",
        parts[2].parse().ok()?,
        parts[3].parse().ok()?,
    ))
}

fn check_attribute(proto: &str, line: usize, d: &Decoded, expected: &str) {
    let r = d
        .reports
        .first()
        .unwrap_or_else(|| panic!("{proto}:{line}: no report"));
    let any_alarm = |a: Alarm| d.reports.iter().any(|r| r.alarms.contains(a));
    let attr = expected.trim_start_matches("attribute ").trim();
    match attr {
        "temp1, 27.5" => assert_eq!(r.temperature_c, Some(27.5), "{proto}:{line}"),
        "KEY_ALARM, ALARM_REMOVING" => assert!(any_alarm(Alarm::Removal), "{proto}:{line}"),
        "KEY_ALARM, ALARM_TAMPERING" => assert!(any_alarm(Alarm::Tamper), "{proto}:{line}"),
        "KEY_ALARM, ALARM_LOW_BATTERY + \",\" + ALARM_REMOVING" => {
            assert!(
                any_alarm(Alarm::LowBattery) && any_alarm(Alarm::Removal),
                "{proto}:{line}"
            )
        }
        "\"unlockResult\", 0x65" => {
            let u = r
                .unlock
                .as_ref()
                .unwrap_or_else(|| panic!("{proto}:{line}: no unlock"));
            assert_eq!(u.result_code, Some(0x65), "{proto}:{line}");
        }
        "\"lock2Battery\", 4.038" => {
            let l = r.locks.iter().find(|l| l.index == 2).expect("lock 2");
            assert_eq!(l.battery_mv, Some(4038), "{proto}:{line}");
        }
        "\"lock1Locked\", false" => {
            let l = r.locks.iter().find(|l| l.index == 1).expect("lock 1");
            assert_eq!(l.locked, Some(false), "{proto}:{line}");
        }
        "KEY_CHARGE, true" => assert_eq!(r.charging, Some(true), "{proto}:{line}"),
        "\"tilt\", \"[-104,-88,126]\"" => {
            assert_eq!(r.tilt, Some([-104, -88, 126]), "{proto}:{line}")
        }
        a if a.starts_with("KEY_RESULT, \"(") => {
            // Deliberate difference: the reference keeps the whole command result; we mask
            // its last field (an ELOCK command carries the unlock password) and keep the rest.
            let want = a.trim_start_matches("KEY_RESULT, \"").trim_end_matches('"');
            let kept = &want[..want.rfind(',').expect("fields") + 1];
            let got = r.result.as_ref().expect("result");
            assert!(
                got.starts_with(kept) && got.ends_with("***)"),
                "{proto}:{line}: {got}"
            );
        }
        other => panic!("{proto}:{line}: no check for assertion `{other}`"),
    }
}

fn check(proto: &str, row: &Row, res: Result<Decoded, DecodeError>) {
    let line = row.line;
    let d = res.unwrap_or_else(|e| panic!("{proto}:{line}: {e}"));
    let positions = d.reports.iter().filter(|r| r.position.is_some()).count();
    match row.call.as_str() {
        "verifyNull" => assert_eq!(positions, 0, "{proto}:{line}: expected no position"),
        "verifyPosition" => {
            assert_eq!(d.reports.len(), 1, "{proto}:{line}");
            assert_eq!(positions, 1, "{proto}:{line}: expected one position");
        }
        "verifyPositions" => {
            assert!(
                positions >= 1,
                "{proto}:{line}: expected a list of positions"
            );
            assert_eq!(positions, d.reports.len(), "{proto}:{line}");
        }
        "verifyAttribute" => check_attribute(proto, line, &d, &row.expected),
        "verifyAttributes" => assert_eq!(positions, 1, "{proto}:{line}"),
        c => panic!("{proto}:{line}: unknown test call {c}"),
    }
    if let Some((time, valid, lat, lon)) = exact_position(&row.expected) {
        let p = d.reports[0].position.as_ref().expect("position");
        // Tolerance as in the reference test suite (1e-5 degrees).
        assert_eq!(
            p.fix_time.map(|t| t.to_string()),
            Some(time),
            "{proto}:{line}"
        );
        assert_eq!(p.valid, valid, "{proto}:{line}");
        assert!(
            (p.lat() - lat).abs() < 1e-5,
            "{proto}:{line}: lat {} != {lat}",
            p.lat()
        );
        assert!(
            (p.lon() - lon).abs() < 1e-5,
            "{proto}:{line}: lon {} != {lon}",
            p.lon()
        );
    }
    if let Some(at) = row.frame_kind.find("unit id ") {
        let id: String = row.frame_kind[at + 8..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        assert_eq!(
            d.device.as_deref(),
            Some(id.as_str()),
            "{proto}:{line}: device id"
        );
    }
    if row.frame_kind.contains("type @JT") {
        assert_eq!(d.kind, FrameKind::Heartbeat, "{proto}:{line}");
    }
}

#[test]
fn jt600_frames() {
    for row in rows("jt600") {
        check("jt600", &row, jt600::decode(&row.frame));
    }
}

#[test]
fn jt600_framing_cases() {
    let tsv = std::fs::read_to_string(format!("{DATA}/jt600-framing.tsv")).expect("framing");
    let mut n = 0;
    for l in tsv.lines().skip(1) {
        let (input, want) = l.split_once('\t').expect("two columns");
        let (input, want) = (hex(input), hex(want));
        // The whole input in one read, and the same input one byte at a time.
        for chunk in [input.len(), 1] {
            let mut framer: Framer<Jt600Framing, 1024> = Framer::new();
            let mut out = [0u8; 1024];
            let mut got = None;
            for c in input.chunks(chunk) {
                assert_eq!(framer.push(c), c.len());
                if let Some(f) = framer.next_frame(&mut out) {
                    got = Some(f.expect("frame").to_vec());
                    break;
                }
            }
            assert_eq!(got.as_deref(), Some(want.as_slice()), "framing case {l}");
        }
        // Each emitted frame also decodes.
        jt600::decode(&want).unwrap_or_else(|e| panic!("framed frame does not decode: {e}: {l}"));
        n += 1;
    }
    assert_eq!(n, 11);
}

#[test]
fn jt600_replies() {
    let rows = rows("jt600");
    let reply = |line: usize| {
        let d = jt600::decode(&rows[line - 1].frame).expect("decodes");
        d.reply
            .map(|r| String::from_utf8(r.as_bytes().to_vec()).expect("text"))
    };
    // U01–U03 → (S39); U06 → (S20); P45 → (P69,0,<index>).
    for line in [21, 22, 23, 26, 27, 37, 39, 41] {
        assert_eq!(reply(line).as_deref(), Some("(S39)"), "line {line}");
    }
    for line in [25, 29, 30, 40] {
        assert_eq!(reply(line).as_deref(), Some("(S20)"), "line {line}");
    }
    assert_eq!(reply(3).as_deref(), Some("(P69,0,0)"));
    assert_eq!(reply(5).as_deref(), Some("(P69,0,9)"));
    // Long binary frames whose status asks for an acknowledgement (bit 5): (P35) below
    // protocol 0x19, (P69,0,<index>) from 0x19 on.
    assert_eq!(reply(4).as_deref(), Some("(P35)"));
    assert_eq!(reply(6).as_deref(), Some("(P69,0,110)"));
    // Heartbeats, unsupported types and short binary frames get no reply.
    for line in [24, 28, 31, 38] {
        assert_eq!(reply(line), None, "line {line}");
    }
}

#[test]
fn eseal_frames() {
    for row in rows("eseal") {
        let d = eseal::decode(&row.frame);
        check("eseal", &row, d.clone());
        let d = d.expect("decodes");
        // `Startup OK` and `RC-NFC DEL ACK` are the seal answering us: nothing to acknowledge.
        if row.frame_kind.contains(" OK") || row.frame_kind.contains(" ACK") {
            assert_eq!(d.kind, FrameKind::Reply, "eseal:{}", row.line);
            assert!(d.reply.is_none(), "eseal:{}", row.line);
        } else {
            let reply = d.reply.expect("report is acknowledged");
            let text = std::str::from_utf8(reply.as_bytes()).expect("text");
            let index = d.reports[0].index.expect("index");
            let kind = d.reports[0].msg_type.as_str();
            assert!(
                text.contains(&format!(",{kind} ACK,{index},")),
                "eseal:{}: {text}",
                row.line
            );
            assert!(text.starts_with("##S,eSeal,") && text.ends_with(",E##\r\n"));
        }
    }
}

#[test]
fn jt808_frames() {
    for mut row in rows("jt808-elock") {
        if row.line == 3 {
            // Deliberate difference: the capture's XOR check byte is wrong (0x1b; the
            // XOR of the frame is 0x86). The reference decoder does not verify it and
            // yields a position; we refuse the frame, so the terminal is not acknowledged
            // and resends it. With the check byte corrected it must decode as asserted.
            assert_eq!(
                jt808::decode(&row.frame),
                Err(DecodeError::BadChecksum {
                    calculated: 0x86,
                    found: 0x1b
                })
            );
            let at = row.frame.len() - 2;
            row.frame[at] = 0x86;
        }
        check("jt808", &row, jt808::decode(&row.frame));
    }
}

#[test]
fn jt808_replies() {
    let rows = rows("jt808-elock");
    let decode = |line: usize| jt808::decode(&rows[line - 1].frame).expect("decodes");
    assert!(
        jt808::decode(&rows[2].frame).is_err(),
        "line 3 has a bad check byte"
    );
    // 0x0200 → platform general reply 0x8001 {terminal index, 0x0200, 0 = success}.
    let r = decode(1).reply.expect("reply");
    assert!(!r.is_text());
    let b = r.as_bytes();
    assert_eq!(&b[..3], &[0x7e, 0x80, 0x01], "message id 0x8001");
    assert_eq!(&b[3..5], &[0x00, 0x05], "body length 5");
    assert_eq!(&b[5..11], &rows[0].frame[5..11], "terminal id echoed");
    assert_eq!(
        &b[13..18],
        &[0x00, 0x16, 0x02, 0x00, 0x00],
        "index 0x0016, id 0x0200, ok"
    );
    let xor = b[1..b.len() - 2].iter().fold(0u8, |a, x| a ^ x);
    assert_eq!(b[b.len() - 2], xor, "checksum");
    // 0x5501 with attribute bit 15 → 0x4401 {0x5501, 0}.
    let r = decode(2).reply.expect("reply");
    assert_eq!(&r.as_bytes()[..3], &[0x7e, 0x44, 0x01]);
    // 0x5502 positions are replayed from the blind-area buffer.
    assert!(decode(4).reports[0].buffered);
    assert!(!decode(2).reports[0].buffered);
    // The ELOCK command result is the device answering us.
    assert_eq!(decode(11).kind, FrameKind::Reply);
    assert!(decode(11).reply.is_none());
}

#[test]
fn teratrack_frames() {
    for row in rows("teratrack") {
        let d = teratrack::decode(&row.frame);
        check("teratrack", &row, d.clone());
        let d = d.expect("decodes");
        // Both frames carry "MessageAck":"1": the lock waits for `{01}`.
        assert_eq!(
            d.reply.expect("ack").as_bytes(),
            b"{01}",
            "teratrack:{}",
            row.line
        );
    }
    let rows = rows("teratrack");
    // Line 2: the "SealTempered" spelling, and two slave locks after the master.
    let d = teratrack::decode(&rows[1].frame).expect("decodes");
    assert!(d.reports[0].alarms.contains(Alarm::Tamper));
    assert_eq!(d.reports[0].locks.len(), 3);
}
