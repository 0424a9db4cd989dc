//! `cargo xtask fuzz [--smoke] [--seconds N] [--targets a,b]`: run every cargo-fuzz target
//! of `fuzz/` (the pinned nightly, `.ci/nightly-toolchain`) for a bounded time each.
//!
//! `--smoke` is the CI setting: a short run per target (20 s unless `--seconds` says
//! otherwise) that fails on any crash. Needs `cargo-fuzz` (`cargo install cargo-fuzz`) and
//! the nightly toolchain; this task names what is missing rather than installing it, unless
//! `--install` is given.
//!
//! Corpus: every target starts from its committed seed corpus, `fuzz/corpus/<target>/`
//! (real kernel output where there is any), which libFuzzer only reads; what it finds goes
//! to `fuzz/target/corpus/<target>/` (kept between runs, never committed). A target without
//! seeds is an error. `cargo xtask fuzz --seed-corpus` regenerates the seeds on this kernel
//! (`fuzz/examples/gen_corpus.rs`) and runs nothing else.

use std::process::Command;
use std::time::Instant;

use crate::cmd;

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut seconds: Option<u64> = None;
    let mut smoke = false;
    let mut install = false;
    let mut wanted: Option<Vec<String>> = None;
    let mut seed_corpus = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--install" => install = true,
            "--seed-corpus" => seed_corpus = true,
            "--seconds" => {
                let value = rest.next().ok_or("--seconds needs a value")?;
                seconds = Some(
                    value
                        .parse()
                        .map_err(|_| format!("bad --seconds {value:?}"))?,
                );
            }
            "--targets" => {
                let value = rest.next().ok_or("--targets needs a value")?;
                wanted = Some(value.split(',').map(str::to_owned).collect());
            }
            other => return Err(format!("fuzz: unknown option {other:?}")),
        }
    }
    let seconds = seconds.unwrap_or(if smoke { 20 } else { 300 });
    if seed_corpus {
        return cmd::run_visible(
            cmd::cargo(cmd::nightly())
                .current_dir(cmd::workspace_root().join("fuzz"))
                .args(["run", "--quiet", "--example", "gen_corpus"]),
        );
    }
    ensure_cargo_fuzz(install)?;
    let all = fuzz_targets()?;
    for target in &all {
        if seed_files(target) == 0 {
            return Err(format!(
                "fuzz target {target} has no seed corpus in fuzz/corpus/{target}/ \
                 (cargo xtask fuzz --seed-corpus)"
            ));
        }
    }
    let targets: Vec<String> = match wanted {
        Some(wanted) => {
            for name in &wanted {
                if !all.contains(name) {
                    return Err(format!(
                        "unknown fuzz target {name:?}; known: {}",
                        all.join(", ")
                    ));
                }
            }
            wanted
        }
        None => all,
    };
    let mut failed = Vec::new();
    let mut rows = Vec::new();
    for target in &targets {
        let started = Instant::now();
        let fuzz_dir = cmd::workspace_root().join("fuzz");
        // libFuzzer writes new inputs into the first corpus directory only.
        let found = fuzz_dir.join("target/corpus").join(target);
        std::fs::create_dir_all(&found)
            .map_err(|error| format!("cannot create {}: {error}", found.display()))?;
        let seeds = fuzz_dir.join("corpus").join(target);
        let mut command = cmd::cargo(cmd::nightly());
        command
            .current_dir(&fuzz_dir)
            .args(["fuzz", "run", target])
            .arg(&found)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"));
        let result = cmd::run_visible(&mut command);
        let ok = result.is_ok();
        if !ok {
            failed.push(target.clone());
        }
        rows.push((target.clone(), ok, started.elapsed().as_secs_f64()));
    }
    println!("\n{:24} {:8} {:>8}", "fuzz target", "result", "time");
    for (target, ok, secs) in &rows {
        println!(
            "{target:24} {:8} {secs:>7.1}s",
            if *ok { "ok" } else { "CRASHED" }
        );
    }
    if failed.is_empty() {
        println!(
            "{} fuzz targets ran {seconds} s each without a crash",
            rows.len()
        );
        Ok(())
    } else {
        Err(format!(
            "fuzz targets crashed: {} (inputs in fuzz/artifacts/; add each as a regression test)",
            failed.join(", ")
        ))
    }
}

/// The `[[bin]]` names of `fuzz/Cargo.toml`.
fn fuzz_targets() -> Result<Vec<String>, String> {
    let manifest = cmd::workspace_root().join("fuzz/Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|error| format!("cannot read {}: {error}", manifest.display()))?;
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            if let Some(value) = line
                .strip_prefix("name")
                .map(str::trim)
                .and_then(|v| v.strip_prefix('='))
            {
                names.push(value.trim().trim_matches('"').to_owned());
            }
        }
    }
    if names.is_empty() {
        return Err("fuzz/Cargo.toml has no [[bin]] targets".to_owned());
    }
    Ok(names)
}

/// The number of seed files of `target` (0 when its directory is missing).
fn seed_files(target: &str) -> usize {
    let dir = cmd::workspace_root().join("fuzz/corpus").join(target);
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|entry| entry.path().is_file())
            .count()
    })
}

/// The cargo-fuzz release `--install` installs (pinned: a new release must not change CI).
const CARGO_FUZZ_VERSION: &str = "0.13.2";

fn ensure_cargo_fuzz(install: bool) -> Result<(), String> {
    let present = cmd::capture(cmd::cargo(cmd::nightly()).args(["fuzz", "--version"]))
        .is_ok_and(|output| output.success);
    if present {
        return Ok(());
    }
    if !install {
        return Err(format!(
            "cargo-fuzz is missing: run `cargo install cargo-fuzz --version \
                 {CARGO_FUZZ_VERSION} --locked` (or pass --install), and make sure the \
                 toolchain {} is installed",
            cmd::nightly()
        ));
    }
    cmd::run_visible(Command::new("cargo").args([
        "install",
        "cargo-fuzz",
        "--version",
        CARGO_FUZZ_VERSION,
        "--locked",
    ]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_every_fuzz_target() {
        let targets = super::fuzz_targets().unwrap();
        assert!(
            targets.contains(&"siginfo_decode".to_owned()),
            "{targets:?}"
        );
        assert!(targets.contains(&"fdinfo_parse".to_owned()), "{targets:?}");
        for target in &targets {
            let source =
                crate::cmd::workspace_root().join(format!("fuzz/fuzz_targets/{target}.rs"));
            assert!(source.exists(), "{} missing", source.display());
            assert!(
                super::seed_files(target) > 0,
                "no seed corpus in fuzz/corpus/{target}/"
            );
        }
    }
}
