//! Fault injection for waiting on a pidfd: an `EINTR` storm aimed at the waiting thread, a
//! `waitpid(-1)` thief thread, `SIGCHLD = SIG_IGN`.
//!
//! Each scenario changes process-wide state that cannot be undone (signal dispositions) or
//! reaps with `waitpid(-1)`, so it runs in a re-exec'd copy of this test binary (see
//! [`pidfd_tests::scenario`]); the parent test asserts on the `key=value` lines it prints.

#![allow(
    unsafe_code,
    reason = "scenarios reap with waitpid and set signal dispositions; each block says why"
)]

use std::time::{Duration, Instant};

use pidfd_core::PidFd;
use pidfd_tests::emulator::pidfd_info_exit_works;
use pidfd_tests::interrupt::Storm;
use pidfd_tests::scenario::{Scenarios, say, wait_outcome};
use pidfd_tests::sh;

/// The re-exec'd children of this file (`PIDFD_FAULT_SCENARIO=<scenario>`).
const SCENARIOS: Scenarios = Scenarios::new("PIDFD_FAULT_SCENARIO").table(&[
    ("eintr", |_| eintr_scenario()),
    ("thief", |_| thief_scenario()),
    ("sigchld-ignored", |_| sigchld_ignored_scenario()),
]);

/// The child side. Ignored in normal runs (it is only an entry point for the re-exec'd
/// children).
#[test]
#[ignore = "entry point for the re-exec'd fault-injection children"]
fn scenario_child() {
    SCENARIOS.dispatch();
}

// ---- an EINTR storm ----

/// `SIGALRM` sent to this (the waiting) thread every millisecond, handled without
/// `SA_RESTART`: each blocking wait keeps failing with EINTR, and the handler's per-thread
/// count proves the signals landed on the waiting thread.
fn eintr_scenario() {
    let storm = Storm::at_this_thread(pidfd_sys::signal::SIGALRM, Duration::from_millis(1));

    let child = sh("sleep 0.3; exit 7");
    let before = storm.hits_on_target();
    say(
        "wait",
        PidFd::open(child.id())
            .unwrap()
            .wait()
            .unwrap()
            .code()
            .unwrap(),
    );
    say("hits_during_wait", storm.hits_on_target() - before);
    let child = sh("exec sleep 30");
    let pidfd = PidFd::open(child.id()).unwrap();
    let started = Instant::now();
    let before = storm.hits_on_target();
    let early = pidfd.wait_timeout(Duration::from_millis(200)).unwrap();
    say("timeout_result", format!("{early:?}"));
    say("timeout_ms", started.elapsed().as_millis());
    say("hits_during_timeout", storm.hits_on_target() - before);
    pidfd.kill().unwrap();
    say(
        "after_kill",
        format!(
            "{:?}",
            pidfd
                .wait_timeout(Duration::from_secs(10))
                .unwrap()
                .map(|s| s.code())
        ),
    );
    say("hits_elsewhere", storm.hits_elsewhere());
}

#[test]
fn eintr_storm_does_not_break_wait_or_wait_timeout() {
    let Some(out) = SCENARIOS.run("eintr", &[]) else {
        return;
    };
    assert_eq!(out["wait"], "7", "{out:?}");
    assert_eq!(out["timeout_result"], "None");
    let waited: u128 = out["timeout_ms"].parse().unwrap();
    assert!(
        (200..5000).contains(&waited),
        "wait_timeout took {waited} ms"
    );
    assert_eq!(out["after_kill"], "Some(None)");
    // The handler ran on the waiting thread, over and over, while it waited.
    let hits = |key: &str| out[key].parse::<u32>().unwrap();
    assert!(hits("hits_during_wait") > 20, "{out:?}");
    assert!(hits("hits_during_timeout") > 20, "{out:?}");
    assert_eq!(hits("hits_elsewhere"), 0, "{out:?}");
}

// ---- a waitpid(-1) thief ----

/// A thread that reaps any child with `waitpid(-1)` until none is left; returns how many.
fn spawn_thief() -> std::thread::JoinHandle<u32> {
    std::thread::spawn(|| {
        let mut stolen = 0;
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes an int through a valid pointer.
            let pid = unsafe { libc::waitpid(-1, &raw mut status, 0) };
            if pid <= 0 {
                return stolen;
            }
            stolen += 1;
        }
    })
}

fn thief_scenario() {
    // 1. The thief reaps before we wait.
    let child = sh("exit 5");
    let pidfd = PidFd::open(child.id()).unwrap();
    say("stolen_first", spawn_thief().join().unwrap());
    say("wait_after_theft", wait_outcome(pidfd.wait()));
    // 2. The thief and our wait race for the same child.
    let child = sh("sleep 0.2; exit 6");
    let pidfd = PidFd::open(child.id()).unwrap();
    let thief = spawn_thief();
    let result = pidfd.wait();
    say("stolen_racing", thief.join().unwrap());
    say("wait_racing", wait_outcome(result));
}

#[test]
fn waitpid_thief_thread() {
    let Some(out) = SCENARIOS.run("thief", &[]) else {
        return;
    };
    assert_eq!(out["stolen_first"], "1", "{out:?}");
    let echild = libc::ECHILD.to_string();
    if pidfd_info_exit_works() {
        // PIDFD_INFO_EXIT recovers the stolen status; whoever wins the race, it is right.
        assert_eq!(out["wait_after_theft"], "exit Some(5)", "{out:?}");
        assert_eq!(out["wait_racing"], "exit Some(6)", "{out:?}");
    } else {
        assert_eq!(out["wait_after_theft"], echild, "{out:?}");
        let expected = if out["stolen_racing"] == "1" {
            echild
        } else {
            "exit Some(6)".to_owned()
        };
        assert_eq!(out["wait_racing"], expected, "{out:?}");
    }
}

// ---- SIGCHLD ignored ----

fn sigchld_ignored_scenario() {
    // SAFETY: SIG_IGN for SIGCHLD: the kernel reaps children itself.
    unsafe { libc::signal(pidfd_sys::signal::SIGCHLD, libc::SIG_IGN) };
    let child = sh("sleep 0.1; exit 5");
    let pidfd = PidFd::open(child.id()).unwrap();
    say("wait", wait_outcome(pidfd.wait()));
}

#[test]
fn sigchld_ignored() {
    let Some(out) = SCENARIOS.run("sigchld-ignored", &[]) else {
        return;
    };
    if pidfd_info_exit_works() {
        assert_eq!(out["wait"], "exit Some(5)", "{out:?}");
    } else {
        assert_eq!(out["wait"], libc::ECHILD.to_string(), "{out:?}");
    }
}
