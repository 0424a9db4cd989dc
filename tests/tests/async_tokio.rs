//! `pidfd_core::tokio` against the real kernel: waits as futures (cached, cancel safe, many
//! at once, on several worker threads), async stdio and output, kill-on-drop without a
//! zombie, the Reaper as a Stream, a `waitpid(-1)` thief, runtime shutdown with waits
//! pending (a multi-thread runtime too, counting fds), 10 000 spawn/wait cycles without an
//! fd or zombie left, a pipe first polled outside the runtime, and pid mode
//! (`PIDFD_DISABLE=1`, seccomp) — the shared part in `async_common` (the suite and the
//! regression tests of `async_common::regressions`), written once for both runtimes.

#![allow(
    unsafe_code,
    reason = "waitid, waitpid, signal, fork, ptrace and the CPU clock in the shared helpers"
)]

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
    [("shutdown", shutdown_scenario)]
);

async_common::regressions::async_regressions!(
    tokio,
    super::block_on,
    tokio::io::AsyncWriteExt,
    tokio::io::AsyncReadExt,
    "PIDFD_ASYNC_TOKIO_REGRESSION",
    "PIDFD_ASYNC_TOKIO_REGRESSION_NS",
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

/// A pipe first polled outside any runtime's context (its registration fails: no reactor)
/// stays open and loses nothing: read inside the runtime afterwards, every byte is there.
/// (async-io has no "outside": its reactor is global.)
#[test]
fn a_pipe_polled_outside_the_runtime_stays_open() {
    // More than a pipe holds: the child is still writing when the runtime reads.
    let expected: String = (1..=50_000).map(|n| format!("{n}\n")).collect();
    let mut child = Spawn::new("seq")
        .args(["1", "50000"])
        .stdout(Stdio::piped())
        .spawn_async()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut std_child = std::process::Command::new("seq")
        .args(["1", "50000"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut from_std =
        pidfd_core::tokio::ChildStdout::from_std(std_child.stdout.take().unwrap()).unwrap();
    let mut byte = [0_u8; 1];
    let outside = futures_lite::future::block_on(stdout.read(&mut byte));
    assert!(outside.is_err(), "read outside the runtime: {outside:?}");
    let outside = futures_lite::future::block_on(from_std.read(&mut byte));
    assert!(outside.is_err(), "read outside the runtime: {outside:?}");
    block_on(async {
        for pipe in [&mut stdout, &mut from_std] {
            let mut read = Vec::new();
            pipe.read_to_end(&mut read).await.unwrap();
            assert_eq!(String::from_utf8(read).unwrap(), expected);
        }
        assert_eq!(child.wait().await.unwrap().code(), Some(0));
    });
    assert!(std_child.wait().unwrap().success());
}

/// A multi-thread runtime shut down (dropped, or `shutdown_timeout`) while waits are
/// pending in tasks on more than one of its worker threads, in both modes: no fd is left
/// behind (counted in a scenario child, alone in its process), and the process is still
/// waited for afterwards, async and blocking, with its status.
#[test]
fn a_multi_thread_runtime_shut_down_with_waits_pending_leaks_nothing() {
    for how in ["drop", "timeout"] {
        for env in [&[][..], &[(pidfd_core::probe::DISABLE_ENV, "1")][..]] {
            let Some(out) = SCENARIOS.run(&format!("shutdown:{how}"), env) else {
                continue;
            };
            assert_eq!(out["registered"], "8", "{how}: {out:?}");
            assert_eq!(
                out["worker_threads"], "2",
                "{how}: waits on one worker only: {out:?}"
            );
            assert_eq!(
                out["fds_before"], out["fds_after"],
                "{how}: fds leaked: {out:?}"
            );
            assert_eq!(out["wait_async"], "Ok(Some(27))", "{how}: {out:?}");
            assert_eq!(out["wait"], "Ok(Some(27))", "{how}: {out:?}");
        }
    }
}

fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `shutdown:drop` or `shutdown:timeout`: how the runtime ends.
fn shutdown_scenario(args: &[&str]) {
    let [how] = pidfd_tests::scenario::args(args);
    // Warm up (the probe, whatever the crate opens once): a wait on such a runtime.
    let (process, stdin) = held(0);
    let runtime = multi_thread_runtime();
    runtime.block_on(async {
        assert!(poll_once_and_drop(process.wait_async()).await);
        drop(stdin);
        process.wait_async().await.unwrap()
    });
    drop(runtime);
    let (process, stdin) = held(27);
    // (The process's pidfd and our end of its stdin are counted on both sides.)
    let fds_before = pidfd_tests::open_fd_count();
    let process = std::sync::Arc::new(process);
    let runtime = multi_thread_runtime();
    let registered = std::sync::Arc::new(AtomicUsize::new(0));
    let threads = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    // The first two tasks hold their worker until both run (for up to PATIENCE): they are
    // on the two workers at once.
    let arrived = std::sync::Arc::new(AtomicUsize::new(0));
    for task in 0..8 {
        let (process, registered, threads, arrived) = (
            process.clone(),
            registered.clone(),
            threads.clone(),
            arrived.clone(),
        );
        runtime.spawn(async move {
            if task < 2 {
                arrived.fetch_add(1, Ordering::SeqCst);
                let deadline = std::time::Instant::now() + async_common::PATIENCE;
                while arrived.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
                    std::thread::yield_now();
                }
            }
            threads.lock().unwrap().insert(std::thread::current().id());
            let _ = counted_wait(&process, &registered).await;
            unreachable!("the child exits only after the runtime is gone");
        });
    }
    runtime.block_on(async {
        let deadline = std::time::Instant::now() + async_common::PATIENCE;
        while registered.load(Ordering::SeqCst) < 8 && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
    });
    say("registered", registered.load(Ordering::SeqCst));
    match how {
        "drop" => drop(runtime),
        _ => runtime.shutdown_timeout(async_common::PATIENCE),
    }
    say("worker_threads", threads.lock().unwrap().len());
    say("fds_before", fds_before);
    say("fds_after", pidfd_tests::open_fd_count());
    drop(stdin);
    let status = block_on(process.wait_async());
    say(
        "wait_async",
        format_args!("{:?}", status.map(|s| s.code()).map_err(|e| e.to_string())),
    );
    let status = process.wait();
    say(
        "wait",
        format_args!("{:?}", status.map(|s| s.code()).map_err(|e| e.to_string())),
    );
}
