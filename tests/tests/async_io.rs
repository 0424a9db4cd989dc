//! `pidfd_core::async_io` against the real kernel, driven by `async_io::block_on`: the suite
//! shared with the tokio tests (`async_common`: waits cached, cancel safe and many at once,
//! async stdio and output, kill-on-drop, the Reaper as a Stream, a `waitpid(-1)` thief,
//! spawn/wait cycles without leaks, pid mode under `PIDFD_DISABLE=1` and seccomp, and the
//! regression tests of `async_common::regressions` and `async_common::traced`), plus waits from several threads, each
//! with its own `block_on`, on one `Process`.

#![allow(
    unsafe_code,
    reason = "waitid, waitpid, signal, fork, ptrace and the CPU clock in the shared helpers"
)]

mod async_common;

/// Spawn/wait cycles of `cycles_leak_no_fd_and_no_zombie` (about 8 s in a debug build here).
const CYCLES: usize = 10_000;

async_common::async_suite!(
    async_io,
    async_io::block_on,
    futures_lite::AsyncWriteExt,
    futures_lite::AsyncReadExt,
    "PIDFD_ASYNC_IO_SCENARIO",
    []
);

async_common::regressions::async_regressions!(
    async_io,
    async_io::block_on,
    futures_lite::AsyncWriteExt,
    futures_lite::AsyncReadExt,
    "PIDFD_ASYNC_IO_REGRESSION",
    "PIDFD_ASYNC_IO_REGRESSION_NS",
);

async_common::traced::async_traced!(
    async_io,
    async_io::block_on,
    super::sleep,
    "PIDFD_ASYNC_IO_TRACED"
);

/// async-io's timer, as `tokio::time::sleep`.
async fn sleep(duration: std::time::Duration) {
    async_io::Timer::after(duration).await;
}

/// Eight threads, each blocking on its own wait of one `Process` (async-io's reactor
/// serves them all); all get the status.
#[test]
fn waits_from_many_threads_all_get_the_status() {
    let (process, stdin) = held(19);
    let barrier = std::sync::Barrier::new(9);
    std::thread::scope(|scope| {
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    async_io::block_on(async {
                        let mut wait = std::pin::pin!(process.wait_async());
                        std::future::poll_fn(|cx| {
                            assert!(wait.as_mut().poll(cx).is_pending());
                            std::task::Poll::Ready(())
                        })
                        .await;
                        barrier.wait();
                        wait.await
                    })
                })
            })
            .collect();
        barrier.wait();
        drop(stdin);
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap().unwrap().code(), Some(19));
        }
    });
}
