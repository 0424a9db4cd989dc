//! Close-versus-use (Go issue #67641): one thread releases a `Process` while others signal
//! through it and a third keeps opening and closing fds, so that a stale fd number would soon
//! name another process. Nothing but the intended process may ever be signalled, and the fd
//! count returns to its baseline. Alone in its binary so the fd count is not disturbed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pidfd_core::{Mode, PidFd, Process};
use pidfd_sys::signal::SIGUSR1;
use pidfd_tests::{open_fd_count, sh};

const MODES: [Mode; 2] = [Mode::PidFd, Mode::Pid];

#[test]
fn release_racing_signals_never_hits_another_process() {
    for mode in MODES {
        let baseline = open_fd_count();
        // The decoy exits 99 if it ever gets SIGUSR1; the target traps it harmlessly.
        let decoy = sh("trap 'exit 99' USR1; while :; do sleep 0.05; done");
        let decoy_pidfd = PidFd::open(decoy.id()).unwrap();
        for _ in 0..20 {
            let target = sh("trap '' USR1; exec sleep 30");
            std::thread::sleep(Duration::from_millis(20)); // let the trap be set
            let process = Arc::new(Process::with_mode(target.id(), mode).unwrap());
            let stop = Arc::new(AtomicBool::new(false));
            let signallers: Vec<_> = (0..3)
                .map(|_| {
                    let (process, stop) = (process.clone(), stop.clone());
                    std::thread::spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            match process.signal(SIGUSR1) {
                                Ok(()) => {}
                                Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EBADF)),
                            }
                        }
                    })
                })
                .collect();
            // Churn fd numbers: open and close pidfds for the decoy, so a stale fd number
            // would soon name the decoy.
            let churn = {
                let stop = stop.clone();
                let decoy = decoy.id();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        drop(PidFd::open(decoy).unwrap());
                    }
                })
            };
            std::thread::sleep(Duration::from_millis(5));
            process.release();
            std::thread::sleep(Duration::from_millis(5));
            stop.store(true, Ordering::Relaxed);
            for thread in signallers {
                thread.join().unwrap();
            }
            churn.join().unwrap();
            let cleanup = Process::with_mode(target.id(), mode).unwrap();
            cleanup.kill().unwrap();
            cleanup.wait().unwrap();
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
