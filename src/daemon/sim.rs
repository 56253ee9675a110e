//! Deterministic simulation of the whole daemon, in the style of FoundationDB and
//! TigerBeetle: one seed drives a fake clock, fake Cabourotte checks, a fake FRR that keeps
//! a real model of its running config, a fake disk, and random events: health flips,
//! checks that hang or answer garbage, vtysh failing, hanging or applying half a batch,
//! bgpd restarts, hand edits of managed and unmanaged lines, SIGHUP with changed or broken
//! configurations, SIGTERM, and crashes at any step followed by a restart from what the
//! disk holds. After every step the invariants below are checked; a failure prints the
//! seed and the trace, and the same seed replays it exactly.
//!
//! Invariants:
//! - **safety**: a managed prefix is in FRR only while every service listing it is
//!   healthy, or within [`BOUND`] of the moment that stopped being so (counted from when
//!   the check started failing, FRR last became reachable, the line appeared, or the daemon
//!   last started, whichever is latest);
//! - **crash record**: every line of ours in FRR is listed by the state file on disk
//!   (nothing the daemon announced is unknown to a restart or to `withdraw`);
//! - **hands off**: a line the daemon does not manage is never added or removed by it;
//! - **convergence**: once the faults stop, FRR holds exactly what health says within
//!   the settle time, and a SIGTERM that exits 0 leaves nothing of ours in FRR.
//!
//! `cargo test --lib daemon::sim` runs [`DEFAULT_SEEDS`] seeds; `ANYCASTD_SIM_SEEDS=N`
//! runs N (from `ANYCASTD_SIM_FIRST`, default 1), `ANYCASTD_SIM_SEED=S` replays one with its
//! trace, `ANYCASTD_SIM_LIVE=1` prints it as it happens (`make sim`).

use super::*;
use crate::check;
use crate::config;
use crate::state::{Disk, Snapshot};
use crate::vtysh::{Error as VError, Output};
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::rc::Rc;

pub const DEFAULT_SEEDS: u64 = 1000;
/// The longest a prefix may stay announced after the reason to announce it is gone, with
/// this simulation's settings: a poll interval and a timeout, the longest FRR retry
/// back-off (10 s), a reconcile interval, a vtysh timeout, and slack.
const BOUND: Duration = Duration::from_secs(20);
/// Faults stop after this much simulated time; then the world settles for `SETTLE`: the
/// longest hung-Cabourotte back-off (30 s) plus `BOUND`.
const FAULTY: Duration = Duration::from_secs(90);
const SETTLE: Duration = Duration::from_secs(50);
const VTYSH: &str = "/sim/vtysh";

/// splitmix64: small, fast, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

/// The unwinding payload of a simulated crash (`resume_unwind` runs no panic hook).
struct Crash;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pass,
    Fail,
    Hang,
    Garbage,
}

type Key = (Vrf, IpNetwork);

/// Six services over a pool of prefixes (some shared), in two VRFs.
struct Universe {
    services: Vec<(String, Vec<Key>)>,
}

impl Universe {
    fn new(rng: &mut Rng) -> Universe {
        let pool: Vec<Key> = (0..8u8)
            .map(|k| {
                let vrf = (k >= 6).then(|| "blue".to_string());
                let net: IpNetwork = format!("203.0.113.{}/32", 10 + k).parse().unwrap();
                (vrf, net)
            })
            .collect();
        let services = (0..6)
            .map(|s| {
                let mut keys: Vec<Key> = vec![pool[s].clone()];
                if rng.chance(400) {
                    let extra = pool[rng.below(pool.len() as u64) as usize].clone();
                    if !keys.contains(&extra) {
                        keys.push(extra);
                    }
                }
                (format!("s{s}"), keys)
            })
            .collect();
        Universe { services }
    }

    fn config_text(&self, chosen: &BTreeSet<usize>, state: &Path) -> String {
        let mut t = format!(
            "[global]\nstate_file = \"{}\"\ndrain_file = \"/nonexistent/anycastd-sim/drains.json\"\nreconcile_interval = 2\nvtysh_timeout = 1\nshutdown_timeout = 3\n",
            state.display()
        );
        for &s in chosen {
            let (name, keys) = &self.services[s];
            let prefixes: Vec<String> = keys
                .iter()
                .map(|(vrf, net)| match vrf {
                    Some(v) => {
                        format!("{{ prefix = \"{net}\", vrf = \"{v}\", vtysh = \"{VTYSH}\" }}")
                    }
                    None => format!("{{ prefix = \"{net}\", vtysh = \"{VTYSH}\" }}"),
                })
                .collect();
            t += &format!(
                "[services.{name}]\nprefixes.frrouting = [{}]\nchecks.cabourotte = [{{ name = \"c{s}\", interval = 1 }}]\n",
                prefixes.join(", ")
            );
        }
        t
    }
}

struct World {
    seed: u64,
    rng: Rng,
    t0: Instant,
    now: Instant,
    trace: Vec<String>,
    universe: Universe,
    /// The services of the configuration file (always a valid one once read).
    current: BTreeSet<usize>,
    config_path: PathBuf,
    state_path: PathBuf,
    /// Every prefix any configuration listed.
    ever: BTreeSet<Key>,
    modes: Vec<Mode>,
    failing_since: Vec<Option<Instant>>,
    /// When each service last joined the configuration.
    joined: Vec<Instant>,
    /// bgpd's running config: VRF -> (ASN, networks).
    frr: BTreeMap<Vrf, (String, BTreeSet<IpNetwork>)>,
    /// Lines the operator configured that the daemon must never touch.
    unmanaged: BTreeSet<Key>,
    /// Lines of ours added by hand (not announced by the daemon).
    hand_added: BTreeSet<Key>,
    line_since: BTreeMap<Key, Instant>,
    frr_down: bool,
    frr_hang: bool,
    partial_next: bool,
    frr_ok_since: Instant,
    daemon_since: Instant,
    pending: Option<Signal>,
    next_event: Instant,
    crashes: u32,
    files: BTreeMap<PathBuf, Vec<u8>>,
    /// What the state file on disk lists (parsed once per write).
    recorded: Option<BTreeSet<Key>>,
    settled: bool,
    finished: bool,
    /// The configuration file is broken (until the next event).
    broken: bool,
    steps: u64,
    /// Print the trace as it happens (`ANYCASTD_SIM_LIVE=1`).
    live: bool,
}

impl World {
    fn at(&self) -> String {
        format!("{:>8.3}s", (self.now - self.t0).as_secs_f64())
    }

    fn note(&mut self, what: String) {
        let line = format!("{} {what}", self.at());
        if self.live {
            eprintln!("{line}");
        }
        self.trace.push(line);
    }

    fn faulty(&self) -> bool {
        self.now < self.t0 + FAULTY
    }

    fn fail(&self, why: String) -> ! {
        let tail: Vec<&String> = self.trace.iter().rev().take(60).collect();
        let tail: Vec<&str> = tail.iter().rev().map(|s| s.as_str()).collect();
        panic!(
            "simulation seed {} failed at {}: {why}\nreplay: ANYCASTD_SIM_SEED={} cargo test --lib daemon::sim -- --nocapture\nlast events:\n{}",
            self.seed,
            self.at(),
            self.seed,
            tail.join("\n")
        );
    }

    /// A crash may happen here (before or after what the caller does next).
    fn maybe_crash(&mut self, place: &str) {
        if self.faulty() && self.crashes < 4 && self.rng.chance(3) {
            self.crashes += 1;
            self.note(format!("CRASH at {place}"));
            panic::resume_unwind(Box::new(Crash));
        }
    }

    fn has(&self, key: &Key) -> bool {
        self.frr
            .get(&key.0)
            .is_some_and(|(_, n)| n.contains(&key.1))
    }

    fn lines(&self) -> BTreeSet<Key> {
        self.frr
            .iter()
            .flat_map(|(v, (_, nets))| nets.iter().map(move |n| (v.clone(), *n)))
            .collect()
    }

    fn managed(&self) -> BTreeMap<Key, Vec<usize>> {
        let mut m: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
        for &s in &self.current {
            for k in &self.universe.services[s].1 {
                m.entry(k.clone()).or_default().push(s);
            }
        }
        m
    }

    /// The invariants that hold at every instant.
    fn check(&mut self) {
        for key in self.lines() {
            if !self.ever.contains(&key) || self.unmanaged.contains(&key) {
                continue;
            }
            if !self.hand_added.contains(&key)
                && !self.recorded.as_ref().is_some_and(|r| r.contains(&key))
            {
                self.fail(format!(
                    "{key:?} is in FRR but the state file on disk does not list it"
                ));
            }
        }
        for key in &self.unmanaged {
            if !self.has(key) {
                self.fail(format!("the unmanaged line {key:?} is gone"));
            }
        }
        let managed = self.managed();
        for (key, svcs) in &managed {
            if !self.has(key) {
                continue;
            }
            // A service counts from when it failed or joined the configuration, later of.
            let failing = svcs
                .iter()
                .filter_map(|&s| self.failing_since[s].map(|t| t.max(self.joined[s])))
                .min();
            let Some(since) = failing else { continue };
            let from = [
                Some(since),
                Some(self.frr_ok_since),
                Some(self.daemon_since),
                self.line_since.get(key).copied(),
            ]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(since);
            if !self.frr_down && !self.frr_hang && self.now > from + BOUND {
                self.fail(format!(
                    "{key:?} is still announced {:.1} s after its service became unhealthy",
                    (self.now - from).as_secs_f64()
                ));
            }
        }
    }

    fn set_mode(&mut self, s: usize, m: Mode) {
        self.modes[s] = m;
        if m == Mode::Pass {
            self.failing_since[s] = None;
        } else if self.failing_since[s].is_none() {
            self.failing_since[s] = Some(self.now);
        }
    }

    fn add_line(&mut self, key: &Key) -> bool {
        let Some((_, nets)) = self.frr.get_mut(&key.0) else {
            return false;
        };
        if nets.insert(key.1) {
            self.line_since.insert(key.clone(), self.now);
        }
        true
    }

    fn remove_line(&mut self, key: &Key) -> bool {
        let Some((_, nets)) = self.frr.get_mut(&key.0) else {
            return false;
        };
        self.line_since.remove(key);
        self.hand_added.remove(key);
        nets.remove(&key.1)
    }

    fn write_config(&mut self, chosen: BTreeSet<usize>) {
        for &s in chosen.difference(&self.current) {
            self.joined[s] = self.now;
        }
        let text = self.universe.config_text(&chosen, &self.state_path);
        std::fs::write(&self.config_path, text).unwrap();
        for &s in &chosen {
            for k in &self.universe.services[s].1 {
                self.ever.insert(k.clone());
            }
        }
        self.current = chosen;
    }

    fn random_config(&mut self) -> BTreeSet<usize> {
        let mut chosen: BTreeSet<usize> = (0..6).filter(|_| self.rng.chance(650)).collect();
        if chosen.is_empty() {
            chosen.insert(self.rng.below(6) as usize);
        }
        chosen
    }

    /// Whatever is due in the world at `now`: events, the end of the faults, the end.
    fn tick(&mut self) {
        while self.faulty() && self.next_event <= self.now {
            self.event();
            let gap = self.rng.millis(100, 4000);
            self.next_event += gap;
        }
        if !self.settled && !self.faulty() {
            self.settle();
        }
        if self.settled && !self.finished && self.now >= self.t0 + FAULTY + SETTLE {
            self.converged();
            self.finished = true;
            self.note("SIGTERM (end)".into());
            self.pending = Some(Signal::Term);
        }
        self.check();
    }

    /// The world moves on: one random event.
    fn event(&mut self) {
        if self.broken {
            // The operator puts the broken file right and reloads: the daemon may have
            // read only the broken one (two edits before one SIGHUP was taken).
            self.broken = false;
            let chosen = self.current.clone();
            self.write_config(chosen);
            self.note("the configuration is put right; SIGHUP".into());
            self.pending.get_or_insert(Signal::Hup);
        }
        let roll = self.rng.below(100);
        match roll {
            0..=34 => {
                let s = self.rng.below(6) as usize;
                let m = match self.rng.below(10) {
                    0..=4 => Mode::Pass,
                    5..=7 => Mode::Fail,
                    8 => Mode::Hang,
                    _ => Mode::Garbage,
                };
                self.note(format!("check c{s} -> {m:?}"));
                self.set_mode(s, m);
            }
            35..=42 => {
                self.frr_down = !self.frr_down;
                if !self.frr_down {
                    self.frr_ok_since = self.now;
                }
                self.note(format!("bgpd down: {}", self.frr_down));
            }
            43..=46 => {
                self.frr_hang = !self.frr_hang;
                if !self.frr_hang {
                    self.frr_ok_since = self.now;
                }
                self.note(format!("vtysh hangs: {}", self.frr_hang));
            }
            47..=51 => {
                self.partial_next = true;
                self.note("the next vtysh batch stops half-way".into());
            }
            52..=56 => {
                // Runtime lines are lost; the operator's frr.conf lines come back.
                for (_, nets) in self.frr.values_mut() {
                    nets.clear();
                }
                self.hand_added.clear();
                self.line_since.clear();
                for key in self.unmanaged.clone() {
                    self.add_line(&key);
                }
                self.frr_ok_since = self.now;
                self.note("bgpd restarted".into());
            }
            57..=66 => self.hand_edit(),
            67..=76 => {
                let chosen = self.random_config();
                self.note(format!("SIGHUP with services {chosen:?}"));
                self.write_config(chosen);
                self.pending = Some(Signal::Hup);
            }
            77..=78 => {
                // A broken file: the daemon keeps its configuration; the operator puts
                // the good one back right after.
                std::fs::write(&self.config_path, "[services.x\n").unwrap();
                self.note("SIGHUP with a broken configuration".into());
                self.broken = true;
                self.pending = Some(Signal::Hup);
            }
            79..=82 => {
                self.note("SIGTERM".into());
                self.pending = Some(Signal::Term);
            }
            _ => {}
        }
    }

    fn hand_edit(&mut self) {
        let managed: Vec<Key> = self.managed().into_keys().collect();
        match self.rng.below(4) {
            0 if !managed.is_empty() => {
                let key = managed[self.rng.below(managed.len() as u64) as usize].clone();
                if !self.has(&key) && self.add_line(&key) {
                    self.hand_added.insert(key.clone());
                    self.note(format!("hand edit: added {key:?}"));
                }
            }
            1 => {
                let ours: Vec<Key> = self
                    .lines()
                    .into_iter()
                    .filter(|k| !self.unmanaged.contains(k))
                    .collect();
                if !ours.is_empty() {
                    let key = ours[self.rng.below(ours.len() as u64) as usize].clone();
                    self.remove_line(&key);
                    self.note(format!("hand edit: removed {key:?}"));
                }
            }
            2 => {
                let key: Key = (
                    None,
                    format!("198.51.100.{}/32", self.rng.below(50))
                        .parse()
                        .unwrap(),
                );
                if self.add_line(&key) {
                    self.unmanaged.insert(key.clone());
                    self.note(format!("hand edit: added unmanaged {key:?}"));
                }
            }
            _ => {
                if let Some(key) = self.unmanaged.iter().next().cloned() {
                    self.unmanaged.remove(&key);
                    self.remove_line(&key);
                    self.note(format!("hand edit: removed unmanaged {key:?}"));
                }
            }
        }
    }

    /// Faults stop: checks settle, FRR works, no more events.
    fn settle(&mut self) {
        self.settled = true;
        for s in 0..6 {
            let m = if self.rng.chance(700) {
                Mode::Pass
            } else {
                Mode::Fail
            };
            self.set_mode(s, m);
        }
        self.frr_down = false;
        self.frr_hang = false;
        self.partial_next = false;
        self.frr_ok_since = self.now;
        self.note(format!("faults stop; checks {:?}", self.modes));
    }

    /// Once settled: FRR holds exactly what health says.
    fn converged(&mut self) {
        let expected: BTreeSet<Key> = self
            .managed()
            .into_iter()
            .filter(|(_, svcs)| svcs.iter().all(|&s| self.modes[s] == Mode::Pass))
            .map(|(k, _)| k)
            .filter(|(vrf, _)| self.frr.contains_key(vrf))
            .collect();
        let ours: BTreeSet<Key> = self
            .lines()
            .into_iter()
            .filter(|k| self.ever.contains(k))
            .collect();
        if ours != expected {
            self.fail(format!(
                "not converged {} s after the faults stopped: FRR has {ours:?}, health says {expected:?}",
                SETTLE.as_secs()
            ));
        }
        self.note("converged".into());
    }

    /// Interpret vtysh -c commands like FRR does: configuration commands in order,
    /// stopping at the first error.
    fn vtysh(&mut self, cmds: &[String], timeout: Duration) -> Result<Output, VError> {
        let ok = |stdout: String| Output {
            code: Some(0),
            stdout,
            stderr: String::new(),
            elapsed: Duration::ZERO,
        };
        let fail = |stdout: &str| Output {
            code: Some(1),
            stdout: stdout.to_string(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
        };
        if self.frr_hang && self.faulty() {
            self.now += timeout;
            return Err(VError::Timeout(timeout));
        }
        if self.frr_down && self.faulty() {
            return Ok(Output {
                stderr: "Exiting: failed to connect to any daemons.\n".into(),
                ..fail("")
            });
        }
        if cmds == ["show running-config"] {
            return Ok(ok(self.render()));
        }
        if cmds.iter().all(|c| c.starts_with("show bgp")) {
            let answers: Vec<&str> = cmds
                .iter()
                .map(|_| r#"{"paths":[{"valid":true}]}"#)
                .collect();
            return Ok(ok(answers.join("\n")));
        }
        let cut = if self.partial_next && self.faulty() {
            self.partial_next = false;
            Some(self.rng.below(cmds.len() as u64) as usize)
        } else {
            None
        };
        let mut ctx: Option<Vrf> = None;
        for (n, c) in cmds.iter().enumerate() {
            if cut == Some(n) {
                self.note(format!("vtysh killed after {n} of {} commands", cmds.len()));
                self.now += timeout;
                // A fault of FRR's like any other: the bound counts from its end.
                self.frr_ok_since = self.now;
                return Err(VError::Timeout(timeout));
            }
            let w: Vec<&str> = c.split_whitespace().collect();
            match w.as_slice() {
                ["configure", "terminal"]
                | ["address-family", _, "unicast"]
                | ["exit-address-family"]
                | ["end"] => {}
                ["exit"] => ctx = None,
                ["router", "bgp", asn, rest @ ..] => {
                    let vrf = match rest {
                        ["vrf", v] => Some(v.to_string()),
                        _ => None,
                    };
                    match self.frr.get(&vrf) {
                        None => self.fail(format!("the daemon made FRR create an instance: {c}")),
                        Some((have, _)) if have != asn => {
                            return Ok(fail(&format!("BGP is already running; AS is {have}")));
                        }
                        Some(_) => ctx = Some(vrf),
                    }
                }
                ["network", p] | ["no", "network", p] => {
                    let key: Key = (ctx.clone().flatten(), p.parse().unwrap());
                    if !self.ever.contains(&key) || self.unmanaged.contains(&key) {
                        self.fail(format!("the daemon touched a line it does not manage: {c}"));
                    }
                    if w[0] == "network" {
                        if !self.has(&key) {
                            self.add_line(&key);
                        }
                        self.hand_added.remove(&key);
                    } else if !self.remove_line(&key) {
                        return Ok(fail("% Can't find static route specified\n"));
                    }
                }
                _ => return Ok(fail(&format!("% Unknown command: {c}"))),
            }
        }
        Ok(ok(String::new()))
    }

    fn render(&self) -> String {
        let mut s = String::from("Building configuration...\n\nCurrent configuration:\n!\n");
        for (vrf, (asn, nets)) in &self.frr {
            s += &frr::router_line(asn, vrf);
            s += "\n";
            for afi in ["ipv4", "ipv6"] {
                let lines: Vec<_> = nets.iter().filter(|n| frr::afi(n) == afi).collect();
                if !lines.is_empty() {
                    s += &format!(" address-family {afi} unicast\n");
                    for n in lines {
                        s += &format!("  network {}\n", canonical(n));
                    }
                    s += " exit-address-family\n";
                }
            }
            s += "exit\n!\n";
        }
        s + "end\n"
    }
}

type Shared = Rc<RefCell<World>>;

struct SimSystem(Shared);

impl System for SimSystem {
    fn now(&self) -> Instant {
        self.0.borrow().now
    }
    fn wall(&self) -> SystemTime {
        let w = self.0.borrow();
        std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + (w.now - w.t0)
    }
    fn wait(&mut self, until: Option<Instant>, _: &[std::os::fd::BorrowedFd<'_>]) {
        let mut w = self.0.borrow_mut();
        w.steps += 1;
        if w.steps > 2_000_000 {
            w.fail("the loop is spinning: two million waits in one seed".into());
        }
        w.maybe_crash("wait");
        w.tick();
        if w.pending.is_some() {
            return;
        }
        let mut target = until.unwrap_or(w.now + Duration::from_secs(3600));
        if w.faulty() {
            target = target.min(w.next_event);
        } else if !w.finished {
            target = target.min(w.t0 + FAULTY + SETTLE);
        }
        w.now = w.now.max(target);
        w.tick();
    }
    fn take_signal(&mut self) -> Option<Signal> {
        self.0.borrow_mut().pending.take()
    }
    fn termination_pending(&self) -> bool {
        matches!(self.0.borrow().pending, Some(Signal::Term | Signal::Int))
    }
}

/// Each check has its own Cabourotte here, hung or not, with the real client's back-off.
struct SimProber(Shared, Vec<check::Hung>);

impl Prober for SimProber {
    fn start(&mut self, check: &Check, now: Instant) -> Option<Outcome> {
        Some(self.poll(check, now))
    }
}

impl SimProber {
    fn poll(&mut self, check: &Check, _: Instant) -> Outcome {
        let mut w = self.0.borrow_mut();
        w.maybe_crash("poll");
        let s: usize = check.name[1..].parse().unwrap();
        let ep = &mut self.1[s];
        let out = if ep.should_skip(w.now) {
            Err(Failure::Skipped)
        } else {
            match w.modes[s] {
                Mode::Pass => Ok(()),
                Mode::Fail => Err(Failure::Failed("down".into())),
                Mode::Hang => {
                    w.now += check.timeout;
                    ep.timed_out(w.now, check.timeout);
                    Err(Failure::Timeout(check.timeout))
                }
                Mode::Garbage => Err(Failure::BadBody("expected value".into())),
            }
        };
        if !matches!(out, Err(Failure::Timeout(_) | Failure::Skipped)) {
            ep.answered();
        }
        w.tick();
        out
    }
}

struct SimRunner(Shared);

impl Runner for SimRunner {
    fn run(
        &mut self,
        _: &Path,
        args: &[String],
        timeout: Duration,
        _: &dyn Fn() -> bool,
    ) -> Result<Output, VError> {
        let mut w = self.0.borrow_mut();
        w.maybe_crash("before vtysh");
        let cmds: Vec<String> = args
            .chunks(2)
            .filter(|p| p[0] == "-c")
            .map(|p| p[1].clone())
            .collect();
        let out = w.vtysh(&cmds, timeout);
        let summary = match &out {
            Ok(o) => format!("exit {:?}", o.code),
            Err(e) => e.to_string(),
        };
        let first = cmds
            .iter()
            .find(|c| c.contains("network"))
            .cloned()
            .unwrap_or_else(|| cmds[0].clone());
        w.note(format!(
            "vtysh ({} commands, {first:?}…): {summary}",
            cmds.len()
        ));
        w.tick();
        w.maybe_crash("after vtysh");
        out
    }
}

struct SimDisk(Shared);

impl Disk for SimDisk {
    fn write(&mut self, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        let mut w = self.0.borrow_mut();
        w.maybe_crash("before a write");
        if path == w.state_path {
            let snap: Snapshot = serde_json::from_slice(contents).unwrap();
            w.recorded = Some(recorded_keys(&snap));
        }
        w.files.insert(path.to_path_buf(), contents.to_vec());
        w.maybe_crash("after a write");
        Ok(())
    }
    fn remove(&mut self, path: &Path) {
        let mut w = self.0.borrow_mut();
        if path == w.state_path {
            w.recorded = None;
        }
        w.files.remove(path);
    }
}

fn recorded_keys(s: &Snapshot) -> BTreeSet<Key> {
    s.prefixes()
        .into_iter()
        .map(|p| (p.vrf, p.network))
        .collect()
}

enum Ended {
    Exit(Exit),
    Crashed,
}

/// Start the daemon as `anycastd run` does: the configuration file, and the prefixes the
/// state file on disk lists (the crashed run's lock is gone with it).
fn boot(world: &Shared, withdraw: bool) -> Ended {
    let (cfg, left) = {
        let mut w = world.borrow_mut();
        let cfg = match config::load(&w.config_path) {
            Ok(c) => c,
            Err(_) => {
                // A broken file left behind: the operator fixes it before starting.
                w.broken = false;
                let chosen = w.current.clone();
                w.write_config(chosen);
                config::load(&w.config_path).unwrap()
            }
        };
        let left = w
            .files
            .get(&w.state_path)
            .and_then(|b| serde_json::from_slice::<Snapshot>(b).ok())
            .map(|s| s.prefixes())
            .unwrap_or_default();
        w.daemon_since = w.now;
        let what = if withdraw { "withdraw" } else { "run" };
        w.note(format!(
            "anycastd {what} starts; {} prefix(es) recorded",
            left.len()
        ));
        (cfg, left)
    };
    let mut system = SimSystem(Rc::clone(world));
    let mut prober = SimProber(
        Rc::clone(world),
        (0..6).map(|_| check::Hung::default()).collect(),
    );
    let mut runner = SimRunner(Rc::clone(world));
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut d = Daemon::new(cfg, &mut prober, &mut runner, &mut system)
            .retire(&left)
            .disk(Box::new(SimDisk(Rc::clone(world))));
        if withdraw {
            d.withdraw_everything()
        } else {
            d.run()
        }
    }));
    match result {
        Ok(exit) => Ended::Exit(exit),
        Err(payload) if payload.is::<Crash>() => Ended::Crashed,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// One seed, start to end. Returns the number of crashes it survived.
pub fn run_seed(seed: u64) -> (u32, Vec<String>) {
    let mut rng = Rng(seed);
    let universe = Universe::new(&mut rng);
    let dir = std::env::temp_dir().join(format!("anycastd-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t0 = Instant::now();
    let mut frr = BTreeMap::new();
    frr.insert(None, ("65536".to_string(), BTreeSet::new()));
    if rng.chance(800) {
        frr.insert(
            Some("blue".to_string()),
            ("65537".to_string(), BTreeSet::new()),
        );
    }
    let unmanaged: Key = (None, "10.0.0.0/8".parse().unwrap());
    frr.get_mut(&None).unwrap().1.insert(unmanaged.1);
    let world = Rc::new(RefCell::new(World {
        seed,
        rng,
        t0,
        now: t0,
        trace: Vec::new(),
        universe,
        current: BTreeSet::new(),
        config_path: dir.join(format!("config-{seed}.toml")),
        state_path: PathBuf::from("/sim/state.json"),
        ever: BTreeSet::new(),
        modes: vec![Mode::Pass; 6],
        failing_since: vec![None; 6],
        joined: vec![t0; 6],
        frr,
        unmanaged: BTreeSet::from([unmanaged]),
        hand_added: BTreeSet::new(),
        line_since: BTreeMap::new(),
        frr_down: false,
        frr_hang: false,
        partial_next: false,
        frr_ok_since: t0,
        daemon_since: t0,
        pending: None,
        next_event: t0 + Duration::from_millis(500),
        crashes: 0,
        files: BTreeMap::new(),
        recorded: None,
        settled: false,
        finished: false,
        broken: false,
        steps: 0,
        live: std::env::var_os("ANYCASTD_SIM_LIVE").is_some(),
    }));
    {
        let mut w = world.borrow_mut();
        for s in 0..6 {
            let m = if w.rng.chance(750) {
                Mode::Pass
            } else {
                Mode::Fail
            };
            w.set_mode(s, m);
        }
        let chosen = w.random_config();
        w.write_config(chosen);
    }
    loop {
        match boot(&world, false) {
            Ended::Exit(Exit::Clean) => {
                let w = world.borrow();
                let left: Vec<Key> = w
                    .lines()
                    .into_iter()
                    .filter(|k| w.ever.contains(k) && !w.unmanaged.contains(k))
                    .collect();
                if !left.is_empty() {
                    w.fail(format!("exit 0, but FRR still has {left:?}"));
                }
                if w.files.contains_key(&w.state_path) {
                    w.fail("exit 0, but the state file is still there".into());
                }
            }
            Ended::Exit(Exit::Unconfirmed(_)) => world.borrow_mut().note("exit 69".into()),
            Ended::Crashed => {
                // The init system runs `anycastd withdraw` after a crash, sometimes.
                let withdraw = world.borrow_mut().rng.chance(500);
                if withdraw {
                    if let Ended::Exit(Exit::Clean) = boot(&world, true) {
                        let mut w = world.borrow_mut();
                        let path = w.state_path.clone();
                        w.files.remove(&path);
                        w.recorded = None;
                    }
                }
            }
        }
        let mut w = world.borrow_mut();
        if w.finished {
            let crashes = w.crashes;
            let trace = std::mem::take(&mut w.trace);
            let _ = std::fs::remove_file(&w.config_path);
            return (crashes, trace);
        }
        // Down for a moment before the service manager starts it again.
        let pause = w.rng.millis(0, 3000);
        w.now += pause;
        w.pending = None;
        w.check();
    }
}

fn seeds() -> (u64, u64) {
    let one = std::env::var("ANYCASTD_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    if let Some(s) = one {
        return (s, 1);
    }
    let var = |name: &str| std::env::var(name).ok().and_then(|s| s.parse().ok());
    let n = var("ANYCASTD_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
    (var("ANYCASTD_SIM_FIRST").unwrap_or(1), n)
}

#[test]
fn simulation_keeps_every_invariant() {
    let (first, n) = seeds();
    let started = std::time::Instant::now();
    let mut crashes = 0;
    for seed in first..first + n {
        let (c, trace) = run_seed(seed);
        crashes += c;
        if n == 1 {
            println!("{}", trace.join("\n"));
        }
    }
    println!(
        "simulation: {n} seeds ({first}..{}), {crashes} crashes survived, every invariant held, in {:.1} s",
        first + n - 1,
        started.elapsed().as_secs_f64()
    );
}
