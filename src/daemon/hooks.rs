//! `global.hook`: an operator's program (argv, no shell) run after each confirmed
//! announce or withdraw, and on drain and undrain, with what happened in its environment
//! (`ANYCASTD_EVENT`, `ANYCASTD_SERVICE`, `ANYCASTD_PREFIX`, `ANYCASTD_VRF`,
//! `ANYCASTD_REASON`). It runs through the command checks' runner: spawned and reaped
//! from the loop, never waited on, killed with its process group at [`HOOK_TIMEOUT`]. Its
//! failure is logged once until it succeeds again, never retried, and never changes
//! what is announced. A dry run runs no hook.

use super::*;
use crate::check::command::Job;

/// How long one hook may run before it is killed.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// At exit, how long the hooks of the last withdrawals are given to run.
const HOOK_GRACE: Duration = Duration::from_secs(2);
/// Hooks waiting their turn beyond this are dropped (logged once): a hook that cannot
/// keep up must not grow the daemon.
const MAX_PENDING_HOOKS: usize = 4096;

/// What a hook is told happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HookEvent {
    Announce,
    Withdraw,
    Drain,
    Undrain,
}

impl HookEvent {
    fn name(self) -> &'static str {
        match self {
            HookEvent::Announce => "announce",
            HookEvent::Withdraw => "withdraw",
            HookEvent::Drain => "drain",
            HookEvent::Undrain => "undrain",
        }
    }
}

impl Daemon<'_> {
    /// Start the hook for one event of one prefix (`services`: the names that list it).
    pub(super) fn run_hook(
        &mut self,
        event: HookEvent,
        services: &str,
        key: &(Vrf, IpNetwork),
        reason: &str,
    ) {
        let Some(argv) = self.config.global.hook.clone() else {
            return;
        };
        if self.dry_run {
            return;
        }
        if self.prober.hooks_pending() >= MAX_PENDING_HOOKS {
            if !self.hook_failing {
                log::error!(
                    hook = argv.first().map_or("", String::as_str);
                    "Too many hooks are waiting ({MAX_PENDING_HOOKS}): dropping this one; routing is not affected."
                );
            }
            self.hook_failing = true;
            return;
        }
        self.hooks_started += 1;
        let job = Job {
            key: self.hooks_started,
            name: format!("hook {}", argv.first().map_or("", String::as_str)),
            argv,
            env: vec![
                ("ANYCASTD_EVENT", event.name().to_string()),
                ("ANYCASTD_SERVICE", services.to_string()),
                ("ANYCASTD_PREFIX", canonical(&key.1)),
                ("ANYCASTD_VRF", vrf_label(&key.0).to_string()),
                ("ANYCASTD_REASON", reason.to_string()),
            ],
            timeout: HOOK_TIMEOUT,
        };
        let now = self.system.now();
        if let Some(outcome) = self.prober.hook(job, now) {
            self.hook_result(outcome);
        }
    }

    /// At exit: give the hooks still running or waiting (those of the last withdrawals) a
    /// moment to run, then kill what is left.
    pub(super) fn finish_hooks(&mut self) {
        let end = self.system.now() + HOOK_GRACE;
        while self.prober.hooks_pending() > 0 && self.system.now() < end {
            let until = self.prober.deadline().map_or(end, |d| d.min(end));
            let fds = self.prober.fds();
            self.system.wait(Some(until), &fds);
            drop(fds);
            self.system.take_child();
            self.collect_hooks();
        }
        self.prober.stop_hooks();
    }

    /// Hooks that ended: a failure is logged once, until one succeeds again.
    pub(super) fn collect_hooks(&mut self) {
        let now = self.system.now();
        for done in self.prober.hooks_finished(now) {
            self.hook_result(done.outcome);
        }
    }

    fn hook_result(&mut self, outcome: Outcome) {
        let program = self
            .config
            .global
            .hook
            .as_ref()
            .and_then(|a| a.first().cloned())
            .unwrap_or_default();
        match outcome {
            Ok(()) if self.hook_failing => {
                self.hook_failing = false;
                log::info!(hook = program.as_str(); "The hook {program} succeeds again.");
            }
            Ok(()) => {}
            Err(f) => {
                if !self.hook_failing {
                    log::error!(
                        hook = program.as_str(), reason = f.to_string().as_str();
                        "The hook {program} failed: {f} (logged once until it succeeds again; routing is not affected)."
                    );
                }
                self.hook_failing = true;
            }
        }
    }
}
