//! Running child commands and locating the workspace.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The workspace root (the parent of this crate's directory).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or(manifest_dir.clone(), PathBuf::from)
}

/// A `cargo` command for `toolchain` run through rustup, with the environment a parent
/// `cargo run` leaves behind removed (so the child picks its own toolchain's rustc).
/// The dated nightly toolchain of every nightly-only step (tier-3 `-Zbuild-std` builds, the
/// fuzz targets), from `.ci/nightly-toolchain`, which `.ci/run` installs: a moving `nightly`
/// could break CI overnight.
pub(crate) fn nightly() -> &'static str {
    include_str!("../../.ci/nightly-toolchain").trim()
}

pub(crate) fn cargo(toolchain: &str) -> Command {
    let mut command = Command::new("rustup");
    command.args(["run", toolchain, "cargo"]);
    for var in [
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTUP_TOOLCHAIN",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
    ] {
        command.env_remove(var);
    }
    command.current_dir(workspace_root());
    command
}

/// The toolchain `cargo xtask` itself runs under (what rustup resolved), for tier-2 builds.
pub(crate) fn current_toolchain() -> String {
    std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "stable".to_owned())
}

/// What a finished command printed.
pub(crate) struct Output {
    pub(crate) success: bool,
    pub(crate) text: String,
}

/// Runs `command`, capturing stdout and stderr together.
pub(crate) fn capture(command: &mut Command) -> Result<Output, String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {command:?}: {error}"))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok(Output {
        success: output.status.success(),
        text,
    })
}

/// Runs `command` with its output shown, failing unless it succeeds.
pub(crate) fn run_visible(command: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {command:?}");
    let status = command
        .stdin(Stdio::null())
        .status()
        .map_err(|error| format!("cannot run {command:?}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed: {status}"))
    }
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
