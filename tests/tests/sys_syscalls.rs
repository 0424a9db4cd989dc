//! pidfd-sys against the real kernel: every wrapper is called on real processes and every
//! `waitid` result is decoded from what the kernel actually wrote.
//!
//! Runs natively on x86_64 and i686 (the compat syscall path, real 32-bit `siginfo_t`).
//! Features newer than the running kernel are checked for their documented failure instead.

#![allow(unsafe_code, reason = "calls the raw wrappers; each block says why")]

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use pidfd_sys::child_status::ChildStatus;
use pidfd_sys::clone::{CLONE_ARGS_SIZE_VER0, clone_args};
use pidfd_sys::flags::{CloneFlags, PidfdFlags, PidfdSignalFlags, WaitIdOptions};
use pidfd_sys::pidfs::{PidfdInfoMask, PidfdNamespace, pidfd_info};
use pidfd_sys::signal::{SIGCHLD, SIGCONT, SIGKILL, SIGSTOP, SIGTERM};
use pidfd_sys::{Errno, siginfo_t, syscalls};
use pidfd_tests::emulator::{known_gap, timeval_usec_gap};
use pidfd_tests::{kernel, own, own_pid, pidfd_open, sh, waitid, waitid_into};

/// Why the pidfd ioctls cannot be tested under qemu-user.
const IOCTL_GAP: &str = "pidfd ioctls are not forwarded by qemu-user (ENOSYS; ENOTTY in qemu 9+)";

/// Under an emulator, whether `result` is the documented gap (see
/// `pidfd_tests::emulator::known_gap`).
fn gap_errno<T>(result: &Result<T, Errno>, expected: &[i32], reason: &str) -> bool {
    let errno = result.as_ref().err().map(|errno| errno.raw_os_error());
    known_gap(errno, expected, reason)
}

fn send(pidfd: &OwnedFd, sig: i32) -> Result<(), Errno> {
    // SAFETY: `pidfd` is borrowed for the call.
    unsafe { syscalls::pidfd_send_signal(pidfd.as_raw_fd(), sig, None, PidfdSignalFlags::empty()) }
}

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

#[test]
fn exit_codes_decode_from_real_waitid() {
    for code in [0, 1, 42, 255] {
        let child = sh(&format!("exit {code}"));
        let pidfd = pidfd_open(child.pid(), PidfdFlags::empty()).unwrap();
        let info = waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
        assert_eq!(info.signo(), SIGCHLD);
        assert_eq!(info.errno(), 0);
        assert_eq!(info.code(), pidfd_sys::cld::EXITED);
        assert_eq!(info.pid(), child.pid());
        assert_eq!(info.uid(), uid());
        assert_eq!(info.child_status(), Ok(Some(ChildStatus::Exited(code))));
        let raw = ChildStatus::Exited(code).to_wait_status().unwrap();
        assert!(libc::WIFEXITED(raw) && libc::WEXITSTATUS(raw) == code);
    }
}

#[test]
fn waitid_writes_exactly_the_sigchld_fields_over_a_poisoned_buffer() {
    let child = sh("exit 7");
    let pidfd = pidfd_open(child.pid(), PidfdFlags::empty()).unwrap();
    let poisoned = siginfo_t::from_bytes(&[0xA5; 128]);
    let info = waitid_into(&pidfd, WaitIdOptions::EXITED, poisoned, None).unwrap();
    // The six fields waitid writes are right at this ABI's offsets...
    assert_eq!(info.signo(), SIGCHLD);
    assert_eq!(info.errno(), 0);
    assert_eq!(info.pid(), child.pid());
    assert_eq!(info.uid(), uid());
    assert_eq!(info.child_status(), Ok(Some(ChildStatus::Exited(7))));
    // ...and the tail past the clock fields is untouched (the kernel writes nothing there).
    let bytes = info.to_bytes();
    assert!(
        bytes[64..].iter().all(|&b| b == 0xA5),
        "kernel wrote past _sigchld"
    );
}

#[test]
fn killed_child_decodes_as_killed() {
    let mut child = sh("exec sleep 30");
    let pidfd = pidfd_open(child.pid(), PidfdFlags::empty()).unwrap();
    send(&pidfd, SIGTERM).unwrap();
    let info = waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
    assert_eq!(info.child_status(), Ok(Some(ChildStatus::Killed(SIGTERM))));
    // Reaped through the pidfd: std's Child has nothing left to wait for.
    assert_eq!(
        child.try_wait().unwrap_err().raw_os_error(),
        Some(libc::ECHILD)
    );
}

#[test]
fn signal_zero_probes_and_signalling_a_reaped_child_is_esrch() {
    let child = sh("exec sleep 30");
    let pidfd = pidfd_open(child.pid(), PidfdFlags::empty()).unwrap();
    send(&pidfd, 0).unwrap();
    send(&pidfd, SIGKILL).unwrap();
    let info = waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
    assert_eq!(info.child_status(), Ok(Some(ChildStatus::Killed(SIGKILL))));
    assert_eq!(send(&pidfd, 0), Err(Errno::SRCH));
    assert_eq!(send(&pidfd, SIGKILL), Err(Errno::SRCH));
    // A second wait on the reaped child finds nothing.
    assert_eq!(
        waitid(&pidfd, WaitIdOptions::EXITED).unwrap_err(),
        Errno::CHILD
    );
}

#[test]
fn a_zombie_accepts_signals_until_it_is_reaped() {
    let child = sh("exec sleep 30");
    let pidfd = pidfd_open(child.pid(), PidfdFlags::empty()).unwrap();
    send(&pidfd, SIGKILL).unwrap();
    // Wait for the exit without reaping: WNOWAIT leaves the zombie in place.
    let info = waitid(&pidfd, WaitIdOptions::EXITED | WaitIdOptions::NOWAIT).unwrap();
    assert_eq!(info.child_status(), Ok(Some(ChildStatus::Killed(SIGKILL))));
    assert_eq!(send(&pidfd, 0), Ok(()));
    assert_eq!(send(&pidfd, SIGTERM), Ok(()));
    waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
    assert_eq!(send(&pidfd, 0), Err(Errno::SRCH));
}

#[test]
fn nohang_on_a_running_child_reports_nothing() {
    let child = sh("exec sleep 30");
    let pidfd = pidfd_open(child.pid(), PidfdFlags::empty()).unwrap();
    let info = waitid(&pidfd, WaitIdOptions::EXITED | WaitIdOptions::NOHANG).unwrap();
    assert_eq!(info.pid(), 0);
    assert_eq!(info.child_status(), Ok(None));
    send(&pidfd, SIGKILL).unwrap();
    let info = waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
    assert_eq!(info.child_status(), Ok(Some(ChildStatus::Killed(SIGKILL))));
}

#[test]
fn nonblocking_pidfd_wait_is_eagain_while_running() {
    if pidfd_tests::emulator::pidfd_flags_gap() {
        return;
    }
    let child = sh("exec sleep 30");
    let pidfd = pidfd_open(child.pid(), PidfdFlags::NONBLOCK).unwrap();
    assert_eq!(
        waitid(&pidfd, WaitIdOptions::EXITED).unwrap_err(),
        Errno::AGAIN
    );
    send(&pidfd, SIGKILL).unwrap();
    // Still nonblocking: poll until the exit is waitable.
    let status = loop {
        match waitid(&pidfd, WaitIdOptions::EXITED) {
            Err(Errno::AGAIN) => std::thread::sleep(std::time::Duration::from_millis(1)),
            other => break other.unwrap().child_status().unwrap(),
        }
    };
    assert_eq!(status, Some(ChildStatus::Killed(SIGKILL)));
}

#[test]
fn stop_and_continue_are_reported() {
    let child = sh("exec sleep 30");
    let pidfd = pidfd_open(child.pid(), PidfdFlags::empty()).unwrap();
    send(&pidfd, SIGSTOP).unwrap();
    let info = waitid(&pidfd, WaitIdOptions::STOPPED).unwrap();
    assert_eq!(info.child_status(), Ok(Some(ChildStatus::Stopped(SIGSTOP))));
    send(&pidfd, SIGCONT).unwrap();
    let info = waitid(&pidfd, WaitIdOptions::CONTINUED).unwrap();
    assert_eq!(
        info.child_status(),
        Ok(Some(ChildStatus::Continued(SIGCONT)))
    );
    send(&pidfd, SIGKILL).unwrap();
    let info = waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
    assert_eq!(info.child_status(), Ok(Some(ChildStatus::Killed(SIGKILL))));
}

#[test]
fn waitid_fills_rusage() {
    let child = sh("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");
    let pidfd = pidfd_open(child.pid(), PidfdFlags::empty()).unwrap();
    // SAFETY: rusage is plain data; all-zero is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    usage.ru_maxrss = -1;
    let info = waitid_into(
        &pidfd,
        WaitIdOptions::EXITED,
        siginfo_t::zeroed(),
        Some(&mut usage),
    )
    .unwrap();
    assert_eq!(info.child_status(), Ok(Some(ChildStatus::Exited(0))));
    assert!(
        usage.ru_maxrss > 0,
        "rusage not written: maxrss {}",
        usage.ru_maxrss
    );
    #[allow(
        clippy::useless_conversion,
        reason = "time_t and suseconds_t are i32 on i686"
    )]
    let micros = |tv: libc::timeval| i64::from(tv.tv_sec) * 1_000_000 + i64::from(tv.tv_usec);
    let cpu_us = micros(usage.ru_utime) + micros(usage.ru_stime);
    if cpu_us == 0 && timeval_usec_gap(usage.ru_utime.tv_usec == 0 && usage.ru_stime.tv_usec == 0) {
        return;
    }
    assert!(cpu_us > 0, "a busy child used no CPU time?");
}

#[test]
fn pidfd_open_errors() {
    assert_eq!(
        pidfd_open(-1, PidfdFlags::empty()).unwrap_err(),
        Errno::INVAL
    );
    assert_eq!(
        pidfd_open(0, PidfdFlags::empty()).unwrap_err(),
        Errno::INVAL
    );
    // Above the kernel's PID_MAX_LIMIT (4 Mi): no such process can exist.
    assert_eq!(
        pidfd_open(i32::MAX, PidfdFlags::empty()).unwrap_err(),
        Errno::SRCH
    );
    let unknown = PidfdFlags::from_bits_retain(1 << 30);
    assert_eq!(pidfd_open(own_pid(), unknown).unwrap_err(), Errno::INVAL);
}

#[test]
fn pidfds_are_close_on_exec() {
    let pidfd = pidfd_open(own_pid(), PidfdFlags::empty()).unwrap();
    // SAFETY: F_GETFD on an fd we own.
    let flags = unsafe { libc::fcntl(pidfd.as_raw_fd(), libc::F_GETFD) };
    assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
}

#[test]
fn thread_pidfd_for_the_main_thread() {
    if pidfd_tests::emulator::pidfd_flags_gap() {
        return;
    }
    let result = pidfd_open(own_pid(), PidfdFlags::THREAD);
    if kernel::pidfd_thread() {
        let pidfd = result.unwrap();
        send(&pidfd, 0).unwrap();
    } else {
        assert_eq!(result.unwrap_err(), Errno::INVAL);
    }
}

#[test]
fn send_signal_flags() {
    let child = sh("exec sleep 30");
    let pidfd = pidfd_open(child.pid(), PidfdFlags::empty()).unwrap();
    // SAFETY: `pidfd` is borrowed for the call.
    let result = unsafe {
        syscalls::pidfd_send_signal(
            pidfd.as_raw_fd(),
            SIGKILL,
            None,
            PidfdSignalFlags::THREAD_GROUP,
        )
    };
    if kernel::pidfd_signal_flags() {
        result.unwrap();
    } else {
        assert_eq!(result, Err(Errno::INVAL));
        send(&pidfd, SIGKILL).unwrap();
    }
    let info = waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
    assert_eq!(info.child_status(), Ok(Some(ChildStatus::Killed(SIGKILL))));
    // SAFETY: as above; an unknown flag bit is refused.
    let bad = unsafe {
        syscalls::pidfd_send_signal(
            pidfd.as_raw_fd(),
            0,
            None,
            PidfdSignalFlags::from_bits_retain(1 << 20),
        )
    };
    assert_eq!(bad, Err(Errno::INVAL));
}

#[test]
fn send_signal_on_a_non_pidfd_is_ebadf() {
    let file = std::fs::File::open("/dev/null").unwrap();
    // SAFETY: `file` is borrowed for the call.
    let result = unsafe {
        syscalls::pidfd_send_signal(file.as_raw_fd(), 0, None, PidfdSignalFlags::empty())
    };
    assert_eq!(result, Err(Errno::BADF));
}

#[test]
fn getfd_duplicates_an_fd_of_the_target_process() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let own_pidfd = pidfd_open(own_pid(), PidfdFlags::empty()).unwrap();
    // SAFETY: both fds are borrowed for the call.
    let raw = unsafe { syscalls::pidfd_getfd(own_pidfd.as_raw_fd(), writer.as_raw_fd(), 0) };
    // SAFETY: pidfd_getfd created this fd for us.
    let copy = unsafe { own(raw.unwrap()) };
    assert_ne!(copy.as_raw_fd(), writer.as_raw_fd());
    drop(writer);
    // Writing through the copy reaches the same pipe.
    std::fs::File::from(copy).write_all(b"same file").unwrap();
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    assert_eq!(text, "same file");
    // An fd the target does not have.
    // SAFETY: as above.
    let missing = unsafe { syscalls::pidfd_getfd(own_pidfd.as_raw_fd(), 1 << 20, 0) };
    assert_eq!(missing, Err(Errno::BADF));
}

#[test]
fn clone3_returns_a_pidfd_for_a_fork_like_child() {
    let mut pidfd: i32 = -1;
    let mut args = clone_args {
        flags: CloneFlags::PIDFD.bits(),
        pidfd: (&raw mut pidfd) as u64,
        exit_signal: u64::try_from(SIGCHLD).unwrap(),
        ..clone_args::default()
    };
    // SAFETY: fork-like clone3; the child only calls `_exit`, which is async-signal-safe;
    // `args.pidfd` points to a live int.
    let result = unsafe { syscalls::clone3(&mut args, CLONE_ARGS_SIZE_VER0) };
    if gap_errno(&result, &[libc::ENOSYS], "clone3 is ENOSYS under qemu-user") {
        return;
    }
    exit_in_child_and_reap_in_parent(result.unwrap(), pidfd, 9);
}

/// After a fork-like clone returned `pid` (and maybe `pidfd`): the child exits with `code`,
/// the parent checks the pidfd came back and reaps the child through it.
fn exit_in_child_and_reap_in_parent(pid: i32, pidfd: i32, code: i32) {
    if pid == 0 {
        // SAFETY: `_exit` is async-signal-safe and never returns.
        unsafe { libc::_exit(code) };
    }
    assert!(pid > 0);
    assert!(pidfd >= 0, "CLONE_PIDFD did not return a pidfd");
    // SAFETY: the kernel created `pidfd` for us.
    let pidfd = unsafe { own(pidfd) };
    let info = waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
    assert_eq!(info.pid(), pid);
    assert_eq!(info.child_status(), Ok(Some(ChildStatus::Exited(code))));
}

#[test]
fn legacy_clone_returns_a_pidfd_through_parent_tid() {
    let mut pidfd: i32 = -1;
    let flags = CloneFlags::PIDFD.bits() | u64::try_from(SIGCHLD).unwrap();
    // SAFETY: fork-like clone; the child only calls `_exit`; `pidfd` is a live int.
    let result = unsafe { syscalls::clone(flags, &raw mut pidfd, std::ptr::null_mut()) };
    if cfg!(any(target_arch = "sparc", target_arch = "sparc64")) {
        // Refused without a syscall: raw clone returns the parent's PID in the child there.
        assert_eq!(result, Err(Errno::NOSYS));
        return;
    }
    let reason = "clone(CLONE_PIDFD) is EINVAL under qemu-user 7.2";
    if gap_errno(&result, &[libc::EINVAL], reason) {
        return;
    }
    exit_in_child_and_reap_in_parent(result.unwrap(), pidfd, 11);
}

#[test]
fn clone_wrappers_refuse_shared_memory() {
    let mut args = clone_args {
        flags: CloneFlags::VM.bits(),
        ..clone_args::default()
    };
    // SAFETY: refused before any syscall.
    let result = unsafe { syscalls::clone3(&mut args, CLONE_ARGS_SIZE_VER0) };
    assert_eq!(result, Err(Errno::INVAL));
    let mut args = clone_args {
        stack: 4096,
        ..clone_args::default()
    };
    // SAFETY: refused before any syscall.
    let result = unsafe { syscalls::clone3(&mut args, CLONE_ARGS_SIZE_VER0) };
    assert_eq!(result, Err(Errno::INVAL));
    let flags = CloneFlags::VM.bits() | u64::try_from(SIGCHLD).unwrap();
    // SAFETY: refused before any syscall.
    let result = unsafe { syscalls::clone(flags, std::ptr::null_mut(), std::ptr::null_mut()) };
    assert_eq!(result, Err(Errno::INVAL));
}

#[test]
fn process_madvise_on_own_memory() {
    let pidfd = pidfd_open(own_pid(), PidfdFlags::empty()).unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap();
    let len = 16 * page;
    // SAFETY: a fresh private anonymous mapping (page-aligned, as process_madvise requires).
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED);
    // SAFETY: `map` is `len` writable bytes.
    unsafe { map.cast::<u8>().write_bytes(1, len) };
    let iov = libc::iovec {
        iov_base: map,
        iov_len: len,
    };
    // SAFETY: `iov` is one valid iovec; MADV_COLD only deactivates pages (contents are kept).
    let advised = unsafe {
        syscalls::process_madvise(pidfd.as_raw_fd(), &raw const iov, 1, libc::MADV_COLD, 0)
    };
    if gap_errno(
        &advised,
        &[libc::ENOSYS],
        "process_madvise is ENOSYS under qemu-user",
    ) {
        // SAFETY: unmapping the mapping made above; nothing refers to it any more.
        assert_eq!(unsafe { libc::munmap(map, len) }, 0);
        return;
    }
    assert_eq!(advised, Ok(len));
    // SAFETY: `map` is `len` readable bytes, written above.
    let contents = unsafe { std::slice::from_raw_parts(map.cast::<u8>(), len) };
    assert!(contents.iter().all(|&b| b == 1));
    // SAFETY: as above; an unknown advice is refused.
    let bad = unsafe { syscalls::process_madvise(pidfd.as_raw_fd(), &raw const iov, 1, 12345, 0) };
    assert_eq!(bad, Err(Errno::INVAL));
    // SAFETY: unmapping the mapping made above; nothing refers to it any more.
    assert_eq!(unsafe { libc::munmap(map, len) }, 0);
}

#[test]
fn process_mrelease_needs_a_dying_process() {
    let child = sh("exec sleep 30");
    let pidfd = pidfd_open(child.pid(), PidfdFlags::empty()).unwrap();
    // SAFETY: `pidfd` is borrowed for the call.
    let live = unsafe { syscalls::process_mrelease(pidfd.as_raw_fd(), 0) };
    if gap_errno(
        &live,
        &[libc::ENOSYS],
        "process_mrelease is ENOSYS under qemu-user",
    ) {
        return;
    }
    assert_eq!(live, Err(Errno::INVAL));
    send(&pidfd, SIGKILL).unwrap();
    waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
    // SAFETY: as above.
    let gone = unsafe { syscalls::process_mrelease(pidfd.as_raw_fd(), 0) };
    assert_eq!(gone, Err(Errno::SRCH));
}

fn get_info(pidfd: &OwnedFd, mask: PidfdInfoMask) -> Result<pidfd_info, Errno> {
    let mut info = pidfd_info {
        mask: mask.bits(),
        ..pidfd_info::default()
    };
    // SAFETY: `pidfd` is borrowed for the call.
    unsafe { syscalls::pidfd_get_info(pidfd.as_raw_fd(), &mut info) }?;
    Ok(info)
}

#[test]
fn pidfd_get_info_reports_the_child() {
    let child = sh("exit 3");
    let pidfd = pidfd_open(child.pid(), PidfdFlags::empty()).unwrap();
    let live = get_info(&pidfd, PidfdInfoMask::PID | PidfdInfoMask::CREDS);
    if gap_errno(&live, &[libc::ENOSYS, libc::ENOTTY], IOCTL_GAP) {
        return;
    }
    if !kernel::pidfd_get_info() {
        assert_eq!(live.unwrap_err(), Errno::NOTTY);
        return;
    }
    let live = live.unwrap();
    let returned = PidfdInfoMask::from_bits_retain(live.mask);
    assert!(returned.contains(PidfdInfoMask::PID | PidfdInfoMask::CREDS));
    assert_eq!(live.pid, child.id());
    assert_eq!(live.tgid, child.id());
    assert_eq!(live.ppid, std::process::id());
    assert_eq!(live.ruid, uid());
    let waited = waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
    assert_eq!(waited.child_status(), Ok(Some(ChildStatus::Exited(3))));
    // After the reap: only PIDFD_INFO_EXIT (6.15+) still answers, with the wait status.
    let after = get_info(&pidfd, PidfdInfoMask::EXIT);
    if kernel::pidfd_info_exit() {
        let after = after.unwrap();
        assert!(PidfdInfoMask::from_bits_retain(after.mask).contains(PidfdInfoMask::EXIT));
        assert_eq!(
            ChildStatus::from_wait_status(after.exit_code),
            Some(ChildStatus::Exited(3))
        );
    } else {
        assert_eq!(after.unwrap_err(), Errno::SRCH);
    }
}

#[test]
fn pidfd_get_info_on_a_non_pidfd_fails_cleanly() {
    let file = std::fs::File::open("/dev/null").unwrap();
    let mut info = pidfd_info::default();
    // SAFETY: `file` is borrowed for the call; a non-pidfd rejects the request.
    let result = unsafe { syscalls::pidfd_get_info(file.as_raw_fd(), &mut info) };
    if gap_errno(&result, &[libc::ENOSYS], IOCTL_GAP) {
        return;
    }
    assert_eq!(result, Err(Errno::NOTTY));
}

#[test]
fn namespace_ioctl_opens_our_own_pid_namespace() {
    let pidfd = pidfd_open(own_pid(), PidfdFlags::empty()).unwrap();
    // SAFETY: `pidfd` is borrowed; we own the returned fd.
    let result = unsafe { syscalls::pidfd_get_namespace(pidfd.as_raw_fd(), PidfdNamespace::Pid) };
    if gap_errno(&result, &[libc::ENOSYS, libc::ENOTTY], IOCTL_GAP) {
        return;
    }
    if !kernel::pidfd_get_namespace() {
        assert_eq!(result, Err(Errno::NOTTY));
        return;
    }
    // SAFETY: the kernel created this fd for us.
    let ns = std::fs::File::from(unsafe { own(result.unwrap()) });
    let expected = std::fs::metadata("/proc/self/ns/pid").unwrap();
    use std::os::unix::fs::MetadataExt;
    let got = ns.metadata().unwrap();
    assert_eq!((got.dev(), got.ino()), (expected.dev(), expected.ino()));
}

static ON_STACK_CHILD_RAN: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// The child of `clone3_on_stack_runs_the_child_on_its_stack_with_shared_memory`.
unsafe extern "C" fn on_stack_child(arg: *mut std::ffi::c_void) -> ! {
    // A local on the child's own stack: its address must lie inside the stack we passed.
    let marker = 0_u8;
    let at = std::ptr::addr_of!(marker) as usize;
    let (low, high) = {
        // SAFETY: `arg` points to the (low, high) pair in the suspended parent's frame.
        let range = unsafe { &*arg.cast::<(usize, usize)>() };
        *range
    };
    let on_its_stack = (low..high).contains(&at);
    ON_STACK_CHILD_RAN.store(
        if on_its_stack { 1 } else { 2 },
        std::sync::atomic::Ordering::SeqCst,
    );
    // SAFETY: _exit never returns.
    unsafe { libc::_exit(7) }
}

/// `clone3_on_stack` with `args` that it refuses before making any syscall.
fn clone3_on_stack_refused(mut args: clone_args) -> Result<i32, Errno> {
    // SAFETY: refused before any syscall (no stack, or no implementation on this arch).
    unsafe {
        syscalls::clone3_on_stack(
            &mut args,
            CLONE_ARGS_SIZE_VER0,
            on_stack_child,
            std::ptr::null_mut(),
        )
    }
}

#[test]
fn clone3_on_stack_runs_the_child_on_its_stack_with_shared_memory() {
    if !syscalls::CLONE3_ON_STACK {
        // Other architectures: ENOSYS without a syscall, checked here.
        let args = clone_args {
            stack: 4096,
            stack_size: 4096,
            ..clone_args::default()
        };
        assert_eq!(clone3_on_stack_refused(args), Err(Errno::NOSYS));
        return;
    }
    let mut stack = vec![0_u128; 4096]; // 64 KiB, 16-byte aligned
    let low = stack.as_mut_ptr() as usize;
    let high = low + stack.len() * 16;
    let mut range = (low, high);
    let mut pidfd: i32 = -1;
    let mut args = clone_args {
        flags: (CloneFlags::VM | CloneFlags::VFORK | CloneFlags::PIDFD).bits(),
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        exit_signal: u64::try_from(SIGCHLD).unwrap(),
        stack: low as u64,
        stack_size: (high - low) as u64,
        ..clone_args::default()
    };
    // SAFETY: the child runs `on_stack_child` on `stack` (ours alone until it exits), only
    // stores to an atomic and _exits; CLONE_VFORK suspends us until then.
    let pid = unsafe {
        syscalls::clone3_on_stack(
            &mut args,
            CLONE_ARGS_SIZE_VER0,
            on_stack_child,
            std::ptr::addr_of_mut!(range).cast(),
        )
    }
    .unwrap();
    assert!(pid > 0);
    // Shared memory: the child's store is visible as soon as the vfork parent resumes.
    assert_eq!(
        ON_STACK_CHILD_RAN.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // SAFETY: the kernel wrote a fresh pidfd we own (CLONE_PIDFD).
    let pidfd = unsafe { own(pidfd) };
    let info = waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
    assert_eq!(info.child_status(), Ok(Some(ChildStatus::Exited(7))));
    drop(stack);

    // A missing stack is refused before any syscall.
    assert_eq!(
        clone3_on_stack_refused(clone_args::default()),
        Err(Errno::INVAL)
    );
}
