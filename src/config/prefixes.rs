//! `prefixes.frrouting` entries: an address or prefix in the short form, or a table with
//! `prefix`, `vrf` and `vtysh`; and the prefix text itself, strict where FRR is lenient.

use super::values::{Ctx, Res, describe};
use super::{DEFAULT_VTYSH, PREFIX_KEYS, Prefix};
use ipnetwork::IpNetwork;
use std::path::PathBuf;
use toml::Spanned;
use toml::de::DeValue;

/// FRR's VRF_NAMSIZ is 36 bytes including the NUL.
const MAX_VRF_LEN: usize = 35;

impl Ctx<'_> {
    /// The list at `key` (`services.<name>.prefixes.frrouting`).
    pub(super) fn prefixes(&self, key: &str, list: &Spanned<DeValue<'_>>) -> Res<Vec<Prefix>> {
        let mut out: Vec<Prefix> = Vec::new();
        for (i, item) in self.array(key, list, "prefix")?.iter().enumerate() {
            let key = format!("{key}[{i}]");
            let p = self.prefix(&key, item)?;
            if out
                .iter()
                .any(|o| (o.network, &o.vrf, &o.vtysh) == (p.network, &p.vrf, &p.vtysh))
            {
                return Err(self.err(
                    &key,
                    item.span(),
                    format!("{} is listed twice in this service", p.canonical()),
                ));
            }
            out.push(p);
        }
        Ok(out)
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
                t.get("prefix").ok_or_else(|| {
                    self.err(
                        &format!("{key}.prefix"),
                        v.span(),
                        "missing: the long form needs `prefix = \"<address or prefix>\"`",
                    )
                })?
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
        let pkey = if std::ptr::eq(prefix_v, v) {
            key.to_string()
        } else {
            format!("{key}.prefix")
        };
        let text = self.string(&pkey, prefix_v)?;
        let network = parse_prefix(text).map_err(|m| self.err(&pkey, prefix_v.span(), m))?;
        Ok(Prefix {
            network,
            vrf,
            vtysh,
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

/// One `network` line: FRR instance (its vtysh), VRF, prefix.
type NetworkLine<'a> = (&'a std::path::Path, &'a Option<String>, IpNetwork);

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
                let key = (p.vtysh.as_path(), &p.vrf, p.network);
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
