//! What `anycastd check` prints: the configuration as the daemon understood it, with every
//! default filled in, so an operator sees exactly what will run.

use crate::config::{Config, Probe};
use crate::duration::format as dur;
use crate::frr::{afi, vrf_label};
use std::fmt::Write as _;

pub fn describe(c: &Config) -> String {
    let mut out = String::new();
    let prefixes: usize = c.services.iter().map(|s| s.prefixes.len()).sum();
    let checks: usize = c.services.iter().map(|s| s.checks.len()).sum();
    let _ = writeln!(
        out,
        "{}: valid: {} service(s), {prefixes} prefix(es), {checks} check(s)",
        c.path.display(),
        c.services.len()
    );
    let g = &c.global;
    let _ = writeln!(
        out,
        "global: vtysh_timeout {}, reconcile_interval {}, shutdown_timeout {}, state_file {}, metrics_file {}, max_running_checks {}, drain_file {}",
        dur(g.vtysh_timeout),
        dur(g.reconcile_interval),
        dur(g.shutdown_timeout),
        g.state_file
            .as_ref()
            .map_or("off".to_string(), |p| p.display().to_string()),
        g.metrics_file
            .as_ref()
            .map_or("off".to_string(), |p| p.display().to_string()),
        g.max_running_checks,
        g.drain_file.display(),
    );
    let _ = writeln!(
        out,
        "maintenance: drain_time {}, drain_route_map {}, hook {}",
        dur(g.drain_time),
        g.drain_route_map.as_deref().unwrap_or("none"),
        g.hook
            .as_ref()
            .map_or("none".to_string(), |h| format!("{h:?}")),
    );
    for s in &c.services {
        let _ = writeln!(
            out,
            "\nservice {:?} (rise {}, fall {})",
            s.name, s.rise, s.fall
        );
        for p in &s.prefixes {
            let _ = writeln!(
                out,
                "  prefix {}  {} unicast, vrf {}, {}{}",
                p.canonical(),
                afi(&p.network),
                vrf_label(&p.vrf),
                p.router.title(),
                p.route_map
                    .as_ref()
                    .map_or(String::new(), |r| format!(", route-map {r}"))
            );
        }
        for k in &s.checks {
            let what = match &k.probe {
                Probe::Cabourotte { url, max_age } => format!(
                    "url {url}, interval {}, timeout {}, max_age {}",
                    dur(k.interval),
                    dur(k.timeout),
                    max_age.map_or("off".to_string(), dur)
                ),
                Probe::Command { argv, .. } => format!(
                    "command {argv:?}, interval {}, timeout {}",
                    dur(k.interval),
                    dur(k.timeout)
                ),
                Probe::Http { url, status, body } => format!(
                    "url {url}, status {}, body {}, interval {}, timeout {}",
                    status.map_or("2xx".to_string(), |s| s.to_string()),
                    body.as_ref()
                        .map_or("any".to_string(), |b| format!("{b:?}")),
                    dur(k.interval),
                    dur(k.timeout)
                ),
                Probe::Tcp { address } => format!(
                    "address {address}, interval {}, timeout {}",
                    dur(k.interval),
                    dur(k.timeout)
                ),
            };
            let _ = writeln!(out, "  check  {} {:?}  {what}", k.kind().name(), k.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn shows_every_resolved_value() {
        let c = crate::config::parse(
            "[services.dns]\nprefixes.frrouting = [\"203.0.113.53\", { prefix = \"2001:db8::53\", vrf = \"blue\" }]\nchecks.cabourotte = [\"dns\", { name = \"x\", max_age = 0 }]\n",
            Path::new("/etc/anycastd/config.toml"),
        )
        .unwrap();
        let text = describe(&c);
        assert!(
            text.starts_with(
                "/etc/anycastd/config.toml: valid: 1 service(s), 2 prefix(es), 2 check(s)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "prefix 203.0.113.53/32  ipv4 unicast, vrf default, FRR via /usr/bin/vtysh"
            ),
            "{text}"
        );
        assert!(
            text.contains("prefix 2001:db8::53/128  ipv6 unicast, vrf blue"),
            "{text}"
        );
        assert!(text.contains("check  cabourotte \"dns\"  url http://127.0.0.1:9013, interval 5s, timeout 1s, max_age 2m"), "{text}");
        assert!(text.contains("max_age off"), "{text}");
    }
}
