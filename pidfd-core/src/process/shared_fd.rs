//! The pidfd of a pidfd-mode [`Process`](super::Process), shared by every operation in
//! flight: a raw fd number whose lifetime [`HandleState`] governs (one persistent reference,
//! one transient reference per operation, closed by whoever drops the last one).
//!
//! The two fd-ownership steps — a non-owning [`PidFd`] view while a transient reference is
//! held, and the single close — live here and in `os::close`; everything else about the
//! handle is safe code.

use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, IntoRawFd, RawFd};

use super::os;
use crate::PidFd;
use crate::state::{Closing, Finish, HandleState, Refused};

/// A pidfd shared by reference count.
pub(super) struct SharedFd {
    fd: RawFd,
    state: HandleState,
}

impl SharedFd {
    /// Takes ownership of `pidfd`, holding its persistent reference.
    pub(super) fn new(pidfd: PidFd) -> SharedFd {
        Self::from_raw(pidfd.into_raw_fd())
    }

    /// Takes ownership of the open fd `fd` (or, under loom, of the model kernel's fd).
    fn from_raw(fd: RawFd) -> SharedFd {
        SharedFd {
            fd,
            state: HandleState::new(),
        }
    }

    /// A handle over the model kernel's pidfd (its fd number is never a real fd).
    #[cfg(pidfd_loom)]
    pub(super) fn model(fd: RawFd) -> SharedFd {
        Self::from_raw(fd)
    }

    /// Takes a transient reference for one operation, unless the child was reaped or the
    /// handle released.
    #[inline]
    pub(super) fn guard(&self) -> Result<FdGuard<'_>, Refused> {
        self.state.acquire_transient()?;
        Ok(FdGuard { shared: self })
    }

    /// Drops the persistent reference (idempotent; see [`HandleState::finish`]); closes the
    /// fd if no operation holds it.
    pub(super) fn finish(&self, why: Finish) {
        self.close_if(self.state.finish(why));
    }

    /// Whether the handle was released.
    pub(super) fn is_released(&self) -> bool {
        self.state.is_released()
    }

    fn close_if(&self, closing: Closing) {
        if closing == Closing::Close {
            os::close(self.fd);
        }
    }
}

/// A transient reference to the pidfd: the fd stays open while this lives.
pub(super) struct FdGuard<'a> {
    shared: &'a SharedFd,
}

impl FdGuard<'_> {
    /// The pidfd as a [`PidFd`] that is never dropped (so it never closes the fd).
    #[allow(unsafe_code, reason = "a non-owning view of the refcounted fd")]
    #[inline]
    pub(super) fn pidfd(&self) -> ManuallyDrop<PidFd> {
        // SAFETY: the fd is open while this transient reference is held (HandleState
        // closes it only after the last one is dropped); ManuallyDrop keeps this copy from
        // closing it.
        ManuallyDrop::new(unsafe { PidFd::from_raw_fd(self.shared.fd) })
    }
}

impl Drop for FdGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.shared.close_if(self.shared.state.drop_transient());
    }
}
