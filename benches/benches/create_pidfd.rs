//! Spawn + wait of a static no-op (`--static-noop PATH`, built by `cargo xtask bench`) and
//! of `/bin/true`: std's `Command` with `create_pidfd(true)` and a `pidfd()` call, and
//! `spawn_with_pidfd`, against std's `Command` with an empty `pre_exec` hook (the same `fork`
//! path: any hook makes std fork instead of `posix_spawn`) and plain std `Command`
//! (`posix_spawn`).
//!
//! Each round runs every variant once, in a fresh random order (`interleaved_medians` of the
//! benches crate), so that drift and copy-on-write effects spread evenly; the report gives
//! medians and ratios, and whether `create_pidfd` stays within 1.15x and `spawn_with_pidfd`
//! within 1.10x of the std fork path.
//!
//! Run: `cargo xtask bench create_pidfd [--rounds N]` (default 1000), or
//! `cargo bench -p pidfd-benches --bench create_pidfd [-- --rounds N --static-noop PATH]`.

#![allow(unsafe_code, reason = "std's pre_exec for the fork-path baseline")]
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark report"
)]

use std::hint::black_box;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use pidfd_benches::{Variant, interleaved_medians, options_or_exit, rounds_and_static_noop};
use pidfd_std_ext::{ChildExt, CommandExt};

/// The targets: `create_pidfd(true)` + `pidfd()` and `spawn_with_pidfd` over std's fork path.
const TARGET_CREATE: f64 = 1.15;
const TARGET_EXACT: f64 = 1.10;
const WARM_UP: usize = 20;

fn plain(program: &str) {
    let status = Command::new(program).status().expect("spawn");
    assert!(status.success());
}

fn empty_pre_exec(program: &str) {
    let mut command = Command::new(program);
    // SAFETY: the hook does nothing at all, which is async-signal-safe.
    unsafe { command.pre_exec(|| Ok(())) };
    let status = command.status().expect("spawn");
    assert!(status.success());
}

fn with_pidfd(program: &str) {
    let mut command = Command::new(program);
    command.create_pidfd(true);
    let mut child = command.spawn().expect("spawn");
    let pidfd = child.pidfd().expect("pidfd");
    black_box(&pidfd);
    let status = child.wait().expect("wait");
    assert!(status.success());
    drop(pidfd);
    drop(command);
}

fn exact(program: &str) {
    let mut command = Command::new(program);
    let (mut child, pidfd) = command.spawn_with_pidfd().expect("spawn_with_pidfd");
    black_box(&pidfd);
    let status = child.wait().expect("wait");
    assert!(status.success());
    drop(pidfd);
    drop(command);
}

fn main() {
    let (rounds, static_noop) = options_or_exit("create_pidfd", rounds_and_static_noop(1000));
    let mut programs: Vec<String> = static_noop.into_iter().collect();
    if programs.is_empty() {
        eprintln!("create_pidfd bench: no --static-noop PATH (cargo xtask bench builds one)");
    }
    programs.push("/bin/true".to_owned());
    for program in &programs {
        bench(program, rounds);
    }
}

fn bench(program: &str, rounds: usize) {
    let (run_plain, run_fork) = (|| plain(program), || empty_pre_exec(program));
    let (run_with_pidfd, run_exact) = (|| with_pidfd(program), || exact(program));
    let variants = [
        Variant::new("std Command (posix_spawn)", &run_plain),
        Variant::new("std Command + empty pre_exec (fork)", &run_fork),
        Variant::new("create_pidfd(true) + pidfd()", &run_with_pidfd),
        Variant::new("spawn_with_pidfd", &run_exact),
    ];
    let medians = interleaved_medians(rounds, WARM_UP, &variants);
    println!("\nspawn + wait of {program}, {rounds} rounds, interleaved:");
    println!("{:<40} {:>12}", "variant", "median (µs)");
    for (variant, median) in variants.iter().zip(&medians) {
        println!("{:<40} {median:>12.1}", variant.name);
    }
    let (plain, fork, ours, exact) = (medians[0], medians[1], medians[2], medians[3]);
    println!("create_pidfd / std fork path:     {:.3}x", ours / fork);
    println!("create_pidfd / std posix_spawn:   {:.3}x", ours / plain);
    println!("spawn_with_pidfd / std fork path: {:.3}x", exact / fork);
    println!("spawn_with_pidfd / posix_spawn:   {:.3}x", exact / plain);
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!(
        "target create_pidfd <= {TARGET_CREATE:.2}x the std fork path: {}",
        verdict(ours / fork <= TARGET_CREATE)
    );
    println!(
        "target spawn_with_pidfd <= {TARGET_EXACT:.2}x the std fork path: {}",
        verdict(exact / fork <= TARGET_EXACT)
    );
}
