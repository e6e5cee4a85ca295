//! Journal benchmark, side by side with a SQLite-WAL store doing the same work, in the same
//! run, on the same disk. Results go to `BENCHMARKS.md`.
//!
//! ```text
//! cargo bench -p ects-gateway --bench journal            # full run (1,000,000-record restart)
//! ECTS_BENCH_QUICK=1 cargo bench -p ects-gateway --bench journal
//! ```
//!
//! Workloads (payload: a real 430-byte `position` event in JSON):
//! - critical: every append durable before it returns — journal `Severity::Critical`
//!   (write + fdatasync); SQLite `journal_mode=WAL, synchronous=FULL`, one INSERT per
//!   transaction (fsync of the WAL per commit).
//! - routine: durable within about a second — journal group commit (`tick` every 10 ms,
//!   1 s interval); SQLite `synchronous=NORMAL`, one INSERT per transaction (WAL written
//!   per commit, synced at checkpoints).
//! - restart: `Journal::open` on a journal holding 1,000,000 unacknowledged records.
//!
//! Bytes written are the process's `write_bytes` from `/proc/self/io` (what it sent to the
//! storage layer), measured around each workload including its final sync.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ects_firmware::event::Severity;
use ects_gateway::journal::fs::ProductionFilesystem;
use ects_gateway::journal::{Journal, JournalConfig, Stream};

const PAYLOAD: &str = r#"{"v":1,"id":"ke-malaba-01:123456","type":"position","severity":"info","trip":"22MBAIM400123456","vehicle":"KCX 123A / ZF 4411","device":{"protocol":"nmea","id":"gps0"},"position":{"lat":0.6346123,"lon":34.2759456,"valid":true,"fix_time":"2026-11-28T10:00:00Z","speed_mps":13.9,"track_deg":271.5,"hdop":0.9,"satellites":11},"device_time":"2026-11-28T10:00:00Z","received_at":"2026-11-28T10:00:00.250Z","details":{"buffered":false}}"#;

fn write_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("write_bytes: ")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

struct Outcome {
    events: u64,
    elapsed: Duration,
    bytes: u64,
}

impl Outcome {
    fn per_s(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
    fn bytes_per_event(&self) -> f64 {
        self.bytes as f64 / self.events as f64
    }
}

fn fresh(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("bench directory");
    dir.to_path_buf()
}

fn journal_run(dir: &Path, n: u64, critical: bool) -> Outcome {
    let (mut j, _) =
        Journal::open(ProductionFilesystem, JournalConfig::new(fresh(dir))).expect("open journal");
    let before = write_bytes();
    let start = Instant::now();
    let mut last_tick = start;
    let (stream, severity) = if critical {
        (Stream::Events, Severity::Critical)
    } else {
        (Stream::Positions, Severity::Info)
    };
    for _ in 0..n {
        let now = Instant::now();
        let a = j
            .append(stream, severity, 0, |_| PAYLOAD.as_bytes().to_vec(), now)
            .expect("append");
        assert_eq!(a.durable, critical);
        if now.duration_since(last_tick) >= Duration::from_millis(10) {
            j.tick(now).expect("tick");
            last_tick = now;
        }
    }
    j.flush().expect("flush");
    Outcome {
        events: n,
        elapsed: start.elapsed(),
        bytes: write_bytes() - before,
    }
}

fn sqlite_run(dir: &Path, n: u64, critical: bool) -> Outcome {
    let path = fresh(dir).join("events.db");
    let db = rusqlite::Connection::open(&path).expect("open sqlite");
    db.pragma_update(None, "journal_mode", "WAL").expect("wal");
    db.pragma_update(
        None,
        "synchronous",
        if critical { "FULL" } else { "NORMAL" },
    )
    .expect("synchronous");
    db.execute_batch(
        "CREATE TABLE journal (seq INTEGER PRIMARY KEY, stream INTEGER, severity INTEGER, received_at INTEGER, payload BLOB, acked INTEGER DEFAULT 0)",
    )
    .expect("schema");
    let before = write_bytes();
    let start = Instant::now();
    {
        let mut insert = db
            .prepare("INSERT INTO journal (stream, severity, received_at, payload) VALUES (?1, ?2, 0, ?3)")
            .expect("prepare");
        for _ in 0..n {
            insert
                .execute(rusqlite::params![
                    i64::from(!critical),
                    0,
                    PAYLOAD.as_bytes()
                ])
                .expect("insert");
        }
    }
    // The same end state as the journal's flush: everything on stable storage.
    db.pragma_update(None, "wal_checkpoint", "FULL")
        .expect("checkpoint");
    drop(db);
    Outcome {
        events: n,
        elapsed: start.elapsed(),
        bytes: write_bytes() - before,
    }
}

fn restart(dir: &Path, records: u64) -> (Duration, u64) {
    {
        let (mut j, _) = Journal::open(
            ProductionFilesystem,
            JournalConfig {
                max_bytes: 2 << 30,
                ..JournalConfig::new(fresh(dir))
            },
        )
        .expect("open");
        let now = Instant::now();
        for _ in 0..records {
            j.append(
                Stream::Positions,
                Severity::Info,
                0,
                |_| PAYLOAD.as_bytes().to_vec(),
                now,
            )
            .expect("append");
        }
        j.flush().expect("flush");
    }
    let start = Instant::now();
    let (mut j, recovery) = Journal::open(
        ProductionFilesystem,
        JournalConfig {
            max_bytes: 2 << 30,
            ..JournalConfig::new(dir)
        },
    )
    .expect("reopen");
    let elapsed = start.elapsed();
    assert_eq!(recovery.backlog, records);
    assert_eq!(j.stats().backlog.1, records);
    (elapsed, recovery.backlog)
}

fn main() {
    let quick = std::env::var_os("ECTS_BENCH_QUICK").is_some();
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-journal");
    let (n_crit, n_routine, n_restart) = if quick {
        (300, 20_000, 100_000)
    } else {
        (2_000, 200_000, 1_000_000)
    };

    println!(
        "journal benchmark ({} run), payload {} bytes, dir {}",
        if quick { "quick" } else { "full" },
        PAYLOAD.len(),
        base.display()
    );
    println!(
        "{:<10} {:<8} {:>10} {:>14} {:>16}",
        "workload", "store", "events", "events/s", "bytes/event"
    );
    for (name, n, critical) in [("critical", n_crit, true), ("routine", n_routine, false)] {
        let j = journal_run(&base.join("j"), n, critical);
        let s = sqlite_run(&base.join("s"), n, critical);
        for (store, o) in [("journal", &j), ("sqlite", &s)] {
            println!(
                "{name:<10} {store:<8} {:>10} {:>14.0} {:>16.0}",
                o.events,
                o.per_s(),
                o.bytes_per_event()
            );
        }
        println!(
            "{name:<10} ratio    throughput {:.1}x, bytes written {:.2}x of SQLite's",
            j.per_s() / s.per_s(),
            j.bytes_per_event() / s.bytes_per_event()
        );
    }
    let (elapsed, backlog) = restart(&base.join("r"), n_restart);
    println!(
        "restart    journal  {backlog} unacknowledged records reopened in {:.1} ms",
        elapsed.as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&base);
}
