//! tokio support (feature `tokio`): waiting on a [`Process`] as a future, a [`Child`] whose
//! pipes are tokio's `AsyncRead`/`AsyncWrite`, async `output()`/`status()` and a [`Reaper`]
//! that is a `Stream` of exits — following tokio's own shapes (`AsyncFd`,
//! `tokio::process`).
//!
//! Unlike `tokio::process`, the pidfd comes from the clone itself ([`Spawn`]), not from a
//! `pidfd_open(pid)` after the spawn, so a `waitpid(-1)` elsewhere can never make it refer
//! to the wrong process; the spawn runs at vfork speed whatever the builder sets.
//!
//! Needs a runtime with its IO driver (`enable_io`); pid-mode waits (no pidfds: kernels
//! before 5.4, seccomp, `PIDFD_DISABLE=1`) and the drain deadline of `output()` also need
//! its timer (`enable_time`; `enable_all` has both). Nothing here changes a signal mask. In
//! pidfd mode nothing installs a signal handler either; pid-mode waits on a child not
//! reaped yet listen for `SIGCHLD` through tokio's signal driver (which installs its
//! handler for the rest of the process's life on first use, chaining an earlier handler
//! function, as `tokio::process` does — but never where `SIGCHLD` is `SIG_IGN` or has
//! `SA_NOCLDWAIT`, since that would end the kernel's reaping: set `SIGCHLD`'s disposition
//! before the first pid-mode wait), and re-check on a timer too.
//!
//! * [`ProcessExt::wait_async`] — `process.wait_async().await` ([`Wait`]); cancel safe.
//! * [`SpawnExt`] — `spawn_async()`, `output_async().await`, `status_async().await`.
//! * [`Child`] — `stdin`/`stdout`/`stderr` ([`ChildStdin`] is `AsyncWrite`, the others
//!   `AsyncRead`), `wait().await`, `wait_with_output().await`; kill-on-drop without
//!   blocking.
//! * [`Reaper`] — `reaper.next_exit().await`, or the `Stream`.
//!
//! # Example
//!
//! ```
//! use pidfd_core::Spawn;
//! use pidfd_core::tokio::{ProcessExt, SpawnExt};
//!
//! # fn main() -> std::io::Result<()> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let child = Spawn::new("sh").args(["-c", "exit 3"]).spawn()?;
//!     assert_eq!(child.wait_async().await?.code(), Some(3));
//!     let output = Spawn::new("echo").arg("hi").output_async().await?;
//!     assert_eq!(output.stdout, b"hi\n");
//!     Ok(())
//! })
//! # }
//! ```

use std::io::IoSlice;
use std::time::Duration;

use ::tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use ::tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use ::tokio::signal::unix::{Signal, SignalKind, signal};

use crate::aio::{self, OwnsFd, Runtime};

/// tokio as an [`aio::Runtime`].
pub(crate) struct Tokio;

impl Runtime for Tokio {
    type Source<T: OwnsFd> = AsyncFd<T>;
    type Timer = Pin<Box<::tokio::time::Sleep>>;

    const REPEATS_READINESS: bool = false;
    const TRY_FIRST: bool = false;

    /// tokio's own `SIGCHLD` stream (its signal driver installs the handler, chaining an
    /// earlier handler function, as `tokio::process` does): made by pid-mode waits only, and
    /// not where `SIGCHLD` is `SIG_IGN` or has `SA_NOCLDWAIT` (the handler would end the
    /// kernel's reaping).
    type ChildSignal = Signal;

    fn child_signal() -> io::Result<Option<Signal>> {
        // tokio panics outside a runtime's context; the registrations report it instead.
        if let Err(error) = ::tokio::runtime::Handle::try_current() {
            return Err(io::Error::other(error));
        }
        // A handler would end the kernel's reaping (signal-hook chains only to handler
        // functions, and sets its own flags): the children are reaped anyway, and the
        // re-check records it.
        if crate::sys::sigset::children_reaped_by_kernel().unwrap_or(true) {
            return Ok(None);
        }
        // The kernel's number (`SignalKind::child()` takes libc's, wrong on mips64 glibc).
        Ok(signal(SignalKind::from_raw(pidfd_sys::signal::SIGCHLD)).ok())
    }

    fn poll_child_signal(signal: &mut Signal, cx: &mut Context<'_>) -> Poll<()> {
        match signal.poll_recv(cx) {
            Poll::Ready(Some(())) => Poll::Ready(()),
            // The driver is gone (the runtime shuts down): the re-check timer is left.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    fn register<T: OwnsFd>(io: T, direction: Direction) -> io::Result<AsyncFd<T>> {
        let interest = match direction {
            Direction::Read => Interest::READABLE,
            Direction::Write => Interest::WRITABLE,
        };
        aio::tokio_register(io, interest)
    }

    type Ready<'s, T: OwnsFd + 's> = AsyncFdReadyGuard<'s, T>;

    fn poll_readiness<'s, T: OwnsFd>(
        source: &'s AsyncFd<T>,
        direction: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyGuard<'s, T>>> {
        match direction {
            Direction::Read => source.poll_read_ready(cx),
            Direction::Write => source.poll_write_ready(cx),
        }
    }

    fn clear<T: OwnsFd>(mut ready: AsyncFdReadyGuard<'_, T>) {
        ready.clear_ready();
    }

    fn get<T: OwnsFd>(source: &Self::Source<T>) -> &T {
        source.get_ref()
    }

    fn timer(after: Duration) -> Self::Timer {
        Box::pin(::tokio::time::sleep(after))
    }
}

aio::runtime_api!(Tokio, "tokio");

/// `AsyncRead` for a reading pipe type: into the unfilled part of the buffer.
macro_rules! async_read {
    ($pipe:ident) => {
        impl AsyncRead for $pipe {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let read = self.get_mut().0.poll_read(cx, buf.initialize_unfilled());
                read.map_ok(|count| buf.advance(count))
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

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs.iter().find(|buf| !buf.is_empty());
        self.get_mut()
            .0
            .poll_write(cx, first.map_or(&[][..], |buf| &buf[..]))
    }

    /// Nothing to flush: writes go straight to the pipe.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// As `tokio::process::ChildStdin`: the pipe is closed when this is dropped.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
