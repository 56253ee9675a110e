//! The configuration file: TOML text in, a validated [`Config`] or one [`ConfigError`] out.
//!
//! The schema is the Python anycastd's (services → `prefixes.frrouting`, `checks.cabourotte`,
//! short and long forms) plus the built-in `checks.command`, `checks.http` and
//! `checks.tcp`, read strictly: every unknown key, wrong type or impossible value
//! is an error that names the file, the key path (`services.dns.checks.cabourotte[0].interval`),
//! the line and column, what was wrong and what is accepted. We walk TOML's spanned document
//! by hand instead of deriving serde structs, because that is what lets every message carry
//! the exact key path and position. Nothing here does I/O except [`load`] reading the file
//! and a command check's program being looked up (it must exist and be executable).
//!
//! This file holds the schema (the types, the keys each table accepts, the defaults and
//! bounds) and the entry points; the walk itself is split by table family (`global`,
//! `service`, `prefixes`, `checks` and the built-in kinds' fields in `builtin`) over the
//! shared value walkers of `values`.

mod builtin;
mod checks;
mod global;
mod prefixes;
mod service;
mod values;

pub use checks::parse_url;
pub use prefixes::{Prefix, Router, canonical, parse_prefix};

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::de::DeTable;
use values::{Ctx, Res, line_col_bytes};

pub const DEFAULT_PATH: &str = "/etc/anycastd/config.toml";
/// The default `state_file` (`state::DEFAULT_PATH` names the same constant).
pub const DEFAULT_STATE_FILE: &str = "/run/anycastd/state.json";
/// The default `drain_file` (`drain::DEFAULT_PATH` names the same constant).
pub const DEFAULT_DRAIN_FILE: &str = "/var/lib/anycastd/drains.json";
pub const DEFAULT_VTYSH: &str = "/usr/bin/vtysh";
/// The defaults of a `prefixes.bird` entry: Debian's birdc, control socket, and the
/// include file anycastd owns.
pub const DEFAULT_BIRDC: &str = "/usr/sbin/birdc";
pub const DEFAULT_BIRD_SOCKET: &str = "/run/bird/bird.ctl";
pub const DEFAULT_BIRD_FILE: &str = "/etc/bird/anycastd.conf";
pub const DEFAULT_CABOUROTTE_URL: &str = "http://127.0.0.1:9013";
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// One slow Cabourotte must not stall the loop for long: Cabourotte answers from memory
/// in well under a millisecond, so a second is generous.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Cabourotte purges results older than 120 s itself, so a result past that age is one a
/// working Cabourotte would no longer serve: using its own bound cannot misfire.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(120);
pub const DEFAULT_VTYSH_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Below these a setting is a typo that would make the daemon spin: polls, reconciles and
/// vtysh deadlines of less than 100 ms, HTTP deadlines of less than 10 ms.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
const MIN_TIMEOUT: Duration = Duration::from_millis(10);
const MIN_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);
/// A poll in flight is not interrupted (not even by SIGTERM), so its deadline bounds how
/// late everything else, a stop included, can be: a local health endpoint that needs
/// more than 10 s is broken.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10);
/// Likewise for one vtysh call: FRR answers in milliseconds, or is stuck.
pub const MAX_VTYSH_TIMEOUT: Duration = Duration::from_secs(60);
/// A drain longer than this is a typo: BGP moves traffic away in seconds.
pub const MAX_DRAIN_TIME: Duration = Duration::from_secs(3600);
/// A configuration file is a few kilobytes; refuse to read a runaway one.
const MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;

/// The keys each table accepts (the schema the man page documents; a test holds the two
/// together).
pub const TOP_KEYS: &[&str] = &["services", "global"];
pub const GLOBAL_KEYS: &[&str] = &[
    "vtysh_timeout",
    "reconcile_interval",
    "shutdown_timeout",
    "state_file",
    "metrics_file",
    "max_running_checks",
    "drain_file",
    "drain_time",
    "drain_route_map",
    "hook",
];
pub const SERVICE_KEYS: &[&str] = &["prefixes", "checks", "rise", "fall"];
/// The routing daemons a prefix can be announced through.
pub const PREFIX_TYPES: &[&str] = &["frrouting", "bird"];
/// The check kinds, in the order a service's checks are listed (and evaluated).
pub const CHECK_TYPES: &[&str] = &["cabourotte", "command", "http", "tcp"];
pub const PREFIX_KEYS: &[&str] = &["prefix", "vrf", "vtysh", "route_map"];
/// The keys of a `prefixes.bird` entry's long form.
pub const BIRD_PREFIX_KEYS: &[&str] = &["prefix", "birdc", "socket", "file"];
/// The keys of a Cabourotte check's long form.
pub const CHECK_KEYS: &[&str] = &["name", "url", "interval", "timeout", "max_age"];
pub const COMMAND_KEYS: &[&str] = &["name", "command", "interval", "timeout"];
pub const HTTP_KEYS: &[&str] = &["name", "url", "interval", "timeout", "status", "body"];
pub const TCP_KEYS: &[&str] = &["name", "address", "interval", "timeout"];
/// `max_running_checks`: the default, and the bounds.
pub const DEFAULT_MAX_RUNNING_CHECKS: u32 = 64;
pub const MAX_RUNNING_CHECKS_LIMIT: u32 = 1024;
/// The `PATH` command checks run with, and where a bare program name is looked up.
pub const CHECK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Every key name of the schema.
pub fn all_keys() -> Vec<&'static str> {
    [
        TOP_KEYS,
        GLOBAL_KEYS,
        SERVICE_KEYS,
        PREFIX_TYPES,
        CHECK_TYPES,
        PREFIX_KEYS,
        BIRD_PREFIX_KEYS,
        CHECK_KEYS,
        COMMAND_KEYS,
        HTTP_KEYS,
        TCP_KEYS,
    ]
    .concat()
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from, as given (absolute when we made it so).
    pub path: PathBuf,
    pub global: Global,
    /// In the order of the file.
    pub services: Vec<Service>,
}

/// The optional `[global]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    /// Deadline of one vtysh process; it is killed when it passes.
    pub vtysh_timeout: Duration,
    /// How often each FRR instance's running config is compared with what should be announced.
    pub reconcile_interval: Duration,
    /// How long shutdown may retry withdrawing before it gives up and exits non-zero.
    pub shutdown_timeout: Duration,
    /// Where the state snapshot for `anycastd status` goes; `None`: not written.
    pub state_file: Option<PathBuf>,
    /// Prometheus textfile (node_exporter's textfile collector); `None`: not written.
    pub metrics_file: Option<PathBuf>,
    /// At most this many command checks run at once; the others wait their turn.
    pub max_running_checks: u32,
    /// Where `anycastd drain` keeps the drained services (persistent across reboots).
    pub drain_file: PathBuf,
    /// Graceful withdrawal: on drain and on SIGTERM/SIGINT, a prefix stays announced this
    /// long (through `drain_route_map`, if set) before it is withdrawn. Zero: at once.
    pub drain_time: Duration,
    /// The FRR route-map a prefix is announced through during `drain_time`.
    pub drain_route_map: Option<String>,
    /// argv run after each confirmed announce and withdraw, drain and undrain.
    pub hook: Option<Vec<String>>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            vtysh_timeout: DEFAULT_VTYSH_TIMEOUT,
            reconcile_interval: DEFAULT_RECONCILE_INTERVAL,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            state_file: Some(PathBuf::from(DEFAULT_STATE_FILE)),
            metrics_file: None,
            max_running_checks: DEFAULT_MAX_RUNNING_CHECKS,
            drain_file: PathBuf::from(DEFAULT_DRAIN_FILE),
            drain_time: Duration::ZERO,
            drain_route_map: None,
            hook: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub prefixes: Vec<Prefix>,
    pub checks: Vec<Check>,
    /// Consecutive passing results a failing check needs before it counts as passing again.
    pub rise: u32,
    /// Consecutive failing results a passing check needs before it counts as failing.
    pub fall: u32,
}

/// One health check: what every kind shares (name, cadence, deadline) and what it probes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Check {
    /// Unique within its service and kind; in logs, status and metrics.
    pub name: String,
    pub interval: Duration,
    /// A poll, connection or process that takes longer fails (a process is killed).
    pub timeout: Duration,
    pub probe: Probe,
}

/// What a check looks at, by kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Probe {
    /// The latest result of a check Cabourotte runs.
    Cabourotte {
        /// Base URL without a trailing slash.
        url: String,
        /// `None`: results are never too old.
        max_age: Option<Duration>,
    },
    /// A program run by the daemon: exit status 0 passes.
    Command {
        /// argv; `argv[0]` is an absolute path (a bare name is resolved at load time).
        argv: Vec<String>,
        /// The service that lists it (`ANYCASTD_SERVICE`): a command is never shared.
        service: String,
    },
    /// An HTTP GET: passes on the expected status (any 2xx by default) and body.
    Http {
        url: String,
        status: Option<u16>,
        body: Option<String>,
    },
    /// A TCP connection that opens within the timeout.
    Tcp {
        /// `IP:PORT`, `[IPv6]:PORT` or `host:port`.
        address: String,
    },
}

/// The kinds of check, as the configuration names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Cabourotte,
    Command,
    Http,
    Tcp,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Cabourotte => "cabourotte",
            Kind::Command => "command",
            Kind::Http => "http",
            Kind::Tcp => "tcp",
        }
    }
}

impl Check {
    pub fn kind(&self) -> Kind {
        match self.probe {
            Probe::Cabourotte { .. } => Kind::Cabourotte,
            Probe::Command { .. } => Kind::Command,
            Probe::Http { .. } => Kind::Http,
            Probe::Tcp { .. } => Kind::Tcp,
        }
    }

    /// Where it looks: the Cabourotte base URL, the HTTP URL, the TCP address or the
    /// command's program (the `url` of the state file and metrics).
    pub fn target(&self) -> &str {
        match &self.probe {
            Probe::Cabourotte { url, .. } | Probe::Http { url, .. } => url,
            Probe::Command { argv, .. } => argv.first().map_or("", String::as_str),
            Probe::Tcp { address } => address,
        }
    }

    /// How logs name it: `Cabourotte health check "dns"` (the Python anycastd's text),
    /// `Health check "dns" (command)` for the built-in kinds.
    pub fn title(&self) -> String {
        match self.kind() {
            Kind::Cabourotte => format!("Cabourotte health check \"{}\"", self.name),
            k => format!("Health check \"{}\" ({})", self.name, k.name()),
        }
    }

    /// How a service's reason names it: `dns` for a Cabourotte check (as the Python
    /// anycastd), `dns (command)` for the others.
    pub fn label(&self) -> String {
        match self.kind() {
            Kind::Cabourotte => self.name.clone(),
            k => format!("{} ({})", self.name, k.name()),
        }
    }
}

/// Why a configuration could not be used, with what the exit code needs.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub kind: ErrorKind,
    /// `None` for errors about the file itself.
    pub key: Option<String>,
    /// 1-based line and column.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file is missing or not readable (EX_NOINPUT).
    NoInput,
    /// A directory, or another I/O error (EX_IOERR).
    Io,
    /// The text is not a valid configuration (EX_DATAERR).
    Invalid,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Read and validate the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let io_err = |kind, message: String| ConfigError {
        path: path.to_path_buf(),
        kind,
        key: None,
        position: None,
        message,
    };
    if path.is_dir() {
        return Err(io_err(ErrorKind::Io, "is a directory, not a file".into()));
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            return Err(io_err(ErrorKind::Io, "is not a regular file".into()));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(io_err(
                ErrorKind::Invalid,
                format!(
                    "is {} bytes; a configuration is at most {MAX_FILE_SIZE}",
                    meta.len()
                ),
            ));
        }
    }
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => {
            io_err(ErrorKind::NoInput, format!("cannot read: {e}"))
        }
        _ => io_err(ErrorKind::Io, format!("cannot read: {e}")),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let pos = Some(line_col_bytes(e.as_bytes(), e.utf8_error().valid_up_to()));
        ConfigError {
            position: pos,
            ..io_err(ErrorKind::Invalid, "is not valid UTF-8".into())
        }
    })?;
    parse(&text, path)
}

/// Validate configuration text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let ctx = Ctx { text, path };
    let doc = DeTable::parse(text).map_err(|e| {
        let message = e.message().trim().replace('\n', "; ");
        ConfigError {
            path: path.to_path_buf(),
            kind: ErrorKind::Invalid,
            key: None,
            position: e.span().map(|s| ctx.line_col(s.start)),
            message: format!("TOML syntax: {message}"),
        }
    })?;
    ctx.document(doc.get_ref(), doc.span())
}

impl Ctx<'_> {
    fn document(&self, doc: &DeTable<'_>, span: Range<usize>) -> Res<Config> {
        self.known_keys("", doc, TOP_KEYS)?;
        let global = match doc.get("global") {
            Some(v) => self.global(v)?,
            None => Global::default(),
        };
        let Some(services_v) = doc.get("services") else {
            return Err(self.err(
                "services",
                span.start..span.start,
                "missing: the configuration needs at least one [services.<name>] table",
            ));
        };
        let services_t = self.table("services", services_v)?;
        if services_t.is_empty() {
            return Err(self.err(
                "services",
                services_v.span(),
                "no services: add at least one [services.<name>] table",
            ));
        }
        // File order, not the map's alphabetical order: logs and `check` follow the file.
        let mut entries: Vec<_> = services_t.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut services = Vec::with_capacity(entries.len());
        for (name, v) in &entries {
            services.push(self.service(name.get_ref(), v)?);
        }
        self.one_route_map_per_line(&services, &entries)?;
        self.one_file_per_bird(&services, &entries)?;
        Ok(Config {
            path: self.path.to_path_buf(),
            global,
            services,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Config {
        parse(text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn bad(text: &str) -> ConfigError {
        match parse(text, Path::new("t.toml")) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e,
        }
    }

    const UPSTREAM: &str = r#"
[services.dns]
prefixes.frrouting = ["2001:db8::b19:bad:53", "203.0.113.53"]
checks.cabourotte = ["dns"]

[services.ntp]
prefixes.frrouting = [
  { prefix = "2001:db8::123:7e11:713e", vrf = "123" },
  { prefix = "203.0.113.123", vrf = "123" },
]
checks.cabourotte = [
  { name = "ntp_v6", interval = 1 },
  { name = "ntp_v4", interval = 1 },
]
"#;

    #[test]
    fn upstream_example_reads_with_its_defaults() {
        let c = ok(UPSTREAM);
        assert_eq!(c.services.len(), 2);
        let dns = &c.services[0];
        assert_eq!(dns.name, "dns");
        assert_eq!(dns.prefixes[0].canonical(), "2001:db8::b19:bad:53/128");
        assert_eq!(dns.prefixes[1].canonical(), "203.0.113.53/32");
        assert_eq!(dns.prefixes[1].vrf, None);
        assert_eq!(dns.prefixes[1].router, Router::frr("/usr/bin/vtysh"));
        assert_eq!(
            dns.checks[0],
            Check {
                name: "dns".into(),
                interval: Duration::from_secs(5),
                timeout: Duration::from_secs(1),
                probe: Probe::Cabourotte {
                    url: "http://127.0.0.1:9013".into(),
                    max_age: Some(Duration::from_secs(120)),
                },
            }
        );
        assert_eq!((dns.rise, dns.fall), (1, 1));
        let ntp = &c.services[1];
        assert_eq!(ntp.prefixes[0].vrf.as_deref(), Some("123"));
        assert_eq!(ntp.checks[1].interval, Duration::from_secs(1));
        assert_eq!(ntp.checks[1].timeout, Duration::from_secs(1));
        assert_eq!(c.global, Global::default());
    }

    #[test]
    fn services_keep_file_order() {
        let c = ok(r#"
[services.zeta]
prefixes.frrouting = ["203.0.113.1"]
checks.cabourotte = ["z"]
[services.alpha]
prefixes.frrouting = ["203.0.113.2"]
checks.cabourotte = ["a"]
"#);
        let names: Vec<_> = c.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
    }

    #[test]
    fn long_forms_and_new_keys() {
        let c = ok(r#"
[global]
vtysh_timeout = "2s"
reconcile_interval = 10
shutdown_timeout = "PT30S"
[services.web]
rise = 3
fall = 2
prefixes.frrouting = [{ prefix = "2001:DB8::/48", vtysh = "/opt/frr/vtysh", vrf = "default" }]
checks.cabourotte = [{ name = "web check", url = "http://[::1]:9013/", interval = "500ms", timeout = "200ms", max_age = 0 }]
"#);
        let s = &c.services[0];
        assert_eq!(s.prefixes[0].canonical(), "2001:db8::/48");
        assert_eq!(s.prefixes[0].vrf, None);
        assert_eq!(s.prefixes[0].router, Router::frr("/opt/frr/vtysh"));
        assert_eq!(s.checks[0].target(), "http://[::1]:9013");
        assert_eq!(s.checks[0].interval, Duration::from_millis(500));
        assert_eq!(s.checks[0].timeout, Duration::from_millis(200));
        assert!(matches!(
            s.checks[0].probe,
            Probe::Cabourotte { max_age: None, .. }
        ));
        assert_eq!((s.rise, s.fall), (3, 2));
        assert_eq!(c.global.vtysh_timeout, Duration::from_secs(2));
        assert_eq!(c.global.reconcile_interval, Duration::from_secs(10));
        assert_eq!(c.global.shutdown_timeout, Duration::from_secs(30));
    }

    #[test]
    fn default_timeout_never_exceeds_the_interval() {
        let c = ok(r#"
[services.s]
prefixes.frrouting = ["203.0.113.1"]
checks.cabourotte = [{ name = "c", interval = 0.25 }]
"#);
        assert_eq!(c.services[0].checks[0].timeout, Duration::from_millis(250));
    }

    #[test]
    fn deadlines_are_bounded() {
        let e = bad(r#"
[services.s]
prefixes.frrouting = ["203.0.113.1"]
checks.cabourotte = [{ name = "c", interval = "2h", timeout = "1h" }]
"#);
        assert_eq!(
            e.key.as_deref(),
            Some("services.s.checks.cabourotte[0].timeout")
        );
        assert!(
            e.to_string().contains("1h is too long: the maximum is 10s"),
            "{e}"
        );
        let e = bad("[global]\nvtysh_timeout = \"1h\"\n");
        assert_eq!(e.key.as_deref(), Some("global.vtysh_timeout"));
        assert!(e.to_string().contains("the maximum is 1m"), "{e}");
        let c = ok(r#"
[global]
vtysh_timeout = 60
[services.s]
prefixes.frrouting = ["203.0.113.1"]
checks.cabourotte = [{ name = "c", interval = 30, timeout = 10 }]
"#);
        assert_eq!(c.services[0].checks[0].timeout, MAX_TIMEOUT);
        assert_eq!(c.global.vtysh_timeout, MAX_VTYSH_TIMEOUT);
    }

    #[test]
    fn errors_name_key_path_and_position() {
        let e = bad(r#"
[services.dns]
prefixes.frrouting = ["203.0.113.53"]
checks.cabourotte = [{ name = "dns", interval = 0 }]
"#);
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert_eq!(
            e.key.as_deref(),
            Some("services.dns.checks.cabourotte[0].interval")
        );
        assert_eq!(e.position, Some((4, 49)));
        let shown = e.to_string();
        assert!(
            shown.starts_with(
                "t.toml:4:49: services.dns.checks.cabourotte[0].interval: must be greater than zero"
            ),
            "{shown}"
        );
    }

    #[test]
    fn host_bits_name_the_real_prefix() {
        let e = bad(r#"
[services.dns]
prefixes.frrouting = ["192.0.2.1/24"]
checks.cabourotte = ["dns"]
"#);
        assert_eq!(e.key.as_deref(), Some("services.dns.prefixes.frrouting[0]"));
        assert!(e.message.contains("192.0.2.0/24"), "{}", e.message);
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = bad("[services.dns\n");
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(e.position.is_some());
        assert!(e.message.starts_with("TOML syntax"), "{}", e.message);
    }
}
