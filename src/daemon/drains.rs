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
            for (i, key) in &self.svc_prefixes[si] {
                self.instances[*i].dirty.insert(key.clone());
                match touched.iter_mut().find(|(t, _)| t == i) {
                    // A drain outranks an undrain in the audit trail of a shared instance.
                    Some((_, tr)) if trigger == Trigger::Drain => *tr = trigger,
                    Some(_) => {}
                    None => touched.push((*i, trigger)),
                }
            }
        }
        self.drains = new;
        // At start and reload a drain is a state, not an event: no hook.
        for (event, name, si, reason) in events.into_iter().filter(|_| !quiet) {
            for (_, key) in self.svc_prefixes[si].clone() {
                self.run_hook(event, &name, &key, &reason);
            }
        }
        // The end of each drain time that is still running (also after a restart).
        let wall = self.system.wall();
        for si in 0..self.services.len() {
            if let Some(left) = self
                .hold_until(si)
                .and_then(|t| t.duration_since(wall).ok())
            {
                self.schedule.push(now + left, Task::HoldEnd(si));
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

    /// Until when a drained service's prefixes stay announced: its drain's start plus
    /// `drain_time` (wall clock: a restarted daemon holds what is left of it).
    pub(super) fn hold_until(&self, si: usize) -> Option<SystemTime> {
        let t = self.config.global.drain_time;
        if t.is_zero() || self.drains.is_empty() {
            return None;
        }
        let d = self.drains.get(&self.services[si].name)?;
        let since = std::time::UNIX_EPOCH + Duration::from_secs_f64(d.since_unix.max(0.0));
        Some(since + t)
    }

    /// Service `si`'s drain time is over: its prefixes go now.
    pub(super) fn hold_ended(&mut self, si: usize, now: Instant) {
        if !self.is_drained(si) {
            return;
        }
        let mut touched: Vec<usize> = Vec::new();
        for (i, key) in &self.svc_prefixes[si] {
            self.instances[*i].dirty.insert(key.clone());
            if !touched.contains(i) {
                touched.push(*i);
            }
        }
        for i in touched {
            self.request_sync(i, now, Trigger::Drain);
        }
        self.publish();
    }

    /// SIGTERM/SIGINT with a `drain_time`: every announced prefix goes out through
    /// `drain_route_map` (or simply stays) for the drain time, then the usual stop
    /// withdraws everything. Checks keep running meanwhile: a failing one withdraws at
    /// once. A second signal skips the rest of the wait.
    pub(super) fn begin_graceful_stop(&mut self, sig: Signal) {
        let now = self.system.now();
        let t = self.config.global.drain_time;
        log::info!(
            signal = sig.name(), drain_time = crate::duration::format(t).as_str();
            "Received {}: draining every service for {} before withdrawing everything (send it again to skip the wait).",
            sig.name(), crate::duration::format(t)
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
    }

    /// The drain of a service that makes this prefix withdrawn, if any.
    pub(super) fn drain_of(&self, svcs: &[usize]) -> Option<&crate::drain::Drain> {
        svcs.iter()
            .find_map(|&s| self.drains.get(&self.services[s].name))
    }
}
