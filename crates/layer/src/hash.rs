//! Hashing stream wrappers: the diff id is computed on the fly, never by
//! buffering a layer.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// Formats a finished SHA-256 as an OCI digest string.
fn digest_string(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// A reader that hashes every byte it hands out.
pub(crate) struct HashReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// `sha256:<hex>` of everything read so far.
    pub(crate) fn digest(self) -> String {
        digest_string(self.hasher)
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
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
        assert_eq!(r.digest(), ABC);
        assert_eq!(HashReader::new(&b""[..]).digest(), EMPTY);
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
