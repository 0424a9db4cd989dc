//! `Process` has every power of `PidFd` (issue 17 item 5): `send_signal_with`,
//! `wait_with_rusage`, `info`, `get_fd`, `identity`/`is_same_process`, `try_clone_pidfd` —
//! in pidfd mode through the handle's own pidfd, in pid mode a clear `Unsupported` (or, for
//! `wait_with_rusage`, the usage from the reaping `waitid(P_PID)`).

use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;

use pidfd_core::{Mode, PidFd, Process, SignalFlags, Spawn, Stdio};
use pidfd_sys::signal::{SIGKILL, SIGTERM};
use pidfd_tests::{emulator, kernel, sh};

#[test]
fn wait_with_rusage_reports_the_usage_of_the_one_reap_in_both_modes() {
    for mode in [Mode::PidFd, Mode::Pid] {
        if mode == Mode::PidFd && !pidfd_tests::pidfds_or_skip() {
            continue;
        }
        // A child that burns CPU in user mode for a while (a shell loop), exit code 23.
        let child = sh("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 23");
        let process = Process::with_mode(child.id(), mode).unwrap();
        let (status, usage) = process.wait_with_rusage().unwrap();
        assert_eq!(status.code(), Some(23), "{mode:?}");
        let usage = usage.unwrap_or_else(|| panic!("{mode:?}: no usage from our own reap"));
        assert!(
            usage.user_time + usage.system_time > std::time::Duration::ZERO,
            "{mode:?}: a shell loop of 20 000 rounds used no CPU? {usage:?}"
        );
        // Cached: the same status and the same usage again, no second reap.
        assert_eq!(process.wait_with_rusage().unwrap(), (status, Some(usage)));
        assert_eq!(process.wait().unwrap(), status);
    }
}

#[test]
fn signal_flags_need_a_pidfd() {
    let child = sh("exec sleep 30");
    let process = Process::with_mode(child.id(), Mode::Pid).unwrap();
    let error = process
        .send_signal_with(SIGTERM, SignalFlags::all())
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unsupported);
    // Nothing was sent: the child still runs; then no flags is a plain kill.
    assert_eq!(process.try_wait().unwrap(), None);
    process
        .send_signal_with(SIGKILL, SignalFlags::empty())
        .unwrap();
    assert_eq!(process.wait().unwrap().signal(), Some(SIGKILL));
}

#[test]
fn pid_mode_has_no_pidfd_powers() {
    let child = sh("exec sleep 30");
    let process = Process::with_mode(child.id(), Mode::Pid).unwrap();
    for error in [
        process.info().map(drop).unwrap_err(),
        process.get_fd(0).map(drop).unwrap_err(),
        process.identity().map(drop).unwrap_err(),
        process.try_clone_pidfd().map(drop).unwrap_err(),
    ] {
        assert_eq!(error.kind(), ErrorKind::Unsupported, "{error}");
    }
    process.kill().unwrap();
    process.wait().unwrap();
}

/// The identity is the child's own: equal to a reference pidfd's, different from another
/// live child's; after the reap it is refused (the handle's pidfd is closed), never another.
#[test]
fn identity_is_the_childs_own_and_never_anothers() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    let a = Spawn::new("sleep").arg("30").spawn().unwrap();
    let b = Spawn::new("sleep").arg("30").spawn().unwrap();
    if a.mode() == Mode::Pid {
        emulator::skip("identity: Spawn gave pid mode here (no CLONE_PIDFD)");
        return;
    }
    let reference = PidFd::open(a.pid()).unwrap();
    match a.identity() {
        Err(error) if error.kind() == ErrorKind::Unsupported => {
            assert!(
                !kernel::pidfs() || cfg!(not(target_pointer_width = "64")),
                "pidfs is here, yet identity is unsupported: {error}"
            );
            emulator::skip("identity: no pidfs (Linux 6.9+, 64-bit) here");
        }
        result => {
            let identity = result.unwrap();
            assert_eq!(identity, reference.identity().unwrap());
            assert_ne!(identity, b.identity().unwrap());
            assert!(a.is_same_process(&a).unwrap());
            assert!(!a.is_same_process(&b).unwrap());
            let mut set = std::collections::HashSet::new();
            assert!(set.insert(identity));
            assert!(!set.insert(reference.identity().unwrap()), "hashes alike");
        }
    }
    a.kill().unwrap();
    a.wait().unwrap();
    assert_eq!(
        a.identity().unwrap_err().raw_os_error(),
        Some(libc::ESRCH),
        "reaped: refused, not another's"
    );
    b.kill().unwrap();
    b.wait().unwrap();
}

#[test]
fn a_cloned_pidfd_outlives_the_handle_and_info_and_get_fd_use_the_childs_own() {
    if !pidfd_tests::pidfds_or_skip() {
        return;
    }
    // The child holds one end of a pipe on its stdout; getfd must hand us that very pipe.
    let (mut reader, writer) = std::io::pipe().unwrap();
    let child = Spawn::new("sh")
        .args(["-c", "echo from-the-child; exec sleep 30"])
        .stdout(Stdio::from(writer))
        .spawn()
        .unwrap();
    if child.mode() == Mode::Pid {
        emulator::skip("try_clone_pidfd: Spawn gave pid mode here (no CLONE_PIDFD)");
        child.kill().unwrap();
        child.wait().unwrap();
        return;
    }
    // The child has run its echo (so it has its stdout) before we go on.
    let mut first = [0_u8; 15];
    reader.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"from-the-child\n");
    let clone = child.try_clone_pidfd().unwrap();
    assert!(clone.as_raw_fd() >= 3);
    match child.info() {
        Ok(info) => assert_eq!(info.pid, child.pid()),
        Err(error) if error.kind() == ErrorKind::Unsupported => {
            emulator::skip("Process::info: no PIDFD_GET_INFO (Linux 6.13+) here");
        }
        Err(error) => panic!("info: {error}"),
    }
    let wrote_via_getfd = match child.get_fd(1) {
        Ok(stdout) => {
            // Our reader sees what is written through the child's fd 1, fetched by getfd.
            let mut file = std::fs::File::from(stdout);
            std::io::Write::write_all(&mut file, b"via-getfd\n").unwrap();
            drop(file);
            true
        }
        Err(error) if error.raw_os_error() == Some(libc::EPERM) => {
            emulator::skip("Process::get_fd: ptrace access refused (yama or a sandbox)");
            false
        }
        Err(error) if error.kind() == ErrorKind::Unsupported => {
            emulator::skip("Process::get_fd: no pidfd_getfd (Linux 5.6+) here");
            false
        }
        Err(error) => panic!("get_fd: {error}"),
    };
    let process = child.into_process();
    process.release();
    // The handle is gone; the clone still names the child (alive: signal 0 works).
    clone.send_signal(0).unwrap();
    clone.kill().unwrap();
    assert_eq!(clone.wait().unwrap().signal(), Some(SIGKILL));
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    // Exactly what went through the fd fetched from the child, and nothing else.
    let expected = if wrote_via_getfd { "via-getfd\n" } else { "" };
    assert_eq!(text, expected);
}
