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

/// What a fork-style `clone`/`fork`/`vfork` trap returned, per the SunOS convention the
/// sparc kernels keep: `%o0` holds the *parent's* PID in the child and the child's PID in
/// the parent; `%o1` is 1 in the child and 0 in the parent; the carry flag marks an error,
/// with the positive errno in `%o0`. glibc's sparc `fork`/`clone` wrappers turn this into
/// the usual "0 in the child"; `syscall(2)` only returns `%o0`, so a raw clone made through
/// it cannot tell the child from the parent there (which is why
/// [`crate::syscalls::clone`] refuses to run on sparc).
///
/// This is the pure decoding a sparc wrapper that reads `%o1` (inline assembly, unstable for
/// sparc in Rust so far: `asm_experimental_arch`) must apply: `Ok(0)` in the child,
/// `Ok(child_pid)` in the parent, `Err(errno)` on failure.
///
/// # Errors
///
/// The errno in `o0` when `carry` is set (or `EINVAL` when it is not a valid errno, or the
/// parent's value is not a valid PID).
pub fn decode_sunos_fork_return(o0: i64, o1: i64, carry: bool) -> crate::Result<core::ffi::c_int> {
    if carry {
        return Err(core::ffi::c_int::try_from(o0)
            .ok()
            .filter(|errno| (1..4096).contains(errno))
            .map_or(crate::Errno::INVAL, crate::Errno::from_raw_os_error));
    }
    if o1 != 0 {
        // The child: %o0 is the parent's PID, not a return value.
        return Ok(0);
    }
    core::ffi::c_int::try_from(o0)
        .ok()
        .filter(|&pid| pid > 0)
        .ok_or(crate::Errno::INVAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Errno;

    #[test]
    fn sunos_fork_return_tells_the_child_from_the_parent() {
        // In the child, %o0 is the parent's PID and %o1 = 1: the child gets 0.
        assert_eq!(decode_sunos_fork_return(4321, 1, false), Ok(0));
        // In the parent, %o0 is the child's PID and %o1 = 0.
        assert_eq!(decode_sunos_fork_return(4322, 0, false), Ok(4322));
        // Carry set: %o0 is the positive errno, whatever %o1 says.
        assert_eq!(
            decode_sunos_fork_return(i64::from(Errno::AGAIN.raw_os_error()), 0, true),
            Err(Errno::AGAIN)
        );
        assert_eq!(
            decode_sunos_fork_return(i64::from(Errno::NOMEM.raw_os_error()), 1, true),
            Err(Errno::NOMEM)
        );
        // Garbage never becomes a PID or a child.
        assert_eq!(decode_sunos_fork_return(0, 0, false), Err(Errno::INVAL));
        assert_eq!(decode_sunos_fork_return(-5, 0, false), Err(Errno::INVAL));
        assert_eq!(
            decode_sunos_fork_return(1 << 40, 0, false),
            Err(Errno::INVAL)
        );
        assert_eq!(decode_sunos_fork_return(0, 0, true), Err(Errno::INVAL));
        assert_eq!(
            decode_sunos_fork_return(1 << 40, 0, true),
            Err(Errno::INVAL)
        );
    }
}
