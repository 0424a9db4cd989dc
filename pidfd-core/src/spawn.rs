//! [`Spawn`]: start a program and get a [`Process`] whose pidfd came from the clone itself.
//!
//! # Safety
//!
//! The child side runs between `clone` and `execve` and may only do async-signal-safe work:
//! no allocation, no locks, no panics. Everything it needs (argv, envp, the candidate paths
//! of a PATH search, the fds to install) is prepared before the clone, and it walks that
//! data with raw pointers only. In the `CLONE_VM | CLONE_VFORK` strategy the child shares the
//! parent's memory (the parent is suspended until the child execs or exits) and runs on its
//! own stack; it writes nothing but the exec error slot. All signals are blocked around the
//! clone, and the child resets caught signals to their default before unblocking, so no
//! parent signal handler ever runs on the child's side.

#![allow(unsafe_code, reason = "clone/exec child side; each block says why")]

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use pidfd_sys::Errno;
use pidfd_sys::flags::CloneFlags;

use crate::process::Mode;
use crate::{PidFd, Process, probe};

/// A builder for a new process, like std's `Command`, returning a [`Process`].
///
/// The pidfd comes from `clone(CLONE_PIDFD)` itself — never from `pidfd_open(pid)` after the
/// fact — so it refers to the child even if something else reaps children. The fast path is
/// `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` on a separate stack (the `posix_spawn`
/// technique: the cost does not grow with the parent's memory). Where that is refused
/// (`ENOSYS`, `EPERM`, `EINVAL`: old kernels, qemu-user, seccomp), a fork-style
/// `clone(CLONE_PIDFD)` is used, and where pidfds are unavailable altogether the child is
/// returned as a pid-mode [`Process`].
///
/// The builder can spawn many times; each `stdin`/`stdout`/`stderr` fd is duplicated into
/// every child.
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
    /// `from == to` clears close-on-exec. Applied after stdio, in the order added.
    pub fn fd_dup2(&mut self, from: RawFd, to: RawFd) -> &mut Spawn {
        self.file_actions.push(FileAction::Dup2 { from, to });
        self
    }

    /// In the child, close `fd` (`posix_spawn_file_actions_addclose`).
    pub fn fd_close(&mut self, fd: RawFd) -> &mut Spawn {
        self.file_actions.push(FileAction::Close(fd));
        self
    }

    /// In the child, open `path` with `flags` and `mode` (`open(2)`) as fd `fd`
    /// (`posix_spawn_file_actions_addopen`).
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
    /// `POSIX_SPAWN_SETSIGDEF`). Caught signals are always reset.
    pub fn default_signals(&mut self, signals: &[i32]) -> &mut Spawn {
        self.attributes.default_signals = signals.to_vec();
        self
    }

    /// The spawn strategy this process uses (chosen on the first spawn, then kept, moving
    /// down the list only when the kernel refuses one), or `None` before the first spawn.
    pub fn strategy() -> Option<&'static str> {
        let strategy = match CHOSEN.load(Ordering::Acquire) {
            1 => Strategy::VforkPidfd,
            2 => Strategy::Clone3Pidfd,
            3 => Strategy::ClonePidfd,
            4 => Strategy::VforkPid,
            _ => return None,
        };
        Some(strategy.describe())
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
        let mut strategy = Strategy::chosen()?;
        loop {
            match launch(&prepared, strategy) {
                Err(Launch::Refused) => match strategy.next() {
                    Some(next) => {
                        strategy.remember_refused(next);
                        strategy = next;
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
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
    cwd: Option<CString>,
    stdio: [RawFd; 3],
    setsid: bool,
    process_group: Option<libc::pid_t>,
    /// The child's signal mask, if set (else the parent's).
    signal_mask: Option<libc::sigset_t>,
    /// Signals set to SIG_DFL in the child.
    default_signals: libc::sigset_t,
    file_actions: Vec<ChildFileAction>,
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
        let envp: Vec<CString> = env
            .iter()
            .map(|(key, value)| {
                let mut entry = key.as_bytes().to_vec();
                entry.push(b'=');
                entry.extend_from_slice(value.as_bytes());
                c_string(entry)
            })
            .collect::<io::Result<_>>()?;
        let program = spawn.program.as_bytes();
        let candidates: Vec<CString> = if program.contains(&b'/') {
            vec![c_string(program)?]
        } else if program.is_empty() {
            return Err(io::Error::from(Errno::NOENT));
        } else {
            // The child's PATH decides, as for execvp(3) after the environment is set.
            let path = env.iter().find(|(key, _)| key == "PATH").map_or_else(
                || OsString::from("/usr/local/bin:/usr/bin:/bin"),
                |(_, v)| v.clone(),
            );
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
        let stdio = [0, 1, 2].map(|i| spawn.stdio[i].as_ref().map_or(-1, AsRawFd::as_raw_fd));
        Ok(Prepared {
            candidate_ptrs: null_terminated(&candidates),
            _candidates: candidates,
            argv_ptrs: null_terminated(&argv),
            _argv: argv,
            envp_ptrs: null_terminated(&envp),
            _envp: envp,
            cwd,
            stdio,
            setsid: spawn.attributes.setsid,
            process_group: spawn.attributes.process_group,
            signal_mask: spawn
                .attributes
                .signal_mask
                .as_deref()
                .map(signal_set)
                .transpose()?,
            default_signals: signal_set(&spawn.attributes.default_signals)?,
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
    /// `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` on a separate stack.
    VforkPidfd = 1,
    /// Fork-style `clone3(CLONE_PIDFD)`.
    Clone3Pidfd = 2,
    /// Fork-style `clone(CLONE_PIDFD)`.
    ClonePidfd = 3,
    /// `clone(CLONE_VM | CLONE_VFORK)` without a pidfd: the child is a pid-mode Process.
    VforkPid = 4,
}

/// The first strategy not yet found refused (0: not chosen yet).
static CHOSEN: AtomicU8 = AtomicU8::new(0);

impl Strategy {
    fn chosen() -> io::Result<Strategy> {
        match CHOSEN.load(Ordering::Acquire) {
            2 => return Ok(Strategy::Clone3Pidfd),
            3 => return Ok(Strategy::ClonePidfd),
            4 => return Ok(Strategy::VforkPid),
            1 => return Ok(Strategy::VforkPidfd),
            _ => {}
        }
        let strategy = if probe::features()?.pidfd_mode() {
            Strategy::VforkPidfd
        } else {
            Strategy::VforkPid
        };
        CHOSEN.store(strategy as u8, Ordering::Release);
        Ok(strategy)
    }

    fn next(self) -> Option<Strategy> {
        match self {
            Strategy::VforkPidfd => Some(Strategy::Clone3Pidfd),
            Strategy::Clone3Pidfd => Some(Strategy::ClonePidfd),
            Strategy::ClonePidfd => Some(Strategy::VforkPid),
            Strategy::VforkPid => None,
        }
    }

    /// This strategy was refused: later spawns start at `next`.
    fn remember_refused(self, next: Strategy) {
        CHOSEN.fetch_max(next as u8, Ordering::AcqRel);
    }

    fn describe(self) -> &'static str {
        match self {
            Strategy::VforkPidfd => "clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) on a separate stack",
            Strategy::Clone3Pidfd => "fork-style clone3(CLONE_PIDFD)",
            Strategy::ClonePidfd => "fork-style clone(CLONE_PIDFD)",
            Strategy::VforkPid => "clone(CLONE_VM|CLONE_VFORK), pid mode",
        }
    }
}

enum Launch {
    /// The kernel (or a filter) refused this clone flavour: try the next one.
    Refused,
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

fn refused(errno: Errno) -> bool {
    matches!(errno, Errno::NOSYS | Errno::PERM | Errno::INVAL)
}

/// Where the child reports its exec errno: the shared slot (vfork) or a CLOEXEC pipe (fork).
struct ChildContext<'a> {
    prepared: &'a Prepared,
    error_slot: *const AtomicI32,
    error_pipe: RawFd,
    /// The parent's signal mask, to restore before exec.
    old_mask: *const libc::sigset_t,
}

/// Blocks every signal until dropped (restoring the previous mask).
struct SignalsBlocked {
    old: libc::sigset_t,
}

impl SignalsBlocked {
    fn new() -> io::Result<SignalsBlocked> {
        // SAFETY: sigset_t is plain data; sigfillset initialises it.
        let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `all` is a valid sigset_t.
        unsafe { libc::sigfillset(&raw mut all) };
        // SAFETY: as above.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid sigset_t.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const all, &raw mut old) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(SignalsBlocked { old })
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const self.old, ptr::null_mut()) };
    }
}

/// The child side. Async-signal-safe only; never returns.
///
/// # Safety
///
/// `ctx` must point to a live `ChildContext` whose pointers are valid; call only in a fresh
/// child between clone and exec.
unsafe fn child_exec(ctx: *const ChildContext<'_>) -> ! {
    // SAFETY: the caller guarantees `ctx` is valid for the child's life (until exec/_exit).
    let ctx = unsafe { &*ctx };
    let prepared = ctx.prepared;
    let fail = |errno: i32| -> ! {
        if !ctx.error_slot.is_null() {
            // SAFETY: the slot lives in the suspended parent's frame (CLONE_VM).
            unsafe { (*ctx.error_slot).store(errno, Ordering::Release) };
        } else if ctx.error_pipe >= 0 {
            let bytes = errno.to_ne_bytes();
            // SAFETY: writes 4 bytes from a live buffer to our pipe end.
            unsafe { libc::write(ctx.error_pipe, bytes.as_ptr().cast(), bytes.len()) };
        }
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(127) }
    };
    let errno = || Errno::last_os_error().raw_os_error();
    // Reset every caught signal to its default, then restore the parent's mask.
    let mut signal = 1;
    while signal <= pidfd_sys::signal::NSIG {
        // SAFETY: sigaction is plain data.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: queries the disposition into a valid struct.
        let queried = unsafe { libc::sigaction(signal, ptr::null(), &raw mut action) } == 0;
        // SAFETY: `default_signals` is an initialised sigset_t.
        let reset = unsafe { libc::sigismember(&raw const prepared.default_signals, signal) } == 1;
        let caught = action.sa_sigaction != libc::SIG_DFL && action.sa_sigaction != libc::SIG_IGN;
        if queried && (caught || (reset && action.sa_sigaction != libc::SIG_DFL)) {
            action.sa_sigaction = libc::SIG_DFL;
            // SAFETY: installs SIG_DFL from a valid struct.
            unsafe { libc::sigaction(signal, &raw const action, ptr::null_mut()) };
        }
        signal += 1;
    }
    let mask = prepared
        .signal_mask
        .as_ref()
        .map_or(ctx.old_mask, ptr::from_ref);
    // SAFETY: `mask` points to the requested mask or to the parent's saved one.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, ptr::null_mut()) };
    // SAFETY: setsid takes no arguments.
    if prepared.setsid && unsafe { libc::setsid() } == -1 {
        fail(errno());
    }
    if let Some(pgid) = prepared.process_group {
        // SAFETY: setpgid takes integers only.
        if unsafe { libc::setpgid(0, pgid) } != 0 {
            fail(errno());
        }
    }
    // Install stdio: dup2 onto 0/1/2 (dup2 clears CLOEXEC; same-number fds need it cleared).
    for (target, &fd) in (0..).zip(prepared.stdio.iter()) {
        if fd >= 0 {
            let rc = if fd == target {
                // SAFETY: clears FD_CLOEXEC on an fd we hold.
                unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }
            } else {
                // SAFETY: duplicates an fd we hold onto the standard slot.
                unsafe { libc::dup2(fd, target) }
            };
            if rc == -1 {
                fail(errno());
            }
        }
    }
    for action in &prepared.file_actions {
        let rc = match action {
            ChildFileAction::Dup2 { from, to } if from == to => {
                // SAFETY: clears FD_CLOEXEC on an fd of the child's table.
                unsafe { libc::fcntl(*from, libc::F_SETFD, 0) }
            }
            // SAFETY: dup2 on fds of the child's table.
            ChildFileAction::Dup2 { from, to } => unsafe { libc::dup2(*from, *to) },
            // SAFETY: closes an fd of the child's table.
            ChildFileAction::Close(fd) => unsafe { libc::close(*fd) },
            ChildFileAction::Open {
                fd,
                path,
                flags,
                mode,
            } => {
                // SAFETY: a NUL-terminated path prepared before the clone.
                let opened = unsafe { libc::open(path.as_ptr(), *flags, *mode) };
                if opened >= 0 && opened != *fd {
                    // SAFETY: moves the new fd onto the requested number.
                    let moved = unsafe { libc::dup2(opened, *fd) };
                    // SAFETY: closes the temporary fd we just opened.
                    unsafe { libc::close(opened) };
                    moved
                } else {
                    opened
                }
            }
        };
        if rc == -1 {
            fail(errno());
        }
    }
    if let Some(cwd) = &prepared.cwd {
        // SAFETY: a NUL-terminated path prepared before the clone.
        if unsafe { libc::chdir(cwd.as_ptr()) } != 0 {
            fail(errno());
        }
    }
    // Try each candidate like execvp: ENOENT/ENOTDIR move on, EACCES is remembered.
    let mut saw_eacces = false;
    let mut last = Errno::NOENT.raw_os_error();
    let mut candidate = prepared.candidate_ptrs.as_ptr();
    // SAFETY: the candidate list is NULL-terminated.
    while !unsafe { *candidate }.is_null() {
        // SAFETY: `candidate` points into the NULL-terminated list, before its end.
        let path = unsafe { *candidate };
        // SAFETY: path, argv and envp are NUL-terminated / NULL-terminated C data.
        unsafe {
            libc::execve(
                path,
                prepared.argv_ptrs.as_ptr(),
                prepared.envp_ptrs.as_ptr(),
            )
        };
        last = errno();
        if last == Errno::ACCESS.raw_os_error() {
            saw_eacces = true;
        } else if last != Errno::NOENT.raw_os_error() && last != Errno::NOTDIR.raw_os_error() {
            break;
        }
        // SAFETY: stays within the NULL-terminated list.
        candidate = unsafe { candidate.add(1) };
    }
    fail(if saw_eacces && last == Errno::NOENT.raw_os_error() {
        Errno::ACCESS.raw_os_error()
    } else {
        last
    })
}

extern "C" fn vfork_child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the ChildContext the parent passed to clone; the parent is suspended
    // (CLONE_VFORK) so it stays alive.
    unsafe { child_exec(arg.cast_const().cast()) }
}

/// The child's stack for the vfork strategy: mmap'd, freed after the child execs or exits.
struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

impl ChildStack {
    fn new() -> io::Result<ChildStack> {
        let len = 256 * 1024;
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
        Ok(ChildStack { base, len })
    }

    /// The initial stack pointer (stacks grow down on every Linux ABI Rust targets but
    /// hppa, which Rust does not target).
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping, 16-byte aligned (the mapping is
        // page-aligned and `len` a multiple of the page size).
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: unmaps our own mapping; the child no longer runs on it (it exec'd or
        // exited before the vfork parent resumed).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

fn launch(prepared: &Prepared, strategy: Strategy) -> Result<Process, Launch> {
    match strategy {
        Strategy::VforkPidfd | Strategy::VforkPid => {
            launch_vfork(prepared, strategy == Strategy::VforkPidfd)
        }
        Strategy::Clone3Pidfd | Strategy::ClonePidfd => launch_fork(prepared, strategy),
    }
}

fn launch_vfork(prepared: &Prepared, with_pidfd: bool) -> Result<Process, Launch> {
    let stack = ChildStack::new()?;
    let error_slot = AtomicI32::new(0);
    let blocked = SignalsBlocked::new()?;
    let ctx = ChildContext {
        prepared,
        error_slot: &raw const error_slot,
        error_pipe: -1,
        old_mask: &raw const blocked.old,
    };
    let mut pidfd: libc::c_int = -1;
    let mut flags = CloneFlags::VM | CloneFlags::VFORK;
    if with_pidfd {
        flags |= CloneFlags::PIDFD;
    }
    let flags = i32::try_from(flags.bits()).map_err(|_| Errno::INVAL)? | pidfd_sys::signal::SIGCHLD;
    // SAFETY: the child runs `vfork_child_main` on its own stack with the prepared context,
    // does only async-signal-safe work and execs or _exits; we are suspended until then
    // (CLONE_VFORK), so `ctx`, `prepared` and the stack outlive its use. `pidfd` is a live
    // int for the kernel to write (parent_tid).
    let pid = unsafe {
        libc::clone(
            vfork_child_main,
            stack.top(),
            flags,
            (&raw const ctx).cast_mut().cast(),
            &raw mut pidfd,
        )
    };
    let clone_errno = Errno::last_os_error();
    drop(blocked);
    drop(stack);
    if pid == -1 {
        return Err(if refused(clone_errno) {
            Launch::Refused
        } else {
            Launch::Failed(clone_errno.into())
        });
    }
    let pid = u32::try_from(pid).map_err(|_| Errno::INVAL)?;
    finish_launch(
        pid,
        with_pidfd.then_some(pidfd),
        error_slot.load(Ordering::Acquire),
    )
}

/// After the clone: reap a child whose exec failed, else wrap it in a Process.
fn finish_launch(pid: u32, pidfd: Option<libc::c_int>, exec_errno: i32) -> Result<Process, Launch> {
    let pidfd = match pidfd {
        Some(fd) if fd >= 0 => {
            // SAFETY: the kernel created this fd for us (CLONE_PIDFD).
            Some(unsafe { PidFd::from_raw_fd(fd) })
        }
        // The kernel ignored CLONE_PIDFD (before 5.2): the child exists without a pidfd.
        Some(_) | None => None,
    };
    if exec_errno != 0 {
        match &pidfd {
            Some(pidfd) => drop(pidfd.wait()),
            None => drop(Process::with_mode(pid, Mode::Pid).and_then(|p| p.wait())),
        }
        return Err(Launch::Failed(io::Error::from_raw_os_error(exec_errno)));
    }
    Ok(match pidfd {
        Some(pidfd) => Process::from_spawned(pidfd, pid),
        None => Process::with_mode(pid, Mode::Pid)?,
    })
}

fn launch_fork(prepared: &Prepared, strategy: Strategy) -> Result<Process, Launch> {
    // A CLOEXEC pipe: closed by a successful exec (EOF), or carries the errno.
    let mut ends = [-1; 2];
    // SAFETY: pipe2 writes two fds into a valid array.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Launch::Failed(io::Error::last_os_error()));
    }
    // SAFETY: just created by pipe2 and owned here.
    let reader = unsafe { OwnedFd::from_raw_fd(ends[0]) };
    // SAFETY: as above.
    let writer = unsafe { OwnedFd::from_raw_fd(ends[1]) };
    let blocked = SignalsBlocked::new()?;
    let ctx = ChildContext {
        prepared,
        error_slot: ptr::null(),
        error_pipe: writer.as_raw_fd(),
        old_mask: &raw const blocked.old,
    };
    let mut pidfd: libc::c_int = -1;
    let exit_signal = u64::try_from(pidfd_sys::signal::SIGCHLD).map_err(|_| Errno::INVAL)?;
    let result = match strategy {
        Strategy::Clone3Pidfd => {
            let mut args = pidfd_sys::clone_args {
                flags: CloneFlags::PIDFD.bits(),
                pidfd: (&raw mut pidfd) as u64,
                exit_signal,
                ..pidfd_sys::clone_args::default()
            };
            // SAFETY: fork-like clone3; the child only runs `child_exec` (async-signal-safe)
            // on its private copy of memory.
            unsafe {
                pidfd_sys::syscalls::clone3(&mut args, pidfd_sys::clone::CLONE_ARGS_SIZE_VER0)
            }
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
            drop(writer);
            let mut bytes = [0_u8; 4];
            let read = loop {
                // SAFETY: reads up to 4 bytes into a live buffer from our pipe end.
                let n = unsafe { libc::read(reader.as_raw_fd(), bytes.as_mut_ptr().cast(), 4) };
                if n >= 0 || Errno::last_os_error() != Errno::INTR {
                    break n;
                }
            };
            let exec_errno = if read == 4 {
                i32::from_ne_bytes(bytes)
            } else {
                0
            };
            let pid = u32::try_from(pid).map_err(|_| Errno::INVAL)?;
            finish_launch(pid, Some(pidfd), exec_errno)
        }
        Err(errno) if refused(errno) => Err(Launch::Refused),
        Err(errno) => Err(Launch::Failed(errno.into())),
    }
}
