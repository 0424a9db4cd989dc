//! The background reaper of the async `Child`s' kill-on-drop: one thread, started on first
//! need, that reaps the children dropped after a `SIGKILL` that had not died yet — so a
//! drop never blocks a runtime's thread, and no zombie is left.
//!
//! The thread owns a [`Reaper`] (pidfd children: one epoll fd; pid-mode children: its
//! `SIGCHLD` fallback) and takes the handed-off processes from a channel; while it has
//! entries it looks at the channel every [`POLL`], and blocks on the channel otherwise.
//! A killed process dies as soon as it is scheduled (unless it sits in an uninterruptible
//! sleep), so the thread is idle almost all the time.

use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use crate::{EntryError, Process, Reaper};

/// While entries are outstanding: how long one wait of the thread lasts before it looks for
/// new hand-offs.
const POLL: Duration = Duration::from_millis(10);

/// The channel to the thread (`None`: the thread could not be started).
static QUEUE: OnceLock<Option<Sender<Process>>> = OnceLock::new();

/// Hands `process` (killed, not yet reaped) to the background thread, starting it on first
/// use. Where no thread can be started (`EAGAIN` from `clone`), or no epoll fd made, the
/// process is waited for here, blocking — the only case in which a drop blocks.
pub(crate) fn reap(process: Process) {
    let queue = QUEUE.get_or_init(|| {
        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("pidfd-reaper".into())
            .spawn(move || run(&receiver))
            .ok()
            .map(|_| sender)
    });
    let unsent = match queue {
        Some(sender) => sender.send(process).err().map(|error| error.0),
        None => Some(process),
    };
    if let Some(process) = unsent {
        drop(process.wait());
    }
}

/// The thread: reaps what it is given, for the life of the process.
fn run(receiver: &Receiver<Process>) {
    let Ok(mut reaper) = Reaper::<()>::new() else {
        // No epoll fd: one blocking wait after the other (a killed child exits promptly).
        for process in receiver {
            drop(process.wait());
        }
        return;
    };
    loop {
        let next = if reaper.is_empty() {
            match receiver.recv() {
                Ok(process) => Some(process),
                Err(_) => return,
            }
        } else {
            receiver.try_recv().ok()
        };
        match next {
            // An error drops the handle: nothing more can be done for it (EMFILE, ENOSPC).
            Some(process) => drop(reaper.add(process, ())),
            None => {
                if let Err(error) = reaper.next_exit(Some(POLL)) {
                    match EntryError::of(&error) {
                        // Give up on that entry (its handle is dropped), not on the others.
                        Some(entry) => drop(reaper.remove(entry.key())),
                        // epoll_wait itself failed: back off rather than spin.
                        None => std::thread::sleep(POLL),
                    }
                }
            }
        }
    }
}
