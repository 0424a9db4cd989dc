//! `pidfd_core::Reaper` against the real kernel: a thousand children exiting in random
//! order, children dead before being added, removal, non-children, a child reaped by
//! someone else, a hand-written `poll(2)` loop on the epoll fd, timeouts, `EINTR`, and the
//! pid-mode fallback (re-exec'd children with `PIDFD_DISABLE=1` and with seccomp refusing
//! every pidfd).

#![allow(
    unsafe_code,
    reason = "rlimits, poll(2), waitpid and a signal handler in the tests; each block says why"
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pidfd_core::{Exit, Mode, PidFd, Process, Reaper, Spawn, Watched, probe};
use pidfd_tests::emulator::{gap, pidfd_info_exit_works};
use pidfd_tests::scenario::{Scenarios, say, wait_outcome};
use pidfd_tests::seccomp;

const SCENARIOS: Scenarios = Scenarios::new("PIDFD_REAPER_SCENARIO");

/// The long wait for exits that must come.
const PATIENCE: Duration = Duration::from_secs(60);

/// `sh -c script` through `pidfd_core::Spawn`, as a pidfd-mode process. Under qemu-user
/// (which refuses every CLONE_PIDFD flavour) Spawn falls back to pid mode; the still
/// unreaped child is then taken over with `pidfd_open`, which qemu supports. (`Option` for
/// the callers' sake: always `Some`.)
fn spawn_sh(script: &str) -> Option<Process> {
    let process = Spawn::new("sh")
        .args(["-c", script])
        .spawn()
        .expect("spawn sh");
    if process.mode() == Mode::Pid {
        assert!(
            pidfd_tests::emulator::emulator().is_some(),
            "Spawn gave a pid-mode process on a real kernel"
        );
        let pid = process.pid();
        // The child is ours and not reaped (a pid-mode Process reaps only when waited on),
        // so the PID still names it.
        process.release();
        return Some(Process::with_mode(pid, Mode::PidFd).expect("pidfd_open on our child"));
    }
    Some(process)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
#[allow(
    clippy::useless_conversion,
    reason = "rlim_t is 32-bit on 32-bit targets"
)]
fn raise_nofile() -> u64 {
    // SAFETY: rlimit is plain data; all-zero is valid.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `limit` is a live, writable rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
    assert_eq!(rc, 0, "getrlimit");
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: raising the soft limit up to the hard limit is always allowed.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
        assert_eq!(rc, 0, "setrlimit");
    }
    u64::from(limit.rlim_cur)
}

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
fn a_thousand_children_are_each_reported_once_with_their_status() {
    let limit = raise_nofile();
    // Two fds per child (the Process's pidfd and the reaper's duplicate), plus headroom for
    // the other tests of this binary running in parallel.
    let wanted: u64 = 1000;
    let count = wanted.min(limit.saturating_sub(300) / 2);
    if count < wanted {
        eprintln!("RLIMIT_NOFILE hard limit {limit}: only {count} children");
    }
    let count = usize::try_from(count).unwrap();
    let mut reaper = Reaper::new().unwrap();
    let mut expected = HashMap::new();
    let mut seed: u32 = 0x9e37_79b9;
    for i in 0..count {
        // xorshift: delays of 0-99 ms in random order.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let delay = seed % 100;
        let exit_code = i32::try_from(i % 256).unwrap();
        let Some(process) = spawn_sh(&format!("sleep 0.{delay:03}; exit {exit_code}")) else {
            return;
        };
        let key = reaper.add(process, (i, exit_code)).unwrap();
        expected.insert(key, (i, exit_code));
    }
    assert_eq!(reaper.len(), count);
    let mut seen = vec![false; count];
    let deadline = Instant::now() + PATIENCE;
    while !reaper.is_empty() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let exit = reaper
            .next_exit(Some(remaining))
            .unwrap()
            .unwrap_or_else(|| panic!("{} exits missing after {PATIENCE:?}", reaper.len()));
        let (i, exit_code) = exit.token;
        assert_eq!(
            expected.remove(&exit.key),
            Some(exit.token),
            "key and token"
        );
        assert!(!seen[i], "child {i} reported twice");
        seen[i] = true;
        assert_eq!(code(&exit), Some(exit_code), "child {i}");
        let Watched::Process(process) = &exit.watched else {
            panic!("added as a Process")
        };
        // Reaped: the handle has the status cached and refuses to signal.
        assert_eq!(process.try_wait().unwrap(), exit.status);
        assert_eq!(
            process.kill().unwrap_err().raw_os_error(),
            Some(libc::ESRCH)
        );
    }
    assert!(seen.iter().all(|&seen| seen));
    assert!(expected.is_empty());
    assert!(reaper.try_next_exit().unwrap().is_none());
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

/// Starts `sh -c 'sleep <secs> & echo $!'` and returns the grandchild's PID (the `sh` is
/// waited for: the grandchild is then nobody's child of ours).
fn grandchild(secs: &str) -> u32 {
    let mut sh = Command::new("sh")
        .args(["-c", &format!("sleep {secs} & echo $!")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sh.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(sh.wait().unwrap().success());
    line.trim().parse().unwrap()
}

#[test]
fn non_children_are_reported_when_they_exit() {
    let mut reaper = Reaper::new().unwrap();
    let first = grandchild("0.3");
    let second = grandchild("0.3");
    reaper
        .add_pidfd(PidFd::open(first).unwrap(), "pidfd")
        .unwrap();
    let process = Process::find(second).unwrap();
    if process.mode() == Mode::Pid {
        assert!(gap("Process::find gives pid mode under qemu-user"));
        return;
    }
    reaper.add(process, "process").unwrap();
    let start = Instant::now();
    // Running non-children are not reported (waitid would say ECHILD for them already).
    assert!(reaper.try_next_exit().unwrap().is_none());
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
    let Some(process) = spawn_sh("sleep 30") else {
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
    assert_eq!(out["early"], "none");
    assert_eq!(out["exit"], "5");
    assert_eq!(out["interrupted"], "true");
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
/// duplicate the user keeps never leaves the epoll fd readable after the exit, and handles
/// given back (removed or reported) can be added again.
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
    let long = spawn_sh("sleep 30").unwrap();
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
    let pidfd = PidFd::open(grandchild("0.1")).unwrap();
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
    let start = |script: &str| Spawn::new("sh").args(["-c", script]).spawn().unwrap();
    let early = start("exit 7");
    say("mode", format_args!("{:?}", early.mode()));
    let mut reaper = Reaper::new().unwrap();
    // Exited (not reaped) before being added: reported at once, with its status.
    std::thread::sleep(Duration::from_millis(200));
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

extern "C" fn on_usr1(_: libc::c_int) {}

/// A thread interrupts the waiting thread with `SIGUSR1` every 5 ms (handler without
/// `SA_RESTART`; `epoll_wait` is never restarted anyway): a timeout still runs its full
/// length, and an exit is still reported.
fn eintr_scenario() {
    pidfd_tests::install_interrupting_handler(pidfd_sys::signal::SIGUSR1, on_usr1);
    let Some(process) = spawn_sh("sleep 0.3; exit 5") else {
        return;
    };
    // SAFETY: the calling thread's own id.
    let waiter = unsafe { libc::pthread_self() };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let interrupter = {
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: `waiter` is alive until `stop` is set and this thread joined.
                unsafe { libc::pthread_kill(waiter, pidfd_sys::signal::SIGUSR1) };
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let mut reaper = Reaper::new().unwrap();
    reaper.add(process, ()).unwrap();
    let start = Instant::now();
    let early = reaper.next_exit(Some(Duration::from_millis(100))).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(100));
    say("early", if early.is_none() { "none" } else { "exit" });
    let exit = reaper.next_exit(Some(PATIENCE)).unwrap().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    interrupter.join().unwrap();
    say("exit", code(&exit).map_or(-1, |code| code));
    say(
        "interrupted",
        sent.load(std::sync::atomic::Ordering::Relaxed) > 10,
    );
}
