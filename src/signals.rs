//! Signals as flags plus a self-pipe, so the single-threaded loop sleeps until its next
//! deadline or until a signal arrives, whichever is first.
//!
//! signal-hook sets an atomic flag and writes a byte to a socket pair from inside the
//! handler (both async-signal-safe); the loop reads the other end with a timeout. Nothing
//! else runs in signal context.

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Int,
    Hup,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Term => "SIGTERM",
            Signal::Int => "SIGINT",
            Signal::Hup => "SIGHUP",
        }
    }
}

pub struct Signals {
    term: Arc<AtomicBool>,
    int: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
    wake: UnixStream,
}

impl Signals {
    pub fn install() -> io::Result<Signals> {
        let (read, write) = UnixStream::pair()?;
        // The handler must never block on a full pipe; a lost wake-up byte is harmless
        // because the flags are the truth.
        write.set_nonblocking(true)?;
        let s = Signals {
            term: Arc::new(AtomicBool::new(false)),
            int: Arc::new(AtomicBool::new(false)),
            hup: Arc::new(AtomicBool::new(false)),
            wake: read,
        };
        for (sig, flag) in [(SIGTERM, &s.term), (SIGINT, &s.int), (SIGHUP, &s.hup)] {
            signal_hook::flag::register(sig, Arc::clone(flag))?;
            signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
        }
        Ok(s)
    }

    /// The most urgent pending signal, cleared: termination before reload.
    pub fn take(&self) -> Option<Signal> {
        if self.term.swap(false, Ordering::SeqCst) {
            return Some(Signal::Term);
        }
        if self.int.swap(false, Ordering::SeqCst) {
            return Some(Signal::Int);
        }
        if self.hup.swap(false, Ordering::SeqCst) {
            return Some(Signal::Hup);
        }
        None
    }

    /// A termination signal is pending (not yet taken).
    pub fn termination_pending(&self) -> bool {
        self.term.load(Ordering::SeqCst) || self.int.load(Ordering::SeqCst)
    }

    fn pending(&self) -> bool {
        self.termination_pending() || self.hup.load(Ordering::SeqCst)
    }

    /// Sleep until `until` (forever when `None`) or a signal.
    pub fn wait(&mut self, until: Option<Instant>) {
        if self.pending() {
            return;
        }
        let timeout = match until {
            Some(t) => {
                let now = Instant::now();
                if t <= now {
                    return;
                }
                Some(t - now)
            }
            None => None,
        };
        // A zero read timeout means "block forever" to the OS: never pass one.
        let timeout = timeout.map(|d| d.max(Duration::from_micros(100)));
        if self.wake.set_read_timeout(timeout).is_err() {
            std::thread::sleep(timeout.unwrap_or(Duration::from_secs(1)));
            return;
        }
        let mut buf = [0u8; 64];
        let _ = self.wake.read(&mut buf);
    }
}
