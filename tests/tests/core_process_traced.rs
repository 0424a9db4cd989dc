//! A child traced by another process: its pidfd turns readable when it exits, but we (its
//! parent) may reap it only once the tracer has waited for it or detached. Waiting must
//! not spin meanwhile (`wait` blocks in `waitid(WNOWAIT)`; `wait_timeout` backs off), and
//! must return the status once the tracer lets go. The same for a [`Reaper`] holding such a
//! zombie beside an ordinary child: it must not spin, and must still report the other exit.
//!
//! Needs ptrace permission over our own child from a sibling process (root, or a kernel
//! without Yama restrictions); a counted skip otherwise.

#![allow(
    unsafe_code,
    reason = "ptrace, fork and the thread CPU clock are raw calls; each block says why"
)]

use std::io::Write;
use std::os::fd::AsFd;
use std::time::Duration;

use pidfd_core::{Mode, Reaper, Spawn, Stdio};
use pidfd_tests::emulator;
use pidfd_tests::ptrace::{await_zombie, seize};

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a writable timespec.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    assert_eq!(ret, 0);
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap(),
        u32::try_from(ts.tv_nsec).unwrap(),
    )
}

#[test]
fn waiting_for_a_traced_zombie_does_not_spin_and_ends_when_the_tracer_lets_go() {
    if emulator::gap("ptrace is not emulated by qemu-user") {
        return;
    }
    let (stdin_read, stdin_write) = std::io::pipe().unwrap();
    let child = Spawn::new("sh")
        .args(["-c", "read line; exit 5"])
        .stdin(Stdio::from(stdin_read.try_clone().unwrap()))
        .spawn()
        .unwrap();
    drop(stdin_read);
    if child.mode() == Mode::Pid {
        emulator::skip("traced child: Spawn gave pid mode here (no pidfd to poll)");
        drop(stdin_write);
        child.wait().unwrap();
        return;
    }
    // The tracer: a forked process that seizes the child, then waits for the word to exit
    // (which detaches it) without ever waiting for the child.
    let (tracer, mut go_write) = match seize(child.pid(), &[stdin_write.as_fd()]) {
        Ok(seized) => seized,
        Err(reason) => {
            emulator::skip(&format!("traced child: {reason}"));
            drop(stdin_write);
            child.wait().unwrap();
            return;
        }
    };
    // The child exits; traced by the tracer, it stays a zombie only the tracer may reap now.
    drop(stdin_write);
    let before = thread_cpu();
    let waited = child.wait_timeout(Duration::from_millis(300)).unwrap();
    let used = thread_cpu() - before;
    assert_eq!(waited, None, "reapable while still traced?");
    assert!(
        used < Duration::from_millis(100),
        "wait_timeout spun on the readable pidfd of a traced zombie: {used:?} of CPU in 300 ms"
    );
    // The same through a plain PidFd.
    let pidfd = child.try_clone_pidfd().unwrap();
    let before = thread_cpu();
    let waited = pidfd.wait_timeout(Duration::from_millis(300)).unwrap();
    let used = thread_cpu() - before;
    assert_eq!(
        waited, None,
        "reapable through the PidFd while still traced?"
    );
    assert!(
        used < Duration::from_millis(100),
        "PidFd::wait_timeout spun on a traced zombie: {used:?} of CPU in 300 ms"
    );
    drop(pidfd);
    // A blocking wait in another thread returns once the tracer exits (detaching).
    std::thread::scope(|scope| {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let waiter = scope.spawn(move || {
            // SAFETY: gettid takes no arguments.
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            let before = thread_cpu();
            let status = child.wait();
            (status, thread_cpu() - before)
        });
        // Let the waiter get into its wait: until its state is "S" (blocked in the kernel),
        // for at most about 2 s of looking (a spinning waiter never gets there; its CPU
        // time then fails the check below).
        let tid = tid_rx.recv().unwrap();
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            let stat =
                std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
            if state == Some("S") {
                break;
            }
            std::thread::yield_now();
        }
        go_write.write_all(b"g").unwrap();
        let (status, used) = waiter.join().unwrap();
        assert_eq!(status.unwrap().code(), Some(5));
        assert!(
            used < Duration::from_millis(100),
            "wait spun on the traced zombie: {used:?} of CPU"
        );
    });
    assert!(tracer.wait().unwrap().success());
}

/// How long anything that must happen may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// What one bounded call on the reaper gave: its result, the CPU time of the thread that
/// made it and the wall time it took.
struct Call<R> {
    result: R,
    cpu: Duration,
    wall: Duration,
}

/// Runs `f(&mut reaper)` on a thread of its own and gives the reaper back with the
/// [`Call`]; `Err("hung")` when it did not return within [`PATIENCE`] (the thread and the
/// reaper are left behind), `Err("panicked")` when it panicked.
fn bounded<R: Send + 'static>(
    mut reaper: Reaper<i32>,
    f: impl FnOnce(&mut Reaper<i32>) -> R + Send + 'static,
) -> Result<(Reaper<i32>, Call<R>), &'static str> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (cpu, started) = (thread_cpu(), std::time::Instant::now());
        let result = f(&mut reaper);
        let call = Call {
            result,
            cpu: thread_cpu() - cpu,
            wall: started.elapsed(),
        };
        let _ = sender.send((reaper, call));
    });
    receiver
        .recv_timeout(PATIENCE)
        .map_err(|error| match error {
            std::sync::mpsc::RecvTimeoutError::Timeout => "hung",
            std::sync::mpsc::RecvTimeoutError::Disconnected => "panicked",
        })
}

/// `(token, exit code)` of what a reaper call reported, for comparisons.
type Reported = Result<Option<(i32, Option<i32>)>, String>;

fn reported(result: std::io::Result<Option<pidfd_core::Exit<i32>>>) -> Reported {
    result
        .map(|exit| exit.map(|exit| (exit.token, exit.status.and_then(|s| s.code()))))
        .map_err(|error| error.to_string())
}

/// Whether `call` used less than 30% of its wall time in CPU.
fn calm<R>(call: &Call<R>) -> bool {
    call.cpu.as_micros() * 100 < call.wall.as_micros() * 30
}

/// A `Reaper` holding a traced zombie (readable pidfd, not reapable while its tracer has
/// not waited) and an ordinary child: waiting does not spin on the zombie (thread CPU time
/// under 30% of the wall time of a 300 ms `next_exit`), the ordinary child's exit is
/// reported with its own code, `try_next_exit` returns (`Ok(None)`) rather than loop, and
/// once the tracer lets go the traced child is reported with its code. Every call runs on a
/// thread of its own, bounded by [`PATIENCE`].
#[test]
fn a_reaper_holding_a_traced_zombie_reports_other_exits_without_spinning() {
    use std::os::fd::AsFd as _;
    if emulator::gap("ptrace is not emulated by qemu-user") {
        return;
    }
    let (traced_read, traced_write) = std::io::pipe().unwrap();
    let traced = Spawn::new("sh")
        .args(["-c", "read line; exit 33"])
        .stdin(Stdio::from(traced_read))
        .spawn()
        .unwrap();
    if traced.mode() == Mode::Pid {
        emulator::skip("traced child: Spawn gave pid mode here (no pidfd to poll)");
        drop(traced_write);
        traced.wait().unwrap();
        return;
    }
    let traced_pid = traced.pid();
    let (tracer, go) = match seize(traced_pid, &[traced_write.as_fd()]) {
        Ok(seized) => seized,
        Err(reason) => {
            emulator::skip(&format!("traced child: {reason}"));
            drop(traced_write);
            traced.wait().unwrap();
            return;
        }
    };
    // The traced child exits: a zombie that only the tracer may reap for now.
    drop(traced_write);
    assert!(await_zombie(traced_pid), "the traced child did not exit");
    let (ordinary_read, ordinary_write) = std::io::pipe().unwrap();
    let ordinary = Spawn::new("sh")
        .args(["-c", "read line; exit 34"])
        .stdin(Stdio::from(ordinary_read))
        .spawn()
        .unwrap();
    let mut reaper = Reaper::new().unwrap();
    reaper.add(traced.into_process(), 33).unwrap();
    reaper.add(ordinary.into_process(), 34).unwrap();
    let mut problems = Vec::new();
    // A call that never returns loses the reaper: the test ends there (letting the tracer
    // go first, so that the stuck thread finds the exit and the traced child is reaped).
    let give_up = |what: &str, problems: &[String]| -> ! {
        let _ = (&go).write_all(b"g");
        panic!("{what} never returned (within {PATIENCE:?}); before: {problems:#?}")
    };

    // Nothing can be reported yet: a 300 ms wait, asleep.
    let window =
        |reaper: &mut Reaper<i32>| reported(reaper.next_exit(Some(Duration::from_millis(300))));
    let Ok((reaper, call)) = bounded(reaper, window) else {
        give_up("next_exit(300 ms) before any exit", &problems)
    };
    if call.result != Ok(None) {
        problems.push(format!("before any exit: {:?}", call.result));
    }
    if !calm(&call) {
        problems.push(format!(
            "next_exit spun on the traced zombie: {:?} of CPU in {:?}",
            call.cpu, call.wall
        ));
    }
    // The ordinary child exits: reported at once, with its own code.
    drop(ordinary_write);
    let next = |reaper: &mut Reaper<i32>| reported(reaper.next_exit(Some(PATIENCE)));
    let Ok((reaper, call)) = bounded(reaper, next) else {
        give_up("next_exit for the ordinary exit", &problems)
    };
    if call.result != Ok(Some((34, Some(34)))) {
        problems.push(format!(
            "the ordinary exit: {:?} after {:?}",
            call.result, call.wall
        ));
    }
    // try_next_exit returns; then another 300 ms wait, asleep.
    let Ok((reaper, call)) = bounded(reaper, |reaper| reported(reaper.try_next_exit())) else {
        give_up("try_next_exit", &problems)
    };
    if call.result != Ok(None) {
        problems.push(format!("try_next_exit: {:?}", call.result));
    }
    let Ok((reaper, call)) = bounded(reaper, window) else {
        give_up(
            "next_exit(300 ms) with only the traced zombie left",
            &problems,
        )
    };
    if call.result != Ok(None) || !calm(&call) {
        problems.push(format!(
            "with only the traced zombie left: {:?}, {:?} of CPU in {:?}",
            call.result, call.cpu, call.wall
        ));
    }
    // The tracer exits, detaching: an event loop that waits on the epoll fd (the AsFd
    // contract: readable, then try_next_exit until Ok(None)) sees it readable, and the
    // traced child is reported with its code.
    (&go).write_all(b"g").unwrap();
    let readable = pidfd_tests::reference::poll_in(&reaper, 30_000);
    if readable & libc::POLLIN == 0 {
        problems.push(format!(
            "the epoll fd never became readable for the traced exit: revents {readable:#x}"
        ));
    }
    let try_next = |reaper: &mut Reaper<i32>| reported(reaper.try_next_exit());
    let Ok((reaper, call)) = bounded(reaper, try_next) else {
        give_up("try_next_exit for the traced exit", &problems)
    };
    if call.result != Ok(Some((33, Some(33)))) {
        problems.push(format!(
            "the traced exit: {:?} after {:?}",
            call.result, call.wall
        ));
    }
    if !reaper.is_empty() {
        problems.push(format!("{} entries left", reaper.len()));
    }
    assert!(tracer.wait().unwrap().success());
    assert!(problems.is_empty(), "{problems:#?}");
}
