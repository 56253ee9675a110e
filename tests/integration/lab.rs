//! A two-router FRR lab in network namespaces, for tests that need real FRR.
//!
//! ```text
//!  netns A: zebra+bgpd, pathspace A, AS 65536 ==veth, eBGP v4 + v6== netns B: zebra+bgpd,
//!    lo: the service addresses                                          pathspace B, AS 64496
//!  netns V = VRF V of A (A's zebra runs with -n),
//!    AS 65537, lo: the VRF's service addresses  ==veth, eBGP v4======== netns B
//!  netns C: BIRD 2, AS 65538 (`LabOptions { bird: true }`) ==veth, eBGP v4 + v6== netns B
//! ```
//!
//! Router C (`LabOptions { bird: true }`) is the host's BIRD 2 (`/usr/sbin/bird`, run as root
//! in netns C, whatever FRR flavour A and B run), with its config, control socket, pid file
//! and log in the lab's temp dir. Its `bird.conf` includes `<tmp>/anycastd.conf`, the file
//! the daemon owns (two empty static protocols, `anycastd4` and `anycastd6`, at the start),
//! and exports exactly those two protocols' routes to B. B peers with C like with A, so
//! "what B receives" tells which router announced a prefix: [`Lab::b_route_from`] is the
//! first AS of B's best path (65536: FRR's A, 65538: BIRD's C).
//!
//! Every [`Lab`] has its own namespaces, FRR pathspaces (`/etc/frr/<ps>/`, `/var/run/frr/<ps>/`)
//! and temp dir, all named `acd<pid>-<n>…` (base 36), so labs run in parallel in one test
//! process, and [`cleanup_stale`] can remove what a crashed run left behind (the creator's PID
//! is part of every name). The link and service addresses are the same in every lab: each lab
//! lives in namespaces of its own.
//!
//! Parallel labs and `zebra -n`: A's zebra runs with the netns VRF backend, so it adopts EVERY
//! netns in `/run/netns` as a VRF, including lab B's and the namespaces of all other labs
//! running at the same time (`show vrf` on A lists them). That is harmless: bgpd only
//! configures the VRF named by [`Lab::vrf_name`], zebra only watches the other namespaces
//! (it installs no routes there; at most the kernel hands out netns ids), and when another lab
//! deletes its namespace, zebra gets the inotify event and closes its file descriptor on it,
//! so the namespace (and its veths) go away a moment later. Names never repeat, so such a
//! short-lived leftover can't collide with anything. Checked with six VRF labs up at once,
//! every second one torn down while the others kept announcing and withdrawing in their VRF.
//! The exception is the first moment of A's zebra: a namespace deleted just then can make
//! it abort, so it is started again (`Lab::start_zebra_a`).
//!
//! Two flavours of FRR, chosen by `ANYCASTD_TEST_FRR` for the whole test process (see
//! [`Flavour`]): the host's own FRR (`host`, the default; `8.4` also checks that it is 8.4),
//! or `10.3`: Debian 13's FRR 10.3 from a trixie root kept outside the work tree
//! (`tests/trixie/root.sh` builds it once), the same routers started with `chroot` inside the
//! namespaces. Each of those daemons gets its own mount namespace from `ip netns exec`, with
//! the root's `/proc` mounted and, for A's VRF, only that VRF's netns in the root's
//! `/var/run/netns`: nothing is mounted on the host, and no lab sees another lab's VRF. FRR 10
//! always runs `mgmtd`: it starts before zebra and bgpd. Tests write what differs between
//! versions as such: `if lab.frr_major() >= 10 { … }`.
//!
//! The lab needs root, FRR (`/usr/lib/frr/{zebra,bgpd}`, `/usr/bin/vtysh`, user `frr`) and a
//! working `ip netns`. When FRR is missing and we are root, the first lab of the process
//! installs it (`apt-get install frr iproute2`, with a `policy-rc.d` that keeps the package
//! from starting a system FRR). Without them [`Lab::start`] prints a loud SKIPPED message and
//! returns `None`, unless `CI=true`, where it panics instead.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// AS of router A (default VRF): a 4-byte ASN on purpose.
pub const ASN_A: u32 = 65536;
/// AS of router A's VRF instance.
pub const ASN_VRF: u32 = 65537;
/// AS of router B, the peer that tells whether an announcement really went out.
pub const ASN_B: u32 = 64496;
/// AS of router C, the BIRD router (`LabOptions { bird: true }`).
pub const ASN_C: u32 = 65538;

/// Service prefixes on A's `lo` (default VRF): FRR's import check passes for them.
pub const SVC4_53: &str = "203.0.113.53/32";
pub const SVC4_54: &str = "203.0.113.54/32";
pub const SVC4_55: &str = "203.0.113.55/32";
pub const SVC6_53: &str = "2001:db8:53::53/128";
pub const SVC6_54: &str = "2001:db8:53::54/128";
/// Service prefixes on the `lo` of A's VRF netns.
pub const VRF_SVC4_123: &str = "203.0.113.123/32";
pub const VRF_SVC4_198: &str = "198.18.0.123/32";
/// All service prefixes of the default VRF, and of the VRF.
pub const DEFAULT_VRF_PREFIXES: [&str; 5] = [SVC4_53, SVC4_54, SVC4_55, SVC6_53, SVC6_54];
pub const VRF_PREFIXES: [&str; 2] = [VRF_SVC4_123, VRF_SVC4_198];
/// A prefix that is on no `lo`: `network` accepts it, the import check holds it back.
pub const NOT_ON_LO4: &str = "203.0.113.99/32";

/// Link addresses: A <-> B (v4 and v6), and A's VRF <-> B.
pub const A4: &str = "198.51.100.1";
pub const B4: &str = "198.51.100.2";
pub const A6: &str = "2001:db8:ab::1";
pub const B6: &str = "2001:db8:ab::2";
pub const VRF4: &str = "198.51.100.5";
pub const BVRF4: &str = "198.51.100.6";
/// Link addresses C <-> B (v4 and v6); C4 is also BIRD's router id.
pub const C4: &str = "192.0.2.1";
pub const BC4: &str = "192.0.2.2";
pub const C6: &str = "2001:db8:bc::1";
pub const BC6: &str = "2001:db8:bc::2";
/// What the lab writes into the include file before BIRD starts (and what the daemon
/// leaves behind when nothing is announced): both protocols, no route.
pub const BIRD_INCLUDE_EMPTY: &str =
    "protocol static anycastd4 {\n\tipv4;\n}\nprotocol static anycastd6 {\n\tipv6;\n}\n";

const FRR_SBIN: &str = "/usr/lib/frr";
/// The host's BIRD 2 (Debian's `bird2`), also in the FRR 10.3 flavour.
pub const BIRD: &str = "/usr/sbin/bird";
pub const BIRDC: &str = "/usr/sbin/birdc";
/// BIRD's BGP protocols towards B (in the lab's bird.conf).
const BIRD_PROTOCOLS: [&str; 2] = ["b4", "b6"];
const VTYSH: &str = "/usr/bin/vtysh";
const FRR_RUN: &str = "/var/run/frr";
const FRR_ETC: &str = "/etc/frr";
const NETNS_DIR: &str = "/run/netns";
/// Every name this harness creates starts with this, then `<pid base36>-<counter base36>`.
const NAME_PREFIX: &str = "acd";
const PROFILE: &str = "traditional";
const CMD_TIMEOUT: Duration = Duration::from_secs(10);
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(10);
const DAEMON_STOP_TIMEOUT: Duration = Duration::from_secs(5);
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(20);
/// Starts of A's zebra (netns backend) before giving up, and how long it must stay up.
const ZEBRA_A_ATTEMPTS: u32 = 3;
const ZEBRA_A_SETTLE: Duration = Duration::from_millis(100);
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";
const APT_UPDATE_TIMEOUT: Duration = Duration::from_secs(300);
const APT_INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);
/// Serialises `ip netns add`: the first one after boot turns /run/netns into a shared mount,
/// and two at once could stack two mounts there.
static NETNS_ADD: Mutex<()> = Mutex::new(());
static CLEANUP: Mutex<()> = Mutex::new(());
/// The outcome of installing FRR, when this process had to.
static FRR_INSTALL: OnceLock<Result<(), String>> = OnceLock::new();
/// BIRD is there (installed by this process when it had to), checked once per process.
static BIRD_READY: OnceLock<Result<(), String>> = OnceLock::new();
/// The FRR of this process's labs, found (and made ready) by the first lab.
static FLAVOUR: OnceLock<Result<Flavour, String>> = OnceLock::new();
/// How long building the trixie root may take (debootstrap and apt-get, from the mirror).
const TRIXIE_ROOT_TIMEOUT: Duration = Duration::from_secs(1800);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Router {
    A,
    B,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct LabOptions {
    /// Also build a netns-backed VRF on A with its own eBGP session to B.
    pub vrf: bool,
    /// Also build router C: BIRD 2 in netns C, AS 65538, eBGP v4 + v6 to B.
    pub bird: bool,
}

/// Why a daemon did not start; `died`: it is not running (so it may be started again).
struct StartFailure {
    died: bool,
    report: String,
}

/// A daemon we started and believe to be running.
#[derive(Debug)]
struct Daemon {
    ps: String,
    name: &'static str,
    pid: u32,
}

pub struct Lab {
    opts: LabOptions,
    /// `acd<pid>-<n>`: the prefix of every name of this lab.
    id: String,
    ns_a: String,
    ns_b: String,
    ns_vrf: String,
    ns_c: String,
    ps_a: String,
    ps_b: String,
    tmp: PathBuf,
    vtysh_a: PathBuf,
    frr: &'static Flavour,
    daemons: Vec<Daemon>,
    /// PID of the BIRD of router C we started, while we believe it runs.
    bird_pid: Option<u32>,
    started_in: Duration,
}

impl Lab {
    /// The full lab (with the VRF), or `None` after a loud SKIPPED message.
    pub fn require() -> Option<Lab> {
        Lab::start(LabOptions {
            vrf: true,
            ..Default::default()
        })
    }

    /// Builds a lab and waits until every BGP session is Established. `None` (after a loud
    /// message on stderr) when the machine can't run one: not root, FRR missing, `ip netns`
    /// unusable; with `CI=true` those panic instead. Any other failure panics.
    pub fn start(opts: LabOptions) -> Option<Lab> {
        let t0 = Instant::now();
        let frr = match prerequisites() {
            Ok(frr) => frr,
            Err(why) => return skip(&why),
        };
        if opts.bird {
            if let Err(why) = BIRD_READY.get_or_init(prepare_bird) {
                return skip(why);
            }
        }
        cleanup_stale();
        let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("{NAME_PREFIX}{}-{}", base36(process::id()), base36(n));
        let mut lab = Lab {
            opts,
            id: id.clone(),
            ns_a: format!("{id}a"),
            ns_b: format!("{id}b"),
            ns_vrf: format!("{id}v"),
            ns_c: format!("{id}c"),
            ps_a: format!("{id}a"),
            ps_b: format!("{id}b"),
            tmp: std::env::temp_dir().join(&id),
            vtysh_a: std::env::temp_dir().join(&id).join("vtysh-a"),
            frr,
            daemons: Vec::new(),
            bird_pid: None,
            started_in: Duration::ZERO,
        };
        if let Err(why) = lab.add_namespaces() {
            drop(lab);
            return skip(&why);
        }
        // From here on every failure panics; unwinding drops `lab`, which cleans up.
        lab.setup();
        lab.started_in = t0.elapsed();
        Some(lab)
    }

    /// Wrapper script `exec /usr/bin/vtysh -N <pathspace of A> "$@"`: the daemon's `vtysh`.
    pub fn vtysh_a(&self) -> &Path {
        &self.vtysh_a
    }

    /// Runs `vtysh -N <ps> args…` (timeout 10 s). Panics only when vtysh can't be run or hangs;
    /// the exit status is the caller's to judge.
    pub fn vtysh(&self, router: Router, args: &[&str]) -> Output {
        let mut cmd = self.frr.command(VTYSH);
        cmd.arg("-N").arg(self.ps(router)).args(args);
        run(&mut cmd, CMD_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
    }

    /// One vtysh session on A, the way the daemon sends it: `configure terminal` /
    /// `router bgp ASN [vrf V]` / `address-family AFI unicast` / `line`.
    pub fn a_bgp(&self, asn: u32, vrf: Option<&str>, afi: &str, line: &str) -> Output {
        let router = match vrf {
            Some(v) => format!("router bgp {asn} vrf {v}"),
            None => format!("router bgp {asn}"),
        };
        let af = format!("address-family {afi} unicast");
        let args = [
            "-c",
            "configure terminal",
            "-c",
            &router,
            "-c",
            &af,
            "-c",
            line,
        ];
        self.vtysh(Router::A, &args)
    }

    /// [`Lab::a_bgp`] with A's own ASN for `vrf`, failing the test unless vtysh exits 0.
    pub fn a_configure(&self, vrf: Option<&str>, prefix: &str, line: &str) {
        let asn = if vrf.is_some() {
            self.asn_vrf()
        } else {
            self.asn_a()
        };
        let out = self.a_bgp(asn, vrf, afi(prefix), line);
        assert!(
            out.status.success(),
            "A: `{line}` failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Like [`Lab::vtysh`], but panics (with the output) unless vtysh exits 0; returns stdout.
    #[allow(dead_code)]
    pub fn vtysh_ok(&self, router: Router, args: &[&str]) -> String {
        let mut cmd = self.frr.command(VTYSH);
        cmd.arg("-N").arg(self.ps(router)).args(args);
        String::from_utf8_lossy(&check(&mut cmd, CMD_TIMEOUT).stdout).into_owned()
    }

    pub fn asn_a(&self) -> u32 {
        ASN_A
    }

    /// FRR's major version in this lab: 8 or 10.
    pub fn frr_major(&self) -> u32 {
        self.frr.major
    }

    /// FRR's package version in this lab (`8.4.4-1.1~deb12u1`, `10.3-3+deb13u1`).
    #[allow(dead_code)]
    pub fn frr_version(&self) -> &str {
        &self.frr.version
    }

    /// A command that runs `program` (a path in FRR's root, e.g. `/usr/lib/frr/watchfrr`)
    /// in `router`'s namespace, the way the lab starts its daemons: from FRR's root, with
    /// its `/proc` (and, on A, the VRF's netns) mounted for it alone.
    pub fn frr_command(&self, router: Router, program: &str) -> Command {
        let ns = match router {
            Router::A => &self.ns_a,
            Router::B => &self.ns_b,
        };
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]);
        if let Some(root) = &self.frr.root {
            let vrf = if router == Router::A && self.opts.vrf {
                self.ns_vrf.as_str()
            } else {
                ""
            };
            cmd.args(["sh", "-c", IN_ROOT, "sh"]).arg(root).arg(vrf);
        }
        cmd.arg(program);
        cmd
    }

    /// Where `path`, a path in FRR's root (`/var/run/frr/<ps>/…`, `/etc/frr/<ps>/…`), is
    /// seen from the tests: itself for the host's FRR, under the trixie root for 10.3.
    pub fn frr_path(&self, path: &str) -> PathBuf {
        self.frr.host(path)
    }

    pub fn asn_vrf(&self) -> u32 {
        ASN_VRF
    }

    #[allow(dead_code)]
    pub fn asn_b(&self) -> u32 {
        ASN_B
    }

    /// Name of A's VRF (= the name of its netns). Only exists with `LabOptions { vrf: true }`.
    pub fn vrf_name(&self) -> &str {
        &self.ns_vrf
    }

    #[allow(dead_code)]
    pub fn ns_a(&self) -> &str {
        &self.ns_a
    }

    #[allow(dead_code)]
    pub fn ns_b(&self) -> &str {
        &self.ns_b
    }

    /// FRR pathspace (`vtysh -N`) of a router.
    pub fn ps(&self, router: Router) -> &str {
        match router {
            Router::A => &self.ps_a,
            Router::B => &self.ps_b,
        }
    }

    /// Private temp dir for the test's files, removed on drop.
    #[allow(dead_code)]
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// How long [`Lab::start`] took (namespaces, daemons, config, sessions Established).
    #[allow(dead_code)]
    pub fn startup_time(&self) -> Duration {
        self.started_in
    }

    /// B's `show bgp AFI unicast PREFIX json` for exactly `prefix` (canonical form); None
    /// when B has no route for it. Panics when vtysh fails or its answer is not JSON.
    fn b_prefix(&self, prefix: &str) -> Option<Value> {
        let cmd = format!("show bgp {} unicast {prefix} json", afi(prefix));
        let out = self.vtysh(Router::B, &["-c", &cmd]);
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            panic!(
                "B: vtysh -c '{cmd}' failed ({}):\n{}",
                out.status,
                show(&out)
            );
        }
        let doc = Json::parse(&text)
            .unwrap_or_else(|e| panic!("B: vtysh -c '{cmd}': bad JSON ({e}):\n{text}"));
        (doc["prefix"].as_str() == Some(prefix)).then_some(doc)
    }

    /// B's BGP table has a valid best path for exactly `prefix` (canonical form, e.g.
    /// `203.0.113.53/32`, `2001:db8:53::53/128`) with AS path `asn_a` or `asn_vrf`.
    pub fn b_has_route(&self, prefix: &str) -> bool {
        let Some(doc) = self.b_prefix(prefix) else {
            return false;
        };
        let from_a = [ASN_A.to_string(), ASN_VRF.to_string()];
        Json::items(&doc["paths"]).iter().any(|path| {
            path["valid"].as_bool() == Some(true)
                && path["bestpath"]["overall"].as_bool() == Some(true)
                && path["aspath"]["string"]
                    .as_str()
                    .is_some_and(|s| from_a.iter().any(|asn| asn == s))
        })
    }

    /// Polls [`Lab::b_has_route`] every 20 ms until it equals `want`; false on timeout.
    pub fn wait_b_has_route(&self, prefix: &str, want: bool, timeout: Duration) -> bool {
        poll_until(timeout, || self.b_has_route(prefix) == want)
    }

    /// `vtysh -N A -d bgpd -c 'show running-config'`; panics unless it exits 0.
    pub fn a_running_config(&self) -> String {
        self.vtysh_ok_inner(Router::A, &["-d", "bgpd", "-c", "show running-config"])
    }

    /// `(vrf, prefix)` of every `network` line in A's bgpd running config.
    pub fn a_networks(&self) -> Vec<(Option<String>, String)> {
        parse_networks(&self.a_running_config())
    }

    /// `(asn, vrf)` of every `router bgp` instance in A's bgpd running config.
    #[allow(dead_code)]
    pub fn a_instances(&self) -> Vec<(u32, Option<String>)> {
        parse_instances(&self.a_running_config())
    }

    /// Stops A's bgpd (SIGTERM to the PID we started, SIGKILL after 5 s) and waits until it is
    /// gone (exited: a zombie counts as gone). No-op when it isn't running.
    pub fn stop_bgpd_a(&mut self) {
        let ps = self.ps_a.clone();
        let (mine, rest): (Vec<Daemon>, Vec<Daemon>) = std::mem::take(&mut self.daemons)
            .into_iter()
            .partition(|d| d.ps == ps && d.name == "bgpd");
        self.daemons = rest;
        let pids: Vec<(u32, String)> = mine.iter().map(|d| (d.pid, d.ps.clone())).collect();
        let left = stop_pids(&pids);
        if !left.is_empty() {
            panic!("A's bgpd (pid {left:?}) is still running after SIGTERM and SIGKILL");
        }
    }

    /// Starts A's bgpd again and pushes A's `frr.conf` (`vtysh -b`), like a real restart:
    /// runtime `network` lines are gone. Does not wait for the sessions: call
    /// [`Lab::wait_established`] for that.
    pub fn start_bgpd_a(&mut self) {
        self.start_daemon(Router::A, "bgpd");
        self.push_config(Router::A);
    }

    /// [`Lab::stop_bgpd_a`] + [`Lab::start_bgpd_a`] + wait (panics) for the sessions.
    #[allow(dead_code)]
    pub fn restart_bgpd_a(&mut self) {
        self.stop_bgpd_a();
        self.start_bgpd_a();
        self.expect_established(ESTABLISH_TIMEOUT);
    }

    /// Every BGP session is Established, seen from both A and B (so a session of a bgpd that
    /// was just restarted is the new one). Polls every 20 ms.
    pub fn wait_established(&self, timeout: Duration) -> bool {
        poll_until(timeout, || self.all_established())
    }

    /// A second, interactive vtysh session on A (its stdin a pipe of ours) that has entered
    /// `configure terminal file-lock`, as `vtysh -b` does: on FRR >= 9 it holds mgmtd's
    /// configuration lock until [`ConfigLock::release`] (or drop). Returns once the session
    /// is in configuration mode. Panics when it does not get there (FRR 8.4 has no
    /// `file-lock`: check [`Lab::frr_major`] first).
    #[allow(dead_code)]
    pub fn hold_config_lock(&self) -> ConfigLock {
        let mut cmd = self.frr.command(VTYSH);
        cmd.arg("-N").arg(&self.ps_a);
        let what = describe(&cmd);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let transcript = std::sync::Arc::new(Mutex::new(Vec::new()));
        if let Some(mut out) = child.stdout.take() {
            let t = std::sync::Arc::clone(&transcript);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = out.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    t.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&buf[..n]);
                }
            });
        }
        let mut lock = ConfigLock { child, transcript };
        lock.send("configure terminal file-lock\n");
        // vtysh echoes each line read from a pipe after its prompt: the next prompt is
        // the configuration mode's once the lock is taken.
        if !poll_until(CMD_TIMEOUT, || lock.transcript().contains("(config)#")) {
            panic!(
                "{what}: no `configure terminal file-lock` within {CMD_TIMEOUT:?}:\n{}",
                lock.release()
            );
        }
        lock
    }

    /// PID of a daemon we started, if we believe it runs.
    #[allow(dead_code)]
    pub fn daemon_pid(&self, router: Router, daemon: &str) -> Option<u32> {
        let ps = self.ps(router);
        self.daemons
            .iter()
            .find(|d| d.ps == ps && d.name == daemon)
            .map(|d| d.pid)
    }

    // ------------------------------------------------------------------ router C (BIRD)

    /// Name of C's netns. Only exists with `LabOptions { bird: true }`.
    #[allow(dead_code)]
    pub fn ns_c(&self) -> &str {
        &self.ns_c
    }

    #[allow(dead_code)]
    pub fn asn_c(&self) -> u32 {
        ASN_C
    }

    /// BIRD's control socket (`bird -s`, `birdc -s`): the daemon's `socket`.
    pub fn bird_socket(&self) -> PathBuf {
        self.tmp.join("bird.ctl")
    }

    /// The include file of the lab's bird.conf: the daemon's `file`.
    pub fn bird_file(&self) -> PathBuf {
        self.tmp.join("anycastd.conf")
    }

    /// The lab's bird.conf (`bird -c`).
    pub fn bird_conf(&self) -> PathBuf {
        self.tmp.join("bird.conf")
    }

    /// BIRD's own log (`log "…" all;`).
    pub fn bird_log(&self) -> PathBuf {
        self.tmp.join("bird.log")
    }

    /// PID of C's BIRD, while it runs (None after [`Lab::stop_bird`]).
    #[allow(dead_code)]
    pub fn bird_pid(&self) -> Option<u32> {
        self.bird_pid
    }

    /// Runs `/usr/sbin/birdc -s <socket> args…` (timeout 10 s). Panics only when birdc
    /// can't be run or hangs; the exit status is the caller's to judge (birdc exits 0 even
    /// for most errors BIRD reports: read the output).
    pub fn birdc(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIRDC);
        cmd.arg("-s").arg(self.bird_socket()).args(args);
        run(&mut cmd, CMD_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Lab::birdc`]'s stdout and stderr as one text.
    pub fn birdc_text(&self, args: &[&str]) -> String {
        let out = self.birdc(args);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// `birdc configure`, panicking unless BIRD says `Reconfigured` (or that nothing
    /// changed). What a test runs after writing the include file by hand.
    pub fn bird_configure(&self) {
        let text = self.birdc_text(&["configure"]);
        if !bird_configured(&text) {
            panic!(
                "C: birdc configure failed:\n{text}\n--- {} (tail) ---\n{}",
                self.bird_log().display(),
                tail(&read_lossy(&self.bird_log()), 20)
            );
        }
    }

    /// The state of a BIRD protocol as `birdc show protocols NAME` tells it: the State
    /// and Info columns (`up Established`, `down`, …); None when BIRD does not answer or
    /// has no such protocol.
    pub fn bird_protocol(&self, name: &str) -> Option<String> {
        let out = self.birdc(&["show", "protocols", name]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // Name Proto Table State Since(1-2 words) Info…
            (cols.first() == Some(&name) && cols.len() >= 4).then(|| {
                let mut v = vec![cols[3]];
                v.extend(
                    cols.iter()
                        .skip(5)
                        .filter(|c| c.chars().any(char::is_alphabetic)),
                );
                v.join(" ")
            })
        })
    }

    /// The first AS of the AS path of B's valid best path for exactly `prefix` (canonical
    /// form): 65536 (A, FRR), 65537 (A's VRF), 65538 (C, BIRD); None when B has no such
    /// route.
    pub fn b_route_from(&self, prefix: &str) -> Option<u32> {
        let doc = self.b_prefix(prefix)?;
        Json::items(&doc["paths"]).iter().find_map(|path| {
            if path["valid"].as_bool() != Some(true)
                || path["bestpath"]["overall"].as_bool() != Some(true)
            {
                return None;
            }
            path["aspath"]["string"]
                .as_str()?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
    }

    /// Polls [`Lab::b_route_from`] every 20 ms until it equals `want`; false on timeout.
    pub fn wait_b_route_from(&self, prefix: &str, want: Option<u32>, timeout: Duration) -> bool {
        poll_until(timeout, || self.b_route_from(prefix) == want)
    }

    /// Stops C's BIRD: SIGTERM to the PID we started (SIGKILL after 5 s), and waits until
    /// it is gone. No-op when it isn't running.
    pub fn stop_bird(&mut self) {
        let Some(pid) = self.bird_pid.take() else {
            return;
        };
        let id = self.id().to_string();
        let left = stop_procs(&[(pid, id)], bird_alive);
        if !left.is_empty() {
            panic!("C's BIRD (pid {left:?}) is still running after SIGTERM and SIGKILL");
        }
        // An exiting process has an empty cmdline before it is gone (or a zombie): wait
        // for that too, so that nothing of the old BIRD is left when this returns.
        if !poll_until(DAEMON_STOP_TIMEOUT, || exited(pid)) {
            panic!("C's BIRD (pid {pid}) did not finish exiting within {DAEMON_STOP_TIMEOUT:?}");
        }
    }

    /// Starts C's BIRD again with the same bird.conf, socket and pid file (the include
    /// file is left as it is). Does not wait for the sessions: see
    /// [`Lab::wait_established`].
    pub fn start_bird(&mut self) {
        assert!(self.bird_pid.is_none(), "C's BIRD is already running");
        let pid_file = self.tmp.join("bird.pid");
        let stderr_path = self.tmp.join("bird.stderr");
        for f in [&pid_file, &self.bird_socket()] {
            if let Err(e) = fs::remove_file(f) {
                if e.kind() != io::ErrorKind::NotFound {
                    panic!("cannot remove {}: {e}", f.display());
                }
            }
        }
        let (stdout, stderr) = output_files(&stderr_path);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns_c, BIRD, "-c"])
            .arg(self.bird_conf())
            .arg("-s")
            .arg(self.bird_socket())
            .arg("-P")
            .arg(&pid_file)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let what = describe(&cmd);
        let status = cmd
            .spawn()
            .and_then(|child| wait_timeout(child, DAEMON_START_TIMEOUT))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let report = |why: String| {
            format!(
                "BIRD of C did not start: {why}\n$ {what}\n--- {} ---\n{}\n--- {} (tail) ---\n{}",
                stderr_path.display(),
                read_lossy(&stderr_path),
                self.bird_log().display(),
                tail(&read_lossy(&self.bird_log()), 30)
            )
        };
        if !status.success() {
            panic!("{}", report(format!("exit status {status}")));
        }
        // bird parses its config, forks, and the child writes the pid file.
        let id = self.id().to_string();
        let mut pid = None;
        let up = poll_until(DAEMON_START_TIMEOUT, || {
            pid = fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok());
            pid.is_some() && self.bird_socket().exists()
        });
        let Some(pid) = pid.filter(|_| up) else {
            panic!(
                "{}",
                report(format!(
                    "no {} and {} after {DAEMON_START_TIMEOUT:?}",
                    pid_file.display(),
                    self.bird_socket().display()
                ))
            );
        };
        if !bird_alive(pid, &id) {
            panic!(
                "{}",
                report(format!(
                    "pid {pid} (from {}) is not running",
                    pid_file.display()
                ))
            );
        }
        self.bird_pid = Some(pid);
    }

    /// [`Lab::stop_bird`] + [`Lab::start_bird`] + wait (panics) for every session.
    #[allow(dead_code)]
    pub fn restart_bird(&mut self) {
        self.stop_bird();
        self.start_bird();
        self.expect_established(ESTABLISH_TIMEOUT);
    }

    // ------------------------------------------------------------------ internals

    fn vtysh_ok_inner(&self, router: Router, args: &[&str]) -> String {
        let mut cmd = self.frr.command(VTYSH);
        cmd.arg("-N").arg(self.ps(router)).args(args);
        String::from_utf8_lossy(&check(&mut cmd, CMD_TIMEOUT).stdout).into_owned()
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn namespaces(&self) -> Vec<&str> {
        let mut v = vec![self.ns_a.as_str(), self.ns_b.as_str()];
        if self.opts.vrf {
            v.push(&self.ns_vrf);
        }
        if self.opts.bird {
            v.push(&self.ns_c);
        }
        v
    }

    /// The only step whose failure means "this machine can't do netns" (→ skip).
    fn add_namespaces(&self) -> Result<(), String> {
        let _serial = NETNS_ADD.lock().unwrap_or_else(|e| e.into_inner());
        for ns in self.namespaces() {
            let out = run(Command::new("ip").args(["netns", "add", ns]), CMD_TIMEOUT)
                .map_err(|e| format!("`ip netns` unusable: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "`ip netns add {ns}` failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(())
    }

    fn setup(&mut self) {
        let (uid, gid) = self.frr.ids;
        frr_dir(&self.frr.host(FRR_RUN), uid, gid, 0o755);
        fs::create_dir_all(&self.tmp)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", self.tmp.display()));
        let exec = match &self.frr.root {
            None => String::new(),
            // vtysh must run in FRR's root: its sockets are in the root's /var/run/frr
            Some(root) => format!("/usr/sbin/chroot '{}' ", root.display()),
        };
        write_file(
            &self.vtysh_a,
            &format!("#!/bin/sh\nexec {exec}{VTYSH} -N '{}' \"$@\"\n", self.ps_a),
            0o755,
        );

        self.links();
        self.write_configs();

        if self.frr.mgmtd {
            // FRR >= 9: zebra is a client of mgmtd, which must be up first (else zebra logs
            // a burst of "can't send message on closed connection").
            self.start_daemon(Router::A, "mgmtd");
            self.start_daemon(Router::B, "mgmtd");
        }
        self.start_zebra_a();
        self.start_daemon(Router::B, "zebra");
        self.start_daemon(Router::A, "bgpd");
        self.start_daemon(Router::B, "bgpd");
        self.push_config(Router::A);
        self.push_config(Router::B);
        if self.opts.bird {
            self.start_bird();
        }
        self.expect_established(ESTABLISH_TIMEOUT);
    }

    fn links(&self) {
        let (a, b, v) = (&self.ns_a, &self.ns_b, &self.ns_vrf);
        for ns in self.namespaces() {
            // New namespaces start with accept_dad=1: link-locals would stay "tentative" for
            // 1-2 s and bgpd would hold the v6 session back.
            ip(&[
                "netns",
                "exec",
                ns,
                "sh",
                "-c",
                "echo 0 >/proc/sys/net/ipv6/conf/all/accept_dad && \
                 echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad",
            ]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let (if_a, if_b) = (format!("{a}b"), format!("{b}a"));
        ip(&[
            "link", "add", &if_a, "netns", a, "type", "veth", "peer", "name", &if_b, "netns", b,
        ]);
        ip(&["-n", a, "addr", "add", &format!("{A4}/24"), "dev", &if_a]);
        ip(&["-n", b, "addr", "add", &format!("{B4}/24"), "dev", &if_b]);
        ip(&[
            "-n",
            a,
            "-6",
            "addr",
            "add",
            &format!("{A6}/64"),
            "dev",
            &if_a,
            "nodad",
        ]);
        ip(&[
            "-n",
            b,
            "-6",
            "addr",
            "add",
            &format!("{B6}/64"),
            "dev",
            &if_b,
            "nodad",
        ]);
        ip(&["-n", a, "link", "set", &if_a, "up"]);
        ip(&["-n", b, "link", "set", &if_b, "up"]);
        // The service addresses: FRR's import check advertises a `network P` only when
        // exactly P is in zebra's RIB, and an address on lo gives that connected /32 (/128).
        for p in DEFAULT_VRF_PREFIXES {
            if p.contains(':') {
                ip(&["-n", a, "-6", "addr", "add", p, "dev", "lo", "nodad"]);
            } else {
                ip(&["-n", a, "addr", "add", p, "dev", "lo"]);
            }
        }
        if self.opts.vrf {
            let (if_v, if_bv) = (format!("{v}b"), format!("{b}v"));
            ip(&[
                "link", "add", &if_v, "netns", v, "type", "veth", "peer", "name", &if_bv, "netns",
                b,
            ]);
            ip(&["-n", v, "addr", "add", &format!("{VRF4}/30"), "dev", &if_v]);
            ip(&[
                "-n",
                b,
                "addr",
                "add",
                &format!("{BVRF4}/30"),
                "dev",
                &if_bv,
            ]);
            ip(&["-n", v, "link", "set", &if_v, "up"]);
            ip(&["-n", b, "link", "set", &if_bv, "up"]);
            for p in VRF_PREFIXES {
                ip(&["-n", v, "addr", "add", p, "dev", "lo"]);
            }
        }
        if self.opts.bird {
            let c = &self.ns_c;
            let (if_c, if_bc) = (format!("{c}b"), format!("{b}c"));
            ip(&[
                "link", "add", &if_c, "netns", c, "type", "veth", "peer", "name", &if_bc, "netns",
                b,
            ]);
            ip(&["-n", c, "addr", "add", &format!("{C4}/24"), "dev", &if_c]);
            ip(&["-n", b, "addr", "add", &format!("{BC4}/24"), "dev", &if_bc]);
            for (ns, addr, dev) in [(c, C6, &if_c), (b, BC6, &if_bc)] {
                ip(&[
                    "-n",
                    ns,
                    "-6",
                    "addr",
                    "add",
                    &format!("{addr}/64"),
                    "dev",
                    dev,
                    "nodad",
                ]);
            }
            ip(&["-n", c, "link", "set", &if_c, "up"]);
            ip(&["-n", b, "link", "set", &if_bc, "up"]);
        }
    }

    fn write_configs(&self) {
        let vrf = self.opts.vrf;
        let mut a = format!(
            "frr defaults {PROFILE}\n!\n\
             router bgp {ASN_A}\n\
             \x20bgp router-id {A4}\n\
             \x20! default ~1 s: the first UPDATE to a freshly established peer waits for it\n\
             \x20coalesce-time 0\n\
             \x20no bgp ebgp-requires-policy\n\
             \x20no bgp default ipv4-unicast\n\
             \x20neighbor {B4} remote-as {ASN_B}\n\
             \x20neighbor {B4} timers connect 2\n\
             \x20neighbor {B6} remote-as {ASN_B}\n\
             \x20neighbor {B6} timers connect 2\n\
             \x20address-family ipv4 unicast\n\
             \x20 neighbor {B4} activate\n\
             \x20exit-address-family\n\
             \x20address-family ipv6 unicast\n\
             \x20 neighbor {B6} activate\n\
             \x20exit-address-family\n\
             exit\n!\n"
        );
        if vrf {
            a.push_str(&format!(
                "router bgp {ASN_VRF} vrf {}\n\
                 \x20bgp router-id {VRF4}\n\
                 \x20coalesce-time 0\n\
                 \x20no bgp ebgp-requires-policy\n\
                 \x20no bgp default ipv4-unicast\n\
                 \x20neighbor {BVRF4} remote-as {ASN_B}\n\
                 \x20neighbor {BVRF4} timers connect 2\n\
                 \x20address-family ipv4 unicast\n\
                 \x20 neighbor {BVRF4} activate\n\
                 \x20exit-address-family\n\
                 exit\n!\n",
                self.ns_vrf
            ));
        }
        let (mut b_nb, mut b_act4, mut b_act6) = (String::new(), String::new(), String::new());
        if vrf {
            b_nb.push_str(&format!(
                " neighbor {VRF4} remote-as {ASN_VRF}\n neighbor {VRF4} timers connect 2\n"
            ));
            b_act4.push_str(&format!("  neighbor {VRF4} activate\n"));
        }
        if self.opts.bird {
            // C (BIRD) like A: v4 session for ipv4 unicast, v6 session for ipv6 unicast.
            for c in [C4, C6] {
                b_nb.push_str(&format!(
                    " neighbor {c} remote-as {ASN_C}\n neighbor {c} timers connect 2\n"
                ));
            }
            b_act4.push_str(&format!("  neighbor {C4} activate\n"));
            b_act6.push_str(&format!("  neighbor {C6} activate\n"));
        }
        let b = format!(
            "frr defaults {PROFILE}\n!\n\
             router bgp {ASN_B}\n\
             \x20bgp router-id {B4}\n\
             \x20coalesce-time 0\n\
             \x20no bgp ebgp-requires-policy\n\
             \x20no bgp default ipv4-unicast\n\
             \x20neighbor {A4} remote-as {ASN_A}\n\
             \x20neighbor {A4} timers connect 2\n\
             \x20neighbor {A6} remote-as {ASN_A}\n\
             \x20neighbor {A6} timers connect 2\n\
             {b_nb}\
             \x20address-family ipv4 unicast\n\
             \x20 neighbor {A4} activate\n\
             {b_act4}\
             \x20exit-address-family\n\
             \x20address-family ipv6 unicast\n\
             \x20 neighbor {A6} activate\n\
             {b_act6}\
             \x20exit-address-family\n\
             exit\n!\n"
        );
        let (uid, gid) = self.frr.ids;
        for (ps, conf) in [(&self.ps_a, a), (&self.ps_b, b)] {
            let dir = self.frr.host(FRR_ETC).join(ps);
            frr_dir(&dir, uid, gid, 0o750);
            for (file, text) in [
                ("frr.conf", conf.as_str()),
                // vtysh -N <ps> reads <dir>/vtysh.conf (and warns on stderr when it's missing)
                ("vtysh.conf", "service integrated-vtysh-config\n"),
            ] {
                let path = dir.join(file);
                write_file(&path, text, 0o640);
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
            }
        }
        if self.opts.bird {
            self.write_bird_configs();
        }
    }

    /// C's bird.conf and the include file the daemon owns. BIRD's defaults wait long
    /// before (re)connecting (connect retry 120 s; after an error it refuses even incoming
    /// connections for 60 s): shortened, like B's `timers connect 2`.
    fn write_bird_configs(&self) {
        let (tmp, file) = (self.tmp.display(), self.bird_file());
        let bgp = |name: &str, local: &str, peer: &str, afi: &str, proto: &str| {
            format!(
                "protocol bgp {name} {{\n\
                 \tlocal {local} as {ASN_C};\n\
                 \tneighbor {peer} as {ASN_B};\n\
                 \tconnect delay time 1;\n\
                 \tconnect retry time 2;\n\
                 \terror wait time 1, 5;\n\
                 \t{afi} {{ import none; export where proto = \"{proto}\"; }};\n\
                 }}\n"
            )
        };
        let conf = format!(
            "router id {C4};\n\
             log \"{tmp}/bird.log\" all;\n\
             protocol device {{}}\n\
             protocol kernel {{ ipv4 {{ export none; }}; }}\n\
             protocol kernel {{ ipv6 {{ export none; }}; }}\n\
             include \"{}\";\n\
             {}{}",
            file.display(),
            bgp("b4", C4, BC4, "ipv4", "anycastd4"),
            bgp("b6", C6, BC6, "ipv6", "anycastd6"),
        );
        write_file(&self.bird_conf(), &conf, 0o644);
        write_file(&file, BIRD_INCLUDE_EMPTY, 0o644);
    }

    /// [`Lab::try_start_daemon`], panicking with its report when the daemon does not start.
    fn start_daemon(&mut self, router: Router, name: &'static str) {
        if let Err(f) = self.try_start_daemon(router, name) {
            panic!("{}", f.report);
        }
    }

    /// A's zebra. With the netns VRF backend (`-n`) FRR 8.4's zebra sometimes aborts while it
    /// starts, when a namespace is deleted at that moment (another lab, here or in another
    /// test process, tearing down): `thread_cancel_async(): assertion (master->owner !=
    /// pthread_self()) failed` from `ns_delete` → `zebra_ns_disabled`. Seen about once in
    /// 15 runs of the e2e tests with other labs coming and going; a zebra that has been up
    /// for a moment survives deletions (see the module docs). So: start it, look again a
    /// little later, and start it again (up to three times) when it died.
    fn start_zebra_a(&mut self) {
        if !self.opts.vrf {
            return self.start_daemon(Router::A, "zebra");
        }
        for attempt in 1..=ZEBRA_A_ATTEMPTS {
            let died = match self.try_start_daemon(Router::A, "zebra") {
                Err(f) if f.died => f.report,
                Err(f) => panic!("{}", f.report),
                Ok(()) => {
                    thread::sleep(ZEBRA_A_SETTLE);
                    let ps = self.ps_a.clone();
                    if self
                        .daemon_pid(Router::A, "zebra")
                        .is_some_and(|pid| frr_alive(pid, &ps))
                    {
                        return;
                    }
                    self.daemons.retain(|d| !(d.ps == ps && d.name == "zebra"));
                    let log = self.frr.host(FRR_RUN).join(&ps).join("zebra.log");
                    format!(
                        "zebra of A died within {ZEBRA_A_SETTLE:?} of starting\n--- {} ---\n{}",
                        log.display(),
                        tail(&read_lossy(&log), 30)
                    )
                }
            };
            if attempt == ZEBRA_A_ATTEMPTS {
                panic!("{died}\n(attempt {attempt} of {ZEBRA_A_ATTEMPTS})");
            }
            let first = died.lines().next().unwrap_or_default().to_string();
            let _ = writeln!(
                io::stderr(),
                "lab {}: zebra of A died while starting (attempt {attempt} of \
                 {ZEBRA_A_ATTEMPTS}), starting it again: {first}",
                self.ps_a
            );
        }
    }

    /// `ip netns exec NS /usr/lib/frr/<name> -d -N <ps> …`, then waits for its pid file and
    /// vty socket and records the PID. Panics only on local trouble (files, spawning).
    fn try_start_daemon(&mut self, router: Router, name: &'static str) -> Result<(), StartFailure> {
        let ps = self.ps(router).to_string();
        let (uid, gid) = self.frr.ids;
        let dir = self.frr.host(FRR_RUN).join(&ps);
        frr_dir(&dir, uid, gid, 0o755);
        let pid_file = dir.join(format!("{name}.pid"));
        let vty = dir.join(format!("{name}.vty"));
        // A stopped daemon leaves both behind; the new ones tell us the new daemon is up.
        for f in [&pid_file, &vty] {
            if let Err(e) = fs::remove_file(f) {
                if e.kind() != io::ErrorKind::NotFound {
                    panic!("cannot remove {}: {e}", f.display());
                }
            }
        }
        let log = dir.join(format!("{name}.log"));
        let log_in_root = format!("{FRR_RUN}/{ps}/{name}.log");
        let stderr_path = dir.join(format!("{name}.stderr"));
        let (stdout, stderr) = output_files(&stderr_path);
        let mut cmd = self.frr_command(router, &format!("{FRR_SBIN}/{name}"));
        cmd.args(["-d", "-N", &ps, "-F", PROFILE, "-P", "0", "--log"])
            .arg(format!("file:{log_in_root}"));
        if name == "zebra" {
            cmd.args(["-s", "90000000"]);
            if router == Router::A && self.opts.vrf {
                // netns VRF backend: the VRF netns becomes VRF <its name> (FRR 10 calls the
                // option -w; -n is deprecated there)
                cmd.arg(if self.frr.major >= 10 { "-w" } else { "-n" });
            }
        }
        // cwd /: `ip netns exec` keeps it, and the daemons should not pin the test's dir.
        // stdio: FRR >= 9 started with -d keeps its stdout and stderr unless they are a
        // terminal: never a pipe of ours, or whoever reads it waits for ever.
        cmd.current_dir("/")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let what = describe(&cmd);
        let status = cmd
            .spawn()
            .and_then(|child| wait_timeout(child, DAEMON_START_TIMEOUT))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let failure = |died: bool, why: String| StartFailure {
            died,
            report: format!(
                "{name} of {router:?} did not start: {why}\n$ {what}\n--- {} ---\n{}\n--- {} ---\n{}",
                stderr_path.display(),
                read_lossy(&stderr_path),
                log.display(),
                tail(&read_lossy(&log), 30)
            ),
        };
        if !status.success() {
            return Err(failure(true, format!("exit status {status}")));
        }
        let t0 = Instant::now();
        loop {
            let pid = fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok());
            if let Some(pid) = pid.filter(|_| vty.exists()) {
                if !frr_alive(pid, &ps) {
                    return Err(failure(
                        true,
                        format!("pid {pid} (from {}) is not running", pid_file.display()),
                    ));
                }
                self.daemons.push(Daemon { ps, name, pid });
                return Ok(());
            }
            if t0.elapsed() > DAEMON_START_TIMEOUT {
                // Maybe still running: not safe to start another one.
                return Err(failure(
                    false,
                    format!(
                        "no {} and {} after {DAEMON_START_TIMEOUT:?}",
                        pid_file.display(),
                        vty.display()
                    ),
                ));
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Daemons start with an empty config; `vtysh -b` pushes `/etc/frr/<ps>/frr.conf` into all
    /// of them (exit 0 clean, 2 when some lines failed).
    fn push_config(&self, router: Router) {
        self.vtysh_ok_inner(router, &["-b"]);
    }

    fn peer_states(&self, router: Router) -> Option<BTreeMap<String, String>> {
        let cmd = match router {
            Router::A => "show bgp vrf all summary json",
            Router::B => "show bgp summary json",
        };
        let out = self.vtysh(router, &["-c", cmd]);
        if !out.status.success() {
            return None;
        }
        let doc = Json::parse(&String::from_utf8_lossy(&out.stdout)).ok()?;
        let mut states = BTreeMap::new();
        collect_peer_states(&doc, &mut states);
        Some(states)
    }

    fn all_established(&self) -> bool {
        let mut want_a = vec![B4, B6];
        let mut want_b = vec![A4, A6];
        if self.opts.vrf {
            want_a.push(BVRF4);
            want_b.push(VRF4);
        }
        if self.opts.bird {
            want_b.extend([C4, C6]);
        }
        let frr = [(Router::B, want_b), (Router::A, want_a)]
            .into_iter()
            .all(|(router, want)| {
                self.peer_states(router).is_some_and(|states| {
                    want.iter()
                        .all(|p| states.get(*p).is_some_and(|s| s == "Established"))
                })
            });
        frr && (!self.opts.bird || self.bird_established())
    }

    /// BIRD says both of its BGP protocols are `up Established` (a stopped BIRD: false).
    fn bird_established(&self) -> bool {
        self.bird_pid.is_some()
            && BIRD_PROTOCOLS.iter().all(|p| {
                self.bird_protocol(p)
                    .is_some_and(|s| s.starts_with("up") && s.contains("Established"))
            })
    }

    fn expect_established(&self, timeout: Duration) {
        if self.wait_established(timeout) {
            return;
        }
        let mut report = String::new();
        for (router, cmd) in [
            (Router::A, "show bgp vrf all summary"),
            (Router::B, "show bgp summary"),
        ] {
            let out = self.vtysh(router, &["-c", cmd]);
            report.push_str(&format!(
                "--- {router:?}: {cmd} ({}) ---\n{}\n",
                out.status,
                show(&out)
            ));
        }
        for ps in [&self.ps_a, &self.ps_b] {
            let log = self.frr.host(FRR_RUN).join(ps).join("bgpd.log");
            report.push_str(&format!(
                "--- {} (tail) ---\n{}\n",
                log.display(),
                tail(&read_lossy(&log), 20)
            ));
        }
        if self.opts.bird {
            report.push_str(&format!(
                "--- C: birdc show protocols (BIRD pid {:?}) ---\n{}\n--- {} (tail) ---\n{}\n",
                self.bird_pid,
                self.birdc_text(&["show", "protocols"]),
                self.bird_log().display(),
                tail(&read_lossy(&self.bird_log()), 20)
            ));
        }
        panic!("BGP sessions not all Established after {timeout:?}\n{report}");
    }
}

/// The vtysh session of [`Lab::hold_config_lock`].
pub struct ConfigLock {
    child: Child,
    transcript: std::sync::Arc<Mutex<Vec<u8>>>,
}

impl ConfigLock {
    fn send(&mut self, text: &str) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin
                .write_all(text.as_bytes())
                .and_then(|()| stdin.flush());
        }
    }

    /// What the session printed so far (its prompts and echoed commands).
    pub fn transcript(&self) -> String {
        let t = self.transcript.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&t).into_owned()
    }

    /// `end` and `exit`: the lock is released, the session ends (killed after 10 s).
    /// Returns the transcript.
    pub fn release(&mut self) -> String {
        self.send("end\nexit\n");
        drop(self.child.stdin.take());
        let t0 = Instant::now();
        while !matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
            if t0.elapsed() > CMD_TIMEOUT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            thread::sleep(POLL);
        }
        self.transcript()
    }
}

impl Drop for ConfigLock {
    fn drop(&mut self) {
        self.release();
    }
}

impl Drop for Lab {
    /// Kills our daemons (by PID, cmdline checked), deletes our namespaces, FRR dirs and temp
    /// dir. Never panics; problems are printed.
    fn drop(&mut self) {
        let mut pids: Vec<(u32, String)> =
            self.daemons.iter().map(|d| (d.pid, d.ps.clone())).collect();
        // Also daemons that started but were not recorded (a panic during start-up).
        let ours = [self.ps_a.clone(), self.ps_b.clone()];
        for (pid, ps) in frr_processes() {
            if ours.contains(&ps) && !pids.iter().any(|(p, _)| *p == pid) {
                pids.push((pid, ps));
            }
        }
        let left = stop_pids(&pids);
        if !left.is_empty() {
            eprintln!("lab: FRR daemons {left:?} survived SIGKILL");
        }
        self.daemons.clear();
        // C's BIRD, and any BIRD started on this lab's bird.conf that we did not record.
        let mut birds: Vec<(u32, String)> = self
            .bird_pid
            .take()
            .map(|pid| (pid, self.id.clone()))
            .into_iter()
            .collect();
        for (pid, id) in bird_processes() {
            if id == self.id && !birds.iter().any(|(p, _)| *p == pid) {
                birds.push((pid, id));
            }
        }
        let left = stop_procs(&birds, bird_alive);
        if !left.is_empty() {
            eprintln!("lab: BIRD {left:?} survived SIGKILL");
        } else if !poll_until(DAEMON_STOP_TIMEOUT, || {
            birds.iter().all(|(pid, _)| exited(*pid))
        }) {
            eprintln!("lab: BIRD {birds:?} still exiting after {DAEMON_STOP_TIMEOUT:?}");
        }
        for ns in [&self.ns_a, &self.ns_b, &self.ns_vrf, &self.ns_c] {
            delete_netns(ns);
        }
        for ps in &ours {
            remove_dir(&self.frr.host(FRR_ETC).join(ps));
            remove_dir(&self.frr.host(FRR_RUN).join(ps));
        }
        remove_dir(&self.tmp);
    }
}

/// The address family FRR files a prefix under.
pub fn afi(prefix: &str) -> &'static str {
    if prefix.contains(':') { "ipv6" } else { "ipv4" }
}

/// Removes what labs of earlier, crashed test runs left behind: FRR daemons, BIRDs (of
/// router C: `bird -c <tmp>/<id>/bird.conf`), namespaces, `/etc/frr/<ps>`,
/// `/var/run/frr/<ps>` and temp dirs whose name says they were made by a process that no
/// longer exists. Touches only names of the form this harness creates.
pub fn cleanup_stale() {
    let _serial = CLEANUP.lock().unwrap_or_else(|e| e.into_inner());
    let me = process::id();
    let stale = |name: &str| {
        owner_pid(name).is_some_and(|pid| pid != me && !Path::new(&format!("/proc/{pid}")).exists())
    };
    let daemons: Vec<(u32, String)> = frr_processes()
        .into_iter()
        .filter(|(_, ps)| stale(ps))
        .collect();
    if !daemons.is_empty() {
        eprintln!("lab: stopping stale FRR daemons {daemons:?}");
        stop_pids(&daemons);
    }
    let birds: Vec<(u32, String)> = bird_processes()
        .into_iter()
        .filter(|(_, id)| stale(id))
        .collect();
    if !birds.is_empty() {
        eprintln!("lab: stopping stale BIRD {birds:?}");
        stop_procs(&birds, bird_alive);
    }
    for name in dir_names(Path::new(NETNS_DIR)) {
        if stale(&name) {
            eprintln!("lab: deleting stale netns {name}");
            delete_netns(&name);
        }
    }
    let mut bases = vec![
        PathBuf::from(FRR_ETC),
        PathBuf::from(FRR_RUN),
        std::env::temp_dir(),
    ];
    if let Some(Ok(frr)) = FLAVOUR.get() {
        if frr.root.is_some() {
            bases.extend([frr.host(FRR_ETC), frr.host(FRR_RUN)]);
        }
    }
    for base in bases {
        for name in dir_names(&base) {
            if stale(&name) {
                eprintln!("lab: removing stale {}", base.join(&name).display());
                remove_dir(&base.join(&name));
            }
        }
    }
}

// ---------------------------------------------------------------------- helpers

fn skip(why: &str) -> Option<Lab> {
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    if ci {
        panic!("FRR/BIRD lab not available, and CI=true makes that a failure: {why}");
    }
    let test = thread::current().name().unwrap_or("?").to_string();
    let bar = "!".repeat(78);
    // Straight to the process's stderr: libtest's capture only sees eprintln!.
    let _ = writeln!(
        io::stderr(),
        "\n{bar}\n\
         !!! SKIPPED: FRR/BIRD lab not available: {why}\n\
         !!! test `{test}` did NOT run its FRR checks.\n\
         !!! It needs root, FRR ({FRR_SBIN}/zebra, {FRR_SBIN}/bgpd, {VTYSH}) and `ip netns`;\n\
         !!! a BIRD lab also BIRD 2 ({BIRD}, {BIRDC}: apt-get install bird2);\n\
         !!! ANYCASTD_TEST_FRR=10.3 builds FRR 10.3's trixie root (debootstrap, Debian mirror).\n\
         !!! With CI=true this is a failure instead of a skip.\n\
         {bar}\n"
    );
    None
}

/// Root, the flavour's FRR (installed or built when missing), `ip netns list`.
fn prerequisites() -> Result<&'static Flavour, String> {
    let status = fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse::<u32>().ok());
    if euid != Some(0) {
        let euid = euid.map_or_else(|| "unknown".to_string(), |u| u.to_string());
        return Err(format!("not root (effective uid {euid})"));
    }
    // Once per process: every other lab waits here for the first one's install or build.
    let frr = FLAVOUR
        .get_or_init(Flavour::prepare)
        .as_ref()
        .map_err(Clone::clone)?;
    let out = run(Command::new("ip").args(["netns", "list"]), CMD_TIMEOUT)
        .map_err(|e| format!("`ip netns` unusable: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`ip netns list` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(frr)
}

/// The shell that `ip netns exec` runs for a daemon of the trixie root (`$1`): in the
/// mount namespace of its own that `ip netns exec` made, the root's `/proc` (FRR opens
/// `/proc/self/ns/net` and reads `/proc/sys/net`) and, when `$2` names a VRF, a private
/// `/var/run/netns` in the root that holds only that VRF's netns (what `zebra -w` and bgpd
/// open); then `chroot` to the root and run the rest.
const IN_ROOT: &str = "root=$1 vrf=$2; shift 2; \
    mount -t proc proc \"$root/proc\" || exit 1; \
    if [ -n \"$vrf\" ]; then \
    mount -t tmpfs -o mode=0755,size=64k tmpfs \"$root/run/netns\" && \
    : >\"$root/run/netns/$vrf\" && \
    mount --bind \"/run/netns/$vrf\" \"$root/run/netns/$vrf\" || exit 1; \
    fi; \
    exec /usr/sbin/chroot \"$root\" \"$@\"";

/// The FRR a test process's labs run, from `ANYCASTD_TEST_FRR`:
/// - `host` (unset): the host's FRR (installed from Debian's packages when missing);
/// - `8.4`: the same, and it must be FRR 8.4 (Debian 12's);
/// - `10.3`: Debian 13's FRR 10.3 from the trixie root of `tests/trixie/root.sh`
///   (`ANYCASTD_TRIXIE_ROOT`, by default `/var/cache/anycastd-test/trixie`), built once and
///   reused; each daemon and each vtysh runs in it with `chroot`.
pub struct Flavour {
    /// FRR's root seen from here: `None` for the host's FRR.
    root: Option<PathBuf>,
    /// FRR's package version (`8.4.4-1.1~deb12u1`).
    version: String,
    major: u32,
    /// FRR >= 9 runs mgmtd.
    mgmtd: bool,
    /// frr's uid and gid in FRR's root.
    ids: (u32, u32),
}

impl Flavour {
    fn prepare() -> Result<Flavour, String> {
        let want = std::env::var("ANYCASTD_TEST_FRR").unwrap_or_default();
        let root = match want.as_str() {
            "" | "host" | "8.4" => {
                if !frr_installed() {
                    FRR_INSTALL.get_or_init(install_frr).clone()?;
                }
                None
            }
            "10.3" => Some(trixie_root()?),
            other => {
                return Err(format!(
                    "ANYCASTD_TEST_FRR={other:?}: say 8.4, 10.3 or host"
                ));
            }
        };
        let mut frr = Flavour {
            root,
            version: String::new(),
            major: 0,
            mgmtd: false,
            ids: (0, 0),
        };
        for bin in [
            format!("{FRR_SBIN}/zebra"),
            format!("{FRR_SBIN}/bgpd"),
            VTYSH.to_string(),
        ] {
            if !frr.host(&bin).is_file() {
                return Err(format!(
                    "FRR binary {} missing (apt-get install frr)",
                    frr.host(&bin).display()
                ));
            }
        }
        frr.mgmtd = frr.host(&format!("{FRR_SBIN}/mgmtd")).is_file();
        let passwd = fs::read_to_string(frr.host("/etc/passwd")).unwrap_or_default();
        frr.ids = passwd
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                if f.len() > 3 && f[0] == "frr" {
                    Some((f[2].parse::<u32>().ok()?, f[3].parse::<u32>().ok()?))
                } else {
                    None
                }
            })
            .ok_or("user `frr` missing from /etc/passwd (FRR not installed?)")?;
        let mut query = frr.command("dpkg-query");
        query.args(["-W", "-f=${Version}", "frr"]);
        let out = run(&mut query, CMD_TIMEOUT).map_err(|e| e.to_string())?;
        frr.version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        frr.major = frr
            .version
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| format!("FRR's version {:?} not understood", frr.version))?;
        if matches!(want.as_str(), "8.4" | "10.3") && !frr.version.starts_with(want.as_str()) {
            return Err(format!(
                "ANYCASTD_TEST_FRR={want}, but FRR there is {}",
                frr.version
            ));
        }
        let _ = writeln!(
            io::stderr(),
            "lab: FRR {}{}",
            frr.version,
            frr.root
                .as_ref()
                .map(|r| format!(" from {}", r.display()))
                .unwrap_or_default()
        );
        Ok(frr)
    }

    /// Where a path of FRR's root is seen from here. The trixie root's `/var/run` is an
    /// absolute symlink to `/run`: it resolves inside the root only.
    fn host(&self, path: &str) -> PathBuf {
        match &self.root {
            None => PathBuf::from(path),
            Some(root) => {
                let path = path.strip_prefix("/var/run/").map_or_else(
                    || path.trim_start_matches('/').to_string(),
                    |rest| format!("run/{rest}"),
                );
                root.join(path)
            }
        }
    }

    /// `program` of FRR's root (`chroot ROOT program` for the trixie root).
    fn command(&self, program: &str) -> Command {
        match &self.root {
            None => Command::new(program),
            Some(root) => {
                let mut cmd = Command::new("/usr/sbin/chroot");
                cmd.arg(root).arg(program);
                cmd
            }
        }
    }
}

/// `tests/trixie/root.sh frr`: the trixie root with FRR 10.3, built when missing or
/// incomplete (minutes, from the Debian mirror), else at once. Returns its path.
fn trixie_root() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/trixie/root.sh");
    let _ = writeln!(
        io::stderr(),
        "lab: ANYCASTD_TEST_FRR=10.3: {} frr (builds the trixie root when missing)",
        script.display()
    );
    let mut cmd = Command::new(&script);
    cmd.arg("frr");
    let out = run(&mut cmd, TRIXIE_ROOT_TIMEOUT).map_err(|e| format!("trixie root: {e}"))?;
    let _ = io::stderr().write_all(&out.stderr);
    let root = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || root.is_empty() {
        return Err(format!(
            "trixie root: {} failed ({}):\n{}",
            script.display(),
            out.status,
            tail(&show(&out), 20)
        ));
    }
    Ok(PathBuf::from(root))
}

/// The FRR programs the lab cannot do without are there.
fn frr_installed() -> bool {
    Path::new(&format!("{FRR_SBIN}/bgpd")).is_file() && Path::new(VTYSH).is_file()
}

/// `apt-get update` + `apt-get install frr iproute2`, without letting the package start a
/// system FRR in the root namespace (see [`apt_install`]).
fn install_frr() -> Result<(), String> {
    let _ = writeln!(
        io::stderr(),
        "lab: FRR is not installed ({FRR_SBIN}/bgpd or {VTYSH} missing): installing it \
         with apt-get (frr iproute2)…"
    );
    apt_install("FRR", &["frr", "iproute2"])?;
    if !frr_installed() {
        return Err(format!(
            "apt-get installed frr, but {FRR_SBIN}/bgpd or {VTYSH} is still missing"
        ));
    }
    Ok(())
}

/// The BIRD programs a BIRD lab cannot do without are there.
fn bird_installed() -> bool {
    Path::new(BIRD).is_file() && Path::new(BIRDC).is_file()
}

/// Once per process, for the first BIRD lab: the host's BIRD 2 is there, installed
/// (`apt-get install bird2`, no system BIRD started) when missing and we are root (the
/// caller checked). Also under `ANYCASTD_TEST_FRR=10.3`: C always runs the host's BIRD.
fn prepare_bird() -> Result<(), String> {
    if !bird_installed() {
        let _ = writeln!(
            io::stderr(),
            "lab: BIRD is not installed ({BIRD} or {BIRDC} missing): installing it with \
             apt-get (bird2)…"
        );
        apt_install("BIRD", &["bird2"])?;
        if !bird_installed() {
            return Err(format!(
                "apt-get installed bird2, but {BIRD} or {BIRDC} is still missing"
            ));
        }
    }
    let out = run(Command::new(BIRD).arg("--version"), CMD_TIMEOUT).map_err(|e| e.to_string())?;
    // bird prints its version on stderr
    let version = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let version = version.trim();
    if !version.contains("BIRD version 2.") {
        return Err(format!("{BIRD} is not BIRD 2: {version:?}"));
    }
    let _ = writeln!(io::stderr(), "lab: {version} (router C)");
    Ok(())
}

/// `apt-get update` + `apt-get install PACKAGES` without letting a package start its
/// service in the root namespace: a `policy-rc.d` that says 101 ("action forbidden") is
/// put in place for the install when there is none, and removed afterwards. `what` names
/// it in messages.
fn apt_install(what: &str, packages: &[&str]) -> Result<(), String> {
    let t0 = Instant::now();
    let policy = Path::new(POLICY_RC_D);
    let made_policy = if policy.exists() {
        false
    } else {
        fs::write(
            policy,
            "#!/bin/sh\n# anycastd tests: start no service while packages are installed\nexit 101\n",
        )
        .and_then(|()| fs::set_permissions(policy, fs::Permissions::from_mode(0o755)))
        .map_err(|e| format!("cannot write {POLICY_RC_D}: {e}"))?;
        true
    };
    let mut install = vec![
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "-o",
        "DPkg::Lock::Timeout=120",
    ];
    install.extend(packages);
    let result = apt(what, &["update", "-q"], APT_UPDATE_TIMEOUT)
        .and_then(|()| apt(what, &install, APT_INSTALL_TIMEOUT));
    if made_policy {
        if let Err(e) = fs::remove_file(policy) {
            let _ = writeln!(io::stderr(), "lab: cannot remove {POLICY_RC_D}: {e}");
        }
    }
    result?;
    let _ = writeln!(
        io::stderr(),
        "lab: {what} installed in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `apt-get ARGS` with `DEBIAN_FRONTEND=noninteractive`, killed after `timeout`.
fn apt(what: &str, args: &[&str], timeout: Duration) -> Result<(), String> {
    let mut cmd = Command::new("apt-get");
    cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    let cmdline = describe(&cmd);
    let out = run(&mut cmd, timeout).map_err(|e| format!("installing {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "installing {what}: {cmdline} failed ({}):\n{}",
            out.status,
            tail(&show(&out), 20)
        ));
    }
    Ok(())
}

fn base36(mut n: u32) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit(n % 36, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// The creator PID encoded in a name this harness made: `acd<pid36>-<n36>[role…]`.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let (pid, tail) = rest.split_once('-')?;
    let lower36 = |s: &str| {
        !s.is_empty()
            && s.len() <= 7
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    if !lower36(pid) || !lower36(tail) {
        return None;
    }
    u32::from_str_radix(pid, 36).ok()
}

fn dir_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Running FRR daemons (`/usr/lib/frr/…`, not zombies) as `(pid, pathspace)`.
fn frr_processes() -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for name in dir_names(Path::new("/proc")) {
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        if let Some(ps) = frr_pathspace(pid) {
            found.push((pid, ps));
        }
    }
    found
}

/// The `-N` pathspace of a live (non-zombie) process running `/usr/lib/frr/<daemon>`.
fn frr_pathspace(pid: u32) -> Option<String> {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    if !args.first()?.starts_with(format!("{FRR_SBIN}/").as_bytes()) {
        return None;
    }
    let ps = args.windows(2).find(|w| w[0] == b"-N")?[1];
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let state = status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))?
        .trim_start();
    if state.starts_with('Z') || state.starts_with('X') {
        return None;
    }
    String::from_utf8(ps.to_vec()).ok()
}

/// PID is a live FRR daemon of pathspace `ps` (cmdline checked, zombies count as dead).
fn frr_alive(pid: u32, ps: &str) -> bool {
    frr_pathspace(pid).is_some_and(|p| p == ps)
}

/// BIRDs started on a lab's bird.conf (`bird -c <tmp>/<id>/bird.conf`, not zombies) as
/// `(pid, lab id)`.
fn bird_processes() -> Vec<(u32, String)> {
    dir_names(Path::new("/proc"))
        .iter()
        .filter_map(|name| {
            let pid = name.parse::<u32>().ok()?;
            Some((pid, bird_lab(pid)?))
        })
        .collect()
}

/// The lab id of a live (non-zombie) `bird -c <tmp>/<id>/bird.conf …` with a name this
/// harness makes (`acd…`). Any other BIRD (the system's, someone else's) is never ours.
fn bird_lab(pid: u32) -> Option<String> {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if Path::new(args.first()?).file_name()? != "bird" {
        return None;
    }
    let conf = PathBuf::from(&args.windows(2).find(|w| w[0] == "-c")?[1]);
    if conf.file_name()? != "bird.conf" {
        return None;
    }
    let dir = conf.parent()?;
    if dir.parent()? != std::env::temp_dir() {
        return None;
    }
    let id = dir.file_name()?.to_str()?.to_string();
    owner_pid(&id)?;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let state = status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))?
        .trim_start();
    if state.starts_with('Z') || state.starts_with('X') {
        return None;
    }
    Some(id)
}

/// Process `pid` is gone or a zombie (whatever it ran).
fn exited(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status")).map_or(true, |status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("State:"))
            .is_none_or(|s| s.trim_start().starts_with(['Z', 'X']))
    })
}

/// PID is a live BIRD of lab `id` (cmdline checked, zombies count as dead).
fn bird_alive(pid: u32, id: &str) -> bool {
    bird_lab(pid).is_some_and(|l| l == id)
}

/// SIGTERM, wait up to 5 s, SIGKILL, wait 2 s more. Each PID is checked against its
/// pathspace before every signal. Returns the PIDs still alive. Never panics.
fn stop_pids(pids: &[(u32, String)]) -> Vec<u32> {
    stop_procs(pids, frr_alive)
}

/// [`stop_pids`] for any kind of process: `alive(pid, tag)` says whether it is still ours
/// and running.
fn stop_procs(pids: &[(u32, String)], alive: fn(u32, &str) -> bool) -> Vec<u32> {
    let alive = |pids: &[(u32, String)]| -> Vec<(u32, String)> {
        pids.iter()
            .filter(|(pid, tag)| alive(*pid, tag))
            .cloned()
            .collect()
    };
    let mut left = alive(pids);
    for (signal, wait) in [
        ("-TERM", DAEMON_STOP_TIMEOUT),
        ("-KILL", Duration::from_secs(2)),
    ] {
        if left.is_empty() {
            break;
        }
        let mut cmd = Command::new("kill");
        cmd.arg(signal)
            .args(left.iter().map(|(pid, _)| pid.to_string()));
        if let Err(e) = run(&mut cmd, CMD_TIMEOUT) {
            eprintln!("lab: {e}");
        }
        poll_until(wait, || alive(&left).is_empty());
        left = alive(&left);
    }
    left.into_iter().map(|(pid, _)| pid).collect()
}

fn delete_netns(ns: &str) {
    if !Path::new(NETNS_DIR).join(ns).exists() {
        return;
    }
    match run(Command::new("ip").args(["netns", "del", ns]), CMD_TIMEOUT) {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "lab: ip netns del {ns} failed ({}):\n{}",
            out.status,
            show(&out)
        ),
        Err(e) => eprintln!("lab: {e}"),
    }
}

fn remove_dir(dir: &Path) {
    if let Err(e) = fs::remove_dir_all(dir) {
        if e.kind() != io::ErrorKind::NotFound {
            eprintln!("lab: cannot remove {}: {e}", dir.display());
        }
    }
}

/// Creates `dir` (if needed) owned by frr with `mode`.
fn frr_dir(dir: &Path, uid: u32, gid: u32, mode: u32) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
}

fn write_file(path: &Path, text: &str, mode: u32) {
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("<cannot read: {e}>"))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `birdc configure` succeeded: BIRD read the new config (`Reconfigured`, or
/// `Reconfiguration in progress` while protocols restart).
pub fn bird_configured(birdc_output: &str) -> bool {
    birdc_output
        .lines()
        .any(|l| l.trim() == "Reconfigured" || l.trim() == "Reconfiguration in progress")
}

fn poll_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    loop {
        if done() {
            return true;
        }
        if t0.elapsed() >= timeout {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// `(vrf, prefix)` of every `  network P [route-map …]` line in a bgpd running config.
pub fn parse_networks(config: &str) -> Vec<(Option<String>, String)> {
    let mut found = Vec::new();
    let mut vrf: Option<Option<String>> = None; // Some(..) inside a `router bgp` block
    for line in config.lines() {
        if let Some(rest) = line.strip_prefix("router bgp ") {
            vrf = Some(instance_vrf(rest));
        } else if !line.starts_with(' ') {
            // `exit` (FRR >= 8), or `!`/anything else at column 0 (older FRR): block ends
            vrf = None;
        } else if let (Some(v), Some(rest)) = (&vrf, line.strip_prefix("  network ")) {
            if let Some(prefix) = rest.split_whitespace().next() {
                found.push((v.clone(), prefix.to_string()));
            }
        }
    }
    found
}

/// `(asn, vrf)` of every `router bgp ASN [vrf NAME]` line.
pub fn parse_instances(config: &str) -> Vec<(u32, Option<String>)> {
    config
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("router bgp ")?;
            let asn = rest.split_whitespace().next()?.parse().ok()?;
            Some((asn, instance_vrf(rest)))
        })
        .collect()
}

fn instance_vrf(after_router_bgp: &str) -> Option<String> {
    let words: Vec<&str> = after_router_bgp.split_whitespace().collect();
    match words.as_slice() {
        [_, "vrf", name, ..] => Some(name.to_string()),
        _ => None,
    }
}

/// Walks a `show bgp … summary json` document: every `"peers": {addr: {"state": …}}`.
fn collect_peer_states(doc: &Value, states: &mut BTreeMap<String, String>) {
    for (key, value) in Json::entries(doc) {
        if key == "peers" {
            for (addr, peer) in Json::entries(value) {
                let state = peer["state"].as_str().unwrap_or("?");
                states.insert(addr.clone(), state.to_string());
            }
        } else {
            collect_peer_states(value, states);
        }
    }
}

// ---------------------------------------------------------------------- commands

fn describe(cmd: &Command) -> String {
    format!("{cmd:?}")
}

fn show(out: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    )
}

/// Waits for `child`, killing it after `timeout`.
fn wait_timeout(mut child: Child, timeout: Duration) -> io::Result<ExitStatus> {
    let t0 = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if t0.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("did not finish within {timeout:?} (killed)"),
            ));
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// Reads a pipe to its end in a thread, so a chatty child can't block on a full pipe.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    rx
}

/// Runs `cmd` with stdin from /dev/null and stdout/stderr captured, killing it after
/// `timeout`. Never panics; the error says what was run.
fn run(cmd: &mut Command, timeout: Duration) -> io::Result<Output> {
    let what = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {what}: {e}")))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    // A grandchild could keep a pipe open: don't wait for the readers forever.
    let collect =
        |rx: mpsc::Receiver<Vec<u8>>| rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
    match wait_timeout(child, timeout) {
        Ok(status) => Ok(Output {
            status,
            stdout: collect(stdout),
            stderr: collect(stderr),
        }),
        Err(e) => {
            let partial = format!(
                "--- stdout ---\n{}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&collect(stdout)).trim_end(),
                String::from_utf8_lossy(&collect(stderr)).trim_end()
            );
            Err(io::Error::new(e.kind(), format!("{what}: {e}\n{partial}")))
        }
    }
}

/// [`run`], panicking (with the output) unless the command exits 0.
fn check(cmd: &mut Command, timeout: Duration) -> Output {
    let what = describe(cmd);
    let out = run(cmd, timeout).unwrap_or_else(|e| panic!("{e}"));
    if !out.status.success() {
        panic!("{what} failed ({}):\n{}", out.status, show(&out));
    }
    out
}

fn ip(args: &[&str]) -> Output {
    check(Command::new("ip").args(args), CMD_TIMEOUT)
}

// ---------------------------------------------------------------------- JSON

/// vtysh's `… json` output, read with `serde_json`. `Json` only names the helpers that pick
/// typed values out of a [`serde_json::Value`] (so `doc.get("paths").map(Json::items)` reads
/// the same as before); all parsing is serde_json's.
pub struct Json;

impl Json {
    /// The whole text as one JSON document; the error says where it went wrong.
    pub fn parse(text: &str) -> Result<Value, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    pub fn as_str(v: &Value) -> Option<&str> {
        v.as_str()
    }

    pub fn as_bool(v: &Value) -> Option<bool> {
        v.as_bool()
    }

    /// Elements of an array (empty for anything else).
    pub fn items(v: &Value) -> &[Value] {
        v.as_array().map_or(&[], Vec::as_slice)
    }

    /// Members of an object (none for anything else).
    pub fn entries(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
        v.as_object().into_iter().flatten()
    }
}

/// One file opened for appending, as a daemon's stdout and stderr (they must not be the
/// caller's: FRR 10's daemons keep them open after `-d`).
fn output_files(path: &Path) -> (fs::File, fs::File) {
    let stderr = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let stdout = stderr
        .try_clone()
        .unwrap_or_else(|e| panic!("cannot dup {}: {e}", path.display()));
    (stdout, stderr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_the_creator_pid() {
        for pid in [1, 42, 65535, 4_194_304] {
            let id = format!("{NAME_PREFIX}{}-{}", base36(pid), base36(1295));
            assert_eq!(owner_pid(&format!("{id}a")), Some(pid));
            assert_eq!(owner_pid(&id), Some(pid));
            // interface names (id + 2 chars) fit IFNAMSIZ-1 even for the largest pid_max
            assert!(id.len() + 2 <= 15, "{id}");
        }
        for other in [
            "acd",
            "acd-1",
            "acdx",
            "acd12",
            "acd1-",
            "acdQ-1",
            "frr",
            "acd1-1.conf",
        ] {
            assert_eq!(owner_pid(other), None, "{other}");
        }
    }

    #[test]
    fn networks_and_instances_from_running_config() {
        let cfg = "Building configuration...\n\nCurrent configuration:\n!\n\
                   frr version 8.4.4\nfrr defaults traditional\n!\n\
                   router bgp 65536\n bgp router-id 198.51.100.1\n no bgp default ipv4-unicast\n\
                   \x20neighbor 198.51.100.2 remote-as 64496\n !\n address-family ipv4 unicast\n\
                   \x20 network 203.0.113.53/32\n  network 203.0.113.54/32 route-map X\n\
                   \x20exit-address-family\n !\n address-family ipv6 unicast\n\
                   \x20 network 2001:db8:53::53/128\n exit-address-family\nexit\n!\n\
                   router bgp 65537 vrf blue\n address-family ipv4 unicast\n\
                   \x20 network 203.0.113.123/32\n exit-address-family\nexit\n!\n\
                   route-map X permit 10\n  network 1.2.3.4/32\nexit\n!\nend\n";
        assert_eq!(
            parse_networks(cfg),
            vec![
                (None, "203.0.113.53/32".to_string()),
                (None, "203.0.113.54/32".to_string()),
                (None, "2001:db8:53::53/128".to_string()),
                (Some("blue".to_string()), "203.0.113.123/32".to_string()),
            ]
        );
        assert_eq!(
            parse_instances(cfg),
            vec![(65536, None), (65537, Some("blue".to_string()))]
        );
    }

    /// The harness itself: the wrapper works, and Drop leaves nothing behind.
    #[test]
    fn lab_cleans_up_after_itself() {
        let Some(lab) = Lab::require() else {
            return;
        };
        let out = run(
            Command::new(lab.vtysh_a()).args(["-c", "show version"]),
            CMD_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("FRRouting"),
            "{}",
            show(&out)
        );
        let pids: Vec<u32> = lab.daemons.iter().map(|d| d.pid).collect();
        // zebra and bgpd of A and B, and mgmtd of each on FRR >= 9
        let per_router = if lab.frr.mgmtd { 3 } else { 2 };
        assert_eq!(pids.len(), 2 * per_router, "{:?}", lab.daemons);
        let names = [lab.ns_a.clone(), lab.ns_b.clone(), lab.ns_vrf.clone()];
        let dirs = [
            lab.frr.host(FRR_ETC).join(&lab.ps_a),
            lab.frr.host(FRR_RUN).join(&lab.ps_b),
            lab.tmp.clone(),
        ];
        for ns in &names {
            assert!(Path::new(NETNS_DIR).join(ns).exists(), "{ns}");
        }
        drop(lab);
        for pid in pids {
            assert!(
                frr_pathspace(pid).is_none(),
                "daemon {pid} survived the lab"
            );
        }
        for ns in &names {
            assert!(
                !Path::new(NETNS_DIR).join(ns).exists(),
                "netns {ns} survived the lab"
            );
        }
        for dir in &dirs {
            assert!(!dir.exists(), "{} survived the lab", dir.display());
        }
    }

    /// Leftovers named after a process that is gone are removed; live ones are not.
    #[test]
    fn cleanup_stale_removes_leftovers_of_dead_processes() {
        let Ok(frr) = prerequisites() else {
            return;
        };
        let mut child = Command::new("true")
            .spawn()
            .unwrap_or_else(|e| panic!("true: {e}"));
        let dead = child.id();
        let _ = child.wait();
        let stale = format!("{NAME_PREFIX}{}-0", base36(dead));
        let live = format!("{NAME_PREFIX}{}-zz0", base36(process::id()));
        let mut made = Vec::new();
        for id in [&stale, &live] {
            let ns = format!("{id}a");
            check(Command::new("ip").args(["netns", "add", &ns]), CMD_TIMEOUT);
            let dirs = [
                frr.host(FRR_ETC).join(&ns),
                frr.host(FRR_RUN).join(&ns),
                std::env::temp_dir().join(id),
            ];
            for d in &dirs {
                fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
            }
            made.push((id.clone(), ns, dirs));
        }
        cleanup_stale();
        let exists = |ns: &str, dirs: &[PathBuf; 3]| {
            let mut v = vec![Path::new(NETNS_DIR).join(ns).exists()];
            v.extend(dirs.iter().map(|d| d.exists()));
            v
        };
        let (_, ns, dirs) = &made[0];
        let stale_left = exists(ns, dirs);
        let (_, ns, dirs) = &made[1];
        let live_left = exists(ns, dirs);
        // clean up the live one by hand before asserting
        delete_netns(ns);
        for d in dirs {
            remove_dir(d);
        }
        assert_eq!(
            stale_left, [false; 4],
            "leftovers of pid {dead} not removed"
        );
        assert_eq!(live_left, [true; 4], "leftovers of a live process removed");
    }

    /// A BIRD started on the bird.conf of a lab whose process is gone is stopped by
    /// [`cleanup_stale`], with its netns and temp dir; a BIRD of someone else is not ours.
    #[test]
    fn cleanup_stale_stops_a_stale_bird() {
        if prerequisites().is_err() || BIRD_READY.get_or_init(prepare_bird).is_err() {
            return;
        }
        let mut child = Command::new("true")
            .spawn()
            .unwrap_or_else(|e| panic!("true: {e}"));
        let dead = child.id();
        let _ = child.wait();
        let id = format!("{NAME_PREFIX}{}-1", base36(dead));
        let ns = format!("{id}c");
        let dir = std::env::temp_dir().join(&id);
        // Until the stale BIRD runs, no cleanup_stale of this process (another test's lab)
        // may take its netns and dir away.
        let serial = CLEANUP.lock().unwrap_or_else(|e| e.into_inner());
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        write_file(
            &dir.join("bird.conf"),
            "router id 192.0.2.9;\nprotocol device {}\n",
            0o644,
        );
        check(Command::new("ip").args(["netns", "add", &ns]), CMD_TIMEOUT);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns, BIRD, "-c"])
            .arg(dir.join("bird.conf"))
            .arg("-s")
            .arg(dir.join("bird.ctl"))
            .arg("-P")
            .arg(dir.join("bird.pid"));
        check(&mut cmd, CMD_TIMEOUT);
        let mut pid = None;
        poll_until(CMD_TIMEOUT, || {
            pid = fs::read_to_string(dir.join("bird.pid"))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok());
            pid.is_some()
        });
        let pid = pid.unwrap_or_else(|| panic!("the stale BIRD wrote no pid file"));
        let found = bird_lab(pid);
        drop(serial);
        cleanup_stale();
        let left = (
            bird_alive(pid, &id),
            Path::new(NETNS_DIR).join(&ns).exists(),
            dir.exists(),
        );
        // clean up by hand before asserting
        stop_procs(&[(pid, id.clone())], bird_alive);
        delete_netns(&ns);
        remove_dir(&dir);
        assert_eq!(
            found.as_deref(),
            Some(id.as_str()),
            "pid {pid} not seen as ours"
        );
        assert_eq!(
            left,
            (false, false, false),
            "(BIRD running, netns, dir) left by cleanup_stale"
        );
        assert_eq!(bird_lab(process::id()), None);
    }

    #[test]
    fn json_reads_vtysh_output() {
        let doc = Json::parse(
            r#"{"prefix":"203.0.113.53/32","paths":[{"valid":true,"bestpath":{"overall":true},
                "aspath":{"string":"65536"}}],"vrfs":{"default":{"peers":{"198.51.100.1":
                {"state":"Established"}}}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            doc.get("prefix").and_then(Json::as_str),
            Some("203.0.113.53/32")
        );
        let paths = doc.get("paths").map(Json::items).unwrap_or_default();
        assert_eq!(paths.len(), 1);
        assert_eq!(paths[0].get("valid").and_then(Json::as_bool), Some(true));
        assert!(Json::items(&doc["nothing"]).is_empty());
        let mut states = BTreeMap::new();
        collect_peer_states(&doc, &mut states);
        assert_eq!(
            states.get("198.51.100.1").map(String::as_str),
            Some("Established")
        );
        assert!(Json::parse("{").is_err());
        assert!(Json::parse("{} x").is_err());
    }
}
