//! A wait on a [`Process`] as a poll function ([`WaitState`], the runtime modules' `Wait`
//! futures), and pid mode's [`PidWatch`].

use std::io;
use std::os::fd::OwnedFd;
use std::process::ExitStatus;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{Direction, OwnsFd, Runtime, is_errno, poll_timer};
use crate::process::PidFdRef;
use crate::sys::time::{PID_MODE_RECHECK, WAIT_BACK_OFF};
use crate::{Mode, Process};

/// Pid mode's first re-check comes this soon after the wait starts; each later one twice
/// as late, up to [`PID_MODE_RECHECK`] (a short-lived child is seen soon without a signal).
const PID_MODE_FIRST_RECHECK: Duration = Duration::from_millis(1);

/// What makes a pid-mode wait look at its child(ren) again: a `SIGCHLD`
/// ([`Runtime::ChildSignal`]), or a re-check timer whose period doubles from
/// [`PID_MODE_FIRST_RECHECK`] to [`PID_MODE_RECHECK`] — for a `SIGCHLD` that never reaches
/// the watch (async-io's signalfd sees it only where every thread blocks it), and for a
/// child reaped by a blocking wait on another thread (whose lock the non-blocking reap
/// does not wait for).
pub(crate) struct PidWatch<R: Runtime> {
    /// `None` where there is none (see [`Runtime::child_signal`]): the timer alone.
    signal: Option<R::ChildSignal>,
    recheck: Option<R::Timer>,
    period: Duration,
}

impl<R: Runtime> PidWatch<R> {
    /// Made before the first look, so that no `SIGCHLD` after it is missed.
    ///
    /// # Errors
    ///
    /// [`Runtime::child_signal`]'s: no runtime to wait on (tokio, polled outside one).
    pub(super) fn new() -> io::Result<Self> {
        Ok(PidWatch {
            signal: R::child_signal()?,
            recheck: None,
            period: PID_MODE_FIRST_RECHECK,
        })
    }

    /// Ready when it is time to look again.
    pub(super) fn poll_next_look(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(signal) = &mut self.signal {
            if R::poll_child_signal(signal, cx).is_ready() {
                return Poll::Ready(());
            }
        }
        if poll_timer::<R>(&mut self.recheck, self.period, cx) {
            self.period = (self.period * 2).min(PID_MODE_RECHECK);
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// Where a wait is.
enum Stage<'a, R: Runtime> {
    /// Nothing registered yet.
    Start,
    /// Pidfd mode: the process's pidfd, held open and registered for readability (the
    /// exit); `back_off`: see [`WaitState::poll_pidfd`].
    PidFd {
        pidfd: R::Source<PidFdRef<'a>>,
        back_off: Option<R::Timer>,
    },
    /// Pidfd mode, for a wait that cannot borrow its process, or whose process's pidfd is
    /// registered by another wait already: a duplicate of the pidfd.
    PidFdDup {
        pidfd: R::Source<OwnedFd>,
        back_off: Option<R::Timer>,
    },
    /// Pid mode: `SIGCHLD` and the re-check timer.
    Pid(PidWatch<R>),
}

/// A wait on a [`Process`] as a poll function (the runtime modules' `Wait` futures).
pub(crate) struct WaitState<'a, R: Runtime> {
    stage: Stage<'a, R>,
}

impl<'a, R: Runtime> WaitState<'a, R> {
    pub(crate) fn new() -> Self {
        WaitState {
            stage: Stage::Start,
        }
    }

    /// Reaps through the process if it exited, never blocking (pid mode: not even on the
    /// status lock — see [`Process::reap_if_exited`]): `Some(result)` ends the wait (pidfd
    /// mode: called once the pidfd is readable, so `ECHILD` — not our child, or reaped
    /// elsewhere without a status kept — is what the blocking wait reports too).
    fn attempt(process: &Process) -> Option<io::Result<ExitStatus>> {
        process.reap_if_exited().transpose()
    }

    /// Polls the wait: the status once the child exited and was reaped through `process`
    /// (or its cached status), an error as [`Process::wait`] gives it. Registers the
    /// process's own pidfd, held open for `'a`.
    pub(crate) fn poll_wait(
        &mut self,
        process: &'a Process,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<ExitStatus>> {
        self.poll_inner(process, Some(process), cx)
    }

    /// [`WaitState::poll_wait`] for a wait that cannot borrow its process for `'a` (one
    /// that owns it: `Collect`): registers a duplicate of the pidfd.
    pub(super) fn poll_wait_detached(
        &mut self,
        process: &Process,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<ExitStatus>> {
        self.poll_inner(process, None, cx)
    }

    /// `borrowed`: the same process, when its own pidfd may be registered.
    fn poll_inner(
        &mut self,
        process: &Process,
        borrowed: Option<&'a Process>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<ExitStatus>> {
        loop {
            match &mut self.stage {
                Stage::Start => {
                    // Pid mode looks first: a status cached already needs no watch (whose
                    // signal handler, under tokio, would be installed for nothing).
                    if process.mode() == Mode::Pid {
                        if let Some(result) = Self::attempt(process) {
                            return Poll::Ready(result);
                        }
                    }
                    // Pidfd mode goes straight to the registration: a child that exited
                    // already makes the pidfd readable at once, and one reaped already
                    // (ESRCH) has its status cached. (A waitid first would cost a syscall
                    // for every child that is still running, the common case.)
                    let registered = match borrowed {
                        Some(own) if own.mode() == Mode::PidFd => own
                            .pidfd_ref()
                            .and_then(|pidfd| R::register(pidfd, Direction::Read))
                            .map(|pidfd| Stage::PidFd {
                                pidfd,
                                back_off: None,
                            }),
                        _ => Self::register_detached(process),
                    };
                    // `EEXIST`: the pidfd is registered with this reactor already (another
                    // wait on the same process): this one waits on a duplicate.
                    let registered = match registered {
                        Err(error) if is_errno(&error, libc::EEXIST) => {
                            Self::register_detached(process)
                        }
                        other => other,
                    };
                    self.stage = match registered {
                        Ok(stage) => stage,
                        Err(error) if is_errno(&error, libc::ESRCH) => {
                            return Poll::Ready(process.wait());
                        }
                        Err(error) => return Poll::Ready(Err(error)),
                    };
                }
                Stage::PidFd { pidfd, back_off } => {
                    return Self::poll_pidfd(pidfd, back_off, process, cx);
                }
                Stage::PidFdDup { pidfd, back_off } => {
                    return Self::poll_pidfd(pidfd, back_off, process, cx);
                }
                Stage::Pid(watch) => {
                    if let Some(result) = Self::attempt(process) {
                        return Poll::Ready(result);
                    }
                    if watch.poll_next_look(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// Waits for the pidfd to be readable, then reaps. Readable with nothing to reap is a
    /// traced child's zombie, reapable only once its tracer waited: on a runtime that
    /// [repeats readiness](Runtime::REPEATS_READINESS) the next look waits for a
    /// [`WAIT_BACK_OFF`] timer in `back_off` first, instead of spinning until then. (tokio
    /// reports a new edge when the tracer's wait notifies the pidfd.)
    fn poll_pidfd<T: OwnsFd>(
        pidfd: &R::Source<T>,
        back_off: &mut Option<R::Timer>,
        process: &Process,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<ExitStatus>> {
        loop {
            if back_off.is_some() && !poll_timer::<R>(back_off, WAIT_BACK_OFF, cx) {
                return Poll::Pending;
            }
            let ready = match R::poll_readiness(pidfd, Direction::Read, cx) {
                Poll::Ready(ready) => ready?,
                Poll::Pending => return Poll::Pending,
            };
            if let Some(result) = Self::attempt(process) {
                return Poll::Ready(result);
            }
            R::clear(ready);
            if R::REPEATS_READINESS {
                *back_off = Some(R::timer(WAIT_BACK_OFF));
            }
        }
    }

    /// The registration that borrows nothing: a duplicate of the pidfd, or pid mode's
    /// watch.
    fn register_detached(process: &Process) -> io::Result<Stage<'a, R>> {
        Ok(match process.mode() {
            Mode::PidFd => {
                let pidfd = OwnedFd::from(process.try_clone_pidfd()?);
                Stage::PidFdDup {
                    pidfd: R::register(pidfd, Direction::Read)?,
                    back_off: None,
                }
            }
            Mode::Pid => Stage::Pid(PidWatch::new()?),
        })
    }
}
