//! Raw syscalls for tests, without the library in between: `pidfd_open` and `waitid` through
//! the pidfd-sys wrappers, `kill` by number, signal handlers, rlimits and the fd table,
//! process IDs.

#![allow(
    unsafe_code,
    reason = "tests call the raw pidfd-sys wrappers and libc; each block says why"
)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use pidfd_sys::flags::{P_PIDFD, PidfdFlags, WaitIdOptions};
use pidfd_sys::{Errno, siginfo_t, syscalls};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
#[allow(
    clippy::useless_conversion,
    reason = "rlim_t is 32-bit on 32-bit targets"
)]
pub fn raise_nofile() -> u64 {
    // SAFETY: rlimit is plain data; all-zero is valid.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `limit` is a live, writable rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
    assert_eq!(rc, 0, "getrlimit");
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: raising the soft limit up to the hard limit is always allowed.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
        assert_eq!(rc, 0, "setrlimit");
    }
    u64::from(limit.rlim_cur)
}

/// Lowers `RLIMIT_NOFILE` to 64 and opens `/dev/null` until no fd is left; returns the files
/// (drop some to free fds). For re-exec'd scenario processes only (it changes the process).
pub fn fill_fd_table() -> Vec<std::fs::File> {
    let limit = libc::rlimit {
        rlim_cur: 64,
        rlim_max: 64,
    };
    // SAFETY: setrlimit reads a valid rlimit.
    let ret = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
    assert_eq!(ret, 0);
    let mut hogs = Vec::new();
    while let Ok(file) = std::fs::File::open("/dev/null") {
        hogs.push(file);
    }
    hogs
}

/// This process's PID.
pub fn own_pid() -> i32 {
    i32::try_from(std::process::id()).expect("pid fits pid_t")
}

/// `pidfd_open(pid, flags)` as an [`OwnedFd`].
pub fn pidfd_open(pid: i32, flags: PidfdFlags) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open creates a new fd; we take sole ownership of it right here.
    let raw = unsafe { syscalls::pidfd_open(pid, flags)? };
    // SAFETY: `raw` is a freshly created, open fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Wraps a raw fd returned by a pidfd-sys call that creates one.
///
/// # Safety
///
/// `raw` must be an open fd that nothing else owns.
pub unsafe fn own(raw: i32) -> OwnedFd {
    // SAFETY: guaranteed by the caller.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// `waitid(P_PIDFD, pidfd, ..., options)` into a zeroed `siginfo_t`.
pub fn waitid(pidfd: &OwnedFd, options: WaitIdOptions) -> Result<siginfo_t, Errno> {
    waitid_into(pidfd, options, siginfo_t::zeroed(), None)
}

/// Blocks until our child `pid` has exited, without reaping it (`waitid(P_PID, WEXITED |
/// WNOWAIT)`): the synchronization for "it has exited already" without a sleep.
pub fn await_exit_without_reaping(pid: u32) -> Result<(), Errno> {
    let mut info = siginfo_t::zeroed();
    Errno::retry_on_intr(|| {
        // SAFETY: `info` is a writable siginfo_t; WNOWAIT leaves the zombie in place.
        unsafe {
            syscalls::waitid(
                pidfd_sys::flags::P_PID,
                pid,
                &mut info,
                WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
                None,
            )
        }
    })
}

/// `waitid(P_PIDFD, ...)` into a caller-prepared `siginfo_t` (e.g. poisoned), with an
/// optional `rusage`; retries on `EINTR`.
pub fn waitid_into(
    pidfd: &OwnedFd,
    options: WaitIdOptions,
    mut info: siginfo_t,
    mut rusage: Option<&mut libc::rusage>,
) -> Result<siginfo_t, Errno> {
    let fd = u32::try_from(pidfd.as_raw_fd()).expect("fds are non-negative");
    Errno::retry_on_intr(|| {
        // SAFETY: `pidfd` is borrowed for the duration of the call.
        unsafe { syscalls::waitid(P_PIDFD, fd, &mut info, options, rusage.as_deref_mut()) }
    })?;
    Ok(info)
}

/// The number of open fds of this process (entries of `/proc/self/fd`, minus the one the
/// listing itself uses).
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
        - 1
}

/// This process's real user and group IDs.
pub fn real_ids() -> (u32, u32) {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    // SAFETY: getgid has no preconditions and cannot fail.
    let gid = unsafe { libc::getgid() };
    (uid, gid)
}

/// Plain `kill(pid, signal)` by number — what the library exists to avoid; tests use it to
/// prove that a PID really names some (other) process.
pub fn naive_kill(pid: u32, signal: i32) -> std::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .filter(|&pid| pid > 0)
        .ok_or(std::io::ErrorKind::InvalidInput)?;
    // SAFETY: kill takes integers only; pid > 0 so it never addresses a process group.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

unsafe extern "C" {
    /// POSIX `siginterrupt(3)` (glibc and musl export it; the libc crate does not bind it).
    fn siginterrupt(signal: libc::c_int, flag: libc::c_int) -> libc::c_int;
}

/// Installs `handler` for `signal` without `SA_RESTART`, so blocking syscalls it interrupts
/// fail with `EINTR`.
///
/// Through `signal(3)` and `siginterrupt(3)`, which take no struct: libc 0.2.191's
/// `struct sigaction` has the wrong layout on mips64 glibc (see `pidfd_sys::upstream`).
pub fn install_interrupting_handler(signal: i32, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: the caller's handler is a plain `extern "C" fn(c_int)`; tests only pass
    // async-signal-safe ones (atomics).
    let previous = unsafe { libc::signal(signal, handler as libc::sighandler_t) };
    assert_ne!(previous, libc::SIG_ERR, "signal({signal})");
    // SAFETY: integers only.
    let rc = unsafe { siginterrupt(signal, 1) };
    assert_eq!(rc, 0, "siginterrupt({signal})");
}

/// `pidfd_core::fork()` whose child calls `_exit(code)` at once: the parent's handle.
///
/// # Panics
///
/// When the fork fails.
pub fn fork_exiting(code: i32) -> pidfd_core::Process {
    // SAFETY: the child only calls `_exit`, which is async-signal-safe.
    match unsafe { pidfd_core::fork() }.expect("fork") {
        // SAFETY: `_exit` never returns.
        pidfd_core::Fork::Child => unsafe { libc::_exit(code) },
        pidfd_core::Fork::Parent(child) => child,
    }
}
