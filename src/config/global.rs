//! The optional `[global]` table: the vtysh, reconcile and shutdown deadlines, where the
//! state and metrics files go (an absolute path, or "" for none), and how many command
//! checks may run at once.

use super::values::describe;
use super::values::{Ctx, Res};
use super::{
    GLOBAL_KEYS, Global, MAX_DRAIN_TIME, MAX_RUNNING_CHECKS_LIMIT, MAX_VTYSH_TIMEOUT, MIN_INTERVAL,
    MIN_SHUTDOWN_TIMEOUT,
};
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;
use toml::de::DeValue;

impl Ctx<'_> {
    pub(super) fn global(&self, v: &Spanned<DeValue<'_>>) -> Res<Global> {
        let t = self.table("global", v)?;
        self.known_keys("global", t, GLOBAL_KEYS)?;
        let mut g = Global::default();
        let fields: [(&str, &mut Duration); 3] = [
            ("vtysh_timeout", &mut g.vtysh_timeout),
            ("reconcile_interval", &mut g.reconcile_interval),
            ("shutdown_timeout", &mut g.shutdown_timeout),
        ];
        for (name, slot) in fields {
            if let Some(v) = t.get(name) {
                let min = if name == "shutdown_timeout" {
                    MIN_SHUTDOWN_TIMEOUT
                } else {
                    MIN_INTERVAL
                };
                let key = format!("global.{name}");
                *slot = self.positive_duration(&key, v, min)?;
                if name == "vtysh_timeout" {
                    self.at_most(
                        &key,
                        v,
                        *slot,
                        MAX_VTYSH_TIMEOUT,
                        "nothing else runs while one call waits",
                    )?;
                }
            }
        }
        if let Some(v) = t.get("drain_time") {
            g.drain_time = self.duration("global.drain_time", v)?;
            self.at_most(
                "global.drain_time",
                v,
                g.drain_time,
                MAX_DRAIN_TIME,
                "a drain, and a stop, hold the routes this long",
            )?;
        }
        if let Some(v) = t.get("drain_route_map") {
            g.drain_route_map = Some(self.route_map_name("global.drain_route_map", v)?);
        }
        if let Some(v) = t.get("hook") {
            g.hook = Some(self.hook_argv("global.hook", v)?);
        }
        if let Some(v) = t.get("drain_file") {
            let text = self.string("global.drain_file", v)?;
            if !text.starts_with('/') || text.ends_with('/') || text.chars().any(char::is_control) {
                return Err(self.err(
                    "global.drain_file",
                    v.span(),
                    format!(
                        "{text:?}: must be an absolute file path (drains must survive a restart)"
                    ),
                ));
            }
            g.drain_file = PathBuf::from(text);
        }
        for name in ["state_file", "metrics_file"] {
            let Some(v) = t.get(name) else { continue };
            let key = format!("global.{name}");
            let text = self.string(&key, v)?;
            let path = match text {
                "" => None,
                p if p.starts_with('/')
                    && !p.ends_with('/')
                    && !p.chars().any(char::is_control) =>
                {
                    Some(PathBuf::from(p))
                }
                p => {
                    return Err(self.err(
                        &key,
                        v.span(),
                        format!("{p:?}: must be an absolute file path, or \"\" to turn it off"),
                    ));
                }
            };
            if name == "state_file" {
                g.state_file = path;
            } else {
                g.metrics_file = path;
            }
        }
        if let Some(v) = t.get("max_running_checks") {
            let bad = |found: String| {
                self.err(
                    "global.max_running_checks",
                    v.span(),
                    format!("must be an integer from 1 to {MAX_RUNNING_CHECKS_LIMIT}, {found}"),
                )
            };
            g.max_running_checks = match v.get_ref() {
                DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| (1..=MAX_RUNNING_CHECKS_LIMIT).contains(n))
                    .ok_or_else(|| bad(format!("got {i}")))?,
                other => return Err(bad(format!("found {}", describe(other)))),
            };
        }
        Ok(g)
    }
}
