//! From a decoded `waitid(2)` result to `std::process::ExitStatus` (pure).

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use pidfd_sys::child_status::ChildStatus;
use pidfd_sys::siginfo_t;

/// The `ExitStatus` for a child-state change, or `None` when `waitid` found nothing
/// (`WNOHANG`). Kernel output that does not decode is an `InvalidData` error, never a made-up
/// status.
pub(crate) fn from_siginfo(info: &siginfo_t) -> io::Result<Option<ExitStatus>> {
    match info.child_status() {
        Ok(None) => Ok(None),
        Ok(Some(status)) => from_child_status(status).map(Some),
        Err(error) => Err(io::Error::new(io::ErrorKind::InvalidData, error)),
    }
}

/// The `ExitStatus` for a decoded child status.
pub(crate) fn from_child_status(status: ChildStatus) -> io::Result<ExitStatus> {
    let raw = status.to_wait_status().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{status:?} has no wait-status encoding"),
        )
    })?;
    Ok(ExitStatus::from_raw(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pidfd_sys::signal::{SIGCONT, SIGKILL, SIGSTOP};

    #[test]
    fn exit_statuses_look_like_std_ones() {
        let exited = from_child_status(ChildStatus::Exited(42)).unwrap();
        assert_eq!(exited.code(), Some(42));
        let killed = from_child_status(ChildStatus::Killed(SIGKILL)).unwrap();
        assert_eq!((killed.code(), killed.signal()), (None, Some(SIGKILL)));
        assert!(!killed.core_dumped());
        let dumped = from_child_status(ChildStatus::Dumped(6)).unwrap();
        assert!(dumped.core_dumped());
        let stopped = from_child_status(ChildStatus::Stopped(SIGSTOP)).unwrap();
        assert_eq!(stopped.stopped_signal(), Some(SIGSTOP));
        assert!(
            from_child_status(ChildStatus::Continued(SIGCONT))
                .unwrap()
                .continued()
        );
    }

    #[test]
    fn garbage_is_invalid_data() {
        let mut bytes = [0_u8; 128];
        bytes[..4].copy_from_slice(&pidfd_sys::signal::SIGCHLD.to_ne_bytes());
        bytes[4 * 2..4 * 3].copy_from_slice(&77_i32.to_ne_bytes()); // si_code 77, generic order
        bytes[4..8].copy_from_slice(&77_i32.to_ne_bytes()); // (and in the mips slot)
        let info = siginfo_t::from_bytes(&bytes);
        assert_eq!(
            from_siginfo(&info).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            from_child_status(ChildStatus::Killed(127))
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidData
        );
    }
}
