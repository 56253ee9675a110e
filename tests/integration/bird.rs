//! The BIRD backend against a real BIRD 2: router C of the lab (`LabOptions { bird: true }`,
//! see `lab.rs`) runs the host's BIRD in netns C with an eBGP session (v4 and v6) to B, and
//! its bird.conf includes the file the daemon owns. Every assertion is about what B receives
//! (which AS it learned a prefix from: 65538 is C, 65536 is A's FRR) and what is in the
//! include file, not only about the daemon's log.
//!
//! The first tests prove the lab alone (routes written into the include file by hand); the
//! others run the daemon with `prefixes.bird` entries in the long form (the lab's socket and
//! include file), an http check against a [`Web`] stand-in, and `reconcile_interval = "1s"`.
//! Measured times are printed (see them with `--nocapture`).

use crate::harness::{Anycastd, TempDir, Web, bin, cli, text, wait_until};
use crate::lab::{self, ASN_A, ASN_C, BIRD_INCLUDE_EMPTY, Lab, LabOptions};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);
/// A health change or a start-up reaching B through BIRD: ~0.4 s of polls (`fall = 2`),
/// one `birdc configure`, one UPDATE; with a wide margin for loaded machines.
const CONVERGE: Duration = Duration::from_secs(10);
/// BIRD restarted: its sessions to B come back (B retries every 2 s) and B relearns.
const BIRD_RECOVERY: Duration = Duration::from_secs(30);
/// The prefixes the daemon announces through BIRD in these tests.
const P4: &str = lab::SVC4_53;
const P6: &str = lab::SVC6_53;
const BOTH: [&str; 2] = [P4, P6];

fn bird_lab() -> Option<Lab> {
    Lab::start(LabOptions {
        bird: true,
        ..Default::default()
    })
}

/// Process `pid` is gone or a zombie.
fn exited(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .map_or(true, |s| s.contains("State:\tZ") || s.contains("State:\tX"))
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// A `prefixes.bird` entry in the long form: the lab's socket and include file.
fn bird_entry(lab: &Lab, prefix: &str) -> String {
    format!(
        "{{ prefix = \"{prefix}\", birdc = \"{}\", socket = \"{}\", file = \"{}\" }}",
        lab::BIRDC,
        lab.bird_socket().display(),
        lab.bird_file().display()
    )
}

/// `[global]` with the state and drain files in `dir`, and service `dns` with `prefixes`
/// (TOML: `prefixes.bird = [...]` or `prefixes.frrouting = [...]`) and an http check.
fn config_with(dir: &Path, web: &Web, prefixes: &str) -> String {
    format!(
        "[global]\nshutdown_timeout = \"5s\"\nreconcile_interval = \"1s\"\n\
         state_file = \"{}\"\ndrain_file = \"{}\"\n\
         [services.dns]\nfall = 2\n{prefixes}\n\
         checks.http = [{{ name = \"dns\", url = \"{}\", interval = \"200ms\", timeout = \"150ms\" }}]\n",
        dir.join("state.json").display(),
        dir.join("drains.json").display(),
        web.url(),
    )
}

/// Service `dns` announcing [`P4`] and [`P6`] through the lab's BIRD.
fn config(lab: &Lab, dir: &Path, web: &Web) -> String {
    config_with(
        dir,
        web,
        &format!(
            "prefixes.bird = [{}, {}]",
            bird_entry(lab, P4),
            bird_entry(lab, P6)
        ),
    )
}

fn tail_of(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn include(lab: &Lab) -> String {
    fs::read_to_string(lab.bird_file()).unwrap_or_else(|e| format!("<cannot read: {e}>"))
}

/// The `route …;` lines of the include file, trimmed.
fn include_routes(lab: &Lab) -> Vec<String> {
    include(lab)
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("route "))
        .map(String::from)
        .collect()
}

/// The include file has the route line for exactly `prefix`: `route P blackhole;`.
fn include_has(lab: &Lab, prefix: &str) -> bool {
    let want = format!("route {prefix} blackhole;");
    include_routes(lab).contains(&want)
}

/// Both protocols are there and no route: what the daemon leaves when nothing is announced.
fn include_is_empty_of_routes(lab: &Lab) -> bool {
    let text = include(lab);
    text.contains("protocol static anycastd4")
        && text.contains("protocol static anycastd6")
        && include_routes(lab).is_empty()
}

/// B's view of both prefixes.
fn b_view(lab: &Lab) -> String {
    BOTH.iter()
        .map(|p| format!("{p}: {:?}", lab.b_route_from(p)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a failure message needs: B's view, the include file, BIRD's routes and log, the
/// daemon's log.
fn report(lab: &Lab, log: &str) -> String {
    format!(
        "\n--- B learned (first AS) ---\n{}\n--- {} ---\n{}--- birdc show route ---\n{}\n\
         --- {} (tail) ---\n{}\n--- anycastd log (tail) ---\n{}",
        b_view(lab),
        lab.bird_file().display(),
        include(lab),
        lab.birdc_text(&["show", "route"]),
        lab.bird_log().display(),
        tail_of(&fs::read_to_string(lab.bird_log()).unwrap_or_default(), 15),
        tail_of(log, 40)
    )
}

/// Waits until B learned every one of `prefixes` from C (65538); the time it took.
fn wait_from_c(lab: &Lab, d: &Anycastd, prefixes: &[&str], what: &str) -> Duration {
    let t0 = Instant::now();
    for p in prefixes {
        assert!(
            lab.wait_b_route_from(p, Some(ASN_C), CONVERGE),
            "{what}: B did not learn {p} from C (AS {ASN_C}){}",
            report(lab, &d.log())
        );
    }
    t0.elapsed()
}

/// Waits until B has none of `prefixes`; the time it took.
fn wait_gone(lab: &Lab, d: &Anycastd, prefixes: &[&str], what: &str) -> Duration {
    let t0 = Instant::now();
    for p in prefixes {
        assert!(
            lab.wait_b_route_from(p, None, CONVERGE),
            "{what}: B kept {p}{}",
            report(lab, &d.log())
        );
    }
    t0.elapsed()
}

/// What [`watch_b`] saw of one prefix on B.
struct Watch {
    samples: u32,
    /// Every time B had no route for it: (start, length) from the start of the step.
    gaps: Vec<(Duration, Duration)>,
    /// The ASes B learned it from (first AS of the best path), in the order first seen.
    from: Vec<u32>,
}

/// Samples B's route for `prefix` every ~20 ms (plus one vtysh call) while `step` runs,
/// then until `until(step's value, time since the start)` holds, at most `max` from the
/// start. Returns `step`'s value and what B had.
fn watch_b<T>(
    lab: &Lab,
    prefix: &str,
    step: impl FnOnce() -> T,
    mut until: impl FnMut(&T, Duration) -> bool,
    max: Duration,
) -> (T, Watch) {
    let t0 = Instant::now();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let sampler = s.spawn(move || {
            let mut w = Watch {
                samples: 0,
                gaps: Vec::new(),
                from: Vec::new(),
            };
            let mut gap: Option<Duration> = None;
            loop {
                let from = lab.b_route_from(prefix);
                let now = t0.elapsed();
                w.samples += 1;
                if let Some(asn) = from {
                    if !w.from.contains(&asn) {
                        w.from.push(asn);
                    }
                }
                match (from, gap) {
                    (None, None) => gap = Some(now),
                    (Some(_), Some(g)) => {
                        w.gaps.push((g, now - g));
                        gap = None;
                    }
                    _ => {}
                }
                if stopped.recv_timeout(Duration::from_millis(20)).is_ok() {
                    if let Some(g) = gap {
                        w.gaps.push((g, t0.elapsed() - g));
                    }
                    return w;
                }
            }
        });
        let value = step();
        while !until(&value, t0.elapsed()) && t0.elapsed() < max {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = stop.send(());
        (value, sampler.join().expect("the sampler panicked"))
    })
}

/// The daemon's crash record says it is up and has written down what it announced.
fn ready(dir: &Path) -> bool {
    fs::read_to_string(dir.join("state.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|s| s["ready"] == true)
}

// ---------------------------------------------------------------------- the lab

/// The lab's router C works: a route written into the include file by hand and `birdc
/// configure` reach B from AS 65538 (v4 and v6); the include file emptied again and
/// configured, B drops them. BIRD's own view agrees.
#[test]
fn bird_lab_peers_with_b() {
    let Some(lab) = bird_lab() else {
        return;
    };
    println!("bird lab: started in {}", secs(lab.startup_time()));
    for p in BOTH {
        assert_eq!(
            lab.b_route_from(p),
            None,
            "B has {p} before anything was written"
        );
    }
    let with_routes = BIRD_INCLUDE_EMPTY
        .replace("\tipv4;\n", &format!("\tipv4;\n\troute {P4} blackhole;\n"))
        .replace("\tipv6;\n", &format!("\tipv6;\n\troute {P6} blackhole;\n"));
    fs::write(lab.bird_file(), &with_routes).expect("write the include file");
    let t0 = Instant::now();
    lab.bird_configure();
    for p in BOTH {
        assert!(
            lab.wait_b_route_from(p, Some(ASN_C), CONVERGE),
            "B did not learn {p} from C after birdc configure\n{}\n{}",
            lab.birdc_text(&["show", "route", "all"]),
            lab.birdc_text(&["show", "protocols", "all"])
        );
    }
    println!(
        "bird lab: configure → B learned both from C in {}",
        secs(t0.elapsed())
    );
    let routes4 = lab.birdc_text(&["show", "route", "protocol", "anycastd4"]);
    assert!(routes4.contains(P4), "{routes4}");
    let routes6 = lab.birdc_text(&["show", "route", "protocol", "anycastd6"]);
    assert!(routes6.contains(P6), "{routes6}");
    // A route of C is no route of A for the FRR helpers.
    assert!(!lab.b_has_route(P4), "b_has_route counts C's route as A's");

    fs::write(lab.bird_file(), BIRD_INCLUDE_EMPTY).expect("empty the include file");
    let t1 = Instant::now();
    lab.bird_configure();
    for p in BOTH {
        assert!(
            lab.wait_b_route_from(p, None, CONVERGE),
            "B kept {p} after the include file was emptied"
        );
    }
    println!(
        "bird lab: emptied → B dropped both in {}",
        secs(t1.elapsed())
    );
    let routes4 = lab.birdc_text(&["show", "route", "protocol", "anycastd4"]);
    assert!(!routes4.contains(P4), "{routes4}");
}

/// `stop_bird` / `start_bird`: B loses C's routes with BIRD and relearns them from the
/// include file when it comes back; `restart_bird` waits for both sessions. Dropping the
/// lab leaves no BIRD, no netns C and no temp dir behind.
#[test]
fn bird_lab_restarts_bird_and_cleans_up() {
    let Some(mut lab) = bird_lab() else {
        return;
    };
    let with_route =
        BIRD_INCLUDE_EMPTY.replace("\tipv4;\n", &format!("\tipv4;\n\troute {P4} blackhole;\n"));
    fs::write(lab.bird_file(), &with_route).expect("write the include file");
    lab.bird_configure();
    assert!(lab.wait_b_route_from(P4, Some(ASN_C), CONVERGE));
    let first = lab.bird_pid().expect("BIRD runs");
    lab.stop_bird();
    assert!(exited(first), "BIRD {first} still runs after stop_bird");
    assert!(
        lab.wait_b_route_from(P4, None, CONVERGE),
        "B kept C's route with BIRD stopped"
    );
    let t0 = Instant::now();
    lab.start_bird();
    assert!(
        lab.wait_b_route_from(P4, Some(ASN_C), BIRD_RECOVERY),
        "B did not relearn C's route after start_bird\n{}",
        lab.birdc_text(&["show", "protocols"])
    );
    println!(
        "bird lab: start_bird → B relearned in {}",
        secs(t0.elapsed())
    );
    let t1 = Instant::now();
    lab.restart_bird();
    println!(
        "bird lab: restart_bird (sessions Established) in {}",
        secs(t1.elapsed())
    );
    let pid = lab.bird_pid().expect("BIRD runs again");
    assert_ne!(pid, first);
    let ns = lab.ns_c().to_string();
    let tmp = lab.tmp_dir().to_path_buf();
    drop(lab);
    assert!(exited(pid), "BIRD {pid} survived the lab");
    assert!(
        !Path::new("/run/netns").join(&ns).exists(),
        "netns {ns} survived the lab"
    );
    assert!(!tmp.exists(), "{} survived the lab", tmp.display());
}

// ---------------------------------------------------------------------- the daemon

/// (1) While the check passes, B learns both prefixes from C and the include file has their
/// route lines; when it fails, B loses them and the lines are gone; when it passes again,
/// both come back.
#[test]
fn bird_announces_while_healthy_and_withdraws_when_failing() {
    let Some(lab) = bird_lab() else {
        return;
    };
    let dir = TempDir::new("bird-health");
    let web = Web::start();
    let mut d = Anycastd::start(dir.path(), &config(&lab, dir.path(), &web));
    let up = wait_from_c(&lab, &d, &BOTH, "start");
    for p in BOTH {
        assert!(
            include_has(&lab, p),
            "no route line for {p}{}",
            report(&lab, &d.log())
        );
    }

    web.set_up(false);
    let down = wait_gone(&lab, &d, &BOTH, "check failing");
    assert!(
        wait_until(5 * SEC, || include_routes(&lab).is_empty()),
        "route lines stayed in the include file{}",
        report(&lab, &d.log())
    );
    assert!(include_is_empty_of_routes(&lab), "{}", include(&lab));

    web.set_up(true);
    let back = wait_from_c(&lab, &d, &BOTH, "check passing again");
    for p in BOTH {
        assert!(
            include_has(&lab, p),
            "no route line for {p}{}",
            report(&lab, &d.log())
        );
    }
    println!(
        "bird: B learned both from C {} after the start; lost them {} after the check failed; \
         relearned {} after it passed",
        secs(up),
        secs(down),
        secs(back)
    );
    assert_eq!(d.stop("TERM"), 0, "{}", report(&lab, &d.log()));
}

/// (2) SIGTERM: exit 0, B loses every prefix, and the include file holds both protocols
/// with no route line (and still parses).
#[test]
fn bird_stop_withdraws_everything() {
    let Some(lab) = bird_lab() else {
        return;
    };
    let dir = TempDir::new("bird-stop");
    let web = Web::start();
    let mut d = Anycastd::start(dir.path(), &config(&lab, dir.path(), &web));
    wait_from_c(&lab, &d, &BOTH, "start");
    let t0 = Instant::now();
    let code = d.stop("TERM");
    let stopped = t0.elapsed();
    assert_eq!(code, 0, "{}", report(&lab, &d.log()));
    // What the daemon confirmed before it exited: the file at once; B a moment later.
    assert!(
        include_is_empty_of_routes(&lab),
        "after the stop the include file is:\n{}",
        include(&lab)
    );
    let gone = wait_gone(&lab, &d, &BOTH, "after SIGTERM");
    lab.bird_configure();
    println!(
        "bird: SIGTERM → exit 0 in {}, B lost both {} later",
        secs(stopped),
        secs(gone)
    );
}

/// (3) The daemon SIGKILLed and started again with the service healthy: the route lines stay
/// in the include file while it is dead and are adopted, so B never loses the prefix
/// (sampled every ~20 ms from the kill until the new daemon has been healthy for 3 s,
/// three reconciles), and the new daemon logs no "Withdrew prefix" for it.
#[test]
fn bird_sigkill_and_restart_keep_the_prefix_on_b() {
    let Some(lab) = bird_lab() else {
        return;
    };
    let dir = TempDir::new("bird-kill");
    let web = Web::start();
    let cfg = config(&lab, dir.path(), &web);
    let mut first = Anycastd::start(dir.path(), &cfg);
    wait_from_c(&lab, &first, &BOTH, "start");
    // Until the first daemon's crash record says it is up (else the kill may come before
    // it wrote down what it announced).
    assert!(
        wait_until(5 * SEC, || ready(dir.path())),
        "the state file never said ready{}",
        report(&lab, &first.log())
    );
    let healthy = |log: &str| {
        log.lines().any(|l| {
            l.contains("\"service_name\": \"dns\"") && l.contains("is now considered healthy")
        })
    };
    let mut healthy_at: Option<Duration> = None;
    let (d, w) = watch_b(
        &lab,
        P4,
        || {
            first.signal("KILL");
            assert!(first.wait_exit(5 * SEC).is_some(), "SIGKILL did not kill");
            assert!(
                include_has(&lab, P4),
                "the killed daemon's route line went{}",
                report(&lab, &first.log())
            );
            std::thread::sleep(SEC);
            Anycastd::start(dir.path(), &cfg)
        },
        |d, now| {
            if healthy_at.is_none() && healthy(&d.log()) {
                healthy_at = Some(now);
            }
            healthy_at.is_some_and(|h| now >= h + 3 * SEC)
        },
        CONVERGE + 5 * SEC,
    );
    let mut d = d;
    println!(
        "bird: SIGKILL + restart: {P4} sampled {} times, learned from {:?}, gaps {:?}; \
         the new daemon healthy after {:?}",
        w.samples, w.from, w.gaps, healthy_at
    );
    assert!(
        healthy_at.is_some(),
        "the new daemon never became healthy{}",
        report(&lab, &d.log())
    );
    assert!(
        w.gaps.is_empty(),
        "B lost {P4} during the restart: (start, length) {:?}{}",
        w.gaps,
        report(&lab, &d.log())
    );
    assert_eq!(w.from, vec![ASN_C], "{}", report(&lab, &d.log()));
    for p in BOTH {
        assert_eq!(
            d.count(&format!("Withdrew prefix {p}")),
            0,
            "the new daemon withdrew (and re-announced) {p}{}",
            report(&lab, &d.log())
        );
        assert!(include_has(&lab, p), "{}", report(&lab, &d.log()));
    }
    assert_eq!(d.stop("TERM"), 0, "{}", report(&lab, &d.log()));
    wait_gone(&lab, &d, &BOTH, "after SIGTERM");
}

/// (4) BIRD stopped and started again under a running daemon: B relearns the prefixes from
/// C, the daemon keeps running, and `anycastd status` says it is fine (exit 0). An include
/// file removed while BIRD is down is written again (no routes) so that BIRD can start; a
/// protocol disabled by hand is drift, repaired.
#[test]
fn bird_restart_under_a_running_daemon() {
    let Some(mut lab) = bird_lab() else {
        return;
    };
    let dir = TempDir::new("bird-restart");
    let web = Web::start();
    let mut d = Anycastd::start(dir.path(), &config(&lab, dir.path(), &web));
    wait_from_c(&lab, &d, &BOTH, "start");
    let cfg = d.config_path.clone();
    // The state file follows within its coalescing gap (250 ms): B may be a moment ahead.
    assert!(
        wait_until(5 * SEC, || cli(&cfg, &["status"]).status.code() == Some(0)),
        "before: {}",
        text(&cli(&cfg, &["status"]))
    );

    lab.stop_bird();
    wait_gone(&lab, &d, &BOTH, "BIRD stopped");
    // The include file goes too (a host where it was never created): BIRD would not start
    // without it, so the daemon writes it, with no routes, while BIRD is down.
    fs::remove_file(lab.bird_file()).expect("remove the include file");
    // Within a retry of BIRD (at most every 10 s) and a margin.
    assert!(
        wait_until(CONVERGE + 10 * SEC, || include_is_empty_of_routes(&lab)),
        "the missing include file was not written{}",
        report(&lab, &d.log())
    );
    // A few reconciles against a BIRD that is not there.
    std::thread::sleep(3 * SEC);
    assert_eq!(
        d.wait_exit(Duration::ZERO),
        None,
        "the daemon exited with BIRD down{}",
        report(&lab, &d.log())
    );
    let t0 = Instant::now();
    lab.start_bird();
    for p in BOTH {
        assert!(
            lab.wait_b_route_from(p, Some(ASN_C), BIRD_RECOVERY),
            "B did not relearn {p} after BIRD's restart{}",
            report(&lab, &d.log())
        );
    }
    let relearned = t0.elapsed();
    assert!(
        wait_until(CONVERGE, || cli(&cfg, &["status"]).status.code() == Some(0)),
        "status after BIRD's restart: {}{}",
        text(&cli(&cfg, &["status"])),
        report(&lab, &d.log())
    );
    assert_eq!(
        d.wait_exit(Duration::ZERO),
        None,
        "the daemon exited{}",
        report(&lab, &d.log())
    );
    for p in BOTH {
        assert!(include_has(&lab, p), "{}", report(&lab, &d.log()));
    }
    println!(
        "bird: BIRD restarted → B relearned both in {}",
        secs(relearned)
    );

    // A hand `birdc disable anycastd4` takes the IPv4 prefix away: drift, repaired by the
    // next reconcile's `configure`, which enables the protocol again.
    let drifted = "running config drifted from what health says";
    let drifts = d.count(drifted);
    let out = lab.birdc_text(&["disable", "anycastd4"]);
    assert!(out.contains("disabled"), "{out}");
    assert!(
        wait_until(CONVERGE, || d.count(drifted) > drifts),
        "the disabled protocol was not seen as drift{}",
        report(&lab, &d.log())
    );
    assert!(
        lab.wait_b_route_from(P4, Some(ASN_C), CONVERGE),
        "B did not relearn {P4} after `birdc disable anycastd4`{}",
        report(&lab, &d.log())
    );
    let proto = lab.birdc_text(&["show", "protocols", "anycastd4"]);
    assert!(
        proto
            .lines()
            .any(|l| l.starts_with("anycastd4") && l.contains(" up ")),
        "{proto}"
    );
    assert_eq!(d.stop("TERM"), 0, "{}", report(&lab, &d.log()));
    wait_gone(&lab, &d, &BOTH, "after SIGTERM");
}

/// (5a) Garbage written into the include file by hand (BIRD not told): the daemon finds it
/// within a few reconciles, logs "rewriting it" and rewrites it; the file parses again with
/// the same route lines, and B keeps the prefix all along.
#[test]
fn a_broken_include_file_is_rewritten() {
    let Some(lab) = bird_lab() else {
        return;
    };
    let dir = TempDir::new("bird-garbage");
    let web = Web::start();
    let mut d = Anycastd::start(dir.path(), &config(&lab, dir.path(), &web));
    wait_from_c(&lab, &d, &BOTH, "start");
    let before = include_routes(&lab);
    // Only a rewrite after the garbage counts.
    let rewrites = d.count("rewriting it");
    const GARBAGE: &str = "this is { not a BIRD config\n";
    let (rewritten, w) = watch_b(
        &lab,
        P4,
        || {
            fs::write(lab.bird_file(), GARBAGE).expect("write garbage");
            let t0 = Instant::now();
            wait_until(5 * SEC, || {
                let t = include(&lab);
                !t.contains("not a BIRD config") && include_routes(&lab) == before
            })
            .then(|| t0.elapsed())
        },
        // and a reconcile more
        |r, now| r.is_none() || now >= r.unwrap_or_default() + Duration::from_millis(1200),
        10 * SEC,
    );
    let Some(rewritten) = rewritten else {
        panic!(
            "the include file was not rewritten within 5 s{}",
            report(&lab, &d.log())
        );
    };
    println!(
        "bird: garbage in the include file rewritten after {}; {P4} sampled {} times, gaps {:?}",
        secs(rewritten),
        w.samples,
        w.gaps
    );
    assert!(
        wait_until(2 * SEC, || d.count("rewriting it") > rewrites),
        "no \"rewriting it\" in the log after the garbage{}",
        report(&lab, &d.log())
    );
    lab.bird_configure();
    assert!(
        w.gaps.is_empty(),
        "B lost {P4} while the include file was broken: {:?}{}",
        w.gaps,
        report(&lab, &d.log())
    );
    for p in BOTH {
        assert_eq!(
            lab.b_route_from(p),
            Some(ASN_C),
            "{}",
            report(&lab, &d.log())
        );
    }
    assert_eq!(d.stop("TERM"), 0, "{}", report(&lab, &d.log()));
}

/// (5b) A broken bird.conf (a syntax error appended) and then the check fails: `birdc
/// configure` fails, so the daemon falls back to `birdc disable anycastd4` (and 6): B loses
/// the prefixes within seconds. bird.conf repaired and the check passing again: B relearns
/// them from C.
#[test]
fn a_broken_bird_conf_falls_back_to_disable() {
    let Some(lab) = bird_lab() else {
        return;
    };
    let dir = TempDir::new("bird-disable");
    let web = Web::start();
    let mut d = Anycastd::start(dir.path(), &config(&lab, dir.path(), &web));
    wait_from_c(&lab, &d, &BOTH, "start");
    let good = fs::read_to_string(lab.bird_conf()).expect("read bird.conf");
    fs::write(lab.bird_conf(), format!("{good}this is a syntax error;\n"))
        .expect("break bird.conf");
    let broken = lab.birdc_text(&["configure", "check"]);
    assert!(
        !lab::bird_configured(&broken) && !broken.contains("Configuration OK"),
        "the broken bird.conf still parses: {broken}"
    );

    web.set_up(false);
    let gone = wait_gone(&lab, &d, &BOTH, "check failing with bird.conf broken");
    assert!(
        d.wait_log("birdc disable anycastd4", 5 * SEC),
        "no \"birdc disable anycastd4\" in the log{}",
        report(&lab, &d.log())
    );
    let proto = lab.bird_protocol("anycastd4");
    assert!(
        proto.as_deref().is_some_and(|s| s.starts_with("down")),
        "anycastd4 is {proto:?}, not down{}",
        report(&lab, &d.log())
    );

    fs::write(lab.bird_conf(), &good).expect("repair bird.conf");
    web.set_up(true);
    let back = wait_from_c(&lab, &d, &BOTH, "bird.conf repaired, check passing");
    println!(
        "bird: broken bird.conf + failing check → B lost both in {} (disable); repaired + \
         passing → relearned in {}",
        secs(gone),
        secs(back)
    );
    assert_eq!(d.stop("TERM"), 0, "{}", report(&lab, &d.log()));
    wait_gone(&lab, &d, &BOTH, "after SIGTERM");
}

/// (6) A reload moves a prefix from FRR to BIRD: announced with `prefixes.frrouting` (B
/// learns it from A, 65536), then the config says `prefixes.bird` and SIGHUP: B ends up
/// learning it from C (65538), and A's running config has no `network` line for it. BIRD
/// announces before FRR withdraws.
#[test]
fn reload_moves_a_prefix_from_frr_to_bird() {
    let Some(lab) = bird_lab() else {
        return;
    };
    let dir = TempDir::new("bird-move");
    let web = Web::start();
    let frr = config_with(
        dir.path(),
        &web,
        &format!(
            "prefixes.frrouting = [{{ prefix = \"{P4}\", vtysh = \"{}\" }}]",
            lab.vtysh_a().display()
        ),
    );
    let mut d = Anycastd::start(dir.path(), &frr);
    assert!(
        lab.wait_b_route_from(P4, Some(ASN_A), CONVERGE),
        "B did not learn {P4} from A{}",
        report(&lab, &d.log())
    );
    assert!(include_routes(&lab).is_empty(), "{}", include(&lab));

    let bird = config_with(
        dir.path(),
        &web,
        &format!("prefixes.bird = [{}]", bird_entry(&lab, P4)),
    );
    fs::write(&d.config_path, bird).expect("rewrite the config");
    let a_has = || {
        lab.a_networks()
            .iter()
            .any(|(vrf, p)| vrf.is_none() && p == P4)
    };
    let (moved, w) = watch_b(
        &lab,
        P4,
        || {
            d.signal("HUP");
            Instant::now()
        },
        |_, _| !a_has() && lab.b_route_from(P4) == Some(ASN_C),
        CONVERGE,
    );
    let took = moved.elapsed();
    assert!(
        lab.b_route_from(P4) == Some(ASN_C),
        "B does not learn {P4} from C after the reload{}",
        report(&lab, &d.log())
    );
    assert!(
        !a_has(),
        "A still has `network {P4}`: {:?}{}",
        lab.a_networks(),
        report(&lab, &d.log())
    );
    assert!(include_has(&lab, P4), "{}", report(&lab, &d.log()));
    println!(
        "bird: reload FRR → BIRD: done in {}; B's best path came from {:?}, gaps {:?}",
        secs(took),
        w.from,
        w.gaps
    );
    // Make before break: announced through BIRD before FRR withdraws it. (B may still
    // show no best path for some ms after A's withdrawal, C's path already there: FRR
    // runs its best-path selection from a work queue; those are the printed gaps.)
    // FRR's audit line is written when vtysh returns: A's config may be a moment ahead.
    let since_reload = |log: &str| log[log.find("Received SIGHUP").unwrap_or(0)..].to_string();
    wait_until(5 * SEC, || {
        since_reload(&d.log()).contains("Withdrew prefix 203.0.113.53/32")
    });
    let log = d.log();
    let after_reload = since_reload(&log);
    let announced = after_reload.find("Announced prefix 203.0.113.53/32");
    let withdrew = after_reload.find("Withdrew prefix 203.0.113.53/32");
    assert!(
        matches!((announced, withdrew), (Some(a), Some(w)) if a < w),
        "BIRD's announcement did not come before FRR's withdrawal{}",
        report(&lab, &log)
    );
    // The audit lines say which daemon each was.
    let events = d.events();
    let line = |text: &str| {
        events
            .iter()
            .rfind(|e| e["event"].as_str().is_some_and(|m| m.starts_with(text)))
            .cloned()
    };
    let a = line("Announced prefix 203.0.113.53/32").unwrap_or_default();
    let w = line("Withdrew prefix 203.0.113.53/32").unwrap_or_default();
    assert_eq!(a["router"], "bird", "{a}");
    assert_eq!(
        a["vtysh"].as_str(),
        Some(format!("{} -s {}", lab::BIRDC, lab.bird_socket().display()).as_str()),
        "{a}"
    );
    assert_eq!(w["router"], "frrouting", "{w}");
    assert_eq!(
        w["vtysh"].as_str(),
        Some(lab.vtysh_a().display().to_string().as_str()),
        "{w}"
    );
    assert_eq!(d.stop("TERM"), 0, "{}", report(&lab, &d.log()));
    wait_gone(&lab, &d, &[P4], "after SIGTERM");
}

/// (7) `anycastd withdraw -c CFG` after the daemon was SIGKILLed with everything announced:
/// exit 0, the include file loses the route lines (both protocols stay), B loses the
/// prefixes.
#[test]
fn withdraw_command_after_sigkill_empties_the_include_file() {
    let Some(lab) = bird_lab() else {
        return;
    };
    let dir = TempDir::new("bird-withdraw");
    let web = Web::start();
    let mut d = Anycastd::start(dir.path(), &config(&lab, dir.path(), &web));
    wait_from_c(&lab, &d, &BOTH, "start");
    assert!(
        wait_until(5 * SEC, || ready(dir.path())),
        "the state file never said ready{}",
        report(&lab, &d.log())
    );
    d.signal("KILL");
    assert!(d.wait_exit(5 * SEC).is_some(), "SIGKILL did not kill");
    for p in BOTH {
        assert!(include_has(&lab, p), "{}", report(&lab, &d.log()));
        assert_eq!(lab.b_route_from(p), Some(ASN_C), "B lost {p} with the kill");
    }
    let t0 = Instant::now();
    let o = cli(&d.config_path, &["withdraw"]);
    let took = t0.elapsed();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o),
        report(&lab, &d.log())
    );
    assert!(
        include_is_empty_of_routes(&lab),
        "after withdraw the include file is:\n{}\n{}",
        include(&lab),
        text(&o)
    );
    let gone = wait_gone(&lab, &d, &BOTH, "after anycastd withdraw");
    println!(
        "bird: anycastd withdraw took {} (exit 0); B lost both {} later",
        secs(took),
        secs(gone)
    );
}

/// (8) `anycastd run --dry-run`: the include file is not touched and B learns nothing,
/// although the dry run says what it would announce; SIGTERM still exits 0.
#[test]
fn dry_run_changes_nothing_in_bird() {
    let Some(lab) = bird_lab() else {
        return;
    };
    let dir = TempDir::new("bird-dry");
    let web = Web::start();
    let cfg = dir.path().join("config.toml");
    fs::write(&cfg, config(&lab, dir.path(), &web)).expect("write config");
    let before = fs::read(lab.bird_file()).expect("read the include file");
    let mtime = || {
        fs::metadata(lab.bird_file())
            .and_then(|m| m.modified())
            .expect("stat the include file")
    };
    let mtime0 = mtime();
    let log_path = dir.path().join("dry-run.log");
    let log = fs::File::create(&log_path).expect("create the log");
    let mut child = Command::new(bin())
        .args(["run", "--dry-run", "-c"])
        .arg(&cfg)
        .args(["--log-format", "json", "--log-level", "debug"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup the log"))
        .stderr(log)
        .spawn()
        .expect("spawn anycastd run --dry-run");
    let read_log = || fs::read_to_string(&log_path).unwrap_or_default();
    let dry_lines = || {
        read_log()
            .lines()
            .filter(|l| l.contains("Dry run") && l.contains(P4))
            .count()
    };
    // The dry run got as far as announcing (in words).
    let said = wait_until(CONVERGE, || dry_lines() > 0);
    if !said {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "no dry-run line for {P4} in the log{}",
            report(&lab, &read_log())
        );
    }
    // Long enough for a real announcement to reach B several times over, and for a few
    // reconciles.
    let t0 = Instant::now();
    while t0.elapsed() < 3 * SEC {
        let learned: Vec<&str> = BOTH
            .iter()
            .copied()
            .filter(|p| lab.b_route_from(p).is_some())
            .collect();
        if !learned.is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "B learned {learned:?} in a dry run{}",
                report(&lab, &read_log())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let unchanged = fs::read(lab.bird_file()).ok() == Some(before.clone()) && mtime() == mtime0;
    let _ = Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status();
    let t1 = Instant::now();
    let code = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st.code();
        }
        if t1.elapsed() > 20 * SEC {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the dry run did not stop on SIGTERM{}",
                report(&lab, &read_log())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        unchanged,
        "the dry run changed the include file:\n{}",
        include(&lab)
    );
    assert_eq!(code, Some(0), "{}", report(&lab, &read_log()));
    assert_eq!(
        fs::read(lab.bird_file()).expect("read the include file"),
        before,
        "the dry run's stop changed the include file"
    );
    assert_eq!(mtime(), mtime0, "the dry run rewrote the include file");
}

/// (9) `anycastd check --bird`: exit 0 when BIRD answers and its config includes the file;
/// non-zero, naming the include, when bird.conf does not include the configured file; non-zero
/// when the socket does not exist.
#[test]
fn check_bird_asks_bird() {
    let Some(lab) = bird_lab() else {
        return;
    };
    let dir = TempDir::new("bird-check");
    let web = Web::start();
    let entry = |socket: &Path, file: &Path| {
        format!(
            "prefixes.bird = [{{ prefix = \"{P4}\", socket = \"{}\", file = \"{}\" }}]",
            socket.display(),
            file.display()
        )
    };
    let check = |name: &str, socket: &Path, file: &Path| {
        let cfg = dir.path().join(name);
        fs::write(&cfg, config_with(dir.path(), &web, &entry(socket, file))).expect("write config");
        cli(&cfg, &["check", "--bird"])
    };
    let o = check("ok.toml", &lab.bird_socket(), &lab.bird_file());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // No BIRD behind the socket.
    let nowhere = lab.tmp_dir().join("nosuch.ctl");
    let o = check("no-socket.toml", &nowhere, &lab.bird_file());
    assert!(
        o.status.code().is_some_and(|c| c != 0),
        "a socket that does not exist passed: {}",
        text(&o)
    );
    println!("bird: check --bird, no socket: exit {:?}", o.status.code());

    // A file bird.conf does not include (it exists and is well-formed; BIRD has the two
    // protocols, from the file it does include).
    let other = lab.tmp_dir().join("other.conf");
    fs::write(&other, BIRD_INCLUDE_EMPTY).expect("write the other file");
    let o = check("not-included.toml", &lab.bird_socket(), &other);
    let out = text(&o);
    println!(
        "bird: check --bird, file not included: exit {:?}",
        o.status.code()
    );
    assert!(
        o.status.code().is_some_and(|c| c != 0),
        "a file bird.conf does not include passed: {out}"
    );
    // A finding about the include that is not an `ok` one.
    assert!(
        out.lines()
            .any(|l| l.contains("include") && !l.trim_start().starts_with("ok")),
        "the output does not say the include is missing: {out}"
    );
    // The checks changed nothing.
    assert_eq!(include(&lab), BIRD_INCLUDE_EMPTY);
    assert_eq!(
        fs::read_to_string(&other).expect("read the other file"),
        BIRD_INCLUDE_EMPTY
    );
}

/// A 0-byte include file (what the Debian package's tmpfiles.d entry leaves at boot, and a
/// valid include): BIRD then has no protocol anycastd4/6; the daemon writes them, has BIRD
/// reconfigure, and announces: B learns both prefixes from C.
#[test]
fn an_empty_include_file_gets_its_protocols() {
    let Some(lab) = bird_lab() else {
        return;
    };
    fs::write(lab.bird_file(), "").expect("empty the include file");
    lab.bird_configure();
    assert_eq!(
        lab.bird_protocol("anycastd4"),
        None,
        "anycastd4 is still there"
    );
    let dir = TempDir::new("bird-empty");
    let web = Web::start();
    let d = Anycastd::start(dir.path(), &config(&lab, dir.path(), &web));
    let learned = wait_from_c(&lab, &d, &BOTH, "start with a 0-byte include");
    assert!(
        d.log().contains("with no routes: bird.conf includes it"),
        "{}",
        report(&lab, &d.log())
    );
    println!(
        "bird: a 0-byte include → protocols written, B learned both in {}",
        secs(learned)
    );
}

/// A stop while BIRD is down: nothing can confirm the withdrawal, so the exit is 69 and the
/// crash record stays; but the include file no longer lists the prefixes, so the BIRD that
/// starts again announces none of them (B learns nothing from C).
#[test]
fn a_stop_with_bird_down_empties_the_include_file() {
    let Some(mut lab) = bird_lab() else {
        return;
    };
    let dir = TempDir::new("bird-stop-down");
    let web = Web::start();
    let mut d = Anycastd::start(dir.path(), &config(&lab, dir.path(), &web));
    wait_from_c(&lab, &d, &BOTH, "start");
    lab.stop_bird();
    wait_gone(&lab, &d, &BOTH, "BIRD stopped");
    let code = d.stop("TERM");
    assert_eq!(code, 69, "{}", report(&lab, &d.log()));
    assert!(
        include_is_empty_of_routes(&lab),
        "after the stop the include file is:\n{}",
        include(&lab)
    );
    assert!(
        dir.path().join("state.json").exists(),
        "the crash record went"
    );
    assert!(d.log().contains("Emptied "), "{}", report(&lab, &d.log()));
    lab.start_bird();
    // Once BIRD's sessions to B are back, what it announces has had its chance to arrive.
    let up = |proto: &str| {
        lab.bird_protocol(proto)
            .is_some_and(|s| s.contains("Established"))
    };
    assert!(
        wait_until(BIRD_RECOVERY, || up("b4") && up("b6")),
        "BIRD's sessions to B did not come back"
    );
    std::thread::sleep(SEC);
    for p in BOTH {
        assert_eq!(
            lab.b_route_from(p),
            None,
            "B learned {p} from the BIRD that started after the stop"
        );
    }
}
