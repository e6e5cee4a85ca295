//! `ects-tools`: operator and test tools for ECTS Edge (see the library docs).

use std::io::{BufRead, BufReader};
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
        Command::Schema => {
            print!("{}", ects_tools::verify::EVENT_SCHEMA_V1);
            Ok(ExitCode::SUCCESS)
        }
    }
}
