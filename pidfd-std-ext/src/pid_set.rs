//! Sets of PIDs as bitmaps: [`PidSet`] in the parent's own memory, and [`SharedPidSet`] in a
//! `MAP_SHARED` mapping that forked children (between `fork` and `exec`) can add to — with a
//! ticket counter beside it, from which each child draws a number of its own.
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
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The largest PID a kernel can hand out plus one (`PID_MAX_LIMIT`: 2^22 on 64-bit kernels,
/// which 32-bit programs run on too — so not this program's pointer width).
const PID_MAX_LIMIT: usize = 1 << 22;

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

/// A fixed bitmap of `PID_MAX_LIMIT` bits, then one ticket counter, in an anonymous
/// `MAP_SHARED` mapping (512 KiB of address space; pages are only allocated where a bit is
/// set). A child forked from this process shares it until it `exec`s, so
/// [`SharedPidSet::insert`] and [`SharedPidSet::next_ticket`] in a `pre_exec` hook act on
/// the parent's copy.
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
    /// The bitmap, then the counter (one word).
    const BYTES: usize = PID_MAX_LIMIT / 8 + 4;

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

    /// Word `index` of the mapping: `index <= PID_MAX_LIMIT / WORD_BITS` (the last one is
    /// the ticket counter).
    fn word_at(&self, index: usize) -> &AtomicU32 {
        assert!(index <= PID_MAX_LIMIT / WORD_BITS);
        // SAFETY: `index < BYTES / 4` (checked above): the pointer stays inside the mapping.
        let word = unsafe { self.words.as_ptr().add(index) };
        // SAFETY: inside the mapping, which is page-aligned (so aligned for AtomicU32),
        // zero-filled or written only atomically (a valid AtomicU32) and lives as long as
        // `self`.
        unsafe { &*word }
    }

    fn word(&self, bit: usize) -> &AtomicU32 {
        self.word_at(bit / WORD_BITS)
    }

    /// A number no other caller of this mapping (this process, or any child forked from it)
    /// has drawn, never 0 — until the 32-bit counter wraps after 2^32 draws. Async-signal-safe
    /// (one atomic `fetch_add`).
    pub(crate) fn next_ticket(&self) -> u32 {
        let counter = self.word_at(PID_MAX_LIMIT / WORD_BITS);
        let ticket = counter.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        if ticket == 0 {
            counter.fetch_add(1, Ordering::SeqCst).wrapping_add(1)
        } else {
            ticket
        }
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

/// The process-wide shared set (lost messages, and the children's tickets), made by the
/// first `create_pidfd(true)` or `spawn_with_pidfd` and kept for the life of the process.
static PROCESS_WIDE: OnceLock<&'static SharedPidSet> = OnceLock::new();

/// The process-wide shared set, made on first use.
///
/// # Errors
///
/// From `mmap` (`ENOMEM`).
pub(crate) fn process_wide() -> io::Result<&'static SharedPidSet> {
    if let Some(set) = PROCESS_WIDE.get() {
        return Ok(set);
    }
    let made: &'static SharedPidSet = Box::leak(Box::new(SharedPidSet::new()?));
    // A racing first user may have set another one: use that (ours stays mapped, unused).
    Ok(PROCESS_WIDE.get_or_init(|| made))
}

/// The process-wide shared set if it was made. Async-signal-safe (an atomic load): for the
/// hooks in forked children.
pub(crate) fn process_wide_if_made() -> Option<&'static SharedPidSet> {
    PROCESS_WIDE.get().copied()
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
    fn tickets_are_unique_across_fork() {
        let set = SharedPidSet::new().unwrap();
        let first = set.next_ticket();
        // SAFETY: the child only does an atomic add and `_exit`s.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let _ = set.next_ticket();
            // SAFETY: ends the forked child without running destructors or atexit hooks.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
        assert_eq!((first, set.next_ticket()), (1, 3), "the child drew 2");
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
