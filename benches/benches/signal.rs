//! `Process::send_signal(0)` against the raw `pidfd_send_signal(fd, 0, NULL, 0)` syscall and
//! against `PidFd::send_signal(0)`, measured in the same run on the same child.
//!
//! Run: `cargo xtask bench signal` (or `cargo bench -p pidfd-benches --bench signal`). Prints
//! the median time per call of each (over 41 batches of 20 000 calls, interleaved) and the
//! ratios to the raw syscall. It takes no options (and ignores any it is given).

#![allow(unsafe_code, reason = "the raw-syscall baseline")]
#![allow(clippy::print_stdout, reason = "a benchmark report")]

use std::hint::black_box;
use std::os::fd::AsRawFd;
use std::time::Instant;

use pidfd_benches::median;
use pidfd_core::{Mode, PidFd, Process};
use pidfd_sys::flags::PidfdSignalFlags;
use pidfd_sys::syscalls;

const BATCHES: usize = 41;
const CALLS: u32 = 20_000;

fn time_batch(mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..CALLS {
        f();
    }
    started.elapsed().as_nanos() as f64 / f64::from(CALLS)
}

fn main() {
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    let pidfd = PidFd::open(child.id()).expect("pidfd");
    let process = Process::with_mode(child.id(), Mode::PidFd).expect("process");
    let raw_fd = pidfd.as_raw_fd();
    let (mut raw, mut via_pidfd, mut via_process) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..BATCHES {
        raw.push(time_batch(|| {
            // SAFETY: `pidfd` is open for the whole benchmark.
            let result =
                unsafe { syscalls::pidfd_send_signal(raw_fd, 0, None, PidfdSignalFlags::empty()) };
            black_box(result).expect("raw signal");
        }));
        via_pidfd.push(time_batch(|| {
            black_box(pidfd.send_signal(0)).expect("PidFd")
        }));
        via_process.push(time_batch(|| {
            black_box(process.send_signal(0)).expect("Process")
        }));
    }
    let (raw, via_pidfd, via_process) = (
        median(&mut raw),
        median(&mut via_pidfd),
        median(&mut via_process),
    );
    println!("signal(0), median ns per call over {BATCHES} x {CALLS} calls:");
    println!("  raw pidfd_send_signal syscall  {raw:8.1} ns   1.00x");
    println!(
        "  PidFd::send_signal             {via_pidfd:8.1} ns   {:.2}x",
        via_pidfd / raw
    );
    println!(
        "  Process::send_signal (pidfd)   {via_process:8.1} ns   {:.2}x",
        via_process / raw
    );
    child.kill().expect("kill");
    child.wait().expect("wait");
}
