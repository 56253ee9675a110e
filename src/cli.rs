//! The command line: lexopt in, a [`Command`] out, with the Python anycastd's environment
//! variables as fallbacks. Only syntax is checked here; the configuration is read later.

use crate::config::DEFAULT_PATH;
use crate::logging::{self, Format};
use log::LevelFilter;
use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
Usage: anycastd run [-c PATH] [--dry-run] [--log-level LEVEL] [--log-format FORMAT] [--no-color]
       anycastd check [-c PATH] [--frr] [--bird]
       anycastd status [-c PATH] [--json]
       anycastd withdraw [-c PATH]
       anycastd drain SERVICE... | --all [--reason TEXT] [-c PATH]
       anycastd undrain SERVICE... | --all [-c PATH]
       anycastd --version | --help

Announce anycast prefixes through FRR or BIRD while their health checks (Cabourotte,
command, http, tcp) pass.

Commands:
  run        run the daemon (withdraws every prefix on SIGTERM/SIGINT)
  check      validate the configuration and print what it says, without touching FRR
             or BIRD; with --frr or --bird also ask them whether they can do what the
             configuration needs
  status     explain the running daemon's decisions (exit 0 ok, 1 a service is down,
             2 FRR/BIRD differs from what health says, 3 the daemon is not running)
  withdraw   withdraw every prefix the configuration manages from FRR and BIRD,
             confirm, exit
  drain      take services out of the anycast group for maintenance: their prefixes are
             withdrawn and stay withdrawn, whatever their checks say, until undrain
             (kept across restarts; the running daemon acts within a second)
  undrain    put drained services back: announced again while their checks pass

Options:
  -c, --config PATH      configuration file [env: CONFIG] [default: /etc/anycastd/config.toml]
                         (--configuration is accepted too)
      --dry-run          (run) change nothing in FRR or BIRD: log the vtysh commands and
                         BIRD file changes instead
      --frr              (check) also check FRR: instances, ASNs, import check, policy
      --bird             (check) also check BIRD: birdc reaches it, the include, exports
      --json             (status) print the state as JSON
      --all              (drain, undrain) every service of the configuration
      --reason TEXT      (drain) why, shown by status and in the logs
      --log-level LEVEL  debug, info, warning or error [env: LOG_LEVEL] [default: info]
      --log-format FMT   human, json or logfmt [env: LOG_FORMAT]
                         [default: human on a terminal, json otherwise]
      --no-color         no colors in human logs [env: NO_COLOR]
  -h, --help             print this help
  -V, --version          print the version

Exit status: 0 ok, 2 usage, 65 invalid configuration, 66 configuration not readable,
69 prefixes may remain announced after stopping, 70 internal error, 74 I/O error.
See anycastd(8) and anycastd.toml(5).";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Options),
    Check(Options),
    Withdraw(Options),
    Status(Options),
    Drain(Options),
    Undrain(Options),
    Help,
    Version,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub config: PathBuf,
    pub log_level: LevelFilter,
    /// `None`: decide from whether stdout is a terminal.
    pub log_format: Option<Format>,
    pub no_color: bool,
    pub dry_run: bool,
    pub frr: bool,
    /// `check --bird`: also ask BIRD.
    pub bird: bool,
    pub json: bool,
    /// drain, undrain: the services named, or every one (`--all`).
    pub services: Vec<String>,
    pub all: bool,
    /// drain: `--reason`.
    pub reason: Option<String>,
}

/// A usage error, with the text to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

/// The environment, passed in so that parsing is testable.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

pub fn parse(args: Vec<OsString>, env: &dyn Env) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let err = |e: lexopt::Error| UsageError(e.to_string());
    let mut p = lexopt::Parser::from_args(args);
    let mut command: Option<String> = None;
    let mut config: Option<PathBuf> = None;
    let mut level: Option<String> = None;
    let mut format: Option<String> = None;
    let mut no_color = false;
    let mut dry_run = false;
    let mut frr = false;
    let mut bird = false;
    let mut json = false;
    let mut all = false;
    let mut reason: Option<String> = None;
    let mut services: Vec<String> = Vec::new();
    while let Some(arg) = p.next().map_err(err)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Short('c') | Long("config") | Long("configuration") => {
                config = Some(p.value().map_err(err)?.into());
            }
            Long("log-level") => level = Some(p.value().map_err(err)?.string().map_err(err)?),
            Long("log-format") => format = Some(p.value().map_err(err)?.string().map_err(err)?),
            Long("no-color") => no_color = true,
            Long("dry-run") => dry_run = true,
            Long("frr") => frr = true,
            Long("bird") => bird = true,
            Long("json") => json = true,
            Long("all") => all = true,
            Long("reason") => reason = Some(p.value().map_err(err)?.string().map_err(err)?),
            Value(v) if command.is_none() => command = Some(v.string().map_err(err)?),
            Value(v) if matches!(command.as_deref(), Some("drain" | "undrain")) => {
                services.push(v.string().map_err(err)?);
            }
            other => return Err(UsageError(other.unexpected().to_string())),
        }
    }
    let from_env = |flag: Option<String>, var: &str| {
        flag.map(|v| (v, None))
            .or_else(|| env.var(var).map(|v| (v, Some(var.to_string()))))
    };
    let log_level = match from_env(level, "LOG_LEVEL") {
        None => LevelFilter::Info,
        Some((v, src)) => logging::parse_level(&v).ok_or_else(|| {
            UsageError(format!(
                "invalid log level {v:?}{}: expected debug, info, warning or error",
                src.map(|s| format!(" (from {s})")).unwrap_or_default()
            ))
        })?,
    };
    let log_format = match from_env(format, "LOG_FORMAT") {
        None => None,
        Some((v, src)) => Some(Format::parse(&v).ok_or_else(|| {
            UsageError(format!(
                "invalid log format {v:?}{}: expected human, json or logfmt",
                src.map(|s| format!(" (from {s})")).unwrap_or_default()
            ))
        })?),
    };
    let config = config
        .or_else(|| env.var("CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    let opts = Options {
        config,
        log_level,
        log_format,
        no_color: no_color || env.var("NO_COLOR").is_some(),
        dry_run,
        frr,
        bird,
        json,
        services,
        all,
        reason,
    };
    let draining = matches!(command.as_deref(), Some("drain" | "undrain"));
    if opts.all && !draining {
        return Err(UsageError(
            "--all only applies to drain and undrain".to_string(),
        ));
    }
    if opts.reason.is_some() && command.as_deref() != Some("drain") {
        return Err(UsageError("--reason only applies to drain".to_string()));
    }
    if draining && opts.all != opts.services.is_empty() {
        return Err(UsageError(format!(
            "{}: name the services, or give --all (not both)",
            command.as_deref().unwrap_or_default()
        )));
    }
    for (set, flag, cmd) in [
        (dry_run, "--dry-run", "run"),
        (frr, "--frr", "check"),
        (bird, "--bird", "check"),
        (json, "--json", "status"),
    ] {
        if set && command.as_deref() != Some(cmd) {
            return Err(UsageError(format!("{flag} only applies to {cmd}")));
        }
    }
    match command.as_deref() {
        Some("run") => Ok(Command::Run(opts)),
        Some("check") => Ok(Command::Check(opts)),
        Some("withdraw") => Ok(Command::Withdraw(opts)),
        Some("status") => Ok(Command::Status(opts)),
        Some("drain") => Ok(Command::Drain(opts)),
        Some("undrain") => Ok(Command::Undrain(opts)),
        Some(other) => Err(UsageError(format!(
            "unknown command {other:?}: expected run, check, status, withdraw, drain or undrain"
        ))),
        None => Err(UsageError(
            "missing command: expected run, check, status, withdraw, drain or undrain".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct FakeEnv(HashMap<&'static str, &'static str>);
    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|s| s.to_string())
        }
    }

    fn run(args: &[&str], env: &[(&'static str, &'static str)]) -> Result<Command, UsageError> {
        let args = args.iter().map(OsString::from).collect();
        parse(args, &FakeEnv(env.iter().cloned().collect()))
    }

    #[test]
    fn defaults() {
        assert_eq!(
            run(&["run"], &[]),
            Ok(Command::Run(Options {
                config: PathBuf::from("/etc/anycastd/config.toml"),
                log_level: LevelFilter::Info,
                log_format: None,
                no_color: false,
                dry_run: false,
                frr: false,
                bird: false,
                json: false,
                services: Vec::new(),
                all: false,
                reason: None,
            }))
        );
    }

    #[test]
    fn drain_and_undrain() {
        let Ok(Command::Drain(o)) = run(&["drain", "dns", "ntp", "--reason", "kernel"], &[]) else {
            panic!()
        };
        assert_eq!(o.services, ["dns", "ntp"]);
        assert_eq!(o.reason.as_deref(), Some("kernel"));
        let Ok(Command::Undrain(o)) = run(&["undrain", "--all", "-c", "/x.toml"], &[]) else {
            panic!()
        };
        assert!(o.all && o.services.is_empty());
        assert!(run(&["drain"], &[]).is_err());
        assert!(run(&["drain", "--all", "dns"], &[]).is_err());
        assert!(run(&["undrain", "dns", "--reason", "x"], &[]).is_err());
        assert!(run(&["run", "--all"], &[]).is_err());
    }

    #[test]
    fn flags_win_over_env() {
        let env = [
            ("CONFIG", "/env.toml"),
            ("LOG_LEVEL", "error"),
            ("LOG_FORMAT", "logfmt"),
            ("NO_COLOR", "1"),
        ];
        let Ok(Command::Run(o)) = run(&["run"], &env) else {
            panic!()
        };
        assert_eq!(o.config, PathBuf::from("/env.toml"));
        assert_eq!(o.log_level, LevelFilter::Error);
        assert_eq!(o.log_format, Some(Format::Logfmt));
        assert!(o.no_color);
        let Ok(Command::Run(o)) = run(
            &[
                "run",
                "--configuration",
                "/x.toml",
                "--log-level",
                "DEBUG",
                "--log-format=json",
            ],
            &env,
        ) else {
            panic!()
        };
        assert_eq!(o.config, PathBuf::from("/x.toml"));
        assert_eq!(o.log_level, LevelFilter::Debug);
        assert_eq!(o.log_format, Some(Format::Json));
        let Ok(Command::Check(o)) = run(&["check", "-c", "/y.toml"], &[]) else {
            panic!()
        };
        assert_eq!(o.config, PathBuf::from("/y.toml"));
    }

    #[test]
    fn usage_errors() {
        assert!(run(&[], &[]).is_err());
        assert!(run(&["start"], &[]).is_err());
        assert!(run(&["run", "--bogus"], &[]).is_err());
        assert!(run(&["run", "extra"], &[]).is_err());
        assert!(run(&["run", "-c"], &[]).is_err());
        let e = run(&["run"], &[("LOG_LEVEL", "loud")]).unwrap_err();
        assert!(e.0.contains("LOG_LEVEL"), "{}", e.0);
        assert!(run(&["run", "--log-format", "xml"], &[]).is_err());
        assert_eq!(run(&["-h"], &[]), Ok(Command::Help));
        assert_eq!(run(&["run", "--help"], &[]), Ok(Command::Help));
        assert_eq!(run(&["--version"], &[]), Ok(Command::Version));
    }
}
