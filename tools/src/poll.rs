//! [`poll_readable`]: wait until any of a few fds is readable, with a timeout.
//!
//! A pidfd becomes readable when its process exits, a signalfd when a signal is pending:
//! one `poll(2)` over both is a whole event loop for a tool like `prun`.
//!
//! # Safety
//!
//! One `poll(2)` call, on an array of `pollfd` built from fds borrowed for the call.
//!
//! # Example
//!
//! ```
//! use std::os::fd::AsFd;
//! use std::time::Duration;
//! use pidfd_core::Spawn;
//! use pidfd_tools::poll::poll_readable;
//!
//! # fn main() -> std::io::Result<()> {
//! let process = Spawn::new("sleep").arg("0.1").spawn()?;
//! # if process.mode() != pidfd_core::Mode::PidFd { return Ok(()); } // kernel < 5.4
//! let pidfd = process.with_pidfd(|pidfd| pidfd.as_fd().try_clone_to_owned())??;
//! let ready = poll_readable(&[pidfd.as_fd()], Some(Duration::from_millis(1)))?;
//! assert_eq!(ready, [false]); // still sleeping
//! let ready = poll_readable(&[pidfd.as_fd()], None)?;
//! assert_eq!(ready, [true]); // exited
//! assert_eq!(process.wait()?.code(), Some(0));
//! # Ok(())
//! # }
//! ```

#![allow(unsafe_code, reason = "one poll(2) call on borrowed fds")]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// A `poll` timeout: whole milliseconds rounded up (so a wait never ends early), `-1` for
/// none, saturated at `c_int::MAX`.
fn millis(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(timeout) => {
            let ceil = timeout.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ceil).unwrap_or(libc::c_int::MAX)
        }
    }
}

/// Waits up to `timeout` (`None`: no limit) until at least one of `fds` is readable, and
/// says which are (readable, hung up or in error: a read or wait on it will not block). All
/// `false`: the time ran out, or a signal interrupted the wait (`EINTR`) — the caller's loop
/// checks its deadline anyway.
///
/// # Errors
///
/// Errors of `poll(2)` other than `EINTR` (`ENOMEM`, `EINVAL` for too many fds).
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let count = libc::nfds_t::try_from(pollfds.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `pollfds` is a live array of `count` pollfds whose fds are borrowed for the call.
    let ready = unsafe { libc::poll(pollfds.as_mut_ptr(), count, millis(timeout)) };
    if ready < 0 {
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let readable = libc::POLLIN | libc::POLLHUP | libc::POLLERR;
    Ok(pollfds
        .iter()
        .map(|pollfd| ready > 0 && pollfd.revents & readable != 0)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn millis_rounds_up() {
        assert_eq!(millis(None), -1);
        assert_eq!(millis(Some(Duration::ZERO)), 0);
        assert_eq!(millis(Some(Duration::from_nanos(1))), 1);
        assert_eq!(millis(Some(Duration::from_micros(1500))), 2);
        assert_eq!(
            millis(Some(Duration::from_secs(u64::MAX))),
            libc::c_int::MAX
        );
    }

    #[test]
    fn no_fds_just_sleeps() {
        assert!(
            poll_readable(&[], Some(Duration::from_millis(1)))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn pipe_read_end_is_readable_at_eof() {
        let mut child = std::process::Command::new("true")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        // EOF (the writer exits) makes the read end readable.
        let ready = poll_readable(&[out.as_fd()], Some(Duration::from_secs(30))).unwrap();
        assert_eq!(ready, [true]);
        child.wait().unwrap();
    }
}
