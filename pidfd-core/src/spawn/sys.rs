//! The parent side's thin safe wrappers over raw calls: fds the spawn machinery closes
//! itself, signal sets and the all-blocked mask around the clone, `RLIMIT_NOFILE`, libc's
//! `environ`, and the process's dumpable flag kept across a credential-changing spawn
//! ([`KeepDumpable`]); and the raw credential and parent-death calls the child makes
//! (`setgroups`, `setgid`, `setuid`, `prctl(PR_SET_PDEATHSIG)`, `getppid`, `kill`) — one
//! `syscall(2)` each, never the C library's wrappers (glibc's `setuid` would broadcast the
//! change to every thread of the parent through its internal SIGSETXID).

#![allow(
    unsafe_code,
    reason = "thin wrappers over raw calls; each block says why"
)]

use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use pidfd_sys::Errno;

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

/// The C library's `gid_t`/`uid_t` (32 bits on every Linux ABI).
type Id = libc::gid_t;

/// The syscall numbers of the 32-bit-ID credential calls. Where the original calls take
/// 16-bit IDs (i386, 32-bit arm, 32-bit sparc, m68k) they are the `*32` ones; libc 0.2.191
/// names those `SYS_setuid32` etc., except on m68k, where it calls them `SYS_setuid` (and
/// the 16-bit ones `SYS_setuid16`) — checked below against the kernel's numbers.
mod id_calls {
    #[cfg(any(target_arch = "x86", target_arch = "arm", target_arch = "sparc"))]
    pub(super) const SETUID: libc::c_long = libc::SYS_setuid32;
    #[cfg(any(target_arch = "x86", target_arch = "arm", target_arch = "sparc"))]
    pub(super) const SETGID: libc::c_long = libc::SYS_setgid32;
    #[cfg(any(target_arch = "x86", target_arch = "arm", target_arch = "sparc"))]
    pub(super) const SETGROUPS: libc::c_long = libc::SYS_setgroups32;
    #[cfg(not(any(target_arch = "x86", target_arch = "arm", target_arch = "sparc")))]
    pub(super) const SETUID: libc::c_long = libc::SYS_setuid;
    #[cfg(not(any(target_arch = "x86", target_arch = "arm", target_arch = "sparc")))]
    pub(super) const SETGID: libc::c_long = libc::SYS_setgid;
    #[cfg(not(any(target_arch = "x86", target_arch = "arm", target_arch = "sparc")))]
    pub(super) const SETGROUPS: libc::c_long = libc::SYS_setgroups;

    // The kernel's numbers of the 32-bit-ID calls on the ABIs whose originals are 16-bit
    // (arch/x86/entry/syscalls/syscall_32.tbl, arch/arm/tools/syscall.tbl,
    // arch/sparc/kernel/syscalls/syscall.tbl, arch/m68k/kernel/syscalls/syscall.tbl).
    #[cfg(any(target_arch = "x86", target_arch = "arm", target_arch = "m68k"))]
    const _: () = assert!(SETGROUPS == 206 && SETUID == 213 && SETGID == 214);
    #[cfg(target_arch = "sparc")]
    const _: () = assert!(SETGROUPS == 82 && SETUID == 87 && SETGID == 89);
}

/// An ID as a `syscall(2)` argument: its bits (the kernel reads a 32-bit `uid_t`/`gid_t`;
/// on 32-bit ABIs `long` is 32 bits too, so IDs above `i32::MAX` keep their bits).
fn id_arg(id: Id) -> libc::c_long {
    #[allow(
        clippy::cast_possible_wrap,
        clippy::cast_lossless,
        reason = "the kernel reads the bits as uid_t/gid_t"
    )]
    let arg = id as libc::c_long;
    arg
}

/// An errno-style result of a raw syscall.
fn check(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret == -1 {
        Err(Errno::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `setgroups(groups.len(), groups)`, with 32-bit IDs. For the child side.
///
/// # Errors
///
/// `EPERM` without `CAP_SETGID`; `EINVAL` for more than `NGROUPS_MAX` (65536) groups.
pub(super) fn setgroups(groups: &[Id]) -> Result<(), Errno> {
    let list = if groups.is_empty() {
        ptr::null()
    } else {
        groups.as_ptr()
    };
    // SAFETY: the kernel reads `groups.len()` IDs from a live slice (none for NULL, 0).
    check(unsafe { libc::syscall(id_calls::SETGROUPS, groups.len(), list) }).map(drop)
}

/// `setgid(gid)`, with a 32-bit ID. For the child side.
///
/// # Errors
///
/// `EPERM` without `CAP_SETGID` (unless `gid` is the real or saved group ID); `EINVAL` for
/// an ID outside the user namespace's map.
pub(super) fn setgid(gid: Id) -> Result<(), Errno> {
    // SAFETY: an integer argument only (the kernel reads it as gid_t).
    check(unsafe { libc::syscall(id_calls::SETGID, id_arg(gid)) }).map(drop)
}

/// `setuid(uid)`, with a 32-bit ID. For the child side.
///
/// # Errors
///
/// `EPERM` without `CAP_SETUID` (unless `uid` is the real or saved user ID); `EINVAL` for
/// an ID outside the user namespace's map; `EAGAIN` over `RLIMIT_NPROC` (Linux < 3.1).
pub(super) fn setuid(uid: Id) -> Result<(), Errno> {
    // SAFETY: an integer argument only (the kernel reads it as uid_t).
    check(unsafe { libc::syscall(id_calls::SETUID, id_arg(uid)) }).map(drop)
}

/// `prctl(PR_SET_PDEATHSIG, signal)`. For the child side.
///
/// # Errors
///
/// `EINVAL` for a number that is not a signal.
pub(super) fn set_parent_death_signal(signal: libc::c_int) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    check(unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::c_long::from(libc::PR_SET_PDEATHSIG),
            libc::c_long::from(signal),
            0 as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    })
    .map(drop)
}

/// `getpid()` through the raw syscall (never a C library's cached value: the caller may be
/// a raw clone). Cannot fail.
pub(super) fn getpid() -> libc::pid_t {
    // SAFETY: no arguments; cannot fail.
    let pid = unsafe { libc::syscall(libc::SYS_getpid) };
    libc::pid_t::try_from(pid).unwrap_or(-1)
}

/// `getppid()`: the PID of the parent process (of the thread group). Cannot fail.
pub(super) fn getppid() -> libc::pid_t {
    // SAFETY: no arguments; cannot fail.
    let pid = unsafe { libc::syscall(libc::SYS_getppid) };
    libc::pid_t::try_from(pid).unwrap_or(-1)
}

/// `kill(getpid(), signal)`: a process-directed signal to the calling process, as the
/// kernel sends the parent-death signal. For the child side.
///
/// # Errors
///
/// `EINVAL` for a number that is not a signal.
pub(super) fn kill_self(signal: libc::c_int) -> Result<(), Errno> {
    let pid = getpid();
    // SAFETY: integer arguments; `pid` is our own (positive) PID, never a group.
    check(unsafe {
        libc::syscall(
            libc::SYS_kill,
            libc::c_long::from(pid),
            libc::c_long::from(signal),
        )
    })
    .map(drop)
}

/// Serializes the credential-changing spawns of this process (see [`KeepDumpable`]).
static DUMPABLE: Mutex<()> = Mutex::new(());

/// Keeps the process's dumpable flag across a spawn whose child changes its credentials.
///
/// The flag lives in the memory descriptor, and the kernel resets it (to
/// `fs.suid_dumpable`, 0 by default) when a task's effective or filesystem IDs change. A
/// vfork-style child (`CLONE_VM`) shares our memory descriptor until it execs, so its
/// `setuid`/`setgid` would leave the *parent* non-dumpable: no core dumps, `/proc/<pid>`
/// files owned by root, no ptrace by the same user. This reads the flag before the clone
/// and, when dropped after the child has exec'd or exited, puts it back if it changed.
/// Other threads may see the reset flag for that short window. Credential-changing spawns
/// are serialized, so that one cannot save the flag another one's child has just reset.
pub(super) struct KeepDumpable {
    before: libc::c_int,
    _serial: MutexGuard<'static, ()>,
}

impl KeepDumpable {
    pub(super) fn new() -> KeepDumpable {
        let serial = DUMPABLE.lock().unwrap_or_else(PoisonError::into_inner);
        KeepDumpable {
            before: dumpable(),
            _serial: serial,
        }
    }
}

impl Drop for KeepDumpable {
    fn drop(&mut self) {
        // PR_SET_DUMPABLE takes 0 or 1 only; a 2 (`suid_dumpable` = 2) can only have come
        // back as 2.
        if matches!(self.before, 0 | 1) && dumpable() != self.before {
            // SAFETY: integer arguments only; 0 and 1 are valid values.
            unsafe {
                libc::prctl(
                    libc::PR_SET_DUMPABLE,
                    libc::c_ulong::from(self.before.unsigned_abs()),
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            };
        }
    }
}

/// `prctl(PR_GET_DUMPABLE)` (-1 if it fails).
fn dumpable() -> libc::c_int {
    // SAFETY: integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_GET_DUMPABLE,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    }
}
