//! The one loop behind [`Child::wait_with_output`](crate::Child::wait_with_output),
//! [`Spawn::output`](crate::Spawn::output) and their timed forms: `poll(2)` over the
//! child's stdout and stderr pipes and its pidfd, so that neither pipe can fill up while
//! the other is read (no deadlock), the exit is seen even while a grandchild keeps a pipe
//! open, and a deadline can end it all.
//!
//! The parent's read ends are set `O_NONBLOCK` first (they are the loop's alone by then:
//! close-on-exec, never given to a child), and each pipe reported ready is read until it is
//! empty (`EAGAIN`), at end of file, or after [`READ_BUDGET`] bytes in one round — so a
//! read never blocks past the deadline, and a pipe is emptied as fast as it fills.
//!
//! Once the child's exit is recorded (it exited, or was killed at the deadline and reaped),
//! what each open pipe holds at that moment (`FIONREAD`) is *owed*: everything the child
//! wrote itself is in the pipe by then (its fds are closed before its pidfd becomes
//! readable or its zombie waitable), and the loop reads on until every owed byte is read,
//! regardless of [`DRAIN_IDLE`], [`DRAIN_MAX`] or the deadline. So what the child wrote is
//! always all returned. Beyond that, the pipes are read on while data flows and given up
//! once none came for [`DRAIN_IDLE`], or [`DRAIN_MAX`] after the exit at the latest (after
//! a kill at the deadline: at once): the bound only cuts off what processes that inherited
//! the pipe (a daemonized grandchild) write later. std's `wait_with_output` waits for those
//! to close the pipe, which can be forever. A pipe given up is closed, and is reported in
//! [`TimedOutput::pipes_abandoned`] when it was not at end of file then.
//!
//! In pid mode (no pidfd to poll) the loop polls the pipes for at most
//! [`PID_MODE_RECHECK`] at a time and checks the child with a non-blocking wait in between;
//! once both pipes are closed it simply waits.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{ExitStatus, Output};
use std::time::{Duration, Instant};

use crate::sys::pipe::{bytes_readable, set_nonblocking};
use crate::sys::poll::poll_in;
use crate::sys::time::{Deadline, PID_MODE_RECHECK};
use crate::{Mode, Process};

/// After the child has exited and everything it wrote was read: the pipes are given up once
/// no data came for this long.
pub(super) const DRAIN_IDLE: Duration = Duration::from_millis(100);

/// After the child has exited and everything it wrote was read: the pipes are given up this
/// long after the exit at the latest, even while data still flows (from a grandchild).
pub(super) const DRAIN_MAX: Duration = Duration::from_secs(1);

/// How much one pipe is read in one round at most, before the loop looks at the clock and
/// the child again (a writer that never pauses cannot hold the loop past its deadline).
const READ_BUDGET: usize = 1024 * 1024;

/// A [`Child::wait_with_output_timeout`](crate::Child::wait_with_output_timeout) or
/// [`Spawn::output_timeout`](crate::Spawn::output_timeout) result: the output read and the
/// status, whether the deadline ended it, and whether a pipe was given up while another
/// process still held it open.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimedOutput {
    /// What was read from stdout and stderr — always everything the child itself wrote
    /// before it exited or was killed — and its status: `SIGKILL`'s when `timed_out`,
    /// unless it exited on its own at the very moment of the deadline.
    pub output: Output,
    /// The deadline passed while the child was running: it was sent `SIGKILL` (through its
    /// pidfd, or in pid mode by a PID that cannot have been reused: it was not reaped) and
    /// reaped.
    pub timed_out: bool,
    /// A pipe was given up before it reached end of file: after the child's exit another
    /// process still held its write end (a grandchild that inherited it, typically a
    /// daemon started by the child) and the drain bound ([`Child::DRAIN_IDLE`](crate::Child::DRAIN_IDLE),
    /// [`Child::DRAIN_MAX`](crate::Child::DRAIN_MAX)) or the deadline ended the read.
    /// What that process writes afterwards is lost, and since the read end is closed, its
    /// next write to the pipe gets `SIGPIPE` (killing it, unless it ignores or handles the
    /// signal; then the write fails with `EPIPE`). `false` when every pipe reached end of
    /// file.
    pub pipes_abandoned: bool,
}

/// One of the pipes the loop reads.
struct Pipe {
    /// `None` once at end of file (or given up).
    file: Option<File>,
    data: Vec<u8>,
    /// Keep what is read (`output`), or discard it (`status` with a pipe the caller set).
    keep: bool,
    /// Once the exit is recorded: how many of the bytes in the pipe then are still to be
    /// read (everything the child wrote is among them).
    owed: usize,
}

impl Pipe {
    /// The loop's pipe over `fd`, set non-blocking.
    fn new(fd: Option<OwnedFd>, keep: bool) -> io::Result<Pipe> {
        if let Some(fd) = &fd {
            set_nonblocking(fd.as_fd())?;
        }
        Ok(Pipe {
            file: fd.map(File::from),
            data: Vec::new(),
            keep,
            owed: 0,
        })
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.file.as_ref().map(AsFd::as_fd)
    }

    /// The exit is recorded: what the pipe holds now is owed.
    fn owe_what_it_holds(&mut self) -> io::Result<()> {
        self.owed = match &self.file {
            Some(file) => bytes_readable(file.as_fd())?,
            None => 0,
        };
        Ok(())
    }

    /// Reads what the pipe holds now (non-blocking) into its data: until it is empty
    /// (`EAGAIN`), at end of file (which closes it), or after [`READ_BUDGET`] bytes. Returns
    /// how many bytes were read. `EINTR` is retried.
    ///
    /// `read_to_end` reads straight into the data's spare capacity, growing it as the data
    /// comes (and probing with a small stack buffer first, so an empty pipe costs no
    /// allocation) — no zeroed scratch buffer, no copy.
    fn read_available(&mut self) -> io::Result<usize> {
        let Some(file) = &self.file else {
            return Ok(0);
        };
        let before = self.data.len();
        let budget = u64::try_from(READ_BUDGET).unwrap_or(u64::MAX);
        let result = Read::take(file, budget).read_to_end(&mut self.data);
        let total = self.data.len() - before;
        if !self.keep {
            self.data.truncate(before);
        }
        self.owed = self.owed.saturating_sub(total);
        match result {
            // Short of the budget: end of file.
            Ok(count) if count < READ_BUDGET => {
                self.file = None;
                self.owed = 0;
            }
            // The budget is used up: more next round.
            Ok(_) => {}
            // Empty: whatever was owed was read (by another holder of the read end, if not
            // by us). What was read before stays appended (read_to_end's contract).
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => self.owed = 0,
            Err(error) => return Err(error),
        }
        Ok(total)
    }
}

/// Whether `revents` says "read now" (data, hang-up or error: the read tells which).
fn ready(revents: libc::c_short) -> bool {
    revents != 0
}

/// The child's exit is recorded: what each open pipe holds now is owed.
fn owe(pipes: &mut [Pipe]) -> io::Result<()> {
    pipes.iter_mut().try_for_each(Pipe::owe_what_it_holds)
}

/// Whether a pipe still open is not at end of file: data in it, or a writer left (no
/// `POLLHUP`).
fn any_abandoned(pipes: &[Pipe]) -> io::Result<bool> {
    let fds: Vec<BorrowedFd<'_>> = pipes.iter().filter_map(Pipe::fd).collect();
    if fds.is_empty() {
        return Ok(false);
    }
    let revents = loop {
        match poll_in(&fds, Some(Duration::ZERO)) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => break result?,
        }
    };
    Ok(revents
        .iter()
        .any(|&revents| revents & libc::POLLHUP == 0 || revents & libc::POLLIN != 0))
}

/// Reads `stdout` and `stderr` (either may be absent) until the child has exited and the
/// pipes are at end of file or drained as the module docs say, and reaps the child. With
/// `timeout`, the child still running at the deadline is killed and reaped, and what was
/// read is returned with `timed_out`. `keep`: keep the data (else it is read and discarded).
///
/// # Errors
///
/// The errors of [`Process::wait`], [`Process::kill`] (`EPERM`: the child runs as another
/// user, and is left running) and of `poll(2)`/`read(2)`/`fcntl(2)`/`ioctl(FIONREAD)` other
/// than `EINTR` (retried).
pub(super) fn collect(
    process: &Process,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    timeout: Option<Duration>,
    keep: bool,
) -> io::Result<TimedOutput> {
    let deadline = Deadline::after(timeout);
    let mut pipes = [Pipe::new(stdout, keep)?, Pipe::new(stderr, keep)?];
    // The child's exit: its status, when it was seen.
    let mut exited: Option<(ExitStatus, Instant)> = None;
    let mut timed_out = false;
    let mut last_data = Instant::now();
    // Whether the pidfd is polled for the exit (else: a non-blocking wait after each round).
    let mut poll_pidfd = process.mode() == Mode::PidFd;
    let status = loop {
        if pipes.iter().all(|pipe| pipe.file.is_none()) {
            match exited {
                Some((status, _)) => break status,
                None => {
                    // Only the wait remains.
                    let (status, killed) = wait_until(process, deadline)?;
                    timed_out = killed;
                    break status;
                }
            }
        }
        // How long this round may block.
        let wait = match exited {
            None if poll_pidfd => deadline.remaining(),
            None => crate::sys::time::capped(deadline.remaining(), PID_MODE_RECHECK),
            // What the child wrote is still (partly) in a pipe: read it, whatever the time.
            Some(_) if pipes.iter().any(|pipe| pipe.owed > 0) => Some(Duration::ZERO),
            // Killed at the deadline, and all it wrote read: done.
            Some((status, _)) if timed_out => break status,
            Some((status, at)) => {
                let max = DRAIN_MAX.saturating_sub(at.elapsed());
                let idle = DRAIN_IDLE.saturating_sub(last_data.elapsed());
                let left = match deadline.remaining() {
                    Some(rest) => rest.min(idle).min(max),
                    None => idle.min(max),
                };
                if left.is_zero() {
                    break status;
                }
                Some(left)
            }
        };
        let fds: Vec<BorrowedFd<'_>> = pipes.iter().filter_map(Pipe::fd).collect();
        let polled = if exited.is_none() && poll_pidfd {
            process.with_pidfd(|pidfd| {
                let mut all = fds.clone();
                all.push(pidfd.as_fd());
                poll_in(&all, wait)
            })
        } else {
            Ok(poll_in(&fds, wait))
        };
        let revents = match polled {
            Ok(Ok(revents)) => revents,
            Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(error)) => return Err(error),
            // Reaped through another reference to the Process: the status is cached.
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {
                last_data = Instant::now();
                exited = Some((process.wait()?, last_data));
                owe(&mut pipes)?;
                continue;
            }
            Err(error) => return Err(error),
        };
        drop(fds);
        let mut read = 0;
        let mut ready_fds = revents.iter().copied();
        for pipe in pipes.iter_mut().filter(|pipe| pipe.file.is_some()) {
            if ready_fds.next().is_some_and(ready) {
                read += pipe.read_available()?;
            } else {
                // Not readable: empty, so nothing owed is left in it (another holder of
                // the read end took it) — else the loop would spin on a debt never paid.
                pipe.owed = 0;
            }
        }
        if read > 0 {
            last_data = Instant::now();
        }
        if exited.is_none() {
            let pidfd_ready = ready_fds.next().is_some_and(ready);
            if pidfd_ready || !poll_pidfd {
                // Readable: reap at once (the poll just said so; no second poll).
                let reaped = if pidfd_ready {
                    process.reap_if_exited()?
                } else {
                    process.try_wait()?
                };
                match reaped {
                    Some(status) => {
                        last_data = Instant::now();
                        exited = Some((status, last_data));
                        owe(&mut pipes)?;
                    }
                    // Readable but not waitable (ptrace): check after each round instead.
                    None if pidfd_ready => poll_pidfd = false,
                    None => {}
                }
            }
        }
        if exited.is_none() && deadline.remaining().is_some_and(|rest| rest.is_zero()) {
            let status = kill_and_reap(process)?;
            timed_out = true;
            exited = Some((status, Instant::now()));
            owe(&mut pipes)?;
        }
    };
    let pipes_abandoned = any_abandoned(&pipes)?;
    let [stdout, stderr] = pipes;
    Ok(TimedOutput {
        output: Output {
            status,
            stdout: stdout.data,
            stderr: stderr.data,
        },
        timed_out,
        pipes_abandoned,
    })
}

/// Waits for the child until `deadline`; kills and reaps it if it still runs then.
/// Returns its status and whether it was killed.
fn wait_until(process: &Process, deadline: Deadline) -> io::Result<(ExitStatus, bool)> {
    let Some(rest) = deadline.remaining() else {
        return Ok((process.wait()?, false));
    };
    match process.wait_timeout(rest)? {
        Some(status) => Ok((status, false)),
        None => Ok((kill_and_reap(process)?, true)),
    }
}

/// `SIGKILL` through the [`Process`] (its pidfd, or in pid mode its PID while it cannot
/// have been reaped), then the reaping wait. `ESRCH` (reaped meanwhile through another
/// reference) is no error: the cached status is returned.
fn kill_and_reap(process: &Process) -> io::Result<ExitStatus> {
    match process.kill() {
        Ok(()) => {}
        Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {}
        Err(error) => return Err(error),
    }
    process.wait()
}
