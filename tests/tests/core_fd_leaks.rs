//! No fd leaks: the fd count of this test process is unchanged after 2 000 open/wait cycles.
//!
//! Alone in its own test binary, so no other test opens fds while it counts.

use pidfd_core::PidFd;
use pidfd_tests::{open_fd_count, sh};

#[test]
fn fd_count_unchanged_after_2000_open_wait_cycles() {
    // Warm up whatever std opens lazily (e.g. the spawn machinery).
    PidFd::open(sh("exit 0").id()).unwrap().wait().unwrap();
    let before = open_fd_count();
    for i in 0..2000 {
        let child = sh("exit 0");
        let pidfd = PidFd::open(child.id()).unwrap();
        assert_eq!(pidfd.wait().unwrap().code(), Some(0), "cycle {i}");
        // Error paths must not leak either.
        assert!(PidFd::open(i32::MAX as u32).is_err());
        assert!(pidfd.send_signal(0).is_err());
    }
    assert_eq!(open_fd_count(), before);
}
