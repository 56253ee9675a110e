//! The audit trail of what was changed in a routing daemon: one line per prefix announced, withdrawn or
//! re-announced through another route-map, with the services, the trigger and the reason,
//! and the hook run for each confirmed announce and withdraw. Also the one error line when
//! FRR lacks a route-map the announcements need.

use super::*;

impl Daemon<'_> {
    /// A route-map this instance's announcements need (their own, the drain one) that
    /// FRR does not have: an error, logged once per change of the set.
    pub(super) fn check_route_maps(&mut self, i: usize, running: &RunningConfig) {
        let inst = &self.instances[i];
        if !inst.backend.route_maps() {
            return;
        }
        let mut needed: BTreeSet<&str> = inst.route_maps.values().map(String::as_str).collect();
        if let Some(rm) = &self.config.global.drain_route_map {
            needed.insert(rm);
        }
        let missing: BTreeSet<String> = needed
            .into_iter()
            .filter(|rm| !running.route_maps.contains(*rm))
            .map(str::to_string)
            .collect();
        if missing != inst.missing_route_maps {
            if !missing.is_empty() {
                let list = missing.iter().cloned().collect::<Vec<_>>().join(", ");
                log::error!(
                    vtysh = inst.router.label().as_str(), route_maps = list.as_str();
                    "FRR via {} has no route-map {list}: a network line through it is not announced as meant. Configure it in FRR.",
                    inst.router.label()
                );
            }
            self.instances[i].missing_route_maps = missing;
        }
    }

    pub(super) fn audit(&mut self, i: usize, changes: &Changes, trigger: Trigger) {
        let mut hooks = Vec::new();
        self.audit_lines(i, changes, trigger, &mut hooks);
        for (event, names, key, reason) in hooks {
            self.run_hook(event, &names, &key, &reason);
        }
    }

    fn audit_lines(
        &self,
        i: usize,
        changes: &Changes,
        trigger: Trigger,
        hooks: &mut Vec<(hooks::HookEvent, String, (Vrf, IpNetwork), String)>,
    ) {
        let inst = &self.instances[i];
        let via = inst.router.label();
        let lines = changes
            .withdraw
            .iter()
            .map(|k| (k, false))
            .chain(changes.announce.iter().map(|k| (k, true)));
        for (key, announced) in lines {
            let Some(svcs) = inst.managed.get(key) else {
                let prefix = canonical(&key.1);
                log::info!(
                    prefix = prefix.as_str(), vrf = vrf_label(&key.0), old = "announced",
                    new = "withdrawn", trigger = trigger.name(), reason = "removed from the configuration",
                    router = inst.router.kind(), vtysh = via.as_str();
                    "Withdrew prefix {prefix} (vrf {}): no longer in the configuration.", vrf_label(&key.0)
                );
                hooks.push((
                    hooks::HookEvent::Withdraw,
                    String::new(),
                    key.clone(),
                    "removed from the configuration".to_string(),
                ));
                continue;
            };
            let names = svcs
                .iter()
                .map(|&s| self.services[s].name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            if announced && changes.rerouted.contains(key) {
                // Still announced; only its route-map changed (a drain time, its end by
                // undrain, or a route-map put back): not an announcement, no hook.
                let prefix = canonical(&key.1);
                let rm = changes.route_maps.get(key).map_or("none", String::as_str);
                log::info!(
                    service = names.as_str(), prefix = prefix.as_str(), vrf = vrf_label(&key.0),
                    old = "announced", new = "announced", route_map = rm, trigger = trigger.name(),
                    dry_run = self.dry_run, router = inst.router.kind(), vtysh = via.as_str();
                    "{}Re-announced prefix {prefix} (vrf {}) for service \"{names}\" through route-map {rm}.",
                    if self.dry_run { "Dry run: pretended: " } else { "" },
                    vrf_label(&key.0)
                );
                continue;
            }
            let drained = self.drain_of(svcs).filter(|_| !announced);
            let reason = match drained {
                Some(d) if d.reason.is_empty() => "drained".to_string(),
                Some(d) => format!("drained: {}", d.reason),
                None => svcs
                    .iter()
                    .map(|&s| &self.services[s])
                    .find(|s| (s.health == Health::Healthy) != announced)
                    .or_else(|| svcs.first().map(|&s| &self.services[s]))
                    .map(|s| s.reason())
                    .unwrap_or_default(),
            };
            let prefix = canonical(&key.1);
            let (verb, old, new) = if announced {
                ("Announced", "withdrawn", "announced")
            } else {
                ("Withdrew", "announced", "withdrawn")
            };
            let event = if announced {
                hooks::HookEvent::Announce
            } else {
                hooks::HookEvent::Withdraw
            };
            hooks.push((event, names.clone(), key.clone(), reason.clone()));
            log::info!(
                service = names.as_str(), prefix = prefix.as_str(), vrf = vrf_label(&key.0),
                old = old, new = new, trigger = trigger.name(), reason = reason.as_str(),
                dry_run = self.dry_run, router = inst.router.kind(), vtysh = via.as_str();
                "{}{verb} prefix {prefix} (vrf {}) for service \"{names}\".",
                if self.dry_run { "Dry run: pretended: " } else { "" },
                vrf_label(&key.0)
            );
        }
    }
}
