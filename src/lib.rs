//! anycastd: announce anycast service prefixes through FRR exactly while the services
//! behind them are healthy.
//!
//! `main` calls [`main`] here; the modules are public so that tests reach the pure core.
#![forbid(unsafe_code)]

pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod drain;
pub mod duration;
pub mod frr;
pub mod lock;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod preflight;
#[cfg(test)]
mod proptests;
pub mod reconcile;
pub mod reload;
pub mod router;
pub mod schedule;
pub mod service;
pub mod signals;
pub mod state;
pub mod status;
pub mod summary;
pub mod vtysh;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::time::Instant;

/// Exit codes: BSD sysexits, as the Python anycastd.
pub mod exit {
    pub const OK: u8 = 0;
    pub const USAGE: u8 = 2;
    pub const DATAERR: u8 = 65;
    pub const NOINPUT: u8 = 66;
    /// Another daemon already runs with the same state file.
    pub const CANTCREAT: u8 = 73;
    /// Stopped, but FRR did not confirm that every prefix was withdrawn.
    pub const UNAVAILABLE: u8 = 69;
    pub const SOFTWARE: u8 = 70;
    pub const IOERR: u8 = 74;
}

pub fn main(args: Vec<OsString>) -> u8 {
    let command = match cli::parse(args, &cli::ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("anycastd: {}\nTry 'anycastd --help'.", e.0);
            return exit::USAGE;
        }
    };
    match command {
        cli::Command::Help => {
            println!("{}", cli::USAGE);
            exit::OK
        }
        cli::Command::Version => {
            println!("anycastd {}", env!("CARGO_PKG_VERSION"));
            exit::OK
        }
        cli::Command::Check(o) => match load(&o) {
            Ok(c) => {
                print!("{}", summary::describe(&c));
                let mut code = exit::OK;
                if o.frr {
                    println!();
                    code = code.max(preflight::run(&c, &mut vtysh::Process));
                }
                if o.bird {
                    println!();
                    code = code.max(router::bird_check::run(&c, &mut vtysh::Process));
                }
                code
            }
            Err(code) => code,
        },
        cli::Command::Status(o) => {
            // The state file's place comes from the configuration; without a readable
            // one, the default place is still worth a look.
            let path = match config::load(&absolute(&o)) {
                Ok(c) => c.global.state_file,
                Err(_) => Some(std::path::PathBuf::from(state::DEFAULT_PATH)),
            };
            match path {
                Some(p) => status::run(&p, o.json),
                None => {
                    println!(
                        "UNKNOWN: the configuration turns the state file off (global.state_file = \"\")"
                    );
                    state::Verdict::Unknown as u8
                }
            }
        }
        cli::Command::Drain(o) => drain_command(&o, true),
        cli::Command::Undrain(o) => drain_command(&o, false),
        cli::Command::Run(o) => run(&o, Mode::Run),
        cli::Command::Withdraw(o) => run(&o, Mode::Withdraw),
    }
}

/// `anycastd drain` and `anycastd undrain`.
fn drain_command(o: &cli::Options, drain: bool) -> u8 {
    let c = match load(o) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let known: Vec<String> = c.services.iter().map(|s| s.name.clone()).collect();
    let running = c.global.state_file.as_deref().and_then(lock::held);
    let reason = o.reason.as_deref().unwrap_or("");
    match drain::command(
        &c.global.drain_file,
        &known,
        &o.services,
        o.all,
        drain.then_some(reason),
        running,
    ) {
        Ok(text) => {
            print!("{text}");
            exit::OK
        }
        Err(e) => {
            eprintln!("anycastd: {e}");
            if e.starts_with("unknown service") {
                exit::USAGE
            } else {
                exit::CANTCREAT
            }
        }
    }
}

fn absolute(o: &cli::Options) -> std::path::PathBuf {
    std::path::absolute(&o.config).unwrap_or_else(|_| o.config.clone())
}

fn load(o: &cli::Options) -> Result<config::Config, u8> {
    config::load(&absolute(o)).map_err(|e| {
        match e.kind {
            config::ErrorKind::Invalid => eprintln!("anycastd: invalid configuration: {e}"),
            _ => eprintln!("anycastd: cannot read the configuration: {e}"),
        }
        match e.kind {
            config::ErrorKind::NoInput => exit::NOINPUT,
            config::ErrorKind::Io => exit::IOERR,
            config::ErrorKind::Invalid => exit::DATAERR,
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Run,
    Withdraw,
}

fn run(o: &cli::Options, mode: Mode) -> u8 {
    let tty = std::io::stdout().is_terminal();
    let format = o.log_format.unwrap_or(if tty {
        logging::Format::Human
    } else {
        logging::Format::Json
    });
    logging::init(o.log_level, format, tty && !o.no_color);
    let path = absolute(o);
    log::info!(config_path = path.display().to_string().as_str(); "Reading configuration from {}.", path.display());
    let config = match (load(o), mode) {
        (Ok(c), _) => c,
        // A crash after a bad edit must still be cleaned up: withdraw what the last run
        // recorded in its state file.
        (Err(code), Mode::Withdraw) => match recorded_config(&path) {
            Some(c) => c,
            None => return code,
        },
        (Err(code), Mode::Run) => return code,
    };
    let mut signals = match signals::Signals::install() {
        Ok(s) => s,
        Err(e) => {
            log::error!("Cannot install signal handlers: {e}");
            return exit::SOFTWARE;
        }
    };
    let mut prober = check::Checker::new(
        &config
            .services
            .iter()
            .flat_map(|s| s.checks.iter().cloned())
            .collect::<Vec<_>>(),
        config.global.max_running_checks,
    );
    let mut runner = vtysh::Process;
    let mut system = RealSystem {
        signals: &mut signals,
    };
    let notifier = match mode {
        Mode::Run => notify::Notifier::from_env(),
        Mode::Withdraw => notify::Notifier::disabled(),
    };
    // One daemon per state file. Holding the lock also proves that whoever wrote a state
    // file still there is gone, whatever PID it names.
    let state_path = config
        .global
        .state_file
        .as_deref()
        .and_then(|p| state::effective_path(p, o.dry_run));
    let _lock = match (mode, &state_path) {
        (Mode::Run, Some(p)) => match lock::acquire(p) {
            Ok(l) => Some(l),
            Err(e) => {
                log::error!(state_file = p.display().to_string().as_str(); "Cannot start: {e}.");
                return exit::CANTCREAT;
            }
        },
        _ => None,
    };
    // A state file still there means the previous run did not stop cleanly (it crashed,
    // or could not confirm its withdrawals): what it may have announced and this
    // configuration no longer lists must not stay announced.
    let recorded = config
        .global
        .state_file
        .as_deref()
        .and_then(|p| state::read(p).ok());
    let left_behind: Vec<config::Prefix> =
        recorded.as_ref().map(|s| s.prefixes()).unwrap_or_default();
    let mut daemon = daemon::Daemon::new(config, &mut prober, &mut runner, &mut system)
        .retire(&left_behind)
        .dry_run(o.dry_run)
        .notifier(notifier);
    let exit = match mode {
        Mode::Run => daemon.run(),
        Mode::Withdraw => daemon.withdraw_everything(),
    };
    drop(daemon);
    match exit {
        daemon::Exit::Clean => {
            if mode == Mode::Withdraw {
                settle_record(state_path.as_deref(), recorded.as_ref());
            }
            exit::OK
        }
        daemon::Exit::Unconfirmed(_) => exit::UNAVAILABLE,
    }
}

/// After `withdraw` confirmed everything: a crash record left by a daemon that is gone
/// has been acted on, so it goes (a running daemon's state file is never touched).
fn settle_record(path: Option<&std::path::Path>, recorded: Option<&state::Snapshot>) {
    let (Some(path), Some(_)) = (path, recorded) else {
        return;
    };
    if lock::held(path) == Some(false) && std::fs::remove_file(path).is_ok() {
        log::info!(
            state_file = path.display().to_string().as_str();
            "Removed the state file {} left by a stopped daemon: everything it recorded is withdrawn.",
            path.display()
        );
    }
}

/// For `withdraw` without a usable configuration: the prefixes the last run recorded in
/// the default state file, as a configuration that only lists them.
fn recorded_config(config_path: &std::path::Path) -> Option<config::Config> {
    let state_path = std::path::Path::new(state::DEFAULT_PATH);
    let prefixes = state::read(state_path).ok()?.prefixes();
    if prefixes.is_empty() {
        return None;
    }
    log::warn!(
        state_file = state::DEFAULT_PATH;
        "The configuration cannot be used; withdrawing the prefixes the last run recorded in {}.",
        state_path.display()
    );
    Some(config::Config {
        path: config_path.to_path_buf(),
        global: config::Global::default(),
        services: vec![config::Service {
            name: "recorded".to_string(),
            prefixes,
            checks: Vec::new(),
            rise: 1,
            fall: 1,
        }],
    })
}

/// The real clock and signals.
struct RealSystem<'a> {
    signals: &'a mut signals::Signals,
}

impl daemon::System for RealSystem<'_> {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wall(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }
    fn wait(&mut self, until: Option<Instant>, fds: &[std::os::fd::BorrowedFd<'_>]) {
        self.signals.wait(until, fds);
    }
    fn take_signal(&mut self) -> Option<signals::Signal> {
        self.signals.take()
    }
    fn termination_pending(&self) -> bool {
        self.signals.termination_pending()
    }
    fn take_child(&mut self) -> bool {
        self.signals.take_child()
    }
}
