//! [`Stdio`]: what a spawned child gets as stdin, stdout and stderr, and the fds one spawn
//! makes for it (pipes, `/dev/null`) — the child's ends closed once the clone is over, the
//! parent's ends handed to the [`Child`](crate::Child).

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd};

use super::sys::SpawnFd;
use crate::sys::pipe;

/// What a spawned child gets on one of its standard streams, like std's
/// `std::process::Stdio`: [`Stdio::inherit`] (this process's own fd), [`Stdio::null`]
/// (`/dev/null`), [`Stdio::piped`] (a new pipe, whose other end the [`Child`](crate::Child)
/// holds), or any fd (`File`, `OwnedFd`, std's `ChildStdout`, `UnixStream`, ... —
/// anything `Into<OwnedFd>`), duplicated into every child the builder spawns.
///
/// Every fd made for a spawn is close-on-exec and numbered 3 or above in this process: a
/// process started with 0, 1 or 2 closed never finds a pipe of ours there, and no child
/// inherits one beyond the stream it was meant for.
///
/// # Example
///
/// ```
/// use std::io::Read;
/// use pidfd_core::{Spawn, Stdio};
///
/// # fn main() -> std::io::Result<()> {
/// let log = std::fs::File::create(std::env::temp_dir().join("pidfd-stdio-example.log"))?;
/// let mut child = Spawn::new("sh")
///     .args(["-c", "echo out; echo err >&2"])
///     .stdin(Stdio::null())
///     .stdout(Stdio::piped())
///     .stderr(log) // any `Into<OwnedFd>`
///     .spawn()?;
/// let mut text = String::new();
/// child.stdout.take().unwrap().read_to_string(&mut text)?;
/// assert_eq!(text, "out\n");
/// assert!(child.wait()?.success());
/// # Ok(())
/// # }
/// ```
pub struct Stdio(Kind);

enum Kind {
    Inherit,
    Null,
    Piped,
    Fd(OwnedFd),
}

impl Stdio {
    /// The child uses this process's own fd (0, 1 or 2), as it is at spawn time — closed
    /// there, closed in the child. The default of [`Spawn::spawn`](crate::Spawn::spawn) and
    /// [`Spawn::status`](crate::Spawn::status).
    pub fn inherit() -> Stdio {
        Stdio(Kind::Inherit)
    }

    /// The child gets `/dev/null`, opened in this process before the clone, for each spawn:
    /// `O_RDONLY` as stdin (reads see end of file), `O_WRONLY` as stdout or stderr (writes
    /// are discarded), as std opens it.
    ///
    /// # Errors (from the spawn)
    ///
    /// `EMFILE`/`ENFILE`; `NotFound` where there is no `/dev/null` (some chroots).
    pub fn null() -> Stdio {
        Stdio(Kind::Null)
    }

    /// A new pipe for each spawn (`pipe2(O_CLOEXEC)`): the child gets one end on the
    /// stream, the [`Child`](crate::Child) the other — as `stdin` (a `ChildStdin` to write
    /// to), `stdout` or `stderr` (a `ChildStdout`/`ChildStderr` to read from).
    ///
    /// # Errors (from the spawn)
    ///
    /// `EMFILE`/`ENFILE`.
    pub fn piped() -> Stdio {
        Stdio(Kind::Piped)
    }
}

impl<T: Into<OwnedFd>> From<T> for Stdio {
    /// The child gets (a duplicate of) this fd, for every spawn of the builder. The fd
    /// itself stays open as long as the `Stdio` (and the builder holding it) lives, as with
    /// std: see [`Spawn::stdin`](crate::Spawn::stdin) for what that means for fds without
    /// close-on-exec and for pipe ends.
    fn from(fd: T) -> Stdio {
        Stdio(Kind::Fd(fd.into()))
    }
}

impl fmt::Debug for Stdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Inherit => f.write_str("Stdio::inherit()"),
            Kind::Null => f.write_str("Stdio::null()"),
            Kind::Piped => f.write_str("Stdio::piped()"),
            Kind::Fd(fd) => f.debug_tuple("Stdio").field(fd).finish(),
        }
    }
}

/// What an unset stream gets: [`Spawn::spawn`](crate::Spawn::spawn) and `status` inherit
/// all three, `output` gives stdin `/dev/null` and pipes stdout and stderr (std's defaults).
#[derive(Debug, Clone, Copy)]
pub(super) enum Unset {
    Inherit,
    Null,
    Piped,
}

impl Unset {
    /// `spawn` and `status`.
    pub(super) const INHERIT: [Unset; 3] = [Unset::Inherit; 3];
    /// `output`.
    pub(super) const OUTPUT: [Unset; 3] = [Unset::Null, Unset::Piped, Unset::Piped];
}

/// The fds one spawn made for the child's stdio.
pub(super) struct SpawnStdio {
    /// The child's ends of pipes, and `/dev/null`: kept open until the clone is over, then
    /// closed with the raw syscall (see [`SpawnFd`]; on drop) — a pipe whose child end
    /// stayed open here would never reach end of file.
    child_ends: [Option<OwnedFd>; 3],
    /// The parent's pipe ends: stdin's write end, stdout's and stderr's read ends.
    parent_ends: [Option<OwnedFd>; 3],
}

impl SpawnStdio {
    /// Makes the pipes and opens `/dev/null` where `stdio` (or, for an unset stream,
    /// `defaults`) asks for them. On error, everything made so far is closed.
    pub(super) fn new(stdio: &[Option<Stdio>; 3], defaults: [Unset; 3]) -> io::Result<Self> {
        let mut made = SpawnStdio {
            child_ends: [None, None, None],
            parent_ends: [None, None, None],
        };
        for (target, (slot, default)) in stdio.iter().zip(defaults).enumerate() {
            let wanted = match slot.as_ref().map(|stdio| &stdio.0) {
                Some(Kind::Inherit) | Some(Kind::Fd(_)) => continue,
                Some(Kind::Null) => Unset::Null,
                Some(Kind::Piped) => Unset::Piped,
                None => default,
            };
            let child_end = match wanted {
                Unset::Inherit => continue,
                // Read-only for stdin, write-only for stdout and stderr (as std).
                Unset::Null if target == 0 => pipe::dev_null(pipe::Access::Read)?,
                Unset::Null => pipe::dev_null(pipe::Access::Write)?,
                Unset::Piped => {
                    let (reader, writer) = pipe::pipe()?;
                    let (child_end, parent_end) = if target == 0 {
                        (reader, writer)
                    } else {
                        (writer, reader)
                    };
                    made.parent_ends[target] = Some(parent_end);
                    child_end
                }
            };
            made.child_ends[target] = Some(child_end);
        }
        Ok(made)
    }

    /// The fd each stream of the child is installed from (`None`: inherited).
    pub(super) fn sources<'a>(
        &'a self,
        stdio: &'a [Option<Stdio>; 3],
    ) -> [Option<BorrowedFd<'a>>; 3] {
        let mut sources = [None; 3];
        for ((source, made), slot) in sources.iter_mut().zip(&self.child_ends).zip(stdio) {
            *source = match (made, slot.as_ref().map(|stdio| &stdio.0)) {
                (Some(made), _) => Some(made.as_fd()),
                (None, Some(Kind::Fd(fd))) => Some(fd.as_fd()),
                (None, _) => None,
            };
        }
        sources
    }

    /// After the clone: closes the child's ends and returns the parent's (stdin, stdout,
    /// stderr).
    pub(super) fn into_parent_ends(mut self) -> [Option<OwnedFd>; 3] {
        std::mem::take(&mut self.parent_ends)
    }
}

impl Drop for SpawnStdio {
    fn drop(&mut self) {
        for fd in self.child_ends.iter_mut().filter_map(Option::take) {
            drop(SpawnFd(fd.into_raw_fd()));
        }
    }
}
