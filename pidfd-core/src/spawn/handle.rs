//! [`Child`]: what [`Spawn::spawn`](crate::Spawn::spawn) returns — the [`Process`] plus
//! the parent's ends of the pipes asked for with [`Stdio::piped`](crate::Stdio::piped), and
//! the kill-on-drop guard.

use std::fmt;
use std::io;
use std::ops::Deref;
use std::os::fd::OwnedFd;
use std::process::{ChildStderr, ChildStdin, ChildStdout, Output};
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
/// `Child::wait` is [`Process::wait`]: unlike std's `Child::wait` it does not close
/// `stdin` first — drop or take `child.stdin` before waiting for a child that reads its
/// input to the end. `Child` is `Send + Sync`: share it with `Arc` to keep the
/// kill-on-drop guard with the shared handle.
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
    /// After the child's exit, [`Child::wait_with_output`] and [`Spawn::output`](crate::Spawn::output)
    /// give up a pipe that a grandchild keeps open once no data came for this long (100 ms).
    pub const DRAIN_IDLE: Duration = output::DRAIN_IDLE;

    /// After the child's exit, [`Child::wait_with_output`] and [`Spawn::output`](crate::Spawn::output)
    /// give up the pipes this long after the exit at the latest (1 s), even while a
    /// grandchild still writes to them.
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
    /// [`Child::DRAIN_MAX`] after the exit at the latest (what the child wrote itself is
    /// always all read: its fds are closed before its exit can be seen).
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
    /// drain after the child's exit (the child is not killed then: it has exited). No
    /// zombie and no fd is left behind either way.
    ///
    /// # Errors
    ///
    /// As [`Child::wait_with_output`]; `EPERM` when the child cannot be killed (it runs a
    /// set-user-ID program as another user): it is left running, and this returns at the
    /// deadline.
    pub fn wait_with_output_timeout(self, timeout: Duration) -> io::Result<TimedOutput> {
        self.collect(Some(timeout), true)
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
    /// With [`Spawn::kill_on_drop`](crate::Spawn::kill_on_drop): `SIGKILL` through the
    /// [`Process`] and a reaping wait, so that no zombie is left. A child already reaped
    /// is never signalled ([`Process::kill`] fails with `ESRCH` then, without a syscall); a
    /// child that cannot be signalled (`EPERM`: a set-user-ID program) is reaped only if it
    /// has exited already, never waited for.
    fn drop(&mut self) {
        if !self.kill_on_drop {
            return;
        }
        let Some(process) = &self.process else {
            return;
        };
        match process.kill() {
            // SIGKILL cannot be caught or ignored: the wait ends.
            Ok(()) => drop(process.wait()),
            Err(_) => drop(process.try_wait()),
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
