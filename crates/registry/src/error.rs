//! The crate's error type, and the OCI error bodies the HTTP side answers with.

use std::path::PathBuf;

/// Everything that can go wrong below the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "invalid digest {0:?}: expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>"
    )]
    InvalidDigest(String),
    #[error("content does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the request body: {0}")]
    Body(std::io::Error),
    #[error("object store {key}: {msg}")]
    ObjectStore { key: String, msg: String },
    #[error("upload session {0} does not exist (finished, cancelled or never started)")]
    UploadUnknown(String),
    #[error("stored record {key} is corrupt: {msg}")]
    Corrupt { key: String, msg: String },
    #[error("config {path}: {msg}")]
    Config { path: PathBuf, msg: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

impl RegistryError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| RegistryError::Io { path, source }
    }
}
