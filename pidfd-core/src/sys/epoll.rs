//! `epoll_create1(2)`, `epoll_ctl(2)`, `epoll_wait(2)` (Linux 2.6.27+).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use super::time::timeout_millis;

pub use libc::epoll_event as Event;
pub use libc::{EPOLL_CTL_ADD as CTL_ADD, EPOLL_CTL_DEL as CTL_DEL, EPOLL_CTL_MOD as CTL_MOD};

/// `epoll_create1(EPOLL_CLOEXEC)`: a new epoll fd.
///
/// # Errors
///
/// `EMFILE`/`ENFILE`/`ENOMEM`.
pub fn create() -> io::Result<OwnedFd> {
    // SAFETY: creates a new fd, owned at once by `owned`.
    super::owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
}

/// `epoll_ctl(epoll, op, fd, {events, u64: key})`.
///
/// # Errors
///
/// `errno` as is: `EEXIST` (add twice), `ENOENT` (mod/del of an fd not registered),
/// `EPERM` (an fd epoll cannot watch), `ENOMEM`, `ENOSPC` (`max_user_watches`).
pub fn ctl(
    epoll: BorrowedFd<'_>,
    op: libc::c_int,
    fd: BorrowedFd<'_>,
    events: u32,
    key: u64,
) -> io::Result<()> {
    let mut event = Event { events, u64: key };
    // SAFETY: both fds are borrowed for the call; `event` is a live, writable epoll_event.
    super::cvt(unsafe { libc::epoll_ctl(epoll.as_raw_fd(), op, fd.as_raw_fd(), &raw mut event) })
        .map(drop)
}

/// `epoll_wait(epoll, events, timeout)`: fills the start of `events` and returns how many
/// came (0 when the time ran out). `timeout` is rounded up to whole milliseconds.
///
/// # Errors
///
/// `errno` as is, `EINTR` included (`ErrorKind::Interrupted`).
pub fn wait(
    epoll: BorrowedFd<'_>,
    events: &mut [Event],
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let capacity = libc::c_int::try_from(events.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `events` is a live, writable array of at least `capacity` epoll_events; the
    // epoll fd is borrowed for the call.
    let count = unsafe {
        libc::epoll_wait(
            epoll.as_raw_fd(),
            events.as_mut_ptr(),
            capacity,
            timeout_millis(timeout),
        )
    };
    let count = super::cvt(count)?;
    Ok(usize::try_from(count).unwrap_or(0))
}
