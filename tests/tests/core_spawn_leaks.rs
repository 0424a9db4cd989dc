#![allow(unsafe_code, reason = "waitpid(-1) to prove no child is left")]

//! 10 000 spawn/wait cycles (and failed spawns; 1 000 under an emulator) leave the fd count
//! unchanged and no zombies.
//! Alone in its binary so nothing else opens fds or starts children meanwhile.

use pidfd_core::Spawn;
use pidfd_tests::open_fd_count;

#[test]
fn ten_thousand_spawns_leak_nothing() {
    let mut ok = Spawn::new("/bin/true");
    let missing = Spawn::new("/nonexistent/program");
    ok.spawn().unwrap().wait().unwrap();
    let before = open_fd_count();
    for i in 0..pidfd_tests::emulator::iterations(10_000) {
        let status = ok.spawn().unwrap().wait().unwrap();
        assert_eq!(status.code(), Some(0), "spawn {i}");
        if i % 10 == 0 {
            assert!(missing.spawn().is_err());
        }
    }
    ok.arg("unused");
    assert_eq!(open_fd_count(), before, "fds leaked");
    // No zombies: there is no child left to wait for.
    let mut status = 0;
    // SAFETY: waitpid writes an int through a valid pointer.
    let pid = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) };
    assert_eq!(pid, -1, "a child was left behind");
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ECHILD)
    );
}
