//! `pidfd-std-ext` when PIDs are reused: a child reaped behind std's back (a `waitpid(-1)`
//! thief, `SIGCHLD = SIG_IGN`, or std's own `wait`) whose PID goes to the next child. No API
//! may ever return the other child's pidfd; a reaped child still yields its own.
//!
//! Every scenario runs in a private user + PID namespace (no root needed), where PIDs are
//! steered deterministically: `ns_last_pid` hands the reaped child's PID to the next one on
//! the first try, and `pid_max` (Linux 6.14+) makes a stress run wrap around every 700 forks.
//! Identity is checked by process, never by PID: pidfs inodes where the kernel has them, else
//! liveness (in each case exactly one of the two children is still alive), and exit codes
//! unique to each child.

#![allow(
    unsafe_code,
    reason = "the scenarios reap with waitpid(-1) and set SIGCHLD's disposition"
)]

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use pidfd_std_ext::{ChildExt, CommandExt, PidFd};
use pidfd_tests::emulator::pidfd_info_exit_works;
use pidfd_tests::pid_steering;
use pidfd_tests::scenario::{Report, Scenarios, say, wait_outcome};

const SCENARIOS: Scenarios = Scenarios::new("PIDFD_STD_EXT_REUSE_SCENARIO").in_pid_namespace();

#[test]
#[ignore = "entry point for the re-exec'd scenario children"]
fn scenario_child() {
    let scenario = SCENARIOS.current();
    match scenario.split(':').collect::<Vec<_>>().as_slice() {
        ["ab", reaper] => ab_scenario(reaper),
        ["stress"] => stress_scenario(),
        ["lost"] => lost_scenario(),
        ["no-identity"] => no_identity_scenario(),
        ["emfile"] => emfile_scenario(),
        other => panic!("unknown scenario {other:?}"),
    }
    say("done", true);
}

/// Who reaps children behind std's back.
enum Reaper {
    /// A thread looping on `waitpid(-1)`; reports what it reaped.
    Thief {
        stop: Arc<AtomicBool>,
        reaped: mpsc::Receiver<i32>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
    /// `SIGCHLD = SIG_IGN`: the kernel reaps each child as it exits.
    SigchldIgnored,
    /// std's own `Child::wait`.
    StdWait,
}

impl Reaper {
    fn start(name: &str) -> Reaper {
        match name {
            "thief" => {
                let stop = Arc::new(AtomicBool::new(false));
                let (tx, reaped) = mpsc::channel();
                let thread = {
                    let stop = Arc::clone(&stop);
                    std::thread::spawn(move || {
                        while !stop.load(Ordering::SeqCst) {
                            let mut status = 0;
                            // SAFETY: waitpid writes an int through a valid pointer.
                            let pid = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) };
                            if pid > 0 {
                                let _ = tx.send(pid);
                            } else {
                                std::thread::yield_now();
                            }
                        }
                    })
                };
                Reaper::Thief {
                    stop,
                    reaped,
                    thread: Some(thread),
                }
            }
            "sigchld-ignored" => {
                // SAFETY: SIG_IGN for SIGCHLD: the kernel reaps children itself.
                unsafe { libc::signal(pidfd_sys::signal::SIGCHLD, libc::SIG_IGN) };
                Reaper::SigchldIgnored
            }
            "std-wait" => Reaper::StdWait,
            other => panic!("unknown reaper {other}"),
        }
    }

    /// Returns once `child` (which is exiting) has been reaped; `truth` is a pidfd opened
    /// while it was certainly alive.
    fn await_reap(&self, child: &mut Child, truth: &PidFd) {
        match self {
            Reaper::Thief { reaped, .. } => {
                let pid = i32::try_from(child.id()).unwrap();
                while reaped.recv().unwrap() != pid {}
            }
            Reaper::SigchldIgnored => {
                truth.wait_for_exit(None).unwrap();
                // The kernel reaps right after the exit notification: wait for that (signal
                // 0 fails with ESRCH exactly once the process is reaped).
                while truth.send_signal(0).is_ok() {
                    std::thread::yield_now();
                }
            }
            Reaper::StdWait => {
                child.wait().unwrap();
            }
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Reaper::Thief { stop, thread, .. } = self {
            stop.store(true, Ordering::SeqCst);
            if let Some(thread) = thread.take() {
                thread.join().unwrap();
            }
        }
    }
}

/// How a pidfd relates to two processes: `own`, `OTHER` (the bug), or an error's kind.
/// By pidfs inode where available; else by liveness, which tells the two apart because
/// exactly one of them is alive.
fn identity(result: io::Result<PidFd>, own: &PidFd, other: &PidFd) -> String {
    let pidfd = match result {
        Ok(pidfd) => pidfd,
        Err(error) => return format!("err:{:?}", error.kind()),
    };
    // Signal 0 fails with ESRCH exactly once a process is reaped.
    let unreaped = |pidfd: &PidFd| pidfd.send_signal(0).is_ok();
    let same = |truth: &PidFd| match pidfd.is_same_process(truth) {
        Ok(same) => same,
        Err(_) => unreaped(&pidfd) == unreaped(truth),
    };
    assert_ne!(unreaped(own), unreaped(other), "one alive, one reaped");
    match (same(own), same(other)) {
        (true, false) => "own".to_owned(),
        (false, true) => "OTHER".to_owned(),
        _ => "unknown".to_owned(),
    }
}

/// `sh` that waits for its stdin to close, then exits with `code`.
fn held(code: u8) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", &format!("read _ ; exit {code}")])
        .stdin(Stdio::piped());
    command
}

/// A: spawned with `create_pidfd(true)`, reaped behind std's back; B: spawned with A's
/// PID (with `create_pidfd(true)`, with `spawn_with_pidfd`, or plainly — asking a plain
/// child is a misuse, but must not hand it A's pidfd either). Both orders of lookup. Keys
/// `<b kind>:<order>:<what>`.
fn ab_scenario(reaper_name: &str) {
    let reaper = Reaper::start(reaper_name);
    for b_kind in ["create", "exact", "plain"] {
        for order in ["a-first", "b-first"] {
            let key = |what: &str| format!("{b_kind}:{order}:{what}");
            let mut a = held(17).create_pidfd(true).spawn().unwrap();
            let a_pid = a.id();
            let truth_a = PidFd::open(a_pid).unwrap(); // A is blocked on stdin: this is A.
            say(&key("a_alive"), identity_alive(a.pidfd(), &truth_a));
            drop(a.stdin.take());
            reaper.await_reap(&mut a, &truth_a);
            // Reaped, its PID free: A still gets its own (dead) pidfd, and its status.
            let a_reaped = a.pidfd();
            say(
                &key("a_reaped"),
                match &a_reaped {
                    Ok(fd) if fd.send_signal(0).is_ok() => "alive?!".to_owned(),
                    Ok(fd) => format!("dead, same={:?}", fd.is_same_process(&truth_a).ok()),
                    Err(error) => format!("err:{:?}:{error}", error.kind()),
                },
            );
            say(
                &key("a_status"),
                wait_outcome(a_reaped.and_then(|fd| fd.wait())),
            );

            // B gets A's PID.
            let mut b_command = held(42);
            let (mut b, b_exact) = pid_steering::start_with_pid(
                a_pid,
                || {
                    let (child, exact) = match b_kind {
                        "create" => (b_command.create_pidfd(true).spawn().unwrap(), None),
                        "exact" => {
                            let (child, pidfd) = b_command.spawn_with_pidfd().unwrap();
                            (child, Some(pidfd))
                        }
                        _ => (b_command.spawn().unwrap(), None),
                    };
                    (child.id(), (child, exact))
                },
                |(child, _)| pid_steering::discard(child),
            );
            let truth_b = PidFd::open(b.id()).unwrap(); // B is blocked: this is B.
            say(&key("reused"), b.id() == a_pid);
            if let Some(exact) = b_exact {
                say(&key("b_exact"), identity(Ok(exact), &truth_b, &truth_a));
            }
            let lookups: &[&str] = if order == "a-first" {
                &["a", "b"]
            } else {
                &["b", "a"]
            };
            for who in lookups {
                match *who {
                    "a" => say(&key("a_lookup"), identity(a.pidfd(), &truth_a, &truth_b)),
                    _ => say(&key("b_lookup"), identity(b.pidfd(), &truth_b, &truth_a)),
                }
            }
            say(
                &key("a_into_pidfd"),
                match a.into_pidfd() {
                    Ok(pidfd) => identity(Ok(pidfd), &truth_a, &truth_b),
                    Err(_) => "given back".to_owned(),
                },
            );
            // B was never touched: alive until released, then exits with its own code.
            say(&key("b_alive"), truth_b.send_signal(0).is_ok());
            drop(b.stdin.take());
            if matches!(reaper, Reaper::StdWait) {
                say(&key("b_status"), wait_outcome(b.wait()));
            } else {
                say(&key("b_status"), wait_outcome(truth_b.wait()));
            }
        }
    }
}

/// 8 threads × 500 spawns (alternately `create_pidfd(true)` + `pidfd()` and
/// `spawn_with_pidfd`) while a `waitpid(-1)` thief reaps everything, with `pid_max` set so
/// that PIDs wrap around every 700 forks. Each child is held on a pipe until a reference
/// pidfd is open (its PID certainly names it then): every pidfd handed out must be that
/// process (pidfs identity where the kernel has it, and the child's own exit code read back
/// through it) — or the call fails with a clear error.
fn stress_scenario() {
    let pid_max = pid_steering::set_pid_max(1000);
    say("pid_max_set", pid_max.is_ok());
    let reaper = Reaper::start("thief");
    let seen = Arc::new(Mutex::new(BTreeMap::<u32, u32>::new()));
    let outcomes = Arc::new(Mutex::new(BTreeMap::<String, u32>::new()));
    let bad = Arc::new(Mutex::new(Vec::<String>::new()));
    let status_kept = pidfd_info_exit_works();
    let rounds = u32::try_from(pidfd_tests::emulator::iterations(500)).unwrap();
    let threads: Vec<_> = (0..8_u32)
        .map(|thread| {
            let (seen, outcomes, bad) =
                (Arc::clone(&seen), Arc::clone(&outcomes), Arc::clone(&bad));
            std::thread::spawn(move || {
                let count = |what: String| *outcomes.lock().unwrap().entry(what).or_insert(0) += 1;
                let complain = |what: String| bad.lock().unwrap().push(what);
                let (reader, mut writer) = io::pipe().unwrap();
                for round in 0..rounds {
                    let serial = thread * 500 + round;
                    let code = i32::try_from(serial % 251 + 1).unwrap();
                    let mut command = Command::new("sh");
                    command
                        .args(["-c", &format!("read _ ; exit {code}")])
                        .stdin(reader.try_clone().unwrap());
                    let how = if round % 2 == 0 { "create" } else { "exact" };
                    let (child, api) = if how == "create" {
                        let child = command.create_pidfd(true).spawn().unwrap();
                        let pidfd = child.pidfd();
                        (child, pidfd)
                    } else {
                        let (child, pidfd) = command.spawn_with_pidfd().unwrap();
                        (child, Ok(pidfd))
                    };
                    drop(command);
                    // Held on the pipe: this PID names this child.
                    let truth = PidFd::open(child.id()).unwrap();
                    let again = (how == "exact").then(|| child.pidfd());
                    writer.write_all(b"\n").unwrap();
                    let check = |result: io::Result<PidFd>, what: &str| match result {
                        Ok(pidfd) => {
                            if pidfd.is_same_process(&truth).is_ok_and(|same| !same) {
                                complain(format!("{serial}: {what}: another process's pidfd"));
                            }
                            match pidfd.wait() {
                                Ok(status) if status.code() == Some(code) => {
                                    count(format!("{what}:own"));
                                }
                                Err(error)
                                    if !status_kept
                                        && error.raw_os_error() == Some(libc::ECHILD) =>
                                {
                                    count(format!("{what}:own_unchecked"));
                                }
                                other => complain(format!(
                                    "{serial}: {what}: wait {other:?}, expected exit {code}"
                                )),
                            }
                        }
                        Err(error) => count(format!("{what}:err:{:?}", error.kind())),
                    };
                    check(api, how);
                    if let Some(again) = again {
                        check(again, "exact_lookup");
                    }
                    // Gone before the next child reads the same pipe.
                    truth.wait_for_exit(None).unwrap();
                    *seen.lock().unwrap().entry(child.id()).or_insert(0) += 1;
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    drop(reaper);
    let reused = seen.lock().unwrap().values().filter(|&&n| n > 1).count();
    say("reused_pids", reused);
    say("rounds", rounds);
    for (what, n) in outcomes.lock().unwrap().iter() {
        say(what, n);
    }
    let bad = bad.lock().unwrap();
    say("bad", bad.len());
    for line in bad.iter().take(10) {
        say("bad_example", line);
    }
    io::stdout().flush().unwrap();
}

/// Enough children spawned with `create_pidfd(true)` and no lookup in between overflow the
/// channel (sized from `net.core.wmem_default`): each child then gets its own pidfd or `NotFound` (its message lost). A lost
/// child is killed and reaped, and a new `create_pidfd(true)` child gets its PID: the new
/// child's message arrives, but the lost one's PID is marked, so neither lookup answers by
/// guess — without the mark, the lost child would get the new child's pidfd.
fn lost_scenario() {
    let (reader, mut writer) = io::pipe().unwrap();
    // One Command: each create_pidfd(true) call would drain the channel.
    let mut command = Command::new("sh");
    command
        .args(["-c", "read _ ; exit 3"])
        .stdin(reader)
        .create_pidfd(true);
    // About 770 bytes of socket buffer per message (measured: 278 fit in the default
    // 208 KiB of net.core.wmem_default): enough children to overflow it, with margin.
    let wmem: usize = std::fs::read_to_string("/proc/sys/net/core/wmem_default")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(212_992);
    let wanted = wmem / 600 + 50;
    if wanted > 2000 {
        pidfd_tests::emulator::skip(&format!(
            "net.core.wmem_default is {wmem}: overflowing it takes {wanted} children"
        ));
        return;
    }
    let children: Vec<Child> = (0..wanted).map(|_| command.spawn().unwrap()).collect();
    let mut outcomes = BTreeMap::<String, u32>::new();
    let mut lost_child = None;
    for (i, child) in children.iter().enumerate() {
        // Blocked on the pipe: a pidfd opened now is certainly this child's.
        let truth = PidFd::open(child.id()).unwrap();
        let outcome = match child.pidfd() {
            Ok(pidfd) => match pidfd.is_same_process(&truth) {
                Ok(true) => "own".to_owned(),
                Ok(false) => "OTHER".to_owned(),
                Err(_) if pidfd.pid().ok() == Some(child.id()) => "own".to_owned(),
                Err(_) => "unknown".to_owned(),
            },
            Err(error) => {
                if error.kind() == io::ErrorKind::NotFound && lost_child.is_none() {
                    lost_child = Some(i);
                }
                format!("err:{:?}", error.kind())
            }
        };
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    say("outcomes", format!("{outcomes:?}"));
    if let Some(i) = lost_child {
        let lost = &children[i];
        let pid = lost.id();
        let truth = PidFd::open(pid).unwrap();
        truth.kill().unwrap();
        let raw = i32::try_from(pid).unwrap();
        let mut status = 0;
        // SAFETY: waitpid writes an int through a valid pointer; `pid` is our child.
        assert_eq!(unsafe { libc::waitpid(raw, &raw mut status, 0) }, raw);
        let new = pid_steering::start_with_pid(
            pid,
            || {
                let child = command.spawn().unwrap();
                (child.id(), child)
            },
            pid_steering::discard,
        );
        let truth_new = PidFd::open(new.id()).unwrap();
        say("reused", new.id() == pid);
        say("lost_lookup", identity(lost.pidfd(), &truth, &truth_new));
        say("new_lookup", identity(new.pidfd(), &truth_new, &truth));
        truth_new.kill().unwrap();
    }
    drop(writer.write_all(&vec![b'\n'; children.len() + 1]));
    drop(writer);
    let mut status = 0;
    // SAFETY: waitpid writes an int through a valid pointer.
    while unsafe { libc::waitpid(-1, &raw mut status, 0) } > 0 {}
}

/// Reaps `child` behind std's back (it must be exiting).
fn reap(child: &Child) {
    let raw = i32::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: waitpid writes an int through a valid pointer; `child` is our child.
    assert_eq!(unsafe { libc::waitpid(raw, &raw mut status, 0) }, raw);
}

/// A kernel that can say nothing about a pidfd but whether its process was reaped: no pidfs
/// (before 6.9, or any 32-bit program), no `PIDFD_GET_INFO` (before 6.13), no `/proc`. A is
/// announced, B's `Command` is set up (a drain) before A's reap, B gets A's PID: B's
/// message must start a generation of its own, so A's lookup refuses — it once got B's
/// pidfd here (a PID-keyed liveness fallback took B for A).
fn no_identity_scenario() {
    let mut a = held(17).create_pidfd(true).spawn().unwrap();
    let a_pid = a.id();
    let truth_a = PidFd::open(a_pid).unwrap();
    say("a_alive", identity_alive(a.pidfd(), &truth_a));
    let mut b_command = held(42);
    b_command.create_pidfd(true);
    drop(a.stdin.take());
    reap(&a);
    let mut b = pid_steering::start_with_pid(
        a_pid,
        || {
            let child = b_command.spawn().unwrap();
            (child.id(), child)
        },
        pid_steering::discard,
    );
    let truth_b = PidFd::open(b.id()).unwrap();
    say("reused", b.id() == a_pid);
    let rules = [
        (libc::SYS_ioctl, libc::ENOTTY),
        (libc::SYS_fstatfs, libc::ENOSYS),
    ];
    if !pidfd_tests::seccomp::fail_syscalls_or_gap(&rules) {
        drop(b.stdin.take());
        b.wait().unwrap();
        return;
    }
    // SAFETY: mounts a tmpfs over /proc in this scenario's private mount namespace.
    let mounted = unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/proc".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    assert_eq!(mounted, 0, "{}", io::Error::last_os_error());
    say("pid_unknown", truth_b.pid().is_err());
    say("a_lookup", lookup(a.pidfd()));
    say("b_lookup", lookup(b.pidfd()));
    say("b_alive", truth_b.send_signal(0).is_ok());
    drop(b.stdin.take());
    say("b_status", wait_outcome(b.wait()));
}

/// `"ok"` or the error's kind, for lookups where identity cannot be checked.
fn lookup(result: io::Result<PidFd>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(error) => format!("err:{:?}", error.kind()),
    }
}

/// For a lookup while only the asker holds its PID: `own` if the pidfd is its (by pidfs
/// where possible, else: it names a process that is not reaped, and only the asker can be).
fn identity_alive(result: io::Result<PidFd>, own: &PidFd) -> String {
    match result {
        Ok(pidfd) => match pidfd.is_same_process(own) {
            Ok(true) => "own".to_owned(),
            Ok(false) => "OTHER".to_owned(),
            Err(_) if pidfd.send_signal(0).is_ok() => "own".to_owned(),
            Err(_) => "unknown".to_owned(),
        },
        Err(error) => format!("err:{:?}", error.kind()),
    }
}

/// The first `create_pidfd(true)` of the process finds its fd table full (no socket pair).
/// Its child Z is reaped by std; A (`create_pidfd(true)`, a working channel by then) gets
/// Z's PID. Z's lookup must not answer with A's pidfd: Z marked its PID as lost.
fn emfile_scenario() {
    let _ = pidfd_core::probe::features();
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes a valid rlimit.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
    assert_eq!(got, 0);
    let saved = limit;
    limit.rlim_cur = (pidfd_tests::open_fd_count() + 20).try_into().unwrap();
    // SAFETY: lowers the soft limit; reads a valid rlimit.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
    assert_eq!(set, 0);
    let mut hog = Vec::new();
    while let Ok(file) = std::fs::File::open("/dev/null") {
        hog.push(file);
    }
    hog.pop(); // one slot left: not enough for a socket pair
    let mut z_command = Command::new("sh");
    z_command.args(["-c", "exit 5"]).create_pidfd(true);
    drop(hog);
    // SAFETY: restores the soft limit; reads a valid rlimit.
    let restored = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const saved) };
    assert_eq!(restored, 0);
    let mut z = z_command.spawn().unwrap();
    say("z_status", wait_outcome(z.wait()));
    say("z_lookup_alone", lookup(z.pidfd()));
    let mut a = pid_steering::start_with_pid(
        z.id(),
        || {
            let child = held(9).create_pidfd(true).spawn().unwrap();
            (child.id(), child)
        },
        pid_steering::discard,
    );
    let truth_a = PidFd::open(a.id()).unwrap();
    say("reused", a.id() == z.id());
    say(
        "z_lookup",
        match z.pidfd() {
            Ok(pidfd) => identity_alive(Ok(pidfd), &truth_a).replace("own", "A's"),
            Err(error) => format!("err:{:?}", error.kind()),
        },
    );
    drop(a.stdin.take());
    say("a_status", wait_outcome(a.wait()));
}

// ---- the parent-side tests ----

fn check_ab(out: &Report, reaper: &str) {
    let status = |code: i32| {
        if pidfd_info_exit_works() || reaper == "std-wait" {
            format!("exit Some({code})")
        } else {
            libc::ECHILD.to_string()
        }
    };
    for b_kind in ["create", "exact", "plain"] {
        for order in ["a-first", "b-first"] {
            let get = |what: &str| {
                out.get(&format!("{b_kind}:{order}:{what}"))
                    .cloned()
                    .unwrap_or_else(|| panic!("{b_kind}:{order}:{what} missing: {out:?}"))
            };
            let case = format!("{reaper}, B {b_kind}, {order}: {out:?}");
            assert_eq!(get("a_alive"), "own", "{case}");
            assert_eq!(get("reused"), "true", "{case}");
            // The reaped child's own pidfd, and its status through it.
            assert!(get("a_reaped").starts_with("dead, same="), "{case}");
            assert!(!get("a_reaped").contains("false"), "{case}");
            if reaper == "std-wait" && !pidfd_info_exit_works() {
                assert_eq!(get("a_status"), libc::ECHILD.to_string(), "{case}");
            } else {
                assert_eq!(get("a_status"), status(17), "{case}");
            }
            // Two children had the PID: neither is answered by guess — not even when B was
            // spawned without create_pidfd(true) (then B, asking, could be the asker).
            assert_eq!(get("a_lookup"), "err:Other", "{case}");
            assert_eq!(get("b_lookup"), "err:Other", "{case}");
            assert_eq!(get("a_into_pidfd"), "given back", "{case}");
            if b_kind == "exact" {
                assert_eq!(get("b_exact"), "own", "{case}");
            }
            assert_eq!(get("b_alive"), "true", "{case}");
            // B is waited through its pidfd while the thief may take it first: without
            // PIDFD_INFO_EXIT the status is then lost (ECHILD); with it, always B's own.
            let b_status = get("b_status");
            if reaper == "std-wait" || pidfd_info_exit_works() {
                assert_eq!(b_status, status(42), "{case}");
            } else {
                assert!(
                    b_status == "exit Some(42)" || b_status == libc::ECHILD.to_string(),
                    "{case}"
                );
            }
        }
    }
}

#[test]
fn a_waitpid_thief_and_a_reused_pid_never_cross_pidfds() {
    if let Some(out) = SCENARIOS.run("ab:thief", &[]) {
        check_ab(&out, "thief");
    }
}

#[test]
fn sigchld_ignored_and_a_reused_pid_never_cross_pidfds() {
    if let Some(out) = SCENARIOS.run("ab:sigchld-ignored", &[]) {
        check_ab(&out, "sigchld-ignored");
    }
}

#[test]
fn std_wait_and_a_reused_pid_never_cross_pidfds() {
    if let Some(out) = SCENARIOS.run("ab:std-wait", &[]) {
        check_ab(&out, "std-wait");
    }
}

#[test]
fn eight_threads_a_thief_and_wrapping_pids() {
    let Some(out) = SCENARIOS.run("stress", &[]) else {
        return;
    };
    let n = |key: &str| out.get(key).map_or(0, |v| v.parse::<u32>().unwrap());
    let per_kind = n("rounds") * 8 / 2;
    assert_eq!(n("bad"), 0, "{out:?}");
    // Every exact spawn gave its own pidfd.
    assert_eq!(
        n("exact:own") + n("exact:own_unchecked"),
        per_kind,
        "{out:?}"
    );
    // Every lookup: its own pidfd, or a clear refusal.
    for what in ["create", "exact_lookup"] {
        let own = n(&format!("{what}:own")) + n(&format!("{what}:own_unchecked"));
        let refused = n(&format!("{what}:err:Other")) + n(&format!("{what}:err:NotFound"));
        assert_eq!(own + refused, per_kind, "{what}: {out:?}");
        assert!(own > 0, "{what}: {out:?}");
    }
    if out["pid_max_set"] == "true" && pidfd_tests::emulator::emulator().is_none() {
        assert!(n("reused_pids") > 100, "PIDs did not wrap around: {out:?}");
    }
}

#[test]
fn a_lost_message_never_lets_another_child_answer() {
    let Some(out) = SCENARIOS.run("lost", &[]) else {
        return;
    };
    let outcomes = &out["outcomes"];
    assert!(
        !outcomes.contains("OTHER") && !outcomes.contains("unknown"),
        "{out:?}"
    );
    assert!(
        outcomes.contains("\"err:NotFound\""),
        "the channel never overflowed: {out:?}"
    );
    assert_eq!(out["reused"], "true", "{out:?}");
    assert_eq!(out["lost_lookup"], "err:Other", "{out:?}");
    assert_eq!(out["new_lookup"], "err:Other", "{out:?}");
}

#[test]
fn without_pidfs_fdinfo_or_proc_a_reused_pid_is_refused() {
    let Some(out) = SCENARIOS.run("no-identity", &[]) else {
        return;
    };
    assert_eq!(out["a_alive"], "own", "{out:?}");
    assert_eq!(out["reused"], "true", "{out:?}");
    assert_eq!(
        out["pid_unknown"], "true",
        "the simulation did not take: {out:?}"
    );
    assert_eq!(out["a_lookup"], "err:Other", "{out:?}");
    assert_eq!(out["b_lookup"], "err:Other", "{out:?}");
    assert_eq!(out["b_alive"], "true", "{out:?}");
    assert_eq!(out["b_status"], "exit Some(42)", "{out:?}");
}

#[test]
fn a_child_whose_channel_could_not_be_made_never_gets_another_childs_pidfd() {
    let Some(out) = SCENARIOS.run("emfile", &[]) else {
        return;
    };
    assert_eq!(out["z_status"], "exit Some(5)", "{out:?}");
    assert_eq!(out["z_lookup_alone"], "err:NotFound", "{out:?}");
    assert_eq!(out["reused"], "true", "{out:?}");
    assert_eq!(out["z_lookup"], "err:Other", "{out:?}");
    assert_eq!(out["a_status"], "exit Some(9)", "{out:?}");
}
