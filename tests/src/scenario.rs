//! Scenarios in a re-exec'd copy of the test binary, for tests that change process-wide state
//! that cannot be undone (seccomp filters, signal dispositions, rlimits), reap with
//! `waitpid(-1)`, or count the fds of the whole process.
//!
//! The parent test calls [`Scenarios::run`], which starts `<this test binary> --ignored
//! --exact <entry> --nocapture --test-threads=1` with the scenario name in an environment
//! variable. The entry point is an `#[ignore]`d test of the same binary that calls
//! [`Scenarios::dispatch`]: it finds the scenario in the binary's table (see [`Scenario`]),
//! runs it, and says `done`; the scenario reports with [`say`] (`scenario:key=value` lines on
//! stdout), and the parent gets the lines as a map. Each scenario function can stand beside
//! the test that runs it; only the table lists them all.
//!
//! ```ignore
//! const SCENARIOS: Scenarios = Scenarios::new("MY_SUITE_SCENARIO").table(&[
//!     ("hello", |_| hello_scenario()),
//!     ("repeat", repeat_scenario),
//! ]);
//!
//! #[test]
//! #[ignore = "entry point for the re-exec'd children"]
//! fn scenario_child() {
//!     SCENARIOS.dispatch();
//! }
//!
//! fn hello_scenario() {
//!     say("greeting", "hi");
//! }
//!
//! #[test]
//! fn hello() {
//!     assert_eq!(SCENARIOS.run("hello", &[]).unwrap()["greeting"], "hi");
//! }
//!
//! /// `repeat:<word>:<n>`.
//! fn repeat_scenario(args: &[&str]) {
//!     let [word, n] = scenario::args(args);
//!     say("said", word.repeat(n.parse().unwrap()));
//! }
//!
//! #[test]
//! fn repeat() {
//!     assert_eq!(SCENARIOS.run("repeat:ab:2", &[]).unwrap()["said"], "abab");
//! }
//! ```
//!
//! (An entry point may also read the name with [`Scenarios::current`] and dispatch itself.)

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The name of the entry-point test that [`Scenarios::new`] assumes.
pub const DEFAULT_ENTRY: &str = "scenario_child";

/// What a scenario said: its `key=value` lines.
pub type Report = BTreeMap<String, String>;

/// One entry of a scenario table ([`Scenarios::table`]): the scenario's name, and the
/// function that runs it in the re-exec'd child. The function gets the words that follow the
/// name in the string given to [`Scenarios::run`], split at `:` — `"spawn-fallback:vm"` runs
/// the entry `spawn-fallback` with `["vm"]` (take them apart with [`args`]); a scenario
/// without arguments is entered through a closure, `|_| emfile_scenario()`.
pub type Scenario = (&'static str, fn(&[&str]));

/// How to run the scenarios of one test binary: the environment variable that carries the
/// scenario name, the entry-point test, and a time limit.
#[derive(Debug, Clone, Copy)]
pub struct Scenarios {
    env_var: &'static str,
    entry: &'static str,
    timeout: Duration,
    pid_namespace: bool,
    table: &'static [Scenario],
}

impl Scenarios {
    /// Scenarios named in `env_var`, entered through the test [`DEFAULT_ENTRY`], each
    /// killed (and the test failed) after 5 minutes.
    pub const fn new(env_var: &'static str) -> Scenarios {
        Scenarios {
            env_var,
            entry: DEFAULT_ENTRY,
            timeout: Duration::from_secs(300),
            pid_namespace: false,
            table: &[],
        }
    }

    /// With the table of the binary's scenarios, for [`Scenarios::dispatch`]; then
    /// [`Scenarios::run`] also refuses (fails the calling test on) a name not in it, before
    /// starting anything.
    pub const fn table(self, table: &'static [Scenario]) -> Scenarios {
        Scenarios { table, ..self }
    }

    /// With another entry-point test name.
    pub const fn entry(self, entry: &'static str) -> Scenarios {
        Scenarios { entry, ..self }
    }

    /// With another time limit.
    pub const fn timeout(self, timeout: Duration) -> Scenarios {
        Scenarios { timeout, ..self }
    }

    /// Each scenario in a new user and PID namespace of its own (`unshare --user
    /// --map-root-user --pid --fork --mount-proc`): the scenario is PID 1 there, root over
    /// the namespace without being root, and alone — so it can steer PIDs deterministically
    /// (`ns_last_pid`, and `pid_max` on Linux 6.14+, see [`crate::pid_steering`]). Where
    /// unprivileged user namespaces are refused, [`Scenarios::run`] reports a visible skip.
    pub const fn in_pid_namespace(self) -> Scenarios {
        Scenarios {
            pid_namespace: true,
            ..self
        }
    }

    /// In the child: the scenario to run.
    ///
    /// # Panics
    ///
    /// When the variable is not set (the entry point was run directly).
    pub fn current(&self) -> String {
        std::env::var(self.env_var)
            .unwrap_or_else(|_| panic!("{} not set: run by the parent tests only", self.env_var))
    }

    /// In the child (the entry-point test): runs the scenario named in the environment
    /// variable, found in the [`Scenarios::table`], then says `done`.
    ///
    /// # Panics
    ///
    /// When the variable is not set, or names no scenario of the table.
    pub fn dispatch(&self) {
        let name = self.current();
        let mut words = name.split(':');
        let first = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        let run = self.lookup(first).unwrap_or_else(|| {
            panic!(
                "unknown scenario {name:?}; the table has {:?}",
                self.names()
            )
        });
        run(&args);
        say("done", true);
    }

    /// The function of the table entry called `name`.
    fn lookup(&self, name: &str) -> Option<fn(&[&str])> {
        self.table
            .iter()
            .find(|(entry, _)| *entry == name)
            .map(|&(_, run)| run)
    }

    /// The names in the table.
    fn names(&self) -> Vec<&'static str> {
        self.table.iter().map(|&(name, _)| name).collect()
    }

    /// Runs `scenario` in a fresh copy of this test binary, with `PIDFD_DISABLE` removed
    /// and `extra_env` added to the environment; returns what it said — or `None` where it
    /// did not run (a recorded skip: no namespaces for [`Scenarios::in_pid_namespace`]) or
    /// reported an emulator gap (`gap=<reason>`).
    ///
    /// # Panics
    ///
    /// (Failing the calling test) when `scenario` is not in the [`Scenarios::table`] (where
    /// there is one), the child cannot be started, fails, runs out of time, or does not say
    /// `done`.
    pub fn run(&self, scenario: &str, extra_env: &[(&str, &str)]) -> Option<Report> {
        if !self.table.is_empty() {
            let name = scenario.split(':').next().unwrap_or_default();
            assert!(
                self.lookup(name).is_some(),
                "no scenario {name:?} in the table: {:?}",
                self.names()
            );
        }
        let exe = std::env::current_exe().expect("current_exe");
        // Under an emulator without binfmt_misc, the runner that started us (e.g.
        // `qemu-aarch64 -L /usr/aarch64-linux-gnu`) must start the copy too.
        let mut runner = std::env::var(crate::emulator::RUNNER_ENV).unwrap_or_default();
        if self.pid_namespace {
            if let Err(reason) = crate::pid_steering::namespaces_available() {
                crate::emulator::skip(&format!("scenario {scenario}: {reason}"));
                return None;
            }
            runner = format!("{} {runner}", crate::pid_steering::UNSHARE.join(" "));
        }
        let mut command = command_with_runner(&runner, &exe);
        command
            .args([
                "--ignored",
                "--exact",
                self.entry,
                "--nocapture",
                "--test-threads=1",
            ])
            .env(self.env_var, scenario)
            .env_remove(pidfd_core::probe::DISABLE_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let (status, stdout, stderr) = self.output(&mut command, scenario);
        assert!(
            status.success(),
            "scenario {scenario} failed: {status}\n{stdout}\n{stderr}"
        );
        let report = parse(&stdout);
        assert!(
            report.contains_key("done"),
            "scenario {scenario} did not finish:\n{stdout}\n{stderr}"
        );
        if let Some(reason) = report.get("gap") {
            assert!(
                crate::emulator::gap(reason),
                "scenario {scenario} reported an emulator gap on a real kernel: {reason}"
            );
            return None;
        }
        Some(report)
    }

    /// Runs `command` to completion within the time limit; kills it when the limit is hit.
    fn output(&self, command: &mut Command, scenario: &str) -> (ExitStatus, String, String) {
        let mut child = command.spawn().expect("cannot re-execute the test binary");
        let reader = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut text);
                }
                String::from_utf8_lossy(&text).into_owned()
            })
        };
        let stdout = reader(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = reader(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait on the scenario child") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        match status {
            Some(status) => (status, stdout, stderr),
            None => panic!(
                "scenario {scenario} timed out after {:?}:\n{stdout}\n{stderr}",
                self.timeout
            ),
        }
    }
}

/// The `scenario:key=value` lines of a child's stdout (libtest may print `test name ... `
/// in front of the first one).
pub fn parse(stdout: &str) -> Report {
    stdout
        .lines()
        .filter_map(|line| line.split_once("scenario:").map(|(_, rest)| rest))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// In the child: the `N` arguments of a scenario from its table entry's `args`.
///
/// # Panics
///
/// When there are not exactly `N` (the parent asked for `name:…` with too few or too many).
#[track_caller]
pub fn args<'a, const N: usize>(args: &[&'a str]) -> [&'a str; N] {
    match <[&str; N]>::try_from(args) {
        Ok(args) => args,
        Err(_) => panic!("the scenario takes {N} arguments, not {args:?}"),
    }
}

/// In the child: reports `key=value` to the parent.
pub fn say(key: &str, value: impl std::fmt::Display) {
    println!("scenario:{key}={value}");
}

/// `"ok"`, or the errno of the failure (else its error kind, as `{:?}`).
pub fn errno_of<T>(result: io::Result<T>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(error) => error
            .raw_os_error()
            .map_or_else(|| format!("{:?}", error.kind()), |e| e.to_string()),
    }
}

/// `"exit N"` (N as `{:?}` of [`ExitStatus::code`]) for a successful wait, else as
/// [`errno_of`].
pub fn wait_outcome(result: io::Result<ExitStatus>) -> String {
    match result {
        Ok(status) => format!("exit {:?}", status.code()),
        Err(error) => errno_of::<()>(Err(error)),
    }
}

/// A command that runs `program` through `runner` — words such as `qemu-mips -L /usr/...`
/// (the emulator test-arches names in [`crate::emulator::RUNNER_ENV`]) or `unshare ...`;
/// `program` alone when `runner` is empty.
pub fn command_with_runner(runner: &str, program: &std::path::Path) -> Command {
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(first) => {
            let mut command = Command::new(first);
            command.args(words).arg(program);
            command
        }
        None => Command::new(program),
    }
}
