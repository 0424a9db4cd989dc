//! `supervise [-n N] [--] CMD ARGS...` — start N children, report each exit as it comes.
//!
//! The example of [`pidfd_core::Reaper`]: every child is started with
//! [`pidfd_core::Spawn`] (its pidfd comes from the clone itself) and added to one reaper
//! with its index as the token; [`Reaper::next_exit`] then hands back the exits in the
//! order they happen, each reaped already, for O(1) work per exit — no `SIGCHLD` handler,
//! no `waitpid(-1)` loop that could steal someone else's child.
//!
//! Each child gets `SUPERVISE_INDEX=i` (0-based) in its environment. Without a command,
//! the children run `sh -c 'sleep 0.$SUPERVISE_INDEX; exit $((SUPERVISE_INDEX % 3))'`.
//!
//! Output, one line per exit: `child 2 (pid 1234): exited with code 2`. Exit code: 0 if
//! every child exited with code 0, else 1; 2 for bad arguments.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use pidfd_core::{Process, Reaper, Spawn, Watched};
use pidfd_tools::cli::{Arg, Parser, Tool, UsageError, error_text};
use pidfd_tools::outcome::describe;

const TOOL: Tool = Tool {
    name: "supervise",
    usage: "\
Usage: supervise [-n N] [--] [CMD [ARG...]]
Start N copies of CMD, each with SUPERVISE_INDEX=0..N-1 in its environment, and print each
exit as it happens. Default CMD: sh -c 'sleep 0.$SUPERVISE_INDEX; exit $((SUPERVISE_INDEX % 3))'

  -n, --count N  how many children (default 4)
  -h, --help     print this help

Exit status: 0 if every child exited with code 0, 1 otherwise, 2 bad arguments.
",
};

/// The command the children run when none is given.
const DEFAULT_COMMAND: [&str; 3] = [
    "sh",
    "-c",
    "sleep 0.$SUPERVISE_INDEX; exit $((SUPERVISE_INDEX % 3))",
];

/// Parses the arguments into (N, command and arguments); `Ok(None)` for `--help`.
fn parse(mut parser: Parser) -> Result<Option<(usize, Vec<OsString>)>, UsageError> {
    let mut count = 4;
    while let Some(arg) = parser.next()? {
        match arg {
            Arg::Option(option) => match option.as_str() {
                "-h" | "--help" => return Ok(None),
                "-n" | "--count" => {
                    let value = parser.value(&option)?;
                    count = value
                        .parse()
                        .ok()
                        .filter(|&count| count > 0)
                        .ok_or_else(|| UsageError(format!("invalid count '{value}'")))?;
                }
                _ => return Err(UsageError::unknown_option(&option)),
            },
            Arg::Operand(program) => {
                let command = std::iter::once(program).chain(parser.rest()).collect();
                return Ok(Some((count, command)));
            }
        }
    }
    Ok(Some((count, DEFAULT_COMMAND.map(OsString::from).to_vec())))
}

/// Starts child `index` of `command` (program and arguments).
fn start(command: &[OsString], index: usize) -> io::Result<Process> {
    Spawn::new(&command[0])
        .args(&command[1..])
        .env("SUPERVISE_INDEX", index.to_string())
        .spawn()
        .map(Process::from)
}

fn main() -> ExitCode {
    let (count, command) = match TOOL.options(parse(Parser::from_env()), 2) {
        Ok(options) => options,
        Err(code) => return code,
    };
    let mut all_ok = true;
    let mut reaper = match Reaper::new() {
        Ok(reaper) => reaper,
        Err(error) => {
            TOOL.error(error_text(&error));
            return ExitCode::from(1);
        }
    };

    for index in 0..count {
        let started = start(&command, index).and_then(|process| reaper.add(process, index));
        if let Err(error) = started {
            let program = command[0].to_string_lossy();
            TOOL.error(format_args!(
                "child {index}: {program}: {}",
                error_text(&error)
            ));
            all_ok = false;
        }
    }

    // Each exit once, in the order they happen, already reaped.
    loop {
        let exit = match reaper.next_exit(None) {
            Ok(Some(exit)) => exit,
            Ok(None) => break, // the reaper is empty
            Err(error) => {
                TOOL.error(error_text(&error));
                return ExitCode::from(1);
            }
        };
        let pid = match &exit.watched {
            Watched::Process(process) => process.pid(),
            Watched::PidFd(pidfd) => pidfd.pid().unwrap_or(0),
        };
        let outcome = exit
            .status
            .map_or_else(|| "exited (status unknown)".to_owned(), describe);
        all_ok &= exit.status.is_some_and(|status| status.success());
        let _ = writeln!(io::stdout(), "child {} (pid {pid}): {outcome}", exit.token);
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
