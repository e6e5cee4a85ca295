//! Board profiles: where a board's serial ports, GPIO lines and watchdog are.
//!
//! Profiles are TOML files in `boards/` at the repository root; the binary embeds them
//! ([`BUNDLED`]) so a deployed unit needs no copy. A profile is parsed into [`RawBoard`]
//! (mirrors the TOML 1:1, unknown keys refused) and validated once into [`Board`]; code
//! downstream only sees a `Board`.
//!
//! Invariants of a validated [`Board`]:
//! - `name` is an identifier (`[A-Za-z0-9._-]`, ≤ 32 bytes).
//! - Serial device paths are absolute paths under `/dev/`.
//! - GPIO lines are distinct and below [`MAX_GPIO_LINE`]; the chip is named by its kernel
//!   label, not its number (numbers change between kernels).
//! - A watchdog timeout is 1–[`MAX_WATCHDOG_TIMEOUT_S`] seconds.
//!
//! Every error names the file, the key and what was expected.

use std::path::Path;

use ects_firmware::text::Ident;
use serde::Deserialize;

/// Highest GPIO line number accepted (the BCM2711 has 58 lines; RP1 has 54 per bank).
pub const MAX_GPIO_LINE: u32 = 63;
/// Longest hardware watchdog timeout accepted, seconds.
pub const MAX_WATCHDOG_TIMEOUT_S: u32 = 600;

/// The profiles shipped in `boards/`, as (file name, text).
pub const BUNDLED: &[(&str, &str)] = &[
    ("rpi4.toml", include_str!("../../boards/rpi4.toml")),
    ("rpi5.toml", include_str!("../../boards/rpi5.toml")),
    ("zero2w.toml", include_str!("../../boards/zero2w.toml")),
    ("cm4.toml", include_str!("../../boards/cm4.toml")),
    ("sim.toml", include_str!("../../boards/sim.toml")),
];

/// A board profile exactly as written in TOML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBoard {
    /// Profile name, used with `--board`.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Default serial devices.
    #[serde(default)]
    pub serial: RawSerial,
    /// GPIO chip and lines; absent on boards without GPIO.
    pub gpio: Option<RawGpio>,
    /// Hardware watchdog; absent on boards without one.
    pub watchdog: Option<RawWatchdog>,
}

/// `[serial]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSerial {
    /// Where a GPS receiver is usually wired.
    pub gps: Option<String>,
    /// Where a seal reader is usually wired.
    pub seal: Option<String>,
}

/// `[gpio]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGpio {
    /// The kernel label of the GPIO chip (`pinctrl-bcm2711`).
    pub chip_label: String,
    /// Output line of the status LED.
    pub status_led: u32,
    /// Output line of the buzzer.
    pub buzzer: u32,
    /// Input line of the enclosure tamper switch.
    pub tamper: u32,
}

/// `[watchdog]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatchdog {
    /// The watchdog device.
    pub device: String,
    /// Its timeout in seconds.
    pub timeout_s: u32,
}

/// A validated board profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    /// Profile name.
    pub name: Ident<32>,
    /// One line for people.
    pub description: String,
    /// Default GPS serial device.
    pub serial_gps: Option<String>,
    /// Default seal-reader serial device.
    pub serial_seal: Option<String>,
    /// GPIO, if the board has it.
    pub gpio: Option<Gpio>,
    /// Hardware watchdog, if the board has one.
    pub watchdog: Option<Watchdog>,
}

/// Validated GPIO wiring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpio {
    /// Kernel label of the chip.
    pub chip_label: String,
    /// Status LED line.
    pub status_led: u32,
    /// Buzzer line.
    pub buzzer: u32,
    /// Tamper switch line.
    pub tamper: u32,
}

/// Validated watchdog settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watchdog {
    /// Device path.
    pub device: String,
    /// Timeout, seconds.
    pub timeout_s: u32,
}

/// A profile that could not be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown or missing keys (the message names them).
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's description, with line and key.
        message: String,
    },
    /// A key has a value that is not acceptable.
    #[error("{file}: key `{key}`: {expected}")]
    Invalid {
        /// The file.
        file: String,
        /// The dotted key.
        key: &'static str,
        /// What was expected instead.
        expected: String,
    },
    /// No bundled profile has that name.
    #[error("no board profile named `{0}` (bundled: rpi4, rpi5, zero2w, cm4, sim)")]
    Unknown(String),
}

impl Board {
    /// Parses and validates the text of a profile; `file` names it in errors.
    ///
    /// # Errors
    /// [`BoardError::Parse`] or [`BoardError::Invalid`], naming the file and key.
    pub fn from_toml(file: &str, text: &str) -> Result<Board, BoardError> {
        let raw: RawBoard = toml::from_str(text).map_err(|e| BoardError::Parse {
            file: file.into(),
            message: e.to_string().trim_end().into(),
        })?;
        Board::try_from_raw(file, raw)
    }

    /// Reads, parses and validates a profile file.
    ///
    /// # Errors
    /// [`BoardError`] naming the file and, for bad values, the key.
    pub fn from_file(path: &Path) -> Result<Board, BoardError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| BoardError::Read {
            file: file.clone(),
            source,
        })?;
        Board::from_toml(&file, &text)
    }

    /// A bundled profile by name (`rpi4`, `rpi5`, `zero2w`, `cm4`, `sim`).
    ///
    /// # Errors
    /// [`BoardError::Unknown`] for any other name.
    pub fn bundled(name: &str) -> Result<Board, BoardError> {
        let (file, text) = BUNDLED
            .iter()
            .find(|(file, _)| file.strip_suffix(".toml") == Some(name))
            .ok_or_else(|| BoardError::Unknown(name.into()))?;
        Board::from_toml(&format!("boards/{file}"), text)
    }

    fn try_from_raw(file: &str, raw: RawBoard) -> Result<Board, BoardError> {
        let invalid = |key: &'static str, expected: String| BoardError::Invalid {
            file: file.into(),
            key,
            expected,
        };
        let name = Ident::new(&raw.name).map_err(|e| {
            invalid(
                "name",
                format!("expected a name of letters, digits, '.', '_' or '-': {e}"),
            )
        })?;
        let device = |key: &'static str, path: Option<String>| match path {
            Some(p) if !p.starts_with("/dev/") || p.contains("/../") || p.len() > 255 => {
                Err(invalid(
                    key,
                    format!("expected a device path under /dev/, found {p:?}"),
                ))
            }
            other => Ok(other),
        };
        let serial_gps = device("serial.gps", raw.serial.gps)?;
        let serial_seal = device("serial.seal", raw.serial.seal)?;
        let gpio = match raw.gpio {
            None => None,
            Some(g) => {
                if g.chip_label.trim().is_empty() || g.chip_label.chars().any(char::is_control) {
                    return Err(invalid(
                        "gpio.chip_label",
                        "expected the chip's kernel label, e.g. \"pinctrl-bcm2711\"".into(),
                    ));
                }
                let lines: [(&'static str, u32); 3] = [
                    ("gpio.status_led", g.status_led),
                    ("gpio.buzzer", g.buzzer),
                    ("gpio.tamper", g.tamper),
                ];
                for (i, (key, line)) in lines.iter().enumerate() {
                    if *line > MAX_GPIO_LINE {
                        return Err(invalid(
                            key,
                            format!("expected a line number 0–{MAX_GPIO_LINE}, found {line}"),
                        ));
                    }
                    if let Some((other, _)) = lines[..i].iter().find(|(_, l)| l == line) {
                        return Err(invalid(
                            key,
                            format!("line {line} is already used by `{other}`"),
                        ));
                    }
                }
                Some(Gpio {
                    chip_label: g.chip_label,
                    status_led: g.status_led,
                    buzzer: g.buzzer,
                    tamper: g.tamper,
                })
            }
        };
        let watchdog = match raw.watchdog {
            None => None,
            Some(w) => {
                let device = device("watchdog.device", Some(w.device))?.unwrap_or_default();
                if !(1..=MAX_WATCHDOG_TIMEOUT_S).contains(&w.timeout_s) {
                    return Err(invalid(
                        "watchdog.timeout_s",
                        format!(
                            "expected 1–{MAX_WATCHDOG_TIMEOUT_S} seconds, found {}",
                            w.timeout_s
                        ),
                    ));
                }
                Some(Watchdog {
                    device,
                    timeout_s: w.timeout_s,
                })
            }
        };
        Ok(Board {
            name,
            description: raw.description,
            serial_gps,
            serial_seal,
            gpio,
            watchdog,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_every_bundled_profile_is_valid_and_named_after_its_file() {
        for (file, _) in BUNDLED {
            let name = file.strip_suffix(".toml").unwrap();
            let board = Board::bundled(name).unwrap();
            assert_eq!(board.name.as_str(), name);
        }
        assert!(Board::bundled("sim").unwrap().gpio.is_none());
        assert_eq!(
            Board::bundled("rpi5").unwrap().gpio.unwrap().chip_label,
            "pinctrl-rp1"
        );
        assert!(matches!(
            Board::bundled("rpi3"),
            Err(BoardError::Unknown(_))
        ));
    }

    #[test]
    fn test_bundled_list_matches_the_boards_folder() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let mut bundled: Vec<String> = BUNDLED.iter().map(|(f, _)| f.to_string()).collect();
        bundled.sort();
        assert_eq!(on_disk, bundled);
    }

    fn err(text: &str) -> String {
        Board::from_toml("x.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn test_errors_name_file_key_and_expectation() {
        let base = Board::bundled("rpi4").map(|_| BUNDLED[0].1).unwrap();
        let e = err(&base.replace("buzzer = 27", "buzzer = 17"));
        assert_eq!(
            e,
            "x.toml: key `gpio.buzzer`: line 17 is already used by `gpio.status_led`"
        );
        let e = err(&base.replace("timeout_s = 15", "timeout_s = 0"));
        assert_eq!(
            e,
            "x.toml: key `watchdog.timeout_s`: expected 1–600 seconds, found 0"
        );
        let e = err(&base.replace("\"/dev/serial0\"", "\"serial0\""));
        assert!(
            e.starts_with("x.toml: key `serial.gps`: expected a device path under /dev/"),
            "{e}"
        );
        let e = err(&base.replace("tamper = 22", "tamper = 22\nlid = 5"));
        assert!(e.starts_with("x.toml: ") && e.contains("lid"), "{e}");
        let e = err(&base.replace("tamper = 22", "tamper = \"22\""));
        assert!(
            e.contains("line 12") && e.contains("tamper") && e.contains("expected u32"),
            "{e}"
        );
        let e = err(&base.replace("name = \"rpi4\"", "name = \"rpi 4\""));
        assert!(e.starts_with("x.toml: key `name`: expected a name"), "{e}");
    }
}
