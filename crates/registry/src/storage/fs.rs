//! The local filesystem backend.
//!
//! ```text
//! <root>/blobs/<alg>/<hex[..2]>/<hex>   verified blobs, shared by every repository
//! <root>/uploads/<id>/{data,repo}       upload sessions
//! <root>/tmp/                           blobs being received (renamed into blobs/ once verified)
//! <root>/meta/<key>                     tags, manifest revisions, layer links, referrers
//! ```
//! Every file becomes visible by a rename after an fsync, so a crash leaves either the
//! old or the new state; leftovers in tmp/ and uploads/ are removed by `berth registry gc`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use berth_fshints::FrontToBack;
use bytes::Bytes;
use futures_util::StreamExt;

use super::{
    new_upload_id, valid_upload_id, BlobEntry, BlobRead, ByteStream, MetaEntry, Storage, UploadInfo,
};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{RegistryError, Result};

const READ_CHUNK: usize = 256 * 1024;
/// Bytes per piece of a blob sent out.
const SEND_CHUNK: usize = 1 << 20;

/// Blobs and records under one directory.
pub struct FsStorage {
    root: PathBuf,
    // Hash state of upload sessions, so finishing one does not read it back; absent (e.g.
    // after a restart) means the data file is hashed at the end.
    hashers: Mutex<HashMap<String, (Hasher, u64)>>,
}

impl FsStorage {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: &Path) -> Result<FsStorage> {
        for sub in ["blobs", "uploads", "tmp", "meta"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(RegistryError::io(&p))?;
        }
        Ok(FsStorage {
            root: root.to_path_buf(),
            hashers: Mutex::new(HashMap::new()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().name())
            .join(&d.hex()[..2])
            .join(d.hex())
    }

    fn upload_dir(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    fn meta_path(&self, key: &str) -> PathBuf {
        self.root.join("meta").join(key)
    }

    fn tmp_path(&self) -> PathBuf {
        self.root.join("tmp").join(new_upload_id())
    }

    fn take_hasher(&self, id: &str) -> Option<(Hasher, u64)> {
        self.hashers.lock().ok()?.remove(id)
    }

    fn put_hasher(&self, id: &str, h: (Hasher, u64)) {
        if let Ok(mut m) = self.hashers.lock() {
            m.insert(id.to_string(), h);
        }
    }

    /// Moves a verified, synced file into its place in blobs/.
    async fn publish(&self, from: PathBuf, digest: &Digest) -> Result<()> {
        let to = self.blob_path(digest);
        blocking(move || {
            let dir = to.parent().unwrap_or(Path::new("/"));
            std::fs::create_dir_all(dir).map_err(RegistryError::io(dir))?;
            // Renaming over an existing copy is fine: same digest, same bytes; so two
            // concurrent pushes of one blob both succeed.
            std::fs::rename(&from, &to).map_err(RegistryError::io(&to))?;
            sync_dir(dir)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RegistryError::Io {
            path: PathBuf::from("<blocking task>"),
            source: io::Error::other(e.to_string()),
        })?
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(RegistryError::io(dir))
}

fn not_found<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Body pieces queued between the task receiving an upload and the thread writing it.
const BODY_QUEUE: usize = 16;

/// Writes `body` to `file` and syncs it, hashing it when asked; returns the
/// number of bytes and the hasher. The hashing and writing run on a thread of
/// the blocking pool while this task goes on receiving: done on the receiving
/// task, they had kept it from reading the socket, so the two took turns.
async fn write_body(
    file: std::fs::File,
    path: &Path,
    mut body: ByteStream,
    hasher: Option<Hasher>,
) -> Result<(u64, Option<Hasher>)> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(BODY_QUEUE);
    let p = path.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || {
        let (mut file, mut hasher) = (file, hasher);
        // Writeback is started every few MiB, so that the fsync ending an upload
        // waits for the tail of a large blob, not for all of it (a 100 MB push had
        // spent a third of its time in that fsync, both cores idle). A chunked
        // upload appends: offsets count from the file's end.
        let base = file.metadata().map_err(RegistryError::io(&p))?.len();
        let mut hints = FrontToBack::new(base, 0);
        let mut n = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            if let Some(h) = &mut hasher {
                h.update(&chunk);
            }
            file.write_all(&chunk).map_err(RegistryError::io(&p))?;
            n += chunk.len() as u64;
            hints.wrote(file.as_fd(), base + n);
        }
        file.sync_all().map_err(RegistryError::io(&p))?;
        Ok::<_, RegistryError>((n, hasher))
    });
    let mut received = Ok(());
    while let Some(chunk) = body.next().await {
        match chunk {
            // A closed queue means the writer failed: its error comes from the join.
            Ok(c) => {
                if tx.send(c).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                received = Err(RegistryError::Body(e));
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await.map_err(|e| RegistryError::Io {
        path: path.to_path_buf(),
        source: io::Error::other(e.to_string()),
    })?;
    received?;
    written
}

fn hash_file(path: &Path, algorithm: Algorithm) -> Result<Digest> {
    let mut f = std::fs::File::open(path).map_err(RegistryError::io(path))?;
    let mut h = algorithm.hasher();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = f.read(&mut buf).map_err(RegistryError::io(path))?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, std::fs::Metadata)>) -> io::Result<()> {
    let entries = match not_found(std::fs::read_dir(dir))? {
        Some(e) => e,
        None => return Ok(()),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") {
            continue;
        }
        let Some(meta) = not_found(entry.metadata())? else {
            continue;
        };
        let key = format!("{rel}{name}");
        if meta.is_dir() {
            walk(&entry.path(), &format!("{key}/"), out)?;
        } else {
            out.push((key, meta));
        }
    }
    Ok(())
}

#[async_trait]
impl Storage for FsStorage {
    fn cacheable(&self) -> bool {
        true
    }

    async fn blob_stat(&self, digest: &Digest) -> Result<Option<u64>> {
        let p = self.blob_path(digest);
        Ok(not_found(tokio::fs::metadata(&p).await)
            .map_err(RegistryError::io(&p))?
            .map(|m| m.len()))
    }

    async fn blob_get(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> Result<Option<BlobRead>> {
        let p = self.blob_path(digest);
        let Some(f) = not_found(std::fs::File::open(&p)).map_err(RegistryError::io(&p))? else {
            return Ok(None);
        };
        let size = f.metadata().map_err(RegistryError::io(&p))?.len();
        let range = range.unwrap_or(0..size);
        if range.start > 0 {
            use std::io::Seek;
            (&f).seek(io::SeekFrom::Start(range.start))
                .map_err(RegistryError::io(&p))?;
        }
        // Each piece is read on the blocking pool straight into the buffer
        // that goes out (no second copy, as a tokio File would make), and
        // into its uninitialised capacity (no zeroing first).
        let stream = futures_util::stream::unfold(
            (Some(std::sync::Arc::new(f)), range.start),
            move |(f, pos)| async move {
                let f = f?;
                if pos >= range.end {
                    return None;
                }
                let want = (range.end - pos).min(SEND_CHUNK as u64) as usize;
                let file = f.clone();
                let read = tokio::task::spawn_blocking(move || {
                    let mut buf = Vec::with_capacity(want);
                    io::Read::take(&*file, want as u64).read_to_end(&mut buf)?;
                    Ok::<_, io::Error>(Bytes::from(buf))
                })
                .await
                .unwrap_or_else(|e| Err(io::Error::other(e)));
                match read {
                    Ok(b) if b.is_empty() => Some((
                        Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "blob file shorter than its size",
                        )),
                        (None, pos),
                    )),
                    Ok(b) => {
                        let next = pos + b.len() as u64;
                        Some((Ok(b), (Some(f), next)))
                    }
                    Err(e) => Some((Err(e), (None, pos))),
                }
            },
        );
        Ok(Some(BlobRead {
            size,
            stream: Box::pin(stream),
        }))
    }

    async fn blob_put(&self, digest: &Digest, body: ByteStream) -> Result<u64> {
        let tmp = self.tmp_path();
        let f = tokio::fs::File::create(&tmp)
            .await
            .map_err(RegistryError::io(&tmp))?
            .into_std()
            .await;
        let h = digest.algorithm().hasher();
        let written = write_body(f, &tmp, body, Some(h)).await;
        let outcome = written.and_then(|(n, h)| {
            let actual = h.expect("the hasher given comes back").finish();
            if &actual == digest {
                Ok(n)
            } else {
                Err(RegistryError::DigestMismatch {
                    expected: digest.to_string(),
                    actual: actual.to_string(),
                })
            }
        });
        match outcome {
            Ok(n) => {
                self.publish(tmp, digest).await?;
                Ok(n)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    async fn blob_delete(&self, digest: &Digest) -> Result<bool> {
        let p = self.blob_path(digest);
        Ok(not_found(tokio::fs::remove_file(&p).await)
            .map_err(RegistryError::io(&p))?
            .is_some())
    }

    async fn blob_list(&self) -> Result<Vec<BlobEntry>> {
        let dir = self.root.join("blobs");
        blocking(move || {
            let mut files = Vec::new();
            walk(&dir, "", &mut files).map_err(RegistryError::io(&dir))?;
            Ok(files
                .into_iter()
                .filter_map(|(key, meta)| {
                    let mut parts = key.split('/');
                    let alg = parts.next()?;
                    let _fanout = parts.next()?;
                    let digest = Digest::from_parts(alg, parts.next()?).ok()?;
                    Some(BlobEntry {
                        digest,
                        size: meta.len(),
                        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    })
                })
                .collect())
        })
        .await
    }

    async fn upload_start(&self, repo: &str) -> Result<String> {
        let id = new_upload_id();
        let dir = self.upload_dir(&id);
        let repo = repo.to_string();
        let d = dir.clone();
        blocking(move || {
            std::fs::create_dir(&d).map_err(RegistryError::io(&d))?;
            let data = d.join("data");
            std::fs::File::create(&data).map_err(RegistryError::io(&data))?;
            let r = d.join("repo");
            std::fs::write(&r, repo).map_err(RegistryError::io(&r))
        })
        .await?;
        self.put_hasher(&id, (Algorithm::Sha256.hasher(), 0));
        Ok(id)
    }

    async fn upload_info(&self, id: &str) -> Result<Option<UploadInfo>> {
        if !valid_upload_id(id) {
            return Ok(None);
        }
        let dir = self.upload_dir(id);
        blocking(move || {
            let r = dir.join("repo");
            let Some(repo) =
                not_found(std::fs::read_to_string(&r)).map_err(RegistryError::io(&r))?
            else {
                return Ok(None);
            };
            let started = std::fs::metadata(&r)
                .and_then(|m| m.modified())
                .map_err(RegistryError::io(&r))?;
            let data = dir.join("data");
            let size = std::fs::metadata(&data)
                .map_err(RegistryError::io(&data))?
                .len();
            Ok(Some(UploadInfo {
                repo,
                size,
                started,
            }))
        })
        .await
    }

    async fn upload_append(&self, id: &str, body: ByteStream) -> Result<u64> {
        if !valid_upload_id(id) {
            return Err(RegistryError::UploadUnknown(id.to_string()));
        }
        let data = self.upload_dir(id).join("data");
        let f = match tokio::fs::OpenOptions::new().append(true).open(&data).await {
            Ok(f) => f.into_std().await,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(RegistryError::UploadUnknown(id.to_string()))
            }
            Err(e) => return Err(RegistryError::io(&data)(e)),
        };
        let before = f.metadata().map_err(RegistryError::io(&data))?.len();
        let state = self.take_hasher(id).filter(|(_, n)| *n == before);
        let (n, hasher) = write_body(f, &data, body, state.map(|(h, _)| h)).await?;
        let after = before + n;
        if let Some(h) = hasher {
            self.put_hasher(id, (h, after));
        }
        Ok(after)
    }

    async fn upload_finish(&self, id: &str, digest: &Digest) -> Result<u64> {
        if !valid_upload_id(id) {
            return Err(RegistryError::UploadUnknown(id.to_string()));
        }
        let dir = self.upload_dir(id);
        let data = dir.join("data");
        let size = match tokio::fs::metadata(&data).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(RegistryError::UploadUnknown(id.to_string()))
            }
            Err(e) => return Err(RegistryError::io(&data)(e)),
        };
        let state = self
            .take_hasher(id)
            .filter(|(h, n)| *n == size && h.algorithm() == digest.algorithm());
        let actual = match state {
            Some((h, _)) => h.finish(),
            None => {
                let (p, alg) = (data.clone(), digest.algorithm());
                blocking(move || hash_file(&p, alg)).await?
            }
        };
        if &actual != digest {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(RegistryError::DigestMismatch {
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        // The data was synced by every append; publishing is a rename.
        self.publish(data, digest).await?;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        Ok(size)
    }

    async fn upload_cancel(&self, id: &str) -> Result<bool> {
        if !valid_upload_id(id) {
            return Ok(false);
        }
        self.take_hasher(id);
        let dir = self.upload_dir(id);
        Ok(not_found(tokio::fs::remove_dir_all(&dir).await)
            .map_err(RegistryError::io(&dir))?
            .is_some())
    }

    async fn upload_list(&self) -> Result<Vec<(String, UploadInfo)>> {
        let dir = self.root.join("uploads");
        let ids: Vec<String> = blocking(move || {
            let rd = std::fs::read_dir(&dir).map_err(RegistryError::io(&dir))?;
            Ok(rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| valid_upload_id(n))
                .collect())
        })
        .await?;
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
        Ok(not_found(tokio::fs::read(&p).await)
            .map_err(RegistryError::io(&p))?
            .map(Bytes::from))
    }

    async fn meta_put(&self, key: &str, value: Bytes) -> Result<()> {
        let p = self.meta_path(key);
        blocking(move || {
            let dir = p.parent().unwrap_or(Path::new("/"));
            std::fs::create_dir_all(dir).map_err(RegistryError::io(dir))?;
            let tmp = dir.join(format!(".tmp-{}", new_upload_id()));
            let write = || -> io::Result<()> {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&value)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &p)
            };
            if let Err(e) = write() {
                let _ = std::fs::remove_file(&tmp);
                return Err(RegistryError::io(&p)(e));
            }
            sync_dir(dir)
        })
        .await
    }

    async fn meta_delete(&self, key: &str) -> Result<bool> {
        let p = self.meta_path(key);
        Ok(not_found(tokio::fs::remove_file(&p).await)
            .map_err(RegistryError::io(&p))?
            .is_some())
    }

    async fn meta_list(&self, prefix: &str) -> Result<Vec<MetaEntry>> {
        let dir = self.meta_path(prefix);
        let prefix = prefix.to_string();
        blocking(move || {
            let mut files = Vec::new();
            walk(&dir, &prefix, &mut files).map_err(RegistryError::io(&dir))?;
            Ok(files
                .into_iter()
                .map(|(key, m)| MetaEntry {
                    key,
                    modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                })
                .collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_storage_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::open(dir.path()).unwrap();
        super::super::conformance::run(&s).await;
        super::super::conformance::concurrent_pushes(std::sync::Arc::new(s)).await;
    }

    #[tokio::test]
    async fn blobs_are_deduplicated_and_tmp_is_left_clean() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::open(dir.path()).unwrap();
        let d = Digest::of(Algorithm::Sha256, b"abc");
        let body = || -> ByteStream {
            Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(b"abc"))]))
        };
        s.blob_put(&d, body()).await.unwrap();
        s.blob_put(&d, body()).await.unwrap();
        let p = dir
            .path()
            .join("blobs/sha256")
            .join(&d.hex()[..2])
            .join(d.hex());
        assert_eq!(std::fs::read(p).unwrap(), b"abc");
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }
}
