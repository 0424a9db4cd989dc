//! What a pidfd-mode [`Process`] can do through its pidfd beyond signalling and waiting:
//! borrow it ([`Process::with_pidfd`]), ask the kernel about the process, fetch one of its
//! fds, compare identities, hand out an independent duplicate. In pid mode (no pidfd) each
//! says `Unsupported`.

use std::io;

use super::{Mode, Process, ebadf};
use crate::{PidFd, ProcessIdentity, ProcessInfo};

impl Process {
    /// Runs `f` with the pidfd, held open for the duration (pidfd mode only). This is how to
    /// hand the fd to `poll`, `epoll` or `setns` without racing [`Process::release`].
    ///
    /// # Errors
    ///
    /// `Unsupported` in pid mode; `ESRCH` once the child was reaped (the fd is closed then);
    /// `EBADF` after release.
    pub fn with_pidfd<T>(&self, f: impl FnOnce(&PidFd) -> T) -> io::Result<T> {
        if self.mode() == Mode::Pid {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this handle is in pid mode",
            ));
        }
        let guard = self.guard()?.ok_or_else(ebadf)?;
        Ok(f(&guard.pidfd()))
    }

    /// What the kernel knows about the process: [`PidFd::info`] (Linux 6.13+) through the
    /// handle's pidfd.
    ///
    /// # Errors
    ///
    /// `Unsupported` in pid mode and before Linux 6.13; `ESRCH` once the child was reaped
    /// through this handle (its pidfd is closed then: use the status [`Process::wait`]
    /// returns); `EBADF` after release.
    pub fn info(&self) -> io::Result<ProcessInfo> {
        self.with_pidfd(PidFd::info)?
    }

    /// `pidfd_getfd(2)`: a duplicate of the process's fd `target_fd` (Linux 5.6+), as
    /// [`PidFd::get_fd`].
    ///
    /// # Errors
    ///
    /// As [`PidFd::get_fd`]; `Unsupported` in pid mode; `ESRCH` once reaped; `EBADF` after
    /// release.
    pub fn get_fd(&self, target_fd: std::os::fd::RawFd) -> io::Result<std::os::fd::OwnedFd> {
        self.with_pidfd(|pidfd| pidfd.get_fd(target_fd))?
    }

    /// The process's identity for the life of the system ([`PidFd::identity`]: the pidfs
    /// inode, Linux 6.9+, 64-bit): hashable, and never shared by another process, unlike
    /// the PID.
    ///
    /// # Errors
    ///
    /// `Unsupported` in pid mode, on 32-bit targets and before Linux 6.9; `ESRCH` once the
    /// child was reaped through this handle (take it before waiting to keep it); `EBADF`
    /// after release.
    pub fn identity(&self) -> io::Result<ProcessIdentity> {
        self.with_pidfd(PidFd::identity)?
    }

    /// Whether two handles refer to the same process (by [`Process::identity`]).
    ///
    /// # Errors
    ///
    /// As [`Process::identity`], for either handle.
    pub fn is_same_process(&self, other: &Process) -> io::Result<bool> {
        Ok(self.identity()? == other.identity()?)
    }

    /// A new, independently owned pidfd for the same process (`F_DUPFD_CLOEXEC`, fd >= 3),
    /// to hand to `AsyncFd`, mio or `setns`. It stays open after this handle reaps or is
    /// released, and always names this process: once the process is reaped, signals through
    /// it fail with `ESRCH`. Waiting through the clone reaps behind this handle's back: its
    /// own later wait then recovers the status only on Linux 6.15+ (`PIDFD_INFO_EXIT`), else
    /// reports `ECHILD` — poll the clone for readability and wait through the handle instead.
    ///
    /// # Errors
    ///
    /// `Unsupported` in pid mode; `ESRCH` once the child was reaped through this handle;
    /// `EBADF` after release; `EMFILE`/`ENFILE`.
    pub fn try_clone_pidfd(&self) -> io::Result<PidFd> {
        use std::os::fd::AsFd;
        let owned = self.with_pidfd(|pidfd| pidfd.as_fd().try_clone_to_owned())??;
        Ok(PidFd::from(owned))
    }

    /// The pidfd, held open (a transient reference) for as long as the returned view lives:
    /// what the async waits of `crate::aio` register with a runtime's reactor, without a
    /// duplicate. The view must be dropped after the registration is gone (it is, inside
    /// the runtime's `AsyncFd`/`Async`).
    ///
    /// # Errors
    ///
    /// As [`Process::with_pidfd`].
    #[cfg(any(feature = "tokio", feature = "async-io"))]
    pub(crate) fn pidfd_ref(&self) -> io::Result<super::PidFdRef<'_>> {
        if self.mode() == Mode::Pid {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this handle is in pid mode",
            ));
        }
        let guard = self.guard()?.ok_or_else(ebadf)?;
        Ok(super::PidFdRef {
            view: guard.pidfd(),
            _guard: guard,
        })
    }
}
