//! The parent side's thin safe wrappers over raw calls: fds the spawn machinery closes
//! itself, signal sets and the all-blocked mask around the clone, `RLIMIT_NOFILE`, and
//! libc's `environ`.

#![allow(
    unsafe_code,
    reason = "thin wrappers over raw calls; each block says why"
)]

use std::io;
use std::os::fd::RawFd;
use std::ptr;

/// An fd the spawn machinery creates and closes itself, through the raw syscalls: glibc's
/// `close` and `read` are cancellation points, and a `pthread_cancel` acted upon inside
/// Rust code aborts the process (`spawn` is no cancellation point).
pub(super) struct SpawnFd(pub(super) RawFd);

impl SpawnFd {
    pub(super) fn raw(&self) -> RawFd {
        self.0
    }
}

impl Drop for SpawnFd {
    fn drop(&mut self) {
        // SAFETY: we own the fd and nothing uses it after this.
        let _ = unsafe { pidfd_sys::syscalls::close(self.0) };
    }
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, floor)`: a close-on-exec copy of `fd` numbered `floor` or
/// above.
pub(super) fn dup_above(fd: RawFd, floor: RawFd) -> io::Result<SpawnFd> {
    // SAFETY: F_DUPFD_CLOEXEC creates a new fd (owned below) from one we hold.
    let copy = unsafe { pidfd_sys::syscalls::fcntl_int(fd, libc::F_DUPFD_CLOEXEC, floor) }?;
    Ok(SpawnFd(copy))
}

/// The soft `RLIMIT_NOFILE`: fd numbers at or above it can never be open.
pub(super) fn fd_limit() -> RawFd {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        return RawFd::MAX;
    }
    RawFd::try_from(limit.rlim_cur).unwrap_or(RawFd::MAX)
}

/// A `sigset_t` holding `signals`; `InvalidInput` for a number outside `1..=NSIG`.
pub(super) fn signal_set(signals: &[i32]) -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigemptyset(&raw mut set) };
    for &signal in signals {
        let valid = (1..=pidfd_sys::signal::NSIG).contains(&signal);
        // SAFETY: `set` is a valid sigset_t; sigaddset checks the number too.
        if !valid || unsafe { libc::sigaddset(&raw mut set, signal) } != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid signal {signal}"),
            ));
        }
    }
    Ok(set)
}

unsafe extern "C" {
    /// The C library's current environment (what `getenv` reads). `static mut`: `setenv`
    /// and `putenv` reassign it, so an immutable declaration would let the compiler assume
    /// a value that changes (UB by the language rules). Read only through a raw pointer.
    static mut environ: *const *const libc::c_char;
}

/// libc's `environ` right now: the parent's environment, for a child that inherits it.
///
/// Reading `environ` races only with a concurrent `setenv`/`putenv`, which
/// `std::env::set_var`'s safety contract already rules out in multithreaded programs
/// (posix_spawn callers read it the same way).
pub(super) fn parent_environ() -> *const *const libc::c_char {
    // The address of libc's `environ` (no reference to the mutable static).
    let slot = &raw const environ;
    // SAFETY: reads its pointer value; races as described above.
    unsafe { slot.read() }
}

/// Blocks every signal until dropped (restoring the previous mask) — truly every one:
/// through the raw `rt_sigprocmask`, so the C library's internal signals (glibc's
/// SIGCANCEL and SIGSETXID, 32 and 33, which `pthread_sigmask` leaves unblocked) are blocked
/// too, as glibc's own `posix_spawn` does; a child sharing our memory starts with them
/// blocked.
pub(super) struct SignalsBlocked {
    pub(super) old: libc::sigset_t,
}

impl SignalsBlocked {
    pub(super) fn new() -> io::Result<SignalsBlocked> {
        let all = pidfd_sys::syscalls::full_sigset();
        // SAFETY: sigset_t is plain data; the kernel fills it.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid sigset_t.
        unsafe {
            pidfd_sys::syscalls::rt_sigprocmask(
                pidfd_sys::signal::SIG_SETMASK,
                &raw const all,
                &raw mut old,
            )
        }?;
        Ok(SignalsBlocked { old })
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new`. It cannot fail (valid how and set).
        let _ = unsafe {
            pidfd_sys::syscalls::rt_sigprocmask(
                pidfd_sys::signal::SIG_SETMASK,
                &raw const self.old,
                ptr::null_mut(),
            )
        };
    }
}
