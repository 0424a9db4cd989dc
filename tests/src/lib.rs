//! Shared helpers for the end-to-end tests: real child processes, owned pidfds, kernel
//! version checks.
//!
//! Nothing here mocks the kernel; every helper makes a real syscall.

#![allow(
    unsafe_code,
    reason = "tests call the raw pidfd-sys wrappers; each block says why"
)]

pub mod cgroup;
pub mod emulator;
pub mod pid_steering;
pub mod scenario;
pub mod seccomp;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};

use pidfd_sys::flags::{P_PIDFD, PidfdFlags, WaitIdOptions};
use pidfd_sys::{Errno, siginfo_t, syscalls};

/// A real child process started for a test; reaped by the test through its pidfd, or
/// killed and reaped on drop if the test did not get that far (a failed assertion).
#[derive(Debug)]
pub struct TestChild(Child);

impl TestChild {
    /// Its PID as the kernel's `pid_t`.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.0.id()).expect("pid fits pid_t")
    }

    /// Its PID as std reports it.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// `Child::try_wait` (to check that someone else already reaped it: `ECHILD`).
    pub fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.0.try_wait()
    }
}

impl Drop for TestChild {
    fn drop(&mut self) {
        // `Ok(None)`: not reaped yet, so the PID is still ours and cannot have been reused;
        // killing by PID is safe. Reaped children (the normal case) give ECHILD.
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `sh -c script` with no stdio, as a real child of this process.
pub fn sh(script: &str) -> TestChild {
    let child = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start sh");
    TestChild(child)
}

/// This process's PID.
pub fn own_pid() -> i32 {
    i32::try_from(std::process::id()).expect("pid fits pid_t")
}

/// `pidfd_open(pid, flags)` as an [`OwnedFd`].
pub fn pidfd_open(pid: i32, flags: PidfdFlags) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open creates a new fd; we take sole ownership of it right here.
    let raw = unsafe { syscalls::pidfd_open(pid, flags)? };
    // SAFETY: `raw` is a freshly created, open fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Wraps a raw fd returned by a pidfd-sys call that creates one.
///
/// # Safety
///
/// `raw` must be an open fd that nothing else owns.
pub unsafe fn own(raw: i32) -> OwnedFd {
    // SAFETY: guaranteed by the caller.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// `waitid(P_PIDFD, pidfd, ..., options)` into a zeroed `siginfo_t`.
pub fn waitid(pidfd: &OwnedFd, options: WaitIdOptions) -> Result<siginfo_t, Errno> {
    waitid_into(pidfd, options, siginfo_t::zeroed(), None)
}

/// `waitid(P_PIDFD, ...)` into a caller-prepared `siginfo_t` (e.g. poisoned), with an
/// optional `rusage`; retries on `EINTR`.
pub fn waitid_into(
    pidfd: &OwnedFd,
    options: WaitIdOptions,
    mut info: siginfo_t,
    mut rusage: Option<&mut libc::rusage>,
) -> Result<siginfo_t, Errno> {
    let fd = u32::try_from(pidfd.as_raw_fd()).expect("fds are non-negative");
    Errno::retry_on_intr(|| {
        // SAFETY: `pidfd` is borrowed for the duration of the call.
        unsafe { syscalls::waitid(P_PIDFD, fd, &mut info, options, rusage.as_deref_mut()) }
    })?;
    Ok(info)
}

/// The running kernel's (major, minor) version, from `uname(2)`.
pub fn kernel_version() -> (u32, u32) {
    // SAFETY: `utsname` is plain data; all-zero is a valid value.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is a valid, writable utsname.
    let ret = unsafe { libc::uname(&raw mut name) };
    assert_eq!(ret, 0, "uname failed");
    let release: String = name
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| char::from(u8::try_from(c).unwrap_or(b'?')))
        .collect();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

/// Whether the running kernel is at least `major.minor`.
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    kernel_version() >= (major, minor)
}

/// The number of open fds of this process (entries of `/proc/self/fd`, minus the one the
/// listing itself uses).
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
        - 1
}

/// A fresh, empty directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// Creates it; `tag` makes the name recognisable.
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("pidfd-test-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// This process's real user and group IDs.
pub fn real_ids() -> (u32, u32) {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    // SAFETY: getgid has no preconditions and cannot fail.
    let gid = unsafe { libc::getgid() };
    (uid, gid)
}

/// Plain `kill(pid, signal)` by number — what the library exists to avoid; tests use it to
/// prove that a PID really names some (other) process.
pub fn naive_kill(pid: u32, signal: i32) -> std::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .filter(|&pid| pid > 0)
        .ok_or(std::io::ErrorKind::InvalidInput)?;
    // SAFETY: kill takes integers only; pid > 0 so it never addresses a process group.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

unsafe extern "C" {
    /// POSIX `siginterrupt(3)` (glibc and musl export it; the libc crate does not bind it).
    fn siginterrupt(signal: libc::c_int, flag: libc::c_int) -> libc::c_int;
}

/// Installs `handler` for `signal` without `SA_RESTART`, so blocking syscalls it interrupts
/// fail with `EINTR`.
///
/// Through `signal(3)` and `siginterrupt(3)`, which take no struct: libc 0.2.191's
/// `struct sigaction` has the wrong layout on mips64 glibc (see `pidfd_sys::upstream`).
pub fn install_interrupting_handler(signal: i32, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: the caller's handler is a plain `extern "C" fn(c_int)`; tests only pass
    // async-signal-safe ones (atomics).
    let previous = unsafe { libc::signal(signal, handler as libc::sighandler_t) };
    assert_ne!(previous, libc::SIG_ERR, "signal({signal})");
    // SAFETY: integers only.
    let rc = unsafe { siginterrupt(signal, 1) };
    assert_eq!(rc, 0, "siginterrupt({signal})");
}
