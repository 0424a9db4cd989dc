//! `cargo xtask check-arches`: compile `pidfd-sys` for every target in the matrix.
//!
//! `cargo check` is enough to run every compile-time assertion (layouts, numbers and the
//! `pidfd_check_upstream` cross-checks are const-evaluated) without a cross linker, and it
//! avoids LLVM bugs in code generation for the rarer targets (m68k crashes in SelectionDAG).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use crate::cmd;
use crate::targets::{self, Target, Tier};

/// `RUSTFLAGS` for every check: the upstream cross-checks on, warnings are errors.
const RUSTFLAGS: &str = "--cfg pidfd_check_upstream -D warnings";

/// One target's check.
pub(crate) struct Row {
    pub(crate) target: Target,
    pub(crate) method: String,
    pub(crate) ok: bool,
    pub(crate) seconds: f64,
    pub(crate) error: Option<String>,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut wanted = None;
    let mut list = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--targets" => wanted = Some(rest.next().ok_or("--targets needs a value")?.as_str()),
            "--list" => list = true,
            other => return Err(format!("check-arches: unknown option {other:?}")),
        }
    }
    let selected = targets::select(wanted)?;
    if list {
        for target in &selected {
            let how = match target.tier {
                Tier::Rustup => "rustup std",
                Tier::BuildStd => "nightly -Zbuild-std=core",
            };
            println!("{:40} {:12} {how}", target.triple, target.abi);
        }
        return Ok(());
    }

    let rows = check_targets(selected)?;
    print_table(&rows);
    let failed: Vec<&str> = rows
        .iter()
        .filter(|row| !row.ok)
        .map(|row| row.target.triple)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("check-arches failed for: {}", failed.join(", ")))
    }
}

/// Checks each target (adding rustup targets and nightly `rust-src` as needed, saying so).
pub(crate) fn check_targets(selected: Vec<Target>) -> Result<Vec<Row>, String> {
    let stable = cmd::current_toolchain();
    let installed = installed_targets(&stable);
    let mut rows = Vec::new();
    let mut nightly_ready = false;
    for target in selected {
        let mut tier = target.tier;
        let mut note = String::new();
        if tier == Tier::Rustup && !installed.contains(target.triple) {
            let added = cmd::run_visible(std::process::Command::new("rustup").args([
                "target",
                "add",
                "--toolchain",
                &stable,
                target.triple,
            ]));
            if let Err(error) = added {
                eprintln!(
                    "xtask: {error}; falling back to -Zbuild-std for {}",
                    target.triple
                );
                tier = Tier::BuildStd;
                note = " (rustup has no std here)".to_owned();
            }
        }
        if tier == Tier::BuildStd && !nightly_ready {
            ensure_nightly_rust_src()?;
            nightly_ready = true;
        }
        rows.push(check_one(target, tier, &stable, &note)?);
    }
    Ok(rows)
}

pub(crate) fn installed_targets(toolchain: &str) -> BTreeSet<String> {
    let output = cmd::capture(std::process::Command::new("rustup").args([
        "target",
        "list",
        "--installed",
        "--toolchain",
        toolchain,
    ]));
    match output {
        Ok(output) if output.success => output.text.lines().map(str::to_owned).collect(),
        _ => BTreeSet::new(),
    }
}

/// Installs the pinned nightly toolchain ([`cmd::nightly`]) and its `rust-src` if missing,
/// saying so.
pub(crate) fn ensure_nightly_rust_src() -> Result<(), String> {
    let sysroot = cmd::capture(std::process::Command::new("rustup").args([
        "run",
        cmd::nightly(),
        "rustc",
        "--print",
        "sysroot",
    ]));
    let has_src = match &sysroot {
        Ok(output) if output.success => Path::new(output.text.trim())
            .join("lib/rustlib/src/rust/library/Cargo.lock")
            .exists(),
        _ => false,
    };
    if has_src {
        return Ok(());
    }
    if !matches!(&sysroot, Ok(output) if output.success) {
        cmd::run_visible(std::process::Command::new("rustup").args([
            "toolchain",
            "install",
            cmd::nightly(),
            "--profile",
            "minimal",
        ]))?;
    }
    cmd::run_visible(std::process::Command::new("rustup").args([
        "component",
        "add",
        "rust-src",
        "--toolchain",
        cmd::nightly(),
    ]))
}

fn check_one(target: Target, tier: Tier, stable: &str, note: &str) -> Result<Row, String> {
    let started = Instant::now();
    // Feature configurations: no_std (only `core` needed) and std (where std exists or
    // is built).
    const NO_STD: &[&str] = &["--no-default-features"];
    const STD: &[&str] = &[];
    let (toolchain, configs): (&str, &[&[&str]]) = match (tier, target.std_only) {
        (Tier::Rustup, false) => (stable, &[NO_STD, STD]),
        (Tier::Rustup, true) => (stable, &[STD]),
        (Tier::BuildStd, false) => (cmd::nightly(), &[NO_STD]),
        (Tier::BuildStd, true) => (cmd::nightly(), &[STD]),
    };
    let mut error = None;
    for &config in configs {
        let mut command = cmd::cargo(toolchain);
        command
            .args([
                "check",
                "--quiet",
                "--package",
                "pidfd-sys",
                "--lib",
                "--target",
                target.triple,
            ])
            .args(["--target-dir", "target/arches"])
            .args(config)
            .env("RUSTFLAGS", RUSTFLAGS);
        if tier == Tier::BuildStd {
            command.arg(if config == STD {
                "-Zbuild-std=std,panic_abort"
            } else {
                "-Zbuild-std=core"
            });
        }
        if target.release {
            command.arg("--release");
        }
        eprintln!(
            "xtask: checking {} ({toolchain}, {:?})",
            target.triple, config
        );
        let output = cmd::capture(&mut command)?;
        if !output.success {
            error = Some(cmd::tail(&output.text, 30));
            break;
        }
    }
    let configs = if configs.len() == 2 {
        "no_std + std"
    } else if configs[0] == STD {
        "std only (linux-raw-sys no_std bug)"
    } else {
        "no_std"
    };
    let method = match tier {
        Tier::Rustup => format!("{toolchain}, rustup std, {configs}"),
        Tier::BuildStd => format!("nightly -Zbuild-std, {configs}{note}"),
    };
    let method = if target.release {
        method + ", --release (LLVM debug crash)"
    } else {
        method
    };
    Ok(Row {
        target,
        method,
        ok: error.is_none(),
        seconds: started.elapsed().as_secs_f64(),
        error,
    })
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:40} {:12} {:6} {:>7}  method",
        "target", "abi", "result", "time"
    );
    println!("{}", "-".repeat(110));
    for row in rows {
        println!(
            "{:40} {:12} {:6} {:>6.1}s  {}",
            row.target.triple,
            row.target.abi,
            if row.ok { "ok" } else { "FAILED" },
            row.seconds,
            row.method
        );
    }
    let ok = rows.iter().filter(|row| row.ok).count();
    println!("{}", "-".repeat(110));
    println!("{ok} of {} targets ok", rows.len());
    for row in rows {
        if let Some(error) = &row.error {
            println!("\n--- {} ---\n{error}", row.target.triple);
        }
    }
}
