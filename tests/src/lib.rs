//! Shared helpers for the end-to-end tests: real child processes, owned pidfds, kernel
//! version checks.
//!
//! Nothing here mocks the kernel; every helper makes a real syscall. Only the modules that
//! make raw calls allow `unsafe` code, each for its own stated reason.
//!
//! The helpers most tests use are re-exported here, so that `pidfd_tests::sh` names the same
//! function as `pidfd_tests::child::sh`:
//!
//! - [`child`] — [`TestChild`], [`sh`], [`Orphan`], [`spawn_sh`];
//! - [`raw`] — raw syscalls ([`pidfd_open`], [`waitid`], [`naive_kill`], …), rlimits and the
//!   fd table;
//! - [`kernel`] — what the kernel supports and what the crate's probe decides
//!   ([`pidfd_mode_allowed`], [`pidfds_or_skip`], [`expected_spawn_mode`]);
//! - [`tempdir`] — [`TempDir`].

pub mod cgroup;
pub mod child;
pub mod emulator;
pub mod interrupt;
pub mod kernel;
pub mod pid_steering;
pub mod ptrace;
pub mod raw;
pub mod reference;
pub mod scenario;
pub mod seccomp;
pub mod tempdir;

pub use child::{Orphan, TestChild, sh, sleeping_child, spawn_sh};
pub use kernel::{expected_spawn_mode, pidfd_mode_allowed, pidfds_or_skip};
pub use raw::{
    await_exit_without_reaping, fill_fd_table, fork_exiting, install_interrupting_handler,
    naive_kill, open_fd_count, own, own_pid, pidfd_open, raise_nofile, real_ids, waitid,
    waitid_into,
};
pub use tempdir::TempDir;
