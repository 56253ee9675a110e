//! What an operator sees, on real FRR: `anycastd status` for a healthy, a failing and an
//! import-check-stuck service, the metrics file, `check --frr`, and readiness over
//! `$NOTIFY_SOCKET`.

use crate::cabourotte::{Api, Behavior, Cabourotte};
use crate::harness::{Anycastd, Notify, TempDir, bin, wait_until};
use crate::lab::{Lab, NOT_ON_LO4, Router, SVC4_53, SVC4_54, SVC6_53};
use std::process::{Command, Output};
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

fn anycastd(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("CONFIG")
        .output()
        .expect("run anycastd")
}

/// `web` lists `web` (prefix, vrf) pairs.
fn config(lab: &Lab, cab: &Cabourotte, dir: &TempDir, web: &[(&str, Option<&str>)]) -> String {
    let v = lab.vtysh_a().display().to_string();
    let url = cab.url();
    let web: Vec<String> = web
        .iter()
        .map(|(p, vrf)| match vrf {
            Some(vrf) => format!("{{ prefix = \"{p}\", vrf = \"{vrf}\", vtysh = \"{v}\" }}"),
            None => format!("{{ prefix = \"{p}\", vtysh = \"{v}\" }}"),
        })
        .collect();
    let web = web.join(", ");
    format!(
        r#"[global]
state_file = "{state}"
metrics_file = "{metrics}"
reconcile_interval = "1s"

[services.dns]
prefixes.frrouting = [{{ prefix = "{SVC4_53}", vtysh = "{v}" }}, {{ prefix = "{SVC6_53}", vtysh = "{v}" }}]
checks.cabourotte = [{{ name = "dns", url = "{url}", interval = "200ms" }}]

[services.ntp]
prefixes.frrouting = [{{ prefix = "{SVC4_54}", vtysh = "{v}" }}]
checks.cabourotte = [{{ name = "ntp_v4", url = "{url}", interval = "200ms" }}]

[services.web]
prefixes.frrouting = [{web}]
checks.cabourotte = [{{ name = "web", url = "{url}", interval = "200ms" }}]
"#,
        state = dir.path().join("state.json").display(),
        metrics = dir.path().join("anycastd.prom").display(),
    )
}

fn status(cfg: &std::path::Path) -> (i32, String) {
    let o = anycastd(&["status", "-c", &cfg.display().to_string()]);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn status_explains_healthy_failing_and_stuck_services() {
    let Some(lab) = Lab::require() else { return };
    let dir = TempDir::new("status");
    let cab = Cabourotte::start(Api::V2);
    cab.set("dns", Behavior::Success);
    cab.set("ntp_v4", Behavior::Success);
    // web's prefix is not on A's lo: FRR takes the network line but never advertises it.
    cab.set("web", Behavior::Success);
    let cfg_text = config(&lab, &cab, &dir, &[(NOT_ON_LO4, None)]);
    let mut d = Anycastd::start(dir.path(), &cfg_text);
    let cfg = d.config_path.clone();
    assert!(lab.wait_b_has_route(SVC4_53, true, 20 * SEC));
    assert!(lab.wait_b_has_route(SVC4_54, true, 20 * SEC));
    // Judged at a reconcile after the announcement; the state file follows within its
    // coalescing gap.
    let stuck = format!(
        "prefix {NOT_ON_LO4} vrf default: intended announce, FRR: announced, NOT ADVERTISED"
    );
    assert!(
        wait_until(10 * SEC, || {
            let (code, text) = status(&cfg);
            code == 2 && text.contains(&stuck)
        }),
        "{}",
        status(&cfg).1
    );
    let (code, text) = status(&cfg);
    eprintln!("--- anycastd status: import check stuck (exit {code})\n{text}");
    assert!(d.log().contains("BGP's import check holds it back"));

    // Metrics agree, and parse.
    let prom_path = dir.path().join("anycastd.prom");
    let read_prom = || std::fs::read_to_string(&prom_path).unwrap_or_default();
    let web0 = format!(
        "anycastd_prefix_advertised{{service=\"web\",prefix=\"{NOT_ON_LO4}\",vrf=\"default\"}} 0\n"
    );
    let dns1 = format!(
        "anycastd_prefix_advertised{{service=\"dns\",prefix=\"{SVC4_53}\",vrf=\"default\"}} 1\n"
    );
    assert!(
        wait_until(5 * SEC, || {
            let p = read_prom();
            p.contains(&web0) && p.contains(&dns1) && p.contains("anycastd_ready 1\n")
        }),
        "{}",
        read_prom()
    );
    let prom = read_prom();
    for line in prom.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap_or("");
        assert!(
            value == "NaN" || value.parse::<f64>().is_ok(),
            "bad sample: {line}"
        );
    }

    // A failing service: a warning, its prefix gone from B.
    cab.set(
        "web",
        Behavior::Failure("HTTP request failed: status 503".into()),
    );
    cab.set("ntp_v4", Behavior::Stale(312));
    assert!(lab.wait_b_has_route(SVC4_54, false, 10 * SEC));
    // Each check's failure shows at its own next poll, and the state file follows within
    // its coalescing gap: wait for both.
    let stale = "check \"ntp_v4\" FAILING: stale result (312 s old)";
    let gone = format!("prefix {SVC4_54} vrf default: intended withdraw, FRR: not announced");
    assert!(
        wait_until(10 * SEC, || {
            let (code, text) = status(&cfg);
            code == 1 && text.contains(stale) && text.contains(&gone)
        }),
        "{}",
        status(&cfg).1
    );
    let (code, text) = status(&cfg);
    eprintln!("--- anycastd status: a failing service (exit {code})\n{text}");

    // All healthy and converged.
    cab.set("ntp_v4", Behavior::Success);
    let cfg_ok = config(&lab, &cab, &dir, &[("203.0.113.55/32", None)]);
    std::fs::write(&cfg, cfg_ok).expect("rewrite config");
    d.signal("HUP");
    cab.set("web", Behavior::Success);
    assert!(
        wait_until(15 * SEC, || status(&cfg).0 == 0),
        "{}",
        status(&cfg).1
    );
    let (code, text) = status(&cfg);
    eprintln!("--- anycastd status: healthy and converged (exit {code})\n{text}");
    assert!(text.starts_with("anycastd pid"), "{text}");
    assert!(text.contains("OK: 3 services: 3 healthy"), "{text}");
    let json = anycastd(&["status", "-c", &cfg.display().to_string(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("status --json is JSON");
    assert_eq!(v["verdict"], "ok");
    assert_eq!(v["services"][0]["name"], "dns");

    assert_eq!(d.stop("TERM"), 0);
    let (code, text) = status(&cfg);
    assert_eq!(code, 3, "after stop: {text}");
    assert!(lab.a_networks().is_empty());
}

#[test]
fn check_frr_reports_what_would_stop_announcements() {
    let Some(lab) = Lab::require() else { return };
    let dir = TempDir::new("preflight");
    let cab = Cabourotte::start(Api::V2);
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        config(
            &lab,
            &cab,
            &dir,
            &[(NOT_ON_LO4, None), ("198.18.0.9", Some("nosuch"))],
        ),
    )
    .expect("write config");
    let p = path.display().to_string();
    let o = anycastd(&["check", "-c", &p, "--frr"]);
    let text = String::from_utf8_lossy(&o.stdout);
    eprintln!("--- anycastd check --frr\n{text}");
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("BGP instance for VRF \"default\": AS 65536"),
        "{text}"
    );
    assert!(
        text.contains("ERROR    no BGP instance for VRF \"nosuch\""),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "WARNING  {NOT_ON_LO4} (VRF \"default\"): not in the routing table"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ok       {SVC4_53} (VRF \"default\"): in the routing table"
        )),
        "{text}"
    );
    assert!(
        lab.a_instances()
            .iter()
            .all(|(_, v)| v.as_deref() != Some("nosuch")),
        "check created an instance"
    );

    // The policy trap: eBGP neighbors get nothing without an outbound route-map.
    lab.vtysh_ok(
        Router::A,
        &[
            "-c",
            "configure terminal",
            "-c",
            "router bgp 65536",
            "-c",
            "bgp ebgp-requires-policy",
        ],
    );
    let o = anycastd(&["check", "-c", &p, "--frr"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("eBGP neighbor 198.51.100.2 (remote-as 64496) has no outbound route-map"),
        "{text}"
    );

    // bgpd down: one clear error, non-zero.
    let mut lab = lab;
    lab.stop_bgpd_a();
    let o = anycastd(&["check", "-c", &p, "--frr"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("ERROR    cannot read bgpd's running config"),
        "{text}"
    );
}

#[test]
fn readiness_and_stopping_are_sent_to_notify_socket() {
    let Some(lab) = Lab::require() else { return };
    let dir = TempDir::new("notify");
    let cab = Cabourotte::start(Api::V2);
    cab.set("dns", Behavior::Success);
    cab.set("ntp_v4", Behavior::Failure("x".into()));
    cab.set("web", Behavior::Success);
    let notify = Notify::bind(dir.path());
    let cfg = config(&lab, &cab, &dir, &[("203.0.113.55/32", None)]);
    let (key, value) = notify.env();
    let mut d = Anycastd::start_with(dir.path(), &cfg, &[(key, &value)]);
    let ready = notify
        .wait_for("READY=1", 20 * SEC)
        .expect("no READY=1 within 20 s");
    assert!(ready.contains("STATUS=3 services: 2 healthy"), "{ready}");
    // Ready means decided and reconciled: dns is on B already or about to be.
    assert!(lab.wait_b_has_route(SVC4_53, true, 5 * SEC));
    d.signal("TERM");
    let stopping = notify
        .wait_for("STOPPING=1", 20 * SEC)
        .expect("no STOPPING=1");
    // The stop timeout grows to cover shutdown_timeout (10 s by default) and a margin.
    assert!(
        stopping.contains("EXTEND_TIMEOUT_USEC=25000000\n"),
        "{stopping}"
    );
    assert_eq!(d.wait_exit(20 * SEC), Some(0));
}
