//! Thin `unsafe` wrappers over `libc::syscall` for the pidfd syscalls, and for the few
//! syscalls a child makes between `clone` and `execve` ([`rt_sigprocmask`],
//! [`rt_sigaction_handler`], [`openat`], [`close`], [`dup3`], [`fcntl_int`], [`read()`],
//! [`write()`],
//! [`chdir`], [`setsid`], [`setpgid`], [`execve`], [`exit_group`]): one `syscall(2)` each,
//! never a C library wrapper that is a cancellation point or filters internal signals.
//!
//! # Safety
//!
//! All of these take raw file descriptors, so all are `unsafe` for I/O safety: the caller
//! must own (or validly borrow) every fd it passes, for the duration of the call, and must
//! take ownership of every fd returned (close it exactly once). Wrappers that take pointers
//! say what those must point to. None of them retries on `EINTR`; see
//! [`Errno::retry_on_intr`].
//!
//! The syscall numbers come from [`crate::nr`]; nothing links glibc's `pidfd_*` symbols.

use core::ffi::{c_int, c_long, c_uint};
use core::ptr;

use crate::abi::{CloneArgOrder, NATIVE};
use crate::flags::{CloneFlags, IdType, PidfdFlags, PidfdSignalFlags, WaitIdOptions};
use crate::pidfs::{PidfdNamespace, pidfd_info};
use crate::{Errno, Result, clone_args, nr, siginfo_t};

/// A raw file descriptor (`int`).
pub type RawFd = c_int;

/// Turns a `syscall(2)` return value into a `Result`.
#[inline]
fn check(ret: c_long) -> Result<c_long> {
    if ret == -1 {
        Err(Errno::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A signed `int` argument, widened the way the C ABI's `long` would carry it (the kernel
/// truncates it back to `int`). `syscall(2)` reads every argument as a `long`, so passing a
/// narrower type through C varargs would leave the upper register bits unspecified.
#[inline]
fn int(value: c_int) -> c_long {
    c_long::from(value)
}

/// An `unsigned int` argument, zero-extended to `long` (on 32-bit ABIs the bits are kept).
#[inline]
fn uint(value: c_uint) -> c_long {
    #[allow(
        clippy::cast_possible_wrap,
        reason = "the kernel reads the bits as unsigned int"
    )]
    let value = value as c_long;
    value
}

/// An ioctl request number as `ioctl(2)`'s request type (`unsigned long` on glibc, `int` on
/// musl); the kernel takes the low 32 bits either way.
#[inline]
fn request(value: u32) -> libc::Ioctl {
    #[allow(
        clippy::cast_possible_wrap,
        reason = "musl's request type is int; bits are kept"
    )]
    let value = value as libc::Ioctl;
    value
}

/// A returned fd or PID: the kernel never returns more than `c_int` for these.
#[inline]
fn check_int(ret: c_long) -> Result<c_int> {
    // Out of range can only mean a broken syscall shim; report it as an error, not a panic.
    check(ret).and_then(|value| c_int::try_from(value).map_err(|_| Errno::INVAL))
}

/// `pidfd_open(2)` — obtain a pidfd for the process `pid` (Linux 5.3+).
///
/// Flags: [`PidfdFlags::NONBLOCK`] (Linux 5.10+), [`PidfdFlags::THREAD`] (Linux 6.9+). The
/// fd is always close-on-exec.
///
/// # Errors
///
/// `ESRCH` no such process; `EINVAL` pid ≤ 0, unknown flags, or (before Linux 6.9) `pid` is
/// not a thread-group leader; `EMFILE`/`ENFILE`; `ENOSYS` before Linux 5.3 or when a seccomp
/// filter says so.
///
/// # Safety
///
/// The caller takes ownership of the returned fd.
#[inline]
pub unsafe fn pidfd_open(pid: c_int, flags: PidfdFlags) -> Result<RawFd> {
    // SAFETY: pidfd_open takes two integers and reads no memory.
    check_int(unsafe { libc::syscall(nr::SYS_pidfd_open, int(pid), uint(flags.bits())) })
}

/// `pidfd_send_signal(2)` — send `sig` to the process the pidfd refers to (Linux 5.1+).
///
/// `sig == 0` checks that the process still exists without sending anything. `info` is the
/// optional `siginfo_t` to deliver with the signal (as for `rt_sigqueueinfo(2)`); `None`
/// makes the kernel fill in `SI_USER`. `flags`: [`PidfdSignalFlags`] (Linux 6.9+).
///
/// # Errors
///
/// `ESRCH` the process has been reaped (an exited, unreaped zombie still accepts signals and
/// ignores them); `EINVAL` invalid signal or flags;
/// `EPERM` not allowed; `EBADF` not a pidfd.
///
/// # Safety
///
/// `pidfd` must be an fd the caller owns or borrows for the duration of the call.
#[inline]
pub unsafe fn pidfd_send_signal(
    pidfd: RawFd,
    sig: c_int,
    info: Option<&siginfo_t>,
    flags: PidfdSignalFlags,
) -> Result<()> {
    let info = info.map_or(ptr::null(), ptr::from_ref);
    // SAFETY: `info` is null or points to a 128-byte siginfo_t the kernel only reads.
    check(unsafe {
        libc::syscall(
            nr::SYS_pidfd_send_signal,
            int(pidfd),
            int(sig),
            info,
            uint(flags.bits()),
        )
    })
    .map(drop)
}

/// `pidfd_getfd(2)` — duplicate fd `target_fd` of the process the pidfd refers to into the
/// calling process (Linux 5.6+). The new fd is close-on-exec. `flags` must be 0.
///
/// # Errors
///
/// `EBADF` `target_fd` is not open in the target (or `pidfd` is not a pidfd); `EPERM` no
/// `PTRACE_MODE_ATTACH_REALCREDS` permission; `ESRCH` the process is gone.
///
/// # Safety
///
/// `pidfd` must be an fd the caller owns or borrows; the caller takes ownership of the
/// returned fd.
#[inline]
pub unsafe fn pidfd_getfd(pidfd: RawFd, target_fd: RawFd, flags: c_uint) -> Result<RawFd> {
    // SAFETY: pidfd_getfd takes three integers and reads no memory.
    check_int(unsafe {
        libc::syscall(nr::SYS_pidfd_getfd, int(pidfd), int(target_fd), uint(flags))
    })
}

/// `waitid(2)` — wait for a child-state change, optionally collecting its resource usage.
///
/// With `idtype` [`crate::flags::P_PIDFD`] (Linux 5.4+), `id` is a pidfd. This is the raw
/// five-argument syscall: unlike glibc's `waitid()`, it fills `rusage` when one is given
/// (like `wait4(2)`). Zero `info` first: a [`WaitIdOptions::NOHANG`] wait that finds nothing
/// reports `si_pid == 0`.
///
/// # Errors
///
/// `ECHILD` no such child (not ours, or already reaped); `EINTR`; `EAGAIN` a
/// [`PidfdFlags::NONBLOCK`] pidfd whose child has not changed state; `EINVAL` bad options or
/// `P_PIDFD` before Linux 5.4.
///
/// # Safety
///
/// With `P_PIDFD`, `id` must be an fd the caller owns or borrows for the duration of the call.
#[inline]
pub unsafe fn waitid(
    idtype: IdType,
    id: c_uint,
    info: &mut siginfo_t,
    options: WaitIdOptions,
    rusage: Option<&mut libc::rusage>,
) -> Result<()> {
    let rusage = rusage.map_or(ptr::null_mut(), ptr::from_mut);
    let info = ptr::from_mut(info);
    // SAFETY: `info` points to a writable 128-byte siginfo_t with this ABI's layout and
    // `rusage` is null or points to a writable `struct rusage`; both are valid for the call.
    check(unsafe {
        libc::syscall(
            nr::SYS_waitid,
            uint(idtype),
            uint(id),
            info,
            int(options.bits()),
            rusage,
        )
    })
    .map(drop)
}

/// `clone3(2)` used like `fork(2)`: create a child that runs on a copy of the caller's
/// memory and returns here with `Ok(0)`; the parent gets `Ok(child_pid)` (Linux 5.3+).
///
/// With [`CloneFlags::PIDFD`], the pidfd is stored through `args.pidfd`. Pass the smallest
/// [`crate::clone_args`] size that holds the fields used (`CLONE_ARGS_SIZE_VER*`).
///
/// Only fork-like use is possible through `syscall(2)`: the child returns through the
/// caller's stack frames, so it must not share the caller's memory. `CLONE_VM`,
/// `CLONE_THREAD`, `CLONE_SIGHAND`, `CLONE_SETTLS` and a non-zero `args.stack` are refused
/// with `EINVAL` before any syscall (for a child on its own stack use [`clone3_on_stack`]).
///
/// # Errors
///
/// `ENOSYS` before Linux 5.3, on sparc and sh (no clone3 there), under qemu-user and under
/// seccomp filters that block it (Docker's default before 20.10 did); `E2BIG` size larger
/// than the kernel knows; `EINVAL`; `EAGAIN`/`ENOMEM`/`EPERM` as for `fork(2)`.
///
/// # Safety
///
/// In a multithreaded program the child may only call async-signal-safe functions until it
/// execs or `_exit`s (as after `fork(2)`). Every pointer stored in `args` must be valid for
/// the kernel to write (`pidfd`, `parent_tid`, `child_tid`) or read (`set_tid`), and `size`
/// must not exceed `size_of::<clone_args>()`.
pub unsafe fn clone3(args: &mut clone_args, size: usize) -> Result<c_int> {
    let flags = CloneFlags::from_bits_retain(args.flags);
    let shares_memory =
        CloneFlags::VM | CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::SETTLS;
    if flags.intersects(shares_memory) || args.stack != 0 || size > size_of::<clone_args>() {
        return Err(Errno::INVAL);
    }
    let Some(number) = nr::SYS_clone3 else {
        return Err(Errno::NOSYS);
    };
    let args = ptr::from_mut(args);
    // SAFETY: `args` points to `size` readable bytes (checked above); the kernel reads it
    // and writes through the pointers it holds, which the caller guarantees valid. The child
    // runs on a private copy of memory (no sharing flags, checked above), like `fork`.
    check_int(unsafe { libc::syscall(number, args, size) })
}

/// Whether [`clone3_on_stack`] is implemented for this architecture (x86_64 only so far;
/// elsewhere it returns `ENOSYS` without a syscall).
pub const CLONE3_ON_STACK: bool = cfg!(target_arch = "x86_64");

/// `clone3(2)` with the child starting in `child(arg)` on its own stack
/// (`args.stack`/`args.stack_size`): the only way to use `CLONE_VM` (with `CLONE_VFORK`, the
/// posix_spawn technique) together with clone3-only flags such as `CLONE_PIDFD` +
/// `CLONE_CLEAR_SIGHAND` + `CLONE_INTO_CGROUP` (Linux 5.3 / 5.5 / 5.7+). The parent gets
/// `Ok(child_pid)`; the child never returns here.
///
/// Implemented in assembly for x86_64 (like glibc's internal `__clone3`); other
/// architectures get `ENOSYS` (see [`CLONE3_ON_STACK`]), as do kernels before 5.3,
/// qemu-user and seccomp filters that block clone3.
///
/// # Errors
///
/// `EINVAL` (before any syscall) when `args.stack` or `args.stack_size` is zero or `size`
/// exceeds `size_of::<clone_args>()`; otherwise as for [`clone3`] (`EINVAL` for flags the
/// kernel does not know, `EBADF`/`EOPNOTSUPP` for a bad `CLONE_INTO_CGROUP` fd, ...).
///
/// # Safety
///
/// `args.stack .. args.stack + args.stack_size` must be writable memory nobody else uses
/// until the child execs or exits, aligned to 16 bytes at its top. `child` must never
/// return or unwind; with `CLONE_VM` it runs on the caller's memory (without `CLONE_VFORK`
/// concurrently with it), so it may only do async-signal-safe work and must leave the
/// caller's data consistent; `arg` must stay valid for as long as `child` uses it. The
/// pointers in `args` must be valid as for [`clone3`].
pub unsafe fn clone3_on_stack(
    args: &mut clone_args,
    size: usize,
    child: unsafe extern "C" fn(*mut core::ffi::c_void) -> !,
    arg: *mut core::ffi::c_void,
) -> Result<c_int> {
    if args.stack == 0 || args.stack_size == 0 || size > size_of::<clone_args>() {
        return Err(Errno::INVAL);
    }
    // SAFETY: the caller upholds this function's contract, which is the arch function's.
    unsafe { clone3_on_stack_arch(args, size, child, arg) }
}

/// The architecture's `clone3_on_stack`.
///
/// # Safety
///
/// As for [`clone3_on_stack`], with `args.stack`/`args.stack_size`/`size` already checked.
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_on_stack_arch(
    args: &mut clone_args,
    size: usize,
    child: unsafe extern "C" fn(*mut core::ffi::c_void) -> !,
    arg: *mut core::ffi::c_void,
) -> Result<c_int> {
    let Some(number) = nr::SYS_clone3 else {
        return Err(Errno::NOSYS);
    };
    #[allow(clippy::useless_conversion, reason = "c_long is 32-bit on x32")]
    let number = i64::from(number);
    let ret: i64;
    // SAFETY: the syscall reads `size` bytes of `args` (checked by the caller). In the
    // parent, rax holds the result and only rcx/r11 are clobbered (declared). The child
    // resumes after `syscall` with rax = 0, rsp = args.stack + args.stack_size (provided by
    // our caller, 16-byte aligned at the top) and the parent's other registers: it clears
    // the frame pointer and calls `child(arg)` from r12/r13, which never returns (`ud2`
    // traps if it did). The child never touches the parent's stack frame.
    unsafe {
        core::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r13",
            "call r12",
            "ud2",
            "2:",
            // Every operand widened to 64 bits: on x32 pointers are 32-bit, and the upper
            // half of a register would otherwise be unspecified.
            inlateout("rax") number => ret,
            in("rdi") ptr::from_mut(args) as usize as u64,
            in("rsi") size as u64,
            in("r12") child as usize as u64,
            in("r13") arg as usize as u64,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if (-4095..0).contains(&ret) {
        let errno = c_int::try_from(-ret).unwrap_or(Errno::INVAL.raw_os_error());
        return Err(Errno::from_raw_os_error(errno));
    }
    c_int::try_from(ret).map_err(|_| Errno::INVAL)
}

/// No implementation for this architecture yet: `ENOSYS`, without a syscall.
///
/// # Safety
///
/// None needed (nothing is done); `unsafe` to match the x86_64 version.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn clone3_on_stack_arch(
    _args: &mut clone_args,
    _size: usize,
    _child: unsafe extern "C" fn(*mut core::ffi::c_void) -> !,
    _arg: *mut core::ffi::c_void,
) -> Result<c_int> {
    Err(Errno::NOSYS)
}

/// Legacy `clone(2)` used like `fork(2)`, e.g. with [`CloneFlags::PIDFD`] (Linux 5.2+) to get
/// a pidfd for the child through `parent_tid` — the one clone flavour qemu-user 8+ supports.
///
/// `flags` holds the `CLONE_*` bits in its upper bits and the exit signal (usually
/// `SIGCHLD`) in its low byte. The arguments are put in this ABI's order
/// ([`crate::abi::CloneArgOrder`]). As with [`clone3`], sharing memory is refused with
/// `EINVAL`; the child runs with a null new stack pointer (a copy of the caller's stack).
///
/// Kernels before 5.2 ignore `CLONE_PIDFD`: check that `*parent_tid` was written (prefill
/// it with -1).
///
/// Not on sparc/sparc64 (`ENOSYS` without a syscall): the sparc kernels return the
/// *parent's* PID in `%o0` in the child too, marking the child with `%o1 = 1` (the SunOS
/// convention, see [`crate::clone::decode_sunos_fork_return`]); `syscall(2)` returns `%o0`
/// only, so both sides would run as the parent. Reading `%o1` needs inline assembly, which
/// Rust does not offer on sparc on stable. Callers fall back as for any `ENOSYS` (libc's
/// `fork`, whose wrapper decodes `%o1`). qemu-user cannot show the problem: its sparc
/// `clone` emulation forks on the host and writes the host's 0 to the child's `%o0`.
///
/// # Errors
///
/// As for `fork(2)`; `EINVAL` for `CLONE_PIDFD` together with `CLONE_DETACHED` or
/// `CLONE_PARENT_SETTID`, or under qemu-user 7.2; `ENOSYS` on sparc (above).
///
/// # Safety
///
/// As for [`clone3`]: the child may only call async-signal-safe functions; `parent_tid`
/// and `child_tid` must be null or valid for the kernel to write an `int`.
pub unsafe fn clone(flags: u64, parent_tid: *mut c_int, child_tid: *mut c_int) -> Result<c_int> {
    let clone_flags = CloneFlags::from_bits_retain(flags & !0xff);
    let shares_memory =
        CloneFlags::VM | CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::SETTLS;
    // clone3-only bits cannot be expressed in an `unsigned long` on 32-bit ABIs.
    let register_flags = usize::try_from(flags).map_err(|_| Errno::INVAL)?;
    if clone_flags.intersects(shares_memory) {
        return Err(Errno::INVAL);
    }
    if cfg!(pidfd_sparc) {
        return Err(Errno::NOSYS);
    }
    // Every argument as a register-sized integer, in this ABI's order. The stack pointer and
    // TLS are 0: the child continues on its copy of the caller's stack.
    let (flags, stack, tls) = (register_flags, 0_usize, 0_usize);
    let (parent_tid, child_tid) = (parent_tid as usize, child_tid as usize);
    let args = match NATIVE.clone_arg_order {
        CloneArgOrder::Generic => [flags, stack, parent_tid, child_tid, tls],
        CloneArgOrder::Backwards => [flags, stack, parent_tid, tls, child_tid],
        CloneArgOrder::Backwards2 => [stack, flags, parent_tid, child_tid, tls],
    };
    // SAFETY: no memory-sharing flags (checked above), so the child returns on a private
    // copy of this stack, like fork; the kernel writes only through `parent_tid` and
    // `child_tid`, which the caller guarantees are null or valid.
    let ret = unsafe { libc::syscall(nr::SYS_clone, args[0], args[1], args[2], args[3], args[4]) };
    check_int(ret)
}

/// `process_madvise(2)` — give memory advice for another process (Linux 5.10+).
///
/// Returns the number of bytes advised.
///
/// # Errors
///
/// `EINVAL` bad advice or flags; `EPERM` no permission; `ESRCH` the process is gone; `ENOSYS`
/// before Linux 5.10 and under qemu-user.
///
/// # Safety
///
/// `pidfd` must be owned or borrowed; `iov` must point to `iovcnt` readable `iovec`s (the
/// addresses in them are in the *target* process and are not dereferenced here).
pub unsafe fn process_madvise(
    pidfd: RawFd,
    iov: *const libc::iovec,
    iovcnt: usize,
    advice: c_int,
    flags: c_uint,
) -> Result<usize> {
    // SAFETY: the kernel reads `iovcnt` iovecs from `iov`, which the caller guarantees.
    let ret = check(unsafe {
        libc::syscall(
            nr::SYS_process_madvise,
            int(pidfd),
            iov,
            iovcnt,
            int(advice),
            uint(flags),
        )
    })?;
    usize::try_from(ret).map_err(|_| Errno::INVAL)
}

/// `process_mrelease(2)` — reap the memory of a process that is being killed (Linux 5.15+).
///
/// # Errors
///
/// `EINVAL` the process is not exiting (send `SIGKILL` first) or flags ≠ 0; `ESRCH` gone;
/// `ENOSYS` before Linux 5.15 and under qemu-user.
///
/// # Safety
///
/// `pidfd` must be owned or borrowed for the duration of the call.
pub unsafe fn process_mrelease(pidfd: RawFd, flags: c_uint) -> Result<()> {
    // SAFETY: process_mrelease takes two integers and reads no memory.
    check(unsafe { libc::syscall(nr::SYS_process_mrelease, int(pidfd), uint(flags)) }).map(drop)
}

/// `ioctl(pidfd, PIDFD_GET_INFO, info)` — read information about the process (Linux 6.13+).
///
/// Set `info.mask` to the [`crate::pidfs::PidfdInfoMask`] bits wanted; the kernel
/// returns the bits it filled in.
///
/// # Errors
///
/// `ESRCH` the process has been reaped (and no `PIDFD_INFO_EXIT` was asked, Linux 6.15+);
/// `ENOTTY` before Linux 6.13 or not a pidfd; `ENOSYS`/`ENOTTY` under qemu-user.
///
/// # Safety
///
/// `pidfd` must be owned or borrowed for the duration of the call.
#[allow(
    clippy::useless_conversion,
    reason = "c_long is c_int on 32-bit targets"
)]
pub unsafe fn pidfd_get_info(pidfd: RawFd, info: &mut pidfd_info) -> Result<()> {
    let info = ptr::from_mut(info);
    // SAFETY: the request's size field says `size_of::<pidfd_info>()`, and `info` points to
    // that many writable bytes.
    let ret = unsafe { libc::ioctl(pidfd, request(crate::pidfs::PIDFD_GET_INFO), info) };
    check(ret.into()).map(drop)
}

/// `ioctl(pidfd, PIDFD_GET_*_NAMESPACE)` — open a namespace of the process (Linux 6.11+).
///
/// Returns an `O_CLOEXEC` namespace fd, usable with `setns(2)`.
///
/// # Errors
///
/// `ESRCH` the process is gone; `EPERM` no permission; `EOPNOTSUPP` that namespace type is
/// not configured; `ENOTTY` before Linux 6.11.
///
/// # Safety
///
/// `pidfd` must be owned or borrowed; the caller takes ownership of the returned fd.
#[allow(
    clippy::useless_conversion,
    reason = "c_long is c_int on 32-bit targets"
)]
pub unsafe fn pidfd_get_namespace(pidfd: RawFd, namespace: PidfdNamespace) -> Result<RawFd> {
    // The kernel refuses a non-zero argument with EINVAL, so pass 0 explicitly (leaving the
    // variadic argument out would hand it whatever is in the register).
    let arg: core::ffi::c_ulong = 0;
    // SAFETY: the `_IO` namespace requests read no memory; the argument is a plain 0.
    let ret = unsafe { libc::ioctl(pidfd, request(namespace.request()), arg) };
    check_int(ret.into())
}

// ---- Raw syscalls for a child between clone and exec ----
//
// A `CLONE_VM | CLONE_VFORK` child shares its parent thread's memory *and* its thread
// pointer: the C library's `open`, `close`, `write` are cancellation points that read (and
// write) the parent thread's cancellation state, `sigaction`/`pthread_sigmask` refuse or
// filter the C library's internal signals. These wrappers are one `syscall(2)` each, with
// no cancellation point and no hidden state but `errno` (`syscall(2)` sets the calling
// thread's `errno` on failure, which the suspended parent does not read across the clone).
// Kernel versions: all of these syscalls exist on every kernel this crate supports (dup3,
// the newest, is Linux 2.6.27).

/// The kernel's signal-set size in bytes (`_NSIG / 8`): what `rt_sig*` calls take.
pub const KERNEL_SIGSET_SIZE: usize = (crate::signal::NSIG as usize) / 8;

/// A signal set with every signal `1..=NSIG` in it, *including* the C library's internal
/// ones (glibc's `sigfillset` leaves out 32 and 33, so `pthread_sigmask` cannot block
/// them). The kernel ignores `SIGKILL` and `SIGSTOP` in a mask.
pub fn full_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data (an array of words); every bit pattern is valid.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: writes `size_of::<sigset_t>()` bytes into `set`, which has that size.
    unsafe {
        ptr::write_bytes(
            ptr::from_mut(&mut set).cast::<u8>(),
            0xff,
            size_of::<libc::sigset_t>(),
        )
    };
    set
}

/// Whether `signal` is in `set` (the kernel's layout: bit `signal - 1`, in `unsigned long`
/// words, which the C library's `sigset_t` starts with). Pure: no C library call.
pub fn sigset_contains(set: &libc::sigset_t, signal: c_int) -> bool {
    let Ok(index) = usize::try_from(signal - 1) else {
        return false;
    };
    let bits = core::ffi::c_ulong::BITS as usize;
    let words = size_of::<libc::sigset_t>() / size_of::<core::ffi::c_ulong>();
    if index / bits >= words {
        return false;
    }
    let words_ptr = ptr::from_ref(set).cast::<core::ffi::c_ulong>();
    // SAFETY: sigset_t is an array of `words` unsigned longs; the index is in range.
    let word_ptr = unsafe { words_ptr.add(index / bits) };
    // SAFETY: `word_ptr` points into `set`.
    let word = unsafe { word_ptr.read_unaligned() };
    word & (1 << (index % bits)) != 0
}

/// `rt_sigprocmask(how, set, old, _NSIG / 8)`: `how` is [`crate::signal::SIG_SETMASK`] etc.
/// Unlike `pthread_sigmask`, blocks the C library's internal signals too.
///
/// # Errors
///
/// `EINVAL` for a bad `how`; `EFAULT`.
///
/// # Safety
///
/// `set` and `old` are null or point to valid `sigset_t`s.
pub unsafe fn rt_sigprocmask(
    how: c_int,
    set: *const libc::sigset_t,
    old: *mut libc::sigset_t,
) -> Result<()> {
    // SAFETY: the kernel reads/writes `_NSIG / 8` bytes, the start of each sigset_t.
    check(unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            int(how),
            set,
            old,
            KERNEL_SIGSET_SIZE,
        )
    })
    .map(drop)
}

/// The kernel's `struct sigaction`, large enough for every ABI (at most 32 bytes: handler,
/// flags, restorer, a 16-byte mask on mips), zeroed but for the handler.
#[derive(Clone, Copy)]
#[repr(C)]
struct KernelSigaction([usize; 8]);

impl KernelSigaction {
    /// The handler's word: mips starts with `unsigned int sa_flags` (padded to a pointer),
    /// every other Linux ABI with the handler.
    const HANDLER: usize = if cfg!(any(
        target_arch = "mips",
        target_arch = "mips32r6",
        target_arch = "mips64",
        target_arch = "mips64r6"
    )) {
        1
    } else {
        0
    };
}

impl KernelSigaction {
    /// The flags: mips's `unsigned int sa_flags` comes first (its first 4 bytes, whatever
    /// the byte order); every other Linux ABI has `unsigned long sa_flags` after the handler.
    fn flags(&self) -> u64 {
        if KernelSigaction::HANDLER == 1 {
            let first = self.0[0].to_ne_bytes();
            u64::from(u32::from_ne_bytes([first[0], first[1], first[2], first[3]]))
        } else {
            self.0[1] as u64
        }
    }
}

/// `rt_sigaction(signal, act, old)` through the raw syscall: the old action.
///
/// # Safety
///
/// `act`, when given, is an action the kernel may install for the whole process (its handler
/// `SIG_DFL`, `SIG_IGN` or a valid signal handler).
unsafe fn raw_rt_sigaction(
    signal: c_int,
    act: Option<&KernelSigaction>,
) -> Result<KernelSigaction> {
    let mut old = KernelSigaction([0; 8]);
    let act_ptr = act.map_or(ptr::null(), ptr::from_ref);
    let old_ptr = ptr::from_mut(&mut old);
    // The kernel reads `act` (or nothing) and writes `old`, each at most
    // `sizeof(struct sigaction)` <= 64 bytes. sparc takes a restorer (null) before the size.
    let ret = if cfg!(pidfd_sparc) {
        // SAFETY: as said above; `act` is the caller's to vouch for.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                int(signal),
                act_ptr,
                old_ptr,
                ptr::null::<u8>(),
                KERNEL_SIGSET_SIZE,
            )
        }
    } else {
        // SAFETY: as said above; `act` is the caller's to vouch for.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                int(signal),
                act_ptr,
                old_ptr,
                KERNEL_SIGSET_SIZE,
            )
        }
    };
    check(ret)?;
    Ok(old)
}

/// `rt_sigaction(signal, NULL, old)` through the raw syscall: the current handler (`SIG_DFL`
/// = 0, `SIG_IGN` = 1, else a function's address) and flags word (compare with this ABI's
/// constants, e.g. [`crate::signal::SA_NOCLDWAIT`]: libc's `sigaction` layout and flag values
/// are wrong on mips64 glibc, see [`crate::errata`]). Changes nothing.
///
/// # Errors
///
/// `EINVAL` for an invalid signal.
pub fn rt_sigaction_query(signal: c_int) -> Result<(usize, u64)> {
    // SAFETY: no new action: a query.
    let old = unsafe { raw_rt_sigaction(signal, None) }?;
    Ok((old.0[KernelSigaction::HANDLER], old.flags()))
}

/// `rt_sigaction(signal, new, old)` through the raw syscall, setting (when `new` is `Some`)
/// the handler to `new` (`SIG_DFL` = 0, `SIG_IGN` = 1) with no flags and an empty mask, and
/// returning the previous handler. Works on the C library's internal signals too.
///
/// # Errors
///
/// `EINVAL` for an invalid signal, or for setting `SIGKILL`/`SIGSTOP`.
///
/// # Safety
///
/// `new` must be `SIG_DFL`, `SIG_IGN` or a function that is a valid signal handler for the
/// whole process.
pub unsafe fn rt_sigaction_handler(signal: c_int, new: Option<usize>) -> Result<usize> {
    let act = new.map(|handler| {
        let mut act = KernelSigaction([0; 8]);
        act.0[KernelSigaction::HANDLER] = handler;
        act
    });
    // SAFETY: the caller vouches for `new`, the only thing set in `act`.
    let old = unsafe { raw_rt_sigaction(signal, act.as_ref()) }?;
    Ok(old.0[KernelSigaction::HANDLER])
}

/// `openat(dirfd, path, flags | O_LARGEFILE, mode)`.
///
/// # Errors
///
/// As for `openat(2)`.
///
/// # Safety
///
/// `path` is NUL-terminated; the caller owns the returned fd.
pub unsafe fn openat(
    dirfd: RawFd,
    path: *const libc::c_char,
    flags: c_int,
    mode: c_uint,
) -> Result<RawFd> {
    // SAFETY: the kernel reads the NUL-terminated path.
    check_int(unsafe {
        libc::syscall(
            libc::SYS_openat,
            int(dirfd),
            path,
            int(flags | libc::O_LARGEFILE),
            uint(mode),
        )
    })
}

/// `close(fd)`.
///
/// # Errors
///
/// `EBADF` when `fd` is not open; `EINTR`/`EIO` (the fd is closed anyway on Linux).
///
/// # Safety
///
/// The caller owns `fd`, and nothing uses it afterwards.
pub unsafe fn close(fd: RawFd) -> Result<()> {
    // SAFETY: close takes an integer.
    check(unsafe { libc::syscall(libc::SYS_close, int(fd)) }).map(drop)
}

/// `dup3(old, new, flags)` (`EINVAL` when `old == new`).
///
/// # Errors
///
/// As for `dup3(2)`.
///
/// # Safety
///
/// `new` is replaced: the caller owns it (or it is not open).
pub unsafe fn dup3(old: RawFd, new: RawFd, flags: c_int) -> Result<RawFd> {
    // SAFETY: dup3 takes integers.
    check_int(unsafe { libc::syscall(libc::SYS_dup3, int(old), int(new), int(flags)) })
}

/// `fcntl(fd, cmd, arg)` for the commands that take an `int` (`F_SETFD`,
/// `F_DUPFD_CLOEXEC`, ...).
///
/// # Errors
///
/// As for `fcntl(2)`.
///
/// # Safety
///
/// As the command requires (`F_DUPFD*`: the caller owns the new fd).
pub unsafe fn fcntl_int(fd: RawFd, cmd: c_int, arg: c_int) -> Result<c_int> {
    // `fcntl` (not `fcntl64`): the int commands behave the same under both, and libc names
    // the asm-generic 32-bit ABIs' only one (riscv32, csky) `SYS_fcntl`.
    // SAFETY: integer arguments only.
    check_int(unsafe { libc::syscall(libc::SYS_fcntl, int(fd), int(cmd), int(arg)) })
}

/// `write(fd, buf, len)`: bytes written.
///
/// # Errors
///
/// As for `write(2)`.
///
/// # Safety
///
/// `buf` points to `len` readable bytes; `fd` is owned or borrowed.
pub unsafe fn write(fd: RawFd, buf: *const u8, len: usize) -> Result<usize> {
    // SAFETY: the kernel reads `len` bytes from `buf`.
    let ret = check(unsafe { libc::syscall(libc::SYS_write, int(fd), buf, len) })?;
    usize::try_from(ret).map_err(|_| Errno::INVAL)
}

/// `read(fd, buf, len)`: bytes read (0 at end of file).
///
/// # Errors
///
/// As for `read(2)`.
///
/// # Safety
///
/// `buf` points to `len` writable bytes; `fd` is owned or borrowed.
pub unsafe fn read(fd: RawFd, buf: *mut u8, len: usize) -> Result<usize> {
    // SAFETY: the kernel writes at most `len` bytes to `buf`.
    let ret = check(unsafe { libc::syscall(libc::SYS_read, int(fd), buf, len) })?;
    usize::try_from(ret).map_err(|_| Errno::INVAL)
}

/// `chdir(path)`.
///
/// # Errors
///
/// As for `chdir(2)`.
///
/// # Safety
///
/// `path` is NUL-terminated.
pub unsafe fn chdir(path: *const libc::c_char) -> Result<()> {
    // SAFETY: the kernel reads the NUL-terminated path.
    check(unsafe { libc::syscall(libc::SYS_chdir, path) }).map(drop)
}

/// `setsid()`: the new session ID.
///
/// # Errors
///
/// `EPERM` for a process-group leader.
pub fn setsid() -> Result<c_int> {
    // SAFETY: no arguments.
    check_int(unsafe { libc::syscall(libc::SYS_setsid) })
}

/// `setpgid(pid, pgid)`.
///
/// # Errors
///
/// As for `setpgid(2)`.
pub fn setpgid(pid: c_int, pgid: c_int) -> Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setpgid, int(pid), int(pgid)) }).map(drop)
}

/// `execve(path, argv, envp)`: returns only on failure, with its errno.
///
/// # Safety
///
/// `path` is NUL-terminated; `argv` and `envp` are NULL-terminated arrays of
/// NUL-terminated strings.
pub unsafe fn execve(
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> Errno {
    // SAFETY: the kernel reads the C data the caller guarantees.
    match check(unsafe { libc::syscall(libc::SYS_execve, path, argv, envp) }) {
        Ok(_) => Errno::INVAL,
        Err(errno) => errno,
    }
}

/// `exit_group(status)`: ends the process at once (what `_exit` does), no C library
/// cleanup.
pub fn exit_group(status: c_int) -> ! {
    loop {
        // SAFETY: exit_group never returns; the loop only satisfies the type.
        unsafe { libc::syscall(libc::SYS_exit_group, int(status)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_sigset_holds_every_signal_including_the_internal_ones() {
        let set = full_sigset();
        for signal in 1..=crate::signal::NSIG {
            assert!(sigset_contains(&set, signal), "{signal}");
        }
        assert!(!sigset_contains(&set, 0));
        assert!(!sigset_contains(&set, -1));
        assert!(!sigset_contains(&set, 1 << 20));
    }

    #[test]
    fn sigset_contains_reads_the_kernel_bit() {
        // SAFETY: plain data; sigemptyset/sigaddset initialise it.
        let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t.
        unsafe { libc::sigemptyset(&raw mut set) };
        // SAFETY: as above; valid signal numbers.
        unsafe { libc::sigaddset(&raw mut set, crate::signal::SIGTERM) };
        // SAFETY: as above.
        unsafe { libc::sigaddset(&raw mut set, 40) };
        for signal in 1..=crate::signal::NSIG {
            let expected = signal == crate::signal::SIGTERM || signal == 40;
            assert_eq!(sigset_contains(&set, signal), expected, "{signal}");
        }
    }

    #[test]
    fn rt_sigaction_handler_round_trips_on_an_internal_signal() {
        // glibc's sigaction refuses 32/33 (EINVAL); the raw syscall reads them. Reading
        // changes nothing.
        // SAFETY: reads only.
        let handler = unsafe { rt_sigaction_handler(33, None) };
        assert!(handler.is_ok(), "{handler:?}");
        // SIGUSR2 set to SIG_IGN and back. (This ABI's number from `crate::signal`: libc's
        // are x86's on mips64, where its SIGURG, 23, is SIGSTOP: EINVAL.)
        let sigusr2 = crate::signal::SIGUSR2;
        // SAFETY: SIG_IGN is a valid disposition (nothing sends SIGUSR2 to a unit test).
        let before = unsafe { rt_sigaction_handler(sigusr2, Some(1)) }.unwrap();
        // SAFETY: reads only.
        assert_eq!(unsafe { rt_sigaction_handler(sigusr2, None) }, Ok(1));
        // The C library reads the kernel's struct with its own layout: it must see SIG_IGN
        // where we wrote the handler (mips: after `sa_flags`), and we must see its SIG_DFL.
        // SAFETY: SIG_DFL is a valid disposition.
        let seen_by_libc = unsafe { libc::signal(sigusr2, libc::SIG_DFL) };
        assert_eq!(seen_by_libc, libc::SIG_IGN);
        // SAFETY: reads only.
        assert_eq!(unsafe { rt_sigaction_handler(sigusr2, None) }, Ok(0));
        // SAFETY: puts the previous disposition (SIG_DFL or SIG_IGN in a test) back.
        let restored = unsafe { rt_sigaction_handler(sigusr2, Some(before)) };
        assert_eq!(restored, Ok(0));
        // SAFETY: SIGKILL cannot be changed: EINVAL, nothing done.
        let sigkill = unsafe { rt_sigaction_handler(crate::signal::SIGKILL, Some(0)) };
        assert_eq!(sigkill, Err(Errno::INVAL));
    }
}
