//! `Spawn::output()` against std's `Command::output()`, and the cost of `kill_on_drop`:
//! issue 17's targets, measured in one run on the same programs.
//!
//! Programs: the static no-op (`--static-noop PATH`, built by `cargo xtask bench`) and
//! `/bin/echo hi` (a dynamically linked program that writes). For each: median time per
//! `output()` of each variant over `--rounds N` interleaved rounds (default 1000), and the
//! ratios. Also spawn + wait with and without `kill_on_drop` (stdio inherited: the guard's
//! cost alone).
//!
//! Targets: `Spawn::output()` <= 0.85x std's `Command::output()`; `kill_on_drop` adds
//! <= 5 % to spawn + wait.

#![allow(clippy::print_stdout, reason = "a benchmark report")]

use std::process::Command;

use pidfd_benches::{Variant, interleaved_medians, options_or_exit, rounds_and_static_noop};
use pidfd_core::Spawn;

const WARM_UP: usize = 20;
const TARGET_OUTPUT: f64 = 0.85;
const TARGET_KILL_ON_DROP: f64 = 1.05;

fn std_output(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .expect("std output");
    assert!(output.status.success());
}

fn our_output(program: &str, args: &[&str]) {
    let output = Spawn::new(program)
        .args(args)
        .output()
        .expect("Spawn output");
    assert!(output.status.success());
}

fn spawn_wait(program: &str, kill_on_drop: bool) {
    let child = Spawn::new(program)
        .kill_on_drop(kill_on_drop)
        .spawn()
        .expect("spawn");
    assert!(child.wait().expect("wait").success());
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn main() {
    let (rounds, static_noop) = options_or_exit("output", rounds_and_static_noop(1000));
    let mut programs: Vec<(String, Vec<&str>)> = Vec::new();
    match static_noop {
        Some(noop) => programs.push((noop, Vec::new())),
        None => eprintln!("output bench: no --static-noop PATH (cargo xtask bench builds one)"),
    }
    programs.push(("/bin/echo".to_owned(), vec!["hi"]));
    for (program, args) in &programs {
        let run_std = || std_output(program, args);
        let run_ours = || our_output(program, args);
        let run_plain = || spawn_wait(program, false);
        let run_guarded = || spawn_wait(program, true);
        let variants = [
            Variant::new("std Command::output", &run_std),
            Variant::new("Spawn::output", &run_ours),
            Variant::new("Spawn::spawn + wait", &run_plain),
            Variant::new("Spawn::spawn + wait, kill_on_drop", &run_guarded),
        ];
        let medians = interleaved_medians(rounds, WARM_UP, &variants);
        let shown = if args.is_empty() {
            program.clone()
        } else {
            format!("{program} {}", args.join(" "))
        };
        println!("\n{shown}, {rounds} rounds, interleaved:");
        println!("{:<40} {:>12}", "variant", "median (µs)");
        for (variant, median) in variants.iter().zip(&medians) {
            println!("{:<40} {median:>12.1}", variant.name);
        }
        let output_ratio = medians[1] / medians[0];
        let guard_ratio = medians[3] / medians[2];
        println!("Spawn::output / std output:        {output_ratio:.3}x");
        println!("kill_on_drop / plain spawn + wait: {guard_ratio:.3}x");
        println!(
            "target Spawn::output <= {TARGET_OUTPUT:.2}x std: {}",
            verdict(output_ratio <= TARGET_OUTPUT)
        );
        println!(
            "target kill_on_drop <= {TARGET_KILL_ON_DROP:.2}x: {}",
            verdict(guard_ratio <= TARGET_KILL_ON_DROP)
        );
    }
}
