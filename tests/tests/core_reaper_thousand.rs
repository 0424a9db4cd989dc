//! `pidfd_core::Reaper` with a thousand children exiting in random order: each reported
//! once, with its own status. In a binary of its own so that it cannot starve the
//! timing-sensitive tests of `core_reaper` (which run on parallel threads of one binary).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use pidfd_core::{Exit, Reaper, Watched};
use pidfd_tests::{raise_nofile, spawn_sh};

/// The long wait for exits that must come.
const PATIENCE: Duration = Duration::from_secs(60);

fn code(exit: &Exit<impl Sized>) -> Option<i32> {
    exit.status.and_then(|status| status.code())
}

#[test]
fn a_thousand_children_are_each_reported_once_with_their_status() {
    let limit = raise_nofile();
    // One fd per child (the Process's pidfd, which the reaper registers itself), plus
    // headroom.
    let wanted: u64 = 1000;
    let count = wanted.min(limit.saturating_sub(100));
    if count < wanted {
        pidfd_tests::emulator::skip(&format!(
            "RLIMIT_NOFILE hard limit {limit}: only {count} of {wanted} children"
        ));
    }
    let count = usize::try_from(count).unwrap();
    let mut reaper = Reaper::new().unwrap();
    let mut expected = HashMap::new();
    let mut seed: u32 = 0x9e37_79b9;
    for i in 0..count {
        // xorshift: delays of 0-99 ms in random order.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let delay = seed % 100;
        let exit_code = i32::try_from(i % 256).unwrap();
        let Some(process) = spawn_sh(&format!("sleep 0.{delay:03}; exit {exit_code}")) else {
            return;
        };
        let key = reaper.add(process, (i, exit_code)).unwrap();
        expected.insert(key, (i, exit_code));
    }
    assert_eq!(reaper.len(), count);
    let mut seen = vec![false; count];
    let deadline = Instant::now() + PATIENCE;
    while !reaper.is_empty() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let exit = reaper
            .next_exit(Some(remaining))
            .unwrap()
            .unwrap_or_else(|| panic!("{} exits missing after {PATIENCE:?}", reaper.len()));
        let (i, exit_code) = exit.token;
        assert_eq!(
            expected.remove(&exit.key),
            Some(exit.token),
            "key and token"
        );
        assert!(!seen[i], "child {i} reported twice");
        seen[i] = true;
        assert_eq!(code(&exit), Some(exit_code), "child {i}");
        let Watched::Process(process) = &exit.watched else {
            panic!("added as a Process")
        };
        // Reaped: the handle has the status cached and refuses to signal.
        assert_eq!(process.try_wait().unwrap(), exit.status);
        assert_eq!(
            process.kill().unwrap_err().raw_os_error(),
            Some(libc::ESRCH)
        );
    }
    assert!(seen.iter().all(|&seen| seen));
    assert!(expected.is_empty());
    assert!(reaper.try_next_exit().unwrap().is_none());
}
