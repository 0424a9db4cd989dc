//! A child traced by another process: its pidfd turns readable when it exits, but we (its
//! parent) may reap it only once the tracer has waited for it or detached. Waiting must
//! not spin meanwhile (`wait` blocks in `waitid(WNOWAIT)`; `wait_timeout` backs off), and
//! must return the status once the tracer lets go.
//!
//! Needs ptrace permission over our own child from a sibling process (root, or a kernel
//! without Yama restrictions); a counted skip otherwise.

#![allow(
    unsafe_code,
    reason = "ptrace, fork and the thread CPU clock are raw calls; each block says why"
)]

use std::io::{Read, Write};
use std::time::Duration;

use pidfd_core::{Mode, Spawn, Stdio};
use pidfd_tests::emulator;

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a writable timespec.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    assert_eq!(ret, 0);
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap(),
        u32::try_from(ts.tv_nsec).unwrap(),
    )
}

#[test]
fn waiting_for_a_traced_zombie_does_not_spin_and_ends_when_the_tracer_lets_go() {
    if emulator::gap("ptrace is not emulated by qemu-user") {
        return;
    }
    let (stdin_read, stdin_write) = std::io::pipe().unwrap();
    let child = Spawn::new("sh")
        .args(["-c", "read line; exit 5"])
        .stdin(Stdio::from(stdin_read.try_clone().unwrap()))
        .spawn()
        .unwrap();
    drop(stdin_read);
    if child.mode() == Mode::Pid {
        emulator::skip("traced child: Spawn gave pid mode here (no pidfd to poll)");
        drop(stdin_write);
        child.wait().unwrap();
        return;
    }
    let child_pid = i32::try_from(child.pid()).unwrap();
    // The tracer: a forked process that seizes the child, says so, then waits for the word
    // to exit (which detaches it) without ever waiting for the child.
    let (mut attached_read, mut attached_write) = std::io::pipe().unwrap();
    let (mut go_read, mut go_write) = std::io::pipe().unwrap();
    // SAFETY: the forked tracer makes raw syscalls only (ptrace, read, write, _exit).
    let tracer = match unsafe { pidfd_core::fork() }.unwrap() {
        pidfd_core::Fork::Child => {
            // The fork copied our end of the child's stdin and of the "go" pipe: close
            // them, or the child never sees EOF, nor this tracer when the test fails. (Raw
            // closes: the parent's code below still owns the values.)
            for fd in [&stdin_write, &go_write] {
                // SAFETY: closes this process's copy of the fd; nothing here uses it after.
                unsafe { libc::close(std::os::fd::AsRawFd::as_raw_fd(fd)) };
            }
            // SAFETY: PTRACE_SEIZE takes a pid and no memory of ours.
            let seized = unsafe { libc::ptrace(libc::PTRACE_SEIZE, child_pid, 0_usize, 0_usize) };
            let byte = if seized == 0 { b'1' } else { b'0' };
            let _ = attached_write.write_all(&[byte]);
            let _ = go_read.read(&mut [0_u8; 1]);
            // SAFETY: `_exit` never returns; exiting detaches the tracee.
            unsafe { libc::_exit(0) }
        }
        pidfd_core::Fork::Parent(tracer) => tracer,
    };
    drop(attached_write);
    drop(go_read);
    let mut attached = [0_u8; 1];
    attached_read.read_exact(&mut attached).unwrap();
    if attached[0] != b'1' {
        emulator::skip("traced child: PTRACE_SEIZE refused (no ptrace permission)");
        drop(go_write);
        drop(stdin_write);
        tracer.wait().unwrap();
        child.wait().unwrap();
        return;
    }
    // The child exits; traced by the tracer, it stays a zombie only the tracer may reap now.
    drop(stdin_write);
    let before = thread_cpu();
    let waited = child.wait_timeout(Duration::from_millis(300)).unwrap();
    let used = thread_cpu() - before;
    assert_eq!(waited, None, "reapable while still traced?");
    assert!(
        used < Duration::from_millis(100),
        "wait_timeout spun on the readable pidfd of a traced zombie: {used:?} of CPU in 300 ms"
    );
    // The same through a plain PidFd.
    let pidfd = child.try_clone_pidfd().unwrap();
    let before = thread_cpu();
    let waited = pidfd.wait_timeout(Duration::from_millis(300)).unwrap();
    let used = thread_cpu() - before;
    assert_eq!(
        waited, None,
        "reapable through the PidFd while still traced?"
    );
    assert!(
        used < Duration::from_millis(100),
        "PidFd::wait_timeout spun on a traced zombie: {used:?} of CPU in 300 ms"
    );
    drop(pidfd);
    // A blocking wait in another thread returns once the tracer exits (detaching).
    std::thread::scope(|scope| {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let waiter = scope.spawn(move || {
            // SAFETY: gettid takes no arguments.
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            let before = thread_cpu();
            let status = child.wait();
            (status, thread_cpu() - before)
        });
        // Let the waiter get into its wait: until its state is "S" (blocked in the kernel),
        // for at most about 2 s of looking (a spinning waiter never gets there; its CPU
        // time then fails the check below).
        let tid = tid_rx.recv().unwrap();
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            let stat =
                std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
            if state == Some("S") {
                break;
            }
            std::thread::yield_now();
        }
        go_write.write_all(b"g").unwrap();
        let (status, used) = waiter.join().unwrap();
        assert_eq!(status.unwrap().code(), Some(5));
        assert!(
            used < Duration::from_millis(100),
            "wait spun on the traced zombie: {used:?} of CPU"
        );
    });
    assert!(tracer.wait().unwrap().success());
}
