//! `checks.<kind>` lists: what every kind shares (the list, duplicate names, `interval` and
//! `timeout`, the name rules), the `checks.cabourotte` entries (a check name in the short
//! form, or a table with `name`, `url`, `interval`, `timeout` and `max_age`) and the
//! Cabourotte base URL. The built-in kinds' own fields are in `builtin`.

use super::values::{Ctx, Res, describe};
use super::{
    CHECK_KEYS, Check, DEFAULT_CABOUROTTE_URL, DEFAULT_INTERVAL, DEFAULT_MAX_AGE, DEFAULT_TIMEOUT,
    MAX_TIMEOUT, MIN_INTERVAL, MIN_TIMEOUT, Probe,
};
use crate::duration;
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

impl Ctx<'_> {
    /// The list at `key` (`services.<name>.checks.<kind>`) of service `service`.
    pub(super) fn checks(
        &self,
        key: &str,
        kind: &str,
        list: &Spanned<DeValue<'_>>,
        service: &str,
    ) -> Res<Vec<Check>> {
        let mut out: Vec<Check> = Vec::new();
        for (i, item) in self.array(key, list, "check")?.iter().enumerate() {
            let key = format!("{key}[{i}]");
            let c = match kind {
                "cabourotte" => self.check(&key, item)?,
                _ => self.builtin(&key, kind, item, service)?,
            };
            let twice = match kind {
                // Cabourotte checks are told apart by name and URL (the Python anycastd's rule).
                "cabourotte" => out
                    .iter()
                    .any(|o| o.name == c.name && o.target() == c.target()),
                _ => out.iter().any(|o| o.name == c.name),
            };
            if twice {
                return Err(self.err(
                    &key,
                    item.span(),
                    format!(
                        "check {:?} at {} is listed twice in this service",
                        c.name,
                        c.target()
                    ),
                ));
            }
            out.push(c);
        }
        Ok(out)
    }

    /// `interval` and `timeout` of a long form, with the defaults and bounds every kind
    /// shares: the timeout defaults to min(1 s, interval) and never exceeds the interval.
    pub(super) fn cadence(&self, key: &str, t: &DeTable<'_>) -> Res<(Duration, Duration)> {
        let mut interval = DEFAULT_INTERVAL;
        let mut timeout = None;
        if let Some(iv) = t.get("interval") {
            interval = self.positive_duration(&format!("{key}.interval"), iv, MIN_INTERVAL)?;
        }
        if let Some(tv) = t.get("timeout") {
            let k = format!("{key}.timeout");
            let d = self.positive_duration(&k, tv, MIN_TIMEOUT)?;
            self.at_most(
                &k,
                tv,
                d,
                MAX_TIMEOUT,
                "nothing else runs while one call waits",
            )?;
            if d > interval {
                return Err(self.err(
                    &k,
                    tv.span(),
                    format!(
                        "{} is longer than the check's interval ({}): a poll must end before the next one is due",
                        duration::format(d),
                        duration::format(interval)
                    ),
                ));
            }
            timeout = Some(d);
        }
        Ok((interval, timeout.unwrap_or(DEFAULT_TIMEOUT.min(interval))))
    }

    fn check(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<Check> {
        let mut url = DEFAULT_CABOUROTTE_URL.to_string();
        let (mut interval, mut timeout) = (DEFAULT_INTERVAL, DEFAULT_TIMEOUT);
        let mut max_age = Some(DEFAULT_MAX_AGE);
        let (name_key, name_v) = match v.get_ref() {
            DeValue::String(_) => (key.to_string(), v),
            DeValue::Table(t) => {
                self.known_keys(key, t, CHECK_KEYS)?;
                if let Some(uv) = t.get("url") {
                    let k = format!("{key}.url");
                    url =
                        parse_url(self.string(&k, uv)?).map_err(|m| self.err(&k, uv.span(), m))?;
                }
                (interval, timeout) = self.cadence(key, t)?;
                if let Some(mv) = t.get("max_age") {
                    let d = self.duration(&format!("{key}.max_age"), mv)?;
                    max_age = (!d.is_zero()).then_some(d);
                }
                let nv = t.get("name").ok_or_else(|| {
                    self.err(
                        &format!("{key}.name"),
                        v.span(),
                        "missing: the long form needs `name = \"<Cabourotte check name>\"`",
                    )
                })?;
                (format!("{key}.name"), nv)
            }
            other => {
                return Err(self.err(
                    key,
                    v.span(),
                    format!(
                        "must be a string (\"dns\") or a table ({{ name = \"dns\", interval = 5 }}), found {}",
                        describe(other)
                    ),
                ));
            }
        };
        let name = self.string(&name_key, name_v)?;
        if name.trim().is_empty() {
            return Err(self.err(&name_key, name_v.span(), "a check name must not be empty"));
        }
        if name.trim() != name || name.chars().any(char::is_control) || name == "." || name == ".."
        {
            return Err(self.err(
                &name_key,
                name_v.span(),
                format!(
                    "{name:?}: a check name with surrounding spaces, control characters, or one that is \".\" or \"..\" cannot be fetched from Cabourotte"
                ),
            ));
        }
        if name.contains('/') {
            return Err(self.err(
                &name_key,
                name_v.span(),
                format!(
                    "{name:?} contains '/': Cabourotte cannot serve such a check's result by name"
                ),
            ));
        }
        Ok(Check {
            name: name.to_string(),
            interval,
            timeout,
            probe: Probe::Cabourotte { url, max_age },
        })
    }

    /// A check's name: a non-empty string without control characters (it goes into logs).
    pub(super) fn check_name<'v>(&self, key: &str, v: &'v Spanned<DeValue<'_>>) -> Res<&'v str> {
        let name = self.string(key, v)?;
        if name.trim().is_empty() {
            return Err(self.err(key, v.span(), "a check name must not be empty"));
        }
        if name.chars().any(char::is_control) {
            return Err(self.err(
                key,
                v.span(),
                format!("{name:?}: a check name must not contain control characters"),
            ));
        }
        Ok(name)
    }
}

/// A Cabourotte base URL: plain HTTP (Cabourotte's TLS always demands a client certificate,
/// which this daemon does not hold), a host, an optional port and path.
pub fn parse_url(text: &str) -> Result<String, String> {
    let accepted = "accepted: http://HOST[:PORT][/PATH], e.g. http://127.0.0.1:9013";
    let Some(rest) = text.strip_prefix("http://") else {
        if text.starts_with("https://") {
            return Err(format!(
                "{text:?}: https is not supported (Cabourotte's TLS requires a client certificate); {accepted}"
            ));
        }
        return Err(format!("{text:?} is not an http:// URL; {accepted}"));
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    let host = &rest[..host_end];
    let bad = |why: &str| Err(format!("{text:?}: {why}; {accepted}"));
    if host.is_empty() {
        return bad("no host");
    }
    if host.contains('@') {
        return bad("user information in the URL is not supported");
    }
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) if v6.parse::<std::net::Ipv6Addr>().is_ok() => match after {
                "" => (v6, None),
                p => match p.strip_prefix(':') {
                    Some(p) => (v6, Some(p)),
                    None => return bad("bad text after the IPv6 address"),
                },
            },
            _ => return bad("bad IPv6 address (write it as [2001:db8::1])"),
        },
        None => match host.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        },
    };
    if !host.starts_with('[')
        && (name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
    {
        return bad("bad host name");
    }
    if let Some(p) = port {
        let ok = !p.is_empty()
            && p.chars().all(|c| c.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|n| n != 0);
        if !ok {
            return bad("bad port (1 to 65535)");
        }
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains white space");
    }
    if rest.contains(['?', '#']) {
        return bad("a query or fragment makes no sense here");
    }
    Ok(text.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_url_accepts_and_normalises() {
        assert_eq!(
            parse_url("http://127.0.0.1:9013/"),
            Ok("http://127.0.0.1:9013".into())
        );
        assert_eq!(
            parse_url("http://cabourotte.local/api/v1"),
            Ok("http://cabourotte.local/api/v1".into())
        );
        for bad in [
            "https://x",
            "ftp://x",
            "http://",
            "http://a:b@h",
            "http://h:99999",
            "http://h/?q",
            "http://[::1",
            "http://h:9013:9014",
            "http://::1:9013",
            "http://h:+9013",
            "http://h:0",
            "http://h%20:80",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
