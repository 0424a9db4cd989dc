//! Native syscall numbers (`SYS_*`) for the ABI this crate was compiled for.
//!
//! Read out of [`crate::abi::NATIVE`]; the per-ABI tables are in [`crate::abi`].

#![allow(
    non_upper_case_globals,
    reason = "kernel spellings, as libc's SYS_* constants"
)]

use core::ffi::c_long;

use crate::abi::NATIVE;

/// `pidfd_send_signal(2)` (Linux 5.1+).
pub const SYS_pidfd_send_signal: c_long = NATIVE.syscalls.pidfd_send_signal;
/// `pidfd_open(2)` (Linux 5.3+).
pub const SYS_pidfd_open: c_long = NATIVE.syscalls.pidfd_open;
/// `clone3(2)` (Linux 5.3+), `None` on ABIs without it (sparc, sh).
pub const SYS_clone3: Option<c_long> = NATIVE.syscalls.clone3;
/// `pidfd_getfd(2)` (Linux 5.6+).
pub const SYS_pidfd_getfd: c_long = NATIVE.syscalls.pidfd_getfd;
/// `clone(2)`.
pub const SYS_clone: c_long = NATIVE.syscalls.clone;
/// `waitid(2)`.
pub const SYS_waitid: c_long = NATIVE.syscalls.waitid;
/// `process_madvise(2)` (Linux 5.10+).
pub const SYS_process_madvise: c_long = NATIVE.syscalls.process_madvise;
/// `process_mrelease(2)` (Linux 5.15+).
pub const SYS_process_mrelease: c_long = NATIVE.syscalls.process_mrelease;
