//! `cargo xtask bench [signal|spawn|create_pidfd|reap|tree|output|async] [options]`: the benchmarks of the
//! `pidfd-benches` crate (`benches/benches`), each printing medians and ratios against std,
//! raw-syscall and (reap, async) tokio baselines measured in the same run. The spawn and async
//! benchmarks get a static no-op built here (`--static-noop PATH`).

use crate::{cmd, noop};

/// The package that holds every benchmark.
const PACKAGE: &str = "pidfd-benches";

/// (name, takes `--static-noop`).
const BENCHES: &[(&str, bool)] = &[
    ("signal", false),
    ("spawn", true),
    ("create_pidfd", true),
    ("reap", false),
    ("tree", false),
    ("output", true),
    ("async", true),
];

/// Runs the named benchmark (all of them without a name); later arguments go to it (spawn
/// takes `--rounds N`, `--parents small,1g,4g`, `--programs static,true`; create_pidfd
/// takes `--rounds N`; reap takes `--sizes 10,100,1000,4000`; async takes `--rounds N`,
/// `--children N`, `--reap-rounds N`, `--pin on|off`).
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let known = |name: &str| BENCHES.iter().find(|(bench, _)| *bench == name);
    let (selected, options): (Vec<&(&str, bool)>, &[String]) = match args.first() {
        Some(name) if known(name).is_some() => (known(name).into_iter().collect(), &args[1..]),
        Some(other) if !other.starts_with('-') => {
            let names: Vec<&str> = BENCHES.iter().map(|(name, _)| *name).collect();
            return Err(format!(
                "unknown benchmark {other:?}; known: {}",
                names.join(", ")
            ));
        }
        _ => (BENCHES.iter().collect(), args),
    };
    let mut static_noop = None;
    for (name, wants_noop) in selected {
        let mut command = cmd::cargo(&cmd::current_toolchain());
        command
            .args(["bench", "--package", PACKAGE, "--bench", name, "--"])
            .args(options);
        if *wants_noop {
            if static_noop.is_none() {
                let dir = cmd::workspace_root().join("target").join("bench-noop");
                let (path, what) = noop::build_static_noop(&dir)
                    .map_err(|e| format!("cannot build the static no-op: {e}"))?;
                eprintln!("xtask: built the {what}: {}", path.display());
                static_noop = Some(path);
            }
            if let Some(path) = &static_noop {
                command.arg("--static-noop").arg(path);
            }
        }
        cmd::run_visible(&mut command)?;
    }
    Ok(())
}
