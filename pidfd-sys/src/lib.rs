//! Raw Linux pidfd layer: per-architecture syscall numbers, flags, struct layouts and thin
//! syscall wrappers.
//!
//! This is the bottom of the `pidfd` workspace. It knows every fact about the kernel's pidfd
//! interface that differs between architectures, and checks those facts at compile time.
//! Higher layers (`pidfd-core`) build the safe API on top; most users want that instead.
//!
//! * [`abi`] — every ABI's numbers and layouts as data ([`abi::ALL`], [`abi::NATIVE`]).
//! * [`nr`], [`signal`], [`flags`] — the native values, ready to use.
//! * [`siginfo_t`], [`child_status`] — `waitid(2)` output and its pure decoder.
//! * [`pidfs`], [`clone`] — `struct pidfd_info` and the pidfs ioctls; `struct clone_args`.
//! * [`syscalls`] — `unsafe` wrappers over `libc::syscall` returning [`Result<_, Errno>`].
//! * [`errata`] — what `libc` and `linux-raw-sys` get wrong, as data; every other value of
//!   theirs is cross-checked against this crate's tables at compile time (`cross_checks.rs`).
//!
//! Nothing here links glibc's `pidfd_*` symbols (glibc 2.36+): binaries built against a newer
//! glibc still start on older ones. Every call goes through `syscall(2)`.
//!
//! # Example
//!
//! ```
//! use pidfd_sys::{flags::{P_PIDFD, PidfdFlags, WaitIdOptions}, siginfo_t, syscalls, Errno};
//! use pidfd_sys::child_status::ChildStatus;
//!
//! # fn main() -> Result<(), Errno> {
//! let child = std::process::Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
//! // SAFETY: `pidfd_open` only creates a new fd, which we own from here on.
//! let pidfd = unsafe { syscalls::pidfd_open(child.id() as i32, PidfdFlags::empty())? };
//! let mut info = siginfo_t::zeroed();
//! // SAFETY: `pidfd` is an open pidfd owned by this function.
//! unsafe { syscalls::waitid(P_PIDFD, pidfd as u32, &mut info, WaitIdOptions::EXITED, None)? };
//! assert_eq!(info.child_status(), Ok(Some(ChildStatus::Exited(7))));
//! // SAFETY: we own `pidfd` and nothing uses it afterwards.
//! unsafe { libc::close(pidfd) };
//! # Ok(())
//! # }
//! ```
//!
//! # Kernel versions
//!
//! Each item says which Linux version introduced it. On older kernels the syscalls fail with
//! `ENOSYS` (missing syscall) or `EINVAL` (unknown flag); nothing here emulates them.
//!
//! # `no_std`
//!
//! Without the default `std` feature the crate needs only `core`.

#![cfg_attr(not(feature = "std"), no_std)]
#![allow(
    unsafe_code,
    reason = "the raw syscall layer: every unsafe block has a SAFETY comment"
)]

#[cfg(not(target_os = "linux"))]
compile_error!("pidfd-sys supports Linux only");

pub mod abi;
pub mod child_status;
pub mod clone;
mod cross_checks;
pub mod errata;
mod errno;
pub mod flags;
pub mod nr;
pub mod pidfs;
mod siginfo;
pub mod signal;
pub mod socket;
pub mod syscalls;

/// The former name of [`errata`].
#[deprecated(since = "0.1.0", note = "renamed to `errata`")]
pub mod upstream {
    pub use crate::errata::{ERRATA, Erratum};
}

pub use clone::clone_args;
pub use errno::{Errno, Result};
pub use flags::cld;
pub use pidfs::pidfd_info;
pub use siginfo::siginfo_t;
