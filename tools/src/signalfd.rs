//! [`SignalFd`]: receive signals as data through a `signalfd(2)`, instead of a handler.
//!
//! The signals are blocked in the calling thread (with [`pidfd_sys::signal::SIG_BLOCK`], not
//! libc's value, which is wrong on mips64 glibc), so they stay pending until read from the
//! fd. Call [`SignalFd::block`] at the start of `main`, before any other thread exists:
//! a process-directed signal goes to any thread that does not block it.
//!
//! The `sigset_t`, `pthread_sigmask`, `signalfd` and `read` calls are pidfd-core's
//! (`pidfd_core::sys::sigset`): this crate has no `unsafe`.
//!
//! # Example
//!
//! ```
//! use pidfd_sys::signal::SIGUSR2;
//! use pidfd_tools::signalfd::SignalFd;
//!
//! # fn main() -> std::io::Result<()> {
//! // (Doctests run as their own process, so blocking SIGUSR2 here affects nothing else.)
//! let signals = SignalFd::block(&[SIGUSR2])?;
//! assert_eq!(signals.read()?, None);
//! pidfd_core::PidFd::current()?.send_signal(SIGUSR2)?; // stays pending: it is blocked
//! assert_eq!(signals.read()?, Some(SIGUSR2));
//! assert_eq!(signals.read()?, None);
//! # Ok(())
//! # }
//! ```

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use pidfd_core::sys::sigset::{self, SigSet};

/// A non-blocking, close-on-exec `signalfd` for a set of signals that the calling thread
/// blocks. Dropping it closes the fd but leaves the signals blocked (unblocking would
/// deliver any still pending with their default action — usually death).
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    /// Blocks `signals` in the calling thread (`pthread_sigmask(SIG_BLOCK)`) and opens a
    /// `signalfd` that receives them. Children inherit the blocked mask unless told
    /// otherwise (`pidfd_core::Spawn::signal_mask`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an invalid signal number; `EMFILE`/`ENFILE`/`ENOMEM` from
    /// `signalfd`.
    pub fn block(signals: &[i32]) -> io::Result<SignalFd> {
        let set = SigSet::new(signals)?;
        set.block()?;
        let fd = set.signalfd()?;
        Ok(SignalFd { fd })
    }

    /// The next pending signal, or `None` if there is none (never blocks).
    ///
    /// # Errors
    ///
    /// Errors of `read(2)` other than `EAGAIN` and `EINTR`.
    pub fn read(&self) -> io::Result<Option<i32>> {
        loop {
            match sigset::read_signal(self.fd.as_fd()) {
                Ok(signal) => return Ok(Some(signal)),
                Err(error) => match error.kind() {
                    io::ErrorKind::WouldBlock => return Ok(None),
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(error),
                },
            }
        }
    }
}

impl AsFd for SignalFd {
    /// The signalfd: readable while one of its signals is pending.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
