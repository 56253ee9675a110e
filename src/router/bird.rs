//! BIRD 2 through an include file and birdc.
//!
//! anycastd owns one file of BIRD's configuration and nothing else: two static protocols,
//! `anycastd4` and `anycastd6`, whose routes are exactly the announced prefixes
//! (`route P blackhole;`). bird.conf includes it and exports the two protocols to BGP. A
//! change writes the whole file beside its real path (through a symlink, beside the
//! target), fsyncs and renames it, then runs `birdc -s SOCKET configure` and judges both
//! the exit status and the answer. When BIRD refuses, the previous file comes back
//! without the prefixes being withdrawn, and a withdrawal that is due goes out through
//! `birdc disable anycastd4|6` instead (the whole family: safe over sorry).
//!
//! What BIRD has is read back from `show route protocol anycastd4` and `… anycastd6`:
//! that is what the loop plans against. A file that does not hold exactly that (edited
//! by hand) is rewritten; a route that is not ours is dropped from it.

use super::{Backend, Call, Changes, Fault, FaultKind, RunningConfig, Vrf, process_fault};
use crate::config::canonical;
use crate::frr::BgpInstance;
use ipnetwork::IpNetwork;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The two protocols of the include file, by address family.
pub const PROTOCOLS: [(&str, &str); 2] = [("anycastd4", "ipv4"), ("anycastd6", "ipv6")];

pub struct Bird {
    birdc: PathBuf,
    socket: PathBuf,
    file: PathBuf,
    /// What the file holds: BIRD's routes of ours at the last read, and every change
    /// applied since. `None` before the first read.
    routes: Option<BTreeSet<IpNetwork>>,
    repairs: u64,
}

impl Bird {
    pub fn new(birdc: &Path, socket: &Path, file: &Path) -> Bird {
        Bird {
            birdc: birdc.to_path_buf(),
            socket: socket.to_path_buf(),
            file: file.to_path_buf(),
            routes: None,
            repairs: 0,
        }
    }

    fn birdc(&self, call: &mut Call<'_>, command: &[&str]) -> Result<crate::vtysh::Output, Fault> {
        let mut args = vec!["-s".to_string(), self.socket.display().to_string()];
        args.extend(command.iter().map(|s| s.to_string()));
        let out = call.run(&self.birdc, &args).map_err(process_fault)?;
        if !out.success() && unreachable(&out) {
            return Err(Fault::new(FaultKind::Unreachable, answer(&out)));
        }
        Ok(out)
    }

    /// `birdc configure`, judged: the exit status and BIRD's own answer.
    fn configure(&self, call: &mut Call<'_>) -> Result<(), Fault> {
        let out = self.birdc(call, &["configure"])?;
        if configured(&out.code, &out.stdout) {
            Ok(())
        } else {
            Err(Fault::new(FaultKind::Refused, answer(&out)))
        }
    }

    fn write(&self, routes: &BTreeSet<IpNetwork>, call: &Call<'_>) -> Result<(), Fault> {
        if call.dry_run {
            return Ok(());
        }
        let real = real_path(&self.file);
        crate::state::write_public(&real, render(routes).as_bytes()).map_err(|e| {
            Fault::new(
                FaultKind::FileWrite,
                format!("cannot write {}: {e}", real.display()),
            )
        })
    }

    /// Withdraw through `birdc disable` what `configure` could not: every prefix of the
    /// families in `withdraw`.
    fn disable(&self, call: &mut Call<'_>, withdraw: &BTreeSet<IpNetwork>, why: &Fault) {
        for (proto, afi) in PROTOCOLS {
            let family: Vec<String> = withdraw
                .iter()
                .filter(|n| crate::frr::afi(n) == afi)
                .map(canonical)
                .collect();
            if family.is_empty() {
                continue;
            }
            match self.birdc(call, &["disable", proto]) {
                Ok(out) if out.success() => log::warn!(
                    vtysh = self.label().as_str(), prefixes = family.join(", ").as_str(), reason = why.detail.as_str();
                    "BIRD via {} refuses to reconfigure ({}); withdrew {} with `birdc disable {proto}` instead: every {afi} prefix of anycastd stays withdrawn until BIRD reconfigures.",
                    self.label(), why.detail, family.join(", ")
                ),
                Ok(out) => log::error!(
                    vtysh = self.label().as_str(), reason = answer(&out).as_str();
                    "BIRD via {}: `birdc disable {proto}` failed too: {}", self.label(), answer(&out)
                ),
                Err(f) => log::error!(
                    vtysh = self.label().as_str(), reason = f.detail.as_str();
                    "BIRD via {}: `birdc disable {proto}` failed too: {}", self.label(), f.detail
                ),
            }
        }
    }

    /// The routes of both protocols; a protocol BIRD does not know is `NotConfigured`.
    fn show_routes(&self, call: &mut Call<'_>) -> Result<BTreeSet<IpNetwork>, Fault> {
        let mut all = BTreeSet::new();
        for (proto, _) in PROTOCOLS {
            let out = self.birdc(call, &["show", "route", "protocol", proto])?;
            if !out.success() {
                // An unknown protocol name is a syntax error to birdc.
                if out.stdout.contains("syntax error") {
                    return Err(Fault::new(
                        FaultKind::NotConfigured,
                        format!(
                            "BIRD has no protocol {proto}: bird.conf must `include \"{}\";` ({})",
                            self.file.display(),
                            answer(&out)
                        ),
                    ));
                }
                return Err(Fault::new(FaultKind::ReadFailed, answer(&out)));
            }
            all.extend(parse_routes(&out.stdout, proto));
        }
        Ok(all)
    }

    /// BIRD is not running (its socket does not answer) and the include file is missing,
    /// which keeps BIRD from starting: write it with no routes (never more than that while
    /// BIRD cannot confirm anything), and take what BIRD has at its next answer as the
    /// file's content to keep. Best effort: a directory that is not there (no BIRD on this
    /// host) is left alone.
    fn create_if_missing(&mut self, call: &Call<'_>) {
        let real = real_path(&self.file);
        let missing = std::fs::symlink_metadata(&real)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
        if !missing || call.dry_run {
            return;
        }
        match self.write(&BTreeSet::new(), call) {
            Ok(()) => {
                self.routes = None;
                log::info!(
                    file = self.file.display().to_string().as_str();
                    "Wrote {} with no routes: BIRD does not start without the file it includes.",
                    self.file.display()
                );
            }
            Err(f) => log::debug!("cannot create the include file: {}", f.detail),
        }
    }

    /// The file exists and defines both protocols (a 0-byte or missing one does not).
    fn holds_protocols(&self) -> bool {
        std::fs::read_to_string(real_path(&self.file)).is_ok_and(|t| {
            PROTOCOLS.iter().all(|(proto, _)| {
                meaning(&t).contains(&format!("protocol static {proto} {{").as_str())
            })
        })
    }

    fn label(&self) -> String {
        format!("{} -s {}", self.birdc.display(), self.socket.display())
    }
}

/// What birdc said, in one line: its last line that is not the greeting or the name of
/// the file being read (BIRD's error: `FILE:L:C syntax error …`), with the exit status.
pub fn answer(out: &crate::vtysh::Output) -> String {
    let said = |s: &str| {
        s.lines()
            .map(str::trim)
            .rfind(|l| {
                !l.is_empty() && !l.ends_with(" ready.") && !l.starts_with("Reading configuration")
            })
            .map(str::to_string)
    };
    let code = match out.code {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".to_string(),
    };
    match said(&out.stderr).or_else(|| said(&out.stdout)) {
        Some(line) => format!("{code}: {line}"),
        None => code,
    }
}

fn unreachable(out: &crate::vtysh::Output) -> bool {
    let all = format!("{}\n{}", out.stdout, out.stderr);
    all.contains("Unable to connect to server control socket")
}

/// BIRD took the new configuration: exit 0 and `Reconfigured` (or `Reconfiguration in
/// progress`, when a protocol comes or goes), and no error line. BIRD 3 words some of it
/// differently; both start with `Reconfigur`.
pub fn configured(code: &Option<i32>, stdout: &str) -> bool {
    // The file names BIRD prints are not its answer (a path may contain "error").
    let lines: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("Reading configuration from"))
        .collect();
    *code == Some(0)
        && lines.iter().any(|l| l.starts_with("Reconfigur"))
        && !lines
            .iter()
            .any(|l| l.contains("error") || l.contains("Error"))
}

/// The include file for `routes`.
pub fn render(routes: &BTreeSet<IpNetwork>) -> String {
    let mut s = String::from(
        "# Written by anycastd, which rewrites this file at every change: do not edit it.\n\
         # bird.conf includes it and exports the two protocols to BGP only.\n",
    );
    for (proto, afi) in PROTOCOLS {
        s.push_str(&format!("protocol static {proto} {{\n\t{afi};\n"));
        for net in routes.iter().filter(|n| crate::frr::afi(n) == afi) {
            s.push_str(&format!("\troute {} blackhole;\n", canonical(net)));
        }
        s.push_str("}\n");
    }
    s
}

/// The file without comments, blank lines and indentation: a file that says the same
/// (the package's first one, one written by hand to the same effect) is not rewritten.
fn meaning(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The routes of `show route protocol PROTO`: every line that starts with a prefix and
/// names the protocol (`203.0.113.53/32  blackhole [anycastd4 12:00:00.000] * (200)`).
pub fn parse_routes(output: &str, proto: &str) -> BTreeSet<IpNetwork> {
    let tag = format!("[{proto} ");
    output
        .lines()
        .filter(|l| l.contains(&tag) || l.contains(&format!("[{proto}]")))
        .filter_map(|l| l.split_whitespace().next()?.parse::<IpNetwork>().ok())
        .collect()
}

/// Where the file really is: a symlink's target (relative to its directory), so that the
/// new file is written beside it and renamed over it, and the link stays.
pub fn real_path(file: &Path) -> PathBuf {
    match std::fs::read_link(file) {
        Ok(target) if target.is_absolute() => target,
        Ok(target) => file.parent().unwrap_or(Path::new("/")).join(target),
        Err(_) => file.to_path_buf(),
    }
}

impl Backend for Bird {
    fn name(&self) -> &'static str {
        "BIRD"
    }

    fn fault_text(&self, kind: FaultKind) -> &'static str {
        match kind {
            FaultKind::CannotRun => "birdc cannot be run",
            FaultKind::TimedOut => "birdc timed out",
            FaultKind::Aborted => "aborted by a termination signal",
            FaultKind::TempFile => "temporary file",
            FaultKind::CutOff => "birdc's answer was cut off",
            FaultKind::Unreachable => "BIRD is not reachable",
            FaultKind::ReadFailed => "reading BIRD's routes failed",
            FaultKind::NotUnderstood => "BIRD's answer is not understood",
            FaultKind::Rejected | FaultKind::Refused => "BIRD refused the new configuration",
            FaultKind::AlreadyGone => "a prefix to withdraw was already gone",
            FaultKind::Busy => "BIRD is busy",
            FaultKind::NotConfigured => "BIRD's configuration does not include anycastd's file",
            FaultKind::FileWrite => "anycastd's include file cannot be written",
        }
    }

    fn read(
        &mut self,
        call: &mut Call<'_>,
        ours: &BTreeSet<(Vrf, IpNetwork)>,
    ) -> Result<RunningConfig, Fault> {
        let all = match self.show_routes(call) {
            Err(f) if f.kind == FaultKind::NotConfigured && !self.holds_protocols() => {
                // A missing include stops BIRD; an empty one (a new install, a boot that
                // emptied it) has no protocols yet: write them, and ask again.
                if !call.dry_run {
                    self.write(&BTreeSet::new(), call)?;
                    log::info!(
                        file = self.file.display().to_string().as_str();
                        "Wrote {} with no routes: bird.conf includes it.", self.file.display()
                    );
                    self.configure(call)?;
                }
                self.show_routes(call)?
            }
            Err(f) if f.kind == FaultKind::Unreachable => {
                self.create_if_missing(call);
                return Err(f);
            }
            Err(f) => return Err(f),
            Ok(r) => r,
        };
        let mine: BTreeSet<IpNetwork> = ours
            .iter()
            .filter(|(vrf, _)| vrf.is_none())
            .map(|(_, n)| *n)
            .collect();
        let current: BTreeSet<IpNetwork> = all.intersection(&mine).copied().collect();
        let foreign: Vec<String> = all.difference(&mine).map(canonical).collect();
        // What the file should hold: what anycastd last wrote (never more), or, at the
        // first read, what BIRD has of ours (adopted as it is).
        let expected: BTreeSet<IpNetwork> = match &self.routes {
            Some(r) => r.intersection(&mine).copied().collect(),
            None => current.clone(),
        };
        let on_disk = std::fs::read_to_string(real_path(&self.file)).ok();
        let holds = on_disk.as_deref().map(meaning) == Some(meaning(&render(&expected)));
        if (!foreign.is_empty() || !holds) && !call.dry_run {
            log::warn!(
                vtysh = self.label().as_str(), file = self.file.display().to_string().as_str(),
                unexpected = foreign.join(", ").as_str();
                "BIRD's include file {} does not hold what anycastd announces (edited by hand?); rewriting it.",
                self.file.display()
            );
            self.write(&expected, call)?;
            self.repairs += 1;
            if !foreign.is_empty() {
                // Best effort: a BIRD that refuses keeps them until the next change
                // anycastd makes, whose refusal withdraws through `disable`.
                if let Err(f) = self.configure(call) {
                    log::warn!(
                        vtysh = self.label().as_str(), reason = f.detail.as_str();
                        "BIRD via {} keeps routes that are not anycastd's ({}) for now: {}", self.label(), foreign.join(", "), f.detail
                    );
                }
            }
        }
        self.routes = Some(expected);
        let instance = BgpInstance {
            networks: current,
            ..BgpInstance::default()
        };
        Ok(RunningConfig {
            instances: BTreeMap::from([(None, instance)]),
            route_maps: BTreeSet::new(),
        })
    }

    /// Rewrites the file and reconfigures even when the file already holds the change:
    /// BIRD may differ from it (a protocol disabled by hand), and `configure` puts that
    /// right.
    fn apply(
        &mut self,
        call: &mut Call<'_>,
        _running: &RunningConfig,
        changes: &Changes,
    ) -> Result<(), Fault> {
        if changes.is_empty() {
            return Ok(());
        }
        let Some(base) = self.routes.clone() else {
            return Err(Fault::new(
                FaultKind::ReadFailed,
                "BIRD was not read yet: nothing to change from",
            ));
        };
        let withdraw: BTreeSet<IpNetwork> = changes.withdraw.iter().map(|(_, n)| *n).collect();
        let target = target(&base, changes);
        let result = self
            .write(&target, call)
            .and_then(|()| self.configure(call));
        let Err(f) = result else {
            self.routes = Some(target);
            return Ok(());
        };
        // Back to what BIRD took last, less what must go: never more than that.
        let safe: BTreeSet<IpNetwork> = base.difference(&withdraw).copied().collect();
        match self.write(&safe, call) {
            Ok(()) => self.routes = Some(safe),
            Err(e) => {
                log::error!(
                    vtysh = self.label().as_str(), reason = e.detail.as_str();
                    "BIRD via {}: cannot restore the include file: {}", self.label(), e.detail
                );
                // Unknown now: the next read tells.
                self.routes = None;
            }
        }
        // A BIRD that hangs would hang on `disable` too; one that refuses still obeys it.
        if !withdraw.is_empty() && f.kind.may_have_withdrawn() {
            self.disable(call, &withdraw, &f);
        }
        Err(f)
    }

    fn forget(&mut self, call: &mut Call<'_>, _ours: &BTreeSet<(Vrf, IpNetwork)>) {
        if let Err(f) = self.write(&BTreeSet::new(), call) {
            log::error!(
                vtysh = self.label().as_str(), reason = f.detail.as_str();
                "BIRD via {}: {}", self.label(), f.detail
            );
            return;
        }
        self.routes = Some(BTreeSet::new());
        log::warn!(
            vtysh = self.label().as_str(), file = self.file.display().to_string().as_str();
            "Emptied {} although BIRD did not confirm the withdrawal: BIRD announces none of anycastd's prefixes from it at its next configure or start.",
            self.file.display()
        );
    }

    fn describe(&self, _running: &RunningConfig, changes: &Changes) -> Option<String> {
        let diff: Vec<String> = changes
            .withdraw
            .iter()
            .map(|(_, n)| format!("-route {} blackhole;", canonical(n)))
            .chain(
                changes
                    .announce
                    .iter()
                    .map(|(_, n)| format!("+route {} blackhole;", canonical(n))),
            )
            .collect();
        (!diff.is_empty()).then(|| {
            format!(
                "Dry run: not writing {} ({}) nor running {} -s {} configure",
                self.file.display(),
                diff.join(" "),
                self.birdc.display(),
                self.socket.display()
            )
        })
    }

    fn take_repairs(&mut self) -> u64 {
        std::mem::take(&mut self.repairs)
    }
}

/// `base` with `changes` applied.
fn target(base: &BTreeSet<IpNetwork>, changes: &Changes) -> BTreeSet<IpNetwork> {
    let mut t = base.clone();
    for (_, n) in &changes.withdraw {
        t.remove(n);
    }
    t.extend(changes.announce.iter().map(|(_, n)| *n));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> BTreeSet<IpNetwork> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    /// Captured from BIRD 2.0.12 (Debian 12): `birdc show route protocol anycastd4`.
    const SHOW_ROUTE: &str = "BIRD 2.0.12 ready.\nTable master4:\n203.0.113.54/32      blackhole [anycastd4 02:34:06.052] * (200)\n203.0.113.53/32      blackhole [anycastd4 02:34:06.052] * (200)\n";

    #[test]
    fn reads_the_routes_of_one_protocol() {
        assert_eq!(
            parse_routes(SHOW_ROUTE, "anycastd4"),
            nets(&["203.0.113.53/32", "203.0.113.54/32"])
        );
        assert!(parse_routes(SHOW_ROUTE, "anycastd6").is_empty());
        assert!(parse_routes("BIRD 2.0.12 ready.\n", "anycastd4").is_empty());
        let v6 = "BIRD 2.0.12 ready.\nTable master6:\n2001:db8::53/128     blackhole [anycastd6 02:34:06.052] * (200)\n";
        assert_eq!(parse_routes(v6, "anycastd6"), nets(&["2001:db8::53/128"]));
    }

    #[test]
    fn renders_both_protocols_even_when_empty() {
        let empty = render(&BTreeSet::new());
        assert!(empty.contains("protocol static anycastd4 {\n\tipv4;\n}\n"));
        assert!(empty.contains("protocol static anycastd6 {\n\tipv6;\n}\n"));
        let two = render(&nets(&["203.0.113.53/32", "2001:db8::53/128"]));
        assert!(two.contains("\tipv4;\n\troute 203.0.113.53/32 blackhole;\n}"));
        assert!(two.contains("\tipv6;\n\troute 2001:db8::53/128 blackhole;\n}"));
    }

    #[test]
    fn judges_configure_by_status_and_answer() {
        let ok =
            "BIRD 2.0.12 ready.\nReading configuration from /etc/bird/bird.conf\nReconfigured\n";
        assert!(configured(&Some(0), ok));
        assert!(configured(
            &Some(0),
            "BIRD 2.0.12 ready.\nReading configuration from /etc/bird/bird.conf\nReconfiguration in progress\n"
        ));
        assert!(!configured(&Some(1), ok));
        let bad = "BIRD 2.0.12 ready.\nReading configuration from /etc/bird/bird.conf\n/etc/bird/anycastd.conf:10:1 syntax error, unexpected GARBAGE\n";
        assert!(!configured(&Some(1), bad));
        assert!(!configured(&Some(0), bad), "an error line wins over exit 0");
        assert!(!configured(&Some(0), "BIRD 2.0.12 ready.\n"));
        assert!(configured(
            &Some(0),
            "BIRD 2.0.12 ready.\nReading configuration from /srv/error-pages/bird.conf\nReconfigured\n"
        ));
    }

    /// birdc as a fake: BIRD's routes are what the file held at the last `configure` that
    /// BIRD took (or nothing for a disabled protocol); `refuse` makes every `configure`
    /// fail as a broken bird.conf does.
    struct FakeBirdc {
        file: PathBuf,
        routes: BTreeSet<IpNetwork>,
        disabled: BTreeSet<String>,
        refuse: bool,
        /// BIRD is not running: every command fails to connect.
        down: bool,
        calls: Vec<String>,
    }

    impl FakeBirdc {
        fn new(file: &Path) -> FakeBirdc {
            FakeBirdc {
                file: file.to_path_buf(),
                routes: BTreeSet::new(),
                disabled: BTreeSet::new(),
                refuse: false,
                down: false,
                calls: Vec::new(),
            }
        }
    }

    impl crate::vtysh::Runner for FakeBirdc {
        fn run(
            &mut self,
            _program: &Path,
            args: &[String],
            _timeout: std::time::Duration,
            _abort: &dyn Fn() -> bool,
        ) -> Result<crate::vtysh::Output, crate::vtysh::Error> {
            let command = args[2..].join(" ");
            self.calls.push(command.clone());
            let out = |code: i32, stdout: String| crate::vtysh::Output {
                code: Some(code),
                stdout,
                stderr: String::new(),
                elapsed: std::time::Duration::ZERO,
            };
            let banner = "BIRD 2.0.12 ready.\n".to_string();
            if self.down {
                return Ok(crate::vtysh::Output {
                    code: Some(1),
                    stdout: String::new(),
                    stderr: "Unable to connect to server control socket (/run/bird/bird.ctl): No such file or directory\n".into(),
                    elapsed: std::time::Duration::ZERO,
                });
            }
            Ok(match command.as_str() {
                "configure" if self.refuse => out(
                    1,
                    banner
                        + "Reading configuration from /etc/bird/bird.conf\n/etc/bird/bird.conf:3:1 syntax error, unexpected GARBAGE\n",
                ),
                "configure" => {
                    let text = std::fs::read_to_string(&self.file).unwrap();
                    self.routes = text
                        .lines()
                        .filter_map(|l| l.trim().strip_prefix("route "))
                        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
                        .collect();
                    self.disabled.clear();
                    out(
                        0,
                        banner + "Reading configuration from /etc/bird/bird.conf\nReconfigured\n",
                    )
                }
                c if c.starts_with("disable ") => {
                    let proto = c.trim_start_matches("disable ").to_string();
                    let out = out(0, format!("{banner}{proto}: disabled\n"));
                    self.disabled.insert(proto);
                    out
                }
                c if c.starts_with("show route protocol ") => {
                    let proto = c.trim_start_matches("show route protocol ");
                    let afi = if proto == "anycastd4" { "ipv4" } else { "ipv6" };
                    let mut text = banner;
                    if !self.disabled.contains(proto) {
                        for n in self.routes.iter().filter(|n| crate::frr::afi(n) == afi) {
                            text += &format!(
                                "{}  blackhole [{proto} 12:00:00.000] * (200)\n",
                                canonical(n)
                            );
                        }
                    }
                    out(0, text)
                }
                other => panic!("unexpected birdc command {other:?}"),
            })
        }
    }

    #[test]
    fn changes_go_through_the_file_and_a_refusal_withdraws_with_disable() {
        let dir = std::env::temp_dir().join(format!("anycastd-bird-apply-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("anycastd.conf");
        let mut fake = FakeBirdc::new(&file);
        fake.routes = nets(&["203.0.113.99/32"]);
        let mut bird = bird_at(&file);
        let mut stats = super::super::Stats::default();
        let abort = || false;
        let key = |s: &str| (None, s.parse::<IpNetwork>().unwrap());
        let ours: BTreeSet<(Vrf, IpNetwork)> =
            [key("203.0.113.53/32"), key("2001:db8::53/128")].into();
        macro_rules! call {
            () => {
                Call {
                    runner: &mut fake,
                    until: std::time::Instant::now() + std::time::Duration::from_secs(1),
                    abort: &abort,
                    stats: &mut stats,
                    dry_run: false,
                }
            };
        }
        // The first read: the missing file is created; a route that is not ours goes.
        let running = bird.read(&mut call!(), &ours).unwrap();
        assert!(running.instances[&None].networks.is_empty());
        assert!(
            fake.routes.is_empty(),
            "the foreign route stayed: {:?}",
            fake.routes
        );
        assert_eq!(bird.take_repairs(), 1);
        // Announce both families: one file, one configure.
        let mut changes = Changes::default();
        changes.announce.extend(ours.iter().cloned());
        bird.apply(&mut call!(), &running, &changes).unwrap();
        assert_eq!(fake.routes, nets(&["203.0.113.53/32", "2001:db8::53/128"]));
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("route 203.0.113.53/32 blackhole;"), "{text}");
        // BIRD refuses (a broken bird.conf): the IPv4 withdrawal goes out by `disable`,
        // the file keeps only what may stay, and the fault says BIRD refused.
        fake.refuse = true;
        let mut changes = Changes::default();
        changes.withdraw.insert(key("203.0.113.53/32"));
        let f = bird.apply(&mut call!(), &running, &changes).unwrap_err();
        assert_eq!(f.kind, FaultKind::Refused);
        assert!(
            fake.calls.contains(&"disable anycastd4".to_string()),
            "{:?}",
            fake.calls
        );
        assert!(
            !fake.calls.contains(&"disable anycastd6".to_string()),
            "{:?}",
            fake.calls
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("203.0.113.53"), "{text}");
        assert!(text.contains("route 2001:db8::53/128 blackhole;"), "{text}");
        let after = bird.read(&mut call!(), &ours).unwrap();
        assert_eq!(after.instances[&None].networks, nets(&["2001:db8::53/128"]));
        // A hand edit of the file is rewritten at the next read, without a configure.
        std::fs::write(&file, "garbage\n").unwrap();
        fake.calls.clear();
        bird.read(&mut call!(), &ours).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            render(&nets(&["2001:db8::53/128"]))
        );
        assert!(
            !fake.calls.iter().any(|c| c == "configure"),
            "{:?}",
            fake.calls
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn bird_at(file: &Path) -> Bird {
        Bird::new(
            Path::new("/usr/sbin/birdc"),
            Path::new("/run/bird/bird.ctl"),
            file,
        )
    }

    /// One `read` with `fake` as birdc.
    fn read_with(
        bird: &mut Bird,
        fake: &mut FakeBirdc,
        ours: &BTreeSet<(Vrf, IpNetwork)>,
        dry_run: bool,
    ) -> Result<RunningConfig, Fault> {
        let mut stats = super::super::Stats::default();
        let abort = || false;
        bird.read(
            &mut Call {
                runner: fake,
                until: std::time::Instant::now() + std::time::Duration::from_secs(1),
                abort: &abort,
                stats: &mut stats,
                dry_run,
            },
            ours,
        )
    }

    /// BIRD down and its include file missing (BIRD would not start): the file is
    /// written with both protocols and no routes; one that exists is left alone.
    #[test]
    fn a_missing_include_file_is_created_while_bird_is_down() {
        let dir = std::env::temp_dir().join(format!("anycastd-bird-down-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::os::unix::fs::symlink("lib/anycastd.conf", dir.join("anycastd.conf")).unwrap();
        let file = dir.join("anycastd.conf");
        let real = dir.join("lib/anycastd.conf");
        let mut fake = FakeBirdc::new(&file);
        fake.down = true;
        let mut bird = bird_at(&file);
        let ours: BTreeSet<(Vrf, IpNetwork)> = [(None, "203.0.113.53/32".parse().unwrap())].into();
        assert!(read_with(&mut bird, &mut fake, &ours, true).is_err());
        assert!(!real.exists(), "a dry run wrote it");
        assert!(read_with(&mut bird, &mut fake, &ours, false).is_err());
        assert_eq!(
            std::fs::read_to_string(&real).unwrap(),
            render(&BTreeSet::new())
        );
        std::fs::write(&real, "# the operator's\n").unwrap();
        assert!(read_with(&mut bird, &mut fake, &ours, false).is_err());
        assert_eq!(
            std::fs::read_to_string(&real).unwrap(),
            "# the operator's\n"
        );
        // No directory to write into (no BIRD on this host): left alone, no panic.
        let nowhere = dir.join("nonexistent/anycastd.conf");
        assert!(read_with(&mut bird_at(&nowhere), &mut fake, &ours, false).is_err());
        assert!(!nowhere.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_is_written_through_at_its_target() {
        let dir = std::env::temp_dir().join(format!("anycastd-bird-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::os::unix::fs::symlink("lib/bird.conf", dir.join("anycastd.conf")).unwrap();
        assert_eq!(
            real_path(&dir.join("anycastd.conf")),
            dir.join("lib/bird.conf")
        );
        assert_eq!(real_path(&dir.join("plain.conf")), dir.join("plain.conf"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
