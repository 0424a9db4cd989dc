//! `pidfd-std-ext` under process-wide faults: a `waitpid(-1)` thief thread, `SIGCHLD =
//! SIG_IGN`, seccomp filters that refuse `pidfd_open`, `PIDFD_DISABLE`, and an fd count over
//! thousands of spawns.
//!
//! Each scenario changes state of the whole process (or needs it to itself), so it runs in a
//! re-exec'd copy of this test binary (see `pidfd_tests::scenario`).

#![allow(
    unsafe_code,
    reason = "the scenarios reap with waitpid(-1) and set SIGCHLD's disposition"
)]

use std::io;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use pidfd_core::probe;
use pidfd_std_ext::{ChildExt, CommandExt};
use pidfd_sys::nr;
use pidfd_tests::emulator::pidfd_info_exit_works;
use pidfd_tests::scenario::{Report, Scenarios, errno_of, say, wait_outcome};
use pidfd_tests::{open_fd_count, seccomp};

const SCENARIOS: Scenarios = Scenarios::new("PIDFD_STD_EXT_SCENARIO");

/// The child side: dispatches on the scenario name. Ignored in normal runs (it is only an
/// entry point for the re-exec'd children).
#[test]
#[ignore = "entry point for the re-exec'd fault-injection children"]
fn scenario_child() {
    let scenario = SCENARIOS.current();
    match scenario.split(':').collect::<Vec<_>>().as_slice() {
        ["thief"] => thief_scenario(),
        ["sigchld-ignored"] => sigchld_ignored_scenario(),
        ["fd-count"] => fd_count_scenario(),
        ["unsupported", when, errno] => unsupported_scenario(when, errno.parse().unwrap()),
        ["disabled"] => disabled_scenario(),
        ["stdio-closed"] => stdio_closed_scenario(),
        ["forked-worker"] => forked_worker_scenario(),
        other => panic!("unknown scenario {other:?}"),
    }
    say("done", true);
}

fn is_errno(error: &io::Error, errno: i32) -> bool {
    error.raw_os_error() == Some(errno)
}

/// Reaps any child, blocking; `None` once there are no children left (`ECHILD`).
fn reap_any(options: i32) -> Option<i32> {
    let mut status = 0;
    // SAFETY: waitpid writes an int through a valid pointer.
    let pid = unsafe { libc::waitpid(-1, &raw mut status, options) };
    (pid > 0).then_some(pid)
}

/// 1000 spawns while a thread reaps every child it can with `waitpid(-1)`. Every pidfd the
/// crate hands out must be the child's own: its `pid()` is the child's or `ESRCH`, and
/// (Linux 6.15+, which keeps the exit status of a reaped process) the status read through
/// it is the exit code that this child, and no other, was given.
fn thief_scenario() {
    let stop = Arc::new(AtomicBool::new(false));
    let stolen = Arc::new(AtomicU32::new(0));
    let thief = {
        let (stop, stolen) = (Arc::clone(&stop), Arc::clone(&stolen));
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if reap_any(0).is_some() {
                    stolen.fetch_add(1, Ordering::SeqCst);
                } else {
                    std::thread::yield_now(); // ECHILD: nothing to steal right now
                }
            }
        })
    };
    let mut counts = std::collections::BTreeMap::<&str, u32>::new();
    let mut count = |what| *counts.entry(what).or_insert(0) += 1;
    let mut bad = Vec::new();
    for i in 0..1000_u32 {
        let code = i % 200 + 1;
        let mut child = Command::new("sh")
            .args(["-c", &format!("exit {code}")])
            .create_pidfd(true)
            .spawn()
            .unwrap();
        match child.pidfd() {
            Ok(pidfd) => {
                count("pidfd_ok");
                match pidfd.pid() {
                    Ok(pid) if pid == child.id() => count("pid_matches"),
                    Err(error) if is_errno(&error, libc::ESRCH) => count("pid_esrch"),
                    other => bad.push(format!("{i}: pid() {other:?} for {}", child.id())),
                }
                match pidfd.wait() {
                    Ok(status) if status.code() == Some(i32::try_from(code).unwrap()) => {
                        count("status_matches");
                    }
                    Err(error) if is_errno(&error, libc::ECHILD) => count("wait_echild"),
                    other => bad.push(format!("{i}: wait {other:?}, expected exit {code}")),
                }
            }
            Err(error) if is_errno(&error, libc::ESRCH) => {
                count("reaped_before_pidfd");
                // Only right if the thief really took it.
                match child.try_wait() {
                    Err(error) if is_errno(&error, libc::ECHILD) => {}
                    other => bad.push(format!("{i}: ESRCH but try_wait {other:?}")),
                }
            }
            Err(error) => bad.push(format!("{i}: pidfd() {error}")),
        }
    }
    stop.store(true, Ordering::SeqCst);
    thief.join().unwrap();
    for (what, n) in counts {
        say(what, n);
    }
    say("stolen", stolen.load(Ordering::SeqCst));
    say("bad", bad.len());
    for line in bad.iter().take(10) {
        say("bad_example", line);
    }
}

/// With `SIGCHLD` ignored the kernel reaps every child as it exits; pidfds still come only
/// from the children themselves.
fn sigchld_ignored_scenario() {
    // SAFETY: SIG_IGN for SIGCHLD: the kernel reaps children itself.
    unsafe { libc::signal(pidfd_sys::signal::SIGCHLD, libc::SIG_IGN) };
    let child = Command::new("sh")
        .args(["-c", "sleep 0.2; exit 5"])
        .create_pidfd(true)
        .spawn()
        .unwrap();
    let pidfd = child.pidfd().unwrap();
    say("pid_matches", pidfd.pid().unwrap() == child.id());
    say("wait", wait_outcome(pidfd.wait()));
    say("pid_after", errno_of(pidfd.pid()));
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..200 {
        let child = Command::new("true").create_pidfd(true).spawn().unwrap();
        let outcome = match child.pidfd() {
            Ok(pidfd) => match pidfd.pid() {
                Ok(pid) if pid == child.id() => "pid_matches".to_owned(),
                Err(error) if is_errno(&error, libc::ESRCH) => "pid_esrch".to_owned(),
                other => format!("bad pid {other:?}"),
            },
            Err(error) => errno_of::<()>(Err(error)),
        };
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    say("outcomes", format!("{outcomes:?}"));
}

/// The fd count over 5000 spawns whose `Child` values are waited, dropped (left as zombies,
/// reaped by `waitpid(-1)` in batches), turned into a pidfd that is then closed, or spawned
/// with `spawn_with_pidfd` (pidfd closed or kept until the wait): bounded throughout, and at
/// the end at most the window of reaped children's pidfds above the baseline.
fn fd_count_scenario() {
    // Warm up std, the probe and the registry (they open fds once, for good).
    Command::new("true")
        .create_pidfd(true)
        .spawn()
        .unwrap()
        .wait()
        .unwrap();
    let baseline = open_fd_count();
    let mut highest = baseline;
    let mut shared = Command::new("true");
    shared.create_pidfd(true);
    let mut failures = 0;
    for i in 0..pidfd_tests::emulator::iterations(5000) {
        match i % 7 {
            0 => {
                let mut child = Command::new("true").create_pidfd(true).spawn().unwrap();
                child.wait().unwrap();
            }
            1 => drop(Command::new("true").create_pidfd(true).spawn().unwrap()),
            2 => {
                let mut child = shared.spawn().unwrap();
                if child.pidfd().is_err() {
                    failures += 1;
                }
                child.wait().unwrap();
            }
            3 => {
                let child = Command::new("true").create_pidfd(true).spawn().unwrap();
                match child.into_pidfd() {
                    Ok(pidfd) => drop(pidfd),
                    Err(_) => failures += 1,
                }
            }
            4 => {
                let (mut child, pidfd) = Command::new("true").spawn_with_pidfd().unwrap();
                child.wait().unwrap();
                drop(pidfd);
            }
            5 => drop(Command::new("true").spawn_with_pidfd().unwrap()),
            _ => drop(shared.spawn().unwrap()),
        }
        if i % 250 == 249 {
            while reap_any(libc::WNOHANG).is_some() {}
            highest = highest.max(open_fd_count());
        }
    }
    drop(shared);
    while reap_any(0).is_some() {}
    // Reaped behind the crate's back: the next drain notices. Any pidfd() call is one.
    let _ = Command::new("true").spawn().unwrap().pidfd();
    say("baseline", baseline);
    say("after_extra", open_fd_count() - baseline);
    say("highest_extra", highest - baseline);
    say("failures", failures);
}

/// fds 0 and 2 closed in the parent before the first `create_pidfd(true)`: the crate's
/// socket pair must not take them (std would replace them in the child with its stdio), the
/// child reads exactly what was written to its piped stdin, and both APIs give its pidfd.
fn stdio_closed_scenario() {
    use std::io::{Read, Write};
    // Panics are reported on stdout: stderr is about to close.
    std::panic::set_hook(Box::new(|info| say("panic", info)));
    // The children's stdin pipes, made while 0-2 are open (so numbered 3 and up): std's own
    // `Stdio::piped()` would put a pipe on the closed fd 0, where std's `dup2(0, 0)` in the
    // child leaves it close-on-exec — std's problem with fds closed at run time, not ours.
    let mut pipes = vec![io::pipe().unwrap(), io::pipe().unwrap()];
    for fd in [0, 2] {
        // SAFETY: closing stdin and stderr of this scenario process; nothing here uses them.
        unsafe { libc::close(fd) };
    }
    let mut command = Command::new("cat");
    command
        .stdout(std::process::Stdio::piped())
        .create_pidfd(true);
    // The channel exists now; fds 0 and 2 must still be closed.
    let closed = |fd| {
        // SAFETY: F_GETFD only reads the fd's flags.
        unsafe { libc::fcntl(fd, libc::F_GETFD) == -1 }
    };
    say("fd0_closed", closed(0));
    say("fd2_closed", closed(2));
    for how in ["create", "exact"] {
        let (reader, mut writer) = pipes.remove(0);
        command.stdin(reader);
        let (mut child, pidfd) = match how {
            "create" => {
                let child = command.spawn().unwrap();
                let pidfd = child.pidfd();
                (child, pidfd)
            }
            _ => match command.spawn_with_pidfd() {
                Ok((child, pidfd)) => (child, Ok(pidfd)),
                Err(error) => panic!("spawn_with_pidfd: {error}"),
            },
        };
        // The child is blocked reading stdin: a pidfd opened now is certainly its own.
        let truth = pidfd_core::PidFd::open(child.id()).unwrap();
        say(
            &format!("{how}:pidfd"),
            match &pidfd {
                Ok(fd) => format!("same={:?}", fd.is_same_process(&truth).ok()),
                Err(error) => format!("{:?}: {error}", error.kind()),
            },
        );
        writer.write_all(b"through the pipe\n").unwrap();
        drop(writer);
        // (The Command holds the read end: replace it so that cat sees end of file.)
        command.stdin(std::process::Stdio::null());
        let mut text = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        say(&format!("{how}:echo"), text.trim_end());
        say(&format!("{how}:wait"), wait_outcome(child.wait()));
    }
}

/// A process forked from this one without `exec` (a pre-fork worker) that uses the crate
/// must not read its parent's channel: A's message, queued but not yet drained, stays for
/// the parent's `A.pidfd()`.
fn forked_worker_scenario() {
    let mut a = Command::new("sh")
        .args(["-c", "read _ ; exit 0"])
        .stdin(std::process::Stdio::piped())
        .create_pidfd(true)
        .spawn()
        .unwrap();
    // SAFETY: the forked child only makes std/crate calls on this thread and `_exit`s; the
    // scenario process has no other thread holding a lock it needs (libtest's main thread
    // is blocked joining this one).
    let worker = unsafe { libc::fork() };
    if worker == 0 {
        // A create_pidfd(true) drains "the" channel: here it must be a new one.
        let mut command = Command::new("true");
        command.create_pidfd(true);
        let ok = command.spawn().and_then(|mut child| child.wait()).is_ok();
        // SAFETY: ends the forked worker without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waitpid writes an int through a valid pointer; `worker` is our child.
    assert_eq!(unsafe { libc::waitpid(worker, &raw mut status, 0) }, worker);
    say("worker_exit", libc::WEXITSTATUS(status));
    let truth = pidfd_core::PidFd::open(a.id()).unwrap();
    say(
        "a_pidfd",
        match a.pidfd() {
            Ok(pidfd) => format!("same={:?}", pidfd.is_same_process(&truth).ok()),
            Err(error) => format!("{:?}: {error}", error.kind()),
        },
    );
    drop(a.stdin.take());
    say("a_wait", wait_outcome(a.wait()));
}

/// pidfd_open refused by seccomp with `errno`, the filter installed before the crate's
/// probe (`when` = "before-probe") or after it ("after-probe", so the child makes the call).
fn unsupported_scenario(when: &str, errno: i32) {
    match when {
        "before-probe" => {}
        "after-probe" => say("probed_pidfd_open", probe::features().unwrap().pidfd_open),
        other => panic!("unknown time {other}"),
    }
    if !seccomp::fail_syscalls_or_gap(&[(nr::SYS_pidfd_open, errno)]) {
        return;
    }
    spawn_without_pidfd_support();
}

/// `PIDFD_DISABLE=1`, under a filter that makes `pidfd_open` fail with EPERM: the error must
/// be the crate's own "disabled" one, proving the child made no pidfd syscall.
fn disabled_scenario() {
    if !seccomp::fail_syscalls_or_gap(&[(nr::SYS_pidfd_open, libc::EPERM)]) {
        return;
    }
    say(
        "disabled_by_env",
        probe::features().unwrap().disabled_by_env,
    );
    spawn_without_pidfd_support();
}

fn spawn_without_pidfd_support() {
    let child = Command::new("sh")
        .args(["-c", "exit 4"])
        .create_pidfd(true)
        .spawn();
    say(
        "spawn",
        errno_of(child.as_ref().map(drop).map_err(|e| e.kind().into())),
    );
    let child = child.unwrap();
    let error = child.pidfd().unwrap_err();
    say("pidfd_kind", format!("{:?}", error.kind()));
    say(
        "pidfd_errno",
        error
            .raw_os_error()
            .map_or("none".to_owned(), |e| e.to_string()),
    );
    say("pidfd_message", &error);
    let child = child.into_pidfd().expect_err("no pidfd");
    let mut child = child.into_process().expect_err("no pidfd");
    say("std_wait", wait_outcome(child.wait()));
}

// ---- the parent-side tests ----

#[test]
fn waitpid_thief_never_gets_a_pidfd_for_another_process() {
    let Some(out) = SCENARIOS.run("thief", &[]) else {
        return;
    };
    let n = |key: &str| out.get(key).map_or(0, |v| v.parse::<u32>().unwrap());
    assert_eq!(n("bad"), 0, "{out:?}");
    assert!(n("stolen") > 0, "the thief never stole a child: {out:?}");
    assert!(n("pidfd_ok") > 0, "no pidfd at all: {out:?}");
    assert_eq!(n("pidfd_ok") + n("reaped_before_pidfd"), 1000, "{out:?}");
    assert_eq!(n("pid_matches") + n("pid_esrch"), n("pidfd_ok"), "{out:?}");
    if pidfd_info_exit_works() {
        // The kernel keeps the status of a stolen child: every wait gets this child's own.
        assert_eq!(n("status_matches"), n("pidfd_ok"), "{out:?}");
    } else {
        assert_eq!(
            n("status_matches") + n("wait_echild"),
            n("pidfd_ok"),
            "{out:?}"
        );
    }
}

#[test]
fn sigchld_ignored() {
    let Some(out) = SCENARIOS.run("sigchld-ignored", &[]) else {
        return;
    };
    assert_eq!(out["pid_matches"], "true", "{out:?}");
    if pidfd_info_exit_works() {
        assert_eq!(out["wait"], "exit Some(5)", "{out:?}");
    } else {
        assert_eq!(out["wait"], libc::ECHILD.to_string(), "{out:?}");
    }
    assert_eq!(out["pid_after"], libc::ESRCH.to_string());
    // Each `true` either still runs (its pidfd names it) or was reaped already (ESRCH);
    // never NotFound, never another process.
    let outcomes = &out["outcomes"];
    let esrch = format!("\"{}\"", libc::ESRCH);
    let allowed = ["\"pid_matches\"", "\"pid_esrch\"", esrch.as_str()];
    let listed: Vec<&str> = outcomes
        .trim_matches(|c| c == '{' || c == '}')
        .split(", ")
        .map(|pair| pair.split_once(": ").unwrap().0)
        .collect();
    assert!(
        listed.iter().all(|outcome| allowed.contains(outcome)),
        "{outcomes}"
    );
}

#[test]
fn fds_stay_bounded_over_5000_spawns() {
    let Some(out) = SCENARIOS.run("fd-count", &[]) else {
        return;
    };
    assert_eq!(out["failures"], "0", "{out:?}");
    let after: usize = out["after_extra"].parse().unwrap();
    assert!(after <= pidfd_std_ext::DEAD_WINDOW, "{out:?}");
    let highest: usize = out["highest_extra"].parse().unwrap();
    // At most ~250 zombies' pidfds between two reaping batches, the window, and sockets.
    assert!(highest < 400, "{out:?}");
}

#[test]
fn stdio_fds_closed_in_the_parent() {
    let Some(out) = SCENARIOS.run("stdio-closed", &[]) else {
        return;
    };
    assert_eq!(out["fd0_closed"], "true", "{out:?}");
    assert_eq!(out["fd2_closed"], "true", "{out:?}");
    for how in ["create", "exact"] {
        let key = |k: &str| out[&format!("{how}:{k}")].clone();
        assert!(key("pidfd").starts_with("same="), "{how}: {out:?}");
        assert!(!key("pidfd").contains("false"), "{how}: {out:?}");
        assert_eq!(key("echo"), "through the pipe", "{how}: {out:?}");
        assert_eq!(key("wait"), "exit Some(0)", "{how}: {out:?}");
    }
}

fn assert_spawn_works_without_a_pidfd(out: &Report) {
    assert_eq!(out["spawn"], "ok", "{out:?}");
    assert_eq!(out["std_wait"], "exit Some(4)", "{out:?}");
    assert_eq!(out["pidfd_kind"], "Unsupported", "{out:?}");
}

#[test]
fn seccomp_enosys_on_pidfd_open() {
    let errno = libc::ENOSYS;
    // The probe sees the filter: the child does not even try.
    let Some(out) = SCENARIOS.run(&format!("unsupported:before-probe:{errno}"), &[]) else {
        return;
    };
    assert_spawn_works_without_a_pidfd(&out);
    assert_eq!(out["pidfd_errno"], "none", "{out:?}");
    assert!(out["pidfd_message"].contains("pidfd_open"), "{out:?}");
    // The probe ran first: the child's own pidfd_open fails, and its errno is reported.
    let Some(out) = SCENARIOS.run(&format!("unsupported:after-probe:{errno}"), &[]) else {
        return;
    };
    assert_eq!(out["probed_pidfd_open"], "true", "{out:?}");
    assert_spawn_works_without_a_pidfd(&out);
    assert_eq!(out["pidfd_errno"], errno.to_string(), "{out:?}");
}

#[test]
fn seccomp_eperm_on_pidfd_open() {
    let errno = libc::EPERM;
    let Some(out) = SCENARIOS.run(&format!("unsupported:before-probe:{errno}"), &[]) else {
        return;
    };
    assert_spawn_works_without_a_pidfd(&out);
    assert_eq!(out["pidfd_errno"], "none", "{out:?}");
    // The child's EPERM, as it got it.
    let Some(out) = SCENARIOS.run(&format!("unsupported:after-probe:{errno}"), &[]) else {
        return;
    };
    assert_eq!(out["spawn"], "ok", "{out:?}");
    assert_eq!(out["std_wait"], "exit Some(4)", "{out:?}");
    assert_eq!(out["pidfd_errno"], errno.to_string(), "{out:?}");
    assert_eq!(out["pidfd_kind"], "PermissionDenied", "{out:?}");
}

#[test]
fn pidfd_disable_env() {
    let Some(out) = SCENARIOS.run("disabled", &[(probe::DISABLE_ENV, "1")]) else {
        return;
    };
    assert_eq!(out["disabled_by_env"], "true", "{out:?}");
    assert_spawn_works_without_a_pidfd(&out);
    assert_eq!(
        out["pidfd_errno"], "none",
        "no EPERM: no syscall was made: {out:?}"
    );
    assert!(out["pidfd_message"].contains("PIDFD_DISABLE"), "{out:?}");
}

#[test]
fn a_forked_worker_never_steals_the_parents_messages() {
    let Some(out) = SCENARIOS.run("forked-worker", &[]) else {
        return;
    };
    assert_eq!(out["worker_exit"], "0", "{out:?}");
    assert!(out["a_pidfd"].starts_with("same="), "{out:?}");
    assert!(!out["a_pidfd"].contains("false"), "{out:?}");
    assert_eq!(out["a_wait"], "exit Some(0)", "{out:?}");
}
