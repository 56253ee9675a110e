//! One `[services.<name>]` table: its name, `rise` and `fall`, and the `prefixes.<type>` and
//! `checks.<type>` sections, each of which names its entry type and hands the entries to
//! [`prefixes`](super::prefixes) or [`checks`](super::checks).

use super::values::{Ctx, Res, describe, join, key_part};
use super::{CHECK_TYPES, Check, SERVICE_KEYS, Service};
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

const MAX_RISE_FALL: i64 = 1000;

impl Ctx<'_> {
    pub(super) fn service(&self, name: &str, v: &Spanned<DeValue<'_>>) -> Res<Service> {
        let key = format!("services.{}", key_part(name));
        let t = self.table(&key, v)?;
        if name.trim().is_empty() {
            return Err(self.err(&key, v.span(), "a service name must not be empty"));
        }
        if name.chars().any(char::is_control) {
            return Err(self.err(
                &key,
                v.span(),
                "a service name must not contain control characters (it appears in logs)",
            ));
        }
        self.known_keys(&key, t, SERVICE_KEYS)?;
        let prefixes = self.prefix_sections(&key, t, v.span())?;
        let checks = self.check_sections(&key, t, v.span(), name)?;
        let rise = self.count(&format!("{key}.rise"), t.get("rise"))?;
        let fall = self.count(&format!("{key}.fall"), t.get("fall"))?;
        Ok(Service {
            name: name.to_string(),
            prefixes,
            checks,
            rise,
            fall,
        })
    }

    /// `rise` / `fall`: a small positive integer, 1 when absent.
    fn count(&self, key: &str, v: Option<&Spanned<DeValue<'_>>>) -> Res<u32> {
        let Some(v) = v else { return Ok(1) };
        match v.get_ref() {
            DeValue::Integer(i) => {
                let n = i64::from_str_radix(i.as_str(), i.radix()).ok();
                match n {
                    Some(n) if (1..=MAX_RISE_FALL).contains(&n) => Ok(n as u32),
                    _ => Err(self.err(
                        key,
                        v.span(),
                        format!("must be an integer from 1 to {MAX_RISE_FALL}, got {i}"),
                    )),
                }
            }
            other => Err(self.err(
                key,
                v.span(),
                format!(
                    "must be an integer from 1 to {MAX_RISE_FALL}, found {}",
                    describe(other)
                ),
            )),
        }
    }

    /// `<service>.checks`: a table of one or more kinds, each a list; the checks in kind
    /// order, then list order.
    fn check_sections(
        &self,
        svc_key: &str,
        svc: &DeTable<'_>,
        svc_span: Range<usize>,
        service: &str,
    ) -> Res<Vec<Check>> {
        let key = format!("{svc_key}.checks");
        let Some(v) = svc.get("checks") else {
            return Err(self.err(
                &key,
                svc_span,
                "missing: every service needs at least one check, e.g. `checks.cabourotte = [...]` or `checks.command = [...]`",
            ));
        };
        let t = self.table(&key, v)?;
        for k in t.keys() {
            if !CHECK_TYPES.contains(&k.get_ref().as_ref()) {
                return Err(self.err(
                    &join(&key, k.get_ref()),
                    k.span(),
                    format!(
                        "unknown check type {:?}; accepted: {}",
                        k.get_ref().as_ref(),
                        CHECK_TYPES.join(", ")
                    ),
                ));
            }
        }
        let mut out = Vec::new();
        for kind in CHECK_TYPES {
            if let Some(list) = t.get(*kind) {
                out.extend(self.checks(&format!("{key}.{kind}"), kind, list, service)?);
            }
        }
        if out.is_empty() {
            return Err(self.err(
                &key,
                v.span(),
                "missing: every service needs at least one check, e.g. `checks.cabourotte = [...]` or `checks.command = [...]`",
            ));
        }
        Ok(out)
    }
}
