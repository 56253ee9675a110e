//! `tcp` checks: pass when a TCP connection to the address opens within the timeout; it
//! is closed at once. A host name is resolved on the loop's thread. An address that stops
//! answering (no refusal, no acceptance) is left alone for a growing back-off ([`Hung`]).

use super::{Check, Failure, Hung, Kind, Outcome, Probe};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Instant;

#[derive(Default)]
pub struct Client {
    hung: HashMap<String, Hung>,
}

impl Client {
    pub fn configure(&mut self, checks: &[Check]) {
        self.hung.retain(|a, _| {
            checks
                .iter()
                .any(|c| c.kind() == Kind::Tcp && c.target() == a)
        });
    }

    pub fn poll(&mut self, check: &Check, now: Instant) -> Outcome {
        let Probe::Tcp { address } = &check.probe else {
            return Ok(());
        };
        let hung = self.hung.entry(address.clone()).or_default();
        if hung.should_skip(now) {
            return Err(Failure::Hung);
        }
        let addrs: Vec<SocketAddr> = match address.to_socket_addrs() {
            Ok(a) => a.take(4).collect(),
            Err(e) => return Err(Failure::Connect(format!("{address}: {e}"))),
        };
        if addrs.is_empty() {
            return Err(Failure::Connect(format!("{address}: no address")));
        }
        // Each address in turn (a name may resolve to ::1 first and the service listen
        // on 127.0.0.1 only), all within the one timeout.
        let deadline = Instant::now() + check.timeout;
        let mut last = None;
        for addr in &addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(addr, left) {
                Ok(_) => {
                    hung.answered();
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        match last {
            Some(e) if !matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                hung.answered();
                Err(Failure::Connect(e.to_string()))
            }
            _ => {
                hung.timed_out(Instant::now(), check.timeout);
                Err(Failure::Timeout(check.timeout))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(address: &str) -> Check {
        Check {
            name: address.into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            probe: Probe::Tcp {
                address: address.into(),
            },
        }
    }

    #[test]
    fn open_and_closed_ports() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().to_string();
        let mut c = Client::default();
        assert_eq!(c.poll(&check(&open), Instant::now()), Ok(()));
        drop(listener);
        // A port just closed; another test running in parallel may take it again at once,
        // so try a few until one is refused.
        let mut answers = Vec::new();
        for _ in 0..5 {
            let closed = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .to_string();
            match c.poll(&check(&closed), Instant::now()) {
                Err(Failure::Connect(m)) => {
                    assert!(m.contains("refused"), "{m}");
                    return;
                }
                other => answers.push(other),
            }
        }
        panic!("no closed port was refused: {answers:?}");
    }
}
