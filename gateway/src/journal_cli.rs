//! `ects-gateway journal …`: field tools for the store-and-forward journal.
//!
//! `drain` delivers a journal's backlog to a broker through the same uplink as the service
//! (for a unit whose service cannot run, and for tests against a real broker).
//! `stat`, `dump` and `verify` only read (they never repair or move a file, so they are
//! safe on a journal copied off a failed unit). `soak` writes: it appends synthetic records
//! at full speed and prints every sequence number the journal reported durable, for power-
//! cut tests on a real device and for the crash test in the test suite.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;
use ects_firmware::event::Severity;
use ects_firmware::time::Timestamp;
use ects_gateway::command::NoTripRegistry;
use ects_gateway::journal::event_log::EventLog;
use ects_gateway::journal::fs::ProductionFilesystem;
use ects_gateway::journal::inspect::{Inspection, inspect};
use ects_gateway::journal::ledger::LedgerState;
use ects_gateway::journal::{Journal, JournalConfig, JournalError, Stream};
use ects_gateway::payload::Encoding;
use ects_gateway::tls::TlsSettings;
use ects_gateway::uplink::{self, StopWhen, UplinkConfig};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, watch};

/// The `journal` subcommands.
#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Backlog, oldest unacknowledged event, drops and damage, at a glance.
    Stat {
        /// The journal directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Every record as a JSON line: seq, stream, severity, received_at, acked, payload.
    Dump {
        /// The journal directory.
        #[arg(long)]
        dir: PathBuf,
        /// Only records not yet acknowledged by the broker.
        #[arg(long)]
        unacked: bool,
    },
    /// Check every record's CRC and every segment's record count; exit 1 on damage.
    Verify {
        /// The journal directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Deliver the journal's backlog to an MQTT broker (QoS 1, acknowledged per record),
    /// then exit; with --follow keep delivering until SIGTERM. Publishes the retained
    /// status (`online`, health, `offline`) like the service.
    Drain {
        /// The journal directory.
        #[arg(long)]
        dir: PathBuf,
        /// The broker, HOST:PORT.
        #[arg(long)]
        broker: String,
        /// The gateway id (MQTT client id and topic level).
        #[arg(long)]
        gateway: String,
        /// MQTT keep-alive in seconds (the Last Will fires ~1.5 × this after a crash).
        #[arg(long, default_value_t = 30)]
        keep_alive_s: u64,
        /// Keep running after the backlog is delivered, until SIGTERM or Ctrl-C.
        #[arg(long)]
        follow: bool,
        /// Publish at most this many records per second (slow or metered links).
        #[arg(long)]
        max_rate: Option<u32>,
        /// Seconds to wait, when the broker turns out to have lost its state, before the
        /// records it had acknowledged are sent again (subscribers need to come back first).
        #[arg(long, default_value_t = 10)]
        resend_delay_s: u64,
        /// Connect with TLS, trusting only this CA certificate (PEM).
        #[arg(long)]
        tls_ca: Option<PathBuf>,
        /// Client certificate chain (PEM) for mutual TLS; needs --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// Client private key (PEM, mode 600) for mutual TLS; needs --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Check the broker's certificate against this name instead of the host.
        #[arg(long)]
        tls_server_name: Option<String>,
    },
    /// Append synthetic records at full speed, printing `durable <seq>` for each critical
    /// one once it is on stable storage (power-cut and crash testing).
    Soak {
        /// The journal directory (use a scratch directory, not a live journal).
        #[arg(long)]
        dir: PathBuf,
        /// Records to append.
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        /// Every n-th record is critical (fsynced); the rest are routine positions.
        #[arg(long, default_value_t = 10)]
        critical_every: u64,
        /// Payload size in bytes.
        #[arg(long, default_value_t = 400)]
        payload_bytes: usize,
        /// Journal size limit in bytes (default: the service default, 512 MiB).
        #[arg(long)]
        max_bytes: Option<u64>,
    },
}

fn load(
    dir: &std::path::Path,
    each: impl FnMut(&ects_gateway::journal::record::Record, bool),
) -> anyhow::Result<Inspection> {
    anyhow::ensure!(dir.is_dir(), "{}: no such journal directory", dir.display());
    inspect(&ProductionFilesystem, dir, each)
        .with_context(|| format!("reading journal {}", dir.display()))
}

fn time_text(us: i64) -> String {
    Timestamp::from_unix_micros(us).to_string()
}

/// Runs a `journal` subcommand.
pub fn run(cmd: JournalCommand, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    match cmd {
        JournalCommand::Stat { dir } => {
            let ins = load(&dir, |_, _| {})?;
            writeln!(out, "journal {}", dir.display())?;
            match &ins.ledger {
                LedgerState::Valid(l) => writeln!(
                    out,
                    "  ledger:          valid; acknowledged up to critical {} / events {} / positions {}; {} dropped in its life",
                    l.critical_acked, l.events_acked, l.positions_acked, l.dropped_total
                )?,
                LedgerState::Missing => {
                    writeln!(out, "  ledger:          none (nothing acknowledged yet)")?
                }
                LedgerState::Corrupt => writeln!(
                    out,
                    "  ledger:          DAMAGED (rebuilt from segments on next start)"
                )?,
            }
            let bytes: u64 = ins.segments.iter().map(|s| s.bytes).sum();
            writeln!(
                out,
                "  segments:        {} ({:.1} MiB)",
                ins.segments.len(),
                bytes as f64 / 1_048_576.0
            )?;
            writeln!(
                out,
                "  backlog:         {} events, {} positions unacknowledged",
                ins.backlog.0, ins.backlog.1
            )?;
            writeln!(
                out,
                "  kept for resend: {} acknowledged records",
                ins.acknowledged_kept
            )?;
            match ins.oldest_unacked_us {
                Some(us) => {
                    let now = ects_gateway::wall_clock().unix_micros();
                    writeln!(
                        out,
                        "  oldest unacked:  {} ({} s ago)",
                        time_text(us),
                        (now - us) / 1_000_000
                    )?;
                }
                None => writeln!(out, "  oldest unacked:  -")?,
            }
            let damaged: Vec<_> = ins.segments.iter().filter(|s| !s.is_clean()).collect();
            if damaged.is_empty() {
                writeln!(out, "  damage:          none")?;
            } else {
                writeln!(
                    out,
                    "  damage:          {} segment(s); run `ects-gateway journal verify`",
                    damaged.len()
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::Dump { dir, unacked } => {
            let mut err = None;
            load(&dir, |r, acked| {
                if (unacked && acked) || err.is_some() {
                    return;
                }
                let payload = match serde_json::from_slice::<serde_json::Value>(&r.payload) {
                    Ok(v) => v,
                    Err(_) => serde_json::Value::String(
                        r.payload.iter().map(|b| format!("{b:02x}")).collect(),
                    ),
                };
                let line = serde_json::json!({
                    "seq": r.seq,
                    "stream": r.stream.prefix(),
                    "severity": r.severity.as_str(),
                    "received_at": time_text(r.received_at_us),
                    "acked": acked,
                    "payload": payload,
                });
                if let Err(e) = writeln!(out, "{line}") {
                    err = Some(e);
                }
            })?;
            if let Some(e) = err {
                return Err(e.into());
            }
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::Verify { dir } => {
            let ins = load(&dir, |_, _| {})?;
            for s in &ins.segments {
                let mut problems = Vec::new();
                if s.corrupt_regions > 0 {
                    problems.push(format!("{} corrupt region(s)", s.corrupt_regions));
                }
                if s.torn_bytes > 0 {
                    problems.push(format!(
                        "torn tail of {} bytes (cut on next start)",
                        s.torn_bytes
                    ));
                }
                if let Some(p) = s.promised.filter(|&p| p != s.records) {
                    problems.push(format!("{} of {} records readable", s.records, p));
                }
                let verdict = if problems.is_empty() {
                    "ok".to_string()
                } else {
                    problems.join("; ")
                };
                writeln!(out, "{}: {} records, {}", s.name, s.records, verdict)?;
            }
            if matches!(ins.ledger, LedgerState::Corrupt) {
                writeln!(out, "ledger: damaged")?;
            }
            for f in &ins.other_files {
                writeln!(out, "{f}: not a journal file")?;
            }
            let clean = ins.is_clean();
            writeln!(
                out,
                "verify: {}",
                if clean { "clean" } else { "DAMAGE FOUND" }
            )?;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        JournalCommand::Drain {
            dir,
            broker,
            gateway,
            keep_alive_s,
            follow,
            max_rate,
            resend_delay_s,
            tls_ca,
            tls_cert,
            tls_key,
            tls_server_name,
        } => {
            let tls = match tls_ca {
                Some(ca) => Some(TlsSettings {
                    ca,
                    client: tls_cert.zip(tls_key),
                    server_name: tls_server_name,
                }),
                None => {
                    anyhow::ensure!(
                        tls_cert.is_none() && tls_server_name.is_none(),
                        "--tls-cert and --tls-server-name need --tls-ca"
                    );
                    None
                }
            };
            let mut config = uplink_config(&broker, &gateway)?;
            config.keep_alive = Duration::from_secs(keep_alive_s.max(1));
            config.max_rate = max_rate;
            config.resend_delay = Duration::from_secs(resend_delay_s);
            config.tls = tls;
            drain(&dir, config, follow, out)
        }
        JournalCommand::Soak {
            dir,
            count,
            critical_every,
            payload_bytes,
            max_bytes,
        } => {
            let mut config = JournalConfig::new(&dir);
            if let Some(max) = max_bytes {
                config.max_bytes = max;
            }
            let (mut journal, recovery) = Journal::open(ProductionFilesystem, config)
                .with_context(|| format!("opening journal {}", dir.display()))?;
            tracing::info!(?recovery, "journal opened");
            let every = critical_every.max(1);
            let (mut appended_n, mut refused) = (0u64, 0u64);
            let mut last_tick = Instant::now();
            for n in 0..count {
                let now = Instant::now();
                let (stream, severity) = if n % every == 0 {
                    (Stream::Critical, Severity::Critical)
                } else {
                    (Stream::Positions, Severity::Info)
                };
                let received = ects_gateway::wall_clock().unix_micros();
                let appended = match journal.append(
                    stream,
                    severity,
                    received,
                    |seq| {
                        let mut p = format!("{{\"soak\":{seq}}}").into_bytes();
                        p.resize(payload_bytes.max(p.len()), b' ');
                        p
                    },
                    now,
                ) {
                    Ok(a) => a,
                    Err(JournalError::Full(_)) => {
                        refused += 1;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                appended_n += 1;
                if appended.durable {
                    writeln!(out, "durable {}", appended.seq)?;
                    out.flush()?;
                }
                if now.duration_since(last_tick) >= Duration::from_millis(100) {
                    journal.tick(now)?;
                    last_tick = now;
                }
            }
            if let Err(e) = journal.flush() {
                tracing::warn!(error = %e, "final flush failed; buffered records were not written");
            }
            for d in journal.take_drops() {
                writeln!(out, "dropped {} {:?} worst {}", d.count, d.reason, d.worst)?;
            }
            let stats = journal.stats();
            writeln!(
                out,
                "soak: {appended_n} appended, {refused} refused; backlog {} events, {} positions; refusing positions: {}",
                stats.backlog.0, stats.backlog.1, stats.refusing_positions
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The uplink settings for `--broker HOST:PORT` and `--gateway ID`.
fn uplink_config(broker: &str, gateway: &str) -> anyhow::Result<UplinkConfig> {
    let gateway: ects_firmware::event::GatewayId = gateway
        .parse()
        .map_err(|e| anyhow::anyhow!("--gateway {gateway:?}: {e}"))?;
    let (host, port) = broker
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .with_context(|| format!("--broker {broker:?}: expected HOST:PORT"))?;
    Ok(UplinkConfig::new(gateway, host, port))
}

fn drain(
    dir: &std::path::Path,
    config: UplinkConfig,
    follow: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(dir.is_dir(), "{}: no such journal directory", dir.display());
    // The service may have been configured for a larger journal than the default limit:
    // never open it smaller than it is, or the records `drain` itself writes (command
    // answers, drop reports) would evict positions it was asked to deliver.
    let mut jc = JournalConfig::new(dir);
    let used: u64 = std::fs::read_dir(dir)
        .with_context(|| format!("reading journal {}", dir.display()))?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    jc.max_bytes = jc.max_bytes.max(used.saturating_add(jc.segment_bytes * 2));
    let (journal, recovery) = Journal::open(ProductionFilesystem, jc)
        .with_context(|| format!("opening journal {}", dir.display()))?;
    tracing::info!(?recovery, "journal opened");
    let log = Arc::new(Mutex::new(EventLog::new(
        journal,
        config.gateway.clone(),
        Encoding::Json,
    )));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(async {
        let (stop_tx, stop_rx) = watch::channel(if follow {
            StopWhen::Never
        } else {
            StopWhen::Drained
        });
        tokio::spawn(async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            let _ = stop_tx.send(StopWhen::Now);
        });
        uplink::run(
            config,
            log.clone(),
            Arc::new(Notify::new()),
            Some(Box::new(NoTripRegistry {
                why: "`journal drain` has no trip registry; send it to the gateway service",
            })),
            stop_rx,
        )
        .await
    })?;
    writeln!(
        out,
        "drain: {} acknowledged, {} published, {} resend(s) after the broker lost its state, {} connection(s)",
        report.acked, report.published, report.resends, report.connects
    )?;
    Ok(ExitCode::SUCCESS)
}
