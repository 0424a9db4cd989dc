//! async-io support (feature `async-io`; smol, async-std and any executor): waiting on a
//! [`Process`] as a future, a [`Child`] whose pipes are `futures-io`'s
//! `AsyncRead`/`AsyncWrite`, async `output()`/`status()` and a [`Reaper`] that is a
//! `Stream` of exits — registered with async-io's reactor as its `Async` does, and timed
//! with its `Timer`.
//!
//! The pidfd comes from the clone itself ([`Spawn`]), never from `pidfd_open(pid)` after
//! the spawn. Nothing here installs a signal handler or changes a signal mask; pid-mode
//! waits (no pidfds) use a `SIGCHLD` signalfd (readable only where every thread blocks
//! `SIGCHLD`) and a re-check timer: 1 ms after the wait starts, then twice as late each
//! time, up to every 50 ms.
//!
//! The same items as [`crate::tokio`]: [`ProcessExt::wait_async`], [`SpawnExt`],
//! [`Child`] (kill-on-drop without blocking), [`Reaper`].
//!
//! # Example
//!
//! ```
//! use pidfd_core::Spawn;
//! use pidfd_core::async_io::{ProcessExt, SpawnExt};
//!
//! # fn main() -> std::io::Result<()> {
//! futures_lite::future::block_on(async {
//!     let child = Spawn::new("sh").args(["-c", "exit 3"]).spawn()?;
//!     assert_eq!(child.wait_async().await?.code(), Some(3));
//!     let output = Spawn::new("echo").arg("hi").output_async().await?;
//!     assert_eq!(output.stdout, b"hi\n");
//!     Ok(())
//! })
//! # }
//! ```

use std::time::Duration;

use ::async_io::{Async, Timer};
use futures_io::{AsyncRead, AsyncWrite};

use crate::aio::{self, OwnsFd, Runtime};
use crate::reaper::pid_mode::{drain_sigchld_fd, sigchld_fd};

/// async-io as an [`aio::Runtime`].
pub(crate) struct AsyncIo;

impl Runtime for AsyncIo {
    type Source<T: OwnsFd> = Async<T>;
    type Timer = Timer;

    const REPEATS_READINESS: bool = true;
    const TRY_FIRST: bool = true;

    /// A `SIGCHLD` signalfd, as the [`Reaper`](crate::Reaper)'s pid-mode fallback has:
    /// readable only where every thread blocks `SIGCHLD` (nothing here changes a mask), so
    /// the re-check timer does the rest. Where a program blocks `SIGCHLD` to read it from
    /// its own signalfd or `sigwaitinfo`, a pid-mode wait (and the background reaper while
    /// it watches pid-mode children) consumes some of those signals: such a program must
    /// not count on seeing every `SIGCHLD`.
    type ChildSignal = Async<OwnedFd>;

    fn child_signal() -> io::Result<Option<Async<OwnedFd>>> {
        // No fd left (or no reactor): the re-check timer alone.
        Ok(sigchld_fd().and_then(Async::new_nonblocking).ok())
    }

    fn poll_child_signal(signal: &mut Async<OwnedFd>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match signal.poll_readable(cx) {
                Poll::Ready(Ok(())) => {}
                // The reactor failed: the re-check timer is left.
                Poll::Ready(Err(_)) | Poll::Pending => return Poll::Pending,
            }
            if drain_sigchld_fd(signal.get_ref().as_fd()) {
                return Poll::Ready(());
            }
        }
    }

    fn register<T: OwnsFd>(io: T, _: Direction) -> io::Result<Async<T>> {
        // The caller made it non-blocking where that matters (pipes); a pidfd or an epoll
        // fd must keep its flags (they are shared with the `Process` and the `Reaper`).
        Async::new_nonblocking(io)
    }

    type Ready<'s, T: OwnsFd + 's> = ();

    fn poll_readiness<T: OwnsFd>(
        source: &Async<T>,
        direction: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        match direction {
            Direction::Read => source.poll_readable(cx),
            Direction::Write => source.poll_writable(cx),
        }
    }

    /// Nothing to do: async-io reports an event once, and the next poll waits for a new one.
    fn clear<T: OwnsFd>((): ()) {}

    fn get<T: OwnsFd>(source: &Self::Source<T>) -> &T {
        source.get_ref()
    }

    fn timer(after: Duration) -> Timer {
        Timer::after(after)
    }
}

aio::runtime_api!(AsyncIo, "async-io");

/// `AsyncRead` for a reading pipe type.
macro_rules! async_read {
    ($pipe:ident) => {
        impl AsyncRead for $pipe {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().0.poll_read(cx, buf)
            }
        }
    };
}

async_read!(ChildStdout);
async_read!(ChildStderr);

impl AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().0.poll_write(cx, buf)
    }

    /// Nothing to flush: writes go straight to the pipe.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// The pipe is closed when this is dropped (as async-process's `ChildStdin`).
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
