//! `anycastd drain` / `undrain` against real FRR: what router B receives. A drained
//! service's prefixes leave B and stay away whatever its checks say, until undrain; a
//! drain survives a restart of the daemon and applies from its very start; a shared
//! prefix goes when any service listing it is drained; an unknown service is an error
//! that lists the known ones.

use crate::harness::{Anycastd, Notify, TempDir, Web, cli, text, wait_until};
use crate::lab::{self, Lab, LabOptions};
use std::path::Path;
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);
const CONVERGE: Duration = Duration::from_secs(10);

fn tail(d: &Anycastd) -> String {
    let log = d.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// dns (SVC4_53) and web (SVC4_54) with an http check each against `web`; `shared`
/// (SVC4_55) is listed by both.
fn config(lab: &Lab, dir: &Path, web: &Web) -> String {
    let p = |x: &str| {
        format!(
            "{{ prefix = \"{x}\", vtysh = \"{}\" }}",
            lab.vtysh_a().display()
        )
    };
    format!(
        "[global]\nshutdown_timeout = \"5s\"\nstate_file = \"{}\"\ndrain_file = \"{}\"\nmetrics_file = \"{}\"\n\
         [services.dns]\nprefixes.frrouting = [{}, {}]\nchecks.http = [{{ name = \"dns\", url = \"{}\", interval = \"200ms\", timeout = \"150ms\" }}]\n\
         [services.web]\nprefixes.frrouting = [{}, {}]\nchecks.http = [{{ name = \"web\", url = \"{}\", interval = \"200ms\", timeout = \"150ms\" }}]\n",
        dir.join("state.json").display(),
        dir.join("lib/drains.json").display(),
        dir.join("metrics.prom").display(),
        p(lab::SVC4_53),
        p(lab::SVC4_55),
        web.url(),
        p(lab::SVC4_54),
        p(lab::SVC4_55),
        web.url(),
    )
}

#[test]
fn a_drained_service_leaves_b_until_undrain_and_a_shared_prefix_goes_with_it() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let dir = TempDir::new("drain");
    let web = Web::start();
    let mut d = Anycastd::start(dir.path(), &config(&lab, dir.path(), &web));
    let cfg = d.config_path.clone();
    for p in [lab::SVC4_53, lab::SVC4_54, lab::SVC4_55] {
        assert!(
            lab.wait_b_has_route(p, true, CONVERGE),
            "B never learned {p}\n{}",
            tail(&d)
        );
    }

    let o = cli(&cfg, &["drain", "dns", "--reason", "kernel upgrade"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("drained: dns"),
        "{}",
        text(&o)
    );
    let t0 = Instant::now();
    assert!(
        lab.wait_b_has_route(lab::SVC4_53, false, CONVERGE),
        "dns stayed on B\n{}",
        tail(&d)
    );
    println!("drain → B lost dns's prefix in {:?}", t0.elapsed());
    // The shared prefix goes with it; web's own stays.
    assert!(
        lab.wait_b_has_route(lab::SVC4_55, false, CONVERGE),
        "the shared prefix stayed"
    );
    assert!(lab.b_has_route(lab::SVC4_54), "web's prefix went too");
    // Checks keep running and pass; the prefix stays away.
    std::thread::sleep(2 * SEC);
    assert!(!lab.b_has_route(lab::SVC4_53));
    let st = cli(&cfg, &["status"]);
    let out = String::from_utf8_lossy(&st.stdout);
    assert!(out.contains("DRAINED since"), "{out}");
    assert!(out.contains("by \"kernel upgrade\""), "{out}");
    assert!(out.contains("checks: healthy"), "{out}");
    assert!(
        wait_until(5 * SEC, || std::fs::read_to_string(
            dir.path().join("metrics.prom")
        )
        .unwrap_or_default()
        .contains("anycastd_service_drained{service=\"dns\"} 1")),
        "metrics do not show the drain"
    );
    let audit = d.events().into_iter().any(|e| {
        e["trigger"] == "drain"
            && e["reason"] == "drained: kernel upgrade"
            && e["prefix"] == lab::SVC4_53
    });
    assert!(
        audit,
        "no audit line with trigger drain and the reason\n{}",
        tail(&d)
    );

    let o = cli(&cfg, &["undrain", "dns"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for p in [lab::SVC4_53, lab::SVC4_55] {
        assert!(
            lab.wait_b_has_route(p, true, CONVERGE),
            "{p} did not come back\n{}",
            tail(&d)
        );
    }
    // The audit line is written when vtysh returns, B may be a moment ahead.
    assert!(
        wait_until(5 * SEC, || d
            .events()
            .into_iter()
            .any(|e| e["trigger"] == "undrain")),
        "no audit line for the undrain\n{}",
        tail(&d)
    );

    // An unknown service: an error that lists the known ones, and nothing changes.
    let o = cli(&cfg, &["drain", "mail"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the configuration has: dns, web"),
        "{}",
        text(&o)
    );
    assert_eq!(d.stop("TERM"), 0, "{}", tail(&d));
}

#[test]
fn a_drain_outlives_the_daemon_and_applies_from_its_start() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let dir = TempDir::new("drainrestart");
    let web = Web::start();
    let text_cfg = config(&lab, dir.path(), &web);
    // Drained while no daemon runs: the command says so.
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, &text_cfg).expect("write config");
    let o = cli(&cfg, &["drain", "--all", "--reason", "maintenance"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut d = Anycastd::start(dir.path(), &text_cfg);
    // For two seconds after its start, A never gets a line for any of them.
    let end = Instant::now() + 2 * SEC;
    while Instant::now() < end {
        let lines = lab.a_networks();
        assert!(
            lines
                .iter()
                .all(|(_, p)| ![lab::SVC4_53, lab::SVC4_54, lab::SVC4_55].contains(&p.as_str())),
            "a drained service was announced at start: {lines:?}\n{}",
            tail(&d)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Undrain one, restart the daemon: the other stays drained.
    let o = cli(&cfg, &["undrain", "web"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        lab.wait_b_has_route(lab::SVC4_54, true, CONVERGE),
        "web did not come\n{}",
        tail(&d)
    );
    assert_eq!(d.stop("TERM"), 0, "{}", tail(&d));
    assert!(lab.wait_b_has_route(lab::SVC4_54, false, CONVERGE));
    let mut d = Anycastd::start(dir.path(), &text_cfg);
    assert!(
        lab.wait_b_has_route(lab::SVC4_54, true, CONVERGE),
        "web did not come back\n{}",
        tail(&d)
    );
    std::thread::sleep(SEC);
    assert!(
        !lab.b_has_route(lab::SVC4_53),
        "dns came back after a restart although drained"
    );
    assert!(
        !lab.b_has_route(lab::SVC4_55),
        "the shared prefix came back although dns is drained"
    );
    assert_eq!(d.stop("TERM"), 0, "{}", tail(&d));
}

/// The communities B sees on its best path for `prefix` from A (FRR's text, e.g.
/// "64500:100 graceful-shutdown"); `None`: B has no such route.
fn b_communities(lab: &Lab, prefix: &str) -> Option<String> {
    let out = lab.vtysh_ok(
        crate::lab::Router::B,
        &["-c", &format!("show bgp ipv4 unicast {prefix} json")],
    );
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    if v["prefix"].as_str() != Some(prefix) {
        return None;
    }
    let paths = v["paths"].as_array()?;
    let best = paths
        .iter()
        .find(|p| p["bestpath"]["overall"].as_bool() == Some(true))?;
    Some(
        best["community"]["string"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    )
}

fn gshut(c: &str) -> bool {
    c.contains("graceful-shutdown") || c.contains("65535:0")
}

/// `[global]` with `global` (lines) and the state and drain files in `dir`; service dns
/// (SVC4_53, its prefix entry ending in `dns_extra`) checked against `dns_web`, web
/// (SVC4_54) against `web_web`, both at 200 ms.
fn dns_and_web(
    lab: &Lab,
    dir: &Path,
    global: &str,
    dns_extra: &str,
    dns_web: &Web,
    web_web: &Web,
) -> String {
    let vtysh = lab.vtysh_a().display().to_string();
    format!(
        "[global]\nshutdown_timeout = \"5s\"\n{global}state_file = \"{}\"\ndrain_file = \"{}\"\n\
         [services.dns]\nprefixes.frrouting = [{{ prefix = \"{}\", vtysh = \"{vtysh}\"{dns_extra} }}]\n\
         checks.http = [{{ name = \"dns\", url = \"{}\", interval = \"200ms\", timeout = \"150ms\" }}]\n\
         [services.web]\nprefixes.frrouting = [{{ prefix = \"{}\", vtysh = \"{vtysh}\" }}]\n\
         checks.http = [{{ name = \"web\", url = \"{}\", interval = \"200ms\", timeout = \"150ms\" }}]\n",
        dir.join("state.json").display(),
        dir.join("drains.json").display(),
        lab::SVC4_53,
        dns_web.url(),
        lab::SVC4_54,
        web_web.url(),
    )
}

/// What B receives: the normal announcement through the prefix's own route-map (its
/// community), during the drain time the GRACEFUL_SHUTDOWN community of the drain
/// route-map, then nothing; after undrain the normal announcement again. A route-map
/// removed by hand is drift and is put back. A failing check during the drain time
/// withdraws at once. SIGTERM drains everything first; a second one skips the wait.
#[test]
fn graceful_drain_is_seen_on_the_wire() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    lab.vtysh_ok(
        crate::lab::Router::A,
        &[
            "-c",
            "configure terminal",
            "-c",
            "route-map ANYCASTD-DRAIN permit 10",
            "-c",
            "set community 65535:0 additive",
            "-c",
            "exit",
            "-c",
            "route-map ANYCAST-OUT permit 10",
            "-c",
            "set community 64500:100",
            "-c",
            "end",
        ],
    );
    let dir = TempDir::new("gshut");
    let web = Web::start();
    let mut bad_web = Web::start();
    bad_web.set_up(true);
    let cfg = dns_and_web(
        &lab,
        dir.path(),
        "reconcile_interval = \"1s\"\ndrain_time = \"8s\"\ndrain_route_map = \"ANYCASTD-DRAIN\"\n",
        ", route_map = \"ANYCAST-OUT\"",
        &web,
        &bad_web,
    );
    let mut d = Anycastd::start(dir.path(), &cfg);
    let cfgp = d.config_path.clone();
    let c53 = || b_communities(&lab, lab::SVC4_53);
    // B has dns's prefix through its own route-map / through the drain route-map.
    let b_normal = || {
        wait_until(CONVERGE, || {
            c53().is_some_and(|c| c.contains("64500:100") && !gshut(&c))
        })
    };
    let b_gshut = || wait_until(CONVERGE, || c53().is_some_and(|c| gshut(&c)));
    let ok = |args: &[&str]| {
        let o = cli(&cfgp, args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    };
    assert!(
        wait_until(CONVERGE, || c53().is_some_and(|c| c.contains("64500:100"))),
        "B never got dns's prefix through ANYCAST-OUT: {:?}\n{}",
        c53(),
        tail(&d)
    );
    assert!(lab.wait_b_has_route(lab::SVC4_54, true, CONVERGE));

    // drain: GRACEFUL_SHUTDOWN on B during the drain time, then gone.
    let t0 = Instant::now();
    ok(&["drain", "dns", "--reason", "upgrade"]);
    assert!(
        b_gshut(),
        "B never saw the GRACEFUL_SHUTDOWN community: {:?}\n{}",
        c53(),
        tail(&d)
    );
    let seen_gshut = t0.elapsed();
    // The state file follows within its coalescing gap (250 ms).
    let status = || String::from_utf8_lossy(&cli(&cfgp, &["status"]).stdout).into_owned();
    assert!(
        wait_until(5 * SEC, || {
            let s = status();
            s.contains("DRAINED") && s.contains("route-map ANYCASTD-DRAIN, DRAINING: withdrawn in")
        }),
        "{}",
        status()
    );
    assert!(
        wait_until(CONVERGE, || c53().is_none()),
        "dns's prefix stayed on B after the drain time\n{}",
        tail(&d)
    );
    let gone = t0.elapsed();
    println!(
        "drain: GRACEFUL_SHUTDOWN on B after {seen_gshut:?}, withdrawn after {gone:?} (drain_time 8 s)"
    );
    assert!(
        gone >= Duration::from_millis(7500),
        "withdrawn before the drain time: {gone:?}"
    );

    // undrain: the normal announcement, without the community.
    ok(&["undrain", "dns"]);
    assert!(b_normal(), "after undrain B has {:?}\n{}", c53(), tail(&d));

    // The route-map removed by hand is drift: seen as such, and put back at the next
    // reconcile.
    let drifted = "running config drifted from what health says";
    let drifts = d.count(drifted);
    lab.a_configure(None, lab::SVC4_53, &format!("network {}", lab::SVC4_53));
    assert!(
        wait_until(CONVERGE, || d.count(drifted) > drifts
            && lab.a_running_config().contains(&format!(
                "network {} route-map ANYCAST-OUT",
                lab::SVC4_53
            ))),
        "the route-map was not put back\n{}",
        tail(&d)
    );

    // undrain during the drain time: the normal announcement again at once, and the
    // withdrawal the drain had set for its end never comes.
    let t = Instant::now();
    ok(&["drain", "dns"]);
    assert!(
        b_gshut(),
        "B never saw the GRACEFUL_SHUTDOWN community: {:?}\n{}",
        c53(),
        tail(&d)
    );
    let t_undrain = Instant::now();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the drain took {:?} to reach B: too late to undrain well within its drain time",
        t.elapsed()
    );
    ok(&["undrain", "dns"]);
    assert!(
        b_normal(),
        "undrain during the drain time: B has {:?}\n{}",
        c53(),
        tail(&d)
    );
    // Before the drain time (8 s from the drain) would have ended.
    assert!(
        t.elapsed() < Duration::from_millis(7800),
        "the undrain waited for the drain time: back {:?} after the drain, {:?} after the undrain",
        t.elapsed(),
        t_undrain.elapsed()
    );
    while t.elapsed() < Duration::from_millis(9500) {
        assert!(
            c53().is_some_and(|c| !gshut(&c)),
            "after an undrain during the drain time, B has {:?} at {:?}\n{}",
            c53(),
            t.elapsed(),
            tail(&d)
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A failing check during the drain time withdraws at once.
    ok(&["drain", "web"]);
    assert!(wait_until(CONVERGE, || b_communities(&lab, lab::SVC4_54)
        .is_some_and(|c| gshut(&c))));
    bad_web.stop();
    let t1 = Instant::now();
    assert!(lab.wait_b_has_route(lab::SVC4_54, false, CONVERGE));
    assert!(
        t1.elapsed() < Duration::from_secs(3),
        "a failing check waited for the drain time: {:?}",
        t1.elapsed()
    );
    cli(&cfgp, &["undrain", "web"]);

    // SIGTERM: everything through the drain route-map first, then withdrawn, exit 0.
    let t2 = Instant::now();
    d.signal("TERM");
    assert!(
        b_gshut(),
        "no GRACEFUL_SHUTDOWN on SIGTERM: {:?}\n{}",
        c53(),
        tail(&d)
    );
    assert_eq!(d.wait_exit(20 * SEC), Some(0), "{}", tail(&d));
    let stopped = t2.elapsed();
    assert!(
        stopped >= Duration::from_millis(7500),
        "stopped before the drain time: {stopped:?}"
    );
    // A is what the daemon confirmed before it exited; B learns it a moment later.
    let a_has_53 = || {
        lab.a_networks()
            .iter()
            .any(|(vrf, p)| vrf.is_none() && p == lab::SVC4_53)
    };
    assert!(!a_has_53(), "dns's prefix stayed on A after the stop");
    assert!(
        wait_until(CONVERGE, || c53().is_none()),
        "dns's prefix stayed on B after the stop"
    );
    println!("SIGTERM: exit 0 after {stopped:?} (drain_time 8 s)");

    // A second SIGTERM skips the wait. The service manager is told how long the stop may
    // take: drain_time 8 s + shutdown_timeout 5 s + 15 s.
    let notify = Notify::bind(dir.path());
    let (key, value) = notify.env();
    let mut d = Anycastd::start_with(dir.path(), &cfg, &[(key, &value)]);
    assert!(wait_until(CONVERGE, || c53().is_some()), "{}", tail(&d));
    let t3 = Instant::now();
    d.signal("TERM");
    let stopping = notify
        .wait_for("STOPPING=1", 10 * SEC)
        .expect("no STOPPING=1 on SIGTERM");
    assert!(
        stopping.contains("EXTEND_TIMEOUT_USEC=28000000\n"),
        "{stopping}"
    );
    std::thread::sleep(Duration::from_millis(300));
    d.signal("TERM");
    assert_eq!(d.wait_exit(20 * SEC), Some(0), "{}", tail(&d));
    assert!(
        t3.elapsed() < Duration::from_secs(4),
        "the second SIGTERM did not skip the wait: {:?}",
        t3.elapsed()
    );
    assert!(
        !a_has_53(),
        "dns's prefix stayed on A after the second SIGTERM"
    );
    assert!(wait_until(CONVERGE, || c53().is_none()));
}

/// `drain_time` without `drain_route_map`: a drained prefix stays on B unchanged for the
/// drain time, then goes; so does every prefix on SIGTERM.
#[test]
fn a_drain_time_without_a_route_map_keeps_the_route_then_withdraws() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let dir = TempDir::new("dtime");
    let web = Web::start();
    let cfg = dns_and_web(&lab, dir.path(), "drain_time = \"3s\"\n", "", &web, &web);
    let mut d = Anycastd::start(dir.path(), &cfg);
    let cfgp = d.config_path.clone();
    for p in [lab::SVC4_53, lab::SVC4_54] {
        assert!(lab.wait_b_has_route(p, true, CONVERGE), "{}", tail(&d));
    }
    let plain = |p: &str| b_communities(&lab, p).is_some_and(|c| !gshut(&c));

    // drain: the route stays as it was for the drain time, then B loses it.
    let t = Instant::now();
    let o = cli(&cfgp, &["drain", "dns"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let status = || String::from_utf8_lossy(&cli(&cfgp, &["status"]).stdout).into_owned();
    assert!(
        wait_until(5 * SEC, || status().contains("DRAINING: withdrawn in")),
        "{}",
        status()
    );
    while t.elapsed() < Duration::from_millis(2500) {
        assert!(
            plain(lab::SVC4_53),
            "dns's prefix changed on B {:?} into its drain time: {:?}\n{}",
            t.elapsed(),
            b_communities(&lab, lab::SVC4_53),
            tail(&d)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        lab.wait_b_has_route(lab::SVC4_53, false, CONVERGE),
        "dns's prefix stayed on B after the drain time\n{}",
        tail(&d)
    );
    assert!(
        t.elapsed() >= Duration::from_millis(2900),
        "withdrawn before the drain time: {:?}",
        t.elapsed()
    );
    println!(
        "drain without a route-map: withdrawn after {:?} (drain_time 3 s)",
        t.elapsed()
    );
    assert!(lab.b_has_route(lab::SVC4_54), "web's prefix went too");

    // SIGTERM: web's prefix stays for the drain time, then the stop withdraws it.
    let t = Instant::now();
    d.signal("TERM");
    while t.elapsed() < Duration::from_millis(2500) {
        assert!(
            plain(lab::SVC4_54),
            "web's prefix changed on B {:?} into the stop's drain time\n{}",
            t.elapsed(),
            tail(&d)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(d.wait_exit(20 * SEC), Some(0), "{}", tail(&d));
    assert!(
        t.elapsed() >= Duration::from_millis(2900),
        "stopped before the drain time: {:?}",
        t.elapsed()
    );
    assert!(
        !lab.a_networks()
            .iter()
            .any(|(vrf, p)| vrf.is_none() && p == lab::SVC4_54),
        "web's prefix stayed on A after the stop"
    );
    assert!(lab.wait_b_has_route(lab::SVC4_54, false, CONVERGE));
}

/// `global.hook` runs after each confirmed announce and withdraw, and on drain and
/// undrain, with what happened in its environment; a failing hook is logged once and
/// changes nothing in what is announced.
#[test]
fn hooks_are_told_what_happened_and_a_failing_one_changes_nothing() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let dir = TempDir::new("hook");
    let mut web = Web::start();
    let events = dir.path().join("events");
    let vtysh = lab.vtysh_a().display().to_string();
    let url = web.url();
    let cfg = |hook: &str| {
        format!(
            "[global]\nshutdown_timeout = \"5s\"\nhook = {hook}\nstate_file = \"{}\"\ndrain_file = \"{}\"\n\
             [services.dns]\nprefixes.frrouting = [{{ prefix = \"{}\", vtysh = \"{vtysh}\" }}]\n\
             checks.http = [{{ name = \"dns\", url = \"{}\", interval = \"200ms\", timeout = \"150ms\" }}]\n",
            dir.path().join("state.json").display(),
            dir.path().join("drains.json").display(),
            lab::SVC4_53,
            url,
        )
    };
    let script = format!(
        "[\"/bin/sh\", \"-c\", \"echo \\\"$ANYCASTD_EVENT|$ANYCASTD_SERVICE|$ANYCASTD_PREFIX|$ANYCASTD_VRF|$ANYCASTD_REASON\\\" >> {}\"]",
        events.display()
    );
    let mut d = Anycastd::start(dir.path(), &cfg(&script));
    let cfgp = d.config_path.clone();
    let lines = || std::fs::read_to_string(&events).unwrap_or_default();
    let has = |want: &str| wait_until(CONVERGE, || lines().lines().any(|l| l.starts_with(want)));
    assert!(
        has(&format!("announce|dns|{}|default|", lab::SVC4_53)),
        "{}\n{}",
        lines(),
        tail(&d)
    );
    web.stop();
    assert!(
        has(&format!("withdraw|dns|{}|default|", lab::SVC4_53)),
        "{}\n{}",
        lines(),
        tail(&d)
    );
    web.restart();
    assert!(lab.wait_b_has_route(lab::SVC4_53, true, CONVERGE));
    cli(&cfgp, &["drain", "dns", "--reason", "upgrade"]);
    assert!(
        has(&format!("drain|dns|{}|default|upgrade", lab::SVC4_53)),
        "{}",
        lines()
    );
    cli(&cfgp, &["undrain", "dns"]);
    assert!(
        has(&format!("undrain|dns|{}|default|", lab::SVC4_53)),
        "{}",
        lines()
    );
    assert!(
        wait_until(CONVERGE, || lines().matches("announce|dns|").count() == 3),
        "no announce after undrain: {}",
        lines()
    );
    assert_eq!(d.stop("TERM"), 0, "{}", tail(&d));
    assert!(
        has(&format!("withdraw|dns|{}|default|shutdown", lab::SVC4_53)),
        "{}",
        lines()
    );

    // A hook that fails: logged once, and the prefixes still come and go.
    assert!(lab.wait_b_has_route(lab::SVC4_53, false, CONVERGE));
    let mut d = Anycastd::start(dir.path(), &cfg("[\"/bin/false\"]"));
    assert!(
        lab.wait_b_has_route(lab::SVC4_53, true, CONVERGE),
        "{}",
        tail(&d)
    );
    web.stop();
    assert!(
        lab.wait_b_has_route(lab::SVC4_53, false, CONVERGE),
        "{}",
        tail(&d)
    );
    web.restart();
    assert!(
        lab.wait_b_has_route(lab::SVC4_53, true, CONVERGE),
        "{}",
        tail(&d)
    );
    std::thread::sleep(SEC);
    assert_eq!(
        d.count("The hook /bin/false failed: exit 1"),
        1,
        "{}",
        tail(&d)
    );
    assert_eq!(d.stop("TERM"), 0, "{}", tail(&d));
}

/// `check --frr` against real FRR: a drain route-map FRR lacks is an error, one it has is
/// fine.
#[test]
fn check_frr_reports_a_missing_drain_route_map() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    lab.vtysh_ok(
        crate::lab::Router::A,
        &[
            "-c",
            "configure terminal",
            "-c",
            "route-map ANYCAST-OUT permit 10",
            "-c",
            "end",
        ],
    );
    let dir = TempDir::new("checkrm");
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[global]\ndrain_time = \"5s\"\ndrain_route_map = \"NOPE\"\n[services.dns]\nprefixes.frrouting = [{{ prefix = \"{}\", vtysh = \"{}\", route_map = \"ANYCAST-OUT\" }}]\nchecks.tcp = [\"127.0.0.1:53\"]\n",
            lab::SVC4_53,
            lab.vtysh_a().display()
        ),
    )
    .expect("write config");
    let o = cli(&cfg, &["check", "--frr"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        out.contains("route-map NOPE (drain_route_map) is not configured in FRR"),
        "{out}"
    );
    assert!(
        out.contains("route-map ANYCAST-OUT (route_map of 203.0.113.53/32) is configured"),
        "{out}"
    );
}
