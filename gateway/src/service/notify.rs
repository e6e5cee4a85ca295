//! systemd notifications (`sd_notify`): readiness, watchdog pings, stopping.
//!
//! The protocol is one datagram per notification to the unix socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). `WATCHDOG_USEC` (and
//! `WATCHDOG_PID`, when set, naming this process) asks for a `WATCHDOG=1` at least that
//! often. Without `NOTIFY_SOCKET` (not run by systemd, or `Type=simple`) every call is a
//! no-op. Sending never blocks and never fails the service: a lost notification shows up
//! as a systemd timeout, which is the right outcome for a gateway that cannot talk to PID 1.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where notifications go, and how often the watchdog wants a ping.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, String)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From this process's environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`).
    pub fn from_env() -> Notifier {
        let var = |k: &str| std::env::var(k).ok();
        Notifier::new(
            var("NOTIFY_SOCKET").as_deref(),
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
            std::process::id(),
        )
    }

    /// From the values of those variables; `pid` is this process's id.
    pub fn new(
        socket: Option<&str>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        pid: u32,
    ) -> Notifier {
        let socket = socket
            .filter(|s| !s.is_empty() && s.len() < 108)
            .and_then(|s| Some((UnixDatagram::unbound().ok()?, s.to_string())));
        let for_us = watchdog_pid.is_none_or(|p| p.trim().parse::<u32>().ok() == Some(pid));
        let watchdog = watchdog_usec
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            .map(Duration::from_micros);
        Notifier { socket, watchdog }
    }

    /// How often systemd wants `WATCHDOG=1`, if it does.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends `state` (e.g. `READY=1`); false if it could not be sent or there is no socket.
    pub fn notify(&self, state: &str) -> bool {
        let Some((sock, target)) = &self.socket else {
            return false;
        };
        let sent = match target.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                    .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
            }
            None => sock.send_to(state.as_bytes(), target),
        };
        if let Err(e) = &sent {
            tracing::debug!(error = %e, state, "sd_notify failed");
        }
        sent.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_notifies_a_path_socket_and_reads_the_watchdog() {
        let path = std::env::temp_dir().join(format!("ects-notify-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str(), Some("2000000"), None, 7);
        assert_eq!(n.watchdog(), Some(Duration::from_secs(2)));
        assert!(n.notify("READY=1"));
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn test_watchdog_for_another_pid_or_no_socket() {
        let n = Notifier::new(None, Some("2000000"), Some("8"), 7);
        assert_eq!(n.watchdog(), None);
        assert!(!n.notify("READY=1"));
        assert_eq!(Notifier::new(None, Some("x"), None, 7).watchdog(), None);
        assert_eq!(
            Notifier::new(None, Some("1000"), Some("7"), 7).watchdog(),
            Some(Duration::from_millis(1))
        );
    }

    #[test]
    fn test_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("ects-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier::new(Some(&format!("@{name}")), None, None, 1);
        assert!(n.notify("WATCHDOG=1"));
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }
}
