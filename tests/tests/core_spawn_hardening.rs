//! Hardening of `pidfd_core::Spawn` (issue 14): fd-number hygiene in the child, the exec-error
//! pipe kept off every target, posix_spawn file-action semantics as glibc 2.36+, pid-mode
//! spawns whose child was reaped behind our back, a cancelled spawning thread.
//!
//! Scenarios that change process-wide state (closing fd 0, seccomp filters, rlimits, signal
//! dispositions) run in a re-exec'd copy of this binary (`PIDFD_HARDENING_SCENARIO`).

#![allow(
    unsafe_code,
    reason = "scenarios close fds, set rlimits and signal dispositions; each block says why"
)]

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use pidfd_core::{Mode, Spawn};
use pidfd_tests::TempDir;
use pidfd_tests::scenario::{Report, Scenarios, errno_of, say, wait_outcome};
use pidfd_tests::seccomp;

/// The re-exec'd children of this file.
const SCENARIOS: Scenarios = Scenarios::new("PIDFD_HARDENING_SCENARIO");

fn run(scenario: &str, extra_env: &[(&str, &str)]) -> Option<Report> {
    SCENARIOS.run(scenario, extra_env)
}

/// The seccomp levels that force each strategy family: `none` (the fastest), `vm`
/// (fork-style clone3, exec errors through a pipe), `vm+clone3` (fork-style clone, pipe),
/// `pidfd` (vfork without a pidfd: pid mode, pipe).
const LEVELS: [&str; 4] = ["none", "vm", "vm+clone3", "pidfd"];

#[test]
#[ignore = "entry point for the re-exec'd hardening children"]
fn scenario_child() {
    let scenario = SCENARIOS.current();
    match scenario.split(':').collect::<Vec<_>>().as_slice() {
        ["stdio-low", level] => stdio_low_scenario(level),
        ["pipe-collision", level] => pipe_collision_scenario(level),
        ["pipe-on-stdio", level] => pipe_on_stdio_scenario(level),
        ["open-at-fd-limit"] => open_at_fd_limit_scenario(),
        ["pipe-as-source"] => pipe_as_source_scenario(),
        ["pid-mode-reaped"] => pid_mode_reaped_scenario(),
        ["cancel-spawner"] => cancel_spawner_scenario(),
        ["one-thread-refusal", level] => one_thread_refusal_scenario(level),
        ["one-thread-probe-refusal"] => one_thread_probe_refusal_scenario(),
        ["cgroup-e2big"] => cgroup_e2big_scenario(),
        ["reaper-entry-error"] => reaper_entry_error_scenario(),
        ["pidfd-on-fd-0"] => pidfd_on_fd_0_scenario(),
        other => panic!("unknown scenario {other:?}"),
    }
    say("done", true);
}

/// Installs the fallback filter for `level`; `false` (a gap was reported) under an emulator.
fn refuse_down_to(level: &str) -> bool {
    seccomp::install_or_gap(&seccomp::spawn_fallback_rules(level))
}

/// Whether `fd` is open in this process.
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the fd's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags != -1
}

/// The parent has fd 0 closed; the file opened next lands on fd 0 and becomes the child's
/// stdout, while stdin is `/dev/null`: the child's output must reach the file (installing
/// stdin on 0 must not clobber it first).
fn stdio_low_scenario(level: &str) {
    if !refuse_down_to(level) {
        return;
    }
    let dir = TempDir::new("stdio-low");
    let path = dir.path().join("out.txt");
    // SAFETY: closes our stdin (the parent test gave us /dev/null); nothing else uses it.
    unsafe { libc::close(0) };
    let out = std::fs::File::create(&path).unwrap();
    say("out_fd", out.as_raw_fd());
    let null = std::fs::File::open("/dev/null").unwrap();
    let result = Spawn::new("sh")
        .args(["-c", "echo to-stdout"])
        .stdin(null)
        .stdout(out)
        .spawn();
    say("strategy", Spawn::strategy().unwrap_or("none"));
    say("wait", wait_outcome(result.and_then(|p| p.wait())));
    say(
        "content",
        format!("{:?}", std::fs::read_to_string(&path).unwrap()),
    );
}

/// An fd the user file-action targets has the number the exec-error pipe's write end would
/// get: an exec failure must still be reported (`ENOENT`), and the user's file must not
/// receive the errno bytes.
fn pipe_collision_scenario(level: &str) {
    if !refuse_down_to(level) {
        return;
    }
    // Probe and choose the strategy first (the probe opens fds of its own).
    say(
        "warmup",
        wait_outcome(Spawn::new("true").spawn().and_then(|p| p.wait())),
    );
    say("strategy", Spawn::strategy().unwrap_or("none"));
    let dir = TempDir::new("pipe-collision");
    let path = dir.path().join("user.txt");
    let user = std::fs::File::create(&path).unwrap();
    // The two lowest free numbers are what pipe2 hands out next: reader, writer.
    let a = std::fs::File::open("/dev/null").unwrap();
    let b = std::fs::File::open("/dev/null").unwrap();
    let (reader, writer) = (a.as_raw_fd(), b.as_raw_fd());
    drop((a, b));
    say("pipe_fds", format!("{reader},{writer}"));
    for target in [writer, reader] {
        let result = Spawn::new("/nonexistent/program")
            .fd_dup2(user.as_raw_fd(), target)
            .spawn();
        say(&format!("missing_onto_{target}"), errno_of(result));
    }
    say("user_file_len", std::fs::metadata(&path).unwrap().len());
}

/// The parent has fds 0 and 2 closed, so a fresh pipe would be (0, 2): the exec-error pipe's
/// write end must not be the stderr slot the child installs (a missing program must still be
/// `ENOENT`, and the stderr file must stay empty).
fn pipe_on_stdio_scenario(level: &str) {
    if !refuse_down_to(level) {
        return;
    }
    say(
        "warmup",
        wait_outcome(Spawn::new("true").spawn().and_then(|p| p.wait())),
    );
    let dir = TempDir::new("pipe-on-stdio");
    let path = dir.path().join("stderr.txt");
    let err_file = std::fs::File::create(&path).unwrap();
    // SAFETY: closes our stdin (the parent test gave us /dev/null); nothing uses it.
    unsafe { libc::close(0) };
    // SAFETY: closes our stderr (a pipe the parent test shows on failure only); nothing
    // writes to it from here on.
    unsafe { libc::close(2) };
    // What pipe2 would hand out now.
    let a = std::fs::File::open("/dev/null").unwrap();
    let b = std::fs::File::open("/dev/null").unwrap();
    say("pipe_fds", format!("{},{}", a.as_raw_fd(), b.as_raw_fd()));
    drop((a, b));
    let result = Spawn::new("/nonexistent/program").stderr(err_file).spawn();
    say("missing", errno_of(result));
    say("stderr_file_len", std::fs::metadata(&path).unwrap().len());
}

/// Pid mode (the exec-error pipe is in use) with the pipe's floor at the fd limit
/// (`fd_close(limit - 1)`), so that the pipe keeps its low number: a `dup2` from each fd
/// number that is not open here — one of them is the pipe's — must fail with EBADF as
/// glibc's does, never run the program with the pipe as its stdout (which once came back as
/// an "errno" made of the program's output).
fn pipe_as_source_scenario() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes a valid rlimit.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
    assert_eq!(got, 0);
    let last = RawFd::try_from(limit.rlim_cur).unwrap() - 1;
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    for from in 3..24 {
        if is_open(from) {
            continue;
        }
        let result = Spawn::new("sh")
            .args(["-c", "echo hello"])
            .fd_close(last)
            .fd_dup2(from, 1)
            .spawn()
            .and_then(|process| process.wait().map(|status| status.code()));
        *outcomes.entry(errno_of(result)).or_insert(0) += 1;
    }
    say("outcomes", format!("{outcomes:?}"));
}

/// At the fd limit, `fd_open` onto an open fd must close it first (glibc 2.36+): the child's
/// table is full once a `fd_dup2` fills the one slot free at the clone.
fn open_at_fd_limit_scenario() {
    let warmup = Spawn::new("true").spawn();
    say("warmup", wait_outcome(warmup.and_then(|p| p.wait())));
    let strategy = Spawn::strategy().unwrap_or("none");
    if !strategy.contains("CLONE_VM|CLONE_VFORK|CLONE_PIDFD") {
        // Pid mode and the fork-style clones need two more fds for the exec-error pipe:
        // another layout. (qemu-user: 7.2 refuses CLONE_PIDFD, 8+ shares no vfork memory.)
        say(
            "gap",
            "no vfork-style CLONE_PIDFD clone: spawns need the exec-error pipe's two fds",
        );
        return;
    }
    let mut hogs = pidfd_tests::fill_fd_table();
    // One free slot: the parent's pidfd takes it, and the child's copy of the table (made
    // before the pidfd is installed) has it free; the dup2 fills it in the child.
    let free = hogs.pop().unwrap().into_raw_fd();
    // SAFETY: `free` came from into_raw_fd: we own it, and close it to free the slot.
    drop(unsafe { OwnedFd::from_raw_fd(free) });
    let target = hogs[0].as_raw_fd();
    let result = Spawn::new("true")
        .fd_dup2(1, free)
        .fd_open(target, "/dev/null", libc::O_RDONLY, 0)
        .spawn();
    say("full_table", wait_outcome(result.and_then(|p| p.wait())));
}

/// Pid mode (`PIDFD_DISABLE=1`) with `SIGCHLD` ignored: the kernel reaps each child as soon
/// as it exits, possibly before `spawn` returns. A spawn that happened must return `Ok`.
fn pid_mode_reaped_scenario() {
    // SAFETY: SIG_IGN for SIGCHLD: the kernel reaps children itself.
    unsafe { libc::signal(pidfd_sys::signal::SIGCHLD, libc::SIG_IGN) };
    let spawn = Spawn::new("/bin/true");
    let mut failures = 0;
    let mut first_failure = String::from("none");
    let rounds = pidfd_tests::emulator::iterations(300);
    for _ in 0..rounds {
        match spawn.spawn() {
            Ok(process) => assert_eq!(process.mode(), Mode::Pid),
            Err(error) => {
                if failures == 0 {
                    first_failure = errno_of::<()>(Err(error));
                }
                failures += 1;
            }
        }
    }
    say("rounds", rounds);
    say("failures", failures);
    say("first_failure", first_failure);
    say("strategy", Spawn::strategy().unwrap_or("none"));
}

unsafe extern "C" {
    /// POSIX `pthread_setcancelstate(3)` (the libc crate does not bind it).
    fn pthread_setcancelstate(state: libc::c_int, old: *mut libc::c_int) -> libc::c_int;
}

/// `PTHREAD_CANCEL_DISABLE` (glibc and musl).
const PTHREAD_CANCEL_DISABLE: libc::c_int = 1;
/// `PTHREAD_CANCELED`: `(void *) -1`.
const PTHREAD_CANCELED: *mut libc::c_void = usize::MAX as *mut libc::c_void;

/// What the cancelled spawning thread hands back.
static SPAWNED: std::sync::Mutex<Option<std::io::Result<pidfd_core::Child>>> =
    std::sync::Mutex::new(None);
/// Set by the spawning thread once `spawn` returned.
static SPAWN_RETURNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A raw pthread (so it can be cancelled) that spawns `true` with an `fd_open` on the FIFO
/// (whose path is `arg`), then disables cancellation before anything else: nothing between
/// the clone and that call is a cancellation point in the parent (the default strategy
/// reads no pipe), so only the child can act on the cancellation request.
extern "C" fn cancellable_spawner(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `arg` is the `&PathBuf` the scenario keeps alive until it joined us.
    let fifo = unsafe { &*arg.cast::<std::path::PathBuf>() };
    let result = Spawn::new("true")
        .fd_open(5, fifo, libc::O_RDONLY, 0)
        .spawn();
    let mut old = 0;
    // SAFETY: writes the previous state to a live int; not a cancellation point.
    unsafe { pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &raw mut old) };
    *SPAWNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
    SPAWN_RETURNED.store(true, std::sync::atomic::Ordering::SeqCst);
    std::ptr::null_mut()
}

/// `pthread_cancel` on the spawning thread while its child blocks in `fd_open` on a FIFO
/// (between clone and exec, sharing the thread's memory and TLS): once the FIFO is opened
/// the child must go on to exec, and the parent must neither crash nor hang.
fn cancel_spawner_scenario() {
    let dir = TempDir::new("cancel-spawner");
    let fifo = dir.path().join("fifo");
    let fifo_c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo_c.as_ptr(), 0o600) }, 0);
    // SAFETY: pthread_t is plain data, written by pthread_create.
    let mut thread: libc::pthread_t = unsafe { std::mem::zeroed() };
    // SAFETY: `fifo` outlives the thread (joined below, or the process exits first).
    let rc = unsafe {
        libc::pthread_create(
            &raw mut thread,
            std::ptr::null(),
            cancellable_spawner,
            (&raw const fifo).cast_mut().cast(),
        )
    };
    assert_eq!(rc, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let child = loop {
        if let Some(pid) = pidfd_tests::sleeping_child() {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the child never blocked on the FIFO"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    // SAFETY: `thread` is running (suspended in the vfork clone or blocked in spawn).
    assert_eq!(unsafe { libc::pthread_cancel(thread) }, 0);
    // Let the child's open complete.
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo);
    say(
        "fifo_opened",
        writer
            .as_ref()
            .map_or_else(|e| e.to_string(), |_| "ok".to_owned()),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !SPAWN_RETURNED.load(std::sync::atomic::Ordering::SeqCst) {
        if std::time::Instant::now() >= deadline {
            say("spawn", "hang");
            // SAFETY: `child` is our unreaped child (its vfork parent never returned).
            unsafe { libc::kill(child, libc::SIGKILL) };
            say("done", true);
            std::process::exit(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut value = std::ptr::null_mut();
    // SAFETY: joins the thread we created, once.
    assert_eq!(unsafe { libc::pthread_join(thread, &raw mut value) }, 0);
    say("thread_cancelled", value == PTHREAD_CANCELED);
    let result = SPAWNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
        .expect("the thread stored its result");
    say(
        "spawn",
        errno_of(
            result
                .as_ref()
                .map(drop)
                .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(0))),
        ),
    );
    if let Ok(process) = result {
        say(
            "child_is_the_blocked_one",
            process.pid() == child.unsigned_abs(),
        );
        say("child", wait_outcome(process.wait()));
    }
    drop(writer);
}

/// Spawns `sh -c 'exit 9'`; reports its mode and status under `prefix`, and the strategy.
fn spawn_and_report(prefix: &str) {
    let result = Spawn::new("sh").args(["-c", "exit 9"]).spawn();
    match result {
        Ok(process) => {
            say(&format!("{prefix}_mode"), format!("{:?}", process.mode()));
            say(&format!("{prefix}_wait"), wait_outcome(process.wait()));
        }
        Err(error) => say(&format!("{prefix}_mode"), errno_of::<()>(Err(error))),
    }
    say(
        &format!("{prefix}_strategy"),
        Spawn::strategy().unwrap_or("none"),
    );
}

/// A seccomp filter on one thread refuses every pidfd clone flavour: that thread spawns in
/// pid mode, but the process's other threads must keep spawning in pidfd mode.
fn one_thread_refusal_scenario(level: &str) {
    if pidfd_tests::emulator::emulator().is_some() {
        // (Filters are refused there; the filtering thread must not panic.)
        say("gap", seccomp::EMULATOR_GAP);
        return;
    }
    let rules = seccomp::spawn_fallback_rules(level);
    std::thread::spawn(move || {
        seccomp::install(&rules).unwrap();
        spawn_and_report("filtered");
        spawn_and_report("filtered_again");
    })
    .join()
    .unwrap();
    spawn_and_report("main");
    std::thread::spawn(|| spawn_and_report("other"))
        .join()
        .unwrap();
}

/// The first probe runs in a thread whose seccomp filter refuses `pidfd_open` (`EPERM`):
/// that thread gets pid mode, the process's other threads must still get pidfd mode.
fn one_thread_probe_refusal_scenario() {
    if pidfd_tests::emulator::emulator().is_some() {
        say("gap", seccomp::EMULATOR_GAP);
        return;
    }
    std::thread::spawn(|| {
        seccomp::install(&[seccomp::Rule {
            nr: pidfd_sys::nr::SYS_pidfd_open,
            when: seccomp::When::Always,
            errno: libc::EPERM,
        }])
        .unwrap();
        say(
            "filtered_probe",
            pidfd_core::probe::features().unwrap().pidfd_mode(),
        );
        spawn_and_report("filtered");
    })
    .join()
    .unwrap();
    say(
        "main_probe",
        pidfd_core::probe::features().unwrap().pidfd_mode(),
    );
    spawn_and_report("main");
    let child = pidfd_tests::sh("exit 3");
    let process = pidfd_core::Process::find(child.id()).unwrap();
    say("main_find_mode", format!("{:?}", process.mode()));
    say("main_find_wait", wait_outcome(process.wait()));
}

/// Linux 5.3–5.6 know clone3 but not `CLONE_INTO_CGROUP`'s larger `clone_args` (88 bytes):
/// they refuse it with `E2BIG`. Simulated with a filter on that size; the cgroup spawn must
/// say `Unsupported`, as documented.
fn cgroup_e2big_scenario() {
    let leaf = match pidfd_tests::cgroup::Cgroup2Leaf::new("e2big") {
        Ok(leaf) => leaf,
        Err(reason) => {
            say("skipped", reason);
            return;
        }
    };
    let cgroup = leaf.open().unwrap();
    let rule = seccomp::Rule {
        nr: libc::SYS_clone3,
        when: seccomp::When::Arg1Is(88),
        errno: libc::E2BIG,
    };
    if !seccomp::install_or_gap(&[rule]) {
        return;
    }
    match Spawn::new("true").cgroup(cgroup).spawn() {
        Ok(process) => {
            say("error_kind", "none");
            drop(process.wait());
        }
        Err(error) => {
            say("error_kind", format!("{:?}", error.kind()));
            say("errno", format!("{:?}", error.raw_os_error()));
        }
    }
    say("procs", format!("{:?}", leaf.procs().unwrap()));
}

/// A reaper entry whose reaping `waitid` fails (seccomp: `EPERM`): the error names the
/// entry's key, so the caller can remove it, after which the reaper goes on.
fn reaper_entry_error_scenario() {
    let mut reaper = pidfd_core::Reaper::new().unwrap();
    let doomed = Spawn::new("sleep")
        .arg("30")
        .spawn()
        .unwrap()
        .into_process();
    let survivor = Spawn::new("sleep")
        .arg("30")
        .spawn()
        .unwrap()
        .into_process();
    let doomed_pid = doomed.pid();
    doomed.kill().unwrap();
    let survivor_key = reaper.add(survivor, "survivor").unwrap();
    let doomed_key = reaper.add(doomed, "doomed").unwrap();
    let rule = seccomp::Rule {
        nr: libc::SYS_waitid,
        when: seccomp::When::Always,
        errno: libc::EPERM,
    };
    if !seccomp::install_or_gap(&[rule]) {
        return;
    }
    let error = reaper
        .next_exit(Some(std::time::Duration::from_secs(10)))
        .unwrap_err();
    say("kind", format!("{:?}", error.kind()));
    let entry = pidfd_core::EntryError::of(&error);
    say(
        "key_is_the_doomed_one",
        entry.is_some_and(|entry| entry.key() == doomed_key),
    );
    say(
        "inner_errno",
        format!("{:?}", entry.and_then(|entry| entry.error().raw_os_error())),
    );
    let removed = entry.and_then(|entry| reaper.remove(entry.key()));
    say(
        "removed",
        removed.as_ref().map_or("none", |(token, _)| *token),
    );
    say(
        "survivor_left",
        reaper.len() == 1 && survivor_key != doomed_key,
    );
    // The survivor is still running: nothing to report.
    say(
        "after_removal",
        format!(
            "{:?}",
            reaper
                .try_next_exit()
                .map(|exit| exit.map(|exit| exit.token))
        ),
    );
    say("doomed_pid_positive", doomed_pid > 0);
    // (It holds our stdout: end it so the parent test sees EOF now.)
    if let Some((_, pidfd_core::Watched::Process(survivor))) = reaper.remove(survivor_key) {
        survivor.kill().unwrap();
    }
}

/// With fd 0 closed, the clone's pidfd lands on 0: a real pidfd of the child there is kept
/// (only numbers that are no pidfd of the child are refused, as qemu-user 8+'s 0).
fn pidfd_on_fd_0_scenario() {
    // SAFETY: closes our stdin (the parent test gave us /dev/null); nothing else uses it.
    unsafe { libc::close(0) };
    let process = Spawn::new("sh").args(["-c", "exit 6"]).spawn().unwrap();
    say("spawn_mode", format!("{:?}", process.mode()));
    let fdinfo = std::fs::read_to_string("/proc/self/fdinfo/0").unwrap_or_default();
    say(
        "fd0_is_a_pidfd",
        fdinfo
            .lines()
            .any(|line| line == format!("Pid:\t{}", process.pid())),
    );
    say("spawn_wait", wait_outcome(process.wait()));
    drop(process);
    say("fd0_closed_with_the_handle", !is_open(0));
    let child = pidfd_tests::fork_exiting(7);
    say("fork_mode", format!("{:?}", child.mode()));
    say("fork_wait", wait_outcome(child.wait()));
}

// ---- the parent-side tests ----

#[test]
fn a_stdout_file_on_fd_0_is_not_clobbered_by_stdin() {
    for level in LEVELS {
        let Some(out) = run(&format!("stdio-low:{level}"), &[]) else {
            return;
        };
        assert_eq!(out["out_fd"], "0", "the file landed on fd 0: {out:?}");
        assert_eq!(out["wait"], "exit Some(0)", "{level}: {out:?}");
        assert_eq!(out["content"], "\"to-stdout\\n\"", "{level}: {out:?}");
    }
}

#[test]
fn the_exec_error_pipe_never_collides_with_a_file_action_target() {
    for level in LEVELS {
        let Some(out) = run(&format!("pipe-collision:{level}"), &[]) else {
            return;
        };
        assert_eq!(out["warmup"], "exit Some(0)", "{level}: {out:?}");
        let (reader, writer) = out["pipe_fds"].split_once(',').unwrap();
        let enoent = libc::ENOENT.to_string();
        assert_eq!(
            out[&format!("missing_onto_{writer}")],
            enoent,
            "{level}: {out:?}"
        );
        assert_eq!(
            out[&format!("missing_onto_{reader}")],
            enoent,
            "{level}: {out:?}"
        );
        assert_eq!(
            out["user_file_len"], "0",
            "{level}: errno bytes leaked: {out:?}"
        );
    }
}

#[test]
fn the_exec_error_pipe_never_lands_on_a_stdio_slot() {
    for level in LEVELS {
        let Some(out) = run(&format!("pipe-on-stdio:{level}"), &[]) else {
            return;
        };
        assert_eq!(out["warmup"], "exit Some(0)", "{level}: {out:?}");
        assert_eq!(out["pipe_fds"], "0,2", "{level}: {out:?}");
        assert_eq!(out["missing"], libc::ENOENT.to_string(), "{level}: {out:?}");
        assert_eq!(out["stderr_file_len"], "0", "{level}: {out:?}");
    }
}

#[test]
fn fd_close_of_a_not_open_fd_does_not_fail_the_spawn() {
    let unused = (100..1000).find(|&fd| !is_open(fd)).unwrap();
    let process = Spawn::new("true").fd_close(unused).spawn().unwrap();
    assert_eq!(process.wait().unwrap().code(), Some(0));
    // Out of range still fails, before any child is created.
    for bad in [-1, i32::MAX] {
        let error = Spawn::new("true").fd_close(bad).spawn().unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EBADF), "fd_close({bad})");
    }
}

#[test]
fn fd_open_closes_the_target_first() {
    let Some(out) = run("open-at-fd-limit", &[]) else {
        return;
    };
    assert_eq!(out["warmup"], "exit Some(0)", "{out:?}");
    assert_eq!(out["full_table"], "exit Some(0)", "{out:?}");
}

#[test]
fn fd_open_onto_stdout_replaces_it() {
    // fd_open onto an fd that is open (stdout) must replace it, whatever the strategy.
    let dir = TempDir::new("open-replaces");
    let path = dir.path().join("out.txt");
    let (mut reader, writer) = std::io::pipe().unwrap();
    let process = Spawn::new("sh")
        .args(["-c", "echo replaced"])
        .stdout(writer)
        .fd_open(
            1,
            &path,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            0o600,
        )
        .spawn()
        .unwrap();
    assert_eq!(process.wait().unwrap().code(), Some(0));
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    assert_eq!(text, "", "nothing went to the replaced pipe");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "replaced\n");
}

#[test]
fn a_pid_mode_spawn_whose_child_was_already_reaped_is_ok() {
    let Some(out) = run("pid-mode-reaped", &[("PIDFD_DISABLE", "1")]) else {
        return;
    };
    assert_eq!(
        out["strategy"], "clone(CLONE_VM|CLONE_VFORK), pid mode",
        "{out:?}"
    );
    assert_eq!(out["failures"], "0", "{out:?}");
}

#[test]
fn cancelling_the_spawning_thread_leaves_the_child_alone() {
    let Some(out) = SCENARIOS
        .timeout(std::time::Duration::from_secs(60))
        .run("cancel-spawner", &[])
    else {
        return;
    };
    assert_eq!(out["fifo_opened"], "ok", "{out:?}");
    assert_eq!(out["spawn"], "ok", "{out:?}");
    assert_eq!(out["child_is_the_blocked_one"], "true", "{out:?}");
    assert_eq!(
        out["child"], "exit Some(0)",
        "the child went on to exec: {out:?}"
    );
    assert_eq!(out["thread_cancelled"], "false", "{out:?}");
}

#[test]
fn a_refusal_in_one_thread_does_not_move_other_threads_to_pid_mode() {
    // EINVAL, and ENOSYS (what sandboxes return to pretend a call does not exist: once it
    // moved every thread of the process to pid mode).
    for level in ["pidfd", "pidfd-enosys"] {
        let Some(out) = run(&format!("one-thread-refusal:{level}"), &[]) else {
            return;
        };
        check_one_thread_refusal(&out);
    }
}

fn check_one_thread_refusal(out: &Report) {
    assert_eq!(out["filtered_mode"], "Pid", "the filtered thread: {out:?}");
    assert_eq!(out["filtered_wait"], "exit Some(9)", "{out:?}");
    assert_eq!(out["filtered_again_mode"], "Pid", "{out:?}");
    assert_eq!(
        out["filtered_strategy"], "clone(CLONE_VM|CLONE_VFORK), pid mode",
        "{out:?}"
    );
    for thread in ["main", "other"] {
        assert_eq!(out[&format!("{thread}_mode")], "PidFd", "{thread}: {out:?}");
        assert_eq!(out[&format!("{thread}_wait")], "exit Some(9)", "{out:?}");
        assert!(
            out[&format!("{thread}_strategy")].contains("CLONE_VM|CLONE_VFORK|CLONE_PIDFD"),
            "{thread}: still vfork-style with a pidfd: {out:?}"
        );
    }
}

#[test]
fn a_probe_refusal_in_one_thread_does_not_move_other_threads_to_pid_mode() {
    let Some(out) = run("one-thread-probe-refusal", &[]) else {
        return;
    };
    assert_eq!(out["filtered_probe"], "false", "{out:?}");
    assert_eq!(out["filtered_mode"], "Pid", "{out:?}");
    assert_eq!(out["filtered_wait"], "exit Some(9)", "{out:?}");
    assert_eq!(out["main_probe"], "true", "{out:?}");
    assert_eq!(out["main_mode"], "PidFd", "{out:?}");
    assert_eq!(out["main_wait"], "exit Some(9)", "{out:?}");
    assert_eq!(out["main_find_mode"], "PidFd", "{out:?}");
    assert_eq!(out["main_find_wait"], "exit Some(3)", "{out:?}");
}

#[test]
fn a_cgroup_spawn_refused_with_e2big_is_unsupported() {
    let Some(out) = run("cgroup-e2big", &[]) else {
        return;
    };
    if let Some(reason) = out.get("skipped") {
        eprintln!("SKIPPED cgroup E2BIG test: {reason}");
        return;
    }
    assert_eq!(out["error_kind"], "Unsupported", "{out:?}");
    assert_eq!(out["procs"], "[]", "no child was started: {out:?}");
}

#[test]
fn a_reaper_error_names_the_entry_that_failed() {
    let Some(out) = run("reaper-entry-error", &[]) else {
        return;
    };
    assert_eq!(out["kind"], "PermissionDenied", "{out:?}");
    assert_eq!(out["key_is_the_doomed_one"], "true", "{out:?}");
    assert_eq!(
        out["inner_errno"],
        format!("{:?}", Some(libc::EPERM)),
        "{out:?}"
    );
    assert_eq!(out["removed"], "doomed", "{out:?}");
    assert_eq!(out["survivor_left"], "true", "{out:?}");
    assert_eq!(out["after_removal"], "Ok(None)", "{out:?}");
}

#[test]
fn a_real_pidfd_on_fd_0_is_kept() {
    let Some(out) = run("pidfd-on-fd-0", &[]) else {
        return;
    };
    let mode = |pidfd: bool| if pidfd { "PidFd" } else { "Pid" };
    let spawn_mode = mode(pidfd_tests::emulator::spawn_gets_pidfd());
    let fork_mode = mode(pidfd_tests::emulator::fork_gets_pidfd());
    assert_eq!(out["spawn_mode"], spawn_mode, "{out:?}");
    assert_eq!(out["spawn_wait"], "exit Some(6)", "{out:?}");
    assert_eq!(out["fork_mode"], fork_mode, "{out:?}");
    assert_eq!(out["fork_wait"], "exit Some(7)", "{out:?}");
    // (Under qemu-user 8+ the guest's pidfd is qemu's own host pidfd, numbered by qemu.)
    if pidfd_tests::emulator::emulator().is_none() {
        assert_eq!(out["fd0_is_a_pidfd"], "true", "{out:?}");
        assert_eq!(out["fd0_closed_with_the_handle"], "true", "{out:?}");
    }
}

#[test]
fn the_exec_error_pipe_is_never_a_dup2_source() {
    let Some(out) = run("pipe-as-source", &[(pidfd_core::probe::DISABLE_ENV, "1")]) else {
        return;
    };
    // A map with the one key EBADF, e.g. {"9": 20}.
    let outcomes = &out["outcomes"];
    let only_ebadf =
        outcomes.starts_with(&format!("{{\"{}\": ", libc::EBADF)) && !outcomes.contains(", ");
    assert!(
        only_ebadf,
        "every dup2 from a number that is not open fails with EBADF: {out:?}"
    );
}
