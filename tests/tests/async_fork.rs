//! The async `Child`'s background reaper across `fork(2)`: a forked child has no copy of its
//! parent's reaper thread, so it must start its own — else what it hands off (a child killed
//! on drop, an orphan) is never reaped and stays a zombie. One test in its own binary: the
//! fork happens while no other test thread runs.

#![allow(unsafe_code, reason = "fork, waitid and _exit around the forked child")]

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use pidfd_core::tokio::SpawnExt;
use pidfd_core::{Spawn, Stdio};
use pidfd_sys::flags::{P_PID, WaitIdOptions};
use pidfd_sys::{Errno, siginfo_t, syscalls};

/// How long a dropped child may take to be reaped by the background thread.
const PATIENCE: Duration = Duration::from_secs(30);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Whether our child `pid` is gone (reaped by someone: `ECHILD` from a `WNOWAIT` peek),
/// waiting up to [`PATIENCE`].
fn reaped_in_time(pid: u32) -> bool {
    let deadline = Instant::now() + PATIENCE;
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    while Instant::now() < deadline {
        let mut info = siginfo_t::zeroed();
        // SAFETY: `info` is a writable siginfo_t; WNOWAIT leaves any zombie in place.
        let peeked = Errno::retry_on_intr(|| unsafe {
            syscalls::waitid(P_PID, pid, &mut info, options, None)
        });
        if peeked == Err(Errno::CHILD) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Drops, on a fresh runtime, one child killed on drop and one orphan (left running, then
/// let exit); returns whether both were reaped by the background thread.
fn both_dropped_children_reaped() -> bool {
    runtime().block_on(async {
        let killed = Spawn::new("sleep")
            .arg("1000")
            .kill_on_drop(true)
            .spawn_async()
            .unwrap();
        let killed_pid = killed.pid();
        drop(killed);
        // The orphan exits when this pipe's write end closes, after the drop.
        let (read_end, write_end) = std::io::pipe().unwrap();
        let orphan = Spawn::new("sh")
            .args(["-c", "read x; exit 5"])
            .stdin(Stdio::from(OwnedFd::from(read_end)))
            .spawn_async()
            .unwrap();
        let orphan_pid = orphan.pid();
        drop(orphan);
        drop(write_end);
        reaped_in_time(killed_pid) && reaped_in_time(orphan_pid)
    })
}

#[test]
fn a_forked_child_reaps_what_it_drops() {
    // The parent's background thread exists before the fork.
    assert!(both_dropped_children_reaped(), "the parent's drops");
    if pidfd_tests::emulator::gap(
        "qemu-user: fork(2) of a guest with other threads running aborts in the child \
         (qemu's rcu and plugin assertions)",
    ) {
        return;
    }
    // SAFETY: libc's fork runs the atfork handlers (malloc is usable in the child); no
    // other thread of this binary holds a lock now but the reaper thread, asleep in poll(2).
    // The child ends in `_exit`, never returning into the test harness.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            let code = match std::panic::catch_unwind(both_dropped_children_reaped) {
                Ok(true) => 0,
                Ok(false) => 1,
                Err(_) => 2,
            };
            // SAFETY: ends the forked child without running the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        pid => {
            let process = pidfd_core::Process::find(u32::try_from(pid).unwrap()).unwrap();
            let code = process.wait().unwrap().code();
            assert_eq!(
                code,
                Some(0),
                "the forked child's drops (1: a zombie left, 2: a panic)"
            );
        }
    }
}
