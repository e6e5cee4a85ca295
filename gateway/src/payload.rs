//! Event payload encodings: what goes on the wire for one [`Event`].
//!
//! - **JSON** (default): UTF-8, one object, exactly the shape of
//!   `docs/schema/event.v1.json`. First byte is always `{`.
//! - **CBOR** (RFC 8949), for metered links: the *same* data model (same keys, same string
//!   values for times and enums, numbers exactly as the JSON text has them: it is built
//!   from the JSON value), so it maps 1:1 to JSON. It starts with the
//!   self-describe tag 55799 (`d9 d9 f7`, RFC 8949 §3.4.6), so a consumer on a shared topic
//!   tells the two apart by the first byte, with no MQTT 5 property needed.
//!
//! Invariant: [`encode`] either returns a complete payload or an error; it never writes a
//! partial or lossy encoding (a non-finite number the schema requires is an error, not
//! `null`).

use ects_firmware::event::Event;

/// The three bytes every CBOR payload starts with (tag 55799, "self-described CBOR").
pub const CBOR_MAGIC: [u8; 3] = [0xd9, 0xd9, 0xf7];

/// A payload encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// JSON text (the default).
    #[default]
    Json,
    /// Self-described CBOR, same data model as JSON.
    Cbor,
}

/// Why an event could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// JSON serialization failed (e.g. a required number is not finite).
    #[error("cannot encode event as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// CBOR serialization failed.
    #[error("cannot encode event as CBOR: {0}")]
    Cbor(String),
}

/// Encodes `event` in `encoding`.
///
/// # Errors
/// [`PayloadError`] if the event holds a value its wire form cannot carry.
pub fn encode(event: &Event, encoding: Encoding) -> Result<Vec<u8>, PayloadError> {
    match encoding {
        Encoding::Json => Ok(serde_json::to_vec(event)?),
        Encoding::Cbor => {
            // Through the JSON text, so that every number is exactly the one the JSON form
            // carries: an `f32` such as 303.6 would otherwise decode as 303.6000061035156
            // (and `serde_json::to_value` widens f32 the same way, hence the text).
            let value: serde_json::Value = serde_json::from_slice(&serde_json::to_vec(event)?)?;
            let mut out = CBOR_MAGIC.to_vec();
            ciborium::into_writer(&value, &mut out)
                .map_err(|e| PayloadError::Cbor(e.to_string()))?;
            Ok(out)
        }
    }
}

/// Reads a payload in either encoding back into its JSON data model (what a central
/// consumer or `ects-tools verify` does). The encoding is told by the first byte.
///
/// # Errors
/// [`PayloadError`] if the bytes are neither valid JSON nor valid self-described CBOR.
pub fn to_json_value(payload: &[u8]) -> Result<serde_json::Value, PayloadError> {
    match payload.strip_prefix(&CBOR_MAGIC) {
        Some(cbor) => ciborium::from_reader(cbor).map_err(|e| PayloadError::Cbor(e.to_string())),
        None => Ok(serde_json::from_slice(payload)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ects_firmware::event::{EventKind, GpsJump, RouteDeviation};
    use ects_firmware::time::Timestamp;

    fn deviation() -> Event {
        let mut e = Event::new(
            EventKind::RouteDeviation(RouteDeviation {
                corridor: "northern-corridor".parse().unwrap(),
                distance_m: 812.5,
                width_m: 500.0,
                reason: ects_firmware::event::DeviationReason::Outside,
            }),
            Timestamp::from_unix_seconds(1_764_345_600),
        );
        e.id = Some("ug-busia-01:7".parse().unwrap());
        e
    }

    #[test]
    fn test_cbor_is_the_same_data_model_and_smaller() {
        let e = deviation();
        let json = encode(&e, Encoding::Json).unwrap();
        let cbor = encode(&e, Encoding::Cbor).unwrap();
        assert_eq!(json[0], b'{');
        assert_eq!(cbor[..3], CBOR_MAGIC);
        assert_eq!(to_json_value(&cbor).unwrap(), to_json_value(&json).unwrap());
        assert!(
            cbor.len() < json.len(),
            "cbor {} json {}",
            cbor.len(),
            json.len()
        );
    }

    #[test]
    fn test_non_finite_is_refused_in_both_encodings() {
        let e = Event::new(
            EventKind::GpsJump(GpsJump {
                distance_m: f32::NAN,
                elapsed_s: 1.0,
                implied_speed_mps: 1.0,
            }),
            Timestamp::UNIX_EPOCH,
        );
        assert!(encode(&e, Encoding::Json).is_err());
        assert!(encode(&e, Encoding::Cbor).is_err());
    }

    #[test]
    fn test_garbage_is_an_error() {
        assert!(to_json_value(b"\xd9\xd9\xf7\xff").is_err());
        assert!(to_json_value(b"{").is_err());
    }
}
