//! Errors users can match: [`is_gone`], [`is_unsupported`], and the kernel's [`errno`]
//! behind an error.
//!
//! Every fallible call of this crate returns [`std::io::Error`]. Two answers matter to
//! almost every caller and are easy to get subtly wrong by hand, so they have predicates:
//!
//! * [`is_gone`] — the process is gone (`ESRCH`): reaped, or (for [`crate::PidFd::open`])
//!   never there. Signalling a reaped process through a pidfd or a [`crate::Process`] gives
//!   this, never a signal to another process.
//! * [`is_unsupported`] — this kernel, emulator or sandbox does not offer the call or flag
//!   (`ErrorKind::Unsupported`). Wherever this crate can tell that a refusal means "kernel
//!   too old" (an `EINVAL` for a syscall, flag or `idtype` an older kernel does not know,
//!   with arguments the crate has already checked), it reports `Unsupported` with a message
//!   that names the Linux version needed — never `InvalidInput`. `InvalidInput` stays for
//!   the caller's own mistakes (pid 0, an invalid signal number, two signal-scope flags at
//!   once) and for the few `EINVAL`s that cannot be told apart (see each function's
//!   `# Errors`).
//!
//! # Example
//!
//! ```
//! use pidfd_core::{PidFd, error};
//!
//! # fn main() -> std::io::Result<()> {
//! let child = std::process::Command::new("true").spawn()?;
//! let pidfd = match PidFd::open(child.id()) {
//!     Ok(pidfd) => pidfd,
//!     // No pidfds here (Linux < 5.3, or a sandbox answering ENOSYS): use the pid.
//!     Err(e) if error::is_unsupported(&e) => return Ok(()),
//!     Err(e) => return Err(e),
//! };
//! pidfd.wait()?;
//! // Reaped: the pidfd still names that process, which is gone.
//! let e = pidfd.send_signal(0).unwrap_err();
//! assert!(error::is_gone(&e));
//! assert_eq!(error::errno(&e), Some(libc::ESRCH));
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io;

use pidfd_sys::Errno;

/// Whether `error` says the process is gone: the errno is `ESRCH`.
///
/// That is what this crate returns when:
/// * signalling ([`crate::PidFd::send_signal`], [`crate::Process::kill`] and the other
///   signal methods) a process that has been **reaped** — a zombie (exited, not yet reaped) still exists and
///   can be signalled;
/// * opening a pidfd ([`crate::PidFd::open`], [`crate::Process::find`]) for a PID that no
///   process has, or whose process is exiting (the kernel's `EINVAL` then is reported as
///   `ESRCH`);
/// * asking a pidfd for its PID or info ([`crate::PidFd::pid`], [`crate::PidFd::info`])
///   after the process was reaped (and, for `info`, the kernel keeps no exit status for it).
///
/// Not matched: `ECHILD` (a wait on a process that is not our child, or that was reaped
/// elsewhere and whose status is lost) — the process is gone too, but the question asked
/// was a different one; match `raw_os_error() == Some(libc::ECHILD)` for that.
///
/// The errno is read with [`errno`], so an `ESRCH` kept inside a wrapped error of this
/// crate counts too.
pub fn is_gone(error: &io::Error) -> bool {
    errno(error) == Some(Errno::SRCH.raw_os_error())
}

/// Whether `error` says the call or flag is not available here: the kernel is too old, an
/// emulator (qemu-user) lacks it, or a sandbox refused it with `ENOSYS`. Exactly:
/// `error.kind() == ErrorKind::Unsupported`, or the raw errno is `ENOSYS` or `EOPNOTSUPP`
/// (std reports `ENOSYS` as `Unsupported`; `EOPNOTSUPP` only in newer Rust versions, so both
/// are checked by number: the answer does not depend on the Rust version).
///
/// In this crate that kind comes from:
/// * `ENOSYS` from any syscall, passed on as the raw errno (std reports `ENOSYS` as
///   `Unsupported`): `pidfd_open` before Linux 5.3, `pidfd_send_signal` before 5.1,
///   `pidfd_getfd` before 5.6, `clone3` before 5.3, or a seccomp filter or emulator that
///   answers `ENOSYS` (Docker's default profile does, for syscalls it does not know);
/// * an `EINVAL` that, given arguments this crate has already checked, can only mean "the
///   kernel does not know this": `waitid(P_PIDFD)` before Linux 5.4
///   ([`crate::PidFd::wait`] and the other waits), `PIDFD_NONBLOCK` before 5.10 and
///   `PIDFD_THREAD` before 6.9 ([`crate::PidFd::open_with`]), `PIDFD_SIGNAL_*` flags before
///   6.9 ([`crate::PidFd::send_signal_with`]). The message names the version; [`errno`]
///   still gives `EINVAL`;
/// * `PIDFD_GET_INFO` refused (`ENOTTY`/`ENOSYS`, before Linux 6.13:
///   [`crate::PidFd::info`]), pidfs identity unavailable ([`crate::PidFd::is_same_process`]),
///   and operations that need a pidfd on a [`crate::Process`] in pid mode.
///
/// Not matched: `EPERM`. Some seccomp profiles (old Docker ones) refuse unknown syscalls
/// with `EPERM`, which cannot be told apart from a real permission refusal (signalling
/// another user's process); [`crate::probe::features`] tells which pidfd features work
/// here, counting `EPERM` from its probes as "unsupported".
pub fn is_unsupported(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::Unsupported
        || error.raw_os_error().is_some_and(|raw| {
            [Errno::NOSYS, Errno::OPNOTSUPP].contains(&Errno::from_raw_os_error(raw))
        })
}

/// The errno the kernel returned for `error`: [`io::Error::raw_os_error`], or, for an
/// error this crate re-kinded (an `EINVAL` reported as `Unsupported` because it means
/// "kernel too old"), the original errno kept inside it. `None` for errors that did not
/// come from a syscall (`InvalidInput` for pid 0, `InvalidData`, ...).
pub fn errno(error: &io::Error) -> Option<i32> {
    error.raw_os_error().or_else(|| {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Refused>())
            .map(|refused| refused.errno.raw_os_error())
    })
}

/// A syscall, flag or request the kernel refused with `errno` because it does not know it
/// (see [`refused`]). Its source is the [`Errno`].
#[derive(Debug)]
struct Refused {
    /// What was refused: `"waitid(P_PIDFD)"`, `"PIDFD_NONBLOCK"`, ...
    what: &'static str,
    /// What it needs: `"Linux 5.4"`, ...
    needs: &'static str,
    errno: Errno,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} needs {} (the kernel answered {})",
            self.what, self.needs, self.errno
        )
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.errno)
    }
}

/// An `Unsupported` error for `what`, which needs `needs` ("Linux 5.4"), refused by the
/// kernel with `errno` — kept reachable through [`errno`] and the error's source.
pub(crate) fn refused(errno: Errno, what: &'static str, needs: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, Refused { what, needs, errno })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_is_esrch_only() {
        assert!(is_gone(&Errno::SRCH.into()));
        for other in [Errno::CHILD, Errno::BADF, Errno::INVAL, Errno::PERM] {
            assert!(!is_gone(&other.into()), "{other:?}");
        }
        assert!(!is_gone(&io::Error::from(io::ErrorKind::NotFound)));
        let wrapped = refused(Errno::SRCH, "x", "Linux 9");
        assert!(is_gone(&wrapped), "an errno kept inside counts");
    }

    #[test]
    fn unsupported_is_the_kind() {
        assert!(is_unsupported(&Errno::NOSYS.into()), "std: ENOSYS");
        assert!(
            is_unsupported(&Errno::OPNOTSUPP.into()),
            "whatever std's kind for it"
        );
        assert!(is_unsupported(&io::Error::from(io::ErrorKind::Unsupported)));
        for other in [Errno::PERM, Errno::INVAL, Errno::SRCH, Errno::NOTTY] {
            assert!(!is_unsupported(&other.into()), "{other:?}");
        }
    }

    #[test]
    fn refused_keeps_the_errno_and_names_the_version() {
        let error = refused(Errno::INVAL, "waitid(P_PIDFD)", "Linux 5.4");
        assert!(is_unsupported(&error));
        assert_eq!(error.raw_os_error(), None);
        assert_eq!(errno(&error), Some(libc::EINVAL));
        let text = error.to_string();
        assert!(text.contains("waitid(P_PIDFD)"), "{text}");
        assert!(text.contains("Linux 5.4"), "{text}");
        assert!(text.contains("EINVAL"), "{text}");
        let source = std::error::Error::source(error.get_ref().unwrap()).unwrap();
        assert_eq!(source.downcast_ref::<Errno>(), Some(&Errno::INVAL));
        assert_eq!(errno(&Errno::SRCH.into()), Some(libc::ESRCH));
        assert_eq!(errno(&io::Error::other("no errno")), None);
    }
}
