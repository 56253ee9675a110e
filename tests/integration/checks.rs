//! The built-in checks (`command`, `http`, `tcp`) against real FRR: each kind flipping a
//! prefix on router B, a command that hangs past its timeout (its whole process group
//! killed, nothing left behind, the other checks on schedule), a command that floods its
//! output, a program deleted under a running daemon, 200 command checks at 1 s (one
//! thread, no zombie, every check on schedule), and reload. The services behind the
//! checks are real: a file `test` looks at, an HTTP server and a TCP listener of this test.

use crate::harness::{Anycastd, TempDir, Web, threads, wait_until};
use crate::lab::{self, Lab, LabOptions};
use std::collections::{BTreeSet, HashMap};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);
const CONVERGE: Duration = Duration::from_secs(10);

/// A port with a listener while `open`.
struct Port {
    port: u16,
    listener: Option<TcpListener>,
}

impl Port {
    fn open() -> Port {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
        let port = l.local_addr().expect("its address").port();
        Port {
            port,
            listener: Some(l),
        }
    }

    fn set_open(&mut self, on: bool) {
        if on {
            let l = TcpListener::bind(("127.0.0.1", self.port)).expect("bind the port again");
            self.listener = Some(l);
        } else {
            self.listener = None;
        }
    }
}

/// A configuration as `Anycastd::start` writes it (with the state file in `dir`), for a
/// rewrite before SIGHUP.
fn with_state(cfg: &str, dir: &Path) -> String {
    cfg.replacen(
        "[global]\n",
        &format!(
            "[global]\nstate_file = \"{}\"\n",
            dir.join("state.json").display()
        ),
        1,
    )
}

fn prefix_line(lab: &Lab, p: &str) -> String {
    format!(
        "[{{ prefix = \"{p}\", vtysh = \"{}\" }}]",
        lab.vtysh_a().display()
    )
}

fn tail(d: &Anycastd) -> String {
    let log = d.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// `/proc/PID/stat` fields after the command name: state, ppid, pgrp, …
fn stat(pid: &str) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        s.rsplit(')')
            .next()?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    )
}

/// Live (not zombie) processes whose environment has `ANYCASTD_CHECK=<check>`.
fn live_check_processes(check: &str) -> Vec<String> {
    let needle = format!("ANYCASTD_CHECK={check}");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let has = env.split(|&b| b == 0).any(|v| v == needle.as_bytes());
        if has && stat(&pid).is_some_and(|f| f.first().is_some_and(|s| s != "Z")) {
            out.push(pid);
        }
    }
    out
}

/// The daemon's children that are zombies now.
fn zombies_of(daemon: u32) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if let Some(f) = stat(&pid) {
            if f.first().is_some_and(|s| s == "Z") && f.get(1) == Some(&daemon.to_string()) {
                out.insert(pid);
            }
        }
    }
    out
}

fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// How often each check's result was logged at debug level ("Polled …").
fn polls(d: &Anycastd) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for e in d.events() {
        if e["event"]
            .as_str()
            .is_some_and(|t| t.starts_with("Polled "))
        {
            if let Some(n) = e["name"].as_str() {
                *out.entry(n.to_string()).or_default() += 1;
            }
        }
    }
    out
}

fn status(config: &Path) -> String {
    let out = Command::new(crate::harness::bin())
        .args(["status", "-c"])
        .arg(config)
        .output()
        .expect("run anycastd status");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_kind_flips_its_prefix_on_b() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let dir = TempDir::new("kinds");
    let flag = dir.path().join("dns-ok");
    std::fs::write(&flag, "").expect("write the flag file");
    let web = Web::start();
    let mut port = Port::open();
    let cfg = format!(
        "[global]\nshutdown_timeout = \"5s\"\n\
         [services.dns]\nprefixes.frrouting = {}\n\
         checks.command = [{{ name = \"dns\", command = [\"/usr/bin/test\", \"-e\", \"{}\"], interval = \"200ms\", timeout = \"150ms\" }}]\n\
         [services.web]\nprefixes.frrouting = {}\n\
         checks.http = [{{ name = \"web\", url = \"{}\", interval = \"200ms\", timeout = \"150ms\", status = 200, body = \"ok\" }}]\n\
         [services.smtp]\nprefixes.frrouting = {}\n\
         checks.tcp = [{{ name = \"smtp\", address = \"127.0.0.1:{}\", interval = \"200ms\", timeout = \"150ms\" }}]\n",
        prefix_line(&lab, lab::SVC4_53),
        flag.display(),
        prefix_line(&lab, lab::SVC4_54),
        web.url(),
        prefix_line(&lab, lab::SVC4_55),
        port.port,
    );
    let mut d = Anycastd::start(dir.path(), &cfg);
    for p in [lab::SVC4_53, lab::SVC4_54, lab::SVC4_55] {
        assert!(
            lab.wait_b_has_route(p, true, CONVERGE),
            "B never learned {p}\n{}",
            tail(&d)
        );
    }
    assert!(web.requests.load(Ordering::SeqCst) > 0);

    // command: the file goes, then comes back.
    std::fs::remove_file(&flag).expect("remove the flag");
    assert!(
        lab.wait_b_has_route(lab::SVC4_53, false, CONVERGE),
        "dns stayed on B\n{}",
        tail(&d)
    );
    // The state file follows within its coalescing gap (250 ms): B may be a moment ahead.
    let says_why = |st: &str| {
        st.contains("check \"dns\" (command) FAILING: exit 1")
            && st.contains("reason: check dns (command): exit 1")
    };
    assert!(
        wait_until(5 * SEC, || says_why(&status(&d.config_path))),
        "status does not say why:\n{}",
        status(&d.config_path)
    );
    std::fs::write(&flag, "").expect("write the flag again");
    assert!(
        lab.wait_b_has_route(lab::SVC4_53, true, CONVERGE),
        "dns did not come back\n{}",
        tail(&d)
    );

    // http: 503, then 200 again.
    web.set_up(false);
    assert!(
        lab.wait_b_has_route(lab::SVC4_54, false, CONVERGE),
        "web stayed on B\n{}",
        tail(&d)
    );
    assert!(
        d.wait_log(
            "Health check \\\"web\\\" (http) is failing: HTTP status 503",
            5 * SEC
        ),
        "{}",
        tail(&d)
    );
    web.set_up(true);
    assert!(
        lab.wait_b_has_route(lab::SVC4_54, true, CONVERGE),
        "web did not come back\n{}",
        tail(&d)
    );
    assert!(d.wait_log("Health check \\\"web\\\" (http) passes again.", 5 * SEC));

    // tcp: the listener closes, then opens again.
    port.set_open(false);
    assert!(
        lab.wait_b_has_route(lab::SVC4_55, false, CONVERGE),
        "smtp stayed on B\n{}",
        tail(&d)
    );
    port.set_open(true);
    assert!(
        lab.wait_b_has_route(lab::SVC4_55, true, CONVERGE),
        "smtp did not come back\n{}",
        tail(&d)
    );

    // Metrics and the state file carry the kind.
    let state = std::fs::read_to_string(dir.path().join("state.json")).expect("state file");
    for k in [
        "\"kind\":\"command\"",
        "\"kind\":\"http\"",
        "\"kind\":\"tcp\"",
    ] {
        assert!(state.contains(k), "{k} not in the state file: {state}");
    }
    assert_eq!(d.stop("TERM"), 0, "{}", tail(&d));
    for p in [lab::SVC4_53, lab::SVC4_54, lab::SVC4_55] {
        assert!(
            lab.wait_b_has_route(p, false, CONVERGE),
            "{p} stayed after the stop"
        );
    }
}

#[test]
fn a_hung_command_is_killed_with_its_group_and_the_others_keep_their_schedule() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let dir = TempDir::new("hang");
    let cfg = format!(
        "[global]\nshutdown_timeout = \"5s\"\n\
         [services.stuck]\nprefixes.frrouting = {}\n\
         checks.command = [{{ name = \"stuck\", command = [\"/bin/sh\", \"-c\", \"sleep 60 & sleep 60\"], interval = \"1s\", timeout = \"300ms\" }}]\n\
         [services.fine]\nprefixes.frrouting = {}\n\
         checks.command = [{{ name = \"fine\", command = [\"/bin/true\"], interval = \"200ms\", timeout = \"150ms\" }}]\n",
        prefix_line(&lab, lab::SVC4_53),
        prefix_line(&lab, lab::SVC4_54),
    );
    let mut d = Anycastd::start(dir.path(), &cfg);
    assert!(
        lab.wait_b_has_route(lab::SVC4_54, true, CONVERGE),
        "fine never reached B\n{}",
        tail(&d)
    );
    assert!(
        d.wait_log(
            "Health check \\\"stuck\\\" (command) is failing: timed out after 300ms",
            5 * SEC
        ),
        "{}",
        tail(&d)
    );
    assert!(
        !lab.b_has_route(lab::SVC4_53),
        "a hung check's prefix is on B"
    );

    // Over 5 s: `fine` polled on schedule (~25 times), `stuck` started ~5 times, and no
    // process of `stuck` lives longer than its timeout, no zombie stays.
    let before = polls(&d);
    let t0 = Instant::now();
    let mut oldest: HashMap<String, Instant> = HashMap::new();
    let mut zombie_seen: HashMap<String, u32> = HashMap::new();
    while t0.elapsed() < 5 * SEC {
        for pid in live_check_processes("stuck") {
            let first = *oldest.entry(pid.clone()).or_insert_with(Instant::now);
            assert!(
                first.elapsed() < 2 * SEC,
                "process {pid} of the hung check lived {:?}: its group was not killed",
                first.elapsed()
            );
        }
        for z in zombies_of(d.pid()) {
            *zombie_seen.entry(z).or_default() += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let lasting: Vec<_> = zombie_seen.iter().filter(|(_, n)| **n > 4).collect();
    assert!(lasting.is_empty(), "zombies stayed: {lasting:?}");
    let after = polls(&d);
    let fine = after.get("fine").copied().unwrap_or(0) - before.get("fine").copied().unwrap_or(0);
    let stuck =
        after.get("stuck").copied().unwrap_or(0) - before.get("stuck").copied().unwrap_or(0);
    println!("in 5 s: fine polled {fine} times (200 ms), stuck timed out {stuck} times (1 s)");
    assert!(
        fine >= 18,
        "the healthy check was polled only {fine} times in 5 s\n{}",
        tail(&d)
    );
    assert!(
        (3..=7).contains(&stuck),
        "the hung check ran {stuck} times in 5 s"
    );
    assert_eq!(
        d.count("Health check \"stuck\" (command) is failing"),
        1,
        "the hung check's failure is logged once"
    );
    assert!(lab.b_has_route(lab::SVC4_54));
    assert_eq!(d.stop("TERM"), 0, "{}", tail(&d));
    assert!(
        wait_until(2 * SEC, || live_check_processes("stuck").is_empty()),
        "a check process outlived the daemon"
    );
}

#[test]
fn a_flooding_command_is_bounded_and_a_deleted_program_fails_once() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let dir = TempDir::new("flood");
    let prog = dir.path().join("check-prog");
    std::fs::copy("/bin/true", &prog).expect("copy /bin/true");
    let cfg = format!(
        "[global]\nshutdown_timeout = \"5s\"\n\
         [services.flood]\nprefixes.frrouting = {}\n\
         checks.command = [{{ name = \"flood\", command = [\"/bin/sh\", \"-c\", \"yes 'flood line' | head -c 30000000; exit 1\"], interval = \"5s\", timeout = \"5s\" }}]\n\
         [services.prog]\nprefixes.frrouting = {}\n\
         checks.command = [{{ name = \"prog\", command = [\"{}\"], interval = \"200ms\", timeout = \"150ms\" }}]\n",
        prefix_line(&lab, lab::SVC4_53),
        prefix_line(&lab, lab::SVC4_54),
        prog.display(),
    );
    let mut d = Anycastd::start(dir.path(), &cfg);
    assert!(
        lab.wait_b_has_route(lab::SVC4_54, true, CONVERGE),
        "prog never reached B\n{}",
        tail(&d)
    );
    // 30 MB of output in well under its 5 s timeout: read as it comes, so the command
    // ends with its own exit status, and the daemon does not grow.
    assert!(
        d.wait_log(
            "Health check \\\"flood\\\" (command) is failing: exit 1: flood line",
            10 * SEC
        ),
        "{}",
        tail(&d)
    );
    let mut most = 0;
    for _ in 0..40 {
        most = most.max(rss_kib(d.pid()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("RSS while flooding: {most} KiB");
    assert!(
        most < 40 * 1024,
        "the daemon grew to {most} KiB while a check flooded"
    );
    assert!(!lab.b_has_route(lab::SVC4_53));

    // The program goes away under the running daemon: a failure, logged once.
    std::fs::remove_file(&prog).expect("remove the program");
    assert!(
        lab.wait_b_has_route(lab::SVC4_54, false, CONVERGE),
        "prog stayed on B\n{}",
        tail(&d)
    );
    std::thread::sleep(2 * SEC);
    let failing = format!(
        "Health check \"prog\" (command) is failing: cannot run {}",
        prog.display()
    );
    assert_eq!(d.count(&failing), 1, "{}", tail(&d));
    std::fs::copy("/bin/true", &prog).expect("copy /bin/true back");
    assert!(
        lab.wait_b_has_route(lab::SVC4_54, true, CONVERGE),
        "prog did not come back\n{}",
        tail(&d)
    );
    assert_eq!(d.stop("TERM"), 0, "{}", tail(&d));
}

#[test]
fn two_hundred_command_checks_at_one_second_keep_their_schedule_in_one_thread() {
    const N: usize = 200;
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let dir = TempDir::new("cmd200");
    let mut cfg = String::from("[global]\nreconcile_interval = \"2s\"\n");
    let prefix = |k: usize| format!("10.{}.{}.0/24", 150 + k / 256, k % 256);
    for k in 0..N {
        // Every fourth fails.
        let argv = if k % 4 == 3 {
            "\"/bin/false\""
        } else {
            "\"/bin/true\""
        };
        cfg += &format!(
            "[services.s{k}]\nprefixes.frrouting = [{{ prefix = \"{}\", vtysh = \"{}\" }}]\nchecks.command = [{{ name = \"c{k}\", command = [{argv}], interval = \"1s\", timeout = \"900ms\" }}]\n",
            prefix(k),
            lab.vtysh_a().display()
        );
    }
    let healthy: BTreeSet<String> = (0..N).filter(|k| k % 4 != 3).map(prefix).collect();
    let ours = |lab: &Lab| -> BTreeSet<String> {
        lab.a_networks()
            .into_iter()
            .filter(|(vrf, p)| vrf.is_none() && p.starts_with("10.15"))
            .map(|(_, p)| p)
            .collect()
    };
    let mut d = Anycastd::start(dir.path(), &cfg);
    assert!(
        wait_until(30 * SEC, || ours(&lab) == healthy),
        "A has {} of the {} healthy prefixes\n{}",
        ours(&lab).len(),
        healthy.len(),
        tail(&d)
    );
    let before = polls(&d);
    let t0 = Instant::now();
    let mut most_threads = 0;
    let mut zombie_seen: HashMap<String, u32> = HashMap::new();
    while t0.elapsed() < 6 * SEC {
        most_threads = most_threads.max(threads(d.pid()).unwrap_or(0));
        for z in zombies_of(d.pid()) {
            *zombie_seen.entry(z).or_default() += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(most_threads, 1, "the daemon ran {most_threads} threads");
    // A zombie lasts from a child's exit until the loop wakes: never across samples 20 ms
    // apart for long.
    let lasting: Vec<_> = zombie_seen.iter().filter(|(_, n)| **n > 10).collect();
    assert!(lasting.is_empty(), "zombies stayed: {lasting:?}");
    let after = polls(&d);
    let starved: Vec<String> = (0..N)
        .map(|k| format!("c{k}"))
        .filter(|c| after.get(c).copied().unwrap_or(0) < before.get(c).copied().unwrap_or(0) + 4)
        .collect();
    assert!(
        starved.is_empty(),
        "{} of {N} checks ran fewer than 4 times in 6 s: {:?}",
        starved.len(),
        &starved[..starved.len().min(10)]
    );
    assert_eq!(ours(&lab), healthy);
    assert_eq!(d.stop("TERM"), 0, "{}", tail(&d));
    assert!(
        wait_until(10 * SEC, || ours(&lab).is_empty()),
        "prefixes stayed after the stop"
    );
}

#[test]
fn reload_keeps_unchanged_checks_and_refuses_a_missing_program() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let dir = TempDir::new("cmdreload");
    let web = Web::start();
    let cfg = |cmd: &str| {
        format!(
            "[global]\nshutdown_timeout = \"5s\"\n\
             [services.dns]\nprefixes.frrouting = {}\n\
             checks.command = [{{ name = \"dns\", command = [\"{cmd}\"], interval = \"200ms\", timeout = \"150ms\" }}]\n\
             [services.web]\nprefixes.frrouting = {}\n\
             checks.http = [{{ name = \"web\", url = \"{}\", interval = \"200ms\", timeout = \"150ms\" }}]\n",
            prefix_line(&lab, lab::SVC4_53),
            prefix_line(&lab, lab::SVC4_54),
            web.url(),
        )
    };
    let mut d = Anycastd::start(dir.path(), &cfg("/bin/true"));
    assert!(
        lab.wait_b_has_route(lab::SVC4_53, true, CONVERGE),
        "{}",
        tail(&d)
    );
    assert!(
        lab.wait_b_has_route(lab::SVC4_54, true, CONVERGE),
        "{}",
        tail(&d)
    );
    let healthy_web = d.count("Service \"web\" is now considered healthy");

    // The command changes: dns fails; web's check is the same and keeps its state.
    std::fs::write(&d.config_path, with_state(&cfg("/bin/false"), dir.path()))
        .expect("rewrite the config");
    d.signal("HUP");
    assert!(
        lab.wait_b_has_route(lab::SVC4_53, false, CONVERGE),
        "the new command did not apply\n{}",
        tail(&d)
    );
    assert!(lab.b_has_route(lab::SVC4_54));
    assert_eq!(
        d.count("Service \"web\" is now considered healthy"),
        healthy_web,
        "web flapped on reload"
    );

    // A program that does not exist: the reload is refused, the running config stays.
    std::fs::write(
        &d.config_path,
        with_state(&cfg("/nonexistent/check"), dir.path()),
    )
    .expect("rewrite the config");
    d.signal("HUP");
    assert!(
        d.wait_log("Reload failed, keeping the running configuration", 5 * SEC),
        "{}",
        tail(&d)
    );
    assert!(
        d.log().contains("/nonexistent/check: no such program"),
        "{}",
        tail(&d)
    );
    std::thread::sleep(SEC);
    assert!(!lab.b_has_route(lab::SVC4_53));
    assert!(lab.b_has_route(lab::SVC4_54));
    assert_eq!(d.stop("TERM"), 0, "{}", tail(&d));
}

/// Configuration errors of the built-in kinds: the file, key path and line, and what to do.
#[test]
fn config_errors_of_the_built_in_kinds() {
    let dir = TempDir::new("cmdcfg");
    let cases = [
        (
            "checks.command = [{ name = \"x\", command = [\"/nonexistent/check\"] }]",
            "services.s.checks.command[0].command: /nonexistent/check: no such program",
        ),
        (
            "checks.http = [\"https://127.0.0.1/healthz\"]",
            "https is not supported",
        ),
        (
            "checks.tcp = [{ name = \"t\", address = \"127.0.0.1\" }]",
            "services.s.checks.tcp[0].address: \"127.0.0.1\": no port",
        ),
        (
            "checks.command = [\"/bin/true\", \"/usr/bin/true\"]",
            "is listed twice in this service",
        ),
        (
            "checks.http = [{ url = \"http://127.0.0.1/\", status = 99 }]",
            "services.s.checks.http[0].status: must be an HTTP status from 100 to 599",
        ),
    ];
    for (checks, want) in cases {
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!("[services.s]\nprefixes.frrouting = [\"203.0.113.53\"]\n{checks}\n"),
        )
        .expect("write config");
        let out = Command::new(crate::harness::bin())
            .args(["check", "-c"])
            .arg(&path)
            .output()
            .expect("run anycastd check");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(65), "{checks}: {err}");
        assert!(
            err.contains(&format!("{}:3:", path.display())),
            "{checks}: no line: {err}"
        );
        assert!(err.contains(want), "{checks}: expected {want:?} in: {err}");
    }
}
