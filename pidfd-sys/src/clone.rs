//! `struct clone_args` for `clone3(2)` (Linux 5.3+).
//!
//! The struct is extensible: the kernel takes its size as the second argument and accepts
//! any size it knows, so callers pass the smallest version that holds the fields they use
//! (older kernels reject larger sizes with `E2BIG`).

#![allow(non_camel_case_types, reason = "kernel spelling")]

use core::mem::{align_of, offset_of, size_of};

/// `CLONE_ARGS_SIZE_VER0`: up to `tls` (Linux 5.3).
pub const CLONE_ARGS_SIZE_VER0: usize = 64;
/// `CLONE_ARGS_SIZE_VER1`: adds `set_tid`, `set_tid_size` (Linux 5.5).
pub const CLONE_ARGS_SIZE_VER1: usize = 80;
/// `CLONE_ARGS_SIZE_VER2`: adds `cgroup` (Linux 5.7).
pub const CLONE_ARGS_SIZE_VER2: usize = 88;

/// `struct clone_args`. Every field is `__aligned_u64`, so the layout is the same on every
/// ABI, including 32-bit ones and m68k (where a plain `u64` is only 2-aligned): pointers
/// and fds are stored zero-extended in 64 bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C, align(8))]
pub struct clone_args {
    /// `CLONE_*` flags (see [`crate::flags::CloneFlags`]).
    pub flags: u64,
    /// Where the kernel stores the pidfd (an `int`) with `CLONE_PIDFD`.
    pub pidfd: u64,
    /// Where the child's TID is stored with `CLONE_CHILD_SETTID` / cleared with
    /// `CLONE_CHILD_CLEARTID`.
    pub child_tid: u64,
    /// Where the child's TID is stored in the parent with `CLONE_PARENT_SETTID`.
    pub parent_tid: u64,
    /// The signal sent to the parent when the child exits (usually `SIGCHLD`); only the low
    /// byte is used and it must be a valid signal or 0.
    pub exit_signal: u64,
    /// Lowest address of the child's stack (0: share/copy the parent's stack pointer).
    pub stack: u64,
    /// Size of the child's stack.
    pub stack_size: u64,
    /// TLS for `CLONE_SETTLS`.
    pub tls: u64,
    /// Pointer to an array of PIDs to use, one per nested PID namespace (Linux 5.5+).
    pub set_tid: u64,
    /// Number of entries in `set_tid` (Linux 5.5+).
    pub set_tid_size: u64,
    /// fd of the cgroup to start the child in, with `CLONE_INTO_CGROUP` (Linux 5.7+).
    pub cgroup: u64,
}

static_assertions::const_assert_eq!(size_of::<clone_args>(), CLONE_ARGS_SIZE_VER2);
static_assertions::const_assert_eq!(align_of::<clone_args>(), 8);
static_assertions::const_assert_eq!(offset_of!(clone_args, flags), 0);
static_assertions::const_assert_eq!(offset_of!(clone_args, pidfd), 8);
static_assertions::const_assert_eq!(offset_of!(clone_args, child_tid), 16);
static_assertions::const_assert_eq!(offset_of!(clone_args, parent_tid), 24);
static_assertions::const_assert_eq!(offset_of!(clone_args, exit_signal), 32);
static_assertions::const_assert_eq!(offset_of!(clone_args, stack), 40);
static_assertions::const_assert_eq!(offset_of!(clone_args, stack_size), 48);
static_assertions::const_assert_eq!(offset_of!(clone_args, tls), 56);
static_assertions::const_assert_eq!(offset_of!(clone_args, set_tid), CLONE_ARGS_SIZE_VER0);
static_assertions::const_assert_eq!(offset_of!(clone_args, set_tid_size), 72);
static_assertions::const_assert_eq!(offset_of!(clone_args, cgroup), CLONE_ARGS_SIZE_VER1);
