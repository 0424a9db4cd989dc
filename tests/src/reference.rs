//! Helpers for `tests/tests/core_reference.rs` and `tests/tests/core_reference_ns.rs`, the
//! scenarios taken from the kernel selftests, LTP, glibc and std: an interactive re-exec'd
//! helper process, raw reads of `/proc`, fd flags and pipes, `siginfo_t` bytes built from
//! the layout table, and a child in user+PID namespaces of its own.

#![allow(
    unsafe_code,
    reason = "raw poll, fcntl and clone3 as the reference suites use them; each block says why"
)]

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use pidfd_core::PidFd;
use pidfd_sys::abi::NATIVE;
use pidfd_sys::flags::CloneFlags;
use pidfd_sys::{Errno, clone_args, syscalls};

/// A copy of this test binary running one scenario (named in `env_var`, entered through the
/// `scenario_child` test), with its stdin and stdout piped to the test: the test reads what
/// it says line by line ([`Helper::expect`]) and ends it by closing its stdin
/// ([`Helper::close_stdin`]). A watchdog kills it (through a pidfd, so never another
/// process) if it is still running after 60 s, so that a broken scenario fails the test
/// instead of hanging it. Killed and reaped on drop if the test did not reap it.
#[derive(Debug)]
pub struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Helper {
    /// Starts scenario `scenario`; `None` under an emulator (a recorded gap): there the
    /// helper would run through the emulator's runner, whose PID is not the helper's.
    pub fn start_or_gap(env_var: &str, scenario: &str) -> Option<Helper> {
        if crate::emulator::gap(
            "helper processes run through the emulator's runner (its PID is not theirs)",
        ) {
            return None;
        }
        Some(Self::start(env_var, scenario))
    }

    /// Starts scenario `scenario`.
    pub fn start(env_var: &str, scenario: &str) -> Helper {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .args([
                "--ignored",
                "--exact",
                crate::scenario::DEFAULT_ENTRY,
                "--nocapture",
                "--test-threads=1",
            ])
            .env(env_var, scenario)
            .env_remove(pidfd_core::probe::DISABLE_ENV)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot re-execute the test binary");
        // Not reaped yet: the PID names our child.
        if let Ok(watchdog) = PidFd::open(child.id()) {
            std::thread::spawn(move || {
                if let Ok(false) = watchdog.wait_for_exit(Some(Duration::from_secs(60))) {
                    let _ = watchdog.kill();
                }
            });
        }
        Helper {
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().expect("piped")),
            child,
        }
    }

    /// Its PID.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Reads its output up to the line `scenario:key=value` and returns the value.
    ///
    /// # Panics
    ///
    /// At end of file (the helper failed or exited without saying it).
    pub fn expect(&mut self, key: &str) -> String {
        let marker = format!("scenario:{key}=");
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).expect("read the helper");
            assert!(n > 0, "helper ended before saying {key}:\n{seen}");
            if let Some((_, value)) = line.split_once(&marker) {
                return value.trim_end().to_owned();
            }
            seen.push_str(&line);
        }
    }

    /// Sends a line to its stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to the helper");
    }

    /// Closes its stdin (end of file).
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// std's `Child::try_wait` on it (`ECHILD` once reaped through a pidfd).
    pub fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.stdin.take();
        // `Ok(None)`: not reaped, so the PID is still ours.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The state letter of thread `tid` of process `pid` (`/proc/<pid>/task/<tid>/stat`), or
/// `None` when the thread is gone.
pub fn thread_state(pid: u32, tid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    // "tid (comm) S ...": comm may contain anything, so look after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

/// The raw fdinfo text of one of our fds.
pub fn fdinfo(fd: &impl AsRawFd) -> String {
    std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).expect("fdinfo")
}

/// The values of the `key:` line of an fdinfo text (tab-separated), if present.
pub fn fdinfo_field(text: &str, key: &str) -> Option<Vec<i64>> {
    let prefix = format!("{key}:");
    let line = text.lines().find_map(|line| line.strip_prefix(&prefix))?;
    Some(
        line.split_whitespace()
            .map(|n| n.parse().expect("a number in fdinfo"))
            .collect(),
    )
}

/// `poll(fd, POLLIN, timeout_ms)`: the `revents`, 0 on timeout. Retries `EINTR`.
pub fn poll_in(fd: &impl AsRawFd, timeout_ms: i32) -> i16 {
    loop {
        let mut pollfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for a borrowed fd.
        let ready = unsafe { libc::poll(&raw mut pollfd, 1, timeout_ms) };
        if ready >= 0 {
            return pollfd.revents;
        }
        assert_eq!(Errno::last_os_error(), Errno::INTR, "poll");
    }
}

/// The calling thread's TID (`gettid`).
pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    u32::try_from(tid).expect("a TID")
}

/// `fcntl(fd, command)` for `F_GETFD` or `F_GETFL`: the fd's flags or its file's status
/// flags.
pub fn fd_flags(fd: &impl AsRawFd, command: libc::c_int) -> libc::c_int {
    // SAFETY: F_GETFD/F_GETFL only read the flags of a borrowed fd.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), command) };
    assert!(flags >= 0, "fcntl: {}", std::io::Error::last_os_error());
    flags
}

/// `fcntl(fd, F_SETFL, flags)`: sets the status flags of the fd's file.
pub fn set_fl(fd: &impl AsRawFd, flags: libc::c_int) {
    // SAFETY: F_SETFL on a borrowed fd changes only its status flags.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) };
    assert_eq!(rc, 0, "F_SETFL: {}", std::io::Error::last_os_error());
}

/// A pipe as two owned fds, both close-on-exec.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    (OwnedFd::from(reader), OwnedFd::from(writer))
}

/// A `siginfo_t` for `rt_sigqueueinfo`/`pidfd_send_signal`: `si_signo`, `si_code` and the
/// `_rt` members `si_pid`, `si_uid`, `si_value.sival_int`, at the offsets of this ABI's
/// layout table (`_rt` and `_sigchld` share the first three slots: pid, uid, and the
/// `sigval`/`si_status` slot).
pub fn queue_siginfo(signo: i32, code: i32, pid: i32, uid: u32, value: i32) -> [u8; 128] {
    let layout = NATIVE.siginfo;
    let mut bytes = [0_u8; 128];
    let mut put = |offset: usize, field: [u8; 4]| {
        bytes[offset..offset + 4].copy_from_slice(&field);
    };
    put(layout.signo, signo.to_ne_bytes());
    put(layout.code, code.to_ne_bytes());
    put(layout.pid, pid.to_ne_bytes());
    put(layout.uid, uid.to_ne_bytes());
    put(layout.status, value.to_ne_bytes());
    bytes
}

/// The fields [`queue_siginfo`] writes, read back from raw `siginfo_t` bytes: (signo, code,
/// pid, uid, value).
pub fn read_queue_siginfo(bytes: &[u8; 128]) -> (i32, i32, i32, u32, i32) {
    let layout = NATIVE.siginfo;
    let at = |offset: usize| {
        let mut field = [0_u8; 4];
        field.copy_from_slice(&bytes[offset..offset + 4]);
        field
    };
    (
        i32::from_ne_bytes(at(layout.signo)),
        i32::from_ne_bytes(at(layout.code)),
        i32::from_ne_bytes(at(layout.pid)),
        u32::from_ne_bytes(at(layout.uid)),
        i32::from_ne_bytes(at(layout.status)),
    )
}

/// A child in a new user and PID namespace of its own (PID 1 there), started with
/// `clone3(CLONE_NEWUSER | CLONE_NEWPID | CLONE_PIDFD)`; it waits for end of file on a pipe
/// and exits 0. Dropping it (the pipe's write end) lets it exit; the test reaps it through
/// [`NsChild::pidfd`].
#[derive(Debug)]
pub struct NsChild {
    /// Its pidfd, from the clone itself.
    pub pidfd: OwnedFd,
    /// Its PID in our namespace.
    pub pid: u32,
    hold: OwnedFd,
}

impl NsChild {
    /// Starts it; `Err` with the clone3 errno when the kernel, an emulator, a seccomp filter
    /// or a sysctl refuses (no clone3, no unprivileged user namespaces).
    pub fn start() -> Result<NsChild, Errno> {
        let (reader, writer) = std::io::pipe()
            .map_err(|error| Errno::from_io_error(&error).unwrap_or(Errno::MFILE))?;
        let (hold_r, hold_w) = (OwnedFd::from(reader), OwnedFd::from(writer));
        let mut pidfd: libc::c_int = -1;
        let mut args = clone_args {
            flags: (CloneFlags::NEWUSER | CloneFlags::NEWPID | CloneFlags::PIDFD).bits(),
            pidfd: std::ptr::from_mut(&mut pidfd) as u64,
            exit_signal: u64::try_from(pidfd_sys::signal::SIGCHLD).expect("positive"),
            ..clone_args::default()
        };
        let (read_fd, write_fd) = (hold_r.as_raw_fd(), hold_w.as_raw_fd());
        // SAFETY: fork-like clone3 (no CLONE_VM); the child below only makes
        // async-signal-safe calls (close, read, _exit) and never returns.
        let pid = unsafe { syscalls::clone3(&mut args, pidfd_sys::clone::CLONE_ARGS_SIZE_VER0)? };
        if pid == 0 {
            // The child: PID 1 of its own namespace. Wait for the parent to let go.
            // SAFETY: closing our copy of the write end, so that EOF can come.
            unsafe { libc::close(write_fd) };
            let mut byte = 0_u8;
            // SAFETY: a one-byte read into a live local; EINTR just ends the wait too.
            while unsafe { libc::read(read_fd, (&raw mut byte).cast(), 1) } > 0 {}
            // SAFETY: _exit is async-signal-safe and ends the child here.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: the kernel stored a fresh pidfd that nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        Ok(NsChild {
            pidfd,
            pid: u32::try_from(pid).expect("a positive PID"),
            hold: hold_w,
        })
    }

    /// Lets it exit; returns its pidfd (to reap it).
    pub fn release(self) -> OwnedFd {
        drop(self.hold);
        self.pidfd
    }
}
