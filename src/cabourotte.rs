//! Cabourotte health checks: what one poll of a check's latest result means.
//!
//! The pure part turns an HTTP answer (status, body, our wall clock) into an [`Outcome`].
//! The edge, [`Client`], owns one ureq `Agent` (keep-alive, no proxy, a deadline on every
//! request) and, per base URL, an [`Endpoint`] that remembers which API layout the server
//! speaks (2.x `/api/v1/result/<name>` or 1.x `/result/<name>`) and whether it stopped
//! answering: a hung Cabourotte is left alone for a growing back-off, so that it costs at
//! most about a tenth of the loop's time and never blinds the checks at other URLs.

use crate::config::Check;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Cabourotte's result bodies are a few hundred bytes; a command check's stderr can make
/// one long, but never megabytes. Anything larger is not a Cabourotte.
pub const MAX_BODY: u64 = 256 * 1024;

/// Why a check does not count as passing. The variant (not the text) is what decides
/// whether a change of state is logged again.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Cabourotte ran the check and it failed.
    Failed(String),
    /// 404 "result not found": the check is not configured in Cabourotte, or has not run yet.
    NoResult,
    /// 404 "Not found" on every layout: not a Cabourotte result endpoint (wrong URL or API).
    NoApi,
    /// Any other HTTP status.
    Status(u16, String),
    /// The body is not a Cabourotte result.
    BadBody(String),
    /// The result is older than `max_age`.
    Stale(Duration),
    /// The result is for another check (a proxy or a wrong path in between).
    WrongName(String),
    Timeout(Duration),
    /// Connection refused, reset, DNS: Cabourotte is not there.
    Unreachable(String),
    /// Not polled: the same Cabourotte timed out moments ago.
    Skipped,
}

impl Failure {
    /// Same kind of failure (for "log once per change of state").
    pub fn same_kind(&self, other: &Failure) -> bool {
        // A hung Cabourotte shows as a timeout for one check and "not polled" for the
        // others, alternating between checks: one state, logged once.
        let class = |f: &Failure| match f {
            Failure::Skipped => std::mem::discriminant(&Failure::Timeout(Duration::ZERO)),
            other => std::mem::discriminant(other),
        };
        class(self) == class(other)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Failed(m) => write!(f, "check failed: {}", clip(m, 200)),
            Failure::NoResult => write!(
                f,
                "Cabourotte has no result for it (not configured there, or not run yet)"
            ),
            Failure::NoApi => write!(
                f,
                "no Cabourotte result API at this URL (HTTP 404 \"Not found\" for both /api/v1/result and /result): check the url and Cabourotte's version"
            ),
            Failure::Status(s, m) => write!(f, "HTTP status {s}: {}", clip(m, 200)),
            Failure::BadBody(m) => write!(f, "not a Cabourotte result: {}", clip(m, 200)),
            Failure::Stale(age) => write!(f, "stale result ({} s old)", age.as_secs()),
            Failure::WrongName(n) => write!(f, "the answer is for another check ({n:?})"),
            Failure::Timeout(t) => write!(f, "no answer within {}", crate::duration::format(*t)),
            Failure::Unreachable(m) => write!(f, "cannot reach Cabourotte: {m}"),
            Failure::Skipped => write!(
                f,
                "not polled: this Cabourotte did not answer the previous request in time"
            ),
        }
    }
}

pub type Outcome = Result<(), Failure>;

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
    if let Some(max_age) = check.max_age {
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

/// How long a hung Cabourotte is left alone after its `n`th timeout in a row, counted
/// from the end of the request that timed out: 1, 2, 4 … up to 30 s, and never less than
/// nine timeouts, so that waiting on it costs at most about a tenth of the loop's time.
pub fn hung_backoff(n: u32, timeout: Duration) -> Duration {
    let grown = Duration::from_secs(1u64 << n.saturating_sub(1).min(5)).min(HUNG_BACKOFF_MAX);
    grown.max(timeout.saturating_mul(9))
}

pub const HUNG_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What we know of one Cabourotte (one base URL).
#[derive(Debug, Default)]
pub struct Endpoint {
    /// The layout that answered last; `None` until one did.
    pub layout: Option<Layout>,
    /// Requests that timed out in a row (0: it answers).
    pub timeouts: u32,
    /// While hung: no request goes out before this instant.
    pub quiet_until: Option<Instant>,
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

    /// While hung, checks at this URL are not polled until the back-off has passed.
    pub fn should_skip(&self, now: Instant) -> bool {
        self.quiet_until.is_some_and(|until| now < until)
    }

    /// A request that ended at `ended` timed out after `timeout`.
    pub fn timed_out(&mut self, ended: Instant, timeout: Duration) {
        self.timeouts = self.timeouts.saturating_add(1);
        self.quiet_until = Some(ended + hung_backoff(self.timeouts, timeout));
    }

    /// It answered (or refused at once): no longer hung.
    pub fn answered(&mut self) {
        self.timeouts = 0;
        self.quiet_until = None;
    }
}

/// The edge that polls one check. The daemon sees only this trait.
pub trait Prober {
    fn poll(&mut self, check: &Check, now: Instant) -> Outcome;
    /// The set of checks changed (reload): learn the new endpoints' intervals.
    fn configure(&mut self, _checks: &[Check]) {}
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

impl Client {
    pub fn new(checks: &[Check]) -> Client {
        let config = ureq::Agent::config_builder()
            // Cabourotte is local: a proxy from the environment must never be used.
            .proxy(None)
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("anycastd/", env!("CARGO_PKG_VERSION")))
            .build();
        let connector = ureq::unversioned::transport::DefaultConnector::new();
        let mut client = Client {
            agent: ureq::Agent::with_parts(config, connector, InlineResolver),
            endpoints: HashMap::new(),
        };
        client.configure_endpoints(checks);
        client
    }

    /// Forget the endpoints no check uses any more; keep what we know of the others.
    fn configure_endpoints(&mut self, checks: &[Check]) {
        let used: std::collections::HashSet<&str> = checks.iter().map(|c| c.url.as_str()).collect();
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
struct InlineResolver;

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

fn transport_failure(e: ureq::Error, timeout: Duration) -> Failure {
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

impl Prober for Client {
    fn configure(&mut self, checks: &[Check]) {
        self.configure_endpoints(checks);
    }

    fn poll(&mut self, check: &Check, now: Instant) -> Outcome {
        let layouts = {
            let ep = self.endpoints.entry(check.url.clone()).or_default();
            if ep.should_skip(now) {
                return Err(Failure::Skipped);
            }
            ep.layouts(&check.url)
        };
        let mut outcome = Err(Failure::NoApi);
        let mut answered = None;
        for layout in layouts {
            let url = result_url(&check.url, layout, &check.name);
            let transport = self.get(&url, check.timeout);
            let ep = self.endpoints.entry(check.url.clone()).or_default();
            match transport {
                Transport::Failed(f @ Failure::Timeout(_)) => {
                    // Counted from the end of the request: a hung endpoint is left alone
                    // for a while whatever the check's interval.
                    ep.timed_out(Instant::now(), check.timeout);
                    return Err(f);
                }
                Transport::Failed(f) => {
                    ep.answered();
                    return Err(f);
                }
                Transport::Answer(status, body) => {
                    ep.answered();
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
        let ep = self.endpoints.entry(check.url.clone()).or_default();
        ep.layout = answered;
        outcome
    }
}

fn clip(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    match one_line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(max_age: Option<u64>) -> Check {
        Check {
            name: "dns".into(),
            url: "http://127.0.0.1:9013".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            max_age: max_age.map(Duration::from_secs),
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
    fn a_hung_endpoint_backs_off_from_the_end_of_the_failed_request() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut ep = Endpoint::default();
        assert!(!ep.should_skip(t0));
        // A 100 ms timeout: 1, 2, 4 … 30 s.
        let waits: Vec<Duration> = (1..=7)
            .map(|_| {
                ep.timed_out(t0, Duration::from_millis(100));
                ep.quiet_until.unwrap() - t0
            })
            .collect();
        assert_eq!(waits, [s(1), s(2), s(4), s(8), s(16), s(30), s(30)]);
        assert!(ep.should_skip(t0 + s(29)));
        assert!(!ep.should_skip(t0 + s(30)));
        ep.answered();
        assert!(!ep.should_skip(t0));
        assert_eq!(ep.timeouts, 0);
        // A 1 s timeout costs at most a tenth of the time: never less than 9 s of quiet.
        assert_eq!(hung_backoff(1, s(1)), s(9));
        assert_eq!(hung_backoff(5, s(1)), s(16));
        assert_eq!(hung_backoff(9, s(10)), s(90));
        assert_eq!(hung_backoff(u32::MAX, Duration::MAX), Duration::MAX);
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

    #[test]
    fn a_hung_endpoint_is_one_kind_of_failure() {
        let t = Failure::Timeout(Duration::from_secs(1));
        assert!(t.same_kind(&Failure::Skipped));
        assert!(Failure::Skipped.same_kind(&t));
        assert!(!t.same_kind(&Failure::NoResult));
        assert!(Failure::Stale(Duration::ZERO).same_kind(&Failure::Stale(Duration::from_secs(9))));
    }

    #[test]
    fn failure_texts_are_one_line_and_bounded() {
        let long = "x\n".repeat(1000);
        let text = Failure::Failed(long).to_string();
        assert!(!text.contains('\n'));
        assert!(text.chars().count() < 250);
        assert_eq!(
            Failure::Stale(Duration::from_secs(312)).to_string(),
            "stale result (312 s old)"
        );
    }
}
