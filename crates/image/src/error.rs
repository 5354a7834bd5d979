//! The crate's error type.

use crate::reference::ReferenceError;

/// Everything this crate can refuse. Texts that docker shows users are kept
/// word for word (references, `--change`, archive loading).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A JSON document (config, manifest, index) could not be decoded.
    #[error("invalid {what}: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A `--change` instruction was refused; the text is dockerd's.
    #[error("{0}")]
    Change(String),
    /// A manifest kind this engine cannot use (e.g. schema 1).
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedManifest(String),
    /// An index has no entry for the wanted platform (docker's text).
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoMatchingPlatform(String),
    /// A `--platform` value that is not `os[/arch[/variant]]`.
    #[error("{0:?}: unknown operating system or architecture: invalid argument")]
    InvalidPlatform(String),
    /// The archive has neither `manifest.json` nor `index.json`.
    #[error("invalid archive: does not contain a manifest.json")]
    MissingManifest,
    /// `manifest.json` holds `null`.
    #[error("invalid manifest, manifest cannot be null (but can be [])")]
    NullManifest,
    /// A metadata file of the archive could not be decoded.
    #[error("invalid archive: failed to decode {path}: {source}")]
    ArchiveDecode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// A file the archive's metadata names is not in the archive.
    #[error("invalid archive: {0} not found")]
    MissingFile(String),
    /// A path in the archive's metadata leaves the archive.
    #[error("invalid archive: path {0:?} is outside the archive")]
    UnsafePath(String),
    /// A blob whose bytes do not hash to the digest that names it.
    #[error("invalid archive: {path} does not match digest {expected}")]
    DigestMismatch { path: String, expected: String },
    /// A `RepoTags` entry that is not a tagged name (dockerd's text).
    #[error("invalid tag {0:?}")]
    InvalidTag(String),
}
