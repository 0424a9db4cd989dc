//! `pidfd_core::Spawn`'s process attributes (issue 17 item 4): the parent-death signal (and
//! the race where the parent dies before the child sets it), user and group IDs and
//! supplementary groups, `arg0`, `setsid`, and `From<&std::process::Command>`.
//!
//! Scenarios that change process-wide state (a child subreaper, dropped privileges, the
//! dumpable flag, an inherited variable) run in a re-exec'd copy of this binary
//! (`PIDFD_CREDENTIALS_SCENARIO`).

#![allow(
    unsafe_code,
    reason = "prctl, setuid and waitpid in the scenarios; each block says why"
)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use pidfd_core::Spawn;
use pidfd_sys::signal::{NSIG, SIGKILL, SIGTERM, SIGUSR1};
use pidfd_tests::TempDir;
use pidfd_tests::scenario::{Report, Scenarios, errno_of, say, wait_outcome};

/// The re-exec'd children of this file.
const SCENARIOS: Scenarios = Scenarios::new("PIDFD_CREDENTIALS_SCENARIO");

/// The seccomp levels that force each strategy family (see `core_spawn_hardening`): `none`
/// (vfork-style), `vm` (fork-style clone3), `vm+clone3` (fork-style clone), `pidfd` (pid
/// mode).
const LEVELS: [&str; 4] = ["none", "vm", "vm+clone3", "pidfd"];

/// A variable the `from-command` scenario inherits, for `env_remove` to remove.
const INHERITED: &str = "PIDFD_CREDENTIALS_INHERITED";

#[test]
#[ignore = "entry point for the re-exec'd credential children"]
fn scenario_child() {
    let scenario = SCENARIOS.current();
    match scenario.split(':').collect::<Vec<_>>().as_slice() {
        ["pdeathsig-race", level] => pdeathsig_race_scenario(level),
        ["pdeathsig-intermediate", level, dir] => pdeathsig_intermediate_scenario(level, dir),
        ["unprivileged"] => unprivileged_scenario(),
        ["ids"] => ids_scenario(),
        ["dumpable"] => dumpable_scenario(),
        ["from-command"] => from_command_scenario(),
        other => panic!("unknown scenario {other:?}"),
    }
    say("done", true);
}

fn run(scenario: &str, extra_env: &[(&str, &str)]) -> Option<Report> {
    SCENARIOS.run(scenario, extra_env)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `spawn` with its stdout on a pipe; returns the output and the exit status.
fn output(spawn: &mut Spawn) -> (String, std::process::ExitStatus) {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let process = spawn.stdout(writer).spawn().expect("spawn");
    release_stdout(spawn);
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .expect("read the child's output");
    (text, process.wait().expect("wait"))
}

/// The builder keeps its stdout fd (to give it to every child it spawns): replace it, so
/// that the pipe's only write end left is the child's and the reader sees end of file.
fn release_stdout(spawn: &mut Spawn) {
    spawn.stdout(std::fs::File::open("/dev/null").expect("/dev/null"));
}

/// The value of `key:` in `/proc/<pid>/status` text, whitespace-normalized.
fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------
// Parent-death signal
// ---------------------------------------------------------------------------------------

/// A child spawned with a parent-death signal from a thread that then exits gets that
/// signal (the kernel's rule is per thread); it stays our child and is reaped through the
/// handle. Without it, the same child outlives the thread (killed by us with SIGTERM).
#[test]
fn parent_death_signal_fires_when_the_spawning_thread_exits() {
    for signal in [Some(SIGKILL), Some(SIGUSR1), None] {
        let process = std::thread::spawn(move || {
            let mut spawn = Spawn::new("sleep");
            spawn.arg("1000").default_signals(&[SIGUSR1]);
            if let Some(signal) = signal {
                spawn.parent_death_signal(signal);
            }
            spawn.spawn().expect("spawn")
        })
        .join()
        .expect("the spawning thread");
        let status = match signal {
            Some(_) => process
                .wait_timeout(Duration::from_secs(60))
                .expect("wait")
                .expect("the child got its parent-death signal"),
            None => {
                // Still running: nothing killed it when the thread exited.
                assert_eq!(process.try_wait().expect("try_wait"), None);
                // Ours and not reaped (just checked), so its PID names it.
                pidfd_tests::naive_kill(process.pid(), SIGTERM).expect("kill");
                process.wait().expect("wait")
            }
        };
        assert_eq!(
            status.signal(),
            Some(signal.unwrap_or(SIGTERM)),
            "{signal:?}: {status}"
        );
    }
}

/// The signal is checked before any child exists: out of `1..=NSIG` is `InvalidInput` and
/// the program never runs.
#[test]
fn parent_death_signal_out_of_range_is_invalid_input() {
    let dir = TempDir::new("pdeathsig-range");
    let marker = dir.path().join("ran");
    for signal in [0, -1, NSIG + 1, i32::MAX] {
        let error = Spawn::new("sh")
            .args(["-c", r#": > "$1""#, "sh"])
            .arg(&marker)
            .parent_death_signal(signal)
            .spawn()
            .expect_err("an invalid signal");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{signal}");
    }
    assert!(!marker.exists(), "a child ran");
    // The edges are valid.
    for signal in [1, NSIG] {
        let result = Spawn::new("true").parent_death_signal(signal).spawn();
        if signal == NSIG
            && pidfd_tests::emulator::known_gap(
                result.as_ref().err().and_then(std::io::Error::raw_os_error),
                &[libc::EINVAL],
                "qemu-user maps no host signal to the guest's last one (prctl: EINVAL)",
            )
        {
            continue;
        }
        let process = result.expect("spawn");
        assert!(process.wait().expect("wait").success(), "{signal}");
    }
}

/// The race: the spawning process dies after the clone but before the child's `prctl`, so
/// the kernel never sends the signal — the child must notice (`getppid()` is no longer the
/// spawning process) and send it to itself. The intermediate process's child blocks in a
/// file action (opening a FIFO) until the intermediate has been killed; it must then die of
/// SIGUSR1 instead of running its program (exit 7). For each strategy family.
#[test]
fn parent_death_signal_when_the_parent_died_before_the_child_set_it() {
    // qemu-user 7.2 refuses the harness's PR_SET_CHILD_SUBREAPER; under qemu-user 10 the
    // grandchild ran its program (exit 0) — the emulator's own view of who the parent is.
    if pidfd_tests::emulator::gap(
        "the pdeathsig race harness (subreaper, parent identity) does not hold under qemu-user",
    ) {
        return;
    }
    for level in LEVELS {
        let Some(report) = run(&format!("pdeathsig-race:{level}"), &[]) else {
            // An emulator gap (recorded): the other levels would meet it too.
            break;
        };
        assert_eq!(
            report["grandchild"],
            format!("signal {SIGUSR1}"),
            "{level}: {report:?}"
        );
        assert_eq!(
            report["intermediate"],
            format!("signal {SIGKILL}"),
            "{level}"
        );
    }
}

/// Scenario: a child subreaper that starts the intermediate (another re-exec'd copy), finds
/// the intermediate's child, kills the intermediate, lets the orphan go on and reaps it.
fn pdeathsig_race_scenario(level: &str) {
    // SAFETY: integer arguments; makes this (re-exec'd) process the reaper of its orphans.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        let errno = std::io::Error::last_os_error().raw_os_error();
        assert!(
            pidfd_tests::emulator::emulator().is_some() && errno == Some(libc::EINVAL),
            "PR_SET_CHILD_SUBREAPER: {errno:?}"
        );
        // Reported to the parent test, which records the gap (`Scenarios::run`).
        say("gap", "qemu-user refuses PR_SET_CHILD_SUBREAPER (EINVAL)");
        return;
    }
    let dir = TempDir::new("pdeathsig-race");
    for fifo in ["reached", "go"] {
        let path = std::ffi::CString::new(dir.path().join(fifo).into_os_string().into_vec())
            .expect("path");
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    }
    let exe = std::env::current_exe().expect("current_exe");
    let runner = std::env::var(pidfd_tests::emulator::RUNNER_ENV).unwrap_or_default();
    let mut command = pidfd_tests::scenario::command_with_runner(&runner, &exe);
    let mut intermediate = command
        .args([
            "--ignored",
            "--exact",
            "scenario_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "PIDFD_CREDENTIALS_SCENARIO",
            format!("pdeathsig-intermediate:{level}:{}", dir.path().display()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the intermediate");
    // The intermediate says whether it got as far as spawning (a seccomp gap under qemu).
    let mut stdout = BufReader::new(intermediate.stdout.take().expect("piped"));
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).expect("read") == 0 {
            panic!("the intermediate ended early: {:?}", intermediate.wait());
        }
        if let Some(gap) = line.trim().strip_prefix("scenario:gap=") {
            say("gap", gap);
            assert!(intermediate.wait().expect("wait").success());
            return;
        }
        if line.contains("scenario:spawning=") {
            break;
        }
    }
    // Opening the first FIFO for writing returns once the grandchild opens it for reading:
    // the grandchild exists, and goes on to block opening the second one.
    let reached = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("reached"))
        .expect("open the first FIFO");
    let grandchild = children_of(intermediate.id());
    assert_eq!(grandchild.len(), 1, "the intermediate's children");
    let grandchild = grandchild[0];
    // Kill the intermediate while its spawn is still blocked; once it is reaped, the
    // grandchild has been re-parented to us (the subreaper).
    intermediate.kill().expect("kill the intermediate");
    let status = intermediate.wait().expect("wait for the intermediate");
    say(
        "intermediate",
        status
            .signal()
            .map_or(format!("{status}"), |s| format!("signal {s}")),
    );
    drop(reached);
    // Let the grandchild go on to its prctl and exec.
    let go = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("go"))
        .expect("open the second FIFO");
    let mut raw = 0;
    let pid = libc::pid_t::try_from(grandchild).expect("pid_t");
    // SAFETY: `pid` is our child now (re-parented to this subreaper) and not reaped yet.
    let reaped = unsafe { libc::waitpid(pid, &raw mut raw, 0) };
    assert_eq!(reaped, pid, "waitpid: {}", std::io::Error::last_os_error());
    drop(go);
    let status = std::process::ExitStatus::from_raw(raw);
    say(
        "grandchild",
        status
            .signal()
            .map_or(format!("{status}"), |s| format!("signal {s}")),
    );
}

/// The PIDs whose parent is `parent` (from `/proc/*/stat`).
fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command's closing parenthesis: state, ppid, ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    children
}

/// Scenario (the intermediate): spawns `sh -c 'exit 7'` with SIGUSR1 as the parent-death
/// signal, whose child first opens the two FIFOs of `dir` (blocking until the subreaper
/// opens each). The subreaper kills this process while the spawn waits.
fn pdeathsig_intermediate_scenario(level: &str, dir: &str) {
    if !pidfd_tests::seccomp::install_or_gap(&pidfd_tests::seccomp::spawn_fallback_rules(level)) {
        // `install_or_gap` said `gap`; the subreaper passes it on.
        return;
    }
    let dir = std::path::Path::new(dir);
    say("spawning", true);
    let result = Spawn::new("sh")
        .args(["-c", "exit 7"])
        .default_signals(&[SIGUSR1])
        .parent_death_signal(SIGUSR1)
        .fd_open(10, dir.join("reached"), libc::O_RDONLY, 0)
        .fd_open(11, dir.join("go"), libc::O_RDONLY, 0)
        .spawn();
    // Only reached if the subreaper did not kill us (a failure it reports).
    say("unexpected", wait_outcome(result.and_then(|p| p.wait())));
}

// ---------------------------------------------------------------------------------------
// User and group IDs
// ---------------------------------------------------------------------------------------

/// As root: uid, gid and groups as the exec'd child sees them (`/proc/self/status`); `uid`
/// alone drops the supplementary groups, `gid` alone keeps them, an explicit empty list
/// drops them too. In a scenario that first gives itself supplementary groups (40, 41), so
/// that dropping them shows. The IDs are above 65535, which the original 16-bit-ID
/// syscalls of i386, arm, sparc and m68k would truncate.
#[test]
fn uid_gid_and_groups_reach_the_child() {
    if !is_root() {
        pidfd_tests::emulator::skip("setting another uid/gid needs root");
        return;
    }
    let Some(report) = run("ids", &[]) else {
        return;
    };
    assert_eq!(report["own_groups"], "40 41");
    assert_eq!(report["cases"], "5");
}

fn ids_scenario() {
    // SAFETY: a live two-element list; process-wide in this re-exec'd copy.
    assert_eq!(unsafe { libc::setgroups(2, [40, 41].as_ptr()) }, 0);
    let own = std::fs::read_to_string("/proc/self/status").expect("status");
    let own_uid = status_field(&own, "Uid");
    let own_gid = status_field(&own, "Gid");
    let own_groups = status_field(&own, "Groups");
    // (name, uid, gid, groups, the expected Uid, Gid and Groups lines)
    type Case<'a> = (
        &'a str,
        Option<u32>,
        Option<u32>,
        Option<&'a [u32]>,
        [&'a str; 3],
    );
    let cases: [Case<'_>; 5] = [
        (
            "all",
            Some(100_000),
            Some(100_001),
            Some(&[1, 3, 70000]),
            [
                "100000 100000 100000 100000",
                "100001 100001 100001 100001",
                "1 3 70000",
            ],
        ),
        (
            "uid only",
            Some(100_000),
            None,
            None,
            ["100000 100000 100000 100000", own_gid.as_str(), ""],
        ),
        (
            "gid only",
            None,
            Some(100_001),
            None,
            [
                own_uid.as_str(),
                "100001 100001 100001 100001",
                own_groups.as_str(),
            ],
        ),
        (
            "groups only",
            None,
            None,
            Some(&[7]),
            [own_uid.as_str(), own_gid.as_str(), "7"],
        ),
        (
            "empty groups with uid",
            Some(100_000),
            None,
            Some(&[]),
            ["100000 100000 100000 100000", own_gid.as_str(), ""],
        ),
    ];
    for (name, uid, gid, groups, [want_uid, want_gid, want_groups]) in cases {
        let mut spawn = Spawn::new("cat");
        spawn.arg("/proc/self/status");
        if let Some(uid) = uid {
            spawn.uid(uid);
        }
        if let Some(gid) = gid {
            spawn.gid(gid);
        }
        if let Some(groups) = groups {
            spawn.groups(groups);
        }
        let (status, exit) = output(&mut spawn);
        assert!(exit.success(), "{name}: {exit}");
        assert_eq!(status_field(&status, "Uid"), want_uid, "{name}");
        assert_eq!(status_field(&status, "Gid"), want_gid, "{name}");
        assert_eq!(status_field(&status, "Groups"), want_groups, "{name}");
    }
    say("own_groups", &own_groups);
    say("cases", cases.len());
}

/// As root: the IDs change before `chdir` (and exec), so the working directory is checked
/// with the new user's rights: a root-only directory is `EACCES` for uid 65534.
#[test]
fn uid_applies_before_chdir() {
    if !is_root() {
        pidfd_tests::emulator::skip("setting another uid needs root");
        return;
    }
    let dir = TempDir::new("uid-chdir");
    let private = dir.path().join("private");
    std::fs::create_dir(&private).expect("mkdir");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let result = Spawn::new("true")
        .uid(65534)
        .gid(65534)
        .current_dir(&private)
        .spawn();
    assert_eq!(errno_of(result), libc::EACCES.to_string());
    // Root itself may enter it.
    let process = Spawn::new("true")
        .current_dir(&private)
        .spawn()
        .expect("spawn");
    assert!(process.wait().expect("wait").success());
}

/// `u32::MAX` is `(uid_t)-1`, never an ID: `InvalidInput` before any child exists.
#[test]
fn id_u32_max_is_invalid_input() {
    let dir = TempDir::new("id-max");
    let marker = dir.path().join("ran");
    type Setter = fn(&mut Spawn);
    let setters: [(&str, Setter); 3] = [
        ("uid", |spawn| {
            spawn.uid(u32::MAX);
        }),
        ("gid", |spawn| {
            spawn.gid(u32::MAX);
        }),
        ("groups", |spawn| {
            spawn.groups(&[5, u32::MAX]);
        }),
    ];
    for (name, set) in setters {
        let mut spawn = Spawn::new("sh");
        spawn.args(["-c", r#": > "$1""#, "sh"]).arg(&marker);
        set(&mut spawn);
        let error = spawn.spawn().expect_err("an invalid ID");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{name}");
    }
    assert!(!marker.exists(), "a child ran");
}

/// Without privilege (a scenario that drops root first, when run as root): another uid, gid
/// or group list is `PermissionDenied` (`EPERM`), reported like an exec failure, the program
/// never runs and no child is left; the process's own IDs are accepted (the implicit
/// `setgroups(0, NULL)` of `uid` fails with `EPERM`, which is ignored as std does).
#[test]
fn without_privilege_other_ids_are_permission_denied() {
    let Some(report) = run("unprivileged", &[]) else {
        return;
    };
    for name in ["uid0", "gid0", "groups"] {
        assert_eq!(report[name], libc::EPERM.to_string(), "{name}: {report:?}");
        assert_eq!(
            report[&format!("{name}_kind")],
            "PermissionDenied",
            "{name}"
        );
    }
    assert_eq!(report["ran"], "false");
    assert_eq!(report["children_left"], libc::ECHILD.to_string());
    assert_eq!(report["own_ids"], "exit Some(0)");
}

fn unprivileged_scenario() {
    if is_root() {
        // Drop to nobody for good (process-wide: this is a re-exec'd copy).
        // The C library applies each change to every thread.
        // SAFETY: an empty list (NULL, 0).
        assert_eq!(unsafe { libc::setgroups(0, std::ptr::null()) }, 0);
        // SAFETY: an integer argument.
        assert_eq!(unsafe { libc::setgid(65534) }, 0);
        // SAFETY: an integer argument.
        assert_eq!(unsafe { libc::setuid(65534) }, 0);
    }
    let (uid, gid) = pidfd_tests::real_ids();
    assert_ne!(uid, 0);
    let dir = std::env::temp_dir().join(format!("pidfd-unprivileged-{}", std::process::id()));
    let marker = dir.join("ran");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let other_gid = if gid == 0 { 1 } else { 0 };
    type Attempt = fn(&mut Spawn, u32);
    let attempts: [(&str, Attempt); 3] = [
        ("uid0", |spawn, _| {
            spawn.uid(0);
        }),
        ("gid0", |spawn, other| {
            spawn.gid(other);
        }),
        ("groups", |spawn, _| {
            spawn.groups(&[]);
        }),
    ];
    for (name, set) in attempts {
        let mut spawn = Spawn::new("sh");
        spawn.args(["-c", r#": > "$1""#, "sh"]).arg(&marker);
        set(&mut spawn, other_gid);
        let result = spawn.spawn();
        say(
            &format!("{name}_kind"),
            format!("{:?}", result.as_ref().map(drop).unwrap_err().kind()),
        );
        say(name, errno_of(result));
    }
    say("ran", marker.exists());
    // The failed children were reaped by the spawn: no child of ours is left.
    let mut status = 0;
    // SAFETY: WNOHANG; any child of ours would do (none is expected).
    let reaped = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) };
    say(
        "children_left",
        if reaped == -1 {
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(0)
                .to_string()
        } else {
            format!("pid {reaped}")
        },
    );
    let own = Spawn::new("true")
        .uid(uid)
        .gid(gid)
        .spawn()
        .and_then(|p| p.wait());
    say("own_ids", wait_outcome(own));
    let _ = std::fs::remove_dir_all(&dir);
}

/// As root: a child that changes its IDs leaves the parent's dumpable flag as it was (a
/// vfork-style child — the default strategy — shares the memory whose flag the kernel
/// resets on an ID change, to `fs.suid_dumpable`).
#[test]
fn id_change_keeps_the_parent_dumpable() {
    if !is_root() {
        pidfd_tests::emulator::skip("setting another uid needs root");
        return;
    }
    let Some(report) = run("dumpable", &[]) else {
        return;
    };
    assert_eq!(report["before"], "1", "{report:?}");
    assert_eq!(report["spawn"], "exit Some(0)", "{report:?}");
    assert_eq!(report["after"], "1", "{report:?}");
}

fn dumpable_scenario() {
    let dumpable = || {
        // SAFETY: integer arguments only.
        unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }
    };
    say("before", dumpable());
    let result = Spawn::new("true")
        .uid(65534)
        .gid(65534)
        .spawn()
        .and_then(|p| p.wait());
    say("strategy", Spawn::strategy().unwrap_or("none"));
    say("spawn", wait_outcome(result));
    say("after", dumpable());
}

// ---------------------------------------------------------------------------------------
// arg0, setsid, From<&Command>
// ---------------------------------------------------------------------------------------

/// `arg0` replaces what the program sees as its name; the program is still found by its
/// own name in PATH.
#[test]
fn arg0_replaces_argv0_only() {
    // `sh -c script` with no further argument puts its own argv[0] in `$0`.
    let (text, status) = output(
        Spawn::new("sh")
            .arg0("renamed-shell")
            .args(["-c", r#"printf '%s' "$0""#]),
    );
    assert!(status.success(), "{status}");
    assert_eq!(text, "renamed-shell");
    let (cmdline, status) = output(Spawn::new("cat").arg0("kitten").arg("/proc/self/cmdline"));
    assert!(status.success(), "{status}");
    assert_eq!(cmdline, "kitten\0/proc/self/cmdline\0");
    // Without arg0: the program as given.
    let (cmdline, _) = output(Spawn::new("cat").arg("/proc/self/cmdline"));
    assert_eq!(cmdline, "cat\0/proc/self/cmdline\0");
}

/// The (session, process group) of the exec'd child from its own `/proc/self/stat`.
fn session_of_child(spawn: &mut Spawn) -> (u32, u32, u32) {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let process = spawn.stdout(writer).spawn().expect("spawn");
    release_stdout(spawn);
    let mut stat = String::new();
    reader.read_to_string(&mut stat).expect("read");
    assert!(process.wait().expect("wait").success());
    let fields: Vec<u32> = stat
        .rsplit_once(')')
        .expect("stat")
        .1
        .split_whitespace()
        .skip(2) // state, ppid
        .take(2)
        .map(|n| n.parse().expect("a number"))
        .collect();
    (process.pid(), fields[0], fields[1])
}

/// `setsid(true)` (and its alias `new_session(true)`) makes the child lead a new session and
/// process group; by default it stays in ours.
#[test]
fn setsid_starts_a_new_session() {
    for alias in [false, true] {
        let mut spawn = Spawn::new("cat");
        spawn.arg("/proc/self/stat");
        if alias {
            spawn.new_session(true);
        } else {
            spawn.setsid(true);
        }
        let (pid, pgrp, session) = session_of_child(&mut spawn);
        assert_eq!((pgrp, session), (pid, pid), "alias {alias}");
    }
    // SAFETY: getsid(0) has no preconditions.
    let ours = unsafe { libc::getsid(0) };
    let (pid, _, session) =
        session_of_child(Spawn::new("cat").arg("/proc/self/stat").setsid(false));
    assert_ne!(session, pid);
    assert_eq!(i64::from(session), i64::from(ours));
}

/// `Spawn::from(&Command)` carries the program, the arguments, the variables set and
/// removed (an inherited one: in a scenario that inherits it) and the working directory.
#[test]
fn from_command_carries_program_args_env_and_cwd() {
    let Some(report) = run("from-command", &[(INHERITED, "inherited")]) else {
        return;
    };
    assert_eq!(report["inherited_in_parent"], "true");
    assert_eq!(report["exit"], "exit Some(0)", "{report:?}");
    assert_eq!(report["args"], "one|two words", "{report:?}");
    assert_eq!(report["set"], "value", "{report:?}");
    assert_eq!(report["removed"], "unset", "{report:?}");
    assert_eq!(report["set_then_removed"], "unset", "{report:?}");
    assert_eq!(report["cwd_matches"], "true", "{report:?}");
}

fn from_command_scenario() {
    say("inherited_in_parent", std::env::var_os(INHERITED).is_some());
    let dir = TempDir::new("from-command");
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            r#"printf 'args=%s|%s\nset=%s\nremoved=%s\nset_then_removed=%s\ncwd=%s\n' "$1" "$2" "$SET_BY_COMMAND" "${PIDFD_CREDENTIALS_INHERITED-unset}" "${SET_THEN_REMOVED-unset}" "$(pwd -P)""#,
            "sh",
            "one",
            "two words",
        ])
        .env("SET_BY_COMMAND", "value")
        .env_remove(INHERITED)
        .env("SET_THEN_REMOVED", "x")
        .env_remove("SET_THEN_REMOVED")
        .current_dir(dir.path());
    let (text, status) = output(&mut Spawn::from(&command));
    say("exit", format!("exit {:?}", status.code()));
    let canonical: OsString = dir.path().canonicalize().expect("canonicalize").into();
    for line in text.lines() {
        let (key, value) = line.split_once('=').expect("key=value");
        if key == "cwd" {
            say("cwd_matches", canonical == *value);
        } else {
            say(key, value);
        }
    }
}
