//! EINTR storms aimed at one thread: a helper thread sends a signal to the *calling* thread
//! with `pthread_kill` every period, through a handler installed without `SA_RESTART`, and
//! the handler counts, by `gettid()`, how often it ran on that thread — so a test can prove
//! that the thread blocked in the call under test was really interrupted (a process-directed
//! `ITIMER_REAL` signal goes to whichever thread the kernel picks, usually an idle one).
//!
//! One storm per process at a time (the counters are process-wide): use it in re-exec'd
//! scenario children.

#![allow(
    unsafe_code,
    reason = "gettid and pthread_kill aim the signals at one thread; each block says why"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

static TARGET_TID: AtomicI32 = AtomicI32::new(0);
static ON_TARGET: AtomicU32 = AtomicU32::new(0);
static ELSEWHERE: AtomicU32 = AtomicU32::new(0);

fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail; the tid fits pid_t.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    i32::try_from(tid).unwrap_or(-1)
}

extern "C" fn on_signal(_: libc::c_int) {
    // Async-signal-safe: a raw syscall and atomics.
    if gettid() == TARGET_TID.load(Ordering::SeqCst) {
        ON_TARGET.fetch_add(1, Ordering::SeqCst);
    } else {
        ELSEWHERE.fetch_add(1, Ordering::SeqCst);
    }
}

/// A running storm; stops (and joins its thread) on drop.
#[derive(Debug)]
pub struct Storm {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU32>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Storm {
    /// Starts sending `signal` to the calling thread every `period`.
    pub fn at_this_thread(signal: i32, period: Duration) -> Storm {
        TARGET_TID.store(gettid(), Ordering::SeqCst);
        ON_TARGET.store(0, Ordering::SeqCst);
        ELSEWHERE.store(0, Ordering::SeqCst);
        crate::install_interrupting_handler(signal, on_signal);
        // SAFETY: the calling thread's own handle; it outlives the storm, which the caller
        // stops (drop) before the thread ends.
        let target = unsafe { libc::pthread_self() };
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU32::new(0));
        let thread = {
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    // SAFETY: `target` is alive until `stop` is set and this thread joined.
                    unsafe { libc::pthread_kill(target, signal) };
                    sent.fetch_add(1, Ordering::SeqCst);
                    // Pacing, not synchronization: how often the storm hits.
                    std::thread::sleep(period);
                }
            })
        };
        Storm {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    /// Signals sent so far.
    pub fn sent(&self) -> u32 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Handler runs on the target thread so far.
    pub fn hits_on_target(&self) -> u32 {
        ON_TARGET.load(Ordering::SeqCst)
    }

    /// Handler runs on any other thread (must stay 0: `pthread_kill` is thread-directed).
    pub fn hits_elsewhere(&self) -> u32 {
        ELSEWHERE.load(Ordering::SeqCst)
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
