//! Stopping: withdraw every prefix this configuration may have announced, confirm it by
//! reading FRR back, retry until `shutdown_timeout`, and report exactly what may remain.
//! Used on SIGTERM/SIGINT and by `anycastd withdraw`.

use super::*;

impl Daemon<'_> {
    /// Withdraw every managed prefix FRR has, confirm by reading back, retry until the
    /// deadline. A second termination signal stops at once.
    pub(super) fn shutdown(&mut self, sig: Signal) -> Exit {
        log::info!(signal = sig.name(); "Received {}, terminating.", sig.name());
        // No check outlives the daemon: running commands are killed with their groups.
        self.prober.stop();
        self.publish_stopping(
            self.config.global.shutdown_timeout,
            "withdrawing every prefix",
        );
        let exit = self.teardown("shutdown");
        match &exit {
            Exit::Clean => self.remove_state_file(),
            // The crash record stays, marked: `withdraw` and the next start act on it.
            Exit::Unconfirmed(remaining) => {
                self.stopped = Some(remaining.clone());
                self.publish_now();
            }
        }
        for svc in &self.config.services {
            log::info!(service = svc.name.as_str(); "Service \"{}\" terminated.", svc.name);
        }
        if let Exit::Unconfirmed(remaining) = &exit {
            log::error!(
                remaining = remaining.join("; ").as_str();
                "Exiting with prefixes possibly still announced. Run `anycastd withdraw` or check FRR."
            );
        }
        self.finish_hooks();
        exit
    }

    /// Withdraw every prefix this configuration manages from every FRR instance and
    /// confirm it by reading back, retrying until `shutdown_timeout`; a termination signal
    /// arriving meanwhile stops at once. Used on shutdown and by `anycastd withdraw`.
    pub fn withdraw_everything(&mut self) -> Exit {
        let exit = self.teardown("withdraw");
        self.finish_hooks();
        exit
    }

    fn teardown(&mut self, why: &'static str) -> Exit {
        self.schedule.clear();
        self.publish_due = None;
        let deadline = self.system.now() + self.config.global.shutdown_timeout;
        // No vtysh call may run past the shutdown deadline.
        self.deadline = Some(deadline);
        let n = self.instances.len();
        let mut left: Vec<Option<BTreeSet<(Vrf, IpNetwork)>>> = vec![None; n];
        let mut done = vec![false; n];
        let mut aborted = false;
        'retry: loop {
            for i in 0..n {
                if done[i] {
                    continue;
                }
                if self.system.termination_pending() {
                    aborted = true;
                    break 'retry;
                }
                match self.withdraw_instance(i, why) {
                    Ok(()) => done[i] = true,
                    Err(remaining) => left[i] = remaining,
                }
            }
            if done.iter().all(|d| *d) || self.system.now() >= deadline {
                break;
            }
            let pause = (self.system.now() + SHUTDOWN_RETRY).min(deadline);
            // The SIGCHLD of each vtysh wakes a wait early: sleep the whole pause, unless
            // a signal is pending.
            while self.system.now() < pause && !self.system.termination_pending() {
                self.system.wait(Some(pause), &[]);
                if self.system.take_child() {
                    continue;
                }
                break;
            }
            // A SIGHUP now would wake every wait at once: take it, and say it is ignored.
            match self.system.take_signal() {
                Some(Signal::Hup) => {
                    log::warn!("Received SIGHUP while withdrawing; ignoring it.");
                }
                Some(Signal::Term | Signal::Int) => {
                    aborted = true;
                    break 'retry;
                }
                None => {}
            }
        }
        if done.iter().all(|d| *d) {
            return Exit::Clean;
        }
        let mut remaining = Vec::new();
        for i in (0..n).filter(|&i| !done[i]) {
            // What the daemon would read at its next start (BIRD's include file) lists
            // none of ours any more, whether or not it answered.
            if !self.dry_run {
                let ours: BTreeSet<(Vrf, IpNetwork)> = self.ours(i).into_iter().collect();
                self.with_backend(i, |b, call| b.forget(call, &ours));
            }
            let inst = &self.instances[i];
            match &left[i] {
                Some(set) => remaining.extend(set.iter().map(|(v, p)| {
                    format!(
                        "{} vrf {} {}",
                        inst.router.label(),
                        vrf_label(v),
                        canonical(p)
                    )
                })),
                None => remaining.extend(self.ours(i).iter().map(|(v, p)| {
                    format!(
                        "{} vrf {} {} (unknown: {} could not be read)",
                        inst.router.label(),
                        vrf_label(v),
                        canonical(p),
                        inst.backend.name()
                    )
                })),
            }
        }
        let names: BTreeSet<&str> = (0..n)
            .filter(|&i| !done[i])
            .map(|i| self.instances[i].backend.name())
            .collect();
        let why = if aborted {
            "a second signal cut the withdrawal short".to_string()
        } else {
            format!(
                "{} did not confirm the withdrawal in time",
                names.into_iter().collect::<Vec<_>>().join(" and ")
            )
        };
        log::error!(
            remaining = remaining.join("; ").as_str();
            "Could not confirm that every prefix is withdrawn: {why}."
        );
        Exit::Unconfirmed(remaining)
    }

    /// One withdraw attempt on one instance. Ok when FRR confirms none of ours is left;
    /// otherwise what is left (`None` when FRR could not be read).
    fn withdraw_instance(
        &mut self,
        i: usize,
        why: &'static str,
    ) -> Result<(), Option<BTreeSet<(Vrf, IpNetwork)>>> {
        let running = match self.read_running(i) {
            Ok(r) => r,
            Err(f) => {
                let what = format!("cannot read {}", self.instances[i].backend.name());
                self.shutdown_fault(i, f, &what);
                return Err(None);
            }
        };
        let changes = reconcile::withdraw_all(&self.ours(i), &running);
        if changes.is_empty() {
            return Ok(());
        }
        if let Err(f) = self.apply(i, &running, &changes) {
            self.shutdown_fault(i, f, "withdrawing failed");
        }
        match self.read_running(i) {
            Ok(after) => {
                let left = reconcile::withdraw_all(&self.ours(i), &after);
                let gone = Changes {
                    announce: BTreeSet::new(),
                    route_maps: BTreeMap::new(),
                    rerouted: BTreeSet::new(),
                    withdraw: changes
                        .withdraw
                        .difference(&left.withdraw)
                        .cloned()
                        .collect(),
                };
                self.audit_shutdown(i, &gone, why);
                if left.is_empty() {
                    Ok(())
                } else {
                    Err(Some(left.withdraw))
                }
            }
            Err(_) => Err(Some(changes.withdraw)),
        }
    }

    /// During shutdown too, a fault is logged once per change, not on every retry.
    fn shutdown_fault(&mut self, i: usize, f: Fault, what: &str) {
        let inst = &mut self.instances[i];
        if inst.fault.as_ref().map(|old| old.kind) != Some(f.kind) {
            log::error!(
                vtysh = inst.router.label().as_str(), reason = f.detail.as_str();
                "Shutdown: {what} via {}: {}; retrying until the shutdown deadline.", inst.router.label(), inst.backend.fault_text(f.kind)
            );
        }
        inst.fault = Some(f);
    }

    fn audit_shutdown(&mut self, i: usize, gone: &Changes, why: &str) {
        for key in &gone.withdraw {
            let names = self.instances[i]
                .managed
                .get(key)
                .map(|svcs| {
                    svcs.iter()
                        .map(|&s| self.services[s].name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            self.run_hook(super::hooks::HookEvent::Withdraw, &names, key, why);
        }
        let router = &self.instances[i].router;
        let via = router.label();
        for (vrf, net) in &gone.withdraw {
            let prefix = canonical(net);
            log::info!(
                prefix = prefix.as_str(), vrf = vrf_label(vrf), old = "announced", new = "withdrawn", trigger = why,
                dry_run = self.dry_run, router = router.kind(), vtysh = via.as_str();
                "{}Withdrew prefix {prefix} (vrf {}) on {why} via {via}.",
                if self.dry_run { "Dry run: pretended: " } else { "" },
                vrf_label(vrf),
            );
        }
    }
}
