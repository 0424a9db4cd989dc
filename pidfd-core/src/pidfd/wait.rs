//! Waiting on a [`PidFd`]: `waitid(P_PIDFD)` (Linux 5.4+), the status of a child reaped
//! elsewhere (`PIDFD_INFO_EXIT`, Linux 6.15+), and `poll(2)` for the exit of any process.

use std::io;
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::time::Duration;

use pidfd_sys::flags::WaitIdOptions;
use pidfd_sys::{Errno, siginfo_t};

use super::{PidFd, ProcessInfo, ResourceUsage};
use crate::exit_status::Reaped;
use crate::sys;
use crate::sys::time::Deadline;
use crate::{error, exit_status};

/// What one `waitid(P_PIDFD)` found ([`PidFd::waitid`]).
#[derive(Debug)]
enum Waited {
    /// `WNOHANG`, and the child has not exited.
    Running,
    /// Reaped by this `waitid` (so its `rusage`, if one was given, is filled in).
    Reaped(ExitStatus),
    /// Reaped elsewhere before (`ECHILD`); the status is the kernel's `PIDFD_INFO_EXIT`.
    ReapedElsewhere(ExitStatus),
}

impl PidFd {
    /// `waitid(P_PIDFD)`, retried on `EINTR`: see [`Waited`].
    fn waitid(
        &self,
        options: WaitIdOptions,
        rusage: Option<&mut libc::rusage>,
    ) -> io::Result<Waited> {
        let mut info = siginfo_t::zeroed();
        let mut rusage = rusage;
        let result = Errno::retry_on_intr(|| {
            sys::pidfd::waitid_pidfd(self.fd.as_fd(), &mut info, options, rusage.as_deref_mut())
        });
        match result {
            Ok(()) => Ok(match exit_status::from_siginfo(&info)? {
                Some(status) => Waited::Reaped(status),
                None => Waited::Running,
            }),
            Err(Errno::CHILD) => Ok(Waited::ReapedElsewhere(self.exit_status_after_theft()?)),
            Err(errno) => Err(waitid_error(errno)),
        }
    }

    /// `waitid` said `ECHILD`: someone else reaped the child (or it is not our child). The
    /// kernel may still know the status (`PIDFD_INFO_EXIT`, Linux 6.15+); otherwise `ECHILD`.
    ///
    /// A thief's `waitid` marks the zombie dead before the kernel stores its exit status for
    /// pidfds: in that short window our `waitid` already says `ECHILD` while `PIDFD_GET_INFO`
    /// still shows the process, with us as its parent, and no status. Retried briefly then
    /// (yields, then 1 ms sleeps, at most about 0.2 s in all).
    fn exit_status_after_theft(&self) -> io::Result<ExitStatus> {
        let own_pid = std::process::id();
        for attempt in 0..200 {
            match self.info() {
                Ok(ProcessInfo {
                    exit_status: Some(status),
                    ..
                }) => return Ok(status),
                Ok(info) if info.ppid == own_pid => {
                    if attempt < 20 {
                        std::thread::yield_now();
                    } else {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                _ => break,
            }
        }
        Err(Errno::CHILD.into())
    }

    /// Waits for the child to exit and reaps it (`waitid(P_PIDFD, WEXITED)`, Linux 5.4+).
    /// Retries on `EINTR`.
    ///
    /// # Errors
    ///
    /// `ECHILD` when the process is not our child, or was reaped elsewhere and the kernel
    /// does not keep its status (before Linux 6.15; from 6.15 the kept status is returned);
    /// `WouldBlock` for a [`OpenFlags::NONBLOCK`](super::OpenFlags::NONBLOCK) pidfd whose child is still running;
    /// `EBADF` when the fd is not a pidfd; `Unsupported` ([`crate::error::is_unsupported`])
    /// before Linux 5.4 — the kernel's `EINVAL` for the unknown `P_PIDFD`, which with this
    /// crate's own valid options and fd can mean nothing else (kept: [`crate::error::errno`]).
    pub fn wait(&self) -> io::Result<ExitStatus> {
        match self.waitid(WaitIdOptions::EXITED, None)? {
            Waited::Reaped(status) | Waited::ReapedElsewhere(status) => Ok(status),
            // A blocking WEXITED wait returns only with a child state change.
            Waited::Running => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "waitid returned no child",
            )),
        }
    }

    /// [`PidFd::wait`], also returning the child's resource usage (which `waitid(2)` reports
    /// but std's `Child::wait` drops). The usage is `None` when the status did not come from
    /// `waitid` but from `PIDFD_INFO_EXIT` (the child was reaped elsewhere).
    ///
    /// # Errors
    ///
    /// As [`PidFd::wait`].
    pub fn wait_with_rusage(&self) -> io::Result<(ExitStatus, Option<ResourceUsage>)> {
        let mut usage = sys::pidfd::zeroed_rusage();
        match self.waitid(WaitIdOptions::EXITED, Some(&mut usage))? {
            Waited::Reaped(status) => Ok((status, Some(ResourceUsage::from_rusage(&usage)))),
            Waited::ReapedElsewhere(status) => Ok((status, None)),
            Waited::Running => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "waitid returned no child",
            )),
        }
    }

    /// [`PidFd::try_wait`] for [`crate::Process`]: what was reaped, kept raw when it does not
    /// decode (see [`Reaped`]), so the caller can record the reap before decoding; with the
    /// child's resource usage (`None` when the status came from `PIDFD_INFO_EXIT`).
    #[cfg_attr(
        pidfd_loom,
        allow(dead_code, reason = "the loom models use a model kernel instead")
    )]
    pub(crate) fn try_reap(&self) -> io::Result<Option<(Reaped, Option<ResourceUsage>)>> {
        let mut info = siginfo_t::zeroed();
        let mut usage = sys::pidfd::zeroed_rusage();
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
        let result = Errno::retry_on_intr(|| {
            sys::pidfd::waitid_pidfd(self.fd.as_fd(), &mut info, options, Some(&mut usage))
        });
        match result {
            Ok(()) => Ok(Reaped::from_siginfo(&info)
                .map(|reaped| (reaped, Some(ResourceUsage::from_rusage(&usage))))),
            Err(Errno::CHILD) => Ok(Some((
                Reaped::Status(self.exit_status_after_theft()?),
                None,
            ))),
            Err(Errno::AGAIN) => Ok(None),
            Err(errno) => Err(waitid_error(errno)),
        }
    }

    /// Reaps the child if it has exited, without blocking.
    ///
    /// # Errors
    ///
    /// As [`PidFd::wait`], except that a running child gives `Ok(None)`.
    pub fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        match self.waitid(WaitIdOptions::EXITED | WaitIdOptions::NOHANG, None) {
            Ok(Waited::Reaped(status) | Waited::ReapedElsewhere(status)) => Ok(Some(status)),
            Ok(Waited::Running) => Ok(None),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Waits up to `timeout` for the child to exit; `Ok(None)` if it is still running then
    /// (it is left running). Uses `poll(2)` on the pidfd and re-checks with `WNOHANG`, so
    /// spurious readiness (e.g. under ptrace) and `EINTR` just continue the wait.
    ///
    /// # Errors
    ///
    /// As [`PidFd::wait`].
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Deadline::after(Some(timeout));
        let mut readable = false;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            let remaining = deadline.remaining().unwrap_or(Duration::ZERO);
            if remaining.is_zero() {
                return Ok(None);
            }
            if readable {
                // Readable, yet nothing to reap: a traced child's zombie, which we may reap
                // only once its tracer waited. Back off instead of spinning until then.
                sys::time::back_off(remaining);
            }
            readable = self.poll_readable(Some(remaining))?;
        }
    }

    /// Waits until the process exits — any process, not only children (the pidfd becomes
    /// readable when it exits; Linux 5.3+). Returns `true` when it has exited, `false` when
    /// `timeout` passed first. Does not reap.
    ///
    /// # Errors
    ///
    /// Errors from `poll(2)`; `EINTR` is retried.
    pub fn wait_for_exit(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let deadline = Deadline::after(timeout);
        loop {
            let remaining = deadline.remaining();
            if self.poll_readable(remaining)? {
                return Ok(true);
            }
            if remaining.is_some_and(|remaining| remaining.is_zero()) {
                return Ok(false);
            }
        }
    }

    /// One `poll(2)` for `POLLIN` with the timeout rounded up to whole milliseconds
    /// (`None`: forever). Returns whether the fd is readable; `EINTR` counts as "not yet".
    fn poll_readable(&self, timeout: Option<Duration>) -> io::Result<bool> {
        match sys::poll::readable(self.fd.as_fd(), timeout) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => Ok(false),
            result => result,
        }
    }
}

/// The error for a failed `waitid(P_PIDFD)`: `EINVAL` is the unknown `P_PIDFD` of a kernel
/// before 5.4 (this crate's options are valid, and its fd number is not negative; a
/// non-pidfd fd gives `EBADF`); anything else as is.
fn waitid_error(errno: Errno) -> io::Error {
    if errno == Errno::INVAL {
        error::refused(errno, "waitid(P_PIDFD)", "Linux 5.4")
    } else {
        errno.into()
    }
}
