//! The NMEA 0183 byte-stream framer: serial bytes in, checksum-verified sentences out.
//!
//! A receiver's serial line carries sentences `$<address>,<fields>*<hh><CR><LF>`, and also
//! garbage after a cold boot, truncated lines, two sentences run together, doubled `$`,
//! binary protocols and lines without a checksum. The [`Framer`] is a byte-at-a-time state
//! machine that survives all of it:
//!
//! - it (re)synchronises on every `$`: bytes outside a sentence are skipped, and a `$`
//!   inside a sentence abandons the pending one ([`FrameError::Interrupted`]) and starts a
//!   new one (so `$$GPRMC…` frames as `$GPRMC…`);
//! - a sentence ends at CR or LF; it must carry `*hh` (two hex digits) right before the
//!   line end and the XOR of the bytes between `$` and `*` must equal `hh`. Lines without a
//!   checksum are rejected ([`FrameError::NoChecksum`]) unless the framer was built with
//!   [`Framer::with_optional_checksum`];
//! - only printable ASCII (0x20–0x7E) may occur inside a sentence;
//! - a sentence longer than the buffer (`N` bytes from `$` to the last checksum digit) is
//!   dropped ([`FrameError::TooLong`]) and the rest of its line skipped.
//!
//! Invariants: memory is the fixed `[u8; N]` buffer, every input byte is handled in O(1),
//! and no input makes [`Framer::push`] panic. Each rejected sentence is reported exactly once.
//!
//! ```
//! use ects_firmware::nmea::framer::{Framer, FrameError};
//! let mut framer: Framer = Framer::new();
//! let mut frames = 0;
//! let mut errors = 0;
//! for &b in b"\x00garbage$GPGGA,1$GPZDA,201530.00,04,07,2002,00,00*60\r\n$GPZDA,1*00\r\n" {
//!     match framer.push(b) {
//!         Some(Ok(frame)) => {
//!             assert_eq!(frame.body(), b"GPZDA,201530.00,04,07,2002,00,00");
//!             frames += 1;
//!         }
//!         Some(Err(e)) => errors += 1,
//!         None => {}
//!     }
//! }
//! assert_eq!((frames, errors), (1, 2)); // one interrupted, one bad checksum
//! ```

use core::fmt;

/// Default buffer size: gpsd accepts proprietary sentences of 200+ bytes (MTK `$PMTKCHN`),
/// while NMEA 0183 itself allows 82 characters including CR LF.
pub const DEFAULT_MAX_LEN: usize = 256;

/// Why a line that began with `$` was not framed as a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameError {
    /// The line ended without a `*hh` checksum and checksums are required.
    NoChecksum,
    /// The checksum field is not exactly two hex digits followed by the line end.
    BadChecksumField,
    /// The checksum does not match the sentence.
    ChecksumMismatch {
        /// XOR of the bytes between `$` and `*`.
        calculated: u8,
        /// The value written in the sentence.
        found: u8,
    },
    /// The sentence did not fit in the buffer of `max` bytes.
    TooLong {
        /// The framer's buffer size.
        max: usize,
    },
    /// A new `$` arrived before the sentence ended (collision or truncation).
    Interrupted,
    /// A byte outside printable ASCII occurred inside the sentence.
    InvalidByte(u8),
    /// The input ended in the middle of a sentence.
    Truncated,
}

impl FrameError {
    /// A short, stable, machine-readable name (used in CLI counters).
    pub const fn as_str(&self) -> &'static str {
        match self {
            FrameError::NoChecksum => "no_checksum",
            FrameError::BadChecksumField => "bad_checksum_field",
            FrameError::ChecksumMismatch { .. } => "checksum_mismatch",
            FrameError::TooLong { .. } => "too_long",
            FrameError::Interrupted => "interrupted",
            FrameError::InvalidByte(_) => "invalid_byte",
            FrameError::Truncated => "truncated",
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::NoChecksum => f.write_str("sentence has no checksum"),
            FrameError::BadChecksumField => {
                f.write_str("checksum field is not two hex digits at the end of the line")
            }
            FrameError::ChecksumMismatch { calculated, found } => write!(
                f,
                "checksum mismatch: calculated {calculated:02X}, found {found:02X}"
            ),
            FrameError::TooLong { max } => write!(f, "sentence longer than {max} bytes"),
            FrameError::Interrupted => f.write_str("sentence interrupted by a new '$'"),
            FrameError::InvalidByte(b) => write!(f, "byte 0x{b:02X} not allowed in a sentence"),
            FrameError::Truncated => f.write_str("input ended inside a sentence"),
        }
    }
}

impl core::error::Error for FrameError {}

/// A framed sentence, borrowed from the framer's buffer.
///
/// Invariant: `raw` starts with `$`, is printable ASCII, and (when a checksum was present)
/// ends with `*hh` that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    raw: &'a [u8],
    body_end: usize,
}

impl<'a> Frame<'a> {
    /// The whole sentence as received, `$` to the checksum, without CR/LF.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The sentence as text (it is printable ASCII by construction).
    pub fn as_str(&self) -> &'a str {
        core::str::from_utf8(self.raw).unwrap_or("")
    }

    /// The part the checksum covers: between `$` and `*` (or the line end without one).
    pub fn body(&self) -> &'a [u8] {
        self.raw.get(1..self.body_end).unwrap_or(&[])
    }

    /// Whether the sentence carried a (verified) checksum.
    pub fn has_checksum(&self) -> bool {
        self.body_end < self.raw.len()
    }
}

/// XOR of `bytes`, the NMEA 0183 checksum.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside a sentence: waiting for `$`.
    Idle,
    /// Inside the body, after `$`.
    Body,
    /// After `*`: `digits` checksum digits seen so far.
    Checksum { digits: u8 },
    /// An error was reported; skip to the end of the line or the next `$`.
    Skip,
    /// A completed sentence sits in the buffer (returned by the previous `push`).
    Done,
}

/// A resynchronising NMEA 0183 framer with an `N`-byte buffer (see the module docs).
#[derive(Debug, Clone)]
pub struct Framer<const N: usize = DEFAULT_MAX_LEN> {
    buf: [u8; N],
    len: usize,
    state: State,
    sum: u8,
    star: usize,
    require_checksum: bool,
}

impl<const N: usize> Default for Framer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Framer<N> {
    /// A framer that requires checksums.
    pub const fn new() -> Self {
        Framer {
            buf: [0; N],
            len: 0,
            state: State::Idle,
            sum: 0,
            star: 0,
            require_checksum: true,
        }
    }

    /// A framer that also accepts sentences without a `*hh` checksum (for receivers such as
    /// the HP 58534A that never send one). Sentences that do carry one are still verified.
    pub const fn with_optional_checksum() -> Self {
        let mut f = Self::new();
        f.require_checksum = false;
        f
    }

    /// Feeds one byte. Returns a frame or an error when a line that began with `$` ends,
    /// and `None` otherwise. The frame borrows the framer until the next call.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame<'_>, FrameError>> {
        let done = self.step(byte)?;
        Some(done.map(|body_end| self.frame(body_end)))
    }

    /// Feeds bytes from `input` until a line that began with `$` ends, advancing `input`
    /// past the bytes consumed. Same results as calling [`Framer::push`] on each byte, but
    /// several times faster: bytes outside a sentence are skipped with a scan for `$`, the
    /// body of a sentence is scanned eight bytes per step (copied and checksummed in
    /// bulk), and a `*hh` checksum followed by the line end is taken in one step.
    pub fn feed(&mut self, input: &mut &[u8]) -> Option<Result<Frame<'_>, FrameError>> {
        loop {
            match self.state {
                State::Idle | State::Done => {
                    // Nothing but a `$` matters outside a sentence.
                    self.state = State::Idle;
                    let Some(i) = input.iter().position(|&b| b == b'$') else {
                        *input = &[];
                        return None;
                    };
                    *input = input.get(i + 1..).unwrap_or(&[]);
                    self.start();
                    continue;
                }
                State::Body => {
                    self.body_run(input);
                    if let Some(done) = self.checksum_tail(input) {
                        return Some(done.map(|body_end| self.frame(body_end)));
                    }
                }
                State::Skip | State::Checksum { .. } => {}
            }
            // One byte through the state machine: the special byte that ended a body run,
            // a byte of a checksum field split across calls, or a byte skipped after an
            // error.
            let (&first, rest) = input.split_first()?;
            *input = rest;
            if let Some(done) = self.step(first) {
                return Some(done.map(|body_end| self.frame(body_end)));
            }
        }
    }

    /// Copies and checksums the run of plain body bytes at the start of `input` that fits
    /// in the buffer, and advances `input` past it.
    #[inline]
    fn body_run(&mut self, input: &mut &[u8]) {
        let dst = self.buf.get_mut(self.len..).unwrap_or(&mut []);
        let avail = input.get(..dst.len()).unwrap_or(input);
        // Eight bytes per step, then the last partial word padded with NUL, which is not
        // plain, so the scan stops at the end of `avail` at the latest.
        let mut run = 0;
        let mut sum = 0u64;
        let mut words = avail.chunks_exact(8);
        let mut end = None;
        for src in &mut words {
            let w = u64::from_le_bytes(src.try_into().unwrap_or([0; 8]));
            // All bytes in 0x2b..=0x7e (digits, letters, `,` `-` `.` `+`) are plain: a
            // cheaper test that passes almost every word of a sentence body.
            if outside_2b_7e(w) != 0 {
                let special = special_bytes(w);
                if special != 0 {
                    end = Some((w, special));
                    break;
                }
            }
            sum ^= w;
            run += 8;
        }
        let (w, special) = end.unwrap_or_else(|| {
            // The last eight bytes of `avail` shifted down: assembling the word byte by
            // byte would stall on store forwarding.
            let rest = words.remainder();
            let w = match avail.last_chunk::<8>() {
                Some(last) => u64::from_le_bytes(*last)
                    .checked_shr(8 * (8 - rest.len()) as u32)
                    .unwrap_or(0),
                None => {
                    let mut word = [0u8; 8];
                    for (d, s) in word.iter_mut().zip(rest) {
                        *d = *s;
                    }
                    u64::from_le_bytes(word)
                }
            };
            (w, special_bytes(w))
        });
        // The lowest flagged byte is exact (see `special_bytes`); it is never a padding
        // byte past the end of `avail`.
        let k = (special.trailing_zeros() / 8) as usize;
        sum ^= w & low_bytes_mask(k);
        run += k;
        if let (Some(d), Some(s)) = (dst.get_mut(..run), avail.get(..run)) {
            d.copy_from_slice(s);
        }
        self.sum ^= fold_xor(sum);
        self.len += run;
        *input = input.get(run..).unwrap_or(&[]);
    }

    /// At `*hh` and a line end at the start of `input`, in the body state: stores the
    /// checksum field, checks it and consumes the four bytes. `None` (nothing consumed)
    /// for anything else, which then goes through [`Framer::step`] byte by byte.
    #[inline]
    fn checksum_tail(&mut self, input: &mut &[u8]) -> Option<Result<usize, FrameError>> {
        let &[b'*', hi, lo, eol, ..] = *input else {
            return None;
        };
        let (Some(h), Some(l), b'\r' | b'\n') = (hex_value(hi), hex_value(lo), eol) else {
            return None;
        };
        let slot = self.buf.get_mut(self.len..self.len + 3)?;
        slot.copy_from_slice(&[b'*', hi, lo]);
        self.star = self.len;
        self.len += 3;
        *input = input.get(4..).unwrap_or(&[]);
        // As `end_with_checksum` with both digits.
        let found = (h << 4) | l;
        if found != self.sum && !cfg!(fuzzing) {
            self.state = State::Idle;
            self.len = 0;
            return Some(Err(FrameError::ChecksumMismatch {
                calculated: self.sum,
                found,
            }));
        }
        self.state = State::Done;
        Some(Ok(self.star))
    }

    fn frame(&self, body_end: usize) -> Frame<'_> {
        Frame {
            raw: self.buf.get(..self.len).unwrap_or(&[]),
            body_end,
        }
    }

    /// The state machine; a completed sentence is returned as its body end.
    fn step(&mut self, byte: u8) -> Option<Result<usize, FrameError>> {
        if self.state == State::Done {
            self.state = State::Idle;
        }
        if byte == b'$' {
            let pending = matches!(self.state, State::Body | State::Checksum { .. });
            // "$$" is a resynchronisation, not a collision: nothing was pending yet.
            let interrupted = pending && self.len > 1;
            self.start();
            return interrupted.then_some(Err(FrameError::Interrupted));
        }
        let eol = byte == b'\r' || byte == b'\n';
        match self.state {
            State::Idle | State::Done => None,
            State::Skip => {
                if eol {
                    self.state = State::Idle;
                }
                None
            }
            State::Body if eol => self.end_without_checksum(),
            State::Checksum { digits } if eol => self.end_with_checksum(digits),
            _ if !(0x20..=0x7e).contains(&byte) => self.fail(FrameError::InvalidByte(byte)),
            State::Body => {
                if byte == b'*' {
                    self.star = self.len;
                    self.state = State::Checksum { digits: 0 };
                } else {
                    self.sum ^= byte;
                }
                self.store(byte)
            }
            State::Checksum { digits } => {
                if digits >= 2 || hex_value(byte).is_none() {
                    return self.fail(FrameError::BadChecksumField);
                }
                self.state = State::Checksum { digits: digits + 1 };
                self.store(byte)
            }
        }
    }

    /// Ends the input: reports a sentence left unterminated as [`FrameError::Truncated`].
    pub fn finish(&mut self) -> Option<FrameError> {
        let pending = matches!(self.state, State::Body | State::Checksum { .. });
        self.state = State::Idle;
        self.len = 0;
        pending.then_some(FrameError::Truncated)
    }

    fn start(&mut self) {
        self.state = State::Body;
        self.sum = 0;
        self.star = 0;
        self.len = 0;
        // `$` always fits unless N == 0, which `store` reports as too long.
        let _ = self.store(b'$');
    }

    fn store(&mut self, byte: u8) -> Option<Result<usize, FrameError>> {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len += 1;
                None
            }
            None => self.fail(FrameError::TooLong { max: N }),
        }
    }

    fn fail(&mut self, e: FrameError) -> Option<Result<usize, FrameError>> {
        self.state = State::Skip;
        self.len = 0;
        Some(Err(e))
    }

    fn end_without_checksum(&mut self) -> Option<Result<usize, FrameError>> {
        if self.require_checksum {
            self.state = State::Idle;
            self.len = 0;
            return Some(Err(FrameError::NoChecksum));
        }
        self.state = State::Done;
        Some(Ok(self.len))
    }

    fn end_with_checksum(&mut self, digits: u8) -> Option<Result<usize, FrameError>> {
        self.state = State::Idle;
        if digits != 2 {
            self.len = 0;
            return Some(Err(FrameError::BadChecksumField));
        }
        let hi = self.buf.get(self.star + 1).copied().and_then(hex_value);
        let lo = self.buf.get(self.star + 2).copied().and_then(hex_value);
        let (Some(hi), Some(lo)) = (hi, lo) else {
            self.len = 0;
            return Some(Err(FrameError::BadChecksumField));
        };
        let found = (hi << 4) | lo;
        // Under the fuzzer, any checksum passes so that mutated input reaches the decoders.
        if found != self.sum && !cfg!(fuzzing) {
            self.len = 0;
            return Some(Err(FrameError::ChecksumMismatch {
                calculated: self.sum,
                found,
            }));
        }
        self.state = State::Done;
        Some(Ok(self.star))
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The bytes of `w` (little-endian) that are not plain (see [`is_plain`]), as their high
/// bits, with the "has byte less than / more than / equal to" word tests from Bit
/// Twiddling Hacks. A borrow or carry only leaves a byte that is itself flagged, so the
/// lowest flagged byte is always exact (bytes above it may be flagged spuriously); zero
/// means all eight bytes are plain.
#[inline]
fn special_bytes(w: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let less_than_0x20 = w.wrapping_sub(ONES * 0x20) & !w;
    // Adding 127 - 0x7e = 1 to each byte sets its high bit exactly when it is > 0x7e.
    let more_than_0x7e = w.wrapping_add(ONES) | w;
    (less_than_0x20
        | more_than_0x7e
        | zero(w ^ (ONES * u64::from(b'$')))
        | zero(w ^ (ONES * u64::from(b'*'))))
        & HIGHS
}

/// Nonzero when a byte of `w` is outside 0x2b..=0x7e (every such byte is plain, and the
/// special bytes `$` and `*` are below 0x2b).
#[inline]
fn outside_2b_7e(w: u64) -> u64 {
    let less_than_0x2b = w.wrapping_sub(ONES * 0x2b) & !w;
    (less_than_0x2b | w.wrapping_add(ONES) | w) & HIGHS
}

/// Whether all eight bytes of `w` are plain.
#[cfg(test)]
fn word_is_plain(w: u64) -> bool {
    special_bytes(w) == 0
}

/// A mask of the low `k` bytes of a word (`k` < 8).
#[inline]
fn low_bytes_mask(k: usize) -> u64 {
    (1u64 << (8 * (k & 7))) - 1
}

/// XOR of the eight bytes of `w`.
fn fold_xor(w: u64) -> u8 {
    let w = w ^ (w >> 32);
    let w = w ^ (w >> 16);
    (w ^ (w >> 8)) as u8
}

/// A byte that continues a sentence body without changing state.
#[cfg(test)]
fn is_plain(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) && b != b'$' && b != b'*'
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    type Out = Vec<Result<String, FrameError>>;

    fn frame_all<const N: usize>(framer: &mut Framer<N>, input: &[u8]) -> Out {
        let mut out = Vec::new();
        for &b in input {
            if let Some(r) = framer.push(b) {
                out.push(r.map(|f| String::from(f.as_str())));
            }
        }
        if let Some(e) = framer.finish() {
            out.push(Err(e));
        }
        out
    }

    fn frames(input: &[u8]) -> Out {
        frame_all(&mut Framer::<DEFAULT_MAX_LEN>::new(), input)
    }

    const ZDA: &str = "$GPZDA,201530.00,04,07,2002,00,00*60";

    #[test]
    fn test_frames_a_sentence_with_crlf_lf_or_cr() {
        for end in ["\r\n", "\n", "\r"] {
            let input = std::format!("{ZDA}{end}");
            assert_eq!(frames(input.as_bytes()), [Ok(ZDA.into())]);
        }
    }

    #[test]
    fn test_body_and_checksum_accessors() {
        let mut f: Framer = Framer::new();
        let mut seen = false;
        for &b in std::format!("{ZDA}\r\n").as_bytes() {
            if let Some(Ok(frame)) = f.push(b) {
                assert_eq!(frame.body(), b"GPZDA,201530.00,04,07,2002,00,00");
                assert!(frame.has_checksum());
                assert_eq!(checksum(frame.body()), 0x60);
                seen = true;
            }
        }
        assert!(seen);
    }

    #[test]
    fn test_word_is_plain_matches_is_plain() {
        // Every byte value at every position of a word of plain bytes.
        for pos in 0..8 {
            for b in 0..=255u8 {
                let mut bytes = *b"GPGSV,12";
                bytes[pos] = b;
                let w = u64::from_le_bytes(bytes);
                assert_eq!(
                    word_is_plain(w),
                    bytes.iter().all(|&b| is_plain(b)),
                    "{b:#x}@{pos}"
                );
                assert_eq!(fold_xor(w), checksum(&bytes));
            }
        }
    }

    #[test]
    fn test_special_bytes_finds_the_first_one_exactly() {
        // Every pair of byte values at two adjacent positions (borrows and carries run
        // from a lower byte into the next one), and each value after a special byte.
        let first = |bytes: &[u8; 8]| bytes.iter().position(|&b| !is_plain(b)).unwrap_or(8);
        let found = |w: u64| match special_bytes(w) {
            0 => 8,
            s => (s.trailing_zeros() / 8) as usize,
        };
        for pos in [0, 3, 6] {
            for a in 0..=255u8 {
                for b in 0..=255u8 {
                    let mut bytes = *b"GPGSV,12";
                    bytes[pos] = a;
                    bytes[pos + 1] = b;
                    let w = u64::from_le_bytes(bytes);
                    assert_eq!(found(w), first(&bytes), "{a:#x},{b:#x}@{pos}");
                }
            }
        }
        // The quick test never misses a special byte.
        for a in 0..=255u8 {
            let mut bytes = *b"GPGSV,12";
            bytes[5] = a;
            let w = u64::from_le_bytes(bytes);
            if !is_plain(a) {
                assert_ne!(outside_2b_7e(w), 0, "{a:#x}");
            }
            assert_eq!(outside_2b_7e(w) == 0, (0x2b..=0x7e).contains(&a), "{a:#x}");
        }
        assert_eq!(low_bytes_mask(0), 0);
        assert_eq!(low_bytes_mask(3), 0xff_ffff);
        assert_eq!(low_bytes_mask(7), 0x00ff_ffff_ffff_ffff);
    }

    #[test]
    fn test_lowercase_hex_is_accepted() {
        let s = "$GPGLL,2638.1727,N,08011.3892,W,030130.000,A,A*4e\r\n";
        assert_eq!(frames(s.as_bytes()).len(), 1);
        assert!(frames(s.as_bytes())[0].is_ok());
    }

    #[test]
    fn test_rejects_bad_checksums() {
        assert_eq!(
            frames(b"$GPZDA,201530.00,04,07,2002,00,00*61\r\n"),
            [Err(FrameError::ChecksumMismatch {
                calculated: 0x60,
                found: 0x61
            })]
        );
        assert_eq!(
            frames(b"$GPZDA,201530.00,04,07,2002,00,00*6\r\n"),
            [Err(FrameError::BadChecksumField)]
        );
        assert_eq!(
            frames(b"$GPZDA,201530.00,04,07,2002,00,00*600\r\n"),
            [Err(FrameError::BadChecksumField)]
        );
        assert_eq!(
            frames(b"$GPZDA,201530.00,04,07,2002,00,00*G0\r\n"),
            [Err(FrameError::BadChecksumField)]
        );
        assert_eq!(
            frames(b"$GPZDA,201530.00,04,07,2002,00,00\r\n"),
            [Err(FrameError::NoChecksum)]
        );
    }

    #[test]
    fn test_optional_checksum_mode() {
        let mut f: Framer = Framer::with_optional_checksum();
        assert_eq!(
            frame_all(&mut f, b"$GPZDA,201530.00,04,07,2002,00,00\r\n"),
            [Ok("$GPZDA,201530.00,04,07,2002,00,00".into())]
        );
        // A checksum that is present is still verified.
        assert!(frame_all(&mut f, b"$GPZDA,201530.00,04,07,2002,00,00*61\r\n")[0].is_err());
    }

    #[test]
    fn test_collision_and_double_dollar() {
        // triton400.log line 12: a GGA cut short by a GLL.
        let input = b"$GPGGA,030130$GPGLL,2638.1728,N,08011.3893,W,030131.000,A,A*41\r\n";
        assert_eq!(
            frames(input),
            [
                Err(FrameError::Interrupted),
                Ok("$GPGLL,2638.1728,N,08011.3893,W,030131.000,A,A*41".into())
            ]
        );
        let input = std::format!("$${ZDA}\r\n");
        assert_eq!(frames(input.as_bytes()), [Ok(ZDA.into())]);
    }

    #[test]
    fn test_garbage_between_sentences_is_skipped() {
        let mut input = std::vec![0u8, 0xff];
        input.extend_from_slice(
            std::format!("# comment\r\n{ZDA}\r\nnoise*12\r\n{ZDA}\n").as_bytes(),
        );
        assert_eq!(frames(&input), [Ok(ZDA.into()), Ok(ZDA.into())]);
    }

    #[test]
    fn test_invalid_byte_and_truncation() {
        assert_eq!(
            frames(b"$GPZDA,20\x8030.00*11\r\n"),
            [Err(FrameError::InvalidByte(0x80))]
        );
        assert_eq!(frames(b"$GPZDA,2015"), [Err(FrameError::Truncated)]);
    }

    #[test]
    fn test_too_long_skips_rest_of_line() {
        let mut f = Framer::<16>::new();
        let input = std::format!("{ZDA}\r\n$GPZDA,1*55\r\n");
        assert_eq!(
            frame_all(&mut f, input.as_bytes()),
            [
                Err(FrameError::TooLong { max: 16 }),
                Ok("$GPZDA,1*55".into())
            ]
        );
        // Exactly N bytes fit.
        let mut f = Framer::<11>::new();
        assert_eq!(
            frame_all(&mut f, b"$GPZDA,1*55\r\n"),
            [Ok("$GPZDA,1*55".into())]
        );
    }
}
