//! A pure parser for the `Pid:` line of `/proc/self/fdinfo/<pidfd>`, the fallback for
//! [`crate::PidFd::pid`] on kernels without `PIDFD_GET_INFO` (before Linux 6.13). Public so
//! it can be fuzzed and reused; [`crate::PidFd::pid`] is the usual way in.
//!
//! The kernel (`pidfd_show_fdinfo`, Linux 5.3+) prints `Pid:\t<n>` with `n` the PID in the
//! reader's PID namespace, `0` when the process lives outside it, and `-1` once the process
//! has been reaped — from Linux 5.5 (and 5.4.294); Linux 5.3 and older 5.4 kernels keep
//! printing the old PID after the reap, so there a PID read this way does not show that
//! the process is gone (`pidfd_send_signal(fd, 0)` does: `ESRCH`).

use std::io;

use pidfd_sys::Errno;

/// What the `Pid:` field says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdinfoPid {
    /// The process's PID in our namespace.
    Pid(u32),
    /// `0`: the process is in a PID namespace we cannot see into.
    OtherNamespace,
    /// `-1`: the process is gone (reaped).
    Gone,
}

impl FdinfoPid {
    /// The result [`crate::PidFd::pid`] gives for it: the PID, `EREMOTE` or `ESRCH`.
    pub fn into_result(self) -> io::Result<u32> {
        match self {
            Self::Pid(pid) => Ok(pid),
            Self::OtherNamespace => Err(Errno::REMOTE.into()),
            Self::Gone => Err(Errno::SRCH.into()),
        }
    }
}

/// Parses fdinfo text (as read from `/proc/<pid>/fdinfo/<fd>`).
///
/// ```
/// use pidfd_core::fdinfo::{FdinfoPid, parse_pid};
/// assert_eq!(parse_pid(b"pos:\t0\nPid:\t42\nNSpid:\t42\n"), Some(FdinfoPid::Pid(42)));
/// assert_eq!(parse_pid(b"Pid:\t-1\n"), Some(FdinfoPid::Gone));
/// assert_eq!(parse_pid(b"pos:\t0\n"), None); // not a pidfd
/// ```
/// `None` when there is no well-formed `Pid:` line (the fd is not a
/// pidfd), including out-of-range numbers: never a panic, never a wrong number.
pub fn parse_pid(fdinfo: &[u8]) -> Option<FdinfoPid> {
    let line = fdinfo
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"Pid:"))?;
    let value = trim_ascii(line);
    match value {
        b"-1" => return Some(FdinfoPid::Gone),
        b"0" => return Some(FdinfoPid::OtherNamespace),
        _ => {}
    }
    if value.is_empty()
        || value.len() > 10
        || !value.iter().all(u8::is_ascii_digit)
        || value[0] == b'0'
    {
        return None;
    }
    let pid = value.iter().try_fold(0_u32, |acc, &digit| {
        acc.checked_mul(10)?.checked_add(u32::from(digit - b'0'))
    })?;
    // A PID is a positive pid_t.
    (pid <= i32::MAX as u32).then_some(FdinfoPid::Pid(pid))
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &[u8] =
        b"pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1234\nPid:\t4242\nNSpid:\t4242\n";

    #[test]
    fn parses_the_kernel_format() {
        assert_eq!(parse_pid(REAL), Some(FdinfoPid::Pid(4242)));
        assert_eq!(parse_pid(b"Pid:\t-1\nNSpid:\t-1\n"), Some(FdinfoPid::Gone));
        assert_eq!(parse_pid(b"Pid:\t0\n"), Some(FdinfoPid::OtherNamespace));
        assert_eq!(
            parse_pid(b"Pid:\t2147483647"),
            Some(FdinfoPid::Pid(2_147_483_647))
        );
    }

    #[test]
    fn maps_to_the_documented_errors() {
        assert_eq!(FdinfoPid::Pid(7).into_result().unwrap(), 7);
        let remote = FdinfoPid::OtherNamespace.into_result().unwrap_err();
        assert_eq!(remote.raw_os_error(), Some(Errno::REMOTE.raw_os_error()));
        let gone = FdinfoPid::Gone.into_result().unwrap_err();
        assert_eq!(gone.raw_os_error(), Some(Errno::SRCH.raw_os_error()));
    }

    #[test]
    fn rejects_everything_else() {
        for text in [
            &b""[..],
            b"pos:\t0\nflags:\t02\n",
            b"Pid:\n",
            b"Pid:\t\n",
            b"Pid:\tabc\n",
            b"Pid:\t-2\n",
            b"Pid:\t+5\n",
            b"Pid:\t007\n",
            b"Pid:\t2147483648\n",
            b"Pid:\t4294967296\n",
            b"Pid:\t99999999999999999999\n",
            b"Pid:\t12 34\n",
            b"NSpid:\t5\n",
        ] {
            assert_eq!(parse_pid(text), None, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn only_the_first_pid_line_counts() {
        assert_eq!(parse_pid(b"Pid:\t5\nPid:\t6\n"), Some(FdinfoPid::Pid(5)));
    }
}
