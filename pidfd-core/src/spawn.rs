//! [`Spawn`]: start a program and get a [`Process`] whose pidfd came from the clone itself.
//!
//! # Safety
//!
//! The child side runs between `clone` and `execve` and may only do async-signal-safe work:
//! no allocation, no locks, no panics. Everything it needs (argv, envp, the candidate paths
//! of a PATH search, the fds to install) is prepared before the clone, and it walks that
//! data with raw pointers only. In the `CLONE_VM | CLONE_VFORK` strategy the child shares the
//! parent's memory (the parent is suspended until the child execs or exits) and runs on its
//! own stack; it writes nothing but the exec error slot. No parent signal handler ever runs
//! on the child's side: with `CLONE_CLEAR_SIGHAND` the kernel resets them all at the clone;
//! otherwise all signals are blocked around the clone and the child resets each caught one
//! (one `sigaction` per signal) before restoring the parent's mask.

#![allow(unsafe_code, reason = "clone/exec child side; each block says why")]

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use pidfd_sys::Errno;
use pidfd_sys::flags::CloneFlags;

use crate::{PidFd, Process, probe};

/// A builder for a new process, like std's `Command`, returning a [`Process`].
///
/// The pidfd comes from `clone(CLONE_PIDFD)` itself — never from `pidfd_open(pid)` after the
/// fact — so it refers to the child even if something else reaps children. The fast path is
/// `CLONE_VM | CLONE_VFORK | CLONE_PIDFD` on a separate stack (the `posix_spawn` technique:
/// the cost does not grow with the parent's memory): through `clone3` with
/// `CLONE_CLEAR_SIGHAND` on x86_64 (Linux 5.5+), else through libc's `clone()` (Linux 5.2+).
/// Where that is refused (`ENOSYS`, `EPERM`, `EINVAL`: old kernels, qemu-user, seccomp), a
/// fork-style `clone3`/`clone` with `CLONE_PIDFD` is used, and where pidfds are unavailable
/// altogether the child is returned as a pid-mode [`Process`]. [`Spawn::strategy`] says
/// which.
///
/// # Which refusals are remembered, and for whom
///
/// seccomp filters are per thread (inherited by the threads a thread creates later), so a
/// refusal seen in one thread says little about the others. Each thread remembers the
/// refusals it saw itself and starts its next spawn past them. Only `ENOSYS` (a missing
/// syscall: an old kernel, an emulator, a container profile) moves the process-wide
/// starting point, and only among the strategies that return a pidfd: no refusal seen in
/// one thread ever moves another thread to pid mode. A thread reaches pid mode only after
/// its own spawn found every pidfd flavour refused, or when [`crate::probe`] says pidfds
/// are unusable (`PIDFD_DISABLE=1` included). Cost: a new thread may retry a refused
/// flavour once (one failing syscall).
///
/// The builder can spawn many times; each `stdin`/`stdout`/`stderr` fd is duplicated into
/// every child.
///
/// Signals in the child: every handler the parent caught is reset to the default, ignored
/// signals stay ignored (POSIX exec semantics) — except `SIGPIPE`, which is always reset to
/// the default like `std::process::Command` does, since the Rust runtime ignores it in the
/// parent and programs such as `yes | head` rely on dying of it. [`Spawn::default_signals`]
/// resets more; [`Spawn::signal_mask`] sets the mask (default: the parent's).
///
/// # Example
///
/// ```
/// use pidfd_core::Spawn;
///
/// # fn main() -> std::io::Result<()> {
/// let process = Spawn::new("sh").args(["-c", "exit 5"]).spawn()?;
/// assert_eq!(process.wait()?.code(), Some(5));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Spawn {
    program: OsString,
    args: Vec<OsString>,
    env_clear: bool,
    env: Vec<(OsString, Option<OsString>)>,
    cwd: Option<OsString>,
    stdio: [Option<OwnedFd>; 3],
    attributes: Attributes,
    file_actions: Vec<FileAction>,
    cgroup: Option<OwnedFd>,
}

/// posix_spawn-style file actions, applied in order in the child after stdio is set up.
#[derive(Debug, Clone)]
enum FileAction {
    Dup2 {
        from: RawFd,
        to: RawFd,
    },
    Close(RawFd),
    Open {
        fd: RawFd,
        path: OsString,
        flags: i32,
        mode: u32,
    },
}

/// A file action as C data for the child.
enum ChildFileAction {
    Dup2 {
        from: RawFd,
        to: RawFd,
    },
    Close(RawFd),
    Open {
        fd: RawFd,
        path: CString,
        flags: libc::c_int,
        mode: libc::mode_t,
    },
}

/// posix_spawn-style attributes, applied in the child before exec.
#[derive(Debug, Clone, Default)]
struct Attributes {
    setsid: bool,
    process_group: Option<libc::pid_t>,
    signal_mask: Option<Vec<i32>>,
    default_signals: Vec<i32>,
}

impl Spawn {
    /// A builder for `program`, searched in `PATH` (like `execvp`) when it has no `/`.
    pub fn new(program: impl AsRef<OsStr>) -> Spawn {
        Spawn {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env_clear: false,
            env: Vec::new(),
            cwd: None,
            stdio: [None, None, None],
            attributes: Attributes::default(),
            file_actions: Vec::new(),
            cgroup: None,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Spawn {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Spawn
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Spawn {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Spawn
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (key, value) in vars {
            self.env(key, value);
        }
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Spawn {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds afterwards).
    pub fn env_clear(&mut self) -> &mut Spawn {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<OsStr>) -> &mut Spawn {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// The child's standard input (default: inherited).
    pub fn stdin(&mut self, fd: impl Into<OwnedFd>) -> &mut Spawn {
        self.stdio[0] = Some(fd.into());
        self
    }

    /// The child's standard output (default: inherited).
    pub fn stdout(&mut self, fd: impl Into<OwnedFd>) -> &mut Spawn {
        self.stdio[1] = Some(fd.into());
        self
    }

    /// The child's standard error (default: inherited).
    pub fn stderr(&mut self, fd: impl Into<OwnedFd>) -> &mut Spawn {
        self.stdio[2] = Some(fd.into());
        self
    }

    /// In the child, duplicate fd `from` onto `to` (`posix_spawn_file_actions_adddup2`);
    /// `from == to` clears close-on-exec. Applied after stdio, in the order added; `from`
    /// names an fd of the child's table at that point (so `fd_dup2(1, 2)` joins stderr to
    /// the stdout just installed).
    ///
    /// A number that can never be an fd (negative, or at or above `RLIMIT_NOFILE`) makes
    /// [`Spawn::spawn`] fail with `EBADF` before any child is created.
    pub fn fd_dup2(&mut self, from: RawFd, to: RawFd) -> &mut Spawn {
        self.file_actions.push(FileAction::Dup2 { from, to });
        self
    }

    /// In the child, close `fd` (`posix_spawn_file_actions_addclose`). As in glibc 2.36+,
    /// an `fd` that is not open in the child is no error; a number that can never be an fd
    /// (negative, or at or above `RLIMIT_NOFILE`) makes [`Spawn::spawn`] fail with `EBADF`
    /// before any child is created.
    pub fn fd_close(&mut self, fd: RawFd) -> &mut Spawn {
        self.file_actions.push(FileAction::Close(fd));
        self
    }

    /// In the child, open `path` with `flags` and `mode` (`open(2)`) as fd `fd`
    /// (`posix_spawn_file_actions_addopen`). As POSIX asks (and glibc does), an open `fd`
    /// is closed before the file is opened — which matters at the fd limit and for devices
    /// that allow one open at a time. `fd` out of range: `EBADF`, as for
    /// [`Spawn::fd_close`].
    pub fn fd_open(
        &mut self,
        fd: RawFd,
        path: impl AsRef<OsStr>,
        flags: i32,
        mode: u32,
    ) -> &mut Spawn {
        self.file_actions.push(FileAction::Open {
            fd,
            path: path.as_ref().to_owned(),
            flags,
            mode,
        });
        self
    }

    /// Starts the child in a new session (`setsid(2)`, like `POSIX_SPAWN_SETSID`): it leads
    /// a new session and process group and has no controlling terminal.
    pub fn new_session(&mut self, yes: bool) -> &mut Spawn {
        self.attributes.setsid = yes;
        self
    }

    /// Puts the child in process group `pgid` (`setpgid(0, pgid)`, like std's
    /// `CommandExt::process_group`); 0 makes it the leader of a new group with its own PID.
    pub fn process_group(&mut self, pgid: i32) -> &mut Spawn {
        self.attributes.process_group = Some(pgid);
        self
    }

    /// The child's signal mask: exactly these signals blocked (default: the parent's mask).
    pub fn signal_mask(&mut self, blocked: &[i32]) -> &mut Spawn {
        self.attributes.signal_mask = Some(blocked.to_vec());
        self
    }

    /// Signals whose disposition is reset to the default in the child — in particular ones
    /// the parent ignores, which would otherwise stay ignored across exec (like
    /// `POSIX_SPAWN_SETSIGDEF`). Caught signals are always reset, and so is `SIGPIPE` (see
    /// [`Spawn`]).
    pub fn default_signals(&mut self, signals: &[i32]) -> &mut Spawn {
        self.attributes.default_signals = signals.to_vec();
        self
    }

    /// The spawn strategy the calling thread's next spawn starts with (chosen on the first
    /// spawn, then kept, moving down the list only when the kernel or a filter refuses one;
    /// see [`Spawn`] for which refusals apply to which threads), or `None` before any spawn
    /// in this process.
    pub fn strategy() -> Option<&'static str> {
        match probe::cached() {
            Some(features) if !features.pidfd_mode() => Some(Strategy::VforkPid),
            _ => Strategy::current(),
        }
        .map(Strategy::describe)
    }

    /// Starts the child directly in a cgroup v2 (`CLONE_INTO_CGROUP`, Linux 5.7+): `cgroup`
    /// is an fd of the cgroup's directory (opened `O_RDONLY | O_DIRECTORY` or `O_PATH`). The
    /// child is never visible in the parent's cgroup, so a limit applies from its first
    /// instruction — unlike writing its pid to `cgroup.procs` afterwards.
    ///
    /// This needs `clone3`: on x86_64 the child is still created vfork-style; elsewhere a
    /// fork-style `clone3` is used (cost grows with the parent's memory).
    ///
    /// # Errors (from [`Spawn::spawn`])
    ///
    /// `Unsupported` where clone3 or `CLONE_INTO_CGROUP` is refused (before Linux 5.7 —
    /// including 5.3–5.6, whose clone3 says `E2BIG` to the larger `clone_args` —, qemu-user,
    /// seccomp); the kernel's errno otherwise: `EBADF` when the fd is not a
    /// cgroup v2 directory, `EBUSY` for a cgroup with controllers enabled in its
    /// `cgroup.subtree_control` (not a leaf), `EACCES` without write access to its
    /// `cgroup.procs`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use std::fs::File;
    /// use pidfd_core::Spawn;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let cgroup = File::open("/sys/fs/cgroup/jobs/job-1")?;
    /// let process = Spawn::new("make").cgroup(cgroup).spawn()?;
    /// process.wait()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn cgroup(&mut self, cgroup: impl Into<OwnedFd>) -> &mut Spawn {
        self.cgroup = Some(cgroup.into());
        self
    }

    /// Starts the program.
    ///
    /// # Errors
    ///
    /// The child's `execve` errno when the program cannot be run (`NotFound`/`ENOENT`,
    /// `PermissionDenied`/`EACCES` also for directories, `ENOEXEC`, ...) — the failed child
    /// is reaped and nothing leaks; `InvalidInput` for a NUL byte in an argument, variable
    /// or path; `EMFILE`, `EAGAIN`, `ENOMEM` from the clone.
    pub fn spawn(&self) -> io::Result<Process> {
        let prepared = Prepared::new(self)?;
        if let Some(cgroup) = &self.cgroup {
            return spawn_into_cgroup(&prepared, cgroup.as_raw_fd());
        }
        let mut strategy = Strategy::chosen()?;
        loop {
            match launch(&prepared, strategy, None) {
                Err(Launch::Refused(errno)) => match strategy.next() {
                    Some(next) => {
                        strategy.remember_refused(errno);
                        strategy = next.first_usable();
                    }
                    None => return Err(io::Error::from(Errno::NOSYS)),
                },
                Err(Launch::Failed(error)) => return Err(error),
                Ok(process) => return Ok(process),
            }
        }
    }
}

/// Everything the child needs, as C data prepared before the clone.
struct Prepared {
    /// Paths to try in order (one, or the PATH search candidates).
    _candidates: Vec<CString>,
    candidate_ptrs: Vec<*const libc::c_char>,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    /// The child's environment; `None`: the parent's `environ`, read at clone time (no
    /// copy, as `posix_spawn` callers pass it).
    envp: Option<(Vec<CString>, Vec<*const libc::c_char>)>,
    cwd: Option<CString>,
    /// The fds to install on 0, 1, 2 (-1: inherit). None of them is <= 2 unless it is its
    /// own target: a source on a lower slot would be replaced by an earlier slot's dup2
    /// (fd 0 holding the stdout file, stdin `/dev/null`) — those are moved above 2 first.
    stdio: [RawFd; 3],
    /// The parent-side copies made for `stdio` (closed when the spawn is over).
    _stdio_moved: Vec<SpawnFd>,
    /// The exec-error pipe's write end is moved to this number or above: past every fd a
    /// file action names, so no action can replace or close it (as musl does).
    pipe_floor: RawFd,
    setsid: bool,
    process_group: Option<libc::pid_t>,
    /// The child's signal mask, if set (else the parent's).
    signal_mask: Option<libc::sigset_t>,
    /// Signals set to SIG_DFL in the child.
    default_signals: libc::sigset_t,
    file_actions: Vec<ChildFileAction>,
}

/// The raw stdio sources for the child, with every source <= 2 that is not its own target
/// replaced by a close-on-exec copy above 2 (std does the same): the child installs slot 0
/// first, which would otherwise replace a later slot's source 0 (the parent had fd 0 closed
/// and the stdout file landed there). Returns the copies to keep open during the spawn.
fn stdio_sources(stdio: &[Option<OwnedFd>; 3]) -> io::Result<([RawFd; 3], Vec<SpawnFd>)> {
    let mut sources = [-1; 3];
    let mut moved = Vec::new();
    for ((target, slot), source) in (0..).zip(stdio).zip(&mut sources) {
        let Some(fd) = slot else { continue };
        let fd = fd.as_raw_fd();
        *source = if fd <= 2 && fd != target {
            let copy = dup_above(fd, 3)?;
            let raw = copy.raw();
            moved.push(copy);
            raw
        } else {
            fd
        };
    }
    Ok((sources, moved))
}

/// An fd the spawn machinery creates and closes itself, through the raw syscalls: glibc's
/// `close` and `read` are cancellation points, and a `pthread_cancel` acted upon inside
/// Rust code aborts the process (`spawn` is no cancellation point).
struct SpawnFd(RawFd);

impl SpawnFd {
    fn raw(&self) -> RawFd {
        self.0
    }
}

impl Drop for SpawnFd {
    fn drop(&mut self) {
        // SAFETY: we own the fd and nothing uses it after this.
        let _ = unsafe { pidfd_sys::syscalls::close(self.0) };
    }
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, floor)`: a close-on-exec copy of `fd` numbered `floor` or
/// above.
fn dup_above(fd: RawFd, floor: RawFd) -> io::Result<SpawnFd> {
    // SAFETY: F_DUPFD_CLOEXEC creates a new fd (owned below) from one we hold.
    let copy = unsafe { pidfd_sys::syscalls::fcntl_int(fd, libc::F_DUPFD_CLOEXEC, floor) }?;
    Ok(SpawnFd(copy))
}

/// The soft `RLIMIT_NOFILE`: fd numbers at or above it can never be open.
fn fd_limit() -> RawFd {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        return RawFd::MAX;
    }
    RawFd::try_from(limit.rlim_cur).unwrap_or(RawFd::MAX)
}

/// Like glibc's `posix_spawn_file_actions_add*`: an fd number that can never be valid
/// (negative, or at or above `RLIMIT_NOFILE`) is `EBADF` before any child is created.
fn check_file_action_fds(actions: &[FileAction]) -> io::Result<()> {
    if actions.is_empty() {
        return Ok(());
    }
    let limit = fd_limit();
    if actions
        .iter()
        .flat_map(FileAction::fds)
        .any(|fd| fd < 0 || fd >= limit)
    {
        return Err(io::Error::from(Errno::BADF));
    }
    Ok(())
}

impl FileAction {
    /// Every fd number the action names (source and target).
    fn fds(&self) -> impl Iterator<Item = RawFd> {
        let (a, b) = match *self {
            FileAction::Dup2 { from, to } => (from, Some(to)),
            FileAction::Close(fd) | FileAction::Open { fd, .. } => (fd, None),
        };
        std::iter::once(a).chain(b)
    }
}

/// A `sigset_t` holding `signals`; `InvalidInput` for a number outside `1..=NSIG`.
fn signal_set(signals: &[i32]) -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigemptyset(&raw mut set) };
    for &signal in signals {
        let valid = (1..=pidfd_sys::signal::NSIG).contains(&signal);
        // SAFETY: `set` is a valid sigset_t; sigaddset checks the number too.
        if !valid || unsafe { libc::sigaddset(&raw mut set, signal) } != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid signal {signal}"),
            ));
        }
    }
    Ok(set)
}

fn c_string(bytes: impl Into<Vec<u8>>) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in spawn argument"))
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect()
}

impl Prepared {
    fn new(spawn: &Spawn) -> io::Result<Prepared> {
        let inherit_env = !spawn.env_clear && spawn.env.is_empty();
        let env: Vec<(OsString, OsString)> = if inherit_env {
            Vec::new()
        } else {
            let mut env: Vec<(OsString, OsString)> = if spawn.env_clear {
                Vec::new()
            } else {
                std::env::vars_os().collect()
            };
            for (key, value) in &spawn.env {
                env.retain(|(existing, _)| existing != key);
                if let Some(value) = value {
                    env.push((key.clone(), value.clone()));
                }
            }
            env
        };
        let envp = if inherit_env {
            None
        } else {
            let strings: Vec<CString> = env
                .iter()
                .map(|(key, value)| {
                    let mut entry = key.as_bytes().to_vec();
                    entry.push(b'=');
                    entry.extend_from_slice(value.as_bytes());
                    c_string(entry)
                })
                .collect::<io::Result<_>>()?;
            let pointers = null_terminated(&strings);
            Some((strings, pointers))
        };
        let program = spawn.program.as_bytes();
        let candidates: Vec<CString> = if program.contains(&b'/') {
            vec![c_string(program)?]
        } else if program.is_empty() {
            return Err(io::Error::from(Errno::NOENT));
        } else {
            // The child's PATH decides, as for execvp(3) after the environment is set.
            let path = if inherit_env {
                std::env::var_os("PATH")
            } else {
                env.iter()
                    .find(|(key, _)| key == "PATH")
                    .map(|(_, value)| value.clone())
            }
            .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
            path.as_bytes()
                .split(|&b| b == b':')
                .map(|dir| {
                    let dir = if dir.is_empty() { &b"."[..] } else { dir };
                    let mut full = dir.to_vec();
                    full.push(b'/');
                    full.extend_from_slice(program);
                    c_string(full)
                })
                .collect::<io::Result<_>>()?
        };
        let argv: Vec<CString> = std::iter::once(c_string(program)?)
            .map(Ok)
            .chain(
                spawn
                    .args
                    .iter()
                    .map(|arg| c_string(arg.clone().into_vec())),
            )
            .collect::<io::Result<_>>()?;
        let cwd = spawn
            .cwd
            .as_ref()
            .map(|dir| c_string(dir.as_bytes()))
            .transpose()?;
        let (stdio, stdio_moved) = stdio_sources(&spawn.stdio)?;
        check_file_action_fds(&spawn.file_actions)?;
        let pipe_floor = spawn
            .file_actions
            .iter()
            .flat_map(FileAction::fds)
            .fold(2, RawFd::max)
            .saturating_add(1);
        Ok(Prepared {
            candidate_ptrs: null_terminated(&candidates),
            _candidates: candidates,
            argv_ptrs: null_terminated(&argv),
            _argv: argv,
            envp,
            cwd,
            stdio,
            _stdio_moved: stdio_moved,
            pipe_floor,
            setsid: spawn.attributes.setsid,
            process_group: spawn.attributes.process_group,
            signal_mask: spawn
                .attributes
                .signal_mask
                .as_deref()
                .map(signal_set)
                .transpose()?,
            default_signals: signal_set(
                &[pidfd_sys::signal::SIGPIPE]
                    .into_iter()
                    .chain(spawn.attributes.default_signals.iter().copied())
                    .collect::<Vec<_>>(),
            )?,
            file_actions: spawn
                .file_actions
                .iter()
                .map(|action| {
                    Ok(match action {
                        FileAction::Dup2 { from, to } => ChildFileAction::Dup2 {
                            from: *from,
                            to: *to,
                        },
                        FileAction::Close(fd) => ChildFileAction::Close(*fd),
                        FileAction::Open {
                            fd,
                            path,
                            flags,
                            mode,
                        } => ChildFileAction::Open {
                            fd: *fd,
                            path: c_string(path.as_bytes())?,
                            flags: *flags,
                            mode: *mode,
                        },
                    })
                })
                .collect::<io::Result<_>>()?,
        })
    }
}

/// How the child is created, from fastest to most compatible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Strategy {
    /// `clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_CLEAR_SIGHAND)` on a separate
    /// stack (x86_64: `pidfd_sys::syscalls::clone3_on_stack`).
    Clone3Vfork = 1,
    /// libc `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` on a separate stack.
    VforkPidfd = 2,
    /// Fork-style `clone3(CLONE_PIDFD)`.
    Clone3Pidfd = 3,
    /// Fork-style `clone(CLONE_PIDFD)`.
    ClonePidfd = 4,
    /// `clone(CLONE_VM | CLONE_VFORK)` without a pidfd: the child is a pid-mode Process.
    VforkPid = 5,
}

/// The process-wide first strategy, from the probe (0: not chosen yet).
static CHOSEN: AtomicU8 = AtomicU8::new(0);
/// Strategies refused with `ENOSYS` (a missing syscall), one bit each (`1 << strategy`):
/// skipped by every thread. Pid mode is never in it (see [`Spawn`]).
static MISSING: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// Strategies refused in this thread (any refusal), one bit each: skipped by it only.
    static THREAD_REFUSED: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

impl Strategy {
    fn from_u8(value: u8) -> Option<Strategy> {
        Some(match value {
            1 => Strategy::Clone3Vfork,
            2 => Strategy::VforkPidfd,
            3 => Strategy::Clone3Pidfd,
            4 => Strategy::ClonePidfd,
            5 => Strategy::VforkPid,
            _ => return None,
        })
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The first of `self` and the strategies after it that neither this thread nor (by
    /// `ENOSYS`) the process has seen refused; the last one (pid mode) is always tried.
    fn first_usable(self) -> Strategy {
        let thread = THREAD_REFUSED.try_with(std::cell::Cell::get).unwrap_or(0);
        let refused = MISSING.load(Ordering::Acquire) | thread;
        let mut strategy = self;
        while refused & strategy.bit() != 0 {
            match strategy.next() {
                Some(next) => strategy = next,
                None => break,
            }
        }
        strategy
    }

    /// Where this thread starts, if a strategy was chosen in this process.
    fn current() -> Option<Strategy> {
        Strategy::from_u8(CHOSEN.load(Ordering::Acquire)).map(Strategy::first_usable)
    }

    fn chosen() -> io::Result<Strategy> {
        // The probe's answer may be this thread's alone (see `probe`): consult it first.
        let features = probe::features()?;
        if !features.pidfd_mode() {
            if features.disabled_by_env {
                CHOSEN.store(Strategy::VforkPid as u8, Ordering::Release);
            }
            return Ok(Strategy::VforkPid);
        }
        if let Some(strategy) = Strategy::current() {
            return Ok(strategy);
        }
        let strategy = if pidfd_sys::syscalls::CLONE3_ON_STACK {
            Strategy::Clone3Vfork
        } else {
            Strategy::VforkPidfd
        };
        // Two threads may choose at once; they choose the same.
        CHOSEN.store(strategy as u8, Ordering::Release);
        Ok(strategy.first_usable())
    }

    fn next(self) -> Option<Strategy> {
        match self {
            Strategy::Clone3Vfork => Some(Strategy::VforkPidfd),
            Strategy::VforkPidfd => Some(Strategy::Clone3Pidfd),
            Strategy::Clone3Pidfd => Some(Strategy::ClonePidfd),
            Strategy::ClonePidfd => Some(Strategy::VforkPid),
            Strategy::VforkPid => None,
        }
    }

    /// This strategy was refused with `errno`: this thread skips it from now on; every
    /// thread does when the syscall is missing (`ENOSYS`). Pid mode is never skipped (it is
    /// the last resort, and a filter on one thread must not take pidfds from the others:
    /// only strategies are recorded, never a move to pid mode).
    fn remember_refused(self, errno: Errno) {
        if self == Strategy::VforkPid {
            return;
        }
        let _ = THREAD_REFUSED.try_with(|cell| cell.set(cell.get() | self.bit()));
        if errno == Errno::NOSYS {
            MISSING.fetch_or(self.bit(), Ordering::AcqRel);
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Strategy::Clone3Vfork => {
                "clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_CLEAR_SIGHAND) on a separate stack"
            }
            Strategy::VforkPidfd => "clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) on a separate stack",
            Strategy::Clone3Pidfd => "fork-style clone3(CLONE_PIDFD)",
            Strategy::ClonePidfd => "fork-style clone(CLONE_PIDFD)",
            Strategy::VforkPid => "clone(CLONE_VM|CLONE_VFORK), pid mode",
        }
    }
}

enum Launch {
    /// The kernel (or a filter) refused this clone flavour with this errno: try the next.
    Refused(Errno),
    /// A real failure (exec error, EMFILE, ...).
    Failed(io::Error),
}

impl From<io::Error> for Launch {
    fn from(error: io::Error) -> Self {
        Launch::Failed(error)
    }
}

impl From<Errno> for Launch {
    fn from(errno: Errno) -> Self {
        Launch::Failed(errno.into())
    }
}

/// Whether a clone's errno means "this flavour is refused here" (old kernel, qemu-user,
/// seccomp) rather than a real failure: the one set `Spawn` and [`crate::fork`] both use.
pub(crate) fn refused(errno: Errno) -> bool {
    matches!(errno, Errno::NOSYS | Errno::PERM | Errno::INVAL)
}

/// Linux 5.3–5.6 have clone3 but not `CLONE_INTO_CGROUP`: they refuse the larger
/// `clone_args` it needs (non-zero bytes past the size they know) with `E2BIG`. From the
/// clone itself (never from exec, whose `E2BIG` is reported as is), that means "no cgroup
/// spawn here" — documented as `Unsupported`.
fn cgroup_unknown(cgroup: Option<RawFd>, errno: Errno) -> bool {
    cgroup.is_some() && errno == Errno::TOOBIG
}

/// Where the child reports its exec errno: the shared slot (vfork) or a CLOEXEC pipe (fork).
struct ChildContext<'a> {
    prepared: &'a Prepared,
    error_slot: *const AtomicI32,
    error_pipe: RawFd,
    /// The parent's signal mask, to restore before exec (null: the child's mask is already
    /// the parent's).
    old_mask: *const libc::sigset_t,
    /// The kernel already reset every handler (`CLONE_CLEAR_SIGHAND`).
    handlers_cleared: bool,
    /// The child's `envp` (NULL-terminated).
    envp: *const *const libc::c_char,
    /// Set: a memory-sharing check only. The child stores 1 here (in the parent's memory,
    /// if it is really shared) and exits at once.
    vm_marker: *const AtomicI32,
}

unsafe extern "C" {
    /// The C library's current environment (what `getenv` reads). `static mut`: `setenv`
    /// and `putenv` reassign it, so an immutable declaration would let the compiler assume
    /// a value that changes (UB by the language rules). Read only through a raw pointer.
    static mut environ: *const *const libc::c_char;
}

impl Prepared {
    /// The `envp` to exec with: the prepared one, or the parent's `environ` right now.
    ///
    /// Reading `environ` races only with a concurrent `setenv`/`putenv`, which
    /// `std::env::set_var`'s safety contract already rules out in multithreaded programs
    /// (posix_spawn callers read it the same way).
    fn envp(&self) -> *const *const libc::c_char {
        match &self.envp {
            Some((_, pointers)) => pointers.as_ptr(),
            None => {
                // The address of libc's `environ` (no reference to the mutable static).
                let slot = &raw const environ;
                // SAFETY: reads its pointer value; races as described above.
                unsafe { slot.read() }
            }
        }
    }
}

/// Blocks every signal until dropped (restoring the previous mask) — truly every one:
/// through the raw `rt_sigprocmask`, so the C library's internal signals (glibc's
/// SIGCANCEL and SIGSETXID, 32 and 33, which `pthread_sigmask` leaves unblocked) are blocked
/// too, as glibc's own `posix_spawn` does; a child sharing our memory starts with them
/// blocked.
struct SignalsBlocked {
    old: libc::sigset_t,
}

impl SignalsBlocked {
    fn new() -> io::Result<SignalsBlocked> {
        let all = pidfd_sys::syscalls::full_sigset();
        // SAFETY: sigset_t is plain data; the kernel fills it.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid sigset_t.
        unsafe {
            pidfd_sys::syscalls::rt_sigprocmask(
                pidfd_sys::signal::SIG_SETMASK,
                &raw const all,
                &raw mut old,
            )
        }?;
        Ok(SignalsBlocked { old })
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new`. It cannot fail (valid how and set).
        let _ = unsafe {
            pidfd_sys::syscalls::rt_sigprocmask(
                pidfd_sys::signal::SIG_SETMASK,
                &raw const self.old,
                ptr::null_mut(),
            )
        };
    }
}

/// The child side. Async-signal-safe only; never returns.
///
/// Raw syscalls only (`pidfd_sys::syscalls`), never the C library's wrappers: in the vfork
/// strategies the child runs on its parent thread's TLS, and `open`/`close`/`write` are
/// cancellation points that read and write that thread's cancellation state (a
/// `pthread_cancel` of the spawning thread would act in the child, or hang it), while
/// `sigaction`/`pthread_sigmask` filter the C library's internal signals.
///
/// # Safety
///
/// `ctx` must point to a live `ChildContext` whose pointers are valid; call only in a fresh
/// child between clone and exec.
unsafe fn child_exec(ctx: *const ChildContext<'_>) -> ! {
    use pidfd_sys::syscalls as sys;
    // SAFETY: the caller guarantees `ctx` is valid for the child's life (until exec/_exit).
    let ctx = unsafe { &*ctx };
    if !ctx.vm_marker.is_null() {
        // SAFETY: the marker lives in the parent's frame (in our copy of it, if the
        // "CLONE_VM" was emulated by a fork).
        unsafe { (*ctx.vm_marker).store(1, Ordering::Release) };
        sys::exit_group(0);
    }
    let prepared = ctx.prepared;
    // The error pipe's write end in this child's fd table (moved when an fd action targets
    // its number).
    let pipe = std::cell::Cell::new(ctx.error_pipe);
    let fail = |errno: Errno| -> ! {
        let errno = errno.raw_os_error();
        if !ctx.error_slot.is_null() {
            // SAFETY: the slot lives in the suspended parent's frame (CLONE_VM).
            unsafe { (*ctx.error_slot).store(errno, Ordering::Release) };
        }
        if pipe.get() >= 0 {
            let bytes = errno.to_ne_bytes();
            // SAFETY: writes 4 bytes from a live buffer to our pipe end.
            let _ = unsafe { sys::write(pipe.get(), bytes.as_ptr(), bytes.len()) };
        }
        sys::exit_group(127)
    };
    // Reset every caught signal (and each one asked for) to its default; ignored signals
    // stay ignored (POSIX exec semantics). Then restore the parent's mask: a handler of the
    // parent must never run on the shared memory. SIGKILL and SIGSTOP cannot be caught.
    // The C library's internal signals (32, 33 on glibc) are reset like any other.
    let mut signal = 1;
    while signal <= pidfd_sys::signal::NSIG {
        let reset = sys::sigset_contains(&prepared.default_signals, signal);
        let uncatchable =
            signal == pidfd_sys::signal::SIGKILL || signal == pidfd_sys::signal::SIGSTOP;
        if reset {
            // SAFETY: installs SIG_DFL; no handler of ours is involved.
            let _ = unsafe { sys::rt_sigaction_handler(signal, Some(SIG_DFL)) };
        } else if !(uncatchable || ctx.handlers_cleared) {
            // SAFETY: only reads the disposition.
            let current = unsafe { sys::rt_sigaction_handler(signal, None) };
            if current.is_ok_and(|handler| handler != SIG_DFL && handler != SIG_IGN) {
                // SAFETY: installs SIG_DFL; no handler of ours is involved.
                let _ = unsafe { sys::rt_sigaction_handler(signal, Some(SIG_DFL)) };
            }
        }
        signal += 1;
    }
    let mask = prepared
        .signal_mask
        .as_ref()
        .map_or(ctx.old_mask, ptr::from_ref);
    if !mask.is_null() {
        // SAFETY: `mask` points to the requested mask or to the parent's saved one.
        let _ =
            unsafe { sys::rt_sigprocmask(pidfd_sys::signal::SIG_SETMASK, mask, ptr::null_mut()) };
    }
    if prepared.setsid {
        if let Err(errno) = sys::setsid() {
            fail(errno);
        }
    }
    if let Some(pgid) = prepared.process_group {
        if let Err(errno) = sys::setpgid(0, pgid) {
            fail(errno);
        }
    }
    // Before fd `target` is replaced or closed: if it is the error pipe, move the pipe to
    // another close-on-exec number first (musl does the same).
    let spare_pipe = |target: RawFd| {
        if target == pipe.get() {
            // SAFETY: duplicates an fd of the child's table; the old number is replaced
            // or closed by the caller right after.
            match unsafe { sys::fcntl_int(target, libc::F_DUPFD_CLOEXEC, 3) } {
                Ok(moved) => pipe.set(moved),
                Err(errno) => fail(errno),
            }
        }
    };
    // `fd` onto `target` as dup2 does (same number: clear close-on-exec instead).
    let dup2 = |fd: RawFd, target: RawFd| -> Result<(), Errno> {
        if fd == target {
            // SAFETY: clears FD_CLOEXEC on an fd of the child's table.
            unsafe { sys::fcntl_int(fd, libc::F_SETFD, 0) }.map(drop)
        } else {
            // SAFETY: duplicates an fd of the child's table onto `target`.
            unsafe { sys::dup3(fd, target, 0) }.map(drop)
        }
    };
    // Install stdio: dup2 onto 0/1/2 (dup2 clears CLOEXEC; same-number fds need it cleared).
    // No source is <= 2 but its own target (moved in `stdio_sources`), so no earlier slot
    // can have replaced a later one's source.
    for (target, &fd) in (0..).zip(prepared.stdio.iter()) {
        if fd >= 0 {
            spare_pipe(target);
            if let Err(errno) = dup2(fd, target) {
                fail(errno);
            }
        }
    }
    // File actions as glibc 2.36+: closing an fd that is not open is no error (only numbers
    // that can never be valid are, refused before the clone); open closes its target first.
    for action in &prepared.file_actions {
        let result = match *action {
            ChildFileAction::Dup2 { from, to } => {
                spare_pipe(to);
                dup2(from, to)
            }
            ChildFileAction::Close(fd) => {
                spare_pipe(fd);
                // SAFETY: closes an fd of the child's table.
                match unsafe { sys::close(fd) } {
                    Err(Errno::BADF) => Ok(()),
                    other => other,
                }
            }
            ChildFileAction::Open {
                fd,
                ref path,
                flags,
                mode,
            } => {
                spare_pipe(fd);
                // POSIX: an open target is closed before the new file is opened (at the fd
                // limit the open needs its slot). Not open: nothing to do.
                // SAFETY: closes an fd of the child's table.
                let _ = unsafe { sys::close(fd) };
                // SAFETY: a NUL-terminated path prepared before the clone.
                match unsafe { sys::openat(libc::AT_FDCWD, path.as_ptr(), flags, mode) } {
                    Ok(opened) if opened != fd => {
                        let moved = dup2(opened, fd);
                        // SAFETY: closes the temporary fd we just opened.
                        let _ = unsafe { sys::close(opened) };
                        moved
                    }
                    other => other.map(drop),
                }
            }
        };
        if let Err(errno) = result {
            fail(errno);
        }
    }
    if let Some(cwd) = &prepared.cwd {
        // SAFETY: a NUL-terminated path prepared before the clone.
        if let Err(errno) = unsafe { sys::chdir(cwd.as_ptr()) } {
            fail(errno);
        }
    }
    // Try each candidate like execvp: ENOENT/ENOTDIR move on, EACCES is remembered.
    let mut saw_eacces = false;
    let mut last = Errno::NOENT;
    let mut candidate = prepared.candidate_ptrs.as_ptr();
    // SAFETY: the candidate list is NULL-terminated.
    while !unsafe { *candidate }.is_null() {
        // SAFETY: `candidate` points into the NULL-terminated list, before its end.
        let path = unsafe { *candidate };
        // SAFETY: path, argv and envp are NUL-terminated / NULL-terminated C data.
        last = unsafe { sys::execve(path, prepared.argv_ptrs.as_ptr(), ctx.envp) };
        if last == Errno::ACCESS {
            saw_eacces = true;
        } else if last != Errno::NOENT && last != Errno::NOTDIR {
            break;
        }
        // SAFETY: stays within the NULL-terminated list.
        candidate = unsafe { candidate.add(1) };
    }
    fail(if saw_eacces && last == Errno::NOENT {
        Errno::ACCESS
    } else {
        last
    })
}

/// `SIG_DFL` and `SIG_IGN` as the kernel's handler values.
const SIG_DFL: usize = 0;
const SIG_IGN: usize = 1;

extern "C" fn vfork_child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the ChildContext the parent passed to clone; the parent is suspended
    // (CLONE_VFORK) so it stays alive.
    unsafe { child_exec(arg.cast_const().cast()) }
}

/// The entry of a `clone3_on_stack` child.
///
/// # Safety
///
/// As for [`child_exec`]: `arg` is a live `ChildContext` (the parent is suspended).
unsafe extern "C" fn clone3_child_main(arg: *mut libc::c_void) -> ! {
    // SAFETY: as documented above.
    unsafe { child_exec(arg.cast_const().cast()) }
}

/// The child's stack for the vfork strategy: an mmap'd region with a `PROT_NONE` guard page
/// below it, so an overflow faults instead of writing into other memory. One is cached per
/// thread (the calling thread is suspended while its child runs on it, so it is never used
/// twice at once) and unmapped when the thread exits; that saves the mmap, munmap and
/// page faults of a fresh stack on every spawn.
struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
    guard: usize,
}

/// Usable bytes of a child stack: `child_exec` and the libc calls it makes need a few KiB.
const CHILD_STACK_LEN: usize = 128 * 1024;

thread_local! {
    static CACHED_STACK: std::cell::Cell<Option<ChildStack>> =
        const { std::cell::Cell::new(None) };
}

impl ChildStack {
    /// This thread's cached stack, or a new one (while the cached one is in use).
    fn take() -> io::Result<ChildStack> {
        match CACHED_STACK.try_with(std::cell::Cell::take) {
            Ok(Some(stack)) => Ok(stack),
            _ => ChildStack::new(),
        }
    }

    /// Returns the stack to this thread's cache (dropping it if the cache is full or gone).
    fn give_back(self) {
        if let Ok(Some(extra)) = CACHED_STACK.try_with(|cell| cell.replace(Some(self))) {
            drop(extra);
        }
    }

    fn new() -> io::Result<ChildStack> {
        let guard = page_size();
        let len = CHILD_STACK_LEN + guard;
        // SAFETY: a fresh private anonymous mapping.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = ChildStack { base, len, guard };
        // SAFETY: the lowest page of our own mapping becomes the guard.
        if unsafe { libc::mprotect(base, guard, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The initial stack pointer (stacks grow down on every Linux ABI Rust targets but
    /// hppa, which Rust does not target).
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping, 16-byte aligned (the mapping is
        // page-aligned and `len` a multiple of the page size).
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }

    /// The lowest usable address (above the guard page) and the usable size, for clone3.
    fn usable(&self) -> (u64, u64) {
        let bottom = self.base as usize + self.guard;
        (bottom as u64, (self.len - self.guard) as u64)
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf takes an integer and returns one.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(4096)
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: unmaps our own mapping; no child runs on it (each child exec'd or exited
        // before its vfork parent resumed).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

fn launch(
    prepared: &Prepared,
    strategy: Strategy,
    cgroup: Option<RawFd>,
) -> Result<Process, Launch> {
    match strategy {
        Strategy::Clone3Vfork => launch_vfork(prepared, VforkCall::Clone3 { cgroup }),
        Strategy::VforkPidfd => launch_vfork(prepared, VforkCall::Libc { with_pidfd: true }),
        Strategy::VforkPid => launch_vfork(prepared, VforkCall::Libc { with_pidfd: false }),
        Strategy::Clone3Pidfd | Strategy::ClonePidfd => launch_fork(prepared, strategy, cgroup),
    }
}

/// Spawns into the cgroup `cgroup`: clone3 only (vfork-style where available).
fn spawn_into_cgroup(prepared: &Prepared, cgroup: RawFd) -> io::Result<Process> {
    let vfork_style = pidfd_sys::syscalls::CLONE3_ON_STACK
        && Strategy::current().is_none_or(|strategy| strategy == Strategy::Clone3Vfork);
    let attempts: &[Strategy] = if !probe::features()?.pidfd_mode() {
        &[]
    } else if vfork_style {
        &[Strategy::Clone3Vfork, Strategy::Clone3Pidfd]
    } else {
        &[Strategy::Clone3Pidfd]
    };
    for &strategy in attempts {
        match launch(prepared, strategy, Some(cgroup)) {
            Ok(process) => return Ok(process),
            Err(Launch::Failed(error)) => return Err(error),
            Err(Launch::Refused(_)) => {}
        }
    }
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "spawning into a cgroup needs clone3 with CLONE_PIDFD and CLONE_INTO_CGROUP \
         (Linux 5.7+), which this kernel, emulator or seccomp filter refuses",
    ))
}

/// How the vfork-style child is created.
#[derive(Clone, Copy)]
enum VforkCall {
    /// `clone3_on_stack` with `CLONE_PIDFD | CLONE_CLEAR_SIGHAND` (and `CLONE_INTO_CGROUP`).
    Clone3 { cgroup: Option<RawFd> },
    /// libc's `clone()`, with or without `CLONE_PIDFD`.
    Libc { with_pidfd: bool },
}

impl VforkCall {
    /// The cgroup fd, for a `CLONE_INTO_CGROUP` call.
    fn cgroup(self) -> Option<RawFd> {
        match self {
            VforkCall::Clone3 { cgroup } => cgroup,
            VforkCall::Libc { .. } => None,
        }
    }
}

/// `VM_SHARED` bit: the clone3 vfork call was seen sharing memory.
const VM_SHARED_CLONE3: u8 = 1;
/// `VM_SHARED` bit: the libc `clone()` vfork call was seen sharing memory.
const VM_SHARED_LIBC: u8 = 2;
/// Which vfork calls were checked to really share memory with their child.
static VM_SHARED: AtomicU8 = AtomicU8::new(0);

/// Whether `call` really runs the child on our memory, checked once per process and call.
///
/// qemu-user 8+ accepts `CLONE_VM | CLONE_VFORK | CLONE_PIDFD` but runs a plain fork: the
/// child's exec errno lands in its own copy of the error slot, so a missing program would
/// be reported started (and exit 127). The check clones a child that only stores a marker
/// and exits: we must see the marker once the clone returns (a real vfork child is done by
/// then). `false` makes the strategy step aside for the fork-style ones, which report exec
/// errors through a pipe. The pid-mode vfork needs no check: it always has the pipe too.
fn vm_shared(prepared: &Prepared, call: VforkCall) -> Result<bool, Launch> {
    let bit = match call {
        VforkCall::Clone3 { .. } => VM_SHARED_CLONE3,
        VforkCall::Libc { with_pidfd: true } => VM_SHARED_LIBC,
        VforkCall::Libc { with_pidfd: false } => return Ok(true),
    };
    #[cfg(test)]
    let cached = !tests::FAKE_UNSHARED_VM.with(std::cell::Cell::get)
        && VM_SHARED.load(Ordering::Acquire) & bit != 0;
    #[cfg(not(test))]
    let cached = VM_SHARED.load(Ordering::Acquire) & bit != 0;
    if cached {
        return Ok(true);
    }
    // (The same call, cgroup included: it is refused or fails exactly as the real one.)
    let shared = match vfork_clone(prepared, call, VforkMode::CheckSharing)? {
        Cloned::Checked(shared) => shared,
        Cloned::Child { .. } => false,
    };
    if shared {
        VM_SHARED.fetch_or(bit, Ordering::AcqRel);
    }
    Ok(shared)
}

/// What a vfork-style clone is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum VforkMode {
    /// Exec the prepared program.
    Exec,
    /// Only check that the child shares our memory ([`vm_shared`]).
    CheckSharing,
}

/// The outcome of [`vfork_clone`].
enum Cloned {
    /// A child that exec'd (or failed to: `exec_errno`).
    Child {
        pid: u32,
        pidfd: Option<libc::c_int>,
        exec_errno: i32,
    },
    /// The sharing check's answer (its child is reaped).
    Checked(bool),
}

fn launch_vfork(prepared: &Prepared, call: VforkCall) -> Result<Process, Launch> {
    if !vm_shared(prepared, call)? {
        // Memory is not shared (an emulator's fake vfork): a missing syscall, for every
        // thread alike.
        return Err(Launch::Refused(Errno::NOSYS));
    }
    match vfork_clone(prepared, call, VforkMode::Exec)? {
        Cloned::Child {
            pid,
            pidfd,
            exec_errno,
        } => finish_launch(pid, pidfd, exec_errno),
        Cloned::Checked(_) => Err(Launch::Failed(Errno::INVAL.into())),
    }
}

/// The vfork-style clone itself.
fn vfork_clone(prepared: &Prepared, call: VforkCall, mode: VforkMode) -> Result<Cloned, Launch> {
    let stack = ChildStack::take()?;
    let vm_marker = AtomicI32::new(0);
    let error_slot = AtomicI32::new(0);
    // The last-resort strategy also reports through a pipe: where CLONE_VM is silently
    // emulated by a copy (qemu-user turns vfork into fork), the slot never changes.
    let error_pipe = match call {
        VforkCall::Libc { with_pidfd: false } if mode == VforkMode::Exec => {
            Some(ErrorPipe::new(prepared.pipe_floor)?)
        }
        _ => None,
    };
    // With CLONE_CLEAR_SIGHAND no handler of ours can run in the child, so signals need not
    // be blocked around the clone (the child keeps our mask: null `old_mask`). Otherwise all
    // are blocked until the child has reset its handlers.
    let handlers_cleared = matches!(call, VforkCall::Clone3 { .. });
    let blocked = if handlers_cleared {
        None
    } else {
        Some(SignalsBlocked::new()?)
    };
    let ctx = ChildContext {
        prepared,
        error_slot: &raw const error_slot,
        error_pipe: error_pipe.as_ref().map_or(-1, ErrorPipe::writer),
        old_mask: blocked.as_ref().map_or(ptr::null(), |b| &raw const b.old),
        handlers_cleared,
        envp: prepared.envp(),
        vm_marker: match mode {
            VforkMode::Exec => ptr::null(),
            VforkMode::CheckSharing => &raw const vm_marker,
        },
    };
    let mut pidfd: libc::c_int = -1;
    let sigchld = pidfd_sys::signal::SIGCHLD;
    let result = match call {
        VforkCall::Clone3 { cgroup } => {
            let mut flags =
                CloneFlags::VM | CloneFlags::VFORK | CloneFlags::PIDFD | CloneFlags::CLEAR_SIGHAND;
            if cgroup.is_some() {
                flags |= CloneFlags::INTO_CGROUP;
            }
            let (stack_bottom, stack_size) = stack.usable();
            let mut args = pidfd_sys::clone_args {
                flags: flags.bits(),
                pidfd: (&raw mut pidfd) as u64,
                exit_signal: u64::try_from(sigchld).map_err(|_| Errno::INVAL)?,
                stack: stack_bottom,
                stack_size,
                cgroup: cgroup.map_or(0, |fd| u64::try_from(fd).unwrap_or(u64::MAX)),
                ..pidfd_sys::clone_args::default()
            };
            // One size for every vfork-style call (a zero `cgroup` field is accepted by every
            // kernel with clone3), different from the fork-style call's VER0 without a
            // cgroup: tests refuse one and not the other with a seccomp filter on the size.
            let size = pidfd_sys::clone::CLONE_ARGS_SIZE_VER2;
            // SAFETY: the child runs `clone3_child_main` on the cached stack (ours alone
            // until it execs or exits, 16-byte aligned top) with the prepared context, does
            // only async-signal-safe work and never returns; we are suspended until then
            // (CLONE_VFORK), so `ctx`, `prepared` and the stack outlive its use. `pidfd` is
            // a live int for the kernel to write.
            unsafe {
                pidfd_sys::syscalls::clone3_on_stack(
                    &mut args,
                    size,
                    clone3_child_main,
                    (&raw const ctx).cast_mut().cast(),
                )
            }
        }
        VforkCall::Libc { with_pidfd } => {
            let mut flags = CloneFlags::VM | CloneFlags::VFORK;
            #[cfg(test)]
            if tests::FAKE_UNSHARED_VM.with(std::cell::Cell::get) {
                // What qemu-user 8+ does: a plain fork on a copy of memory.
                flags = CloneFlags::empty();
            }
            if with_pidfd {
                flags |= CloneFlags::PIDFD;
            }
            let flags = i32::try_from(flags.bits()).map_err(|_| Errno::INVAL)? | sigchld;
            // SAFETY: the child runs `vfork_child_main` on the cached stack with the
            // prepared context, does only async-signal-safe work and execs or _exits; we are
            // suspended until then (CLONE_VFORK), so `ctx`, `prepared` and the stack outlive
            // its use. `pidfd` is a live int for the kernel to write (parent_tid).
            let pid = unsafe {
                libc::clone(
                    vfork_child_main,
                    stack.top(),
                    flags,
                    (&raw const ctx).cast_mut().cast(),
                    &raw mut pidfd,
                )
            };
            if pid == -1 {
                Err(Errno::last_os_error())
            } else {
                Ok(pid)
            }
        }
    };
    drop(blocked);
    stack.give_back();
    let pid = match result {
        Ok(pid) => u32::try_from(pid).map_err(|_| Errno::INVAL)?,
        Err(errno) if refused(errno) || cgroup_unknown(call.cgroup(), errno) => {
            return Err(Launch::Refused(errno));
        }
        Err(errno) => return Err(Launch::Failed(errno.into())),
    };
    let with_pidfd = !matches!(call, VforkCall::Libc { with_pidfd: false });
    if mode == VforkMode::CheckSharing {
        // A real vfork child has stored the marker and exited by now.
        let shared = vm_marker.load(Ordering::Acquire) == 1;
        // SAFETY: a number above 2 was created for us by the clone (CLONE_PIDFD).
        let pidfd = with_pidfd
            .then(|| unsafe { PidFd::from_clone(pidfd, pid) })
            .flatten();
        // Reap the check child (errors: someone else reaped it — nothing left to do).
        let _ = match pidfd {
            Some(pidfd) => {
                let status = pidfd.wait();
                close_raw(pidfd);
                status
            }
            None => Process::from_spawned_pid(pid).and_then(|process| process.wait()),
        };
        return Ok(Cloned::Checked(shared));
    }
    let exec_errno = match (error_slot.load(Ordering::Acquire), error_pipe) {
        (0, Some(pipe)) => pipe.exec_errno(),
        (errno, _) => errno,
    };
    Ok(Cloned::Child {
        pid,
        pidfd: with_pidfd.then_some(pidfd),
        exec_errno,
    })
}

/// After the clone: reap a child whose exec failed, else wrap it in a Process.
fn finish_launch(pid: u32, pidfd: Option<libc::c_int>, exec_errno: i32) -> Result<Process, Launch> {
    // The kernel ignored CLONE_PIDFD (before 5.2), or an emulator wrote a number that is no
    // pidfd (qemu-user 8+: 0): the child exists without a pidfd.
    // SAFETY: a number above 2 was created for us by the clone (CLONE_PIDFD).
    let pidfd = pidfd.and_then(|fd| unsafe { PidFd::from_clone(fd, pid) });
    if exec_errno != 0 {
        match pidfd {
            Some(pidfd) => {
                drop(pidfd.wait());
                close_raw(pidfd);
            }
            None => drop(Process::from_spawned_pid(pid).and_then(|p| p.wait())),
        }
        return Err(Launch::Failed(io::Error::from_raw_os_error(exec_errno)));
    }
    Ok(match pidfd {
        Some(pidfd) => Process::from_spawned(pidfd, pid),
        None => Process::from_spawned_pid(pid)?,
    })
}

/// Closes a pidfd of ours through the raw syscall (see [`SpawnFd`]).
fn close_raw(pidfd: PidFd) {
    drop(SpawnFd(pidfd.into_raw_fd()));
}

/// A CLOEXEC pipe for the exec errno: closed by a successful exec (EOF), or carries it.
struct ErrorPipe {
    reader: SpawnFd,
    writer: Option<SpawnFd>,
}

impl ErrorPipe {
    /// A pipe whose write end is numbered `floor` or above when possible (the child also
    /// moves it off any target it meets, as a backstop).
    fn new(floor: RawFd) -> io::Result<ErrorPipe> {
        let mut ends = [-1; 2];
        // SAFETY: pipe2 writes two fds into a valid array.
        if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let reader = SpawnFd(ends[0]);
        let writer = SpawnFd(ends[1]);
        // Above every fd a file action names. Failing that (no fd left for the copy), the
        // original stays and the child moves it when an action targets it.
        let writer = if writer.raw() < floor {
            dup_above(writer.raw(), floor).unwrap_or(writer)
        } else {
            writer
        };
        Ok(ErrorPipe {
            reader,
            writer: Some(writer),
        })
    }

    /// The end the child writes to.
    fn writer(&self) -> RawFd {
        self.writer.as_ref().map_or(-1, SpawnFd::raw)
    }

    /// After the clone: closes our write end and reads the child's errno (0: it exec'd).
    fn exec_errno(mut self) -> i32 {
        drop(self.writer.take());
        let mut bytes = [0_u8; 4];
        let read = Errno::retry_on_intr(|| {
            // SAFETY: reads up to 4 bytes into a live buffer from our pipe end.
            unsafe { pidfd_sys::syscalls::read(self.reader.raw(), bytes.as_mut_ptr(), 4) }
        });
        if read == Ok(4) {
            i32::from_ne_bytes(bytes)
        } else {
            0
        }
    }
}

fn launch_fork(
    prepared: &Prepared,
    strategy: Strategy,
    cgroup: Option<RawFd>,
) -> Result<Process, Launch> {
    let error_pipe = ErrorPipe::new(prepared.pipe_floor)?;
    let blocked = SignalsBlocked::new()?;
    let ctx = ChildContext {
        prepared,
        error_slot: ptr::null(),
        error_pipe: error_pipe.writer(),
        old_mask: &raw const blocked.old,
        handlers_cleared: false,
        envp: prepared.envp(),
        vm_marker: ptr::null(),
    };
    let mut pidfd: libc::c_int = -1;
    let exit_signal = u64::try_from(pidfd_sys::signal::SIGCHLD).map_err(|_| Errno::INVAL)?;
    let result = match strategy {
        Strategy::Clone3Pidfd => {
            let (flags, size) = match cgroup {
                Some(_) => (
                    CloneFlags::PIDFD | CloneFlags::INTO_CGROUP,
                    pidfd_sys::clone::CLONE_ARGS_SIZE_VER2,
                ),
                None => (CloneFlags::PIDFD, pidfd_sys::clone::CLONE_ARGS_SIZE_VER0),
            };
            let mut args = pidfd_sys::clone_args {
                flags: flags.bits(),
                pidfd: (&raw mut pidfd) as u64,
                exit_signal,
                cgroup: cgroup.map_or(0, |fd| u64::try_from(fd).unwrap_or(u64::MAX)),
                ..pidfd_sys::clone_args::default()
            };
            // SAFETY: fork-like clone3; the child only runs `child_exec` (async-signal-safe)
            // on its private copy of memory.
            unsafe { pidfd_sys::syscalls::clone3(&mut args, size) }
        }
        _ => {
            // SAFETY: as above, with legacy clone; `pidfd` is a live int (parent_tid).
            unsafe {
                pidfd_sys::syscalls::clone(
                    CloneFlags::PIDFD.bits() | exit_signal,
                    &raw mut pidfd,
                    ptr::null_mut(),
                )
            }
        }
    };
    match result {
        Ok(0) => {
            // SAFETY: we are the fresh child; `ctx` lives in our copy of the parent's stack.
            unsafe { child_exec(&raw const ctx) }
        }
        Ok(pid) => {
            drop(blocked);
            let exec_errno = error_pipe.exec_errno();
            let pid = u32::try_from(pid).map_err(|_| Errno::INVAL)?;
            finish_launch(pid, Some(pidfd), exec_errno)
        }
        Err(errno) if refused(errno) || cgroup_unknown(cgroup, errno) => {
            Err(Launch::Refused(errno))
        }
        Err(errno) => Err(Launch::Failed(errno.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Makes this thread's libc-clone vfork a plain fork (what qemu-user 8+ does).
        pub(super) static FAKE_UNSHARED_VM: std::cell::Cell<bool> =
            const { std::cell::Cell::new(false) };
    }

    /// Runs `f` with this thread's vfork faked as a fork on a copy of memory.
    fn with_unshared_vm<T>(f: impl FnOnce() -> T) -> T {
        FAKE_UNSHARED_VM.with(|fake| fake.set(true));
        let result = f();
        FAKE_UNSHARED_VM.with(|fake| fake.set(false));
        result
    }

    #[test]
    fn a_vfork_that_does_not_share_memory_never_reports_a_failed_exec_as_started() {
        let missing = Prepared::new(&Spawn::new("/nonexistent/program")).unwrap();
        let call = VforkCall::Libc { with_pidfd: true };
        // The real thing: the exec error comes back through the shared slot. (Under
        // qemu-user the call is refused: 7.2 says EINVAL to CLONE_PIDFD, 8+ shares no
        // memory. The test-arches runner names the emulator.)
        let emulated = std::env::var_os("PIDFD_TEST_EMULATOR").is_some_and(|name| !name.is_empty());
        match launch_vfork(&missing, call) {
            Err(Launch::Failed(error)) => assert_eq!(error.raw_os_error(), Some(libc::ENOENT)),
            Err(Launch::Refused(_)) if emulated => {}
            Err(Launch::Refused(errno)) => panic!("refused: {errno:?}"),
            Ok(_) => panic!("a missing program started"),
        }
        // A fake vfork (unshared memory): the strategy must step aside (refused), never
        // return a child that only ran to fail its exec.
        match with_unshared_vm(|| launch_vfork(&missing, call)) {
            Err(Launch::Refused(_)) => {}
            Err(Launch::Failed(error)) => panic!("failed instead of refused: {error}"),
            Ok(process) => panic!(
                "a missing program was reported started: {:?}",
                process.wait()
            ),
        }
    }
}
