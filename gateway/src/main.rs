//! `ects-gateway`: the ECTS Edge service and its field CLI.
//!
//! Errors go to stderr through `tracing` (human-readable by default, JSON with
//! `--log-json` for journald/collectors); results go to stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ects_gateway::board::{BUNDLED, Board};

mod decode;

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
    /// Decode captured device traffic offline and print what the gateway makes of it.
    Decode(decode::DecodeArgs),
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Decode(args) => {
            decode::run(args)?;
            Ok(ExitCode::SUCCESS)
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
