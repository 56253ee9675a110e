//! Signals as flags plus a self-pipe, so the single-threaded loop sleeps until its next
//! deadline, until a signal arrives, or until a descriptor it watches (a command check's
//! output) is readable, whichever is first.
//!
//! signal-hook sets an atomic flag and writes a byte to a socket pair from inside the
//! handler (both async-signal-safe); the loop `poll`s the other end with a timeout.
//! SIGCHLD sets its flag too: a command check ended, and the loop reaps it, even while
//! it is busy with due work and does not sleep. Nothing else runs in signal context.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};

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
    /// SIGCHLD arrived: a command check may have ended.
    child: Arc<AtomicBool>,
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
            child: Arc::new(AtomicBool::new(false)),
            wake: read,
        };
        for (sig, flag) in [(SIGTERM, &s.term), (SIGINT, &s.int), (SIGHUP, &s.hup)] {
            signal_hook::flag::register(sig, Arc::clone(flag))?;
            signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
        }
        signal_hook::flag::register(SIGCHLD, Arc::clone(&s.child))?;
        signal_hook::low_level::pipe::register(SIGCHLD, write.try_clone()?)?;
        s.wake.set_nonblocking(true)?;
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

    /// A child process ended since the last call.
    pub fn take_child(&self) -> bool {
        self.child.swap(false, Ordering::SeqCst)
    }

    /// A termination signal is pending (not yet taken).
    pub fn termination_pending(&self) -> bool {
        self.term.load(Ordering::SeqCst) || self.int.load(Ordering::SeqCst)
    }

    fn pending(&self) -> bool {
        self.termination_pending() || self.hup.load(Ordering::SeqCst)
    }

    /// Sleep until `until` (forever when `None`), a signal, or one of `fds` is readable.
    pub fn wait(&mut self, until: Option<Instant>, fds: &[BorrowedFd<'_>]) {
        use rustix::event::{PollFd, PollFlags, Timespec};
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
        let spec = timeout.map(|d| {
            let d = d.max(Duration::from_micros(100));
            Timespec {
                tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(d.subsec_nanos()),
            }
        });
        let mut polled: Vec<PollFd<'_>> = Vec::with_capacity(fds.len() + 1);
        polled.push(PollFd::from_borrowed_fd(self.wake.as_fd(), PollFlags::IN));
        for fd in fds {
            polled.push(PollFd::from_borrowed_fd(*fd, PollFlags::IN));
        }
        if rustix::event::poll(&mut polled, spec.as_ref()).is_err() {
            // EINTR (a signal) or a bad descriptor: the caller looks again at once.
            return;
        }
        let woke = polled[0].revents().contains(PollFlags::IN);
        drop(polled);
        if woke {
            let mut buf = [0u8; 64];
            while matches!(self.wake.read(&mut buf), Ok(n) if n > 0) {}
        }
    }
}
