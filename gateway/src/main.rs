//! `ects-gateway`: the ECTS Edge service and its field CLI.
//!
//! Errors go to stderr through `tracing` (human-readable by default, JSON with
//! `--log-json` for journald/collectors); results go to stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ects_firmware::text::Text;
use ects_firmware::time::Duration;
use ects_gateway::board::{BUNDLED, Board};
use ects_gateway::demo::{self, DEMO_GPS_CAPTURE, DemoConfig};
use ects_gateway::journal::event_log::EventLog;
use ects_gateway::journal::fs::ProductionFilesystem;
use ects_gateway::journal::{Journal, JournalConfig};
use ects_gateway::payload::Encoding;

mod decode;
mod journal_cli;
mod replay;

#[derive(Parser)]
#[command(
    name = "ects-gateway",
    version,
    about = "ECTS Edge: customs transit monitoring gateway"
)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Field tools for the store-and-forward journal: stat, dump, verify, soak.
    #[command(subcommand)]
    Journal(journal_cli::JournalCommand),
    /// Decode a capture from a device and print what the gateway understands of it.
    #[command(subcommand)]
    Decode(decode::DecodeCommand),
    /// Run the demo: a recorded GPS capture through the decoders into published-form events
    /// (one payload a line on stdout; a summary on stderr).
    Demo {
        /// Gateway id used in event ids.
        #[arg(long, default_value = "demo-gw")]
        gateway: String,
        /// Minimum receiver time between routine position events, seconds.
        #[arg(long, default_value_t = 30)]
        position_interval_s: u32,
        /// Payload encoding; CBOR payloads are printed as hex, one a line.
        #[arg(long, value_enum, default_value_t = Encoding::Json)]
        encoding: Encoding,
        /// Use this NMEA capture instead of the bundled one (`-` for standard input).
        #[arg(long)]
        gps: Option<PathBuf>,
        /// Keep the journal in this directory (default: a scratch one, removed after).
        #[arg(long)]
        journal: Option<PathBuf>,
    },
    /// Replay recorded GPS and seal captures through the corridor monitor and print the
    /// events it raises (the published payloads, one a line). Deterministic.
    Replay(replay::ReplayArgs),
    /// Run the gateway service: sources → stage → journal → MQTT uplink, until SIGTERM or
    /// SIGINT (see docs/operations.md). Exit 2 for a bad configuration.
    Run {
        /// The configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Board profile; overrides `[gateway] board`.
        #[arg(long, conflicts_with = "board_file")]
        board: Option<String>,
        /// A file holding the board profile name (`/etc/ects/board`, written by flash.sh).
        #[arg(long)]
        board_file: Option<PathBuf>,
    },
    /// Validate a service configuration without starting anything: exit 0 with a one-line
    /// summary, or exit 2 with the file, key and what was expected.
    CheckConfig {
        /// The configuration file (TOML, see docs/operations.md).
        file: PathBuf,
        /// Board profile; overrides `[gateway] board`.
        #[arg(long)]
        board: Option<String>,
    },
    /// Board profiles: list, show, or check a profile file.
    Board {
        #[command(subcommand)]
        action: BoardAction,
    },
}

#[derive(Subcommand)]
enum BoardAction {
    /// List the bundled profiles.
    List,
    /// Validate and print a bundled profile.
    Show {
        /// Profile name (rpi4, rpi5, zero2w, cm4, sim).
        name: String,
    },
    /// Validate a profile file of your own.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ECTS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: journald, files and pipes get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    match run(cli.command) {
        Ok(code) => code,
        // A reader that went away (`| head`) is not an error of ours.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reads a whole input file, or standard input for `-`.
fn read_input(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)
            .context("reading standard input")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Journal(cmd) => journal_cli::run(cmd, &mut out),
        Command::Decode(cmd) => decode::run(cmd).map(|()| ExitCode::SUCCESS),
        Command::Replay(args) => replay::run(args, &mut out).map(|()| ExitCode::SUCCESS),
        Command::Demo {
            gateway,
            position_interval_s,
            encoding,
            gps,
            journal,
        } => {
            let gateway = gateway
                .parse()
                .map_err(|e| anyhow::anyhow!("--gateway {gateway:?}: {e}"))?;
            let config = DemoConfig {
                gps_source: Text::new("gps0").expect("valid source name"),
                position_interval: Duration::from_secs(i64::from(position_interval_s)),
            };
            let capture = match gps {
                None => DEMO_GPS_CAPTURE.to_vec(),
                Some(path) => read_input(&path)?,
            };
            // A journal of its own unless told where: the demo must not touch a live one.
            let scratch = journal.is_none().then(|| {
                std::env::temp_dir().join(format!("ects-demo-journal-{}", std::process::id()))
            });
            let dir = journal
                .or_else(|| scratch.clone())
                .expect("one of the two is set");
            let (j, recovery) = Journal::open(ProductionFilesystem, JournalConfig::new(&dir))
                .with_context(|| format!("opening journal {}", dir.display()))?;
            tracing::debug!(?recovery, "demo journal opened");
            let mut log = EventLog::new(j, gateway, encoding);
            let result = demo::run(&config, &capture, &mut log, &mut out);
            if let Some(dir) = scratch {
                let _ = std::fs::remove_dir_all(dir);
            }
            let summary = result?;
            eprintln!(
                "demo: {} sentences accepted, {} rejected, {} events written",
                summary.accepted, summary.rejected, summary.events
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            config,
            board,
            board_file,
        } => {
            let board = match board_file {
                Some(f) => Some(
                    std::fs::read_to_string(&f)
                        .with_context(|| format!("reading the board name from {}", f.display()))?
                        .trim()
                        .to_string(),
                ),
                None => board,
            };
            let config = match ects_gateway::config::Config::from_file(&config, board.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!("{e}");
                    return Ok(ExitCode::from(2));
                }
            };
            match run_service(config) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e)
                    if e.downcast_ref::<ects_gateway::service::ServiceError>()
                        .is_some_and(ects_gateway::service::ServiceError::is_config) =>
                {
                    tracing::error!("{e:#}");
                    Ok(ExitCode::from(2))
                }
                Err(e) => Err(e),
            }
        }
        Command::CheckConfig { file, board } => {
            match ects_gateway::config::Config::from_file(&file, board.as_deref()) {
                Ok(config) => {
                    writeln!(out, "{}", config.summary())?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Board { action } => {
            match action {
                BoardAction::List => {
                    for (file, _) in BUNDLED {
                        let name = file.trim_end_matches(".toml");
                        let board = Board::bundled(name)
                            .with_context(|| format!("bundled profile {name}"))?;
                        writeln!(out, "{:<8} {}", board.name, board.description)?;
                    }
                }
                BoardAction::Show { name } => writeln!(out, "{:#?}", Board::bundled(&name)?)?,
                BoardAction::Check { file } => {
                    let board = Board::from_file(&file)?;
                    println!(
                        "{}: board profile `{}` is valid",
                        file.display(),
                        board.name
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `ects-gateway run`: the service on a two-thread runtime until SIGTERM or SIGINT.
fn run_service(config: ects_gateway::config::Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM"),
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
            }
        };
        use ects_gateway::service::monitor_stage::{MonitorCommands, MonitorStage, MonitorState};
        std::fs::create_dir_all(&config.state_dir)
            .with_context(|| format!("cannot create {}", config.state_dir.display()))?;
        let state = MonitorState::open(
            config.monitor.clone(),
            &config.state_dir,
            ects_gateway::wall_clock(),
        );
        let stage = Box::new(MonitorStage::new(
            state.clone(),
            ects_gateway::service::pass_through(&config),
        ));
        let commands = Box::new(MonitorCommands(state));
        ects_gateway::service::run(config, stage, commands, shutdown)
            .await
            .context("gateway service")
    })?;
    // Tasks still blocked (a serial write, a journal sync) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(())
}
