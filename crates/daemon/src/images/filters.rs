//! The filters of `images` and `image prune`, with docker's semantics.

use std::collections::BTreeMap;

use berth_image::Reference;

use super::store::State;
use super::ImageFilters;
use crate::{Error, Result};

/// `key` or `key=value` against an image's labels.
pub(crate) fn label_matches(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

/// docker's `reference=` filter: a path.Match glob against the familiar name, or
/// name:tag when the pattern has a tag.
pub(super) fn reference_matches(r: &Reference, pattern: &str) -> bool {
    glob_match(pattern, &r.familiar_name()) || glob_match(pattern, &r.familiar_string())
}

/// Go's path.Match: `*` and `?` never cross `/`; `[...]` classes.
fn glob_match(pattern: &str, name: &str) -> bool {
    fn m(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != '/')
                .any(|i| m(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && n[0] != '/' && m(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else {
                    return false;
                };
                let Some(&c) = n.first() else { return false };
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some('^') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => !n.is_empty() && n[0] == p[1] && m(&p[2..], &n[1..]),
            Some(&c) => !n.is_empty() && n[0] == c && m(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    m(&p, &n)
}

pub(crate) fn check_filter_keys(filters: &ImageFilters, allowed: &[&str]) -> Result<()> {
    match filters.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Error::InvalidParameter(format!("invalid filter '{k}'"))),
        None => Ok(()),
    }
}

pub(super) fn bool_filter(filters: &ImageFilters, key: &str) -> Result<Option<bool>> {
    let Some(values) = filters.get(key) else {
        return Ok(None);
    };
    let mut out = None;
    for v in values {
        let b = match v.as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                return Err(Error::InvalidParameter(format!(
                    "invalid filter '{key}={v}'"
                )))
            }
        };
        out = Some(b);
    }
    Ok(out)
}

/// The creation time of the image a `before=`/`since=` filter names.
pub(super) fn created_of(st: &State, values: &[String]) -> Result<i64> {
    let name = values.last().map(String::as_str).unwrap_or_default();
    Ok(st.resolve(name)?.created_ns)
}

/// `until=`: a unix timestamp, an RFC 3339 time, or a Go duration ago (`10m`, `24h`).
pub(crate) fn until_of(values: &[String]) -> Result<i64> {
    let v = values.last().map(String::as_str).unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    if let Ok(t) = v.parse::<f64>() {
        return Ok(t as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp());
    }
    let (num, unit) = v.split_at(
        v.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(v.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| Error::InvalidParameter(format!("invalid filter 'until={v}'")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(Error::InvalidParameter(format!(
                "invalid filter 'until={v}'"
            )))
        }
    };
    Ok(now - secs as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(!glob_match("*", "a/b"));
        assert!(glob_match("*/b", "a/b"));
        assert!(glob_match("b[a-u]sybox", "busybox"));
        assert!(!glob_match("b[^u]sybox", "busybox"));
    }

    #[test]
    fn labels() {
        let l = BTreeMap::from([("a".to_string(), "1".to_string())]);
        assert!(label_matches(&l, "a"));
        assert!(label_matches(&l, "a=1"));
        assert!(!label_matches(&l, "a=2"));
        assert!(!label_matches(&l, "b"));
    }

    #[test]
    fn until_parses_forms() {
        assert_eq!(until_of(&["100".into()]).unwrap(), 100);
        assert!(until_of(&["10m".into()]).unwrap() > 0);
        assert!(until_of(&["bogus".into()]).is_err());
    }
}
