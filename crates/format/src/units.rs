//! Human-readable sizes and durations, as docker/go-units prints them.

use std::time::Duration;

use crate::gofmt::format_g;

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// Divides `size` by `base` until it drops below `base` or the units run out.
fn size_and_unit(mut size: f64, base: f64, units: &[&'static str; 9]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// go-units `HumanSize`: decimal units, 4 significant digits ("1.049MB", "1kB", "0B").
pub fn human_size(bytes: f64) -> String {
    human_size_precision(bytes, 4)
}

/// go-units `HumanSizeWithPrecision`: `%.*g` of the scaled size plus the decimal unit.
/// `docker images` uses precision 3 ("7.8MB"), most other commands 4.
pub fn human_size_precision(bytes: f64, precision: usize) -> String {
    let (size, unit) = size_and_unit(bytes, 1000.0, &DECIMAL_UNITS);
    format!("{}{unit}", format_g(size, Some(precision), false))
}

/// go-units `BytesSize`: binary units, 4 significant digits ("1.5MiB", "44KiB").
pub fn bytes_size(bytes: f64) -> String {
    let (size, unit) = size_and_unit(bytes, 1024.0, &BINARY_UNITS);
    format!("{}{unit}", format_g(size, Some(4), false))
}

/// go-units `HumanDuration`: "Less than a second", "1 second", "About a minute",
/// "5 minutes", "About an hour", "3 hours", "2 days", "3 weeks", "4 months", "2 years".
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 1 {
        return "Less than a second".to_string();
    }
    if secs == 1 {
        return "1 second".to_string();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let minutes = secs / 60;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // go-units rounds the hour count (1h29m is "About an hour", 1h31m "2 hours").
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    if hours == 1 {
        return "About an hour".to_string();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    // The year count truncates the hours instead of rounding them.
    format!("{} years", secs / 3600 / 24 / 365)
}

/// docker's "CreatedSince"/"RunningFor": `HumanDuration(now - t) + " ago"`.
/// A time in the future counts as "Less than a second".
pub fn time_ago(unix_secs: i64, now_secs: i64) -> String {
    let delta = now_secs.saturating_sub(unix_secs).max(0);
    format!("{} ago", human_duration(Duration::from_secs(delta as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: f64 = 1024.0;
    const MIB: f64 = KIB * 1024.0;
    const GIB: f64 = MIB * 1024.0;
    const TIB: f64 = GIB * 1024.0;
    const PIB: f64 = TIB * 1024.0;
    const MB: f64 = 1e6;
    const GB: f64 = 1e9;
    const TB: f64 = 1e12;
    const PB: f64 = 1e15;

    // Expectations from docker/go-units size_test.go.
    #[test]
    fn human_size_matches_go_units() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0B"),
            (1.0, "1B"),
            (999.0, "999B"),
            (1000.0, "1kB"),
            (1024.0, "1.024kB"),
            (1_000_000.0, "1MB"),
            (1_048_576.0, "1.049MB"),
            (2.0 * MB, "2MB"),
            (3.42 * GB, "3.42GB"),
            (5.372 * TB, "5.372TB"),
            (2.22 * PB, "2.22PB"),
            (10_000_000_000_000.0 * PB, "1e+04YB"),
            (4_260_000.0, "4.26MB"),
            (1234.5, "1.234kB"),
            (999_999.0, "1000kB"),
        ];
        for (n, want) in cases {
            assert_eq!(human_size(*n), *want, "HumanSize({n})");
        }
    }

    #[test]
    fn human_size_precision_three() {
        assert_eq!(human_size_precision(7_800_000.0, 3), "7.8MB");
        assert_eq!(human_size_precision(77_812_345.0, 3), "77.8MB");
        assert_eq!(human_size_precision(187_654_321.0, 3), "188MB");
        assert_eq!(human_size_precision(4_096.0, 3), "4.1kB");
        assert_eq!(human_size_precision(0.0, 3), "0B");
    }

    #[test]
    fn bytes_size_matches_go_units() {
        let cases: &[(f64, &str)] = &[
            (1024.0, "1KiB"),
            (1024.0 * 1024.0, "1MiB"),
            (2.0 * MIB, "2MiB"),
            (1.5 * MIB, "1.5MiB"),
            (3.42 * GIB, "3.42GiB"),
            (5.372 * TIB, "5.372TiB"),
            (2.22 * PIB, "2.22PiB"),
            (KIB * KIB * KIB * KIB * KIB * PIB, "1.049e+06YiB"),
        ];
        for (n, want) in cases {
            assert_eq!(bytes_size(*n), *want, "BytesSize({n})");
        }
    }

    // Expectations from docker/go-units duration_test.go.
    #[test]
    fn human_duration_matches_go_units() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let min = 60;
        let hour = 60 * min;
        let day = 24 * hour;
        let week = 7 * day;
        let month = 30 * day;
        let year = 365 * day;
        let cases: &[(Duration, &str)] = &[
            (ms(450), "Less than a second"),
            (s(1), "1 second"),
            (s(45), "45 seconds"),
            (s(59), "59 seconds"),
            (s(60), "About a minute"),
            (s(3 * min), "3 minutes"),
            (s(35 * min + 40), "35 minutes"),
            (s(59 * min), "59 minutes"),
            (s(hour), "About an hour"),
            (s(hour + 29 * min), "About an hour"),
            (s(hour + 31 * min), "2 hours"),
            (s(hour + 59 * min), "2 hours"),
            (s(3 * hour), "3 hours"),
            (s(3 * hour + 29 * min), "3 hours"),
            (s(3 * hour + 31 * min), "4 hours"),
            (s(24 * hour), "24 hours"),
            (s(day + 12 * hour), "36 hours"),
            (s(2 * day), "2 days"),
            (s(7 * day), "7 days"),
            (s(13 * day + 5 * hour), "13 days"),
            (s(2 * week), "2 weeks"),
            (s(2 * week + 4 * day), "2 weeks"),
            (s(3 * week), "3 weeks"),
            (s(4 * week + 3 * day), "4 weeks"),
            (s(month), "4 weeks"),
            (s(month + 2 * week), "6 weeks"),
            (s(2 * month), "2 months"),
            (s(3 * month + week), "3 months"),
            (s(5 * month + 2 * week), "5 months"),
            (s(13 * month), "13 months"),
            (s(24 * month), "24 months"),
            (s(24 * month + 2 * week), "2 years"),
            (s(3 * year + 2 * month), "3 years"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(*d), *want, "HumanDuration({d:?})");
        }
    }

    #[test]
    fn time_ago_appends_ago() {
        assert_eq!(time_ago(1_000, 1_000 + 300), "5 minutes ago");
        assert_eq!(time_ago(1_000, 1_000 + 2 * 3600), "2 hours ago");
        assert_eq!(time_ago(2_000, 1_000), "Less than a second ago");
    }
}
