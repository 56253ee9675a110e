//! The whole loop against a fake clock, fake Cabourotte and a fake FRR that keeps a
//! running config in memory and answers like vtysh does (exit codes and messages as
//! pinned against real FRR in the integration tests).

use super::*;
use crate::config;
use crate::vtysh::{Error as VError, Output};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Fake clock and signals: `wait` jumps to the deadline, or to the next scripted signal.
struct FakeSystem {
    t0: Instant,
    now: Instant,
    signals: Vec<(Duration, Signal)>,
    pending: Option<Signal>,
    /// Stop the test if the loop ever waits forever.
    limit: Duration,
}

impl FakeSystem {
    fn new(signals: Vec<(Duration, Signal)>) -> FakeSystem {
        let t0 = Instant::now();
        FakeSystem {
            t0,
            now: t0,
            signals,
            pending: None,
            limit: secs(3600),
        }
    }
}

impl System for FakeSystem {
    fn now(&self) -> Instant {
        self.now
    }
    fn wall(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + (self.now - self.t0)
    }
    fn wait(&mut self, until: Option<Instant>, _: &[std::os::fd::BorrowedFd<'_>]) {
        let until = until.unwrap_or(self.t0 + self.limit);
        if let Some(&(at, sig)) = self.signals.first() {
            if self.t0 + at <= until {
                self.now = self.now.max(self.t0 + at);
                self.pending = Some(sig);
                self.signals.remove(0);
                return;
            }
        }
        assert!(
            until <= self.t0 + self.limit,
            "the loop waited past the test's limit"
        );
        self.now = self.now.max(until);
    }
    fn take_signal(&mut self) -> Option<Signal> {
        self.pending.take()
    }
    fn termination_pending(&self) -> bool {
        matches!(self.pending, Some(Signal::Term | Signal::Int))
    }
}

type Script = Box<dyn FnMut(&str, Duration) -> Outcome>;

struct FakeProber {
    t0: Instant,
    script: Script,
    polls: Rc<RefCell<HashMap<String, u32>>>,
}

impl Prober for FakeProber {
    fn start(&mut self, check: &Check, now: Instant) -> Option<Outcome> {
        *self
            .polls
            .borrow_mut()
            .entry(check.name.clone())
            .or_default() += 1;
        Some((self.script)(&check.name, now - self.t0))
    }
}

#[derive(Default)]
struct FrrState {
    instances: BTreeMap<Vrf, (String, BTreeSet<IpNetwork>)>,
    down: bool,
    hang: bool,
    /// `network P` for these fails like FRR's "% Malformed prefix".
    refuse: BTreeSet<IpNetwork>,
    /// The next `busy` configuration calls fail like FRR 10's mgmtd while another session
    /// holds the configuration lock (alternating its two messages); counted down.
    busy: u32,
    /// Every call: its -c commands.
    calls: Vec<Vec<String>>,
}

impl FrrState {
    fn render(&self) -> String {
        let mut s = String::from(
            "Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\n!\n",
        );
        for (vrf, (asn, nets)) in &self.instances {
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

    fn has(&self, vrf: Option<&str>, p: &str) -> bool {
        let net: IpNetwork = p.parse().unwrap();
        self.instances
            .get(&vrf.map(String::from))
            .is_some_and(|(_, n)| n.contains(&net))
    }

    fn config_calls(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| c.first().map(String::as_str) == Some("configure terminal"))
            .count()
    }

    /// Interpret vtysh -c commands like FRR 8.4 does (stop at the first error).
    fn exec(&mut self, cmds: &[String]) -> Output {
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
        if cmds == ["show running-config"] {
            return ok(self.render());
        }
        if cmds.iter().all(|c| c.starts_with("show bgp")) {
            // The import check: a valid path for each configured prefix.
            let answers: Vec<&str> = cmds
                .iter()
                .map(|c| {
                    let w: Vec<&str> = c.split_whitespace().collect();
                    let vrf = (w[2] == "vrf").then(|| w[3].to_string());
                    let net: IpNetwork = w[w.len() - 2].parse().unwrap();
                    let has = self
                        .instances
                        .get(&vrf)
                        .is_some_and(|(_, n)| n.contains(&net));
                    if has {
                        r#"{"paths":[{"valid":true}]}"#
                    } else {
                        "{}"
                    }
                })
                .collect();
            return ok(answers.join("\n"));
        }
        let mut ctx: Option<Vrf> = None;
        for c in cmds {
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
                    let entry = self
                        .instances
                        .entry(vrf.clone())
                        .or_insert_with(|| (asn.to_string(), BTreeSet::new()));
                    if entry.0 != *asn {
                        return fail(&format!("BGP is already running; AS is {}", entry.0));
                    }
                    ctx = Some(vrf);
                }
                ["network", p] => {
                    let net: IpNetwork = p.parse().unwrap();
                    if self.refuse.contains(&net) {
                        return fail("% Malformed prefix (link-local address)\n");
                    }
                    self.instances
                        .get_mut(ctx.as_ref().unwrap())
                        .unwrap()
                        .1
                        .insert(net);
                }
                ["no", "network", p] => {
                    let net: IpNetwork = p.parse().unwrap();
                    if !self
                        .instances
                        .get_mut(ctx.as_ref().unwrap())
                        .unwrap()
                        .1
                        .remove(&net)
                    {
                        return fail("% Can't find static route specified\n");
                    }
                }
                _ => return fail(&format!("% Unknown command: {c}")),
            }
        }
        ok(String::new())
    }
}

struct FakeFrr(Rc<RefCell<FrrState>>);

impl Runner for FakeFrr {
    fn run(
        &mut self,
        _: &Path,
        args: &[String],
        timeout: Duration,
        _: &dyn Fn() -> bool,
    ) -> Result<Output, VError> {
        let mut st = self.0.borrow_mut();
        let cmds: Vec<String> = args
            .chunks(2)
            .filter(|p| p[0] == "-c")
            .map(|p| p[1].clone())
            .collect();
        st.calls.push(cmds.clone());
        if st.hang {
            return Err(VError::Timeout(timeout));
        }
        if st.busy > 0 && cmds.first().map(String::as_str) == Some("configure terminal") {
            st.busy -= 1;
            let stdout = if st.busy % 2 == 0 {
                "% Can't enter config; candidate datastore locked by another session\n"
            } else {
                "% command failed, could not lock candidate DS\n"
            };
            return Ok(Output {
                code: Some(1),
                stdout: stdout.into(),
                stderr: String::new(),
                elapsed: Duration::ZERO,
            });
        }
        if st.down {
            return Ok(Output {
                code: Some(1),
                stdout: String::new(),
                stderr: "Exiting: failed to connect to any daemons.\n".into(),
                elapsed: Duration::ZERO,
            });
        }
        Ok(st.exec(&cmds))
    }
}

const CONFIG: &str = r#"
[global]
reconcile_interval = 5
shutdown_timeout = 3
[services.dns]
prefixes.frrouting = ["203.0.113.53", "2001:db8:53::53"]
checks.cabourotte = [{ name = "dns", interval = 1 }]
[services.ntp]
prefixes.frrouting = ["203.0.113.123", { prefix = "198.18.0.123", vrf = "blue" }]
checks.cabourotte = [{ name = "ntp", interval = 1 }]
"#;

struct Run {
    exit: Exit,
    frr: Rc<RefCell<FrrState>>,
    polls: Rc<RefCell<HashMap<String, u32>>>,
    health: Vec<(String, Health)>,
}

fn frr_with(default: &[&str], blue: Option<&[&str]>) -> FrrState {
    let mut st = FrrState::default();
    st.instances.insert(
        None,
        (
            "65536".into(),
            default.iter().map(|p| p.parse().unwrap()).collect(),
        ),
    );
    if let Some(b) = blue {
        st.instances.insert(
            Some("blue".into()),
            (
                "65537".into(),
                b.iter().map(|p| p.parse().unwrap()).collect(),
            ),
        );
    }
    st
}

/// Run the daemon on `config` until the scripted SIGTERM; `hook` may change FRR at each poll.
fn run(
    config: &str,
    frr: FrrState,
    signals: Vec<(Duration, Signal)>,
    script: impl FnMut(&str, Duration, &mut FrrState) -> Outcome + 'static,
) -> Run {
    run_config(
        config::parse(config, Path::new("test.toml")).unwrap(),
        frr,
        signals,
        script,
    )
}

fn run_config(
    cfg: config::Config,
    frr: FrrState,
    signals: Vec<(Duration, Signal)>,
    mut script: impl FnMut(&str, Duration, &mut FrrState) -> Outcome + 'static,
) -> Run {
    let mut cfg = cfg;
    // Unit tests never touch the real daemon's state file, nor read its drains.
    cfg.global.state_file = None;
    if cfg.global.drain_file == Path::new(crate::config::DEFAULT_DRAIN_FILE) {
        cfg.global.drain_file = PathBuf::from("/nonexistent/anycastd-unit-test/drains.json");
    }
    let frr = Rc::new(RefCell::new(frr));
    let polls = Rc::new(RefCell::new(HashMap::new()));
    let mut system = FakeSystem::new(signals);
    let f2 = Rc::clone(&frr);
    let mut prober = FakeProber {
        t0: system.t0,
        script: Box::new(move |name, t| script(name, t, &mut f2.borrow_mut())),
        polls: Rc::clone(&polls),
    };
    let mut runner = FakeFrr(Rc::clone(&frr));
    let mut d = Daemon::new(cfg, &mut prober, &mut runner, &mut system);
    let exit = d.run();
    let health = d.health();
    Run {
        exit,
        frr,
        polls,
        health,
    }
}

fn term_at(s: u64) -> Vec<(Duration, Signal)> {
    vec![(secs(s), Signal::Term)]
}

#[test]
fn healthy_services_are_announced_in_one_vtysh_process_and_withdrawn_on_sigterm() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = Rc::clone(&seen);
    let r = run(
        CONFIG,
        frr_with(&["10.0.0.0/8"], Some(&[])),
        term_at(10),
        move |_, t, frr| {
            if t == secs(5) {
                s2.borrow_mut().push((
                    frr.has(None, "203.0.113.53/32"),
                    frr.has(None, "2001:db8:53::53/128"),
                    frr.has(Some("blue"), "198.18.0.123/32"),
                ));
            }
            Ok(())
        },
    );
    assert_eq!(seen.borrow()[0], (true, true, true));
    assert_eq!(r.exit, Exit::Clean);
    let st = r.frr.borrow();
    // announced with one process, withdrawn with one process
    assert_eq!(st.config_calls(), 2, "{:?}", st.calls);
    assert!(
        st.calls
            .iter()
            .any(|c| c.contains(&"router bgp 65537 vrf blue".to_string()))
    );
    assert!(!st.has(None, "203.0.113.53/32"));
    assert!(!st.has(Some("blue"), "198.18.0.123/32"));
    // never touches what it does not manage
    assert!(st.has(None, "10.0.0.0/8"));
    assert_eq!(
        r.health,
        [
            ("dns".to_string(), Health::Healthy),
            ("ntp".to_string(), Health::Healthy)
        ]
    );
}

#[test]
fn a_failing_check_withdraws_only_its_service_and_recovery_announces_again() {
    let states = Rc::new(RefCell::new(Vec::new()));
    let s2 = Rc::clone(&states);
    let r = run(
        CONFIG,
        frr_with(&[], Some(&[])),
        term_at(30),
        move |name, t, frr| {
            if name == "dns" {
                s2.borrow_mut().push((
                    t.as_secs(),
                    frr.has(None, "203.0.113.53/32"),
                    frr.has(None, "203.0.113.123/32"),
                ));
            }
            if name == "dns" && (10..20).contains(&t.as_secs()) {
                Err(Failure::Failed("connection refused".into()))
            } else {
                Ok(())
            }
        },
    );
    let states = states.borrow();
    let at = |s: u64| states.iter().find(|x| x.0 == s).copied().unwrap();
    assert_eq!(at(5), (5, true, true));
    assert_eq!(
        at(11),
        (11, false, true),
        "withdrawn right after the first failure"
    );
    assert_eq!(at(21), (21, true, true), "announced again after recovery");
    assert_eq!(r.exit, Exit::Clean);
    // one poll per second per check: no storm
    let polls = r.polls.borrow();
    assert!((29..=32).contains(&polls["dns"]), "{polls:?}");
}

#[test]
fn startup_adopts_a_healthy_prefix_without_a_flap_and_withdraws_a_stale_one() {
    let r = run(
        CONFIG,
        frr_with(
            &["203.0.113.53/32", "2001:db8:53::53/128", "203.0.113.123/32"],
            Some(&[]),
        ),
        term_at(3),
        |name, _, _| {
            if name == "ntp" {
                Err(Failure::Stale(secs(300)))
            } else {
                Ok(())
            }
        },
    );
    let st = r.frr.borrow();
    let first_config = st
        .calls
        .iter()
        .find(|c| c.first().map(String::as_str) == Some("configure terminal"))
        .unwrap();
    assert!(
        first_config.contains(&"no network 203.0.113.123/32".to_string()),
        "{first_config:?}"
    );
    assert!(
        !first_config.iter().any(|c| c.contains("203.0.113.53")),
        "no flap of the adopted prefix: {first_config:?}"
    );
    assert!(
        !first_config.iter().any(|c| c.starts_with("network")),
        "{first_config:?}"
    );
}

#[test]
fn nothing_is_decided_before_every_check_reported() {
    // ntp never answers before SIGTERM: its prefix present at start stays untouched until shutdown.
    let r = run(
        CONFIG,
        frr_with(&["203.0.113.123/32"], Some(&[])),
        term_at(4),
        |name, _, frr| {
            assert!(name != "ntp" || frr.has(None, "203.0.113.123/32"));
            Ok(())
        },
    );
    assert_eq!(r.exit, Exit::Clean);
}

#[test]
fn a_vrf_without_bgp_instance_is_never_created() {
    let announced = Rc::new(RefCell::new(false));
    let a2 = Rc::clone(&announced);
    let r = run(
        CONFIG,
        frr_with(&[], None),
        term_at(12),
        move |_, t, frr| {
            if t == secs(6) {
                // the other prefixes of the same service are announced regardless
                *a2.borrow_mut() = frr.has(None, "203.0.113.123/32");
            }
            Ok(())
        },
    );
    assert!(*announced.borrow());
    let st = r.frr.borrow();
    assert!(
        !st.instances.contains_key(&Some("blue".to_string())),
        "instance created"
    );
    assert!(st.calls.iter().flatten().all(|c| !c.contains("vrf blue")));
    assert_eq!(r.exit, Exit::Clean);
}

#[test]
fn frr_down_is_survived_and_state_restored_when_it_returns() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l2 = Rc::clone(&log);
    let r = run(
        CONFIG,
        frr_with(&[], Some(&[])),
        term_at(60),
        move |name, t, frr| {
            if name == "dns" {
                if t == secs(5) {
                    // bgpd restarts: runtime network lines are lost, and it is down a while
                    frr.instances.values_mut().for_each(|(_, n)| n.clear());
                    frr.down = true;
                }
                if t == secs(30) {
                    frr.down = false;
                }
                l2.borrow_mut().push((
                    t.as_secs(),
                    frr.calls.len(),
                    frr.has(None, "203.0.113.53/32"),
                ));
            }
            Ok(())
        },
    );
    let log = log.borrow();
    let calls_at = |s: u64| log.iter().find(|x| x.0 == s).unwrap().1;
    // back-off: far fewer than one call per second while down
    assert!(calls_at(29) - calls_at(6) <= 8, "{:?}", *log);
    // restored within the back-off bound after bgpd is back
    let back = log
        .iter()
        .find(|x| x.0 > 30 && x.2)
        .expect("never restored");
    assert!(back.0 <= 30 + 17, "restored only at {}", back.0);
    assert_eq!(r.exit, Exit::Clean);
}

#[test]
fn drift_is_repaired_at_the_next_reconcile() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l2 = Rc::clone(&log);
    run(
        CONFIG,
        frr_with(&[], Some(&[])),
        term_at(30),
        move |name, t, frr| {
            if name == "dns" {
                if t == secs(10) {
                    // removed by hand
                    frr.instances
                        .get_mut(&None)
                        .unwrap()
                        .1
                        .remove(&"203.0.113.53/32".parse().unwrap());
                }
                l2.borrow_mut()
                    .push((t.as_secs(), frr.has(None, "203.0.113.53/32")));
            }
            Ok(())
        },
    );
    let log = log.borrow();
    let back = log
        .iter()
        .find(|x| x.0 > 10 && x.1)
        .expect("never repaired");
    assert!(back.0 <= 10 + 6, "repaired at {}", back.0);
}

#[test]
fn a_withdraw_racing_a_manual_removal_converges() {
    // The prefix vanishes between our read and our write: vtysh says "Can't find static
    // route specified" and stops; the next read shows the truth.
    let r = run(
        CONFIG,
        frr_with(&[], Some(&[])),
        term_at(20),
        |name, t, frr| {
            if name == "dns" && t == secs(8) {
                frr.instances
                    .get_mut(&None)
                    .unwrap()
                    .1
                    .remove(&"2001:db8:53::53/128".parse().unwrap());
            }
            if name == "dns" && t >= secs(8) {
                Err(Failure::NoResult)
            } else {
                Ok(())
            }
        },
    );
    let st = r.frr.borrow();
    assert!(!st.has(None, "203.0.113.53/32"));
    assert_eq!(r.exit, Exit::Clean);
}

#[test]
fn shutdown_with_frr_down_reports_what_may_remain() {
    let r = run(
        CONFIG,
        frr_with(&[], Some(&[])),
        term_at(10),
        |_, t, frr| {
            if t == secs(8) {
                frr.down = true;
            }
            Ok(())
        },
    );
    match r.exit {
        Exit::Unconfirmed(left) => {
            assert!(
                left.iter().any(|l| l.contains("203.0.113.53/32")),
                "{left:?}"
            );
        }
        Exit::Clean => panic!("FRR was down, yet shutdown claimed success"),
    }
}

#[test]
fn vtysh_hanging_is_a_fault_not_a_stall() {
    let r = run(
        CONFIG,
        frr_with(&[], Some(&[])),
        term_at(20),
        |_, t, frr| {
            frr.hang = (3..12).contains(&t.as_secs());
            Ok(())
        },
    );
    assert_eq!(r.exit, Exit::Clean);
    assert!(!r.frr.borrow().has(None, "203.0.113.53/32"));
}

#[test]
fn a_prefix_shared_by_two_services_needs_both() {
    let cfg = r#"
[services.a]
prefixes.frrouting = ["203.0.113.1"]
checks.cabourotte = [{ name = "a", interval = 1 }]
[services.b]
prefixes.frrouting = ["203.0.113.1"]
checks.cabourotte = [{ name = "b", interval = 1 }]
"#;
    let log = Rc::new(RefCell::new(Vec::new()));
    let l2 = Rc::clone(&log);
    run(
        cfg,
        frr_with(&[], None),
        term_at(20),
        move |name, t, frr| {
            if name == "a" {
                l2.borrow_mut()
                    .push((t.as_secs(), frr.has(None, "203.0.113.1/32")));
            }
            if name == "b" && t >= secs(10) {
                Err(Failure::Failed("down".into()))
            } else {
                Ok(())
            }
        },
    );
    let log = log.borrow();
    assert!(log.iter().any(|x| x.0 < 10 && x.1));
    assert!(log.iter().filter(|x| x.0 > 11).all(|x| !x.1), "{log:?}");
}

#[test]
fn one_poll_feeds_every_service_that_lists_the_check() {
    let cfg = r#"
[services.a]
prefixes.frrouting = ["203.0.113.1"]
checks.cabourotte = [{ name = "shared", interval = 1 }]
[services.b]
prefixes.frrouting = ["203.0.113.2"]
checks.cabourotte = [{ name = "shared", interval = 1 }]
"#;
    let r = run(cfg, frr_with(&[], None), term_at(10), |_, _, _| Ok(()));
    let polls = r.polls.borrow();
    assert!((10..=12).contains(&polls["shared"]), "{polls:?}");
    assert!(r.health.iter().all(|(_, h)| *h == Health::Healthy));
}

fn run_file(
    path: &Path,
    frr: FrrState,
    signals: Vec<(Duration, Signal)>,
    script: impl FnMut(&str, Duration, &mut FrrState) -> Outcome + 'static,
) -> Run {
    run_config(config::load(path).unwrap(), frr, signals, script)
}

fn temp_config(tag: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("anycastd-unit-{tag}-{}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn reload_keeps_unchanged_services_and_withdraws_removed_ones() {
    let path = temp_config("reload", CONFIG);
    let p2 = path.clone();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l2 = Rc::clone(&log);
    let signals = vec![(secs(5), Signal::Hup), (secs(10), Signal::Term)];
    let r = run_file(
        &path,
        frr_with(&[], Some(&[])),
        signals,
        move |name, t, frr| {
            if name == "dns" && t == secs(4) {
                // ntp removed, dns unchanged, web added
                let new = CONFIG
                    .replace("[services.ntp]", "[services.web]")
                    .replace("\"ntp\"", "\"web\"")
                    .replace("203.0.113.123", "203.0.113.80")
                    .replace("198.18.0.123", "198.18.0.80");
                std::fs::write(&p2, new).unwrap();
            }
            if name == "dns" {
                l2.borrow_mut().push((
                    t.as_secs(),
                    frr.has(None, "203.0.113.123/32"),
                    frr.has(None, "203.0.113.80/32"),
                ));
            }
            Ok(())
        },
    );
    let _ = std::fs::remove_file(&path);
    let log = log.borrow();
    assert!(log.iter().any(|x| x.0 == 4 && x.1 && !x.2));
    assert!(log.iter().any(|x| x.0 == 7 && !x.1 && x.2), "{log:?}");
    let st = r.frr.borrow();
    let withdrawals_of_dns = st
        .calls
        .iter()
        .filter(|c| c.contains(&"no network 203.0.113.53/32".to_string()))
        .count();
    assert_eq!(
        withdrawals_of_dns, 1,
        "dns flapped on reload: {:?}",
        st.calls
    );
    assert_eq!(r.exit, Exit::Clean);
    assert_eq!(
        r.health.iter().map(|h| h.0.as_str()).collect::<Vec<_>>(),
        ["dns", "web"]
    );
}

#[test]
fn an_invalid_reload_changes_nothing() {
    let path = temp_config("badreload", CONFIG);
    let p2 = path.clone();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l2 = Rc::clone(&log);
    let signals = vec![(secs(5), Signal::Hup), (secs(10), Signal::Term)];
    let r = run_file(
        &path,
        frr_with(&[], Some(&[])),
        signals,
        move |name, t, frr| {
            if t == secs(4) {
                std::fs::write(&p2, "[services.dns]\nprefixes.frrouting = 5\n").unwrap();
            }
            if name == "dns" {
                l2.borrow_mut()
                    .push((t.as_secs(), frr.has(None, "203.0.113.123/32")));
            }
            Ok(())
        },
    );
    let _ = std::fs::remove_file(&path);
    assert!(log.borrow().iter().filter(|x| x.0 >= 2).all(|x| x.1));
    assert_eq!(r.frr.borrow().config_calls(), 2);
    assert_eq!(r.exit, Exit::Clean);
}

#[test]
fn dry_run_sends_no_configuration_and_logs_each_change_once() {
    let mut cfg = config::parse(CONFIG, Path::new("test.toml")).unwrap();
    cfg.global.state_file = None;
    cfg.global.drain_file = PathBuf::from("/nonexistent/anycastd-unit-test/drains.json");
    let frr = Rc::new(RefCell::new(frr_with(&["203.0.113.53/32"], Some(&[]))));
    let mut system = FakeSystem::new(term_at(30));
    let mut prober = FakeProber {
        t0: system.t0,
        script: Box::new(|n, _| {
            if n == "dns" {
                Err(Failure::NoResult)
            } else {
                Ok(())
            }
        }),
        polls: Rc::default(),
    };
    let mut runner = FakeFrr(Rc::clone(&frr));
    let exit = Daemon::new(cfg, &mut prober, &mut runner, &mut system)
        .dry_run(true)
        .run();
    assert_eq!(exit, Exit::Clean);
    let st = frr.borrow();
    assert_eq!(st.config_calls(), 0, "{:?}", st.calls);
    assert!(st.has(None, "203.0.113.53/32"), "dry run changed FRR");
}

#[test]
fn a_prefix_frr_refuses_never_holds_back_other_changes() {
    let cfg = r#"
[global]
reconcile_interval = 1
[services.ll]
prefixes.frrouting = ["203.0.113.99"]
checks.cabourotte = [{ name = "ll", interval = 1 }]
[services.b]
prefixes.frrouting = [{ prefix = "198.18.0.1", vrf = "blue" }, "203.0.113.1"]
checks.cabourotte = [{ name = "b", interval = 1 }]
"#;
    let mut frr = frr_with(&[], Some(&[]));
    frr.refuse.insert("203.0.113.99/32".parse().unwrap());
    let log = Rc::new(RefCell::new(Vec::new()));
    let l2 = Rc::clone(&log);
    let r = run(cfg, frr, term_at(20), move |name, t, frr| {
        if name == "b" {
            l2.borrow_mut().push((
                t.as_secs(),
                frr.has(Some("blue"), "198.18.0.1/32"),
                frr.has(None, "203.0.113.1/32"),
            ));
        }
        if name == "b" && t >= secs(10) {
            Err(Failure::Failed("down".into()))
        } else {
            Ok(())
        }
    });
    let log = log.borrow();
    assert!(
        log.iter().any(|x| x.0 < 10 && x.1 && x.2),
        "b never announced: {log:?}"
    );
    assert!(
        log.iter().filter(|x| x.0 >= 12).all(|x| !x.1 && !x.2),
        "b's withdrawal was held back: {log:?}"
    );
    assert_eq!(r.exit, Exit::Clean);
    // the refused prefix is tried alone at each reconcile, not in every batch
    let st = r.frr.borrow();
    let batches_with_it = st
        .calls
        .iter()
        .filter(|c| {
            c.contains(&"network 203.0.113.99/32".to_string())
                && c.iter().filter(|l| l.contains("network ")).count() > 1
        })
        .count();
    assert!(batches_with_it <= 1, "{:?}", st.calls);
}

#[test]
fn a_locked_configuration_is_busy_not_a_refusal() {
    // Another session holds FRR's configuration lock for the first 6 configuration calls.
    let mut frr = frr_with(&[], Some(&[]));
    frr.busy = 6;
    let log = Rc::new(RefCell::new(Vec::new()));
    let l2 = Rc::clone(&log);
    let r = run(CONFIG, frr, term_at(60), move |name, t, frr| {
        if name == "dns" {
            l2.borrow_mut()
                .push((t.as_secs(), frr.busy, frr.has(None, "203.0.113.53/32")));
        }
        Ok(())
    });
    let log = log.borrow();
    let free = log.iter().find(|x| x.1 == 0).expect("still busy").0;
    let announced = log.iter().find(|x| x.2).expect("never announced").0;
    assert!(free >= 10, "retried without back-off: free at {free} s");
    // announced at the first retry after the lock was released (back-off at most 10 s)
    assert!(
        announced > free && announced <= free + 11,
        "free at {free} s, announced at {announced} s"
    );
    assert_eq!(r.exit, Exit::Clean);
    let st = r.frr.borrow();
    // never isolated as a refused prefix: every attempt is the whole batch
    let lonely = st
        .calls
        .iter()
        .filter(|c| c.first().map(String::as_str) == Some("configure terminal"))
        .filter(|c| c.iter().filter(|l| l.starts_with("network ")).count() == 1)
        .count();
    assert_eq!(lonely, 0, "{:?}", st.calls);
    assert!(!st.has(None, "203.0.113.53/32"), "not withdrawn on SIGTERM");
}

#[test]
fn a_sighup_during_teardown_does_not_spin() {
    // FRR goes down just before SIGTERM; a SIGHUP arrives during the withdraw retries.
    let signals = vec![
        (secs(10), Signal::Term),
        (Duration::from_millis(10_100), Signal::Hup),
    ];
    let r = run(CONFIG, frr_with(&[], Some(&[])), signals, |_, t, frr| {
        if t >= secs(9) {
            frr.down = true;
        }
        Ok(())
    });
    assert!(matches!(r.exit, Exit::Unconfirmed(_)));
    let st = r.frr.borrow();
    // shutdown_timeout 3 s with a retry every 0.5 s: a handful of reads, not thousands
    let after = st.calls.len();
    assert!(after < 60, "{after} vtysh calls");
}

/// A bgpd with a running config larger than vtysh's output cap: ours is the last line.
#[test]
fn a_cut_off_running_config_never_confirms_a_withdrawal() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("anycastd-unit-cut-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let vtysh = dir.join("vtysh");
    // Every configuration command "succeeds"; the running config always lists ours after
    // 500 other `network` lines (about 13 KiB), past the 8 KiB cap.
    let script = "#!/bin/sh\ncase \"$*\" in *'show running-config'*) ;; *) exit 0 ;; esac\nprintf 'frr version 8.4.4\\n!\\nrouter bgp 65536\\n address-family ipv4 unicast\\n'\ni=0; while [ $i -lt 500 ]; do printf '  network 10.%d.%d.0/24\\n' $((i / 256)) $((i % 256)); i=$((i + 1)); done\nprintf '  network 203.0.113.53/32\\n exit-address-family\\nexit\\n!\\nend\\n'\n";
    std::fs::write(&vtysh, script).unwrap();
    std::fs::set_permissions(&vtysh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = format!(
        "[global]\nshutdown_timeout = 1\n[services.dns]\nprefixes.frrouting = [{{ prefix = \"203.0.113.53\", vtysh = \"{}\" }}]\nchecks.cabourotte = [{{ name = \"dns\", interval = 1 }}]\n",
        vtysh.display()
    );
    let mut cfg = config::parse(&text, Path::new("test.toml")).unwrap();
    cfg.global.state_file = None;
    cfg.global.drain_file = PathBuf::from("/nonexistent/anycastd-unit-test/drains.json");
    let mut system = FakeSystem::new(term_at(3));
    let mut prober = FakeProber {
        t0: system.t0,
        script: Box::new(|_, _| Ok(())),
        polls: Rc::new(RefCell::new(HashMap::new())),
    };
    let mut runner = crate::vtysh::Capped(8 * 1024);
    let exit = Daemon::new(cfg, &mut prober, &mut runner, &mut system).run();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        matches!(&exit, Exit::Unconfirmed(left) if left.iter().any(|l| l.contains("203.0.113.53/32"))),
        "a cut-off read confirmed the withdrawal: {exit:?}"
    );
}

#[test]
fn reload_moving_a_check_between_services_decides_at_once() {
    // Check x (60 s interval, failing) moves from service a to healthy service b: b must
    // become unhealthy from x's known result, not wait 60 s for its next poll.
    let first = "[services.a]\nprefixes.frrouting = [\"203.0.113.1\"]\nchecks.cabourotte = [{ name = \"x\", interval = 60 }]\n[services.b]\nprefixes.frrouting = [\"203.0.113.2\"]\nchecks.cabourotte = [{ name = \"y\", interval = 1 }]\n";
    let second = "[services.a]\nprefixes.frrouting = [\"203.0.113.1\"]\nchecks.cabourotte = [{ name = \"y\", interval = 1 }]\n[services.b]\nprefixes.frrouting = [\"203.0.113.2\"]\nchecks.cabourotte = [{ name = \"y\", interval = 1 }, { name = \"x\", interval = 60 }]\n";
    let path = temp_config("movecheck", first);
    let p2 = path.clone();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l2 = Rc::clone(&log);
    let signals = vec![(secs(5), Signal::Hup), (secs(20), Signal::Term)];
    run_file(&path, frr_with(&[], None), signals, move |name, t, frr| {
        if t == secs(4) && name == "y" {
            std::fs::write(&p2, second).unwrap();
        }
        if name == "y" {
            l2.borrow_mut()
                .push((t.as_secs(), frr.has(None, "203.0.113.2/32")));
        }
        if name == "x" {
            Err(Failure::Failed("x down".into()))
        } else {
            Ok(())
        }
    });
    let _ = std::fs::remove_file(&path);
    let log = log.borrow();
    assert!(log.iter().any(|x| x.0 < 5 && x.1), "{log:?}");
    assert!(
        log.iter().filter(|x| x.0 >= 7).all(|x| !x.1),
        "b kept its prefix with a failing check: {log:?}"
    );
}

#[test]
fn reload_moving_a_prefix_to_another_vtysh_path_withdraws_it_from_the_old_one() {
    let first = "[services.a]\nprefixes.frrouting = [{ prefix = \"203.0.113.1\", vtysh = \"/old/vtysh\" }]\nchecks.cabourotte = [{ name = \"a\", interval = 1 }]\n";
    let second = "[global]\nreconcile_interval = 30\n[services.a]\nprefixes.frrouting = [{ prefix = \"203.0.113.1\", vtysh = \"/new/vtysh\" }]\nchecks.cabourotte = [{ name = \"a\", interval = 1 }]\n";
    let path = temp_config("movevtysh", first);
    let p2 = path.clone();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l2 = Rc::clone(&log);
    let signals = vec![(secs(5), Signal::Hup), (secs(12), Signal::Term)];
    // Both paths reach the same (fake) FRR: the prefix must be back at once, not after
    // the 30 s reconcile interval.
    let r = run_file(&path, frr_with(&[], None), signals, move |_, t, frr| {
        if t == secs(4) {
            std::fs::write(&p2, second).unwrap();
        }
        l2.borrow_mut()
            .push((t.as_secs(), frr.has(None, "203.0.113.1/32")));
        Ok(())
    });
    let _ = std::fs::remove_file(&path);
    let log = log.borrow();
    assert!(
        log.iter().filter(|x| x.0 >= 6).all(|x| x.1),
        "gap after moving the vtysh path: {log:?}"
    );
    assert_eq!(r.exit, Exit::Clean);
}

fn many_services(n: usize, interval: &str) -> String {
    let mut text = String::from("[global]\nreconcile_interval = 5\nshutdown_timeout = 3\n");
    for k in 0..n {
        text += &format!(
            "[services.s{k}]\nprefixes.frrouting = [\"10.{}.{}.0/24\"]\nchecks.cabourotte = [{{ name = \"c{k}\", interval = {interval} }}]\n",
            k / 256,
            k % 256
        );
    }
    text
}

#[test]
fn a_health_change_costs_one_vtysh_call_and_no_read() {
    let marks = Rc::new(RefCell::new(Vec::new()));
    let m2 = Rc::clone(&marks);
    let r = run(
        CONFIG,
        frr_with(&[], Some(&[])),
        term_at(12),
        move |name, t, frr| {
            if name == "dns" && (t == secs(7) || t == secs(9)) {
                m2.borrow_mut().push(frr.calls.len());
            }
            if name == "dns" && t >= secs(7) {
                Err(Failure::Failed("down".into()))
            } else {
                Ok(())
            }
        },
    );
    let st = r.frr.borrow();
    let marks = marks.borrow();
    // Between the failing poll at 7 s and the poll at 9 s: the withdrawal alone.
    let between = &st.calls[marks[0]..marks[1]];
    assert_eq!(between.len(), 1, "{between:?}");
    assert_eq!(between[0][0], "configure terminal");
    assert!(
        between[0].contains(&"no network 203.0.113.53/32".to_string()),
        "{between:?}"
    );
    // The next read (the reconcile at 10 s) confirms it and finds nothing to repair.
    let after = &st.calls[marks[1]..];
    assert_eq!(after[0], ["show running-config"], "{after:?}");
    assert!(
        !after
            .iter()
            .any(|c| c.iter().any(|x| x.contains("network 203.0.113.53/32"))),
        "nothing to repair, nothing left to withdraw: {after:?}"
    );
}

#[test]
fn a_thousand_services_turning_healthy_together_take_two_vtysh_calls_at_most() {
    let n = 1000;
    let r = run(
        &many_services(n, "1"),
        frr_with(&[], None),
        term_at(8),
        |_, t, _| {
            if t < secs(3) {
                Err(Failure::Failed("not yet".into()))
            } else {
                Ok(())
            }
        },
    );
    let st = r.frr.borrow();
    let announcing: Vec<&Vec<String>> = st
        .calls
        .iter()
        .filter(|c| c.iter().any(|x| x.starts_with("network ")))
        .collect();
    assert!(
        announcing.len() <= 2,
        "{} vtysh calls announced the burst",
        announcing.len()
    );
    let lines: usize = announcing
        .iter()
        .map(|c| c.iter().filter(|x| x.starts_with("network ")).count())
        .sum();
    assert_eq!(lines, n);
    // Every check kept its schedule: about one poll a second each.
    let polls = r.polls.borrow();
    assert!(
        polls.values().all(|&p| (7..=9).contains(&p)),
        "{:?}",
        polls.values().min()
    );
    assert_eq!(r.exit, Exit::Clean);
}

#[test]
fn first_polls_are_spread_over_the_interval_deterministically() {
    let cfg = config::parse(&many_services(3000, "1"), Path::new("t.toml")).unwrap();
    let t0 = Instant::now();
    let parts = build(&cfg);
    let first = splay(&parts.checks, t0);
    assert_eq!(first.len(), 3000);
    assert_eq!(first[0], (0, t0), "the first check is polled at once");
    assert!(first.iter().all(|&(_, at)| at >= t0 && at < t0 + secs(1)));
    // Evenly: about a third of them in each third of the interval.
    let third = first
        .iter()
        .filter(|&&(_, at)| at < t0 + Duration::from_millis(333))
        .count();
    assert!((950..=1050).contains(&third), "{third}");
    assert_eq!(first, splay(&parts.checks, t0), "deterministic");
    // A few checks are not held back: 1 ms apart.
    let few = config::parse(&many_services(3, "5"), Path::new("t.toml")).unwrap();
    let first = splay(&build(&few).checks, t0);
    assert!(
        first
            .iter()
            .all(|&(_, at)| at < t0 + Duration::from_millis(3))
    );
}

/// A runner that, before letting vtysh announce anything, reads the state file on disk
/// and fails the test if the prefix is not listed there (the crash record is written
/// ahead of every announcement).
struct WriteAhead {
    inner: FakeFrr,
    state: PathBuf,
    checked: Rc<RefCell<usize>>,
}

impl Runner for WriteAhead {
    fn run(
        &mut self,
        vtysh: &Path,
        args: &[String],
        timeout: Duration,
        abort: &dyn Fn() -> bool,
    ) -> Result<Output, VError> {
        for a in args {
            if let Some(p) = a.strip_prefix("network ") {
                let snap = crate::state::read(&self.state).expect("state file readable");
                let listed = snap.prefixes().iter().any(|x| x.canonical() == p);
                assert!(listed, "{p} announced before the state file listed it");
                *self.checked.borrow_mut() += 1;
            }
        }
        self.inner.run(vtysh, args, timeout, abort)
    }
}

#[test]
fn the_state_file_lists_a_prefix_before_frr_may_announce_it() {
    let dir = std::env::temp_dir().join(format!("anycastd-unit-wal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let before = "[services.dns]\nprefixes.frrouting = [\"203.0.113.53\"]\nchecks.cabourotte = [{ name = \"dns\", interval = 1 }]\n";
    let added = "[services.web]\nprefixes.frrouting = [\"203.0.113.80\"]\nchecks.cabourotte = [{ name = \"web\", interval = 1 }]\n";
    let head = format!(
        "[global]\nstate_file = \"{}\"\nreconcile_interval = 5\n",
        state.display()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, format!("{head}{before}")).unwrap();
    let frr = Rc::new(RefCell::new(frr_with(&[], None)));
    let mut system = FakeSystem::new(vec![(secs(3), Signal::Hup), (secs(6), Signal::Term)]);
    let (p2, text) = (path.clone(), format!("{head}{before}{added}"));
    let mut prober = FakeProber {
        t0: system.t0,
        script: Box::new(move |_, t| {
            if t >= secs(2) {
                std::fs::write(&p2, &text).unwrap();
            }
            Ok(())
        }),
        polls: Rc::new(RefCell::new(HashMap::new())),
    };
    let checked = Rc::new(RefCell::new(0));
    let mut runner = WriteAhead {
        inner: FakeFrr(Rc::clone(&frr)),
        state: state.clone(),
        checked: Rc::clone(&checked),
    };
    let cfg = config::load(&path).unwrap();
    let exit = Daemon::new(cfg, &mut prober, &mut runner, &mut system).run();
    assert_eq!(exit, Exit::Clean);
    assert_eq!(*checked.borrow(), 2, "both announcements were checked");
    assert!(!frr.borrow().has(None, "203.0.113.80/32"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reconcile_asks_bgpd_about_a_bounded_number_of_good_prefixes() {
    let r = run(
        &many_services(300, "1"),
        frr_with(&[], None),
        term_at(30),
        |_, _, _| Ok(()),
    );
    let st = r.frr.borrow();
    let probes: Vec<usize> = st
        .calls
        .iter()
        .filter(|c| c[0].starts_with("show bgp"))
        .map(Vec::len)
        .collect();
    // The first asks about all 300 (unknown), the next ones about 100 each, in turn.
    assert_eq!(probes[0], 300, "{probes:?}");
    assert!(probes.len() >= 4, "{probes:?}");
    assert!(probes[1..].iter().all(|&n| n == 100), "{probes:?}");
    // Three rounds after the first cover every prefix once.
    let asked: BTreeSet<&String> = st
        .calls
        .iter()
        .filter(|c| c[0].starts_with("show bgp"))
        .skip(1)
        .take(3)
        .flatten()
        .collect();
    assert_eq!(asked.len(), 300);
    assert_eq!(r.exit, Exit::Clean);
}

thread_local! {
    static CAPTURED: RefCell<Option<Vec<(log::Level, String)>>> = const { RefCell::new(None) };
}

/// A logger that keeps what the current thread logs while [`capture_logs`] runs.
struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        CAPTURED.with(|c| {
            if let Some(v) = c.borrow_mut().as_mut() {
                v.push((record.level(), record.args().to_string()));
            }
        });
    }
    fn flush(&self) {}
}

fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, Vec<(log::Level, String)>) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = log::set_logger(&Capture);
        log::set_max_level(log::LevelFilter::Info);
    });
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let out = f();
    let logs = CAPTURED.with(|c| c.borrow_mut().take().unwrap_or_default());
    (out, logs)
}

/// vtysh stops at a refused announcement after applying what came before it: the audit
/// says what FRR really did, and nothing is sent twice or reported as "already gone".
#[test]
fn a_partial_batch_is_audited_as_frr_applied_it() {
    let cfg = r#"
[global]
reconcile_interval = 5
[services.dns]
prefixes.frrouting = ["203.0.113.53"]
checks.cabourotte = [{ name = "dns", interval = 1 }]
[services.web]
prefixes.frrouting = ["203.0.113.80"]
checks.cabourotte = [{ name = "web", interval = 1 }]
[services.ll]
prefixes.frrouting = ["203.0.113.99"]
checks.cabourotte = [{ name = "ll", interval = 1 }]
"#;
    let mut frr = frr_with(&["203.0.113.53/32"], None);
    frr.refuse.insert("203.0.113.99/32".parse().unwrap());
    let (r, logs) = capture_logs(|| {
        run(cfg, frr, term_at(3), |name, _, _| {
            if name == "dns" {
                Err(Failure::Failed("down".into()))
            } else {
                Ok(())
            }
        })
    });
    let said = |needle: &str| logs.iter().any(|(_, m)| m.contains(needle));
    assert!(said("Withdrew prefix 203.0.113.53/32"), "{logs:#?}");
    assert!(said("Announced prefix 203.0.113.80/32"), "{logs:#?}");
    assert!(
        said("FRR refuses to announce prefix 203.0.113.99/32"),
        "{logs:#?}"
    );
    assert!(!said("already gone"), "{logs:#?}");
    let st = r.frr.borrow();
    let withdrawals = st
        .calls
        .iter()
        .filter(|c| c.contains(&"no network 203.0.113.53/32".to_string()))
        .count();
    assert_eq!(withdrawals, 1, "{:?}", st.calls);
    assert_eq!(r.exit, Exit::Clean);
}

/// A prober whose results come later, as a command check's do: each start is answered
/// `delay` after it through `finished`, and the loop must wake for that by `deadline`.
struct LaterProber {
    t0: Instant,
    delay: Duration,
    /// Results fail from then on.
    fail_after: Duration,
    pending: Vec<(Instant, Check, Outcome)>,
    starts: Rc<RefCell<u32>>,
}

impl Prober for LaterProber {
    fn start(&mut self, check: &Check, now: Instant) -> Option<Outcome> {
        *self.starts.borrow_mut() += 1;
        if self.pending.iter().any(|(_, c, _)| c == check) {
            return None;
        }
        let outcome = if now - self.t0 >= self.fail_after {
            Err(Failure::Exit(1, "down".into()))
        } else {
            Ok(())
        };
        self.pending
            .push((now + self.delay, check.clone(), outcome));
        None
    }
    fn finished(&mut self, now: Instant) -> Vec<crate::check::Finished> {
        let (done, left): (Vec<_>, Vec<_>) =
            self.pending.drain(..).partition(|(at, _, _)| *at <= now);
        self.pending = left;
        done.into_iter()
            .map(|(_, check, outcome)| crate::check::Finished {
                check,
                outcome,
                took: self.delay,
            })
            .collect()
    }
    fn deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|(at, _, _)| *at).min()
    }
}

#[test]
fn results_that_arrive_later_decide_health_like_any_other() {
    let cfg = config::parse(
        "[services.dns]\nprefixes.frrouting = [\"203.0.113.53\"]\nchecks.command = [{ name = \"dns\", command = [\"/bin/true\"], interval = 1, timeout = \"500ms\" }]\n",
        Path::new("test.toml"),
    )
    .unwrap();
    let mut cfg = cfg;
    cfg.global.state_file = None;
    cfg.global.drain_file = PathBuf::from("/nonexistent/anycastd-unit-test/drains.json");
    let frr = Rc::new(RefCell::new(frr_with(&[], None)));
    let mut system = FakeSystem::new(term_at(10));
    let starts = Rc::new(RefCell::new(0));
    let mut prober = LaterProber {
        t0: system.t0,
        delay: Duration::from_millis(300),
        fail_after: secs(5),
        pending: Vec::new(),
        starts: Rc::clone(&starts),
    };
    let mut runner = FakeFrr(Rc::clone(&frr));
    let mut d = Daemon::new(cfg, &mut prober, &mut runner, &mut system);
    let exit = d.run();
    let health = d.health();
    drop(d);
    assert_eq!(exit, Exit::Clean);
    assert_eq!(health, [("dns".to_string(), Health::Unhealthy)]);
    let st = frr.borrow();
    let calls: Vec<String> = st.calls.iter().flatten().cloned().collect();
    assert!(
        calls
            .iter()
            .any(|c| c == " network 203.0.113.53/32" || c == "network 203.0.113.53/32"),
        "never announced: {calls:?}"
    );
    assert!(!st.has(None, "203.0.113.53/32"));
    // One start a second, for ten seconds.
    assert!(
        (9..=11).contains(&*starts.borrow()),
        "{} starts",
        starts.borrow()
    );
}

/// A drained service in its drain time is held, never announced anew: drained while it
/// failed, it turns healthy during the drain time and stays withdrawn; the other service,
/// announced when drained, stays announced through the drain route-map until the drain
/// time ends, then goes.
#[test]
fn a_drain_time_holds_what_frr_has_and_never_announces_anew() {
    let dir = std::env::temp_dir().join(format!("anycastd-hold-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let drains = dir.join("drains.json");
    // Drained at t = 1 s of the fake clock (FakeSystem's wall clock starts at 1_700_000_000).
    let since = 1_700_000_001.0;
    std::fs::write(
        &drains,
        format!(
            r#"{{"version":1,"services":{{"dns":{{"since":"x","since_unix":{since},"reason":"r"}},"web":{{"since":"x","since_unix":{since},"reason":"r"}}}}}}"#
        ),
    )
    .unwrap();
    let text = format!(
        "[global]\ndrain_time = \"10s\"\ndrain_route_map = \"DRAIN\"\ndrain_file = \"{}\"\nshutdown_timeout = 3\n\
         [services.dns]\nprefixes.frrouting = [\"203.0.113.53\"]\nchecks.cabourotte = [{{ name = \"dns\", interval = 1 }}]\n\
         [services.web]\nprefixes.frrouting = [\"203.0.113.54\"]\nchecks.cabourotte = [{{ name = \"web\", interval = 1 }}]\n",
        drains.display()
    );
    let mut cfg = config::parse(&text, Path::new("test.toml")).unwrap();
    cfg.global.state_file = None;
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = Rc::clone(&seen);
    let r = run_config(
        cfg,
        frr_with(&["203.0.113.54/32"], None),
        term_at(15),
        move |name, t, frr| {
            s2.borrow_mut().push((
                t.as_secs(),
                frr.has(None, "203.0.113.53/32"),
                frr.has(None, "203.0.113.54/32"),
            ));
            match name {
                // dns fails for 4 s, then passes, within the drain time.
                "dns" if t < secs(4) => Err(Failure::Failed("down".into())),
                _ => Ok(()),
            }
        },
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let st = r.frr.borrow();
    let announced_53 = st.calls.iter().flatten().any(|c| {
        c.trim() == "network 203.0.113.53/32" || c.trim().starts_with("network 203.0.113.53/32 ")
    });
    assert!(
        !announced_53,
        "a drained service was announced anew: {:?}",
        st.calls
    );
    // web: held through DRAIN during the drain time, withdrawn after it (t ≥ 11 s).
    assert!(
        st.calls
            .iter()
            .flatten()
            .any(|c| c.trim() == "network 203.0.113.54/32 route-map DRAIN"),
        "{:?}",
        st.calls
    );
    let seen = seen.borrow();
    assert!(
        seen.iter().any(|&(t, _, w)| (5..=9).contains(&t) && w),
        "{seen:?}"
    );
    assert!(seen.iter().any(|&(t, _, w)| t >= 12 && !w), "{seen:?}");
    assert_eq!(r.exit, Exit::Clean);
}
