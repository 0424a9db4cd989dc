//! A pure decoder from `waitid(2)`'s (`si_code`, `si_status`) to a child-state change, and
//! from that to the traditional `waitpid(2)` status word.
//!
//! No syscalls here, no panics on any input: kernel output (and fuzzer input) that does not
//! describe a valid child-state change is a [`DecodeError`].

use core::ffi::c_int;
use core::fmt;

use crate::flags::cld;

/// A child-state change reported by `waitid(2)` (the `CLD_*` codes with their status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildStatus {
    /// `CLD_EXITED`: the child exited with this code (0–255).
    Exited(c_int),
    /// `CLD_KILLED`: the child was killed by this signal.
    Killed(c_int),
    /// `CLD_DUMPED`: the child was killed by this signal and dumped core.
    Dumped(c_int),
    /// `CLD_TRAPPED`: a traced child trapped; the value is the ptrace stop status
    /// (the signal, possibly with `PTRACE_EVENT_*` in bits 8–15 or `0x80` for syscall stops).
    Trapped(c_int),
    /// `CLD_STOPPED`: the child was stopped by this signal.
    Stopped(c_int),
    /// `CLD_CONTINUED`: the child was resumed; the value is the signal (`SIGCONT`).
    Continued(c_int),
}

/// Why a (`si_code`, `si_status`) pair is not a valid child-state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// `si_signo` was neither 0 nor `SIGCHLD`.
    NotSigchld(c_int),
    /// `si_code` is not one of the `CLD_*` values.
    UnknownCode(c_int),
    /// `CLD_EXITED` with a status outside 0–255.
    ExitCodeOutOfRange(c_int),
    /// A signal number outside `1..=NSIG` (or a trap status outside 1–0xffff).
    InvalidSignal(c_int),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotSigchld(signo) => write!(f, "siginfo si_signo {signo} is not SIGCHLD"),
            Self::UnknownCode(code) => write!(f, "unknown SIGCHLD si_code {code}"),
            Self::ExitCodeOutOfRange(status) => write!(f, "exit code {status} outside 0-255"),
            Self::InvalidSignal(sig) => write!(f, "invalid signal number {sig} in wait status"),
        }
    }
}

impl core::error::Error for DecodeError {}

impl ChildStatus {
    /// Decodes `si_code` and `si_status` as `waitid(2)` writes them for `SIGCHLD`, checking
    /// signal numbers against this ABI's `NSIG`.
    pub fn decode(code: c_int, status: c_int) -> Result<Self, DecodeError> {
        Self::decode_with_nsig(code, status, crate::signal::NSIG)
    }

    /// [`ChildStatus::decode`] for an ABI whose highest signal number is `nsig` (see
    /// [`crate::abi::SignalNumbers::nsig`]).
    pub fn decode_with_nsig(code: c_int, status: c_int, nsig: c_int) -> Result<Self, DecodeError> {
        let signal = |make: fn(c_int) -> Self| {
            if (1..=nsig).contains(&status) {
                Ok(make(status))
            } else {
                Err(DecodeError::InvalidSignal(status))
            }
        };
        match code {
            cld::EXITED if (0..=255).contains(&status) => Ok(Self::Exited(status)),
            cld::EXITED => Err(DecodeError::ExitCodeOutOfRange(status)),
            cld::KILLED => signal(Self::Killed),
            cld::DUMPED => signal(Self::Dumped),
            cld::STOPPED => signal(Self::Stopped),
            cld::CONTINUED => signal(Self::Continued),
            cld::TRAPPED if (1..=0xffff).contains(&status) => Ok(Self::Trapped(status)),
            cld::TRAPPED => Err(DecodeError::InvalidSignal(status)),
            other => Err(DecodeError::UnknownCode(other)),
        }
    }

    /// The `si_code` this status came from.
    pub const fn code(self) -> c_int {
        match self {
            Self::Exited(_) => cld::EXITED,
            Self::Killed(_) => cld::KILLED,
            Self::Dumped(_) => cld::DUMPED,
            Self::Trapped(_) => cld::TRAPPED,
            Self::Stopped(_) => cld::STOPPED,
            Self::Continued(_) => cld::CONTINUED,
        }
    }

    /// The traditional `waitpid(2)` status word (what `WIFEXITED` and friends decode, and what
    /// `std::os::unix::process::ExitStatusExt::from_raw` takes).
    ///
    /// Returns `None` for a signal the status word cannot represent: the signal field has
    /// seven bits and 0x7f means "stopped", so signals above 126 (possible only on mips, where
    /// `NSIG` is 128) have no encoding.
    pub const fn to_wait_status(self) -> Option<c_int> {
        match self {
            Self::Exited(code) => Some((code & 0xff) << 8),
            Self::Killed(sig) if sig >= 1 && sig < 0x7f => Some(sig),
            Self::Dumped(sig) if sig >= 1 && sig < 0x7f => Some(sig | 0x80),
            Self::Stopped(sig) if sig >= 1 && sig <= 0xff => Some((sig << 8) | 0x7f),
            Self::Trapped(status) if status >= 1 && status <= 0xffff => Some((status << 8) | 0x7f),
            Self::Continued(_) => Some(0xffff),
            _ => None,
        }
    }

    /// Inverse of [`ChildStatus::to_wait_status`]: decodes a `waitpid(2)` status word.
    /// `Trapped` is reported as `Stopped` (the word does not tell them apart) and a status
    /// with bits set that no encoding uses is `None`.
    pub const fn from_wait_status(status: c_int) -> Option<Self> {
        if status == 0xffff {
            return Some(Self::Continued(crate::signal::SIGCONT));
        }
        let low = status & 0x7f;
        if low == 0 {
            // WIFEXITED; nothing may sit above the exit code.
            return if status & !0xff00 == 0 {
                Some(Self::Exited((status >> 8) & 0xff))
            } else {
                None
            };
        }
        if status & 0xff == 0x7f {
            let stop = status >> 8;
            return if stop >= 1 && stop <= 0xff {
                Some(Self::Stopped(stop))
            } else if stop > 0xff && stop <= 0xffff {
                Some(Self::Trapped(stop))
            } else {
                None
            };
        }
        // Signal 0x7f has no encoding (0x7f means "stopped"), with or without the core bit.
        if status & !0xff != 0 || low == 0x7f {
            return None;
        }
        if status & 0x80 != 0 {
            Some(Self::Dumped(low))
        } else {
            Some(Self::Killed(low))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::{NSIG, SIGCONT, SIGKILL, SIGSTOP, SIGTERM};

    #[test]
    fn decodes_every_code() {
        assert_eq!(
            ChildStatus::decode(cld::EXITED, 0),
            Ok(ChildStatus::Exited(0))
        );
        assert_eq!(
            ChildStatus::decode(cld::EXITED, 255),
            Ok(ChildStatus::Exited(255))
        );
        assert_eq!(
            ChildStatus::decode(cld::KILLED, SIGKILL),
            Ok(ChildStatus::Killed(SIGKILL))
        );
        assert_eq!(
            ChildStatus::decode(cld::DUMPED, 11),
            Ok(ChildStatus::Dumped(11))
        );
        assert_eq!(
            ChildStatus::decode(cld::STOPPED, SIGSTOP),
            Ok(ChildStatus::Stopped(SIGSTOP))
        );
        assert_eq!(
            ChildStatus::decode(cld::CONTINUED, SIGCONT),
            Ok(ChildStatus::Continued(SIGCONT))
        );
        assert_eq!(
            ChildStatus::decode(cld::TRAPPED, 5 | (1 << 8)),
            Ok(ChildStatus::Trapped(0x105))
        );
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert_eq!(ChildStatus::decode(0, 0), Err(DecodeError::UnknownCode(0)));
        assert_eq!(ChildStatus::decode(7, 1), Err(DecodeError::UnknownCode(7)));
        assert_eq!(
            ChildStatus::decode(-1, 1),
            Err(DecodeError::UnknownCode(-1))
        );
        assert_eq!(
            ChildStatus::decode(cld::EXITED, 256),
            Err(DecodeError::ExitCodeOutOfRange(256))
        );
        assert_eq!(
            ChildStatus::decode(cld::EXITED, -1),
            Err(DecodeError::ExitCodeOutOfRange(-1))
        );
        assert_eq!(
            ChildStatus::decode(cld::KILLED, 0),
            Err(DecodeError::InvalidSignal(0))
        );
        assert_eq!(
            ChildStatus::decode(cld::KILLED, NSIG + 1),
            Err(DecodeError::InvalidSignal(NSIG + 1))
        );
        assert_eq!(
            ChildStatus::decode(cld::DUMPED, c_int::MIN),
            Err(DecodeError::InvalidSignal(c_int::MIN))
        );
        assert_eq!(
            ChildStatus::decode(cld::TRAPPED, 0x10000),
            Err(DecodeError::InvalidSignal(0x10000))
        );
        assert_eq!(
            ChildStatus::decode(c_int::MAX, c_int::MAX),
            Err(DecodeError::UnknownCode(c_int::MAX))
        );
    }

    #[test]
    fn wait_status_encoding_matches_libc_macros() {
        for code in [0, 1, 42, 255] {
            let raw = ChildStatus::Exited(code).to_wait_status().unwrap();
            assert!(libc::WIFEXITED(raw));
            assert_eq!(libc::WEXITSTATUS(raw), code);
        }
        let raw = ChildStatus::Killed(SIGTERM).to_wait_status().unwrap();
        assert!(libc::WIFSIGNALED(raw) && !libc::WCOREDUMP(raw));
        assert_eq!(libc::WTERMSIG(raw), SIGTERM);
        let raw = ChildStatus::Dumped(6).to_wait_status().unwrap();
        assert!(libc::WIFSIGNALED(raw) && libc::WCOREDUMP(raw));
        assert_eq!(libc::WTERMSIG(raw), 6);
        let raw = ChildStatus::Stopped(SIGSTOP).to_wait_status().unwrap();
        assert!(libc::WIFSTOPPED(raw));
        assert_eq!(libc::WSTOPSIG(raw), SIGSTOP);
        assert!(libc::WIFCONTINUED(
            ChildStatus::Continued(SIGCONT).to_wait_status().unwrap()
        ));
    }

    #[test]
    fn unrepresentable_signals_have_no_wait_status() {
        assert_eq!(ChildStatus::Killed(0x7f).to_wait_status(), None);
        assert_eq!(ChildStatus::Dumped(128).to_wait_status(), None);
        assert_eq!(ChildStatus::Killed(0).to_wait_status(), None);
    }

    #[test]
    fn wait_status_round_trips() {
        for sig in 1..0x7f {
            for status in [
                ChildStatus::Killed(sig),
                ChildStatus::Dumped(sig),
                ChildStatus::Stopped(sig),
            ] {
                let raw = status.to_wait_status().unwrap();
                assert_eq!(ChildStatus::from_wait_status(raw), Some(status));
            }
        }
        for code in 0..=255 {
            let raw = ChildStatus::Exited(code).to_wait_status().unwrap();
            assert_eq!(
                ChildStatus::from_wait_status(raw),
                Some(ChildStatus::Exited(code))
            );
        }
        assert_eq!(ChildStatus::from_wait_status(0x1_0000), None);
        assert_eq!(ChildStatus::from_wait_status(0xff), None);
        assert_eq!(ChildStatus::from_wait_status(-1), None);
    }

    #[test]
    fn every_decodable_wait_status_re_encodes_to_itself() {
        for word in -0x1_0000..0x2_0000 {
            if let Some(status) = ChildStatus::from_wait_status(word) {
                assert_eq!(
                    status.to_wait_status(),
                    Some(word),
                    "{word:#x} -> {status:?}"
                );
            }
        }
    }
}
