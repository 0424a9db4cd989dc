//! A throwaway cgroup v2 leaf for `CLONE_INTO_CGROUP` tests.
//!
//! Uses a mounted cgroup2 hierarchy when there is one; otherwise (hosts with only cgroup v1,
//! like this project's CI machines) mounts a cgroup2 hierarchy on a temporary directory,
//! which needs root. Everything is undone on drop.

#![allow(
    unsafe_code,
    reason = "mount(2) and umount2(2) of the throwaway cgroup2 hierarchy; each block says why"
)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::tempdir::TempDir;

/// A fresh, empty cgroup v2 directory.
#[derive(Debug)]
pub struct Cgroup2Leaf {
    dir: PathBuf,
    /// Relative to the hierarchy's root, as `/proc/<pid>/cgroup` shows it (`/name`).
    relative: String,
    mounted: Option<TempDir>,
}

impl Cgroup2Leaf {
    /// Creates the leaf; `Err` says why not (no cgroup2 and mounting one failed, or no
    /// permission to create a cgroup), for the test to print as its skip reason.
    pub fn new(tag: &str) -> Result<Cgroup2Leaf, String> {
        let (root, mounted) = match existing_cgroup2_mount() {
            Some(root) => (root, None),
            None => {
                let mount_point = TempDir::new("cgroup2");
                mount_cgroup2(mount_point.path()).map_err(|error| {
                    format!("no cgroup2 hierarchy mounted and mounting one failed: {error}")
                })?;
                (mount_point.path().to_owned(), Some(mount_point))
            }
        };
        let name = format!("pidfd-test-{tag}-{}", std::process::id());
        let dir = root.join(&name);
        if let Err(error) = std::fs::create_dir(&dir) {
            if let Some(mount_point) = &mounted {
                unmount(mount_point.path());
            }
            return Err(format!("cannot create cgroup {}: {error}", dir.display()));
        }
        Ok(Cgroup2Leaf {
            dir,
            relative: format!("/{name}"),
            mounted,
        })
    }

    /// The cgroup's directory opened read-only, as `CLONE_INTO_CGROUP` wants it.
    ///
    /// # Errors
    ///
    /// From `open(2)`.
    pub fn open(&self) -> io::Result<File> {
        File::open(&self.dir)
    }

    /// The leaf's directory (a parent for `pidfd_core::ProcessTree`s).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The path `/proc/<pid>/cgroup` shows for a member (when the test runs in the
    /// hierarchy's root cgroup namespace).
    pub fn relative_path(&self) -> &str {
        &self.relative
    }

    /// The pids in the cgroup now.
    ///
    /// # Errors
    ///
    /// From reading `cgroup.procs`.
    pub fn procs(&self) -> io::Result<Vec<u32>> {
        Ok(std::fs::read_to_string(self.dir.join("cgroup.procs"))?
            .lines()
            .filter_map(|line| line.parse().ok())
            .collect())
    }
}

/// A cgroup v2 leaf for `pidfd_core::ProcessTree` tests, or `None` after recording a counted
/// skip (no cgroup2 and mounting one failed — not root —, or no permission to create a
/// cgroup).
pub fn tree_parent_or_skip(tag: &str) -> Option<Cgroup2Leaf> {
    match Cgroup2Leaf::new(tag) {
        Ok(leaf) => Some(leaf),
        Err(reason) => {
            crate::emulator::skip(&format!(
                "no writable cgroup v2 for process trees: {reason}"
            ));
            None
        }
    }
}

impl Drop for Cgroup2Leaf {
    fn drop(&mut self) {
        // Only empty cgroups can be removed: the tests reap their children first.
        let _ = std::fs::remove_dir(&self.dir);
        if let Some(mount_point) = &self.mounted {
            unmount(mount_point.path());
        }
    }
}

/// The mount point of a cgroup2 hierarchy from /proc/self/mountinfo, if any — not one that
/// another leaf of this process mounted (a temporary directory of [`TempDir`] named
/// `pidfd-test-cgroup2-...`): that one goes away when its leaf is dropped, under the feet of
/// a concurrent test that used it.
fn existing_cgroup2_mount() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let ours = std::env::temp_dir().join("pidfd-test-cgroup2-");
    let ours = ours.to_string_lossy();
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fs_type = right.split(' ').next()?;
        let mount_point = left.split(' ').nth(4)?;
        (fs_type == "cgroup2" && !mount_point.starts_with(ours.as_ref()))
            .then(|| PathBuf::from(mount_point))
    })
}

fn mount_cgroup2(target: &Path) -> io::Result<()> {
    let target = CString::new(target.as_os_str().as_encoded_bytes())?;
    // SAFETY: NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            c"none".as_ptr(),
            target.as_ptr(),
            c"cgroup2".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn unmount(target: &Path) {
    if let Ok(target) = CString::new(target.as_os_str().as_encoded_bytes()) {
        // SAFETY: a NUL-terminated path.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Runs `f` in a new thread whose credentials alone (raw `setgroups`/`setresgid`/`setresuid`:
/// the kernel keeps credentials per thread, and only libc's wrappers change every thread)
/// are `uid`/`gid` with no supplementary groups — as root, a way to see what an ordinary
/// user sees without executing anything. `Err` says why the switch failed (not root).
///
/// # Panics
///
/// When `f` panics (the panic is passed on).
pub fn in_thread_as<T: Send>(
    uid: u32,
    gid: u32,
    f: impl FnOnce() -> T + Send,
) -> Result<T, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                switch_thread_credentials(uid, gid)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn switch_thread_credentials(uid: u32, gid: u32) -> Result<(), String> {
    #[cfg(any(target_arch = "x86", target_arch = "arm"))]
    let (setgroups, setresgid, setresuid) = (
        libc::SYS_setgroups32,
        libc::SYS_setresgid32,
        libc::SYS_setresuid32,
    );
    #[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
    let (setgroups, setresgid, setresuid) = (
        libc::SYS_setgroups,
        libc::SYS_setresgid,
        libc::SYS_setresuid,
    );
    let check = |rc: libc::c_long, what: &str| {
        if rc == 0 {
            Ok(())
        } else {
            Err(format!("{what}: {}", io::Error::last_os_error()))
        }
    };
    // SAFETY: setgroups(0, NULL) reads no memory; it changes this thread's credentials only.
    let rc = unsafe { libc::syscall(setgroups, 0, std::ptr::null::<libc::gid_t>()) };
    check(rc, "setgroups")?;
    // SAFETY: integer arguments only; this thread's credentials only.
    let rc = unsafe { libc::syscall(setresgid, gid, gid, gid) };
    check(rc, "setresgid")?;
    // SAFETY: integer arguments only; this thread's credentials only.
    let rc = unsafe { libc::syscall(setresuid, uid, uid, uid) };
    check(rc, "setresuid")
}

/// A cgroup2 hierarchy mounted by this test on a temporary directory of its own (root only),
/// lazily unmounted by [`Cgroup2Mount::detach`] or on drop.
#[derive(Debug)]
pub struct Cgroup2Mount {
    dir: TempDir,
    mounted: bool,
}

impl Cgroup2Mount {
    /// Mounts it; `Err` says why not (for the test's skip reason).
    pub fn new() -> Result<Cgroup2Mount, String> {
        let dir = TempDir::new("cgroup2");
        mount_cgroup2(dir.path()).map_err(|error| format!("cannot mount cgroup2: {error}"))?;
        Ok(Cgroup2Mount { dir, mounted: true })
    }

    /// The mount point (the hierarchy's root directory while mounted).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `umount2(MNT_DETACH)`: the path no longer leads into the hierarchy; fds opened in it
    /// still work.
    pub fn detach(&mut self) {
        if std::mem::take(&mut self.mounted) {
            unmount(self.dir.path());
        }
    }
}

impl Drop for Cgroup2Mount {
    fn drop(&mut self) {
        self.detach();
    }
}
