//! The synchronisation primitives [`crate::state`] is written against: loom's under
//! `--cfg pidfd_loom` (for the model checks), std's otherwise.

#[cfg(pidfd_loom)]
pub(crate) use loom::sync::atomic;
#[cfg(not(pidfd_loom))]
pub(crate) use std::sync::atomic;
