//! The static no-op program the spawn benchmarks exec, built once by `cargo xtask bench` and
//! passed to them as `--static-noop PATH`: with no libc start-up and no dynamic loading, its
//! exec costs little more than the kernel's own work, so spawn cost is what is measured.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A no-op with no libc at all: `_start` calls `exit_group(0)`. Its exec costs little more
/// than the kernel's own work, so the spawn machinery dominates what is measured.
const NOOP_BARE_C: &str = r#"
#if defined(__x86_64__)
void _start(void) { __asm__ volatile("mov $231, %eax\n\txor %edi, %edi\n\tsyscall"); for (;;) {} }
#elif defined(__i386__)
void _start(void) { __asm__ volatile("mov $252, %eax\n\txor %ebx, %ebx\n\tint $0x80"); for (;;) {} }
#elif defined(__aarch64__)
void _start(void) { __asm__ volatile("mov x8, #94\n\tmov x0, #0\n\tsvc #0"); for (;;) {} }
#else
#error "no bare no-op for this architecture"
#endif
"#;
/// The fallback: a static libc no-op (libc start-up included, e.g. CPUID probing).
const NOOP_C: &str = "int main(void) { return 0; }\n";
const NOOP_RS: &str = "fn main() {}\n";

/// Builds the static no-op program in `dir`: the libc-free one with `cc -nostdlib`, else a
/// static libc one with `cc -static`, else with `rustc` and crt-static. Returns its path and
/// what it is.
pub(crate) fn build_static_noop(dir: &Path) -> Result<(PathBuf, &'static str), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let cc = |name: &str, source: &str, flags: &[&str]| -> Result<PathBuf, String> {
        let source_path = dir.join(format!("{name}.c"));
        let binary = dir.join(name);
        std::fs::write(&source_path, source).map_err(|e| e.to_string())?;
        let status = Command::new("cc")
            .args(flags)
            .arg("-o")
            .arg(&binary)
            .arg(&source_path)
            .status()
            .map_err(|e| format!("cc: {e}"))?;
        if status.success() {
            Ok(binary)
        } else {
            Err(format!("cc {flags:?}: {status}"))
        }
    };
    let bare = match cc("noop-bare", NOOP_BARE_C, &["-static", "-nostdlib", "-O2"]) {
        Ok(path) => return Ok((path, "static no-op (no libc)")),
        Err(error) => error,
    };
    let libc = match cc("noop-libc", NOOP_C, &["-static", "-O2"]) {
        Ok(path) => return Ok((path, "static no-op (static libc)")),
        Err(error) => error,
    };
    let binary = dir.join("noop-rust");
    let rs_source = dir.join("noop.rs");
    std::fs::write(&rs_source, NOOP_RS).map_err(|e| e.to_string())?;
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let status = Command::new(rustc)
        .args(["-O", "-C", "target-feature=+crt-static", "-o"])
        .arg(&binary)
        .arg(&rs_source)
        .status()
        .map_err(|e| format!("{bare}; {libc}; rustc: {e}"))?;
    if status.success() {
        Ok((binary, "static no-op (Rust, crt-static)"))
    } else {
        Err(format!("{bare}; {libc}; rustc crt-static: {status}"))
    }
}
