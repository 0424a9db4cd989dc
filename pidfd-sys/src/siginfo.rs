//! `siginfo_t` as `waitid(2)` writes it, for the ABI this crate was compiled for.
//!
//! Only the fields `waitid` fills are readable: `si_signo`, `si_errno`, `si_code` and the
//! `_sigchld` members `si_pid`, `si_uid`, `si_status`. The kernel never writes `si_utime` or
//! `si_stime` from `waitid` (and qemu-user 7.2 leaves garbage there), so they are private
//! padding here, kept only so the layout can be checked. Per-ABI differences:
//!
//! * mips swaps `si_code` and `si_errno` (`__ARCH_HAS_SWAPPED_SIGINFO`);
//! * 64-bit ABIs have a 4-byte hole before the union (it holds pointers);
//! * x32 has 8-byte clock fields aligned to 4 inside a struct aligned to 8 — libc 0.2.191
//!   and linux-raw-sys 0.12.1 both get this wrong (see [`crate::errata`]);
//! * m68k aligns `int` to 2, so the struct is only 2-aligned.
//!
//! Every offset is asserted at compile time against [`crate::abi::NATIVE`]`.siginfo`.

#![allow(non_camel_case_types, reason = "kernel spelling")]

use core::ffi::c_int;
use core::mem::{align_of, offset_of, size_of};

use crate::abi::NATIVE;
use crate::child_status::{ChildStatus, DecodeError};

/// `__ARCH_SI_CLOCK_T` on x32: `long long __attribute__((aligned(4)))`.
#[cfg(pidfd_x32)]
#[derive(Clone, Copy, Default)]
#[repr(C, packed(4))]
struct SiClock(i64);

/// `__ARCH_SI_CLOCK_T` everywhere else: `__kernel_clock_t`, a `long`.
#[cfg(not(pidfd_x32))]
type SiClock = core::ffi::c_long;

/// `_sifields._sigchld`.
#[derive(Clone, Copy)]
#[repr(C)]
struct SigChld {
    pid: c_int,
    uid: u32,
    status: c_int,
    /// The hole before the 8-byte-aligned clocks on LP64, made explicit.
    #[cfg(target_pointer_width = "64")]
    hole: c_int,
    utime: SiClock,
    stime: SiClock,
}

/// Bytes before the `_sifields` union: three ints, plus a hole on LP64.
const HEADER_SIZE: usize = if size_of::<usize>() == 8 { 16 } else { 12 };
/// Bytes after `_sigchld` up to `SI_MAX_SIZE`.
const TAIL_SIZE: usize = 128 - HEADER_SIZE - size_of::<SigChld>();

/// `siginfo_t`, as filled in by `waitid(2)` for a child-state change.
///
/// Create it with [`siginfo_t::zeroed`] (a `WNOHANG` wait that finds nothing leaves
/// `si_pid == 0`, so zeroing first matters), pass it to [`crate::syscalls::waitid`], then read
/// it with the accessors or decode it with [`siginfo_t::child_status`].
#[derive(Clone, Copy)]
#[cfg_attr(pidfd_x32, repr(C, align(8)))]
#[cfg_attr(not(pidfd_x32), repr(C))]
pub struct siginfo_t {
    si_signo: c_int,
    #[cfg(not(pidfd_mips))]
    si_errno: c_int,
    si_code: c_int,
    #[cfg(pidfd_mips)]
    si_errno: c_int,
    #[cfg(target_pointer_width = "64")]
    hole: c_int,
    sigchld: SigChld,
    tail: [u8; TAIL_SIZE],
}

impl siginfo_t {
    /// An all-zero `siginfo_t`.
    pub const fn zeroed() -> Self {
        #[cfg(pidfd_x32)]
        let clock = SiClock(0);
        #[cfg(not(pidfd_x32))]
        let clock = 0;
        Self {
            si_signo: 0,
            si_errno: 0,
            si_code: 0,
            #[cfg(target_pointer_width = "64")]
            hole: 0,
            sigchld: SigChld {
                pid: 0,
                uid: 0,
                status: 0,
                #[cfg(target_pointer_width = "64")]
                hole: 0,
                utime: clock,
                stime: clock,
            },
            tail: [0; TAIL_SIZE],
        }
    }

    /// Reinterprets 128 raw bytes (in this ABI's byte order) as a `siginfo_t`, e.g. a buffer
    /// captured from the kernel, or fuzzer input.
    pub fn from_bytes(bytes: &[u8; 128]) -> Self {
        // SAFETY: `siginfo_t` is exactly 128 bytes (asserted below) of plain integers, for
        // which every bit pattern is valid; `read_unaligned` copes with the byte array's
        // alignment of 1.
        unsafe { bytes.as_ptr().cast::<Self>().read_unaligned() }
    }

    /// The raw 128 bytes.
    pub fn to_bytes(&self) -> [u8; 128] {
        // SAFETY: `siginfo_t` is 128 bytes with no implicit padding (every gap is an explicit
        // field, asserted below by adding up the field sizes), so all 128 bytes are
        // initialised integers; `[u8; 128]` has alignment 1.
        unsafe { core::ptr::from_ref(self).cast::<[u8; 128]>().read() }
    }

    /// `si_signo`: `SIGCHLD` for a child-state change, 0 if a `WNOHANG` wait found nothing.
    #[inline]
    pub const fn signo(&self) -> c_int {
        self.si_signo
    }

    /// `si_errno`: always 0 from `waitid`.
    #[inline]
    pub const fn errno(&self) -> c_int {
        self.si_errno
    }

    /// `si_code`: one of the [`crate::cld`] values.
    #[inline]
    pub const fn code(&self) -> c_int {
        self.si_code
    }

    /// `si_pid`: the child's PID (in the waiter's PID namespace), 0 if nothing was found.
    #[inline]
    pub const fn pid(&self) -> c_int {
        self.sigchld.pid
    }

    /// `si_uid`: the child's real user ID.
    #[inline]
    pub const fn uid(&self) -> u32 {
        self.sigchld.uid
    }

    /// `si_status`: the exit code for `CLD_EXITED`, otherwise the signal number.
    #[inline]
    pub const fn status(&self) -> c_int {
        self.sigchld.status
    }

    /// Decodes the child-state change: `Ok(None)` when a `WNOHANG` wait found no waitable
    /// child (`si_pid == 0`), an error when the contents are not a valid `SIGCHLD` report.
    pub fn child_status(&self) -> Result<Option<ChildStatus>, DecodeError> {
        if self.si_signo == 0 && self.sigchld.pid == 0 {
            return Ok(None);
        }
        if self.si_signo != crate::signal::SIGCHLD {
            return Err(DecodeError::NotSigchld(self.si_signo));
        }
        ChildStatus::decode(self.si_code, self.sigchld.status).map(Some)
    }
}

impl Default for siginfo_t {
    fn default() -> Self {
        Self::zeroed()
    }
}

impl core::fmt::Debug for siginfo_t {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("siginfo_t")
            .field("si_signo", &self.si_signo)
            .field("si_errno", &self.si_errno)
            .field("si_code", &self.si_code)
            .field("si_pid", &self.sigchld.pid)
            .field("si_uid", &self.sigchld.uid)
            .field("si_status", &self.sigchld.status)
            .finish_non_exhaustive()
    }
}

// Layout, against the native table (which the unit tests check for internal consistency
// and the cross-checks against libc and linux-raw-sys).
#[allow(
    dead_code,
    reason = "used only by the assertions, which rustc 1.85 does not count"
)]
const L: crate::abi::SiginfoLayout = NATIVE.siginfo;
static_assertions::const_assert_eq!(size_of::<siginfo_t>(), L.size);
static_assertions::const_assert_eq!(align_of::<siginfo_t>(), L.align);
static_assertions::const_assert_eq!(offset_of!(siginfo_t, si_signo), L.signo);
static_assertions::const_assert_eq!(offset_of!(siginfo_t, si_errno), L.errno);
static_assertions::const_assert_eq!(offset_of!(siginfo_t, si_code), L.code);
static_assertions::const_assert_eq!(offset_of!(siginfo_t, sigchld), HEADER_SIZE);
static_assertions::const_assert_eq!(offset_of!(siginfo_t, sigchld.pid), L.pid);
static_assertions::const_assert_eq!(offset_of!(siginfo_t, sigchld.uid), L.uid);
static_assertions::const_assert_eq!(offset_of!(siginfo_t, sigchld.status), L.status);
static_assertions::const_assert_eq!(offset_of!(siginfo_t, sigchld.utime), L.utime);
static_assertions::const_assert_eq!(offset_of!(siginfo_t, sigchld.stime), L.stime);
static_assertions::const_assert_eq!(size_of::<SiClock>(), L.clock_size);
// No implicit padding anywhere (so `to_bytes` never reads an uninitialised byte): the
// fields add up to the size.
#[allow(
    dead_code,
    reason = "used only by the assertions, which rustc 1.85 does not count"
)]
const HOLES: usize = if cfg!(target_pointer_width = "64") {
    4
} else {
    0
};
static_assertions::const_assert_eq!(
    size_of::<SigChld>(),
    3 * size_of::<c_int>() + HOLES + 2 * size_of::<SiClock>()
);
static_assertions::const_assert_eq!(
    size_of::<siginfo_t>(),
    3 * size_of::<c_int>() + HOLES + size_of::<SigChld>() + TAIL_SIZE
);
