//! Drains: services an operator took out of the anycast group for maintenance
//! (`anycastd drain`). A drained service's prefixes are withdrawn and stay withdrawn,
//! whatever its checks say, until `anycastd undrain`; its checks keep running.
//!
//! Drains are persistent intent, kept apart from health in a small JSON file
//! (`global.drain_file`, by default under `/var/lib/anycastd/`, which survives a reboot),
//! written atomically (a temporary file beside it, then a rename) under an exclusive lock
//! on `<drain_file>.lock`, so that two commands at once never lose one another's change.
//! The CLI writes it whether or not a daemon runs; a running daemon notices the change
//! within half a second (it looks at the file's identity and modification time from its
//! loop) and a starting one reads it first.

use rustix::fs::{FlockOperation, flock};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub const DEFAULT_PATH: &str = crate::config::DEFAULT_DRAIN_FILE;
const VERSION: u32 = 1;

/// One drained service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drain {
    /// When it was drained (RFC 3339, UTC) and the same as Unix time.
    pub since: String,
    pub since_unix: f64,
    /// `--reason`, or "" when none was given.
    #[serde(default)]
    pub reason: String,
}

/// The file's content: drained services by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Drains {
    pub version: u32,
    #[serde(default)]
    pub services: BTreeMap<String, Drain>,
}

#[derive(Debug)]
pub enum Error {
    Io(PathBuf, io::Error),
    /// Not a drain file (or a newer version of one).
    Invalid(PathBuf, String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(p, e) => write!(f, "{}: {e}", p.display()),
            Error::Invalid(p, e) => write!(f, "{}: not a drain file: {e}", p.display()),
        }
    }
}

/// The drains on disk; none when the file does not exist.
pub fn read(path: &Path) -> Result<Drains, Error> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Drains::default()),
        Err(e) => return Err(Error::Io(path.to_path_buf(), e)),
    };
    let d: Drains = serde_json::from_slice(&text)
        .map_err(|e| Error::Invalid(path.to_path_buf(), e.to_string()))?;
    if d.version > VERSION {
        return Err(Error::Invalid(
            path.to_path_buf(),
            format!(
                "version {} is newer than this anycastd's {VERSION}",
                d.version
            ),
        ));
    }
    Ok(d)
}

/// What identifies one version of the file, cheaply (a `stat`): changed when it was
/// replaced or rewritten. `None`: no file.
pub fn stamp(path: &Path) -> Option<(u64, u64, SystemTime, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.modified().ok()?, m.len()))
}

/// Change the drains under the lock: `edit` gets the current ones and changes them.
pub fn update(path: &Path, edit: impl FnOnce(&mut Drains)) -> Result<Drains, Error> {
    let io_err = |p: &Path, e: io::Error| Error::Io(p.to_path_buf(), e);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_err(&lock_path, e))?;
    flock(&lock, FlockOperation::LockExclusive).map_err(|e| io_err(&lock_path, e.into()))?;
    let mut d = read(path)?;
    d.version = VERSION;
    edit(&mut d);
    let text = serde_json::to_vec_pretty(&d)
        .map_err(|e| Error::Invalid(path.to_path_buf(), e.to_string()))?;
    let tmp = PathBuf::from(format!("{}.tmp{}", path.display(), std::process::id()));
    // Readable by the daemon's user whatever the caller's umask; the directory is synced
    // after the rename so that the change survives a crash of the host.
    let written = std::fs::write(&tmp, [text, b"\n".to_vec()].concat())
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
        })
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .and_then(|()| match path.parent() {
            Some(dir) => std::fs::File::open(dir)?.sync_all(),
            None => Ok(()),
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    drop(lock);
    Ok(d)
}

/// A drain starting now.
pub fn now(reason: &str) -> Drain {
    let t = SystemTime::now();
    Drain {
        since: crate::logging::timestamp(t),
        since_unix: t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        reason: reason.to_string(),
    }
}

/// `anycastd drain` / `anycastd undrain` on the services `names` (or all of `known`):
/// the names checked against the configuration, then the file changed. What it did goes
/// to stdout; an unknown service is an error that lists the known ones. `undrain` also
/// takes a service the file holds that the configuration no longer has (`--all` too),
/// so that no drain outlives its service unseen and comes back with it.
pub fn command(
    path: &Path,
    known: &[String],
    names: &[String],
    all: bool,
    drain: Option<&str>,
    daemon_running: Option<bool>,
) -> Result<String, String> {
    let stale: Vec<String> = match drain {
        Some(_) => Vec::new(),
        None => read(path)
            .map(|d| {
                d.services
                    .into_keys()
                    .filter(|n| !known.contains(n))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let names: Vec<String> = if all {
        known.iter().chain(&stale).cloned().collect()
    } else {
        let unknown: Vec<&String> = names
            .iter()
            .filter(|n| !known.contains(n) && !stale.contains(n))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "unknown service{} {}; the configuration has: {}",
                if unknown.len() > 1 { "s" } else { "" },
                unknown
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                known.join(", ")
            ));
        }
        names.to_vec()
    };
    let mut changed = Vec::new();
    let mut unchanged = Vec::new();
    update(path, |d| {
        for n in &names {
            match drain {
                Some(reason) => {
                    if d.services.contains_key(n) {
                        unchanged.push(n.clone());
                    } else {
                        d.services.insert(n.clone(), now(reason));
                        changed.push(n.clone());
                    }
                }
                None => {
                    if d.services.remove(n).is_some() {
                        changed.push(n.clone());
                    } else {
                        unchanged.push(n.clone());
                    }
                }
            }
        }
    })
    .map_err(|e| e.to_string())?;
    let verb = if drain.is_some() {
        "drained"
    } else {
        "undrained"
    };
    let mut out = String::new();
    if !changed.is_empty() {
        out += &format!("{verb}: {}\n", changed.join(", "));
    }
    if !unchanged.is_empty() {
        out += &format!(
            "already {}: {}\n",
            if drain.is_some() {
                "drained"
            } else {
                "not drained"
            },
            unchanged.join(", ")
        );
    }
    out += &match daemon_running {
        Some(true) => "the running daemon acts on it within a second\n".to_string(),
        Some(false) => "no daemon is running: it takes effect when one starts\n".to_string(),
        None => String::new(),
    };
    out += &format!("drains are kept in {}\n", path.display());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_undrain_round_trip_and_unknown_services() {
        let dir = std::env::temp_dir().join(format!("anycastd-drain-{}", std::process::id()));
        let path = dir.join("sub").join("drains.json");
        let known = vec!["dns".to_string(), "ntp".to_string()];
        assert_eq!(read(&path).unwrap(), Drains::default());
        let out = command(
            &path,
            &known,
            &["dns".into()],
            false,
            Some("kernel"),
            Some(false),
        )
        .unwrap();
        assert!(out.starts_with("drained: dns\n"), "{out}");
        let d = read(&path).unwrap();
        assert_eq!(d.services["dns"].reason, "kernel");
        let s1 = stamp(&path);
        let out = command(&path, &known, &[], true, Some("all"), None).unwrap();
        assert!(
            out.contains("drained: ntp\nalready drained: dns\n"),
            "{out}"
        );
        assert_ne!(stamp(&path), s1);
        let e = command(&path, &known, &["web".into()], false, None, None).unwrap_err();
        assert!(
            e.contains("unknown service \"web\"; the configuration has: dns, ntp"),
            "{e}"
        );
        // A drain whose service left the configuration: undrain takes it by name...
        let fewer = vec!["dns".to_string()];
        let out = command(&path, &fewer, &["ntp".into()], false, None, None).unwrap();
        assert!(out.starts_with("undrained: ntp\n"), "{out}");
        let e = command(&path, &fewer, &["ntp".into()], false, Some("x"), None).unwrap_err();
        assert!(e.contains("unknown service \"ntp\""), "{e}");
        // ... and with --all.
        command(&path, &known, &["ntp".into()], false, Some("x"), None).unwrap();
        let out = command(&path, &fewer, &[], true, None, None).unwrap();
        assert!(out.starts_with("undrained: dns, ntp\n"), "{out}");
        assert!(read(&path).unwrap().services.is_empty());
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(read(&path), Err(Error::Invalid(..))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
