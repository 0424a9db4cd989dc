//! No fd leaks: the fd count of this test process is unchanged after 2 000 open/wait cycles.
//!
//! Alone in its own test binary, so no other test opens fds while it counts.

use pidfd_core::PidFd;
use pidfd_tests::{open_fd_count, sh};

#[test]
fn fd_count_unchanged_after_2000_open_wait_cycles() {
    // Warm up whatever std opens lazily (e.g. the spawn machinery).
    PidFd::open(sh("exit 0").id()).unwrap().wait().unwrap();
    let status_kept = pidfd_tests::emulator::pidfd_info_exit_works();
    let before = open_fd_count();
    for i in 0..2000 {
        let child = sh("exit 0");
        let pidfd = PidFd::open(child.id()).unwrap();
        assert_eq!(pidfd.wait().unwrap().code(), Some(0), "cycle {i}");
        // Error paths must not leak either — and must be the errors they are.
        let error = PidFd::open(i32::MAX as u32).unwrap_err();
        assert_eq!(
            error.raw_os_error(),
            Some(libc::ESRCH),
            "cycle {i}: no such PID"
        );
        let error = PidFd::open(0).unwrap_err();
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::InvalidInput,
            "cycle {i}: PID 0"
        );
        let error = pidfd.send_signal(0).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ESRCH), "cycle {i}: reaped");
        // Waited already: the kept status (Linux 6.15+), else ECHILD.
        match pidfd.wait() {
            Ok(status) => assert!(status_kept && status.code() == Some(0), "cycle {i}"),
            Err(error) => {
                assert!(!status_kept, "cycle {i}: {error}");
                assert_eq!(error.raw_os_error(), Some(libc::ECHILD), "cycle {i}");
            }
        }
    }
    assert_eq!(open_fd_count(), before);
}
