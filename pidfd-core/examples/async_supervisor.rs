//! An async process supervisor on tokio, all through pidfds: three workers, each restarted
//! with exponential backoff when it exits, then a graceful shutdown — `SIGTERM` through each
//! child's pidfd, and `SIGKILL` (through the pidfd too) to the one still running when the
//! grace period is over.
//!
//! ```text
//! cargo run -p pidfd-core --features tokio --example async_supervisor [SECONDS]
//! PIDFD_DISABLE=1 cargo run -p pidfd-core --features tokio --example async_supervisor
//! ```
//!
//! (With `PIDFD_DISABLE=1` the same runs in pid mode: signals by PID, only while the child
//! is known not to be reaped.)

#![allow(clippy::print_stdout, reason = "a command-line demo")]

use std::io;
use std::time::{Duration, Instant};

use futures_lite::future::or;
use pidfd_core::Spawn;
use pidfd_core::sys::signal::SIGTERM;
use pidfd_core::tokio::{Child, SpawnExt};
use tokio::sync::watch;

/// The first restart delay; doubled after each quick failure, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A worker that ran this long before exiting starts over at [`FIRST_BACKOFF`].
const STABLE: Duration = Duration::from_secs(1);
/// How long a worker has between `SIGTERM` and `SIGKILL`.
const GRACE: Duration = Duration::from_millis(500);

/// (name, shell script): one that fails quickly, one that ignores `SIGTERM`, one that runs.
const WORKERS: [(&str, &str); 3] = [
    ("flaky", "sleep 0.2; exit 1"),
    ("stubborn", "trap '' TERM; while :; do sleep 0.1; done"),
    ("steady", "exec sleep 1000"),
];

fn main() -> io::Result<()> {
    let seconds = std::env::args()
        .nth(1)
        .map_or(Ok(2.0), |arg| arg.parse::<f64>())
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (stop, stopping) = watch::channel(false);
        let workers: Vec<_> = WORKERS
            .iter()
            .map(|&(name, script)| tokio::spawn(supervise(name, script, stopping.clone())))
            .collect();
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        println!("-- shutting down (SIGTERM, then SIGKILL after {GRACE:?})");
        let _ = stop.send(true);
        for worker in workers {
            worker.await.map_err(io::Error::other)??;
        }
        Ok(())
    })
}

/// Waits until a shutdown is asked for.
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: stop too.
    let _ = stopping.wait_for(|&stop| stop).await;
}

/// Runs one worker: restarts it with backoff until a shutdown, then stops it gracefully.
async fn supervise(
    name: &str,
    script: &str,
    mut stopping: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        // Killed and reaped (without blocking the runtime) should this task be dropped.
        let child = Spawn::new("sh")
            .args(["-c", script])
            .kill_on_drop(true)
            .spawn_async()?;
        let started = Instant::now();
        println!(
            "[{name}] started, pid {} ({:?} mode)",
            child.pid(),
            child.mode()
        );
        let exited = or(async { Some(child.wait().await) }, async {
            stopped(&mut stopping).await;
            None
        })
        .await;
        let Some(status) = exited else {
            return stop_gracefully(name, &child).await;
        };
        if started.elapsed() >= STABLE {
            backoff = FIRST_BACKOFF;
        }
        println!("[{name}] exited ({}); restart in {backoff:?}", status?);
        let stop = or(
            async {
                tokio::time::sleep(backoff).await;
                false
            },
            async {
                stopped(&mut stopping).await;
                true
            },
        )
        .await;
        if stop {
            return Ok(());
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// `SIGTERM` through the pidfd; `SIGKILL` (through the pidfd) if the child still runs after
/// [`GRACE`]. The wait that times out is cancelled without losing anything: the next wait
/// gets the status.
async fn stop_gracefully(name: &str, child: &Child) -> io::Result<()> {
    child.send_signal(SIGTERM)?;
    match tokio::time::timeout(GRACE, child.wait()).await {
        Ok(status) => println!("[{name}] stopped by SIGTERM ({})", status?),
        Err(_) => {
            child.kill()?;
            println!(
                "[{name}] still running after {GRACE:?}: SIGKILL ({})",
                child.wait().await?
            );
        }
    }
    Ok(())
}
