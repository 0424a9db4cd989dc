//! Native signal numbers for the ABI this crate was compiled for.
//!
//! Read out of [`crate::abi::NATIVE`]: every standard signal, with `Option` for the few that
//! some ABIs lack ([`SIGSTKFLT`], [`SIGEMT`], [`SIGLOST`], [`SIGINFO`]). Use these rather than `libc::SIG*`: libc 0.2.191 gives
//! the x86 numbers on `mips64*-unknown-linux-gnuabi64` (`SIGCHLD` 17 instead of 18, `SIGUSR1`
//! 10 instead of 16, ...); see [`crate::errata`].

use core::ffi::c_int;

use crate::abi::NATIVE;

/// Hangup.
pub const SIGHUP: c_int = NATIVE.signals.sighup;
/// Interrupt from the keyboard.
pub const SIGINT: c_int = NATIVE.signals.sigint;
/// Quit from the keyboard.
pub const SIGQUIT: c_int = NATIVE.signals.sigquit;
/// Abort.
pub const SIGABRT: c_int = NATIVE.signals.sigabrt;
/// Bus error.
pub const SIGBUS: c_int = NATIVE.signals.sigbus;
/// Kill (cannot be caught or ignored).
pub const SIGKILL: c_int = NATIVE.signals.sigkill;
/// User-defined signal 1.
pub const SIGUSR1: c_int = NATIVE.signals.sigusr1;
/// Invalid memory reference.
pub const SIGSEGV: c_int = NATIVE.signals.sigsegv;
/// User-defined signal 2.
pub const SIGUSR2: c_int = NATIVE.signals.sigusr2;
/// Broken pipe.
pub const SIGPIPE: c_int = NATIVE.signals.sigpipe;
/// Timer signal from `alarm(2)`.
pub const SIGALRM: c_int = NATIVE.signals.sigalrm;
/// Termination request.
pub const SIGTERM: c_int = NATIVE.signals.sigterm;
/// Child stopped, continued or terminated.
pub const SIGCHLD: c_int = NATIVE.signals.sigchld;
/// Continue if stopped.
pub const SIGCONT: c_int = NATIVE.signals.sigcont;
/// Stop (cannot be caught or ignored).
pub const SIGSTOP: c_int = NATIVE.signals.sigstop;
/// Stop typed at the terminal.
pub const SIGTSTP: c_int = NATIVE.signals.sigtstp;
/// Bad system call (also what seccomp's `SECCOMP_RET_TRAP` delivers).
pub const SIGSYS: c_int = NATIVE.signals.sigsys;
/// Illegal instruction.
pub const SIGILL: c_int = NATIVE.signals.sigill;
/// Trace or breakpoint trap.
pub const SIGTRAP: c_int = NATIVE.signals.sigtrap;
/// Arithmetic exception (integer division by zero, floating-point error).
pub const SIGFPE: c_int = NATIVE.signals.sigfpe;
/// Coprocessor stack fault (unused by the kernel): 16 on most ABIs, 7 on parisc; `None`
/// on mips and sparc, which have no such signal.
pub const SIGSTKFLT: Option<c_int> = NATIVE.signals.sigstkflt;
/// Emulator trap: 7 on mips and sparc; `None` elsewhere (7 is [`SIGBUS`] there).
pub const SIGEMT: Option<c_int> = NATIVE.signals.sigemt;
/// CPU time limit (`RLIMIT_CPU`) exceeded.
pub const SIGXCPU: c_int = NATIVE.signals.sigxcpu;
/// File size limit (`RLIMIT_FSIZE`) exceeded.
pub const SIGXFSZ: c_int = NATIVE.signals.sigxfsz;
/// Terminal read from a background process group.
pub const SIGTTIN: c_int = NATIVE.signals.sigttin;
/// Terminal write from a background process group (with `TOSTOP`).
pub const SIGTTOU: c_int = NATIVE.signals.sigttou;
/// Urgent (out-of-band) data on a socket.
pub const SIGURG: c_int = NATIVE.signals.sigurg;
/// Virtual timer (`ITIMER_VIRTUAL`) expired.
pub const SIGVTALRM: c_int = NATIVE.signals.sigvtalrm;
/// Profiling timer (`ITIMER_PROF`) expired.
pub const SIGPROF: c_int = NATIVE.signals.sigprof;
/// Terminal window size changed.
pub const SIGWINCH: c_int = NATIVE.signals.sigwinch;
/// I/O possible on a descriptor (`O_ASYNC`); also called [`SIGPOLL`].
pub const SIGIO: c_int = NATIVE.signals.sigio;
/// Pollable event: another name of [`SIGIO`].
pub const SIGPOLL: c_int = SIGIO;
/// Power failure. On sparc this is the same signal as [`SIGLOST`] (29): the kernel defines
/// `SIGPWR` there as another name of it (as it does of `SIGINFO` on alpha).
pub const SIGPWR: c_int = NATIVE.signals.sigpwr;
/// Resource lost: 29 on sparc, the same signal as [`SIGPWR`]; `None` elsewhere.
pub const SIGLOST: Option<c_int> = NATIVE.signals.siglost;
/// Information request (BSD): 29 on alpha, the same signal as [`SIGPWR`]; `None` on every
/// ABI Rust targets (alpha has no Rust target; see [`crate::abi::ALPHA`]).
pub const SIGINFO: Option<c_int> = NATIVE.signals.siginfo;
/// `_NSIG`: the highest valid signal number (64 on most ABIs, 128 on mips); valid signals
/// are `1..=NSIG`.
pub const NSIG: c_int = NATIVE.signals.nsig;

/// `how` for `pthread_sigmask`/`rt_sigprocmask`: add the set to the mask. Use this, not
/// `libc::SIG_BLOCK`, which libc 0.2.191 gets wrong on mips64 glibc (see [`crate::errata`]).
pub const SIG_BLOCK: c_int = NATIVE.signals.sigmask_how.block;
/// `how` for `pthread_sigmask`/`rt_sigprocmask`: remove the set from the mask.
pub const SIG_UNBLOCK: c_int = NATIVE.signals.sigmask_how.unblock;
/// `how` for `pthread_sigmask`/`rt_sigprocmask`: replace the mask.
pub const SIG_SETMASK: c_int = NATIVE.signals.sigmask_how.setmask;

/// `SA_NOCLDWAIT` as this ABI's kernel defines it (`asm/signal.h`): the kernel reaps the
/// children itself. `0x10000` on mips, `0x100` on sparc, `2` on the other ABIs Rust targets
/// (alpha's `0x20` and parisc's `0x80` have no Rust target). The flags word of a `sigaction`
/// is read with [`crate::syscalls::rt_sigaction_query`].
pub const SA_NOCLDWAIT: u64 = if cfg!(pidfd_mips) {
    0x1_0000
} else if cfg!(pidfd_sparc) {
    0x100
} else {
    2
};
