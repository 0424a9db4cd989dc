//! [`ProcessTree`]: start programs in a cgroup of their own, and stop them — grandchildren,
//! double-forked daemons and `setsid` escapers included — with nothing left behind (short of
//! a member with write access to a cgroup outside the tree: see [`ProcessTree`]'s "known
//! escape").
//!
//! The files:
//!
//! * this one — the public API ([`ProcessTree`], [`TreeBuilder`], [`KillMethod`],
//!   [`TreeKind`]) and the kill-on-drop guard;
//! * `cgroup` — the cgroup v2 backend: a fresh directory, `CLONE_INTO_CGROUP`,
//!   `cgroup.kill` or freeze-signal-thaw, `cgroup.events` waits;
//! * `group` — the opt-in weaker backend: a process group and `PR_SET_CHILD_SUBREAPER`;
//! * `locate` — pure parsers of `/proc/self/cgroup`, `/proc/self/mountinfo`,
//!   `cgroup.events` and `/proc/<pid>/stat`.
//!
//! No `unsafe` here: the raw calls (`poll` for `POLLPRI`, `prctl`, `kill` of a group) are
//! [`crate::sys`]'s.

#![deny(unsafe_code)]

mod cgroup;
mod group;
mod locate;

use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sys::time::Deadline;
use crate::{Child, Spawn};
use cgroup::CgroupTree;
use group::GroupTree;

/// How long a [`ProcessTree`] dropped with kill-on-drop waits for its killed processes to
/// be gone before it removes its cgroup directory (a process in uninterruptible sleep may
/// take longer; the directory then stays).
pub const DROP_WAIT: Duration = Duration::from_secs(10);

/// How [`ProcessTree::kill`] kills a cgroup tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KillMethod {
    /// `cgroup.kill` where the kernel has it (Linux 5.14+), else [`KillMethod::Freeze`].
    #[default]
    Auto,
    /// `cgroup.kill` only (Linux 5.14+): `SIGKILL` to every process of the cgroup and its
    /// sub-cgroups, by the kernel, in one write; `Unsupported` before 5.14.
    CgroupKill,
    /// Freeze the cgroup (`cgroup.freeze`, Linux 5.2+), wait for the kernel to report it
    /// frozen, `pidfd_open` each PID of `cgroup.procs`, read the list again and
    /// `pidfd_send_signal(SIGKILL)` each pidfd whose PID is still listed (no member can
    /// fork, exec or exit on its own while frozen, so the list is complete, and a PID listed
    /// after its pidfd was opened is the pidfd's process), then thaw — in rounds, until the
    /// tree is empty (see [`ProcessTree::kill`]). What [`KillMethod::Auto`] does before
    /// 5.14; choose it to test that path on a newer kernel.
    Freeze,
}

/// What a [`ProcessTree`] is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeKind {
    /// A cgroup v2 directory of its own: nothing started in it can leave it.
    Cgroup,
    /// The opt-in weaker fallback ([`TreeBuilder::process_group_fallback`]): a process
    /// group, with this process a child subreaper. A member that calls `setsid` (or
    /// `setpgid`) escapes it.
    ProcessGroup,
}

#[derive(Debug)]
enum Backend {
    Cgroup(CgroupTree),
    Group(GroupTree),
}

/// A set of processes that can be stopped as one: everything spawned through
/// [`ProcessTree::spawn`], and everything those processes start, however they fork,
/// daemonize or `setsid`.
///
/// Built on a fresh cgroup v2 directory (Linux 5.7+ for `CLONE_INTO_CGROUP`), created under
/// this process's own cgroup v2 when that is writable (delegated to this user, or root),
/// else under a parent given to [`TreeBuilder::parent`]. Each child starts inside it
/// (`CLONE_INTO_CGROUP`: it never runs a single instruction outside), so neither it nor its
/// descendants can leave it without write access to another cgroup.
///
/// * [`ProcessTree::pids`] lists the processes (`cgroup.procs`, sub-cgroups included);
/// * [`ProcessTree::kill`] kills them all (`cgroup.kill`, or freeze-signal-thaw: see
///   [`KillMethod`]); [`ProcessTree::signal`] sends any signal to each of them while the
///   tree is frozen; [`ProcessTree::stop`] is `SIGTERM`, a grace period, then `SIGKILL`;
/// * [`ProcessTree::wait_empty`] waits, with a timeout, until the last one has exited:
///   one blocking `poll(POLLPRI)` on `cgroup.events`, woken by the kernel when `populated`
///   drops to 0, not by each exit; [`ProcessTree::events_fd`] gives that fd to any event
///   loop (register it for `EPOLLPRI`, e.g. beside a [`crate::Reaper`]);
/// * dropped, the tree kills what is left (unless [`TreeBuilder::kill_on_drop`] is off),
///   waits up to [`DROP_WAIT`] for it to be gone (also when the kill reported an error)
///   and removes its directory.
///
/// The [`Child`] handles [`ProcessTree::spawn`] returns still reap their processes (the
/// tree never reaps them); a zombie does not keep the tree populated.
///
/// # The known escape: write access to another cgroup
///
/// A cgroup confines only processes that cannot write a `cgroup.procs` outside it. A member
/// running as root, or as the same user as this process when that user has a delegated
/// cgroup above the tree (a systemd user session), can move itself out by writing its PID
/// to such a file — and is then no longer listed, signalled, killed or waited for. Against
/// a member that might do so on purpose, run the children under another uid (e.g. with
/// [`Spawn::uid`]/[`Spawn::gid`]) that has no write access to any cgroup, and/or in a
/// cgroup namespace of its own, made inside the tree (e.g. by running the command through
/// `unshare --cgroup`): the kernel refuses to move a process to a cgroup outside its
/// cgroup namespace's root. [`Spawn`] has no option for `CLONE_NEWCGROUP` itself.
///
/// # Without a writable cgroup v2
///
/// [`ProcessTree::new`] fails with `ErrorKind::Unsupported` and a message naming what is
/// missing (no cgroup v2 in use, none mounted, not delegated). Callers who accept weaker
/// guarantees opt in to [`TreeBuilder::process_group_fallback`]: [`TreeKind::ProcessGroup`].
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use pidfd_core::{ProcessTree, Spawn};
///
/// # fn main() -> std::io::Result<()> {
/// let tree = ProcessTree::new()?;
/// // A shell whose daemon double-forks and calls setsid: still in the tree.
/// let shell = tree.spawn(Spawn::new("sh").args(["-c", "(setsid sleep 1000 &) ; sleep 1000"]))?;
/// tree.kill()?;                                    // everything, daemon included
/// assert!(tree.wait_empty(Some(Duration::from_secs(5)))?);
/// shell.wait()?;                                   // our own child: reap it
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ProcessTree {
    backend: Backend,
    kill_on_drop: bool,
    kill_method: KillMethod,
}

/// Options for a [`ProcessTree`]: [`ProcessTree::builder`].
#[derive(Debug, Clone)]
pub struct TreeBuilder {
    parent: Option<PathBuf>,
    kill_on_drop: bool,
    kill_method: KillMethod,
    process_group_fallback: bool,
}

impl Default for TreeBuilder {
    fn default() -> TreeBuilder {
        TreeBuilder {
            parent: None,
            kill_on_drop: true,
            kill_method: KillMethod::Auto,
            process_group_fallback: false,
        }
    }
}

impl TreeBuilder {
    /// The defaults: under this process's own cgroup v2, kill-on-drop,
    /// [`KillMethod::Auto`], no process-group fallback.
    pub fn new() -> TreeBuilder {
        TreeBuilder::default()
    }

    /// Creates the tree's directory under `dir`, a cgroup v2 directory this process can
    /// write (default: this process's own cgroup v2, found through `/proc/self/cgroup` and
    /// `/proc/self/mountinfo`).
    pub fn parent(&mut self, dir: impl AsRef<Path>) -> &mut TreeBuilder {
        self.parent = Some(dir.as_ref().to_owned());
        self
    }

    /// Whether dropping the tree kills what is left in it (default `true`). Without it, a
    /// dropped tree that still has processes leaves them running, and its directory stays.
    pub fn kill_on_drop(&mut self, yes: bool) -> &mut TreeBuilder {
        self.kill_on_drop = yes;
        self
    }

    /// How [`ProcessTree::kill`] (and kill-on-drop) kill (default [`KillMethod::Auto`]).
    pub fn kill_method(&mut self, method: KillMethod) -> &mut TreeBuilder {
        self.kill_method = method;
        self
    }

    /// Opt in to the weaker fallback where no writable cgroup v2 exists (default `false`):
    /// a [`TreeKind::ProcessGroup`] tree. Everything it spawns goes into one new process
    /// group (the first process spawned leads it), and this process becomes a child
    /// subreaper (`PR_SET_CHILD_SUBREAPER`, Linux 3.4+; process-wide, and left on), so
    /// members orphaned by their parents are re-parented to it and reaped by the tree.
    ///
    /// The subreaper attribute is the whole process's: orphans of *any* of its descendants
    /// (not only of the tree's) are re-parented to it and stay zombies until reaped; code
    /// elsewhere in the process that reaps with `waitpid(-1)` / `wait()` receives them; and
    /// it survives `execve`. See [`crate::sys::subreaper::set_child_subreaper`].
    ///
    /// Signals go to each member through a pidfd, checked to be in the group and a
    /// descendant of this process — never `kill(-pgid)`: once the group has no member left,
    /// its number may be given to an unrelated group.
    /// What is weaker, stated: a member that calls `setsid` (every classic daemon) or
    /// `setpgid` leaves the group — no signal of the tree reaches it, [`ProcessTree::pids`]
    /// does not list it, [`ProcessTree::wait_empty`] does not wait for it; when it exits, it
    /// is re-parented to this process and stays a zombie until something reaps it. The
    /// group is found by scanning `/proc`. A new spawn joins the group only while it has a
    /// member (`EPERM` once it is empty). [`ProcessTree::events_fd`] is `None`.
    pub fn process_group_fallback(&mut self, yes: bool) -> &mut TreeBuilder {
        self.process_group_fallback = yes;
        self
    }

    /// Creates the tree.
    ///
    /// # Errors
    ///
    /// `Unsupported`, with a message naming what is missing, when no writable cgroup v2
    /// exists and the process-group fallback is off: this process is in no cgroup v2
    /// (cgroup v1 host), no cgroup2 is mounted, its own cgroup is not delegated to it
    /// (`EACCES`/`EPERM`/`EROFS` creating the directory), or the parent given is not a
    /// cgroup v2 directory. With a parent given, errors creating the directory as they are
    /// (`PermissionDenied`, `NotFound`, …). With the fallback on: `EINVAL` from `prctl`
    /// before Linux 3.4.
    pub fn create(&self) -> io::Result<ProcessTree> {
        let backend = match CgroupTree::create(self.parent.as_deref()) {
            Ok(tree) => Backend::Cgroup(tree),
            Err(error)
                if self.process_group_fallback && error.kind() == io::ErrorKind::Unsupported =>
            {
                Backend::Group(GroupTree::create()?)
            }
            Err(error) => return Err(error),
        };
        Ok(ProcessTree {
            backend,
            kill_on_drop: self.kill_on_drop,
            kill_method: self.kill_method,
        })
    }
}

impl ProcessTree {
    /// A tree in a fresh cgroup under this process's own cgroup v2, with kill-on-drop:
    /// `TreeBuilder::new().create()`.
    ///
    /// # Errors
    ///
    /// As [`TreeBuilder::create`]: `Unsupported` naming what is missing.
    pub fn new() -> io::Result<ProcessTree> {
        TreeBuilder::new().create()
    }

    /// The options: [`TreeBuilder`].
    pub fn builder() -> TreeBuilder {
        TreeBuilder::new()
    }

    /// What the tree is built on.
    pub fn kind(&self) -> TreeKind {
        match self.backend {
            Backend::Cgroup(_) => TreeKind::Cgroup,
            Backend::Group(_) => TreeKind::ProcessGroup,
        }
    }

    /// The tree's cgroup directory (`None` for a [`TreeKind::ProcessGroup`] tree).
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Cgroup(tree) => Some(tree.path()),
            Backend::Group(_) => None,
        }
    }

    /// The process group of a [`TreeKind::ProcessGroup`] tree, once it has spawned (`None`
    /// for a cgroup tree).
    pub fn process_group(&self) -> Option<i32> {
        match &self.backend {
            Backend::Cgroup(_) => None,
            Backend::Group(tree) => tree.pgid(),
        }
    }

    /// Starts `spawn` in the tree: with `CLONE_INTO_CGROUP` (the child never runs outside
    /// it; the builder keeps the tree's cgroup for its later spawns), or, for a
    /// [`TreeKind::ProcessGroup`] tree, in the tree's process group.
    ///
    /// # Errors
    ///
    /// As [`Spawn::spawn`] (with [`Spawn::cgroup`]'s: `Unsupported` without `clone3` and
    /// `CLONE_INTO_CGROUP`, Linux 5.7+); `EMFILE` duplicating the directory's fd; `EPERM`
    /// joining a process group that has no member any more.
    pub fn spawn(&self, spawn: &mut Spawn) -> io::Result<Child> {
        match &self.backend {
            Backend::Cgroup(tree) => tree.spawn(spawn),
            Backend::Group(tree) => tree.spawn(spawn),
        }
    }

    /// The PIDs of the processes in the tree now (of a cgroup tree: `cgroup.procs` of its
    /// directory and sub-cgroups; of a process-group tree: the live members of the group).
    /// A snapshot: PIDs are only names — to act on one, open a pidfd and check it is still
    /// in the tree, or use [`ProcessTree::signal`].
    ///
    /// # Errors
    ///
    /// Reading `cgroup.procs` or `/proc`.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        match &self.backend {
            Backend::Cgroup(tree) => tree.pids(),
            Backend::Group(tree) => tree.pids(),
        }
    }

    /// Whether no process is left (`populated 0` in `cgroup.events`; zombies do not count).
    /// Read through an open file of its own: it does not consume a notification pending on
    /// [`ProcessTree::events_fd`].
    ///
    /// # Errors
    ///
    /// Reading `cgroup.events` (or `/proc`).
    pub fn is_empty(&self) -> io::Result<bool> {
        match &self.backend {
            Backend::Cgroup(tree) => tree.is_populated().map(|populated| !populated),
            Backend::Group(tree) => tree.is_populated().map(|populated| !populated),
        }
    }

    /// Waits until no process is left, up to `timeout` (`None`: no limit). `true` when the
    /// tree is empty, `false` when the time ran out first.
    ///
    /// A cgroup tree blocks in `poll(POLLPRI)` on `cgroup.events`, which the kernel wakes
    /// when `populated` (or `frozen`) changes — once for the last exit, not once per exit;
    /// no timer, no loop over processes. A process-group tree polls a pidfd per member and
    /// looks at `/proc` again after each exit.
    ///
    /// # Errors
    ///
    /// Reading `cgroup.events`; `poll(2)` (`EINTR` is retried).
    pub fn wait_empty(&self, timeout: Option<Duration>) -> io::Result<bool> {
        match &self.backend {
            Backend::Cgroup(tree) => tree.wait_empty(timeout),
            Backend::Group(tree) => tree.wait_empty(timeout),
        }
    }

    /// The tree's `cgroup.events`, for an event loop (`None` for a process-group tree):
    /// register it for `EPOLLPRI` (or `poll` it for `POLLPRI`); it becomes ready when the
    /// file changes, and stays ready until this open file is read again: re-arm it with a
    /// `pread` at offset 0 (through this fd or a `dup` of it, which shares the open file).
    /// [`ProcessTree::is_empty`] says whether the tree is empty; it reads through an open
    /// file of its own, so another thread's call cannot take a pending notification away.
    /// Check [`ProcessTree::is_empty`] after registering, so a change before is not missed.
    /// Valid as long as the tree.
    pub fn events_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.backend {
            Backend::Cgroup(tree) => Some(tree.events_fd()),
            Backend::Group(_) => None,
        }
    }

    /// Kills every process in the tree with `SIGKILL`, as the tree's [`KillMethod`] says.
    /// With `cgroup.kill` (and for a process-group tree) it returns at once:
    /// [`ProcessTree::wait_empty`] waits for them to be gone. The freeze path returns once
    /// the tree is empty: it repeats freeze-signal-thaw rounds (each waiting up to 1 s for
    /// the freeze, then up to 1 s for the tree to empty) until `populated 0`, up to 10 s in
    /// all — so a member forked past a freeze that did not complete is killed in a later
    /// round.
    ///
    /// # Errors
    ///
    /// `Unsupported` for [`KillMethod::CgroupKill`] before Linux 5.14, or for the freeze
    /// before Linux 5.2; for the freeze path, after 10 s of rounds with processes still
    /// left: the last round's error (`TimedOut` when the kernel did not report the tree
    /// frozen; `EPERM` from a signal), else `TimedOut`; writing the cgroup files.
    pub fn kill(&self) -> io::Result<()> {
        match &self.backend {
            Backend::Cgroup(tree) => tree.kill(self.kill_method),
            Backend::Group(tree) => tree.kill(),
        }
    }

    /// Sends `signal` to every process in the tree; returns how many were signalled. A
    /// cgroup tree is frozen first (`cgroup.freeze`, Linux 5.2+), so that no member can fork
    /// a process that would miss the signal; a pidfd is opened for each PID of
    /// `cgroup.procs`, the list is read again, and each pidfd whose PID is still listed is
    /// signalled (so the signal reaches the member listed, never a process that took its
    /// PID); then `cgroup.freeze` is put back as it was — thawed, or still frozen when the
    /// caller had frozen the tree. A stopped or frozen process sees the signal once it
    /// runs. A process-group tree: each member through a pidfd (see
    /// [`TreeBuilder::process_group_fallback`]).
    ///
    /// A failure for one process does not stop the others: every other member is still
    /// signalled, and the first error is returned.
    ///
    /// # Errors
    ///
    /// `Unsupported` before Linux 5.2 (no `cgroup.freeze`); `TimedOut` when the kernel did
    /// not report the tree frozen within 10 s (the processes listed were still signalled);
    /// `InvalidInput` (`EINVAL`) for an invalid signal; `EPERM`.
    pub fn signal(&self, signal: i32) -> io::Result<usize> {
        match &self.backend {
            Backend::Cgroup(tree) => tree.signal_frozen(signal),
            Backend::Group(tree) => tree.signal(signal),
        }
    }

    /// A graceful stop: `SIGTERM` (and `SIGCONT`, for stopped processes) to every process,
    /// up to `grace` for the tree to empty, then [`ProcessTree::kill`] for what is left.
    /// Returns `true` when the tree emptied within `grace`, `false` when something had to
    /// be killed (then [`ProcessTree::wait_empty`] waits for it to be gone).
    ///
    /// # Errors
    ///
    /// As [`ProcessTree::signal`], [`ProcessTree::wait_empty`] and [`ProcessTree::kill`]. When
    /// the `SIGTERM` (or `SIGCONT`) fails, the tree is killed all the same before the error
    /// is returned.
    pub fn stop(&self, grace: Duration) -> io::Result<bool> {
        let deadline = Deadline::after(Some(grace));
        let signalled = self
            .signal(libc::SIGTERM)
            .and_then(|_| self.signal(libc::SIGCONT));
        if let Err(error) = signalled {
            // Whatever the polite signal missed is still killed.
            let _ = self.kill();
            return Err(error);
        }
        if self.wait_empty(deadline.remaining())? {
            return Ok(true);
        }
        self.kill()?;
        Ok(false)
    }

    /// Removes the tree's cgroup directory now (and sub-cgroups its processes made); for an
    /// empty tree — drop does the same, ignoring errors.
    ///
    /// # Errors
    ///
    /// `EBUSY` (`ResourceBusy`) while a process is left; errors of `rmdir(2)`. The tree is
    /// consumed either way: on an error it is dropped as it would be otherwise — with
    /// kill-on-drop (the default), what is left is killed, waited for (up to
    /// [`DROP_WAIT`]) and the directory removed; without it, the processes keep running and
    /// the directory stays.
    pub fn remove(mut self) -> io::Result<()> {
        match &self.backend {
            Backend::Cgroup(tree) => tree.remove()?,
            Backend::Group(_) => {}
        }
        // Only once the directory is gone: on an error, `self` drops as any tree does.
        self.kill_on_drop = false;
        Ok(())
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        let populated = !matches!(self.is_empty(), Ok(true));
        if populated && self.kill_on_drop {
            // Even when the kill reported an error (a freeze that timed out, one PID that
            // could not be signalled), most of the tree may be dying: wait for it.
            let _ = self.kill();
            let _ = self.wait_empty(Some(DROP_WAIT));
        }
        if let Backend::Cgroup(tree) = &self.backend {
            // EBUSY when processes are left (no kill-on-drop): the directory stays.
            let _ = tree.remove();
        }
    }
}

/// Sends `signal` to one member through its pidfd, for the loops that signal every member:
/// counts it in `count` when sent, ignores a member gone since (`ESRCH`), and keeps the first
/// other error in `first_error` (the loop goes on with the other members).
fn signal_member(
    pidfd: &crate::PidFd,
    signal: i32,
    count: &mut usize,
    first_error: &mut Option<io::Error>,
) {
    match pidfd.send_signal(signal) {
        Ok(()) => *count += 1,
        Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {}
        Err(error) => {
            first_error.get_or_insert(error);
        }
    }
}
