//! The tests `async_tokio` and `async_io` share, written once: [`async_suite!`] expands, in
//! each, to the same tests and scenarios over that runtime's module of pidfd-core
//! (`pidfd_core::tokio`, `pidfd_core::async_io`) and its `block_on`; each file adds the
//! tests only its runtime has. The regression tests of issue 18 are in [`regressions`]
//! (their own macro, expanded in a module of each binary), the tests of traced zombies in the
//! async reapers in [`traced`] (likewise).

#![allow(dead_code, reason = "each test binary uses its own part")]

pub(crate) mod regressions;
pub(crate) mod traced;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pidfd_sys::flags::{P_ALL, P_PID, WaitIdOptions};
use pidfd_sys::{Errno, siginfo_t, syscalls};

/// How long anything that must happen may take before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// Polls every future of `futures` until all are done; their outputs in order.
pub(crate) async fn join_all<T>(futures: Vec<Pin<Box<dyn Future<Output = T> + '_>>>) -> Vec<T> {
    let mut futures: Vec<_> = futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in futures.iter_mut().zip(&mut outputs) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

/// Polls `future` once and drops it (a cancelled wait); whether it was still pending.
pub(crate) async fn poll_once_and_drop<F: Future>(future: F) -> bool {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx: &mut Context<'_>| Poll::Ready(future.as_mut().poll(cx).is_pending()))
        .await
}

/// `waitid(idtype, id, WEXITED | WNOHANG | WNOWAIT)`: `Ok(true)` when a zombie is there,
/// `Ok(false)` when children run but none exited, `Err(ECHILD)` when there is none.
fn peek(idtype: u32, id: u32) -> Result<bool, Errno> {
    let mut info = siginfo_t::zeroed();
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    Errno::retry_on_intr(|| {
        // SAFETY: `info` is a writable siginfo_t; WNOWAIT leaves any zombie in place.
        unsafe { syscalls::waitid(idtype, id, &mut info, options, None) }
    })?;
    Ok(!matches!(info.child_status(), Ok(None)))
}

/// Waits (polling the condition, up to [`PATIENCE`]) until our child `pid` is reaped — by
/// whoever reaps it (kill-on-drop's background reaper) — and says whether it was.
pub(crate) fn reaped_in_time(pid: u32) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if peek(P_PID, pid) == Err(Errno::CHILD) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Whether our child `pid` is reaped already (neither running nor a zombie).
pub(crate) fn reaped_now(pid: u32) -> bool {
    peek(P_PID, pid) == Err(Errno::CHILD)
}

/// Whether this process has no child at all (so no zombie either).
pub(crate) fn no_children() -> bool {
    peek(P_ALL, 0) == Err(Errno::CHILD)
}

/// A thread that reaps every child of the process with `waitpid(-1)`, for as long as the
/// process lives (scenarios only: it steals every child).
pub(crate) fn start_thief() {
    std::thread::spawn(|| {
        loop {
            let mut status = 0;
            // SAFETY: waits for any child; `status` is a live int.
            let reaped = unsafe { libc::waitpid(-1, &raw mut status, 0) };
            if reaped < 0 {
                // ECHILD (no child right now): back off rather than spin.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
}

/// The tests both runtimes run. `$module`: the runtime module of pidfd-core; `$block_on`:
/// runs a future to its end on that runtime; `$write_ext`, `$read_ext`: the runtime's
/// `AsyncWriteExt` and `AsyncReadExt`; `$env`: the variable naming the scenario of a
/// re-exec'd child; then the binary's own scenario table entries.
macro_rules! async_suite {
    (
        $module:ident,
        $block_on:path,
        $write_ext:path,
        $read_ext:path,
        $env:literal,
        [$($extra:expr),* $(,)?]
    ) => {
        use std::io;

        use futures_lite::StreamExt as _;
        use pidfd_core::$module::{Child as AsyncChild, ProcessExt, Reaper as AsyncReaper, SpawnExt};
        use pidfd_core::{Mode, Process, Spawn, Stdio};
        use pidfd_tests::scenario::{say, Report};
        use $read_ext as _;
        use $write_ext as _;

        use crate::async_common::{
            join_all, no_children, poll_once_and_drop, reaped_in_time, start_thief,
        };

        /// `sh -c 'read x; exit CODE'` with its stdin piped: it exits when the returned
        /// pipe is dropped (no sleep decides when).
        fn held(code: i32) -> (Process, std::process::ChildStdin) {
            let mut child = Spawn::new("sh")
                .args(["-c", &format!("read x; exit {code}")])
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            let stdin = child.stdin.take().unwrap();
            (child.into_process(), stdin)
        }

        #[test]
        fn wait_reports_the_status_and_caches_it() {
            $block_on(async {
                let child = Spawn::new("sh").args(["-c", "exit 5"]).spawn_async().unwrap();
                assert_eq!(child.wait().await.unwrap().code(), Some(5));
                // Cached: again, async and blocking; no signal after the reap.
                assert_eq!(child.wait_async().await.unwrap().code(), Some(5));
                assert_eq!(child.wait().await.unwrap().code(), Some(5));
                assert_eq!(Process::wait(&child).unwrap().code(), Some(5));
                assert_eq!(child.send_signal(0).unwrap_err().raw_os_error(), Some(libc::ESRCH));
            });
        }

        #[test]
        fn a_dropped_wait_loses_nothing() {
            let (process, stdin) = held(6);
            $block_on(async {
                assert!(poll_once_and_drop(process.wait_async()).await);
                assert!(poll_once_and_drop(process.wait_async()).await);
                drop(stdin);
                assert_eq!(process.wait_async().await.unwrap().code(), Some(6));
            });
            assert_eq!(process.wait().unwrap().code(), Some(6));
        }

        #[test]
        fn concurrent_waiters_all_get_the_status() {
            let (process, stdin) = held(9);
            let statuses = $block_on(async {
                let mut waits: Vec<std::pin::Pin<Box<dyn Future<Output = _>>>> = Vec::new();
                for _ in 0..16 {
                    waits.push(Box::pin(process.wait_async()));
                }
                // Every wait is registered before the exit.
                for wait in &mut waits {
                    assert!(poll_once_and_drop(wait.as_mut()).await);
                }
                drop(stdin);
                join_all(waits).await
            });
            for status in statuses {
                assert_eq!(status.unwrap().code(), Some(9));
            }
        }

        #[test]
        fn output_reads_both_pipes_without_deadlock() {
            // 1 MiB on each pipe (16 times a pipe's capacity) before the exit.
            let script = "head -c 1048576 /dev/zero; head -c 1048577 /dev/zero >&2; exit 3";
            let output = $block_on(Spawn::new("sh").args(["-c", script]).output_async()).unwrap();
            assert_eq!(output.status.code(), Some(3));
            assert_eq!(output.stdout.len(), 1 << 20);
            assert_eq!(output.stderr.len(), (1 << 20) + 1);
            // status(): the piped stdout is read and discarded (stderr to /dev/null, not to
            // the test log).
            let mut spawn = Spawn::new("sh");
            spawn.args(["-c", script]).stdout(Stdio::piped()).stderr(Stdio::null());
            let status = $block_on(spawn.status_async());
            assert_eq!(status.unwrap().code(), Some(3));
        }

        #[test]
        fn stdio_round_trip() {
            $block_on(async {
                let mut child = Spawn::new("tr")
                    .args(["a-z", "A-Z"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn_async()
                    .unwrap();
                let mut stdin = child.stdin.take().unwrap();
                // More than a pipe holds, so the write must wait for the reader.
                let text = "hello ".repeat(50_000);
                let mut stdout = child.stdout.take().unwrap();
                let writer = async move {
                    stdin.write_all(text.as_bytes()).await.unwrap();
                };
                let reader = async move {
                    let mut read = Vec::new();
                    stdout.read_to_end(&mut read).await.unwrap();
                    read
                };
                let (_, read) = futures_lite::future::zip(writer, reader).await;
                assert_eq!(read, "HELLO ".repeat(50_000).as_bytes());
                assert!(child.wait().await.unwrap().success());
            });
        }

        #[test]
        fn spawn_errors_are_the_childs_errno() {
            let missing = "/nonexistent/pidfd-async-test";
            let error = Spawn::new(missing).spawn_async().unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::NotFound);
            let error = $block_on(Spawn::new(missing).output_async()).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::NotFound);
        }

        #[test]
        fn kill_on_drop_kills_and_reaps_without_blocking() {
            let pid = $block_on(async {
                let child = Spawn::new("sleep").arg("1000").kill_on_drop(true).spawn_async().unwrap();
                let pid = child.pid();
                drop(child);
                pid
            });
            assert!(reaped_in_time(pid), "kill_on_drop left {pid} unreaped");
            // into_process gives the guard up: the process is left running.
            let mut child = Spawn::new("sh")
                .args(["-c", "read x; exit 4"])
                .stdin(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let stdin = child.stdin.take().unwrap();
            let process = AsyncChild::from_child(child).unwrap().into_process();
            assert_eq!(process.try_wait().unwrap(), None);
            drop(stdin);
            assert_eq!(process.wait().unwrap().code(), Some(4));
        }

        #[test]
        fn the_reaper_is_a_stream_of_exits() {
            let mut reaper = AsyncReaper::new().unwrap();
            let mut holds = Vec::new();
            for code in 0..20 {
                let (process, stdin) = held(code);
                reaper.add(process, code).unwrap();
                holds.push(stdin);
            }
            let seen = $block_on(async {
                // Exits in an order of our choosing: every other child first.
                let (first, second): (Vec<_>, Vec<_>) =
                    holds.into_iter().enumerate().partition(|(index, _)| index % 2 == 0);
                drop(first);
                let mut seen = Vec::new();
                for _ in 0..10 {
                    let exit = reaper.next_exit().await.unwrap().unwrap();
                    assert_eq!(exit.status.and_then(|status| status.code()), Some(exit.token));
                    assert_eq!(exit.token % 2, 0, "only the released ones exit");
                    seen.push(exit.token);
                }
                drop(second);
                while let Some(exit) = reaper.next().await {
                    let exit = exit.unwrap();
                    assert_eq!(exit.status.and_then(|status| status.code()), Some(exit.token));
                    seen.push(exit.token);
                }
                seen
            });
            let mut sorted = seen.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..20).collect::<Vec<_>>(), "each exit once: {seen:?}");
            assert!(reaper.is_empty());
        }

        #[test]
        fn pid_mode_with_pidfds_disabled() {
            let env = [(pidfd_core::probe::DISABLE_ENV, "1")];
            let Some(out) = SCENARIOS.run("pid-mode", &env) else {
                return;
            };
            assert_pid_mode(&out);
        }

        #[test]
        fn pid_mode_under_seccomp() {
            let Some(out) = SCENARIOS.run("pid-mode-seccomp", &[]) else {
                return;
            };
            assert_pid_mode(&out);
        }

        fn assert_pid_mode(out: &Report) {
            assert_eq!(out["mode"], "Pid");
            assert_eq!(out["wait"], "Some(12)");
            assert_eq!(out["cancelled_then"], "Some(13)");
            assert_eq!(out["output"], "Some(14) \"out\\n\" \"err\\n\"");
            assert_eq!(out["reaper"], "[0, 1, 2, 3, 4, 5, 6, 7]");
            assert_eq!(out["kill_on_drop_reaped"], "true");
            assert_eq!(out["no_children"], "true");
        }

        /// Everything in pid mode: a wait, a cancelled wait, output, the reaper, kill on drop.
        fn pid_mode_scenario() {
            let (process, stdin) = held(12);
            say("mode", format_args!("{:?}", process.mode()));
            drop(stdin);
            let wait = $block_on(process.wait_async());
            say("wait", format_args!("{:?}", wait.unwrap().code()));
            let (process, stdin) = held(13);
            let cancelled = $block_on(async {
                assert!(poll_once_and_drop(process.wait_async()).await);
                drop(stdin);
                process.wait_async().await
            });
            say("cancelled_then", format_args!("{:?}", cancelled.unwrap().code()));
            let output = $block_on(
                Spawn::new("sh").args(["-c", "echo out; echo err >&2; exit 14"]).output_async(),
            )
            .unwrap();
            say(
                "output",
                format_args!(
                    "{:?} {:?} {:?}",
                    output.status.code(),
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            );
            let mut reaper = AsyncReaper::new().unwrap();
            let mut holds = Vec::new();
            for code in 0..8 {
                let (process, stdin) = held(code);
                reaper.add(process, code).unwrap();
                holds.push(stdin);
            }
            drop(holds);
            let mut seen: Vec<i32> = $block_on(async {
                let mut seen = Vec::new();
                while let Some(exit) = reaper.next_exit().await.unwrap() {
                    assert_eq!(exit.status.and_then(|status| status.code()), Some(exit.token));
                    seen.push(exit.token);
                }
                seen
            });
            seen.sort_unstable();
            say("reaper", format_args!("{seen:?}"));
            let pid = $block_on(async {
                let child = Spawn::new("sleep").arg("1000").kill_on_drop(true).spawn_async().unwrap();
                assert_eq!(child.mode(), Mode::Pid);
                child.pid()
            });
            say("kill_on_drop_reaped", reaped_in_time(pid));
            say("no_children", no_children());
        }

        fn pid_mode_seccomp_scenario() {
            let mut rules = pidfd_tests::seccomp::spawn_fallback_rules("pidfd");
            rules.push(pidfd_tests::seccomp::Rule {
                nr: pidfd_sys::nr::SYS_pidfd_open,
                when: pidfd_tests::seccomp::When::Always,
                errno: libc::ENOSYS,
            });
            // (Under qemu-user, which refuses filters, this reports the gap itself.)
            if pidfd_tests::seccomp::install_or_gap(&rules) {
                pid_mode_scenario();
            }
        }

        #[test]
        fn a_waitpid_thief_never_hangs_a_wait() {
            let info_exit = pidfd_tests::kernel::pidfd_info_exit();
            for env in [&[][..], &[(pidfd_core::probe::DISABLE_ENV, "1")][..]] {
                let Some(out) = SCENARIOS.run("thief", env) else {
                    continue;
                };
                let expected_mode = if env.is_empty() && pidfd_tests::emulator::spawn_gets_pidfd() {
                    "PidFd"
                } else {
                    "Pid"
                };
                assert_eq!(out["mode"], expected_mode, "{out:?}");
                // What the kernel promises: in pidfd mode on Linux 6.15+ the status survives
                // the thief's reap (PIDFD_INFO_EXIT); else the status when our wait reaped
                // first, or ECHILD (the reaper: an exit without a status, or, in pid mode,
                // ECHILD from `add`) — never another status, nor a wait without one.
                let kept = expected_mode == "PidFd" && info_exit;
                for key in ["wait", "output"] {
                    let said = &out[key];
                    assert!(
                        said == "Ok(Some(21))" || (!kept && said == "Err(\"ECHILD\")"),
                        "{key} ({expected_mode} mode, status kept: {kept}): {said}; {out:?}"
                    );
                }
                let said = &out["reaper"];
                let lost = ["Ok(\"exit None\")", "Err(\"add: ECHILD\")"];
                assert!(
                    said == "Ok(\"exit Some(21)\")" || (!kept && lost.contains(&said.as_str())),
                    "reaper ({expected_mode} mode, status kept: {kept}): {said}; {out:?}"
                );
            }
        }

        /// A `waitpid(-1)` thread steals every child while async waits run.
        fn thief_scenario() {
            start_thief();
            let (process, stdin) = held(21);
            say("mode", format_args!("{:?}", process.mode()));
            let wait = $block_on(async {
                assert!(poll_once_and_drop(process.wait_async()).await);
                drop(stdin);
                process.wait_async().await
            });
            say("wait", format_args!("{:?}", wait.map(|status| status.code()).map_err(errno_name)));
            let output = $block_on(Spawn::new("sh").args(["-c", "exit 21"]).output_async());
            say(
                "output",
                format_args!("{:?}", output.map(|output| output.status.code()).map_err(errno_name)),
            );
            let mut reaper = AsyncReaper::new().unwrap();
            let (process, stdin) = held(21);
            match reaper.add(process, ()) {
                Ok(_) => {
                    drop(stdin);
                    let exit = $block_on(reaper.next_exit());
                    // "empty": the reaper ended without reporting its entry.
                    let exit = exit.map(|exit| match exit {
                        Some(exit) => format!("exit {:?}", exit.status.and_then(|s| s.code())),
                        None => "empty".to_owned(),
                    });
                    say("reaper", format_args!("{:?}", exit.map_err(errno_name)));
                }
                // Pid mode: the thief may have reaped it already (ECHILD: "not our child").
                Err(error) => say(
                    "reaper",
                    format_args!("{:?}", Err::<(), _>(format!("add: {}", errno_name(error)))),
                ),
            }
        }

        fn errno_name(error: io::Error) -> String {
            match error.raw_os_error() {
                Some(libc::ECHILD) => "ECHILD".to_owned(),
                _ => format!("{error:?} ({:?})", error.kind()),
            }
        }

        #[test]
        fn cycles_leak_no_fd_and_no_zombie() {
            let cycles = pidfd_tests::emulator::iterations(CYCLES);
            let out = SCENARIOS.run(&format!("cycles:{cycles}"), &[]).unwrap();
            assert_eq!(out["fds_before"], out["fds_after"], "{out:?}");
            assert_eq!(out["no_children"], "true");
            assert_eq!(out["failures"], "0");
        }

        /// `cycles:N`: N spawn + async wait cycles (every tenth with output, every tenth
        /// with a cancelled wait first), then the fd count and the children left.
        fn cycles_scenario(args: &[&str]) {
            let [count] = pidfd_tests::scenario::args(args);
            let count: usize = count.parse().unwrap();
            // Warm up: the probe, the runtime's own fds (a reactor made on first
            // registration: a wait that cannot be over at its first poll).
            let (process, stdin) = held(0);
            $block_on(async {
                assert!(poll_once_and_drop(process.wait_async()).await);
                drop(stdin);
                process.wait_async().await.unwrap()
            });
            let fds_before = pidfd_tests::open_fd_count();
            let started = std::time::Instant::now();
            let failures = $block_on(async {
                let mut failures = 0;
                let spawn = Spawn::new("true");
                for cycle in 0..count {
                    let ok = if cycle % 10 == 1 {
                        Spawn::new("true").output_async().await.is_ok_and(|o| o.status.success())
                    } else {
                        let child = spawn.spawn_async().unwrap();
                        if cycle % 10 == 2 {
                            let _ = poll_once_and_drop(child.wait()).await;
                        }
                        child.wait().await.is_ok_and(|s| s.success())
                    };
                    failures += usize::from(!ok);
                }
                failures
            });
            say("seconds", started.elapsed().as_secs_f64());
            say("fds_before", fds_before);
            say("fds_after", pidfd_tests::open_fd_count());
            say("no_children", no_children());
            say("failures", failures);
        }

        const SCENARIOS: pidfd_tests::scenario::Scenarios =
            pidfd_tests::scenario::Scenarios::new($env).table(&[
                ("pid-mode", |_| pid_mode_scenario()),
                ("pid-mode-seccomp", |_| pid_mode_seccomp_scenario()),
                ("thief", |_| thief_scenario()),
                ("cycles", cycles_scenario),
                $($extra),*
            ]);

        #[test]
        #[ignore = "entry point for the re-exec'd children"]
        fn scenario_child() {
            SCENARIOS.dispatch();
        }
    };
}

pub(crate) use async_suite;
