//! `pidfd_core::tokio` against `tokio::process`, on the same current-thread runtime, in one
//! run:
//!
//! * **spawn + wait** — `Spawn::spawn_async()` + `wait()` against `tokio::process::Command`'s
//!   `spawn()` + `wait()` of the same static no-op (`--static-noop`, built by
//!   `cargo xtask bench async`; `/bin/true` without it): wall time per child (median of
//!   runs interleaved in random order) and supervisor CPU per child (`getrusage(RUSAGE_SELF)`
//!   user + system, which leaves out the children, over blocks of runs interleaved the
//!   same way);
//! * **reap N** — N children (`sh -c 'read x; exit 0'` on a shared pipe, spawned first, not
//!   measured) all released at once by closing the pipe, one wait task each; supervisor CPU
//!   per exit from the close until the last task is done. pidfd-core both ways: a task per
//!   child (`wait()`, the shape of tokio's) and one async `Reaper` stream;
//! * **output** — `output_async()` against `tokio::process::Command::output()` of the
//!   no-op: wall and CPU per call, as for spawn + wait.
//!
//! Run: `cargo xtask bench async [--rounds N] [--children N]` (or
//! `cargo bench -p pidfd-benches --bench async -- ...`). Prints a table with the
//! `pidfd-core / tokio` ratios and the targets of issue 18 (spawn + wait CPU and wall
//! <= 0.8, reap CPU per exit <= 0.8, output <= 0.85).

#![allow(clippy::print_stdout, reason = "a benchmark report")]
#![allow(
    clippy::cast_precision_loss,
    reason = "timings and counts shown as f64 in a report"
)]

use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use pidfd_benches::os::{cpu_time, pipe, raise_nofile};
use pidfd_benches::{XorShift64, count, median, named_options, options_or_exit};
use pidfd_core::tokio::{Reaper, SpawnExt};
use pidfd_core::{Process, Spawn};

/// Runs of each variant per block of the CPU measurement.
const BLOCK: usize = 20;

struct Options {
    rounds: usize,
    children: usize,
    program: String,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        rounds: 1000,
        children: 1000,
        program: "/bin/true".to_owned(),
    };
    for (name, value) in named_options(&["--rounds", "--children", "--static-noop"])? {
        match name.as_str() {
            "--rounds" => options.rounds = count(&name, &value)?,
            "--children" => options.children = count(&name, &value)?,
            _ => options.program = value,
        }
    }
    Ok(options)
}

/// What one run of a comparison does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Ours,
    Tokio,
}

/// Per-run wall medians and CPU means (microseconds) of both sides.
struct Measured {
    wall: [f64; 2],
    cpu: [f64; 2],
}

/// Runs `run` for both sides, `rounds` times each, in blocks of [`BLOCK`] runs, the sides'
/// blocks in a fresh random order each time; records each run's wall time and each block's
/// CPU time.
async fn compare<F: Future<Output = io::Result<()>>>(
    rounds: usize,
    mut run: impl FnMut(Side) -> F,
) -> io::Result<Measured> {
    let mut walls: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut cpus = [Duration::ZERO; 2];
    let mut counts = [0_usize; 2];
    let mut order = [Side::Ours, Side::Tokio];
    let mut rng = XorShift64::new(0x5eed);
    // Warm up both (the probe, tokio's process driver and signal handler).
    run(Side::Ours).await?;
    run(Side::Tokio).await?;
    for _ in 0..rounds.div_ceil(BLOCK) {
        rng.shuffle(&mut order);
        for side in order {
            let index = usize::from(side == Side::Tokio);
            let cpu = cpu_time();
            for _ in 0..BLOCK {
                let started = Instant::now();
                run(side).await?;
                walls[index].push(started.elapsed().as_secs_f64() * 1e6);
            }
            cpus[index] += cpu_time() - cpu;
            counts[index] += BLOCK;
        }
    }
    let [ours, tokio] = &mut walls;
    Ok(Measured {
        wall: [median(ours), median(tokio)],
        cpu: [
            cpus[0].as_secs_f64() * 1e6 / counts[0] as f64,
            cpus[1].as_secs_f64() * 1e6 / counts[1] as f64,
        ],
    })
}

/// Spawn + wait of `program`.
async fn spawn_wait(side: Side, program: &str) -> io::Result<()> {
    let status = match side {
        Side::Ours => Spawn::new(program).spawn_async()?.wait().await?,
        Side::Tokio => {
            tokio::process::Command::new(program)
                .spawn()?
                .wait()
                .await?
        }
    };
    assert!(status.success());
    Ok(())
}

/// `output()` of `program`.
async fn output(side: Side, program: &str) -> io::Result<()> {
    let output = match side {
        Side::Ours => Spawn::new(program).output_async().await?,
        Side::Tokio => tokio::process::Command::new(program).output().await?,
    };
    assert!(output.status.success());
    Ok(())
}

/// How pidfd-core reaps in the reap comparison.
#[derive(Clone, Copy)]
enum Reaping {
    Tasks,
    Stream,
}

/// Supervisor CPU per exit (microseconds) for `n` children released at once.
async fn reap(side: Option<Reaping>, n: usize) -> io::Result<f64> {
    let (read_end, write_end) = pipe();
    let script = ["-c", "read x; exit 0"];
    let tasks: Vec<tokio::task::JoinHandle<io::Result<()>>>;
    let mut stream = None;
    match side {
        None => {
            let mut children = Vec::with_capacity(n);
            for _ in 0..n {
                let stdin: OwnedFd = read_end.try_clone()?;
                children.push(
                    tokio::process::Command::new("sh")
                        .args(script)
                        .stdin(stdin)
                        .spawn()?,
                );
            }
            tasks = children
                .into_iter()
                .map(|mut child| tokio::spawn(async move { child.wait().await.map(drop) }))
                .collect();
        }
        Some(reaping) => {
            let mut processes: Vec<Process> = Vec::with_capacity(n);
            for _ in 0..n {
                let stdin = read_end.try_clone()?;
                processes.push(
                    Spawn::new("sh")
                        .args(script)
                        .stdin(stdin)
                        .spawn()?
                        .into_process(),
                );
            }
            match reaping {
                Reaping::Tasks => {
                    tasks = processes
                        .into_iter()
                        .map(|process| {
                            tokio::spawn(async move {
                                use pidfd_core::tokio::ProcessExt;
                                process.wait_async().await.map(drop)
                            })
                        })
                        .collect();
                }
                Reaping::Stream => {
                    let mut reaper = Reaper::new()?;
                    for process in processes {
                        reaper.add(process, ())?;
                    }
                    stream = Some(reaper);
                    tasks = Vec::new();
                }
            }
        }
    }
    drop(read_end);
    // Every task polled (registered) before the measurement.
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    let cpu = cpu_time();
    drop(write_end);
    let mut reaped = 0;
    for task in tasks {
        task.await.map_err(io::Error::other)??;
        reaped += 1;
    }
    if let Some(mut reaper) = stream {
        while let Some(exit) = reaper.next_exit().await? {
            assert!(exit.status.is_some_and(|status| status.success()));
            reaped += 1;
        }
    }
    let cpu = cpu_time() - cpu;
    assert_eq!(reaped, n);
    Ok(cpu.as_secs_f64() * 1e6 / n as f64)
}

fn verdict(ratio: f64, target: f64) -> &'static str {
    if ratio <= target { "met" } else { "MISSED" }
}

fn main() -> io::Result<()> {
    let options = options_or_exit("async", parse_options());
    let limit = raise_nofile();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let program = options.program.as_str();
    println!("async: pidfd_core::tokio vs tokio::process, one current-thread runtime");
    println!(
        "program {program}; {} rounds; {} children",
        options.rounds, options.children
    );
    runtime.block_on(async {
        let spawn = compare(options.rounds, |side| spawn_wait(side, program)).await?;
        let out = compare(options.rounds, |side| output(side, program)).await?;
        let n = options.children;
        // Two descriptors per child at most on either side (pidfd + its registration).
        let fits = u64::try_from(n * 3 + 64).is_ok_and(|needed| needed <= limit);
        let mut reaps = Vec::new();
        if fits {
            for _ in 0..5 {
                reaps.push([
                    reap(Some(Reaping::Tasks), n).await?,
                    reap(Some(Reaping::Stream), n).await?,
                    reap(None, n).await?,
                ]);
            }
        } else {
            println!("reap {n}: skipped, the fd limit {limit} is too low");
        }
        println!(
            "\nSpawn strategy: {}",
            Spawn::strategy().unwrap_or("none chosen")
        );
        println!(
            "  {:<36} {:>12} {:>12} {:>8} {:>7}  verdict",
            "measure", "pidfd-core", "tokio", "ratio", "target"
        );
        let row = |what: &str, ours: f64, tokio: f64, target: f64| {
            let ratio = ours / tokio;
            println!(
                "  {what:<36} {ours:>10.1}us {tokio:>10.1}us {ratio:>8.2} {target:>7.2}  {}",
                verdict(ratio, target)
            );
        };
        row(
            "spawn+wait wall per child (median)",
            spawn.wall[0],
            spawn.wall[1],
            0.8,
        );
        row("spawn+wait CPU per child", spawn.cpu[0], spawn.cpu[1], 0.8);
        if !reaps.is_empty() {
            let column = |index: usize| {
                let mut values: Vec<f64> = reaps.iter().map(|round| round[index]).collect();
                median(&mut values)
            };
            let (tasks, stream, tokio) = (column(0), column(1), column(2));
            row(
                &format!("reap {n}: CPU per exit, task per child"),
                tasks,
                tokio,
                0.8,
            );
            row(
                &format!("reap {n}: CPU per exit, Reaper stream"),
                stream,
                tokio,
                0.8,
            );
        }
        row(
            "output() wall per call (median)",
            out.wall[0],
            out.wall[1],
            0.85,
        );
        row("output() CPU per call", out.cpu[0], out.cpu[1], 0.85);
        println!(
            "  (reap: median of 5 rounds; CPU is this process's user + system, not the children's)"
        );
        Ok(())
    })
}
