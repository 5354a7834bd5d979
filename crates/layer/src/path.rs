//! Lexical normalisation of tar entry paths.

/// Splits a tar path into its normal components, resolving `.` and `..`
/// lexically the way docker does (`./a/../b` is `b`) and stripping leading
/// `/`. Returns `None` when a `..` would climb above the root.
pub(crate) fn normalise(path: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in path.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            name => out.push(name),
        }
    }
    Some(out)
}

/// Joins components with `/` (the key used for paths relative to the root).
pub(crate) fn join(comps: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(comps.iter().map(|c| c.len() + 1).sum());
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Option<String> {
        normalise(p.as_bytes()).map(|c| String::from_utf8(join(&c)).unwrap())
    }

    #[test]
    fn normalises_inside_root() {
        assert_eq!(norm("a/b/c").as_deref(), Some("a/b/c"));
        assert_eq!(norm("./a/../b").as_deref(), Some("b"));
        assert_eq!(norm("/etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(norm("//a//b/").as_deref(), Some("a/b"));
        assert_eq!(norm("./").as_deref(), Some(""));
        assert_eq!(norm("a/..").as_deref(), Some(""));
    }

    #[test]
    fn rejects_escapes() {
        assert_eq!(norm(".."), None);
        assert_eq!(norm("../x"), None);
        assert_eq!(norm("a/../../x"), None);
        assert_eq!(norm("/../x"), None);
        assert_eq!(norm("./a/b/../../../etc"), None);
    }
}
