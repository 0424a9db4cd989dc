//! PID reuse, both modes: reap a child through a `Process`, make the kernel hand its PID to a
//! new process, then signal through the old handle. It must fail with `ESRCH` and the new
//! process must be untouched — while a naive `kill(old_pid)` would have reached it
//! (checked, so this test can fail).
//!
//! The scenario runs in a private user + PID namespace of its own (no root needed): there it
//! may write `ns_last_pid`, and nothing else forks, so the PID comes back on the first try.

use pidfd_core::{Mode, PidFd, Process};
use pidfd_sys::signal::{SIGKILL, SIGTERM};
use pidfd_tests::scenario::{Scenarios, errno_of, say};
use pidfd_tests::{naive_kill, pid_steering, sh};

const SCENARIOS: Scenarios = Scenarios::new("PIDFD_CORE_REUSE_SCENARIO")
    .in_pid_namespace()
    .table(&[("reuse", |_| reuse_scenario())]);

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
