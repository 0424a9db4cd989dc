//! Fuzzes the decoding of kernel `waitid` output: any 128 bytes as a `siginfo_t`, decoded to a
//! child status and encoded to a wait status word, must never panic, and what decodes must
//! round-trip through the wait-status encoding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pidfd_sys::child_status::ChildStatus;
use pidfd_sys::siginfo_t;

fuzz_target!(|data: &[u8]| {
    let mut bytes = [0_u8; 128];
    let len = data.len().min(128);
    bytes[..len].copy_from_slice(&data[..len]);
    let info = siginfo_t::from_bytes(&bytes);
    assert_eq!(info.to_bytes(), bytes);
    if let Ok(Some(status)) = info.child_status() {
        assert_eq!(status.code(), info.code());
        if let Some(raw) = status.to_wait_status() {
            let back = ChildStatus::from_wait_status(raw).expect("an encoded status decodes");
            match (status, back) {
                (ChildStatus::Continued(_), ChildStatus::Continued(_)) => {}
                (ChildStatus::Trapped(t), ChildStatus::Stopped(s)) => assert_eq!(t, s),
                (a, b) => assert_eq!(a, b),
            }
        }
    }
    // Any raw wait status word decodes without panicking, and re-encodes to itself.
    let word = i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if let Some(status) = ChildStatus::from_wait_status(word) {
        assert_eq!(status.to_wait_status(), Some(word));
    }
});
