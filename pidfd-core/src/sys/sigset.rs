//! `sigset_t` building, `pthread_sigmask(SIG_BLOCK)`, `signalfd(2)`, and the query of
//! `SIGCHLD`'s disposition ([`children_reaped_by_kernel`]).
//!
//! [`SigSet`] is the one place the workspace builds a `sigset_t` with `sigemptyset` /
//! `sigaddset` (the spawn child builds its own set with raw syscalls; a spawn split can use
//! [`SigSet::new`] for its parent side once it adds its `1..=NSIG` range check in front).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// A `sigset_t`, initialised by `sigemptyset`.
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl std::fmt::Debug for SigSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let signals: Vec<i32> = (1..=pidfd_sys::signal::NSIG)
            .filter(|&signal| pidfd_sys::syscalls::sigset_contains(&self.0, signal))
            .collect();
        f.debug_tuple("SigSet").field(&signals).finish()
    }
}

impl SigSet {
    /// `sigemptyset` then `sigaddset` for each of `signals`.
    ///
    /// # Errors
    ///
    /// `EINVAL` (`InvalidInput`) for a number `sigaddset` refuses (0, above `NSIG`, or a
    /// number the C library keeps for itself).
    pub fn new(signals: &[i32]) -> io::Result<SigSet> {
        // Zeroed first: musl's sigemptyset writes only the words the kernel uses (8 or 16
        // of its 128 bytes), so the rest must not be left uninitialised.
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
        // SAFETY: sigemptyset empties the set it is given; it cannot fail on a valid pointer.
        unsafe { libc::sigemptyset(set.as_mut_ptr()) };
        // SAFETY: every byte is initialised (zeroed, then emptied by sigemptyset).
        let mut set = SigSet(unsafe { set.assume_init() });
        for &signal in signals {
            // SAFETY: `set.0` is a live, initialised sigset_t; an invalid number gives
            // -1/EINVAL.
            super::cvt(unsafe { libc::sigaddset(&raw mut set.0, signal) })?;
        }
        Ok(set)
    }

    /// The C library's `sigset_t`.
    pub fn as_raw(&self) -> &libc::sigset_t {
        &self.0
    }

    /// `pthread_sigmask(SIG_BLOCK, self)` (with [`pidfd_sys::signal::SIG_BLOCK`], not libc's
    /// value, which is wrong on mips64 glibc): adds the set to the calling thread's mask.
    ///
    /// # Errors
    ///
    /// The error `pthread_sigmask` returns (`EINVAL` only for a bad `how`, which cannot
    /// happen here).
    pub fn block(&self) -> io::Result<()> {
        // SAFETY: `self.0` is an initialised sigset_t; the old mask is not asked for.
        let error = unsafe {
            libc::pthread_sigmask(
                pidfd_sys::signal::SIG_BLOCK,
                &raw const self.0,
                std::ptr::null_mut(),
            )
        };
        if error == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(error))
        }
    }

    /// `signalfd(-1, self, SFD_CLOEXEC | SFD_NONBLOCK)` (Linux 2.6.27+): a new non-blocking fd
    /// that receives the signals of the set (only those the receiving thread blocks stay
    /// pending for it; the caller's mask is left alone).
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE`/`ENOMEM`/`ENODEV`.
    pub fn signalfd(&self) -> io::Result<OwnedFd> {
        let flags = libc::SFD_CLOEXEC | libc::SFD_NONBLOCK;
        // SAFETY: -1 asks for a new fd, owned at once by `owned`; `self.0` is initialised.
        super::owned(unsafe { libc::signalfd(-1, &raw const self.0, flags) })
    }
}

/// Reads one `signalfd_siginfo` from the signalfd `fd` and returns its signal number.
///
/// # Errors
///
/// `errno` of `read(2)` as is: `EAGAIN` (`WouldBlock`) when none is pending on a
/// non-blocking fd, `EINTR`; `InvalidData` for a short read or a number above `i32::MAX`.
pub fn read_signal(fd: BorrowedFd<'_>) -> io::Result<i32> {
    let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
    let size = size_of::<libc::signalfd_siginfo>();
    // SAFETY: reads at most `size` bytes into `info`, from an fd borrowed for the call.
    let got = unsafe { libc::read(fd.as_raw_fd(), info.as_mut_ptr().cast(), size) };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    if usize::try_from(got) != Ok(size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "short read from signalfd",
        ));
    }
    // SAFETY: the kernel filled in the whole struct.
    let info = unsafe { info.assume_init() };
    i32::try_from(info.ssi_signo)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "signal number out of range"))
}

/// Whether the kernel reaps this process's children itself: `SIGCHLD`'s disposition is
/// `SIG_IGN`, or has `SA_NOCLDWAIT`. A query through the raw `rt_sigaction` with this ABI's
/// numbers (libc's `sigaction` layout, `SIGCHLD` and `SA_NOCLDWAIT` are wrong on mips64
/// glibc, see `pidfd_sys`'s errata); nothing changes. A caller about to install a `SIGCHLD`
/// handler asks first: one would end the kernel's reaping.
///
/// # Errors
///
/// `rt_sigaction(2)`'s (none for a valid signal).
#[cfg(feature = "tokio")]
pub fn children_reaped_by_kernel() -> io::Result<bool> {
    const SIG_IGN: usize = 1;
    let (handler, flags) = pidfd_sys::syscalls::rt_sigaction_query(pidfd_sys::signal::SIGCHLD)?;
    Ok(handler == SIG_IGN || flags & pidfd_sys::signal::SA_NOCLDWAIT != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pidfd_sys::signal::{SIGCHLD, SIGUSR1};
    use std::os::fd::AsFd;

    #[test]
    fn sets_hold_what_was_added() {
        let set = SigSet::new(&[SIGCHLD, SIGUSR1]).unwrap();
        assert!(pidfd_sys::syscalls::sigset_contains(set.as_raw(), SIGCHLD));
        assert!(pidfd_sys::syscalls::sigset_contains(set.as_raw(), SIGUSR1));
        assert!(!pidfd_sys::syscalls::sigset_contains(set.as_raw(), 2));
        let mut numbers = [SIGCHLD, SIGUSR1];
        numbers.sort_unstable();
        assert_eq!(format!("{set:?}"), format!("SigSet({numbers:?})"));
        assert_eq!(
            SigSet::new(&[0]).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn sigchld_is_not_ignored_here() {
        // The test harness leaves SIGCHLD at SIG_DFL, without flags (SIG_IGN and
        // SA_NOCLDWAIT are tested in the tests crate, each in a process of its own).
        assert!(!children_reaped_by_kernel().unwrap());
    }

    #[test]
    fn an_empty_signalfd_would_block() {
        // Not blocked in this thread, so nothing is ever queued on it: reading never blocks.
        let fd = SigSet::new(&[SIGUSR1]).unwrap().signalfd().unwrap();
        assert_eq!(
            read_signal(fd.as_fd()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }
}
