//! End-to-end tests: one integration binary, one module per area.

// Every event type, serialized as JSON and as CBOR, against the payload schema.
mod schema;
// The README's demo command and the payload verifier, as real processes.
mod demo;
// The journal under SIGKILL and bit rot, through its field CLI.
mod journal;
// Seal and e-lock decoding (`decode seal`) on the captures and on native frames.
mod seal;
// The MQTT uplink against a real mosquitto: broker restarts, a SIGKILLed gateway, status.
mod uplink;
// Mutual TLS between the uplink and a real mosquitto, certificates made in the test.
mod tls;
// The corridor monitor: scenarios on the Northern Corridor through `replay`.
mod replay;
// The corridor monitor in the running service: SIGKILL mid-deviation, commands.
mod monitor_service;
// `ects-gateway run`: PTYs as serial devices, a TCP e-lock, a real mosquitto, SIGTERM,
// unplug/replug, a flooded port, systemd notifications; `check-config`.
mod service;
