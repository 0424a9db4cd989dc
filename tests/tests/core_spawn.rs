//! `pidfd_core::Spawn` against the real kernel.

#![allow(unsafe_code, reason = "fork: the child calls _exit")]

use std::io::{ErrorKind, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;

use pidfd_core::{Mode, Spawn};
use pidfd_sys::signal::SIGTERM;
use pidfd_tests::TempDir;
use pidfd_tests::cgroup::Cgroup2Leaf;

/// The mode a spawned child gets: pidfd mode where the crate's probe allows it — on a real
/// kernel and under qemu-user 8+ (fork-style `clone(CLONE_PIDFD)`, but not on sparc, whose
/// raw clone is refused); pid mode under qemu-user 7.2, which refuses clone3 (ENOSYS) and
/// CLONE_PIDFD (EINVAL), so that Spawn falls back all the way, and where the probe refuses
/// pidfds (`PIDFD_DISABLE=1`).
fn expected_mode() -> Mode {
    mode_if(pidfd_tests::emulator::spawn_gets_pidfd() && pidfd_tests::pidfd_mode_allowed())
}

/// The mode a `fork()`ed child gets (see `pidfd_tests::emulator::fork_gets_pidfd`).
fn expected_fork_mode() -> Mode {
    mode_if(pidfd_tests::emulator::fork_gets_pidfd() && pidfd_tests::pidfd_mode_allowed())
}

fn mode_if(pidfd: bool) -> Mode {
    if pidfd { Mode::PidFd } else { Mode::Pid }
}

#[test]
fn exit_codes_and_signals_through_the_returned_process() {
    for code in [0, 1, 42, 255] {
        let process = Spawn::new("sh")
            .args(["-c", &format!("exit {code}")])
            .spawn()
            .unwrap();
        assert_eq!(process.mode(), expected_mode());
        assert_eq!(process.wait().unwrap().code(), Some(code));
    }
    let process = Spawn::new("sleep").arg("30").spawn().unwrap();
    process.send_signal(SIGTERM).unwrap();
    assert_eq!(process.wait().unwrap().signal(), Some(SIGTERM));
    assert_eq!(
        Spawn::strategy().unwrap().contains("CLONE_PIDFD"),
        expected_mode() == Mode::PidFd,
        "{:?}",
        Spawn::strategy()
    );
}

#[test]
fn stdout_to_a_pipe_and_stdin_from_a_file() {
    let dir = TempDir::new("spawn-stdio");
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "from a file\n").unwrap();
    let (mut reader, writer) = std::io::pipe().unwrap();
    let process = Spawn::new("cat")
        .stdin(std::fs::File::open(&input).unwrap())
        .stdout(writer)
        .spawn()
        .unwrap();
    let mut text = String::new();
    // The builder (holding the write end) must go before EOF can arrive: it was a temporary.
    reader.read_to_string(&mut text).unwrap();
    assert_eq!(text, "from a file\n");
    assert_eq!(process.wait().unwrap().code(), Some(0));
}

#[test]
fn stderr_to_a_file() {
    let dir = TempDir::new("spawn-stderr");
    let path = dir.path().join("err.txt");
    let file = std::fs::File::create(&path).unwrap();
    let process = Spawn::new("sh")
        .args(["-c", "echo oops >&2"])
        .stderr(file)
        .spawn()
        .unwrap();
    assert_eq!(process.wait().unwrap().code(), Some(0));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "oops\n");
}

#[test]
fn cwd_and_env() {
    let dir = TempDir::new("spawn-cwd");
    let (mut reader, writer) = std::io::pipe().unwrap();
    let mut spawn = Spawn::new("sh");
    spawn
        .args(["-c", "echo \"$(pwd) $PIDFD_TEST_VAR ${HOME-unset}\""])
        .current_dir(dir.path())
        .env("PIDFD_TEST_VAR", "hello")
        .env_remove("HOME")
        .stdout(writer);
    let process = spawn.spawn().unwrap();
    drop(spawn);
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(text.trim(), format!("{} hello unset", cwd.display()));
    process.wait().unwrap();
}

#[test]
fn env_clear_and_path_search_in_the_childs_path() {
    let dir = TempDir::new("spawn-path");
    let script = dir.path().join("pidfd-test-tool");
    std::fs::write(&script, "#!/bin/sh\nexit 33\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("/nonexistent:{}:/usr/bin:/bin", dir.path().display());
    let process = Spawn::new("pidfd-test-tool")
        .env_clear()
        .env("PATH", &path)
        .spawn()
        .unwrap();
    assert_eq!(process.wait().unwrap().code(), Some(33));
}

#[test]
fn exec_failures_report_the_childs_errno() {
    let dir = TempDir::new("spawn-fail");
    let missing = Spawn::new(dir.path().join("missing")).spawn().unwrap_err();
    assert_eq!(missing.raw_os_error(), Some(libc::ENOENT));
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    let not_executable = dir.path().join("data.txt");
    std::fs::write(&not_executable, "not a program").unwrap();
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = Spawn::new(&not_executable).spawn().unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EACCES));
    let error = Spawn::new(dir.path()).spawn().unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EACCES), "a directory");
    let error = Spawn::new("pidfd-no-such-program-anywhere")
        .spawn()
        .unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::ENOENT));
    let error = Spawn::new("sh").arg("a\0b").spawn().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
}

#[test]
fn one_builder_from_eight_threads() {
    let spawn = Arc::new({
        let mut spawn = Spawn::new("sh");
        spawn.args(["-c", "exit 7"]);
        spawn
    });
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let spawn = spawn.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    assert_eq!(spawn.spawn().unwrap().wait().unwrap().code(), Some(7));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn fork_returns_a_pidfd_mode_handle_for_the_child() {
    // SAFETY: the child only calls `_exit`, which is async-signal-safe.
    match unsafe { pidfd_core::fork() }.unwrap() {
        // SAFETY: `_exit` is async-signal-safe and never returns.
        pidfd_core::Fork::Child => unsafe { libc::_exit(3) },
        pidfd_core::Fork::Parent(child) => {
            assert_eq!(child.mode(), expected_fork_mode());
            assert_eq!(child.wait().unwrap().code(), Some(3));
            assert_eq!(
                child.send_signal(0).unwrap_err().raw_os_error(),
                Some(libc::ESRCH)
            );
        }
    }
}

/// Runs `cat <file>` with `configure` applied; returns (child pid, file text).
fn cat_own(file: &str, configure: impl FnOnce(&mut Spawn)) -> (u32, String) {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let mut spawn = Spawn::new("cat");
    spawn.arg(file).stdout(writer);
    configure(&mut spawn);
    let process = spawn.spawn().unwrap();
    drop(spawn);
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    assert_eq!(process.wait().unwrap().code(), Some(0));
    (process.pid(), text)
}

/// (pgrp, session) from /proc/<pid>/stat text.
fn pgrp_and_session(stat: &str) -> (u32, u32) {
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

#[test]
fn new_session_and_process_group_attributes() {
    let (pid, stat) = cat_own("/proc/self/stat", |spawn| {
        spawn.new_session(true);
    });
    assert_eq!(
        pgrp_and_session(&stat),
        (pid, pid),
        "leader of a new session"
    );
    let (pid, stat) = cat_own("/proc/self/stat", |spawn| {
        spawn.process_group(0);
    });
    let (pgrp, session) = pgrp_and_session(&stat);
    assert_eq!(pgrp, pid, "leader of a new process group");
    // (getsid rather than /proc/self/stat, which qemu-user fakes for the guest.)
    // SAFETY: getsid(0) only returns our own session id.
    let own = u32::try_from(unsafe { libc::getsid(0) }).unwrap();
    assert_eq!(session, own, "same session as the parent");
}

/// The hex mask on the `key:` line of /proc/<pid>/status text.
fn status_mask(status: &str, key: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .unwrap();
    u64::from_str_radix(line.trim(), 16).unwrap()
}

#[test]
fn signal_mask_and_default_signals_attributes() {
    // The child (`cat`) is a host program; under qemu-user it runs natively and its
    // /proc/self/status shows the host's numbering, into which qemu translated the mask:
    // SIGUSR2 is 12 on this x86_64 host (17 on mips, 31 on sparc).
    let reported = if pidfd_tests::emulator::emulator().is_some() {
        12
    } else {
        pidfd_sys::signal::SIGUSR2
    };
    let usr2 = 1_u64 << (reported - 1);
    let (_, status) = cat_own("/proc/self/status", |spawn| {
        spawn.signal_mask(&[pidfd_sys::signal::SIGUSR2]);
    });
    assert_eq!(
        status_mask(&status, "SigBlk:"),
        usr2,
        "exactly SIGUSR2 blocked"
    );
    // An ignored signal stays ignored across exec unless reset. (SIGUSR2 is used by no
    // other test in this binary.)
    // SAFETY: SIG_IGN for SIGUSR2 in this test process.
    unsafe { libc::signal(pidfd_sys::signal::SIGUSR2, libc::SIG_IGN) };
    let (_, inherited) = cat_own("/proc/self/status", |_| {});
    let (_, reset) = cat_own("/proc/self/status", |spawn| {
        spawn.default_signals(&[pidfd_sys::signal::SIGUSR2]);
    });
    // SAFETY: restores the default.
    unsafe { libc::signal(pidfd_sys::signal::SIGUSR2, libc::SIG_DFL) };
    assert_eq!(status_mask(&inherited, "SigIgn:") & usr2, usr2);
    assert_eq!(status_mask(&reset, "SigIgn:") & usr2, 0);
    // SIGPIPE (13 everywhere): the Rust runtime ignores it in this process, and Spawn resets
    // it in every child, as std's Command does.
    let pipe = 1_u64 << (pidfd_sys::signal::SIGPIPE - 1);
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_eq!(
        status_mask(&own, "SigIgn:") & pipe,
        pipe,
        "the test runs with SIGPIPE ignored"
    );
    assert_eq!(
        status_mask(&inherited, "SigIgn:") & pipe,
        0,
        "SIGPIPE reset"
    );
    assert_eq!(status_mask(&reset, "SigIgn:") & pipe, 0, "SIGPIPE reset");
    let error = Spawn::new("true").signal_mask(&[0]).spawn().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
}

#[test]
fn file_actions_open_dup2_close() {
    let dir = TempDir::new("spawn-actions");
    let out = dir.path().join("out.txt");
    // open: stdout goes to a file the child opens itself.
    let process = Spawn::new("sh")
        .args(["-c", "echo opened"])
        .fd_open(
            1,
            &out,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            0o644,
        )
        .spawn()
        .unwrap();
    assert_eq!(process.wait().unwrap().code(), Some(0));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "opened\n");
    // dup2: stderr joins stdout (a pipe).
    let (mut reader, writer) = std::io::pipe().unwrap();
    let process = Spawn::new("sh")
        .args(["-c", "echo to-stderr >&2"])
        .stdout(writer)
        .fd_dup2(1, 2)
        .spawn()
        .unwrap();
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    assert_eq!(text, "to-stderr\n");
    assert_eq!(process.wait().unwrap().code(), Some(0));
    // A dup2 from an fd the child does not have fails the spawn with the child's errno;
    // close takes stdout away.
    let error = Spawn::new("true").fd_dup2(1 << 20, 5).spawn().unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EBADF));
    let process = Spawn::new("sh")
        .args(["-c", "echo x >&1"])
        .fd_close(1)
        .spawn()
        .unwrap();
    assert_ne!(
        process.wait().unwrap().code(),
        Some(0),
        "writing to a closed stdout fails"
    );
}

#[test]
fn spawn_into_a_cgroup() {
    let leaf = match Cgroup2Leaf::new("spawn") {
        Ok(leaf) => leaf,
        Err(reason) => {
            pidfd_tests::emulator::skip(&reason);
            return;
        }
    };
    // The child reports its own cgroup: it was there from its first instruction.
    let (mut reader, writer) = std::io::pipe().unwrap();
    let spawned = Spawn::new("cat")
        .arg("/proc/self/cgroup")
        .stdout(writer)
        .cgroup(leaf.open().unwrap())
        .spawn();
    let unsupported = spawned
        .as_ref()
        .is_err_and(|error| error.kind() == ErrorKind::Unsupported);
    if unsupported && !pidfd_tests::pidfd_mode_allowed() {
        pidfd_tests::emulator::skip("no cgroup spawn: the crate's probe refuses pidfds");
        return;
    }
    if unsupported
        && pidfd_tests::emulator::gap("clone3 is ENOSYS under qemu-user: no cgroup spawn")
    {
        return;
    }
    let process = spawned.unwrap();
    let mut seen = String::new();
    reader.read_to_string(&mut seen).unwrap();
    assert!(process.wait().unwrap().success());
    assert!(
        seen.lines()
            .any(|line| line.starts_with("0::") && line.ends_with(leaf.relative_path())),
        "{seen}"
    );
    // A running child is listed in the cgroup's cgroup.procs.
    let sleeper = Spawn::new("sleep")
        .arg("30")
        .cgroup(leaf.open().unwrap())
        .spawn()
        .unwrap();
    let listed = leaf.procs().unwrap();
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    assert_eq!(listed, vec![sleeper.pid()]);

    // Not a cgroup v2 directory: EBADF from the kernel (the clone itself failed).
    let dir = TempDir::new("not-a-cgroup");
    let error = Spawn::new("true")
        .cgroup(std::fs::File::open(dir.path()).unwrap())
        .spawn()
        .unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EBADF), "{error}");
}

#[test]
fn an_unchanged_environment_is_the_parents() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let process = Spawn::new("env").stdout(writer).spawn().unwrap();
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    assert!(process.wait().unwrap().success());
    let mut child: Vec<&str> = text.lines().collect();
    child.sort_unstable();
    let mut parent: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    parent.sort_unstable();
    assert_eq!(child, parent);
}
