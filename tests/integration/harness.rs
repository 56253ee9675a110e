//! Running the real `anycastd` binary in tests: a private temp dir, its config, its JSON
//! log on disk, signals, a bounded wait for its exit; and a stand-in vtysh (a shell script
//! that keeps a running config in files) for tests that do not need real FRR.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "anycastd-it-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Poll `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_anycastd")
}

/// A running `anycastd run`.
pub struct Anycastd {
    child: Child,
    pub log_path: PathBuf,
    pub config_path: PathBuf,
    exit: Option<i32>,
}

impl Anycastd {
    /// Write `config` into `dir` and start the daemon on it, logging JSON at debug level.
    pub fn start(dir: &Path, config: &str) -> Anycastd {
        Self::start_with(dir, config, &[])
    }

    pub fn start_with(dir: &Path, config: &str, env: &[(&str, &str)]) -> Anycastd {
        let config_path = dir.join("config.toml");
        // Each daemon keeps its state file in its own directory, never in /run.
        let state = format!("state_file = \"{}\"\n", dir.join("state.json").display());
        let config = if config.contains("state_file") {
            config.to_string()
        } else if config.contains("[global]\n") {
            config.replacen("[global]\n", &format!("[global]\n{state}"), 1)
        } else {
            format!("[global]\n{state}{config}")
        };
        std::fs::write(&config_path, config).expect("write config");
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let log_path = dir.join(format!("anycastd-{n}.log"));
        let log = std::fs::File::create(&log_path).expect("create log");
        let err = log.try_clone().expect("clone log");
        let mut cmd = Command::new(bin());
        cmd.args(["run", "-c"])
            .arg(&config_path)
            .args(["--log-format", "json", "--log-level", "debug"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn anycastd");
        Anycastd {
            child,
            log_path,
            config_path,
            exit: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Every JSON log line; a line that is not JSON fails the test (the format is a contract).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.log()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// Events whose text contains `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| e["event"].as_str().is_some_and(|t| t.contains(needle)))
            .count()
    }

    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle))
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -s {sig} failed");
    }

    /// Wait for the exit code (None: still running after `timeout`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        if self.exit.is_some() {
            return self.exit;
        }
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exit = Some(st.code().unwrap_or(-1));
                return self.exit;
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM (or SIGINT) and the exit code, failing the test if it does not stop in 20 s.
    pub fn stop(&mut self, sig: &str) -> i32 {
        self.signal(sig);
        match self.wait_exit(Duration::from_secs(20)) {
            Some(c) => c,
            None => panic!("anycastd did not exit after {sig}; log:\n{}", self.log()),
        }
    }
}

impl Drop for Anycastd {
    fn drop(&mut self) {
        if self.exit.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The stand-in vtysh: its state lives in `dir`; `path()` is what the config's `vtysh` says.
pub struct FakeFrr {
    pub dir: PathBuf,
}

impl FakeFrr {
    /// `instances`: (vrf or None for the default, ASN).
    pub fn new(parent: &Path, instances: &[(Option<&str>, u32)]) -> FakeFrr {
        let dir = parent.join("fake-frr");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/data/fake-vtysh.sh");
        let wrapper = format!(
            "#!/bin/sh\nFAKE_VTYSH_DIR='{}' exec '{}' \"$@\"\n",
            dir.display(),
            script.display()
        );
        let path = dir.join("vtysh");
        std::fs::write(&path, wrapper).expect("write wrapper");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let inst: String = instances
            .iter()
            .map(|(v, asn)| format!("{} {asn}\n", v.unwrap_or("-")))
            .collect();
        std::fs::write(dir.join("instances"), inst).expect("write instances");
        std::fs::write(dir.join("networks"), "").expect("write networks");
        FakeFrr { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("vtysh")
    }

    /// (vrf, prefix) of every network line; vrf "-" is the default.
    pub fn networks(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.join("networks"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                l.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect()
    }

    pub fn has(&self, prefix: &str) -> bool {
        self.networks().iter().any(|(_, p)| p == prefix)
    }

    pub fn add(&self, vrf: &str, prefix: &str) {
        let mut n = std::fs::read_to_string(self.dir.join("networks")).unwrap_or_default();
        n.push_str(&format!("{vrf} {prefix}\n"));
        std::fs::write(self.dir.join("networks"), n).expect("write networks");
    }

    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    fn flag(&self, name: &str, on: bool) {
        let p = self.dir.join(name);
        if on {
            std::fs::write(p, "").expect("write flag");
        } else {
            let _ = std::fs::remove_file(p);
        }
    }

    pub fn set_down(&self, on: bool) {
        self.flag("down", on)
    }

    pub fn set_hang(&self, on: bool) {
        self.flag("hang", on)
    }
}

/// A local HTTP service for the built-in `http` checks: `200 all ok` while `up`, else
/// `503 down`; counts its requests. [`Web::stop`] closes its port (connections are
/// refused) and [`Web::start`] opens it again, as a service that stops and starts.
pub struct Web {
    pub port: u16,
    up: Arc<AtomicBool>,
    pub requests: Arc<AtomicU64>,
    serving: Option<Arc<AtomicBool>>,
}

impl Web {
    pub fn start() -> Web {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the web service");
        let port = listener.local_addr().expect("its address").port();
        let mut w = Web {
            port,
            up: Arc::new(AtomicBool::new(true)),
            requests: Arc::new(AtomicU64::new(0)),
            serving: None,
        };
        w.serve(listener);
        w
    }

    fn serve(&mut self, listener: TcpListener) {
        let serving = Arc::new(AtomicBool::new(true));
        self.serving = Some(Arc::clone(&serving));
        let (u, n) = (Arc::clone(&self.up), Arc::clone(&self.requests));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if !serving.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let (u, n) = (Arc::clone(&u), Arc::clone(&n));
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    // One request per connection (the answer says `Connection: close`).
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    }
                    n.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = if u.load(Ordering::SeqCst) {
                        ("200 OK", "all ok\n")
                    } else {
                        ("503 Service Unavailable", "down\n")
                    };
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/healthz", self.port)
    }

    /// Answer 200 (`true`) or 503.
    pub fn set_up(&self, on: bool) {
        self.up.store(on, Ordering::SeqCst);
    }

    /// Close the port: the service is gone.
    pub fn stop(&mut self) {
        if let Some(s) = self.serving.take() {
            s.store(false, Ordering::SeqCst);
            // Wake the accept so that the listener is dropped now.
            let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
            let end = Instant::now() + Duration::from_secs(5);
            while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && Instant::now() < end
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Open the same port again.
    pub fn restart(&mut self) {
        self.stop();
        let listener =
            TcpListener::bind(("127.0.0.1", self.port)).expect("bind the web service again");
        self.serve(listener);
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How many threads process `pid` runs now.
pub fn threads(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

/// `anycastd ARGS -c CONFIG`, run to its end.
pub fn cli(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .arg("-c")
        .arg(config)
        .output()
        .expect("run anycastd")
}

/// An [`cli`] outcome for an assertion message: exit code, stdout, stderr.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`, in the test's directory.
pub struct Notify {
    sock: std::os::unix::net::UnixDatagram,
    pub path: PathBuf,
}

impl Notify {
    pub fn bind(dir: &Path) -> Notify {
        let path = dir.join("notify.sock");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).expect("bind notify socket");
        Notify { sock, path }
    }

    /// The environment that points the daemon at it.
    pub fn env(&self) -> (&'static str, String) {
        ("NOTIFY_SOCKET", self.path.display().to_string())
    }

    /// The first message from now on that contains `needle`; `None` when none came within
    /// `timeout`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Option<String> {
        let end = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            self.sock
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            let n = self.sock.recv(&mut buf).ok()?;
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if m.contains(needle) {
                return Some(m);
            }
        }
    }
}
