//! u-blox UBX: the binary protocol of most Raspberry Pi GPS boards, as a second input
//! beside NMEA.
//!
//! Two messages matter to the appliance: **NAV-PVT** (the full navigation solution in one
//! message, converted to the same [`Fix`] NMEA epochs produce) and **MON-RF** (the
//! receiver's own RF monitor, whose jamming state and CW jamming indicator are a better
//! jamming detector than anything NMEA shows).
//!
//! Frame layout (little-endian):
//!
//! ```text
//!  0xB5 0x62 | class u8 | id u8 | length u16 | payload (length bytes) | CK_A CK_B
//!            \_____________ covered by the 8-bit Fletcher checksum __/
//! ```
//!
//! - [`Framer`] is a byte-at-a-time, resynchronising UBX framer with an `N`-byte payload
//!   buffer (frames with a longer payload are skipped with [`UbxError::TooLong`]).
//! - [`MixedFramer`] splits one serial stream carrying both NMEA and UBX (the u-blox
//!   default on UART1): while a UBX frame is being read its bytes are kept away from the
//!   NMEA framer, so a `$` inside binary payload cannot start a sentence.
//! - [`NavPvtData::parse`] and [`MonRfData::parse`] decode payloads; accessors never panic.
//!
//! Invariants: fixed buffers only, no allocation, no panics on any input.
//!
//! ```
//! use ects_firmware::ubx::{Framer, UbxMessage};
//! // The UBX-NAV-PVT poll request from the u-blox manual.
//! let mut framer: Framer = Framer::new();
//! let mut got = None;
//! for &b in &[0xB5, 0x62, 0x01, 0x07, 0x00, 0x00, 0x08, 0x19] {
//!     if let Some(Ok(frame)) = framer.push(b) {
//!         got = Some((frame.class, frame.id, frame.payload.len()));
//!     }
//! }
//! assert_eq!(got, Some((0x01, 0x07, 0)));
//! ```

use core::fmt;

use crate::nmea::LatLon;
use crate::nmea::fix::{Fix, FixMode};
use crate::nmea::framer::{Frame, FrameError};
use crate::time::Timestamp;

/// Default payload buffer: NAV-PVT is 92 bytes, MON-RF 4 + 24 per RF block.
pub const DEFAULT_MAX_PAYLOAD: usize = 256;

/// UBX class/id of NAV-PVT.
pub const NAV_PVT: (u8, u8) = (0x01, 0x07);
/// UBX class/id of MON-RF.
pub const MON_RF: (u8, u8) = (0x0A, 0x38);

/// Why a UBX frame or payload was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UbxError {
    /// The declared payload length exceeds the buffer.
    TooLong {
        /// Declared payload length.
        len: u16,
        /// Buffer size.
        max: usize,
    },
    /// The Fletcher checksum does not match.
    Checksum {
        /// Calculated (CK_A, CK_B).
        calculated: (u8, u8),
        /// Received (CK_A, CK_B).
        found: (u8, u8),
    },
    /// A payload has the wrong length for its message.
    PayloadLength {
        /// The message's class and id.
        message: (u8, u8),
        /// The payload length found.
        len: usize,
    },
}

impl UbxError {
    /// A short, stable, machine-readable name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            UbxError::TooLong { .. } => "ubx_too_long",
            UbxError::Checksum { .. } => "ubx_checksum",
            UbxError::PayloadLength { .. } => "ubx_payload_length",
        }
    }
}

impl fmt::Display for UbxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UbxError::TooLong { len, max } => {
                write!(
                    f,
                    "UBX payload of {len} bytes exceeds the {max}-byte buffer"
                )
            }
            UbxError::Checksum { calculated, found } => write!(
                f,
                "UBX checksum mismatch: calculated {:02X}{:02X}, found {:02X}{:02X}",
                calculated.0, calculated.1, found.0, found.1
            ),
            UbxError::PayloadLength { message, len } => write!(
                f,
                "UBX {:02X}-{:02X} payload has the wrong length {len}",
                message.0, message.1
            ),
        }
    }
}

impl core::error::Error for UbxError {}

/// A checksum-verified UBX frame, borrowed from the framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UbxFrame<'a> {
    /// Message class.
    pub class: u8,
    /// Message id.
    pub id: u8,
    /// Payload.
    pub payload: &'a [u8],
}

/// A decoded UBX message.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum UbxMessage<'a> {
    /// NAV-PVT.
    NavPvt(NavPvtData),
    /// MON-RF.
    MonRf(MonRfData),
    /// Any other message, undecoded.
    Other(UbxFrame<'a>),
}

impl<'a> UbxFrame<'a> {
    /// Decodes the payload of the messages this module knows.
    ///
    /// # Errors
    /// [`UbxError::PayloadLength`] when a known message has the wrong length.
    pub fn message(&self) -> Result<UbxMessage<'a>, UbxError> {
        match (self.class, self.id) {
            NAV_PVT => NavPvtData::parse(self.payload).map(UbxMessage::NavPvt),
            MON_RF => MonRfData::parse(self.payload).map(UbxMessage::MonRf),
            _ => Ok(UbxMessage::Other(*self)),
        }
    }
}

/// The UBX 8-bit Fletcher checksum over class, id, length and payload.
pub fn fletcher(bytes: &[u8]) -> (u8, u8) {
    bytes.iter().fold((0u8, 0u8), |(a, b), &x| {
        let a = a.wrapping_add(x);
        (a, b.wrapping_add(a))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Sync1,
    Sync2,
    /// Reading class, id and length: `n` of 4 bytes seen.
    Header(u8),
    Payload,
    CkA,
    CkB(u8),
}

/// A resynchronising UBX framer with an `N`-byte payload buffer.
#[derive(Debug, Clone)]
pub struct Framer<const N: usize = DEFAULT_MAX_PAYLOAD> {
    state: State,
    header: [u8; 4],
    buf: [u8; N],
    len: usize,
    want: usize,
    ck: (u8, u8),
    /// Bytes of an oversized payload still to skip.
    skip: usize,
}

impl<const N: usize> Default for Framer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Framer<N> {
    /// A framer waiting for `0xB5 0x62`.
    pub const fn new() -> Self {
        Framer {
            state: State::Sync1,
            header: [0; 4],
            buf: [0; N],
            len: 0,
            want: 0,
            ck: (0, 0),
            skip: 0,
        }
    }

    /// Whether the framer is inside a frame (after the two sync bytes).
    pub fn in_frame(&self) -> bool {
        !matches!(self.state, State::Sync1 | State::Sync2) || self.skip > 0
    }

    /// Feeds one byte; returns a frame or an error when a frame ends.
    pub fn push(&mut self, byte: u8) -> Option<Result<UbxFrame<'_>, UbxError>> {
        if self.skip > 0 {
            self.skip -= 1;
            return None;
        }
        match self.state {
            State::Sync1 => {
                if byte == 0xB5 {
                    self.state = State::Sync2;
                }
                None
            }
            State::Sync2 => {
                self.state = match byte {
                    0x62 => {
                        self.ck = (0, 0);
                        State::Header(0)
                    }
                    0xB5 => State::Sync2,
                    _ => State::Sync1,
                };
                None
            }
            State::Header(n) => {
                self.add_ck(byte);
                if let Some(slot) = self.header.get_mut(usize::from(n)) {
                    *slot = byte;
                }
                if n < 3 {
                    self.state = State::Header(n + 1);
                    return None;
                }
                let len = u16::from_le_bytes([self.header[2], self.header[3]]);
                self.want = usize::from(len);
                self.len = 0;
                if self.want > N {
                    // Skip the payload and checksum, then resynchronise.
                    self.skip = self.want + 2;
                    self.state = State::Sync1;
                    return Some(Err(UbxError::TooLong { len, max: N }));
                }
                self.state = if self.want == 0 {
                    State::CkA
                } else {
                    State::Payload
                };
                None
            }
            State::Payload => {
                self.add_ck(byte);
                if let Some(slot) = self.buf.get_mut(self.len) {
                    *slot = byte;
                }
                self.len += 1;
                if self.len >= self.want {
                    self.state = State::CkA;
                }
                None
            }
            State::CkA => {
                self.state = State::CkB(byte);
                None
            }
            State::CkB(a) => {
                self.state = State::Sync1;
                let found = (a, byte);
                if found != self.ck && !cfg!(fuzzing) {
                    return Some(Err(UbxError::Checksum {
                        calculated: self.ck,
                        found,
                    }));
                }
                Some(Ok(UbxFrame {
                    class: self.header[0],
                    id: self.header[1],
                    payload: self.buf.get(..self.len).unwrap_or(&[]),
                }))
            }
        }
    }

    fn add_ck(&mut self, byte: u8) {
        self.ck.0 = self.ck.0.wrapping_add(byte);
        self.ck.1 = self.ck.1.wrapping_add(self.ck.0);
    }
}

/// One item from a mixed NMEA/UBX stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixedItem<'a> {
    /// An NMEA sentence or framing error.
    Nmea(Result<Frame<'a>, FrameError>),
    /// A UBX frame or framing error.
    Ubx(Result<UbxFrame<'a>, UbxError>),
}

/// Splits a serial stream carrying both NMEA 0183 and UBX.
#[derive(Debug, Clone, Default)]
pub struct MixedFramer {
    nmea: crate::nmea::framer::Framer,
    ubx: Framer,
}

impl MixedFramer {
    /// A new framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one byte.
    pub fn push(&mut self, byte: u8) -> Option<MixedItem<'_>> {
        let was_in_ubx = self.ubx.in_frame();
        // NMEA is 7-bit text; 0xB5 only ever starts UBX. Inside a UBX frame the NMEA
        // framer sees nothing, so binary payload cannot start a sentence.
        if was_in_ubx || byte == 0xB5 || self.ubx.state == State::Sync2 {
            if byte == 0xB5 && !was_in_ubx {
                // A UBX frame interrupts any pending sentence; drop it silently.
                let _ = self.nmea.finish();
            }
            return self.ubx.push(byte).map(MixedItem::Ubx);
        }
        self.nmea.push(byte).map(MixedItem::Nmea)
    }
}

fn u16_at(p: &[u8], at: usize) -> u16 {
    match p.get(at..at + 2) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]),
        _ => 0,
    }
}

fn i32_at(p: &[u8], at: usize) -> i32 {
    match p.get(at..at + 4) {
        Some(&[a, b, c, d]) => i32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

fn u32_at(p: &[u8], at: usize) -> u32 {
    i32_at(p, at) as u32
}

fn u8_at(p: &[u8], at: usize) -> u8 {
    p.get(at).copied().unwrap_or(0)
}

/// NAV-PVT (0x01 0x07): navigation position, velocity and time solution (92 bytes).
///
/// ```text
///  0 iTOW u32 ms | 4 year u16 | 6 month | 7 day | 8 hour | 9 min | 10 sec | 11 valid
/// 12 tAcc u32 ns | 16 nano i32 | 20 fixType | 21 flags | 22 flags2 | 23 numSV
/// 24 lon i32 1e-7° | 28 lat i32 1e-7° | 32 height i32 mm | 36 hMSL i32 mm
/// 40 hAcc u32 mm | 44 vAcc u32 mm | 48 velN | 52 velE | 56 velD i32 mm/s
/// 60 gSpeed i32 mm/s | 64 headMot i32 1e-5° | 68 sAcc u32 mm/s | 72 headAcc u32 1e-5°
/// 76 pDOP u16 0.01 | 78 flags3 … | 84 headVeh i32 | 88 magDec i16 | 90 magAcc u16
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NavPvtData {
    payload: [u8; 92],
}

impl NavPvtData {
    /// Payload length.
    pub const LEN: usize = 92;

    /// Wraps a NAV-PVT payload.
    ///
    /// # Errors
    /// [`UbxError::PayloadLength`] unless the payload is exactly 92 bytes.
    pub fn parse(payload: &[u8]) -> Result<Self, UbxError> {
        let payload: [u8; 92] = payload.try_into().map_err(|_| UbxError::PayloadLength {
            message: NAV_PVT,
            len: payload.len(),
        })?;
        Ok(NavPvtData { payload })
    }

    /// GPS time of week of the epoch, ms.
    pub fn itow_ms(&self) -> u32 {
        u32_at(&self.payload, 0)
    }

    /// The UTC time, when the receiver flags both date and time valid.
    pub fn time(&self) -> Option<Timestamp> {
        let p = &self.payload;
        let valid = u8_at(p, 11);
        if valid & 0b11 != 0b11 {
            return None;
        }
        let nano = i32_at(p, 16);
        let base = Timestamp::from_civil(
            i32::from(u16_at(p, 4)),
            u8_at(p, 6),
            u8_at(p, 7),
            u8_at(p, 8),
            u8_at(p, 9),
            u8_at(p, 10).min(59),
            0,
        )
        .ok()?;
        // `nano` is the signed fraction (−1e9…1e9) to add to the rounded second.
        Some(base + crate::time::Duration::from_micros(i64::from(nano) / 1000))
    }

    /// The GNSS fix type: 0 none, 1 dead reckoning, 2 2D, 3 3D, 4 GNSS + DR, 5 time only.
    pub fn fix_type(&self) -> u8 {
        u8_at(&self.payload, 20)
    }

    /// `gnssFixOK`: the fix is within the receiver's configured limits.
    pub fn gnss_fix_ok(&self) -> bool {
        u8_at(&self.payload, 21) & 1 != 0
    }

    /// `diffSoln`: differential corrections applied.
    pub fn differential(&self) -> bool {
        u8_at(&self.payload, 21) & 2 != 0
    }

    /// Satellites used.
    pub fn satellites(&self) -> u8 {
        u8_at(&self.payload, 23)
    }

    /// Position (degrees); `None` when out of range.
    pub fn position(&self) -> Option<LatLon> {
        let lon = f64::from(i32_at(&self.payload, 24)) * 1e-7;
        let lat = f64::from(i32_at(&self.payload, 28)) * 1e-7;
        ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon))
            .then_some(LatLon { lat, lon })
    }

    /// Height above mean sea level, metres.
    pub fn alt_msl_m(&self) -> f32 {
        i32_at(&self.payload, 36) as f32 / 1000.0
    }

    /// Ground speed, m/s.
    pub fn speed_mps(&self) -> f32 {
        i32_at(&self.payload, 60) as f32 / 1000.0
    }

    /// Heading of motion, degrees.
    pub fn heading_deg(&self) -> f32 {
        i32_at(&self.payload, 64) as f32 * 1e-5
    }

    /// Horizontal accuracy estimate, metres.
    pub fn h_acc_m(&self) -> f32 {
        u32_at(&self.payload, 40) as f32 / 1000.0
    }

    /// Position DOP.
    pub fn pdop(&self) -> f32 {
        f32::from(u16_at(&self.payload, 76)) * 0.01
    }

    /// The solution as the same [`Fix`] NMEA epochs produce. Position, speed and track
    /// are only set when `gnssFixOK` is set and the fix type is 2D, 3D or GNSS + DR.
    pub fn to_fix(&self) -> Fix {
        let mode = match (self.gnss_fix_ok(), self.fix_type()) {
            (true, 2) => FixMode::Fix2D,
            (true, 3 | 4) => FixMode::Fix3D,
            _ => FixMode::NoFix,
        };
        let fix = mode.has_fix();
        Fix {
            time: self.time(),
            mode,
            position: self.position().filter(|_| fix),
            alt_msl_m: (mode == FixMode::Fix3D).then(|| self.alt_msl_m()),
            speed_mps: fix.then(|| self.speed_mps()),
            track_deg: fix.then(|| self.heading_deg()),
            differential: self.differential(),
            satellites_used: Some(self.satellites()),
            pdop: Some(self.pdop()),
            ..Fix::default()
        }
    }
}

/// The jamming state MON-RF reports for an RF block.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum JammingState {
    /// 0: unknown or the feature is disabled.
    Unknown,
    /// 1: no significant jamming.
    Ok,
    /// 2: interference visible but the fix is OK.
    Warning,
    /// 3: interference visible and no fix.
    Critical,
}

/// One RF block of MON-RF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfBlock {
    /// RF block id (0 L1, 1 L2/L5 on multi-band receivers).
    pub block_id: u8,
    /// Jamming state.
    pub jamming_state: JammingState,
    /// Antenna supervisor state (0 init, 1 don't know, 2 ok, 3 short, 4 open).
    pub antenna_status: u8,
    /// Noise level as measured by the GPS core.
    pub noise_per_ms: u16,
    /// AGC monitor (0–8191, 100 % gain = 8191).
    pub agc_count: u16,
    /// CW jamming indicator, 0 (none) – 255 (strong).
    pub jam_indicator: u8,
}

/// Most RF blocks kept from one MON-RF.
pub const MON_RF_MAX_BLOCKS: usize = 4;

/// MON-RF (0x0A 0x38): RF information, 4 + 24 × nBlocks bytes.
///
/// ```text
///  0 version u8 | 1 nBlocks u8 | 2 reserved[2]
///  per block (24 bytes): 0 blockId | 1 flags (bits 0–1 jammingState) | 2 antStatus
///  3 antPower | 4 postStatus u32 | 8 reserved[4] | 12 noisePerMS u16 | 14 agcCnt u16
///  16 jamInd u8 | 17 ofsI i8 | 18 magI u8 | 19 ofsQ i8 | 20 magQ u8 | 21 reserved[3]
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonRfData {
    blocks: [Option<RfBlock>; MON_RF_MAX_BLOCKS],
}

impl MonRfData {
    /// Decodes a MON-RF payload (at most [`MON_RF_MAX_BLOCKS`] blocks are kept).
    ///
    /// # Errors
    /// [`UbxError::PayloadLength`] unless the length is 4 + 24 × nBlocks.
    pub fn parse(payload: &[u8]) -> Result<Self, UbxError> {
        let n = usize::from(u8_at(payload, 1));
        if payload.len() < 4 || payload.len() != 4 + 24 * n {
            return Err(UbxError::PayloadLength {
                message: MON_RF,
                len: payload.len(),
            });
        }
        let mut blocks = [None; MON_RF_MAX_BLOCKS];
        for (i, slot) in blocks.iter_mut().enumerate().take(n) {
            let b = payload.get(4 + 24 * i..4 + 24 * (i + 1)).unwrap_or(&[]);
            *slot = Some(RfBlock {
                block_id: u8_at(b, 0),
                jamming_state: match u8_at(b, 1) & 0b11 {
                    1 => JammingState::Ok,
                    2 => JammingState::Warning,
                    3 => JammingState::Critical,
                    _ => JammingState::Unknown,
                },
                antenna_status: u8_at(b, 2),
                noise_per_ms: u16_at(b, 12),
                agc_count: u16_at(b, 14),
                jam_indicator: u8_at(b, 16),
            });
        }
        Ok(MonRfData { blocks })
    }

    /// The RF blocks.
    pub fn blocks(&self) -> impl Iterator<Item = &RfBlock> {
        self.blocks.iter().flatten()
    }

    /// The worst jamming state over all blocks.
    pub fn jamming_state(&self) -> JammingState {
        self.blocks()
            .map(|b| b.jamming_state)
            .max()
            .unwrap_or(JammingState::Unknown)
    }

    /// The highest CW jamming indicator over all blocks.
    pub fn jam_indicator(&self) -> u8 {
        self.blocks().map(|b| b.jam_indicator).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn frame(class: u8, id: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = std::vec![class, id];
        body.extend_from_slice(&(payload.len() as u16).to_le_bytes());
        body.extend_from_slice(payload);
        let (a, b) = fletcher(&body);
        let mut out = std::vec![0xB5, 0x62];
        out.extend_from_slice(&body);
        out.extend_from_slice(&[a, b]);
        out
    }

    #[test]
    fn test_fletcher_matches_published_frames() {
        // CFG-MSG "disable GxGLL" and the NAV-PVT poll, as printed in u-blox examples.
        assert_eq!(
            fletcher(&[0x06, 0x01, 0x03, 0x00, 0xF0, 0x01, 0x00]),
            (0xFB, 0x11)
        );
        assert_eq!(fletcher(&[0x01, 0x07, 0x00, 0x00]), (0x08, 0x19));
    }

    /// (class, id, payload) of a framed message.
    type Owned = (u8, u8, Vec<u8>);

    fn frames(input: &[u8]) -> Vec<Result<Owned, UbxError>> {
        let mut f: Framer<128> = Framer::new();
        let mut out = Vec::new();
        for &b in input {
            if let Some(r) = f.push(b) {
                out.push(r.map(|fr| (fr.class, fr.id, fr.payload.to_vec())));
            }
        }
        out
    }

    #[test]
    fn test_framer_resyncs_and_checks() {
        let good = frame(0x0A, 0x38, &[0, 0, 0, 0]);
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let mut input = std::vec![0x00, 0xB5, 0x00, 0xB5, 0xB5];
        input.extend_from_slice(&[0x62]); // "B5 B5 62" still syncs
        input.extend_from_slice(&good[2..]);
        input.extend_from_slice(&bad);
        input.extend_from_slice(&good);
        let out = frames(&input);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], Ok((0x0A, 0x38, std::vec![0, 0, 0, 0])));
        assert!(matches!(out[1], Err(UbxError::Checksum { .. })));
        assert_eq!(out[2], out[0]);
    }

    #[test]
    fn test_too_long_is_skipped() {
        let big = frame(0x01, 0x07, &[0u8; 200]);
        let mut input = big.clone();
        input.extend_from_slice(&frame(0x01, 0x07, &[]));
        let out = frames(&input);
        assert_eq!(out[0], Err(UbxError::TooLong { len: 200, max: 128 }));
        assert_eq!(out[1], Ok((0x01, 0x07, Vec::new())));
    }

    fn nav_pvt() -> [u8; 92] {
        let mut p = [0u8; 92];
        p[4..6].copy_from_slice(&2026u16.to_le_bytes());
        p[6] = 11;
        p[7] = 28;
        p[8] = 16;
        p[9] = 18;
        p[10] = 6;
        p[11] = 0b111;
        p[16..20].copy_from_slice(&(-250_000_000i32).to_le_bytes());
        p[20] = 3;
        p[21] = 0b11;
        p[23] = 14;
        p[24..28].copy_from_slice(&325_825_000i32.to_le_bytes()); // 32.5825 E
        p[28..32].copy_from_slice(&3_476_000i32.to_le_bytes()); // 0.3476 N
        p[36..40].copy_from_slice(&1_190_500i32.to_le_bytes()); // 1190.5 m
        p[60..64].copy_from_slice(&13_890i32.to_le_bytes()); // 13.89 m/s
        p[64..68].copy_from_slice(&27_012_345i32.to_le_bytes()); // 270.12345°
        p[76..78].copy_from_slice(&135u16.to_le_bytes());
        p
    }

    #[test]
    fn test_nav_pvt() {
        let bytes = frame(0x01, 0x07, &nav_pvt());
        let mut f: Framer = Framer::new();
        let mut fix = None;
        for &b in &bytes {
            if let Some(Ok(frame)) = f.push(b) {
                let UbxMessage::NavPvt(pvt) = frame.message().unwrap() else {
                    panic!()
                };
                fix = Some(pvt.to_fix());
            }
        }
        let fix = fix.unwrap();
        assert_eq!(fix.mode, FixMode::Fix3D);
        assert_eq!(fix.time.unwrap().to_string(), "2026-11-28T16:18:05.750Z");
        let p = fix.position.unwrap();
        assert!((p.lat - 0.3476).abs() < 1e-9 && (p.lon - 32.5825).abs() < 1e-9);
        assert_eq!(fix.alt_msl_m, Some(1190.5));
        assert_eq!(fix.speed_mps, Some(13.89));
        assert!((fix.track_deg.unwrap() - 270.12345).abs() < 1e-3);
        assert_eq!(fix.satellites_used, Some(14));
        assert!(fix.differential);
        assert!((fix.pdop.unwrap() - 1.35).abs() < 1e-6);

        let mut no_fix = nav_pvt();
        no_fix[21] = 0; // gnssFixOK clear
        no_fix[11] = 0; // date/time not valid
        let fix = NavPvtData::parse(&no_fix).unwrap().to_fix();
        assert_eq!(
            (fix.mode, fix.position, fix.time),
            (FixMode::NoFix, None, None)
        );
        assert_eq!(
            NavPvtData::parse(&[0; 91]),
            Err(UbxError::PayloadLength {
                message: NAV_PVT,
                len: 91
            })
        );
    }

    #[test]
    fn test_mon_rf() {
        let mut p = std::vec![0u8, 2, 0, 0];
        let mut block = [0u8; 24];
        block[1] = 1; // ok
        block[2] = 2;
        block[14..16].copy_from_slice(&5000u16.to_le_bytes());
        block[16] = 12;
        p.extend_from_slice(&block);
        block[0] = 1;
        block[1] = 2; // warning
        block[16] = 140;
        p.extend_from_slice(&block);
        let rf = MonRfData::parse(&p).unwrap();
        assert_eq!(rf.blocks().count(), 2);
        assert_eq!(rf.jamming_state(), JammingState::Warning);
        assert_eq!(rf.jam_indicator(), 140);
        assert_eq!(rf.blocks().next().unwrap().agc_count, 5000);
        assert!(MonRfData::parse(&p[..27]).is_err());
        assert!(MonRfData::parse(&[]).is_err());
    }

    #[test]
    fn test_mixed_stream() {
        let mut input = b"$GPZDA,201530.00,04,07,2002,00,00*60\r\n".to_vec();
        // A UBX payload containing a '$' and text must not produce NMEA output.
        input.extend_from_slice(&frame(0x01, 0x07, b"$GPZDA,1*55\r\n"));
        input.extend_from_slice(b"$GPZDA,201530.00,04,07,2002,00,00*60\r\n");
        let mut m = MixedFramer::new();
        let mut kinds = Vec::new();
        for &b in &input {
            match m.push(b) {
                Some(MixedItem::Nmea(Ok(_))) => kinds.push("nmea"),
                Some(MixedItem::Ubx(Ok(f))) => {
                    assert_eq!(f.payload, b"$GPZDA,1*55\r\n");
                    kinds.push("ubx");
                }
                Some(other) => panic!("{other:?}"),
                None => {}
            }
        }
        assert_eq!(kinds, ["nmea", "ubx", "nmea"]);
    }
}
