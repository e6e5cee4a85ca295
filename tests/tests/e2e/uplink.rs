//! The uplink against a real mosquitto: every journal record reaches a subscriber at least
//! once across broker restarts and a SIGKILLed gateway, and the status topic tells the
//! truth (birth, Last Will, explicit offline).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ects_e2e::{Mosquitto, Subscriber, bin, journal_dump, scratch};

const GATEWAY: &str = "e2e-gw";

/// A journal holding `n` records (every 5th critical), as `journal soak` writes them.
fn journal_with(dir: &Path, n: u64) -> BTreeSet<u64> {
    let out = Command::new(bin("ects-gateway"))
        .args([
            "journal",
            "soak",
            "--critical-every",
            "5",
            "--count",
            &n.to_string(),
            "--dir",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let seqs: BTreeSet<u64> = journal_dump(dir).into_iter().map(|(_, seq)| seq).collect();
    assert_eq!(seqs.len() as u64, n);
    seqs
}

/// `journal drain` at 2,500 records/s, so that 10,000 take about 4 s and the faults the
/// tests inject land mid-stream.
fn drain(dir: &Path, port: u16, follow: bool) -> Child {
    let mut cmd = Command::new(bin("ects-gateway"));
    cmd.args([
        "journal",
        "drain",
        "--gateway",
        GATEWAY,
        "--keep-alive-s",
        "2",
        "--max-rate",
        "2500",
        "--resend-delay-s",
        "3",
    ])
    .arg("--broker")
    .arg(format!("127.0.0.1:{port}"))
    .arg("--dir")
    .arg(dir)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if follow {
        cmd.arg("--follow");
    }
    cmd.spawn().unwrap()
}

/// Sequence numbers received on the event topics (soak payloads are `{"soak":<seq>}`).
fn event_seqs(received: &[(String, String)]) -> BTreeSet<u64> {
    received
        .iter()
        .filter(|(t, _)| t.starts_with(&format!("ects/v1/{GATEWAY}/events/")))
        .filter_map(|(_, p)| serde_json::from_str::<serde_json::Value>(p).ok()?["soak"].as_u64())
        .collect()
}

fn statuses(received: &[(String, String)]) -> Vec<String> {
    received
        .iter()
        .filter(|(t, _)| t == &format!("ects/v1/{GATEWAY}/status"))
        .filter_map(|(_, p)| {
            Some(
                serde_json::from_str::<serde_json::Value>(p).ok()?["state"]
                    .as_str()?
                    .to_string(),
            )
        })
        .collect()
}

fn missing(expected: &BTreeSet<u64>, sub: &Subscriber) -> String {
    let m: Vec<u64> = expected
        .difference(&event_seqs(&sub.received()))
        .copied()
        .collect();
    format!(
        "{} missing: {:?} … {:?}",
        m.len(),
        &m[..m.len().min(10)],
        &m[m.len().saturating_sub(5)..]
    )
}

fn backlog(dir: &Path) -> String {
    let out = Command::new(bin("ects-gateway"))
        .args(["journal", "stat", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.contains("backlog:"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn ten_thousand_events_arrive_across_broker_restarts() {
    let dir = scratch("uplink-restart");
    let expected = journal_with(&dir, 10_000);
    let mut broker = Mosquitto::start("restart");
    let sub = Subscriber::start(
        broker.port,
        "central-restart",
        &format!("ects/v1/{GATEWAY}/#"),
    );
    std::thread::sleep(Duration::from_millis(300)); // the subscription is in place
    let gw = drain(&dir, broker.port, false);

    // Restart the broker twice mid-stream (it saves the subscriber's session on SIGTERM).
    for threshold in [2_500, 6_000] {
        assert!(
            sub.wait_for(Duration::from_secs(60), |r| event_seqs(r).len()
                >= threshold)
        );
        if threshold == 2_500 {
            // Critical events first: the 2,000 of the backlog arrive before any position.
            let first: Vec<String> = sub
                .received()
                .into_iter()
                .filter(|(t, _)| t.contains("/events/"))
                .take(2_000)
                .map(|(t, _)| t)
                .collect();
            let lesser = first.iter().filter(|t| !t.ends_with("/critical")).count();
            assert_eq!(lesser, 0, "the critical backlog went first");
        }
        let got = event_seqs(&sub.received()).len();
        assert!(
            got < 10_000,
            "the stream ended before the restart at {threshold}: {got}"
        );
        broker.stop();
        std::thread::sleep(Duration::from_millis(500));
        broker.restart();
    }
    let out = gw.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "drain failed: {report}");
    let connections: u32 = report
        .split_whitespace()
        .rev()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(connections >= 2, "reconnected after the restarts: {report}");
    assert!(
        sub.wait_for(Duration::from_secs(30), |r| event_seqs(r)
            .is_superset(&expected)),
        "{}",
        missing(&expected, &sub)
    );
    assert!(
        backlog(&dir).contains("0 events, 0 positions"),
        "journal ends fully acknowledged: {}",
        backlog(&dir)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The broker restarts without its state — its persistence wiped (a crashed disk, a fresh
/// container) or never written (SIGKILL before any autosave): what it had acknowledged but
/// not yet delivered is gone, central's subscriber has lost its session too and comes back
/// later, and what the gateway published meanwhile reached nobody. The gateway notices (no
/// session at the reconnect) and, after its resend delay, sends again what it had
/// acknowledged in the resend window: every id arrives.
fn every_event_arrives_when_the_broker_loses_its_state(name: &str, crash: bool) {
    let dir = scratch(name);
    let expected = journal_with(&dir, 10_000);
    let mut broker = Mosquitto::start(name);
    let filter = format!("ects/v1/{GATEWAY}/#");
    let client = format!("central-{name}");
    let first = Subscriber::start(broker.port, &client, &filter);
    std::thread::sleep(Duration::from_millis(300));
    let gw = drain(&dir, broker.port, false);
    assert!(first.wait_for(Duration::from_secs(60), |r| event_seqs(r).len() >= 4_000));
    if crash {
        broker.kill();
    } else {
        broker.stop();
        broker.wipe_persistence();
    }
    let mut got = event_seqs(&first.received());
    assert!(
        got.len() < 10_000,
        "the stream ended before the broker went"
    );
    drop(first);
    broker.restart();
    // The gateway reconnects and goes on publishing to a broker nobody subscribes to yet.
    std::thread::sleep(Duration::from_millis(1_500));
    let second = Subscriber::start(broker.port, &client, &filter);
    let out = gw.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "drain failed: {report}");
    assert!(
        report.contains("1 resend(s)"),
        "the lost state was noticed once: {report}"
    );
    let complete = second.wait_for(Duration::from_secs(30), |r| {
        let mut all = got.clone();
        all.extend(event_seqs(r));
        all.is_superset(&expected)
    });
    got.extend(event_seqs(&second.received()));
    let lost: Vec<u64> = expected.difference(&got).copied().collect();
    assert!(
        complete,
        "{} ids never arrived, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(
        backlog(&dir).contains("0 events, 0 positions"),
        "journal ends fully acknowledged: {}",
        backlog(&dir)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_event_arrives_when_the_broker_restarts_with_its_state_wiped() {
    every_event_arrives_when_the_broker_loses_its_state("uplink-wipe", false);
}

#[test]
fn every_event_arrives_when_the_broker_is_killed_before_saving_its_state() {
    every_event_arrives_when_the_broker_loses_its_state("uplink-crash", true);
}

#[test]
fn a_sigkilled_gateway_fires_its_will_and_resumes_without_loss() {
    let dir = scratch("uplink-kill");
    let expected = journal_with(&dir, 10_000);
    let broker = Mosquitto::start("kill");
    let sub = Subscriber::start(broker.port, "central-kill", &format!("ects/v1/{GATEWAY}/#"));
    std::thread::sleep(Duration::from_millis(300));
    let mut gw = drain(&dir, broker.port, true);
    assert!(sub.wait_for(Duration::from_secs(30), |r| {
        statuses(r).last().is_some_and(|s| s == "online")
    }));
    assert!(sub.wait_for(Duration::from_secs(30), |r| event_seqs(r).len() >= 3_000));
    assert!(
        event_seqs(&sub.received()).len() < 10_000,
        "killed mid-stream"
    );
    gw.kill().unwrap(); // SIGKILL: no offline of its own, the broker's Will says it
    gw.wait().unwrap();
    assert!(
        sub.wait_for(Duration::from_secs(15), |r| statuses(r)
            .last()
            .is_some_and(|s| s == "offline")),
        "the Last Will announced the gateway offline: {:?}",
        statuses(&sub.received())
    );

    let mut gw = drain(&dir, broker.port, true);
    assert!(sub.wait_for(Duration::from_secs(15), |r| {
        statuses(r).last().is_some_and(|s| s == "online")
    }));
    assert!(
        sub.wait_for(Duration::from_secs(60), |r| event_seqs(r)
            .is_superset(&expected)),
        "{}",
        missing(&expected, &sub)
    );
    // SIGTERM: the gateway says offline itself and exits cleanly.
    Command::new("kill")
        .arg("-TERM")
        .arg(gw.id().to_string())
        .status()
        .unwrap();
    assert!(gw.wait().unwrap().success());
    assert!(sub.wait_for(Duration::from_secs(5), |r| {
        statuses(r).last().is_some_and(|s| s == "offline")
    }));
    assert!(
        backlog(&dir).contains("0 events, 0 positions"),
        "{}",
        backlog(&dir)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn publish_command(port: u16, name: &str, payload: &str) {
    let mut child = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-s",
            "-t",
        ])
        .arg(format!("ects/v1/{GATEWAY}/cmd/{name}"))
        .stdin(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub (package mosquitto-clients)");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), payload.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn commands_get_one_result_and_one_event_each_even_malformed_oversized_and_unknown() {
    let dir = scratch("uplink-cmd");
    journal_with(&dir, 10);
    let broker = Mosquitto::start("cmd");
    let sub = Subscriber::start(broker.port, "central-cmd", &format!("ects/v1/{GATEWAY}/#"));
    std::thread::sleep(Duration::from_millis(300));
    let mut gw = drain(&dir, broker.port, true);
    assert!(sub.wait_for(Duration::from_secs(30), |r| {
        statuses(r).last().is_some_and(|s| s == "online")
    }));

    let arm = r#"{"v":1,"command_id":"c-arm","officer":"KRA-04417","args":{"declaration":"22MBAIM400123456","vehicle":"KCX 123A","seals":["JT701-1"],"corridor":"northern","origin":"mombasa-port","destination":"kampala-icd","deadline":"2026-12-02T18:00:00Z"}}"#;
    let oversized = format!(
        r#"{{"v":1,"command_id":"c-big","args":"{}"}}"#,
        "x".repeat(20_000)
    );
    publish_command(
        broker.port,
        "status.request",
        r#"{"v":1,"command_id":"c-ok"}"#,
    );
    publish_command(
        broker.port,
        "trip.launch",
        r#"{"v":1,"command_id":"c-unknown"}"#,
    );
    publish_command(
        broker.port,
        "status.request",
        r#"{"v":1,"command_id":"c-bad""#,
    );
    publish_command(broker.port, "status.request", &oversized);
    publish_command(broker.port, "trip.arm", arm);
    publish_command(
        broker.port,
        "status.request",
        r#"{"v":1,"command_id":"c-ok"}"#,
    ); // delivered twice
    // Refused as malformed, then sent again corrected under the same id: applied.
    publish_command(
        broker.port,
        "status.request",
        r#"{"v":2,"command_id":"c-fix"}"#,
    );
    publish_command(
        broker.port,
        "status.request",
        r#"{"v":1,"command_id":"c-fix"}"#,
    );

    let results = |r: &[(String, String)]| -> Vec<serde_json::Value> {
        r.iter()
            .filter(|(t, _)| t == &format!("ects/v1/{GATEWAY}/result"))
            .map(|(_, p)| serde_json::from_str(p).unwrap())
            .collect()
    };
    assert!(
        sub.wait_for(Duration::from_secs(20), |r| results(r).len() >= 8),
        "{:?}",
        results(&sub.received())
    );
    let rs = results(&sub.received());
    let by_id = |id: &str| {
        rs.iter()
            .filter(|v| v["command_id"] == id)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(by_id("c-ok").len(), 2, "answered twice");
    let fix: Vec<_> = by_id("c-fix").iter().map(|v| v["ok"].clone()).collect();
    assert_eq!(
        fix,
        [false, true],
        "a corrected command under the same id: {rs:?}"
    );
    assert!(by_id("c-ok").iter().all(|v| v["ok"] == true));
    assert_eq!(by_id("c-unknown")[0]["ok"], false);
    assert!(
        by_id("c-unknown")[0]["error"]
            .as_str()
            .unwrap()
            .contains("unknown command")
    );
    assert!(
        by_id("c-arm")[0]["error"]
            .as_str()
            .unwrap()
            .contains("no trip registry")
    );
    // `drain` cannot arm trips: not its final word, left for the service.
    assert_eq!(by_id("c-arm")[0]["final"], false, "{rs:?}");
    assert_eq!(by_id("c-unknown")[0]["final"], true, "{rs:?}");
    let nameless: Vec<_> = rs.iter().filter(|v| v["command_id"].is_null()).collect();
    assert_eq!(nameless.len(), 2, "malformed and oversized: {rs:?}");
    assert!(nameless.iter().any(|v| {
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed command")
    }));
    assert!(
        nameless
            .iter()
            .any(|v| v["error"].as_str().unwrap().contains("exceeds"))
    );

    // One event per command handled (not per delivery): 2 applied, 5 rejected.
    let events = |r: &[(String, String)], ty: &str| {
        r.iter()
            .filter(|(t, _)| t.starts_with(&format!("ects/v1/{GATEWAY}/events/")))
            .filter_map(|(_, p)| serde_json::from_str::<serde_json::Value>(p).ok())
            .filter(|v| v["type"] == ty)
            .count()
    };
    assert!(
        sub.wait_for(Duration::from_secs(20), |r| events(r, "command.applied")
            == 2
            && events(r, "command.rejected") == 5)
    );
    assert!(
        gw.try_wait().unwrap().is_none(),
        "the gateway is still running"
    );
    Command::new("kill")
        .arg("-TERM")
        .arg(gw.id().to_string())
        .status()
        .unwrap();
    assert!(gw.wait().unwrap().success());
    std::fs::remove_dir_all(&dir).unwrap();
}
