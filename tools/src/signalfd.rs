//! [`SignalFd`]: receive signals as data through a `signalfd(2)`, instead of a handler.
//!
//! The signals are blocked in the calling thread (with [`pidfd_sys::signal::SIG_BLOCK`], not
//! libc's value, which is wrong on mips64 glibc), so they stay pending until read from the
//! fd. Call [`SignalFd::block`] at the start of `main`, before any other thread exists:
//! a process-directed signal goes to any thread that does not block it.
//!
//! # Safety
//!
//! This module calls `sigemptyset`, `sigaddset`, `pthread_sigmask`, `signalfd` and `read`.
//! Each gets a live, initialised `sigset_t` or `signalfd_siginfo` of the right size, and an
//! fd this module owns (or `-1`, asking for a new one, which is owned at once).
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

#![allow(
    unsafe_code,
    reason = "sigset, pthread_sigmask, signalfd and read(2) calls"
)]

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// A non-blocking, close-on-exec `signalfd` for a set of signals that the calling thread
/// blocks. Dropping it closes the fd but leaves the signals blocked (unblocking would
/// deliver any still pending with their default action — usually death).
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
}

/// A `sigset_t` holding `signals`.
fn signal_set(signals: &[i32]) -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given.
    unsafe { libc::sigemptyset(set.as_mut_ptr()) };
    // SAFETY: initialised by sigemptyset just above.
    let mut set = unsafe { set.assume_init() };
    for &signal in signals {
        // SAFETY: `set` is a live, initialised sigset_t; an invalid number gives -1/EINVAL.
        if unsafe { libc::sigaddset(&raw mut set, signal) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(set)
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
        let set = signal_set(signals)?;
        let how = pidfd_sys::signal::SIG_BLOCK;
        // SAFETY: `set` is an initialised sigset_t; the old mask is not asked for.
        let error = unsafe { libc::pthread_sigmask(how, &raw const set, std::ptr::null_mut()) };
        if error != 0 {
            return Err(io::Error::from_raw_os_error(error));
        }
        let flags = libc::SFD_CLOEXEC | libc::SFD_NONBLOCK;
        // SAFETY: -1 asks for a new fd, owned below; `set` is initialised.
        let raw = unsafe { libc::signalfd(-1, &raw const set, flags) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(SignalFd { fd })
    }

    /// The next pending signal, or `None` if there is none (never blocks).
    ///
    /// # Errors
    ///
    /// Errors of `read(2)` other than `EAGAIN` and `EINTR`.
    pub fn read(&self) -> io::Result<Option<i32>> {
        let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
        let size = size_of::<libc::signalfd_siginfo>();
        loop {
            // SAFETY: reads at most `size` bytes into `info`, from our own signalfd.
            let got = unsafe { libc::read(self.fd.as_raw_fd(), info.as_mut_ptr().cast(), size) };
            if usize::try_from(got) == Ok(size) {
                // SAFETY: the kernel filled in the whole struct.
                let info = unsafe { info.assume_init() };
                let signal = i32::try_from(info.ssi_signo).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "signal number out of range")
                })?;
                return Ok(Some(signal));
            }
            if got >= 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "short read from signalfd",
                ));
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::WouldBlock => return Ok(None),
                io::ErrorKind::Interrupted => {}
                _ => return Err(error),
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
