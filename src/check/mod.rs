//! Health checks: the one interface the loop sees ([`Prober`]), what a result is
//! ([`Outcome`], [`Failure`]), and the real [`Checker`] that hands each check to the module
//! of its kind: `cabourotte` (the latest result of a check Cabourotte runs), `command` (a
//! program the daemon runs itself, spawned and reaped from the loop), `http` and `tcp`.
//!
//! A kind that answers within its deadline (HTTP, TCP, Cabourotte) answers at once from
//! [`Prober::start`]; a command's result arrives later through [`Prober::finished`], and
//! until then the loop sleeps on [`Prober::fds`] and [`Prober::deadline`] as well as on its
//! timers and signals. Adding a kind is a module here, a [`Probe`] variant and its
//! configuration table; the loop, state, status and metrics do not change.

pub mod cabourotte;
pub mod command;
pub mod http;
pub mod tcp;

pub use crate::config::{Check, Kind, Probe};
use std::fmt;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

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
    /// Any other HTTP status from Cabourotte.
    Status(u16, String),
    /// The body is not a Cabourotte result.
    BadBody(String),
    /// The result is older than `max_age`.
    Stale(Duration),
    /// The result is for another check (a proxy or a wrong path in between).
    WrongName(String),
    /// No answer (HTTP, TCP) within the check's timeout.
    Timeout(Duration),
    /// Connection refused, reset, DNS: Cabourotte is not there.
    Unreachable(String),
    /// Not polled: the same Cabourotte timed out moments ago.
    Skipped,
    /// Not polled: this HTTP URL or TCP address timed out moments ago.
    Hung,
    /// An `http` check's answer had another status than expected.
    HttpStatus(u16),
    /// An `http` check's body lacks the expected text.
    BodyMismatch(String),
    /// An `http` or `tcp` check could not connect (or the exchange broke).
    Connect(String),
    /// A command exited with this status; the first line of its output.
    Exit(i32, String),
    /// A command was killed by this signal (not by us).
    Killed(i32, String),
    /// A command ran past its timeout: its process group was killed.
    TimedOut(Duration),
    /// A command could not be started.
    Spawn(String),
}

impl Failure {
    /// Same kind of failure (for "log once per change of state").
    pub fn same_kind(&self, other: &Failure) -> bool {
        // A hung endpoint shows as a timeout for one check and "not polled" for the
        // others, alternating between checks: one state, logged once.
        let class = |f: &Failure| match f {
            Failure::Skipped | Failure::Hung => {
                std::mem::discriminant(&Failure::Timeout(Duration::ZERO))
            }
            other => std::mem::discriminant(other),
        };
        class(self) == class(other)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_line = |f: &mut fmt::Formatter<'_>, head: String, line: &str| {
            if line.is_empty() {
                f.write_str(&head)
            } else {
                write!(f, "{head}: {}", clip(line, 200))
            }
        };
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
            Failure::Hung => write!(
                f,
                "not polled: it did not answer the previous request in time"
            ),
            Failure::HttpStatus(s) => write!(f, "HTTP status {s}"),
            Failure::BodyMismatch(b) => write!(f, "body does not contain {:?}", clip(b, 100)),
            Failure::Connect(m) => write!(f, "cannot connect: {}", clip(m, 200)),
            Failure::Exit(code, line) => with_line(f, format!("exit {code}"), line),
            Failure::Killed(sig, line) => with_line(f, format!("killed by signal {sig}"), line),
            Failure::TimedOut(t) => write!(f, "timed out after {}", crate::duration::format(*t)),
            Failure::Spawn(m) => write!(f, "{}", clip(m, 200)),
        }
    }
}

pub type Outcome = Result<(), Failure>;

/// A result that arrived after [`Prober::start`] returned (a command that ended).
#[derive(Debug)]
pub struct Finished {
    pub check: Check,
    pub outcome: Outcome,
    /// From start to end.
    pub took: Duration,
}

/// The edge that runs checks. The daemon sees only this trait.
pub trait Prober {
    /// Poll `check` now: its result, or `None` when it comes later from
    /// [`finished`](Prober::finished) (a process was started, or is still running).
    fn start(&mut self, check: &Check, now: Instant) -> Option<Outcome>;
    /// The results that arrived since the last call (processes reaped, deadlines passed).
    fn finished(&mut self, _now: Instant) -> Vec<Finished> {
        Vec::new()
    }
    /// When `finished` must be called again at the latest (a running command's deadline).
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// Descriptors whose readiness means `finished` has work (a command's output).
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        Vec::new()
    }
    /// The set of checks changed (reload): forget what no check uses any more.
    fn configure(&mut self, _checks: &[Check], _max_running: u32) {}
    /// The daemon stops: kill the command checks still running (hooks go on, see
    /// [`stop_hooks`](Prober::stop_hooks)).
    fn stop(&mut self) {}
    /// Run a hook (see `global.hook`) without waiting for it: its result comes from
    /// [`hooks_finished`](Prober::hooks_finished).
    fn hook(&mut self, _job: command::Job<u64>, _now: Instant) -> Option<Outcome> {
        None
    }
    /// The hooks that ended since the last call.
    fn hooks_finished(&mut self, _now: Instant) -> Vec<command::Done<u64>> {
        Vec::new()
    }
    /// Hooks running or waiting their turn.
    fn hooks_pending(&self) -> usize {
        0
    }
    /// Kill the hooks still running (at exit).
    fn stop_hooks(&mut self) {}
}

/// The real checks, one module per kind.
pub struct Checker {
    cabourotte: cabourotte::Client,
    http: http::Client,
    tcp: tcp::Client,
    commands: command::Runner,
    /// Hooks run through the same runner as command checks, at most this many at once.
    hooks: command::Runner<u64>,
}

const MAX_RUNNING_HOOKS: u32 = 16;

impl Checker {
    pub fn new(checks: &[Check], max_running: u32) -> Checker {
        Checker {
            cabourotte: cabourotte::Client::new(checks),
            http: http::Client::default(),
            tcp: tcp::Client::default(),
            commands: command::Runner::new(max_running),
            hooks: command::Runner::new(MAX_RUNNING_HOOKS),
        }
    }
}

impl Prober for Checker {
    fn start(&mut self, check: &Check, now: Instant) -> Option<Outcome> {
        match check.kind() {
            Kind::Cabourotte => Some(self.cabourotte.poll(check, now)),
            Kind::Http => Some(self.http.poll(check, now)),
            Kind::Tcp => Some(self.tcp.poll(check, now)),
            Kind::Command => self.commands.start(check, now),
        }
    }
    fn finished(&mut self, now: Instant) -> Vec<Finished> {
        self.commands.finished(now)
    }
    fn deadline(&self) -> Option<Instant> {
        match (self.commands.deadline(), self.hooks.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut fds = self.commands.fds();
        fds.extend(self.hooks.fds());
        fds
    }
    fn hook(&mut self, job: command::Job<u64>, now: Instant) -> Option<Outcome> {
        self.hooks.start_job(job, now)
    }
    fn hooks_finished(&mut self, now: Instant) -> Vec<command::Done<u64>> {
        self.hooks.finished_jobs(now)
    }
    fn configure(&mut self, checks: &[Check], max_running: u32) {
        self.cabourotte.configure(checks);
        self.http.configure(checks);
        self.tcp.configure(checks);
        self.commands.configure(checks, max_running);
    }
    fn stop(&mut self) {
        self.commands.stop();
    }
    fn hooks_pending(&self) -> usize {
        self.hooks.pending()
    }
    fn stop_hooks(&mut self) {
        self.hooks.stop();
    }
}

/// How long a hung endpoint is left alone after its `n`th timeout in a row, counted
/// from the end of the request that timed out: 1, 2, 4 … up to 30 s, and never less than
/// nine timeouts, so that waiting on it costs at most about a tenth of the loop's time.
pub fn hung_backoff(n: u32, timeout: Duration) -> Duration {
    let grown = Duration::from_secs(1u64 << n.saturating_sub(1).min(5)).min(HUNG_BACKOFF_MAX);
    grown.max(timeout.saturating_mul(9))
}

pub const HUNG_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Whether an endpoint (a Cabourotte, an HTTP URL, a TCP address) stopped answering.
#[derive(Debug, Default, Clone)]
pub struct Hung {
    /// Requests that timed out in a row (0: it answers).
    pub timeouts: u32,
    /// While hung: no request goes out before this instant.
    pub quiet_until: Option<Instant>,
}

impl Hung {
    /// While hung, it is not asked again until the back-off has passed.
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

/// One line, at most `max` characters (an ellipsis marks the cut).
pub fn clip(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    match one_line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hung_endpoint_backs_off_from_the_end_of_the_failed_request() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut ep = Hung::default();
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
    fn a_hung_endpoint_is_one_kind_of_failure() {
        let t = Failure::Timeout(Duration::from_secs(1));
        assert!(t.same_kind(&Failure::Skipped));
        assert!(Failure::Skipped.same_kind(&t));
        assert!(Failure::Hung.same_kind(&t));
        assert!(!t.same_kind(&Failure::NoResult));
        assert!(Failure::Stale(Duration::ZERO).same_kind(&Failure::Stale(Duration::from_secs(9))));
        assert!(Failure::Exit(1, "a".into()).same_kind(&Failure::Exit(2, "b".into())));
    }

    #[test]
    fn failure_texts_are_one_line_and_bounded() {
        let long = "x\n".repeat(1000);
        let text = Failure::Failed(long.clone()).to_string();
        assert!(!text.contains('\n'));
        assert!(text.chars().count() < 250);
        assert!(Failure::Exit(1, long).to_string().chars().count() < 250);
        assert_eq!(
            Failure::Stale(Duration::from_secs(312)).to_string(),
            "stale result (312 s old)"
        );
        assert_eq!(
            Failure::Exit(1, ";; connection timed out".into()).to_string(),
            "exit 1: ;; connection timed out"
        );
        assert_eq!(Failure::Exit(3, String::new()).to_string(), "exit 3");
        assert_eq!(
            Failure::TimedOut(Duration::from_millis(900)).to_string(),
            "timed out after 900ms"
        );
    }
}
