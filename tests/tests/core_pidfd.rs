//! `pidfd_core::PidFd` against the real kernel, with real child processes.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use pidfd_core::{OpenFlags, PidFd, SignalFlags};
use pidfd_sys::signal::{SIGKILL, SIGSEGV, SIGTERM};
use pidfd_tests::emulator::{pidfd_info_exit_works, pidfd_info_works, timeval_usec_gap};
use pidfd_tests::{TempDir, real_ids, sh};

fn open(child: &pidfd_tests::TestChild) -> PidFd {
    PidFd::open(child.id()).unwrap()
}

#[test]
fn exit_codes() {
    for code in [0, 1, 42, 255] {
        let child = sh(&format!("exit {code}"));
        let status = open(&child).wait().unwrap();
        assert_eq!(status.code(), Some(code));
        assert!(status.signal().is_none());
    }
}

#[test]
fn deaths_by_signal() {
    for signal in [SIGKILL, SIGTERM] {
        let child = sh("exec sleep 30");
        let pidfd = open(&child);
        pidfd.send_signal(signal).unwrap();
        let status = pidfd.wait().unwrap();
        assert_eq!((status.code(), status.signal()), (None, Some(signal)));
        assert!(!status.core_dumped());
    }
}

#[test]
fn core_dump_flag() {
    let dir = TempDir::new("core");
    let script = format!(
        "cd '{}' && ulimit -c unlimited && kill -SEGV $$",
        dir.path().display()
    );
    let child = sh(&script);
    let status = open(&child).wait().unwrap();
    assert_eq!(status.signal(), Some(SIGSEGV));
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    if pattern.starts_with('|') {
        // A pipe helper decides whether a core is written; the flag is not ours to predict.
        pidfd_tests::emulator::skip(&format!(
            "core_pattern is a pipe ({}): core flag not asserted",
            pattern.trim()
        ));
        return;
    }
    // A plain file pattern: the kernel wrote a core file into the child's cwd, and the status
    // must say so.
    let wrote_core = std::fs::read_dir(dir.path()).unwrap().next().is_some();
    assert!(wrote_core, "no core file in {}", dir.path().display());
    assert!(status.core_dumped());
}

#[test]
fn try_wait_before_and_after_exit() {
    let child = sh("exec sleep 30");
    let pidfd = open(&child);
    assert_eq!(pidfd.try_wait().unwrap(), None);
    pidfd.kill().unwrap();
    assert!(pidfd.wait_for_exit(Some(Duration::from_secs(10))).unwrap());
    assert_eq!(pidfd.try_wait().unwrap().unwrap().signal(), Some(SIGKILL));
}

#[test]
fn wait_timeout_leaves_a_sleeping_child_running() {
    let child = sh("exec sleep 30");
    let pidfd = open(&child);
    let started = Instant::now();
    assert_eq!(
        pidfd.wait_timeout(Duration::from_millis(200)).unwrap(),
        None
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "returned early: {waited:?}"
    );
    pidfd.send_signal(0).unwrap(); // still alive, not killed by the timeout
    pidfd.kill().unwrap();
    let status = pidfd
        .wait_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert_eq!(status.signal(), Some(SIGKILL));
}

#[test]
fn wait_timeout_returns_as_soon_as_the_child_exits() {
    let child = sh("sleep 0.1; exit 6");
    let pidfd = open(&child);
    let started = Instant::now();
    let status = pidfd
        .wait_timeout(Duration::from_secs(20))
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(6));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn pid_before_and_after_reap() {
    let child = sh("exec sleep 30");
    let pidfd = open(&child);
    assert_eq!(pidfd.pid().unwrap(), child.id());
    assert!(format!("{pidfd:?}").contains(&format!("pid: {}", child.id())));
    pidfd.kill().unwrap();
    pidfd.wait().unwrap();
    assert_eq!(pidfd.pid().unwrap_err().raw_os_error(), Some(libc::ESRCH));
}

#[test]
fn pid_of_a_non_pidfd_is_ebadf() {
    let file = std::fs::File::open("/dev/null").unwrap();
    let not_a_pidfd = PidFd::from(OwnedFd::from(file));
    assert_eq!(
        not_a_pidfd.pid().unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
    assert_eq!(
        not_a_pidfd.send_signal(0).unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
}

#[test]
fn current_process() {
    let own = PidFd::current().unwrap();
    assert_eq!(own.pid().unwrap(), std::process::id());
    own.send_signal(0).unwrap();
    // We are not our own child.
    assert_eq!(
        own.try_wait().unwrap_err().raw_os_error(),
        Some(libc::ECHILD)
    );
}

#[test]
fn invalid_pids_and_missing_processes() {
    assert_eq!(PidFd::open(0).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(
        PidFd::open(u32::MAX).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        PidFd::open(1 << 31).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // Above PID_MAX_LIMIT: cannot exist.
    let missing = PidFd::open(i32::MAX as u32).unwrap_err();
    assert_eq!(missing.raw_os_error(), Some(libc::ESRCH));
}

#[test]
fn get_fd_returns_the_same_open_file() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let own = PidFd::current().unwrap();
    let copy = own.get_fd(writer.as_raw_fd()).unwrap();
    drop(writer);
    std::fs::File::from(copy)
        .write_all(b"through the copy")
        .unwrap();
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    assert_eq!(text, "through the copy");
    let missing = own.get_fd(1 << 20).unwrap_err();
    assert_eq!(missing.raw_os_error(), Some(libc::EBADF));
}

#[test]
fn signal_after_reap_is_esrch() {
    let child = sh("exit 0");
    let pidfd = open(&child);
    pidfd.wait().unwrap();
    for signal in [0, SIGKILL, SIGTERM] {
        assert_eq!(
            pidfd.send_signal(signal).unwrap_err().raw_os_error(),
            Some(libc::ESRCH)
        );
    }
    // Waiting again: nothing left (the status is not cached at this level; `Process` does).
    let again = pidfd.wait();
    if pidfd_info_exit_works() {
        assert_eq!(
            again.unwrap().code(),
            Some(0),
            "PIDFD_INFO_EXIT keeps the status"
        );
    } else {
        assert_eq!(again.unwrap_err().raw_os_error(), Some(libc::ECHILD));
    }
}

#[test]
fn a_non_child_can_be_watched_until_it_exits() {
    // `sh` starts a background job and exits: the job is then not our child. Held until
    // its pidfd is open, so the PID certainly names it.
    let mut orphan = pidfd_tests::Orphan::start("sleep 1");
    let pidfd = PidFd::open(orphan.pid).unwrap();
    assert!(
        !pidfd
            .wait_for_exit(Some(Duration::from_millis(10)))
            .unwrap()
    );
    orphan.release();
    let started = Instant::now();
    assert!(pidfd.wait_for_exit(Some(Duration::from_secs(20))).unwrap());
    assert!(started.elapsed() < Duration::from_secs(10));
    // Not ours to reap: `wait` must not hang; it fails (ECHILD) or, once whoever reaps it
    // has done so on Linux 6.15+, reports the real status (sleep exits 0).
    match pidfd.wait() {
        Ok(status) => assert_eq!(status.code(), Some(0)),
        Err(error) => assert_eq!(error.raw_os_error(), Some(libc::ECHILD)),
    }
}

#[test]
fn nonblocking_wait_would_block() {
    if pidfd_tests::emulator::pidfd_flags_gap() {
        return;
    }
    let child = sh("exec sleep 30");
    let pidfd = PidFd::open_with(child.id(), OpenFlags::NONBLOCK).unwrap();
    assert_eq!(pidfd.wait().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(pidfd.try_wait().unwrap(), None);
    pidfd.kill().unwrap();
    assert_eq!(
        pidfd
            .wait_timeout(Duration::from_secs(10))
            .unwrap()
            .unwrap()
            .signal(),
        Some(SIGKILL)
    );
}

#[test]
fn send_signal_with_thread_group_flag() {
    let child = sh("exec sleep 30");
    let pidfd = open(&child);
    let result = pidfd.send_signal_with(SIGKILL, SignalFlags::THREAD_GROUP);
    if pidfd_tests::kernel::pidfd_signal_flags() {
        result.unwrap();
    } else {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Unsupported);
        pidfd.kill().unwrap();
    }
    assert_eq!(pidfd.wait().unwrap().signal(), Some(SIGKILL));
}

#[test]
fn wait_with_rusage_reports_usage() {
    let child = sh("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 4");
    let (status, usage) = open(&child).wait_with_rusage().unwrap();
    assert_eq!(status.code(), Some(4));
    let usage = usage.expect("waitid reaped it, so it reported usage");
    assert!(usage.max_rss_kib > 0);
    let cpu = usage.user_time + usage.system_time;
    let whole_seconds_only =
        usage.user_time.subsec_nanos() == 0 && usage.system_time.subsec_nanos() == 0;
    if cpu == Duration::ZERO && timeval_usec_gap(whole_seconds_only) {
        return;
    }
    assert!(cpu > Duration::ZERO);
}

#[test]
fn info_describes_the_child_and_keeps_its_exit_status() {
    let child = sh("exec sleep 30");
    let pidfd = open(&child);
    let info = pidfd.info();
    if !pidfd_info_works() {
        assert_eq!(info.unwrap_err().kind(), ErrorKind::Unsupported);
        return;
    }
    let info = info.unwrap();
    assert_eq!(
        (info.pid, info.tgid, info.ppid),
        (child.id(), child.id(), std::process::id())
    );
    let (uid, gid) = real_ids();
    assert_eq!((info.uids.real, info.gids.real), (uid, gid));
    assert_eq!(info.exit_status, None);
    pidfd.send_signal(SIGTERM).unwrap();
    pidfd.wait().unwrap();
    let after = pidfd.info();
    if pidfd_info_exit_works() {
        assert_eq!(after.unwrap().exit_status.unwrap().signal(), Some(SIGTERM));
    } else {
        assert_eq!(after.unwrap_err().raw_os_error(), Some(libc::ESRCH));
    }
}

#[test]
fn wait_recovers_the_status_when_someone_else_reaped() {
    let mut child = sh("exit 9");
    let pidfd = open(&child);
    // std reaps it by PID (as a `waitpid(-1)` thief would).
    let _ = child.try_wait();
    while child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let result = pidfd.wait();
    if pidfd_info_exit_works() {
        assert_eq!(result.unwrap().code(), Some(9));
    } else {
        assert_eq!(result.unwrap_err().raw_os_error(), Some(libc::ECHILD));
    }
    // Without waitid's rusage: the usage is not invented.
    if pidfd_info_exit_works() {
        assert_eq!(pidfd.wait_with_rusage().unwrap().1, None);
    }
}

#[test]
fn same_process_by_pidfs_inode() {
    let a = sh("exec sleep 30");
    let b = sh("exec sleep 30");
    let (a1, a2, b1) = (open(&a), open(&a), open(&b));
    let same = a1.is_same_process(&a2);
    if cfg!(target_pointer_width = "64") && pidfd_tests::kernel::pidfs() {
        assert!(same.unwrap());
        assert!(!a1.is_same_process(&b1).unwrap());
    } else {
        assert_eq!(same.unwrap_err().kind(), ErrorKind::Unsupported);
    }
    a1.kill().unwrap();
    b1.kill().unwrap();
    a1.wait().unwrap();
    b1.wait().unwrap();
}
