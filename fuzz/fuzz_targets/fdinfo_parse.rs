//! Fuzzes the pidfd fdinfo parser (`pidfd_core::fdinfo::parse_pid`) differentially: any
//! bytes must parse without panicking, to exactly what a naive reference parser written
//! here from the kernel's format (`pidfd_show_fdinfo`) says, and the mapping to
//! `PidFd::pid`'s result must be the documented one (the PID, `EREMOTE`, `ESRCH`).
//!
//! Seeds: `fuzz/corpus/fdinfo_parse/`, real `/proc/self/fdinfo` texts of pidfds (live,
//! reaped, a thread pidfd, a nested PID namespace's child, a process outside our PID
//! namespace) and of fds that are not pidfds; regenerate with `cargo xtask fuzz
//! --seed-corpus`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pidfd_core::fdinfo::{FdinfoPid, parse_pid};

/// The reference: the first line that starts with `Pid:`; its value with ASCII whitespace
/// around it removed must be `-1` (reaped), `0` (outside our PID namespace) or a decimal
/// `pid_t` in `1..=i32::MAX` without sign or leading zero. Anything else: not a pidfd.
/// Written the slow, obvious way (UTF-8 text, `str::parse` into a wide integer), unlike the
/// byte-level, bounded parser under test.
fn reference(data: &[u8]) -> Option<FdinfoPid> {
    let line = data
        .split(|&byte| byte == b'\n')
        .find(|line| line.starts_with(b"Pid:"))?;
    let value = std::str::from_utf8(&line[4..]).ok()?;
    // `char::is_ascii_whitespace`: space, \t, \n, \x0c, \r (not \x0b), as the kernel's
    // own `isspace` would not matter here: it only ever prints `\t` and `\n`.
    let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
    match value {
        "-1" => return Some(FdinfoPid::Gone),
        "0" => return Some(FdinfoPid::OtherNamespace),
        _ => {}
    }
    if value.is_empty() || value.starts_with('0') || !value.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let wide: u128 = value.parse().ok()?;
    let pid = i32::try_from(wide).ok()?;
    Some(FdinfoPid::Pid(u32::try_from(pid).ok()?))
}

fuzz_target!(|data: &[u8]| {
    let parsed = parse_pid(data);
    assert_eq!(
        parsed,
        reference(data),
        "parse_pid and the reference disagree on {:?}",
        String::from_utf8_lossy(data)
    );
    if let Some(parsed) = parsed {
        let result = parsed.into_result();
        match parsed {
            FdinfoPid::Pid(pid) => {
                assert!((1..=i32::MAX as u32).contains(&pid));
                assert_eq!(result.unwrap(), pid);
            }
            FdinfoPid::OtherNamespace => {
                assert_eq!(
                    result.unwrap_err().raw_os_error(),
                    Some(pidfd_sys::Errno::REMOTE.raw_os_error())
                );
            }
            FdinfoPid::Gone => {
                assert_eq!(
                    result.unwrap_err().raw_os_error(),
                    Some(pidfd_sys::Errno::SRCH.raw_os_error())
                );
            }
        }
    }
});
