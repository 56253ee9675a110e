//! Durations as operators write them in the configuration, and as we print them back.
//!
//! The Python anycastd took pydantic's `timedelta`: seconds (integer or fractional),
//! `"HH:MM:SS"` and ISO-8601 `"PT1M"`. We accept those and the forms people expect from
//! other daemons: `"500ms"`, `"5s"`, `"1m30s"`, `"1h"`. Parsing is pure and knows nothing
//! of TOML; the configuration module turns a failure into a message with a key path.

use std::time::Duration;

/// What the accepted forms are, for error messages.
pub const ACCEPTED: &str = "seconds as a number (5, 0.5) or a string such as \"500ms\", \"5s\", \"1m30s\", \"00:01:00\" or \"PT1M\"";

/// The longest duration any setting takes: a day. Larger values are typos, and keeping
/// them bounded keeps `Instant` arithmetic far from overflow.
pub const MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// Seconds as a float (TOML integers and floats both end up here).
pub fn from_secs_f64(secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() {
        return Err(format!("{secs} is not a finite number of seconds"));
    }
    if secs < 0.0 {
        return Err(format!("must not be negative, got {secs}"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{secs}: {e}"))
}

/// A duration string in any of the accepted forms.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".to_string());
    }
    let parsed = if let Ok(secs) = s.parse::<f64>() {
        from_secs_f64(secs)
    } else if s.starts_with(['P', 'p']) {
        parse_iso8601(s)
    } else if s.contains(':') {
        parse_clock(s)
    } else {
        parse_units(s)
    };
    parsed.map_err(|e| format!("{e} in {text:?}"))
}

/// `1h30m`, `500ms`, `1.5s`: one or more number+unit pairs.
fn parse_units(s: &str) -> Result<Duration, String> {
    // Summed as seconds and converted once: Duration's `+=` would panic on overflow.
    let mut total = 0.0_f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err("expected a number".to_string());
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("bad number {:?}", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        rest = &rest[unit_len..];
        let scale = match unit {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" => 3600.0,
            "" => return Err("missing unit (ms, s, m or h)".to_string()),
            other => return Err(format!("unknown unit {other:?} (ms, s, m or h)")),
        };
        total += number * scale;
    }
    from_secs_f64(total)
}

/// `HH:MM:SS` or `HH:MM:SS.fff`, as pydantic reads them.
fn parse_clock(s: &str) -> Result<Duration, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let [h, m, sec] = parts.as_slice() else {
        return Err("expected HH:MM:SS".to_string());
    };
    let num = |p: &str, what: &str| -> Result<f64, String> {
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(format!("bad {what} {p:?}"));
        }
        p.parse::<f64>().map_err(|_| format!("bad {what} {p:?}"))
    };
    let (h, m, sec) = (num(h, "hours")?, num(m, "minutes")?, num(sec, "seconds")?);
    if m >= 60.0 || sec >= 60.0 {
        return Err("minutes and seconds must be below 60".to_string());
    }
    from_secs_f64(h * 3600.0 + m * 60.0 + sec)
}

/// ISO-8601 `PnDTnHnMnS` (weeks, months and years are not durations a daemon needs).
fn parse_iso8601(s: &str) -> Result<Duration, String> {
    let body = &s[1..];
    let (date, time) = match body.find(['T', 't']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mut total = 0.0;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> Result<(), String> {
        let mut rest = part;
        let mut allowed = units;
        while !rest.is_empty() {
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
                .ok_or_else(|| "number without a unit".to_string())?;
            let number: f64 = rest[..end]
                .replace(',', ".")
                .parse()
                .map_err(|_| format!("bad number {:?}", &rest[..end]))?;
            let unit = rest[end..].chars().next().map(|c| c.to_ascii_uppercase());
            let pos = allowed
                .iter()
                .position(|(u, _)| Some(*u) == unit)
                .ok_or_else(|| format!("unexpected {:?}", &rest[end..]))?;
            total += number * allowed[pos].1;
            any = true;
            allowed = &allowed[pos + 1..];
            rest = &rest[end + 1..];
        }
        Ok(())
    };
    take(date, &[('D', 86400.0)])?;
    if let Some(time) = time {
        if time.is_empty() {
            return Err("nothing after T".to_string());
        }
        take(time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    if !any {
        return Err("no duration after P".to_string());
    }
    from_secs_f64(total)
}

/// Short human form used in `anycastd check` and log fields: `5s`, `1.5s`, `250ms`, `2m`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 && !d.is_zero() {
        return match d.as_micros() {
            0 => format!("{}ns", d.as_nanos()),
            us => format!("{us}us"),
        };
    }
    if ms % 1000 != 0 {
        if ms < 1000 {
            return format!("{ms}ms");
        }
        return format!("{}s", d.as_secs_f64());
    }
    let s = d.as_secs();
    if s != 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s != 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn accepts_every_documented_form() {
        for (text, want) in [
            ("5", ms(5000)),
            ("0.5", ms(500)),
            ("500ms", ms(500)),
            ("5s", ms(5000)),
            ("1.5s", ms(1500)),
            ("1m", ms(60_000)),
            ("1m30s", ms(90_000)),
            ("2h", ms(7_200_000)),
            ("00:01:00", ms(60_000)),
            ("01:00:01.5", ms(3_601_500)),
            ("PT1M", ms(60_000)),
            ("PT0.5S", ms(500)),
            ("PT1H30M", ms(5_400_000)),
            ("P1D", ms(86_400_000)),
            ("pt10s", ms(10_000)),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_garbage_with_the_text_in_the_message() {
        for text in [
            "",
            "5x",
            "ms",
            "1:2",
            "00:61:00",
            "P",
            "PT",
            "PTM",
            "P1H",
            "-5s",
            "abc",
            "5 s s",
            "PT1S1M",
            "NaN",
            "inf",
            "10000000000000000000s10000000000000000000s",
        ] {
            let err = parse(text).expect_err(text);
            assert!(!err.is_empty(), "{text}");
        }
        assert!(parse("5x").unwrap_err().contains("\"5x\""));
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format(ms(5000)), "5s");
        assert_eq!(format(ms(500)), "500ms");
        assert_eq!(format(ms(1500)), "1.5s");
        assert_eq!(format(ms(120_000)), "2m");
        assert_eq!(format(ms(3_600_000)), "1h");
        assert_eq!(format(Duration::ZERO), "0s");
    }

    #[test]
    fn negative_and_infinite_seconds_are_errors() {
        assert!(from_secs_f64(-1.0).is_err());
        assert!(from_secs_f64(f64::INFINITY).is_err());
        assert!(from_secs_f64(f64::NAN).is_err());
        assert_eq!(from_secs_f64(0.25), Ok(ms(250)));
    }
}
