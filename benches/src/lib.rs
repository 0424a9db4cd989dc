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
//!   `tokio::process` on the same runtime, beside the raw-syscall floor of each.
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

/// The lower quartile, median and upper quartile of `values` (the quartiles by rank, rounded
/// down; the median as [`median`] takes it), sorting `values` in place.
///
/// # Panics
///
/// If `values` is empty.
pub fn quartiles(values: &mut [f64]) -> [f64; 3] {
    assert!(!values.is_empty(), "the quartiles of no values");
    let middle = median(values);
    let at = |quarter: usize| values[(values.len() - 1) * quarter / 4];
    [at(1), middle, at(3)]
}

/// The median of `values` and its 95 % confidence interval by ranks (distribution-free: the
/// order statistics `n/2 ± 0.98·√n`, clamped to the extremes — for fewer than about 10
/// values the interval is the whole range), sorting `values` in place: `[low, median, high]`.
///
/// # Panics
///
/// If `values` is empty.
pub fn median_interval(values: &mut [f64]) -> [f64; 3] {
    let middle = median(values);
    let n = values.len() as f64;
    let reach = 0.98 * n.sqrt();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "ranks between 0 and n - 1, clamped"
    )]
    let rank = |at: f64| (at.clamp(0.0, n - 1.0)) as usize;
    [
        values[rank((n / 2.0 - reach).floor())],
        middle,
        values[rank((n / 2.0 + reach).ceil())],
    ]
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

/// The options of the benchmarks that take just `--rounds N` (default `default_rounds`) and
/// `--static-noop PATH`: (rounds, the no-op's path if given).
///
/// # Errors
///
/// As [`named_options`] and [`count`].
pub fn rounds_and_static_noop(default_rounds: usize) -> Result<(usize, Option<String>), String> {
    let mut rounds = default_rounds;
    let mut static_noop = None;
    for (name, value) in named_options(&["--rounds", "--static-noop"])? {
        if name == "--rounds" {
            rounds = count(&name, &value)?;
        } else {
            static_noop = Some(value);
        }
    }
    Ok((rounds, static_noop))
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

/// The few raw calls the benchmarks share: CPU time, the fd limit, CPU pinning, a pipe.
#[allow(
    unsafe_code,
    reason = "clock_gettime, rlimits, affinity and pipe2; each block says why"
)]
pub mod os {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::time::Duration;

    /// Supervisor CPU time so far: this process's, every thread's, not its children's
    /// (`CLOCK_PROCESS_CPUTIME_ID`: the scheduler's nanosecond runtime — the same sum as
    /// `getrusage(RUSAGE_SELF)`'s user + system, which truncates it to microseconds).
    pub fn cpu_time() -> Duration {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a live, writable timespec.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &raw mut now) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
        Duration::new(
            u64::try_from(now.tv_sec).unwrap_or(0),
            u32::try_from(now.tv_nsec).unwrap_or(0),
        )
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

    /// Pins this thread — and so every thread and child process it starts later, which
    /// inherit the mask — to the highest-numbered CPU it may run on (CPU 0 takes more of the
    /// machine's interrupts on many systems). Returns that CPU.
    ///
    /// # Errors
    ///
    /// `sched_getaffinity`/`sched_setaffinity`'s (`EPERM`, `EINVAL` under odd cpusets).
    pub fn pin_to_one_cpu() -> std::io::Result<usize> {
        // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let size = size_of::<libc::cpu_set_t>();
        // SAFETY: `set` is a live, writable cpu_set_t of `size` bytes.
        if unsafe { libc::sched_getaffinity(0, size, &raw mut set) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let max = usize::try_from(libc::CPU_SETSIZE).unwrap_or(1024);
        // SAFETY: CPU_ISSET reads the set within its bounds (cpu < CPU_SETSIZE).
        let last = (0..max)
            .rev()
            .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) });
        let cpu = last.ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: all-zero is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: CPU_SET writes within the set (cpu < CPU_SETSIZE).
        unsafe { libc::CPU_SET(cpu, &mut set) };
        // SAFETY: `set` is a live cpu_set_t of `size` bytes.
        if unsafe { libc::sched_setaffinity(0, size, &raw const set) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(cpu)
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
