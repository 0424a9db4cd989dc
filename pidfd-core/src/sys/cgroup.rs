//! Waiting for a cgroup v2 event file (`cgroup.events`) to change: `poll(2)` for `POLLPRI`.
//!
//! kernfs files such as `cgroup.events` are always "readable" (`POLLIN`); a change of their
//! contents is signalled as `POLLPRI | POLLERR` to every open file description that has read
//! the file since its previous change. So the pattern is: read the file (which re-arms the
//! notification), check it, then [`wait_priority`]; a change in between makes the poll
//! return at once, so no change is missed.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use super::time::timeout_millis;

/// `poll(2)` for `POLLPRI` on `fd`, up to `timeout` (`None`: no limit; rounded up to whole
/// milliseconds). `true` when the kernel reported `POLLPRI` (or `POLLERR`, which kernfs sets
/// with it), `false` when the time ran out.
///
/// # Errors
///
/// `errno` of `poll(2)` as is: `EINTR` (`ErrorKind::Interrupted`: the caller decides whether
/// to retry), `ENOMEM`.
pub fn wait_priority(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLPRI,
        revents: 0,
    };
    // SAFETY: `pollfd` is one live pollfd whose fd is borrowed for the call.
    let ready = unsafe { libc::poll(&raw mut pollfd, 1, timeout_millis(timeout)) };
    super::cvt(ready)?;
    Ok(ready > 0 && pollfd.revents & (libc::POLLPRI | libc::POLLERR) != 0)
}

/// `CGROUP2_SUPER_MAGIC`: the `f_type` `fstatfs(2)` reports for a cgroup v2 file or
/// directory (compare with [`super::pidfd::fs_type`]).
pub const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
