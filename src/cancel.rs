//! The cancel token: SIGINT and SIGTERM set it, long loops check it and
//! return [`Cancelled`], and the ordinary error path then removes what the
//! run created (the same drops and clean-ups a failure runs).
//!
//! A second signal ends the process at once, for a user who does not want
//! to wait for the clean-up.

use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked the run to stop; 0 while none did.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The run was stopped by a signal; what it had created was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled {
    pub signal: i32,
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.signal {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            _ => "a signal",
        };
        write!(f, "cancelled by {name}; what this run had started was cleaned up")
    }
}

impl std::error::Error for Cancelled {}

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe work here: an atomic swap and _exit.
    if SIGNAL.swap(signal, Ordering::SeqCst) != 0 {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + signal) };
    }
}

type Canceller = Box<dyn Fn() + Send>;

/// What to do when a signal comes: cancel the server sessions' running
/// statements, which a loop check cannot reach while it waits on them.
static CANCELLERS: std::sync::Mutex<Vec<Canceller>> = std::sync::Mutex::new(Vec::new());

/// Registers `cancel` to run once when a signal asks the run to stop.
pub fn on_cancel(cancel: Canceller) {
    if let Ok(mut all) = CANCELLERS.lock() {
        all.push(cancel);
    }
}

/// Routes SIGINT and SIGTERM to the token, and starts the thread that runs
/// the registered cancellers once one arrives (a signal handler itself may
/// do almost nothing). Called once by the binary; a library caller keeps
/// its own signal handling.
pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only touches an atomic and calls _exit.
        unsafe {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
    std::thread::spawn(|| {
        while requested().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let cancellers = CANCELLERS
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        for cancel in cancellers {
            cancel();
        }
    });
}

/// The signal that asked the run to stop, if one did.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Fails with [`Cancelled`] once a signal asked the run to stop.
pub fn check() -> anyhow::Result<()> {
    match requested() {
        Some(signal) => Err(anyhow::Error::new(Cancelled { signal })),
        None => Ok(()),
    }
}

/// The same as [`check`], for `io::Write`/`io::Read` loops: an I/O error
/// that carries [`Cancelled`] so it survives the trip through the codecs.
pub fn check_io() -> std::io::Result<()> {
    match requested() {
        Some(signal) => Err(std::io::Error::other(Cancelled { signal })),
        None => Ok(()),
    }
}

/// Whether an error chain is (or wraps) a cancellation, or ended a run a
/// signal had asked to stop (a statement the signal cancelled on the
/// server fails with the server's own error).
pub fn is_cancelled(err: &anyhow::Error) -> Option<Cancelled> {
    if let Some(signal) = requested() {
        return Some(Cancelled { signal });
    }
    err.chain().find_map(|cause| {
        cause.downcast_ref::<Cancelled>().copied().or_else(|| {
            cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<Cancelled>())
                .copied()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_cancellation_is_found_through_context_and_io_errors() {
        let direct = Err::<(), _>(anyhow::Error::new(Cancelled { signal: libc::SIGTERM }))
            .context("dumping a table")
            .unwrap_err();
        assert_eq!(is_cancelled(&direct), Some(Cancelled { signal: libc::SIGTERM }));
        let io = anyhow::Error::new(std::io::Error::other(Cancelled { signal: libc::SIGINT })).context("writing");
        assert_eq!(is_cancelled(&io), Some(Cancelled { signal: libc::SIGINT }));
        assert_eq!(is_cancelled(&anyhow::anyhow!("disk full")), None);
    }
}
