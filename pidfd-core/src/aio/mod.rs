//! What [`crate::tokio`] and [`crate::async_io`] share: every async state machine of the
//! crate, written once over a small [`Runtime`] trait (register an fd for readiness, poll
//! it, make a timer), and the macro that gives each runtime module its public types.
//!
//! * [`WaitState`] — a wait on a [`Process`] as a future. Pidfd mode: a duplicate of the
//!   pidfd ([`Process::try_clone_pidfd`]) registered with the runtime; on readiness the
//!   child is reaped *through the `Process`*, so its cached status, its "no signal after the
//!   reap" rule and its serialised reaping hold exactly as for the blocking waits. Pid mode:
//!   a [`PidWatch`] (the runtime's `SIGCHLD` and a re-check timer), and a reap that never
//!   waits for the status lock.
//!   Dropping a wait loses nothing: only the `Process` reaps, and it keeps the status.
//! * [`Pipe`] — a parent's pipe end made non-blocking and registered (async stdio).
//! * [`Collect`] — `output()`: both pipes and the exit in one future, with the same drain
//!   bounds after the exit as the blocking [`Child::wait_with_output`](crate::Child::wait_with_output).
//! * [`AsyncReaper`] — the [`Reaper`] driven by readiness of (a duplicate
//!   of) its epoll fd, plus a [`PidWatch`] for its pid-mode entries.
//! * [`Guard`] — the drop guard of an async `Child`: a child still running is handed to the
//!   [`background`] reaper thread — after a `SIGKILL` with kill-on-drop, as it is without —
//!   so that a drop does not wait for the child and leaves no zombie (the exceptions: see
//!   the runtime modules' `Child`).

mod api;
mod background;
mod collect;
mod pipe;
mod sys;
mod wait;

pub(crate) use api::{pipe_type, runtime_api};
pub(crate) use collect::Collect;
pub(crate) use pipe::Pipe;
pub(crate) use sys::OwnsFd;
#[cfg(feature = "tokio")]
pub(crate) use sys::tokio_register;
pub(crate) use wait::{PidWatch, WaitState};

pub(crate) mod sealed {
    /// Keeps the runtime modules' extension traits implemented by the crate's types only.
    #[allow(
        unreachable_pub,
        reason = "the sealed-trait pattern needs a public trait"
    )]
    pub trait Sealed {}
    impl Sealed for crate::Process {}
    impl Sealed for crate::Spawn {}
}

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::{Child, Exit, Process, Reaper};
use background::Adoption;

/// Which readiness a registration waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// What the async code needs of a runtime: fd readiness and timers.
pub(crate) trait Runtime: 'static {
    /// An fd-owning `T` registered with the runtime's reactor.
    type Source<T: OwnsFd>;
    /// A timer future (its output is ignored).
    type Timer: Future + Unpin;

    /// Registers `io` (already non-blocking where that matters: the runtime does not change
    /// its flags) for readiness in `direction`.
    fn register<T: OwnsFd>(io: T, direction: Direction) -> io::Result<Self::Source<T>>;

    /// Proof of readiness, to clear when it turned out spurious ("would block").
    type Ready<'s, T: OwnsFd + 's>;

    /// Waits for readiness in `direction`.
    fn poll_readiness<'s, T: OwnsFd>(
        source: &'s Self::Source<T>,
        direction: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Self::Ready<'s, T>>>;

    /// Forgets a readiness that turned out spurious: the next poll waits for a new event.
    fn clear<T: OwnsFd>(ready: Self::Ready<'_, T>);

    /// Whether the runtime reports readiness again for as long as the fd stays ready
    /// (async-io's level-triggered oneshot registrations) rather than once per new event
    /// (tokio's edge-triggered ones). A pidfd whose zombie cannot be reaped yet (a traced
    /// child, until its tracer waited) stays readable: such a runtime would spin on it, so
    /// a wait backs off on a timer after each spurious readiness.
    const REPEATS_READINESS: bool;

    /// Whether an I/O attempt is worth making before waiting for readiness (async-io: each
    /// readiness wait re-arms the registration, a syscall; tokio caches readiness, so an
    /// attempt without it would be the wasted syscall).
    const TRY_FIRST: bool;

    /// What wakes a pid-mode wait when a child changes state (`SIGCHLD`): pid mode has no
    /// readiness of its own.
    type ChildSignal: Unpin;

    /// A new [`Runtime::ChildSignal`]: every `SIGCHLD` from now on makes it ready at least
    /// once. `Ok(None)` where there is none to be had (no fd left; `SIGCHLD` ignored, when
    /// the kernel reaps the children itself and there is no signal to wait for): the
    /// re-check timer alone then.
    ///
    /// # Errors
    ///
    /// No runtime to wait on (tokio: polled outside a runtime's context).
    fn child_signal() -> io::Result<Option<Self::ChildSignal>>;

    /// Waits for a `SIGCHLD` since the last ready poll (or since
    /// [`Runtime::child_signal`]). A signal source that failed stays pending (the caller's
    /// re-check timer is left).
    fn poll_child_signal(signal: &mut Self::ChildSignal, cx: &mut Context<'_>) -> Poll<()>;

    /// Waits for readiness in `direction`, then calls `attempt`: `Some` ends the poll,
    /// `None` ("would block", spurious readiness) clears the readiness and waits again.
    fn poll_ready<T: OwnsFd, V>(
        source: &Self::Source<T>,
        direction: Direction,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&T) -> io::Result<Option<V>>,
    ) -> Poll<io::Result<V>> {
        loop {
            let ready = match Self::poll_readiness(source, direction, cx) {
                Poll::Ready(ready) => ready?,
                Poll::Pending => return Poll::Pending,
            };
            match attempt(Self::get(source))? {
                Some(value) => return Poll::Ready(Ok(value)),
                None => Self::clear(ready),
            }
        }
    }

    /// I/O on a registered non-blocking fd: [`Runtime::poll_ready`], with one `attempt`
    /// first where [`Runtime::TRY_FIRST`] says so.
    fn poll_io<T: OwnsFd, V>(
        source: &Self::Source<T>,
        direction: Direction,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&T) -> io::Result<Option<V>>,
    ) -> Poll<io::Result<V>> {
        if Self::TRY_FIRST {
            if let Some(value) = attempt(Self::get(source))? {
                return Poll::Ready(Ok(value));
            }
        }
        Self::poll_ready(source, direction, cx, attempt)
    }

    /// The registered value.
    fn get<T: OwnsFd>(source: &Self::Source<T>) -> &T;

    /// A timer that fires `after` from now.
    fn timer(after: Duration) -> Self::Timer;
}

fn is_errno(error: &io::Error, errno: i32) -> bool {
    error.raw_os_error() == Some(errno)
}

/// Polls `timer` (made on first use, `after` from then); `true` once it fired, leaving the
/// slot empty so that the next use starts a new one.
fn poll_timer<R: Runtime>(
    timer: &mut Option<R::Timer>,
    after: Duration,
    cx: &mut Context<'_>,
) -> bool {
    let pending = timer.get_or_insert_with(|| R::timer(after));
    if Pin::new(pending).poll(cx).is_ready() {
        *timer = None;
        true
    } else {
        false
    }
}

/// The async `Child`'s hold on its [`Process`], with the kill-on-drop guard.
pub(crate) struct Guard {
    /// `Some` until `into_process` takes it.
    process: Option<Process>,
    kill_on_drop: bool,
}

impl Guard {
    /// Takes the [`Process`] and the kill-on-drop guard over from `child` (whose pipe ends
    /// the caller took first).
    pub(crate) fn new(child: Child) -> Guard {
        let (process, kill_on_drop) = child.into_guarded_process();
        Guard {
            process: Some(process),
            kill_on_drop,
        }
    }

    pub(crate) fn process(&self) -> &Process {
        self.process
            .as_ref()
            .expect("an async Child holds its Process until into_process consumes it")
    }

    /// The process without the guard.
    pub(crate) fn into_process(mut self) -> Process {
        self.kill_on_drop = false;
        self.process
            .take()
            .expect("an async Child holds its Process until into_process consumes it")
    }
}

impl Drop for Guard {
    /// Does not wait for the child (see the runtime modules' `Child` for the exceptions:
    /// no thread, no fd). A child already reaped — through this handle, or behind its back (pid
    /// mode: the `ECHILD` is recorded, so no later signal reaches the PID's next owner) —
    /// needs nothing and is never signalled. A child still there goes to the [`background`]
    /// reaper: without kill-on-drop as it is (reaped once it exits, as `tokio::process`
    /// does with its orphans); with it, after `SIGKILL` through the [`Process`] and one
    /// more non-blocking reap (it is rarely gone at once: it must be scheduled to die). One
    /// that cannot be signalled (`EPERM`) is reaped only if it exited already.
    fn drop(&mut self) {
        let Some(process) = self.process.take() else {
            return;
        };
        if !matches!(process.try_wait(), Ok(None)) {
            return;
        }
        if !self.kill_on_drop {
            background::adopt(process, Adoption::Orphan);
            return;
        }
        if process.kill().is_err() {
            drop(process.try_wait());
            return;
        }
        if let Ok(None) = process.try_wait() {
            background::adopt(process, Adoption::Killed);
        }
    }
}

/// A [`Reaper`] driven by a runtime.
pub(crate) struct AsyncReaper<T, R: Runtime> {
    pub(crate) reaper: Reaper<T>,
    /// A duplicate of the epoll fd, registered on first wait.
    source: Option<R::Source<OwnedFd>>,
    /// While there are pid-mode entries: what makes the reaper look at them again (the
    /// re-check the blocking reaper asks of an event loop, [`Reaper::recheck_after`]).
    pid_watch: Option<PidWatch<R>>,
}

impl<T, R: Runtime> AsyncReaper<T, R> {
    pub(crate) fn new(reaper: Reaper<T>) -> Self {
        AsyncReaper {
            reaper,
            source: None,
            pid_watch: None,
        }
    }

    /// The next exit; `None` once the reaper is empty.
    pub(crate) fn poll_next_exit(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Exit<T>>>> {
        let AsyncReaper {
            reaper,
            source,
            pid_watch,
        } = self;
        let next = |reaper: &mut Reaper<T>| match reaper.try_next_exit() {
            Ok(Some(exit)) => Ok(Some(Some(exit))),
            Ok(None) if reaper.is_empty() => Ok(Some(None)),
            Ok(None) => Ok(None),
            Err(error) => Err(error),
        };
        loop {
            // Pid-mode entries: the watch is made before the look, so that no SIGCHLD
            // after the look is missed.
            if reaper.recheck_after().is_some() {
                if pid_watch.is_none() {
                    *pid_watch = Some(PidWatch::new()?);
                }
            } else {
                *pid_watch = None;
            }
            if let Some(found) = next(reaper).transpose() {
                return Poll::Ready(found);
            }
            let registered = match source {
                Some(registered) => registered,
                None => {
                    let epoll = reaper.as_fd().try_clone_to_owned()?;
                    source.insert(R::register(epoll, Direction::Read)?)
                }
            };
            if let Poll::Ready(found) =
                R::poll_ready(registered, Direction::Read, cx, |_| next(reaper))
            {
                return Poll::Ready(found);
            }
            let Some(watch) = pid_watch else {
                return Poll::Pending;
            };
            if watch.poll_next_look(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}
