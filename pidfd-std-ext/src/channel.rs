//! The channel from children to their parent: a `SOCK_SEQPACKET` socket pair (one per process
//! for `create_pidfd(true)`, one per call for `spawn_with_pidfd`), the `pre_exec` hooks that
//! send a child's own pidfd over it with `SCM_RIGHTS` (or retract it), and the parent's
//! non-blocking receive side. Also the two liveness checks the registry uses (through the
//! safe `waitid`/`poll` wrappers of `pidfd_core::sys`).
//!
//! Every fd made here is >= 3 ([`above_stdio`]): with fd 0, 1 or 2 closed in the parent, a
//! socket on one of those numbers would be replaced by std's stdio setup in the child.
//!
//! # Safety
//!
//! The hooks ([`Channel::announce`], [`Channel::retract`]) run in the child between `fork`
//! and `exec`, where only async-signal-safe work is allowed: they make raw syscalls
//! (`getpid`, `pidfd_open`, `sendmsg`, `close`) on stack buffers, read fields of a channel
//! that the parent created before the fork, and set a bit of its shared "lost" bitmap with one
//! atomic operation. They do not allocate, lock, or panic (no indexing that can fail,
//! no `unwrap`, every conversion checked). Every fd this module receives is owned (wrapped in
//! an [`OwnedFd`]) as soon as the kernel hands it over, so none can leak.

#![allow(
    unsafe_code,
    reason = "socketpair/sendmsg/recvmsg with SCM_RIGHTS and std's pre_exec; each block says why"
)]

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

use pidfd_core::sys;
use pidfd_sys::Errno;
use pidfd_sys::flags::{P_PID, PidfdFlags, WaitIdOptions};
use pidfd_sys::syscalls;

use crate::pid_set::{self, SharedPidSet};

/// What a child sends, native endian: its PID (`u32`), a status word (`i32`: [`STATUS_OK`]
/// with the pidfd attached, a positive errno without one, or one of the negative presets
/// below), and its ticket (`u32`, see [`child_ticket`]).
const PAYLOAD_LEN: usize = 12;
/// The pidfd is attached.
pub(crate) const STATUS_OK: i32 = 0;
/// The parent's probe found `pidfd_open` unavailable: the child did not try.
pub(crate) const STATUS_UNSUPPORTED: i32 = -1;
/// `PIDFD_DISABLE` was set: the child did not try (no pidfd syscall at all).
pub(crate) const STATUS_DISABLED: i32 = -2;
/// `create_pidfd(false)` came after `create_pidfd(true)`: forget what this child sent.
pub(crate) const STATUS_RETRACTED: i32 = -3;

/// Bytes of `c_int`, as `CMSG_*` want it (checked below).
const FD_BYTES: libc::c_uint = 4;
const _: () = assert!(size_of::<libc::c_int>() == 4);
// SAFETY: CMSG_SPACE is arithmetic on its argument only.
const SPACE_ONE_FD: libc::c_uint = unsafe { libc::CMSG_SPACE(FD_BYTES) };
// SAFETY: CMSG_LEN is arithmetic on its argument only.
const LEN_ONE_FD: libc::c_uint = unsafe { libc::CMSG_LEN(FD_BYTES) };
// SAFETY: CMSG_LEN is arithmetic on its argument only.
const LEN_NO_DATA: libc::c_uint = unsafe { libc::CMSG_LEN(0) };

/// A control-message buffer, aligned for `cmsghdr`; room for a few fds (a sender of ours
/// attaches one; more would be closed by the kernel with `MSG_CTRUNC`).
#[repr(C, align(8))]
struct ControlBuffer([u8; CONTROL_CAPACITY as usize]);
const CONTROL_CAPACITY: libc::c_uint = 64;
const _: () = assert!(align_of::<libc::cmsghdr>() <= 8);
const _: () = assert!(SPACE_ONE_FD <= CONTROL_CAPACITY);

/// One message received from a child.
#[derive(Debug)]
pub(crate) struct Message {
    /// The child's PID, as it saw it (`getpid()`).
    pub(crate) pid: u32,
    /// The child's ticket: equal in every message of one child, different between children
    /// (0: the child had none, e.g. before any process-wide channel existed).
    pub(crate) ticket: u32,
    /// [`STATUS_OK`], an errno, or a negative preset.
    pub(crate) status: i32,
    /// The child's pidfd, when it could send one.
    pub(crate) pidfd: Option<OwnedFd>,
}

/// A socket pair children send their messages over: the process-wide one (created on the
/// first `create_pidfd(true)`, kept for the life of the process: two fds and the shared
/// bitmap), or a private one of one `spawn_with_pidfd` call.
#[derive(Debug)]
pub(crate) struct Channel {
    sender: OwnedFd,
    receiver: OwnedFd,
    /// PIDs of children whose message could not be sent (the socket was full): the parent
    /// must not attribute anything it received for such a PID. (Process-wide channel only.)
    lost: Option<&'static SharedPidSet>,
}

/// What a hook does in the child.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hook {
    /// `create_pidfd(true)`: open a pidfd to itself and send it ([`STATUS_OK`]), or send
    /// this preset status without trying.
    Announce { preset: i32 },
    /// `create_pidfd(false)`: send [`STATUS_RETRACTED`].
    Retract,
}

/// The process in which [`TICKET`] was drawn (0: none yet; a forked child starts with its
/// parent's values and draws its own on first use).
static TICKET_OWNER: AtomicI32 = AtomicI32::new(0);
static TICKET: AtomicU32 = AtomicU32::new(0);

/// This child's ticket from the process-wide shared counter, drawn by the first hook that
/// asks in this process and the same for every later one; 0 if no process-wide set exists.
/// Async-signal-safe (atomics only). Two children with the same PID never share a ticket
/// (until the counter wraps after 2^32 children), so the parent can tell whether two
/// messages for one PID came from one child.
pub(crate) fn child_ticket(raw_pid: libc::pid_t) -> u32 {
    let Some(shared) = pid_set::process_wide_if_made() else {
        return 0;
    };
    // (A forked child is single-threaded between fork and exec.)
    if TICKET_OWNER.load(Ordering::Relaxed) != raw_pid {
        TICKET.store(shared.next_ticket(), Ordering::Relaxed);
        TICKET_OWNER.store(raw_pid, Ordering::Relaxed);
    }
    TICKET.load(Ordering::Relaxed)
}

impl Channel {
    /// The process-wide channel: a socket pair, and `lost`, the shared bitmap of lost
    /// messages.
    pub(crate) fn new(lost: &'static SharedPidSet) -> io::Result<Channel> {
        let mut channel = Self::private()?;
        channel.lost = Some(lost);
        Ok(channel)
    }

    /// A channel for one exact spawn: `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`,
    /// both ends >= 3.
    pub(crate) fn private() -> io::Result<Channel> {
        let mut fds: [RawFd; 2] = [-1, -1];
        // SAFETY: socketpair writes two fds into the array, which has room for them.
        let ret = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
        let [sender, receiver] = fds;
        // SAFETY: a fresh fd from socketpair that nothing else owns.
        let sender = unsafe { OwnedFd::from_raw_fd(sender) };
        // SAFETY: as above.
        let receiver = unsafe { OwnedFd::from_raw_fd(receiver) };
        Ok(Channel {
            sender: above_stdio(sender)?,
            receiver: above_stdio(receiver)?,
            lost: None,
        })
    }

    /// The sending end's fd number (for the exact-spawn hook, which finds it in a
    /// thread-local).
    pub(crate) fn sender_fd(&self) -> RawFd {
        self.sender.as_raw_fd()
    }

    /// Whether a child with this PID could not send its message (process-wide channel only).
    pub(crate) fn lost(&self, pid: u32) -> bool {
        self.lost.is_some_and(|lost| lost.contains(pid))
    }

    /// Runs `hook` in the child between fork and exec. Async-signal-safe (see the module
    /// docs); never fails (a lost message only makes `pidfd()` report an error later).
    fn run(&self, hook: Hook) {
        // SAFETY: getpid has no preconditions and is async-signal-safe.
        let raw_pid = unsafe { libc::getpid() };
        let Ok(pid) = u32::try_from(raw_pid) else {
            return;
        };
        let ticket = child_ticket(raw_pid);
        match hook {
            Hook::Announce { preset: STATUS_OK } => self.announce(pid, raw_pid, ticket),
            Hook::Announce { preset } => self.send_or_mark_lost(pid, preset, ticket),
            Hook::Retract => self.send_or_mark_lost(pid, STATUS_RETRACTED, ticket),
        }
    }

    /// Opens a pidfd to this child and sends it with its PID; on failure sends the errno.
    fn announce(&self, pid: u32, raw_pid: libc::pid_t, ticket: u32) {
        // SAFETY: pidfd_open is a raw syscall (async-signal-safe); we own the new fd and
        // close it below.
        match unsafe { syscalls::pidfd_open(raw_pid, PidfdFlags::empty()) } {
            Ok(pidfd) => {
                let message = (pid, STATUS_OK, ticket);
                if let Err(errno) = send_message(self.sender_fd(), message, Some(pidfd)) {
                    // No room for an fd (a full socket, too many fds in flight): at least
                    // say why, so that pidfd() can report it.
                    self.send_or_mark_lost(pid, errno, ticket);
                }
                // SAFETY: our own fd from pidfd_open, closed exactly once (the kernel holds
                // its own reference to the file while the message is in flight).
                unsafe { libc::close(pidfd) };
            }
            Err(errno) => self.send_or_mark_lost(pid, errno.raw_os_error(), ticket),
        }
    }

    /// Sends `status` without an fd; if even that fails, records the PID in the shared
    /// "lost" bitmap, so that the parent never attributes another child's message to this
    /// PID. Async-signal-safe.
    fn send_or_mark_lost(&self, pid: u32, status: i32, ticket: u32) {
        if send_message(self.sender_fd(), (pid, status, ticket), None).is_err() {
            if let Some(lost) = self.lost {
                lost.insert(pid);
            }
        }
    }

    /// Receives every queued message without blocking (`MSG_DONTWAIT`; received fds are
    /// close-on-exec by `MSG_CMSG_CLOEXEC`) and hands each to `sink`. Malformed messages
    /// (which no hook of ours sends) are dropped with their fds.
    pub(crate) fn receive(&self, mut sink: impl FnMut(Message)) {
        loop {
            let mut payload = [0_u8; PAYLOAD_LEN];
            let mut iov = payload_iovec(&mut payload);
            let mut control = ControlBuffer([0; CONTROL_CAPACITY as usize]);
            let mut msg = message_header(&mut iov);
            msg.msg_control = control.0.as_mut_ptr().cast();
            let Ok(control_len) = CONTROL_CAPACITY.try_into() else {
                return;
            };
            msg.msg_controllen = control_len;
            let flags = libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC;
            // SAFETY: `receiver` is an open socket of this channel; `msg` points to
            // buffers that live for the call.
            let received = unsafe { libc::recvmsg(self.receiver.as_raw_fd(), &raw mut msg, flags) };
            if received < 0 {
                if Errno::last_os_error().raw_os_error() == libc::EINTR {
                    continue;
                }
                return; // EAGAIN: drained (or an error we cannot act on)
            }
            let mut fds = take_fds(&msg);
            if received == 0 && fds.is_empty() {
                return; // end of stream: cannot happen while we hold the sender
            }
            let complete = usize::try_from(received).is_ok_and(|len| len == PAYLOAD_LEN)
                && msg.msg_flags & libc::MSG_TRUNC == 0;
            if !complete {
                continue; // dropped, fds closed
            }
            let [p0, p1, p2, p3, s0, s1, s2, s3, t0, t1, t2, t3] = payload;
            let mut status = i32::from_ne_bytes([s0, s1, s2, s3]);
            let pidfd = if fds.is_empty() {
                if status == STATUS_OK && msg.msg_flags & libc::MSG_CTRUNC != 0 {
                    // The kernel could not install the fd here (our fd table is full).
                    status = libc::EMFILE;
                }
                None
            } else {
                // Off 0-2 (the parent may have them closed); if that fails, the message
                // says why the child has no pidfd.
                match above_stdio(fds.swap_remove(0)) {
                    Ok(fd) => Some(fd),
                    Err(error) => {
                        status = error.raw_os_error().unwrap_or(libc::EMFILE);
                        None
                    }
                }
            };
            sink(Message {
                pid: u32::from_ne_bytes([p0, p1, p2, p3]),
                ticket: u32::from_ne_bytes([t0, t1, t2, t3]),
                status,
                pidfd,
            });
        }
    }
}

/// The one `iovec` of a message: `payload`, borrowed by raw pointer (keep it alive and
/// unmoved while the `iovec` is used). Async-signal-safe.
fn payload_iovec(payload: &mut [u8; PAYLOAD_LEN]) -> libc::iovec {
    libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: PAYLOAD_LEN,
    }
}

/// A `msghdr` over the one `iov` (by raw pointer: keep it alive while the header is used),
/// without a control buffer yet. Async-signal-safe.
fn message_header(iov: &mut libc::iovec) -> libc::msghdr {
    // SAFETY: msghdr is plain data (pointers, lengths, padding); all-zero is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = ptr::from_mut(iov);
    msg.msg_iovlen = 1;
    msg
}

/// `sendmsg` of one message ((PID, status word, ticket), optionally one fd) on `sender`,
/// without blocking and without `SIGPIPE`. Async-signal-safe: stack buffers and raw syscalls
/// only. Returns the errno.
pub(crate) fn send_message(
    sender: RawFd,
    (pid, status, ticket): (u32, i32, u32),
    fd: Option<RawFd>,
) -> Result<(), i32> {
    let [p0, p1, p2, p3] = pid.to_ne_bytes();
    let [s0, s1, s2, s3] = status.to_ne_bytes();
    let [t0, t1, t2, t3] = ticket.to_ne_bytes();
    let mut payload: [u8; PAYLOAD_LEN] = [p0, p1, p2, p3, s0, s1, s2, s3, t0, t1, t2, t3];
    let mut iov = payload_iovec(&mut payload);
    let mut control = ControlBuffer([0; CONTROL_CAPACITY as usize]);
    let mut msg = message_header(&mut iov);
    if let Some(fd) = fd {
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = SPACE_ONE_FD.try_into().map_err(|_| libc::EINVAL)?;
        // SAFETY: `msg` is a valid msghdr whose control buffer is `control`.
        let cmsg = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
        if cmsg.is_null() {
            return Err(libc::EINVAL);
        }
        // SAFETY: cmsghdr is plain data; all-zero is valid (musl has padding fields).
        let mut header: libc::cmsghdr = unsafe { mem::zeroed() };
        header.cmsg_len = LEN_ONE_FD.try_into().map_err(|_| libc::EINVAL)?;
        header.cmsg_level = pidfd_sys::socket::SOL_SOCKET;
        header.cmsg_type = pidfd_sys::socket::SCM_RIGHTS;
        // SAFETY: `cmsg` is the start of `control`, aligned for cmsghdr, and the buffer
        // has CMSG_SPACE(4) >= size_of::<cmsghdr>() bytes.
        unsafe { cmsg.write(header) };
        // SAFETY: the data of the header just written, inside `control`.
        let data = unsafe { libc::CMSG_DATA(cmsg) };
        // SAFETY: CMSG_SPACE(4) leaves room for one c_int after the header; written
        // unaligned, as CMSG_DATA gives no alignment guarantee.
        unsafe { data.cast::<libc::c_int>().write_unaligned(fd) };
    }
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    for _ in 0..8 {
        // SAFETY: `sender` is an fd number (a closed or foreign one only fails the call); `msg` points to
        // `iov`, `payload` and `control`, all alive for the call.
        let sent = unsafe { libc::sendmsg(sender, &raw const msg, flags) };
        if sent >= 0 {
            return Ok(());
        }
        let errno = Errno::last_os_error().raw_os_error();
        if errno != libc::EINTR {
            return Err(errno);
        }
    }
    Err(libc::EINTR)
}

/// `fd` itself if its number is above 2, else a close-on-exec duplicate >= 3 (and `fd` is
/// closed): no fd of this crate may sit on a stdio number, where std's (or any) stdio setup
/// in a child would replace it.
pub(crate) fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    duplicate(fd.as_fd())
}

/// A close-on-exec duplicate of `fd` numbered 3 or above (`F_DUPFD_CLOEXEC`, 3).
pub(crate) fn duplicate(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: `fd` is borrowed for the call; F_DUPFD_CLOEXEC creates a new fd and touches
    // nothing else.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd from fcntl that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Takes ownership of every fd in the `SCM_RIGHTS` messages of a received `msg`.
fn take_fds(msg: &libc::msghdr) -> Vec<OwnedFd> {
    let mut fds = Vec::new();
    // SAFETY: `msg` is a msghdr the kernel filled in; its control buffer is alive.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: a non-null cmsghdr pointer from CMSG_FIRSTHDR/NXTHDR lies inside the
        // control buffer; it may be unaligned only if the kernel misbehaved, so read it
        // unaligned.
        let header = unsafe { cmsg.read_unaligned() };
        if header.cmsg_level == pidfd_sys::socket::SOL_SOCKET
            && header.cmsg_type == pidfd_sys::socket::SCM_RIGHTS
        {
            #[allow(
                clippy::useless_conversion,
                reason = "cmsg_len is size_t on glibc, socklen_t on musl"
            )]
            let data_len = usize::try_from(header.cmsg_len)
                .unwrap_or(0)
                .saturating_sub(usize::try_from(LEN_NO_DATA).unwrap_or(0));
            // SAFETY: the data of a header inside the control buffer.
            let data = unsafe { libc::CMSG_DATA(cmsg) };
            for i in 0..data_len / size_of::<libc::c_int>() {
                // SAFETY: the kernel wrote `data_len` bytes of fds after the header, within
                // the control buffer (it truncates with MSG_CTRUNC rather than overflow).
                let fd_ptr = unsafe { data.cast::<libc::c_int>().add(i) };
                // SAFETY: as above; unaligned, as CMSG_DATA gives no alignment guarantee.
                let raw = unsafe { fd_ptr.read_unaligned() };
                if raw >= 0 {
                    // SAFETY: SCM_RIGHTS installed this fd in our table for us; nothing
                    // else owns it.
                    fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
                }
            }
        }
        // SAFETY: `msg` and `cmsg` as above; NXTHDR returns null past the end.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    fds
}

/// Adds a hook that fails the spawn with `errno` (for a `create_pidfd(true)` that could not
/// record its children at all).
pub(crate) fn install_failure(command: &mut Command, errno: i32) {
    // SAFETY: the closure runs in the child between fork and exec and only builds an
    // `io::Error` from an errno, which does not allocate.
    unsafe { command.pre_exec(move || Err(io::Error::from_raw_os_error(errno))) };
}

/// Adds a hook that only marks the child's PID in the shared "lost" bitmap: for a
/// `create_pidfd(true)` whose socket pair could not be made (`EMFILE`), so that no other
/// child's message is ever attributed to this child's PID.
pub(crate) fn install_mark_lost(command: &mut Command, lost: &'static SharedPidSet) {
    let closure = move || {
        // SAFETY: getpid has no preconditions and is async-signal-safe.
        let raw_pid = unsafe { libc::getpid() };
        if let Ok(pid) = u32::try_from(raw_pid) {
            lost.insert(pid);
        }
        Ok(())
    };
    // SAFETY: the closure runs in the child between fork and exec: getpid and one atomic
    // operation on the shared mapping, which lives for the life of the process.
    unsafe { command.pre_exec(closure) };
}

/// Adds `hook` to `command`'s `pre_exec` hooks (after those already there).
pub(crate) fn install(command: &mut Command, channel: Arc<Channel>, hook: Hook) {
    let closure = move || {
        channel.run(hook);
        Ok(())
    };
    // SAFETY: the closure runs in the child between fork and exec. It only reads fields of
    // a channel created before the fork (through a borrow: no refcount change) and makes
    // async-signal-safe syscalls on stack buffers; it does not allocate, lock or panic, and
    // it returns `Ok(())` without constructing an error.
    unsafe { command.pre_exec(closure) };
}

/// Whether `pid` is a child of this process that has not been reaped yet
/// (`waitid(P_PID, WEXITED | WNOHANG | WNOWAIT)`, which reaps nothing). `false` also when it
/// was never our child.
pub(crate) fn is_unreaped_child(pid: u32) -> bool {
    let mut info = pidfd_sys::siginfo_t::zeroed();
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    // WNOWAIT leaves any zombie in place.
    match Errno::retry_on_intr(|| sys::pidfd::waitid_id(P_PID, pid, &mut info, options, None)) {
        Ok(()) => true,
        Err(errno) => errno != Errno::CHILD,
    }
}

/// For each pidfd, whether it is readable — its process has exited (zombie or reaped) — in
/// one non-blocking `poll(2)`. On failure, every one counts as exited (the caller then
/// checks each individually).
pub(crate) fn exited(pidfds: &[BorrowedFd<'_>]) -> Vec<bool> {
    if pidfds.is_empty() {
        return Vec::new();
    }
    loop {
        // Timeout 0 never blocks.
        match sys::poll::poll_in(pidfds, Some(Duration::ZERO)) {
            Ok(revents) => return revents.iter().map(|&revents| revents != 0).collect(),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return vec![true; pidfds.len()],
        }
    }
}
