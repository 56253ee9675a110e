//! `make bench`: our release build against the Python anycastd 0.1.12, side by side in one
//! run, on the same machine, one scenario after the other; one table at the end, all the
//! numbers in `target/bench/results.json`, and a plot of the scale scenario
//! (`target/bench/scale.svg`, `.png`). Figures, not assertions: nothing here judges a
//! timing, but a broken setup (our daemon does not start, the lab does not come up) fails.
//! The machine is shared and noisy: read medians and ratios, not absolutes.
//!
//!   cargo test --release --test integration bench::side_by_side -- --ignored --exact --nocapture
//!
//! The upstream daemon is installed into a venv of its own (`target/bench/venv`, kept and
//! reused), pinned with the versions of its dependencies below; when that fails, one loud
//! `bench: SKIPPED upstream: …` line, and our side still runs. It polls Cabourotte 1.x's
//! layout with a new connection per request, so it gets a stand-in speaking 1.x; ours gets
//! 2.x's (its first choice), and keeps its connection alive.
//!
//! Scenarios (in this order; `BENCH_ONLY=standin,footprint,scale,builtin,burst,stop,rib,routing` picks some,
//! and then writes `results-partial.json` instead):
//! - standin: what the Cabourotte stand-in serves alone, the way each daemon polls it (the
//!   daemons' polls/s mean something only well below that); its CPU is also shown in the
//!   scale scenario.
//! - footprint: 100 services x 1 healthy check at 1 s, stand-in vtysh: CPU, CPU per poll,
//!   VmHWM, threads, time from spawn to the first poll.
//! - scale: 1,000 / 2,000 / 5,000 failing checks at 1 s (`BENCH_SCALE=1000,2000` changes the
//!   list), stand-in vtysh: polls/s, the inter-poll gap per check as the stand-in saw it
//!   (over a window of `BENCH_WINDOW` s, default 20, after 5 s of warm-up), CPU, VmHWM, threads.
//! - burst: 1,000 services turning healthy at once against real FRR (the lab's router A):
//!   until all 1,000 `network` lines are on A, and the vtysh calls (a wrapper counts them).
//! - stop: 20 services x 50 prefixes on A (ours announces them; the upstream daemon cannot,
//!   so they are placed by hand), then SIGTERM: time to exit, exit code, vtysh calls, lines
//!   still on A.
//! - rib: from the poll that sees the change to the `network` line on A (and back), with A's
//!   BGP table empty and with 100,000 IPv6 routes learnt from B; and what reading FRR's state
//!   costs then, for each daemon's way of reading it.
//!
//! - builtin (ours only: the upstream daemon has no built-in checks): 200 `command` checks
//!   (`/bin/true`) and then 200 `http` checks (a GET of the stand-in) at 1 s, stand-in
//!   vtysh: CPU per check run, the command children's own CPU, VmHWM, threads.
//!
//! - routing (ours only: the upstream daemon speaks to FRR alone): one service flipping,
//!   announced through FRR (router A) and then through BIRD 2 (the lab's router C): poll
//!   to the route in the routing daemon and back, calls and CPU per change
//!   ([`routing`]).
//!
//! CPU is the daemon's own (utime + stime), not its vtysh children's. Both run at their
//! default log level, with JSON logs; those, and their configs, are kept in
//! `target/bench/logs/`.

mod routing;

use crate::cabourotte::{Api, Behavior, Cabourotte};
use crate::harness::{FakeFrr, TempDir, wait_until};
use crate::lab::{Lab, LabOptions, Router};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);

/// The upstream release compared against.
const UPSTREAM: &str = "anycastd==0.1.12";
const UPSTREAM_VERSION: &str = "anycastd 0.1.12";
/// Its dependencies as pip resolved them for it on Python 3.11 (2026-12), pinned so that
/// every run compares against the same code.
const UPSTREAM_CONSTRAINTS: &str = "\
annotated-doc==0.0.7
annotated-types==0.8.0
anyio==4.16.0
certifi==2026.10.19.post1
h11==0.16.0
httpcore==1.0.9
httpx==0.28.1
idna==3.20
markdown-it-py==4.3.0
mdurl==0.1.2
orjson==3.13.0
pydantic==2.14.4
pydantic_core==2.50.5
Pygments==2.21.0
rich==15.0.0
shellingham==1.5.4
structlog==26.1.0
typer==0.29.2
typing-inspection==0.4.5
typing_extensions==4.16.0
";

/// Router A's ASN in the lab, and the prefixes the lab scenarios announce.
const ASN_A: u32 = 65536;
const RIB_PREFIX: &str = "203.0.113.53/32";
const BURST: usize = 1000;
const RIB_ROUTES: usize = 100_000;

// ====================================================================== the two daemons

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Ours,
    Upstream,
}

const SIDES: [Side; 2] = [Side::Ours, Side::Upstream];

impl Side {
    fn key(self) -> &'static str {
        match self {
            Side::Ours => "ours",
            Side::Upstream => "upstream",
        }
    }

    /// The Cabourotte API each one polls.
    fn api(self) -> Api {
        match self {
            Side::Ours => Api::V2,
            Side::Upstream => Api::V1,
        }
    }
}

/// What the run shares: where results go, and the upstream daemon (or why not).
struct Ctx {
    out: PathBuf,
    upstream: Result<PathBuf, String>,
    ticks: f64,
}

impl Ctx {
    fn runs(&self, side: Side) -> bool {
        side == Side::Ours || self.upstream.is_ok()
    }
}

/// One service: a prefix, one check (polled every second).
struct Svc {
    name: String,
    prefix: String,
    check: String,
}

fn services(n: usize, tag: &str, prefix: impl Fn(usize) -> String) -> Vec<Svc> {
    (0..n)
        .map(|i| Svc {
            name: format!("{tag}{i}"),
            prefix: prefix(i),
            check: format!("{tag}{i}"),
        })
        .collect()
}

/// The same services for both; ours also gets its state file in `dir` (the upstream one
/// knows no `[global]` table).
fn config(side: Side, dir: &Path, svcs: &[Svc], vtysh: &Path, url: &str) -> String {
    let mut c = String::new();
    if side == Side::Ours {
        let _ = writeln!(
            c,
            "[global]\nstate_file = \"{}\"",
            dir.join("state.json").display()
        );
    }
    for s in svcs {
        let _ = writeln!(
            c,
            "[services.{}]\nprefixes.frrouting = [{{ prefix = \"{}\", vtysh = \"{}\" }}]\nchecks.cabourotte = [{{ name = \"{}\", url = \"{url}\", interval = 1 }}]",
            s.name,
            s.prefix,
            vtysh.display(),
            s.check
        );
    }
    c
}

/// A running daemon, either one; killed when dropped.
struct Proc {
    side: Side,
    child: Child,
    spawned: Instant,
    log: PathBuf,
    status: Option<ExitStatus>,
    ticks: f64,
    /// Where its log and config are kept after the run.
    keep: PathBuf,
    tag: String,
}

impl Proc {
    fn start(ctx: &Ctx, side: Side, dir: &Path, cfg: &str) -> Proc {
        let cfg_path = dir.join(format!("{}.toml", side.key()));
        std::fs::write(&cfg_path, cfg).expect("write config");
        let log = dir.join(format!("{}.log", side.key()));
        let out = std::fs::File::create(&log).expect("create log");
        let err = out.try_clone().expect("clone log");
        let mut cmd = match side {
            Side::Ours => Command::new(crate::harness::bin()),
            Side::Upstream => Command::new(ctx.upstream.as_ref().expect("upstream installed")),
        };
        // Both at their default log level (info), JSON.
        // A mark its children inherit: the vtysh processes it leaves behind are found by it.
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let tag = format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        cmd.env("ANYCASTD_BENCH_TAG", &tag)
            .args(["run", "-c"])
            .arg(&cfg_path)
            .args(["--log-format", "json"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let spawned = Instant::now();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn the {} daemon: {e}", side.key()));
        Proc {
            side,
            child,
            spawned,
            log,
            status: None,
            ticks: ctx.ticks,
            tag,
            keep: {
                // The scenario's name, from its temp dir's: anycastd-it-<tag>-<pid>-<n>.
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
                let tag = name
                    .as_deref()
                    .and_then(|n| n.split('-').nth(2))
                    .unwrap_or("run")
                    .to_string();
                ctx.out.join("logs").join(format!("{tag}-{}", side.key()))
            },
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn cpu(&self) -> f64 {
        cpu_seconds(&self.pid().to_string(), self.ticks)
    }

    fn status_field(&self, key: &str) -> Option<u64> {
        proc_status(&self.pid().to_string(), key)
    }

    /// The exit status, once it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.status = Some(st);
            }
        }
        self.status
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.exited() {
                return Some(st);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn term(&self) {
        let _ = Command::new("kill")
            .args(["-s", "TERM", &self.pid().to_string()])
            .status();
    }

    fn kill(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            if let Ok(st) = self.child.wait() {
                self.status = Some(st);
            }
        }
    }

    /// Error-level lines of its log (both log JSON with a "level"; a line that is not
    /// JSON, e.g. a traceback, counts too): how many, and the first one.
    fn log_errors(&self) -> (usize, Option<String>) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut first = None;
        let mut n = 0;
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(l).unwrap_or_default();
            let level = v["level"].as_str().unwrap_or("");
            if level.eq_ignore_ascii_case("error") || v.is_null() {
                n += 1;
                if first.is_none() {
                    let mut ev = v["event"].as_str().map_or(l.to_string(), String::from);
                    // The upstream daemon's traceback: its last line names the exception.
                    if let Some(last) = v["exception"].as_str().and_then(|e| e.lines().last()) {
                        ev = format!("{ev} ({})", last.trim());
                    }
                    first = Some(clip(&ev, 300).to_string());
                }
            }
        }
        (n, first)
    }

    /// [`Proc::log_errors`] into a result.
    fn note_errors(&self, into: &mut Map<String, Value>) {
        let (n, first) = self.log_errors();
        into.insert("log_errors".into(), json!(n));
        if let Some(f) = first {
            into.insert("first_log_error".into(), json!(f));
        }
    }

    /// Processes it started that still run (vtysh calls it left behind): they carry its
    /// `ANYCASTD_BENCH_TAG` in their environment.
    fn leftovers(&self) -> Vec<String> {
        let needle = format!("ANYCASTD_BENCH_TAG={}", self.tag);
        let me = self.pid().to_string();
        std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| {
                        let name = e.file_name();
                        let n = name.to_string_lossy();
                        n != me && n.bytes().all(|b| b.is_ascii_digit())
                    })
                    .filter(|e| {
                        std::fs::read(e.path().join("environ"))
                            .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == needle.as_bytes()))
                    })
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// SIGKILL to what [`Proc::leftovers`] finds.
    fn kill_leftovers(&self) {
        let pids = self.leftovers();
        if !pids.is_empty() {
            let _ = Command::new("kill")
                .args(["-s", "KILL"])
                .args(&pids)
                .stderr(Stdio::null())
                .status();
        }
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// It exited before it should have: loud, with its last words.
    fn died(&mut self, what: &str) -> Option<String> {
        let st = self.exited()?;
        let msg = format!("{} exited ({}) {what}", self.side.key(), describe(st));
        println!(
            "bench: !!! {msg}; its log ends with:\n{}",
            indent(&self.log_tail(8))
        );
        Some(msg)
    }
}

impl Drop for Proc {
    /// Killed if still running; its log and config kept in target/bench/logs/.
    fn drop(&mut self) {
        self.kill();
        self.kill_leftovers();
        if let Some(parent) = self.keep.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::copy(&self.log, self.keep.with_extension("log"));
        let cfg = self.log.with_extension("toml");
        let _ = std::fs::copy(cfg, self.keep.with_extension("toml"));
    }
}

fn describe(st: ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown status".into(),
    }
}

fn exit_value(st: ExitStatus) -> Value {
    match st.code() {
        Some(c) => json!(c),
        None => json!(describe(st)),
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {}", clip(l, 300)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn clip(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

// ====================================================================== /proc

/// utime + stime of a process ("self" for this one), in seconds.
fn cpu_seconds(pid: &str, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (get(11) + get(12)) / ticks
}

/// A number field of /proc/PID/status (`VmHWM` and `VmRSS` are in KiB).
fn proc_status(pid: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Busy CPU of the whole machine so far, in seconds (all cores; /proc/stat's first line,
/// less idle and iowait).
fn machine_busy(ticks: f64) -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = f.iter().take(8).sum();
    let idle = f.get(3).copied().unwrap_or(0.0) + f.get(4).copied().unwrap_or(0.0);
    (total - idle) / ticks
}

/// Wait (at most 3 s) for a quiet second on the machine, so that both daemons start from
/// the same footing when someone else's work comes and goes; what it saw, in % of one core.
fn settle(ticks: f64) -> f64 {
    let mut busy = 0.0;
    for _ in 0..3 {
        let b0 = machine_busy(ticks);
        std::thread::sleep(SEC);
        busy = 100.0 * (machine_busy(ticks) - b0);
        if busy < 25.0 {
            break;
        }
    }
    round(busy, 0)
}

/// CPU of a daemon, of this test process (the Cabourotte stand-in, mostly) and of the rest
/// of the machine over a window.
struct Window {
    t0: Instant,
    cpu0: f64,
    self0: f64,
    machine0: f64,
    polls0: u64,
    conns0: u64,
    threads: Vec<u64>,
    /// The daemon's CPU and VmHWM at the last sample while it ran (it may exit meanwhile).
    last: Option<(Instant, f64, Option<u64>)>,
}

impl Window {
    fn open(p: &Proc, cab: &Cabourotte, ticks: f64) -> Window {
        Window {
            t0: Instant::now(),
            cpu0: p.cpu(),
            self0: cpu_seconds("self", ticks),
            machine0: machine_busy(ticks),
            polls0: cab.requests(),
            conns0: cab.connections(),
            threads: p.status_field("Threads").into_iter().collect(),
            last: None,
        }
    }

    /// Take a sample, if it still runs.
    fn sample(&mut self, p: &mut Proc) -> bool {
        let (cpu, hwm, threads) = (p.cpu(), p.status_field("VmHWM"), p.status_field("Threads"));
        if p.exited().is_some() {
            return false;
        }
        self.threads.extend(threads);
        self.last = Some((Instant::now(), cpu, hwm));
        true
    }

    /// Sleep `secs`, sampling 10 times a second; false if it exited.
    fn run(&mut self, p: &mut Proc, secs: u64) -> bool {
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100));
            if !self.sample(p) {
                return false;
            }
        }
        true
    }

    /// cpu_pct, cpu_s, standin_cpu_pct, polls, polls_per_s, connections_per_s, wall_s,
    /// vmhwm_mib, threads (median and max of the samples).
    fn close(&mut self, p: &mut Proc, cab: &Cabourotte, ticks: f64, into: &mut Map<String, Value>) {
        // Up to the last sample while it ran: a process that exited has no CPU to read.
        self.sample(p);
        let Some((at, cpu1, hwm)) = self.last else {
            into.insert("window_s".into(), json!(0));
            return;
        };
        let wall = (at - self.t0).as_secs_f64().max(1e-3);
        let cpu = cpu1 - self.cpu0;
        let polls = cab.requests() - self.polls0;
        let me = cpu_seconds("self", ticks) - self.self0;
        let rest = machine_busy(ticks) - self.machine0 - cpu - me;
        into.insert("window_s".into(), json!(round(wall, 2)));
        // Other work on the machine meanwhile (our vtysh children too): noise to read by.
        into.insert(
            "rest_of_machine_cpu_pct".into(),
            json!(round(100.0 * rest.max(0.0) / wall, 1)),
        );
        into.insert("cpu_s".into(), json!(round(cpu, 3)));
        into.insert("cpu_pct".into(), json!(round(100.0 * cpu / wall, 2)));
        into.insert("polls".into(), json!(polls));
        into.insert("polls_per_s".into(), json!(round(polls as f64 / wall, 1)));
        if polls > 0 {
            into.insert(
                "cpu_per_poll_us".into(),
                json!(round(1e6 * cpu / polls as f64, 1)),
            );
        }
        into.insert("standin_cpu_pct".into(), json!(round(100.0 * me / wall, 1)));
        if let Some(h) = hwm {
            into.insert("vmhwm_mib".into(), json!(round(h as f64 / 1024.0, 1)));
        }
        into.insert(
            "connections_per_s".into(),
            json!(round((cab.connections() - self.conns0) as f64 / wall, 1)),
        );
        let mut t = self.threads.clone();
        t.sort();
        if let (Some(&max), false) = (t.last(), t.is_empty()) {
            into.insert("threads".into(), json!(t[t.len() / 2]));
            into.insert("threads_max".into(), json!(max));
            let multi = t.iter().filter(|&&x| x > t[0]).count();
            into.insert("threads_samples".into(), json!(t.len()));
            into.insert("threads_samples_above_min".into(), json!(multi));
        }
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0, 1)
}

/// The flips' figures: their count, the medians of the announce (`up`) and withdraw
/// (`down`) times in ms; returns how many changes there were.
fn flip_medians(r: &mut Map<String, Value>, up: Vec<f64>, down: Vec<f64>) -> f64 {
    let changes = (up.len() + down.len()) as f64;
    r.insert("flips".into(), json!(up.len()));
    if !up.is_empty() {
        r.insert("announce_ms".into(), json!(round(median(up), 1)));
    }
    if !down.is_empty() {
        r.insert("withdraw_ms".into(), json!(round(median(down), 1)));
    }
    changes
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ====================================================================== small tools

/// Run a command with its output in files (no pipe to fill), killed after `timeout`.
fn run_bounded(
    cmd: &mut Command,
    dir: &Path,
    timeout: Duration,
) -> Result<(String, String), String> {
    let (o, e) = (dir.join("cmd.out"), dir.join("cmd.err"));
    let out = std::fs::File::create(&o).map_err(|e| e.to_string())?;
    let err = std::fs::File::create(&e).map_err(|e| e.to_string())?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let mut status = None;
    wait_until(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    match status {
        Some(st) if st.success() => Ok((read(&o), read(&e))),
        Some(st) => Err(format!(
            "{cmd:?}: {}: {}",
            describe(st),
            clip(read(&e).trim(), 2000)
        )),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("{cmd:?}: no answer within {timeout:?}"))
        }
    }
}

/// The upstream daemon in its own venv: reused when it is there and answers its version,
/// else made anew with python3 (`BENCH_PYTHON`) from PyPI.
fn install_upstream(out: &Path) -> Result<PathBuf, String> {
    let venv = out.join("venv");
    let exe = venv.join("bin/anycastd");
    let version = |exe: &Path| {
        run_bounded(Command::new(exe).arg("--version"), out, 60 * SEC)
            .map(|(o, _)| o.trim().to_string())
    };
    if version(&exe).is_ok_and(|v| v == UPSTREAM_VERSION) {
        return Ok(exe);
    }
    let python = std::env::var("BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let (v, _) = run_bounded(
        Command::new(&python).args([
            "-c",
            "import sys; print('%d.%d' % sys.version_info[:2], sys.version_info >= (3, 11))",
        ]),
        out,
        60 * SEC,
    )?;
    if !v.trim().ends_with("True") {
        return Err(format!(
            "{UPSTREAM} needs Python 3.11 or newer, {python} is {}",
            v.split_whitespace().next().unwrap_or("?")
        ));
    }
    println!("bench: installing {UPSTREAM} into {}", venv.display());
    let _ = std::fs::remove_dir_all(&venv);
    run_bounded(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        out,
        120 * SEC,
    )?;
    let constraints = out.join("upstream-constraints.txt");
    std::fs::write(&constraints, UPSTREAM_CONSTRAINTS).map_err(|e| e.to_string())?;
    run_bounded(
        Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
                "-c",
            ])
            .arg(&constraints)
            .arg(UPSTREAM),
        out,
        600 * SEC,
    )?;
    match version(&exe) {
        Ok(v) if v == UPSTREAM_VERSION => Ok(exe),
        Ok(v) => Err(format!("installed, but it says it is {v:?}")),
        Err(e) => Err(format!("installed, but: {e}")),
    }
}

/// A vtysh that counts its calls (one line each in `calls`) and runs `real`.
struct Counting {
    path: PathBuf,
    calls: PathBuf,
}

impl Counting {
    fn new(dir: &Path, real: &Path) -> Counting {
        let calls = dir.join("vtysh-calls");
        let path = dir.join("vtysh-counting");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho x >>'{}'\nexec '{}' \"$@\"\n",
                calls.display(),
                real.display()
            ),
        )
        .expect("write counting vtysh");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Counting { path, calls }
    }

    fn count(&self) -> u64 {
        std::fs::read_to_string(&self.calls)
            .map(|s| s.lines().count() as u64)
            .unwrap_or(0)
    }
}

/// Inter-poll gaps per check, as the stand-in saw the requests: every gap that ends in the
/// window [w0, w1] (its start may lie before), and, for a check whose last poll is more than
/// 2 intervals before w1, that open gap too (a lower bound: the check is starved).
fn gap_stats(
    times: &HashMap<String, Vec<Instant>>,
    names: &[String],
    since: Instant,
    w0: Instant,
    w1: Instant,
    interval: f64,
    into: &mut Map<String, Value>,
) {
    let (mut gaps, mut open_gaps) = (Vec::new(), Vec::new());
    let mut unpolled = 0usize;
    for n in names {
        let mut t: Vec<Instant> = times
            .get(n)
            .map(|v| v.iter().copied().filter(|&x| x <= w1).collect())
            .unwrap_or_default();
        t.sort();
        if !t.iter().any(|&x| x >= w0) {
            unpolled += 1;
        }
        for p in t.windows(2) {
            if p[1] >= w0 {
                gaps.push((p[1] - p[0]).as_secs_f64());
            }
        }
        let last = t.last().copied().unwrap_or(since);
        let trailing = (w1 - last).as_secs_f64();
        if trailing > 2.0 * interval {
            gaps.push(trailing);
            open_gaps.push(trailing);
        }
    }
    gaps.sort_by(|a, b| a.total_cmp(b));
    open_gaps.sort_by(|a, b| a.total_cmp(b));
    into.insert("gap_samples".into(), json!(gaps.len()));
    into.insert("gap_open_samples".into(), json!(open_gaps.len()));
    into.insert("checks_unpolled_in_window".into(), json!(unpolled));
    for (k, p) in [
        ("gap_p50_s", 50.0),
        ("gap_p99_s", 99.0),
        ("gap_max_s", 100.0),
    ] {
        let v = percentile(&gaps, p);
        into.insert(k.into(), json!(round(v, 3)));
        // An open gap at or below the percentile could only be longer: then the percentile
        // is a lower bound.
        if open_gaps.first().is_some_and(|&o| o <= v) {
            into.insert(format!("{k}_lower_bound"), json!(true));
        }
    }
    let p99 = percentile(&gaps, 99.0);
    into.insert("lateness_p99_s".into(), json!(round(p99 - interval, 3)));
}

// ====================================================================== scenarios

/// Wait (bounded) for the first request at the stand-in; None if the daemon died or was
/// silent.
fn first_poll(p: &mut Proc, cab: &Cabourotte, timeout: Duration) -> Option<Duration> {
    let mut got = None;
    wait_until(timeout, || {
        got = cab.first_request();
        got.is_some() || p.exited().is_some()
    });
    got.map(|t| t.saturating_duration_since(p.spawned))
}

/// Our daemon must run; the upstream one is reported whatever it does.
fn no_start(p: &mut Proc, what: &str, r: &mut Map<String, Value>) {
    let msg = p
        .died(what)
        .unwrap_or_else(|| format!("{} sent no request {what}", p.side.key()));
    if p.side == Side::Ours {
        panic!(
            "bench: our daemon is broken here: {msg}\n{}",
            p.log_tail(30)
        );
    }
    println!("bench: !!! {msg}");
    r.insert("failed".into(), json!(msg));
}

/// What the Cabourotte stand-in serves when nothing else runs: clients in this process, for
/// 2 s, the way each daemon polls (ours: one kept-alive connection; upstream: a new
/// connection per request, several at once: two clients). The daemons' figures mean
/// something only well below these.
fn standin_capacity(side: Side) -> Value {
    use std::io::{BufRead, BufReader, Read, Write};
    let cab = Cabourotte::start(side.api());
    cab.set("x", Behavior::Failure("down".into()));
    let path = match side.api() {
        Api::V2 => "/api/v1/result/x",
        Api::V1 => "/result/x",
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let ticks = clock_ticks();
    let (t0, cpu0) = (Instant::now(), cpu_seconds("self", ticks));
    let client = || {
        let mut conn: Option<BufReader<std::net::TcpStream>> = None;
        let mut n = 0u64;
        while t0.elapsed() < 2 * SEC {
            let c = match conn.as_mut() {
                Some(c) => c,
                None => {
                    let s = std::net::TcpStream::connect(("127.0.0.1", cab.port))
                        .expect("connect to the stand-in");
                    let _ = s.set_nodelay(true);
                    conn.insert(BufReader::new(s))
                }
            };
            c.get_mut()
                .write_all(req.as_bytes())
                .expect("write request");
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if c.read_line(&mut h).expect("read head") == 0 {
                    panic!("the stand-in closed the connection");
                }
                if h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            c.read_exact(&mut body).expect("read body");
            n += 1;
            if side == Side::Upstream {
                conn = None;
            }
        }
        n
    };
    let clients = if side == Side::Upstream { 2 } else { 1 };
    let n: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..clients).map(|_| s.spawn(client)).collect();
        hs.into_iter().map(|h| h.join().expect("client")).sum()
    });
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self", ticks) - cpu0;
    assert_eq!(cab.requests(), n, "the stand-in counted other requests");
    json!({
        "clients": clients,
        "requests_per_s": round(n as f64 / wall, 0),
        "cpu_pct_client_and_standin": round(100.0 * cpu / wall, 1),
        "connections": cab.connections(),
    })
}

/// 100 services, one healthy check each at 1 s, stand-in vtysh. The upstream daemon can
/// crash on a busy machine (a vtysh call over its deadline of 1.5 s ends it, exit code 70;
/// it runs two per prefix at once when all turn healthy): that is noted, and it gets one
/// more try, where the checks turn healthy 10 at a time, a second apart (`"ramp": true`).
fn footprint(ctx: &Ctx, side: Side) -> Value {
    let mut v = footprint_once(ctx, side, false);
    if side == Side::Upstream {
        if let Some(f) = v["failed"].as_str().map(String::from) {
            println!(
                "bench: !!! upstream: {f}; once more, the checks turning healthy 10 at a time"
            );
            v = footprint_once(ctx, side, true);
            v["earlier_attempts"] = json!([f]);
        }
    }
    v
}

fn footprint_once(ctx: &Ctx, side: Side, ramp: bool) -> Value {
    let mut r = Map::new();
    let dir = TempDir::new("footprint");
    let cab = Cabourotte::start(side.api());
    let frr = FakeFrr::new(dir.path(), &[(None, ASN_A)]);
    let svcs = services(100, "s", |i| format!("10.{}.{}.0/24", i / 256, i % 256));
    for s in &svcs {
        let b = if ramp {
            Behavior::Failure("not yet".into())
        } else {
            Behavior::Success
        };
        cab.set(&s.check, b);
    }
    r.insert("ramp".into(), json!(ramp));
    r.insert(
        "turned_healthy".into(),
        json!(if ramp {
            "10/s (2nd try)"
        } else {
            "all at once"
        }),
    );
    let mut p = Proc::start(
        ctx,
        side,
        dir.path(),
        &config(side, dir.path(), &svcs, &frr.path(), &cab.url()),
    );
    let Some(first) = first_poll(&mut p, &cab, 30 * SEC) else {
        no_start(&mut p, "within 30 s of its start", &mut r);
        if side == Side::Upstream {
            panic!("bench: the upstream daemon does not start here (broken setup)");
        }
        return Value::Object(r);
    };
    r.insert("first_poll_ms".into(), json!(ms(first)));
    if ramp {
        for chunk in svcs.chunks(10) {
            for s in chunk {
                cab.set(&s.check, Behavior::Success);
            }
            std::thread::sleep(SEC);
        }
    }
    let all = || {
        let mut v: Vec<String> = frr.networks().into_iter().map(|(_, p)| p).collect();
        v.sort();
        v.dedup();
        v.len() >= svcs.len()
    };
    if wait_until(60 * SEC, || all() || p.exited().is_some()) && p.exited().is_none() {
        r.insert("all_announced_ms".into(), json!(ms(p.spawned.elapsed())));
    } else {
        no_start(&mut p, "before announcing all 100 prefixes (60 s)", &mut r);
        return Value::Object(r);
    }
    r.insert("startup_vtysh_calls".into(), json!(frr.calls().len()));
    std::thread::sleep(3 * SEC);
    let mut w = Window::open(&p, &cab, ctx.ticks);
    let alive = w.run(&mut p, 20);
    w.close(&mut p, &cab, ctx.ticks, &mut r);
    p.note_errors(&mut r);
    if !alive {
        no_start(&mut p, "during the measurement", &mut r);
    }
    p.term();
    if let Some(st) = p.wait_exit(20 * SEC) {
        r.insert("stop_exit".into(), exit_value(st));
    }
    if side == Side::Ours {
        let size = std::fs::metadata(crate::harness::bin()).map_or(0, |m| m.len());
        r.insert("binary_kib".into(), json!(round(size as f64 / 1024.0, 0)));
    }
    Value::Object(r)
}

/// The children's CPU a process has reaped so far (cutime + cstime), in seconds.
fn children_cpu_seconds(pid: &str, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (get(13) + get(14)) / ticks
}

const BUILTIN_CHECKS: usize = 200;

/// Ours only: 200 built-in checks of one kind at 1 s, all passing, stand-in vtysh.
fn builtin(ctx: &Ctx, kind: &str, window: u64) -> Value {
    let mut r = Map::new();
    let dir = TempDir::new(&format!("builtin{kind}"));
    let cab = Cabourotte::start(Api::V2);
    let frr = FakeFrr::new(dir.path(), &[(None, ASN_A)]);
    let mut cfg = format!(
        "[global]\nstate_file = \"{}\"\n",
        dir.path().join("state.json").display()
    );
    for i in 0..BUILTIN_CHECKS {
        cab.set(&format!("h{i}"), Behavior::Success);
        let check = match kind {
            "command" => format!(
                "checks.command = [{{ name = \"c{i}\", command = [\"/bin/true\"], interval = 1 }}]"
            ),
            _ => format!(
                "checks.http = [{{ name = \"h{i}\", url = \"{}/api/v1/result/h{i}\", interval = 1 }}]",
                cab.url()
            ),
        };
        let _ = writeln!(
            cfg,
            "[services.s{i}]\nprefixes.frrouting = [{{ prefix = \"10.{}.{}.0/24\", vtysh = \"{}\" }}]\n{check}",
            i / 256,
            i % 256,
            frr.path().display()
        );
    }
    let mut p = Proc::start(ctx, Side::Ours, dir.path(), &cfg);
    let all = || frr.networks().len() >= BUILTIN_CHECKS;
    if !(wait_until(60 * SEC, || all() || p.exited().is_some()) && p.exited().is_none()) {
        no_start(&mut p, "before announcing all 200 prefixes (60 s)", &mut r);
        return Value::Object(r);
    }
    std::thread::sleep(3 * SEC);
    let pid = p.pid().to_string();
    let children0 = children_cpu_seconds(&pid, ctx.ticks);
    let mut w = Window::open(&p, &cab, ctx.ticks);
    let alive = w.run(&mut p, window);
    let children = children_cpu_seconds(&pid, ctx.ticks) - children0;
    w.close(&mut p, &cab, ctx.ticks, &mut r);
    let wall = r["window_s"].as_f64().unwrap_or(0.0).max(1e-3);
    let cpu = r["cpu_s"].as_f64().unwrap_or(0.0);
    // A command check's runs are not seen by the stand-in: at 1 s, one per check a second
    // (the integration tests hold the schedule to that).
    let runs = match kind {
        "command" => BUILTIN_CHECKS as f64 * wall,
        _ => r["polls"].as_f64().unwrap_or(0.0),
    };
    r.insert("runs_per_s".into(), json!(round(runs / wall, 1)));
    if runs > 0.0 {
        r.insert("cpu_per_run_us".into(), json!(round(1e6 * cpu / runs, 1)));
        if kind == "command" {
            r.insert(
                "children_cpu_per_run_us".into(),
                json!(round(1e6 * children / runs, 1)),
            );
        }
    }
    p.note_errors(&mut r);
    if !alive {
        no_start(&mut p, "during the measurement", &mut r);
    }
    p.term();
    if let Some(st) = p.wait_exit(20 * SEC) {
        r.insert("stop_exit".into(), exit_value(st));
    }
    Value::Object(r)
}

fn builtin_table(results: &Value) -> String {
    let mut out = format!(
        "\nBuilt-in checks (ours only): {BUILTIN_CHECKS} checks at 1 s, all passing, stand-in vtysh\n\n| kind | runs/s | CPU (% of a core) | CPU per run | children's CPU per run | VmHWM | threads (max) |\n|---|---|---|---|---|---|---|\n"
    );
    for kind in ["command", "http"] {
        let r = &results["builtin"][kind]["ours"];
        if r.is_null() {
            continue;
        }
        let f = |k: &str, unit: &str| {
            r[k].as_f64()
                .map_or("–".to_string(), |v| format!("{v}{unit}"))
        };
        let _ = writeln!(
            out,
            "| {kind} | {} | {} | {} | {} | {} | {} |",
            f("runs_per_s", ""),
            f("cpu_pct", " %"),
            f("cpu_per_run_us", " µs"),
            f("children_cpu_per_run_us", " µs"),
            f("vmhwm_mib", " MiB"),
            f("threads_max", ""),
        );
    }
    out
}

/// `n` failing checks at 1 s (pure polling), stand-in vtysh.
fn scale(ctx: &Ctx, side: Side, n: usize, window: u64) -> Value {
    let mut r = Map::new();
    let dir = TempDir::new(&format!("scale{n}"));
    let cab = Cabourotte::start(side.api());
    let frr = FakeFrr::new(dir.path(), &[(None, ASN_A)]);
    let svcs = services(n, "c", |i| format!("10.{}.{}.0/24", i / 256, i % 256));
    for s in &svcs {
        cab.set(&s.check, Behavior::Failure("down".into()));
    }
    cab.record_times(true);
    let mut p = Proc::start(
        ctx,
        side,
        dir.path(),
        &config(side, dir.path(), &svcs, &frr.path(), &cab.url()),
    );
    let mut since_start = Window::open(&p, &cab, ctx.ticks);
    let Some(first) = first_poll(&mut p, &cab, 60 * SEC) else {
        // What it did meanwhile: the CPU and memory of getting ready.
        since_start.close(&mut p, &cab, ctx.ticks, &mut r);
        r.insert("first_poll_ms".into(), json!(ms(p.spawned.elapsed())));
        r.insert("first_poll_ms_lower_bound".into(), json!(true));
        no_start(&mut p, "within 60 s of its start", &mut r);
        return Value::Object(r);
    };
    r.insert("first_poll_ms".into(), json!(ms(first)));
    std::thread::sleep(5 * SEC);
    let mut w = Window::open(&p, &cab, ctx.ticks);
    let alive = w.run(&mut p, window);
    let w1 = Instant::now();
    w.close(&mut p, &cab, ctx.ticks, &mut r);
    p.note_errors(&mut r);
    if !alive {
        no_start(&mut p, "during the measurement", &mut r);
    }
    let names: Vec<String> = svcs.iter().map(|s| s.check.clone()).collect();
    gap_stats(&cab.times(), &names, p.spawned, w.t0, w1, 1.0, &mut r);
    // Not measured: a stop here would only withdraw nothing (ours) or run one vtysh per
    // prefix (upstream).
    p.kill();
    Value::Object(r)
}

/// The `network` lines of A whose prefix `keep` selects.
fn a_lines(lab: &Lab, keep: &dyn Fn(&str) -> bool) -> Vec<String> {
    lab.a_networks()
        .into_iter()
        .filter(|(v, p)| v.is_none() && keep(p))
        .map(|(_, p)| p)
        .collect()
}

/// Remove those lines from A by hand, in one vtysh call.
fn clear_a(lab: &Lab, keep: &dyn Fn(&str) -> bool) {
    let lines = a_lines(lab, keep);
    if lines.is_empty() {
        return;
    }
    let mut args: Vec<String> = ["configure terminal", &format!("router bgp {ASN_A}")]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push("address-family ipv4 unicast".into());
    args.extend(lines.iter().map(|p| format!("no network {p}")));
    let argv: Vec<&str> = args.iter().flat_map(|a| ["-c", a.as_str()]).collect();
    let _ = lab.vtysh(Router::A, &argv);
    assert!(
        a_lines(lab, keep).is_empty(),
        "could not clear router A's network lines"
    );
}

/// Add `network` lines for `prefixes` on A by hand, in one vtysh call.
fn place_a(lab: &Lab, prefixes: &[String]) {
    let mut args = vec![
        "configure terminal".to_string(),
        format!("router bgp {ASN_A}"),
        "address-family ipv4 unicast".to_string(),
    ];
    args.extend(prefixes.iter().map(|p| format!("network {p}")));
    let argv: Vec<&str> = args.iter().flat_map(|a| ["-c", a.as_str()]).collect();
    let out = lab.vtysh(Router::A, &argv);
    assert!(out.status.success(), "could not place lines on router A");
}

fn burst_prefix(i: usize) -> String {
    format!("198.18.{}.{}/32", i / 256, i % 256)
}

fn is_burst(p: &str) -> bool {
    p.starts_with("198.18.")
}

/// 1,000 services turning healthy at once on real FRR.
fn burst(ctx: &Ctx, lab: &Lab, side: Side) -> Value {
    let mut b = Map::new();
    let dir = TempDir::new("burst");
    let cab = Cabourotte::start(side.api());
    let vtysh = Counting::new(dir.path(), lab.vtysh_a());
    let svcs = services(BURST, "b", burst_prefix);
    for x in &svcs {
        cab.set(&x.check, Behavior::Failure("down".into()));
    }
    let mut p = Proc::start(
        ctx,
        side,
        dir.path(),
        &config(side, dir.path(), &svcs, &vtysh.path, &cab.url()),
    );
    if first_poll(&mut p, &cab, 60 * SEC).is_none() {
        no_start(&mut p, "within 60 s of its start", &mut b);
        return Value::Object(b);
    }
    // Steady state first: every check polled (and found failing) once.
    let t = Instant::now();
    let polled = wait_until(90 * SEC, || {
        p.exited().is_some() || svcs.iter().all(|x| cab.count(&x.check) > 0)
    });
    b.insert(
        "first_round_s".into(),
        json!(round(t.elapsed().as_secs_f64(), 1)),
    );
    if !polled {
        b.insert("first_round_s_lower_bound".into(), json!(true));
        println!(
            "bench: !!! {}: not every check polled within 90 s; flipping anyway",
            side.key()
        );
    }
    let (calls0, polls0) = (vtysh.count(), cab.requests());
    let t0 = Instant::now();
    for x in &svcs {
        cab.set(&x.check, Behavior::Success);
    }
    let mut on = 0;
    let done = wait_until(90 * SEC, || {
        on = a_lines(lab, &is_burst).len();
        on == BURST || p.exited().is_some()
    }) && on == BURST;
    let took = t0.elapsed();
    b.insert("lines_on_a".into(), json!(on));
    b.insert("all_lines_s".into(), json!(round(took.as_secs_f64(), 2)));
    if !done {
        b.insert("all_lines_s_lower_bound".into(), json!(true));
    }
    b.insert(
        "polls_per_s".into(),
        json!(round(
            (cab.requests() - polls0) as f64 / took.as_secs_f64(),
            1
        )),
    );
    // The calls of the announcements (a few more may still be on their way).
    std::thread::sleep(SEC);
    b.insert("vtysh_calls".into(), json!(vtysh.count() - calls0));
    if let Some(msg) = p.died("during the burst") {
        b.insert("failed".into(), json!(msg));
    }
    p.note_errors(&mut b);
    // Its stop is the next scenario's.
    p.kill();
    Value::Object(b)
}

/// Services and prefixes of the stop scenario: 1,000 prefixes in all.
const STOP_SERVICES: usize = 20;
const STOP_PREFIXES: usize = 50;

/// SIGTERM with 1,000 prefixes announced on real FRR: ours announces them itself; for the
/// upstream daemon they are placed by hand (see inside).
fn stop(ctx: &Ctx, lab: &Lab, side: Side) -> Value {
    let mut s = Map::new();
    let dir = TempDir::new("stop");
    let cab = Cabourotte::start(side.api());
    let vtysh = Counting::new(dir.path(), lab.vtysh_a());
    let mut cfg = String::new();
    if side == Side::Ours {
        let _ = writeln!(
            cfg,
            "[global]\nstate_file = \"{}\"",
            dir.path().join("state.json").display()
        );
    }
    for i in 0..STOP_SERVICES {
        let prefixes: Vec<String> = (0..STOP_PREFIXES)
            .map(|j| {
                format!(
                    "{{ prefix = \"{}\", vtysh = \"{}\" }}",
                    burst_prefix(i * STOP_PREFIXES + j),
                    vtysh.path.display()
                )
            })
            .collect();
        let _ = writeln!(
            cfg,
            "[services.s{i}]\nprefixes.frrouting = [{}]\nchecks.cabourotte = [{{ name = \"s{i}\", url = \"{}\", interval = 1 }}]",
            prefixes.join(", "),
            cab.url()
        );
        cab.set(&format!("s{i}"), Behavior::Failure("down".into()));
    }
    let total = STOP_SERVICES * STOP_PREFIXES;
    if side == Side::Upstream {
        // It cannot get there by itself (see the burst scenario, and its vtysh calls with a
        // deadline of 1.5 s, all at once, which FRR answers one after the other); its stop
        // withdraws every prefix of every service, announced by it or not, healthy or not.
        let all: Vec<String> = (0..total).map(burst_prefix).collect();
        place_a(lab, &all);
        s.insert(
            "setup".into(),
            json!("lines placed on A by hand, the checks failing: its stop withdraws every prefix of every service either way"),
        );
    }
    let mut p = Proc::start(ctx, side, dir.path(), &cfg);
    if first_poll(&mut p, &cab, 60 * SEC).is_none() {
        no_start(&mut p, "within 60 s of its start", &mut s);
        return Value::Object(s);
    }
    let (t0, calls0) = (Instant::now(), vtysh.count());
    if side == Side::Ours {
        for i in 0..STOP_SERVICES {
            cab.set(&format!("s{i}"), Behavior::Success);
        }
        wait_until(60 * SEC, || {
            p.exited().is_some() || a_lines(lab, &is_burst).len() >= total
        });
        s.insert(
            "announce_s".into(),
            json!(round(t0.elapsed().as_secs_f64(), 1)),
        );
        s.insert("announce_vtysh_calls".into(), json!(vtysh.count() - calls0));
    } else {
        // Every service's check polled once.
        wait_until(20 * SEC, || {
            p.exited().is_some() || (0..STOP_SERVICES).all(|i| cab.count(&format!("s{i}")) > 0)
        });
    }
    let before = a_lines(lab, &is_burst).len();
    s.insert("lines_before".into(), json!(before));
    if let Some(msg) = p.died("before the stop") {
        s.insert("failed".into(), json!(msg));
        p.note_errors(&mut s);
        return Value::Object(s);
    }
    if before < total {
        println!(
            "bench: !!! {}: only {before} of {total} prefixes on A before the stop",
            side.key()
        );
    }
    let calls0 = vtysh.count();
    let t0 = Instant::now();
    p.term();
    match p.wait_exit(60 * SEC) {
        Some(st) => {
            s.insert("exit_ms".into(), json!(ms(t0.elapsed())));
            s.insert("exit".into(), exit_value(st));
        }
        None => {
            p.kill();
            s.insert("exit_ms".into(), json!(ms(t0.elapsed())));
            s.insert("exit_ms_lower_bound".into(), json!(true));
            s.insert("exit".into(), json!("none in 60 s: SIGKILL"));
        }
    }
    // vtysh processes it left behind may still be finishing.
    std::thread::sleep(2 * SEC);
    s.insert("vtysh_calls".into(), json!(vtysh.count() - calls0));
    s.insert("lines_left".into(), json!(a_lines(lab, &is_burst).len()));
    s.insert("processes_left".into(), json!(p.leftovers().len()));
    p.kill_leftovers();
    p.note_errors(&mut s);
    Value::Object(s)
}

/// From the poll that sees the change to the `network` line on A (and back), `flips` times.
fn rib_flips(ctx: &Ctx, lab: &Lab, side: Side, flips: usize, table: &str) -> Value {
    let mut r = Map::new();
    let dir = TempDir::new(&format!("rib{table}"));
    let cab = Cabourotte::start(side.api());
    let vtysh = Counting::new(dir.path(), lab.vtysh_a());
    let svcs = vec![Svc {
        name: "rib".into(),
        prefix: RIB_PREFIX.into(),
        check: "rib".into(),
    }];
    cab.set("rib", Behavior::Failure("down".into()));
    cab.record_times(true);
    let mut p = Proc::start(
        ctx,
        side,
        dir.path(),
        &config(side, dir.path(), &svcs, &vtysh.path, &cab.url()),
    );
    if first_poll(&mut p, &cab, 30 * SEC).is_none() {
        no_start(&mut p, "within 30 s of its start", &mut r);
        return Value::Object(r);
    }
    std::thread::sleep(2 * SEC);
    let is_rib = |p: &str| p == RIB_PREFIX;
    let calls0 = vtysh.count();
    let (mut up, mut down) = (Vec::new(), Vec::new());
    // The first poll at or after `t`.
    let poll_after = |t: Instant| {
        cab.times()
            .get("rib")
            .and_then(|v| v.iter().copied().find(|&x| x >= t))
    };
    let mut failed = None;
    'flips: for _ in 0..flips {
        for (want, b, into) in [
            (true, Behavior::Success, &mut up),
            (false, Behavior::Failure("down".into()), &mut down),
        ] {
            let t = Instant::now();
            cab.set("rib", b);
            let ok = wait_until(20 * SEC, || {
                p.exited().is_some() || a_lines(lab, &is_rib).is_empty() != want
            });
            let seen = Instant::now();
            if let Some(msg) = p.died(if want { "announcing" } else { "withdrawing" }) {
                failed = Some(msg);
                break 'flips;
            }
            if !ok {
                failed = Some(format!(
                    "the line was not {} within 20 s",
                    if want { "added" } else { "removed" }
                ));
                println!(
                    "bench: !!! {}: {}",
                    side.key(),
                    failed.as_deref().unwrap_or("")
                );
                break 'flips;
            }
            if let Some(polled) = poll_after(t) {
                into.push(seen.saturating_duration_since(polled).as_secs_f64() * 1000.0);
            }
        }
    }
    let changes = flip_medians(&mut r, up, down);
    if changes > 0.0 {
        r.insert(
            "vtysh_calls_per_change".into(),
            json!(round((vtysh.count() - calls0) as f64 / changes, 1)),
        );
    }
    if let Some(f) = failed {
        r.insert("failed".into(), json!(f));
    }
    p.note_errors(&mut r);
    p.term();
    if p.wait_exit(20 * SEC).is_none() {
        p.kill();
    }
    std::thread::sleep(SEC);
    p.kill_leftovers();
    clear_a(lab, &is_rib);
    Value::Object(r)
}

/// Router B announces `n` IPv6 /64s to A; waits (bounded) until A has them all. IPv6: what
/// the upstream daemon reads before every change, `show bgp detail json`, is FRR's IPv6
/// unicast table (`show bgp` without an address family), whatever the prefix's family.
fn load_routes(lab: &Lab, n: usize) -> Map<String, Value> {
    let mut r = Map::new();
    let mut text = format!(
        "router bgp {}\nno bgp network import-check\naddress-family ipv6 unicast\n",
        lab.asn_b()
    );
    for i in 0..n {
        let _ = writeln!(
            text,
            "network 2001:db8:{:x}:{:x}::/64",
            0x1000 + i / 65536,
            i % 65536
        );
    }
    let file = lab.tmp_dir().join("routes.conf");
    std::fs::write(&file, text).expect("write route file");
    let t = Instant::now();
    let loaded = run_bounded(
        Command::new("vtysh")
            .args(["-N", lab.ps(Router::B), "-f"])
            .arg(&file),
        lab.tmp_dir(),
        180 * SEC,
    );
    if let Err(e) = loaded {
        panic!("bench: loading {n} routes on B: {e}");
    }
    let received = || {
        let out = lab.vtysh(Router::A, &["-c", "show bgp ipv6 unicast summary json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["peers"]
            .as_object()
            .map(|p| p.values().filter_map(|x| x["pfxRcd"].as_u64()).sum::<u64>())
            .unwrap_or(0)
    };
    assert!(
        wait_until(300 * SEC, || {
            std::thread::sleep(SEC);
            received() >= n as u64
        }),
        "bench: A did not receive the {n} routes within 300 s"
    );
    r.insert("routes".into(), json!(n));
    r.insert("load_s".into(), json!(round(t.elapsed().as_secs_f64(), 1)));
    r
}

/// What each daemon reads of FRR to change one line, with the big table on A: ours reads
/// bgpd's running config, the upstream one `show bgp detail json` (for the local ASN).
fn read_costs(lab: &Lab, into: &mut Map<String, Value>) {
    let dir = lab.tmp_dir();
    let timed = |args: &[&str], times: usize| {
        let mut v = Vec::new();
        let mut size = 0;
        for _ in 0..times {
            let t = Instant::now();
            let mut cmd = Command::new("vtysh");
            cmd.args(["-N", lab.ps(Router::A)]).args(args);
            match run_bounded(&mut cmd, dir, 120 * SEC) {
                Ok((o, _)) => size = o.len(),
                Err(e) => panic!("bench: {e}"),
            }
            v.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        (round(median(v), 1), size)
    };
    let (a, a_size) = timed(&["-d", "bgpd", "-c", "show running-config"], 15);
    let (b, b_size) = timed(&["-c", "show bgp detail json"], 3);
    let _ = std::fs::remove_file(dir.join("cmd.out"));
    into.insert(
        "ours".into(),
        json!({ "read_ms": a, "read_bytes": a_size, "command": "-d bgpd -c 'show running-config'" }),
    );
    into.insert(
        "upstream".into(),
        json!({ "read_ms": b, "read_bytes": b_size, "command": "-c 'show bgp detail json'" }),
    );
}

// ====================================================================== the report

/// One cell of the table: a number (maybe a lower bound) or a note.
enum Cell {
    Num(f64, usize, bool),
    Text(String),
    None,
}

impl Cell {
    fn of(v: &Value, lower: bool, digits: usize) -> Cell {
        match v {
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.is_finite() => Cell::Num(f, digits, lower),
                _ => Cell::None,
            },
            Value::String(s) => Cell::Text(s.clone()),
            _ => Cell::None,
        }
    }

    fn show(&self) -> String {
        match self {
            Cell::Num(v, d, lower) => format!("{}{v:.d$}", if *lower { ">= " } else { "" }, d = *d),
            Cell::Text(s) => clip(s, 34).to_string(),
            Cell::None => "-".into(),
        }
    }
}

/// upstream / ours, with the direction a lower bound allows.
fn ratio(ours: &Cell, up: &Cell) -> String {
    match (ours, up) {
        (Cell::Num(a, _, la), Cell::Num(b, _, lb)) if *a != 0.0 => {
            let r = b / a;
            let s = if r.abs() >= 100.0 {
                format!("{r:.0}x")
            } else if r.abs() >= 10.0 {
                format!("{r:.1}x")
            } else {
                format!("{r:.2}x")
            };
            match (la, lb) {
                (false, false) => s,
                (false, true) => format!(">= {s}"),
                (true, false) => format!("<= {s}"),
                (true, true) => "?".into(),
            }
        }
        _ => String::new(),
    }
}

/// A failure note short enough for a cell (results.json has it whole).
fn short_note(f: &str) -> String {
    if let Some(i) = f.find("(exit code ") {
        let code: String = f[i + 11..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        return format!("exit {code}");
    }
    if let Some(i) = f.find("(killed by signal ") {
        let sig: String = f[i + 18..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        return format!("signal {sig}");
    }
    if let Some(i) = f.find("sent no request within ") {
        let rest = &f[i + 23..];
        let secs: String = rest.chars().take_while(|c| *c != ' ').collect();
        return format!("no poll in {secs} s");
    }
    clip(f, 24).to_string()
}

struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    fn section(&mut self, title: &str) {
        self.rows.push([
            format!("-- {title}"),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }

    /// A row from `results[path...][side][key]`; `failed` notes of a side show when it has
    /// no number.
    fn row(&mut self, results: &Value, path: &[&str], key: &str, label: &str, digits: usize) {
        let mut node = results;
        for p in path {
            node = &node[*p];
        }
        let cell = |side: &str| {
            let v = &node[side][key];
            let lower = node[side][format!("{key}_lower_bound")].as_bool() == Some(true);
            match Cell::of(v, lower, digits) {
                Cell::None => match node[side]["failed"].as_str() {
                    Some(f) => Cell::Text(format!("n/a ({})", short_note(f))),
                    None => Cell::None,
                },
                c => c,
            }
        };
        let (a, b) = (cell("ours"), cell("upstream"));
        if matches!((&a, &b), (Cell::None, Cell::None)) {
            return;
        }
        let r = ratio(&a, &b);
        self.rows.push([label.to_string(), a.show(), b.show(), r]);
    }

    /// A row of what went wrong, when something did (results.json has it whole).
    fn failures(&mut self, results: &Value, path: &[&str]) {
        let mut node = results;
        for p in path {
            node = &node[*p];
        }
        let cell = |side: &str| {
            node[side]["failed"]
                .as_str()
                .map_or(String::new(), short_note)
        };
        let (a, b) = (cell("ours"), cell("upstream"));
        if !a.is_empty() || !b.is_empty() {
            self.rows
                .push(["what went wrong".into(), a, b, String::new()]);
        }
    }

    /// The thread count: median / max of the samples.
    fn threads(&mut self, results: &Value, path: &[&str]) {
        let mut node = results;
        for p in path {
            node = &node[*p];
        }
        let cell = |side: &str| match (
            node[side]["threads"].as_u64(),
            node[side]["threads_max"].as_u64(),
        ) {
            (Some(m), Some(x)) if m == x => format!("{m}"),
            (Some(m), Some(x)) => format!("{m} (max {x})"),
            _ => "-".into(),
        };
        let (a, b) = (cell("ours"), cell("upstream"));
        if a != "-" || b != "-" {
            self.rows
                .push(["threads (median of samples)".into(), a, b, String::new()]);
        }
    }

    /// A Markdown table (readable as it is, and ready to paste): sections without rows
    /// are left out.
    fn print(&self) -> String {
        let head = [
            "metric".to_string(),
            "ours".to_string(),
            "upstream 0.1.12".to_string(),
            "ratio up/ours".to_string(),
        ];
        let is_section = |r: &[String; 4]| r[0].starts_with("-- ");
        let rows: Vec<&[String; 4]> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(i, r)| !is_section(r) || self.rows.get(i + 1).is_some_and(|n| !is_section(n)))
            .map(|(_, r)| r)
            .collect();
        let shown = |r: &[String; 4]| -> [String; 4] {
            if is_section(r) {
                [
                    format!("**{}**", &r[0][3..]),
                    String::new(),
                    String::new(),
                    String::new(),
                ]
            } else {
                r.clone()
            }
        };
        let mut w = [0usize; 4];
        for r in std::iter::once(&head).chain(rows.iter().copied()) {
            for (i, c) in shown(r).iter().enumerate() {
                if !is_section(r) || i > 0 {
                    w[i] = w[i].max(c.chars().count());
                }
            }
        }
        let line = |r: &[String; 4]| {
            let c = shown(r);
            format!(
                "| {:<a$} | {:>b$} | {:>c$} | {:>d$} |\n",
                c[0],
                c[1],
                c[2],
                c[3],
                a = w[0],
                b = w[1],
                c = w[2],
                d = w[3]
            )
        };
        let mut s = line(&head);
        s += &format!(
            "|{}|{}:|{}:|{}:|\n",
            "-".repeat(w[0] + 2),
            "-".repeat(w[1] + 1),
            "-".repeat(w[2] + 1),
            "-".repeat(w[3] + 1)
        );
        for r in rows {
            s += &line(r);
        }
        s
    }
}

fn table(results: &Value, sizes: &[usize]) -> String {
    let mut t = Table { rows: Vec::new() };
    let c = ["standin"];
    t.section("the Cabourotte stand-in alone, polled the way each daemon polls (2 s)");
    t.row(
        results,
        &c,
        "requests_per_s",
        "requests/s it serves (ours: keep-alive, upstream: a connection each)",
        0,
    );
    let f = ["footprint"];
    t.section("footprint: 100 services x 1 healthy check at 1 s, stand-in vtysh");
    t.row(
        results,
        &f,
        "turned_healthy",
        "the checks turned healthy",
        0,
    );
    t.row(results, &f, "first_poll_ms", "spawn -> first poll (ms)", 0);
    t.row(
        results,
        &f,
        "all_announced_ms",
        "spawn -> all 100 announced (ms)",
        0,
    );
    t.row(results, &f, "cpu_pct", "CPU (% of one core)", 2);
    t.row(results, &f, "polls_per_s", "polls/s", 1);
    t.row(results, &f, "cpu_per_poll_us", "CPU per poll (us)", 0);
    t.row(results, &f, "vmhwm_mib", "VmHWM (MiB)", 1);
    t.threads(results, &f);
    t.row(results, &f, "connections_per_s", "new TCP connections/s", 1);
    t.row(
        results,
        &f,
        "rest_of_machine_cpu_pct",
        "rest of the machine's CPU (% of one core)",
        0,
    );
    for n in sizes {
        let k = n.to_string();
        let p = ["scale", k.as_str()];
        t.section(&format!(
            "scale: {n} failing checks at 1 s (target {n} polls/s)"
        ));
        t.failures(results, &p);
        t.row(results, &p, "first_poll_ms", "spawn -> first poll (ms)", 0);
        t.row(results, &p, "polls_per_s", "polls/s", 1);
        t.row(results, &p, "gap_p50_s", "inter-poll gap p50 (s)", 2);
        t.row(results, &p, "gap_p99_s", "inter-poll gap p99 (s)", 2);
        t.row(results, &p, "gap_max_s", "inter-poll gap max (s)", 2);
        t.row(
            results,
            &p,
            "checks_unpolled_in_window",
            "checks not polled in the window",
            0,
        );
        t.row(results, &p, "cpu_pct", "CPU (% of one core)", 1);
        t.row(results, &p, "cpu_per_poll_us", "CPU per poll (us)", 0);
        t.row(results, &p, "vmhwm_mib", "VmHWM (MiB)", 1);
        t.threads(results, &p);
        t.row(results, &p, "connections_per_s", "new TCP connections/s", 1);
        t.row(
            results,
            &p,
            "standin_cpu_pct",
            "stand-in's CPU (% of one core)",
            1,
        );
        t.row(
            results,
            &p,
            "rest_of_machine_cpu_pct",
            "rest of the machine's CPU (% of one core)",
            0,
        );
    }
    let b = ["burst"];
    t.section("burst: 1,000 services turn healthy at once, real FRR (router A)");
    t.failures(results, &b);
    t.row(
        results,
        &b,
        "all_lines_s",
        "flip -> all 1,000 lines on A (s)",
        2,
    );
    t.row(results, &b, "lines_on_a", "lines on A at the end", 0);
    t.row(results, &b, "vtysh_calls", "vtysh calls", 0);
    t.row(results, &b, "polls_per_s", "polls/s meanwhile", 1);
    let s = ["stop"];
    t.section("stop: SIGTERM with 1,000 prefixes announced (20 services x 50), real FRR");
    t.failures(results, &s);
    t.row(results, &s, "lines_before", "lines on A before", 0);
    t.row(results, &s, "exit_ms", "SIGTERM -> exit (ms)", 0);
    t.row(results, &s, "exit", "exit code", 0);
    t.row(results, &s, "vtysh_calls", "vtysh calls", 0);
    t.row(results, &s, "lines_left", "lines left on A", 0);
    let routes = RIB_ROUTES.to_string();
    for (k, label) in [
        ("empty", "A's table empty"),
        (routes.as_str(), "A holds 100k routes"),
    ] {
        let p = ["rib", k];
        t.section(&format!("rib: one check flips, real FRR, {label} (median)"));
        t.failures(results, &p);
        t.row(results, &p, "announce_ms", "poll -> line on A (ms)", 0);
        t.row(
            results,
            &p,
            "withdraw_ms",
            "poll -> line gone from A (ms)",
            0,
        );
        t.row(
            results,
            &p,
            "vtysh_calls_per_change",
            "vtysh calls per change",
            1,
        );
    }
    let p = ["rib", "read"];
    t.section("rib: reading FRR's state with 100k routes on A (median)");
    t.row(
        results,
        &p,
        "read_ms",
        "ours: running config / upstream: detail json (ms)",
        0,
    );
    t.row(results, &p, "read_bytes", "bytes read", 0);
    t.print()
}

fn plot(ctx: &Ctx, results: &Value, sizes: &[usize]) -> Result<Vec<PathBuf>, String> {
    let mut dat = String::from(
        "# checks, then per daemon (ours, upstream): CPU %, p99 lateness (s), or a lower bound of it\n",
    );
    for n in sizes {
        let r = &results["scale"][n.to_string()];
        let cpu = |side: &str| r[side]["cpu_pct"].as_f64().unwrap_or(f64::NAN);
        // (exact, lower bound): one of them NaN. No poll at all: it has been late for as
        // long as it has been waiting for its first.
        let late = |side: &str| {
            let x = &r[side];
            let floor = |v: f64| v.max(0.001);
            match x["lateness_p99_s"].as_f64() {
                Some(l) if x["gap_p99_s_lower_bound"].as_bool() == Some(true) => {
                    (f64::NAN, floor(l))
                }
                Some(l) => (floor(l), f64::NAN),
                None if x["first_poll_ms_lower_bound"].as_bool() == Some(true) => (
                    f64::NAN,
                    floor(x["first_poll_ms"].as_f64().unwrap_or(0.0) / 1000.0 - 1.0),
                ),
                None => (f64::NAN, f64::NAN),
            }
        };
        let (ol, olb) = late("ours");
        let (ul, ulb) = late("upstream");
        let _ = writeln!(
            dat,
            "{n} {} {ol} {olb} {} {ul} {ulb}",
            cpu("ours"),
            cpu("upstream")
        );
    }
    let data = ctx.out.join("scale.dat");
    std::fs::write(&data, dat).map_err(|e| e.to_string())?;
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/data/bench-scale.gp");
    let mut made = Vec::new();
    for term in ["svg", "png"] {
        let out = ctx.out.join(format!("scale.{term}"));
        run_bounded(
            Command::new("gnuplot")
                .arg("-e")
                .arg(format!(
                    "data='{}'; out='{}'; term='{term}'",
                    data.display(),
                    out.display()
                ))
                .arg(&script),
            &ctx.out,
            60 * SEC,
        )?;
        made.push(out);
    }
    Ok(made)
}

fn put(results: &mut Value, path: &[&str], side: Side, v: Value) {
    let mut node = results;
    for p in path {
        node = &mut node[*p];
    }
    node[side.key()] = v;
}

fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let target = if target.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(target)
    } else {
        target
    };
    target.join("bench")
}

fn wanted(what: &str) -> bool {
    match std::env::var("BENCH_ONLY") {
        Ok(list) if !list.trim().is_empty() => list.split(',').any(|x| x.trim() == what),
        _ => true,
    }
}

/// Both daemons, every scenario, one table.
#[test]
#[ignore = "benchmark: make bench"]
fn side_by_side() {
    let started = Instant::now();
    let out = out_dir();
    std::fs::create_dir_all(&out).expect("mkdir target/bench");
    let upstream = install_upstream(&out);
    match &upstream {
        Ok(exe) => println!("bench: upstream: {UPSTREAM_VERSION} ({})", exe.display()),
        Err(e) => println!(
            "bench: SKIPPED upstream: {UPSTREAM} could not be installed ({}); ours only",
            clip(e, 400).replace('\n', " ")
        ),
    }
    let ctx = Ctx {
        out,
        upstream,
        ticks: clock_ticks(),
    };
    let sizes: Vec<usize> = std::env::var("BENCH_SCALE")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1000, 2000, 5000]);
    let window: u64 = std::env::var("BENCH_WINDOW")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut results = json!({
        "machine": { "cores": std::thread::available_parallelism().map_or(0, |n| n.get()) },
        "ours": { "binary": crate::harness::bin() },
        "upstream": match &ctx.upstream {
            Ok(exe) => json!({ "version": UPSTREAM_VERSION, "exe": exe }),
            Err(e) => json!({ "skipped": e }),
        },
    });
    // Before each step: a quiet moment (or 5 s), and how busy the machine was.
    let mut settled = Map::new();
    let ticks = ctx.ticks;
    let mut step = |what: &str, side: &str| {
        let busy = settle(ticks);
        println!(
            "bench: [{:>4.0} s] {what}: {side} (the machine was {busy:.0}% of a core busy)",
            started.elapsed().as_secs_f64(),
        );
        settled.insert(format!("{what}: {side}"), json!(busy));
    };
    let runs = |side: Side| ctx.runs(side);

    if wanted("standin") {
        for side in SIDES {
            step("stand-in capacity", side.key());
            put(&mut results, &["standin"], side, standin_capacity(side));
        }
    }
    if wanted("footprint") {
        for side in SIDES.into_iter().filter(|&s| runs(s)) {
            step("footprint", side.key());
            put(&mut results, &["footprint"], side, footprint(&ctx, side));
        }
    }
    if wanted("scale") {
        for &n in &sizes {
            for side in SIDES.into_iter().filter(|&s| runs(s)) {
                step(&format!("scale {n}"), side.key());
                put(
                    &mut results,
                    &["scale", &n.to_string()],
                    side,
                    scale(&ctx, side, n, window),
                );
            }
        }
    }
    if wanted("builtin") {
        for kind in ["command", "http"] {
            step(&format!("builtin {kind}"), "ours");
            put(
                &mut results,
                &["builtin", kind],
                Side::Ours,
                builtin(&ctx, kind, window),
            );
        }
    }
    let lab_scenarios = wanted("burst") || wanted("stop") || wanted("rib") || wanted("routing");
    let lab = if lab_scenarios {
        Lab::start(LabOptions {
            vrf: false,
            bird: wanted("routing"),
        })
    } else {
        None
    };
    if lab_scenarios && lab.is_none() {
        println!(
            "bench: SKIPPED burst, stop, rib, routing: no FRR lab on this machine (see above)"
        );
    }
    if let Some(lab) = &lab {
        if wanted("burst") {
            for side in SIDES.into_iter().filter(|&s| runs(s)) {
                step("burst", side.key());
                put(&mut results, &["burst"], side, burst(&ctx, lab, side));
                clear_a(lab, &is_burst);
            }
        }
        if wanted("stop") {
            for side in SIDES.into_iter().filter(|&s| runs(s)) {
                step("stop", side.key());
                put(&mut results, &["stop"], side, stop(&ctx, lab, side));
                clear_a(lab, &is_burst);
            }
        }
        if wanted("rib") {
            for side in SIDES.into_iter().filter(|&s| runs(s)) {
                step("rib, empty table", side.key());
                put(
                    &mut results,
                    &["rib", "empty"],
                    side,
                    rib_flips(&ctx, lab, side, 5, "empty"),
                );
            }
            step("rib", "loading routes on B");
            let load = load_routes(lab, RIB_ROUTES);
            println!("bench: {load:?}");
            let mut reads = Map::new();
            read_costs(lab, &mut reads);
            for side in SIDES {
                put(
                    &mut results,
                    &["rib", "read"],
                    side,
                    reads[side.key()].clone(),
                );
            }
            let key = RIB_ROUTES.to_string();
            for side in SIDES.into_iter().filter(|&s| runs(s)) {
                step("rib, 100k routes", side.key());
                put(
                    &mut results,
                    &["rib", &key],
                    side,
                    rib_flips(&ctx, lab, side, 5, "100k"),
                );
            }
            results["rib"]["load"] = Value::Object(load);
        }
        if wanted("routing") {
            for daemon in ["frr", "bird"] {
                step(&format!("routing {daemon}"), "ours");
                results["routing"][daemon] = routing::routing(&ctx, lab, daemon, 10);
            }
        }
    }
    drop(lab);

    results["machine"]["busy_pct_before_each_step"] = Value::Object(settled);
    results["wall_s"] = json!(round(started.elapsed().as_secs_f64(), 0));
    // A run of some scenarios only (BENCH_ONLY) leaves the full run's results alone.
    let partial = std::env::var("BENCH_ONLY").is_ok_and(|v| !v.trim().is_empty());
    let json_path = ctx.out.join(if partial {
        "results-partial.json"
    } else {
        "results.json"
    });
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&results).unwrap_or_default() + "\n",
    )
    .expect("write results.json");
    let plotted = if !wanted("scale") {
        String::from("no scale scenario, no plot")
    } else if Command::new("gnuplot").arg("--version").output().is_err() {
        String::from("!!! NO PLOT: gnuplot is not installed (apt-get install gnuplot-nox)")
    } else {
        match plot(&ctx, &results, &sizes) {
            Ok(files) => format!(
                "plot: {}",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => format!("!!! NO PLOT: gnuplot failed: {e}"),
        }
    };
    println!(
        "\nbench: ours ({}) against {UPSTREAM_VERSION}, in {:.0} s; all numbers in {}; {plotted}\n",
        crate::harness::bin(),
        started.elapsed().as_secs_f64(),
        json_path.display()
    );
    if let Err(e) = &ctx.upstream {
        println!(
            "bench: SKIPPED upstream: {}",
            clip(e, 400).replace('\n', " ")
        );
    }
    let busy: Vec<f64> = results["machine"]["busy_pct_before_each_step"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let busy = median(busy);
    if busy > 50.0 {
        println!(
            "bench: !!! the machine was busy with other work (median {busy:.0}% of one core before the steps, of {}): the figures are noisy",
            100 * results["machine"]["cores"].as_u64().unwrap_or(0)
        );
    }
    print!("{}", table(&results, &sizes));
    if wanted("builtin") {
        print!("{}", builtin_table(&results));
    }
    if wanted("routing") {
        print!("{}", routing::routing_table(&results));
    }
}
