//! The socket-level numbers the library needs, for the ABI this crate was compiled for.
//!
//! Use these rather than `libc::SOL_SOCKET`: libc 0.2.191 gives the generic value 1 on
//! `mips64*-unknown-linux-gnuabi64`, where the kernel's is `0xffff` (as on all mips and
//! sparc), so an `SCM_RIGHTS` message built with it carries no fd there; see
//! [`crate::errata`].

use core::ffi::c_int;

/// `SOL_SOCKET`, the `cmsg_level` of `SCM_RIGHTS`: `0xffff` on mips, sparc, alpha and parisc
/// (the SunOS/IRIX value), 1 everywhere else.
pub const SOL_SOCKET: c_int = if cfg!(any(
    target_arch = "mips",
    target_arch = "mips32r6",
    target_arch = "mips64",
    target_arch = "mips64r6",
    target_arch = "sparc",
    target_arch = "sparc64",
)) {
    0xffff
} else {
    1
};

/// `SCM_RIGHTS`: pass file descriptors (1 on every ABI).
pub const SCM_RIGHTS: c_int = 1;
