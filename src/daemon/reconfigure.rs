//! SIGHUP: apply a new configuration without disturbing what did not change.

use super::*;

impl Daemon<'_> {
    /// SIGHUP: read the configuration again. An invalid one changes nothing. A valid one
    /// replaces the old, carrying over every check state whose check did not change, so
    /// unchanged services keep their health and their announcements; prefixes that left
    /// the configuration are withdrawn.
    pub(super) fn reload(&mut self) {
        let now = self.system.now();
        let path = self.config.path.clone();
        log::info!(config_path = path.display().to_string().as_str(); "Received SIGHUP, reloading the configuration from {}.", path.display());
        let new = match crate::config::load(&path) {
            Ok(c) => c,
            Err(e) => {
                log::error!(
                    config_path = path.display().to_string().as_str(), reason = e.to_string().as_str();
                    "Reload failed, keeping the running configuration: {e}"
                );
                return;
            }
        };
        let diff = crate::reload::diff(&self.config, &new);
        let mut parts = build(&new);
        let old_checks: HashMap<&Check, usize> = self
            .checks
            .iter()
            .enumerate()
            .map(|(c, rt)| (&rt.spec, c))
            .collect();
        let old_services: HashMap<&str, usize> = self
            .services
            .iter()
            .enumerate()
            .map(|(si, s)| (s.name.as_str(), si))
            .collect();
        // Carry over check results and per-service check states where the check is the same.
        for rt in &mut parts.checks {
            if let Some(&old) = old_checks.get(&rt.spec) {
                rt.last = self.checks[old].last.clone();
                rt.next_due = self.checks[old].next_due;
            }
        }
        for (si, svc) in parts.services.iter_mut().enumerate() {
            let Some(&old_si) = old_services.get(svc.name.as_str()) else {
                continue;
            };
            let old_spec = &self.config.services[old_si];
            for (pos, spec) in new.services[si].checks.iter().enumerate() {
                if let Some(old_pos) = old_spec.checks.iter().position(|c| c == spec) {
                    svc.checks[pos].1 = self.services[old_si].checks[old_pos].1.clone();
                }
            }
        }
        // A check this service did not have, but the daemon already polls (moved from
        // another service, or a new service sharing it): its last result counts as the
        // service's first, so the service is not left undecided until the next poll.
        for (si, svc) in parts.services.iter_mut().enumerate() {
            for pos in 0..new.services[si].checks.len() {
                if svc.checks[pos].1.passing.is_some() {
                    continue;
                }
                let last = parts.svc_checks[si]
                    .get(pos)
                    .and_then(|&c| parts.checks[c].last.as_ref());
                if let Some(outcome) = last {
                    let reason = match outcome {
                        Ok(()) => "success".to_string(),
                        Err(f) => f.to_string(),
                    };
                    svc.record(pos, outcome.is_ok(), &reason);
                }
            }
            svc.settle();
        }
        // Instances: keep fault state; what left the configuration retires.
        for old in std::mem::take(&mut self.instances) {
            let idx = instance_index(&mut parts.instances, &old.router);
            let inst = &mut parts.instances[idx];
            // What the backend knows of the daemon (BIRD: what its file holds) stays.
            inst.backend = old.backend;
            inst.fault = old.fault.clone();
            inst.failures = old.failures;
            inst.missing_logged = old.missing_logged.clone();
            inst.overlay = old.overlay.clone();
            inst.rejected = old.rejected.clone();
            inst.seen = old.seen.clone();
            inst.asns = old.asns.clone();
            inst.last_apply = old.last_apply;
            inst.advertised = old.advertised.clone();
            inst.last_sync = old.last_sync;
            inst.attempted = old.attempted;
            inst.stats = old.stats;
            inst.drift_repairs = old.drift_repairs;
            inst.retiring = old
                .managed
                .keys()
                .chain(old.retiring.iter())
                .filter(|k| !inst.managed.contains_key(*k))
                .cloned()
                .collect();
        }
        // An instance with nothing left to manage or withdraw is forgotten.
        parts
            .instances
            .retain(|i| !i.managed.is_empty() || !i.retiring.is_empty());
        log::info!(
            added = diff.added.join(", ").as_str(), removed = diff.removed.join(", ").as_str(),
            changed = diff.changed.join(", ").as_str(), unchanged = diff.unchanged.len();
            "Configuration reloaded: {}.", diff.summary()
        );
        for svc in &parts.services {
            let old = old_services
                .get(svc.name.as_str())
                .map(|&o| &self.services[o]);
            if old.is_none() {
                log::info!(
                    service_name = svc.name.as_str(), service_healthy = false;
                    "Starting service \"{}\".", svc.name
                );
            } else if old.map(|o| o.health) != Some(svc.health) {
                log::info!(
                    service_name = svc.name.as_str(), health = svc.health.to_string().as_str(), reason = svc.reason().as_str();
                    "Service \"{}\" is now {} after the reload.", svc.name, svc.health
                );
            }
        }
        let new_names: std::collections::HashSet<&str> =
            parts.services.iter().map(|s| s.name.as_str()).collect();
        for old in &self.services {
            if !new_names.contains(old.name.as_str()) {
                log::info!(service = old.name.as_str(); "Service \"{}\" terminated.", old.name);
            }
        }
        let started = self.started;
        let (since, transitions): (Vec<SystemTime>, Vec<u64>) = parts
            .services
            .iter()
            .map(|s| match old_services.get(s.name.as_str()) {
                Some(&o) => (self.since[o], self.transitions[o]),
                None => (self.system.wall().max(started), 0),
            })
            .unzip();
        self.since = since;
        self.transitions = transitions;
        self.svc_prefixes = index_prefixes(parts.services.len(), &parts.instances);
        self.config = new;
        self.checks = parts.checks;
        self.check_index = parts.check_index;
        self.services = parts.services;
        self.svc_checks = parts.svc_checks;
        self.instances = parts.instances;
        // The state file must list what this configuration adds before FRR announces it.
        self.routing_gen += 1;
        self.prober.configure(
            &self
                .config
                .services
                .iter()
                .flat_map(|s| s.checks.iter().cloned())
                .collect::<Vec<_>>(),
            self.config.global.max_running_checks,
        );
        self.schedule.clear();
        self.publish_due = None;
        // A new drain file, or new services a drain names.
        self.drain_stamp = None;
        self.load_drains(now, true);
        self.schedule.push(now + DRAIN_WATCH, Task::Drains);
        self.publish();
        for c in 0..self.checks.len() {
            let due = self.checks[c].next_due.unwrap_or(now);
            self.schedule.push(due, Task::Poll(c));
        }
        // A prefix that moved to another instance of the same daemon (another vtysh path
        // that may reach the same FRR) is withdrawn first, so that the new path's sync
        // announces it again at once instead of a reconcile interval later. One that moved
        // to another daemon (FRR to BIRD) is announced first and withdrawn after.
        let same_kind_move = |i: usize| {
            let inst = &self.instances[i];
            inst.retiring.iter().any(|k| {
                self.instances.iter().any(|o| {
                    o.router != inst.router
                        && o.router.kind() == inst.router.kind()
                        && o.managed.contains_key(k)
                })
            })
        };
        let mut order: Vec<usize> = (0..self.instances.len()).collect();
        order.sort_by_key(|&i| (!same_kind_move(i), !self.instances[i].retiring.is_empty()));
        for i in order {
            self.instances[i].sync_due = None;
            self.request_sync(i, now, Trigger::Reload);
        }
    }
}
