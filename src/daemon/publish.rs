//! What the daemon tells the outside after every change and reconcile: the state file
//! for `anycastd status`, the Prometheus textfile, and sd_notify readiness and status.
//! Building the snapshot is pure; writing it is the only I/O here, and a failure to write
//! is logged once and never stops the daemon.

use super::*;
use crate::reconcile::Intent;
use crate::state::{CheckSnap, FrrSnap, Phase, PrefixSnap, RecordedPrefix, ServiceSnap, Snapshot};

fn unix(t: SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn iso(t: SystemTime) -> String {
    crate::logging::timestamp(t)
}

impl Daemon<'_> {
    /// When service `si`'s prefixes end their drain time, if they are in one.
    fn draining_until(&self, si: usize) -> Option<SystemTime> {
        let (wall, now) = (self.system.wall(), self.system.now());
        let end = match self.stopping {
            Some((until, _)) => until,
            None => *self.holds.get(&self.services[si].name)?,
        };
        Some(wall + end.saturating_duration_since(now))
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        let now = self.system.wall();
        let g = &self.config.global;
        let mut services = Vec::new();
        for (si, svc) in self.services.iter().enumerate() {
            let spec = &self.config.services[si];
            let checks = spec
                .checks
                .iter()
                .enumerate()
                .map(|(pos, c)| {
                    let rt = self.svc_checks[si].get(pos).map(|&idx| &self.checks[idx]);
                    let st = &svc.checks[pos].1;
                    CheckSnap {
                        name: c.name.clone(),
                        kind: c.kind().name().to_string(),
                        url: c.target().to_string(),
                        interval_seconds: c.interval.as_secs_f64(),
                        passing: st.passing,
                        last_result: st.last_reason.clone(),
                        last_poll_unix: rt.and_then(|r| r.last_poll).map(unix),
                        last_poll_seconds: rt.and_then(|r| r.last_poll.map(|_| r.poll_seconds)),
                        good_streak: st.good_streak,
                        bad_streak: st.bad_streak,
                    }
                })
                .collect();
            let prefixes = spec
                .prefixes
                .iter()
                .map(|p| {
                    let key = (p.vrf.clone(), p.network);
                    let inst = self.instances.iter().position(|i| i.router == p.router);
                    let intended =
                        inst.map(|i| self.intent_of(i, &key))
                            .map_or("keep", |it| match it {
                                Intent::Announce => "announce",
                                Intent::Withdraw => "withdraw",
                                Intent::Keep => "keep",
                                Intent::Hold => "hold",
                            });
                    let route_map = inst
                        .filter(|_| matches!(intended, "announce" | "hold"))
                        .and_then(|i| self.route_map_of(i, &key));
                    let draining_until_unix = (intended == "hold")
                        .then(|| self.draining_until(si))
                        .flatten()
                        .map(unix);
                    let inst = inst.map(|i| &self.instances[i]);
                    PrefixSnap {
                        route_map,
                        draining_until_unix,
                        prefix: p.canonical(),
                        vrf: vrf_label(&p.vrf).to_string(),
                        via: (&p.router).into(),
                        intended: intended.to_string(),
                        in_frr: inst.and_then(|i| i.seen.as_ref()).map(|s| s.contains(&key)),
                        advertised: inst.and_then(|i| i.advertised.get(&key).copied()),
                    }
                })
                .collect();
            services.push(ServiceSnap {
                name: svc.name.clone(),
                health: svc.health.to_string(),
                since: iso(self.since[si]),
                since_unix: unix(self.since[si]),
                reason: svc.reason(),
                rise: svc.rise,
                fall: svc.fall,
                transitions: self.transitions[si],
                drained: self.drains.get(&svc.name).cloned(),
                checks,
                prefixes,
            });
        }
        let frr = self
            .instances
            .iter()
            .map(|i| FrrSnap {
                via: (&i.router).into(),
                ok: i.fault.is_none() && i.seen.is_some(),
                error: i
                    .fault
                    .as_ref()
                    .map(|f| format!("{}: {}", i.backend.fault_text(f.kind), f.detail)),
                last_sync_unix: i.last_sync.map(unix),
                vtysh_calls: i.stats.calls,
                vtysh_failures: i.stats.failures,
                vtysh_seconds: i.stats.seconds,
                drift_repairs: i.drift_repairs,
                missing_vrfs: i
                    .missing_logged
                    .iter()
                    .map(|v| vrf_label(v).to_string())
                    .collect(),
                rejected: i
                    .rejected
                    .iter()
                    .map(|((v, n), why)| format!("{} (vrf {}): {why}", canonical(n), vrf_label(v)))
                    .collect(),
            })
            .collect();
        let refresh = self
            .config
            .services
            .iter()
            .flat_map(|s| s.checks.iter().map(|c| c.interval))
            .chain([g.reconcile_interval])
            .max()
            .unwrap_or(g.reconcile_interval);
        let retiring = self
            .instances
            .iter()
            .flat_map(|i| {
                i.retiring.iter().map(|(vrf, net)| RecordedPrefix {
                    prefix: canonical(net),
                    vrf: vrf_label(vrf).to_string(),
                    via: (&i.router).into(),
                })
            })
            .collect();
        let (phase, unconfirmed) = match &self.stopped {
            Some(remaining) => (Phase::StoppedUnconfirmed, remaining.clone()),
            None => (Phase::Running, Vec::new()),
        };
        Snapshot {
            phase,
            retiring,
            unconfirmed,
            version: crate::state::VERSION,
            pid: std::process::id(),
            written_at: iso(now),
            written_unix: unix(now),
            started_at: iso(self.started),
            started_unix: unix(self.started),
            config_path: self.config.path.display().to_string(),
            dry_run: self.dry_run,
            ready: self.is_ready(),
            refresh_seconds: refresh.as_secs_f64(),
            services,
            frr,
        }
    }

    fn is_ready(&self) -> bool {
        self.services.iter().all(|s| s.health != Health::Undecided)
            && self.instances.iter().all(|i| i.attempted)
    }

    /// Something the state file, metrics or service manager show changed: write them
    /// soon, at most once per `PUBLISH_GAP`, so a burst of changes is one write.
    pub(super) fn publish(&mut self) {
        if self.publish_due.is_some() {
            return;
        }
        let now = self.system.now();
        let at = self
            .last_publish
            .map_or(now, |last| now.max(last + PUBLISH_GAP));
        self.publish_due = Some(at);
        self.schedule.push(at, Task::Publish);
    }

    /// Write the state file and metrics, and tell the service manager, now.
    pub(super) fn publish_now(&mut self) {
        self.publish_due = None;
        self.last_publish = Some(self.system.now());
        let generation = self.routing_gen;
        let snap = self.snapshot();
        let Some(path) = self.state_path() else {
            self.written_gen = generation;
            return self.publish_rest(&snap);
        };
        {
            let written = serde_json::to_vec(&snap)
                .map_err(std::io::Error::other)
                .and_then(|bytes| self.disk.write(&path, &bytes));
            match written {
                Ok(()) => {
                    self.state_failed = false;
                    self.written_gen = generation;
                }
                Err(e) if !self.state_failed => {
                    self.state_failed = true;
                    log::warn!(path = path.display().to_string().as_str(); "Cannot write the state file {}: {e}", path.display());
                }
                Err(_) => {}
            }
        }
        self.publish_rest(&snap);
    }

    /// Metrics and the service manager.
    fn publish_rest(&mut self, snap: &Snapshot) {
        // A dry run must not overwrite what monitoring reads about the real daemon.
        if let Some(path) = self
            .config
            .global
            .metrics_file
            .clone()
            .filter(|_| !self.dry_run)
        {
            let text = crate::metrics::render(snap);
            match self.disk.write(&path, text.as_bytes()) {
                Ok(()) => self.metrics_failed = false,
                Err(e) if !self.metrics_failed => {
                    self.metrics_failed = true;
                    log::warn!(path = path.display().to_string().as_str(); "Cannot write the metrics file {}: {e}", path.display());
                }
                Err(_) => {}
            }
        }
        let mut status = status_line(snap);
        if self.stopping.is_some() {
            status = format!("draining to stop: {status}");
        }
        if snap.ready && !self.ready_sent {
            self.ready_sent = true;
            log::info!(status = status.as_str(); "Ready: every service decided and FRR reconciled once.");
            self.notifier.send(&format!("READY=1\nSTATUS={status}"));
        } else {
            self.notifier.send(&format!("STATUS={status}"));
        }
    }

    /// A stop has begun and may take `takes`: systemd's stop timeout (`TimeoutStopSec`)
    /// grows to cover it (`EXTEND_TIMEOUT_USEC`, systemd 236 and later), with room for
    /// one call in flight (a poll, or a vtysh or birdc call) and the exit, so a long
    /// `drain_time` or `shutdown_timeout` is not cut short by a SIGKILL. A daemon that
    /// stops before it was ready never says READY=1 afterwards.
    pub(super) fn publish_stopping(&mut self, takes: Duration, status: &str) {
        self.ready_sent = true;
        let in_flight = self
            .config
            .global
            .vtysh_timeout
            .max(crate::config::MAX_TIMEOUT);
        let usec = (takes + in_flight + STOP_MARGIN).as_micros();
        self.notifier.send(&format!(
            "STOPPING=1\nEXTEND_TIMEOUT_USEC={usec}\nSTATUS={status}"
        ));
    }

    /// A clean stop: nothing of ours is left in FRR, so the crash record goes.
    pub(super) fn remove_state_file(&mut self) {
        if let Some(path) = self.state_path() {
            self.disk.remove(&path);
        }
    }

    /// A dry run writes its state beside the real daemon's, never over it.
    fn state_path(&self) -> Option<PathBuf> {
        let path = self.config.global.state_file.as_deref()?;
        crate::state::effective_path(path, self.dry_run)
    }
}

/// `3 services: 2 healthy, 5/6 prefixes announced`
pub fn status_line(s: &Snapshot) -> String {
    let healthy = s.services.iter().filter(|x| x.health == "healthy").count();
    let prefixes: Vec<_> = s.services.iter().flat_map(|x| x.prefixes.iter()).collect();
    let announced = prefixes.iter().filter(|p| p.in_frr == Some(true)).count();
    let mut line = format!(
        "{} services: {healthy} healthy, {announced}/{} prefixes announced",
        s.services.len(),
        prefixes.len()
    );
    let faults = s.frr.iter().filter(|f| f.error.is_some()).count();
    if faults > 0 {
        line += &format!(", {faults} routing daemon instance(s) failing");
    }
    if s.dry_run {
        line += " (dry run)";
    }
    line
}
