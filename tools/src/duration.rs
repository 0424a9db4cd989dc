//! Durations on the command line: `1.5s`, `500ms`, `2m`, or plain seconds (`3`, `0.25`).
//!
//! The number is a non-negative decimal (`1`, `1.5`, `.5`, `2.`); the unit is one of `ms`,
//! `s` (the default), `m`, `h` or `d`, as in coreutils `timeout` and `sleep` (plus `ms`).
//! Parsing is exact (no floating point): `0.1s` is exactly 100 ms. Digits beyond
//! nanoseconds are dropped.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use pidfd_tools::duration::parse_duration;
//!
//! assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
//! assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
//! assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
//! assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
//! assert!(parse_duration("-1").is_err());
//! ```

use std::fmt;
use std::time::Duration;

/// Why a duration could not be parsed; its message names the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDurationError {
    text: String,
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration '{}' (expected e.g. 3, 1.5s, 500ms, 2m)",
            self.text
        )
    }
}

impl std::error::Error for ParseDurationError {}

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Nanoseconds per unit, for each suffix.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ms" => 1_000_000,
        "" | "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3600 * NANOS_PER_SEC,
        "d" => 86_400 * NANOS_PER_SEC,
        _ => return None,
    })
}

/// Parses a duration: a non-negative decimal number with an optional unit (`ms`, `s`, `m`,
/// `h`, `d`; seconds when there is none).
///
/// # Errors
///
/// [`ParseDurationError`] for an empty string, a sign, junk, an unknown unit, or a value too
/// large for [`Duration`].
pub fn parse_duration(text: &str) -> Result<Duration, ParseDurationError> {
    let error = || ParseDurationError {
        text: text.to_owned(),
    };
    let number_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    let per_unit = unit_nanos(unit).ok_or_else(error)?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(error());
    }
    // The number as an integer count of 10^-9 units: whole part, then nine fraction digits.
    let mut scaled: u128 = 0;
    for digit in whole
        .bytes()
        .chain(fraction.bytes().chain(std::iter::repeat(b'0')).take(9))
    {
        scaled = scaled
            .checked_mul(10)
            .and_then(|value| value.checked_add(u128::from(digit - b'0')))
            .ok_or_else(error)?;
    }
    let nanos = scaled.checked_mul(per_unit).ok_or_else(error)? / NANOS_PER_SEC;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| error())?;
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).map_err(|_| error())?;
    Ok(Duration::new(secs, subsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_units_and_plain_seconds() {
        let cases = [
            ("3", Duration::from_secs(3)),
            ("0", Duration::ZERO),
            ("1.5s", Duration::from_millis(1500)),
            ("500ms", Duration::from_millis(500)),
            ("0.5ms", Duration::from_micros(500)),
            ("2m", Duration::from_secs(120)),
            ("1.5h", Duration::from_secs(5400)),
            ("1d", Duration::from_secs(86_400)),
            (".25", Duration::from_millis(250)),
            ("2.", Duration::from_secs(2)),
            ("0.1", Duration::from_millis(100)),
            ("0.123456789123s", Duration::new(0, 123_456_789)),
            ("007", Duration::from_secs(7)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn rejects_junk_negative_and_empty() {
        for text in [
            "", " ", "-1", "+1", "-0.5s", ".", "s", "ms", "abc", "1x", "1 s", " 1", "1s ", "1.2.3",
            "1e3", "1sec", "1S", "1..", "inf", "NaN", "0x10",
        ] {
            let error = parse_duration(text).unwrap_err();
            assert!(error.to_string().contains(&format!("'{text}'")), "{error}");
        }
    }

    #[test]
    fn rejects_overflow() {
        assert!(parse_duration("99999999999999999999999999999999999999999").is_err());
        assert!(parse_duration("999999999999999999999d").is_err());
        assert_eq!(
            parse_duration("18446744073709551615"),
            Ok(Duration::from_secs(u64::MAX))
        );
        assert!(parse_duration("18446744073709551616").is_err());
    }
}
