//! `ects-gateway replay --config FILE --gps [SOURCE=]PATH --seal PROTOCOL:PATH …`:
//! recorded inputs through the corridor monitor, events out as JSON Lines.
//!
//! This is how an incident is reproduced after the fact. Inputs are decoded as the service
//! decodes them (NMEA framer and epoch assembler; seal decoders with de-duplication),
//! merged in time order (a stable sort, so inputs at the same time keep file order: GPS
//! files first, then seal files, as given), and fed to the monitor with time taken from
//! the data: the fix's UTC time, the seal report's device time (or the last time seen in
//! that file). Before each input, the monitor's clock-driven checks run at that input's
//! time. No sleeping, no wall clock.
//!
//! Output: exactly the payload that would be published, one a line, with ids
//! `<gateway>:<n>` numbered from 1 as a fresh journal numbers them. The same input gives
//! byte-identical output. A summary goes to standard error.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use ects_firmware::event::{Event, EventId, GatewayId};
use ects_firmware::nmea::fix::{Fix, FixAssembler};
use ects_firmware::nmea::framer::Framer;
use ects_firmware::nmea::parse;
use ects_firmware::seal::SealReport;
use ects_firmware::time::Timestamp;
use ects_gateway::monitor::{self, GatewayMonitor};
use ects_gateway::payload::{Encoding, encode};

use crate::decode::seal::{Decoder, SealProtocol};

/// Arguments of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The gateway config: `[gateway] id`, `[positions] interval_s`, `[monitor]` and
    /// `[[trips]]` are used.
    #[arg(long)]
    config: PathBuf,
    /// An NMEA capture: `PATH` (source `gps`) or `SOURCE=PATH`. Repeatable.
    #[arg(long, value_name = "[SOURCE=]PATH")]
    gps: Vec<String>,
    /// A seal capture, one frame a line (hex or text, as `decode seal` reads):
    /// `PROTOCOL:PATH` with PROTOCOL jt600, jt808, eseal, teratrack or native. Repeatable.
    #[arg(long, value_name = "PROTOCOL:PATH")]
    seal: Vec<String>,
    /// Payload encoding; CBOR payloads are printed as hex.
    #[arg(long, value_enum, default_value_t = Encoding::Json)]
    encoding: Encoding,
}

enum Input {
    Fix { source: String, fix: Fix },
    Seal(Box<SealReport>),
}

/// The config file's parts replay needs.
fn read_config(path: &Path) -> anyhow::Result<(GatewayId, monitor::MonitorSettings)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    let mut table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: not valid TOML", path.display()))?;
    let id = match table.get("gateway").and_then(|g| g.get("id")) {
        None => "replay".to_string(),
        Some(v) => v
            .as_str()
            .with_context(|| format!("{}: [gateway] id: expected a string", path.display()))?
            .to_string(),
    };
    let gateway: GatewayId = id
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: [gateway] id: {e}", path.display()))?;
    let interval = table
        .get("positions")
        .and_then(|p| p.get("interval_s"))
        .map_or(Some(60), |v| {
            v.as_integer().and_then(|i| u32::try_from(i).ok())
        })
        .with_context(|| {
            format!(
                "{}: [positions] interval_s: expected whole seconds",
                path.display()
            )
        })?;
    let settings = monitor::load(
        path,
        table.remove("monitor"),
        table.remove("trips"),
        interval,
    )?;
    Ok((gateway, settings))
}

fn read_gps(spec: &str, timeline: &mut Vec<(Timestamp, Input)>) -> anyhow::Result<(u64, u64)> {
    let (source, path) = match spec.split_once('=') {
        Some((s, p)) => (s.to_string(), p),
        None => ("gps".to_string(), spec),
    };
    let bytes = std::fs::read(path).with_context(|| format!("cannot read GPS capture {path}"))?;
    let mut framer: Framer = Framer::new();
    let mut assembler = FixAssembler::new();
    let (mut used, mut undated) = (0, 0);
    let mut push = |fix: Fix, timeline: &mut Vec<(Timestamp, Input)>| match fix.time {
        Some(t) => {
            used += 1;
            timeline.push((
                t,
                Input::Fix {
                    source: source.clone(),
                    fix,
                },
            ));
        }
        None => undated += 1,
    };
    for &b in &bytes {
        let Some(Ok(frame)) = framer.push(b) else {
            continue;
        };
        let Ok(sentence) = parse(frame.body()) else {
            continue;
        };
        if let Some(fix) = assembler.push(&sentence) {
            push(fix, timeline);
        }
    }
    if let Some(fix) = assembler.flush() {
        push(fix, timeline);
    }
    Ok((used, undated))
}

fn read_seal(spec: &str, timeline: &mut Vec<(Timestamp, Input)>) -> anyhow::Result<(u64, u64)> {
    let Some((proto, path)) = spec.split_once(':') else {
        bail!("--seal {spec}: expected PROTOCOL:PATH");
    };
    let protocol = <SealProtocol as clap::ValueEnum>::from_str(proto, true).map_err(|_| {
        anyhow::anyhow!(
            "--seal {spec}: unknown protocol {proto} (jt600, jt808, eseal, teratrack, native)"
        )
    })?;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read seal capture {path}"))?;
    let mut decoder = Decoder::deduplicating(protocol);
    let (mut used, mut refused) = (0, 0);
    let mut last: Option<Timestamp> = None;
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{path}: line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        match decoder.reports(&line) {
            Ok(reports) => {
                for r in reports {
                    let t = r
                        .device_time
                        .or(r.position.as_ref().and_then(|p| p.fix_time))
                        .or(last);
                    let Some(t) = t else {
                        tracing::warn!(
                            "{path}: line {}: a report without time before any dated one; skipped",
                            n + 1
                        );
                        refused += 1;
                        continue;
                    };
                    last = Some(t);
                    used += 1;
                    timeline.push((t, Input::Seal(Box::new(r))));
                }
            }
            Err(e) => {
                tracing::warn!("{path}: line {}: {e}", n + 1);
                refused += 1;
            }
        }
    }
    Ok((used, refused))
}

/// Runs `replay`.
pub fn run(args: ReplayArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let (gateway, settings) = read_config(&args.config)?;
    let mut timeline = Vec::new();
    for g in &args.gps {
        let (used, undated) = read_gps(g, &mut timeline)?;
        tracing::info!("{g}: {used} fixes, {undated} without a date skipped");
    }
    for s in &args.seal {
        let (used, refused) = read_seal(s, &mut timeline)?;
        tracing::info!("{s}: {used} reports, {refused} lines refused");
    }
    if timeline.is_empty() {
        bail!("no dated input: give --gps and/or --seal captures");
    }
    timeline.sort_by_key(|(t, _)| *t);
    let mut events = Vec::new();
    let mut monitor = GatewayMonitor::new(settings, timeline[0].0, &mut events);
    let mut seq = 0u64;
    let mut write = |events: &mut Vec<Event>, out: &mut dyn Write| -> anyhow::Result<()> {
        for mut e in events.drain(..) {
            seq += 1;
            e.id = Some(EventId {
                gateway: gateway.clone(),
                seq,
            });
            let payload = encode(&e, args.encoding)?;
            match args.encoding {
                Encoding::Json => out.write_all(&payload)?,
                Encoding::Cbor => {
                    for b in &payload {
                        write!(out, "{b:02x}")?;
                    }
                }
            }
            out.write_all(b"\n")?;
        }
        Ok(())
    };
    write(&mut events, out)?;
    for (t, input) in &timeline {
        monitor.tick(*t, &mut events);
        match input {
            Input::Fix { source, fix } => monitor.on_fix(source, fix, *t, &mut events),
            Input::Seal(r) => monitor.on_seal_report(r, *t, &mut events),
        }
        write(&mut events, out)?;
    }
    out.flush()?;
    eprintln!("replay: {} inputs, {seq} events", timeline.len());
    Ok(())
}
