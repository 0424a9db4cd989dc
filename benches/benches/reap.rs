//! Reaping N children that exit at random times within 0.5 s, four ways:
//!
//! * **reaper** — `pidfd_core::Reaper`: one epoll fd, `next_exit` until empty (O(1) per
//!   exit);
//! * **sigchld-scan** — `SIGCHLD` blocked and received with `sigtimedwait`; on each signal
//!   `Process::try_wait` on every outstanding child (the O(N)-per-signal pattern);
//! * **waitpid(-1)** — a blocking `waitpid(-1)` loop (fast, but steals every child of the
//!   process, so a library cannot use it);
//! * **tokio** — `tokio::process::Child::wait` for every child, one task each, on a
//!   current-thread runtime (the children are started by `tokio::process::Command`, since
//!   tokio cannot adopt a child it did not spawn; `SIGCHLD` is unblocked for this round,
//!   which tokio's signal driver needs).
//!
//! Each child is `sh -c 'read x; exec sleep 0.NNN'` (started with `pidfd_core::Spawn`) with
//! its stdin on a shared pipe: all of them are spawned first (not measured), then the pipe
//! is closed, which starts every child's random sleep at once. The reaping phase — from the
//! close to the last reaped child — is measured: supervisor CPU time (`CLOCK_PROCESS_CPUTIME_ID`,
//! which excludes children) per reaped child, and wall time. Small N run
//! several rounds (about 1000 children per method in all; at least 3 rounds).
//!
//! Run: `cargo xtask bench reap [--sizes 10,100,1000,4000]` (or
//! `cargo bench -p pidfd-benches --bench reap [-- --sizes ...]`). The soft
//! `RLIMIT_NOFILE` is raised to the hard limit; a size that needs more fds (two per child
//! for the reaper) is skipped with a note.

#![allow(
    unsafe_code,
    reason = "rusage, signal mask, sigtimedwait, waitpid and pipe2"
)]
#![allow(clippy::print_stdout, reason = "a benchmark report")]
#![allow(
    clippy::cast_precision_loss,
    reason = "timings and counts shown as f64 in a report"
)]

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use pidfd_benches::os::{cpu_time, pipe, raise_nofile};
use pidfd_benches::{XorShift64, count, named_options, options_or_exit};
use pidfd_core::{Process, Reaper, Spawn};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    Reaper,
    SigchldScan,
    WaitpidAny,
    Tokio,
}

const METHODS: [Method; 4] = [
    Method::Reaper,
    Method::SigchldScan,
    Method::WaitpidAny,
    Method::Tokio,
];

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Reaper => "reaper",
            Method::SigchldScan => "sigchld-scan",
            Method::WaitpidAny => "waitpid(-1)",
            Method::Tokio => "tokio",
        }
    }
}

fn sigchld_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initializes it next.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live sigset_t.
    unsafe { libc::sigemptyset(&raw mut set) };
    // SAFETY: `set` is initialized; SIGCHLD is a valid signal.
    unsafe { libc::sigaddset(&raw mut set, pidfd_sys::signal::SIGCHLD) };
    set
}

/// Waits up to `timeout` for a pending `SIGCHLD` (blocked); whether one came.
fn wait_sigchld(set: &libc::sigset_t, timeout: Duration) -> bool {
    #[allow(
        clippy::unnecessary_fallible_conversions,
        reason = "c_long is i32 on 32-bit targets"
    )]
    let timeout = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::try_from(timeout.subsec_nanos()).unwrap_or(0),
    };
    // SAFETY: valid set and timeout; no siginfo wanted.
    let signal = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &raw const timeout) };
    signal == pidfd_sys::signal::SIGCHLD
}

/// One round's measurements.
#[derive(Default, Clone, Copy)]
struct Sample {
    cpu: Duration,
    wall: Duration,
    reaped: usize,
    wakeups: usize,
}

/// The child's script: wait for the pipe to close, then sleep a random 0-500 ms.
fn script(rng: &mut XorShift64) -> String {
    let millis = rng.below(501);
    format!("read x; exec sleep {}.{:03}", millis / 1000, millis % 1000)
}

/// Spawns `n` children blocked on the pipe; returns them (pid order) and the write end.
fn spawn_children(n: usize, rng: &mut XorShift64) -> std::io::Result<(Vec<Process>, OwnedFd)> {
    let (read_end, write_end) = pipe();
    let mut children = Vec::with_capacity(n);
    for _ in 0..n {
        let process = Spawn::new("sh")
            .args(["-c", &script(rng)])
            .stdin(read_end.try_clone()?)
            .signal_mask(&[])
            .spawn()?;
        children.push(process.into_process());
    }
    Ok((children, write_end))
}

/// Blocks or unblocks `SIGCHLD` in this, the only, thread.
fn set_sigchld_blocked(blocked: bool) {
    let how = if blocked {
        pidfd_sys::signal::SIG_BLOCK
    } else {
        pidfd_sys::signal::SIG_UNBLOCK
    };
    let set = sigchld_set();
    // SAFETY: changes this thread's mask from a valid set.
    let rc = unsafe { libc::pthread_sigmask(how, &raw const set, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "pthread_sigmask");
}

/// The tokio round: children started by tokio, one `wait` task per child.
fn tokio_round(n: usize, rng: &mut XorShift64) -> std::io::Result<Sample> {
    let set = sigchld_set();
    while wait_sigchld(&set, Duration::ZERO) {}
    set_sigchld_blocked(false);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let (read_end, write_end) = pipe();
    let children = {
        let _context = runtime.enter();
        let mut children = Vec::with_capacity(n);
        for _ in 0..n {
            let child = tokio::process::Command::new("sh")
                .args(["-c", &script(rng)])
                .stdin(read_end.try_clone()?)
                .spawn()?;
            children.push(child);
        }
        children
    };
    drop(read_end);
    let (cpu, wall) = (cpu_time(), Instant::now());
    drop(write_end);
    let statuses = runtime.block_on(async move {
        let tasks: Vec<_> = children
            .into_iter()
            .map(|mut child| tokio::spawn(async move { child.wait().await }))
            .collect();
        let mut statuses = Vec::with_capacity(tasks.len());
        for task in tasks {
            statuses.push(task.await.expect("wait task").expect("wait"));
        }
        statuses
    });
    let sample = Sample {
        cpu: cpu_time() - cpu,
        wall: wall.elapsed(),
        reaped: statuses.len(),
        wakeups: 0,
    };
    drop(runtime);
    set_sigchld_blocked(true);
    assert_eq!(statuses.len(), n, "tokio");
    assert!(
        statuses.iter().all(ExitStatus::success),
        "tokio: a child failed"
    );
    Ok(sample)
}

fn round(method: Method, n: usize, rng: &mut XorShift64) -> std::io::Result<Sample> {
    if method == Method::Tokio {
        return tokio_round(n, rng);
    }
    let (children, release) = spawn_children(n, rng)?;
    let set = sigchld_set();
    // Forget the SIGCHLDs of earlier rounds.
    while wait_sigchld(&set, Duration::ZERO) {}
    let mut statuses: Vec<ExitStatus> = Vec::with_capacity(n);
    let mut wakeups = 0;
    let sample = match method {
        Method::Reaper => {
            let mut reaper = Reaper::new()?;
            for (i, process) in children.into_iter().enumerate() {
                reaper.add(process, i)?;
            }
            let mut done = Vec::with_capacity(n);
            let (cpu, wall) = (cpu_time(), Instant::now());
            drop(release);
            while let Some(exit) = reaper.next_exit(None)? {
                wakeups += 1;
                statuses.push(exit.status.expect("our child"));
                done.push(exit); // dropped after the measurement
            }
            let sample = (cpu_time() - cpu, wall.elapsed());
            drop(done);
            sample
        }
        Method::SigchldScan => {
            let mut outstanding = children;
            let mut done = Vec::with_capacity(n);
            let (cpu, wall) = (cpu_time(), Instant::now());
            drop(release);
            while !outstanding.is_empty() {
                if !wait_sigchld(&set, Duration::from_secs(5)) {
                    continue;
                }
                wakeups += 1;
                let mut i = 0;
                while i < outstanding.len() {
                    if let Some(status) = outstanding[i].try_wait()? {
                        statuses.push(status);
                        done.push(outstanding.swap_remove(i));
                    } else {
                        i += 1;
                    }
                }
            }
            let sample = (cpu_time() - cpu, wall.elapsed());
            drop(done);
            sample
        }
        Method::Tokio => unreachable!("handled by tokio_round"),
        Method::WaitpidAny => {
            let by_pid: HashMap<i32, Process> = children
                .into_iter()
                .map(|process| (i32::try_from(process.pid()).expect("pid_t"), process))
                .collect();
            let mut left = by_pid.len();
            let (cpu, wall) = (cpu_time(), Instant::now());
            drop(release);
            while left > 0 {
                let mut raw = 0;
                // SAFETY: reaps any child; every child of this process is in `by_pid`.
                let pid = unsafe { libc::waitpid(-1, &raw mut raw, 0) };
                if pid < 0 {
                    let error = std::io::Error::last_os_error();
                    assert_eq!(error.kind(), std::io::ErrorKind::Interrupted, "{error}");
                    continue;
                }
                wakeups += 1;
                if by_pid.contains_key(&pid) {
                    left -= 1;
                    statuses.push(std::os::unix::process::ExitStatusExt::from_raw(raw));
                }
            }
            let sample = (cpu_time() - cpu, wall.elapsed());
            drop(by_pid);
            sample
        }
    };
    assert_eq!(statuses.len(), n, "{method:?}");
    assert!(
        statuses.iter().all(ExitStatus::success),
        "{method:?}: a child failed"
    );
    Ok(Sample {
        cpu: sample.0,
        wall: sample.1,
        reaped: n,
        wakeups,
    })
}

/// `--sizes N,N,...`: the numbers of children (default 10, 100, 1000 and 4000).
fn parse_options() -> Result<Vec<usize>, String> {
    let mut sizes = vec![10, 100, 1000, 4000];
    for (name, value) in named_options(&["--sizes"])? {
        sizes = value
            .split(',')
            .map(|n| count(&name, n))
            .collect::<Result<_, _>>()?;
    }
    Ok(sizes)
}

fn main() {
    let sizes = options_or_exit("reap", parse_options());
    let probe = pidfd_core::probe::features().expect("probe");
    if !probe.pidfd_mode() {
        println!("reap: no pidfd mode here (Reaper needs Linux 5.4 pidfds): skipped");
        return;
    }
    let nofile = raise_nofile();
    // Block SIGCHLD for the whole (single-threaded) benchmark: the scan loop receives it
    // with sigtimedwait; the others ignore it.
    set_sigchld_blocked(true);

    // Deterministic sleep lengths, the same every run.
    let mut rng = XorShift64::new(0x2545_f491);
    let mut results: Vec<(usize, [Sample; 4])> = Vec::new();
    for &n in &sizes {
        let needed = u64::try_from(n).unwrap_or(u64::MAX) * 2 + 64;
        if needed > nofile {
            println!("N={n}: skipped (needs {needed} fds, RLIMIT_NOFILE is {nofile})");
            continue;
        }
        // At least 3 rounds: how often SIGCHLDs coalesce (and so what the scan loop costs)
        // varies a lot from one round to the next.
        let rounds = (1000 / n).clamp(3, 10);
        let mut totals = [Sample::default(); 4];
        let mut failed = None;
        for _ in 0..rounds {
            for (slot, method) in METHODS.into_iter().enumerate() {
                match round(method, n, &mut rng) {
                    Ok(sample) => {
                        let total = &mut totals[slot];
                        total.cpu += sample.cpu;
                        total.wall += sample.wall;
                        total.reaped += sample.reaped;
                        total.wakeups += sample.wakeups;
                    }
                    Err(error) => failed = Some(error),
                }
            }
            if failed.is_some() {
                break;
            }
        }
        if let Some(error) = failed {
            println!("N={n}: skipped ({error})");
            continue;
        }
        results.push((n, totals));
    }

    println!();
    println!(
        "Reaping N children (each sleeping 0-500 ms): supervisor CPU per reaped child, wall time \
         of the reaping phase per round, and wake-ups per child; ratios to the reaper."
    );
    println!(
        "{:>6} {:>13} {:>12} {:>8} {:>11} {:>8} {:>10}",
        "N", "method", "CPU/child", "x", "wall/round", "x", "wakeups/N"
    );
    for (n, totals) in &results {
        let per_child = |s: &Sample| s.cpu.as_nanos() as f64 / s.reaped as f64 / 1000.0;
        let rounds = totals[0].reaped / n;
        let wall = |s: &Sample| s.wall.as_secs_f64() * 1000.0 / rounds as f64;
        for (method, sample) in METHODS.iter().zip(totals) {
            // tokio's wake-ups happen inside the runtime: not counted.
            let wakeups = if *method == Method::Tokio {
                "-".to_owned()
            } else {
                format!("{:.2}", sample.wakeups as f64 / sample.reaped as f64)
            };
            println!(
                "{:>6} {:>13} {:>9.1} us {:>7.2}x {:>8.1} ms {:>7.2}x {:>10}",
                n,
                method.name(),
                per_child(sample),
                per_child(sample) / per_child(&totals[0]),
                wall(sample),
                wall(sample) / wall(&totals[0]),
                wakeups,
            );
        }
    }
    println!();
    let per_child = |s: &Sample| s.cpu.as_nanos() as f64 / s.reaped as f64;
    if let (Some(first), Some(last)) = (results.first(), results.last()) {
        let ratio = per_child(&last.1[0]) / per_child(&first.1[0]);
        println!(
            "target: reaper CPU per exit within 2x from N={} to N={}: {:.2}x — {}",
            first.0,
            last.0,
            ratio,
            if ratio <= 2.0 { "met" } else { "missed" }
        );
    }
    match results.iter().find(|(n, _)| *n == 1000) {
        Some((_, totals)) => {
            let ratio = per_child(&totals[1]) / per_child(&totals[0]);
            println!(
                "target: reaper CPU per exit >= 5x lower than sigchld-scan at N=1000: {:.1}x — {}",
                ratio,
                if ratio >= 5.0 { "met" } else { "missed" }
            );
        }
        None => println!("target: sigchld-scan at N=1000: not measured"),
    }
}
