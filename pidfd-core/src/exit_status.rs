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

/// What a reaping `waitid` returned, kept whether or not it decodes. Once a child is reaped
/// its status can never be read again, so the raw `siginfo_t` is stored (and the handle
/// marked done) *before* decoding: a status with no `ExitStatus` encoding (mips: killed by
/// signal 127 or 128) is reported as the same clear error by every later wait, instead of
/// being lost with the handle still looking alive.
#[derive(Clone, Debug)]
pub(crate) enum Reaped {
    /// The status, decoded.
    Status(ExitStatus),
    /// The raw `siginfo_t` of a reaped child whose status does not decode (boxed: rare, and
    /// 128 bytes that every [`crate::Process`] would otherwise carry).
    Undecodable(Box<siginfo_t>),
    /// Our child, reaped by someone else (pid mode: `waitid` said `ECHILD`); its status is
    /// gone. Every later wait reports `ECHILD`.
    Lost,
}

impl Reaped {
    /// From the `siginfo_t` of a reaping `waitid`; `None` when nothing was reaped (`WNOHANG`).
    pub(crate) fn from_siginfo(info: &siginfo_t) -> Option<Reaped> {
        match info.child_status() {
            Ok(None) => None,
            Ok(Some(status)) => Some(
                from_child_status(status)
                    .map_or(Reaped::Undecodable(Box::new(*info)), Reaped::Status),
            ),
            Err(_) => Some(Reaped::Undecodable(Box::new(*info))),
        }
    }

    /// The exit status, or (every time) an `InvalidData` error saying the child was reaped
    /// but its status has no `ExitStatus` form, with the raw fields.
    pub(crate) fn status(&self) -> io::Result<ExitStatus> {
        match self {
            Reaped::Status(status) => Ok(*status),
            Reaped::Lost => Err(io::Error::from_raw_os_error(libc::ECHILD)),
            Reaped::Undecodable(info) => {
                let why = match info.child_status() {
                    Err(error) => error.to_string(),
                    Ok(Some(status)) => format!("{status:?} has no wait-status encoding"),
                    Ok(None) => "no child state".to_owned(),
                };
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the child was reaped, but its status cannot be expressed as an \
                         ExitStatus ({why}; raw {info:?})"
                    ),
                ))
            }
        }
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

/// Test data for the state layer.
#[cfg(test)]
pub(crate) mod test_data {
    use pidfd_sys::siginfo_t;

    /// A siginfo that says "SIGCHLD, CLD_KILLED by signal `signal`" in this ABI's layout.
    pub(crate) fn killed_by(signal: i32) -> siginfo_t {
        let mut bytes = [0_u8; 128];
        bytes[..4].copy_from_slice(&pidfd_sys::signal::SIGCHLD.to_ne_bytes());
        // si_code: at 8 in the generic order, at 4 on mips (the other slot is si_errno).
        bytes[4..8].copy_from_slice(&pidfd_sys::cld::KILLED.to_ne_bytes());
        bytes[8..12].copy_from_slice(&pidfd_sys::cld::KILLED.to_ne_bytes());
        // _sigchld: si_pid, si_uid, si_status after the header (16 bytes on LP64, else 12).
        let header = if size_of::<usize>() == 8 { 16 } else { 12 };
        bytes[header..header + 4].copy_from_slice(&4242_i32.to_ne_bytes());
        bytes[header + 8..header + 12].copy_from_slice(&signal.to_ne_bytes());
        siginfo_t::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::test_data::killed_by;
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
    fn an_undecodable_reap_is_kept_and_reported_every_time() {
        // Nothing reaped (WNOHANG): nothing to keep.
        assert!(Reaped::from_siginfo(&siginfo_t::zeroed()).is_none());
        let ok = Reaped::from_siginfo(&killed_by(SIGKILL)).unwrap();
        assert_eq!(ok.status().unwrap().signal(), Some(SIGKILL));
        // Signal 127 has no wait-status encoding (only mips can report it): the reap is
        // still recorded, and its status is a clear error on every read.
        let reaped = Reaped::from_siginfo(&killed_by(127)).expect("a child was reaped");
        assert!(matches!(reaped, Reaped::Undecodable(_)));
        for _ in 0..2 {
            let error = reaped.status().unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            let text = error.to_string();
            assert!(text.contains("the child was reaped"), "{text}");
            assert!(text.contains("127"), "{text}");
        }
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
