//! The routing scenario (ours only: the upstream daemon speaks to FRR alone): one service
//! flipping between passing and failing, announced through FRR (the lab's router A) and
//! through BIRD (the lab's router C, in the same run): from the poll that sees the change
//! to the routing daemon having it (A's `network` line; the route in C's `show route
//! protocol anycastd4`), and back; the calls per change (a wrapper counts vtysh or birdc);
//! and the CPU per change: the daemon's own and its children's, over the flips, less what
//! the same time costs while nothing changes.

use super::*;

/// The route the scenario flips, announced through one daemon at a time.
const PREFIX: &str = "203.0.113.54/32";

fn config(dir: &Path, daemon: &str, via: &Path, lab: &Lab, url: &str) -> String {
    let prefixes = match daemon {
        "bird" => format!(
            "prefixes.bird = [{{ prefix = \"{PREFIX}\", birdc = \"{}\", socket = \"{}\", file = \"{}\" }}]",
            via.display(),
            lab.bird_socket().display(),
            lab.bird_file().display()
        ),
        _ => format!(
            "prefixes.frrouting = [{{ prefix = \"{PREFIX}\", vtysh = \"{}\" }}]",
            via.display()
        ),
    };
    format!(
        "[global]\nstate_file = \"{}\"\ndrain_file = \"{}\"\n[services.flip]\n{prefixes}\nchecks.cabourotte = [{{ name = \"flip\", url = \"{url}\", interval = 1 }}]\n",
        dir.join("state.json").display(),
        dir.join("drains.json").display(),
    )
}

/// The daemon's own CPU time in seconds, at the scheduler's nanoseconds
/// (`/proc/PID/schedstat`; the daemon is one thread): clock ticks (10 ms) are too coarse
/// for a few milliseconds per change.
fn cpu_ns(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

/// Whether the routing daemon has the route now.
fn has(lab: &Lab, daemon: &str) -> bool {
    match daemon {
        "bird" => lab
            .birdc_text(&["show", "route", "protocol", "anycastd4"])
            .lines()
            .any(|l| l.starts_with(PREFIX)),
        _ => !a_lines(lab, &|p| p == PREFIX).is_empty(),
    }
}

pub(super) fn routing(ctx: &Ctx, lab: &Lab, daemon: &str, flips: usize) -> Value {
    let mut r = Map::new();
    let dir = TempDir::new(&format!("routing{daemon}"));
    let cab = Cabourotte::start(Side::Ours.api());
    let real = match daemon {
        "bird" => PathBuf::from("/usr/sbin/birdc"),
        _ => lab.vtysh_a().to_path_buf(),
    };
    let counting = Counting::new(dir.path(), &real);
    cab.set("flip", Behavior::Failure("down".into()));
    cab.record_times(true);
    let mut p = Proc::start(
        ctx,
        Side::Ours,
        dir.path(),
        &config(dir.path(), daemon, &counting.path, lab, &cab.url()),
    );
    if first_poll(&mut p, &cab, 30 * SEC).is_none() {
        no_start(&mut p, "within 30 s of its start", &mut r);
        return Value::Object(r);
    }
    std::thread::sleep(2 * SEC);
    let pid = p.pid().to_string();
    // What the same time costs with nothing changing: polls and reconciles.
    let (idle_cpu0, idle_kids0, idle_t0) = (
        cpu_ns(&pid),
        children_cpu_seconds(&pid, ctx.ticks),
        Instant::now(),
    );
    std::thread::sleep(5 * SEC);
    let idle_wall = idle_t0.elapsed().as_secs_f64();
    let idle_rate = (cpu_ns(&pid) - idle_cpu0) / idle_wall;
    let idle_kids_rate = (children_cpu_seconds(&pid, ctx.ticks) - idle_kids0) / idle_wall;
    let (cpu0, kids0, calls0, t0) = (
        cpu_ns(&pid),
        children_cpu_seconds(&pid, ctx.ticks),
        counting.count(),
        Instant::now(),
    );
    let poll_after = |t: Instant| {
        cab.times()
            .get("flip")
            .and_then(|v| v.iter().copied().find(|&x| x >= t))
    };
    let (mut up, mut down) = (Vec::new(), Vec::new());
    let mut failed = None;
    'flips: for _ in 0..flips {
        for (want, b, into) in [
            (true, Behavior::Success, &mut up),
            (false, Behavior::Failure("down".into()), &mut down),
        ] {
            let t = Instant::now();
            cab.set("flip", b);
            let ok = wait_until(20 * SEC, || {
                p.exited().is_some() || has(lab, daemon) == want
            });
            let seen = Instant::now();
            if let Some(msg) = p.died(if want { "announcing" } else { "withdrawing" }) {
                failed = Some(msg);
                break 'flips;
            }
            if !ok {
                failed = Some(format!(
                    "{daemon}: the route was not {} within 20 s",
                    if want { "added" } else { "removed" }
                ));
                println!("bench: !!! {}", failed.as_deref().unwrap_or(""));
                break 'flips;
            }
            if let Some(polled) = poll_after(t) {
                into.push(seen.saturating_duration_since(polled).as_secs_f64() * 1000.0);
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_ns(&pid) - cpu0 - idle_rate * wall;
    let kids = children_cpu_seconds(&pid, ctx.ticks) - kids0 - idle_kids_rate * wall;
    let changes = flip_medians(&mut r, up, down);
    if changes > 0.0 {
        r.insert(
            "calls_per_change".into(),
            json!(round((counting.count() - calls0) as f64 / changes, 1)),
        );
        r.insert(
            "cpu_per_change_ms".into(),
            json!(round(1000.0 * cpu.max(0.0) / changes, 2)),
        );
        r.insert(
            "children_cpu_per_change_ms".into(),
            json!(round(1000.0 * kids.max(0.0) / changes, 2)),
        );
    }
    if let Some(f) = failed {
        r.insert("failed".into(), json!(f));
    }
    p.note_errors(&mut r);
    p.term();
    if let Some(st) = p.wait_exit(20 * SEC) {
        r.insert("stop_exit".into(), exit_value(st));
    }
    p.kill_leftovers();
    Value::Object(r)
}

/// The scenario's rows: FRR and BIRD side by side.
pub(super) fn routing_table(results: &Value) -> String {
    let mut t = String::from(
        "\nrouting (ours; one service flipping, poll → the routing daemon has it, medians):\n",
    );
    let _ = writeln!(
        t,
        "  {:<6} {:>12} {:>12} {:>15} {:>16} {:>18}",
        "daemon",
        "announce ms",
        "withdraw ms",
        "calls/change",
        "CPU/change ms",
        "children/change ms"
    );
    for daemon in ["frr", "bird"] {
        let v = &results["routing"][daemon];
        if v.is_null() {
            continue;
        }
        let cell = |k: &str| v.get(k).map_or("-".to_string(), |x| x.to_string());
        let _ = writeln!(
            t,
            "  {:<6} {:>12} {:>12} {:>15} {:>16} {:>18}{}",
            daemon,
            cell("announce_ms"),
            cell("withdraw_ms"),
            cell("calls_per_change"),
            cell("cpu_per_change_ms"),
            cell("children_cpu_per_change_ms"),
            v.get("failed")
                .and_then(Value::as_str)
                .map_or(String::new(), |f| format!("  FAILED: {f}"))
        );
    }
    t
}
