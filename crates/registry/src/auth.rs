//! Who may do what: htpasswd (bcrypt) basic auth or bearer tokens from a trusted issuer,
//! optionally with anonymous pulls.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use axum::http::HeaderMap;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::Digest as _;

use crate::config::AuthConfig;
use crate::error::{RegistryError, Result};

/// What a request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    /// `GET /v2/`: any valid identity.
    Base,
    /// `GET /v2/_catalog`: `registry:catalog:*`.
    Catalog,
    /// Actions (`pull`, `push`, `delete`) on one repository.
    Repo {
        name: String,
        actions: Vec<&'static str>,
    },
}

impl Need {
    fn scope(&self) -> Option<String> {
        match self {
            Need::Base => None,
            Need::Catalog => Some("registry:catalog:*".into()),
            Need::Repo { name, actions } => {
                Some(format!("repository:{name}:{}", actions.join(",")))
            }
        }
    }

    fn pull_only(&self) -> bool {
        match self {
            Need::Base => true,
            Need::Catalog => false,
            Need::Repo { actions, .. } => actions.iter().all(|a| *a == "pull"),
        }
    }
}

/// Why a request was refused: answered with 401 and this `WWW-Authenticate` challenge.
#[derive(Debug, Clone)]
pub struct Denied {
    pub challenge: String,
    pub message: String,
}

enum Mode {
    Htpasswd {
        realm: String,
        users: HashMap<String, String>,
        // sha256 of `user:password` pairs that passed bcrypt, so a client sending the same
        // credentials on every request pays bcrypt's cost once.
        verified: Mutex<HashSet<[u8; 32]>>,
    },
    Token {
        realm: String,
        service: String,
        key: DecodingKey,
        validation: Validation,
    },
}

/// A configured authenticator.
pub struct Auth {
    mode: Mode,
    anonymous_pull: bool,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    access: Vec<AccessEntry>,
}

#[derive(Deserialize)]
struct AccessEntry {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    actions: Vec<String>,
}

const MAX_VERIFIED: usize = 1024;

impl Auth {
    /// Builds the authenticator `cfg` describes; `None` when no auth is configured.
    pub fn from_config(cfg: &AuthConfig) -> Result<Option<Auth>> {
        let mode = if let Some(h) = &cfg.htpasswd {
            let text = std::fs::read_to_string(&h.path).map_err(RegistryError::io(&h.path))?;
            Mode::Htpasswd {
                realm: h.realm.clone(),
                users: parse_htpasswd(&text),
                verified: Mutex::new(HashSet::new()),
            }
        } else if let Some(t) = &cfg.token {
            let pem = std::fs::read(&t.public_key).map_err(RegistryError::io(&t.public_key))?;
            let bad = |msg: String| RegistryError::Config {
                path: t.public_key.clone(),
                msg,
            };
            let (key, algs) = if let Ok(k) = DecodingKey::from_ec_pem(&pem) {
                (k, vec![Algorithm::ES256, Algorithm::ES384])
            } else if let Ok(k) = DecodingKey::from_rsa_pem(&pem) {
                (
                    k,
                    vec![
                        Algorithm::RS256,
                        Algorithm::RS384,
                        Algorithm::RS512,
                        Algorithm::PS256,
                        Algorithm::PS384,
                        Algorithm::PS512,
                    ],
                )
            } else {
                return Err(bad("not a PEM RSA or EC public key".into()));
            };
            let mut validation = Validation::new(algs[0]);
            validation.algorithms = algs;
            validation.set_issuer(&[&t.issuer]);
            validation.set_audience(&[&t.service]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            Mode::Token {
                realm: t.realm.clone(),
                service: t.service.clone(),
                key,
                validation,
            }
        } else {
            return Ok(None);
        };
        Ok(Some(Auth {
            mode,
            anonymous_pull: cfg.anonymous_pull,
        }))
    }

    /// Checks the request's credentials against what it needs.
    pub async fn check(&self, headers: &HeaderMap, need: &Need) -> Result<(), Denied> {
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if header.is_none() && self.anonymous_pull && need.pull_only() {
            return Ok(());
        }
        match &self.mode {
            Mode::Htpasswd {
                realm,
                users,
                verified,
            } => {
                let deny = |message: &str| Denied {
                    challenge: format!("Basic realm=\"{realm}\""),
                    message: message.into(),
                };
                let (user, pass) = header
                    .and_then(|h| h.strip_prefix("Basic "))
                    .and_then(|b| {
                        base64::engine::general_purpose::STANDARD
                            .decode(b.trim())
                            .ok()
                    })
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| {
                        s.split_once(':')
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                    })
                    .ok_or_else(|| deny("authentication required"))?;
                let fingerprint: [u8; 32] =
                    sha2::Sha256::digest(format!("{user}:{pass}").as_bytes()).into();
                if verified.lock().is_ok_and(|v| v.contains(&fingerprint)) {
                    return Ok(());
                }
                let hash = users
                    .get(&user)
                    .cloned()
                    .ok_or_else(|| deny("invalid username or password"))?;
                let ok = tokio::task::spawn_blocking(move || bcrypt::verify(pass, &hash))
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                    .unwrap_or(false);
                if !ok {
                    return Err(deny("invalid username or password"));
                }
                if let Ok(mut v) = verified.lock() {
                    if v.len() >= MAX_VERIFIED {
                        v.clear();
                    }
                    v.insert(fingerprint);
                }
                Ok(())
            }
            Mode::Token {
                realm,
                service,
                key,
                validation,
            } => {
                let token = header.and_then(|h| h.strip_prefix("Bearer "));
                let mut challenge = format!("Bearer realm=\"{realm}\",service=\"{service}\"");
                if let Some(scope) = need.scope() {
                    challenge.push_str(&format!(",scope=\"{scope}\""));
                }
                let Some(token) = token else {
                    return Err(Denied {
                        challenge,
                        message: "authentication required".into(),
                    });
                };
                let claims = match jsonwebtoken::decode::<Claims>(token.trim(), key, validation) {
                    Ok(data) => data.claims,
                    Err(e) => {
                        return Err(Denied {
                            challenge: format!("{challenge},error=\"invalid_token\""),
                            message: format!("invalid token: {e}"),
                        })
                    }
                };
                if granted(&claims.access, need) {
                    Ok(())
                } else {
                    Err(Denied {
                        challenge: format!("{challenge},error=\"insufficient_scope\""),
                        message: "the token does not grant this access".into(),
                    })
                }
            }
        }
    }
}

fn granted(access: &[AccessEntry], need: &Need) -> bool {
    let has = |kind: &str, name: &str, action: &str| {
        access.iter().any(|a| {
            a.kind == kind && a.name == name && a.actions.iter().any(|x| x == action || x == "*")
        })
    };
    match need {
        Need::Base => true,
        Need::Catalog => has("registry", "catalog", "*"),
        Need::Repo { name, actions } => actions.iter().all(|a| has("repository", name, a)),
    }
}

/// `user:hash` lines; blank lines and `#` comments are skipped.
fn parse_htpasswd(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(u, h)| (u.to_string(), h.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HtpasswdConfig, TokenConfig};
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(auth).unwrap());
        h
    }

    fn pull(name: &str) -> Need {
        Need::Repo {
            name: name.into(),
            actions: vec!["pull"],
        }
    }

    #[tokio::test]
    async fn htpasswd_basic_auth_and_anonymous_pull() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("htpasswd");
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        std::fs::write(&p, format!("# users\nalice:{hash}\n")).unwrap();
        let cfg = AuthConfig {
            htpasswd: Some(HtpasswdConfig {
                path: p,
                realm: "r".into(),
            }),
            token: None,
            anonymous_pull: true,
        };
        let auth = Auth::from_config(&cfg).unwrap().unwrap();
        let push = Need::Repo {
            name: "a".into(),
            actions: vec!["pull", "push"],
        };
        assert!(auth.check(&HeaderMap::new(), &pull("a")).await.is_ok());
        let denied = auth.check(&HeaderMap::new(), &push).await.unwrap_err();
        assert_eq!(denied.challenge, "Basic realm=\"r\"");
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
        );
        let bad = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:nope")
        );
        assert!(auth.check(&headers(&good), &push).await.is_ok());
        assert!(auth.check(&headers(&good), &push).await.is_ok());
        assert!(auth.check(&headers(&bad), &push).await.is_err());
        assert!(auth.check(&headers(&bad), &pull("a")).await.is_err());
    }

    #[tokio::test]
    async fn bearer_tokens_are_checked_for_issuer_audience_and_scope() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let pubp = dir.path().join("issuer.pem");
        std::fs::write(&pubp, key.public_key_pem()).unwrap();
        let cfg = AuthConfig {
            htpasswd: None,
            token: Some(TokenConfig {
                realm: "https://auth.example/token".into(),
                service: "reg".into(),
                issuer: "issuer".into(),
                public_key: pubp,
            }),
            anonymous_pull: false,
        };
        let auth = Auth::from_config(&cfg).unwrap().unwrap();
        let enc = jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
        let sign = |iss: &str, aud: &str, actions: &[&str]| {
            let claims = serde_json::json!({
                "iss": iss, "aud": aud, "sub": "bob",
                "exp": chrono_now() + 300,
                "access": [{"type": "repository", "name": "a/b", "actions": actions}],
            });
            jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::ES256), &claims, &enc)
                .unwrap()
        };
        let push = Need::Repo {
            name: "a/b".into(),
            actions: vec!["pull", "push"],
        };
        let d = auth.check(&HeaderMap::new(), &push).await.unwrap_err();
        assert_eq!(
            d.challenge,
            "Bearer realm=\"https://auth.example/token\",service=\"reg\",scope=\"repository:a/b:pull,push\""
        );
        let t = sign("issuer", "reg", &["pull"]);
        let h = headers(&format!("Bearer {t}"));
        assert!(auth.check(&h, &pull("a/b")).await.is_ok());
        let d = auth.check(&h, &push).await.unwrap_err();
        assert!(d.challenge.ends_with("error=\"insufficient_scope\""));
        assert!(auth.check(&h, &pull("other")).await.is_err());
        let t = sign("issuer", "reg", &["pull", "push"]);
        assert!(auth
            .check(&headers(&format!("Bearer {t}")), &push)
            .await
            .is_ok());
        for t in [
            sign("mallory", "reg", &["*"]),
            sign("issuer", "elsewhere", &["*"]),
        ] {
            let d = auth
                .check(&headers(&format!("Bearer {t}")), &push)
                .await
                .unwrap_err();
            assert!(d.challenge.contains("invalid_token"), "{}", d.message);
        }
    }

    fn chrono_now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }
}
