//! Unit tests of [`Process`] that need no child: the type, a recorded undecodable reap,
//! invalid PIDs.

use super::*;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn process_is_send_and_sync() {
    assert_send_sync::<Process>();
}

#[test]
fn an_undecodable_reaped_status_is_kept_and_never_followed_by_a_kill() {
    // pid 1 is never our child: were `signal` to call kill(1, 0) it would succeed (root)
    // or fail with EPERM — never ESRCH.
    let process = Process::pid_mode(1, false);
    let info = crate::exit_status::test_data::killed_by(127);
    // What reap_now records when the reaping waitid returned signal 127 (mips).
    *write(&process.status) = Reaped::from_siginfo(&info).map(|reaped| Reap {
        reaped,
        usage: None,
    });
    for _ in 0..2 {
        for result in [process.wait().map(Some), process.try_wait()] {
            let error = result.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            assert!(error.to_string().contains("reaped"), "{error}");
        }
        let timed = process.wait_timeout(Duration::from_millis(1)).unwrap_err();
        assert_eq!(timed.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            process.send_signal(0).unwrap_err().raw_os_error(),
            Some(libc::ESRCH),
            "done: no kill after the reap"
        );
    }
    process.release();
    assert_eq!(
        process.wait().unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
}

#[test]
fn invalid_pids_are_refused_in_both_modes() {
    for mode in [Mode::PidFd, Mode::Pid] {
        for pid in [0, 1 << 31, u32::MAX] {
            let error = Process::with_mode(pid, mode).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{mode:?} {pid}");
        }
    }
}
