//! Fuzzes `pidfd_tools::cli::Parser` (the option parser of every tool): the input is split at
//! NUL bytes into arguments (any bytes, not only UTF-8); whether each option is given a
//! value, and whether an operand ends the parse with `rest()`, is decided by the first input
//! byte. Checked: no panic; termination; the options, operands and values handed out never
//! outnumber the arguments; options start with `-` and are not `--`; an operand or a value
//! taken from the next argument is that argument unchanged; `rest()` returns a suffix of
//! the arguments, untouched, and leaves nothing behind.

#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use pidfd_tools::cli::{Arg, Parser};

fuzz_target!(|data: &[u8]| {
    let Some((&choices, rest)) = data.split_first() else {
        return;
    };
    let args: Vec<OsString> = rest
        .split(|&b| b == 0)
        .map(|arg| OsString::from_vec(arg.to_vec()))
        .collect();
    let mut parser = Parser::new(args.clone());
    let mut handed_out = 0_usize;
    for step in 0.. {
        assert!(step <= args.len() + 1, "the parser does not terminate");
        let choice = choices >> (step % 8) & 1 == 1;
        match parser.next() {
            Err(error) => {
                // The errors of next(): an attached value nobody took, or `--=VALUE`.
                assert!(
                    error.0.contains("takes no value") || error.0.contains("names no option"),
                    "{error}"
                );
                break;
            }
            Ok(None) => break,
            Ok(Some(Arg::Option(option))) => {
                assert!(option.starts_with('-'), "{option:?}");
                // `--` ends the options; it is never an option itself (`--=VALUE` was,
                // until this target found it).
                assert_ne!(option, "--");
                handed_out += 1;
                if choice {
                    match parser.value(&option) {
                        Ok(_) => {}
                        Err(error) => assert!(
                            error.0.contains("needs a value") || error.0.contains("invalid value"),
                            "{error}"
                        ),
                    }
                }
            }
            Ok(Some(Arg::Operand(operand))) => {
                assert!(
                    args.contains(&operand),
                    "an operand that is no argument: {operand:?}"
                );
                handed_out += 1;
                if choice {
                    let tail: Vec<OsString> = parser.rest().collect();
                    handed_out += tail.len();
                    assert!(args.ends_with(&tail), "rest() is not the arguments' tail");
                    assert_eq!(parser.next().unwrap(), None, "rest() leaves nothing");
                    break;
                }
            }
        }
    }
    assert!(
        handed_out <= args.len(),
        "{handed_out} items from {} arguments",
        args.len()
    );
});
