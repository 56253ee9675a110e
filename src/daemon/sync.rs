//! Talking to FRR: read bgpd's running config, plan the difference from what health says,
//! apply it in one vtysh process (isolating announcements FRR refuses), ask which prefixes
//! bgpd really advertises, and log what changed. A failure becomes a fault with a back-off;
//! the loop never waits on FRR longer than `vtysh_timeout`.

use super::*;

/// Another session holds FRR's configuration lock: retried with the usual back-off, and
/// never taken for FRR refusing a prefix.
pub(super) const FRR_BUSY: &str = "FRR is busy: another session holds its configuration lock";

impl Daemon<'_> {
    pub(super) fn run_vtysh(
        &mut self,
        i: usize,
        args: &[String],
    ) -> Result<vtysh::Output, FrrFault> {
        let mut timeout = self.config.global.vtysh_timeout;
        if let Some(deadline) = self.deadline {
            // At least a little: a call that cannot start cannot confirm anything either.
            let left = deadline.saturating_duration_since(self.system.now());
            timeout = timeout.min(left.max(Duration::from_millis(100)));
        }
        let vtysh = self.instances[i].vtysh.clone();
        let system = &*self.system;
        let abort = || system.termination_pending();
        let started = Instant::now();
        let result = self.runner.run(&vtysh, args, timeout, &abort);
        let inst = &mut self.instances[i];
        inst.calls += 1;
        inst.call_seconds += started.elapsed().as_secs_f64();
        if !result.as_ref().is_ok_and(|o| o.success()) {
            inst.call_failures += 1;
        }
        result.map_err(|e| FrrFault {
            kind: match e {
                vtysh::Error::Spawn(..) => "vtysh cannot be run",
                vtysh::Error::Timeout(_) => TIMED_OUT,
                vtysh::Error::Aborted => ABORTED,
                vtysh::Error::Io(_) => "temporary file",
                // Never parsed: a cut-off running config reads as fewer prefixes.
                vtysh::Error::Truncated(_) => "vtysh's answer was cut off",
            },
            detail: e.to_string(),
        })
    }

    /// `vtysh -d bgpd -c 'show running-config'`: asking bgpd alone makes "bgpd is down" an
    /// error instead of a running config with the bgp section silently missing.
    pub(super) fn read_running(&mut self, i: usize) -> Result<RunningConfig, FrrFault> {
        let args: Vec<String> = ["-d", "bgpd", "-c", "show running-config"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = self.run_vtysh(i, &args)?;
        if !out.success() {
            let all = format!("{}\n{}", out.stdout, out.stderr);
            let kind = if all.contains("failed to connect") || all.contains("is not running") {
                "bgpd is not reachable"
            } else {
                "reading the running config failed"
            };
            return Err(FrrFault {
                kind,
                detail: out.summary(),
            });
        }
        let mut running = frr::parse_running_config(&out.stdout).map_err(|detail| FrrFault {
            kind: "bgpd's running config is not understood",
            detail,
        })?;
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
    ) -> Result<(), FrrFault> {
        let cmds = frr::build_commands(running, changes);
        if cmds.is_empty() {
            return Ok(());
        }
        let args: Vec<String> = cmds
            .iter()
            .flat_map(|c| ["-c".to_string(), c.clone()])
            .collect();
        let vtysh = self.instances[i].vtysh.clone();
        if self.dry_run {
            log::info!(
                vtysh = vtysh.display().to_string().as_str(), commands = cmds.join("; ").as_str();
                "Dry run: not running {} {}", vtysh.display(), vtysh::shell_words(&args)
            );
            let overlay = &mut self.instances[i].overlay;
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
            // Write-ahead: the crash record on disk lists every prefix before FRR can
            // announce it, so a crash at any instant leaves nothing unknown behind.
            self.publish_now();
        }
        let out = self.run_vtysh(i, &args)?;
        if out.success() {
            return Ok(());
        }
        let kind = if out.stdout.contains(frr::NOT_CONFIGURED) {
            // vtysh stops at the failing `no network`: the rest was not applied. The next
            // read shows what FRR really has.
            ALREADY_GONE
        } else if frr::config_locked(&out.stdout) || frr::config_locked(&out.stderr) {
            FRR_BUSY
        } else if out.stderr.contains("is not running") || out.stderr.contains("failed to connect")
        {
            "bgpd is not reachable"
        } else {
            REJECTED
        };
        Err(FrrFault {
            kind,
            detail: format!(
                "{} (commands: {})",
                out.summary(),
                vtysh::shell_words(&args)
            ),
        })
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
        let plan = reconcile::plan(&intents, &running, &self.route_maps(i, &intents));
        self.report_missing(i, &plan.missing_instances, &intents);
        // A prefix FRR keeps refusing is reported once as refused, not as drift each time.
        let mut drift = plan.changes.clone();
        drift
            .announce
            .retain(|k| !self.instances[i].rejected.contains_key(k));
        if !drift.is_empty() && trigger == Trigger::Reconcile {
            log::warn!(
                vtysh = self.instances[i].vtysh.display().to_string().as_str(),
                missing = list(&drift.announce).as_str(),
                unexpected = list(&drift.withdraw).as_str();
                "FRR's running config drifted from what health says; repairing it."
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
        // Whatever was retiring is now confirmed gone (withdrawn just now, or absent).
        self.instances[i].retiring.clear();
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
        let found = self.probe_advertised(i, &probe);
        let advertised = &mut self.instances[i].advertised;
        advertised.retain(|k, _| seen.contains(k) && !probe.contains(k));
        advertised.extend(found);
        self.instances[i].seen = Some(seen);
        self.instances[i].last_sync = Some(self.system.wall());
        match self.probe_hung.take() {
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
                    if let Some(rm) = self.route_map_of(i, key) {
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
    ) -> Result<Changes, FrrFault> {
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
                Err(f) if f.kind == REJECTED => {
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
                Err(f) if f.kind == REJECTED => {
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

    /// The import check: which of `present` bgpd really advertises (has a valid path
    /// for). One vtysh process for all of them; anything unexpected means "unknown".
    fn probe_advertised(
        &mut self,
        i: usize,
        present: &BTreeSet<(Vrf, IpNetwork)>,
    ) -> BTreeMap<(Vrf, IpNetwork), bool> {
        if present.is_empty() || self.dry_run {
            return BTreeMap::new();
        }
        let keys: Vec<&(Vrf, IpNetwork)> = present.iter().collect();
        let args: Vec<String> = keys
            .iter()
            .flat_map(|(vrf, net)| ["-c".to_string(), frr::show_prefix_command(vrf, net)])
            .collect();
        let out = match self.run_vtysh(i, &args) {
            Ok(o) if o.success() => o,
            Ok(o) => {
                log::debug!("import check query failed: {}", o.summary());
                return BTreeMap::new();
            }
            Err(f) => {
                log::debug!("import check query failed: {}", f.detail);
                if f.kind == TIMED_OUT {
                    // It likely hangs again: the next health change waits for the retry
                    // instead of holding the loop for another timeout.
                    self.probe_hung = Some(f);
                }
                return BTreeMap::new();
            }
        };
        let Some(flags) = frr::parse_advertised(&out.stdout, keys.len()) else {
            log::debug!("import check: unexpected output from vtysh");
            return BTreeMap::new();
        };
        let result: BTreeMap<_, _> = keys.into_iter().cloned().zip(flags).collect();
        let old = &self.instances[i].advertised;
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
                vtysh = inst.vtysh.display().to_string().as_str(), vrf = vrf_label(vrf),
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
    /// sync started: a vtysh that hung until its deadline must not be retried at once.
    pub(super) fn fault(&mut self, i: usize, f: FrrFault) {
        let now = self.system.now();
        if f.kind == ABORTED {
            // A termination signal cut the call short: shutdown follows at once.
            return;
        }
        let inst = &mut self.instances[i];
        inst.failures = inst.failures.saturating_add(1);
        let benign = f.kind == ALREADY_GONE;
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
            let level = if benign || f.kind == FRR_BUSY {
                log::Level::Warn
            } else {
                log::Level::Error
            };
            log::log!(
                level,
                vtysh = inst.vtysh.display().to_string().as_str(), reason = f.detail.as_str(),
                retry_in = crate::duration::format(delay).as_str();
                "FRR via {}: {}; retrying, with back-off.", inst.vtysh.display(), f.kind
            );
        }
        inst.fault = Some(f);
        self.request_sync(i, now + delay, Trigger::Retry);
    }

    pub(super) fn recovered(&mut self, i: usize) {
        let now = self.system.now();
        let inst = &mut self.instances[i];
        if let Some(old) = inst.fault.take() {
            log::info!(
                vtysh = inst.vtysh.display().to_string().as_str(), was = old.kind;
                "FRR via {} works again; its state is reconciled.", inst.vtysh.display()
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
