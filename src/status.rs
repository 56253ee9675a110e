//! `anycastd status`: the daemon's last snapshot, explained for a human at 3 a.m., or as
//! JSON for a machine, with an exit code a monitoring system can use.
//!
//! Exit codes follow the monitoring-plugin convention: 0 healthy and converged, 1 some
//! service unhealthy or undecided (FRR matches that), 2 FRR differs from what health says
//! or cannot be reached or a prefix is stuck behind the import check, 3 the daemon is
//! not running or its snapshot is missing or stale.

use crate::state::{Snapshot, Verdict};
use std::fmt::Write as _;
use std::path::Path;

/// The longest gap between two snapshots of a live daemon: its refresh period, or the
/// longest FRR retry back-off (10 s), three times over.
fn stale_after(s: &Snapshot) -> f64 {
    (3.0 * s.refresh_seconds).max(35.0)
}

/// Is the process that wrote the snapshot still an anycastd?
pub fn alive(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("anycastd"))
        .unwrap_or(false)
}

pub struct Report {
    pub verdict: Verdict,
    pub text: String,
}

fn ago(now: f64, t: f64) -> String {
    let s = (now - t).max(0.0);
    if s < 10.0 {
        format!("{s:.1} s ago")
    } else if s < 120.0 {
        format!("{s:.0} s ago")
    } else if s < 7200.0 {
        format!("{:.0} min ago", s / 60.0)
    } else {
        format!("{:.1} h ago", s / 3600.0)
    }
}

/// Judge and describe a snapshot read at `now` (Unix seconds); `running` says whether
/// its writer is alive.
pub fn report(snap: &Snapshot, now: f64, running: bool) -> Report {
    let mut out = String::new();
    let age = now - snap.written_unix;
    let (mut verdict, mut why) = snap.verdict();
    if !running && snap.phase == crate::state::Phase::StoppedUnconfirmed {
        // Not a mystery but a job: prefixes may be announced with nobody watching them.
        verdict = Verdict::Critical;
        why.insert(0, format!("the daemon (pid {}) has stopped", snap.pid));
    } else if !running {
        verdict = Verdict::Unknown;
        why.insert(0, format!("the daemon (pid {}) is not running", snap.pid));
    } else if age > stale_after(snap) {
        verdict = Verdict::Unknown;
        why.insert(
            0,
            format!("the state was last written {age:.0} s ago: the daemon looks stuck"),
        );
    }
    let _ = writeln!(
        out,
        "anycastd pid {}{}, started {}, state written {}{}",
        snap.pid,
        if running { "" } else { " (NOT RUNNING)" },
        snap.started_at,
        ago(now, snap.written_unix),
        if snap.dry_run { ", DRY RUN" } else { "" }
    );
    let _ = writeln!(out, "configuration {}", snap.config_path);
    let _ = writeln!(
        out,
        "{}: {}",
        match verdict {
            Verdict::Ok => "OK",
            Verdict::Warning => "WARNING",
            Verdict::Critical => "CRITICAL",
            Verdict::Unknown => "UNKNOWN",
        },
        crate::daemon::status_line(snap)
    );
    for w in &why {
        let _ = writeln!(out, "  - {w}");
    }
    for s in &snap.services {
        let _ = writeln!(
            out,
            "\nservice {:?}: {} since {} ({}), {} transition(s)",
            s.name,
            s.health,
            s.since,
            ago(now, s.since_unix),
            s.transitions
        );
        if let Some(d) = &s.drained {
            let _ = writeln!(
                out,
                "  DRAINED since {} ({}){}: its prefixes stay withdrawn until `anycastd undrain {}`; checks: {}",
                d.since,
                ago(now, d.since_unix),
                if d.reason.is_empty() {
                    String::new()
                } else {
                    format!(" by {:?}", d.reason)
                },
                s.name,
                s.health
            );
        }
        let _ = writeln!(out, "  reason: {}", s.reason);
        for c in &s.checks {
            let state = match c.passing {
                Some(true) => "passing",
                Some(false) => "FAILING",
                None => "no result yet",
            };
            let polled = c.last_poll_unix.map_or("never polled".to_string(), |t| {
                format!("polled {}", ago(now, t))
            });
            // Cabourotte checks read as they always did; the built-in kinds say theirs.
            let kind = match c.kind.as_str() {
                "cabourotte" | "" => String::new(),
                k => format!(" ({k})"),
            };
            let _ = writeln!(
                out,
                "  check {:?}{kind} {state}: {} ({polled}; {} good / {} bad in a row, rise {} fall {})",
                c.name, c.last_result, c.good_streak, c.bad_streak, s.rise, s.fall
            );
        }
        for p in &s.prefixes {
            let in_frr = match p.in_frr {
                Some(true) => "announced",
                Some(false) => "not announced",
                None => "unknown",
            };
            let adv = match (p.in_frr, p.advertised) {
                (Some(true), Some(true)) => ", advertised",
                (Some(true), Some(false)) => {
                    ", NOT ADVERTISED (import check: not in the routing table)"
                }
                _ => "",
            };
            let mut adv = adv.to_string();
            if let Some(rm) = &p.route_map {
                adv += &format!(", route-map {rm}");
            }
            if let Some(t) = p.draining_until_unix {
                adv += &format!(", DRAINING: withdrawn in {:.0} s", (t - now).max(0.0));
            }
            let _ = writeln!(
                out,
                "  prefix {} vrf {}: intended {}, {}: {in_frr}{adv}",
                p.prefix,
                p.vrf,
                p.intended,
                p.via.name()
            );
        }
    }
    for f in &snap.frr {
        let _ = writeln!(
            out,
            "\n{}: {}, last reconcile {}, {} {} call(s), {} failed, {} drift repair(s)",
            f.via.title(),
            match &f.error {
                None if f.ok => "ok".to_string(),
                None => "not read yet".to_string(),
                Some(e) => format!("FAILING ({e})"),
            },
            f.last_sync_unix
                .map_or("never".to_string(), |t| ago(now, t)),
            f.vtysh_calls,
            f.via.program(),
            f.vtysh_failures,
            f.drift_repairs
        );
    }
    Report { verdict, text: out }
}

/// Read the snapshot at `path` and report on it; `json` prints the snapshot itself with
/// the verdict added.
pub fn run(path: &Path, json: bool) -> u8 {
    let snap = match crate::state::read(path) {
        Ok(s) => s,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"verdict": "unknown", "reasons": [format!("no state at {}: {e}", path.display())]})
                );
            } else {
                println!(
                    "UNKNOWN: no state at {}: {e}\n  - is anycastd running? (its state_file setting decides where it writes)",
                    path.display()
                );
            }
            return Verdict::Unknown as u8;
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    // The lock tells for sure; without a lock file (an older daemon), the PID has to do.
    let running = crate::lock::held(path).unwrap_or_else(|| alive(snap.pid));
    let r = report(&snap, now, running);
    if json {
        let mut v = serde_json::to_value(&snap).unwrap_or_default();
        let (_, why) = snap.verdict();
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "verdict".into(),
                format!("{:?}", r.verdict).to_lowercase().into(),
            );
            obj.insert("reasons".into(), why.into());
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print!("{}", r.text);
    }
    r.verdict as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::*;

    fn snap() -> Snapshot {
        Snapshot {
            version: 1,
            pid: 42,
            written_unix: 1000.0,
            refresh_seconds: 5.0,
            services: vec![ServiceSnap {
                name: "ntp".into(),
                health: "unhealthy".into(),
                since_unix: 900.0,
                reason: "check ntp_v4: stale result (312 s old)".into(),
                rise: 1,
                fall: 1,
                checks: vec![CheckSnap {
                    name: "ntp_v4".into(),
                    passing: Some(false),
                    last_result: "stale result (312 s old)".into(),
                    last_poll_unix: Some(999.0),
                    bad_streak: 4,
                    ..Default::default()
                }],
                prefixes: vec![PrefixSnap {
                    prefix: "203.0.113.123/32".into(),
                    vrf: "default".into(),
                    intended: "withdraw".into(),
                    in_frr: Some(false),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            frr: vec![FrrSnap {
                via: crate::state::Via {
                    vtysh: "/usr/bin/vtysh".into(),
                    ..Default::default()
                },
                ok: true,
                last_sync_unix: Some(998.0),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_failing_service_is_a_warning_with_its_reason() {
        let r = report(&snap(), 1001.0, true);
        assert_eq!(r.verdict, Verdict::Warning);
        assert!(
            r.text
                .contains("WARNING: 1 services: 0 healthy, 0/1 prefixes announced"),
            "{}",
            r.text
        );
        assert!(
            r.text
                .contains("check \"ntp_v4\" FAILING: stale result (312 s old)"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains(
                "prefix 203.0.113.123/32 vrf default: intended withdraw, FRR: not announced"
            ),
            "{}",
            r.text
        );
    }

    #[test]
    fn not_running_or_stale_is_unknown() {
        assert_eq!(report(&snap(), 1001.0, false).verdict, Verdict::Unknown);
        assert_eq!(
            report(&snap(), 1000.0 + 36.0, true).verdict,
            Verdict::Unknown
        );
        assert_eq!(
            report(&snap(), 1000.0 + 30.0, true).verdict,
            Verdict::Warning
        );
    }

    #[test]
    fn missing_state_file_is_unknown() {
        assert_eq!(run(Path::new("/nonexistent/state.json"), false), 3);
    }
}
