//! `ects-gateway run` as a real process: pseudo-terminals as serial devices, a TCP e-lock,
//! a real mosquitto. NMEA in → positions out; a seal alarm in → the event out and the
//! device's ACK back on its port; a device unplugged and replugged; SIGTERM mid-stream;
//! a flooded port beside a seal alarm; systemd readiness and watchdog; `check-config`.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ects_e2e::{
    Mosquitto, Pty, Subscriber, bin, journal_dump, journal_records, repo_root, scratch,
};
use serde_json::Value;

/// A JT701 binary report with a shock alarm (Traccar's tests, `seal-frames/jt600.txt`
/// line 4): a `seal.tampered` event, acknowledged with `(P35)`.
fn shock_frame() -> Vec<u8> {
    let text =
        std::fs::read_to_string(repo_root().join("firmware/tests/data/seal-frames/jt600.txt"))
            .unwrap();
    let hex = text.lines().nth(3).unwrap().trim();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
const SHOCK_ACK: &[u8] = b"(P35)";

/// One epoch (RMC + GGA) at second `n` after 10:00:00 on 2026-11-28.
fn epoch(n: u32) -> Vec<u8> {
    let t = format!("{:02}{:02}{:02}.00", 10 + n / 3600, (n / 60) % 60, n % 60);
    let mut out = Vec::new();
    for body in [
        format!("GPRMC,{t},A,0038.0000,N,03416.{n:04},E,10.0,90.0,281126,,,A"),
        format!("GPGGA,{t},0038.0000,N,03416.{n:04},E,1,09,0.9,1150.0,M,-12.0,M,,"),
    ] {
        let sum = ects_firmware::nmea::framer::checksum(body.as_bytes());
        out.extend_from_slice(format!("${body}*{sum:02X}\r\n").as_bytes());
    }
    out
}

/// A gateway process with its config and state in a scratch directory.
struct Gateway {
    child: Option<Child>,
    dir: PathBuf,
    id: String,
}

impl Gateway {
    /// Starts `ects-gateway run` with `sources` (TOML `[[sources]]` entries).
    fn start(name: &str, port: u16, sources: &str, env: &[(&str, &str)]) -> Gateway {
        let dir = scratch(&format!("svc-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let id = format!("svc-{name}");
        let config = format!(
            "[gateway]\nid = \"{id}\"\nboard = \"sim\"\nstate_dir = \"{}\"\n\n[uplink]\nhost = \"127.0.0.1\"\nport = {port}\nkeep_alive_s = 5\n\n[positions]\ninterval_s = 0\n\n{sources}",
            dir.join("state").display()
        );
        std::fs::write(dir.join("gateway.toml"), config).unwrap();
        let mut g = Gateway {
            child: None,
            dir,
            id,
        };
        g.spawn(env);
        g
    }

    fn spawn(&mut self, env: &[(&str, &str)]) {
        let log = std::fs::File::create(self.dir.join("gateway.log")).unwrap();
        let mut cmd = Command::new(bin("ects-gateway"));
        cmd.args(["run", "--config"])
            .arg(self.dir.join("gateway.toml"))
            .env("ECTS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().unwrap());
    }

    fn journal(&self) -> PathBuf {
        self.dir.join("state/journal")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("gateway.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit; returns the status and how long it took.
    fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let mut child = self.child.take().unwrap();
        let t0 = Instant::now();
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        let deadline = t0 + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, t0.elapsed());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the gateway did not exit after SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Events received for this gateway: (type, payload).
    fn events(&self, sub: &Subscriber) -> Vec<Value> {
        self.events_in(&sub.received())
    }

    /// The event payloads of this gateway among `received`.
    fn events_in(&self, received: &[(String, String)]) -> Vec<Value> {
        let prefix = format!("ects/v1/{}/events/", self.id);
        received
            .iter()
            .filter(|(t, _)| t.starts_with(&prefix))
            .filter_map(|(_, p)| serde_json::from_str(p).ok())
            .collect()
    }

    fn wait_event(
        &self,
        sub: &Subscriber,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> bool {
        sub.wait_for(timeout, |r| self.events_in(r).iter().any(&pred))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn serial(name: &str, protocol: &str, path: &Path) -> String {
    format!(
        "[[sources]]\nname = \"{name}\"\nkind = \"serial\"\nprotocol = \"{protocol}\"\npath = \"{}\"\nbaud = 9600\n\n",
        path.display()
    )
}

fn of_type<'a>(events: &'a [Value], ty: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == ty).collect()
}

const LONG: Duration = Duration::from_secs(20);

/// (a) NMEA → positions, a seal alarm → the event and its ACK on the port; (c) SIGTERM
/// mid-stream → exit 0 within the bound, retained `offline`, every journaled event
/// delivered, and a clean start next time.
#[test]
fn test_serial_sources_to_broker_and_sigterm_mid_stream() {
    let broker = Mosquitto::start("svc-a");
    let mut gps = Pty::open();
    let mut lock = Pty::open();
    let sub = Subscriber::start(broker.port, "svc-a-sub", "ects/v1/#");
    let sources = serial("gps", "nmea", &gps.path) + &serial("lock", "jt600", &lock.path);
    let mut gw = Gateway::start("a", broker.port, &sources, &[]);

    assert!(
        gw.wait_event(&sub, LONG, |e| e["type"] == "gateway.started"),
        "no gateway.started:\n{}",
        gw.log()
    );
    for n in 0..5 {
        gps.write(&epoch(n));
    }
    assert!(
        gw.wait_event(&sub, LONG, |e| e["type"] == "position"
            && e["device"]["id"] == "gps"
            && e["position"]["fix_time"] == "2026-11-28T10:00:03Z"),
        "positions did not arrive:\n{}",
        gw.log()
    );
    lock.write(&shock_frame());
    let ack = lock.read_until(LONG, |b| b.windows(5).any(|w| w == SHOCK_ACK));
    assert!(
        ack.windows(5).any(|w| w == SHOCK_ACK),
        "no ACK on the port: {:?}\n{}",
        String::from_utf8_lossy(&ack),
        gw.log()
    );
    assert!(
        gw.wait_event(&sub, LONG, |e| e["type"] == "seal.tampered"
            && e["severity"] == "critical"
            && e["device"]["id"] == "8043396604"),
        "no seal.tampered:\n{}",
        gw.log()
    );
    let started = of_type(&gw.events(&sub), "gateway.started")[0].clone();
    assert_eq!(started["details"]["unclean_shutdown"], false);

    // SIGTERM while the receiver streams.
    let mut writer = gps.writer();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let streaming = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 5;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 3_000 {
                // A full buffer (the gateway has gone) skips the epoch rather than hang.
                let _ = writer.write_all(&epoch(n));
                n += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(800));
    let (status, took) = gw.terminate();
    assert!(status.success(), "exit {status:?}:\n{}", gw.log());
    assert!(
        took < Duration::from_secs(8),
        "stopping took {took:?} (budget 5 s plus process start-up slack)"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = streaming.join();
    drop(gps);

    // The retained status says offline, and every event journaled reached the broker.
    let status_topic = format!("ects/v1/{}/status", gw.id);
    assert!(sub.wait_for(LONG, |r| {
        r.iter()
            .rfind(|(t, _)| *t == status_topic)
            .is_some_and(|(_, p)| p.contains("\"offline\""))
    }));
    let journaled: BTreeSet<u64> = journal_dump(&gw.journal())
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert!(journaled.len() > 5, "{journaled:?}");
    let id = gw.id.clone();
    let delivered = |r: &[(String, String)]| -> BTreeSet<u64> {
        r.iter()
            .filter_map(|(_, p)| serde_json::from_str::<Value>(p).ok())
            .filter_map(|v| {
                v["id"]
                    .as_str()?
                    .strip_prefix(&format!("{id}:"))?
                    .parse()
                    .ok()
            })
            .collect()
    };
    assert!(
        sub.wait_for(LONG, |r| journaled.is_subset(&delivered(r))),
        "journaled but not delivered: {:?}",
        journaled
            .difference(&delivered(&sub.received()))
            .collect::<Vec<_>>()
    );

    // A clean stop leaves no unclean-shutdown marker: the next start says so.
    let gps = Pty::open();
    let config = std::fs::read_to_string(gw.dir.join("gateway.toml")).unwrap();
    let old = config
        .lines()
        .find(|l| l.starts_with("path") && l.contains("/dev/pts"))
        .unwrap()
        .to_string();
    std::fs::write(
        gw.dir.join("gateway.toml"),
        config.replacen(&old, &format!("path = \"{}\"", gps.path.display()), 1),
    )
    .unwrap();
    gw.spawn(&[]);
    assert!(sub.wait_for(LONG, |r| {
        r.iter()
            .filter_map(|(_, p)| serde_json::from_str::<Value>(p).ok())
            .filter(|v| v["type"] == "gateway.started")
            .count()
            == 2
    }));
    let started = of_type(&gw.events(&sub), "gateway.started")[1].clone();
    assert_eq!(started["details"]["unclean_shutdown"], false);
    let (status, _) = gw.terminate();
    assert!(status.success());
}

/// (b) Unplug and replug: the configured path is a symlink, re-pointed at a new PTY.
#[test]
fn test_unplugged_device_is_lost_then_restored() {
    let broker = Mosquitto::start("svc-b");
    let sub = Subscriber::start(broker.port, "svc-b-sub", "ects/v1/#");
    let links = scratch("svc-b-links");
    std::fs::create_dir_all(&links).unwrap();
    let link = links.join("gps0");
    let point = |target: &Path| {
        let tmp = links.join("gps0.new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).unwrap();
        std::fs::rename(&tmp, &link).unwrap();
    };
    let mut gps = Pty::open();
    point(&gps.path);
    let gw = Gateway::start("b", broker.port, &serial("gps", "nmea", &link), &[]);
    for n in 0..3 {
        gps.write(&epoch(n));
    }
    assert!(
        gw.wait_event(&sub, LONG, |e| e["type"] == "position"),
        "no position before the unplug:\n{}",
        gw.log()
    );

    // Unplugged: the by-id link goes (as udev removes it; also, the freed pts number may be
    // reused at once by another test's pseudo-terminal), then the device itself.
    std::fs::remove_file(&link).unwrap();
    drop(gps);
    assert!(
        gw.wait_event(&sub, LONG, |e| e["type"] == "source.lost"
            && e["details"]["source"] == "gps"),
        "no source.lost:\n{}",
        gw.log()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let mut gps = Pty::open();
    point(&gps.path);
    assert!(
        gw.wait_event(&sub, LONG, |e| e["type"] == "source.restored"
            && e["details"]["source"] == "gps"
            && e["details"]["outage_s"].as_u64().is_some_and(|s| s >= 1)),
        "no source.restored:\n{}",
        gw.log()
    );
    for n in 100..103 {
        gps.write(&epoch(n));
    }
    assert!(
        gw.wait_event(&sub, LONG, |e| e["type"] == "position"
            && e["position"]["fix_time"] == "2026-11-28T10:01:41Z"),
        "no position after the replug:\n{}",
        gw.log()
    );
    let events = gw.events(&sub);
    assert_eq!(
        of_type(&events, "source.lost").len(),
        1,
        "lost is reported once"
    );
    assert!(gw.log().contains("serial device gone"), "{}", gw.log());
    let _ = std::fs::remove_dir_all(&links);
}

/// (d) A port flooded with garbage at full speed does not keep a seal alarm on a TCP
/// e-lock connection from being acknowledged and delivered. Also: systemd readiness and
/// watchdog pings over NOTIFY_SOCKET.
#[test]
fn test_flooded_port_does_not_starve_a_seal_alarm() {
    let broker = Mosquitto::start("svc-d");
    let sub = Subscriber::start(broker.port, "svc-d-sub", "ects/v1/#");
    let flood = Pty::open();
    let mut burst = Pty::open();
    let tcp_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sources = serial("noisy", "nmea", &flood.path)
        + &serial("burst", "nmea", &burst.path)
        + "queue = 1\n\n"
        + &format!(
            "[[sources]]\nname = \"locks\"\nkind = \"tcp\"\nprotocol = \"jt600\"\nlisten = \"127.0.0.1:{tcp_port}\"\nmax_connections = 4\n"
        );
    let notify_path = scratch("svc-d-notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let gw = Gateway::start(
        "d",
        broker.port,
        &sources,
        &[
            ("NOTIFY_SOCKET", notify_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );

    // READY=1 first, then WATCHDOG=1 pings.
    let mut seen = Vec::new();
    let deadline = Instant::now() + LONG;
    while Instant::now() < deadline && !seen.iter().any(|m: &String| m == "WATCHDOG=1") {
        let mut buf = [0u8; 256];
        if let Ok(n) = notify.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert_eq!(
        seen.first().map(String::as_str),
        Some("READY=1"),
        "{seen:?}"
    );
    assert!(seen.iter().any(|m| m == "WATCHDOG=1"), "{seen:?}");

    // Flood: garbage as fast as the pty takes it, from a thread.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooding = {
        let stop = stop.clone();
        let mut w = flood.writer();
        std::thread::spawn(move || {
            let junk: Vec<u8> = (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
                .collect();
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match w.write(&junk) {
                    Ok(n) => sent += n as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::yield_now()
                    }
                    Err(_) => break,
                }
            }
            sent
        })
    };
    std::thread::sleep(Duration::from_millis(500));

    let mut conn = std::net::TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();
    conn.set_read_timeout(Some(LONG)).unwrap();
    conn.write_all(&shock_frame()).unwrap();
    let mut ack = [0u8; 5];
    conn.read_exact(&mut ack).unwrap();
    assert_eq!(&ack, SHOCK_ACK);
    assert!(
        gw.wait_event(&sub, LONG, |e| e["type"] == "seal.tampered"
            && e["device"]["id"] == "8043396604"),
        "the alarm did not get through the flood:\n{}",
        gw.log()
    );
    // A burst of valid fixes into a queue of one: what does not fit is dropped at the
    // source and reported as overload; nothing is lost silently — every fix is either a
    // position or counted in a gateway.dropped (the 200th epoch stays open, unfinished).
    let epochs: Vec<u8> = (0..200).flat_map(epoch).collect();
    burst.write(&epochs);
    let accounted = |r: &[(String, String)]| -> u64 {
        let events = gw.events_in(r);
        let positions = events
            .iter()
            .filter(|e| e["type"] == "position" && e["device"]["id"] == "burst")
            .count() as u64;
        let dropped: u64 = events
            .iter()
            .filter(|e| e["type"] == "gateway.dropped" && e["device"]["id"] == "burst")
            .inspect(|e| assert_eq!(e["details"]["reason"], "overload"))
            .filter_map(|e| e["details"]["count"].as_u64())
            .sum();
        positions + dropped
    };
    assert!(
        sub.wait_for(LONG, |r| accounted(r) == 199),
        "fixes accounted for: {} of 199\n{}",
        accounted(&sub.received()),
        gw.log()
    );
    assert!(
        of_type(&gw.events(&sub), "gateway.dropped")
            .iter()
            .any(|e| e["details"]["reason"] == "overload"),
        "a queue of one took a burst of 200 without a drop?"
    );

    // The connection limit: three more fit (four in all), a fifth is closed at once.
    let _more: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", tcp_port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut fifth = std::net::TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();
    fifth.set_read_timeout(Some(LONG)).unwrap();
    let mut byte = [0u8; 1];
    assert!(
        matches!(fifth.read(&mut byte), Ok(0) | Err(_)),
        "the fifth connection was not refused"
    );
    assert!(
        gw.log().contains("connection limit reached"),
        "{}",
        gw.log()
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = flooding.join().unwrap();
    assert!(sent > 100_000, "the flood was only {sent} bytes");
    // Still pinging the watchdog under the flood.
    let mut pinged = false;
    for _ in 0..20 {
        let mut buf = [0u8; 256];
        if let Ok(n) = notify.recv(&mut buf) {
            pinged |= &buf[..n] == b"WATCHDOG=1";
        }
        if pinged {
            break;
        }
    }
    assert!(pinged);
    drop(flood);
    let _ = std::fs::remove_file(&notify_path);
}

/// (e) Sixteen e-locks report a cut cable (`seal.tampered`) at the same moment, each on its own connection
/// and waiting for its ACK (group commit in the real process): every one is acknowledged,
/// and a kill (SIGKILL) right after the last ACK loses none of them — each alarm is in
/// the journal exactly once. (A kill keeps the page cache: that the ACK waits for the
/// `fdatasync` is shown by the service's unit test with a slow stage and the journal's
/// crash-model tests.)
#[test]
fn test_concurrent_e_lock_alarms_are_journaled_before_their_acks() {
    use ects_tools::sim::{LatLon, LockState, SimFix, Sky, teratrack_frame};

    const LOCKS: usize = 16;
    let tcp_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // No broker: nothing is acknowledged upstream, every record stays in the journal.
    let no_broker = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // One more than the locks: the probe below that waits for the listener is a
    // connection too, and it may still count when the locks connect (a CI run once had
    // the sixteenth lock refused).
    let sources = format!(
        "[[sources]]\nname = \"locks\"\nkind = \"tcp\"\nprotocol = \"teratrack\"\nlisten = \"127.0.0.1:{tcp_port}\"\nmax_connections = {}\n",
        LOCKS + 1
    );
    let mut gw = Gateway::start("e", no_broker, &sources, &[]);
    let deadline = Instant::now() + LONG;
    while std::net::TcpStream::connect(("127.0.0.1", tcp_port)).is_err() {
        assert!(Instant::now() < deadline, "never listened:\n{}", gw.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let fix = SimFix {
        t: 1_795_860_000,
        position: LatLon {
            lat: 0.6346,
            lon: 34.2759,
        },
        along_m: 0.0,
        speed_mps: 0.0,
        course_deg: 0.0,
        sky: Sky::Clear,
    };
    let devices: Vec<String> = (0..LOCKS)
        .map(|i| format!("{:012}", 700_000_000_000u64 + i as u64))
        .collect();
    let start = std::sync::Arc::new(std::sync::Barrier::new(LOCKS));
    let locks: Vec<_> = devices
        .iter()
        .map(|device| {
            let frame = teratrack_frame(device, 1, &fix, LockState::Cut) + "\n";
            let start = start.clone();
            std::thread::spawn(move || {
                let mut conn = std::net::TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();
                conn.set_read_timeout(Some(LONG)).unwrap();
                start.wait();
                conn.write_all(frame.as_bytes()).unwrap();
                let mut ack = [0u8; 4];
                conn.read_exact(&mut ack).map(|()| ack.to_vec())
            })
        })
        .collect();
    for (device, lock) in devices.iter().zip(locks) {
        let ack = lock.join().unwrap();
        assert_eq!(
            ack.as_deref().ok(),
            Some(&b"{01}"[..]),
            "{device}: {ack:?}\n{}",
            gw.log()
        );
    }
    // Crash at once: what the devices were told is accepted must already be on disk.
    let mut child = gw.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let cuts: Vec<String> = journal_records(&gw.journal())
        .into_iter()
        .filter(|r| r["payload"]["type"] == "seal.tampered")
        .inspect(|r| assert_eq!(r["severity"], "critical"))
        .filter_map(|r| r["payload"]["device"]["id"].as_str().map(str::to_owned))
        .collect();
    let unique: BTreeSet<&String> = cuts.iter().collect();
    assert_eq!(
        unique.len(),
        cuts.len(),
        "an alarm journaled twice: {cuts:?}"
    );
    for device in &devices {
        assert!(
            cuts.contains(device),
            "{device}'s acknowledged cut was lost: {cuts:?}\n{}",
            gw.log()
        );
    }
}

/// `check-config`: the examples pass; broken files exit 2 with file, key and expectation.
#[test]
fn test_check_config() {
    for example in ["config/border-post.toml", "config/truck.toml"] {
        let out = Command::new(bin("ects-gateway"))
            .arg("check-config")
            .arg(repo_root().join(example))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.contains("gateway `"), "{line}");
    }
    let dir = scratch("check-config");
    std::fs::create_dir_all(&dir).unwrap();
    let base = "[gateway]\nid = \"gw\"\n\n[uplink]\nhost = \"127.0.0.1\"\n\n[[sources]]\nname = \"gps\"\nkind = \"serial\"\nprotocol = \"nmea\"\npath = \"/dev/ttyS0\"\nbaud = 9600\n";
    let cases = [
        (
            base.replace("baud = 9600", "baud = 9601"),
            "key `sources[0].baud`: expected one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, found 9601",
        ),
        (
            base.replace("host", "hots"),
            "key `uplink.hots`: unknown field `hots`, expected one of `host`, `port`, `tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`, `username`, `password_file`, `max_rate`, `encoding`, `keep_alive_s`, `resend_delay_s` (line 5)",
        ),
        (
            base.replace("/dev/ttyS0", "board:gps"),
            "key `sources[0].path`: `board:gps` needs a board profile: set `gateway.board` or pass --board",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("broken-{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let out = Command::new(bin("ects-gateway"))
            .arg("check-config")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim_end(),
            format!("{}: {expected}", file.display())
        );
    }
    let missing = Command::new(bin("ects-gateway"))
        .args(["check-config", "/nonexistent/gw.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).starts_with("/nonexistent/gw.toml: cannot read: ")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The systemd unit asks for what the service provides (readiness, watchdog pings, a
/// bounded stop, exit 2 for a bad config) and keeps its hardening.
#[test]
fn test_systemd_unit() {
    let unit = std::fs::read_to_string(repo_root().join("deploy/ects-gateway.service")).unwrap();
    let lines: BTreeSet<&str> = unit.lines().map(str::trim).collect();
    for want in [
        "Type=notify",
        "Restart=always",
        "RestartPreventExitStatus=2",
        "WatchdogSec=20",
        "TimeoutStopSec=10",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=ects",
        "ReadWritePaths=/var/lib/ects",
        "SupplementaryGroups=dialout gpio",
        "CapabilityBoundingSet=",
        "DevicePolicy=closed",
    ] {
        assert!(
            lines.contains(want),
            "deploy/ects-gateway.service lacks `{want}`"
        );
    }
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(
        exec.contains(" run --config /etc/ects/gateway.toml"),
        "{exec}"
    );
    // The stop the unit waits for is longer than the gateway's own budget.
    assert!(ects_gateway::service::SHUTDOWN_BUDGET < Duration::from_secs(10));
    // Pings every WatchdogSec / 2 = 10 s; a stalled pipeline is noticed well before.
    assert!(ects_gateway::service::STALL < Duration::from_secs(10));
}

/// Unusable TLS material is a configuration error: exit 2 at once (systemd does not
/// restart on it), before anything starts, leaving no unclean-shutdown marker.
#[test]
fn test_unusable_tls_material_exits_2() {
    let dir = scratch("svc-tls");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nid = \"svc-tls\"\nstate_dir = \"{}\"\n\n[uplink]\nhost = \"127.0.0.1\"\ntls_ca = \"{}\"\n",
            dir.join("state").display(),
            dir.join("missing-ca.pem").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(bin("ects-gateway"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + LONG;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("uplink TLS"), "{stderr}");
    assert!(!dir.join("state/running").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
