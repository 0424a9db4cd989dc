//! `prun [--timeout D] [--kill-after D] [--signal SIG] [--kill-tree] [--] CMD ARGS...` — run
//! a command with a race-free timeout, like coreutils `timeout`; with `--kill-tree`, end
//! everything the command started too.
//!
//! # How it works
//!
//! `prun` blocks `SIGINT`, `SIGTERM`, `SIGHUP` and `SIGQUIT` in itself and receives them
//! through a `signalfd`, then starts the command with [`pidfd_core::Spawn`] (with an empty
//! signal mask, so the command does not inherit the blocked signals). The returned
//! [`pidfd_core::Process`] holds a pidfd obtained from the clone itself. One `poll` over the
//! pidfd and the signalfd, with the time left as its timeout, is the whole event loop:
//!
//! * a signal received by `prun` is forwarded to the command (then `SIGCONT`, in case it is
//!   stopped);
//! * when the timeout expires, `--signal` (default `TERM`) is sent, then `SIGCONT`; with
//!   `--kill-after`, `SIGKILL` follows that much later if the command still runs (also after
//!   a forwarded signal, as coreutils does);
//! * when the pidfd becomes readable, the command is reaped and its fate becomes `prun`'s
//!   exit code.
//!
//! # Why it is race-free
//!
//! Every signal goes through the pidfd ([`pidfd_core::Process::signal`]), never `kill(pid)`.
//! A pidfd names one process for its whole life: if the command has exited and been
//! reaped, the signal fails with `ESRCH` — it can never reach an unrelated process that was
//! given the same PID number since. (A PID-based `timeout` that sends its signal just as the
//! command exits relies on not having reaped it yet; `prun` does not need such care.) No
//! signal handler runs either: the signals are read as data, so there is nothing
//! async-signal-unsafe to get wrong.
//!
//! # Foreground
//!
//! `prun` stays in the foreground: no `setsid`, no new process group, so the command keeps
//! the terminal and can read from it, and `Ctrl-C` reaches it directly (it may then also
//! get the `SIGINT` that `prun` forwards). Only the command itself is signalled, not
//! processes it started — unless `--kill-tree` is given.
//!
//! # `--kill-tree`
//!
//! coreutils `timeout` signals its child (or, with `--foreground` off, its process group):
//! a daemon the command started — double-forked, `setsid` — outlives it. With
//! `--kill-tree`, `prun` starts the command in a [`pidfd_core::ProcessTree`] (a cgroup v2 of
//! its own, under prun's; `CLONE_INTO_CGROUP`), so nothing it starts can leave:
//!
//! * the timeout's `--signal`, and every forwarded signal, go to every process of the tree
//!   (sent through pidfds while the tree is frozen, so no member forks past it);
//! * `--kill-after` (and `--signal KILL`) kill the whole tree;
//! * when the command has exited — on its own or not — whatever is left in the tree is
//!   killed, and `prun` waits until the tree is empty (`cgroup.events`, no polling) and
//!   removes it. Nothing the command started outlives `prun`.
//!
//! Without a writable cgroup v2 (no delegation, cgroup v1 only), or where the command
//! cannot be started inside one (no `clone3` with `CLONE_INTO_CGROUP`: before Linux 5.7,
//! under qemu-user, or refused by seccomp), `--kill-tree` fails with exit code 125 and the
//! reason: it never silently does less.
//!
//! # Exit codes (as coreutils `timeout`)
//!
//! * 124: the command timed out (and was ended by `--signal`, or ignored it);
//! * 137 (128 + 9): the command timed out and ended by `SIGKILL` (`--kill-after`, or
//!   `--signal KILL`);
//! * the command's own exit code, or 128 + N if it was killed by signal N;
//! * 125: `prun` itself failed (bad arguments: with the usage text);
//! * 126: the command was found but could not be run; 127: it was not found.
//!
//! A zero `--timeout` or `--kill-after` means none (as in coreutils).

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitCode, ExitStatus};
use std::time::{Duration, Instant};

use pidfd_core::sys::time::{PID_MODE_RECHECK, capped};
use pidfd_core::{Mode, Process, ProcessTree, Spawn};
use pidfd_sys::signal::{SIGCONT, SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM};
use pidfd_tools::cli::{Arg, Parser, Tool, UsageError, error_text};
use pidfd_tools::duration::parse_duration;
use pidfd_tools::outcome::exit_code;
use pidfd_tools::poll::poll_readable;
use pidfd_tools::signal::parse_signal;
use pidfd_tools::signalfd::SignalFd;

const TOOL: Tool = Tool {
    name: "prun",
    usage: "\
Usage: prun [--timeout DURATION] [--kill-after DURATION] [--signal SIG] [--kill-tree]
            [--] CMD [ARG...]
Run CMD; forward SIGINT, SIGTERM, SIGHUP and SIGQUIT to it, and end it after DURATION.
Signals go through the command's pidfd, so they can never reach a recycled PID.

  -t, --timeout DURATION     send SIG after DURATION (e.g. 10, 1.5s, 500ms, 2m; 0: never)
  -k, --kill-after DURATION  send KILL if still running DURATION after SIG
  -s, --signal SIG           the signal to send at the timeout (name or number; default TERM)
      --kill-tree            run CMD in a cgroup v2 of its own: signals reach everything it
                             started (daemons included), and what is left when CMD exits
                             is killed
  -h, --help                 print this help

Exit status: 124 timed out, 137 timed out and killed, 125 prun failed, 126 CMD cannot be
run, 127 CMD not found; else CMD's own exit code, or 128+N if a signal N killed it.
",
};

/// Exit code when prun itself fails (bad arguments included).
const FAILED: u8 = 125;
/// Exit code when the command timed out.
const TIMED_OUT: u8 = 124;

/// The signals prun receives through its signalfd and forwards.
const FORWARDED: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// What the command line asks for.
struct Options {
    timeout: Option<Duration>,
    kill_after: Option<Duration>,
    signal: i32,
    kill_tree: bool,
    command: OsString,
    args: Vec<OsString>,
}

/// A duration option's value; zero means "none".
fn duration_value(parser: &mut Parser, option: &str) -> Result<Option<Duration>, UsageError> {
    let value = parser.value(option)?;
    let duration = parse_duration(&value).map_err(|error| UsageError(error.to_string()))?;
    Ok(Some(duration).filter(|duration| !duration.is_zero()))
}

/// Parses the arguments; `Ok(None)` for `--help`. Options end at the command.
fn parse(mut parser: Parser) -> Result<Option<Options>, UsageError> {
    let (mut timeout, mut kill_after, mut signal) = (None, None, SIGTERM);
    let mut kill_tree = false;
    while let Some(arg) = parser.next()? {
        match arg {
            Arg::Option(option) => match option.as_str() {
                "-h" | "--help" => return Ok(None),
                "-t" | "--timeout" => timeout = duration_value(&mut parser, &option)?,
                "-k" | "--kill-after" => kill_after = duration_value(&mut parser, &option)?,
                "--kill-tree" => kill_tree = true,
                "-s" | "--signal" => {
                    let value = parser.value(&option)?;
                    signal = parse_signal(&value).map_err(|error| UsageError(error.to_string()))?;
                }
                _ => return Err(UsageError::unknown_option(&option)),
            },
            Arg::Operand(command) => {
                let args = parser.rest().collect();
                return Ok(Some(Options {
                    timeout,
                    kill_after,
                    signal,
                    kill_tree,
                    command,
                    args,
                }));
            }
        }
    }
    Err(UsageError("no command given".into()))
}

/// The run: the command, prun's signalfd, and the timers.
struct Run {
    process: Process,
    /// With `--kill-tree`: the command's tree, which every signal goes to.
    tree: Option<ProcessTree>,
    command: OsString,
    signals: SignalFd,
    /// A duplicate of the command's pidfd, to poll (`None` in pid mode).
    pidfd: Option<OwnedFd>,
    /// When to send `--signal` (cleared once sent).
    timeout_at: Option<Instant>,
    /// When to send `SIGKILL` (cleared once sent).
    kill_at: Option<Instant>,
    timed_out: bool,
}

impl Run {
    /// Sends `signal` (then `SIGCONT`, so that a stopped command sees it) through the
    /// pidfd, and starts the `--kill-after` grace period.
    fn deliver(&mut self, signal: i32, kill_after: Option<Duration>) {
        self.send(signal);
        if signal != SIGKILL && signal != SIGCONT {
            self.send(SIGCONT);
        }
        if self.kill_at.is_none() && signal != SIGKILL {
            self.kill_at = kill_after.and_then(|after| Instant::now().checked_add(after));
        }
    }

    /// One signal through the pidfd (with `--kill-tree`: to every process of the tree).
    /// `ESRCH` means the command has just exited: it will be reaped next round (and the
    /// signal did not go anywhere else).
    fn send(&self, signal: i32) {
        let sent = match &self.tree {
            Some(tree) if signal == SIGKILL => tree.kill(),
            Some(tree) => tree.signal(signal).map(drop),
            None => self.process.send_signal(signal),
        };
        match sent {
            Ok(()) => {}
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {}
            Err(error) => TOOL.error(format_args!(
                "sending signal {signal} to {}: {}",
                self.command.to_string_lossy(),
                error_text(&error)
            )),
        }
    }

    /// Runs the event loop until the command has exited; returns its status.
    fn wait(&mut self, options: &Options) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.process.try_wait()? {
                return Ok(status);
            }
            let now = Instant::now();
            if self.timeout_at.is_some_and(|at| at <= now) {
                self.timeout_at = None;
                self.timed_out = true;
                self.deliver(options.signal, options.kill_after);
                continue;
            }
            if self.kill_at.is_some_and(|at| at <= now) {
                self.kill_at = None;
                self.send(SIGKILL);
                continue;
            }
            let next = match (self.timeout_at, self.kill_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut wait = next.map(|at| at.saturating_duration_since(now));
            let mut fds: Vec<BorrowedFd<'_>> = vec![self.signals.as_fd()];
            match &self.pidfd {
                Some(pidfd) => fds.push(pidfd.as_fd()),
                // In pid mode (no pidfd to poll), check every PID_MODE_RECHECK whether the
                // command exited.
                None => wait = capped(wait, PID_MODE_RECHECK),
            }
            poll_readable(&fds, wait)?;
            while let Some(signal) = self.signals.read()? {
                self.deliver(signal, options.kill_after);
            }
        }
    }
}

/// With `--kill-tree`, once the command has exited: kills what is left in its tree, waits
/// until the tree is empty and removes it.
fn end_tree(tree: ProcessTree) {
    let ended = tree
        .kill()
        .and_then(|()| tree.wait_empty(Some(pidfd_core::DROP_WAIT)));
    match ended {
        Ok(true) => {
            if let Err(error) = tree.remove() {
                TOOL.error(format_args!("removing the tree: {}", error_text(&error)));
            }
        }
        Ok(false) => TOOL.error(format_args!(
            "processes of the tree still run after {:?}",
            pidfd_core::DROP_WAIT
        )),
        Err(error) => TOOL.error(format_args!("killing the tree: {}", error_text(&error))),
    }
}

/// prun's exit code for the command's `status` (coreutils `timeout` rules).
fn final_code(status: ExitStatus, timed_out: bool) -> u8 {
    if timed_out {
        if status.signal() == Some(SIGKILL) {
            128 + 9
        } else {
            TIMED_OUT
        }
    } else {
        exit_code(status)
    }
}

fn main() -> ExitCode {
    let options = match TOOL.options(parse(Parser::from_env()), FAILED) {
        Ok(options) => options,
        Err(code) => return code,
    };
    let command = options.command.to_string_lossy().into_owned();

    // Block the signals before the command exists, so none is lost in between: from here
    // on they wait in the signalfd.
    let signals = match SignalFd::block(&FORWARDED) {
        Ok(signals) => signals,
        Err(error) => {
            TOOL.error(format_args!("signalfd: {}", error_text(&error)));
            return ExitCode::from(FAILED);
        }
    };
    let tree = if options.kill_tree {
        match ProcessTree::new() {
            Ok(tree) => Some(tree),
            Err(error) => {
                TOOL.error(format_args!("--kill-tree: {}", error_text(&error)));
                return ExitCode::from(FAILED);
            }
        }
    } else {
        None
    };
    let mut spawn = Spawn::new(&options.command);
    spawn
        .args(&options.args)
        // The command must not inherit prun's blocked signals. (Spawn also gives it the
        // SIGPIPE default back, which the Rust runtime ignores in prun.)
        .signal_mask(&[]);
    let spawned = match &tree {
        Some(tree) => tree.spawn(&mut spawn),
        None => spawn.spawn(),
    };
    let process = match spawned {
        Ok(child) => child.into_process(),
        // A tree that cannot take the command (no clone3 with CLONE_INTO_CGROUP: before
        // Linux 5.7, qemu-user, seccomp) is prun's failure, not the command's: 125, with
        // the reason, as when no tree can be made.
        Err(error) if tree.is_some() && error.kind() == io::ErrorKind::Unsupported => {
            TOOL.error(format_args!(
                "--kill-tree: cannot start '{command}' in its cgroup: {}",
                error_text(&error)
            ));
            return ExitCode::from(FAILED);
        }
        Err(error) => {
            TOOL.error(format_args!(
                "failed to run command '{command}': {}",
                error_text(&error)
            ));
            let not_found = error.kind() == io::ErrorKind::NotFound;
            return ExitCode::from(if not_found { 127 } else { 126 });
        }
    };
    let pidfd = match process.mode() {
        Mode::PidFd => match process.with_pidfd(|pidfd| pidfd.as_fd().try_clone_to_owned()) {
            Ok(Ok(fd)) => Some(fd),
            // Already reaped cannot be (only we reap it); anything else: poll by time.
            Ok(Err(_)) | Err(_) => None,
        },
        Mode::Pid => None,
    };
    let mut run = Run {
        process,
        tree,
        command: options.command.clone(),
        signals,
        pidfd,
        timeout_at: options
            .timeout
            .and_then(|timeout| Instant::now().checked_add(timeout)),
        kill_at: None,
        timed_out: false,
    };
    let waited = run.wait(&options);
    if let Some(tree) = run.tree.take() {
        end_tree(tree);
    }
    match waited {
        Ok(status) => ExitCode::from(final_code(status, run.timed_out)),
        Err(error) => {
            TOOL.error(format_args!(
                "waiting for '{command}': {}",
                error_text(&error)
            ));
            // Do not leave the command running unwatched.
            run.send(SIGKILL);
            ExitCode::from(FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_exit_codes() {
        let killed = ExitStatus::from_raw(SIGKILL);
        let terminated = ExitStatus::from_raw(SIGTERM);
        let exited = ExitStatus::from_raw(3 << 8);
        assert_eq!(final_code(killed, true), 137);
        assert_eq!(final_code(terminated, true), 124);
        assert_eq!(final_code(exited, true), 124);
        assert_eq!(final_code(killed, false), 137);
        assert_eq!(i32::from(final_code(terminated, false)), 128 + SIGTERM);
        assert_eq!(final_code(exited, false), 3);
    }

    #[test]
    fn options_stop_at_the_command() {
        let options = parse(Parser::new(["-t", "1s", "-s", "KILL", "cmd", "-t", "x"]))
            .unwrap()
            .unwrap();
        assert_eq!(options.timeout, Some(Duration::from_secs(1)));
        assert_eq!(options.signal, SIGKILL);
        assert_eq!(options.command, "cmd");
        assert_eq!(options.args, ["-t", "x"]);
        assert!(!options.kill_tree);
        let options = parse(Parser::new(["--kill-tree", "cmd"])).unwrap().unwrap();
        assert!(options.kill_tree);
        let options = parse(Parser::new(["--timeout=0", "--", "-cmd"]))
            .unwrap()
            .unwrap();
        assert_eq!(options.timeout, None);
        assert_eq!(options.command, "-cmd");
        assert!(parse(Parser::new(["-t", "1s"])).is_err());
        assert!(parse(Parser::new(["-s", "NOPE", "cmd"])).is_err());
        assert!(parse(Parser::new(["--help", "cmd"])).unwrap().is_none());
    }
}
