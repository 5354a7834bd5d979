use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use berth_fshints::FrontToBack;
use sha2::{Digest as _, Sha256};

use crate::{Digest, Result, StoreError};

/// Blobs addressed by digest under `<root>/blobs/sha256/<hex>`; writes in progress
/// live in `<root>/ingest/` and are never trusted.
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

static INGEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// Name prefix of resumable ingest files (see [`ContentStore::resumable_writer`]).
const PARTIAL: &str = "partial-";

/// Feeds bytes to a hasher through `io::copy`.
struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ContentStore {
    /// Opens (creating) the store and clears writes a crash left in the ingest dir.
    pub fn open(root: &Path) -> Result<ContentStore> {
        let blobs = root.join("blobs/sha256");
        let ingest = root.join("ingest");
        fs::create_dir_all(&blobs).map_err(StoreError::io(&blobs))?;
        fs::create_dir_all(&ingest).map_err(StoreError::io(&ingest))?;
        // Interrupted downloads (`partial-*`) are kept so the next pull resumes them.
        for e in fs::read_dir(&ingest).map_err(StoreError::io(&ingest))? {
            let e = e.map_err(StoreError::io(&ingest))?;
            if !e.file_name().to_string_lossy().starts_with(PARTIAL) {
                let p = e.path();
                let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
                r.map_err(StoreError::io(&p))?;
            }
        }
        Ok(ContentStore { blobs, ingest })
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    pub fn exists(&self, digest: &Digest) -> bool {
        self.path(digest).exists()
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        File::open(self.path(digest)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound(digest.clone()),
            _ => StoreError::Io {
                path: self.path(digest),
                source: e,
            },
        })
    }

    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        fs::read(self.path(digest)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound(digest.clone()),
            _ => StoreError::Io {
                path: self.path(digest),
                source: e,
            },
        })
    }

    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let p = self.path(digest);
        fs::metadata(&p).map(|m| m.len()).map_err(StoreError::io(p))
    }

    /// Writes a small blob in one go and commits it.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest> {
        let mut w = self.writer()?;
        w.write_all(bytes).map_err(StoreError::io(&w.tmp))?;
        w.finish()?.commit()
    }

    /// Starts a new blob; nothing is visible until [`PendingBlob::commit`].
    pub fn writer(&self) -> Result<BlobWriter> {
        let n = INGEST_SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = self.ingest.join(format!("{}-{n}", std::process::id()));
        let file = File::create(&tmp).map_err(StoreError::io(&tmp))?;
        Ok(BlobWriter {
            file: BufWriter::with_capacity(256 * 1024, file),
            tmp,
            hasher: Some(Sha256::new()),
            size: 0,
            hints: FrontToBack::new(0, 0),
            blobs: self.blobs.clone(),
            keep: false,
        })
    }

    /// A writer for a blob whose digest is known before its bytes arrive (a
    /// download): bytes written by an earlier, interrupted writer for the same
    /// digest are kept and re-hashed, so the caller continues at
    /// [`BlobWriter::size`]. Such a writer leaves its file behind when dropped
    /// unfinished. `None` while another writer holds the same digest.
    pub fn resumable_writer(&self, expected: &Digest) -> Result<Option<BlobWriter>> {
        let tmp = self.ingest.join(format!("{PARTIAL}{}", expected.hex()));
        let mut file = fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&tmp)
            .map_err(StoreError::io(&tmp))?;
        // The lock lives as long as the file handle (the writer).
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
            Err(e) => {
                return Err(StoreError::Io {
                    path: tmp,
                    source: e.into(),
                })
            }
        }
        let mut hasher = Sha256::new();
        let size =
            io::copy(&mut file, &mut HashWriter(&mut hasher)).map_err(StoreError::io(&tmp))?;
        Ok(Some(BlobWriter {
            file: BufWriter::with_capacity(256 * 1024, file),
            tmp,
            hasher: Some(hasher),
            size,
            hints: FrontToBack::new(size, 0),
            blobs: self.blobs.clone(),
            keep: true,
        }))
    }

    pub fn delete(&self, digest: &Digest) -> Result<()> {
        let p = self.path(digest);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(StoreError::Io { path: p, source: e })
            }
            _ => Ok(()),
        }
    }

    /// Every committed blob.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let rd = fs::read_dir(&self.blobs).map_err(StoreError::io(&self.blobs))?;
        Ok(rd
            .filter_map(|e| e.ok())
            .filter_map(|e| Digest::from_hex(&e.file_name().to_string_lossy()).ok())
            .collect())
    }

    /// Makes everything written so far durable (one `syncfs` for the whole
    /// filesystem): called before metadata starts to reference new blobs.
    pub fn sync(&self) -> Result<()> {
        let dir = File::open(&self.blobs).map_err(StoreError::io(&self.blobs))?;
        rustix::fs::syncfs(&dir).map_err(|e| StoreError::Io {
            path: self.blobs.clone(),
            source: e.into(),
        })
    }
}

/// A blob being written: hashed as the bytes go by.
pub struct BlobWriter {
    file: BufWriter<File>,
    tmp: PathBuf,
    /// `None` once the caller took over hashing (see [`BlobWriter::skip_hashing`]).
    hasher: Option<Sha256>,
    size: u64,
    /// Space reserved ahead, writeback started behind.
    hints: FrontToBack,
    blobs: PathBuf,
    /// Left on disk when dropped unfinished (a resumable download).
    keep: bool,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.reserve(buf.len());
        let n = self.file.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.size += n as u64;
        self.start_writeback()?;
        Ok(n)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.reserve(buf.len());
        self.file.write_all(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(buf);
        }
        self.size += buf.len() as u64;
        self.start_writeback()
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// Bytes written so far (for a resumed writer, including the earlier ones).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Throws away what was written and starts over (a server that ignored a
    /// range request sends the blob from its first byte).
    pub fn restart(&mut self) -> Result<()> {
        self.file.flush().map_err(StoreError::io(&self.tmp))?;
        self.file
            .get_ref()
            .set_len(0)
            .map_err(StoreError::io(&self.tmp))?;
        if let Some(h) = &mut self.hasher {
            *h = Sha256::new();
        }
        self.size = 0;
        self.hints.emptied();
        Ok(())
    }

    /// The blob's size as the manifest gives it: its disk space is then
    /// reserved ahead of the writes (see [`FrontToBack`]).
    pub fn expect(&mut self, total: u64) {
        self.hints = FrontToBack::new(self.size, total);
    }

    fn reserve(&mut self, len: usize) {
        let end = self.size + len as u64;
        self.hints.reserve(self.file.get_ref().as_fd(), end);
    }

    /// Starts the disk's writeback every few MiB, so the sync that makes the
    /// blob durable finds little left to do.
    fn start_writeback(&mut self) -> io::Result<()> {
        if self.hints.writeback_due(self.size) {
            self.file.flush()?;
            self.hints.wrote(self.file.get_ref().as_fd(), self.size);
        }
        Ok(())
    }

    /// Stops hashing here because another reader of exactly the same bytes
    /// hashes them already (an uncompressed layer: its diff id is its digest);
    /// the caller then names the digest with [`BlobWriter::finish_as`].
    pub fn skip_hashing(&mut self) {
        debug_assert_eq!(self.size, 0, "skip_hashing after bytes were written");
        self.hasher = None;
    }

    /// Ends the write; the blob is still invisible (see [`PendingBlob`]). If
    /// hashing was skipped, the bytes are read back and hashed now.
    pub fn finish(mut self) -> Result<PendingBlob> {
        self.file.flush().map_err(StoreError::io(&self.tmp))?;
        let digest = match self.hasher.take() {
            Some(h) => Digest::from_hasher(h),
            None => {
                let mut h = Sha256::new();
                let mut f = File::open(&self.tmp).map_err(StoreError::io(&self.tmp))?;
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    match io::Read::read(&mut f, &mut buf).map_err(StoreError::io(&self.tmp))? {
                        0 => break,
                        n => h.update(&buf[..n]),
                    }
                }
                Digest::from_hasher(h)
            }
        };
        Ok(self.into_pending(digest))
    }

    /// Ends a write whose digest the caller computed over exactly these bytes
    /// (after [`BlobWriter::skip_hashing`]); with hashing on, it is checked.
    pub fn finish_as(mut self, digest: Digest) -> Result<PendingBlob> {
        self.file.flush().map_err(StoreError::io(&self.tmp))?;
        if let Some(h) = self.hasher.take() {
            let actual = Digest::from_hasher(h);
            if actual != digest {
                return Err(StoreError::DigestMismatch {
                    expected: digest,
                    actual,
                });
            }
        }
        Ok(self.into_pending(digest))
    }

    fn into_pending(mut self, digest: Digest) -> PendingBlob {
        PendingBlob {
            digest,
            size: self.size,
            tmp: std::mem::take(&mut self.tmp),
            blobs: std::mem::take(&mut self.blobs),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.keep {
            let _ = self.file.flush();
        } else if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A fully written, hashed blob that is not yet visible; dropped uncommitted, it is removed.
pub struct PendingBlob {
    digest: Digest,
    size: u64,
    tmp: PathBuf,
    blobs: PathBuf,
}

impl PendingBlob {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Where the bytes can be read before commit.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    pub fn verify(&self, expected: &Digest) -> Result<()> {
        if &self.digest != expected {
            return Err(StoreError::DigestMismatch {
                expected: expected.clone(),
                actual: self.digest.clone(),
            });
        }
        Ok(())
    }

    /// Makes the blob visible under its digest (a no-op if it already was).
    pub fn commit(mut self) -> Result<Digest> {
        let dst = self.blobs.join(self.digest.hex());
        let tmp = std::mem::take(&mut self.tmp);
        if dst.exists() {
            let _ = fs::remove_file(&tmp);
        } else {
            fs::rename(&tmp, &dst).map_err(StoreError::io(&dst))?;
        }
        Ok(self.digest.clone())
    }
}

impl Drop for PendingBlob {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_commit_read() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let d = cs.put(b"hello").unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(cs.read(&d).unwrap(), b"hello");
        assert_eq!(cs.list().unwrap(), vec![d.clone()]);
        // the ingest dir is empty after commit
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
        cs.delete(&d).unwrap();
        assert!(matches!(cs.read(&d), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn uncommitted_blob_is_never_visible() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let mut w = cs.writer().unwrap();
        w.write_all(b"partial").unwrap();
        let pending = w.finish().unwrap();
        assert!(pending.verify(&Digest::of(b"other")).is_err());
        assert!(!cs.exists(pending.digest()));
        drop(pending);
        assert!(cs.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }

    #[test]
    fn skipped_hashing_is_named_checked_or_done_later() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let mut w = cs.writer().unwrap();
        w.skip_hashing();
        w.write_all(b"layer").unwrap();
        assert_eq!(w.finish().unwrap().digest(), &Digest::of(b"layer"));
        let mut w = cs.writer().unwrap();
        w.skip_hashing();
        w.write_all(b"layer").unwrap();
        assert_eq!(
            w.finish_as(Digest::of(b"layer")).unwrap().digest(),
            &Digest::of(b"layer")
        );
        // with hashing on, a wrong name is refused
        let mut w = cs.writer().unwrap();
        w.write_all(b"layer").unwrap();
        assert!(matches!(
            w.finish_as(Digest::of(b"other")),
            Err(StoreError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn resumable_writer_continues_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let want = Digest::of(b"hello world");
        let mut w = cs.resumable_writer(&want).unwrap().unwrap();
        // a second writer for the same digest is refused while the first is open
        assert!(cs.resumable_writer(&want).unwrap().is_none());
        w.write_all(b"hello ").unwrap();
        drop(w);
        // the partial file survives a restart of the store
        let cs = ContentStore::open(dir.path()).unwrap();
        let mut w = cs.resumable_writer(&want).unwrap().unwrap();
        assert_eq!(w.size(), 6);
        w.write_all(b"world").unwrap();
        let p = w.finish().unwrap();
        p.verify(&want).unwrap();
        assert_eq!(p.commit().unwrap(), want);
        assert_eq!(cs.read(&want).unwrap(), b"hello world");
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
        // restart() forgets what was there
        let other = Digest::of(b"abc");
        let mut w = cs.resumable_writer(&other).unwrap().unwrap();
        // with space reserved for more than arrives
        w.expect(64 << 20);
        w.write_all(b"xyz").unwrap();
        w.restart().unwrap();
        w.write_all(b"abc").unwrap();
        let p = w.finish().unwrap();
        assert_eq!(p.digest(), &other);
        assert_eq!(p.commit().unwrap(), other);
        assert_eq!(cs.read(&other).unwrap(), b"abc");
    }

    #[test]
    fn crash_leftovers_in_ingest_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("ingest")).unwrap();
        fs::write(dir.path().join("ingest/junk"), b"x").unwrap();
        ContentStore::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }
}
