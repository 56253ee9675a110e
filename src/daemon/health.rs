//! The health phase: poll one check (or collect the result of one that ran on, a command),
//! log its change of state once, feed the result to
//! every service that lists it, and turn a change of a service's health into work for the
//! FRR instances of that service's prefixes only (a quick apply, or a full sync when the
//! last read cannot be trusted). Also when each check is first polled (the splay).

use super::*;

impl Daemon<'_> {
    pub(super) fn poll(&mut self, c: usize, due: Instant, now: Instant) {
        let spec = self.checks[c].spec.clone();
        let started = Instant::now();
        if let Some(outcome) = self.prober.start(&spec, now) {
            self.record(c, outcome, started.elapsed(), now);
        }
        // Keep the cadence; if we fell more than an interval behind, start again from now.
        let mut next = due + spec.interval;
        if next <= now {
            next = now + spec.interval;
        }
        self.checks[c].next_due = Some(next);
        self.schedule.push(next, Task::Poll(c));
    }

    /// Results that arrived after their poll started (command checks that ended).
    pub(super) fn collect_finished(&mut self) {
        self.collect_hooks();
        let done = self.prober.finished(self.system.now());
        if done.is_empty() {
            return;
        }
        let now = self.system.now();
        for f in done {
            // A check a reload removed meanwhile has no place any more.
            if let Some(&c) = self.check_index.get(&f.check) {
                self.record(c, f.outcome, f.took, now);
            }
        }
    }

    /// One result of check `c`: log its change of state once, feed it to every service
    /// that lists it.
    fn record(&mut self, c: usize, outcome: Outcome, took: Duration, now: Instant) {
        let spec = &self.checks[c].spec;
        log::debug!(
            name = spec.name.as_str(), url = spec.target();
            "Polled {}: {}",
            spec.title(),
            match &outcome { Ok(()) => "success".to_string(), Err(f) => f.to_string() }
        );
        self.checks[c].poll_seconds = took.as_secs_f64();
        self.checks[c].last_poll = Some(self.system.wall());
        let changed = self.checks[c].last.as_ref().map(Result::is_ok) != Some(outcome.is_ok());
        self.log_check_change(c, &outcome);
        let reason = match &outcome {
            Ok(()) => "success".to_string(),
            Err(f) => f.to_string(),
        };
        let ok = outcome.is_ok();
        self.checks[c].last = Some(outcome);
        let users = self.checks[c].users.clone();
        for (si, pos) in users {
            if let Some(t) = self.services[si].record(pos, ok, &reason) {
                self.on_transition(si, &t, now);
            }
        }
        if changed {
            self.publish();
        }
    }

    /// One log line per change of a check's state, not per poll.
    fn log_check_change(&self, c: usize, outcome: &Outcome) {
        let rt = &self.checks[c];
        let spec = &rt.spec;
        let interval = crate::duration::format(spec.interval);
        let (name, target) = (spec.name.as_str(), spec.target());
        match (&rt.last, outcome) {
            (Some(Err(_)), Ok(())) => log::info!(
                name = name, url = target;
                "{} passes again.", spec.title()
            ),
            (_, Ok(())) => {}
            (Some(Err(old)), Err(new)) if old.same_kind(new) => {}
            (_, Err(Failure::NoResult)) => log::error!(
                name = name, url = target, interval = interval.as_str(),
                reason = Failure::NoResult.to_string().as_str();
                "{} does not exist, returning an unhealthy status.", spec.title()
            ),
            (_, Err(f)) => log::error!(
                name = name, url = target, interval = interval.as_str(),
                reason = f.to_string().as_str();
                "{} is failing: {}", spec.title(), f
            ),
        }
    }

    fn on_transition(&mut self, si: usize, t: &Transition, now: Instant) {
        self.since[si] = self.system.wall();
        self.transitions[si] += 1;
        let name = self.services[si].name.clone();
        let fields = (self.prefix_list(si), self.check_list(si));
        match t.to {
            Health::Healthy => log::info!(
                service_name = name.as_str(), service_prefixes = fields.0.as_str(),
                service_health_checks = fields.1.as_str(), service_healthy = true,
                reason = t.reason.as_str();
                "Service \"{name}\" is now considered healthy, announcing related prefixes."
            ),
            Health::Unhealthy => log::info!(
                service_name = name.as_str(), service_prefixes = fields.0.as_str(),
                service_health_checks = fields.1.as_str(), service_healthy = false,
                reason = t.reason.as_str();
                "Service \"{name}\" is now considered unhealthy, denouncing related prefixes."
            ),
            Health::Undecided => {}
        }
        // Only this service's prefixes are looked at again.
        let window = self.config.services[si]
            .checks
            .iter()
            .map(|c| c.interval)
            .min()
            .unwrap_or(ANNOUNCE_BATCH)
            .min(ANNOUNCE_BATCH);
        let withdraw = t.to == Health::Unhealthy;
        for i in self.touch(si) {
            self.request_health(i, now, withdraw, window);
        }
    }

    /// A health change for instance `i`: applied from what the last read showed when
    /// that is trustworthy (no fault, nothing refused), else by a full sync.
    fn request_health(&mut self, i: usize, now: Instant, withdraw: bool, window: Duration) {
        let inst = &mut self.instances[i];
        if inst.seen.is_none() && inst.trigger == Trigger::Startup && inst.sync_due.is_some() {
            // The startup sync, due once every check was polled, plans this change too.
            return;
        }
        let full_due = inst.sync_due.is_some_and(|d| d <= now);
        let trusted = inst.fault.is_none()
            && inst.seen.is_some()
            && inst.asns.is_some()
            && inst.rejected.is_empty();
        if !trusted || full_due {
            return self.request_sync(i, now, Trigger::Health);
        }
        // A change on its own goes at once; one that follows another closely waits a
        // little, so that a burst (polls are spread over their interval) is one call.
        let gap = if withdraw { APPLY_GAP } else { window };
        let at = inst.last_apply.map_or(now, |last| now.max(last + gap));
        if inst.apply_due.is_some_and(|due| due <= at) {
            return;
        }
        inst.apply_due = Some(at);
        self.schedule.push(at, Task::Apply(i));
    }
}

/// When each check is first polled: the checks that share an interval are spread evenly
/// over min(interval, 1 ms × their number), in configuration order, so that thousands of
/// checks do not all come due in the same millisecond of every interval. The first of each
/// group is polled at once; every check's first poll comes within its interval.
pub(super) fn splay(checks: &[CheckRt], now: Instant) -> Vec<(usize, Instant)> {
    let mut groups: BTreeMap<Duration, Vec<usize>> = BTreeMap::new();
    for (c, rt) in checks.iter().enumerate() {
        groups.entry(rt.spec.interval).or_default().push(c);
    }
    let mut out = Vec::with_capacity(checks.len());
    for (interval, members) in groups {
        let n = u32::try_from(members.len()).unwrap_or(u32::MAX);
        let span = interval.min(SPLAY_STEP.saturating_mul(n));
        for (k, c) in (0u32..).zip(members) {
            out.push((c, now + span.mul_f64(f64::from(k) / f64::from(n))));
        }
    }
    out.sort_by_key(|&(c, at)| (at, c));
    out
}
