//! Repository names and tags as the distribution spec defines them.

use std::sync::LazyLock;

use regex::Regex;

static NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
        .expect("static regex")
});
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").expect("static regex"));

/// distribution's limit on the length of a repository name.
pub const MAX_NAME_LEN: usize = 255;

/// Whether `name` is a valid repository name (`library/alpine`, `a.b/c-d`).
pub fn valid_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN && NAME.is_match(name)
}

/// Whether `tag` is a valid tag.
pub fn valid_tag(tag: &str) -> bool {
    TAG.is_match(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "library/alpine", "a.b/c-d/e__f", "x--y/1"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "", "A", "a/../b", "a//b", "-a", "a/", "/a", "a..b", "Upper/x", "a___b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(!valid_name(&"a".repeat(256)));
    }

    #[test]
    fn tags() {
        assert!(valid_tag("latest"));
        assert!(valid_tag("_1.0-rc"));
        assert!(!valid_tag(".hidden"));
        assert!(!valid_tag("a/b"));
        assert!(!valid_tag(&"a".repeat(129)));
    }
}
