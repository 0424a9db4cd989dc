//! What a [`Reaper`](super::Reaper) hands out: entry [`Key`]s, [`Exit`]s with the [`Watched`] handle given
//! back, and the [`EntryError`] that names the entry an error belongs to.

use std::fmt;
use std::io;
use std::process::ExitStatus;

use crate::{PidFd, Process};

/// Identifies one entry of a [`Reaper`](super::Reaper), returned by [`Reaper::add`](super::Reaper::add) and
/// [`Reaper::add_pidfd`](super::Reaper::add_pidfd). Keys are never reused within one reaper, so a stale key can never
/// name another entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub(super) u64);

impl Key {
    /// The key as a number (unique within its reaper, never 0).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// The payload of an error [`Reaper::next_exit`](super::Reaper::next_exit) returns about one entry: which entry
/// failed (its [`Key`], to [`Reaper::remove`](super::Reaper::remove) it) and the underlying error.
///
/// The `io::Error` keeps the underlying error's [`io::ErrorKind`]; get the rest with
/// [`EntryError::of`]:
///
/// ```no_run
/// use pidfd_core::{EntryError, Reaper};
///
/// # fn main() -> std::io::Result<()> {
/// let mut reaper: Reaper<&str> = Reaper::new()?;
/// // ... add processes ...
/// match reaper.next_exit(None) {
///     Ok(exit) => println!("{exit:?}"),
///     Err(error) => match EntryError::of(&error) {
///         Some(entry) => {
///             eprintln!("entry {:?} failed: {}", entry.key(), entry.error());
///             reaper.remove(entry.key()); // stop seeing this error
///         }
///         None => return Err(error), // the reaper itself failed (epoll_wait)
///     },
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct EntryError {
    key: Key,
    error: io::Error,
}

impl EntryError {
    /// Wraps `error` about the entry `key` into an `io::Error` of the same kind.
    pub(super) fn wrap(key: Key, error: io::Error) -> io::Error {
        io::Error::new(error.kind(), EntryError { key, error })
    }

    /// The entry payload of an error from [`Reaper::next_exit`](super::Reaper::next_exit) or
    /// [`Reaper::try_next_exit`](super::Reaper::try_next_exit), or `None` for an error of the reaper itself (`epoll_wait`).
    pub fn of(error: &io::Error) -> Option<&EntryError> {
        error.get_ref()?.downcast_ref::<EntryError>()
    }

    /// The entry that failed.
    pub fn key(&self) -> Key {
        self.key
    }

    /// The underlying error (with its errno, e.g. from the reaping `waitid`).
    pub fn error(&self) -> &io::Error {
        &self.error
    }
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reaper entry {}: {}", self.key.0, self.error)
    }
}

impl std::error::Error for EntryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The handle an entry was added with, given back by [`Reaper::remove`](super::Reaper::remove) and in [`Exit`].
#[derive(Debug)]
pub enum Watched {
    /// Added with [`Reaper::add`](super::Reaper::add).
    Process(Process),
    /// Added with [`Reaper::add_pidfd`](super::Reaper::add_pidfd).
    PidFd(PidFd),
}

/// One process exit reported by [`Reaper::next_exit`](super::Reaper::next_exit).
#[derive(Debug)]
#[non_exhaustive]
pub struct Exit<T> {
    /// The key [`Reaper::add`](super::Reaper::add) returned for the entry.
    pub key: Key,
    /// The token the entry was added with.
    pub token: T,
    /// The exit status: `Some` for a child the reaper reaped (with `waitid`), or one whose
    /// status was cached by its [`Process`] or kept by the kernel (`PIDFD_INFO_EXIT`, Linux
    /// 6.15+) after someone else reaped it. `None`: the process has exited but its status
    /// cannot be known — it is not our child (so `waitid` says `ECHILD`), it was reaped
    /// elsewhere on a kernel that keeps no status, or its status does not decode (then its
    /// `Process` says why on every wait).
    pub status: Option<ExitStatus>,
    /// The handle the entry was added with (reaped, or exited and not ours to reap).
    pub watched: Watched,
}

impl From<Process> for Watched {
    fn from(process: Process) -> Self {
        Watched::Process(process)
    }
}

impl From<PidFd> for Watched {
    fn from(pidfd: PidFd) -> Self {
        Watched::PidFd(pidfd)
    }
}
