//! Signal names and numbers: [`parse`] `"TERM"`, `"SIGTERM"`, `"term"`, `"15"` or
//! `"RTMIN+2"`, and [`name`] a number back.
//!
//! The numbers are the native ABI's, from [`pidfd_sys::signal`] — never `libc::SIG*`, which
//! gives the x86 numbers on mips64 glibc. They differ between ABIs (`SIGUSR1` is 10 on x86
//! and arm, 16 on mips and parisc, 30 on sparc and alpha), so a name is the portable way to
//! spell a signal; this module is the one place that turns names into numbers.
//!
//! # Names
//!
//! * The standard signals of [`pidfd_sys::signal`]: the table [`STANDARD`], which names
//!   every signal below [`RTMIN`] (`HUP`, `INT`, `QUIT`, `ILL`, `TRAP`, `ABRT`, `BUS`,
//!   `FPE`, `KILL`, `USR1`, `SEGV`, `USR2`, `PIPE`, `ALRM`, `TERM`, `CHLD`, `CONT`, `STOP`,
//!   `TSTP`, `TTIN`, `TTOU`, `URG`, `XCPU`, `XFSZ`, `VTALRM`, `PROF`, `WINCH`, `IO`, `PWR`,
//!   `SYS`, and `STKFLT` or `EMT` where the ABI has it: `STKFLT` everywhere but mips and
//!   sparc, `EMT` on those two), plus the aliases `IOT` (`ABRT`), `CLD` (`CHLD`), `POLL`
//!   (`IO`) and, on sparc, `LOST`: sparc's signal 29 is both `SIGLOST` and `SIGPWR`, and
//!   is printed `PWR`.
//! * The realtime signals, **as the kernel numbers them**: `RTMIN` is [`RTMIN`] (32) and
//!   `RTMAX` is [`RTMAX`] (`NSIG`: 64, or 128 on mips); `RTMIN+n` and `RTMAX-n` count from
//!   them. The C library's `SIGRTMIN` is *not* 32: glibc keeps 32–34 for itself (threads,
//!   `setxid`) and its `SIGRTMIN` is 34 or 35, musl's 35; so `kill -l RTMIN` in a shell says
//!   34 where this module says 32. Use `RTMIN+n` with an `n` past the C library's reserve
//!   when the target process uses the C library's numbering.
//!
//! Names parse in any case, with or without the `SIG` prefix. A number parses as itself
//! when it is a valid signal (`1..=NSIG`, the kernel's `valid_signal`); signal 0 ("check
//! only") is not a signal and is refused, as is any sign, space or other character.
//!
//! # Example
//!
//! ```
//! use pidfd_core::signals;
//! use pidfd_sys::signal::{NSIG, SIGIO, SIGKILL, SIGTERM, SIGUSR1, SIGWINCH};
//!
//! assert_eq!(signals::parse("TERM"), Ok(SIGTERM));
//! assert_eq!(signals::parse("sigusr1"), Ok(SIGUSR1)); // 10 on x86, 16 on mips, 30 on sparc
//! assert_eq!(signals::parse("9"), Ok(SIGKILL));
//! assert_eq!(signals::parse("WINCH"), Ok(SIGWINCH)); // 28 on x86, 20 on mips
//! assert_eq!(signals::name(SIGIO).as_deref(), Some("IO")); // also parses as POLL
//! assert_eq!(signals::parse("RTMIN+2"), Ok(34));
//! assert_eq!(signals::parse("RTMAX"), Ok(NSIG));
//! assert_eq!(signals::name(SIGKILL).as_deref(), Some("KILL"));
//! assert_eq!(signals::name(40).as_deref(), Some("RTMIN+8"));
//! assert_eq!(signals::name(NSIG - 1).as_deref(), Some("RTMAX-1"));
//!
//! let error = signals::parse("SIGNOPE").unwrap_err();
//! let io: std::io::Error = error.into();
//! assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
//! ```

use std::borrow::Cow;
use std::fmt;
use std::io;

use pidfd_sys::signal as sig;

/// The first realtime signal as the kernel numbers it (`SIGRTMIN` of the kernel ABI): 32
/// on every Linux ABI. Not the C library's `SIGRTMIN` (34 or 35; see the module docs).
pub const RTMIN: i32 = 32;

/// The last realtime signal, which is also the highest signal number: `NSIG` (64, or 128
/// on mips).
pub const RTMAX: i32 = sig::NSIG;

/// The standard signals known by name (without the `SIG` prefix), with this ABI's numbers
/// from [`pidfd_sys::signal`]: every number below [`RTMIN`] appears exactly once, on every
/// ABI. Built from the names of every ABI, less the ones this ABI lacks (`STKFLT` on mips
/// and sparc, `EMT` elsewhere).
pub const STANDARD: &[(&str, i32)] = &PRESENT;

/// Every standard name with this ABI's number, `None` where the ABI has no such signal.
const EVERY_NAME: [(&str, Option<i32>); 32] = [
    ("HUP", Some(sig::SIGHUP)),
    ("INT", Some(sig::SIGINT)),
    ("QUIT", Some(sig::SIGQUIT)),
    ("ABRT", Some(sig::SIGABRT)),
    ("BUS", Some(sig::SIGBUS)),
    ("KILL", Some(sig::SIGKILL)),
    ("USR1", Some(sig::SIGUSR1)),
    ("SEGV", Some(sig::SIGSEGV)),
    ("USR2", Some(sig::SIGUSR2)),
    ("PIPE", Some(sig::SIGPIPE)),
    ("ALRM", Some(sig::SIGALRM)),
    ("TERM", Some(sig::SIGTERM)),
    ("CHLD", Some(sig::SIGCHLD)),
    ("CONT", Some(sig::SIGCONT)),
    ("STOP", Some(sig::SIGSTOP)),
    ("TSTP", Some(sig::SIGTSTP)),
    ("SYS", Some(sig::SIGSYS)),
    ("ILL", Some(sig::SIGILL)),
    ("TRAP", Some(sig::SIGTRAP)),
    ("FPE", Some(sig::SIGFPE)),
    ("STKFLT", sig::SIGSTKFLT),
    ("EMT", sig::SIGEMT),
    ("XCPU", Some(sig::SIGXCPU)),
    ("XFSZ", Some(sig::SIGXFSZ)),
    ("TTIN", Some(sig::SIGTTIN)),
    ("TTOU", Some(sig::SIGTTOU)),
    ("URG", Some(sig::SIGURG)),
    ("VTALRM", Some(sig::SIGVTALRM)),
    ("PROF", Some(sig::SIGPROF)),
    ("WINCH", Some(sig::SIGWINCH)),
    ("IO", Some(sig::SIGIO)),
    // On sparc this is also SIGLOST (and on alpha SIGINFO): printed as PWR, see ALIASES.
    ("PWR", Some(sig::SIGPWR)),
];

/// [`EVERY_NAME`] less the names this ABI lacks.
const PRESENT: [(&str, i32); present_count(&EVERY_NAME)] = present(&EVERY_NAME);

const fn present_count(names: &[(&str, Option<i32>)]) -> usize {
    let mut count = 0;
    let mut i = 0;
    while i < names.len() {
        if names[i].1.is_some() {
            count += 1;
        }
        i += 1;
    }
    count
}

const fn present<const N: usize>(
    names: &[(&'static str, Option<i32>)],
) -> [(&'static str, i32); N] {
    let mut out = [("", 0); N];
    let mut filled = 0;
    let mut i = 0;
    while i < names.len() {
        if let (name, Some(number)) = names[i] {
            out[filled] = (name, number);
            filled += 1;
        }
        i += 1;
    }
    assert!(filled == N);
    out
}

/// Other names of signals in [`STANDARD`]: parsed, never printed. `LOST` (sparc) and `INFO`
/// (alpha) are the kernel's names for the signal also called `PWR` there; other ABIs have
/// neither.
const ALIASES: &[(&str, Option<i32>)] = &[
    ("IOT", Some(sig::SIGABRT)),
    ("CLD", Some(sig::SIGCHLD)),
    ("POLL", Some(sig::SIGPOLL)),
    ("LOST", sig::SIGLOST),
    ("INFO", sig::SIGINFO),
];

/// Why a signal could not be parsed ([`parse`]); its message names the text.
///
/// Converts into an [`io::Error`] of kind `InvalidInput` (the message kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSignalError {
    text: String,
}

impl ParseSignalError {
    /// The text that did not parse.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ParseSignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid signal '{}' (expected a name such as TERM, SIGKILL or RTMIN+1, or a \
             number 1..={})",
            self.text,
            sig::NSIG
        )
    }
}

impl std::error::Error for ParseSignalError {}

impl From<ParseSignalError> for io::Error {
    fn from(error: ParseSignalError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, error)
    }
}

/// Parses a signal name or number (see the module docs): `"TERM"`, `"SIGTERM"`, `"term"`,
/// `"RTMIN+3"`, `"SIGRTMAX-1"`, `"15"`.
///
/// # Errors
///
/// [`ParseSignalError`] for an unknown name, 0, a number above `NSIG`, a realtime offset
/// past the realtime range, a sign, a space, or an empty string.
pub fn parse(text: &str) -> Result<i32, ParseSignalError> {
    let error = || ParseSignalError {
        text: text.to_owned(),
    };
    if let Some(number) = decimal(text) {
        return valid(number).ok_or_else(error);
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let aliases = ALIASES
        .iter()
        .filter_map(|&(known, number)| Some((known, number?)));
    if let Some((_, number)) = STANDARD
        .iter()
        .copied()
        .chain(aliases)
        .find(|&(known, _)| known == name)
    {
        return Ok(number);
    }
    realtime(name).ok_or_else(error)
}

/// The name of `signal` without the `SIG` prefix: `"TERM"`, `"RTMIN"`, `"RTMIN+3"`,
/// `"RTMAX-1"`. Realtime signals up to the middle of the range count from `RTMIN`, the
/// rest from `RTMAX` (`RTMIN+16` is 48 and `RTMAX-15` is 49 where `NSIG` is 64). `None`
/// for a number that is not a signal (every signal has a name).
///
/// [`parse`] reads every name this returns back to the same number.
pub fn name(signal: i32) -> Option<Cow<'static, str>> {
    if let Some(name) = standard_name(signal) {
        return Some(Cow::Borrowed(name));
    }
    if !(RTMIN..=RTMAX).contains(&signal) {
        return None;
    }
    let offset = signal - RTMIN;
    Some(if offset == 0 {
        Cow::Borrowed("RTMIN")
    } else if signal == RTMAX {
        Cow::Borrowed("RTMAX")
    } else if offset <= (RTMAX - RTMIN) / 2 {
        Cow::Owned(format!("RTMIN+{offset}"))
    } else {
        Cow::Owned(format!("RTMAX-{}", RTMAX - signal))
    })
}

/// The name of a signal in [`STANDARD`] (`"TERM"`), without allocating; `None` for the
/// realtime signals and numbers that are not signals.
pub fn standard_name(signal: i32) -> Option<&'static str> {
    STANDARD
        .iter()
        .find(|&&(_, known)| known == signal)
        .map(|&(name, _)| name)
}

/// `signal` if it is a valid signal number (`1..=NSIG`).
fn valid(signal: i32) -> Option<i32> {
    (1..=sig::NSIG).contains(&signal).then_some(signal)
}

/// A non-empty run of ASCII digits as a number (`None` for anything else, or overflow).
fn decimal(text: &str) -> Option<i32> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `RTMIN`, `RTMIN+n`, `RTMAX`, `RTMAX-n` (upper case, no `SIG`) within the realtime range.
fn realtime(name: &str) -> Option<i32> {
    let number = if let Some(rest) = name.strip_prefix("RTMIN") {
        match rest.strip_prefix('+') {
            None if rest.is_empty() => RTMIN,
            Some(offset) => RTMIN.checked_add(decimal(offset)?)?,
            None => return None,
        }
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        match rest.strip_prefix('-') {
            None if rest.is_empty() => RTMAX,
            Some(offset) => RTMAX.checked_sub(decimal(offset)?)?,
            None => return None,
        }
    } else {
        return None;
    };
    (RTMIN..=RTMAX).contains(&number).then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_prefix_in_any_case() {
        for (text, expected) in [
            ("TERM", sig::SIGTERM),
            ("SIGTERM", sig::SIGTERM),
            ("term", sig::SIGTERM),
            ("SigInt", sig::SIGINT),
            ("KILL", sig::SIGKILL),
            ("usr1", sig::SIGUSR1),
            ("SIGHUP", sig::SIGHUP),
            ("iot", sig::SIGABRT),
            ("SIGCLD", sig::SIGCHLD),
            ("poll", sig::SIGIO),
            ("SIGPOLL", sig::SIGIO),
            ("winch", sig::SIGWINCH),
            ("SIGPWR", sig::SIGPWR),
            ("rtmin", RTMIN),
            ("SIGRTMIN+1", RTMIN + 1),
            ("sigrtmax-1", RTMAX - 1),
            ("RTMAX", RTMAX),
        ] {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn numbers_in_range() {
        assert_eq!(parse(&sig::SIGTERM.to_string()), Ok(sig::SIGTERM));
        assert_eq!(parse("1"), Ok(1));
        assert_eq!(parse(&sig::NSIG.to_string()), Ok(sig::NSIG));
        assert_eq!(parse("09"), Ok(9));
        assert_eq!(parse("32"), Ok(RTMIN));
    }

    #[test]
    fn rejects_junk_negative_zero_and_empty() {
        let too_big = (sig::NSIG + 1).to_string();
        let past_rtmin = format!("RTMIN+{}", RTMAX - RTMIN + 1);
        let past_rtmax = format!("RTMAX-{}", RTMAX - RTMIN + 1);
        for text in [
            "",
            "0",
            "-9",
            "+9",
            "-TERM",
            "SIG",
            "SIGFOO",
            "TERM ",
            " 15",
            "1.5",
            "99999999999",
            "SIGSIGTERM",
            "RTMIN+",
            "RTMIN-1",
            "RTMAX+1",
            "RTMIN+-1",
            "RTMIN++1",
            "RTMIN+ 1",
            "RTMIN1",
            "RTMAX-99999999999",
            "RT",
            &too_big,
            &past_rtmin,
            &past_rtmax,
        ] {
            let error = parse(text).unwrap_err();
            assert_eq!(error.text(), text);
            assert!(error.to_string().contains(&format!("'{text}'")), "{error}");
        }
    }

    #[test]
    fn every_signal_round_trips() {
        for &(name_in_table, number) in STANDARD {
            assert_eq!(parse(name_in_table), Ok(number));
            assert_eq!(standard_name(number), Some(name_in_table));
            assert_eq!(name(number).as_deref(), Some(name_in_table));
        }
        let mut named = 0;
        for number in 1..=sig::NSIG {
            // Every number parses as itself; every name given parses back to it.
            assert_eq!(parse(&number.to_string()), Ok(number));
            if let Some(text) = name(number) {
                named += 1;
                assert_eq!(parse(&text), Ok(number), "{text}");
                assert_eq!(parse(&format!("SIG{}", text.to_lowercase())), Ok(number));
            }
        }
        assert_eq!(
            named,
            STANDARD.len() + usize::try_from(RTMAX - RTMIN + 1).unwrap()
        );
        // Every number is a signal with a name: the standard table covers 1..RTMIN.
        assert_eq!(named, usize::try_from(sig::NSIG).unwrap());
        assert_eq!(STANDARD.len(), usize::try_from(RTMIN - 1).unwrap());
        for not_a_signal in [i32::MIN, -1, 0, sig::NSIG + 1, i32::MAX] {
            assert_eq!(name(not_a_signal), None, "{not_a_signal}");
        }
    }

    #[test]
    fn realtime_names_split_at_the_middle() {
        assert_eq!(name(RTMIN).as_deref(), Some("RTMIN"));
        assert_eq!(name(RTMIN + 1).as_deref(), Some("RTMIN+1"));
        assert_eq!(name(RTMAX).as_deref(), Some("RTMAX"));
        assert_eq!(name(RTMAX - 1).as_deref(), Some("RTMAX-1"));
        let middle = RTMIN + (RTMAX - RTMIN) / 2;
        assert_eq!(
            name(middle).as_deref(),
            Some(format!("RTMIN+{}", middle - RTMIN).as_str())
        );
        assert_eq!(
            name(middle + 1).as_deref(),
            Some(format!("RTMAX-{}", RTMAX - middle - 1).as_str())
        );
        // Both spellings of one number parse to it.
        assert_eq!(parse(&format!("RTMAX-{}", RTMAX - RTMIN)), Ok(RTMIN));
        assert_eq!(parse(&format!("RTMIN+{}", RTMAX - RTMIN)), Ok(RTMAX));
    }

    #[test]
    fn the_table_is_this_abis_and_has_no_duplicates() {
        for (i, &(name_a, a)) in STANDARD.iter().enumerate() {
            assert!(
                (1..RTMIN).contains(&a),
                "{name_a}={a}: below the realtime range"
            );
            for &(name_b, b) in &STANDARD[i + 1..] {
                assert_ne!(a, b, "{name_a} and {name_b}");
                assert_ne!(name_a, name_b);
            }
        }
        // The numbers that differ between ABIs, spelled out per ABI (the kernel's
        // arch/*/include/uapi/asm/signal.h), so a wrong table cannot pass unnoticed.
        let mips = cfg!(any(
            target_arch = "mips",
            target_arch = "mips32r6",
            target_arch = "mips64",
            target_arch = "mips64r6"
        ));
        let sparc = cfg!(any(target_arch = "sparc", target_arch = "sparc64"));
        let (bus, usr1, usr2, chld, cont, stop, tstp, sys) = if mips {
            (10, 16, 17, 18, 25, 23, 24, 12)
        } else if sparc {
            (10, 30, 31, 20, 19, 17, 18, 12)
        } else {
            (7, 10, 12, 17, 18, 19, 20, 31)
        };
        let [xcpu, xfsz, ttin, ttou, urg, vtalrm, prof, winch, io, pwr] = if mips {
            [30, 31, 26, 27, 21, 28, 29, 20, 22, 19]
        } else if sparc {
            [24, 25, 21, 22, 16, 26, 27, 28, 23, 29]
        } else {
            [24, 25, 21, 22, 23, 26, 27, 28, 29, 30]
        };
        // The ABI-specific ones: STKFLT (not mips/sparc), EMT (mips/sparc), LOST (sparc).
        let (stkflt, emt, lost) = if mips {
            (None, Some(7), None)
        } else if sparc {
            (None, Some(7), Some(29))
        } else {
            (Some(16), None, None)
        };
        let expected = [
            ("BUS", bus),
            ("USR1", usr1),
            ("USR2", usr2),
            ("CHLD", chld),
            ("CONT", cont),
            ("STOP", stop),
            ("TSTP", tstp),
            ("SYS", sys),
            ("XCPU", xcpu),
            ("XFSZ", xfsz),
            ("TTIN", ttin),
            ("TTOU", ttou),
            ("URG", urg),
            ("VTALRM", vtalrm),
            ("PROF", prof),
            ("WINCH", winch),
            ("IO", io),
            ("POLL", io),
            ("PWR", pwr),
            ("HUP", 1),
            ("INT", 2),
            ("QUIT", 3),
            ("ILL", 4),
            ("TRAP", 5),
            ("ABRT", 6),
            ("FPE", 8),
            ("KILL", 9),
            ("SEGV", 11),
            ("PIPE", 13),
            ("ALRM", 14),
            ("TERM", 15),
        ];
        for (text, number) in expected {
            assert_eq!(parse(text), Ok(number), "{text}");
        }
        for (text, number) in [("STKFLT", stkflt), ("EMT", emt), ("LOST", lost)] {
            assert_eq!(parse(text).ok(), number, "{text}");
        }
        // alpha's SIGINFO is no name on any ABI Rust targets.
        assert!(parse("INFO").is_err());
        // The shared number prints as PWR, never LOST.
        assert_eq!(name(pwr).as_deref(), Some("PWR"));
        let nsig = if cfg!(any(
            target_arch = "mips",
            target_arch = "mips32r6",
            target_arch = "mips64",
            target_arch = "mips64r6"
        )) {
            128
        } else {
            64
        };
        assert_eq!(RTMAX, nsig);
    }

    #[test]
    fn parse_errors_become_invalid_input() {
        let error: io::Error = parse("NOPE").unwrap_err().into();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("'NOPE'"), "{error}");
        let inner = error.get_ref().unwrap();
        assert!(inner.downcast_ref::<ParseSignalError>().is_some());
    }
}
