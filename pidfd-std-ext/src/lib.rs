//! [`CommandExt::create_pidfd`] and [`ChildExt::pidfd`] / [`ChildExt::into_pidfd`] for
//! [`std::process`] on stable Rust, shaped like std's unstable `std::os::linux::process`
//! ([rust-lang/rust#82971]) so that moving to std later is mostly an import change.
//!
//! ```
//! use std::process::Command;
//! use pidfd_std_ext::{ChildExt, CommandExt};
//!
//! # fn main() -> std::io::Result<()> {
//! let child = Command::new("sh").args(["-c", "exit 7"]).create_pidfd(true).spawn()?;
//! let pidfd = child.pidfd()?; // a pidfd obtained by the child itself, before exec
//! assert_eq!(pidfd.pid()?, child.id());
//! assert_eq!(pidfd.wait()?.code(), Some(7));
//! # Ok(())
//! # }
//! ```
//!
//! # Kernel requirements
//!
//! Linux 5.3 (`pidfd_open(2)`) for a pidfd at all; waiting through it
//! ([`PidFd::wait`]) needs 5.4, signalling ([`PidFd::send_signal`]) 5.1. On older kernels,
//! or where a seccomp filter refuses `pidfd_open`, or with `PIDFD_DISABLE=1` in the
//! environment (see [`pidfd_core::probe`]), spawning works exactly as without this crate
//! and [`ChildExt::pidfd`] fails with [`io::ErrorKind::Unsupported`] (or with the errno the
//! child got from `pidfd_open`).
//!
//! # How the pidfd is obtained, race-free
//!
//! Opening a pidfd from the PID after `spawn` returns (`pidfd_open(child.id())`) is racy: if
//! the child has exited and something reaped it — another thread's `waitpid(-1)`, or
//! `SIGCHLD` set to `SIG_IGN` — the PID may already name another process. So
//! `create_pidfd(true)` does what std does: the *child* opens a pidfd to itself before
//! `exec`, and hands it to the parent.
//!
//! * `create_pidfd(true)` installs a [`pre_exec`](std::os::unix::process::CommandExt::pre_exec)
//!   hook (so std spawns this `Command` through `fork`, as it does for any `pre_exec` hook).
//!   The hook runs in the child between `fork` and `exec` and does only async-signal-safe
//!   work: `pidfd_open(getpid(), 0)`, then one `sendmsg` with the pidfd attached
//!   (`SCM_RIGHTS`) and the child's PID as payload — or, if `pidfd_open` failed, the errno
//!   without an fd — over one process-wide `socketpair(AF_UNIX, SOCK_SEQPACKET |
//!   SOCK_CLOEXEC)` (created by the first `create_pidfd(true)`, kept for the life of the
//!   process), with `MSG_DONTWAIT | MSG_NOSIGNAL`, so the child can never block or die on the
//!   socket. It never fails the spawn. std's `spawn` returns only after the child has
//!   `exec`ed, so by then the message is queued.
//! * `create_pidfd(false)` appends a hook that sends a *retraction* for the child, which
//!   the parent applies in order (one socket keeps each child's messages in order), so the
//!   last call wins — std's `Command` has no identity and no room for extra data, so earlier
//!   hooks cannot be removed. Before any `create_pidfd(true)` in the process it does nothing
//!   (std keeps its `posix_spawn` path).
//! * [`ChildExt::pidfd`] drains the socket (non-blocking) into a process-wide map from PID
//!   to pidfd, and looks up [`Child::id`]. The stored pidfd is checked with [`PidFd::pid`]
//!   first: a pidfd whose process has been reaped fails with `ESRCH` and is discarded, so a
//!   reused PID can never return another process's pidfd from an old message. Each lookup,
//!   and each `create_pidfd(true)`, also purges the entries of processes that are gone (one
//!   `poll` over all stored pidfds, then a check of the exited ones): the map only holds
//!   pidfds of processes that still exist (running, or exited and not reaped yet).
//!
//! # Cost
//!
//! Per `Command` with `create_pidfd(true)`: `fork` instead of `posix_spawn` (std's cost for
//! any `pre_exec` hook) and four syscalls in the child; per [`ChildExt::pidfd`] call: one
//! non-blocking `recvmsg` per queued message, one `poll` over the stored pidfds, one
//! `PIDFD_GET_INFO` ioctl for each stored child that has exited but was not reaped yet, and
//! the `dup`. The benchmark (`cargo xtask bench create_pidfd`) compares spawn + wait with
//! std's own fork path.
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
//!   [`io::ErrorKind::NotFound`] (std: an `Uncategorized` error). Once the child has been
//!   reaped, this crate can no longer verify a stored pidfd and fails with `ESRCH`; std
//!   still returns its stored pidfd.
//! * [`ChildExt::into_process`] has no std counterpart.
//!
//! # Limits (documented deviations that std does not have)
//!
//! * **Switching off.** `create_pidfd(false)` after `create_pidfd(true)` adds a retracting
//!   hook rather than removing the announcing one (see above): the child still opens and
//!   sends its pidfd, and the parent drops it. Each `create_pidfd(true)` adds one announcing
//!   hook (calling it twice makes the child send two, the second replacing the first).
//! * **Lookup by PID.** [`ChildExt::pidfd`] answers for the process that has the child's
//!   PID *now*. Before the child is reaped that is the child, always. If it was reaped behind
//!   std's back (a `waitpid(-1)` elsewhere, `SIGCHLD = SIG_IGN`) *and* the whole PID space
//!   wrapped around so that another child spawned with `create_pidfd(true)` got the same PID
//!   before you asked, you get that child's pidfd — the process std's own [`Child::kill`]
//!   would signal then. Calling `pidfd()` right after `spawn` leaves no practical window
//!   (the PID space would have to wrap around in between).
//! * **Capacity.** Children spawned while nobody calls `pidfd()` or `create_pidfd(true)`
//!   fill the socket (about 270 messages with the default `net.core.wmem_default` of
//!   208 KiB; either call empties it into the map, which has no limit); messages that do
//!   not fit are lost (the child is not affected) and `pidfd()` for those children fails
//!   with `NotFound`, or with the child's `sendmsg` errno when it could still say why (e.g.
//!   `ETOOMANYREFS`: too many fds in flight for this user).
//! * A process forked from this one that does *not* `exec` (no `CLOEXEC`) keeps a copy of
//!   the socket, and with it any pidfds in flight, until it exits.
//! * `pre_exec` hooks run in the order they were added; one added before
//!   `create_pidfd(true)` that closes every fd (`close_range`) takes the socket away from
//!   the hook, and `pidfd()` then fails with `NotFound`.
//! * If the socket pair cannot be created (`EMFILE`), `create_pidfd(true)` has no effect
//!   (a later call tries again) and `pidfd()` fails with `NotFound`.
//! * The socket pair (two fds) stays open for the life of the process once created.
//!
//! [rust-lang/rust#82971]: https://github.com/rust-lang/rust/issues/82971

mod channel;
mod registry;

use std::io;
use std::process::{Child, Command};

pub use pidfd_core::PidFd;
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
}

impl CommandExt for Command {
    fn create_pidfd(&mut self, val: bool) -> &mut Command {
        registry::create_pidfd(self, val);
        self
    }
}

/// Linux-specific extensions to [`std::process::Child`] (sealed: implemented for `Child`
/// only), as std's unstable `std::os::linux::process::ChildExt`.
pub trait ChildExt: sealed::Sealed {
    /// A pidfd for this child, which the child itself opened before `exec`: it names that
    /// very process for its whole life, whatever happens to the PID later. (How a `Child` is
    /// matched to the pidfds received: by PID, checked; see "Lookup by PID" in the crate
    /// docs.)
    ///
    /// Returns an **owned duplicate** (`F_DUPFD_CLOEXEC`) on each call — std's unstable
    /// version returns `&PidFd`, which cannot be done soundly on stable without leaking the
    /// fd (the `Child` has no room for it; see the crate docs). Closing it does not affect
    /// later calls. Needs Linux 5.3; waiting through it needs 5.4.
    ///
    /// # Errors
    ///
    /// * `NotFound` — `create_pidfd(true)` was not in effect when this child was spawned
    ///   (or its message was lost: see "Capacity" in the crate docs);
    /// * `Unsupported` — no pidfd support (Linux < 5.3, seccomp, `PIDFD_DISABLE=1`); or
    ///   another errno the child got from `pidfd_open` (e.g. `EMFILE`);
    /// * `ESRCH` — the child has already been reaped ([`Child::wait`], or behind std's back),
    ///   so no stored pidfd can be verified to be its;
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
    /// Needs Linux 5.4 (`waitid(P_PIDFD)`).
    ///
    /// # Errors
    ///
    /// Gives the child back when [`ChildExt::pidfd`] would fail, when the kernel cannot
    /// wait through a pidfd ([`pidfd_core::probe::Features::pidfd_mode`] is `false`), or
    /// when the child was reaped meanwhile.
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
        let Ok(pidfd) = registry::take(self.id()) else {
            return Err(self);
        };
        Process::from_pidfd(pidfd).map_err(|_| self)
    }
}
