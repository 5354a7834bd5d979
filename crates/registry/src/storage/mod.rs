//! Where blobs, upload sessions and per-repository records live.
//!
//! A backend implements blobs (content-addressed, verified before they become visible),
//! upload sessions and a small key/value space for metadata; the per-repository records
//! (tags, manifest revisions, layer links, referrers) are built on that key space once,
//! here, so every backend lays them out alike.

pub mod fs;
#[cfg(feature = "aws")]
pub mod s3;

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use crate::digest::Digest;
use crate::error::{RegistryError, Result};

/// A stream of body bytes (a request body going in, a blob going out).
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A blob being read: its total size and the requested bytes.
pub struct BlobRead {
    pub size: u64,
    pub stream: ByteStream,
}

/// One stored blob, as listed for garbage collection.
#[derive(Clone, Debug)]
pub struct BlobEntry {
    pub digest: Digest,
    pub size: u64,
    pub modified: SystemTime,
}

/// One metadata key with the time it was last written.
#[derive(Clone, Debug)]
pub struct MetaEntry {
    pub key: String,
    pub modified: SystemTime,
}

/// The state of an upload session.
#[derive(Clone, Debug)]
pub struct UploadInfo {
    pub repo: String,
    pub size: u64,
    pub started: SystemTime,
}

/// Storage of a registry. Keys and upload ids handed to a backend are always built from
/// validated names, tags, digests and ids, so they never contain `..` or empty segments.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Whether this process is the only writer, so caching reads in memory is sound.
    fn cacheable(&self) -> bool;

    /// The size of a blob, or `None` when it is not stored.
    async fn blob_stat(&self, digest: &Digest) -> Result<Option<u64>>;
    /// Reads a blob (or a byte range of it; the caller checked the range fits).
    async fn blob_get(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> Result<Option<BlobRead>>;
    /// Stores `body` as `digest`; the blob becomes visible only once the bytes were
    /// verified to hash to `digest` (else `DigestMismatch` and nothing is stored).
    async fn blob_put(&self, digest: &Digest, body: ByteStream) -> Result<u64>;
    /// Deletes a blob; false when it was not there.
    async fn blob_delete(&self, digest: &Digest) -> Result<bool>;
    /// Every stored blob.
    async fn blob_list(&self) -> Result<Vec<BlobEntry>>;

    /// Starts an upload session for `repo`; returns its id.
    async fn upload_start(&self, repo: &str) -> Result<String>;
    /// The state of an upload session, or `None` when there is none with that id.
    async fn upload_info(&self, id: &str) -> Result<Option<UploadInfo>>;
    /// Appends `body` to the session; returns the new size.
    async fn upload_append(&self, id: &str, body: ByteStream) -> Result<u64>;
    /// Verifies the session's bytes against `digest` and stores them as that blob. The
    /// session is gone afterwards, whether or not the digest matched.
    async fn upload_finish(&self, id: &str, digest: &Digest) -> Result<u64>;
    /// Drops a session; false when there was none.
    async fn upload_cancel(&self, id: &str) -> Result<bool>;
    /// Every upload session: (id, info).
    async fn upload_list(&self) -> Result<Vec<(String, UploadInfo)>>;

    async fn meta_get(&self, key: &str) -> Result<Option<Bytes>>;
    /// Replaces a key's value atomically and durably.
    async fn meta_put(&self, key: &str, value: Bytes) -> Result<()>;
    async fn meta_delete(&self, key: &str) -> Result<bool>;
    /// Every key under `prefix` (which ends with `/`), at any depth.
    async fn meta_list(&self, prefix: &str) -> Result<Vec<MetaEntry>>;

    // --- per-repository records, laid out on the key space -------------------------

    /// Records that `repo` exists (for `_catalog`).
    async fn repo_register(&self, repo: &str) -> Result<()> {
        self.meta_put(&catalog_key(repo), Bytes::new()).await
    }
    async fn repo_exists(&self, repo: &str) -> Result<bool> {
        Ok(self.meta_get(&catalog_key(repo)).await?.is_some())
    }
    /// Every repository name, sorted.
    async fn repo_list(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .meta_list("catalog/")
            .await?
            .into_iter()
            .filter_map(|e| e.key.strip_prefix("catalog/").map(|n| n.replace('+', "/")))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Makes a stored blob readable through `repo`.
    async fn link_blob(&self, repo: &str, digest: &Digest) -> Result<()> {
        self.meta_put(&layer_key(repo, digest), Bytes::new()).await
    }
    async fn blob_linked(&self, repo: &str, digest: &Digest) -> Result<bool> {
        Ok(self.meta_get(&layer_key(repo, digest)).await?.is_some())
    }
    async fn unlink_blob(&self, repo: &str, digest: &Digest) -> Result<bool> {
        self.meta_delete(&layer_key(repo, digest)).await
    }

    /// Records that `repo` holds the manifest `digest` (stored as a blob) of `media_type`.
    async fn manifest_link(&self, repo: &str, digest: &Digest, media_type: &str) -> Result<()> {
        self.meta_put(
            &revision_key(repo, digest),
            Bytes::copy_from_slice(media_type.as_bytes()),
        )
        .await
    }
    /// The media type `repo`'s manifest `digest` was pushed with, or `None`.
    async fn manifest_media_type(&self, repo: &str, digest: &Digest) -> Result<Option<String>> {
        let key = revision_key(repo, digest);
        match self.meta_get(&key).await? {
            None => Ok(None),
            Some(b) => {
                String::from_utf8(b.to_vec())
                    .map(Some)
                    .map_err(|_| RegistryError::Corrupt {
                        key,
                        msg: "media type is not UTF-8".into(),
                    })
            }
        }
    }
    async fn manifest_unlink(&self, repo: &str, digest: &Digest) -> Result<bool> {
        self.meta_delete(&revision_key(repo, digest)).await
    }
    /// Every manifest digest of `repo`, with when it was last pushed.
    async fn manifest_revisions(&self, repo: &str) -> Result<Vec<(Digest, SystemTime)>> {
        let prefix = format!("repositories/{repo}/_manifests/revisions/");
        Ok(self
            .meta_list(&prefix)
            .await?
            .into_iter()
            .filter_map(|e| {
                let rest = e.key.strip_prefix(&prefix)?;
                let (alg, hex) = rest.split_once('/')?;
                Some((Digest::from_parts(alg, hex).ok()?, e.modified))
            })
            .collect())
    }

    async fn tag_get(&self, repo: &str, tag: &str) -> Result<Option<Digest>> {
        let key = tag_key(repo, tag);
        match self.meta_get(&key).await? {
            None => Ok(None),
            Some(b) => std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Some)
                .ok_or_else(|| RegistryError::Corrupt {
                    key,
                    msg: "not a digest".into(),
                }),
        }
    }
    async fn tag_put(&self, repo: &str, tag: &str, digest: &Digest) -> Result<()> {
        self.meta_put(&tag_key(repo, tag), Bytes::from(digest.to_string()))
            .await
    }
    async fn tag_delete(&self, repo: &str, tag: &str) -> Result<bool> {
        self.meta_delete(&tag_key(repo, tag)).await
    }
    /// Every tag of `repo`, sorted.
    async fn tag_list(&self, repo: &str) -> Result<Vec<String>> {
        let prefix = format!("repositories/{repo}/_manifests/tags/");
        let mut tags: Vec<String> = self
            .meta_list(&prefix)
            .await?
            .into_iter()
            .filter_map(|e| e.key.strip_prefix(&prefix).map(str::to_string))
            .filter(|t| !t.contains('/'))
            .collect();
        tags.sort();
        Ok(tags)
    }

    /// Records that manifest `referrer` of `repo` names `subject`; `descriptor` is the
    /// JSON descriptor the referrers API lists.
    async fn referrer_put(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: &Digest,
        descriptor: Bytes,
    ) -> Result<()> {
        self.meta_put(&referrer_key(repo, subject, referrer), descriptor)
            .await
    }
    async fn referrer_delete(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: &Digest,
    ) -> Result<bool> {
        self.meta_delete(&referrer_key(repo, subject, referrer))
            .await
    }
    /// The descriptors of the manifests of `repo` that name `subject`.
    async fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<Bytes>> {
        let prefix = format!(
            "repositories/{repo}/_referrers/{}/{}/",
            subject.algorithm().name(),
            subject.hex()
        );
        let mut keys = self.meta_list(&prefix).await?;
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        let mut out = Vec::with_capacity(keys.len());
        for e in keys {
            if let Some(v) = self.meta_get(&e.key).await? {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// When the last garbage collection removed something (see [`GC_EPOCH_KEY`]).
    async fn gc_epoch(&self) -> Result<Option<SystemTime>> {
        Ok(self
            .meta_list("gc/")
            .await?
            .into_iter()
            .find(|e| e.key == GC_EPOCH_KEY)
            .map(|e| e.modified))
    }

    /// Marks `digest` as just referenced, so a concurrent garbage collection keeps it.
    async fn touch(&self, digest: &Digest) -> Result<()> {
        self.meta_put(&touch_key(digest), Bytes::new()).await
    }
}

/// Rewritten by every collection that deleted blobs, so servers drop their caches.
pub const GC_EPOCH_KEY: &str = "gc/epoch";

// '+' never occurs in a repository name, so it stands for '/' and keeps catalog keys flat
// (a repository `a/b` and a repository `a/b/c` would otherwise need `a/b` as file and dir).
fn catalog_key(repo: &str) -> String {
    format!("catalog/{}", repo.replace('/', "+"))
}

pub(crate) fn layer_key(repo: &str, d: &Digest) -> String {
    format!(
        "repositories/{repo}/_layers/{}/{}",
        d.algorithm().name(),
        d.hex()
    )
}

fn revision_key(repo: &str, d: &Digest) -> String {
    format!(
        "repositories/{repo}/_manifests/revisions/{}/{}",
        d.algorithm().name(),
        d.hex()
    )
}

fn tag_key(repo: &str, tag: &str) -> String {
    format!("repositories/{repo}/_manifests/tags/{tag}")
}

fn referrer_key(repo: &str, subject: &Digest, referrer: &Digest) -> String {
    format!(
        "repositories/{repo}/_referrers/{}/{}/{}-{}",
        subject.algorithm().name(),
        subject.hex(),
        referrer.algorithm().name(),
        referrer.hex()
    )
}

pub(crate) fn touch_key(d: &Digest) -> String {
    format!("touch/{}/{}", d.algorithm().name(), d.hex())
}

/// Upload ids are 32 lowercase hex characters; anything else names no session (and so
/// can never reach a path).
pub fn valid_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn new_upload_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
pub(crate) mod conformance;
