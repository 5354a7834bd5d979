use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// One entry of a registry's `{"errors":[…]}` body (distribution's errcode).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegistryErrorItem {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl fmt::Display for RegistryErrorItem {
    /// `manifest unknown: manifest unknown`, as distribution's `errcode.Error` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code.to_lowercase().replace('_', " ");
        write!(f, "{code}: {}", self.message)
    }
}

/// Errors of the registry client; each names the registry, URL, file or value concerned.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// The registry could not be reached (connection, TLS, protocol).
    #[error("Get \"{url}\": {message}")]
    Connect { url: String, message: String },
    /// The registry answered with an error status.
    #[error("{}", registry_message(*.status, .errors))]
    Registry {
        status: u16,
        errors: Vec<RegistryErrorItem>,
    },
    #[error("invalid auth configuration: {0}")]
    InvalidAuth(String),
    /// A push to a registry that wants basic auth, without credentials
    /// (the distribution client's text, which docker shows).
    #[error("no basic auth credentials")]
    NoBasicAuthCredentials,
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    Protocol(String),
    #[error("filesystem layer verification failed for digest {digest}: got {actual}")]
    DigestMismatch { digest: String, actual: String },
    #[error("error getting credentials - err: {message}, out: `{out}`")]
    CredentialHelper { message: String, out: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] berth_image::Error),
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    /// The receiver of a blob (the caller's sink) failed.
    #[error("writing blob {digest}: {source}")]
    Sink {
        digest: String,
        source: std::io::Error,
    },
}

fn registry_message(status: u16, errors: &[RegistryErrorItem]) -> String {
    match errors {
        [] => format!(
            "received unexpected HTTP status: {status} {}",
            hyper::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("")
        ),
        [one] => one.to_string(),
        many => {
            let list: Vec<String> = many.iter().map(|e| e.to_string()).collect();
            format!("errors:\n{}\n", list.join("\n"))
        }
    }
}

impl DistError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DistError {
        let path = path.into();
        move |source| DistError::Io { path, source }
    }

    fn has_code(&self, codes: &[&str]) -> bool {
        matches!(self, DistError::Registry { errors, .. } if errors.iter().any(|e| codes.contains(&e.code.as_str())))
    }

    /// The registry does not have the manifest or blob asked for.
    pub fn is_not_found(&self) -> bool {
        match self {
            DistError::Registry { status, errors } => {
                self.has_code(&["MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NOT_FOUND"])
                    || (*status == 404 && errors.is_empty())
            }
            _ => false,
        }
    }

    /// The registry refused access, or does not know the repository at all
    /// (registries say one for the other, so docker reports both alike).
    pub fn is_denied(&self) -> bool {
        match self {
            DistError::Registry { status, .. } => {
                self.has_code(&["UNAUTHORIZED", "DENIED", "NAME_UNKNOWN"])
                    || *status == 401
                    || *status == 403
            }
            _ => false,
        }
    }

    /// The registry could not be reached at all (worth trying the next endpoint).
    pub fn is_connect(&self) -> bool {
        matches!(self, DistError::Connect { .. })
    }
}

pub type Result<T, E = DistError> = std::result::Result<T, E>;

/// Reads a registry error body; bodies that are not errcode JSON give an empty list.
pub(crate) fn parse_errors(status: u16, body: &[u8]) -> DistError {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<RegistryErrorItem>,
    }
    let errors = serde_json::from_slice::<Body>(body)
        .map(|b| b.errors)
        .unwrap_or_default();
    DistError::Registry { status, errors }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_read_like_docker() {
        let e = parse_errors(
            404,
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#,
        );
        assert_eq!(e.to_string(), "manifest unknown: manifest unknown");
        assert!(e.is_not_found());
        assert!(!e.is_denied());
        let e = parse_errors(
            401,
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
        assert_eq!(e.to_string(), "unauthorized: authentication required");
        assert!(e.is_denied());
        let e = parse_errors(500, b"<html>oops</html>");
        assert_eq!(
            e.to_string(),
            "received unexpected HTTP status: 500 Internal Server Error"
        );
        assert!(!e.is_not_found());
    }
}
