//! Hashing stream wrappers: the diff id is computed on the fly, never by
//! buffering a layer.

use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use sha2::{Digest, Sha256};

/// Formats a finished SHA-256 as an OCI digest string.
fn digest_string(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Bytes a [`HashReader`] hashes on the reading thread before it hands the
/// hashing to a thread of its own: small layers are not worth a thread, and a
/// large one unpacks about a third faster with its SHA-256 beside it.
const INLINE_LIMIT: u64 = 4 << 20;
/// Size of the chunks a [`HashReader`] reads into (and the hashing thread sees).
const CHUNK: usize = 256 * 1024;
/// Chunks queued for the hashing thread before the reader waits for it.
const QUEUE: usize = 8;

/// A buffered reader that hashes every byte it hands out, on a thread of its
/// own once the stream is past [`INLINE_LIMIT`]. Each chunk is read once into a
/// shared buffer that the caller and the hashing thread both read.
pub(crate) struct HashReader<R> {
    inner: R,
    hash: Hashing,
    chunk: Arc<Vec<u8>>,
    pos: usize,
    len: usize,
    /// Chunks handed to the hashing thread, reused once it has let go of them.
    spare: Vec<Arc<Vec<u8>>>,
    total: u64,
}

enum Hashing {
    Inline(Sha256),
    Thread {
        tx: SyncSender<(Arc<Vec<u8>>, usize)>,
        done: JoinHandle<Sha256>,
    },
}

impl<R: Read> HashReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashReader {
            inner,
            hash: Hashing::Inline(Sha256::new()),
            chunk: Arc::new(vec![0; CHUNK]),
            pos: 0,
            len: 0,
            spare: Vec::new(),
            total: 0,
        }
    }

    /// `sha256:<hex>` of everything read so far.
    pub(crate) fn digest(self) -> io::Result<String> {
        let hasher = match self.hash {
            Hashing::Inline(h) => h,
            Hashing::Thread { tx, done } => {
                drop(tx);
                done.join()
                    .map_err(|_| io::Error::other("the hashing thread panicked"))?
            }
        };
        Ok(digest_string(hasher))
    }

    /// A chunk nobody else holds: a spare one the hashing thread is done
    /// with, or a new one.
    fn free_chunk(&mut self) -> Arc<Vec<u8>> {
        match self.spare.iter().position(|c| Arc::strong_count(c) == 1) {
            Some(i) => self.spare.swap_remove(i),
            None => Arc::new(vec![0; CHUNK]),
        }
    }

    /// Hashes `chunk[..n]`, moving the hashing to its thread once the stream
    /// is long enough.
    fn hash(&mut self, n: usize) {
        self.total += n as u64;
        let h = match &mut self.hash {
            Hashing::Thread { tx, .. } => {
                // A send fails only if the thread died; digest() reports that.
                let _ = tx.send((self.chunk.clone(), n));
                return;
            }
            Hashing::Inline(h) => h,
        };
        h.update(&self.chunk[..n]);
        if self.total <= INLINE_LIMIT {
            return;
        }
        let mut moved = h.clone();
        let (tx, rx) = sync_channel::<(Arc<Vec<u8>>, usize)>(QUEUE);
        let spawned = thread::Builder::new()
            .name("berth-hash".into())
            .spawn(move || {
                for (c, n) in rx {
                    moved.update(&c[..n]);
                }
                moved
            });
        match spawned {
            Ok(done) => self.hash = Hashing::Thread { tx, done },
            // No thread to be had: go on hashing here.
            Err(e) => tracing::debug!(error = %e, "hashing on the reading thread"),
        }
    }
}

impl<R: Read> BufRead for HashReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.len {
            if Arc::get_mut(&mut self.chunk).is_none() {
                // The hashing thread still reads the last chunk.
                let fresh = self.free_chunk();
                let old = std::mem::replace(&mut self.chunk, fresh);
                if self.spare.len() <= QUEUE {
                    self.spare.push(old);
                }
            }
            let buf = Arc::get_mut(&mut self.chunk).expect("a free chunk has no other holder");
            let n = loop {
                match self.inner.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    r => break r?,
                }
            };
            self.pos = 0;
            self.len = n;
            if n > 0 {
                self.hash(n);
            }
        }
        Ok(&self.chunk[self.pos..self.len])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.len);
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        crate::read_from_buffer(self, out)
    }
}

/// A writer that hashes every byte its inner writer accepted.
pub(crate) struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// Flushes the inner writer and returns `sha256:<hex>` of all bytes written.
    pub(crate) fn finish(mut self) -> io::Result<String> {
        self.inner.flush()?;
        Ok(digest_string(self.hasher))
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ABC: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn reader_hashes_what_it_reads() {
        let mut r = HashReader::new(&b"abc"[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
        assert_eq!(r.digest().unwrap(), ABC);
        assert_eq!(HashReader::new(&b""[..]).digest().unwrap(), EMPTY);
    }

    #[test]
    fn a_long_stream_is_hashed_on_a_thread_to_the_same_digest() {
        // Past INLINE_LIMIT, in reads of odd sizes that straddle the chunks.
        let data: Vec<u8> = (0..(INLINE_LIMIT as usize * 3 + 12345))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let mut r = HashReader::new(&data[..]);
        let mut out = Vec::new();
        let mut buf = vec![0; 100_003];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert!(matches!(r.hash, Hashing::Thread { .. }));
        assert_eq!(out, data);
        assert_eq!(
            r.digest().unwrap(),
            digest_string(Sha256::new_with_prefix(&data))
        );
    }

    #[test]
    fn writer_hashes_what_it_writes() {
        let mut out = Vec::new();
        let mut w = HashWriter::new(&mut out);
        w.write_all(b"a").unwrap();
        w.write_all(b"bc").unwrap();
        assert_eq!(w.finish().unwrap(), ABC);
        assert_eq!(out, b"abc");
    }
}
