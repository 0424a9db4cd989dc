//! The fds `Spawn` makes for a child's stdio: close-on-exec pipes and `/dev/null`, each
//! numbered 3 or above; and the two calls the output loop makes on its read ends
//! ([`set_nonblocking`], [`bytes_readable`]).
//!
//! Every fd is made with the raw syscalls of [`pidfd_sys::syscalls`] where the C library's
//! wrapper is a cancellation point (`open`, `close`): `Spawn::spawn` is no cancellation
//! point. `pipe2(2)` is none, and is called through the C library.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use pidfd_sys::syscalls;

/// The lowest fd number this module returns: 0, 1 and 2 are the standard streams, which a
/// process started with one of them closed must not see filled by a pipe of ours.
const FLOOR: RawFd = 3;

/// Owns `raw`, a fresh fd this module just created, closing it with the raw syscall when
/// it is moved above [`FLOOR`].
fn above_stdio(raw: RawFd) -> io::Result<OwnedFd> {
    if raw >= FLOOR {
        // SAFETY: `raw` is a fresh fd the kernel created for this module; nothing else owns it.
        return Ok(unsafe { OwnedFd::from_raw_fd(raw) });
    }
    // SAFETY: F_DUPFD_CLOEXEC makes a new fd (owned below) from one we own.
    let copy = unsafe { syscalls::fcntl_int(raw, libc::F_DUPFD_CLOEXEC, FLOOR) };
    // SAFETY: `raw` is ours and nothing uses it after this (the copy, if any, is separate).
    let _ = unsafe { syscalls::close(raw) };
    let copy = copy?;
    // SAFETY: `copy` is a fresh fd the kernel just created; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// `pipe2(O_CLOEXEC)`: `(read end, write end)`, both close-on-exec and numbered 3 or above
/// (an end that landed on 0, 1 or 2 is moved with `F_DUPFD_CLOEXEC`).
///
/// # Errors
///
/// `EMFILE`/`ENFILE` (`ErrorKind::Other` with that errno): no fd left; nothing leaks.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut ends: [libc::c_int; 2] = [-1; 2];
    // SAFETY: pipe2 writes two fds into a live array of two ints.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [reader, writer] = ends;
    // On failure the other end is owned (and closed) already, or closed by `above_stdio`.
    let reader = match above_stdio(reader) {
        Ok(reader) => reader,
        Err(error) => {
            drop(above_stdio(writer));
            return Err(error);
        }
    };
    let writer = above_stdio(writer)?;
    Ok((reader, writer))
}

/// How [`dev_null`] opens `/dev/null`: for the stream it becomes, as std does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `O_RDONLY`: a child's stdin.
    Read,
    /// `O_WRONLY`: a child's stdout or stderr.
    Write,
}

/// `/dev/null`, opened `O_RDONLY` ([`Access::Read`]) or `O_WRONLY` ([`Access::Write`]),
/// with `O_CLOEXEC`, and numbered 3 or above.
///
/// # Errors
///
/// `EMFILE`/`ENFILE`; `NotFound` where the file system has no `/dev/null` (some chroots).
pub fn dev_null(access: Access) -> io::Result<OwnedFd> {
    let mode = match access {
        Access::Read => libc::O_RDONLY,
        Access::Write => libc::O_WRONLY,
    };
    // SAFETY: a NUL-terminated path; the new fd is owned at once.
    let raw = unsafe {
        syscalls::openat(
            libc::AT_FDCWD,
            c"/dev/null".as_ptr(),
            mode | libc::O_CLOEXEC,
            0,
        )
    }?;
    above_stdio(raw)
}

/// Sets `O_NONBLOCK` on `fd`'s open file description (`ioctl(FIONBIO)`): every fd sharing
/// it (a `dup`, a fork's copy) turns non-blocking too.
///
/// # Errors
///
/// `EBADF` as `ioctl(2)` says it; nothing else for an open fd.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: FIONBIO reads one int from `on`, which lives for the call; `fd` is borrowed.
    // (One syscall where F_GETFL + F_SETFL take two; it sets O_NONBLOCK the same way.)
    super::cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONBIO, &raw const on) })?;
    Ok(())
}

/// `ioctl(fd, FIONREAD)`: how many bytes a pipe (or socket, tty) holds unread right now.
///
/// # Errors
///
/// `ENOTTY`/`EINVAL` for an fd that has no such count (a regular file on some file systems),
/// `EBADF`.
pub fn bytes_readable(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut count: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through a pointer to a live int; the fd is borrowed.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &raw mut count) };
    super::cvt(ret)?;
    // (Never negative for a pipe: a count of bytes.)
    Ok(usize::try_from(count).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    fn is_cloexec(fd: &OwnedFd) -> bool {
        // SAFETY: F_GETFD only reads the flags of an fd we hold.
        let flags = unsafe { syscalls::fcntl_int(fd.as_raw_fd(), libc::F_GETFD, 0) }.unwrap();
        flags & libc::FD_CLOEXEC != 0
    }

    #[test]
    fn pipe_ends_are_cloexec_above_stdio_and_connected() {
        let (reader, writer) = pipe().unwrap();
        for end in [&reader, &writer] {
            assert!(end.as_raw_fd() >= 3);
            assert!(is_cloexec(end));
        }
        let mut writer = std::fs::File::from(writer);
        writer.write_all(b"hi").unwrap();
        drop(writer);
        let mut text = String::new();
        std::fs::File::from(reader)
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hi");
        for access in [Access::Read, Access::Write] {
            let null = dev_null(access).unwrap();
            assert!(null.as_raw_fd() >= 3 && is_cloexec(&null));
        }
    }

    #[test]
    fn a_nonblocking_read_end_counts_what_it_holds() {
        use std::os::fd::AsFd;
        let (reader, writer) = pipe().unwrap();
        set_nonblocking(reader.as_fd()).unwrap();
        let mut reader = std::fs::File::from(reader);
        let mut buf = [0; 8];
        let error = reader.read(&mut buf).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(bytes_readable(reader.as_fd()).unwrap(), 0);
        std::fs::File::from(writer).write_all(b"hello").unwrap();
        assert_eq!(bytes_readable(reader.as_fd()).unwrap(), 5);
        assert_eq!(reader.read(&mut buf).unwrap(), 5);
        // A test running in parallel may fork and hold a copy of the (close-on-exec) write
        // end until its child execs: wait for the hang-up before reading end of file.
        assert!(crate::sys::poll::readable(reader.as_fd(), None).unwrap());
        assert_eq!(
            reader.read(&mut buf).unwrap(),
            0,
            "end of file once the writer closed"
        );
    }
}
