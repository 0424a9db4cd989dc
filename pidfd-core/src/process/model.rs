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
    /// Blocking calls on the pidfd in progress: a close meanwhile would be a use after close.
    fd_in_flight: usize,
    /// Blocking `waitid`s on the PID in progress: a reap meanwhile frees the PID under them.
    pid_in_flight: usize,
    exited: Option<ExitStatus>,
    reaps: usize,
}

loom::lazy_static! {
    static ref KERNEL: Mutex<Kernel> = Mutex::new(Kernel::default());
}

fn kernel<T>(f: impl FnOnce(&mut Kernel) -> T) -> T {
    // A failed check panics with the lock held; the unwinding handle still closes its fd
    // through here, which must not turn into a second panic (an abort with no report).
    f(&mut KERNEL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner))
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
    assert_eq!(
        kernel.pid_in_flight, 0,
        "reaped while another thread waits on the PID"
    );
    kernel.reaps += 1;
    assert_eq!(kernel.reaps, 1, "the child was reaped twice");
    Some(Reap {
        reaped: Reaped::Status(status),
        usage: None,
    })
}

/// Whether the child exited; unless `nohang`, yields until it has. `in_flight` counts the
/// call as in progress meanwhile, so that a close or reap during it is caught.
fn exited_or_yield(nohang: bool, in_flight: fn(&mut Kernel) -> &mut usize) -> bool {
    kernel(|kernel| *in_flight(kernel) += 1);
    let exited = loop {
        let exited = kernel(|kernel| kernel.exited.is_some());
        if exited || nohang {
            break exited;
        }
        loom::thread::yield_now();
    };
    kernel(|kernel| *in_flight(kernel) -= 1);
    exited
}

fn fd_in_flight(kernel: &mut Kernel) -> &mut usize {
    &mut kernel.fd_in_flight
}

fn pid_in_flight(kernel: &mut Kernel) -> &mut usize {
    &mut kernel.pid_in_flight
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
    Ok(exited_or_yield(timeout.is_some(), fd_in_flight))
}

pub(super) fn wait_reapable(pidfd: &PidFd) -> io::Result<bool> {
    kernel(|kernel| use_fd(kernel, pidfd));
    if kernel(|kernel| kernel.reaps > 0) {
        return Ok(false); // ECHILD: reaped by another thread already
    }
    Ok(exited_or_yield(false, fd_in_flight))
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
    Ok(exited_or_yield(nohang, pid_in_flight))
}

pub(super) fn back_off(_timeout: Duration) {
    loom::thread::yield_now();
}

pub(super) fn close(fd: RawFd) {
    assert_eq!(fd, FD);
    kernel(|kernel| {
        assert!(!kernel.fd_closed, "the pidfd was closed twice");
        assert_eq!(kernel.fd_in_flight, 0, "closed while a call blocks on it");
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
            Mode::Pid => Process::pid_mode(PID, true),
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
            assert_eq!(process.try_wait().unwrap(), Some(waited));
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

    /// The child has exited before anyone looks: two racing `try_wait`s both see its status
    /// (one reaps, the other finds it cached — or finds the handle done between its check
    /// and its reference, the ESRCH path, which must still answer with the status).
    fn racing_try_waits_after_the_exit(mode: Mode) {
        loom::model(move || {
            child_exits();
            let process = Arc::new(model_process(mode));
            let other = {
                let process = process.clone();
                loom::thread::spawn(move || process.try_wait())
            };
            let mine = process.try_wait().unwrap();
            let theirs = other.join().unwrap().unwrap();
            assert_eq!(mine.and_then(status_code), Some(3));
            assert_eq!(theirs, mine, "both see the one status");
            drop(process);
            assert_eq!(check_end(mode == Mode::PidFd).reaps, 1);
        });
    }

    #[test]
    fn loom_process_pidfd_mode_racing_try_waits_after_the_exit() {
        racing_try_waits_after_the_exit(Mode::PidFd);
    }

    #[test]
    fn loom_process_pid_mode_racing_try_waits_after_the_exit() {
        racing_try_waits_after_the_exit(Mode::Pid);
    }

    /// A blocking `wait` racing `release` while the child exits on its own: the wait returns
    /// the status or `EBADF`; the fd is never closed under the blocked call.
    fn blocking_wait_races_release(mode: Mode) {
        loom::model(move || {
            let process = Arc::new(model_process(mode));
            let waiter = {
                let process = process.clone();
                loom::thread::spawn(move || process.wait())
            };
            let exiter = loom::thread::spawn(child_exits);
            process.release();
            exiter.join().unwrap();
            match waiter.join().unwrap() {
                Ok(status) => assert_eq!(status.code(), Some(3)),
                Err(error) => assert_eq!(error.raw_os_error(), Some(libc::EBADF)),
            }
            drop(process);
            check_end(mode == Mode::PidFd);
        });
    }

    #[test]
    fn loom_process_pidfd_mode_blocking_wait_races_release() {
        blocking_wait_races_release(Mode::PidFd);
    }

    #[test]
    fn loom_process_pid_mode_blocking_wait_races_release() {
        blocking_wait_races_release(Mode::Pid);
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
