//! [`Process`]: one handle to a process, in pidfd mode or in pid mode for its whole life.
//!
//! The pidfd mode keeps the fd in a [`shared_fd::SharedFd`]: every use happens under a
//! transient reference, and the fd is closed exactly once, by whoever drops the last
//! reference (the only `unsafe` of this module tree: a non-owning view there, the close in
//! `os`). Pid mode sends `kill(2)` only to the stored PID (always > 0) and only under the
//! read side of the reap lock, while the child is known not to be reaped.
//!
//! Every syscall goes through `os` (one function each) and every synchronisation primitive
//! through [`crate::sync`], so that under `--cfg pidfd_loom` the models in `model.rs` drive
//! this very code against a model kernel that checks the invariants on each call.

#[cfg(pidfd_loom)]
mod model;
#[cfg(not(pidfd_loom))]
mod os;
mod pidfd_access;
mod shared_fd;

#[cfg(pidfd_loom)]
use model as os;

use std::fmt;
use std::io;
use std::process::ExitStatus;
use std::sync::TryLockError;
use std::time::Duration;

use pidfd_sys::Errno;

use crate::exit_status::Reaped;
use crate::pidfd::check_pid;
use crate::state::{Finish, Refused};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use crate::sys::time::Deadline;
use crate::{PidFd, ResourceUsage, SignalFlags, probe};
use shared_fd::{FdGuard, SharedFd};

/// How a [`Process`] refers to its process, fixed for the handle's whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Through a pidfd: signals can never reach another process, waits can time out
    /// without polling.
    PidFd,
    /// Through the PID alone (no pidfd support, or forced): safe against PID reuse only
    /// while the process is our unreaped child, which this handle guarantees by never
    /// signalling after it reaped the child.
    Pid,
}

enum Handle {
    PidFd(SharedFd),
    Pid {
        released: AtomicBool,
        /// Made by this process's spawn or fork: the PID certainly was our child, so an
        /// `ECHILD` from its wait means it was reaped behind this handle's back.
        own_child: bool,
    },
}

/// A handle to a process, usable from many threads at once (`Send + Sync`; share it with
/// `Arc`).
///
/// In [`Mode::PidFd`] every operation goes through the pidfd, held open by a reference
/// count so that no syscall ever runs on a closed (possibly reused) fd number. In
/// [`Mode::Pid`] (kernels before 5.4, seccomp sandboxes, `PIDFD_DISABLE=1`) the handle
/// keeps the PID safe by construction: it reaps the child itself, and it never signals after
/// the reaping wait returned (a lock and a done flag, as Go does).
///
/// Semantics, the same in both modes:
/// * after the child was reaped, [`Process::send_signal`] fails with `ESRCH` and
///   [`Process::wait`] returns the cached status again;
/// * a child of ours (from [`crate::Spawn`] or [`crate::fork()`]) that something else reaped
///   (a `waitpid(-1)` elsewhere, `SIGCHLD` ignored) is recorded as gone once a wait saw
///   `ECHILD`: signals fail with `ESRCH` from then on, in pid mode too;
/// * every operation started after [`Process::release`] fails with `EBADF` (a wait already
///   blocked may still complete; the pidfd-only methods say `Unsupported` in pid mode);
/// * concurrent waits are serialized; exactly one of them reaps.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use pidfd_core::Process;
///
/// # fn main() -> std::io::Result<()> {
/// let child = std::process::Command::new("sleep").arg("10").spawn()?;
/// let process = Arc::new(Process::find(child.id())?);
/// let killer = { let p = process.clone(); std::thread::spawn(move || p.kill()) };
/// let status = process.wait()?;
/// killer.join().unwrap()?;
/// assert_eq!(process.wait()?, status); // cached
/// assert_eq!(process.kill().unwrap_err().raw_os_error(), Some(libc::ESRCH));
/// # Ok(())
/// # }
/// ```
pub struct Process {
    pid: u32,
    handle: Handle,
    /// What the reaping wait returned (kept even when it does not decode); `Some` means
    /// done. Reaping happens only under the write lock;
    /// pid-mode signals and blocking waits hold the read lock.
    status: RwLock<Option<Reap>>,
}

/// What the reaping wait returned: the status (kept raw when it does not decode, see
/// [`Reaped`]) and the child's resource usage (`None` when the status came from
/// `PIDFD_INFO_EXIT` because the child was reaped elsewhere).
#[derive(Clone, Debug)]
struct Reap {
    reaped: Reaped,
    usage: Option<ResourceUsage>,
}

impl Reap {
    fn status(&self) -> io::Result<ExitStatus> {
        self.reaped.status()
    }
}

fn ebadf() -> io::Error {
    Errno::BADF.into()
}

fn esrch() -> io::Error {
    Errno::SRCH.into()
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Process {
    /// A handle to the process `pid`, in pidfd mode when the kernel allows it (see
    /// [`probe::features`]), else in pid mode.
    ///
    /// In pid mode only children can be waited for, and signals are safe from PID reuse
    /// only for children this handle waits for; prefer pidfd-mode kernels (5.4+) for
    /// processes that are not our children.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for pid 0 or above `i32::MAX`; `ESRCH` when no such process exists;
    /// errors of the probe (`EMFILE`).
    pub fn find(pid: u32) -> io::Result<Process> {
        let mode = if probe::features()?.pidfd_mode() {
            Mode::PidFd
        } else {
            Mode::Pid
        };
        Self::with_mode(pid, mode)
    }

    /// The former second name of [`Process::find`], which does the same.
    ///
    /// # Errors
    ///
    /// As [`Process::find`].
    #[deprecated(since = "0.1.0", note = "the same as `Process::find`")]
    pub fn from_child_pid(pid: u32) -> io::Result<Process> {
        Self::find(pid)
    }

    /// A handle in the given mode, whatever the probe says (e.g. to force pid mode).
    ///
    /// # Errors
    ///
    /// As [`Process::find`]; in pidfd mode, the errors of [`PidFd::open`].
    pub fn with_mode(pid: u32, mode: Mode) -> io::Result<Process> {
        match mode {
            Mode::PidFd => Ok(Self::from_pidfd_with_pid(PidFd::open(pid)?, pid)),
            Mode::Pid => {
                let raw = check_pid(pid)?;
                // Signal 0 only checks existence; raw > 0, so it never addresses a group.
                if let Err(error) = os::kill(raw, 0) {
                    if error.raw_os_error() != Some(libc::EPERM) {
                        return Err(error);
                    }
                }
                Ok(Self::pid_mode(pid, false))
            }
        }
    }

    /// A pid-mode handle for a child this process just created (spawn, fork), without the
    /// existence check of [`Process::with_mode`]: the child did run, and may already have
    /// been reaped by a `waitpid(-1)` thief or `SIGCHLD = SIG_IGN` (then `wait` reports
    /// `ECHILD`; signals fail with `ESRCH` or, if the PID was reused, reach the new owner —
    /// the pid-mode caveat of reaping behind this handle's back).
    pub(crate) fn from_spawned_pid(pid: u32) -> io::Result<Process> {
        check_pid(pid)?;
        Ok(Self::pid_mode(pid, true))
    }

    fn pid_mode(pid: u32, own_child: bool) -> Process {
        Process {
            pid,
            handle: Handle::Pid {
                released: AtomicBool::new(false),
                own_child,
            },
            status: RwLock::new(None),
        }
    }

    /// A pidfd-mode handle that takes ownership of `pidfd`.
    ///
    /// # Errors
    ///
    /// The errors of [`PidFd::pid`] (`ESRCH` if the process was already reaped).
    pub fn from_pidfd(pidfd: PidFd) -> io::Result<Process> {
        let pid = pidfd.pid()?;
        Ok(Self::from_pidfd_with_pid(pidfd, pid))
    }

    /// A pidfd-mode handle for a child just spawned with `CLONE_PIDFD`.
    pub(crate) fn from_spawned(pidfd: PidFd, pid: u32) -> Process {
        Self::from_pidfd_with_pid(pidfd, pid)
    }

    /// A pidfd-mode handle that takes ownership of `pidfd`, whose process has (or had) the
    /// PID `pid` in this process's PID namespace — for callers that already know it (e.g. the
    /// child said so itself), so that no syscall is made and nothing can fail. Signals and
    /// waits go through the pidfd; `pid` is only what [`Process::pid`] reports, so a wrong
    /// number there misreports the PID but never reaches another process.
    ///
    /// Needs Linux 5.4 for waiting (`waitid(P_PIDFD)`), 5.1 for signalling.
    pub fn from_pidfd_with_pid(pidfd: PidFd, pid: u32) -> Process {
        Process {
            pid,
            handle: Handle::PidFd(SharedFd::new(pidfd)),
            status: RwLock::new(None),
        }
    }

    /// The process ID (as it was when the handle was made).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The mode, fixed at construction.
    pub fn mode(&self) -> Mode {
        match self.handle {
            Handle::PidFd { .. } => Mode::PidFd,
            Handle::Pid { .. } => Mode::Pid,
        }
    }

    /// Takes a transient reference (pidfd mode); `None` in pid mode.
    #[inline]
    fn guard(&self) -> io::Result<Option<FdGuard<'_>>> {
        match &self.handle {
            Handle::PidFd(shared) => match shared.guard() {
                Ok(guard) => Ok(Some(guard)),
                Err(Refused::Released) => Err(ebadf()),
                Err(Refused::Done) => Err(esrch()),
            },
            Handle::Pid { released, .. } if released.load(Ordering::Acquire) => Err(ebadf()),
            Handle::Pid { .. } => Ok(None),
        }
    }

    fn is_released(&self) -> bool {
        match &self.handle {
            Handle::PidFd(shared) => shared.is_released(),
            Handle::Pid { released, .. } => released.load(Ordering::Acquire),
        }
    }

    /// Sends `signal` (0 checks existence): `pidfd_send_signal(2)` in pidfd mode (Linux
    /// 5.1+), `kill(2)` on the PID in pid mode — only while the child is known not to be
    /// reaped, so it can never reach a process that reused the PID.
    ///
    /// # Errors
    ///
    /// `ESRCH` once the child was reaped through this handle, or the process is gone —
    /// never another process; `EBADF` after release; `EPERM`; `InvalidInput` for an
    /// invalid signal.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let child = pidfd_core::Spawn::new("sleep").arg("10").spawn()?;
    /// child.send_signal(pidfd_core::sys::signal::SIGTERM)?;
    /// let status = child.wait()?;
    /// assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(15));
    /// // Reaped: every later signal is ESRCH, never another process's.
    /// assert_eq!(child.send_signal(0).unwrap_err().raw_os_error(), Some(libc::ESRCH));
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn send_signal(&self, signal: i32) -> io::Result<()> {
        self.send_signal_with(signal, SignalFlags::empty())
    }

    /// The former name of [`Process::send_signal`].
    ///
    /// # Errors
    ///
    /// As [`Process::send_signal`].
    #[deprecated(
        since = "0.1.0",
        note = "renamed `send_signal`, as PidFd and std name it"
    )]
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        self.send_signal(signal)
    }

    /// [`Process::send_signal`] with [`SignalFlags`] (which need Linux 6.9+ and a pidfd).
    ///
    /// # Errors
    ///
    /// As [`Process::send_signal`]; `Unsupported` for non-empty flags in pid mode;
    /// `Unsupported` ([`crate::error::is_unsupported`]) for flags an older kernel does not
    /// know.
    #[inline]
    pub fn send_signal_with(&self, signal: i32, flags: SignalFlags) -> io::Result<()> {
        if let Some(guard) = self.guard()? {
            return os::send_signal(&guard.pidfd(), signal, flags);
        }
        if !flags.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "signal flags need a pidfd; this handle is in pid mode",
            ));
        }
        // Pid mode: under the read lock, the child cannot be reaped (reaping takes the
        // write lock), so the PID cannot have been reused.
        let status = read(&self.status);
        if self.is_released() {
            return Err(ebadf());
        }
        if status.is_some() {
            return Err(esrch());
        }
        let pid = i32::try_from(self.pid).map_err(|_| ebadf())?;
        // pid > 0 (checked at construction); the process is not reaped (above).
        os::kill(pid, signal)
    }

    /// Sends `SIGKILL`.
    ///
    /// # Errors
    ///
    /// As [`Process::send_signal`].
    pub fn kill(&self) -> io::Result<()> {
        self.send_signal(pidfd_sys::signal::SIGKILL)
    }

    /// The cached status (its decoding error if it has none), or `EBADF` after release.
    fn cached(&self) -> io::Result<Option<ExitStatus>> {
        if self.is_released() {
            return Err(ebadf());
        }
        read(&self.status).as_ref().map(Reap::status).transpose()
    }

    /// Reaps without blocking, under the write lock; caches what was reaped and marks done
    /// *before* decoding it (a status that does not decode is kept, and reported by every
    /// later wait; in pid mode no signal is sent after the reap).
    fn reap_now(&self, guard: Option<&FdGuard<'_>>) -> io::Result<Option<ExitStatus>> {
        self.reap_locked(&mut write(&self.status), guard)
    }

    /// [`Process::reap_now`] under the write lock `status` the caller holds.
    fn reap_locked(
        &self,
        status: &mut Option<Reap>,
        guard: Option<&FdGuard<'_>>,
    ) -> io::Result<Option<ExitStatus>> {
        if let Some(reaped) = status.as_ref() {
            return reaped.status().map(Some);
        }
        let reaped = match guard {
            Some(guard) => os::try_reap(&guard.pidfd())?,
            None => match os::pid_reap(self.pid) {
                Err(error)
                    if error.raw_os_error() == Some(libc::ECHILD)
                        && matches!(
                            self.handle,
                            Handle::Pid {
                                own_child: true,
                                ..
                            }
                        ) =>
                {
                    // Our child, reaped behind this handle's back (a `waitpid(-1)`
                    // elsewhere, `SIGCHLD` ignored): its PID is free for reuse from now on.
                    // Recorded as done, so that no signal is ever sent to it again.
                    *status = Some(Reap {
                        reaped: Reaped::Lost,
                        usage: None,
                    });
                    return Err(error);
                }
                result => result?,
            },
        };
        let Some(reaped) = reaped else {
            return Ok(None);
        };
        let decoded = reaped.status();
        *status = Some(reaped);
        if let Handle::PidFd(shared) = &self.handle {
            // The caller's transient reference keeps the fd open until it is dropped.
            shared.finish(Finish::Done);
        }
        decoded.map(Some)
    }

    /// Waits for the child to exit and reaps it; later calls return the same status.
    ///
    /// # Errors
    ///
    /// `ECHILD` when it is not our child (pidfd mode: unless Linux 6.15+ kept the status of
    /// a child reaped elsewhere); `EBADF` after release.
    /// `InvalidData` when the child was reaped but its status has no `ExitStatus` form (mips:
    /// killed by signal 127 or 128): the reap is recorded all the same (the handle is done,
    /// `signal` fails with `ESRCH`) and every later wait returns that same error.
    pub fn wait(&self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.wait_step(None)? {
                return Ok(status);
            }
        }
    }

    /// One round of waiting: cached status, else block (up to `timeout`) until the child is
    /// waitable, then reap it. `Ok(None)`: not yet.
    fn wait_step(&self, timeout: Option<Duration>) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.cached()? {
            return Ok(Some(status));
        }
        let guard = match self.guard() {
            Ok(guard) => guard,
            // Done between the check and the borrow: the status is cached now.
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => return self.cached(),
            Err(error) => return Err(error),
        };
        match &guard {
            Some(guard) => {
                // Blocks outside any lock; the transient reference keeps the fd open.
                let pidfd = guard.pidfd();
                // Without a timeout, our child is waited for in `waitid(WNOWAIT)`, which
                // returns once it can be reaped: a pidfd is readable as soon as the process
                // exits, but a traced child's zombie is reapable only after its tracer
                // waited — polling would spin until then. Not our child (ECHILD): poll.
                let exited = match timeout {
                    None if os::wait_reapable(&pidfd)? => true,
                    _ => os::wait_for_exit(&pidfd, timeout)?,
                };
                if !exited {
                    return Ok(None);
                }
            }
            None => {
                // Pid mode: block without reaping, holding the read lock so that nobody can
                // reap (and the PID cannot be reused) while we wait on it.
                let status = read(&self.status);
                if let Some(reaped) = status.as_ref() {
                    return reaped.status().map(Some);
                }
                match os::pid_exited(self.pid, timeout.is_some()) {
                    Ok(true) => {}
                    Ok(false) => {
                        drop(status);
                        // Not waitable yet, and pid mode cannot block with a timeout: back
                        // off.
                        if let Some(timeout) = timeout {
                            os::back_off(timeout);
                        }
                        return Ok(None);
                    }
                    // Reaped behind our back (or never ours): let the reap record it.
                    Err(error) if error.raw_os_error() == Some(libc::ECHILD) => {}
                    Err(error) => return Err(error),
                }
            }
        }
        let reaped = self.reap_now(guard.as_ref())?;
        if reaped.is_none() {
            // Readable but not reapable (a traced child's zombie): back off instead of
            // spinning until the tracer waits.
            if let Some(timeout) = timeout.filter(|timeout| !timeout.is_zero()) {
                os::back_off(timeout);
            }
        }
        Ok(reaped)
    }

    /// [`Process::wait`], also returning the child's resource usage (which `waitid(2)`
    /// reports at the reap and std's `Child::wait` drops). Every call returns the usage
    /// recorded at the one reap: `None` when the status did not come from `waitid` but from
    /// `PIDFD_INFO_EXIT` (Linux 6.15+, the child was reaped elsewhere).
    ///
    /// # Errors
    ///
    /// As [`Process::wait`].
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let child = pidfd_core::Spawn::new("true").spawn()?;
    /// let (status, usage) = child.wait_with_rusage()?;
    /// assert!(status.success());
    /// assert!(usage.is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_with_rusage(&self) -> io::Result<(ExitStatus, Option<ResourceUsage>)> {
        let status = self.wait()?;
        let usage = read(&self.status).as_ref().and_then(|reap| reap.usage);
        Ok((status, usage))
    }

    /// Reaps the child if it has exited, without blocking — except when the child was reaped
    /// elsewhere on Linux 6.15+: then it waits for the kernel to publish the status
    /// (`PIDFD_INFO_EXIT`), about 0.2 s at the most.
    ///
    /// # Errors
    ///
    /// As [`Process::wait`].
    pub fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        self.wait_step(Some(Duration::ZERO))
    }

    /// [`Process::try_wait`] for a caller that already saw the pidfd readable (the
    /// [`crate::Reaper`]): goes straight to the non-blocking `waitid`, without the `poll(2)`
    /// that tells a running non-child (`ECHILD` either way) from an exited one — the caller
    /// checks readiness itself on `ECHILD`.
    ///
    /// Never blocks on the status lock in pid mode: a blocking [`Process::wait`] elsewhere
    /// holds its read side for the child's whole life (and reaps the child at its exit), so
    /// `Ok(None)` ("not yet") is returned while the lock is taken, and the caller — the
    /// `Reaper`'s pid-mode round, an async wait's re-check — looks again later. (In pidfd
    /// mode the lock is only ever held for a non-blocking step.)
    pub(crate) fn reap_if_exited(&self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.cached()? {
            return Ok(Some(status));
        }
        match self.guard() {
            Ok(Some(guard)) => self.reap_now(Some(&guard)),
            Ok(None) => match self.status.try_write() {
                Ok(mut status) => self.reap_locked(&mut status, None),
                Err(TryLockError::Poisoned(poisoned)) => {
                    self.reap_locked(&mut poisoned.into_inner(), None)
                }
                Err(TryLockError::WouldBlock) => Ok(None),
            },
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => self.cached(),
            Err(error) => Err(error),
        }
    }

    /// Waits up to `timeout` for the child to exit; `Ok(None)` if it still runs. In pid
    /// mode this polls (every 5 ms at most), since a PID cannot be waited on with a timeout.
    ///
    /// # Errors
    ///
    /// As [`Process::wait`].
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Deadline::after(Some(timeout));
        loop {
            let remaining = deadline.remaining();
            if let Some(status) = self.wait_step(remaining)? {
                return Ok(Some(status));
            }
            if remaining.is_some_and(|remaining| remaining.is_zero()) {
                return Ok(None);
            }
        }
    }

    /// Gives up the handle: the pidfd is closed as soon as no operation uses it, and every
    /// later operation fails with `EBADF`. Idempotent. The process itself is not affected.
    pub fn release(&self) {
        match &self.handle {
            Handle::PidFd(shared) => shared.finish(Finish::Released),
            Handle::Pid { released, .. } => released.store(true, Ordering::Release),
        }
    }
}

/// A view of a [`Process`]'s pidfd that keeps it open while it lives ([`Process::pidfd_ref`]).
#[cfg(any(feature = "tokio", feature = "async-io"))]
pub(crate) struct PidFdRef<'a> {
    /// Never closed (`ManuallyDrop`); valid while `_guard` lives (dropped after it).
    view: std::mem::ManuallyDrop<PidFd>,
    _guard: FdGuard<'a>,
}

#[cfg(any(feature = "tokio", feature = "async-io"))]
impl std::os::fd::AsFd for PidFdRef<'_> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.view.as_fd()
    }
}

#[cfg(any(feature = "tokio", feature = "async-io"))]
impl std::os::fd::AsRawFd for PidFdRef<'_> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.view.as_raw_fd()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.release();
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.pid)
            .field("mode", &self.mode())
            .field("released", &self.is_released())
            .field("status", &*read(&self.status))
            .finish()
    }
}

#[cfg(test)]
mod tests;
