//! Property tests of the pure core: the configuration loader and the running-config
//! parser never panic, whatever text they get, and the FRR dialect round-trips through a
//! model of FRR: `build_commands` applied to the model's running config, printed as FRR
//! 8.4 prints it and read back by `parse_running_config`, gives exactly the expected
//! networks. Case counts are set so that `cargo test --lib` stays fast (about two
//! seconds); `PROPTEST_CASES=100000 cargo test --lib proptests` runs longer. A failure
//! prints the shrunk input (and proptest records it under `proptest-regressions/`).

use crate::config::{self, canonical};
use crate::frr::{self, Changes, Vrf};
use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// `n` cases, or `PROPTEST_CASES` from the environment for a longer run.
fn cases(n: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

const FRR_8_4: &str = include_str!("../tests/fixtures/running-config-frr-8.4.txt");
/// Neighbors, peer groups and FRR 9.1's `as-notation`, in the shape FRR prints them.
const NEIGHBORS: &str = "frr version 9.1\nfrr defaults datacenter\n!\nrouter bgp 1.10 as-notation dot\n bgp ebgp-requires-policy\n neighbor PG peer-group\n neighbor PG remote-as external\n neighbor swp1 interface peer-group PG\n neighbor 192.0.2.1 remote-as 0.64496\n !\n address-family ipv4 unicast\n  network 203.0.113.53/32\n  neighbor PG route-map OUT out\n  no neighbor 192.0.2.1 activate\n exit-address-family\n !\n address-family ipv6 unicast\n  network 2001:db8::/32\n  neighbor PG activate\n exit-address-family\nexit\n!\nrouter bgp 65537 vrf blue\n no bgp default ipv4-unicast\n bgp default ipv6-unicast\nexit\n!\nend\n";

// ---------------------------------------------------------------------------------------
// The configuration loader

/// A TOML string literal for any text (basic string, every non-printable escaped).
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out + "\""
}

fn ipv4_text() -> impl Strategy<Value = String> {
    (any::<[u8; 4]>(), proptest::option::of(0u8..40)).prop_map(|(a, len)| {
        let ip = Ipv4Addr::from(a);
        match len {
            Some(l) => format!("{ip}/{l}"),
            None => ip.to_string(),
        }
    })
}

fn ipv6_text() -> impl Strategy<Value = String> {
    (any::<u128>(), proptest::option::of(0u8..140)).prop_map(|(a, len)| {
        let ip = Ipv6Addr::from(a);
        match len {
            Some(l) => format!("{ip}/{l}"),
            None => ip.to_string(),
        }
    })
}

/// Strings of the shapes the schema's values take, near the edges, and anything.
fn string_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,22}(ns|us|ms|s|m|h|d|w|y)?",
        "[0-9]{0,3}\\.[0-9]{0,12}(ms|s|m)?",
        "P(T)?[0-9]{0,12}(\\.[0-9]{0,10})?(S|M|H|D)?",
        "[0-9]{1,3}(h|m|s) ?[0-9]{1,3}(m|s|ms)",
        ipv4_text(),
        ipv6_text(),
        Just("198.18.0.123".to_string()),
        Just("2001:db8:53::53".to_string()),
        "https?://[a-z0-9.:\\[\\]-]{0,20}(:[0-9]{0,6})?(/[a-z/]{0,6})?",
        Just("http://127.0.0.1:9013".to_string()),
        "[A-Za-z0-9 ._-]{0,40}",
        "/[a-z/.]{0,24}",
        Just(String::new()),
        any::<String>(),
    ]
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => string_value().prop_map(|s| quoted(&s)),
        2 => (-3i64..1100).prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| format!("{f:?}")),
        1 => select(vec!["nan", "inf", "-inf", "1e400", "0.0", "-0.0", "1_000", "0x10", "1979-05-27T07:32:00Z"])
            .prop_map(String::from),
        1 => any::<bool>().prop_map(|b| b.to_string()),
    ]
}

/// A key of the schema (mostly), dotted or quoted now and then.
fn key() -> impl Strategy<Value = String> {
    let known = select(config::all_keys()).prop_map(String::from);
    prop_oneof![
        8 => known.clone(),
        1 => (known.clone(), known).prop_map(|(a, b)| format!("{a}.{b}")),
        1 => Just("prefixes.frrouting".to_string()),
        1 => Just("checks.cabourotte".to_string()),
        1 => "[a-z_]{1,8}",
        1 => any::<String>().prop_map(|s| quoted(&s)),
    ]
}

fn value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((key(), inner), 0..5).prop_map(|kv| {
                let pairs: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", pairs.join(", "))
            }),
        ]
    })
}

fn service_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,6}",
        1 => any::<String>().prop_map(|s| quoted(&s)),
    ]
}

/// One line of a TOML-ish document built from the schema.
fn toml_line() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("[global]".to_string()),
        1 => Just("[services]".to_string()),
        2 => service_name().prop_map(|n| format!("[services.{n}]")),
        1 => service_name().prop_map(|n| format!("[services.{n}.prefixes]")),
        1 => service_name().prop_map(|n| format!("[[services.{n}.prefixes.frrouting]]")),
        1 => service_name().prop_map(|n| format!("[[services.{n}.checks.cabourotte]]")),
        8 => (key(), value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => any::<String>(),
    ]
}

/// Mostly `good`, now and then any value at all.
fn mostly(good: impl Strategy<Value = String> + 'static) -> impl Strategy<Value = String> {
    prop_oneof![19 => good, 1 => value()]
}

/// A duration in one of the accepted forms: mostly within every bound (100 ms to 10 s),
/// often just past the upper ones, sometimes anywhere from 1 ms to a day and a bit.
fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (100u64..10_000).prop_map(|n| quoted(&format!("{n}ms"))),
        3 => (1u64..=10).prop_map(|n| quoted(&format!("{n}s"))),
        2 => (1u64..=10).prop_map(|n| n.to_string()),
        1 => (1u64..=10).prop_map(|n| quoted(&format!("PT{n}S"))),
        1 => (1u64..10, 0u64..1000).prop_map(|(a, b)| format!("{a}.{b:03}")),
        2 => (10_001u64..120_000).prop_map(|n| quoted(&format!("{n}ms"))),
        1 => (1u64..90_000_000).prop_map(|n| quoted(&format!("{n}ms"))),
        1 => (0u64..100_000).prop_map(|n| n.to_string()),
    ]
}

fn prefix_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<[u8; 4]>().prop_map(|a| Ipv4Addr::from(a).to_string()),
        3 => canonical_prefix().prop_map(|n| canonical(&n)),
        2 => any::<u128>().prop_map(|a| Ipv6Addr::from(a).to_string()),
        1 => ipv4_text(),
        1 => ipv6_text(),
    ]
}

/// A document that is valid, or a value or two away from it, so that both the accepting
/// and every rejecting path of the validation run.
fn near_valid_document() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![
        3 => mostly(prefix_text().prop_map(|p| quoted(&p))),
        2 => (
            prefix_text(),
            proptest::option::of(mostly("[A-Za-z0-9._-]{1,35}".prop_map(|v| quoted(&v)))),
            proptest::option::of(mostly("/[a-z/]{1,12}".prop_map(|v| quoted(&v)))),
        )
            .prop_map(|(p, vrf, vtysh)| {
                let mut t = format!("{{ prefix = {}", quoted(&p));
                if let Some(v) = vrf {
                    t += &format!(", vrf = {v}");
                }
                if let Some(v) = vtysh {
                    t += &format!(", vtysh = {v}");
                }
                t + " }"
            }),
    ];
    let check = prop_oneof![
        mostly("[a-z][a-z0-9_-]{0,8}( [a-z]{1,3})?".prop_map(|n| quoted(&n))),
        (
            "[a-z]{1,8}",
            proptest::option::of(mostly(duration_text())),
            proptest::option::of(mostly(duration_text())),
            proptest::option::of(mostly(duration_text())),
            proptest::option::of(mostly(
                "http://(127\\.0\\.0\\.1|localhost|\\[::1\\])(:[0-9]{1,5})?(/[a-z]{0,5})?/?"
                    .prop_map(|u| quoted(&u))
            )),
        )
            .prop_map(|(n, iv, to, age, url)| {
                let mut t = format!("{{ name = {}", quoted(&n));
                for (k, v) in [
                    ("interval", iv),
                    ("timeout", to),
                    ("max_age", age),
                    ("url", url),
                ] {
                    if let Some(v) = v {
                        t += &format!(", {k} = {v}");
                    }
                }
                t + " }"
            }),
    ];
    let service = (
        prop::collection::vec(prefix, 1..4),
        prop::collection::vec(check, 1..3),
        proptest::option::of(mostly((1u32..1001).prop_map(|n| n.to_string()))),
        proptest::option::of(mostly((1u32..1001).prop_map(|n| n.to_string()))),
    )
        .prop_map(|(prefixes, checks, rise, fall)| {
            let mut s = format!(
                "prefixes.frrouting = [{}]\nchecks.cabourotte = [{}]\n",
                prefixes.join(", "),
                checks.join(", ")
            );
            if let Some(r) = rise {
                s += &format!("rise = {r}\n");
            }
            if let Some(f) = fall {
                s += &format!("fall = {f}\n");
            }
            s
        });
    let file = prop_oneof![
        Just(quoted("")),
        "/[a-z]{1,6}/[a-z]{1,6}\\.json".prop_map(|p| quoted(&p))
    ];
    let global = (
        proptest::option::of(mostly(duration_text())),
        proptest::option::of(mostly(duration_text())),
        proptest::option::of(mostly(duration_text())),
        proptest::option::of(mostly(file.clone())),
        proptest::option::of(mostly(file)),
    )
        .prop_map(|(vt, ri, st, sf, mf)| {
            let mut g = String::from("[global]\n");
            for (k, v) in config::GLOBAL_KEYS.iter().zip([vt, ri, st, sf, mf]) {
                if let Some(v) = v {
                    g += &format!("{k} = {v}\n");
                }
            }
            g
        });
    (
        global,
        prop::collection::btree_map("[a-z]{1,6}", service, 1..4),
    )
        .prop_map(|(g, services)| {
            let s: String = services
                .iter()
                .map(|(name, body)| format!("[services.{name}]\n{body}"))
                .collect();
            format!("{g}{s}")
        })
}

/// What every configuration the loader accepts must satisfy (the bounds it documents).
fn assert_valid(c: &config::Config) {
    use std::time::Duration;
    let g = &c.global;
    assert!(g.vtysh_timeout >= Duration::from_millis(100));
    assert!(g.vtysh_timeout <= config::MAX_VTYSH_TIMEOUT);
    assert!(g.reconcile_interval >= Duration::from_millis(100));
    assert!(g.shutdown_timeout >= Duration::from_secs(1));
    assert!(!c.services.is_empty());
    for s in &c.services {
        assert!((1..=1000).contains(&s.rise) && (1..=1000).contains(&s.fall));
        for p in &s.prefixes {
            assert_eq!(p.network.network(), p.network.ip(), "not canonical: {p:?}");
            if let Some(v) = &p.vrf {
                assert!(!v.is_empty() && v.len() <= 35, "{v:?}");
            }
            assert!(p.router.vtysh().is_some_and(|v| v.is_absolute()), "{p:?}");
        }
        for ch in &s.checks {
            assert!(ch.interval >= Duration::from_millis(100));
            assert!(ch.timeout >= Duration::from_millis(10));
            assert!(ch.timeout <= config::MAX_TIMEOUT);
            assert!(!ch.target().ends_with('/'), "{:?}", ch.target());
        }
    }
}

fn load(text: &str) {
    match config::parse(text, Path::new("/etc/anycastd/config.toml")) {
        Ok(c) => assert_valid(&c),
        Err(e) => {
            // The message, with its line and column, is built without panicking too.
            let _ = e.to_string();
            if let Some((line, col)) = e.position {
                assert!(line >= 1 && col >= 1, "{e}");
                assert!(line <= text.lines().count().max(1) + 1, "{e}");
            }
        }
    }
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn the_config_loader_never_panics_on_any_text(text in any::<String>()) {
        load(&text);
    }

    #[test]
    fn the_config_loader_never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        load(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn the_config_loader_never_panics_on_schema_shaped_documents(
        lines in prop::collection::vec(toml_line(), 0..24)
    ) {
        load(&lines.join("\n"));
    }

    #[test]
    fn what_the_config_loader_accepts_is_within_its_bounds(text in near_valid_document()) {
        load(&text);
    }
}

// ---------------------------------------------------------------------------------------
// The running-config parser

/// Lines FRR prints (or nearly), at every depth the parser cares about.
fn frr_line() -> impl Strategy<Value = String> {
    let words = select(vec![
        "router bgp 65536",
        "router bgp 65537 vrf blue",
        "router bgp 1.10 as-notation dot",
        "router bgp 65538 view v1",
        "router bgp",
        "router bgp 1 vrf",
        "router bgp 1 vrf a b",
        "router ospf",
        "frr defaults datacenter",
        "frr defaults",
        "!",
        "exit",
        "end",
        " address-family ipv4 unicast",
        " address-family ipv6 unicast",
        " address-family ipv4 multicast",
        " address-family",
        " exit-address-family",
        " no bgp ebgp-requires-policy",
        " bgp ebgp-requires-policy",
        " no bgp network import-check",
        " no bgp default ipv4-unicast",
        " bgp default ipv6-unicast",
        " neighbor 198.51.100.2 remote-as 64496",
        " neighbor swp1 interface remote-as external",
        " neighbor PG peer-group",
        " neighbor 192.0.2.4 peer-group PG",
        " neighbor",
        "  network 203.0.113.53/32",
        "  network 2001:db8::/32 route-map X",
        "  network 10.0.0.1/8",
        "  network garbage",
        "  network",
        "  neighbor PG activate",
        "  no neighbor 192.0.2.4 activate",
        "  neighbor 198.51.100.2 route-map OUT out",
        "  no neighbor",
        "",
        " ",
        "\t",
    ])
    .prop_map(String::from);
    prop_oneof![
        6 => words,
        1 => ("[ \t]{0,3}", "[a-z0-9./:-]{0,12}( [a-z0-9./:-]{0,12}){0,4}")
            .prop_map(|(indent, rest)| format!("{indent}{rest}")),
        1 => any::<String>(),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index),
    Duplicate(Index),
    Swap(Index, Index),
    Insert(Index, String),
    Indent(Index, usize),
    Dedent(Index),
    ReplaceWord(Index, Index, String),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Delete),
        any::<Index>().prop_map(Mutation::Duplicate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (any::<Index>(), frr_line()).prop_map(|(i, l)| Mutation::Insert(i, l)),
        (any::<Index>(), 1usize..4).prop_map(|(i, n)| Mutation::Indent(i, n)),
        any::<Index>().prop_map(Mutation::Dedent),
        (
            any::<Index>(),
            any::<Index>(),
            "[a-z0-9./:+-]{0,10}|\\PC{0,3}"
        )
            .prop_map(|(i, w, s)| Mutation::ReplaceWord(i, w, s)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for m in mutations {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = lines.len();
        match m {
            Mutation::Delete(i) => {
                lines.remove(i.index(n));
            }
            Mutation::Duplicate(i) => {
                let l = lines[i.index(n)].clone();
                lines.insert(i.index(n), l);
            }
            Mutation::Swap(a, b) => lines.swap(a.index(n), b.index(n)),
            Mutation::Insert(i, l) => lines.insert(i.index(n + 1), l.clone()),
            Mutation::Indent(i, k) => lines[i.index(n)].insert_str(0, &" ".repeat(*k)),
            Mutation::Dedent(i) => {
                let l = &mut lines[i.index(n)];
                *l = l.trim_start().to_string();
            }
            Mutation::ReplaceWord(i, w, s) => {
                let l = &mut lines[i.index(n)];
                let indent = l.len() - l.trim_start().len();
                let mut words: Vec<String> = l.split_whitespace().map(String::from).collect();
                if !words.is_empty() {
                    let k = w.index(words.len());
                    words[k] = s.clone();
                }
                *l = format!("{}{}", &l[..indent], words.join(" "));
            }
            Mutation::Truncate(i) => {
                let l = &mut lines[i.index(n)];
                let mut cut = i.index(l.len() + 1);
                while !l.is_char_boundary(cut) {
                    cut -= 1;
                }
                l.truncate(cut);
            }
        }
    }
    lines.join("\n")
}

/// The parser's one error: a column-0 `router bgp` line of a shape it does not know.
fn check_parse(text: &str) {
    if let Err(e) = frr::parse_running_config(text) {
        let odd_router_line = text
            .lines()
            .any(|l| !l.starts_with(' ') && l.split_whitespace().take(2).eq(["router", "bgp"]));
        assert!(odd_router_line, "an error without a router bgp line: {e}");
    }
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn the_running_config_parser_never_panics_on_any_text(text in any::<String>()) {
        check_parse(&text);
    }

    #[test]
    fn the_running_config_parser_never_panics_on_frr_shaped_lines(
        lines in prop::collection::vec(frr_line(), 0..40)
    ) {
        check_parse(&lines.join("\n"));
    }

    #[test]
    fn the_running_config_parser_never_panics_on_mutated_fixtures(
        fixture in select(vec![FRR_8_4, NEIGHBORS]),
        mutations in prop::collection::vec(mutation(), 1..8)
    ) {
        check_parse(&mutate(fixture, &mutations));
    }
}

// ---------------------------------------------------------------------------------------
// build_commands -> a model of FRR -> parse_running_config

/// How an instance prints its ASN (FRR 9.1 and later: `as-notation`).
#[derive(Debug, Clone, Copy)]
enum Notation {
    /// FRR 8.4: no `as-notation` at all.
    Plain,
    /// ` as-notation plain` printed.
    PlainExplicit,
    /// asdot: dotted from 65536 on.
    Dot,
    /// asdot+: always dotted.
    DotPlus,
}

#[derive(Debug, Clone)]
struct ModelInstance {
    asn: u32,
    notation: Notation,
    /// ipv4 and ipv6 unicast `network` lines, with their route-map.
    networks: BTreeMap<IpNetwork, Option<String>>,
}

impl ModelInstance {
    fn printed_asn(&self) -> String {
        let dotted = format!("{}.{}", self.asn >> 16, self.asn & 0xffff);
        match self.notation {
            Notation::Plain | Notation::PlainExplicit => self.asn.to_string(),
            Notation::Dot if self.asn < 65536 => self.asn.to_string(),
            Notation::Dot | Notation::DotPlus => dotted,
        }
    }
}

/// FRR's running config as bgpd keeps it, changed by vtysh commands as FRR 8.4 does.
#[derive(Debug, Clone, Default)]
struct FrrModel {
    instances: BTreeMap<Vrf, ModelInstance>,
    /// Instances a `router bgp` line created (FRR does that silently).
    created: Vec<Vrf>,
}

/// The model's own reading of an ASN, plain or dotted (independent of `frr::asn_value`).
fn model_asn(text: &str) -> Option<u32> {
    if let Some((h, l)) = text.split_once('.') {
        let (h, l): (u32, u32) = (h.parse().ok()?, l.parse().ok()?);
        return (h <= 0xffff && l <= 0xffff).then_some((h << 16) | l);
    }
    text.parse().ok()
}

impl FrrModel {
    /// One vtysh process: the commands in order, stopping at the first error.
    fn apply(&mut self, cmds: &[String]) -> Result<(), String> {
        let mut ctx: Option<Vrf> = None;
        let mut family: Option<&str> = None;
        let mut configuring = false;
        for c in cmds {
            let w: Vec<&str> = c.split_whitespace().collect();
            let unknown = || Err(format!("% Unknown command: {c}"));
            match w.as_slice() {
                ["configure", "terminal"] if !configuring => configuring = true,
                ["end"] => return Ok(()),
                ["router", "bgp", asn, rest @ ..] if configuring && ctx.is_none() => {
                    let vrf = match rest {
                        [] => None,
                        ["vrf", v] => Some(v.to_string()),
                        _ => return unknown(),
                    };
                    let Some(asn) = model_asn(asn) else {
                        return Err(format!("% Invalid AS number: {asn}"));
                    };
                    match self.instances.get(&vrf) {
                        Some(i) if i.asn != asn => {
                            return Err(format!(
                                "BGP is already running; AS is {}",
                                i.printed_asn()
                            ));
                        }
                        Some(_) => {}
                        None => {
                            self.created.push(vrf.clone());
                            self.instances.insert(
                                vrf.clone(),
                                ModelInstance {
                                    asn,
                                    notation: Notation::Plain,
                                    networks: BTreeMap::new(),
                                },
                            );
                        }
                    }
                    ctx = Some(vrf);
                }
                ["address-family", afi @ ("ipv4" | "ipv6"), "unicast"]
                    if ctx.is_some() && family.is_none() =>
                {
                    family = Some(afi);
                }
                ["exit-address-family"] if family.is_some() => family = None,
                // `exit` leaves one level: the address family, else the instance.
                ["exit"] if family.is_some() => family = None,
                ["exit"] if ctx.is_some() => ctx = None,
                [verb @ ("network" | "no"), rest @ ..] => {
                    let (add, p) = match (*verb, rest) {
                        ("network", [p]) => (true, *p),
                        ("no", ["network", p]) => (false, *p),
                        _ => return unknown(),
                    };
                    let (Some(vrf), Some(afi)) = (&ctx, family) else {
                        return unknown();
                    };
                    let Ok(net) = p.parse::<IpNetwork>() else {
                        return Err("% Malformed prefix".to_string());
                    };
                    // vtysh would normalise these; anycastd must never send one.
                    if canonical(&net) != p || frr::afi(&net) != afi {
                        return Err(format!("% Malformed prefix (not canonical here): {p}"));
                    }
                    let nets = &mut self.instances.get_mut(vrf).expect("entered").networks;
                    if add {
                        // Idempotent; a plain `network` drops a route-map.
                        nets.insert(net, None);
                    } else if nets.remove(&net).is_none() {
                        return Err("% Can't find static route specified".to_string());
                    }
                }
                _ => return unknown(),
            }
        }
        Ok(())
    }

    /// `show running-config` as FRR 8.4.4 prints it (FRR 9.1's `as-notation` when not
    /// plain), with lines anycastd must ignore around ours.
    fn render(&self) -> String {
        let mut s = String::from(
            "Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\nfrr defaults traditional\nhostname vm\nservice integrated-vtysh-config\n!\n",
        );
        for (vrf, inst) in &self.instances {
            s += &frr::router_line(&inst.printed_asn(), vrf);
            s += match inst.notation {
                Notation::Plain => "",
                Notation::PlainExplicit => " as-notation plain",
                Notation::Dot => " as-notation dot",
                Notation::DotPlus => " as-notation dot+",
            };
            s += "\n bgp router-id 198.51.100.1\n no bgp ebgp-requires-policy\n neighbor 198.51.100.2 remote-as 64496\n !\n";
            for afi in ["ipv4", "ipv6"] {
                s += &format!(" address-family {afi} unicast\n");
                for (net, map) in inst.networks.iter().filter(|(n, _)| frr::afi(n) == afi) {
                    s += &format!("  network {}", frr_prefix(net));
                    if let Some(m) = map {
                        s += &format!(" route-map {m}");
                    }
                    s += "\n";
                }
                s += "  neighbor 198.51.100.2 activate\n exit-address-family\n !\n";
            }
            s += " address-family ipv4 multicast\n  network 198.18.99.0/24\n exit-address-family\nexit\n!\n";
        }
        s + "router ospf\n network 198.18.98.0/24 area 0\nexit\n!\nroute-map PREPEND permit 10\n set as-path prepend 65536\nexit\n!\nend\n"
    }

    fn networks(&self) -> BTreeMap<Vrf, BTreeSet<IpNetwork>> {
        self.instances
            .iter()
            .map(|(v, i)| (v.clone(), i.networks.keys().copied().collect()))
            .collect()
    }
}

/// A prefix as FRR prints it: IPv4 like Rust, IPv6 through FRR's own `inet_ntop`
/// (lib/ntop.c), which differs from Rust's for `::A.B.C.D` (printed dotted) and
/// `::ffff:A.B.C.D` (printed in hex).
fn frr_prefix(net: &IpNetwork) -> String {
    let IpNetwork::V6(v6) = net else {
        return canonical(net);
    };
    let words = v6.network().segments();
    // The first longest run of zero words.
    let (mut best, mut best_len, mut cur) = (0, 0, 0);
    for (i, w) in words.iter().enumerate() {
        if *w == 0 {
            cur += 1;
            if cur > best_len {
                best = i + 1 - cur;
                best_len = cur;
            }
        } else {
            cur = 0;
        }
    }
    let text = if best == 0 && best_len == 6 {
        let [a, b] = words[6].to_be_bytes();
        let [c, d] = words[7].to_be_bytes();
        format!("::{a}.{b}.{c}.{d}")
    } else {
        let best_len = if best_len == 1 { 0 } else { best_len };
        let mut t = String::new();
        let mut i = 0;
        while i < 8 {
            if best_len > 0 && i == best {
                t += if i == 0 { "::" } else { ":" };
                i += best_len;
                continue;
            }
            t += &format!("{:x}", words[i]);
            if i < 7 {
                t += ":";
            }
            i += 1;
        }
        t
    };
    format!("{text}/{}", v6.prefix())
}

fn parsed_networks(text: &str) -> BTreeMap<Vrf, BTreeSet<IpNetwork>> {
    frr::parse_running_config(text)
        .expect("FRR's own output parses")
        .instances
        .into_iter()
        .map(|(v, i)| (v, i.networks))
        .collect()
}

const VRFS: [Option<&str>; 4] = [None, Some("blue"), Some("fl-vrf123"), Some("red")];

fn canonical_prefix() -> impl Strategy<Value = IpNetwork> {
    prop_oneof![
        (any::<u32>(), 8u8..=32).prop_map(|(a, len)| {
            let n = Ipv4Network::new(Ipv4Addr::from(a), len).expect("length in range");
            IpNetwork::V4(Ipv4Network::new(n.network(), len).expect("length in range"))
        }),
        (any::<u128>(), 16u8..=128).prop_map(|(a, len)| {
            let n = Ipv6Network::new(Ipv6Addr::from(a), len).expect("length in range");
            IpNetwork::V6(Ipv6Network::new(n.network(), len).expect("length in range"))
        }),
        // Where FRR's and Rust's IPv6 text differ: ::A.B.C.D and ::ffff:A.B.C.D.
        (any::<u32>(), any::<bool>(), 96u8..=128).prop_map(|(a, mapped, len)| {
            let high = if mapped { 0xffff_u128 << 32 } else { 0 };
            let ip = Ipv6Addr::from(high | u128::from(a));
            let n = Ipv6Network::new(ip, len).expect("length in range");
            IpNetwork::V6(Ipv6Network::new(n.network(), len).expect("length in range"))
        }),
    ]
}

fn notation() -> impl Strategy<Value = Notation> {
    prop_oneof![
        3 => Just(Notation::Plain),
        1 => Just(Notation::PlainExplicit),
        2 => Just(Notation::Dot),
        1 => Just(Notation::DotPlus),
    ]
}

fn asn() -> impl Strategy<Value = u32> {
    prop_oneof![
        1u32..65536,
        65536u32..=u32::MAX,
        Just(65536u32),
        Just(u32::MAX)
    ]
}

/// A pool of prefixes, FRR's instances (a few of the VRFs, each with some of the pool,
/// some lines with a route-map), and masks choosing changes from the pool.
#[derive(Debug, Clone)]
struct World {
    model: FrrModel,
    pool: Vec<IpNetwork>,
    /// Per VRF of [`VRFS`]: which pool prefixes to announce.
    announce: [u16; 4],
    /// Per VRF of [`VRFS`]: which pool prefixes to withdraw (of those configured).
    withdraw: [u16; 4],
}

fn world() -> impl Strategy<Value = World> {
    let instance = (asn(), notation(), any::<u16>(), any::<u16>());
    (
        prop::collection::vec(canonical_prefix(), 1..12),
        prop::collection::vec(proptest::option::of(instance), 4),
        any::<[u16; 4]>(),
        any::<[u16; 4]>(),
    )
        .prop_map(|(pool, instances, announce, withdraw)| {
            let mut model = FrrModel::default();
            for (vrf, inst) in VRFS.iter().zip(instances) {
                let Some((asn, notation, present, mapped)) = inst else {
                    continue;
                };
                let networks = pool
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| present & (1 << k) != 0)
                    .map(|(k, n)| (*n, (mapped & (1 << k) != 0).then(|| "PREPEND".to_string())))
                    .collect();
                model.instances.insert(
                    vrf.map(String::from),
                    ModelInstance {
                        asn,
                        notation,
                        networks,
                    },
                );
            }
            World {
                model,
                pool,
                announce,
                withdraw,
            }
        })
}

impl World {
    fn pick(&self, masks: &[u16; 4]) -> BTreeSet<(Vrf, IpNetwork)> {
        let mut out = BTreeSet::new();
        for (vrf, mask) in VRFS.iter().zip(masks) {
            for (k, net) in self.pool.iter().enumerate() {
                if mask & (1 << k) != 0 {
                    out.insert((vrf.map(String::from), *net));
                }
            }
        }
        out
    }

    /// Announcements anywhere (VRFs FRR lacks included); withdrawals of configured
    /// lines only, as the reconcile plans them.
    fn changes(&self) -> Changes {
        let present = self.model.networks();
        Changes {
            announce: self.pick(&self.announce),
            withdraw: self
                .pick(&self.withdraw)
                .into_iter()
                .filter(|(v, n)| present.get(v).is_some_and(|s| s.contains(n)))
                .collect(),
            route_maps: Default::default(),
            rerouted: Default::default(),
        }
    }
}

/// Every `router bgp` line built is one the running config showed, echoed unchanged.
fn check_router_lines(cmds: &[String], before: &FrrModel) {
    for c in cmds.iter().filter(|c| c.starts_with("router bgp")) {
        let known = before
            .instances
            .iter()
            .any(|(v, i)| *c == frr::router_line(&i.printed_asn(), v));
        assert!(known, "{c:?} names no instance of the running config");
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn build_commands_round_trip_through_frr(w in world()) {
        let before = w.model.clone();
        let text = before.render();
        let running = frr::parse_running_config(&text).expect("FRR's own output parses");
        prop_assert_eq!(parsed_networks(&text), before.networks(), "the parser reads the model");
        let changes = w.changes();
        let cmds = frr::build_commands(&running, &changes);
        check_router_lines(&cmds, &before);
        let mut after = before.clone();
        let applied = after.apply(&cmds);
        prop_assert_eq!(applied, Ok(()), "commands: {:?}", cmds);
        prop_assert!(after.created.is_empty(), "FRR created {:?}", after.created);
        // Exactly what was asked, in the instances FRR has; nothing anywhere else.
        let mut expected = before.networks();
        for (vrf, nets) in expected.iter_mut() {
            for (v, n) in &changes.withdraw {
                if v == vrf {
                    nets.remove(n);
                }
            }
            for (v, n) in &changes.announce {
                if v == vrf {
                    nets.insert(*n);
                }
            }
        }
        prop_assert_eq!(parsed_networks(&after.render()), expected);
        let touches = changes
            .announce
            .iter()
            .chain(&changes.withdraw)
            .any(|(v, _)| before.instances.contains_key(v));
        prop_assert_eq!(cmds.is_empty(), !touches, "commands: {:?}", cmds);
    }

    #[test]
    fn a_failed_withdrawal_lets_no_announcement_through(
        w in world().prop_filter("FRR has an instance", |w| !w.model.instances.is_empty()),
        which in any::<Index>(),
        spare in canonical_prefix()
    ) {
        // One withdrawal of a line FRR does not have (someone removed it by hand).
        let before = w.model.clone();
        let (vrf, inst) = before
            .instances
            .iter()
            .nth(which.index(before.instances.len()))
            .expect("an instance");
        let net = w
            .pool
            .iter()
            .chain([&spare])
            .find(|n| !inst.networks.contains_key(n))
            .copied()
            .unwrap_or(IpNetwork::V4(Ipv4Network::new(Ipv4Addr::UNSPECIFIED, 0).expect("/0")));
        prop_assume!(!inst.networks.contains_key(&net));
        let gone = (vrf.clone(), net);
        let mut changes = w.changes();
        changes.withdraw.insert(gone.clone());
        changes.announce.remove(&gone);
        let running = frr::parse_running_config(&before.render()).expect("parses");
        let cmds = frr::build_commands(&running, &changes);
        let mut after = before.clone();
        prop_assert_eq!(
            after.apply(&cmds),
            Err("% Can't find static route specified".to_string())
        );
        prop_assert!(after.created.is_empty());
        // vtysh stopped there: no announcement ran, only withdrawals of lines FRR had.
        let (was, now) = (before.networks(), parsed_networks(&after.render()));
        for (vrf, nets) in &now {
            prop_assert!(nets.is_subset(&was[vrf]), "announced in {:?}: {:?}", vrf, nets);
            for n in was[vrf].difference(nets) {
                prop_assert!(changes.withdraw.contains(&(vrf.clone(), *n)));
            }
        }
    }
}

/// Checked against bgpd 8.4.4's `show running-config`.
#[test]
fn frr_prefix_prints_like_frr() {
    for (net, frr) in [
        ("2001:db8:53::53/128", "2001:db8:53::53/128"),
        ("2001:db8:0:1::/64", "2001:db8:0:1::/64"),
        ("2001:0:0:1:0:0:0:1/128", "2001:0:0:1::1/128"),
        ("2001:db8:1:1:1:1:0:1/128", "2001:db8:1:1:1:1:0:1/128"),
        ("::1.2.3.0/120", "::1.2.3.0/120"),
        ("::ffff:1.2.3.0/120", "::ffff:102:300/120"),
        ("::0.0.3.0/120", "::300/120"),
        ("::1:0:0:0:0/96", "0:0:0:1::/96"),
        ("::/0", "::/0"),
        ("::1/128", "::1/128"),
        ("fe80::/10", "fe80::/10"),
        ("203.0.113.53/32", "203.0.113.53/32"),
    ] {
        assert_eq!(frr_prefix(&net.parse().unwrap()), frr, "{net}");
    }
}
