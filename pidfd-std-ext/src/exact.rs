//! [`CommandExt::spawn_with_pidfd`](crate::CommandExt::spawn_with_pidfd): exact pairing of a
//! `Child` with its pidfd, independent of PIDs.
//!
//! Each call makes a private socket pair and publishes its sending end in a thread-local of
//! the spawning thread, then calls std's `spawn`. std forks from that thread, so the child's
//! memory is a copy of it: the `pre_exec` hook reads the thread-local *in the child*, opens a
//! pidfd to itself and sends it over that socket — which no other child of any thread
//! knows. After `spawn` returns (std returns only once the child has `exec`ed, so the
//! message is queued), the parent reads the one message from its private socket. Concurrent
//! spawns on other threads, a `waitpid(-1)` thief and `SIGCHLD = SIG_IGN` cannot mix two
//! children up: nothing here is looked up by PID.
//!
//! If the child cannot open or send its pidfd, the hook fails, so std fails the spawn with
//! that errno (the child exits before `exec`, and std reaps it): no child ever runs without
//! the pidfd the caller asked for.

#![allow(
    unsafe_code,
    reason = "std's pre_exec hook and raw syscalls in the forked child; each block says why"
)]

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use pidfd_core::{PidFd, probe};
use pidfd_sys::flags::PidfdFlags;
use pidfd_sys::syscalls;

use crate::channel::{self, Channel, Message, STATUS_OK};
use crate::pid_set;
use crate::registry;

/// How many `spawn_with_pidfd` calls are in progress in this process: the hook touches its
/// thread-local only when one is (copied into the child at fork), so a plain `spawn` of a
/// reused `Command` never makes a forked child's first thread-local access (which could
/// allocate where the crate is loaded as a dynamic library).
static IN_PROGRESS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The sending end of the spawn in progress on this thread (`-1`: none). Const-initialized
    /// and without a destructor, so reading it in the forked child is a plain memory access.
    static SENDER: Cell<RawFd> = const { Cell::new(-1) };
}

/// Publishes a sender in [`SENDER`] (and counts in [`IN_PROGRESS`]) for the duration of
/// one `spawn`.
struct Published {
    previous: RawFd,
}

impl Published {
    fn new(sender: RawFd) -> Published {
        IN_PROGRESS.fetch_add(1, Ordering::SeqCst);
        Published {
            previous: SENDER.with(|slot| slot.replace(sender)),
        }
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        SENDER.with(|slot| slot.set(self.previous));
        IN_PROGRESS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The hook, in the child: if this thread's parent copy was spawning exactly, open a pidfd to
/// this process and send it; fail the spawn with the errno otherwise. Async-signal-safe:
/// a thread-local read and write (plain memory), `getpid`, `pidfd_open`, `sendmsg`,
/// `close`; `io::Error::from_raw_os_error` does not allocate.
fn hook() -> io::Result<()> {
    if IN_PROGRESS.load(Ordering::SeqCst) == 0 {
        return Ok(());
    }
    // (`try_with` cannot panic; the slot is never being destroyed in a live thread.)
    let Ok(sender) = SENDER.try_with(|slot| slot.replace(-1)) else {
        return Ok(());
    };
    if sender < 0 {
        // Not spawned by spawn_with_pidfd on this thread, or an earlier copy of this hook
        // (one per call on a reused Command) already sent the pidfd.
        return Ok(());
    }
    // SAFETY: getpid has no preconditions and is async-signal-safe.
    let raw_pid = unsafe { libc::getpid() };
    let pid = u32::try_from(raw_pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: pidfd_open is a raw syscall; the new fd is ours and closed below.
    let pidfd = unsafe { syscalls::pidfd_open(raw_pid, PidfdFlags::empty()) }
        .map_err(|errno| io::Error::from_raw_os_error(errno.raw_os_error()))?;
    let ticket = channel::child_ticket(raw_pid);
    let sent = channel::send_message(sender, (pid, STATUS_OK, ticket), Some(pidfd));
    // SAFETY: our own fd from pidfd_open, closed exactly once (a message in flight holds
    // its own reference to the file).
    unsafe { libc::close(pidfd) };
    sent.map_err(io::Error::from_raw_os_error)
}

/// `spawn_with_pidfd` (see the crate docs).
pub(crate) fn spawn(command: &mut Command) -> io::Result<(Child, PidFd)> {
    let features = probe::features()?;
    if features.disabled_by_env {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "spawn_with_pidfd: pidfds are disabled by PIDFD_DISABLE (nothing was spawned)",
        ));
    }
    if !features.pidfd_open {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "spawn_with_pidfd: pidfd_open(2) is unavailable (Linux older than 5.3, or refused \
             by a seccomp filter); nothing was spawned",
        ));
    }
    // The process-wide ticket counter, so that this child's messages (if its Command also
    // has create_pidfd(true)) are recognised as its own.
    pid_set::process_wide()?;
    let channel = Channel::private()?;
    // SAFETY: `hook` runs in the child between fork and exec and is async-signal-safe (see
    // its docs): no allocation, no lock, no panic.
    unsafe { command.pre_exec(hook) };
    let spawned = {
        let _published = Published::new(channel.sender_fd());
        command.spawn()
    };
    let child = spawned?;
    let mut received = None;
    channel.receive(|message| {
        // Only the child itself can have sent with its PID (a grandchild forked by another
        // pre_exec hook would carry its own PID).
        if message.pid == child.id() && received.is_none() {
            received = Some(message);
        }
    });
    match received {
        Some(Message {
            pidfd: Some(fd),
            ticket,
            ..
        }) => {
            let pidfd = PidFd::from(fd);
            registry::register_exact(child.id(), ticket, &pidfd);
            Ok((child, pidfd))
        }
        // The child sent its pidfd, but it could not be received here (our fd table is
        // full: EMFILE). The child runs; std's `Child` is dropped unwaited.
        Some(Message { status, .. }) => Err(io::Error::new(
            io::Error::from_raw_os_error(status).kind(),
            format!(
                "spawn_with_pidfd: the child (PID {}) was started, but its pidfd could not \
                 be received ({}); the child runs and was not waited for",
                child.id(),
                io::Error::from_raw_os_error(status)
            ),
        )),
        // Only if a pre_exec hook that ran before ours replaced our socket's fd number with
        // another socket.
        None => Err(io::Error::other(format!(
            "spawn_with_pidfd: the child (PID {}) was started, but its pidfd did not arrive \
             (a pre_exec hook that ran before this crate's replaced its socket); the child \
             runs and was not waited for",
            child.id()
        ))),
    }
}
