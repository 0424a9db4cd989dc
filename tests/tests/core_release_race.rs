//! Close-versus-use (Go issue #67641): one thread releases a `Process` while others signal
//! through it and a third keeps opening and closing fds, so that a stale fd number would soon
//! name another process. Nothing but the intended process may ever be signalled, and the fd
//! count returns to its baseline. Alone in its binary so the fd count is not disturbed.

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pidfd_core::{Mode, PidFd, Process};
use pidfd_sys::signal::SIGUSR1;
use pidfd_tests::{TestChild, open_fd_count};

const MODES: [Mode; 2] = [Mode::PidFd, Mode::Pid];

/// `sh -c script` that prints a line once its `trap` is set, then runs on; returns once the
/// line arrived (no sleep: the trap is in place when this returns).
fn trapped(script: &str) -> TestChild {
    let mut child = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    TestChild::from(child)
}

#[test]
fn release_racing_signals_never_hits_another_process() {
    for mode in MODES {
        let baseline = open_fd_count();
        // The decoy exits 99 if it ever gets SIGUSR1; the target ignores it (an ignored
        // signal stays ignored across exec).
        let decoy = trapped("trap 'exit 99' USR1; echo ready; while :; do sleep 0.05; done");
        let decoy_pidfd = PidFd::open(decoy.id()).unwrap();
        let mut reused = 0;
        for _ in 0..20 {
            let target = trapped("trap '' USR1; echo ready; exec sleep 30");
            let process = Arc::new(Process::with_mode(target.id(), mode).unwrap());
            // The fd number the handle uses (pidfd mode): a stale use of it after the
            // release would reach whatever gets that number next.
            let number = process.with_pidfd(|pidfd| pidfd.as_raw_fd()).ok();
            let stop = Arc::new(AtomicBool::new(false));
            let released = Arc::new(AtomicBool::new(false));
            let signallers: Vec<_> = (0..3)
                .map(|_| {
                    let (process, stop) = (process.clone(), stop.clone());
                    std::thread::spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            match process.send_signal(SIGUSR1) {
                                Ok(()) => {}
                                Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EBADF)),
                            }
                        }
                    })
                })
                .collect();
            // Churn fd numbers: open and close pidfds for the decoy, so a stale fd number
            // would soon name the decoy. Counts how often, after the release, a decoy pidfd
            // got the handle's old number while the signallers were still running: the
            // window the test is about.
            let hit = Arc::new(AtomicBool::new(false));
            let churn = {
                let (stop, released, hit) = (stop.clone(), released.clone(), hit.clone());
                let decoy = decoy.id();
                std::thread::spawn(move || {
                    let mut hits = 0_u32;
                    // Decoy pidfds that landed below the handle's number are kept, filling
                    // the holes there: the lowest free number is then the handle's, once
                    // it is closed.
                    let mut fillers = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let pidfd = PidFd::open(decoy).unwrap();
                        let raw = pidfd.as_raw_fd();
                        if released.load(Ordering::SeqCst) && Some(raw) == number {
                            hits += 1;
                            hit.store(true, Ordering::SeqCst);
                        }
                        if number.is_some_and(|number| raw < number) {
                            fillers.push(pidfd);
                        }
                    }
                    hits
                })
            };
            // Pacing, not synchronization: let the signallers run before the release.
            std::thread::sleep(Duration::from_millis(5));
            process.release();
            released.store(true, Ordering::SeqCst);
            // Keep the signallers going until the old number has named a decoy pidfd (in
            // pidfd mode; at most 2 s), then a little longer.
            let deadline = Instant::now() + Duration::from_secs(2);
            while number.is_some() && !hit.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(2));
            stop.store(true, Ordering::Relaxed);
            for thread in signallers {
                thread.join().unwrap();
            }
            if churn.join().unwrap() > 0 {
                reused += 1;
            }
            let cleanup = Process::with_mode(target.id(), mode).unwrap();
            cleanup.kill().unwrap();
            cleanup.wait().unwrap();
        }
        eprintln!("{mode:?}: old fd number reused during the race in {reused} of 20 rounds");
        if mode == Mode::PidFd {
            // The window was really hit, every round: the old fd number named a decoy pidfd
            // while threads were still signalling through the released handle.
            assert_eq!(
                reused, 20,
                "the fd number was not reused: the race was not tested"
            );
        }
        // The decoy never got SIGUSR1.
        assert_eq!(
            decoy_pidfd.try_wait().unwrap(),
            None,
            "{mode:?}: decoy was signalled"
        );
        decoy_pidfd.kill().unwrap();
        decoy_pidfd.wait().unwrap();
        drop(decoy_pidfd);
        drop(decoy);
        assert_eq!(open_fd_count(), baseline, "{mode:?}: fds back to baseline");
    }
}
