//! The raw calls of the async modules: `ioctl(FIONBIO)` (`O_NONBLOCK`) for the parent's ends
//! of a child's pipes (the runtimes read and write them only when their readiness says so: a
//! read or write must never block the runtime's thread), and tokio's `AsyncFd`
//! registration, which is `unsafe` since tokio 1.54 (its I/O-safety contract); and a
//! lock-free process-wide slot ([`LeakedSlot`]) for the background reaper's queue.
//!
//! # Safety
//!
//! The only `unsafe` of the async modules: one `ioctl(2)` on an fd borrowed for the call,
//! changing only its `O_NONBLOCK` status flag; the registration of an [`OwnsFd`] value,
//! whose fd stays open, the same, for as long as the value lives; [`LeakedSlot`]'s
//! pointers, each leaked from a `Box` and never freed; and a `pthread_atfork` registration.

#![allow(
    unsafe_code,
    reason = "ioctl on a borrowed fd, AsyncFd, a leaked slot; each block says why"
)]

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicPtr, Ordering};

/// A value that holds one open fd for its whole life, and always reports that one from
/// `as_raw_fd`: what may be registered with a runtime's reactor (tokio's `AsyncFd`
/// contract). Implemented for `OwnedFd`, `File` and a `Process`'s pidfd view (which keeps
/// the pidfd open while it lives) only.
pub(crate) trait OwnsFd: AsFd + AsRawFd {}

impl OwnsFd for OwnedFd {}
impl OwnsFd for File {}
impl OwnsFd for crate::process::PidFdRef<'_> {}

/// `AsyncFd::register_with_interest`, for a value that owns its fd.
///
/// # Errors
///
/// The reactor's (`epoll_ctl`'s) errors; `Other` outside a tokio runtime's context. (tokio
/// panics, as for its own `AsyncFd`, in a runtime without its IO driver: build it with
/// `enable_io` or `enable_all`.)
#[cfg(feature = "tokio")]
pub(crate) fn tokio_register<T: OwnsFd>(
    io: T,
    interest: tokio::io::Interest,
) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    if let Err(error) = tokio::runtime::Handle::try_current() {
        return Err(io::Error::other(error));
    }
    // SAFETY: `T: OwnsFd` holds its fd, which stays open and refers to the same open file
    // for as long as `io` lives — here, inside the AsyncFd until it is dropped.
    Ok(unsafe { tokio::io::unix::AsyncFd::register_with_interest(io, interest) }?)
}

/// Sets `O_NONBLOCK` on the open file `fd` refers to (`ioctl(FIONBIO)`: one call, and only
/// that flag changes). Only for files this process alone holds (the parent's pipe ends: the
/// child's ends are other open files, so the child never sees the flag).
///
/// # Errors
///
/// `ioctl(2)`'s: `EBADF`, `ENOTTY` for a file without the request (not for pipes).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: FIONBIO reads one int from a live local; the fd is borrowed for the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONBIO, &raw const on) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A process-wide slot for a value leaked for the life of the process (`&'static T`),
/// replaced by compare-and-swap: no lock, so a process made by `fork(2)` while another
/// thread was replacing it never deadlocks on it (the background reaper's queue). A
/// replaced value is leaked, never freed (one per fork generation, or per restart).
pub(crate) struct LeakedSlot<T>(AtomicPtr<T>);

impl<T: Send + Sync + 'static> LeakedSlot<T> {
    pub(crate) const fn new() -> Self {
        LeakedSlot(AtomicPtr::new(std::ptr::null_mut()))
    }

    /// Empties the slot (the value is leaked, as on replacement): one atomic store, so
    /// async-signal-safe (a `pthread_atfork` child handler).
    pub(crate) fn clear(&self) {
        self.0.store(std::ptr::null_mut(), Ordering::Release);
    }

    /// The value in the slot, if any.
    pub(crate) fn get(&self) -> Option<&'static T> {
        let value = self.0.load(Ordering::Acquire);
        // SAFETY: every non-null pointer the slot holds came from `Box::into_raw` in
        // `replace` and is never freed: it stays valid, and is only ever read, for the life
        // of the process.
        unsafe { value.as_ref() }
    }

    /// Puts `value` in the slot if it still holds `current` (`None`: empty); the value
    /// now in the slot: `Ok` with the new one, `Err` with `value` back when another thread
    /// replaced `current` first.
    pub(crate) fn replace(&self, current: Option<&'static T>, value: T) -> Result<&'static T, T> {
        let current = current.map_or(std::ptr::null_mut(), |current| {
            std::ptr::from_ref(current).cast_mut()
        });
        let fresh = Box::into_raw(Box::new(value));
        match self
            .0
            .compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            // SAFETY: `fresh` came from `Box::into_raw` just above and is now in the slot,
            // never to be freed.
            Ok(_) => Ok(unsafe { &*fresh }),
            // SAFETY: `fresh` was not stored: this is its only owner, taking it back.
            Err(_) => Err(*unsafe { Box::from_raw(fresh) }),
        }
    }
}

/// `pthread_atfork(NULL, NULL, child)`: `child` runs in the child of every later `fork(2)`
/// made through the C library (not in a raw `clone`, such as [`crate::fork()`]'s).
///
/// # Errors
///
/// `ENOMEM`.
pub(crate) fn at_fork_child(child: extern "C" fn()) -> io::Result<()> {
    // SAFETY: registers a handler that is a plain `extern "C" fn()`, valid for the life of
    // the process; no prepare or parent handler.
    match unsafe { libc::pthread_atfork(None, None, Some(child)) } {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}
