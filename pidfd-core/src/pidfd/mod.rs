//! [`PidFd`]: an owned process file descriptor.
//!
//! Its syscalls go through the safe wrappers of [`crate::sys`] on the `OwnedFd` inside a
//! `PidFd` (borrowed for the call). The only `unsafe` left here is fd-ownership transfer:
//! `FromRawFd` and [`PidFd::from_clone`] (a fresh fd from `CLONE_PIDFD`), each with an
//! item-level `allow`.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use pidfd_sys::flags::{PidfdFlags, PidfdSignalFlags};
use pidfd_sys::pidfs::PidfdInfoMask;
use pidfd_sys::{Errno, pidfd_info};

use crate::sys;
use crate::{error, fdinfo};

mod info;
mod wait;

pub use info::{Ids, ProcessIdentity, ProcessInfo, ResourceUsage};

bitflags::bitflags! {
    /// Flags for [`PidFd::open_with`].
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub struct OpenFlags: u32 {
        /// `PIDFD_NONBLOCK` (Linux 5.10+): [`PidFd::wait`] on a running child fails with
        /// `WouldBlock` instead of blocking. On older kernels [`PidFd::open_with`] fails
        /// with `Unsupported` ([`crate::error::is_unsupported`]).
        const NONBLOCK = PidfdFlags::NONBLOCK.bits();
        /// `PIDFD_THREAD` (Linux 6.9+): refer to one thread (any TID) rather than a thread
        /// group; the fd becomes readable when that thread exits. On older kernels
        /// [`PidFd::open_with`] fails with `Unsupported`.
        const THREAD = PidfdFlags::THREAD.bits();
    }
}

bitflags::bitflags! {
    /// Flags for [`PidFd::send_signal_with`] (Linux 6.9+; on older kernels any flag fails
    /// with `Unsupported`, see [`crate::error::is_unsupported`]). At most one may be given.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub struct SignalFlags: u32 {
        /// Signal only the thread the pidfd refers to.
        const THREAD = PidfdSignalFlags::THREAD.bits();
        /// Signal the whole thread group.
        const THREAD_GROUP = PidfdSignalFlags::THREAD_GROUP.bits();
        /// Signal the process group of the process.
        const PROCESS_GROUP = PidfdSignalFlags::PROCESS_GROUP.bits();
    }
}

/// An owned Linux process file descriptor.
///
/// A pidfd refers to one process for its whole life: unlike a PID, it can never come to mean
/// a different process. Signalling through it after the process has exited fails with
/// `ESRCH`; waiting through it waits for exactly that child; it becomes readable (`poll`,
/// `epoll`) when the process exits.
///
/// The fd is close-on-exec and is closed when the `PidFd` is dropped.
///
/// Requires Linux 5.3 (`pidfd_open`); waiting needs 5.4 (`waitid(P_PIDFD)`). On older
/// kernels the calls fail with `ErrorKind::Unsupported` — the kernel's `ENOSYS` as is, or
/// its `EINVAL` for `P_PIDFD` or a flag it does not know, re-kinded with a message naming
/// the version needed (the errno stays readable through [`crate::error::errno`]);
/// [`crate::probe::features`] tells in advance. [`crate::error::is_gone`] and
/// [`crate::error::is_unsupported`] match the two errors most callers handle.
///
/// # Example
///
/// ```
/// use pidfd_core::PidFd;
///
/// # fn main() -> std::io::Result<()> {
/// let child = std::process::Command::new("sh").args(["-c", "exit 3"]).spawn()?;
/// let pidfd = PidFd::open(child.id())?;
/// assert_eq!(pidfd.pid()?, child.id());
/// assert_eq!(pidfd.wait()?.code(), Some(3));
/// # Ok(())
/// # }
/// ```
pub struct PidFd {
    fd: OwnedFd,
}

/// Checks a PID before any syscall: 0 and values above `i32::MAX` would mean "the caller's
/// process group" or wrap negative (the one PID check of pidfd-core: [`PidFd`] and
/// [`crate::Process`] use it).
pub(crate) fn check_pid(pid: u32) -> io::Result<i32> {
    match i32::try_from(pid) {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{pid} is not a process ID (must be 1..=i32::MAX)"),
        )),
    }
}

impl PidFd {
    /// `pidfd_open(2)`: a pidfd for the process `pid` (Linux 5.3+).
    ///
    /// Anyone may open a pidfd for any process; signalling still needs permission, and waiting
    /// only works for children.
    ///
    /// # Errors
    ///
    /// * `InvalidInput` for pid 0 or above `i32::MAX` (before any syscall);
    /// * `ESRCH` ([`crate::error::is_gone`]) when no such process exists — also when it is
    ///   exiting (the kernel's `EINVAL` for a PID whose last thread is gone is reported as
    ///   `ESRCH`). A thread ID that is not a thread-group leader gives `ESRCH` too where the
    ///   kernel answers `EINVAL` for it, and `ENOENT` where it tells the two apart (6.18
    ///   does); open it with [`OpenFlags::THREAD`];
    /// * `EMFILE`/`ENFILE`;
    /// * `Unsupported` (`ENOSYS`, [`crate::error::is_unsupported`]) before Linux 5.3, under
    ///   qemu-user without the syscall, or under a seccomp filter answering `ENOSYS`; a
    ///   filter answering `EPERM` gives `PermissionDenied`.
    pub fn open(pid: u32) -> io::Result<PidFd> {
        Self::open_with(pid, OpenFlags::empty())
    }

    /// `pidfd_open(2)` with flags: [`OpenFlags::NONBLOCK`] (5.10+), [`OpenFlags::THREAD`]
    /// (6.9+; `pid` may then be any thread ID).
    ///
    /// # Errors
    ///
    /// As [`PidFd::open`], and for the flags:
    /// * `Unsupported` (with `EINVAL` kept, see [`crate::error::errno`]) when the kernel
    ///   does not know a flag asked for: `NONBLOCK` before Linux 5.10, `THREAD` before 6.9
    ///   (also under qemu-user on ABIs whose flag bits it passes on untranslated). The
    ///   kernel answers `EINVAL` both for an unknown flag and for an exiting process; the
    ///   cached [`crate::probe::features`] tells them apart (an exiting process gives
    ///   `ESRCH`, as without flags);
    /// * `InvalidInput` (`EINVAL`) for bits that are not [`OpenFlags`], or when the probe
    ///   cannot tell (`PIDFD_DISABLE=1`, or the probe itself failed).
    pub fn open_with(pid: u32, flags: OpenFlags) -> io::Result<PidFd> {
        let pid = check_pid(pid)?;
        match sys::pidfd::pidfd_open(pid, PidfdFlags::from_bits_retain(flags.bits())) {
            Ok(fd) => Ok(PidFd { fd }),
            // With valid flags, EINVAL means the pid's task is gone mid-exit
            // (systemd #36982): report it as the process being gone.
            Err(Errno::INVAL) if flags.is_empty() => Err(Errno::SRCH.into()),
            Err(Errno::INVAL) => Err(open_flags_refused(flags)),
            Err(errno) => Err(errno.into()),
        }
    }

    /// A pidfd for the calling process.
    ///
    /// # Errors
    ///
    /// As [`PidFd::open`].
    pub fn current() -> io::Result<PidFd> {
        Self::open(std::process::id())
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Takes the fd a `CLONE_PIDFD` clone wrote for its child `pid` — if it is one.
    /// Negative: none (the kernel ignored `CLONE_PIDFD`, before Linux 5.2). 0, 1 or 2 only
    /// when it really is a pidfd of `pid` (or of a process already reaped): qemu-user 8+
    /// writes 0 when the host's `pidfd_open` fails, and taking that would close our stdin on
    /// drop. A rejected number is left alone (not closed).
    ///
    /// # Safety
    ///
    /// A `raw` above 2 must be an fd the kernel just created for the caller, owned by no one
    /// else.
    #[allow(unsafe_code, reason = "takes ownership of a fresh fd from CLONE_PIDFD")]
    pub(crate) unsafe fn from_clone(raw: RawFd, pid: u32) -> Option<PidFd> {
        if raw < 0 {
            return None;
        }
        if raw <= 2 && !is_pidfd_of(raw, pid) {
            return None;
        }
        // SAFETY: above 2: guaranteed by the caller; 0–2: checked to be the child's pidfd,
        // which only the kernel's clone can have put there for us.
        Some(unsafe { PidFd::from_raw_fd(raw) })
    }

    /// The PID of the process, in our PID namespace.
    ///
    /// Uses `PIDFD_GET_INFO` (Linux 6.13+), else the `Pid:` line of
    /// `/proc/self/fdinfo/<fd>` (Linux 5.3+).
    ///
    /// # Errors
    ///
    /// `ESRCH` once the process has been reaped (through fdinfo only from Linux 5.5 and
    /// 5.4.294: older kernels keep showing the old PID there after the reap — check
    /// [`PidFd::send_signal`] with signal 0 to know); `EREMOTE` when it lives in a PID
    /// namespace we cannot see; `EBADF` when the fd is not a pidfd (never a wrong number);
    /// `NotFound` when the ioctl is unavailable and `/proc` is not mounted.
    pub fn pid(&self) -> io::Result<u32> {
        let mut info = pidfd_info {
            mask: PidfdInfoMask::PID.bits(),
            ..pidfd_info::default()
        };
        match sys::pidfd::pidfd_get_info(self.fd.as_fd(), &mut info) {
            Ok(()) if PidfdInfoMask::from_bits_retain(info.mask).contains(PidfdInfoMask::PID) => {
                return if info.pid == 0 {
                    Err(Errno::REMOTE.into())
                } else {
                    Ok(info.pid)
                };
            }
            Err(Errno::SRCH) => return Err(Errno::SRCH.into()),
            Err(Errno::BADF) => return Err(Errno::BADF.into()),
            // Old kernel (ENOTTY/EINVAL), emulator (ENOSYS), or not a pidfd: ask fdinfo.
            _ => {}
        }
        let text = std::fs::read(format!("/proc/self/fdinfo/{}", self.raw()))?;
        fdinfo::parse_pid(&text)
            .ok_or_else(|| io::Error::from(Errno::BADF))?
            .into_result()
    }

    /// `pidfd_send_signal(2)`: send `signal` to the process (Linux 5.1+). Signal 0 checks
    /// that the process still exists without sending anything. An exited process that has
    /// not been reaped yet (a zombie) still exists: signals to it succeed and do nothing.
    ///
    /// # Errors
    ///
    /// `ESRCH` ([`crate::error::is_gone`]) once the process has been reaped — never another
    /// process; `EPERM` without permission; `InvalidInput` (`EINVAL`) for an invalid signal
    /// (not in `0..=NSIG`), or for a process in a PID namespace that is not ours or below
    /// ours; `Unsupported` (`ENOSYS`) before Linux 5.1 or under a seccomp filter answering
    /// `ENOSYS`.
    #[inline]
    pub fn send_signal(&self, signal: i32) -> io::Result<()> {
        self.send_signal_with(signal, SignalFlags::empty())
    }

    /// [`PidFd::send_signal`] with [`SignalFlags`] (Linux 6.9+).
    ///
    /// # Errors
    ///
    /// As [`PidFd::send_signal`], and for the flags:
    /// * `Unsupported` (with `EINVAL` kept, see [`crate::error::errno`]) when the kernel
    ///   does not know the flag (before Linux 6.9). The kernel answers `EINVAL` for that
    ///   as for an invalid signal; after checking the rest, a flagless signal-0 check of the
    ///   same pidfd tells which it was;
    /// * `InvalidInput` (`EINVAL`) for more than one flag, bits that are not
    ///   [`SignalFlags`], or an invalid signal.
    #[inline]
    pub fn send_signal_with(&self, signal: i32, flags: SignalFlags) -> io::Result<()> {
        let raw = PidfdSignalFlags::from_bits_retain(flags.bits());
        match sys::pidfd::pidfd_send_signal(self.fd.as_fd(), signal, raw) {
            Ok(()) => Ok(()),
            Err(Errno::INVAL) if !flags.is_empty() => Err(self.signal_flags_refused(signal, flags)),
            Err(errno) => Err(errno.into()),
        }
    }

    /// `pidfd_send_signal(signal, flags)` said `EINVAL`: the caller's mistake, or flags this
    /// kernel does not know? The kernel checks the flags first (unknown bits, more than one
    /// scope), before the fd, the PID namespace and the signal; so with one known flag bit
    /// and a valid signal, a flagless signal 0 that gets past `EINVAL` shows that the flag
    /// was what it refused.
    fn signal_flags_refused(&self, signal: i32, flags: SignalFlags) -> io::Error {
        let caller_error = flags.bits().count_ones() != 1
            || !SignalFlags::all().contains(flags)
            || !(0..=pidfd_sys::signal::NSIG).contains(&signal);
        if caller_error {
            return Errno::INVAL.into();
        }
        match sys::pidfd::pidfd_send_signal(self.fd.as_fd(), 0, PidfdSignalFlags::empty()) {
            // The same EINVAL without the flag (a PID namespace we may not signal into).
            Err(Errno::INVAL) => Errno::INVAL.into(),
            _ => error::refused(
                Errno::INVAL,
                "pidfd_send_signal with a PIDFD_SIGNAL_* flag",
                "Linux 6.9",
            ),
        }
    }

    /// Sends `SIGKILL`.
    ///
    /// # Errors
    ///
    /// As [`PidFd::send_signal`].
    pub fn kill(&self) -> io::Result<()> {
        self.send_signal(pidfd_sys::signal::SIGKILL)
    }

    /// `pidfd_getfd(2)`: a duplicate of the process's fd `target_fd` (Linux 5.6+). The new
    /// fd is close-on-exec and refers to the same open file description.
    ///
    /// # Errors
    ///
    /// `EBADF` when the process has no such fd; `EPERM` without ptrace-attach permission;
    /// `ESRCH` ([`crate::error::is_gone`]) when the process is gone; `Unsupported`
    /// (`ENOSYS`) before Linux 5.6, under qemu-user, or under a seccomp filter answering
    /// `ENOSYS`.
    pub fn get_fd(&self, target_fd: RawFd) -> io::Result<OwnedFd> {
        Ok(sys::pidfd::pidfd_getfd(self.fd.as_fd(), target_fd)?)
    }
}

/// `pidfd_open(pid, flags)` with some flags said `EINVAL`: either the kernel does not know
/// a flag (it checks them before the PID), or the process is exiting (as without flags).
/// The cached probe knows which flags this kernel takes.
fn open_flags_refused(flags: OpenFlags) -> io::Error {
    if !OpenFlags::all().contains(flags) {
        return Errno::INVAL.into();
    }
    let features = match crate::probe::features() {
        Ok(features) if !features.disabled_by_env => features,
        // Nothing was probed: cannot tell.
        _ => return Errno::INVAL.into(),
    };
    if flags.contains(OpenFlags::NONBLOCK) && !features.nonblock {
        error::refused(Errno::INVAL, "PIDFD_NONBLOCK", "Linux 5.10")
    } else if flags.contains(OpenFlags::THREAD) && !features.thread {
        error::refused(Errno::INVAL, "PIDFD_THREAD", "Linux 6.9")
    } else {
        Errno::SRCH.into()
    }
}

/// Whether `fd` is a pidfd of the process `pid` (or of one already reaped: `ESRCH` is a
/// pidfd-only answer). Borrows `fd` without closing it.
#[allow(
    unsafe_code,
    reason = "a non-owning view of an fd number the caller vouches for"
)]
pub(crate) fn is_pidfd_of(fd: RawFd, pid: u32) -> bool {
    // SAFETY: a borrowed view of `fd` that is never dropped (ManuallyDrop), so never closed.
    let borrowed = std::mem::ManuallyDrop::new(unsafe { PidFd::from_raw_fd(fd) });
    match borrowed.pid() {
        Ok(found) => found == pid,
        Err(error) => error.raw_os_error() == Some(libc::ESRCH),
    }
}

impl fmt::Debug for PidFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("PidFd");
        debug.field("fd", &self.raw());
        match self.pid() {
            Ok(pid) => debug.field("pid", &pid),
            Err(_) => debug.field("pid", &format_args!("unknown")),
        };
        debug.finish()
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

impl IntoRawFd for PidFd {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

#[allow(
    unsafe_code,
    reason = "FromRawFd: fd-ownership transfer, the caller's promise"
)]
impl FromRawFd for PidFd {
    /// # Safety
    ///
    /// `fd` must be an open pidfd that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> Self {
        // SAFETY: guaranteed by the caller.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        PidFd { fd }
    }
}

impl From<OwnedFd> for PidFd {
    /// Takes ownership of `fd`, which should be a pidfd; operations on anything else fail
    /// with `EBADF`/`EINVAL` (never a panic, never a wrong answer).
    fn from(fd: OwnedFd) -> Self {
        PidFd { fd }
    }
}

impl From<PidFd> for OwnedFd {
    fn from(pidfd: PidFd) -> Self {
        pidfd.fd
    }
}

#[cfg(test)]
#[allow(unsafe_code, reason = "tests: a raw fcntl, and from_clone's contract")]
mod tests {
    use super::*;

    #[test]
    fn invalid_pids_are_refused_before_any_syscall() {
        for pid in [0, i32::MAX as u32 + 1, u32::MAX] {
            assert_eq!(
                PidFd::open(pid).unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
            assert_eq!(
                check_pid(pid).unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
        }
        assert_eq!(check_pid(1).unwrap(), 1);
        assert_eq!(check_pid(i32::MAX as u32).unwrap(), i32::MAX);
    }

    #[test]
    fn only_a_pidfd_of_the_child_is_taken_from_a_clone() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let pidfd = PidFd::open(child.id()).unwrap();
        assert!(is_pidfd_of(pidfd.raw(), child.id()));
        assert!(
            !is_pidfd_of(pidfd.raw(), child.id() + 1),
            "another process's pidfd"
        );
        assert!(!is_pidfd_of(null.as_raw_fd(), child.id()), "not a pidfd");
        // Still open: the check never closes what it rejects.
        let flags = {
            // SAFETY: F_GETFD only reads the fd's flags.
            unsafe { libc::fcntl(null.as_raw_fd(), libc::F_GETFD) }
        };
        assert_ne!(flags, -1);
        // SAFETY: negative: nothing is taken.
        assert!(unsafe { PidFd::from_clone(-1, child.id()) }.is_none());
        child.kill().unwrap();
        child.wait().unwrap();
        // Reaped elsewhere: still a pidfd (ESRCH is a pidfd-only answer).
        assert!(is_pidfd_of(pidfd.raw(), child.id()));
    }
}
