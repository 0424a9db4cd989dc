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
