//! Signal names and numbers on the command line: `TERM`, `SIGTERM`, `term` or `15`.
//!
//! The numbers come from [`pidfd_sys::signal`], which has the right values for every
//! architecture — unlike `libc::SIG*`, which gives the x86 numbers on mips64 glibc.
//!
//! # Example
//!
//! ```
//! use pidfd_sys::signal::{SIGKILL, SIGTERM};
//! use pidfd_tools::signal::{parse_signal, signal_name};
//!
//! assert_eq!(parse_signal("TERM"), Ok(SIGTERM));
//! assert_eq!(parse_signal("SIGTERM"), Ok(SIGTERM));
//! assert_eq!(parse_signal(&SIGKILL.to_string()), Ok(SIGKILL));
//! assert_eq!(signal_name(SIGKILL), Some("KILL"));
//! assert!(parse_signal("NOPE").is_err());
//! ```

use std::fmt;

use pidfd_sys::signal as sig;

/// The signals known by name (without the `SIG` prefix), from [`pidfd_sys::signal`].
pub const SIGNALS: &[(&str, i32)] = &[
    ("HUP", sig::SIGHUP),
    ("INT", sig::SIGINT),
    ("QUIT", sig::SIGQUIT),
    ("ABRT", sig::SIGABRT),
    ("BUS", sig::SIGBUS),
    ("KILL", sig::SIGKILL),
    ("USR1", sig::SIGUSR1),
    ("SEGV", sig::SIGSEGV),
    ("USR2", sig::SIGUSR2),
    ("PIPE", sig::SIGPIPE),
    ("ALRM", sig::SIGALRM),
    ("TERM", sig::SIGTERM),
    ("CHLD", sig::SIGCHLD),
    ("CONT", sig::SIGCONT),
    ("STOP", sig::SIGSTOP),
    ("TSTP", sig::SIGTSTP),
    ("SYS", sig::SIGSYS),
];

/// Why a signal could not be parsed; its message names the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSignalError {
    text: String,
}

impl fmt::Display for ParseSignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid signal '{}' (expected a name such as TERM or SIGKILL, or a number 1..={})",
            self.text,
            sig::NSIG
        )
    }
}

impl std::error::Error for ParseSignalError {}

/// Parses a signal: a name from [`SIGNALS`], with or without the `SIG` prefix, in any case;
/// or a number in `1..=NSIG`.
///
/// # Errors
///
/// [`ParseSignalError`] for an unknown name, 0, a number above `NSIG`, a sign, or an empty
/// string.
pub fn parse_signal(text: &str) -> Result<i32, ParseSignalError> {
    let error = || ParseSignalError {
        text: text.to_owned(),
    };
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        return match text.parse::<i32>() {
            Ok(number) if (1..=sig::NSIG).contains(&number) => Ok(number),
            _ => Err(error()),
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|&(_, number)| number)
        .ok_or_else(error)
}

/// The name of signal `number` without the `SIG` prefix (`"TERM"`), if it is in
/// [`SIGNALS`].
pub fn signal_name(number: i32) -> Option<&'static str> {
    SIGNALS
        .iter()
        .find(|&&(_, known)| known == number)
        .map(|&(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_prefix_in_any_case() {
        for (text, expected) in [
            ("TERM", sig::SIGTERM),
            ("SIGTERM", sig::SIGTERM),
            ("term", sig::SIGTERM),
            ("SigInt", sig::SIGINT),
            ("KILL", sig::SIGKILL),
            ("usr1", sig::SIGUSR1),
            ("SIGHUP", sig::SIGHUP),
        ] {
            assert_eq!(parse_signal(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn numbers_in_range() {
        assert_eq!(parse_signal(&sig::SIGTERM.to_string()), Ok(sig::SIGTERM));
        assert_eq!(parse_signal("1"), Ok(1));
        assert_eq!(parse_signal(&sig::NSIG.to_string()), Ok(sig::NSIG));
        assert_eq!(parse_signal("09"), Ok(9));
    }

    #[test]
    fn rejects_junk_negative_zero_and_empty() {
        let too_big = (sig::NSIG + 1).to_string();
        for text in [
            "",
            "0",
            "-9",
            "+9",
            "-TERM",
            "SIG",
            "SIGFOO",
            "TERM ",
            " 15",
            "1.5",
            "99999999999",
            "SIGSIGTERM",
            &too_big,
        ] {
            let error = parse_signal(text).unwrap_err();
            assert!(error.to_string().contains(&format!("'{text}'")), "{error}");
        }
    }

    #[test]
    fn names_round_trip_and_are_distinct() {
        for &(name, number) in SIGNALS {
            assert_eq!(parse_signal(name), Ok(number));
            assert_eq!(signal_name(number), Some(name));
        }
        assert_eq!(signal_name(0), None);
    }
}
