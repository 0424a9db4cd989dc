//! Regression tests of the async modules (issue 18), written once for both runtimes:
//! [`async_regressions!`] expands, in a module `regressions` of each test binary, to the
//! tests and the scenarios they run in re-exec'd children (some in a private user + PID
//! namespace, to steer PIDs). Every wait that a regression could hang is bounded by
//! [`within`]: the test then fails with `hung` instead of never ending.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::PATIENCE;

/// Runs `f` on a thread of its own: its result, or `"hung"` when it did not finish within
/// [`PATIENCE`] (the thread is left behind), `"panicked"` when it panicked.
pub(crate) fn within<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, &'static str> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(f());
    });
    receiver
        .recv_timeout(PATIENCE)
        .map_err(|error| match error {
            RecvTimeoutError::Timeout => "hung",
            RecvTimeoutError::Disconnected => "panicked",
        })
}

/// The calling thread's id.
pub(crate) fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments.
    unsafe { libc::gettid() }
}

/// Waits (polling, up to [`PATIENCE`]) until the thread `tid` of this process is blocked in
/// `waitid` (the first word of its `/proc` `syscall` file); whether it got there. Under
/// qemu-user that file shows the host's syscall, whose number is not the guest's: there,
/// blocked in some syscall (a number, not `running`) is what is checked.
pub(crate) fn await_in_waitid(tid: i32) -> bool {
    let path = format!("/proc/self/task/{tid}/syscall");
    let waitid = libc::SYS_waitid.to_string();
    let emulated = pidfd_tests::emulator::emulator().is_some();
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let first = text.split_whitespace().next();
        let blocked = if emulated {
            first.is_some_and(|word| word.parse::<i64>().is_ok_and(|number| number >= 0))
        } else {
            first == Some(waitid.as_str())
        };
        if blocked {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

pub(crate) use pidfd_tests::ptrace::{await_zombie, seize, state};

/// Waits (polling, up to [`PATIENCE`]) until no process has PID `pid`; whether it is gone.
pub(crate) fn await_gone(pid: u32) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if pidfd_tests::naive_kill(pid, 0).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// The CPU time (user + system) every thread of this process has used.
pub(crate) fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a writable timespec.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &raw mut ts) };
    assert_eq!(ret, 0);
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap(),
        u32::try_from(ts.tv_nsec).unwrap(),
    )
}

/// Sets the disposition of `SIGCHLD`: ignored (children reaped by the kernel at their exit)
/// or the default.
pub(crate) fn ignore_sigchld(ignore: bool) {
    let disposition = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
    // SAFETY: SIG_IGN and SIG_DFL install no handler.
    let previous = unsafe { libc::signal(libc::SIGCHLD, disposition) };
    assert_ne!(previous, libc::SIG_ERR);
}

/// `waitpid(pid, 0)`: reaps our child `pid` behind its handle's back; its exit code.
pub(crate) fn steal(pid: u32) -> Option<i32> {
    let pid = i32::try_from(pid).unwrap();
    let mut status = 0;
    // SAFETY: waitpid writes an int through a valid pointer.
    let reaped = unsafe { libc::waitpid(pid, &raw mut status, 0) };
    assert_eq!(reaped, pid, "{}", std::io::Error::last_os_error());
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
}

/// The regression tests; see the module docs. `$module`, `$block_on`, `$write_ext`,
/// `$read_ext` as for `async_suite!`; `$env`, `$ns_env`: the variables naming the scenario
/// of a re-exec'd child (the second for those in a private PID namespace).
macro_rules! async_regressions {
    (
        $module:ident,
        $block_on:path,
        $write_ext:path,
        $read_ext:path,
        $env:literal,
        $ns_env:literal $(,)?
    ) => {
        /// Regression tests of issue 18 (`async_common::regressions`).
        mod regressions {
            use std::sync::Arc;
            use std::time::{Duration, Instant};

            use pidfd_core::probe::DISABLE_ENV;
            use pidfd_core::$module::{
                ChildStdin as AsyncChildStdin, ProcessExt as _, SpawnExt as _,
            };
            use pidfd_core::{Mode, Spawn, Stdio};
            use pidfd_tests::scenario::{Scenarios, errno_of, say};
            use pidfd_tests::{emulator, naive_kill};
            use $read_ext as _;
            use $write_ext as _;

            use crate::async_common::regressions::{
                await_gone, await_in_waitid, await_zombie, gettid, ignore_sigchld, process_cpu,
                seize, state, steal, within,
            };
            use crate::async_common::{PATIENCE, no_children, reaped_in_time, reaped_now};

            /// Each scenario in the two modes: pidfd mode (where the kernel allows it) and
            /// pid mode (`PIDFD_DISABLE=1`).
            const MODES: [&[(&str, &str)]; 2] = [&[], &[(DISABLE_ENV, "1")]];

            /// The mode a scenario run with `env` (one of [`MODES`]) reports.
            fn mode_of(env: &[(&str, &str)]) -> &'static str {
                if env.is_empty() && pidfd_tests::emulator::spawn_gets_pidfd() {
                    "PidFd"
                } else {
                    "Pid"
                }
            }

            /// The status code of a child the kernel kept after its reap (Linux 6.15+,
            /// pidfd mode), as a scenario reports it: `"-"` where there is none to read.
            fn kept_code(pidfd: Option<pidfd_core::PidFd>) -> String {
                match pidfd {
                    Some(pidfd) if pidfd_tests::kernel::pidfd_info_exit() => format!(
                        "{:?}",
                        pidfd
                            .info()
                            .map(|info| info.exit_status.and_then(|s| s.code()))
                    ),
                    _ => "-".to_owned(),
                }
            }

            const SCENARIOS: Scenarios = Scenarios::new($env)
                .entry("regressions::scenario_child")
                .table(&[
                    ("mixed", |_| mixed_scenario()),
                    ("orphan", |_| orphan_scenario()),
                    ("zombie", |_| zombie_scenario()),
                    ("traced", |_| traced_scenario()),
                ]);
            const NS_SCENARIOS: Scenarios = Scenarios::new($ns_env)
                .entry("regressions::scenario_child_ns")
                .in_pid_namespace()
                .table(&[("foreign_reap", foreign_reap_scenario)]);

            #[test]
            #[ignore = "entry point for the re-exec'd children"]
            fn scenario_child() {
                SCENARIOS.dispatch();
            }

            #[test]
            #[ignore = "entry point for the re-exec'd children in a PID namespace"]
            fn scenario_child_ns() {
                NS_SCENARIOS.dispatch();
            }

            /// A thread blocked in `Process::wait` (pid mode: holding the process's read
            /// lock until the child can be reaped) and an async wait on the same process on
            /// a current-thread runtime, whose *other* task lets the child exit: the async
            /// wait must not block the runtime's thread; both get the status.
            #[test]
            fn a_blocking_wait_and_an_async_wait_on_one_process() {
                for env in MODES {
                    let Some(out) = SCENARIOS.run("mixed", env) else {
                        continue;
                    };
                    assert_eq!(out["mode"], mode_of(env), "{out:?}");
                    assert_eq!(out["blocking_in_waitid"], "true", "{out:?}");
                    assert_eq!(
                        out["async_wait"], "Ok(Ok(Some(31)))",
                        "the async wait blocked the runtime (the child exits only when another \
                         task of it writes): {out:?}"
                    );
                    assert_eq!(out["blocking_wait"], "Ok(Ok(Some(31)))", "{out:?}");
                }
            }

            fn mixed_scenario() {
                let mut child = Spawn::new("sh")
                    .args(["-c", "read x; exit 31"])
                    .stdin(Stdio::piped())
                    .spawn()
                    .unwrap();
                let stdin = child.stdin.take().unwrap();
                let process = Arc::new(child.into_process());
                say("mode", format_args!("{:?}", process.mode()));
                let (tid_sender, tid) = std::sync::mpsc::channel();
                let blocking = {
                    let process = process.clone();
                    std::thread::spawn(move || {
                        tid_sender.send(gettid()).unwrap();
                        process
                            .wait()
                            .map(|status| status.code())
                            .map_err(|e| e.to_string())
                    })
                };
                say("blocking_in_waitid", await_in_waitid(tid.recv().unwrap()));
                let waiter = process.clone();
                let async_wait = within(move || {
                    $block_on(async move {
                        let mut stdin = AsyncChildStdin::from_std(stdin).unwrap();
                        let write = async move { stdin.write_all(b"go\n").await.unwrap() };
                        // `zip` polls the wait first: only then does the write run, on the
                        // same thread, and only the write lets the child exit.
                        let (status, ()) =
                            futures_lite::future::zip(waiter.wait_async(), write).await;
                        status
                            .map(|status| status.code())
                            .map_err(|e| e.to_string())
                    })
                });
                if async_wait.is_err() {
                    // Let both threads go (the child exits of the signal).
                    let _ = naive_kill(process.pid(), libc::SIGKILL);
                }
                say("async_wait", format_args!("{async_wait:?}"));
                let blocking = within(move || blocking.join().unwrap());
                say("blocking_wait", format_args!("{blocking:?}"));
            }

            /// A dropped `Child` without kill-on-drop: the child keeps running (it still
            /// answers on its pipes), and once it exits it is reaped in the background —
            /// no zombie left, as `tokio::process` and `async-process` do.
            #[test]
            fn a_dropped_child_runs_on_and_is_reaped_after_its_exit() {
                for env in MODES {
                    let Some(out) = SCENARIOS.run("orphan", env) else {
                        continue;
                    };
                    assert_eq!(out["mode"], mode_of(env), "{out:?}");
                    assert_eq!(out["answer"], "ok", "signalled by the drop? {out:?}");
                    assert_eq!(out["reaped"], "true", "a zombie was left: {out:?}");
                    assert_eq!(out["no_children"], "true", "{out:?}");
                    if out["kept"] != "-" {
                        assert_eq!(out["kept"], "Ok(Some(25))", "{out:?}");
                    }
                }
            }

            fn orphan_scenario() {
                let script = "while read line; do echo \"$$ $line\"; done; exit 25";
                let mut child = Spawn::new("sh")
                    .args(["-c", script])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn_async()
                    .unwrap();
                let pid = child.pid();
                say("mode", format_args!("{:?}", child.mode()));
                let pidfd = child.try_clone_pidfd().ok();
                let mut stdin = child.stdin.take().unwrap();
                let mut stdout = child.stdout.take().unwrap();
                let answer = within(move || {
                    $block_on(async move {
                        drop(child);
                        stdin.write_all(b"ping\n").await.unwrap();
                        let mut line = Vec::new();
                        let mut byte = [0_u8; 1];
                        while !line.ends_with(b"\n") {
                            if stdout.read(&mut byte).await.unwrap() == 0 {
                                break;
                            }
                            line.push(byte[0]);
                        }
                        // End of input: the child exits; its stdout ends.
                        drop(stdin);
                        let mut rest = Vec::new();
                        stdout.read_to_end(&mut rest).await.unwrap();
                        line
                    })
                });
                let expected = format!("{pid} ping\n").into_bytes();
                match answer {
                    Ok(line) if line == expected => say("answer", "ok"),
                    other => say("answer", format_args!("{other:?}")),
                }
                say("reaped", reaped_in_time(pid));
                say("no_children", no_children());
                say("kept", kept_code(pidfd));
            }

            /// Kill-on-drop reaps first: a child that exited (not reaped yet) is reaped by
            /// the drop itself — no zombie, with its own exit status (kept by the kernel,
            /// Linux 6.15+, pidfd mode). (The same order protects a PID reused after a reap
            /// behind the handle's back: see
            /// `a_kill_on_drop_child_reaped_elsewhere_never_signals_its_reused_pid`.)
            #[test]
            fn kill_on_drop_reaps_an_exited_child_first() {
                for env in MODES {
                    let Some(out) = SCENARIOS.run("zombie", env) else {
                        continue;
                    };
                    assert_eq!(out["mode"], mode_of(env), "{out:?}");
                    assert_eq!(out["zombie_before"], "true", "{out:?}");
                    assert_eq!(
                        out["reaped_by_the_drop"], "true",
                        "a zombie was left: {out:?}"
                    );
                    assert_eq!(out["no_children"], "true", "{out:?}");
                    if out["kept"] != "-" {
                        assert_eq!(out["kept"], "Ok(Some(24))", "{out:?}");
                    }
                }
            }

            fn zombie_scenario() {
                let child = Spawn::new("sh")
                    .args(["-c", "exit 24"])
                    .kill_on_drop(true)
                    .spawn_async()
                    .unwrap();
                let pid = child.pid();
                say("mode", format_args!("{:?}", child.mode()));
                let pidfd = child.try_clone_pidfd().ok();
                pidfd_tests::await_exit_without_reaping(pid).unwrap();
                say("zombie_before", state(pid) == Some('Z'));
                $block_on(async move { drop(child) });
                say("reaped_by_the_drop", reaped_now(pid));
                say("no_children", no_children());
                say("kept", kept_code(pidfd));
            }

            /// A kill-on-drop child reaped behind its handle's back (`waitpid` of its PID,
            /// or `SIGCHLD` ignored), its PID given to a process that is not our child, then
            /// the async `Child` dropped: the PID's new owner is not signalled (were it sent
            /// `SIGKILL`, it would die of that and not of the `SIGTERM` sent afterwards).
            #[test]
            fn a_kill_on_drop_child_reaped_elsewhere_never_signals_its_reused_pid() {
                for how in ["waitpid", "sigign"] {
                    for env in MODES {
                        let Some(out) = NS_SCENARIOS.run(&format!("foreign_reap:{how}"), env)
                        else {
                            return;
                        };
                        assert_eq!(out["mode"], mode_of(env), "{out:?}");
                        assert_eq!(out["stolen"], "true", "{how}: {out:?}");
                        assert_eq!(out["reused"], "true", "{how}: PID not reused: {out:?}");
                        assert_eq!(out["alive_after_drop"], "ok", "{how}: {out:?}");
                        assert_eq!(
                            out["new_died_of"],
                            format!("{:?}", Some(libc::SIGTERM)),
                            "{how}: the PID's new owner was signalled by the drop: {out:?}"
                        );
                    }
                }
            }

            /// `args`: `["waitpid"]` or `["sigign"]`, how the child is reaped elsewhere.
            fn foreign_reap_scenario(args: &[&str]) {
                use std::io::BufRead as _;
                let [how] = pidfd_tests::scenario::args(args);
                if how == "sigign" {
                    ignore_sigchld(true);
                }
                let child = Spawn::new("sh")
                    .args(["-c", "exit 23"])
                    .kill_on_drop(true)
                    .spawn_async()
                    .unwrap();
                say("mode", format_args!("{:?}", child.mode()));
                let old_pid = child.pid();
                match how {
                    "waitpid" => say("stolen", steal(old_pid) == Some(23)),
                    _ => {
                        say("stolen", await_gone(old_pid));
                        ignore_sigchld(false);
                    }
                }
                // A `sleep` that is not our child (a child of a `sh` of ours) takes the PID;
                // the `sh` reports its PID, then how it died (128 + the signal). A child the
                // kernel reaped itself is gone a moment before its PID is free (Linux 6.15+
                // frees PIDs after dropping the tasklist lock): a wrong PID is killed, and
                // the steering tried again.
                let script = format!(
                    "echo {} >/proc/sys/kernel/ns_last_pid; sleep 30 & echo $!; wait $!; echo $?",
                    old_pid - 1
                );
                let mut tries = 0;
                let (mut holder, mut lines, new_pid) = loop {
                    let mut holder = std::process::Command::new("sh")
                        .args(["-c", &script])
                        .stdout(std::process::Stdio::piped())
                        .spawn()
                        .unwrap();
                    let mut lines = std::io::BufReader::new(holder.stdout.take().unwrap()).lines();
                    let new_pid: u32 = lines.next().unwrap().unwrap().trim().parse().unwrap();
                    tries += 1;
                    if new_pid == old_pid || tries == 100 {
                        break (holder, lines, new_pid);
                    }
                    let _ = naive_kill(new_pid, libc::SIGKILL);
                    drop(lines);
                    let _ = holder.wait();
                };
                say("reused", new_pid == old_pid);
                $block_on(async move { drop(child) });
                say("alive_after_drop", errno_of(naive_kill(new_pid, 0)));
                let _ = naive_kill(new_pid, libc::SIGTERM);
                let code: i32 = lines.next().unwrap().unwrap().trim().parse().unwrap();
                assert!(holder.wait().unwrap().success());
                say("new_died_of", format_args!("{:?}", Some(code - 128)));
            }

            /// The pidfd of a traced child's zombie is readable before we may reap it (only
            /// once its tracer waited or let go): the async wait must not spin meanwhile
            /// (its process's CPU time over a half-second window), and must end with the
            /// status once the tracer lets go.
            #[test]
            fn an_async_wait_on_a_traced_zombie_does_not_spin() {
                let Some(out) = SCENARIOS.run("traced", &[]) else {
                    return;
                };
                if let Some(reason) = out.get("skip") {
                    emulator::skip(reason);
                    return;
                }
                assert_eq!(out["zombie"], "true", "{out:?}");
                assert_eq!(
                    out["first_poll"], "Ok(true)",
                    "reapable while traced? {out:?}"
                );
                assert_eq!(out["still_traced"], "true", "{out:?}");
                let percent: u64 = out["cpu_percent"].parse().unwrap();
                assert!(
                    percent < 30,
                    "the async wait spun on the traced zombie's readable pidfd: {percent}% of \
                     the wall time in CPU: {out:?}"
                );
                assert_eq!(out["async_wait"], "Ok(Ok(Some(26)))", "{out:?}");
                assert_eq!(out["tracer"], "true", "{out:?}");
            }

            fn traced_scenario() {
                if emulator::emulator().is_some() {
                    return say("gap", "ptrace is not emulated by qemu-user");
                }
                let (stdin_read, stdin_write) = std::io::pipe().unwrap();
                let child = Spawn::new("sh")
                    .args(["-c", "read line; exit 26"])
                    .stdin(Stdio::from(stdin_read))
                    .spawn()
                    .unwrap();
                if child.mode() == Mode::Pid {
                    drop(stdin_write);
                    child.wait().unwrap();
                    return say("skip", "traced child: Spawn gave pid mode here (no pidfd)");
                }
                let pid = child.pid();
                let (tracer, mut go) = match seize(pid, &[std::os::fd::AsFd::as_fd(&stdin_write)]) {
                    Ok(seized) => seized,
                    Err(reason) => {
                        drop(stdin_write);
                        child.wait().unwrap();
                        return say("skip", format_args!("traced child: {reason}"));
                    }
                };
                // The child exits: a zombie that only the tracer may reap for now.
                drop(stdin_write);
                say("zombie", await_zombie(pid));
                let (polled_sender, polled) = std::sync::mpsc::channel();
                let waiter = child.into_process();
                let (done_sender, done) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    let status = $block_on(async move {
                        let mut wait = std::pin::pin!(waiter.wait_async());
                        let first = std::future::poll_fn(|cx| {
                            std::task::Poll::Ready(wait.as_mut().poll(cx).is_pending())
                        })
                        .await;
                        polled_sender.send(first).unwrap();
                        wait.await
                    });
                    let _ = done_sender.send(status.map(|s| s.code()).map_err(|e| e.to_string()));
                });
                say(
                    "first_poll",
                    format_args!("{:?}", polled.recv_timeout(PATIENCE)),
                );
                // A measuring window (not a synchronization): the wait is pending all along.
                let (cpu, started) = (process_cpu(), Instant::now());
                std::thread::sleep(Duration::from_millis(500));
                let (cpu, elapsed) = (process_cpu() - cpu, started.elapsed());
                say("still_traced", state(pid) == Some('Z'));
                say(
                    "cpu_percent",
                    cpu.as_micros() * 100 / elapsed.as_micros().max(1),
                );
                // The tracer exits, detaching: the child may be reaped now.
                let _ = std::io::Write::write_all(&mut go, b"g");
                let outcome = done.recv_timeout(PATIENCE).map_err(|_| "hung");
                say("async_wait", format_args!("{outcome:?}"));
                say("tracer", tracer.wait().is_ok_and(|status| status.success()));
            }
        }
    };
}

pub(crate) use async_regressions;
