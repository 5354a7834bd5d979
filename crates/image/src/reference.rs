//! Image references, with the behaviour of `github.com/distribution/reference`
//! as the docker CLI and dockerd use it: `ParseNormalizedNamed`,
//! `ParseAnyReference`, `FamiliarName`, `FamiliarString`, `TagNameOnly`,
//! `ParseDockerRef`. Digests are checked like `go-digest` v1.0.0 with sha256,
//! sha384 and sha512 registered (dockerd imports all three).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

/// The registry that familiar names such as `ubuntu` live on.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The historical name of Docker Hub, rewritten to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Namespace of Docker Hub's official images.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// Tag added by [`Reference::with_default_tag`].
pub const DEFAULT_TAG: &str = "latest";
/// Longest repository name (domain included) accepted.
pub const REPOSITORY_NAME_MAX: usize = 255;

/// Why a string is not a valid reference. The texts are docker's, byte for
/// byte, because they reach users unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    InvalidFormat,
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    UppercaseRepository(String),
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    #[error("repository name must have at least one component")]
    NameEmpty,
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexRepositoryName(String),
    #[error("invalid tag format")]
    InvalidTag,
    #[error("invalid checksum digest format")]
    DigestInvalidFormat,
    #[error("invalid checksum digest length")]
    DigestInvalidLength,
    #[error("unsupported digest algorithm")]
    DigestUnsupported,
}

// The grammar, built from the same pieces as distribution/reference's
// regexp.go. Character classes are spelled out because Rust's `\w` is Unicode
// while Go's is ASCII.
const ALPHANUMERIC: &str = "[a-z0-9]+";
const SEPARATOR: &str = "(?:[._]|__|[-]+)";
const DOMAIN_NAME_COMPONENT: &str = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const OPTIONAL_PORT: &str = "(?::[0-9]+)?";
const TAG: &str = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
const DIGEST: &str = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}";
const IPV6_ADDRESS: &str = r"\[(?:[a-fA-F0-9:]+)\]";

fn domain_and_port() -> String {
    let domain_name = format!("{DOMAIN_NAME_COMPONENT}(?:\\.{DOMAIN_NAME_COMPONENT})*");
    format!("(?:{domain_name}|{IPV6_ADDRESS}){OPTIONAL_PORT}")
}

fn remote_name() -> String {
    let path_component = format!("{ALPHANUMERIC}(?:{SEPARATOR}{ALPHANUMERIC})*");
    format!("{path_component}(?:/{path_component})*")
}

fn compile(pattern: &str) -> Regex {
    // The patterns are constants of this file; a failure is a bug caught by
    // every test that parses a reference.
    Regex::new(pattern).expect("reference grammar regex")
}

static REFERENCE_RE: LazyLock<Regex> = LazyLock::new(|| {
    let name = format!("(?:{}/)?{}", domain_and_port(), remote_name());
    compile(&format!("^({name})(?::({TAG}))?(?:@({DIGEST}))?$"))
});
static ANCHORED_NAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        "^(?:({})/)?({})$",
        domain_and_port(),
        remote_name()
    ))
});
static ANCHORED_TAG_RE: LazyLock<Regex> = LazyLock::new(|| compile(&format!("^{TAG}$")));
static ANCHORED_DIGEST_RE: LazyLock<Regex> = LazyLock::new(|| compile(&format!("^{DIGEST}$")));
static IDENTIFIER_RE: LazyLock<Regex> = LazyLock::new(|| compile("^[a-f0-9]{64}$"));
// go-digest v1.0.0's DigestRegexpAnchored, used to tell "unsupported" from
// "malformed" for algorithms it does not know.
static GO_DIGEST_RE: LazyLock<Regex> =
    LazyLock::new(|| compile("^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"));

/// A named image reference: `domain/path[:tag][@digest]`, always normalised
/// (the domain is never empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// What `ParseAnyReference` returns: an image ID / digest, or a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyReference {
    /// A bare digest such as `sha256:<hex>` (a 64-hex string becomes this too).
    Digest(String),
    /// A named reference.
    Named(Reference),
}

impl fmt::Display for AnyReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyReference::Digest(d) => f.write_str(d),
            AnyReference::Named(r) => r.fmt(f),
        }
    }
}

/// The parts of a reference as `reference.Parse` sees them: the domain may be
/// empty because nothing is normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawReference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// `reference.Parse`: syntax only, no normalisation.
fn parse_raw(s: &str) -> Result<RawReference, ReferenceError> {
    if s.is_empty() {
        return Err(ReferenceError::NameEmpty);
    }
    let Some(caps) = REFERENCE_RE.captures(s) else {
        let lower = s.to_lowercase();
        if lower != s && REFERENCE_RE.is_match(&lower) {
            return Err(ReferenceError::NameContainsUppercase);
        }
        return Err(ReferenceError::InvalidFormat);
    };
    let name = caps.get(1).map_or("", |m| m.as_str());
    // distribution/reference v0.6.0 (vendored by docker 28) limits the whole
    // name, domain included; later versions limit only the path.
    if name.len() > REPOSITORY_NAME_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    let (domain, path) = match ANCHORED_NAME_RE.captures(name) {
        Some(n) => (
            n.get(1).map_or("", |m| m.as_str()).to_string(),
            n.get(2).map_or("", |m| m.as_str()).to_string(),
        ),
        None => (String::new(), name.to_string()),
    };
    let tag = caps.get(2).map(|m| m.as_str().to_string());
    let digest = match caps.get(3) {
        Some(m) => {
            validate_digest(m.as_str())?;
            Some(m.as_str().to_string())
        }
        None => None,
    };
    if name.is_empty() {
        return Err(ReferenceError::NameEmpty);
    }
    Ok(RawReference {
        domain,
        path,
        tag,
        digest,
    })
}

/// `splitDockerDomain`: the domain and remote name of a familiar name.
fn split_docker_domain(name: &str) -> (String, String) {
    let Some((maybe_domain, maybe_remote)) = name.split_once('/') else {
        // A single element is always a Docker Hub official image; it is never
        // read as host:port.
        return (
            DEFAULT_DOMAIN.to_string(),
            format!("{OFFICIAL_REPO_PREFIX}{name}"),
        );
    };
    let (domain, mut remote) = if maybe_domain == "localhost"
        || maybe_domain.contains(['.', ':'])
        || maybe_domain.to_lowercase() != maybe_domain
    {
        (maybe_domain.to_string(), maybe_remote.to_string())
    } else if maybe_domain == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN.to_string(), maybe_remote.to_string())
    } else {
        (DEFAULT_DOMAIN.to_string(), name.to_string())
    };
    // `index.docker.io` contains a dot, so handle the rename after the checks.
    let domain = if domain == LEGACY_DEFAULT_DOMAIN {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        remote = format!("{OFFICIAL_REPO_PREFIX}{remote}");
    }
    (domain, remote)
}

/// Checks a digest the way `go-digest` v1.0.0 does (`digest.Parse`).
fn validate_digest(s: &str) -> Result<(), ReferenceError> {
    let i = match s.find(':') {
        Some(i) if i > 0 && i + 1 < s.len() => i,
        _ => return Err(ReferenceError::DigestInvalidFormat),
    };
    let (algorithm, encoded) = (&s[..i], &s[i + 1..]);
    let size = match algorithm {
        "sha256" => 32,
        "sha384" => 48,
        "sha512" => 64,
        _ => {
            if !GO_DIGEST_RE.is_match(s) {
                return Err(ReferenceError::DigestInvalidFormat);
            }
            return Err(ReferenceError::DigestUnsupported);
        }
    };
    if encoded.len() != size * 2 {
        return Err(ReferenceError::DigestInvalidLength);
    }
    if !encoded
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(ReferenceError::DigestInvalidFormat);
    }
    Ok(())
}

/// Splits and validates a digest such as `sha256:<hex>` into its algorithm
/// and hex parts.
pub fn parse_digest(s: &str) -> Result<(&str, &str), ReferenceError> {
    validate_digest(s)?;
    // validate_digest guarantees the separator.
    s.split_once(':').ok_or(ReferenceError::DigestInvalidFormat)
}

/// True for a full image ID: 64 lowercase hex digits, with or without the
/// `sha256:` prefix.
pub fn is_full_id(s: &str) -> bool {
    IDENTIFIER_RE.is_match(s.strip_prefix("sha256:").unwrap_or(s))
}

/// The hex part of something that may be an image ID or an ID prefix
/// (`[sha256:]<1..64 lowercase hex>`), or `None`.
pub fn id_prefix(s: &str) -> Option<&str> {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    let ok = !hex.is_empty()
        && hex.len() <= 64
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then_some(hex)
}

impl Reference {
    /// `reference.ParseNormalizedNamed`: `ubuntu` → `docker.io/library/ubuntu`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if IDENTIFIER_RE.is_match(s) {
            return Err(ReferenceError::HexRepositoryName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => remainder.as_str(),
        };
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::UppercaseRepository(remote.to_string()));
        }
        let raw = parse_raw(&format!("{domain}/{remainder}"))?;
        Ok(Reference {
            domain: raw.domain,
            path: raw.path,
            tag: raw.tag,
            digest: raw.digest,
        })
    }

    /// `reference.ParseAnyReference`: a 64-hex ID or a digest becomes
    /// [`AnyReference::Digest`], anything else is parsed as a name.
    pub fn parse_any(s: &str) -> Result<AnyReference, ReferenceError> {
        if IDENTIFIER_RE.is_match(s) {
            return Ok(AnyReference::Digest(format!("sha256:{s}")));
        }
        if validate_digest(s).is_ok() {
            return Ok(AnyReference::Digest(s.to_string()));
        }
        Reference::parse(s).map(AnyReference::Named)
    }

    /// `reference.ParseDockerRef`: like [`Reference::parse`], then a reference
    /// with both tag and digest keeps only the digest, and a bare name gets
    /// `latest`.
    pub fn parse_docker_ref(s: &str) -> Result<Reference, ReferenceError> {
        let r = Reference::parse(s)?;
        if r.tag.is_some() && r.digest.is_some() {
            return Ok(Reference { tag: None, ..r });
        }
        Ok(r.with_default_tag())
    }

    /// The registry part, e.g. `docker.io` or `myhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path, e.g. `library/ubuntu`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// True when there is neither tag nor digest (`reference.IsNameOnly`).
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// The full repository name: `docker.io/library/ubuntu`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `reference.FamiliarName`: `ubuntu`, `user/repo`, `myhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            // Only single-level official names are shortened.
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    /// `reference.FamiliarString`: familiar name plus `:tag` and/or `@digest`.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// `reference.TagNameOnly`: adds `latest` when there is neither tag nor
    /// digest.
    pub fn with_default_tag(self) -> Reference {
        if self.is_name_only() {
            Reference {
                tag: Some(DEFAULT_TAG.to_string()),
                ..self
            }
        } else {
            self
        }
    }

    /// `reference.WithTag`: the same name (and digest) with `tag`.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !ANCHORED_TAG_RE.is_match(tag) {
            return Err(ReferenceError::InvalidTag);
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// `reference.WithDigest`: the same name (and tag) with `digest`.
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        if !ANCHORED_DIGEST_RE.is_match(digest) {
            return Err(ReferenceError::DigestInvalidFormat);
        }
        Ok(Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }

    /// `reference.TrimNamed`: the name alone.
    pub fn trimmed(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FF64: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    // distribution/reference TestReferenceParse, against the raw parser.
    #[test]
    fn reference_parse_table() {
        struct Case {
            input: String,
            err: Option<ReferenceError>,
            repository: &'static str,
            domain: &'static str,
            tag: &'static str,
            digest: String,
        }
        let ok = |input: &str, repository, domain, tag, digest: &str| Case {
            input: input.to_string(),
            err: None,
            repository,
            domain,
            tag,
            digest: digest.to_string(),
        };
        let err = |input: &str, e: ReferenceError| Case {
            input: input.to_string(),
            err: Some(e),
            repository: "",
            domain: "",
            tag: "",
            digest: String::new(),
        };
        let d256 = format!("sha256:{FF64}");
        let d512 = format!("sha512:{FF64}{FF64}");
        let cases = vec![
            ok("test_com", "test_com", "", "", ""),
            ok("test.com:tag", "test.com", "", "tag", ""),
            ok("test.com:5000", "test.com", "", "5000", ""),
            ok("test.com/repo:tag", "test.com/repo", "test.com", "tag", ""),
            ok("test:5000/repo", "test:5000/repo", "test:5000", "", ""),
            ok(
                "test:5000/repo:tag",
                "test:5000/repo",
                "test:5000",
                "tag",
                "",
            ),
            ok(
                &format!("test:5000/repo@{d256}"),
                "test:5000/repo",
                "test:5000",
                "",
                &d256,
            ),
            ok(
                &format!("test:5000/repo:tag@{d256}"),
                "test:5000/repo",
                "test:5000",
                "tag",
                &d256,
            ),
            err("", ReferenceError::NameEmpty),
            err(":justtag", ReferenceError::InvalidFormat),
            err(&format!("@{d256}"), ReferenceError::InvalidFormat),
            err(
                "repo@sha256:ffffffffffffffffffffffffffffffffff",
                ReferenceError::DigestInvalidLength,
            ),
            err(
                &format!("validname@invaliddigest:{FF64}"),
                ReferenceError::DigestUnsupported,
            ),
            err("Uppercase:tag", ReferenceError::NameContainsUppercase),
            err(
                "test:5000/Uppercase/lowercase:tag",
                ReferenceError::NameContainsUppercase,
            ),
            ok("lowercase:Uppercase", "lowercase", "", "Uppercase", ""),
            err(
                &format!("{}a:tag", "a/".repeat(128)),
                ReferenceError::NameTooLong,
            ),
            Case {
                input: format!("{}a:tag-puts-this-over-max", "a/".repeat(127)),
                err: None,
                repository: "",
                domain: "a",
                tag: "tag-puts-this-over-max",
                digest: String::new(),
            },
            err("aa/asdf$$^/aa", ReferenceError::InvalidFormat),
            ok(
                "sub-dom1.foo.com/bar/baz/quux",
                "sub-dom1.foo.com/bar/baz/quux",
                "sub-dom1.foo.com",
                "",
                "",
            ),
            ok(
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
                "sub-dom1.foo.com/bar/baz/quux",
                "sub-dom1.foo.com",
                "some-long-tag",
                "",
            ),
            ok(
                "b.gcr.io/test.example.com/my-app:test.example.com",
                "b.gcr.io/test.example.com/my-app",
                "b.gcr.io",
                "test.example.com",
                "",
            ),
            ok(
                "xn--n3h.com/myimage:xn--n3h.com",
                "xn--n3h.com/myimage",
                "xn--n3h.com",
                "xn--n3h.com",
                "",
            ),
            ok(
                &format!("xn--7o8h.com/myimage:xn--7o8h.com@{d512}"),
                "xn--7o8h.com/myimage",
                "xn--7o8h.com",
                "xn--7o8h.com",
                &d512,
            ),
            ok("foo_bar.com:8080", "foo_bar.com", "", "8080", ""),
            ok("foo/foo_bar.com:8080", "foo/foo_bar.com", "foo", "8080", ""),
            ok("192.168.1.1", "192.168.1.1", "", "", ""),
            ok("192.168.1.1:tag", "192.168.1.1", "", "tag", ""),
            ok("192.168.1.1:5000", "192.168.1.1", "", "5000", ""),
            ok(
                "192.168.1.1/repo",
                "192.168.1.1/repo",
                "192.168.1.1",
                "",
                "",
            ),
            ok(
                "192.168.1.1:5000/repo",
                "192.168.1.1:5000/repo",
                "192.168.1.1:5000",
                "",
                "",
            ),
            ok(
                "192.168.1.1:5000/repo:5050",
                "192.168.1.1:5000/repo",
                "192.168.1.1:5000",
                "5050",
                "",
            ),
            err("[2001:db8::1]", ReferenceError::InvalidFormat),
            err("[2001:db8::1]:5000", ReferenceError::InvalidFormat),
            err("[2001:db8::1]:tag", ReferenceError::InvalidFormat),
            ok(
                "[2001:db8::1]/repo",
                "[2001:db8::1]/repo",
                "[2001:db8::1]",
                "",
                "",
            ),
            ok(
                "[2001:db8:1:2:3:4:5:6]/repo:tag",
                "[2001:db8:1:2:3:4:5:6]/repo",
                "[2001:db8:1:2:3:4:5:6]",
                "tag",
                "",
            ),
            ok(
                "[2001:db8::1]:5000/repo",
                "[2001:db8::1]:5000/repo",
                "[2001:db8::1]:5000",
                "",
                "",
            ),
            ok(
                "[2001:db8::1]:5000/repo:tag",
                "[2001:db8::1]:5000/repo",
                "[2001:db8::1]:5000",
                "tag",
                "",
            ),
            ok(
                &format!("[2001:db8::1]:5000/repo@{d256}"),
                "[2001:db8::1]:5000/repo",
                "[2001:db8::1]:5000",
                "",
                &d256,
            ),
            ok(
                &format!("[2001:db8::1]:5000/repo:tag@{d256}"),
                "[2001:db8::1]:5000/repo",
                "[2001:db8::1]:5000",
                "tag",
                &d256,
            ),
            ok(
                "[2001:db8::]:5000/repo",
                "[2001:db8::]:5000/repo",
                "[2001:db8::]:5000",
                "",
                "",
            ),
            ok("[::1]:5000/repo", "[::1]:5000/repo", "[::1]:5000", "", ""),
            err("[fe80::1%eth0]:5000/repo", ReferenceError::InvalidFormat),
            err(
                "[fe80::1%@invalidzone]:5000/repo",
                ReferenceError::InvalidFormat,
            ),
        ];
        for c in cases {
            let got = parse_raw(&c.input);
            match (&c.err, got) {
                (Some(e), Err(g)) => assert_eq!(&g, e, "input {:?}", c.input),
                (Some(e), Ok(g)) => panic!("{:?}: expected {e}, got {g:?}", c.input),
                (None, Err(g)) => panic!("{:?}: unexpected error {g}", c.input),
                (None, Ok(g)) => {
                    let name = if g.domain.is_empty() {
                        g.path.clone()
                    } else {
                        format!("{}/{}", g.domain, g.path)
                    };
                    if !c.repository.is_empty() {
                        assert_eq!(name, c.repository, "input {:?}", c.input);
                    }
                    assert_eq!(g.domain, c.domain, "input {:?}", c.input);
                    assert_eq!(g.tag.as_deref().unwrap_or(""), c.tag, "input {:?}", c.input);
                    assert_eq!(
                        g.digest.unwrap_or_default(),
                        c.digest,
                        "input {:?}",
                        c.input
                    );
                }
            }
        }
    }

    // TestValidateReferenceName and TestValidateRemoteName.
    #[test]
    fn valid_and_invalid_names() {
        let valid = [
            "docker/docker",
            "library/debian",
            "debian",
            "docker.io/docker/docker",
            "docker.io/library/debian",
            "docker.io/debian",
            "index.docker.io/docker/docker",
            "index.docker.io/library/debian",
            "index.docker.io/debian",
            "127.0.0.1:5000/docker/docker",
            "127.0.0.1:5000/library/debian",
            "127.0.0.1:5000/debian",
            "192.168.0.1",
            "192.168.0.1:80",
            "192.168.0.1:8/debian",
            "192.168.0.2:25000/debian",
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            "[fc00::1]:5000/docker",
            "[fc00::1]:5000/docker/docker",
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
            "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "Docker/docker",
            "DOCKER/docker",
            "docker-rules/docker",
            "docker---rules/docker",
            "doc/docker",
            "d/docker",
            "jess/t",
            "dock__er/docker",
        ];
        for name in valid {
            assert!(Reference::parse(name).is_ok(), "{name} should be valid");
        }
        let long_ns = format!(
            "{}/docker",
            "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_".repeat(4)
        );
        let invalid = [
            "https://github.com/docker/docker",
            "docker/Docker",
            "-docker",
            "-docker/docker",
            "-docker.io/docker/docker",
            "docker///docker",
            "docker.io/docker/Docker",
            "docker.io/docker///docker",
            "[fc00::1]",
            "[fc00::1]:5000",
            "fc00::1:5000/debian",
            "[fe80::1%eth0]:5000/debian",
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "docker-/docker",
            "-docker-/docker",
            "____/____",
            "_docker/_docker",
            "dock..er/docker",
            "dock_.er/docker",
            "dock-.er/docker",
            "docker/",
            long_ns.as_str(),
        ];
        for name in invalid {
            assert!(Reference::parse(name).is_err(), "{name} should be invalid");
        }
    }

    // TestParseRepositoryInfo.
    #[test]
    fn repository_info() {
        let cases: [(&str, &str, &str, &str, &str); 16] = [
            // remote name, familiar, full, ambiguous, domain
            (
                "fooo/bar",
                "fooo/bar",
                "docker.io/fooo/bar",
                "index.docker.io/fooo/bar",
                "docker.io",
            ),
            (
                "library/ubuntu",
                "ubuntu",
                "docker.io/library/ubuntu",
                "library/ubuntu",
                "docker.io",
            ),
            (
                "nonlibrary/ubuntu",
                "nonlibrary/ubuntu",
                "docker.io/nonlibrary/ubuntu",
                "",
                "docker.io",
            ),
            (
                "other/library",
                "other/library",
                "docker.io/other/library",
                "",
                "docker.io",
            ),
            (
                "private/moonbase",
                "127.0.0.1:8000/private/moonbase",
                "127.0.0.1:8000/private/moonbase",
                "",
                "127.0.0.1:8000",
            ),
            (
                "privatebase",
                "127.0.0.1:8000/privatebase",
                "127.0.0.1:8000/privatebase",
                "",
                "127.0.0.1:8000",
            ),
            (
                "private/moonbase",
                "example.com/private/moonbase",
                "example.com/private/moonbase",
                "",
                "example.com",
            ),
            (
                "privatebase",
                "example.com/privatebase",
                "example.com/privatebase",
                "",
                "example.com",
            ),
            (
                "private/moonbase",
                "example.com:8000/private/moonbase",
                "example.com:8000/private/moonbase",
                "",
                "example.com:8000",
            ),
            (
                "privatebasee",
                "example.com:8000/privatebasee",
                "example.com:8000/privatebasee",
                "",
                "example.com:8000",
            ),
            (
                "library/ubuntu-12.04-base",
                "ubuntu-12.04-base",
                "docker.io/library/ubuntu-12.04-base",
                "index.docker.io/library/ubuntu-12.04-base",
                "docker.io",
            ),
            (
                "library/foo",
                "foo",
                "docker.io/library/foo",
                "docker.io/foo",
                "docker.io",
            ),
            (
                "library/foo/bar",
                "library/foo/bar",
                "docker.io/library/foo/bar",
                "",
                "docker.io",
            ),
            (
                "store/foo/bar",
                "store/foo/bar",
                "docker.io/store/foo/bar",
                "",
                "docker.io",
            ),
            ("bar", "Foo/bar", "Foo/bar", "", "Foo"),
            ("bar", "FOO/bar", "FOO/bar", "", "FOO"),
        ];
        for (remote, familiar, full, ambiguous, domain) in cases {
            let mut inputs = vec![familiar, full];
            if !ambiguous.is_empty() {
                inputs.push(ambiguous);
            }
            for input in inputs {
                let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
                assert_eq!(r.familiar_name(), familiar, "{input}");
                assert_eq!(r.to_string(), full, "{input}");
                assert_eq!(r.domain(), domain, "{input}");
                assert_eq!(r.path(), remote, "{input}");
            }
        }
    }

    // TestParseReferenceWithTagAndDigest.
    #[test]
    fn tag_and_digest() {
        let short = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
        let r = Reference::parse(short).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/{short}"));
        assert_eq!(r.tag(), Some("latest"));
        assert!(r.digest().is_some());
        assert_eq!(r.familiar_string(), short);
    }

    // TestInvalidReferenceComponents.
    #[test]
    fn invalid_components() {
        assert!(Reference::parse("-foo").is_err());
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.with_tag("-foo"), Err(ReferenceError::InvalidTag));
        assert_eq!(
            r.with_digest("foo"),
            Err(ReferenceError::DigestInvalidFormat)
        );
    }

    // TestParseAnyReference.
    #[test]
    fn parse_any_table() {
        let d = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";
        let named: Vec<(String, String)> = vec![
            ("redis".to_string(), "docker.io/library/redis".to_string()),
            (
                "redis:latest".to_string(),
                "docker.io/library/redis:latest".to_string(),
            ),
            (
                "docker.io/library/redis:latest".to_string(),
                "docker.io/library/redis:latest".to_string(),
            ),
            (
                format!("redis@sha256:{d}"),
                format!("docker.io/library/redis@sha256:{d}"),
            ),
            (
                format!("docker.io/library/redis@sha256:{d}"),
                format!("docker.io/library/redis@sha256:{d}"),
            ),
            (
                "dmcgowan/myapp".to_string(),
                "docker.io/dmcgowan/myapp".to_string(),
            ),
            (
                "dmcgowan/myapp:latest".to_string(),
                "docker.io/dmcgowan/myapp:latest".to_string(),
            ),
            (
                "docker.io/mcgowan/myapp:latest".to_string(),
                "docker.io/mcgowan/myapp:latest".to_string(),
            ),
            (
                format!("dmcgowan/myapp@sha256:{d}"),
                format!("docker.io/dmcgowan/myapp@sha256:{d}"),
            ),
            (
                format!("docker.io/dmcgowan/myapp@sha256:{d}"),
                format!("docker.io/dmcgowan/myapp@sha256:{d}"),
            ),
            (
                d[..63].to_string(),
                format!("docker.io/library/{}", &d[..63]),
            ),
            ("dbcc1".to_string(), "docker.io/library/dbcc1".to_string()),
        ];
        for (input, want) in named {
            match Reference::parse_any(&input).unwrap() {
                AnyReference::Named(r) => assert_eq!(r.to_string(), want),
                other => panic!("{input}: expected a name, got {other:?}"),
            }
        }
        for input in [d.to_string(), format!("sha256:{d}")] {
            assert_eq!(
                Reference::parse_any(&input).unwrap(),
                AnyReference::Digest(format!("sha256:{d}"))
            );
        }
    }

    // TestNormalizedSplitHostname.
    #[test]
    fn normalized_split_hostname() {
        let cases = [
            ("test.com/foo", "test.com", "foo"),
            ("test_com/foo", "docker.io", "test_com/foo"),
            ("docker/migrator", "docker.io", "docker/migrator"),
            ("test.com:8080/foo", "test.com:8080", "foo"),
            ("test-com:8080/foo", "test-com:8080", "foo"),
            ("foo", "docker.io", "library/foo"),
            ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
            ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
            ("docker.io/foo", "docker.io", "library/foo"),
            ("docker.io/library/foo", "docker.io", "library/foo"),
            ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
            ("localhost/foo", "localhost", "foo"),
            ("localhost:5000/foo", "localhost:5000", "foo"),
        ];
        for (input, domain, path) in cases {
            let r = Reference::parse(input).unwrap();
            assert_eq!((r.domain(), r.path()), (domain, path), "{input}");
        }
    }

    // TestParseDockerRef.
    #[test]
    fn parse_docker_ref_table() {
        let d = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";
        let cases = [
            (
                "busybox".to_string(),
                "docker.io/library/busybox:latest".to_string(),
            ),
            (
                "busybox:latest".to_string(),
                "docker.io/library/busybox:latest".to_string(),
            ),
            (
                format!("busybox@{d}"),
                format!("docker.io/library/busybox@{d}"),
            ),
            (
                "library/busybox".to_string(),
                "docker.io/library/busybox:latest".to_string(),
            ),
            (
                "docker.io/busybox".to_string(),
                "docker.io/library/busybox:latest".to_string(),
            ),
            (
                "docker.io/library/busybox".to_string(),
                "docker.io/library/busybox:latest".to_string(),
            ),
            (
                "docker.io/busybox:latest".to_string(),
                "docker.io/library/busybox:latest".to_string(),
            ),
            (
                "library/busybox:latest".to_string(),
                "docker.io/library/busybox:latest".to_string(),
            ),
            (
                "gcr.io/library/busybox".to_string(),
                "gcr.io/library/busybox:latest".to_string(),
            ),
            (
                format!("gcr.io/library/busybox:latest@{d}"),
                format!("gcr.io/library/busybox@{d}"),
            ),
        ];
        for (input, want) in cases {
            let r = Reference::parse_docker_ref(&input).unwrap();
            assert_eq!(r.to_string(), want);
            assert!(parse_raw(&want).is_ok());
        }
    }

    // TestWithTag.
    #[test]
    fn with_tag_table() {
        let r = Reference::parse("test.com:8000/foo").unwrap();
        assert_eq!(
            r.with_tag("TAG5").unwrap().to_string(),
            "test.com:8000/foo:TAG5"
        );
        let d = "sha256:1234567890098765432112345667890098765";
        let canonical = r.with_digest(d).unwrap();
        assert_eq!(
            canonical.with_tag("TAG5").unwrap().to_string(),
            format!("test.com:8000/foo:TAG5@{d}")
        );
        assert_eq!(
            Reference::parse("foo")
                .unwrap()
                .with_tag("tag2")
                .unwrap()
                .familiar_string(),
            "foo:tag2"
        );
    }

    #[test]
    fn docker_error_texts() {
        let err = |s: &str| Reference::parse(s).unwrap_err().to_string();
        assert_eq!(
            err("Foo"),
            "invalid reference format: repository name (library/Foo) must be lowercase"
        );
        assert_eq!(err("foo:"), "invalid reference format");
        assert_eq!(err(""), "invalid reference format");
        assert_eq!(
            err(&"a".repeat(64).replace('a', "b")),
            format!(
                "invalid repository name ({}), cannot specify 64-byte hexadecimal strings",
                "b".repeat(64)
            )
        );
        assert_eq!(
            err(&format!("x/{}", "a".repeat(260))),
            "repository name must not be more than 255 characters"
        );
        assert_eq!(
            err("foo@sha256:0123456789012345678901234567890123"),
            "invalid checksum digest length"
        );
        assert_eq!(
            err(&format!("foo@md5:{FF64}")),
            "unsupported digest algorithm"
        );
        assert_eq!(
            err(&format!("foo@sha256:{}", FF64.to_uppercase())),
            "invalid checksum digest format"
        );
        // A tag may look like a 64-hex ID; only the whole string is refused.
        assert!(Reference::parse(&format!("{FF64}:tag")).is_ok());
    }

    #[test]
    fn familiar_and_display() {
        let r = Reference::parse("myhost:5000/x")
            .unwrap()
            .with_default_tag();
        assert_eq!(r.familiar_name(), "myhost:5000/x");
        assert_eq!(r.to_string(), "myhost:5000/x:latest");
        let r = Reference::parse("user/repo:1").unwrap();
        assert_eq!(r.familiar_string(), "user/repo:1");
        assert_eq!(r.name(), "docker.io/user/repo");
        let r: Reference = "ubuntu".parse().unwrap();
        assert_eq!(
            r.with_default_tag().to_string(),
            "docker.io/library/ubuntu:latest"
        );
        let json = serde_json::to_string(&Reference::parse("busybox:1").unwrap()).unwrap();
        assert_eq!(json, "\"docker.io/library/busybox:1\"");
        let back: Reference = serde_json::from_str(&json).unwrap();
        assert_eq!(back.familiar_string(), "busybox:1");
    }

    #[test]
    fn digest_and_id_helpers() {
        let id = format!("sha256:{FF64}");
        assert!(is_full_id(&id));
        assert!(is_full_id(FF64));
        assert!(!is_full_id(&FF64[1..]));
        assert!(!is_full_id(&FF64.to_uppercase()));
        assert_eq!(parse_digest(&id), Ok(("sha256", FF64)));
        assert_eq!(
            parse_digest("sha256:abc"),
            Err(ReferenceError::DigestInvalidLength)
        );
        assert_eq!(
            parse_digest("nocolon"),
            Err(ReferenceError::DigestInvalidFormat)
        );
        assert_eq!(id_prefix("sha256:abc1"), Some("abc1"));
        assert_eq!(id_prefix("abc1"), Some("abc1"));
        assert_eq!(id_prefix("ubuntu"), None);
        assert_eq!(id_prefix(""), None);
    }
}
