//! Fuzzes `pidfd_tools::signal::parse_signal` (the `--signal` parser of `prun`) against a
//! reference: digits only → that number if it is in `1..=NSIG`; otherwise the name in any
//! case with an optional `SIG` prefix, looked up in `SIGNALS`; beyond that, only the aliases
//! (IOT, CLD, POLL, LOST, INFO) and the realtime forms (RTMIN+n, RTMAX-n) may be accepted.
//! Accepted names round-trip through `signal_name`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pidfd_sys::signal::NSIG;
use pidfd_tools::signal::{SIGNALS, parse_signal, signal_name};

fn reference(text: &str) -> Option<i32> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let value: u128 = text.parse().unwrap_or(u128::MAX);
        return (1..=NSIG as u128).contains(&value).then_some(value as i32);
    }
    let name = text.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    SIGNALS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|&(_, n)| n)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_signal(text);
    match (parsed.clone().ok(), reference(text)) {
        (got, Some(expected)) => assert_eq!(got, Some(expected), "{text:?}"),
        // Beyond the reference: only the aliases and the realtime forms may be accepted.
        (Some(_), None) => {
            let name = text.to_ascii_uppercase();
            let name = name.strip_prefix("SIG").unwrap_or(&name);
            assert!(
                name.starts_with("RTM") || ["IOT", "CLD", "POLL", "LOST", "INFO"].contains(&name),
                "{text:?} accepted"
            );
        }
        (None, None) => {}
    }
    match parsed {
        Ok(number) => {
            assert!((1..=NSIG).contains(&number));
            if let Some(name) = signal_name(number) {
                assert_eq!(parse_signal(name), Ok(number));
                assert_eq!(parse_signal(&format!("SIG{name}")), Ok(number));
            }
        }
        Err(error) => assert!(error.to_string().contains(&format!("'{text}'"))),
    }
});
