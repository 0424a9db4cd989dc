//! Hand-rolled command-line parsing and messages, shared by the tools.
//!
//! [`Parser`] splits the arguments into options (`-n 3`, `-n3`, `--count 3`,
//! `--count=3`) and operands, with `--` ending the options. [`Tool`] prints messages in the
//! usual `name: message` form and the usage text.
//!
//! # Example
//!
//! ```
//! use pidfd_tools::cli::{Arg, Parser, UsageError};
//!
//! # fn main() -> Result<(), UsageError> {
//! let mut parser = Parser::new(["-n3", "--timeout=1s", "--", "-x", "y"]);
//! let mut seen = Vec::new();
//! while let Some(arg) = parser.next()? {
//!     match arg {
//!         Arg::Option(option) => {
//!             let value = parser.value(&option)?;
//!             seen.push(format!("{option}={value}"));
//!         }
//!         Arg::Operand(operand) => {
//!             seen.push(operand.to_string_lossy().into_owned());
//!             seen.extend(parser.rest().map(|rest| rest.to_string_lossy().into_owned()));
//!         }
//!     }
//! }
//! assert_eq!(seen, ["-n=3", "--timeout=1s", "-x", "y"]);
//! # Ok(())
//! # }
//! ```

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

/// A command-line mistake: the message to print before the usage text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl UsageError {
    /// "unknown option '-x'".
    pub fn unknown_option(option: &str) -> UsageError {
        UsageError(format!("unknown option '{option}'"))
    }
}

/// One command-line argument, as [`Parser::next`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// An option with its dashes: `"-n"`, `"--timeout"`. If it takes a value, get it with
    /// [`Parser::value`] before calling [`Parser::next`] again.
    Option(String),
    /// An operand (including everything after `--`, and a lone `-`).
    Operand(OsString),
}

/// Splits command-line arguments into options and operands.
///
/// * `--name value` and `--name=value`; `-n value` and `-nvalue` (no clusters of flags);
/// * `--` ends the options; `-` is an operand; `-5` is an option (so a negative number is an
///   "unknown option", never an operand);
/// * [`Parser::rest`] takes all remaining arguments untouched, for tools that stop at their
///   first operand (a command and its own arguments).
#[derive(Debug)]
pub struct Parser {
    args: VecDeque<OsString>,
    /// The option last returned and its attached value (`--name=value`, `-nvalue`), until
    /// [`Parser::value`] takes it.
    attached: Option<(String, OsString)>,
    options_done: bool,
}

impl Parser {
    /// A parser over `args` (without the program name).
    pub fn new<I, S>(args: I) -> Parser
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Parser {
            args: args.into_iter().map(Into::into).collect(),
            attached: None,
            options_done: false,
        }
    }

    /// A parser over this process's arguments (without the program name).
    pub fn from_env() -> Parser {
        Parser::new(std::env::args_os().skip(1))
    }

    /// The next argument, or `None` at the end.
    ///
    /// # Errors
    ///
    /// When the previous option had a value attached (`--help=x`) that [`Parser::value`]
    /// did not take, or the argument is `--=VALUE` (a value for no option).
    #[allow(
        clippy::should_implement_trait,
        reason = "fallible, and callers must be able to call value() between items"
    )]
    pub fn next(&mut self) -> Result<Option<Arg>, UsageError> {
        if let Some((option, _)) = self.attached.take() {
            return Err(UsageError(format!("option '{option}' takes no value")));
        }
        let Some(arg) = self.args.pop_front() else {
            return Ok(None);
        };
        if self.options_done {
            return Ok(Some(Arg::Operand(arg)));
        }
        let text = arg.to_string_lossy();
        if text == "--" {
            self.options_done = true;
            return self.next();
        }
        if let Some(long) = text.strip_prefix("--") {
            let option = match long.split_once('=') {
                // `--=VALUE`: no option name at all (found by the tools_cli fuzz target).
                Some(("", _)) => {
                    return Err(UsageError(format!("'{text}' names no option")));
                }
                Some((name, value)) => {
                    let option = format!("--{name}");
                    self.attached = Some((option.clone(), value.into()));
                    option
                }
                None => text.into_owned(),
            };
            return Ok(Some(Arg::Option(option)));
        }
        let mut chars = text.chars();
        if chars.next() == Some('-') {
            if let Some(short) = chars.next() {
                let option = format!("-{short}");
                let value = chars.as_str();
                if !value.is_empty() {
                    self.attached = Some((option.clone(), value.into()));
                }
                return Ok(Some(Arg::Option(option)));
            }
        }
        Ok(Some(Arg::Operand(arg)))
    }

    /// The value of `option` (the one [`Parser::next`] just returned): the attached one, or
    /// the next argument, which must be UTF-8.
    ///
    /// # Errors
    ///
    /// When the value is missing or not UTF-8.
    pub fn value(&mut self, option: &str) -> Result<String, UsageError> {
        let value = match self.attached.take() {
            Some((_, value)) => Some(value),
            None => self.args.pop_front(),
        };
        let value = value.ok_or_else(|| UsageError(format!("option '{option}' needs a value")))?;
        value
            .into_string()
            .map_err(|value| UsageError(format!("invalid value {value:?} for '{option}'")))
    }

    /// All remaining arguments, untouched (options are not looked at any more).
    pub fn rest(&mut self) -> impl Iterator<Item = OsString> + '_ {
        self.args.drain(..)
    }
}

/// A tool's name and usage text, for messages in the usual form.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// The program name, the prefix of every message (`pwait: ...`).
    pub name: &'static str,
    /// The usage text printed by `--help` and after a usage error.
    pub usage: &'static str,
}

impl Tool {
    /// Prints the usage text to stdout (for `-h`/`--help`).
    pub fn print_help(&self) {
        let _ = io::stdout().write_all(self.usage.as_bytes());
    }

    /// Prints `name: message` to stderr.
    pub fn error(&self, message: impl fmt::Display) {
        let _ = writeln!(io::stderr(), "{}: {message}", self.name);
    }

    /// Prints `name: message` and the usage text to stderr.
    pub fn usage_error(&self, message: impl fmt::Display) {
        let mut stderr = io::stderr().lock();
        let _ = writeln!(stderr, "{}: {message}", self.name);
        let _ = stderr.write_all(self.usage.as_bytes());
    }

    /// What `main` makes of its argument parser's result: the options to run with, or the
    /// exit code to return at once — success after printing the help (`Ok(None)`), and
    /// `usage_code` after printing a usage error.
    pub fn options<T>(
        &self,
        parsed: Result<Option<T>, UsageError>,
        usage_code: u8,
    ) -> Result<T, ExitCode> {
        match parsed {
            Ok(Some(options)) => Ok(options),
            Ok(None) => {
                self.print_help();
                Err(ExitCode::SUCCESS)
            }
            Err(error) => {
                self.usage_error(error);
                Err(ExitCode::from(usage_code))
            }
        }
    }
}

/// An I/O error in words, without Rust's ` (os error N)` suffix: `No such file or
/// directory`.
pub fn error_text(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rsplit_once(" (os error ") {
        Some((words, _)) => words.to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(args: &[&str]) -> Result<Vec<String>, UsageError> {
        let mut parser = Parser::new(args.iter().copied());
        let mut out = Vec::new();
        while let Some(arg) = parser.next()? {
            match arg {
                Arg::Option(option) if option == "-h" => out.push(option),
                Arg::Option(option) => {
                    let value = parser.value(&option)?;
                    out.push(format!("{option}={value}"));
                }
                Arg::Operand(operand) => out.push(operand.to_string_lossy().into_owned()),
            }
        }
        Ok(out)
    }

    #[test]
    fn options_and_operands() {
        assert_eq!(
            collect(&[
                "-n", "3", "-t1s", "--signal", "TERM", "--k=2", "a", "-", "-h"
            ])
            .unwrap(),
            ["-n=3", "-t=1s", "--signal=TERM", "--k=2", "a", "-", "-h"]
        );
        assert_eq!(collect(&["--", "-n", "--x"]).unwrap(), ["-n", "--x"]);
        let error = Parser::new(["--=5"]).next().unwrap_err();
        assert!(error.0.contains("'--=5' names no option"), "{error}");
        assert_eq!(collect(&["--x="]).unwrap(), ["--x="]);
    }

    #[test]
    fn mistakes() {
        assert_eq!(
            collect(&["-n"]).unwrap_err().to_string(),
            "option '-n' needs a value"
        );
        assert_eq!(
            collect(&["-hx"]).unwrap_err().to_string(),
            "option '-h' takes no value"
        );
    }

    #[test]
    fn rest_is_untouched() {
        let mut parser = Parser::new(["-t", "1", "cmd", "--", "-x"]);
        assert_eq!(parser.next().unwrap(), Some(Arg::Option("-t".into())));
        assert_eq!(parser.value("-t").unwrap(), "1");
        assert_eq!(parser.next().unwrap(), Some(Arg::Operand("cmd".into())));
        assert_eq!(parser.rest().collect::<Vec<_>>(), ["--", "-x"]);
        assert_eq!(parser.next().unwrap(), None);
    }

    #[test]
    fn error_text_drops_the_os_error_suffix() {
        let error = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(error_text(&error), "No such file or directory");
        assert_eq!(error_text(&io::Error::other("plain")), "plain");
    }
}
