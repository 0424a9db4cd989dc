//! Making the kernel hand a chosen PID to a new process, for PID-reuse tests.
//!
//! Root writes `/proc/sys/kernel/ns_last_pid` and the next fork in this PID namespace gets
//! the number after it — unless another fork comes first. Tests of one binary run on
//! parallel threads, so a test that steers PIDs holds [`exclusive`] and every test of the
//! same binary that starts processes holds [`shared`]; other processes on the machine are
//! outlasted by retrying.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

const NS_LAST_PID: &str = "/proc/sys/kernel/ns_last_pid";

/// How often [`start_with_pid`] tries before giving up.
const TRIES: u32 = 500;

static GATE: RwLock<()> = RwLock::new(());

/// Held by a test that starts processes while no PID is being steered in this binary.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    // A poisoned gate only means another test failed; the lock itself is fine.
    GATE.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Held by a test that steers PIDs: no other test of this binary starts processes meanwhile.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    GATE.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts processes with `start` (which returns the new PID and a handle) until one gets
/// PID `pid`, handing each wrong one to `discard` (which must kill and reap it).
///
/// # Panics
///
/// If `ns_last_pid` cannot be written (not root) or the PID did not come back after
/// 500 tries.
pub fn start_with_pid<C>(
    pid: u32,
    mut start: impl FnMut() -> (u32, C),
    mut discard: impl FnMut(C),
) -> C {
    for _ in 0..TRIES {
        std::fs::write(NS_LAST_PID, format!("{}", pid - 1))
            .unwrap_or_else(|error| panic!("cannot write {NS_LAST_PID} (needs root): {error}"));
        let (got, child) = start();
        if got == pid {
            return child;
        }
        discard(child);
    }
    panic!("could not get PID {pid} back after {TRIES} tries");
}
