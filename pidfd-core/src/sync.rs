//! The synchronisation primitives [`crate::state`] and [`crate::Process`] are written
//! against: loom's under `--cfg pidfd_loom` (for the model checks), std's otherwise (the
//! tokio `loom/` facade pattern).

#[cfg(pidfd_loom)]
pub(crate) use loom::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, atomic};
#[cfg(not(pidfd_loom))]
pub(crate) use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, atomic};
