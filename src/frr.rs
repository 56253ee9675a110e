//! FRR's dialect, pure: what `vtysh -d bgpd -c 'show running-config'` says is configured,
//! and the vtysh command lines that turn a plan of changes into configuration.
//!
//! This module knows nothing of health or of processes. It never lets vtysh normalise
//! anything: prefixes are canonical before they get here, the address family is chosen
//! from the prefix itself, and a `router bgp` line is only ever built from an instance the
//! running config showed, because FRR silently creates an instance for any other.

use crate::config::canonical;
use ipnetwork::IpNetwork;
use std::collections::{BTreeMap, BTreeSet};

/// `None` is FRR's default VRF.
pub type Vrf = Option<String>;

/// What bgpd's running config says, reduced to what this daemon needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunningConfig {
    pub instances: BTreeMap<Vrf, BgpInstance>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BgpInstance {
    /// As FRR prints it (plain or dotted notation): echoed back unchanged.
    pub asn: String,
    /// `network` lines of the ipv4 and ipv6 unicast address families.
    pub networks: BTreeSet<IpNetwork>,
}

impl RunningConfig {
    pub fn has(&self, vrf: &Vrf, net: &IpNetwork) -> bool {
        self.instances
            .get(vrf)
            .is_some_and(|i| i.networks.contains(net))
    }
}

/// Parse bgpd's running config. Unknown lines are ignored; only the structure FRR has
/// printed since 7.x is relied on: `router bgp ASN [vrf NAME]` at column 0, ` address-family
/// AFI SAFI` at one space, `  network P[ ...]` at two, closed by ` exit-address-family` and
/// `exit` (or `!` in older releases). FRR 9.1 and later may add ` as-notation MODE`.
///
/// A `router bgp` line of any other shape is an error, not "no instance": reading it as
/// absent would make shutdown believe there is nothing left to withdraw.
pub fn parse_running_config(text: &str) -> Result<RunningConfig, String> {
    let mut rc = RunningConfig::default();
    let mut current: Option<Vrf> = None;
    let mut unicast = false;
    for line in text.lines() {
        let line = line.trim_end();
        if !line.starts_with(' ') {
            unicast = false;
            current = None;
            let all: Vec<&str> = line.split_whitespace().collect();
            let words = match all.as_slice() {
                [head @ .., "as-notation", _] => head,
                w => w,
            };
            match words {
                ["router", "bgp", _] => current = Some(None),
                ["router", "bgp", _, "vrf", name] => current = Some(Some(name.to_string())),
                // A BGP view is a separate RIB; we never configure one.
                ["router", "bgp", _, "view", _] => continue,
                ["router", "bgp", ..] => {
                    return Err(format!(
                        "unexpected line in bgpd's running config: {line:?}"
                    ));
                }
                _ => continue,
            }
            if let (Some(vrf), Some(asn)) = (&current, words.get(2)) {
                rc.instances.entry(vrf.clone()).or_default().asn = asn.to_string();
            }
            continue;
        }
        let Some(vrf) = &current else { continue };
        let trimmed = line.trim_start();
        let depth = line.len() - trimmed.len();
        if depth == 1 {
            unicast = matches!(
                trimmed,
                "address-family ipv4 unicast" | "address-family ipv6 unicast"
            );
            continue;
        }
        if depth == 2 && unicast {
            let mut words = trimmed.split_whitespace();
            if words.next() == Some("network") {
                if let Some(Ok(net)) = words.next().map(str::parse::<IpNetwork>) {
                    if let Some(inst) = rc.instances.get_mut(vrf) {
                        inst.networks.insert(net);
                    }
                }
            }
        }
    }
    Ok(rc)
}

/// Changes for one FRR instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub announce: BTreeSet<(Vrf, IpNetwork)>,
    pub withdraw: BTreeSet<(Vrf, IpNetwork)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.announce.is_empty() && self.withdraw.is_empty()
    }
}

pub fn afi(net: &IpNetwork) -> &'static str {
    match net {
        IpNetwork::V4(_) => "ipv4",
        IpNetwork::V6(_) => "ipv6",
    }
}

/// The `-c` arguments of ONE vtysh process that applies `changes`: every withdrawal, in
/// every VRF, before any announcement, because vtysh stops at the first failing command
/// and a rejected announcement must never hold a withdrawal back. Each (VRF, address
/// family) is entered once per pass. Changes for a VRF that `running` does not have are
/// not built (the caller reports them): FRR would create the instance.
pub fn build_commands(running: &RunningConfig, changes: &Changes) -> Vec<String> {
    let mut cmds = vec!["configure terminal".to_string()];
    for (set, verb) in [
        (&changes.withdraw, "no network"),
        (&changes.announce, "network"),
    ] {
        // vrf -> afi -> lines
        let mut by_vrf: BTreeMap<&Vrf, BTreeMap<&str, Vec<String>>> = BTreeMap::new();
        for (vrf, net) in set {
            if running.instances.contains_key(vrf) {
                by_vrf
                    .entry(vrf)
                    .or_default()
                    .entry(afi(net))
                    .or_default()
                    .push(format!("{verb} {}", canonical(net)));
            }
        }
        for (vrf, afis) in by_vrf {
            let Some(inst) = running.instances.get(vrf) else {
                continue;
            };
            cmds.push(router_line(&inst.asn, vrf));
            for (afi, lines) in afis {
                cmds.push(format!("address-family {afi} unicast"));
                cmds.extend(lines);
                cmds.push("exit-address-family".to_string());
            }
            cmds.push("exit".to_string());
        }
    }
    if cmds.len() == 1 {
        return Vec::new();
    }
    cmds.push("end".to_string());
    cmds
}

pub fn router_line(asn: &str, vrf: &Vrf) -> String {
    match vrf {
        None => format!("router bgp {asn}"),
        Some(v) => format!("router bgp {asn} vrf {v}"),
    }
}

/// The human name of a VRF in logs.
pub fn vrf_label(vrf: &Vrf) -> &str {
    vrf.as_deref().unwrap_or("default")
}

/// `show bgp [vrf V] AFI unicast P json`: the paths bgpd has for exactly P.
pub fn show_prefix_command(vrf: &Vrf, net: &IpNetwork) -> String {
    let vrf = vrf
        .as_ref()
        .map(|v| format!(" vrf {v}"))
        .unwrap_or_default();
    format!("show bgp{vrf} {} unicast {} json", afi(net), canonical(net))
}

/// The answers to `n` [`show_prefix_command`]s run in one vtysh process: one JSON object
/// each, in order. A prefix is advertised when one of its paths is valid; a `network`
/// held back by the import check has a path without `"valid":true`.
pub fn parse_advertised(output: &str, n: usize) -> Option<Vec<bool>> {
    let values: Vec<serde_json::Value> = serde_json::Deserializer::from_str(output)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .ok()?;
    if values.len() != n {
        return None;
    }
    Some(
        values
            .iter()
            .map(|v| {
                v.get("paths")
                    .and_then(|p| p.as_array())
                    .is_some_and(|paths| {
                        paths
                            .iter()
                            .any(|p| p.get("valid").and_then(|x| x.as_bool()) == Some(true))
                    })
            })
            .collect(),
    )
}

/// vtysh's answer to `no network P` for a P that is not configured: already withdrawn.
pub const NOT_CONFIGURED: &str = "Can't find static route specified";

/// vtysh's answers (FRR >= 9, mgmtd) while another session holds the configuration lock
/// (`configure terminal file-lock`, as `vtysh -b` takes it): transient, never a refusal.
pub const CONFIG_LOCKED: [&str; 2] = [
    "could not lock candidate DS",
    "candidate datastore locked by another session",
];

/// The output says FRR's configuration is locked by another session.
pub fn config_locked(text: &str) -> bool {
    CONFIG_LOCKED.iter().any(|m| text.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from FRR 8.4.4 (Debian 12): `vtysh -N a -d bgpd -c 'show running-config'`
    /// in the lab, with two `network` lines in the default VRF, one with a route-map, and
    /// one in a VRF instance.
    pub const FRR_8_4: &str = include_str!("../tests/fixtures/running-config-frr-8.4.txt");

    /// Captured from FRR 10.3 (Debian 13) in the test lab (`capture_fixtures` in
    /// tests/integration/frr_pins.rs): the same lines, and VRF `acd6z9-0v` (the lab's
    /// netns VRF, so also an empty `vrf … / exit-vrf` block). FRR 10 puts the route-map
    /// first.
    pub const FRR_10_3: &str = include_str!("../tests/fixtures/running-config-frr-10.3.txt");

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    #[test]
    fn parses_real_frr_output() {
        for (text, vrf_name) in [(FRR_8_4, "fl-vrf123"), (FRR_10_3, "acd6z9-0v")] {
            let rc = parse_running_config(text).unwrap();
            assert_eq!(rc.instances.len(), 2, "{vrf_name}");
            let default = &rc.instances[&None];
            assert_eq!(default.asn, "65536");
            assert_eq!(
                default.networks,
                BTreeSet::from([
                    net("203.0.113.53/32"),
                    net("203.0.113.54/32"),
                    net("2001:db8:53::53/128")
                ])
            );
            let vrf = &rc.instances[&Some(vrf_name.to_string())];
            assert_eq!(vrf.asn, "65537");
            assert_eq!(
                vrf.networks.iter().collect::<Vec<_>>(),
                [&net("203.0.113.123/32")]
            );
            assert!(rc.has(&None, &net("203.0.113.53/32")));
            assert!(!rc.has(&Some("x".into()), &net("203.0.113.53/32")));
        }
    }

    #[test]
    fn ignores_other_address_families_and_daemons() {
        let text = "frr version 8.4.4\nrouter bgp 1\n address-family ipv4 multicast\n  network 10.0.0.0/8\n exit-address-family\n address-family ipv4 unicast\n  network 10.1.0.0/16\n exit-address-family\nexit\n!\nrouter ospf\n network 10.2.0.0/16 area 0\nexit\n";
        let rc = parse_running_config(text).unwrap();
        assert_eq!(rc.instances.len(), 1);
        assert_eq!(
            rc.instances[&None].networks.iter().collect::<Vec<_>>(),
            [&net("10.1.0.0/16")]
        );
    }

    #[test]
    fn older_frr_closes_sections_with_a_bang() {
        let text = "router bgp 65000\n address-family ipv6 unicast\n  network 2001:db8::/32\n exit-address-family\n!\nrouter bgp 65001 vrf red\n!\n";
        let rc = parse_running_config(text).unwrap();
        assert_eq!(rc.instances.len(), 2);
        assert_eq!(rc.instances[&Some("red".into())].asn, "65001");
        assert!(rc.has(&None, &net("2001:db8::/32")));
    }

    #[test]
    fn empty_or_garbage_is_no_instance() {
        assert_eq!(parse_running_config(""), Ok(RunningConfig::default()));
        assert_eq!(
            parse_running_config("% Unknown command\n  network x\n"),
            Ok(RunningConfig::default())
        );
        assert!(parse_running_config("router bgp\n").is_err());
        assert!(parse_running_config("router bgp 1 vrf\n").is_err());
    }

    #[test]
    fn as_notation_and_views() {
        let text = "router bgp 1.10 as-notation dot\n address-family ipv4 unicast\n  network 10.0.0.0/8\n exit-address-family\nexit\nrouter bgp 65537 vrf blue as-notation plain\nexit\nrouter bgp 65538 view v1\n address-family ipv4 unicast\n  network 10.9.0.0/16\n exit-address-family\nexit\n";
        let rc = parse_running_config(text).unwrap();
        assert_eq!(rc.instances[&None].asn, "1.10");
        assert!(rc.has(&None, &net("10.0.0.0/8")));
        assert_eq!(rc.instances[&Some("blue".into())].asn, "65537");
        assert!(
            !rc.has(&None, &net("10.9.0.0/16")),
            "a view is not the default instance"
        );
    }

    #[test]
    fn one_process_for_every_change() {
        let rc = parse_running_config(FRR_8_4).unwrap();
        let mut ch = Changes::default();
        ch.announce.insert((None, net("203.0.113.55/32")));
        ch.announce.insert((None, net("2001:db8:53::54/128")));
        ch.withdraw.insert((None, net("203.0.113.53/32")));
        ch.announce
            .insert((Some("fl-vrf123".into()), net("198.18.0.123/32")));
        ch.announce
            .insert((Some("nosuch".into()), net("198.18.0.1/32")));
        assert_eq!(
            build_commands(&rc, &ch),
            [
                "configure terminal",
                "router bgp 65536",
                "address-family ipv4 unicast",
                "no network 203.0.113.53/32",
                "exit-address-family",
                "exit",
                "router bgp 65536",
                "address-family ipv4 unicast",
                "network 203.0.113.55/32",
                "exit-address-family",
                "address-family ipv6 unicast",
                "network 2001:db8:53::54/128",
                "exit-address-family",
                "exit",
                "router bgp 65537 vrf fl-vrf123",
                "address-family ipv4 unicast",
                "network 198.18.0.123/32",
                "exit-address-family",
                "exit",
                "end",
            ]
        );
    }

    #[test]
    fn import_check_from_real_show_bgp_output() {
        // 203.0.113.53 advertised; 203.0.113.99 configured but not on lo (valid:false);
        // 203.0.113.98 not configured ({}); a VRF prefix advertised; an unknown VRF.
        // FRR 10.3 (same five commands, its VRF prefix is 203.0.113.123): objects separated
        // by an empty line, `{}` on one line, `"importCheckEnabled":true` on the held path.
        for out in [
            include_str!("../tests/fixtures/show-bgp-prefixes-frr-8.4.txt"),
            include_str!("../tests/fixtures/show-bgp-prefixes-frr-10.3.txt"),
        ] {
            assert_eq!(
                parse_advertised(out, 5),
                Some(vec![true, false, false, true, false])
            );
            assert_eq!(parse_advertised(out, 4), None);
        }
        assert_eq!(parse_advertised("% Unknown command", 1), None);
        assert_eq!(
            show_prefix_command(&Some("blue".into()), &net("2001:db8::/32")),
            "show bgp vrf blue ipv6 unicast 2001:db8::/32 json"
        );
    }

    #[test]
    fn nothing_to_build_for_unknown_instances_only() {
        let mut ch = Changes::default();
        ch.announce.insert((None, net("203.0.113.55/32")));
        assert!(build_commands(&RunningConfig::default(), &ch).is_empty());
    }
}
