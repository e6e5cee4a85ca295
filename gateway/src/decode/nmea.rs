//! `ects-gateway decode nmea [FILE|-]`: NMEA 0183 capture → JSON lines.
//!
//! Feeds the bytes through the firmware's [`Framer`], [`parse`] and [`FixAssembler`] exactly
//! as the gateway service does, and prints one JSON object per accepted sentence:
//!
//! ```text
//! {"line":13,"raw":"$GPRMC,…*2D","talker":"GP","type":"RMC","time":"2007-12-23T19:32:21Z",
//!  "lat":20.628798333,"lon":-87.06808,"speed_mps":0.051444,"track_deg":201.8,"valid":true,"mode":3}
//! ```
//!
//! - `line` is the 1-based input line the sentence ended on, `raw` the sentence without
//!   CR/LF, `talker` (`"P"` for proprietary) and `type` (for proprietary sentences the rest
//!   of the address, e.g. `"GRME"`).
//! - RMC, GGA, GNS and GLL also carry `time` (RFC 3339 UTC, only once a date is known from
//!   RMC or ZDA), `lat`/`lon` (degrees; omitted when the sentence reports no fix),
//!   `alt_msl` (GGA/GNS, metres), `speed_mps` and `track_deg` (RMC), `valid` (the
//!   sentence's own fix status) and `mode` (1 no fix, 2 2D, 3 3D, as gpsd numbers it: the
//!   epoch's mode after this sentence, see `ects_firmware::nmea::fix`).
//! - Rejected lines are not printed. The last line on standard error counts accepted and
//!   rejected sentences by reason.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use clap::Args;
use ects_firmware::nmea::fix::FixAssembler;
use ects_firmware::nmea::framer::{Frame, Framer};
use ects_firmware::nmea::{Sentence, parse};
use serde::Serialize;

/// Arguments of `decode nmea`.
#[derive(Debug, Args)]
pub struct NmeaArgs {
    /// The capture to decode; `-` reads standard input.
    #[arg(default_value = "-")]
    pub input: PathBuf,
    /// Also accept sentences without a `*hh` checksum (some old receivers never send one).
    #[arg(long)]
    pub allow_missing_checksum: bool,
}

impl NmeaArgs {
    /// The decoding options these arguments select.
    pub fn options(&self) -> Options {
        Options {
            allow_missing_checksum: self.allow_missing_checksum,
        }
    }
}

/// Decoding options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Accept sentences without a checksum.
    pub allow_missing_checksum: bool,
}

/// What was accepted and rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Sentences printed.
    pub accepted: u64,
    /// Rejected sentences by reason (`checksum_mismatch`, `bad_field`, …).
    pub rejected: BTreeMap<&'static str, u64>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: u64 = self.rejected.values().sum();
        write!(f, "accepted {}, rejected {total}", self.accepted)?;
        let mut sep = ":";
        for (reason, n) in &self.rejected {
            write!(f, "{sep} {reason} {n}")?;
            sep = ",";
        }
        Ok(())
    }
}

/// One output line.
#[derive(Debug, Serialize)]
struct Record<'a> {
    line: u64,
    raw: &'a str,
    talker: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lon: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alt_msl: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    speed_mps: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    track_deg: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<u8>,
}

/// Decodes `input` and writes JSON lines to `out`.
///
/// # Errors
/// Only I/O errors of `input` or `out`; malformed input is counted, never an error.
pub fn decode<R: Read, W: Write>(
    mut input: R,
    out: &mut W,
    options: &Options,
) -> io::Result<Summary> {
    let mut framer: Framer = if options.allow_missing_checksum {
        Framer::with_optional_checksum()
    } else {
        Framer::new()
    };
    let mut asm = FixAssembler::new();
    let mut summary = Summary::default();
    let mut line: u64 = 1;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for &b in buf.get(..n).unwrap_or(&[]) {
            match framer.push(b) {
                None => {}
                Some(Err(e)) => *summary.rejected.entry(e.as_str()).or_default() += 1,
                Some(Ok(frame)) => emit(frame, line, &mut asm, &mut summary, out)?,
            }
            if b == b'\n' {
                line += 1;
            }
        }
    }
    if let Some(e) = framer.finish() {
        *summary.rejected.entry(e.as_str()).or_default() += 1;
    }
    Ok(summary)
}

fn emit<W: Write>(
    frame: Frame<'_>,
    line: u64,
    asm: &mut FixAssembler,
    summary: &mut Summary,
    out: &mut W,
) -> io::Result<()> {
    let sentence = match parse(frame.body()) {
        Ok(s) => s,
        Err(e) => {
            *summary.rejected.entry(e.as_str()).or_default() += 1;
            return Ok(());
        }
    };
    asm.push(&sentence);
    summary.accepted += 1;
    let record = record(&sentence, frame.as_str(), line, asm);
    serde_json::to_writer(&mut *out, &record)?;
    out.write_all(b"\n")
}

fn record<'a>(s: &'a Sentence<'a>, raw: &'a str, line: u64, asm: &FixAssembler) -> Record<'a> {
    let view = asm.sentence_fix(s);
    Record {
        line,
        raw,
        talker: s.talker.as_str(),
        kind: s.kind,
        time: view.and_then(|v| v.time).map(|t| t.to_string()),
        lat: view.and_then(|v| v.position).map(|p| p.lat),
        lon: view.and_then(|v| v.position).map(|p| p.lon),
        alt_msl: view.and_then(|v| v.alt_msl_m),
        speed_mps: view.and_then(|v| v.speed_mps),
        track_deg: view.and_then(|v| v.track_deg),
        valid: view.map(|v| v.valid),
        mode: view.map(|v| v.mode.as_u8()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn run(input: &[u8]) -> (Vec<Value>, Summary) {
        let mut out = Vec::new();
        let summary = decode(input, &mut out, &Options::default()).unwrap();
        let lines = String::from_utf8(out).unwrap();
        let values = lines
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (values, summary)
    }

    // The first lines of triton400.log (gpsd regression data) with its collision on the
    // GGA line. The expected values are gpsd's TPV in triton400.log.chk.
    const TRITON: &[u8] = b"# Name: Magellan Triton 400\r\n\
$GPGLL,2638.1726,N,08011.3892,W,030129.000,A,A*47\r\n\
$GPGGA,030129.00,2638.1726,N,08011.3892,W,1,06,1.5,00016,M,-0028,M,,*50\r\n\
$GPRMC,030129.0,A,2638.1726,N,08011.3892,W,0.00,219.6,010413,,*26\r\n\
$GPGSA,A,3,08,07,11,28,17,26,,,,,,,02.6,01.5,02.1*06\r\n\
$GPGGA,030130$GPGLL,2638.1728,N,08011.3893,W,030131.000,A,A*41\r\n\
$GPRMC,030131.0,A,2638.1728,N,08011.3893,W,0.00,219.6,010413,,*20\r\n\
$GPRMC,030131.0,A,2638.1728,N,08011.3893,W,0.00,219.6,010413,,*21\r\n";

    #[test]
    fn test_triton_sample_matches_gpsd() {
        let (v, summary) = run(TRITON);
        assert_eq!(summary.accepted, 6);
        assert_eq!(summary.rejected.get("interrupted"), Some(&1));
        // The last line is the previous one with a corrupted checksum.
        assert_eq!(summary.rejected.get("checksum_mismatch"), Some(&1));
        assert_eq!(
            summary.to_string(),
            "accepted 6, rejected 2: checksum_mismatch 1, interrupted 1"
        );

        // GLL: gpsd TPV mode 2, lat 26.636210000, lon -80.189820000, no time (no date yet).
        assert_eq!(v[0]["line"], 2);
        assert_eq!(v[0]["type"], "GLL");
        assert_eq!(v[0]["talker"], "GP");
        assert_eq!(v[0]["mode"], 2);
        assert!(v[0].get("time").is_none());
        assert!((v[0]["lat"].as_f64().unwrap() - 26.636210000).abs() < 1e-6);
        assert!((v[0]["lon"].as_f64().unwrap() + 80.189820000).abs() < 1e-6);
        // GGA: gpsd mode 3, altMSL 16.0.
        assert_eq!(v[1]["mode"], 3);
        assert_eq!(v[1]["alt_msl"], 16.0);
        // RMC: gpsd time 2013-04-01T03:01:29.000Z, track 219.6, speed 0.000, mode 3.
        assert_eq!(
            v[2]["raw"],
            "$GPRMC,030129.0,A,2638.1726,N,08011.3892,W,0.00,219.6,010413,,*26"
        );
        assert_eq!(v[2]["time"], "2013-04-01T03:01:29Z");
        assert_eq!(v[2]["track_deg"], 219.6);
        assert_eq!(v[2]["speed_mps"], 0.0);
        assert_eq!(v[2]["valid"], true);
        assert_eq!(v[2]["mode"], 3);
        // GSA: no position fields.
        assert_eq!(v[3]["type"], "GSA");
        assert!(v[3].get("mode").is_none());
        // The GLL after the collision, on line 6, gets the carried date.
        assert_eq!(v[4]["line"], 6);
        assert_eq!(v[4]["time"], "2013-04-01T03:01:31Z");
    }

    #[test]
    fn test_proprietary_and_no_fix() {
        let input = b"$PGRMZ,93,f,3*21\r\n$GPRMC,,V,,,,,,,,,,N*53\r\n$GPGGA,,,,,,0,,,,,,,,*66\n";
        let (v, summary) = run(input);
        assert_eq!(summary.accepted, 3, "{summary}");
        assert_eq!(v[0]["talker"], "P");
        assert_eq!(v[0]["type"], "GRMZ");
        assert_eq!(v[1]["valid"], false);
        assert_eq!(v[1]["mode"], 1);
        assert!(v[1].get("lat").is_none());
        assert_eq!(v[2]["line"], 3);
    }

    /// Over every gpsd log: each printed `raw` is on the printed `line` of the input, and
    /// the summary adds up.
    #[test]
    fn test_line_numbers_on_gpsd_logs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../firmware/tests/data/gpsd-logs");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "log") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
            let (values, summary) = run(&bytes);
            assert_eq!(values.len() as u64, summary.accepted);
            for v in &values {
                let line = usize::try_from(v["line"].as_u64().unwrap()).unwrap();
                let raw = v["raw"].as_str().unwrap().as_bytes();
                let text = lines[line - 1];
                assert!(
                    text.windows(raw.len()).any(|w| w == raw),
                    "{}:{line} does not hold {}",
                    path.display(),
                    v["raw"]
                );
                checked += 1;
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn test_missing_checksum_option() {
        let input = b"$GPZDA,201530.00,04,07,2002,00,00\r\n";
        let (v, summary) = run(input);
        assert!(v.is_empty());
        assert_eq!(summary.rejected.get("no_checksum"), Some(&1));
        let mut out = Vec::new();
        let opts = Options {
            allow_missing_checksum: true,
        };
        let summary = decode(&input[..], &mut out, &opts).unwrap();
        assert_eq!(summary.accepted, 1);
    }
}
