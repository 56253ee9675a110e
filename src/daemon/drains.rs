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
                    "Service \"{name}\" is drained{}: withdrawing its prefixes until it is undrained.",
                    if d.reason.is_empty() { String::new() } else { format!(" ({})", d.reason) }
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
        if !quiet {
            for (i, trigger) in touched {
                self.request_sync(i, now, trigger);
            }
        }
        if any {
            self.publish();
        }
    }

    /// The drain of a service that makes this prefix withdrawn, if any.
    pub(super) fn drain_of(&self, svcs: &[usize]) -> Option<&crate::drain::Drain> {
        svcs.iter()
            .find_map(|&s| self.drains.get(&self.services[s].name))
    }
}
