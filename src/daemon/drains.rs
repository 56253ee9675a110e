//! Drains in the running daemon: the drain file is looked at every half second (a `stat`;
//! it is read only when it changed), and a service whose drain state changed asks the FRR
//! instances of its prefixes for a sync: withdrawn while drained, whatever its health;
//! announced again on undrain while its checks pass.

use super::*;

impl Daemon<'_> {
    /// Read the drain file if it changed; `quiet`: at start and reload, where the prefixes
    /// are planned anyway (the change is logged, not synced here).
    pub(super) fn load_drains(&mut self, now: Instant, quiet: bool) {
        let path = self.config.global.drain_file.clone();
        let stamp = crate::drain::stamp(&path);
        if stamp.is_some() && stamp == self.drain_stamp {
            return;
        }
        if stamp.is_none() && self.drain_stamp.is_none() && !quiet {
            return;
        }
        let new = match crate::drain::read(&path) {
            Ok(d) => {
                if self.drain_failed {
                    log::info!(drain_file = path.display().to_string().as_str(); "The drain file {} is readable again.", path.display());
                }
                self.drain_failed = false;
                d.services
            }
            Err(e) if self.drain_stamp.is_none() && self.drains.is_empty() && quiet => {
                // At start, a drain file that cannot be read may hide drains: fail closed,
                // every service drained, until it can be read.
                log::error!(
                    drain_file = path.display().to_string().as_str(), reason = e.to_string().as_str();
                    "Cannot read the drain file at start: treating every service as drained until it can be read: {e}"
                );
                self.drain_failed = true;
                let d = crate::drain::now(&format!("the drain file cannot be read: {e}"));
                self.services
                    .iter()
                    .map(|s| (s.name.clone(), d.clone()))
                    .collect()
            }
            Err(e) => {
                if !self.drain_failed {
                    log::error!(
                        drain_file = path.display().to_string().as_str(), reason = e.to_string().as_str();
                        "Cannot read the drain file, keeping the drains known so far: {e}"
                    );
                }
                self.drain_failed = true;
                return;
            }
        };
        self.drain_stamp = stamp;
        let mut touched: Vec<(usize, Trigger)> = Vec::new();
        let mut events = Vec::new();
        let mut any = false;
        for si in 0..self.services.len() {
            let name = self.services[si].name.clone();
            let (old, newd) = (self.drains.get(&name), new.get(&name));
            if old == newd {
                continue;
            }
            any = true;
            match (old, newd) {
                (_, Some(d)) => log::info!(
                    service_name = name.as_str(), reason = d.reason.as_str(), since = d.since.as_str();
                    "Service \"{name}\" is drained{}: {} until it is undrained.",
                    if d.reason.is_empty() { String::new() } else { format!(" ({})", d.reason) },
                    self.hold_text()
                ),
                (Some(_), None) => log::info!(
                    service_name = name.as_str(), health = self.services[si].health.to_string().as_str();
                    "Service \"{name}\" is undrained: its prefixes are announced again while it is healthy (now {}).",
                    self.services[si].health
                ),
                (None, None) => {}
            }
            let trigger = if newd.is_some() {
                Trigger::Drain
            } else {
                Trigger::Undrain
            };
            let (event, reason) = match (newd, old) {
                (Some(d), _) => (super::hooks::HookEvent::Drain, d.reason.clone()),
                (None, Some(d)) => (super::hooks::HookEvent::Undrain, d.reason.clone()),
                (None, None) => (super::hooks::HookEvent::Undrain, String::new()),
            };
            events.push((event, name.clone(), si, reason));
            for i in self.touch(si) {
                match touched.iter_mut().find(|(t, _)| *t == i) {
                    // A drain outranks an undrain in the audit trail of a shared instance.
                    Some((_, tr)) if trigger == Trigger::Drain => *tr = trigger,
                    Some(_) => {}
                    None => touched.push((i, trigger)),
                }
            }
        }
        let started: Vec<usize> = (0..self.services.len())
            .filter(|&si| {
                let name = &self.services[si].name;
                new.contains_key(name) && !self.drains.contains_key(name)
            })
            .collect();
        self.drains = new;
        // Drain times: counted from each drain's start as the file says (so a restarted
        // daemon holds only what is left), at most `drain_time` from now whatever the
        // clock says, and from then on on the monotonic clock.
        let drains = &self.drains;
        self.holds.retain(|name, _| drains.contains_key(name));
        let t = self.config.global.drain_time;
        let wall = self.system.wall();
        for si in started {
            let name = self.services[si].name.clone();
            if t.is_zero() || self.holds.contains_key(&name) {
                continue;
            }
            let since = self
                .drains
                .get(&name)
                .and_then(|d| Duration::try_from_secs_f64(d.since_unix).ok())
                .and_then(|d| std::time::UNIX_EPOCH.checked_add(d))
                .filter(|s| *s <= wall)
                .unwrap_or(wall);
            let left = (since + t)
                .duration_since(wall)
                .unwrap_or(Duration::ZERO)
                .min(t);
            if !left.is_zero() {
                self.holds.insert(name, now + left);
                self.schedule.push(now + left, Task::HoldEnd(si));
            }
        }
        if quiet {
            // A reload cleared the schedule: the drain times still running go on.
            let ends: Vec<(usize, Instant)> = (0..self.services.len())
                .filter_map(|si| self.holds.get(&self.services[si].name).map(|e| (si, *e)))
                .collect();
            for (si, end) in ends {
                self.schedule.push(end, Task::HoldEnd(si));
            }
        }
        // At start and reload a drain is a state, not an event: no hook.
        for (event, name, si, reason) in events.into_iter().filter(|_| !quiet) {
            for (_, key) in self.svc_prefixes[si].clone() {
                self.run_hook(event, &name, &key, &reason);
            }
        }
        if !quiet {
            for (i, trigger) in touched {
                self.request_sync(i, now, trigger);
            }
        }
        if any {
            self.publish();
        }
    }

    fn hold_text(&self) -> String {
        let g = &self.config.global;
        match (g.drain_time.is_zero(), &g.drain_route_map) {
            (true, _) => "withdrawing its prefixes".to_string(),
            (false, Some(rm)) => format!(
                "announcing its prefixes through route-map {rm} for {}, then withdrawing them",
                crate::duration::format(g.drain_time)
            ),
            (false, None) => format!(
                "keeping its prefixes for {}, then withdrawing them",
                crate::duration::format(g.drain_time)
            ),
        }
    }

    /// Service `si` is drained and still in its drain time.
    pub(super) fn in_hold(&self, si: usize) -> bool {
        !self.holds.is_empty()
            && self
                .holds
                .get(&self.services[si].name)
                .is_some_and(|end| self.system.now() < *end)
    }

    /// Service `si`'s drain time is over: its prefixes go now.
    pub(super) fn hold_ended(&mut self, si: usize, now: Instant) {
        let name = self.services[si].name.clone();
        match self.holds.get(&name) {
            // Not this service's current drain time (an undrain and a new drain since).
            Some(end) if *end > now + TIMER_SLACK => return,
            Some(_) => {
                self.holds.remove(&name);
            }
            None => return,
        }
        if !self.is_drained(si) {
            return;
        }
        for i in self.touch(si) {
            self.request_sync(i, now, Trigger::Drain);
        }
        self.publish();
    }

    /// SIGTERM/SIGINT with a `drain_time`: every announced prefix goes out through
    /// `drain_route_map` (or simply stays) for the drain time, then the usual stop
    /// withdraws everything. Checks keep running meanwhile: a failing one withdraws at
    /// once. A second signal skips the rest of the wait.
    pub(super) fn begin_graceful_stop(&mut self, sig: Signal) -> bool {
        // Nothing announced (as far as every instance was read): nothing to drain.
        let nothing = self
            .instances
            .iter()
            .all(|i| i.seen.as_ref().is_some_and(|s| s.is_empty()));
        if nothing {
            return false;
        }
        let now = self.system.now();
        let t = self.config.global.drain_time;
        log::info!(
            signal = sig.name(), drain_time = crate::duration::format(t).as_str();
            "Received {}: draining every service for {} before withdrawing everything (send it again to skip the wait).",
            sig.name(), crate::duration::format(t)
        );
        self.publish_stopping(
            t + self.config.global.shutdown_timeout,
            "draining every service before withdrawing",
        );
        self.stopping = Some((now + t, sig));
        self.schedule.push(now + t, Task::Stop);
        if self.config.global.drain_route_map.is_some() {
            for i in 0..self.instances.len() {
                self.instances[i].sync_due = None;
                self.request_sync(i, now, Trigger::Drain);
            }
        }
        self.publish();
        true
    }

    /// The drain of a service that makes this prefix withdrawn, if any.
    pub(super) fn drain_of(&self, svcs: &[usize]) -> Option<&crate::drain::Drain> {
        svcs.iter()
            .find_map(|&s| self.drains.get(&self.services[s].name))
    }
}
