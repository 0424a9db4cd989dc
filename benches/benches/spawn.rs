//! Spawn + wait: `pidfd_core::Spawn` against std's `Command` (posix_spawn path and, with an
//! empty `pre_exec`, fork path) and raw `fork`+`execve` / `vfork`+`execve` baselines, all
//! measured in one run, in two groups interleaved round by round in random order: Spawn with
//! the vfork-style baselines, then the two fork paths (see `bench` for why).
//!
//! Run: `cargo xtask bench spawn` (or `cargo bench -p pidfd-benches --bench spawn -- [options]`).
//!
//! Options: `--rounds N` (default 1000), `--parents small,1g,4g` (default all three),
//! `--programs static,true` (default both), `--static-noop PATH`. For the 1 GiB / 4 GiB
//! parents the benchmark maps
//! and touches that much anonymous memory (4 KiB pages) before measuring; there the two fork
//! paths (tens of milliseconds per run) run in every 10th round only.
//!
//! The static no-op (`--static-noop`) is built by `cargo xtask bench` (see `xtask/src/noop.rs`:
//! libc-free `_start` → `exit_group(0)`), so dynamic loading does not hide spawn cost;
//! `/bin/true` is the everyday case. Prints medians and `Spawn / baseline` ratios with the
//! targets of the Spawn issue.

#![allow(unsafe_code, reason = "raw fork/vfork baselines and std's pre_exec")]
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark report"
)]

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::ptr;

use pidfd_benches::{Variant, count, interleaved_medians, named_options, options_or_exit};
use pidfd_core::Spawn;

/// The raw vfork baseline's child stack.
const STACK_LEN: usize = 64 * 1024;
/// Runs of each variant before measuring.
const WARM_UP: usize = 1;

struct Options {
    rounds: usize,
    parents: Vec<(String, usize)>,
    programs: Vec<String>,
    static_noop: Option<String>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        rounds: 1000,
        parents: vec![
            ("small".to_owned(), 0),
            ("1 GiB".to_owned(), 1 << 30),
            ("4 GiB".to_owned(), 4 << 30),
        ],
        programs: vec!["static".to_owned(), "true".to_owned()],
        static_noop: None,
    };
    let known = ["--rounds", "--parents", "--programs", "--static-noop"];
    for (name, value) in named_options(&known)? {
        match name.as_str() {
            "--rounds" => options.rounds = count(&name, &value)?,
            "--parents" => {
                options.parents = value
                    .split(',')
                    .map(|p| match p {
                        "small" => Ok(("small".to_owned(), 0)),
                        "1g" => Ok(("1 GiB".to_owned(), 1 << 30)),
                        "4g" => Ok(("4 GiB".to_owned(), 4 << 30)),
                        other => Err(format!("unknown parent size {other:?} (small, 1g, 4g)")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--programs" => options.programs = value.split(',').map(str::to_owned).collect(),
            _ => options.static_noop = Some(value),
        }
    }
    Ok(options)
}

/// A fresh private anonymous read-write mapping of `len` bytes (more `mmap` flags in `flags`);
/// panics if `mmap` fails.
fn map_anonymous(len: usize, flags: libc::c_int) -> *mut libc::c_void {
    // SAFETY: a fresh private anonymous mapping; it replaces nothing.
    let base = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED, "mmap of {len} bytes failed");
    base
}

/// Anonymous memory of `len` bytes with every 4 KiB page touched; unmapped on drop.
struct Ballast {
    base: *mut libc::c_void,
    len: usize,
}

impl Ballast {
    fn new(len: usize) -> Ballast {
        if len == 0 {
            return Ballast {
                base: ptr::null_mut(),
                len,
            };
        }
        let base = map_anonymous(len, 0);
        // SAFETY: keeps the kernel from backing it with huge pages, so the fork path copies
        // one page-table entry per 4 KiB page (the common case for heap memory).
        unsafe { libc::madvise(base, len, libc::MADV_NOHUGEPAGE) };
        let bytes = base.cast::<u8>();
        for offset in (0..len).step_by(4096) {
            // SAFETY: within the mapping.
            let byte = unsafe { bytes.add(offset) };
            // SAFETY: a writable byte of the mapping.
            unsafe { byte.write_volatile(1) };
        }
        Ballast { base, len }
    }
}

impl Drop for Ballast {
    fn drop(&mut self) {
        if !self.base.is_null() {
            // SAFETY: our own mapping.
            unsafe { libc::munmap(self.base, self.len) };
        }
    }
}

/// The C strings a raw baseline passes to execve.
struct RawExec {
    _path: CString,
    path_ptr: *const libc::c_char,
    argv: [*const libc::c_char; 2],
    envp: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    stack: *mut libc::c_void,
}

impl RawExec {
    fn new(program: &str) -> RawExec {
        let path = CString::new(program).expect("program path");
        let env: Vec<CString> = std::env::vars_os()
            .map(|(k, v)| {
                let mut entry = k.into_encoded_bytes();
                entry.push(b'=');
                entry.extend(v.into_encoded_bytes());
                CString::new(entry).expect("env entry")
            })
            .collect();
        let mut envp: Vec<_> = env.iter().map(|e| e.as_ptr()).collect();
        envp.push(ptr::null());
        let stack = map_anonymous(STACK_LEN, libc::MAP_STACK);
        RawExec {
            path_ptr: path.as_ptr(),
            argv: [path.as_ptr(), ptr::null()],
            _path: path,
            envp,
            _env: env,
            stack,
        }
    }

    fn wait(pid: libc::pid_t) {
        let mut status = 0;
        // SAFETY: waits for our own child.
        let rc = unsafe { libc::waitpid(pid, &raw mut status, 0) };
        assert_eq!(rc, pid, "waitpid");
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }

    /// `fork()` + `execve` + `waitpid`.
    fn fork_exec(&self) {
        // SAFETY: the child only calls execve and _exit (async-signal-safe) with data
        // prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above.
            unsafe { libc::execve(self.path_ptr, self.argv.as_ptr(), self.envp.as_ptr()) };
            // SAFETY: as above.
            unsafe { libc::_exit(127) };
        }
        assert!(pid > 0, "fork failed");
        RawExec::wait(pid);
    }

    /// `clone(CLONE_VM | CLONE_VFORK)` (vfork on its own stack) + `execve` + `waitpid`.
    fn vfork_exec(&self) {
        extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
            // SAFETY: `arg` is the RawExec of the suspended parent (CLONE_VFORK).
            let exec = unsafe { &*arg.cast::<RawExec>() };
            // SAFETY: execve/_exit only, with prepared data.
            unsafe { libc::execve(exec.path_ptr, exec.argv.as_ptr(), exec.envp.as_ptr()) };
            // SAFETY: as above.
            unsafe { libc::_exit(127) }
        }
        // SAFETY: one past the end of the stack mapping (its top).
        let top = unsafe { self.stack.cast::<u8>().add(STACK_LEN) };
        // SAFETY: the child runs `child` on the benchmark's stack mapping and execs; the
        // parent is suspended until then.
        let pid = unsafe {
            libc::clone(
                child,
                top.cast(),
                libc::CLONE_VM | libc::CLONE_VFORK | pidfd_sys::signal::SIGCHLD,
                ptr::from_ref(self).cast_mut().cast(),
            )
        };
        assert!(pid > 0, "clone failed");
        RawExec::wait(pid);
    }
}

fn bench(program: &str, label: &str, parent: &str, rounds: usize, fork_stride: usize) -> f64 {
    let spawn = Spawn::new(program);
    let raw = RawExec::new(program);
    let ours = || {
        let status = spawn.spawn().expect("Spawn").wait().expect("wait");
        assert!(status.success());
    };
    let std_spawn = || {
        assert!(Command::new(program).status().expect("std").success());
    };
    let std_fork = || {
        let mut command = Command::new(program);
        // SAFETY: the hook does nothing; it only makes std take its fork path.
        unsafe { command.pre_exec(|| Ok(())) };
        assert!(command.status().expect("std fork").success());
    };
    let raw_vfork = || raw.vfork_exec();
    let raw_fork = || raw.fork_exec();
    // Two groups, each interleaved in random order: a fork write-protects the parent's whole
    // memory, so whatever runs next pays copy-on-write faults for every page it touches. A
    // program that spawns through fork pays that after every spawn, one that spawns through
    // vfork never does; mixing the groups would bill the vfork-style variants (Spawn most,
    // as it touches more pages than a raw syscall loop) for the forks of the others.
    // In each, a fork path under a big parent (tens of milliseconds a run) runs only every
    // `fork_stride`-th round.
    let vfork_group = [
        Variant::new("pidfd_core::Spawn", &ours),
        Variant::new("raw vfork+execve", &raw_vfork),
        Variant::new("std Command (posix_spawn)", &std_spawn),
    ];
    let fork_group = [
        Variant::every("std Command + pre_exec (fork)", &std_fork, fork_stride),
        Variant::every("raw fork+execve", &raw_fork, fork_stride),
    ];
    println!(
        "\n{label}, parent {parent}: medians of spawn+wait, each group interleaved in random order"
    );
    println!(
        "  {:<32} {:>7} {:>11}  {:>12}",
        "variant", "runs", "median us", "Spawn / this"
    );
    let vfork_medians = interleaved_medians(rounds, WARM_UP, &vfork_group);
    let ours = vfork_medians[0];
    print_group(rounds, &vfork_group, &vfork_medians, ours);
    let fork_medians = interleaved_medians(rounds, WARM_UP, &fork_group);
    print_group(rounds, &fork_group, &fork_medians, ours);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let vs_vfork = ours / vfork_medians[1];
    let vs_std = ours / vfork_medians[2];
    let fork_speedup = fork_medians[0] / ours;
    println!(
        "  targets: Spawn/raw vfork {vs_vfork:.2} (<= 1.10: {}), Spawn/std posix_spawn {vs_std:.2} \
         (<= 0.85: {}), std fork path/Spawn {fork_speedup:.2} (>= 2: {})",
        verdict(vs_vfork <= 1.10),
        verdict(vs_std <= 0.85),
        verdict(fork_speedup >= 2.0),
    );
    ours
}

/// Prints one group's rows: runs, median and `Spawn / this`.
fn print_group(rounds: usize, group: &[Variant<'_>], medians: &[f64], ours: f64) {
    for (variant, median) in group.iter().zip(medians) {
        println!(
            "  {:<32} {:>7} {median:>11.1}  {:>12.2}",
            variant.name,
            variant.runs(rounds),
            ours / median
        );
    }
}

fn main() {
    let options = options_or_exit("spawn", parse_options());
    let mut programs: Vec<(String, String)> = Vec::new();
    for program in &options.programs {
        match (program.as_str(), &options.static_noop) {
            ("static", Some(path)) => programs.push((path.clone(), "static no-op".to_owned())),
            ("static", None) => eprintln!(
                "spawn bench: no --static-noop PATH given (cargo xtask bench builds one): \
                 measuring /bin/true only"
            ),
            ("true", _) => programs.push(("/bin/true".to_owned(), "/bin/true".to_owned())),
            (other, _) => {
                eprintln!("spawn bench: unknown program {other:?} (static, true)");
                std::process::exit(2);
            }
        }
    }
    let first = Spawn::new("/bin/true").spawn().and_then(|p| p.wait());
    assert!(first.expect("a first spawn").success());
    println!(
        "Spawn strategy on this machine: {}",
        Spawn::strategy().unwrap_or("none chosen")
    );
    let mut small: Vec<f64> = Vec::new();
    for (parent, bytes) in &options.parents {
        let ballast = Ballast::new(*bytes);
        for (index, (path, label)) in programs.iter().enumerate() {
            let fork_stride = if *bytes == 0 { 1 } else { 10 };
            let ours = bench(path, label, parent, options.rounds, fork_stride);
            if *bytes == 0 {
                small.push(ours);
            } else if let Some(base) = small.get(index) {
                let growth = ours / base;
                println!(
                    "  target: Spawn with a {parent} parent / small parent {growth:.2} (<= 1.2: {})",
                    if growth <= 1.2 { "met" } else { "MISSED" }
                );
            }
        }
        drop(ballast);
    }
}
