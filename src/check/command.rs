//! `command` checks: a program the daemon runs itself; exit status 0 passes.
//!
//! The loop never waits on one. [`Runner::start`] spawns the process (in its own process
//! group, stdin `/dev/null`, a minimal environment, working directory `/`, stdout and
//! stderr into one non-blocking pipe) and returns; the loop then sleeps on the pipe
//! ([`Runner::fds`]), on SIGCHLD (through the signal self-pipe) and on the earliest
//! deadline ([`Runner::deadline`]), and [`Runner::finished`] collects what ended:
//!
//! - output is read as it comes, the first 64 KiB kept and the rest discarded, so that a
//!   flooding command neither blocks on a full pipe nor grows the daemon;
//! - an exit is noticed without reaping (`waitid` with `WNOWAIT`), what is left of the
//!   process group is killed while the leader's PID still names it, then it is reaped;
//! - at the deadline the whole group is killed and the check fails with "timed out";
//!   the leader is reaped when it has died.
//!
//! At most `max_running_checks` run at once; the others wait their turn in order, and a
//! check still running (or waiting) is not started again.

use super::{Check, Failure, Finished, Outcome, Probe};
use crate::config::CHECK_PATH;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Output kept per run; the rest is read and dropped.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// Read at most this much of one command's output per look, so that a fast writer on
/// another core cannot hold the loop (poll wakes it again for the rest).
const READ_PER_LOOK: usize = 1024 * 1024;
/// At stop, how long killed commands are given to die so that they are reaped.
const STOP_REAP: Duration = Duration::from_millis(200);

/// One process to run: the command of a check, or a hook.
#[derive(Debug, Clone, PartialEq)]
pub struct Job<K> {
    /// What its result is for.
    pub key: K,
    /// How logs name it.
    pub name: String,
    pub argv: Vec<String>,
    /// Its environment besides the fixed `PATH`.
    pub env: Vec<(&'static str, String)>,
    pub timeout: Duration,
}

impl Job<Check> {
    /// The job of a command check: `ANYCASTD_SERVICE` and `ANYCASTD_CHECK` set.
    pub fn for_check(check: &Check) -> Job<Check> {
        let (argv, service) = match &check.probe {
            Probe::Command { argv, service } => (argv.clone(), service.clone()),
            _ => (Vec::new(), String::new()),
        };
        Job {
            key: check.clone(),
            name: format!("command check \"{}\"", check.name),
            argv,
            env: vec![
                ("ANYCASTD_SERVICE", service),
                ("ANYCASTD_CHECK", check.name.clone()),
            ],
            timeout: check.timeout,
        }
    }
}

/// A job that ended: its outcome, and how long it ran.
#[derive(Debug)]
pub struct Done<K> {
    pub key: K,
    pub outcome: Outcome,
    pub took: Duration,
}

struct Running<K> {
    job: Job<K>,
    child: Child,
    pid: Option<Pid>,
    /// The read end of the output pipe; `None` once it reached end of file.
    out: Option<File>,
    captured: Vec<u8>,
    started: Instant,
    deadline: Instant,
    /// Timed out: its group was killed and the failure reported; waiting to reap it.
    killed: bool,
}

pub struct Runner<K = Check> {
    max_running: usize,
    running: Vec<Running<K>>,
    waiting: VecDeque<Job<K>>,
}

impl Runner<Check> {
    /// Start command check `check` (see [`Runner::start_job`]).
    pub fn start(&mut self, check: &Check, now: Instant) -> Option<Outcome> {
        self.start_job(Job::for_check(check), now)
    }

    /// The checks that ended since the last call.
    pub fn finished(&mut self, now: Instant) -> Vec<Finished> {
        self.finished_jobs(now)
            .into_iter()
            .map(|d| Finished {
                check: d.key,
                outcome: d.outcome,
                took: d.took,
            })
            .collect()
    }

    /// Forget waiting checks that are no longer configured (running ones end on their own
    /// and their result is dropped).
    pub fn configure(&mut self, checks: &[Check], max_running: u32) {
        let wanted: std::collections::HashSet<&Check> = checks.iter().collect();
        self.waiting.retain(|j| wanted.contains(&j.key));
        self.max_running = usize::try_from(max_running.max(1)).unwrap_or(64);
    }
}

impl<K: Clone + PartialEq> Runner<K> {
    pub fn new(max_running: u32) -> Runner<K> {
        Runner {
            max_running: usize::try_from(max_running.max(1)).unwrap_or(64),
            running: Vec::new(),
            waiting: VecDeque::new(),
        }
    }

    /// Start `job`, or queue it when enough run already. `Some` only when it could not
    /// be started at all (its failure is the result). One whose key runs (or waits)
    /// already is not started again.
    pub fn start_job(&mut self, job: Job<K>, now: Instant) -> Option<Outcome> {
        if self.running.iter().any(|r| r.job.key == job.key)
            || self.waiting.iter().any(|w| w.key == job.key)
        {
            log::debug!("The {} is still running: not started again.", job.name);
            return None;
        }
        if self.running.len() >= self.max_running {
            self.waiting.push_back(job);
            return None;
        }
        match spawn(job, now) {
            Ok(r) => {
                self.running.push(r);
                None
            }
            Err(f) => Some(Err(f)),
        }
    }

    /// What ended since the last call.
    pub fn finished_jobs(&mut self, now: Instant) -> Vec<Done<K>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.running.len() {
            let r = &mut self.running[i];
            drain(r);
            if exited(r) {
                // Read what it wrote last, then clear what it left behind in its group
                // while its (unreaped) PID still names the group.
                drain(r);
                kill_group(r);
                let status = r.child.try_wait();
                let r = self.running.swap_remove(i);
                if r.killed {
                    continue;
                }
                let took = now.saturating_duration_since(r.started);
                let outcome = match status {
                    Ok(Some(s)) if s.success() => Ok(()),
                    Ok(Some(s)) => {
                        let line = first_line(&r.captured);
                        match (s.code(), s.signal()) {
                            (Some(code), _) => Err(Failure::Exit(code, line)),
                            (None, Some(sig)) => Err(Failure::Killed(sig, line)),
                            (None, None) => Err(Failure::Exit(-1, line)),
                        }
                    }
                    Ok(None) | Err(_) => Err(Failure::Spawn(format!(
                        "{}: its exit status was lost",
                        r.job.argv.first().map_or("", String::as_str)
                    ))),
                };
                out.push(Done {
                    key: r.job.key,
                    outcome,
                    took,
                });
                continue;
            }
            if !r.killed && now >= r.deadline {
                kill_group(r);
                r.killed = true;
                r.out = None;
                log::debug!(
                    "The {} ran past its timeout: killed its process group.",
                    r.job.name
                );
                out.push(Done {
                    key: r.job.key.clone(),
                    outcome: Err(Failure::TimedOut(r.job.timeout)),
                    took: now.saturating_duration_since(r.started),
                });
            }
            i += 1;
        }
        while self.running.len() < self.max_running {
            let Some(job) = self.waiting.pop_front() else {
                break;
            };
            let key = job.key.clone();
            match spawn(job, now) {
                Ok(r) => self.running.push(r),
                Err(f) => out.push(Done {
                    key,
                    outcome: Err(f),
                    took: Duration::ZERO,
                }),
            }
        }
        out
    }

    /// The earliest deadline of a running command. (One killed already is reaped when
    /// its SIGCHLD wakes the loop.)
    pub fn deadline(&self) -> Option<Instant> {
        self.running
            .iter()
            .filter(|r| !r.killed)
            .map(|r| r.deadline)
            .min()
    }

    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.running
            .iter()
            .filter_map(|r| r.out.as_ref().map(|f| f.as_fd()))
            .collect()
    }

    /// Kill every running command's group and reap the leaders, waiting at most a
    /// moment for them to die (a process stuck in the kernel is left to init).
    pub fn stop(&mut self) {
        self.waiting.clear();
        for r in &self.running {
            kill_group(r);
        }
        let end = Instant::now() + STOP_REAP;
        while !self.running.is_empty() && Instant::now() < end {
            self.running
                .retain_mut(|r| !matches!(r.child.try_wait(), Ok(Some(_)) | Err(_)));
            if !self.running.is_empty() {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        self.running.clear();
    }

    /// How many run now (for tests).
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// How many run or wait their turn.
    pub fn pending(&self) -> usize {
        self.running.len() + self.waiting.len()
    }
}

fn spawn<K>(job: Job<K>, now: Instant) -> Result<Running<K>, Failure> {
    let program = job.argv.first().map_or("", String::as_str);
    let cannot = |e: std::io::Error| Failure::Spawn(format!("cannot run {program}: {e}"));
    if program.is_empty() {
        return Err(cannot(std::io::Error::from(ErrorKind::InvalidInput)));
    }
    let (read, write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| cannot(e.into()))?;
    rustix::io::ioctl_fionbio(&read, true).map_err(|e| cannot(e.into()))?;
    let err_end = write.try_clone().map_err(cannot)?;
    let mut cmd = Command::new(program);
    cmd.args(&job.argv[1..]).env_clear().env("PATH", CHECK_PATH);
    for (k, v) in &job.env {
        cmd.env(k, v);
    }
    let child = cmd
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::from(err_end))
        .process_group(0)
        .spawn()
        .map_err(cannot)?;
    log::debug!(
        "Started the {}: {} (pid {}).",
        job.name,
        job.argv.join(" "),
        child.id()
    );
    Ok(Running {
        pid: i32::try_from(child.id()).ok().and_then(Pid::from_raw),
        child,
        out: Some(File::from(read)),
        captured: Vec::new(),
        started: now,
        deadline: now + job.timeout,
        killed: false,
        job,
    })
}

/// Read what the pipe holds now; keep the first [`MAX_OUTPUT`] bytes.
fn drain<K>(r: &mut Running<K>) {
    let Some(f) = r.out.as_mut() else { return };
    let mut buf = [0u8; 8192];
    let mut read = 0;
    while read < READ_PER_LOOK {
        match f.read(&mut buf) {
            Ok(0) => {
                r.out = None;
                return;
            }
            Ok(n) => {
                read += n;
                let room = MAX_OUTPUT.saturating_sub(r.captured.len());
                r.captured.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(_) => {
                r.out = None;
                return;
            }
        }
    }
}

/// The leader has ended (left unreaped, so that its PID keeps naming the group).
fn exited<K>(r: &Running<K>) -> bool {
    let Some(pid) = r.pid else { return true };
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    match rustix::process::waitid(WaitId::Pid(pid), options) {
        Ok(status) => status.is_some(),
        // ECHILD: already reaped (cannot happen here), or not ours: nothing to wait for.
        Err(_) => true,
    }
}

fn kill_group<K>(r: &Running<K>) {
    if let Some(pid) = r.pid {
        // ESRCH: the group is empty already.
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    }
}

/// The first non-empty line of the output, trimmed and at most 200 bytes.
fn first_line(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut end = line.len().min(200);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, argv: &[&str], timeout_ms: u64) -> Check {
        Check {
            name: name.into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_millis(timeout_ms),
            probe: Probe::Command {
                argv: argv.iter().map(|s| s.to_string()).collect(),
                service: "svc".into(),
            },
        }
    }

    /// Drive the runner as the loop does until `n` results came or `limit` passed.
    fn collect(r: &mut Runner, n: usize, limit: Duration) -> Vec<Finished> {
        let end = Instant::now() + limit;
        let mut out = Vec::new();
        while out.len() < n && Instant::now() < end {
            out.extend(r.finished(Instant::now()));
            std::thread::sleep(Duration::from_millis(5));
        }
        out
    }

    #[test]
    fn exit_status_output_and_environment() {
        let mut r = Runner::new(4);
        let t = Instant::now();
        fn sh(script: &str) -> Vec<&str> {
            vec!["/bin/sh", "-c", script]
        }
        assert_eq!(r.start(&check("ok", &["/bin/true"], 2000), t), None);
        let env = "[ \"$ANYCASTD_SERVICE/$ANYCASTD_CHECK\" = svc/env ] && [ -z \"$HOME\" ] && [ \"$(pwd)\" = / ] && ! read x";
        assert_eq!(r.start(&check("env", &sh(env), 2000), t), None);
        assert_eq!(
            r.start(
                &check(
                    "fail",
                    &sh("echo; echo '  ;; connection timed out ' >&2; exit 3"),
                    2000
                ),
                t
            ),
            None
        );
        let mut got = collect(&mut r, 3, Duration::from_secs(5));
        got.sort_by(|a, b| a.check.name.cmp(&b.check.name));
        let names: Vec<_> = got
            .iter()
            .map(|f| (f.check.name.as_str(), f.outcome.clone()))
            .collect();
        assert_eq!(
            names,
            [
                ("env", Ok(())),
                (
                    "fail",
                    Err(Failure::Exit(3, ";; connection timed out".into()))
                ),
                ("ok", Ok(())),
            ]
        );
        assert_eq!(r.running(), 0);
    }

    #[test]
    fn a_hung_command_is_killed_with_its_group_and_reaped() {
        let mut r = Runner::new(4);
        let t = Instant::now();
        let c = check("hang", &["/bin/sh", "-c", "sleep 30 & sleep 30"], 200);
        assert_eq!(r.start(&c, t), None);
        // Not started twice while it runs.
        assert_eq!(r.start(&c, t), None);
        assert_eq!(r.running(), 1);
        let pgid = r.running[0].child.id();
        let got = collect(&mut r, 1, Duration::from_secs(5));
        assert_eq!(
            got[0].outcome,
            Err(Failure::TimedOut(Duration::from_millis(200)))
        );
        // The group is gone and the leader reaped.
        let end = Instant::now() + Duration::from_secs(5);
        while r.running() > 0 && Instant::now() < end {
            assert!(r.finished(Instant::now()).is_empty());
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(r.running(), 0);
        // The orphaned `sleep` was killed too: its group is empty once whoever adopted
        // it has reaped it.
        let gone = || {
            std::fs::read_dir("/proc").unwrap().flatten().all(|e| {
                let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                let fields: Vec<&str> = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                // After the name: state, ppid, pgrp.
                !(fields.get(2) == Some(&pgid.to_string().as_str()) && fields.first() != Some(&"Z"))
            })
        };
        let end = Instant::now() + Duration::from_secs(5);
        while !gone() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone(), "a process of the group survived its kill");
    }

    #[test]
    fn a_flood_is_bounded_and_does_not_block_the_command() {
        let mut r = Runner::new(1);
        let c = check(
            "flood",
            &[
                "/bin/sh",
                "-c",
                "head -c 5000000 /dev/zero | tr '\\0' x; exit 1",
            ],
            5000,
        );
        r.start(&c, Instant::now());
        let got = collect(&mut r, 1, Duration::from_secs(8));
        match &got[0].outcome {
            Err(Failure::Exit(1, line)) => assert_eq!(line.len(), 200),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn at_most_max_running_at_once_in_order_and_missing_programs_fail() {
        let mut r = Runner::new(2);
        let t = Instant::now();
        for n in 0..5 {
            let c = check(&format!("c{n}"), &["/bin/sh", "-c", "sleep 0.1"], 3000);
            assert_eq!(r.start(&c, t), None);
        }
        assert_eq!(r.running(), 2);
        let got = collect(&mut r, 5, Duration::from_secs(5));
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|f| f.outcome.is_ok()));
        let gone = check("gone", &["/nonexistent/check"], 1000);
        match r.start(&gone, Instant::now()) {
            Some(Err(Failure::Spawn(m))) => {
                assert!(m.starts_with("cannot run /nonexistent/check: "), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stop_kills_and_reaps_what_runs() {
        let mut r = Runner::new(8);
        let t = Instant::now();
        for n in 0..4 {
            let c = check(&format!("s{n}"), &["/bin/sh", "-c", "sleep 30"], 5000);
            assert_eq!(r.start(&c, t), None);
        }
        let pids: Vec<u32> = r.running.iter().map(|x| x.child.id()).collect();
        r.stop();
        assert_eq!(r.running(), 0);
        // Reaped by us, the parent: no /proc entry left, not even a zombie.
        for pid in pids {
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "{pid} was not reaped"
            );
        }
    }

    #[test]
    fn first_line_is_trimmed_and_bounded() {
        assert_eq!(first_line(b"\n\n  hello world \nmore"), "hello world");
        assert_eq!(first_line("é".repeat(300).as_bytes()).len(), 200);
        assert_eq!(first_line(b""), "");
    }
}
