//! Pins of FRR's OWN behaviour that anycastd relies on (the contract in the FRR spec): vtysh
//! exit codes and messages, and that a `network` on A really reaches B. When an FRR upgrade
//! changes one of these, these tests fail before the daemon's tests start to act strangely.
//!
//! Each test builds its own lab (about 2 s); they run in parallel.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::lab::{self, Lab, LabOptions, Router};

/// Far above FRR's ~100 ms (announce) and ~50 ms (withdraw) in the lab.
const CONVERGE: Duration = Duration::from_secs(10);
const SESSIONS: Duration = Duration::from_secs(60);

/// One vtysh session on A, the way the daemon sends it.
fn bgp(lab: &Lab, asn: u32, vrf: Option<&str>, afi: &str, line: &str) -> Output {
    lab.a_bgp(asn, vrf, afi, line)
}

fn afi(prefix: &str) -> &'static str {
    lab::afi(prefix)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        text(&out.stdout).trim_end(),
        text(&out.stderr).trim_end()
    )
}

fn assert_rc(out: &Output, rc: i32, what: &str) {
    assert_eq!(out.status.code(), Some(rc), "{what}: {}", describe(out));
}

fn default_vrf(prefix: &str) -> (Option<String>, String) {
    (None, prefix.to_string())
}

#[test]
fn network_twice_is_rc0_and_one_line() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    for round in 1..=2 {
        let out = bgp(
            &lab,
            lab.asn_a(),
            None,
            "ipv4",
            &format!("network {}", lab::SVC4_53),
        );
        assert_rc(
            &out,
            0,
            &format!("network {} (round {round})", lab::SVC4_53),
        );
    }
    assert_eq!(lab.a_networks(), vec![default_vrf(lab::SVC4_53)]);
}

#[test]
fn no_network_of_absent_prefix_is_rc1_cant_find() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let out = bgp(
        &lab,
        lab.asn_a(),
        None,
        "ipv4",
        &format!("no network {}", lab::SVC4_55),
    );
    assert_rc(&out, 1, "no network of a prefix that is not configured");
    assert!(
        text(&out.stdout).contains("Can't find static route specified"),
        "stdout: {}",
        describe(&out)
    );
    // the same for IPv6
    let out = bgp(
        &lab,
        lab.asn_a(),
        None,
        "ipv6",
        &format!("no network {}", lab::SVC6_54),
    );
    assert_rc(
        &out,
        1,
        "no network (v6) of a prefix that is not configured",
    );
    assert!(
        text(&out.stdout).contains("Can't find static route specified"),
        "stdout: {}",
        describe(&out)
    );
}

#[test]
fn router_bgp_with_wrong_asn_is_rc1_already_running() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let out = bgp(
        &lab,
        65999,
        None,
        "ipv4",
        &format!("network {}", lab::SVC4_53),
    );
    assert_rc(&out, 1, "router bgp with the wrong ASN");
    let want = if lab.frr_major() >= 10 {
        // FRR 10 says "instance", and says first what does not match
        vec![
            "BGP instance name and AS number mismatch".to_string(),
            format!("BGP instance is already running; AS is {}", lab.asn_a()),
        ]
    } else {
        vec![format!("BGP is already running; AS is {}", lab.asn_a())]
    };
    for want in want {
        assert!(
            text(&out.stdout).contains(&want),
            "want {want:?} in {}",
            describe(&out)
        );
    }
    // vtysh stopped at the failing command: nothing after it was applied
    assert_eq!(lab.a_networks(), vec![]);
    assert_eq!(lab.a_instances(), vec![(lab.asn_a(), None)]);
}

#[test]
fn bgpd_down_running_config_is_rc1_and_restart_forgets_networks() {
    let Some(mut lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let out = bgp(
        &lab,
        lab.asn_a(),
        None,
        "ipv4",
        &format!("network {}", lab::SVC4_53),
    );
    assert_rc(&out, 0, "network");
    assert!(
        lab.wait_b_has_route(lab::SVC4_53, true, CONVERGE),
        "B never learned it"
    );

    lab.stop_bgpd_a();
    let out = lab.vtysh(Router::A, &["-d", "bgpd", "-c", "show running-config"]);
    assert_rc(&out, 1, "-d bgpd show running-config with bgpd stopped");
    // ... while the plain form is a trap: rc 0, the bgp section silently missing
    let out = lab.vtysh(Router::A, &["-c", "show running-config"]);
    assert_rc(
        &out,
        0,
        "show running-config (all daemons) with bgpd stopped",
    );
    assert!(
        !text(&out.stdout).contains("router bgp"),
        "{}",
        describe(&out)
    );
    // configuring fails too
    let out = bgp(
        &lab,
        lab.asn_a(),
        None,
        "ipv4",
        &format!("network {}", lab::SVC4_54),
    );
    assert_rc(&out, 1, "network with bgpd stopped");
    assert!(
        lab.wait_b_has_route(lab::SVC4_53, false, CONVERGE),
        "B kept the route"
    );

    // A restarted bgpd has frr.conf only: runtime `network` lines are gone
    lab.start_bgpd_a();
    assert!(lab.wait_established(SESSIONS), "sessions did not come back");
    assert_eq!(lab.a_instances(), vec![(lab.asn_a(), None)]);
    assert_eq!(lab.a_networks(), vec![]);
    assert!(!lab.b_has_route(lab::SVC4_53));
}

#[test]
fn router_bgp_for_unknown_vrf_is_rc0_and_creates_an_instance() {
    let Some(lab) = Lab::require() else {
        return;
    };
    let before = lab.a_instances();
    assert_eq!(
        before,
        vec![
            (lab.asn_a(), None),
            (lab.asn_vrf(), Some(lab.vrf_name().to_string()))
        ]
    );
    let out = bgp(
        &lab,
        lab.asn_vrf(),
        Some("nosuch"),
        "ipv4",
        "network 203.0.113.77/32",
    );
    assert_rc(&out, 0, "router bgp for a VRF that does not exist");
    let nosuch = (lab.asn_vrf(), Some("nosuch".to_string()));
    assert!(
        lab.a_instances().contains(&nosuch),
        "{}",
        lab.a_running_config()
    );
    assert!(
        lab.a_networks()
            .contains(&(Some("nosuch".to_string()), "203.0.113.77/32".to_string())),
        "{}",
        lab.a_running_config()
    );
    // bgpd knows the instance, but it is not active (no such VRF): nothing to show
    let out = lab.vtysh(
        Router::A,
        &[
            "-c",
            "configure terminal",
            "-c",
            &format!("no router bgp {} vrf nosuch", lab.asn_vrf()),
        ],
    );
    assert_rc(&out, 0, "no router bgp … vrf nosuch");
    assert_eq!(lab.a_instances(), before);
}

#[test]
fn network_reaches_b_and_no_network_removes_it() {
    let Some(lab) = Lab::require() else {
        return;
    };
    let vrf = lab.vrf_name().to_string();
    let cases = [
        (None, lab.asn_a(), lab::SVC4_53),
        (None, lab.asn_a(), lab::SVC6_53),
        (Some(vrf.as_str()), lab.asn_vrf(), lab::VRF_SVC4_123),
    ];
    for (vrf, asn, prefix) in cases {
        let label = format!("{prefix} (vrf {vrf:?})");
        assert!(
            !lab.b_has_route(prefix),
            "{label}: B has it before the announcement"
        );

        let t0 = Instant::now();
        let out = bgp(&lab, asn, vrf, afi(prefix), &format!("network {prefix}"));
        assert_rc(&out, 0, &format!("{label}: network"));
        let vtysh_took = t0.elapsed();
        let t1 = Instant::now();
        assert!(
            lab.wait_b_has_route(prefix, true, CONVERGE),
            "{label}: B did not learn it within {CONVERGE:?}"
        );
        let learned = t1.elapsed();
        assert!(
            lab.a_networks()
                .contains(&(vrf.map(str::to_string), prefix.to_string())),
            "{label}: not in A's running config:\n{}",
            lab.a_running_config()
        );

        let out = bgp(&lab, asn, vrf, afi(prefix), &format!("no network {prefix}"));
        assert_rc(&out, 0, &format!("{label}: no network"));
        let t2 = Instant::now();
        assert!(
            lab.wait_b_has_route(prefix, false, CONVERGE),
            "{label}: B still has it {CONVERGE:?} after the withdrawal"
        );
        let dropped = t2.elapsed();
        assert!(
            lab.a_networks().is_empty(),
            "{label}: {}",
            lab.a_running_config()
        );
        eprintln!(
            "{label}: vtysh {vtysh_took:?}; after it returned, B learned it in {learned:?}, \
             dropped it (after `no network`) in {dropped:?}"
        );
    }
}

#[test]
fn import_check_holds_back_a_prefix_that_is_not_on_lo() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    // both in ONE vtysh session: the line on lo is the witness that updates do flow
    let out = lab.vtysh(
        Router::A,
        &[
            "-c",
            "configure terminal",
            "-c",
            &format!("router bgp {}", lab.asn_a()),
            "-c",
            "address-family ipv4 unicast",
            "-c",
            &format!("network {}", lab::NOT_ON_LO4),
            "-c",
            &format!("network {}", lab::SVC4_54),
        ],
    );
    assert_rc(&out, 0, "network of a prefix that is not on lo");
    assert!(lab.a_networks().contains(&default_vrf(lab::NOT_ON_LO4)));
    assert!(
        lab.wait_b_has_route(lab::SVC4_54, true, CONVERGE),
        "witness never reached B"
    );
    assert!(
        !lab.b_has_route(lab::NOT_ON_LO4),
        "B learned a prefix A has no route for"
    );
    // A has the path, but not as valid
    let show = format!("show bgp ipv4 unicast {} json", lab::NOT_ON_LO4);
    let out = lab.vtysh(Router::A, &["-c", &show]);
    assert_rc(&out, 0, &show);
    let doc = lab::Json::parse(&text(&out.stdout)).unwrap_or_else(|e| panic!("{show}: {e}"));
    let paths = doc.get("paths").map(lab::Json::items).unwrap_or_default();
    assert!(
        !paths.is_empty(),
        "{show}: no path at all: {}",
        describe(&out)
    );
    assert!(
        paths
            .iter()
            .all(|p| p.get("valid").and_then(lab::Json::as_bool) != Some(true)),
        "{show}: a valid path: {}",
        describe(&out)
    );
}

/// A second session holding the configuration lock (`configure terminal file-lock`, what
/// `vtysh -b` takes). FRR 10.3: bgpd's `network` changes from a plain `configure terminal`
/// still go through (bgpd is not a mgmtd backend); what goes through mgmtd fails with
/// `could not lock candidate DS`; another `file-lock` with `candidate datastore locked by
/// another session`; all rc 1, and none of them waits. anycastd reads both texts as "FRR
/// busy". FRR 8.4 has no such lock: `file-lock` is an unknown command.
#[test]
fn configuration_lock_of_another_session() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let locking = ["-c", "configure terminal file-lock", "-c", "end"];
    if lab.frr_major() < 9 {
        let out = lab.vtysh(Router::A, &locking);
        assert_rc(&out, 1, "configure terminal file-lock on FRR 8");
        assert!(
            text(&out.stdout).contains("% Unknown command: configure terminal file-lock"),
            "{}",
            describe(&out)
        );
        return;
    }
    let mut lock = lab.hold_config_lock();
    let t0 = Instant::now();
    let out = lab.vtysh(Router::A, &locking);
    assert_rc(&out, 1, "file-lock while another session holds it");
    assert!(
        text(&out.stdout)
            .contains("% Can't enter config; candidate datastore locked by another session"),
        "{}",
        describe(&out)
    );
    let out = lab.vtysh(
        Router::A,
        &[
            "-c",
            "configure terminal",
            "-c",
            "ip route 192.0.2.0/24 blackhole",
        ],
    );
    assert_rc(&out, 1, "a mgmtd (staticd) change while the lock is held");
    assert!(
        text(&out.stdout).contains("% command failed, could not lock candidate DS"),
        "{}",
        describe(&out)
    );
    let out = bgp(
        &lab,
        lab.asn_a(),
        None,
        "ipv4",
        &format!("network {}", lab::SVC4_53),
    );
    assert_rc(&out, 0, "a bgpd change while the lock is held");
    assert!(
        t0.elapsed() < CONVERGE,
        "a locked FRR made vtysh wait {:?}",
        t0.elapsed()
    );
    assert!(
        lab.wait_b_has_route(lab::SVC4_53, true, CONVERGE),
        "B never learned it"
    );
    let transcript = lock.release();
    assert!(transcript.contains("(config)# end"), "{transcript}");
    // released: the lock can be taken again
    let out = lab.vtysh(Router::A, &locking);
    assert_rc(&out, 0, "file-lock after the other session ended");
}

/// Not a test: captures the fixtures the parser unit tests in `src/frr.rs` read, from the
/// lab's FRR, into `tests/fixtures/*-frr-<major.minor>.txt`:
/// `ANYCASTD_TEST_FRR=10.3 cargo test --test integration capture_fixtures -- --ignored`.
#[test]
#[ignore = "writes tests/fixtures from the lab's FRR"]
fn capture_fixtures() {
    let Some(lab) = Lab::require() else {
        return;
    };
    let version: String = lab
        .frr_version()
        .split(['-', '+', '~'])
        .next()
        .unwrap_or_default()
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    let vrf = lab.vrf_name().to_string();
    let configure = |args: &[&str]| {
        let mut all = vec!["-c", "configure terminal"];
        for a in args {
            all.extend(["-c", a]);
        }
        lab.vtysh_ok(Router::A, &all);
    };
    let asn_a = format!("router bgp {}", lab.asn_a());
    let asn_vrf = format!("router bgp {} vrf {vrf}", lab.asn_vrf());
    configure(&[
        "route-map PREPEND permit 10",
        &format!("set as-path prepend {}", lab.asn_a()),
        "exit",
        &asn_a,
        "address-family ipv4 unicast",
        &format!("network {}", lab::SVC4_53),
        &format!("network {} route-map PREPEND", lab::SVC4_54),
        "exit-address-family",
        "address-family ipv6 unicast",
        &format!("network {}", lab::SVC6_53),
        "exit-address-family",
        "exit",
        &asn_vrf,
        "address-family ipv4 unicast",
        &format!("network {}", lab::VRF_SVC4_123),
    ]);
    for p in [lab::SVC4_53, lab::VRF_SVC4_123] {
        assert!(
            lab.wait_b_has_route(p, true, CONVERGE),
            "B never learned {p}"
        );
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let running = lab.a_running_config();
    let path = dir.join(format!("running-config-frr-{version}.txt"));
    std::fs::write(&path, &running).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!("wrote {} (VRF {vrf})", path.display());

    // Configured but not on lo: held back by the import check.
    configure(&[
        &asn_a,
        "address-family ipv4 unicast",
        &format!("network {}", lab::NOT_ON_LO4),
    ]);
    let shows = [
        format!("show bgp ipv4 unicast {} json", lab::SVC4_53),
        format!("show bgp ipv4 unicast {} json", lab::NOT_ON_LO4),
        "show bgp ipv4 unicast 203.0.113.98/32 json".to_string(),
        format!("show bgp vrf {vrf} ipv4 unicast {} json", lab::VRF_SVC4_123),
        format!("show bgp vrf nosuch ipv4 unicast {} json", lab::SVC4_53),
    ];
    let mut args = Vec::new();
    for s in &shows {
        args.extend(["-c", s.as_str()]);
    }
    let out = lab.vtysh_ok(Router::A, &args);
    let path = dir.join(format!("show-bgp-prefixes-frr-{version}.txt"));
    std::fs::write(&path, &out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!("wrote {}: {}", path.display(), shows.join("; "));
}
