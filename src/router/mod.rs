//! The routing-backend seam: what the loop needs of a routing daemon, whichever it is.
//!
//! The loop plans in one model for every daemon: what the daemon has of ours
//! ([`RunningConfig`]: per VRF the instance and its prefixes) and what is to change
//! ([`Changes`]). A [`Backend`] reads the first, applies the second and confirms, with
//! every program it runs going through a [`Call`] (the daemon's runner, its deadline and
//! its counters), so a backend never blocks the loop longer than `vtysh_timeout` and never
//! waits on a child of its own. FRR ([`frr`]: vtysh) and BIRD 2 ([`bird`]: an include file
//! and birdc) are the two; adding a third is a new file here and one arm in [`open`].

pub mod bird;
pub mod bird_check;
pub mod frr;

use crate::config::Router;
pub use crate::frr::{Changes, RunningConfig, Vrf};
use crate::vtysh::{self, Output, Runner};
use ipnetwork::IpNetwork;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why an exchange with a routing daemon failed: decides the retry and whether the
/// failure is logged again (once per change of kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The program (vtysh, birdc) could not be started.
    CannotRun,
    /// It ran past its deadline and was killed.
    TimedOut,
    /// A termination signal cut it short.
    Aborted,
    /// Our own temporary files could not be made or read.
    TempFile,
    /// Its answer was larger than we accept.
    CutOff,
    /// The routing daemon does not answer (down, socket missing).
    Unreachable,
    /// Reading what it has failed for another reason.
    ReadFailed,
    /// Its answer is not understood.
    NotUnderstood,
    /// It refused one change (FRR, per `network` line): the others are tried alone.
    Rejected,
    /// It refused the whole new configuration (BIRD's `configure`): nothing to isolate.
    Refused,
    /// A prefix to withdraw was already gone.
    AlreadyGone,
    /// Another session holds its configuration lock.
    Busy,
    /// Its configuration lacks what anycastd's prefixes need (BIRD: the include).
    NotConfigured,
    /// A file anycastd owns could not be written.
    FileWrite,
}

impl FaultKind {
    /// The daemon refused the change, or anycastd could not write its part: the backend
    /// may have withdrawn another way (BIRD: `disable`), the next read tells.
    pub fn may_have_withdrawn(self) -> bool {
        matches!(self, FaultKind::Refused | FaultKind::FileWrite)
    }
}

/// A failure talking to one routing daemon instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub detail: String,
}

impl Fault {
    pub fn new(kind: FaultKind, detail: impl Into<String>) -> Fault {
        Fault {
            kind,
            detail: detail.into(),
        }
    }
}

/// What one instance's exchanges cost, for status and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub calls: u64,
    pub failures: u64,
    pub seconds: f64,
}

/// Running programs for one backend operation: the daemon's runner, stopped by a
/// termination signal, counted, and all of them together within one deadline (one
/// operation may run several: BIRD's configure, then disable).
pub struct Call<'a> {
    pub runner: &'a mut dyn Runner,
    /// When the operation must be over.
    pub until: Instant,
    pub abort: &'a dyn Fn() -> bool,
    pub stats: &'a mut Stats,
    /// `run --dry-run`: a backend changes nothing it owns (files) either.
    pub dry_run: bool,
}

/// A call that cannot start cannot confirm anything either: at least this much.
const MIN_CALL: Duration = Duration::from_millis(100);

impl Call<'_> {
    pub fn run(&mut self, program: &Path, args: &[String]) -> Result<Output, vtysh::Error> {
        let started = Instant::now();
        let timeout = self.until.saturating_duration_since(started).max(MIN_CALL);
        let result = self.runner.run(program, args, timeout, self.abort);
        self.stats.calls += 1;
        self.stats.seconds += started.elapsed().as_secs_f64();
        if !result.as_ref().is_ok_and(Output::success) {
            self.stats.failures += 1;
        }
        result
    }
}

/// The runner's own failures, the same for every program.
pub fn process_fault(e: vtysh::Error) -> Fault {
    let kind = match e {
        vtysh::Error::Spawn(..) => FaultKind::CannotRun,
        vtysh::Error::Timeout(_) => FaultKind::TimedOut,
        vtysh::Error::Aborted => FaultKind::Aborted,
        vtysh::Error::Io(_) => FaultKind::TempFile,
        // Never parsed: a cut-off answer reads as fewer prefixes.
        vtysh::Error::Truncated(_) => FaultKind::CutOff,
    };
    Fault::new(kind, e.to_string())
}

/// One routing daemon instance, as the loop sees it.
pub trait Backend {
    /// The daemon's name in logs: `FRR`, `BIRD`.
    fn name(&self) -> &'static str;
    /// How a fault of this kind reads in a log line (`FRR via …: <this>; retrying`).
    fn fault_text(&self, kind: FaultKind) -> &'static str;
    /// Whether announcements can go out through route-maps (`route_map`,
    /// `drain_route_map`); a backend without them holds a prefix unchanged in a drain time.
    fn route_maps(&self) -> bool {
        false
    }
    /// What the daemon has now of the prefixes in `ours` (everything this configuration may
    /// have announced through it); a backend that owns its whole file also repairs there
    /// what is not ours. The instances (VRFs) it has, with their prefixes.
    fn read(
        &mut self,
        call: &mut Call<'_>,
        ours: &BTreeSet<(Vrf, IpNetwork)>,
    ) -> Result<RunningConfig, Fault>;
    /// Apply `changes` (planned against `running`, the last read plus what was applied
    /// since). `Ok`: all of it is in effect. A fault of kind [`FaultKind::Refused`] may
    /// still have withdrawn (the next read tells).
    fn apply(
        &mut self,
        call: &mut Call<'_>,
        running: &RunningConfig,
        changes: &Changes,
    ) -> Result<(), Fault>;
    /// The dry run's line: what `apply` would do, without doing it.
    fn describe(&self, running: &RunningConfig, changes: &Changes) -> Option<String>;
    /// Which of `keys` (all present) the daemon really advertises; `None`: unknown (or
    /// not a question this daemon answers).
    fn advertised(
        &mut self,
        _call: &mut Call<'_>,
        _keys: &[&(Vrf, IpNetwork)],
    ) -> Result<Option<Vec<bool>>, Fault> {
        Ok(None)
    }
    /// The daemon cannot be read (or did not confirm) while everything is being withdrawn
    /// (stop, `anycastd withdraw`): take `ours` out of what it would read at its next start
    /// (BIRD: the include file), so that nothing comes back by itself. FRR keeps nothing of
    /// ours across a restart: nothing to do.
    fn forget(&mut self, _call: &mut Call<'_>, _ours: &BTreeSet<(Vrf, IpNetwork)>) {}
    /// A count of repairs the backend made on its own (BIRD: its include file rewritten);
    /// taken, so each is counted once.
    fn take_repairs(&mut self) -> u64 {
        0
    }
}

/// The backend for one configured instance: the one place that chooses by daemon.
pub fn open(router: &Router) -> Box<dyn Backend> {
    match router {
        Router::Frr { vtysh } => Box::new(frr::Frr::new(vtysh)),
        Router::Bird {
            birdc,
            socket,
            file,
        } => Box::new(bird::Bird::new(birdc, socket, file)),
    }
}

/// The args of one program call: `["-c", "x", …]` from `["x", …]`.
pub fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}
