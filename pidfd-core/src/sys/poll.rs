//! `poll(2)` for readability: one call over borrowed fds.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use super::time::timeout_millis;

/// `poll(2)` for `POLLIN` on each of `fds`, waiting up to `timeout` (`None`: no limit;
/// rounded up to whole milliseconds). Returns each fd's `revents` (all 0 when the time ran
/// out); callers pick the bits that mean "ready" for them (`POLLIN | POLLHUP` for a pidfd).
///
/// # Errors
///
/// `errno` of `poll(2)` as is: `EINTR` (`ErrorKind::Interrupted`: the caller decides whether
/// to retry), `ENOMEM`; `EINVAL` for more fds than `nfds_t` or `RLIMIT_NOFILE` allow.
pub fn poll_in(
    fds: &[BorrowedFd<'_>],
    timeout: Option<Duration>,
) -> io::Result<Vec<libc::c_short>> {
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
    let ready = unsafe { libc::poll(pollfds.as_mut_ptr(), count, timeout_millis(timeout)) };
    super::cvt(ready)?;
    Ok(pollfds
        .iter()
        .map(|pollfd| if ready > 0 { pollfd.revents } else { 0 })
        .collect())
}

/// Whether `fd` becomes readable or hung up (`POLLIN | POLLHUP`: for a pidfd, the process has
/// exited) within `timeout` (`None`: no limit; `Some(ZERO)`: just look).
///
/// # Errors
///
/// As [`poll_in`], `EINTR` included.
pub fn readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    let revents = poll_in(&[fd], timeout)?;
    Ok(revents
        .first()
        .is_some_and(|revents| revents & (libc::POLLIN | libc::POLLHUP) != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn an_eventfd_is_readable_once_written() {
        let fd = super::super::eventfd::nonblocking().unwrap();
        assert!(!readable(fd.as_fd(), Some(Duration::ZERO)).unwrap());
        assert_eq!(poll_in(&[fd.as_fd()], Some(Duration::ZERO)).unwrap(), [0]);
        super::super::eventfd::add(fd.as_fd(), 1).unwrap();
        assert!(readable(fd.as_fd(), Some(Duration::from_secs(5))).unwrap());
        assert!(poll_in(&[], Some(Duration::ZERO)).unwrap().is_empty());
    }
}
