//! How the child is created ([`Strategy`], from fastest to most compatible), which
//! refusals each thread remembers (see [`Spawn`](super::Spawn)), the set of errnos that
//! mean "refused" ([`refused`], shared with [`crate::fork()`]), and the choice for a cgroup
//! spawn.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU8, Ordering};

use pidfd_sys::Errno;

use super::launch::{Launch, launch};
use super::prepare::Prepared;
use crate::{Process, probe};

/// How the child is created, from fastest to most compatible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Strategy {
    /// `clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_CLEAR_SIGHAND)` on a separate
    /// stack (x86_64: `pidfd_sys::syscalls::clone3_on_stack`).
    Clone3Vfork = 1,
    /// libc `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` on a separate stack.
    VforkPidfd = 2,
    /// Fork-style `clone3(CLONE_PIDFD)`.
    Clone3Pidfd = 3,
    /// Fork-style `clone(CLONE_PIDFD)`.
    ClonePidfd = 4,
    /// `clone(CLONE_VM | CLONE_VFORK)` without a pidfd: the child is a pid-mode Process.
    VforkPid = 5,
}

/// The process-wide first strategy, from the probe (0: not chosen yet).
static CHOSEN: AtomicU8 = AtomicU8::new(0);
/// Strategies refused with `ENOSYS` (a missing syscall), one bit each (`1 << strategy`):
/// skipped by every thread. Pid mode is never in it (see [`Spawn`](super::Spawn)).
static MISSING: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// Strategies refused in this thread (any refusal), one bit each: skipped by it only.
    static THREAD_REFUSED: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

impl Strategy {
    fn from_u8(value: u8) -> Option<Strategy> {
        Some(match value {
            1 => Strategy::Clone3Vfork,
            2 => Strategy::VforkPidfd,
            3 => Strategy::Clone3Pidfd,
            4 => Strategy::ClonePidfd,
            5 => Strategy::VforkPid,
            _ => return None,
        })
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The first of `self` and the strategies after it that neither this thread nor (by
    /// `ENOSYS`) the process has seen refused; the last one (pid mode) is always tried.
    pub(super) fn first_usable(self) -> Strategy {
        let thread = THREAD_REFUSED.try_with(std::cell::Cell::get).unwrap_or(0);
        let refused = MISSING.load(Ordering::Acquire) | thread;
        let mut strategy = self;
        while refused & strategy.bit() != 0 {
            match strategy.next() {
                Some(next) => strategy = next,
                None => break,
            }
        }
        strategy
    }

    /// Where this thread starts, if a strategy was chosen in this process.
    pub(super) fn current() -> Option<Strategy> {
        Strategy::from_u8(CHOSEN.load(Ordering::Acquire)).map(Strategy::first_usable)
    }

    pub(super) fn chosen() -> io::Result<Strategy> {
        // The probe's answer may be this thread's alone (see `probe`): consult it first.
        let features = probe::features()?;
        if !features.pidfd_mode() {
            if features.disabled_by_env {
                CHOSEN.store(Strategy::VforkPid as u8, Ordering::Release);
            }
            return Ok(Strategy::VforkPid);
        }
        if let Some(strategy) = Strategy::current() {
            return Ok(strategy);
        }
        let strategy = if pidfd_sys::syscalls::CLONE3_ON_STACK {
            Strategy::Clone3Vfork
        } else {
            Strategy::VforkPidfd
        };
        // Two threads may choose at once; they choose the same.
        CHOSEN.store(strategy as u8, Ordering::Release);
        Ok(strategy.first_usable())
    }

    pub(super) fn next(self) -> Option<Strategy> {
        match self {
            Strategy::Clone3Vfork => Some(Strategy::VforkPidfd),
            Strategy::VforkPidfd => Some(Strategy::Clone3Pidfd),
            Strategy::Clone3Pidfd => Some(Strategy::ClonePidfd),
            Strategy::ClonePidfd => Some(Strategy::VforkPid),
            Strategy::VforkPid => None,
        }
    }

    /// This strategy was refused with `errno`: this thread skips it from now on; every
    /// thread does when `clone3` is missing (`ENOSYS` from a clone3 flavour: an old kernel,
    /// an emulator, a container profile). `ENOSYS` from the legacy `clone`, which every
    /// kernel has, can only come from a filter — possibly on this thread alone — so it is
    /// never recorded for the process: the legacy fork-style `clone(CLONE_PIDFD)` stays
    /// open to every other thread, and no refusal seen in one thread can move another
    /// thread to pid mode. (An emulator's vfork that does not share memory is cached by the
    /// sharing check itself.) Pid mode is never skipped: it is the last resort.
    pub(super) fn remember_refused(self, errno: Errno) {
        if self == Strategy::VforkPid {
            return;
        }
        let _ = THREAD_REFUSED.try_with(|cell| cell.set(cell.get() | self.bit()));
        let clone3 = matches!(self, Strategy::Clone3Vfork | Strategy::Clone3Pidfd);
        if errno == Errno::NOSYS && clone3 {
            MISSING.fetch_or(self.bit(), Ordering::AcqRel);
        }
    }

    pub(super) fn describe(self) -> &'static str {
        match self {
            Strategy::Clone3Vfork => {
                "clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_CLEAR_SIGHAND) on a separate stack"
            }
            Strategy::VforkPidfd => "clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) on a separate stack",
            Strategy::Clone3Pidfd => "fork-style clone3(CLONE_PIDFD)",
            Strategy::ClonePidfd => "fork-style clone(CLONE_PIDFD)",
            Strategy::VforkPid => "clone(CLONE_VM|CLONE_VFORK), pid mode",
        }
    }
}

pub(crate) use crate::sys::refused;

/// Linux 5.3–5.6 have clone3 but not `CLONE_INTO_CGROUP`: they refuse the larger
/// `clone_args` it needs (non-zero bytes past the size they know) with `E2BIG`. From the
/// clone itself (never from exec, whose `E2BIG` is reported as is), that means "no cgroup
/// spawn here" — documented as `Unsupported`.
pub(super) fn cgroup_unknown(cgroup: Option<RawFd>, errno: Errno) -> bool {
    cgroup.is_some() && errno == Errno::TOOBIG
}

/// Spawns into the cgroup `cgroup`: clone3 only (vfork-style where available).
pub(super) fn spawn_into_cgroup(prepared: &Prepared, cgroup: RawFd) -> io::Result<Process> {
    let vfork_style = pidfd_sys::syscalls::CLONE3_ON_STACK
        && Strategy::current().is_none_or(|strategy| strategy == Strategy::Clone3Vfork);
    let attempts: &[Strategy] = if !probe::features()?.pidfd_mode() {
        &[]
    } else if vfork_style {
        &[Strategy::Clone3Vfork, Strategy::Clone3Pidfd]
    } else {
        &[Strategy::Clone3Pidfd]
    };
    for &strategy in attempts {
        match launch(prepared, strategy, Some(cgroup)) {
            Ok(process) => return Ok(process),
            Err(Launch::Failed(error)) => return Err(error),
            Err(Launch::Refused(_)) => {}
        }
    }
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "spawning into a cgroup needs clone3 with CLONE_PIDFD and CLONE_INTO_CGROUP \
         (Linux 5.7+), which this kernel, emulator or seccomp filter refuses",
    ))
}
