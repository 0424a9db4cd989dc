//! The known errors of the upstream crates (`libc`, `linux-raw-sys`) that this crate works
//! around, as data: [`ERRATA`] (printed by `cargo xtask errata`). Each is asserted to *still
//! be wrong* by the compile-time cross-checks (`cross_checks.rs`, compiled into this crate's
//! tests and into builds with `--cfg pidfd_check_upstream`, which `cargo xtask
//! check-arches` sets for every target), so that a fixed upstream release is noticed and the
//! erratum retired.

/// A known error in an upstream crate, with what this crate does instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erratum {
    /// The crate and version where it was found.
    pub krate: &'static str,
    /// The targets affected.
    pub targets: &'static str,
    /// What is wrong.
    pub what: &'static str,
    /// What `pidfd-sys` uses instead.
    pub instead: &'static str,
}

/// The upstream errors found while building this crate.
pub const ERRATA: &[Erratum] = &[
    Erratum {
        krate: "libc 0.2.191",
        targets: "mips64-unknown-linux-gnuabi64, mips64el-unknown-linux-gnuabi64",
        what: "signal numbers are the x86 ones (SIGCHLD 17, SIGUSR1 10, SIGBUS 7, SIGSTOP 19, \
               SIGCONT 18, SIGWINCH 28, SIGPWR 30, SIGXCPU 24, SIGIO 29); the real mips \
               values are 18, 16, 10, 23, 25, 20, 19, 30, 22. It defines SIGSTKFLT (16), \
               which mips does not have, and lacks SIGEMT (7), which it does. The glibc signum \
               module is selected by cfg(target_arch = \"mips\") listed twice instead of \
               mips64. The same slip picks the generic sigaction module: SIG_BLOCK/SIG_SETMASK \
               are 0/2 (mips: 1/3, so pthread_sigmask(libc::SIG_SETMASK) unblocks), the SA_* \
               flags are the x86 ones and struct sigaction has the generic field order while \
               glibc's mips struct starts with sa_flags, so libc::sigaction installs garbage.",
        instead: "pidfd_sys::signal (numbers and SIG_BLOCK/SIG_UNBLOCK/SIG_SETMASK from the \
                  per-ABI table, checked against linux-raw-sys); libc::signal, which takes no \
                  struct, for dispositions",
    },
    Erratum {
        krate: "libc 0.2.191",
        targets: "mips64-unknown-linux-gnuabi64, mips64el-unknown-linux-gnuabi64",
        what: "SOL_SOCKET is 1 (generic) instead of mips's 0xffff: the asm/socket module is \
               selected by cfg(target_arch = \"mips\") listed twice, as for the signals. An \
               SCM_RIGHTS control message built with it is ignored by the kernel: the fd \
               never arrives.",
        instead: "pidfd_sys::socket::SOL_SOCKET (checked against linux-raw-sys)",
    },
    Erratum {
        krate: "libc 0.2.191",
        targets: "x86_64-unknown-linux-gnux32",
        what: "siginfo_t is 136 bytes instead of 128: repr(align(4)) cannot lower the 8-byte \
               alignment of the i64 clock fields, so the union lands at offset 16, not 12.",
        instead: "pidfd_sys::siginfo_t (clock fields packed(4), struct aligned to 8)",
    },
    Erratum {
        krate: "linux-raw-sys 0.12.1",
        targets: "x86_64-unknown-linux-gnux32",
        what: "__kernel_si_clock_t is a plain c_longlong (8-aligned) but the kernel declares \
               it aligned(4), so _sifields (and si_pid, si_uid, si_status) sit 4 bytes too \
               far, at 16 instead of 12.",
        instead: "pidfd_sys::siginfo_t",
    },
    Erratum {
        krate: "libc 0.2.191",
        targets: "mipsisa32r6(el)-unknown-linux-gnu, mipsisa64r6(el)-unknown-linux-gnuabi64",
        what: "_IOC uses the generic encoding (2 direction bits, _IOC_NONE 0) because its cfg \
               lists target_arch mips and mips64 but not mips32r6/mips64r6; the kernel's mips \
               encoding (3 direction bits, _IOC_NONE 1) applies to r6 too, so every _IO \
               request (e.g. PIDFD_GET_PID_NAMESPACE) is wrong there.",
        instead: "pidfd_sys::pidfs::PidfdNamespace::request (per-ABI IoctlEncoding)",
    },
    Erratum {
        krate: "linux-raw-sys 0.12.1",
        targets: "csky-unknown-linux-gnuabiv2, hexagon-unknown-linux-musl",
        what: "with the no_std feature (std off) the ctypes module defines no c_char for \
               target_arch csky and hexagon, so linux-raw-sys does not compile there.",
        instead: "nothing: pidfd-sys builds on csky and hexagon only with its std feature \
                  (which turns on linux-raw-sys/std)",
    },
    Erratum {
        krate: "libc 0.2.191",
        targets: "sparc-unknown-linux-gnu, sparc64-unknown-linux-gnu",
        what: "SYS_clone3 is defined (435) although the sparc kernel never wired clone3 up: \
               the slot is reserved and returns ENOSYS.",
        instead: "pidfd_sys::nr::SYS_clone3 is None on sparc",
    },
];
