//! The README's demo command as a real process, its output checked by the real verifier.

use std::process::{Command, Stdio};

use ects_e2e::bin;
use ects_gateway::payload::to_json_value;

fn demo(args: &[&str]) -> (String, String) {
    let out = Command::new(bin("ects-gateway"))
        .arg("demo")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn demo_output_passes_the_verifier_process() {
    let mut gateway = Command::new(bin("ects-gateway"))
        .arg("demo")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let verify = Command::new(bin("ects-tools"))
        .arg("verify")
        .stdin(gateway.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(gateway.wait().unwrap().success());
    let report = String::from_utf8(verify.stdout).unwrap();
    assert!(verify.status.success(), "{report}");
    let (events, stderr) = demo(&[]);
    let n = events.lines().count();
    assert!(n > 3, "{events}");
    assert_eq!(
        report.trim_end().lines().last(),
        Some(format!("verify: {n} passed, 0 failed").as_str())
    );
    assert!(stderr.contains(&format!("{n} events written")), "{stderr}");
}

#[test]
fn verifier_process_fails_on_a_bad_event() {
    let (events, _) = demo(&[]);
    let broken = events.replacen("\"severity\":\"info\"", "\"severity\":\"urgent\"", 1);
    let mut child = Command::new(bin("ects-tools"))
        .arg("verify")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), broken.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(!out.status.success());
    assert!(report.contains("line 1: /severity"), "{report}");
    assert!(report.contains(" 1 failed"), "{report}");
}

#[test]
fn cbor_demo_carries_the_same_events_as_json() {
    let (json, _) = demo(&[]);
    let (cbor_hex, _) = demo(&["--encoding", "cbor"]);
    let from_json: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let from_cbor: Vec<serde_json::Value> = cbor_hex
        .lines()
        .map(|l| {
            let bytes: Vec<u8> = (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                .collect();
            to_json_value(&bytes).unwrap()
        })
        .collect();
    assert_eq!(from_json, from_cbor);
    assert!(cbor_hex.len() / 2 < json.len());
}

#[test]
fn demo_reads_a_capture_from_stdin_and_rejects_a_bad_gateway_id() {
    let mut child = Command::new(bin("ects-gateway"))
        .args(["demo", "--gps", "-", "--gateway", "ug-busia-02"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let capture =
        "$GPRMC,100000.00,A,0038.0000,N,03416.0000,E,10.0,90.0,281126,,,A*52\r\ngarbage\r\n";
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), capture.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("\"id\":\"ug-busia-02:2\""), "{stdout}");

    let out = Command::new(bin("ects-gateway"))
        .args(["demo", "--gateway", "ug/busia"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--gateway \"ug/busia\""));
}

#[test]
fn demo_goes_through_a_journal_that_keeps_ids_unique_across_runs() {
    let dir = std::env::temp_dir().join(format!("ects-e2e-demo-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().unwrap();
    let (first, _) = demo(&["--journal", dir_arg]);
    let (second, _) = demo(&["--journal", dir_arg]);
    let ids = |out: &str| -> Vec<u64> {
        out.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .map(|id| id.rsplit_once(':').unwrap().1.parse().unwrap())
            .collect()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert_eq!(a.first(), Some(&1));
    assert!(
        b.first() > a.last(),
        "a restarted journal never reuses an id: {a:?} then {b:?}"
    );
    let stat = Command::new(bin("ects-gateway"))
        .args(["journal", "stat", "--dir", dir_arg])
        .output()
        .unwrap();
    let stat = String::from_utf8(stat.stdout).unwrap();
    assert!(
        stat.contains("backlog:         0 events, 0 positions"),
        "everything was acknowledged: {stat}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The README's first command, `./demo.sh`: broker, gateway service and simulated truck as
/// real processes; central must see every alarm the script stages, once.
#[test]
fn demo_script_shows_every_staged_alarm_once() {
    // Built by the harness already; the script builds the same debug binaries (a no-op).
    let _ = (bin("ects-gateway"), bin("ects-tools"));
    let out = Command::new(ects_e2e::repo_root().join("demo.sh"))
        .env("ECTS_DEMO_DEBUG", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for ty in [
        "trip.armed",
        "route.deviation",
        "route.returned",
        "stop.unauthorized",
        "gps.jamming",
        "gps.restored",
        "seal.tampered",
    ] {
        let n = stdout.matches(&format!("\"type\":\"{ty}\"")).count();
        assert_eq!(n, 1, "{ty} seen {n} times:\n{stdout}\n{stderr}");
    }
    assert_eq!(stdout.matches("\"type\":\"gps.jump\"").count(), 0);
    assert!(stderr.contains("what central received"), "{stderr}");
    let last = stdout.lines().rfind(|l| l.contains("/status ")).unwrap();
    assert!(last.contains("\"state\":\"offline\""), "{last}");
}
