//! `pidfd-std-ext` on the real kernel: `CommandExt::create_pidfd` and `ChildExt::pidfd` /
//! `into_pidfd` / `into_process` on std's `Command` and `Child`.
//!
//! Where the crate's probe refuses pidfds (`PIDFD_DISABLE=1`, an old kernel), the tests
//! that need them record a skip; the rest run.
//!
//! These tests share one process with each other (libtest threads), so none of them reaps
//! with `waitpid(-1)`, changes signal dispositions or counts process-wide fds: those are in
//! `std_ext_faults.rs`, in re-exec'd children.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use pidfd_core::Mode;
use pidfd_std_ext::{ChildExt, CommandExt, PidFd};

fn sh(script: &str) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

fn assert_not_found(result: io::Result<PidFd>) {
    let error = result.expect_err("a pidfd for a child spawned without create_pidfd(true)");
    assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
    assert!(error.to_string().contains("create_pidfd(true)"), "{error}");
}

#[test]
fn true_gives_its_own_pidfd_and_the_exit_status() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    let child = Command::new("true").create_pidfd(true).spawn().unwrap();
    let pidfd = child.pidfd().unwrap();
    assert_eq!(pidfd.pid().unwrap(), child.id());
    assert!(pidfd.wait().unwrap().success());

    let mut child = sh("exit 7").create_pidfd(true).spawn().unwrap();
    let pidfd = child.pidfd().unwrap();
    assert_eq!(pidfd.pid().unwrap(), child.id());
    assert_eq!(pidfd.wait().unwrap().code(), Some(7));
    // Reaped through the pidfd: std's own wait finds no child, and the pidfd is stale.
    assert_eq!(
        child.try_wait().unwrap_err().raw_os_error(),
        Some(libc::ECHILD)
    );
    assert_eq!(pidfd.pid().unwrap_err().raw_os_error(), Some(libc::ESRCH));
    // After the reap the child still yields its own (dead) pidfd: the same process.
    let again = child.pidfd().unwrap();
    assert_eq!(again.pid().unwrap_err().raw_os_error(), Some(libc::ESRCH));
    if let Ok(same) = again.is_same_process(&pidfd) {
        assert!(same, "a reaped child's pidfd must be its own");
    }
}

#[test]
fn each_pidfd_call_gives_an_independent_duplicate() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    let child = sh("exec sleep 30").create_pidfd(true).spawn().unwrap();
    let first = child.pidfd().unwrap();
    let second = child.pidfd().unwrap();
    assert_ne!(first.as_raw_fd(), second.as_raw_fd());
    assert_eq!(first.pid().unwrap(), child.id());
    drop(first);
    assert_eq!(
        second.pid().unwrap(),
        child.id(),
        "closing one keeps the other"
    );
    drop(second);
    let third = child.pidfd().unwrap();
    assert_eq!(
        third.pid().unwrap(),
        child.id(),
        "the registry keeps its own"
    );
    // Both refer to one process: is the running child still running?
    assert_eq!(third.try_wait().unwrap(), None);
    third.kill().unwrap();
    assert_eq!(
        third.wait().unwrap().signal(),
        Some(pidfd_sys::signal::SIGKILL)
    );
}

#[test]
fn kill_through_the_pidfd() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    let mut child = Command::new("sleep")
        .arg("30")
        .create_pidfd(true)
        .spawn()
        .unwrap();
    let pidfd = child.pidfd().unwrap();
    pidfd.kill().unwrap();
    // std's wait sees the kill.
    assert_eq!(
        child.wait().unwrap().signal(),
        Some(pidfd_sys::signal::SIGKILL)
    );
    assert_eq!(pidfd.kill().unwrap_err().raw_os_error(), Some(libc::ESRCH));
}

#[test]
fn into_pidfd_then_wait() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    let child = sh("exit 5").create_pidfd(true).spawn().unwrap();
    let id = child.id();
    let pidfd = child.into_pidfd().expect("into_pidfd");
    assert_eq!(pidfd.pid().unwrap(), id);
    assert_eq!(pidfd.wait().unwrap().code(), Some(5));
}

#[test]
fn into_process_then_wait() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    let child = sh("sleep 0.05; exit 6").create_pidfd(true).spawn().unwrap();
    let id = child.id();
    let process = child.into_process().expect("into_process");
    assert_eq!(process.mode(), Mode::PidFd);
    assert_eq!(process.pid(), id);
    assert_eq!(process.wait().unwrap().code(), Some(6));
    assert_eq!(process.wait().unwrap().code(), Some(6), "cached");
    assert_eq!(
        process.send_signal(0).unwrap_err().raw_os_error(),
        Some(libc::ESRCH)
    );
}

#[test]
fn without_create_pidfd_true_there_is_no_pidfd() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    // Never set.
    let mut child = sh("exit 0").spawn().unwrap();
    assert_not_found(child.pidfd());
    child.wait().unwrap();

    // Set to false only: nothing is recorded in the Command.
    let mut command = sh("exit 1");
    command.create_pidfd(false);
    assert_eq!(command.get_envs().count(), 0);
    let mut child = command.spawn().unwrap();
    assert_not_found(child.pidfd());
    assert_eq!(child.wait().unwrap().code(), Some(1));

    // true, then false: switched off.
    let mut command = sh("exit 2");
    command.create_pidfd(true).create_pidfd(false);
    let child = command.spawn().unwrap();
    assert_not_found(child.pidfd());
    // into_pidfd / into_process give the child back, still usable.
    let child = child.into_pidfd().expect_err("no pidfd to give");
    let mut child = child.into_process().expect_err("no pidfd to give");
    assert_eq!(child.wait().unwrap().code(), Some(2));

    // ... and true again: switched back on.
    command.create_pidfd(true);
    let child = command.spawn().unwrap();
    let pidfd = child.pidfd().unwrap();
    assert_eq!(pidfd.pid().unwrap(), child.id());
    assert_eq!(pidfd.wait().unwrap().code(), Some(2));
}

#[test]
fn the_last_create_pidfd_call_wins_and_the_command_is_left_as_it_was() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    let mut command = sh("exit 3");
    command
        .create_pidfd(true)
        .create_pidfd(true)
        .create_pidfd(false)
        .create_pidfd(true);
    assert_eq!(command.get_envs().count(), 0, "no environment change");
    let child = command.spawn().unwrap();
    let pidfd = child.pidfd().unwrap();
    assert_eq!(pidfd.pid().unwrap(), child.id());
    assert_eq!(pidfd.wait().unwrap().code(), Some(3));
    command.create_pidfd(false);
    let mut child = command.spawn().unwrap();
    assert_not_found(child.pidfd());
    assert_eq!(child.wait().unwrap().code(), Some(3));
    // Another Command is independent of this one.
    let mut other = sh("exit 5");
    other.create_pidfd(true);
    let child = other.spawn().unwrap();
    let pidfd = child.pidfd().unwrap();
    assert_eq!(pidfd.pid().unwrap(), child.id());
    assert_eq!(pidfd.wait().unwrap().code(), Some(5));
}

#[test]
fn the_pidfd_outlives_the_command() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    let mut command = sh("exit 9");
    command.create_pidfd(true);
    let first = command.spawn().unwrap();
    let second = command.spawn().unwrap();
    drop(command); // the children's messages stay queued on the process-wide socket
    for child in [first, second] {
        let pidfd = child.pidfd().unwrap();
        assert_eq!(pidfd.pid().unwrap(), child.id());
        assert_eq!(pidfd.wait().unwrap().code(), Some(9));
    }
}

#[test]
fn one_command_shared_by_four_threads() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    let command = {
        let mut command = sh("exit 4");
        command.create_pidfd(true);
        Arc::new(Mutex::new(command))
    };
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let command = Arc::clone(&command);
            std::thread::spawn(move || {
                for _ in 0..100 {
                    let child = command.lock().unwrap().spawn().unwrap();
                    let pidfd = child.pidfd().unwrap();
                    assert_eq!(pidfd.pid().unwrap(), child.id());
                    assert_eq!(pidfd.wait().unwrap().code(), Some(4));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn spawn_failure_is_std_s_own_error() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    let error = Command::new("/nonexistent/program")
        .create_pidfd(true)
        .spawn()
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    // The Command keeps working afterwards.
    let child = Command::new("true").create_pidfd(true).spawn().unwrap();
    assert!(child.pidfd().unwrap().wait().unwrap().success());
}

#[test]
fn stdio_and_environment_are_untouched() {
    let output = Command::new("sh")
        .args(["-c", "echo out; echo err >&2; env"])
        .env("PIDFD_STD_EXT_TEST_VAR", "kept")
        .create_pidfd(true)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("out\n"), "{stdout}");
    assert_eq!(output.stderr, b"err\n");
    assert!(stdout.contains("PIDFD_STD_EXT_TEST_VAR=kept"), "{stdout}");
    // The inherited environment is the parent's.
    let path = std::env::var("PATH").unwrap();
    assert!(stdout.contains(&format!("PATH={path}\n")), "{stdout}");
}

#[test]
fn many_children_of_one_command_waited_out_of_order() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    let mut command = sh("sleep 0.2; exit 11");
    command.create_pidfd(true);
    let children: Vec<_> = (0..50).map(|_| command.spawn().unwrap()).collect();
    // Nobody asked yet: every message is still queued in the socket.
    for child in children.iter().rev() {
        let pidfd = child.pidfd().unwrap();
        assert_eq!(pidfd.pid().unwrap(), child.id());
    }
    for child in children {
        let pidfd = child.into_pidfd().expect("into_pidfd");
        assert_eq!(pidfd.wait().unwrap().code(), Some(11));
    }
}
