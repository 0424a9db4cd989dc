//! The raw layer, and pidfd-core's thin safe wrappers over the C library calls it makes.
//!
//! Everything of [`pidfd_sys`] is re-exported here unchanged (`pidfd_core::sys::syscalls`,
//! `pidfd_core::sys::signal::SIGKILL`, ...). Beside it, as mio's `sys/unix` and rustix's
//! backend do, the submodules below hold every `epoll`, `eventfd`, `signalfd`, `poll`,
//! `sigset_t` call of pidfd-core's safe modules (spawn's child side aside) and the pipes
//! and `/dev/null` a spawned child's stdio needs ([`pipe`]), each
//! behind a safe function over `BorrowedFd`/`OwnedFd` whose doc says which errnos it passes
//! on; plus the small time helpers every wait loop shares ([`time`]).
//!
//! These helpers are `#[doc(hidden)]`: they are shared with `pidfd-std-ext` and the tools
//! crate of this workspace (one home for each), not API — DESIGN §3 is the contract, and these
//! may change in any release.
//!
//! # Safety
//!
//! This is the only module of pidfd-core outside the spawn child/launcher (`spawn`, `fork`)
//! that may use `unsafe`. Every fd a wrapper passes to the kernel is borrowed
//! (`BorrowedFd<'_>`) or owned (`OwnedFd`) for the call; every fd the kernel creates is wrapped
//! in an `OwnedFd` at once; every buffer is a live value of the size the call is given.

#![allow(
    unsafe_code,
    reason = "thin safe wrappers over C library calls; each block says why"
)]

#[doc(inline)]
pub use pidfd_sys::*;

#[doc(hidden)]
pub mod cgroup;
#[doc(hidden)]
pub mod epoll;
#[doc(hidden)]
pub mod eventfd;
#[doc(hidden)]
pub mod pidfd;
#[doc(hidden)]
pub mod pipe;
#[doc(hidden)]
pub mod poll;
#[doc(hidden)]
pub mod sigset;
#[doc(hidden)]
pub mod subreaper;
#[doc(hidden)]
pub mod time;

/// Whether an errno means "this call or flavour is refused here" (old kernel, qemu-user,
/// seccomp) rather than a real failure: `ENOSYS`, `EPERM`, `EINVAL`. The one set that the
/// probe, `Spawn`'s strategies and [`crate::fork()`] all use.
pub(crate) fn refused(errno: Errno) -> bool {
    matches!(errno, Errno::NOSYS | Errno::PERM | Errno::INVAL)
}

/// `Err` with the calling thread's `errno` when `ret` is negative, else `ret`.
fn cvt(ret: libc::c_int) -> std::io::Result<libc::c_int> {
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Owns `raw`, which must be `>= 0` and a fresh fd the kernel just returned to this call.
fn owned(raw: libc::c_int) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd as _;
    let raw = cvt(raw)?;
    // SAFETY: `raw` is a fresh fd that the kernel created for the caller; nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) })
}
