//! The child side, between clone and exec: async-signal-safe, raw syscalls only.
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

use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};

use pidfd_sys::Errno;

use super::prepare::{ChildFileAction, Prepared};
use super::sys as spawn_sys;

/// Where the child reports its exec errno: the shared slot (vfork) or a CLOEXEC pipe (fork).
pub(super) struct ChildContext<'a> {
    pub(super) prepared: &'a Prepared,
    pub(super) error_slot: *const AtomicI32,
    pub(super) error_pipe: RawFd,
    /// The error pipe's read end (-1: none): closed first thing in the child, so that no
    /// file action can meet it (it is not an fd of the caller's).
    pub(super) error_pipe_reader: RawFd,
    /// The parent's signal mask, to restore before exec (null: the child's mask is already
    /// the parent's).
    pub(super) old_mask: *const libc::sigset_t,
    /// The kernel already reset every handler (`CLONE_CLEAR_SIGHAND`).
    pub(super) handlers_cleared: bool,
    /// The child's `envp` (NULL-terminated).
    pub(super) envp: *const *const libc::c_char,
    /// Set: a memory-sharing check only. The child stores 1 here (in the parent's memory,
    /// if it is really shared) and exits at once.
    pub(super) vm_marker: *const AtomicI32,
}

/// The child side. Async-signal-safe only; never returns.
///
/// Raw syscalls only (`pidfd_sys::syscalls`, and `super::sys`'s credential and
/// parent-death calls), never the C library's wrappers: in the vfork
/// strategies the child runs on its parent thread's TLS, and `open`/`close`/`write` are
/// cancellation points that read and write that thread's cancellation state (a
/// `pthread_cancel` of the spawning thread would act in the child, or hang it), while
/// `sigaction`/`pthread_sigmask` filter the C library's internal signals, and
/// `setuid`/`setgid`/`setgroups` apply the change to every thread of the (shared) process
/// through an internal signal.
///
/// # Safety
///
/// `ctx` must point to a live `ChildContext` whose pointers are valid; call only in a fresh
/// child between clone and exec.
pub(super) unsafe fn child_exec(ctx: *const ChildContext<'_>) -> ! {
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
    if ctx.error_pipe_reader >= 0 {
        // SAFETY: closes our pipe's read end in the child's own fd table (no CLONE_FILES).
        let _ = unsafe { sys::close(ctx.error_pipe_reader) };
    }
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
                // The error pipe is ours, not an fd of the caller's: as a source it is
                // "not open" (glibc: EBADF) — never the program's stdout.
                if from >= 0 && from == pipe.get() {
                    Err(Errno::BADF)
                } else {
                    dup2(from, to)
                }
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
    // IDs after the file actions (opened with the caller's rights, as std opens stdio in the
    // parent) and before chdir and exec (checked with the new ones), in std's order: the
    // groups and the group ID while we still have the privilege setuid drops. Raw syscalls
    // change this task's credentials only.
    let credentials = &prepared.credentials;
    if let Some(groups) = &credentials.groups {
        if let Err(errno) = spawn_sys::setgroups(groups) {
            fail(errno);
        }
    }
    if let Some(gid) = credentials.gid {
        if let Err(errno) = spawn_sys::setgid(gid) {
            fail(errno);
        }
    }
    if let Some(uid) = credentials.uid {
        // As std: drop the supplementary groups unless they were given; without
        // CAP_SETGID (EPERM) keep them.
        if credentials.groups.is_none() {
            match spawn_sys::setgroups(&[]) {
                Ok(()) | Err(Errno::PERM) => {}
                Err(errno) => fail(errno),
            }
        }
        if let Err(errno) = spawn_sys::setuid(uid) {
            fail(errno);
        }
    }
    if let Some(cwd) = &prepared.cwd {
        // SAFETY: a NUL-terminated path prepared before the clone.
        if let Err(errno) = unsafe { sys::chdir(cwd.as_ptr()) } {
            fail(errno);
        }
    }
    // The parent-death signal after every ID change (which clears it). If the parent
    // process is already gone (we were re-parented before the prctl), the kernel will never
    // send it: send it ourselves, as the kernel would have (a process-directed signal).
    if let Some(death) = prepared.parent_death {
        if let Err(errno) = spawn_sys::set_parent_death_signal(death.signal) {
            fail(errno);
        }
        if spawn_sys::getppid() != death.parent {
            if let Err(errno) = spawn_sys::kill_self(death.signal) {
                fail(errno);
            }
        }
    }
    // Try each candidate like execvp: ENOENT/ENOTDIR move on, EACCES is remembered.
    let mut saw_eacces = false;
    let mut last = Errno::NOENT;
    let mut candidate = prepared.candidates.as_ptr();
    // SAFETY: the candidate list is NULL-terminated.
    while !unsafe { *candidate }.is_null() {
        // SAFETY: `candidate` points into the NULL-terminated list, before its end.
        let path = unsafe { *candidate };
        // SAFETY: path, argv and envp are NUL-terminated / NULL-terminated C data.
        last = unsafe { sys::execve(path, prepared.argv.as_ptr(), ctx.envp) };
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

pub(super) extern "C" fn vfork_child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the ChildContext the parent passed to clone; the parent is suspended
    // (CLONE_VFORK) so it stays alive.
    unsafe { child_exec(arg.cast_const().cast()) }
}

/// The entry of a `clone3_on_stack` child.
///
/// # Safety
///
/// As for [`child_exec`]: `arg` is a live `ChildContext` (the parent is suspended).
pub(super) unsafe extern "C" fn clone3_child_main(arg: *mut libc::c_void) -> ! {
    // SAFETY: as documented above.
    unsafe { child_exec(arg.cast_const().cast()) }
}
