//! Fault injection for `pidfd_core::Spawn`: its clone flavours refused one by one by seccomp
//! filters (also with a signal handler in the parent, and into a cgroup), and an fd table
//! with no room for the pidfd.
//!
//! Each scenario changes process-wide state that cannot be undone (a seccomp filter, signal
//! dispositions, the fd table), so it runs in a re-exec'd copy of this test binary (see
//! [`pidfd_tests::scenario`]); the parent test asserts on the `key=value` lines it prints.

#![allow(
    unsafe_code,
    reason = "scenarios fork, set up signal handlers and reap with waitpid; each block says why"
)]

use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pidfd_tests::scenario::{self, Scenarios, errno_of, say, wait_outcome};
use pidfd_tests::seccomp;

/// The re-exec'd children of this file (`PIDFD_FAULT_SCENARIO=<scenario>`).
const SCENARIOS: Scenarios = Scenarios::new("PIDFD_FAULT_SCENARIO").table(&[
    ("spawn-fallback", spawn_fallback_scenario),
    ("handler-isolation", handler_isolation_scenario),
    ("cgroup-fallback", cgroup_fallback_scenario),
    ("spawn-emfile", |_| spawn_emfile_scenario()),
]);

/// The child side. Ignored in normal runs (it is only an entry point for the re-exec'd
/// children).
#[test]
#[ignore = "entry point for the re-exec'd fault-injection children"]
fn scenario_child() {
    SCENARIOS.dispatch();
}

// ---- the clone flavours refused one by one ----

/// `spawn-fallback:<level>`: refuses spawn strategies down to `level` (see
/// [`seccomp::spawn_fallback_rules`]), then spawns and forks and reports what was used.
fn spawn_fallback_scenario(args: &[&str]) {
    let [level] = scenario::args(args);
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
    let child = pidfd_tests::fork_exiting(8);
    say("fork_mode", format!("{:?}", child.mode()));
    say("fork_wait", wait_outcome(child.wait()));
}

#[test]
fn spawn_falls_back_step_by_step() {
    let Some(out) = SCENARIOS.run("spawn-fallback:none", &[]) else {
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

    let Some(out) = SCENARIOS.run("spawn-fallback:clone3-vm", &[]) else {
        return;
    };
    assert_eq!(
        out["strategy"], "clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) on a separate stack",
        "{out:?}"
    );
    assert_eq!(out["spawn_mode"], "PidFd");
    assert_eq!(out["spawn_wait"], "exit Some(21)");
    assert_eq!(out["spawn_missing"], libc::ENOENT.to_string());

    let Some(out) = SCENARIOS.run("spawn-fallback:vm", &[]) else {
        return;
    };
    assert_eq!(out["strategy"], "fork-style clone3(CLONE_PIDFD)", "{out:?}");
    assert_eq!(out["fork_mode"], "PidFd");
    assert_eq!(out["fork_wait"], "exit Some(8)");
    assert_eq!(out["spawn_mode"], "PidFd");
    assert_eq!(out["spawn_wait"], "exit Some(21)");
    assert_eq!(out["spawn_missing"], libc::ENOENT.to_string());

    let Some(out) = SCENARIOS.run("spawn-fallback:vm+clone3", &[]) else {
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

    let Some(out) = SCENARIOS.run("spawn-fallback:pidfd", &[]) else {
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

// ---- a signal handler of the parent, while the child is between clone and exec ----

static HANDLER_RAN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_handler_ran(_: libc::c_int) {
    HANDLER_RAN.store(true, Ordering::SeqCst);
}

/// A parent with a SIGUSR1 handler spawns a child that blocks (opening a FIFO) between the
/// clone and exec; SIGUSR1 sent to the child right then must kill it (default action), never
/// run the parent's handler on the shared memory. `handler-isolation:<level>`: with Spawn's
/// clone flavours refused down to `level`.
fn handler_isolation_scenario(args: &[&str]) {
    let [level] = scenario::args(args);
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
        if let Some(pid) = pidfd_tests::sleeping_child() {
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

#[test]
fn a_parent_signal_handler_never_runs_in_the_spawned_child() {
    for level in ["none", "clone3-vm", "vm"] {
        let Some(out) = SCENARIOS.run(&format!("handler-isolation:{level}"), &[]) else {
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

// ---- into a cgroup without clone3 ----

/// `cgroup-fallback:<level>`: spawning into a cgroup with Spawn's clone flavours refused
/// down to `level`.
fn cgroup_fallback_scenario(args: &[&str]) {
    let [level] = scenario::args(args);
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

/// (The fork-style clone3 path of a cgroup spawn is what non-x86_64 builds use; CI runs
/// `spawn_into_a_cgroup` natively on i686 for it. A seccomp filter cannot refuse the
/// vfork-style call alone here: both pass the same clone_args size.)
#[test]
fn cgroup_spawn_without_clone3_is_unsupported() {
    let Some(out) = SCENARIOS.run("cgroup-fallback:none", &[]) else {
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
    let Some(out) = SCENARIOS.run("cgroup-fallback:vm+clone3", &[]) else {
        return;
    };
    assert_eq!(out["error_kind"], "Unsupported", "no clone3: {out:?}");
}

// ---- no fd left for the pidfd ----

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

#[test]
fn spawn_with_no_free_fd_is_emfile_and_creates_no_child() {
    let Some(out) = SCENARIOS.run("spawn-emfile", &[]) else {
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
