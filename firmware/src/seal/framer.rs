//! Streaming framers: cut frames out of serial or TCP byte streams, in bounded memory.
//!
//! Reads from a socket or UART split frames arbitrarily: a frame may arrive across several
//! reads, several frames may arrive in one, and line noise or a reconnect leaves garbage
//! between them. A [`Framer`] buffers at most `N` bytes, asks the protocol's [`Framing`]
//! where the next frame is, skips garbage before a frame start, and hands out one frame at
//! a time (un-escaped where the protocol escapes, as JT600 ASCII frames do).
//!
//! # Invariants
//! - The buffer never holds more than `N` bytes. A frame start with no end in `N` bytes is
//!   dropped with [`DecodeError::TooLong`] and scanning resumes after it, so one bad frame
//!   cannot wedge the stream.
//! - Bytes are delivered in order; a returned frame is complete as far as the framing
//!   layer can tell (the decoder still checks lengths and checksums).
//!
//! ```
//! use ects_firmware::seal::framer::Framer;
//! use ects_firmware::seal::jt600::Jt600Framing;
//! let mut framer: Framer<Jt600Framing, 256> = Framer::new();
//! let mut out = [0u8; 256];
//! let stream = b"noise(3460311327,@JT)(34603";
//! assert_eq!(framer.push(stream), stream.len());
//! assert_eq!(framer.next_frame(&mut out), Some(Ok(&b"(3460311327,@JT)"[..])));
//! assert_eq!(framer.next_frame(&mut out), None); // the second frame is incomplete
//! framer.push(b"11327,@JT)");
//! assert_eq!(framer.next_frame(&mut out), Some(Ok(&b"(3460311327,@JT)"[..])));
//! ```

use core::marker::PhantomData;

use crate::seal::DecodeError;

/// Where the next frame is in a buffer, as a protocol's [`Framing::scan`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// More bytes are needed.
    Incomplete,
    /// The first `n` bytes (n ≥ 1) cannot start a frame: drop them.
    Skip(usize),
    /// A frame occupies the first `n` bytes.
    Frame(usize),
}

/// How one protocol delimits frames.
pub trait Framing {
    /// Finds the next frame at the start of `buf`.
    fn scan(buf: &[u8]) -> Scan;

    /// Copies the raw frame `raw` into `out`, undoing any transport escaping, and returns
    /// the frame length. The default copies verbatim.
    ///
    /// # Errors
    /// [`DecodeError::TooLong`] if `out` is too small, [`DecodeError::BadEscape`] for an
    /// undefined escape.
    fn extract(raw: &[u8], out: &mut [u8]) -> Result<usize, DecodeError> {
        copy_into(raw, out)
    }
}

/// Copies `raw` into the start of `out`.
pub(crate) fn copy_into(raw: &[u8], out: &mut [u8]) -> Result<usize, DecodeError> {
    let max = out.len();
    let dst = out.get_mut(..raw.len()).ok_or(DecodeError::TooLong {
        max,
        len: raw.len(),
    })?;
    dst.copy_from_slice(raw);
    Ok(raw.len())
}

/// A bounded streaming framer for protocol `F`, buffering at most `N` bytes.
#[derive(Debug)]
pub struct Framer<F: Framing, const N: usize> {
    buf: heapless::Vec<u8, N>,
    _framing: PhantomData<F>,
}

impl<F: Framing, const N: usize> Default for Framer<F, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Framing, const N: usize> Framer<F, N> {
    /// An empty framer.
    pub const fn new() -> Self {
        Framer {
            buf: heapless::Vec::new(),
            _framing: PhantomData,
        }
    }

    /// Appends as much of `data` as fits and returns how many bytes were taken. Call
    /// [`Framer::next_frame`] until it returns `None`, then push the rest.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let room = N - self.buf.len();
        let n = room.min(data.len());
        // Cannot fail: `n` is at most the free capacity.
        let _ = self.buf.extend_from_slice(data.get(..n).unwrap_or(&[]));
        n
    }

    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, copied (un-escaped) into `out`; `None` if more bytes are
    /// needed.
    ///
    /// # Errors
    /// `Some(Err(TooLong))` when a frame start finds no end within `N` bytes (the buffer
    /// is then cleared) or the frame does not fit `out`; `Some(Err(BadEscape))` for a
    /// frame with an undefined escape (the frame is dropped).
    pub fn next_frame<'o>(&mut self, out: &'o mut [u8]) -> Option<Result<&'o [u8], DecodeError>> {
        loop {
            match F::scan(&self.buf) {
                Scan::Skip(n) => self.drain(n.max(1)),
                Scan::Frame(n) => {
                    let n = n.clamp(1, self.buf.len().max(1));
                    let res = F::extract(self.buf.get(..n).unwrap_or(&[]), out);
                    self.drain(n);
                    return Some(res.map(|len| out.get(..len).unwrap_or(&[])));
                }
                Scan::Incomplete => {
                    if self.buf.len() >= N {
                        let len = self.buf.len();
                        self.buf.clear();
                        return Some(Err(DecodeError::TooLong { max: N, len }));
                    }
                    return None;
                }
            }
        }
    }

    fn drain(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.copy_within(n.., 0);
        self.buf.truncate(self.buf.len() - n);
    }
}

/// Index of the first byte in `buf` at or after `from` that satisfies `pred`.
pub(crate) fn find_from(buf: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&b| pred(b))
        .map(|i| i + from)
}

/// Where to skip to when `buf` does not start a frame: the next byte that could, or all.
pub(crate) fn skip_to(buf: &[u8], pred: impl Fn(u8) -> bool) -> Scan {
    match find_from(buf, 1, pred) {
        Some(i) => Scan::Skip(i),
        None if buf.is_empty() => Scan::Incomplete,
        None => Scan::Skip(buf.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::jt600::Jt600Framing;

    #[test]
    fn overflow_is_reported_and_the_stream_recovers() {
        let mut f: Framer<Jt600Framing, 16> = Framer::new();
        let mut out = [0u8; 16];
        assert_eq!(f.push(b"(1234567890,abcdefgh"), 16);
        assert_eq!(
            f.next_frame(&mut out),
            Some(Err(DecodeError::TooLong { max: 16, len: 16 }))
        );
        assert_eq!(f.buffered(), 0);
        f.push(b"xx)(1,@JT)");
        assert_eq!(f.next_frame(&mut out), Some(Ok(&b"(1,@JT)"[..])));
        assert_eq!(f.next_frame(&mut out), None);
    }

    #[test]
    fn frame_larger_than_output_is_an_error() {
        let mut f: Framer<Jt600Framing, 16> = Framer::new();
        let mut out = [0u8; 4];
        f.push(b"(1,@JT)");
        assert!(matches!(
            f.next_frame(&mut out),
            Some(Err(DecodeError::TooLong { .. }))
        ));
        assert_eq!(f.next_frame(&mut out), None);
    }
}
