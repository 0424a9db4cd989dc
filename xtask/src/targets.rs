//! The target matrix: every Linux ABI Rust targets, and how to build for it here.

/// How a target's standard library is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    /// rustup ships `rust-std` for it (tier 2): `rustup target add`, stable toolchain.
    Rustup,
    /// No prebuilt std (tier 3, or tier 2 whose std this machine's mirror lacks): nightly with
    /// `-Zbuild-std`.
    BuildStd,
}

/// One target of the matrix.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    /// The Rust target triple.
    pub(crate) triple: &'static str,
    /// The kernel ABI it exercises (an `pidfd_sys::abi::Abi::name`).
    pub(crate) abi: &'static str,
    /// How its std is obtained.
    pub(crate) tier: Tier,
    /// Build `core` in release mode: LLVM crashes generating debug code for it (m68k:
    /// SIGSEGV in SelectionDAG; mips32r6: SIGILL in the asm printer; nightly 2026-05-19).
    pub(crate) release: bool,
    /// Only the `std` configuration can build: linux-raw-sys 0.12.1's `no_std` `ctypes`
    /// has no `c_char` for csky and hexagon (a `pidfd_sys::errata::ERRATA` entry).
    pub(crate) std_only: bool,
}

const fn t(triple: &'static str, abi: &'static str, tier: Tier) -> Target {
    Target {
        triple,
        abi,
        tier,
        release: false,
        std_only: false,
    }
}

const fn release(target: Target) -> Target {
    Target {
        release: true,
        ..target
    }
}

const fn std_only(target: Target) -> Target {
    Target {
        std_only: true,
        ..target
    }
}

/// Every target `check-arches` compiles for. Each Rust-reachable ABI of `pidfd_sys::abi::ALL`
/// appears at least once (a unit test checks that).
pub(crate) const ALL: &[Target] = &[
    t("x86_64-unknown-linux-gnu", "x86_64", Tier::Rustup),
    t("x86_64-unknown-linux-musl", "x86_64", Tier::Rustup),
    t("x86_64-unknown-linux-gnux32", "x32", Tier::BuildStd),
    t("i686-unknown-linux-gnu", "i386", Tier::Rustup),
    t("aarch64-unknown-linux-gnu", "arm64", Tier::Rustup),
    t("aarch64-unknown-linux-musl", "arm64", Tier::Rustup),
    t("armv7-unknown-linux-gnueabihf", "arm-eabi", Tier::Rustup),
    t("riscv32gc-unknown-linux-gnu", "riscv32", Tier::BuildStd),
    t("riscv64gc-unknown-linux-gnu", "riscv64", Tier::Rustup),
    t("loongarch64-unknown-linux-gnu", "loongarch64", Tier::Rustup),
    t("powerpc-unknown-linux-gnu", "powerpc", Tier::Rustup),
    t("powerpc64-unknown-linux-gnu", "powerpc64", Tier::Rustup),
    t("powerpc64le-unknown-linux-gnu", "powerpc64", Tier::Rustup),
    t("s390x-unknown-linux-gnu", "s390x", Tier::Rustup),
    t("sparc-unknown-linux-gnu", "sparc", Tier::BuildStd),
    t("sparc64-unknown-linux-gnu", "sparc64", Tier::Rustup),
    t("mips-unknown-linux-gnu", "mips-o32", Tier::BuildStd),
    t("mipsel-unknown-linux-gnu", "mips-o32", Tier::BuildStd),
    release(t(
        "mipsisa32r6el-unknown-linux-gnu",
        "mips-o32",
        Tier::BuildStd,
    )),
    t("mips64-unknown-linux-gnuabi64", "mips-n64", Tier::BuildStd),
    t(
        "mips64el-unknown-linux-gnuabi64",
        "mips-n64",
        Tier::BuildStd,
    ),
    t(
        "mipsisa64r6el-unknown-linux-gnuabi64",
        "mips-n64",
        Tier::BuildStd,
    ),
    release(t("m68k-unknown-linux-gnu", "m68k", Tier::BuildStd)),
    std_only(t("csky-unknown-linux-gnuabiv2", "csky", Tier::BuildStd)),
    std_only(t("hexagon-unknown-linux-musl", "hexagon", Tier::BuildStd)),
];

/// Selects targets by triple; an unknown triple is an error naming the known ones.
pub(crate) fn select(wanted: Option<&str>) -> Result<Vec<Target>, String> {
    let Some(wanted) = wanted else {
        return Ok(ALL.to_vec());
    };
    wanted
        .split(',')
        .filter(|name| !name.is_empty())
        .map(|name| {
            ALL.iter()
                .copied()
                .find(|target| target.triple == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = ALL.iter().map(|target| target.triple).collect();
                    format!("unknown target {name:?}; known: {}", known.join(", "))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rust_reachable_abi_is_in_the_matrix() {
        for abi in pidfd_sys::abi::ALL
            .iter()
            .filter(|abi| !abi.rust_arches.is_empty())
        {
            assert!(
                ALL.iter().any(|target| target.abi == abi.name),
                "ABI {} has no target in the matrix",
                abi.name
            );
        }
    }

    #[test]
    fn every_target_names_a_known_abi() {
        for target in ALL {
            assert!(
                pidfd_sys::abi::ALL.iter().any(|abi| abi.name == target.abi),
                "{} names unknown ABI {}",
                target.triple,
                target.abi
            );
        }
    }

    #[test]
    fn select_rejects_unknown_triples() {
        assert_eq!(select(Some("mips-unknown-linux-gnu")).unwrap().len(), 1);
        assert!(
            select(Some("nonsense"))
                .unwrap_err()
                .contains("unknown target")
        );
        assert_eq!(select(None).unwrap().len(), ALL.len());
    }
}
