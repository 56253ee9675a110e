//! Readiness for supervisors: the sd_notify protocol, std only.
//!
//! When `$NOTIFY_SOCKET` is set (systemd `Type=notify`, Debian's `start-stop-daemon
//! --notify-await`), datagrams such as `READY=1`, `STATUS=…` and `STOPPING=1` go to that
//! Unix socket; a name starting with `@` is in the abstract namespace. Without the
//! variable every call does nothing. Failures are logged once and never stop the daemon.

use std::io;
use std::os::unix::net::UnixDatagram;

pub struct Notifier {
    target: Option<String>,
    failed: bool,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        Notifier {
            target: std::env::var("NOTIFY_SOCKET")
                .ok()
                .filter(|s| !s.is_empty()),
            failed: false,
        }
    }

    pub fn disabled() -> Notifier {
        Notifier {
            target: None,
            failed: false,
        }
    }

    /// Send `state` (newline-separated `KEY=value` lines).
    pub fn send(&mut self, state: &str) {
        let Some(target) = &self.target else { return };
        if let Err(e) = send_to(target, state) {
            if !self.failed {
                log::warn!(socket = target.as_str(); "Cannot notify the service manager on {target}: {e}");
            }
            self.failed = true;
        }
    }
}

fn send_to(target: &str, state: &str) -> io::Result<usize> {
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = target.strip_prefix('@') {
        abstract_send(&sock, name, state)
    } else {
        sock.send_to(state.as_bytes(), target)
    }
}

#[cfg(target_os = "linux")]
fn abstract_send(sock: &UnixDatagram, name: &str, state: &str) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    sock.send_to_addr(state.as_bytes(), &addr)
}

#[cfg(not(target_os = "linux"))]
fn abstract_send(_: &UnixDatagram, _: &str, _: &str) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract socket names exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("anycastd-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let mut n = Notifier {
            target: Some(path.display().to_string()),
            failed: false,
        };
        n.send("READY=1\nSTATUS=ok");
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=ok");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("anycastd-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        let mut n = Notifier {
            target: Some(format!("@{name}")),
            failed: false,
        };
        n.send("STOPPING=1");
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1");
    }

    #[test]
    fn a_missing_socket_is_not_fatal() {
        let mut n = Notifier {
            target: Some("/nonexistent/notify.sock".into()),
            failed: false,
        };
        n.send("READY=1");
        n.send("READY=1");
        assert!(n.failed);
        Notifier::disabled().send("READY=1");
    }
}
