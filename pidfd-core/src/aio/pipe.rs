//! A parent's end of a child's pipe, non-blocking, registered with the runtime ([`Pipe`]:
//! the async stdio of a `Child`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::task::{Context, Poll};

use super::{Direction, Runtime, sys};

/// Calls `op` again on `EINTR`; maps "would block" to `Ok(None)`.
fn nonblocking<V>(mut op: impl FnMut() -> io::Result<V>) -> io::Result<Option<V>> {
    loop {
        match op() {
            Ok(value) => return Ok(Some(value)),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(error) => return Err(error),
        }
    }
}

/// A parent's end of a child's pipe, non-blocking, registered with the runtime on first use
/// (so that a `Child` can be made outside the runtime's context).
pub(crate) struct Pipe<R: Runtime> {
    /// Until the first use.
    file: Option<File>,
    source: Option<R::Source<File>>,
    direction: Direction,
}

impl<R: Runtime> Pipe<R> {
    /// Makes `fd` non-blocking, for `direction`.
    pub(crate) fn new(fd: OwnedFd, direction: Direction) -> io::Result<Self> {
        sys::set_nonblocking(fd.as_fd())?;
        Ok(Pipe {
            file: Some(File::from(fd)),
            source: None,
            direction,
        })
    }

    /// The registration, made now if it was not yet. What is registered is a duplicate
    /// (`F_DUPFD_CLOEXEC`): when registration fails (e.g. polled outside the runtime), the
    /// pipe stays open and usable, and a later poll tries again.
    fn source(&mut self) -> io::Result<&R::Source<File>> {
        if self.source.is_none() {
            if let Some(file) = &self.file {
                let registered = R::register(file.try_clone()?, self.direction)?;
                self.source = Some(registered);
                self.file = None;
            }
        }
        self.source
            .as_ref()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))
    }

    /// Reads what is there (0: end of file) once the pipe is readable.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let source = self.source()?;
        R::poll_io(source, Direction::Read, cx, |mut file| {
            nonblocking(|| file.read(buf))
        })
    }

    /// Writes what fits once the pipe is writable (`EPIPE` once the child closed its end).
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let source = self.source()?;
        R::poll_io(source, Direction::Write, cx, |mut file| {
            nonblocking(|| file.write(buf))
        })
    }
}

impl<R: Runtime> AsFd for Pipe<R> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match (&self.file, &self.source) {
            (Some(file), _) => file.as_fd(),
            (None, Some(source)) => R::get(source).as_fd(),
            (None, None) => unreachable!("a pipe keeps its file until it is registered"),
        }
    }
}
