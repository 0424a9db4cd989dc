//! The background reaper of the async `Child`s: one thread, started on first need, that
//! reaps what a dropped `Child` left behind — a child killed on drop that had not died yet,
//! and a child dropped without kill-on-drop while still running (an orphan, reaped once it
//! exits, as `tokio::process` and async-process do) — so a drop never blocks a runtime's
//! thread, and no zombie is left.
//!
//! The thread owns a [`Reaper`] (pidfd children: one epoll fd; pid-mode children: its
//! `SIGCHLD` fallback) and sleeps in `poll(2)` on the Reaper's epoll fd and an eventfd that
//! each hand-off writes: it wakes for an exit or a hand-off, and otherwise only as often as
//! the Reaper's pid-mode entries ask ([`Reaper`], "Pid mode").
//!
//! A process made by `fork` (with [`crate::fork`], say) has no copy of its parent's thread:
//! the queue remembers which process started its thread, and a forked child starts its own.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::sys::{eventfd, poll};
use crate::{EntryError, Process, Reaper};

/// After an error of `poll(2)` or `epoll_wait(2)` itself: the pause before the next try.
const AFTER_ERROR: Duration = Duration::from_millis(10);

/// Why a process is handed off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Adoption {
    /// Sent `SIGKILL`: it exits as soon as it is scheduled.
    Killed,
    /// Left running: it may run for as long as it likes.
    Orphan,
}

/// The channel to the thread.
struct Queue {
    /// The process that started the thread (a forked child has no copy of it).
    owner: u32,
    sender: Sender<Process>,
    /// Written after each hand-off: wakes the thread.
    wake: Arc<OwnedFd>,
}

static QUEUE: Mutex<Option<Queue>> = Mutex::new(None);

/// Hands `process` (not yet reaped) to the background thread, starting it on first use (or
/// first use in this process). Where no thread can be started (`EAGAIN` from `clone`, no fd
/// left), a killed process is waited for here, blocking — the only case in which a drop
/// blocks, and briefly —, and an orphan is dropped unreaped, as std's `Child` leaves it.
pub(crate) fn adopt(process: Process, why: Adoption) {
    if let Some(process) = send(process) {
        if why == Adoption::Killed {
            drop(process.wait());
        }
    }
}

/// Sends `process` to this process's thread; gives it back (`Some`) when there is none.
fn send(process: Process) -> Option<Process> {
    let mut queue = QUEUE.lock().unwrap_or_else(PoisonError::into_inner);
    let own = std::process::id();
    if queue.as_ref().is_none_or(|queue| queue.owner != own) {
        *queue = start(own);
    }
    let Some(queue) = queue.as_ref() else {
        return Some(process);
    };
    if let Err(unsent) = queue.sender.send(process) {
        return Some(unsent.0);
    }
    // A full counter (EAGAIN) is a wake-up pending already.
    drop(eventfd::add(queue.wake.as_fd(), 1));
    None
}

/// Starts the thread of process `owner`; `None` if it cannot be.
fn start(owner: u32) -> Option<Queue> {
    let wake = Arc::new(eventfd::nonblocking().ok()?);
    let reaper = Reaper::<()>::new().ok()?;
    let (sender, receiver) = mpsc::channel();
    let thread_wake = Arc::clone(&wake);
    std::thread::Builder::new()
        .name("pidfd-reaper".into())
        .spawn(move || run(reaper, &receiver, &thread_wake))
        .ok()?;
    Some(Queue {
        owner,
        sender,
        wake,
    })
}

/// The thread: reaps what it is given, for the life of the process.
fn run(mut reaper: Reaper<()>, receiver: &Receiver<Process>, wake: &OwnedFd) {
    loop {
        // Every hand-off first (the eventfd was reset before this look: none is missed).
        loop {
            match receiver.try_recv() {
                // An error drops the handle: nothing more can be done for it (ENOSPC).
                Ok(process) => drop(reaper.add(process, ())),
                Err(TryRecvError::Empty) => break,
                // Replaced after a fork: this is the forked child's stale copy.
                Err(TryRecvError::Disconnected) if reaper.is_empty() => return,
                Err(TryRecvError::Disconnected) => break,
            }
        }
        // Then every exit there is.
        loop {
            match reaper.try_next_exit() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(error) => match EntryError::of(&error) {
                    // Give up on that entry (its handle is dropped), not on the others.
                    Some(entry) => drop(reaper.remove(entry.key())),
                    // epoll_wait itself failed: back off rather than spin.
                    None => {
                        std::thread::sleep(AFTER_ERROR);
                        break;
                    }
                },
            }
        }
        // Then sleep until a hand-off or an exit (pid-mode entries: or their re-check).
        match poll::poll_in(&[wake.as_fd(), reaper.as_fd()], reaper.pid_mode_recheck()) {
            Ok(revents) => {
                if revents.first().is_some_and(|&events| events != 0) {
                    drop(eventfd::take(wake.as_fd()));
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => std::thread::sleep(AFTER_ERROR),
        }
    }
}
