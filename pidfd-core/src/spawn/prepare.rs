//! Everything the child needs, as C data prepared before the clone: argv, envp and the
//! PATH search candidates (each a [`CStringArray`]), the working directory, the stdio
//! sources, the file actions and the signal sets. No `unsafe` here: the raw calls it needs
//! are `super::sys`'s.

use std::ffi::{CString, OsString};
use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::ptr;

use pidfd_sys::Errno;

use super::sys::{KeepDumpable, SpawnFd, dup_above, fd_limit, getpid, parent_environ, signal_set};
use super::{Attributes, FileAction, Spawn};

/// Everything the child needs, as C data prepared before the clone. Only ever reached
/// through a [`PreparedFor`], which ties it to the fds its `stdio` numbers name.
pub(super) struct Prepared {
    /// Paths to try in order (one, or the PATH search candidates).
    pub(super) candidates: CStringArray,
    pub(super) argv: CStringArray,
    /// The child's environment; `None`: the parent's `environ`, read at clone time (no
    /// copy, as `posix_spawn` callers pass it).
    envp: Option<CStringArray>,
    pub(super) cwd: Option<CString>,
    /// The fds to install on 0, 1, 2 (-1: inherit). None of them is <= 2 unless it is its
    /// own target: a source on a lower slot would be replaced by an earlier slot's dup2
    /// (fd 0 holding the stdout file, stdin `/dev/null`) — those are moved above 2 first.
    pub(super) stdio: [RawFd; 3],
    /// The parent-side copies made for `stdio` (closed when the spawn is over).
    _stdio_moved: Vec<SpawnFd>,
    /// The exec-error pipe's write end is moved to this number or above: past every fd a
    /// file action names, so no action can replace or close it (as musl does).
    pub(super) pipe_floor: RawFd,
    pub(super) setsid: bool,
    pub(super) process_group: Option<libc::pid_t>,
    /// The child's signal mask, if set (else the parent's).
    pub(super) signal_mask: Option<libc::sigset_t>,
    /// Signals set to SIG_DFL in the child.
    pub(super) default_signals: libc::sigset_t,
    pub(super) file_actions: Vec<ChildFileAction>,
    /// The ID changes, in the child after the file actions.
    pub(super) credentials: Credentials,
    /// The parent-death signal and the PID its parent must still have (this process's).
    pub(super) parent_death: Option<ParentDeath>,
    /// Puts this process's dumpable flag back after a child that changes its IDs.
    _keep_dumpable: Option<KeepDumpable>,
}

/// A [`Prepared`] that borrows, for `'a`, the fds its raw `stdio` numbers name (the pipes
/// and `/dev/null` of the spawn, the builder's own stdio fds): the compiler keeps them open
/// for as long as this lives, so no child can be launched from numbers that were closed
/// (or reused) already. Derefs to the [`Prepared`], which the launchers take.
///
/// (The lifetime is on this wrapper rather than on `Prepared` itself so that the launchers'
/// `&Prepared` signatures stay as they are.)
pub(super) struct PreparedFor<'a> {
    prepared: Prepared,
    _fds: PhantomData<[BorrowedFd<'a>; 3]>,
}

impl Deref for PreparedFor<'_> {
    type Target = Prepared;

    fn deref(&self) -> &Prepared {
        &self.prepared
    }
}

impl Drop for PreparedFor<'_> {
    /// Nothing beyond the fields' own drops (the moved stdio copies are closed there): the
    /// impl makes the drop itself a use of `'a`, so the borrowed fds must outlive it too.
    fn drop(&mut self) {}
}

/// The ID changes the child makes, in this order (std's): `setgroups(groups)`, `setgid`,
/// then — only with a `uid` and no `groups` — `setgroups(0, NULL)` with `EPERM` ignored,
/// then `setuid`.
#[derive(Debug, Default)]
pub(super) struct Credentials {
    pub(super) groups: Option<Vec<libc::gid_t>>,
    pub(super) gid: Option<libc::gid_t>,
    pub(super) uid: Option<libc::uid_t>,
}

/// `prctl(PR_SET_PDEATHSIG, signal)` in the child, then the check that its parent is still
/// `parent`.
#[derive(Debug, Clone, Copy)]
pub(super) struct ParentDeath {
    pub(super) signal: libc::c_int,
    pub(super) parent: libc::pid_t,
}

/// NUL-terminated C strings and a NULL-terminated array of pointers to them, as `execve`
/// takes argv and envp (like std's `CStringArray`): one owner for argv, envp and the PATH
/// search candidates. The pointers stay valid as long as the array: each `CString` keeps
/// its heap buffer where it is when it moves into `_items`.
pub(super) struct CStringArray {
    /// The strings (owned only: `ptrs` points into them).
    _items: Vec<CString>,
    /// A pointer to each of `_items`, in order, then NULL.
    ptrs: Vec<*const libc::c_char>,
}

impl CStringArray {
    /// The NULL-terminated pointer array, valid while `self` lives.
    pub(super) fn as_ptr(&self) -> *const *const libc::c_char {
        self.ptrs.as_ptr()
    }
}

impl FromIterator<CString> for CStringArray {
    fn from_iter<I: IntoIterator<Item = CString>>(strings: I) -> CStringArray {
        let items: Vec<CString> = strings.into_iter().collect();
        let ptrs = items
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(ptr::null()))
            .collect();
        CStringArray {
            _items: items,
            ptrs,
        }
    }
}

/// A file action as C data for the child.
pub(super) type ChildFileAction = FileAction<CString>;

/// The raw stdio sources for the child, with every source <= 2 that is not its own target
/// replaced by a close-on-exec copy above 2 (std does the same): the child installs slot 0
/// first, which would otherwise replace a later slot's source 0 (the parent had fd 0 closed
/// and the stdout file landed there). Returns the copies to keep open during the spawn.
fn stdio_sources(stdio: &[Option<BorrowedFd<'_>>; 3]) -> io::Result<([RawFd; 3], Vec<SpawnFd>)> {
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

/// The ID changes asked for, `InvalidInput` for `u32::MAX` (`(uid_t)-1`, never an ID).
fn credentials(attributes: &Attributes) -> io::Result<Credentials> {
    let ids = attributes
        .uid
        .iter()
        .chain(&attributes.gid)
        .chain(attributes.groups.iter().flatten());
    if ids.into_iter().any(|&id| id == u32::MAX) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "user or group ID u32::MAX ((uid_t)-1) is not an ID",
        ));
    }
    Ok(Credentials {
        groups: attributes.groups.clone(),
        gid: attributes.gid,
        uid: attributes.uid,
    })
}

/// The parent-death signal asked for, with this process's PID; `InvalidInput` for a number
/// outside `1..=NSIG`.
fn parent_death(attributes: &Attributes) -> io::Result<Option<ParentDeath>> {
    let Some(signal) = attributes.parent_death_signal else {
        return Ok(None);
    };
    if !(1..=pidfd_sys::signal::NSIG).contains(&signal) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid parent-death signal {signal}"),
        ));
    }
    Ok(Some(ParentDeath {
        signal,
        parent: getpid(),
    }))
}

fn c_string(bytes: impl Into<Vec<u8>>) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in spawn argument"))
}

impl Prepared {
    /// `stdio`: the fd each of the child's stdin, stdout, stderr is installed from
    /// (`None`: inherited), borrowed by the result for as long as it lives.
    #[expect(
        clippy::new_ret_no_self,
        reason = "a Prepared exists only inside the PreparedFor that ties it to its fds"
    )]
    pub(super) fn new<'a>(
        spawn: &Spawn,
        stdio: &[Option<BorrowedFd<'a>>; 3],
    ) -> io::Result<PreparedFor<'a>> {
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
            let strings: CStringArray = env
                .iter()
                .map(|(key, value)| {
                    let mut entry = key.as_bytes().to_vec();
                    entry.push(b'=');
                    entry.extend_from_slice(value.as_bytes());
                    c_string(entry)
                })
                .collect::<io::Result<_>>()?;
            Some(strings)
        };
        let program = spawn.program.as_bytes();
        let candidates: CStringArray = if program.contains(&b'/') {
            std::iter::once(c_string(program)?).collect()
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
        let arg0 = spawn.arg0.as_ref().map_or(program, |arg0| arg0.as_bytes());
        let argv: CStringArray = std::iter::once(c_string(arg0)?)
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
        let credentials = credentials(&spawn.attributes)?;
        let parent_death = parent_death(&spawn.attributes)?;
        let (stdio, stdio_moved) = stdio_sources(stdio)?;
        check_file_action_fds(&spawn.file_actions)?;
        let pipe_floor = spawn
            .file_actions
            .iter()
            .flat_map(FileAction::fds)
            .fold(2, RawFd::max)
            .saturating_add(1);
        let prepared = Prepared {
            candidates,
            argv,
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
            // Last: held from here until the spawn is over (the child exec'd or exited).
            _keep_dumpable: (credentials.uid.is_some() || credentials.gid.is_some())
                .then(KeepDumpable::new),
            credentials,
            parent_death,
        };
        Ok(PreparedFor {
            prepared,
            _fds: PhantomData,
        })
    }
}

impl Prepared {
    /// The `envp` to exec with: the prepared one, or the parent's `environ` right now
    /// (see [`parent_environ`] for the race that rules out).
    pub(super) fn envp(&self) -> *const *const libc::c_char {
        match &self.envp {
            Some(strings) => strings.as_ptr(),
            None => parent_environ(),
        }
    }
}
