//! `checks.cabourotte` entries: a check name in the short form, or a table with `name`,
//! `url`, `interval`, `timeout` and `max_age`; and the Cabourotte base URL.

use super::values::{Ctx, Res, describe};
use super::{
    CHECK_KEYS, Check, DEFAULT_CABOUROTTE_URL, DEFAULT_INTERVAL, DEFAULT_MAX_AGE, DEFAULT_TIMEOUT,
    MAX_TIMEOUT, MIN_INTERVAL, MIN_TIMEOUT,
};
use crate::duration;
use toml::Spanned;
use toml::de::DeValue;

impl Ctx<'_> {
    /// The list at `key` (`services.<name>.checks.cabourotte`).
    pub(super) fn checks(&self, key: &str, list: &Spanned<DeValue<'_>>) -> Res<Vec<Check>> {
        let mut out: Vec<Check> = Vec::new();
        for (i, item) in self.array(key, list, "check")?.iter().enumerate() {
            let key = format!("{key}[{i}]");
            let c = self.check(&key, item)?;
            if out.iter().any(|o| o.name == c.name && o.url == c.url) {
                return Err(self.err(
                    &key,
                    item.span(),
                    format!(
                        "check {:?} at {} is listed twice in this service",
                        c.name, c.url
                    ),
                ));
            }
            out.push(c);
        }
        Ok(out)
    }

    fn check(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<Check> {
        let mut url = DEFAULT_CABOUROTTE_URL.to_string();
        let mut interval = DEFAULT_INTERVAL;
        let mut timeout = None;
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
                if let Some(iv) = t.get("interval") {
                    interval =
                        self.positive_duration(&format!("{key}.interval"), iv, MIN_INTERVAL)?;
                }
                if let Some(tv) = t.get("timeout") {
                    let k = format!("{key}.timeout");
                    let d = self.positive_duration(&k, tv, MIN_TIMEOUT)?;
                    self.at_most(&k, tv, d, MAX_TIMEOUT)?;
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
            url,
            interval,
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT.min(interval)),
            max_age,
        })
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
