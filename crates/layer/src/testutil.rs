//! Test helpers: tars written byte by byte, so tests can describe hostile
//! entries (`..`, symlink tricks) no well-behaved builder would produce.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::pax::push_record;

/// A tar stream assembled entry by entry.
#[derive(Default)]
pub(crate) struct RawTar {
    bytes: Vec<u8>,
}

/// Per-entry fields of [`RawTar::entry`].
#[derive(Clone, Copy)]
pub(crate) struct Spec<'a> {
    pub kind: EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Option<&'a [u8]>,
    pub dev: (u32, u32),
    pub pax: &'a [(&'a [u8], &'a [u8])],
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec {
            kind: EntryType::Regular,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            link: None,
            dev: (0, 0),
            pax: &[],
        }
    }
}

impl RawTar {
    pub(crate) fn new() -> Self {
        RawTar::default()
    }

    /// Appends an entry with `path` copied verbatim into the name field.
    pub(crate) fn entry(&mut self, path: &[u8], data: &[u8], spec: Spec<'_>) -> &mut Self {
        if !spec.pax.is_empty() {
            let mut records = Vec::new();
            for (k, v) in spec.pax {
                push_record(&mut records, k, v);
            }
            let mut h = Header::new_ustar();
            h.set_entry_type(EntryType::XHeader);
            h.set_size(records.len() as u64);
            h.as_old_mut().name[..3].copy_from_slice(b"pax");
            h.set_cksum();
            self.push(h.as_bytes(), &records);
        }
        let mut h = Header::new_ustar();
        h.set_entry_type(spec.kind);
        h.set_mode(spec.mode);
        h.set_uid(spec.uid);
        h.set_gid(spec.gid);
        h.set_mtime(spec.mtime);
        h.set_size(data.len() as u64);
        h.as_old_mut().name[..path.len()].copy_from_slice(path);
        if let Some(link) = spec.link {
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        }
        if matches!(spec.kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(spec.dev.0).unwrap();
            h.set_device_minor(spec.dev.1).unwrap();
        }
        h.set_cksum();
        self.push(h.as_bytes(), data);
        self
    }

    pub(crate) fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.entry(path.as_bytes(), data, Spec::default())
    }

    pub(crate) fn dir(&mut self, path: &str) -> &mut Self {
        let spec = Spec {
            kind: EntryType::Directory,
            mode: 0o755,
            ..Spec::default()
        };
        self.entry(path.as_bytes(), b"", spec)
    }

    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let spec = Spec {
            kind: EntryType::Symlink,
            mode: 0o777,
            link: Some(target.as_bytes()),
            ..Spec::default()
        };
        self.entry(path.as_bytes(), b"", spec)
    }

    pub(crate) fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let spec = Spec {
            kind: EntryType::Link,
            link: Some(target.as_bytes()),
            ..Spec::default()
        };
        self.entry(path.as_bytes(), b"", spec)
    }

    fn push(&mut self, header: &[u8], data: &[u8]) {
        self.bytes.extend_from_slice(header);
        self.bytes.extend_from_slice(data);
        let rem = data.len() % 512;
        if rem != 0 {
            self.bytes.resize(self.bytes.len() + 512 - rem, 0);
        }
    }

    /// The stream with its end-of-archive marker.
    pub(crate) fn finish(&self) -> Vec<u8> {
        let mut out = self.bytes.clone();
        out.resize(out.len() + 1024, 0);
        out
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Whether `path` is an overlay whiteout (0:0 character device).
pub(crate) fn is_whiteout(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(md) => md.file_type().is_char_device() && md.rdev() == 0,
        Err(_) => false,
    }
}

/// The value of an xattr of `path` (not following symlinks), if set.
pub(crate) fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    rustix::fs::lgetxattr(path, name, &mut buf[..])
        .ok()
        .map(|n| buf[..n].to_vec())
}
