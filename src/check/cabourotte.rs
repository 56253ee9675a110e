//! Cabourotte health checks: what one poll of a check's latest result means.
//!
//! The pure part turns an HTTP answer (status, body, our wall clock) into an [`Outcome`].
//! The edge, [`Client`], owns one ureq `Agent` (keep-alive, no proxy, a deadline on every
//! request) and, per base URL, an [`Endpoint`] that remembers which API layout the server
//! speaks (2.x `/api/v1/result/<name>` or 1.x `/result/<name>`) and whether it stopped
//! answering: a hung Cabourotte is left alone for a growing back-off ([`Hung`]), so that
//! it costs at most about a tenth of the loop's time and never blinds the checks at other
//! URLs.

use super::{Check, Failure, Hung, Outcome, Probe};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Cabourotte's result bodies are a few hundred bytes; a command check's stderr can make
/// one long, but never megabytes. Anything larger is not a Cabourotte.
pub const MAX_BODY: u64 = 256 * 1024;

/// The single-result body (both API versions).
#[derive(Debug, Deserialize)]
struct ResultBody {
    name: String,
    success: bool,
    #[serde(rename = "healthcheck-timestamp")]
    timestamp: i64,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    messages: Vec<String>,
}

/// What one HTTP answer on one layout means.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Outcome(Outcome),
    /// A route-level 404: this layout is not served here.
    NoRoute,
}

/// Judge one HTTP answer. `now` is our wall clock; Cabourotte's timestamp is Unix seconds.
pub fn judge(status: u16, body: &[u8], check: &Check, now: SystemTime) -> Answer {
    if status == 404 {
        // Both 404s carry {"messages":[...]}: "result not found for healthcheck X" (any
        // case) is about the check; "Not found" is about the route.
        let text = serde_json::from_slice::<ErrorBody>(body)
            .map(|e| e.messages.join("; "))
            .unwrap_or_default();
        let lower = text.to_ascii_lowercase();
        if lower.contains("result not found") {
            return Answer::Outcome(Err(Failure::NoResult));
        }
        return Answer::NoRoute;
    }
    if status != 200 {
        let text = serde_json::from_slice::<ErrorBody>(body)
            .map(|e| e.messages.join("; "))
            .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
        return Answer::Outcome(Err(Failure::Status(status, text)));
    }
    let result: ResultBody = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return Answer::Outcome(Err(Failure::BadBody(e.to_string()))),
    };
    if result.name != check.name {
        return Answer::Outcome(Err(Failure::WrongName(result.name)));
    }
    let max_age = match &check.probe {
        Probe::Cabourotte { max_age, .. } => *max_age,
        _ => None,
    };
    if let Some(max_age) = max_age {
        let now_s = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        // A timestamp in the future (clock skew) counts as fresh.
        let age = Duration::from_secs(now_s.saturating_sub(result.timestamp).max(0) as u64);
        if age > max_age {
            return Answer::Outcome(Err(Failure::Stale(age)));
        }
    }
    if !result.success {
        return Answer::Outcome(Err(Failure::Failed(result.message)));
    }
    Answer::Outcome(Ok(()))
}

/// Cabourotte's two route layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// 2.x: `/api/v1/result/<name>`.
    V2,
    /// 1.x: `/result/<name>`.
    V1,
}

/// The URL of one check's result. A base URL that already ends in `/api/v1` is used as
/// given (the operator chose the layout).
pub fn result_url(base: &str, layout: Layout, name: &str) -> String {
    let name = percent_encode(name);
    if base.ends_with("/api/v1") {
        return format!("{base}/result/{name}");
    }
    match layout {
        Layout::V2 => format!("{base}/api/v1/result/{name}"),
        Layout::V1 => format!("{base}/result/{name}"),
    }
}

/// RFC 3986 unreserved characters stay, everything else is %XX.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What we know of one Cabourotte (one base URL).
#[derive(Debug, Default)]
pub struct Endpoint {
    /// The layout that answered last; `None` until one did.
    pub layout: Option<Layout>,
    pub hung: Hung,
}

impl Endpoint {
    /// Layouts to try, in order: the one that worked, then the other.
    pub fn layouts(&self, base: &str) -> Vec<Layout> {
        if base.ends_with("/api/v1") {
            return vec![Layout::V2];
        }
        match self.layout {
            Some(Layout::V1) => vec![Layout::V1, Layout::V2],
            _ => vec![Layout::V2, Layout::V1],
        }
    }
}

/// HTTP transport result, before judging.
pub enum Transport {
    Answer(u16, Vec<u8>),
    Failed(Failure),
}

/// The real Cabourotte client.
pub struct Client {
    agent: ureq::Agent,
    endpoints: HashMap<String, Endpoint>,
}

/// The HTTP agent of every check kind that speaks HTTP: keep-alive, no proxy, no
/// redirects, statuses as answers (not errors), names resolved on the loop's thread.
pub(super) fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        // Health endpoints are local: a proxy from the environment must never be used.
        .proxy(None)
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("anycastd/", env!("CARGO_PKG_VERSION")))
        .build();
    let connector = ureq::unversioned::transport::DefaultConnector::new();
    ureq::Agent::with_parts(config, connector, InlineResolver)
}

impl Client {
    pub fn new(checks: &[Check]) -> Client {
        let mut client = Client {
            agent: agent(),
            endpoints: HashMap::new(),
        };
        client.configure_endpoints(checks);
        client
    }

    /// Forget the endpoints no check uses any more; keep what we know of the others.
    fn configure_endpoints(&mut self, checks: &[Check]) {
        let used: std::collections::HashSet<&str> = checks
            .iter()
            .filter(|c| matches!(c.probe, Probe::Cabourotte { .. }))
            .map(Check::target)
            .collect();
        self.endpoints.retain(|url, _| used.contains(url.as_str()));
    }

    fn get(&self, url: &str, timeout: Duration) -> Transport {
        log::debug!("GET {url}");
        let response = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .call();
        let mut response = match response {
            Ok(r) => r,
            Err(e) => return Transport::Failed(transport_failure(e, timeout)),
        };
        let status = response.status().as_u16();
        match response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
        {
            Ok(body) => Transport::Answer(status, body),
            Err(e) => Transport::Failed(transport_failure(e, timeout)),
        }
    }
}

/// Looks up the host on the loop's own thread. ureq's default resolver spawns a thread
/// per new connection to put a deadline on a DNS lookup; this daemon is one thread. An IP
/// literal (the usual `127.0.0.1`) needs no lookup at all; a host name is asked of the
/// system resolver (`/etc/hosts` first, as configured), which may block.
#[derive(Debug)]
pub(super) struct InlineResolver;

impl ureq::unversioned::resolver::Resolver for InlineResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _: &ureq::config::Config,
        _: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        use std::net::ToSocketAddrs;
        let Some(authority) = uri.authority() else {
            return Err(ureq::Error::HostNotFound);
        };
        let port = authority.port_u16().unwrap_or(80);
        // `[2001:db8::1]` in a URL is the address 2001:db8::1.
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let mut out = self.empty();
        for addr in (host, port).to_socket_addrs()?.take(16) {
            out.push(addr);
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

pub(super) fn transport_failure(e: ureq::Error, timeout: Duration) -> Failure {
    match e {
        ureq::Error::Timeout(_) => Failure::Timeout(timeout),
        ureq::Error::BodyExceedsLimit(n) => Failure::BadBody(format!("body larger than {n} bytes")),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            Failure::Timeout(timeout)
        }
        ureq::Error::Io(io) => Failure::Unreachable(io.to_string()),
        ureq::Error::Protocol(p) => Failure::BadBody(format!("HTTP protocol error: {p}")),
        other => Failure::Unreachable(other.to_string()),
    }
}

impl Client {
    pub fn configure(&mut self, checks: &[Check]) {
        self.configure_endpoints(checks);
    }

    pub fn poll(&mut self, check: &Check, now: Instant) -> Outcome {
        let base = check.target();
        let layouts = {
            let ep = self.endpoints.entry(base.to_string()).or_default();
            if ep.hung.should_skip(now) {
                return Err(Failure::Skipped);
            }
            ep.layouts(base)
        };
        let mut outcome = Err(Failure::NoApi);
        let mut answered = None;
        for layout in layouts {
            let url = result_url(base, layout, &check.name);
            let transport = self.get(&url, check.timeout);
            let ep = self.endpoints.entry(base.to_string()).or_default();
            match transport {
                Transport::Failed(f @ Failure::Timeout(_)) => {
                    // Counted from the end of the request: a hung endpoint is left alone
                    // for a while whatever the check's interval.
                    ep.hung.timed_out(Instant::now(), check.timeout);
                    return Err(f);
                }
                Transport::Failed(f) => {
                    ep.hung.answered();
                    return Err(f);
                }
                Transport::Answer(status, body) => {
                    ep.hung.answered();
                    log::debug!("{url}: HTTP {status}, {} bytes", body.len());
                    match judge(status, &body, check, SystemTime::now()) {
                        Answer::NoRoute => continue,
                        Answer::Outcome(o) => {
                            answered = Some(layout);
                            outcome = o;
                            break;
                        }
                    }
                }
            }
        }
        let ep = self.endpoints.entry(base.to_string()).or_default();
        ep.layout = answered;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(max_age: Option<u64>) -> Check {
        Check {
            name: "dns".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            probe: Probe::Cabourotte {
                url: "http://127.0.0.1:9013".into(),
                max_age: max_age.map(Duration::from_secs),
            },
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const OK: &str = r#"{"name":"dns","summary":"DNS healthcheck on check.local","success":true,"healthcheck-timestamp":1687724459,"message":"success","duration":144,"source":"configuration"}"#;

    #[test]
    fn success_and_failure() {
        assert_eq!(
            judge(200, OK.as_bytes(), &check(Some(120)), at(1687724460)),
            Answer::Outcome(Ok(()))
        );
        let failed = OK.replace("\"success\":true", "\"success\":false").replace(
            "\"message\":\"success\"",
            "\"message\":\"HTTP request failed: status 503\"",
        );
        assert_eq!(
            judge(200, failed.as_bytes(), &check(Some(120)), at(1687724460)),
            Answer::Outcome(Err(Failure::Failed(
                "HTTP request failed: status 503".into()
            )))
        );
    }

    #[test]
    fn staleness_follows_max_age() {
        let c = check(Some(120));
        assert_eq!(
            judge(200, OK.as_bytes(), &c, at(1687724459 + 121)),
            Answer::Outcome(Err(Failure::Stale(Duration::from_secs(121))))
        );
        assert_eq!(
            judge(200, OK.as_bytes(), &c, at(1687724459 + 120)),
            Answer::Outcome(Ok(()))
        );
        // clock skew: a result from the future is fresh
        assert_eq!(
            judge(200, OK.as_bytes(), &c, at(1687724000)),
            Answer::Outcome(Ok(()))
        );
        // max_age = 0 disables the check
        assert_eq!(
            judge(200, OK.as_bytes(), &check(None), at(1987724459)),
            Answer::Outcome(Ok(()))
        );
    }

    #[test]
    fn the_two_404s_differ() {
        let c = check(Some(120));
        for body in [
            r#"{"messages":["result not found for healthcheck dns"]}"#,
            r#"{"messages":["Result not found for healthcheck dns"]}"#,
        ] {
            assert_eq!(
                judge(404, body.as_bytes(), &c, at(0)),
                Answer::Outcome(Err(Failure::NoResult))
            );
        }
        assert_eq!(
            judge(404, br#"{"messages":["Not found"]}"#, &c, at(0)),
            Answer::NoRoute
        );
        assert_eq!(
            judge(404, b"<html>nginx</html>", &c, at(0)),
            Answer::NoRoute
        );
    }

    #[test]
    fn garbage_is_not_health() {
        let c = check(Some(120));
        for body in [
            "",
            "{",
            "null",
            "[]",
            r#"{"name":"dns"}"#,
            r#"{"name":"dns","success":"yes","healthcheck-timestamp":1}"#,
        ] {
            match judge(200, body.as_bytes(), &c, at(0)) {
                Answer::Outcome(Err(Failure::BadBody(_))) => {}
                other => panic!("{body}: {other:?}"),
            }
        }
        assert!(matches!(
            judge(500, br#"{"messages":["Internal error"]}"#, &c, at(0)),
            Answer::Outcome(Err(Failure::Status(500, m))) if m == "Internal error"
        ));
        assert!(matches!(
            judge(200, OK.replace("\"dns\"", "\"web\"").as_bytes(), &c, at(0)),
            Answer::Outcome(Err(Failure::WrongName(n))) if n == "web"
        ));
    }

    #[test]
    fn urls_for_both_layouts_with_escaped_names() {
        assert_eq!(
            result_url("http://h:9013", Layout::V2, "ntp v4/é"),
            "http://h:9013/api/v1/result/ntp%20v4%2F%C3%A9"
        );
        assert_eq!(
            result_url("http://h:9013", Layout::V1, "a-b_c.d~"),
            "http://h:9013/result/a-b_c.d~"
        );
        assert_eq!(
            result_url("http://h/api/v1", Layout::V1, "x"),
            "http://h/api/v1/result/x"
        );
    }

    #[test]
    fn hosts_resolve_on_this_thread() {
        use ureq::unversioned::resolver::Resolver;
        let config = ureq::config::Config::default();
        let t = ureq::unversioned::transport::NextTimeout::default();
        let resolve = |url: &str| -> Vec<String> {
            let uri: ureq::http::Uri = url.parse().unwrap();
            InlineResolver
                .resolve(&uri, &config, t)
                .map(|a| a.iter().map(|x| x.to_string()).collect())
                .unwrap_or_default()
        };
        assert_eq!(resolve("http://127.0.0.1:9013/x"), ["127.0.0.1:9013"]);
        assert_eq!(resolve("http://[::1]:9013"), ["[::1]:9013"]);
        assert_eq!(resolve("http://127.0.0.1/"), ["127.0.0.1:80"]);
        assert!(!resolve("http://localhost:9013").is_empty());
    }
}
