//! [`Reaper`]: wait for the exit of many processes at once through one `epoll` fd.
//!
//! Its `epoll`, `eventfd`, `signalfd` and `poll` calls go through [`crate::sys`]. This
//! module holds the API and the entries; the `SIGCHLD` fallback for pid-mode children is in
//! `pid_mode`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::process::ExitStatus;
use std::time::Duration;

use crate::sys::time::{Deadline, PID_MODE_RECHECK, capped};
use crate::sys::{epoll, eventfd, poll};
use crate::{Mode, PidFd, Process};

mod entry;
pub(crate) mod pid_mode;

pub use entry::{EntryError, Exit, Key, Watched};

/// The epoll key of the wake-up eventfd.
const WAKE_KEY: u64 = 0;

/// The epoll key of the `SIGCHLD` signalfd (pid-mode entries); entry keys start after it.
const SIGCHLD_KEY: u64 = 1;

/// How many readiness events one `epoll_wait` collects.
const EVENT_BATCH: usize = 64;

/// What the reaper keeps per entry.
///
/// The fd registered with epoll (`EPOLLIN | EPOLLONESHOT`) is the entry's own: a
/// [`PidFd`] entry's fd, or a pidfd-mode [`Process`]'s fd. When the reaper reaps a
/// `Process`, the `Process` closes that fd, which releases the open file and so removes the
/// registration with no `epoll_ctl` call; `EPOLLONESHOT` makes sure that even a registration
/// kept alive by a duplicate the user made reports at most once. (The exception: an entry
/// switched to edge-triggered, a traced child's zombie. With a duplicate kept elsewhere its
/// registration outlives the reap, and the wake-up of the reap itself (Linux 6.9+) can make
/// the epoll fd readable once more, for a key the reaper no longer has: `try_next_exit` then
/// returns `Ok(None)`.) A `Process` added already reaped, and a pid-mode `Process`, register
/// nothing.
struct Entry<T> {
    token: T,
    watched: Watched,
}

impl<T> Entry<T> {
    /// Runs `f` with the entry's registered fd while it is open: `None` for a pid-mode or
    /// reaped `Process` (no fd, or closed by the reap, which removed the registration).
    fn with_fd<R>(&self, f: impl FnOnce(BorrowedFd<'_>) -> R) -> Option<R> {
        match &self.watched {
            Watched::PidFd(pidfd) => Some(f(pidfd.as_fd())),
            Watched::Process(process) if process.mode() == Mode::PidFd => {
                process.with_pidfd(|pidfd| f(pidfd.as_fd())).ok()
            }
            Watched::Process(_) => None,
        }
    }
}

/// Waits for the exit of many processes at once: one `epoll` instance with every pidfd
/// registered for `EPOLLIN` (a pidfd becomes readable when its process exits; Linux 5.3+),
/// each entry carrying a user token `T`. Children are reaped with `waitid(P_PIDFD)` (Linux
/// 5.4+) as their exits are reported, so each costs O(1) work however many are watched —
/// unlike a `SIGCHLD` handler that must try every outstanding child.
///
/// * [`Reaper::next_exit`] blocks (with an optional timeout) for the next exit;
///   [`Reaper::try_next_exit`] never blocks.
/// * The reaper is [`AsFd`]: register its epoll fd with any event loop; when it is
///   readable, call [`Reaper::try_next_exit`] until it returns `Ok(None)`.
/// * Each exit is reported exactly once, then the entry is gone. Processes that exited (or
///   were reaped) before being added are reported at once. A removed entry is never
///   reported, even if its process had already exited.
/// * Processes that are not our children (e.g. a grandchild opened with [`PidFd::open`])
///   are reported when they exit, with the status only when the kernel keeps it
///   (`PIDFD_INFO_EXIT`, Linux 6.15+, once the real parent reaped it), else `None`.
///
/// # Pid mode (no pidfds: kernel before 5.4, seccomp, `PIDFD_DISABLE=1`, qemu-user)
///
/// A [`Process`] in [`Mode::Pid`] that is our child is watched by PID: the reaper opens a
/// `signalfd` for `SIGCHLD` (registered in the same epoll set) and, whenever it fires — and
/// at least every 50 ms while pid-mode entries exist — tries `waitid(P_PID, WNOHANG)` on
/// every pid-mode entry. This fallback is **process-wide** in two ways: a process-directed
/// `SIGCHLD` reaches the signalfd only if every thread of the process blocks `SIGCHLD`
/// (block it at the start of `main`, before any thread starts, for prompt reports; the
/// reaper itself never changes a signal mask or disposition, so without that, exits are
/// found by the 50 ms re-check), and its cost is O(pid-mode entries) per wake-up, like any
/// `SIGCHLD` loop. An event loop driving a reaper with pid-mode entries through [`AsFd`]
/// must also call [`Reaper::try_next_exit`] every 50 ms unless `SIGCHLD` is blocked in every
/// thread. A pid-mode process that is not our child cannot be waited for at all: refused with
/// `ErrorKind::Unsupported`.
///
/// # Traced children
///
/// A child traced by another process (a debugger, `strace`) has a readable pidfd as soon as it
/// exits, but can be reaped only once its tracer waited for it. Such an entry's registration
/// is switched from one-shot to edge-triggered (re-arming it one-shot would report it again at
/// once, and the reaper would spin): it is reported again when the tracer's wait (or its
/// detach, or its exit) notifies the pidfd, and reaped then. Meanwhile the other entries are
/// reported as usual, and nothing polls.
///
/// No thread, no signal handler, and no change to the signal mask or any disposition: the
/// reaper does work only inside its own calls. It uses one fd for the epoll instance, one
/// lazily created eventfd and one lazily created signalfd (pid mode only); each entry's own
/// pidfd is registered as is (one-shot; edge-triggered for a traced child's zombie), so
/// watching N processes needs N + 3 fds in all.
/// Per exit it makes one `waitid` and, amortised, part of one `epoll_wait`; reaping a
/// [`Process`] closes its pidfd, which also ends the registration.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use pidfd_core::{Reaper, Spawn};
///
/// # fn main() -> std::io::Result<()> {
/// let mut reaper = Reaper::new()?;
/// for code in [3, 5, 7] {
///     let process = Spawn::new("sh").args(["-c", &format!("exit {code}")]).spawn()?.into_process();
/// #   if process.mode() != pidfd_core::Mode::PidFd { return Ok(()); } // kernel < 5.4
///     reaper.add(process, code)?;
/// }
/// let mut seen = Vec::new();
/// while let Some(exit) = reaper.next_exit(Some(Duration::from_secs(10)))? {
///     assert_eq!(exit.status.and_then(|status| status.code()), Some(exit.token));
///     seen.push(exit.token);
/// }
/// seen.sort();
/// assert_eq!(seen, [3, 5, 7]);
/// assert!(reaper.is_empty());
/// # Ok(())
/// # }
/// ```
pub struct Reaper<T> {
    epoll: OwnedFd,
    entries: HashMap<u64, Entry<T>>,
    next_key: u64,
    /// Keys epoll reported readable, not yet looked at (stale keys are skipped).
    ready: VecDeque<u64>,
    /// Entries without an fd (added already reaped), reported before anything else.
    pending: VecDeque<u64>,
    /// Readable while `pending` is not empty, so that the epoll fd is readable too.
    wake: Option<OwnedFd>,
    /// Keys of the pid-mode entries, checked by PID on every wake-up.
    pid_mode: HashSet<u64>,
    /// The pid-mode keys not yet looked at in the current round (refilled when empty).
    pid_round: VecDeque<u64>,
    /// A signalfd for `SIGCHLD`, created with the first pid-mode entry.
    sigchld: Option<OwnedFd>,
    /// Entries whose pidfd was readable with nothing to reap (a traced child's zombie,
    /// until its tracer waited), registered edge-triggered since: see "Traced children".
    edge_triggered: HashSet<u64>,
}

impl<T> fmt::Debug for Reaper<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reaper")
            .field("epoll", &self.epoll.as_raw_fd())
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// `epoll_ctl(op)` for `fd` with `key` as the user data: `EPOLLIN`, and `EPOLLONESHOT` for
/// the entries' pidfds (`oneshot`; switched to edge-triggered with `EPOLL_CTL_MOD` after
/// readiness with nothing to reap: see [`Reaper`], "Traced children").
fn epoll_ctl(
    epoll: &OwnedFd,
    op: libc::c_int,
    fd: BorrowedFd<'_>,
    key: u64,
    oneshot: bool,
) -> io::Result<()> {
    let mut events = libc::EPOLLIN as u32;
    if oneshot {
        events |= libc::EPOLLONESHOT as u32;
    }
    epoll::ctl(epoll.as_fd(), op, fd, events, key)
}

/// Whether `fd` is readable right now (for a pidfd: the process has exited); `EINTR` is
/// retried.
fn readable_now(fd: BorrowedFd<'_>) -> io::Result<bool> {
    loop {
        match poll::readable(fd, Some(Duration::ZERO)) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// What looking at one readable entry found.
enum EntryCheck {
    /// Exited; `Some` status when known.
    Exited(Option<ExitStatus>),
    /// Not reapable yet: still running (spurious readiness), or a traced child's zombie
    /// whose tracer has not waited.
    Running,
}

/// Maps the result of a non-blocking reap. `ECHILD` (not our child, or reaped elsewhere with
/// no status kept) counts as an exit only if the pidfd really is readable (`readable`:
/// `None` when the entry has no fd left).
fn classify_reap(
    result: io::Result<Option<ExitStatus>>,
    readable: impl FnOnce() -> Option<io::Result<bool>>,
) -> io::Result<EntryCheck> {
    match result {
        Ok(Some(status)) => Ok(EntryCheck::Exited(Some(status))),
        Ok(None) => Ok(EntryCheck::Running),
        Err(error) if error.raw_os_error() == Some(libc::ECHILD) => match readable() {
            Some(Ok(false)) => Ok(EntryCheck::Running),
            Some(Ok(true)) | None => Ok(EntryCheck::Exited(None)),
            Some(Err(error)) => Err(error),
        },
        // Reaped, but the status has no `ExitStatus` form (mips: killed by signal 127 or
        // 128): reported as an exit with no status — the entry's `Process` gives the
        // `InvalidData` error on every wait — instead of an error for good, each time.
        Err(error) if error.kind() == io::ErrorKind::InvalidData => Ok(EntryCheck::Exited(None)),
        Err(error) => Err(error),
    }
}

impl<T> Reaper<T> {
    /// An empty reaper: `epoll_create1(EPOLL_CLOEXEC)`.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE`/`ENOMEM` from `epoll_create1`.
    pub fn new() -> io::Result<Reaper<T>> {
        let epoll = epoll::create()?;
        Ok(Reaper {
            epoll,
            entries: HashMap::new(),
            next_key: SIGCHLD_KEY + 1,
            ready: VecDeque::new(),
            pending: VecDeque::new(),
            wake: None,
            pid_mode: HashSet::new(),
            pid_round: VecDeque::new(),
            sigchld: None,
            edge_triggered: HashSet::new(),
        })
    }

    /// How many entries are watched (added, and neither reported nor removed).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is watched.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn new_key(&mut self) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        key
    }

    /// Watches `process`; its exit will be reported once with `token`. In [`Mode::PidFd`]
    /// the reaper registers the process's pidfd; a [`Mode::Pid`] child is checked
    /// by PID (see [`Reaper`], "Pid mode"). A process that was already reaped through this
    /// handle is reported at once with its cached status.
    ///
    /// Takes a [`Process`] or anything that converts into one — a [`crate::Child`] straight
    /// from [`crate::Spawn::spawn`] (its pipe ends are closed and its kill-on-drop guard
    /// given up, as [`crate::Child::into_process`] does).
    ///
    /// # Errors
    ///
    /// `Unsupported` for a pid-mode process that is not our child; `EBADF` after
    /// [`Process::release`]; `EMFILE`/`ENFILE` (the signalfd, or the wake-up eventfd);
    /// `ENOSPC` past the per-user epoll watch limit. On error the process handle is dropped
    /// (which releases it; the process itself is not touched).
    pub fn add(&mut self, process: impl Into<Process>, token: T) -> io::Result<Key> {
        let process = process.into();
        if process.mode() == Mode::Pid {
            return self.add_by_pid(process, token);
        }
        let key = self.new_key();
        let registered = process
            .with_pidfd(|pidfd| epoll_ctl(&self.epoll, epoll::CTL_ADD, pidfd.as_fd(), key, true));
        match registered {
            Ok(registered) => registered?,
            // Reaped through this handle before being added: the status is cached.
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {
                self.signal_pending()?;
                self.pending.push_back(key);
            }
            Err(error) => return Err(error),
        }
        let watched = Watched::Process(process);
        self.entries.insert(key, Entry { token, watched });
        Ok(Key(key))
    }

    /// Watches the process `pidfd` refers to (a child, or any other process); its exit will
    /// be reported once with `token`.
    ///
    /// # Errors
    ///
    /// `EPERM`/`EINVAL` if `pidfd` cannot be polled (not a pidfd); `ENOSPC` past the
    /// per-user epoll watch limit. On error the pidfd is closed.
    pub fn add_pidfd(&mut self, pidfd: PidFd, token: T) -> io::Result<Key> {
        let key = self.new_key();
        epoll_ctl(&self.epoll, epoll::CTL_ADD, pidfd.as_fd(), key, true)?;
        self.entries.insert(
            key,
            Entry {
                token,
                watched: Watched::PidFd(pidfd),
            },
        );
        Ok(Key(key))
    }

    /// Stops watching the entry `key` and gives back its token and handle, or `None` if
    /// the key is unknown (already reported, already removed). A removed entry is never
    /// reported, even if its process exited before the removal: the process is then left
    /// unreaped for the caller (reap it through the returned handle).
    pub fn remove(&mut self, key: Key) -> Option<(T, Watched)> {
        let entry = self.entries.remove(&key.0)?;
        self.pid_mode.remove(&key.0);
        self.edge_triggered.remove(&key.0);
        self.unregister(&entry);
        // A stale key left in `ready` or `pending` is skipped later.
        Some((entry.token, entry.watched))
    }

    /// Takes an entry out of epoll while its fd is open (the handle goes back to the
    /// caller, who may add it again). Nothing to do for a reaped `Process`: its fd was
    /// closed, which removed the registration.
    fn unregister(&self, entry: &Entry<T>) {
        entry.with_fd(|fd| {
            // ENOENT for a pidfd-mode Process added already reaped (never registered) is
            // impossible (with_fd is None then); any other failure leaves at worst a
            // disarmed one-shot registration, which never reports (or an edge-triggered
            // one, whose reports name a key the reaper no longer has).
            let _ = epoll_ctl(&self.epoll, epoll::CTL_DEL, fd, 0, false);
        });
    }

    /// How soon an event loop that waits on the epoll fd ([`AsFd`]) must call
    /// [`Reaper::try_next_exit`] again even if the fd does not become readable: every 50 ms
    /// while pid-mode entries are watched (see [`Reaper`], "Pid mode"; not needed where
    /// every thread blocks `SIGCHLD`), `None` otherwise (only when the fd is readable).
    /// [`Reaper::next_exit`] does this itself.
    pub fn recheck_after(&self) -> Option<Duration> {
        (!self.pid_mode.is_empty()).then_some(PID_MODE_RECHECK)
    }

    /// Switches the registration of an entry that was reported readable but could not be
    /// reaped to `EPOLLIN | EPOLLET` (see "Traced children").
    fn watch_edges(&self, key: u64) -> io::Result<()> {
        let Some(entry) = self.entries.get(&key) else {
            return Ok(());
        };
        // The bits as the kernel's `u32` (EPOLLET is bit 31, negative as libc's `c_int`).
        let events = u32::from_ne_bytes((libc::EPOLLIN | libc::EPOLLET).to_ne_bytes());
        entry
            .with_fd(|fd| epoll::ctl(self.epoll.as_fd(), epoll::CTL_MOD, fd, events, key))
            .unwrap_or(Ok(()))
    }

    /// Makes the wake-up eventfd readable (creating and registering it on first use).
    fn signal_pending(&mut self) -> io::Result<()> {
        let fd = match &self.wake {
            Some(fd) => fd.as_fd(),
            None => {
                let fd = eventfd::nonblocking()?;
                epoll_ctl(&self.epoll, epoll::CTL_ADD, fd.as_fd(), WAKE_KEY, false)?;
                let fd: &OwnedFd = self.wake.insert(fd);
                fd.as_fd()
            }
        };
        match eventfd::add(fd, 1) {
            // EAGAIN (counter saturated) still leaves it readable.
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(()),
            result => result,
        }
    }

    /// Resets the wake-up eventfd (when `pending` became empty).
    fn clear_pending(&self) {
        if let Some(fd) = &self.wake {
            // EAGAIN (already reset) is fine.
            let _ = eventfd::take(fd.as_fd());
        }
    }

    /// Looks at the entry `key`: reaps it if it exited.
    fn check_entry(&mut self, key: u64) -> io::Result<Option<Exit<T>>> {
        let Some(entry) = self.entries.get(&key) else {
            return Ok(None); // removed (or reported) since it became ready
        };
        // Readable (or pid mode, or added reaped): reap without another poll first.
        let result = match &entry.watched {
            Watched::Process(process) => process.reap_if_exited(),
            Watched::PidFd(pidfd) => pidfd.try_wait(),
        };
        let outcome = classify_reap(result, || entry.with_fd(readable_now))
            .map_err(|error| EntryError::wrap(Key(key), error))?;
        let EntryCheck::Exited(status) = outcome else {
            // Readable with nothing to reap (a traced child's zombie, until its tracer
            // waited): edge-triggered from now on (see "Traced children"); the switch itself
            // reports it once more, which lands here again and changes nothing. Pid-mode
            // entries have no registration.
            if !self.pid_mode.contains(&key) && !self.edge_triggered.contains(&key) {
                self.watch_edges(key)
                    .map_err(|error| EntryError::wrap(Key(key), error))?;
                self.edge_triggered.insert(key);
            }
            return Ok(None);
        };
        let Some(entry) = self.entries.remove(&key) else {
            return Ok(None);
        };
        self.pid_mode.remove(&key);
        self.edge_triggered.remove(&key);
        self.unregister(&entry);
        Ok(Some(Exit {
            key: Key(key),
            token: entry.token,
            status,
            watched: entry.watched,
        }))
    }

    /// Reports an exit from the keys already known to be ready, if any.
    fn drain(&mut self) -> io::Result<Option<Exit<T>>> {
        while let Some(key) = self.pending.pop_front() {
            if self.pending.is_empty() {
                self.clear_pending();
            }
            if let Some(exit) = self.check_entry(key)? {
                return Ok(Some(exit));
            }
        }
        while let Some(key) = self.ready.pop_front() {
            match self.check_entry(key) {
                Ok(Some(exit)) => return Ok(Some(exit)),
                Ok(None) => {}
                Err(error) => {
                    // Keep it for the next call (the entry stays until removed).
                    self.ready.push_front(key);
                    return Err(error);
                }
            }
        }
        while let Some(key) = self.pid_round.pop_front() {
            if let Some(exit) = self.check_entry(key)? {
                return Ok(Some(exit));
            }
        }
        Ok(None)
    }

    /// Waits up to `timeout` (`None`: no limit) for the next exit and returns it; `Ok(None)`
    /// when the time is up, or at once when the reaper is empty. Spurious readiness and
    /// `EINTR` continue the wait with the time that is left.
    ///
    /// # Errors
    ///
    /// Errors of `epoll_wait` other than `EINTR`; errors of the reaping `waitid` other than
    /// `ECHILD` (which means "exited, status unknown"). An error about one entry carries an
    /// [`EntryError`] payload with the entry's [`Key`] (same [`io::ErrorKind`]; get it with
    /// [`EntryError::of`]). After such an error the entry stays watched: remove it by that
    /// key to stop seeing the error.
    pub fn next_exit(&mut self, timeout: Option<Duration>) -> io::Result<Option<Exit<T>>> {
        let deadline = Deadline::after(timeout);
        loop {
            self.start_pid_round();
            if let Some(exit) = self.drain()? {
                return Ok(Some(exit));
            }
            if self.entries.is_empty() {
                return Ok(None);
            }
            let remaining = deadline.remaining();
            // An unrepresentable deadline (`remaining` is `None`) is as good as no limit.
            let wait = match self.recheck_after() {
                Some(recheck) => capped(remaining, recheck),
                None => remaining,
            };
            let got = self.wait_events(wait)?;
            if got == 0 && remaining.is_some_and(|remaining| remaining.is_zero()) {
                return Ok(None);
            }
        }
    }

    /// Returns the next exit if one is ready, without blocking (`Ok(None)` otherwise). After
    /// the epoll fd ([`AsFd`]) polled readable, call this until it returns `Ok(None)`.
    ///
    /// # Errors
    ///
    /// As [`Reaper::next_exit`].
    pub fn try_next_exit(&mut self) -> io::Result<Option<Exit<T>>> {
        self.next_exit(Some(Duration::ZERO))
    }

    /// One `epoll_wait`; queues the ready keys and returns how many events came (0 on
    /// `EINTR` or timeout).
    fn wait_events(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let mut events = [epoll::Event { events: 0, u64: 0 }; EVENT_BATCH];
        let count = match epoll::wait(self.epoll.as_fd(), &mut events, timeout) {
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(error) => return Err(error),
        };
        for event in &events[..count] {
            let key = event.u64;
            if key == WAKE_KEY {
                continue; // `pending` is drained first anyway
            }
            if key == SIGCHLD_KEY {
                self.drain_sigchld();
                continue; // every pid-mode entry is looked at next round anyway
            }
            self.ready.push_back(key);
        }
        Ok(count)
    }
}

impl<T> AsFd for Reaper<T> {
    /// The epoll fd: readable while an exit is ready to be reported (then call
    /// [`Reaper::try_next_exit`] until it returns `Ok(None)`). Do not read from it or
    /// change its registrations.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

impl<T> AsRawFd for Reaper<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undecodable_reap_is_an_exit_with_no_status_not_an_error_for_good() {
        let undecodable = io::Error::new(io::ErrorKind::InvalidData, "signal 127");
        let check = classify_reap(Err(undecodable), || panic!("no readiness check needed"));
        assert!(matches!(check, Ok(EntryCheck::Exited(None))));
        // Other errors still are errors.
        let other = classify_reap(Err(io::Error::from_raw_os_error(libc::EBADF)), || None);
        assert!(other.is_err());
    }

    #[test]
    fn empty_reaper_returns_none_at_once() {
        let mut reaper = Reaper::<u32>::new().unwrap();
        assert!(reaper.is_empty());
        assert!(reaper.next_exit(None).unwrap().is_none());
        assert!(reaper.try_next_exit().unwrap().is_none());
        assert!(reaper.remove(Key(7)).is_none());
    }
}
