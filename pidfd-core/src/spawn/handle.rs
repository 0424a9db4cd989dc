//! [`Child`]: what [`Spawn::spawn`](crate::Spawn::spawn) returns — the [`Process`] plus
//! the parent's ends of the pipes asked for with [`Stdio::piped`](crate::Stdio::piped), and
//! the kill-on-drop guard.

use std::fmt;
use std::io;
use std::ops::Deref;
use std::os::fd::OwnedFd;
use std::process::{ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output};
use std::time::Duration;

use super::output::{self, TimedOutput, collect};
use crate::Process;

/// A spawned child: its [`Process`] (through `Deref`: `child.pid()`, `child.wait()`,
/// `child.kill()`, ...) and the pipes to it, as std's own types.
///
/// Dropping a `Child` neither kills nor waits for the process (like std's `Child`) unless
/// [`Spawn::kill_on_drop`](crate::Spawn::kill_on_drop) was set; the pipe ends still in
/// `stdin`, `stdout`, `stderr` are closed. [`Child::into_process`] (or `Process::from`)
/// keeps just the handle.
///
/// # `child.wait()` does not close `stdin` — unlike std's and tokio's
///
/// `child.wait()` is [`Process::wait`] (through `Deref`, taking `&self`): it leaves a
/// piped `stdin` open, so a child that reads its input to the end (`cat`, `sort`, `wc`)
/// never exits and the wait never returns. std's and tokio's `Child::wait(&mut self)` drop
/// `stdin` first. Use [`Child::close_stdin_and_wait`] for that behaviour, or take and drop
/// `child.stdin` before waiting. ([`Child::wait_with_output`], [`Spawn::output`](crate::Spawn::output)
/// and [`Spawn::status`](crate::Spawn::status) close it first, as std's do.)
///
/// Why not std's name: an inherent `Child::wait(&mut self)` would shadow
/// [`Process::wait`] for every `Child`, so waiting through a shared `Child` (`&Child`,
/// `Arc<Child>` — which this type is made for, see below) or a binding not declared `mut`
/// would stop compiling, with no way to close a pipe through a shared reference anyway.
///
/// `Child` is `Send + Sync`: share it with `Arc` to keep the kill-on-drop guard with the
/// shared handle. [`Process::release`] through `Deref` (`child.release()`) gives up the
/// handle, and with it the guard: the drop then has nothing to kill the process through,
/// and leaves it running.
///
/// # Example
///
/// ```
/// use std::io::Write;
/// use pidfd_core::{Spawn, Stdio};
///
/// # fn main() -> std::io::Result<()> {
/// let mut child = Spawn::new("tr")
///     .arg("a-z")
///     .arg("A-Z")
///     .stdin(Stdio::piped())
///     .stdout(Stdio::piped())
///     .spawn()?;
/// child.stdin.take().unwrap().write_all(b"hello")?; // closed at the end of the statement
/// let output = child.wait_with_output()?;
/// assert_eq!(output.stdout, b"HELLO");
/// assert!(output.status.success());
/// # Ok(())
/// # }
/// ```
pub struct Child {
    /// The write end of the child's stdin pipe ([`Stdio::piped`](crate::Stdio::piped));
    /// `None` otherwise, or once taken.
    pub stdin: Option<ChildStdin>,
    /// The read end of the child's stdout pipe; `None` unless piped.
    pub stdout: Option<ChildStdout>,
    /// The read end of the child's stderr pipe; `None` unless piped.
    pub stderr: Option<ChildStderr>,
    /// `Some` for the `Child`'s whole life: taken only by `into_process`, which consumes it.
    process: Option<Process>,
    kill_on_drop: bool,
}

impl Child {
    /// After the child's exit, once everything it wrote itself has been read,
    /// [`Child::wait_with_output`] and [`Spawn::output`](crate::Spawn::output) give up a
    /// pipe that a grandchild keeps open when no data came for this long (100 ms).
    ///
    /// Giving up closes the read end: what the grandchild writes later is lost, and its next
    /// write to the pipe gets `SIGPIPE` (which kills it unless it ignores or handles the
    /// signal; its write then fails with `EPIPE`). The timed forms say whether that happened
    /// ([`TimedOutput::pipes_abandoned`]); the untimed ones do not.
    pub const DRAIN_IDLE: Duration = output::DRAIN_IDLE;

    /// After the child's exit, once everything it wrote itself has been read,
    /// [`Child::wait_with_output`] and [`Spawn::output`](crate::Spawn::output) give up the
    /// pipes this long after the exit at the latest (1 s), even while a grandchild still
    /// writes to them — with the effect on the grandchild [`Child::DRAIN_IDLE`] describes.
    pub const DRAIN_MAX: Duration = output::DRAIN_MAX;

    /// A child just spawned, with the parent's pipe ends `[stdin, stdout, stderr]`.
    pub(super) fn new(process: Process, ends: [Option<OwnedFd>; 3], kill_on_drop: bool) -> Child {
        let [stdin, stdout, stderr] = ends;
        Child {
            stdin: stdin.map(ChildStdin::from),
            stdout: stdout.map(ChildStdout::from),
            stderr: stderr.map(ChildStderr::from),
            process: Some(process),
            kill_on_drop,
        }
    }

    fn process(&self) -> &Process {
        self.process
            .as_ref()
            .expect("a Child holds its Process until into_process consumes it")
    }

    /// The [`Process`] alone. The pipe ends still in `stdin`, `stdout` and `stderr` are
    /// closed (take them first to keep them), and the kill-on-drop guard is given up: a
    /// [`Process`] never kills on drop.
    pub fn into_process(mut self) -> Process {
        self.kill_on_drop = false;
        self.process
            .take()
            .expect("a Child holds its Process until into_process consumes it")
    }

    /// The [`Process`] and whether it was to be killed on drop: the async `Child`s take the
    /// guard over (and never block a runtime's thread on it).
    #[cfg(any(feature = "tokio", feature = "async-io"))]
    pub(crate) fn into_guarded_process(self) -> (Process, bool) {
        let kill_on_drop = self.kill_on_drop;
        (self.into_process(), kill_on_drop)
    }

    /// Closes `stdin`, reads `stdout` and `stderr` to the end (both at once, so a child that
    /// fills one pipe while the other is read never deadlocks) and reaps the child; streams
    /// that are not piped give empty output. Like std's, except that it does not wait for
    /// a grandchild that keeps a pipe open: after the child's exit the pipes are read on
    /// while data flows, and given up once none came for [`Child::DRAIN_IDLE`], or
    /// [`Child::DRAIN_MAX`] after the exit at the latest. What the child wrote itself is
    /// always all returned, however long reading it takes: its fds are closed before its
    /// exit can be seen, so it is all in the pipes then, and the bounds count only once
    /// that much has been read.
    ///
    /// Like std's, this blocks as long as the child runs — also when it has closed its
    /// stdout and stderr (or they were not piped) and goes on running; use
    /// [`Child::wait_with_output_timeout`] to bound it. The output is kept in memory with no
    /// limit (as std's): a child that writes without end makes it grow until the child
    /// exits or, for the timed form, until the deadline.
    ///
    /// # Errors
    ///
    /// As [`Process::wait`] (`ECHILD` when the child was reaped behind this handle's back);
    /// `read(2)`/`poll(2)` errors other than `EINTR` (retried).
    pub fn wait_with_output(self) -> io::Result<Output> {
        self.collect(None, true).map(|timed| timed.output)
    }

    /// [`Child::wait_with_output`] with a deadline: if the child still runs `timeout` from
    /// now, it is sent `SIGKILL` (through its pidfd, or in pid mode by its PID, which
    /// cannot have been reused: the child is not reaped), reaped, and what was read until
    /// then is returned with [`TimedOutput::timed_out`] set. The deadline also ends the
    /// drain after the child's exit (the child is not killed then: it has exited) — but
    /// never cuts off what the child itself wrote: that is always all returned, also after
    /// a kill, and also with a deadline already past (`Duration::ZERO`). No zombie and no fd
    /// is left behind either way; [`TimedOutput::pipes_abandoned`] says whether a pipe was
    /// given up while another process (a grandchild) still held it open.
    ///
    /// # Errors
    ///
    /// As [`Child::wait_with_output`]; `EPERM` when the child cannot be killed (it runs a
    /// set-user-ID program as another user): it is left running, and this returns at the
    /// deadline.
    pub fn wait_with_output_timeout(self, timeout: Duration) -> io::Result<TimedOutput> {
        self.collect(Some(timeout), true)
    }

    /// Closes `stdin` (drops `self.stdin`), then waits for the child to exit and reaps it:
    /// std's and tokio's `Child::wait`. `child.wait()` is [`Process::wait`], which does not
    /// close `stdin` (see [`Child`] for why the name differs); through a shared `Child`,
    /// take `stdin` first and call `child.wait()`.
    ///
    /// Later waits (`child.wait()`, this) return the same status.
    ///
    /// # Errors
    ///
    /// As [`Process::wait`].
    ///
    /// # Example
    ///
    /// ```
    /// use std::io::Write;
    /// use pidfd_core::{Spawn, Stdio};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let mut child = Spawn::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
    /// child.stdin.as_mut().unwrap().write_all(b"input")?;
    /// // cat reads to end of file: it exits only once stdin is closed.
    /// assert!(child.close_stdin_and_wait()?.success());
    /// # Ok(())
    /// # }
    /// ```
    #[doc(alias = "wait")]
    pub fn close_stdin_and_wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        self.process().wait()
    }

    /// The loop of `wait_with_output` (data kept or discarded).
    pub(super) fn collect(
        mut self,
        timeout: Option<Duration>,
        keep: bool,
    ) -> io::Result<TimedOutput> {
        drop(self.stdin.take());
        let stdout = self.stdout.take().map(OwnedFd::from);
        let stderr = self.stderr.take().map(OwnedFd::from);
        collect(self.process(), stdout, stderr, timeout, keep)
    }
}

impl Deref for Child {
    type Target = Process;

    fn deref(&self) -> &Process {
        self.process()
    }
}

impl From<Child> for Process {
    /// [`Child::into_process`].
    fn from(child: Child) -> Process {
        child.into_process()
    }
}

impl Drop for Child {
    /// With [`Spawn::kill_on_drop`](crate::Spawn::kill_on_drop): first a non-blocking
    /// [`Process::try_wait`]; only a child that still runs is sent `SIGKILL` through the
    /// [`Process`] and waited for, so that no zombie is left. A child that has exited is
    /// just reaped; one reaped already (through the handle, or behind its back: `ECHILD`,
    /// which in pid mode means its PID may belong to another process by now) or released
    /// is never signalled. A child that cannot be signalled (`EPERM`: a set-user-ID program)
    /// is left running, never waited for.
    fn drop(&mut self) {
        if !self.kill_on_drop {
            return;
        }
        let Some(process) = &self.process else {
            return;
        };
        loop {
            match process.try_wait() {
                // Still running, and not reaped: its pidfd or unreaped PID names it.
                Ok(None) => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // Exited and reaped now, or before; or ECHILD (reaped behind the handle's
                // back), EBADF (released): nothing of ours to kill.
                Ok(Some(_)) | Err(_) => return,
            }
        }
        if process.kill().is_ok() {
            // SIGKILL cannot be caught or ignored: the wait ends.
            drop(process.wait());
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("process", &self.process)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn child_is_send_and_sync() {
        // (So that an `Arc<Child>` shares the kill-on-drop guard, as its docs say.)
        assert_send_sync::<Child>();
    }
}
