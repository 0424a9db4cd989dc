//! `pidfd_core::Process` in both modes against the real kernel.

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pidfd_core::{Mode, PidFd, Process};
use pidfd_sys::signal::{SIGKILL, SIGTERM};
use pidfd_tests::sh;

const MODES: [Mode; 2] = [Mode::PidFd, Mode::Pid];

fn errno(error: &std::io::Error) -> Option<i32> {
    error.raw_os_error()
}

#[test]
fn find_picks_the_mode_the_probe_allows() {
    let child = sh("exit 0");
    let process = Process::find(child.id()).unwrap();
    // pidfd mode wherever the kernel allows it (not with PIDFD_DISABLE=1, an old kernel or
    // a seccomp filter refusing pidfds).
    let expected = if pidfd_core::probe::features().unwrap().pidfd_mode() {
        Mode::PidFd
    } else {
        Mode::Pid
    };
    assert_eq!(process.mode(), expected);
    assert_eq!(process.pid(), child.id());
    assert_eq!(process.wait().unwrap().code(), Some(0));
}

#[test]
fn wait_is_idempotent_and_signal_after_reap_is_esrch() {
    for mode in MODES {
        let child = sh("exit 17");
        let process = Process::with_mode(child.id(), mode).unwrap();
        assert_eq!(process.mode(), mode);
        let first = process.wait().unwrap();
        assert_eq!(first.code(), Some(17), "{mode:?}");
        assert_eq!(process.wait().unwrap(), first, "{mode:?}: cached status");
        assert_eq!(process.try_wait().unwrap(), Some(first));
        assert_eq!(process.wait_timeout(Duration::ZERO).unwrap(), Some(first));
        for signal in [0, SIGTERM, SIGKILL] {
            assert_eq!(
                errno(&process.send_signal(signal).unwrap_err()),
                Some(libc::ESRCH),
                "{mode:?}"
            );
        }
    }
}

#[test]
fn release_makes_everything_ebadf() {
    for mode in MODES {
        let child = sh("exec sleep 30");
        let process = Process::with_mode(child.id(), mode).unwrap();
        process.release();
        process.release(); // idempotent
        assert_eq!(
            errno(&process.send_signal(0).unwrap_err()),
            Some(libc::EBADF),
            "{mode:?}"
        );
        assert_eq!(errno(&process.wait().unwrap_err()), Some(libc::EBADF));
        assert_eq!(errno(&process.try_wait().unwrap_err()), Some(libc::EBADF));
        // The process itself is untouched; reap it through a fresh handle.
        let again = Process::with_mode(child.id(), mode).unwrap();
        again.kill().unwrap();
        assert_eq!(again.wait().unwrap().code(), None);
    }
}

#[test]
fn wait_timeout_and_try_wait_on_a_running_child() {
    for mode in MODES {
        let child = sh("exec sleep 30");
        let process = Process::with_mode(child.id(), mode).unwrap();
        assert_eq!(process.try_wait().unwrap(), None);
        let started = std::time::Instant::now();
        assert_eq!(
            process.wait_timeout(Duration::from_millis(100)).unwrap(),
            None
        );
        assert!(started.elapsed() >= Duration::from_millis(100));
        process.send_signal(0).unwrap();
        process.kill().unwrap();
        let status = process
            .wait_timeout(Duration::from_secs(10))
            .unwrap()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(SIGKILL), "{mode:?}");
    }
}

#[test]
fn pid_mode_wait_for_a_non_child_is_echild() {
    let process = Process::with_mode(std::process::id(), Mode::Pid).unwrap();
    assert_eq!(errno(&process.try_wait().unwrap_err()), Some(libc::ECHILD));
    assert_eq!(errno(&process.wait().unwrap_err()), Some(libc::ECHILD));
    process.send_signal(0).unwrap();
}

#[test]
fn missing_processes_and_bad_pids() {
    for mode in MODES {
        let error = Process::with_mode(i32::MAX as u32, mode).unwrap_err();
        assert_eq!(errno(&error), Some(libc::ESRCH), "{mode:?}");
        assert_eq!(
            Process::with_mode(0, mode).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}

#[test]
fn with_pidfd_borrows_the_fd_while_the_handle_lives() {
    let child = sh("exec sleep 30");
    let process = Process::with_mode(child.id(), Mode::PidFd).unwrap();
    let pid = process.with_pidfd(PidFd::pid).unwrap().unwrap();
    assert_eq!(pid, child.id());
    process.kill().unwrap();
    process.wait().unwrap();
    // Reaped: the fd is closed, so there is nothing to borrow.
    assert_eq!(
        errno(&process.with_pidfd(|_| ()).unwrap_err()),
        Some(libc::ESRCH)
    );
    let child = sh("exit 0");
    let pid_mode = Process::with_mode(child.id(), Mode::Pid).unwrap();
    assert_eq!(
        pid_mode.with_pidfd(|_| ()).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    pid_mode.wait().unwrap();
}

#[test]
fn eight_threads_share_one_handle_while_one_waits() {
    for mode in MODES {
        let child = sh("sleep 0.3; exit 23");
        let process = Arc::new(Process::with_mode(child.id(), mode).unwrap());
        let done = Arc::new(AtomicBool::new(false));
        let waiter = {
            let process = process.clone();
            std::thread::spawn(move || process.wait().unwrap())
        };
        // Each worker polls (try_wait, a short wait_timeout, or signals only) until the
        // waiter has returned, then looks once more. Every worker checks that a signal
        // succeeds only before anyone has seen the status (never after: ESRCH), that every
        // status it sees is the one status, and, at the end, that the handle reports it.
        let workers: Vec<_> = (0..8)
            .map(|i| {
                let (process, done) = (process.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    let mut signals_after_esrch = 0;
                    let mut esrch_seen = false;
                    let mut rounds = 0_u32;
                    loop {
                        let finished = done.load(Ordering::SeqCst);
                        let status = match i % 3 {
                            0 => process.try_wait().unwrap(),
                            1 => process.wait_timeout(Duration::from_millis(2)).unwrap(),
                            _ => None,
                        };
                        match process.send_signal(0) {
                            Ok(()) if esrch_seen || !seen.is_empty() => signals_after_esrch += 1,
                            Ok(()) => {}
                            Err(error) => {
                                assert_eq!(error.raw_os_error(), Some(libc::ESRCH));
                                esrch_seen = true;
                            }
                        }
                        seen.extend(status);
                        rounds += 1;
                        if finished {
                            break;
                        }
                        std::thread::yield_now();
                    }
                    (
                        seen,
                        esrch_seen,
                        signals_after_esrch,
                        rounds,
                        process.try_wait().unwrap(),
                    )
                })
            })
            .collect();
        let status = waiter.join().unwrap();
        done.store(true, Ordering::SeqCst);
        assert_eq!(status.code(), Some(23), "{mode:?}");
        for (i, worker) in workers.into_iter().enumerate() {
            let (seen, esrch_seen, signals_after, rounds, last) = worker.join().unwrap();
            assert!(rounds > 1, "{mode:?}: worker {i} ran during the wait");
            for seen in &seen {
                assert_eq!(*seen, status, "{mode:?}: every thread sees the one status");
            }
            // The last round came after the reap: the status was there, signals refused.
            assert!(
                esrch_seen,
                "{mode:?}: worker {i} never saw ESRCH after the reap"
            );
            assert_eq!(
                signals_after, 0,
                "{mode:?}: worker {i} signalled after the reap"
            );
            assert_eq!(last, Some(status), "{mode:?}: worker {i}");
            if i % 3 != 2 {
                assert!(
                    !seen.is_empty(),
                    "{mode:?}: worker {i} never saw the status"
                );
            }
        }
        assert_eq!(process.wait().unwrap(), status);
    }
}
