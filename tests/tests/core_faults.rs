//! Fault injection for `pidfd-core`: seccomp filters, `PIDFD_DISABLE`, fd exhaustion, an
//! `EINTR` storm, a `waitpid(-1)` thief thread, `SIGCHLD = SIG_IGN`.
//!
//! Each scenario changes process-wide state that cannot be undone (a seccomp filter, signal
//! dispositions), so it runs in a re-exec'd copy of this test binary: the parent test starts
//! `<this binary> --ignored --exact scenario_child` with `PIDFD_FAULT_SCENARIO` set, and
//! asserts on the `key=value` lines the child prints.

#![allow(
    unsafe_code,
    reason = "scenarios set up signal handlers and rlimits; each block says why"
)]

use std::collections::BTreeMap;
use std::io;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pidfd_core::probe::{self, Features};
use pidfd_core::{PidFd, Process};
use pidfd_sys::nr;
use pidfd_tests::{kernel_at_least, seccomp, sh};

const SCENARIO_ENV: &str = "PIDFD_FAULT_SCENARIO";

/// Runs `scenario` in a fresh copy of this binary; returns its `key=value` output lines.
fn run(scenario: &str, extra_env: &[(&str, &str)]) -> BTreeMap<String, String> {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command
        .args([
            "--ignored",
            "--exact",
            "scenario_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO_ENV, scenario)
        .env_remove(probe::DISABLE_ENV);
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "scenario {scenario} failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: BTreeMap<String, String> = stdout
        .lines()
        // libtest may print "test scenario_child ... " in front of the first line.
        .filter_map(|line| line.split_once("scenario:").map(|(_, rest)| rest))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert!(
        lines.contains_key("done"),
        "scenario {scenario} did not finish:\n{stdout}"
    );
    lines
}

fn say(key: &str, value: impl std::fmt::Display) {
    println!("scenario:{key}={value}");
}

/// "ok", or the errno (or error kind) of the failure.
fn errno_of<T>(result: io::Result<T>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(error) => error
            .raw_os_error()
            .map_or_else(|| format!("{:?}", error.kind()), |e| e.to_string()),
    }
}

/// "exit N" for a successful wait, else as [`errno_of`].
fn wait_outcome(result: io::Result<std::process::ExitStatus>) -> String {
    match result {
        Ok(status) => format!("exit {:?}", status.code()),
        Err(error) => errno_of::<()>(Err(error)),
    }
}

fn say_features(features: &Features) {
    say("pidfd_open", features.pidfd_open);
    say("waitid_pidfd", features.waitid_pidfd);
    say("send_signal", features.send_signal);
    say("pidfd_mode", features.pidfd_mode());
    say("disabled_by_env", features.disabled_by_env);
}

/// The child side: dispatches on the scenario name. Ignored in normal runs (it is only an
/// entry point for the re-exec'd children).
#[test]
#[ignore = "entry point for the re-exec'd fault-injection children"]
fn scenario_child() {
    let scenario = std::env::var(SCENARIO_ENV).expect("run by the fault-injection tests only");
    match scenario.split(':').collect::<Vec<_>>().as_slice() {
        ["seccomp", syscall, errno] => seccomp_scenario(syscall, errno.parse().unwrap()),
        ["probe"] => {
            say_features(&probe::features().unwrap());
            process_scenario();
        }
        ["emfile"] => emfile_scenario(),
        ["eintr"] => eintr_scenario(),
        ["spawn-fallback", level] => spawn_fallback_scenario(level),
        ["spawn-emfile"] => spawn_emfile_scenario(),
        ["thief"] => thief_scenario(),
        ["sigchld-ignored"] => sigchld_ignored_scenario(),
        other => panic!("unknown scenario {other:?}"),
    }
    say("done", true);
}

fn seccomp_scenario(syscall: &str, errno: i32) {
    let number = match syscall {
        "pidfd_open" => nr::SYS_pidfd_open,
        "pidfd_send_signal" => nr::SYS_pidfd_send_signal,
        "waitid" => nr::SYS_waitid,
        "pidfd_getfd" => nr::SYS_pidfd_getfd,
        "ioctl" => libc::SYS_ioctl,
        other => panic!("no rule for {other}"),
    };
    seccomp::fail_syscalls(&[(number, errno)]).unwrap();
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

/// A `Process` found for a child: its mode, and the pid-mode-or-not semantics.
fn process_scenario() {
    let child = sh("sleep 0.05; exit 12");
    let process = Process::find(child.id()).unwrap();
    say("process_mode", format!("{:?}", process.mode()));
    say("process_wait", wait_outcome(process.wait()));
    say("process_wait_again", wait_outcome(process.wait()));
    say("process_signal_after", errno_of(process.signal(0)));
}

/// Refuses spawn strategies one by one, then spawns and reports what was used.
fn spawn_fallback_scenario(level: &str) {
    use pidfd_tests::seccomp::Rule;
    let vm = u32::try_from(libc::CLONE_VM).unwrap();
    let pidfd_flag = u32::try_from(libc::CLONE_PIDFD).unwrap();
    let no_vfork = Rule {
        nr: libc::SYS_clone,
        arg0_mask: Some(vm),
        errno: libc::EPERM,
    };
    let no_clone3 = Rule {
        nr: libc::SYS_clone3,
        arg0_mask: None,
        errno: libc::ENOSYS,
    };
    let no_clone_pidfd = Rule {
        nr: libc::SYS_clone,
        arg0_mask: Some(pidfd_flag),
        errno: libc::EINVAL,
    };
    let rules: &[Rule] = match level {
        "vm" => &[no_vfork],
        "vm+clone3" => &[no_vfork, no_clone3],
        "pidfd" => &[no_clone_pidfd, no_clone3],
        other => panic!("unknown level {other}"),
    };
    seccomp::install(rules).unwrap();
    let process = pidfd_core::Spawn::new("sh")
        .args(["-c", "exit 21"])
        .spawn()
        .unwrap();
    say("spawn_mode", format!("{:?}", process.mode()));
    say("spawn_wait", wait_outcome(process.wait()));
    say("spawn_again", wait_outcome(process.wait()));
    say("strategy", pidfd_core::Spawn::strategy().unwrap_or("none"));
    let missing = pidfd_core::Spawn::new("/nonexistent/x").spawn();
    say("spawn_missing", errno_of(missing));
    // SAFETY: the child only calls `_exit`, which is async-signal-safe.
    match unsafe { pidfd_core::fork() }.unwrap() {
        // SAFETY: `_exit` never returns.
        pidfd_core::Fork::Child => unsafe { libc::_exit(8) },
        pidfd_core::Fork::Parent(child) => {
            say("fork_mode", format!("{:?}", child.mode()));
            say("fork_wait", wait_outcome(child.wait()));
        }
    }
}

/// Spawning with no fd left for the pidfd: EMFILE and no child; then it works again.
fn spawn_emfile_scenario() {
    let spawn = {
        let mut spawn = pidfd_core::Spawn::new("sh");
        spawn.args(["-c", "exit 4"]);
        spawn
    };
    // Probe and choose the strategy while fds are available.
    say("warmup", wait_outcome(spawn.spawn().and_then(|p| p.wait())));
    let limit = libc::rlimit {
        rlim_cur: 64,
        rlim_max: 64,
    };
    // SAFETY: setrlimit reads a valid rlimit.
    let ret = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
    assert_eq!(ret, 0);
    let mut hogs = Vec::new();
    while let Ok(file) = std::fs::File::open("/dev/null") {
        hogs.push(file);
    }
    say("full", errno_of(spawn.spawn()));
    let mut status = 0;
    // SAFETY: waitpid writes an int through a valid pointer.
    let leftover = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) };
    say("child_created", leftover > 0);
    hogs.pop();
    say(
        "after_freeing_one",
        wait_outcome(spawn.spawn().and_then(|p| p.wait())),
    );
}

fn emfile_scenario() {
    // Fill the fd table up to a small RLIMIT_NOFILE, so the probe has no fd to work with.
    let limit = libc::rlimit {
        rlim_cur: 64,
        rlim_max: 64,
    };
    // SAFETY: setrlimit reads a valid rlimit.
    let ret = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
    assert_eq!(ret, 0);
    let mut hogs = Vec::new();
    while let Ok(file) = std::fs::File::open("/dev/null") {
        hogs.push(file);
    }
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

static ALARMS: AtomicU32 = AtomicU32::new(0);

extern "C" fn count_alarm(_: libc::c_int) {
    ALARMS.fetch_add(1, Ordering::Relaxed);
}

fn eintr_scenario() {
    // SIGALRM every millisecond, with a handler installed *without* SA_RESTART: every
    // blocking syscall in this process keeps failing with EINTR.
    // SAFETY: sigaction is plain data; all-zero is valid.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = count_alarm as *const () as usize;
    action.sa_flags = 0;
    // SAFETY: installs an async-signal-safe handler (one atomic add).
    let ret = unsafe { libc::sigaction(libc::SIGALRM, &raw const action, std::ptr::null_mut()) };
    assert_eq!(ret, 0);
    let tick = libc::timeval {
        tv_sec: 0,
        tv_usec: 1000,
    };
    let timer = libc::itimerval {
        it_interval: tick,
        it_value: tick,
    };
    // SAFETY: setitimer reads a valid itimerval.
    let ret = unsafe { libc::setitimer(libc::ITIMER_REAL, &raw const timer, std::ptr::null_mut()) };
    assert_eq!(ret, 0);

    let child = sh("sleep 0.3; exit 7");
    say(
        "wait",
        PidFd::open(child.id())
            .unwrap()
            .wait()
            .unwrap()
            .code()
            .unwrap(),
    );
    let child = sh("exec sleep 30");
    let pidfd = PidFd::open(child.id()).unwrap();
    let started = Instant::now();
    let early = pidfd.wait_timeout(Duration::from_millis(200)).unwrap();
    say("timeout_result", format!("{early:?}"));
    say("timeout_ms", started.elapsed().as_millis());
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
    say("alarms", ALARMS.load(Ordering::Relaxed));
}

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

fn sigchld_ignored_scenario() {
    // SAFETY: SIG_IGN for SIGCHLD: the kernel reaps children itself.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let child = sh("sleep 0.1; exit 5");
    let pidfd = PidFd::open(child.id()).unwrap();
    say("wait", wait_outcome(pidfd.wait()));
}

// ---- the parent-side tests ----

#[test]
fn seccomp_enosys_and_eperm_make_the_probe_say_unsupported() {
    for errno in [libc::ENOSYS, libc::EPERM] {
        let out = run(&format!("seccomp:pidfd_open:{errno}"), &[]);
        assert_eq!(out["pidfd_open"], "false", "{out:?}");
        assert_process_in_mode(&out, "Pid");
        assert_eq!(out["pidfd_mode"], "false");
        assert_eq!(
            out["open"],
            errno.to_string(),
            "open fails with the filter's errno"
        );

        let out = run(&format!("seccomp:pidfd_send_signal:{errno}"), &[]);
        assert_eq!(
            (out["pidfd_open"].as_str(), out["send_signal"].as_str()),
            ("true", "false")
        );
        assert_eq!(out["pidfd_mode"], "false");
        assert_process_in_mode(&out, "Pid");
        assert_eq!(out["signal"], errno.to_string());
        assert_eq!(out["wait"], "exit Some(3)", "waiting still works");

        let out = run(&format!("seccomp:waitid:{errno}"), &[]);
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
        let out = run(&format!("seccomp:pidfd_getfd:{errno}"), &[]);
        assert_eq!(out["pidfd_mode"], "true", "{out:?}");
        assert_eq!(out["getfd"], errno.to_string());
    }
    // No PIDFD_GET_INFO (as before Linux 6.13): pid() falls back to /proc/self/fdinfo and
    // still gives the right number.
    let out = run(&format!("seccomp:ioctl:{}", libc::ENOTTY), &[]);
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

/// What `process_scenario` printed, for a handle in `mode`.
fn assert_process_in_mode(out: &BTreeMap<String, String>, mode: &str) {
    assert_eq!(out["process_mode"], mode, "{out:?}");
    assert_eq!(out["process_wait"], "exit Some(12)");
    assert_eq!(out["process_wait_again"], "exit Some(12)", "cached");
    assert_eq!(out["process_signal_after"], libc::ESRCH.to_string());
}

#[test]
fn probe_without_faults_allows_pidfd_mode() {
    let out = run("probe", &[]);
    assert_eq!(out["pidfd_mode"], "true", "{out:?}");
    assert_process_in_mode(&out, "PidFd");
    assert_eq!(out["disabled_by_env"], "false");
}

#[test]
fn pidfd_disable_env_forces_pid_mode() {
    let out = run("probe", &[(probe::DISABLE_ENV, "1")]);
    assert_eq!(out["disabled_by_env"], "true", "{out:?}");
    assert_eq!(out["pidfd_open"], "false");
    assert_eq!(out["pidfd_mode"], "false");
    assert_process_in_mode(&out, "Pid");
    let out = run("probe", &[(probe::DISABLE_ENV, "0")]);
    assert_eq!(
        out["pidfd_mode"], "true",
        "PIDFD_DISABLE=0 does not disable"
    );
}

#[test]
fn emfile_is_returned_and_not_cached() {
    let out = run("emfile", &[]);
    assert_eq!(out["first"], libc::EMFILE.to_string(), "{out:?}");
    assert_eq!(out["second"], "ok");
    assert_eq!(out["pidfd_mode"], "true");
}

#[test]
fn eintr_storm_does_not_break_wait_or_wait_timeout() {
    let out = run("eintr", &[]);
    assert_eq!(out["wait"], "7", "{out:?}");
    assert_eq!(out["timeout_result"], "None");
    let waited: u128 = out["timeout_ms"].parse().unwrap();
    assert!(
        (200..5000).contains(&waited),
        "wait_timeout took {waited} ms"
    );
    assert_eq!(out["after_kill"], "Some(None)");
    let alarms: u32 = out["alarms"].parse().unwrap();
    assert!(alarms > 50, "the storm never happened: {alarms} alarms");
}

#[test]
fn waitpid_thief_thread() {
    let out = run("thief", &[]);
    assert_eq!(out["stolen_first"], "1", "{out:?}");
    let echild = libc::ECHILD.to_string();
    if kernel_at_least(6, 15) {
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

#[test]
fn sigchld_ignored() {
    let out = run("sigchld-ignored", &[]);
    if kernel_at_least(6, 15) {
        assert_eq!(out["wait"], "exit Some(5)", "{out:?}");
    } else {
        assert_eq!(out["wait"], libc::ECHILD.to_string(), "{out:?}");
    }
}

#[test]
fn spawn_falls_back_step_by_step() {
    let out = run("spawn-fallback:vm", &[]);
    assert_eq!(out["strategy"], "fork-style clone3(CLONE_PIDFD)", "{out:?}");
    assert_eq!(out["fork_mode"], "PidFd");
    assert_eq!(out["fork_wait"], "exit Some(8)");
    assert_eq!(out["spawn_mode"], "PidFd");
    assert_eq!(out["spawn_wait"], "exit Some(21)");
    assert_eq!(out["spawn_missing"], libc::ENOENT.to_string());

    let out = run("spawn-fallback:vm+clone3", &[]);
    assert_eq!(out["strategy"], "fork-style clone(CLONE_PIDFD)", "{out:?}");
    assert_eq!(
        out["fork_mode"], "PidFd",
        "fork through legacy clone(CLONE_PIDFD)"
    );
    assert_eq!(out["fork_wait"], "exit Some(8)");
    assert_eq!(out["spawn_mode"], "PidFd");
    assert_eq!(out["spawn_wait"], "exit Some(21)");
    assert_eq!(out["spawn_missing"], libc::ENOENT.to_string());

    let out = run("spawn-fallback:pidfd", &[]);
    assert_eq!(
        out["strategy"], "clone(CLONE_VM|CLONE_VFORK), pid mode",
        "{out:?}"
    );
    assert_eq!(out["fork_mode"], "Pid", "fork fell back to libc fork()");
    assert_eq!(out["fork_wait"], "exit Some(8)");
    assert_eq!(out["spawn_mode"], "Pid");
    assert_eq!(out["spawn_wait"], "exit Some(21)");
    assert_eq!(out["spawn_again"], "exit Some(21)");
    assert_eq!(out["spawn_missing"], libc::ENOENT.to_string());
}

#[test]
fn spawn_with_no_free_fd_is_emfile_and_creates_no_child() {
    let out = run("spawn-emfile", &[]);
    assert_eq!(out["warmup"], "exit Some(4)", "{out:?}");
    assert_eq!(out["full"], libc::EMFILE.to_string());
    assert_eq!(out["child_created"], "false");
    assert_eq!(out["after_freeing_one"], "exit Some(4)");
}
