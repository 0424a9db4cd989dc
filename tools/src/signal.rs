//! Signal names and numbers on the command line: `TERM`, `SIGTERM`, `term`, `RTMIN+1` or
//! `15`.
//!
//! A thin layer over [`pidfd_core::signals`], which owns the name table and the parsing
//! (numbers from [`pidfd_sys::signal`], right for every architecture — unlike `libc::SIG*`,
//! which gives the x86 numbers on mips64 glibc). Realtime names are the kernel's numbers
//! (`RTMIN` is 32), not the C library's; see [`pidfd_core::signals`].
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
//! assert_eq!(parse_signal("RTMIN+1"), Ok(33));
//! assert_eq!(signal_name(SIGKILL), Some("KILL"));
//! assert!(parse_signal("NOPE").is_err());
//! ```

pub use pidfd_core::signals::ParseSignalError;

/// The standard signals known by name (without the `SIG` prefix): [`pidfd_core::signals::STANDARD`].
pub const SIGNALS: &[(&str, i32)] = pidfd_core::signals::STANDARD;

/// Parses a signal: a name, with or without the `SIG` prefix, in any case (a standard name
/// from [`SIGNALS`], or `RTMIN`, `RTMIN+n`, `RTMAX`, `RTMAX-n`); or a number in
/// `1..=NSIG`. See [`pidfd_core::signals::parse`].
///
/// # Errors
///
/// [`ParseSignalError`] for an unknown name, 0, a number above `NSIG`, a sign, or an empty
/// string.
pub fn parse_signal(text: &str) -> Result<i32, ParseSignalError> {
    pidfd_core::signals::parse(text)
}

/// The name of signal `number` without the `SIG` prefix (`"TERM"`), if it is in
/// [`SIGNALS`]; for realtime signals too, see [`pidfd_core::signals::name`].
pub fn signal_name(number: i32) -> Option<&'static str> {
    pidfd_core::signals::standard_name(number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pidfd_sys::signal as sig;

    #[test]
    fn the_command_line_forms() {
        for (text, expected) in [
            ("TERM", sig::SIGTERM),
            ("SIGTERM", sig::SIGTERM),
            ("term", sig::SIGTERM),
            ("9", sig::SIGKILL),
            ("SIGRTMIN+1", 33),
        ] {
            assert_eq!(parse_signal(text), Ok(expected), "{text}");
        }
        for text in ["", "0", "-9", "SIGFOO", " 15"] {
            let error = parse_signal(text).unwrap_err();
            assert!(error.to_string().contains(&format!("'{text}'")), "{error}");
        }
    }

    #[test]
    fn names_round_trip() {
        for &(name, number) in SIGNALS {
            assert_eq!(parse_signal(name), Ok(number));
            assert_eq!(signal_name(number), Some(name));
        }
        assert_eq!(signal_name(0), None);
    }
}
