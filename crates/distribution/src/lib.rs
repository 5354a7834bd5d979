//! berth-distribution: a client for OCI Distribution / Docker Registry v2
//! registries, and the credential formats around it.
//!
//! * [`Client`]: endpoints (mirrors, insecure registries), token and basic
//!   authentication, manifests, resumable streamed blob downloads, blob
//!   uploads with cross-repository mounts, tags, search and login checks.
//! * [`AuthConfig`]: the docker CLI's `X-Registry-Auth` / `POST /auth` JSON.
//! * [`ConfigFile`]: the CLI's `config.json` with credential helpers.
//! * [`Progress`]: pull/push events with docker's status texts.
//!
//! The image formats (references, manifests) are `berth-image`'s; storing
//! and unpacking is the daemon's. Every call blocks.

mod auth;
mod client;
mod config_file;
mod error;
mod hosts;
mod progress;

pub use auth::{decode_basic, encode_basic, parse_challenge, AuthConfig, Challenge, Credentials};
pub use client::{
    BlobSink, BlobUpload, Client, FetchedManifest, LoginResult, Mount, Repository, SearchResult,
    UploadSession, MANIFEST_ACCEPT,
};
pub use config_file::ConfigFile;
pub use error::{DistError, RegistryErrorItem, Result};
pub use hosts::{
    auth_key, hostname_of, Endpoint, RegistryHosts, DOCKER_HUB, DOCKER_HUB_AUTH_KEY,
    DOCKER_HUB_INDEX, DOCKER_HUB_REGISTRY,
};
pub use progress::{human_size, progress_bar, LayerStatus, Progress};
