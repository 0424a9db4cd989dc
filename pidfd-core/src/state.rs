//! The lifetime state of a [`crate::Process`]'s pidfd: a reference count plus "done" and
//! "released" bits in one atomic word (the Go `os.Process` design).
//!
//! Pure: no syscalls here. Each transition tells the caller whether it must close the fd now;
//! the caller does the closing. The invariants, checked by the loom models below:
//!
//! * the fd is closed exactly once, by whoever drops the count to zero;
//! * no reference is handed out once the count can have reached zero (so no syscall ever
//!   runs on a closed, possibly reused, fd number);
//! * once "done" or "released" is set, new references are refused;
//! * finishing is idempotent: only the first `finish` drops the persistent reference.

use crate::sync::atomic::{AtomicUsize, Ordering};

/// Set once the child has been reaped (its status is cached).
const DONE: usize = 1 << (usize::BITS - 1);
/// Set once the user released the handle.
const RELEASED: usize = 1 << (usize::BITS - 2);
/// The reference count: one persistent reference plus one per operation in flight.
const COUNT: usize = RELEASED - 1;

/// Why a reference was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The child has been reaped.
    Done,
    /// The handle has been released.
    Released,
}

/// What the caller must do after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the fd must be closed when this says Close"]
pub(crate) enum Closing {
    /// Close the fd now: this was the last reference.
    Close,
    /// Others still hold references (or the fd was already closed): do nothing.
    Keep,
}

/// Why the persistent reference is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// The child was reaped.
    Done,
    /// The user released the handle.
    Released,
}

/// The state word. Starts with the persistent reference.
#[derive(Debug)]
pub(crate) struct HandleState {
    word: AtomicUsize,
}

impl HandleState {
    /// A live handle holding its persistent reference.
    pub(crate) fn new() -> Self {
        Self {
            word: AtomicUsize::new(1),
        }
    }

    /// Takes a transient reference for one operation, unless done or released.
    #[inline]
    pub(crate) fn acquire_transient(&self) -> Result<(), Refused> {
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            if current & RELEASED != 0 {
                return Err(Refused::Released);
            }
            if current & DONE != 0 {
                return Err(Refused::Done);
            }
            // Live and not finished: the persistent reference is held, so count >= 1 and the
            // fd is open. Overflow would need 2^62 operations in flight.
            debug_assert!(current & COUNT >= 1);
            match self.word.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// Drops a transient reference taken by [`HandleState::acquire_transient`].
    #[inline]
    pub(crate) fn drop_transient(&self) -> Closing {
        let previous = self.word.fetch_sub(1, Ordering::AcqRel);
        if previous & COUNT == 1 {
            Closing::Close
        } else {
            Closing::Keep
        }
    }

    /// Drops the persistent reference, marking the handle done or released. Idempotent:
    /// only the first call (of either kind) drops the reference; later calls still set
    /// their bit, so that released wins over done in [`HandleState::acquire_transient`].
    pub(crate) fn finish(&self, why: Finish) -> Closing {
        let bit = match why {
            Finish::Done => DONE,
            Finish::Released => RELEASED,
        };
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            let first = current & (DONE | RELEASED) == 0;
            let next = if first {
                (current | bit) - 1
            } else {
                current | bit
            };
            match self.word.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if first && next & COUNT == 0 => return Closing::Close,
                Ok(_) => return Closing::Keep,
                Err(actual) => current = actual,
            }
        }
    }

    /// Whether the handle was released (for error reporting).
    pub(crate) fn is_released(&self) -> bool {
        self.word.load(Ordering::Acquire) & RELEASED != 0
    }
}

#[cfg(all(test, not(pidfd_loom)))]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_done_then_release() {
        let state = HandleState::new();
        state.acquire_transient().unwrap();
        assert_eq!(
            state.finish(Finish::Done),
            Closing::Keep,
            "a transient is still held"
        );
        assert_eq!(state.acquire_transient(), Err(Refused::Done));
        assert_eq!(
            state.drop_transient(),
            Closing::Close,
            "the last transient closes"
        );
        assert_eq!(
            state.finish(Finish::Released),
            Closing::Keep,
            "already closed"
        );
        assert_eq!(
            state.acquire_transient(),
            Err(Refused::Released),
            "released wins over done"
        );
        assert!(state.is_released());
    }

    #[test]
    fn release_without_operations_closes_at_once() {
        let state = HandleState::new();
        assert_eq!(state.finish(Finish::Released), Closing::Close);
        assert_eq!(state.finish(Finish::Released), Closing::Keep);
        assert_eq!(state.finish(Finish::Done), Closing::Keep);
        assert_eq!(state.acquire_transient(), Err(Refused::Released));
    }
}

#[cfg(all(test, pidfd_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicBool;

    /// The state plus a model of the fd: `closed` and how many closes happened.
    struct Model {
        state: HandleState,
        closed: AtomicBool,
        closes: AtomicUsize,
    }

    impl Model {
        fn new() -> Arc<Self> {
            Arc::new(Self {
                state: HandleState::new(),
                closed: AtomicBool::new(false),
                closes: AtomicUsize::new(0),
            })
        }

        fn close_if(&self, closing: Closing) {
            if closing == Closing::Close {
                assert!(!self.closed.swap(true, Ordering::AcqRel), "closed twice");
                self.closes.fetch_add(1, Ordering::AcqRel);
            }
        }

        /// An operation (signal, try_wait, ...): use the fd under a transient reference.
        fn operate(&self) -> Result<(), Refused> {
            self.state.acquire_transient()?;
            assert!(!self.closed.load(Ordering::Acquire), "used after close");
            self.close_if(self.state.drop_transient());
            Ok(())
        }

        /// A reaping wait: use the fd, then mark done while still holding the reference.
        fn wait(&self) {
            if self.state.acquire_transient().is_ok() {
                assert!(!self.closed.load(Ordering::Acquire), "used after close");
                self.close_if(self.state.finish(Finish::Done));
                self.close_if(self.state.drop_transient());
            }
        }

        fn finish(&self, why: Finish) {
            self.close_if(self.state.finish(why));
        }
    }

    fn check_end(model: &Model) {
        // Everything joined; the handle is finished (Process::drop does this at the end).
        model.finish(Finish::Released);
        assert_eq!(model.closes.load(Ordering::Acquire), 1, "exactly one close");
        assert!(model.state.acquire_transient().is_err());
    }

    #[test]
    fn signal_wait_release_race() {
        loom::model(|| {
            let model = Model::new();
            let signaller = {
                let model = model.clone();
                loom::thread::spawn(move || {
                    let _ = model.operate();
                    let _ = model.operate();
                })
            };
            let waiter = {
                let model = model.clone();
                loom::thread::spawn(move || model.wait())
            };
            model.finish(Finish::Released);
            signaller.join().unwrap();
            waiter.join().unwrap();
            check_end(&model);
        });
    }

    #[test]
    fn two_waiters_and_a_try_wait() {
        loom::model(|| {
            let model = Model::new();
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let model = model.clone();
                    loom::thread::spawn(move || model.wait())
                })
                .collect();
            let _ = model.operate();
            for thread in threads {
                thread.join().unwrap();
            }
            check_end(&model);
        });
    }

    #[test]
    fn release_is_idempotent_and_refuses_after() {
        loom::model(|| {
            let model = Model::new();
            let releaser = {
                let model = model.clone();
                loom::thread::spawn(move || model.finish(Finish::Released))
            };
            let operator = {
                let model = model.clone();
                loom::thread::spawn(move || model.operate())
            };
            model.finish(Finish::Released);
            releaser.join().unwrap();
            let result = operator.join().unwrap();
            // Either it ran before the release or it was refused as released.
            assert!(matches!(result, Ok(()) | Err(Refused::Released)));
            assert_eq!(model.state.acquire_transient(), Err(Refused::Released));
            check_end(&model);
        });
    }
}
