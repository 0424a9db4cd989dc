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
//! * [`AsyncReaper`] — the [`Reaper`](crate::Reaper) driven by readiness of (a duplicate
//!   of) its epoll fd, plus a [`PidWatch`] for its pid-mode entries.
//! * [`Guard`] — the drop guard of an async `Child`: a child still running is handed to the
//!   [`background`] reaper thread — after a `SIGKILL` with kill-on-drop, as it is without —
//!   so that a drop does not wait for the child and leaves no zombie (the exceptions: see
//!   the runtime modules' `Child`).

mod api;
mod background;
mod sys;

pub(crate) use api::{pipe_type, runtime_api};
pub(crate) use sys::OwnsFd;
#[cfg(feature = "tokio")]
pub(crate) use sys::tokio_register;

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

use std::fs::File;
use std::future::Future;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::process::{ExitStatus, Output};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::process::PidFdRef;
use crate::sys::time::{PID_MODE_RECHECK, WAIT_BACK_OFF};
use crate::{Child, Exit, Mode, Process, Reaper};
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
    fn new() -> io::Result<Self> {
        Ok(PidWatch {
            signal: R::child_signal()?,
            recheck: None,
            period: PID_MODE_FIRST_RECHECK,
        })
    }

    /// Ready when it is time to look again.
    fn poll_next_look(&mut self, cx: &mut Context<'_>) -> Poll<()> {
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
    fn poll_wait_detached(
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

/// The state of an async `output()` / `wait_with_output()`.
pub(crate) struct Collect<R: Runtime> {
    guard: Guard,
    pipes: [Option<Pipe<R>>; 2],
    data: [Vec<u8>; 2],
    wait: WaitState<'static, R>,
    /// The exit: its status, when it was seen.
    exited: Option<(ExitStatus, Instant)>,
    last_data: Instant,
    /// The drain deadline after the exit (reset when data comes).
    drain: Option<R::Timer>,
    chunk: Vec<u8>,
    /// Keep what is read (`output`), or discard it (`status`).
    keep: bool,
}

/// How much one read takes from a pipe.
const CHUNK: usize = 16 * 1024;

impl<R: Runtime> Collect<R> {
    pub(crate) fn new(
        guard: Guard,
        stdout: Option<Pipe<R>>,
        stderr: Option<Pipe<R>>,
        keep: bool,
    ) -> Self {
        Collect {
            guard,
            pipes: [stdout, stderr],
            data: [Vec::new(), Vec::new()],
            wait: WaitState::new(),
            exited: None,
            last_data: Instant::now(),
            drain: None,
            chunk: Vec::new(),
            keep,
        }
    }

    fn output(&mut self, status: ExitStatus) -> Output {
        let [stdout, stderr] = std::mem::take(&mut self.data);
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// Reads both pipes and waits for the exit; after the exit the pipes are read while
    /// data flows, and given up [`Child::DRAIN_IDLE`] after the last data or
    /// [`Child::DRAIN_MAX`] after the exit (as the blocking form does).
    pub(crate) fn poll_collect(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Output>> {
        loop {
            let mut progress = false;
            for (slot, data) in self.pipes.iter_mut().zip(&mut self.data) {
                let Some(pipe) = slot.as_mut() else { continue };
                if self.chunk.is_empty() {
                    self.chunk = vec![0; CHUNK];
                }
                match pipe.poll_read(cx, &mut self.chunk) {
                    Poll::Ready(Ok(0)) => *slot = None,
                    Poll::Ready(Ok(count)) => {
                        if self.keep {
                            data.extend_from_slice(&self.chunk[..count]);
                        }
                        self.last_data = Instant::now();
                    }
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => continue,
                }
                progress = true;
            }
            if self.exited.is_none() {
                if let Poll::Ready(status) = self.wait.poll_wait_detached(self.guard.process(), cx)
                {
                    self.last_data = Instant::now();
                    self.exited = Some((status?, self.last_data));
                    progress = true;
                }
            }
            let Some((status, at)) = self.exited else {
                if progress {
                    continue;
                }
                return Poll::Pending;
            };
            if self.pipes.iter().all(Option::is_none) {
                return Poll::Ready(Ok(self.output(status)));
            }
            let deadline = (self.last_data + Child::DRAIN_IDLE).min(at + Child::DRAIN_MAX);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Poll::Ready(Ok(self.output(status)));
            }
            if progress {
                self.drain = None; // a new deadline
                continue;
            }
            if !poll_timer::<R>(&mut self.drain, left, cx) {
                return Poll::Pending;
            }
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
