//! PID reuse, both modes: reap a child through a `Process`, make the kernel hand its PID to a
//! new process (root writes `/proc/sys/kernel/ns_last_pid`), then signal through the old
//! handle. It must fail with `ESRCH` and the new process must be untouched — while a naive
//! `kill(old_pid)` would have reached it (checked, so this test can fail).
//!
//! Alone in its binary: nothing else may start processes while the PID is being steered.

use std::time::Duration;

use pidfd_core::{Mode, PidFd, Process};
use pidfd_sys::signal::SIGTERM;
use pidfd_tests::{TestChild, naive_kill, pid_steering, sh};

/// Starts `exec sleep 30` as PID `pid`.
fn start_with_pid(pid: u32) -> TestChild {
    pid_steering::start_with_pid(
        pid,
        || {
            let child = sh("exec sleep 30");
            (child.id(), child)
        },
        |stray| {
            let stray_pidfd = PidFd::open(stray.id()).unwrap();
            stray_pidfd.kill().unwrap();
            stray_pidfd.wait().unwrap();
        },
    )
}

#[test]
fn signalling_a_reaped_pid_never_reaches_its_new_owner() {
    for mode in [Mode::PidFd, Mode::Pid] {
        let old = sh("exec sleep 30");
        let old_pid = old.id();
        let process = Process::with_mode(old_pid, mode).unwrap();
        process.kill().unwrap();
        process.wait().unwrap();

        let new = start_with_pid(old_pid);
        let new_pidfd = PidFd::open(new.id()).unwrap();
        // The number is really reused: a naive kill(old_pid, 0) reaches the new process.
        naive_kill(old_pid, 0)
            .unwrap_or_else(|e| panic!("{mode:?}: PID {old_pid} not reused: {e}"));

        // Through the old handle: ESRCH, in both modes.
        let error = process.signal(SIGTERM).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ESRCH), "{mode:?}");
        assert_eq!(
            process.kill().unwrap_err().raw_os_error(),
            Some(libc::ESRCH)
        );
        // The old handle still reports the old child's status.
        assert_eq!(process.try_wait().unwrap().unwrap().code(), None);

        // The new process is alive and was not signalled.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            new_pidfd.try_wait().unwrap(),
            None,
            "{mode:?}: the new process died"
        );
        new_pidfd.send_signal(0).unwrap();
        new_pidfd.kill().unwrap();
        new_pidfd.wait().unwrap();
    }
}
