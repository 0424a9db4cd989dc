//! Safe Linux pidfd handles — **not implemented yet**.
//!
//! This crate will hold `PidFd`, `Process` (pidfd or pid mode, refcounted state) and the
//! race-free `Spawn` builder described in the project's design notes (§3). Today it only
//! re-exports the raw layer, [`pidfd_sys`], so that the workspace layout is in place; the safe
//! API lands with the `PidFd` issue.

pub use pidfd_sys as sys;
