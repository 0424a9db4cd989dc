//! The pid-mode fallback of the [`Reaper`]: children without a pidfd (kernels before 5.3,
//! seccomp, `PIDFD_DISABLE=1`) are watched through one `SIGCHLD` signalfd, as tokio's
//! `unix/reap.rs` does beside its `pidfd_reaper.rs`, and every pid-mode entry is looked at
//! by PID on each wake-up, and every [`PID_MODE_RECHECK`] at the most (in case `SIGCHLD` went
//! to a thread that does not block it, and never reached the signalfd).
//!
//! [`PID_MODE_RECHECK`]: crate::sys::time::PID_MODE_RECHECK

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::{Entry, Key, Reaper, SIGCHLD_KEY, Watched, epoll_ctl};
use crate::Process;
use crate::sys::{epoll, sigset};

/// A non-blocking signalfd for `SIGCHLD` (the caller's mask is left alone). Also the
/// pid-mode fallback of the async waits (`crate::aio`).
pub(crate) fn sigchld_fd() -> io::Result<OwnedFd> {
    sigset::SigSet::new(&[pidfd_sys::signal::SIGCHLD])?.signalfd()
}

/// Consumes the `SIGCHLD`s queued on the non-blocking signalfd `fd` (stops at `EAGAIN`, or
/// any other error); whether there was one.
pub(crate) fn drain_sigchld_fd(fd: BorrowedFd<'_>) -> bool {
    let mut any = false;
    while sigset::read_signal(fd).is_ok() {
        any = true;
    }
    any
}

impl<T> Reaper<T> {
    /// [`Reaper::add`] for a pid-mode process.
    pub(super) fn add_by_pid(&mut self, process: Process, token: T) -> io::Result<Key> {
        let exited = match process.try_wait() {
            Ok(status) => status.is_some(),
            Err(error) if error.raw_os_error() == Some(libc::ECHILD) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "Reaper cannot watch a pid-mode Process that is not our child",
                ));
            }
            Err(error) => return Err(error),
        };
        if self.sigchld.is_none() {
            let fd = sigchld_fd()?;
            epoll_ctl(&self.epoll, epoll::CTL_ADD, fd.as_fd(), SIGCHLD_KEY, false)?;
            self.sigchld = Some(fd);
        }
        let key = self.new_key();
        if exited {
            self.signal_pending()?;
            self.pending.push_back(key);
        } else {
            self.pid_mode.insert(key);
        }
        self.entries.insert(
            key,
            Entry {
                token,
                watched: Watched::Process(process),
            },
        );
        Ok(Key(key))
    }

    /// Consumes the queued `SIGCHLD`s (the signalfd is non-blocking: stops at `EAGAIN`).
    pub(super) fn drain_sigchld(&self) {
        if let Some(fd) = &self.sigchld {
            drain_sigchld_fd(fd.as_fd());
        }
    }

    /// Starts a round over the pid-mode entries when the last one is done: they have no
    /// readiness of their own, so each is looked at every round.
    pub(super) fn start_pid_round(&mut self) {
        if self.pid_round.is_empty() {
            self.pid_round.extend(self.pid_mode.iter().copied());
        }
    }
}
