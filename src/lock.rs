//! One daemon per state file: an exclusive `flock(2)` on `<state_file>.lock`, taken at
//! start and held for the daemon's whole life. The kernel releases it however the process
//! ends, a crash or SIGKILL included, so a lock that can be taken proves that no daemon is
//! writing that state file, whatever PID the file names (PIDs are reused; in a container
//! the crashed run and the new one are both PID 1). `status` and `withdraw` never take it.

use rustix::fs::{FlockOperation, flock};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while alive; dropping it (or exiting) releases the lock.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

#[derive(Debug)]
pub enum Error {
    /// Another process holds it; its PID as it wrote it, when readable.
    Held {
        path: PathBuf,
        pid: Option<u32>,
    },
    Io {
        path: PathBuf,
        err: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Held { path, pid } => write!(
                f,
                "another anycastd{} already runs with this state file (it holds {}); one daemon per state file",
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                path.display()
            ),
            Error::Io { path, err } => write!(f, "cannot lock {}: {err}", path.display()),
        }
    }
}

/// The lock file that guards `state`.
pub fn path_for(state: &Path) -> PathBuf {
    let mut name = state.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    state.with_file_name(name)
}

/// Take the lock for `state` (creating its directory and the lock file when missing),
/// without waiting, and record our PID in it for the error message of the next one.
pub fn acquire(state: &Path) -> Result<Lock, Error> {
    let path = path_for(state);
    let io = |err| Error::Io {
        path: path.clone(),
        err,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(Error::Held {
                path,
                pid: text.trim().parse().ok(),
            });
        }
        Err(e) => return Err(io(e.into())),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(Lock { _file: file })
}

/// Whether a daemon holds the lock for `state`: `None` when that cannot be told (no lock
/// file, or no permission to open it: an older daemon, or another user).
pub fn held(state: &Path) -> Option<bool> {
    let file = File::open(path_for(state)).ok()?;
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => Some(false),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Some(true),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = std::env::temp_dir().join(format!("anycastd-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = dir.join("sub").join("state.json");
        assert_eq!(held(&state), None, "no lock file yet");
        let first = acquire(&state).unwrap();
        assert_eq!(path_for(&state), dir.join("sub").join("state.json.lock"));
        // flock locks belong to the open file description: a second open conflicts even
        // in the same process, as a second daemon's would.
        match acquire(&state) {
            Err(Error::Held { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        assert_eq!(held(&state), Some(true));
        drop(first);
        assert_eq!(held(&state), Some(false));
        let again = acquire(&state).unwrap();
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
