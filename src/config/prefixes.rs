//! The `prefixes.<daemon>` entries: `prefixes.frrouting` (an address or prefix in the
//! short form, or a table with `prefix`, `vrf`, `vtysh` and `route_map`) and
//! `prefixes.bird` (the short form, or a table with `prefix`, `birdc`, `socket` and
//! `file`); the prefix text itself, strict where the routing daemons are lenient; and the
//! rules across services (one route-map per `network` line, one include file per BIRD).

use super::values::{Ctx, Res, describe, join};
use super::{
    BIRD_PREFIX_KEYS, DEFAULT_BIRD_FILE, DEFAULT_BIRD_SOCKET, DEFAULT_BIRDC, DEFAULT_VTYSH,
    PREFIX_KEYS, PREFIX_TYPES,
};
use ipnetwork::IpNetwork;
use std::ops::Range;
use std::path::PathBuf;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// FRR's VRF_NAMSIZ is 36 bytes including the NUL.
const MAX_VRF_LEN: usize = 35;

/// One prefix announced through one routing daemon instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    /// Canonical: no host bits, always with a length.
    pub network: IpNetwork,
    /// `None` is FRR's default VRF (and BIRD's only one).
    pub vrf: Option<String>,
    /// The routing daemon instance that announces it.
    pub router: Router,
    /// The FRR route-map the normal announcement goes out through (`network P route-map
    /// NAME`); `None`: a plain `network P`.
    pub route_map: Option<String>,
}

impl Prefix {
    /// The text FRR prints in its running config: `203.0.113.53/32`, `2001:db8::53/128`.
    pub fn canonical(&self) -> String {
        canonical(&self.network)
    }
}

/// Which routing daemon instance a prefix is announced through, and how it is reached:
/// two prefixes with equal `Router`s are on the same instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Router {
    /// FRR, through this vtysh program.
    Frr { vtysh: PathBuf },
    /// BIRD 2: `birdc -s socket`, and the include file anycastd owns.
    Bird {
        birdc: PathBuf,
        socket: PathBuf,
        file: PathBuf,
    },
}

impl Router {
    pub fn frr(vtysh: impl Into<PathBuf>) -> Router {
        Router::Frr {
            vtysh: vtysh.into(),
        }
    }

    /// The configuration's name of the daemon (`frrouting`, `bird`): the
    /// `prefixes.<name>` table, and the `router` of the state file.
    pub fn kind(&self) -> &'static str {
        match self {
            Router::Frr { .. } => "frrouting",
            Router::Bird { .. } => "bird",
        }
    }

    /// How logs, status and metrics name the instance: the vtysh path for FRR (as
    /// always), `birdc -s SOCKET` for BIRD.
    pub fn label(&self) -> String {
        match self {
            Router::Frr { vtysh } => vtysh.display().to_string(),
            Router::Bird { birdc, socket, .. } => {
                format!("{} -s {}", birdc.display(), socket.display())
            }
        }
    }

    /// How `check` and `status` name the instance: `FRR via /usr/bin/vtysh`, `BIRD via
    /// /usr/sbin/birdc -s /run/bird/bird.ctl (file /etc/bird/anycastd.conf)`.
    pub fn title(&self) -> String {
        match self {
            Router::Frr { .. } => format!("FRR via {}", self.label()),
            Router::Bird { file, .. } => {
                format!("BIRD via {} (file {})", self.label(), file.display())
            }
        }
    }

    /// The daemon's name in logs and status: `FRR`, `BIRD`.
    pub fn name(&self) -> &'static str {
        match self {
            Router::Frr { .. } => "FRR",
            Router::Bird { .. } => "BIRD",
        }
    }

    /// The program each call runs: `vtysh`, `birdc`.
    pub fn program(&self) -> &'static str {
        match self {
            Router::Frr { .. } => "vtysh",
            Router::Bird { .. } => "birdc",
        }
    }

    /// The label of the instance's metrics: `vtysh="PATH"` for FRR, `bird="SOCKET"` for
    /// BIRD (one socket is one BIRD).
    pub fn metric_label(&self) -> (&'static str, String) {
        match self {
            Router::Frr { vtysh } => ("vtysh", vtysh.display().to_string()),
            Router::Bird { socket, .. } => ("bird", socket.display().to_string()),
        }
    }

    /// The vtysh program of an FRR instance (the state file's `vtysh`); `None` for others.
    pub fn vtysh(&self) -> Option<&std::path::Path> {
        match self {
            Router::Frr { vtysh } => Some(vtysh),
            Router::Bird { .. } => None,
        }
    }
}

impl Ctx<'_> {
    /// `<service>.prefixes`: a table of one or more daemons, each a list; the prefixes in
    /// daemon order, then list order.
    pub(super) fn prefix_sections(
        &self,
        svc_key: &str,
        svc: &DeTable<'_>,
        svc_span: Range<usize>,
    ) -> Res<Vec<Prefix>> {
        let key = format!("{svc_key}.prefixes");
        let missing =
            "missing: every service needs `prefixes.frrouting = [...]` or `prefixes.bird = [...]`";
        let Some(v) = svc.get("prefixes") else {
            return Err(self.err(&key, svc_span, missing));
        };
        let t = self.table(&key, v)?;
        for k in t.keys() {
            if !PREFIX_TYPES.contains(&k.get_ref().as_ref()) {
                return Err(self.err(
                    &join(&key, k.get_ref()),
                    k.span(),
                    format!(
                        "unknown prefix type {:?}; accepted: {}",
                        k.get_ref().as_ref(),
                        PREFIX_TYPES.join(", ")
                    ),
                ));
            }
        }
        let mut out: Vec<Prefix> = Vec::new();
        for kind in PREFIX_TYPES {
            if let Some(list) = t.get(*kind) {
                self.prefixes(&format!("{key}.{kind}"), kind, list, &mut out)?;
            }
        }
        if out.is_empty() {
            return Err(self.err(
                &key,
                v.span(),
                "missing: every service needs at least one entry in `prefixes.frrouting` or `prefixes.bird`",
            ));
        }
        Ok(out)
    }

    /// The list at `key` (`services.<name>.prefixes.<kind>`), appended to `out`.
    fn prefixes(
        &self,
        key: &str,
        kind: &str,
        list: &Spanned<DeValue<'_>>,
        out: &mut Vec<Prefix>,
    ) -> Res<()> {
        for (i, item) in self.array(key, list, "prefix")?.iter().enumerate() {
            let key = format!("{key}[{i}]");
            let p = if kind == "bird" {
                self.bird_prefix(&key, item)?
            } else {
                self.prefix(&key, item)?
            };
            if out
                .iter()
                .any(|o| (o.network, &o.vrf, &o.router) == (p.network, &p.vrf, &p.router))
            {
                return Err(self.err(
                    &key,
                    item.span(),
                    format!("{} is listed twice in this service", p.canonical()),
                ));
            }
            out.push(p);
        }
        Ok(())
    }

    /// One `prefixes.bird` entry: `"203.0.113.53"` or `{ prefix, birdc, socket, file }`.
    fn bird_prefix(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<Prefix> {
        let mut birdc = PathBuf::from(DEFAULT_BIRDC);
        let mut socket = PathBuf::from(DEFAULT_BIRD_SOCKET);
        let mut file = PathBuf::from(DEFAULT_BIRD_FILE);
        let prefix_v = match v.get_ref() {
            DeValue::String(_) => v,
            DeValue::Table(t) => {
                self.known_keys(key, t, BIRD_PREFIX_KEYS)?;
                for (name, slot, what) in [
                    (
                        "birdc",
                        &mut birdc,
                        "the birdc program, e.g. \"/usr/sbin/birdc\"",
                    ),
                    (
                        "socket",
                        &mut socket,
                        "BIRD's control socket, e.g. \"/run/bird/bird.ctl\"",
                    ),
                    (
                        "file",
                        &mut file,
                        "the file bird.conf includes, e.g. \"/etc/bird/anycastd.conf\"",
                    ),
                ] {
                    if let Some(pv) = t.get(name) {
                        *slot = self.absolute(&format!("{key}.{name}"), pv, what)?;
                    }
                }
                self.long_form_prefix(key, v, t)?
            }
            other => {
                return Err(self.err(
                    key,
                    v.span(),
                    format!(
                        "must be a string (\"203.0.113.53\") or a table ({{ prefix = \"203.0.113.53\", socket = \"/run/bird/bird.ctl\" }}), found {}",
                        describe(other)
                    ),
                ));
            }
        };
        let network = self.network(key, v, prefix_v)?;
        Ok(Prefix {
            network,
            vrf: None,
            router: Router::Bird {
                birdc,
                socket,
                file,
            },
            route_map: None,
        })
    }

    /// The `prefix` of a long form.
    fn long_form_prefix<'v, 'i>(
        &self,
        key: &str,
        v: &Spanned<DeValue<'i>>,
        t: &'v DeTable<'i>,
    ) -> Res<&'v Spanned<DeValue<'i>>> {
        t.get("prefix").ok_or_else(|| {
            self.err(
                &format!("{key}.prefix"),
                v.span(),
                "missing: the long form needs `prefix = \"<address or prefix>\"`",
            )
        })
    }

    /// The prefix of entry `v` at `key`: `prefix_v` is `v` itself (the short form) or its
    /// `prefix` (the long form), and names the key in an error.
    fn network(
        &self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        prefix_v: &Spanned<DeValue<'_>>,
    ) -> Res<IpNetwork> {
        let pkey = if std::ptr::eq(prefix_v, v) {
            key.to_string()
        } else {
            format!("{key}.prefix")
        };
        let text = self.string(&pkey, prefix_v)?;
        parse_prefix(text).map_err(|m| self.err(&pkey, prefix_v.span(), m))
    }

    /// An absolute path without control characters (it goes on a command line or into a
    /// file name).
    fn absolute(&self, key: &str, v: &Spanned<DeValue<'_>>, what: &str) -> Res<PathBuf> {
        let s = self.string(key, v)?;
        if !s.starts_with('/') || s.chars().any(char::is_control) || s.ends_with('/') {
            return Err(self.err(
                key,
                v.span(),
                format!("{s:?} is not an absolute path: must be the path of {what}"),
            ));
        }
        Ok(PathBuf::from(s))
    }

    fn prefix(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<Prefix> {
        let mut vrf = None;
        let mut route_map = None;
        let mut vtysh = PathBuf::from(DEFAULT_VTYSH);
        let prefix_v = match v.get_ref() {
            DeValue::String(_) => v,
            DeValue::Table(t) => {
                self.known_keys(key, t, PREFIX_KEYS)?;
                if let Some(vv) = t.get("vrf") {
                    vrf = self.vrf(&format!("{key}.vrf"), vv)?;
                }
                if let Some(rv) = t.get("route_map") {
                    route_map = Some(self.route_map_name(&format!("{key}.route_map"), rv)?);
                }
                if let Some(pv) = t.get("vtysh") {
                    let s = self.string(&format!("{key}.vtysh"), pv)?;
                    if !s.starts_with('/') || s.chars().any(char::is_control) {
                        return Err(self.err(
                            &format!("{key}.vtysh"),
                            pv.span(),
                            format!(
                                "{s:?} is not an absolute path: must be the path of the vtysh program, e.g. \"/usr/bin/vtysh\" (a wrapper script may add options such as -N)"
                            ),
                        ));
                    }
                    vtysh = PathBuf::from(s);
                }
                self.long_form_prefix(key, v, t)?
            }
            other => {
                return Err(self.err(
                    key,
                    v.span(),
                    format!(
                        "must be a string (\"203.0.113.53\") or a table ({{ prefix = \"203.0.113.53\", vrf = \"blue\" }}), found {}",
                        describe(other)
                    ),
                ));
            }
        };
        let network = self.network(key, v, prefix_v)?;
        Ok(Prefix {
            network,
            vrf,
            router: Router::Frr { vtysh },
            route_map,
        })
    }

    /// An FRR route-map name: it goes into a vtysh command line as one word.
    pub(super) fn route_map_name(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<String> {
        let s = self.string(key, v)?;
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if !ok {
            return Err(self.err(
                key,
                v.span(),
                format!(
                    "{s:?}: a route-map name is 1 to 63 letters, digits, '-', '_', '.' or ':' (as configured in FRR: `route-map NAME permit 10`)"
                ),
            ));
        }
        Ok(s.to_string())
    }

    fn vrf(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<Option<String>> {
        let s = self.string(key, v)?;
        // The name goes into a vtysh command line: only what FRR accepts as a name.
        let ok = !s.is_empty()
            && s.len() <= MAX_VRF_LEN
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(self.err(
                key,
                v.span(),
                format!(
                    "invalid VRF name {s:?}: 1 to {MAX_VRF_LEN} characters from A-Z a-z 0-9 - _ ."
                ),
            ));
        }
        Ok((s != "default").then(|| s.to_string()))
    }
}

/// `203.0.113.53` → `/32`, `2001:db8::53` → `/128`; host bits set is an error (FRR would
/// silently store the network address instead, and nothing would match).
pub fn parse_prefix(text: &str) -> Result<IpNetwork, String> {
    let t = text.trim();
    if t != text || t.is_empty() {
        return Err(format!("{text:?} is not an IP address or prefix"));
    }
    let net: IpNetwork = t.parse().map_err(|_| {
        format!("{text:?} is not an IP address or prefix (like 203.0.113.53, 203.0.113.0/24 or 2001:db8::53)")
    })?;
    if let IpNetwork::V6(v6) = net {
        // fe80::/10: FRR answers "% Malformed prefix (link-local address)".
        if v6.ip().segments()[0] & 0xffc0 == 0xfe80 {
            return Err(format!(
                "{text:?} is an IPv6 link-local address, which BGP cannot announce (FRR refuses it)"
            ));
        }
    }
    if net.ip() != net.network() {
        return Err(format!(
            "{text:?} has host bits set; the prefix is {}",
            canonical(&IpNetwork::new(net.network(), net.prefix()).unwrap_or(net))
        ));
    }
    Ok(net)
}

pub fn canonical(net: &IpNetwork) -> String {
    format!("{}/{}", net.network(), net.prefix())
}

/// One `network` line: FRR instance, VRF, prefix.
type NetworkLine<'a> = (&'a Router, &'a Option<String>, IpNetwork);

impl Ctx<'_> {
    /// A prefix listed by several services is one `network` line per FRR instance: one
    /// route-map for it. `entries` are the services' tables, in the order of `services`.
    pub(super) fn one_route_map_per_line(
        &self,
        services: &[super::Service],
        entries: &[(&Spanned<std::borrow::Cow<'_, str>>, &Spanned<DeValue<'_>>)],
    ) -> Res<()> {
        let mut seen: std::collections::HashMap<NetworkLine<'_>, (&str, &Option<String>)> =
            std::collections::HashMap::new();
        for (svc, (_, v)) in services.iter().zip(entries) {
            for p in &svc.prefixes {
                let key = (&p.router, &p.vrf, p.network);
                match seen.get(&key) {
                    Some((other, rm)) if *rm != &p.route_map => {
                        let show = |r: &Option<String>| {
                            r.as_deref()
                                .map_or("(none)".to_string(), |r| format!("{r:?}"))
                        };
                        return Err(self.err(
                            &format!(
                                "services.{}.prefixes.frrouting",
                                super::values::key_part(&svc.name)
                            ),
                            v.span(),
                            format!(
                                "{} has route_map {} here but {} in service {other:?}: a prefix shared by services is one `network` line, with one route-map",
                                p.canonical(),
                                show(&p.route_map),
                                show(rm),
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(key, (svc.name.as_str(), &p.route_map));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Ctx<'_> {
    /// One BIRD control socket is one BIRD, and anycastd owns exactly one include file of
    /// it: two files for one socket (or one file for two sockets) would have two writers.
    pub(super) fn one_file_per_bird(
        &self,
        services: &[super::Service],
        entries: &[(&Spanned<std::borrow::Cow<'_, str>>, &Spanned<DeValue<'_>>)],
    ) -> Res<()> {
        let mut by_socket: std::collections::HashMap<&std::path::Path, (&std::path::Path, &str)> =
            std::collections::HashMap::new();
        let mut by_file: std::collections::HashMap<&std::path::Path, (&std::path::Path, &str)> =
            std::collections::HashMap::new();
        let mut birdcs: std::collections::HashMap<&std::path::Path, &std::path::Path> =
            std::collections::HashMap::new();
        for (svc, (_, v)) in services.iter().zip(entries) {
            for p in &svc.prefixes {
                let Router::Bird {
                    birdc,
                    socket,
                    file,
                } = &p.router
                else {
                    continue;
                };
                let clash = match (by_socket.get(socket.as_path()), by_file.get(file.as_path())) {
                    (Some((_, other)), _)
                        if birdcs
                            .get(socket.as_path())
                            .is_some_and(|b| *b != birdc.as_path()) =>
                    {
                        Some(format!(
                            "BIRD socket {} is reached with birdc {} here but another birdc in service {other:?}: one BIRD takes one birdc",
                            socket.display(),
                            birdc.display()
                        ))
                    }
                    (Some((f, other)), _) if *f != file.as_path() => Some(format!(
                        "BIRD socket {} has file {} here but {} in service {other:?}: one BIRD takes one anycastd include file",
                        socket.display(),
                        file.display(),
                        f.display()
                    )),
                    (_, Some((s, other))) if *s != socket.as_path() => Some(format!(
                        "file {} is written for BIRD socket {} here but {} in service {other:?}: one include file belongs to one BIRD",
                        file.display(),
                        socket.display(),
                        s.display()
                    )),
                    _ => None,
                };
                if let Some(message) = clash {
                    return Err(self.err(
                        &format!(
                            "services.{}.prefixes.bird",
                            super::values::key_part(&svc.name)
                        ),
                        v.span(),
                        message,
                    ));
                }
                by_socket.insert(socket, (file, &svc.name));
                birdcs.insert(socket, birdc);
                by_file.insert(file, (socket, &svc.name));
            }
        }
        Ok(())
    }
}
