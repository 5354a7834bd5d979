//! docker's `timetypes.GetTimestamp` (moby api/types/time), which turns the
//! `--since`/`--until` values of `events` (and `logs`) into the
//! `seconds[.nanoseconds]` string the API takes, with Go's `time.Parse`
//! error texts for date-like values it cannot read.

use crate::util::parse_go_duration;

/// Layouts `GetTimestamp` picks from, in Go's reference-time notation.
const RFC3339_NANO_LOCAL: &str = "2006-01-02T15:04:05.999999999";
const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";
const RFC3339_LOCAL: &str = "2006-01-02T15:04:05";
const RFC3339: &str = "2006-01-02T15:04:05Z07:00";
const DATE_WITH_ZONE: &str = "2006-01-02Z07:00";
const DATE_LOCAL: &str = "2006-01-02";

/// The value for the API, or the message docker prints.
///
/// `now` is the reference time in Unix seconds and `local_offset` the local
/// zone's offset east of UTC in seconds (docker parses zone-less values in a
/// fixed zone with the offset of "now").
pub fn get_timestamp(value: &str, now: f64, local_offset: i32) -> Result<String, String> {
    // "0" is a valid Go duration but docker reads it as the Unix epoch.
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            return Ok(format!("{}", (now - d).floor() as i64));
        }
    }
    let in_location = !value.contains(['z', 'Z', '+']) && value.matches('-').count() != 3;
    let layout = if value.contains('.') {
        if in_location {
            RFC3339_NANO_LOCAL
        } else {
            RFC3339_NANO
        }
    } else if value.contains('T') {
        let mut colons = value.matches(':').count();
        // A numeric zone offset brings its own colon.
        if !in_location && !value.contains(['z', 'Z']) && colons > 0 {
            colons -= 1;
        }
        match (in_location, colons) {
            (true, 0) => "2006-01-02T15",
            (true, 1) => "2006-01-02T15:04",
            (true, _) => RFC3339_LOCAL,
            (false, 0) => "2006-01-02T15Z07:00",
            (false, 1) => "2006-01-02T15:04Z07:00",
            (false, _) => RFC3339,
        }
    } else if in_location {
        DATE_LOCAL
    } else {
        DATE_WITH_ZONE
    };
    match go_parse(layout, value) {
        Ok(t) => {
            let offset = t.offset.unwrap_or(local_offset);
            let secs = days_from_civil(t.year, t.month, t.day) * 86_400
                + i64::from(t.hour) * 3600
                + i64::from(t.minute) * 60
                + i64::from(t.second)
                - i64::from(offset);
            Ok(format!("{secs}.{:09}", t.nanos))
        }
        // Something with a dash was meant as a date: Go's error stands.
        Err(e) if value.contains('-') => Err(e),
        Err(_) if is_unix_timestamp(value) => Ok(value.to_string()),
        Err(_) => Err(format!(
            "failed to parse value as time or duration: \"{value}\""
        )),
    }
}

/// moby's `parseTimestamp`: `<int>[.<int>]` as Go's `strconv.ParseInt` reads
/// each part (an optional sign, decimal digits, within int64).
fn is_unix_timestamp(value: &str) -> bool {
    let go_int = |s: &str| s.parse::<i64>().is_ok();
    match value.split_once('.') {
        Some((s, n)) => go_int(s) && go_int(n),
        None => go_int(value),
    }
}

/// The fields `time.Parse` fills for the layouts above.
#[derive(Debug, Default, PartialEq)]
struct Parsed {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// Seconds east of UTC when the value carries a zone.
    offset: Option<i32>,
}

/// The layout elements the layouts above use, as Go's `nextStdChunk` splits them.
const ELEMENTS: &[&str] = &["2006", "01", "02", "15", "04", "05", ".999999999", "Z07:00"];

/// Splits a layout into literal runs and elements.
fn chunks(layout: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut rest = layout;
    let mut literal_start = 0;
    let mut i = 0;
    while i < rest.len() {
        if let Some(e) = ELEMENTS.iter().find(|e| rest[i..].starts_with(**e)) {
            if i > literal_start {
                out.push((false, &rest[literal_start..i]));
            }
            out.push((true, *e));
            rest = &rest[i + e.len()..];
            i = 0;
            literal_start = 0;
        } else {
            i += 1;
        }
    }
    if !rest.is_empty() {
        out.push((false, rest));
    }
    out
}

/// Go's `ParseError.Error()` with no message: which part did not match.
fn cannot_parse(value: &str, layout: &str, rest: &str, elem: &str) -> String {
    format!(
        "parsing time {} as {}: cannot parse {} as {}",
        go_quote(value),
        go_quote(layout),
        go_quote(rest),
        go_quote(elem)
    )
}

/// `strconv.Quote` for the printable ASCII docker's time values are made of;
/// anything else is escaped as Go does.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `getnum`: one or two digits, exactly two when `fixed`.
fn getnum(s: &str, fixed: bool) -> Option<(u32, &str)> {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    if !digit(0) {
        return None;
    }
    if !digit(1) {
        if fixed {
            return None;
        }
        return Some((u32::from(b[0] - b'0'), &s[1..]));
    }
    Some((
        u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0'),
        &s[2..],
    ))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in(month: u32, year: i64) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Go's `time.Parse` restricted to the elements in [`ELEMENTS`], with its
/// error texts.
fn go_parse(layout: &str, value: &str) -> Result<Parsed, String> {
    let mut t = Parsed {
        month: 1,
        day: 1,
        ..Parsed::default()
    };
    let mut rest = value;
    let range = |what: &str| format!("parsing time {}: {what} out of range", go_quote(value));
    for (is_elem, chunk) in chunks(layout) {
        if !is_elem {
            match rest.strip_prefix(chunk) {
                Some(r) => rest = r,
                None => return Err(cannot_parse(value, layout, rest, chunk)),
            }
            continue;
        }
        let hold = rest;
        let bad = || cannot_parse(value, layout, hold, chunk);
        match chunk {
            "2006" => {
                let year = rest
                    .get(..4)
                    .filter(|y| y.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(bad)?;
                t.year = year.parse().map_err(|_| bad())?;
                rest = &rest[4..];
            }
            "01" | "02" | "15" | "04" | "05" => {
                let (n, r) = getnum(rest, chunk != "15").ok_or_else(bad)?;
                rest = r;
                let (field, max, name) = match chunk {
                    "01" => (&mut t.month, 12, "month"),
                    "02" => (&mut t.day, 31, "day"),
                    "15" => (&mut t.hour, 23, "hour"),
                    "04" => (&mut t.minute, 59, "minute"),
                    _ => (&mut t.second, 59, "second"),
                };
                if n > max || (chunk == "01" && n == 0) {
                    return Err(range(name));
                }
                *field = n;
            }
            ".999999999" => {
                // Optional: only taken when a separator and a digit follow.
                let b = rest.as_bytes();
                if b.len() >= 2 && matches!(b[0], b'.' | b',') && b[1].is_ascii_digit() {
                    let digits = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    // Digits past nanoseconds are dropped, as Go does.
                    let frac = &rest[1..digits.min(10)];
                    let n: u32 = frac.parse().map_err(|_| bad())?;
                    t.nanos = n * 10u32.pow(9 - frac.len() as u32);
                    rest = &rest[digits..];
                }
            }
            _ => {
                // Z07:00
                if let Some(r) = rest.strip_prefix('Z') {
                    t.offset = Some(0);
                    rest = r;
                    continue;
                }
                let b = rest.as_bytes();
                if b.len() < 6 || b[3] != b':' || !matches!(b[0], b'+' | b'-') {
                    return Err(bad());
                }
                let (h, _) = getnum(&rest[1..3], true).ok_or_else(bad)?;
                let (m, _) = getnum(&rest[4..6], true).ok_or_else(bad)?;
                if h > 24 {
                    return Err(range("time zone offset hour"));
                }
                if m > 60 {
                    return Err(range("time zone offset minute"));
                }
                let off = (h * 3600 + m * 60) as i32;
                t.offset = Some(if b[0] == b'-' { -off } else { off });
                rest = &rest[6..];
            }
        }
    }
    if !rest.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            go_quote(value),
            go_quote(rest)
        ));
    }
    if t.day < 1 || t.day > days_in(t.month, t.year) {
        return Err(range("day"));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_700_000_000.75;

    fn ts(v: &str) -> Result<String, String> {
        get_timestamp(v, NOW, 0)
    }

    #[test]
    fn zero_is_the_epoch_not_a_duration() {
        assert_eq!(ts("0").as_deref(), Ok("0"));
        // Other spellings of a zero duration are durations.
        assert_eq!(ts("0s").as_deref(), Ok("1700000000"));
        assert_eq!(ts("+0").as_deref(), Ok("1700000000"));
    }

    #[test]
    fn durations_are_whole_seconds_before_now() {
        assert_eq!(ts("10m").as_deref(), Ok("1699999400"));
        assert_eq!(ts("1h30m").as_deref(), Ok("1699994600"));
        assert_eq!(ts("1.5s").as_deref(), Ok("1699999999"));
        assert_eq!(ts("-1m").as_deref(), Ok("1700000060"));
    }

    #[test]
    fn unix_timestamps_pass_through() {
        for v in ["1700000000", "1.5", "1700000000.123", "+5", "007"] {
            assert_eq!(ts(v).as_deref(), Ok(v), "{v}");
        }
        for v in [
            "1.",
            ".5",
            "1e3",
            "foo",
            "1..2",
            "99999999999999999999",
            "2024/01/02",
        ] {
            assert_eq!(
                ts(v),
                Err(format!(
                    "failed to parse value as time or duration: \"{v}\""
                )),
                "{v}"
            );
        }
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            ts("2023-11-14T22:13:20Z").as_deref(),
            Ok("1700000000.000000000")
        );
        assert_eq!(
            ts("2024-01-02T10:11:12.5Z").as_deref(),
            Ok("1704190272.500000000")
        );
        assert_eq!(
            ts("2024-01-02T10:11:12+01:00").as_deref(),
            Ok("1704186672.000000000")
        );
        assert_eq!(
            ts("2024-01-02T10:11:12.1234567891Z").as_deref(),
            Ok("1704190272.123456789")
        );
        assert_eq!(ts("2024-01-02").as_deref(), Ok("1704153600.000000000"));
        assert_eq!(ts("2024-01-02Z").as_deref(), Ok("1704153600.000000000"));
        assert_eq!(ts("2024-01-02T10").as_deref(), Ok("1704189600.000000000"));
        assert_eq!(
            ts("2024-01-02T10:11").as_deref(),
            Ok("1704190260.000000000")
        );
        // Zone-less values are local; here the zone is two hours east.
        assert_eq!(
            get_timestamp("2024-01-02T10:11:12", NOW, 7200).as_deref(),
            Ok("1704183072.000000000")
        );
        assert_eq!(
            get_timestamp("2024-02-29T00:00:00.25", NOW, 0).as_deref(),
            Ok("1709164800.250000000")
        );
    }

    #[test]
    fn go_parse_errors() {
        assert_eq!(
            ts("2024-13-01"),
            Err("parsing time \"2024-13-01\": month out of range".to_string())
        );
        assert_eq!(
            ts("-5"),
            Err(
                "parsing time \"-5\" as \"2006-01-02\": cannot parse \"-5\" as \"2006\""
                    .to_string()
            )
        );
        assert_eq!(
            ts("2023-02-29"),
            Err("parsing time \"2023-02-29\": day out of range".to_string())
        );
        assert_eq!(
            ts("2024-01-02T25:00"),
            Err("parsing time \"2024-01-02T25:00\": hour out of range".to_string())
        );
        assert_eq!(
            ts("2024-01-02T10:11:12+01"),
            Err("parsing time \"2024-01-02T10:11:12+01\" as \"2006-01-02T15:04Z07:00\": cannot parse \":12+01\" as \"Z07:00\"".to_string())
        );
        assert_eq!(
            ts("2024-01-00"),
            Err("parsing time \"2024-01-00\": day out of range".to_string())
        );
        assert_eq!(
            ts("2024-01-02x"),
            Err("parsing time \"2024-01-02x\": extra text: \"x\"".to_string())
        );
        assert_eq!(
            ts("2024-1-02"),
            Err(
                "parsing time \"2024-1-02\" as \"2006-01-02\": cannot parse \"1-02\" as \"01\""
                    .to_string()
            )
        );
        assert_eq!(
            ts("2024-01/02"),
            Err(
                "parsing time \"2024-01/02\" as \"2006-01-02\": cannot parse \"/02\" as \"-\""
                    .to_string()
            )
        );
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }
}
