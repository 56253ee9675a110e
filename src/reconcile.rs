//! Routing intent: what should be announced, compared with what FRR has, gives a plan.
//!
//! Level-triggered: the plan is computed from the whole desired state and the whole
//! running config every time, so a lost `network` line (bgpd restarted) or one added by
//! hand comes out as a difference like any other. Only prefixes the configuration manages
//! appear in `intents`, so nothing else in FRR is ever touched. Pure.

use crate::frr::{Changes, RunningConfig, Vrf};
use crate::service::Health;
use ipnetwork::IpNetwork;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Announce,
    Withdraw,
    /// Not decided yet: leave FRR as it is (adopt what is there).
    Keep,
    /// In a drain time: keep it announced if FRR has it (through the drain route-map),
    /// never announce it anew.
    Hold,
}

/// A prefix listed by several services is announced only while every one of them is
/// healthy; one unhealthy service withdraws it; otherwise it waits for the undecided.
pub fn intent(healths: impl IntoIterator<Item = Health>) -> Intent {
    let mut undecided = false;
    for h in healths {
        match h {
            Health::Unhealthy => return Intent::Withdraw,
            Health::Undecided => undecided = true,
            Health::Healthy => {}
        }
    }
    if undecided {
        Intent::Keep
    } else {
        Intent::Announce
    }
}

pub type Intents = BTreeMap<(Vrf, IpNetwork), Intent>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Changes,
    /// VRFs (None: the default one) that have no BGP instance in FRR although prefixes
    /// should be announced there. Never created by us.
    pub missing_instances: BTreeSet<Vrf>,
}

/// The plan for `intents` against `running`; an announcement goes out through its entry
/// in `route_maps` (none: a plain `network P`), and one present with another route-map (or
/// with one it should not have) is announced again, which FRR takes as a change of it.
pub fn plan(
    intents: &Intents,
    running: &RunningConfig,
    route_maps: &BTreeMap<(Vrf, IpNetwork), String>,
) -> Plan {
    let mut p = Plan::default();
    for (key, intent) in intents {
        let (vrf, net) = key;
        let present = running.has(vrf, net);
        let wanted = route_maps.get(key).map(String::as_str);
        match intent {
            Intent::Announce if !running.instances.contains_key(vrf) => {
                p.missing_instances.insert(vrf.clone());
            }
            Intent::Announce if !present || running.route_map(vrf, net) != wanted => {
                p.changes.announce.insert(key.clone());
                if present {
                    p.changes.rerouted.insert(key.clone());
                }
                if let Some(rm) = wanted {
                    p.changes.route_maps.insert(key.clone(), rm.to_string());
                }
            }
            Intent::Hold if present && running.route_map(vrf, net) != wanted => {
                p.changes.announce.insert(key.clone());
                p.changes.rerouted.insert(key.clone());
                if let Some(rm) = wanted {
                    p.changes.route_maps.insert(key.clone(), rm.to_string());
                }
            }
            Intent::Withdraw if present => {
                p.changes.withdraw.insert((vrf.clone(), *net));
            }
            _ => {}
        }
    }
    p
}

/// Shutdown: withdraw every managed prefix that FRR has, whatever the health.
pub fn withdraw_all<'a>(
    managed: impl IntoIterator<Item = &'a (Vrf, IpNetwork)>,
    running: &RunningConfig,
) -> Changes {
    let mut c = Changes::default();
    for (vrf, net) in managed {
        if running.has(vrf, net) {
            c.withdraw.insert((vrf.clone(), *net));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frr::{BgpInstance, parse_running_config};

    #[test]
    fn a_network_line_with_the_wrong_route_map_is_announced_again() {
        let rc = parse_running_config(
            "router bgp 65536\n address-family ipv4 unicast\n  network 203.0.113.53/32 route-map OLD\n  network 203.0.113.54/32\n  network 203.0.113.55/32 route-map X\n exit-address-family\nexit\n",
        )
        .unwrap();
        let k = |s: &str| (None, s.parse::<IpNetwork>().unwrap());
        let intents: Intents = [
            (k("203.0.113.53/32"), Intent::Announce),
            (k("203.0.113.54/32"), Intent::Announce),
            (k("203.0.113.55/32"), Intent::Announce),
        ]
        .into();
        let rms = BTreeMap::from([
            (k("203.0.113.53/32"), "NEW".to_string()),
            (k("203.0.113.55/32"), "X".to_string()),
        ]);
        let p = plan(&intents, &rc, &rms);
        assert_eq!(p.changes.rerouted, BTreeSet::from([k("203.0.113.53/32")]));
        // 53: another route-map; 54: right (none); 55: right (X).
        assert_eq!(p.changes.announce, BTreeSet::from([k("203.0.113.53/32")]));
        assert_eq!(p.changes.route_maps[&k("203.0.113.53/32")], "NEW");
        // A route-map it should not have: announced again, plain.
        let p = plan(&intents, &rc, &BTreeMap::new());
        assert_eq!(
            p.changes.announce,
            BTreeSet::from([k("203.0.113.53/32"), k("203.0.113.55/32")])
        );
        assert!(p.changes.route_maps.is_empty());
        // Held: swapped to the drain route-map when present, never announced anew.
        let held: Intents = [
            (k("203.0.113.53/32"), Intent::Hold),
            (k("203.0.113.56/32"), Intent::Hold),
        ]
        .into();
        let drain = BTreeMap::from([
            (k("203.0.113.53/32"), "DRAIN".to_string()),
            (k("203.0.113.56/32"), "DRAIN".to_string()),
        ]);
        let p = plan(&held, &rc, &drain);
        assert_eq!(p.changes.announce, BTreeSet::from([k("203.0.113.53/32")]));
        assert_eq!(p.changes.route_maps[&k("203.0.113.53/32")], "DRAIN");
    }

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    fn running(default: &[&str], vrfs: &[(&str, &[&str])]) -> RunningConfig {
        let mut rc = RunningConfig::default();
        rc.instances.insert(
            None,
            BgpInstance {
                asn: "65536".into(),
                networks: default.iter().map(|s| net(s)).collect(),
                ..Default::default()
            },
        );
        for (v, nets) in vrfs {
            rc.instances.insert(
                Some(v.to_string()),
                BgpInstance {
                    asn: "65537".into(),
                    networks: nets.iter().map(|s| net(s)).collect(),
                    ..Default::default()
                },
            );
        }
        rc
    }

    #[test]
    fn shared_prefixes_need_every_service_healthy() {
        use Health::*;
        assert_eq!(intent([Healthy, Healthy]), Intent::Announce);
        assert_eq!(intent([Healthy, Unhealthy]), Intent::Withdraw);
        assert_eq!(intent([Undecided, Unhealthy]), Intent::Withdraw);
        assert_eq!(intent([Healthy, Undecided]), Intent::Keep);
        assert_eq!(intent([Undecided]), Intent::Keep);
    }

    #[test]
    fn differences_only() {
        let rc = running(
            &["203.0.113.1/32", "203.0.113.2/32", "10.0.0.0/8"],
            &[("blue", &[])],
        );
        let mut i = Intents::new();
        i.insert((None, net("203.0.113.1/32")), Intent::Announce); // present: nothing
        i.insert((None, net("203.0.113.2/32")), Intent::Withdraw); // present: withdraw
        i.insert((None, net("203.0.113.3/32")), Intent::Announce); // absent: announce
        i.insert((None, net("203.0.113.4/32")), Intent::Withdraw); // absent: nothing
        i.insert(
            (Some("blue".into()), net("198.18.0.1/32")),
            Intent::Announce,
        );
        i.insert((None, net("203.0.113.5/32")), Intent::Keep);
        let p = plan(&i, &rc, &BTreeMap::new());
        assert_eq!(
            p.changes.announce,
            BTreeSet::from([
                (None, net("203.0.113.3/32")),
                (Some("blue".into()), net("198.18.0.1/32"))
            ])
        );
        assert_eq!(
            p.changes.withdraw,
            BTreeSet::from([(None, net("203.0.113.2/32"))])
        );
        assert!(p.missing_instances.is_empty());
    }

    #[test]
    fn missing_instances_are_reported_not_created() {
        let rc = running(&[], &[]);
        let mut i = Intents::new();
        i.insert((Some("red".into()), net("198.18.0.1/32")), Intent::Announce);
        i.insert((Some("red".into()), net("198.18.0.2/32")), Intent::Withdraw);
        let p = plan(&i, &rc, &BTreeMap::new());
        assert!(p.changes.is_empty());
        assert_eq!(
            p.missing_instances,
            BTreeSet::from([Some("red".to_string())])
        );
        let none = plan(&i, &parse_running_config("").unwrap(), &BTreeMap::new());
        assert_eq!(
            none.missing_instances,
            BTreeSet::from([Some("red".to_string())])
        );
    }

    #[test]
    fn shutdown_withdraws_only_what_is_managed_and_present() {
        let rc = running(&["203.0.113.1/32", "10.0.0.0/8"], &[]);
        let managed = [(None, net("203.0.113.1/32")), (None, net("203.0.113.9/32"))];
        let c = withdraw_all(&managed, &rc);
        assert_eq!(c.withdraw, BTreeSet::from([(None, net("203.0.113.1/32"))]));
        assert!(c.announce.is_empty());
    }
}
