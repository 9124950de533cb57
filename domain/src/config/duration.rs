//! Durations as the configuration spells them (`14d`, `2h`, `90s`), both ways: read with
//! humantime's grammar, printed in the compact form a configuration file takes, so what
//! `reauth config check`, the admin page and a wave's schedule show can be pasted back in.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserializer, Serializer};

/// Units from the largest down; a day is the largest, as in the configuration (`30d`), because
/// months and years have no fixed length.
const UNITS: [(&str, u128); 7] = [
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// `d` in the compact form the configuration takes: `14d`, `2h`, `1m30s`, `250ms`, `0s`.
///
/// The result parses back to the same duration with [`humantime::parse_duration`].
pub fn format_duration(d: Duration) -> String {
    let mut left = d.as_nanos();
    if left == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        let n = left / size;
        if n > 0 {
            // Writing to a String cannot fail.
            let _infallible = write!(out, "{n}{unit}");
            left %= size;
        }
    }
    out
}

/// Serde: writes a duration as [`format_duration`] does.
pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

/// Serde: reads a human duration (`25d`, `90s`, `2h 30m`).
pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    humantime_serde::deserialize(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_the_way_the_configuration_takes_them() {
        let cases = [
            (14 * 86_400, "14d"),
            (30 * 86_400, "30d"),
            (2 * 3600, "2h"),
            (600, "10m"),
            (90, "1m30s"),
            (10, "10s"),
            (0, "0s"),
            (400 * 86_400 + 3600, "400d1h"),
        ];
        for (secs, text) in cases {
            assert_eq!(format_duration(Duration::from_secs(secs)), text);
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
    }

    #[test]
    fn printed_durations_parse_back_to_the_same_value() {
        for d in [
            Duration::from_secs(14 * 86_400),
            Duration::from_secs(90),
            Duration::from_millis(1),
            Duration::from_nanos(86_400_000_000_123),
            Duration::ZERO,
        ] {
            assert_eq!(humantime::parse_duration(&format_duration(d)).ok(), Some(d));
        }
    }
}
