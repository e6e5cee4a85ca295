//! The journal under real crashes: a child process appends at full speed and is killed
//! with SIGKILL at random moments, many times; after each restart nothing the journal
//! reported durable is missing, nothing is duplicated, and the journal verifies.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use ects_e2e::{bin, journal_dump, scratch};

/// A small deterministic generator, seeded per run and printed on failure.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_durable() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    let dir = scratch("sigkill");
    let mut durable = BTreeSet::new();
    let rounds = 25;
    for round in 0..rounds {
        let mut child = Command::new(bin("ects-gateway"))
            .args([
                "journal",
                "soak",
                "--count",
                "10000000",
                "--critical-every",
                "7",
                "--dir",
            ])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let kill_after = 1 + rng.next(300);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < kill_after {
            let Some(line) = lines.next() else { break };
            let line = line.unwrap();
            if let Some(seq) = line.strip_prefix("durable ") {
                assert!(
                    durable.insert(seq.parse::<u64>().unwrap()),
                    "seed {seed}: seq {seq} handed out twice"
                );
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Whatever the child printed before it died was durable too.
        for line in lines {
            if let Some(seq) = line.unwrap().strip_prefix("durable ") {
                assert!(
                    durable.insert(seq.parse::<u64>().unwrap()),
                    "seed {seed}: duplicate {seq}"
                );
            }
        }
        let verify = Command::new(bin("ects-gateway"))
            .args(["journal", "verify", "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&verify.stdout);
        assert!(
            !report.contains("corrupt"),
            "seed {seed} round {round}: {report}"
        );
        let on_disk = journal_dump(&dir);
        let events: Vec<u64> = on_disk
            .iter()
            .filter(|(s, _)| s == "critical")
            .map(|(_, q)| *q)
            .collect();
        assert!(
            events.windows(2).all(|w| w[0] < w[1]),
            "seed {seed}: events out of order or duplicated"
        );
        let present: BTreeSet<u64> = events.into_iter().collect();
        let missing: Vec<&u64> = durable.difference(&present).collect();
        assert!(
            missing.is_empty(),
            "seed {seed} round {round}: durable records missing: {missing:?}"
        );
    }
    assert!(
        durable.len() >= rounds,
        "every round saw at least one durable append"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verify_reports_bit_rot_and_the_journal_still_opens() {
    let dir = scratch("rot");
    let out = Command::new(bin("ects-gateway"))
        .args([
            "journal",
            "soak",
            "--count",
            "30000",
            "--critical-every",
            "3",
            "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let sealed = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .expect("a sealed segment");
    let mut bytes = std::fs::read(&sealed).unwrap();
    bytes[100_000] ^= 0x20;
    std::fs::write(&sealed, bytes).unwrap();

    let verify = Command::new(bin("ects-gateway"))
        .args(["journal", "verify", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(!verify.status.success(), "{report}");
    assert!(
        report.contains("1 corrupt region(s)") && report.contains("DAMAGE FOUND"),
        "{report}"
    );

    // The gateway still starts on it and keeps appending.
    let again = Command::new(bin("ects-gateway"))
        .args(["journal", "soak", "--count", "10", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `script` in a private mount namespace where `dir` is a tmpfs of `size`, so the
/// disk really fills (ENOSPC) without touching the machine's filesystems.
fn on_small_tmpfs(dir: &std::path::Path, size: &str, script: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-ec"])
        .arg(format!(
            "mount -t tmpfs -o size={size} tmpfs '{}'\n{script}",
            dir.display()
        ))
        .env("GW", bin("ects-gateway"))
        .env("DIR", dir)
        .output()
        .expect("unshare (util-linux) runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn disk_full_on_a_real_tmpfs_evicts_positions_then_refuses_and_never_loses_a_durable_event() {
    let dir = scratch("diskfull");
    // Run 1: mostly positions on a 12 MiB disk with the default 512 MiB limit: the journal
    // learns the disk is full from ENOSPC and evicts the oldest positions.
    // Run 2: mostly critical events: positions are refused, then events; every event the
    // journal called durable is still there, and the journal verifies clean.
    let out = on_small_tmpfs(
        &dir,
        "12m",
        r#"
        "$GW" journal soak --dir "$DIR" --count 60000 --critical-every 20 --payload-bytes 600 2>/dev/null
        echo "--- run 2"
        "$GW" journal soak --dir "$DIR" --count 30000 --critical-every 2 --payload-bytes 600 2>/dev/null
        echo "--- verify"
        "$GW" journal verify --dir "$DIR"
        echo "--- dump"
        "$GW" journal dump --dir "$DIR" | grep '"stream":"critical"' | sed 's/.*"seq":\([0-9]*\).*/\1/'
        "#,
    );
    let (run1, rest) = out.split_once("--- run 2").unwrap();
    let (run2, rest) = rest.split_once("--- verify").unwrap();
    let (verify, dump) = rest.split_once("--- dump").unwrap();
    assert!(
        run1.contains("Evicted") && run1.contains(" 0 refused"),
        "{run1}"
    );
    assert!(
        run2.contains("DiskFull worst critical") && run2.contains("refusing positions: true"),
        "{run2}"
    );
    assert!(verify.contains("verify: clean"), "{verify}");
    let durable: BTreeSet<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("durable "))
        .map(|s| s.parse().unwrap())
        .collect();
    let present: BTreeSet<u64> = dump
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert!(durable.len() > 10_000, "{}", durable.len());
    let missing: Vec<&u64> = durable.difference(&present).collect();
    assert!(missing.is_empty(), "durable events lost: {missing:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
