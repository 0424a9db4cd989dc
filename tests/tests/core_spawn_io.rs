#![allow(
    unsafe_code,
    reason = "waitpid(-1) to prove no child is left, fcntl to read fd flags, close(0) in a scenario"
)]

//! `Spawn`'s stdio and I/O: `Stdio::{inherit, null, piped}` and any fd, the `Child` with
//! std's pipe types, `output`/`status`/`output_timeout` (one poll loop: no deadlock with
//! both pipes full, a bounded return when a grandchild keeps a pipe open, kill and reap at
//! the deadline) and `kill_on_drop` (killed and reaped on drop; never a signal after the
//! reap, even to a process that got the reaped PID).
//!
//! Every test here counts fds or checks with `waitpid(-1)` that no child is left, so they
//! take one lock and run one at a time. The pid-mode runs (`PIDFD_DISABLE=1`) and the runs
//! that change process state (fd 0 closed, PID steering) are re-executed scenarios.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pidfd_core::{Child, PidFd, Spawn, Stdio};
use pidfd_sys::Errno;
use pidfd_sys::flags::{PidfdFlags, WaitIdOptions};
use pidfd_sys::signal::{SIGKILL, SIGTERM};
use pidfd_tests::scenario::{Scenarios, errno_of, say};
use pidfd_tests::{
    TempDir, emulator, expected_spawn_mode, naive_kill, open_fd_count, pid_steering,
};

const SCENARIOS: Scenarios = Scenarios::new("PIDFD_CORE_SPAWN_IO_SCENARIO").table(&[
    ("pid_mode", |_| pid_mode_scenario()),
    ("stdin_closed", |_| stdin_closed_scenario()),
    ("eintr", |_| eintr_scenario()),
]);
const NS_SCENARIOS: Scenarios = Scenarios::new("PIDFD_CORE_SPAWN_IO_NS_SCENARIO")
    .entry("scenario_child_ns")
    .in_pid_namespace()
    .table(&[("drop_after_reap", drop_after_reap_scenario)]);

/// One test at a time (fd counts, `waitpid(-1)`).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// No child of this process is left, zombie or running (`waitpid(-1, WNOHANG)`: `ECHILD`).
fn assert_no_child_left(context: &str) {
    let mut status = 0;
    // SAFETY: waitpid writes an int through a valid pointer.
    let pid = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    assert_eq!(
        (pid, errno),
        (-1, Some(libc::ECHILD)),
        "{context}: a child was left behind"
    );
}

/// `fcntl(fd, F_GETFD)`.
fn fd_flags(fd: &impl AsRawFd) -> i32 {
    // SAFETY: F_GETFD only reads the flags of an fd the caller holds.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) }
}

/// `len` bytes of a xorshift stream: distinct for each `seed`, so a swapped, repeated or
/// truncated stream cannot compare equal.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}

/// A pidfd of `pid` (a live process: its PID names it), or `None` with a recorded skip
/// where `pidfd_open` is missing (before Linux 5.3).
fn open_pidfd(pid: u32) -> Option<OwnedFd> {
    match pidfd_tests::pidfd_open(i32::try_from(pid).unwrap(), PidfdFlags::empty()) {
        Ok(fd) => Some(fd),
        Err(Errno::NOSYS) => {
            emulator::skip("pidfd_open is missing (Linux < 5.3): exit checked by PID only");
            None
        }
        Err(errno) => panic!("pidfd_open({pid}): {errno:?}"),
    }
}

/// The process of `pidfd` (our child) has exited and been reaped: its pidfd is readable,
/// `waitid` on it says `ECHILD`, a signal says `ESRCH`, and `/proc/<pid>` is gone (PIDs are
/// handed out in increasing order, so the number cannot come back this soon).
fn assert_reaped(pidfd: &OwnedFd, pid: u32) {
    assert!(
        pidfd_core::sys::poll::readable(pidfd.as_fd(), Some(Duration::ZERO)).unwrap(),
        "pid {pid} still runs"
    );
    let waited = pidfd_tests::waitid(pidfd, WaitIdOptions::EXITED | WaitIdOptions::NOHANG);
    assert_eq!(
        waited.err(),
        Some(Errno::CHILD),
        "pid {pid} is still a zombie"
    );
    let pidfd = PidFd::from(pidfd.try_clone().unwrap());
    assert_eq!(
        pidfd.send_signal(0).unwrap_err().raw_os_error(),
        Some(libc::ESRCH)
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "/proc/{pid}"
    );
}

/// The spawned child is in the mode this environment gives (pidfd mode on a real kernel).
fn assert_mode(child: &Child) {
    assert_eq!(child.mode(), expected_spawn_mode(), "{child:?}");
}

// ---------------------------------------------------------------------------------------
// The checks, run in this process (the environment's mode) and in a pid-mode scenario.

/// 1 MiB on stdout and 1 MiB on stderr at once: `cat A & cat B >&2` blocks on whichever
/// pipe is not read, and both pipes stay open until both have finished — a reader that
/// reads one pipe to its end first deadlocks. The contents come back byte for byte.
fn check_both_pipes_full() {
    let dir = TempDir::new("spawn-io");
    let (out, err) = (pattern(1, 1 << 20), pattern(2, 1 << 20));
    std::fs::write(dir.path().join("out"), &out).unwrap();
    std::fs::write(dir.path().join("err"), &err).unwrap();
    let result = Spawn::new("sh")
        .args(["-c", "cat out & cat err >&2; wait"])
        .current_dir(dir.path())
        // A deadlock shows as a failure, not a hang.
        .output_timeout(Duration::from_secs(60))
        .unwrap();
    assert!(!result.timed_out, "deadlock: {:?}", result.output.status);
    assert_eq!(result.output.status.code(), Some(0));
    assert!(
        result.output.stdout == out,
        "stdout differs ({} bytes)",
        result.output.stdout.len()
    );
    assert!(
        result.output.stderr == err,
        "stderr differs ({} bytes)",
        result.output.stderr.len()
    );
}

/// A grandchild keeps stdout open after the child exited: `output` returns, bounded by
/// the drain limit, with everything the child wrote; the grandchild (blocked on a pipe of
/// ours until then) exits once released, seen through a pidfd opened while it certainly
/// ran.
fn check_grandchild_keeps_pipe_open() {
    let (release_reader, release_writer) = std::io::pipe().unwrap();
    // The release: when told, or after 30 s at the latest — so that an `output()` that
    // waits for the grandchild fails the time check below instead of hanging the test.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let _ = released.recv_timeout(Duration::from_secs(30));
        drop(release_writer);
    });
    let started = Instant::now();
    let output = Spawn::new("sh")
        .args(["-c", "(read line <&3; exit 0) & echo $!; echo done"])
        .fd_dup2(release_reader.as_raw_fd(), 3)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    drop(release_reader);
    assert!(
        elapsed < Child::DRAIN_MAX + Duration::from_secs(10),
        "output() took {elapsed:?}: it waited for the grandchild"
    );
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    let (grandchild, rest) = text.split_once('\n').expect("the grandchild's PID");
    assert_eq!(rest, "done\n");
    let grandchild: u32 = grandchild.parse().unwrap();
    // Still blocked on the release pipe: its PID names it.
    let pidfd = open_pidfd(grandchild);
    release
        .send(())
        .expect("output() returned only once the watchdog released the grandchild");
    watchdog.join().unwrap();
    if let Some(pidfd) = pidfd {
        assert!(
            pidfd_core::sys::poll::readable(pidfd.as_fd(), Some(Duration::from_secs(30))).unwrap(),
            "the grandchild did not exit once released"
        );
    }
}

/// `wait_with_output_timeout` at the deadline: the child (which wrote a line, then said
/// so on another pipe, then blocks) is killed with `SIGKILL` and reaped, the line is
/// returned, and no fd and no child is left.
fn check_timeout_kills_and_reaps() {
    let fds = open_fd_count();
    let (ready_reader, ready_writer) = std::io::pipe().unwrap();
    let child = Spawn::new("sh")
        .args([
            "-c",
            "echo started; echo err >&2; echo ready >&3; exec sleep 1000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .fd_dup2(ready_writer.as_raw_fd(), 3)
        .spawn()
        .unwrap();
    drop(ready_writer);
    assert_mode(&child);
    let pid = child.pid();
    let pidfd = open_pidfd(pid);
    // Synchronization, not a sleep: "started" is in the stdout pipe once "ready" arrives.
    let mut ready = String::new();
    (&ready_reader).take(6).read_to_string(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    drop(ready_reader);
    let result = child
        .wait_with_output_timeout(Duration::from_millis(100))
        .unwrap();
    assert!(result.timed_out);
    assert!(
        !result.pipes_abandoned,
        "the killed child held the pipes alone"
    );
    assert_eq!(result.output.status.signal(), Some(SIGKILL), "{result:?}");
    assert_eq!(result.output.stdout, b"started\n");
    assert_eq!(result.output.stderr, b"err\n");
    if let Some(pidfd) = &pidfd {
        assert_reaped(pidfd, pid);
    }
    assert_no_child_left("after output_timeout");
    drop(pidfd);
    assert_eq!(open_fd_count(), fds, "fds leaked");
    // Through the builder, and a child that ends in time: not marked.
    let result = Spawn::new("sh")
        .args(["-c", "echo quick; exit 4"])
        .output_timeout(Duration::from_secs(60))
        .unwrap();
    assert!(!result.timed_out);
    assert_eq!(
        (result.output.status.code(), &result.output.stdout[..]),
        (Some(4), &b"quick\n"[..])
    );
    assert_eq!(open_fd_count(), fds, "fds leaked");
}

/// `kill_on_drop(true)`: dropping the `Child` of a running process kills and reaps it
/// (proved through a pidfd opened beforehand). Without it the process survives the drop
/// (so this check can fail), and `into_process` gives the guard up.
fn check_kill_on_drop() {
    let child = Spawn::new("sleep")
        .arg("1000")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    assert_mode(&child);
    let pid = child.pid();
    let pidfd = open_pidfd(pid);
    drop(child);
    if let Some(pidfd) = &pidfd {
        assert_reaped(pidfd, pid);
    }
    assert_no_child_left("after the drop");

    for guard_given_up in [false, true] {
        let child = Spawn::new("sleep")
            .arg("1000")
            .kill_on_drop(guard_given_up)
            .spawn()
            .unwrap();
        let process = child.into_process();
        assert_eq!(process.try_wait().unwrap(), None, "killed by into_process");
        process.kill().unwrap();
        assert_eq!(process.wait().unwrap().signal(), Some(SIGKILL));
    }
    let child = Spawn::new("sleep").arg("1000").spawn().unwrap();
    let pid = child.pid();
    let pidfd = open_pidfd(pid);
    drop(child);
    if let Some(pidfd) = pidfd {
        assert!(
            !pidfd_core::sys::poll::readable(pidfd.as_fd(), Some(Duration::ZERO)).unwrap(),
            "killed on drop without kill_on_drop"
        );
        PidFd::from(pidfd.try_clone().unwrap()).kill().unwrap();
        let info = pidfd_tests::waitid(&pidfd, WaitIdOptions::EXITED).unwrap();
        assert_eq!(
            info.child_status().unwrap(),
            Some(pidfd_sys::child_status::ChildStatus::Killed(SIGKILL))
        );
    } else {
        // No pidfd_open: the PID is still our unreaped child, so it names it.
        naive_kill(pid, SIGKILL).unwrap();
        let mut status = 0;
        // SAFETY: waitpid writes an int through a valid pointer.
        let reaped = unsafe { libc::waitpid(i32::try_from(pid).unwrap(), &raw mut status, 0) };
        assert_eq!(u32::try_from(reaped).ok(), Some(pid));
    }
    assert_no_child_left("after the control");
}

/// Blocks until our child `pid` has exited, without reaping it (`waitid(WEXITED |
/// WNOWAIT)`: works in pidfd and pid mode alike).
fn wait_exited_unreaped(pid: u32) {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value of the plain C struct.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes a siginfo_t through a valid pointer.
        let ret = unsafe {
            libc::waitid(
                libc::P_PID,
                pid,
                &raw mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if ret == 0 {
            return;
        }
        let error = std::io::Error::last_os_error();
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::Interrupted,
            "waitid: {error}"
        );
    }
}

/// `fcntl(fd, F_SETPIPE_SZ, size)`: the new capacity, or `None` where it is refused
/// (`EPERM` past the user's pipe quota, `EBUSY`), recorded as a skip by the caller.
fn set_pipe_size(fd: &impl AsRawFd, size: i32) -> Option<usize> {
    // SAFETY: F_SETPIPE_SZ resizes the pipe of an fd the caller holds; no memory is passed.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size) };
    usize::try_from(ret).ok()
}

/// A child that wrote 1 000 000 bytes to each of stdout and stderr (pipes of 1 MiB, so
/// it never blocked) and has exited, unreaped, before `wait_with_output_timeout` even
/// starts, with a zero deadline: everything it wrote comes back, it did not time out, and
/// the status is its own — the drain bound and the deadline cut off only later writers.
/// (With one 64 KiB read per pipe and round this returned 65 536 bytes of stdout, a
/// success status and `timed_out == false`.)
fn check_all_the_child_wrote_comes_back() {
    const LEN: usize = 1_000_000;
    let mut child = Spawn::new("sh")
        .args([
            "-c",
            "read x; head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2; exit 3",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sized = [
        set_pipe_size(child.stdout.as_ref().unwrap(), 1 << 20),
        set_pipe_size(child.stderr.as_ref().unwrap(), 1 << 20),
    ];
    if sized.iter().any(|size| size.is_none_or(|size| size < LEN)) {
        emulator::skip("F_SETPIPE_SZ to 1 MiB refused (pipe-max-size or the user's pipe quota)");
        drop(child.stdin.take());
        let result = child
            .wait_with_output_timeout(Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            result.output.status.code(),
            Some(3),
            "{:?}",
            result.output.status
        );
        return;
    }
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    wait_exited_unreaped(child.pid());
    let result = child.wait_with_output_timeout(Duration::ZERO).unwrap();
    assert!(!result.timed_out, "{:?}", result.output.status);
    assert!(!result.pipes_abandoned, "both pipes were at end of file");
    assert_eq!(result.output.status.code(), Some(3));
    assert_eq!(
        (result.output.stdout.len(), result.output.stderr.len()),
        (LEN, LEN),
        "the child's own output was cut off"
    );
    assert!(
        result
            .output
            .stdout
            .iter()
            .chain(&result.output.stderr)
            .all(|&b| b == 0)
    );
}

/// The whole set, in whatever mode `Spawn` gives here.
fn check_all() {
    check_all_the_child_wrote_comes_back();
    check_both_pipes_full();
    check_grandchild_keeps_pipe_open();
    check_timeout_kills_and_reaps();
    check_kill_on_drop();
}

// ---------------------------------------------------------------------------------------
// Tests in this process.

#[test]
fn all_the_child_wrote_comes_back_past_the_drain_bound_and_the_deadline() {
    let _serial = serial();
    check_all_the_child_wrote_comes_back();
}

/// Each wait that collects closes a piped stdin first (as std's `wait_with_output` and
/// `output` do), so `cat` sees end of file: `Spawn::output_timeout` with stdin set to
/// piped, `wait_with_output_timeout` with `stdin` left in the `Child`, and `status` with a
/// piped stdin. A regression times out (60 s) instead of hanging the test.
#[test]
fn collecting_waits_close_a_piped_stdin_first() {
    let _serial = serial();
    const LIMIT: Duration = Duration::from_secs(60);
    let result = Spawn::new("cat")
        .stdin(Stdio::piped())
        .output_timeout(LIMIT)
        .unwrap();
    assert!(!result.timed_out, "output_timeout kept stdin open");
    assert!(result.output.status.success() && result.output.stdout.is_empty());

    let child = Spawn::new("sh")
        .args(["-c", "cat; echo eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(child.stdin.is_some());
    let result = child.wait_with_output_timeout(LIMIT).unwrap();
    assert!(
        !result.timed_out,
        "wait_with_output_timeout kept stdin open"
    );
    assert_eq!(result.output.stdout, b"eof\n");

    // status() has no deadline: it runs in a thread, and a regression fails the
    // `recv_timeout` (the stuck `cat` gets end of file when this process exits).
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let status = Spawn::new("cat").stdin(Stdio::piped()).status();
        let _ = done.send(status.map(|status| status.code()));
    });
    let code = finished
        .recv_timeout(LIMIT)
        .expect("status() kept the piped stdin open")
        .unwrap();
    assert_eq!(code, Some(0));
    assert_no_child_left("after the stdin checks");
}

/// The pipe inode of an fd (`fstat`).
fn inode(fd: &impl AsRawFd) -> u64 {
    // SAFETY: an all-zero stat is a valid value of the plain C struct.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes a stat through a valid pointer, for an fd the caller holds.
    assert_eq!(unsafe { libc::fstat(fd.as_raw_fd(), &raw mut stat) }, 0);
    #[allow(
        clippy::useless_conversion,
        reason = "st_ino is u32 on some 32-bit ABIs (i686 glibc)"
    )]
    u64::from(stat.st_ino)
}

/// `(fd number, link target)` of each fd in `/proc/<pid>/fd` (`self` for this process).
fn fd_links(pid: &str) -> Vec<(i32, String)> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.unwrap();
            let fd: i32 = entry.file_name().to_str()?.parse().ok()?;
            // (The directory's own fd is gone by the time its entry is read.)
            let link = std::fs::read_link(entry.path()).ok()?;
            Some((fd, link.to_string_lossy().into_owned()))
        })
        .collect()
}

/// After `spawn()` the parent holds exactly one end of each pipe — its own (the child's
/// end left in the parent would keep a pipe from ever reaching end of file) — and a second
/// child B spawned while A's pipes are open holds only 0, 1, 2 and whatever this process
/// had open without close-on-exec before (so none of A's pipes).
#[test]
fn the_parent_keeps_only_its_own_pipe_ends_and_no_other_child_gets_them() {
    let _serial = serial();
    // Inherited by any child of this process: open before, not close-on-exec.
    let inheritable: Vec<i32> = fd_links("self")
        .into_iter()
        .map(|(fd, _)| fd)
        .filter(|&fd| fd > 2 && fd_flags(&fd) >= 0 && fd_flags(&fd) & libc::FD_CLOEXEC == 0)
        .collect();
    let mut a = Spawn::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let inodes = [
        inode(a.stdin.as_ref().unwrap()),
        inode(a.stdout.as_ref().unwrap()),
        inode(a.stderr.as_ref().unwrap()),
    ];
    let ours = fd_links("self");
    for ino in inodes {
        let link = format!("pipe:[{ino}]");
        let holders: Vec<i32> = ours
            .iter()
            .filter(|(_, target)| *target == link)
            .map(|(fd, _)| *fd)
            .collect();
        assert_eq!(holders.len(), 1, "{link} held by fds {holders:?}: {ours:?}");
    }
    // B blocks reading its stdin until we close it: its fd table is stable meanwhile.
    let b = Spawn::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let held = fd_links(&b.pid().to_string());
    drop(b.wait_with_output_timeout(Duration::from_secs(60)).unwrap());
    for (fd, target) in &held {
        assert!(
            *fd <= 2 || inheritable.contains(fd),
            "B holds fd {fd} ({target}); inheritable: {inheritable:?}, all: {held:?}"
        );
        for ino in inodes {
            assert_ne!(
                *target,
                format!("pipe:[{ino}]"),
                "B holds A's pipe on fd {fd}"
            );
        }
    }
    drop(a.stdin.take());
    let result = a.wait_with_output_timeout(Duration::from_secs(60)).unwrap();
    assert!(!result.timed_out && result.output.status.success());
    assert_no_child_left("after the fd checks");
}

/// `/dev/null` is opened for reading on stdin and for writing on stdout and stderr (as
/// std does), not read-write: the child reports the access mode of its fds 0, 1, 2 from
/// `/proc/$$/fdinfo` (`flags:` in octal; `O_ACCMODE` = 3) through a pipe on fd 3.
#[test]
fn dev_null_is_read_only_on_stdin_and_write_only_on_stdout_and_stderr() {
    let _serial = serial();
    let (reader, writer) = std::io::pipe().unwrap();
    let status = Spawn::new("sh")
        .args([
            "-c",
            r#"for fd in 0 1 2; do sed -n 's/^flags:[[:space:]]*//p' /proc/$$/fdinfo/$fd >&3; done"#,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .fd_dup2(writer.as_raw_fd(), 3)
        .status()
        .unwrap();
    drop(writer);
    assert!(status.success());
    let modes: Vec<i32> = std::io::read_to_string(reader)
        .unwrap()
        .lines()
        .map(|flags| i32::from_str_radix(flags.trim(), 8).unwrap() & libc::O_ACCMODE)
        .collect();
    assert_eq!(modes, [libc::O_RDONLY, libc::O_WRONLY, libc::O_WRONLY]);
}

/// `TimedOutput::pipes_abandoned`: set when the drain bound gives up a pipe that a
/// grandchild still holds open (blocked until we release it), and not when every pipe
/// reached end of file.
#[test]
fn a_pipe_given_up_while_a_grandchild_holds_it_is_reported() {
    let _serial = serial();
    let (release_reader, release_writer) = std::io::pipe().unwrap();
    let result = Spawn::new("sh")
        .args(["-c", "(read line <&3) & echo done"])
        .fd_dup2(release_reader.as_raw_fd(), 3)
        .output_timeout(Duration::from_secs(60))
        .unwrap();
    // The grandchild sees end of file and exits.
    drop((release_reader, release_writer));
    assert!(!result.timed_out);
    assert!(result.pipes_abandoned, "{result:?}");
    assert_eq!(result.output.stdout, b"done\n");
    let result = Spawn::new("sh")
        .args(["-c", "echo out; echo err >&2"])
        .output_timeout(Duration::from_secs(60))
        .unwrap();
    assert!(!result.timed_out && !result.pipes_abandoned, "{result:?}");
    assert_eq!(result.output.stderr, b"err\n");
}

/// `Child::close_stdin_and_wait` is std's `Child::wait`: `stdin` is closed first, so `cat`
/// exits (a regression fails the 60 s `recv_timeout` instead of hanging); `child.wait()`
/// (`Process::wait`) still works through a shared `Child`.
#[test]
fn close_stdin_and_wait_closes_stdin_first() {
    let _serial = serial();
    let mut child = Spawn::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.as_mut().unwrap().write_all(b"x").unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let status = child.close_stdin_and_wait().map(|status| status.code());
        let _ = done.send((status, child.stdin.is_none(), child.wait().ok()));
    });
    let (status, closed, again) = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("close_stdin_and_wait kept stdin open");
    assert_eq!(status.unwrap(), Some(0));
    assert!(closed);
    assert_eq!(
        again.and_then(|status| status.code()),
        Some(0),
        "a later wait"
    );

    let shared = std::sync::Arc::new(Spawn::new("true").spawn().unwrap());
    assert!(
        shared.wait().unwrap().success(),
        "Process::wait through Arc<Child>"
    );
    assert_no_child_left("after close_stdin_and_wait");
}

#[test]
fn both_pipes_full_at_once_never_deadlock_and_come_back_intact() {
    let _serial = serial();
    check_both_pipes_full();
}

#[test]
fn a_grandchild_holding_a_pipe_open_does_not_hang_output() {
    let _serial = serial();
    check_grandchild_keeps_pipe_open();
}

#[test]
fn output_timeout_kills_reaps_and_returns_what_was_read() {
    let _serial = serial();
    check_timeout_kills_and_reaps();
}

#[test]
fn kill_on_drop_kills_and_reaps() {
    let _serial = serial();
    check_kill_on_drop();
}

#[test]
fn stdio_null_inherit_piped_and_fds() {
    let _serial = serial();
    let fds = open_fd_count();
    // Piped both ways: the child echoes what we write, through std's types.
    let mut child = Spawn::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(child.stderr.is_none(), "stderr was not piped");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.as_ref().unwrap();
    for end in [stdin.as_raw_fd(), stdout.as_raw_fd()] {
        assert!(end >= 3, "pipe end {end}");
        assert_ne!(
            fd_flags(&end) & libc::FD_CLOEXEC,
            0,
            "pipe end {end} not close-on-exec"
        );
    }
    let data = pattern(3, 100_000);
    // (A writer thread: cat echoes while we write; both directions are bigger than a pipe.)
    let writer = std::thread::spawn({
        let data = data.clone();
        move || {
            let mut stdin = stdin;
            stdin.write_all(&data).unwrap();
        }
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.stdout == data && output.stderr.is_empty() && output.status.success());

    // spawn(): nothing piped unless asked.
    let child = Spawn::new("true").spawn().unwrap();
    assert!(child.stdin.is_none() && child.stdout.is_none() && child.stderr.is_none());
    assert!(child.wait().unwrap().success());

    // output(): stdin is /dev/null by default (cat sees end of file at once).
    let output = Spawn::new("sh")
        .args([
            "-c",
            "cat; link=$(readlink /proc/$$/fd/0); echo \"$link\" >&2",
        ])
        .output()
        .unwrap();
    assert_eq!(
        (&output.stdout[..], &output.stderr[..]),
        (&b""[..], &b"/dev/null\n"[..])
    );

    // Stdio::null() for stdout: nothing collected, the child writes to /dev/null.
    let output = Spawn::new("sh")
        .args([
            "-c",
            "echo lost; link=$(readlink /proc/$$/fd/1); echo \"$link\" >&2",
        ])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        (&output.stdout[..], &output.stderr[..]),
        (&b""[..], &b"/dev/null\n"[..])
    );

    // Stdio::inherit() in output(): the child's stdout is ours (same open file).
    let ours = std::fs::read_link("/proc/self/fd/1").unwrap();
    let output = Spawn::new("sh")
        .args(["-c", "link=$(readlink /proc/$$/fd/1); echo \"$link\" >&2"])
        .stdout(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.stdout.is_empty());
    assert_eq!(output.stderr, format!("{}\n", ours.display()).into_bytes());

    // Any fd: a File for stdin, a File for stdout (both still work as before).
    let dir = TempDir::new("spawn-io-files");
    let input = pattern(4, 10_000);
    std::fs::write(dir.path().join("in"), &input).unwrap();
    let status = Spawn::new("cat")
        .stdin(std::fs::File::open(dir.path().join("in")).unwrap())
        .stdout(std::fs::File::create(dir.path().join("out")).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(std::fs::read(dir.path().join("out")).unwrap() == input);

    // A pipeline: one child's std `ChildStdout` is the next one's stdin.
    let mut first = Spawn::new("sh")
        .args(["-c", "echo through; echo two"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let output = Spawn::new("sort")
        .arg("-r")
        .stdin(first.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(first.wait().unwrap().success());
    assert_eq!(output.stdout, b"two\nthrough\n");

    // status() with a piped stdout: read and discarded, so 1 MiB never blocks the child.
    let status = Spawn::new("head")
        .args(["-c", "1048576", "/dev/zero"])
        .stdout(Stdio::piped())
        .status()
        .unwrap();
    assert!(status.success());

    // A builder spawns many times: each spawn gets its own pipe.
    let mut echo = Spawn::new("sh");
    echo.args(["-c", "echo $$"]);
    let first = echo.output().unwrap().stdout;
    let second = echo.output().unwrap().stdout;
    assert!(!first.is_empty() && first != second, "{first:?} {second:?}");

    assert_no_child_left("stdio");
    assert_eq!(open_fd_count(), fds, "fds leaked");
}

/// 10 000 `output()` cycles of `/bin/true` (1 000 under an emulator; about 10 s in a debug
/// build on a 2-core machine) leave the fd count unchanged and no child behind; so do
/// failed spawns (`NotFound` for a missing program).
#[test]
fn ten_thousand_outputs_leak_nothing() {
    let _serial = serial();
    let mut ok = Spawn::new("/bin/true");
    let mut missing = Spawn::new("/nonexistent/program");
    ok.output().unwrap();
    let fds = open_fd_count();
    for i in 0..emulator::iterations(10_000) {
        let output = ok.output().unwrap();
        assert_eq!(output.status.code(), Some(0), "output {i}");
        if i % 10 == 0 {
            let error = missing.output().unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error}");
            let error = missing.status().unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error}");
        }
    }
    assert_eq!(open_fd_count(), fds, "fds leaked");
    assert_no_child_left("after the cycles");
}

// ---------------------------------------------------------------------------------------
// Scenarios.

#[test]
#[ignore = "entry point for the re-exec'd scenario children"]
fn scenario_child() {
    SCENARIOS.dispatch();
}

/// Everything of this file again with `PIDFD_DISABLE=1` (pid mode).
fn pid_mode_scenario() {
    let child = Spawn::new("true").spawn().unwrap();
    say("mode", format!("{:?}", child.mode()));
    child.wait().unwrap();
    check_all();
}

/// With fd 0 closed in the parent, the pipes still land on 3 or above (pipe2 would hand
/// out 0 first), fd 0 stays closed, and an inherited stdin stays closed in the child.
fn stdin_closed_scenario() {
    // SAFETY: closes this re-exec'd process's stdin (the runner's /dev/null); nothing
    // else uses fd 0 here.
    assert_eq!(unsafe { libc::close(0) }, 0);
    let mut child = Spawn::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    say("stdin_fd", stdin.as_raw_fd());
    say("stdout_fd", child.stdout.as_ref().unwrap().as_raw_fd());
    stdin.write_all(b"through the pipe").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    say("echoed", String::from_utf8_lossy(&output.stdout));
    let output = Spawn::new("sh")
        .args([
            "-c",
            "if [ -e /proc/self/fd/0 ]; then echo open; else echo closed; fi",
        ])
        .stdin(Stdio::inherit())
        .output()
        .unwrap();
    say(
        "inherited_stdin",
        String::from_utf8_lossy(&output.stdout).trim(),
    );
    say("fd0_after", fd_flags(&0));
}

/// The loop under an `EINTR` storm aimed at the thread blocked in `poll(2)`/`read(2)`
/// (a handler without `SA_RESTART` every millisecond): the output is whole, the deadline
/// still kills, the kill-on-drop wait still reaps.
fn eintr_scenario() {
    let dir = TempDir::new("spawn-io-eintr");
    let (out, err) = (pattern(5, 300_000), pattern(6, 300_000));
    std::fs::write(dir.path().join("out"), &out).unwrap();
    std::fs::write(dir.path().join("err"), &err).unwrap();
    let storm = pidfd_tests::interrupt::Storm::at_this_thread(
        pidfd_sys::signal::SIGALRM,
        Duration::from_millis(1),
    );
    // (The pause keeps the loop blocked in poll(2) while the storm hits.)
    let output = Spawn::new("sh")
        .args(["-c", "cat out; sleep 0.2; cat err >&2"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    say("output_whole", output.stdout == out && output.stderr == err);
    let result = Spawn::new("sleep")
        .arg("1000")
        .output_timeout(Duration::from_millis(200))
        .unwrap();
    say("timed_out", result.timed_out);
    say("killed_by", format!("{:?}", result.output.status.signal()));
    let child = Spawn::new("sleep")
        .arg("1000")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    drop(child);
    let hits = storm.hits_on_target();
    drop(storm);
    say("hits", hits);
    assert_no_child_left("after the storm");
    say("no_child_left", true);
}

#[test]
fn an_eintr_storm_changes_nothing() {
    let _serial = serial();
    let Some(out) = SCENARIOS.run("eintr", &[]) else {
        return;
    };
    assert_eq!(out["output_whole"], "true", "{out:?}");
    assert_eq!(out["timed_out"], "true", "{out:?}");
    assert_eq!(out["killed_by"], format!("{:?}", Some(SIGKILL)), "{out:?}");
    assert!(
        out["hits"].parse::<u32>().unwrap() > 0,
        "the storm never hit: {out:?}"
    );
}

#[test]
fn pid_mode_output_timeout_and_kill_on_drop() {
    let _serial = serial();
    let Some(out) = SCENARIOS.run("pid_mode", &[(pidfd_core::probe::DISABLE_ENV, "1")]) else {
        return;
    };
    assert_eq!(out["mode"], "Pid", "{out:?}");
}

#[test]
fn pipes_stay_off_a_closed_stdin() {
    let _serial = serial();
    let Some(out) = SCENARIOS.run("stdin_closed", &[]) else {
        return;
    };
    for end in ["stdin_fd", "stdout_fd"] {
        assert!(out[end].parse::<i32>().unwrap() >= 3, "{end}: {out:?}");
    }
    assert_eq!(out["echoed"], "through the pipe", "{out:?}");
    assert_eq!(out["inherited_stdin"], "closed", "{out:?}");
    assert_eq!(out["fd0_after"], "-1", "fd 0 was filled: {out:?}");
}

#[test]
#[ignore = "entry point for the re-exec'd scenario children"]
fn scenario_child_ns() {
    NS_SCENARIOS.dispatch();
}

/// A `kill_on_drop` child reaped through its handle (`args`: `[]`) or behind its back
/// (`["foreign"]`, see [`drop_after_foreign_reap`]), its PID handed to a new process, then
/// the `Child` dropped: the new process must not be signalled. (Were it sent `SIGKILL`, it
/// would die of that and not of the `SIGTERM` sent afterwards: a fatal signal sets the exit
/// signal when it is sent.)
fn drop_after_reap_scenario(args: &[&str]) {
    let child = Spawn::new("true").kill_on_drop(true).spawn().unwrap();
    say("mode", format!("{:?}", child.mode()));
    if args == ["foreign"] {
        return drop_after_foreign_reap(child);
    }
    let old_pid = child.pid();
    assert!(child.wait().unwrap().success());
    let new = pid_steering::sleeper_with_pid(old_pid);
    // Opened while `new` certainly runs: this is the new process.
    let new_pidfd = PidFd::from(pidfd_tests::pidfd_open(new.pid(), PidfdFlags::empty()).unwrap());
    say("reused", new.id() == old_pid);
    say("naive_reaches", errno_of(naive_kill(old_pid, 0)));
    drop(child);
    new_pidfd.send_signal(SIGTERM).unwrap();
    let status = new_pidfd.wait().unwrap();
    say("new_died_of", format!("{:?}", status.signal()));
}

/// The child reaped behind the handle's back (a `waitpid` of its PID here, which the
/// handle never sees), its PID given to a `sleep` that is *not* our child (a child of a
/// `sh` of ours: a PID that names a child of ours again is one no pid-mode handle can tell
/// apart), then the `Child` dropped. The `sh` steers the PID itself (root in this
/// namespace: `ns_last_pid`), reports the sleep's PID, and then how it died (`wait`'s
/// status: 128 + the signal).
fn drop_after_foreign_reap(child: Child) {
    use std::io::BufRead;
    let old_pid = child.pid();
    let mut status = 0;
    let pid = i32::try_from(old_pid).unwrap();
    // SAFETY: waitpid writes an int through a valid pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let script = format!(
        "echo {} >/proc/sys/kernel/ns_last_pid; sleep 30 & echo $!; wait $!; echo $?",
        old_pid - 1
    );
    let mut holder = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(holder.stdout.take().unwrap()).lines();
    let new_pid: u32 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    say("reused", new_pid == old_pid);
    say("naive_reaches", errno_of(naive_kill(old_pid, 0)));
    drop(child);
    // The sleep (still running: its PID names it) gets SIGTERM, unless the drop killed it.
    let _ = naive_kill(new_pid, SIGTERM);
    let code: i32 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    assert!(holder.wait().unwrap().success());
    say("new_died_of", format!("{:?}", Some(code - 128)));
}

#[test]
fn kill_on_drop_never_signals_after_the_reap() {
    let _serial = serial();
    for (scenario, mode, env) in [
        ("drop_after_reap", "PidFd", &[][..]),
        (
            "drop_after_reap",
            "Pid",
            &[(pidfd_core::probe::DISABLE_ENV, "1")][..],
        ),
        // Reaped behind the handle's back: the drop must not signal the PID either.
        ("drop_after_reap:foreign", "PidFd", &[][..]),
        (
            "drop_after_reap:foreign",
            "Pid",
            &[(pidfd_core::probe::DISABLE_ENV, "1")][..],
        ),
    ] {
        let Some(out) = NS_SCENARIOS.run(scenario, env) else {
            return;
        };
        // (The scenario runs without the parent's PIDFD_DISABLE, see Scenarios::run.)
        let expected = if emulator::spawn_gets_pidfd() {
            mode
        } else {
            "Pid"
        };
        assert_eq!(out["mode"], expected, "{out:?}");
        assert_eq!(out["reused"], "true", "{out:?}");
        assert_eq!(
            out["naive_reaches"], "ok",
            "{scenario} {mode}: PID not reused: {out:?}"
        );
        assert_eq!(
            out["new_died_of"],
            format!("{:?}", Some(SIGTERM)),
            "{scenario} {mode}: the process that got the reaped PID was signalled by the drop: {out:?}"
        );
    }
}
