//! The state file: a JSON snapshot of every decision, rewritten atomically (temp file +
//! rename) after every change and every reconcile, read by `anycastd status`.
//!
//! It is also the crash record: it lists every prefix the daemon may have announced (those
//! of the configuration and those it is still withdrawing), written before FRR may announce
//! any of them, so that after a crash `anycastd withdraw` and the next start know them all.
//! A clean stop removes it; a stop that could not confirm every withdrawal leaves it,
//! marked [`Phase::StoppedUnconfirmed`].
//!
//! The snapshot is plain data, built by the daemon and judged by [`Snapshot::verdict`],
//! so that what `status` prints and the exit code it returns are pure functions of it.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// The default `state_file`; the configuration owns it, so that config never depends on
/// this module.
pub use crate::config::DEFAULT_STATE_FILE as DEFAULT_PATH;
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub pid: u32,
    /// ISO-8601 UTC; `written_unix` is the same instant for arithmetic.
    pub written_at: String,
    pub written_unix: f64,
    pub started_at: String,
    pub started_unix: f64,
    pub config_path: String,
    pub dry_run: bool,
    /// Every service decided and every FRR instance read once.
    pub ready: bool,
    /// The longest a healthy daemon goes between two writes, in seconds: a snapshot older
    /// than a few of these means the daemon is gone or stuck.
    pub refresh_seconds: f64,
    pub services: Vec<ServiceSnap>,
    pub frr: Vec<FrrSnap>,
    /// Running, or stopped without confirming every withdrawal (a file written by an
    /// older version has no phase: running).
    #[serde(default)]
    pub phase: Phase,
    /// Prefixes no longer configured (a reload removed them, or a crashed run announced
    /// them) that may still be announced until their withdrawal is confirmed.
    #[serde(default)]
    pub retiring: Vec<RecordedPrefix>,
    /// After an unconfirmed stop: what may still be announced, as the daemon logged it.
    #[serde(default)]
    pub unconfirmed: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Running,
    /// The daemon stopped, but FRR did not confirm that every prefix was withdrawn.
    StoppedUnconfirmed,
}

/// A prefix as the crash record keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordedPrefix {
    pub prefix: String,
    pub vrf: String,
    #[serde(flatten)]
    pub via: Via,
}

/// Which routing daemon instance, as the state file names it: `router` is the
/// configuration's name of the daemon (`frrouting`, what files of older versions mean;
/// `bird`), and the keys that reach the instance (FRR: `vtysh`; BIRD: `birdc`, `socket`
/// and `file`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Via {
    #[serde(default = "frrouting")]
    pub router: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vtysh: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub birdc: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub socket: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
}

fn frrouting() -> String {
    "frrouting".to_string()
}

impl Default for Via {
    fn default() -> Self {
        Via {
            router: frrouting(),
            vtysh: String::new(),
            birdc: String::new(),
            socket: String::new(),
            file: String::new(),
        }
    }
}

impl From<&crate::config::Router> for Via {
    fn from(r: &crate::config::Router) -> Via {
        use crate::config::Router;
        let s = |p: &Path| p.display().to_string();
        match r {
            Router::Frr { vtysh } => Via {
                vtysh: s(vtysh),
                ..Via::default()
            },
            Router::Bird {
                birdc,
                socket,
                file,
            } => Via {
                router: r.kind().to_string(),
                birdc: s(birdc),
                socket: s(socket),
                file: s(file),
                ..Via::default()
            },
        }
    }
}

impl Via {
    /// The configured instance it names; `None` for a daemon this version does not know.
    pub fn to_router(&self) -> Option<crate::config::Router> {
        use crate::config::Router;
        let p = std::path::PathBuf::from;
        match self.router.as_str() {
            "frrouting" => Some(Router::frr(p(&self.vtysh))),
            "bird" => Some(Router::Bird {
                birdc: p(&self.birdc),
                socket: p(&self.socket),
                file: p(&self.file),
            }),
            _ => None,
        }
    }

    /// How `status` names the instance: `FRR via /usr/bin/vtysh`.
    pub fn title(&self) -> String {
        match self.to_router() {
            Some(r) => r.title(),
            None => format!("{} (unknown routing daemon)", self.router),
        }
    }

    /// The routing daemon's name: `FRR`, `BIRD`.
    pub fn name(&self) -> &'static str {
        self.to_router().map_or("routing daemon", |r| r.name())
    }

    /// The program its calls run: `vtysh`, `birdc`.
    pub fn program(&self) -> &'static str {
        self.to_router().map_or("routing daemon", |r| r.program())
    }

    /// The label of its metrics: `vtysh="PATH"` for FRR, `bird="SOCKET"` for BIRD.
    pub fn metric_label(&self) -> (&'static str, String) {
        self.to_router()
            .map_or(("router", self.router.clone()), |r| r.metric_label())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceSnap {
    pub name: String,
    /// healthy, unhealthy or undecided
    pub health: String,
    pub since: String,
    pub since_unix: f64,
    pub reason: String,
    pub rise: u32,
    pub fall: u32,
    pub transitions: u64,
    /// `anycastd drain`: since when and why; its prefixes stay withdrawn meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drained: Option<crate::drain::Drain>,
    pub checks: Vec<CheckSnap>,
    pub prefixes: Vec<PrefixSnap>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckSnap {
    pub name: String,
    /// `cabourotte`, `command`, `http` or `tcp` (files without it are Cabourotte's).
    #[serde(default = "cabourotte")]
    pub kind: String,
    /// Where it looks: a URL, an address or a program.
    pub url: String,
    pub interval_seconds: f64,
    /// None until the first result.
    pub passing: Option<bool>,
    pub last_result: String,
    pub last_poll_unix: Option<f64>,
    pub last_poll_seconds: Option<f64>,
    pub good_streak: u32,
    pub bad_streak: u32,
}

fn cabourotte() -> String {
    "cabourotte".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrefixSnap {
    pub prefix: String,
    pub vrf: String,
    #[serde(flatten)]
    pub via: Via,
    /// announce, withdraw or keep (undecided)
    pub intended: String,
    /// Whether FRR had the `network` line at the last reconcile; None: not known yet.
    pub in_frr: Option<bool>,
    /// Whether FRR really advertises it (valid path; false: stuck behind the import
    /// check); None: not known.
    pub advertised: Option<bool>,
    /// The route-map its announcement goes out through now (its own, or the drain one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_map: Option<String>,
    /// In its drain time (a drain, a graceful stop): when it is withdrawn (Unix time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draining_until_unix: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrrSnap {
    /// The routing daemon instance (the list is `frr` for older readers; it holds every
    /// daemon's instances).
    #[serde(flatten)]
    pub via: Via,
    pub ok: bool,
    pub error: Option<String>,
    pub last_sync_unix: Option<f64>,
    pub vtysh_calls: u64,
    pub vtysh_failures: u64,
    pub vtysh_seconds: f64,
    pub drift_repairs: u64,
    pub missing_vrfs: Vec<String>,
    /// Announcements FRR refused: "prefix (vrf V): its answer".
    #[serde(default)]
    pub rejected: Vec<String>,
}

/// What `status` concludes; the exit code follows the monitoring-plugin convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Every service healthy and FRR has exactly what health says.
    Ok = 0,
    /// FRR matches intent, but some service is unhealthy or undecided.
    Warning = 1,
    /// FRR differs from intent, cannot be reached, or a prefix is stuck behind the
    /// import check.
    Critical = 2,
    /// No snapshot, or the daemon is not running.
    Unknown = 3,
}

impl Snapshot {
    /// Judge the snapshot alone (whether the daemon runs is the caller's question).
    pub fn verdict(&self) -> (Verdict, Vec<String>) {
        let mut v = Verdict::Ok;
        let mut why = Vec::new();
        let mut worse = |level: Verdict, text: String, v: &mut Verdict| {
            *v = (*v).max(level);
            why.push(text);
        };
        if self.phase == Phase::StoppedUnconfirmed {
            worse(
                Verdict::Critical,
                format!(
                    "the daemon stopped without FRR confirming every withdrawal; these may still be announced: {}; run `anycastd withdraw`",
                    self.unconfirmed.join("; ")
                ),
                &mut v,
            );
        }
        for p in &self.retiring {
            worse(
                Verdict::Warning,
                format!(
                    "{} (vrf {}) is no longer configured and is being withdrawn",
                    p.prefix, p.vrf
                ),
                &mut v,
            );
        }
        for f in &self.frr {
            if let Some(e) = &f.error {
                worse(Verdict::Critical, format!("{}: {e}", f.via.title()), &mut v);
            }
            for r in &f.rejected {
                worse(
                    Verdict::Critical,
                    format!("{} refuses {r}", f.via.title()),
                    &mut v,
                );
            }
            for vrf in &f.missing_vrfs {
                worse(
                    Verdict::Critical,
                    format!("{} has no BGP instance for VRF {vrf}", f.via.title()),
                    &mut v,
                );
            }
        }
        for s in &self.services {
            if s.health != "healthy" {
                worse(
                    Verdict::Warning,
                    format!("service {} is {}: {}", s.name, s.health, s.reason),
                    &mut v,
                );
            }
            for p in &s.prefixes {
                let label = format!("{} (vrf {})", p.prefix, p.vrf);
                match (p.intended.as_str(), p.in_frr, p.advertised) {
                    ("announce", Some(false), _) => worse(
                        Verdict::Critical,
                        format!(
                            "{label} should be announced but {} does not have it",
                            p.via.name()
                        ),
                        &mut v,
                    ),
                    ("withdraw", Some(true), _) => worse(
                        Verdict::Critical,
                        format!(
                            "{label} should be withdrawn but {} still has it",
                            p.via.name()
                        ),
                        &mut v,
                    ),
                    ("announce", Some(true), Some(false)) => worse(
                        Verdict::Critical,
                        format!(
                            "{label} is configured in FRR but not advertised: the prefix is not in the routing table (import check); put the address on lo"
                        ),
                        &mut v,
                    ),
                    _ => {}
                }
            }
        }
        (v, why)
    }
}

impl Snapshot {
    /// Every prefix the run that wrote this snapshot may have announced: those of its
    /// configuration and those it was still withdrawing.
    pub fn prefixes(&self) -> Vec<crate::config::Prefix> {
        let mut out: Vec<crate::config::Prefix> = Vec::new();
        let configured = self
            .services
            .iter()
            .flat_map(|s| s.prefixes.iter())
            .map(|p| (&p.prefix, &p.vrf, &p.via));
        let retiring = self.retiring.iter().map(|p| (&p.prefix, &p.vrf, &p.via));
        for (text, vrf, via) in configured.chain(retiring) {
            let (Ok(network), Some(router)) = (crate::config::parse_prefix(text), via.to_router())
            else {
                continue;
            };
            let prefix = crate::config::Prefix {
                network,
                vrf: (vrf != "default").then(|| vrf.clone()),
                router,
                route_map: None,
            };
            if !out.contains(&prefix) {
                out.push(prefix);
            }
        }
        out
    }
}

/// Where a daemon writes its state: a dry run beside the real daemon's file, never over it.
pub fn effective_path(path: &Path, dry_run: bool) -> Option<std::path::PathBuf> {
    if !dry_run {
        return Some(path.to_path_buf());
    }
    let mut name = path.file_name()?.to_os_string();
    name.push(".dry-run");
    Some(path.with_file_name(name))
}

/// Where the daemon's files go: the real file system, or a fake one in tests (the
/// simulation keeps exactly what was written before a crash and nothing after).
pub trait Disk {
    /// Replace `path` atomically with `contents` (creating its directory when missing).
    fn write(&mut self, path: &Path, contents: &[u8]) -> io::Result<()>;
    fn remove(&mut self, path: &Path);
}

/// The real file system: temp file, fsync, rename.
#[derive(Debug, Default)]
pub struct RealDisk;

impl Disk for RealDisk {
    fn write(&mut self, path: &Path, contents: &[u8]) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                fs::create_dir_all(dir)?;
            }
        }
        write_atomic(path, contents)
    }

    fn remove(&mut self, path: &Path) {
        let _ = fs::remove_file(path);
    }
}

/// Write `contents` to `path` atomically: a temp file in the same directory, fsync,
/// rename. Readers see the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    replace(path, contents, false)
}

/// Like [`write_atomic`], for a file another user reads (mode 0644 whatever the umask),
/// with the directory synced after the rename so that the change survives a crash of the
/// host.
pub fn write_public(path: &Path, contents: &[u8]) -> io::Result<()> {
    replace(path, contents, true)
}

fn replace(path: &Path, contents: &[u8], public: bool) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        if public {
            f.set_permissions(fs::Permissions::from_mode(0o644))?;
        }
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if public {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

pub fn read(path: &Path) -> io::Result<Snapshot> {
    let text = fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        Snapshot {
            version: VERSION,
            services: vec![ServiceSnap {
                name: "dns".into(),
                health: "healthy".into(),
                prefixes: vec![PrefixSnap {
                    prefix: "203.0.113.53/32".into(),
                    vrf: "default".into(),
                    intended: "announce".into(),
                    in_frr: Some(true),
                    advertised: Some(true),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            frr: vec![FrrSnap {
                via: Via {
                    vtysh: "/usr/bin/vtysh".into(),
                    ..Default::default()
                },
                ok: true,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(snap().verdict().0, Verdict::Ok);
        let mut s = snap();
        s.services[0].health = "unhealthy".into();
        s.services[0].prefixes[0].intended = "withdraw".into();
        s.services[0].prefixes[0].in_frr = Some(false);
        assert_eq!(s.verdict().0, Verdict::Warning);
        s.services[0].prefixes[0].in_frr = Some(true);
        assert_eq!(s.verdict().0, Verdict::Critical);
        let mut s = snap();
        s.services[0].prefixes[0].advertised = Some(false);
        let (v, why) = s.verdict();
        assert_eq!(v, Verdict::Critical);
        assert!(why[0].contains("import check"), "{why:?}");
        let mut s = snap();
        s.frr[0].error = Some("bgpd is not reachable".into());
        assert_eq!(s.verdict().0, Verdict::Critical);
    }

    #[test]
    fn the_crash_record_lists_retiring_prefixes_and_an_unconfirmed_stop() {
        let mut s = snap();
        s.retiring.push(RecordedPrefix {
            prefix: "203.0.113.80/32".into(),
            vrf: "blue".into(),
            via: Via {
                vtysh: "/usr/bin/vtysh".into(),
                ..Default::default()
            },
        });
        let listed: Vec<String> = s
            .prefixes()
            .iter()
            .map(|p| format!("{} {:?}", p.canonical(), p.vrf))
            .collect();
        assert_eq!(
            listed,
            ["203.0.113.53/32 None", "203.0.113.80/32 Some(\"blue\")"]
        );
        assert_eq!(s.verdict().0, Verdict::Warning);
        s.phase = Phase::StoppedUnconfirmed;
        s.unconfirmed = vec!["/usr/bin/vtysh vrf blue 203.0.113.80/32".into()];
        let (v, why) = s.verdict();
        assert_eq!(v, Verdict::Critical);
        assert!(why[0].contains("anycastd withdraw"), "{why:?}");
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains("\"phase\":\"stopped_unconfirmed\""), "{text}");
    }

    #[test]
    fn a_state_file_of_the_previous_version_still_loads() {
        let mut v = serde_json::to_value(snap()).unwrap();
        let obj = v.as_object_mut().unwrap();
        for k in ["phase", "retiring", "unconfirmed"] {
            obj.remove(k);
        }
        let old: Snapshot = serde_json::from_value(v).unwrap();
        assert_eq!(old.phase, Phase::Running);
        assert_eq!(old.prefixes().len(), 1);
    }

    #[test]
    fn crash_records_name_their_routing_daemon_and_old_ones_mean_frr() {
        use crate::config::Router;
        // As 0.2.0 wrote it: no `router`.
        let old: RecordedPrefix = serde_json::from_str(
            r#"{"prefix":"203.0.113.80/32","vrf":"default","vtysh":"/usr/bin/vtysh"}"#,
        )
        .unwrap();
        assert_eq!(old.via.to_router(), Some(Router::frr("/usr/bin/vtysh")));
        let bird = Router::Bird {
            birdc: "/usr/sbin/birdc".into(),
            socket: "/run/bird/bird.ctl".into(),
            file: "/etc/bird/anycastd.conf".into(),
        };
        let rec = RecordedPrefix {
            prefix: "203.0.113.53/32".into(),
            vrf: "default".into(),
            via: (&bird).into(),
        };
        let text = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            text,
            r#"{"prefix":"203.0.113.53/32","vrf":"default","router":"bird","birdc":"/usr/sbin/birdc","socket":"/run/bird/bird.ctl","file":"/etc/bird/anycastd.conf"}"#
        );
        let back: RecordedPrefix = serde_json::from_str(&text).unwrap();
        assert_eq!(back.via.to_router(), Some(bird));
        assert_eq!(
            back.via.metric_label(),
            ("bird", "/run/bird/bird.ctl".to_string())
        );
        let unknown: RecordedPrefix = serde_json::from_str(
            r#"{"prefix":"203.0.113.53/32","vrf":"default","router":"gobgp"}"#,
        )
        .unwrap();
        assert_eq!(unknown.via.to_router(), None);
    }

    #[test]
    fn atomic_write_round_trips() {
        let dir = std::env::temp_dir().join(format!("anycastd-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("state.json");
        write_atomic(&p, &serde_json::to_vec(&snap()).unwrap()).unwrap();
        assert_eq!(read(&p).unwrap(), snap());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "temp file left behind"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
