//! `ProcessTree`: a child that starts a double-forking `setsid` daemon and 50 background
//! sleepers is killed with nothing left (by `cgroup.kill` and by the forced freeze path);
//! `wait_empty` sleeps through every exit but the last; kill-on-drop; graceful stop; the
//! clear `Unsupported` error without a writable cgroup v2; the opt-in process-group
//! fallback and what escapes it.
//!
//! Real kernel, real processes. Where no cgroup v2 can be written (not root and not
//! delegated, qemu-user without clone3) the cgroup tests record counted skips. Every wait is
//! on a pipe, a pidfd or `cgroup.events` — never a sleep.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, ErrorKind};
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pidfd_core::{Child, KillMethod, PidFd, ProcessTree, Spawn, TreeKind};
use pidfd_tests::cgroup::{Cgroup2Leaf, tree_parent_or_skip};
use pidfd_tests::scenario::{Scenarios, say};

const SCENARIOS: Scenarios = Scenarios::new("PIDFD_TREE_SCENARIO")
    .table(&[("group-fallback", |_| group_fallback_scenario())]);

#[test]
#[ignore = "entry point for the re-exec'd children"]
fn scenario_child() {
    SCENARIOS.dispatch();
}

/// How long any one wait of these tests may take before the test fails (a bound against
/// hanging, never a synchronization).
const LIMIT: Duration = Duration::from_secs(60);

/// A tree under a fresh leaf, or `None` after a counted skip.
fn tree_or_skip(tag: &str, method: KillMethod) -> Option<(Cgroup2Leaf, ProcessTree)> {
    let leaf = tree_parent_or_skip(tag)?;
    let tree = ProcessTree::builder()
        .parent(leaf.path())
        .kill_method(method)
        .create()
        .unwrap();
    assert_eq!(tree.kind(), TreeKind::Cgroup);
    Some((leaf, tree))
}

/// `tree.spawn`, or `None` after a counted skip where this kernel or emulator cannot spawn
/// into a cgroup (no clone3 / pidfds).
///
/// The child gets no stdout/stderr (a leftover of a failed test must not hold the test
/// harness's pipes open) and is killed if its handle is dropped unreaped.
fn spawn_or_skip(tree: &ProcessTree, spawn: &mut Spawn) -> Option<Child> {
    spawn
        .stdout(pidfd_core::Stdio::null())
        .stderr(pidfd_core::Stdio::null())
        .kill_on_drop(true);
    match tree.spawn(spawn) {
        Ok(child) => Some(child),
        Err(error) if error.kind() == ErrorKind::Unsupported => {
            if !pidfd_tests::emulator::gap(&format!("no cgroup spawn: {error}")) {
                pidfd_tests::emulator::skip(&format!("no cgroup spawn: {error}"));
            }
            None
        }
        Err(error) => panic!("spawn into the tree: {error}"),
    }
}

/// A started script: its shell, the PIDs it announced, and the write end of its stdin (held
/// open, so that `read x` blocks instead of spinning on end of file).
type Announced = (Child, Vec<u32>, std::io::PipeWriter);

/// Starts `sh -c script` in the tree with fd 3 a pipe, and reads `lines` PIDs from it (each
/// process of the script announces itself with `echo $$ >&3` once it is in place). Its stdin
/// is a pipe whose write end is returned: while the caller holds it, `read` blocks.
fn spawn_announcing(tree: &ProcessTree, script: &str, lines: usize) -> Option<Announced> {
    let (reader, writer) = std::io::pipe().unwrap();
    let (stdin, stdin_writer) = std::io::pipe().unwrap();
    let mut spawn = Spawn::new("sh");
    spawn
        .args(["-c", script])
        .fd_dup2(writer.as_raw_fd(), 3)
        .stdin(stdin);
    let child = spawn_or_skip(tree, &mut spawn)?;
    drop(writer);
    let mut pids = Vec::new();
    let mut reader = BufReader::new(reader);
    while pids.len() < lines {
        let mut line = String::new();
        assert_ne!(
            reader.read_line(&mut line).unwrap(),
            0,
            "the script ended its announcements after {} of {lines} lines",
            pids.len()
        );
        pids.push(line.trim().parse().unwrap());
    }
    Some((child, pids, stdin_writer))
}

/// The test's process tree: a shell that starts 50 background sleepers and a grandchild
/// that double-forks and `setsid`s (and exits, so the daemon is orphaned), then waits.
/// Announces 52 PIDs: 50 sleepers, the daemon, the shell.
const FAMILY: &str = r#"
i=0
while [ $i -lt 50 ]; do sh -c 'echo $$ >&3; exec sleep 1000' & i=$((i+1)); done
sh -c '( setsid sh -c "echo \$\$ >&3; exec sleep 1000" & ); exit 0' &
echo $$ >&3
wait
"#;
const FAMILY_SIZE: usize = 52;

/// `(state, session)` from `/proc/<pid>/stat`, if the process is there.
fn stat(pid: u32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    Some((fields[0].chars().next()?, fields[3].parse().ok()?))
}

/// The process `pid`, of which `pidfd` was opened while it was in the tree, is gone: its
/// pidfd says it exited (identity: whatever holds the number now is another process), and
/// `/proc/<pid>` is absent, a zombie (orphans wait for init to reap them), or a process
/// outside the tree that reused the number.
fn assert_gone(pid: u32, pidfd: &PidFd, tree_dir: &str) {
    assert!(
        pidfd.wait_for_exit(Some(Duration::ZERO)).unwrap(),
        "{pid} of the tree still runs"
    );
    if let Some((state, _)) = stat(pid) {
        if !matches!(state, 'Z' | 'X') {
            let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            assert!(
                !cgroup.contains(tree_dir),
                "{pid} is alive in the tree: {cgroup}"
            );
        }
    }
}

/// The kill test for one method: nothing of the family survives, the directory goes.
fn kill_family(tag: &str, method: KillMethod) {
    let Some((_leaf, tree)) = tree_or_skip(tag, method) else {
        return;
    };
    let dir: PathBuf = tree.path().unwrap().to_owned();
    let dir_name = dir.file_name().unwrap().to_str().unwrap().to_owned();
    let Some((shell, announced, _stdin)) = spawn_announcing(&tree, FAMILY, FAMILY_SIZE) else {
        return;
    };
    let shell_pid = shell.pid();
    // The daemon leads a session of its own (the others share the test's).
    let (_, shell_session) = stat(shell_pid).unwrap();
    let leaders: Vec<u32> = announced
        .iter()
        .copied()
        .filter(|&pid| stat(pid).is_some_and(|(_, session)| session == i32::try_from(pid).unwrap()))
        .collect();
    assert_eq!(leaders.len(), 1, "one setsid daemon: {leaders:?}");
    assert_ne!(i32::try_from(leaders[0]).unwrap(), shell_session);

    // Everything announced is listed by cgroup.procs; pidfds for identity, before the kill.
    let listed: BTreeSet<u32> = tree.pids().unwrap().into_iter().collect();
    for pid in &announced {
        assert!(listed.contains(pid), "{pid} not in cgroup.procs {listed:?}");
    }
    let pidfds: Vec<(u32, PidFd)> = listed
        .iter()
        .filter_map(|&pid| PidFd::open(pid).ok().map(|pidfd| (pid, pidfd)))
        .collect();
    assert!(pidfds.len() >= FAMILY_SIZE);

    tree.kill().unwrap();
    assert!(tree.wait_empty(Some(LIMIT)).unwrap(), "tree not empty");
    assert!(tree.is_empty().unwrap());
    assert!(tree.pids().unwrap().is_empty());
    assert_eq!(shell.wait().unwrap().signal(), Some(libc::SIGKILL));
    for (pid, pidfd) in &pidfds {
        assert_gone(*pid, pidfd, &dir_name);
    }
    tree.remove().unwrap();
    assert!(!dir.exists(), "{} still there", dir.display());
}

#[test]
fn kill_leaves_nothing_behind() {
    kill_family("kill", KillMethod::Auto);
}

/// The fallback for kernels before 5.14, forced here: freeze, pidfd-signal each member,
/// thaw.
#[test]
fn freeze_kill_leaves_nothing_behind() {
    kill_family("freeze", KillMethod::Freeze);
}

#[test]
fn cgroup_kill_method_is_cgroup_kill_or_unsupported() {
    let Some((_leaf, tree)) = tree_or_skip("cgkill", KillMethod::CgroupKill) else {
        return;
    };
    let Some(child) = spawn_or_skip(&tree, Spawn::new("sleep").arg("1000")) else {
        return;
    };
    let has_kill = tree.path().unwrap().join("cgroup.kill").exists();
    match tree.kill() {
        Ok(()) => {
            assert!(has_kill);
            assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
        }
        Err(error) => {
            assert!(!has_kill, "{error}");
            assert_eq!(error.kind(), ErrorKind::Unsupported);
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

/// This thread's `voluntary_ctxt_switches` (or another thread's of this process).
fn voluntary_switches(tid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Whether thread `tid` of this process sleeps in `poll`/`ppoll` now.
fn sleeps_in_poll(tid: &str) -> bool {
    let Ok(syscall) = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")) else {
        return false;
    };
    let Ok(state) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    let sleeping = state
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'));
    let number: libc::c_long = syscall
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1);
    let mut polls = vec![libc::SYS_ppoll];
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    polls.push(libc::SYS_poll);
    #[cfg(target_pointer_width = "32")]
    polls.push(414); // ppoll_time64
    sleeping && polls.contains(&number)
}

/// `wait_empty` blocks in one poll that the kernel wakes when `populated` drops to 0:
/// nineteen of twenty exits do not wake it at all, the last one does.
#[test]
fn wait_empty_wakes_on_the_last_exit_only() {
    if pidfd_tests::emulator::gap("/proc/<tid>/syscall shows the host's syscalls under qemu-user") {
        return;
    }
    let Some((_leaf, tree)) = tree_or_skip("wake", KillMethod::Auto) else {
        return;
    };
    let mut members = Vec::new();
    for _ in 0..20 {
        let Some(child) = spawn_or_skip(&tree, Spawn::new("sleep").arg("1000")) else {
            return;
        };
        members.push(child);
    }
    assert!(!tree.wait_empty(Some(Duration::ZERO)).unwrap());
    std::thread::scope(|scope| {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let tree = &tree;
        let waiter = scope.spawn(move || {
            let link = std::fs::read_link("/proc/thread-self").unwrap();
            let tid = link.file_name().unwrap().to_str().unwrap().to_owned();
            let before = voluntary_switches(&tid);
            tid_tx.send(tid.clone()).unwrap();
            let empty = tree.wait_empty(Some(LIMIT)).unwrap();
            (empty, voluntary_switches(&tid) - before)
        });
        let tid = tid_rx.recv().unwrap();
        let start = Instant::now();
        while !sleeps_in_poll(&tid) {
            assert!(start.elapsed() < LIMIT, "the waiter never blocked in poll");
            std::thread::yield_now();
        }
        let blocked = voluntary_switches(&tid);
        let last = members.pop().unwrap();
        for member in members.drain(..) {
            member.kill().unwrap();
            assert_eq!(member.wait().unwrap().signal(), Some(libc::SIGKILL));
        }
        assert!(!tree.is_empty().unwrap());
        assert!(sleeps_in_poll(&tid), "the waiter woke before the last exit");
        assert_eq!(
            voluntary_switches(&tid),
            blocked,
            "19 exits woke the waiter"
        );
        last.kill().unwrap();
        let (empty, switches) = waiter.join().unwrap();
        assert!(empty);
        assert!(
            switches <= 3,
            "{switches} wake-ups for one wait (a polling loop?)"
        );
        last.wait().unwrap();
    });
}

/// The events fd works in any event loop: epoll for EPOLLPRI.
#[test]
fn events_fd_in_an_epoll_loop() {
    use pidfd_core::sys::epoll;
    use std::os::fd::AsFd;
    let Some((_leaf, tree)) = tree_or_skip("epoll", KillMethod::Auto) else {
        return;
    };
    let Some(child) = spawn_or_skip(&tree, Spawn::new("sleep").arg("1000")) else {
        return;
    };
    let poller = epoll::create().unwrap();
    let events = tree.events_fd().unwrap();
    let interest = u32::try_from(libc::EPOLLPRI).unwrap();
    epoll::ctl(poller.as_fd(), epoll::CTL_ADD, events, interest, 7).unwrap();
    // The spawn was a change (populated 0 -> 1): pending until the open file is read again
    // (a read through a dup of the fd, which shares it, re-arms it).
    let dup = std::fs::File::from(events.try_clone_to_owned().unwrap());
    let mut buf = [0_u8; 256];
    let mut ready = [epoll::Event { events: 0, u64: 0 }; 4];
    let count = epoll::wait(poller.as_fd(), &mut ready, Some(LIMIT)).unwrap();
    assert_eq!(count, 1, "the spawn was not seen");
    assert!(std::os::unix::fs::FileExt::read_at(&dup, &mut buf, 0).unwrap() > 0);
    assert!(!tree.is_empty().unwrap());
    let count = epoll::wait(poller.as_fd(), &mut ready, Some(Duration::ZERO)).unwrap();
    assert_eq!(count, 0, "ready before any change");
    child.kill().unwrap();
    // Reaped: the child has left the cgroup (cgroup_exit comes before the exit is
    // reported), so the change is made; `is_empty` from anyone must not consume it.
    child.wait().unwrap();
    assert!(tree.is_empty().unwrap());
    let count = epoll::wait(poller.as_fd(), &mut ready, Some(LIMIT)).unwrap();
    assert_eq!(count, 1, "is_empty took the notification away");
    let key = ready[0].u64;
    assert_eq!(key, 7);
    // Re-armed by a read of the open file: not ready any more.
    assert!(std::os::unix::fs::FileExt::read_at(&dup, &mut buf, 0).unwrap() > 0);
    let count = epoll::wait(poller.as_fd(), &mut ready, Some(Duration::ZERO)).unwrap();
    assert_eq!(count, 0, "still ready after a re-read");
}

#[test]
fn kill_on_drop_kills_the_tree_and_removes_the_directory() {
    let Some(leaf) = tree_parent_or_skip("drop") else {
        return;
    };
    let tree = ProcessTree::builder().parent(leaf.path()).create().unwrap();
    let dir = tree.path().unwrap().to_owned();
    let dir_name = dir.file_name().unwrap().to_str().unwrap().to_owned();
    let Some((shell, announced, _stdin)) = spawn_announcing(&tree, FAMILY, FAMILY_SIZE) else {
        return;
    };
    let pidfds: Vec<(u32, PidFd)> = announced
        .iter()
        .map(|&pid| (pid, PidFd::open(pid).unwrap()))
        .collect();
    drop(tree);
    assert_eq!(shell.wait().unwrap().signal(), Some(libc::SIGKILL));
    for (pid, pidfd) in &pidfds {
        assert_gone(*pid, pidfd, &dir_name);
    }
    assert!(!dir.exists(), "{} still there", dir.display());
}

#[test]
fn without_kill_on_drop_the_tree_outlives_its_handle() {
    let Some(leaf) = tree_parent_or_skip("keep") else {
        return;
    };
    let tree = ProcessTree::builder()
        .parent(leaf.path())
        .kill_on_drop(false)
        .create()
        .unwrap();
    let dir = tree.path().unwrap().to_owned();
    let Some(child) = spawn_or_skip(&tree, Spawn::new("sleep").arg("1000")) else {
        return;
    };
    drop(tree);
    assert_eq!(child.try_wait().unwrap(), None, "killed on drop");
    assert!(dir.exists());
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn remove_refuses_a_populated_tree() {
    let Some(leaf) = tree_parent_or_skip("busy") else {
        return;
    };
    let tree = ProcessTree::builder()
        .parent(leaf.path())
        .kill_on_drop(false)
        .create()
        .unwrap();
    let dir = tree.path().unwrap().to_owned();
    let Some(child) = spawn_or_skip(&tree, Spawn::new("sleep").arg("1000")) else {
        return;
    };
    assert_eq!(tree.remove().unwrap_err().raw_os_error(), Some(libc::EBUSY));
    assert!(dir.exists());
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir(&dir).unwrap();
}

/// `stop`: SIGTERM ends the polite members; the one that ignores it is killed after the
/// grace period.
#[test]
fn stop_terminates_then_kills() {
    for stubborn in [false, true] {
        let Some((_leaf, tree)) = tree_or_skip("stop", KillMethod::Auto) else {
            return;
        };
        let script = if stubborn {
            "trap '' TERM; echo $$ >&3; while :; do read x; done"
        } else {
            "echo $$ >&3; exec sleep 1000"
        };
        let Some((child, _, _stdin)) = spawn_announcing(&tree, script, 1) else {
            return;
        };
        let grace = if stubborn {
            Duration::from_millis(200)
        } else {
            LIMIT
        };
        let in_grace = tree.stop(grace).unwrap();
        assert_eq!(in_grace, !stubborn);
        assert!(tree.wait_empty(Some(LIMIT)).unwrap());
        let expected = if stubborn {
            libc::SIGKILL
        } else {
            libc::SIGTERM
        };
        assert_eq!(child.wait().unwrap().signal(), Some(expected));
    }
}

/// `signal` reaches every member once, through a pidfd, while the tree is frozen, and the
/// tree runs again afterwards.
#[test]
fn signal_reaches_every_member() {
    let Some((_leaf, tree)) = tree_or_skip("signal", KillMethod::Auto) else {
        return;
    };
    let mut members = Vec::new();
    for code in 0..5 {
        let script = format!("trap 'exit {code}' USR1; echo $$ >&3; while :; do read x; done");
        let Some((child, _, stdin)) = spawn_announcing(&tree, &script, 1) else {
            return;
        };
        members.push((child, stdin));
    }
    assert_eq!(tree.signal(libc::SIGUSR1).unwrap(), 5);
    for (code, (member, _stdin)) in (0..).zip(members) {
        assert_eq!(member.wait().unwrap().code(), Some(code));
    }
    assert!(tree.wait_empty(Some(LIMIT)).unwrap());
    let frozen = std::fs::read_to_string(tree.path().unwrap().join("cgroup.freeze")).unwrap();
    assert_eq!(frozen.trim(), "0", "left frozen");
}

/// The default parent is this process's own cgroup v2 (found through /proc/self/cgroup and
/// mountinfo) where that is writable; else the error says what is missing.
#[test]
fn default_parent_is_the_own_cgroup() {
    match ProcessTree::new() {
        Ok(tree) => {
            let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
            let own = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
            let dir = tree.path().unwrap();
            let path = dir.to_str().unwrap();
            let parent = dir.parent().unwrap().to_str().unwrap();
            assert!(
                parent.ends_with(own.trim_end_matches('/')),
                "{path} not under {own}"
            );
            assert!(dir.join("cgroup.procs").exists());
            let Some(child) = spawn_or_skip(&tree, Spawn::new("sleep").arg("1000")) else {
                return;
            };
            let seen = std::fs::read_to_string(format!("/proc/{}/cgroup", child.pid())).unwrap();
            let name = dir.file_name().unwrap().to_str().unwrap();
            assert!(seen.contains(name), "{seen}");
            child.kill().unwrap();
            child.wait().unwrap();
        }
        // Not root and not delegated, or no cgroup2 mounted (cgroup v1 hosts): the error
        // must say which (checked in full by `unprivileged_gets_a_clear_unsupported`).
        Err(error) => {
            assert_eq!(error.kind(), ErrorKind::Unsupported, "{error}");
            eprintln!("no tree under the own cgroup here: {error}");
        }
    }
}

/// Without a writable cgroup v2: `Unsupported`, naming what is missing. As root, checked in
/// a thread that runs as nobody (uid 65534); as an ordinary user, as is.
#[test]
fn unprivileged_gets_a_clear_unsupported() {
    if pidfd_tests::real_ids().0 != 0 {
        unprivileged_checks();
        return;
    }
    pidfd_tests::cgroup::in_thread_as(65534, 65534, unprivileged_checks).unwrap();
}

fn unprivileged_checks() {
    match ProcessTree::new() {
        // A delegated cgroup (systemd user session): the tree works.
        Ok(tree) => {
            pidfd_tests::emulator::skip("this user's cgroup v2 is delegated: no error to see");
            drop(tree);
        }
        Err(error) => {
            assert_eq!(error.kind(), ErrorKind::Unsupported, "{error}");
            let message = error.to_string();
            assert!(
                [
                    "cgroup v1",
                    "not delegated",
                    "no cgroup2",
                    "no cgroup v2",
                    "not a cgroup v2"
                ]
                .iter()
                .any(|what| message.contains(what)),
                "unclear: {message}"
            );
            eprintln!("as expected: {message}");
        }
    }
    // A parent that is no cgroup v2 directory at all.
    let error = ProcessTree::builder().parent("/proc").create().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unsupported);
    assert!(
        error.to_string().contains("not a cgroup v2 directory"),
        "{error}"
    );
}

/// The opt-in fallback (in a copy of this binary: it makes the process a child subreaper
/// for good): an orphaned grandchild of the group is killed and reaped by us; a `setsid`
/// escaper survives, as documented.
#[test]
fn process_group_fallback_and_its_setsid_escape() {
    if pidfd_tests::emulator::gap("qemu-user refuses PR_SET_CHILD_SUBREAPER (EINVAL)") {
        return;
    }
    let Some(report) = SCENARIOS.run("group-fallback", &[]) else {
        return;
    };
    assert_eq!(report["kind"], "ProcessGroup");
    assert_eq!(report["orphan_gone"], "true");
    assert_eq!(report["escaper_survived"], "true");
}

fn group_fallback_scenario() {
    // "/proc" is no cgroup v2 directory: Unsupported, and the fallback takes over.
    let tree = ProcessTree::builder()
        .parent("/proc")
        .process_group_fallback(true)
        .create()
        .unwrap();
    say("kind", format!("{:?}", tree.kind()));
    assert!(tree.events_fd().is_none());
    assert!(pidfd_core::sys::subreaper::is_child_subreaper().unwrap());
    // The shell starts an orphan in the group (re-parented to us) and a setsid escaper.
    let script = r#"
( sh -c 'echo $$ >&3; exec sleep 1000' & )
( setsid sh -c 'echo $$ >&3; exec sleep 1000' & )
echo $$ >&3
exec sleep 1000
"#;
    let (reader, writer) = std::io::pipe().unwrap();
    let child = tree
        .spawn(
            Spawn::new("sh")
                .args(["-c", script])
                .fd_dup2(writer.as_raw_fd(), 3),
        )
        .unwrap();
    drop(writer);
    let mut pids = Vec::new();
    for line in BufReader::new(reader).lines().take(3) {
        pids.push(line.unwrap().trim().parse::<u32>().unwrap());
    }
    let pidfds: Vec<PidFd> = pids.iter().map(|&pid| PidFd::open(pid).unwrap()).collect();
    let listed = tree.pids().unwrap();
    assert_eq!(
        tree.process_group(),
        Some(i32::try_from(child.pid()).unwrap())
    );
    assert!(listed.contains(&child.pid()));
    tree.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(tree.wait_empty(Some(LIMIT)).unwrap());
    // The orphan and the escaper cannot be told apart by announcement order; the escaper is
    // the one in another session.
    let mut orphan_gone = false;
    let mut escaper_survived = false;
    for (pid, pidfd) in pids.iter().zip(&pidfds) {
        if *pid == child.pid() {
            continue;
        }
        let dead = pidfd.wait_for_exit(Some(Duration::ZERO)).unwrap();
        if dead {
            // Reaped by the tree (re-parented to us): no zombie left.
            orphan_gone = stat(*pid).is_none();
        } else {
            let (_, session) = stat(*pid).unwrap();
            escaper_survived = session == i32::try_from(*pid).unwrap();
            pidfd.kill().unwrap();
            pidfd.wait_for_exit(Some(LIMIT)).unwrap();
        }
    }
    say("orphan_gone", orphan_gone);
    say("escaper_survived", escaper_survived);
}

/// A tree is shared between threads (one waits, another kills), like a `Process`.
#[test]
fn a_tree_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ProcessTree>();
}

/// The tree works through its directory's fd, not its path: with its cgroup2 mount lazily
/// unmounted under it, it still lists, kills, waits and removes itself.
#[test]
fn a_tree_outlives_its_mount() {
    let mut mount = match pidfd_tests::cgroup::Cgroup2Mount::new() {
        Ok(mount) => mount,
        Err(reason) => {
            pidfd_tests::emulator::skip(&reason);
            return;
        }
    };
    let tree = ProcessTree::builder()
        .parent(mount.path())
        .kill_method(KillMethod::Freeze)
        .create()
        .unwrap();
    let name = tree.path().unwrap().file_name().unwrap().to_owned();
    let Some(child) = spawn_or_skip(&tree, Spawn::new("sleep").arg("1000")) else {
        return;
    };
    // The same hierarchy, seen through a mount that stays: the directory there.
    let mut other = pidfd_tests::cgroup::Cgroup2Mount::new().unwrap();
    let seen = other.path().join(&name);
    assert!(seen.exists());
    mount.detach();
    assert!(!tree.path().unwrap().exists(), "still mounted");
    assert_eq!(tree.pids().unwrap(), [child.pid()]);
    tree.kill().unwrap();
    assert!(tree.wait_empty(Some(LIMIT)).unwrap());
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    drop(tree);
    assert!(!seen.exists(), "{} left behind", seen.display());
    other.detach();
}

/// `remove` of a populated tree fails with `EBUSY`, and the tree it consumed still kills on
/// drop: the member does not outlive it, and the directory goes.
#[test]
fn a_failed_remove_still_kills_on_drop() {
    let Some((_leaf, tree)) = tree_or_skip("rmbusy", KillMethod::Auto) else {
        return;
    };
    let dir = tree.path().unwrap().to_owned();
    let Some(child) = spawn_or_skip(&tree, Spawn::new("sleep").arg("1000")) else {
        return;
    };
    assert_eq!(tree.remove().unwrap_err().raw_os_error(), Some(libc::EBUSY));
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(!dir.exists(), "{} still there", dir.display());
}

/// A member that makes a threaded sub-cgroup and moves its own thread there: the sub-cgroup's
/// `cgroup.procs` refuses reads (`EOPNOTSUPP`), but the tree still lists, signals and kills
/// the member (listed by the tree's own `cgroup.procs`, the threaded domain).
fn threaded_sub_cgroup(tag: &str, method: KillMethod) {
    let Some((_leaf, tree)) = tree_or_skip(tag, method) else {
        return;
    };
    let dir = tree.path().unwrap().to_owned();
    let script = r#"
mkdir "$TREE/t" && echo threaded > "$TREE/t/cgroup.type" && echo $$ > "$TREE/t/cgroup.threads" || exit 9
sh -c 'echo $$ >&3; exec sleep 1000' &
echo $$ >&3
read x
"#;
    let (reader, writer) = std::io::pipe().unwrap();
    let (stdin, _stdin_writer) = std::io::pipe().unwrap();
    let mut spawn = Spawn::new("sh");
    spawn
        .args(["-c", script])
        .env("TREE", &dir)
        .fd_dup2(writer.as_raw_fd(), 3)
        .stdin(stdin);
    let Some(shell) = spawn_or_skip(&tree, &mut spawn) else {
        return;
    };
    drop(writer);
    let announced: Vec<u32> = BufReader::new(reader)
        .lines()
        .take(2)
        .map(|line| line.unwrap().trim().parse().unwrap())
        .collect();
    assert_eq!(announced.len(), 2, "the threaded sub-cgroup was not made");
    let threaded = std::fs::read_to_string(dir.join("t/cgroup.type")).unwrap();
    assert_eq!(threaded.trim(), "threaded");
    assert_eq!(
        std::fs::read_to_string(dir.join("t/cgroup.procs"))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EOPNOTSUPP)
    );
    let listed: BTreeSet<u32> = tree.pids().unwrap().into_iter().collect();
    for pid in &announced {
        assert!(listed.contains(pid), "{pid} not listed: {listed:?}");
    }
    // SIGCONT harms no one: every member is signalled.
    assert_eq!(tree.signal(libc::SIGCONT).unwrap(), 2);
    let pidfds: Vec<PidFd> = announced
        .iter()
        .map(|&pid| PidFd::open(pid).unwrap())
        .collect();
    tree.kill().unwrap();
    assert!(tree.wait_empty(Some(LIMIT)).unwrap());
    assert_eq!(shell.wait().unwrap().signal(), Some(libc::SIGKILL));
    for pidfd in &pidfds {
        assert!(pidfd.wait_for_exit(Some(Duration::ZERO)).unwrap());
    }
    tree.remove().unwrap();
    assert!(!dir.exists());
}

#[test]
fn a_threaded_sub_cgroup_is_listed_and_killed() {
    threaded_sub_cgroup("threaded", KillMethod::Auto);
}

#[test]
fn a_threaded_sub_cgroup_is_killed_by_the_freeze() {
    threaded_sub_cgroup("threadedfz", KillMethod::Freeze);
}

/// `signal` on a tree the caller froze leaves it frozen (the signal is seen at the thaw).
#[test]
fn signal_leaves_a_frozen_tree_frozen() {
    let Some((_leaf, tree)) = tree_or_skip("frozen", KillMethod::Auto) else {
        return;
    };
    let script = "trap 'exit 7' USR1; echo $$ >&3; while :; do read x; done";
    let Some((child, _, _stdin)) = spawn_announcing(&tree, script, 1) else {
        return;
    };
    let freeze = tree.path().unwrap().join("cgroup.freeze");
    std::fs::write(&freeze, "1").unwrap();
    assert_eq!(tree.signal(libc::SIGUSR1).unwrap(), 1);
    let state = std::fs::read_to_string(&freeze).unwrap();
    assert_eq!(state.trim(), "1", "signal thawed a tree the caller froze");
    assert_eq!(child.try_wait().unwrap(), None, "ran while frozen");
    std::fs::write(&freeze, "0").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(7));
}
