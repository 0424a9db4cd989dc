//! [`Errno`]: the error a raw syscall returns.

use core::fmt;

use linux_raw_sys::errno as e;

/// An error number returned by a Linux syscall (`errno`).
///
/// A transparent newtype rather than an enum: the kernel may return values this crate does
/// not name, and an unknown value must never be undefined behaviour. The associated constants
/// have the native values of this ABI (they differ between ABIs: `ENOSYS` is 38 on x86 and 89
/// on mips), taken from `linux-raw-sys` and checked against `libc` (see [`crate::errata`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Errno(i32);

/// `Result<T, Errno>`: what every wrapper in [`crate::syscalls`] returns.
pub type Result<T> = core::result::Result<T, Errno>;

macro_rules! errno_consts {
    ($($(#[$doc:meta])* $name:ident = $raw:ident;)*) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($raw), "`: ")]
                $(#[$doc])*
                #[allow(clippy::cast_possible_wrap, reason = "errno values are small positive numbers")]
                pub const $name: Self = Self(e::$raw as i32);
            )*
        }

        /// Symbolic names of the constants above, for `Debug`.
        fn name_of(errno: Errno) -> Option<&'static str> {
            match errno {
                $(Errno::$name => Some(stringify!($raw)),)*
                _ => None,
            }
        }
    };
}

errno_consts! {
    /// Operation not permitted (also what a seccomp filter may return).
    PERM = EPERM;
    /// No such file or directory.
    NOENT = ENOENT;
    /// No such process: the process is gone (exited, and for pidfds possibly reaped).
    SRCH = ESRCH;
    /// Interrupted system call.
    INTR = EINTR;
    /// Argument list too long.
    TOOBIG = E2BIG;
    /// Exec format error.
    NOEXEC = ENOEXEC;
    /// Bad file descriptor.
    BADF = EBADF;
    /// No child processes (nothing to wait for, or someone else reaped it).
    CHILD = ECHILD;
    /// Try again (`PIDFD_NONBLOCK` wait on a running child).
    AGAIN = EAGAIN;
    /// Out of memory.
    NOMEM = ENOMEM;
    /// Permission denied.
    ACCESS = EACCES;
    /// Bad address.
    FAULT = EFAULT;
    /// Not a directory.
    NOTDIR = ENOTDIR;
    /// Is a directory.
    ISDIR = EISDIR;
    /// Invalid argument.
    INVAL = EINVAL;
    /// Too many open files in the system.
    NFILE = ENFILE;
    /// Too many open files in this process (`RLIMIT_NOFILE`).
    MFILE = EMFILE;
    /// Inappropriate ioctl for device.
    NOTTY = ENOTTY;
    /// Text file busy.
    TXTBSY = ETXTBSY;
    /// File name too long.
    NAMETOOLONG = ENAMETOOLONG;
    /// Function not implemented: the kernel (or an emulator, or a seccomp filter) lacks it.
    NOSYS = ENOSYS;
    /// Too many symbolic links.
    LOOP = ELOOP;
    /// Object is remote: used by `pidfd` fdinfo for a process outside our pid namespace.
    REMOTE = EREMOTE;
    /// Operation not supported.
    OPNOTSUPP = EOPNOTSUPP;
}

impl Errno {
    /// Wraps a raw errno value (as found in `errno` after a failed call).
    #[inline]
    pub const fn from_raw_os_error(raw: i32) -> Self {
        Self(raw)
    }

    /// The raw errno value.
    #[inline]
    pub const fn raw_os_error(self) -> i32 {
        self.0
    }

    /// Reads the calling thread's `errno`.
    #[inline]
    pub fn last_os_error() -> Self {
        // SAFETY: `__errno_location` has no preconditions and returns a valid pointer to the
        // calling thread's errno for the thread's lifetime.
        let location = unsafe { libc::__errno_location() };
        // SAFETY: the pointer is valid and aligned (see above); reading an int is fine.
        Self(unsafe { location.read() })
    }

    /// The `Errno` inside an [`std::io::Error`], if it carries an OS error code.
    #[cfg(feature = "std")]
    #[inline]
    pub fn from_io_error(error: &std::io::Error) -> Option<Self> {
        error.raw_os_error().map(Self)
    }

    /// Runs `f` again while it fails with [`Errno::INTR`].
    #[inline]
    pub fn retry_on_intr<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
        loop {
            match f() {
                Err(Self::INTR) => continue,
                other => return other,
            }
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name_of(*self) {
            Some(name) => write!(f, "Errno({name})"),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name_of(*self) {
            Some(name) => write!(f, "{name} (os error {})", self.0),
            None => write!(f, "os error {}", self.0),
        }
    }
}

impl core::error::Error for Errno {}

#[cfg(feature = "std")]
impl From<Errno> for std::io::Error {
    #[inline]
    fn from(errno: Errno) -> Self {
        Self::from_raw_os_error(errno.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_to_io_error_with_the_right_kind() {
        use std::io::ErrorKind;
        let cases = [
            (Errno::SRCH, None),
            (Errno::INVAL, Some(ErrorKind::InvalidInput)),
            (Errno::PERM, Some(ErrorKind::PermissionDenied)),
            (Errno::NOENT, Some(ErrorKind::NotFound)),
            (Errno::INTR, Some(ErrorKind::Interrupted)),
            (Errno::AGAIN, Some(ErrorKind::WouldBlock)),
            (Errno::NOSYS, Some(ErrorKind::Unsupported)),
        ];
        for (errno, kind) in cases {
            let io = std::io::Error::from(errno);
            assert_eq!(io.raw_os_error(), Some(errno.raw_os_error()));
            assert_eq!(Errno::from_io_error(&io), Some(errno));
            if let Some(kind) = kind {
                assert_eq!(io.kind(), kind, "{errno:?}");
            }
        }
    }

    #[test]
    fn debug_and_display_name_known_values_and_keep_unknown_ones() {
        assert_eq!(format!("{:?}", Errno::SRCH), "Errno(ESRCH)");
        assert_eq!(format!("{}", Errno::SRCH), "ESRCH (os error 3)");
        assert_eq!(
            format!("{:?}", Errno::from_raw_os_error(4000)),
            "Errno(4000)"
        );
        assert_eq!(format!("{}", Errno::from_raw_os_error(-1)), "os error -1");
    }

    #[test]
    fn retry_on_intr_retries_only_eintr() {
        let mut calls = 0;
        let result: Result<()> = Errno::retry_on_intr(|| {
            calls += 1;
            if calls < 3 {
                Err(Errno::INTR)
            } else {
                Err(Errno::BADF)
            }
        });
        assert_eq!(result, Err(Errno::BADF));
        assert_eq!(calls, 3);
    }
}
