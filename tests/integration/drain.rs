//! `anycastd drain` / `undrain` against real FRR: what router B receives. A drained
//! service's prefixes leave B and stay away whatever its checks say, until undrain; a
//! drain survives a restart of the daemon and applies from its very start; a shared
//! prefix goes when any service listing it is drained; an unknown service is an error
//! that lists the known ones.

use crate::harness::{Anycastd, TempDir, Web, wait_until};
use crate::lab::{self, Lab, LabOptions};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);
const CONVERGE: Duration = Duration::from_secs(10);

fn cli(config: &Path, args: &[&str]) -> Output {
    Command::new(crate::harness::bin())
        .args(args)
        .arg("-c")
        .arg(config)
        .output()
        .expect("run anycastd")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

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
    let Some(lab) = Lab::start(LabOptions { vrf: false }) else {
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
    assert!(d.events().into_iter().any(|e| e["trigger"] == "undrain"));

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
    let Some(lab) = Lab::start(LabOptions { vrf: false }) else {
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
