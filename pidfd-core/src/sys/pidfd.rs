//! Safe forms of the [`pidfd_sys::syscalls`] pidfd-core uses outside the spawn child, plus
//! `kill(2)`, `fstat(2)` and `fstatfs(2)`: fds are borrowed (`BorrowedFd<'_>`) for the call
//! and new ones come back owned (`OwnedFd`). The errnos are those of the raw wrappers
//! (documented there), passed on unchanged as [`Errno`].

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use pidfd_sys::flags::{IdType, P_PIDFD, PidfdFlags, PidfdSignalFlags, WaitIdOptions};
use pidfd_sys::{Errno, pidfd_info, siginfo_t, syscalls};

/// Owns a fresh fd the kernel just returned.
fn owned(raw: RawFd) -> OwnedFd {
    use std::os::fd::FromRawFd as _;
    // SAFETY: `raw` was just created by the kernel for this call; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// `pidfd_open(2)` (Linux 5.3+): a new pidfd for `pid`; see [`syscalls::pidfd_open`].
///
/// # Errors
///
/// As [`syscalls::pidfd_open`]: `ESRCH`, `EINVAL`, `EMFILE`/`ENFILE`, `ENOSYS`.
pub fn pidfd_open(pid: libc::c_int, flags: PidfdFlags) -> Result<OwnedFd, Errno> {
    // SAFETY: the new fd is owned at once.
    unsafe { syscalls::pidfd_open(pid, flags) }.map(owned)
}

/// `pidfd_send_signal(2)` (Linux 5.1+) with no `siginfo_t`; see
/// [`syscalls::pidfd_send_signal`].
///
/// # Errors
///
/// As [`syscalls::pidfd_send_signal`]: `ESRCH`, `EINVAL`, `EPERM`, `EBADF`, `ENOSYS`.
#[inline]
pub fn pidfd_send_signal(
    pidfd: BorrowedFd<'_>,
    signal: libc::c_int,
    flags: PidfdSignalFlags,
) -> Result<(), Errno> {
    // SAFETY: `pidfd` is borrowed for the call.
    unsafe { syscalls::pidfd_send_signal(pidfd.as_raw_fd(), signal, None, flags) }
}

/// `pidfd_getfd(2)` (Linux 5.6+) with flags 0; see [`syscalls::pidfd_getfd`].
///
/// # Errors
///
/// As [`syscalls::pidfd_getfd`]: `EBADF`, `EPERM`, `ESRCH`, `ENOSYS`.
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, target_fd: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: `pidfd` is borrowed for the call; the new fd is owned at once.
    unsafe { syscalls::pidfd_getfd(pidfd.as_raw_fd(), target_fd, 0) }.map(owned)
}

/// `ioctl(PIDFD_GET_INFO)` (Linux 6.13+); see [`syscalls::pidfd_get_info`].
///
/// # Errors
///
/// As [`syscalls::pidfd_get_info`]: `ESRCH`, `ENOTTY`, `ENOSYS`.
pub fn pidfd_get_info(pidfd: BorrowedFd<'_>, info: &mut pidfd_info) -> Result<(), Errno> {
    // SAFETY: `pidfd` is borrowed for the call.
    unsafe { syscalls::pidfd_get_info(pidfd.as_raw_fd(), info) }
}

/// `waitid(P_PIDFD, pidfd)` (Linux 5.4+), once (no `EINTR` retry); see
/// [`syscalls::waitid`].
///
/// # Errors
///
/// As [`syscalls::waitid`]: `ECHILD`, `EINTR`, `EAGAIN`, `EINVAL`.
pub fn waitid_pidfd(
    pidfd: BorrowedFd<'_>,
    info: &mut siginfo_t,
    options: WaitIdOptions,
    rusage: Option<&mut libc::rusage>,
) -> Result<(), Errno> {
    let id = u32::try_from(pidfd.as_raw_fd()).map_err(|_| Errno::BADF)?;
    // SAFETY: with P_PIDFD, `id` is `pidfd`, borrowed for the call.
    unsafe { syscalls::waitid(P_PIDFD, id, info, options, rusage) }
}

/// `waitid(idtype, id)` for an `idtype` that takes no fd (`P_PID`, `P_PGID`, `P_ALL`), once
/// (no `EINTR` retry); see [`syscalls::waitid`].
///
/// # Errors
///
/// As [`syscalls::waitid`]; `EINVAL` (before any syscall) for `P_PIDFD`, which needs
/// [`waitid_pidfd`].
pub fn waitid_id(
    idtype: IdType,
    id: u32,
    info: &mut siginfo_t,
    options: WaitIdOptions,
    rusage: Option<&mut libc::rusage>,
) -> Result<(), Errno> {
    if idtype == P_PIDFD {
        return Err(Errno::INVAL);
    }
    // SAFETY: not P_PIDFD: `id` is no fd.
    unsafe { syscalls::waitid(idtype, id, info, options, rusage) }
}

/// `kill(pid, signal)` for one process: `pid` must be `> 0` (0 and negative values address
/// process groups or everyone, and are refused here before any syscall).
///
/// # Errors
///
/// `EINVAL` for `pid <= 0` or an invalid signal; `ESRCH`; `EPERM`.
pub fn kill(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: kill takes two integers and touches no memory of ours; pid > 0.
    super::cvt(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// A zeroed `struct rusage` (for [`waitid_pidfd`]).
pub fn zeroed_rusage() -> libc::rusage {
    // SAFETY: rusage is plain data (integers and timevals); all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// `fstatfs(2)`'s `f_type` (the filesystem magic) of `fd`.
///
/// # Errors
///
/// `errno` as is: `EBADF`, `EIO`, `ENOSYS`.
pub fn fs_type(fd: BorrowedFd<'_>) -> io::Result<i64> {
    // SAFETY: statfs is plain data; all-zero is valid.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is borrowed for the call; `fs` is writable.
    super::cvt(unsafe { libc::fstatfs(fd.as_raw_fd(), &raw mut fs) })?;
    #[allow(
        clippy::unnecessary_cast,
        clippy::cast_lossless,
        clippy::cast_possible_wrap,
        reason = "f_type is i64, i32 or u32 depending on the ABI"
    )]
    Ok(fs.f_type as i64)
}

/// `fstat(2)`'s `(st_dev, st_ino)` of `fd`.
///
/// # Errors
///
/// `errno` as is: `EBADF`, `EOVERFLOW`.
pub fn dev_ino(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    // SAFETY: stat is plain data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is borrowed for the call; `st` is writable.
    super::cvt(unsafe { libc::fstat(fd.as_raw_fd(), &raw mut st) })?;
    #[allow(
        clippy::useless_conversion,
        reason = "dev_t/ino_t widths differ per ABI"
    )]
    Ok((u64::from(st.st_dev), u64::from(st.st_ino)))
}
