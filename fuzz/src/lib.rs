//! Shared driver for the seal fuzz targets: feed the input to a decoder as one frame, and
//! as a byte stream through the protocol's bounded framer, decoding every frame it emits.

use ects_firmware::seal::framer::{Framer, Framing};
use ects_firmware::seal::{DecodeError, Decoded};

/// Runs `decode` on `data`, then streams `data` through framer `F` and decodes each frame.
/// Panics (a fuzz finding) only if the decoder or framer does.
pub fn decode_and_stream<F: Framing>(
    data: &[u8],
    decode: fn(&[u8]) -> Result<Decoded, DecodeError>,
) {
    let _ = decode(data);
    let mut framer: Framer<F, 4096> = Framer::new();
    let mut out = [0u8; 4096];
    let mut rest = data;
    while !rest.is_empty() {
        let n = framer.push(rest);
        rest = &rest[n..];
        while let Some(frame) = framer.next_frame(&mut out) {
            if let Ok(frame) = frame {
                let _ = decode(frame);
            }
        }
    }
}
