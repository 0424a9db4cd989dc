//! [`Spawn`]: start a program and get a [`Process`] whose pidfd came from the clone itself.
//!
//! The files, split as Rust std splits `sys/process/unix`:
//!
//! * this one — the [`Spawn`] builder: program, arguments, environment, stdio, file actions,
//!   and [`Spawn::spawn`], which runs the strategies in turn;
//! * `attributes` — the process attributes (session, process group, signal mask and
//!   defaults, uid/gid/groups, parent-death signal, cgroup);
//! * `prepare` — everything the child needs as C data, made before the clone: argv, envp
//!   and the PATH search candidates (each one `CStringArray`), the cwd, the stdio sources,
//!   the file actions, the signal sets;
//! * `strategy` — how the child is created (`Strategy`, from fastest to most compatible),
//!   which refusals each thread remembers, the set of errnos that mean "refused" (shared
//!   with [`crate::fork()`]) and the choice for a cgroup spawn;
//! * `launch` — the parent side of the clone: the vfork-style (`clone3` on a separate
//!   stack, libc's `clone()`) and fork-style (`clone3`/`clone`, also [`crate::fork()`]'s)
//!   launchers, the exec-error pipe, reaping a child whose exec failed;
//! * `child` — the child side between clone and exec: async-signal-safe, raw syscalls only;
//! * `stack` — the mmap'd stack a vfork-style child runs on;
//! * `sys` — the parent side's thin safe wrappers over raw calls (fds the spawn closes
//!   itself, signal sets and the blocked mask, `RLIMIT_NOFILE`, libc's `environ`, the
//!   dumpable flag), and the child's raw credential and parent-death calls;
//! * `stdio` — [`Stdio`] and the pipes and `/dev/null` one spawn makes for it;
//! * `handle` — [`Child`], what [`Spawn::spawn`] returns: the [`Process`], the parent's pipe
//!   ends, the kill-on-drop guard;
//! * `output` — the one `poll(2)` loop of [`Spawn::output`] and [`Child::wait_with_output`]
//!   (and their timed forms, [`TimedOutput`]).
//!
//! `unsafe` is denied here and in `attributes`, `prepare`, `strategy`, `stdio`, `handle` and
//! `output`
//! (their raw calls are [`crate::sys`]'s); `child`, `launch`, `stack` and `sys` allow it,
//! with a `// SAFETY:` comment on each block. What the child side may do between clone and
//! exec, and why, is in `child`'s docs (its `# Safety`).

#![deny(unsafe_code)]

mod attributes;
mod child;
mod handle;
pub(crate) mod launch;
mod output;
mod prepare;
mod stack;
mod stdio;
pub(crate) mod strategy;
mod sys;

pub use handle::Child;
pub use output::TimedOutput;
pub use stdio::Stdio;

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::{ExitStatus, Output};
use std::time::Duration;

use pidfd_sys::Errno;

use crate::{Process, probe};
use launch::{Launch, launch};
use prepare::Prepared;
use stdio::{SpawnStdio, Unset};
use strategy::{Strategy, spawn_into_cgroup};

/// A builder for a new process, like std's `Command`, returning a [`Child`] (a
/// [`Process`] and its pipes).
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
/// refusals it saw itself and starts its next spawn past them. Only `ENOSYS` from `clone3`
/// (a missing syscall: an old kernel, an emulator, a container profile) moves the
/// process-wide starting point, and only among the `clone3` flavours: the legacy
/// `clone(CLONE_PIDFD)` always stays open to the other threads, so no refusal seen in one
/// thread ever moves another thread to pid mode. A thread reaches pid mode only after
/// its own spawn found every pidfd flavour refused, or when [`crate::probe`] says pidfds
/// are unusable (`PIDFD_DISABLE=1` included). Cost: a new thread may retry a refused
/// flavour once (one failing syscall).
///
/// The builder can spawn many times; each `stdin`/`stdout`/`stderr` fd is duplicated into
/// every child, and [`Stdio::piped`] and [`Stdio::null`] make new fds for each spawn.
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
///
/// // Captured output, as std's `Command::output` (no deadlock however much is written).
/// let output = Spawn::new("sh").args(["-c", "echo out; echo err >&2"]).output()?;
/// assert_eq!((&output.stdout[..], &output.stderr[..]), (&b"out\n"[..], &b"err\n"[..]));
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
    /// stdin, stdout, stderr as set (`None`: each method's default).
    stdio: [Option<Stdio>; 3],
    kill_on_drop: bool,
    attributes: Attributes,
    file_actions: Vec<FileAction>,
    cgroup: Option<OwnedFd>,
    /// `argv[0]`, when not the program.
    arg0: Option<OsString>,
}

/// posix_spawn-style file actions, applied in order in the child after stdio is set up.
/// The builder holds paths as `OsString`; the child gets them as C strings
/// (`prepare::ChildFileAction`).
#[derive(Debug, Clone)]
enum FileAction<P = OsString> {
    Dup2 {
        from: RawFd,
        to: RawFd,
    },
    Close(RawFd),
    Open {
        fd: RawFd,
        path: P,
        flags: i32,
        mode: u32,
    },
}

/// posix_spawn-style attributes, applied in the child before exec.
#[derive(Debug, Clone, Default)]
struct Attributes {
    setsid: bool,
    process_group: Option<libc::pid_t>,
    signal_mask: Option<Vec<i32>>,
    default_signals: Vec<i32>,
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Option<Vec<u32>>,
    parent_death_signal: Option<i32>,
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
            kill_on_drop: false,
            attributes: Attributes::default(),
            file_actions: Vec::new(),
            cgroup: None,
            arg0: None,
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

    /// The child's standard input: a [`Stdio`] or any fd (`File`, `OwnedFd`, ...). Default:
    /// inherited for [`Spawn::spawn`] and [`Spawn::status`], `/dev/null` for
    /// [`Spawn::output`].
    ///
    /// An fd given here (as for [`Spawn::stdout`] and [`Spawn::stderr`]) stays open in the
    /// builder for the builder's whole life — each spawn duplicates it — as with std's
    /// `Command`. Meanwhile it is open in this process: an fd without close-on-exec is
    /// inherited by every child any thread starts (through this crate or any other), and a
    /// pipe end held here keeps the pipe alive — a `ChildStdout` of an upstream process
    /// passed as stdin keeps that process from ever getting `EPIPE`/`SIGPIPE` when the
    /// downstream child exits. Drop the builder (or set the stream to something else) once
    /// the children are spawned.
    pub fn stdin(&mut self, stdio: impl Into<Stdio>) -> &mut Spawn {
        self.stdio[0] = Some(stdio.into());
        self
    }

    /// The child's standard output: a [`Stdio`] or any fd. Default: inherited for
    /// [`Spawn::spawn`] and [`Spawn::status`], piped (and collected) for [`Spawn::output`].
    pub fn stdout(&mut self, stdio: impl Into<Stdio>) -> &mut Spawn {
        self.stdio[1] = Some(stdio.into());
        self
    }

    /// The child's standard error: a [`Stdio`] or any fd. Default: as for
    /// [`Spawn::stdout`].
    pub fn stderr(&mut self, stdio: impl Into<Stdio>) -> &mut Spawn {
        self.stdio[2] = Some(stdio.into());
        self
    }

    /// Whether dropping the [`Child`] kills the process (as tokio's `kill_on_drop`): a
    /// non-blocking [`Process::try_wait`] first, and only for a child still running,
    /// `SIGKILL` through the [`Process`] — its pidfd, or in pid mode its PID while it
    /// cannot have been reaped — then a reaping wait, so no zombie is left. A child that has
    /// exited is just reaped; one reaped already is never signalled — also when it was
    /// reaped behind the handle's back (`SIGCHLD` set to `SIG_IGN`, a `waitpid(-1)`
    /// elsewhere): the `try_wait` then fails with `ECHILD` and the drop sends nothing, so in
    /// pid mode no `SIGKILL` reaches a process that got the PID since. Default: `false`
    /// (dropping a `Child` leaves the process running, like std). The drop blocks until the
    /// killed process is gone — at once, unless it is stuck in an uninterruptible sleep
    /// (`D` state); a process that cannot be signalled (`EPERM`: a set-user-ID program) is
    /// left running.
    ///
    /// The guard belongs to the [`Child`]: [`Child::into_process`] (and
    /// `Process::from(child)`) give it up, and so does `child.release()`
    /// ([`Process::release`] through `Deref`: the handle is gone, so the drop has nothing to
    /// kill through). To share a guarded child, share the `Child` (it is `Send + Sync`) in
    /// an `Arc`.
    ///
    /// In pid mode one race remains, as for every pid-mode signal: a reap behind the
    /// handle's back *between* the drop's `try_wait` and its `SIGKILL` frees the PID for
    /// reuse in that window. Pidfd mode has no such caveat.
    ///
    /// # Example
    ///
    /// ```
    /// use pidfd_core::{PidFd, Spawn};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let child = Spawn::new("sleep").arg("1000").kill_on_drop(true).spawn()?;
    /// let pidfd = PidFd::open(child.pid())?; // the same process, for the check below
    /// drop(child); // killed and reaped
    /// assert_eq!(pidfd.send_signal(0).unwrap_err().raw_os_error(), Some(libc::ESRCH));
    /// # Ok(())
    /// # }
    /// ```
    pub fn kill_on_drop(&mut self, yes: bool) -> &mut Spawn {
        self.kill_on_drop = yes;
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

    /// The child's `argv[0]` (default: the program as given to [`Spawn::new`]), like std's
    /// `CommandExt::arg0`. The program that runs is still the one [`Spawn::new`] names
    /// (searched in `PATH` as before); only what it sees as its own name changes.
    ///
    /// # Example
    ///
    /// ```
    /// use pidfd_core::Spawn;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// // `sh -c` puts its argv[0] in `$0`.
    /// let process = Spawn::new("sh")
    ///     .arg0("renamed")
    ///     .args(["-c", r#"test "$0" = renamed"#])
    ///     .spawn()?;
    /// assert!(process.wait()?.success());
    /// # Ok(())
    /// # }
    /// ```
    pub fn arg0(&mut self, arg0: impl AsRef<OsStr>) -> &mut Spawn {
        self.arg0 = Some(arg0.as_ref().to_owned());
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

    /// Starts the program, with stdin, stdout and stderr as set (default: inherited).
    ///
    /// # Errors
    ///
    /// The child's `execve` errno when the program cannot be run (`NotFound`/`ENOENT`,
    /// `PermissionDenied`/`EACCES` also for directories, `ENOEXEC`, ...) — the failed child
    /// is reaped and nothing leaks; `InvalidInput` for a NUL byte in an argument, variable
    /// or path; `EMFILE`, `EAGAIN`, `ENOMEM` from the clone; `EMFILE`/`ENFILE` for the
    /// pipes and `/dev/null` of [`Stdio`].
    pub fn spawn(&self) -> io::Result<Child> {
        self.spawn_with(Unset::INHERIT)
    }

    /// Runs the program to its end and collects its output, as std's `Command::output`:
    /// stdout and stderr piped and read (both at once: no deadlock however much the child
    /// writes), stdin `/dev/null` — unless set otherwise (a stream set to something else
    /// than [`Stdio::piped`] gives empty output). One `poll(2)` loop over the pipes and
    /// the pidfd; see [`Child::wait_with_output`] for a grandchild that keeps a pipe open
    /// (not waited for, unlike std: once everything the child wrote has been read, the read
    /// is given up [`Child::DRAIN_IDLE`] after the last data, [`Child::DRAIN_MAX`] after the
    /// exit at the latest — see there for what that does to the grandchild).
    ///
    /// Like std's, this returns only once the child has exited: a child that closes its
    /// stdout and stderr and goes on running blocks it for as long as it runs. Use
    /// [`Spawn::output_timeout`] to bound that. The output is kept in memory without a
    /// limit, as std's is.
    ///
    /// # Errors
    ///
    /// As [`Spawn::spawn`] (`NotFound` for a missing program) and
    /// [`Child::wait_with_output`].
    pub fn output(&mut self) -> io::Result<Output> {
        self.spawn_with(Unset::OUTPUT)?.wait_with_output()
    }

    /// [`Spawn::output`] with a deadline `timeout` from the spawn: a child still running
    /// then is sent `SIGKILL` (through its pidfd, never by a PID that could have been
    /// reused), reaped, and what it wrote until then is returned with
    /// [`TimedOutput::timed_out`] set — as a value, not an error, since the partial output
    /// is often what the caller needs. No zombie and no fd is left either way.
    ///
    /// # Errors
    ///
    /// As [`Spawn::output`]; see [`Child::wait_with_output_timeout`].
    ///
    /// # Example
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use std::time::Duration;
    /// use pidfd_core::Spawn;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let result = Spawn::new("sh")
    ///     .args(["-c", "echo started; exec sleep 1000"])
    ///     .output_timeout(Duration::from_millis(200))?;
    /// assert!(result.timed_out);
    /// assert_eq!(result.output.stdout, b"started\n");
    /// assert_eq!(result.output.status.signal(), Some(libc::SIGKILL));
    /// # Ok(())
    /// # }
    /// ```
    pub fn output_timeout(&mut self, timeout: Duration) -> io::Result<TimedOutput> {
        self.spawn_with(Unset::OUTPUT)?
            .wait_with_output_timeout(timeout)
    }

    /// Runs the program to its end and returns its exit status, as std's
    /// `Command::status`: stdin, stdout and stderr inherited unless set. A stream set to
    /// [`Stdio::piped`] is read and discarded (the child never blocks on a full pipe);
    /// piped stdin is closed at once (as std does), so a child that reads it sees end of
    /// file.
    ///
    /// # Errors
    ///
    /// As [`Spawn::spawn`] and [`Process::wait`].
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        let child = self.spawn_with(Unset::INHERIT)?;
        child.collect(None, false).map(|timed| timed.output.status)
    }

    /// [`Spawn::spawn`] with [`Spawn::output`]'s defaults for the streams not set (stdin
    /// `/dev/null`, stdout and stderr piped): the async `output()`s.
    #[cfg(any(feature = "tokio", feature = "async-io"))]
    pub(crate) fn spawn_for_output(&self) -> io::Result<Child> {
        self.spawn_with(Unset::OUTPUT)
    }

    /// Spawns with `defaults` for the streams that were not set.
    fn spawn_with(&self, defaults: [Unset; 3]) -> io::Result<Child> {
        let stdio = SpawnStdio::new(&self.stdio, defaults)?;
        // Borrows `stdio` (and the builder's fds) for as long as it lives: the compiler
        // keeps the fds its raw numbers name open until it is dropped.
        let prepared = Prepared::new(self, &stdio.sources(&self.stdio))?;
        let process = self.launch(&prepared)?;
        // Its copies first, then (consuming `stdio`) the parent's copies of the child's
        // ends are closed (else no end of file).
        drop(prepared);
        Ok(Child::new(
            process,
            stdio.into_parent_ends(),
            self.kill_on_drop,
        ))
    }

    /// Runs the strategies in turn (or the cgroup spawn).
    fn launch(&self, prepared: &Prepared) -> io::Result<Process> {
        if let Some(cgroup) = &self.cgroup {
            return spawn_into_cgroup(prepared, cgroup.as_raw_fd());
        }
        let mut strategy = Strategy::chosen()?;
        loop {
            match launch(prepared, strategy, None) {
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

/// A [`Spawn`] for what a `std::process::Command` holds that can be read back: the program,
/// the arguments, the variables set (`env`, `envs`) and removed (`env_remove`), and the
/// working directory.
///
/// What cannot carry over, because `Command` does not expose it: whether `env_clear` was
/// called (the variables set afterwards are taken, on top of the inherited environment —
/// call [`Spawn::env_clear`] and set them again if that matters), the stdio
/// configuration, `pre_exec` hooks, and what `std::os::unix::process::CommandExt` set
/// (`uid`, `gid`, `groups`, `process_group`, `arg0`): set those on the `Spawn`.
///
/// # Example
///
/// ```
/// use std::process::Command;
/// use pidfd_core::Spawn;
///
/// # fn main() -> std::io::Result<()> {
/// let mut command = Command::new("sh");
/// command.args(["-c", r#"exit "$CODE""#]).env("CODE", "7");
/// let process = Spawn::from(&command).spawn()?;
/// assert_eq!(process.wait()?.code(), Some(7));
/// # Ok(())
/// # }
/// ```
impl From<&std::process::Command> for Spawn {
    fn from(command: &std::process::Command) -> Spawn {
        let mut spawn = Spawn::new(command.get_program());
        spawn.args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => spawn.env(key, value),
                None => spawn.env_remove(key),
            };
        }
        if let Some(dir) = command.get_current_dir() {
            spawn.current_dir(dir);
        }
        spawn
    }
}
