//! `cargo xtask test-arches`: every crate's tests on foreign architectures — natively on i686
//! (this x86_64 kernel runs 32-bit binaries), under qemu-user elsewhere, compile-only where
//! nothing can run them here.
//!
//! Under qemu the runner sets `PIDFD_TEST_EMULATOR` (qemu's name and version),
//! `PIDFD_TEST_RUNNER` (so that re-executed scenario children start under qemu too) and
//! `PIDFD_TEST_SKIP_LOG`: tests that reach a documented emulator gap record a skip with its
//! reason there (`pidfd_tests::emulator`), and the table counts them. On a real kernel nothing
//! is skipped. Nothing is installed unless `--install` is given: missing packages, rustup
//! targets and nightly `rust-src` are named instead.
//!
//! The emulators are `qemu-<arch>` from `PATH`, or from the directory given with
//! `--qemu-dir DIR` (or `PIDFD_QEMU_DIR`), to run the matrix under another qemu-user than the
//! system's — e.g. Debian bookworm's 7.2 and bookworm-backports' 10.x unpacked beside it
//! (`apt-get download -t bookworm-backports qemu-user`, `dpkg-deb -x`, then
//! `--qemu-dir <dir>/usr/bin`): qemu 8+ emulates `CLONE_PIDFD` and turns vfork into fork,
//! which exercises other fallbacks than 7.2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::check_arches;
use crate::cmd;
use crate::targets;

/// How a target's tests run here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// Natively on this x86_64 kernel, statically linked (i686).
    Native,
    /// Under qemu-user, with rustup's std (stable).
    Qemu,
    /// Under qemu-user, std built by nightly `-Zbuild-std` (tier 3, or no rust-std here).
    QemuBuildStd,
}

/// A target whose tests run.
#[derive(Debug, Clone, Copy)]
struct RunTarget {
    triple: &'static str,
    how: How,
    /// The emulator binary (`qemu-<arch>`).
    qemu: &'static str,
    /// The GNU triple of the cross toolchain (`<gnu>-gcc`, sysroot `/usr/<gnu>`).
    gnu: &'static str,
    /// Debian packages with that toolchain and libc.
    packages: &'static [&'static str],
}

const fn run(
    triple: &'static str,
    how: How,
    qemu: &'static str,
    gnu: &'static str,
    packages: &'static [&'static str],
) -> RunTarget {
    RunTarget {
        triple,
        how,
        qemu,
        gnu,
        packages,
    }
}

/// The targets whose tests run (the matrix).
const RUN: &[RunTarget] = &[
    run(
        "i686-unknown-linux-gnu",
        How::Native,
        "",
        "i686-linux-gnu",
        &["gcc-i686-linux-gnu", "libc6-dev-i386-cross"],
    ),
    run(
        "aarch64-unknown-linux-gnu",
        How::Qemu,
        "qemu-aarch64",
        "aarch64-linux-gnu",
        &["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
    ),
    run(
        "armv7-unknown-linux-gnueabihf",
        How::Qemu,
        "qemu-arm",
        "arm-linux-gnueabihf",
        &["gcc-arm-linux-gnueabihf", "libc6-dev-armhf-cross"],
    ),
    run(
        "riscv64gc-unknown-linux-gnu",
        How::Qemu,
        "qemu-riscv64",
        "riscv64-linux-gnu",
        &["gcc-riscv64-linux-gnu", "libc6-dev-riscv64-cross"],
    ),
    run(
        "powerpc-unknown-linux-gnu",
        How::Qemu,
        "qemu-ppc",
        "powerpc-linux-gnu",
        &["gcc-powerpc-linux-gnu", "libc6-dev-powerpc-cross"],
    ),
    run(
        "powerpc64-unknown-linux-gnu",
        How::Qemu,
        "qemu-ppc64",
        "powerpc64-linux-gnu",
        &["gcc-powerpc64-linux-gnu", "libc6-dev-ppc64-cross"],
    ),
    run(
        "powerpc64le-unknown-linux-gnu",
        How::Qemu,
        "qemu-ppc64le",
        "powerpc64le-linux-gnu",
        &["gcc-powerpc64le-linux-gnu", "libc6-dev-ppc64el-cross"],
    ),
    run(
        "s390x-unknown-linux-gnu",
        How::Qemu,
        "qemu-s390x",
        "s390x-linux-gnu",
        &["gcc-s390x-linux-gnu", "libc6-dev-s390x-cross"],
    ),
    run(
        "mips-unknown-linux-gnu",
        How::QemuBuildStd,
        "qemu-mips",
        "mips-linux-gnu",
        &["gcc-mips-linux-gnu", "libc6-dev-mips-cross"],
    ),
    run(
        "mipsel-unknown-linux-gnu",
        How::QemuBuildStd,
        "qemu-mipsel",
        "mipsel-linux-gnu",
        &["gcc-mipsel-linux-gnu", "libc6-dev-mipsel-cross"],
    ),
    run(
        "mips64-unknown-linux-gnuabi64",
        How::QemuBuildStd,
        "qemu-mips64",
        "mips64-linux-gnuabi64",
        &["gcc-mips64-linux-gnuabi64", "libc6-dev-mips64-cross"],
    ),
    run(
        "mips64el-unknown-linux-gnuabi64",
        How::QemuBuildStd,
        "qemu-mips64el",
        "mips64el-linux-gnuabi64",
        &["gcc-mips64el-linux-gnuabi64", "libc6-dev-mips64el-cross"],
    ),
    run(
        "sparc64-unknown-linux-gnu",
        How::QemuBuildStd,
        "qemu-sparc64",
        "sparc64-linux-gnu",
        &["gcc-sparc64-linux-gnu", "libc6-dev-sparc64-cross"],
    ),
];

/// Targets nothing here can run (no cross toolchain or no emulator): `check-arches` compiles
/// `pidfd-sys` for them, with every layout and number assertion.
const COMPILE_ONLY: &[&str] = &[
    "x86_64-unknown-linux-gnux32",
    "loongarch64-unknown-linux-gnu",
    "riscv32gc-unknown-linux-gnu",
    "csky-unknown-linux-gnuabiv2",
    "hexagon-unknown-linux-musl",
    "m68k-unknown-linux-gnu",
];

/// Seconds after which `timeout(1)` kills one emulated test binary.
const QEMU_BINARY_TIMEOUT: u32 = 900;

/// One row of the report.
struct Row {
    triple: String,
    how: String,
    passed: usize,
    failed: usize,
    /// Tests that stopped at a documented emulator gap: test name → reasons.
    skipped: BTreeMap<String, Vec<String>>,
    /// `#[ignore]`d entries (the re-executed scenario children's entry points).
    ignored: usize,
    seconds: f64,
    error: Option<String>,
}

pub(crate) fn run_task(args: &[String]) -> Result<(), String> {
    let mut wanted: Option<Vec<String>> = None;
    let mut list = false;
    let mut install = false;
    let mut qemu_dir: Option<PathBuf> = std::env::var_os(QEMU_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--targets" => {
                let value = rest.next().ok_or("--targets needs a value")?;
                wanted = Some(value.split(',').map(str::to_owned).collect());
            }
            "--list" => list = true,
            "--install" => install = true,
            "--qemu-dir" => {
                let value = rest.next().ok_or("--qemu-dir needs a directory")?;
                qemu_dir = Some(PathBuf::from(value));
            }
            other => return Err(format!("test-arches: unknown option {other:?}")),
        }
    }
    let chosen = |triple: &str| {
        wanted
            .as_ref()
            .is_none_or(|w| w.iter().any(|t| t == triple))
    };
    if let Some(wanted) = &wanted {
        for triple in wanted {
            let known = RUN.iter().any(|t| t.triple == triple) || COMPILE_ONLY.contains(&&**triple);
            if !known {
                return Err(format!(
                    "test-arches: {triple} is not in the matrix (see --list)"
                ));
            }
        }
    }
    let runs: Vec<RunTarget> = RUN.iter().copied().filter(|t| chosen(t.triple)).collect();
    let compile_only: Vec<&str> = COMPILE_ONLY.iter().copied().filter(|t| chosen(t)).collect();
    if list {
        for target in &runs {
            println!("{:36} {}", target.triple, describe(target));
        }
        for triple in &compile_only {
            println!("{triple:36} compile-only (check-arches)");
        }
        return Ok(());
    }
    // Absolute: cargo runs each test binary from its package's directory.
    let qemu_dir = match qemu_dir {
        Some(dir) => Some(
            std::fs::canonicalize(&dir)
                .map_err(|error| format!("--qemu-dir {}: {error}", dir.display()))?,
        ),
        None => None,
    };
    let qemu = Qemu { dir: qemu_dir };
    prepare(&runs, install, &qemu)?;
    let started = Instant::now();
    let mut rows = Vec::new();
    for target in &runs {
        rows.push(test_one(target, &qemu)?);
    }
    if !compile_only.is_empty() {
        let selected = targets::select(Some(&compile_only.join(",")))?;
        for checked in check_arches::check_targets(selected)? {
            rows.push(Row {
                triple: checked.target.triple.to_owned(),
                how: format!("compile-only: check-arches ({})", checked.method),
                passed: 0,
                failed: usize::from(!checked.ok),
                skipped: BTreeMap::new(),
                ignored: 0,
                seconds: checked.seconds,
                error: checked.error,
            });
        }
    }
    print_table(&rows, started.elapsed().as_secs_f64());
    let failed: Vec<&str> = rows
        .iter()
        .filter(|row| row.failed > 0 || row.error.is_some())
        .map(|row| row.triple.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("test-arches failed for: {}", failed.join(", ")))
    }
}

fn describe(target: &RunTarget) -> String {
    match target.how {
        How::Native => "native on this kernel (static), stable".to_owned(),
        How::Qemu => format!("{}, stable", target.qemu),
        How::QemuBuildStd => format!("{}, nightly -Zbuild-std", target.qemu),
    }
}

/// The environment variable naming the emulator directory (as `--qemu-dir`).
const QEMU_DIR_ENV: &str = "PIDFD_QEMU_DIR";

/// Where the `qemu-<arch>` binaries come from.
struct Qemu {
    /// `--qemu-dir` / `PIDFD_QEMU_DIR`; `None`: from `PATH`.
    dir: Option<PathBuf>,
}

impl Qemu {
    /// The command to run `qemu` (a binary name such as `qemu-aarch64`).
    fn program(&self, qemu: &str) -> String {
        match &self.dir {
            Some(dir) => dir.join(qemu).display().to_string(),
            None => qemu.to_owned(),
        }
    }

    /// Whether `qemu` is there.
    fn has(&self, qemu: &str) -> bool {
        match &self.dir {
            Some(dir) => dir.join(qemu).is_file(),
            None => on_path(qemu),
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Checks (and with `install`, installs) what the runs need; names what is missing.
fn prepare(runs: &[RunTarget], install: bool, qemu: &Qemu) -> Result<(), String> {
    let mut packages: Vec<&str> = Vec::new();
    if let Some(dir) = &qemu.dir {
        let absent: Vec<&str> = runs
            .iter()
            .filter(|t| t.how != How::Native && !qemu.has(t.qemu))
            .map(|t| t.qemu)
            .collect();
        if !absent.is_empty() {
            return Err(format!(
                "test-arches: not in {}: {}",
                dir.display(),
                absent.join(" ")
            ));
        }
    }
    for target in runs {
        let compiler = format!("{}-gcc", target.gnu);
        let sysroot_lib = Path::new("/usr").join(target.gnu).join("lib");
        if !on_path(&compiler) || !sysroot_lib.is_dir() {
            packages.extend(target.packages);
        }
        if target.how != How::Native && !qemu.has(target.qemu) && !packages.contains(&"qemu-user") {
            packages.push("qemu-user");
        }
    }
    let stable = cmd::current_toolchain();
    let installed = check_arches::installed_targets(&stable);
    let rustup_targets: Vec<&str> = runs
        .iter()
        .filter(|t| t.how != How::QemuBuildStd && !installed.contains(t.triple))
        .map(|t| t.triple)
        .collect();
    let needs_nightly = runs.iter().any(|t| t.how == How::QemuBuildStd);
    let mut missing = Vec::new();
    if !packages.is_empty() {
        missing.push(format!("Debian packages: {}", packages.join(" ")));
    }
    if !rustup_targets.is_empty() {
        missing.push(format!(
            "rustup targets ({stable}): {}",
            rustup_targets.join(" ")
        ));
    }
    if needs_nightly && !nightly_has_rust_src() {
        missing.push("the nightly toolchain with rust-src".to_owned());
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !install {
        return Err(format!(
            "test-arches: missing {}\n(run `cargo xtask test-arches --install` to install them)",
            missing.join("; ")
        ));
    }
    if !packages.is_empty() {
        cmd::run_visible(Command::new("apt-get").arg("update"))?;
        cmd::run_visible(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends"])
                .args(&packages)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    for triple in rustup_targets {
        cmd::run_visible(Command::new("rustup").args([
            "target",
            "add",
            "--toolchain",
            &stable,
            triple,
        ]))?;
    }
    if needs_nightly {
        check_arches::ensure_nightly_rust_src()?;
    }
    Ok(())
}

fn nightly_has_rust_src() -> bool {
    let sysroot = cmd::capture(Command::new("rustup").args([
        "run",
        cmd::nightly(),
        "rustc",
        "--print",
        "sysroot",
    ]));
    matches!(sysroot, Ok(output) if output.success
        && Path::new(output.text.trim()).join("lib/rustlib/src/rust/library/Cargo.lock").exists())
}

/// `qemu-user <version>` from `qemu-<arch> --version`.
fn qemu_version(qemu: &str) -> String {
    let output = cmd::capture(Command::new(qemu).arg("--version"));
    let version = output.ok().and_then(|output| {
        let line = output.text.lines().next()?.to_owned();
        line.split_whitespace()
            .skip_while(|word| *word != "version")
            .nth(1)
            .map(str::to_owned)
    });
    format!("qemu-user {}", version.unwrap_or_else(|| "?".to_owned()))
}

/// Builds and runs the workspace's tests (all but xtask) for one target.
fn test_one(target: &RunTarget, qemu: &Qemu) -> Result<Row, String> {
    let started = Instant::now();
    let env_triple = target.triple.to_uppercase().replace('-', "_");
    let root = cmd::workspace_root();
    let skip_log: PathBuf = root
        .join("target")
        .join("test-arches")
        .join(format!("{}.skips", target.triple));
    if let Some(dir) = skip_log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    // A stale log from an earlier run must not be counted.
    let _ = std::fs::remove_file(&skip_log);
    let toolchain = match target.how {
        How::QemuBuildStd => cmd::nightly().to_owned(),
        _ => cmd::current_toolchain(),
    };
    let mut command = cmd::cargo(&toolchain);
    command.args([
        "test",
        "--workspace",
        "--exclude",
        "xtask",
        // The benchmarks' crate has no tests; `--lib` would still build it (and tokio).
        "--exclude",
        "pidfd-benches",
        "--lib",
        "--tests",
        "--no-fail-fast",
        "--target",
        target.triple,
    ]);
    command.env(
        format!("CARGO_TARGET_{env_triple}_LINKER"),
        format!("{}-gcc", target.gnu),
    );
    match target.how {
        How::Native => {
            command.env(
                format!("CARGO_TARGET_{env_triple}_RUSTFLAGS"),
                "-C target-feature=+crt-static",
            );
        }
        How::Qemu | How::QemuBuildStd => {
            // qemu-user can deadlock a child forked while other guest threads run (both of
            // the child's threads stuck on futexes: seen once on s390x): tests run one at a
            // time, and a test binary that hangs anyway is killed after 15 minutes (a failure
            // in the table, not a stuck matrix).
            let runner = format!(
                "timeout --kill-after=10 {QEMU_BINARY_TIMEOUT} {} -L /usr/{}",
                qemu.program(target.qemu),
                target.gnu
            );
            command
                .env(format!("CARGO_TARGET_{env_triple}_RUNNER"), &runner)
                .env(
                    "PIDFD_TEST_EMULATOR",
                    qemu_version(&qemu.program(target.qemu)),
                )
                .env("PIDFD_TEST_RUNNER", &runner)
                .env("PIDFD_TEST_SKIP_LOG", &skip_log);
        }
    }
    if target.how == How::QemuBuildStd {
        command
            .arg("-Zbuild-std")
            .args(["--target-dir", "target/test-arches/nightly"]);
    }
    if target.how != How::Native {
        command.args(["--", "--test-threads=1"]);
    }
    eprintln!("xtask: testing {} ({})", target.triple, describe(target));
    let output = cmd::capture(&mut command)?;
    let (mut passed, mut failed, mut ignored, mut binaries) = (0, 0, 0, 0);
    for line in output.text.lines() {
        if let Some(result) = line.strip_prefix("test result: ") {
            binaries += 1;
            passed += count(result, "passed");
            failed += count(result, "failed");
            ignored += count(result, "ignored");
        }
    }
    let mut skipped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Ok(log) = std::fs::read_to_string(&skip_log) {
        for line in log.lines() {
            if let Some((test, reason)) = line.split_once('\t') {
                let reasons = skipped.entry(test.to_owned()).or_default();
                if !reasons.iter().any(|r| r == reason) {
                    reasons.push(reason.to_owned());
                }
            }
        }
    }
    let error = if output.success && failed == 0 && binaries > 0 {
        None
    } else {
        let reports = failure_reports(&output.text);
        if reports.is_empty() {
            // No test failed: the build or a whole binary did (e.g. killed by the timeout).
            Some(cmd::tail(&output.text, 60))
        } else {
            Some(
                reports
                    .iter()
                    .map(|(test, captured)| format!("FAILED {test}\n{captured}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        }
    };
    Ok(Row {
        triple: target.triple.to_owned(),
        how: describe(target),
        // A test that stopped at a gap reports "ok" to libtest: count it as skipped.
        passed: passed.saturating_sub(skipped.len()),
        failed,
        skipped,
        ignored,
        seconds: started.elapsed().as_secs_f64(),
        error,
    })
}

/// Each failing test of a `cargo test` run, as `binary::test`, with the output libtest
/// captured for it (its `---- name stdout ----` block, which holds the panic message and,
/// for scenario tests, the scenario child's output), at most 40 lines each.
fn failure_reports(text: &str) -> Vec<(String, String)> {
    const MAX_LINES: usize = 40;
    let mut reports = Vec::new();
    let mut binary = String::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    let mut finish = |current: &mut Option<(String, Vec<&str>)>| {
        if let Some((test, lines)) = current.take() {
            let shown = lines.len().min(MAX_LINES);
            let mut captured = lines[..shown].join("\n");
            if lines.len() > shown {
                captured.push_str(&format!("\n[... {} more lines]", lines.len() - shown));
            }
            reports.push((test, captured));
        }
    };
    for line in text.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("Running ") {
            finish(&mut current);
            // "Running tests/core_spawn.rs (target/.../core_spawn-hash)"
            let source = rest.split_whitespace().next().unwrap_or(rest);
            binary = source
                .rsplit('/')
                .next()
                .unwrap_or(source)
                .trim_end_matches(".rs")
                .to_owned();
            continue;
        }
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|rest| rest.strip_suffix(" stdout ----"))
        {
            finish(&mut current);
            current = Some((format!("{binary}::{name}"), Vec::new()));
            continue;
        }
        if line == "failures:" || line.starts_with("test result: ") {
            finish(&mut current);
            continue;
        }
        if let Some((_, lines)) = &mut current {
            lines.push(line);
        }
    }
    finish(&mut current);
    reports
}

/// `N` in "... N `what`; ..." of a libtest summary.
fn count(summary: &str, what: &str) -> usize {
    summary
        .split([';', '.'])
        .filter_map(|part| part.trim().strip_suffix(what))
        .filter_map(|number| number.trim().parse::<usize>().ok())
        .sum()
}

fn print_table(rows: &[Row], total_seconds: f64) {
    println!();
    println!(
        "{:34} {:>6} {:>6} {:>7} {:>7} {:>7}  how",
        "target", "passed", "failed", "skipped", "ignored", "time"
    );
    println!("{}", "-".repeat(120));
    for row in rows {
        println!(
            "{:34} {:>6} {:>6} {:>7} {:>7} {:>6.0}s  {}",
            row.triple,
            row.passed,
            row.failed,
            row.skipped.len(),
            row.ignored,
            row.seconds,
            row.how
        );
    }
    println!("{}", "-".repeat(120));
    println!(
        "wall time {total_seconds:.0} s; \"ignored\" are the #[ignore]d entry points of the \
         re-executed scenario children, run by their parent tests"
    );
    // Skip reasons, grouped: reason → (targets, tests).
    let mut reasons: BTreeMap<&str, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for row in rows {
        for (test, test_reasons) in &row.skipped {
            for reason in test_reasons {
                let (targets, tests) = reasons.entry(reason.as_str()).or_default();
                if !targets.contains(&row.triple.as_str()) {
                    targets.push(row.triple.as_str());
                }
                if !tests.contains(&test.as_str()) {
                    tests.push(test.as_str());
                }
            }
        }
    }
    if !reasons.is_empty() {
        println!("\nskips (emulator gaps):");
        for (reason, (targets, tests)) in &reasons {
            println!(
                "- {reason}\n    on {} target(s): {}",
                targets.len(),
                targets.join(", ")
            );
            println!("    tests: {}", tests.join(", "));
        }
    }
    for row in rows {
        if let Some(error) = &row.error {
            println!("\n--- {} ---\n{error}", row.triple);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_tests_are_named_with_their_output() {
        let text = "\
     Running tests/std_ext_faults.rs (target/x/debug/deps/std_ext_faults-0123)

running 2 tests
test a ... ok
test b ... FAILED

failures:

---- b stdout ----
thread 'b' panicked at tests/tests/std_ext_faults.rs:9:5:
scenario child said: scenario:x=1

failures:
    b

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out
     Running tests/other.rs (target/x/debug/deps/other-4567)
test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out
";
        let reports = failure_reports(text);
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].0, "std_ext_faults::b");
        assert!(
            reports[0]
                .1
                .contains("panicked at tests/tests/std_ext_faults.rs:9:5")
        );
        assert!(reports[0].1.contains("scenario:x=1"));
    }

    #[test]
    fn libtest_summaries_are_counted() {
        let summary = "ok. 12 passed; 3 failed; 1 ignored; 0 measured; 0 filtered out; \
                       finished in 0.83s";
        assert_eq!(count(summary, "passed"), 12);
        assert_eq!(count(summary, "failed"), 3);
        assert_eq!(count(summary, "ignored"), 1);
    }

    #[test]
    fn every_compile_only_target_is_in_the_check_matrix() {
        for triple in COMPILE_ONLY {
            assert!(targets::select(Some(triple)).is_ok(), "{triple}");
        }
    }
}
