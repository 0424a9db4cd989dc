//! Fuzzes `pidfd_tools::duration::parse_duration` (the `--timeout`/`--kill-after` parser of
//! `prun` and `pwait`) against a reference computed another way: the whole part times the
//! unit plus the first nine fraction digits times the unit / 10^9 (the parser scales the
//! whole number first). Also: an accepted duration printed as `S.NNNNNNNNNs` parses back
//! to itself, and a rejection names the text.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pidfd_tools::duration::parse_duration;

const NANOS: u128 = 1_000_000_000;

fn reference(text: &str) -> Option<Duration> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let per_unit: u128 = match unit {
        "ms" => NANOS / 1000,
        "" | "s" => NANOS,
        "m" => 60 * NANOS,
        "h" => 3600 * NANOS,
        "d" => 86_400 * NANOS,
        _ => return None,
    };
    let mut parts = number.split('.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next().unwrap_or("");
    if parts.next().is_some() || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    // Digits only are left; a whole part too long for u128 is far beyond Duration::MAX.
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let nine: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(9)
        .collect();
    let fraction: u128 = nine.parse().ok()?;
    let nanos = whole
        .checked_mul(per_unit)?
        .checked_add(fraction * per_unit / NANOS)?;
    let secs = u64::try_from(nanos / NANOS).ok()?;
    Some(Duration::new(secs, u32::try_from(nanos % NANOS).ok()?))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_duration(text);
    assert_eq!(parsed.clone().ok(), reference(text), "{text:?}");
    match parsed {
        Ok(duration) => {
            let printed = format!("{}.{:09}s", duration.as_secs(), duration.subsec_nanos());
            assert_eq!(parse_duration(&printed), Ok(duration), "{printed}");
        }
        Err(error) => assert!(error.to_string().contains(&format!("'{text}'"))),
    }
});
