//! The process attributes of a [`Spawn`]: session and process group, signal mask and
//! dispositions, credentials, the parent-death signal, the cgroup to start in. Each is
//! recorded here and applied by the child between clone and exec (`child`), or by the
//! kernel at the clone (`cgroup`).

use std::os::fd::OwnedFd;

use super::Spawn;

impl Spawn {
    /// Starts the child in a new session (`setsid(2)`, like `POSIX_SPAWN_SETSID` and std's
    /// unstable `CommandExt::setsid`): it leads a new session and process group and has no
    /// controlling terminal.
    ///
    /// # Errors (from [`Spawn::spawn`])
    ///
    /// `EPERM` (the child's errno, like an exec failure) when combined with
    /// [`Spawn::process_group`]: the `setpgid` that follows `setsid` cannot move a session
    /// leader.
    pub fn setsid(&mut self, yes: bool) -> &mut Spawn {
        self.attributes.setsid = yes;
        self
    }

    /// The same as [`Spawn::setsid`], under the name `posix_spawn`'s flag suggests
    /// (`POSIX_SPAWN_SETSID`); kept as an alias, not deprecated.
    pub fn new_session(&mut self, yes: bool) -> &mut Spawn {
        self.setsid(yes)
    }

    /// Puts the child in process group `pgid` (`setpgid(0, pgid)`, like std's
    /// `CommandExt::process_group`); 0 makes it the leader of a new group with its own PID.
    pub fn process_group(&mut self, pgid: i32) -> &mut Spawn {
        self.attributes.process_group = Some(pgid);
        self
    }

    /// The child's signal mask: exactly these signals blocked (default: the parent's mask).
    pub fn signal_mask(&mut self, blocked: &[i32]) -> &mut Spawn {
        self.attributes.signal_mask = Some(blocked.to_vec());
        self
    }

    /// Signals whose disposition is reset to the default in the child — in particular ones
    /// the parent ignores, which would otherwise stay ignored across exec (like
    /// `POSIX_SPAWN_SETSIGDEF`). Caught signals are always reset, and so is `SIGPIPE` (see
    /// [`Spawn`]).
    pub fn default_signals(&mut self, signals: &[i32]) -> &mut Spawn {
        self.attributes.default_signals = signals.to_vec();
        self
    }

    /// The child's user ID: `setuid(uid)` in the child, after its stdio and file actions
    /// and before `chdir` and exec (so the working directory and the program are checked
    /// with the new ID), like std's `CommandExt::uid`.
    ///
    /// As in std, unless [`Spawn::groups`] was set, the child also drops every
    /// supplementary group (`setgroups(0, NULL)`) before `setuid` — an `EPERM` there (no
    /// `CAP_SETGID`) is ignored, so a process without privilege can still "change" to its
    /// own user ID. The child makes the raw 32-bit-ID syscalls (`setuid32` where the
    /// original takes 16-bit IDs: i386, arm, sparc, m68k), which change the child's
    /// credentials only — never the C library's wrappers, which would apply the change to
    /// every thread of a process sharing the child's memory.
    ///
    /// A vfork-style child shares the parent's memory until it execs, and the kernel
    /// resets the *memory's* dumpable flag when a task's IDs change; the spawn saves the
    /// parent's flag before the clone and puts it back afterwards (other threads may see it
    /// reset meanwhile), and spawns that change IDs are serialized within the process.
    /// A parent-death signal is set after the IDs change (the kernel clears it on a change
    /// of IDs), see [`Spawn::parent_death_signal`].
    ///
    /// # Errors (from [`Spawn::spawn`])
    ///
    /// The child's errno, reported like an exec failure (the child is reaped, nothing
    /// leaks): `PermissionDenied` (`EPERM`) without `CAP_SETUID`, unless `uid` is this
    /// process's real or saved user ID; `EINVAL` for an ID not mapped in the user
    /// namespace. `InvalidInput` before any clone for `u32::MAX` (`(uid_t)-1`, which is
    /// never an ID).
    ///
    /// # Example
    ///
    /// ```no_run
    /// use pidfd_core::Spawn;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// // As root: run `id` as nobody/nogroup with no supplementary groups.
    /// let process = Spawn::new("id").uid(65534).gid(65534).spawn()?;
    /// process.wait()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn uid(&mut self, uid: u32) -> &mut Spawn {
        self.attributes.uid = Some(uid);
        self
    }

    /// The child's group ID: `setgid(gid)` in the child, before `setuid` (which would drop
    /// the privilege it needs), like std's `CommandExt::gid`. Setting only the group keeps
    /// the supplementary groups (as std does).
    ///
    /// # Errors (from [`Spawn::spawn`])
    ///
    /// As for [`Spawn::uid`]: `PermissionDenied` (`EPERM`) without `CAP_SETGID` unless
    /// `gid` is this process's real or saved group ID; `EINVAL` for an unmapped ID;
    /// `InvalidInput` before any clone for `u32::MAX`.
    pub fn gid(&mut self, gid: u32) -> &mut Spawn {
        self.attributes.gid = Some(gid);
        self
    }

    /// The child's supplementary groups: `setgroups(groups)` in the child, first of the ID
    /// changes (before `setgid` and `setuid`), like std's unstable `CommandExt::groups`.
    /// An empty slice drops every supplementary group. When set, [`Spawn::uid`] does not
    /// drop the groups on its own.
    ///
    /// # Errors (from [`Spawn::spawn`])
    ///
    /// As for [`Spawn::uid`]: `PermissionDenied` (`EPERM`) without `CAP_SETGID` (even for
    /// the groups the process already has, and also when `setgroups` is denied in the user
    /// namespace); `EINVAL` for more than 65536 groups or an unmapped ID; `InvalidInput`
    /// before any clone for `u32::MAX`.
    pub fn groups(&mut self, groups: &[u32]) -> &mut Spawn {
        self.attributes.groups = Some(groups.to_vec());
        self
    }

    /// The signal the child gets when the *thread* that spawned it exits
    /// (`prctl(PR_SET_PDEATHSIG)`, set in the child right before exec, after any ID change,
    /// which would clear it); like Go's `SysProcAttr.Pdeathsig`. Use this ABI's number
    /// ([`pidfd_sys::signal`]: `SIGKILL`, `SIGTERM`, ...).
    ///
    /// The kernel's rule is per thread, not per process: the signal is sent when the
    /// spawning thread exits even if the rest of the process lives on — a thread of a pool
    /// that retires when idle kills its children. Spawn from a long-lived thread. The child
    /// then stays a child of the process (re-parented to another of its threads), so the
    /// returned handle still waits for it and reads its status, in pidfd and in pid mode
    /// alike (a pid-mode handle's PID stays reserved until that wait, as always). When the
    /// whole process dies, the child is re-parented to a subreaper or init and gets the
    /// signal as well. The setting is cleared when the child later runs a set-user-ID or
    /// set-group-ID program (or one with file capabilities), and survives other execs.
    ///
    /// The race where the process dies before the child has set the signal is closed as Go
    /// and systemd do it: the child compares `getppid()` with this process's PID, taken
    /// before the clone, right after `prctl`, and if its parent is already gone it sends
    /// itself the signal (`kill(getpid(), signal)`: delivered as the kernel would — a
    /// signal the child blocks stays pending across exec, an ignored one is ignored) and
    /// goes on to exec. The spawning thread itself cannot exit earlier: it is blocked in
    /// [`Spawn::spawn`] until the child has exec'd.
    ///
    /// # Errors (from [`Spawn::spawn`])
    ///
    /// `InvalidInput` before any clone when `signal` is outside `1..=NSIG` (64; 128 on
    /// mips).
    ///
    /// # Example
    ///
    /// ```
    /// use pidfd_core::Spawn;
    /// use pidfd_sys::signal::SIGKILL;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// // The child dies with the thread that spawned it (this one).
    /// let process = Spawn::new("true").parent_death_signal(SIGKILL).spawn()?;
    /// assert!(process.wait()?.success());
    /// # Ok(())
    /// # }
    /// ```
    pub fn parent_death_signal(&mut self, signal: i32) -> &mut Spawn {
        self.attributes.parent_death_signal = Some(signal);
        self
    }

    /// Starts the child directly in a cgroup v2 (`CLONE_INTO_CGROUP`, Linux 5.7+): `cgroup`
    /// is an fd of the cgroup's directory (opened `O_RDONLY | O_DIRECTORY` or `O_PATH`). The
    /// child is never visible in the parent's cgroup, so a limit applies from its first
    /// instruction — unlike writing its pid to `cgroup.procs` afterwards.
    ///
    /// This needs `clone3`: on x86_64 the child is still created vfork-style; elsewhere a
    /// fork-style `clone3` is used (cost grows with the parent's memory).
    ///
    /// # Errors (from [`Spawn::spawn`])
    ///
    /// `Unsupported` where clone3 or `CLONE_INTO_CGROUP` is refused (before Linux 5.7 —
    /// including 5.3–5.6, whose clone3 says `E2BIG` to the larger `clone_args` —, qemu-user,
    /// seccomp); the kernel's errno otherwise: `EBADF` when the fd is not a
    /// cgroup v2 directory, `EBUSY` for a cgroup with controllers enabled in its
    /// `cgroup.subtree_control` (not a leaf), `EACCES` without write access to its
    /// `cgroup.procs`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use std::fs::File;
    /// use pidfd_core::Spawn;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let cgroup = File::open("/sys/fs/cgroup/jobs/job-1")?;
    /// let process = Spawn::new("make").cgroup(cgroup).spawn()?;
    /// process.wait()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn cgroup(&mut self, cgroup: impl Into<OwnedFd>) -> &mut Spawn {
        self.cgroup = Some(cgroup.into());
        self
    }
}
