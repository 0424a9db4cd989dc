//! `prun`: exit codes as coreutils `timeout`, timeouts, `--kill-after`, signal forwarding
//! through the pidfd, and the command's signal state.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{run, status_of, stderr, stdout, tool, watchdog};
use pidfd_core::PidFd;
use pidfd_sys::signal::{SIGINT, SIGPIPE, SIGTERM, SIGUSR1};

const PRUN: &str = env!("CARGO_BIN_EXE_prun");

/// Generous for a loaded 2-core VM; the point is "not the command's 10 s".
const QUICK: Duration = Duration::from_secs(5);

fn prun(args: &[&str]) -> Command {
    tool(PRUN, args)
}

#[test]
fn passes_the_exit_code_through() {
    let output = run(prun(&["--", "sh", "-c", "echo out; exit 3"]));
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(stdout(&output), "out\n");
    assert_eq!(run(prun(&["true"])).status.code(), Some(0));
}

#[test]
fn timeout_terminates_with_124() {
    let start = Instant::now();
    let output = run(prun(&["--timeout", "0.2", "--", "sleep", "10"]));
    assert_eq!(output.status.code(), Some(124), "{}", stderr(&output));
    let elapsed = start.elapsed();
    assert!(elapsed < QUICK, "took {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(200), "took {elapsed:?}");
}

#[test]
fn command_that_ignores_the_signal_still_gives_124() {
    // --signal USR1 is caught and survived by the shell, which then exits 0 itself.
    let output = run(prun(&[
        "-t",
        "0.2",
        "-s",
        "USR1",
        "sh",
        "-c",
        "trap 'exit 0' USR1; while :; do sleep 0.05; done",
    ]));
    assert_eq!(output.status.code(), Some(124), "{}", stderr(&output));
}

/// `command` started with `SIGTERM` ignored from the start (through `sh`'s `trap`, then
/// `exec`): the ignored disposition survives `exec`, so prun and the command it starts
/// ignore TERM before their first instruction — no race against a short timeout.
fn with_term_ignored(command: &Command) -> Command {
    let mut wrapped = Command::new("sh");
    wrapped
        .args(["-c", "trap '' TERM; exec \"$@\"", "sh"])
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

#[test]
fn kill_after_gives_137() {
    let start = Instant::now();
    let status = status_of(with_term_ignored(&prun(&[
        "--timeout",
        "0.2",
        "--kill-after",
        "0.2",
        "--",
        // (The trap as well: under qemu-user the emulator's own handlers hide the
        // inherited ignored disposition from the guest.)
        "sh",
        "-c",
        "trap '' TERM; sleep 10",
    ])));
    assert_eq!(status.code(), Some(137));
    assert!(start.elapsed() < QUICK, "took {:?}", start.elapsed());
}

#[test]
fn signal_kill_at_timeout_gives_137() {
    let output = run(prun(&["-t", "0.2", "-s", "KILL", "sleep", "10"]));
    assert_eq!(output.status.code(), Some(137), "{}", stderr(&output));
}

#[test]
fn killed_by_a_signal_gives_128_plus_n() {
    let output = run(prun(&["--", "sh", "-c", "kill -USR1 $$"]));
    assert_eq!(
        output.status.code(),
        Some(128 + SIGUSR1),
        "{}",
        stderr(&output)
    );
}

#[test]
fn finishing_before_the_timeout_is_not_a_timeout() {
    let output = run(prun(&["--timeout", "30s", "--", "sh", "-c", "exit 7"]));
    assert_eq!(output.status.code(), Some(7));
}

#[test]
fn not_found_gives_127() {
    let output = run(prun(&["--", "pidfd-tools-no-such-command-xyz"]));
    assert_eq!(output.status.code(), Some(127));
    assert!(
        stderr(&output).contains("No such file or directory"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn not_executable_gives_126() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("prun-not-executable-{}", std::process::id()));
    std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = run(prun(&["--", path.to_str().unwrap()]));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(126), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Permission denied"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_arguments_give_125_and_the_usage() {
    for args in [
        &[][..],
        &["--timeout"],
        &["--timeout", "soon", "true"],
        &["--timeout", "-1", "true"],
        &["--signal", "NOPE", "true"],
        &["--signal", "0", "true"],
        &["--bogus", "true"],
        &["-t", "1"],
    ] {
        let output = run(prun(args));
        assert_eq!(output.status.code(), Some(125), "{args:?}");
        assert!(stderr(&output).contains("Usage: prun"), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help_exits_0() {
    let output = run(prun(&["--help"]));
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).starts_with("Usage: prun"));
}

#[test]
fn options_after_the_command_belong_to_it() {
    let output = run(prun(&["sh", "-c", "echo \"$@\"", "sh", "--timeout", "1"]));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "--timeout 1\n");
}

/// Starts `prun -- sh -c '<trap>; echo ready; loop'`, waits for "ready", sends `signal`
/// to prun (not to the shell), and returns prun's exit code.
fn forward(signal: i32, trap: &str) -> Option<i32> {
    let script = format!("{trap}; echo ready; while :; do sleep 0.05; done");
    let mut child = prun(&["--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let dog = watchdog(&child);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    PidFd::open(child.id())
        .unwrap()
        .send_signal(signal)
        .unwrap();
    let status = child.wait().unwrap();
    dog.join().unwrap();
    status.code()
}

#[test]
fn forwards_sigterm_to_the_command() {
    assert_eq!(forward(SIGTERM, "trap 'exit 42' TERM"), Some(42));
}

#[test]
fn forwards_sigint_to_the_command() {
    assert_eq!(forward(SIGINT, "trap 'exit 43' INT"), Some(43));
}

#[test]
fn forwarded_signal_that_kills_gives_128_plus_n() {
    assert_eq!(forward(SIGTERM, "true"), Some(128 + SIGTERM));
}

/// The mask of `SigBlk`/`SigIgn` lines of /proc/<command>/status, as the command sees it.
fn signal_masks() -> (u64, u64) {
    let output = run(prun(&["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let field = |name: &str| {
        let line = text.lines().find(|line| line.starts_with(name)).unwrap();
        u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
    };
    (field("SigBlk:"), field("SigIgn:"))
}

#[test]
fn command_does_not_inherit_blocked_signals_or_ignored_sigpipe() {
    let (blocked, ignored) = signal_masks();
    assert_eq!(blocked, 0, "SigBlk {blocked:#x}");
    assert_eq!(ignored & (1 << (SIGPIPE - 1)), 0, "SigIgn {ignored:#x}");
}

/// `prun` with `PIDFD_DISABLE=1`: the command is a pid-mode `Process` (no pidfd to poll).
fn prun_pid_mode(args: &[&str]) -> Command {
    let mut command = prun(args);
    command.env("PIDFD_DISABLE", "1");
    command
}

#[test]
fn pid_mode_fallback_keeps_the_exit_codes() {
    let output = run(prun_pid_mode(&["sh", "-c", "exit 3"]));
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let start = Instant::now();
    let output = run(prun_pid_mode(&["-t", "0.2", "sleep", "10"]));
    assert_eq!(output.status.code(), Some(124), "{}", stderr(&output));
    assert!(start.elapsed() < QUICK, "took {:?}", start.elapsed());
    let status = status_of(prun_pid_mode(&[
        "-t",
        "0.2",
        "-k",
        "0.2",
        "sh",
        "-c",
        "trap '' TERM; sleep 10",
    ]));
    assert_eq!(status.code(), Some(137));
}

/// Records a skip in the workspace's skip ledger (the format of `pidfd_tests::emulator::skip`:
/// `binary::test<TAB>reason`, in `PIDFD_TEST_SKIP_LOG` or the profile directory's
/// `pidfd-test-skips.log`), and prints it.
fn skip(reason: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let reason = reason.replace('\n', " ");
    let line = format!("prun::{}\t{reason}\n", thread.name().unwrap_or("?"));
    eprint!("SKIPPED {line}");
    let ledger = std::env::var_os("PIDFD_TEST_SKIP_LOG")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.join("pidfd-test-skips.log"))
        });
    if let Some(ledger) = ledger {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(ledger)
        {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// A cgroup2 hierarchy mounted for a test (hosts with cgroup v1 only, like this project's CI
/// machines, have none), unmounted on drop. Needs root.
struct Cgroup2Mount(std::path::PathBuf);

impl Cgroup2Mount {
    /// Mounts one when `/proc/self/mountinfo` has none and we are root; `None` otherwise.
    fn if_missing() -> Option<Cgroup2Mount> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        if mountinfo.lines().any(|line| line.contains(" - cgroup2 ")) {
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "prun-cgroup2-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "cgroup2", "none"])
            .arg(&dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if mounted {
            Some(Cgroup2Mount(dir))
        } else {
            let _ = std::fs::remove_dir(&dir);
            None
        }
    }
}

impl Drop for Cgroup2Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Whether `prun --kill-tree` can make a tree here (mounting a cgroup2 hierarchy where none
/// is and we are root: keep the guard); else records a skip (with prun's own reason, which
/// must name cgroup v2 and come with exit code 125: also where the command cannot be
/// spawned into the tree, as under qemu-user, whose missing clone3 is a counted skip).
fn kill_tree_or_skip() -> Option<Option<Cgroup2Mount>> {
    let mount = Cgroup2Mount::if_missing();
    let output = run(prun(&["--kill-tree", "true"]));
    if output.status.code() == Some(0) {
        return Some(mount);
    }
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(stderr(&output).contains("cgroup"), "{}", stderr(&output));
    skip(&format!("prun --kill-tree: {}", stderr(&output).trim()));
    None
}

/// The command of the tree tests: a shell that starts a daemon (double fork and `setsid`:
/// outside the shell's process group and session), announces both PIDs on stdout, and then
/// runs `then`.
fn daemonizing(then: &str) -> String {
    format!("( setsid sh -c 'echo daemon $$; exec sleep 1000' & ); echo shell $$; {then}")
}

/// Reads the `daemon PID` and `shell PID` lines; `None` at end of file (everything died
/// before both were said).
fn announcements(stdout: std::process::ChildStdout) -> Option<(u32, u32)> {
    let (mut daemon, mut shell) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let (what, pid) = line.split_once(' ').unwrap();
        let pid: u32 = pid.parse().unwrap();
        match what {
            "daemon" => daemon = Some(pid),
            "shell" => shell = Some(pid),
            other => panic!("unexpected line {other:?}"),
        }
        if let (Some(daemon), Some(shell)) = (daemon, shell) {
            return Some((daemon, shell));
        }
    }
    None
}

/// What became of the daemon of one run of a timeout tool.
struct Run {
    code: Option<i32>,
    daemon: u32,
    /// Opened while the tool ran (`None`: the daemon was gone already).
    pidfd: Option<PidFd>,
}

impl Run {
    /// Whether the daemon is gone: its pidfd says it exited, or (killed before a pidfd could
    /// be opened) `/proc` has no live process of its PID.
    fn daemon_gone(&self) -> bool {
        match &self.pidfd {
            Some(pidfd) => pidfd.wait_for_exit(Some(Duration::ZERO)).unwrap(),
            None => std::fs::read_to_string(format!("/proc/{}/stat", self.daemon)).map_or(
                true,
                |stat| {
                    stat.rsplit_once(") ")
                        .is_some_and(|(_, rest)| rest.starts_with('Z'))
                },
            ),
        }
    }
}

/// Runs `command` (a timeout tool around [`daemonizing`]`("exec sleep 1000")`) to its end.
/// `None` when the timeout struck before the daemon was announced (retry with a longer one).
fn timeout_with_a_daemon(mut command: Command) -> Option<Run> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dog = watchdog(&child);
    let announced = announcements(child.stdout.take().unwrap());
    let pidfd = announced.and_then(|(daemon, _)| PidFd::open(daemon).ok());
    let status = child.wait().unwrap();
    dog.join().unwrap();
    announced.map(|(daemon, _)| Run {
        code: status.code(),
        daemon,
        pidfd,
    })
}

/// `--kill-tree` against coreutils `timeout` with a command that daemonizes: at the timeout
/// both end the command (124), only `prun --kill-tree` ends the daemon too.
#[test]
fn kill_tree_leaves_no_daemon_behind_where_timeout_does() {
    let Some(_mount) = kill_tree_or_skip() else {
        return;
    };
    let script = daemonizing("exec sleep 1000");
    for seconds in ["1", "4", "16"] {
        let ours =
            timeout_with_a_daemon(prun(&["--kill-tree", "-t", seconds, "sh", "-c", &script]));
        let theirs = {
            let mut command = Command::new("timeout");
            command.args([seconds, "sh", "-c", &script]);
            timeout_with_a_daemon(command)
        };
        let (Some(ours), Some(theirs)) = (ours, theirs) else {
            // The timeout came before the daemon existed: try a longer one.
            continue;
        };
        assert_eq!(ours.code, Some(124));
        assert_eq!(theirs.code, Some(124));
        // prun waited until the tree was empty: the daemon is gone.
        assert!(
            ours.daemon_gone(),
            "prun --kill-tree left the daemon {}",
            ours.daemon
        );
        // coreutils timeout signalled its child and its process group; the daemon left both.
        assert!(
            !theirs.daemon_gone(),
            "coreutils timeout killed the daemon: the comparison shows nothing"
        );
        let pidfd = theirs.pidfd.expect("a pidfd of timeout's live daemon");
        pidfd.kill().unwrap();
        assert!(pidfd.wait_for_exit(Some(QUICK)).unwrap());
        return;
    }
    panic!("no daemon was announced before even a 16 s timeout");
}

/// With `--kill-tree`, what the command leaves running when it exits on its own is killed
/// too; the exit code stays the command's.
#[test]
fn kill_tree_ends_what_the_command_left_running() {
    let Some(_mount) = kill_tree_or_skip() else {
        return;
    };
    let script = daemonizing("read x; exit 3");
    let mut child = prun(&["--kill-tree", "--", "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dog = watchdog(&child);
    let (daemon, _) = announcements(child.stdout.take().unwrap()).expect("announcements");
    let daemon = PidFd::open(daemon).unwrap();
    drop(child.stdin.take()); // `read x` ends: the shell exits 3
    let status = child.wait().unwrap();
    dog.join().unwrap();
    assert_eq!(status.code(), Some(3));
    assert!(
        daemon.wait_for_exit(Some(Duration::ZERO)).unwrap(),
        "the daemon outlived prun --kill-tree"
    );
}

/// `prun --kill-tree` where no cgroup v2 is writable: 125 and the reason — never a silent
/// run without the tree. As root, checked as nobody (`setpriv`).
#[test]
fn kill_tree_without_a_writable_cgroup_fails_with_125() {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"));
    let mut command = if root {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            // Under test-arches, prun is a foreign binary: run it through the emulator.
            .args(
                std::env::var("PIDFD_TEST_RUNNER")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .arg(PRUN)
            .env_remove("PIDFD_DISABLE");
        command
    } else {
        prun(&[])
    };
    command.args(["--kill-tree", "true"]);
    let output = run(command);
    let text = stderr(&output);
    if root && output.status.code() != Some(125) && !text.contains("prun") {
        skip(&format!("cannot run prun as nobody: {}", text.trim()));
        return;
    }
    if output.status.code() == Some(0) {
        // An ordinary user whose cgroup is delegated (a systemd user session).
        skip("this user's cgroup v2 is delegated: --kill-tree works");
        return;
    }
    assert_eq!(output.status.code(), Some(125), "{text}");
    assert!(
        text.contains("--kill-tree") && text.contains("cgroup"),
        "{text}"
    );
}

/// `prun --kill-tree` where a tree can be made but the command cannot be started inside it
/// (no clone3 with `CLONE_INTO_CGROUP`: qemu-user, before Linux 5.7, seccomp — here forced
/// with `PIDFD_DISABLE=1`, which turns off every pidfd syscall, clone3's included): prun's
/// own failure, 125 with the reason, not the command's 126.
#[test]
fn kill_tree_without_a_cgroup_spawn_fails_with_125() {
    let Some(_mount) = kill_tree_or_skip() else {
        return;
    };
    let output = run(prun_pid_mode(&["--kill-tree", "true"]));
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(125), "{text}");
    assert!(
        text.contains("--kill-tree") && text.contains("cgroup"),
        "{text}"
    );
}
