//! The syscalls a [`Process`](super::Process) makes, one function each, so that the loom
//! models can put a model kernel in their place (`model.rs`, under `--cfg pidfd_loom`).
//!
//! Pidfd-mode calls take the pidfd as a `&PidFd` view that [`super::shared_fd`] keeps open
//! for the call; pid-mode calls take the PID, which [`super::Process`] only passes while the
//! child is known not to be reaped.

use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use pidfd_sys::flags::{P_PID, WaitIdOptions};
use pidfd_sys::{Errno, siginfo_t};

use super::Reap;
use crate::exit_status::Reaped;
use crate::{PidFd, ResourceUsage, SignalFlags, sys};

/// `pidfd_send_signal(pidfd, signal, NULL, flags)`.
pub(super) fn send_signal(pidfd: &PidFd, signal: i32, flags: SignalFlags) -> io::Result<()> {
    pidfd.send_signal_with(signal, flags)
}

/// Reaps through the pidfd if the child exited (`waitid(P_PIDFD, WEXITED | WNOHANG)`).
pub(super) fn try_reap(pidfd: &PidFd) -> io::Result<Option<Reap>> {
    Ok(pidfd
        .try_reap()?
        .map(|(reaped, usage)| Reap { reaped, usage }))
}

/// Blocks (up to `timeout`) until the pidfd is readable: the child exited. Does not reap.
pub(super) fn wait_for_exit(pidfd: &PidFd, timeout: Option<Duration>) -> io::Result<bool> {
    pidfd.wait_for_exit(timeout)
}

/// Blocks in `waitid(P_PIDFD, WEXITED | WNOWAIT)` until the child can be reaped (retried on
/// `EINTR`): `Ok(true)`; `Ok(false)` for `ECHILD` (not our child, or reaped elsewhere);
/// `Unsupported` before Linux 5.4.
pub(super) fn wait_reapable(pidfd: &PidFd) -> io::Result<bool> {
    let mut info = siginfo_t::zeroed();
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
    match Errno::retry_on_intr(|| sys::pidfd::waitid_pidfd(pidfd.as_fd(), &mut info, options, None))
    {
        Ok(()) => Ok(true),
        Err(Errno::CHILD) => Ok(false),
        // Our own options on a pidfd: EINVAL means P_PIDFD itself is unknown (before 5.4).
        Err(Errno::INVAL) => Err(crate::error::refused(
            Errno::INVAL,
            "waitid(P_PIDFD)",
            "Linux 5.4",
        )),
        Err(errno) => Err(errno.into()),
    }
}

/// `kill(pid, signal)`; `pid > 0`.
pub(super) fn kill(pid: i32, signal: i32) -> io::Result<()> {
    sys::pidfd::kill(pid, signal)
}

/// `waitid(P_PID, pid, options)` retried on `EINTR`: the raw `siginfo_t`, zeroed when nothing
/// was waitable.
fn pid_waitid(
    pid: u32,
    options: WaitIdOptions,
    mut usage: Option<&mut libc::rusage>,
) -> io::Result<siginfo_t> {
    let mut info = siginfo_t::zeroed();
    Errno::retry_on_intr(|| {
        sys::pidfd::waitid_id(P_PID, pid, &mut info, options, usage.as_deref_mut())
    })?;
    Ok(info)
}

/// Reaps the child `pid` if it exited (`WEXITED | WNOHANG`), with its resource usage.
pub(super) fn pid_reap(pid: u32) -> io::Result<Option<Reap>> {
    let mut usage = sys::pidfd::zeroed_rusage();
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
    let info = pid_waitid(pid, options, Some(&mut usage))?;
    Ok(Reaped::from_siginfo(&info).map(|reaped| Reap {
        reaped,
        usage: Some(ResourceUsage::from_rusage(&usage)),
    }))
}

/// Whether the child `pid` has exited, without reaping it (`WEXITED | WNOWAIT`); blocks
/// until it has unless `nohang`. (Whether the status decodes matters once it is reaped.)
pub(super) fn pid_exited(pid: u32, nohang: bool) -> io::Result<bool> {
    let mut options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
    if nohang {
        options |= WaitIdOptions::NOHANG;
    }
    let peeked = pid_waitid(pid, options, None)?;
    Ok(!matches!(peeked.child_status(), Ok(None)))
}

/// The pause between two checks of a child that cannot be waited for by blocking.
pub(super) fn back_off(timeout: Duration) {
    sys::time::back_off(timeout);
}

/// Closes the pidfd: called exactly once, by whoever dropped its last reference.
#[allow(unsafe_code, reason = "the one close of the refcounted fd")]
pub(super) fn close(fd: RawFd) {
    // SAFETY: `fd` is open and owned by the handle's state, whose last reference the caller
    // just dropped (HandleState said Close): nothing else uses or closes it.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
}
