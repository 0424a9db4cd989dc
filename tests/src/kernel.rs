//! What the running kernel supports, found by trying it — never by its version string: a
//! backported kernel, a seccomp profile (Docker's refuses clone3 with ENOSYS) or an emulator
//! changes what works without changing `uname`. Each probe runs once per process and is
//! cached; each makes the real call on a process of our own.
//!
//! Also what the crate's own probe (`pidfd_core::probe`) decides here, and so which mode a
//! test should expect from `Spawn`.

#![allow(
    unsafe_code,
    reason = "the probes call the raw pidfd-sys wrappers and libc; each block says why"
)]

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;

use pidfd_sys::flags::{PidfdFlags, PidfdSignalFlags, WaitIdOptions};
use pidfd_sys::pidfs::{PidfdInfoMask, PidfdNamespace, pidfd_info};
use pidfd_sys::syscalls;

use crate::emulator;
use crate::raw::{own, own_pid, pidfd_open, waitid};

fn cached(cell: &'static OnceLock<bool>, probe: fn() -> bool) -> bool {
    *cell.get_or_init(probe)
}

/// A pidfd for this process itself.
fn own_pidfd() -> Option<OwnedFd> {
    pidfd_open(own_pid(), PidfdFlags::empty()).ok()
}

/// `PIDFD_THREAD` for `pidfd_open` (Linux 6.9): a thread pidfd for our main thread.
pub fn pidfd_thread() -> bool {
    static CELL: OnceLock<bool> = OnceLock::new();
    cached(&CELL, || pidfd_open(own_pid(), PidfdFlags::THREAD).is_ok())
}

/// The `PIDFD_SIGNAL_*` scope flags of `pidfd_send_signal` (Linux 6.9): signal 0 to
/// ourselves with `PIDFD_SIGNAL_THREAD_GROUP`.
pub fn pidfd_signal_flags() -> bool {
    static CELL: OnceLock<bool> = OnceLock::new();
    cached(&CELL, || {
        own_pidfd().is_some_and(|pidfd| {
            // SAFETY: `pidfd` is borrowed for the call; signal 0 delivers nothing.
            let sent = unsafe {
                syscalls::pidfd_send_signal(
                    pidfd.as_raw_fd(),
                    0,
                    None,
                    PidfdSignalFlags::THREAD_GROUP,
                )
            };
            sent.is_ok()
        })
    })
}

/// pidfds live on pidfs (Linux 6.9), so each process has an inode of its own: `fstatfs`
/// of a pidfd says `PIDFS_MAGIC`.
pub fn pidfs() -> bool {
    static CELL: OnceLock<bool> = OnceLock::new();
    cached(&CELL, || {
        let Some(pidfd) = own_pidfd() else {
            return false;
        };
        // SAFETY: statfs is plain data; all-zero is valid.
        let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: `pidfd` is borrowed; `fs` is writable.
        let ret = unsafe { libc::fstatfs(pidfd.as_raw_fd(), &raw mut fs) };
        #[allow(
            clippy::useless_conversion,
            reason = "f_type's width differs between ABIs"
        )]
        let magic = i64::from(fs.f_type);
        ret == 0 && magic == 0x5049_4446
    })
}

/// The `PIDFD_GET_INFO` ioctl (Linux 6.13), on our own pidfd.
pub fn pidfd_get_info() -> bool {
    static CELL: OnceLock<bool> = OnceLock::new();
    cached(&CELL, || {
        own_pidfd().is_some_and(|pidfd| {
            let mut info = pidfd_info {
                mask: PidfdInfoMask::PID.bits(),
                ..pidfd_info::default()
            };
            // SAFETY: `pidfd` is borrowed for the call; `info` is writable.
            unsafe { syscalls::pidfd_get_info(pidfd.as_raw_fd(), &mut info) }.is_ok()
        })
    })
}

/// `PIDFD_INFO_EXIT` (Linux 6.15): the exit status of a reaped child stays readable through
/// its pidfd. Probed on a child of our own (`true`), reaped through its pidfd.
pub fn pidfd_info_exit() -> bool {
    static CELL: OnceLock<bool> = OnceLock::new();
    cached(&CELL, || {
        let Ok(mut child) = std::process::Command::new("true").spawn() else {
            return false;
        };
        let Ok(pid) = i32::try_from(child.id()) else {
            return false;
        };
        let Ok(pidfd) = pidfd_open(pid, PidfdFlags::empty()) else {
            let _ = child.wait();
            return false;
        };
        if waitid(&pidfd, WaitIdOptions::EXITED).is_err() {
            return false;
        }
        let mut info = pidfd_info {
            mask: PidfdInfoMask::EXIT.bits(),
            ..pidfd_info::default()
        };
        // SAFETY: `pidfd` is borrowed for the call; `info` is writable.
        let got = unsafe { syscalls::pidfd_get_info(pidfd.as_raw_fd(), &mut info) };
        got.is_ok() && PidfdInfoMask::from_bits_retain(info.mask).contains(PidfdInfoMask::EXIT)
    })
}

/// The `PIDFD_GET_*_NAMESPACE` ioctls (Linux 6.11), for our own PID namespace.
pub fn pidfd_get_namespace() -> bool {
    static CELL: OnceLock<bool> = OnceLock::new();
    cached(&CELL, || {
        own_pidfd().is_some_and(|pidfd| {
            // SAFETY: `pidfd` is borrowed for the call; the kernel makes a new fd for us.
            let ns =
                unsafe { syscalls::pidfd_get_namespace(pidfd.as_raw_fd(), PidfdNamespace::Pid) };
            match ns {
                Ok(fd) => {
                    // SAFETY: the kernel created this fd for us; closed here.
                    drop(unsafe { own(fd) });
                    true
                }
                Err(_) => false,
            }
        })
    })
}

// ---- what the crate's own probe decides (it caches its answer itself) ----

/// Whether the crate's probe allows pidfd mode here (`false` on old kernels, under a
/// seccomp filter refusing pidfds, with `PIDFD_DISABLE=1` in the environment).
pub fn pidfd_mode_allowed() -> bool {
    pidfd_core::probe::features().is_ok_and(|features| features.pidfd_mode())
}

/// For tests that need pidfds from the crate: `true`, or — where the probe refuses them
/// (e.g. `PIDFD_DISABLE=1` in the environment) — a recorded skip and `false`.
pub fn pidfds_or_skip() -> bool {
    if pidfd_mode_allowed() {
        return true;
    }
    emulator::skip("the crate's probe refuses pidfds here (PIDFD_DISABLE=1, seccomp, old kernel)");
    false
}

/// The mode `Spawn` gives a child: pidfd mode where the crate's probe allows it and the
/// emulator, if any, can (see [`emulator::spawn_gets_pidfd`]); pid mode otherwise.
pub fn expected_spawn_mode() -> pidfd_core::Mode {
    if emulator::spawn_gets_pidfd() && pidfd_mode_allowed() {
        pidfd_core::Mode::PidFd
    } else {
        pidfd_core::Mode::Pid
    }
}
