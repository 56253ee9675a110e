//! Talking to a routing daemon: read what it has, plan the difference from what health
//! says, apply it through the instance's backend (isolating announcements FRR refuses),
//! ask which prefixes are really advertised, and log what changed. A failure becomes a
//! fault with a back-off; the loop never waits on a routing daemon longer than
//! `vtysh_timeout`.

use super::*;
use crate::router::Call;

impl Daemon<'_> {
    /// Run `f` with instance `i`'s backend and a [`Call`] bounded by `vtysh_timeout` (and,
    /// during teardown, by the shutdown deadline), cut short by a termination signal.
    pub(super) fn with_backend<T>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut dyn Backend, &mut Call<'_>) -> T,
    ) -> T {
        let mut until = Instant::now() + self.config.global.vtysh_timeout;
        if let Some(deadline) = self.deadline {
            // The shutdown deadline, in the runner's clock.
            let left = deadline.saturating_duration_since(self.system.now());
            until = until.min(Instant::now() + left);
        }
        let system = &*self.system;
        let abort = || system.termination_pending();
        let inst = &mut self.instances[i];
        let mut call = Call {
            runner: &mut *self.runner,
            until,
            abort: &abort,
            stats: &mut inst.stats,
            dry_run: self.dry_run,
        };
        let out = f(&mut *inst.backend, &mut call);
        inst.drift_repairs += inst.backend.take_repairs();
        out
    }

    /// What instance `i` has of ours now (in a dry run, with what we pretended to do laid
    /// over it).
    pub(super) fn read_running(&mut self, i: usize) -> Result<RunningConfig, Fault> {
        let ours: BTreeSet<(Vrf, IpNetwork)> = self.ours(i).into_iter().collect();
        let mut running = self.with_backend(i, |b, call| b.read(call, &ours))?;
        if self.dry_run {
            let overlay = &self.instances[i].overlay;
            for (vrf, net) in &overlay.withdraw {
                if let Some(inst) = running.instances.get_mut(vrf) {
                    inst.networks.remove(net);
                }
            }
            for (vrf, net) in &overlay.announce {
                if let Some(inst) = running.instances.get_mut(vrf) {
                    inst.networks.insert(*net);
                }
            }
        }
        Ok(running)
    }

    pub(super) fn apply(
        &mut self,
        i: usize,
        running: &RunningConfig,
        changes: &Changes,
    ) -> Result<(), Fault> {
        if changes.is_empty() {
            return Ok(());
        }
        if self.dry_run {
            let inst = &mut self.instances[i];
            if let Some(text) = inst.backend.describe(running, changes) {
                log::info!(
                    vtysh = inst.router.label().as_str();
                    "{text}"
                );
            }
            let overlay = &mut inst.overlay;
            for key in &changes.withdraw {
                overlay.announce.remove(key);
                overlay.withdraw.insert(key.clone());
            }
            for key in &changes.announce {
                overlay.withdraw.remove(key);
                overlay.announce.insert(key.clone());
            }
            return Ok(());
        }
        if !changes.announce.is_empty() && self.written_gen != self.routing_gen {
            // Write-ahead: the crash record on disk lists every prefix before the routing
            // daemon can announce it, so a crash at any instant leaves nothing unknown behind.
            self.publish_now();
        }
        self.with_backend(i, |b, call| b.apply(call, running, changes))
    }

    pub(super) fn sync(&mut self, i: usize) {
        self.sync_once(i);
        self.instances[i].attempted = true;
        self.publish();
    }

    fn sync_once(&mut self, i: usize) {
        let trigger = std::mem::replace(&mut self.instances[i].trigger, Trigger::Reconcile);
        let running = match self.read_running(i) {
            Ok(r) => r,
            Err(f) => return self.fault(i, f),
        };
        self.check_route_maps(i, &running);
        // The whole plan covers every pending health change.
        self.instances[i].dirty.clear();
        self.instances[i].asns = Some(RunningConfig {
            instances: running
                .instances
                .iter()
                .map(|(vrf, b)| {
                    let asn = b.asn.clone();
                    (
                        vrf.clone(),
                        frr::BgpInstance {
                            asn,
                            ..Default::default()
                        },
                    )
                })
                .collect(),
            route_maps: BTreeSet::new(),
        });
        let intents = self.intents(i);
        let route_maps = if self.instances[i].backend.route_maps() {
            self.route_maps(i, &intents)
        } else {
            BTreeMap::new()
        };
        let plan = reconcile::plan(&intents, &running, &route_maps);
        self.report_missing(i, &plan.missing_instances, &intents);
        // A prefix FRR keeps refusing is reported once as refused, not as drift each time.
        let mut drift = plan.changes.clone();
        drift
            .announce
            .retain(|k| !self.instances[i].rejected.contains_key(k));
        if !drift.is_empty() && trigger == Trigger::Reconcile {
            let inst = &self.instances[i];
            log::warn!(
                vtysh = inst.router.label().as_str(),
                missing = list(&drift.announce).as_str(),
                unexpected = list(&drift.withdraw).as_str();
                "{}'s running config drifted from what health says; repairing it.",
                inst.backend.name()
            );
        }
        let applied = match self.apply_isolating(i, &running, &plan.changes) {
            Ok(a) => a,
            Err(f) => return self.fault(i, f),
        };
        if !applied.is_empty() {
            if !drift.is_empty() && trigger == Trigger::Reconcile {
                self.instances[i].drift_repairs += 1;
            }
            self.audit(i, &applied, trigger);
        }
        // Whatever was retiring is now confirmed gone (withdrawn just now, or absent),
        // unless the daemon refused the change: then only what the read showed gone.
        if self
            .deferred
            .as_ref()
            .is_some_and(|f| f.kind.may_have_withdrawn())
        {
            self.instances[i]
                .retiring
                .retain(|k| !applied.withdraw.contains(k));
        } else {
            self.instances[i].retiring.clear();
        }
        let mut seen: BTreeSet<(Vrf, IpNetwork)> = self.instances[i]
            .managed
            .keys()
            .filter(|(v, n)| running.has(v, n))
            .cloned()
            .collect();
        for key in &applied.withdraw {
            seen.remove(key);
        }
        seen.extend(applied.announce.iter().cloned());
        let probe = self.probe_set(i, &seen);
        let found = self.probe_advertised(i, &probe, &applied.announce);
        let advertised = &mut self.instances[i].advertised;
        advertised.retain(|k, _| seen.contains(k) && !probe.contains(k));
        advertised.extend(found);
        self.instances[i].seen = Some(seen);
        self.instances[i].last_sync = Some(self.system.wall());
        match self.deferred.take() {
            Some(f) => self.fault(i, f),
            None => self.recovered(i),
        }
    }

    /// Apply the health changes since the last plan, from what FRR had at the last read
    /// plus what was applied since: one vtysh call, no read. `network` is idempotent and
    /// `no network` of a line someone removed is a known answer (a full sync follows), so
    /// the next scheduled read confirms. Cost: the prefixes whose services changed.
    pub(super) fn apply_health(&mut self, i: usize) {
        let inst = &self.instances[i];
        let (Some(seen), Some(asns)) = (&inst.seen, &inst.asns) else {
            return self.request_sync(i, self.system.now(), Trigger::Health);
        };
        if inst.fault.is_some() || !inst.rejected.is_empty() {
            // A full sync is (or will be) due: it plans these changes too.
            return;
        }
        let mut changes = Changes::default();
        let mut need_full = false;
        for key in &inst.dirty {
            let present = seen.contains(key);
            match self.intent_of(i, key) {
                Intent::Announce if !asns.instances.contains_key(&key.0) => need_full = true,
                Intent::Announce if !present => {
                    changes.announce.insert(key.clone());
                    if let Some(rm) = self
                        .route_map_of(i, key)
                        .filter(|_| inst.backend.route_maps())
                    {
                        changes.route_maps.insert(key.clone(), rm);
                    }
                }
                Intent::Withdraw if present => {
                    changes.withdraw.insert(key.clone());
                }
                // Held: what FRR has stays; a route-map swap is a full sync's (drain,
                // undrain and stop ask for one).
                _ => {}
            }
        }
        let asns = asns.clone();
        self.instances[i].dirty.clear();
        if need_full {
            // A VRF without a BGP instance: the full sync reports it (never created).
            self.request_sync(i, self.system.now(), Trigger::Health);
        }
        if changes.is_empty() {
            return;
        }
        let applied = match self.apply_isolating(i, &asns, &changes) {
            Ok(a) => a,
            Err(f) => return self.fault(i, f),
        };
        self.instances[i].last_apply = Some(self.system.now());
        if let Some(seen) = self.instances[i].seen.as_mut() {
            for key in &applied.withdraw {
                seen.remove(key);
            }
            seen.extend(applied.announce.iter().cloned());
        }
        let advertised = &mut self.instances[i].advertised;
        for key in applied.withdraw.iter().chain(applied.announce.iter()) {
            advertised.remove(key);
        }
        self.audit(i, &applied, Trigger::Health);
        self.publish();
        if let Some(f) = self.deferred.take() {
            self.fault(i, f);
        }
    }

    /// Apply `changes` in one vtysh process. When FRR rejects an announcement (vtysh stops
    /// at the first failing command), fall back to the withdrawals alone, then each
    /// announcement alone, so one prefix FRR refuses never holds the others back.
    /// Announcements FRR refused before go alone from the start. Returns what was applied.
    fn apply_isolating(
        &mut self,
        i: usize,
        running: &RunningConfig,
        changes: &Changes,
    ) -> Result<Changes, Fault> {
        let mut batch = changes.clone();
        let mut alone: Vec<(Vrf, IpNetwork)> = Vec::new();
        batch.announce.retain(|k| {
            let refused = self.instances[i].rejected.contains_key(k);
            if refused {
                alone.push(k.clone());
            }
            !refused
        });
        let mut applied = Changes::default();
        let mut after: Option<RunningConfig> = None;
        if !batch.is_empty() {
            match self.apply(i, running, &batch) {
                Ok(()) => applied = batch,
                Err(f) if f.kind.may_have_withdrawn() && !batch.withdraw.is_empty() => {
                    // The whole change was refused, but the backend withdrew another way
                    // (BIRD: `disable`, a whole address family): whatever of ours the read
                    // shows gone is audited, the fault reported when this sync ends.
                    let now = self.read_running(i)?;
                    let seen = self.instances[i].seen.as_ref();
                    applied.withdraw = self
                        .ours(i)
                        .into_iter()
                        .filter(|k| running.has(&k.0, &k.1) || seen.is_some_and(|s| s.contains(k)))
                        .filter(|(v, n)| !now.has(v, n))
                        .collect();
                    self.deferred = Some(f);
                    return Ok(applied);
                }
                Err(f) if f.kind == FaultKind::Rejected => {
                    // vtysh stopped at the refused command: what came before it (every
                    // withdrawal, maybe some announcements) was applied. Read back what
                    // FRR really did, audit that, and do the rest.
                    let now = self.read_running(i)?;
                    let (gone, still): (BTreeSet<_>, BTreeSet<_>) = batch
                        .withdraw
                        .iter()
                        .cloned()
                        .partition(|(v, n)| !now.has(v, n));
                    applied.withdraw = gone;
                    if !still.is_empty() {
                        let rest = Changes {
                            withdraw: still.clone(),
                            ..Changes::default()
                        };
                        self.apply(i, &now, &rest)?;
                        applied.withdraw.extend(still);
                    }
                    for key in &batch.announce {
                        if now.has(&key.0, &key.1) {
                            applied.announce.insert(key.clone());
                        } else {
                            alone.push(key.clone());
                        }
                    }
                    after = Some(now);
                }
                Err(f) => return Err(f),
            }
        }
        let running = after.as_ref().unwrap_or(running);
        for key in alone {
            let one = Changes {
                route_maps: changes
                    .route_maps
                    .get(&key)
                    .map(|rm| BTreeMap::from([(key.clone(), rm.clone())]))
                    .unwrap_or_default(),
                rerouted: changes
                    .rerouted
                    .get(&key)
                    .map(|k| BTreeSet::from([k.clone()]))
                    .unwrap_or_default(),
                announce: BTreeSet::from([key.clone()]),
                withdraw: BTreeSet::new(),
            };
            match self.apply(i, running, &one) {
                Ok(()) => {
                    if self.instances[i].rejected.remove(&key).is_some() {
                        log::info!(
                            prefix = canonical(&key.1).as_str(), vrf = vrf_label(&key.0);
                            "FRR now accepts prefix {} (vrf {}).", canonical(&key.1), vrf_label(&key.0)
                        );
                    }
                    applied.announce.insert(key);
                }
                Err(f) if f.kind == FaultKind::Rejected => {
                    if !self.instances[i].rejected.contains_key(&key) {
                        log::error!(
                            prefix = canonical(&key.1).as_str(), vrf = vrf_label(&key.0), reason = f.detail.as_str();
                            "FRR refuses to announce prefix {} (vrf {}); the other prefixes are not held back. Retrying at every reconcile.",
                            canonical(&key.1), vrf_label(&key.0)
                        );
                    }
                    self.instances[i].rejected.insert(key, f.detail);
                }
                Err(f) => return Err(f),
            }
        }
        // A refused prefix that no longer needs announcing is no longer an error.
        let wanted = &changes.announce;
        self.instances[i].rejected.retain(|k, _| wanted.contains(k));
        Ok(applied)
    }

    /// Which prefixes the import check asks about at this reconcile: every one whose
    /// answer is unknown or bad, and up to `PROBE_ROTATION` of the good ones in turn, so
    /// that a reconcile costs the same with 10 or 10,000 prefixes announced.
    fn probe_set(
        &mut self,
        i: usize,
        seen: &BTreeSet<(Vrf, IpNetwork)>,
    ) -> BTreeSet<(Vrf, IpNetwork)> {
        let inst = &mut self.instances[i];
        let good = |k: &(Vrf, IpNetwork)| inst.advertised.get(k) == Some(&true);
        let mut out: BTreeSet<_> = seen.iter().filter(|k| !good(k)).cloned().collect();
        let start = inst.probe_cursor.take();
        let after = seen
            .iter()
            .filter(|k| start.as_ref().is_none_or(|s| *k > s))
            .chain(seen.iter())
            .filter(|k| good(k))
            .take(PROBE_ROTATION.min(seen.len()));
        let mut last = None;
        for k in after {
            out.insert(k.clone());
            last = Some(k.clone());
        }
        inst.probe_cursor = last;
        out
    }

    /// The import check: which of `present` the routing daemon really advertises (FRR: has
    /// a valid path for). One call for all of them; anything unexpected means "unknown".
    /// A prefix announced in this same sync that is not valid yet (and was not known to be
    /// held back before) stays unknown: bgpd
    /// validates a new `network` when zebra answers its nexthop query, which may come a
    /// moment later; the next reconcile asks again.
    fn probe_advertised(
        &mut self,
        i: usize,
        present: &BTreeSet<(Vrf, IpNetwork)>,
        just_announced: &BTreeSet<(Vrf, IpNetwork)>,
    ) -> BTreeMap<(Vrf, IpNetwork), bool> {
        if present.is_empty() || self.dry_run {
            return BTreeMap::new();
        }
        let keys: Vec<&(Vrf, IpNetwork)> = present.iter().collect();
        let flags = match self.with_backend(i, |b, call| b.advertised(call, &keys)) {
            Ok(Some(flags)) if flags.len() == keys.len() => flags,
            Ok(_) => return BTreeMap::new(),
            Err(f) => {
                log::debug!("import check query failed: {}", f.detail);
                if f.kind == FaultKind::TimedOut {
                    // It likely hangs again: the next health change waits for the retry
                    // instead of holding the loop for another timeout.
                    self.deferred = Some(f);
                }
                return BTreeMap::new();
            }
        };
        let old = &self.instances[i].advertised;
        // A bad answer already known (a route-map swap re-announces) stays known.
        let result: BTreeMap<_, _> = keys
            .into_iter()
            .cloned()
            .zip(flags)
            .filter(|(key, ok)| {
                *ok || !just_announced.contains(key) || old.get(key) == Some(&false)
            })
            .collect();
        for (key, ok) in &result {
            if !ok && old.get(key) != Some(&false) {
                log::warn!(
                    prefix = canonical(&key.1).as_str(), vrf = vrf_label(&key.0);
                    "Prefix {} (vrf {}) is configured in FRR but not advertised: it is not in the routing table, so BGP's import check holds it back. Put the address on lo (or a route for the prefix) on this host.",
                    canonical(&key.1), vrf_label(&key.0)
                );
            }
        }
        result
    }

    fn report_missing(&mut self, i: usize, missing: &BTreeSet<Vrf>, intents: &Intents) {
        let inst = &mut self.instances[i];
        for vrf in missing.difference(&inst.missing_logged) {
            let waiting: Vec<String> = intents
                .iter()
                .filter(|((v, _), it)| v == vrf && **it == Intent::Announce)
                .map(|((_, n), _)| canonical(n))
                .collect();
            log::error!(
                vtysh = inst.router.label().as_str(), vrf = vrf_label(vrf),
                prefixes = waiting.join(", ").as_str();
                "FRR has no BGP instance for VRF \"{}\": not announcing {} (anycastd never creates one; configure `router bgp <ASN>{}` in FRR). Retrying.",
                vrf_label(vrf),
                waiting.join(", "),
                vrf.as_ref().map(|v| format!(" vrf {v}")).unwrap_or_default()
            );
        }
        for vrf in inst.missing_logged.difference(missing) {
            log::info!(vrf = vrf_label(vrf); "VRF \"{}\" no longer waits for a BGP instance.", vrf_label(vrf));
        }
        inst.missing_logged = missing.clone();
    }

    /// Retry after a back-off counted from now, after the failed call, not from when the
    /// sync started: a call that hung until its deadline must not be retried at once.
    pub(super) fn fault(&mut self, i: usize, f: Fault) {
        let now = self.system.now();
        if f.kind == FaultKind::Aborted {
            // A termination signal cut the call short: shutdown follows at once.
            return;
        }
        let inst = &mut self.instances[i];
        inst.failures = inst.failures.saturating_add(1);
        let benign = f.kind == FaultKind::AlreadyGone;
        let delay = if benign && inst.failures <= 1 {
            Duration::ZERO
        } else {
            let exp = inst.failures.saturating_sub(1).min(16);
            (BACKOFF_MIN * 2u32.saturating_pow(exp)).min(BACKOFF_MAX)
        };
        if inst.fault.as_ref().map(|old| old.kind) != Some(f.kind) {
            // Someone removed a line between our read and our write, or another session
            // holds FRR's configuration lock: worth a warning, not an error; the next read
            // shows the truth.
            let level = if benign || f.kind == FaultKind::Busy {
                log::Level::Warn
            } else {
                log::Level::Error
            };
            let label = inst.router.label();
            log::log!(
                level,
                vtysh = label.as_str(), reason = f.detail.as_str(),
                retry_in = crate::duration::format(delay).as_str();
                "{} via {label}: {}; retrying, with back-off.", inst.backend.name(), inst.backend.fault_text(f.kind)
            );
        }
        inst.fault = Some(f);
        self.request_sync(i, now + delay, Trigger::Retry);
    }

    pub(super) fn recovered(&mut self, i: usize) {
        let now = self.system.now();
        let inst = &mut self.instances[i];
        if let Some(old) = inst.fault.take() {
            let label = inst.router.label();
            log::info!(
                vtysh = label.as_str(), was = inst.backend.fault_text(old.kind);
                "{} via {label} works again; its state is reconciled.", inst.backend.name()
            );
        }
        inst.failures = 0;
        let next = now + self.config.global.reconcile_interval;
        self.request_sync(i, next, Trigger::Reconcile);
    }
}

fn list(set: &BTreeSet<(Vrf, IpNetwork)>) -> String {
    set.iter()
        .map(|(v, n)| match v {
            Some(v) => format!("{} (vrf {v})", canonical(n)),
            None => canonical(n),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
