//! Spawn + wait of a static no-op (`--static-noop PATH`, built by `cargo xtask bench`) and
//! of `/bin/true`: std's `Command` with `create_pidfd(true)` and a `pidfd()` call, and
//! `spawn_with_pidfd`, against std's `Command` with an empty `pre_exec` hook (the same `fork`
//! path: any hook makes std fork instead of `posix_spawn`) and plain std `Command`
//! (`posix_spawn`).
//!
//! Each round runs every variant once, in a fresh random order (a tiny xorshift shuffle), so
//! that drift and copy-on-write effects spread evenly; the report gives medians and ratios,
//! and whether `create_pidfd` stays within 1.15x and `spawn_with_pidfd` within 1.10x of the
//! std fork path.
//!
//! Run: `cargo xtask bench create_pidfd [--rounds N]` (default 1000), or
//! `cargo bench -p pidfd-std-ext --bench create_pidfd [-- --rounds N --static-noop PATH]`.

#![allow(unsafe_code, reason = "std's pre_exec for the fork-path baseline")]
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark report"
)]

use std::hint::black_box;
use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::time::Instant;

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

/// `--rounds N` and `--static-noop PATH`.
fn parse_options() -> Result<(usize, Option<String>), String> {
    let mut rounds = 1000;
    let mut static_noop = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => {
                rounds = args
                    .next()
                    .ok_or("--rounds needs a value")?
                    .parse()
                    .map_err(|e| format!("--rounds: {e}"))?;
            }
            "--static-noop" => static_noop = Some(args.next().ok_or("--static-noop needs a path")?),
            "--bench" => {} // passed by `cargo bench`
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if rounds == 0 {
        return Err("--rounds must be at least 1".to_owned());
    }
    Ok((rounds, static_noop))
}

/// xorshift64: enough randomness to shuffle four variants.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn shuffle(order: &mut [usize], state: &mut u64) {
    for i in (1..order.len()).rev() {
        let bound = u64::try_from(i + 1).expect("small");
        let j = usize::try_from(next(state) % bound).expect("small");
        order.swap(i, j);
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let (rounds, static_noop) = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("create_pidfd bench: {message}");
            std::process::exit(2);
        }
    };
    let mut programs: Vec<String> = static_noop.into_iter().collect();
    if programs.is_empty() {
        eprintln!("create_pidfd bench: no --static-noop PATH (cargo xtask bench builds one)");
    }
    programs.push("/bin/true".to_owned());
    for program in &programs {
        bench(program, rounds);
    }
}

/// One way to spawn + wait `program`.
type Variant = fn(&str);

fn bench(program: &str, rounds: usize) {
    let variants: [(&str, Variant); 4] = [
        ("std Command (posix_spawn)", plain),
        ("std Command + empty pre_exec (fork)", empty_pre_exec),
        ("create_pidfd(true) + pidfd()", with_pidfd),
        ("spawn_with_pidfd", exact),
    ];
    for _ in 0..WARM_UP {
        for (_, run) in &variants {
            run(program);
        }
    }
    let mut samples = vec![Vec::with_capacity(rounds); variants.len()];
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut order: Vec<usize> = (0..variants.len()).collect();
    for _ in 0..rounds {
        shuffle(&mut order, &mut state);
        for &index in &order {
            let start = Instant::now();
            (variants[index].1)(program);
            samples[index].push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    println!("\nspawn + wait of {program}, {rounds} rounds, interleaved:");
    println!("{:<40} {:>12}", "variant", "median (µs)");
    for ((name, _), median) in variants.iter().zip(&medians) {
        println!("{name:<40} {median:>12.1}");
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
