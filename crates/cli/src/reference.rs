//! The parts of distribution/reference the CLI needs: split, validate, normalize
//! (`busybox` → `docker.io/library/busybox`) and familiarize (the reverse).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Fully qualified name, e.g. `docker.io/library/busybox`.
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

fn valid_path_component(c: &str) -> bool {
    !c.is_empty()
        && c.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
        && c.as_bytes()[0].is_ascii_alphanumeric()
        && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && (t.as_bytes()[0].is_ascii_alphanumeric() || t.as_bytes()[0] == b'_')
}

fn is_domain(c: &str) -> bool {
    c.contains('.') || c.contains(':') || c == "localhost"
}

/// `ParseNormalizedNamed`; `None` for anything that is not a valid reference.
pub fn parse_normalized(s: &str) -> Option<Reference> {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => {
            let (algo, hex) = d.split_once(':')?;
            if algo.is_empty() || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            (r, Some(d.to_string()))
        }
        None => (s, None),
    };
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
        _ => (rest, None),
    };
    if tag.as_deref().is_some_and(|t| !valid_tag(t)) || name.is_empty() {
        return None;
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let domain = if parts.len() > 1 && is_domain(parts[0]) {
        let d = parts.remove(0);
        if !d
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        {
            return None;
        }
        d.to_string()
    } else {
        "docker.io".to_string()
    };
    if !parts.iter().all(|p| valid_path_component(p)) {
        return None;
    }
    let mut path = parts.join("/");
    if domain == "docker.io" && parts.len() == 1 {
        path = format!("library/{path}");
    }
    Some(Reference {
        name: format!("{domain}/{path}"),
        tag,
        digest,
    })
}

/// `FamiliarName`: drops `docker.io/` and `library/` again.
pub fn familiar_name(name: &str) -> String {
    match name.strip_prefix("docker.io/") {
        Some(rest) => match rest.strip_prefix("library/") {
            Some(r) if !r.contains('/') => r.to_string(),
            _ => rest.to_string(),
        },
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_familiarizes() {
        let r = parse_normalized("busybox:1.36").unwrap();
        assert_eq!(r.name, "docker.io/library/busybox");
        assert_eq!(r.tag.as_deref(), Some("1.36"));
        let r = parse_normalized("localhost:5000/a/b").unwrap();
        assert_eq!((r.name.as_str(), r.tag), ("localhost:5000/a/b", None));
        let r = parse_normalized(
            "me/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        assert_eq!(r.name, "docker.io/me/app");
        assert!(r.digest.is_some());
        assert!(parse_normalized("<none>:<none>").is_none());
        assert!(parse_normalized("Upper").is_none());
        assert_eq!(familiar_name("docker.io/library/busybox"), "busybox");
        assert_eq!(familiar_name("docker.io/me/app"), "me/app");
        assert_eq!(familiar_name("quay.io/x/y"), "quay.io/x/y");
    }
}
