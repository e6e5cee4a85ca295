//! `ects-gateway`: the ECTS Edge Linux service and field CLI.
//!
//! Subcommands live in their own modules; this file only parses arguments and dispatches.

use clap::{Parser, Subcommand};

mod decode;

/// ECTS Edge gateway.
#[derive(Debug, Parser)]
#[command(name = "ects-gateway", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode a capture from a device and print what the gateway understands of it.
    #[command(subcommand)]
    Decode(decode::DecodeCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(cmd) => decode::run(cmd),
    }
}
