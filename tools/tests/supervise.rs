//! `supervise`: N children through one Reaper, one line per exit, exit status.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{run, stderr, stdout, tool};

const SUPERVISE: &str = env!("CARGO_BIN_EXE_supervise");

fn supervise(args: &[&str]) -> Command {
    tool(SUPERVISE, args)
}

/// Parses `child I (pid P): OUTCOME` lines into index → (pid, outcome).
fn exits(text: &str) -> BTreeMap<usize, (u32, String)> {
    let mut exits = BTreeMap::new();
    for line in text.lines() {
        let rest = line.strip_prefix("child ").unwrap();
        let (index, rest) = rest.split_once(" (pid ").unwrap();
        let (pid, outcome) = rest.split_once("): ").unwrap();
        let previous = exits.insert(
            index.parse().unwrap(),
            (pid.parse().unwrap(), outcome.to_owned()),
        );
        assert!(previous.is_none(), "child {index} reported twice:\n{text}");
    }
    exits
}

#[test]
fn default_command_reports_every_child_and_fails() {
    let output = run(supervise(&["-n", "3"]));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let exits = exits(&stdout(&output));
    assert_eq!(exits.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);
    for (index, (pid, outcome)) in &exits {
        assert!(*pid > 0);
        // The default command exits with SUPERVISE_INDEX % 3.
        assert_eq!(outcome, &format!("exited with code {}", index % 3));
    }
}

#[test]
fn all_successful_exits_give_0() {
    let output = run(supervise(&["-n", "2", "--", "true"]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let exits = exits(&stdout(&output));
    assert_eq!(exits.len(), 2);
    assert!(
        exits
            .values()
            .all(|(_, outcome)| outcome == "exited with code 0")
    );
    let pids: Vec<u32> = exits.values().map(|(pid, _)| *pid).collect();
    assert_ne!(pids[0], pids[1]);
}

#[test]
fn each_child_gets_its_index_and_exits_are_reported_as_they_happen() {
    // Child i exits with code i after 0.9 - 0.4 i s: the last started exits first.
    let output = run(supervise(&[
        "-n",
        "3",
        "sh",
        "-c",
        "sleep 0.$(( 9 - 4 * SUPERVISE_INDEX )); exit $SUPERVISE_INDEX",
    ]));
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let exits = exits(&text);
    for (index, (_, outcome)) in &exits {
        assert_eq!(outcome, &format!("exited with code {index}"));
    }
    assert_eq!(exits.len(), 3);
    // Reported in the order of the exits (0.4 s apart), not of the starts.
    let order: Vec<&str> = text.lines().map(|line| &line[..7]).collect();
    assert_eq!(order, ["child 2", "child 1", "child 0"], "{text}");
}

#[test]
fn killed_children_are_failures() {
    let output = run(supervise(&["-n", "1", "--", "sh", "-c", "kill -KILL $$"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).ends_with("): killed by signal 9\n"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn unstartable_command_is_reported_and_fails() {
    let output = run(supervise(&[
        "-n",
        "2",
        "--",
        "pidfd-tools-no-such-command-xyz",
    ]));
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let errors = stderr(&output);
    assert_eq!(
        errors.matches("No such file or directory").count(),
        2,
        "{errors}"
    );
}

#[test]
fn bad_arguments_give_2() {
    for args in [
        &["-n"][..],
        &["-n", "0"],
        &["-n", "x"],
        &["-n", "-1"],
        &["-x"],
    ] {
        let output = run(supervise(args));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stderr(&output).contains("Usage: supervise"), "{args:?}");
    }
}

#[test]
fn pid_mode_fallback_reports_every_child() {
    // PIDFD_DISABLE=1: pid-mode children, which the Reaper checks by PID.
    let mut command = supervise(&["-n", "3"]);
    command.env("PIDFD_DISABLE", "1");
    let output = run(command);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let exits = exits(&stdout(&output));
    for (index, (_, outcome)) in &exits {
        assert_eq!(outcome, &format!("exited with code {}", index % 3));
    }
    assert_eq!(exits.len(), 3);
}
