//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`, from real
//! kernel output where there is any: `siginfo_t` bytes from `waitid(P_PIDFD)` of children
//! that exited, were killed, stopped and continued (plus each report re-encoded in every
//! ABI's layout from `pidfd_sys::abi::ALL`), and `/proc/self/fdinfo` texts of pidfds (live,
//! reaped, `PIDFD_NONBLOCK`, `PIDFD_THREAD`, a child in a nested PID namespace, a process
//! outside our PID namespace) and of fds that are not pidfds. The tools' parsers get
//! hand-written command-line words.
//!
//! Run by `cargo xtask fuzz --seed-corpus` (or `cargo run --example gen_corpus` in `fuzz/`).
//! Output is deterministic in names; contents carry this machine's PIDs and UIDs.

#![allow(
    clippy::zombie_processes,
    reason = "the children are reaped through their pidfds (waitid P_PIDFD)"
)]

use std::collections::BTreeMap;
use std::io::BufRead;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use pidfd_sys::abi::{ALL, Abi, NATIVE};
use pidfd_sys::flags::{P_PIDFD, PidfdFlags, WaitIdOptions};
use pidfd_sys::{siginfo_t, syscalls};

fn pidfd_open(pid: u32, flags: PidfdFlags) -> OwnedFd {
    // SAFETY: pidfd_open creates a new fd that we own from here on.
    let fd = unsafe { syscalls::pidfd_open(pid as i32, flags) }.expect("pidfd_open");
    // SAFETY: a fresh fd nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn waitid(pidfd: &OwnedFd, options: WaitIdOptions) -> [u8; 128] {
    let mut info = siginfo_t::zeroed();
    pidfd_sys::Errno::retry_on_intr(|| {
        // SAFETY: `pidfd` is borrowed for the call; `info` is writable.
        unsafe { syscalls::waitid(P_PIDFD, pidfd.as_raw_fd() as u32, &mut info, options, None) }
    })
    .expect("waitid");
    info.to_bytes()
}

fn sh(script: &str) -> Child {
    Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh")
}

/// Real `waitid` reports, by name.
fn real_siginfos() -> BTreeMap<String, [u8; 128]> {
    let mut out = BTreeMap::new();
    let ex = WaitIdOptions::EXITED;
    for code in [0, 1, 42, 255] {
        let child = sh(&format!("exit {code}"));
        let pidfd = pidfd_open(child.id(), PidfdFlags::empty());
        out.insert(format!("exited-{code}"), waitid(&pidfd, ex));
    }
    for (name, signal) in [
        ("kill", libc::SIGKILL),
        ("term", libc::SIGTERM),
        ("usr1", libc::SIGUSR1),
    ] {
        let child = sh("read _");
        let pidfd = pidfd_open(child.id(), PidfdFlags::empty());
        // SAFETY: borrowed pidfd; a plain signal.
        unsafe { syscalls::pidfd_send_signal(pidfd.as_raw_fd(), signal, None, Default::default()) }
            .expect("signal");
        out.insert(format!("killed-{name}"), waitid(&pidfd, ex));
    }
    // Core dump requested in a scratch directory: CLD_DUMPED or CLD_KILLED, as the system's
    // core_pattern decides.
    let dir = std::env::temp_dir().join(format!("pidfd-gen-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("sh")
        .args(["-c", "ulimit -c unlimited; kill -SEGV $$"])
        .current_dir(&dir)
        .spawn()
        .unwrap();
    let pidfd = pidfd_open(child.id(), PidfdFlags::empty());
    out.insert("segv".to_owned(), waitid(&pidfd, ex));
    let _ = std::fs::remove_dir_all(&dir);
    // Stopped, continued, then exited; and a WNOHANG wait that finds nothing.
    let mut child = sh("kill -STOP $$; read _; exit 3");
    let pidfd = pidfd_open(child.id(), PidfdFlags::empty());
    out.insert("stopped".to_owned(), waitid(&pidfd, WaitIdOptions::STOPPED));
    // SAFETY: borrowed pidfd; a plain signal.
    unsafe {
        syscalls::pidfd_send_signal(pidfd.as_raw_fd(), libc::SIGCONT, None, Default::default())
    }
    .expect("SIGCONT");
    out.insert(
        "continued".to_owned(),
        waitid(&pidfd, WaitIdOptions::CONTINUED),
    );
    out.insert(
        "nohang-nothing".to_owned(),
        waitid(&pidfd, ex | WaitIdOptions::NOHANG),
    );
    drop(child.stdin.take());
    out.insert("exited-after-stop".to_owned(), waitid(&pidfd, ex));
    out
}

/// The native report's fields written at `abi`'s offsets, in `abi`'s byte order, with the
/// native signal numbers translated to `abi`'s.
fn reencode(bytes: &[u8; 128], abi: &Abi, big_endian: bool) -> [u8; 128] {
    let info = siginfo_t::from_bytes(bytes);
    let n = NATIVE.signals;
    let a = abi.signals;
    let signal = |sig: i32| {
        [
            (n.sighup, a.sighup),
            (n.sigint, a.sigint),
            (n.sigquit, a.sigquit),
            (n.sigabrt, a.sigabrt),
            (n.sigbus, a.sigbus),
            (n.sigkill, a.sigkill),
            (n.sigusr1, a.sigusr1),
            (n.sigsegv, a.sigsegv),
            (n.sigusr2, a.sigusr2),
            (n.sigpipe, a.sigpipe),
            (n.sigalrm, a.sigalrm),
            (n.sigterm, a.sigterm),
            (n.sigchld, a.sigchld),
            (n.sigcont, a.sigcont),
            (n.sigstop, a.sigstop),
            (n.sigtstp, a.sigtstp),
            (n.sigsys, a.sigsys),
        ]
        .iter()
        .find(|(native, _)| *native == sig)
        .map_or(sig, |&(_, theirs)| theirs)
    };
    let status = if info.code() == pidfd_sys::cld::EXITED {
        info.status()
    } else {
        signal(info.status())
    };
    let l = abi.siginfo;
    let mut out = [0_u8; 128];
    let mut put = |offset: usize, value: u32| {
        let field = if big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        out[offset..offset + 4].copy_from_slice(&field);
    };
    put(l.signo, signal(info.signo()) as u32);
    put(l.errno, info.errno() as u32);
    put(l.code, info.code() as u32);
    put(l.pid, info.pid() as u32);
    put(l.uid, info.uid());
    put(l.status, status as u32);
    out
}

fn fdinfo(fd: &impl AsRawFd) -> Vec<u8> {
    std::fs::read(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).expect("fdinfo")
}

fn real_fdinfos() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let own = pidfd_open(std::process::id(), PidfdFlags::empty());
    out.insert("pidfd-self".to_owned(), fdinfo(&own));
    let nonblock = pidfd_open(std::process::id(), PidfdFlags::NONBLOCK);
    out.insert("pidfd-nonblock".to_owned(), fdinfo(&nonblock));
    // A thread pidfd of another thread of ours (Linux 6.9+).
    let (tx, rx) = std::sync::mpsc::channel();
    let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tx.send(unsafe { libc::syscall(libc::SYS_gettid) } as u32)
            .unwrap();
        let _ = end_rx.recv();
    });
    let tid = rx.recv().unwrap();
    // SAFETY: as in pidfd_open; may fail on old kernels.
    if let Ok(fd) = unsafe { syscalls::pidfd_open(tid as i32, PidfdFlags::THREAD) } {
        // SAFETY: a fresh fd nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        out.insert("pidfd-thread".to_owned(), fdinfo(&fd));
    }
    end_tx.send(()).unwrap();
    thread.join().unwrap();
    // A child, alive then reaped.
    let child = sh("read _");
    let pidfd = pidfd_open(child.id(), PidfdFlags::empty());
    out.insert("pidfd-child".to_owned(), fdinfo(&pidfd));
    drop(child);
    waitid(&pidfd, WaitIdOptions::EXITED);
    out.insert("pidfd-reaped".to_owned(), fdinfo(&pidfd));
    // A child in a nested PID namespace (NSpid with two numbers).
    if let Ok(mut unshare) = Command::new("unshare")
        .args(["-Urpf", "sh", "-c", "echo ready; read _"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        let mut line = String::new();
        let _ = std::io::BufReader::new(unshare.stdout.take().unwrap()).read_line(&mut line);
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id()))
                .unwrap_or_default();
        if let Some(inner) = children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
        {
            let pidfd = pidfd_open(inner, PidfdFlags::empty());
            out.insert("pidfd-nested-namespace".to_owned(), fdinfo(&pidfd));
        }
        drop(unshare.stdin.take());
        let _ = unshare.wait();
    }
    // A process outside the reader's PID namespace: our own pidfd, inherited (without
    // close-on-exec) by a `cat` inside a new user+PID namespace with its own /proc.
    // SAFETY: F_DUPFD makes a new fd that we own.
    let raw = unsafe { libc::fcntl(own.as_raw_fd(), libc::F_DUPFD, 10) };
    // SAFETY: fresh fd.
    let inherited = unsafe { OwnedFd::from_raw_fd(raw) };
    if let Ok(output) = Command::new("unshare")
        .args(["-Urpf", "--mount-proc", "cat"])
        .arg(format!("/proc/self/fdinfo/{raw}"))
        .output()
        && output.status.success()
    {
        out.insert("pidfd-outside-namespace".to_owned(), output.stdout);
    }
    drop(inherited);
    // Not pidfds.
    let null = std::fs::File::open("/dev/null").unwrap();
    out.insert("not-pidfd-devnull".to_owned(), fdinfo(&null));
    let (reader, _writer) = std::io::pipe().unwrap();
    out.insert("not-pidfd-pipe".to_owned(), fdinfo(&reader));
    // SAFETY: eventfd creates a new fd that we own.
    let event = unsafe { OwnedFd::from_raw_fd(libc::eventfd(0, libc::EFD_CLOEXEC)) };
    out.insert("not-pidfd-eventfd".to_owned(), fdinfo(&event));
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("write a seed");
}

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn main() {
    let dir = corpus("siginfo_decode");
    let reports = real_siginfos();
    let mut seen = std::collections::BTreeSet::new();
    for (name, bytes) in &reports {
        seen.insert(*bytes);
        write(&dir, &format!("{}-{name}", NATIVE.name), bytes);
    }
    // Each ABI, byte order: three reports, where they differ from all seeds so far.
    for abi in ALL {
        let orders: &[bool] = match abi.big_endian {
            Some(true) => &[true],
            Some(false) => &[false],
            None => &[false, true],
        };
        for &big in orders {
            for name in ["exited-42", "killed-term", "stopped"] {
                let bytes = reencode(&reports[name], abi, big);
                if seen.insert(bytes) {
                    let order = if big { "be" } else { "le" };
                    write(&dir, &format!("{}-{order}-{name}", abi.name), &bytes);
                }
            }
        }
    }
    let dir = corpus("fdinfo_parse");
    for (name, text) in real_fdinfos() {
        write(&dir, &format!("{name}.txt"), &text);
    }
    let dir = corpus("tools_duration");
    for word in [
        "3",
        "0",
        "1.5s",
        "500ms",
        "0.5ms",
        "2m",
        "1.5h",
        "1d",
        ".25",
        "2.",
        "007",
        "0.123456789123s",
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "1e3",
        "1..",
        "1sec",
        "999999999999999999999d",
    ] {
        write(&dir, &word.replace('.', "dot"), word.as_bytes());
    }
    let dir = corpus("tools_signal");
    for word in [
        "TERM",
        "SIGTERM",
        "term",
        "SigInt",
        "KILL",
        "9",
        "09",
        "64",
        "65",
        "0",
        "-9",
        "SIG",
        "SIGSIGTERM",
        "usr1",
        "99999999999",
    ] {
        write(&dir, word, word.as_bytes());
    }
    let dir = corpus("tools_cli");
    for (name, args) in [
        ("short-attached", &["-n3", "x"][..]),
        ("long-equals", &["--timeout=1s", "--", "-x", "y"]),
        ("long-separate", &["--timeout", "1s", "cmd", "-a"]),
        ("dash-operand", &["-", "--"]),
        ("value-missing", &["--signal"]),
        ("negative", &["-5", "--kill-after=", "--help=x"]),
        // The first find of the tools_cli target: `--=1s` parses as the option `--`.
        ("long-empty-name", &["--=1s", "\r", "-\u{5}"]),
    ] {
        // First byte: the value/rest choices (alternating).
        let mut bytes = vec![0b0101_0101_u8];
        bytes.extend(args.join("\0").into_bytes());
        write(&dir, name, &bytes);
    }
    let mut total = 0;
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")).unwrap() {
        let entry = entry.unwrap();
        let count = std::fs::read_dir(entry.path()).unwrap().count();
        total += count;
        println!("{:20} {count} seeds", entry.file_name().to_string_lossy());
    }
    println!("{total} seeds in all");
}
