//! Flag types for the pidfd syscalls, with this ABI's values.
//!
//! Every type keeps unknown bits (`const _ = !0`, see the
//! [bitflags docs on externally defined flags](https://docs.rs/bitflags/2/bitflags/#externally-defined-flags)):
//! newer kernels add flags, and a raw layer must be able to pass them through.

use core::ffi::c_int;

use crate::abi::NATIVE;

bitflags::bitflags! {
    /// Flags for `pidfd_open(2)` (`PIDFD_*`).
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub struct PidfdFlags: u32 {
        /// `PIDFD_NONBLOCK` (= `O_NONBLOCK`, so it differs per ABI): `waitid(P_PIDFD)` on a
        /// running child fails with `EAGAIN` instead of blocking. Linux 5.10+; older kernels
        /// fail with `EINVAL`.
        const NONBLOCK = NATIVE.open_flags.nonblock;
        /// `PIDFD_THREAD` (= `O_EXCL`): the pidfd refers to a thread rather than a thread
        /// group. Linux 6.9+; older kernels fail with `EINVAL`.
        const THREAD = NATIVE.open_flags.excl;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// Flags for `pidfd_send_signal(2)` (`PIDFD_SIGNAL_*`), Linux 6.9+; older kernels fail
    /// with `EINVAL` for any non-zero value.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub struct PidfdSignalFlags: u32 {
        /// Signal only the thread the pidfd refers to.
        const THREAD = 1 << 0;
        /// Signal the whole thread group.
        const THREAD_GROUP = 1 << 1;
        /// Signal the whole process group.
        const PROCESS_GROUP = 1 << 2;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// Options for `waitid(2)` (`W*`); the same values on every Linux ABI.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub struct WaitIdOptions: c_int {
        /// `WNOHANG`: return at once if no child is waitable (the `siginfo_t` then has
        /// `si_pid == 0`).
        const NOHANG = 0x0000_0001;
        /// `WSTOPPED` (= `WUNTRACED`): report children stopped by a signal.
        const STOPPED = 0x0000_0002;
        /// `WEXITED`: report terminated children.
        const EXITED = 0x0000_0004;
        /// `WCONTINUED`: report stopped children resumed by `SIGCONT`.
        const CONTINUED = 0x0000_0008;
        /// `WNOWAIT`: leave the child waitable (do not reap it).
        const NOWAIT = 0x0100_0000;
        /// `__WNOTHREAD`: only wait for children of this thread.
        const NOTHREAD = 0x2000_0000;
        /// `__WALL`: wait for all children, clone or not.
        const ALL = 0x4000_0000;
        /// `__WCLONE`: wait only for "clone" children (those not signalling `SIGCHLD`).
        #[allow(clippy::cast_possible_wrap, reason = "the kernel's value is the sign bit")]
        const CLONE = 0x8000_0000_u32 as c_int;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// Flags for `clone(2)` and `clone3(2)` (`CLONE_*`); the same values on every ABI.
    ///
    /// The low 32 bits work with both syscalls (the low 8 bits of legacy `clone` hold the exit
    /// signal instead, so `CLONE_NEWTIME` is clone3-only); bits 32 and up need `clone3`.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub struct CloneFlags: u64 {
        /// `CLONE_NEWTIME`: new time namespace (clone3 only; Linux 5.6+).
        const NEWTIME = 0x0000_0080;
        /// `CLONE_VM`: share the address space.
        const VM = 0x0000_0100;
        /// `CLONE_FS`: share the filesystem information.
        const FS = 0x0000_0200;
        /// `CLONE_FILES`: share the file descriptor table.
        const FILES = 0x0000_0400;
        /// `CLONE_SIGHAND`: share signal handlers.
        const SIGHAND = 0x0000_0800;
        /// `CLONE_PIDFD`: return a pidfd for the child (Linux 5.2+). Legacy `clone` stores it
        /// through `parent_tid`, `clone3` through `clone_args.pidfd`. Old kernels ignore
        /// unknown legacy-clone flags: check the pidfd actually came back.
        const PIDFD = 0x0000_1000;
        /// `CLONE_PTRACE`.
        const PTRACE = 0x0000_2000;
        /// `CLONE_VFORK`: suspend the parent until the child execs or exits.
        const VFORK = 0x0000_4000;
        /// `CLONE_PARENT`: the child's parent is the caller's parent.
        const PARENT = 0x0000_8000;
        /// `CLONE_THREAD`: same thread group.
        const THREAD = 0x0001_0000;
        /// `CLONE_NEWNS`: new mount namespace.
        const NEWNS = 0x0002_0000;
        /// `CLONE_SYSVSEM`: share System V semaphore undo values.
        const SYSVSEM = 0x0004_0000;
        /// `CLONE_SETTLS`.
        const SETTLS = 0x0008_0000;
        /// `CLONE_PARENT_SETTID`: store the child's TID through `parent_tid`.
        const PARENT_SETTID = 0x0010_0000;
        /// `CLONE_CHILD_CLEARTID`.
        const CHILD_CLEARTID = 0x0020_0000;
        /// `CLONE_UNTRACED`.
        const UNTRACED = 0x0080_0000;
        /// `CLONE_CHILD_SETTID`.
        const CHILD_SETTID = 0x0100_0000;
        /// `CLONE_NEWCGROUP`: new cgroup namespace.
        const NEWCGROUP = 0x0200_0000;
        /// `CLONE_NEWUTS`: new UTS namespace.
        const NEWUTS = 0x0400_0000;
        /// `CLONE_NEWIPC`: new IPC namespace.
        const NEWIPC = 0x0800_0000;
        /// `CLONE_NEWUSER`: new user namespace.
        const NEWUSER = 0x1000_0000;
        /// `CLONE_NEWPID`: new PID namespace.
        const NEWPID = 0x2000_0000;
        /// `CLONE_NEWNET`: new network namespace.
        const NEWNET = 0x4000_0000;
        /// `CLONE_IO`: share the I/O context.
        const IO = 0x8000_0000;
        /// `CLONE_CLEAR_SIGHAND`: reset all signal handlers to default in the child (clone3
        /// only; Linux 5.5+).
        const CLEAR_SIGHAND = 0x1_0000_0000;
        /// `CLONE_INTO_CGROUP`: start the child in the cgroup `clone_args.cgroup` (clone3
        /// only; Linux 5.7+).
        const INTO_CGROUP = 0x2_0000_0000;
        const _ = !0;
    }
}

/// `idtype_t` for `waitid(2)`.
pub type IdType = core::ffi::c_uint;
/// `P_ALL`: wait for any child.
pub const P_ALL: IdType = 0;
/// `P_PID`: wait for the child with this PID.
pub const P_PID: IdType = 1;
/// `P_PGID`: wait for any child in this process group.
pub const P_PGID: IdType = 2;
/// `P_PIDFD`: wait for the child this pidfd refers to (Linux 5.4+; older kernels: `EINVAL`).
pub const P_PIDFD: IdType = 3;

/// `CLD_*` values of `si_code` for `SIGCHLD`; the same on every ABI.
pub mod cld {
    use core::ffi::c_int;
    /// The child called `_exit(2)` or returned from `main`.
    pub const EXITED: c_int = 1;
    /// The child was killed by a signal.
    pub const KILLED: c_int = 2;
    /// The child was killed by a signal and dumped core.
    pub const DUMPED: c_int = 3;
    /// A traced child has trapped.
    pub const TRAPPED: c_int = 4;
    /// The child was stopped by a signal.
    pub const STOPPED: c_int = 5;
    /// A stopped child was continued by `SIGCONT`.
    pub const CONTINUED: c_int = 6;
}
