//! Making the kernel hand a chosen PID to a new process, for PID-reuse tests.
//!
//! Whoever is root over the current PID namespace writes `/proc/sys/kernel/ns_last_pid` and
//! the next fork in that namespace gets the number after it — unless another fork comes
//! first. Inside a private user + PID namespace of its own (see
//! [`crate::scenario::Scenarios::in_pid_namespace`]) a test needs no real root and has the
//! namespace to itself: there, [`start_with_pid`] hits on the first try, and
//! [`set_pid_max`] (Linux 6.14+: `pid_max` is per namespace) makes PIDs wrap around after a
//! few hundred forks. (Every test that steers PIDs does it there.)

const NS_LAST_PID: &str = "/proc/sys/kernel/ns_last_pid";
const PID_MAX: &str = "/proc/sys/kernel/pid_max";

/// The command that runs a program in a new user + PID namespace with its own `/proc`.
pub const UNSHARE: [&str; 6] = [
    "unshare",
    "--user",
    "--map-root-user",
    "--pid",
    "--fork",
    "--mount-proc",
];

/// Whether [`UNSHARE`] works here (checked once, by running `true` through it); the reason
/// if not (no `unshare` program, unprivileged user namespaces disabled, a seccomp profile).
pub fn namespaces_available() -> Result<(), String> {
    static AVAILABLE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    AVAILABLE
        .get_or_init(|| {
            let [program, args @ ..] = UNSHARE;
            match std::process::Command::new(program)
                .args(args)
                .arg("true")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .output()
            {
                Ok(out) if out.status.success() => Ok(()),
                Ok(out) => Err(format!(
                    "no private user+pid namespace here ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(error) => Err(format!("cannot run `unshare` (util-linux): {error}")),
            }
        })
        .clone()
}

/// Sets `pid_max` of the current PID namespace (Linux 6.14+, by root over it; at least
/// 301), so that PIDs wrap around after `pid_max - 300` forks.
///
/// # Errors
///
/// When the kernel refuses (older kernels have one `pid_max` for the whole system).
pub fn set_pid_max(pid_max: u32) -> std::io::Result<()> {
    std::fs::write(PID_MAX, pid_max.to_string())
}

/// How often [`start_with_pid`] tries before giving up.
const TRIES: u32 = 500;

/// Starts processes with `start` (which returns the new PID and a handle) until one gets
/// PID `pid`, handing each wrong one to `discard` (which must kill and reap it).
///
/// # Panics
///
/// If `ns_last_pid` cannot be written (not root over this PID namespace) or the PID did
/// not come back after 500 tries.
pub fn start_with_pid<C>(
    pid: u32,
    mut start: impl FnMut() -> (u32, C),
    mut discard: impl FnMut(C),
) -> C {
    for _ in 0..TRIES {
        std::fs::write(NS_LAST_PID, format!("{}", pid - 1))
            .unwrap_or_else(|error| panic!("cannot write {NS_LAST_PID} (needs root): {error}"));
        let (got, child) = start();
        if got == pid {
            return child;
        }
        discard(child);
    }
    panic!("could not get PID {pid} back after {TRIES} tries");
}

/// Kills and reaps a child that came with the wrong PID (for [`start_with_pid`]'s
/// `discard`). Even alone in its PID namespace a test can get one: a child the kernel reaped
/// itself (`SIGCHLD` ignored) is gone (`ESRCH`) a moment before its PID is free (Linux 6.15+
/// frees PIDs after dropping the tasklist lock), so the steering simply tries again.
pub fn discard(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A `sleep 30` child ([`crate::sh`]) started with PID `pid`, for a process alone in its
/// PID namespace (no other process takes the PID first; a wrong PID is discarded and tried
/// again, as [`discard`] says why).
///
/// # Panics
///
/// As [`start_with_pid`].
pub fn sleeper_with_pid(pid: u32) -> crate::TestChild {
    start_with_pid(
        pid,
        || {
            let child = crate::sh("exec sleep 30");
            (child.id(), child)
        },
        drop,
    )
}
