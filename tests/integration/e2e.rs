//! End to end: the real `anycastd` binary, the Cabourotte stand-in and real FRR (two routers
//! in network namespaces, see `lab.rs`). Every assertion is about what an operator would
//! look at: the routes router B learned over BGP, and the `network` lines in router A's
//! running config.
//!
//! Each test builds its own lab (about 1.5 s) and runs in parallel with the others. The
//! checks poll every 200 ms, so a health change reaches B in well under a second; the bounds
//! below are far above that, for loaded machines. Measured numbers are printed (see them
//! with `--nocapture`).
//!
//! `e2e::demo` (ignored) is `make demo`: `examples/config.toml`, step by step.

use crate::cabourotte::{Api, Behavior, Cabourotte};
use crate::harness::{self, Anycastd, TempDir, wait_until};
use crate::lab::{self, Lab};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);
/// A health change or a start-up reaching B: ~0.2 s poll + ~0.1 s FRR, with a wide margin.
const CONVERGE: Duration = Duration::from_secs(10);
/// How long B may take to get the intended state back after A's bgpd restarted (sessions
/// re-established, runtime `network` lines lost, the daemon's retry back-off).
const BGPD_RECOVERY_BOUND: Duration = Duration::from_secs(20);

/// (vrf, prefix) as `Lab::a_networks` reports it.
type Net = (Option<String>, String);

// ---------------------------------------------------------------------- the services

/// The three services every test configures: `dns` (IPv4 + IPv6) and `web` in the default
/// VRF, `ntp` in the lab's VRF. Each has one check of its own name.
const SERVICES: [(&str, &[&str]); 3] = [
    ("dns", &[lab::SVC4_53, lab::SVC6_53]),
    ("web", &[lab::SVC4_54]),
    ("ntp", &[lab::VRF_SVC4_123]),
];

fn prefixes_of(service: &str) -> Vec<&'static str> {
    SERVICES
        .iter()
        .filter(|(s, _)| *s == service)
        .flat_map(|(_, p)| p.iter().copied())
        .collect()
}

fn all_prefixes() -> Vec<&'static str> {
    SERVICES
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .collect()
}

/// How A's running config lists `prefix` when the daemon announced it.
fn net(lab: &Lab, prefix: &str) -> Net {
    let vrf = lab::VRF_PREFIXES
        .contains(&prefix)
        .then(|| lab.vrf_name().to_string());
    (vrf, prefix.to_string())
}

fn nets(lab: &Lab, prefixes: &[&str]) -> BTreeSet<Net> {
    prefixes.iter().map(|p| net(lab, p)).collect()
}

fn a_networks(lab: &Lab) -> BTreeSet<Net> {
    lab.a_networks().into_iter().collect()
}

/// The configuration: every prefix in the long form with the lab's vtysh wrapper, every check
/// polled every 200 ms. `global` goes into `[global]`, `extra` is appended (more services).
///
/// `fall = 2`: with four labs (16 FRR daemons) and their tests on two CPUs, one poll now and
/// then misses its 150 ms timeout (seen: `no answer within 150ms`); with the default
/// `fall = 1` that single miss withdraws a healthy service and fails the test for reasons
/// that have nothing to do with what it checks. A real failure still drops a service in two
/// polls (~0.4 s).
fn config(lab: &Lab, cab: &Cabourotte, global: &str, extra: &str) -> String {
    let vtysh = lab.vtysh_a().display().to_string();
    let mut text = format!("[global]\nshutdown_timeout = \"5s\"\n{global}\n");
    for (service, prefixes) in SERVICES {
        text += &format!("\n[services.{service}]\nfall = 2\nprefixes.frrouting = [\n");
        for p in prefixes {
            let vrf = if lab::VRF_PREFIXES.contains(p) {
                format!(", vrf = \"{}\"", lab.vrf_name())
            } else {
                String::new()
            };
            text += &format!("  {{ prefix = \"{p}\"{vrf}, vtysh = \"{vtysh}\" }},\n");
        }
        text += &format!("]\nchecks.cabourotte = [{}]\n", check(cab, service));
    }
    text + extra
}

fn check(cab: &Cabourotte, name: &str) -> String {
    format!(
        "{{ name = \"{name}\", url = \"{}\", interval = \"200ms\", timeout = \"150ms\" }}",
        cab.url()
    )
}

/// A Cabourotte stand-in where every service's check passes, and a temp dir.
fn setup() -> (TempDir, Cabourotte) {
    let cab = Cabourotte::start(Api::V2);
    for (service, _) in SERVICES {
        cab.set(service, Behavior::Success);
    }
    (TempDir::new("e2e"), cab)
}

// ---------------------------------------------------------------------- observing

fn b_has_all(lab: &Lab, prefixes: &[&str]) -> bool {
    prefixes.iter().all(|p| lab.b_has_route(p))
}

fn b_has_none(lab: &Lab, prefixes: &[&str]) -> bool {
    prefixes.iter().all(|p| !lab.b_has_route(p))
}

/// Polls until `cond` holds; the time it took, or `None` after `timeout`.
fn timed(timeout: Duration, cond: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    wait_until(timeout, cond).then(|| t0.elapsed())
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// What a failure message needs: A's network lines, which of ours B has, the log's tail.
fn state(lab: &Lab, log: &str) -> String {
    let b: Vec<&str> = all_prefixes()
        .into_iter()
        .filter(|p| lab.b_has_route(p))
        .collect();
    let lines: Vec<&str> = log.lines().collect();
    format!(
        "A's network lines: {:?}\nB has: {b:?}\nanycastd log (last 40 lines):\n{}",
        lab.a_networks(),
        lines[lines.len().saturating_sub(40)..].join("\n")
    )
}

/// Events of a JSON log whose text contains `needle`, at `level`.
fn events_at(d: &Anycastd, level: &str, needle: &str) -> usize {
    d.events()
        .iter()
        .filter(|e| e["level"] == level && e["event"].as_str().is_some_and(|t| t.contains(needle)))
        .count()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

// ---------------------------------------------------------------------- other invocations

/// The binary with other arguments than `harness::Anycastd` gives it (`withdraw`,
/// `run --dry-run`, `check`), its stdout and stderr in a file; killed when dropped.
struct Invocation {
    child: Child,
    log_path: PathBuf,
    exit: Option<i32>,
}

impl Invocation {
    fn start(dir: &Path, tag: &str, args: &[&str]) -> Invocation {
        let log_path = dir.join(format!("{tag}.log"));
        let log = fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", log_path.display()));
        let err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("dup {}: {e}", log_path.display()));
        let child = Command::new(harness::bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} {args:?}: {e}", harness::bin()));
        Invocation {
            child,
            log_path,
            exit: None,
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("run kill: {e}"));
        assert!(st.success(), "kill -s {sig} failed");
    }

    /// The exit code (-1 for a signal), or `None` while it still runs after `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        if self.exit.is_none() {
            let child = &mut self.child;
            let mut code = None;
            wait_until(timeout, || match child.try_wait() {
                Ok(Some(st)) => {
                    code = Some(st.code().unwrap_or(-1));
                    true
                }
                _ => false,
            });
            self.exit = code;
        }
        self.exit
    }
}

impl Drop for Invocation {
    fn drop(&mut self) {
        if self.exit.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One `network` line on A, by hand (as an operator would add one that is not ours).
fn add_network_by_hand(lab: &Lab, vrf: Option<&str>, prefix: &str) {
    lab.a_configure(vrf, prefix, &format!("network {prefix}"));
}

// ---------------------------------------------------------------------- tests

/// Healthy services: B learns every prefix (IPv4, IPv6, the VRF's), and A's running config
/// has exactly our `network` lines, each in its VRF.
#[test]
fn healthy_services_are_learned_by_b() {
    let Some(lab) = Lab::require() else { return };
    let (dir, cab) = setup();
    let mut d = Anycastd::start(dir.path(), &config(&lab, &cab, "", ""));
    let all = all_prefixes();
    let took = timed(CONVERGE, || b_has_all(&lab, &all));
    assert!(
        took.is_some(),
        "B did not learn {all:?}\n{}",
        state(&lab, &d.log())
    );
    println!(
        "e2e: B learned all {} prefixes {} after anycastd started",
        all.len(),
        took.map(secs).unwrap_or_default()
    );
    assert_eq!(
        a_networks(&lab),
        nets(&lab, &all),
        "{}",
        state(&lab, &d.log())
    );
    for (service, _) in SERVICES {
        assert_eq!(
            d.count(&format!(
                "Service \"{service}\" is now considered healthy, announcing related prefixes."
            )),
            1
        );
    }
    assert_eq!(d.stop("TERM"), 0, "{}", d.log());
    assert!(lab.a_networks().is_empty(), "{}", state(&lab, &d.log()));
}

/// A failing check takes exactly its service's prefixes off B; when it passes again they
/// come back. The other services' prefixes (default VRF and VRF) never move.
#[test]
fn a_failing_check_drops_only_its_service_and_recovery_restores_it() {
    let Some(lab) = Lab::require() else { return };
    let (dir, cab) = setup();
    let mut d = Anycastd::start(dir.path(), &config(&lab, &cab, "", ""));
    let all = all_prefixes();
    let dns = prefixes_of("dns");
    let others: Vec<&str> = all.iter().copied().filter(|p| !dns.contains(p)).collect();
    assert!(
        wait_until(CONVERGE, || b_has_all(&lab, &all)),
        "{}",
        state(&lab, &d.log())
    );

    cab.set("dns", Behavior::Failure("dig: connection timed out".into()));
    let drop = timed(CONVERGE, || b_has_none(&lab, &dns));
    assert!(
        drop.is_some(),
        "B kept dns's {dns:?} with its check failing\n{}",
        state(&lab, &d.log())
    );
    assert!(
        b_has_all(&lab, &others),
        "another service's prefix left B\n{}",
        state(&lab, &d.log())
    );
    assert_eq!(
        a_networks(&lab),
        nets(&lab, &others),
        "{}",
        state(&lab, &d.log())
    );
    assert!(d.wait_log("is now considered unhealthy", 5 * SEC));

    cab.set("dns", Behavior::Success);
    let learn = timed(CONVERGE, || b_has_all(&lab, &dns));
    assert!(
        learn.is_some(),
        "B did not learn dns's {dns:?} again\n{}",
        state(&lab, &d.log())
    );
    assert!(b_has_all(&lab, &others), "{}", state(&lab, &d.log()));
    assert_eq!(
        a_networks(&lab),
        nets(&lab, &all),
        "{}",
        state(&lab, &d.log())
    );
    println!(
        "e2e: health change → B: dropped {dns:?} in {}, learned them again in {} \
         (check interval 200 ms, fall 2)",
        drop.map(secs).unwrap_or_default(),
        learn.map(secs).unwrap_or_default()
    );
    assert_eq!(d.stop("TERM"), 0, "{}", d.log());
    assert!(lab.a_networks().is_empty(), "{}", state(&lab, &d.log()));
}

/// SIGTERM and SIGINT, alternating, 20 times on one lab: every time anycastd exits 0 and A's
/// running config has none of our `network` lines left (checked the moment it exited).
#[test]
fn sigterm_and_sigint_leave_nothing_in_frr_20_times() {
    let Some(lab) = Lab::require() else { return };
    let (dir, cab) = setup();
    let cfg = config(&lab, &cab, "", "");
    let all = all_prefixes();
    let mut failures = Vec::new();
    let mut stop_times = Vec::new();
    for i in 0..20 {
        let sig = if i % 2 == 0 { "TERM" } else { "INT" };
        let mut d = Anycastd::start(dir.path(), &cfg);
        if !wait_until(CONVERGE, || b_has_all(&lab, &all)) {
            failures.push(format!(
                "run {i}: B never learned everything\n{}",
                state(&lab, &d.log())
            ));
            continue;
        }
        let t0 = Instant::now();
        d.signal(sig);
        let code = d.wait_exit(20 * SEC);
        let took = t0.elapsed();
        let left = lab.a_networks();
        if code != Some(0) || !left.is_empty() {
            failures.push(format!(
                "run {i} (SIG{sig}): exit {code:?}, left in A: {left:?}\n{}",
                state(&lab, &d.log())
            ));
            continue;
        }
        stop_times.push(took);
        if !wait_until(CONVERGE, || b_has_none(&lab, &all)) {
            failures.push(format!(
                "run {i} (SIG{sig}): B kept routes\n{}",
                state(&lab, &d.log())
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    println!(
        "e2e: signal → exit over 20 runs: median {}, max {}",
        secs(median(stop_times.clone())),
        secs(stop_times.iter().max().copied().unwrap_or_default())
    );
}

/// A restart of the daemon (the old one was SIGKILLed, its `network` lines stayed): the line
/// of a service that is now unhealthy is withdrawn, the lines of healthy services are adopted
/// — B never loses them, sampled every ~20 ms (plus the time of one vtysh call) from the start
/// of the new daemon until its service has been healthy for 2 s.
#[test]
fn stale_lines_after_a_restart_unhealthy_withdrawn_healthy_kept_without_a_gap() {
    let Some(lab) = Lab::require() else { return };
    let (dir, cab) = setup();
    let cfg = config(&lab, &cab, "", "");
    let all = all_prefixes();
    let web = prefixes_of("web");
    let kept: Vec<&str> = all.iter().copied().filter(|p| !web.contains(p)).collect();

    let mut first = Anycastd::start(dir.path(), &cfg);
    assert!(
        wait_until(CONVERGE, || b_has_all(&lab, &all)),
        "{}",
        state(&lab, &first.log())
    );
    first.signal("KILL");
    assert!(first.wait_exit(5 * SEC).is_some(), "SIGKILL did not kill");
    assert_eq!(
        a_networks(&lab),
        nets(&lab, &all),
        "the killed daemon's lines should all still be there"
    );
    cab.set("web", Behavior::Failure("HTTP 503".into()));

    // The new daemon; watch B's route for dns's IPv4 prefix all along.
    let watched = lab::SVC4_53;
    let mut d = Anycastd::start(dir.path(), &cfg);
    let t0 = Instant::now();
    // Read as raw text, not parsed (`Anycastd::count`): the loop must stay fast.
    let healthy = |log: String| {
        log.lines().any(|l| {
            l.contains("\"service_name\": \"dns\"") && l.contains("is now considered healthy")
        })
    };
    let mut healthy_at: Option<Duration> = None;
    let mut samples = 0u32;
    let mut gaps: Vec<(Duration, Duration)> = Vec::new(); // (start, length)
    let mut gap_start: Option<Duration> = None;
    let mut web_gone_at: Option<Duration> = None;
    loop {
        let has = lab.b_has_route(watched);
        let now = t0.elapsed();
        samples += 1;
        match (has, gap_start) {
            (false, None) => gap_start = Some(now),
            (true, Some(s)) => {
                gaps.push((s, now - s));
                gap_start = None;
            }
            _ => {}
        }
        if web_gone_at.is_none() && b_has_none(&lab, &web) {
            web_gone_at = Some(t0.elapsed());
        }
        if healthy_at.is_none() && healthy(d.log()) {
            healthy_at = Some(now);
        }
        if healthy_at.is_some_and(|h| now >= h + 2 * SEC) {
            break;
        }
        assert!(
            now < CONVERGE,
            "dns never became healthy\n{}",
            state(&lab, &d.log())
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Some(s) = gap_start {
        gaps.push((s, t0.elapsed() - s));
    }
    let observed = t0.elapsed();
    if web_gone_at.is_none() && wait_until(CONVERGE, || b_has_none(&lab, &web)) {
        web_gone_at = Some(t0.elapsed());
    }
    println!(
        "e2e: restart over stale lines: {watched} sampled {samples} times over {} (dns healthy \
         after {}): gaps {gaps:?}; the stale line of unhealthy web was gone from B after {}",
        secs(observed),
        healthy_at.map(secs).unwrap_or_default(),
        web_gone_at.map_or("never".to_string(), secs)
    );
    assert!(
        gaps.is_empty(),
        "B lost {watched} during the restart: (start, length) {gaps:?}\n{}",
        state(&lab, &d.log())
    );
    assert!(
        web_gone_at.is_some(),
        "the stale line of unhealthy web stayed on B\n{}",
        state(&lab, &d.log())
    );
    assert!(b_has_all(&lab, &kept), "{}", state(&lab, &d.log()));
    assert_eq!(
        a_networks(&lab),
        nets(&lab, &kept),
        "{}",
        state(&lab, &d.log())
    );
    for p in &kept {
        assert_eq!(
            d.count(&format!("Withdrew prefix {p}")),
            0,
            "healthy {p} was withdrawn (and re-announced)\n{}",
            d.log()
        );
    }
    assert_eq!(d.count(&format!("Withdrew prefix {}", lab::SVC4_54)), 1);
    assert_eq!(d.stop("TERM"), 0, "{}", d.log());
    assert!(lab.a_networks().is_empty(), "{}", state(&lab, &d.log()));
}

/// A prefix in a VRF that has no BGP instance in FRR: an error, once; the other services are
/// announced as usual; and no `router bgp … vrf nosuch` is ever created.
#[test]
fn a_vrf_without_a_bgp_instance_is_reported_and_never_created() {
    let Some(lab) = Lab::require() else { return };
    let (dir, cab) = setup();
    cab.set("lost", Behavior::Success);
    let extra = format!(
        "\n[services.lost]\nfall = 2\nprefixes.frrouting = [{{ prefix = \"{}\", vrf = \"nosuch\", vtysh = \"{}\" }}]\n\
         checks.cabourotte = [{}]\n",
        lab::SVC4_55,
        lab.vtysh_a().display(),
        check(&cab, "lost")
    );
    let before = lab.a_instances();
    let mut d = Anycastd::start(
        dir.path(),
        &config(&lab, &cab, "reconcile_interval = \"1s\"", &extra),
    );
    let all = all_prefixes();
    assert!(
        wait_until(CONVERGE, || b_has_all(&lab, &all)),
        "the other services were not announced\n{}",
        state(&lab, &d.log())
    );
    let error = "FRR has no BGP instance for VRF \"nosuch\"";
    assert!(
        wait_until(5 * SEC, || events_at(&d, "error", error) >= 1),
        "no error about VRF nosuch\n{}",
        d.log()
    );
    // A few reconcile rounds (1 s each): still logged once, still nothing created.
    std::thread::sleep(Duration::from_millis(2500));
    let after = lab.a_instances();
    assert_eq!(after, before, "the daemon changed FRR's BGP instances");
    assert!(
        !after.iter().any(|(_, v)| v.as_deref() == Some("nosuch")),
        "a `router bgp … vrf nosuch` was created: {after:?}"
    );
    assert_eq!(
        d.count("FRR has no BGP instance"),
        1,
        "logged more than once\n{}",
        d.log()
    );
    assert!(!lab.b_has_route(lab::SVC4_55));
    assert_eq!(
        a_networks(&lab),
        nets(&lab, &all),
        "{}",
        state(&lab, &d.log())
    );
    assert!(b_has_all(&lab, &all), "{}", state(&lab, &d.log()));
    assert_eq!(d.stop("TERM"), 0, "{}", d.log());
    assert!(lab.a_networks().is_empty(), "{}", state(&lab, &d.log()));
    assert_eq!(lab.a_instances(), before);
}

/// bgpd stops while the daemon runs: the daemon stays up and says so once; when bgpd is back
/// (with frr.conf only: the runtime `network` lines are gone, like after a real restart), the
/// reconcile loop announces everything again, within 20 s.
#[test]
fn bgpd_stopping_and_coming_back_is_survived_and_repaired() {
    let Some(mut lab) = Lab::require() else {
        return;
    };
    let (dir, cab) = setup();
    let mut d = Anycastd::start(
        dir.path(),
        &config(&lab, &cab, "reconcile_interval = \"1s\"", ""),
    );
    let all = all_prefixes();
    assert!(
        wait_until(CONVERGE, || b_has_all(&lab, &all)),
        "{}",
        state(&lab, &d.log())
    );

    lab.stop_bgpd_a();
    let t_stop = Instant::now();
    let noticed = timed(10 * SEC, || d.log().contains("bgpd is not reachable"));
    assert!(noticed.is_some(), "bgpd down not noticed\n{}", d.log());
    assert!(
        wait_until(CONVERGE, || b_has_none(&lab, &all)),
        "B kept routes with A's bgpd gone"
    );
    // Down for a while: several retries with back-off, still one error line.
    std::thread::sleep(3 * SEC);
    assert_eq!(
        d.wait_exit(Duration::ZERO),
        None,
        "anycastd exited with bgpd down\n{}",
        d.log()
    );
    let down_for = t_stop.elapsed();

    let t0 = Instant::now();
    lab.start_bgpd_a();
    let mut reconciled_at = None;
    let mut restored_at = None;
    wait_until(30 * SEC, || {
        // The log between every vtysh call: "works again" and B's routes are ~0.1 s apart.
        let mut note = || {
            if reconciled_at.is_none() && d.log().contains("works again") {
                reconciled_at = Some(t0.elapsed());
            }
        };
        for p in &all {
            note();
            if !lab.b_has_route(p) {
                return false;
            }
        }
        note();
        restored_at = Some(t0.elapsed());
        true
    });
    let established = timed(30 * SEC, || lab.wait_established(Duration::ZERO));
    println!(
        "e2e: bgpd down for {} (noticed after {}); after bgpd started again: anycastd \
         reconciled after {}, B had everything again after {} (bound {})",
        secs(down_for),
        noticed.map(secs).unwrap_or_default(),
        reconciled_at.map_or("-".to_string(), secs),
        restored_at.map_or("never".to_string(), secs),
        secs(BGPD_RECOVERY_BOUND)
    );
    assert!(established.is_some(), "BGP sessions did not come back");
    let Some(restored) = restored_at else {
        panic!(
            "B did not get everything back within 30 s\n{}",
            state(&lab, &d.log())
        );
    };
    assert!(
        restored <= BGPD_RECOVERY_BOUND,
        "recovery took {} (bound {})\n{}",
        secs(restored),
        secs(BGPD_RECOVERY_BOUND),
        state(&lab, &d.log())
    );
    assert_eq!(
        a_networks(&lab),
        nets(&lab, &all),
        "{}",
        state(&lab, &d.log())
    );
    assert!(d.wait_log("works again", 5 * SEC), "{}", d.log());
    assert_eq!(
        d.count("bgpd is not reachable"),
        1,
        "bgpd down logged more than once\n{}",
        d.log()
    );
    assert_eq!(d.stop("TERM"), 0, "{}", d.log());
    assert!(lab.a_networks().is_empty(), "{}", state(&lab, &d.log()));
}

/// `anycastd withdraw -c CONFIG` after the daemon was SIGKILLed with everything announced:
/// exit 0, none of our lines left, B drops them; lines added by hand (default VRF and VRF)
/// stay, and B keeps them.
#[test]
fn withdraw_command_after_sigkill_removes_ours_and_only_ours() {
    let Some(lab) = Lab::require() else { return };
    let (dir, cab) = setup();
    let mut d = Anycastd::start(dir.path(), &config(&lab, &cab, "", ""));
    let all = all_prefixes();
    assert!(
        wait_until(CONVERGE, || b_has_all(&lab, &all)),
        "{}",
        state(&lab, &d.log())
    );
    let by_hand = [lab::SVC4_55, lab::VRF_SVC4_198];
    add_network_by_hand(&lab, None, lab::SVC4_55);
    add_network_by_hand(&lab, Some(lab.vrf_name()), lab::VRF_SVC4_198);
    assert!(wait_until(CONVERGE, || b_has_all(&lab, &by_hand)));

    d.signal("KILL");
    assert!(d.wait_exit(5 * SEC).is_some(), "SIGKILL did not kill");
    let mut everything = all.clone();
    everything.extend(by_hand);
    assert_eq!(a_networks(&lab), nets(&lab, &everything));

    let cfg = d.config_path.display().to_string();
    let t0 = Instant::now();
    let mut w = Invocation::start(
        dir.path(),
        "withdraw",
        &["withdraw", "-c", &cfg, "--log-format", "json"],
    );
    let code = w.wait_exit(30 * SEC);
    let took = t0.elapsed();
    assert_eq!(code, Some(0), "anycastd withdraw:\n{}", w.log());
    assert_eq!(
        a_networks(&lab),
        nets(&lab, &by_hand),
        "after withdraw\n{}",
        w.log()
    );
    assert!(
        wait_until(CONVERGE, || b_has_none(&lab, &all)),
        "B kept a withdrawn prefix\n{}",
        state(&lab, &w.log())
    );
    assert!(b_has_all(&lab, &by_hand), "B lost a prefix added by hand");
    println!("e2e: anycastd withdraw took {} (exit 0)", secs(took));
}

/// `anycastd run --dry-run`: logs what it would send, changes nothing in FRR, B learns
/// nothing; SIGTERM still exits 0.
#[test]
fn dry_run_changes_nothing_in_frr() {
    let Some(lab) = Lab::require() else { return };
    let (dir, cab) = setup();
    let before = lab.a_running_config();
    let cfg_path = dir.path().join("config.toml");
    fs::write(&cfg_path, config(&lab, &cab, "", ""))
        .unwrap_or_else(|e| panic!("write {}: {e}", cfg_path.display()));
    let cfg = cfg_path.display().to_string();
    let mut d = Invocation::start(
        dir.path(),
        "dry-run",
        &[
            "run",
            "--dry-run",
            "-c",
            &cfg,
            "--log-format",
            "json",
            "--log-level",
            "debug",
        ],
    );
    assert!(
        wait_until(CONVERGE, || d.log().contains("Dry run: not running")),
        "no `Dry run: not running` in the log:\n{}",
        d.log()
    );
    // Long enough for a real announcement to reach B several times over.
    let all = all_prefixes();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1500) {
        let learned: Vec<&str> = all.iter().copied().filter(|p| lab.b_has_route(p)).collect();
        assert!(learned.is_empty(), "B learned {learned:?} in a dry run");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        lab.a_running_config(),
        before,
        "the dry run changed A's running config"
    );
    let log = d.log();
    let dry: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Dry run: not running"))
        .collect();
    for p in &all {
        assert!(
            dry.iter().any(|l| l.contains(&format!("network {p}"))),
            "no dry-run line announces {p}:\n{}",
            dry.join("\n")
        );
    }
    d.signal("TERM");
    assert_eq!(d.wait_exit(20 * SEC), Some(0), "{}", d.log());
    assert_eq!(lab.a_running_config(), before);
}

// ---------------------------------------------------------------------- the example and the demo

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config.toml")
}

/// Numbered, timed steps; after the first failure the rest are skipped, the lab is still
/// torn down, and the test fails.
struct Demo {
    total: usize,
    done: usize,
    passed: usize,
    failed: usize,
}

impl Demo {
    /// Runs step `done + 1` if no step failed yet: `f` returns the value and the line to print.
    fn step<T>(&mut self, f: impl FnOnce() -> Result<(T, String), String>) -> Option<T> {
        if self.failed > 0 {
            return None;
        }
        self.done += 1;
        let t0 = Instant::now();
        let result = f();
        let took = t0.elapsed().as_secs_f64();
        match result {
            Ok((value, line)) => {
                self.passed += 1;
                println!("[{}/{}] {line} ({took:.1} s)", self.done, self.total);
                Some(value)
            }
            Err(why) => {
                self.failed += 1;
                println!("[{}/{}] FAILED: {why} ({took:.1} s)", self.done, self.total);
                None
            }
        }
    }
}

/// `make demo`: the example configuration against real FRR. Run with
/// `cargo test --release --test integration e2e::demo -- --ignored --nocapture --test-threads=1`.
#[test]
#[ignore = "the demo: `make demo`"]
fn demo() {
    let t_all = Instant::now();
    let mut demo = Demo {
        total: 9,
        done: 0,
        passed: 0,
        failed: 0,
    };
    let dns = [lab::SVC4_53, lab::SVC6_53];
    let ntp = lab::VRF_SVC4_123;
    let web4 = lab::SVC4_54;
    let all = [lab::SVC4_53, lab::SVC6_53, ntp, web4];
    let example = fs::read_to_string(example_path())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", example_path().display()));
    println!();
    println!(
        "demo: anycastd with {} against real FRR",
        example_path().display()
    );
    println!(
        "demo: router A (AS {}) announces, router B (AS {}) tells what really went out",
        lab::ASN_A,
        lab::ASN_B
    );

    let lab = demo.step(|| {
        let lab = Lab::require().ok_or("FRR lab not available (see SKIPPED above)")?;
        let line = format!(
            "lab up: routers A and B in network namespaces, VRF {} on A, BGP sessions Established",
            lab.vrf_name()
        );
        Ok((lab, line))
    });
    let cab = Cabourotte::start(Api::V2);
    cab.set("dns", Behavior::Success);
    cab.set("ntp", Behavior::Success);
    // A real local service with a built-in check: an HTTP server of the demo's own.
    let mut web = crate::harness::Web::start();
    let dir = TempDir::new("demo");
    let mut daemon: Option<Anycastd> = None;

    if let Some(lab) = &lab {
        demo.step(|| {
            let vtysh = lab.vtysh_a().display().to_string();
            let cfg = example
                .replace("\"/usr/bin/vtysh\"", &format!("\"{vtysh}\""))
                .replace("\"http://127.0.0.1:9013\"", &format!("\"{}\"", cab.url()))
                .replace("vrf = \"blue\"", &format!("vrf = \"{}\"", lab.vrf_name()))
                + &format!(
                    "\n# The demo's web service, checked by anycastd itself (no Cabourotte).\n[services.web]\nprefixes.frrouting = [{{ prefix = \"{web4}\", vtysh = \"{vtysh}\" }}]\nchecks.http = [{{ name = \"web\", url = \"{}\", interval = \"500ms\", timeout = \"300ms\", body = \"ok\" }}]\n",
                    web.url()
                );
            let unreplaced: Vec<&str> = cfg
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .filter(|l| {
                    l.contains("/usr/bin/vtysh") || l.contains(":9013") || l.contains("\"blue\"")
                })
                .collect();
            if !unreplaced.is_empty() {
                return Err(format!(
                    "examples/config.toml: not pointed at the lab: {unreplaced:?}"
                ));
            }
            // What an operator does first: `anycastd check` (docs.rs checks the file as is).
            let checked = dir.path().join("checked.toml");
            fs::write(&checked, &cfg).map_err(|e| format!("write {}: {e}", checked.display()))?;
            let mut c = Invocation::start(
                dir.path(),
                "check",
                &["check", "-c", &checked.display().to_string()],
            );
            if c.wait_exit(10 * SEC) != Some(0) {
                return Err(format!("anycastd check rejects the example:\n{}", c.log()));
            }
            let listed = all
                .iter()
                .all(|p| c.log().contains(&format!("prefix {p} ")));
            if !listed {
                return Err(format!("the example does not list {all:?}:\n{}", c.log()));
            }
            let d = daemon.insert(Anycastd::start(dir.path(), &cfg));
            if !wait_until(CONVERGE, || b_has_all(lab, &all)) {
                return Err(format!("B did not learn {all:?}\n{}", state(lab, &d.log())));
            }
            let line = format!(
                "anycastd started; B learned {}, {} (service dns), {ntp} (service ntp, vrf {}) and {web4} (service web, http check of {})",
                dns[0],
                dns[1],
                lab.vrf_name(),
                web.url()
            );
            Ok(((), line))
        });
        demo.step(|| {
            cab.set("dns", Behavior::Failure("dig: connection timed out".into()));
            let log = || daemon.as_ref().map(|d| d.log()).unwrap_or_default();
            if !wait_until(CONVERGE, || b_has_none(lab, &dns)) {
                return Err(format!("B kept dns's prefixes\n{}", state(lab, &log())));
            }
            if !lab.b_has_route(ntp) {
                return Err(format!("B lost ntp's {ntp} too\n{}", state(lab, &log())));
            }
            Ok((
                (),
                format!(
                    "check \"dns\" fails → B lost {} and {}; {ntp} (ntp) stays",
                    dns[0], dns[1]
                ),
            ))
        });
        demo.step(|| {
            cab.set("dns", Behavior::Success);
            let log = || daemon.as_ref().map(|d| d.log()).unwrap_or_default();
            if !wait_until(CONVERGE, || b_has_all(lab, &all)) {
                return Err(format!(
                    "B did not learn dns's prefixes again\n{}",
                    state(lab, &log())
                ));
            }
            Ok((
                (),
                format!(
                    "check \"dns\" passes again → B learned {} and {} again",
                    dns[0], dns[1]
                ),
            ))
        });
        demo.step(|| {
            web.stop();
            let log = || daemon.as_ref().map(|d| d.log()).unwrap_or_default();
            if !wait_until(CONVERGE, || !lab.b_has_route(web4)) {
                return Err(format!("B kept web's {web4}\n{}", state(lab, &log())));
            }
            Ok((
                (),
                format!(
                    "the web service stops (port {} closed) → B lost {web4}",
                    web.port
                ),
            ))
        });
        demo.step(|| {
            web.restart();
            let log = || daemon.as_ref().map(|d| d.log()).unwrap_or_default();
            if !wait_until(CONVERGE, || b_has_all(lab, &all)) {
                return Err(format!(
                    "B did not learn {web4} again\n{}",
                    state(lab, &log())
                ));
            }
            Ok((
                (),
                format!("the web service starts again → B learned {web4} again"),
            ))
        });
        demo.step(|| {
            let d = daemon.as_mut().ok_or("anycastd is not running")?;
            d.signal("TERM");
            match d.wait_exit(20 * SEC) {
                Some(0) => Ok((
                    (),
                    "SIGTERM → anycastd withdrew everything and exited 0".to_string(),
                )),
                other => Err(format!("SIGTERM → anycastd exit {other:?}\n{}", d.log())),
            }
        });
        demo.step(|| {
            let ours: BTreeSet<Net> = all.iter().map(|p| net(lab, p)).collect();
            let left: Vec<Net> = lab
                .a_networks()
                .into_iter()
                .filter(|n| ours.contains(n))
                .collect();
            if !left.is_empty() {
                return Err(format!("A's running config still has {left:?}"));
            }
            if !wait_until(CONVERGE, || b_has_none(lab, &all)) {
                return Err("B still has some of the prefixes".to_string());
            }
            Ok((
                (),
                "A's running config has none of the prefixes, and B has no route to them"
                    .to_string(),
            ))
        });
    }
    // The last step runs even after a failure: the lab must go in any case.
    drop(daemon);
    let t0 = Instant::now();
    let names = lab
        .as_ref()
        .map(|l| [l.ns_a().to_string(), l.ns_b().to_string()]);
    drop(lab);
    demo.done = demo.total;
    let left: Vec<String> = names
        .into_iter()
        .flatten()
        .filter(|ns| Path::new("/run/netns").join(ns).exists())
        .collect();
    if left.is_empty() {
        demo.passed += 1;
        println!(
            "[{}/{}] lab torn down ({:.1} s)",
            demo.done,
            demo.total,
            t0.elapsed().as_secs_f64()
        );
    } else {
        demo.failed += 1;
        println!(
            "[{}/{}] FAILED: namespaces {left:?} survived the lab",
            demo.done, demo.total
        );
    }
    println!("demo: took {:.1} s in all", t_all.elapsed().as_secs_f64());
    println!("demo: {} passed, {} failed", demo.passed, demo.failed);
    assert!(
        demo.failed == 0 && demo.passed == demo.total,
        "demo: {} of {} steps passed",
        demo.passed,
        demo.total
    );
}
