//! The kernel-feature probe: which pidfd syscalls and flags work here, found out once.
//!
//! Every syscall and flag a pidfd code path needs is tried on this process itself (no child
//! is created): `pidfd_open`, `waitid(P_PIDFD)`, `pidfd_send_signal`, the `PIDFD_NONBLOCK`
//! and `PIDFD_THREAD` flags and the `PIDFD_GET_INFO` ioctl. A probe that fails with
//! `ENOSYS` (old kernel, emulator), `EPERM` (seccomp filters such as old Docker profiles) or
//! `EINVAL` (unknown flag) means "unsupported". `EMFILE`/`ENFILE` (no fd to probe with) is
//! returned to the caller and *not* cached, so a later call probes again.
//!
//! # Caching: per process, or per thread
//!
//! An answer that allows pidfd mode is cached for the life of the process. One that does
//! not is cached for the probing thread only: seccomp filters are per thread, so a refusal
//! seen in one thread must not silently move every other thread to pid mode (and drop PID
//! reuse protection everywhere). Each other thread re-verifies with a probe of its own
//! (three syscalls, once per thread) — on a kernel without pidfds, every thread finds the
//! same. `PIDFD_DISABLE=1` is the exception: it applies to the whole process.
//!
//! Set `PIDFD_DISABLE=1` in the environment to make every feature report unsupported without
//! making any pidfd syscall — for sandboxes whose seccomp filter kills the process on an
//! unknown syscall (`SIGSYS`) instead of failing it.
//!
//! The probes go through the safe wrappers of [`crate::sys`]; the refusal set is the spawn
//! strategies' (`crate::sys::refused`), so the probe and spawn can never disagree on it.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use pidfd_sys::flags::{PidfdFlags, PidfdSignalFlags, WaitIdOptions};
use pidfd_sys::{Errno, pidfd_info, siginfo_t};

use crate::sys;

/// The pidfd features the running kernel (and any seccomp filter or emulator) allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Features {
    /// `pidfd_open(2)` (Linux 5.3+).
    pub pidfd_open: bool,
    /// `waitid(P_PIDFD)` (Linux 5.4+).
    pub waitid_pidfd: bool,
    /// `pidfd_send_signal(2)` (Linux 5.1+).
    pub send_signal: bool,
    /// `PIDFD_NONBLOCK` (Linux 5.10+).
    pub nonblock: bool,
    /// `PIDFD_THREAD` (Linux 6.9+).
    pub thread: bool,
    /// `ioctl(PIDFD_GET_INFO)` (Linux 6.13+).
    pub get_info: bool,
    /// `PIDFD_DISABLE=1` was set: nothing was probed.
    pub disabled_by_env: bool,
}

impl Features {
    /// Whether a process handle can run in pidfd mode: open, wait and signal all work.
    pub fn pidfd_mode(&self) -> bool {
        self.pidfd_open && self.waitid_pidfd && self.send_signal
    }

    /// The cache word: [`PROBED`] plus one bit per feature, in field order.
    fn to_bits(self) -> u32 {
        let flags = [
            self.pidfd_open,
            self.waitid_pidfd,
            self.send_signal,
            self.nonblock,
            self.thread,
            self.get_info,
            self.disabled_by_env,
        ];
        flags.iter().enumerate().fold(
            PROBED,
            |bits, (i, &on)| if on { bits | (2 << i) } else { bits },
        )
    }

    fn from_bits(bits: u32) -> Self {
        let on = |i: u32| bits & (2 << i) != 0;
        Self {
            pidfd_open: on(0),
            waitid_pidfd: on(1),
            send_signal: on(2),
            nonblock: on(3),
            thread: on(4),
            get_info: on(5),
            disabled_by_env: on(6),
        }
    }
}

/// Bit 0 of the cache: the probe has run and its answer is stored.
const PROBED: u32 = 1;
/// Answers that allow pidfd mode (or `PIDFD_DISABLE=1`): for every thread.
static CACHE: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// An answer that does not allow pidfd mode: for the thread that found it only.
    static THREAD_CACHE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The environment variable that turns pidfd use off.
pub const DISABLE_ENV: &str = "PIDFD_DISABLE";

/// The features of this kernel, probed on first use and cached.
///
/// # Errors
///
/// `EMFILE`/`ENFILE` when no fd was available to probe with (not cached); any unexpected
/// error from a probe.
pub fn features() -> io::Result<Features> {
    if let Some(features) = cached() {
        return Ok(features);
    }
    let features = probe()?;
    if features.pidfd_mode() || features.disabled_by_env {
        // Two threads may probe at once; they store the same answer.
        CACHE.store(features.to_bits(), Ordering::Release);
    } else {
        // Possibly a filter on this thread alone: the others re-verify (module docs).
        let _ = THREAD_CACHE.try_with(|cell| cell.set(features.to_bits()));
    }
    Ok(features)
}

/// The answer [`features`] would give the calling thread without probing, if known.
pub(crate) fn cached() -> Option<Features> {
    let process = CACHE.load(Ordering::Acquire);
    if process & PROBED != 0 {
        return Some(Features::from_bits(process));
    }
    let thread = THREAD_CACHE.try_with(std::cell::Cell::get).unwrap_or(0);
    (thread & PROBED != 0).then(|| Features::from_bits(thread))
}

/// Whether `PIDFD_DISABLE` asks for pid mode (any value but empty and `0`).
fn disabled_by_env() -> bool {
    std::env::var_os(DISABLE_ENV).is_some_and(|value| !value.is_empty() && value != "0")
}

/// What a probe's failure means: "unsupported" for the refusals of spawn's strategies
/// (`ENOSYS`, `EPERM`, `EINVAL`: [`crate::sys::refused`]) and, for the `PIDFD_GET_INFO`
/// ioctl, `ENOTTY`/`EOPNOTSUPP` (no such ioctl on this kernel or fd).
fn unsupported(errno: Errno) -> io::Result<bool> {
    if sys::refused(errno) || matches!(errno, Errno::NOTTY | Errno::OPNOTSUPP) {
        Ok(false)
    } else {
        Err(errno.into())
    }
}

fn probe_open(flags: PidfdFlags) -> io::Result<Option<OwnedFd>> {
    let pid = i32::try_from(std::process::id()).map_err(|_| Errno::INVAL)?;
    match sys::pidfd::pidfd_open(pid, flags) {
        Ok(fd) => Ok(Some(fd)),
        Err(errno) => unsupported(errno).map(|_| None),
    }
}

fn probe() -> io::Result<Features> {
    if disabled_by_env() {
        return Ok(Features {
            disabled_by_env: true,
            ..Features::default()
        });
    }
    let Some(own) = probe_open(PidfdFlags::empty())? else {
        return Ok(Features::default());
    };
    let fd = own.as_fd();
    let mut features = Features {
        pidfd_open: true,
        ..Features::default()
    };
    // waitid on our own pidfd: we are not our own child, so a kernel that understands
    // P_PIDFD says ECHILD; one that does not says EINVAL.
    let mut info = siginfo_t::zeroed();
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
    features.waitid_pidfd = match sys::pidfd::waitid_pidfd(fd, &mut info, options, None) {
        Err(Errno::CHILD) => true,
        Ok(()) => true,
        Err(errno) => unsupported(errno)?,
    };
    // Signal 0 only checks that we exist.
    features.send_signal = match sys::pidfd::pidfd_send_signal(fd, 0, PidfdSignalFlags::empty()) {
        Ok(()) => true,
        Err(errno) => unsupported(errno)?,
    };
    features.nonblock = probe_open(PidfdFlags::NONBLOCK)?.is_some();
    features.thread = probe_open(PidfdFlags::THREAD)?.is_some();
    let mut pidfd_info = pidfd_info::default();
    features.get_info = match sys::pidfd::pidfd_get_info(fd, &mut pidfd_info) {
        Ok(()) => true,
        Err(errno) => unsupported(errno)?,
    };
    Ok(features)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        let all = Features {
            pidfd_open: true,
            waitid_pidfd: true,
            send_signal: true,
            nonblock: true,
            thread: true,
            get_info: true,
            disabled_by_env: true,
        };
        assert_eq!(Features::from_bits(all.to_bits()), all);
        let some = Features {
            waitid_pidfd: true,
            get_info: true,
            ..Features::default()
        };
        assert_eq!(Features::from_bits(some.to_bits()), some);
        assert_eq!(Features::default().to_bits(), PROBED);
    }

    #[test]
    fn probe_errors_that_mean_unsupported() {
        for errno in [Errno::NOSYS, Errno::PERM, Errno::INVAL, Errno::NOTTY] {
            assert!(!unsupported(errno).unwrap());
        }
        for errno in [Errno::MFILE, Errno::NFILE, Errno::NOMEM] {
            assert_eq!(
                unsupported(errno).unwrap_err().raw_os_error(),
                Some(errno.raw_os_error())
            );
        }
    }
}
