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
    pub vtysh: String,
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
    pub vtysh: String,
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
    pub vtysh: String,
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
                worse(
                    Verdict::Critical,
                    format!("FRR via {}: {e}", f.vtysh),
                    &mut v,
                );
            }
            for r in &f.rejected {
                worse(
                    Verdict::Critical,
                    format!("FRR via {} refuses {r}", f.vtysh),
                    &mut v,
                );
            }
            for vrf in &f.missing_vrfs {
                worse(
                    Verdict::Critical,
                    format!("FRR via {} has no BGP instance for VRF {vrf}", f.vtysh),
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
                        format!("{label} should be announced but FRR does not have it"),
                        &mut v,
                    ),
                    ("withdraw", Some(true), _) => worse(
                        Verdict::Critical,
                        format!("{label} should be withdrawn but FRR still has it"),
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
            .map(|p| (&p.prefix, &p.vrf, &p.vtysh));
        let retiring = self.retiring.iter().map(|p| (&p.prefix, &p.vrf, &p.vtysh));
        for (text, vrf, vtysh) in configured.chain(retiring) {
            let Ok(network) = crate::config::parse_prefix(text) else {
                continue;
            };
            let prefix = crate::config::Prefix {
                network,
                vrf: (vrf != "default").then(|| vrf.clone()),
                vtysh: std::path::PathBuf::from(vtysh),
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
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
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
                vtysh: "/usr/bin/vtysh".into(),
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
            vtysh: "/usr/bin/vtysh".into(),
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
