//! Helpers shared by the integration tests: run a tool binary with a watchdog.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use pidfd_core::PidFd;

/// No test should take this long; past it the watchdog kills the tool (so a hang fails the
/// test instead of blocking the whole run).
pub(crate) const WATCHDOG: Duration = Duration::from_secs(60);

/// A command for the tool binary at `path` with `args` — through the emulator when
/// `cargo xtask test-arches` runs these tests for a foreign architecture (it sets
/// `PIDFD_TEST_RUNNER`, e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu`).
pub(crate) fn tool(path: &str, args: &[&str]) -> Command {
    let runner = std::env::var("PIDFD_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut command = match words.next() {
        Some(emulator) => {
            let mut command = Command::new(emulator);
            command.args(words).arg(path);
            command
        }
        None => Command::new(path),
    };
    // The tools are tested in their ordinary environment; their pid-mode fallback is tested
    // by the tests that set PIDFD_DISABLE themselves (after this call).
    command.args(args).env_remove("PIDFD_DISABLE");
    command
}

/// Kills `child` (through a pidfd, so never a recycled PID) if it is still running after
/// [`WATCHDOG`]; the thread ends as soon as it exits.
pub(crate) fn watchdog(child: &Child) -> JoinHandle<()> {
    let pidfd = PidFd::open(child.id()).expect("pidfd_open on our own child");
    std::thread::spawn(move || {
        if !pidfd
            .wait_for_exit(Some(WATCHDOG))
            .expect("poll on a pidfd")
        {
            let _ = pidfd.kill();
            panic!("watchdog: the tool ran for more than {WATCHDOG:?}");
        }
    })
}

/// Runs `command` with stdout and stderr captured.
pub(crate) fn run(mut command: Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the tool");
    let dog = watchdog(&child);
    let output = child.wait_with_output().expect("wait for the tool");
    dog.join().expect("watchdog");
    output
}

/// Runs `command` with its output discarded (for commands that leave a grandchild holding
/// a pipe open), returning only its status.
pub(crate) fn status_of(mut command: Command) -> ExitStatus {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the tool");
    let dog = watchdog(&child);
    let status = child.wait().expect("wait for the tool");
    dog.join().expect("watchdog");
    status
}

/// stdout as text.
pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as text.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
