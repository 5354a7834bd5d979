//! Small formatting helpers that reproduce Go/docker behaviour byte for byte.

use chrono::{DateTime, Local, TimeZone};

/// docker's `stringid.TruncateID`: drop the algorithm, keep 12 hex digits.
pub fn truncate_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, h)| h);
    id.chars().take(12).collect()
}

/// docker's `formatter.Ellipsis` for display width (ASCII width approximation).
pub fn ellipsis(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if max == 0 {
        return String::new();
    }
    if chars.len() <= max {
        return s.to_string();
    }
    if max == 1 {
        return chars[0].to_string();
    }
    chars[..max - 1].iter().collect::<String>() + "…"
}

fn local(secs: i64, nanos: u32) -> DateTime<Local> {
    Local
        .timestamp_opt(secs, nanos)
        .single()
        .unwrap_or_else(|| DateTime::<Local>::from(DateTime::UNIX_EPOCH))
}

/// Go's zone suffix: `Z` for UTC, else `+hh:mm`.
fn rfc3339_offset(t: &DateTime<Local>) -> String {
    if t.offset().local_minus_utc() == 0 {
        "Z".to_string()
    } else {
        t.format("%:z").to_string()
    }
}

/// Go's `time.Time.String()` in local time: `2006-01-02 15:04:05 -0700 MST`.
pub fn go_time_string(secs: i64) -> String {
    let t = local(secs, 0);
    let zone = if t.offset().local_minus_utc() == 0 {
        "UTC".to_string()
    } else {
        t.format("%z").to_string()
    };
    format!("{} {zone}", t.format("%Y-%m-%d %H:%M:%S %z"))
}

/// Go's `time.RFC3339` in local time.
pub fn rfc3339(secs: i64) -> String {
    let t = local(secs, 0);
    format!("{}{}", t.format("%Y-%m-%dT%H:%M:%S"), rfc3339_offset(&t))
}

/// docker's `RFC3339NanoFixed` (always nine fraction digits), local time.
pub fn rfc3339_nano_fixed(nanos: i64) -> String {
    let t = local(
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000) as u32,
    );
    format!(
        "{}{}",
        t.format("%Y-%m-%dT%H:%M:%S%.9f"),
        rfc3339_offset(&t)
    )
}

/// Parses a Go duration such as `10m`, `1h30m`, `1.5s`; `None` if it is not one.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * mult;
    }
    Some(if neg { -total } else { total })
}

/// Calls `f` for every byte of raw JSON except the whitespace between tokens,
/// telling whether the byte is inside a string (after its opening quote), where
/// it must be kept verbatim: the one scanner behind indent and compact.
fn json_bytes(raw: &[u8], mut f: impl FnMut(u8, bool)) {
    let mut in_str = false;
    let mut escaped = false;
    for &c in raw {
        if in_str {
            f(c, true);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            in_str = c == b'"';
            f(c, false);
        }
    }
}

/// Go's `json.Indent` on raw JSON: keeps strings and numbers byte for byte.
pub fn json_indent(raw: &[u8], indent: &str) -> String {
    let mut out = Vec::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut need_indent = false;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        for _ in 0..depth {
            out.extend_from_slice(indent.as_bytes());
        }
    };
    json_bytes(raw, |c, in_str| {
        if in_str {
            out.push(c);
            return;
        }
        if need_indent && c != b']' && c != b'}' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            b'{' | b'[' => {
                out.push(c);
                need_indent = true;
            }
            b',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b'}' | b']' => {
                if need_indent {
                    // An empty object or array stays compact.
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    });
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `json.Compact`.
pub fn json_compact(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    json_bytes(raw, |c, _| out.push(c));
    String::from_utf8_lossy(&out).into_owned()
}

pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_ellipsis() {
        assert_eq!(truncate_id("sha256:0123456789abcdef0123"), "0123456789ab");
        assert_eq!(truncate_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(ellipsis("short", 45), "short");
        let long = "/bin/sh -c #(nop) ADD file:abcdefabcdefabcdefabcdefabcdef in /";
        let e = ellipsis(long, 45);
        assert_eq!(e.chars().count(), 45);
        assert!(e.ends_with('…'));
        assert!(long.starts_with(e.trim_end_matches('…')));
    }

    #[test]
    fn indent_like_go() {
        let raw = br#"[{"Id":"sha256:1","RepoTags":["a:1","\u003cnone\u003e"],"Empty":{},"L":[],"N":1.50,"S":"x\"y"}]"#;
        let expected = "[\n    {\n        \"Id\": \"sha256:1\",\n        \"RepoTags\": [\n            \"a:1\",\n            \"\\u003cnone\\u003e\"\n        ],\n        \"Empty\": {},\n        \"L\": [],\n        \"N\": 1.50,\n        \"S\": \"x\\\"y\"\n    }\n]";
        assert_eq!(json_indent(raw, "    "), expected);
        assert_eq!(
            json_compact(expected.as_bytes()),
            std::str::from_utf8(raw).unwrap()
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("10m"), Some(600.0));
        assert_eq!(parse_go_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_go_duration("1.5s"), Some(1.5));
        assert_eq!(parse_go_duration("foo"), None);
    }
}
