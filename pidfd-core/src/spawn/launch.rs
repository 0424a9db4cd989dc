//! The parent side of the clone: the vfork-style launchers (`clone3` on a separate stack,
//! libc's `clone()`), the fork-style ones (`clone3`/`clone`, also [`crate::fork()`]'s), the
//! exec-error pipe, and reaping a child whose exec failed.

#![allow(unsafe_code, reason = "the clone calls; each block says why")]

use std::io;
use std::os::fd::{IntoRawFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use pidfd_sys::Errno;
use pidfd_sys::flags::CloneFlags;

use super::child::{ChildContext, child_exec, clone3_child_main, vfork_child_main};
use super::prepare::Prepared;
use super::stack::ChildStack;
use super::strategy::{Strategy, cgroup_unknown, refused};
use super::sys::{SignalsBlocked, SpawnFd, dup_above};
use crate::{PidFd, Process};

pub(super) enum Launch {
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

pub(super) fn launch(
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
        error_pipe_reader: error_pipe.as_ref().map_or(-1, |pipe| pipe.reader.raw()),
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
    /// moves it off any target it meets, and refuses it as a `dup2` source).
    fn new(floor: RawFd) -> io::Result<ErrorPipe> {
        let mut ends = [-1; 2];
        // SAFETY: pipe2 writes two fds into a valid array.
        if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let reader = SpawnFd(ends[0]);
        let writer = SpawnFd(ends[1]);
        // Above every fd a file action names. Failing that (no fd left for the copy, or the
        // floor at the fd limit), the original stays: the child moves it off any target an
        // action names and refuses it as a `dup2` source (EBADF, as for any fd that is not
        // the caller's).
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
        error_pipe_reader: error_pipe.reader.raw(),
        old_mask: &raw const blocked.old,
        handlers_cleared: false,
        envp: prepared.envp(),
        vm_marker: ptr::null(),
    };
    let mut pidfd: libc::c_int = -1;
    let exit_signal = u64::try_from(pidfd_sys::signal::SIGCHLD).map_err(|_| Errno::INVAL)?;
    let syscall = match strategy {
        Strategy::Clone3Pidfd => ForkSyscall::Clone3,
        _ => ForkSyscall::Clone,
    };
    // SAFETY: fork-like clone; the child only runs `child_exec` (async-signal-safe) on its
    // private copy of memory. `pidfd` is a live int.
    let result = unsafe { fork_clone(syscall, exit_signal, cgroup, &mut pidfd) };
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

/// Which syscall a [`fork_clone`] makes.
#[derive(Clone, Copy)]
pub(crate) enum ForkSyscall {
    /// `clone3` (`clone_args` VER0; VER2 with a cgroup).
    Clone3,
    /// The legacy `clone`, with `pidfd` as its parent_tid slot.
    Clone,
}

/// A fork-style clone (no shared memory, no separate stack) with `CLONE_PIDFD`, plus
/// `CLONE_INTO_CGROUP` when `cgroup` is set (`clone3` only): the kernel writes the child's
/// pidfd to `pidfd`. Returns 0 in the child and the child's pid in the parent. Used by the
/// fork-style strategies and by [`crate::fork()`].
///
/// # Safety
///
/// As for `fork(2)` in a multithreaded program: the caller takes on fork's rules for the
/// child (only async-signal-safe work until it execs or `_exit`s).
pub(crate) unsafe fn fork_clone(
    syscall: ForkSyscall,
    exit_signal: u64,
    cgroup: Option<RawFd>,
    pidfd: &mut libc::c_int,
) -> Result<libc::c_int, Errno> {
    match syscall {
        ForkSyscall::Clone3 => {
            let (flags, size) = match cgroup {
                Some(_) => (
                    CloneFlags::PIDFD | CloneFlags::INTO_CGROUP,
                    pidfd_sys::clone::CLONE_ARGS_SIZE_VER2,
                ),
                None => (CloneFlags::PIDFD, pidfd_sys::clone::CLONE_ARGS_SIZE_VER0),
            };
            let mut args = pidfd_sys::clone_args {
                flags: flags.bits(),
                pidfd: ptr::from_mut(pidfd) as u64,
                exit_signal,
                cgroup: cgroup.map_or(0, |fd| u64::try_from(fd).unwrap_or(u64::MAX)),
                ..pidfd_sys::clone_args::default()
            };
            // SAFETY: fork-like clone3 (no shared memory); the caller takes on fork's rules
            // for the child. `args.pidfd` points to a live int.
            unsafe { pidfd_sys::syscalls::clone3(&mut args, size) }
        }
        ForkSyscall::Clone => {
            // SAFETY: as above, with legacy clone; `pidfd` is a live int (parent_tid).
            unsafe {
                pidfd_sys::syscalls::clone(
                    CloneFlags::PIDFD.bits() | exit_signal,
                    pidfd,
                    ptr::null_mut(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Spawn;

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
        let missing = Prepared::new(&Spawn::new("/nonexistent/program"), &[None; 3]).unwrap();
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
