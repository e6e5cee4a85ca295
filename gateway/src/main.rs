//! `ects-gateway`: the ECTS Edge Linux service and its command-line tools.

mod decode;

use clap::{Parser, Subcommand};

/// ECTS Edge gateway.
#[derive(Debug, Parser)]
#[command(name = "ects-gateway", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode captured device traffic offline and print what the gateway makes of it.
    Decode(decode::DecodeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(args) => decode::run(args),
    }
}
