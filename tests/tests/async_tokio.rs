//! `pidfd_core::tokio` against the real kernel: waits as futures (cached, cancel safe, many
//! at once, on several worker threads), async stdio and output, kill-on-drop without a
//! zombie, the Reaper as a Stream, a `waitpid(-1)` thief, runtime shutdown with waits
//! pending (a multi-thread runtime too, counting fds), 10 000 spawn/wait cycles without an
//! fd or zombie left, a pipe and a pid-mode wait first polled outside the runtime, a pid-mode
//! wait with `SIGCHLD` ignored, and pid mode (`PIDFD_DISABLE=1`, seccomp) — the shared part in
//! `async_common` (the suite, the regression tests of `async_common::regressions` and the
//! traced zombies of `async_common::traced`), written once for both runtimes.

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
    [
        ("shutdown", shutdown_scenario),
        ("outside", |_| outside_scenario()),
        ("sigign", |_| sigign_scenario(false)),
        ("nocldwait", |_| sigign_scenario(true)),
    ]
);

async_common::regressions::async_regressions!(
    tokio,
    super::block_on,
    tokio::io::AsyncWriteExt,
    tokio::io::AsyncReadExt,
    "PIDFD_ASYNC_TOKIO_REGRESSION",
    "PIDFD_ASYNC_TOKIO_REGRESSION_NS",
);

async_common::traced::async_traced!(
    tokio,
    super::block_on,
    tokio::time::sleep,
    "PIDFD_ASYNC_TOKIO_TRACED"
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

/// A pid-mode wait (`PIDFD_DISABLE=1`) first polled outside any runtime's context, on a
/// child still running: an `io::Error`, not a panic (tokio panics where a timer or signal
/// is made outside a runtime); the process is still waited for afterwards, with its status.
#[test]
fn a_pid_mode_wait_polled_outside_the_runtime_is_an_error() {
    let env = [(pidfd_core::probe::DISABLE_ENV, "1")];
    let Some(out) = SCENARIOS.run("outside", &env) else {
        return;
    };
    assert_eq!(out["mode"], "Pid", "{out:?}");
    assert!(
        out["outside"].starts_with("Ready(Err("),
        "polled outside the runtime: {}; {out:?}",
        out["outside"]
    );
    assert_eq!(out["then"], "Ok(Some(28))", "{out:?}");
}

fn outside_scenario() {
    let (process, stdin) = held(28);
    say("mode", format_args!("{:?}", process.mode()));
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut wait = std::pin::pin!(process.wait_async());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match wait.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(result) => format!("Ready({:?})", result.map(|s| s.code())),
            std::task::Poll::Pending => "Pending".to_owned(),
        }
    }));
    let polled = polled.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        format!("panicked: {message:?}")
    });
    say("outside", polled);
    drop(stdin);
    let then = async_common::regressions::within(move || {
        block_on(process.wait_async())
            .map(|status| status.code())
            .map_err(|error| error.to_string())
    });
    say(
        "then",
        then.map_or_else(|error| error.to_owned(), |then| format!("{then:?}")),
    );
}

/// The disposition of `SIGCHLD`: `"SIG_IGN"`, `"SIG_DFL"` or `"handler"`, with
/// `" SA_NOCLDWAIT"` when that flag is set (the kernel's numbers, through the raw syscall).
fn sigchld_disposition() -> String {
    let (handler, flags) =
        pidfd_sys::syscalls::rt_sigaction_query(pidfd_sys::signal::SIGCHLD).unwrap();
    let handler = match handler {
        1 => "SIG_IGN",
        0 => "SIG_DFL",
        _ => "handler",
    };
    if flags & pidfd_sys::signal::SA_NOCLDWAIT == 0 {
        handler.to_owned()
    } else {
        format!("{handler} SA_NOCLDWAIT")
    }
}

/// `SIGCHLD` at `SIG_DFL` with `SA_NOCLDWAIT`: the kernel reaps the children, as with
/// `SIG_IGN` (libc's `sigaction`: right on every ABI this runs on but mips64 glibc, which
/// the test matrix does not run).
fn set_sigchld_nocldwait() {
    // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = libc::SIG_DFL;
    action.sa_flags = libc::SA_NOCLDWAIT;
    // SAFETY: installs no handler; `action` is a valid sigaction.
    let ret = unsafe { libc::sigaction(libc::SIGCHLD, &raw const action, std::ptr::null_mut()) };
    assert_eq!(ret, 0, "{}", io::Error::last_os_error());
}

/// With `SIGCHLD` ignored (the kernel reaps children at their exit), a pid-mode wait
/// (`PIDFD_DISABLE=1`) ends (its child reaped by the kernel: a status or `ECHILD`), and
/// leaves the disposition `SIG_IGN`: a later `std::process` child is still reaped by the
/// kernel, no zombie left.
#[test]
fn a_pid_mode_wait_keeps_sigchld_ignored() {
    a_pid_mode_wait_keeps_the_kernel_reaping("sigign", "SIG_IGN");
}

/// The same with `SIG_DFL` and `SA_NOCLDWAIT` (tokio's handler would drop the flag).
#[test]
fn a_pid_mode_wait_keeps_sa_nocldwait() {
    a_pid_mode_wait_keeps_the_kernel_reaping("nocldwait", "SIG_DFL SA_NOCLDWAIT");
}

fn a_pid_mode_wait_keeps_the_kernel_reaping(scenario: &str, disposition: &str) {
    let env = [(pidfd_core::probe::DISABLE_ENV, "1")];
    let Some(out) = SCENARIOS.run(scenario, &env) else {
        return;
    };
    assert_eq!(out["mode"], "Pid", "{out:?}");
    assert_eq!(out["before"], disposition, "{out:?}");
    assert!(
        ["Ok(Ok(Some(29)))", "Ok(Err(\"ECHILD\"))"].contains(&out["wait"].as_str()),
        "{out:?}"
    );
    assert_eq!(
        out["after"], disposition,
        "the wait replaced the disposition: {out:?}"
    );
    // qemu-user keeps the guest's flags to itself: the host kernel never sees SA_NOCLDWAIT.
    if scenario == "nocldwait"
        && out["later_child"] != "gone"
        && pidfd_tests::emulator::gap("qemu-user does not pass SA_NOCLDWAIT on to the kernel")
    {
        return;
    }
    assert_eq!(
        out["later_child"], "gone",
        "a later child was left a zombie: {out:?}"
    );
}

fn sigign_scenario(nocldwait: bool) {
    if nocldwait {
        set_sigchld_nocldwait();
    } else {
        async_common::regressions::ignore_sigchld(true);
    }
    say("before", sigchld_disposition());
    let (process, stdin) = held(29);
    say("mode", format_args!("{:?}", process.mode()));
    let wait = async_common::regressions::within(move || {
        block_on(async move {
            // Pending first (the child runs): the wait sets up its SIGCHLD watch.
            assert!(poll_once_and_drop(process.wait_async()).await);
            drop(stdin);
            process.wait_async().await
        })
        .map(|status| status.code())
        .map_err(|error| match error.raw_os_error() {
            Some(libc::ECHILD) => "ECHILD".to_owned(),
            _ => error.to_string(),
        })
    });
    say("wait", format_args!("{wait:?}"));
    say("after", sigchld_disposition());
    // A later child, left to the kernel: gone at its exit, or a zombie for good.
    let later = std::process::Command::new("true").spawn().unwrap();
    let pid = later.id();
    drop(later);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut last = None;
    while std::time::Instant::now() < deadline {
        last = async_common::regressions::state(pid);
        if last.is_none() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    say(
        "later_child",
        last.map_or_else(|| "gone".to_owned(), |state| format!("state {state}")),
    );
}
