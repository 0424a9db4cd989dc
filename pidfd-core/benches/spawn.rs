//! Spawn + wait of `/bin/true`: `pidfd_core::Spawn` against std's `Command` (posix_spawn
//! path), std's `Command` with an empty `pre_exec` (fork path), in one run, interleaved.
//!
//! Run: `cargo bench -p pidfd-core --bench spawn`. Prints medians per spawn+wait and ratios.
//! (The full matrix of the Spawn issue — a static no-op built by the bench, raw fork/vfork
//! baselines, 1 and 4 GiB parents — is still to come.)

#![allow(unsafe_code, reason = "std's pre_exec, to force its fork path")]
#![allow(clippy::print_stdout, reason = "a benchmark report")]

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Instant;

use pidfd_core::Spawn;

const ROUNDS: usize = 1000;
const PROGRAM: &str = "/bin/true";

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn micros(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64() * 1e6
}

fn main() {
    let spawn = Spawn::new(PROGRAM);
    let mut bare = Spawn::new(PROGRAM);
    bare.env_clear();
    let (mut ours, mut std_spawn, mut std_fork) = (Vec::new(), Vec::new(), Vec::new());
    let mut ours_bare = Vec::new();
    for _ in 0..ROUNDS {
        ours.push(micros(|| {
            spawn.spawn().expect("Spawn").wait().expect("wait");
        }));
        ours_bare.push(micros(|| {
            bare.spawn().expect("Spawn").wait().expect("wait");
        }));
        std_spawn.push(micros(|| {
            Command::new(PROGRAM).status().expect("std spawn");
        }));
        std_fork.push(micros(|| {
            let mut command = Command::new(PROGRAM);
            // SAFETY: the hook does nothing; it only makes std take its fork path.
            unsafe { command.pre_exec(|| Ok(())) };
            command.status().expect("std fork");
        }));
    }
    let (ours, std_spawn, std_fork) = (median(ours), median(std_spawn), median(std_fork));
    let ours_bare = median(ours_bare);
    println!("spawn + wait of {PROGRAM}, median of {ROUNDS} (interleaved):");
    println!(
        "  pidfd_core::Spawn ({})  {ours:8.1} us  1.00x",
        Spawn::strategy().unwrap_or("?")
    );
    println!(
        "  pidfd_core::Spawn, env_clear()      {ours_bare:8.1} us  {:.2}x  (empty child env: exec cost, not spawn cost)",
        ours_bare / ours
    );
    println!(
        "  std Command (posix_spawn path)      {std_spawn:8.1} us  {:.2}x",
        std_spawn / ours
    );
    println!(
        "  std Command + pre_exec (fork path)  {std_fork:8.1} us  {:.2}x",
        std_fork / ours
    );
}
