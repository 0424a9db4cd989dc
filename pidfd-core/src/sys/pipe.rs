//! The fds `Spawn` makes for a child's stdio: close-on-exec pipes and `/dev/null`, each
//! numbered 3 or above.
//!
//! Every fd is made with the raw syscalls of [`pidfd_sys::syscalls`] where the C library's
//! wrapper is a cancellation point (`open`, `close`): `Spawn::spawn` is no cancellation
//! point. `pipe2(2)` is none, and is called through the C library.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

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

/// `/dev/null`, opened `O_RDWR | O_CLOEXEC` and numbered 3 or above.
///
/// # Errors
///
/// `EMFILE`/`ENFILE`; `NotFound` where the file system has no `/dev/null` (some chroots).
pub fn dev_null() -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated path; the new fd is owned at once.
    let raw = unsafe {
        syscalls::openat(
            libc::AT_FDCWD,
            c"/dev/null".as_ptr(),
            libc::O_RDWR | libc::O_CLOEXEC,
            0,
        )
    }?;
    above_stdio(raw)
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
        let null = dev_null().unwrap();
        assert!(null.as_raw_fd() >= 3 && is_cloexec(&null));
    }
}
