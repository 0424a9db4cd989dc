//! pidfd-core on async-io with a minimal executor (`futures_lite::future::block_on`), as in
//! smol: a wait with a deadline that is cancelled and resumed without losing the status,
//! async output, and the exits of several children as a `Stream`.
//!
//! ```text
//! cargo run -p pidfd-core --features async-io --example smol_wait
//! ```

#![allow(clippy::print_stdout, reason = "a command-line demo")]

use std::io;
use std::time::Duration;

use async_io::Timer;
use futures_lite::StreamExt;
use futures_lite::future::{block_on, or};
use pidfd_core::Spawn;
use pidfd_core::async_io::{ProcessExt, Reaper, SpawnExt};

fn main() -> io::Result<()> {
    block_on(async {
        // 1. A wait raced against a timer: the timer wins, the wait is dropped — and the
        //    status is not lost (only the Process reaps, and it keeps it).
        let child = Spawn::new("sh")
            .args(["-c", "sleep 0.3; exit 4"])
            .spawn_async()?;
        let early = or(async { Some(child.wait().await) }, async {
            Timer::after(Duration::from_millis(50)).await;
            None
        })
        .await;
        println!(
            "after 50 ms: {}",
            if early.is_some() {
                "exited"
            } else {
                "still running"
            }
        );
        println!("then: {}", child.wait().await?);

        // 2. Output, read from both pipes at once.
        let output = Spawn::new("sh")
            .args(["-c", "echo to stdout; echo to stderr >&2"])
            .output_async()
            .await?;
        print!("stdout: {}", String::from_utf8_lossy(&output.stdout));
        print!("stderr: {}", String::from_utf8_lossy(&output.stderr));

        // 3. Several children, reported by one Reaper as they exit.
        let mut reaper = Reaper::new()?;
        for (token, delay) in [("slow", "0.3"), ("fast", "0.1"), ("middle", "0.2")] {
            let process = Spawn::new("sleep").arg(delay).spawn()?;
            reaper.add(process, token)?;
        }
        while let Some(exit) = reaper.next().await {
            let exit = exit?;
            println!("{} exited: {:?}", exit.token, exit.status);
        }

        // 4. A plain Process, waited for as a future.
        let process = Spawn::new("true").spawn()?.into_process();
        println!("true: {}", process.wait_async().await?);
        Ok(())
    })
}
