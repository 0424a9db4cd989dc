//! `pidfd_core::tokio` against `tokio::process`, on the same current-thread runtime, in one
//! run, each beside the raw-syscall floor of the same work (no runtime at all), so that the
//! report shows how much of either side's cost is the kernel's own (clone, exec, exit, reap,
//! scheduling) and whether a target like "0.8x tokio" is below the floor:
//!
//! * **spawn + wait** of the static no-op (`--static-noop`, built by
//!   `cargo xtask bench async`; `/bin/true` without it). Variants: the raw floor (`clone3`
//!   with `CLONE_VM|CLONE_VFORK|CLONE_PIDFD` + `execve` on a stack of its own, the pidfd added
//!   to an epoll fd made once, `epoll_wait`, `waitid(P_PIDFD)`, `close`: the fewest syscalls
//!   that spawn and reap through a readiness loop); the sync `pidfd_core::Spawn` (the same
//!   spawn strategy) with that same raw epoll loop; the sync `Spawn` + `Process::wait` (the
//!   blocking library, no epoll); `Spawn::spawn_async()` + `wait()`; `tokio::process`'s
//!   `spawn()` + `wait()`.
//! * **reap N** — N children (`sh -c 'read x; exit 0'` on a shared pipe, spawned first, not
//!   measured) all released at once by closing the pipe; CPU per exit from the close until
//!   the last one is reaped. Variants: the raw floor (one epoll fd holding every pidfd,
//!   `epoll_wait` in batches of 64, `waitid(P_PIDFD)` + `close` per exit); pidfd-core with a
//!   task per child (`wait_async()`, the shape of tokio's); one async `Reaper` stream;
//!   `tokio::process` with a task per child.
//! * **output** of the no-op: the sync `Spawn::output()` (the floor here: the library's own
//!   `poll(2)` loop without a runtime), `output_async()`, `tokio::process::Command::output()`.
//!
//! # How CPU is measured, and how noisy it is
//!
//! CPU is this process's own (every thread, not the children's): `CLOCK_PROCESS_CPUTIME_ID`,
//! the scheduler's nanosecond runtime, read before and after each block. (On the kernels
//! tested — 6.x, tick-based accounting at 250 Hz — `getrusage(RUSAGE_SELF)`'s user + system
//! sum is the same runtime truncated to microseconds, and it steps by 1 µs while the process
//! runs, so it is not tick-granular either; only its user/system *split* is tick-sampled.
//! The clock is used for its resolution and because it is one call.) What the clock cannot
//! separate: interrupts and softirqs that arrive while the supervisor runs are billed to it
//! (no `IRQ_TIME_ACCOUNTING`), and a child's exit wakes the supervisor on whichever CPU the
//! scheduler picks, so with two CPUs and other work on the machine the same code costs
//! differently from block to block. Hence:
//!
//! * spawn + wait and output run in blocks of [`BLOCK`] runs of one variant; each round runs
//!   one block of every variant, in a fresh random order. A variant's CPU per run is the
//!   **median over its blocks** of the block's mean (the mean keeps every run's systematic
//!   cost; the median drops the blocks hit by someone else's interrupts); its wall time is
//!   the median over runs. Ratios are taken **per round** (both blocks of a pair ran
//!   back to back) and reported as their median, its 95 % confidence interval (by ranks)
//!   and their quartiles, so the spread is in the table.
//! * reap N runs every variant once per round, in a fresh random order, for
//!   `--reap-rounds` rounds: the CPU per exit is the median over rounds, the ratios per
//!   round as above. Per exit, batching dominates: when the supervisor is quick, every
//!   exit wakes it (an `epoll_wait` and a context switch each); when it is slow, exits pile
//!   up and are reaped in batches. Across two CPUs that varies with what else runs, so this
//!   row is the noisiest; the floor in the same rounds shows by how much.
//!
//! The run is **pinned to one CPU** (`sched_setaffinity`, the highest-numbered one allowed;
//! the children inherit the mask), unless `--pin off`. Unpinned, on a 2-CPU VM shared with
//! other work, the per-round CPU ratio of spawn + wait had quartiles of about ±10–15 %
//! around its median (0.74–0.94) and reap's CPU per exit moved by 2x with how the exits
//! happened to batch; pinned, the quartiles are about ±2–3 % (0.83–0.87), and the medians of
//! spawn + wait and output stay within 0.03 of the unpinned ones. Pinned, the schedule is a
//! different one, for reap most of all: the children exit on the supervisor's CPU, taking
//! turns with it, so the batches are small and regular (CPU per exit about twice the
//! unpinned figure at N = 100, every variant alike: the per-exit path paid nearly every
//! time, which is what the reap row should compare). `--pin off` measures the two-CPU
//! schedule (expect the spread above).
//!
//! Run: `cargo xtask bench async [--rounds N] [--children N] [--reap-rounds N] [--pin off]`
//! (or `cargo bench -p pidfd-benches --bench async -- ...`): `--rounds` runs of each variant
//! (default 1000), `--children` for reap (default 1000), `--reap-rounds` (default: enough
//! for about 5000 exits per variant, 3 to 10). The default run takes about 15 s on a 2-CPU
//! VM; CI's `--rounds 200 --children 100` about 3 s. Prints the tables and the targets of
//! issue 18 (spawn + wait CPU and wall <= 0.8x tokio, reap CPU per exit <= 0.8x, output
//! <= 0.85x), each with where the floor is.

#![allow(clippy::print_stdout, reason = "a benchmark report")]
#![allow(
    clippy::cast_precision_loss,
    reason = "timings and counts shown as f64 in a report"
)]

use std::cell::RefCell;
use std::io;
use std::os::fd::AsFd;
use std::time::Instant;

use pidfd_benches::os::pin_to_one_cpu;
use pidfd_benches::os::{cpu_time, pipe, raise_nofile};
use pidfd_benches::{
    XorShift64, count, median, median_interval, named_options, options_or_exit, quartiles,
};
use pidfd_core::tokio::{ProcessExt, Reaper, SpawnExt};
use pidfd_core::{Process, Spawn};

/// Runs of one variant per block of the CPU measurement.
const BLOCK: usize = 5;
/// Runs of each variant before measuring.
const WARM_UP: usize = 5;
/// About this many exits per variant in the reap rows, when `--reap-rounds` is not given.
const REAP_EXITS: usize = 5000;

struct Options {
    rounds: usize,
    children: usize,
    reap_rounds: Option<usize>,
    pin: bool,
    program: String,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        rounds: 1000,
        children: 1000,
        reap_rounds: None,
        pin: true,
        program: "/bin/true".to_owned(),
    };
    let known = [
        "--rounds",
        "--children",
        "--reap-rounds",
        "--pin",
        "--static-noop",
    ];
    for (name, value) in named_options(&known)? {
        match name.as_str() {
            "--rounds" => options.rounds = count(&name, &value)?,
            "--children" => options.children = count(&name, &value)?,
            "--reap-rounds" => options.reap_rounds = Some(count(&name, &value)?),
            "--pin" => {
                options.pin = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    other => return Err(format!("--pin {other:?}: on or off")),
                }
            }
            _ => options.program = value,
        }
    }
    Ok(options)
}

/// The raw floors: `clone3` + `execve` on a stack of its own, an epoll fd, `waitid`.
#[allow(
    unsafe_code,
    reason = "clone3 on a separate stack, execve, epoll and waitid; each block says why"
)]
mod raw {
    use std::ffi::{CString, OsStr, c_char, c_int, c_void};
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
    use std::os::unix::ffi::OsStrExt;

    use pidfd_sys::clone::CLONE_ARGS_SIZE_VER0;
    use pidfd_sys::flags::{CloneFlags, P_PIDFD, WaitIdOptions};
    use pidfd_sys::{clone_args, siginfo_t, syscalls};

    /// The child's stack, in 16-byte units (64 KiB).
    const STACK_UNITS: usize = 4096;

    /// A program and its arguments, ready for `execve` in a `CLONE_VM` child (nothing is
    /// allocated after the clone).
    pub(crate) struct Exec {
        _strings: Vec<CString>,
        path: *const c_char,
        argv: Vec<*const c_char>,
        envp: Vec<*const c_char>,
        stack: Vec<u128>,
    }

    /// What the child reads (the parent is suspended until the exec: `CLONE_VFORK`).
    struct ChildArgs {
        path: *const c_char,
        argv: *const *const c_char,
        envp: *const *const c_char,
        stdin: RawFd,
    }

    impl Exec {
        /// `program` with `args` (argv\[0\] is `program`) and this process's environment.
        pub(crate) fn new(program: &str, args: &[&str]) -> Exec {
            let cstring = |bytes: &[u8]| CString::new(bytes).expect("no NUL in an argument");
            let path = cstring(program.as_bytes());
            let mut strings = vec![path];
            strings.extend(args.iter().map(|arg| cstring(arg.as_bytes())));
            let argc = strings.len();
            strings.extend(std::env::vars_os().map(|(key, value)| {
                let mut pair = key.as_bytes().to_vec();
                pair.push(b'=');
                pair.extend_from_slice(OsStr::as_bytes(&value));
                cstring(&pair)
            }));
            let mut argv: Vec<*const c_char> = strings[..argc].iter().map(|s| s.as_ptr()).collect();
            argv.push(std::ptr::null());
            let mut envp: Vec<*const c_char> = strings[argc..].iter().map(|s| s.as_ptr()).collect();
            envp.push(std::ptr::null());
            Exec {
                path: strings[0].as_ptr(),
                _strings: strings,
                argv,
                envp,
                stack: vec![0; STACK_UNITS],
            }
        }

        /// Spawns the program (`stdin` on its fd 0, if given) and returns the pidfd.
        pub(crate) fn spawn(&mut self, stdin: Option<BorrowedFd<'_>>) -> io::Result<OwnedFd> {
            let mut child = ChildArgs {
                path: self.path,
                argv: self.argv.as_ptr(),
                envp: self.envp.as_ptr(),
                stdin: stdin.map_or(-1, |fd| fd.as_raw_fd()),
            };
            let mut pidfd: c_int = -1;
            let flags = CloneFlags::VM | CloneFlags::VFORK | CloneFlags::PIDFD;
            let mut args = clone_args {
                // CLONE_CLEAR_SIGHAND: no handler of this process (tokio's SIGCHLD) can run
                // on the child's stack before the exec.
                flags: (flags | CloneFlags::CLEAR_SIGHAND).bits(),
                pidfd: std::ptr::from_mut(&mut pidfd) as u64,
                exit_signal: libc::SIGCHLD as u64,
                stack: self.stack.as_mut_ptr() as u64,
                stack_size: (self.stack.len() * size_of::<u128>()) as u64,
                ..clone_args::default()
            };
            // SAFETY: the stack is ours alone and 16-byte aligned (u128 units) at both
            // ends; with CLONE_VFORK this thread is suspended until the child execs or
            // exits, and `child` does only raw syscalls on memory that stays valid until
            // then (`self` and `child`, borrowed for this call); `pidfd` is writable.
            unsafe {
                syscalls::clone3_on_stack(
                    &mut args,
                    CLONE_ARGS_SIZE_VER0,
                    run_child,
                    std::ptr::from_mut(&mut child).cast::<c_void>(),
                )
            }
            .map_err(io::Error::from)?;
            // SAFETY: CLONE_PIDFD stored a fresh pidfd (close-on-exec) that nothing else
            // owns.
            Ok(unsafe { OwnedFd::from_raw_fd(pidfd) })
        }
    }

    /// The child: stdin, then `execve`; exit status 127 if that fails.
    unsafe extern "C" fn run_child(arg: *mut c_void) -> ! {
        // SAFETY: `arg` is the parent's `ChildArgs`, alive while the parent is suspended.
        let child = unsafe { &*arg.cast::<ChildArgs>() };
        if child.stdin >= 0 {
            // SAFETY: raw dup3 onto fd 0 (clearing close-on-exec there).
            if unsafe { syscalls::dup3(child.stdin, 0, 0) }.is_err() {
                syscalls::exit_group(126);
            }
        }
        // SAFETY: NUL-terminated path, NULL-terminated arrays of NUL-terminated strings.
        unsafe { syscalls::execve(child.path, child.argv, child.envp) };
        syscalls::exit_group(127)
    }

    /// An epoll fd.
    pub(crate) struct Epoll(OwnedFd);

    impl Epoll {
        pub(crate) fn new() -> io::Result<Epoll> {
            // SAFETY: no pointers.
            let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: a fresh fd that nothing else owns.
            Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
        }

        /// Adds `fd` for readability with `data` (`EPOLLONESHOT`: one event, then it stays
        /// in the set, disabled, until it is closed).
        pub(crate) fn add(&self, fd: BorrowedFd<'_>, data: u64) -> io::Result<()> {
            let mut event = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
                u64: data,
            };
            // SAFETY: both fds are open; `event` is a live epoll_event.
            let rc = unsafe {
                libc::epoll_ctl(
                    self.0.as_raw_fd(),
                    libc::EPOLL_CTL_ADD,
                    fd.as_raw_fd(),
                    &raw mut event,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }

        /// Blocks until at least one event; fills `events`, returns how many.
        pub(crate) fn wait(&self, events: &mut [libc::epoll_event]) -> io::Result<usize> {
            let max = c_int::try_from(events.len()).unwrap_or(c_int::MAX);
            loop {
                // SAFETY: `events` has room for `max` entries.
                let n =
                    unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), max, -1) };
                if n >= 0 {
                    return Ok(usize::try_from(n).unwrap_or(0));
                }
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }

    /// `waitid(P_PIDFD, pidfd, WEXITED)`: reaps the exited child; fails unless it exited 0.
    pub(crate) fn reap(pidfd: BorrowedFd<'_>) -> io::Result<()> {
        let mut info = siginfo_t::zeroed();
        let id = u32::try_from(pidfd.as_raw_fd()).unwrap_or(u32::MAX);
        // SAFETY: `pidfd` is borrowed for the call; `info` is a writable siginfo_t.
        unsafe { syscalls::waitid(P_PIDFD, id, &mut info, WaitIdOptions::EXITED, None) }
            .map_err(io::Error::from)?;
        if info.code() != pidfd_sys::cld::EXITED || info.status() != 0 {
            return Err(io::Error::other(format!(
                "child ended with code {} status {}",
                info.code(),
                info.status()
            )));
        }
        Ok(())
    }
}

/// A measured comparison: its variants' names, and per variant the wall time of every run
/// and the mean CPU per run of every block (microseconds; blocks in round order).
struct Samples {
    names: Vec<&'static str>,
    /// Runs per block (the wall ratios are per block too).
    block: usize,
    wall: Vec<Vec<f64>>,
    cpu: Vec<Vec<f64>>,
}

impl Samples {
    fn wall(&self, variant: usize) -> f64 {
        median(&mut self.wall[variant].clone())
    }

    fn cpu(&self, variant: usize) -> f64 {
        median(&mut self.cpu[variant].clone())
    }

    /// The per-round ratios `a / b` of block CPU.
    fn cpu_ratio(&self, a: usize, b: usize) -> Vec<f64> {
        self.cpu[a]
            .iter()
            .zip(&self.cpu[b])
            .map(|(a, b)| a / b)
            .collect()
    }

    /// The per-round ratios `a / b` of the blocks' median wall times.
    fn wall_ratio(&self, a: usize, b: usize) -> Vec<f64> {
        let blocks = |variant: usize| -> Vec<f64> {
            self.wall[variant]
                .chunks(self.block)
                .map(|block| median(&mut block.to_vec()))
                .collect()
        };
        blocks(a)
            .iter()
            .zip(&blocks(b))
            .map(|(a, b)| a / b)
            .collect()
    }
}

/// Runs every variant (`run(index)`) [`WARM_UP`] times, then `rounds` times each in blocks
/// of [`BLOCK`] runs, the variants' blocks in a fresh random order each round.
async fn compare<F: Future<Output = io::Result<()>>>(
    names: &[&'static str],
    rounds: usize,
    mut run: impl FnMut(usize) -> F,
) -> io::Result<Samples> {
    let mut samples = Samples {
        names: names.to_vec(),
        block: BLOCK,
        wall: vec![Vec::new(); names.len()],
        cpu: vec![Vec::new(); names.len()],
    };
    let mut order: Vec<usize> = (0..names.len()).collect();
    let mut rng = XorShift64::new(0x5eed);
    for _ in 0..WARM_UP {
        for &variant in &order {
            run(variant).await?;
        }
    }
    for _ in 0..rounds.div_ceil(BLOCK) {
        rng.shuffle(&mut order);
        for &variant in &order {
            let cpu = cpu_time();
            for _ in 0..BLOCK {
                let started = Instant::now();
                run(variant).await?;
                samples.wall[variant].push(started.elapsed().as_secs_f64() * 1e6);
            }
            let spent = (cpu_time() - cpu).as_secs_f64() * 1e6;
            samples.cpu[variant].push(spent / BLOCK as f64);
        }
    }
    Ok(samples)
}

/// The spawn + wait variants, in [`spawn_wait`]'s numbering.
const SPAWN_WAIT: [&str; 5] = [
    "floor: raw clone3 + epoll + waitid",
    "floor: sync Spawn + epoll + waitid",
    "sync Spawn + Process::wait",
    "pidfd_core::tokio spawn_async+wait",
    "tokio::process spawn + wait",
];
const SPAWN_RAW: usize = 0;
const SPAWN_OURS: usize = 3;
const SPAWN_TOKIO: usize = 4;

/// The floors' shared state: the program ready for `execve`, and the epoll fd.
struct Floor {
    exec: raw::Exec,
    epoll: raw::Epoll,
}

impl Floor {
    /// Adds `pidfd` to the epoll fd, waits for it, reaps through it.
    fn wait(&self, pidfd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
        self.epoll.add(pidfd, 0)?;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }];
        self.epoll.wait(&mut events)?;
        raw::reap(pidfd)
    }
}

/// One spawn + wait of `program`, as `variant`.
async fn spawn_wait(variant: usize, program: &str, floor: &RefCell<Floor>) -> io::Result<()> {
    let success = match variant {
        0 => {
            let mut floor = floor.borrow_mut();
            let pidfd = floor.exec.spawn(None)?;
            floor.wait(pidfd.as_fd())?;
            true
        }
        1 => {
            let child = Spawn::new(program).spawn()?;
            let floor = floor.borrow();
            child.with_pidfd(|pidfd| floor.wait(pidfd.as_fd()))??;
            true
        }
        2 => Spawn::new(program).spawn()?.wait()?.success(),
        3 => Spawn::new(program).spawn_async()?.wait().await?.success(),
        _ => tokio::process::Command::new(program)
            .spawn()?
            .wait()
            .await?
            .success(),
    };
    assert!(success, "{}: the no-op failed", SPAWN_WAIT[variant]);
    Ok(())
}

/// The output variants, in [`output`]'s numbering.
const OUTPUT: [&str; 3] = [
    "floor: sync Spawn::output",
    "pidfd_core::tokio output_async",
    "tokio::process output",
];

/// One `output()` of `program`, as `variant`.
async fn output(variant: usize, program: &str) -> io::Result<()> {
    let output = match variant {
        0 => Spawn::new(program).output()?,
        1 => Spawn::new(program).output_async().await?,
        _ => tokio::process::Command::new(program).output().await?,
    };
    assert!(
        output.status.success(),
        "{}: the no-op failed",
        OUTPUT[variant]
    );
    Ok(())
}

/// The reap variants, in [`reap`]'s numbering.
const REAP: [&str; 4] = [
    "floor: raw epoll + waitid + close",
    "pidfd_core::tokio task per child",
    "pidfd_core::tokio Reaper stream",
    "tokio::process task per child",
];
const REAP_TASKS: usize = 1;
const REAP_STREAM: usize = 2;
const REAP_TOKIO: usize = 3;

/// The reap children's program.
const SH: &str = "/bin/sh";
const SH_ARGS: [&str; 2] = ["-c", "read x; exit 0"];

/// Reaps `n` children released at once, as `variant`: (CPU, wall) per exit, microseconds.
async fn reap(variant: usize, n: usize, sh: &mut raw::Exec) -> io::Result<(f64, f64)> {
    let (read_end, write_end) = pipe();
    let mut tasks: Vec<tokio::task::JoinHandle<io::Result<()>>> = Vec::new();
    let mut stream = None;
    let mut floor = None;
    match variant {
        0 => {
            let epoll = raw::Epoll::new()?;
            let mut pidfds = Vec::with_capacity(n);
            for index in 0..n {
                let pidfd = sh.spawn(Some(read_end.as_fd()))?;
                epoll.add(pidfd.as_fd(), index as u64)?;
                pidfds.push(Some(pidfd));
            }
            floor = Some((epoll, pidfds));
        }
        REAP_TOKIO => {
            for _ in 0..n {
                let mut child = tokio::process::Command::new(SH)
                    .args(SH_ARGS)
                    .stdin(read_end.try_clone()?)
                    .spawn()?;
                tasks.push(tokio::spawn(async move { child.wait().await.map(drop) }));
            }
        }
        _ => {
            let mut processes: Vec<Process> = Vec::with_capacity(n);
            for _ in 0..n {
                let child = Spawn::new(SH)
                    .args(SH_ARGS)
                    .stdin(read_end.try_clone()?)
                    .spawn()?;
                processes.push(child.into_process());
            }
            if variant == REAP_TASKS {
                for process in processes {
                    tasks.push(tokio::spawn(
                        async move { process.wait_async().await.map(drop) },
                    ));
                }
            } else {
                let mut reaper = Reaper::new()?;
                for process in processes {
                    reaper.add(process, ())?;
                }
                stream = Some(reaper);
            }
        }
    }
    drop(read_end);
    // Every task polled (registered) before the measurement.
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    let (cpu, wall) = (cpu_time(), Instant::now());
    drop(write_end);
    let mut reaped = 0;
    if let Some((epoll, mut pidfds)) = floor {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        while reaped < n {
            let ready = epoll.wait(&mut events)?;
            for event in &events[..ready] {
                let index = usize::try_from(event.u64).unwrap_or(usize::MAX);
                let pidfd = pidfds[index].take().expect("one event per child");
                raw::reap(pidfd.as_fd())?;
                drop(pidfd);
                reaped += 1;
            }
        }
    }
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
    let (cpu, wall) = (cpu_time() - cpu, wall.elapsed());
    assert_eq!(reaped, n, "{}", REAP[variant]);
    let per_exit = |seconds: f64| seconds * 1e6 / n as f64;
    Ok((per_exit(cpu.as_secs_f64()), per_exit(wall.as_secs_f64())))
}

/// Every reap variant once per round, in a fresh random order each round.
async fn compare_reaps(rounds: usize, n: usize) -> io::Result<Samples> {
    let mut samples = Samples {
        names: REAP.to_vec(),
        block: 1,
        wall: vec![Vec::new(); REAP.len()],
        cpu: vec![Vec::new(); REAP.len()],
    };
    let mut sh = raw::Exec::new(SH, &SH_ARGS);
    let mut order: Vec<usize> = (0..REAP.len()).collect();
    let mut rng = XorShift64::new(0x7ea9);
    for _ in 0..rounds {
        rng.shuffle(&mut order);
        for &variant in &order {
            let (cpu, wall) = reap(variant, n, &mut sh).await?;
            samples.cpu[variant].push(cpu);
            samples.wall[variant].push(wall);
        }
    }
    Ok(samples)
}

/// Prints one comparison's variants: wall and CPU per run, CPU against the floor
/// (`floor`'s).
fn print_variants(title: &str, samples: &Samples, floor: usize, unit: &str) {
    println!("\n{title}");
    println!(
        "  {:<38} {:>11} {:>11} {:>19} {:>9}",
        format!("variant (per {unit})"),
        "wall (med)",
        "CPU (med)",
        "CPU q1-q3",
        "CPU/floor"
    );
    let floor_cpu = samples.cpu(floor);
    for (variant, name) in samples.names.iter().enumerate() {
        let [q1, _, q3] = quartiles(&mut samples.cpu[variant].clone());
        let cpu = samples.cpu(variant);
        println!(
            "  {name:<38} {:>9.1}us {cpu:>9.1}us {:>19} {:>9.2}",
            samples.wall(variant),
            format!("{q1:.1}-{q3:.1}us"),
            cpu / floor_cpu,
        );
    }
}

/// One target of issue 18: `ours / tokio` (the per-round ratios), the target, and where the
/// floor is (`floor / tokio`).
struct Target<'a> {
    what: &'a str,
    ratios: Vec<f64>,
    target: f64,
    floor: f64,
}

fn print_targets(targets: &mut [Target<'_>]) {
    println!(
        "\nissue 18 targets: ours / tokio per round — median, its 95% CI, quartiles — and floor / tokio"
    );
    println!(
        "  {:<36} {:>6} {:>11} {:>11} {:>7} {:>8} {:>12}",
        "measure", "ratio", "95% CI", "q1-q3", "target", "verdict", "floor/tokio"
    );
    for target in targets {
        let [low, ratio, high] = median_interval(&mut target.ratios);
        let [q1, _, q3] = quartiles(&mut target.ratios);
        let verdict = if ratio <= target.target {
            "met"
        } else {
            "MISSED"
        };
        let below = if target.floor > target.target {
            " (target below the floor)"
        } else {
            ""
        };
        println!(
            "  {:<36} {ratio:>6.2} {:>11} {:>11} {:>7.2} {verdict:>8} {:>12.2}{below}",
            target.what,
            format!("{low:.2}-{high:.2}"),
            format!("{q1:.2}-{q3:.2}"),
            target.target,
            target.floor,
        );
    }
}

fn main() -> io::Result<()> {
    let options = options_or_exit("async", parse_options());
    let limit = raise_nofile();
    // Before the runtime: its threads and every child inherit the mask.
    let pinned = if options.pin {
        match pin_to_one_cpu() {
            Ok(cpu) => format!("pinned to CPU {cpu} (children too)"),
            Err(error) => format!("not pinned ({error})"),
        }
    } else {
        "not pinned (--pin off)".to_owned()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let program = options.program.as_str();
    let n = options.children;
    let reap_rounds = options
        .reap_rounds
        .unwrap_or_else(|| (REAP_EXITS / n).clamp(3, 10));
    println!("async: pidfd_core::tokio vs tokio::process, one current-thread runtime");
    println!(
        "program {program}; {} runs per variant; reap {n} children x {reap_rounds} rounds; {pinned}",
        options.rounds
    );
    runtime.block_on(async {
        let floor = RefCell::new(Floor {
            exec: raw::Exec::new(program, &[]),
            epoll: raw::Epoll::new()?,
        });
        let spawn = compare(&SPAWN_WAIT, options.rounds, |variant| {
            spawn_wait(variant, program, &floor)
        })
        .await?;
        let out = compare(&OUTPUT, options.rounds, |variant| output(variant, program)).await?;
        // Two descriptors per child at most on either side (pidfd + its registration).
        let fits = u64::try_from(n * 3 + 64).is_ok_and(|needed| needed <= limit);
        let reaps = if fits {
            Some(compare_reaps(reap_rounds, n).await?)
        } else {
            println!("reap {n}: skipped, the fd limit {limit} is too low");
            None
        };

        println!(
            "Spawn strategy: {}",
            Spawn::strategy().unwrap_or("none chosen")
        );
        let blocks = format!("blocks of {BLOCK} interleaved");
        print_variants(
            &format!("spawn + wait ({blocks})"),
            &spawn,
            SPAWN_RAW,
            "child",
        );
        print_variants(&format!("output() ({blocks})"), &out, 0, "call");
        if let Some(reaps) = &reaps {
            print_variants(
                &format!("reap {n}, released at once ({reap_rounds} rounds interleaved)"),
                reaps,
                0,
                "exit",
            );
        }
        let floor_of =
            |samples: &Samples, floor: usize, tokio: usize| samples.cpu(floor) / samples.cpu(tokio);
        let mut targets = vec![
            Target {
                what: "spawn+wait wall per child",
                ratios: spawn.wall_ratio(SPAWN_OURS, SPAWN_TOKIO),
                target: 0.8,
                floor: spawn.wall(SPAWN_RAW) / spawn.wall(SPAWN_TOKIO),
            },
            Target {
                what: "spawn+wait CPU per child",
                ratios: spawn.cpu_ratio(SPAWN_OURS, SPAWN_TOKIO),
                target: 0.8,
                floor: floor_of(&spawn, SPAWN_RAW, SPAWN_TOKIO),
            },
        ];
        if let Some(reaps) = &reaps {
            for (what, variant) in [
                ("reap: CPU per exit, task per child", REAP_TASKS),
                ("reap: CPU per exit, Reaper stream", REAP_STREAM),
            ] {
                targets.push(Target {
                    what,
                    ratios: reaps.cpu_ratio(variant, REAP_TOKIO),
                    target: 0.8,
                    floor: floor_of(reaps, 0, REAP_TOKIO),
                });
            }
        }
        targets.push(Target {
            what: "output() wall per call",
            ratios: out.wall_ratio(1, 2),
            target: 0.85,
            floor: out.wall(0) / out.wall(2),
        });
        targets.push(Target {
            what: "output() CPU per call",
            ratios: out.cpu_ratio(1, 2),
            target: 0.85,
            floor: floor_of(&out, 0, 2),
        });
        print_targets(&mut targets);
        println!(
            "  (CPU: this process's, not the children's; the ratio's quartiles show the noise)"
        );
        Ok(())
    })
}
