//! Fault injection with seccomp: make chosen syscalls fail with a chosen errno, in the
//! calling process (and its future children), for good. Use it only in a re-exec'd child.

#![allow(
    unsafe_code,
    reason = "prctl(2) installs the filter; each block says why"
)]

use std::io;

/// `AUDIT_ARCH_*` of the running ABI, where the filter knows it.
fn audit_arch() -> Option<u32> {
    if cfg!(all(target_arch = "x86_64", target_pointer_width = "64")) {
        Some(0xC000_003E)
    } else if cfg!(target_arch = "x86") {
        Some(0x4000_0003)
    } else if cfg!(all(target_arch = "aarch64", target_endian = "little")) {
        Some(0xC000_00B7)
    } else {
        None
    }
}

fn statement(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: u16::try_from(code).expect("BPF opcodes fit u16"),
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump_if_equal(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    let code = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    libc::sock_filter {
        code: u16::try_from(code).expect("BPF opcodes fit u16"),
        jt,
        jf,
        k,
    }
}

/// One rule: syscall `nr` fails with `errno` when its arguments match `when`.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The syscall number.
    pub nr: libc::c_long,
    /// Which calls of it fail.
    pub when: When,
    /// The errno to fail with.
    pub errno: i32,
}

/// Which calls of a syscall a [`Rule`] fails (arguments compared on their low 32 bits).
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// Every call.
    Always,
    /// When the first argument has any of these bits set (e.g. `clone` with `CLONE_VM`).
    Arg0HasAnyOf(u32),
    /// When the second argument equals this (e.g. `clone3` with one `clone_args` size).
    Arg1Is(u32),
}

/// One [`When::Always`] rule per `(syscall number, errno)` pair.
fn always(pairs: &[(libc::c_long, i32)]) -> Vec<Rule> {
    pairs
        .iter()
        .map(|&(nr, errno)| Rule {
            nr,
            when: When::Always,
            errno,
        })
        .collect()
}

/// Installs a filter under which each `(syscall number, errno)` pair fails with that errno;
/// every other syscall is allowed. Sets `PR_SET_NO_NEW_PRIVS` first.
///
/// # Errors
///
/// `Unsupported` on ABIs whose audit arch this helper does not know; errors from `prctl`.
pub fn fail_syscalls(rules: &[(libc::c_long, i32)]) -> io::Result<()> {
    install(&always(rules))
}

/// Why a scenario child could not install its filter under an emulator.
pub const EMULATOR_GAP: &str = "seccomp filters are refused by qemu-user (EINVAL)";
/// Why, under an emulator, a filter was not even built: no audit arch for this ABI in this
/// helper (x86_64, i386 and little-endian aarch64 only), and qemu-user would refuse it.
pub const UNKNOWN_ARCH_GAP: &str = "no seccomp filter for this ABI (helper knows x86_64, i386, aarch64; qemu-user refuses filters anyway)";

/// In a re-executed scenario child: installs `rules` and returns `true`; under an emulator
/// that refuses seccomp filters (qemu-user: `EINVAL`) prints the `gap` line the parent turns
/// into a counted skip (see [`crate::scenario::Scenarios::run`]) and returns `false`.
///
/// # Panics
///
/// On any other failure.
pub fn install_or_gap(rules: &[Rule]) -> bool {
    match install(rules) {
        Ok(()) => true,
        Err(error)
            if crate::emulator::emulator().is_some()
                && error.raw_os_error() == Some(libc::EINVAL) =>
        {
            crate::scenario::say("gap", EMULATOR_GAP);
            false
        }
        Err(error)
            if crate::emulator::emulator().is_some()
                && error.kind() == io::ErrorKind::Unsupported =>
        {
            // (qemu-user would refuse the filter anyway; see EMULATOR_GAP.)
            crate::scenario::say("gap", UNKNOWN_ARCH_GAP);
            false
        }
        Err(error) => panic!("cannot install the seccomp filter: {error}"),
    }
}

/// [`install_or_gap`] for `(syscall number, errno)` pairs, as [`fail_syscalls`].
pub fn fail_syscalls_or_gap(rules: &[(libc::c_long, i32)]) -> bool {
    install_or_gap(&always(rules))
}

/// Installs a filter made of `rules` (see [`Rule`]); everything else is allowed. With no
/// rules, installs nothing.
///
/// # Errors
///
/// As [`fail_syscalls`]; `Unsupported` on big-endian ABIs for argument masks.
pub fn install(rules: &[Rule]) -> io::Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let arch = audit_arch().ok_or(io::ErrorKind::Unsupported)?;
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    // struct seccomp_data { int nr; __u32 arch; ... }
    let mut program = vec![
        statement(load, 4),
        jump_if_equal(arch, 1, 0),
        statement(ret, libc::SECCOMP_RET_ALLOW),
    ];
    for rule in rules {
        let nr = u32::try_from(rule.nr).map_err(|_| io::ErrorKind::InvalidInput)?;
        let errno = u32::try_from(rule.errno).map_err(|_| io::ErrorKind::InvalidInput)?;
        let fail = statement(
            ret,
            libc::SECCOMP_RET_ERRNO | (errno & libc::SECCOMP_RET_DATA),
        );
        program.push(statement(load, 0));
        // seccomp_data.args[i] starts at byte 16 + 8 i; its low word comes first on
        // little-endian ABIs.
        let low_word = |index: u32| {
            if cfg!(target_endian = "big") {
                Err(io::Error::from(io::ErrorKind::Unsupported))
            } else {
                Ok(16 + 8 * index)
            }
        };
        match rule.when {
            When::Always => {
                program.push(jump_if_equal(nr, 0, 1));
                program.push(fail);
            }
            When::Arg0HasAnyOf(mask) => {
                let jset = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;
                program.push(jump_if_equal(nr, 0, 3));
                program.push(statement(load, low_word(0)?));
                program.push(libc::sock_filter {
                    code: u16::try_from(jset).expect("BPF opcodes fit u16"),
                    jt: 0,
                    jf: 1,
                    k: mask,
                });
                program.push(fail);
            }
            When::Arg1Is(value) => {
                program.push(jump_if_equal(nr, 0, 3));
                program.push(statement(load, low_word(1)?));
                program.push(jump_if_equal(value, 0, 1));
                program.push(fail);
            }
        }
    }
    program.push(statement(ret, libc::SECCOMP_RET_ALLOW));
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(|_| io::ErrorKind::InvalidInput)?,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fprog` points to `program`, which lives until after the call; the kernel
    // copies the filter.
    let installed = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &raw const fprog,
            0,
            0,
        )
    };
    if installed != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The rules that refuse `pidfd_core::Spawn`'s clone flavours down to `level`: `none`;
/// `clone3-vm` (its vfork-style clone3); `vm` (and every `CLONE_VM` clone); `vm+clone3`
/// (and every clone3); `pidfd` (every clone3, and every clone with `CLONE_PIDFD`: pid mode).
///
/// # Panics
///
/// For an unknown level.
pub fn spawn_fallback_rules(level: &str) -> Vec<Rule> {
    let vm = u32::try_from(libc::CLONE_VM).unwrap();
    let pidfd_flag = u32::try_from(libc::CLONE_PIDFD).unwrap();
    let no_vfork = Rule {
        nr: libc::SYS_clone,
        when: When::Arg0HasAnyOf(vm),
        errno: libc::EPERM,
    };
    // Spawn's vfork-style clone3 passes the 88-byte clone_args size, its fork-style one 64.
    // (glibc's pthread_create passes 88 too; on ENOSYS it falls back to clone.)
    let no_clone3_vfork = Rule {
        nr: libc::SYS_clone3,
        when: When::Arg1Is(88),
        errno: libc::ENOSYS,
    };
    let no_clone3 = Rule {
        nr: libc::SYS_clone3,
        when: When::Always,
        errno: libc::ENOSYS,
    };
    let no_clone_pidfd = Rule {
        nr: libc::SYS_clone,
        when: When::Arg0HasAnyOf(pidfd_flag),
        errno: libc::EINVAL,
    };
    // As a sandbox that pretends pidfds do not exist: ENOSYS (which a legacy clone can only
    // get from a filter).
    let no_clone_pidfd_enosys = Rule {
        errno: libc::ENOSYS,
        ..no_clone_pidfd
    };
    let rules: &[Rule] = match level {
        "none" => &[],
        "pidfd-enosys" => &[no_clone_pidfd_enosys, no_clone3],
        "clone3-vm" => &[no_clone3_vfork],
        "vm" => &[no_clone3_vfork, no_vfork],
        "vm+clone3" => &[no_vfork, no_clone3],
        "pidfd" => &[no_clone_pidfd, no_clone3],
        other => panic!("unknown level {other}"),
    };
    rules.to_vec()
}
