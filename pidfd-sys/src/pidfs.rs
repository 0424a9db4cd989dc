//! `struct pidfd_info` and the pidfs ioctls (`PIDFD_GET_INFO`, `PIDFD_GET_*_NAMESPACE`).

#![allow(non_camel_case_types, reason = "kernel spelling")]

use core::mem::{align_of, offset_of, size_of};

use crate::abi::NATIVE;

/// `PIDFS_IOCTL_MAGIC`.
pub const PIDFS_IOCTL_MAGIC: u8 = 0xFF;

/// `PIDFD_INFO_SIZE_VER0`: the first published size (Linux 6.13).
pub const PIDFD_INFO_SIZE_VER0: usize = 64;

bitflags::bitflags! {
    /// `pidfd_info.mask` bits (`PIDFD_INFO_*`): what to fetch on input, what was filled in on
    /// output.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub struct PidfdInfoMask: u64 {
        /// `pid`, `tgid`, `ppid` (always returned). Linux 6.13+.
        const PID = 1 << 0;
        /// The credentials (always returned). Linux 6.13+.
        const CREDS = 1 << 1;
        /// `cgroupid` (returned when available). Linux 6.13+.
        const CGROUPID = 1 << 2;
        /// `exit_code`, once the process has been reaped; only when asked. Linux 6.15+.
        const EXIT = 1 << 3;
        /// `coredump_mask`; only when asked. Linux 6.16+.
        const COREDUMP = 1 << 4;
        const _ = !0;
    }
}

/// `struct pidfd_info`, filled in by [`crate::syscalls::pidfd_get_info`] (Linux 6.13+).
///
/// The struct is extensible: the kernel reads the size from the ioctl request and fills in
/// what both sides know. This is the Linux 6.16 layout (72 bytes); kernels from 6.13 fill
/// the first [`PIDFD_INFO_SIZE_VER0`] bytes and leave the rest as passed in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct pidfd_info {
    /// [`PidfdInfoMask`] bits: requested on input, returned on output.
    pub mask: u64,
    /// The cgroup v2 ID of the process.
    pub cgroupid: u64,
    /// PID, in the caller's PID namespace.
    pub pid: u32,
    /// Thread-group ID, in the caller's PID namespace.
    pub tgid: u32,
    /// Parent PID, in the caller's PID namespace (0 if the parent is outside it).
    pub ppid: u32,
    /// Real user ID.
    pub ruid: u32,
    /// Real group ID.
    pub rgid: u32,
    /// Effective user ID.
    pub euid: u32,
    /// Effective group ID.
    pub egid: u32,
    /// Saved set-user-ID.
    pub suid: u32,
    /// Saved set-group-ID.
    pub sgid: u32,
    /// Filesystem user ID.
    pub fsuid: u32,
    /// Filesystem group ID.
    pub fsgid: u32,
    /// The `waitpid(2)`-style status word after the process was reaped, with
    /// [`PidfdInfoMask::EXIT`] (Linux 6.15+).
    pub exit_code: i32,
    /// `PIDFD_COREDUMP*` bits, with [`PidfdInfoMask::COREDUMP`] (Linux 6.16+).
    pub coredump_mask: u32,
    /// Reserved.
    pub spare1: u32,
}

static_assertions::const_assert_eq!(size_of::<pidfd_info>(), 72);
static_assertions::const_assert_eq!(align_of::<pidfd_info>(), align_of::<u64>());
static_assertions::const_assert_eq!(offset_of!(pidfd_info, mask), 0);
static_assertions::const_assert_eq!(offset_of!(pidfd_info, cgroupid), 8);
static_assertions::const_assert_eq!(offset_of!(pidfd_info, pid), 16);
static_assertions::const_assert_eq!(offset_of!(pidfd_info, tgid), 20);
static_assertions::const_assert_eq!(offset_of!(pidfd_info, ppid), 24);
static_assertions::const_assert_eq!(offset_of!(pidfd_info, ruid), 28);
static_assertions::const_assert_eq!(offset_of!(pidfd_info, fsgid), 56);
static_assertions::const_assert_eq!(offset_of!(pidfd_info, exit_code), 60);
static_assertions::const_assert_eq!(offset_of!(pidfd_info, coredump_mask), PIDFD_INFO_SIZE_VER0);
static_assertions::const_assert_eq!(offset_of!(pidfd_info, spare1), 68);

/// `PIDFD_GET_INFO` = `_IOWR(PIDFS_IOCTL_MAGIC, 11, struct pidfd_info)` for this crate's
/// [`pidfd_info`] size, in this ABI's encoding.
pub const PIDFD_GET_INFO: u32 =
    match NATIVE
        .ioctl
        .iowr(PIDFS_IOCTL_MAGIC, 11, size_of::<pidfd_info>())
    {
        Some(request) => request,
        None => panic!("pidfd_info does not fit the ioctl size field"),
    };

/// The namespaces a pidfd can open with `PIDFD_GET_*_NAMESPACE` (Linux 6.11+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PidfdNamespace {
    /// `PIDFD_GET_CGROUP_NAMESPACE`.
    Cgroup = 1,
    /// `PIDFD_GET_IPC_NAMESPACE`.
    Ipc = 2,
    /// `PIDFD_GET_MNT_NAMESPACE`.
    Mnt = 3,
    /// `PIDFD_GET_NET_NAMESPACE`.
    Net = 4,
    /// `PIDFD_GET_PID_NAMESPACE`.
    Pid = 5,
    /// `PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE`.
    PidForChildren = 6,
    /// `PIDFD_GET_TIME_NAMESPACE`.
    Time = 7,
    /// `PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE`.
    TimeForChildren = 8,
    /// `PIDFD_GET_USER_NAMESPACE`.
    User = 9,
    /// `PIDFD_GET_UTS_NAMESPACE`.
    Uts = 10,
}

impl PidfdNamespace {
    /// Every namespace, in ioctl-number order.
    pub const ALL: [Self; 10] = [
        Self::Cgroup,
        Self::Ipc,
        Self::Mnt,
        Self::Net,
        Self::Pid,
        Self::PidForChildren,
        Self::Time,
        Self::TimeForChildren,
        Self::User,
        Self::Uts,
    ];

    /// The ioctl request: `_IO(PIDFS_IOCTL_MAGIC, n)` in this ABI's encoding.
    pub const fn request(self) -> u32 {
        NATIVE.ioctl.io(PIDFS_IOCTL_MAGIC, self as u8)
    }
}
