//! berth-store: the bytes of images, apart from what points at them.
//!
//! * [`ContentStore`]: blobs addressed by the sha256 of their bytes, written through
//!   an ingest file that is hashed while written and renamed into place only once
//!   its digest is verified (so a partial or corrupt blob is never visible).
//! * [`atomic_write`]: the one way metadata files are replaced (temp, fsync, rename,
//!   fsync of the directory), so a crash leaves the old file or the new one;
//!   [`replace_file`] the same without the fsyncs, for state re-derived at start.
//!
//! Invariant: this crate knows nothing of images, HTTP or the daemon.

mod atomic;
mod content;
mod digest;

pub use atomic::{atomic_write, atomic_write_json, read_json, replace_file, replace_file_json};
pub use content::{BlobWriter, ContentStore, PendingBlob};
pub use digest::{Digest, DigestError};

/// Errors of the store; each names the blob or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("blob {0} not found")]
    NotFound(Digest),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
}

impl StoreError {
    pub(crate) fn io(path: impl Into<std::path::PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
