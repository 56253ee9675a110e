//! The configuration file: TOML text in, a validated [`Config`] or one [`ConfigError`] out.
//!
//! The schema is the Python anycastd's (services → `prefixes.frrouting`, `checks.cabourotte`,
//! short and long forms), read strictly: every unknown key, wrong type or impossible value
//! is an error that names the file, the key path (`services.dns.checks.cabourotte[0].interval`),
//! the line and column, what was wrong and what is accepted. We walk TOML's spanned document
//! by hand instead of deriving serde structs, because that is what lets every message carry
//! the exact key path and position. Nothing here does I/O except [`load`] reading the file.

use crate::duration;
use ipnetwork::IpNetwork;
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub const DEFAULT_PATH: &str = "/etc/anycastd/config.toml";
pub const DEFAULT_VTYSH: &str = "/usr/bin/vtysh";
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
/// FRR's VRF_NAMSIZ is 36 bytes including the NUL.
const MAX_VRF_LEN: usize = 35;
const MAX_RISE_FALL: i64 = 1000;
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
];
pub const SERVICE_KEYS: &[&str] = &["prefixes", "checks", "rise", "fall"];
pub const PREFIX_TYPES: &[&str] = &["frrouting"];
pub const CHECK_TYPES: &[&str] = &["cabourotte"];
pub const PREFIX_KEYS: &[&str] = &["prefix", "vrf", "vtysh"];
pub const CHECK_KEYS: &[&str] = &["name", "url", "interval", "timeout", "max_age"];

/// Every key name of the schema.
pub fn all_keys() -> Vec<&'static str> {
    [
        TOP_KEYS,
        GLOBAL_KEYS,
        SERVICE_KEYS,
        PREFIX_TYPES,
        CHECK_TYPES,
        PREFIX_KEYS,
        CHECK_KEYS,
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
}

impl Default for Global {
    fn default() -> Self {
        Global {
            vtysh_timeout: DEFAULT_VTYSH_TIMEOUT,
            reconcile_interval: DEFAULT_RECONCILE_INTERVAL,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            state_file: Some(PathBuf::from(crate::state::DEFAULT_PATH)),
            metrics_file: None,
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

/// One prefix announced through one FRR instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    /// Canonical: no host bits, always with a length.
    pub network: IpNetwork,
    /// `None` is FRR's default VRF.
    pub vrf: Option<String>,
    /// The vtysh program that reaches this FRR instance.
    pub vtysh: PathBuf,
}

impl Prefix {
    /// The text FRR prints in its running config: `203.0.113.53/32`, `2001:db8::53/128`.
    pub fn canonical(&self) -> String {
        canonical(&self.network)
    }
}

pub fn canonical(net: &IpNetwork) -> String {
    format!("{}/{}", net.network(), net.prefix())
}

/// A Cabourotte health check.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Check {
    pub name: String,
    /// Base URL without a trailing slash.
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// `None`: results are never too old.
    pub max_age: Option<Duration>,
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

/// One validation pass over one text: every error is built here so that each carries
/// the file, key path and position the same way.
struct Ctx<'a> {
    text: &'a str,
    path: &'a Path,
}

type Res<T> = Result<T, ConfigError>;

impl Ctx<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col_bytes(self.text.as_bytes(), offset)
    }

    fn err(&self, key: &str, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: self.path.to_path_buf(),
            kind: ErrorKind::Invalid,
            key: (!key.is_empty()).then(|| key.to_string()),
            position: Some(self.line_col(span.start)),
            message: message.into(),
        }
    }

    fn table<'v, 'i>(&self, key: &str, v: &'v Spanned<DeValue<'i>>) -> Res<&'v DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Ok(t),
            DeValue::Array(a) if a.iter().all(|e| e.get_ref().is_table()) && !a.is_empty() => {
                Err(self.err(
                    key,
                    v.span(),
                    format!(
                        "must be a table, found an array of tables: write [{key}], not [[{key}]]"
                    ),
                ))
            }
            other => Err(self.err(
                key,
                v.span(),
                format!("must be a table, found {}", describe(other)),
            )),
        }
    }

    /// Reject every key not in `allowed`, naming the ones that are.
    fn known_keys(&self, key: &str, t: &DeTable<'_>, allowed: &[&str]) -> Res<()> {
        for k in t.keys() {
            if !allowed.contains(&k.get_ref().as_ref()) {
                let list = allowed
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(self.err(
                    &join(key, k.get_ref()),
                    k.span(),
                    format!("unknown key; accepted here: {list}"),
                ));
            }
        }
        Ok(())
    }

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
        let services = entries
            .into_iter()
            .map(|(name, v)| self.service(name.get_ref(), v))
            .collect::<Res<Vec<_>>>()?;
        Ok(Config {
            path: self.path.to_path_buf(),
            global,
            services,
        })
    }

    fn global(&self, v: &Spanned<DeValue<'_>>) -> Res<Global> {
        let t = self.table("global", v)?;
        self.known_keys("global", t, GLOBAL_KEYS)?;
        let mut g = Global::default();
        let fields: [(&str, &mut Duration); 3] = [
            ("vtysh_timeout", &mut g.vtysh_timeout),
            ("reconcile_interval", &mut g.reconcile_interval),
            ("shutdown_timeout", &mut g.shutdown_timeout),
        ];
        for (name, slot) in fields {
            if let Some(v) = t.get(name) {
                let min = if name == "shutdown_timeout" {
                    MIN_SHUTDOWN_TIMEOUT
                } else {
                    MIN_INTERVAL
                };
                let key = format!("global.{name}");
                *slot = self.positive_duration(&key, v, min)?;
                if name == "vtysh_timeout" {
                    self.at_most(&key, v, *slot, MAX_VTYSH_TIMEOUT)?;
                }
            }
        }
        for name in ["state_file", "metrics_file"] {
            let Some(v) = t.get(name) else { continue };
            let key = format!("global.{name}");
            let text = self.string(&key, v)?;
            let path = match text {
                "" => None,
                p if p.starts_with('/')
                    && !p.ends_with('/')
                    && !p.chars().any(char::is_control) =>
                {
                    Some(PathBuf::from(p))
                }
                p => {
                    return Err(self.err(
                        &key,
                        v.span(),
                        format!("{p:?}: must be an absolute file path, or \"\" to turn it off"),
                    ));
                }
            };
            if name == "state_file" {
                g.state_file = path;
            } else {
                g.metrics_file = path;
            }
        }
        Ok(g)
    }

    fn service(&self, name: &str, v: &Spanned<DeValue<'_>>) -> Res<Service> {
        let key = format!("services.{}", key_part(name));
        let t = self.table(&key, v)?;
        if name.trim().is_empty() {
            return Err(self.err(&key, v.span(), "a service name must not be empty"));
        }
        if name.chars().any(char::is_control) {
            return Err(self.err(
                &key,
                v.span(),
                "a service name must not contain control characters (it appears in logs)",
            ));
        }
        self.known_keys(&key, t, SERVICE_KEYS)?;
        let prefixes = self.prefixes(&key, t, v.span())?;
        let checks = self.checks(&key, t, v.span())?;
        let rise = self.count(&format!("{key}.rise"), t.get("rise"))?;
        let fall = self.count(&format!("{key}.fall"), t.get("fall"))?;
        Ok(Service {
            name: name.to_string(),
            prefixes,
            checks,
            rise,
            fall,
        })
    }

    /// `rise` / `fall`: a small positive integer, 1 when absent.
    fn count(&self, key: &str, v: Option<&Spanned<DeValue<'_>>>) -> Res<u32> {
        let Some(v) = v else { return Ok(1) };
        match v.get_ref() {
            DeValue::Integer(i) => {
                let n = i64::from_str_radix(i.as_str(), i.radix()).ok();
                match n {
                    Some(n) if (1..=MAX_RISE_FALL).contains(&n) => Ok(n as u32),
                    _ => Err(self.err(
                        key,
                        v.span(),
                        format!("must be an integer from 1 to {MAX_RISE_FALL}, got {i}"),
                    )),
                }
            }
            other => Err(self.err(
                key,
                v.span(),
                format!(
                    "must be an integer from 1 to {MAX_RISE_FALL}, found {}",
                    describe(other)
                ),
            )),
        }
    }

    /// The entries of `<service>.<section>.<type>`: only `known_type` exists today.
    fn entries<'v, 'i>(
        &self,
        svc_key: &str,
        svc: &'v DeTable<'i>,
        svc_span: Range<usize>,
        section: &str,
        known_type: &str,
    ) -> Res<(String, &'v Spanned<DeValue<'i>>)> {
        let key = format!("{svc_key}.{section}");
        let Some(v) = svc.get(section) else {
            return Err(self.err(
                &key,
                svc_span,
                format!("missing: every service needs `{section}.{known_type} = [...]`"),
            ));
        };
        let t = self.table(&key, v)?;
        for k in t.keys() {
            if k.get_ref() != known_type {
                return Err(self.err(
                    &join(&key, k.get_ref()),
                    k.span(),
                    format!(
                        "unknown {} type {:?}; accepted: {known_type}",
                        if section == "prefixes" {
                            "prefix"
                        } else {
                            "check"
                        },
                        k.get_ref().as_ref()
                    ),
                ));
            }
        }
        let key = format!("{key}.{known_type}");
        let Some(list) = t.get(known_type) else {
            return Err(self.err(
                &key,
                v.span(),
                format!(
                    "missing: every service needs at least one entry in `{section}.{known_type}`"
                ),
            ));
        };
        Ok((key, list))
    }

    fn array<'v, 'i>(
        &self,
        key: &str,
        v: &'v Spanned<DeValue<'i>>,
        what: &str,
    ) -> Res<&'v [Spanned<DeValue<'i>>]> {
        match v.get_ref() {
            DeValue::Array(a) if a.is_empty() => {
                Err(self.err(key, v.span(), format!("is empty: list at least one {what}")))
            }
            DeValue::Array(a) => Ok(a),
            other => Err(self.err(
                key,
                v.span(),
                format!("must be an array of {what}s, found {}", describe(other)),
            )),
        }
    }

    fn prefixes(&self, svc_key: &str, svc: &DeTable<'_>, span: Range<usize>) -> Res<Vec<Prefix>> {
        let (key, list) = self.entries(svc_key, svc, span, "prefixes", PREFIX_TYPES[0])?;
        let mut out: Vec<Prefix> = Vec::new();
        for (i, item) in self.array(&key, list, "prefix")?.iter().enumerate() {
            let key = format!("{key}[{i}]");
            let p = self.prefix(&key, item)?;
            if out.contains(&p) {
                return Err(self.err(
                    &key,
                    item.span(),
                    format!("{} is listed twice in this service", p.canonical()),
                ));
            }
            out.push(p);
        }
        Ok(out)
    }

    fn prefix(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<Prefix> {
        let mut vrf = None;
        let mut vtysh = PathBuf::from(DEFAULT_VTYSH);
        let prefix_v = match v.get_ref() {
            DeValue::String(_) => v,
            DeValue::Table(t) => {
                self.known_keys(key, t, PREFIX_KEYS)?;
                if let Some(vv) = t.get("vrf") {
                    vrf = self.vrf(&format!("{key}.vrf"), vv)?;
                }
                if let Some(pv) = t.get("vtysh") {
                    let s = self.string(&format!("{key}.vtysh"), pv)?;
                    if !s.starts_with('/') || s.chars().any(char::is_control) {
                        return Err(self.err(
                            &format!("{key}.vtysh"),
                            pv.span(),
                            format!(
                                "{s:?} is not an absolute path: must be the path of the vtysh program, e.g. \"/usr/bin/vtysh\" (a wrapper script may add options such as -N)"
                            ),
                        ));
                    }
                    vtysh = PathBuf::from(s);
                }
                t.get("prefix").ok_or_else(|| {
                    self.err(
                        &format!("{key}.prefix"),
                        v.span(),
                        "missing: the long form needs `prefix = \"<address or prefix>\"`",
                    )
                })?
            }
            other => {
                return Err(self.err(
                    key,
                    v.span(),
                    format!(
                        "must be a string (\"203.0.113.53\") or a table ({{ prefix = \"203.0.113.53\", vrf = \"blue\" }}), found {}",
                        describe(other)
                    ),
                ));
            }
        };
        let pkey = if std::ptr::eq(prefix_v, v) {
            key.to_string()
        } else {
            format!("{key}.prefix")
        };
        let text = self.string(&pkey, prefix_v)?;
        let network = parse_prefix(text).map_err(|m| self.err(&pkey, prefix_v.span(), m))?;
        Ok(Prefix {
            network,
            vrf,
            vtysh,
        })
    }

    fn vrf(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<Option<String>> {
        let s = self.string(key, v)?;
        // The name goes into a vtysh command line: only what FRR accepts as a name.
        let ok = !s.is_empty()
            && s.len() <= MAX_VRF_LEN
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(self.err(
                key,
                v.span(),
                format!(
                    "invalid VRF name {s:?}: 1 to {MAX_VRF_LEN} characters from A-Z a-z 0-9 - _ ."
                ),
            ));
        }
        Ok((s != "default").then(|| s.to_string()))
    }

    fn checks(&self, svc_key: &str, svc: &DeTable<'_>, span: Range<usize>) -> Res<Vec<Check>> {
        let (key, list) = self.entries(svc_key, svc, span, "checks", CHECK_TYPES[0])?;
        let mut out: Vec<Check> = Vec::new();
        for (i, item) in self.array(&key, list, "check")?.iter().enumerate() {
            let key = format!("{key}[{i}]");
            let c = self.check(&key, item)?;
            if out.iter().any(|o| o.name == c.name && o.url == c.url) {
                return Err(self.err(
                    &key,
                    item.span(),
                    format!(
                        "check {:?} at {} is listed twice in this service",
                        c.name, c.url
                    ),
                ));
            }
            out.push(c);
        }
        Ok(out)
    }

    fn check(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<Check> {
        let mut url = DEFAULT_CABOUROTTE_URL.to_string();
        let mut interval = DEFAULT_INTERVAL;
        let mut timeout = None;
        let mut max_age = Some(DEFAULT_MAX_AGE);
        let (name_key, name_v) = match v.get_ref() {
            DeValue::String(_) => (key.to_string(), v),
            DeValue::Table(t) => {
                self.known_keys(key, t, CHECK_KEYS)?;
                if let Some(uv) = t.get("url") {
                    let k = format!("{key}.url");
                    url =
                        parse_url(self.string(&k, uv)?).map_err(|m| self.err(&k, uv.span(), m))?;
                }
                if let Some(iv) = t.get("interval") {
                    interval =
                        self.positive_duration(&format!("{key}.interval"), iv, MIN_INTERVAL)?;
                }
                if let Some(tv) = t.get("timeout") {
                    let k = format!("{key}.timeout");
                    let d = self.positive_duration(&k, tv, MIN_TIMEOUT)?;
                    self.at_most(&k, tv, d, MAX_TIMEOUT)?;
                    if d > interval {
                        return Err(self.err(
                            &k,
                            tv.span(),
                            format!(
                                "{} is longer than the check's interval ({}): a poll must end before the next one is due",
                                duration::format(d),
                                duration::format(interval)
                            ),
                        ));
                    }
                    timeout = Some(d);
                }
                if let Some(mv) = t.get("max_age") {
                    let d = self.duration(&format!("{key}.max_age"), mv)?;
                    max_age = (!d.is_zero()).then_some(d);
                }
                let nv = t.get("name").ok_or_else(|| {
                    self.err(
                        &format!("{key}.name"),
                        v.span(),
                        "missing: the long form needs `name = \"<Cabourotte check name>\"`",
                    )
                })?;
                (format!("{key}.name"), nv)
            }
            other => {
                return Err(self.err(
                    key,
                    v.span(),
                    format!(
                        "must be a string (\"dns\") or a table ({{ name = \"dns\", interval = 5 }}), found {}",
                        describe(other)
                    ),
                ));
            }
        };
        let name = self.string(&name_key, name_v)?;
        if name.trim().is_empty() {
            return Err(self.err(&name_key, name_v.span(), "a check name must not be empty"));
        }
        if name.trim() != name || name.chars().any(char::is_control) || name == "." || name == ".."
        {
            return Err(self.err(
                &name_key,
                name_v.span(),
                format!(
                    "{name:?}: a check name with surrounding spaces, control characters, or one that is \".\" or \"..\" cannot be fetched from Cabourotte"
                ),
            ));
        }
        if name.contains('/') {
            return Err(self.err(
                &name_key,
                name_v.span(),
                format!(
                    "{name:?} contains '/': Cabourotte cannot serve such a check's result by name"
                ),
            ));
        }
        Ok(Check {
            name: name.to_string(),
            url,
            interval,
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT.min(interval)),
            max_age,
        })
    }

    fn string<'v>(&self, key: &str, v: &'v Spanned<DeValue<'_>>) -> Res<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Ok(s),
            other => Err(self.err(
                key,
                v.span(),
                format!("must be a string, found {}", describe(other)),
            )),
        }
    }

    /// A duration that may be zero (where zero means "off").
    fn duration(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<Duration> {
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) if n < 0 => Err(format!("must not be negative, got {n}")),
                Ok(n) => Ok(Duration::from_secs(n.unsigned_abs())),
                Err(_) => Err(format!("{i} is out of range")),
            },
            DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
                Ok(x) => duration::from_secs_f64(x),
                Err(_) => Err(format!("{f} is not a number of seconds")),
            },
            DeValue::String(s) => duration::parse(s),
            other => Err(format!("found {}", describe(other))),
        };
        match parsed {
            Ok(d) if d > duration::MAX => Err(self.err(
                key,
                v.span(),
                format!("{} is longer than the maximum of 24h", duration::format(d)),
            )),
            Ok(d) => Ok(d),
            Err(m) => Err(self.err(
                key,
                v.span(),
                format!("{m}; accepted: {}", duration::ACCEPTED),
            )),
        }
    }

    /// A duration of at least `min` (and never zero).
    fn positive_duration(
        &self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        min: Duration,
    ) -> Res<Duration> {
        let d = self.duration(key, v)?;
        if d.is_zero() {
            return Err(self.err(
                key,
                v.span(),
                format!(
                    "must be greater than zero; accepted: {}",
                    duration::ACCEPTED
                ),
            ));
        }
        if d < min {
            return Err(self.err(
                key,
                v.span(),
                format!(
                    "{} is too short: the minimum is {}",
                    duration::format(d),
                    duration::format(min)
                ),
            ));
        }
        Ok(d)
    }

    fn at_most(&self, key: &str, v: &Spanned<DeValue<'_>>, d: Duration, max: Duration) -> Res<()> {
        if d > max {
            return Err(self.err(
                key,
                v.span(),
                format!(
                    "{} is too long: the maximum is {} (nothing else runs while one call waits)",
                    duration::format(d),
                    duration::format(max)
                ),
            ));
        }
        Ok(())
    }
}

/// `203.0.113.53` → `/32`, `2001:db8::53` → `/128`; host bits set is an error (FRR would
/// silently store the network address instead, and nothing would match).
pub fn parse_prefix(text: &str) -> Result<IpNetwork, String> {
    let t = text.trim();
    if t != text || t.is_empty() {
        return Err(format!("{text:?} is not an IP address or prefix"));
    }
    let net: IpNetwork = t.parse().map_err(|_| {
        format!("{text:?} is not an IP address or prefix (like 203.0.113.53, 203.0.113.0/24 or 2001:db8::53)")
    })?;
    if let IpNetwork::V6(v6) = net {
        // fe80::/10: FRR answers "% Malformed prefix (link-local address)".
        if v6.ip().segments()[0] & 0xffc0 == 0xfe80 {
            return Err(format!(
                "{text:?} is an IPv6 link-local address, which BGP cannot announce (FRR refuses it)"
            ));
        }
    }
    if net.ip() != net.network() {
        return Err(format!(
            "{text:?} has host bits set; the prefix is {}",
            canonical(&IpNetwork::new(net.network(), net.prefix()).unwrap_or(net))
        ));
    }
    Ok(net)
}

/// A Cabourotte base URL: plain HTTP (Cabourotte's TLS always demands a client certificate,
/// which this daemon does not hold), a host, an optional port and path.
pub fn parse_url(text: &str) -> Result<String, String> {
    let accepted = "accepted: http://HOST[:PORT][/PATH], e.g. http://127.0.0.1:9013";
    let Some(rest) = text.strip_prefix("http://") else {
        if text.starts_with("https://") {
            return Err(format!(
                "{text:?}: https is not supported (Cabourotte's TLS requires a client certificate); {accepted}"
            ));
        }
        return Err(format!("{text:?} is not an http:// URL; {accepted}"));
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    let host = &rest[..host_end];
    let bad = |why: &str| Err(format!("{text:?}: {why}; {accepted}"));
    if host.is_empty() {
        return bad("no host");
    }
    if host.contains('@') {
        return bad("user information in the URL is not supported");
    }
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) if v6.parse::<std::net::Ipv6Addr>().is_ok() => match after {
                "" => (v6, None),
                p => match p.strip_prefix(':') {
                    Some(p) => (v6, Some(p)),
                    None => return bad("bad text after the IPv6 address"),
                },
            },
            _ => return bad("bad IPv6 address (write it as [2001:db8::1])"),
        },
        None => match host.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        },
    };
    if !host.starts_with('[')
        && (name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
    {
        return bad("bad host name");
    }
    if let Some(p) = port {
        let ok = !p.is_empty()
            && p.chars().all(|c| c.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|n| n != 0);
        if !ok {
            return bad("bad port (1 to 65535)");
        }
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains white space");
    }
    if rest.contains(['?', '#']) {
        return bad("a query or fragment makes no sense here");
    }
    Ok(text.trim_end_matches('/').to_string())
}

fn line_col_bytes(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

/// A key as TOML would write it in a dotted path.
fn key_part(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

fn join(parent: &str, k: &str) -> String {
    if parent.is_empty() {
        key_part(k)
    } else {
        format!("{parent}.{}", key_part(k))
    }
}

fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("the string {s:?}"),
        DeValue::Integer(i) => format!("the integer {i}"),
        DeValue::Float(f) => format!("the float {f}"),
        DeValue::Boolean(b) => format!("the boolean {b}"),
        DeValue::Datetime(d) => format!("the datetime {d}"),
        DeValue::Array(_) => "an array".to_string(),
        DeValue::Table(_) => "a table".to_string(),
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
        assert_eq!(dns.prefixes[1].vtysh, PathBuf::from("/usr/bin/vtysh"));
        assert_eq!(
            dns.checks[0],
            Check {
                name: "dns".into(),
                url: "http://127.0.0.1:9013".into(),
                interval: Duration::from_secs(5),
                timeout: Duration::from_secs(1),
                max_age: Some(Duration::from_secs(120)),
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
        assert_eq!(s.prefixes[0].vtysh, PathBuf::from("/opt/frr/vtysh"));
        assert_eq!(s.checks[0].url, "http://[::1]:9013");
        assert_eq!(s.checks[0].interval, Duration::from_millis(500));
        assert_eq!(s.checks[0].timeout, Duration::from_millis(200));
        assert_eq!(s.checks[0].max_age, None);
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

    #[test]
    fn parse_url_accepts_and_normalises() {
        assert_eq!(
            parse_url("http://127.0.0.1:9013/"),
            Ok("http://127.0.0.1:9013".into())
        );
        assert_eq!(
            parse_url("http://cabourotte.local/api/v1"),
            Ok("http://cabourotte.local/api/v1".into())
        );
        for bad in [
            "https://x",
            "ftp://x",
            "http://",
            "http://a:b@h",
            "http://h:99999",
            "http://h/?q",
            "http://[::1",
            "http://h:9013:9014",
            "http://::1:9013",
            "http://h:+9013",
            "http://h:0",
            "http://h%20:80",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col_bytes(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_col_bytes("é\nx".as_bytes(), 2), (1, 2));
    }
}
