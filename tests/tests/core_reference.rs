//! Reference scenarios from the kernel selftests (`pidfd_poll_test`, `pidfd_getfd_test`,
//! `pidfd_setns_test`, `pidfd_info_test`), LTP (`pidfd_send_signal0[1-3]`, `waitid`), glibc
//! (`tst-pidfd`) and std (`library/std/src/sys/pal/unix/process/process_unix/tests.rs`),
//! against the real kernel. Every expectation that depends on the kernel comes from a probe
//! of the feature itself, never from `uname`; a missing feature is a visible, counted skip.

#![allow(
    unsafe_code,
    reason = "raw syscalls, fork children and signal handlers; each block says why"
)]

use std::io::{BufRead, ErrorKind, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt as _, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pidfd_core::{Fork, Mode, OpenFlags, PidFd, Process, Spawn, fork};
use pidfd_sys::flags::{P_PIDFD, PidfdSignalFlags, WaitIdOptions};
use pidfd_sys::pidfs::{PidfdInfoMask, pidfd_info};
use pidfd_sys::signal::{SIGKILL, SIGUSR1, SIGUSR2};
use pidfd_sys::{Errno, siginfo_t, syscalls};
use pidfd_tests::emulator::{known_gap, skip};
use pidfd_tests::reference::{
    Helper, NsChild, fdinfo, fdinfo_field, poll_in, queue_siginfo, read_queue_siginfo, thread_state,
};
use pidfd_tests::scenario::{Scenarios, say};
use pidfd_tests::{kernel, own_pid, real_ids};

const ENV: &str = "PIDFD_REFERENCE_SCENARIO";
const SCENARIOS: Scenarios = Scenarios::new(ENV).timeout(Duration::from_secs(60));

fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    u32::try_from(tid).expect("a TID")
}

fn fd_flags(fd: &impl AsRawFd, command: libc::c_int) -> libc::c_int {
    // SAFETY: F_GETFD/F_GETFL only read the flags of a borrowed fd.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), command) };
    assert!(flags >= 0, "fcntl: {}", std::io::Error::last_os_error());
    flags
}

fn set_fl(fd: &impl AsRawFd, flags: libc::c_int) {
    // SAFETY: F_SETFL on a borrowed fd changes only its status flags.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) };
    assert_eq!(rc, 0, "F_SETFL: {}", std::io::Error::last_os_error());
}

/// A pipe as two owned fds, both close-on-exec.
fn pipe() -> (OwnedFd, OwnedFd) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    (OwnedFd::from(reader), OwnedFd::from(writer))
}

// ---------------------------------------------------------------------------------------
// The re-exec'd side.

extern "C" fn exit_this_thread(_: libc::c_int) {
    // SAFETY: SYS_exit ends only the calling thread (the main thread, which the signal was
    // aimed at); it is async-signal-safe and does not return.
    unsafe { libc::syscall(libc::SYS_exit, 0) };
}

/// The raw `siginfo_t` bytes the handler got, sent to the helper's reading thread.
static SIGINFO_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn report_siginfo(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let fd = SIGINFO_PIPE.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: the kernel passes a valid 128-byte siginfo_t; write(2) is async-signal-safe.
    unsafe { libc::write(fd, info.cast_const().cast(), 128) };
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

/// Reports the first `SIGUSR1` it gets, as its SA_SIGINFO handler saw it.
fn siginfo_receiver() {
    let (reader, writer) = pipe();
    SIGINFO_PIPE.store(writer.as_raw_fd(), std::sync::atomic::Ordering::Relaxed);
    // SAFETY: sigaction is plain data; all-zero is valid (empty mask, no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = report_siginfo
        as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
        as libc::sighandler_t;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: installs a handler that only calls write(2) on a pipe that stays open.
    let rc = unsafe { libc::sigaction(SIGUSR1, &raw const action, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "sigaction");
    say("ready", true);
    let mut bytes = [0_u8; 128];
    std::fs::File::from(reader)
        .read_exact(&mut bytes)
        .expect("the handler's siginfo");
    let (signo, code, pid, uid, value) = read_queue_siginfo(&bytes);
    say("got", format!("{signo} {code} {pid} {uid} {value}"));
    drop(writer);
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

/// In a new user+PID namespace: what a pidfd of a process outside it (the process that
/// started this one, passed in as an inherited fd) says.
fn outside_pidfd() {
    let fd: RawFd = std::env::var("PIDFD_REFERENCE_FD")
        .expect("fd")
        .parse()
        .expect("an fd number");
    // SAFETY: the parent scenario left this fd open (not close-on-exec) for us alone.
    let pidfd = PidFd::from(unsafe { OwnedFd::from_raw_fd(fd) });
    say("pid", pidfd_tests::scenario::errno_of(pidfd.pid()));
    let text = fdinfo(&pidfd);
    say("fdinfo_pid", format!("{:?}", fdinfo_field(&text, "Pid")));
    say(
        "fdinfo_nspid",
        format!("{:?}", fdinfo_field(&text, "NSpid")),
    );
    say(
        "parse",
        format!("{:?}", pidfd_core::fdinfo::parse_pid(text.as_bytes())),
    );
    say("own_pid", std::process::id());
}

/// Outside any new namespace: passes a pidfd of itself into [`outside_pidfd`].
fn pass_pidfd_inwards() {
    let own = PidFd::current().expect("own pidfd");
    // A copy without close-on-exec, made in this single-purpose process only.
    // SAFETY: F_DUPFD makes a new fd that we own from here.
    let raw = unsafe { libc::fcntl(own.as_raw_fd(), libc::F_DUPFD, 3) };
    assert!(raw >= 3, "F_DUPFD");
    // SAFETY: fresh fd, owned here; kept open across the inner run.
    let inherited = unsafe { OwnedFd::from_raw_fd(raw) };
    let fd = inherited.as_raw_fd().to_string();
    let Some(inner) = SCENARIOS
        .in_pid_namespace()
        .run("outside-pidfd", &[("PIDFD_REFERENCE_FD", &fd)])
    else {
        say("skipped", true);
        return;
    };
    for (key, value) in inner.iter().filter(|(key, _)| key.as_str() != "done") {
        say(key, value);
    }
}

#[test]
#[ignore = "entry point for the re-exec'd children"]
fn scenario_child() {
    match SCENARIOS.current().as_str() {
        "leader-exits" => leader_exits(),
        "non-leader-execs" => non_leader_execs(),
        "siginfo-receiver" => siginfo_receiver(),
        "getfd-ptrace-denial" => getfd_ptrace_denial(),
        "pass-pidfd-inwards" => pass_pidfd_inwards(),
        "outside-pidfd" => outside_pidfd(),
        other => panic!("unknown scenario {other:?}"),
    }
    say("done", true);
}

// ---------------------------------------------------------------------------------------
// 1. pidfd_poll_test: a thread-group leader that exits first; a non-leader that execs.

#[test]
fn poll_waits_for_the_whole_thread_group_and_survives_a_non_leader_exec() {
    // Leader exit (selftest pidfd_poll_test, test_pidfd_poll_leader_exit).
    let mut helper = Helper::start(ENV, "leader-exits");
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
    let mut helper = Helper::start(ENV, "non-leader-execs");
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

// ---------------------------------------------------------------------------------------
// 5. setns through a pidfd; 6. NSpid and EREMOTE.

fn ns_child_or_skip() -> Option<NsChild> {
    match NsChild::start() {
        Ok(child) => Some(child),
        Err(errno) => {
            if !known_gap(
                Some(errno.raw_os_error()),
                &[libc::ENOSYS],
                "clone3 is not emulated",
            ) {
                skip(&format!(
                    "clone3(CLONE_NEWUSER|CLONE_NEWPID) refused ({errno:?}): no clone3 or no \
                     unprivileged user namespaces here"
                ));
            }
            None
        }
    }
}

fn ns_inode(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

/// In a forked child: `setns(fd, flags)`, 0 or the errno (no allocation).
fn child_setns(fd: RawFd, flags: libc::c_int) -> u32 {
    // SAFETY: setns takes an fd and integer flags; async-signal-safe.
    if unsafe { libc::setns(fd, flags) } == 0 {
        0
    } else {
        Errno::last_os_error().raw_os_error().unsigned_abs()
    }
}

/// In a forked child: the inode number of `path` (0 if stat fails; no allocation).
#[allow(
    clippy::useless_conversion,
    reason = "st_ino is 32 bits wide on some 32-bit ABIs"
)]
fn child_ino(path: &std::ffi::CStr) -> u64 {
    // SAFETY: stat is plain data; all-zero is valid.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a writable stat (async-signal-safe).
    if unsafe { libc::stat(path.as_ptr(), &raw mut stat) } == 0 {
        u64::from(stat.st_ino)
    } else {
        0
    }
}

#[test]
fn setns_through_a_pidfd_into_user_and_pid_namespaces() {
    let Some(target) = ns_child_or_skip() else {
        return;
    };
    let own = PidFd::current().unwrap();
    let (result_r, result_w) = pipe();
    let (target_fd, own_fd, out) = (
        target.pidfd.as_raw_fd(),
        own.as_raw_fd(),
        result_w.as_raw_fd(),
    );
    // setns(CLONE_NEWUSER) needs a single-threaded caller: a forked child.
    // SAFETY: the child makes only async-signal-safe calls (setns, stat, write, _exit).
    let setter = match unsafe { fork() }.unwrap() {
        Fork::Child => {
            // Probe: Linux 5.8+ takes a pidfd here (0, or EPERM without privilege over our
            // own UTS namespace); older kernels say EINVAL (not an nsfs fd).
            let probe = child_setns(own_fd, libc::CLONE_NEWUTS);
            let entered = child_setns(target_fd, libc::CLONE_NEWUSER | libc::CLONE_NEWPID);
            let report: [u64; 4] = [
                u64::from(probe),
                u64::from(entered),
                child_ino(c"/proc/self/ns/user"),
                child_ino(c"/proc/self/ns/pid_for_children"),
            ];
            // SAFETY: writes the report from a live local (async-signal-safe).
            unsafe { libc::write(out, report.as_ptr().cast(), size_of_val(&report)) };
            // SAFETY: _exit ends the child here.
            unsafe { libc::_exit(0) }
        }
        Fork::Parent(process) => process,
    };
    drop(result_w);
    let mut bytes = [0_u8; 32];
    std::fs::File::from(result_r)
        .read_exact(&mut bytes)
        .unwrap();
    let field = |i: usize| u64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
    assert!(setter.wait().unwrap().success());
    let (probe, entered) = (field(0), field(1));
    if probe == u64::from(libc::EINVAL.unsigned_abs()) {
        skip("setns does not take pidfds here (Linux < 5.8)");
        return;
    }
    assert_eq!(
        entered, 0,
        "setns(pidfd, CLONE_NEWUSER|CLONE_NEWPID): errno {entered}"
    );
    assert_eq!(field(2), ns_inode(&format!("/proc/{}/ns/user", target.pid)));
    assert_eq!(field(3), ns_inode(&format!("/proc/{}/ns/pid", target.pid)));
    assert_ne!(
        field(2),
        ns_inode("/proc/self/ns/user"),
        "really another user namespace"
    );
    let target_pid = target.pid;
    let pidfd = target.release();
    let info = pidfd_tests::waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
    assert_eq!(
        i64::from(info.pid()),
        i64::from(target_pid),
        "waitid names the child"
    );
    assert_eq!(info.status(), 0);
}

#[test]
fn nspid_lists_every_level_and_outside_processes_are_eremote() {
    // Looking in: a child in a nested PID namespace, from ours.
    if let Some(target) = ns_child_or_skip() {
        let text = fdinfo(&target.pidfd);
        let pid = i64::from(target.pid);
        assert_eq!(fdinfo_field(&text, "Pid"), Some(vec![pid]), "{text}");
        assert_eq!(fdinfo_field(&text, "NSpid"), Some(vec![pid, 1]), "{text}");
        let pidfd = PidFd::from(target.release());
        assert_eq!(pidfd.pid().unwrap(), u32::try_from(pid).unwrap());
        assert_eq!(pidfd.wait().unwrap().code(), Some(0));
    }
    // Looking out: from inside a new PID namespace, a pidfd of a process outside it.
    let Some(out) = SCENARIOS.run("pass-pidfd-inwards", &[]) else {
        return;
    };
    if out.contains_key("skipped") {
        return;
    }
    assert_eq!(
        out["own_pid"], "1",
        "the inner scenario is PID 1 of its namespace: {out:?}"
    );
    assert_eq!(out["pid"], libc::EREMOTE.to_string(), "{out:?}");
    assert_eq!(out["fdinfo_pid"], "Some([0])", "{out:?}");
    assert_eq!(out["fdinfo_nspid"], "Some([0])", "{out:?}");
    assert_eq!(out["parse"], "Some(OtherNamespace)", "{out:?}");
}

// ---------------------------------------------------------------------------------------
// 7. PIDFD_GET_INFO on a zombie and on thread pidfds.

fn raw_info(pidfd: &impl AsRawFd, mask: PidfdInfoMask) -> Result<pidfd_info, Errno> {
    let mut info = pidfd_info {
        mask: mask.bits(),
        ..pidfd_info::default()
    };
    // SAFETY: `pidfd` is borrowed for the call; `info` is writable.
    unsafe { syscalls::pidfd_get_info(pidfd.as_raw_fd(), &mut info) }.map(|()| info)
}

#[test]
fn get_info_on_a_zombie_and_on_thread_pidfds() {
    if !kernel::pidfd_get_info() {
        skip("PIDFD_GET_INFO unsupported here (Linux < 6.13, emulator)");
        return;
    }
    let child = pidfd_tests::sh("exit 9");
    let pidfd = PidFd::open(child.id()).unwrap();
    pidfd_tests::await_exit_without_reaping(child.id()).unwrap();
    // A zombie: still there, with its IDs; its parent is us.
    let info = pidfd.info().unwrap();
    assert_eq!((info.pid, info.tgid), (child.id(), child.id()));
    assert_eq!(info.ppid, std::process::id());
    assert_eq!(info.uids.real, real_ids().0);
    let raw = raw_info(&pidfd, PidfdInfoMask::PID | PidfdInfoMask::EXIT).unwrap();
    let exit_known = PidfdInfoMask::from_bits_retain(raw.mask).contains(PidfdInfoMask::EXIT);
    if exit_known {
        // Where a kernel reports it before the reap, it must be the real status.
        assert_eq!(raw.exit_code, 9 << 8);
    }
    assert_eq!(pidfd.wait().unwrap().code(), Some(9));
    // Reaped: PIDFD_INFO_EXIT keeps the status (Linux 6.15+), else ESRCH.
    match raw_info(&pidfd, PidfdInfoMask::PID | PidfdInfoMask::EXIT) {
        Ok(raw) => {
            assert!(PidfdInfoMask::from_bits_retain(raw.mask).contains(PidfdInfoMask::EXIT));
            assert_eq!(raw.exit_code, 9 << 8);
            assert_eq!(pidfd.info().unwrap().exit_status.unwrap().code(), Some(9));
        }
        Err(errno) => {
            assert_eq!(errno, Errno::SRCH);
            assert!(!kernel::pidfd_info_exit());
            skip("no PIDFD_INFO_EXIT (Linux < 6.15): the reaped status not checked");
        }
    }

    // Thread pidfds (PIDFD_THREAD, Linux 6.9+).
    if !kernel::pidfd_thread() || pidfd_tests::emulator::pidfd_flags_gap() {
        skip("PIDFD_THREAD unsupported here (Linux < 6.9)");
        return;
    }
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        tid_tx.send(gettid()).unwrap();
        let _ = end_rx.recv();
    });
    let tid = tid_rx.recv().unwrap();
    let pid = std::process::id();
    assert_ne!(tid, pid);
    // Without PIDFD_THREAD a non-leader TID is refused: EINVAL from Linux 5.3, ENOENT
    // since pidfs reports "no thread-group leader with that PID" apart (6.18 does).
    let tid_raw = i32::try_from(tid).unwrap();
    let refused = pidfd_tests::pidfd_open(tid_raw, pidfd_sys::flags::PidfdFlags::empty());
    assert!(
        matches!(refused, Err(Errno::INVAL | Errno::NOENT)),
        "{refused:?}"
    );
    assert!(PidFd::open(tid).is_err());
    let thread_pidfd = PidFd::open_with(tid, OpenFlags::THREAD).unwrap();
    let info = thread_pidfd.info().unwrap();
    assert_eq!(
        (info.pid, info.tgid),
        (tid, pid),
        "a thread's own TID, and its group"
    );
    // SAFETY: getppid has no preconditions.
    let ppid = unsafe { libc::getppid() };
    assert_eq!(i64::from(info.ppid), i64::from(ppid));
    assert_eq!(thread_pidfd.pid().unwrap(), tid);
    let leader = PidFd::open_with(pid, OpenFlags::THREAD).unwrap();
    let info = leader.info().unwrap();
    assert_eq!((info.pid, info.tgid), (pid, pid));
    // The thread ends: its pidfd becomes readable while the process lives on.
    assert_eq!(poll_in(&thread_pidfd, 0), 0);
    end_tx.send(()).unwrap();
    thread.join().unwrap();
    assert_ne!(poll_in(&thread_pidfd, 20_000) & libc::POLLIN, 0);
    assert_eq!(poll_in(&leader, 0), 0, "the leader thread is still running");
    assert_eq!(
        thread_pidfd.send_signal(0).unwrap_err().raw_os_error(),
        Some(libc::ESRCH)
    );
}

// ---------------------------------------------------------------------------------------
// 8. pidfd_send_signal with a siginfo.

#[test]
fn send_signal_with_siginfo_reaches_the_handler() {
    if cfg!(all(target_arch = "mips64", target_env = "gnu")) {
        skip(
            "libc 0.2.191's struct sigaction has the wrong layout on mips64 glibc (see pidfd_sys::upstream): no SA_SIGINFO receiver",
        );
        return;
    }
    let mut helper = Helper::start(ENV, "siginfo-receiver");
    let pidfd = PidFd::open(helper.id()).unwrap();
    let ready = helper.expect("ready");
    assert_eq!(ready, "true");
    let (uid, _) = real_ids();
    let send = |sig: i32, info: &[u8; 128]| {
        let info = siginfo_t::from_bytes(info);
        // SAFETY: `pidfd` is borrowed for the call; the kernel only reads `info`.
        unsafe {
            syscalls::pidfd_send_signal(
                pidfd.as_raw_fd(),
                sig,
                Some(&info),
                PidfdSignalFlags::empty(),
            )
        }
    };
    // si_signo must equal the signal.
    let mismatched = queue_siginfo(SIGUSR2, libc::SI_QUEUE, own_pid(), uid, 1);
    assert_eq!(send(SIGUSR1, &mismatched), Err(Errno::INVAL));
    // A non-negative si_code (kernel-reserved, here SI_USER) to another process: EPERM.
    let forged = queue_siginfo(SIGUSR1, libc::SI_USER, own_pid(), uid, 2);
    assert_eq!(send(SIGUSR1, &forged), Err(Errno::PERM));
    // SI_QUEUE is the caller's to send; the kernel hands over what we wrote.
    let queued = queue_siginfo(SIGUSR1, libc::SI_QUEUE, own_pid(), uid, 0x5eed);
    send(SIGUSR1, &queued).unwrap();
    let got = helper.expect("got");
    assert_eq!(
        got,
        format!(
            "{SIGUSR1} {} {} {uid} {}",
            libc::SI_QUEUE,
            own_pid(),
            0x5eed
        ),
        "the receiver's SA_SIGINFO handler saw another siginfo (a refused one delivered?)"
    );
    helper.expect("done");
    assert!(pidfd.wait().unwrap().success());
}

// ---------------------------------------------------------------------------------------
// 9. std's expectations: close-on-exec pidfds; create_pidfd with the user's pre_exec.

fn assert_cloexec(fd: &impl AsRawFd, what: &str) {
    assert_eq!(
        fd_flags(fd, libc::F_GETFD) & libc::FD_CLOEXEC,
        libc::FD_CLOEXEC,
        "{what} is not close-on-exec"
    );
}

#[test]
fn pidfds_are_cloexec_and_create_pidfd_keeps_user_pre_exec_hooks() {
    use pidfd_std_ext::{ChildExt, CommandExt};

    let child = pidfd_tests::sh("exit 0");
    let opened = PidFd::open(child.id()).unwrap();
    assert_cloexec(&opened, "PidFd::open");
    assert!(opened.wait().unwrap().success());
    assert_cloexec(&PidFd::current().unwrap(), "PidFd::current");
    // Spawn and pidfd-std-ext use pidfds only where the crate's probe allows them.
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    let spawned = Spawn::new("true").spawn().unwrap();
    assert_eq!(spawned.mode(), pidfd_tests::expected_spawn_mode());
    if spawned.mode() == Mode::PidFd {
        spawned
            .with_pidfd(|pidfd| assert_cloexec(pidfd, "Spawn's pidfd"))
            .unwrap();
    } else {
        assert!(pidfd_tests::emulator::gap(
            "Spawn falls back to pid mode under qemu-user: no pidfd to check"
        ));
    }
    assert!(spawned.wait().unwrap().success());

    // The user's hook before and after create_pidfd(true): both hooks run, in order.
    for user_first in [true, false] {
        let mut command = Command::new("sh");
        command
            .args(["-c", "umask; echo $$"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let user_hook = || {
            // SAFETY: umask is async-signal-safe; the hook runs in the forked child only.
            unsafe { libc::umask(0o027) };
            Ok(())
        };
        if user_first {
            // SAFETY: the hook only calls umask (async-signal-safe).
            unsafe { command.pre_exec(user_hook) };
            command.create_pidfd(true);
        } else {
            command.create_pidfd(true);
            // SAFETY: as above.
            unsafe { command.pre_exec(user_hook) };
        }
        let mut child = command.spawn().unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let umask = lines.next().unwrap().unwrap();
        let pid: u32 = lines.next().unwrap().unwrap().trim().parse().unwrap();
        assert_eq!(
            umask.trim_start_matches('0'),
            "27",
            "the user's hook ran (user first: {user_first})"
        );
        assert_eq!(pid, child.id());
        let pidfd = child.pidfd().unwrap();
        assert_cloexec(&pidfd, "ChildExt::pidfd");
        assert_eq!(pidfd.pid().unwrap(), child.id());
        assert!(pidfd.wait().unwrap().success());
        assert_eq!(
            child.try_wait().unwrap_err().raw_os_error(),
            Some(libc::ECHILD)
        );
    }
    // A kill through the pidfd reaches that child (std's test_pidfd).
    let mut child = Command::new("sleep")
        .arg("30")
        .create_pidfd(true)
        .spawn()
        .unwrap();
    let pidfd = child.pidfd().unwrap();
    pidfd.kill().unwrap();
    assert_eq!(pidfd.wait().unwrap().signal(), Some(SIGKILL));
    assert_eq!(
        child.try_wait().unwrap_err().raw_os_error(),
        Some(libc::ECHILD)
    );
}
