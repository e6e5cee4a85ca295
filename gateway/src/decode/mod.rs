//! `ects-gateway decode …`: offline decoders for captures, one subcommand per input kind.
//!
//! Each subcommand reads a file (or `-` for standard input), writes one JSON object per
//! decoded item on standard output and a one-line summary on standard error.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

pub mod nmea;
pub mod seal;

/// The `decode` subcommands.
#[derive(Debug, Subcommand)]
pub enum DecodeCommand {
    /// Decode an NMEA 0183 capture: one JSON object per accepted sentence.
    Nmea(nmea::NmeaArgs),
    /// Decode seal and e-lock frames (jt600, jt808, eseal, teratrack, native), one a line:
    /// one JSON object per frame with the normalized reports and the reply.
    Seal(seal::SealArgs),
}

/// Runs a `decode` subcommand.
pub fn run(cmd: DecodeCommand) -> anyhow::Result<()> {
    match cmd {
        DecodeCommand::Nmea(args) => {
            let input = open_input(&args.input)?;
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let summary = match nmea::decode(input, &mut out, &args.options()) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
                r => r.context("decoding NMEA")?,
            };
            match out.flush() {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
                r => r.context("writing output")?,
            }
            eprintln!("{summary}");
            Ok(())
        }
        DecodeCommand::Seal(args) => {
            let input = open_input(&args.input)?;
            seal::run(args, input)
        }
    }
}

/// Opens `path`, or standard input for `-`.
fn open_input(path: &PathBuf) -> anyhow::Result<Box<dyn Read>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(io::stdin().lock()))
    } else {
        let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(Box::new(f))
    }
}
