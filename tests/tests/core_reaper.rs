//! `pidfd_core::Reaper` against the real kernel (the thousand-children test has a binary of
//! its own, `core_reaper_thousand`): children dead before being added, removal, non-children, a child reaped by
//! someone else, a hand-written `poll(2)` loop on the epoll fd, timeouts, `EINTR`, and the
//! pid-mode fallback (re-exec'd children with `PIDFD_DISABLE=1` and with seccomp refusing
//! every pidfd).

#![allow(
    unsafe_code,
    reason = "rlimits, poll(2), waitpid and a signal handler in the tests; each block says why"
)]

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd};
use std::process::Command;
use std::time::{Duration, Instant};

use pidfd_core::{Exit, Mode, PidFd, Process, Reaper, Spawn, Watched, probe};
use pidfd_tests::emulator::{gap, pidfd_info_exit_works};
use pidfd_tests::interrupt::Storm;
use pidfd_tests::scenario::{Scenarios, say, wait_outcome};
use pidfd_tests::seccomp;
use pidfd_tests::{Orphan, spawn_sh};

const SCENARIOS: Scenarios = Scenarios::new("PIDFD_REAPER_SCENARIO");

/// The long wait for exits that must come.
const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `fd` for `POLLIN`; whether it became readable within `timeout_ms`.
fn poll_in(fd: i32, timeout_ms: i32) -> bool {
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&raw mut pollfd, 1, timeout_ms) };
        if ready >= 0 {
            return ready > 0;
        }
        assert_eq!(
            std::io::Error::last_os_error().kind(),
            std::io::ErrorKind::Interrupted
        );
    }
}

fn code(exit: &Exit<impl Sized>) -> Option<i32> {
    exit.status.and_then(|status| status.code())
}

#[test]
fn children_dead_before_being_added_are_reported_at_once() {
    let mut reaper = Reaper::new().unwrap();
    // A zombie (exited, not reaped).
    let Some(zombie) = spawn_sh("exit 7") else {
        return;
    };
    assert!(
        zombie
            .with_pidfd(|p| p.wait_for_exit(None))
            .unwrap()
            .unwrap()
    );
    reaper.add(zombie, "zombie").unwrap();
    // Reaped through its own handle before being added: the cached status.
    let Some(reaped) = spawn_sh("exit 8") else {
        return;
    };
    assert_eq!(reaped.wait().unwrap().code(), Some(8));
    reaper.add(reaped, "reaped").unwrap();
    // A bare PidFd of an exited child.
    let child = Command::new("sh").args(["-c", "exit 9"]).spawn().unwrap();
    let pidfd = PidFd::open(child.id()).unwrap();
    assert!(pidfd.wait_for_exit(None).unwrap());
    reaper.add_pidfd(pidfd, "pidfd").unwrap();

    let mut got = HashMap::new();
    let start = Instant::now();
    while let Some(exit) = reaper.try_next_exit().unwrap() {
        assert!(got.insert(exit.token, code(&exit)).is_none());
    }
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(
        got,
        HashMap::from([("zombie", Some(7)), ("reaped", Some(8)), ("pidfd", Some(9))])
    );
    assert!(reaper.is_empty());
    drop(child); // reaped through the pidfd
}

#[test]
fn removed_entries_are_never_reported() {
    let mut reaper = Reaper::new().unwrap();
    let (Some(early), Some(late), Some(dead)) = (
        spawn_sh("sleep 0.1; exit 1"),
        spawn_sh("sleep 0.4; exit 2"),
        spawn_sh("exit 3"),
    ) else {
        return;
    };
    assert!(dead.with_pidfd(|p| p.wait_for_exit(None)).unwrap().unwrap());
    let early_key = reaper.add(early, 1).unwrap();
    let late_key = reaper.add(late, 2).unwrap();
    let dead_key = reaper.add(dead, 3).unwrap();
    // Removed before it exits.
    let (token, Watched::Process(early)) = reaper.remove(early_key).unwrap() else {
        panic!("added as a Process")
    };
    assert_eq!(token, 1);
    // Removed after it exited, before it was reported: left unreaped for the caller.
    let (token, Watched::Process(dead)) = reaper.remove(dead_key).unwrap() else {
        panic!("added as a Process")
    };
    assert_eq!(token, 3);
    assert!(reaper.remove(dead_key).is_none(), "removed twice");
    assert_eq!(reaper.len(), 1);

    let exit = reaper.next_exit(Some(PATIENCE)).unwrap().unwrap();
    assert_eq!((exit.key, exit.token, code(&exit)), (late_key, 2, Some(2)));
    assert!(
        reaper
            .next_exit(Some(Duration::from_millis(200)))
            .unwrap()
            .is_none()
    );
    assert!(reaper.remove(late_key).is_none(), "already reported");
    // The removed children were not reaped by the reaper.
    assert_eq!(early.wait().unwrap().code(), Some(1));
    assert_eq!(dead.wait().unwrap().code(), Some(3));
}

#[test]
fn non_children_are_reported_when_they_exit() {
    let mut reaper = Reaper::new().unwrap();
    let mut first = Orphan::start("sleep 0.3");
    let mut second = Orphan::start("sleep 0.3");
    // Held: their PIDs name them until released.
    reaper
        .add_pidfd(PidFd::open(first.pid).unwrap(), "pidfd")
        .unwrap();
    let process = Process::find(second.pid).unwrap();
    if process.mode() == Mode::Pid {
        if pidfd_tests::pidfd_mode_allowed() {
            assert!(gap("Process::find gives pid mode under qemu-user"));
        } else {
            pidfd_tests::emulator::skip("Process::find gives pid mode: the probe refuses pidfds");
        }
        return;
    }
    reaper.add(process, "process").unwrap();
    // Running non-children are not reported (waitid would say ECHILD for them already).
    assert!(reaper.try_next_exit().unwrap().is_none());
    let start = Instant::now();
    first.release();
    second.release();
    let mut got = Vec::new();
    while let Some(exit) = reaper.next_exit(Some(PATIENCE)).unwrap() {
        // Not ours to reap: no status, unless the kernel kept the one its real parent
        // reaped (PIDFD_INFO_EXIT, Linux 6.15+).
        match exit.status {
            None => {}
            Some(status) => {
                assert!(pidfd_info_exit_works(), "a status without PIDFD_INFO_EXIT");
                assert!(status.success(), "sleep exits with 0: {status:?}");
            }
        }
        eprintln!("non-child {}: status {:?}", exit.token, exit.status);
        got.push(exit.token);
    }
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "reported before exiting"
    );
    got.sort_unstable();
    assert_eq!(got, ["pidfd", "process"]);
}

#[test]
fn a_child_reaped_elsewhere_is_reported() {
    let mut reaper = Reaper::new().unwrap();
    let Some(process) = spawn_sh("sleep 0.1; exit 6") else {
        return;
    };
    let pid = i32::try_from(process.pid()).unwrap();
    reaper.add(process, ()).unwrap();
    let mut status = 0;
    // SAFETY: waits for our own child by PID; the reaper has not reaped it (it has not been
    // asked for exits yet), so the PID is still this child's.
    assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
    let exit = reaper.next_exit(Some(PATIENCE)).unwrap().unwrap();
    if pidfd_info_exit_works() {
        assert_eq!(code(&exit), Some(6), "kept by the kernel (6.15+)");
    } else {
        assert_eq!(exit.status, None, "exited, status unknown");
    }
    assert!(reaper.is_empty());
}

#[test]
fn the_epoll_fd_works_in_a_hand_written_poll_loop() {
    let mut reaper = Reaper::new().unwrap();
    // Reaped before being added (no pidfd left to register): the epoll fd must still be
    // readable for it.
    let Some(reaped) = spawn_sh("exit 42") else {
        return;
    };
    reaped.wait().unwrap();
    reaper.add(reaped, 42).unwrap();
    assert!(
        poll_in(reaper.as_raw_fd(), 0),
        "readable for the cached exit"
    );
    let exit = reaper.try_next_exit().unwrap().unwrap();
    assert_eq!((exit.token, code(&exit)), (42, Some(42)));
    assert!(
        !poll_in(reaper.as_raw_fd(), 0),
        "not readable with nothing left"
    );

    for i in 0..20 {
        let Some(process) = spawn_sh(&format!("sleep 0.{:02}; exit {i}", (i * 37) % 30)) else {
            return;
        };
        reaper.add(process, i).unwrap();
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while got.len() < 20 {
        assert!(Instant::now() < deadline, "only {got:?}");
        if !poll_in(reaper.as_raw_fd(), 1000) {
            continue;
        }
        while let Some(exit) = reaper.try_next_exit().unwrap() {
            assert_eq!(code(&exit), Some(exit.token));
            got.push(exit.token);
        }
    }
    got.sort_unstable();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    assert!(!poll_in(reaper.as_raw_fd(), 0));
}

#[test]
fn a_timeout_returns_none() {
    let mut reaper = Reaper::new().unwrap();
    let Some(process) = spawn_sh("exec sleep 30") else {
        return;
    };
    let key = reaper.add(process, ()).unwrap();
    let start = Instant::now();
    assert!(
        reaper
            .next_exit(Some(Duration::from_millis(150)))
            .unwrap()
            .is_none()
    );
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert!(reaper.try_next_exit().unwrap().is_none());
    let ((), Watched::Process(process)) = reaper.remove(key).unwrap() else {
        panic!("added as a Process")
    };
    process.kill().unwrap();
    assert!(process.wait().is_ok());
}

#[test]
fn eintr_continues_the_wait() {
    let Some(out) = SCENARIOS.run("eintr", &[]) else {
        return;
    };
    assert_eq!(out["early"], "none", "{out:?}");
    assert_eq!(out["exit"], "5", "{out:?}");
    // ~60 signals in 0.3 s, each handled on the thread blocked in epoll_wait.
    assert!(
        out["hits_on_waiter"].parse::<u32>().unwrap() > 10,
        "{out:?}"
    );
    assert_eq!(out["hits_elsewhere"], "0", "{out:?}");
}

fn assert_pid_mode_fallback(out: &pidfd_tests::scenario::Report) {
    assert_eq!(out["mode"], "Pid", "{out:?}");
    assert_eq!(out["reported"], "20", "{out:?}");
    assert_eq!(out["wrong"], "0", "{out:?}");
    assert_eq!(out["early"], "Some(7)", "{out:?}");
    assert_eq!(out["removed_reported"], "false", "{out:?}");
    assert_eq!(out["removed_wait"], "exit Some(9)", "{out:?}");
    assert_eq!(out["non_child"], "Unsupported", "{out:?}");
    assert_eq!(out["len"], "0", "{out:?}");
}

/// The reaper registers each entry's own pidfd (no fd of its own per entry), one-shot: a
/// duplicate the user keeps never leaves the epoll fd readable after the exit of a child
/// that is not traced, and handles given back (removed or reported) can be added again.
#[test]
fn registrations_cost_no_fds_and_never_linger() {
    let Some(out) = SCENARIOS.run("registrations", &[]) else {
        return;
    };
    assert_eq!(out["extra_fds"], "0", "{out:?}");
    assert_eq!(out["first"], "Some(0)", "{out:?}");
    assert_eq!(out["readable_after"], "false", "{out:?}");
    assert_eq!(out["readded_removed"], "Some(5)", "{out:?}");
    assert_eq!(out["non_child"], "None", "{out:?}");
    assert_eq!(out["non_child_again"], "None", "{out:?}");
    assert_eq!(out["len"], "0", "{out:?}");
}

/// See [`registrations_cost_no_fds_and_never_linger`]; alone in its process for the fd count.
fn registrations_scenario() {
    let mut reaper = Reaper::new().unwrap();
    let children: Vec<Process> = (0..10).map(|_| spawn_sh("sleep 0.2").unwrap()).collect();
    let before = pidfd_tests::open_fd_count();
    let keys: Vec<_> = children
        .into_iter()
        .map(|child| reaper.add(child, 1).unwrap())
        .collect();
    say("extra_fds", pidfd_tests::open_fd_count() - before);
    for key in keys {
        let (_, watched) = reaper.remove(key).unwrap();
        let Watched::Process(child) = watched else {
            panic!("added as a Process");
        };
        child.wait().unwrap();
    }

    // A duplicate made before adding keeps the open file (and so the registration) alive
    // after the reap: it must not leave the epoll fd readable.
    let quick = spawn_sh("exit 0").unwrap();
    let duplicate = quick
        .with_pidfd(|pidfd| pidfd.as_fd().try_clone_to_owned())
        .unwrap()
        .unwrap();
    let long = spawn_sh("exec sleep 30").unwrap();
    reaper.add(quick, 0).unwrap();
    let long_key = reaper.add(long, 30).unwrap();
    let first = reaper.next_exit(Some(PATIENCE)).unwrap().unwrap();
    say(
        "first",
        format_args!("{:?}", (first.token == 0).then(|| code(&first)).flatten()),
    );
    say("readable_after", poll_in(reaper.as_raw_fd(), 0));
    drop(duplicate);

    let (_, watched) = reaper.remove(long_key).unwrap();
    let Watched::Process(long) = watched else {
        panic!("added as a Process");
    };
    long.kill().unwrap();
    long.wait().unwrap();

    // Removed, then added again: no EEXIST, and reported when it exits.
    let again = spawn_sh("sleep 0.2; exit 5").unwrap();
    let key = reaper.add(again, 4).unwrap();
    let (_, Watched::Process(again)) = reaper.remove(key).unwrap() else {
        panic!("added as a Process");
    };
    reaper.add(again, 5).unwrap();
    let exit = reaper.next_exit(Some(PATIENCE)).unwrap().unwrap();
    say(
        "readded_removed",
        format_args!("{:?}", (exit.token == 5).then(|| code(&exit)).flatten()),
    );

    // A reported non-child handed back and added again: reported again at once.
    let mut orphan = Orphan::start("exit 0");
    let pidfd = PidFd::open(orphan.pid).unwrap();
    orphan.release();
    reaper.add_pidfd(pidfd, 6).unwrap();
    let exit = reaper.next_exit(Some(PATIENCE)).unwrap().unwrap();
    say(
        "non_child",
        format_args!("{:?}", exit.status.filter(|_| exit.token == 6)),
    );
    let Watched::PidFd(pidfd) = exit.watched else {
        panic!("added as a PidFd");
    };
    reaper.add_pidfd(pidfd, 7).unwrap();
    let exit = reaper.try_next_exit().unwrap().unwrap();
    say(
        "non_child_again",
        format_args!("{:?}", exit.status.filter(|_| exit.token == 7)),
    );
    say("len", reaper.len());
}

#[test]
fn pid_mode_fallback_with_pidfds_disabled() {
    let Some(out) = SCENARIOS.run("pid-mode:disabled", &[(probe::DISABLE_ENV, "1")]) else {
        return;
    };
    assert_pid_mode_fallback(&out);
}

#[test]
fn pid_mode_fallback_under_seccomp_enosys() {
    let Some(out) = SCENARIOS.run("pid-mode:seccomp", &[]) else {
        return;
    };
    assert_pid_mode_fallback(&out);
}

#[test]
#[ignore = "entry point for the re-exec'd children"]
fn scenario_child() {
    match SCENARIOS.current().as_str() {
        "eintr" => eintr_scenario(),
        "registrations" => registrations_scenario(),
        "pid-mode:disabled" => pid_mode_scenario(),
        "pid-mode:seccomp" => {
            let mut rules = seccomp::spawn_fallback_rules("pidfd");
            rules.push(seccomp::Rule {
                nr: pidfd_sys::nr::SYS_pidfd_open,
                when: seccomp::When::Always,
                errno: libc::ENOSYS,
            });
            // (Under qemu-user, which refuses filters, this reports the gap itself.)
            if seccomp::install_or_gap(&rules) {
                pid_mode_scenario();
            }
        }
        other => panic!("unknown scenario {other:?}"),
    }
    say("done", true);
}

/// Pid mode: 20 children exiting in random order, one that exited before being added, one
/// removed before its exit, and a non-child (refused).
fn pid_mode_scenario() {
    let start = |script: &str| {
        Spawn::new("sh")
            .args(["-c", script])
            .spawn()
            .unwrap()
            .into_process()
    };
    let early = start("exit 7");
    say("mode", format_args!("{:?}", early.mode()));
    let mut reaper = Reaper::new().unwrap();
    // Exited (not reaped) before being added: reported at once, with its status. (Waits
    // for the exit without reaping: waitid(WEXITED | WNOWAIT).)
    pidfd_tests::await_exit_without_reaping(early.pid()).unwrap();
    reaper.add(early, 7).unwrap();
    let exit = reaper.try_next_exit().unwrap();
    say(
        "early",
        format_args!("{:?}", exit.and_then(|exit| code(&exit))),
    );
    // Twenty children in a shuffled order of exit times.
    for i in 0..20 {
        let delay = (i * 7) % 20;
        let child = start(&format!("sleep 0.{delay:02}; exit {i}"));
        reaper.add(child, i).unwrap();
    }
    let removed = start("sleep 0.1; exit 9");
    let removed_key = reaper.add(removed, 99).unwrap();
    let (_, removed) = reaper.remove(removed_key).unwrap();
    // A pid-mode handle to a process that is not our child cannot be waited for.
    let non_child = Process::with_mode(1, Mode::Pid).unwrap();
    let refused = reaper.add(non_child, 100).unwrap_err();
    say("non_child", format_args!("{:?}", refused.kind()));
    let mut reported = 0;
    let mut wrong = 0;
    let mut removed_reported = false;
    while let Some(exit) = reaper.next_exit(Some(PATIENCE)).unwrap() {
        reported += 1;
        removed_reported |= exit.token == 99;
        if code(&exit) != Some(exit.token) {
            wrong += 1;
        }
    }
    say("reported", reported);
    say("wrong", wrong);
    say("removed_reported", removed_reported);
    let Watched::Process(removed) = removed else {
        panic!("added as a Process");
    };
    say("removed_wait", wait_outcome(removed.wait()));
    say("len", reaper.len());
}

/// A thread interrupts the waiting thread with `SIGUSR1` every 5 ms (handler without
/// `SA_RESTART`; `epoll_wait` is never restarted anyway): a timeout still runs its full
/// length, and an exit is still reported. The handler counts its runs on the waiting thread.
fn eintr_scenario() {
    let Some(process) = spawn_sh("sleep 0.3; exit 5") else {
        return;
    };
    let storm = Storm::at_this_thread(pidfd_sys::signal::SIGUSR1, Duration::from_millis(5));
    let mut reaper = Reaper::new().unwrap();
    reaper.add(process, ()).unwrap();
    let start = Instant::now();
    let early = reaper.next_exit(Some(Duration::from_millis(100))).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(100));
    say("early", if early.is_none() { "none" } else { "exit" });
    let exit = reaper.next_exit(Some(PATIENCE)).unwrap().unwrap();
    say("exit", code(&exit).map_or(-1, |code| code));
    say("hits_on_waiter", storm.hits_on_target());
    say("hits_elsewhere", storm.hits_elsewhere());
}
