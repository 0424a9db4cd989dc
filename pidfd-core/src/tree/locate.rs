//! Where this process's cgroup v2 directory is: its `0::` line of `/proc/self/cgroup` and a
//! cgroup2 mount of `/proc/self/mountinfo` whose root contains it. Pure parsers, tested on
//! text.

use std::path::PathBuf;

/// The cgroup v2 path of the `0::` line of a `/proc/<pid>/cgroup` text (`/user.slice/...`),
/// if there is one. A process with no cgroup v2 membership (cgroup v1 only) has none.
pub(super) fn unified_path(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .filter(|path| path.starts_with('/'))
}

/// One cgroup2 mount: its mount point, and the directory of the hierarchy it shows (its
/// "root", `/` for a whole hierarchy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cgroup2Mount {
    pub(super) root: String,
    pub(super) mount_point: PathBuf,
}

/// Every cgroup2 mount of a `/proc/<pid>/mountinfo` text, in order. Octal escapes (`\040`
/// for a space) in the paths are decoded.
pub(super) fn cgroup2_mounts(mountinfo: &str) -> Vec<Cgroup2Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            if right.split(' ').next()? != "cgroup2" {
                return None;
            }
            let mut fields = left.split(' ');
            let root = unescape(fields.nth(3)?);
            let mount_point = PathBuf::from(unescape(fields.next()?));
            Some(Cgroup2Mount { root, mount_point })
        })
        .collect()
}

/// The directory (under a mount of `mounts`) of the cgroup `path` (as `/proc/self/cgroup`
/// shows it): the last mount whose root is `path` or one of its ancestors.
pub(super) fn directory_of(path: &str, mounts: &[Cgroup2Mount]) -> Option<PathBuf> {
    mounts.iter().rev().find_map(|mount| {
        let root = mount.root.trim_end_matches('/');
        let rest = path.strip_prefix(root)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let rest = rest.trim_start_matches('/');
        Some(if rest.is_empty() {
            mount.mount_point.clone()
        } else {
            mount.mount_point.join(rest)
        })
    })
}

/// Decodes mountinfo's `\ooo` octal escapes.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `populated` and `frozen` keys of a `cgroup.events` text (`frozen` is absent before
/// Linux 5.2: `false`).
pub(super) fn parse_events(text: &str) -> Option<(bool, bool)> {
    let mut populated = None;
    let mut frozen = false;
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("populated", value)) => populated = Some(value.trim() == "1"),
            Some(("frozen", value)) => frozen = value.trim() == "1",
            _ => {}
        }
    }
    populated.map(|populated| (populated, frozen))
}

/// The `(state, ppid, pgrp)` of a `/proc/<pid>/stat` line (the command name may hold spaces
/// and parentheses: the fields start after the last `)`).
pub(super) fn parse_stat(stat: &str) -> Option<(char, i32, i32)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_the_own_cgroup_directory() {
        assert_eq!(unified_path("4:memory:/x\n0::/a/b\n"), Some("/a/b"));
        assert_eq!(unified_path("4:memory:/x\n"), None);
        let mounts = cgroup2_mounts(HYBRID);
        assert_eq!(mounts.len(), 1);
        assert_eq!(
            directory_of("/", &mounts),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            directory_of("/a/b", &mounts),
            Some(PathBuf::from("/sys/fs/cgroup/unified/a/b"))
        );
    }

    #[test]
    fn a_mount_of_a_subtree() {
        let mounts =
            cgroup2_mounts("50 1 0:40 /user.slice /mnt/my\\040cg rw - cgroup2 cgroup2 rw\n");
        assert_eq!(mounts[0].mount_point, PathBuf::from("/mnt/my cg"));
        assert_eq!(
            directory_of("/user.slice/app", &mounts),
            Some(PathBuf::from("/mnt/my cg/app"))
        );
        assert_eq!(directory_of("/user.slicex", &mounts), None);
        assert_eq!(directory_of("/system.slice", &mounts), None);
    }

    #[test]
    fn events_and_stat() {
        assert_eq!(parse_events("populated 1\nfrozen 0\n"), Some((true, false)));
        assert_eq!(parse_events("populated 0\nfrozen 1\n"), Some((false, true)));
        assert_eq!(parse_events("populated 0\n"), Some((false, false)));
        assert_eq!(parse_events(""), None);
        assert_eq!(
            parse_stat("42 (a) b) (c) S 7 42 42 0 -1"),
            Some(('S', 7, 42))
        );
        assert_eq!(parse_stat("42 (x"), None);
    }
}
