//! berth-image: the image formats of a Docker-compatible engine.
//!
//! Pure data: image references ([`reference`]), the image configuration JSON
//! and `--change` instructions ([`config`]), manifests and indexes
//! ([`manifest`]), and the metadata files of `docker save` / `docker load`
//! archives ([`archive`]). No I/O beyond parsing bytes, no async; this crate
//! knows nothing of the store or of HTTP.

pub mod archive;
pub mod config;
pub mod manifest;
pub mod reference;

mod error;

pub use error::Error;
pub use reference::{AnyReference, Reference, ReferenceError};

/// `sha256:<hex>` of `bytes`: the digest of a blob exactly as stored.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
