//! The process-wide registry: the channel every child sends over, and the pidfds received
//! from children, by PID.
//!
//! Lookups (and every `create_pidfd(true)`) drain the channel into the map, then purge the
//! entries whose process is gone, so the map holds an fd only for processes that still exist
//! (running, or exited and not reaped yet).

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pidfd_core::{PidFd, probe};

use crate::channel::{
    self, Channel, Hook, Message, STATUS_DISABLED, STATUS_OK, STATUS_RETRACTED, STATUS_UNSUPPORTED,
};

/// What a child sent.
#[derive(Debug)]
enum Entry {
    /// Its pidfd (verified to name a live process with this PID when it was stored).
    PidFd(PidFd),
    /// Why it has none: an errno from the child, or a negative preset.
    Failed(i32),
}

#[derive(Debug)]
struct State {
    /// Created by the first `create_pidfd(true)` that could (none yet after `EMFILE`).
    channel: Option<Arc<Channel>>,
    entries: BTreeMap<u32, Entry>,
}

static STATE: Mutex<State> = Mutex::new(State {
    channel: None,
    entries: BTreeMap::new(),
});

fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn is_esrch(error: &io::Error) -> bool {
    error.raw_os_error() == Some(libc::ESRCH)
}

/// The error for a child that has been reaped already.
fn reaped() -> io::Error {
    io::Error::from_raw_os_error(libc::ESRCH)
}

/// The error for a child spawned without `create_pidfd(true)`.
fn not_enabled() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "no pidfd for this child: create_pidfd(true) was not in effect on the Command that \
         spawned it (or the child's message was lost: the channel was full after hundreds \
         of spawns without a pidfd() or create_pidfd(true) call in between)",
    )
}

/// The error a child reported instead of a pidfd.
fn failure(status: i32) -> io::Error {
    match status {
        STATUS_UNSUPPORTED => io::Error::new(
            io::ErrorKind::Unsupported,
            "no pidfd was created for this child: pidfd_open(2) is unavailable (Linux older \
             than 5.3, or refused by a seccomp filter)",
        ),
        STATUS_DISABLED => io::Error::new(
            io::ErrorKind::Unsupported,
            "no pidfd was created for this child: pidfds are disabled by PIDFD_DISABLE",
        ),
        errno => io::Error::from_raw_os_error(errno),
    }
}

/// Whether `pidfd` still names the live (or zombie) process `pid`.
fn names_live(pidfd: &PidFd, pid: u32) -> bool {
    match pidfd.pid() {
        Ok(actual) => actual == pid,
        Err(error) if is_esrch(&error) => false,
        // No answer (e.g. no PIDFD_GET_INFO and no /proc): ask waitid about the PID.
        Err(_) => channel::is_unreaped_child(pid),
    }
}

impl State {
    /// Stores one message. A pidfd whose process is already gone is dropped; a live one
    /// replaces whatever was stored under its PID (that can only be an older, reaped
    /// process); a failure never replaces a live pidfd.
    fn insert(&mut self, message: Message) {
        let Message { pid, status, pidfd } = message;
        if status == STATUS_RETRACTED {
            // Sent by the same child after its announcement (one socket keeps one sender's
            // order): forget it.
            self.entries.remove(&pid);
            return;
        }
        if let Some(fd) = pidfd {
            let pidfd = PidFd::from(fd);
            match pidfd.pid() {
                Ok(actual) => {
                    self.entries.insert(actual, Entry::PidFd(pidfd));
                }
                Err(error) if is_esrch(&error) => {}
                Err(_) => {
                    if !self.has_live_pidfd(pid) {
                        self.entries.insert(pid, Entry::PidFd(pidfd));
                    }
                }
            }
        } else if status != STATUS_OK && !self.has_live_pidfd(pid) {
            self.entries.insert(pid, Entry::Failed(status));
        }
    }

    fn has_live_pidfd(&self, pid: u32) -> bool {
        matches!(self.entries.get(&pid), Some(Entry::PidFd(fd)) if names_live(fd, pid))
    }

    /// Removes the entries of processes that are gone: pidfds that one `poll` finds readable
    /// (exited) and that no longer name their PID; failures whose PID is no unreaped child.
    fn purge(&mut self) {
        let dead: Vec<u32> = {
            let pidfds: Vec<BorrowedFd<'_>> = self
                .entries
                .values()
                .filter_map(|entry| match entry {
                    Entry::PidFd(fd) => Some(fd.as_fd()),
                    Entry::Failed(_) => None,
                })
                .collect();
            let mut exited = channel::exited(&pidfds).into_iter();
            self.entries
                .iter()
                .filter(|&(&pid, ref entry)| match entry {
                    Entry::PidFd(fd) => exited.next().unwrap_or(true) && !names_live(fd, pid),
                    Entry::Failed(_) => !channel::is_unreaped_child(pid),
                })
                .map(|(&pid, _)| pid)
                .collect()
        };
        for pid in dead {
            self.entries.remove(&pid);
        }
    }

    /// Receives everything queued on the channel, then purges.
    fn drain(&mut self) {
        if let Some(channel) = self.channel.clone() {
            channel.receive(|message| self.insert(message));
        }
        self.purge();
    }
}

/// `create_pidfd(enable)` on `command` (see the crate docs): appends an announcing hook, or
/// (after a `true` anywhere in this process) a retracting one.
pub(crate) fn create_pidfd(command: &mut Command, enable: bool) {
    let mut state = lock();
    if !enable {
        // Nothing to retract before any create_pidfd(true): keep std's posix_spawn path.
        if let Some(channel) = state.channel.clone() {
            drop(state);
            channel::install(command, channel, Hook::Retract);
        }
        return;
    }
    // Messages of children whose Child was dropped do not pile up on the socket.
    state.drain();
    let channel = match state.channel.clone() {
        Some(channel) => channel,
        // No socket (EMFILE): nothing is installed, a later create_pidfd(true) tries again;
        // until then pidfd() reports NotFound for this Command's children.
        None => match Channel::new() {
            Ok(channel) => state.channel.insert(Arc::new(channel)).clone(),
            Err(_) => return,
        },
    };
    drop(state);
    let preset = match probe::features() {
        Ok(features) if features.disabled_by_env => STATUS_DISABLED,
        Ok(features) if !features.pidfd_open => STATUS_UNSUPPORTED,
        // (A failed probe, e.g. EMFILE: let the child try; it reports its own errno.)
        _ => STATUS_OK,
    };
    channel::install(command, channel, Hook::Announce { preset });
}

/// Runs `f` on the entry map after draining the channel, for the child `pid`.
fn with_entry<T>(
    pid: u32,
    f: impl FnOnce(&mut BTreeMap<u32, Entry>) -> io::Result<T>,
) -> io::Result<T> {
    let mut state = lock();
    state.drain();
    let result = match state.entries.get(&pid) {
        Some(Entry::PidFd(pidfd)) => match pidfd.pid() {
            Ok(actual) if actual == pid => f(&mut state.entries),
            Ok(_) => {
                state.entries.remove(&pid);
                Err(reaped())
            }
            Err(error) if is_esrch(&error) => {
                state.entries.remove(&pid);
                Err(reaped())
            }
            Err(error) => Err(error),
        },
        Some(Entry::Failed(status)) => Err(failure(*status)),
        None => Err(if channel::is_unreaped_child(pid) {
            not_enabled()
        } else {
            reaped()
        }),
    };
    drop(state);
    result
}

/// A duplicate (`F_DUPFD_CLOEXEC`) of the stored pidfd of the child `pid`.
pub(crate) fn pidfd(pid: u32) -> io::Result<PidFd> {
    with_entry(pid, |entries| match entries.get(&pid) {
        Some(Entry::PidFd(pidfd)) => pidfd.as_fd().try_clone_to_owned().map(PidFd::from),
        _ => Err(not_enabled()),
    })
}

/// The stored pidfd of the child `pid`, removed from the registry.
pub(crate) fn take(pid: u32) -> io::Result<PidFd> {
    with_entry(pid, |entries| match entries.remove(&pid) {
        Some(Entry::PidFd(pidfd)) => Ok(pidfd),
        _ => Err(not_enabled()),
    })
}
