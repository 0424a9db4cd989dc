//! The process-group side of a process tree without cgroup v2: `PR_SET_CHILD_SUBREAPER`
//! (`prctl(2)`, Linux 3.4+) and `kill(2)` of a whole process group.

use std::io;

/// `prctl(PR_SET_CHILD_SUBREAPER, on)`: with `on`, orphaned descendants of this process are
/// re-parented to it (rather than to init), so it can reap them. A process-wide attribute,
/// inherited by no child (cleared by `fork`).
///
/// What it does to the whole process, not only to the code that sets it:
///
/// * the orphans of *any* descendant — not only of the processes one part of the program
///   cares about — become children of this process, and zombies here until something
///   reaps them;
/// * code that reaps with `waitpid(-1, ...)` / `wait()` (a `SIGCHLD` handler, a runtime's
///   child watcher) receives those adopted processes too, including ones it never started;
/// * it survives `execve`: a program this process execs is a subreaper as well.
///
/// # Errors
///
/// `errno` as is: `EINVAL` before Linux 3.4.
pub fn set_child_subreaper(on: bool) -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument and touches no memory of ours.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_CHILD_SUBREAPER,
            libc::c_ulong::from(on),
            0,
            0,
            0,
        )
    };
    super::cvt(rc).map(drop)
}

/// `prctl(PR_GET_CHILD_SUBREAPER)`: whether this process is a child subreaper.
///
/// # Errors
///
/// `errno` as is: `EINVAL` before Linux 3.4.
pub fn is_child_subreaper() -> io::Result<bool> {
    let mut value: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int to the address given: `value`, live and
    // writable for the call.
    let rc = unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &raw mut value, 0, 0, 0) };
    super::cvt(rc)?;
    Ok(value != 0)
}

/// `kill(-pgid, signal)`: `signal` to every process of the process group `pgid`. `pgid` must
/// be `> 1` (0, 1 and negative values address the caller's group, init's, or everyone, and
/// are refused here before any syscall).
///
/// # Errors
///
/// `EINVAL` for `pgid <= 1` or an invalid signal; `ESRCH` when the group is empty; `EPERM`
/// when no member could be signalled.
pub fn kill_process_group(pgid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    if pgid <= 1 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: kill takes two integers and touches no memory of ours; -pgid < -1 names exactly
    // the group pgid.
    super::cvt(unsafe { libc::kill(-pgid, signal) }).map(drop)
}
