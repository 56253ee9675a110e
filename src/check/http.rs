//! `http` checks: a GET of a local URL that passes on the expected status (any 2xx when
//! none is set) and, if set, when the first 64 KiB of the body contain the expected text.
//! Redirects are not followed and no proxy is used. A URL that stops answering is left
//! alone for the same growing back-off as a hung Cabourotte ([`Hung`]).

use super::cabourotte::{agent, transport_failure};
use super::{Check, Failure, Hung, Outcome, Probe};
use std::collections::HashMap;
use std::time::Instant;

/// How much of a body is read (and searched for `body`).
pub const MAX_BODY: u64 = 64 * 1024;

pub struct Client {
    agent: ureq::Agent,
    hung: HashMap<String, Hung>,
}

impl Default for Client {
    fn default() -> Client {
        Client {
            agent: agent(),
            hung: HashMap::new(),
        }
    }
}

impl Client {
    pub fn configure(&mut self, checks: &[Check]) {
        self.hung.retain(|url, _| {
            checks
                .iter()
                .any(|c| c.kind() == super::Kind::Http && c.target() == url)
        });
    }

    pub fn poll(&mut self, check: &Check, now: Instant) -> Outcome {
        let Probe::Http { url, status, body } = &check.probe else {
            return Ok(());
        };
        let hung = self.hung.entry(url.clone()).or_default();
        if hung.should_skip(now) {
            return Err(Failure::Hung);
        }
        log::debug!("GET {url}");
        let answer = self
            .agent
            .get(url.as_str())
            .config()
            .timeout_global(Some(check.timeout))
            .build()
            .call()
            .and_then(|mut r| {
                let code = r.status().as_u16();
                // The first 64 KiB are enough to look for the text; the rest is not read.
                let mut text = Vec::new();
                let reader = r.body_mut().with_config().limit(u64::MAX).reader();
                std::io::Read::read_to_end(&mut std::io::Read::take(reader, MAX_BODY), &mut text)
                    .map_err(ureq::Error::Io)?;
                Ok((code, text))
            });
        let (code, text) = match answer {
            Ok(a) => a,
            Err(e) => {
                let f = match transport_failure(e, check.timeout) {
                    f @ Failure::Timeout(_) => {
                        hung.timed_out(Instant::now(), check.timeout);
                        return Err(f);
                    }
                    Failure::Unreachable(m) | Failure::BadBody(m) => Failure::Connect(m),
                    other => other,
                };
                hung.answered();
                return Err(f);
            }
        };
        hung.answered();
        judge(code, &text, *status, body.as_deref())
    }
}

/// Whether an answer passes.
pub fn judge(code: u16, text: &[u8], status: Option<u16>, body: Option<&str>) -> Outcome {
    let status_ok = match status {
        Some(s) => code == s,
        None => (200..300).contains(&code),
    };
    if !status_ok {
        return Err(Failure::HttpStatus(code));
    }
    if let Some(want) = body {
        let found = want.is_empty() || text.windows(want.len()).any(|w| w == want.as_bytes());
        if !found {
            return Err(Failure::BodyMismatch(want.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    #[test]
    fn a_long_body_is_searched_in_its_first_64_kib() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/healthz", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for conn in listener.incoming().take(2) {
                let mut conn = conn.unwrap();
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let body = format!("ok{}", "x".repeat(100_000));
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        let check = |body: &str| Check {
            name: "web".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            probe: Probe::Http {
                url: url.clone(),
                status: None,
                body: Some(body.into()),
            },
        };
        let mut c = Client::default();
        assert_eq!(c.poll(&check("ok"), Instant::now()), Ok(()));
        assert_eq!(
            c.poll(&check("not there"), Instant::now()),
            Err(Failure::BodyMismatch("not there".into()))
        );
    }

    #[test]
    fn status_and_body_decide() {
        assert_eq!(judge(200, b"", None, None), Ok(()));
        assert_eq!(judge(204, b"", None, None), Ok(()));
        assert_eq!(judge(301, b"", None, None), Err(Failure::HttpStatus(301)));
        assert_eq!(judge(301, b"", Some(301), None), Ok(()));
        assert_eq!(
            judge(200, b"", Some(204), None),
            Err(Failure::HttpStatus(200))
        );
        assert_eq!(judge(200, b"all ok\n", Some(200), Some("ok")), Ok(()));
        assert_eq!(
            judge(200, b"degraded", None, Some("ok")),
            Err(Failure::BodyMismatch("ok".into()))
        );
        assert_eq!(
            Failure::BodyMismatch("ok".into()).to_string(),
            "body does not contain \"ok\""
        );
    }
}
