//! `anycastd check --bird`: will BIRD do what this configuration needs? Asks each BIRD
//! instance, without changing anything: birdc reaches BIRD, the include file exists, BIRD
//! knows the protocols `anycastd4` and `anycastd6` (bird.conf includes the file), and
//! bird.conf exports them to BGP and not to the kernel. `configure check` names the
//! configuration file BIRD reads and proves that it parses; that file is then read for
//! the `include` and `export` lines (a warning, not an error, when they are not found
//! there: they may sit in a file it includes).
//!
//! The judging is pure ([`judge`]); [`run`] only collects birdc's answers.

use super::bird::{PROTOCOLS, real_path};
use crate::config::{Config, Router};
use crate::preflight::{Finding, Level, error, ok, warn};
use crate::vtysh::{Output, Runner};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What one BIRD instance answered.
#[derive(Debug, Clone)]
pub struct Answers {
    /// `birdc show status`: its output, or why it failed.
    pub status: Result<String, String>,
    /// Whether the include file exists.
    pub file_exists: bool,
    /// Per protocol of [`PROTOCOLS`]: `show protocols NAME` (Err: why not).
    pub protocols: Vec<Result<String, String>>,
    /// `configure check`: its output, or why it failed.
    pub check: Result<String, String>,
    /// The text of the configuration file `configure check` named, if readable.
    pub bird_conf: Option<(PathBuf, Result<String, String>)>,
}

impl Default for Answers {
    fn default() -> Self {
        Answers {
            status: Err("not asked".to_string()),
            file_exists: false,
            protocols: Vec::new(),
            check: Err("not asked".to_string()),
            bird_conf: None,
        }
    }
}

pub fn judge(file: &Path, a: &Answers) -> Vec<Finding> {
    let mut out = Vec::new();
    match &a.status {
        Ok(text) => {
            let version = text
                .lines()
                .find(|l| l.starts_with("BIRD "))
                .map_or("BIRD", |l| l.trim_end_matches(" ready."));
            out.push(ok(format!("birdc reaches BIRD ({version})")));
        }
        Err(why) => {
            let hint = if why.contains("Permission denied") {
                " (the daemon's user must be in group bird: `adduser _anycastd bird`)"
            } else {
                ""
            };
            out.push(error(format!("birdc cannot reach BIRD: {why}{hint}")));
            return out;
        }
    }
    if a.file_exists {
        out.push(ok(format!("include file {} exists", file.display())));
    } else {
        out.push(error(format!(
            "include file {} does not exist: BIRD neither starts nor reconfigures with a missing include (anycastd creates it when it starts; the package ships it)",
            file.display()
        )));
    }
    for ((proto, _), answer) in PROTOCOLS.iter().zip(&a.protocols) {
        match answer {
            Ok(text) => {
                let state = text
                    .lines()
                    .find(|l| l.starts_with(proto))
                    .and_then(|l| l.split_whitespace().nth(3))
                    .unwrap_or("unknown");
                out.push(ok(format!(
                    "protocol {proto} is configured (state {state})"
                )));
            }
            Err(_) => out.push(error(format!(
                "BIRD has no protocol {proto}: add `include \"{}\";` to bird.conf",
                file.display()
            ))),
        }
    }
    match &a.check {
        Ok(_) => {}
        Err(why) => out.push(error(format!(
            "`birdc configure check` fails: {why}; every change anycastd makes needs a configuration BIRD accepts"
        ))),
    }
    match &a.bird_conf {
        Some((path, Ok(text))) => {
            let real = real_path(file);
            let includes = [file, real.as_path()].iter().any(|f| {
                text.lines().any(|l| {
                    let l = l.trim();
                    l.starts_with("include") && l.contains(&format!("\"{}\"", f.display()))
                })
            });
            if includes {
                out.push(ok(format!(
                    "{} includes {}",
                    path.display(),
                    file.display()
                )));
            } else if globbed(text, &[file, real.as_path()]) {
                out.push(ok(format!(
                    "{} includes {} (through a wildcard)",
                    path.display(),
                    file.display()
                )));
            } else {
                out.push(error(format!(
                    "{} does not include {}: add `include \"{}\";` (BIRD would never read what anycastd writes)",
                    path.display(),
                    file.display(),
                    file.display()
                )));
            }
            for (proto, _) in PROTOCOLS {
                let exported = text.lines().any(|l| {
                    let l = l.split('#').next().unwrap_or("");
                    l.contains("export") && l.contains(&format!("\"{proto}\""))
                });
                if exported {
                    out.push(ok(format!("{} exports {proto}", path.display())));
                } else {
                    out.push(warn(format!(
                        "{} has no `export where proto = \"{proto}\";` line: unless a file it includes has one, BGP is not sent anycastd's prefixes",
                        path.display()
                    )));
                }
            }
            if kernel_exports_all(text) {
                out.push(warn(format!(
                    "{}: a `protocol kernel` exports all: anycastd's blackhole routes would go into the kernel's table and drop this host's own traffic to the service; use `export where source != RTS_STATIC;` or `export none;`",
                    path.display()
                )));
            }
        }
        Some((path, Err(why))) => out.push(warn(format!(
            "cannot read {} to look for the include and export lines: {why}",
            path.display()
        ))),
        None => {}
    }
    out
}

/// Whether an `include "DIR/*.conf";` line of `text` takes one of `files` (a `*` in the
/// file name part only, as the usual conf.d layouts have it).
fn globbed(text: &str, files: &[&Path]) -> bool {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or("").trim();
            let rest = l.strip_prefix("include")?.trim();
            let path = rest.strip_prefix('"')?.split('"').next()?;
            path.contains('*').then_some(path)
        })
        .any(|pattern| {
            let pattern = Path::new(pattern);
            let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else {
                return false;
            };
            let name = name.to_string_lossy();
            let Some((head, tail)) = name.split_once('*') else {
                return false;
            };
            files.iter().any(|f| {
                f.parent() == Some(dir)
                    && f.file_name().is_some_and(|n| {
                        let n = n.to_string_lossy();
                        n.len() >= head.len() + tail.len()
                            && n.starts_with(head)
                            && n.ends_with(tail)
                    })
            })
        })
}

/// Whether a `protocol kernel { … export all; … }` block is in `text` (a rough read of
/// BIRD's syntax: enough for the common layouts).
fn kernel_exports_all(text: &str) -> bool {
    let mut depth = 0i32;
    let mut in_kernel = false;
    for line in text.lines() {
        let code = line.split('#').next().unwrap_or("");
        if depth == 0 && code.trim_start().starts_with("protocol kernel") {
            in_kernel = true;
        }
        if in_kernel && code.contains("export all") {
            return true;
        }
        depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
        if depth <= 0 {
            depth = 0;
            if !code.trim_start().starts_with("protocol kernel") || code.contains('}') {
                in_kernel = false;
            }
        }
    }
    false
}

/// `configure check` names the file: `Reading configuration from /etc/bird/bird.conf`.
fn config_path(text: &str) -> Option<PathBuf> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Reading configuration from "))
        .map(|p| PathBuf::from(p.trim()))
}

pub fn run(config: &Config, runner: &mut dyn Runner) -> u8 {
    let timeout = config.global.vtysh_timeout.max(Duration::from_secs(1));
    let mut seen: Vec<&Router> = Vec::new();
    for s in &config.services {
        for p in &s.prefixes {
            if matches!(p.router, Router::Bird { .. }) && !seen.contains(&&p.router) {
                seen.push(&p.router);
            }
        }
    }
    let mut worst = Level::Ok;
    for router in seen {
        let Router::Bird {
            birdc,
            socket,
            file,
        } = router
        else {
            continue;
        };
        let mut ask = |command: &[&str]| -> Result<String, String> {
            let mut args = vec!["-s".to_string(), socket.display().to_string()];
            args.extend(command.iter().map(|s| s.to_string()));
            match runner.run(birdc, &args, timeout, &|| false) {
                Ok(o) if o.success() => Ok(o.stdout),
                Ok(o) => Err(summary(&o)),
                Err(e) => Err(e.to_string()),
            }
        };
        let mut a = Answers {
            status: ask(&["show", "status"]),
            file_exists: real_path(file).exists(),
            ..Answers::default()
        };
        if a.status.is_ok() {
            a.protocols = PROTOCOLS
                .iter()
                .map(|(proto, _)| ask(&["show", "protocols", proto]))
                .collect();
            a.check = ask(&["configure", "check"]);
            let named = match &a.check {
                Ok(t) | Err(t) => config_path(t),
            };
            a.bird_conf = named.map(|p| {
                let text = std::fs::read_to_string(&p).map_err(|e| e.to_string());
                (p, text)
            });
        }
        println!("{}:", router.title());
        for finding in judge(file, &a) {
            println!("{finding}");
            worst = worst.max(finding.level);
        }
    }
    match worst {
        Level::Error => {
            println!("\nBIRD is not ready for this configuration (errors above).");
            1
        }
        Level::Warning => {
            println!("\nBIRD can run this configuration, but read the warnings above.");
            0
        }
        Level::Ok => {
            println!("\nBIRD is ready for this configuration.");
            0
        }
    }
}

/// birdc's answer in one line: its last non-empty line (the error), with the exit status.
fn summary(o: &Output) -> String {
    let last = |s: &str| {
        s.lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.ends_with(" ready."))
            .map(str::to_string)
    };
    let code = match o.code {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".to_string(),
    };
    match last(&o.stderr).or_else(|| last(&o.stdout)) {
        Some(line) => format!("{code}: {line}"),
        None => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "router id 192.0.2.1;\nprotocol device {}\nprotocol kernel {\n\tipv4 {\n\t\texport all;\n\t};\n}\ninclude \"/etc/bird/anycastd.conf\";\nprotocol bgp b4 {\n\tipv4 { export where proto = \"anycastd4\"; };\n}\n";

    fn answers(conf: &str) -> Answers {
        Answers {
            status: Ok("BIRD 2.0.12 ready.\nBIRD 2.0.12\nRouter ID is 192.0.2.1\n".into()),
            file_exists: true,
            protocols: vec![
                Ok("BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\nanycastd4  Static     master4    up     02:34:06.052\n".into()),
                Err("exit status 1: syntax error, unexpected CF_SYM_UNDEFINED".into()),
            ],
            check: Ok("Reading configuration from /etc/bird/bird.conf\nConfiguration OK\n".into()),
            bird_conf: Some(("/etc/bird/bird.conf".into(), Ok(conf.into()))),
        }
    }

    #[test]
    fn judges_what_bird_answered() {
        let f = judge(Path::new("/etc/bird/anycastd.conf"), &answers(CONF));
        let text: Vec<String> = f.iter().map(|x| x.to_string()).collect();
        let has =
            |level: Level, part: &str| f.iter().any(|x| x.level == level && x.text.contains(part));
        assert!(
            has(Level::Ok, "birdc reaches BIRD (BIRD 2.0.12)"),
            "{text:?}"
        );
        assert!(
            has(Level::Ok, "protocol anycastd4 is configured (state up)"),
            "{text:?}"
        );
        assert!(
            has(Level::Error, "BIRD has no protocol anycastd6"),
            "{text:?}"
        );
        assert!(has(Level::Ok, "exports anycastd4"), "{text:?}");
        assert!(
            has(Level::Warning, "no `export where proto = \"anycastd6\";`"),
            "{text:?}"
        );
        assert!(has(Level::Warning, "exports all"), "{text:?}");
        assert!(
            has(Level::Ok, "includes /etc/bird/anycastd.conf"),
            "{text:?}"
        );
    }

    #[test]
    fn a_kernel_protocol_that_filters_is_fine() {
        let conf = "protocol kernel {\n\tipv4 { export where source != RTS_STATIC; };\n}\nprotocol bgp x {\n\tipv4 { export all; };\n}\n";
        assert!(!kernel_exports_all(conf));
        let conf_d = "include \"/etc/bird/conf.d/*.conf\";\n";
        assert!(globbed(
            conf_d,
            &[Path::new("/etc/bird/conf.d/anycastd.conf")]
        ));
        assert!(!globbed(conf_d, &[Path::new("/etc/bird/anycastd.conf")]));
        let f = judge(
            Path::new("/etc/bird/anycastd.conf"),
            &answers("include \"/etc/bird/other.conf\";\n"),
        );
        assert!(
            f.iter()
                .any(|x| x.level == Level::Error && x.text.contains("does not include")),
            "{f:?}"
        );
        assert!(kernel_exports_all(
            "protocol kernel { ipv4 { export all; }; }\n"
        ));
        assert_eq!(
            config_path(
                "BIRD 2.0.12 ready.\nReading configuration from /etc/bird/bird.conf\nConfiguration OK\n"
            ),
            Some(PathBuf::from("/etc/bird/bird.conf"))
        );
    }

    #[test]
    fn an_unreachable_bird_stops_the_check_there() {
        let a = Answers {
            status: Err("exit status 1: Unable to connect to server control socket (/run/bird/bird.ctl): Permission denied".into()),
            ..Answers::default()
        };
        let f = judge(Path::new("/etc/bird/anycastd.conf"), &a);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].level, Level::Error);
        assert!(
            f[0].text.contains("adduser _anycastd bird"),
            "{}",
            f[0].text
        );
    }
}
