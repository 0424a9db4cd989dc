//! `output()` as a future ([`Collect`]): both pipes and the exit at once.

use std::io;
use std::process::{ExitStatus, Output};
use std::task::{Context, Poll};
use std::time::Instant;

use super::{Guard, Pipe, Runtime, WaitState, poll_timer};
use crate::Child;

/// The state of an async `output()` / `wait_with_output()`.
pub(crate) struct Collect<R: Runtime> {
    guard: Guard,
    pipes: [Option<Pipe<R>>; 2],
    data: [Vec<u8>; 2],
    wait: WaitState<'static, R>,
    /// The exit: its status, when it was seen.
    exited: Option<(ExitStatus, Instant)>,
    last_data: Instant,
    /// The drain deadline after the exit (reset when data comes).
    drain: Option<R::Timer>,
    chunk: Vec<u8>,
    /// Keep what is read (`output`), or discard it (`status`).
    keep: bool,
}

/// How much one read takes from a pipe.
const CHUNK: usize = 16 * 1024;

impl<R: Runtime> Collect<R> {
    pub(crate) fn new(
        guard: Guard,
        stdout: Option<Pipe<R>>,
        stderr: Option<Pipe<R>>,
        keep: bool,
    ) -> Self {
        Collect {
            guard,
            pipes: [stdout, stderr],
            data: [Vec::new(), Vec::new()],
            wait: WaitState::new(),
            exited: None,
            last_data: Instant::now(),
            drain: None,
            chunk: Vec::new(),
            keep,
        }
    }

    fn output(&mut self, status: ExitStatus) -> Output {
        let [stdout, stderr] = std::mem::take(&mut self.data);
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// Reads both pipes and waits for the exit; after the exit the pipes are read while
    /// data flows, and given up [`Child::DRAIN_IDLE`] after the last data or
    /// [`Child::DRAIN_MAX`] after the exit (as the blocking form does).
    pub(crate) fn poll_collect(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Output>> {
        loop {
            let mut progress = false;
            for (slot, data) in self.pipes.iter_mut().zip(&mut self.data) {
                let Some(pipe) = slot.as_mut() else { continue };
                if self.chunk.is_empty() {
                    self.chunk = vec![0; CHUNK];
                }
                match pipe.poll_read(cx, &mut self.chunk) {
                    Poll::Ready(Ok(0)) => *slot = None,
                    Poll::Ready(Ok(count)) => {
                        if self.keep {
                            data.extend_from_slice(&self.chunk[..count]);
                        }
                        self.last_data = Instant::now();
                    }
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => continue,
                }
                progress = true;
            }
            if self.exited.is_none() {
                if let Poll::Ready(status) = self.wait.poll_wait_detached(self.guard.process(), cx)
                {
                    self.last_data = Instant::now();
                    self.exited = Some((status?, self.last_data));
                    progress = true;
                }
            }
            let Some((status, at)) = self.exited else {
                if progress {
                    continue;
                }
                return Poll::Pending;
            };
            if self.pipes.iter().all(Option::is_none) {
                return Poll::Ready(Ok(self.output(status)));
            }
            let deadline = (self.last_data + Child::DRAIN_IDLE).min(at + Child::DRAIN_MAX);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Poll::Ready(Ok(self.output(status)));
            }
            if progress {
                self.drain = None; // a new deadline
                continue;
            }
            if !poll_timer::<R>(&mut self.drain, left, cx) {
                return Poll::Pending;
            }
        }
    }
}
