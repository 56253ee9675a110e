//! The real binary against the Cabourotte stand-in and the stand-in vtysh: health drives
//! announcements, shutdown leaves nothing behind, and every fault is survived and logged
//! once.

use crate::cabourotte::{Api, Behavior, Cabourotte};
use crate::harness::{Anycastd, FakeFrr, TempDir, wait_until};
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);

fn config(cab: &Cabourotte, frr: &FakeFrr, extra_check_keys: &str) -> String {
    let url = cab.url();
    let v = frr.path();
    let v = v.display();
    format!(
        r#"
[global]
shutdown_timeout = "3s"
reconcile_interval = "1s"

[services.dns]
prefixes.frrouting = [
  {{ prefix = "203.0.113.53", vtysh = "{v}" }},
  {{ prefix = "2001:db8:53::53", vtysh = "{v}" }},
]
checks.cabourotte = [{{ name = "dns", url = "{url}", interval = "200ms"{extra_check_keys} }}]

[services.ntp]
prefixes.frrouting = [
  {{ prefix = "203.0.113.123", vtysh = "{v}" }},
  {{ prefix = "198.18.0.123", vrf = "blue", vtysh = "{v}" }},
]
checks.cabourotte = [{{ name = "ntp v4", url = "{url}", interval = "200ms" }}]
"#
    )
}

fn setup(api: Api) -> (TempDir, Cabourotte, FakeFrr) {
    let dir = TempDir::new("core");
    let cab = Cabourotte::start(api);
    cab.set("dns", Behavior::Success);
    cab.set("ntp v4", Behavior::Success);
    let frr = FakeFrr::new(dir.path(), &[(None, 65536), (Some("blue"), 65537)]);
    (dir, cab, frr)
}

const ALL: [&str; 4] = [
    "203.0.113.53/32",
    "2001:db8:53::53/128",
    "203.0.113.123/32",
    "198.18.0.123/32",
];

fn all_announced(frr: &FakeFrr) -> bool {
    ALL.iter().all(|p| frr.has(p))
}

#[test]
fn health_drives_announcements_with_both_api_layouts() {
    for api in [Api::V2, Api::V1] {
        let (dir, cab, frr) = setup(api);
        let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, ""));
        assert!(
            wait_until(10 * SEC, || all_announced(&frr)),
            "{api:?}: not announced; log:\n{}",
            d.log()
        );
        assert!(
            d.count("Service \"dns\" is now considered healthy, announcing related prefixes.") == 1
        );

        cab.set("dns", Behavior::Failure("dig: timeout".into()));
        assert!(
            wait_until(10 * SEC, || !frr.has("203.0.113.53/32")
                && !frr.has("2001:db8:53::53/128")),
            "{api:?}: not withdrawn"
        );
        assert!(
            frr.has("203.0.113.123/32"),
            "the other service must be unaffected"
        );
        assert!(d.wait_log(
            "is now considered unhealthy, denouncing related prefixes.",
            5 * SEC
        ));

        cab.set("dns", Behavior::Success);
        assert!(
            wait_until(10 * SEC, || all_announced(&frr)),
            "{api:?}: not announced again"
        );
        assert_eq!(d.stop("TERM"), 0, "log:\n{}", d.log());
        assert!(
            frr.networks().is_empty(),
            "left behind: {:?}",
            frr.networks()
        );
        assert_eq!(d.count("Service \"dns\" terminated."), 1);
        assert_eq!(d.count("Service \"ntp\" terminated."), 1);
        assert_eq!(d.count("Received SIGTERM, terminating."), 1);
    }
}

#[test]
fn sigterm_and_sigint_leave_nothing_announced_20_times() {
    let (dir, cab, frr) = setup(Api::V2);
    let cfg = config(&cab, &frr, "");
    let mut failures = Vec::new();
    for i in 0..20 {
        let sig = if i % 2 == 0 { "TERM" } else { "INT" };
        let mut d = Anycastd::start(dir.path(), &cfg);
        if !wait_until(10 * SEC, || all_announced(&frr)) {
            failures.push(format!("run {i}: never announced"));
            continue;
        }
        let code = d.stop(sig);
        let left = frr.networks();
        if code != 0 || !left.is_empty() {
            failures.push(format!("run {i} ({sig}): exit {code}, left {left:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_stale_line_is_withdrawn_and_a_healthy_one_adopted_without_a_flap() {
    let (dir, cab, frr) = setup(Api::V2);
    cab.set(
        "ntp v4",
        Behavior::Failure("ntpdate: no server suitable".into()),
    );
    frr.add("-", "203.0.113.53/32"); // dns: healthy → adopted
    frr.add("-", "203.0.113.123/32"); // ntp: failing → withdrawn
    frr.add("-", "10.0.0.0/8"); // not ours → untouched
    let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, ""));
    assert!(
        wait_until(10 * SEC, || !frr.has("203.0.113.123/32")),
        "stale line kept"
    );
    assert!(wait_until(10 * SEC, || frr.has("2001:db8:53::53/128")));
    assert!(
        !frr.calls()
            .iter()
            .any(|c| c.contains("no network 203.0.113.53/32")),
        "the healthy prefix flapped: {:#?}",
        frr.calls()
    );
    assert_eq!(d.stop("TERM"), 0);
    assert_eq!(
        frr.networks(),
        [("-".to_string(), "10.0.0.0/8".to_string())]
    );
}

#[test]
fn vtysh_failing_then_recovering_is_logged_once_and_converges() {
    let (dir, cab, frr) = setup(Api::V2);
    frr.set_down(true);
    let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, ""));
    assert!(d.wait_log("bgpd is not reachable", 5 * SEC), "{}", d.log());
    std::thread::sleep(3 * SEC);
    frr.set_down(false);
    assert!(
        wait_until(40 * SEC, || all_announced(&frr)),
        "did not converge:\n{}",
        d.log()
    );
    assert!(d.wait_log("works again", 5 * SEC));
    assert_eq!(
        d.count("bgpd is not reachable"),
        1,
        "error logged more than once"
    );
    assert_eq!(d.stop("TERM"), 0);
}

#[test]
fn a_missing_vrf_instance_is_reported_and_never_created() {
    let dir = TempDir::new("vrf");
    let cab = Cabourotte::start(Api::V2);
    cab.set("dns", Behavior::Success);
    cab.set("ntp v4", Behavior::Success);
    let frr = FakeFrr::new(dir.path(), &[(None, 65536)]);
    let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, ""));
    assert!(wait_until(10 * SEC, || frr.has("203.0.113.123/32")
        && frr.has("203.0.113.53/32")));
    assert!(
        d.wait_log("FRR has no BGP instance for VRF \\\"blue\\\"", 5 * SEC),
        "{}",
        d.log()
    );
    std::thread::sleep(2 * SEC);
    assert!(
        !frr.calls().iter().any(|c| c.contains("vrf blue")),
        "sent a router bgp line for a VRF FRR lacks"
    );
    assert_eq!(d.count("FRR has no BGP instance"), 1);
    assert_eq!(d.stop("TERM"), 0);
}

#[test]
fn cabourotte_faults_mean_unhealthy_with_a_reason() {
    let cases: Vec<(Behavior, &str)> = vec![
        (
            Behavior::Failure("HTTP request failed: status 503".into()),
            "check failed: HTTP request failed: status 503",
        ),
        (
            Behavior::Absent,
            "does not exist, returning an unhealthy status.",
        ),
        (Behavior::Error500, "HTTP status 500"),
        (Behavior::Garbage, "not a Cabourotte result"),
        (Behavior::Stale(600), "stale result"),
        (Behavior::Huge(2 * 1024 * 1024), "not a Cabourotte result"),
        (Behavior::Slow(Duration::from_secs(3)), "no answer within"),
    ];
    for (behavior, expect) in cases {
        let (dir, cab, frr) = setup(Api::V2);
        let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, ", timeout = \"150ms\""));
        assert!(wait_until(10 * SEC, || all_announced(&frr)));
        cab.set("dns", behavior.clone());
        assert!(
            wait_until(10 * SEC, || !frr.has("203.0.113.53/32")),
            "{behavior:?}: not withdrawn"
        );
        assert!(
            d.wait_log(expect, 5 * SEC),
            "{behavior:?}: no {expect:?} in log:\n{}",
            d.log()
        );
        if matches!(behavior, Behavior::Slow(_)) {
            // A Cabourotte that does not answer says nothing about any of its checks:
            // the other check on it is not polled until it answers again, and fails.
            assert!(d.wait_log("did not answer the previous request in time", 5 * SEC));
        } else {
            assert!(
                frr.has("203.0.113.123/32"),
                "{behavior:?}: other service affected"
            );
        }
        assert_eq!(d.stop("TERM"), 0);
    }
}

#[test]
fn cabourotte_down_withdraws_and_coming_back_announces() {
    let (dir, mut cab, frr) = setup(Api::V2);
    let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, ""));
    assert!(wait_until(10 * SEC, || all_announced(&frr)));
    cab.stop();
    assert!(
        wait_until(10 * SEC, || frr.networks().is_empty()),
        "not withdrawn with Cabourotte down"
    );
    assert!(d.wait_log("cannot reach Cabourotte", 5 * SEC));
    cab.restart();
    assert!(
        wait_until(10 * SEC, || all_announced(&frr)),
        "not announced after Cabourotte came back"
    );
    assert!(d.wait_log("passes again", 5 * SEC));
    assert_eq!(d.stop("TERM"), 0);
}

#[test]
fn a_wrong_url_gets_its_own_message() {
    let (dir, cab, frr) = setup(Api::V2);
    let cfg = config(&cab, &frr, "").replace(
        &format!(
            "url = \"{}\", interval = \"200ms\" }}]\n\n[services.ntp]",
            cab.url()
        ),
        &format!(
            "url = \"{}/nothing\", interval = \"200ms\" }}]\n\n[services.ntp]",
            cab.url()
        ),
    );
    assert!(cfg.contains("/nothing"));
    let mut d = Anycastd::start(dir.path(), &cfg);
    assert!(
        d.wait_log("no Cabourotte result API at this URL", 5 * SEC),
        "{}",
        d.log()
    );
    assert!(wait_until(5 * SEC, || frr.has("203.0.113.123/32")));
    assert!(!frr.has("203.0.113.53/32"));
    assert_eq!(d.stop("TERM"), 0);
}

#[test]
fn a_failing_check_logs_once_not_on_every_poll() {
    let (dir, cab, frr) = setup(Api::V2);
    cab.set("dns", Behavior::Failure("refused".into()));
    let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, ""));
    // From the first poll: the start itself may take a while on a busy machine.
    assert!(wait_until(10 * SEC, || cab.count("dns") >= 1));
    std::thread::sleep(3 * SEC);
    let polls = cab.count("dns");
    assert!(polls >= 10, "only {polls} polls in 3 s at 200 ms");
    assert_eq!(
        d.count("Cabourotte health check \"dns\" is failing"),
        1,
        "{}",
        d.log()
    );
    let errors = d.events().iter().filter(|e| e["level"] == "error").count();
    assert!(errors <= 2, "{errors} error lines for one failing check");
    assert_eq!(d.stop("TERM"), 0);
}

#[test]
fn polling_follows_the_interval() {
    let (dir, cab, frr) = setup(Api::V2);
    let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, ""));
    assert!(wait_until(10 * SEC, || cab.count("dns") >= 1));
    let (c0, t0) = (cab.count("dns"), Instant::now());
    std::thread::sleep(4 * SEC);
    let rate = f64::from(cab.count("dns") - c0) / t0.elapsed().as_secs_f64();
    assert!(
        (3.0..=6.5).contains(&rate),
        "{rate} polls/s for a 200 ms interval"
    );
    assert_eq!(d.stop("TERM"), 0);
}

#[test]
fn a_hung_cabourotte_is_left_alone_for_a_back_off() {
    let dir = TempDir::new("hung");
    let cab = Cabourotte::start(Api::V2);
    let frr = FakeFrr::new(dir.path(), &[(None, 65536)]);
    let url = cab.url();
    let v = frr.path();
    let mut checks = String::new();
    for n in 0..4 {
        cab.set(&format!("c{n}"), Behavior::Success);
        checks += &format!(
            "{{ name = \"c{n}\", url = \"{url}\", interval = \"1s\", timeout = \"400ms\" }}, "
        );
    }
    let cfg = format!(
        "[services.s]\nprefixes.frrouting = [{{ prefix = \"203.0.113.53\", vtysh = \"{}\" }}]\nchecks.cabourotte = [{checks}]\n",
        v.display()
    );
    let mut d = Anycastd::start(dir.path(), &cfg);
    assert!(wait_until(10 * SEC, || frr.has("203.0.113.53/32")));
    for n in 0..4 {
        cab.set(&format!("c{n}"), Behavior::Slow(Duration::from_secs(30)));
    }
    let before: u32 = (0..4).map(|n| cab.count(&format!("c{n}"))).sum();
    std::thread::sleep(4 * SEC);
    let during: u32 = (0..4).map(|n| cab.count(&format!("c{n}"))).sum::<u32>() - before;
    // Four checks at 1 s: 16 requests if each waited for its own timeout. After one timeout
    // of 400 ms the URL is left alone for 3.6 s (nine timeouts), measured from its end.
    assert!(during <= 2, "{during} requests to a hung Cabourotte in 4 s");
    assert!(!frr.has("203.0.113.53/32"));
    assert!(d.wait_log("did not answer the previous request in time", SEC));
    assert_eq!(d.stop("TERM"), 0);
}

/// A hung Cabourotte never blinds the checks at another URL: they keep their schedule and
/// a change of theirs is acted on within an interval and a little.
#[test]
fn a_hung_cabourotte_does_not_delay_checks_elsewhere() {
    let dir = TempDir::new("hungother");
    let hung = Cabourotte::start(Api::V2);
    let good = Cabourotte::start(Api::V2);
    let frr = FakeFrr::new(dir.path(), &[(None, 65536)]);
    hung.set("h", Behavior::Slow(Duration::from_secs(60)));
    let mut cfg = format!(
        "[services.hung]\nprefixes.frrouting = [{{ prefix = \"203.0.113.1\", vtysh = \"{}\" }}]\nchecks.cabourotte = [{{ name = \"h\", url = \"{}\", interval = \"1s\" }}]\n",
        frr.path().display(),
        hung.url()
    );
    for n in 0..5 {
        good.set(&format!("g{n}"), Behavior::Success);
        cfg += &format!(
            "[services.g{n}]\nprefixes.frrouting = [{{ prefix = \"203.0.113.{}\", vtysh = \"{}\" }}]\nchecks.cabourotte = [{{ name = \"g{n}\", url = \"{}\", interval = \"1s\" }}]\n",
            10 + n,
            frr.path().display(),
            good.url()
        );
    }
    let mut d = Anycastd::start(dir.path(), &cfg);
    assert!(
        wait_until(10 * SEC, || frr.networks().len() == 5),
        "{}",
        d.log()
    );
    let before: Vec<u32> = (0..5).map(|n| good.count(&format!("g{n}"))).collect();
    let hung_before = hung.count("h");
    std::thread::sleep(6 * SEC);
    for (n, before) in before.iter().enumerate() {
        let polls = good.count(&format!("g{n}")) - before;
        assert!(
            polls >= 5,
            "check g{n} polled {polls} times in 6 s beside a hung Cabourotte"
        );
    }
    let hung_polls = hung.count("h") - hung_before;
    assert!(
        hung_polls <= 1,
        "the hung Cabourotte got {hung_polls} requests in 6 s"
    );
    good.set("g3", Behavior::Failure("down".into()));
    assert!(
        wait_until(4 * SEC, || !frr.has("203.0.113.13/32")),
        "a failing check beside a hung Cabourotte was not acted on within 4 s"
    );
    assert!(!frr.has("203.0.113.1/32"));
    assert_eq!(d.stop("TERM"), 0);
}

/// A poll in flight is not interrupted by SIGTERM: a stop ends within shutdown_timeout
/// plus one poll timeout, the documented bound, even with a Cabourotte that never answers.
#[test]
fn a_stop_during_a_hung_poll_ends_within_shutdown_timeout_plus_one_timeout() {
    let dir = TempDir::new("stophung");
    let cab = Cabourotte::start(Api::V2);
    let frr = FakeFrr::new(dir.path(), &[(None, 65536)]);
    cab.set("h", Behavior::Slow(Duration::from_secs(60)));
    let cfg = format!(
        "[global]\nshutdown_timeout = \"1s\"\n[services.s]\nprefixes.frrouting = [{{ prefix = \"203.0.113.1\", vtysh = \"{}\" }}]\nchecks.cabourotte = [{{ name = \"h\", url = \"{}\", interval = \"5s\", timeout = \"3s\" }}]\n",
        frr.path().display(),
        cab.url()
    );
    let mut d = Anycastd::start(dir.path(), &cfg);
    // The first poll is in flight: the stand-in has the request and holds the answer.
    assert!(wait_until(10 * SEC, || cab.count("h") == 1), "{}", d.log());
    let t = Instant::now();
    d.signal("TERM");
    let code = d.wait_exit(20 * SEC);
    let took = t.elapsed();
    assert_eq!(code, Some(0), "{}", d.log());
    // shutdown_timeout (1 s) + timeout (3 s), and a little for the process itself (and
    // the stand-in vtysh's shell runs on a busy machine).
    assert!(
        took <= Duration::from_millis(5500),
        "the stop took {took:?}, past shutdown_timeout + timeout"
    );
}

#[test]
fn proxy_variables_are_ignored() {
    let (dir, cab, frr) = setup(Api::V2);
    let env = [
        ("HTTP_PROXY", "http://127.0.0.1:9"),
        ("http_proxy", "http://127.0.0.1:9"),
        ("ALL_PROXY", "http://127.0.0.1:9"),
    ];
    let mut d = Anycastd::start_with(dir.path(), &config(&cab, &frr, ""), &env);
    assert!(wait_until(10 * SEC, || all_announced(&frr)), "{}", d.log());
    assert_eq!(d.stop("TERM"), 0);
}

#[test]
fn shutdown_with_frr_down_exits_69_naming_what_may_remain() {
    let (dir, cab, frr) = setup(Api::V2);
    let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, ""));
    assert!(wait_until(10 * SEC, || all_announced(&frr)));
    frr.set_down(true);
    let t = Instant::now();
    assert_eq!(d.stop("TERM"), 69);
    assert!(t.elapsed() < 15 * SEC);
    assert!(
        d.log()
            .contains("Exiting with prefixes possibly still announced")
    );
    assert!(d.log().contains("203.0.113.53/32"));
}

#[test]
fn a_second_signal_cuts_a_hanging_teardown_short() {
    let (dir, cab, frr) = setup(Api::V2);
    let cfg = config(&cab, &frr, "").replace(
        "shutdown_timeout = \"3s\"",
        "shutdown_timeout = \"60s\"\nvtysh_timeout = \"30s\"",
    );
    let mut d = Anycastd::start(dir.path(), &cfg);
    assert!(wait_until(10 * SEC, || all_announced(&frr)));
    frr.set_hang(true);
    d.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    d.signal("TERM");
    let code = d
        .wait_exit(10 * SEC)
        .expect("did not exit after the second signal");
    assert!(t.elapsed() < 5 * SEC);
    assert_eq!(code, 69);
    assert!(
        d.log().contains("a second signal cut the withdrawal short"),
        "{}",
        d.log()
    );
}

#[test]
fn withdraw_after_a_crash_with_a_broken_config_uses_the_state_file() {
    let (dir, cab, frr) = setup(Api::V2);
    // The one test that uses the default state file: `withdraw` falls back to it.
    let cfg = config(&cab, &frr, "").replace(
        "[global]\n",
        "[global]\nstate_file = \"/run/anycastd/state.json\"\n",
    );
    let mut d = Anycastd::start(dir.path(), &cfg);
    assert!(wait_until(10 * SEC, || all_announced(&frr)));
    assert!(wait_until(5 * SEC, || std::path::Path::new(
        "/run/anycastd/state.json"
    )
    .exists()));
    d.signal("KILL");
    assert!(d.wait_exit(10 * SEC).is_some());
    std::fs::write(&d.config_path, "[services.dns\n").expect("break the config");
    let out = std::process::Command::new(crate::harness::bin())
        .args(["withdraw", "--log-format", "json", "-c"])
        .arg(&d.config_path)
        .output()
        .expect("run anycastd withdraw");
    let log = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        log.contains("withdrawing the prefixes the last run recorded"),
        "{log}"
    );
    assert!(frr.networks().is_empty(), "left: {:?}", frr.networks());
    let _ = std::fs::remove_file("/run/anycastd/state.json");
}

#[test]
fn a_restart_after_a_crash_withdraws_what_the_new_config_dropped() {
    let (dir, cab, frr) = setup(Api::V2);
    let cfg = config(&cab, &frr, "");
    let mut d = Anycastd::start(dir.path(), &cfg);
    assert!(wait_until(10 * SEC, || all_announced(&frr)));
    d.signal("KILL");
    assert!(d.wait_exit(10 * SEC).is_some());
    // The operator removes ntp while the daemon is down, then starts it again.
    let without_ntp = cfg[..cfg.find("[services.ntp]").expect("ntp section")].to_string();
    let mut d = Anycastd::start(dir.path(), &without_ntp);
    assert!(
        wait_until(10 * SEC, || !frr.has("203.0.113.123/32")
            && !frr.has("198.18.0.123/32")),
        "the crashed run's ntp prefixes stayed announced: {:?}\n{}",
        frr.networks(),
        d.log()
    );
    assert!(
        d.log()
            .contains("was managed by the previous run but is no longer configured")
    );
    assert!(frr.has("203.0.113.53/32"), "dns must stay");
    assert_eq!(d.stop("TERM"), 0);
    assert!(frr.networks().is_empty());
}

#[test]
fn vtysh_output_goes_to_the_runtime_directory_under_random_names() {
    let (dir, cab, frr) = setup(Api::V2);
    frr.add("-", "203.0.113.53/32");
    let run = dir.path().join("run");
    std::fs::create_dir(&run).expect("mkdir run");
    std::fs::write(frr.dir.join("record-output"), "").expect("write flag");
    let state = dir.path().join("state.json");
    let cfg = config(&cab, &frr, "").replace(
        "[global]\n",
        &format!("[global]\nstate_file = \"{}\"\n", state.display()),
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, cfg).expect("write config");
    // systemd's RuntimeDirectory= with two directories: the first is used.
    let out = std::process::Command::new(crate::harness::bin())
        .args(["withdraw", "--log-format", "json", "-c"])
        .arg(&path)
        .env(
            "RUNTIME_DIRECTORY",
            format!("{}:/nonexistent", run.display()),
        )
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("run anycastd withdraw");
    let log = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(frr.networks().is_empty(), "left: {:?}", frr.networks());
    let outputs = std::fs::read_to_string(frr.dir.join("outputs")).expect("read outputs");
    let names: Vec<&str> = outputs.lines().collect();
    // read, withdraw, read back: three calls, stdout and stderr each.
    assert_eq!(names.len(), 6, "{outputs}");
    for n in &names {
        let name = n
            .strip_prefix(&format!("{}/.anycastd-", run.display()))
            .and_then(|r| r.strip_suffix(".out (deleted)"))
            .unwrap_or_else(|| panic!("not in {} or not unlinked: {n}", run.display()));
        assert!(
            name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()),
            "{n}"
        );
    }
    let distinct: std::collections::BTreeSet<&&str> = names.iter().collect();
    assert_eq!(
        distinct.len(),
        names.len(),
        "a name was used twice: {outputs}"
    );
    let left: Vec<_> = std::fs::read_dir(&run).expect("read run").collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
