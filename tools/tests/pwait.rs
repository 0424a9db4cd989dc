//! `pwait`: waiting for processes that are not its children, time-outs, missing PIDs and
//! bad arguments.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{run, stderr, stdout, tool};

const PWAIT: &str = env!("CARGO_BIN_EXE_pwait");

/// Generous for a loaded 2-core VM.
const QUICK: Duration = Duration::from_secs(5);

fn pwait(args: &[&str]) -> Command {
    tool(PWAIT, args)
}

/// A `sleep` child of the test (so never a child of pwait).
fn sleep(seconds: &str) -> Child {
    Command::new("sleep")
        .arg(seconds)
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

/// A PID that no process has: above the kernel's `pid_max`.
fn missing_pid() -> String {
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (max + 1).to_string()
}

#[test]
fn waits_for_processes_that_are_not_its_children() {
    let mut short = sleep("0.3");
    let mut long = sleep("0.6");
    let output = run(pwait(&[&short.id().to_string(), &long.id().to_string()]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // It really waited for both: they have exited by the time it returns.
    assert!(
        short
            .try_wait()
            .unwrap()
            .is_some_and(|status| status.success())
    );
    assert!(
        long.try_wait()
            .unwrap()
            .is_some_and(|status| status.success())
    );
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let mut pids = BTreeSet::new();
    for line in &lines {
        let (pid, outcome) = line.split_once(": ").unwrap();
        pids.insert(pid.parse::<u32>().unwrap());
        // Not pwait's children: the kernel keeps a status for a pidfd only once the parent
        // (this test) has reaped the process (PIDFD_INFO_EXIT, 6.15+), and this test reaps
        // only after pwait returned — so pwait cannot have seen one.
        assert_eq!(outcome, "exited", "{line}");
    }
    assert_eq!(pids, BTreeSet::from([short.id(), long.id()]));
}

#[test]
fn timeout_gives_124_and_names_the_running_pids() {
    let mut child = sleep("10");
    let pid = child.id().to_string();
    let start = Instant::now();
    let output = run(pwait(&["--timeout", "0.2", &pid]));
    assert_eq!(output.status.code(), Some(124), "{}", stderr(&output));
    assert!(start.elapsed() < QUICK, "took {:?}", start.elapsed());
    assert_eq!(
        stderr(&output),
        format!("pwait: timed out; still running: {pid}\n")
    );
    assert!(output.stdout.is_empty());
    // The process was only watched, not touched.
    assert_eq!(child.try_wait().unwrap(), None);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn exits_reported_before_the_timeout_are_printed() {
    let mut quick = sleep("0.1");
    let mut slow = sleep("10");
    let output = run(pwait(&[
        "-t",
        "2s",
        &quick.id().to_string(),
        &slow.id().to_string(),
    ]));
    assert_eq!(output.status.code(), Some(124), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with(&format!("{}: exited", quick.id())),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        stderr(&output),
        format!("pwait: timed out; still running: {}\n", slow.id())
    );
    slow.kill().unwrap();
    slow.wait().unwrap();
    quick.wait().unwrap();
}

#[test]
fn missing_pid_gives_1_without_waiting() {
    let missing = missing_pid();
    let output = run(pwait(&[&missing]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!("pwait: PID {missing}: no such process\n")
    );
    assert!(output.stdout.is_empty());

    // With a live process too: nothing is waited for.
    let mut child = sleep("10");
    let start = Instant::now();
    let output = run(pwait(&[&child.id().to_string(), &missing]));
    assert_eq!(output.status.code(), Some(1));
    assert!(start.elapsed() < QUICK, "took {:?}", start.elapsed());
    assert!(stderr(&output).contains("no such process"));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_arguments_give_2() {
    for args in [
        &["abc"][..],
        &[],
        &["0"],
        &["-5"],
        &["--", "-5"],
        &["1.5"],
        &["4294967296"],
        &["--timeout", "x", "1"],
        &["--timeout"],
        &["--bogus", "1"],
    ] {
        let output = run(pwait(args));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stderr(&output).contains("Usage: pwait"), "{args:?}");
    }
}

#[test]
fn help_exits_0() {
    for flag in ["-h", "--help"] {
        let output = run(pwait(&[flag]));
        assert_eq!(output.status.code(), Some(0));
        assert!(stdout(&output).starts_with("Usage: pwait"));
    }
}

#[test]
fn refuses_to_run_without_pidfds() {
    let mut child = sleep("10");
    let mut command = pwait(&[&child.id().to_string()]);
    command.env("PIDFD_DISABLE", "1");
    let output = run(command);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("PIDFD_DISABLE"),
        "{}",
        stderr(&output)
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
