//! PAX extended header helpers.

/// Prefix of the PAX keys carrying extended attributes (GNU tar, Go, docker).
pub(crate) const XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Extended attributes as (name, value) pairs.
pub(crate) type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// Appends one PAX record, `"<len> <key>=<value>\n"`, where `<len>` counts
/// the whole record including its own digits.
pub(crate) fn push_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let base = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = base + 1;
    while base + len.to_string().len() != len {
        len = base + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Parses a PAX time (`"1700000000.123"`, possibly negative) into seconds
/// and nanoseconds.
pub(crate) fn parse_time(value: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(value).ok()?;
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let negative = int.starts_with('-');
    let secs: i64 = int.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut nanos: u32 = 0;
    for i in 0..9 {
        let digit = frac.as_bytes().get(i).map_or(0, |b| u32::from(b - b'0'));
        nanos = nanos * 10 + digit;
    }
    if negative && nanos > 0 {
        // -1.5 means 1.5 s before the epoch: (-2 s, +0.5 s).
        Some((secs - 1, 1_000_000_000 - nanos))
    } else {
        Some((secs, nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_length_counts_itself() {
        let mut out = Vec::new();
        push_record(&mut out, b"path", b"a");
        assert_eq!(out, b"9 path=a\n");
        // 7-byte value makes the record exactly cross into two digits.
        let mut out = Vec::new();
        push_record(&mut out, b"path", b"abcdef");
        assert_eq!(out, b"15 path=abcdef\n");
        let mut out = Vec::new();
        let long = vec![b'x'; 200];
        push_record(&mut out, b"k", &long);
        let text = String::from_utf8(out.clone()).unwrap();
        let (len, _) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), out.len());
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_time(b"1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(
            parse_time(b"1700000000.5"),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(parse_time(b"1.123456789123"), Some((1, 123_456_789)));
        assert_eq!(parse_time(b"-1.5"), Some((-2, 500_000_000)));
        assert_eq!(parse_time(b"x"), None);
        assert_eq!(parse_time(b"1.2x"), None);
    }
}
