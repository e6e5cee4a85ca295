//! The corridor monitor inside `ects-gateway run`: a truck's GPS on a pseudo-terminal, a
//! real mosquitto, the gateway SIGKILLed in the middle of a deviation and restarted, and
//! trips armed by central's commands.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ects_e2e::{Mosquitto, Pty, Subscriber, bin, scratch};
use ects_tools::sim::{self, Script};
use serde_json::Value;

use super::replay::{DECLARATION, route, setup_service};

const LONG: Duration = Duration::from_secs(30);

struct Service {
    child: Option<Child>,
    dir: PathBuf,
}

impl Service {
    fn start(name: &str, port: u16, gps: &Pty) -> Service {
        let dir = scratch(name);
        std::fs::create_dir_all(&dir).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let extra = format!(
            "[uplink]\nhost = \"127.0.0.1\"\nport = {port}\nkeep_alive_s = 5\n\n[[sources]]\nname = \"gps\"\nkind = \"serial\"\nprotocol = \"nmea\"\npath = \"{}\"\nbaud = 9600\n",
            gps.path.display()
        );
        let gateway = format!(
            "board = \"sim\"\nstate_dir = \"{}\"",
            dir.join("state").display()
        );
        setup_service(&dir, 500.0, &[], "", now, &gateway, &extra);
        let mut s = Service { child: None, dir };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("gateway.log"))
            .unwrap();
        self.child = Some(
            Command::new(bin("ects-gateway"))
                .args(["run", "--config"])
                .arg(self.dir.join("gateway.toml"))
                .env("ECTS_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("gateway.log")).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn events(sub: &Subscriber) -> Vec<Value> {
    sub.received()
        .iter()
        .filter(|(t, _)| t.starts_with("ects/v1/ke-test-01/events/"))
        .filter_map(|(_, p)| serde_json::from_str(p).ok())
        .collect()
}

/// A predicate: command `id` has been answered.
fn answered(id: &str) -> impl Fn(&[(String, String)]) -> bool {
    let id = format!("\"command_id\":\"{id}\"");
    move |r: &[(String, String)]| {
        r.iter()
            .any(|(t, p)| t.ends_with("/result") && p.contains(&id))
    }
}

/// How many `online` statuses have been received.
fn onlines(received: &[(String, String)]) -> usize {
    received
        .iter()
        .filter(|(t, p)| t.ends_with("/status") && p.contains("\"online\""))
        .count()
}

/// Waits for the gateway's `online` status.
fn wait_online(sub: &Subscriber) {
    assert!(
        sub.wait_for(LONG, |r| r
            .iter()
            .any(|(t, p)| t.ends_with("/status") && p.contains("online"))),
        "the gateway did not come online"
    );
}

/// A broker, central's subscriber to the test gateway's topics, a GPS pseudo-terminal,
/// and the gateway (`name` names all of them), once the gateway is online.
fn started(name: &str) -> (Mosquitto, Subscriber, Pty, Service) {
    let broker = Mosquitto::start(name);
    let sub = Subscriber::start(broker.port, &format!("{name}-sub"), "ects/v1/ke-test-01/#");
    let gps = Pty::open();
    let gw = Service::start(name, broker.port, &gps);
    wait_online(&sub);
    (broker, sub, gps, gw)
}

/// A `trip.arm` on the northern corridor, Mombasa port to Kigali, by officer KRA-0042.
fn arm_northern(
    id: &str,
    declaration: &str,
    vehicle: &str,
    seal: &str,
    expires_at: Option<&str>,
) -> String {
    let mut command = serde_json::json!({
        "v": 1,
        "command_id": id,
        "officer": "KRA-0042",
        "args": {
            "declaration": declaration,
            "vehicle": vehicle,
            "seals": [seal],
            "corridor": "northern",
            "origin": "mombasa-port",
            "destination": "kigali-icd",
            "deadline": "2099-01-01T00:00:00Z",
        },
    });
    if let Some(at) = expires_at {
        command["expires_at"] = at.into();
    }
    command.to_string()
}

/// Central publishes command `name` (QoS 1) to the test gateway.
fn publish_command(port: u16, name: &str, body: &str) {
    let ok = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(["-t", &format!("ects/v1/ke-test-01/cmd/{name}"), "-m", body])
        .status()
        .unwrap()
        .success();
    assert!(ok, "mosquitto_pub failed");
}

/// Every received payload that is JSON.
fn json(received: &[(String, String)]) -> Vec<Value> {
    received
        .iter()
        .filter_map(|(_, p)| serde_json::from_str(p).ok())
        .collect()
}

/// Every command result received so far.
fn results(sub: &Subscriber) -> Vec<Value> {
    sub.received()
        .iter()
        .filter(|(t, _)| t.ends_with("/result"))
        .map(|(_, p)| serde_json::from_str(p).unwrap())
        .collect()
}

/// Distinct event ids of `ty` (delivery is at least once: a resend has the same id).
fn ids(events: &[Value], ty: &str) -> Vec<String> {
    let mut ids: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == ty)
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn sigkill_mid_deviation_resumes_with_exactly_one_alarm() {
    let broker = Mosquitto::start("mon-kill");
    let sub = Subscriber::start(broker.port, "mon-kill-sub", "ects/v1/ke-test-01/#");
    let mut gps = Pty::open();
    let mut gw = Service::start("mon-kill", broker.port, &gps);
    // Out of Mombasa, 2 km off the corridor from 5 to 15 km, back, on to 20 km; a fix
    // every 10 s of receiver time, written as fast as the port takes them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fixes = sim::generate(
        &route(),
        &Script {
            legs: sim::parse_legs("detour:5-15@2000, drive:20").unwrap(),
            start: now - 3600,
            interval_s: 10,
            speed_mps: 25.0,
            noise_m: 10.0,
            outlier_every: 0,
            seed: 3,
        },
    );
    let (before, after): (Vec<_>, Vec<_>) = fixes.iter().partition(|f| f.along_m < 10_000.0);
    // Before the kill: the deviation is confirmed; after the restart: the return.
    for (part, ty) in [(&before, "route.deviation"), (&after, "route.returned")] {
        for f in part.iter() {
            gps.write(sim::nmea_epoch(f).as_bytes());
        }
        let quoted = format!("\"{ty}\"");
        assert!(
            sub.wait_for(LONG, |r| r.iter().any(|(_, p)| p.contains(&quoted))),
            "no {ty}:\n{}",
            gw.log()
        );
        if ty == "route.deviation" {
            gw.kill();
            gw.spawn();
        }
    }
    let events = events(&sub);
    assert_eq!(ids(&events, "route.deviation").len(), 1, "{events:#?}");
    assert_eq!(ids(&events, "route.returned").len(), 1);
    assert_eq!(
        ids(&events, "trip.armed").len(),
        1,
        "the restart must not re-arm the trip"
    );
    let back = events
        .iter()
        .find(|e| e["type"] == "route.returned")
        .unwrap();
    // Outside from about 5.3 km to 15.5 km at 25 m/s: the time before the kill counts.
    let outside = back["details"]["outside_s"].as_u64().unwrap();
    assert!(
        outside >= 300,
        "{outside} s: the deviation's start was forgotten"
    );
    assert_eq!(back["trip"], DECLARATION);
    assert!(
        gw.log().contains("trips and detector state resumed"),
        "{}",
        gw.log()
    );
}

#[test]
fn a_trip_armed_by_command_is_monitored() {
    let (broker, sub, _gps, _gw) = started("mon-cmd");
    let publish = |name: &str, body: &str| publish_command(broker.port, name, body);
    publish(
        "trip.arm",
        &arm_northern("arm-7", "22MBA0000007", "KDA 7", "E-7", None),
    );
    publish(
        "trip.disarm",
        r#"{"v":1,"command_id":"disarm-7","officer":"KRA-0042","args":{"declaration":"22MBA0000007"}}"#,
    );
    publish(
        "trip.arm",
        r#"{"v":1,"command_id":"bad-1","officer":"KRA-0042","args":{"declaration":"X","vehicle":"V","seals":["S"],"corridor":"southern","origin":"mombasa-port","destination":"kigali-icd","deadline":"2099-01-01T00:00:00Z"}}"#,
    );
    assert!(sub.wait_for(LONG, |r| {
        let e = json(r);
        e.iter()
            .any(|v| v["type"] == "trip.armed" && v["trip"] == "22MBA0000007")
            && ["arm-7", "disarm-7", "bad-1"].iter().all(|id| {
                r.iter().any(|(t, p)| {
                    t.ends_with("/result") && p.contains(&format!("\"command_id\":\"{id}\""))
                })
            })
    }));
    let results = results(&sub);
    let result = |id: &str| {
        results
            .iter()
            .find(|r| r["command_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(result("arm-7")["ok"], true);
    assert_eq!(result("disarm-7")["ok"], false);
    assert!(
        result("disarm-7")["error"]
            .as_str()
            .unwrap()
            .contains("not inside its destination"),
        "{results:?}"
    );
    assert_eq!(result("bad-1")["error"], "no corridor southern");
}

/// The gateway keeps a persistent session, so the broker queues the commands central sends
/// while it is down and delivers them when it returns: one without an expiry is applied
/// then, one whose `expires_at` has passed is refused and says so.
#[test]
fn commands_queued_while_offline_are_applied_unless_expired() {
    let (broker, sub, _gps, mut gw) = started("mon-queued");
    gw.kill();
    assert!(
        sub.wait_for(LONG, |r| r
            .iter()
            .any(|(t, p)| t.ends_with("/status") && p.contains("offline"))),
        "no Last Will after the kill"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let rfc3339 = |t: i64| ects_firmware::time::Timestamp::from_unix_seconds(t).to_string();
    let publish = |name: &str, body: &str| publish_command(broker.port, name, body);
    let arm = |id: &str, declaration: &str, expires_at: Option<&str>| {
        arm_northern(
            id,
            declaration,
            "KDA 8",
            &format!("S-{declaration}"),
            expires_at,
        )
    };
    publish(
        "trip.arm",
        &arm("late-1", "22MBA0000008", Some(&rfc3339(now + 1))),
    );
    publish("trip.arm", &arm("keep-1", "22MBA0000009", None));
    std::thread::sleep(Duration::from_millis(2_500));
    gw.spawn();
    assert!(
        sub.wait_for(LONG, |r| r
            .iter()
            .filter(|(t, _)| t.ends_with("/result"))
            .count()
            >= 2),
        "the queued commands were not answered: {:?}\n{}",
        sub.received(),
        gw.log()
    );
    let results = results(&sub);
    let result = |id: &str| results.iter().find(|r| r["command_id"] == id).unwrap();
    assert_eq!(result("keep-1")["ok"], true, "{results:?}");
    assert_eq!(result("late-1")["ok"], false, "{results:?}");
    assert!(
        result("late-1")["error"]
            .as_str()
            .unwrap()
            .contains("expired at"),
        "{results:?}"
    );
    assert!(sub.wait_for(LONG, |r| {
        let e = json(r);
        e.iter()
            .any(|v| v["type"] == "trip.armed" && v["trip"] == "22MBA0000009")
            && e.iter()
                .any(|v| v["type"] == "command.rejected" && v["details"]["command_id"] == "late-1")
    }));
    assert!(
        !events(&sub)
            .iter()
            .any(|v| v["type"] == "trip.armed" && v["trip"] == "22MBA0000008"),
        "the expired command was applied"
    );
}

/// `ok` in a command's result means it survives a power cut: the gateway is SIGKILLed the
/// moment central has the result of a `trip.arm`, and after the restart the trip is there
/// (arming another plan under its declaration is refused as already armed).
#[test]
fn a_command_answered_ok_survives_a_sigkill_right_after() {
    let (broker, sub, _gps, mut gw) = started("mon-okkill");
    let arm = |id: &str, vehicle: &str| arm_northern(id, "22MBA0000010", vehicle, "E-10", None);
    publish_command(broker.port, "trip.arm", &arm("first", "KDA 10"));
    assert!(sub.wait_for(LONG, answered("first")), "no result");
    gw.kill();
    assert_eq!(
        results(&sub)
            .iter()
            .find(|r| r["command_id"] == "first")
            .unwrap()["ok"],
        true
    );
    gw.spawn();
    publish_command(broker.port, "trip.arm", &arm("again", "KDA 11"));
    assert!(
        sub.wait_for(LONG, answered("again")),
        "no result after the restart"
    );
    let results = results(&sub);
    let again = results.iter().find(|r| r["command_id"] == "again").unwrap();
    assert_eq!(
        again["error"],
        "trip 22MBA0000010 is already armed",
        "the armed trip was lost: {results:?}\n{}",
        gw.log()
    );
}

/// A command is acknowledged to the broker only once it is answered: the gateway is
/// SIGKILLed after it has received a `trip.arm` and before it has answered, and after the
/// restart the broker delivers the command again, and it is applied and answered.
#[test]
fn a_command_received_but_not_answered_before_a_sigkill_is_delivered_again() {
    let (broker, sub, _gps, mut gw) = started("mon-unacked");
    let arm = |n: u32| {
        arm_northern(
            &format!("arm-{n}"),
            &format!("22MBA00001{n:02}"),
            &format!("KDA {n}"),
            &format!("E-1{n:02}"),
            None,
        )
    };
    // The answer waits for the pipeline's next round (up to a second) and a save: a kill
    // as soon as the gateway has logged the command nearly always falls before it. An
    // attempt whose answer came first proves nothing and is repeated with a new command.
    let mut killed_unanswered = None;
    for n in 0..10 {
        publish_command(broker.port, "trip.arm", &arm(n));
        let received = format!("command_id=arm-{n}");
        let deadline = std::time::Instant::now() + LONG;
        while !gw.log().contains(&received) {
            assert!(
                std::time::Instant::now() < deadline,
                "the gateway never received arm-{n}:\n{}",
                gw.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        gw.kill();
        // An answer published just before the kill may still be on its way.
        std::thread::sleep(Duration::from_secs(1));
        if !answered(&format!("arm-{n}"))(&sub.received()) {
            killed_unanswered = Some(n);
            break;
        }
        let before = onlines(&sub.received());
        gw.spawn();
        assert!(
            sub.wait_for(LONG, |r| onlines(r) > before),
            "the gateway did not come back online"
        );
    }
    let n = killed_unanswered.expect("every attempt was answered before the kill");
    gw.spawn();
    assert!(
        sub.wait_for(LONG, answered(&format!("arm-{n}"))),
        "the command received before the kill was never answered: {:?}\n{}",
        results(&sub),
        gw.log()
    );
    // Answered by the new process, which received it again from the broker.
    assert_eq!(
        gw.log().matches(&format!("command_id=arm-{n}")).count(),
        2,
        "{}",
        gw.log()
    );
    let results = results(&sub);
    let result = results
        .iter()
        .find(|r| r["command_id"] == format!("arm-{n}"))
        .unwrap();
    assert_eq!(result["ok"], true, "{results:?}");
}

/// A trip state that cannot be saved (the SD card failing) shows at central: the status
/// answering `status.request` says `"trips": "failing"`, and the `trip.arm` that could not
/// be saved gets no `ok`.
#[test]
fn a_failing_trip_state_save_shows_in_the_status() {
    let (broker, sub, _gps, gw) = started("mon-storage");
    let storage = |r: &[(String, String)]| -> Vec<Value> {
        r.iter()
            .filter(|(t, _)| t.ends_with("/status"))
            .filter_map(|(_, p)| serde_json::from_str::<Value>(p).ok())
            .map(|v| v["storage"].clone())
            .collect()
    };
    assert_eq!(
        storage(&sub.received()).last().unwrap(),
        &serde_json::json!({"journal": "ok", "trips": "ok"})
    );
    // The trips directory is replaced by a file: every save fails from now on.
    let trips = gw.dir.join("state").join("trips");
    // (A save in progress may recreate the directory under us: try until the file holds.)
    let deadline = std::time::Instant::now() + LONG;
    while !(std::fs::remove_dir_all(&trips).is_ok() && std::fs::write(&trips, "in the way").is_ok())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "could not replace {trips:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    publish_command(
        broker.port,
        "trip.arm",
        &arm_northern("arm-s", "22MBA0000020", "KDA 20", "E-20", None),
    );
    let deadline = std::time::Instant::now() + LONG;
    let mut n = 0;
    while !storage(&sub.received())
        .iter()
        .any(|s| s["trips"] == "failing")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no failing storage in the status: {:?}\n{}",
            storage(&sub.received()),
            gw.log()
        );
        n += 1;
        publish_command(
            broker.port,
            "status.request",
            &format!(r#"{{"v":1,"command_id":"st-{n}"}}"#),
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        !results(&sub)
            .iter()
            .any(|r| r["command_id"] == "arm-s" && r["ok"] == true),
        "a trip.arm answered ok though its trip could not be saved"
    );
}
