//! Everything about the pidfd interface that differs between Linux ABIs, as plain data.
//!
//! Every Linux ABI that Rust targets has an [`Abi`] table here, plus the ABIs Rust has no
//! target for (mips n32, alpha, parisc, sh) so that tools and tests can reason about them. The
//! tables are available on every host: [`ALL`] lists them and [`NATIVE`] is the one this crate
//! was compiled for. The native constants elsewhere in this crate ([`crate::nr`],
//! [`crate::signal`], the flag types) are read out of [`NATIVE`], and [`crate::errata`]
//! cross-checks them against `linux-raw-sys` and `libc`.
//!
//! Sources: the kernel's `arch/*/kernel/syscalls/syscall.tbl` and `arch/*/include/uapi/asm/*.h`
//! (Linux 6.18), Debian's 6.1 cross headers compiled with each cross `gcc`, and runs under
//! qemu-user (`cargo xtask test-arches`, which runs this crate's tests under each emulator).

use core::ffi::c_long;

/// Syscall numbers of one ABI, as passed to `syscall(2)`.
///
/// The numbers are the full numbers the kernel expects, including any ABI offset (mips
/// `__NR_Linux`, the x32 `__X32_SYSCALL_BIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallNumbers {
    /// `pidfd_send_signal(2)`, Linux 5.1+.
    pub pidfd_send_signal: c_long,
    /// `pidfd_open(2)`, Linux 5.3+.
    pub pidfd_open: c_long,
    /// `clone3(2)`, Linux 5.3+; `None` where the kernel never wired it up (sparc, sh): there
    /// the slot returns `ENOSYS`.
    pub clone3: Option<c_long>,
    /// `pidfd_getfd(2)`, Linux 5.6+.
    pub pidfd_getfd: c_long,
    /// `clone(2)`, every version.
    pub clone: c_long,
    /// `waitid(2)`, every version (`P_PIDFD` since Linux 5.4).
    pub waitid: c_long,
    /// `process_madvise(2)`, Linux 5.10+.
    pub process_madvise: c_long,
    /// `process_mrelease(2)`, Linux 5.15+.
    pub process_mrelease: c_long,
}

impl SyscallNumbers {
    /// The numbering shared by almost every ABI since the 2019 unification (Linux 5.1): the
    /// new syscalls sit at the same number everywhere, only `clone` and `waitid` differ.
    const fn unified(clone: c_long, waitid: c_long) -> Self {
        Self {
            pidfd_send_signal: 424,
            pidfd_open: 434,
            clone3: Some(435),
            pidfd_getfd: 438,
            clone,
            waitid,
            process_madvise: 440,
            process_mrelease: 448,
        }
    }

    /// The same numbers with `clone3` absent.
    const fn without_clone3(self) -> Self {
        Self {
            clone3: None,
            ..self
        }
    }

    /// Every number moved up by `base` (mips `__NR_Linux`, the x32 syscall bit).
    const fn offset(self, base: c_long) -> Self {
        Self {
            pidfd_send_signal: base + self.pidfd_send_signal,
            pidfd_open: base + self.pidfd_open,
            clone3: match self.clone3 {
                Some(nr) => Some(base + nr),
                None => None,
            },
            pidfd_getfd: base + self.pidfd_getfd,
            clone: base + self.clone,
            waitid: base + self.waitid,
            process_madvise: base + self.process_madvise,
            process_mrelease: base + self.process_mrelease,
        }
    }
}

/// The order in which the legacy `clone(2)` syscall takes its five arguments.
///
/// The kernel's `kernel/fork.c` has four variants selected by `CONFIG_CLONE_BACKWARDS*`.
/// With `CLONE_PIDFD` the pidfd is stored through `parent_tid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneArgOrder {
    /// `(flags, newsp, parent_tid, child_tid, tls)`.
    Generic,
    /// `CONFIG_CLONE_BACKWARDS`: `(flags, newsp, parent_tid, tls, child_tid)`.
    Backwards,
    /// `CONFIG_CLONE_BACKWARDS2` (s390): `(newsp, flags, parent_tid, child_tid, tls)`.
    Backwards2,
}

/// `open(2)` flag bits that the pidfd interface reuses (`PIDFD_NONBLOCK` is `O_NONBLOCK`,
/// `PIDFD_THREAD` is `O_EXCL`), which differ between ABIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFlagBits {
    /// `O_NONBLOCK`, the value of `PIDFD_NONBLOCK`.
    pub nonblock: u32,
    /// `O_EXCL`, the value of `PIDFD_THREAD`.
    pub excl: u32,
    /// `O_CLOEXEC` (pidfds are always close-on-exec; this is for `pidfd_getfd`'s result).
    pub cloexec: u32,
}

/// The standard (non-realtime) signal numbers of one ABI, from its
/// `arch/*/include/uapi/asm/signal.h`, plus `_NSIG` and the `sigprocmask` `how` values.
///
/// Every number in `1..32` is some signal on every ABI. Where an ABI's header does not define
/// a signal at all the field is an `Option` (`sigstkflt`, `sigemt`, `siglost`, `siginfo`);
/// where it defines a name only as another name of a signal listed here (`SIGPWR` on sparc
/// and alpha) the field holds that shared number and says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs, reason = "each field is the signal of the same name")]
pub struct SignalNumbers {
    pub sighup: i32,
    pub sigint: i32,
    pub sigquit: i32,
    pub sigabrt: i32,
    pub sigbus: i32,
    pub sigkill: i32,
    pub sigusr1: i32,
    pub sigsegv: i32,
    pub sigusr2: i32,
    pub sigpipe: i32,
    pub sigalrm: i32,
    pub sigterm: i32,
    pub sigchld: i32,
    pub sigcont: i32,
    pub sigstop: i32,
    pub sigtstp: i32,
    pub sigsys: i32,
    pub sigill: i32,
    pub sigtrap: i32,
    pub sigfpe: i32,
    /// `SIGSTKFLT` (coprocessor stack fault, never raised by the kernel): 16 on most ABIs, 7
    /// on parisc; `None` on mips, sparc and alpha, whose headers do not define it.
    pub sigstkflt: Option<i32>,
    /// `SIGEMT` (emulator trap): 7 on mips, sparc and alpha (where 7 is not `SIGBUS`);
    /// `None` elsewhere.
    pub sigemt: Option<i32>,
    pub sigxcpu: i32,
    pub sigxfsz: i32,
    pub sigttin: i32,
    pub sigttou: i32,
    pub sigurg: i32,
    pub sigvtalrm: i32,
    pub sigprof: i32,
    pub sigwinch: i32,
    /// `SIGIO`, also spelled `SIGPOLL`.
    pub sigio: i32,
    /// `SIGPWR` (power failure). Defined on every ABI, but on sparc and alpha it is only
    /// another name of signal 29, which the kernel headers call [`siglost`](Self::siglost)
    /// (sparc) and [`siginfo`](Self::siginfo) (alpha): there is no separate power signal.
    pub sigpwr: i32,
    /// `SIGLOST` (resource lost): 29 on sparc, the same signal as `SIGPWR`; `None` elsewhere
    /// (the generic header has it only as a comment).
    pub siglost: Option<i32>,
    /// The signal `SIGINFO` (BSD's status request; not `siginfo_t`): 29 on alpha, the same
    /// signal as `SIGPWR`; `None` elsewhere.
    pub siginfo: Option<i32>,
    /// `_NSIG`: the highest valid signal number (64, or 128 on mips); valid signals are
    /// `1..=nsig` (the kernel's `valid_signal`).
    pub nsig: i32,
    /// The `how` argument of `rt_sigprocmask(2)` / `pthread_sigmask(3)`: block, unblock and
    /// set the mask (0, 1, 2 on most ABIs; 1, 2, 3 on mips and alpha; 1, 2, 4 on sparc).
    pub sigmask_how: SigmaskHow,
}

/// The `how` values of `rt_sigprocmask(2)`, which glibc and musl pass through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigmaskHow {
    /// `SIG_BLOCK`: add the set to the mask.
    pub block: i32,
    /// `SIG_UNBLOCK`: remove the set from the mask.
    pub unblock: i32,
    /// `SIG_SETMASK`: replace the mask.
    pub setmask: i32,
}

/// Byte offsets of the `siginfo_t` fields that `waitid(2)` writes for a child, plus the
/// clock fields it does *not* write (they are listed so their layout can be checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiginfoLayout {
    /// `sizeof(siginfo_t)`: `SI_MAX_SIZE`, 128 everywhere.
    pub size: usize,
    /// `alignof(siginfo_t)`.
    pub align: usize,
    /// `si_signo`.
    pub signo: usize,
    /// `si_errno`.
    pub errno: usize,
    /// `si_code` (before `si_errno` on mips: `__ARCH_HAS_SWAPPED_SIGINFO`).
    pub code: usize,
    /// `_sifields._sigchld._pid`.
    pub pid: usize,
    /// `_sifields._sigchld._uid`.
    pub uid: usize,
    /// `_sifields._sigchld._status`.
    pub status: usize,
    /// `_sifields._sigchld._utime` (never written by `waitid`).
    pub utime: usize,
    /// `_sifields._sigchld._stime` (never written by `waitid`).
    pub stime: usize,
    /// `sizeof(__ARCH_SI_CLOCK_T)`.
    pub clock_size: usize,
}

impl SiginfoLayout {
    const GENERIC_64: Self = Self {
        size: 128,
        align: 8,
        signo: 0,
        errno: 4,
        code: 8,
        pid: 16,
        uid: 20,
        status: 24,
        utime: 32,
        stime: 40,
        clock_size: 8,
    };
    const GENERIC_32: Self = Self {
        size: 128,
        align: 4,
        signo: 0,
        errno: 4,
        code: 8,
        pid: 12,
        uid: 16,
        status: 20,
        utime: 24,
        stime: 28,
        clock_size: 4,
    };
    const fn swapped(self) -> Self {
        Self {
            errno: self.code,
            code: self.errno,
            ..self
        }
    }
}

/// How `_IOC(dir, type, nr, size)` packs an ioctl request number on this ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoctlEncoding {
    /// Number of bits of the size field (14 generic, 13 where the direction has 3 bits).
    pub size_bits: u32,
    /// Bit position of the direction field (30 generic, 29 where it has 3 bits).
    pub dir_shift: u32,
    /// `_IOC_NONE`.
    pub none: u32,
    /// `_IOC_READ`.
    pub read: u32,
    /// `_IOC_WRITE`.
    pub write: u32,
}

impl IoctlEncoding {
    const GENERIC: Self = Self {
        size_bits: 14,
        dir_shift: 30,
        none: 0,
        read: 2,
        write: 1,
    };
    /// mips, powerpc, sparc, alpha: three direction bits.
    const THREE_DIR_BITS: Self = Self {
        size_bits: 13,
        dir_shift: 29,
        none: 1,
        read: 2,
        write: 4,
    };
    /// parisc: the generic layout with `_IOC_READ` and `_IOC_WRITE` swapped.
    const PARISC: Self = Self {
        read: 1,
        write: 2,
        ..Self::GENERIC
    };

    /// `_IOC(dir, ty, nr, size)`. Returns `None` when `size` does not fit the size field.
    pub const fn ioc(&self, dir: u32, ty: u8, nr: u8, size: usize) -> Option<u32> {
        if size >= 1 << self.size_bits {
            return None;
        }
        #[allow(clippy::cast_possible_truncation, reason = "checked just above")]
        let size = size as u32;
        Some((dir << self.dir_shift) | (size << 16) | ((ty as u32) << 8) | nr as u32)
    }

    /// `_IO(ty, nr)`: no argument.
    pub const fn io(&self, ty: u8, nr: u8) -> u32 {
        match self.ioc(self.none, ty, nr, 0) {
            Some(request) => request,
            None => unreachable!(),
        }
    }

    /// `_IOWR(ty, nr, T)` for an argument of `size` bytes; `None` if it does not fit.
    pub const fn iowr(&self, ty: u8, nr: u8, size: usize) -> Option<u32> {
        self.ioc(self.read | self.write, ty, nr, size)
    }
}

/// Whether the ABI is 64-bit, 32-bit, or 32-bit pointers on a 64-bit kernel ABI (x32, n32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// LP64.
    Bits64,
    /// ILP32 on a 32-bit ABI.
    Bits32,
    /// ILP32 on a 64-bit kernel with its own syscall table (x32, mips n32).
    Ilp32On64,
}

/// Everything pidfd-related that differs between Linux ABIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abi {
    /// Short name: the kernel's name for the ABI (`"mips-o32"`, `"x32"`, ...).
    pub name: &'static str,
    /// The Rust `target_arch` values this ABI serves (empty where Rust has no target).
    pub rust_arches: &'static [&'static str],
    /// Pointer width class.
    pub width: Width,
    /// Whether the ABI is big-endian (`None`: both endiannesses exist with the same tables).
    pub big_endian: Option<bool>,
    /// Syscall numbers.
    pub syscalls: SyscallNumbers,
    /// Argument order of the legacy `clone(2)` syscall.
    pub clone_arg_order: CloneArgOrder,
    /// `O_NONBLOCK`/`O_EXCL`/`O_CLOEXEC`.
    pub open_flags: OpenFlagBits,
    /// Signal numbers.
    pub signals: SignalNumbers,
    /// `siginfo_t` layout as `waitid(2)` writes it.
    pub siginfo: SiginfoLayout,
    /// ioctl request encoding.
    pub ioctl: IoctlEncoding,
}

const GENERIC_OPEN_FLAGS: OpenFlagBits = OpenFlagBits {
    nonblock: 0o4000,
    excl: 0o200,
    cloexec: 0o2000000,
};

const GENERIC_SIGNALS: SignalNumbers = SignalNumbers {
    sighup: 1,
    sigint: 2,
    sigquit: 3,
    sigabrt: 6,
    sigbus: 7,
    sigkill: 9,
    sigusr1: 10,
    sigsegv: 11,
    sigusr2: 12,
    sigpipe: 13,
    sigalrm: 14,
    sigterm: 15,
    sigchld: 17,
    sigcont: 18,
    sigstop: 19,
    sigtstp: 20,
    sigsys: 31,
    sigill: 4,
    sigtrap: 5,
    sigfpe: 8,
    sigstkflt: Some(16),
    sigemt: None,
    sigxcpu: 24,
    sigxfsz: 25,
    sigttin: 21,
    sigttou: 22,
    sigurg: 23,
    sigvtalrm: 26,
    sigprof: 27,
    sigwinch: 28,
    sigio: 29,
    sigpwr: 30,
    siglost: None,
    siginfo: None,
    nsig: 64,
    sigmask_how: SigmaskHow {
        block: 0,
        unblock: 1,
        setmask: 2,
    },
};

const MIPS_SIGNALS: SignalNumbers = SignalNumbers {
    sigbus: 10,
    sigusr1: 16,
    sigusr2: 17,
    sigchld: 18,
    sigcont: 25,
    sigstop: 23,
    sigtstp: 24,
    sigsys: 12,
    sigstkflt: None,
    sigemt: Some(7),
    sigpwr: 19,
    sigwinch: 20,
    sigurg: 21,
    sigio: 22,
    sigttin: 26,
    sigttou: 27,
    sigvtalrm: 28,
    sigprof: 29,
    sigxcpu: 30,
    sigxfsz: 31,
    nsig: 128,
    sigmask_how: SigmaskHow {
        block: 1,
        unblock: 2,
        setmask: 3,
    },
    ..GENERIC_SIGNALS
};

/// sparc and alpha share the SunOS/OSF signal numbering, not the `how` values.
const SPARC_SIGNALS: SignalNumbers = SignalNumbers {
    sigbus: 10,
    sigusr1: 30,
    sigusr2: 31,
    sigchld: 20,
    sigcont: 19,
    sigstop: 17,
    sigtstp: 18,
    sigsys: 12,
    sigstkflt: None,
    sigemt: Some(7),
    sigurg: 16,
    sigio: 23,
    // `#define SIGPWR SIGLOST`.
    sigpwr: 29,
    siglost: Some(29),
    sigmask_how: SigmaskHow {
        block: 1,
        unblock: 2,
        setmask: 4,
    },
    ..GENERIC_SIGNALS
};

/// alpha: sparc's numbers, but 29 is `SIGINFO` (`#define SIGPWR SIGINFO`), not `SIGLOST`.
const ALPHA_SIGNALS: SignalNumbers = SignalNumbers {
    siglost: None,
    siginfo: Some(29),
    sigmask_how: SigmaskHow {
        block: 1,
        unblock: 2,
        setmask: 3,
    },
    ..SPARC_SIGNALS
};

const PARISC_SIGNALS: SignalNumbers = SignalNumbers {
    sigbus: 10,
    sigusr1: 16,
    sigusr2: 17,
    sigchld: 18,
    sigcont: 26,
    sigstop: 24,
    sigtstp: 25,
    sigsys: 31,
    sigstkflt: Some(7),
    sigxcpu: 12,
    sigpwr: 19,
    sigvtalrm: 20,
    sigprof: 21,
    sigio: 22,
    sigwinch: 23,
    sigttin: 27,
    sigttou: 28,
    sigurg: 29,
    sigxfsz: 30,
    ..GENERIC_SIGNALS
};

const MIPS_OPEN_FLAGS: OpenFlagBits = OpenFlagBits {
    nonblock: 0x80,
    excl: 0x400,
    cloexec: 0o2000000,
};

/// x86_64 (LP64).
pub const X86_64: Abi = Abi {
    name: "x86_64",
    rust_arches: &["x86_64"],
    width: Width::Bits64,
    big_endian: Some(false),
    syscalls: SyscallNumbers::unified(56, 247),
    clone_arg_order: CloneArgOrder::Generic,
    open_flags: GENERIC_OPEN_FLAGS,
    signals: GENERIC_SIGNALS,
    siginfo: SiginfoLayout::GENERIC_64,
    ioctl: IoctlEncoding::GENERIC,
};

/// `__X32_SYSCALL_BIT`.
const X32_SYSCALL_BIT: c_long = 0x4000_0000;

/// x32: ILP32 on the x86_64 kernel, numbers offset by `__X32_SYSCALL_BIT`; `waitid` is the
/// x32-only compat entry 529 (the 64-bit one would write a 64-bit `siginfo_t`).
pub const X32: Abi = Abi {
    name: "x32",
    rust_arches: &["x86_64"],
    width: Width::Ilp32On64,
    syscalls: SyscallNumbers::unified(56, 529).offset(X32_SYSCALL_BIT),
    // The kernel declares the clock fields `long long __attribute__((aligned(4)))` and the
    // whole struct `aligned(8)`: the 32-bit offsets with 8-byte clocks.
    siginfo: SiginfoLayout {
        align: 8,
        utime: 24,
        stime: 32,
        clock_size: 8,
        ..SiginfoLayout::GENERIC_32
    },
    ..X86_64
};

/// i386 (also the compat ABI of x86_64 kernels).
pub const X86: Abi = Abi {
    name: "i386",
    rust_arches: &["x86"],
    width: Width::Bits32,
    big_endian: Some(false),
    syscalls: SyscallNumbers::unified(120, 284),
    clone_arg_order: CloneArgOrder::Backwards,
    siginfo: SiginfoLayout::GENERIC_32,
    ..X86_64
};

/// The asm-generic 64-bit ABI (arm64, riscv64, loongarch64).
const GENERIC_64: Abi = Abi {
    name: "generic-64",
    rust_arches: &[],
    width: Width::Bits64,
    big_endian: None,
    syscalls: SyscallNumbers::unified(220, 95),
    clone_arg_order: CloneArgOrder::Generic,
    open_flags: GENERIC_OPEN_FLAGS,
    signals: GENERIC_SIGNALS,
    siginfo: SiginfoLayout::GENERIC_64,
    ioctl: IoctlEncoding::GENERIC,
};

/// The asm-generic 32-bit ABI (riscv32, csky, hexagon).
const GENERIC_32: Abi = Abi {
    name: "generic-32",
    width: Width::Bits32,
    siginfo: SiginfoLayout::GENERIC_32,
    ..GENERIC_64
};

/// aarch64 (arm64, LP64). Both endiannesses.
pub const AARCH64: Abi = Abi {
    name: "arm64",
    rust_arches: &["aarch64"],
    ..GENERIC_64
};

/// 32-bit arm, EABI. Both endiannesses.
pub const ARM: Abi = Abi {
    name: "arm-eabi",
    rust_arches: &["arm"],
    syscalls: SyscallNumbers::unified(120, 280),
    clone_arg_order: CloneArgOrder::Backwards,
    ..GENERIC_32
};

/// riscv32.
pub const RISCV32: Abi = Abi {
    name: "riscv32",
    rust_arches: &["riscv32"],
    big_endian: Some(false),
    ..GENERIC_32
};

/// riscv64.
pub const RISCV64: Abi = Abi {
    name: "riscv64",
    rust_arches: &["riscv64"],
    big_endian: Some(false),
    ..GENERIC_64
};

/// loongarch64.
pub const LOONGARCH64: Abi = Abi {
    name: "loongarch64",
    rust_arches: &["loongarch64"],
    big_endian: Some(false),
    ..GENERIC_64
};

/// 32-bit powerpc.
pub const POWERPC: Abi = Abi {
    name: "powerpc",
    rust_arches: &["powerpc"],
    big_endian: Some(true),
    syscalls: SyscallNumbers::unified(120, 272),
    clone_arg_order: CloneArgOrder::Backwards,
    ioctl: IoctlEncoding::THREE_DIR_BITS,
    ..GENERIC_32
};

/// 64-bit powerpc, both endiannesses (ELFv1 and ELFv2 share the kernel ABI).
pub const POWERPC64: Abi = Abi {
    name: "powerpc64",
    rust_arches: &["powerpc64"],
    width: Width::Bits64,
    big_endian: None,
    siginfo: SiginfoLayout::GENERIC_64,
    ..POWERPC
};

/// s390x (64-bit, big-endian); `clone` takes the stack first.
pub const S390X: Abi = Abi {
    name: "s390x",
    rust_arches: &["s390x"],
    big_endian: Some(true),
    syscalls: SyscallNumbers::unified(120, 281),
    clone_arg_order: CloneArgOrder::Backwards2,
    ..GENERIC_64
};

const SPARC_OPEN_FLAGS: OpenFlagBits = OpenFlagBits {
    nonblock: 0x4000,
    excl: 0x800,
    cloexec: 0x40_0000,
};

/// 32-bit sparc. No `clone3` (the slot is reserved and returns `ENOSYS`).
pub const SPARC: Abi = Abi {
    name: "sparc",
    rust_arches: &["sparc"],
    width: Width::Bits32,
    big_endian: Some(true),
    syscalls: SyscallNumbers::unified(217, 279).without_clone3(),
    clone_arg_order: CloneArgOrder::Generic,
    open_flags: SPARC_OPEN_FLAGS,
    signals: SPARC_SIGNALS,
    siginfo: SiginfoLayout::GENERIC_32,
    ioctl: IoctlEncoding::THREE_DIR_BITS,
};

/// sparc64. No `clone3`.
pub const SPARC64: Abi = Abi {
    name: "sparc64",
    rust_arches: &["sparc64"],
    width: Width::Bits64,
    siginfo: SiginfoLayout::GENERIC_64,
    ..SPARC
};

/// mips o32 (`__NR_Linux` = 4000). Both endiannesses; also mips32r6.
pub const MIPS_O32: Abi = Abi {
    name: "mips-o32",
    rust_arches: &["mips", "mips32r6"],
    width: Width::Bits32,
    big_endian: None,
    syscalls: SyscallNumbers::unified(120, 278).offset(4000),
    clone_arg_order: CloneArgOrder::Backwards,
    open_flags: MIPS_OPEN_FLAGS,
    signals: MIPS_SIGNALS,
    siginfo: SiginfoLayout::GENERIC_32.swapped(),
    ioctl: IoctlEncoding::THREE_DIR_BITS,
};

/// mips n32 (`__NR_Linux` = 6000): ILP32 on a 64-bit kernel. Rust has no target for it.
pub const MIPS_N32: Abi = Abi {
    name: "mips-n32",
    rust_arches: &[],
    width: Width::Ilp32On64,
    syscalls: SyscallNumbers::unified(55, 241).offset(6000),
    ..MIPS_O32
};

/// mips n64 (`__NR_Linux` = 5000). Both endiannesses; also mips64r6.
pub const MIPS_N64: Abi = Abi {
    name: "mips-n64",
    rust_arches: &["mips64", "mips64r6"],
    width: Width::Bits64,
    syscalls: SyscallNumbers::unified(55, 237).offset(5000),
    siginfo: SiginfoLayout::GENERIC_64.swapped(),
    ..MIPS_O32
};

/// m68k: the generic 32-bit layout, but `int` is only 2-byte aligned.
pub const M68K: Abi = Abi {
    name: "m68k",
    rust_arches: &["m68k"],
    big_endian: Some(true),
    syscalls: SyscallNumbers::unified(120, 277),
    clone_arg_order: CloneArgOrder::Generic,
    siginfo: SiginfoLayout {
        align: 2,
        ..SiginfoLayout::GENERIC_32
    },
    ..GENERIC_32
};

/// C-SKY (abiv2).
pub const CSKY: Abi = Abi {
    name: "csky",
    rust_arches: &["csky"],
    big_endian: Some(false),
    ..GENERIC_32
};

/// Hexagon.
pub const HEXAGON: Abi = Abi {
    name: "hexagon",
    rust_arches: &["hexagon"],
    big_endian: Some(false),
    ..GENERIC_32
};

/// alpha: the new syscalls sit at the generic number + 110. `clone3` (545) exists only
/// since Linux 6.11 (`ENOSYS` before). Rust has no target for it.
pub const ALPHA: Abi = Abi {
    name: "alpha",
    rust_arches: &[],
    width: Width::Bits64,
    big_endian: Some(false),
    syscalls: SyscallNumbers {
        clone: 312,
        waitid: 438,
        ..SyscallNumbers::unified(0, 0).offset(110)
    },
    clone_arg_order: CloneArgOrder::Generic,
    open_flags: OpenFlagBits {
        nonblock: 0o4,
        excl: 0o4000,
        cloexec: 0o10000000,
    },
    signals: ALPHA_SIGNALS,
    siginfo: SiginfoLayout::GENERIC_64,
    ioctl: IoctlEncoding::THREE_DIR_BITS,
};

/// parisc (hppa, 32-bit userland). Rust has no target for it.
pub const PARISC: Abi = Abi {
    name: "parisc",
    rust_arches: &[],
    width: Width::Bits32,
    big_endian: Some(true),
    syscalls: SyscallNumbers::unified(120, 235),
    clone_arg_order: CloneArgOrder::Generic,
    open_flags: OpenFlagBits {
        nonblock: 0o200000,
        excl: 0o2000,
        cloexec: 0o10000000,
    },
    signals: PARISC_SIGNALS,
    siginfo: SiginfoLayout::GENERIC_32,
    ioctl: IoctlEncoding::PARISC,
};

/// SuperH (sh4). No `clone3`. Rust has no Linux target for it.
pub const SH: Abi = Abi {
    name: "sh",
    rust_arches: &[],
    width: Width::Bits32,
    big_endian: None,
    syscalls: SyscallNumbers::unified(120, 284).without_clone3(),
    clone_arg_order: CloneArgOrder::Generic,
    open_flags: GENERIC_OPEN_FLAGS,
    signals: GENERIC_SIGNALS,
    siginfo: SiginfoLayout::GENERIC_32,
    ioctl: IoctlEncoding::GENERIC,
};

/// Every ABI described here.
pub const ALL: &[Abi] = &[
    X86_64,
    X32,
    X86,
    AARCH64,
    ARM,
    RISCV32,
    RISCV64,
    LOONGARCH64,
    POWERPC,
    POWERPC64,
    S390X,
    SPARC,
    SPARC64,
    MIPS_O32,
    MIPS_N32,
    MIPS_N64,
    M68K,
    CSKY,
    HEXAGON,
    ALPHA,
    PARISC,
    SH,
];

/// The ABI this crate was compiled for.
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
pub const NATIVE: Abi = X86_64;
/// The ABI this crate was compiled for.
#[cfg(all(target_arch = "x86_64", target_pointer_width = "32"))]
pub const NATIVE: Abi = X32;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "x86")]
pub const NATIVE: Abi = X86;
/// The ABI this crate was compiled for.
#[cfg(all(target_arch = "aarch64", target_pointer_width = "64"))]
pub const NATIVE: Abi = AARCH64;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "arm")]
pub const NATIVE: Abi = ARM;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "riscv32")]
pub const NATIVE: Abi = RISCV32;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "riscv64")]
pub const NATIVE: Abi = RISCV64;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "loongarch64")]
pub const NATIVE: Abi = LOONGARCH64;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "powerpc")]
pub const NATIVE: Abi = POWERPC;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "powerpc64")]
pub const NATIVE: Abi = POWERPC64;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "s390x")]
pub const NATIVE: Abi = S390X;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "sparc")]
pub const NATIVE: Abi = SPARC;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "sparc64")]
pub const NATIVE: Abi = SPARC64;
/// The ABI this crate was compiled for.
#[cfg(any(target_arch = "mips", target_arch = "mips32r6"))]
pub const NATIVE: Abi = MIPS_O32;
/// The ABI this crate was compiled for.
#[cfg(all(
    any(target_arch = "mips64", target_arch = "mips64r6"),
    target_pointer_width = "32"
))]
pub const NATIVE: Abi = MIPS_N32;
/// The ABI this crate was compiled for.
#[cfg(all(
    any(target_arch = "mips64", target_arch = "mips64r6"),
    target_pointer_width = "64"
))]
pub const NATIVE: Abi = MIPS_N64;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "m68k")]
pub const NATIVE: Abi = M68K;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "csky")]
pub const NATIVE: Abi = CSKY;
/// The ABI this crate was compiled for.
#[cfg(target_arch = "hexagon")]
pub const NATIVE: Abi = HEXAGON;

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "x86",
    all(target_arch = "aarch64", target_pointer_width = "64"),
    target_arch = "arm",
    target_arch = "riscv32",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "s390x",
    target_arch = "sparc",
    target_arch = "sparc64",
    target_arch = "mips",
    target_arch = "mips32r6",
    target_arch = "mips64",
    target_arch = "mips64r6",
    target_arch = "m68k",
    target_arch = "csky",
    target_arch = "hexagon",
)))]
compile_error!("pidfd-sys: this target_arch has no Linux ABI table; add one to abi.rs");

// The native table must describe the target it was selected for.
static_assertions::const_assert_eq!(NATIVE.siginfo.size, 128);
#[cfg(target_endian = "big")]
static_assertions::const_assert!(!matches!(NATIVE.big_endian, Some(false)));
#[cfg(target_endian = "little")]
static_assertions::const_assert!(!matches!(NATIVE.big_endian, Some(true)));
#[cfg(target_pointer_width = "64")]
static_assertions::const_assert!(matches!(NATIVE.width, Width::Bits64));
#[cfg(target_pointer_width = "32")]
static_assertions::const_assert!(!matches!(NATIVE.width, Width::Bits64));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_consistent() {
        for abi in ALL {
            let nr = abi.syscalls;
            // The 2019 unification: the pidfd syscalls keep their relative order everywhere.
            assert_eq!(nr.pidfd_open - nr.pidfd_send_signal, 10, "{}", abi.name);
            assert_eq!(nr.pidfd_getfd - nr.pidfd_open, 4, "{}", abi.name);
            assert_eq!(nr.process_madvise - nr.pidfd_getfd, 2, "{}", abi.name);
            assert_eq!(nr.process_mrelease - nr.process_madvise, 8, "{}", abi.name);
            if let Some(clone3) = nr.clone3 {
                assert_eq!(clone3 - nr.pidfd_open, 1, "{}", abi.name);
            }
            // PIDFD_NONBLOCK and PIDFD_THREAD must be distinct single bits.
            let f = abi.open_flags;
            assert_eq!(f.nonblock.count_ones(), 1, "{}", abi.name);
            assert_eq!(f.excl.count_ones(), 1, "{}", abi.name);
            assert_ne!(f.nonblock, f.excl, "{}", abi.name);
            // Signal numbers the wait-status encoding relies on.
            let s = abi.signals;
            assert_eq!((s.sigkill, s.sigterm, s.sighup), (9, 15, 1), "{}", abi.name);
            assert!(s.nsig == 64 || s.nsig == 128, "{}", abi.name);
            let how = s.sigmask_how;
            assert!(
                how.block < how.unblock && how.unblock < how.setmask,
                "{}",
                abi.name
            );
            // siginfo: header ints then the _sigchld ints, the clocks last.
            let l = abi.siginfo;
            assert_eq!(l.size, 128);
            assert_eq!(l.uid - l.pid, 4);
            assert_eq!(l.status - l.uid, 4);
            assert_eq!(l.stime - l.utime, l.clock_size);
            assert!(l.utime >= l.status + 4);
            let mut header = [l.signo, l.errno, l.code];
            header.sort_unstable();
            assert_eq!(header, [0, 4, 8], "{}", abi.name);
        }
    }

    /// Every standard signal of `s` by name, `None` where the ABI lacks it; `PWR` is listed
    /// once even where it shares its number with `LOST` or `INFO`.
    fn named(s: &SignalNumbers) -> Vec<(&'static str, Option<i32>)> {
        vec![
            ("HUP", Some(s.sighup)),
            ("INT", Some(s.sigint)),
            ("QUIT", Some(s.sigquit)),
            ("ILL", Some(s.sigill)),
            ("TRAP", Some(s.sigtrap)),
            ("ABRT", Some(s.sigabrt)),
            ("BUS", Some(s.sigbus)),
            ("EMT", s.sigemt),
            ("FPE", Some(s.sigfpe)),
            ("KILL", Some(s.sigkill)),
            ("USR1", Some(s.sigusr1)),
            ("SEGV", Some(s.sigsegv)),
            ("USR2", Some(s.sigusr2)),
            ("PIPE", Some(s.sigpipe)),
            ("ALRM", Some(s.sigalrm)),
            ("TERM", Some(s.sigterm)),
            ("STKFLT", s.sigstkflt),
            ("CHLD", Some(s.sigchld)),
            ("CONT", Some(s.sigcont)),
            ("STOP", Some(s.sigstop)),
            ("TSTP", Some(s.sigtstp)),
            ("TTIN", Some(s.sigttin)),
            ("TTOU", Some(s.sigttou)),
            ("URG", Some(s.sigurg)),
            ("XCPU", Some(s.sigxcpu)),
            ("XFSZ", Some(s.sigxfsz)),
            ("VTALRM", Some(s.sigvtalrm)),
            ("PROF", Some(s.sigprof)),
            ("WINCH", Some(s.sigwinch)),
            ("IO", Some(s.sigio)),
            ("PWR", Some(s.sigpwr)),
            ("SYS", Some(s.sigsys)),
        ]
    }

    #[test]
    fn every_abi_names_each_of_signals_1_to_31_exactly_once() {
        for abi in ALL {
            let s = abi.signals;
            let mut seen = [None; 32];
            for (name, number) in named(&s) {
                let Some(number) = number else { continue };
                let slot = &mut seen[usize::try_from(number).unwrap()];
                assert_eq!(
                    *slot, None,
                    "{}: {name} and {slot:?} share {number}",
                    abi.name
                );
                *slot = Some(name);
            }
            assert_eq!(seen[0], None, "{}", abi.name);
            for (number, name) in seen.iter().enumerate().skip(1) {
                assert!(name.is_some(), "{}: no signal {number}", abi.name);
            }
            // LOST and INFO are other names of PWR's number, never a signal of their own.
            for other in [s.siglost, s.siginfo].into_iter().flatten() {
                assert_eq!(other, s.sigpwr, "{}", abi.name);
            }
            assert!(s.siglost.is_none() || s.siginfo.is_none(), "{}", abi.name);
        }
    }

    /// The signals that move between ABIs, as the kernel's `arch/*/include/uapi/asm/signal.h`
    /// (and `include/uapi/asm-generic/signal.h`) define them, one row per header.
    #[test]
    fn signal_numbers_match_the_kernel_headers() {
        type Row = (
            Option<i32>, // EMT
            Option<i32>, // STKFLT
            [i32; 10],   // XCPU XFSZ TTIN TTOU URG VTALRM PROF WINCH IO PWR
            Option<i32>, // LOST
            Option<i32>, // INFO
        );
        let row = |s: &SignalNumbers| -> Row {
            (
                s.sigemt,
                s.sigstkflt,
                [
                    s.sigxcpu,
                    s.sigxfsz,
                    s.sigttin,
                    s.sigttou,
                    s.sigurg,
                    s.sigvtalrm,
                    s.sigprof,
                    s.sigwinch,
                    s.sigio,
                    s.sigpwr,
                ],
                s.siglost,
                s.siginfo,
            )
        };
        let generic: Row = (
            None,
            Some(16),
            [24, 25, 21, 22, 23, 26, 27, 28, 29, 30],
            None,
            None,
        );
        let mips: Row = (
            Some(7),
            None,
            [30, 31, 26, 27, 21, 28, 29, 20, 22, 19],
            None,
            None,
        );
        let sparc: Row = (
            Some(7),
            None,
            [24, 25, 21, 22, 16, 26, 27, 28, 23, 29],
            Some(29),
            None,
        );
        let alpha: Row = (
            Some(7),
            None,
            [24, 25, 21, 22, 16, 26, 27, 28, 23, 29],
            None,
            Some(29),
        );
        let parisc: Row = (
            None,
            Some(7),
            [12, 30, 27, 28, 29, 20, 21, 23, 22, 19],
            None,
            None,
        );
        for abi in ALL {
            let expected = if abi.name.starts_with("mips") {
                mips
            } else if abi.name.starts_with("sparc") {
                sparc
            } else if abi.name == "alpha" {
                alpha
            } else if abi.name == "parisc" {
                parisc
            } else {
                generic
            };
            assert_eq!(row(&abi.signals), expected, "{}", abi.name);
            let s = abi.signals;
            assert_eq!((s.sigill, s.sigtrap, s.sigfpe), (4, 5, 8), "{}", abi.name);
        }
    }

    #[test]
    fn clone3_absent_exactly_on_sparc_and_sh() {
        let without: Vec<&str> = ALL
            .iter()
            .filter(|abi| abi.syscalls.clone3.is_none())
            .map(|abi| abi.name)
            .collect();
        assert_eq!(without, ["sparc", "sparc64", "sh"]);
    }

    #[test]
    fn ioctl_encodings_match_known_requests() {
        // PIDFD_GET_INFO = _IOWR(0xFF, 11, struct pidfd_info /* 64 bytes */): the same
        // number on every ABI because READ|WRITE lands on the top two bits either way.
        for abi in ALL {
            assert_eq!(
                abi.ioctl.iowr(0xFF, 11, 64),
                Some(0xC040_FF0B),
                "{}",
                abi.name
            );
        }
        // _IO differs: _IOC_NONE is 1 where the direction has three bits.
        assert_eq!(X86_64.ioctl.io(0xFF, 5), 0xFF05);
        assert_eq!(MIPS_N64.ioctl.io(0xFF, 5), 0x2000_FF05);
        assert_eq!(POWERPC64.ioctl.io(0xFF, 5), 0x2000_FF05);
        assert_eq!(PARISC.ioctl.io(0xFF, 5), 0xFF05);
        // A size that does not fit is refused, not truncated.
        assert_eq!(X86_64.ioctl.iowr(0xFF, 11, 1 << 14), None);
        assert_eq!(MIPS_O32.ioctl.iowr(0xFF, 11, 1 << 13), None);
        assert!(X86_64.ioctl.iowr(0xFF, 11, (1 << 14) - 1).is_some());
    }

    #[test]
    fn mips_is_the_only_swapped_siginfo() {
        for abi in ALL {
            let swapped = abi.siginfo.code < abi.siginfo.errno;
            assert_eq!(swapped, abi.name.starts_with("mips"), "{}", abi.name);
        }
    }
}
