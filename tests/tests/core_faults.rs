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

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pidfd_core::probe::{self, Features};
use pidfd_core::{PidFd, Process};
use pidfd_sys::nr;
use pidfd_tests::emulator::pidfd_info_exit_works;
use pidfd_tests::interrupt::Storm;
use pidfd_tests::scenario::{Report, Scenarios, errno_of, say, wait_outcome};
use pidfd_tests::{seccomp, sh};

/// The re-exec'd children of this file (`PIDFD_FAULT_SCENARIO=<scenario>`).
const SCENARIOS: Scenarios = Scenarios::new("PIDFD_FAULT_SCENARIO");

/// Runs `scenario` in a fresh copy of this binary; returns its `key=value` output lines.
fn run(scenario: &str, extra_env: &[(&str, &str)]) -> Option<Report> {
    SCENARIOS.run(scenario, extra_env)
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
    let scenario = SCENARIOS.current();
    match scenario.split(':').collect::<Vec<_>>().as_slice() {
        ["seccomp", syscall, errno] => seccomp_scenario(syscall, errno.parse().unwrap()),
        ["probe"] => {
            say_features(&probe::features().unwrap());
            process_scenario();
        }
        ["emfile"] => emfile_scenario(),
        ["eintr"] => eintr_scenario(),
        ["spawn-fallback", level] => spawn_fallback_scenario(level),
        ["handler-isolation", level] => handler_isolation_scenario(level),
        ["cgroup-fallback", level] => cgroup_fallback_scenario(level),
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
    if !seccomp::install_or_gap(&seccomp::spawn_fallback_rules(level)) {
        return;
    }
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

static HANDLER_RAN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_handler_ran(_: libc::c_int) {
    HANDLER_RAN.store(true, Ordering::SeqCst);
}

/// A child of ours (by /proc/<pid>/stat ppid) sleeping in the kernel, if any.
fn sleeping_child() -> Option<i32> {
    let own = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (_, rest) = stat.rsplit_once(") ")?;
            let mut fields = rest.split(' ');
            let state = fields.next()?;
            (fields.next()? == own && state == "S").then_some(pid)
        })
}

/// A parent with a SIGUSR1 handler spawns a child that blocks (opening a FIFO) between the
/// clone and exec; SIGUSR1 sent to the child right then must kill it (default action), never
/// run the parent's handler on the shared memory.
fn handler_isolation_scenario(level: &str) {
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(
            pidfd_sys::signal::SIGUSR1,
            note_handler_ran as *const () as libc::sighandler_t,
        )
    };
    let dir = pidfd_tests::TempDir::new("handler-isolation");
    let fifo = dir.path().join("fifo");
    let fifo_c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo_c.as_ptr(), 0o600) }, 0);
    let rules = seccomp::spawn_fallback_rules(level);
    if !rules.is_empty() && pidfd_tests::emulator::emulator().is_some() {
        // (The filter goes on a thread, which must not panic; the marker decides.)
        say("gap", seccomp::EMULATOR_GAP);
        return;
    }
    let spawner = {
        let fifo = fifo.clone();
        // The filter goes on the spawning thread only (a "vm" filter would stop this very
        // thread from being created).
        std::thread::spawn(move || {
            seccomp::install(&rules).unwrap();
            pidfd_core::Spawn::new("true")
                .fd_open(5, fifo, libc::O_RDONLY, 0)
                .spawn()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let child = loop {
        if let Some(pid) = sleeping_child() {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the child never blocked on the FIFO"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // SAFETY: `child` is our unreaped child (its spawner is suspended in vfork or waits on
    // the exec-error pipe), so the pid cannot have been reused.
    assert_eq!(unsafe { libc::kill(child, pidfd_sys::signal::SIGUSR1) }, 0);
    // Unblock the open if the child survived (ENXIO if it is already gone).
    drop(
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo),
    );
    let outcome = match spawner.join().unwrap() {
        Ok(process) => match process.wait() {
            Ok(status) => format!("{:?}", status.signal()),
            Err(error) => errno_of::<()>(Err(error)),
        },
        Err(error) => format!("spawn error {error}"),
    };
    say("strategy", pidfd_core::Spawn::strategy().unwrap_or("none"));
    say("child_outcome", outcome);
    say("handler_ran", HANDLER_RAN.load(Ordering::SeqCst));
}

/// Spawning into a cgroup with Spawn's clone flavours refused down to `level`.
fn cgroup_fallback_scenario(level: &str) {
    let leaf = match pidfd_tests::cgroup::Cgroup2Leaf::new("fallback") {
        Ok(leaf) => leaf,
        Err(reason) => {
            say("skipped", reason);
            return;
        }
    };
    let cgroup = leaf.open().unwrap();
    if !seccomp::install_or_gap(&seccomp::spawn_fallback_rules(level)) {
        return;
    }
    match pidfd_core::Spawn::new("sleep")
        .arg("30")
        .cgroup(cgroup)
        .spawn()
    {
        Ok(process) => {
            say("in_cgroup", leaf.procs().unwrap() == vec![process.pid()]);
            say("mode", format!("{:?}", process.mode()));
            process.kill().unwrap();
            drop(process.wait());
        }
        Err(error) => say("error_kind", format!("{:?}", error.kind())),
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
    let warmup = spawn.spawn();
    if let Ok(process) = &warmup {
        say("mode", format!("{:?}", process.mode()));
    }
    say("warmup", wait_outcome(warmup.and_then(|p| p.wait())));
    let mut hogs = pidfd_tests::fill_fd_table();
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
    hogs.pop();
    say(
        "after_freeing_two",
        wait_outcome(spawn.spawn().and_then(|p| p.wait())),
    );
}

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
    unsafe { libc::signal(pidfd_sys::signal::SIGCHLD, libc::SIG_IGN) };
    let child = sh("sleep 0.1; exit 5");
    let pidfd = PidFd::open(child.id()).unwrap();
    say("wait", wait_outcome(pidfd.wait()));
}

// ---- the parent-side tests ----

#[test]
fn seccomp_enosys_and_eperm_make_the_probe_say_unsupported() {
    for errno in [libc::ENOSYS, libc::EPERM] {
        let Some(out) = run(&format!("seccomp:pidfd_open:{errno}"), &[]) else {
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

        let Some(out) = run(&format!("seccomp:pidfd_send_signal:{errno}"), &[]) else {
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

        let Some(out) = run(&format!("seccomp:waitid:{errno}"), &[]) else {
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
        let Some(out) = run(&format!("seccomp:pidfd_getfd:{errno}"), &[]) else {
            return;
        };
        assert_eq!(out["pidfd_mode"], "true", "{out:?}");
        assert_eq!(out["getfd"], errno.to_string());
    }
    // No PIDFD_GET_INFO (as before Linux 6.13): pid() falls back to /proc/self/fdinfo and
    // still gives the right number.
    let Some(out) = run(&format!("seccomp:ioctl:{}", libc::ENOTTY), &[]) else {
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

/// What `process_scenario` printed, for a handle in `mode`.
fn assert_process_in_mode(out: &Report, mode: &str) {
    assert_eq!(out["process_mode"], mode, "{out:?}");
    assert_eq!(out["process_wait"], "exit Some(12)");
    assert_eq!(out["process_wait_again"], "exit Some(12)", "cached");
    assert_eq!(out["process_signal_after"], libc::ESRCH.to_string());
}

#[test]
fn probe_without_faults_allows_pidfd_mode() {
    let Some(out) = run("probe", &[]) else {
        return;
    };
    assert_eq!(out["pidfd_mode"], "true", "{out:?}");
    assert_process_in_mode(&out, "PidFd");
    assert_eq!(out["disabled_by_env"], "false");
}

#[test]
fn pidfd_disable_env_forces_pid_mode() {
    let Some(out) = run("probe", &[(probe::DISABLE_ENV, "1")]) else {
        return;
    };
    assert_eq!(out["disabled_by_env"], "true", "{out:?}");
    assert_eq!(out["pidfd_open"], "false");
    assert_eq!(out["pidfd_mode"], "false");
    assert_process_in_mode(&out, "Pid");
    let Some(out) = run("probe", &[(probe::DISABLE_ENV, "0")]) else {
        return;
    };
    assert_eq!(
        out["pidfd_mode"], "true",
        "PIDFD_DISABLE=0 does not disable"
    );
}

#[test]
fn emfile_is_returned_and_not_cached() {
    let Some(out) = run("emfile", &[]) else {
        return;
    };
    assert_eq!(out["first"], libc::EMFILE.to_string(), "{out:?}");
    assert_eq!(out["second"], "ok");
    assert_eq!(out["pidfd_mode"], "true");
}

#[test]
fn eintr_storm_does_not_break_wait_or_wait_timeout() {
    let Some(out) = run("eintr", &[]) else {
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

#[test]
fn waitpid_thief_thread() {
    let Some(out) = run("thief", &[]) else {
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

#[test]
fn sigchld_ignored() {
    let Some(out) = run("sigchld-ignored", &[]) else {
        return;
    };
    if pidfd_info_exit_works() {
        assert_eq!(out["wait"], "exit Some(5)", "{out:?}");
    } else {
        assert_eq!(out["wait"], libc::ECHILD.to_string(), "{out:?}");
    }
}

#[test]
fn spawn_falls_back_step_by_step() {
    let Some(out) = run("spawn-fallback:none", &[]) else {
        return;
    };
    let emulated = pidfd_tests::emulator::emulator().is_some();
    let emulated_pidfd = emulated && pidfd_tests::emulator::spawn_gets_pidfd();
    let fastest = if emulated_pidfd {
        // qemu-user 8+: clone3 ENOSYS, CLONE_VM|CLONE_VFORK shares no memory (a plain fork:
        // the exec error slot would stay 0), CLONE_PIDFD works: fork-style clone.
        "fork-style clone(CLONE_PIDFD)"
    } else if emulated {
        // qemu-user 7.2: clone3 ENOSYS, CLONE_PIDFD EINVAL: the whole chain, down to pid mode.
        "clone(CLONE_VM|CLONE_VFORK), pid mode"
    } else if cfg!(target_arch = "x86_64") {
        "clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_CLEAR_SIGHAND) on a separate stack"
    } else {
        "clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) on a separate stack"
    };
    assert_eq!(out["strategy"], fastest, "{out:?}");
    let mode = if emulated && !emulated_pidfd {
        "Pid"
    } else {
        "PidFd"
    };
    assert_eq!(out["spawn_mode"], mode);
    assert_eq!(out["spawn_wait"], "exit Some(21)");
    assert_eq!(out["spawn_missing"], libc::ENOENT.to_string());

    let Some(out) = run("spawn-fallback:clone3-vm", &[]) else {
        return;
    };
    assert_eq!(
        out["strategy"], "clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) on a separate stack",
        "{out:?}"
    );
    assert_eq!(out["spawn_mode"], "PidFd");
    assert_eq!(out["spawn_wait"], "exit Some(21)");
    assert_eq!(out["spawn_missing"], libc::ENOENT.to_string());

    let Some(out) = run("spawn-fallback:vm", &[]) else {
        return;
    };
    assert_eq!(out["strategy"], "fork-style clone3(CLONE_PIDFD)", "{out:?}");
    assert_eq!(out["fork_mode"], "PidFd");
    assert_eq!(out["fork_wait"], "exit Some(8)");
    assert_eq!(out["spawn_mode"], "PidFd");
    assert_eq!(out["spawn_wait"], "exit Some(21)");
    assert_eq!(out["spawn_missing"], libc::ENOENT.to_string());

    let Some(out) = run("spawn-fallback:vm+clone3", &[]) else {
        return;
    };
    assert_eq!(out["strategy"], "fork-style clone(CLONE_PIDFD)", "{out:?}");
    assert_eq!(
        out["fork_mode"], "PidFd",
        "fork through legacy clone(CLONE_PIDFD)"
    );
    assert_eq!(out["fork_wait"], "exit Some(8)");
    assert_eq!(out["spawn_mode"], "PidFd");
    assert_eq!(out["spawn_wait"], "exit Some(21)");
    assert_eq!(out["spawn_missing"], libc::ENOENT.to_string());

    let Some(out) = run("spawn-fallback:pidfd", &[]) else {
        return;
    };
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
fn a_parent_signal_handler_never_runs_in_the_spawned_child() {
    for level in ["none", "clone3-vm", "vm"] {
        let Some(out) = run(&format!("handler-isolation:{level}"), &[]) else {
            return;
        };
        assert_eq!(out["handler_ran"], "false", "{level}: {out:?}");
        assert_eq!(
            out["child_outcome"],
            format!("{:?}", Some(pidfd_sys::signal::SIGUSR1)),
            "{level}: the child died of SIGUSR1's default action: {out:?}"
        );
    }
}

/// (The fork-style clone3 path of a cgroup spawn is what non-x86_64 builds use; CI runs
/// `spawn_into_a_cgroup` natively on i686 for it. A seccomp filter cannot refuse the
/// vfork-style call alone here: both pass the same clone_args size.)
#[test]
fn cgroup_spawn_without_clone3_is_unsupported() {
    let Some(out) = run("cgroup-fallback:none", &[]) else {
        return;
    };
    if let Some(reason) = out.get("skipped") {
        pidfd_tests::emulator::skip(reason);
        return;
    }
    let unsupported = out
        .get("error_kind")
        .is_some_and(|kind| kind == "Unsupported");
    if unsupported
        && pidfd_tests::emulator::gap("clone3 is ENOSYS under qemu-user: no cgroup spawn")
    {
        return;
    }
    assert_eq!(out["in_cgroup"], "true", "{out:?}");
    assert_eq!(out["mode"], "PidFd");
    let Some(out) = run("cgroup-fallback:vm+clone3", &[]) else {
        return;
    };
    assert_eq!(out["error_kind"], "Unsupported", "no clone3: {out:?}");
}

#[test]
fn spawn_with_no_free_fd_is_emfile_and_creates_no_child() {
    let Some(out) = run("spawn-emfile", &[]) else {
        return;
    };
    assert_eq!(out["warmup"], "exit Some(4)", "{out:?}");
    assert_eq!(out["full"], libc::EMFILE.to_string());
    assert_eq!(out["child_created"], "false");
    if pidfd_tests::emulator::emulator().is_none() {
        // The vfork-style clone's pidfd is the one fd a spawn needs.
        assert_eq!(out["mode"], "PidFd", "{out:?}");
        assert_eq!(out["after_freeing_one"], "exit Some(4)", "{out:?}");
    } else {
        // Under qemu-user every strategy reports exec errors through a pipe: pid mode
        // (7.2 refuses every CLONE_PIDFD flavour) or the fork-style clone (8+, whose vfork
        // shares no memory). Two fds.
        assert_eq!(
            out["after_freeing_one"],
            libc::EMFILE.to_string(),
            "{out:?}"
        );
        assert_eq!(out["after_freeing_two"], "exit Some(4)", "{out:?}");
    }
}
