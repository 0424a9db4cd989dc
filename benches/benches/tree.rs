//! Tearing down a tree of N sleeping processes (default 1000) plus E `setsid` daemons
//! (default 10), three ways:
//!
//! * **cgroup.kill** — `ProcessTree::kill` (`KillMethod::Auto`: one write of `cgroup.kill`,
//!   Linux 5.14+), then `ProcessTree::wait_empty` (one `poll(POLLPRI)` on `cgroup.events`);
//! * **freeze** — `ProcessTree::kill` with `KillMethod::Freeze`: freeze, `pidfd_open` +
//!   `pidfd_send_signal` for each PID of `cgroup.procs`, thaw; then `wait_empty`;
//! * **killpg** — `kill(-pgid, SIGKILL)` and a blocking `waitpid(-pgid)` reaping loop until
//!   `ECHILD` (what a supervisor without cgroups does). It misses the daemons, which left the
//!   group with `setsid`: how many survive it is reported.
//!
//! Every round builds the same tree in a fresh `ProcessTree` (so that the survivors of
//! killpg can be cleaned up): N `sleep 1000` spawned with `pidfd_core::Spawn` into one new
//! process group, and E shells in that group that each start a `setsid` daemon and exit;
//! the daemons announce themselves on a pipe before the clock starts. The benchmark process
//! is a child subreaper, so every orphan re-parents to it, and every method ends with all
//! processes reaped here (for the tree methods, after the tree is empty: a reaping loop).
//! Measured from the kill to "empty" (for killpg: the end of its reaping loop, it has no
//! other notion of empty) and to "all reaped"; CPU time of this process (`CLOCK_PROCESS_CPUTIME_ID`,
//! user + system: the kernel's work of signalling runs in the killer's context). Medians over the
//! rounds.
//!
//! Run: `cargo xtask bench tree [--size 1000] [--escapers 10] [--rounds 5] [--parent DIR]`
//! (or `cargo bench -p pidfd-benches --bench tree [-- ...]`). Needs a writable cgroup v2
//! (root, or a delegated cgroup; `--parent` names one): otherwise it says why and stops.

#![allow(unsafe_code, reason = "waitpid")]
#![allow(clippy::print_stdout, reason = "a benchmark report")]
#![allow(
    clippy::cast_precision_loss,
    reason = "timings and counts shown as f64 in a report"
)]

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use pidfd_benches::os::cpu_time;
use pidfd_benches::{count, median, named_options, options_or_exit};
use pidfd_core::{KillMethod, ProcessTree, Spawn, TreeBuilder};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    CgroupKill,
    Freeze,
    Killpg,
}

const METHODS: [Method; 3] = [Method::CgroupKill, Method::Freeze, Method::Killpg];

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::CgroupKill => "cgroup.kill",
            Method::Freeze => "freeze + pidfd",
            Method::Killpg => "killpg + waitpid",
        }
    }
}

struct Options {
    size: usize,
    escapers: usize,
    rounds: usize,
    parent: Option<String>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        size: 1000,
        escapers: 10,
        rounds: 5,
        parent: None,
    };
    for (name, value) in named_options(&["--size", "--escapers", "--rounds", "--parent"])? {
        match name.as_str() {
            "--size" => options.size = count(&name, &value)?,
            "--escapers" => options.escapers = value.parse().map_err(|e| format!("{e}"))?,
            "--rounds" => options.rounds = count(&name, &value)?,
            _ => options.parent = Some(value),
        }
    }
    Ok(options)
}

/// One measured teardown.
#[derive(Clone, Copy, Debug)]
struct Sample {
    empty: Duration,
    reaped: Duration,
    cpu: Duration,
    survivors: usize,
}

/// Reaps children of `pid` (`waitpid` semantics: -pgid for a group, -1 for any) until
/// `ECHILD`; returns how many.
fn reap_all(pid: libc::pid_t) -> usize {
    let mut reaped = 0;
    loop {
        let mut status = 0;
        // SAFETY: `status` is live and writable for the call.
        let rc = unsafe { libc::waitpid(pid, &raw mut status, 0) };
        if rc > 0 {
            reaped += 1;
            continue;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::ECHILD) => return reaped,
            other => panic!("waitpid: {other:?}"),
        }
    }
}

/// Builds the tree: `size` sleepers in a new process group, and `escapers` daemons that
/// left it (announced on a pipe). Returns the process group.
fn build(tree: &ProcessTree, size: usize, escapers: usize) -> libc::pid_t {
    let mut pgid = 0;
    let mut sleeper = Spawn::new("sleep");
    sleeper.arg("1000");
    for _ in 0..size {
        let child = tree
            .spawn(sleeper.process_group(pgid))
            .expect("spawn a sleeper");
        if pgid == 0 {
            pgid = libc::pid_t::try_from(child.pid()).expect("pid_t");
        }
        // Dropped: no pidfd kept per sleeper (the reaping loops reap them by PID).
        drop(child.into_process());
    }
    if escapers > 0 {
        let (reader, writer) = pidfd_core::sys::pipe::pipe().expect("pipe");
        let mut shell = Spawn::new("sh");
        shell
            .args([
                "-c",
                "( setsid sh -c 'echo up >&3; exec sleep 1000' & ); exit 0",
            ])
            .fd_dup2(writer.as_raw_fd(), 3)
            .process_group(pgid);
        for _ in 0..escapers {
            drop(
                tree.spawn(&mut shell)
                    .expect("spawn an escaper")
                    .into_process(),
            );
        }
        drop(shell);
        drop(writer);
        let mut lines = BufReader::new(std::fs::File::from(reader)).lines();
        for _ in 0..escapers {
            lines
                .next()
                .expect("an escaper announcement")
                .expect("read the pipe");
        }
    }
    pgid
}

fn round(method: Method, options: &Options) -> Sample {
    let mut builder = TreeBuilder::new();
    if let Some(parent) = &options.parent {
        builder.parent(parent);
    }
    if method == Method::Freeze {
        builder.kill_method(KillMethod::Freeze);
    }
    let tree = builder.create().expect("create the tree");
    let pgid = build(&tree, options.size, options.escapers);
    let expected = options.size + options.escapers;
    // (An escaper's shell may still be on its way out: at least.)
    assert!(tree.pids().expect("cgroup.procs").len() >= expected);

    let cpu = cpu_time();
    let start = Instant::now();
    let (empty, reaped, survivors) = match method {
        Method::CgroupKill | Method::Freeze => {
            tree.kill().expect("kill the tree");
            assert!(tree.wait_empty(None).expect("wait until empty"));
            let empty = start.elapsed();
            reap_all(-1);
            (empty, start.elapsed(), 0)
        }
        Method::Killpg => {
            pidfd_core::sys::subreaper::kill_process_group(pgid, libc::SIGKILL).expect("killpg");
            reap_all(-pgid);
            let done = start.elapsed();
            (done, done, tree.pids().expect("cgroup.procs").len())
        }
    };
    let cpu = cpu_time().saturating_sub(cpu);
    // Clean up whatever survived, and reap it.
    tree.kill().expect("kill the rest");
    assert!(tree.wait_empty(None).expect("wait until empty"));
    reap_all(-1);
    Sample {
        empty,
        reaped,
        cpu,
        survivors,
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn main() {
    let options = options_or_exit("tree", parse_options());
    let mut builder = TreeBuilder::new();
    if let Some(parent) = &options.parent {
        builder.parent(parent);
    }
    match builder.create() {
        Ok(tree) => drop(tree),
        Err(error) => {
            println!("tree: no process tree here ({error}): skipped");
            return;
        }
    }
    // Orphans (the daemons, and the sleepers of a killed group) re-parent to us: every
    // method reaps everything it killed.
    pidfd_core::sys::subreaper::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    let has_kill = {
        let tree = builder.create().expect("create a tree");
        tree.path()
            .is_some_and(|dir| dir.join("cgroup.kill").exists())
    };
    println!(
        "tree: tear down {} sleeping processes + {} setsid daemons, {} rounds (medians)",
        options.size, options.escapers, options.rounds
    );
    if !has_kill {
        println!("(no cgroup.kill on this kernel: the cgroup.kill row falls back to freeze)");
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); METHODS.len()];
    for _ in 0..options.rounds {
        for (slot, method) in METHODS.into_iter().enumerate() {
            samples[slot].push(round(method, &options));
        }
    }
    println!(
        "{:<18} {:>12} {:>14} {:>10} {:>18}",
        "method", "empty (ms)", "reaped (ms)", "CPU (ms)", "daemons surviving"
    );
    for (method, samples) in METHODS.into_iter().zip(&samples) {
        let pick = |f: &dyn Fn(&Sample) -> f64| {
            let mut values: Vec<f64> = samples.iter().map(f).collect();
            median(&mut values)
        };
        let survivors = samples.iter().map(|s| s.survivors).max().unwrap_or(0);
        println!(
            "{:<18} {:>12.2} {:>14.2} {:>10.2} {:>11} of {:<4}",
            method.name(),
            pick(&|s| millis(s.empty)),
            pick(&|s| millis(s.reaped)),
            pick(&|s| millis(s.cpu)),
            survivors,
            options.escapers
        );
    }
}
