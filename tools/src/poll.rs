//! [`poll_readable`]: wait until any of a few fds is readable, with a timeout.
//!
//! A pidfd becomes readable when its process exits, a signalfd when a signal is pending:
//! one `poll(2)` over both is a whole event loop for a tool like `prun`.
//!
//! The `poll(2)` call itself is pidfd-core's (`pidfd_core::sys::poll`): this crate has no
//! `unsafe`.
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

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// Waits up to `timeout` (`None`: no limit) until at least one of `fds` is readable, and
/// says which are (readable, hung up or in error: a read or wait on it will not block). All
/// `false`: the time ran out, or a signal interrupted the wait (`EINTR`) — the caller's loop
/// checks its deadline anyway.
///
/// # Errors
///
/// Errors of `poll(2)` other than `EINTR` (`ENOMEM`, `EINVAL` for too many fds).
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let revents = match pidfd_core::sys::poll::poll_in(fds, timeout) {
        Ok(revents) => revents,
        Err(error) if error.kind() == io::ErrorKind::Interrupted => vec![0; fds.len()],
        Err(error) => return Err(error),
    };
    let readable = libc::POLLIN | libc::POLLHUP | libc::POLLERR;
    Ok(revents
        .iter()
        .map(|revents| revents & readable != 0)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

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
