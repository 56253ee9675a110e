//! The shared value walkers. [`Ctx`] builds every error, so that each names the file, the
//! key path (`services.dns.checks.cabourotte[0].interval`) and the line and column the same
//! way, and it reads what more than one table has: tables and their known keys, arrays,
//! strings, and durations with their lower and upper bounds.

use super::{ConfigError, ErrorKind};
use crate::duration;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One validation pass over one text: every error is built here so that each carries
/// the file, key path and position the same way.
pub(super) struct Ctx<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
}

pub(super) type Res<T> = Result<T, ConfigError>;

impl Ctx<'_> {
    pub(super) fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col_bytes(self.text.as_bytes(), offset)
    }

    pub(super) fn err(
        &self,
        key: &str,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            path: self.path.to_path_buf(),
            kind: ErrorKind::Invalid,
            key: (!key.is_empty()).then(|| key.to_string()),
            position: Some(self.line_col(span.start)),
            message: message.into(),
        }
    }

    pub(super) fn table<'v, 'i>(
        &self,
        key: &str,
        v: &'v Spanned<DeValue<'i>>,
    ) -> Res<&'v DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Ok(t),
            DeValue::Array(a) if a.iter().all(|e| e.get_ref().is_table()) && !a.is_empty() => {
                Err(self.err(
                    key,
                    v.span(),
                    format!(
                        "must be a table, found an array of tables: write [{key}], not [[{key}]]"
                    ),
                ))
            }
            other => Err(self.err(
                key,
                v.span(),
                format!("must be a table, found {}", describe(other)),
            )),
        }
    }

    /// Reject every key not in `allowed`, naming the ones that are.
    pub(super) fn known_keys(&self, key: &str, t: &DeTable<'_>, allowed: &[&str]) -> Res<()> {
        for k in t.keys() {
            if !allowed.contains(&k.get_ref().as_ref()) {
                let list = allowed
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(self.err(
                    &join(key, k.get_ref()),
                    k.span(),
                    format!("unknown key; accepted here: {list}"),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn array<'v, 'i>(
        &self,
        key: &str,
        v: &'v Spanned<DeValue<'i>>,
        what: &str,
    ) -> Res<&'v [Spanned<DeValue<'i>>]> {
        match v.get_ref() {
            DeValue::Array(a) if a.is_empty() => {
                Err(self.err(key, v.span(), format!("is empty: list at least one {what}")))
            }
            DeValue::Array(a) => Ok(a),
            other => Err(self.err(
                key,
                v.span(),
                format!("must be an array of {what}s, found {}", describe(other)),
            )),
        }
    }

    pub(super) fn string<'v>(&self, key: &str, v: &'v Spanned<DeValue<'_>>) -> Res<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Ok(s),
            other => Err(self.err(
                key,
                v.span(),
                format!("must be a string, found {}", describe(other)),
            )),
        }
    }

    /// A duration that may be zero (where zero means "off").
    pub(super) fn duration(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Res<Duration> {
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) if n < 0 => Err(format!("must not be negative, got {n}")),
                Ok(n) => Ok(Duration::from_secs(n.unsigned_abs())),
                Err(_) => Err(format!("{i} is out of range")),
            },
            DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
                Ok(x) => duration::from_secs_f64(x),
                Err(_) => Err(format!("{f} is not a number of seconds")),
            },
            DeValue::String(s) => duration::parse(s),
            other => Err(format!("found {}", describe(other))),
        };
        match parsed {
            Ok(d) if d > duration::MAX => Err(self.err(
                key,
                v.span(),
                format!("{} is longer than the maximum of 24h", duration::format(d)),
            )),
            Ok(d) => Ok(d),
            Err(m) => Err(self.err(
                key,
                v.span(),
                format!("{m}; accepted: {}", duration::ACCEPTED),
            )),
        }
    }

    /// A duration of at least `min` (and never zero).
    pub(super) fn positive_duration(
        &self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        min: Duration,
    ) -> Res<Duration> {
        let d = self.duration(key, v)?;
        if d.is_zero() {
            return Err(self.err(
                key,
                v.span(),
                format!(
                    "must be greater than zero; accepted: {}",
                    duration::ACCEPTED
                ),
            ));
        }
        if d < min {
            return Err(self.err(
                key,
                v.span(),
                format!(
                    "{} is too short: the minimum is {}",
                    duration::format(d),
                    duration::format(min)
                ),
            ));
        }
        Ok(d)
    }

    pub(super) fn at_most(
        &self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        d: Duration,
        max: Duration,
        why: &str,
    ) -> Res<()> {
        if d > max {
            return Err(self.err(
                key,
                v.span(),
                format!(
                    "{} is too long: the maximum is {} ({why})",
                    duration::format(d),
                    duration::format(max)
                ),
            ));
        }
        Ok(())
    }
}

pub(super) fn line_col_bytes(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

/// A key as TOML would write it in a dotted path.
pub(super) fn key_part(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

pub(super) fn join(parent: &str, k: &str) -> String {
    if parent.is_empty() {
        key_part(k)
    } else {
        format!("{parent}.{}", key_part(k))
    }
}

pub(super) fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("the string {s:?}"),
        DeValue::Integer(i) => format!("the integer {i}"),
        DeValue::Float(f) => format!("the float {f}"),
        DeValue::Boolean(b) => format!("the boolean {b}"),
        DeValue::Datetime(d) => format!("the datetime {d}"),
        DeValue::Array(_) => "an array".to_string(),
        DeValue::Table(_) => "a table".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col_bytes(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_col_bytes("é\nx".as_bytes(), 2), (1, 2));
    }
}
