//! Loom models of the real [`Process`] (`--cfg pidfd_loom`): the code of `mod.rs` and
//! `shared_fd.rs`, with loom's atomics and locks (through [`crate::sync`]) and with this
//! model kernel in place of `os.rs`. Each model call is one atomic step of a kernel that
//! checks, on every syscall, the invariants the handle promises:
//!
//! * no syscall on the pidfd after it was closed (a closed number may be reused), and exactly
//!   one close;
//! * in pid mode, no `kill` and no `waitid` on the PID after the child was reaped (the PID
//!   may belong to another process by then);
//! * the child is reaped once; every wait returns that one status.
//!
//! The child exits when it receives a signal other than 0, or when a model says so. Blocking
//! waits spin with `loom::thread::yield_now` until it has.
//!
//! Run: `RUSTFLAGS="--cfg pidfd_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p pidfd-core --lib
//! --release loom` (see `.ci/run` for the bound used there).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use loom::sync::Mutex;

use super::Reap;
use crate::PidFd;
use crate::exit_status::Reaped;

/// The model pidfd's number (never a real fd: nothing here makes a syscall).
pub(super) const FD: RawFd = 1_000_000;
/// The model child's PID.
pub(super) const PID: u32 = 4242;
/// What the child's exit status is: killed by `SIGKILL` (or exit code 3 when it exits).
const KILLED: i32 = 9;

#[derive(Debug, Default)]
pub(super) struct Kernel {
    fd_closed: bool,
    closes: usize,
    exited: Option<ExitStatus>,
    reaps: usize,
}

loom::lazy_static! {
    static ref KERNEL: Mutex<Kernel> = Mutex::new(Kernel::default());
}

fn kernel<T>(f: impl FnOnce(&mut Kernel) -> T) -> T {
    f(&mut KERNEL.lock().unwrap())
}

fn use_fd(kernel: &Kernel, pidfd: &PidFd) {
    assert_eq!(pidfd.as_raw_fd(), FD);
    assert!(!kernel.fd_closed, "a syscall on the pidfd after its close");
}

fn deliver(kernel: &mut Kernel, signal: i32) {
    if signal != 0 && kernel.exited.is_none() {
        kernel.exited = Some(ExitStatus::from_raw(signal));
    }
}

fn reap(kernel: &mut Kernel) -> Option<Reap> {
    let status = kernel.exited?;
    kernel.reaps += 1;
    assert_eq!(kernel.reaps, 1, "the child was reaped twice");
    Some(Reap {
        reaped: Reaped::Status(status),
        usage: None,
    })
}

fn exited_or_yield(nohang: bool) -> bool {
    loop {
        if kernel(|kernel| kernel.exited.is_some()) || nohang {
            return kernel(|kernel| kernel.exited.is_some());
        }
        loom::thread::yield_now();
    }
}

pub(super) fn send_signal(
    pidfd: &PidFd,
    signal: i32,
    _flags: crate::SignalFlags,
) -> io::Result<()> {
    kernel(|kernel| {
        use_fd(kernel, pidfd);
        if kernel.reaps > 0 {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        deliver(kernel, signal);
        Ok(())
    })
}

pub(super) fn try_reap(pidfd: &PidFd) -> io::Result<Option<Reap>> {
    kernel(|kernel| {
        use_fd(kernel, pidfd);
        Ok(reap(kernel))
    })
}

pub(super) fn wait_for_exit(pidfd: &PidFd, timeout: Option<Duration>) -> io::Result<bool> {
    kernel(|kernel| use_fd(kernel, pidfd));
    Ok(exited_or_yield(timeout.is_some()))
}

pub(super) fn kill(pid: i32, signal: i32) -> io::Result<()> {
    assert_eq!(u32::try_from(pid).ok(), Some(PID));
    kernel(|kernel| {
        assert_eq!(
            kernel.reaps, 0,
            "kill after the reap: the PID may be another's"
        );
        deliver(kernel, signal);
        Ok(())
    })
}

pub(super) fn pid_reap(pid: u32) -> io::Result<Option<Reap>> {
    assert_eq!(pid, PID);
    Ok(kernel(reap))
}

pub(super) fn pid_exited(pid: u32, nohang: bool) -> io::Result<bool> {
    assert_eq!(pid, PID);
    kernel(|kernel| assert_eq!(kernel.reaps, 0, "waitid on the PID after the reap"));
    Ok(exited_or_yield(nohang))
}

pub(super) fn back_off(_timeout: Duration) {
    loom::thread::yield_now();
}

pub(super) fn close(fd: RawFd) {
    assert_eq!(fd, FD);
    kernel(|kernel| {
        assert!(!kernel.fd_closed, "the pidfd was closed twice");
        kernel.fd_closed = true;
        kernel.closes += 1;
    });
}

/// The model child exits on its own with code 3.
pub(super) fn child_exits() {
    kernel(|kernel| {
        if kernel.exited.is_none() {
            kernel.exited = Some(ExitStatus::from_raw(3 << 8));
        }
    });
}

/// At the end of a model: the fd closed exactly once (pidfd mode), reaped at most once.
pub(super) fn check_end(pidfd_mode: bool) -> Kernel {
    let kernel = kernel(std::mem::take);
    if pidfd_mode {
        assert_eq!(kernel.closes, 1, "the pidfd must be closed exactly once");
    }
    assert!(kernel.reaps <= 1);
    kernel
}

#[cfg(test)]
mod loom_tests {
    use loom::sync::Arc;

    use super::*;
    use crate::process::{Handle, Mode, Process, SharedFd};

    fn model_process(mode: Mode) -> Process {
        match mode {
            Mode::Pid => Process::pid_mode(PID),
            Mode::PidFd => Process {
                pid: PID,
                handle: Handle::PidFd(SharedFd::model(FD)),
                status: crate::sync::RwLock::new(None),
            },
        }
    }

    /// Every `Ok` status any thread saw is the one status the kernel reported.
    fn same_status(seen: &[io::Result<Option<ExitStatus>>], reaped: Option<ExitStatus>) {
        for result in seen {
            if let Ok(Some(status)) = result {
                assert_eq!(Some(*status), reaped, "a wait returned another status");
            }
        }
    }

    fn status_code(status: ExitStatus) -> Option<i32> {
        status.code().or(status.signal())
    }

    /// signal / kill / wait / try_wait / release-by-drop on three threads.
    fn signal_wait_try_wait_release(mode: Mode) {
        loom::model(move || {
            let process = Arc::new(model_process(mode));
            let killer = {
                let process = process.clone();
                loom::thread::spawn(move || {
                    let alive = process.send_signal(0);
                    let killed = process.kill();
                    (alive, killed)
                })
            };
            let waiter = {
                let process = process.clone();
                loom::thread::spawn(move || process.wait().map(Some))
            };
            let polled = process.try_wait();
            let (alive, killed) = killer.join().unwrap();
            let waited = waiter.join().unwrap();
            // The killer ran before any reap (nothing else makes the child exit), so the
            // wait got SIGKILL's status.
            alive.unwrap();
            killed.unwrap();
            let waited = waited.unwrap().unwrap();
            assert_eq!(status_code(waited), Some(KILLED));
            // After the reap: the cached status again, and ESRCH, never a syscall.
            assert_eq!(process.wait().unwrap(), waited);
            assert_eq!(
                process.send_signal(0).unwrap_err().raw_os_error(),
                Some(libc::ESRCH)
            );
            drop(process);
            let kernel = check_end(mode == Mode::PidFd);
            same_status(&[polled, Ok(Some(waited))], kernel.exited);
            assert_eq!(kernel.reaps, 1);
        });
    }

    #[test]
    fn loom_process_pidfd_mode_signal_wait_try_wait() {
        signal_wait_try_wait_release(Mode::PidFd);
    }

    #[test]
    fn loom_process_pid_mode_signal_wait_try_wait() {
        signal_wait_try_wait_release(Mode::Pid);
    }

    /// Two waiters and a releaser while the child exits on its own: each wait returns the
    /// status or EBADF; never a syscall after the close, never a kill or waitid after the
    /// reap; the fd closed once.
    fn waiters_and_release(mode: Mode) {
        loom::model(move || {
            let process = Arc::new(model_process(mode));
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let process = process.clone();
                    loom::thread::spawn(move || process.try_wait())
                })
                .collect();
            child_exits();
            process.release();
            let seen: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
            for result in &seen {
                match result {
                    Ok(_) => {}
                    Err(error) => assert_eq!(error.raw_os_error(), Some(libc::EBADF)),
                }
            }
            assert_eq!(
                process.send_signal(0).unwrap_err().raw_os_error(),
                Some(libc::EBADF),
                "released"
            );
            drop(process);
            let kernel = check_end(mode == Mode::PidFd);
            same_status(&seen, kernel.exited);
        });
    }

    #[test]
    fn loom_process_pidfd_mode_waiters_and_release() {
        waiters_and_release(Mode::PidFd);
    }

    #[test]
    fn loom_process_pid_mode_waiters_and_release() {
        waiters_and_release(Mode::Pid);
    }

    /// A signaller racing the reaping wait in pid mode: the signal is either delivered before
    /// the reap or refused with ESRCH — the model kernel fails the run on a kill after it.
    fn signal_races_the_reap(mode: Mode) {
        loom::model(move || {
            let process = Arc::new(model_process(mode));
            child_exits();
            let signaller = {
                let process = process.clone();
                loom::thread::spawn(move || process.send_signal(15))
            };
            let status = process.wait().unwrap();
            match signaller.join().unwrap() {
                Ok(()) => {}
                Err(error) => assert_eq!(error.raw_os_error(), Some(libc::ESRCH)),
            }
            assert_eq!(status.code(), Some(3), "the child's own exit, reaped once");
            drop(process);
            check_end(mode == Mode::PidFd);
        });
    }

    #[test]
    fn loom_process_pid_mode_no_signal_after_the_reap() {
        signal_races_the_reap(Mode::Pid);
    }

    #[test]
    fn loom_process_pidfd_mode_no_signal_after_the_reap() {
        signal_races_the_reap(Mode::PidFd);
    }
}
