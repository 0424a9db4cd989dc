//! Pidfds for [`std::process`] children on stable Rust: [`CommandExt::spawn_with_pidfd`]
//! (exact pairing; recommended), and [`CommandExt::create_pidfd`] with [`ChildExt::pidfd`] /
//! [`ChildExt::into_pidfd`], shaped like std's unstable `std::os::linux::process`
//! ([rust-lang/rust#82971]) so that moving to std later is mostly an import change.
//!
//! ```
//! use std::process::Command;
//! use pidfd_std_ext::{ChildExt, CommandExt};
//!
//! # fn main() -> std::io::Result<()> {
//! # if !pidfd_core::probe::features()?.pidfd_mode() { return Ok(()); } // e.g. PIDFD_DISABLE=1
//! // Exact: the pidfd comes back with the Child, from the child itself.
//! let (child, pidfd) = Command::new("sh").args(["-c", "exit 7"]).spawn_with_pidfd()?;
//! assert_eq!(pidfd.pid()?, child.id());
//! assert_eq!(pidfd.wait()?.code(), Some(7));
//!
//! // std's shape: ask the Child later.
//! let child = Command::new("sh").args(["-c", "exit 8"]).create_pidfd(true).spawn()?;
//! let pidfd = child.pidfd()?; // a pidfd obtained by the child itself, before exec
//! assert_eq!(pidfd.wait()?.code(), Some(8));
//! # Ok(())
//! # }
//! ```
//!
//! # What each API guarantees
//!
//! * **[`CommandExt::spawn_with_pidfd`]** returns the child's own pidfd, always: the pairing
//!   goes through a socket private to that one call, never through a PID. It fails without
//!   a child running where no pidfd can be had (`Unsupported` before Linux 5.3, under a
//!   seccomp filter refusing `pidfd_open`, or with `PIDFD_DISABLE=1`; the errno the child
//!   got, e.g. `EMFILE`); only if this process's own fd table is full when the pidfd
//!   arrives does it fail (`EMFILE`) with the child running.
//! * **[`ChildExt::pidfd`]**, for a child spawned with `create_pidfd(true)` or
//!   `spawn_with_pidfd`, returns the pidfd of exactly that child — alive, a zombie, or
//!   reaped (then its exit status stays readable through it, Linux 6.15+) — or fails with an
//!   error that says why: when the child was reaped and is no longer among the
//!   [`DEAD_WINDOW`] most recently reaped ones, or when its PID was used by more than one
//!   child of this process (after the PID space wrapped around), since a `Child` carries
//!   nothing but its PID. (Children spawned without either: see "Limits".)
//!
//! # Kernel requirements
//!
//! Linux 5.3 (`pidfd_open(2)`) for a pidfd at all; waiting through it
//! ([`PidFd::wait`]) needs 5.4, signalling ([`PidFd::send_signal`]) 5.1; the exit status of a
//! child reaped elsewhere is kept for its pidfd from 6.15. On older kernels, or where a
//! seccomp filter refuses `pidfd_open`, or with `PIDFD_DISABLE=1` in the environment (see
//! [`pidfd_core::probe`]), `create_pidfd(true)` spawns exactly as without this crate and
//! [`ChildExt::pidfd`] fails with [`io::ErrorKind::Unsupported`] (or with the errno the child
//! got from `pidfd_open`); `spawn_with_pidfd` fails with `Unsupported` without spawning.
//!
//! # How the pidfd is obtained, race-free
//!
//! Opening a pidfd from the PID after `spawn` returns (`pidfd_open(child.id())`) is racy: if
//! the child has exited and something reaped it — another thread's `waitpid(-1)`, or
//! `SIGCHLD` set to `SIG_IGN` — the PID may already name another process. So both APIs do
//! what std does: the *child* opens a pidfd to itself before `exec` (in a
//! [`pre_exec`](std::os::unix::process::CommandExt::pre_exec) hook, so std spawns through
//! `fork`, as it does for any `pre_exec` hook) and hands it to the parent over a
//! `SOCK_SEQPACKET` socket (`SCM_RIGHTS`). The hook does only async-signal-safe work. std's
//! `spawn` returns only after the child has `exec`ed, so by then the message is queued.
//! Every fd this crate creates is numbered 3 or above, so fds 0–2 closed in the parent
//! never put a socket where std's stdio setup in the child would replace it.
//!
//! * `spawn_with_pidfd` makes a socket pair for the one call and publishes it in a
//!   thread-local of the spawning thread; the child, a copy of that thread, finds it there.
//!   If the child cannot open or send its pidfd, the hook fails and so does the spawn.
//! * `create_pidfd(true)` installs a hook that sends over one process-wide socket pair
//!   (created by the first `create_pidfd(true)`, kept for the life of the process), with
//!   `MSG_DONTWAIT | MSG_NOSIGNAL`, so the child can never block or die on it; it never
//!   fails the spawn. The message carries the child's PID; [`ChildExt::pidfd`] drains the
//!   socket into a registry and looks up [`Child::id`] there — keeping apart every child that
//!   had that PID (see the guarantee above). A message that cannot be sent (the socket is
//!   full) is recorded in a bitmap shared with the children, so its PID is never attributed
//!   to another child's message.
//! * `create_pidfd(false)` appends a hook that sends a *retraction* for the child, which
//!   the parent applies in order (one socket keeps each child's messages in order), so the
//!   last call wins — std's `Command` has no identity and no room for extra data, so earlier
//!   hooks cannot be removed. Before any `create_pidfd(true)` in the process it does nothing
//!   (std keeps its `posix_spawn` path).
//!
//! # Cost
//!
//! Per spawn: `fork` instead of `posix_spawn` (std's cost for any `pre_exec` hook) and four
//! syscalls in the child; `spawn_with_pidfd` adds a socket pair, one `recvmsg` and a
//! duplicate kept by the registry. Per [`ChildExt::pidfd`] call: one non-blocking `recvmsg`
//! per queued message, one `poll` over the stored pidfds of unreaped children, one
//! `PIDFD_GET_INFO` ioctl for each stored child that has exited since the last look, and the
//! `dup`. fds held: one per unreaped child that announced itself, at most [`DEAD_WINDOW`]
//! more for reaped ones, and the socket pair. The benchmark (`cargo xtask bench
//! create_pidfd`) compares spawn + wait with std's own fork path.
//!
//! # Moving to std's `std::os::linux::process` later
//!
//! * Imports: `use std::os::linux::process::{ChildExt, CommandExt, PidFd};` instead of
//!   `use pidfd_std_ext::{ChildExt, CommandExt, PidFd};`.
//! * [`ChildExt::pidfd`] returns an **owned duplicate** here (`io::Result<PidFd>`), and
//!   `&PidFd` in std. std keeps the pidfd inside the `Child`; on stable, a `Child` has no
//!   room for it, so the only way to hand out a reference would be to leak one fd per child
//!   for the life of the process. Code written as `let pidfd = child.pidfd()?;` and then
//!   using `pidfd` by method calls compiles against both; code that stores the result needs
//!   a `&`.
//! * [`PidFd`] is [`pidfd_core::PidFd`] (re-exported), with a larger API than std's
//!   `PidFd` (`kill`, `wait`, `try_wait` exist in both). Convert with `OwnedFd`
//!   (`From`/`Into`) at the boundary.
//! * Errors: with `create_pidfd(true)` not in effect, [`ChildExt::pidfd`] fails with
//!   [`io::ErrorKind::NotFound`] (std: an `Uncategorized` error). std never forgets a
//!   pidfd it stored; this crate forgets those of reaped children beyond [`DEAD_WINDOW`]
//!   (counted in the order their reaps are noticed, by later calls into the crate).
//! * [`CommandExt::spawn_with_pidfd`] and [`ChildExt::into_process`] have no std
//!   counterpart.
//!
//! # Limits (documented deviations that std does not have)
//!
//! * **Asking a child spawned without `create_pidfd(true)`.** Its PID is unknown to the
//!   registry, which answers `NotFound` — unless another child of this process that *did*
//!   announce itself had the same PID (the PID space wrapped around): the registry cannot
//!   know that this `Child` is a different one. An earlier such child's pidfd is refused
//!   while this child is unreaped, but after this child's reap, or for a *later* holder of
//!   the PID, that child's pidfd is the answer — the process std's own [`Child::kill`]
//!   would signal then. Ask only children spawned with `create_pidfd(true)` or
//!   `spawn_with_pidfd`.
//! * **Refusals are for good.** Once two children of this process have had a PID, or a
//!   reaped child's pidfd was dropped from the window, or a message for it was lost,
//!   `pidfd()` refuses for every child with that PID for the rest of the process's life
//!   (a bit per PID records it; nothing can tell later that the earlier child's `Child` is
//!   gone). After the PID space wraps around, long-running processes should use
//!   `spawn_with_pidfd`, which has no such limit. A child whose spawn failed after its hook
//!   ran (e.g. `exec` found no program) leaves such a record too.
//! * **Switching off.** `create_pidfd(false)` after `create_pidfd(true)` adds a retracting
//!   hook rather than removing the announcing one (see above): the child still opens and
//!   sends its pidfd, and the parent drops it. Each `create_pidfd(true)` adds one announcing
//!   hook (calling it twice makes the child send two, kept as one).
//! * **Hooks pile up on a reused `Command`.** Each `spawn_with_pidfd` call adds one
//!   (zero-sized) `pre_exec` hook to the `Command`, since std offers no way to see whether
//!   one is there; only the first does anything in a child. Build a `Command` per spawn
//!   when spawning thousands of times from one.
//! * **Capacity.** Children spawned while nobody calls `pidfd()` or `create_pidfd(true)`
//!   fill the process-wide socket (about 270 messages with the default
//!   `net.core.wmem_default` of 208 KiB; either call empties it); a child whose message does
//!   not fit is not affected, and `pidfd()` for it fails with `NotFound` (or with its
//!   `sendmsg` errno when it could still say why, e.g. `ETOOMANYREFS`).
//! * A process forked from this one that does *not* `exec` (no `CLOEXEC`) keeps a copy of
//!   the socket, and with it any pidfds in flight, until it exits; it never reads it (its
//!   first call into this crate starts a registry of its own).
//! * `pre_exec` hooks run in the order they were added; one added before this crate's that
//!   closes every fd (`close_range`) takes the socket away: `pidfd()` then fails with
//!   `NotFound`, and `spawn_with_pidfd` fails the spawn with `EBADF`.
//! * If the socket pair cannot be created (`EMFILE`), the children of that `Command` only
//!   mark their PIDs as unannounced (a later `create_pidfd(true)` tries again); `pidfd()`
//!   fails with `NotFound` for them. If not even the shared 512 KiB mapping can be made
//!   (`ENOMEM`), the spawn fails with `ENOMEM` rather than let a child run unrecorded.
//!
//! [rust-lang/rust#82971]: https://github.com/rust-lang/rust/issues/82971

mod channel;
mod exact;
mod pid_set;
mod registry;

use std::io;
use std::process::{Child, Command};

pub use pidfd_core::PidFd;

/// How many reaped children's pidfds the registry behind [`ChildExt::pidfd`] keeps (the most
/// recently reaped ones): a child reaped earlier than that yields `NotFound`.
pub const DEAD_WINDOW: usize = registry::DEAD_WINDOW;
use pidfd_core::{Process, probe};

mod sealed {
    /// Keeps [`super::CommandExt`] and [`super::ChildExt`] implemented by std's types only.
    #[allow(
        unreachable_pub,
        reason = "the sealed-trait pattern needs a public trait"
    )]
    pub trait Sealed {}
    impl Sealed for std::process::Command {}
    impl Sealed for std::process::Child {}
}

/// Linux-specific extensions to [`std::process::Command`] (sealed: implemented for
/// `Command` only), as std's unstable `std::os::linux::process::CommandExt`.
pub trait CommandExt: sealed::Sealed {
    /// Whether children spawned from this `Command` hand their pidfd to the parent, for
    /// [`ChildExt::pidfd`] / [`ChildExt::into_pidfd`] (default: off). Returns `self` for
    /// chaining, as std's builder methods do.
    ///
    /// `true` installs a `pre_exec` hook (so std spawns through `fork`, not
    /// `posix_spawn`); `false` after a `true` adds a hook that retracts what the child sent
    /// (the last call wins; see "Switching off" in the crate docs). The spawn never fails
    /// because of the pidfd.
    ///
    /// Needs Linux 5.3 (`pidfd_open`). On older kernels, under a seccomp filter that
    /// refuses `pidfd_open`, or with `PIDFD_DISABLE=1`, spawning is unaffected and
    /// [`ChildExt::pidfd`] reports `Unsupported` (with `PIDFD_DISABLE` or a probed-out
    /// `pidfd_open` the child makes no pidfd syscall at all).
    fn create_pidfd(&mut self, val: bool) -> &mut Command;

    /// Spawns the child and returns it with its own pidfd, paired exactly: the child opens
    /// the pidfd to itself before `exec` and sends it over a socket private to this call
    /// (found by the child in a thread-local of the spawning thread), so no PID is involved
    /// and no concurrent spawn, `waitpid(-1)` thief or `SIGCHLD = SIG_IGN` can mix two
    /// children up. The recommended way to get a pidfd for a `std::process::Child`.
    ///
    /// Spawns through `fork` (it installs a `pre_exec` hook, like `create_pidfd(true)`);
    /// each call adds one zero-sized hook to the `Command` (see "Hooks pile up" in the crate
    /// docs). [`ChildExt::pidfd`] on the returned `Child` gives the same process's pidfd.
    /// Needs Linux 5.3 (`pidfd_open`); waiting through the pidfd needs 5.4.
    ///
    /// ```
    /// use std::process::Command;
    /// use pidfd_std_ext::CommandExt;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # if !pidfd_core::probe::features()?.pidfd_mode() { return Ok(()); }
    /// let (mut child, pidfd) = Command::new("sleep").arg("10").spawn_with_pidfd()?;
    /// pidfd.kill()?; // can only ever reach this child
    /// assert!(!child.wait()?.success());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// * `Unsupported` — no pidfd support (Linux < 5.3, a seccomp filter refusing
    ///   `pidfd_open`, `PIDFD_DISABLE=1`); nothing is spawned;
    /// * std's spawn errors (`NotFound` for a missing program, …);
    /// * the errno the child got from `pidfd_open` or `sendmsg` (`EMFILE`, `ENOMEM`, …):
    ///   the spawn fails, the child exits before `exec` and std reaps it;
    /// * the errors of creating the socket pair (`EMFILE`, `ENFILE`).
    fn spawn_with_pidfd(&mut self) -> io::Result<(Child, PidFd)>;
}

impl CommandExt for Command {
    fn create_pidfd(&mut self, val: bool) -> &mut Command {
        registry::create_pidfd(self, val);
        self
    }

    fn spawn_with_pidfd(&mut self) -> io::Result<(Child, PidFd)> {
        exact::spawn(self)
    }
}

/// Linux-specific extensions to [`std::process::Child`] (sealed: implemented for `Child`
/// only), as std's unstable `std::os::linux::process::ChildExt`.
pub trait ChildExt: sealed::Sealed {
    /// A pidfd for exactly this child, which the child itself opened before `exec`: it
    /// names that very process for its whole life, whatever happens to the PID later. A
    /// child reaped behind std's back (or by [`Child::wait`]) still yields its own, dead,
    /// pidfd while it is among the [`DEAD_WINDOW`] most recently reaped ones; through it
    /// [`PidFd::wait`] recovers the exit status on Linux 6.15+. When the answer cannot be
    /// certain, this fails instead of guessing (see "What each API guarantees" in the crate
    /// docs).
    ///
    /// Returns an **owned duplicate** (`F_DUPFD_CLOEXEC`, numbered 3 or above) on each call —
    /// std's unstable version returns `&PidFd`, which cannot be done soundly on stable
    /// without leaking the fd (the `Child` has no room for it; see the crate docs). Closing it
    /// does not affect later calls. Needs Linux 5.3; waiting through it needs 5.4.
    ///
    /// # Errors
    ///
    /// * `NotFound` — `create_pidfd(true)` was not in effect when this child was spawned;
    ///   or it was reaped and its pidfd is no longer kept ([`DEAD_WINDOW`]); or its message
    ///   was lost (see "Capacity" in the crate docs). The message says which;
    /// * `Unsupported` — no pidfd support (Linux < 5.3, seccomp, `PIDFD_DISABLE=1`);
    /// * the errno the child got from `pidfd_open` (e.g. `EMFILE`), or `EMFILE` when its
    ///   pidfd arrived while this process's fd table was full;
    /// * [`io::ErrorKind::Other`] — more than one child of this process had this child's PID
    ///   (the PID space wrapped around) and a `Child` carries nothing else to tell them
    ///   apart (see "Refusals are for good" in the crate docs); use
    ///   [`CommandExt::spawn_with_pidfd`];
    /// * the errors of duplicating an fd (`EMFILE`).
    fn pidfd(&self) -> io::Result<PidFd>;

    /// Consumes the child and returns its pidfd (the stored one, no duplicate), as std's
    /// `into_pidfd`. The `Child`'s stdio handles are closed. Needs Linux 5.3.
    ///
    /// # Errors
    ///
    /// Gives the child back when [`ChildExt::pidfd`] would fail.
    fn into_pidfd(self) -> Result<PidFd, Self>
    where
        Self: Sized;

    /// Consumes the child and returns a [`pidfd_core::Process`] (pidfd mode) built on its
    /// pidfd: a `Send + Sync` handle with cached, idempotent waits (no std counterpart).
    /// Works for a child reaped behind std's back too (its `wait` then recovers the status
    /// on Linux 6.15+, else fails with `ECHILD`). Needs Linux 5.4 (`waitid(P_PIDFD)`).
    ///
    /// # Errors
    ///
    /// Gives the child back when [`ChildExt::pidfd`] would fail, or when the kernel cannot
    /// wait through a pidfd ([`pidfd_core::probe::Features::pidfd_mode`] is `false`). Once
    /// the pidfd is taken, nothing can fail.
    fn into_process(self) -> Result<Process, Self>
    where
        Self: Sized;
}

impl ChildExt for Child {
    fn pidfd(&self) -> io::Result<PidFd> {
        registry::pidfd(self.id())
    }

    fn into_pidfd(self) -> Result<PidFd, Self> {
        match registry::take(self.id()) {
            Ok(pidfd) => Ok(pidfd),
            Err(_) => Err(self),
        }
    }

    fn into_process(self) -> Result<Process, Self> {
        if !probe::features().is_ok_and(|features| features.pidfd_mode()) {
            return Err(self);
        }
        match registry::take(self.id()) {
            // The PID is the one this pidfd was attributed by: no syscall, no failure.
            Ok(pidfd) => Ok(Process::from_pidfd_with_pid(pidfd, self.id())),
            Err(_) => Err(self),
        }
    }
}
