//! Safe Linux process file descriptors.
//!
//! * [`PidFd`] — an owned pidfd: open, signal, wait (blocking, non-blocking, with timeout,
//!   with resource usage), pid, info, getfd, identity, and waiting for any process to exit.
//! * [`Process`] — one handle in pidfd mode or pid mode ([`Mode`]), `Send + Sync`, with a
//!   refcounted fd (model-checked with loom), cached and idempotent waits, and no signal
//!   ever sent to a reaped (possibly reused) PID.
//! * [`Spawn`] — start a program; the returned [`Child`] holds a [`Process`] whose pidfd
//!   comes from `clone(CLONE_PIDFD)` itself, at vfork speed, with step-by-step fallbacks,
//!   and the pipes asked for with [`Stdio::piped`]; [`Spawn::output`] collects both output
//!   pipes in one `poll(2)` loop (no deadlock; with a deadline: [`Spawn::output_timeout`]),
//!   and [`Spawn::kill_on_drop`] kills and reaps a child whose [`Child`] is dropped.
//! * [`Reaper`] — wait for the exits of many processes (children or not) through one epoll
//!   fd, each reported once with a user token; O(1) work per exit (Linux 5.3/5.4+), and a
//!   `SIGCHLD`-signalfd fallback for pid-mode children.
//! * [`fork`] — `fork(2)` returning the child's pidfd (the missing `pidfd_fork`).
//! * [`probe`] — which pidfd features this kernel allows, probed once and cached, with the
//!   `PIDFD_DISABLE=1` opt-out.
//!
//! * `pidfd_core::tokio` and `pidfd_core::async_io` (features `tokio`, `async-io`; no async dependency by
//!   default) — the same, async: a [`Process`] wait as a cancel-safe future (any number at
//!   once), a `Child` with async pipes, async `output()`, the [`Reaper`] as a `Stream`, and
//!   kill-on-drop that never blocks the runtime; pid mode through the `SIGCHLD` signalfd.
//!
//! Every fallible call returns [`std::io::Result`]; exit statuses are
//! [`std::process::ExitStatus`]. [`Spawn`] starts programs with a pidfd that comes from the
//! clone itself, with posix_spawn-style file actions and attributes and `CLONE_INTO_CGROUP`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use pidfd_core::PidFd;
//!
//! # fn main() -> std::io::Result<()> {
//! let child = std::process::Command::new("sleep").arg("10").spawn()?;
//! let pidfd = PidFd::open(child.id())?;
//! assert_eq!(pidfd.wait_timeout(Duration::from_millis(50))?, None); // still running
//! pidfd.kill()?;
//! let status = pidfd.wait()?;
//! assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
//! // The child is gone: signalling it again can never reach another process.
//! assert_eq!(pidfd.kill().unwrap_err().raw_os_error(), Some(libc::ESRCH));
//! # Ok(())
//! # }
//! ```

#[cfg(any(feature = "tokio", feature = "async-io"))]
mod aio;
#[cfg(feature = "async-io")]
pub mod async_io;
mod exit_status;
pub mod fdinfo;
mod fork;
mod pidfd;
pub mod probe;
mod process;
mod reaper;
mod spawn;
mod state;
mod sync;
pub mod sys;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use fork::{Fork, fork};
pub use pidfd::{Ids, OpenFlags, PidFd, ProcessIdentity, ProcessInfo, ResourceUsage, SignalFlags};
pub use process::{Mode, Process};
pub use reaper::{EntryError, Exit, Key, Reaper, Watched};
pub use spawn::{Child, Spawn, Stdio, TimedOutput};
