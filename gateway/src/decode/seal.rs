//! `ects-gateway decode seal --protocol <p> [FILE|-]`: decode seal and e-lock frames.
//!
//! Input: one frame a line — hex for binary frames, text otherwise (a line that is all
//! hex digits is taken as hex). Blank lines are skipped. Output: one JSON object a line:
//!
//! ```json
//! {"line":21,"protocol":"jt600","device":"3301210003","kind":"position",
//!  "reports":[{…normalized SealReport…}],"reply":"(S39)"}
//! ```
//!
//! `kind` is `position`, `event`, `heartbeat`, `reply` or `unsupported`; `reply` is what
//! the gateway would send back (text for text protocols, lowercase hex for binary ones) or
//! `null`. A frame that does not decode prints `kind` `unsupported` with no reports, and
//! the reason on standard error.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use ects_firmware::event::Protocol;
use ects_firmware::seal::{DecodeError, Decoded, FrameKind, eseal, jt600, jt808};
use serde_json::{Value, json};

/// Seal protocols the decoder knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SealProtocol {
    /// Jointech JT600/JT701/JT709 (`$` binary, `( … )` ASCII).
    Jt600,
    /// JT/T 808 e-locks (`7E … 7E`).
    Jt808,
    /// `##S,…,E##` e-seals.
    Eseal,
    /// TeraTrack JSON e-locks.
    Teratrack,
    /// ECTS Edge native seal-reader frames.
    Native,
}

impl SealProtocol {
    fn protocol(self) -> Protocol {
        match self {
            SealProtocol::Jt600 => Protocol::Jt600,
            SealProtocol::Jt808 => Protocol::Jt808,
            SealProtocol::Eseal => Protocol::Eseal,
            SealProtocol::Teratrack => Protocol::Teratrack,
            SealProtocol::Native => Protocol::Native,
        }
    }
}

/// Arguments of `decode seal`.
#[derive(Debug, Args)]
pub struct SealArgs {
    /// Protocol of the frames.
    #[arg(long, value_enum)]
    protocol: SealProtocol,
    /// Configuration string sent back in an eseal `Startup ACK`.
    #[arg(long)]
    eseal_config: Option<String>,
    /// Input file, one frame a line; `-` or nothing for standard input.
    file: Option<PathBuf>,
}

/// Runs `decode seal`.
pub fn run(args: SealArgs) -> anyhow::Result<()> {
    let input: Box<dyn Read> = match args.file.as_deref() {
        None => Box::new(std::io::stdin()),
        Some(p) if p.as_os_str() == "-" => Box::new(std::io::stdin()),
        Some(p) => Box::new(
            std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        ),
    };
    let mut decoder = Decoder::new(args.protocol);
    decoder.eseal_config = args.eseal_config;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (i, line) in BufReader::new(input).lines().enumerate() {
        let line = line.context("cannot read input")?;
        let text = line.trim_end_matches('\r');
        if text.trim().is_empty() {
            continue;
        }
        let obj = decoder.line(i + 1, text);
        serde_json::to_writer(&mut out, &obj).context("cannot write output")?;
        out.write_all(b"\n").context("cannot write output")?;
    }
    out.flush().context("cannot write output")?;
    Ok(())
}

/// Decodes lines of one protocol; keeps what state the protocol needs across lines.
struct Decoder {
    protocol: SealProtocol,
    eseal_config: Option<String>,
}

impl Decoder {
    fn new(protocol: SealProtocol) -> Self {
        Decoder {
            protocol,
            eseal_config: None,
        }
    }

    fn decode(&mut self, frame: &[u8]) -> Result<Decoded, DecodeError> {
        match self.protocol {
            SealProtocol::Jt600 => jt600::decode(frame),
            SealProtocol::Jt808 => jt808::decode(frame),
            SealProtocol::Eseal => eseal::decode_with(frame, self.eseal_config.as_deref()),
            _ => Err(DecodeError::BadFraming),
        }
    }

    /// The JSON object for input line `n`.
    fn line(&mut self, n: usize, text: &str) -> Value {
        let frame = parse_line(text);
        let protocol = self.protocol.protocol();
        match self.decode(&frame) {
            Ok(d) => to_json(n, protocol, &d),
            Err(e) => {
                tracing::warn!("line {n}: {e}");
                json!({"line": n, "protocol": protocol, "device": null,
                       "kind": FrameKind::Unsupported, "reports": [], "reply": null})
            }
        }
    }
}

/// A line that is all hex digits (even count) is hex; anything else is the frame's text.
fn parse_line(text: &str) -> Vec<u8> {
    let t = text.trim();
    if !t.is_empty() && t.len().is_multiple_of(2) && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes: Option<Vec<u8>> = (0..t.len())
            .step_by(2)
            .map(|i| t.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        if let Some(b) = bytes {
            return b;
        }
    }
    text.as_bytes().to_vec()
}

fn to_json(n: usize, protocol: Protocol, d: &Decoded) -> Value {
    let reply = d.reply.as_ref().map(|r| {
        if r.is_text() {
            Value::String(String::from_utf8_lossy(r.as_bytes()).into_owned())
        } else {
            Value::String(r.as_bytes().iter().map(|b| format!("{b:02x}")).collect())
        }
    });
    json!({
        "line": n,
        "protocol": protocol,
        "device": d.device.as_deref(),
        "kind": d.kind,
        "reports": d.reports.iter().map(|r| serde_json::to_value(r).unwrap_or(Value::Null)).collect::<Vec<_>>(),
        "reply": reply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_or_text() {
        assert_eq!(parse_line("2829"), b"()".to_vec());
        assert_eq!(parse_line("(1,@JT)"), b"(1,@JT)".to_vec());
        assert_eq!(parse_line("abc"), b"abc".to_vec());
    }

    #[test]
    fn jt600_line_shape() {
        let mut d = Decoder::new(SealProtocol::Jt600);
        let v = d.line(21, "(3301210003,U01,040812,185302,T,22.564025,N,113.242329,E,5.21,152,9,32%,00000000000011,10133,5173,22,100,1)");
        assert_eq!(v["line"], 21);
        assert_eq!(v["protocol"], "jt600");
        assert_eq!(v["device"], "3301210003");
        assert_eq!(v["kind"], "position");
        assert_eq!(v["reply"], "(S39)");
        assert_eq!(v["reports"][0]["position"]["lat"], 22.564025);
        let bad = d.line(2, "(garbage");
        assert_eq!(bad["kind"], "unsupported");
        assert_eq!(bad["reply"], Value::Null);
    }
}
