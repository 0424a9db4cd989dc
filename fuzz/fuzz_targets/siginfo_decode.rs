//! Fuzzes the decoding of kernel `waitid` output, for every Linux ABI.
//!
//! * Native: any 128 bytes as this ABI's `siginfo_t` (`siginfo_t::from_bytes`), decoded to
//!   a child status and encoded to a wait status word, must never panic; what decodes must
//!   round-trip through the wait-status encoding.
//! * Every ABI of `pidfd_sys::abi::ALL` (mips o32/n32/n64 with their swapped
//!   `si_code`/`si_errno` and 128 signals, sparc/alpha/parisc signal numbers, x32, m68k, …),
//!   in each byte order it exists in: the same bytes read through that ABI's const layout
//!   table (`SiginfoLayout` offsets) and decoded with `ChildStatus::decode_with_nsig` and that
//!   ABI's `SIGCHLD` and `NSIG`. pidfd-sys exposes no foreign-ABI `siginfo_t` (the struct is
//!   native only), so the field extraction is done here from the tables — the pure decoder
//!   and the tables are what is fuzzed. For the native ABI the table reading must agree
//!   exactly with `siginfo_t`'s accessors and `child_status()` (a differential check of the
//!   compile-time layout against the table).
//!
//! Seeds: `fuzz/corpus/siginfo_decode/`, real `siginfo_t` bytes from `waitid` of children
//! that exited, were killed, stopped and continued, plus the same reports re-encoded in every
//! ABI's layout; regenerate with `cargo xtask fuzz --seed-corpus`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pidfd_sys::abi::{ALL, Abi, NATIVE, SiginfoLayout};
use pidfd_sys::child_status::{ChildStatus, DecodeError};
use pidfd_sys::siginfo_t;

/// The fields `waitid` writes, as read through a layout table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    signo: i32,
    errno: i32,
    code: i32,
    pid: i32,
    uid: u32,
    status: i32,
}

fn word(bytes: &[u8; 128], offset: usize, big_endian: bool) -> [u8; 4] {
    let mut field = [0_u8; 4];
    field.copy_from_slice(&bytes[offset..offset + 4]);
    if big_endian != cfg!(target_endian = "big") {
        field.reverse();
    }
    field
}

fn read(bytes: &[u8; 128], layout: &SiginfoLayout, big_endian: bool) -> Fields {
    let int = |offset| i32::from_ne_bytes(word(bytes, offset, big_endian));
    Fields {
        signo: int(layout.signo),
        errno: int(layout.errno),
        code: int(layout.code),
        pid: int(layout.pid),
        uid: u32::from_ne_bytes(word(bytes, layout.uid, big_endian)),
        status: int(layout.status),
    }
}

/// `siginfo_t::child_status`, for `abi`.
fn decode(abi: &Abi, fields: &Fields) -> Result<Option<ChildStatus>, DecodeError> {
    if fields.signo == 0 && fields.pid == 0 {
        return Ok(None);
    }
    if fields.signo != abi.signals.sigchld {
        return Err(DecodeError::NotSigchld(fields.signo));
    }
    ChildStatus::decode_with_nsig(fields.code, fields.status, abi.signals.nsig).map(Some)
}

/// What every decoded status must satisfy, on every ABI.
fn check(abi: &Abi, fields: &Fields, status: ChildStatus) {
    let nsig = abi.signals.nsig;
    assert_eq!(status.code(), fields.code, "{}", abi.name);
    match status {
        ChildStatus::Exited(code) => assert!((0..=255).contains(&code)),
        ChildStatus::Killed(sig)
        | ChildStatus::Dumped(sig)
        | ChildStatus::Stopped(sig)
        | ChildStatus::Continued(sig) => assert!((1..=nsig).contains(&sig), "{}", abi.name),
        ChildStatus::Trapped(stop) => assert!((1..=0xffff).contains(&stop)),
    }
    match status.to_wait_status() {
        Some(raw) => {
            let back = ChildStatus::from_wait_status(raw).expect("an encoded status decodes");
            match (status, back) {
                (ChildStatus::Continued(_), ChildStatus::Continued(_)) => {}
                (ChildStatus::Trapped(t), ChildStatus::Stopped(s) | ChildStatus::Trapped(s)) => {
                    assert_eq!(t, s)
                }
                (a, b) => assert_eq!(a, b, "{}", abi.name),
            }
        }
        // Only signals the 7-bit field cannot hold (>= 127: mips, NSIG 128) lack a word.
        None => match status {
            ChildStatus::Killed(sig) | ChildStatus::Dumped(sig) => {
                assert!(sig >= 0x7f && nsig >= 0x7f, "{}: {status:?}", abi.name)
            }
            other => panic!("{}: {other:?} has no wait status word", abi.name),
        },
    }
}

fn check_layout(abi: &Abi) {
    let l = abi.siginfo;
    assert_eq!(l.size, 128, "{}", abi.name);
    let mut fields = [l.signo, l.errno, l.code, l.pid, l.uid, l.status];
    fields.sort_unstable();
    for pair in fields.windows(2) {
        assert!(
            pair[0] + 4 <= pair[1],
            "{}: overlapping siginfo fields",
            abi.name
        );
    }
    assert!(fields[5] + 4 <= l.utime && l.utime + l.clock_size <= l.stime);
    assert!(l.stime + l.clock_size <= l.size);
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = [0_u8; 128];
    let len = data.len().min(128);
    bytes[..len].copy_from_slice(&data[..len]);

    // Native, through the struct.
    let info = siginfo_t::from_bytes(&bytes);
    assert_eq!(info.to_bytes(), bytes);
    let native = read(&bytes, &NATIVE.siginfo, cfg!(target_endian = "big"));
    assert_eq!(
        (
            info.signo(),
            info.errno(),
            info.code(),
            info.pid(),
            info.uid(),
            info.status()
        ),
        (
            native.signo,
            native.errno,
            native.code,
            native.pid,
            native.uid,
            native.status
        ),
        "siginfo_t disagrees with NATIVE.siginfo"
    );
    assert_eq!(info.child_status(), decode(&NATIVE, &native));
    if let Ok(Some(status)) = info.child_status() {
        check(&NATIVE, &native, status);
    }

    // Every ABI, in each byte order it has.
    for abi in ALL {
        check_layout(abi);
        let orders: &[bool] = match abi.big_endian {
            Some(big) => {
                if big {
                    &[true]
                } else {
                    &[false]
                }
            }
            None => &[false, true],
        };
        for &big_endian in orders {
            let fields = read(&bytes, &abi.siginfo, big_endian);
            if let Ok(Some(status)) = decode(abi, &fields) {
                check(abi, &fields, status);
            }
        }
    }

    // Any raw wait status word decodes without panicking, and re-encodes to itself.
    let word = i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if let Some(status) = ChildStatus::from_wait_status(word) {
        assert_eq!(status.to_wait_status(), Some(word));
    }
});
