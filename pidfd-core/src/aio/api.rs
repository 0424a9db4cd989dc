//! The public types of a runtime module, written once: `runtime_api!(Runtime, "name")`
//! expands, inside [`crate::tokio`] and [`crate::async_io`], to `Wait`, `ProcessExt`,
//! `Child` and its pipes, `SpawnExt` with `OutputFuture` and `StatusFuture`, and `Reaper`
//! (a `Stream` of exits). Each module adds its runtime's I/O traits to the pipe types.

/// One pipe type of a runtime module (for `runtime_api!`).
macro_rules! pipe_type {
    ($rt:ty, $name:literal, $pipe:ident, $std:ident, $direction:ident, $what:literal) => {
        #[doc = concat!("The ", $what, " of a [`Child`], for ", $name, ": the")]
        /// parent's pipe end, made non-blocking (`O_NONBLOCK` on the parent's end
        /// only: the child's end is another open file) and registered with the
        /// runtime.
        pub struct $pipe(Pipe<$rt>);

        impl $pipe {
            #[doc = concat!("Wraps std's `", stringify!($std), "` (from")]
            /// [`crate::Child`] or `std::process`).
            ///
            /// It is registered with the runtime on its first use (so this works outside
            /// the runtime's context too).
            ///
            /// # Errors
            ///
            /// `ioctl(FIONBIO)`'s errors (`O_NONBLOCK`).
            pub fn from_std(pipe: std::process::$std) -> io::Result<$pipe> {
                Pipe::new(OwnedFd::from(pipe), Direction::$direction).map($pipe)
            }
        }

        impl AsFd for $pipe {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.as_fd()
            }
        }

        impl fmt::Debug for $pipe {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($pipe))
                    .field(&self.as_fd())
                    .finish()
            }
        }
    };
}

/// See the module docs.
macro_rules! runtime_api {
    ($rt:ty, $name:literal) => {
        use std::fmt;
        use std::future::Future;
        use std::io;
        use std::ops::{Deref, DerefMut};
        use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
        use std::pin::Pin;
        use std::process::{ExitStatus, Output};
        use std::task::{Context, Poll};

        use $crate::aio::sealed::Sealed;
        use $crate::aio::{AsyncReaper, Collect, Direction, Guard, Pipe, WaitState};
        use $crate::{Exit, Key, PidFd, Process, Spawn};

        /// A wait on a [`Process`] as a future (from [`ProcessExt::wait_async`] or
        /// [`Child::wait`]): the exit status once the child exited and was reaped through
        /// the `Process`, as [`Process::wait`] would return it.
        ///
        /// Cancel safe: dropping it loses nothing, since only the `Process` reaps and it
        /// keeps the status — a later wait (async or blocking) returns it. Any number of
        /// waits on one `Process` may run at once; each gets the status.
        ///
        /// In pidfd mode the future registers the process's pidfd with the runtime (held
        /// open while it waits, so a concurrent release or reap never closes it under the
        /// registration); a second wait at the same time on the same reactor registers a
        /// duplicate (one more fd while it waits). In pid mode (no pidfds) it looks again
        /// on each `SIGCHLD` (tokio: through its signal driver's handler; async-io: a
        /// signalfd, prompt only where every thread blocks `SIGCHLD`) and on a runtime
        /// timer (1 ms after the start, then twice as late each time, up to every 50 ms).
        /// It never blocks the runtime's thread, not even while a blocking
        /// [`Process::wait`] on another thread holds the child (that one reaps it; this
        /// one then returns the same status).
        ///
        /// # Errors
        ///
        /// As [`Process::wait`]; the runtime's registration errors (`EMFILE`, no reactor).
        #[must_use = "futures do nothing unless polled"]
        pub struct Wait<'a> {
            process: &'a Process,
            state: WaitState<'a, $rt>,
        }

        impl Future for Wait<'_> {
            type Output = io::Result<ExitStatus>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let this = self.get_mut();
                this.state.poll_wait(this.process, cx)
            }
        }

        impl fmt::Debug for Wait<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Wait")
                    .field("process", self.process)
                    .finish_non_exhaustive()
            }
        }

        #[doc = concat!("Waiting on a [`Process`] as a ", $name, " future (sealed: implemented")]
        /// for `Process` only; through `Deref`, [`crate::Child`] and this module's
        /// [`Child`] have it too).
        pub trait ProcessExt: Sealed {
            /// Waits for the child to exit and reaps it ([`Wait`]); later waits return
            /// the same status.
            fn wait_async(&self) -> Wait<'_>;
        }

        impl ProcessExt for Process {
            fn wait_async(&self) -> Wait<'_> {
                Wait {
                    process: self,
                    state: WaitState::new(),
                }
            }
        }

        $crate::aio::pipe_type!($rt, $name, ChildStdin, ChildStdin, Write, "standard input");
        $crate::aio::pipe_type!(
            $rt,
            $name,
            ChildStdout,
            ChildStdout,
            Read,
            "standard output"
        );
        $crate::aio::pipe_type!($rt, $name, ChildStderr, ChildStderr, Read, "standard error");

        /// Converts each pipe end of `child`.
        fn pipes(
            child: &mut $crate::Child,
        ) -> io::Result<(Option<ChildStdin>, Option<ChildStdout>, Option<ChildStderr>)> {
            Ok((
                child.stdin.take().map(ChildStdin::from_std).transpose()?,
                child.stdout.take().map(ChildStdout::from_std).transpose()?,
                child.stderr.take().map(ChildStderr::from_std).transpose()?,
            ))
        }

        #[doc = concat!("A spawned child for ", $name, ": its [`Process`] (through `Deref`:")]
        /// `pid()`, `send_signal()`, `kill()` — which only sends `SIGKILL` —, `try_wait()`)
        /// and its pipes as async readers and writers. Made by [`SpawnExt::spawn_async`] or
        /// from a [`crate::Child`] ([`Child::from_child`]).
        ///
        /// Dropping it does not wait for the child, and leaves no zombie. With
        /// [`Spawn::kill_on_drop`] it sends `SIGKILL` through the `Process` (unless the
        /// child was reaped already: then nothing is signalled) and reaps the child: at
        /// once if it is gone already, else on a background thread of the crate (one per
        /// process, started on first need; it sleeps until an exit or a hand-off, waking
        /// every 50 ms only while pid-mode children are handed to it). Without
        /// kill-on-drop a child still running is left running and handed to that thread,
        /// which reaps it once it exits (as `tokio::process` does with its orphans; each
        /// costs one fd, its pidfd, until then); [`Child::into_process`] keeps it instead.
        ///
        /// Where the thread cannot be started or cannot watch the child (no fd left,
        /// `EAGAIN` from `clone`), a killed child is waited for in the drop (it was killed:
        /// briefly, unless it is traced or in an uninterruptible sleep) and a running one
        /// is left unreaped, as std's `Child` leaves it. The drop's one non-blocking reap
        /// can take up to about 0.2 s only right after another reaper took the child, on
        /// Linux 6.15+ (as [`Process::try_wait`] documents).
        pub struct Child {
            /// The write end of the child's stdin pipe, when piped.
            pub stdin: Option<ChildStdin>,
            /// The read end of the child's stdout pipe, when piped.
            pub stdout: Option<ChildStdout>,
            /// The read end of the child's stderr pipe, when piped.
            pub stderr: Option<ChildStderr>,
            guard: Guard,
        }

        impl Child {
            /// Takes over a [`crate::Child`]: its pipe ends (made non-blocking and
            /// registered), its [`Process`] and its kill-on-drop guard.
            ///
            /// # Errors
            ///
            /// `ioctl(FIONBIO)`'s errors; the `Child` is dropped then (killed if it was to be
            /// killed on drop).
            pub fn from_child(mut child: $crate::Child) -> io::Result<Child> {
                let (stdin, stdout, stderr) = pipes(&mut child)?;
                Ok(Child {
                    stdin,
                    stdout,
                    stderr,
                    guard: Guard::new(child),
                })
            }

            /// Waits for the exit ([`Wait`]: cancel safe, any number at once). Unlike
            /// std's, it does not close `stdin` first.
            pub fn wait(&self) -> Wait<'_> {
                self.guard.process().wait_async()
            }

            /// Closes `stdin`, reads `stdout` and `stderr` to the end while waiting for the
            /// exit, as [`crate::Child::wait_with_output`] does (the same drain bounds
            /// after the exit for a grandchild that keeps a pipe open).
            pub fn wait_with_output(self) -> OutputFuture {
                OutputFuture(self.collect(true))
            }

            fn collect(mut self, keep: bool) -> io::Result<Collect<$rt>> {
                drop(self.stdin.take());
                let stdout = self.stdout.take().map(|pipe| pipe.0);
                let stderr = self.stderr.take().map(|pipe| pipe.0);
                Ok(Collect::new(self.guard, stdout, stderr, keep))
            }

            /// The [`Process`] alone; the pipes still held are closed and the kill-on-drop
            /// guard is given up.
            pub fn into_process(self) -> Process {
                self.guard.into_process()
            }
        }

        impl Deref for Child {
            type Target = Process;

            fn deref(&self) -> &Process {
                self.guard.process()
            }
        }

        impl TryFrom<$crate::Child> for Child {
            type Error = io::Error;

            /// [`Child::from_child`].
            fn try_from(child: $crate::Child) -> io::Result<Child> {
                Child::from_child(child)
            }
        }

        impl From<Child> for Process {
            /// [`Child::into_process`].
            fn from(child: Child) -> Process {
                child.into_process()
            }
        }

        impl fmt::Debug for Child {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Child")
                    .field("process", self.guard.process())
                    .field("stdin", &self.stdin)
                    .field("stdout", &self.stdout)
                    .field("stderr", &self.stderr)
                    .finish_non_exhaustive()
            }
        }

        /// The future of [`SpawnExt::output_async`] and [`Child::wait_with_output`]: the
        /// output and status, as std's `Output`. Dropping it drops the child (killed and
        /// reaped if it was to be killed on drop; otherwise left running, its pipes closed).
        #[must_use = "futures do nothing unless polled"]
        pub struct OutputFuture(io::Result<Collect<$rt>>);

        impl Future for OutputFuture {
            type Output = io::Result<Output>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                match &mut self.get_mut().0 {
                    Ok(collect) => collect.poll_collect(cx),
                    Err(error) => Poll::Ready(Err(std::mem::replace(
                        error,
                        io::Error::other("OutputFuture polled after it failed"),
                    ))),
                }
            }
        }

        impl fmt::Debug for OutputFuture {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("OutputFuture").finish_non_exhaustive()
            }
        }

        /// The future of [`SpawnExt::status_async`]: the exit status.
        #[must_use = "futures do nothing unless polled"]
        #[derive(Debug)]
        pub struct StatusFuture(OutputFuture);

        impl Future for StatusFuture {
            type Output = io::Result<ExitStatus>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                Pin::new(&mut self.get_mut().0)
                    .poll(cx)
                    .map(|output| output.map(|output| output.status))
            }
        }

        #[doc = concat!("[`Spawn`] for ", $name, " (sealed: implemented for `Spawn` only).")]
        pub trait SpawnExt: Sealed {
            /// [`Spawn::spawn`], returning this module's [`Child`].
            ///
            /// # Errors
            ///
            /// As [`Spawn::spawn`] and [`Child::from_child`].
            fn spawn_async(&self) -> io::Result<Child>;

            /// [`Spawn::output`] as a future: stdin `/dev/null`, stdout and stderr piped
            /// unless set; the spawn happens at this call.
            fn output_async(&mut self) -> OutputFuture;

            /// [`Spawn::status`] as a future: streams inherited unless set (piped ones are
            /// read and discarded, piped stdin closed at once).
            fn status_async(&mut self) -> StatusFuture;
        }

        impl SpawnExt for Spawn {
            fn spawn_async(&self) -> io::Result<Child> {
                Child::from_child(self.spawn()?)
            }

            fn output_async(&mut self) -> OutputFuture {
                let child = self.spawn_for_output().and_then(Child::from_child);
                OutputFuture(child.and_then(|child| child.collect(true)))
            }

            fn status_async(&mut self) -> StatusFuture {
                let child = self.spawn().and_then(Child::from_child);
                StatusFuture(OutputFuture(child.and_then(|child| child.collect(false))))
            }
        }

        #[doc = concat!("A [`Reaper`](crate::Reaper) for ", $name, ": the exits of many")]
        /// processes as a `Stream` ([`futures_core::Stream`]) or one by one with
        /// [`Reaper::next_exit`], each reported once with its token. Through `Deref` it is
        /// the blocking `Reaper` itself: [`add`](crate::Reaper::add),
        /// [`add_pidfd`](crate::Reaper::add_pidfd), [`remove`](crate::Reaper::remove),
        /// `len`, `is_empty` (do not call its blocking `next_exit` on a runtime thread).
        ///
        /// The epoll fd is registered with the runtime (a duplicate, on the first wait);
        /// with pid-mode entries it also looks at them on each `SIGCHLD` and on a runtime
        /// timer (up to every 50 ms), as the blocking reaper's docs ask of an event loop. The stream ends (`None`) when the
        /// reaper is empty; entries added later are reported by polling it again.
        pub struct Reaper<T> {
            inner: AsyncReaper<T, $rt>,
        }

        impl<T> Reaper<T> {
            /// An empty reaper ([`crate::Reaper::new`]).
            ///
            /// # Errors
            ///
            /// As [`crate::Reaper::new`].
            pub fn new() -> io::Result<Reaper<T>> {
                $crate::Reaper::new().map(Reaper::from)
            }

            /// Watches `process` ([`crate::Reaper::add`]); also takes this module's
            /// [`Child`] (which gives up its kill-on-drop guard).
            ///
            /// # Errors
            ///
            /// As [`crate::Reaper::add`].
            pub fn add(&mut self, process: impl Into<Process>, token: T) -> io::Result<Key> {
                self.inner.reaper.add(process, token)
            }

            /// Watches the process of `pidfd` ([`crate::Reaper::add_pidfd`]).
            ///
            /// # Errors
            ///
            /// As [`crate::Reaper::add_pidfd`].
            pub fn add_pidfd(&mut self, pidfd: PidFd, token: T) -> io::Result<Key> {
                self.inner.reaper.add_pidfd(pidfd, token)
            }

            /// The next exit, `None` once the reaper is empty (cancel safe: an exit is
            /// taken from the reaper only when this future returns it).
            pub fn next_exit(&mut self) -> NextExit<'_, T> {
                NextExit(self)
            }

            /// Polls for the next exit (`Ready(Ok(None))`: the reaper is empty).
            ///
            /// # Errors
            ///
            /// As [`crate::Reaper::next_exit`]; the runtime's registration errors.
            pub fn poll_next_exit(
                &mut self,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<Option<Exit<T>>>> {
                self.inner.poll_next_exit(cx)
            }
        }

        impl<T> From<$crate::Reaper<T>> for Reaper<T> {
            /// Drives `reaper` (and the entries it has) with the runtime.
            fn from(reaper: $crate::Reaper<T>) -> Reaper<T> {
                Reaper {
                    inner: AsyncReaper::new(reaper),
                }
            }
        }

        impl<T> Deref for Reaper<T> {
            type Target = $crate::Reaper<T>;

            fn deref(&self) -> &$crate::Reaper<T> {
                &self.inner.reaper
            }
        }

        impl<T> DerefMut for Reaper<T> {
            fn deref_mut(&mut self) -> &mut $crate::Reaper<T> {
                &mut self.inner.reaper
            }
        }

        // Never pinned structurally: the tokens are only moved in and out.
        impl<T> Unpin for Reaper<T> {}

        impl<T> futures_core::Stream for Reaper<T> {
            type Item = io::Result<Exit<T>>;

            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
                self.get_mut().poll_next_exit(cx).map(Result::transpose)
            }
        }

        impl<T> fmt::Debug for Reaper<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple("Reaper").field(&self.inner.reaper).finish()
            }
        }

        /// The future of [`Reaper::next_exit`].
        #[must_use = "futures do nothing unless polled"]
        pub struct NextExit<'a, T>(&'a mut Reaper<T>);

        impl<T> Future for NextExit<'_, T> {
            type Output = io::Result<Option<Exit<T>>>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                self.get_mut().0.poll_next_exit(cx)
            }
        }

        impl<T> fmt::Debug for NextExit<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple("NextExit").field(&self.0).finish()
            }
        }
    };
}

pub(crate) use {pipe_type, runtime_api};
