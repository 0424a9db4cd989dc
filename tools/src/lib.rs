//! Command-line tools built on `pidfd-core`, and the small pieces they share.
//!
//! The tools (each in `src/bin/`):
//!
//! * **`pwait [--timeout DURATION] PID...`** — wait for arbitrary processes (not only
//!   children) to exit, like procps `pidwait` or util-linux `waitpid`: every PID is pinned
//!   with a pidfd first, then all are watched by one [`pidfd_core::Reaper`].
//! * **`prun [--timeout D] [--kill-after D] [--signal SIG] [--] CMD ARGS...`** — run a
//!   command with a race-free timeout, like coreutils `timeout`: signals reach the command
//!   through its pidfd, never through a PID that might have been reused.
//! * **`supervise [-n N] [--] CMD ARGS...`** — start N children and report their exits as
//!   they come, through one [`pidfd_core::Reaper`].
//!
//! The shared pieces, one concept per module:
//!
//! * [`duration`] — `1.5s`, `500ms`, `2m`, `3`;
//! * [`signal`] — `TERM`, `SIGTERM`, `15`, with the numbers of [`pidfd_sys::signal`];
//! * [`outcome`] — exit status to shell-style exit code (`128 + N` for signal `N`) and words;
//! * [`cli`] — option parsing and `tool: message` output;
//! * [`signalfd`] — receive signals as data;
//! * [`poll`] — wait for any of a few fds (pidfds, signalfds) with a timeout.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use pidfd_tools::{duration::parse_duration, signal::parse_signal, outcome::exit_code};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! assert_eq!(parse_duration("250ms")?, Duration::from_millis(250));
//! assert_eq!(parse_signal("SIGKILL")?, pidfd_sys::signal::SIGKILL);
//! let process = pidfd_core::Spawn::new("sh").args(["-c", "exit 7"]).spawn()?;
//! assert_eq!(exit_code(process.wait()?), 7);
//! # Ok(())
//! # }
//! ```

pub mod cli;
pub mod duration;
pub mod outcome;
pub mod poll;
pub mod signal;
pub mod signalfd;

/// The former name of [`outcome`].
#[deprecated(since = "0.1.0", note = "renamed to `outcome`")]
pub mod status {
    pub use crate::outcome::{describe, exit_code};
}
