//! Throughput of NMEA decoding on the gpsd regression logs, ours beside the `nmea` crate
//! (AeroRust, 0.7, features GNSS + ZDA + TXT) in the same run.
//!
//! Both decode the same input: every line of the 25 logs that starts with `$`, CR/LF
//! removed, checksum verified, fields decoded. The `nmea` crate gets each line as a `&str`
//! (its `parse_str` API); ours frames the same line byte by byte and decodes the body, so
//! ours does strictly more work. A third case runs ours over the raw capture bytes
//! (comments, garbage and all), as the gateway does. Throughput is in sentences (input
//! lines starting with `$`).
//!
//! Run: `cargo bench -p ects-firmware --bench nmea`; results go to BENCHMARKS.md.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ects_firmware::nmea::framer::Framer;
use ects_firmware::nmea::parse;

fn logs() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/gpsd-logs");
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn bench(c: &mut Criterion) {
    let logs = logs();
    let lines: Vec<String> = logs
        .iter()
        .flat_map(|log| log.split(|&b| b == b'\n'))
        .map(|l| String::from_utf8_lossy(l).trim_end_matches('\r').to_owned())
        .filter(|l| l.starts_with('$'))
        .collect();
    let n = lines.len() as u64;
    // How much each decoder accepts: the work is only comparable if both decode the lines.
    let theirs_ok = lines.iter().filter(|l| nmea::parse_str(l).is_ok()).count();
    let ours_ok = lines
        .iter()
        .filter(|l| {
            let mut framer: Framer = Framer::new();
            let mut ok = false;
            for &b in l.as_bytes().iter().chain(b"\n") {
                if let Some(Ok(frame)) = framer.push(b) {
                    ok = parse(frame.body()).is_ok();
                }
            }
            ok
        })
        .count();
    eprintln!("{n} lines; decoded: nmea crate {theirs_ok}, ours {ours_ok}");

    let mut g = c.benchmark_group("nmea");
    g.throughput(Throughput::Elements(n));

    g.bench_function("nmea_crate_parse_str_lines", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for line in &lines {
                ok += usize::from(nmea::parse_str(black_box(line)).is_ok());
            }
            ok
        })
    });

    // Each line with its LF, as the receiver sends it.
    let terminated: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| {
            let mut v = l.as_bytes().to_vec();
            v.push(b'\n');
            v
        })
        .collect();
    g.bench_function("ours_frame_and_parse_lines", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            let mut framer: Framer = Framer::new();
            for line in &terminated {
                let mut input = black_box(line.as_slice());
                while let Some(r) = framer.feed(&mut input) {
                    if let Ok(frame) = r {
                        ok += usize::from(parse(frame.body()).is_ok());
                    }
                }
            }
            ok
        })
    });

    let bodies: Vec<Vec<u8>> = lines
        .iter()
        .filter_map(|l| {
            let star = l.rfind('*')?;
            Some(l.as_bytes()[1..star].to_vec())
        })
        .collect();
    g.bench_function("ours_parse_only_bodies", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for body in &bodies {
                ok += usize::from(parse(black_box(body)).is_ok());
            }
            ok
        })
    });

    g.bench_function("ours_frame_only_lines", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            let mut framer: Framer = Framer::new();
            for line in &terminated {
                let mut input = black_box(line.as_slice());
                while let Some(r) = framer.feed(&mut input) {
                    ok += r.map_or(0, |f| f.raw().len());
                }
            }
            ok
        })
    });

    g.bench_function("ours_frame_only_lines_bytewise_push", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            let mut framer: Framer = Framer::new();
            for line in &terminated {
                for &byte in black_box(line.as_slice()) {
                    if let Some(Ok(frame)) = framer.push(byte) {
                        ok += frame.raw().len();
                    }
                }
            }
            ok
        })
    });

    g.bench_function("ours_frame_and_parse_raw_logs", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for log in &logs {
                let mut framer: Framer = Framer::new();
                let mut input = black_box(log.as_slice());
                while let Some(r) = framer.feed(&mut input) {
                    if let Ok(frame) = r {
                        ok += usize::from(parse(frame.body()).is_ok());
                    }
                }
            }
            ok
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
