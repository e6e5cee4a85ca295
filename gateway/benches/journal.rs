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
//! - critical, 16 concurrent producers (16 e-locks at a busy border post, each waiting
//!   until its event is durable before it sends the next — as a device waits for its ACK):
//!   the producers hand their events to one committer thread, as the sources hand theirs
//!   to the service's stage task; the committer takes what is queued, makes it durable,
//!   and releases the producers. Stores: the journal with group commit
//!   (`append_deferred` × batch + one `commit`); the journal with `fdatasync` per event
//!   (`append` of criticals, no grouping); SQLite `synchronous=FULL` with one transaction
//!   per event (what issue 6 specifies); SQLite `synchronous=FULL` given the same
//!   batching opportunity (one transaction per batch).
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
    let mut j = open_journal(dir);
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
    let db = Sqlite::open(dir, critical);
    let before = write_bytes();
    let start = Instant::now();
    for _ in 0..n {
        Sqlite::insert(&db, !critical);
    }
    Sqlite::checkpoint(db);
    Outcome {
        events: n,
        elapsed: start.elapsed(),
        bytes: write_bytes() - before,
    }
}

/// A store as the committer thread sees it: make `n` events durable at once.
trait Durable {
    /// Returns the number of commits (device flushes of the data) it took.
    fn durable_batch(&mut self, n: usize) -> u64;
    /// Everything on stable storage (the journal's flush, SQLite's checkpoint).
    fn finish(self);
}

/// The journal with group commit: deferred appends, one commit.
struct JournalGroup(Journal);
/// The journal syncing each critical append.
struct JournalEach(Journal);

/// One critical event into `j`: synced on return, or deferred to a commit.
fn append_critical(j: &mut Journal, deferred: bool) {
    let now = Instant::now();
    let payload = |_| PAYLOAD.as_bytes().to_vec();
    let a = if deferred {
        j.append_deferred(Stream::Events, Severity::Critical, 0, payload, now)
    } else {
        j.append(Stream::Events, Severity::Critical, 0, payload, now)
    }
    .expect("append");
    assert_eq!(a.durable, !deferred);
}

impl Durable for JournalGroup {
    fn durable_batch(&mut self, n: usize) -> u64 {
        for _ in 0..n {
            append_critical(&mut self.0, true);
        }
        self.0.commit().expect("commit");
        1
    }
    fn finish(mut self) {
        self.0.flush().expect("flush");
    }
}

impl Durable for JournalEach {
    fn durable_batch(&mut self, n: usize) -> u64 {
        for _ in 0..n {
            append_critical(&mut self.0, false);
        }
        n as u64
    }
    fn finish(mut self) {
        self.0.flush().expect("flush");
    }
}

/// SQLite, `synchronous=FULL`: one transaction per event, or one per batch.
struct Sqlite {
    db: rusqlite::Connection,
    per_batch: bool,
}

impl Sqlite {
    fn open(dir: &Path, critical: bool) -> rusqlite::Connection {
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
        db
    }

    fn insert(db: &rusqlite::Connection, routine: bool) {
        db.prepare_cached(
            "INSERT INTO journal (stream, severity, received_at, payload) VALUES (?1, ?2, 0, ?3)",
        )
        .expect("prepare")
        .execute(rusqlite::params![i64::from(routine), 0, PAYLOAD.as_bytes()])
        .expect("insert");
    }

    /// The same end state as the journal's flush: everything on stable storage.
    fn checkpoint(db: rusqlite::Connection) {
        db.pragma_update(None, "wal_checkpoint", "FULL")
            .expect("checkpoint");
    }
}

impl Durable for Sqlite {
    fn durable_batch(&mut self, n: usize) -> u64 {
        if self.per_batch {
            let tx = self.db.transaction().expect("begin");
            for _ in 0..n {
                Sqlite::insert(&tx, false);
            }
            tx.commit().expect("commit");
            1
        } else {
            for _ in 0..n {
                Sqlite::insert(&self.db, false);
            }
            n as u64
        }
    }
    fn finish(self) {
        Sqlite::checkpoint(self.db);
    }
}

/// `producers` threads each make `per_producer` events durable one at a time, through
/// one committer (this thread) that serves whatever is queued at once. Returns the
/// outcome and the events per commit.
fn concurrent(producers: usize, per_producer: u64, mut store: impl Durable) -> (Outcome, f64) {
    use std::sync::mpsc::{SyncSender, sync_channel};
    let before = write_bytes();
    let start = Instant::now();
    let mut commits = 0u64;
    std::thread::scope(|s| {
        let (queue, requests) = sync_channel::<SyncSender<()>>(producers);
        for _ in 0..producers {
            let queue = queue.clone();
            s.spawn(move || {
                let (done, durable) = sync_channel(1);
                for _ in 0..per_producer {
                    queue.send(done.clone()).expect("committer gone");
                    durable.recv().expect("committer gone");
                }
            });
        }
        drop(queue);
        let mut waiting = Vec::with_capacity(producers);
        while let Ok(first) = requests.recv() {
            waiting.push(first);
            waiting.extend(requests.try_iter().take(producers - 1));
            commits += store.durable_batch(waiting.len());
            for w in waiting.drain(..) {
                let _ = w.send(());
            }
        }
    });
    store.finish();
    let events = producers as u64 * per_producer;
    let o = Outcome {
        events,
        elapsed: start.elapsed(),
        bytes: write_bytes() - before,
    };
    (o, events as f64 / commits as f64)
}

fn open_journal(dir: &Path) -> Journal {
    Journal::open(ProductionFilesystem, JournalConfig::new(fresh(dir)))
        .expect("open journal")
        .0
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
    // 16 e-locks, each waiting for its event to be durable; the stores alternate.
    let producers = 16;
    let per_producer = if quick { 20 } else { 125 };
    let name = format!("critical, {producers} producers");
    let sqlite = |per_batch| Sqlite {
        db: Sqlite::open(&base.join("s"), true),
        per_batch,
    };
    let runs = [
        (
            "journal: group commit",
            concurrent(
                producers,
                per_producer,
                JournalGroup(open_journal(&base.join("j"))),
            ),
        ),
        (
            "sqlite: 1 txn/event",
            concurrent(producers, per_producer, sqlite(false)),
        ),
        (
            "journal: fsync/event",
            concurrent(
                producers,
                per_producer,
                JournalEach(open_journal(&base.join("j"))),
            ),
        ),
        (
            "sqlite: 1 txn/batch",
            concurrent(producers, per_producer, sqlite(true)),
        ),
    ];
    for (store, (o, per_commit)) in &runs {
        println!(
            "{name} {store:<22} {:>8} {:>10.0} {:>12.0}   {per_commit:.1} events/commit",
            o.events,
            o.per_s(),
            o.bytes_per_event()
        );
    }
    let (j, s) = (&runs[0].1.0, &runs[1].1.0);
    println!(
        "{name} ratio (group commit vs 1 txn/event)  throughput {:.1}x, bytes written {:.2}x of SQLite's",
        j.per_s() / s.per_s(),
        j.bytes_per_event() / s.bytes_per_event()
    );
    let (elapsed, backlog) = restart(&base.join("r"), n_restart);
    println!(
        "restart    journal  {backlog} unacknowledged records reopened in {:.1} ms",
        elapsed.as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&base);
}
