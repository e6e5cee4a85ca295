//! The service configuration: one TOML file, parsed once into a validated [`Config`].
//!
//! [`RawConfig`] mirrors the TOML 1:1 (serde, unknown keys refused; `[monitor]` and
//! `[[trips]]` are read by the corridor monitor, [`crate::monitor::load`], which loads the
//! geometry files they name); [`Config::try_from`] checks every value once. Code downstream only ever sees a [`Config`].
//!
//! Every error names the file, the dotted key (`sources[2].baud`, 0-based index) and what
//! was expected, e.g.
//!
//! ```text
//! /etc/ects/gateway.toml: key `sources[1].baud`: expected one of 1200, 2400, …, found 9601
//! ```
//!
//! Invariants of a validated [`Config`]:
//! - The gateway id is a valid MQTT topic level and event-id prefix (1–32 of
//!   `A–Z a–z 0–9 . _ -`).
//! - Source names are distinct identifiers; a serial source has a device path (absolute,
//!   or `board:gps` / `board:seal` taken from the board profile) and a standard baud rate;
//!   a TCP source has a listen address and a connection limit; every queue is bounded.
//! - Sizes and intervals are within the ranges documented in `docs/operations.md`.
//! - `[monitor]` and `[[trips]]` are validated, and their corridor and zone files loaded,
//!   by the corridor monitor; its errors name the file, the key, trip or GeoJSON feature.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ects_firmware::event::{GatewayId, Protocol, SourceName};
use serde::Deserialize;

use crate::board::Board;
use crate::payload::Encoding;
use crate::seal_keys::{SealKeys, parse_keys};
use crate::service::wire::MAX_SEALS;
use crate::tls::TlsSettings;

/// Where the service keeps its state when the config does not say.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/ects";
/// Baud rates a serial source may use.
pub const BAUD_RATES: [u32; 12] = [
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115_200, 230_400, 460_800, 921_600, 1_000_000,
];
/// Largest per-source queue, in inputs.
pub const MAX_QUEUE: usize = 65_536;
/// Largest number of simultaneous connections one TCP source accepts.
pub const MAX_CONNECTIONS: usize = 1024;

/// The configuration file exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[gateway]`.
    pub gateway: RawGateway,
    /// `[journal]`.
    #[serde(default)]
    pub journal: RawJournal,
    /// `[uplink]`.
    pub uplink: RawUplink,
    /// `[positions]`.
    #[serde(default)]
    pub positions: RawPositions,
    /// `[[sources]]`.
    #[serde(default)]
    pub sources: Vec<RawSource>,
    /// `[monitor]`: validated by the corridor monitor ([`crate::monitor::load`]).
    pub monitor: Option<toml::Value>,
    /// `[[trips]]`: validated by the corridor monitor.
    pub trips: Option<toml::Value>,
}

/// `[gateway]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    /// The gateway id.
    pub id: String,
    /// Board profile name; `--board` overrides it.
    pub board: Option<String>,
    /// State directory (journal, clean-shutdown marker).
    pub state_dir: Option<PathBuf>,
}

/// `[journal]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJournal {
    /// Upper bound of the journal on disk, MiB.
    pub max_size_mib: Option<u64>,
    /// Group commit interval of non-critical events, milliseconds.
    pub commit_interval_ms: Option<u64>,
    /// How long acknowledged events are kept for a resend, seconds.
    pub resend_window_s: Option<u64>,
}

/// `[uplink]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUplink {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: Option<u16>,
    /// CA certificate (PEM): TLS on, trusting only this CA.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS.
    pub tls_cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    pub tls_key: Option<PathBuf>,
    /// Name to check the broker's certificate against.
    pub tls_server_name: Option<String>,
    /// MQTT user name.
    pub username: Option<String>,
    /// File holding the MQTT password (first line).
    pub password_file: Option<PathBuf>,
    /// Journal records per second at most.
    pub max_rate: Option<u32>,
    /// Payload encoding.
    pub encoding: Option<Encoding>,
    /// MQTT keep-alive, seconds.
    pub keep_alive_s: Option<u64>,
    /// Delay before a resend after the broker lost its state, seconds.
    pub resend_delay_s: Option<u64>,
}

/// `[positions]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPositions {
    /// Least receiver time between two routine position events, seconds.
    pub interval_s: Option<u64>,
}

/// One `[[sources]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// Source name (in events and logs).
    pub name: String,
    /// `serial` or `tcp`.
    pub kind: SourceKind,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Serial device path, or `board:gps` / `board:seal`.
    pub path: Option<String>,
    /// Serial baud rate.
    pub baud: Option<u32>,
    /// TCP listen address.
    pub listen: Option<String>,
    /// TCP: simultaneous connections at most.
    pub max_connections: Option<usize>,
    /// Inputs queued between this source and the pipeline at most.
    pub queue: Option<usize>,
    /// Native seal keys, one `SEAL=KEY` a line (protocol `native` only).
    pub keys_file: Option<PathBuf>,
}

/// How a source is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A serial port (UART, USB serial, pseudo-terminal).
    Serial,
    /// A TCP listener devices connect to.
    Tcp,
}

/// Whether a source protocol is a GPS receiver's (not a seal's).
pub fn is_gps(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Nmea | Protocol::Ubx)
}

/// The name of a protocol as written in the config and in events.
pub fn protocol_name(protocol: Protocol) -> String {
    serde_json::to_value(protocol)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A validated configuration. See the module documentation for its invariants.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (for messages).
    pub file: String,
    /// The gateway id.
    pub gateway: GatewayId,
    /// The board profile.
    pub board: Option<Board>,
    /// State directory.
    pub state_dir: PathBuf,
    /// Journal settings.
    pub journal: JournalSettings,
    /// Uplink settings.
    pub uplink: UplinkSettings,
    /// Least time between two routine positions of one receiver.
    pub position_interval: Duration,
    /// Sources, in file order.
    pub sources: Vec<SourceConfig>,
    /// The corridor monitor: thresholds, geometry and trips from `[monitor]` and
    /// `[[trips]]`, validated (geometry files loaded).
    pub monitor: crate::monitor::MonitorSettings,
}

/// Validated `[journal]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalSettings {
    /// Upper bound on disk, bytes.
    pub max_bytes: u64,
    /// Group commit interval.
    pub commit_interval: Duration,
    /// Acknowledged records are kept this long for a resend.
    pub resend_window: Duration,
}

/// Validated `[uplink]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkSettings {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// TLS material, when TLS is on.
    pub tls: Option<TlsSettings>,
    /// MQTT user name.
    pub username: Option<String>,
    /// File holding the password.
    pub password_file: Option<PathBuf>,
    /// Records per second at most.
    pub max_rate: Option<u32>,
    /// Payload encoding.
    pub encoding: Encoding,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// Delay before a resend after the broker lost its state.
    pub resend_delay: Duration,
}

/// A validated source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// Its name.
    pub name: SourceName,
    /// Its wire protocol.
    pub protocol: Protocol,
    /// How it is attached.
    pub transport: Transport,
    /// Inputs queued towards the pipeline at most.
    pub queue: NonZeroUsize,
    /// Native seal keys (empty for other protocols).
    pub keys: SealKeys,
}

/// How a validated source is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A serial device.
    Serial {
        /// The device path (a `board:` path already resolved).
        path: PathBuf,
        /// Baud rate.
        baud: u32,
    },
    /// A TCP listener.
    Tcp {
        /// Address to listen on.
        listen: SocketAddr,
        /// Simultaneous connections at most.
        max_connections: usize,
    },
}

/// A configuration that could not be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key is missing, unknown, of the wrong type or has a value that is not acceptable.
    #[error("{file}: key `{key}`: {expected}")]
    Invalid {
        /// The file.
        file: String,
        /// The dotted key (`sources[2].baud`); the table's own path for a missing key.
        key: String,
        /// What was expected instead.
        expected: String,
    },
    /// `[monitor]`, `[[trips]]` or a geometry file they name is invalid.
    #[error("{0}")]
    Monitor(#[from] crate::monitor::MonitorConfigError),
    /// The TOML itself is malformed.
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's description, with line and column.
        message: String,
    },
}

/// Line (1-based) of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |t| t.bytes().filter(|&b| b == b'\n').count())
        + 1
}

impl RawConfig {
    /// Parses TOML text; `file` names it in errors.
    ///
    /// # Errors
    /// [`ConfigError::Syntax`] for malformed TOML, [`ConfigError::Invalid`] for an unknown,
    /// missing or mistyped key (with its dotted path and line).
    pub fn from_toml(file: &str, text: &str) -> Result<RawConfig, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            let line = line_of(text, at);
            let line_start = text
                .get(..at)
                .and_then(|t| t.rfind('\n'))
                .map_or(0, |i| i + 1);
            let column = text.get(line_start..at).map_or(0, |t| t.chars().count()) + 1;
            ConfigError::Syntax {
                file: file.into(),
                message: format!(
                    "line {line}, column {column}: {}",
                    e.message().trim_end().replace('\n', " ")
                ),
            }
        })?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .span()
                .map(|s| format!(" (line {})", line_of(text, s.start)))
                .unwrap_or_default();
            let message = inner.message().trim_end().replace('\n', " ");
            ConfigError::Invalid {
                file: file.into(),
                key: if path == "." {
                    "(top level)".into()
                } else {
                    path
                },
                expected: format!("{message}{line}"),
            }
        })
    }
}

impl Config {
    /// Reads, parses and validates a configuration file. `board` (from `--board`)
    /// overrides `[gateway] board`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, the key and what was expected.
    pub fn from_file(path: &Path, board: Option<&str>) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        Config::from_toml(&file, &text, board)
    }

    /// Parses and validates configuration text; `file` names it in errors.
    ///
    /// # Errors
    /// As [`Config::from_file`].
    pub fn from_toml(file: &str, text: &str, board: Option<&str>) -> Result<Config, ConfigError> {
        let mut raw = RawConfig::from_toml(file, text)?;
        if let Some(b) = board {
            raw.gateway.board = Some(b.to_string());
        }
        Config::try_from((file, raw))
    }

    /// One line for `check-config`: what the service would run.
    pub fn summary(&self) -> String {
        let serial = self
            .sources
            .iter()
            .filter(|s| matches!(s.transport, Transport::Serial { .. }))
            .count();
        format!(
            "{}: gateway `{}`, board {}, {} source(s) ({} serial, {} tcp), broker {}:{}{}, journal {} MiB in {}, {} corridor(s), {} zone(s), {} trip(s)",
            self.file,
            self.gateway,
            self.board.as_ref().map_or("none", |b| b.name.as_str()),
            self.sources.len(),
            serial,
            self.sources.len() - serial,
            self.uplink.host,
            self.uplink.port,
            if self.uplink.tls.is_some() {
                " (TLS)"
            } else {
                ""
            },
            self.journal.max_bytes / (1024 * 1024),
            self.state_dir.join("journal").display(),
            self.monitor.corridors.len(),
            self.monitor.zones.len(),
            self.monitor.trips.len(),
        )
    }
}

/// Validation of one file's raw form.
struct Check<'a> {
    file: &'a str,
}

impl Check<'_> {
    fn invalid(&self, key: impl Into<String>, expected: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.into(),
            key: key.into(),
            expected: expected.into(),
        }
    }

    fn range(&self, key: &str, v: u64, min: u64, max: u64, unit: &str) -> Result<u64, ConfigError> {
        if (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(self.invalid(key, format!("expected {min}–{max} {unit}, found {v}")))
        }
    }

    fn absolute(&self, key: &str, p: &Path) -> Result<(), ConfigError> {
        let s = p.as_os_str();
        if !p.is_absolute() || s.len() > 4096 || p.components().any(|c| c.as_os_str() == "..") {
            return Err(self.invalid(
                key,
                format!(
                    "expected an absolute path without `..`, found {:?}",
                    p.display().to_string()
                ),
            ));
        }
        Ok(())
    }

    /// Reads a native keys file: absolute, not readable by others, well-formed.
    fn keys(&self, key: &str, path: &Path) -> Result<SealKeys, ConfigError> {
        use std::os::unix::fs::PermissionsExt;
        self.absolute(key, path)?;
        let meta = std::fs::metadata(path)
            .map_err(|e| self.invalid(key, format!("cannot read {}: {e}", path.display())))?;
        if meta.permissions().mode() & 0o004 != 0 {
            return Err(self.invalid(
                key,
                format!(
                    "{} is readable by others: expected mode 0640 or 0600 (it holds seal keys)",
                    path.display()
                ),
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| self.invalid(key, format!("cannot read {}: {e}", path.display())))?;
        let keys =
            parse_keys(&text).map_err(|e| self.invalid(key, format!("{}: {e}", path.display())))?;
        if keys.0.len() > MAX_SEALS {
            return Err(self.invalid(
                key,
                format!(
                    "expected at most {MAX_SEALS} seal keys, found {}",
                    keys.0.len()
                ),
            ));
        }
        Ok(keys)
    }

    fn text(&self, key: &str, v: &str, max: usize, what: &str) -> Result<(), ConfigError> {
        if v.trim().is_empty() || v.len() > max || v.chars().any(char::is_control) {
            return Err(self.invalid(
                key,
                format!("expected {what} (1–{max} bytes, no control characters), found {v:?}"),
            ));
        }
        Ok(())
    }

    fn uplink(&self, u: RawUplink) -> Result<UplinkSettings, ConfigError> {
        self.text("uplink.host", &u.host, 253, "a host name or address")?;
        if u.host.contains(char::is_whitespace) || u.host.contains('/') {
            return Err(self.invalid(
                "uplink.host",
                format!("expected a host name or address, found {:?}", u.host),
            ));
        }
        let tls = match (u.tls_ca, u.tls_cert, u.tls_key) {
            (None, None, None) => {
                if u.tls_server_name.is_some() {
                    return Err(self.invalid(
                        "uplink.tls_server_name",
                        "only with TLS: set `uplink.tls_ca` too",
                    ));
                }
                None
            }
            (None, _, _) => {
                return Err(self.invalid(
                    "uplink.tls_ca",
                    "expected the CA certificate file (PEM) when a client certificate is set",
                ));
            }
            (Some(ca), cert, key) => {
                self.absolute("uplink.tls_ca", &ca)?;
                let client = match (cert, key) {
                    (None, None) => None,
                    (Some(c), Some(k)) => {
                        self.absolute("uplink.tls_cert", &c)?;
                        self.absolute("uplink.tls_key", &k)?;
                        Some((c, k))
                    }
                    (Some(_), None) => {
                        return Err(self.invalid(
                            "uplink.tls_key",
                            "expected the client key file (PEM) with `uplink.tls_cert`",
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(self.invalid(
                            "uplink.tls_cert",
                            "expected the client certificate file (PEM) with `uplink.tls_key`",
                        ));
                    }
                };
                if let Some(name) = &u.tls_server_name {
                    self.text("uplink.tls_server_name", name, 253, "a DNS name or address")?;
                }
                Some(TlsSettings {
                    ca,
                    client,
                    server_name: u.tls_server_name,
                })
            }
        };
        if let Some(user) = &u.username {
            self.text("uplink.username", user, 128, "a user name")?;
        }
        match (&u.username, &u.password_file) {
            (None, Some(_)) => {
                return Err(self.invalid(
                    "uplink.username",
                    "expected a user name with `uplink.password_file`",
                ));
            }
            (_, Some(p)) => self.absolute("uplink.password_file", p)?,
            _ => {}
        }
        if let Some(rate) = u.max_rate {
            self.range(
                "uplink.max_rate",
                rate.into(),
                1,
                100_000,
                "records per second",
            )?;
        }
        let keep_alive = self.range(
            "uplink.keep_alive_s",
            u.keep_alive_s.unwrap_or(30),
            5,
            3600,
            "seconds",
        )?;
        let resend_delay = self.range(
            "uplink.resend_delay_s",
            u.resend_delay_s.unwrap_or(10),
            0,
            3600,
            "seconds",
        )?;
        let port = u.port.unwrap_or(if tls.is_some() { 8883 } else { 1883 });
        if port == 0 {
            return Err(self.invalid("uplink.port", "expected a port 1–65535, found 0"));
        }
        Ok(UplinkSettings {
            host: u.host,
            port,
            tls,
            username: u.username,
            password_file: u.password_file,
            max_rate: u.max_rate,
            encoding: u.encoding.unwrap_or_default(),
            keep_alive: Duration::from_secs(keep_alive),
            resend_delay: Duration::from_secs(resend_delay),
        })
    }

    fn source(
        &self,
        i: usize,
        s: RawSource,
        board: Option<&Board>,
    ) -> Result<SourceConfig, ConfigError> {
        let key = |field: &str| format!("sources[{i}].{field}");
        let name = SourceName::new(&s.name).map_err(|e| {
            self.invalid(
                key("name"),
                format!(
                    "expected a name of letters, digits, '.', '_' or '-' (at most 32), but it {e}"
                ),
            )
        })?;
        let queue = self.range(
            &key("queue"),
            s.queue.unwrap_or(256) as u64,
            1,
            MAX_QUEUE as u64,
            "inputs",
        )?;
        let queue = NonZeroUsize::new(queue as usize).unwrap_or(NonZeroUsize::MIN);
        if matches!(s.protocol, Protocol::Gpio | Protocol::Gateway) {
            return Err(self.invalid(
                key("protocol"),
                format!(
                    "expected nmea, ubx, jt600, jt808, eseal, teratrack or native, found {}",
                    protocol_name(s.protocol)
                ),
            ));
        }
        let keys = match &s.keys_file {
            None => SealKeys::default(),
            Some(_) if s.protocol != Protocol::Native => {
                return Err(self.invalid(key("keys_file"), "only for protocol = \"native\""));
            }
            Some(path) => self.keys(&key("keys_file"), path)?,
        };
        let transport = match s.kind {
            SourceKind::Serial => {
                for (field, set) in [
                    ("listen", s.listen.is_some()),
                    ("max_connections", s.max_connections.is_some()),
                ] {
                    if set {
                        return Err(self.invalid(
                            key(field),
                            "only for kind = \"tcp\"; this source is serial",
                        ));
                    }
                }
                let path = s.path.ok_or_else(|| {
                    self.invalid(
                        key("path"),
                        "expected a device path (or `board:gps`, `board:seal`) for a serial source",
                    )
                })?;
                let path = match path.strip_prefix("board:") {
                    Some(port) => {
                        let Some(board) = board else {
                            return Err(self.invalid(
                                key("path"),
                                format!("`{path}` needs a board profile: set `gateway.board` or pass --board"),
                            ));
                        };
                        let dev = match port {
                            "gps" => board.serial_gps.as_ref(),
                            "seal" => board.serial_seal.as_ref(),
                            _ => {
                                return Err(self.invalid(
                                    key("path"),
                                    format!("expected `board:gps` or `board:seal`, found `{path}`"),
                                ));
                            }
                        };
                        PathBuf::from(dev.ok_or_else(|| {
                            self.invalid(
                                key("path"),
                                format!("board `{}` has no `serial.{port}` device", board.name),
                            )
                        })?)
                    }
                    None => {
                        let p = PathBuf::from(&path);
                        self.absolute(&key("path"), &p)?;
                        p
                    }
                };
                let baud = s.baud.ok_or_else(|| {
                    self.invalid(
                        key("baud"),
                        "expected a baud rate for a serial source, e.g. 9600",
                    )
                })?;
                if !BAUD_RATES.contains(&baud) {
                    let list: Vec<String> = BAUD_RATES.iter().map(u32::to_string).collect();
                    return Err(self.invalid(
                        key("baud"),
                        format!("expected one of {}, found {baud}", list.join(", ")),
                    ));
                }
                Transport::Serial { path, baud }
            }
            SourceKind::Tcp => {
                for (field, set) in [("path", s.path.is_some()), ("baud", s.baud.is_some())] {
                    if set {
                        return Err(self.invalid(
                            key(field),
                            "only for kind = \"serial\"; this source is tcp",
                        ));
                    }
                }
                if is_gps(s.protocol) {
                    return Err(self.invalid(
                        key("protocol"),
                        format!("expected a seal protocol for a tcp source (jt600, jt808, eseal, teratrack, native), found {}", protocol_name(s.protocol)),
                    ));
                }
                let listen = s.listen.ok_or_else(|| {
                    self.invalid(
                        key("listen"),
                        "expected an address to listen on for a tcp source, e.g. \"0.0.0.0:5023\"",
                    )
                })?;
                let listen: SocketAddr = listen.parse().map_err(|_| {
                    self.invalid(
                        key("listen"),
                        format!("expected ADDRESS:PORT, e.g. \"0.0.0.0:5023\", found {listen:?}"),
                    )
                })?;
                let max_connections = self.range(
                    &key("max_connections"),
                    s.max_connections.unwrap_or(64) as u64,
                    1,
                    MAX_CONNECTIONS as u64,
                    "connections",
                )?;
                Transport::Tcp {
                    listen,
                    max_connections: max_connections as usize,
                }
            }
        };
        Ok(SourceConfig {
            name,
            protocol: s.protocol,
            transport,
            queue,
            keys,
        })
    }
}

impl TryFrom<(&str, RawConfig)> for Config {
    type Error = ConfigError;

    /// Validates `raw`, read from the file named by the first element.
    fn try_from((file, raw): (&str, RawConfig)) -> Result<Config, ConfigError> {
        let c = Check { file };
        let gateway: GatewayId = raw.gateway.id.parse().map_err(|e| {
            c.invalid(
                "gateway.id",
                format!("expected 1–32 of A–Z a–z 0–9 . _ - (an MQTT topic level), but it {e}"),
            )
        })?;
        let board = match &raw.gateway.board {
            None => None,
            Some(name) => {
                Some(Board::bundled(name).map_err(|e| c.invalid("gateway.board", e.to_string()))?)
            }
        };
        let state_dir = raw
            .gateway
            .state_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        c.absolute("gateway.state_dir", &state_dir)?;
        let max_mib = c.range(
            "journal.max_size_mib",
            raw.journal.max_size_mib.unwrap_or(512),
            8,
            1 << 20,
            "MiB",
        )?;
        let commit_ms = c.range(
            "journal.commit_interval_ms",
            raw.journal.commit_interval_ms.unwrap_or(1000),
            10,
            60_000,
            "milliseconds",
        )?;
        let resend_window_s = c.range(
            "journal.resend_window_s",
            raw.journal.resend_window_s.unwrap_or(1800),
            0,
            7 * 86_400,
            "seconds",
        )?;
        let uplink = c.uplink(raw.uplink)?;
        let interval = c.range(
            "positions.interval_s",
            raw.positions.interval_s.unwrap_or(30),
            0,
            86_400,
            "seconds",
        )?;
        let mut sources: Vec<SourceConfig> = Vec::with_capacity(raw.sources.len());
        for (i, s) in raw.sources.into_iter().enumerate() {
            let s = c.source(i, s, board.as_ref())?;
            if let Some(j) = sources.iter().position(|o| o.name == s.name) {
                return Err(c.invalid(
                    format!("sources[{i}].name"),
                    format!("`{}` is already the name of sources[{j}]", s.name),
                ));
            }
            let clash = sources
                .iter()
                .position(|o| match (&o.transport, &s.transport) {
                    (Transport::Serial { path: a, .. }, Transport::Serial { path: b, .. }) => {
                        a == b
                    }
                    (Transport::Tcp { listen: a, .. }, Transport::Tcp { listen: b, .. }) => {
                        a.port() == b.port()
                            && (a.ip() == b.ip()
                                || a.ip().is_unspecified()
                                || b.ip().is_unspecified())
                    }
                    _ => false,
                });
            if let Some(j) = clash {
                let field = if matches!(s.transport, Transport::Serial { .. }) {
                    "path"
                } else {
                    "listen"
                };
                return Err(c.invalid(
                    format!("sources[{i}].{field}"),
                    format!("already used by sources[{j}] (`{}`)", sources[j].name),
                ));
            }
            sources.push(s);
        }
        if sources.len() > 64 {
            return Err(c.invalid(
                "sources",
                format!("expected at most 64 sources, found {}", sources.len()),
            ));
        }
        Ok(Config {
            file: file.into(),
            gateway,
            board,
            state_dir,
            journal: JournalSettings {
                max_bytes: max_mib * 1024 * 1024,
                commit_interval: Duration::from_millis(commit_ms),
                resend_window: Duration::from_secs(resend_window_s),
            },
            uplink,
            position_interval: Duration::from_secs(interval),
            sources,
            monitor: crate::monitor::load(
                Path::new(file),
                raw.monitor,
                raw.trips,
                u32::try_from(interval).unwrap_or(u32::MAX),
            )?,
        })
    }
}

#[cfg(test)]
mod tests;
