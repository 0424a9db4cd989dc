//! Reference scenarios from the kernel selftests (`pidfd_poll_test`, `pidfd_getfd_test`),
//! LTP (`waitid`) and glibc (`tst-pidfd`), against the real kernel: `poll` on a pidfd
//! waits for the whole thread group and survives a non-leader `execve`, `waitid(P_PIDFD)`
//! refuses fds that are not pidfds, `O_NONBLOCK` round-trips through `fcntl`, and
//! `pidfd_getfd` checks its flags and ptrace permission. The namespace, `PIDFD_GET_INFO`,
//! siginfo and close-on-exec scenarios are in `core_reference_ns.rs`. Every expectation
//! that depends on the kernel comes from a probe of the feature itself, never from `uname`;
//! a missing feature is a visible, counted skip.

#![allow(
    unsafe_code,
    reason = "raw syscalls, fork children and signal handlers; each block says why"
)]

use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pidfd_core::{Fork, Mode, OpenFlags, PidFd, Process, fork};
use pidfd_sys::flags::{P_PIDFD, WaitIdOptions};
use pidfd_sys::signal::SIGUSR1;
use pidfd_sys::{Errno, siginfo_t, syscalls};
use pidfd_tests::emulator::skip;
use pidfd_tests::reference::{Helper, fd_flags, gettid, pipe, poll_in, set_fl, thread_state};
use pidfd_tests::scenario::{Scenarios, say};
use pidfd_tests::{kernel, own_pid};

const ENV: &str = "PIDFD_REFERENCE_SCENARIO";
const SCENARIOS: Scenarios = Scenarios::new(ENV).timeout(Duration::from_secs(60));

// ---------------------------------------------------------------------------------------
// The re-exec'd side.

extern "C" fn exit_this_thread(_: libc::c_int) {
    // SAFETY: SYS_exit ends only the calling thread (the main thread, which the signal was
    // aimed at); it is async-signal-safe and does not return.
    unsafe { libc::syscall(libc::SYS_exit, 0) };
}

/// The main thread (the thread-group leader) exits with `SYS_exit` while another thread
/// lives on until its stdin ends, then exits the process with `_exit(7)`.
fn leader_exits() {
    let leader = std::process::id();
    // SAFETY: the handler only makes the async-signal-safe SYS_exit call.
    let previous = unsafe {
        libc::signal(
            SIGUSR1,
            exit_this_thread as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )
    };
    assert_ne!(previous, libc::SIG_ERR);
    let worker = std::thread::spawn(move || {
        say("tid", gettid());
        let thread_pidfd = kernel::pidfd_thread()
            .then(|| PidFd::open_with(leader, OpenFlags::THREAD).expect("thread pidfd"));
        let pid = libc::pid_t::try_from(leader).expect("pid_t");
        // SAFETY: tgkill aims the signal at the main thread alone.
        let rc = unsafe { libc::syscall(libc::SYS_tgkill, pid, pid, SIGUSR1) };
        assert_eq!(rc, 0, "tgkill");
        // Until the main thread has exited (a zombie thread while the group lives). Not
        // through a PIDFD_THREAD pidfd of it: recent kernels (6.18 here) keep that
        // unreadable too while the leader's exit is delayed (`delay_group_leader`).
        let deadline = Instant::now() + Duration::from_secs(20);
        while thread_state(leader, leader) != Some('Z') {
            assert!(Instant::now() < deadline, "the main thread did not exit");
            std::thread::yield_now();
        }
        say("leader_exited", true);
        if let Some(pidfd) = thread_pidfd {
            say(
                "leader_thread_pidfd_readable",
                poll_in(&pidfd, 0) & libc::POLLIN != 0,
            );
        }
        let mut rest = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut rest);
        // SAFETY: ends the whole thread group with status 7.
        unsafe { libc::_exit(7) };
    });
    let _ = worker.join();
    // Only if the main thread was not the test's thread: wait here for the _exit.
    loop {
        std::thread::park();
    }
}

/// A thread other than the main one calls `execve`; the exec'd shell reports its PID and
/// waits for its stdin.
fn non_leader_execs() {
    let worker = std::thread::spawn(|| {
        say("tid", gettid());
        let error = Command::new("sh")
            .args(["-c", "echo scenario:exec_pid=$$; read _; exit 5"])
            .exec();
        panic!("exec failed: {error}");
    });
    let _ = worker.join();
    loop {
        std::thread::park();
    }
}

/// `_LINUX_CAPABILITY_VERSION_3`.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drops every capability of this (single-purpose, re-exec'd) process: root then has no
/// CAP_SYS_PTRACE either.
fn drop_all_capabilities() {
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: capset reads a v3 header and two data structs that live across the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &raw const header, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}

/// A forked child that optionally makes itself non-dumpable, says so on `ready`, and waits
/// for end of file on `hold` (our write end of it, `hold_w`, closed in the child).
fn getfd_target(dumpable: bool, ready: &OwnedFd, hold: &OwnedFd, hold_w: &OwnedFd) -> Process {
    let (ready, hold, hold_w) = (ready.as_raw_fd(), hold.as_raw_fd(), hold_w.as_raw_fd());
    // SAFETY: the child only makes async-signal-safe calls (prctl, close, write, read,
    // _exit) and ends with _exit.
    match unsafe { fork() }.expect("fork") {
        Fork::Child => {
            if !dumpable {
                // SAFETY: prctl with integer arguments (async-signal-safe).
                unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
            }
            // SAFETY: closes this child's copy of the write end, so that EOF can come.
            unsafe { libc::close(hold_w) };
            let byte = 1_u8;
            // SAFETY: writes one byte from a live local.
            unsafe { libc::write(ready, (&raw const byte).cast(), 1) };
            let mut sink = 0_u8;
            // SAFETY: reads into a live local; ends at end of file (or an error).
            while unsafe { libc::read(hold, (&raw mut sink).cast(), 1) } > 0 {}
            // SAFETY: _exit ends the child here (async-signal-safe).
            unsafe { libc::_exit(0) }
        }
        Fork::Parent(process) => process,
    }
}

/// `pidfd_getfd` on a dumpable and on a non-dumpable child, with no capabilities left.
fn getfd_ptrace_denial() {
    // First, so that the targets inherit the empty sets: the capability check of ptrace
    // (cap_ptrace_access_check) refuses a caller whose permitted set does not cover the
    // target's, whatever its dumpability.
    drop_all_capabilities();
    let (ready_r, ready_w) = pipe();
    let (hold_r, hold_w) = pipe();
    let dumpable = getfd_target(true, &ready_w, &hold_r, &hold_w);
    let undumpable = getfd_target(false, &ready_w, &hold_r, &hold_w);
    let mut ready = [0_u8; 2];
    std::fs::File::from(ready_r)
        .read_exact(&mut ready)
        .expect("both children ready");
    let getfd = |process: &Process| {
        let pidfd = match process.mode() {
            Mode::PidFd => process.with_pidfd(|pidfd| pidfd.get_fd(hold_r.as_raw_fd())),
            // pid mode (qemu-user): the unreaped child still owns its PID.
            Mode::Pid => Ok(PidFd::open(process.pid()).and_then(|p| p.get_fd(hold_r.as_raw_fd()))),
        };
        pidfd_tests::scenario::errno_of(pidfd.and_then(|result| result))
    };
    say("dumpable", getfd(&dumpable));
    say("undumpable", getfd(&undumpable));
    drop(hold_w);
    say(
        "exits",
        format!(
            "{:?} {:?}",
            dumpable.wait().unwrap().code(),
            undumpable.wait().unwrap().code()
        ),
    );
}

#[test]
#[ignore = "entry point for the re-exec'd children"]
fn scenario_child() {
    match SCENARIOS.current().as_str() {
        "leader-exits" => leader_exits(),
        "non-leader-execs" => non_leader_execs(),
        "getfd-ptrace-denial" => getfd_ptrace_denial(),
        other => panic!("unknown scenario {other:?}"),
    }
    say("done", true);
}

// ---------------------------------------------------------------------------------------
// 1. pidfd_poll_test: a thread-group leader that exits first; a non-leader that execs.

#[test]
fn poll_waits_for_the_whole_thread_group_and_survives_a_non_leader_exec() {
    // Leader exit (selftest pidfd_poll_test, test_pidfd_poll_leader_exit).
    let Some(mut helper) = Helper::start_or_gap(ENV, "leader-exits") else {
        return;
    };
    let pid = helper.id();
    let pidfd = PidFd::open(pid).unwrap();
    let tid: u32 = helper.expect("tid").parse().unwrap();
    assert_ne!(tid, pid, "the worker must not be the leader");
    helper.expect("leader_exited");
    if kernel::pidfd_thread() {
        // Recorded, not asserted: whether a PIDFD_THREAD pidfd of a leader that exited
        // early polls readable has changed between kernels (pidfs now holds it back like
        // the process pidfd, `delay_group_leader`; Linux 6.18 says false), and nothing
        // short of the kernel version tells which behaviour to expect.
        eprintln!(
            "PIDFD_THREAD pidfd of the exited leader readable: {}",
            helper.expect("leader_thread_pidfd_readable")
        );
    }
    assert_eq!(
        thread_state(pid, pid),
        Some('Z'),
        "the leader is a zombie thread"
    );
    assert_eq!(thread_state(pid, tid).map(|s| s != 'Z'), Some(true));
    // Not readable while a thread of the group lives: the leader's exit is not the
    // process's.
    assert_eq!(
        poll_in(&pidfd, 0),
        0,
        "pidfd readable after the leader alone exited"
    );
    assert_eq!(pidfd.try_wait().unwrap(), None);
    assert_eq!(pidfd.pid().unwrap(), pid);
    pidfd.send_signal(0).unwrap();
    helper.close_stdin();
    assert_ne!(
        poll_in(&pidfd, 20_000) & libc::POLLIN,
        0,
        "readable once the group is gone"
    );
    let status = pidfd.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(7),
        "the group's exit code, from the last thread"
    );

    // A non-leader thread execs: de_thread gives it the leader's PID; the pidfd still
    // names the same, living process, and no exit was reported for the old leader.
    let Some(mut helper) = Helper::start_or_gap(ENV, "non-leader-execs") else {
        return;
    };
    let pid = helper.id();
    let pidfd = PidFd::open(pid).unwrap();
    let tid: u32 = helper.expect("tid").parse().unwrap();
    assert_ne!(tid, pid);
    let exec_pid: u32 = helper.expect("exec_pid").parse().unwrap();
    assert_eq!(
        exec_pid, pid,
        "the exec'd image runs under the leader's PID"
    );
    assert_eq!(poll_in(&pidfd, 0), 0, "the exec must not look like an exit");
    assert_eq!(pidfd.try_wait().unwrap(), None);
    assert_eq!(pidfd.pid().unwrap(), pid);
    pidfd.send_signal(0).unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "sh"
    );
    let fresh = PidFd::open(pid).unwrap();
    match fresh.is_same_process(&pidfd) {
        Ok(same) => assert!(same, "the pidfd from before the exec names another process"),
        Err(error) if error.kind() == ErrorKind::Unsupported => {
            skip("no pidfs inode identity (Linux < 6.9 or 32-bit): same-process not compared");
        }
        Err(error) => panic!("is_same_process: {error}"),
    }
    helper.close_stdin();
    assert_eq!(pidfd.wait().unwrap().code(), Some(5));
    assert_eq!(
        helper.try_wait().unwrap_err().raw_os_error(),
        Some(libc::ECHILD)
    );
}

// ---------------------------------------------------------------------------------------
// 2. waitid(P_PIDFD) on fds that are not pidfds.

fn raw_waitid_pidfd(id: u32) -> Result<siginfo_t, Errno> {
    let mut info = siginfo_t::zeroed();
    // SAFETY: `info` is writable; `id` is not dereferenced by us (the kernel looks it up and
    // fails if it is not a pidfd).
    unsafe {
        syscalls::waitid(
            P_PIDFD,
            id,
            &mut info,
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
            None,
        )
    }
    .map(|()| info)
}

#[test]
fn waitid_p_pidfd_on_a_non_pidfd_is_ebadf() {
    // Probe: on our own pidfd a kernel that knows P_PIDFD says ECHILD (we are not our own
    // child); one that does not says EINVAL.
    let own = pidfd_tests::pidfd_open(own_pid(), pidfd_sys::flags::PidfdFlags::empty()).unwrap();
    if raw_waitid_pidfd(u32::try_from(own.as_raw_fd()).unwrap()).err() != Some(Errno::CHILD) {
        skip("waitid(P_PIDFD) unsupported here (Linux < 5.4, seccomp)");
        return;
    }
    // The kernel (pidfd_get_pid) looks the fd up and refuses any file that is not a pidfd
    // with EBADF, as for an fd that is not open at all; a negative id is EINVAL.
    let null = std::fs::File::open("/dev/null").unwrap();
    let fd = u32::try_from(null.as_raw_fd()).unwrap();
    assert_eq!(raw_waitid_pidfd(fd).unwrap_err(), Errno::BADF);
    let (reader, _writer) = pipe();
    let fd = u32::try_from(reader.as_raw_fd()).unwrap();
    assert_eq!(raw_waitid_pidfd(fd).unwrap_err(), Errno::BADF);
    // An fd number that is not open (a closed number could be reused at once by another
    // test's pidfd, and a WEXITED wait on it would steal that test's child).
    assert_eq!(raw_waitid_pidfd(1 << 20).unwrap_err(), Errno::BADF);
    assert_eq!(raw_waitid_pidfd(u32::MAX).unwrap_err(), Errno::INVAL);
    // Through the safe API: the same EBADF, never a status.
    let not_a_pidfd = PidFd::from(OwnedFd::from(std::fs::File::open("/dev/null").unwrap()));
    assert_eq!(
        not_a_pidfd.try_wait().unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
}

// ---------------------------------------------------------------------------------------
// 3. O_NONBLOCK through F_GETFL/F_SETFL.

/// Whether thread `tid` of this process is inside syscall `nr` (`/proc/self/task/<tid>/
/// syscall`); `None` where that file cannot be read.
fn in_syscall(tid: u32, nr: libc::c_long) -> Option<bool> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    Some(text.split_whitespace().next() == Some(nr.to_string().as_str()))
}

/// Probe: `pidfd_open(self, PIDFD_NONBLOCK)` (Linux 5.10+; EINVAL before). The same
/// release made `waitid` honour `O_NONBLOCK` of a pidfd's file.
fn nonblock_supported() -> bool {
    pidfd_tests::emulator::pidfd_flags_translated()
        && pidfd_tests::pidfd_open(own_pid(), pidfd_sys::flags::PidfdFlags::NONBLOCK).is_ok()
}

#[test]
fn o_nonblock_round_trip_through_fcntl() {
    let mut child = Command::new("sh")
        .args(["-c", "read _; exit 3"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pidfd = std::sync::Arc::new(PidFd::open(child.id()).unwrap());
    let flags = fd_flags(&*pidfd, libc::F_GETFL);
    assert_eq!(
        flags & libc::O_NONBLOCK,
        0,
        "pidfd_open without flags is blocking"
    );
    set_fl(&*pidfd, flags | libc::O_NONBLOCK);
    assert_ne!(fd_flags(&*pidfd, libc::F_GETFL) & libc::O_NONBLOCK, 0);
    if nonblock_supported() {
        // Linux 5.10+: waitid honours O_NONBLOCK of the pidfd's file, however it was set.
        let error = pidfd.wait().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::WouldBlock, "{error}");
        assert_eq!(pidfd.try_wait().unwrap(), None);
    } else {
        skip("PIDFD_NONBLOCK unsupported (Linux < 5.10): O_NONBLOCK not checked on waitid");
    }
    set_fl(&*pidfd, flags);
    assert_eq!(fd_flags(&*pidfd, libc::F_GETFL) & libc::O_NONBLOCK, 0);
    // Cleared again: wait blocks until the child exits.
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn({
        let pidfd = pidfd.clone();
        move || {
            tx.send(gettid()).unwrap();
            pidfd.wait()
        }
    });
    let tid = rx.recv().unwrap();
    // Until the waiting thread sits in waitid (or has returned, which would be the bug).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match in_syscall(tid, libc::SYS_waitid) {
            Some(true) => break,
            Some(false) if !waiter.is_finished() && Instant::now() < deadline => {
                std::thread::yield_now();
            }
            // (qemu-user shows its own host syscall there, not the guest's.)
            Some(false)
                if pidfd_tests::emulator::gap(
                    "the guest's syscall is not in /proc/<tid>/syscall under qemu-user",
                ) =>
            {
                break;
            }
            Some(false) => panic!("the wait did not block in waitid"),
            None => {
                skip("/proc/self/task/<tid>/syscall unreadable: the blocking wait not observed");
                break;
            }
        }
    }
    assert!(
        !waiter.is_finished(),
        "a blocking wait returned before the child exited"
    );
    drop(child.stdin.take());
    let status = waiter.join().unwrap().unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        child.try_wait().unwrap_err().raw_os_error(),
        Some(libc::ECHILD)
    );

    // And PIDFD_NONBLOCK from pidfd_open is the same O_NONBLOCK bit, visible to F_GETFL.
    if nonblock_supported() {
        let own = PidFd::open_with(std::process::id(), OpenFlags::NONBLOCK).unwrap();
        assert_ne!(fd_flags(&own, libc::F_GETFL) & libc::O_NONBLOCK, 0);
    }
}

// ---------------------------------------------------------------------------------------
// 4. pidfd_getfd: flags, ptrace permission.

#[test]
fn getfd_flags_are_einval_and_ptrace_denial_is_eperm() {
    let own = PidFd::current().unwrap();
    let (reader, _writer) = pipe();
    // SAFETY: both fds are borrowed for the call; a success would be owned below.
    let probe = unsafe { syscalls::pidfd_getfd(own.as_raw_fd(), reader.as_raw_fd(), 0) };
    match probe {
        // SAFETY: a fresh fd from the kernel.
        Ok(fd) => drop(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(errno) if matches!(errno, Errno::NOSYS | Errno::PERM) => {
            skip(&format!(
                "pidfd_getfd unavailable ({errno:?}): Linux < 5.6 or seccomp"
            ));
            return;
        }
        Err(errno) => panic!("pidfd_getfd: {errno:?}"),
    }
    for flags in [1, 2, 1 << 31, u32::MAX] {
        // SAFETY: as above; the kernel refuses before creating anything.
        let result = unsafe { syscalls::pidfd_getfd(own.as_raw_fd(), reader.as_raw_fd(), flags) };
        assert_eq!(result, Err(Errno::INVAL), "flags {flags:#x}");
    }

    let Some(out) = SCENARIOS.run("getfd-ptrace-denial", &[]) else {
        return;
    };
    assert_eq!(out["exits"], "Some(0) Some(0)", "{out:?}");
    if out["dumpable"] == libc::EPERM.to_string() {
        let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
            .unwrap_or_else(|_| "absent".to_owned());
        skip(&format!(
            "ptrace of even a dumpable child is refused here (Yama ptrace_scope {}): \
             EPERM from dumpability not distinguishable",
            scope.trim()
        ));
        return;
    }
    assert_eq!(
        out["dumpable"], "ok",
        "control: a dumpable child of ours: {out:?}"
    );
    assert_eq!(
        out["undumpable"],
        libc::EPERM.to_string(),
        "non-dumpable target, no CAP_SYS_PTRACE: {out:?}"
    );
}
