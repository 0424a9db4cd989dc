//! Project chores, run as `cargo xtask <task>` (see `.cargo/config.toml`).
//!
//! * `check-arches [--targets a,b] [--list]` — compile `pidfd-sys` for every Linux ABI Rust
//!   targets, so its compile-time layout and number checks run on each.
//! * `test-arches [--targets a,b] [--list] [--install] [--qemu-dir DIR]` — run the test suites for foreign
//!   architectures (i686 natively, the rest under qemu-user), emulator gaps counted as skips.
//! * `fuzz [--smoke] [--seed-corpus]` — run every cargo-fuzz target for a bounded time (or
//!   regenerate the committed seed corpus).
//! * `bench [signal|spawn|create_pidfd|reap|tree|output|async] [options]` — run the benchmarks of the
//!   `pidfd-benches` crate (ratios against baselines).
//! * `errata` — print the upstream (`libc`, `linux-raw-sys`) errors `pidfd-sys` works around.
//!
//! Depends on nothing but std and `pidfd-sys` (for its tables): it is built before every task.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool"
)]

mod bench;
mod check_arches;
mod cmd;
mod fuzz;
mod noop;
mod targets;
mod test_arches;

use std::process::ExitCode;

const HELP: &str = "\
usage: cargo xtask <task> [options]

tasks:
  check-arches [--targets T1,T2] [--list]
      Compile pidfd-sys for every Linux target in the matrix (tier 2 with rustup's std,
      tier 3 with nightly -Zbuild-std=core) with --cfg pidfd_check_upstream, so the
      compile-time layout/number assertions and the libc/linux-raw-sys cross-checks run on
      each. Installs the rustup targets and nightly rust-src it needs (and says so).
      Prints a table and exits non-zero if any target fails.
  test-arches [--targets T1,T2] [--list] [--install] [--qemu-dir DIR]
      Build and run every crate's tests (but xtask's) for foreign targets: i686 natively,
      aarch64, armv7, riscv64gc, powerpc, powerpc64, powerpc64le, s390x under qemu-user
      (stable), mips, mipsel, mips64, mips64el, sparc64 under qemu-user (nightly
      -Zbuild-std); x32, loongarch64, riscv32, csky, hexagon, m68k compile-only
      (check-arches). Documented emulator gaps are counted skips with reasons. Names what
      is missing (Debian packages, rustup targets, nightly rust-src); --install installs it.
      --qemu-dir DIR (or PIDFD_QEMU_DIR) takes qemu-<arch> from DIR instead of PATH, e.g.
      bookworm-backports' qemu-user 10.x unpacked beside the system's 7.2.
  fuzz [--smoke] [--seconds N] [--targets a,b] [--install] [--seed-corpus]
      Run every cargo-fuzz target in fuzz/ (the pinned nightly, .ci/nightly-toolchain) for N
      seconds each (--smoke: 20 s), from the seed corpus committed in fuzz/corpus;
      fails on a crash. Needs cargo-fuzz (--install installs it).
  bench [signal|spawn|create_pidfd|reap|tree|output|async] [options]
      Run the benchmarks of the pidfd-benches crate (benches/; all without a name) with
      cargo bench; each prints medians and ratios against std, raw-syscall and (reap, async)
      tokio baselines measured in the same run. The spawn and async benchmarks exec a static
      no-op built here (cc -nostdlib). spawn takes --rounds N (default 1000), --parents
      small,1g,4g and --programs static,true; create_pidfd takes --rounds N; reap takes
      --sizes 10,100,1000,4000; async takes --rounds N (default 1000) and --children N
      (default 1000).
  errata
      List the known libc / linux-raw-sys errors pidfd-sys works around.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("check-arches") => check_arches::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("test-arches") => test_arches::run_task(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("errata") => {
            print_errata();
            Ok(())
        }
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_errata() {
    for erratum in pidfd_sys::errata::ERRATA {
        println!("{} on {}:", erratum.krate, erratum.targets);
        println!("  {}", erratum.what);
        println!("  pidfd-sys uses: {}\n", erratum.instead);
    }
}
