//! The measuring code the benchmarks in `benches/benches/` share: medians, a small
//! deterministic shuffle, interleaved timing of variants, and option errors.
//!
//! The benchmarks themselves (run them with `cargo xtask bench NAME`,
//! or `cargo bench -p pidfd-benches --bench NAME`):
//!
//! * `signal` — `Process::signal(0)` and `PidFd::send_signal(0)` against the raw
//!   `pidfd_send_signal` syscall;
//! * `spawn` — `pidfd_core::Spawn` against std's `Command` (posix_spawn and fork paths) and raw
//!   `vfork`/`fork` + `execve`, with small and large parents;
//! * `create_pidfd` — `pidfd_std_ext`'s `create_pidfd(true)` and `spawn_with_pidfd` against std's
//!   `Command`;
//! * `reap` — the `Reaper` against a `SIGCHLD` + `try_wait` scan, a `waitpid(-1)` loop and
//!   `tokio::process`;
//! * `tree` — tearing down a `ProcessTree` (`cgroup.kill`, freeze) against a process-group
//!   kill and reaping loop;
//! * `output` — `Spawn::output()` against std's `Command::output()`, and `kill_on_drop`'s
//!   cost;
//! * `async` — `pidfd_core::tokio` (spawn + wait, reaping 1000 children, `output()`) against
//!   `tokio::process` on the same runtime.
//!
//! Each prints medians (or totals) and ratios against baselines measured in the same run.

use std::fmt;
use std::time::Instant;

/// The median of `values` (for an even count, the upper of the two middle values), sorting
/// `values` in place.
///
/// # Panics
///
/// If `values` is empty.
pub fn median(values: &mut [f64]) -> f64 {
    assert!(!values.is_empty(), "the median of no values");
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A xorshift64 generator: deterministic, so every run shuffles and draws the same way, and
/// enough randomness to shuffle a handful of variants or pick sleep lengths.
#[derive(Debug, Clone)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator starting from `seed`; a zero seed (which xorshift never leaves) is replaced by
    /// a fixed non-zero one.
    pub fn new(seed: u64) -> XorShift64 {
        XorShift64(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value below `bound` (which must not be zero).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let bound = u64::try_from(i + 1).unwrap_or(u64::MAX);
            let j = usize::try_from(self.below(bound)).unwrap_or(0);
            items.swap(i, j);
        }
    }
}

/// One way of doing the measured thing, for [`interleaved_medians`].
pub struct Variant<'a> {
    /// Its name in the report.
    pub name: &'a str,
    /// One run of it.
    pub run: &'a dyn Fn(),
    /// It runs only in every `stride`-th round (1: every round; more for variants that take
    /// far longer than the rest).
    pub stride: usize,
}

impl<'a> Variant<'a> {
    /// A variant that runs every round.
    pub fn new(name: &'a str, run: &'a dyn Fn()) -> Variant<'a> {
        Variant::every(name, run, 1)
    }

    /// A variant that runs only every `stride`-th round (a `stride` of 0 counts as 1).
    pub fn every(name: &'a str, run: &'a dyn Fn(), stride: usize) -> Variant<'a> {
        Variant {
            name,
            run,
            stride: stride.max(1),
        }
    }

    /// How many of `rounds` rounds this variant runs in.
    pub fn runs(&self, rounds: usize) -> usize {
        rounds.div_ceil(self.stride.max(1))
    }
}

impl fmt::Debug for Variant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Variant")
            .field("name", &self.name)
            .field("stride", &self.stride)
            .finish_non_exhaustive()
    }
}

/// Runs every variant `warm_up` times, then once per round (as its stride allows) for `rounds`
/// rounds, in a fresh random order each round, and returns each variant's median time per run
/// in microseconds.
///
/// The order changes every round because a variant's cost depends on what ran just before it
/// (a `fork` write-protects the parent's memory, so whatever follows pays copy-on-write
/// faults): a fixed order would bill one variant for another's side effects. The shuffle is
/// deterministic, so runs are comparable.
///
/// # Panics
///
/// If `rounds` is zero (no samples to take a median of).
pub fn interleaved_medians(rounds: usize, warm_up: usize, variants: &[Variant<'_>]) -> Vec<f64> {
    for _ in 0..warm_up {
        for variant in variants {
            (variant.run)();
        }
    }
    let mut samples: Vec<Vec<f64>> = variants
        .iter()
        .map(|variant| Vec::with_capacity(variant.runs(rounds)))
        .collect();
    let mut order: Vec<usize> = (0..variants.len()).collect();
    let mut rng = XorShift64::new(0x9e37_79b9_7f4a_7c15);
    for round in 0..rounds {
        rng.shuffle(&mut order);
        for &index in &order {
            let variant = &variants[index];
            if round % variant.stride.max(1) != 0 {
                continue;
            }
            let started = Instant::now();
            (variant.run)();
            samples[index].push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    samples.iter_mut().map(|s| median(s)).collect()
}

/// The benchmark's command-line options, each `--name VALUE` with `--name` one of `known`, as
/// (name, value) pairs in command-line order; the `--bench` flag `cargo bench` passes is
/// skipped.
///
/// # Errors
///
/// An option not in `known`, or one without a value (none, or the next `--option`), as a
/// message naming it (for [`options_or_exit`]).
pub fn named_options(known: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut options = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--bench" {
            continue;
        }
        if !known.contains(&arg.as_str()) {
            return Err(format!(
                "unknown option {arg:?} (known: {})",
                known.join(", ")
            ));
        }
        match args.next() {
            Some(value) if !value.starts_with("--") => options.push((arg, value)),
            _ => return Err(format!("{arg} needs a value")),
        }
    }
    Ok(options)
}

/// `value` of option `name` as a count of at least 1.
///
/// # Errors
///
/// Not a number, or zero, as a message naming `name`.
pub fn count(name: &str, value: &str) -> Result<usize, String> {
    match value.parse() {
        Ok(0) => Err(format!("{name} must be at least 1")),
        Ok(count) => Ok(count),
        Err(error) => Err(format!("{name} {value:?}: {error}")),
    }
}

/// The parsed options, or — on a bad command line — `bench: message` on stderr and exit
/// status 2.
#[allow(clippy::print_stderr, reason = "a benchmark's usage error")]
pub fn options_or_exit<T>(bench: &str, options: Result<T, String>) -> T {
    match options {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{bench} bench: {message}");
            std::process::exit(2);
        }
    }
}

/// The few raw calls the benchmarks share: CPU time, the fd limit, a pipe.
#[allow(
    unsafe_code,
    reason = "getrusage, rlimits and pipe2; each block says why"
)]
pub mod os {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::time::Duration;

    /// Supervisor CPU time so far (user + system of this process, not of its children).
    pub fn cpu_time() -> Duration {
        // SAFETY: rusage is plain data; all-zero is valid.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a live, writable rusage.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) };
        assert_eq!(rc, 0, "getrusage");
        let duration = |tv: libc::timeval| {
            Duration::new(
                u64::try_from(tv.tv_sec).unwrap_or(0),
                u32::try_from(tv.tv_usec).unwrap_or(0) * 1000,
            )
        };
        duration(usage.ru_utime) + duration(usage.ru_stime)
    }

    /// Raises the soft fd limit to the hard one; returns it.
    #[allow(
        clippy::useless_conversion,
        reason = "rlim_t is 32-bit on 32-bit targets"
    )]
    pub fn raise_nofile() -> u64 {
        // SAFETY: rlimit is plain data.
        let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
        // SAFETY: `limit` is live and writable.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
        assert_eq!(rc, 0, "getrlimit");
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: raising the soft limit to the hard limit is always allowed.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
        u64::from(limit.rlim_cur)
    }

    /// A pipe (read end, write end), close-on-exec.
    pub fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two new fds, owned below.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: a fresh fd that nothing else owns.
        let read_end = unsafe { OwnedFd::from_raw_fd(fds[0]) };
        // SAFETY: a fresh fd that nothing else owns.
        let write_end = unsafe { OwnedFd::from_raw_fd(fds[1]) };
        (read_end, write_end)
    }
}
