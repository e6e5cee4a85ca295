//! `ects-gateway decode …`: offline decoders for captured traffic, one subcommand per
//! kind of source. Each prints one JSON object per input frame on standard output.

pub mod seal;

use clap::{Args, Subcommand};

/// Arguments of `decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    #[command(subcommand)]
    what: DecodeCommand,
}

#[derive(Debug, Subcommand)]
enum DecodeCommand {
    /// Seal and e-lock frames (jt600, jt808, eseal, teratrack, native).
    Seal(seal::SealArgs),
}

/// Runs a `decode` subcommand.
pub fn run(args: DecodeArgs) -> anyhow::Result<()> {
    match args.what {
        DecodeCommand::Seal(a) => seal::run(a),
    }
}
