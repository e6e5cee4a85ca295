//! `ects-gateway`: the Linux side of ECTS Edge.
//!
//! The gateway owns all I/O and all time; it never decides what an alarm is (the
//! `ects-firmware` monitor does). This library holds the pieces the `ects-gateway` binary
//! wires together, so that integration tests can use them directly:
//!
//! - [`config`]: the service configuration (TOML), validated once.
//! - [`board`]: board profiles (serial ports, GPIO lines, watchdog) from `boards/`.
//! - [`command`]: commands from central, validated, answered and recorded.
//! - [`payload`]: the bytes published for an event — JSON by default, CBOR for metered links.
//! - [`position`]: fixes into `position` events, thinned (data frugality).
//! - [`service`]: `ects-gateway run`: sources → stage → journal → uplink, systemd integration.
//! - [`seal_keys`]: native seal-reader keys files.
//! - [`uplink`]: delivery of the journal to the central broker over MQTT, at least once.
//! - [`tls`]: TLS to the broker (rustls, the administration's CA, mutual TLS).
//! - [`topic`]: the MQTT topic layout (`ects/v1/{gateway}/…`), see `docs/mqtt.md`.
//! - [`journal`]: the store-and-forward journal on local storage (`docs/journal.md`).
//! - [`gpio`]: the unit's status LED, buzzer and enclosure tamper switch.
//! - [`demo`]: the newcomer's demo pipeline: a recorded GPS capture through the decoder into
//!   published-form events.

pub mod board;
pub mod command;
pub mod config;
pub mod demo;
pub mod gpio;
pub mod health;
pub mod journal;
pub mod monitor;
pub mod payload;
pub mod position;
pub mod seal_keys;
pub mod service;
pub mod tls;
pub mod topic;
pub mod uplink;

/// The gateway's wall clock, as a UTC [`Timestamp`](ects_firmware::time::Timestamp): the one place the gateway reads it
/// (the firmware core never does; time is passed to it). Before 1970 — a board whose RTC
/// was never set — reads as the epoch.
pub fn wall_clock() -> ects_firmware::time::Timestamp {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    ects_firmware::time::Timestamp::from_unix_micros(us)
}

/// The software version, as reported in `gateway.started` and the status payload.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
