//! The one loop behind [`Child::wait_with_output`](crate::Child::wait_with_output),
//! [`Spawn::output`](crate::Spawn::output) and their timed forms: `poll(2)` over the
//! child's stdout and stderr pipes and its pidfd, so that neither pipe can fill up while
//! the other is read (no deadlock), the exit is seen even while a grandchild keeps a pipe
//! open, and a deadline can end it all.
//!
//! After the child has exited, the pipes are read on while data flows and given up once
//! none came for [`DRAIN_IDLE`], or [`DRAIN_MAX`] after the exit at the latest: everything
//! the child wrote itself is in the pipe by the time it has exited (its fds are closed
//! before its pidfd becomes readable), so the bound only cuts off what processes that
//! inherited the pipe (a daemonized grandchild) write later. std's `wait_with_output`
//! waits for those to close the pipe, which can be forever.
//!
//! In pid mode (no pidfd to poll) the loop polls the pipes for at most
//! [`PID_MODE_RECHECK`] at a time and checks the child with a non-blocking wait in between;
//! once both pipes are closed it simply waits.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{ExitStatus, Output};
use std::time::{Duration, Instant};

use crate::sys::poll::poll_in;
use crate::sys::time::{Deadline, PID_MODE_RECHECK};
use crate::{Mode, Process};

/// After the child has exited: the pipes are given up once no data came for this long.
pub(super) const DRAIN_IDLE: Duration = Duration::from_millis(100);

/// After the child has exited: the pipes are given up this long after the exit at the
/// latest, even while data still flows (from a grandchild).
pub(super) const DRAIN_MAX: Duration = Duration::from_secs(1);

/// How much one `read(2)` takes from a pipe (a default pipe's whole capacity).
const CHUNK: usize = 64 * 1024;

/// A [`Child::wait_with_output_timeout`](crate::Child::wait_with_output_timeout) or
/// [`Spawn::output_timeout`](crate::Spawn::output_timeout) result: the output read and the
/// status, and whether the deadline ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOutput {
    /// What was read from stdout and stderr until the child exited (or was killed), and
    /// its status — `SIGKILL`'s when `timed_out`, unless it exited on its own at the very
    /// moment of the deadline.
    pub output: Output,
    /// The deadline passed while the child was running: it was sent `SIGKILL` (through its
    /// pidfd, or in pid mode by a PID that cannot have been reused: it was not reaped) and
    /// reaped.
    pub timed_out: bool,
}

/// One of the pipes the loop reads.
struct Pipe {
    /// `None` once at end of file (or given up).
    file: Option<File>,
    data: Vec<u8>,
    /// Keep what is read (`output`), or discard it (`status` with a pipe the caller set).
    keep: bool,
}

impl Pipe {
    fn new(fd: Option<OwnedFd>, keep: bool) -> Pipe {
        Pipe {
            file: fd.map(File::from),
            data: Vec::new(),
            keep,
        }
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.file.as_ref().map(AsFd::as_fd)
    }

    /// One `read(2)` (the fd was reported ready, so it does not block): `true` when data
    /// came. End of file closes the pipe; `EINTR` and `EAGAIN` are nothing read.
    fn read_once(&mut self, chunk: &mut [u8]) -> io::Result<bool> {
        let Some(file) = &mut self.file else {
            return Ok(false);
        };
        match file.read(chunk) {
            Ok(0) => {
                self.file = None;
                Ok(false)
            }
            Ok(count) => {
                if self.keep {
                    self.data.extend_from_slice(&chunk[..count]);
                }
                Ok(true)
            }
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }
}

/// Whether `revents` says "read now" (data, hang-up or error: the read tells which).
fn ready(revents: libc::c_short) -> bool {
    revents != 0
}

/// Reads `stdout` and `stderr` (either may be absent) until the child has exited and the
/// pipes are at end of file or drained as the module docs say, and reaps the child. With
/// `timeout`, the child still running at the deadline is killed and reaped, and what was
/// read is returned with `timed_out`. `keep`: keep the data (else it is read and discarded).
///
/// # Errors
///
/// The errors of [`Process::wait`], [`Process::kill`] (`EPERM`: the child runs as another
/// user, and is left running) and of `poll(2)`/`read(2)` other than `EINTR` (retried).
pub(super) fn collect(
    process: &Process,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    timeout: Option<Duration>,
    keep: bool,
) -> io::Result<TimedOutput> {
    let deadline = Deadline::after(timeout);
    let mut pipes = [Pipe::new(stdout, keep), Pipe::new(stderr, keep)];
    let mut chunk = Vec::new();
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
            Some((status, at)) => {
                let max = DRAIN_MAX.saturating_sub(at.elapsed());
                let idle = DRAIN_IDLE.saturating_sub(last_data.elapsed());
                let left = match deadline.remaining() {
                    // Killed at the deadline: what is in the pipes already, no waiting.
                    _ if timed_out => Duration::ZERO,
                    Some(rest) => rest.min(idle).min(max),
                    None => idle.min(max),
                };
                if max.is_zero() || (left.is_zero() && !timed_out) {
                    break status;
                }
                Some(left)
            }
        };
        if chunk.is_empty() {
            chunk = vec![0; CHUNK];
        }
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
                continue;
            }
            Err(error) => return Err(error),
        };
        drop(fds);
        let mut data = false;
        let mut ready_fds = revents.iter().copied();
        for pipe in pipes.iter_mut().filter(|pipe| pipe.file.is_some()) {
            if ready_fds.next().is_some_and(ready) {
                data |= pipe.read_once(&mut chunk)?;
            }
        }
        if data {
            last_data = Instant::now();
        }
        if exited.is_none() {
            let pidfd_ready = ready_fds.next().is_some_and(ready);
            if pidfd_ready || !poll_pidfd {
                match process.try_wait()? {
                    Some(status) => {
                        last_data = Instant::now();
                        exited = Some((status, last_data));
                    }
                    // Readable but not waitable (ptrace): check after each round instead.
                    None if pidfd_ready => poll_pidfd = false,
                    None => {}
                }
            }
        }
        match exited {
            None if deadline.remaining().is_some_and(|rest| rest.is_zero()) => {
                let status = kill_and_reap(process)?;
                timed_out = true;
                exited = Some((status, Instant::now()));
            }
            // After the kill: only what was already in the pipes.
            Some((status, _)) if timed_out && !data => break status,
            _ => {}
        }
    };
    let [stdout, stderr] = pipes;
    Ok(TimedOutput {
        output: Output {
            status,
            stdout: stdout.data,
            stderr: stderr.data,
        },
        timed_out,
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
