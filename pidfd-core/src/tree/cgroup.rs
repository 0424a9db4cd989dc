//! The cgroup v2 backend of [`ProcessTree`](super::ProcessTree): a fresh directory, spawns
//! into it with `CLONE_INTO_CGROUP`, `cgroup.kill` or freeze-signal-thaw, and waits on
//! `cgroup.events`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::KillMethod;
use super::locate::{self, Cgroup2Mount};
use crate::sys::cgroup::{CGROUP2_SUPER_MAGIC, wait_priority};
use crate::sys::time::Deadline;
use crate::{Child, PidFd, Spawn, sys};

/// How long [`CgroupTree::signal_frozen`] waits for the kernel to report the tree frozen.
pub(super) const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one round of the freeze kill waits for the tree to freeze, and then to empty,
/// before it tries again.
const KILL_ROUND: Duration = Duration::from_secs(1);

/// Makes the names of the trees of one process unique.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// An `Unsupported` error with `message`.
fn unsupported(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, message)
}

/// A cgroup v2 directory created for one tree.
///
/// Every file of it is reached through its directory fd (`/proc/self/fd/N/...`), and it is
/// removed through its parent's: the tree keeps working when the path it was created at
/// stops leading to it (a lazily unmounted cgroup2 mount, a renamed parent).
#[derive(Debug)]
pub(super) struct CgroupTree {
    dir: PathBuf,
    /// The parent directory, opened `O_DIRECTORY`, and the tree's name in it.
    parent_fd: OwnedFd,
    name: std::ffi::OsString,
    /// The directory, opened `O_DIRECTORY`: what `CLONE_INTO_CGROUP` takes.
    dir_fd: OwnedFd,
    /// `cgroup.events`, read with `pread` at 0 and polled for `POLLPRI`.
    events: File,
}

/// The cgroup v2 mounts of this process (empty when /proc is unreadable).
fn mounts() -> Vec<Cgroup2Mount> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|text| locate::cgroup2_mounts(&text))
        .unwrap_or_default()
}

/// The directory of this process's own cgroup v2, or `Unsupported` naming what is missing.
fn own_cgroup_dir(mounts: &[Cgroup2Mount]) -> io::Result<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").map_err(|error| {
        unsupported(format!(
            "cannot read /proc/self/cgroup ({error}): is /proc mounted?"
        ))
    })?;
    let path = locate::unified_path(&text).ok_or_else(|| {
        unsupported(
            "this process is in no cgroup v2 (no `0::` line in /proc/self/cgroup): the \
             host uses cgroup v1 only"
                .into(),
        )
    })?;
    if mounts.is_empty() {
        return Err(unsupported(
            "no cgroup2 filesystem is mounted (none in /proc/self/mountinfo); mount one \
             (`mount -t cgroup2 none DIR`) and give a directory of it as the parent"
                .into(),
        ));
    }
    locate::directory_of(path, mounts).ok_or_else(|| {
        unsupported(format!(
            "no cgroup2 mount in /proc/self/mountinfo shows this process's cgroup {path}"
        ))
    })
}

impl CgroupTree {
    /// Creates a fresh cgroup directory under `parent`, or under this process's own cgroup v2
    /// when `None`.
    pub(super) fn create(parent: Option<&Path>) -> io::Result<CgroupTree> {
        let mounts = mounts();
        let (parent, default) = match parent {
            Some(parent) => (parent.to_owned(), false),
            None => (own_cgroup_dir(&mounts)?, true),
        };
        let parent_fd = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&parent)?;
        if sys::pidfd::fs_type(parent_fd.as_fd())? != CGROUP2_SUPER_MAGIC {
            return Err(unsupported(format!(
                "{} is not a cgroup v2 directory",
                parent.display()
            )));
        }
        let dir = loop {
            let name = format!(
                "pidfd-tree-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let dir = parent.join(name);
            match std::fs::create_dir(&dir) {
                Ok(()) => break dir,
                // Left over by an earlier process with our PID: take the next name.
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) if default && error.raw_os_error() == Some(libc::EROFS) => {
                    return Err(unsupported(format!(
                        "cannot create a cgroup under this process's cgroup {} ({error}): the \
                         cgroup filesystem is mounted read-only; give a writable cgroup v2 \
                         parent, or opt in to the process-group fallback",
                        parent.display()
                    )));
                }
                Err(error)
                    if default
                        && matches!(error.raw_os_error(), Some(libc::EACCES | libc::EPERM)) =>
                {
                    return Err(unsupported(format!(
                        "cannot create a cgroup under this process's cgroup {} ({error}): it is \
                         not delegated to this user; give a writable cgroup v2 parent, or opt \
                         in to the process-group fallback",
                        parent.display()
                    )));
                }
                Err(error) => return Err(error),
            }
        };
        let opened = (|| {
            let dir_fd = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY)
                .open(&dir)?;
            let events = File::open(dir.join("cgroup.events"))?;
            // A kernfs file polls ready until it is first read: read it once, so that
            // `events_fd` becomes ready at the first change, not at once.
            read_events(&events)?;
            io::Result::Ok((dir_fd, events))
        })();
        match opened {
            Ok((dir_fd, events)) => Ok(CgroupTree {
                parent_fd: parent_fd.into(),
                name: dir.file_name().unwrap_or_default().to_owned(),
                dir,
                dir_fd: dir_fd.into(),
                events,
            }),
            Err(error) => {
                let _ = std::fs::remove_dir(&dir);
                Err(error)
            }
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.dir
    }

    /// The file `name` of the directory, reached through the directory's fd.
    fn file(&self, name: &str) -> PathBuf {
        fd_path(self.dir_fd.as_fd()).join(name)
    }

    pub(super) fn events_fd(&self) -> BorrowedFd<'_> {
        self.events.as_fd()
    }

    /// Spawns `spawn` into the directory (`CLONE_INTO_CGROUP`).
    pub(super) fn spawn(&self, spawn: &mut Spawn) -> io::Result<Child> {
        spawn.cgroup(self.dir_fd.try_clone()?).spawn()
    }

    /// `populated` of `cgroup.events`, read through an open file of its own: a read of the
    /// file [`CgroupTree::events_fd`] gives out would re-arm its `POLLPRI` notification,
    /// and an event loop registered on it would miss the change it was about to see.
    pub(super) fn is_populated(&self) -> io::Result<bool> {
        let events = File::open(self.file("cgroup.events"))?;
        read_events(&events).map(|(populated, _)| populated)
    }

    /// Waits until `done` holds of `cgroup.events`' `(populated, frozen)`: one blocking
    /// `poll(POLLPRI)` per change of the file, none per process exit. Each wait reads and
    /// polls an open file of its own: a read through a shared one by another thread (or the
    /// caller's event loop) between this one's read and poll would consume the notification.
    fn wait_until(
        &self,
        timeout: Option<Duration>,
        done: impl Fn((bool, bool)) -> bool,
    ) -> io::Result<bool> {
        let deadline = Deadline::after(timeout);
        let events = File::open(self.file("cgroup.events"))?;
        loop {
            if done(read_events(&events)?) {
                return Ok(true);
            }
            let remaining = deadline.remaining();
            if remaining.is_some_and(|left| left.is_zero()) {
                return Ok(false);
            }
            match wait_priority(events.as_fd(), remaining) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                result => drop(result?),
            }
        }
    }

    pub(super) fn wait_empty(&self, timeout: Option<Duration>) -> io::Result<bool> {
        self.wait_until(timeout, |(populated, _)| !populated)
    }

    /// The PIDs of every process in the directory and its sub-cgroups.
    pub(super) fn pids(&self) -> io::Result<Vec<u32>> {
        let mut pids = Vec::new();
        collect_pids(&fd_path(self.dir_fd.as_fd()), &mut pids)?;
        Ok(pids)
    }

    /// Writes `value` to the directory's file `name`.
    fn write(&self, name: &str, value: &str) -> io::Result<()> {
        OpenOptions::new()
            .write(true)
            .open(self.file(name))?
            .write_all(value.as_bytes())
    }

    /// SIGKILL to every process: `cgroup.kill` (Linux 5.14+), else (or with
    /// [`KillMethod::Freeze`]) rounds of freeze-signal-thaw until the tree is empty.
    pub(super) fn kill(&self, method: KillMethod) -> io::Result<()> {
        if method != KillMethod::Freeze {
            match self.write("cgroup.kill", "1") {
                Ok(()) => return Ok(()),
                Err(error)
                    if error.kind() == io::ErrorKind::NotFound && method == KillMethod::Auto => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    return Err(unsupported(format!(
                        "{} has no cgroup.kill (Linux 5.14+)",
                        self.dir.display()
                    )));
                }
                Err(error) => return Err(error),
            }
        }
        self.kill_in_rounds()
    }

    /// The freeze kill: freeze, `SIGKILL` each member through a pidfd, restore the freeze
    /// state — again while the tree is still populated once the killed members had
    /// [`KILL_ROUND`] to go (a round whose freeze did not complete may have missed a member
    /// forked meanwhile), up to [`FREEZE_TIMEOUT`] in all. Returns once the tree is empty.
    fn kill_in_rounds(&self) -> io::Result<()> {
        let deadline = Deadline::after(Some(FREEZE_TIMEOUT));
        loop {
            let round = deadline.remaining().map(|left| left.min(KILL_ROUND));
            let last_error = match self.signal_frozen_within(libc::SIGKILL, round) {
                Ok(_) => None,
                // The freeze file missing or unwritable: no round will do better.
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
                    ) =>
                {
                    return Err(error);
                }
                Err(error) => Some(error),
            };
            let round = deadline.remaining().map(|left| left.min(KILL_ROUND));
            if self.wait_empty(round)? {
                return Ok(());
            }
            if deadline.remaining().is_some_and(|left| left.is_zero()) {
                return Err(last_error.unwrap_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "{} still has processes {FREEZE_TIMEOUT:?} after they were sent \
                             SIGKILL (a process in uninterruptible sleep?)",
                            self.dir.display()
                        ),
                    )
                }));
            }
        }
    }

    /// Freezes the tree (`cgroup.freeze`, Linux 5.2+), waits for `frozen 1`, sends `signal`
    /// through a pidfd to each process listed while frozen (so none can fork or exec in
    /// between), and puts `cgroup.freeze` back as it was (a tree the caller froze stays
    /// frozen). Returns how many processes were signalled.
    pub(super) fn signal_frozen(&self, signal: i32) -> io::Result<usize> {
        self.signal_frozen_within(signal, Some(FREEZE_TIMEOUT))
    }

    /// [`CgroupTree::signal_frozen`], waiting up to `timeout` for `frozen 1`.
    fn signal_frozen_within(&self, signal: i32, timeout: Option<Duration>) -> io::Result<usize> {
        let was_frozen = match std::fs::read_to_string(self.file("cgroup.freeze")) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(unsupported(format!(
                    "{} has no cgroup.freeze (Linux 5.2+)",
                    self.dir.display()
                )));
            }
            result => result?.trim() == "1",
        };
        if !was_frozen {
            self.write("cgroup.freeze", "1")?;
        }
        let result = self.signal_while_frozen(signal, timeout);
        let restored = if was_frozen {
            Ok(())
        } else {
            self.write("cgroup.freeze", "0")
        };
        let count = result?;
        restored?;
        Ok(count)
    }

    /// With the tree frozen (or freezing): a pidfd for each PID listed, then a second
    /// listing, and `signal` to each pidfd whose PID is still listed. A pidfd names one
    /// process for good, and a PID listed after its pidfd was opened is the process of that
    /// pidfd (which cannot have exited and handed its PID on in between — or, if it has, the
    /// signal fails with `ESRCH` and reaches no one). No `/proc/<pid>/cgroup` paths: PIDs
    /// are those of this process's PID namespace, as `cgroup.procs` shows them to the
    /// opener; 0 (a member outside this namespace) is skipped. A failure for one PID does
    /// not stop the others: the first error is returned at the end.
    fn signal_while_frozen(&self, signal: i32, timeout: Option<Duration>) -> io::Result<usize> {
        let frozen = self.wait_until(timeout, |(_, frozen)| frozen)?;
        let mut first_error = None;
        let mut pidfds = Vec::new();
        for pid in self.pids()? {
            if pid == 0 {
                continue;
            }
            match PidFd::open(pid) {
                Ok(pidfd) => pidfds.push((pid, pidfd)),
                // Gone since the listing (killed from outside): nothing to signal.
                Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {}
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        let listed: std::collections::HashSet<u32> = self.pids()?.into_iter().collect();
        let mut count = 0;
        for (pid, pidfd) in &pidfds {
            if !listed.contains(pid) {
                continue;
            }
            super::signal_member(pidfd, signal, &mut count, &mut first_error);
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        if frozen {
            Ok(count)
        } else {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} did not report `frozen 1` within {timeout:?}; the processes listed \
                     were signalled, new ones may have been missed",
                    self.dir.display()
                ),
            ))
        }
    }

    /// Removes the directory (and sub-cgroups a member created), deepest first.
    pub(super) fn remove(&self) -> io::Result<()> {
        remove_contents(&fd_path(self.dir_fd.as_fd()))?;
        match std::fs::remove_dir(fd_path(self.parent_fd.as_fd()).join(&self.name)) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            result => result,
        }
    }
}

/// `(populated, frozen)` of a `cgroup.events` file, read from its start with `pread` (which
/// also re-arms the file's `POLLPRI` notification for this open file).
fn read_events(events: &File) -> io::Result<(bool, bool)> {
    let mut buf = [0_u8; 256];
    let mut len = 0;
    loop {
        let read = match events.read_at(&mut buf[len..], len as u64) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            result => result?,
        };
        len += read;
        if read == 0 || len == buf.len() {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf[..len]);
    locate::parse_events(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected cgroup.events contents: {text:?}"),
        )
    })
}

/// Appends the PIDs of `cgroup.procs` of `dir` and of its sub-cgroups to `pids`.
///
/// A threaded sub-cgroup (`cgroup.type` `threaded`, which a member may make) refuses reads
/// of its `cgroup.procs` with `EOPNOTSUPP`: it holds threads, not processes, and the
/// processes of those threads are listed by its threaded domain — this directory or a
/// sub-cgroup of it, read on the way.
fn collect_pids(dir: &Path, pids: &mut Vec<u32>) -> io::Result<()> {
    let procs = match std::fs::read_to_string(dir.join("cgroup.procs")) {
        Err(error) if error.raw_os_error() == Some(libc::EOPNOTSUPP) => String::new(),
        result => result?,
    };
    pids.extend(
        procs
            .lines()
            .filter_map(|line| line.trim().parse::<u32>().ok()),
    );
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            match collect_pids(&entry.path(), pids) {
                // Removed meanwhile.
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                result => result?,
            }
        }
    }
    Ok(())
}

/// `/proc/self/fd/N` of `fd`: a path to the very file `fd` is open on.
fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    use std::os::fd::AsRawFd as _;
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Removes the sub-cgroups of `dir`, deepest first.
fn remove_contents(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            let path = entry.path();
            remove_contents(&path)?;
            match std::fs::remove_dir(&path) {
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                result => result?,
            }
        }
    }
    Ok(())
}
