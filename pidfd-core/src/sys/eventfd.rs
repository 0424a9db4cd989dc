//! `eventfd(2)` (Linux 2.6.27+ with flags) and 8-byte counter reads and writes.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`: a new non-blocking counter fd.
///
/// # Errors
///
/// `EMFILE`/`ENFILE`/`ENOMEM`.
pub fn nonblocking() -> io::Result<OwnedFd> {
    // SAFETY: creates a new fd, owned at once by `owned`.
    super::owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
}

/// Adds `value` to the counter of the eventfd `fd` (an 8-byte `write(2)`).
///
/// # Errors
///
/// `errno` as is: `EAGAIN` (`WouldBlock`) when the counter would overflow (non-blocking fd),
/// `EINTR`, `EBADF`/`EINVAL` for an fd that is not an eventfd open for writing.
pub fn add(fd: BorrowedFd<'_>, value: u64) -> io::Result<()> {
    // SAFETY: writes the 8 bytes of `value` to an fd borrowed for the call.
    let written = unsafe { libc::write(fd.as_raw_fd(), (&raw const value).cast(), 8) };
    if written < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Reads and resets the counter of the eventfd `fd` (an 8-byte `read(2)`).
///
/// # Errors
///
/// `errno` as is: `EAGAIN` (`WouldBlock`) when it is 0 (non-blocking fd), `EINTR`.
pub fn take(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut value: u64 = 0;
    // SAFETY: reads at most 8 bytes into `value`, from an fd borrowed for the call.
    let got = unsafe { libc::read(fd.as_raw_fd(), (&raw mut value).cast(), 8) };
    if got < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn counter_adds_and_resets() {
        let fd = nonblocking().unwrap();
        assert_eq!(
            take(fd.as_fd()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        add(fd.as_fd(), 2).unwrap();
        add(fd.as_fd(), 3).unwrap();
        assert_eq!(take(fd.as_fd()).unwrap(), 5);
        assert_eq!(
            take(fd.as_fd()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }
}
