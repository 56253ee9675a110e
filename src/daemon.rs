//! The loop that wires everything together: one thread, one timer heap, one owner of all
//! state.
//!
//! Each turn reads the clock once, runs what is due (poll a check, sync a routing daemon
//! instance), and sleeps until the next deadline or a signal. A check result goes to every
//! service that uses it; a change of health asks the service's instances for a sync; a
//! sync reads what the instance has, plans the difference and applies it through the
//! instance's [`Backend`] (FRR: one vtysh process; BIRD: its include file and birdc).
//! Every edge (clock and signals, checks, the programs run) is a trait, so the whole loop
//! runs in unit tests against fakes.

use crate::check::{Failure, Outcome, Prober};
use crate::config::{Check, Config, Router, canonical};
use crate::frr::{self, Changes, RunningConfig, Vrf, vrf_label};
use crate::reconcile::{self, Intent, Intents};
use crate::router::{Backend, Fault, FaultKind, Stats};
use crate::schedule::Schedule;
use crate::service::{Health, ServiceState, Transition};
use crate::signals::Signal;
use crate::vtysh::Runner;
use ipnetwork::IpNetwork;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Retry delays after an FRR failure double from this…
const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// …up to this: a vtysh call that fails costs a few milliseconds, and a bgpd that comes
/// back after a long outage should get its prefixes within about ten seconds.
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Pause between withdraw attempts during shutdown.
const SHUTDOWN_RETRY: Duration = Duration::from_millis(500);
/// An announcement that follows another applied change within this much (or within the
/// shortest interval of the service's checks, if shorter) waits for the rest of it: checks
/// are polled spread over their interval, so a thousand services turning healthy together
/// become two vtysh calls instead of dozens; one on its own goes at once.
const ANNOUNCE_BATCH: Duration = Duration::from_secs(1);
/// Withdrawals go at once, but no sooner than this after the previous health change was
/// applied: a burst of failures becomes a few vtysh calls, not one per service.
const APPLY_GAP: Duration = Duration::from_millis(100);
/// The state file and metrics are rewritten at most this often while only health
/// changes (and at once before a vtysh call that may announce what the file lacks).
const PUBLISH_GAP: Duration = Duration::from_millis(250);
/// What a stop may take beyond its own bound and the one call in flight, as told to the
/// service manager: the exit.
const STOP_MARGIN: Duration = Duration::from_secs(5);
/// At each reconcile the import check asks about every prefix whose answer is unknown or
/// bad, and about this many of the good ones, in turn.
const PROBE_ROTATION: usize = 100;
/// Tasks due within this much of now run in the same wake-up (a few ms early at most).
const TIMER_SLACK: Duration = Duration::from_millis(4);
/// How often the drain file is looked at (a `stat`): `anycastd drain` acts within this.
const DRAIN_WATCH: Duration = Duration::from_millis(500);
/// The first polls of the checks that share an interval are spread over at most
/// this much per check (and at most the interval), in configuration order.
const SPLAY_STEP: Duration = Duration::from_millis(1);

/// Time and signals: the part of the world the loop waits on.
pub trait System {
    fn now(&self) -> Instant;
    /// The wall clock, for the state file and metrics only (never for deadlines).
    fn wall(&self) -> SystemTime;
    /// Sleep until `until` (or forever), returning early when a signal arrives or one of
    /// `fds` is readable.
    fn wait(&mut self, until: Option<Instant>, fds: &[std::os::fd::BorrowedFd<'_>]);
    /// The pending signal, if any, cleared.
    fn take_signal(&mut self) -> Option<Signal>;
    /// A termination signal arrived and was not taken yet.
    fn termination_pending(&self) -> bool;
    /// A child process ended since the last call (SIGCHLD).
    fn take_child(&mut self) -> bool {
        false
    }
}

/// How the daemon ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Every managed prefix is confirmed withdrawn.
    Clean,
    /// FRR did not confirm in time, or a second signal cut the teardown short: these
    /// (vtysh, vrf, prefix) may still be announced (`None`: FRR could not be read).
    Unconfirmed(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    Poll(usize),
    /// Read FRR, plan the whole difference, apply it (startup, reconcile, retry, reload).
    Sync(usize),
    /// Apply the health changes of `dirty` from what the last read showed: one vtysh call.
    Apply(usize),
    /// Write the state file and metrics (coalesced).
    Publish,
    /// Look whether `anycastd drain`/`undrain` changed the drain file.
    Drains,
    /// The drain time of service N ended: its prefixes are withdrawn now.
    HoldEnd(usize),
    /// The drain time of a graceful stop ended: withdraw everything and exit.
    Stop,
}

/// What caused a sync, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Startup,
    Health,
    Reconcile,
    Retry,
    Reload,
    Drain,
    Undrain,
}

impl Trigger {
    fn name(self) -> &'static str {
        match self {
            Trigger::Startup => "startup",
            Trigger::Health => "health",
            Trigger::Reconcile => "reconcile",
            Trigger::Retry => "retry",
            Trigger::Reload => "reload",
            Trigger::Drain => "drain",
            Trigger::Undrain => "undrain",
        }
    }
}

struct CheckRt {
    spec: Check,
    /// (service index, position of this check in the service).
    users: Vec<(usize, usize)>,
    last: Option<Outcome>,
    /// When its next poll is due (kept across a reload).
    next_due: Option<Instant>,
    last_poll: Option<SystemTime>,
    poll_seconds: f64,
}

struct Instance {
    /// Which routing daemon instance, as configured (its identity across reloads).
    router: Router,
    /// How it is talked to.
    backend: Box<dyn Backend>,
    /// Managed (vrf, prefix) → the services that list it.
    managed: BTreeMap<(Vrf, IpNetwork), Vec<usize>>,
    /// The route-map of the normal announcement of those that have one.
    route_maps: BTreeMap<(Vrf, IpNetwork), String>,
    /// Route-maps needed here that FRR lacked at the last read (logged once).
    missing_route_maps: BTreeSet<String>,
    /// No longer in the configuration since a reload: withdrawn, then forgotten.
    retiring: BTreeSet<(Vrf, IpNetwork)>,
    fault: Option<Fault>,
    failures: u32,
    sync_due: Option<Instant>,
    trigger: Trigger,
    missing_logged: BTreeSet<Vrf>,
    /// Dry run: the changes we pretend to have made, laid over what FRR really has.
    overlay: Changes,
    /// Announcements FRR refused, with its answer: each is tried alone.
    rejected: BTreeMap<(Vrf, IpNetwork), String>,
    /// Which of ours FRR had after the last successful sync, updated by every change
    /// applied since; None before the first sync.
    seen: Option<BTreeSet<(Vrf, IpNetwork)>>,
    /// The `router bgp` instances (and their ASNs) the last read showed, without their
    /// networks: what a health change is applied against without reading again.
    asns: Option<RunningConfig>,
    /// Prefixes whose services changed health since they were last planned.
    dirty: BTreeSet<(Vrf, IpNetwork)>,
    apply_due: Option<Instant>,
    last_apply: Option<Instant>,
    /// The import check's place in its round of the good prefixes.
    probe_cursor: Option<(Vrf, IpNetwork)>,
    /// Import check: whether each of `seen` has a valid path in bgpd.
    advertised: BTreeMap<(Vrf, IpNetwork), bool>,
    last_sync: Option<SystemTime>,
    /// A sync was attempted (for readiness: FRR may be down, we are still started).
    attempted: bool,
    stats: Stats,
    drift_repairs: u64,
}

pub struct Daemon<'a> {
    config: Config,
    checks: Vec<CheckRt>,
    check_index: HashMap<Check, usize>,
    services: Vec<ServiceState>,
    /// Per service: the index in `checks` of each of its checks, in order.
    svc_checks: Vec<Vec<usize>>,
    /// Per service: (instance, key) of each of its prefixes.
    svc_prefixes: Vec<Vec<(usize, (Vrf, IpNetwork))>>,
    instances: Vec<Instance>,
    schedule: Schedule<Task>,
    prober: &'a mut dyn Prober,
    runner: &'a mut dyn Runner,
    system: &'a mut dyn System,
    dry_run: bool,
    notifier: crate::notify::Notifier,
    ready_sent: bool,
    started: SystemTime,
    /// Per service: when its health last changed, and how often it did.
    since: Vec<SystemTime>,
    transitions: Vec<u64>,
    /// The state-file write failed (logged once).
    state_failed: bool,
    metrics_failed: bool,
    /// During teardown: vtysh calls are cut to end by then.
    deadline: Option<Instant>,
    publish_due: Option<Instant>,
    last_publish: Option<Instant>,
    /// Bumped whenever the set of prefixes this daemon may announce grows (start,
    /// reload); `written_gen` is the value the state file on disk reflects.
    routing_gen: u64,
    written_gen: u64,
    /// Set by a stop that could not confirm every withdrawal: what may remain.
    stopped: Option<Vec<String>>,
    disk: Box<dyn crate::state::Disk + 'a>,
    /// A fault that did not stop this sync (the import check timed out; BIRD refused but
    /// the withdrawals went out): reported, with its back-off, when the sync ends.
    deferred: Option<Fault>,
    /// Drained services by name (`anycastd drain`), as the drain file last said.
    drains: BTreeMap<String, crate::drain::Drain>,
    /// The drain file's identity when it was last read, and whether reading it failed.
    drain_stamp: Option<(u64, u64, SystemTime, u64)>,
    drain_failed: bool,
    /// A graceful stop (SIGTERM/SIGINT with `drain_time`): everything is held through
    /// `drain_route_map` until then, and the signal that started it.
    stopping: Option<(Instant, Signal)>,
    /// Drained services still in their drain time: when it ends (monotonic; set when the
    /// drain is first seen from what is left of it by the drain file's clock).
    holds: HashMap<String, Instant>,
    /// Hooks started so far (their ids), and whether the last one that ended failed.
    hooks_started: u64,
    hook_failing: bool,
}

/// The state built from one configuration; a reload builds a new one and carries over
/// what did not change.
struct Parts {
    checks: Vec<CheckRt>,
    /// Where each check is in `checks` (results that arrive later find theirs).
    check_index: HashMap<Check, usize>,
    services: Vec<ServiceState>,
    svc_checks: Vec<Vec<usize>>,
    instances: Vec<Instance>,
}

fn build(config: &Config) -> Parts {
    let mut checks: Vec<CheckRt> = Vec::new();
    let mut services = Vec::new();
    let mut svc_checks = Vec::new();
    let mut instances: Vec<Instance> = Vec::new();
    let mut by_spec: HashMap<&Check, usize> = HashMap::new();
    for (si, svc) in config.services.iter().enumerate() {
        let names: Vec<String> = svc.checks.iter().map(Check::label).collect();
        services.push(ServiceState::new(&svc.name, &names, svc.rise, svc.fall));
        let mut mine = Vec::with_capacity(svc.checks.len());
        for (pos, c) in svc.checks.iter().enumerate() {
            // One poll feeds every service that lists the same check.
            let idx = *by_spec.entry(c).or_insert_with(|| {
                checks.push(CheckRt {
                    spec: c.clone(),
                    users: Vec::new(),
                    last: None,
                    next_due: None,
                    last_poll: None,
                    poll_seconds: 0.0,
                });
                checks.len() - 1
            });
            checks[idx].users.push((si, pos));
            mine.push(idx);
        }
        svc_checks.push(mine);
        for p in &svc.prefixes {
            let idx = instance_index(&mut instances, &p.router);
            instances[idx]
                .managed
                .entry((p.vrf.clone(), p.network))
                .or_default()
                .push(si);
            if let Some(rm) = &p.route_map {
                instances[idx]
                    .route_maps
                    .insert((p.vrf.clone(), p.network), rm.clone());
            }
        }
    }
    let check_index = by_spec.into_iter().map(|(c, i)| (c.clone(), i)).collect();
    Parts {
        checks,
        check_index,
        services,
        svc_checks,
        instances,
    }
}

/// Per service, where its prefixes are: (instance index, key).
fn index_prefixes(services: usize, instances: &[Instance]) -> Vec<Vec<(usize, (Vrf, IpNetwork))>> {
    let mut out = vec![Vec::new(); services];
    for (i, inst) in instances.iter().enumerate() {
        for (key, svcs) in &inst.managed {
            for &si in svcs {
                out[si].push((i, key.clone()));
            }
        }
    }
    out
}

fn instance_index(instances: &mut Vec<Instance>, router: &Router) -> usize {
    if let Some(i) = instances.iter().position(|i| i.router == *router) {
        return i;
    }
    instances.push(Instance {
        router: router.clone(),
        backend: crate::router::open(router),
        managed: BTreeMap::new(),
        route_maps: BTreeMap::new(),
        missing_route_maps: BTreeSet::new(),
        retiring: BTreeSet::new(),
        fault: None,
        failures: 0,
        sync_due: None,
        trigger: Trigger::Startup,
        missing_logged: BTreeSet::new(),
        overlay: Changes::default(),
        rejected: BTreeMap::new(),
        seen: None,
        asns: None,
        dirty: BTreeSet::new(),
        apply_due: None,
        last_apply: None,
        probe_cursor: None,
        advertised: BTreeMap::new(),
        last_sync: None,
        attempted: false,
        stats: Stats::default(),
        drift_repairs: 0,
    });
    instances.len() - 1
}

impl<'a> Daemon<'a> {
    pub fn new(
        config: Config,
        prober: &'a mut dyn Prober,
        runner: &'a mut dyn Runner,
        system: &'a mut dyn System,
    ) -> Daemon<'a> {
        let Parts {
            checks,
            check_index,
            services,
            svc_checks,
            instances,
        } = build(&config);
        let started = system.wall();
        let n = services.len();
        let svc_prefixes = index_prefixes(n, &instances);
        Daemon {
            config,
            checks,
            check_index,
            services,
            svc_checks,
            svc_prefixes,
            instances,
            schedule: Schedule::default(),
            prober,
            runner,
            system,
            dry_run: false,
            notifier: crate::notify::Notifier::disabled(),
            ready_sent: false,
            started,
            since: vec![started; n],
            transitions: vec![0; n],
            state_failed: false,
            metrics_failed: false,
            deadline: None,
            publish_due: None,
            last_publish: None,
            routing_gen: 1,
            written_gen: 0,
            stopped: None,
            disk: Box::new(crate::state::RealDisk),
            deferred: None,
            drains: BTreeMap::new(),
            drain_stamp: None,
            drain_failed: false,
            stopping: None,
            holds: HashMap::new(),
            hooks_started: 0,
            hook_failing: false,
        }
    }

    /// Tell the service manager about readiness and status (`$NOTIFY_SOCKET`).
    pub fn notifier(mut self, n: crate::notify::Notifier) -> Self {
        self.notifier = n;
        self
    }

    /// Prefixes an earlier run announced that this configuration no longer lists (from the
    /// state file a crashed run left behind): withdrawn like those a reload removed.
    pub fn retire(mut self, prefixes: &[crate::config::Prefix]) -> Self {
        for p in prefixes {
            let key = (p.vrf.clone(), p.network);
            let i = instance_index(&mut self.instances, &p.router);
            if !self.instances[i].managed.contains_key(&key) {
                log::info!(
                    prefix = p.canonical().as_str(), vrf = vrf_label(&p.vrf);
                    "Prefix {} (vrf {}) was managed by the previous run but is no longer configured: withdrawing it.",
                    p.canonical(), vrf_label(&p.vrf)
                );
                self.instances[i].retiring.insert(key);
            }
        }
        self.instances
            .retain(|i| !i.managed.is_empty() || !i.retiring.is_empty());
        self.svc_prefixes = index_prefixes(self.services.len(), &self.instances);
        self.routing_gen += 1;
        self
    }

    /// Where the state and metrics files are written (a fake one in tests).
    pub fn disk(mut self, disk: Box<dyn crate::state::Disk + 'a>) -> Self {
        self.disk = disk;
        self
    }

    /// Log every change FRR would get instead of sending it (`run --dry-run`).
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    /// Run until SIGTERM/SIGINT, then withdraw everything.
    pub fn run(&mut self) -> Exit {
        let now = self.system.now();
        for (si, svc) in self.config.services.iter().enumerate() {
            log::info!(
                service_name = svc.name.as_str(),
                service_prefixes = self.prefix_list(si).as_str(),
                service_health_checks = self.check_list(si).as_str(),
                service_healthy = false;
                "Starting service \"{}\".", svc.name
            );
        }
        // Drains first: a drained service's prefixes are never announced, not even once.
        self.load_drains(now, true);
        self.schedule.push(now + DRAIN_WATCH, Task::Drains);
        // Polls first: the startup sync comes after every check's first poll, so it sees
        // the first decisions and adopts or withdraws what FRR already has in one go.
        let first = splay(&self.checks, now);
        let last = first.iter().map(|&(_, at)| at).max().unwrap_or(now);
        for (c, at) in first {
            self.schedule.push(at, Task::Poll(c));
        }
        for i in 0..self.instances.len() {
            self.request_sync(i, last, Trigger::Startup);
        }
        loop {
            match self.system.take_signal() {
                // A second signal during a graceful stop skips the rest of the wait.
                Some(sig @ (Signal::Term | Signal::Int))
                    if self.stopping.is_some()
                        || self.config.global.drain_time.is_zero()
                        || !self.begin_graceful_stop(sig) =>
                {
                    return self.shutdown(sig);
                }
                Some(Signal::Term | Signal::Int) => {}
                Some(Signal::Hup) if self.stopping.is_some() => {
                    log::warn!("Received SIGHUP while draining to stop; ignoring it.");
                }
                Some(Signal::Hup) => self.reload(),
                None => {}
            }
            let now = self.system.now();
            // A command check that ended, or ran out of time, is collected before more
            // work: the loop may have work due for a while without sleeping.
            if self.system.take_child() || self.prober.deadline().is_some_and(|d| d <= now) {
                self.collect_finished();
            }
            // Whatever is due within the slack runs now, in this wake-up: polls spread 1 ms
            // apart would otherwise cost a sleep and a wake-up each.
            if let Some((at, task)) = self.schedule.pop_due(now + TIMER_SLACK) {
                match task {
                    Task::Poll(c) => self.poll(c, at, now),
                    Task::Sync(i) => {
                        if self.instances[i].sync_due == Some(at) {
                            self.instances[i].sync_due = None;
                            self.sync(i);
                        }
                    }
                    Task::Apply(i) => {
                        if self.instances[i].apply_due == Some(at) {
                            self.instances[i].apply_due = None;
                            self.apply_health(i);
                        }
                    }
                    Task::Publish => {
                        if self.publish_due == Some(at) {
                            self.publish_now();
                        }
                    }
                    Task::Drains => {
                        self.load_drains(now, false);
                        self.schedule.push(now + DRAIN_WATCH, Task::Drains);
                    }
                    Task::HoldEnd(si) => self.hold_ended(si, now),
                    Task::Stop => {
                        if let Some((_, sig)) = self.stopping {
                            return self.shutdown(sig);
                        }
                    }
                }
                continue;
            }
            let next = match (self.schedule.next_deadline(), self.prober.deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let fds = self.prober.fds();
            self.system.wait(next, &fds);
            drop(fds);
            self.collect_finished();
        }
    }

    fn prefix_list(&self, si: usize) -> String {
        self.config.services[si]
            .prefixes
            .iter()
            .map(|p| match &p.vrf {
                Some(v) => format!("{} (vrf {v})", p.canonical()),
                None => p.canonical(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn check_list(&self, si: usize) -> String {
        self.config.services[si]
            .checks
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn request_sync(&mut self, i: usize, at: Instant, trigger: Trigger) {
        let inst = &mut self.instances[i];
        // A vtysh that hung until its deadline likely hangs again: a health change waits
        // for the back-off too, rather than holding the loop for another timeout. Any
        // other failure is cheap to retry, so a health change is tried at once.
        let hung = inst
            .fault
            .as_ref()
            .is_some_and(|f| f.kind == FaultKind::TimedOut);
        if trigger == Trigger::Health && hung && inst.sync_due.is_some() {
            inst.trigger = Trigger::Health;
            return;
        }
        if inst.sync_due.is_some_and(|due| due <= at) {
            // An earlier sync is already due; it will see this change too.
            // A health change outranks a routine reconcile or retry in the audit trail;
            // a startup or reload sync keeps its name.
            if trigger == Trigger::Health
                && matches!(inst.trigger, Trigger::Reconcile | Trigger::Retry)
            {
                inst.trigger = Trigger::Health;
            }
            return;
        }
        inst.sync_due = Some(at);
        inst.trigger = trigger;
        self.schedule.push(at, Task::Sync(i));
    }

    /// For tests and status: each service's health.
    pub fn health(&self) -> Vec<(String, Health)> {
        self.services
            .iter()
            .map(|s| (s.name.clone(), s.health))
            .collect()
    }
}

mod audit;
mod drains;
mod health;
mod hooks;
mod intent;
use health::splay;
mod publish;
mod reconfigure;
mod sync;
mod teardown;
pub use publish::status_line;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
