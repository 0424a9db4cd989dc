//! The weaker, opt-in backend of [`ProcessTree`](super::ProcessTree) where no writable
//! cgroup v2 exists: one new process group for everything the tree spawns, and this process
//! a child subreaper (`PR_SET_CHILD_SUBREAPER`), so members orphaned by their parents are
//! re-parented to it and reaped here. A member that calls `setsid` or `setpgid` leaves the
//! group, and no signal of the tree reaches it any more.
//!
//! A process group is only a number, which the kernel hands out again once the group has no
//! member left: a later, unrelated group may carry it. So the tree never signals `-pgid`. A
//! member is a live process of the group that descends from this process (every member
//! does: orphans are re-parented to this subreaper); each is signalled through a pidfd,
//! opened before its group and ancestry are checked again, so the signal reaches exactly the
//! process that was checked.

use std::collections::HashSet;
use std::io;
use std::os::fd::AsFd as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use pidfd_sys::flags::{P_PID, WaitIdOptions};
use pidfd_sys::siginfo_t;

use super::locate;
use crate::sys::time::Deadline;
use crate::{Child, PidFd, Spawn, sys};

#[derive(Debug, Default)]
struct State {
    /// The group: the PID of the first process spawned (`None` before).
    pgid: Option<i32>,
    /// The PIDs this tree spawned itself: their [`Child`] handles reap them, not the tree.
    spawned: HashSet<u32>,
}

/// A process group and the subreaper attribute.
#[derive(Debug)]
pub(super) struct GroupTree {
    state: Mutex<State>,
}

/// One process of `/proc`: `(pid, state, ppid, pgrp)`.
fn processes() -> io::Result<Vec<(u32, char, i32, i32)>> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        // Gone meanwhile: skip.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((state, ppid, pgrp)) = locate::parse_stat(&stat) {
            all.push((pid, state, ppid, pgrp));
        }
    }
    Ok(all)
}

fn is_dead(state: char) -> bool {
    matches!(state, 'Z' | 'X' | 'x')
}

impl GroupTree {
    /// Makes this process a child subreaper (for good: other trees may rely on it).
    pub(super) fn create() -> io::Result<GroupTree> {
        sys::subreaper::set_child_subreaper(true)?;
        Ok(GroupTree {
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn pgid(&self) -> Option<i32> {
        self.lock().pgid
    }

    /// Spawns `spawn` into the group (the first spawn founds it). `EPERM` once the group
    /// has no member of ours: its number may be another group's by now.
    pub(super) fn spawn(&self, spawn: &mut Spawn) -> io::Result<Child> {
        if self.pgid().is_some() && self.pids()?.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        let mut state = self.lock();
        let child = spawn.process_group(state.pgid.unwrap_or(0)).spawn()?;
        if state.pgid.is_none() {
            state.pgid = Some(i32::try_from(child.pid()).map_err(|_| einval())?);
        }
        state.spawned.insert(child.pid());
        Ok(child)
    }

    /// The live (not zombie) members: processes of the group that descend from this
    /// process (a group of the same number made after ours emptied is not ours).
    pub(super) fn pids(&self) -> io::Result<Vec<u32>> {
        let Some(pgid) = self.pgid() else {
            return Ok(Vec::new());
        };
        let own = i32::try_from(std::process::id()).map_err(|_| einval())?;
        let all = processes()?;
        let parents: std::collections::HashMap<u32, i32> =
            all.iter().map(|&(pid, _, ppid, _)| (pid, ppid)).collect();
        Ok(all
            .iter()
            .filter(|&&(pid, state, _, pgrp)| {
                pgrp == pgid
                    && !is_dead(state)
                    && descends_from(pid, own, |pid| parents.get(&pid).copied())
            })
            .map(|&(pid, ..)| pid)
            .collect())
    }

    /// Reaps the members that were re-parented to this process and have exited (never a
    /// process this tree spawned itself: its [`Child`] reaps it).
    fn reap_orphans(&self) -> io::Result<()> {
        let (pgid, spawned) = {
            let state = self.lock();
            match state.pgid {
                Some(pgid) => (pgid, state.spawned.clone()),
                None => return Ok(()),
            }
        };
        let own = i32::try_from(std::process::id()).map_err(|_| einval())?;
        for (pid, state, ppid, pgrp) in processes()? {
            if is_dead(state) && ppid == own && pgrp == pgid && !spawned.contains(&pid) {
                let mut info = siginfo_t::zeroed();
                // ECHILD: reaped by someone else meanwhile.
                let _ = sys::pidfd::waitid_id(
                    P_PID,
                    pid,
                    &mut info,
                    WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
                    None,
                );
            }
        }
        Ok(())
    }

    /// `signal` to each member, through a pidfd opened before the member is checked again
    /// (still in the group, alive, a descendant of this process): never `kill(-pgid)`,
    /// whose number may name another group by now. Returns how many were signalled; a
    /// failure for one member does not stop the others (the first error is returned).
    pub(super) fn signal(&self, signal: i32) -> io::Result<usize> {
        let Some(pgid) = self.pgid() else {
            return Ok(0);
        };
        let own = i32::try_from(std::process::id()).map_err(|_| einval())?;
        let mut count = 0;
        let mut first_error = None;
        for pid in self.pids()? {
            let pidfd = match PidFd::open(pid) {
                Ok(pidfd) => pidfd,
                Err(error) if error.raw_os_error() == Some(libc::ESRCH) => continue,
                Err(error) => {
                    first_error.get_or_insert(error);
                    continue;
                }
            };
            // The pidfd's process, if still alive, is the one /proc shows under `pid` now.
            let ours = stat_of(pid).is_some_and(|(state, _, pgrp)| {
                pgrp == pgid && !is_dead(state) && descends_from(pid, own, parent_of)
            });
            if !ours {
                continue;
            }
            super::signal_member(&pidfd, signal, &mut count, &mut first_error);
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(count),
        }
    }

    pub(super) fn kill(&self) -> io::Result<()> {
        self.signal(libc::SIGKILL)?;
        self.reap_orphans()
    }

    pub(super) fn is_populated(&self) -> io::Result<bool> {
        self.reap_orphans()?;
        Ok(!self.pids()?.is_empty())
    }

    /// Waits until no live member is left: a pidfd per member, one `poll(2)` over all of
    /// them, a new look at `/proc` after each exit (a member may have forked before exiting).
    pub(super) fn wait_empty(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let deadline = Deadline::after(timeout);
        loop {
            self.reap_orphans()?;
            let mut pidfds = Vec::new();
            for pid in self.pids()? {
                match PidFd::open(pid) {
                    Ok(pidfd) => pidfds.push(pidfd),
                    Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {}
                    Err(error) => return Err(error),
                }
            }
            if pidfds.is_empty() {
                return Ok(true);
            }
            let remaining = deadline.remaining();
            if remaining.is_some_and(|left| left.is_zero()) {
                return Ok(false);
            }
            let fds: Vec<_> = pidfds.iter().map(|pidfd| pidfd.as_fd()).collect();
            match sys::poll::poll_in(&fds, remaining) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                result => drop(result?),
            }
        }
    }
}

/// `(state, ppid, pgrp)` of `/proc/<pid>/stat` now, if the process is there.
fn stat_of(pid: u32) -> Option<(char, i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    locate::parse_stat(&stat)
}

/// The parent of `pid` now, from `/proc`.
fn parent_of(pid: u32) -> Option<i32> {
    stat_of(pid).map(|(_, ppid, _)| ppid)
}

/// Whether `pid` descends from `ancestor`, following `parent` (`None`: unknown, not ours).
fn descends_from(pid: u32, ancestor: i32, parent: impl Fn(u32) -> Option<i32>) -> bool {
    let mut current = pid;
    // A bound against a cycle in a snapshot taken while PIDs were reused.
    for _ in 0..4096 {
        let Some(ppid) = parent(current) else {
            return false;
        };
        if ppid == ancestor {
            return true;
        }
        match u32::try_from(ppid) {
            Ok(next) if next > 1 => current = next,
            _ => return false,
        }
    }
    false
}

fn einval() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}
