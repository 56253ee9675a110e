//! The built-in check kinds' entries: `checks.command` (an argv whose program must exist and
//! be executable now), `checks.http` (a plain-HTTP URL, the expected status and body) and
//! `checks.tcp` (an address). Each has a short form, a string, and a long form, a table
//! with `name`, `interval` and `timeout` beside its own keys.

use super::values::{Ctx, Res, describe};
use super::{
    CHECK_PATH, COMMAND_KEYS, Check, DEFAULT_INTERVAL, DEFAULT_TIMEOUT, HTTP_KEYS, Probe, TCP_KEYS,
};
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

impl Ctx<'_> {
    /// One entry of `checks.command`, `checks.http` or `checks.tcp` of service `service`.
    pub(super) fn builtin(
        &self,
        key: &str,
        kind: &str,
        v: &Spanned<DeValue<'_>>,
        service: &str,
    ) -> Res<Check> {
        let (main_key, keys, example) = match kind {
            "command" => ("command", COMMAND_KEYS, "\"/usr/local/bin/check-dns\""),
            "http" => ("url", HTTP_KEYS, "\"http://127.0.0.1:8080/healthz\""),
            _ => ("address", TCP_KEYS, "\"127.0.0.1:53\""),
        };
        let empty = DeTable::new();
        // The short form is the main value alone.
        let (long, t, main_key, main_v) = match v.get_ref() {
            DeValue::String(_) => (false, &empty, key.to_string(), v),
            DeValue::Table(t) => {
                self.known_keys(key, t, keys)?;
                let mk = format!("{key}.{main_key}");
                let mv = t.get(main_key).ok_or_else(|| {
                    self.err(
                        &mk,
                        v.span(),
                        format!("missing: the long form needs `{main_key} = ...`"),
                    )
                })?;
                (true, t, mk, mv)
            }
            other => {
                return Err(self.err(
                    key,
                    v.span(),
                    format!(
                        "must be a string ({example}) or a table ({{ name = \"x\", {main_key} = ..., interval = 5 }}), found {}",
                        describe(other)
                    ),
                ));
            }
        };
        let (interval, timeout) = if long {
            self.cadence(key, t)?
        } else {
            (DEFAULT_INTERVAL, DEFAULT_TIMEOUT)
        };
        let (probe, default_name) = match kind {
            "command" => {
                let argv = self.argv(&main_key, main_v)?;
                let name = Path::new(&argv[0])
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| argv[0].clone());
                let service = service.to_string();
                (Probe::Command { argv, service }, name)
            }
            "http" => {
                let url = self.string(&main_key, main_v)?;
                parse_check_url(url).map_err(|m| self.err(&main_key, main_v.span(), m))?;
                let status = match t.get("status") {
                    Some(sv) => Some(self.status(&format!("{key}.status"), sv)?),
                    None => None,
                };
                let body = match t.get("body") {
                    Some(bv) => Some(self.string(&format!("{key}.body"), bv)?.to_string()),
                    None => None,
                };
                let probe = Probe::Http {
                    url: url.to_string(),
                    status,
                    body,
                };
                (probe, url.to_string())
            }
            _ => {
                let address = self.string(&main_key, main_v)?;
                parse_address(address).map_err(|m| self.err(&main_key, main_v.span(), m))?;
                let probe = Probe::Tcp {
                    address: address.to_string(),
                };
                (probe, address.to_string())
            }
        };
        let name = match t.get("name") {
            Some(nv) => self.check_name(&format!("{key}.name"), nv)?.to_string(),
            None => default_name,
        };
        Ok(Check {
            name,
            interval,
            timeout,
            probe,
        })
    }

    /// `global.hook`: an argv like a command check's.
    pub(super) fn hook_argv(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<Vec<String>> {
        self.argv(key, v)
    }

    /// `command`: argv, a non-empty list of strings (or one string: a program without
    /// arguments) whose program exists and is executable by this user.
    fn argv(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<Vec<String>> {
        let mut argv: Vec<String> = match v.get_ref() {
            DeValue::String(s) => vec![s.to_string()],
            DeValue::Array(a) if a.is_empty() => {
                return Err(self.err(key, v.span(), "is empty: give the program and its arguments, e.g. [\"/usr/bin/dig\", \"@127.0.0.1\", \"check.local\"]"));
            }
            DeValue::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                for (i, item) in a.iter().enumerate() {
                    let s = self.string(&format!("{key}[{i}]"), item)?;
                    if s.contains('\0') {
                        return Err(self.err(
                            &format!("{key}[{i}]"),
                            item.span(),
                            "must not contain a NUL character",
                        ));
                    }
                    out.push(s.to_string());
                }
                out
            }
            other => {
                return Err(self.err(
                    key,
                    v.span(),
                    format!(
                        "must be a list of strings (the program and its arguments; no shell), found {}",
                        describe(other)
                    ),
                ));
            }
        };
        argv[0] = program(&argv[0])
            .map_err(|m| self.err(key, v.span(), m))?
            .display()
            .to_string();
        Ok(argv)
    }

    /// `status`: the HTTP status that passes.
    fn status(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<u16> {
        match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .filter(|n| (100..=599).contains(n))
                .map(|n| n as u16)
                .ok_or_else(|| {
                    self.err(
                        key,
                        v.span(),
                        format!("must be an HTTP status from 100 to 599, got {i}"),
                    )
                }),
            other => Err(self.err(
                key,
                v.span(),
                format!(
                    "must be an HTTP status from 100 to 599, found {}",
                    describe(other)
                ),
            )),
        }
    }
}

/// Where a command check's program is: an absolute path as given, or a bare name looked
/// up in [`CHECK_PATH`]; it must be a file this user may execute.
pub fn program(name: &str) -> Result<PathBuf, String> {
    if name.is_empty() {
        return Err("the program must not be empty".into());
    }
    let candidates: Vec<PathBuf> = if name.contains('/') {
        if !name.starts_with('/') {
            return Err(format!(
                "{name:?}: give the program as an absolute path (or a bare name found in {CHECK_PATH})"
            ));
        }
        vec![PathBuf::from(name)]
    } else {
        CHECK_PATH
            .split(':')
            .map(|d| Path::new(d).join(name))
            .collect()
    };
    let mut why = None;
    for p in &candidates {
        match std::fs::metadata(p) {
            Ok(m) if !m.is_file() => why = Some(format!("{}: not a regular file", p.display())),
            Ok(_) => match rustix::fs::access(p, rustix::fs::Access::EXEC_OK) {
                Ok(()) => return Ok(p.clone()),
                Err(_) => {
                    why = Some(format!(
                        "{}: not executable by this user (uid {})",
                        p.display(),
                        rustix::process::geteuid().as_raw()
                    ))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => why = Some(format!("{}: {e}", p.display())),
        }
    }
    Err(why.unwrap_or_else(|| {
        if name.starts_with('/') {
            format!("{name}: no such program")
        } else {
            format!("{name:?}: no such program in {CHECK_PATH}")
        }
    }))
}

/// An `http` check's URL: plain HTTP with a host (an optional port, path and query).
pub fn parse_check_url(text: &str) -> Result<(), String> {
    let accepted = "accepted: http://HOST[:PORT][/PATH], e.g. http://127.0.0.1:8080/healthz";
    if text
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    {
        return Err(format!(
            "{text:?}: https is not supported (the daemon has no TLS stack); use a command check with curl instead, e.g. command = [\"/usr/bin/curl\", \"-fsS\", \"-o\", \"/dev/null\", \"-m\", \"1\", {text:?}]"
        ));
    }
    let Some(rest) = text.strip_prefix("http://") else {
        return Err(format!("{text:?} is not an http:// URL; {accepted}"));
    };
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{text:?}: contains white space; {accepted}"));
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return Err(format!(
            "{text:?}: user information in the URL is not supported; {accepted}"
        ));
    }
    let uri: ureq::http::Uri = text
        .parse()
        .map_err(|e| format!("{text:?}: not a valid URL ({e}); {accepted}"))?;
    match uri.host() {
        Some(h) if !h.is_empty() => {}
        _ => return Err(format!("{text:?}: no host; {accepted}")),
    }
    if uri.port_u16() == Some(0) {
        return Err(format!("{text:?}: bad port (1 to 65535); {accepted}"));
    }
    Ok(())
}

/// A `tcp` check's address: `IP:PORT`, `[IPv6]:PORT` or `host:port`.
pub fn parse_address(text: &str) -> Result<(), String> {
    let accepted = "accepted: IP:PORT, [IPv6]:PORT or HOST:PORT, e.g. 127.0.0.1:53";
    if let Ok(a) = text.parse::<std::net::SocketAddr>() {
        if a.port() == 0 {
            return Err(format!("{text:?}: bad port (1 to 65535); {accepted}"));
        }
        return Ok(());
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{text:?}: no port; {accepted}"));
    };
    if !port.chars().all(|c| c.is_ascii_digit()) || !port.parse::<u16>().is_ok_and(|p| p != 0) {
        return Err(format!("{text:?}: bad port (1 to 65535); {accepted}"));
    }
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(format!("{text:?}: bad host; {accepted}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_and_must_be_executable() {
        assert_eq!(program("true").ok(), Some(PathBuf::from("/usr/bin/true")));
        assert_eq!(program("/bin/sh").ok(), Some(PathBuf::from("/bin/sh")));
        assert!(
            program("/nonexistent/x")
                .unwrap_err()
                .contains("no such program")
        );
        assert!(
            program("no-such-program-here")
                .unwrap_err()
                .contains("no such program in")
        );
        assert!(program("bin/sh").unwrap_err().contains("absolute path"));
        assert!(program("/etc").unwrap_err().contains("not a regular file"));
        let dir = std::env::temp_dir().join(format!("anycastd-prog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = program(plain.to_str().unwrap()).unwrap_err();
        assert!(err.contains("not executable"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn urls_and_addresses() {
        assert!(parse_check_url("http://127.0.0.1:8080/healthz?x=1").is_ok());
        assert!(parse_check_url("http://[::1]/").is_ok());
        assert!(parse_check_url("https://x/").unwrap_err().contains("curl"));
        assert!(parse_check_url("HTTPS://x/").unwrap_err().contains("curl"));
        for bad in [
            "ftp://x",
            "http://",
            "http://a@b/",
            "http://h:0/",
            "http://h x/",
        ] {
            assert!(parse_check_url(bad).is_err(), "{bad}");
        }
        for good in ["127.0.0.1:53", "[::1]:53", "localhost:25"] {
            assert!(parse_address(good).is_ok(), "{good}");
        }
        for bad in ["127.0.0.1", "::1:53x", "h:0", "h:99999", ":53", "a b:1"] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
