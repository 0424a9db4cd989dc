//! PID reuse, both modes: reap a child through a `Process`, make the kernel hand its PID to a
//! new process, then signal through the old handle. It must fail with `ESRCH` and the new
//! process must be untouched — while a naive `kill(old_pid)` would have reached it
//! (checked, so this test can fail).
//!
//! The scenario runs in a private user + PID namespace of its own (no root needed): there it
//! may write `ns_last_pid`, and nothing else forks, so the PID comes back on the first try.

use pidfd_core::{Mode, PidFd, Process, Spawn};
use pidfd_sys::flags::{PidfdFlags, WaitIdOptions};
use pidfd_sys::signal::{SIGKILL, SIGTERM};
use pidfd_tests::scenario::{Scenarios, errno_of, say};
use pidfd_tests::{naive_kill, pid_steering, sh};

const SCENARIOS: Scenarios = Scenarios::new("PIDFD_CORE_REUSE_SCENARIO")
    .in_pid_namespace()
    .table(&[
        ("reuse", |_| reuse_scenario()),
        ("thief", |_| thief_scenario()),
    ]);

#[test]
#[ignore = "entry point for the re-exec'd scenario children"]
fn scenario_child() {
    SCENARIOS.dispatch();
}

fn reuse_scenario() {
    for mode in [Mode::PidFd, Mode::Pid] {
        let key = |what: &str| format!("{mode:?}:{what}");
        let old = sh("exec sleep 30");
        let old_pid = old.id();
        let process = Process::with_mode(old_pid, mode).unwrap();
        process.kill().unwrap();
        process.wait().unwrap();

        let new = pid_steering::sleeper_with_pid(old_pid);
        // Opened while `new` is certainly alive and unreaped: this is the new process.
        let new_pidfd = PidFd::open(new.id()).unwrap();
        say(&key("reused"), new.id() == old_pid);
        // The number is really reused: a naive kill(old_pid, 0) reaches the new process.
        say(&key("naive_reaches"), errno_of(naive_kill(old_pid, 0)));

        // Through the old handle: ESRCH, in both modes.
        say(&key("signal"), errno_of(process.send_signal(SIGTERM)));
        say(&key("kill"), errno_of(process.kill()));
        // The old handle still reports the old child's status.
        say(
            &key("old_status"),
            format!("{:?}", process.try_wait().map(|s| s.map(|s| s.code()))),
        );
        // The new process was not signalled: a fatal SIGTERM would have set its exit
        // signal at send time, so the SIGKILL sent now is what it dies of.
        new_pidfd.send_signal(SIGKILL).unwrap();
        let status = new_pidfd.wait().unwrap();
        say(
            &key("new_died_of"),
            format!(
                "{:?}",
                std::os::unix::process::ExitStatusExt::signal(&status)
            ),
        );
    }
}

#[test]
fn signalling_a_reaped_pid_never_reaches_its_new_owner() {
    let Some(out) = SCENARIOS.run("reuse", &[]) else {
        return;
    };
    for mode in ["PidFd", "Pid"] {
        let key = |what: &str| out[&format!("{mode}:{what}")].clone();
        assert_eq!(key("reused"), "true", "{out:?}");
        assert_eq!(
            key("naive_reaches"),
            "ok",
            "{mode}: PID not reused: {out:?}"
        );
        assert_eq!(key("signal"), libc::ESRCH.to_string(), "{mode}: {out:?}");
        assert_eq!(key("kill"), libc::ESRCH.to_string(), "{mode}: {out:?}");
        assert_eq!(key("old_status"), "Ok(Some(None))", "{mode}: {out:?}");
        assert_eq!(
            key("new_died_of"),
            format!("{:?}", Some(SIGKILL)),
            "{mode}: the new process was signalled through the old handle: {out:?}"
        );
    }
}

/// A pid-mode child of ours (spawned with `PIDFD_DISABLE=1`) reaped by a thief — a raw
/// `waitid` outside the handle — then its PID handed to a new process. Once the handle's wait
/// saw `ECHILD`, it knows its child is gone: no signal through it may reach the new owner.
fn thief_scenario() {
    let child = Spawn::new("true").spawn().unwrap();
    say("mode", format!("{:?}", child.mode()));
    let old_pid = child.pid();
    // The thief: a pidfd of its own (raw, not the library's) and a reaping waitid.
    let thief = pidfd_tests::pidfd_open(i32::try_from(old_pid).unwrap(), PidfdFlags::empty())
        .expect("pidfd_open");
    pidfd_tests::waitid(&thief, WaitIdOptions::EXITED).expect("the thief reaps");
    say("wait", errno_of(child.wait()));
    let new = pid_steering::sleeper_with_pid(old_pid);
    let new_pidfd = PidFd::open(new.id()).unwrap();
    say("naive_reaches", errno_of(naive_kill(old_pid, 0)));
    say("signal", errno_of(child.send_signal(SIGTERM)));
    say("wait_again", errno_of(child.wait()));
    new_pidfd.send_signal(SIGKILL).unwrap();
    let status = new_pidfd.wait().unwrap();
    say(
        "new_died_of",
        format!(
            "{:?}",
            std::os::unix::process::ExitStatusExt::signal(&status)
        ),
    );
}

#[test]
fn a_pid_mode_child_reaped_by_a_thief_is_never_signalled_once_its_wait_saw_echild() {
    let Some(out) = SCENARIOS.run("thief", &[(pidfd_core::probe::DISABLE_ENV, "1")]) else {
        return;
    };
    assert_eq!(out["mode"], "Pid", "{out:?}");
    assert_eq!(out["wait"], libc::ECHILD.to_string(), "{out:?}");
    assert_eq!(out["naive_reaches"], "ok", "PID not reused: {out:?}");
    assert_eq!(out["signal"], libc::ESRCH.to_string(), "{out:?}");
    assert_eq!(out["wait_again"], libc::ECHILD.to_string(), "{out:?}");
    assert_eq!(
        out["new_died_of"],
        format!("{:?}", Some(SIGKILL)),
        "the new owner of the PID was signalled through the old handle: {out:?}"
    );
}
