//! Reference scenarios from the kernel selftests (`pidfd_setns_test`, `pidfd_info_test`),
//! LTP (`pidfd_send_signal0[1-3]`) and std
//! (`library/std/src/sys/pal/unix/process/process_unix/tests.rs`), against the real
//! kernel: `setns` through a pidfd into user and PID namespaces, `NSpid` and `EREMOTE`
//! across PID namespaces, `PIDFD_GET_INFO` on zombies and thread pidfds,
//! `pidfd_send_signal` with a siginfo, and std's close-on-exec and `pre_exec`
//! expectations. The thread-group, `waitid`, `O_NONBLOCK` and `pidfd_getfd` scenarios are
//! in `core_reference.rs`. Every expectation that depends on the kernel comes from a probe
//! of the feature itself, never from `uname`; a missing feature is a visible, counted skip.

#![allow(
    unsafe_code,
    reason = "raw syscalls, fork children and signal handlers; each block says why"
)]

use std::io::{BufRead, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use pidfd_core::{Fork, Mode, OpenFlags, PidFd, Spawn, fork};
use pidfd_sys::flags::{PidfdSignalFlags, WaitIdOptions};
use pidfd_sys::pidfs::{PidfdInfoMask, pidfd_info};
use pidfd_sys::signal::{SIGUSR1, SIGUSR2};
use pidfd_sys::{Errno, siginfo_t, syscalls};
use pidfd_tests::emulator::{known_gap, skip};
use pidfd_tests::reference::{
    Helper, NsChild, fd_flags, fdinfo, fdinfo_field, gettid, pipe, poll_in, queue_siginfo,
    read_queue_siginfo,
};
use pidfd_tests::scenario::{Scenarios, say};
use pidfd_tests::{kernel, own_pid, real_ids};

const ENV: &str = "PIDFD_REFERENCE_NS_SCENARIO";
const SCENARIOS: Scenarios = Scenarios::new(ENV).timeout(Duration::from_secs(60));

// ---------------------------------------------------------------------------------------
// The re-exec'd side.

/// The raw `siginfo_t` bytes the handler got, sent to the helper's reading thread.
static SIGINFO_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn report_siginfo(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let fd = SIGINFO_PIPE.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: the kernel passes a valid 128-byte siginfo_t; write(2) is async-signal-safe.
    unsafe { libc::write(fd, info.cast_const().cast(), 128) };
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

/// In a new user+PID namespace: what a pidfd of a process outside it (the process that
/// started this one, passed in as an inherited fd) says.
fn outside_pidfd(fd: &str) {
    let fd: RawFd = fd.parse().expect("an fd number");
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
    let fd = inherited.as_raw_fd();
    let Some(inner) = SCENARIOS
        .in_pid_namespace()
        .run(&format!("outside-pidfd:{fd}"), &[])
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
    let scenario = SCENARIOS.current();
    match scenario.split(':').collect::<Vec<_>>().as_slice() {
        ["siginfo-receiver"] => siginfo_receiver(),
        ["pass-pidfd-inwards"] => pass_pidfd_inwards(),
        ["outside-pidfd", fd] => outside_pidfd(fd),
        other => panic!("unknown scenario {other:?}"),
    }
    say("done", true);
}

// ---------------------------------------------------------------------------------------
// 1. setns through a pidfd; 2. NSpid and EREMOTE.

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
    if pidfd_tests::emulator::emulator().is_none() {
        // (Under an emulator the runner, not the scenario, is PID 1 there.)
        assert_eq!(
            out["own_pid"], "1",
            "the inner scenario is PID 1 of its namespace: {out:?}"
        );
    }
    assert_eq!(out["pid"], libc::EREMOTE.to_string(), "{out:?}");
    assert_eq!(out["fdinfo_pid"], "Some([0])", "{out:?}");
    assert_eq!(out["fdinfo_nspid"], "Some([0])", "{out:?}");
    assert_eq!(out["parse"], "Some(OtherNamespace)", "{out:?}");
}

// ---------------------------------------------------------------------------------------
// 3. PIDFD_GET_INFO on a zombie and on thread pidfds.

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
// 4. pidfd_send_signal with a siginfo.

#[test]
fn send_signal_with_siginfo_reaches_the_handler() {
    if cfg!(all(target_arch = "mips64", target_env = "gnu")) {
        skip(
            "libc 0.2.191's struct sigaction has the wrong layout on mips64 glibc (see pidfd_sys::upstream): no SA_SIGINFO receiver",
        );
        return;
    }
    let Some(mut helper) = Helper::start_or_gap(ENV, "siginfo-receiver") else {
        return;
    };
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
// 5. std's expectations: close-on-exec pidfds; create_pidfd with the user's pre_exec.

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
    // (A kill through the pidfd reaching that child, std's test_pidfd: std_ext.rs,
    // `kill_through_the_pidfd`.)
}
