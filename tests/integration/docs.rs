//! The documentation against the code: README.md, man/anycastd.8 and man/anycastd.toml.5
//! must name every command, option, environment variable, configuration key, exit code and
//! metric the binary has; the man pages must pass `mandoc -Tlint -W warning`; and every
//! complete configuration they show, and examples/config.toml, must pass `anycastd check`.
//!
//! Markup the man pages use, and that these tests look for: options as `Fl -name`,
//! commands as `Cm name`, environment variables as `Ev NAME`, configuration keys as
//! `Ic key` (each defined by an `.It Ic key` item), exit codes as `.It N` items of the
//! EXIT STATUS section.

use crate::harness::TempDir;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const COMMANDS: &[&str] = &["run", "check", "status", "withdraw"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let p = root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn readme() -> String {
    read("README.md")
}

fn man8() -> String {
    read("man/anycastd.8")
}

fn man5() -> String {
    read("man/anycastd.toml.5")
}

fn help() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_anycastd"))
        .arg("--help")
        .output()
        .expect("run anycastd --help");
    assert!(out.status.success(), "anycastd --help: {:?}", out.status);
    String::from_utf8(out.stdout).expect("--help is UTF-8")
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// `token` occurs in `hay` with no word character (letter, digit, `_`, `-`) right before
/// or right after it.
fn has_token(hay: &str, token: &str) -> bool {
    hay.match_indices(token).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + token.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// Every `--long-option` in the help text.
fn long_options(help: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in help.match_indices("--") {
        if help[..i].chars().next_back().is_some_and(is_word) {
            continue;
        }
        let name: String = help[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
            out.insert(name);
        }
    }
    out
}

/// The commands the help text lists under "Commands:", and the four every version has.
fn commands(help: &str) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = COMMANDS.iter().map(|s| s.to_string()).collect();
    let mut in_list = false;
    for line in help.lines() {
        if line.trim_end() == "Commands:" {
            in_list = true;
            continue;
        }
        if !in_list {
            continue;
        }
        if line.trim().is_empty() || !line.starts_with(' ') {
            break;
        }
        // "  run        run the daemon …"; continuation lines are indented further.
        if line.starts_with("  ") && !line.starts_with("   ") {
            if let Some(word) = line.split_whitespace().next() {
                out.insert(word.to_string());
            }
        }
    }
    out
}

/// The `[env: NAME]` variables of the help text.
fn env_vars(help: &str) -> BTreeSet<String> {
    help.match_indices("[env: ")
        .map(|(i, m)| {
            help[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect()
        })
        .collect()
}

/// The text of the man page section `name`, up to the next `.Sh`.
fn man_section<'a>(man: &'a str, name: &str) -> &'a str {
    let head = format!(".Sh {name}\n");
    let start = man
        .find(&head)
        .unwrap_or_else(|| panic!("no `{}` section", head.trim()))
        + head.len();
    let end = man[start..].find("\n.Sh ").map_or(man.len(), |e| start + e);
    &man[start..end]
}

/// The text of the README section whose heading is `heading`, up to the next heading of
/// the same or a higher level.
fn readme_section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let head = format!("{heading}\n");
    let start = readme
        .find(&head)
        .unwrap_or_else(|| panic!("README.md has no `{heading}` heading"))
        + head.len();
    let mut end = readme.len();
    let mut pos = start;
    let mut in_code = false;
    for line in readme[start..].split_inclusive('\n') {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !in_code && hashes > 0 && hashes <= level && line[hashes..].starts_with(' ') {
            end = pos;
            break;
        }
        pos += line.len();
    }
    &readme[start..end]
}

/// `(NAME, code)` of every constant of `pub mod exit` in src/lib.rs.
fn exit_codes() -> Vec<(String, u8)> {
    let lib = read("src/lib.rs");
    let start = lib
        .find("pub mod exit {")
        .expect("src/lib.rs has `pub mod exit {`");
    let body = &lib[start..];
    let body = &body[..body.find("\n}").expect("end of `mod exit`")];
    let codes: Vec<(String, u8)> = body
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("pub const ")?;
            let (name, rest) = rest.split_once(':')?;
            let value = rest.split_once('=')?.1.trim().trim_end_matches(';').trim();
            Some((name.trim().to_string(), value.parse().ok()?))
        })
        .collect();
    assert!(
        codes.len() >= 5,
        "could not read the exit codes of src/lib.rs: {codes:?}"
    );
    codes
}

/// Every `anycastd_*` metric name that src/metrics.rs writes.
fn metric_names() -> BTreeSet<String> {
    let src = read("src/metrics.rs");
    let names: BTreeSet<String> = src
        .match_indices("\"anycastd_")
        .map(|(i, _)| {
            src[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect();
    assert!(
        names.len() >= 10,
        "could not read the metric names of src/metrics.rs: {names:?}"
    );
    names
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

fn check_config(text: &str, what: &str, dir: &Path, n: usize) -> Option<String> {
    let path = dir.join(format!("example-{n}.toml"));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    let out = Command::new(env!("CARGO_BIN_EXE_anycastd"))
        .arg("check")
        .arg("-c")
        .arg(&path)
        .output()
        .expect("run anycastd check");
    (!out.status.success()).then(|| {
        format!(
            "{what}: `anycastd check` exit {:?}: {}\n{text}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

fn fail_if_any(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "the documentation is out of date:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn every_long_option_is_documented() {
    let help = help();
    let options = long_options(&help);
    for expected in ["config", "dry-run", "frr", "json", "log-level", "help"] {
        assert!(
            options.contains(expected),
            "--{expected} not found in --help: {options:?}"
        );
    }
    let (man, readme) = (man8(), readme());
    let items: String = man_section(&man, "OPTIONS")
        .lines()
        .filter(|l| l.starts_with(".It "))
        .collect::<Vec<_>>()
        .join("\n");
    let mut problems = Vec::new();
    for o in &options {
        if !has_token(&items, &format!("Fl -{o}")) {
            problems.push(format!(
                "man/anycastd.8 OPTIONS lacks an item (`.It … Fl -{o}`) for --{o}"
            ));
        }
        if !has_token(&readme, &format!("--{o}")) {
            problems.push(format!("README.md lacks `--{o}`"));
        }
    }
    fail_if_any(problems);
}

#[test]
fn every_command_is_documented() {
    let (man, readme) = (man8(), readme());
    let commands_section = man_section(&man, "COMMANDS");
    let mut problems = Vec::new();
    for c in commands(&help()) {
        if !has_token(man_section(&man, "SYNOPSIS"), &format!("Cm {c}")) {
            problems.push(format!("man/anycastd.8 SYNOPSIS lacks `Cm {c}`"));
        }
        if !commands_section
            .lines()
            .any(|l| l.trim_end() == format!(".It Cm {c}"))
        {
            problems.push(format!("man/anycastd.8 COMMANDS lacks `.It Cm {c}`"));
        }
        if !has_token(&readme, &format!("anycastd {c}")) {
            problems.push(format!("README.md lacks `anycastd {c}`"));
        }
    }
    fail_if_any(problems);
}

#[test]
fn every_environment_variable_is_documented() {
    let vars = env_vars(&help());
    assert!(vars.contains("CONFIG"), "no [env: …] in --help: {vars:?}");
    let environment = man_section(&man8(), "ENVIRONMENT").to_string();
    let readme = readme();
    let mut problems = Vec::new();
    for v in vars.iter().map(String::as_str).chain([
        "NOTIFY_SOCKET",
        "RUNTIME_DIRECTORY",
        "TMPDIR",
        "XDG_RUNTIME_DIR",
    ]) {
        if !has_token(&environment, &format!("Ev {v}")) {
            problems.push(format!("man/anycastd.8 ENVIRONMENT lacks `.It Ev {v}`"));
        }
        if !readme.contains(&format!("`{v}`")) {
            problems.push(format!("README.md lacks `{v}`"));
        }
    }
    fail_if_any(problems);
}

#[test]
fn every_configuration_key_is_documented() {
    let (man, readme) = (man5(), readme());
    let reference = readme_section(&readme, "## Configuration reference");
    let mut problems = Vec::new();
    for key in anycastd::config::all_keys() {
        let item = format!(".It Ic {key}");
        let defined = man.lines().any(|l| {
            l.strip_prefix(&item)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        });
        if !defined {
            problems.push(format!("man/anycastd.toml.5 lacks an item `{item}`"));
        }
        if !reference.contains(&format!("`{key}`")) {
            problems.push(format!(
                "README.md's Configuration reference lacks `{key}` (in backquotes)"
            ));
        }
    }
    fail_if_any(problems);
}

#[test]
fn every_exit_code_is_in_exit_status() {
    let man = man8();
    let section = man_section(&man, "EXIT STATUS");
    let items: BTreeSet<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix(".It "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let readme = readme();
    let codes = readme_section(&readme, "### Exit codes");
    use anycastd::state::Verdict;
    let verdicts = [
        Verdict::Ok,
        Verdict::Warning,
        Verdict::Critical,
        Verdict::Unknown,
    ]
    .map(|v| (format!("status {v:?}"), v as u8));
    let mut problems = Vec::new();
    for (name, code) in exit_codes().into_iter().chain(verdicts) {
        if !items.contains(code.to_string().as_str()) {
            problems.push(format!(
                "man/anycastd.8 EXIT STATUS lacks `.It {code}` ({name})"
            ));
        }
        if !codes.contains(&format!("\n| {code} |")) {
            problems.push(format!(
                "README.md's Exit codes table lacks a `| {code} |` row ({name})"
            ));
        }
    }
    fail_if_any(problems);
}

#[test]
fn every_metric_is_documented() {
    let (man, readme) = (man8(), readme());
    let mut problems = Vec::new();
    for m in metric_names() {
        if !has_token(&man, &format!("Li {m}")) {
            problems.push(format!("man/anycastd.8 lacks `Li {m}`"));
        }
        if !readme.contains(&format!("`{m}`")) {
            problems.push(format!("README.md lacks `{m}`"));
        }
    }
    fail_if_any(problems);
}

#[test]
fn man_pages_pass_mandoc_lint() {
    let pages = [
        root().join("man/anycastd.8"),
        root().join("man/anycastd.toml.5"),
    ];
    let out = match Command::new("mandoc")
        .args(["-Tlint", "-W", "warning"])
        .args(&pages)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !ci() => {
            eprintln!(
                "\n!!! SKIPPED man_pages_pass_mandoc_lint: mandoc is not installed \
                 (apt-get install mandoc).\n!!! With CI=true this is a failure instead of a skip.\n"
            );
            return;
        }
        Err(e) => panic!("cannot run mandoc (apt-get install mandoc): {e}"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "mandoc -Tlint -W warning: exit {:?}\n{text}",
        out.status.code()
    );
}

#[test]
fn example_configuration_passes_check() {
    let path = root().join("examples/config.toml");
    assert!(
        path.exists(),
        "examples/config.toml is missing: the README, the Debian package and `make install` ship it"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_anycastd"))
        .arg("check")
        .arg("-c")
        .arg(&path)
        .output()
        .expect("run anycastd check");
    assert!(
        out.status.success(),
        "anycastd check -c examples/config.toml: exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every complete configuration the README and the man pages show (a block with a
/// `[services.…]` table) is one the daemon accepts.
#[test]
fn documented_configurations_pass_check() {
    let dir = TempDir::new("docs");
    let mut blocks: Vec<(String, String)> = Vec::new();
    let readme = readme();
    let mut lines = readme.lines();
    let mut n = 0;
    while let Some(line) = lines.next() {
        if line.trim_end() == "```toml" {
            n += 1;
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            blocks.push((format!("README.md toml block {n}"), body.join("\n") + "\n"));
        }
    }
    for (page, text) in [("man/anycastd.8", man8()), ("man/anycastd.toml.5", man5())] {
        let mut lines = text.lines();
        let mut n = 0;
        while let Some(line) = lines.next() {
            if line.starts_with(".Bd -literal") {
                n += 1;
                let body: Vec<String> = lines
                    .by_ref()
                    .take_while(|l| *l != ".Ed")
                    .map(|l| l.replace("\\e", "\\").replace("\\&", ""))
                    .collect();
                blocks.push((
                    format!("{page} literal display {n}"),
                    body.join("\n") + "\n",
                ));
            }
        }
    }
    let configs: Vec<&(String, String)> = blocks
        .iter()
        // Complete configurations only, not the schema outline with its placeholders.
        .filter(|(_, b)| b.contains("[services.") && !b.contains("PREFIX, ..."))
        .collect();
    assert!(
        configs.len() >= 4,
        "expected several complete example configurations in the docs, found {}",
        configs.len()
    );
    let problems: Vec<String> = configs
        .iter()
        .enumerate()
        .filter_map(|(i, (what, text))| check_config(text, what, dir.path(), i))
        .collect();
    fail_if_any(problems);
}

/// The Quickstart is exactly the two commands, and every `make` target the README names
/// exists in the Makefile.
#[test]
fn readme_make_targets_exist() {
    let readme = readme();
    let quick = readme_section(&readme, "## Quickstart");
    assert!(
        quick.contains("```sh\nmake demo\nmake test\n```"),
        "README.md's Quickstart must be exactly `make demo` and `make test`"
    );
    let makefile = read("Makefile");
    let targets: BTreeSet<&str> = makefile
        .lines()
        .filter(|l| !l.starts_with(['\t', '#', ' ', '.']))
        .filter_map(|l| l.split_once(':'))
        .filter(|(_, rest)| !rest.starts_with('='))
        .map(|(t, _)| t.trim())
        .collect();
    let mut problems = Vec::new();
    for (i, _) in readme.match_indices("make ") {
        if readme[..i].chars().next_back().is_some_and(is_word) {
            continue;
        }
        let target: String = readme[i + 5..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        let next = readme[i + 5 + target.len()..].chars().next();
        // "make test", "make install PREFIX=…", `make deb`: a target, then the end of the
        // command; prose such as "make sure" is not a command.
        let command_end = matches!(next, None | Some(' ' | '`' | '\n' | ')' | ','));
        if target.is_empty() || !command_end || ["sure", "it", "the"].contains(&target.as_str()) {
            continue;
        }
        if !targets.contains(target.as_str()) {
            problems.push(format!(
                "README.md names `make {target}`, which the Makefile does not have"
            ));
        }
    }
    problems.sort();
    problems.dedup();
    fail_if_any(problems);
}
