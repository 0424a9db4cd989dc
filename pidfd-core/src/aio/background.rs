//! The background reaper of the async `Child`s: one thread, started on first need, that
//! reaps what a dropped `Child` left behind — a child killed on drop that had not died yet,
//! and a child dropped without kill-on-drop while still running (an orphan, reaped once it
//! exits, as `tokio::process` and async-process do) — so a drop does not wait for the
//! child, and leaves no zombie (except where the thread or its fds cannot be had: see
//! [`adopt`]).
//!
//! The thread owns a [`Reaper`] (pidfd children: one epoll fd and each child's pidfd;
//! pid-mode children: its `SIGCHLD` fallback) and sleeps in `poll(2)` on the Reaper's epoll
//! fd and an eventfd that each hand-off writes: it wakes for an exit or a hand-off, and
//! otherwise only as often as [`Reaper::recheck_after`] asks (every 50 ms while pid-mode
//! children are watched; a traced child's zombie costs nothing: see [`Reaper`]).
//!
//! A process made by `fork(2)` has no copy of its parent's thread: the queue sits in a
//! lock-free [`LeakedSlot`] that a `pthread_atfork` child handler empties (and that also
//! remembers which process started its thread), so a forked child starts its own. A thread
//! that died (it never should) is replaced the same way.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::Duration;

use super::sys::LeakedSlot;
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
    wake: OwnedFd,
}

static QUEUE: LeakedSlot<Queue> = LeakedSlot::new();

/// Hands `process` (not yet reaped) to the background thread, starting it on first use (or
/// first use in this process). Where no thread can be started (`EAGAIN` from `clone`, no fd
/// left for its eventfd or epoll fd), a killed process is waited for here, blocking (briefly:
/// it was killed; unbounded only for a child in an uninterruptible sleep or traced), and an
/// orphan is dropped unreaped, as std's `Child` leaves it. The same happens when three
/// threads in a row died before taking the hand-off (they never should).
pub(crate) fn adopt(process: Process, why: Adoption) {
    if let Some(process) = send(process) {
        if why == Adoption::Killed {
            drop(process.wait());
        }
    }
}

/// Sends `process` to this process's thread; gives it back (`Some`) when there is none.
fn send(mut process: Process) -> Option<Process> {
    let own = std::process::id();
    // A few tries: the queue found may belong to a thread that is gone (after a fork, the
    // parent's; or a thread that died), and another thread may replace it at the same time.
    for _ in 0..3 {
        let current = QUEUE.get();
        let queue = match current {
            Some(queue) if queue.owner == own => queue,
            _ => {
                let Some(fresh) = start(own) else {
                    return Some(process);
                };
                match QUEUE.replace(current, fresh) {
                    Ok(queue) => queue,
                    // Another thread replaced it first: use that one.
                    Err(lost) => {
                        retire(lost);
                        continue;
                    }
                }
            }
        };
        match queue.sender.send(process) {
            Ok(()) => {
                // A full counter (EAGAIN) is a wake-up pending already.
                drop(eventfd::add(queue.wake.as_fd(), 1));
                return None;
            }
            // Its thread is gone: start another (unless another sender did meanwhile).
            Err(unsent) => {
                process = unsent.0;
                let Some(fresh) = start(own) else {
                    return Some(process);
                };
                if let Err(lost) = QUEUE.replace(Some(queue), fresh) {
                    retire(lost);
                }
            }
        }
    }
    Some(process)
}

/// Ends the thread of a queue that was never published (a racing start lost): its receiver
/// disconnects once the sender is gone, and the eventfd wakes it to see that.
fn retire(queue: Queue) {
    let Queue { sender, wake, .. } = queue;
    drop(sender);
    drop(eventfd::add(wake.as_fd(), 1));
}

/// Empties the slot in a child made by `fork(2)` (a `pthread_atfork` child handler: one
/// atomic store, async-signal-safe), whatever its PID.
extern "C" fn forget_queue_after_fork() {
    QUEUE.clear();
}

/// Starts the thread of process `owner`; `None` if it cannot be.
fn start(owner: u32) -> Option<Queue> {
    // Not a `Once`: one left "running" by a fork in the middle of it would hang the
    // child's first hand-off. Registered at most once per process image (a registration is
    // inherited by a forked child, and the handler is idempotent anyway).
    static AT_FORK: AtomicBool = AtomicBool::new(false);
    if !AT_FORK.swap(true, Ordering::AcqRel) {
        drop(super::sys::at_fork_child(forget_queue_after_fork));
    }
    let wake = eventfd::nonblocking().ok()?;
    let thread_wake = wake.try_clone().ok()?;
    let reaper = Reaper::<()>::new().ok()?;
    let (sender, receiver) = mpsc::channel();
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

/// The thread: reaps what it is given, for the life of the process (or until its queue is
/// retired unused: a racing start lost).
fn run(mut reaper: Reaper<()>, receiver: &Receiver<Process>, wake: &OwnedFd) {
    loop {
        // Every hand-off first (the eventfd was reset before this look: none is missed).
        loop {
            match receiver.try_recv() {
                // An error drops the handle: nothing more can be done for it (ENOSPC,
                // EMFILE): the child is left unreaped.
                Ok(process) => drop(reaper.add(process, ())),
                Err(TryRecvError::Empty) => break,
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
        // Then sleep until a hand-off or an exit (or a re-check the reaper asks for).
        match poll::poll_in(&[wake.as_fd(), reaper.as_fd()], reaper.recheck_after()) {
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
