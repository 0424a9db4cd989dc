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
//! * [`ProcessTree`] — start programs in a cgroup v2 of their own and kill the whole tree
//!   (`cgroup.kill`, or freeze-signal-thaw), daemons and `setsid` escapers included; wait
//!   until it is empty through `cgroup.events`.
//! * [`fork()`] — `fork(2)` returning the child's pidfd (the missing `pidfd_fork`).
//! * [`probe`] — which pidfd features this kernel allows, probed once and cached, with the
//!   `PIDFD_DISABLE=1` opt-out.
//!
//! * [`signals`] — signal names and numbers (`TERM`, `SIGKILL`, `RTMIN+1`, `15`) with
//!   this ABI's numbers.
//! * `pidfd_core::tokio` and `pidfd_core::async_io` (features `tokio`, `async-io`; no async dependency by
//!   default) — the same, async: a [`Process`] wait as a cancel-safe future (any number at
//!   once), a `Child` with async pipes, async `output()`, the [`Reaper`] as a `Stream`, and
//!   a drop that does not wait for the child and leaves no zombie; pid mode woken by
//!   `SIGCHLD` and a re-check timer.
//!
//! Every fallible call returns [`std::io::Result`]; exit statuses are
//! [`std::process::ExitStatus`]. [`Spawn`] starts programs with a pidfd that comes from the
//! clone itself, with posix_spawn-style file actions and attributes and `CLONE_INTO_CGROUP`.
//!
//! # Errors
//!
//! Errors are [`std::io::Error`]s carrying the kernel's errno where there is one. Two cases
//! have predicates in [`error`]:
//!
//! * [`error::is_gone`] — `ESRCH`: the process has been reaped (or never existed). Signalling
//!   a reaped process through a pidfd or a [`Process`] fails this way; it never reaches
//!   another process that got the PID.
//! * [`error::is_unsupported`] — `ErrorKind::Unsupported`: the kernel is too old, or an
//!   emulator or sandbox refused the call (`ENOSYS`). Where the kernel's refusal is an
//!   `EINVAL` that can only mean "too old" (`waitid(P_PIDFD)` before 5.4, `PIDFD_NONBLOCK`,
//!   `PIDFD_THREAD`, `PIDFD_SIGNAL_*` flags), it is reported as `Unsupported` too, with the
//!   version needed in the message and the errno kept ([`error::errno`]). `InvalidInput`
//!   means a bad argument.
//!
//! [`probe::features`] tells in advance which pidfd features work here.
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
pub mod error;
mod exit_status;
pub mod fdinfo;
mod fork;
mod pidfd;
pub mod probe;
mod process;
mod reaper;
pub mod signals;
mod spawn;
mod state;
mod sync;
pub mod sys;
#[cfg(feature = "tokio")]
pub mod tokio;
mod tree;

pub use fork::{Fork, fork};
pub use pidfd::{Ids, OpenFlags, PidFd, ProcessIdentity, ProcessInfo, ResourceUsage, SignalFlags};
pub use process::{Mode, Process};
pub use reaper::{EntryError, Exit, Key, Reaper, Watched};
pub use spawn::{Child, Spawn, Stdio, TimedOutput};
pub use tree::{DROP_WAIT, KillMethod, ProcessTree, TreeBuilder, TreeKind};
