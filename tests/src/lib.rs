//! The end-to-end test harness: runs the workspace's binaries as real processes.
//!
//! Tests in `tests/tests/` call [`bin`] to get the path of `ects-gateway` or `ects-tools`.
//! The first call builds them with the same cargo and profile that built the test, so an
//! end-to-end test never runs a stale binary. (Cargo releases its build lock before running
//! tests, so the nested build is safe; it is a no-op when nothing changed.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory the test executable's profile builds into (`target/debug`, …).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// The path of workspace binary `name`, built on first use.
///
/// # Panics
/// If the build fails (its output is shown) or the binary is not where cargo puts it.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = profile_dir();
    BUILT.get_or_init(|| {
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(other) => other.to_string(),
            None => "dev".to_string(),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--bins",
                "-p",
                "ects-gateway",
                "-p",
                "ects-tools",
                "--profile",
            ])
            .arg(&profile)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build");
        assert!(
            status.success(),
            "cargo build of the workspace binaries failed"
        );
    });
    let path = dir.join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A scratch path `<tmp>/ects-e2e-<name>-<pid>`, removed if a previous run left it.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ects-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `(stream, seq)` of every record in the journal at `dir`, as `ects-gateway journal dump`
/// prints them (stream by stream, in sequence order).
///
/// # Panics
/// If the dump fails or prints something that is not a record.
pub fn journal_dump(dir: &Path) -> Vec<(String, u64)> {
    journal_records(dir)
        .iter()
        .map(|v| {
            let stream = v["stream"].as_str().expect("stream").to_string();
            (stream, v["seq"].as_u64().expect("seq"))
        })
        .collect()
}

/// Every record in the journal at `dir` as `ects-gateway journal dump` prints it (one JSON
/// object each: `seq`, `stream`, `severity`, `acked`, `payload`, …), in its order.
///
/// # Panics
/// If the dump fails or prints something that is not JSON.
pub fn journal_records(dir: &Path) -> Vec<serde_json::Value> {
    let out = Command::new(bin("ects-gateway"))
        .args(["journal", "dump", "--dir"])
        .arg(dir)
        .output()
        .expect("running journal dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

/// The repository root (for bundled data such as `docs/` and `tests/data/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A real `mosquitto` broker on a free loopback port, with persistence in a scratch
/// directory. Stopped (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Mosquitto {
    /// The port it listens on (127.0.0.1 only).
    pub port: u16,
    dir: PathBuf,
    child: Option<std::process::Child>,
}

impl Mosquitto {
    /// Starts a broker.
    ///
    /// # Panics
    /// If `mosquitto` is not installed (`./ci.sh` installs it) or does not come up.
    pub fn start(name: &str) -> Mosquitto {
        Mosquitto::start_with(name, "")
    }

    /// Starts a broker whose listener takes the extra configuration lines `listener_conf`
    /// (e.g. `cafile`, `certfile`, `keyfile`, `require_certificate true` for TLS).
    ///
    /// # Panics
    /// As [`Mosquitto::start`].
    pub fn start_with(name: &str, listener_conf: &str) -> Mosquitto {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("port").port()
        };
        let dir =
            std::env::temp_dir().join(format!("ects-mosquitto-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("broker directory");
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                // mosquitto queues at most 1,000 messages for an offline persistent session and
                // drops the rest silently; a central broker must lift that (see docs/mqtt.md).
                "listener {port} 127.0.0.1\n{listener_conf}\nallow_anonymous true\npersistence true\npersistence_location {}/\nlog_dest file {}/mosquitto.log\nmax_queued_messages 0\n{}",
                dir.display(),
                dir.display(),
                // Started as root, mosquitto drops to user `mosquitto`, which cannot write
                // its persistence into our scratch directory: it would then lose sessions
                // silently on restart. Keep the user we run as.
                if is_root() { "user root\n" } else { "" }
            ),
        )
        .expect("broker config");
        let mut m = Mosquitto {
            port,
            dir,
            child: None,
        };
        m.restart();
        m
    }

    /// Starts the broker again (after [`Mosquitto::stop`]) on the same port and data.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        // Debian installs it in /usr/sbin, which a non-root PATH may lack.
        let program = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("mosquitto");
        let child = Command::new(program)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto is installed (./ci.sh installs it from Debian's packages)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "mosquitto did not start on port {}",
                self.port
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Stops the broker with SIGTERM (it saves its persistence) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    /// Kills the broker with SIGKILL (a crash: nothing saved since its last autosave) and
    /// waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Deletes the broker's saved state (sessions, queued messages, retained messages).
    pub fn wipe_persistence(&self) {
        let _ = std::fs::remove_file(self.dir.join("mosquitto.db"));
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `mosquitto_sub` process writing `topic payload` lines to a file, with a persistent
/// session (QoS 1, fixed client id) so that it misses nothing across broker restarts.
#[derive(Debug)]
pub struct Subscriber {
    child: std::process::Child,
    out: PathBuf,
}

impl Subscriber {
    /// Subscribes to `filter` on the broker at `port`.
    ///
    /// # Panics
    /// If `mosquitto_sub` is not installed.
    pub fn start(port: u16, id: &str, filter: &str) -> Subscriber {
        let out = std::env::temp_dir().join(format!("ects-sub-{id}-{}.txt", std::process::id()));
        let file = std::fs::File::create(&out).expect("subscriber output");
        let child = Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-q",
                "1",
                "-c",
                "-i",
                id,
                "-t",
                filter,
                "-F",
                "%t %p",
            ])
            .stdout(file)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto_sub is installed (package mosquitto-clients)");
        Subscriber { child, out }
    }

    /// Every `(topic, payload)` received so far.
    pub fn received(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                l.split_once(' ')
                    .map(|(t, p)| (t.to_string(), p.trim().to_string()))
            })
            .collect()
    }

    /// Waits until `pred` holds for what was received, or `timeout` passes.
    pub fn wait_for(
        &self,
        timeout: std::time::Duration,
        pred: impl Fn(&[(String, String)]) -> bool,
    ) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if pred(&self.received()) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        pred(&self.received())
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

/// A pseudo-terminal pair standing in for a serial device: the gateway opens the slave
/// (through its path, or a symlink to it), the test writes device bytes to the master and
/// reads what the gateway sends back. The slave is put in raw mode (no echo, no line
/// editing) before anyone else opens it. Dropping it closes the master: the device is
/// "unplugged", and the slave's path disappears.
#[derive(Debug)]
pub struct Pty {
    master: std::fs::File,
    // Held open so that the master never reads end-of-file before the gateway opens the
    // slave; it is never read.
    _slave: std::fs::File,
    /// The slave's path (`/dev/pts/N`).
    pub path: PathBuf,
}

impl Pty {
    /// Opens a new pair.
    ///
    /// # Panics
    /// If the system has no pseudo-terminals left.
    pub fn open() -> Pty {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        use std::os::unix::fs::OpenOptionsExt;
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .expect("a pseudo-terminal");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let path = PathBuf::from(name.to_str().expect("a UTF-8 pts path"));
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
            .open(&path)
            .expect("opening the pts slave");
        let mut t = rustix::termios::tcgetattr(&slave).expect("tcgetattr");
        t.make_raw();
        rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &t)
            .expect("tcsetattr");
        Pty {
            master: std::fs::File::from(master),
            _slave: slave,
            path,
        }
    }

    /// Writes device bytes (what the gateway will read).
    ///
    /// # Panics
    /// If the write fails.
    pub fn write(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !rest.is_empty() {
            match std::io::Write::write(&mut self.master, rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "nobody reads the pty");
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("writing to the pty master: {e}"),
            }
        }
    }

    /// A second, non-blocking handle on the master for a writer thread (the master stays
    /// open while it lives). Writes fail with `WouldBlock` instead of hanging when nobody
    /// reads the slave: a gateway that has exited must not hang the test.
    ///
    /// # Panics
    /// If the descriptor cannot be duplicated.
    pub fn writer(&self) -> std::fs::File {
        let w = self.master.try_clone().expect("dup of the pty master");
        rustix::fs::fcntl_setfl(&w, rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::RDWR)
            .expect("O_NONBLOCK");
        w
    }

    /// Reads what the gateway wrote to the device until `pred` holds for it or `timeout`
    /// passes; returns everything read.
    pub fn read_until(
        &mut self,
        timeout: std::time::Duration,
        pred: impl Fn(&[u8]) -> bool,
    ) -> Vec<u8> {
        use rustix::event::{PollFd, PollFlags, poll};
        let deadline = std::time::Instant::now() + timeout;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !pred(&got) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let ts = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: left.min(std::time::Duration::from_millis(100)).as_nanos() as i64,
            };
            let mut fds = [PollFd::new(&self.master, PollFlags::IN)];
            if poll(&mut fds, Some(&ts)).unwrap_or(0) == 0 {
                continue;
            }
            match std::io::Read::read(&mut self.master, &mut buf) {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        got
    }
}
