//! Exit statuses: as a shell-style exit code, and in words.
//!
//! A shell reports a command killed by signal `N` as exit code `128 + N`; [`exit_code`]
//! does the same, so that a wrapper such as `prun` can pass its command's fate on to its own
//! caller.
//!
//! # Example
//!
//! ```
//! use pidfd_tools::outcome::{describe, exit_code};
//!
//! # fn main() -> std::io::Result<()> {
//! let status = std::process::Command::new("sh").args(["-c", "exit 3"]).status()?;
//! assert_eq!(exit_code(status), 3);
//! assert_eq!(describe(status), "exited with code 3");
//!
//! let status = std::process::Command::new("sh").args(["-c", "kill -KILL $$"]).status()?;
//! assert_eq!(exit_code(status), 128 + 9);
//! assert_eq!(describe(status), "killed by signal 9");
//! # Ok(())
//! # }
//! ```

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// The shell-style exit code for `status`: the exit code itself, or `128 + N` for a process
/// killed by signal `N` (at most 255: mips has signals up to 128). A status that is neither
/// (stopped or continued, which an exit never is) gives 255.
pub fn exit_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        // Only the low 8 bits of an exit code reach the parent.
        return u8::try_from(code & 0xff).unwrap_or(u8::MAX);
    }
    match status.signal() {
        Some(signal) => u8::try_from(128 + signal).unwrap_or(u8::MAX),
        None => u8::MAX,
    }
}

/// `status` in words: `exited with code 3`, `killed by signal 9`, or
/// `killed by signal 11 (core dumped)`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) if status.core_dumped() => {
            format!("killed by signal {signal} (core dumped)")
        }
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => format!("ended with wait status {:#x}", status.into_raw()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Wait statuses in the traditional encoding (what `ExitStatus::from_raw` takes).
    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    fn signaled(signal: i32) -> ExitStatus {
        ExitStatus::from_raw(signal)
    }

    #[test]
    fn codes_pass_through() {
        for code in [0, 1, 3, 124, 255] {
            assert_eq!(i32::from(exit_code(exited(code))), code);
            assert_eq!(describe(exited(code)), format!("exited with code {code}"));
        }
    }

    #[test]
    fn signals_become_128_plus_n() {
        assert_eq!(exit_code(signaled(9)), 137);
        assert_eq!(exit_code(signaled(15)), 143);
        assert_eq!(exit_code(signaled(127)), 255);
        assert_eq!(describe(signaled(9)), "killed by signal 9");
        assert_eq!(
            describe(ExitStatus::from_raw(11 | 0x80)),
            "killed by signal 11 (core dumped)"
        );
    }

    #[test]
    fn stopped_is_neither() {
        let stopped = ExitStatus::from_raw((19 << 8) | 0x7f);
        assert_eq!(exit_code(stopped), 255);
        assert!(describe(stopped).starts_with("ended with wait status"));
    }
}
