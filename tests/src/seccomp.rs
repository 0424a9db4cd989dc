//! Fault injection with seccomp: make chosen syscalls fail with a chosen errno, in the
//! calling process (and its future children), for good. Use it only in a re-exec'd child.

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

/// One rule: syscall `nr` fails with `errno` — always, or only when its first argument has
/// any bit of `arg0_mask` set (e.g. `clone` with `CLONE_VM`).
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The syscall number.
    pub nr: libc::c_long,
    /// Only when `(arg0 & mask) != 0` (low 32 bits); `None`: always.
    pub arg0_mask: Option<u32>,
    /// The errno to fail with.
    pub errno: i32,
}

/// Installs a filter under which each `(syscall number, errno)` pair fails with that errno;
/// every other syscall is allowed. Sets `PR_SET_NO_NEW_PRIVS` first.
///
/// # Errors
///
/// `Unsupported` on ABIs whose audit arch this helper does not know; errors from `prctl`.
pub fn fail_syscalls(rules: &[(libc::c_long, i32)]) -> io::Result<()> {
    let rules: Vec<Rule> = rules
        .iter()
        .map(|&(nr, errno)| Rule {
            nr,
            arg0_mask: None,
            errno,
        })
        .collect();
    install(&rules)
}

/// Installs a filter made of `rules` (see [`Rule`]); everything else is allowed.
///
/// # Errors
///
/// As [`fail_syscalls`]; `Unsupported` on big-endian ABIs for argument masks.
pub fn install(rules: &[Rule]) -> io::Result<()> {
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
        match rule.arg0_mask {
            None => {
                program.push(jump_if_equal(nr, 0, 1));
                program.push(fail);
            }
            Some(mask) => {
                if cfg!(target_endian = "big") {
                    return Err(io::ErrorKind::Unsupported.into());
                }
                // seccomp_data.args[0] starts at byte 16; its low word comes first here.
                let jset = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;
                program.push(jump_if_equal(nr, 0, 3));
                program.push(statement(load, 16));
                program.push(libc::sock_filter {
                    code: u16::try_from(jset).expect("BPF opcodes fit u16"),
                    jt: 0,
                    jf: 1,
                    k: mask,
                });
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
