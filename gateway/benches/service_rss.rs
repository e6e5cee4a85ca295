//! Memory of the gateway service with 10,000 active trips (issue 8 goal: RSS under 32 MiB).
//!
//! Starts the real `ects-gateway run` with a border-post configuration: the Northern
//! Corridor and its zones (`config/geo`), 10,000 trips from `[[trips]]`, each with its own
//! TeraTrack e-lock reporting over one TCP source, and no reachable broker (everything
//! stays in the journal, as during an outage). Then every e-lock reports once, with a
//! position along the corridor, so that every trip has live detector state. Prints VmRSS
//! and VmHWM from `/proc/<pid>/status` after start and after the reports.
//!
//! Run: `cargo bench -p ects-gateway --bench service_rss`; results go to BENCHMARKS.md.

#![allow(missing_docs)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ects_tools::sim::{self, LockState, Route, SimFix, Sky};

const DEFAULT_TRIPS: usize = 10_000;

fn status(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn main() {
    // `ECTS_BENCH_TRIPS=0` gives the baseline of the same service without trips.
    let trips: usize = std::env::var("ECTS_BENCH_TRIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_TRIPS);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let geo = root.join("config/geo").canonicalize().unwrap();
    let dir = std::env::temp_dir().join(format!("ects-rss-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mut config = format!(
        "[gateway]\nid = \"bench-post\"\nboard = \"sim\"\nstate_dir = \"{}\"\n\n[uplink]\nhost = \"127.0.0.1\"\nport = 1\n\n[[sources]]\nname = \"elocks\"\nkind = \"tcp\"\nprotocol = \"teratrack\"\nlisten = \"127.0.0.1:{port}\"\nmax_connections = 4\nqueue = 4096\n\n[monitor]\ncorridors = [\"{}\"]\nzones = [\"{}\"]\n\n",
        dir.join("state").display(),
        geo.join("northern-corridor.geojson").display(),
        geo.join("zones.geojson").display()
    );
    let header = config.clone();
    for i in 0..trips {
        config.push_str(&format!(
            "[[trips]]\ndeclaration = \"22MBAIM4{i:08}\"\nvehicle = \"KC{i:05}\"\nseals = [\"{:012}\"]\ncorridor = \"northern\"\norigin = \"mombasa-port\"\ndestination = \"kigali-icd\"\ndeadline = \"2099-01-01T00:00:00Z\"\nofficer = \"KRA-0042\"\n\n",
            100_000_000_000u64 + i as u64
        ));
    }
    let route = Route::from_geojson(
        &std::fs::read_to_string(geo.join("northern-corridor.geojson")).unwrap(),
        None,
    )
    .unwrap();
    // A: the trips come from the configuration file (10,000 `[[trips]]` tables).
    let a = run(&dir, &config, port, trips, &route, 1);
    // B: a restart with no `[[trips]]`: the trips are resumed from their saved state, the
    // way a post that armed them by command comes back after a power cut.
    let b = run(&dir, &header, port, trips, &route, 2);
    let _ = std::fs::remove_dir_all(&dir);
    println!("service_rss: {trips} trips");
    for (name, r) in [
        ("A (trips in the config file)", a),
        ("B (trips resumed from state)", b),
    ] {
        println!(
            "  {name}: listening after {:.1?}; after start VmRSS {:.1} MiB (VmHWM {:.1}); after {} reports in {:.1?} VmRSS {:.1} MiB (VmHWM {:.1}); {} trip files",
            r.started,
            r.rss0 as f64 / 1024.0,
            r.hwm0 as f64 / 1024.0,
            r.acked,
            r.fed,
            r.rss1 as f64 / 1024.0,
            r.hwm1 as f64 / 1024.0,
            r.files
        );
    }
}

struct Run {
    started: Duration,
    rss0: u64,
    hwm0: u64,
    acked: usize,
    fed: Duration,
    rss1: u64,
    hwm1: u64,
    files: usize,
}

/// Starts the service with `config`, lets every e-lock report once (report `index`), stops
/// it with SIGTERM; returns what it measured.
fn run(
    dir: &std::path::Path,
    config: &str,
    port: u16,
    trips: usize,
    route: &Route,
    index: u32,
) -> Run {
    std::fs::write(dir.join("gateway.toml"), config).unwrap();
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ects-gateway"))
        .args(["run", "--config"])
        .arg(dir.join("gateway.toml"))
        .env("ECTS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if t0.elapsed() < Duration::from_secs(120) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("the gateway did not listen: {e}"),
        }
    };
    let started = t0.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let (rss0, hwm0) = (status(pid, "VmRSS:"), status(pid, "VmHWM:"));

    // Every e-lock reports once, somewhere along the first 500 km.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    let mut reader = stream.try_clone().unwrap();
    let acks = std::thread::spawn(move || {
        let mut n = 0usize;
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(300);
        reader
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        while n < trips && Instant::now() < deadline {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => n += buf[..k].iter().filter(|&&b| b == b'}').count(),
                Err(_) => {}
            }
        }
        n
    });
    let t1 = Instant::now();
    for i in 0..trips {
        let s = (i as f64 / trips as f64) * 500_000.0;
        let (position, course_deg) = route.at(s, 0.0);
        let fix = SimFix {
            t: now + i64::from(index) * 60,
            position,
            along_m: s,
            speed_mps: 20.0,
            course_deg,
            sky: Sky::Clear,
        };
        let device = format!("{:012}", 100_000_000_000u64 + i as u64);
        let frame = sim::teratrack_frame(&device, index, &fix, LockState::Locked);
        stream.write_all(frame.as_bytes()).unwrap();
        stream.write_all(b"\n").unwrap();
    }
    let acked = acks.join().unwrap();
    let fed = t1.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    let (rss1, hwm1) = (status(pid, "VmRSS:"), status(pid, "VmHWM:"));
    let trip_files = std::fs::read_dir(dir.join("state/trips")).map_or(0, |d| d.count());
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = child.wait();
    Run {
        started,
        rss0,
        hwm0,
        acked,
        fed,
        rss1,
        hwm1,
        files: trip_files,
    }
}
