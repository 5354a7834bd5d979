//! The record format of docker's json-file driver: `{"log":…,"stream":…,"attrs":…,"time":…}`
//! with Go's encoding/json string escaping and RFC3339Nano UTC timestamps.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{Datelike, Timelike};

use crate::{LogRecord, Stream, Timestamp};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string the way docker's jsonlog does: HTML-safe (`<`,`>`,`&` as
/// `\u003c`…), `\n` and `\r` short, other control bytes `\u00XX`, U+2028/U+2029 escaped,
/// and every byte of invalid UTF-8 replaced by `\ufffd` (Go's DecodeRune rejects one
/// byte at a time, so a truncated sequence becomes one replacement per byte).
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut rest = s;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                escape_valid(out, valid.as_bytes());
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                escape_valid(out, &rest[..good]);
                out.extend_from_slice(b"\\ufffd");
                rest = &rest[good + 1..];
            }
        }
    }
    out.push(b'"');
}

/// Escapes valid UTF-8.
fn escape_valid(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            if b >= 0x20 && !matches!(b, b'\\' | b'"' | b'<' | b'>' | b'&') {
                i += 1;
                continue;
            }
            out.extend_from_slice(&s[start..i]);
            match b {
                b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xf) as usize],
                ]),
            }
            i += 1;
            start = i;
        } else if b == 0xe2
            && i + 2 < s.len()
            && s[i + 1] == 0x80
            && matches!(s[i + 2], 0xa8 | 0xa9)
        {
            // U+2028 / U+2029 break JavaScript string literals; Go escapes them.
            out.extend_from_slice(&s[start..i]);
            out.extend_from_slice(b"\\u202");
            out.push(HEX[(s[i + 2] & 0xf) as usize]);
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&s[start..]);
}

fn push_num(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut v = v;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// `YYYY-MM-DDTHH:MM:SS` of a UTC time.
pub(crate) fn push_seconds(out: &mut Vec<u8>, t: &Timestamp) {
    let year = t.year().clamp(0, 9999) as u32;
    push_num(out, year, 4);
    out.push(b'-');
    push_num(out, t.month(), 2);
    out.push(b'-');
    push_num(out, t.day(), 2);
    out.push(b'T');
    push_num(out, t.hour(), 2);
    out.push(b':');
    push_num(out, t.minute(), 2);
    out.push(b':');
    push_num(out, t.second(), 2);
}

/// Go's RFC3339Nano fraction: trailing zeros (and a bare dot) trimmed, then `Z`.
pub(crate) fn push_fraction_z(out: &mut Vec<u8>, nanos: u32) {
    // chrono encodes a leap second as nanos >= 1e9; Go has no leap seconds.
    let mut n = nanos.min(999_999_999);
    if n != 0 {
        let mut width = 9;
        while n.is_multiple_of(10) {
            n /= 10;
            width -= 1;
        }
        out.push(b'.');
        push_num(out, n, width);
    }
    out.push(b'Z');
}

/// `time.RFC3339Nano` of a UTC time, as docker writes the `time` field
/// (`2026-11-23T12:00:00.1234Z`: trailing zeros dropped).
pub fn format_time(t: &Timestamp) -> String {
    let mut out = Vec::with_capacity(30);
    push_seconds(&mut out, t);
    push_fraction_z(&mut out, t.nanosecond());
    String::from_utf8(out).unwrap_or_default()
}

/// docker's `RFC3339NanoFixed` (always nine fraction digits), used by `docker logs -t`.
pub fn format_time_fixed(t: &Timestamp) -> String {
    let mut out = Vec::with_capacity(30);
    push_seconds(&mut out, t);
    out.push(b'.');
    push_num(&mut out, t.nanosecond().min(999_999_999), 9);
    out.push(b'Z');
    String::from_utf8(out).unwrap_or_default()
}

/// Parses an RFC 3339 time (any offset) into UTC.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[derive(serde::Deserialize)]
struct RawRecord<'a> {
    #[serde(default, borrow)]
    log: Cow<'a, str>,
    #[serde(default, borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(default)]
    attrs: Option<BTreeMap<String, String>>,
}

/// Decodes one JSON line; `None` for a line that is not a record (e.g. torn by a crash).
pub(crate) fn decode_record(line: &[u8], with_attrs: bool) -> Option<LogRecord> {
    let raw: RawRecord = serde_json::from_slice(line).ok()?;
    let stream = match &*raw.stream {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    Some(LogRecord {
        stream,
        time: parse_time(&raw.time)?,
        line: raw.log.into_owned().into_bytes(),
        attrs: if with_attrs {
            raw.attrs.unwrap_or_default()
        } else {
            BTreeMap::new()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn esc(s: &[u8]) -> String {
        let mut out = Vec::new();
        escape_into(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_docker_jsonlog() {
        assert_eq!(esc(b"plain"), r#""plain""#);
        assert_eq!(
            esc(br#""A log line with \\""#),
            r#""\"A log line with \\\\\"""#
        );
        assert_eq!(esc(b"line with \r\n"), r#""line with \r\n""#);
        assert_eq!(
            esc(b"A log line with & < >"),
            r#""A log line with \u0026 \u003c \u003e""#
        );
        assert_eq!(
            esc(b"tab\there\x01\x1f\x7f"),
            "\"tab\\u0009here\\u0001\\u001f\x7f\""
        );
        assert_eq!(esc("utf8 : 🚀 ψ ω β".as_bytes()), "\"utf8 : 🚀 ψ ω β\"");
        assert_eq!(
            esc("a\u{2028}b\u{2029}c".as_bytes()),
            r#""a\u2028b\u2029c""#
        );
        // Invalid UTF-8: one replacement per rejected byte, as Go's DecodeRune.
        assert_eq!(esc(b"a\xffb"), r#""a\ufffdb""#);
        assert_eq!(esc(b"\xf0\x9f\x98x"), r#""\ufffd\ufffd\ufffdx""#);
        assert_eq!(esc(b"\xc3"), r#""\ufffd""#);
        // A valid U+FFFD stays as it is.
        assert_eq!(esc("\u{fffd}".as_bytes()), "\"\u{fffd}\"");
    }

    #[test]
    fn escaped_output_round_trips_through_a_json_parser() {
        let input = "x<y>&z\"\\\n\t\u{1}é\u{2028}".as_bytes();
        let s: String = serde_json::from_str(&esc(input)).unwrap();
        assert_eq!(s.as_bytes(), input);
    }

    #[test]
    fn time_formats() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 3, 2, 4, 5).unwrap();
        assert_eq!(format_time(&t), "2026-11-03T02:04:05Z");
        assert_eq!(format_time_fixed(&t), "2026-11-03T02:04:05.000000000Z");
        let t2 = t + chrono::Duration::nanoseconds(123_400_000);
        assert_eq!(format_time(&t2), "2026-11-03T02:04:05.1234Z");
        let t3 = t + chrono::Duration::nanoseconds(7);
        assert_eq!(format_time(&t3), "2026-11-03T02:04:05.000000007Z");
        assert_eq!(format_time_fixed(&t2), "2026-11-03T02:04:05.123400000Z");
        assert_eq!(parse_time("2026-11-03T02:04:05.1234Z"), Some(t2));
        assert_eq!(parse_time("2026-11-03T03:04:05.1234+01:00"), Some(t2));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn decodes_records() {
        let d = decode_record(
            br#"{"log":"hi \u003c\n","stream":"stderr","attrs":{"a":"b"},"time":"2026-11-03T02:04:05.5Z"}"#,
            true,
        )
        .unwrap();
        assert_eq!(d.stream, Stream::Stderr);
        assert_eq!(d.line, b"hi <\n");
        assert_eq!(d.attrs.get("a").map(String::as_str), Some("b"));
        assert_eq!(format_time(&d.time), "2026-11-03T02:04:05.5Z");
        assert!(decode_record(br#"{"log":"x","stream":"stdout"}"#, false).is_none());
        assert!(decode_record(br#"{"log":"x","stream":"stdout","time":"2026"#, false).is_none());
    }
}
