//! Fuzzes the pidfd fdinfo parser: any bytes must parse without panicking, and a parsed PID
//! must be exactly the digits of the first `Pid:` line, in range.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pidfd_core::fdinfo::{FdinfoPid, parse_pid};

fuzz_target!(|data: &[u8]| {
    match parse_pid(data) {
        Some(FdinfoPid::Pid(pid)) => {
            assert!(pid >= 1 && pid <= i32::MAX as u32);
            let text = String::from_utf8_lossy(data);
            let line = text.lines().find_map(|line| line.strip_prefix("Pid:")).unwrap();
            assert_eq!(line.trim().parse::<u32>().unwrap(), pid);
        }
        Some(FdinfoPid::OtherNamespace | FdinfoPid::Gone) | None => {}
    }
    let _ = parse_pid(data).map(FdinfoPid::into_result);
});
