//! `anycastd check --frr`: will FRR do what this configuration needs? Asks each FRR
//! instance, without changing anything, and turns the answers into findings an operator
//! can act on: vtysh runs and reaches bgpd, every needed BGP instance exists (and its
//! ASN), each prefix is in the routing table (else the import check holds it back), and
//! no eBGP neighbor will be sent nothing because of `bgp ebgp-requires-policy`.
//!
//! The judging is pure ([`judge`]) and reads the running config with the daemon's own
//! parser ([`frr::parse_running_config`]); [`run`] only collects vtysh output.

use crate::config::{Config, Prefix, canonical};
use crate::frr::{self, Vrf, vrf_label};
use crate::vtysh::Runner;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub text: String,
}

impl Default for Answers {
    fn default() -> Self {
        Answers {
            running: Err("not asked".to_string()),
            in_rib: BTreeMap::new(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok     ",
            Level::Warning => "WARNING",
            Level::Error => "ERROR  ",
        };
        write!(f, "  {tag}  {}", self.text)
    }
}

pub(crate) fn ok(text: String) -> Finding {
    Finding {
        level: Level::Ok,
        text,
    }
}
pub(crate) fn warn(text: String) -> Finding {
    Finding {
        level: Level::Warning,
        text,
    }
}
pub(crate) fn error(text: String) -> Finding {
    Finding {
        level: Level::Error,
        text,
    }
}

/// What one FRR instance answered.
#[derive(Debug, Clone)]
pub struct Answers {
    /// `-d bgpd -c 'show running-config'`: Ok(text) or why it failed.
    pub running: Result<String, String>,
    /// Prefix → whether zebra's RIB has exactly it; absent: unknown.
    pub in_rib: BTreeMap<(Vrf, ipnetwork::IpNetwork), bool>,
}

/// Judge one FRR instance for the prefixes that go through it.
pub fn judge(vtysh: &str, prefixes: &[&Prefix], answers: &Answers) -> Vec<Finding> {
    let mut f = Vec::new();
    let text = match &answers.running {
        Ok(t) => t,
        Err(e) => {
            f.push(error(format!(
                "cannot read bgpd's running config through {vtysh}: {e}"
            )));
            return f;
        }
    };
    let running = match frr::parse_running_config(text) {
        Ok(r) => r,
        Err(e) => {
            f.push(error(format!("bgpd's running config through {vtysh}: {e}")));
            return f;
        }
    };
    f.push(ok(format!("{vtysh} runs and bgpd answers")));
    let vrfs: BTreeSet<&Vrf> = prefixes.iter().map(|p| &p.vrf).collect();
    for vrf in vrfs {
        let users: Vec<String> = prefixes
            .iter()
            .filter(|p| &p.vrf == vrf)
            .map(|p| p.canonical())
            .collect();
        match running.instances.get(vrf) {
            None => f.push(error(format!(
                "no BGP instance for VRF {:?} (needed by {}): configure `router bgp <ASN>{}` in FRR; anycastd never creates one",
                vrf_label(vrf),
                users.join(", "),
                vrf.as_ref().map(|v| format!(" vrf {v}")).unwrap_or_default()
            ))),
            Some(inst) => {
                f.push(ok(format!("BGP instance for VRF {:?}: AS {}", vrf_label(vrf), inst.asn)));
                if inst.ebgp_requires_policy {
                    for (n, nb) in &inst.neighbors {
                        // A peer group is judged through its members.
                        if nb.is_peer_group {
                            continue;
                        }
                        let Some(remote) = inst.remote_as(n) else { continue };
                        let ebgp = frr::is_ebgp(&inst.asn, remote);
                        for afi in ["ipv4", "ipv6"] {
                            if ebgp && inst.active(n, afi) && !inst.has_route_map_out(n, afi) {
                                f.push(warn(format!(
                                    "VRF {:?}: eBGP neighbor {n} (remote-as {remote}) has no outbound route-map for {afi} unicast and `bgp ebgp-requires-policy` is on: FRR sends it nothing. Add `neighbor {n} route-map <MAP> out` or `no bgp ebgp-requires-policy`",
                                    vrf_label(vrf)
                                )));
                            }
                        }
                    }
                }
            }
        }
    }
    for p in prefixes {
        let key = (p.vrf.clone(), p.network);
        let label = format!("{} (VRF {:?})", p.canonical(), vrf_label(&p.vrf));
        let Some(inst) = running.instances.get(&p.vrf) else {
            continue;
        };
        if !inst.import_check {
            f.push(ok(format!("{label}: `no bgp network import-check` is set; announced whatever the routing table says")));
            continue;
        }
        match answers.in_rib.get(&key) {
            Some(true) => f.push(ok(format!("{label}: in the routing table, the import check will let it through"))),
            Some(false) => f.push(warn(format!(
                "{label}: not in the routing table: FRR will accept `network {}` but not advertise it (import check). Put the address on lo, e.g. `ip addr add {} dev lo`",
                p.canonical(),
                p.canonical()
            ))),
            None => f.push(warn(format!("{label}: could not ask zebra whether it is in the routing table"))),
        }
        if running.has(&p.vrf, &p.network) {
            f.push(ok(format!("{label}: FRR already has `network {}` (it will be adopted if its service is healthy)", canonical(&p.network))));
        }
    }
    f
}

fn route_command(vrf: &Vrf, net: &ipnetwork::IpNetwork) -> String {
    let family = match net {
        ipnetwork::IpNetwork::V4(_) => "ip",
        ipnetwork::IpNetwork::V6(_) => "ipv6",
    };
    let vrf = vrf
        .as_ref()
        .map(|v| format!(" vrf {v}"))
        .unwrap_or_default();
    format!("show {family} route{vrf} {} json", canonical(net))
}

/// Ask every FRR instance of `config` and print the findings; exit 0 without errors.
pub fn run(config: &Config, runner: &mut dyn Runner) -> u8 {
    let mut worst = Level::Ok;
    for (vtysh, findings) in ask(config, runner) {
        println!("FRR via {}:", vtysh.display());
        for finding in &findings {
            println!("{finding}");
            worst = worst.max(finding.level);
        }
    }
    match worst {
        Level::Error => {
            println!("\nFRR is not ready for this configuration (errors above).");
            1
        }
        Level::Warning => {
            println!("\nFRR can run this configuration, but read the warnings above.");
            0
        }
        Level::Ok => {
            println!("\nFRR is ready for this configuration.");
            0
        }
    }
}

/// The route-maps this FRR instance needs: each prefix's `route_map` and the
/// `drain_route_map`; one FRR does not have is an error (FRR accepts the `network` line
/// with an unknown route-map name, and the announcement is then not what was meant).
pub fn judge_route_maps(
    prefixes: &[&Prefix],
    drain: Option<&str>,
    answers: &Answers,
) -> Vec<Finding> {
    let Some(running) = answers
        .running
        .as_ref()
        .ok()
        .and_then(|t| frr::parse_running_config(t).ok())
    else {
        return Vec::new();
    };
    let mut needed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in prefixes {
        if let Some(rm) = &p.route_map {
            needed
                .entry(rm)
                .or_default()
                .push(format!("route_map of {}", p.canonical()));
        }
    }
    if let Some(rm) = drain {
        needed
            .entry(rm)
            .or_default()
            .push("drain_route_map".to_string());
    }
    needed
        .into_iter()
        .map(|(rm, users)| {
            if running.route_maps.contains(rm) {
                ok(format!("route-map {rm} ({}) is configured", users.join(", ")))
            } else {
                error(format!(
                    "route-map {rm} ({}) is not configured in FRR: add `route-map {rm} permit 10` (with what it should set) to FRR's configuration",
                    users.join(", ")
                ))
            }
        })
        .collect()
}

/// The findings for each FRR instance (each vtysh program) of `config`.
fn ask(config: &Config, runner: &mut dyn Runner) -> Vec<(PathBuf, Vec<Finding>)> {
    let timeout = config.global.vtysh_timeout.max(Duration::from_secs(1));
    let mut by_vtysh: BTreeMap<PathBuf, Vec<&Prefix>> = BTreeMap::new();
    for s in &config.services {
        for p in &s.prefixes {
            let Some(vtysh) = p.router.vtysh() else {
                continue;
            };
            let list = by_vtysh.entry(vtysh.to_path_buf()).or_default();
            if !list.contains(&p) {
                list.push(p);
            }
        }
    }
    let mut report = Vec::new();
    for (vtysh, prefixes) in by_vtysh {
        let mut answers = Answers::default();
        let args: Vec<String> = ["-d", "bgpd", "-c", "show running-config"]
            .map(String::from)
            .into();
        answers.running = match runner.run(&vtysh, &args, timeout, &|| false) {
            Ok(o) if o.success() => Ok(o.stdout),
            Ok(o) => Err(o.summary()),
            Err(e) => Err(e.to_string()),
        };
        // One vtysh per VRF: an unknown VRF answers with text that would spoil the others.
        let vrfs: BTreeSet<&Vrf> = prefixes.iter().map(|p| &p.vrf).collect();
        for vrf in vrfs {
            let group: Vec<&&Prefix> = prefixes.iter().filter(|p| &p.vrf == vrf).collect();
            let args: Vec<String> = group
                .iter()
                .flat_map(|p| ["-c".to_string(), route_command(&p.vrf, &p.network)])
                .collect();
            let Ok(out) = runner.run(&vtysh, &args, timeout, &|| false) else {
                continue;
            };
            let values: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&out.stdout)
                .into_iter::<serde_json::Value>()
                .take_while(Result::is_ok)
                .flatten()
                .collect();
            if values.len() != group.len() {
                continue;
            }
            for (p, v) in group.iter().zip(values) {
                // The key is the prefix as zebra prints it, which need not be our text
                // (FRR prints ::1.2.3.0 where Rust prints ::102:300): compare values.
                let found = v.as_object().is_some_and(|o| {
                    o.keys()
                        .any(|k| k.parse::<ipnetwork::IpNetwork>().ok() == Some(p.network))
                });
                answers.in_rib.insert((p.vrf.clone(), p.network), found);
            }
        }
        let mut findings = judge(&vtysh.display().to_string(), &prefixes, &answers);
        findings.extend(judge_route_maps(
            &prefixes,
            config.global.drain_route_map.as_deref(),
            &answers,
        ));
        report.push((vtysh, findings));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn route_maps_frr_lacks_are_errors() {
        let c = crate::config::parse(
            "[services.dns]\nprefixes.frrouting = [{ prefix = \"203.0.113.53\", route_map = \"ANYCAST-OUT\" }, \"203.0.113.54\"]\nchecks.cabourotte = [\"dns\"]\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let prefixes: Vec<&Prefix> = c.services[0].prefixes.iter().collect();
        let answers = Answers {
            running: Ok("route-map ANYCAST-OUT permit 10\nexit\nrouter bgp 65536\nexit\n".into()),
            ..Default::default()
        };
        let f = judge_route_maps(&prefixes, Some("ANYCASTD-DRAIN"), &answers);
        let texts: Vec<String> = f.iter().map(|x| x.to_string()).collect();
        assert_eq!(f.len(), 2, "{texts:?}");
        assert!(
            f.iter().any(|x| x.level == Level::Error
                && x.text
                    .contains("route-map ANYCASTD-DRAIN (drain_route_map) is not configured")),
            "{texts:?}"
        );
        assert!(
            f.iter()
                .any(|x| x.level == Level::Ok && x.text.contains("ANYCAST-OUT")),
            "{texts:?}"
        );
    }

    fn cfg() -> Config {
        crate::config::parse(
            "[services.dns]\nprefixes.frrouting = [\"203.0.113.53\", \"203.0.113.99\", { prefix = \"198.18.0.1\", vrf = \"blue\" }]\nchecks.cabourotte = [\"dns\"]\n",
            Path::new("t.toml"),
        )
        .unwrap()
    }

    const RUNNING: &str = "router bgp 65536\n neighbor 198.51.100.2 remote-as 64496\n neighbor 10.0.0.1 remote-as internal\n !\n address-family ipv4 unicast\n  network 203.0.113.53/32\n  neighbor 198.51.100.2 activate\n  neighbor 10.0.0.1 activate\n exit-address-family\nexit\n";

    #[test]
    fn findings_an_operator_can_act_on() {
        let c = cfg();
        let prefixes: Vec<&Prefix> = c.services[0].prefixes.iter().collect();
        let mut a = Answers {
            running: Ok(RUNNING.to_string()),
            ..Default::default()
        };
        a.in_rib
            .insert((None, "203.0.113.53/32".parse().unwrap()), true);
        a.in_rib
            .insert((None, "203.0.113.99/32".parse().unwrap()), false);
        let f = judge("/usr/bin/vtysh", &prefixes, &a);
        let text: Vec<String> = f.iter().map(|x| x.to_string()).collect();
        let has = |lvl: Level, s: &str| f.iter().any(|x| x.level == lvl && x.text.contains(s));
        assert!(
            has(Level::Ok, "BGP instance for VRF \"default\": AS 65536"),
            "{text:#?}"
        );
        assert!(
            has(Level::Error, "no BGP instance for VRF \"blue\""),
            "{text:#?}"
        );
        assert!(
            has(Level::Warning, "eBGP neighbor 198.51.100.2"),
            "{text:#?}"
        );
        assert!(
            !has(Level::Warning, "10.0.0.1"),
            "iBGP is not subject to the policy rule"
        );
        assert!(
            has(
                Level::Warning,
                "203.0.113.99/32 (VRF \"default\"): not in the routing table"
            ),
            "{text:#?}"
        );
        assert!(
            has(
                Level::Ok,
                "203.0.113.53/32 (VRF \"default\"): in the routing table"
            ),
            "{text:#?}"
        );
        assert!(
            has(Level::Ok, "already has `network 203.0.113.53/32`"),
            "{text:#?}"
        );
    }

    #[test]
    fn policy_and_import_check_off_are_recognised() {
        let c = cfg();
        let prefixes: Vec<&Prefix> = c.services[0].prefixes.iter().take(1).collect();
        let text = RUNNING.replace(" neighbor 198.51.100.2 remote-as", " no bgp ebgp-requires-policy\n no bgp network import-check\n neighbor 198.51.100.2 remote-as");
        let a = Answers {
            running: Ok(text),
            ..Default::default()
        };
        let f = judge("v", &prefixes, &a);
        assert!(f.iter().all(|x| x.level == Level::Ok), "{f:#?}");
    }

    #[test]
    fn as_notation_is_read_like_any_running_config() {
        // FRR 9.1 and later print the notation on the router line; AS 1.10 is 65546.
        let c = cfg();
        let prefixes: Vec<&Prefix> = c.services[0].prefixes.iter().take(1).collect();
        let text = "router bgp 1.10 as-notation dot\n no bgp network import-check\n neighbor 198.51.100.2 remote-as 0.64496\n neighbor 10.0.0.1 remote-as 65546\n !\n address-family ipv4 unicast\n  network 203.0.113.53/32\n  neighbor 198.51.100.2 activate\n  neighbor 10.0.0.1 activate\n exit-address-family\nexit\n";
        let a = Answers {
            running: Ok(text.to_string()),
            ..Default::default()
        };
        let f = judge("v", &prefixes, &a);
        let has = |lvl: Level, s: &str| f.iter().any(|x| x.level == lvl && x.text.contains(s));
        assert!(has(Level::Ok, "AS 1.10"), "{f:#?}");
        assert!(
            has(
                Level::Warning,
                "eBGP neighbor 198.51.100.2 (remote-as 0.64496)"
            ),
            "{f:#?}"
        );
        assert!(
            !has(Level::Warning, "10.0.0.1"),
            "65546 is AS 1.10 written plain: iBGP. {f:#?}"
        );
        assert!(
            has(Level::Ok, "`no bgp network import-check` is set"),
            "{f:#?}"
        );
    }

    /// The shape FRR 8.4.4 prints (captured, then trimmed): `bgp default ipv4-unicast` is
    /// on unless said otherwise, so an ipv4 `activate` is not printed; a peer group's
    /// settings are printed once, for the group.
    const DEFAULTS: &str = "frr version 8.4.4\nfrr defaults traditional\n!\nrouter bgp 65536\n neighbor PG peer-group\n neighbor PG remote-as 64497\n neighbor 192.0.2.4 peer-group PG\n neighbor 192.0.2.1 remote-as 64496\n neighbor 192.0.2.2 remote-as external\n neighbor 192.0.2.3 remote-as 65536\n !\n address-family ipv4 unicast\n  neighbor PG route-map Z out\n  no neighbor 192.0.2.3 activate\n exit-address-family\n !\n address-family ipv6 unicast\n  neighbor PG activate\n  neighbor 192.0.2.2 activate\n exit-address-family\nexit\n!\nrouter bgp 65537 vrf blue\n no bgp default ipv4-unicast\n bgp default ipv6-unicast\n neighbor 192.0.2.9 remote-as 64496\nexit\n!\nend\n";

    fn policy_warnings(text: &str) -> Vec<String> {
        let c = cfg();
        let prefixes: Vec<&Prefix> = c.services[0].prefixes.iter().collect();
        let a = Answers {
            running: Ok(text.to_string()),
            ..Default::default()
        };
        judge("v", &prefixes, &a)
            .into_iter()
            .filter(|x| x.level == Level::Warning && x.text.contains("eBGP neighbor"))
            .map(|x| {
                let words: Vec<&str> = x.text.split_whitespace().collect();
                // `VRF "default": eBGP neighbor N (remote-as A) has ... for AFI unicast ...`
                let n = words.iter().position(|w| *w == "neighbor").unwrap() + 1;
                let afi = words.iter().position(|w| *w == "unicast").unwrap() - 1;
                format!("{} {} {}", words[1], words[n], words[afi])
            })
            .collect()
    }

    #[test]
    fn ebgp_neighbors_are_judged_with_frr_defaults_and_peer_groups() {
        assert_eq!(
            policy_warnings(DEFAULTS),
            [
                // implicitly active in ipv4 unicast (the default)
                "\"default\": 192.0.2.1 ipv4",
                "\"default\": 192.0.2.2 ipv4",
                "\"default\": 192.0.2.2 ipv6",
                // PG's route-map covers its member in ipv4, not in ipv6 where PG is active
                "\"default\": 192.0.2.4 ipv6",
                // only ipv6 is active by default in this instance
                "\"blue\": 192.0.2.9 ipv6",
            ]
        );
        // The datacenter profile turns ebgp-requires-policy off unless it is printed.
        let dc = DEFAULTS.replace("frr defaults traditional", "frr defaults datacenter");
        assert_eq!(policy_warnings(&dc), Vec::<String>::new());
        let on = dc.replace(
            " neighbor 192.0.2.9",
            " bgp ebgp-requires-policy\n neighbor 192.0.2.9",
        );
        assert_eq!(policy_warnings(&on), ["\"blue\": 192.0.2.9 ipv6"]);
    }

    #[test]
    fn unreachable_bgpd_is_one_error() {
        let c = cfg();
        let prefixes: Vec<&Prefix> = c.services[0].prefixes.iter().collect();
        let a = Answers {
            running: Err("exit status 1: Exiting: failed to connect to any daemons.".into()),
            ..Default::default()
        };
        let f = judge("v", &prefixes, &a);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].level, Level::Error);
    }

    /// A stand-in vtysh: `running` answers `show running-config`, anything else gets
    /// `other`.
    fn script(tag: &str, running: &str, other: &str) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("anycastd-preflight-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("running"), running).unwrap();
        std::fs::write(dir.join("other"), other).unwrap();
        let vtysh = dir.join("vtysh");
        let body = "#!/bin/sh\nd=$(dirname \"$0\")\ncase \"$*\" in *'show running-config'*) exec cat \"$d/running\" ;; *) exec cat \"$d/other\" ;; esac\n";
        std::fs::write(&vtysh, body).unwrap();
        std::fs::set_permissions(&vtysh, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, vtysh)
    }

    fn config_for(vtysh: &Path) -> Config {
        let text = format!(
            "[services.dns]\nprefixes.frrouting = [{{ prefix = \"203.0.113.53\", vtysh = \"{}\" }}]\nchecks.cabourotte = [\"dns\"]\n",
            vtysh.display()
        );
        crate::config::parse(&text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn a_cut_off_running_config_is_an_error_not_a_shorter_config() {
        // 500 iBGP neighbours (about 20 KiB) before the eBGP one: past the 8 KiB cap.
        let mut running = String::from("router bgp 65536\n");
        for i in 0..500 {
            running += &format!(
                " neighbor 10.0.{}.{} remote-as internal\n",
                i / 256,
                i % 256
            );
        }
        running += " neighbor 198.51.100.2 remote-as 64496\n !\n address-family ipv4 unicast\n  neighbor 198.51.100.2 activate\n exit-address-family\nexit\n";
        let (dir, vtysh) = script("cut", &running, "{\"203.0.113.53/32\":[{}]}\n");
        let report = ask(&config_for(&vtysh), &mut crate::vtysh::Capped(8 * 1024));
        let _ = std::fs::remove_dir_all(&dir);
        let f = &report[0].1;
        assert!(
            f.iter()
                .any(|x| x.level == Level::Error && x.text.contains("cut off at 8 KiB")),
            "{f:#?}"
        );
        assert!(!f.iter().any(|x| x.text.contains("bgpd answers")), "{f:#?}");
    }

    /// Answers `show running-config` with `running` and anything else with `other`.
    struct Answering {
        running: String,
        other: String,
    }

    impl Runner for Answering {
        fn run(
            &mut self,
            _: &Path,
            args: &[String],
            _: Duration,
            _: &dyn Fn() -> bool,
        ) -> Result<crate::vtysh::Output, crate::vtysh::Error> {
            let running = args.iter().any(|a| a == "show running-config");
            Ok(crate::vtysh::Output {
                code: Some(0),
                stdout: if running { &self.running } else { &self.other }.clone(),
                stderr: String::new(),
                elapsed: Duration::ZERO,
            })
        }
    }

    #[test]
    fn zebra_naming_a_prefix_its_own_way_is_still_that_prefix() {
        // FRR's inet_ntop prints ::1.2.3.0 dotted where Rust prints ::102:300: the
        // answer's key is the same prefix in other words.
        let c = crate::config::parse(
            "[services.v6]\nprefixes.frrouting = [\"::1.2.3.0/120\"]\nchecks.cabourotte = [\"v6\"]\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let mut frr = Answering {
            running: "router bgp 65536\nexit\n".into(),
            other: "{\"::1.2.3.0/120\":[{\"prefix\":\"::1.2.3.0/120\"}]}\n".into(),
        };
        let f = &ask(&c, &mut frr)[0].1;
        assert!(
            f.iter().any(|x| x.level == Level::Ok
                && x.text
                    .contains("::102:300/120 (VRF \"default\"): in the routing table")),
            "{f:#?}"
        );
    }
}
