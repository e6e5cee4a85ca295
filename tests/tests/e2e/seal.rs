//! `ects-gateway decode seal` as a real process on the seal captures and on native frames.

use std::io::Write;
use std::process::{Command, Stdio};

use ects_e2e::bin;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../firmware/tests/data/seal-frames"
);

/// The documented test vector of docs/protocol.md (key: 32 bytes of 0x11).
const VECTOR: &str =
    "ec75010100140042000000001234000000076929c70003020e100fae11c66ff9d1ef4842df3106c0b38a6f54";

fn decode_seal(args: &[&str], stdin: Option<&str>) -> Vec<serde_json::Value> {
    let mut child = Command::new(bin("ects-gateway"))
        .args(["decode", "seal"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .map(|l| {
            assert!(
                l.starts_with(r#"{"line":"#),
                "keys in the documented order: {l}"
            );
            serde_json::from_str(l).unwrap()
        })
        .collect()
}

#[test]
fn every_capture_line_gives_one_object() {
    for (file, protocol) in [
        ("jt600", "jt600"),
        ("jt808-elock", "jt808"),
        ("eseal", "eseal"),
        ("teratrack", "teratrack"),
    ] {
        let path = format!("{DATA}/{file}.txt");
        let frames = std::fs::read_to_string(&path).unwrap().lines().count();
        let lines = decode_seal(&["--protocol", protocol, &path], None);
        assert_eq!(lines.len(), frames, "{file}");
        for (i, v) in lines.iter().enumerate() {
            assert_eq!(v["line"], i + 1);
            assert_eq!(v["protocol"], protocol);
        }
    }
}

#[test]
fn native_frames_from_stdin_with_a_key_file() {
    let dir = std::env::temp_dir().join(format!("ects-seal-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("keys");
    std::fs::write(
        &keys,
        format!("# test key\n0042-000000001234={}\n", "11".repeat(32)),
    )
    .unwrap();
    let input = format!("{VECTOR}\n{VECTOR}\n");
    let lines = decode_seal(
        &[
            "--protocol",
            "native",
            "--keys",
            keys.to_str().unwrap(),
            "-",
        ],
        Some(&input),
    );
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["kind"], "event");
    assert_eq!(lines[0]["reports"][0]["alarms"][0], "cut");
    assert!(lines[0]["reply"].as_str().unwrap().starts_with("ec750181"));
    assert_eq!(lines[1]["reports"][0]["spoofed"], "replayed");
    // Without the key the same frame is a spoof of an unknown seal.
    let lines = decode_seal(&["--protocol", "native"], Some(VECTOR));
    assert_eq!(lines[0]["reports"][0]["spoofed"], "unknown_key");
    std::fs::remove_dir_all(&dir).unwrap();
}
