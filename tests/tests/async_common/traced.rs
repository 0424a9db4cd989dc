//! Traced zombies in the async reapers, written once for both runtimes: the pidfd of a
//! child traced by another process turns readable at its exit, but we (its parent) may reap
//! it only once the tracer has waited for it or let go. Neither the async [`Reaper`] stream
//! nor the crate's background reaper thread (which reaps the dropped async `Child`s) may
//! spin meanwhile, nor stop serving their other children. [`async_traced!`] expands, in a
//! module `traced` of each test binary, to the tests and the scenarios they run in
//! re-exec'd children (alone in their process, so that its CPU time is theirs, and the
//! background thread — process-wide — is theirs too). Every wait is bounded (by
//! [`PATIENCE`](super::PATIENCE), or 10 s where the background thread reaps at once).
//!
//! Needs ptrace permission over our own child from a sibling process (root, or a kernel
//! without Yama restrictions): a counted skip otherwise; a recorded gap under qemu-user.
//!
//! [`Reaper`]: pidfd_core::Reaper

/// The tests; see the module docs. `$module`, `$block_on` as for `async_suite!`; `$sleep`:
/// the runtime's timer (`async fn(Duration)`); `$env`: the variable naming the scenario of a
/// re-exec'd child.
macro_rules! async_traced {
    ($module:ident, $block_on:path, $sleep:path, $env:literal $(,)?) => {
        /// Traced zombies in the async reapers (`async_common::traced`).
        mod traced {
            use std::sync::Arc;
            use std::sync::atomic::{AtomicUsize, Ordering};
            use std::time::{Duration, Instant};

            use pidfd_core::$module::{Reaper as AsyncReaper, SpawnExt as _};
            use pidfd_core::{Mode, Process, Spawn, Stdio};
            use pidfd_tests::emulator;
            use pidfd_tests::scenario::{Report, Scenarios, say};

            use crate::async_common::regressions::{
                await_zombie, process_cpu, seize, state, within,
            };
            use crate::async_common::{PATIENCE, no_children, reaped_now};

            const SCENARIOS: Scenarios = Scenarios::new($env)
                .entry("traced::scenario_child")
                .table(&[
                    ("reaper", |_| reaper_scenario()),
                    ("background", |_| background_scenario()),
                ]);

            #[test]
            #[ignore = "entry point for the re-exec'd children"]
            fn scenario_child() {
                SCENARIOS.dispatch();
            }

            /// The report of `scenario`, or `None` after a counted skip (or a recorded
            /// gap).
            fn run(scenario: &str) -> Option<Report> {
                let out = SCENARIOS.run(scenario, &[])?;
                if let Some(reason) = out.get("skip") {
                    emulator::skip(reason);
                    return None;
                }
                Some(out)
            }

            /// `sh -c 'read line; exit CODE'` (made by `spawn` from the builder) traced by
            /// a forked tracer that never waits for it, handed to `before_exit`, then made
            /// to exit: a zombie only the tracer may reap for now. Gives what `before_exit`
            /// made of the child, its PID, the tracer and the pipe end that lets it go;
            /// `None` after saying `skip` (or `gap`) where no traced child can be had.
            fn traced_zombie<C, D>(
                code: i32,
                spawn: impl FnOnce(&mut Spawn) -> C,
                ids: impl Fn(&C) -> (u32, Mode),
                before_exit: impl FnOnce(C) -> D,
            ) -> Option<(D, u32, Process, std::io::PipeWriter)> {
                if emulator::emulator().is_some() {
                    say("gap", "ptrace is not emulated by qemu-user");
                    return None;
                }
                let (stdin_read, stdin_write) = std::io::pipe().unwrap();
                let child = spawn(
                    Spawn::new("sh")
                        .args(["-c", &format!("read line; exit {code}")])
                        .stdin(Stdio::from(stdin_read)),
                );
                let (pid, mode) = ids(&child);
                if mode == Mode::Pid {
                    drop(stdin_write);
                    drop(before_exit(child));
                    say("skip", "traced child: Spawn gave pid mode here (no pidfd)");
                    return None;
                }
                let (tracer, go) = match seize(pid, &[std::os::fd::AsFd::as_fd(&stdin_write)])
                {
                    Ok(seized) => seized,
                    Err(reason) => {
                        drop(stdin_write);
                        drop(before_exit(child));
                        say("skip", format_args!("traced child: {reason}"));
                        return None;
                    }
                };
                let made = before_exit(child);
                drop(stdin_write);
                say("zombie", await_zombie(pid));
                Some((made, pid, tracer, go))
            }

            /// CPU time of the process over a measuring window (not a synchronization:
            /// what is measured is pending all along), in percent of its wall time.
            fn cpu_percent_over(window: Duration) -> u128 {
                let (cpu, started) = (process_cpu(), Instant::now());
                std::thread::sleep(window);
                let (cpu, elapsed) = (process_cpu() - cpu, started.elapsed());
                cpu.as_micros() * 100 / elapsed.as_micros().max(1)
            }

            /// The async `Reaper` holding a traced zombie and an ordinary child, driven on
            /// a runtime whose other future ticks a 10 ms timer: the runtime stays
            /// responsive (the timer ticks) and the process calm (CPU under 30% of the wall
            /// time) while nothing can be reported, and after the ordinary exit; that exit
            /// is reported with its own code; once the tracer lets go, the traced child is
            /// reported with its code, then the stream ends.
            #[test]
            fn the_async_reaper_with_a_traced_zombie_stays_responsive_and_reports_others() {
                let Some(out) = run("reaper") else {
                    return;
                };
                assert_eq!(out["zombie"], "true", "{out:?}");
                assert_eq!(out["early"], "none", "reported while traced? {out:?}");
                for window in ["before", "after"] {
                    let percent: u64 = out[&format!("cpu_percent_{window}")].parse().unwrap();
                    let ticks: u64 = out[&format!("ticks_{window}")].parse().unwrap();
                    assert!(
                        percent < 30 && ticks >= 10,
                        "the reaper spun on the traced zombie ({window} the ordinary exit): \
                         {percent}% of the wall time in CPU, {ticks} of about 50 timer ticks \
                         in 500 ms: {out:?}"
                    );
                }
                assert_eq!(out["ordinary"], "Ok(Ok(Some((42, Some(42)))))", "{out:?}");
                assert_eq!(out["still_traced"], "true", "{out:?}");
                assert_eq!(out["traced"], "Ok(Ok(Some((41, Some(41)))))", "{out:?}");
                assert_eq!(out["end"], "Ok(Ok(None))", "{out:?}");
                assert_eq!(out["tracer"], "true", "{out:?}");
                assert_eq!(out["no_children"], "true", "{out:?}");
            }

            fn reaper_scenario() {
                let Some((traced, traced_pid, tracer, go)) = traced_zombie(
                    41,
                    |spawn| spawn.spawn().unwrap().into_process(),
                    |process| (process.pid(), process.mode()),
                    |process| process,
                ) else {
                    return;
                };
                let mut ordinary = Spawn::new("sh")
                    .args(["-c", "read line; exit 42"])
                    .stdin(Stdio::piped())
                    .spawn()
                    .unwrap();
                let ordinary_stdin = ordinary.stdin.take().unwrap();
                let mut reaper = AsyncReaper::new().unwrap();
                reaper.add(traced, 41).unwrap();
                reaper.add(ordinary.into_process(), 42).unwrap();
                let ticks = Arc::new(AtomicUsize::new(0));
                let (exit_sender, exits) = std::sync::mpsc::channel();
                let ticker_ticks = ticks.clone();
                // Left behind (and the process exits with it) if it never ends.
                std::thread::spawn(move || {
                    $block_on(async move {
                        let reaping = async move {
                            loop {
                                let exit = reaper.next_exit().await;
                                let more = matches!(exit, Ok(Some(_)));
                                let exit = exit
                                    .map(|exit| {
                                        exit.map(|e| (e.token, e.status.and_then(|s| s.code())))
                                    })
                                    .map_err(|error| error.to_string());
                                let _ = exit_sender.send(exit);
                                if !more {
                                    break;
                                }
                            }
                        };
                        let ticker = async move {
                            loop {
                                $sleep(Duration::from_millis(10)).await;
                                ticker_ticks.fetch_add(1, Ordering::SeqCst);
                            }
                        };
                        futures_lite::future::or(reaping, ticker).await
                    });
                });
                let window = |name: &str| {
                    let before = ticks.load(Ordering::SeqCst);
                    say(
                        &format!("cpu_percent_{name}"),
                        cpu_percent_over(Duration::from_millis(500)),
                    );
                    say(
                        &format!("ticks_{name}"),
                        ticks.load(Ordering::SeqCst) - before,
                    );
                };
                window("before");
                say(
                    "early",
                    exits
                        .try_recv()
                        .map_or_else(|_| "none".to_owned(), |exit| format!("{exit:?}")),
                );
                // The ordinary child exits.
                drop(ordinary_stdin);
                say(
                    "ordinary",
                    format_args!("{:?}", exits.recv_timeout(PATIENCE).map_err(|_| "hung")),
                );
                window("after");
                say("still_traced", state(traced_pid) == Some('Z'));
                // The tracer exits, detaching: the traced child may be reaped now.
                drop(go);
                say(
                    "traced",
                    format_args!("{:?}", exits.recv_timeout(PATIENCE).map_err(|_| "hung")),
                );
                say(
                    "end",
                    format_args!("{:?}", exits.recv_timeout(PATIENCE).map_err(|_| "hung")),
                );
                let tracer = within(move || tracer.wait().is_ok_and(|s| s.success()));
                say("tracer", tracer == Ok(true));
                say("no_children", no_children());
            }

            /// The background reaper thread holding a traced zombie (an async `Child`
            /// dropped without kill-on-drop while running, which then exits while traced):
            /// it does not spin (the process's CPU under 30% of the wall time), and it
            /// still reaps what is dropped after — a kill-on-drop `sleep` and an orphan that
            /// exits after its drop — with no zombie left; once the tracer lets go, the
            /// traced child is reaped too.
            #[test]
            fn the_background_thread_with_a_traced_zombie_reaps_the_others() {
                let Some(out) = run("background") else {
                    return;
                };
                assert_eq!(out["zombie"], "true", "{out:?}");
                assert_eq!(out["traced_unreaped"], "true", "reaped while traced? {out:?}");
                let percent: u64 = out["cpu_percent"].parse().unwrap();
                assert!(
                    percent < 30,
                    "the background thread spun on the traced zombie: {percent}% of the wall \
                     time in CPU: {out:?}"
                );
                assert_eq!(
                    out["killed_reaped"], "true",
                    "a killed child dropped after the traced one was left a zombie: {out:?}"
                );
                assert_eq!(
                    out["orphan_reaped"], "true",
                    "an orphan dropped after the traced one was left a zombie: {out:?}"
                );
                let percent: u64 = out["cpu_percent_after"].parse().unwrap();
                assert!(percent < 30, "spun after the hand-offs: {percent}%: {out:?}");
                assert_eq!(out["traced_reaped"], "true", "{out:?}");
                assert_eq!(out["tracer"], "true", "{out:?}");
                assert_eq!(out["no_children"], "true", "{out:?}");
            }

            /// Waits (polling, up to 10 s: the background thread reaps at once) until our
            /// child `pid` is reaped; whether it was.
            fn reaped_soon(pid: u32) -> bool {
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if reaped_now(pid) {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                false
            }

            fn background_scenario() {
                // Dropped (no kill-on-drop) while running: handed to the background thread,
                // then it exits while traced. (A pid-mode child, where there is one, is
                // reaped by that thread after its exit; nothing is measured then.)
                let Some(((), traced_pid, tracer, go)) = traced_zombie(
                    43,
                    |spawn| spawn.spawn_async().unwrap(),
                    |child| (child.pid(), child.mode()),
                    |child| $block_on(async move { drop(child) }),
                ) else {
                    return;
                };
                say("traced_unreaped", state(traced_pid) == Some('Z'));
                say("cpu_percent", cpu_percent_over(Duration::from_millis(500)));
                // Dropped after it: a kill-on-drop `sleep`, and an orphan that exits once
                // dropped.
                let killed = Spawn::new("sleep")
                    .arg("1000")
                    .kill_on_drop(true)
                    .spawn_async()
                    .unwrap();
                let killed_pid = killed.pid();
                $block_on(async move { drop(killed) });
                let (orphan_read, orphan_write) = std::io::pipe().unwrap();
                let orphan = Spawn::new("sh")
                    .args(["-c", "read line; exit 44"])
                    .stdin(Stdio::from(orphan_read))
                    .spawn_async()
                    .unwrap();
                let orphan_pid = orphan.pid();
                $block_on(async move { drop(orphan) });
                drop(orphan_write);
                say("killed_reaped", reaped_soon(killed_pid));
                say("orphan_reaped", reaped_soon(orphan_pid));
                say("cpu_percent_after", cpu_percent_over(Duration::from_millis(500)));
                // The tracer exits, detaching: the traced child may be reaped now.
                drop(go);
                say("traced_reaped", reaped_soon(traced_pid));
                let tracer = within(move || tracer.wait().is_ok_and(|s| s.success()));
                say("tracer", tracer == Ok(true));
                say("no_children", no_children());
            }
        }
    };
}

pub(crate) use async_traced;
