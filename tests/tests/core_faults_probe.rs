//! Fault injection for `pidfd-core`'s probe and pidfd calls: seccomp filters on each pidfd
//! syscall, `PIDFD_DISABLE`, an fd table with no room left.
//!
//! Each scenario changes process-wide state that cannot be undone (a seccomp filter, the fd
//! table), so it runs in a re-exec'd copy of this test binary (see
//! [`pidfd_tests::scenario`]); the parent test asserts on the `key=value` lines it prints.

use std::io;

use pidfd_core::probe::{self, Features};
use pidfd_core::{PidFd, Process};
use pidfd_sys::nr;
use pidfd_tests::scenario::{self, Report, Scenarios, errno_of, say, wait_outcome};
use pidfd_tests::{seccomp, sh};

/// The re-exec'd children of this file (`PIDFD_FAULT_SCENARIO=<scenario>`).
const SCENARIOS: Scenarios = Scenarios::new("PIDFD_FAULT_SCENARIO").table(&[
    ("seccomp", seccomp_scenario),
    ("probe", |_| probe_scenario()),
    ("emfile", |_| emfile_scenario()),
]);

/// The child side. Ignored in normal runs (it is only an entry point for the re-exec'd
/// children).
#[test]
#[ignore = "entry point for the re-exec'd fault-injection children"]
fn scenario_child() {
    SCENARIOS.dispatch();
}

fn say_features(features: &Features) {
    say("pidfd_open", features.pidfd_open);
    say("waitid_pidfd", features.waitid_pidfd);
    say("send_signal", features.send_signal);
    say("pidfd_mode", features.pidfd_mode());
    say("disabled_by_env", features.disabled_by_env);
}

/// A `Process` found for a child: its mode, and the pid-mode-or-not semantics.
fn process_scenario() {
    let child = sh("sleep 0.05; exit 12");
    let process = Process::find(child.id()).unwrap();
    say("process_mode", format!("{:?}", process.mode()));
    say("process_wait", wait_outcome(process.wait()));
    say("process_wait_again", wait_outcome(process.wait()));
    say("process_signal_after", errno_of(process.send_signal(0)));
}

/// What `process_scenario` printed, for a handle in `mode`.
fn assert_process_in_mode(out: &Report, mode: &str) {
    assert_eq!(out["process_mode"], mode, "{out:?}");
    assert_eq!(out["process_wait"], "exit Some(12)");
    assert_eq!(out["process_wait_again"], "exit Some(12)", "cached");
    assert_eq!(out["process_signal_after"], libc::ESRCH.to_string());
}

// ---- seccomp filters on the pidfd syscalls ----

/// `seccomp:<syscall>:<errno>`: `syscall` fails with `errno` from here on; what the probe
/// and the pidfd calls say then.
fn seccomp_scenario(args: &[&str]) {
    let [syscall, errno] = scenario::args(args);
    let errno: i32 = errno.parse().unwrap();
    let number = match syscall {
        "pidfd_open" => nr::SYS_pidfd_open,
        "pidfd_send_signal" => nr::SYS_pidfd_send_signal,
        "waitid" => nr::SYS_waitid,
        "pidfd_getfd" => nr::SYS_pidfd_getfd,
        "ioctl" => libc::SYS_ioctl,
        other => panic!("no rule for {other}"),
    };
    if !seccomp::fail_syscalls_or_gap(&[(number, errno)]) {
        return;
    }
    let features = probe::features().unwrap();
    if syscall != "waitid" {
        // (with waitid failing, no mode can wait)
        process_scenario();
    }
    say_features(&features);
    say("get_info", features.get_info);
    let own = PidFd::current();
    say(
        "getfd",
        errno_of(
            own.as_ref()
                .map_err(|e| io::Error::from(e.kind()))
                .and_then(|own| own.get_fd(0)),
        ),
    );
    say(
        "own_pid_matches",
        own.is_ok_and(|own| own.pid().is_ok_and(|pid| pid == std::process::id())),
    );
    let child = sh("exit 3");
    let pidfd = PidFd::open(child.id());
    say(
        "open",
        errno_of(
            pidfd
                .as_ref()
                .map(drop)
                .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(0))),
        ),
    );
    match pidfd {
        Ok(pidfd) => {
            say("signal", errno_of(pidfd.send_signal(0)));
            say("wait", wait_outcome(pidfd.wait()));
            say("pid_after_reap", errno_of(pidfd.pid()));
        }
        Err(_) => {
            say("signal", "no-pidfd");
            say("wait", "no-pidfd");
            say("pid_after_reap", "no-pidfd");
        }
    }
}

#[test]
fn seccomp_enosys_and_eperm_make_the_probe_say_unsupported() {
    for errno in [libc::ENOSYS, libc::EPERM] {
        let Some(out) = SCENARIOS.run(&format!("seccomp:pidfd_open:{errno}"), &[]) else {
            return;
        };
        assert_eq!(out["pidfd_open"], "false", "{out:?}");
        assert_process_in_mode(&out, "Pid");
        assert_eq!(out["pidfd_mode"], "false");
        assert_eq!(
            out["open"],
            errno.to_string(),
            "open fails with the filter's errno"
        );

        let Some(out) = SCENARIOS.run(&format!("seccomp:pidfd_send_signal:{errno}"), &[]) else {
            return;
        };
        assert_eq!(
            (out["pidfd_open"].as_str(), out["send_signal"].as_str()),
            ("true", "false")
        );
        assert_eq!(out["pidfd_mode"], "false");
        assert_process_in_mode(&out, "Pid");
        assert_eq!(out["signal"], errno.to_string());
        assert_eq!(out["wait"], "exit Some(3)", "waiting still works");

        let Some(out) = SCENARIOS.run(&format!("seccomp:waitid:{errno}"), &[]) else {
            return;
        };
        assert_eq!(
            (out["pidfd_open"].as_str(), out["waitid_pidfd"].as_str()),
            ("true", "false")
        );
        assert_eq!(out["pidfd_mode"], "false");
        assert_eq!(out["signal"], "ok");
        assert_eq!(out["wait"], errno.to_string());
    }
}

#[test]
fn seccomp_on_getfd_and_ioctl() {
    for errno in [libc::ENOSYS, libc::EPERM] {
        let Some(out) = SCENARIOS.run(&format!("seccomp:pidfd_getfd:{errno}"), &[]) else {
            return;
        };
        assert_eq!(out["pidfd_mode"], "true", "{out:?}");
        assert_eq!(out["getfd"], errno.to_string());
    }
    // No PIDFD_GET_INFO (as before Linux 6.13): pid() falls back to /proc/self/fdinfo and
    // still gives the right number.
    let Some(out) = SCENARIOS.run(&format!("seccomp:ioctl:{}", libc::ENOTTY), &[]) else {
        return;
    };
    assert_eq!(out["get_info"], "false", "{out:?}");
    assert_eq!(out["pidfd_mode"], "true");
    assert_eq!(out["own_pid_matches"], "true");
    assert_eq!(out["wait"], "exit Some(3)");
    assert_eq!(
        out["pid_after_reap"],
        libc::ESRCH.to_string(),
        "fdinfo says Pid: -1"
    );
}

// ---- the probe without faults, and PIDFD_DISABLE ----

/// The probe's answer, and a `Process` found for a child.
fn probe_scenario() {
    say_features(&probe::features().unwrap());
    process_scenario();
}

#[test]
fn probe_without_faults_allows_pidfd_mode() {
    let Some(out) = SCENARIOS.run("probe", &[]) else {
        return;
    };
    assert_eq!(out["pidfd_mode"], "true", "{out:?}");
    assert_process_in_mode(&out, "PidFd");
    assert_eq!(out["disabled_by_env"], "false");
}

#[test]
fn pidfd_disable_env_forces_pid_mode() {
    let Some(out) = SCENARIOS.run("probe", &[(probe::DISABLE_ENV, "1")]) else {
        return;
    };
    assert_eq!(out["disabled_by_env"], "true", "{out:?}");
    assert_eq!(out["pidfd_open"], "false");
    assert_eq!(out["pidfd_mode"], "false");
    assert_process_in_mode(&out, "Pid");
    let Some(out) = SCENARIOS.run("probe", &[(probe::DISABLE_ENV, "0")]) else {
        return;
    };
    assert_eq!(
        out["pidfd_mode"], "true",
        "PIDFD_DISABLE=0 does not disable"
    );
}

// ---- no fd left for the probe ----

fn emfile_scenario() {
    // Fill the fd table up to a small RLIMIT_NOFILE, so the probe has no fd to work with.
    let mut hogs = pidfd_tests::fill_fd_table();
    say("first", errno_of(probe::features()));
    hogs.truncate(hogs.len() - 4);
    let second = probe::features();
    say(
        "second",
        errno_of(
            second
                .as_ref()
                .map(|_| ())
                .map_err(|e| io::Error::from(e.kind())),
        ),
    );
    say_features(&second.unwrap());
}

#[test]
fn emfile_is_returned_and_not_cached() {
    let Some(out) = SCENARIOS.run("emfile", &[]) else {
        return;
    };
    assert_eq!(out["first"], libc::EMFILE.to_string(), "{out:?}");
    assert_eq!(out["second"], "ok");
    assert_eq!(out["pidfd_mode"], "true");
}
