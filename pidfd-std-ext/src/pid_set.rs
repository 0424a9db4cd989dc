//! Sets of PIDs as bitmaps: [`PidSet`] in the parent's own memory, and [`SharedPidSet`] in a
//! `MAP_SHARED` mapping that forked children (between `fork` and `exec`) can add to.
//!
//! The registry uses them to remember, without an fd and in bounded memory, that some child
//! with a given PID may exist whose pidfd it cannot produce (dropped from the window of dead
//! pidfds, or its message lost): a later child with the same PID then cannot be told apart
//! from that one, and lookups for the PID fail instead of guessing.

#![allow(
    unsafe_code,
    reason = "mmap/munmap of the shared bitmap and atomic access to it; each block says why"
)]

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// The largest PID the kernel can hand out plus one (`PID_MAX_LIMIT`: 2^22 on 64-bit
/// kernels, 2^15 on 32-bit ones; `pid_max` cannot be raised above it).
const PID_MAX_LIMIT: usize = if cfg!(target_pointer_width = "64") {
    1 << 22
} else {
    1 << 15
};

/// Bits per word of the shared bitmap.
const WORD_BITS: usize = 32;

/// PID 0 is never a process: its bit stands for "a PID at or above [`PID_MAX_LIMIT`]"
/// (which a kernel cannot produce, but the set stays correct if one ever did).
fn shared_bit(pid: u32) -> usize {
    usize::try_from(pid)
        .ok()
        .filter(|&bit| bit < PID_MAX_LIMIT)
        .unwrap_or(0)
}

/// A growable bitmap of PIDs in private memory (at most `PID_MAX_LIMIT` bits: 512 KiB).
#[derive(Debug)]
pub(crate) struct PidSet {
    words: Vec<u64>,
}

impl PidSet {
    pub(crate) const fn new() -> PidSet {
        PidSet { words: Vec::new() }
    }

    pub(crate) fn insert(&mut self, pid: u32) {
        let bit = shared_bit(pid);
        let (word, mask) = (bit / 64, 1_u64 << (bit % 64));
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        if let Some(slot) = self.words.get_mut(word) {
            *slot |= mask;
        }
    }

    pub(crate) fn contains(&self, pid: u32) -> bool {
        let bit = shared_bit(pid);
        let (word, mask) = (bit / 64, 1_u64 << (bit % 64));
        self.words.get(word).is_some_and(|slot| slot & mask != 0)
    }
}

/// A fixed bitmap of `PID_MAX_LIMIT` bits in an anonymous `MAP_SHARED` mapping (512 KiB of
/// address space on 64-bit targets, 4 KiB on 32-bit ones; pages are only allocated where a
/// bit is set). A child forked from this process shares it until it `exec`s, so
/// [`SharedPidSet::insert`] in a `pre_exec` hook is seen by the parent.
#[derive(Debug)]
pub(crate) struct SharedPidSet {
    words: NonNull<AtomicU32>,
}

// SAFETY: the mapping is only accessed through atomics, and owned by this value (unmapped
// once, on drop).
unsafe impl Send for SharedPidSet {}
// SAFETY: as above; `&self` methods only do atomic operations.
unsafe impl Sync for SharedPidSet {}

impl SharedPidSet {
    const BYTES: usize = PID_MAX_LIMIT / 8;

    /// Maps the bitmap (all clear).
    pub(crate) fn new() -> io::Result<SharedPidSet> {
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing; nothing
        // else is affected.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let words = NonNull::new(address.cast::<AtomicU32>())
            .ok_or_else(|| io::Error::other("mmap returned a null address"))?;
        Ok(SharedPidSet { words })
    }

    fn word(&self, bit: usize) -> &AtomicU32 {
        debug_assert!(bit < PID_MAX_LIMIT);
        // SAFETY: `bit < PID_MAX_LIMIT`, so the word index is below BYTES / 4: the pointer
        // stays inside the mapping.
        let word = unsafe { self.words.as_ptr().add(bit / WORD_BITS) };
        // SAFETY: inside the mapping, which is page-aligned (so aligned for AtomicU32),
        // zero-filled or written only atomically (a valid AtomicU32) and lives as long as
        // `self`.
        unsafe { &*word }
    }

    /// Adds `pid`. Async-signal-safe (one atomic `fetch_or`): called in forked children.
    pub(crate) fn insert(&self, pid: u32) {
        let bit = shared_bit(pid);
        self.word(bit)
            .fetch_or(1 << (bit % WORD_BITS), Ordering::SeqCst);
    }

    /// Whether `pid` was added (by this process or a child sharing the mapping).
    pub(crate) fn contains(&self, pid: u32) -> bool {
        let bit = shared_bit(pid);
        let overflow = bit == 0 && pid != 0;
        let word = self.word(bit).load(Ordering::SeqCst);
        word & (1 << (bit % WORD_BITS)) != 0 || (overflow && word & 1 != 0)
    }
}

impl Drop for SharedPidSet {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped exactly once; no reference into it
        // outlives `self`.
        unsafe { libc::munmap(self.words.as_ptr().cast(), Self::BYTES) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_set() {
        let mut set = PidSet::new();
        assert!(!set.contains(1));
        set.insert(1);
        set.insert(4_194_303);
        assert!(set.contains(1) && set.contains(4_194_303));
        assert!(!set.contains(2) && !set.contains(64) && !set.contains(4_194_302));
    }

    #[test]
    fn shared_set_is_seen_across_fork() {
        let set = SharedPidSet::new().unwrap();
        assert!(!set.contains(77));
        // SAFETY: the child only does an atomic store and `_exit`s.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            set.insert(77);
            // SAFETY: ends the forked child without running destructors or atexit hooks.
            unsafe { libc::_exit(0) };
        }
        assert!(pid > 0);
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
        assert!(set.contains(77));
        assert!(!set.contains(76) && !set.contains(78));
    }

    #[test]
    fn out_of_range_pids_are_never_forgotten() {
        let set = SharedPidSet::new().unwrap();
        set.insert(u32::MAX);
        assert!(set.contains(u32::MAX));
        assert!(set.contains(u32::MAX - 1), "overflow bit: conservative");
        assert!(!set.contains(5));
    }
}
