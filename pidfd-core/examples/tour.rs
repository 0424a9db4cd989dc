//! A tour of `pidfd-core` on the running kernel: what it supports, children started with
//! `Spawn` and reported through one `Reaper` in the order they exit, and why a signal sent
//! through a handle can never reach a recycled PID.
//!
//! ```text
//! cargo run -p pidfd-core --example tour
//! PIDFD_DISABLE=1 cargo run -p pidfd-core --example tour    # the same in pid mode
//! ```

#![allow(clippy::print_stdout, reason = "a command-line demo")]

use std::time::{Duration, Instant};

use pidfd_core::{Reaper, Spawn, probe};

fn main() -> std::io::Result<()> {
    // 1. What this kernel allows (probed once, cached; PIDFD_DISABLE=1 turns pidfds off).
    let features = probe::features()?;
    println!(
        "kernel: pidfd mode {}, waitid(P_PIDFD) {}, PIDFD_GET_INFO {}",
        yes(features.pidfd_mode()),
        yes(features.waitid_pidfd),
        yes(features.get_info)
    );

    // 2. Four children, started in order 0..4 but finishing in reverse, all watched by one
    //    epoll-backed Reaper: each exit is reported once, as it happens, already reaped.
    let started = Instant::now();
    let mut reaper = Reaper::new()?;
    for i in 0..4_u32 {
        let script = format!("sleep 0.{}; exit {i}", 8 - 2 * i);
        let process = Spawn::new("sh")
            .args(["-c", &script])
            .spawn()?
            .into_process();
        println!(
            "started child {i}: pid {} ({:?} mode)",
            process.pid(),
            process.mode()
        );
        reaper.add(process, i)?;
    }
    println!(
        "spawn strategy: {}",
        Spawn::strategy().unwrap_or("(none yet)")
    );
    while let Some(exit) = reaper.next_exit(None)? {
        println!(
            "  {:>5} ms  child {} exited: {:?}",
            started.elapsed().as_millis(),
            exit.token,
            exit.status.and_then(|status| status.code())
        );
    }

    // 3. A handle never signals a recycled PID: once the child is reaped, every signal
    //    through it fails with ESRCH instead of reaching whoever got the number next.
    let sleeper = Spawn::new("sleep").arg("30").spawn()?;
    assert_eq!(sleeper.wait_timeout(Duration::from_millis(100))?, None);
    sleeper.kill()?;
    println!("sleep 30, killed through its handle: {}", sleeper.wait()?);
    let again = sleeper.kill().expect_err("reaped: nothing to signal");
    println!("signalling it again after the reap: {again} — never another process");
    Ok(())
}

fn yes(supported: bool) -> &'static str {
    if supported { "yes" } else { "no" }
}
