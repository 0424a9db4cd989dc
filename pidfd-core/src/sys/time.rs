//! Timeouts and deadlines, as every wait loop of the workspace computes them.

use std::time::{Duration, Instant};

/// With pid-mode processes (no pidfd to poll), how long one wait may block before their
/// state is checked again (in case `SIGCHLD` went to a thread that does not block it, and
/// never reached a signalfd). Used by the [`Reaper`](crate::Reaper) and the `prun` tool.
pub const PID_MODE_RECHECK: Duration = Duration::from_millis(50);

/// The pause between two checks of a child that cannot be waited for by blocking: a wait
/// with a timeout in pid mode, or a pidfd that is readable but whose child cannot be reaped
/// yet (a traced child's zombie, until its tracer waited).
pub const WAIT_BACK_OFF: Duration = Duration::from_millis(5);

/// Sleeps [`WAIT_BACK_OFF`], or `timeout` if that is shorter.
pub fn back_off(timeout: Duration) {
    std::thread::sleep(timeout.min(WAIT_BACK_OFF));
}

/// A timeout for `poll(2)`/`epoll_wait(2)`: whole milliseconds rounded up (so a wait never
/// ends early), `-1` for none (`None`), saturated at `c_int::MAX`.
pub fn timeout_millis(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(timeout) => {
            let ceil = timeout.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ceil).unwrap_or(libc::c_int::MAX)
        }
    }
}

/// The end of a wait of `timeout` from now (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// `timeout` from now; `None`, or a deadline too far to represent, is no limit.
    pub fn after(timeout: Option<Duration>) -> Deadline {
        Deadline(timeout.and_then(|timeout| Instant::now().checked_add(timeout)))
    }

    /// The time left (zero once passed); `None` when there is no limit.
    pub fn remaining(self) -> Option<Duration> {
        self.0
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }
}

/// `wait` (`None`: no limit) capped at `cap`: the wait of a loop that must look again every
/// `cap` at the most.
pub fn capped(wait: Option<Duration>, cap: Duration) -> Option<Duration> {
    Some(wait.map_or(cap, |wait| wait.min(cap)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_rounds_up() {
        assert_eq!(timeout_millis(None), -1);
        assert_eq!(timeout_millis(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_millis(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_millis(Some(Duration::from_micros(1500))), 2);
        assert_eq!(
            timeout_millis(Some(Duration::from_secs(u64::MAX))),
            libc::c_int::MAX
        );
    }

    #[test]
    fn deadlines() {
        assert_eq!(Deadline::after(None).remaining(), None);
        assert_eq!(Deadline::after(Some(Duration::MAX)).remaining(), None);
        assert_eq!(
            Deadline::after(Some(Duration::ZERO)).remaining(),
            Some(Duration::ZERO)
        );
        assert_eq!(
            capped(None, Duration::from_millis(5)),
            Some(Duration::from_millis(5))
        );
        assert_eq!(
            capped(Some(Duration::from_millis(1)), Duration::from_millis(5)),
            Some(Duration::from_millis(1))
        );
    }
}
