//! `CommandExt::create_pidfd` and `ChildExt::pidfd` for `std::process` on stable Rust —
//! **not implemented yet**.
//!
//! This crate will mirror std's unstable `std::os::linux::process` API (design notes §4) on
//! top of `pidfd-core`. It is an empty placeholder until the `PidFd` issue lands.
