//! Known emulator gaps, as explicit and counted skips.
//!
//! `cargo xtask test-arches` runs foreign-architecture test binaries under qemu-user and
//! sets [`EMULATOR_ENV`] (e.g. `qemu-user 7.2`) and [`SKIP_LOG_ENV`] (a file). A test that
//! reaches a documented qemu gap first asserts that the gap looks exactly as documented
//! (for example `ENOSYS` from clone3) and then calls [`gap`], which records the skip with its
//! reason in the log (the runner counts them per target) and tells the test to stop. Without
//! the marker, [`gap`] returns `false` and the test runs in full: on a real kernel nothing
//! is ever skipped.

use std::io::Write;

/// Set by the runner to the emulator's name and version.
pub const EMULATOR_ENV: &str = "PIDFD_TEST_EMULATOR";
/// Set by the runner to the command that runs a test binary (e.g. `qemu-aarch64 -L
/// /usr/aarch64-linux-gnu`): re-executed scenario children are started through it.
pub const RUNNER_ENV: &str = "PIDFD_TEST_RUNNER";
/// Set by the runner to a file that collects `test<TAB>reason` lines.
pub const SKIP_LOG_ENV: &str = "PIDFD_TEST_SKIP_LOG";

/// The emulator the runner says this test binary runs under, if any.
pub fn emulator() -> Option<String> {
    std::env::var(EMULATOR_ENV)
        .ok()
        .filter(|name| !name.is_empty())
}

/// Under an emulator: records that the current test stops here because of `reason` and
/// returns `true`. On a real kernel: returns `false` (the test goes on).
pub fn gap(reason: &str) -> bool {
    let Some(emulator) = emulator() else {
        return false;
    };
    record_skip(&format!("{emulator}: {reason}"));
    true
}

/// Records a skip that is not an emulator gap (cgroup v2 not writable, unprivileged user
/// namespaces refused, `core_pattern` a pipe, …): printed as `SKIPPED` on stderr, and written
/// to the skip ledger like [`gap`]'s.
pub fn skip(reason: &str) {
    record_skip(reason);
}

/// The file every skip is appended to: [`SKIP_LOG_ENV`] when set (test-arches sets it per
/// target), else `pidfd-test-skips.log` in the profile directory of this test binary
/// (`target/debug/`, `target/i686-unknown-linux-gnu/debug/`, …), which `.ci/run` clears
/// before the suite, then prints and checks against `tests/skip-allowlist.txt`.
pub fn skip_ledger() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os(SKIP_LOG_ENV) {
        return Some(path.into());
    }
    // <profile>/deps/<binary>
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.join("pidfd-test-skips.log"))
}

fn record_skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    // The binary's name without cargo's hash: `core_spawn-0123abcd` -> `core_spawn`.
    let binary = binary
        .rsplit_once('-')
        .map_or(binary.as_str(), |(name, _)| name);
    let line = format!("{binary}::{test}\t{reason}\n");
    eprint!("SKIPPED {line}");
    if let Some(path) = skip_ledger() {
        // One write of one short line with O_APPEND: lines from parallel tests and test
        // binaries do not interleave.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(error) = written {
            panic!("cannot record the skip in {}: {error}", path.display());
        }
    }
}

/// Whether `PIDFD_NONBLOCK`/`PIDFD_THREAD` reach the kernel as meant: qemu-user passes
/// `pidfd_open`'s flags through untranslated, so only ABIs whose `O_NONBLOCK`/`O_EXCL` equal
/// the host's (x86) values get them right under it.
pub fn pidfd_flags_translated() -> bool {
    emulator().is_none() || (libc::O_NONBLOCK == 0o4000 && libc::O_EXCL == 0o200)
}

/// Under an emulator, when `errno` is one of the `expected` errors of a documented gap:
/// records the skip (see [`gap`]) and returns `true`. Otherwise `false` — on a real kernel
/// always, and under an emulator that happens to support the call, too (the test goes on and
/// asserts the real behaviour).
pub fn known_gap(errno: Option<i32>, expected: &[i32], reason: &str) -> bool {
    emulator().is_some() && errno.is_some_and(|errno| expected.contains(&errno)) && gap(reason)
}

/// Whether `PIDFD_GET_INFO` (Linux 6.13) can be used here. Under qemu-user, which does not
/// forward the pidfd ioctls, records a gap and says no: the test then checks what a kernel
/// without the ioctl gives.
pub fn pidfd_info_works() -> bool {
    if crate::kernel::pidfd_get_info() {
        return true;
    }
    // (Under an emulator the probe fails because the ioctl is not forwarded: counted.)
    let _ = gap("pidfd ioctls are not forwarded (ENOSYS): checked as on a kernel before 6.13");
    false
}

/// Whether `PIDFD_INFO_EXIT` (Linux 6.15: the exit status survives the reap) can be used
/// here; under qemu-user as [`pidfd_info_works`].
pub fn pidfd_info_exit_works() -> bool {
    if crate::kernel::pidfd_info_exit() {
        return true;
    }
    let _ = gap("pidfd ioctls are not forwarded (ENOSYS): checked as on a kernel before 6.15");
    false
}

/// The emulator's major version (`qemu-user 10.0.2` → 10), if the runner names one.
pub fn emulator_major() -> Option<u32> {
    let name = emulator()?;
    let version = name.split_whitespace().last()?;
    version.split('.').next()?.parse().ok()
}

/// Whether the emulator gives spawned and forked children pidfds: qemu-user 8+ accepts
/// `CLONE_PIDFD` on a legacy clone (7.2 says `EINVAL`, so everything falls back to pid mode
/// there). Its `CLONE_VM | CLONE_VFORK` is a plain fork sharing no memory, so `Spawn` uses the
/// fork-style `clone(CLONE_PIDFD)`, whose exec errors come through a pipe. `true` on a real
/// kernel.
pub fn clone_pidfd_emulated() -> bool {
    emulator().is_none() || emulator_major().is_some_and(|major| major >= 8)
}

/// Whether this ABI's raw `clone` is refused (sparc: the child would get the parent's PID,
/// see `pidfd_sys::syscalls::clone`).
const RAW_CLONE_REFUSED: bool = cfg!(any(target_arch = "sparc", target_arch = "sparc64"));

/// Whether `pidfd_core::fork()` returns a pidfd-mode handle: it needs a raw
/// `clone(CLONE_PIDFD)` (or clone3), so not on sparc, nor under qemu-user 7.2.
pub fn fork_gets_pidfd() -> bool {
    !RAW_CLONE_REFUSED && clone_pidfd_emulated()
}

/// Whether `pidfd_core::Spawn` returns a pidfd-mode child: always on a real kernel (the
/// vfork-style clone); under qemu-user 8+ only through the fork-style raw clone, so not on
/// sparc there; never under 7.2.
pub fn spawn_gets_pidfd() -> bool {
    emulator().is_none() || (!RAW_CLONE_REFUSED && clone_pidfd_emulated())
}

/// `n` iterations on a real kernel, a tenth of them under an emulator (where each spawn costs
/// ten times as much): long loops that look for leaks still run through every case, in a
/// time the full foreign-architecture matrix can afford.
pub fn iterations(n: usize) -> usize {
    if emulator().is_some() { n / 10 } else { n }
}

/// Where [`pidfd_flags_translated`] is false (mips, sparc, alpha, parisc under qemu-user):
/// records the gap and returns `true`.
pub fn pidfd_flags_gap() -> bool {
    !pidfd_flags_translated()
        && gap(
            "qemu-user passes pidfd_open's flags untranslated, and this ABI's \
             PIDFD_NONBLOCK/PIDFD_THREAD bits mean other flags on the host",
        )
}

/// qemu-user 7.2 writes sparc64's `struct timeval` as if `tv_usec` were 64 bits wide, but
/// sparc64's `suseconds_t` is an `int` followed by padding: the microseconds land in the
/// padding and `tv_usec` reads 0 (the seconds are right), in `wait4`, `waitid` and
/// `getrusage` alike. Where a rusage has whole seconds only (`whole_seconds_only`: both
/// `tv_usec` are 0) on sparc64 under an emulator: records the gap and returns `true`.
pub fn timeval_usec_gap(whole_seconds_only: bool) -> bool {
    cfg!(target_arch = "sparc64")
        && whole_seconds_only
        && gap("qemu-user drops tv_usec of sparc64's struct timeval: sub-second CPU times read 0")
}
