//! berth-layer: image layer tarballs <-> directories.
//!
//! [`apply`] unpacks an OCI/Docker layer (plain, gzip or zstd tar) into a
//! directory that later becomes an overlayfs lowerdir: OCI whiteouts become
//! overlay whiteouts (0:0 character devices, `trusted.overlay.opaque=y`).
//! [`write_tar`] does the reverse for a directory (typically a container's
//! upperdir), turning overlay whiteouts back into OCI `.wh.` files.
//!
//! Invariant: nothing described by a tar is ever created outside the target
//! directory. Parent directories are resolved by the kernel with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` (Linux 5.6+) and every
//! final component is created or replaced without following symlinks.
//!
//! The crate is synchronous and knows nothing of HTTP, the store or the
//! daemon; callers run it on a blocking thread.

mod apply;
mod fsutil;
mod gzip;
mod hash;
mod path;
mod pax;
mod write;

#[cfg(test)]
mod testutil;

use std::io::{self, BufRead, BufReader, Read};
use std::sync::mpsc::Receiver;

pub use apply::apply;
pub use gzip::{gzip, Gzipped};
pub use write::write_tar;

/// Size of the buffers used for stream and file copies.
pub(crate) const BUF_SIZE: usize = 256 * 1024;

/// Compression of a layer blob (the image crate owns the knowledge of formats).
pub use berth_image::manifest::Compression;

/// Sniffs the first bytes of `r` (without losing them) and returns the
/// detected compression with a reader of the decompressed stream. The
/// decompressor reads `r`'s own buffer, so a reader that already holds its
/// bytes in memory (a [`ChannelReader`]) is not copied once more.
///
/// Concatenated gzip members and zstd frames are decoded as one stream.
pub fn decompress<'a, R: BufRead + 'a>(mut r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let first = loop {
        match r.fill_buf() {
            Ok(b) => break b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    if first.is_empty() || first.len() >= 4 {
        let kind = Compression::detect(first);
        return Ok((kind, decoder(kind, r)?));
    }
    // A first piece shorter than the longest magic number: gather it by hand
    // and put it back in front of the rest.
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let kind = Compression::detect(&head[..n]);
    let whole = io::Cursor::new(head[..n].to_vec()).chain(r);
    Ok((
        kind,
        decoder(kind, BufReader::with_capacity(BUF_SIZE, whole))?,
    ))
}

fn decoder<'a, R: BufRead + 'a>(kind: Compression, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match kind {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
    })
}

/// Reads the pieces a channel delivers, in order, until every sender is gone:
/// the feed of an unpack that runs beside a download or a load.
pub struct ChannelReader<T> {
    rx: Receiver<T>,
    cur: T,
    pos: usize,
}

impl<T: AsRef<[u8]> + Default> ChannelReader<T> {
    pub fn new(rx: Receiver<T>) -> Self {
        ChannelReader {
            rx,
            cur: T::default(),
            pos: 0,
        }
    }
}

impl<T: AsRef<[u8]> + Default> BufRead for ChannelReader<T> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.cur.as_ref().len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.cur = c;
                    self.pos = 0;
                }
                Err(_) => return Ok(&[]),
            }
        }
        Ok(&self.cur.as_ref()[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.cur.as_ref().len());
    }
}

impl<T: AsRef<[u8]> + Default> Read for ChannelReader<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_from_buffer(self, buf)
    }
}

/// `Read::read` of a reader that is its own buffer: copies out what it holds.
pub(crate) fn read_from_buffer(r: &mut impl BufRead, out: &mut [u8]) -> io::Result<usize> {
    let avail = r.fill_buf()?;
    let n = out.len().min(avail.len());
    out[..n].copy_from_slice(&avail[..n]);
    r.consume(n);
    Ok(n)
}

/// Figures of an applied or written layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// `sha256:<hex>` of the uncompressed tar stream, including any bytes
    /// after the end-of-archive marker (the stream is read to EOF).
    pub diff_id: String,
    /// Sum of the sizes of the regular files written plus the lengths of the
    /// symlinks' targets, as docker measures a layer (lstat sizes of everything
    /// but directories); hard links are not counted twice.
    pub size: u64,
}

/// Errors of this crate. Every variant about a tar entry names its path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// The target directory given by the caller cannot be used.
    #[error("cannot open layer target directory {path}: {source}")]
    Target {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    /// Reading or decompressing the layer stream failed, or a tar header is
    /// malformed; `after` is the last entry read successfully.
    #[error("reading layer stream (after entry {after:?}): {source}")]
    Read {
        after: String,
        #[source]
        source: io::Error,
    },
    /// The stream ended in the middle of an entry's data.
    #[error(
        "layer entry {path:?}: stream ended after {got} of {expected} bytes (truncated layer)"
    )]
    Truncated {
        path: String,
        got: u64,
        expected: u64,
    },
    /// The entry would be written outside the target directory.
    #[error(
        "layer entry {path:?} would be written outside the target directory (breakout): {reason}"
    )]
    Breakout { path: String, reason: &'static str },
    /// A hard link whose target lies outside the target directory.
    #[error("layer entry {path:?}: hard link target {target:?} is outside the target directory (breakout)")]
    LinkBreakout { path: String, target: String },
    /// An entry type a layer cannot contain.
    #[error("layer entry {path:?}: unsupported tar entry type {kind:?}")]
    Unsupported { path: String, kind: char },
    /// An entry that is malformed in itself (bad whiteout, missing link name...).
    #[error("layer entry {path:?}: {reason}")]
    Invalid { path: String, reason: &'static str },
    /// A filesystem operation on an entry failed.
    #[error("layer entry {path:?}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// A file shrank while it was being archived.
    #[error("{path:?} changed while being archived: read {got} of {expected} bytes")]
    Changed {
        path: String,
        got: u64,
        expected: u64,
    },
    /// Writing the output tar stream failed.
    #[error("writing tar stream: {0}")]
    Write(#[source] io::Error),
}

impl LayerError {
    /// Whether the stream simply ended too early (a truncated tar or compressed stream).
    pub fn is_truncated(&self) -> bool {
        match self {
            LayerError::Truncated { .. } => true,
            LayerError::Read { source, .. } => is_unexpected_eof(source),
            _ => false,
        }
    }
}

/// Whether an I/O error means "the stream ended too early", however the tar,
/// gzip or zstd reader worded it.
pub fn is_unexpected_eof(e: &io::Error) -> bool {
    let text = e.to_string();
    e.kind() == io::ErrorKind::UnexpectedEof
        || text.contains("failed to read entire block")
        || text.contains("unexpected EOF")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_magic() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 1]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"usr/"), Compression::None);
        assert_eq!(Compression::detect(&[0x1f]), Compression::None);
        assert_eq!(Compression::detect(&[]), Compression::None);
    }

    /// The detected compression and the whole decompressed stream.
    fn decoded<'a>(r: impl BufRead + 'a) -> (Compression, Vec<u8>) {
        let (kind, mut r) = decompress(r).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        (kind, out)
    }

    #[test]
    fn decompress_keeps_sniffed_bytes() {
        assert_eq!(decoded(&b"ab"[..]), (Compression::None, b"ab".to_vec()));
        let plain: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let z = zstd::encode_all(&plain[..], 3).unwrap();
        assert_eq!(decoded(&z[..]), (Compression::Zstd, plain));
    }

    #[test]
    fn a_first_piece_shorter_than_the_magic_is_gathered() {
        let plain: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let z = zstd::encode_all(&plain[..], 3).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        for piece in [&z[..1], &z[1..3], &z[3..]] {
            tx.send(piece.to_vec()).unwrap();
        }
        drop(tx);
        assert_eq!(decoded(ChannelReader::new(rx)), (Compression::Zstd, plain));
    }

    #[test]
    fn a_channel_reader_reads_the_pieces_in_order_then_ends() {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        for piece in [&b"ab"[..], b"", b"cde"] {
            tx.send(piece.to_vec()).unwrap();
        }
        drop(tx);
        let mut r = ChannelReader::new(rx);
        let mut one = [0u8; 1];
        assert_eq!(r.read(&mut one).unwrap(), 1);
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!((one[0], rest.as_str()), (b'a', "bcde"));
        assert_eq!(r.read(&mut one).unwrap(), 0);
    }
}
