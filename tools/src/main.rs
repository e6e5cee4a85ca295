//! `ects-tools`: operator and test tools for ECTS Edge (see the library docs).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ects_tools::verify::{EventValidator, verify_lines};

#[derive(Parser)]
#[command(version, about = "ECTS Edge operator and test tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check event payloads (JSON, one object a line) against the payload schema.
    ///
    /// Prints one line per violation and a last line `verify: N passed, M failed`;
    /// exits 1 if any line failed.
    Verify {
        /// Input file, or `-` for standard input.
        #[arg(default_value = "-")]
        input: PathBuf,
        /// Use this schema file instead of the embedded v1 schema.
        #[arg(long)]
        schema: Option<PathBuf>,
    },
    /// Print the embedded payload schema (v1).
    Schema,
    /// Simulate a truck driving a corridor: its GPS receiver (NMEA) and optionally its
    /// TeraTrack e-lock, to standard output, a file or serial device, or a TCP listener.
    Simulate(SimulateArgs),
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// GeoJSON file with the corridor's LineString.
    #[arg(long)]
    corridor: PathBuf,
    /// Which LineString (`properties.id`); default the first.
    #[arg(long)]
    corridor_id: Option<String>,
    /// What the truck does: `drive:KM[@OFFSET_M]`, `detour:A-B@M`, `stop:MIN`, `jam:S`,
    /// `tunnel:S`, `end`, comma-separated.
    #[arg(long, default_value = "end")]
    legs: String,
    /// Seconds between fixes.
    #[arg(long, default_value_t = 1)]
    interval_s: i64,
    /// Driving speed, m/s.
    #[arg(long, default_value_t = 25.0)]
    speed_mps: f64,
    /// Position noise, ± metres.
    #[arg(long, default_value_t = 5.0)]
    noise_m: f64,
    /// Start time (RFC 3339 UTC) or `now`.
    #[arg(long, default_value = "now")]
    start: String,
    /// Pace the output in real time, sped up this many times (0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    speedup: f64,
    /// Where the NMEA goes: `-`, a file or serial device path, or `tcp:HOST:PORT`.
    #[arg(long, default_value = "-")]
    gps_out: String,
    /// Where e-lock reports go (`tcp:HOST:PORT` or a path); none without it.
    #[arg(long)]
    elock_out: Option<String>,
    /// The e-lock's device id.
    #[arg(long, default_value = "022043756090")]
    elock_device: String,
    /// Seconds of drive time between e-lock reports.
    #[arg(long, default_value_t = 60)]
    elock_every_s: i64,
    /// Cut the e-lock's cable at this kilometre.
    #[arg(long)]
    elock_cut_at_km: Option<f64>,
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Verify { input, schema } => {
            let validator = match schema {
                Some(path) => EventValidator::from_schema_text(
                    &std::fs::read_to_string(&path)
                        .with_context(|| format!("reading schema {}", path.display()))?,
                )
                .with_context(|| format!("schema {}", path.display()))?,
                None => EventValidator::v1()?,
            };
            let reader: Box<dyn BufRead> = if input.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(BufReader::new(
                    std::fs::File::open(&input)
                        .with_context(|| format!("opening {}", input.display()))?,
                ))
            };
            let summary = verify_lines(&validator, reader, std::io::stdout().lock())?;
            println!(
                "verify: {} passed, {} failed",
                summary.passed, summary.failed
            );
            Ok(if summary.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Simulate(args) => simulate(args).map(|()| ExitCode::SUCCESS),
        Command::Schema => {
            print!("{}", ects_tools::verify::EVENT_SCHEMA_V1);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// An output of the simulator.
fn open_out(spec: &str) -> anyhow::Result<Box<dyn Write>> {
    if spec == "-" {
        return Ok(Box::new(std::io::stdout()));
    }
    if let Some(addr) = spec.strip_prefix("tcp:") {
        let stream = std::net::TcpStream::connect(addr)
            .with_context(|| format!("cannot connect to {addr}"))?;
        // Replies (ACKs) are read and dropped so that the peer never blocks on them.
        let mut reader = stream.try_clone()?;
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        return Ok(Box::new(stream));
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(spec)
        .with_context(|| format!("cannot open {spec}"))?;
    Ok(Box::new(file))
}

fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    use ects_tools::sim;
    let text = std::fs::read_to_string(&args.corridor)
        .with_context(|| format!("cannot read {}", args.corridor.display()))?;
    let route = sim::Route::from_geojson(&text, args.corridor_id.as_deref())
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.corridor.display()))?;
    let legs = sim::parse_legs(&args.legs).map_err(|e| anyhow::anyhow!("--legs: {e}"))?;
    let start = if args.start == "now" {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64
    } else {
        ects_firmware::time::Timestamp::parse_rfc3339(&args.start)
            .map_err(|e| anyhow::anyhow!("--start: {e:?}"))?
            .unix_seconds()
    };
    let script = sim::Script {
        legs,
        start,
        interval_s: args.interval_s.max(1),
        speed_mps: args.speed_mps,
        noise_m: args.noise_m,
        outlier_every: 0,
        seed: 0x9E37_79B9_7F4A_7C15,
    };
    let fixes = sim::generate(&route, &script);
    let mut gps = open_out(&args.gps_out)?;
    let mut elock = args.elock_out.as_deref().map(open_out).transpose()?;
    let mut last_report: Option<i64> = None;
    let mut cut_sent = false;
    let mut index = 0u32;
    let began = std::time::Instant::now();
    for f in &fixes {
        if args.speedup > 0.0 {
            let due = std::time::Duration::from_secs_f64((f.t - start) as f64 / args.speedup);
            if let Some(wait) = due.checked_sub(began.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        gps.write_all(sim::nmea_epoch(f).as_bytes())?;
        gps.flush()?;
        if let Some(out) = elock.as_mut() {
            let cut_now = !cut_sent
                && args
                    .elock_cut_at_km
                    .is_some_and(|km| f.along_m >= km * 1000.0);
            if cut_now || last_report.is_none_or(|t| f.t - t >= args.elock_every_s) {
                index += 1;
                let state = if cut_now || cut_sent {
                    sim::LockState::Cut
                } else {
                    sim::LockState::Locked
                };
                cut_sent |= cut_now;
                last_report = Some(f.t);
                out.write_all(
                    sim::teratrack_frame(&args.elock_device, index, f, state).as_bytes(),
                )?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
        }
    }
    eprintln!(
        "simulate: {} fixes over {:.1} km",
        fixes.len(),
        fixes.last().map_or(0.0, |f| f.along_m / 1000.0)
    );
    Ok(())
}
