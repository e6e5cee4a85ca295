use super::*;

/// A small valid configuration; each broken case edits it.
const BASE: &str = r#"
[gateway]
id = "gw-1"
board = "sim"
state_dir = "/tmp/ects"

[uplink]
host = "127.0.0.1"
port = 1883

[[sources]]
name = "gps"
kind = "serial"
protocol = "nmea"
path = "/dev/ttyS0"
baud = 9600

[[sources]]
name = "locks"
kind = "tcp"
protocol = "jt600"
listen = "127.0.0.1:5023"
"#;

fn err(text: &str) -> String {
    Config::from_toml("gw.toml", text, None)
        .expect_err("the config is broken")
        .to_string()
}

fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from}");
    BASE.replacen(from, to, 1)
}

#[test]
fn test_base_is_valid_with_defaults() {
    let c = Config::from_toml("gw.toml", BASE, None).unwrap();
    assert_eq!(c.gateway.as_str(), "gw-1");
    assert_eq!(c.journal.max_bytes, 512 * 1024 * 1024);
    assert_eq!(c.journal.commit_interval, Duration::from_secs(1));
    assert_eq!(c.journal.resend_window, Duration::from_secs(1800));
    assert_eq!(c.uplink.resend_delay, Duration::from_secs(10));
    assert_eq!(c.uplink.keep_alive, Duration::from_secs(30));
    assert_eq!(c.uplink.encoding, Encoding::Json);
    assert_eq!(c.position_interval, Duration::from_secs(30));
    assert_eq!(c.sources.len(), 2);
    assert_eq!(c.sources[0].queue.get(), 256);
    assert_eq!(
        c.sources[1].transport,
        Transport::Tcp {
            listen: "127.0.0.1:5023".parse().unwrap(),
            max_connections: 64
        }
    );
    assert!(c.monitor.trips.is_empty() && c.monitor.corridors.is_empty());
}

/// Broken configurations and the exact message each gets: file, dotted key, expectation.
#[test]
fn test_broken_configs_name_file_key_and_expectation() {
    let cases: Vec<(String, &str)> = vec![
        (
            edit("id = \"gw-1\"", "id = \"gw/1\""),
            "gw.toml: key `gateway.id`: expected 1–32 of A–Z a–z 0–9 . _ - (an MQTT topic level), but it has a character not allowed here at byte 2",
        ),
        (
            edit("board = \"sim\"", "board = \"rpi3\""),
            "gw.toml: key `gateway.board`: no board profile named `rpi3` (bundled: rpi4, rpi5, zero2w, cm4, sim)",
        ),
        (
            edit("state_dir = \"/tmp/ects\"", "state_dir = \"ects\""),
            "gw.toml: key `gateway.state_dir`: expected an absolute path without `..`, found \"ects\"",
        ),
        (
            edit("[uplink]", "[journal]\nmax_size_mib = 4\n\n[uplink]"),
            "gw.toml: key `journal.max_size_mib`: expected 8–1048576 MiB, found 4",
        ),
        (
            edit("[uplink]", "[journal]\ncommit_interval_ms = 0\n\n[uplink]"),
            "gw.toml: key `journal.commit_interval_ms`: expected 10–60000 milliseconds, found 0",
        ),
        (
            edit(
                "[uplink]",
                "[journal]\nresend_window_s = 9999999\n\n[uplink]",
            ),
            "gw.toml: key `journal.resend_window_s`: expected 0–604800 seconds, found 9999999",
        ),
        (
            edit("port = 1883", "port = 1883\ntls_cert = \"/etc/c.pem\""),
            "gw.toml: key `uplink.tls_ca`: expected the CA certificate file (PEM) when a client certificate is set",
        ),
        (
            edit(
                "port = 1883",
                "port = 1883\ntls_ca = \"/etc/ca.pem\"\ntls_cert = \"/etc/c.pem\"",
            ),
            "gw.toml: key `uplink.tls_key`: expected the client key file (PEM) with `uplink.tls_cert`",
        ),
        (
            edit("port = 1883", "port = 1883\npassword_file = \"/etc/pw\""),
            "gw.toml: key `uplink.username`: expected a user name with `uplink.password_file`",
        ),
        (
            edit("port = 1883", "port = 1883\nmax_rate = 0"),
            "gw.toml: key `uplink.max_rate`: expected 1–100000 records per second, found 0",
        ),
        (
            edit("port = 1883", "port = 1883\nkeep_alive_s = 1"),
            "gw.toml: key `uplink.keep_alive_s`: expected 5–3600 seconds, found 1",
        ),
        (
            edit("port = 1883", "port = 1883\nencoding = \"xml\""),
            "gw.toml: key `uplink.encoding`: unknown variant `xml`, expected `json` or `cbor` (line 10)",
        ),
        (
            edit("port = 1883", "port = 70000"),
            "gw.toml: key `uplink.port`: invalid value: integer `70000`, expected u16 (line 9)",
        ),
        (
            edit("port = 1883", "port = 1883\nhots = \"x\""),
            "gw.toml: key `uplink.hots`: unknown field `hots`, expected one of `host`, `port`, `tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`, `username`, `password_file`, `max_rate`, `encoding`, `keep_alive_s`, `resend_delay_s` (line 10)",
        ),
        (
            edit("host = \"127.0.0.1\"\n", ""),
            "gw.toml: key `uplink`: missing field `host` (line 7)",
        ),
        (
            edit("baud = 9600", "baud = 9601"),
            "gw.toml: key `sources[0].baud`: expected one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, found 9601",
        ),
        (
            edit("baud = 9600", "baud = \"9600\""),
            "gw.toml: key `sources[0].baud`: invalid type: string \"9600\", expected u32 (line 16)",
        ),
        (
            edit("path = \"/dev/ttyS0\"\n", ""),
            "gw.toml: key `sources[0].path`: expected a device path (or `board:gps`, `board:seal`) for a serial source",
        ),
        (
            edit("path = \"/dev/ttyS0\"", "path = \"board:gps\""),
            "gw.toml: key `sources[0].path`: board `sim` has no `serial.gps` device",
        ),
        (
            edit("path = \"/dev/ttyS0\"", "path = \"board:modem\""),
            "gw.toml: key `sources[0].path`: expected `board:gps` or `board:seal`, found `board:modem`",
        ),
        (
            edit("protocol = \"nmea\"", "protocol = \"nmea0183\""),
            "gw.toml: key `sources[0].protocol`: unknown variant `nmea0183`, expected one of `nmea`, `ubx`, `jt600`, `jt808`, `eseal`, `teratrack`, `native`, `gpio`, `gateway` (line 14)",
        ),
        (
            edit("protocol = \"nmea\"", "protocol = \"gpio\""),
            "gw.toml: key `sources[0].protocol`: expected nmea, ubx, jt600, jt808, eseal, teratrack or native, found gpio",
        ),
        (
            edit("kind = \"serial\"", "kind = \"usb\""),
            "gw.toml: key `sources[0].kind`: unknown variant `usb`, expected `serial` or `tcp` (line 13)",
        ),
        (
            edit("baud = 9600", "baud = 9600\nlisten = \"0.0.0.0:1\""),
            "gw.toml: key `sources[0].listen`: only for kind = \"tcp\"; this source is serial",
        ),
        (
            edit("listen = \"127.0.0.1:5023\"", "listen = \"5023\""),
            "gw.toml: key `sources[1].listen`: expected ADDRESS:PORT, e.g. \"0.0.0.0:5023\", found \"5023\"",
        ),
        (
            edit("protocol = \"jt600\"", "protocol = \"nmea\""),
            "gw.toml: key `sources[1].protocol`: expected a seal protocol for a tcp source (jt600, jt808, eseal, teratrack, native), found nmea",
        ),
        (
            edit("name = \"locks\"", "name = \"gps\""),
            "gw.toml: key `sources[1].name`: `gps` is already the name of sources[0]",
        ),
        (
            edit("name = \"locks\"", "name = \"two words\""),
            "gw.toml: key `sources[1].name`: expected a name of letters, digits, '.', '_' or '-' (at most 32), but it has a character not allowed here at byte 3",
        ),
        (
            edit(
                "listen = \"127.0.0.1:5023\"",
                "listen = \"127.0.0.1:5023\"\nqueue = 0",
            ),
            "gw.toml: key `sources[1].queue`: expected 1–65536 inputs, found 0",
        ),
        (
            edit(
                "listen = \"127.0.0.1:5023\"",
                "listen = \"127.0.0.1:5023\"\nmax_connections = 5000",
            ),
            "gw.toml: key `sources[1].max_connections`: expected 1–1024 connections, found 5000",
        ),
        (
            format!(
                "{BASE}\n[[sources]]\nname = \"more\"\nkind = \"serial\"\nprotocol = \"eseal\"\npath = \"/dev/ttyS0\"\nbaud = 9600\n"
            ),
            "gw.toml: key `sources[2].path`: already used by sources[0] (`gps`)",
        ),
        (
            format!("{BASE}\n[positions]\ninterval_s = -1\n"),
            "gw.toml: key `positions.interval_s`: invalid value: integer `-1`, expected u64 (line 25)",
        ),
        (
            format!("extra = 1\n{BASE}"),
            "gw.toml: key `extra`: unknown field `extra`, expected one of `gateway`, `journal`, `uplink`, `positions`, `sources`, `monitor`, `trips` (line 1)",
        ),
        (
            "[gateway\nid = 1".to_string(),
            "gw.toml: line 1, column 9: unclosed table, expected `]`",
        ),
    ];
    let mut failures = Vec::new();
    for (text, expected) in &cases {
        let got = err(text);
        if got != *expected {
            failures.push(format!("expected: {expected}\n     got: {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn test_board_override_and_board_paths() {
    let text = edit("path = \"/dev/ttyS0\"", "path = \"board:gps\"");
    let c = Config::from_toml("gw.toml", &text, Some("rpi4")).unwrap();
    assert_eq!(c.board.as_ref().unwrap().name.as_str(), "rpi4");
    assert_eq!(
        c.sources[0].transport,
        Transport::Serial {
            path: "/dev/serial0".into(),
            baud: 9600
        }
    );
    let no_board = text.replace("board = \"sim\"\n", "");
    assert_eq!(
        err(&no_board),
        "gw.toml: key `sources[0].path`: `board:gps` needs a board profile: set `gateway.board` or pass --board"
    );
}

#[test]
fn test_monitor_tables_are_validated() {
    let stray = format!("corridors = [\"/etc/ects/northern.geojson\"]\n{BASE}");
    assert!(
        err(&stray).starts_with("gw.toml: key `corridors`: unknown field `corridors`"),
        "{}",
        err(&stray)
    );
    let unknown = format!("{BASE}\n[monitor]\nanything = 1\n");
    assert!(
        err(&unknown).starts_with("gw.toml: [monitor]: unknown field `anything`"),
        "{}",
        err(&unknown)
    );
    let trip = format!(
        "{BASE}\n[[trips]]\ndeclaration = \"D1\"\nvehicle = \"V\"\ncorridor = \"c\"\norigin = \"o\"\ndestination = \"d\"\ndeadline = \"2030-01-01T00:00:00Z\"\nofficer = \"K\"\n"
    );
    assert_eq!(
        err(&trip),
        "gw.toml: [[trips]] #1 (D1) corridor: no corridor \"c\" in the corridor files"
    );
}

#[test]
fn test_example_configs_validate() {
    for name in ["border-post.toml", "truck.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../config")
            .join(name);
        let c = Config::from_file(&path, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.sources.is_empty(), "{name}");
        assert!(c.uplink.tls.is_some(), "{name}: examples use TLS");
    }
}

#[test]
fn test_native_keys_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("ects-config-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keys");
    std::fs::write(
        &file,
        format!("# readers\n0042-000000001234={}\n", "11".repeat(32)),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let native = |extra: &str| {
        format!(
            "{BASE}\n[[sources]]\nname = \"reader\"\nkind = \"serial\"\nprotocol = \"native\"\npath = \"/dev/ttyUSB0\"\nbaud = 115200\n{extra}"
        )
    };
    let c = Config::from_toml(
        "gw.toml",
        &native(&format!("keys_file = \"{}\"\n", file.display())),
        None,
    )
    .unwrap();
    assert_eq!(c.sources[2].keys.0.len(), 1);
    assert_eq!(format!("{:?}", c.sources[2].keys), "SealKeys(1 keys)");
    assert_eq!(
        err(&edit(
            "baud = 9600",
            &format!("baud = 9600\nkeys_file = \"{}\"", file.display())
        )),
        "gw.toml: key `sources[0].keys_file`: only for protocol = \"native\""
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        err(&native(&format!("keys_file = \"{}\"\n", file.display()))),
        format!(
            "gw.toml: key `sources[2].keys_file`: {} is readable by others: expected mode 0640 or 0600 (it holds seal keys)",
            file.display()
        )
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&file, "7=12\n").unwrap();
    assert_eq!(
        err(&native(&format!("keys_file = \"{}\"\n", file.display()))),
        format!(
            "gw.toml: key `sources[2].keys_file`: {}: line 1: the key must be 64 hex digits (32 bytes)",
            file.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}
