//! Prometheus metrics in the text exposition format, for node_exporter's textfile
//! collector. Rendered purely from the state snapshot, so the numbers a scrape shows are
//! exactly the ones `anycastd status` judges.

use crate::state::Snapshot;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Label values escape backslash, double quote and newline.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, l: &[(&str, &str)], value: f64) {
        let _ = writeln!(self.out, "{name}{} {}", labels(l), fmt(value));
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn b(v: bool) -> f64 {
    if v { 1.0 } else { 0.0 }
}

pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    f.header(
        "anycastd_build_info",
        "gauge",
        "Version of the running anycastd.",
    );
    f.sample(
        "anycastd_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    f.header(
        "anycastd_start_time_seconds",
        "gauge",
        "When the daemon started (Unix time).",
    );
    f.sample("anycastd_start_time_seconds", &[], s.started_unix);
    f.header(
        "anycastd_ready",
        "gauge",
        "1 once every service is decided and FRR was reconciled once.",
    );
    f.sample("anycastd_ready", &[], b(s.ready));

    f.header(
        "anycastd_service_healthy",
        "gauge",
        "1 healthy, 0 unhealthy or undecided.",
    );
    for x in &s.services {
        f.sample(
            "anycastd_service_healthy",
            &[("service", &x.name)],
            b(x.health == "healthy"),
        );
    }
    f.header(
        "anycastd_service_drained",
        "gauge",
        "1 while the service is drained (anycastd drain): its prefixes stay withdrawn.",
    );
    for x in &s.services {
        f.sample(
            "anycastd_service_drained",
            &[("service", &x.name)],
            b(x.drained.is_some()),
        );
    }
    f.header(
        "anycastd_service_decided",
        "gauge",
        "0 until every check of the service reported once.",
    );
    for x in &s.services {
        f.sample(
            "anycastd_service_decided",
            &[("service", &x.name)],
            b(x.health != "undecided"),
        );
    }
    f.header(
        "anycastd_service_transitions_total",
        "counter",
        "Changes of the service's health.",
    );
    for x in &s.services {
        f.sample(
            "anycastd_service_transitions_total",
            &[("service", &x.name)],
            x.transitions as f64,
        );
    }
    type CheckGet = fn(&crate::state::CheckSnap, f64) -> f64;
    let checks: [(&str, &str, CheckGet); 4] = [
        (
            "anycastd_check_success",
            "1 if the check's last result counts as passing.",
            |c, _| b(c.passing == Some(true)),
        ),
        (
            "anycastd_check_last_poll_timestamp_seconds",
            "When the check was last polled (Unix time).",
            |c, _| c.last_poll_unix.unwrap_or(f64::NAN),
        ),
        (
            "anycastd_check_result_age_seconds",
            "Seconds since the check's last result arrived.",
            |c, now| c.last_poll_unix.map_or(f64::NAN, |t| (now - t).max(0.0)),
        ),
        (
            "anycastd_check_poll_duration_seconds",
            "How long the check's last poll took.",
            |c, _| c.last_poll_seconds.unwrap_or(f64::NAN),
        ),
    ];
    for (name, help, get) in checks {
        f.header(name, "gauge", help);
        for x in &s.services {
            for c in &x.checks {
                let l = [
                    ("service", x.name.as_str()),
                    ("check", &c.name),
                    ("kind", &c.kind),
                    ("url", &c.url),
                ];
                f.sample(name, &l, get(c, s.written_unix));
            }
        }
    }
    for (name, help) in [
        (
            "anycastd_prefix_intended",
            "1 if health says the prefix should be announced.",
        ),
        (
            "anycastd_prefix_announced",
            "1 if FRR had the network statement at the last reconcile.",
        ),
        (
            "anycastd_prefix_advertised",
            "1 if FRR has a valid path for it (0: stuck behind the import check).",
        ),
    ] {
        f.header(name, "gauge", help);
        for x in &s.services {
            // A prefix the service lists for two routing daemon instances (FRR and BIRD,
            // two vtysh) is one series per instance: those get the instance's label too.
            let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
            for p in &x.prefixes {
                *seen.entry((&p.prefix, &p.vrf)).or_default() += 1;
            }
            for p in &x.prefixes {
                let value = match name {
                    "anycastd_prefix_intended" => b(p.intended == "announce"),
                    "anycastd_prefix_announced" => p.in_frr.map_or(f64::NAN, b),
                    _ => p.advertised.map_or(f64::NAN, b),
                };
                let (key, via) = p.via.metric_label();
                let mut l = vec![
                    ("service", x.name.as_str()),
                    ("prefix", &p.prefix),
                    ("vrf", &p.vrf),
                ];
                if seen[&(p.prefix.as_str(), p.vrf.as_str())] > 1 {
                    l.push((key, &via));
                }
                f.sample(name, &l, value);
            }
        }
    }
    type Get = fn(&crate::state::FrrSnap) -> f64;
    let frr: [(&str, &str, &str, Get); 5] = [
        (
            "anycastd_frr_up",
            "gauge",
            "1 if the last exchange with this routing daemon instance (FRR or BIRD) worked.",
            |x| b(x.ok),
        ),
        (
            "anycastd_vtysh_calls_total",
            "counter",
            "vtysh (FRR) or birdc (BIRD) processes run.",
            |x| x.vtysh_calls as f64,
        ),
        (
            "anycastd_vtysh_failures_total",
            "counter",
            "vtysh or birdc processes that failed, timed out or could not start.",
            |x| x.vtysh_failures as f64,
        ),
        (
            "anycastd_vtysh_duration_seconds_total",
            "counter",
            "Time spent waiting for vtysh or birdc.",
            |x| x.vtysh_seconds,
        ),
        (
            "anycastd_reconcile_drift_total",
            "counter",
            "Reconciles that found the routing daemon different from what health says and repaired it.",
            |x| x.drift_repairs as f64,
        ),
    ];
    for (name, kind, help, get) in frr {
        f.header(name, kind, help);
        for x in &s.frr {
            let (key, value) = x.via.metric_label();
            f.sample(name, &[(key, &value)], get(x));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::*;

    fn snap() -> Snapshot {
        Snapshot {
            version: 1,
            started_unix: 1_711_379_843.5,
            written_unix: 1_711_379_900.0,
            ready: true,
            services: vec![ServiceSnap {
                name: "d\"ns".into(),
                health: "healthy".into(),
                transitions: 2,
                checks: vec![CheckSnap {
                    name: "dns".into(),
                    kind: "cabourotte".into(),
                    url: "http://127.0.0.1:9013".into(),
                    passing: Some(true),
                    last_poll_unix: Some(1_711_379_899.5),
                    last_poll_seconds: Some(0.002),
                    ..Default::default()
                }],
                prefixes: vec![PrefixSnap {
                    prefix: "203.0.113.53/32".into(),
                    vrf: "default".into(),
                    intended: "announce".into(),
                    in_frr: Some(true),
                    advertised: None,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            frr: vec![FrrSnap {
                via: crate::state::Via {
                    vtysh: "/usr/bin/vtysh".into(),
                    ..Default::default()
                },
                ok: true,
                vtysh_calls: 7,
                vtysh_seconds: 0.25,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// A strict reader of the exposition format: every family has HELP and TYPE before its
    /// samples, names and labels are well-formed, values parse, no sample repeats.
    fn validate(text: &str) -> Result<usize, String> {
        let mut typed: std::collections::HashMap<String, String> = Default::default();
        let mut seen = std::collections::HashSet::new();
        let mut samples = 0;
        for (n, line) in text.lines().enumerate() {
            let ctx = |m: &str| format!("line {}: {m}: {line}", n + 1);
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest
                    .split(' ')
                    .next()
                    .ok_or_else(|| ctx("HELP without name"))?;
                if typed.contains_key(name) {
                    return Err(ctx("HELP after TYPE or repeated"));
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut w = rest.split(' ');
                let (Some(name), Some(kind), None) = (w.next(), w.next(), w.next()) else {
                    return Err(ctx("bad TYPE"));
                };
                if !["gauge", "counter"].contains(&kind) {
                    return Err(ctx("unknown type"));
                }
                if typed.insert(name.to_string(), kind.to_string()).is_some() {
                    return Err(ctx("TYPE repeated"));
                }
                continue;
            }
            let (series, value) = line.rsplit_once(' ').ok_or_else(|| ctx("no value"))?;
            if value != "NaN" {
                value.parse::<f64>().map_err(|_| ctx("bad value"))?;
            }
            let name = series.split('{').next().unwrap_or("");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            {
                return Err(ctx("bad metric name"));
            }
            if !typed.contains_key(name) {
                return Err(ctx("sample before its TYPE"));
            }
            if let Some(l) = series.strip_prefix(name) {
                if !l.is_empty() {
                    let inner = l
                        .strip_prefix('{')
                        .and_then(|x| x.strip_suffix('}'))
                        .ok_or_else(|| ctx("bad braces"))?;
                    // label="value" pairs; values may contain escaped quotes
                    let mut rest = inner;
                    while !rest.is_empty() {
                        let (k, v) = rest.split_once("=\"").ok_or_else(|| ctx("bad label"))?;
                        if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                            return Err(ctx("bad label name"));
                        }
                        let mut end = None;
                        let mut esc = false;
                        for (i, c) in v.char_indices() {
                            match (esc, c) {
                                (true, _) => esc = false,
                                (false, '\\') => esc = true,
                                (false, '"') => {
                                    end = Some(i);
                                    break;
                                }
                                _ => {}
                            }
                        }
                        let end = end.ok_or_else(|| ctx("unterminated label value"))?;
                        rest = v[end + 1..].strip_prefix(',').unwrap_or(&v[end + 1..]);
                    }
                }
            }
            if !seen.insert(series.to_string()) {
                return Err(ctx("duplicate series"));
            }
            samples += 1;
        }
        Ok(samples)
    }

    #[test]
    fn output_is_valid_exposition_format() {
        let text = render(&snap());
        let n = validate(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(n >= 15, "{n} samples");
        assert!(
            text.contains("anycastd_service_healthy{service=\"d\\\"ns\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("anycastd_prefix_advertised{service=\"d\\\"ns\",prefix=\"203.0.113.53/32\",vrf=\"default\"} NaN\n"));
        assert!(text.contains("anycastd_vtysh_calls_total{vtysh=\"/usr/bin/vtysh\"} 7\n"));
        assert!(text.contains("anycastd_check_result_age_seconds{service=\"d\\\"ns\",check=\"dns\",kind=\"cabourotte\",url=\"http://127.0.0.1:9013\"} 0.5\n"), "{text}");
        assert!(
            text.contains("anycastd_start_time_seconds 1711379843.5\n"),
            "{text}"
        );
    }

    /// One prefix listed for FRR and for BIRD (or two vtysh) in one service: two series,
    /// told apart by the instance's label; a prefix listed once keeps the short label set.
    #[test]
    fn a_prefix_for_two_instances_is_two_series() {
        let mut s = snap();
        let frr = s.services[0].prefixes[0].clone();
        let bird = PrefixSnap {
            via: Via {
                router: "bird".into(),
                birdc: "/usr/sbin/birdc".into(),
                socket: "/run/bird/bird.ctl".into(),
                file: "/etc/bird/anycastd.conf".into(),
                ..Default::default()
            },
            in_frr: Some(false),
            ..frr.clone()
        };
        let other = PrefixSnap {
            prefix: "198.51.100.0/24".into(),
            ..frr.clone()
        };
        s.services[0].prefixes = vec![
            PrefixSnap {
                via: Via {
                    vtysh: "/usr/bin/vtysh".into(),
                    ..Default::default()
                },
                ..frr
            },
            bird,
            other,
        ];
        let text = render(&s);
        validate(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        for want in [
            "anycastd_prefix_announced{service=\"d\\\"ns\",prefix=\"203.0.113.53/32\",vrf=\"default\",vtysh=\"/usr/bin/vtysh\"} 1\n",
            "anycastd_prefix_announced{service=\"d\\\"ns\",prefix=\"203.0.113.53/32\",vrf=\"default\",bird=\"/run/bird/bird.ctl\"} 0\n",
            "anycastd_prefix_announced{service=\"d\\\"ns\",prefix=\"198.51.100.0/24\",vrf=\"default\"} 1\n",
        ] {
            assert!(text.contains(want), "{want} not in:\n{text}");
        }
    }

    #[test]
    fn the_validator_catches_mistakes() {
        assert!(validate("x 1\n").is_err());
        assert!(validate("# TYPE x gauge\nx{a=\"1} 1\n").is_err());
        assert!(validate("# TYPE x gauge\nx 1\nx 1\n").is_err());
        assert!(validate("# TYPE x gauge\nx one\n").is_err());
    }
}
