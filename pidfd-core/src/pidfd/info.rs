//! What the kernel tells about the process behind a [`PidFd`]: [`PidFd::info`]
//! (`PIDFD_GET_INFO`), [`PidFd::is_same_process`] (pidfs inodes) and the [`ResourceUsage`]
//! of a reaped child.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::process::ExitStatus;
use std::time::Duration;

use pidfd_sys::pidfs::PidfdInfoMask;
use pidfd_sys::{Errno, pidfd_info};

use super::PidFd;
use crate::{error, exit_status, sys};

/// What `PIDFD_GET_INFO` says about a process (Linux 6.13+). See [`PidFd::info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// PID in our PID namespace (0: not visible from it).
    pub pid: u32,
    /// Thread-group ID in our PID namespace.
    pub tgid: u32,
    /// Parent's PID in our PID namespace (0: not visible, or none).
    pub ppid: u32,
    /// Real, effective, saved and filesystem user IDs.
    pub uids: Ids,
    /// Real, effective, saved and filesystem group IDs.
    pub gids: Ids,
    /// The cgroup v2 ID, where the kernel reports one.
    pub cgroup_id: Option<u64>,
    /// The exit status, once the process has exited and been reaped (Linux 6.15+).
    pub exit_status: Option<ExitStatus>,
}

/// Real, effective, saved and filesystem IDs (user or group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ids {
    /// Real ID.
    pub real: u32,
    /// Effective ID.
    pub effective: u32,
    /// Saved set-ID.
    pub saved: u32,
    /// Filesystem ID.
    pub filesystem: u32,
}

/// Resource usage of a reaped child, as `waitid(2)` reports it (see
/// [`PidFd::wait_with_rusage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceUsage {
    /// CPU time spent in user mode.
    pub user_time: Duration,
    /// CPU time spent in the kernel.
    pub system_time: Duration,
    /// Peak resident set size, in KiB.
    pub max_rss_kib: u64,
    /// Page faults that needed I/O.
    pub major_faults: u64,
    /// Page faults served without I/O.
    pub minor_faults: u64,
    /// Voluntary context switches.
    pub voluntary_context_switches: u64,
    /// Involuntary context switches.
    pub involuntary_context_switches: u64,
}

/// A kernel counter as `u64`; negative garbage becomes 0.
fn count<T: TryInto<u64>>(value: T) -> u64 {
    value.try_into().unwrap_or(0)
}

impl ResourceUsage {
    pub(crate) fn from_rusage(usage: &libc::rusage) -> Self {
        let duration = |tv: libc::timeval| {
            let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
            let micros = u32::try_from(tv.tv_usec).unwrap_or(0).min(999_999);
            Duration::new(secs, micros * 1000)
        };
        Self {
            user_time: duration(usage.ru_utime),
            system_time: duration(usage.ru_stime),
            max_rss_kib: count(usage.ru_maxrss),
            major_faults: count(usage.ru_majflt),
            minor_faults: count(usage.ru_minflt),
            voluntary_context_switches: count(usage.ru_nvcsw),
            involuntary_context_switches: count(usage.ru_nivcsw),
        }
    }
}

impl PidFd {
    /// What the kernel knows about the process (`PIDFD_GET_INFO`, Linux 6.13+), including the
    /// exit status after it was reaped (Linux 6.15+).
    ///
    /// # Errors
    ///
    /// `Unsupported` ([`crate::error::is_unsupported`]) before Linux 6.13 (and under
    /// qemu-user), or for an fd that is not a pidfd: the kernel's `ENOTTY` (`EINVAL` on 6.11
    /// and 6.12, `ENOSYS` under qemu-user), kept readable through [`crate::error::errno`];
    /// `ESRCH`
    /// ([`crate::error::is_gone`]) when the process has been reaped and the kernel keeps no
    /// exit status for it (before Linux 6.15).
    pub fn info(&self) -> io::Result<ProcessInfo> {
        let wanted = PidfdInfoMask::PID
            | PidfdInfoMask::CREDS
            | PidfdInfoMask::CGROUPID
            | PidfdInfoMask::EXIT;
        let mut raw = pidfd_info {
            mask: wanted.bits(),
            ..pidfd_info::default()
        };
        match sys::pidfd::pidfd_get_info(self.fd.as_fd(), &mut raw) {
            Ok(()) => {}
            // EINVAL: Linux 6.11 and 6.12 have pidfd ioctls, but refuse any with an argument.
            Err(errno @ (Errno::NOTTY | Errno::NOSYS | Errno::INVAL)) => {
                return Err(error::refused(
                    errno,
                    "ioctl(PIDFD_GET_INFO)",
                    "Linux 6.13 and a pidfd",
                ));
            }
            Err(errno) => return Err(errno.into()),
        }
        let got = PidfdInfoMask::from_bits_retain(raw.mask);
        let exit_status = if got.contains(PidfdInfoMask::EXIT) {
            let decoded = pidfd_sys::child_status::ChildStatus::from_wait_status(raw.exit_code)
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "bad PIDFD_INFO_EXIT status")
                })?;
            Some(exit_status::from_child_status(decoded)?)
        } else {
            None
        };
        Ok(ProcessInfo {
            pid: raw.pid,
            tgid: raw.tgid,
            ppid: raw.ppid,
            uids: Ids {
                real: raw.ruid,
                effective: raw.euid,
                saved: raw.suid,
                filesystem: raw.fsuid,
            },
            gids: Ids {
                real: raw.rgid,
                effective: raw.egid,
                saved: raw.sgid,
                filesystem: raw.fsgid,
            },
            cgroup_id: got
                .contains(PidfdInfoMask::CGROUPID)
                .then_some(raw.cgroupid),
            exit_status,
        })
    }

    /// Whether two pidfds refer to the same process, by pidfs inode (Linux 6.9+, 64-bit
    /// only: there pidfs inode numbers are unique for the life of the system).
    ///
    /// # Errors
    ///
    /// `Unsupported` on 32-bit targets and when either fd is not on pidfs (older kernels
    /// give anonymous-inode pidfds, which all share one inode) — this never guesses.
    pub fn is_same_process(&self, other: &PidFd) -> io::Result<bool> {
        Ok(self.identity()? == other.identity()?)
    }

    /// The process's identity for the life of the system: its pidfs inode (Linux 6.9+,
    /// 64-bit only). Unlike a PID it is never reused, so it can key a map of processes.
    ///
    /// # Errors
    ///
    /// `Unsupported` on 32-bit targets (pidfs inode numbers can repeat there) and when the
    /// fd is not on pidfs (before Linux 6.9 pidfds are anonymous inodes, which all share
    /// one inode) — this never guesses; errors of `fstatfs(2)`/`fstat(2)`.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use pidfd_core::PidFd;
    /// let me = PidFd::current()?;
    /// match me.identity() {
    ///     Ok(identity) => assert_eq!(identity, PidFd::current()?.identity()?),
    ///     Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::Unsupported),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn identity(&self) -> io::Result<ProcessIdentity> {
        if cfg!(not(target_pointer_width = "64")) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "pidfs inode numbers are not unique on 32-bit targets",
            ));
        }
        let (dev, inode) = pidfs_identity(self.fd.as_fd())?;
        Ok(ProcessIdentity { dev, inode })
    }
}

/// A process's identity for the life of the system (see [`PidFd::identity`]): equal for
/// two pidfds exactly when they refer to the same process, whatever its PID became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessIdentity {
    dev: u64,
    inode: u64,
}

impl ProcessIdentity {
    /// The pidfs inode number, as `fstat(2)` of a pidfd reports it.
    pub fn inode(&self) -> u64 {
        self.inode
    }
}

/// `PIDFS_MAGIC` ("PIDF"): the filesystem type of pidfds on Linux 6.9+.
const PIDFS_MAGIC: i64 = 0x5049_4446;

/// (device, inode) of a pidfs fd; `Unsupported` if the fd is not on pidfs.
fn pidfs_identity(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    if sys::pidfd::fs_type(fd)? != PIDFS_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "pidfd is not on pidfs (needs Linux 6.9)",
        ));
    }
    sys::pidfd::dev_ino(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_usage_clamps_garbage() {
        let mut usage = sys::pidfd::zeroed_rusage();
        usage.ru_utime.tv_sec = -5;
        usage.ru_utime.tv_usec = 5_000_000;
        usage.ru_maxrss = -1;
        let converted = ResourceUsage::from_rusage(&usage);
        assert_eq!(converted.user_time, Duration::new(0, 999_999_000));
        assert_eq!(converted.max_rss_kib, 0);
    }
}
