//! Named cfgs for the ABI families whose `cfg` lists would otherwise be repeated across the
//! crate (and drift apart):
//!
//! * `pidfd_x32` — x86_64 with 32-bit pointers (the x32 ABI);
//! * `pidfd_mips` — every MIPS flavour (`mips`, `mips32r6`, `mips64`, `mips64r6`): the
//!   `si_code`/`si_errno` swap in `siginfo_t`, MIPS signal numbers;
//! * `pidfd_sparc` — `sparc` and `sparc64` (no clone3);
//! * `pidfd_libc_mips64_gnu` — 64-bit MIPS with glibc, where libc 0.2.191 picks the generic
//!   modules (see `pidfd_sys::errata`).

fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let width = std::env::var("CARGO_CFG_TARGET_POINTER_WIDTH").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let cfgs = [
        ("pidfd_x32", arch == "x86_64" && width == "32"),
        (
            "pidfd_mips",
            matches!(arch.as_str(), "mips" | "mips32r6" | "mips64" | "mips64r6"),
        ),
        ("pidfd_sparc", matches!(arch.as_str(), "sparc" | "sparc64")),
        (
            "pidfd_libc_mips64_gnu",
            matches!(arch.as_str(), "mips64" | "mips64r6") && env == "gnu",
        ),
    ];
    for (name, set) in cfgs {
        println!("cargo::rustc-check-cfg=cfg({name})");
        if set {
            println!("cargo::rustc-cfg={name}");
        }
    }
    println!("cargo::rerun-if-changed=build.rs");
}
