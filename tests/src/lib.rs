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
pub mod interrupt;
pub mod kernel;
pub mod pid_steering;
pub mod reference;
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

impl From<Child> for TestChild {
    fn from(child: Child) -> TestChild {
        TestChild(child)
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

/// A process that is not our child — started by an `sh` that has exited since — and that
/// waits, blocked on a pipe, until [`Orphan::release`]: until then its PID certainly names
/// it (nobody can reap a process that has not exited), so a pidfd opened by that PID is
/// its own. Released, it runs `script`.
#[derive(Debug)]
pub struct Orphan {
    /// Its PID.
    pub pid: u32,
    release: Option<std::io::PipeWriter>,
}

impl Orphan {
    /// Starts the orphan; it will run `sh -c script` once released.
    pub fn start(script: &str) -> Orphan {
        use std::io::BufRead;
        let (reader, writer) = std::io::pipe().expect("pipe");
        // The background job's stdin is /dev/null (POSIX, without job control), so it reads
        // the pipe through fd 3; its stdout goes to /dev/null so that only `echo $!` reaches
        // our pipe.
        let quoted = script.replace('\'', r"'\''");
        let mut parent = Command::new("sh")
            .args([
                "-c",
                &format!("exec 3<&0; (read _ <&3; exec sh -c '{quoted}') >/dev/null & echo $!"),
            ])
            .stdin(reader)
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start sh");
        let mut line = String::new();
        std::io::BufReader::new(parent.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the orphan's PID");
        assert!(parent.wait().expect("wait for sh").success());
        Orphan {
            pid: line.trim().parse().expect("a PID"),
            release: Some(writer),
        }
    }

    /// Lets it run its script (end of file on its pipe).
    pub fn release(&mut self) {
        self.release.take();
    }
}

/// Whether the crate's probe allows pidfd mode here (`false` on old kernels, under a
/// seccomp filter refusing pidfds, with `PIDFD_DISABLE=1` in the environment).
pub fn pidfd_mode_allowed() -> bool {
    pidfd_core::probe::features().is_ok_and(|features| features.pidfd_mode())
}

/// For tests that need pidfds from the crate: `true`, or — where the probe refuses them
/// (e.g. `PIDFD_DISABLE=1` in the environment) — a recorded skip and `false`.
pub fn pidfds_or_skip() -> bool {
    if pidfd_mode_allowed() {
        return true;
    }
    emulator::skip("the crate's probe refuses pidfds here (PIDFD_DISABLE=1, seccomp, old kernel)");
    false
}

/// The mode `Spawn` gives a child: pidfd mode where the crate's probe allows it and the
/// emulator, if any, can (see [`emulator::spawn_gets_pidfd`]); pid mode otherwise.
pub fn expected_spawn_mode() -> pidfd_core::Mode {
    if emulator::spawn_gets_pidfd() && pidfd_mode_allowed() {
        pidfd_core::Mode::PidFd
    } else {
        pidfd_core::Mode::Pid
    }
}

/// `sh -c script` through `pidfd_core::Spawn`, as a pidfd-mode process. Where Spawn falls
/// back to pid mode (qemu-user, which refuses every CLONE_PIDFD flavour; `PIDFD_DISABLE=1`)
/// the still unreaped child is taken over with `pidfd_open` (which qemu supports, and which
/// the environment variable does not affect). (`Option` for the callers' sake: always
/// `Some`.)
pub fn spawn_sh(script: &str) -> Option<pidfd_core::Process> {
    let process = pidfd_core::Spawn::new("sh")
        .args(["-c", script])
        .spawn()
        .expect("spawn sh");
    if process.mode() == pidfd_core::Mode::Pid {
        assert_eq!(
            expected_spawn_mode(),
            pidfd_core::Mode::Pid,
            "Spawn gave a pid-mode process where pidfd mode was expected"
        );
        let pid = process.pid();
        // The child is ours and not reaped (a pid-mode Process reaps only when waited on),
        // so the PID still names it.
        process.release();
        return Some(
            pidfd_core::Process::with_mode(pid, pidfd_core::Mode::PidFd)
                .expect("pidfd_open on our child"),
        );
    }
    Some(process.into_process())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
#[allow(
    clippy::useless_conversion,
    reason = "rlim_t is 32-bit on 32-bit targets"
)]
pub fn raise_nofile() -> u64 {
    // SAFETY: rlimit is plain data; all-zero is valid.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `limit` is a live, writable rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
    assert_eq!(rc, 0, "getrlimit");
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: raising the soft limit up to the hard limit is always allowed.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
        assert_eq!(rc, 0, "setrlimit");
    }
    u64::from(limit.rlim_cur)
}

/// Lowers `RLIMIT_NOFILE` to 64 and opens `/dev/null` until no fd is left; returns the files
/// (drop some to free fds). For re-exec'd scenario processes only (it changes the process).
pub fn fill_fd_table() -> Vec<std::fs::File> {
    let limit = libc::rlimit {
        rlim_cur: 64,
        rlim_max: 64,
    };
    // SAFETY: setrlimit reads a valid rlimit.
    let ret = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
    assert_eq!(ret, 0);
    let mut hogs = Vec::new();
    while let Ok(file) = std::fs::File::open("/dev/null") {
        hogs.push(file);
    }
    hogs
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

/// Blocks until our child `pid` has exited, without reaping it (`waitid(P_PID, WEXITED |
/// WNOWAIT)`): the synchronization for "it has exited already" without a sleep.
pub fn await_exit_without_reaping(pid: u32) -> Result<(), Errno> {
    let mut info = siginfo_t::zeroed();
    Errno::retry_on_intr(|| {
        // SAFETY: `info` is a writable siginfo_t; WNOWAIT leaves the zombie in place.
        unsafe {
            syscalls::waitid(
                pidfd_sys::flags::P_PID,
                pid,
                &mut info,
                WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
                None,
            )
        }
    })
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
