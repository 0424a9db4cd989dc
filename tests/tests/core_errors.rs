//! The errors users match: `pidfd_core::error::is_gone` on real reaped processes, and
//! `is_unsupported` for the refusals of an old kernel or a sandbox — simulated with seccomp
//! filters that answer exactly what an older kernel answers (`ENOSYS` for a missing
//! syscall, `EINVAL` for an unknown `idtype` or flag).
//!
//! The filters cannot be undone, so each runs in a re-exec'd copy of this test binary (see
//! [`pidfd_tests::scenario`]); the parent test asserts on the `key=value` lines it prints.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use pidfd_core::{Mode, OpenFlags, PidFd, Process, SignalFlags, error};
use pidfd_sys::flags::PidfdFlags;
use pidfd_sys::nr;
use pidfd_sys::signal::{NSIG, SIGKILL, SIGTERM, SIGUSR1};
use pidfd_tests::scenario::{self, Report, Scenarios, say};
use pidfd_tests::seccomp::{self, Rule, When};
use pidfd_tests::{kernel, sh};

/// The re-exec'd children of this file (`PIDFD_ERRORS_SCENARIO=<scenario>`).
const SCENARIOS: Scenarios =
    Scenarios::new("PIDFD_ERRORS_SCENARIO").table(&[("refused", refused_scenario)]);

/// The child side. Ignored in normal runs (it is only an entry point for the re-exec'd
/// children).
#[test]
#[ignore = "entry point for the re-exec'd children"]
fn scenario_child() {
    SCENARIOS.dispatch();
}

/// What the predicates say about `result`'s error, as `key_*` lines: `ok`, or the error's
/// kind, the errno [`error::errno`] finds, [`error::is_gone`], [`error::is_unsupported`],
/// and its message.
fn say_error<T>(key: &str, result: io::Result<T>) {
    match result {
        Ok(_) => say(key, "ok"),
        Err(e) => {
            say(key, "err");
            say(&format!("{key}_kind"), format!("{:?}", e.kind()));
            say(
                &format!("{key}_errno"),
                error::errno(&e).map_or_else(|| "none".to_owned(), |errno| errno.to_string()),
            );
            say(&format!("{key}_gone"), error::is_gone(&e));
            say(&format!("{key}_unsupported"), error::is_unsupported(&e));
            say(&format!("{key}_message"), e.to_string().replace('\n', " "));
        }
    }
}

/// Asserts that `key` failed as `Unsupported`, keeping the errno `errno`, neither gone nor
/// anything else, with `needs` (e.g. "Linux 5.4") in the message when given.
fn assert_unsupported(out: &Report, key: &str, errno: i32, needs: Option<&str>) {
    assert_eq!(out[key], "err", "{key}: {out:?}");
    assert_eq!(out[&format!("{key}_kind")], "Unsupported", "{key}: {out:?}");
    assert_eq!(out[&format!("{key}_unsupported")], "true", "{key}");
    assert_eq!(out[&format!("{key}_gone")], "false", "{key}");
    assert_eq!(out[&format!("{key}_errno")], errno.to_string(), "{key}");
    if let Some(needs) = needs {
        let message = &out[&format!("{key}_message")];
        assert!(message.contains(needs), "{key}: {message}");
        assert!(message.contains("EINVAL"), "{key}: {message}");
    }
}

/// Asserts that `key` failed with the raw `EINVAL` (`InvalidInput`): the caller's mistake,
/// or a refusal that cannot be told apart from one.
fn assert_invalid_input(out: &Report, key: &str) {
    assert_eq!(out[key], "err", "{key}: {out:?}");
    assert_eq!(
        out[&format!("{key}_kind")],
        "InvalidInput",
        "{key}: {out:?}"
    );
    assert_eq!(
        out[&format!("{key}_errno")],
        libc::EINVAL.to_string(),
        "{key}"
    );
    assert_eq!(out[&format!("{key}_unsupported")], "false", "{key}");
}

// ---- is_gone on real processes ----

#[test]
fn a_reaped_childs_pidfd_is_gone_and_a_zombie_is_not() {
    let child = sh("exit 7");
    let pidfd = PidFd::open(child.id()).unwrap();
    // Readable once it has exited; not reaped yet: a zombie still exists.
    assert!(pidfd.wait_for_exit(None).unwrap());
    pidfd.send_signal(0).unwrap();
    assert_eq!(pidfd.wait().unwrap().code(), Some(7));
    for error in [
        pidfd.send_signal(SIGTERM).unwrap_err(),
        pidfd.send_signal(0).unwrap_err(),
        pidfd.kill().unwrap_err(),
    ] {
        assert!(error::is_gone(&error), "{error}");
        assert!(!error::is_unsupported(&error), "{error}");
        assert_eq!(error.raw_os_error(), Some(libc::ESRCH));
        assert_eq!(error::errno(&error), Some(libc::ESRCH));
    }
    // Waiting again: the status is gone with the process (ECHILD before Linux 6.15, which
    // keeps it): not what is_gone matches.
    if let Err(error) = pidfd.wait() {
        assert_eq!(error.raw_os_error(), Some(libc::ECHILD), "{error}");
        assert!(!error::is_gone(&error));
    }
}

#[test]
fn a_reaped_process_is_gone_in_both_modes() {
    for mode in [Mode::PidFd, Mode::Pid] {
        let child = sh("exit 9");
        let process = Process::with_mode(child.id(), mode).unwrap();
        assert_eq!(process.mode(), mode);
        assert_eq!(process.wait().unwrap().code(), Some(9), "{mode:?}");
        let error = process.kill().unwrap_err();
        assert!(error::is_gone(&error), "{mode:?}: {error}");
        assert!(!error::is_unsupported(&error), "{mode:?}");
    }
}

#[test]
fn opening_a_process_that_is_not_there_is_gone() {
    // A PID above the kernel's limit (pid_max is at most 2^22) names no process.
    let error = PidFd::open(1 << 23).unwrap_err();
    assert!(error::is_gone(&error), "{error}");
    let error = Process::find(1 << 23).unwrap_err();
    assert!(error::is_gone(&error), "{error}");
    // pid 0 is the caller's mistake, found before any syscall: no errno at all.
    let error = PidFd::open(0).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(!error::is_gone(&error) && !error::is_unsupported(&error));
    assert_eq!(error::errno(&error), None);
}

// ---- the caller's mistakes stay InvalidInput, whatever the kernel ----

#[test]
fn a_bad_signal_or_two_scopes_with_a_flag_stay_invalid_input() {
    let child = sh("exec sleep 30");
    let pidfd = PidFd::open(child.id()).unwrap();
    for (signal, flags) in [
        (NSIG + 1, SignalFlags::THREAD_GROUP),
        (-1, SignalFlags::THREAD_GROUP),
        (SIGTERM, SignalFlags::THREAD | SignalFlags::THREAD_GROUP),
        (SIGTERM, SignalFlags::from_bits_retain(1 << 30)),
    ] {
        let error = pidfd.send_signal_with(signal, flags).unwrap_err();
        assert_eq!(
            error.kind(),
            io::ErrorKind::InvalidInput,
            "{signal} {flags:?}"
        );
        assert_eq!(error.raw_os_error(), Some(libc::EINVAL));
        assert!(!error::is_unsupported(&error));
    }
    // Nothing was sent: the child still runs.
    assert_eq!(pidfd.wait_timeout(Duration::ZERO).unwrap(), None);
    pidfd.kill().unwrap();
    assert_eq!(pidfd.wait().unwrap().signal(), Some(SIGKILL));
}

// ---- this kernel's answers for the flags, as the probe sees them ----

#[test]
fn signal_flags_work_or_are_unsupported() {
    let child = sh("exec sleep 30");
    let pidfd = PidFd::open(child.id()).unwrap();
    let result = pidfd.send_signal_with(0, SignalFlags::THREAD_GROUP);
    if kernel::pidfd_signal_flags() {
        result.unwrap();
    } else {
        let error = result.unwrap_err();
        assert!(error::is_unsupported(&error), "{error}");
        assert_eq!(error::errno(&error), Some(libc::EINVAL));
    }
    pidfd.kill().unwrap();
    assert_eq!(pidfd.wait().unwrap().signal(), Some(SIGKILL));
}

#[test]
fn open_flags_work_or_are_unsupported() {
    if pidfd_tests::emulator::pidfd_flags_gap() {
        return;
    }
    let features = pidfd_core::probe::features().unwrap();
    if features.disabled_by_env {
        pidfd_tests::emulator::skip("PIDFD_DISABLE=1: open_with cannot tell a refused flag");
        return;
    }
    let child = sh("exec sleep 30");
    for (flags, supported) in [
        (OpenFlags::NONBLOCK, features.nonblock),
        (OpenFlags::THREAD, features.thread),
    ] {
        match PidFd::open_with(child.id(), flags) {
            Ok(pidfd) => {
                assert!(supported, "{flags:?} worked, the probe said no");
                pidfd.send_signal(0).unwrap();
            }
            Err(error) => {
                assert!(!supported, "{flags:?}: {error}");
                assert!(error::is_unsupported(&error), "{flags:?}: {error}");
                assert_eq!(error::errno(&error), Some(libc::EINVAL));
            }
        }
    }
}

// ---- refusals of an older kernel or a sandbox, under seccomp ----

/// `refused:<case>`: installs the filter of `case`, then reports what the calls it affects
/// say (see [`say_error`]).
fn refused_scenario(args: &[&str]) {
    let [case] = scenario::args(args);
    let rule = |nr, when, errno| Rule { nr, when, errno };
    let rules = match case {
        // A kernel before 5.3, or a sandbox that answers ENOSYS / EPERM for pidfd_open.
        "open-enosys" => vec![rule(nr::SYS_pidfd_open, When::Always, libc::ENOSYS)],
        "open-eperm" => vec![rule(nr::SYS_pidfd_open, When::Always, libc::EPERM)],
        // A kernel before 5.4: waitid knows no P_PIDFD.
        "waitid-einval" => vec![rule(nr::SYS_waitid, When::Always, libc::EINVAL)],
        // A kernel before 5.10: pidfd_open knows no PIDFD_NONBLOCK.
        "open-nonblock-einval" => vec![rule(
            nr::SYS_pidfd_open,
            When::Arg1Is(PidfdFlags::NONBLOCK.bits()),
            libc::EINVAL,
        )],
        // The kernel's EINVAL for SIGUSR1 only: with a flag, as from a kernel before 6.9 that
        // checks the flags first; without, as for an invalid signal.
        "signal-einval" => vec![rule(
            nr::SYS_pidfd_send_signal,
            When::Arg1Is(SIGUSR1.unsigned_abs()),
            libc::EINVAL,
        )],
        // EINVAL for every signal, flags or not (as for a PID namespace we may not signal
        // into): cannot be told apart from a bad argument.
        "signal-einval-all" => vec![rule(nr::SYS_pidfd_send_signal, When::Always, libc::EINVAL)],
        other => panic!("no case {other}"),
    };
    // Opened before the filter where the case needs a pidfd of a running child.
    let child = sh("exec sleep 30");
    let pidfd = PidFd::open(child.id()).unwrap();
    if !seccomp::install_or_gap(&rules) {
        return;
    }
    match case {
        "open-enosys" | "open-eperm" => {
            say_error("open", PidFd::open(child.id()));
            say_error("current", PidFd::current());
        }
        "waitid-einval" => {
            say_error("wait", pidfd.wait());
            say_error("try_wait", pidfd.try_wait());
            say_error("wait_timeout", pidfd.wait_timeout(Duration::ZERO));
            say_error("wait_with_rusage", pidfd.wait_with_rusage());
            // A Process in pidfd mode (forced: the probe would say pid mode here) waits for
            // readiness first, then reaps with waitid: kill the child so that it gets there.
            let process = Process::from_pidfd_with_pid(pidfd, child.id());
            process.kill().unwrap();
            say_error("process_wait", process.wait());
            // (The child is reaped by `child`'s drop, through wait4.)
            return;
        }
        "open-nonblock-einval" => {
            say_error(
                "open_nonblock",
                PidFd::open_with(child.id(), OpenFlags::NONBLOCK),
            );
            say_error("open_plain", PidFd::open(child.id()));
        }
        "signal-einval" | "signal-einval-all" => {
            say_error(
                "signal_flag",
                pidfd.send_signal_with(SIGUSR1, SignalFlags::THREAD_GROUP),
            );
            say_error("signal_plain", pidfd.send_signal(SIGUSR1));
            // Still running: SIGUSR1 (which would end sleep) never reached it.
            say(
                "alive",
                pidfd.wait_timeout(Duration::ZERO).unwrap().is_none(),
            );
            if case == "signal-einval-all" {
                // No pidfd signal gets through: `child`'s drop kills and reaps it by PID.
                return;
            }
        }
        _ => unreachable!(),
    }
    pidfd.kill().unwrap();
    assert_eq!(pidfd.wait().unwrap().signal(), Some(SIGKILL));
}

#[test]
fn enosys_from_pidfd_open_is_unsupported() {
    let Some(out) = SCENARIOS.run("refused:open-enosys", &[]) else {
        return;
    };
    for key in ["open", "current"] {
        assert_unsupported(&out, key, libc::ENOSYS, None);
    }
}

#[test]
fn eperm_from_a_filter_is_permission_denied_not_unsupported() {
    let Some(out) = SCENARIOS.run("refused:open-eperm", &[]) else {
        return;
    };
    for key in ["open", "current"] {
        assert_eq!(out[&format!("{key}_kind")], "PermissionDenied", "{out:?}");
        assert_eq!(out[&format!("{key}_unsupported")], "false");
        assert_eq!(out[&format!("{key}_errno")], libc::EPERM.to_string());
    }
}

#[test]
fn einval_from_waitid_p_pidfd_is_unsupported() {
    let Some(out) = SCENARIOS.run("refused:waitid-einval", &[]) else {
        return;
    };
    for key in [
        "wait",
        "try_wait",
        "wait_timeout",
        "wait_with_rusage",
        "process_wait",
    ] {
        assert_unsupported(&out, key, libc::EINVAL, Some("Linux 5.4"));
    }
}

#[test]
fn einval_for_pidfd_nonblock_is_unsupported() {
    let Some(out) = SCENARIOS.run("refused:open-nonblock-einval", &[]) else {
        return;
    };
    assert_unsupported(&out, "open_nonblock", libc::EINVAL, Some("Linux 5.10"));
    assert!(out["open_nonblock_message"].contains("PIDFD_NONBLOCK"));
    assert_eq!(out["open_plain"], "ok", "{out:?}");
}

#[test]
fn einval_for_a_signal_flag_is_unsupported_only_when_the_flag_was_refused() {
    let Some(out) = SCENARIOS.run("refused:signal-einval", &[]) else {
        return;
    };
    assert_unsupported(&out, "signal_flag", libc::EINVAL, Some("Linux 6.9"));
    assert_invalid_input(&out, "signal_plain");
    assert_eq!(out["alive"], "true");

    let Some(out) = SCENARIOS.run("refused:signal-einval-all", &[]) else {
        return;
    };
    assert_invalid_input(&out, "signal_flag");
    assert_invalid_input(&out, "signal_plain");
    assert_eq!(out["alive"], "true");
}
