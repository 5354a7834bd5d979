//! The S3-compatible backend (feature `aws`), for several registry instances sharing one
//! bucket behind a load balancer.
//!
//! ```text
//! <prefix>blobs/<alg>/<hex>               verified blobs
//! <prefix>uploads/<id>/info               upload session: its repository
//! <prefix>uploads/<id>/<offset:020>       one object per received chunk
//! <prefix>tmp/<id>                        large blobs being received
//! <prefix>meta/<key>                      tags, manifest revisions, links, referrers
//! ```
//! S3 cannot append, so a session keeps its chunks apart and finishing it streams them,
//! in order, through the hasher into one object. A blob becomes visible only after its
//! bytes were verified: small bodies are held in memory and written once, large ones go
//! to tmp/ and are copied into place.

use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};

use super::{
    new_upload_id, valid_upload_id, BlobEntry, BlobRead, ByteStream, MetaEntry, Storage, UploadInfo,
};
use crate::config::S3Config;
use crate::digest::{Digest, Hasher};
use crate::error::{RegistryError, Result};

/// Bodies up to this size are buffered and written with one PUT; larger ones stream as
/// multipart uploads (S3's minimum part size).
const PART: usize = 5 * 1024 * 1024;

pub struct S3Storage {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

fn err(key: &Path) -> impl FnOnce(object_store::Error) -> RegistryError + '_ {
    move |e| RegistryError::ObjectStore {
        key: key.to_string(),
        msg: e.to_string(),
    }
}

fn missing<T>(r: object_store::Result<T>) -> object_store::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What [`S3Storage::receive`] did with a body.
enum Received {
    /// Small: kept in memory, nothing written.
    Small(Bytes),
    /// Large: written to the target object; this many bytes.
    Written(u64),
}

impl S3Storage {
    pub fn new(cfg: &S3Config) -> Result<S3Storage> {
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region);
        if let Some(e) = &cfg.endpoint {
            b = b
                .with_endpoint(e)
                .with_allow_http(e.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(k) = &cfg.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &cfg.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let store = b.build().map_err(|e| RegistryError::ObjectStore {
            key: format!("s3://{}", cfg.bucket),
            msg: e.to_string(),
        })?;
        let mut prefix = cfg.prefix.trim_matches('/').to_string();
        if !prefix.is_empty() {
            prefix.push('/');
        }
        Ok(S3Storage {
            store: Arc::new(store),
            prefix,
        })
    }

    fn path(&self, rel: &str) -> Path {
        Path::from(format!("{}{rel}", self.prefix))
    }

    fn blob_path(&self, d: &Digest) -> Path {
        self.path(&format!("blobs/{}/{}", d.algorithm().name(), d.hex()))
    }

    fn meta_path(&self, key: &str) -> Path {
        self.path(&format!("meta/{key}"))
    }

    /// Reads `body` (hashing it when asked); a body larger than one part is streamed to
    /// `target` as a multipart upload.
    async fn receive(
        &self,
        target: &Path,
        mut body: ByteStream,
        mut hasher: Option<&mut Hasher>,
    ) -> Result<Received> {
        let mut buf = BytesMut::new();
        let mut writer: Option<WriteMultipart> = None;
        let mut total = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    if let Some(w) = writer {
                        let _ = w.abort().await;
                    }
                    return Err(RegistryError::Body(e));
                }
            };
            if let Some(h) = hasher.as_deref_mut() {
                h.update(&chunk);
            }
            total += chunk.len() as u64;
            match &mut writer {
                Some(w) => {
                    w.wait_for_capacity(4).await.map_err(err(target))?;
                    w.write(&chunk);
                }
                None => {
                    buf.extend_from_slice(&chunk);
                    if buf.len() > PART {
                        let upload = self
                            .store
                            .put_multipart(target)
                            .await
                            .map_err(err(target))?;
                        let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
                        w.write(&buf);
                        buf = BytesMut::new();
                        writer = Some(w);
                    }
                }
            }
        }
        match writer {
            Some(w) => {
                w.finish().await.map_err(err(target))?;
                Ok(Received::Written(total))
            }
            None => Ok(Received::Small(buf.freeze())),
        }
    }

    /// Chunk objects of a session, in order, with their sizes.
    async fn chunks(&self, id: &str) -> Result<Vec<(Path, u64)>> {
        let dir = self.path(&format!("uploads/{id}/"));
        let mut out: Vec<(Path, u64)> = self
            .store
            .list(Some(&dir))
            .try_filter_map(|m| async move {
                let is_chunk = m
                    .location
                    .filename()
                    .is_some_and(|f| f.bytes().all(|b| b.is_ascii_digit()));
                Ok(is_chunk.then_some((m.location, m.size)))
            })
            .try_collect()
            .await
            .map_err(err(&dir))?;
        out.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        Ok(out)
    }

    async fn drop_session(&self, id: &str) -> Result<()> {
        let dir = self.path(&format!("uploads/{id}/"));
        let objects: Vec<Path> = self
            .store
            .list(Some(&dir))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(err(&dir))?;
        for o in objects {
            missing(self.store.delete(&o).await).map_err(err(&o))?;
        }
        Ok(())
    }

    /// Verifies and publishes what `receive` got for `digest`.
    async fn publish(&self, digest: &Digest, got: Received, tmp: &Path, h: Hasher) -> Result<u64> {
        let actual = h.finish();
        if &actual != digest {
            if matches!(got, Received::Written(_)) {
                let _ = self.store.delete(tmp).await;
            }
            return Err(RegistryError::DigestMismatch {
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        let to = self.blob_path(digest);
        match got {
            Received::Small(b) => {
                let n = b.len() as u64;
                self.store
                    .put(&to, PutPayload::from(b))
                    .await
                    .map_err(err(&to))?;
                Ok(n)
            }
            Received::Written(n) => {
                self.store.copy(tmp, &to).await.map_err(err(&to))?;
                let _ = self.store.delete(tmp).await;
                Ok(n)
            }
        }
    }
}

#[async_trait]
impl Storage for S3Storage {
    fn cacheable(&self) -> bool {
        // Other instances write the same bucket.
        false
    }

    async fn blob_stat(&self, digest: &Digest) -> Result<Option<u64>> {
        let p = self.blob_path(digest);
        Ok(missing(self.store.head(&p).await)
            .map_err(err(&p))?
            .map(|m| m.size))
    }

    async fn blob_get(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> Result<Option<BlobRead>> {
        let p = self.blob_path(digest);
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let Some(r) = missing(self.store.get_opts(&p, opts).await).map_err(err(&p))? else {
            return Ok(None);
        };
        let size = r.meta.size;
        let stream = r.into_stream().map_err(std::io::Error::other);
        Ok(Some(BlobRead {
            size,
            stream: Box::pin(stream),
        }))
    }

    async fn blob_put(&self, digest: &Digest, body: ByteStream) -> Result<u64> {
        let tmp = self.path(&format!("tmp/{}", new_upload_id()));
        let mut h = digest.algorithm().hasher();
        let got = self.receive(&tmp, body, Some(&mut h)).await?;
        self.publish(digest, got, &tmp, h).await
    }

    async fn blob_delete(&self, digest: &Digest) -> Result<bool> {
        let p = self.blob_path(digest);
        if self.blob_stat(digest).await?.is_none() {
            return Ok(false);
        }
        missing(self.store.delete(&p).await).map_err(err(&p))?;
        Ok(true)
    }

    async fn blob_list(&self) -> Result<Vec<BlobEntry>> {
        let dir = self.path("blobs/");
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(err(&dir))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let parts: Vec<_> = m.location.parts().collect();
                let n = parts.len();
                if n < 2 {
                    return None;
                }
                let digest =
                    Digest::from_parts(parts[n - 2].as_ref(), parts[n - 1].as_ref()).ok()?;
                Some(BlobEntry {
                    digest,
                    size: m.size,
                    modified: SystemTime::from(m.last_modified),
                })
            })
            .collect())
    }

    async fn upload_start(&self, repo: &str) -> Result<String> {
        let id = new_upload_id();
        let p = self.path(&format!("uploads/{id}/info"));
        self.store
            .put(&p, PutPayload::from(repo.to_string()))
            .await
            .map_err(err(&p))?;
        Ok(id)
    }

    async fn upload_info(&self, id: &str) -> Result<Option<UploadInfo>> {
        if !valid_upload_id(id) {
            return Ok(None);
        }
        let p = self.path(&format!("uploads/{id}/info"));
        let Some(r) = missing(self.store.get(&p).await).map_err(err(&p))? else {
            return Ok(None);
        };
        let started = SystemTime::from(r.meta.last_modified);
        let repo = r.bytes().await.map_err(err(&p))?;
        let size = self.chunks(id).await?.iter().map(|c| c.1).sum();
        Ok(Some(UploadInfo {
            repo: String::from_utf8_lossy(&repo).into_owned(),
            size,
            started,
        }))
    }

    async fn upload_append(&self, id: &str, body: ByteStream) -> Result<u64> {
        let Some(info) = self.upload_info(id).await? else {
            return Err(RegistryError::UploadUnknown(id.to_string()));
        };
        let target = self.path(&format!("uploads/{id}/{:020}", info.size));
        match self.receive(&target, body, None).await? {
            Received::Small(b) if b.is_empty() => Ok(info.size),
            Received::Small(b) => {
                let n = b.len() as u64;
                self.store
                    .put(&target, PutPayload::from(b))
                    .await
                    .map_err(err(&target))?;
                Ok(info.size + n)
            }
            Received::Written(n) => Ok(info.size + n),
        }
    }

    async fn upload_finish(&self, id: &str, digest: &Digest) -> Result<u64> {
        if self.upload_info(id).await?.is_none() {
            return Err(RegistryError::UploadUnknown(id.to_string()));
        }
        let chunks = self.chunks(id).await?;
        let store = self.store.clone();
        let paths: Vec<Path> = chunks.into_iter().map(|c| c.0).collect();
        // The chunks, read one after another, as one body.
        let body: ByteStream = Box::pin(
            futures_util::stream::iter(paths)
                .then(move |p| {
                    let store = store.clone();
                    async move { store.get(&p).await.map(|r| r.into_stream()) }
                })
                .try_flatten()
                .map_err(std::io::Error::other),
        );
        let result = self.blob_put(digest, body).await;
        self.drop_session(id).await?;
        result
    }

    async fn upload_cancel(&self, id: &str) -> Result<bool> {
        if self.upload_info(id).await?.is_none() {
            return Ok(false);
        }
        self.drop_session(id).await?;
        Ok(true)
    }

    async fn upload_list(&self) -> Result<Vec<(String, UploadInfo)>> {
        let dir = self.path("uploads/");
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(err(&dir))?;
        let mut ids: Vec<String> = metas
            .iter()
            .filter(|m| m.location.filename() == Some("info"))
            .filter_map(|m| {
                let parts: Vec<_> = m.location.parts().collect();
                parts
                    .len()
                    .checked_sub(2)
                    .map(|i| parts[i].as_ref().to_string())
            })
            .filter(|id| valid_upload_id(id))
            .collect();
        ids.sort();
        let mut out = Vec::new();
        for id in ids {
            if let Some(info) = self.upload_info(&id).await? {
                out.push((id, info));
            }
        }
        Ok(out)
    }

    async fn meta_get(&self, key: &str) -> Result<Option<Bytes>> {
        let p = self.meta_path(key);
        match missing(self.store.get(&p).await).map_err(err(&p))? {
            None => Ok(None),
            Some(r) => Ok(Some(r.bytes().await.map_err(err(&p))?)),
        }
    }

    async fn meta_put(&self, key: &str, value: Bytes) -> Result<()> {
        let p = self.meta_path(key);
        self.store
            .put(&p, PutPayload::from(value))
            .await
            .map_err(err(&p))?;
        Ok(())
    }

    async fn meta_delete(&self, key: &str) -> Result<bool> {
        let p = self.meta_path(key);
        if missing(self.store.head(&p).await)
            .map_err(err(&p))?
            .is_none()
        {
            return Ok(false);
        }
        missing(self.store.delete(&p).await).map_err(err(&p))?;
        Ok(true)
    }

    async fn meta_list(&self, prefix: &str) -> Result<Vec<MetaEntry>> {
        let root = format!("{}meta/", self.prefix);
        let dir = self.meta_path(prefix);
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(err(&dir))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let key = m.location.as_ref().strip_prefix(&root)?.to_string();
                Some(MetaEntry {
                    key,
                    modified: SystemTime::from(m.last_modified),
                })
            })
            .collect())
    }
}

/// A moto S3 server for tests (shared with the integration tests).
#[cfg(test)]
#[path = "moto.rs"]
pub(crate) mod moto;

#[cfg(test)]
mod tests {
    use super::*;

    fn config(m: &moto::Moto, bucket: &str) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            endpoint: Some(format!("http://127.0.0.1:{}", m.port)),
            region: "us-east-1".into(),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            prefix: "reg".into(),
        }
    }

    #[tokio::test]
    async fn passes_the_storage_conformance_suite_against_moto() {
        let Some(moto) = moto::Moto::start("conformance") else {
            return;
        };
        let s = S3Storage::new(&config(&moto, "conformance")).unwrap();
        super::super::conformance::run(&s).await;
        super::super::conformance::concurrent_pushes(Arc::new(s)).await;
    }

    #[tokio::test]
    async fn large_bodies_stream_as_multipart_uploads() {
        let Some(moto) = moto::Moto::start("large") else {
            return;
        };
        let s = S3Storage::new(&config(&moto, "large")).unwrap();
        let data: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let d = Digest::of(crate::digest::Algorithm::Sha256, &data);
        let parts: Vec<std::io::Result<Bytes>> = data
            .chunks(1 << 20)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let id = s.upload_start("big").await.unwrap();
        let n = s
            .upload_append(&id, Box::pin(futures_util::stream::iter(parts)))
            .await
            .unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(s.upload_finish(&id, &d).await.unwrap(), n);
        assert_eq!(s.blob_stat(&d).await.unwrap(), Some(n));
        let mut r = s
            .blob_get(&d, Some(7_000_000..7_000_010))
            .await
            .unwrap()
            .unwrap();
        let mut got = Vec::new();
        while let Some(c) = r.stream.next().await {
            got.extend_from_slice(&c.unwrap());
        }
        assert_eq!(got, &data[7_000_000..7_000_010]);
    }
}
