//! `pwait [--timeout DURATION] PID...` — wait for arbitrary processes to exit.
//!
//! Like procps `pidwait` or util-linux `waitpid`, but for any process, not only children,
//! and without polling `/proc`: every PID is first pinned with a pidfd
//! ([`pidfd_core::PidFd::open`]) — so a PID that exits and is reused while `pwait` starts
//! can never be confused with a new process — then all pidfds are watched by one
//! [`pidfd_core::Reaper`], which reports each exit as it happens.
//!
//! Output, one line per PID on stdout as each exits:
//!
//! ```text
//! 1234: exited with code 3      (status known: Linux 6.15+ keeps it once the parent reaped)
//! 1235: killed by signal 9
//! 1236: exited                  (status not ours to know: still a zombie, or older kernel)
//! ```
//!
//! Exit codes: 0 when every process exited; 1 when a PID does not exist (nothing is waited
//! for then: `pwait: PID 12345: no such process`) or pidfds are unavailable (Linux before
//! 5.3, or `PIDFD_DISABLE=1`); 2 for bad arguments; 124 when `--timeout` ran out
//! (`pwait: timed out; still running: 1 2` on stderr).
//!
//! Example: `sleep 1 & sleep 2 & pwait --timeout 5s $!` .

use std::io::{self, Write};
use std::process::{ExitCode, ExitStatus};
use std::time::Duration;

use pidfd_core::sys::time::Deadline;
use pidfd_core::{PidFd, Reaper, Watched};
use pidfd_tools::cli::{Arg, Parser, Tool, UsageError, error_text};
use pidfd_tools::duration::parse_duration;
use pidfd_tools::outcome::describe;

const TOOL: Tool = Tool {
    name: "pwait",
    usage: "\
Usage: pwait [--timeout DURATION] PID...
Wait until every PID has exited (any process, not only children); print one line per exit.

  -t, --timeout DURATION  give up after DURATION (e.g. 10, 1.5s, 500ms, 2m): exit 124
  -h, --help              print this help

Exit status: 0 all exited, 1 no such process (or no pidfd support), 2 bad arguments,
124 timed out.
",
};

/// What the command line asks for.
struct Options {
    timeout: Option<Duration>,
    pids: Vec<u32>,
}

/// Parses the arguments; `Ok(None)` for `--help`.
fn parse(mut parser: Parser) -> Result<Option<Options>, UsageError> {
    let mut options = Options {
        timeout: None,
        pids: Vec::new(),
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Arg::Option(option) => match option.as_str() {
                "-h" | "--help" => return Ok(None),
                "-t" | "--timeout" => {
                    let value = parser.value(&option)?;
                    let timeout = parse_duration(&value).map_err(|e| UsageError(e.to_string()))?;
                    options.timeout = Some(timeout);
                }
                _ => return Err(UsageError::unknown_option(&option)),
            },
            Arg::Operand(operand) => {
                let text = operand.to_string_lossy();
                let pid = text
                    .parse::<u32>()
                    .ok()
                    .filter(|&pid| pid > 0 && i32::try_from(pid).is_ok())
                    .ok_or_else(|| UsageError(format!("invalid PID '{text}'")))?;
                // Waiting twice for one process would print it twice.
                if !options.pids.contains(&pid) {
                    options.pids.push(pid);
                }
            }
        }
    }
    if options.pids.is_empty() {
        return Err(UsageError("no PID given".into()));
    }
    Ok(Some(options))
}

/// "exited with code 3", "killed by signal 9", or "exited" when the status is unknown.
fn outcome(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "exited".to_owned(), describe)
}

fn main() -> ExitCode {
    let options = match TOOL.options(parse(Parser::from_env()), 2) {
        Ok(options) => options,
        Err(code) => return code,
    };

    // Without pidfds a process that is not our child can only be polled for: refuse
    // (also when PIDFD_DISABLE=1 asks not to use them, e.g. under a seccomp filter).
    match pidfd_core::probe::features() {
        Ok(features) if features.pidfd_open => {}
        Ok(_) => {
            TOOL.error("pidfds are unavailable (Linux 5.3+ needed) or disabled (PIDFD_DISABLE)");
            return ExitCode::from(1);
        }
        Err(error) => {
            TOOL.error(error_text(&error));
            return ExitCode::from(1);
        }
    }

    // Pin every process first: from here on each pidfd means that process, whatever
    // happens to its PID number.
    let mut pidfds = Vec::with_capacity(options.pids.len());
    let mut missing = false;
    for &pid in &options.pids {
        match PidFd::open(pid) {
            Ok(pidfd) => pidfds.push((pid, pidfd)),
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {
                TOOL.error(format_args!("PID {pid}: no such process"));
                missing = true;
            }
            // Recent kernels say ENOENT for a thread ID that is not a thread-group leader
            // (older ones say EINVAL, which PidFd::open reports as ESRCH).
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {
                TOOL.error(format_args!("PID {pid}: no such process (a thread ID?)"));
                missing = true;
            }
            Err(error) => {
                TOOL.error(format_args!("PID {pid}: {}", error_text(&error)));
                missing = true;
            }
        }
    }
    if missing {
        return ExitCode::from(1);
    }

    let mut reaper = match Reaper::new() {
        Ok(reaper) => reaper,
        Err(error) => {
            TOOL.error(error_text(&error));
            return ExitCode::from(1);
        }
    };
    for (pid, pidfd) in pidfds {
        if let Err(error) = reaper.add_pidfd(pidfd, pid) {
            TOOL.error(format_args!("PID {pid}: {}", error_text(&error)));
            return ExitCode::from(1);
        }
    }

    // The PIDs still running, in argument order (for the time-out message).
    let mut running = options.pids;
    // One deadline for the whole wait (an unrepresentable one is no limit).
    let deadline = Deadline::after(options.timeout);
    loop {
        let remaining = deadline.remaining();
        let exit = match reaper.next_exit(remaining) {
            Ok(Some(exit)) => exit,
            Ok(None) if reaper.is_empty() => return ExitCode::SUCCESS,
            Ok(None) => {
                let list: Vec<String> = running.iter().map(u32::to_string).collect();
                TOOL.error(format_args!("timed out; still running: {}", list.join(" ")));
                return ExitCode::from(124);
            }
            Err(error) => {
                TOOL.error(error_text(&error));
                return ExitCode::from(1);
            }
        };
        // The reaper already asked the kernel (a process that is not our child cannot be
        // waited for; Linux 6.15+ keeps its status once its parent reaped it). One more
        // look, in case the parent reaped it just now.
        let status = exit.status.or_else(|| match &exit.watched {
            Watched::PidFd(pidfd) => pidfd.info().ok().and_then(|info| info.exit_status),
            Watched::Process(process) => process.try_wait().ok().flatten(),
        });
        let pid = exit.token;
        running.retain(|&other| other != pid);
        // A closed stdout must not stop the wait for the others.
        let _ = writeln!(io::stdout(), "{pid}: {}", outcome(status));
    }
}
