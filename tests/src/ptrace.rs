//! A tracer for tests of traced children: [`seize`] forks a process that `PTRACE_SEIZE`s our
//! child and never waits for it (so its zombie stays unreapable by us until the tracer lets
//! go), and [`await_zombie`] waits for the child to become that zombie.

#![allow(
    unsafe_code,
    reason = "the raw-clone fork, ptrace, close and _exit of the tracer; each block says why"
)]

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use pidfd_core::{Fork, Process};

/// How long [`await_zombie`] looks.
const PATIENCE: Duration = Duration::from_secs(30);

/// A forked tracer that seizes our child `pid` and never waits for it: `Ok` with the
/// tracer and the pipe end that lets it go (it exits, detaching, once that is written to or
/// closed); `Err(reason)` where `PTRACE_SEIZE` is refused (the tracer is reaped then). The
/// tracer closes its copies of `close` (our ends of pipes the tracee waits on, which it must
/// not keep open).
///
/// # Panics
///
/// If a pipe or the fork cannot be made.
pub fn seize(pid: u32, close: &[BorrowedFd<'_>]) -> Result<(Process, std::io::PipeWriter), String> {
    let pid = i32::try_from(pid).unwrap();
    let (mut attached_read, mut attached_write) = std::io::pipe().unwrap();
    let (mut go_read, go_write) = std::io::pipe().unwrap();
    let raw: Vec<i32> = close
        .iter()
        .map(AsRawFd::as_raw_fd)
        .chain([go_write.as_raw_fd()])
        .collect();
    // SAFETY: the forked tracer makes raw syscalls only (close, ptrace, read, write, _exit).
    let tracer = match unsafe { pidfd_core::fork() }.unwrap() {
        Fork::Child => {
            for &fd in &raw {
                // SAFETY: closes this process's copy of the fd; the code below never uses
                // it (the parent's values own theirs).
                unsafe { libc::close(fd) };
            }
            // SAFETY: PTRACE_SEIZE takes a pid and no memory of ours.
            let seized = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0_usize, 0_usize) };
            let byte = if seized == 0 { b'1' } else { b'0' };
            let _ = attached_write.write_all(&[byte]);
            let _ = go_read.read(&mut [0_u8; 1]);
            // SAFETY: `_exit` never returns; exiting detaches the tracee.
            unsafe { libc::_exit(0) }
        }
        Fork::Parent(tracer) => tracer,
    };
    drop(attached_write);
    drop(go_read);
    let mut attached = [0_u8; 1];
    attached_read.read_exact(&mut attached).unwrap();
    if attached[0] == b'1' {
        Ok((tracer, go_write))
    } else {
        drop(go_write);
        tracer.wait().unwrap();
        Err("PTRACE_SEIZE refused (no ptrace permission)".to_owned())
    }
}

/// The state letter of process `pid` (`/proc/<pid>/stat`: `R`, `S`, `Z`, …).
pub fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Waits (polling, up to 30 s) until `pid` is a zombie; whether it became one.
pub fn await_zombie(pid: u32) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if state(pid) == Some('Z') {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}
