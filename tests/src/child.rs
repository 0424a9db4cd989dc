//! Real child processes for tests: [`TestChild`] (killed and reaped on drop), `sh -c`
//! children, [`Orphan`]s that are not our children, and `sh` spawned through
//! `pidfd_core::Spawn`.

use std::process::{Child, Command, Stdio};

use crate::kernel::expected_spawn_mode;

/// A real child process started for a test; reaped by the test through its pidfd, or
/// killed and reaped on drop if the test did not get that far (a failed assertion).
#[derive(Debug)]
pub struct TestChild(Child);

impl TestChild {
    /// Its PID as the kernel's `pid_t`.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.0.id()).expect("pid fits pid_t")
    }

    /// Its PID as std reports it.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// `Child::try_wait` (to check that someone else already reaped it: `ECHILD`).
    pub fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.0.try_wait()
    }
}

impl From<Child> for TestChild {
    fn from(child: Child) -> TestChild {
        TestChild(child)
    }
}

impl Drop for TestChild {
    fn drop(&mut self) {
        // `Ok(None)`: not reaped yet, so the PID is still ours and cannot have been reused;
        // killing by PID is safe. Reaped children (the normal case) give ECHILD.
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `sh -c script` with no stdio, as a real child of this process.
pub fn sh(script: &str) -> TestChild {
    let child = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start sh");
    TestChild(child)
}

/// A process that is not our child — started by an `sh` that has exited since — and that
/// waits, blocked on a pipe, until [`Orphan::release`]: until then its PID certainly names
/// it (nobody can reap a process that has not exited), so a pidfd opened by that PID is
/// its own. Released, it runs `script`.
#[derive(Debug)]
pub struct Orphan {
    /// Its PID.
    pub pid: u32,
    release: Option<std::io::PipeWriter>,
}

impl Orphan {
    /// Starts the orphan; it will run `sh -c script` once released.
    pub fn start(script: &str) -> Orphan {
        use std::io::BufRead;
        let (reader, writer) = std::io::pipe().expect("pipe");
        // The background job's stdin is /dev/null (POSIX, without job control), so it reads
        // the pipe through fd 3; its stdout goes to /dev/null so that only `echo $!` reaches
        // our pipe.
        let quoted = script.replace('\'', r"'\''");
        let mut parent = Command::new("sh")
            .args([
                "-c",
                &format!("exec 3<&0; (read _ <&3; exec sh -c '{quoted}') >/dev/null & echo $!"),
            ])
            .stdin(reader)
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start sh");
        let mut line = String::new();
        std::io::BufReader::new(parent.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the orphan's PID");
        assert!(parent.wait().expect("wait for sh").success());
        Orphan {
            pid: line.trim().parse().expect("a PID"),
            release: Some(writer),
        }
    }

    /// Lets it run its script (end of file on its pipe).
    pub fn release(&mut self) {
        self.release.take();
    }
}

/// `sh -c script` through `pidfd_core::Spawn`, as a pidfd-mode process. Where Spawn falls
/// back to pid mode (qemu-user, which refuses every CLONE_PIDFD flavour; `PIDFD_DISABLE=1`)
/// the still unreaped child is taken over with `pidfd_open` (which qemu supports, and which
/// the environment variable does not affect). (`Option` for the callers' sake: always
/// `Some`.)
pub fn spawn_sh(script: &str) -> Option<pidfd_core::Process> {
    let process = pidfd_core::Spawn::new("sh")
        .args(["-c", script])
        .spawn()
        .expect("spawn sh");
    if process.mode() == pidfd_core::Mode::Pid {
        assert_eq!(
            expected_spawn_mode(),
            pidfd_core::Mode::Pid,
            "Spawn gave a pid-mode process where pidfd mode was expected"
        );
        let pid = process.pid();
        // The child is ours and not reaped (a pid-mode Process reaps only when waited on),
        // so the PID still names it.
        process.release();
        return Some(
            pidfd_core::Process::with_mode(pid, pidfd_core::Mode::PidFd)
                .expect("pidfd_open on our child"),
        );
    }
    Some(process.into_process())
}

/// Our child sleeping in the kernel (by `/proc/<pid>/stat`: state S, our ppid), if any.
pub fn sleeping_child() -> Option<i32> {
    let own = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (_, rest) = stat.rsplit_once(") ")?;
            let mut fields = rest.split(' ');
            let state = fields.next()?;
            (fields.next()? == own && state == "S").then_some(pid)
        })
}
