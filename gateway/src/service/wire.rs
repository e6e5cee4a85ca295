//! Per-source wire decoding: bytes from a port or connection in, [`Input`]s and the
//! device's reply bytes out.
//!
//! One [`WireDecoder`] per serial port or TCP connection holds that stream's state: the
//! protocol's framer (bounded: a frame start without an end within the protocol's largest
//! frame is dropped and scanning resumes) and the NMEA epoch assembler. What must survive a
//! reconnect is per source, in [`SourceState`], shared by all its streams: the
//! de-duplication of resent seal reports (a device that reconnects resends) and the native
//! seal verifier (keys, and the last counter of each seal: an older report on a new
//! connection is still a replay; the latest one again is a resend and is acknowledged
//! again, reporting nothing new). With a counters file ([`SourceState::with_counters`]) the native
//! counters also survive a restart: they are written (synced) after every accepted report,
//! before its acknowledgement goes back, and read at start — a frame recorded before a
//! reboot is still not a new report after it. When they cannot be written, the report is
//! not acknowledged; the reader's resend is acknowledged once they are.
//!
//! Invariants:
//! - Memory is bounded per decoder whatever the bytes: fixed framer buffers, at most
//!   [`ects_firmware::seal::MAX_REPORTS`] reports and [`ects_firmware::seal::MAX_REPLY`]
//!   reply bytes per frame.
//! - A seal frame's reply is produced even when its reports are resends (the device
//!   resends until it gets the reply); only new reports become inputs.
//! - Garbage is counted in [`Output::rejected`], never an error or a panic.

use ects_firmware::event::Protocol;
use ects_firmware::nmea::fix::FixAssembler;
use ects_firmware::nmea::parse;
use ects_firmware::seal::dedup::{Dedup, Verdict};
use ects_firmware::seal::framer::{Framer, Framing};
use ects_firmware::seal::native::{NativeFraming, Verifier};
use ects_firmware::seal::{DecodeError, Decoded, eseal, jt600, jt808, native, teratrack};
use ects_firmware::ubx::{MixedFramer, MixedItem, UbxMessage};

use super::stage::{Input, SourceName};
use crate::seal_keys::SealKeys;
use ects_firmware::seal::native::SealKey;
use std::sync::{Arc, Mutex};

/// Report keys remembered per source to drop resends.
const DEDUP_WINDOW: usize = 2048;
/// Native seal keys one source accepts.
pub const MAX_SEALS: usize = 256;
/// The largest frame of any seal protocol (TeraTrack JSON).
const SCRATCH: usize = teratrack::MAX_FRAME;

/// What one [`WireDecoder::feed`] produced.
#[derive(Debug, Default)]
pub struct Output {
    /// Decoded inputs, in stream order.
    pub inputs: Vec<Input>,
    /// Bytes to write back to the device, in order.
    pub reply: Vec<u8>,
    /// Frames or sentences refused (noise, bad checksums, undecodable frames).
    pub rejected: u64,
}

enum Kind {
    Nmea {
        framer: Box<ects_firmware::nmea::framer::Framer>,
        epochs: FixAssembler,
    },
    Ubx(Box<MixedFramer>),
    Jt600(Box<Framer<jt600::Jt600Framing, { jt600::MAX_FRAME }>>),
    Jt808(Box<Framer<jt808::Jt808Framing, { jt808::MAX_FRAME }>>),
    Eseal(Box<Framer<eseal::EsealFraming, { eseal::MAX_FRAME }>>),
    Teratrack(Box<Framer<teratrack::TeraTrackFraming, { teratrack::MAX_FRAME }>>),
    Native(Box<Framer<NativeFraming, { native::MAX_FRAME }>>),
}

/// What the streams of one source share. See the module documentation.
#[derive(Debug)]
pub struct SourceState {
    // Boxed: both are large fixed-size tables (no heap in the firmware core).
    dedup: Mutex<Box<Dedup<DEDUP_WINDOW>>>,
    verifier: Mutex<Box<Verifier<MAX_SEALS>>>,
    /// The native seals provisioned, and where their last counters are kept.
    seals: Vec<u64>,
    counters: Option<std::path::PathBuf>,
}

impl SourceState {
    /// State for a source; `keys` provisions its native seals.
    ///
    /// # Errors
    /// A message when there are more than [`MAX_SEALS`] keys.
    pub fn new(keys: &SealKeys) -> Result<Arc<Self>, String> {
        let mut verifier = Box::new(Verifier::new());
        for (seal, key) in &keys.0 {
            verifier
                .add_seal(*seal, SealKey(*key))
                .map_err(|_| format!("at most {MAX_SEALS} seal keys per source"))?;
        }
        Ok(Arc::new(SourceState {
            dedup: Mutex::new(Box::new(Dedup::new())),
            verifier: Mutex::new(verifier),
            seals: keys.0.iter().map(|(seal, _)| *seal).collect(),
            counters: None,
        }))
    }

    /// As [`SourceState::new`], with the native counters kept in the file `path`
    /// (`{"<seal as 16 hex digits>": counter, …}`), read now if it exists.
    ///
    /// # Errors
    /// As [`SourceState::new`]; an unreadable counters file is an error too (starting
    /// with forgotten counters would accept replays).
    pub fn with_counters(keys: &SealKeys, path: std::path::PathBuf) -> Result<Arc<Self>, String> {
        let state = SourceState::new(keys)?;
        let mut state = Arc::try_unwrap(state).map_err(|_| "shared already".to_string())?;
        match std::fs::read(&path) {
            Ok(bytes) => {
                let saved: std::collections::BTreeMap<String, u32> = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{}: not a counters file: {e}", path.display()))?;
                let verifier = state.verifier.get_mut().unwrap_or_else(|e| e.into_inner());
                for (seal, counter) in saved {
                    let Ok(seal) = u64::from_str_radix(&seal, 16) else {
                        continue;
                    };
                    // A seal no longer provisioned is skipped.
                    let _ = verifier.set_last_counter(seal, counter);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
        state.counters = Some(path);
        Ok(Arc::new(state))
    }

    /// Writes the native counters (temporary file, sync, rename, directory sync). Returns
    /// whether they are durable (true without a counters file).
    fn save_counters(&self, verifier: &Verifier<MAX_SEALS>) -> bool {
        let Some(path) = &self.counters else {
            return true;
        };
        let map: std::collections::BTreeMap<String, u32> = self
            .seals
            .iter()
            .filter_map(|s| verifier.last_counter(*s).map(|c| (format!("{s:016x}"), c)))
            .collect();
        let result = (|| -> std::io::Result<()> {
            use std::io::Write;
            let tmp = path.with_extension("json.tmp");
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(serde_json::to_string(&map)?.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })();
        if let Err(e) = &result {
            tracing::error!(file = %path.display(), "native seal counters not saved; report not acknowledged: {e}");
        }
        result.is_ok()
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The decoding state of one byte stream. See the module documentation.
pub struct WireDecoder {
    source: SourceName,
    kind: Kind,
    shared: Arc<SourceState>,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for WireDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireDecoder")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Cuts the frames of `data` out with `framer` and hands each to `on_frame`.
fn frames<F: Framing, const N: usize>(
    framer: &mut Framer<F, N>,
    mut data: &[u8],
    scratch: &mut [u8],
    mut on_frame: impl FnMut(Result<&[u8], DecodeError>),
) {
    loop {
        while let Some(frame) = framer.next_frame(scratch) {
            on_frame(frame);
        }
        if data.is_empty() {
            return;
        }
        let n = framer.push(data);
        if n == 0 {
            return; // cannot happen: next_frame empties a full buffer
        }
        data = data.get(n..).unwrap_or(&[]);
    }
}

impl WireDecoder {
    /// A decoder for `protocol` on a stream of `source`, sharing `shared` with the
    /// source's other streams; `None` for protocols that are not wire protocols (`gpio`,
    /// `gateway`).
    pub fn new(source: SourceName, protocol: Protocol, shared: Arc<SourceState>) -> Option<Self> {
        let kind = match protocol {
            Protocol::Nmea => Kind::Nmea {
                framer: Box::default(),
                epochs: FixAssembler::new(),
            },
            Protocol::Ubx => Kind::Ubx(Box::default()),
            Protocol::Jt600 => Kind::Jt600(Box::default()),
            Protocol::Jt808 => Kind::Jt808(Box::default()),
            Protocol::Eseal => Kind::Eseal(Box::default()),
            Protocol::Teratrack => Kind::Teratrack(Box::default()),
            Protocol::Native => Kind::Native(Box::default()),
            _ => return None,
        };
        Some(WireDecoder {
            source,
            kind,
            shared,
            scratch: vec![0; SCRATCH],
        })
    }

    /// Decodes `data`, the next bytes of the stream, into `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Output) {
        let source = &self.source;
        let scratch = &mut self.scratch[..];
        let mut decoded: Vec<Result<Decoded, ()>> = Vec::new();
        match &mut self.kind {
            Kind::Nmea { framer, epochs } => {
                let mut input = data;
                while !input.is_empty() {
                    match framer.feed(&mut input) {
                        None => break,
                        Some(Err(_)) => out.rejected += 1,
                        Some(Ok(frame)) => match parse(frame.body()) {
                            Err(_) => out.rejected += 1,
                            Ok(sentence) => {
                                if let Some(fix) = epochs.push(&sentence) {
                                    out.inputs.push(Input::Fix {
                                        source: source.clone(),
                                        fix,
                                    });
                                }
                            }
                        },
                    }
                }
                return;
            }
            Kind::Ubx(framer) => {
                for &b in data {
                    match framer.push(b) {
                        Some(MixedItem::Ubx(Ok(frame))) => match frame.message() {
                            Ok(UbxMessage::NavPvt(pvt)) => out.inputs.push(Input::Fix {
                                source: source.clone(),
                                fix: pvt.to_fix(),
                            }),
                            Ok(_) => {}
                            Err(_) => out.rejected += 1,
                        },
                        Some(MixedItem::Ubx(Err(_))) => out.rejected += 1,
                        // NMEA beside UBX on a u-blox port: NAV-PVT already has it all.
                        Some(MixedItem::Nmea(_)) | None => {}
                    }
                }
                return;
            }
            Kind::Jt600(f) => frames(f, data, scratch, |r| {
                decoded.push(r.and_then(jt600::decode).map_err(drop));
            }),
            Kind::Jt808(f) => frames(f, data, scratch, |r| {
                decoded.push(r.and_then(jt808::decode).map_err(drop));
            }),
            Kind::Eseal(f) => frames(f, data, scratch, |r| {
                decoded.push(r.and_then(eseal::decode).map_err(drop));
            }),
            Kind::Teratrack(f) => frames(f, data, scratch, |r| {
                decoded.push(r.and_then(teratrack::decode).map_err(drop));
            }),
            Kind::Native(f) => frames(f, data, scratch, |r| {
                let d = match r {
                    Err(_) => Err(()),
                    Ok(frame) => {
                        let mut verifier = locked(&self.shared.verifier);
                        match verifier.check(frame) {
                            Ok(verified) => {
                                let mut d = match verified {
                                    native::Verified::Fresh(d) => d,
                                    // Sent again because the ACK did not arrive (or was
                                    // withheld): the ACK again, nothing new to report.
                                    native::Verified::Resend { mut decoded, .. } => {
                                        decoded.reports.clear();
                                        decoded
                                    }
                                };
                                // The counter is durable before the acknowledgement goes
                                // back. If it cannot be, no ACK: the reader sends again.
                                if !self.shared.save_counters(&verifier) {
                                    d.reply = None;
                                }
                                Ok(d)
                            }
                            // Forged, replayed or unknown: a `seal.spoofed` report, no reply.
                            Err(e) => e
                                .spoof_report()
                                .map(|r| {
                                    let mut d = Decoded::empty(
                                        ects_firmware::seal::FrameKind::Event,
                                        Some(r.device.clone()),
                                    );
                                    let _ = d.reports.push(r);
                                    d
                                })
                                .ok_or(()),
                        }
                    }
                };
                decoded.push(d);
            }),
        }
        for d in decoded {
            let Ok(d) = d else {
                out.rejected += 1;
                continue;
            };
            if let Some(reply) = &d.reply {
                out.reply.extend_from_slice(reply.as_bytes());
            }
            for report in d.reports {
                if locked(&self.shared.dedup).check(&report) == Verdict::New {
                    out.inputs.push(Input::Seal {
                        source: self.source.clone(),
                        report,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> SourceName {
        SourceName::new("src").unwrap()
    }

    fn shared() -> Arc<SourceState> {
        SourceState::new(&SealKeys::default()).unwrap()
    }

    #[test]
    fn test_jt600_reply_and_dedup_across_split_reads() {
        let frame = b"(3301210003,U06,1,040812,185302,T,22.564025,N,113.242329,E,5,152,9,32%,0000000000011,10133,5173,22,100,1,300,100,10)";
        let mut d = WireDecoder::new(name(), Protocol::Jt600, shared()).unwrap();
        let mut out = Output::default();
        let (a, b) = frame.split_at(40);
        d.feed(b"noise", &mut out);
        d.feed(a, &mut out);
        assert!(out.inputs.is_empty() && out.reply.is_empty());
        d.feed(b, &mut out);
        assert_eq!(out.inputs.len(), 1);
        assert_eq!(out.reply, b"(S20)");
        d.feed(frame, &mut out);
        assert_eq!(
            out.inputs.len(),
            1,
            "the resend is acknowledged, not reported"
        );
        assert_eq!(out.reply, b"(S20)(S20)");
    }

    #[test]
    fn test_nmea_epochs_become_fixes() {
        let mut d = WireDecoder::new(name(), Protocol::Nmea, shared()).unwrap();
        let mut out = Output::default();
        d.feed(crate::demo::DEMO_GPS_CAPTURE, &mut out);
        assert!(out.inputs.len() > 100, "{}", out.inputs.len());
        assert!(out.reply.is_empty());
    }

    #[test]
    fn test_garbage_is_counted_and_bounded() {
        for p in [
            Protocol::Nmea,
            Protocol::Ubx,
            Protocol::Jt600,
            Protocol::Jt808,
            Protocol::Eseal,
            Protocol::Teratrack,
            Protocol::Native,
        ] {
            let mut d = WireDecoder::new(name(), p, shared()).unwrap();
            let mut out = Output::default();
            let mut junk = Vec::new();
            for i in 0..200_000u32 {
                junk.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
            }
            junk.extend_from_slice(b"$GPRMC,(##S{\x7e\xec\x75");
            d.feed(&junk, &mut out);
            assert!(out.inputs.len() < 10, "{p:?}");
        }
        assert!(WireDecoder::new(name(), Protocol::Gpio, shared()).is_none());
    }

    /// The documented native test vector (docs/protocol.md) with its key: accepted and
    /// acknowledged; the same frame on a second connection of the source is a replay.
    /// The documented native test vector (docs/protocol.md) and its seal's key.
    fn native_vector() -> (Vec<u8>, SealKeys) {
        const VECTOR: &str = "ec75010100140042000000001234000000076929c70003020e100fae11c66ff9d1ef4842df3106c0b38a6f54";
        let frame: Vec<u8> = (0..VECTOR.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&VECTOR[i..i + 2], 16).unwrap())
            .collect();
        let keys = crate::seal_keys::parse_keys(&format!("0042-000000001234={}", "11".repeat(32)))
            .unwrap();
        (frame, keys)
    }

    #[test]
    fn test_native_keys_and_replays_across_connections() {
        let (frame, keys) = native_vector();
        let state = SourceState::new(&keys).unwrap();
        let mut first = WireDecoder::new(name(), Protocol::Native, state.clone()).unwrap();
        let mut out = Output::default();
        first.feed(&frame, &mut out);
        assert_eq!(out.inputs.len(), 1);
        let Input::Seal { report, .. } = &out.inputs[0] else {
            panic!()
        };
        assert_eq!(report.spoofed, None);
        assert!(out.reply.starts_with(&[0xec, 0x75, 0x01, 0x81]));
        // The reader did not get the ACK and sends the report again, on a new connection:
        // acknowledged again, nothing new reported (no false `seal.spoofed`).
        let mut second = WireDecoder::new(name(), Protocol::Native, state).unwrap();
        let mut again = Output::default();
        second.feed(&frame, &mut again);
        assert!(again.inputs.is_empty(), "{:?}", again.inputs);
        assert_eq!(again.reply, out.reply);
    }

    #[test]
    fn test_an_older_report_is_a_replay() {
        let (frame, keys) = native_vector(); // counter 7
        let dir = std::env::temp_dir().join(format!("ects-counters-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("native-seals.json");
        std::fs::write(&path, r#"{"0042000000001234":9}"#).unwrap();
        let state = SourceState::with_counters(&keys, path).unwrap();
        let mut d = WireDecoder::new(name(), Protocol::Native, state).unwrap();
        let mut out = Output::default();
        d.feed(&frame, &mut out);
        let Input::Seal { report, .. } = &out.inputs[0] else {
            panic!()
        };
        assert!(report.spoofed.is_some(), "counter 7 after 9");
        assert!(out.reply.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_native_counters_survive_a_restart() {
        let (frame, keys) = native_vector();
        let dir = std::env::temp_dir().join(format!("ects-counters-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("native-seals.json");
        let inputs = |state: Arc<SourceState>| {
            let mut d = WireDecoder::new(name(), Protocol::Native, state).unwrap();
            let mut out = Output::default();
            d.feed(&frame, &mut out);
            out.inputs.len()
        };
        assert_eq!(
            inputs(SourceState::with_counters(&keys, path.clone()).unwrap()),
            1
        );
        let saved = std::fs::read_to_string(&path).unwrap();
        assert_eq!(saved, r#"{"0042000000001234":7}"#);
        // A new process: the recorded frame is not a new report (the counter survived).
        assert_eq!(
            inputs(SourceState::with_counters(&keys, path.clone()).unwrap()),
            0
        );
        std::fs::write(&path, "not json").unwrap();
        let e = SourceState::with_counters(&keys, path.clone()).unwrap_err();
        assert!(e.contains("not a counters file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_no_ack_when_the_counters_cannot_be_saved_and_the_resend_is_accepted() {
        let (frame, keys) = native_vector();
        let dir = std::env::temp_dir().join(format!("ects-counters-fail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let state = SourceState::with_counters(&keys, dir.join("native-seals.json")).unwrap();
        // Then the counters' directory becomes a file: every save fails (even as root).
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::write(&dir, "in the way").unwrap();
        let mut d = WireDecoder::new(name(), Protocol::Native, state.clone()).unwrap();
        let mut out = Output::default();
        d.feed(&frame, &mut out);
        assert_eq!(out.inputs.len(), 1, "the report itself is real");
        assert!(
            out.reply.is_empty(),
            "no ACK for a counter that is not durable"
        );
        // The disk is back; the device sends the report again: accepted (not a replay),
        // acknowledged now, and not a second input.
        std::fs::remove_file(&dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        let mut again = Output::default();
        d.feed(&frame, &mut again);
        assert!(
            again.reply.starts_with(&[0xec, 0x75, 0x01, 0x81]),
            "{again:?}"
        );
        assert!(again.inputs.is_empty(), "de-duplicated");
        assert_eq!(
            std::fs::read_to_string(dir.join("native-seals.json")).unwrap(),
            r#"{"0042000000001234":7}"#
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
