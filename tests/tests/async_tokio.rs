//! `pidfd_core::tokio` against the real kernel: waits as futures (cached, cancel safe, many
//! at once, on several worker threads), async stdio and output, kill-on-drop without a
//! zombie, the Reaper as a Stream, a `waitpid(-1)` thief, runtime shutdown with waits
//! pending, 10 000 spawn/wait cycles without an fd or zombie left, and pid mode
//! (`PIDFD_DISABLE=1`, seccomp) — the shared part in `async_common`, written once for both
//! runtimes.

#![allow(unsafe_code, reason = "waitid and waitpid in the shared helpers")]

mod async_common;

use std::sync::atomic::{AtomicUsize, Ordering};

/// Spawn/wait cycles of `cycles_leak_no_fd_and_no_zombie` (about 7 s in a debug build here).
const CYCLES: usize = 10_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

async_common::async_suite!(
    tokio,
    block_on,
    tokio::io::AsyncWriteExt,
    tokio::io::AsyncReadExt,
    "PIDFD_ASYNC_TOKIO_SCENARIO",
    []
);

/// A wait on `process` that counts itself in `registered` once it is pending (registered).
async fn counted_wait(
    process: &Process,
    registered: &AtomicUsize,
) -> io::Result<std::process::ExitStatus> {
    let mut wait = std::pin::pin!(process.wait_async());
    std::future::poll_fn(|cx| {
        assert!(wait.as_mut().poll(cx).is_pending());
        registered.fetch_add(1, Ordering::SeqCst);
        std::task::Poll::Ready(())
    })
    .await;
    wait.await
}

/// Waits pending in tasks on a multi-threaded runtime; every one is registered before the
/// exit (counted after its first poll).
#[test]
fn tasks_on_worker_threads_all_get_the_status() {
    let (process, stdin) = held(17);
    let process = std::sync::Arc::new(process);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let registered = std::sync::Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let process = process.clone();
            let registered = registered.clone();
            runtime.spawn(async move { counted_wait(&process, &registered).await })
        })
        .collect();
    runtime.block_on(async {
        while registered.load(Ordering::SeqCst) < 8 {
            tokio::task::yield_now().await;
        }
        drop(stdin);
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().code(), Some(17));
        }
    });
}

/// A runtime shut down while waits are pending: the waits are dropped with it, nothing is
/// lost (the status is there for a later wait), and a wait on a new runtime works.
#[test]
fn runtime_shutdown_with_waits_pending() {
    let (process, stdin) = held(18);
    let process = std::sync::Arc::new(process);
    let registered = std::sync::Arc::new(AtomicUsize::new(0));
    let runtime = runtime();
    for _ in 0..4 {
        let process = process.clone();
        let registered = registered.clone();
        runtime.spawn(async move {
            let _ = counted_wait(&process, &registered).await;
            unreachable!("the child exits only after the runtime is gone");
        });
    }
    runtime.block_on(async {
        while registered.load(Ordering::SeqCst) < 4 {
            tokio::task::yield_now().await;
        }
    });
    drop(runtime);
    drop(stdin);
    assert_eq!(block_on(process.wait_async()).unwrap().code(), Some(18));
    assert_eq!(process.wait().unwrap().code(), Some(18));
}
