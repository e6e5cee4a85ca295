//! Journal tests: scenarios, then model-based property tests with crashes (the pattern of
//! vector's `tests/model`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use ects_firmware::event::{DropReason, Severity};
use proptest::prelude::*;

use super::fs::{TailPersistence, TestFilesystem};
use super::*;

const DIR: &str = "/var/lib/ects/journal";

fn config() -> JournalConfig {
    JournalConfig {
        dir: DIR.into(),
        max_bytes: 64 * 1024 * 1024,
        segment_bytes: (HEADER_LEN + MAX_PAYLOAD) as u64, // small segments: many rolls
        commit_interval: Duration::from_millis(500),
        resend_window: Duration::ZERO, // reclaim at once; the resend tests set a window
    }
}

fn open(fs: &TestFilesystem, config: &JournalConfig) -> (Journal<TestFilesystem>, Recovery) {
    Journal::open(fs.clone(), config.clone()).unwrap()
}

fn payload(seq: u64, len: usize) -> Vec<u8> {
    let mut p = format!("{{\"seq\":{seq}}}").into_bytes();
    p.resize(len.max(p.len()), b' ');
    p
}

fn append(
    j: &mut Journal<TestFilesystem>,
    stream: Stream,
    sev: Severity,
    len: usize,
    now: Instant,
) -> Result<Appended> {
    j.append(
        stream,
        sev,
        1_764_345_600_000_000,
        |seq| payload(seq, len),
        now,
    )
}

fn drain(j: &mut Journal<TestFilesystem>, stream: Stream) -> Vec<u64> {
    let mut seqs = Vec::new();
    loop {
        let batch = j.next_batch(stream, 7).unwrap();
        if batch.is_empty() {
            return seqs;
        }
        for r in batch {
            assert_eq!(
                r.payload,
                payload(r.seq, r.payload.len()),
                "payload of {}",
                r.seq
            );
            seqs.push(r.seq);
        }
    }
}

#[test]
fn test_append_read_ack_reclaim() {
    let fs = TestFilesystem::new();
    let now = Instant::now();
    let (mut j, rec) = open(&fs, &config());
    assert_eq!(rec, Recovery::default());
    let mut events = Vec::new();
    for n in 0..300u64 {
        let (stream, sev) = if n % 3 == 0 {
            (Stream::Events, Severity::Warning)
        } else {
            (Stream::Positions, Severity::Info)
        };
        let a = append(&mut j, stream, sev, 1_500, now).unwrap();
        assert_eq!(a.seq, n + 1);
        if stream == Stream::Events {
            events.push(a.seq);
        }
    }
    assert_eq!(j.stats().backlog, (100, 200));
    assert_eq!(drain(&mut j, Stream::Events), events);
    assert!(j.stats().segments > 4, "small segments roll");
    for &seq in events.iter().rev() {
        j.ack(seq); // out of order: the ack point moves only when the prefix is complete
    }
    let s = j.stats();
    assert_eq!(s.backlog, (0, 200));
    assert_eq!(s.acked.0, *events.last().unwrap());
    // Every sealed events segment is gone; at most the open one remains.
    assert!(
        fs.list(Path::new(DIR))
            .unwrap()
            .iter()
            .filter(|n| n.starts_with("events"))
            .count()
            <= 1
    );
}

#[test]
fn test_critical_is_durable_on_return_routine_after_tick() {
    let fs = TestFilesystem::new();
    let t0 = Instant::now();
    let (mut j, _) = open(&fs, &config());
    let info = append(&mut j, Stream::Events, Severity::Info, 100, t0).unwrap();
    assert!(!info.durable);
    let crit = append(&mut j, Stream::Events, Severity::Critical, 100, t0).unwrap();
    assert!(crit.durable);
    let pos = append(&mut j, Stream::Positions, Severity::Info, 100, t0).unwrap();
    j.tick(t0 + Duration::from_millis(100)).unwrap(); // not yet due
    fs.crash(TailPersistence::Lost);
    let (mut j, rec) = open(&fs, &config());
    // The critical append synced the events stream, taking the earlier info record along.
    assert_eq!(drain(&mut j, Stream::Events), [info.seq, crit.seq]);
    assert!(
        drain(&mut j, Stream::Positions).is_empty(),
        "position {} was not yet due",
        pos.seq
    );
    assert_eq!(rec.backlog, 2);

    let p2 = append(&mut j, Stream::Positions, Severity::Info, 100, t0).unwrap();
    j.tick(t0 + Duration::from_millis(500)).unwrap(); // due: group commit
    fs.crash(TailPersistence::Lost);
    let (mut j, _) = open(&fs, &config());
    assert_eq!(drain(&mut j, Stream::Positions), [p2.seq]);
    assert!(
        p2.seq > pos.seq + SEQ_RESERVATION - 10,
        "sequence numbers are never reused"
    );
}

#[test]
fn test_deferred_criticals_share_one_sync_and_are_durable_after_commit() {
    let fs = TestFilesystem::new();
    let t0 = Instant::now();
    let mut c = config();
    c.segment_bytes = 1024 * 1024; // no roll in the middle of the group
    let (mut j, _) = open(&fs, &c);
    let deferred = |j: &mut Journal<TestFilesystem>| {
        j.append_deferred(
            Stream::Events,
            Severity::Critical,
            1_764_345_600_000_000,
            |seq| payload(seq, 200),
            t0,
        )
        .unwrap()
    };
    // Before a commit, deferred criticals are not durable: a crash may take them.
    let lost = deferred(&mut j);
    assert!(!lost.durable);
    drop(j);
    fs.crash(TailPersistence::Lost);
    let (mut j, _) = open(&fs, &c);
    assert!(
        drain(&mut j, Stream::Events).is_empty(),
        "{lost:?} was never committed"
    );

    // The first append of a group may store the ledger (a new block of sequence
    // numbers) and create the segment (a directory sync): metadata, not records.
    let mut group = vec![deferred(&mut j).seq];
    let syncs = fs.syncs();
    group.extend((0..15).map(|_| deferred(&mut j).seq));
    assert!(group.iter().all(|s| *s > lost.seq));
    assert_eq!(fs.syncs(), syncs, "nothing synced before the commit");
    let high = j.commit().unwrap();
    assert_eq!(high, *group.last().unwrap());
    assert_eq!(fs.syncs(), syncs + 1, "one fdatasync for sixteen criticals");
    assert_eq!(j.commit().unwrap(), high);
    assert_eq!(
        fs.syncs(),
        syncs + 1,
        "nothing left to sync: no second flush"
    );
    drop(j);
    fs.crash(TailPersistence::Lost);
    let (mut j, _) = open(&fs, &c);
    assert_eq!(drain(&mut j, Stream::Events), group);

    // Deferred records nobody commits are synced by a due tick, like routine ones.
    let late = deferred(&mut j);
    j.tick(t0 + c.commit_interval).unwrap();
    drop(j);
    fs.crash(TailPersistence::Lost);
    let (mut j, _) = open(&fs, &c);
    let got = drain(&mut j, Stream::Events);
    assert_eq!(got.last(), Some(&late.seq));
}

#[test]
fn test_rewind_sends_everything_unacked_again() {
    let fs = TestFilesystem::new();
    let now = Instant::now();
    let (mut j, _) = open(&fs, &config());
    for _ in 0..10 {
        append(&mut j, Stream::Events, Severity::Warning, 50, now).unwrap();
    }
    let first = j.next_batch(Stream::Events, 4).unwrap();
    j.ack(first[0].seq);
    j.ack(first[2].seq);
    j.rewind();
    let again: Vec<u64> = drain(&mut j, Stream::Events);
    assert_eq!(
        again,
        [2, 4, 5, 6, 7, 8, 9, 10],
        "3 was acknowledged: not sent again"
    );
    j.ack(2);
    assert_eq!(j.stats().acked.0, 3, "3 was acked before the rewind");
}

#[test]
fn test_full_journal_evicts_positions_first_then_refuses_positions_never_events() {
    let fs = TestFilesystem::new();
    let now = Instant::now();
    let mut c = config();
    c.segment_bytes = (HEADER_LEN + MAX_PAYLOAD) as u64;
    c.max_bytes = 4 * c.segment_bytes;
    let (mut j, _) = open(&fs, &c);
    let mut positions = 0u64;
    while positions < 1_000 {
        append(&mut j, Stream::Positions, Severity::Info, 1_000, now).unwrap();
        positions += 1;
    }
    let drops = j.take_drops();
    assert_eq!(drops.len(), 1);
    assert_eq!(drops[0].reason, DropReason::Evicted);
    assert_eq!(drops[0].worst, Severity::Info);
    let kept = drain(&mut j, Stream::Positions).len() as u64;
    assert_eq!(
        kept + drops[0].count,
        positions,
        "every position is kept or counted"
    );

    // Events fill the rest; positions are evicted to make room, and refused at the end.
    let mut events = Vec::new();
    let refused = loop {
        match append(&mut j, Stream::Events, Severity::Critical, 1_000, now) {
            Ok(a) => events.push(a.seq),
            Err(JournalError::Full(what)) => break what,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(refused, "event");
    assert!(matches!(
        append(&mut j, Stream::Positions, Severity::Info, 1_000, now),
        Err(JournalError::Full("position"))
    ));
    assert!(j.stats().refusing_positions);
    assert_eq!(
        drain(&mut j, Stream::Events),
        events,
        "no event was evicted"
    );
    let drops = j.take_drops();
    assert!(
        drops
            .iter()
            .any(|d| d.reason == DropReason::DiskFull && d.worst == Severity::Critical)
    );
    // Acknowledging events frees space: positions are accepted again.
    for &s in &events {
        j.ack(s);
    }
    append(&mut j, Stream::Positions, Severity::Info, 1_000, now).unwrap();
    assert!(!j.stats().refusing_positions);
}

#[test]
fn test_enospc_below_max_bytes_evicts_positions_then_refuses_them() {
    // The disk is smaller than `max_bytes` says (another partition user, a small card):
    // the journal learns it from ENOSPC and applies the same policy.
    let fs = TestFilesystem::new();
    let now = Instant::now();
    let c = config(); // max_bytes 64 MiB
    let seg = c.segment_bytes;
    fs.set_capacity(Some(6 * seg));
    let (mut j, _) = open(&fs, &c);
    for _ in 0..2_000 {
        append(&mut j, Stream::Positions, Severity::Info, 1_000, now).unwrap();
        j.next_batch(Stream::Positions, 0).unwrap(); // hands buffered records to the disk
    }
    let evicted: u64 = j
        .take_drops()
        .iter()
        .filter(|d| d.reason == DropReason::Evicted)
        .map(|d| d.count)
        .sum();
    assert!(
        evicted > 0,
        "positions were evicted to stay within the disk"
    );
    // Failed writes left nothing half-written behind (a real ENOSPC writes a prefix).
    let ins = super::inspect::inspect(&fs, Path::new(DIR), |_, _| {}).unwrap();
    assert!(ins.is_clean(), "{:?}", ins.segments);
    let kept = drain(&mut j, Stream::Positions);
    assert!(kept.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        kept.len() as u64 + evicted,
        2_000,
        "every position is kept or counted"
    );
    let mut events = Vec::new();
    let mut refused_events = 0;
    for _ in 0..1_000 {
        match append(&mut j, Stream::Events, Severity::Critical, 1_000, now) {
            Ok(a) if a.durable => events.push(a.seq),
            Ok(a) => events.push(a.seq), // buffered: the disk refused the write
            Err(JournalError::Full(_)) => refused_events += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused_events > 0, "the disk filled with events");
    assert!(j.stats().refusing_positions);
    assert!(matches!(
        append(&mut j, Stream::Positions, Severity::Info, 100, now),
        Err(JournalError::Full("position"))
    ));
    let drops = j.take_drops();
    assert!(
        drops.iter().any(|d| d.reason == DropReason::DiskFull),
        "{drops:?}"
    );
    // Everything accepted that reached the disk is readable, in order; acking frees space.
    let got = drain(&mut j, Stream::Events);
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    assert!(
        events.iter().take(got.len()).eq(got.iter()),
        "delivered events are the accepted ones, in order"
    );
    for s in got {
        j.ack(s);
    }
    j.tick(now + Duration::from_secs(5)).unwrap_or_default();
    append(&mut j, Stream::Positions, Severity::Info, 100, now).unwrap();
}

#[test]
fn test_torn_tail_is_truncated_and_later_appends_survive() {
    let fs = TestFilesystem::new();
    let now = Instant::now();
    let (mut j, _) = open(&fs, &config());
    let a = append(&mut j, Stream::Events, Severity::Critical, 300, now).unwrap();
    append(&mut j, Stream::Events, Severity::Warning, 300, now).unwrap();
    j.next_batch(Stream::Events, 10).unwrap(); // hands the buffered record to the filesystem
    fs.crash(TailPersistence::Torn(100));
    let (mut j, rec) = open(&fs, &config());
    assert!(rec.torn_bytes > 0);
    let b = append(&mut j, Stream::Events, Severity::Critical, 300, now).unwrap();
    fs.crash(TailPersistence::Lost);
    let (mut j, rec) = open(&fs, &config());
    assert_eq!(rec.torn_bytes, 0);
    assert_eq!(drain(&mut j, Stream::Events), [a.seq, b.seq]);
}

#[test]
fn test_damaged_ledger_is_moved_aside_and_ids_skip_a_block() {
    let fs = TestFilesystem::new();
    let now = Instant::now();
    let (mut j, _) = open(&fs, &config());
    let a = append(&mut j, Stream::Events, Severity::Critical, 100, now).unwrap();
    drop(j);
    fs.flip_bit(&Path::new(DIR).join("ledger"), 100).unwrap();
    let (mut j, rec) = open(&fs, &config());
    assert!(rec.ledger_rebuilt);
    assert_eq!(rec.moved_aside, ["ledger.1.corrupt"]);
    let b = append(&mut j, Stream::Events, Severity::Critical, 100, now).unwrap();
    assert!(b.seq > a.seq + SEQ_RESERVATION);
    assert_eq!(drain(&mut j, Stream::Events), [a.seq, b.seq]);
}

#[test]
fn test_bit_rot_in_a_sealed_segment_is_skipped_and_counted() {
    let fs = TestFilesystem::new();
    let now = Instant::now();
    let (mut j, _) = open(&fs, &config());
    for _ in 0..200 {
        append(&mut j, Stream::Events, Severity::Warning, 1_000, now).unwrap();
    }
    j.flush().unwrap();
    let sealed: Vec<String> = fs
        .list(Path::new(DIR))
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".seg"))
        .collect();
    let victim = sealed.iter().min().unwrap();
    fs.flip_bit(&Path::new(DIR).join(victim), 8 * 5_000)
        .unwrap();
    drop(j);
    let (mut j, _) = open(&fs, &config());
    let got = drain(&mut j, Stream::Events);
    let drops = j.take_drops();
    assert_eq!(drops.len(), 1, "{drops:?}");
    assert_eq!(drops[0].reason, DropReason::Corrupt);
    assert_eq!(got.len() as u64 + drops[0].count, 200);
    assert!(got.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn test_restart_resumes_after_the_ack_point() {
    let fs = TestFilesystem::new();
    let now = Instant::now();
    let (mut j, _) = open(&fs, &config());
    for _ in 0..50 {
        append(&mut j, Stream::Events, Severity::Warning, 200, now).unwrap();
    }
    for r in j.next_batch(Stream::Events, 20).unwrap() {
        j.ack(r.seq);
    }
    j.flush().unwrap();
    drop(j);
    let (mut j, rec) = open(&fs, &config());
    assert_eq!(rec.backlog, 30);
    assert_eq!(drain(&mut j, Stream::Events), (21..=50).collect::<Vec<_>>());
}

#[test]
fn test_bytes_written_per_event_with_group_commit() {
    // Group commit writes each record once, in large appends; the ledger adds a few bytes
    // per 4096 sequence numbers. (The benchmark measures the same on a real disk.)
    let fs = TestFilesystem::new();
    let mut t = Instant::now();
    let (mut j, _) = open(&fs, &JournalConfig::new(DIR));
    for _ in 0..10_000 {
        append(&mut j, Stream::Positions, Severity::Info, 400, t).unwrap();
        t += Duration::from_millis(10);
        j.tick(t).unwrap();
    }
    j.flush().unwrap();
    let per_event = fs.bytes_written() as f64 / 10_000.0;
    assert!(
        per_event < (HEADER_LEN + 400) as f64 * 1.01,
        "{per_event} bytes/event"
    );
    assert!(
        fs.syncs() < 200,
        "{} syncs for 100 s of positions at 1 s group commit",
        fs.syncs()
    );
}

fn segment_files(fs: &TestFilesystem, prefix: &str) -> usize {
    fs.list(Path::new(DIR))
        .unwrap()
        .iter()
        .filter(|n| n.starts_with(prefix))
        .count()
}

/// Appends `n` records of `len` bytes to `stream` at `now`; returns their seqs.
fn append_n(
    j: &mut Journal<TestFilesystem>,
    stream: Stream,
    sev: Severity,
    len: usize,
    n: usize,
    now: Instant,
) -> Vec<u64> {
    (0..n)
        .map(|_| append(j, stream, sev, len, now).unwrap().seq)
        .collect()
}

/// Appends `n` events at `now`, reads and acknowledges them all; returns their seqs.
fn deliver(j: &mut Journal<TestFilesystem>, n: usize, now: Instant) -> Vec<u64> {
    let seqs = append_n(j, Stream::Events, Severity::Warning, 20_000, n, now);
    assert_eq!(drain(j, Stream::Events), seqs);
    for &s in &seqs {
        j.ack(s);
    }
    seqs
}

#[test]
fn test_resend_window_keeps_acked_records_and_resends_those_acked_since() {
    let fs = TestFilesystem::new();
    let c = JournalConfig {
        resend_window: Duration::from_secs(60),
        ..config()
    };
    let t0 = Instant::now();
    let (mut j, _) = open(&fs, &c);
    j.tick(t0).unwrap();
    let early = deliver(&mut j, 20, t0);
    j.tick(t0 + Duration::from_secs(10)).unwrap();
    let late = deliver(&mut j, 20, t0 + Duration::from_secs(10));
    j.tick(t0 + Duration::from_secs(20)).unwrap();
    assert_eq!(j.stats().backlog, (0, 0));
    assert!(j.stats().retained_bytes > 0, "acknowledged segments kept");
    assert!(segment_files(&fs, "events") > 5);

    // The broker lost what it acknowledged in the last 10 s: exactly the late ones come
    // again, then new records as usual; acknowledging them again is harmless. (Ack times
    // are known to the tick: from 5 s back, the early ones would come again too.)
    assert_eq!(j.resend_since(t0 + Duration::from_secs(5)).unwrap(), 40);
    let both: Vec<u64> = early.iter().chain(&late).copied().collect();
    assert_eq!(drain(&mut j, Stream::Events), both);
    for s in both {
        j.ack(s);
    }
    assert!(!j.resending());
    assert_eq!(j.resend_since(t0 + Duration::from_secs(10)).unwrap(), 20);
    assert!(j.resending());
    let fresh = append(&mut j, Stream::Events, Severity::Critical, 100, t0)
        .unwrap()
        .seq;
    let mut expected = late.clone();
    expected.push(fresh);
    let got = drain(&mut j, Stream::Events);
    assert_eq!(got, expected);
    // The connection drops mid-resend: a rewind resumes it from the first unconfirmed one.
    for &s in &late[..5] {
        j.ack(s);
    }
    j.rewind();
    let mut again = late[5..].to_vec();
    again.push(fresh);
    assert_eq!(drain(&mut j, Stream::Events), again);
    for s in again {
        j.ack(s);
    }
    assert!(!j.resending());
    assert_eq!(j.stats().backlog, (0, 0));

    // A resend reaching further back than the samples go sends everything kept.
    assert_eq!(j.resend_since(t0 - Duration::from_secs(1)).unwrap(), 41);
    let all: Vec<u64> = early.iter().chain(&late).copied().chain([fresh]).collect();
    assert_eq!(drain(&mut j, Stream::Events), all);
    for s in all {
        j.ack(s);
    }

    // Once the window has passed, the segments go.
    j.tick(t0 + Duration::from_secs(75)).unwrap();
    j.tick(t0 + Duration::from_secs(200)).unwrap();
    assert!(
        segment_files(&fs, "events") <= 1,
        "expired segments deleted"
    );
    assert_eq!(j.stats().retained_bytes, 0);
    assert_eq!(j.resend_since(t0 + Duration::from_secs(150)).unwrap(), 0);
    assert!(drain(&mut j, Stream::Events).is_empty());
    assert!(j.take_drops().is_empty(), "nothing was dropped");
}

/// A journal of 12 small segments that keeps acknowledged records 10 minutes, ticked once.
fn kept_journal(fs: &TestFilesystem) -> (Journal<TestFilesystem>, JournalConfig, Instant) {
    let mut c = JournalConfig {
        resend_window: Duration::from_secs(600),
        ..config()
    };
    c.max_bytes = 12 * c.segment_bytes;
    let t0 = Instant::now();
    let (mut j, _) = open(fs, &c);
    j.tick(t0).unwrap();
    (j, c, t0)
}

#[test]
fn test_retained_records_survive_a_restart_and_go_first_when_space_is_needed() {
    let fs = TestFilesystem::new();
    let (mut j, c, t0) = kept_journal(&fs);
    let acked = deliver(&mut j, 8, t0);
    j.flush().unwrap();
    drop(j);

    // After a restart the acknowledged records are still there, not in the backlog, and a
    // resend (the broker came back empty) delivers them again.
    let (mut j, rec) = open(&fs, &c);
    assert_eq!(rec.backlog, 0);
    assert!(drain(&mut j, Stream::Events).is_empty());
    let t1 = t0 + Duration::from_secs(5);
    j.tick(t1).unwrap();
    // When they were acknowledged is not known after a restart: a resend reaching back
    // before it sends them all.
    assert_eq!(j.resend_since(t1).unwrap(), 0);
    assert_eq!(j.resend_since(t0).unwrap(), 8);
    assert_eq!(drain(&mut j, Stream::Events), acked);
    for &s in &acked {
        j.ack(s);
    }

    // Filling the journal with positions deletes the retained events before any position
    // is evicted: no drop.
    let before = segment_files(&fs, "events");
    assert!(before >= 3);
    let positions = append_n(&mut j, Stream::Positions, Severity::Info, 20_000, 32, t0);
    assert!(j.take_drops().is_empty(), "retained records went first");
    assert!(
        segment_files(&fs, "events") < before,
        "retained event segments deleted for space"
    );
    assert_eq!(drain(&mut j, Stream::Positions), positions);
}

#[test]
fn test_kept_critical_events_also_go_before_unacknowledged_positions() {
    let fs = TestFilesystem::new();
    let (mut j, _, t0) = kept_journal(&fs);
    let critical = append_n(&mut j, Stream::Critical, Severity::Critical, 20_000, 12, t0);
    assert_eq!(drain(&mut j, Stream::Critical), critical);
    for &s in &critical {
        j.ack(s);
    }
    let before = segment_files(&fs, "critical");
    assert!(before >= 3);
    for _ in 0..32 {
        append(&mut j, Stream::Positions, Severity::Info, 20_000, t0).unwrap();
    }
    assert!(
        j.take_drops().is_empty(),
        "kept critical segments went first"
    );
    assert!(segment_files(&fs, "critical") < before);
}

// ---- resend window: regressions found in review ----

fn rcfg(secs: u64) -> JournalConfig {
    JournalConfig {
        resend_window: Duration::from_secs(secs),
        ..config()
    }
}

#[test]
fn test_ack_samples_stay_spaced_so_the_window_expires_under_steady_acks() {
    let fs = TestFilesystem::new();
    let (mut j, _) = open(&fs, &rcfg(60));
    let t0 = Instant::now();
    // one record acked every 100 ms tick for 300 s (a busy post / uplink tick of 50 ms)
    for k in 0..3000u64 {
        let t = t0 + Duration::from_millis(100 * k);
        deliver(&mut j, 1, t);
        j.tick(t).unwrap();
    }
    let end = t0 + Duration::from_millis(100 * 3000);
    // a 60 s window holds ~600 records; a resend from 10 s back should be ~100
    let n = j.resend_since(end - Duration::from_secs(10)).unwrap();
    assert!(n <= 200, "resend of the last 10 s covers {n} records");
    assert!(
        segment_files(&fs, "events") < 300,
        "{} segments kept",
        segment_files(&fs, "events")
    );
}

#[test]
fn test_a_rewind_before_the_resend_started_keeps_it() {
    let fs = TestFilesystem::new();
    let (mut j, _) = open(&fs, &rcfg(60));
    let t0 = Instant::now();
    j.tick(t0).unwrap();
    let acked = deliver(&mut j, 10, t0);
    j.tick(t0 + Duration::from_secs(1)).unwrap();
    // 3 more sent, not yet acknowledged (window full)
    let unacked = append_n(&mut j, Stream::Events, Severity::Warning, 100, 3, t0);
    assert_eq!(drain(&mut j, Stream::Events), unacked);
    assert_eq!(j.resend_since(t0 - Duration::from_secs(1)).unwrap(), 10);
    // connection drops before the window had room to read any resend
    j.rewind();
    let got = drain(&mut j, Stream::Events);
    let mut want = acked.clone();
    want.extend(&unacked);
    assert_eq!(got, want, "resend lost by the rewind");
}

#[test]
fn test_a_resend_completes_when_no_segment_is_open() {
    let fs = TestFilesystem::new();
    let c = rcfg(600);
    let (mut j, _) = open(&fs, &c);
    let t0 = Instant::now();
    let acked = deliver(&mut j, 9, t0); // 3 segments of 3, last still open
    j.flush().unwrap();
    // next record rolls: segment sealed, new open file created, record not yet synced
    append(&mut j, Stream::Events, Severity::Warning, 20_000, t0).unwrap();
    drop(j);
    fs.crash(TailPersistence::Lost);
    let (mut j, _) = open(&fs, &c);
    let t1 = t0 + Duration::from_secs(1);
    j.tick(t1).unwrap();
    assert_eq!(j.resend_since(t0).unwrap(), 9);
    assert_eq!(drain(&mut j, Stream::Events), acked);
    for &s in &acked {
        j.ack(s);
    }
    assert!(
        !j.resending(),
        "resend delivered and acked, still resending (drain never exits)"
    );
}

#[test]
fn test_kept_events_go_before_unacknowledged_positions_even_mid_resend() {
    let fs = TestFilesystem::new();
    let mut c = rcfg(600);
    c.max_bytes = 12 * c.segment_bytes;
    let (mut j, _) = open(&fs, &c);
    let t0 = Instant::now();
    j.tick(t0).unwrap();
    deliver(&mut j, 15, t0); // 5 events segments, all acked & retained
    j.tick(t0 + Duration::from_secs(1)).unwrap();
    assert_eq!(j.resend_since(t0 - Duration::from_secs(1)).unwrap(), 15);
    // one resent record read: cursor inside events segment 0
    assert_eq!(j.next_batch(Stream::Events, 1).unwrap().len(), 1);
    // 30 positions fit once the four sealed kept segments go (the open one stays).
    for _ in 0..30 {
        append(&mut j, Stream::Positions, Severity::Info, 20_000, t0).unwrap();
    }
    let drops = j.take_drops();
    assert!(
        drops.is_empty(),
        "unacked positions evicted while acked events kept: {drops:?}"
    );
}

#[test]
fn test_a_second_resend_includes_records_resent_but_unconfirmed() {
    let fs = TestFilesystem::new();
    let (mut j, _) = open(&fs, &rcfg(600));
    let t0 = Instant::now();
    j.tick(t0).unwrap();
    let acked = deliver(&mut j, 30, t0);
    j.tick(t0 + Duration::from_secs(1)).unwrap();
    j.resend_since(t0 - Duration::from_secs(1)).unwrap();
    let first: Vec<u64> = j
        .next_batch(Stream::Events, 10)
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(first, acked[..10]);
    for &s in &acked[..5] {
        j.ack(s);
    }
    j.rewind(); // reconnect: resume from 6
    assert_eq!(j.next_batch(Stream::Events, 5).unwrap().len(), 5); // 6..10 out again
    // broker lost its state again: resend from the start
    j.resend_since(t0 - Duration::from_secs(1)).unwrap();
    let got = drain(&mut j, Stream::Events);
    assert!(got.contains(&1), "1..5 never resent: {got:?}");
}

// ---- model-based property test ---------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Append {
        positions: bool,
        severity: u8,
        len: u16,
        /// Through `append_deferred`: durable only after a `Commit`.
        deferred: bool,
    },
    Commit,
    Tick {
        ms: u16,
    },
    Read {
        /// Index into `Stream::ALL`.
        stream: u8,
        max: u8,
    },
    Ack {
        nth: u8,
    },
    Rewind,
    /// The broker lost its state: resend what was acknowledged in the last `back_ms`.
    Resend {
        back_ms: u16,
    },
    Flush,
    Crash {
        tail: u8,
        mode: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), 0u8..3, 0u16..3_000, any::<bool>()).prop_map(|(positions, severity, len, deferred)| Op::Append { positions, severity, len, deferred }),
        2 => Just(Op::Commit),
        2 => (0u16..1_500).prop_map(|ms| Op::Tick { ms }),
        3 => (0u8..3, 1u8..20).prop_map(|(stream, max)| Op::Read { stream, max }),
        3 => any::<u8>().prop_map(|nth| Op::Ack { nth }),
        1 => Just(Op::Rewind),
        1 => (0u16..2_000).prop_map(|back_ms| Op::Resend { back_ms }),
        1 => Just(Op::Flush),
        1 => (any::<u8>(), 0u8..3).prop_map(|(tail, mode)| Op::Crash { tail, mode }),
    ]
}

#[derive(Debug, Default)]
struct Model {
    /// seq → (stream, payload len) of every record whose append returned Ok.
    appended: BTreeMap<u64, (Stream, usize)>,
    /// Records that must survive any crash until acknowledged.
    durable: BTreeSet<u64>,
    /// Records appended but maybe lost in a crash.
    volatile: BTreeSet<u64>,
    /// Acknowledged.
    acked: BTreeSet<u64>,
    /// When each was (last) acknowledged.
    ack_time: BTreeMap<u64, Instant>,
    /// In flight per stream, in order.
    inflight: BTreeMap<Stream, Vec<u64>>,
    /// Highest sequence number ever handed out.
    max_seq: u64,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// After every crash and restart, every record whose append returned durable (or that
    /// was flushed, or appended deferred and then covered by a commit that returned) and is
    /// not acknowledged is present exactly once, in order; nothing is invented; sequence
    /// numbers are never reused.
    #[test]
    fn prop_journal_matches_model_across_crashes(ops in proptest::collection::vec(op(), 1..120)) {
        check_model(ops, Duration::ZERO)?;
    }

    /// The same with a resend window: acknowledged records are kept, and a resend after
    /// the broker lost its state delivers again every record acknowledged since then.
    #[test]
    fn prop_resend_window_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
        check_model(ops, Duration::from_secs(2))?;
    }
}

fn check_model(ops: Vec<Op>, window: Duration) -> std::result::Result<(), TestCaseError> {
    let fs = TestFilesystem::new();
    let c = JournalConfig {
        resend_window: window,
        ..config()
    };
    let (mut j, _) = open(&fs, &c);
    let mut m = Model::default();
    let mut now = Instant::now();
    let mut last_tick_synced = now;
    for op in ops {
        match op {
            Op::Append {
                positions,
                severity,
                len,
                deferred,
            } => {
                // Critical events in their own stream, as the event log files them.
                let stream = match (positions, severity) {
                    (true, _) => Stream::Positions,
                    (false, 0) => Stream::Critical,
                    (false, _) => Stream::Events,
                };
                let sev =
                    [Severity::Critical, Severity::Warning, Severity::Info][usize::from(severity)];
                let a = if deferred {
                    j.append_deferred(
                        stream,
                        sev,
                        1_764_345_600_000_000,
                        |seq| payload(seq, usize::from(len)),
                        now,
                    )
                    .unwrap()
                } else {
                    append(&mut j, stream, sev, usize::from(len), now).unwrap()
                };
                prop_assert!(
                    !(deferred && a.durable),
                    "a deferred append reported durable"
                );
                prop_assert!(
                    a.seq > m.max_seq,
                    "seq {} reused (max {})",
                    a.seq,
                    m.max_seq
                );
                m.max_seq = a.seq;
                m.appended.insert(a.seq, (stream, usize::from(len)));
                if a.durable {
                    // A sync of the events stream makes everything before it durable too.
                    let older: Vec<u64> = m
                        .volatile
                        .iter()
                        .copied()
                        .filter(|s| m.appended[s].0 == stream)
                        .collect();
                    for s in older {
                        m.volatile.remove(&s);
                        m.durable.insert(s);
                    }
                    m.durable.insert(a.seq);
                } else {
                    m.volatile.insert(a.seq);
                }
            }
            Op::Tick { ms } => {
                now += Duration::from_millis(u64::from(ms));
                j.tick(now).unwrap();
                // Records older than the interval are durable after this tick.
                if now.duration_since(last_tick_synced) >= c.commit_interval {
                    last_tick_synced = now;
                }
            }
            Op::Read { stream, max } => {
                let stream = Stream::ALL[usize::from(stream) % Stream::ALL.len()];
                let batch = j.next_batch(stream, usize::from(max)).unwrap();
                let fl = m.inflight.entry(stream).or_default();
                for r in batch {
                    prop_assert_eq!(m.appended.get(&r.seq).map(|a| a.0), Some(stream));
                    prop_assert!(!m.acked.contains(&r.seq), "acked {} delivered again", r.seq);
                    prop_assert!(fl.last().is_none_or(|&l| l < r.seq));
                    fl.push(r.seq);
                }
            }
            Op::Ack { nth } => {
                let all: Vec<u64> = m.inflight.values().flatten().copied().collect();
                if !all.is_empty() {
                    let seq = all[usize::from(nth) % all.len()];
                    j.ack(seq);
                    m.acked.insert(seq);
                    m.ack_time.insert(seq, now);
                    for fl in m.inflight.values_mut() {
                        fl.retain(|&s| s != seq);
                    }
                }
            }
            Op::Rewind => {
                j.rewind();
                m.inflight.clear();
            }
            Op::Resend { back_ms } => {
                if window.is_zero() {
                    continue;
                }
                let since = now
                    .checked_sub(Duration::from_millis(u64::from(back_ms)))
                    .unwrap_or(now);
                j.rewind();
                m.inflight.clear();
                j.resend_since(since).unwrap();
                for stream in Stream::ALL {
                    let got = drain(&mut j, stream);
                    prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "{:?}", got);
                    let got_set: BTreeSet<u64> = got.iter().copied().collect();
                    // Everything acknowledged after `since` (within the window) comes again.
                    for (s, t) in &m.ack_time {
                        if m.appended.get(s).map(|a| a.0) == Some(stream) && *t > since {
                            prop_assert!(
                                got_set.contains(s),
                                "{} acknowledged at +{:?} after the resend point was not sent again: {:?}",
                                s,
                                t.saturating_duration_since(since),
                                got
                            );
                        }
                    }
                    // And everything unacknowledged, as after any rewind.
                    for (s, a) in &m.appended {
                        if a.0 == stream && !m.acked.contains(s) {
                            prop_assert!(got_set.contains(s), "unacknowledged {} not delivered", s);
                        }
                    }
                    let fl = m.inflight.entry(stream).or_default();
                    for s in got {
                        if m.acked.contains(&s) {
                            j.ack(s); // acknowledged again: harmless
                        } else {
                            fl.push(s);
                        }
                    }
                }
                prop_assert!(
                    !j.resending(),
                    "the resend is complete once read and acknowledged"
                );
            }
            Op::Commit => {
                // Every record appended before a commit that returned is durable.
                let high = j.commit().unwrap();
                prop_assert!(
                    high >= m.max_seq,
                    "commit returned {} below {}",
                    high,
                    m.max_seq
                );
                let v: Vec<u64> = std::mem::take(&mut m.volatile).into_iter().collect();
                m.durable.extend(v);
            }
            Op::Flush => {
                j.flush().unwrap();
                let v: Vec<u64> = std::mem::take(&mut m.volatile).into_iter().collect();
                m.durable.extend(v);
            }
            Op::Crash { tail, mode } => {
                let tail = match mode {
                    0 => TailPersistence::Lost,
                    1 => TailPersistence::Kept,
                    _ => TailPersistence::Torn(tail),
                };
                drop(j);
                fs.crash(tail);
                let (nj, _) = open(&fs, &c);
                j = nj;
                m.inflight.clear();
                // What is on disk now, per stream, in order, exactly once.
                for stream in Stream::ALL {
                    let on_disk: Vec<u64> =
                        j.records(stream).unwrap().iter().map(|r| r.seq).collect();
                    prop_assert!(on_disk.windows(2).all(|w| w[0] < w[1]), "{:?}", on_disk);
                    for s in &on_disk {
                        prop_assert_eq!(
                            m.appended.get(s).map(|a| a.0),
                            Some(stream),
                            "invented record {}",
                            s
                        );
                    }
                    let on_disk: BTreeSet<u64> = on_disk.into_iter().collect();
                    for s in m
                        .durable
                        .iter()
                        .filter(|s| m.appended[s].0 == stream && !m.acked.contains(s))
                    {
                        prop_assert!(on_disk.contains(s), "durable record {} lost", s);
                    }
                    // Forget what the crash took: it was never durable.
                    let lost: Vec<u64> = m
                        .volatile
                        .iter()
                        .copied()
                        .filter(|s| m.appended[s].0 == stream && !on_disk.contains(s))
                        .collect();
                    for s in lost {
                        m.volatile.remove(&s);
                        m.appended.remove(&s);
                    }
                }
                // The rest of the volatile records survived: durable from now on.
                let v: Vec<u64> = std::mem::take(&mut m.volatile).into_iter().collect();
                m.durable.extend(v);
                // After a restart the unacknowledged backlog is delivered again, in order.
                for stream in Stream::ALL {
                    let expected: Vec<u64> = m
                        .appended
                        .iter()
                        .filter(|(s, a)| a.0 == stream && !m.acked.contains(s))
                        .map(|(s, _)| *s)
                        .collect();
                    let got = drain(&mut j, stream);
                    // Acknowledged records whose ack point was not stored may come back:
                    // at-least-once. Everything unacknowledged must.
                    let got_unacked: Vec<u64> = got
                        .iter()
                        .copied()
                        .filter(|s| !m.acked.contains(s))
                        .collect();
                    prop_assert_eq!(got_unacked, expected);
                    // Those that came back are unacknowledged again as far as the journal
                    // knows; the uplink will send and ack them again.
                    for s in &got {
                        m.acked.remove(s);
                        m.ack_time.remove(s);
                    }
                    j.rewind();
                }
            }
        }
    }
    Ok(())
}

#[test]
fn test_io_failing_is_set_by_a_failed_write_and_cleared_once_everything_is_on_disk() {
    let fs = TestFilesystem::new();
    let now = Instant::now();
    let (mut j, _) = open(&fs, &config());
    append(&mut j, Stream::Events, Severity::Critical, 1_000, now).unwrap();
    j.tick(now).unwrap();
    assert!(!j.stats().io_failing);
    // The card takes nothing more.
    fs.set_capacity(Some(1));
    let r = append(&mut j, Stream::Events, Severity::Critical, 1_000, now);
    assert!(j.stats().io_failing, "{r:?}");
    let _ = j.tick(now + Duration::from_secs(5));
    assert!(
        j.stats().io_failing,
        "still failing while nothing can be written"
    );
    // It works again: the next tick gets everything to disk and says so.
    fs.set_capacity(None);
    j.tick(now + Duration::from_secs(10)).unwrap();
    assert!(!j.stats().io_failing);
}
