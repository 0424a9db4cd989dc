//! The mmap'd stack a vfork-style child runs on, cached per thread.

#![allow(
    unsafe_code,
    reason = "mmap/munmap of the child's stack; each block says why"
)]

use std::io;
use std::ptr;

/// The child's stack for the vfork strategy: an mmap'd region with a `PROT_NONE` guard page
/// below it, so an overflow faults instead of writing into other memory. One is cached per
/// thread (the calling thread is suspended while its child runs on it, so it is never used
/// twice at once) and unmapped when the thread exits; that saves the mmap, munmap and
/// page faults of a fresh stack on every spawn.
pub(super) struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
    guard: usize,
}

/// Usable bytes of a child stack: `child_exec` and the libc calls it makes need a few KiB.
const CHILD_STACK_LEN: usize = 128 * 1024;

thread_local! {
    static CACHED_STACK: std::cell::Cell<Option<ChildStack>> =
        const { std::cell::Cell::new(None) };
}

impl ChildStack {
    /// This thread's cached stack, or a new one (while the cached one is in use).
    pub(super) fn take() -> io::Result<ChildStack> {
        match CACHED_STACK.try_with(std::cell::Cell::take) {
            Ok(Some(stack)) => Ok(stack),
            _ => ChildStack::new(),
        }
    }

    /// Returns the stack to this thread's cache (dropping it if the cache is full or gone).
    pub(super) fn give_back(self) {
        if let Ok(Some(extra)) = CACHED_STACK.try_with(|cell| cell.replace(Some(self))) {
            drop(extra);
        }
    }

    fn new() -> io::Result<ChildStack> {
        let guard = page_size();
        let len = CHILD_STACK_LEN + guard;
        // SAFETY: a fresh private anonymous mapping.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = ChildStack { base, len, guard };
        // SAFETY: the lowest page of our own mapping becomes the guard.
        if unsafe { libc::mprotect(base, guard, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The initial stack pointer (stacks grow down on every Linux ABI Rust targets but
    /// hppa, which Rust does not target).
    pub(super) fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping, 16-byte aligned (the mapping is
        // page-aligned and `len` a multiple of the page size).
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }

    /// The lowest usable address (above the guard page) and the usable size, for clone3.
    pub(super) fn usable(&self) -> (u64, u64) {
        let bottom = self.base as usize + self.guard;
        (bottom as u64, (self.len - self.guard) as u64)
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf takes an integer and returns one.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(4096)
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: unmaps our own mapping; no child runs on it (each child exec'd or exited
        // before its vfork parent resumed).
        unsafe { libc::munmap(self.base, self.len) };
    }
}
