//! The raw calls of the async modules: `fcntl(F_SETFL, O_NONBLOCK)` for the parent's ends
//! of a child's pipes (the runtimes read and write them only when their readiness says so: a
//! read or write must never block the runtime's thread), and tokio's `AsyncFd`
//! registration, which is `unsafe` since tokio 1.54 (its I/O-safety contract).
//!
//! # Safety
//!
//! The only `unsafe` of the async modules: two `fcntl(2)` calls on an fd borrowed for the
//! call, changing only its file status flags; and the registration of an [`OwnsFd`] value,
//! whose fd stays open, the same, for as long as the value lives.

#![allow(
    unsafe_code,
    reason = "fcntl on a borrowed fd, AsyncFd; each block says why"
)]

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// A value that owns one open fd for its whole life, and always reports that one from
/// `as_raw_fd`: what may be registered with a runtime's reactor (tokio's `AsyncFd`
/// contract). Implemented for `OwnedFd` and `File` only.
pub(crate) trait OwnsFd: AsFd + AsRawFd {}

impl OwnsFd for OwnedFd {}
impl OwnsFd for File {}

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
    // SAFETY: `T: OwnsFd` owns its fd, which stays open and refers to the same open file
    // for as long as `io` lives — here, inside the AsyncFd until it is dropped.
    Ok(unsafe { tokio::io::unix::AsyncFd::register_with_interest(io, interest) }?)
}

/// Sets `O_NONBLOCK` on the open file `fd` refers to. Only for files this process alone
/// holds (the parent's pipe ends: the child's ends are other open files, so the child never
/// sees the flag).
///
/// # Errors
///
/// `EBADF` for a closed fd (cannot happen for a `BorrowedFd`).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL only reads the status flags of an fd borrowed for the call.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(());
    }
    // SAFETY: F_SETFL changes only the status flags of an fd borrowed for the call.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
