//! [`fork`]: `fork(2)` that also returns a pidfd for the child — the `pidfd_fork` glibc never
//! shipped.

#![allow(unsafe_code, reason = "a raw fork-style clone")]

use std::io;

use pidfd_sys::Errno;

use crate::spawn::launch::{ForkSyscall, fork_clone};
use crate::sys::refused;
use crate::{PidFd, Process};

/// Which side of a [`fork`] this is.
#[derive(Debug)]
pub enum Fork {
    /// In the child.
    Child,
    /// In the parent, with the child's handle (pidfd mode when the kernel allows it).
    Parent(Process),
}

/// `fork(2)` returning a [`Process`] whose pidfd comes from the clone itself
/// (`clone3(CLONE_PIDFD)`, else `clone(CLONE_PIDFD)`, Linux 5.2+), so it refers to the child
/// even if something else reaps children. Where both are refused (`ENOSYS`, `EPERM`,
/// `EINVAL`: old kernels, qemu-user, seccomp), and where the probe refuses pidfds
/// (`PIDFD_DISABLE=1`: then no pidfd syscall is made at all), it uses libc's `fork()` and a
/// pid-mode handle. On sparc/sparc64 it always does: there is no clone3, and a raw `clone` cannot
/// tell the child from the parent without inline assembly (see
/// [`pidfd_sys::syscalls::clone`]).
///
/// # Safety
///
/// As for `fork(2)` in a multithreaded program, and more: the child is a raw clone, so
/// glibc's `pthread_atfork` handlers do not run in it and libc's cached thread ID is the
/// parent's. Until it calls `execve` or `_exit`, the child may only call async-signal-safe
/// functions (no allocation, no locks, no `println!`, no panics). It must end with `execve`
/// or `libc::_exit`, never by returning into code that assumes it is the parent.
///
/// # Errors
///
/// `EAGAIN`/`ENOMEM` as for `fork(2)`; `EMFILE` when no fd is left for the pidfd.
///
/// # Example
///
/// ```
/// use pidfd_core::{fork, Fork};
///
/// # fn main() -> std::io::Result<()> {
/// // SAFETY: the child only calls `_exit`, which is async-signal-safe.
/// match unsafe { fork()? } {
///     Fork::Child => unsafe { libc::_exit(3) },
///     Fork::Parent(child) => assert_eq!(child.wait()?.code(), Some(3)),
/// }
/// # Ok(())
/// # }
/// ```
pub unsafe fn fork() -> io::Result<Fork> {
    // Where pidfds are refused (PIDFD_DISABLE=1, an old kernel, a seccomp filter, as the
    // probe found for this thread): no pidfd syscall at all, a pid-mode handle.
    if !crate::probe::features()?.pidfd_mode() {
        // SAFETY: the caller takes on fork's rules for the child.
        return unsafe { libc_fork() };
    }
    let exit_signal = u64::try_from(pidfd_sys::signal::SIGCHLD).map_err(|_| Errno::INVAL)?;
    let mut pidfd: libc::c_int = -1;
    // SAFETY: fork-like clone3 (no shared memory); the caller takes on fork's rules for the
    // child. `pidfd` is a live int.
    let mut result = unsafe { fork_clone(ForkSyscall::Clone3, exit_signal, None, &mut pidfd) };
    if result.is_err_and(refused) {
        pidfd = -1;
        // SAFETY: as above, with legacy clone.
        result = unsafe { fork_clone(ForkSyscall::Clone, exit_signal, None, &mut pidfd) };
    }
    let pid = match result {
        Ok(0) => return Ok(Fork::Child),
        Ok(pid) => pid,
        // SAFETY: the caller takes on fork's rules for the child.
        Err(errno) if refused(errno) => return unsafe { libc_fork() },
        Err(errno) => return Err(errno.into()),
    };
    let pid = u32::try_from(pid).map_err(|_| Errno::INVAL)?;
    // SAFETY: a number above 2 was created for us by the clone (CLONE_PIDFD).
    match unsafe { PidFd::from_clone(pidfd, pid) } {
        Some(pidfd) => Ok(Fork::Parent(Process::from_spawned(pidfd, pid))),
        // The kernel ignored CLONE_PIDFD (before 5.2), or an emulator wrote a number that is
        // no pidfd (qemu-user 8+: 0): a pid-mode handle for our child.
        None => Ok(Fork::Parent(Process::from_spawned_pid(pid)?)),
    }
}

/// libc's `fork()` and a pid-mode handle for the child.
///
/// # Safety
///
/// As [`fork`].
unsafe fn libc_fork() -> io::Result<Fork> {
    // SAFETY: plain fork; the caller takes on fork's rules for the child.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Fork::Child),
        pid => {
            let pid = u32::try_from(pid).map_err(|_| Errno::INVAL)?;
            Ok(Fork::Parent(Process::from_spawned_pid(pid)?))
        }
    }
}
