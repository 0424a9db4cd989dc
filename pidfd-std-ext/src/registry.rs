//! The process-wide registry: the channel every `create_pidfd(true)` child sends over, and
//! what was received, by PID, with every *generation* of a PID kept apart.
//!
//! A `&Child` carries nothing but its PID, and a PID cannot tell two children apart once the
//! first was reaped. So the registry keeps, for each PID, one [`Generation`] per child that
//! announced itself with that PID (its pidfd, or why it has none), and answers a lookup only
//! when exactly one child can be the asker:
//!
//! * a child with this PID whose generation is still kept (alive, a zombie, or reaped and
//!   among the [`DEAD_WINDOW`] most recently reaped);
//! * a child with this PID whose reaped generation was dropped from that window
//!   ([`State::evicted`]: one bit per PID, no fd);
//! * a child with this PID whose message was lost (the channel was full: the child marks its
//!   PID in a shared bitmap before `exec`, so before `spawn` returns);
//! * when the one kept generation was reaped: the child of ours that holds the PID now, if
//!   any (it may have been spawned without `create_pidfd(true)`).
//!
//! One candidate: its answer (even a dead pidfd: it is that child's own, and its exit status
//! stays readable through it on Linux 6.15+). None: `NotFound`. More: an error that says the
//! PID was reused — never a guess. A generation leaves for good when it is claimed
//! (`into_pidfd` / `into_process` consume the `Child` that could ask for it).
//!
//! Lookups (and every `create_pidfd(true)` and `spawn_with_pidfd`) drain the channel into
//! the map, then notice which generations were reaped (one `poll` over the pidfds not yet
//! known reaped, then a check of the exited ones) and drop the oldest reaped ones beyond the
//! window. fds held: one per unreaped announced child, plus at most [`DEAD_WINDOW`].

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pidfd_core::{PidFd, probe};

use crate::channel::{
    self, Channel, Hook, Message, STATUS_DISABLED, STATUS_OK, STATUS_RETRACTED, STATUS_UNSUPPORTED,
};
use crate::pid_set::{self, PidSet};

/// How many reaped children's pidfds (or failure records) are kept after the reap, the most
/// recently noticed reaps; older ones are closed and leave a one-bit mark for their PID.
pub(crate) const DEAD_WINDOW: usize = 64;

/// What one child sent.
#[derive(Debug)]
enum Kind {
    /// Its pidfd.
    PidFd(PidFd),
    /// Why it has none: an errno from the child, or a negative preset.
    Failed(i32),
    /// `create_pidfd(false)` came after `create_pidfd(true)` on its `Command`: no answer,
    /// but the pidfd it sent (if any) is kept while the child lives, to recognise a later
    /// announcement from the same child (`true, false, true`).
    Retracted(Option<PidFd>),
}

/// One child that announced itself with a given PID.
#[derive(Debug)]
struct Generation {
    /// Arrival order over the whole registry.
    seq: u64,
    /// The child's ticket (see `channel::child_ticket`): messages with the same PID and the
    /// same non-zero ticket are from this child; 0 matches nothing.
    ticket: u32,
    kind: Kind,
    /// Known to have been reaped (by anyone): no later message can be from this child.
    reaped: bool,
}

#[derive(Debug)]
struct State {
    /// The process this state belongs to: a process forked from it without `exec` starts
    /// afresh instead of reading (and stealing) its parent's messages.
    owner: u32,
    /// Created by the first `create_pidfd(true)` that could (none yet after `EMFILE`).
    channel: Option<Arc<Channel>>,
    /// The kept generations of each PID, oldest first; never an empty list.
    by_pid: BTreeMap<u32, Vec<Generation>>,
    /// (PID, seq) of reaped generations, in the order their reap was noticed.
    dead: VecDeque<(u32, u64)>,
    /// PIDs that had an unclaimed generation dropped from the dead window.
    evicted: PidSet,
    next_seq: u64,
}

static STATE: Mutex<State> = Mutex::new(State {
    owner: 0,
    channel: None,
    by_pid: BTreeMap::new(),
    dead: VecDeque::new(),
    evicted: PidSet::new(),
    next_seq: 0,
});

fn lock() -> MutexGuard<'static, State> {
    let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    let own = std::process::id();
    if state.owner != own {
        // First use, or a process forked from the owner: what is here belongs to the
        // parent (its socket, its children's pidfds), so drop this copy of it.
        *state = State {
            owner: own,
            channel: None,
            by_pid: BTreeMap::new(),
            dead: VecDeque::new(),
            evicted: PidSet::new(),
            next_seq: 0,
        };
    }
    state
}

/// The error for a child spawned without `create_pidfd(true)`.
fn not_enabled() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "no pidfd for this child: create_pidfd(true) was not in effect on the Command that \
         spawned it",
    )
}

/// The error for a child whose pidfd was dropped from the window of reaped children.
fn evicted_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "no pidfd for this child any more: it was reaped, and only the pidfds of the 64 most \
         recently reaped children are kept (claim it earlier with into_pidfd, or use \
         spawn_with_pidfd)",
    )
}

/// The error for a child whose message never arrived.
fn lost_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "no pidfd for this child: its message was lost because the channel was full \
         (hundreds of spawns without a pidfd() or create_pidfd(true) call in between)",
    )
}

/// The error for a PID that more than one child may have had.
fn ambiguous(pid: u32) -> io::Error {
    io::Error::other(format!(
        "cannot tell which child this is: PID {pid} was used by more than one child of this \
         process (the PID space wrapped around, or a message was lost), and a Child carries \
         nothing but its PID; pidfd() never guesses: use CommandExt::spawn_with_pidfd for \
         exact pairing"
    ))
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

/// Whether the process behind `pidfd` has been reaped, exactly: `pidfd_send_signal(0)`
/// (Linux 5.1+) fails with `ESRCH` only then (a zombie still takes signal 0). `false` when
/// it cannot be told (the call refused): kept as not reaped, which only costs an fd.
fn is_reaped(pidfd: &PidFd) -> bool {
    pidfd
        .send_signal(0)
        .is_err_and(|error| error.raw_os_error() == Some(libc::ESRCH))
}

impl State {
    /// Stores what a child sent. A message with the PID and the (non-zero) ticket of a kept
    /// generation continues it (the same child: a second `create_pidfd(true)` hook, a
    /// retraction, or its `spawn_with_pidfd` registration); any other starts a new one.
    fn insert(&mut self, pid: u32, ticket: u32, kind: Kind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let generations = self.by_pid.entry(pid).or_default();
        if let Some(newest) = generations
            .iter_mut()
            .rev()
            .find(|g| ticket != 0 && g.ticket == ticket)
        {
            let old = std::mem::replace(&mut newest.kind, Kind::Failed(0));
            newest.kind = match (old, kind) {
                // A failure never replaces the pidfd the same child did send.
                (Kind::PidFd(fd), Kind::Failed(_)) => Kind::PidFd(fd),
                // A retraction keeps the pidfd, to notice the reap exactly.
                (Kind::PidFd(fd) | Kind::Retracted(Some(fd)), Kind::Retracted(_)) => {
                    Kind::Retracted(Some(fd))
                }
                (_, kind) => kind,
            };
            return;
        }
        generations.push(Generation {
            seq,
            ticket,
            kind,
            reaped: false,
        });
    }

    /// Stores one message from the channel.
    fn receive(&mut self, message: Message) {
        let Message {
            pid,
            ticket,
            status,
            pidfd,
        } = message;
        let kind = match (status, pidfd) {
            (STATUS_RETRACTED, _) => Kind::Retracted(None),
            (STATUS_OK, Some(fd)) => Kind::PidFd(PidFd::from(fd)),
            // A pidfd with an error status, or OK without one: no sender of ours does that.
            (STATUS_OK, None) => Kind::Failed(libc::EPROTO),
            (status, _) => Kind::Failed(status),
        };
        self.insert(pid, ticket, kind);
    }

    /// Marks the generations that have been reaped since the last look, then drops the
    /// oldest reaped ones beyond [`DEAD_WINDOW`].
    fn notice_reaps(&mut self) {
        let reaped: Vec<(u32, u64)> = {
            let watched: Vec<(u32, u64, &PidFd)> = self
                .by_pid
                .iter()
                .flat_map(|(&pid, generations)| generations.iter().map(move |g| (pid, g)))
                .filter_map(|(pid, g)| match &g.kind {
                    Kind::PidFd(fd) | Kind::Retracted(Some(fd)) if !g.reaped => {
                        Some((pid, g.seq, fd))
                    }
                    _ => None,
                })
                .collect();
            let fds: Vec<BorrowedFd<'_>> = watched.iter().map(|&(_, _, fd)| fd.as_fd()).collect();
            let exited = channel::exited(&fds);
            let mut reaped: Vec<(u32, u64)> = Vec::new();
            for (&(pid, seq, fd), &exited) in watched.iter().zip(&exited) {
                if exited && is_reaped(fd) {
                    reaped.push((pid, seq));
                }
            }
            // Generations without an fd: reaped once the PID is no unreaped child of ours.
            // (While a later child holds the PID they look alive: kept, which is safe.)
            for (&pid, generations) in &self.by_pid {
                for g in generations {
                    if !g.reaped
                        && matches!(g.kind, Kind::Failed(_) | Kind::Retracted(None))
                        && !channel::is_unreaped_child(pid)
                    {
                        reaped.push((pid, g.seq));
                    }
                }
            }
            reaped
        };
        for (pid, seq) in reaped {
            if let Some(g) = self.generation_mut(pid, seq) {
                g.reaped = true;
                // A retracted child's pidfd was only kept for identity: no later message
                // can come from it now.
                if let Kind::Retracted(fd) = &mut g.kind {
                    *fd = None;
                }
                self.dead.push_back((pid, seq));
            }
        }
        while self.dead.len() > DEAD_WINDOW {
            let Some((pid, seq)) = self.dead.pop_front() else {
                break;
            };
            if self.remove(pid, seq).is_some() {
                self.evicted.insert(pid);
            }
        }
    }

    fn generation_mut(&mut self, pid: u32, seq: u64) -> Option<&mut Generation> {
        self.by_pid.get_mut(&pid)?.iter_mut().find(|g| g.seq == seq)
    }

    /// Removes one generation (claimed, or dropped from the window).
    fn remove(&mut self, pid: u32, seq: u64) -> Option<Generation> {
        let generations = self.by_pid.get_mut(&pid)?;
        let index = generations.iter().position(|g| g.seq == seq)?;
        let generation = generations.remove(index);
        if generations.is_empty() {
            self.by_pid.remove(&pid);
        }
        Some(generation)
    }

    /// Receives everything queued on the channel, then notices reaps.
    fn drain(&mut self) {
        if let Some(channel) = self.channel.clone() {
            channel.receive(|message| self.receive(message));
        }
        self.notice_reaps();
    }

    /// The one generation that can belong to the child with this PID, or why there is none.
    fn attribute(&self, pid: u32) -> io::Result<&Generation> {
        let kept: &[Generation] = self.by_pid.get(&pid).map_or(&[], Vec::as_slice);
        let lost = self
            .channel
            .as_ref()
            .is_some_and(|channel| channel.lost(pid));
        let evicted = self.evicted.contains(pid);
        match (kept, evicted, lost) {
            // A reaped child's PID now held by another child of ours: the asker may be that
            // one (spawned without create_pidfd(true)), not the reaped one.
            ([only], false, false) if only.reaped && channel::is_unreaped_child(pid) => {
                Err(ambiguous(pid))
            }
            ([only], false, false) => Ok(only),
            ([], false, false) => Err(not_enabled()),
            ([], true, false) => Err(evicted_error()),
            ([], false, true) => Err(lost_error()),
            _ => Err(ambiguous(pid)),
        }
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
    let shared = match pid_set::process_wide() {
        Ok(shared) => shared,
        Err(error) => {
            // Not even 512 KiB of address space (ENOMEM): the child could not be recorded
            // at all, so it must not run as if it had been — fail its spawn.
            drop(state);
            let errno = error.raw_os_error().unwrap_or(libc::ENOMEM);
            channel::install_failure(command, errno);
            return;
        }
    };
    let channel = match state.channel.clone() {
        Some(channel) => channel,
        None => match Channel::new(shared) {
            Ok(channel) => state.channel.insert(Arc::new(channel)).clone(),
            // No socket (EMFILE): the child only marks its PID as lost, so that no other
            // child's message is ever taken for it; pidfd() reports NotFound for it, and a
            // later create_pidfd(true) tries again.
            Err(_) => {
                drop(state);
                channel::install_mark_lost(command, shared);
                return;
            }
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

/// Records the pidfd of a child spawned by `spawn_with_pidfd` (a duplicate), so that its
/// `Child` gets the same answer from `pidfd()` and no other child with a reused PID can ever
/// be taken for it. If no duplicate can be made (`EMFILE`), its PID is marked as evicted
/// instead: lookups for it fail rather than answer for another child.
pub(crate) fn register_exact(pid: u32, ticket: u32, pidfd: &PidFd) {
    let mut state = lock();
    // This child's own create_pidfd(true) message, if its Command had one, is merged by
    // its ticket.
    state.drain();
    match channel::duplicate(pidfd.as_fd()) {
        Ok(fd) => state.insert(pid, ticket, Kind::PidFd(PidFd::from(fd))),
        Err(_) => state.evicted.insert(pid),
    }
}

/// A duplicate (`F_DUPFD_CLOEXEC`, >= 3) of the pidfd of the child `pid`.
pub(crate) fn pidfd(pid: u32) -> io::Result<PidFd> {
    let mut state = lock();
    state.drain();
    match &state.attribute(pid)?.kind {
        Kind::PidFd(pidfd) => channel::duplicate(pidfd.as_fd()).map(PidFd::from),
        Kind::Failed(status) => Err(failure(*status)),
        Kind::Retracted(_) => Err(not_enabled()),
    }
}

/// The pidfd of the child `pid`, claimed: removed from the registry (the `Child` that could
/// ask for it is consumed by the caller).
pub(crate) fn take(pid: u32) -> io::Result<PidFd> {
    let mut state = lock();
    state.drain();
    let seq = match &state.attribute(pid)?.kind {
        Kind::PidFd(_) => state.attribute(pid)?.seq,
        Kind::Failed(status) => return Err(failure(*status)),
        Kind::Retracted(_) => return Err(not_enabled()),
    };
    match state.remove(pid, seq) {
        Some(Generation {
            kind: Kind::PidFd(pidfd),
            ..
        }) => Ok(pidfd),
        _ => Err(not_enabled()),
    }
}
