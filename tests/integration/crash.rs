//! The crash record, against the real binary, the Cabourotte stand-in and the stand-in
//! vtysh: nothing the daemon may have announced is forgotten, whatever way it stops, and
//! one daemon at a time owns a state file.

use crate::cabourotte::{Api, Behavior, Cabourotte};
use crate::harness::{Anycastd, FakeFrr, TempDir, bin, wait_until};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);
const DNS: &str = "203.0.113.53/32";
const WEB: &str = "203.0.113.80/32";

fn config(cab: &Cabourotte, frr: &FakeFrr, with_web: bool) -> String {
    let (url, v) = (cab.url(), frr.path());
    let v = v.display();
    let mut text = format!(
        "[global]\nshutdown_timeout = \"2s\"\nreconcile_interval = \"1s\"\n[services.dns]\nprefixes.frrouting = [{{ prefix = \"{DNS}\", vtysh = \"{v}\" }}]\nchecks.cabourotte = [{{ name = \"dns\", url = \"{url}\", interval = \"200ms\" }}]\n"
    );
    if with_web {
        text += &format!(
            "[services.web]\nprefixes.frrouting = [{{ prefix = \"{WEB}\", vtysh = \"{v}\" }}]\nchecks.cabourotte = [{{ name = \"web\", url = \"{url}\", interval = \"200ms\" }}]\n"
        );
    }
    text
}

fn setup(tag: &str) -> (TempDir, Cabourotte, FakeFrr) {
    let dir = TempDir::new(tag);
    let cab = Cabourotte::start(Api::V2);
    cab.set("dns", Behavior::Success);
    cab.set("web", Behavior::Success);
    let frr = FakeFrr::new(dir.path(), &[(None, 65536)]);
    (dir, cab, frr)
}

fn anycastd(args: &[&str], config: &std::path::Path) -> Output {
    Command::new(bin())
        .args(args)
        .args(["--log-format", "json", "-c"])
        .arg(config)
        .output()
        .expect("run anycastd")
}

fn state(dir: &TempDir) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.path().join("state.json")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// A stop that FRR does not confirm keeps the crash record (marked), `status` says what to
/// do, and the next start withdraws what the operator removed from the configuration
/// meanwhile.
#[test]
fn an_unconfirmed_stop_keeps_the_crash_record_for_the_next_start() {
    let (dir, cab, frr) = setup("unconfirmed");
    let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, true));
    assert!(wait_until(10 * SEC, || frr.has(DNS) && frr.has(WEB)));
    frr.set_down(true);
    assert_eq!(d.stop("TERM"), 69);
    let s = state(&dir);
    assert_eq!(s["phase"], "stopped_unconfirmed", "{s}");
    assert!(s["unconfirmed"].to_string().contains(WEB), "{s}");
    let st = anycastd(&["status"], &d.config_path);
    let text = String::from_utf8_lossy(&st.stdout);
    assert_eq!(st.status.code(), Some(2), "{text}");
    assert!(text.contains("anycastd withdraw"), "{text}");

    // The operator drops `web`, FRR comes back, the daemon starts again.
    frr.set_down(false);
    let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, false));
    assert!(
        wait_until(10 * SEC, || !frr.has(WEB) && frr.has(DNS)),
        "the unconfirmed stop's {WEB} stayed announced: {:?}\n{}",
        frr.networks(),
        d.log()
    );
    assert_eq!(d.stop("TERM"), 0);
    assert!(
        !dir.path().join("state.json").exists(),
        "a clean stop removes it"
    );
}

/// A prefix a reload removed while FRR was failing stays in the crash record until it is
/// withdrawn: after a SIGKILL, `anycastd withdraw` still finds it.
#[test]
fn a_prefix_being_retired_is_in_the_crash_record() {
    let (dir, cab, frr) = setup("retiring");
    let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, true));
    assert!(wait_until(10 * SEC, || frr.has(DNS) && frr.has(WEB)));
    frr.set_down(true);
    std::fs::write(&d.config_path, {
        let c = config(&cab, &frr, false);
        let state = format!(
            "state_file = \"{}\"\n",
            dir.path().join("state.json").display()
        );
        c.replacen("[global]\n", &format!("[global]\n{state}"), 1)
    })
    .expect("write config");
    d.signal("HUP");
    assert!(
        wait_until(10 * SEC, || state(&dir)["retiring"]
            .to_string()
            .contains(WEB)),
        "the retiring prefix is not in the state file: {}",
        state(&dir)
    );
    d.signal("KILL");
    assert!(d.wait_exit(10 * SEC).is_some());
    frr.set_down(false);
    let out = anycastd(&["withdraw"], &d.config_path);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!frr.has(WEB), "withdraw did not see the retiring prefix");
    assert!(!frr.has(DNS));
    assert!(
        !dir.path().join("state.json").exists(),
        "withdraw settles the record of a stopped daemon"
    );
}

/// The crashed run's PID now belongs to another live anycastd (in a container both runs
/// are PID 1): recovery still happens, because the lock, not the PID, says who is alive.
#[test]
fn a_reused_pid_does_not_skip_crash_recovery() {
    let (dir, cab, frr) = setup("pidreuse");
    let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, true));
    assert!(wait_until(10 * SEC, || frr.has(DNS) && frr.has(WEB)));
    assert!(wait_until(5 * SEC, || state(&dir)["ready"] == true));
    d.signal("KILL");
    assert!(d.wait_exit(10 * SEC).is_some());
    // Another anycastd process (with its own state file and FRR) now has some PID: the
    // crash record is made to name it.
    let other = TempDir::new("pidreuse-other");
    let other_frr = FakeFrr::new(other.path(), &[(None, 65536)]);
    let mut live = Anycastd::start(other.path(), &config(&cab, &other_frr, false));
    assert!(wait_until(5 * SEC, || live
        .log()
        .contains("Starting service")));
    let path = dir.path().join("state.json");
    let mut s = state(&dir);
    s["pid"] = live.pid().into();
    std::fs::write(&path, s.to_string()).expect("write state");

    let mut d = Anycastd::start(dir.path(), &config(&cab, &frr, false));
    assert!(
        wait_until(10 * SEC, || !frr.has(WEB)),
        "recovery was skipped: {:?}\n{}",
        frr.networks(),
        d.log()
    );
    assert_eq!(d.stop("TERM"), 0);
    assert_eq!(live.stop("TERM"), 0);
}

/// One daemon per state file: a second one exits at once with 73 and a clear message, the
/// first keeps running and keeps its state file, and `status` and `withdraw` still work.
#[test]
fn a_second_daemon_on_the_same_state_file_exits_at_once() {
    let (dir, cab, frr) = setup("twice");
    let cfg = config(&cab, &frr, true);
    let mut first = Anycastd::start(dir.path(), &cfg);
    assert!(wait_until(10 * SEC, || frr.has(DNS) && frr.has(WEB)));
    let second_dir = TempDir::new("twice-second");
    let path = second_dir.path().join("config.toml");
    let state_line = format!(
        "state_file = \"{}\"\n",
        dir.path().join("state.json").display()
    );
    std::fs::write(
        &path,
        cfg.replacen("[global]\n", &format!("[global]\n{state_line}"), 1),
    )
    .expect("write config");
    let t = Instant::now();
    let out = anycastd(&["run"], &path);
    let log = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(73), "{log}");
    assert!(t.elapsed() < 5 * SEC);
    assert!(
        log.contains("another anycastd") && log.contains(&format!("pid {}", first.pid())),
        "{log}"
    );
    assert!(dir.path().join("state.json").exists());
    // The first daemon's state file follows its changes within the publish gap (250 ms):
    // the lines on FRR may be a moment ahead of it.
    let status_ok = || anycastd(&["status"], &first.config_path).status.code() == Some(0);
    assert!(wait_until(5 * SEC, status_ok), "{}", {
        let st = anycastd(&["status"], &first.config_path);
        String::from_utf8_lossy(&st.stdout).into_owned()
    });
    let w = anycastd(&["withdraw"], &first.config_path);
    assert_eq!(
        w.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&w.stdout)
    );
    assert!(
        dir.path().join("state.json").exists(),
        "withdraw never removes a running daemon's state file"
    );
    // The running daemon puts them back: it is the one in charge.
    assert!(wait_until(10 * SEC, || frr.has(DNS) && frr.has(WEB)));
    assert_eq!(first.stop("TERM"), 0);
}
