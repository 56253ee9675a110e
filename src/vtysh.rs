//! Running vtysh: one child process with a deadline, killed when it passes.
//!
//! The child's stdout and stderr go to unlinked temporary files rather than pipes, so
//! that this single-threaded daemon never has to drain pipes while it waits: a large
//! running config can never block the child, and waiting is a plain `try_wait` loop that
//! also watches the deadline and an abort request (a termination signal). The files get
//! random names, are created exclusively (never through a planted file or symlink) with
//! mode 0600, in the runtime directory when there is one, and are unlinked at once.

use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// More output than this is not a running config we can use.
const MAX_OUTPUT: u64 = 64 * 1024 * 1024;

/// What one vtysh process did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The first line worth showing an operator: FRR prints daemon errors on stdout and
    /// connection errors on stderr.
    pub fn summary(&self) -> String {
        let pick = |s: &str| {
            s.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        };
        let code = match self.code {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_string(),
        };
        match pick(&self.stderr).or_else(|| pick(&self.stdout)) {
            Some(line) => format!("{code}: {line}"),
            None => code,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// vtysh could not be started (missing, not executable).
    Spawn(PathBuf, String),
    /// It ran past its deadline and was killed.
    Timeout(Duration),
    /// A termination signal cut it short.
    Aborted,
    /// Our own temporary files could not be made or read.
    Io(String),
    /// It wrote more than the cap (in bytes) on stdout or stderr: what we could read is
    /// a cut-off answer, and a cut-off running config would read as fewer prefixes.
    Truncated(u64),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spawn(p, e) => write!(f, "cannot run {}: {e}", p.display()),
            Error::Timeout(d) => write!(
                f,
                "vtysh did not finish within {} and was killed",
                crate::duration::format(*d)
            ),
            Error::Aborted => write!(f, "aborted by a termination signal"),
            Error::Io(e) => write!(f, "temporary file for vtysh output: {e}"),
            Error::Truncated(cap) => write!(
                f,
                "vtysh's answer was cut off at {}: not used, as a partial answer would read as less configuration than there is",
                size(*cap)
            ),
        }
    }
}

/// `64 MiB`, `8 KiB`, `100 bytes`.
fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// The edge the daemon talks to FRR through.
pub trait Runner {
    /// Run `program` with `args`; give up at `timeout`, or as soon as `abort()` is true.
    /// An answer is only ever returned whole: more output than the cap is an error.
    fn run(
        &mut self,
        program: &Path,
        args: &[String],
        timeout: Duration,
        abort: &dyn Fn() -> bool,
    ) -> Result<Output, Error>;
}

/// Runs the real vtysh.
#[derive(Debug, Default)]
pub struct Process;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// How many names to try before giving up: each is 128 random bits, so only files
/// planted by someone who can also read our randomness could ever collide.
const NAME_ATTEMPTS: usize = 8;

/// Where vtysh's output goes: the service manager's runtime directory when there is one
/// (systemd's `RuntimeDirectory=` sets `$RUNTIME_DIRECTORY`, colon-separated when it
/// lists several: the first), else `$XDG_RUNTIME_DIR`, else the temporary directory.
/// Only an absolute path counts. `var` reads the environment (a fake in tests).
fn scratch_dirs(var: impl Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let runtime = ["RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR"]
        .into_iter()
        .filter_map(|name| std::env::split_paths(&var(name)?).next())
        .find(|dir| dir.is_absolute());
    // A runtime directory we cannot write to still leaves the temporary directory.
    runtime.into_iter().chain([std::env::temp_dir()]).collect()
}

/// `.anycastd-<32 hex digits>.out`: 128 bits from std's randomly keyed SipHash (keys
/// drawn from the OS at first use, a new key for every `RandomState`), never guessable
/// from our pid or a counter.
fn random_name() -> String {
    let mut name = String::from(".anycastd-");
    for _ in 0..2 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        if let Ok(t) = SystemTime::now().duration_since(UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        name += &format!("{:016x}", h.finish());
    }
    name + ".out"
}

/// A new file in `dir` under a name from `name`, read-write for us alone, and already
/// unlinked. `create_new` is O_CREAT|O_EXCL: a file or symlink planted at the name is
/// never opened, let alone written through; the next name is tried instead.
fn create_scratch(dir: &Path, name: &mut dyn FnMut() -> String) -> io::Result<File> {
    let mut taken = None;
    for _ in 0..NAME_ATTEMPTS {
        let path = dir.join(name());
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => {
                // Unlinked at once: nothing is left behind, whatever happens to us.
                std::fs::remove_file(&path)?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => taken = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(taken.unwrap_or_else(|| io::Error::other("no name to try")))
}

fn scratch_file() -> io::Result<File> {
    let mut last = None;
    for dir in scratch_dirs(|name| std::env::var_os(name)) {
        match create_scratch(&dir, &mut random_name) {
            Ok(file) => return Ok(file),
            Err(e) => {
                log::debug!(
                    "cannot create vtysh's output file in {}: {e}",
                    dir.display()
                );
                last = Some(io::Error::new(e.kind(), format!("{}: {e}", dir.display())));
            }
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no directory for vtysh's output")))
}

/// The whole of what the child wrote, or `None` when that is more than `max_output`.
fn read_back(mut f: File, max_output: u64) -> io::Result<Option<String>> {
    f.seek(SeekFrom::Start(0))?;
    let mut buf = Vec::new();
    // One byte more than the cap tells a cut-off answer from one exactly at the cap.
    f.take(max_output.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > max_output {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

impl Runner for Process {
    fn run(
        &mut self,
        program: &Path,
        args: &[String],
        timeout: Duration,
        abort: &dyn Fn() -> bool,
    ) -> Result<Output, Error> {
        run_process(program, args, timeout, abort, MAX_OUTPUT)
    }
}

/// The real runner with a smaller output cap, so that tests reach the cap without
/// producing 64 MiB.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct Capped(pub u64);

#[cfg(test)]
impl Runner for Capped {
    fn run(
        &mut self,
        program: &Path,
        args: &[String],
        timeout: Duration,
        abort: &dyn Fn() -> bool,
    ) -> Result<Output, Error> {
        run_process(program, args, timeout, abort, self.0)
    }
}

fn run_process(
    program: &Path,
    args: &[String],
    timeout: Duration,
    abort: &dyn Fn() -> bool,
    max_output: u64,
) -> Result<Output, Error> {
    let io = |e: io::Error| Error::Io(e.to_string());
    let out = scratch_file().map_err(io)?;
    let err = scratch_file().map_err(io)?;
    let started = Instant::now();
    log::debug!("running {} {}", program.display(), shell_words(args));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().map_err(io)?))
        .stderr(Stdio::from(err.try_clone().map_err(io)?))
        // vtysh reads VTYSH_PAGER: never let it start a pager.
        .env("VTYSH_PAGER", "cat")
        // Its own process group, so that a wrapper script and the vtysh it started
        // are killed together at the deadline.
        .process_group(0)
        .spawn()
        .map_err(|e| Error::Spawn(program.to_path_buf(), e.to_string()))?;
    let deadline = started + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                kill_group(&mut child);
                return Err(io(e));
            }
        }
        let now = Instant::now();
        if now >= deadline || abort() {
            kill_group(&mut child);
            return Err(if now >= deadline {
                Error::Timeout(timeout)
            } else {
                Error::Aborted
            });
        }
        // vtysh takes ~35 ms; polling every 2 ms costs nothing and adds little latency.
        std::thread::sleep(Duration::from_millis(2).min(deadline - now));
    };
    let (Some(stdout), Some(stderr)) = (
        read_back(out, max_output).map_err(io)?,
        read_back(err, max_output).map_err(io)?,
    ) else {
        log::debug!(
            "{} wrote more than {}: its answer is cut off",
            program.display(),
            size(max_output)
        );
        return Err(Error::Truncated(max_output));
    };
    let output = Output {
        code: status.code(),
        stdout,
        stderr,
        elapsed: started.elapsed(),
    };
    log::debug!(
        "{} finished in {} ms: {}",
        program.display(),
        output.elapsed.as_millis(),
        output.summary()
    );
    Ok(output)
}

/// Kill the child's whole process group (std has no killpg; the shell's `kill` builtin
/// takes a negative pid), then the child itself in case that failed, and reap it.
fn kill_group(child: &mut std::process::Child) {
    let group = format!("kill -9 -{} 2>/dev/null", child.id());
    let _ = Command::new("/bin/sh")
        .args(["-c", &group])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// Arguments as a shell would need them, for logs an operator can paste.
pub fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(body: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "anycastd-vtysh-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vtysh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, path)
    }

    #[test]
    fn captures_both_streams_and_the_code() {
        let (dir, p) = script("echo out \"$@\"; echo err >&2; exit 3");
        let o = Process
            .run(
                &p,
                &["-c".into(), "show x".into()],
                Duration::from_secs(5),
                &|| false,
            )
            .unwrap();
        assert_eq!(o.code, Some(3));
        assert_eq!(o.stdout, "out -c show x\n");
        assert_eq!(o.stderr, "err\n");
        assert_eq!(o.summary(), "exit status 3: err");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn large_output_does_not_block() {
        let (dir, p) = script("head -c 1000000 /dev/zero | tr '\\0' x");
        let o = Process
            .run(&p, &[], Duration::from_secs(10), &|| false)
            .unwrap();
        assert_eq!(o.stdout.len(), 1_000_000);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_answer_over_the_cap_is_an_error_not_a_shorter_answer() {
        let (dir, p) =
            script("head -c 4096 /dev/zero | tr '\\0' x; if [ \"$1\" = more ]; then echo y; fi");
        // Exactly at the cap: the whole answer.
        let o = Capped(4096)
            .run(&p, &[], Duration::from_secs(10), &|| false)
            .unwrap();
        assert_eq!(o.stdout.len(), 4096);
        // One byte more: cut off, which must never read as a complete (shorter) answer.
        let r = Capped(4096).run(&p, &["more".into()], Duration::from_secs(10), &|| false);
        assert!(
            matches!(r, Err(Error::Truncated(4096))),
            "a cut-off answer was returned: {:?}",
            r.map(|o| o.stdout.len())
        );
        assert_eq!(
            Error::Truncated(MAX_OUTPUT).to_string(),
            "vtysh's answer was cut off at 64 MiB: not used, as a partial answer would read as less configuration than there is"
        );
        // stderr too: the summary of a cut-off stderr is no better.
        let (dir2, p2) = script("head -c 5000 /dev/zero | tr '\\0' x >&2");
        let r = Capped(4096).run(&p2, &[], Duration::from_secs(10), &|| false);
        assert_eq!(r, Err(Error::Truncated(4096)));
        std::fs::remove_dir_all(dir2).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn names_known_from_the_pid_are_never_used_or_written_through() {
        // A local user who knows our pid plants symlinks at the names a counter would
        // give next: vtysh's output must neither fail nor go through them.
        let victim = std::env::temp_dir().join(format!("anycastd-victim-{}", std::process::id()));
        std::fs::write(&victim, "untouched").unwrap();
        let next = COUNTER.load(Ordering::Relaxed);
        let planted: Vec<PathBuf> = (next..next + 64)
            .map(|n| std::env::temp_dir().join(format!(".anycastd-{}-{n}.out", std::process::id())))
            .collect();
        for p in &planted {
            let _ = std::fs::remove_file(p);
            std::os::unix::fs::symlink(&victim, p).unwrap();
        }
        let (dir, p) = script("echo secret; echo secret >&2");
        let r = Process.run(&p, &[], Duration::from_secs(5), &|| false);
        for p in &planted {
            let _ = std::fs::remove_file(p);
        }
        let left = std::fs::read_to_string(&victim).unwrap();
        std::fs::remove_file(&victim).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        assert_eq!(left, "untouched");
        assert_eq!(r.map(|o| o.stdout), Ok("secret\n".to_string()));
    }

    #[test]
    fn a_planted_file_or_symlink_is_never_opened() {
        let (dir, _) = script("true");
        let victim = dir.join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        std::fs::write(dir.join("file"), "planted").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("link")).unwrap();
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
        let mut names = ["file", "link", "dangling", "fresh"].into_iter();
        let mut tried = Vec::new();
        let mut f = create_scratch(&dir, &mut || {
            let n = names.next().unwrap().to_string();
            tried.push(n.clone());
            n
        })
        .unwrap();
        assert_eq!(tried, ["file", "link", "dangling", "fresh"]);
        std::io::Write::write_all(&mut f, b"vtysh output").unwrap();
        let mode = f.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        assert_eq!(
            std::fs::read_to_string(dir.join("file")).unwrap(),
            "planted"
        );
        assert!(
            !dir.join("nowhere").exists(),
            "a dangling symlink was followed"
        );
        assert!(
            dir.join("link").symlink_metadata().is_ok(),
            "not ours to remove"
        );
        assert!(!dir.join("fresh").exists(), "ours is unlinked at once");
        // Every name taken: an error, still nothing written through.
        let e = create_scratch(&dir, &mut || "link".to_string()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn two_calls_never_use_the_same_name() {
        let names: Vec<String> = (0..10_000).map(|_| random_name()).collect();
        let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
        for n in &names[..3] {
            let hex = n
                .strip_prefix(".anycastd-")
                .and_then(|r| r.strip_suffix(".out"))
                .unwrap();
            assert!(
                hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                "{n}"
            );
        }
        // Two files made with the real generator at the same time are two files.
        let (dir, _) = script("true");
        let a = create_scratch(&dir, &mut random_name).unwrap();
        let b = create_scratch(&dir, &mut random_name).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_ne!(a.metadata().unwrap().ino(), b.metadata().unwrap().ino());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn output_goes_to_the_runtime_directory_when_there_is_one() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let tmp = std::env::temp_dir();
        assert_eq!(
            scratch_dirs(env(&[
                ("RUNTIME_DIRECTORY", "/run/anycastd:/run/other"),
                ("XDG_RUNTIME_DIR", "/run/user/0"),
            ])),
            [PathBuf::from("/run/anycastd"), tmp.clone()]
        );
        assert_eq!(
            scratch_dirs(env(&[
                ("RUNTIME_DIRECTORY", ""),
                ("XDG_RUNTIME_DIR", "/run/user/0")
            ])),
            [PathBuf::from("/run/user/0"), tmp.clone()]
        );
        assert_eq!(
            scratch_dirs(env(&[("XDG_RUNTIME_DIR", "relative/dir")])),
            vec![tmp.clone()]
        );
        assert_eq!(scratch_dirs(env(&[])), vec![tmp]);
    }

    #[test]
    fn a_hanging_child_is_killed_at_the_deadline() {
        let (dir, p) = script("exec sleep 30");
        let t = Instant::now();
        let e = Process
            .run(&p, &[], Duration::from_millis(200), &|| false)
            .unwrap_err();
        assert_eq!(e, Error::Timeout(Duration::from_millis(200)));
        assert!(t.elapsed() < Duration::from_secs(5));
        let e = Process
            .run(&p, &[], Duration::from_secs(30), &|| true)
            .unwrap_err();
        assert_eq!(e, Error::Aborted);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_wrapper_and_its_child_are_killed_together() {
        // The wrapper does not exec: its child must not outlive the deadline.
        let (dir, p) = script("sleep 30 & echo $! > \"$(dirname \"$0\")/child.pid\"; wait");
        let e = Process
            .run(&p, &[], Duration::from_millis(300), &|| false)
            .unwrap_err();
        assert_eq!(e, Error::Timeout(Duration::from_millis(300)));
        let pid = std::fs::read_to_string(dir.join("child.pid")).unwrap();
        let pid = pid.trim();
        let gone = (0..100).any(|_| {
            let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let alive = st
                .lines()
                .any(|l| l.starts_with("State:") && !l.contains("Z"));
            if alive {
                std::thread::sleep(Duration::from_millis(20));
            }
            !alive
        });
        assert!(gone, "the wrapper's child {pid} survived");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let e = Process
            .run(
                Path::new("/nonexistent/vtysh"),
                &[],
                Duration::from_secs(1),
                &|| false,
            )
            .unwrap_err();
        assert!(matches!(e, Error::Spawn(_, _)), "{e:?}");
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        let args: Vec<String> = ["-c", "configure terminal", "it's"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(shell_words(&args), r#"-c 'configure terminal' 'it'\''s'"#);
    }
}
