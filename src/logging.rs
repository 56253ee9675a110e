//! Log lines in the Python anycastd's three formats (human, json, logfmt) on env_logger.
//!
//! Events carry structured fields through `log`'s key-values (`info!(service_name = n; "…")`).
//! JSON puts the fields first, then `event`, `level` and `timestamp` (ISO-8601 UTC with
//! microseconds and `Z`), like upstream's structlog output, so existing log pipelines keep
//! working. Everything goes to stdout; the formatting itself is pure and tested.

use log::kv::{Key, Value, VisitSource};
use log::{Level, LevelFilter};
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Logfmt,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "human" => Some(Format::Human),
            "json" => Some(Format::Json),
            "logfmt" => Some(Format::Logfmt),
            _ => None,
        }
    }
}

/// `debug`, `info`, `warning` (or `warn`), `error`, any case.
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    match s.to_ascii_lowercase().as_str() {
        "debug" => Some(LevelFilter::Debug),
        "info" => Some(LevelFilter::Info),
        "warning" | "warn" => Some(LevelFilter::Warn),
        "error" => Some(LevelFilter::Error),
        _ => None,
    }
}

/// A field value, typed as far as JSON needs.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Str(String),
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
}

/// One event, ready to format.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub timestamp: SystemTime,
    pub level: Level,
    pub text: String,
    pub fields: Vec<(String, FieldValue)>,
}

struct Collect(Vec<(String, FieldValue)>);

impl<'kvs> VisitSource<'kvs> for Collect {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        let v = if let Some(b) = value.to_bool() {
            FieldValue::Bool(b)
        } else if let Some(s) = value.to_borrowed_str() {
            FieldValue::Str(s.to_string())
        } else if let Some(i) = value.to_u64() {
            FieldValue::UInt(i)
        } else if let Some(i) = value.to_i64() {
            FieldValue::Int(i)
        } else if let Some(f) = value.to_f64() {
            FieldValue::Float(f)
        } else {
            FieldValue::Str(value.to_string())
        };
        self.0.push((key.as_str().to_string(), v));
        Ok(())
    }
}

pub fn level_name(l: Level) -> &'static str {
    match l {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug | Level::Trace => "debug",
    }
}

/// `2024-03-25T15:17:23.783539Z`
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

fn json_value(v: &FieldValue) -> String {
    match v {
        FieldValue::Str(s) => json_string(s),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Int(i) => i.to_string(),
        FieldValue::UInt(i) => i.to_string(),
        FieldValue::Float(f) if f.is_finite() => f.to_string(),
        FieldValue::Float(f) => json_string(&f.to_string()),
    }
}

fn plain_value(v: &FieldValue) -> String {
    match v {
        FieldValue::Str(s) => s.clone(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Int(i) => i.to_string(),
        FieldValue::UInt(i) => i.to_string(),
        FieldValue::Float(f) => f.to_string(),
    }
}

/// logfmt quoting: bare when safe, else a JSON-style quoted string.
fn logfmt_value(s: &str) -> String {
    if !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control())
    {
        s.to_string()
    } else {
        json_string(s)
    }
}

pub fn format_event(e: &Event, format: Format, color: bool) -> String {
    let mut out = String::new();
    match format {
        Format::Json => {
            out.push('{');
            for (k, v) in &e.fields {
                let _ = write!(out, "{}: {}, ", json_string(k), json_value(v));
            }
            let _ = write!(
                out,
                "\"event\": {}, \"level\": \"{}\", \"timestamp\": \"{}\"}}",
                json_string(&e.text),
                level_name(e.level),
                timestamp(e.timestamp)
            );
        }
        Format::Logfmt => {
            let _ = write!(
                out,
                "timestamp={} level={} event={}",
                timestamp(e.timestamp),
                level_name(e.level),
                logfmt_value(&e.text)
            );
            for (k, v) in &e.fields {
                let _ = write!(out, " {k}={}", logfmt_value(&plain_value(v)));
            }
        }
        Format::Human => {
            let (c_level, dim, bold, cyan, magenta, reset) = if color {
                let lc = match e.level {
                    Level::Error => "\x1b[31;1m",
                    Level::Warn => "\x1b[33m",
                    Level::Info => "\x1b[32m",
                    _ => "\x1b[34m",
                };
                (lc, "\x1b[2m", "\x1b[1m", "\x1b[36m", "\x1b[35m", "\x1b[0m")
            } else {
                ("", "", "", "", "", "")
            };
            let _ = write!(
                out,
                "{dim}{}{reset} [{c_level}{:<9}{reset}] {bold}{:<30}{reset}",
                timestamp(e.timestamp),
                level_name(e.level),
                e.text
            );
            for (k, v) in &e.fields {
                let _ = write!(out, " {cyan}{k}{reset}={magenta}{}{reset}", plain_value(v));
            }
            if e.fields.is_empty() {
                out.truncate(out.trim_end().len());
            }
        }
    }
    out
}

/// Install the logger: our own events at `level`, other crates' at warnings at most.
pub fn init(level: LevelFilter, format: Format, color: bool) {
    let others = level.min(LevelFilter::Warn);
    let mut b = env_logger::Builder::new();
    b.filter_level(others)
        .filter_module("anycastd", level)
        .target(env_logger::Target::Stdout)
        .format(move |buf, record| {
            let mut fields = Collect(Vec::new());
            let _ = record.key_values().visit(&mut fields);
            let e = Event {
                timestamp: SystemTime::now(),
                level: record.level(),
                text: record.args().to_string(),
                fields: fields.0,
            };
            writeln!(buf, "{}", format_event(&e, format, color))
        });
    // A second init (tests) keeps the first logger; nothing to report.
    let _ = b.try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ev() -> Event {
        Event {
            timestamp: UNIX_EPOCH + Duration::from_micros(1_711_379_843_783_539),
            level: Level::Info,
            text: "Starting service \"dns\".".into(),
            fields: vec![
                ("service_name".into(), FieldValue::Str("dns".into())),
                ("service_healthy".into(), FieldValue::Bool(false)),
                ("count".into(), FieldValue::UInt(2)),
            ],
        }
    }

    #[test]
    fn timestamps_are_iso8601_utc_micros() {
        assert_eq!(timestamp(ev().timestamp), "2024-03-25T15:17:23.783539Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(timestamp(leap).starts_with("2000-02-29T00:00:00"));
    }

    #[test]
    fn json_puts_fields_first_then_event_level_timestamp() {
        let line = format_event(&ev(), Format::Json, false);
        assert_eq!(
            line,
            r#"{"service_name": "dns", "service_healthy": false, "count": 2, "event": "Starting service \"dns\".", "level": "info", "timestamp": "2024-03-25T15:17:23.783539Z"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "Starting service \"dns\".");
    }

    #[test]
    fn logfmt_and_human() {
        assert_eq!(
            format_event(&ev(), Format::Logfmt, false),
            r#"timestamp=2024-03-25T15:17:23.783539Z level=info event="Starting service \"dns\"." service_name=dns service_healthy=false count=2"#
        );
        let human = format_event(&ev(), Format::Human, false);
        assert!(
            human.starts_with("2024-03-25T15:17:23.783539Z [info     ] Starting service \"dns\".")
        );
        assert!(human.ends_with("service_name=dns service_healthy=false count=2"));
        assert!(format_event(&ev(), Format::Human, true).contains("\x1b["));
    }

    #[test]
    fn parses_names_case_insensitively() {
        assert_eq!(parse_level("WARNING"), Some(LevelFilter::Warn));
        assert_eq!(parse_level("Debug"), Some(LevelFilter::Debug));
        assert_eq!(parse_level("trace"), None);
        assert_eq!(Format::parse("JSON"), Some(Format::Json));
        assert_eq!(Format::parse("xml"), None);
    }
}
