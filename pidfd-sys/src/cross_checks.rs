//! How this crate's tables compare with `libc` and `linux-raw-sys`, checked at compile time.
//!
//! Every native value in this crate is compared with the same value in `linux-raw-sys`
//! (generated from the Linux 6.17 headers) and in `libc`, wherever those crates define it for
//! the target — except for the known upstream errors listed in [`crate::errata::ERRATA`],
//! which are asserted to *still be wrong*.
//!
//! Compiled into this crate's own tests and into builds with `--cfg pidfd_check_upstream`,
//! which `cargo xtask check-arches` sets for every target; not part of normal builds: a
//! future `libc` release must never break a user's build.

#[cfg(any(test, pidfd_check_upstream))]
#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "compares small kernel constants that each crate types differently"
)]
mod checks {
    use core::ffi::c_long;
    use core::mem::{offset_of, size_of};

    use linux_raw_sys::general as lrs;
    use static_assertions::const_assert_eq;

    use crate::abi::NATIVE;
    use crate::flags::{CloneFlags, P_PIDFD, PidfdFlags, PidfdSignalFlags, WaitIdOptions, cld};
    use crate::{Errno, nr, signal};

    const fn n(value: u32) -> c_long {
        value as c_long
    }

    // --- syscall numbers: linux-raw-sys (every arch it has) ---
    const_assert_eq!(nr::SYS_pidfd_open, n(lrs::__NR_pidfd_open));
    const_assert_eq!(nr::SYS_pidfd_send_signal, n(lrs::__NR_pidfd_send_signal));
    const_assert_eq!(nr::SYS_pidfd_getfd, n(lrs::__NR_pidfd_getfd));
    const_assert_eq!(nr::SYS_clone, n(lrs::__NR_clone));
    const_assert_eq!(nr::SYS_waitid, n(lrs::__NR_waitid));
    const_assert_eq!(nr::SYS_process_madvise, n(lrs::__NR_process_madvise));
    const_assert_eq!(nr::SYS_process_mrelease, n(lrs::__NR_process_mrelease));
    #[cfg(not(pidfd_sparc))]
    const_assert_eq!(nr::SYS_clone3.unwrap(), n(lrs::__NR_clone3));

    // --- syscall numbers: libc (gnu targets; musl lacks some on a few arches) ---
    #[cfg(target_env = "gnu")]
    mod libc_numbers {
        use super::*;
        const_assert_eq!(nr::SYS_pidfd_open, libc::SYS_pidfd_open);
        const_assert_eq!(nr::SYS_pidfd_send_signal, libc::SYS_pidfd_send_signal);
        const_assert_eq!(nr::SYS_pidfd_getfd, libc::SYS_pidfd_getfd);
        const_assert_eq!(nr::SYS_clone, libc::SYS_clone);
        const_assert_eq!(nr::SYS_waitid, libc::SYS_waitid);
        const_assert_eq!(nr::SYS_process_madvise, libc::SYS_process_madvise);
        const_assert_eq!(nr::SYS_process_mrelease, libc::SYS_process_mrelease);
        #[cfg(not(pidfd_sparc))]
        const_assert_eq!(nr::SYS_clone3.unwrap(), libc::SYS_clone3);
        // Erratum: libc has a clone3 number the sparc kernel does not.
        #[cfg(pidfd_sparc)]
        const_assert_eq!(libc::SYS_clone3, 435);
    }

    // --- signals ---
    macro_rules! same_signals {
        ($($ours:ident = $theirs:ident;)*) => {
            $(const_assert_eq!(signal::$ours, lrs::$theirs as i32);)*
            #[cfg(not(pidfd_libc_mips64_gnu))]
            mod libc_signals {
                use super::*;
                $(const_assert_eq!(signal::$ours, libc::$theirs);)*
            }
        };
    }
    same_signals! {
        SIGHUP = SIGHUP;
        SIGINT = SIGINT;
        SIGQUIT = SIGQUIT;
        SIGABRT = SIGABRT;
        SIGBUS = SIGBUS;
        SIGKILL = SIGKILL;
        SIGUSR1 = SIGUSR1;
        SIGSEGV = SIGSEGV;
        SIGUSR2 = SIGUSR2;
        SIGPIPE = SIGPIPE;
        SIGALRM = SIGALRM;
        SIGTERM = SIGTERM;
        SIGCHLD = SIGCHLD;
        SIGCONT = SIGCONT;
        SIGSTOP = SIGSTOP;
        SIGTSTP = SIGTSTP;
        SIGSYS = SIGSYS;
        SIGILL = SIGILL;
        SIGTRAP = SIGTRAP;
        SIGFPE = SIGFPE;
        SIGXCPU = SIGXCPU;
        SIGXFSZ = SIGXFSZ;
        SIGTTIN = SIGTTIN;
        SIGTTOU = SIGTTOU;
        SIGURG = SIGURG;
        SIGVTALRM = SIGVTALRM;
        SIGPROF = SIGPROF;
        SIGWINCH = SIGWINCH;
        SIGIO = SIGIO;
        SIGPOLL = SIGPOLL;
        SIGPWR = SIGPWR;
    }
    // The signals only some ABIs have: the same number where the headers define one, and
    // `None` exactly where linux-raw-sys (generated from those headers) has no constant.
    #[cfg(not(any(pidfd_mips, pidfd_sparc)))]
    mod stkflt {
        use super::*;
        const_assert_eq!(signal::SIGSTKFLT.unwrap(), lrs::SIGSTKFLT as i32);
        const_assert_eq!(signal::SIGSTKFLT.unwrap(), libc::SIGSTKFLT);
    }
    #[cfg(any(pidfd_mips, pidfd_sparc))]
    const _: () = assert!(signal::SIGSTKFLT.is_none());
    #[cfg(any(pidfd_mips, pidfd_sparc))]
    const_assert_eq!(signal::SIGEMT.unwrap(), lrs::SIGEMT as i32);
    // libc has SIGEMT for glibc mips/sparc and musl mips (not for mips64 glibc: erratum).
    #[cfg(all(any(pidfd_mips, pidfd_sparc), not(pidfd_libc_mips64_gnu)))]
    const_assert_eq!(signal::SIGEMT.unwrap(), libc::SIGEMT);
    #[cfg(not(any(pidfd_mips, pidfd_sparc)))]
    const _: () = assert!(signal::SIGEMT.is_none());
    // sparc: SIGPWR is SIGLOST (libc has no SIGLOST).
    #[cfg(pidfd_sparc)]
    const_assert_eq!(signal::SIGLOST.unwrap(), lrs::SIGLOST as i32);
    #[cfg(pidfd_sparc)]
    const_assert_eq!(signal::SIGLOST.unwrap(), signal::SIGPWR);
    #[cfg(not(pidfd_sparc))]
    const _: () = assert!(signal::SIGLOST.is_none());
    // SIGINFO is alpha's only, which Rust does not target.
    const _: () = assert!(signal::SIGINFO.is_none());
    const_assert_eq!(signal::NSIG, lrs::_NSIG as i32);
    const_assert_eq!(signal::SIG_BLOCK, lrs::SIG_BLOCK as i32);
    const_assert_eq!(signal::SIG_UNBLOCK, lrs::SIG_UNBLOCK as i32);
    const_assert_eq!(signal::SIG_SETMASK, lrs::SIG_SETMASK as i32);
    #[cfg(not(pidfd_libc_mips64_gnu))]
    mod libc_sigmask_how {
        use super::*;
        const_assert_eq!(signal::SIG_BLOCK, libc::SIG_BLOCK);
        const_assert_eq!(signal::SIG_UNBLOCK, libc::SIG_UNBLOCK);
        const_assert_eq!(signal::SIG_SETMASK, libc::SIG_SETMASK);
    }
    // Erratum: libc 0.2.191 gives x86 signal numbers on mips64 gnu.
    #[cfg(pidfd_libc_mips64_gnu)]
    mod libc_mips64_signals_erratum {
        use super::*;
        const_assert_eq!(libc::SIGCHLD, 17);
        const_assert_eq!(signal::SIGCHLD, 18);
        const_assert_eq!(libc::SIGUSR1, 10);
        const_assert_eq!(signal::SIGUSR1, 16);
        const_assert_eq!(libc::SIG_SETMASK, 2);
        const_assert_eq!(signal::SIG_SETMASK, 3);
        const_assert_eq!(libc::SIGWINCH, 28);
        const_assert_eq!(signal::SIGWINCH, 20);
        const_assert_eq!(libc::SIGPWR, 30);
        const_assert_eq!(signal::SIGPWR, 19);
        const_assert_eq!(libc::SIGXCPU, 24);
        const_assert_eq!(signal::SIGXCPU, 30);
        const_assert_eq!(libc::SIGIO, 29);
        const_assert_eq!(signal::SIGIO, 22);
        // mips has no SIGSTKFLT; libc defines the x86 one.
        const_assert_eq!(libc::SIGSTKFLT, 16);
        const _: () = assert!(signal::SIGSTKFLT.is_none());
    }

    // --- sockets (SCM_RIGHTS for std-ext's channel) ---
    const_assert_eq!(
        crate::socket::SOL_SOCKET,
        linux_raw_sys::net::SOL_SOCKET as i32
    );
    const_assert_eq!(
        crate::socket::SCM_RIGHTS,
        linux_raw_sys::net::SCM_RIGHTS as i32
    );
    #[cfg(not(pidfd_libc_mips64_gnu))]
    const_assert_eq!(crate::socket::SOL_SOCKET, libc::SOL_SOCKET);
    #[cfg(pidfd_libc_mips64_gnu)]
    const_assert_eq!(libc::SOL_SOCKET, 1);

    // --- open flags (PIDFD_NONBLOCK = O_NONBLOCK, PIDFD_THREAD = O_EXCL) ---
    const_assert_eq!(PidfdFlags::NONBLOCK.bits(), lrs::O_NONBLOCK);
    const_assert_eq!(PidfdFlags::THREAD.bits(), lrs::O_EXCL);
    const_assert_eq!(NATIVE.open_flags.cloexec, lrs::O_CLOEXEC);
    const_assert_eq!(PidfdFlags::NONBLOCK.bits(), libc::PIDFD_NONBLOCK);
    const_assert_eq!(PidfdFlags::THREAD.bits(), libc::PIDFD_THREAD);
    #[allow(clippy::cast_sign_loss, reason = "flag bits")]
    const _: () = assert!(NATIVE.open_flags.cloexec == libc::O_CLOEXEC as u32);
    const_assert_eq!(PidfdSignalFlags::THREAD.bits(), libc::PIDFD_SIGNAL_THREAD);
    const_assert_eq!(
        PidfdSignalFlags::THREAD_GROUP.bits(),
        libc::PIDFD_SIGNAL_THREAD_GROUP
    );
    const_assert_eq!(
        PidfdSignalFlags::PROCESS_GROUP.bits(),
        libc::PIDFD_SIGNAL_PROCESS_GROUP
    );

    // --- waitid ---
    const_assert_eq!(P_PIDFD, lrs::P_PIDFD);
    const_assert_eq!(P_PIDFD, libc::P_PIDFD);
    const_assert_eq!(WaitIdOptions::NOHANG.bits(), libc::WNOHANG);
    const_assert_eq!(WaitIdOptions::STOPPED.bits(), libc::WSTOPPED);
    const_assert_eq!(WaitIdOptions::EXITED.bits(), libc::WEXITED);
    const_assert_eq!(WaitIdOptions::CONTINUED.bits(), libc::WCONTINUED);
    const_assert_eq!(WaitIdOptions::NOWAIT.bits(), libc::WNOWAIT);
    const_assert_eq!(WaitIdOptions::NOTHREAD.bits(), libc::__WNOTHREAD);
    const_assert_eq!(WaitIdOptions::ALL.bits(), libc::__WALL);
    const_assert_eq!(WaitIdOptions::CLONE.bits(), libc::__WCLONE);
    const_assert_eq!(cld::EXITED, libc::CLD_EXITED);
    const_assert_eq!(cld::KILLED, libc::CLD_KILLED);
    const_assert_eq!(cld::DUMPED, libc::CLD_DUMPED);
    const_assert_eq!(cld::TRAPPED, libc::CLD_TRAPPED);
    const_assert_eq!(cld::STOPPED, libc::CLD_STOPPED);
    const_assert_eq!(cld::CONTINUED, libc::CLD_CONTINUED);
    const_assert_eq!(cld::EXITED as u32, lrs::CLD_EXITED);
    const_assert_eq!(cld::CONTINUED as u32, lrs::CLD_CONTINUED);

    // --- clone ---
    const_assert_eq!(CloneFlags::PIDFD.bits(), lrs::CLONE_PIDFD as u64);
    const_assert_eq!(CloneFlags::VFORK.bits(), lrs::CLONE_VFORK as u64);
    const_assert_eq!(CloneFlags::VM.bits(), lrs::CLONE_VM as u64);
    const_assert_eq!(CloneFlags::NEWPID.bits(), lrs::CLONE_NEWPID as u64);
    const_assert_eq!(CloneFlags::NEWUSER.bits(), lrs::CLONE_NEWUSER as u64);
    const_assert_eq!(CloneFlags::NEWTIME.bits(), lrs::CLONE_NEWTIME as u64);
    const_assert_eq!(CloneFlags::IO.bits(), lrs::CLONE_IO as u64);
    const_assert_eq!(CloneFlags::CLEAR_SIGHAND.bits(), lrs::CLONE_CLEAR_SIGHAND);
    const_assert_eq!(CloneFlags::INTO_CGROUP.bits(), lrs::CLONE_INTO_CGROUP);
    const_assert_eq!(
        crate::clone::CLONE_ARGS_SIZE_VER0,
        lrs::CLONE_ARGS_SIZE_VER0 as usize
    );
    const_assert_eq!(
        crate::clone::CLONE_ARGS_SIZE_VER1,
        lrs::CLONE_ARGS_SIZE_VER1 as usize
    );
    const_assert_eq!(
        crate::clone::CLONE_ARGS_SIZE_VER2,
        lrs::CLONE_ARGS_SIZE_VER2 as usize
    );
    const_assert_eq!(size_of::<crate::clone_args>(), size_of::<lrs::clone_args>());
    const_assert_eq!(
        offset_of!(crate::clone_args, cgroup),
        offset_of!(lrs::clone_args, cgroup)
    );
    const_assert_eq!(CloneFlags::PIDFD.bits(), libc::CLONE_PIDFD as u64);

    // --- errno ---
    macro_rules! same_errnos {
        ($($ours:ident = $theirs:ident;)*) => {
            $(
                const_assert_eq!(Errno::$ours.raw_os_error(), linux_raw_sys::errno::$theirs as i32);
                const_assert_eq!(Errno::$ours.raw_os_error(), libc::$theirs);
            )*
        };
    }
    same_errnos! {
        PERM = EPERM; NOENT = ENOENT; SRCH = ESRCH; INTR = EINTR; TOOBIG = E2BIG;
        NOEXEC = ENOEXEC; BADF = EBADF; CHILD = ECHILD; AGAIN = EAGAIN; NOMEM = ENOMEM;
        ACCESS = EACCES; FAULT = EFAULT; NOTDIR = ENOTDIR; ISDIR = EISDIR; INVAL = EINVAL;
        NFILE = ENFILE; MFILE = EMFILE; NOTTY = ENOTTY; TXTBSY = ETXTBSY;
        NAMETOOLONG = ENAMETOOLONG; NOSYS = ENOSYS; LOOP = ELOOP; REMOTE = EREMOTE;
        OPNOTSUPP = EOPNOTSUPP;
    }

    // --- siginfo_t ---
    const L: crate::abi::SiginfoLayout = NATIVE.siginfo;
    type LrsHeader = lrs::siginfo__bindgen_ty_1__bindgen_ty_1;
    const_assert_eq!(size_of::<lrs::siginfo_t>(), L.size);
    const_assert_eq!(offset_of!(LrsHeader, si_signo), L.signo);
    const_assert_eq!(offset_of!(LrsHeader, si_errno), L.errno);
    const_assert_eq!(offset_of!(LrsHeader, si_code), L.code);
    const_assert_eq!(
        offset_of!(lrs::__sifields__bindgen_ty_4, _status)
            - offset_of!(lrs::__sifields__bindgen_ty_4, _pid),
        L.status - L.pid
    );
    #[cfg(not(pidfd_x32))]
    const_assert_eq!(offset_of!(LrsHeader, _sifields), L.pid);
    // Erratum: linux-raw-sys puts x32's _sifields at 16, the kernel at 12.
    #[cfg(pidfd_x32)]
    const_assert_eq!(offset_of!(LrsHeader, _sifields), 16);

    const_assert_eq!(offset_of!(libc::siginfo_t, si_signo), L.signo);
    const_assert_eq!(offset_of!(libc::siginfo_t, si_errno), L.errno);
    const_assert_eq!(offset_of!(libc::siginfo_t, si_code), L.code);
    #[cfg(not(pidfd_x32))]
    const_assert_eq!(size_of::<libc::siginfo_t>(), L.size);
    // Erratum: libc's x32 siginfo_t is 136 bytes.
    #[cfg(pidfd_x32)]
    const_assert_eq!(size_of::<libc::siginfo_t>(), 136);

    // --- pidfd_info and the pidfs ioctls (libc has the VER0 struct) ---
    const_assert_eq!(
        size_of::<libc::pidfd_info>(),
        crate::pidfs::PIDFD_INFO_SIZE_VER0
    );
    const_assert_eq!(
        offset_of!(libc::pidfd_info, cgroupid),
        offset_of!(crate::pidfd_info, cgroupid)
    );
    const_assert_eq!(
        offset_of!(libc::pidfd_info, pid),
        offset_of!(crate::pidfd_info, pid)
    );
    const_assert_eq!(
        offset_of!(libc::pidfd_info, fsgid),
        offset_of!(crate::pidfd_info, fsgid)
    );
    const_assert_eq!(
        offset_of!(libc::pidfd_info, exit_code),
        offset_of!(crate::pidfd_info, exit_code)
    );
    /// libc's request type is `c_ulong` on glibc and `c_int` on musl: compare the 32 bits.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::unnecessary_cast,
        reason = "32-bit requests (c_ulong is u32 on 32-bit targets)"
    )]
    const fn bits(request: libc::Ioctl) -> u32 {
        request as u32
    }
    const _: () = assert!(
        NATIVE
            .ioctl
            .iowr(0xFF, 11, crate::pidfs::PIDFD_INFO_SIZE_VER0)
            .unwrap()
            == bits(libc::PIDFD_GET_INFO)
    );
    /// What libc's `_IO` gets wrong, added back (see [`crate::errata::ERRATA`]).
    #[cfg(not(any(target_arch = "mips32r6", target_arch = "mips64r6")))]
    const LIBC_IO_ERROR: u32 = 0;
    // Erratum: libc 0.2.191's `_IOC` treats mips32r6/mips64r6 as generic (`_IOC_NONE` 0),
    // so every `_IO` request it defines there lacks the 0x2000_0000 direction bit.
    #[cfg(any(target_arch = "mips32r6", target_arch = "mips64r6"))]
    const LIBC_IO_ERROR: u32 = 0x2000_0000;
    macro_rules! same_namespace_requests {
        ($($ours:ident = $theirs:ident;)*) => {
            $(const _: () = assert!(
                crate::pidfs::PidfdNamespace::$ours.request()
                    == bits(libc::$theirs) + LIBC_IO_ERROR
            );)*
        };
    }
    same_namespace_requests! {
        Cgroup = PIDFD_GET_CGROUP_NAMESPACE;
        Ipc = PIDFD_GET_IPC_NAMESPACE;
        Mnt = PIDFD_GET_MNT_NAMESPACE;
        Net = PIDFD_GET_NET_NAMESPACE;
        Pid = PIDFD_GET_PID_NAMESPACE;
        PidForChildren = PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE;
        Time = PIDFD_GET_TIME_NAMESPACE;
        TimeForChildren = PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE;
        User = PIDFD_GET_USER_NAMESPACE;
        Uts = PIDFD_GET_UTS_NAMESPACE;
    }
    const_assert_eq!(
        crate::pidfs::PidfdInfoMask::EXIT.bits(),
        libc::PIDFD_INFO_EXIT as u64
    );
    const_assert_eq!(
        crate::pidfs::PidfdInfoMask::CGROUPID.bits(),
        libc::PIDFD_INFO_CGROUPID as u64
    );
}

#[cfg(test)]
mod tests {
    use crate::errata::ERRATA;

    #[test]
    fn errata_name_a_crate_and_targets() {
        for erratum in ERRATA {
            assert!(
                erratum.krate.starts_with("libc ") || erratum.krate.starts_with("linux-raw-sys ")
            );
            assert!(erratum.targets.contains("-linux-"), "{}", erratum.targets);
        }
    }

    #[test]
    fn native_numbers_match_libc_at_run_time_too() {
        assert_eq!(crate::nr::SYS_pidfd_open, libc::SYS_pidfd_open);
        assert_eq!(crate::nr::SYS_waitid, libc::SYS_waitid);
    }
}
