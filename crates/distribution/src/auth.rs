//! Credentials as the docker CLI sends them (`X-Registry-Auth`), and the
//! registry's side of authentication: `WWW-Authenticate` challenges.

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::{DistError, Result};

/// docker's `registry.AuthConfig`, the JSON inside `X-Registry-Auth` and the
/// body of `POST /auth`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// base64 of `username:password` (the form config.json keeps).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    /// A refresh token for the registry's OAuth endpoint.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    /// A bearer token sent to the registry as is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

/// Decoders that accept padded and unpadded input: clients differ.
const URL_ANY: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const STD_ANY: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl AuthConfig {
    /// Decodes an `X-Registry-Auth` header (base64url JSON; an empty header
    /// or `{}` means anonymous). Standard base64 is accepted too, as dockerd does.
    pub fn from_header(value: &str) -> Result<AuthConfig> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(AuthConfig::default());
        }
        let bytes = URL_ANY
            .decode(value)
            .or_else(|_| STD_ANY.decode(value))
            .map_err(|e| DistError::InvalidAuth(format!("X-Registry-Auth is not base64: {e}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| DistError::InvalidAuth(format!("X-Registry-Auth is not JSON: {e}")))
    }

    /// The header value for this config (base64url JSON, as the docker CLI sends it).
    pub fn to_header(&self) -> String {
        URL_SAFE.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// The credentials to present, with `auth` split into user and password
    /// when those are not given.
    pub fn credentials(&self) -> Result<Credentials> {
        let (mut username, mut password) = (self.username.clone(), self.password.clone());
        if username.is_empty() && !self.auth.is_empty() {
            (username, password) = decode_basic(&self.auth)?;
        }
        Ok(Credentials {
            username,
            password,
            identity_token: self.identitytoken.clone(),
            registry_token: self.registrytoken.clone(),
        })
    }
}

/// `base64(user:password)` → (user, password).
pub fn decode_basic(auth: &str) -> Result<(String, String)> {
    let bytes = STD_ANY
        .decode(auth.trim())
        .map_err(|e| DistError::InvalidAuth(format!("auth field is not base64: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| DistError::InvalidAuth("auth field is not UTF-8".into()))?;
    let (u, p) = text.split_once(':').ok_or_else(|| {
        DistError::InvalidAuth("auth field has no ':' between user and password".into())
    })?;
    Ok((u.to_string(), p.to_string()))
}

/// `user`, `password` → `base64(user:password)`.
pub fn encode_basic(username: &str, password: &str) -> String {
    STANDARD.encode(format!("{username}:{password}"))
}

/// What is presented to a registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub identity_token: String,
    pub registry_token: String,
}

impl Credentials {
    pub fn basic(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.to_string(),
            password: password.to_string(),
            ..Default::default()
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.username.is_empty() && self.identity_token.is_empty() && self.registry_token.is_empty()
    }

    /// The `Authorization` value for a `Basic` challenge, if there is a password.
    pub(crate) fn basic_header(&self) -> Option<String> {
        (!self.username.is_empty())
            .then(|| format!("Basic {}", encode_basic(&self.username, &self.password)))
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
        })
    } else {
        None
    }
}

/// `k="v", k2=v2` with quoted commas and backslash escapes.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_auth_field() {
        assert_eq!(AuthConfig::from_header("").unwrap(), AuthConfig::default());
        assert_eq!(
            AuthConfig::from_header("e30=").unwrap(),
            AuthConfig::default()
        );
        assert_eq!(
            AuthConfig::from_header("e30").unwrap(),
            AuthConfig::default()
        );
        let a = AuthConfig {
            username: "me".into(),
            password: "p+/?".into(),
            serveraddress: "127.0.0.1:5000".into(),
            ..Default::default()
        };
        let back = AuthConfig::from_header(&a.to_header()).unwrap();
        assert_eq!(back, a);
        assert_eq!(
            back.credentials().unwrap(),
            Credentials::basic("me", "p+/?")
        );
        let only_auth = AuthConfig {
            auth: encode_basic("u", "pa:ss"),
            ..Default::default()
        };
        assert_eq!(
            only_auth.credentials().unwrap(),
            Credentials::basic("u", "pa:ss")
        );
        assert!(AuthConfig::from_header("!!!").is_err());
        assert!(AuthConfig {
            auth: STANDARD.encode("nocolon"),
            ..Default::default()
        }
        .credentials()
        .is_err());
    }

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(
            parse_params(r#"a="x,\"y", b=z"#),
            vec![("a".into(), "x,\"y".into()), ("b".into(), "z".into())]
        );
    }
}
