//! `anycastd check` against the configuration corpus in `tests/configs/`, and the exit codes
//! of the ways a configuration can fail to be read at all.
//!
//! Every file in `tests/configs/invalid/` starts with header comments:
//!
//! ```text
//! # exit: 65
//! # key: services.dns.checks.cabourotte[0].interval
//! # message: must be greater than zero
//! # line: 4
//! ```
//!
//! (`key`, `message` and `line` are optional). Every file in `tests/configs/valid/` has a
//! `# services: N` header. Each file is run through the real binary and every mismatch of
//! every file is collected, so one run shows all of them.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// `anycastd check` reads one small file: anything near this is a hang.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The invalid corpus must not silently shrink.
const MIN_INVALID: usize = 40;
const MIN_VALID: usize = 6;
const PREFIX: &str = "anycastd: invalid configuration: ";
/// A file that cannot be read is not called invalid.
const UNREADABLE: &str = "anycastd: cannot read the configuration: ";

fn corpus(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(kind)
}

/// The `.toml` files of one corpus directory, sorted.
fn files(kind: &str) -> Vec<PathBuf> {
    let dir = corpus(kind);
    let mut out: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension() == Some(OsStr::new("toml")))
        .collect();
    out.sort();
    out
}

struct Run {
    /// `None`: killed by a signal (or by us, after [`TIMEOUT`]).
    code: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

impl Run {
    /// What went wrong with the process itself, whatever the file says it should do.
    fn crash(&self) -> Option<String> {
        if self.timed_out {
            return Some(format!("still running after {TIMEOUT:?}, killed"));
        }
        if self.stderr.contains("panicked") || self.code == Some(101) {
            return Some(format!("panicked (exit {:?})", self.code));
        }
        if self.code.is_none() {
            return Some("killed by a signal".to_string());
        }
        None
    }

    fn show(&self) -> String {
        format!(
            "exit {:?}\n      stdout: {:?}\n      stderr: {:?}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run the real binary with a deadline, without the caller's anycastd environment.
fn anycastd(args: &[&OsStr], cwd: Option<&Path>, env: &[(&str, &OsStr)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anycastd"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in ["CONFIG", "LOG_LEVEL", "LOG_FORMAT", "NO_COLOR"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().expect("spawn anycastd");
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().expect("wait for anycastd") {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait for killed anycastd");
            }
            None => thread::sleep(Duration::from_millis(5)),
        }
    };
    Run {
        code: status.code(),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
        timed_out,
    }
}

fn check(path: &Path) -> Run {
    anycastd(
        &["check".as_ref(), "-c".as_ref(), path.as_os_str()],
        None,
        &[],
    )
}

/// The `# name: value` lines at the top of a corpus file (the leading comment block; the
/// header is ASCII even in the file that is not UTF-8).
#[derive(Default)]
struct Header {
    exit: Option<i32>,
    key: Option<String>,
    message: Option<String>,
    line: Option<usize>,
    services: Option<usize>,
}

fn header(path: &Path) -> Result<Header, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut h = Header::default();
    for line in text.lines() {
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        let Some((name, value)) = comment.trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        let number = |what: &str| {
            value
                .parse()
                .map_err(|_| format!("header `{what}: {value}` is not a number"))
        };
        match name.trim() {
            "exit" => h.exit = Some(number("exit")?),
            "key" => h.key = Some(value.to_string()),
            "message" => h.message = Some(value.to_string()),
            "line" => h.line = Some(number("line")? as usize),
            "services" => h.services = Some(number("services")? as usize),
            _ => {}
        }
    }
    Ok(h)
}

/// Everything wrong with one invalid file's run; empty when it behaved.
fn invalid_mismatches(path: &Path) -> Vec<String> {
    let h = match header(path) {
        Ok(h) => h,
        Err(e) => return vec![e],
    };
    let Some(exit) = h.exit else {
        return vec!["no `# exit: N` header".to_string()];
    };
    let run = check(path);
    let mut bad = Vec::new();
    if let Some(c) = run.crash() {
        bad.push(c);
    }
    if run.code != Some(exit) {
        bad.push(format!("exit code {:?}, expected {exit}", run.code));
    }
    if !run.stdout.is_empty() {
        bad.push("printed to stdout".to_string());
    }
    let line = run.stderr.strip_suffix('\n').unwrap_or(&run.stderr);
    if line.is_empty() || line.contains('\n') || !run.stderr.ends_with('\n') {
        bad.push("stderr is not exactly one line".to_string());
    }
    if !line.starts_with(PREFIX) {
        bad.push(format!("stderr does not start with {PREFIX:?}"));
    }
    let shown = path.display().to_string();
    if !line.contains(&shown) {
        bad.push("stderr does not name the file".to_string());
    }
    if let Some(key) = &h.key {
        if !line.contains(&format!(": {key}: ")) {
            bad.push(format!("key path `{key}` not found as `: {key}: `"));
        }
    }
    if let Some(message) = &h.message {
        if !line.contains(message.as_str()) {
            bad.push(format!("message {message:?} not found"));
        }
    }
    if let Some(n) = h.line {
        if !line.contains(&format!("{shown}:{n}:")) {
            bad.push(format!("position is not line {n} (`{shown}:{n}:<col>`)"));
        }
    }
    if !bad.is_empty() {
        bad.push(run.show());
    }
    bad
}

/// Everything wrong with one valid file's run; empty when it behaved.
fn valid_mismatches(path: &Path) -> Vec<String> {
    let h = match header(path) {
        Ok(h) => h,
        Err(e) => return vec![e],
    };
    let Some(n) = h.services else {
        return vec!["no `# services: N` header".to_string()];
    };
    let run = check(path);
    let mut bad = Vec::new();
    if let Some(c) = run.crash() {
        bad.push(c);
    }
    if run.code != Some(0) {
        bad.push(format!("exit code {:?}, expected 0", run.code));
    }
    if !run.stderr.is_empty() {
        bad.push("printed to stderr".to_string());
    }
    let first = run.stdout.lines().next().unwrap_or("");
    let want = format!("{}: valid: {n} service(s)", path.display());
    if !first.starts_with(&want) {
        bad.push(format!("first line of stdout does not start with {want:?}"));
    }
    if !bad.is_empty() {
        bad.push(run.show());
    }
    bad
}

/// Run `judge` on every file and fail once, listing every file that misbehaved.
fn judge_all(kind: &str, judge: fn(&Path) -> Vec<String>) -> usize {
    let files = files(kind);
    let mut report = String::new();
    let mut failed = 0;
    for path in &files {
        let bad = judge(path);
        if !bad.is_empty() {
            failed += 1;
            let _ = writeln!(report, "\n{}:", path.display());
            for b in bad {
                let _ = writeln!(report, "    {b}");
            }
        }
    }
    assert!(
        failed == 0,
        "{failed} of {} {kind} configuration file(s) misbehaved:\n{report}",
        files.len()
    );
    files.len()
}

#[test]
fn every_invalid_config_is_rejected_with_its_exit_code_key_and_line() {
    let n = judge_all("invalid", invalid_mismatches);
    assert!(
        n >= MIN_INVALID,
        "only {n} files in {}; the corpus must hold at least {MIN_INVALID}",
        corpus("invalid").display()
    );
}

#[test]
fn every_valid_config_is_accepted_with_its_service_count() {
    let n = judge_all("valid", valid_mismatches);
    assert!(
        n >= MIN_VALID,
        "only {n} files in {}; the corpus must hold at least {MIN_VALID}",
        corpus("valid").display()
    );
}

/// A fresh, empty directory of this test's own.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "anycastd-config-corpus-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One line on stderr naming `path`, with `code`, and nothing on stdout.
fn assert_file_error(run: &Run, path: &Path, code: i32, message: &str) {
    assert_eq!(run.crash(), None, "{}", run.show());
    assert_eq!(run.code, Some(code), "{}", run.show());
    assert!(run.stdout.is_empty(), "{}", run.show());
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.show());
    let prefix = if code == 65 { PREFIX } else { UNREADABLE };
    let want = format!("{prefix}{}: ", path.display());
    assert!(
        run.stderr.starts_with(&want),
        "want {want:?}\n{}",
        run.show()
    );
    assert!(
        run.stderr.contains(message),
        "want {message:?}\n{}",
        run.show()
    );
}

#[test]
fn missing_file_is_exit_66() {
    let dir = TempDir::new("missing");
    let path = dir.0.join("no-such-config.toml");
    assert_file_error(&check(&path), &path, 66, "cannot read");
}

#[test]
fn directory_is_exit_74() {
    let dir = TempDir::new("directory");
    assert_file_error(&check(&dir.0), &dir.0, 74, "is a directory");
}

#[test]
fn unreadable_file_is_exit_66_unless_root() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("unreadable");
    let path = dir.0.join("config.toml");
    fs::copy(corpus("valid").join("minimal.toml"), &path).expect("copy");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).expect("chmod 000");
    // Root (or CAP_DAC_OVERRIDE) reads a mode-000 file anyway: nothing to test then.
    if fs::File::open(&path).is_ok() {
        eprintln!(
            "SKIPPED unreadable_file_is_exit_66_unless_root: running as root (or with \
             CAP_DAC_OVERRIDE), which can read a mode-000 file"
        );
        return;
    }
    assert_file_error(&check(&path), &path, 66, "cannot read");
}

#[test]
fn unknown_option_is_exit_2() {
    let run = anycastd(&["check".as_ref(), "--bogus".as_ref()], None, &[]);
    assert_eq!(run.crash(), None, "{}", run.show());
    assert_eq!(run.code, Some(2), "{}", run.show());
    assert!(run.stdout.is_empty(), "{}", run.show());
    assert!(run.stderr.contains("--bogus"), "{}", run.show());
    assert!(run.stderr.contains("anycastd --help"), "{}", run.show());
}

#[test]
fn version_prints_name_and_version() {
    let run = anycastd(&["--version".as_ref()], None, &[]);
    assert_eq!(run.crash(), None, "{}", run.show());
    assert_eq!(run.code, Some(0), "{}", run.show());
    assert_eq!(
        run.stdout,
        format!("anycastd {}\n", env!("CARGO_PKG_VERSION")),
        "{}",
        run.show()
    );
    assert!(run.stderr.is_empty(), "{}", run.show());
}

#[test]
fn relative_config_path_is_read_from_the_working_directory_and_shown_absolute() {
    let dir = corpus("valid");
    for rel in ["upstream_example.toml", "./upstream_example.toml"] {
        let run = anycastd(
            &["check".as_ref(), "-c".as_ref(), rel.as_ref()],
            Some(&dir),
            &[],
        );
        assert_eq!(run.crash(), None, "{}", run.show());
        assert_eq!(run.code, Some(0), "{rel}: {}", run.show());
        let want = format!(
            "{}: valid: 2 service(s)",
            dir.join("upstream_example.toml").display()
        );
        assert!(
            run.stdout.starts_with(&want),
            "{rel}: want {want:?}\n{}",
            run.show()
        );
    }
    // An error about a relative path names the absolute one, too.
    let bad = corpus("invalid");
    let run = anycastd(
        &[
            "check".as_ref(),
            "-c".as_ref(),
            "interval_zero.toml".as_ref(),
        ],
        Some(&bad),
        &[],
    );
    assert_eq!(run.code, Some(65), "{}", run.show());
    let want = format!("{PREFIX}{}:", bad.join("interval_zero.toml").display());
    assert!(
        run.stderr.starts_with(&want),
        "want {want:?}\n{}",
        run.show()
    );
}

#[test]
fn config_env_var_is_used_without_c_and_c_wins_over_it() {
    let valid = corpus("valid").join("minimal.toml");
    let invalid = corpus("invalid").join("interval_zero.toml");

    let run = anycastd(&["check".as_ref()], None, &[("CONFIG", valid.as_os_str())]);
    assert_eq!(run.crash(), None, "{}", run.show());
    assert_eq!(run.code, Some(0), "{}", run.show());
    let want = format!("{}: valid: 1 service(s)", valid.display());
    assert!(run.stdout.starts_with(&want), "{}", run.show());

    let run = anycastd(
        &["check".as_ref()],
        None,
        &[("CONFIG", invalid.as_os_str())],
    );
    assert_eq!(run.code, Some(65), "{}", run.show());
    assert!(
        run.stderr
            .starts_with(&format!("{PREFIX}{}:", invalid.display())),
        "{}",
        run.show()
    );

    let run = anycastd(
        &["check".as_ref(), "-c".as_ref(), valid.as_os_str()],
        None,
        &[("CONFIG", invalid.as_os_str())],
    );
    assert_eq!(run.code, Some(0), "-c must win over CONFIG: {}", run.show());
}
