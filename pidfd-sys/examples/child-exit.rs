//! Start a command with a pidfd obtained race-free from `clone(CLONE_PIDFD)`, show what the
//! kernel says about it, wait for it through the pidfd and print how it ended.
//!
//! ```text
//! cargo run -p pidfd-sys --example child-exit                 # runs: sh -c 'sleep 0.2; exit 3'
//! cargo run -p pidfd-sys --example child-exit -- false
//! cargo run -p pidfd-sys --example child-exit -- sh -c 'kill -TERM $$'
//! ```
//!
//! This is the raw layer at work; `pidfd-core` will wrap the same steps in a safe API.

#![allow(unsafe_code, reason = "demonstrates the raw syscall layer")]
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line demo"
)]

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;

use pidfd_sys::child_status::ChildStatus;
use pidfd_sys::flags::{CloneFlags, P_PIDFD, WaitIdOptions};
use pidfd_sys::pidfs::PidfdInfoMask;
use pidfd_sys::{Errno, pidfd_info, siginfo_t, signal, syscalls};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("child-exit: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        args = ["sh", "-c", "sleep 0.2; exit 3"].map(String::from).to_vec();
    }
    // Everything the child needs is prepared before the clone: after it, the child may only
    // make async-signal-safe calls (no allocation).
    let argv: Vec<CString> = args
        .iter()
        .map(|arg| CString::new(arg.as_str()).map_err(|_| format!("NUL byte in {arg:?}")))
        .collect::<Result<_, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|arg| arg.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());

    let mut pidfd: i32 = -1;
    let flags = CloneFlags::PIDFD.bits() | u64::try_from(signal::SIGCHLD).unwrap_or(17);
    // SAFETY: fork-like clone. The child only calls execvp and _exit (async-signal-safe)
    // on memory prepared above; `pidfd` is a live int for the kernel to write.
    let pid = unsafe { syscalls::clone(flags, &raw mut pidfd, std::ptr::null_mut()) }
        .map_err(|errno| format!("clone(CLONE_PIDFD) failed: {errno}"))?;
    if pid == 0 {
        // SAFETY: argv_ptrs is a NULL-terminated array of valid C strings.
        unsafe { libc::execvp(argv_ptrs[0], argv_ptrs.as_ptr()) };
        // SAFETY: _exit is async-signal-safe; 127 is the shell's "command not found".
        unsafe { libc::_exit(127) };
    }
    if pidfd < 0 {
        return Err("the kernel ignored CLONE_PIDFD (Linux < 5.2)".into());
    }
    // SAFETY: the kernel created `pidfd` for us; nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    println!(
        "started {:?} as pid {pid}, pidfd {}",
        args,
        pidfd.as_raw_fd()
    );

    let mut info = pidfd_info {
        mask: PidfdInfoMask::PID.bits(),
        ..pidfd_info::default()
    };
    // SAFETY: `pidfd` is borrowed for the call.
    match unsafe { syscalls::pidfd_get_info(pidfd.as_raw_fd(), &mut info) } {
        Ok(()) => println!(
            "PIDFD_GET_INFO: pid {} tgid {} ppid {} uid {} cgroup {}",
            info.pid, info.tgid, info.ppid, info.ruid, info.cgroupid
        ),
        Err(errno) => println!("PIDFD_GET_INFO unavailable ({errno}; needs Linux 6.13)"),
    }

    let mut siginfo = siginfo_t::zeroed();
    // SAFETY: rusage is plain data; all-zero is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let fd = u32::try_from(pidfd.as_raw_fd()).map_err(|_| "negative fd")?;
    Errno::retry_on_intr(|| {
        // SAFETY: `pidfd` is borrowed for the call.
        unsafe {
            syscalls::waitid(
                P_PIDFD,
                fd,
                &mut siginfo,
                WaitIdOptions::EXITED,
                Some(&mut usage),
            )
        }
    })
    .map_err(|errno| format!("waitid(P_PIDFD) failed: {errno}"))?;

    let status = siginfo.child_status().map_err(|error| error.to_string())?;
    println!(
        "waitid: si_pid {} si_uid {} si_code {} si_status {} -> {status:?}",
        siginfo.pid(),
        siginfo.uid(),
        siginfo.code(),
        siginfo.status()
    );
    println!(
        "rusage: user {}.{:06}s, system {}.{:06}s, max RSS {} KiB",
        usage.ru_utime.tv_sec,
        usage.ru_utime.tv_usec,
        usage.ru_stime.tv_sec,
        usage.ru_stime.tv_usec,
        usage.ru_maxrss
    );
    // SAFETY: `pidfd` is borrowed; the child is reaped, so this must fail with ESRCH.
    let after = unsafe {
        syscalls::pidfd_send_signal(pidfd.as_raw_fd(), signal::SIGKILL, None, Default::default())
    };
    println!("pidfd_send_signal after the reap: {after:?} (never another process)");

    Ok(match status {
        Some(ChildStatus::Exited(code)) => {
            println!("exited with code {code}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            println!("ended by a signal: {other:?}");
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    })
}
