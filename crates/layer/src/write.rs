//! Writing a directory out as a layer tar.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use tar::{EntryType, Header};

use crate::apply::{OPAQUE_MARKER, OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, WHITEOUT_PREFIX};
use crate::fsutil::{self, lstat_at, open_child_dir};
use crate::hash::HashWriter;
use crate::pax::{push_record, XATTR_PREFIX};
use crate::{Applied, LayerError, BUF_SIZE};

const BLOCK: usize = 512;
/// Host labels must not leak into images (docker does not archive them).
const SELINUX_XATTR: &[u8] = b"security.selinux";

/// Writes the tree under `dir` as an uncompressed tar to `out`.
///
/// Entries are sorted by name, each directory before its contents and
/// without an entry for `dir` itself (like docker's layer diffs). Hard links
/// are written once and then as link entries (by device and inode); xattrs
/// go into PAX `SCHILY.xattr.*` records (except `trusted.overlay.*` and
/// `security.selinux`); overlayfs whiteouts (0:0 character devices) become
/// `.wh.<name>` files, listed first in their directory, and opaque
/// directories (`trusted.overlay.opaque=y`) get a `.wh..wh..opq` entry
/// right after their own. Sockets are skipped. Returns the digest and file
/// size of the stream written.
pub fn write_tar(dir: &Path, out: impl Write) -> Result<Applied, LayerError> {
    let root = fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| LayerError::Target {
        path: dir.to_path_buf(),
        source: e.into(),
    })?;
    let mut w = Writer {
        out: HashWriter::new(BufWriter::with_capacity(BUF_SIZE, out)),
        links: HashMap::new(),
        buf: vec![0; BUF_SIZE],
        size: 0,
    };
    if is_opaque(root.as_fd()) {
        let st = fs::fstat(&root).map_err(io_err(b"", "reading directory"))?;
        w.marker(OPAQUE_MARKER.to_vec(), &st)?;
    }
    w.walk(root.as_fd(), Vec::new())?;
    w.out
        .write_all(&[0; 2 * BLOCK])
        .map_err(LayerError::Write)?;
    let diff_id = w.out.finish().map_err(LayerError::Write)?;
    Ok(Applied {
        diff_id,
        size: w.size,
    })
}

fn io_err<'a>(path: &'a [u8], op: &'static str) -> impl FnOnce(Errno) -> LayerError + 'a {
    move |e| LayerError::Io {
        path: String::from_utf8_lossy(path).into_owned(),
        op,
        source: e.into(),
    }
}

fn is_whiteout(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    let mut v = [0u8; 2];
    matches!(fs::fgetxattr(dir, OPAQUE_XATTR, &mut v[..]), Ok(1) if v[0] == b'y')
}

/// Where to read xattrs from: an open file or a `/proc/self/fd` path (not followed).
enum XattrSource<'a> {
    Fd(BorrowedFd<'a>),
    Path(&'a [u8]),
}

/// Extended attributes worth archiving, sorted by name.
fn read_xattrs(src: XattrSource<'_>) -> Result<Vec<(Vec<u8>, Vec<u8>)>, Errno> {
    let list = loop {
        let size = match src {
            XattrSource::Fd(fd) => fs::flistxattr_query(fd),
            XattrSource::Path(p) => fs::llistxattr_query(p),
        };
        let size = match size {
            Ok(0) | Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Ok(n) => n,
            Err(e) => return Err(e),
        };
        let mut list = vec![0u8; size];
        let got = match src {
            XattrSource::Fd(fd) => fs::flistxattr(fd, &mut list[..]),
            XattrSource::Path(p) => fs::llistxattr(p, &mut list[..]),
        };
        match got {
            Ok(n) => {
                list.truncate(n);
                break list;
            }
            // Grew between the two calls.
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e),
        }
    };
    let mut out = Vec::new();
    for name in list.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(OVERLAY_XATTR_PREFIX) || name == SELINUX_XATTR {
            continue;
        }
        let value = loop {
            let size = match src {
                XattrSource::Fd(fd) => fs::fgetxattr_query(fd, name),
                XattrSource::Path(p) => fs::lgetxattr_query(p, name),
            };
            let size = match size {
                Ok(n) => n,
                Err(Errno::NODATA) => break None,
                Err(e) => return Err(e),
            };
            let mut value = vec![0u8; size];
            let got = match src {
                XattrSource::Fd(fd) => fs::fgetxattr(fd, name, &mut value[..]),
                XattrSource::Path(p) => fs::lgetxattr(p, name, &mut value[..]),
            };
            match got {
                Ok(n) => {
                    value.truncate(n);
                    break Some(value);
                }
                Err(Errno::RANGE) => continue,
                Err(Errno::NODATA) => break None,
                Err(e) => return Err(e),
            }
        };
        if let Some(value) = value {
            out.push((name.to_vec(), value));
        }
    }
    out.sort();
    Ok(out)
}

/// Puts `path` into the ustar name/prefix fields; false if it does not fit.
fn set_ustar_path(header: &mut Header, path: &[u8]) -> bool {
    let Some(ustar) = header.as_ustar_mut() else {
        return false;
    };
    if path.len() <= ustar.name.len() {
        ustar.name[..path.len()].copy_from_slice(path);
        return true;
    }
    // Split at a '/' so that the prefix and the rest both fit.
    let split = path.iter().enumerate().position(|(i, b)| {
        *b == b'/'
            && i <= ustar.prefix.len()
            && path.len() - i - 1 <= ustar.name.len()
            && i + 1 < path.len()
    });
    match split {
        Some(i) => {
            ustar.prefix[..i].copy_from_slice(&path[..i]);
            ustar.name[..path.len() - i - 1].copy_from_slice(&path[i + 1..]);
            true
        }
        None => {
            // Readers take the PAX path; keep something readable here.
            let n = ustar.name.len();
            ustar.name.copy_from_slice(&path[..n]);
            false
        }
    }
}

/// What to write for one entry.
struct Item<'a> {
    path: Vec<u8>,
    kind: EntryType,
    mode: u32,
    st: &'a Stat,
    size: u64,
    link: Option<&'a [u8]>,
    xattrs: &'a [(Vec<u8>, Vec<u8>)],
}

struct Writer<W: Write> {
    out: HashWriter<BufWriter<W>>,
    /// (dev, ino) -> path of the first entry of a file with several links.
    links: HashMap<(u64, u64), Vec<u8>>,
    buf: Vec<u8>,
    size: u64,
}

impl<W: Write> Writer<W> {
    /// Writes the header(s) of an entry; file data follows separately.
    fn header(&mut self, item: &Item<'_>) -> Result<(), LayerError> {
        let mut h = Header::new_ustar();
        h.set_entry_type(item.kind);
        h.set_mode(item.mode);
        h.set_uid(u64::from(item.st.st_uid));
        h.set_gid(u64::from(item.st.st_gid));
        h.set_mtime(u64::try_from(item.st.st_mtime).unwrap_or(0));
        h.set_size(item.size);
        if matches!(item.kind, EntryType::Char | EntryType::Block) {
            let dev = item.st.st_rdev;
            let bad = |e: std::io::Error| LayerError::Io {
                path: String::from_utf8_lossy(&item.path).into_owned(),
                op: "encoding device numbers",
                source: e,
            };
            h.set_device_major(fs::major(dev)).map_err(bad)?;
            h.set_device_minor(fs::minor(dev)).map_err(bad)?;
        }
        let mut pax = Vec::new();
        if !set_ustar_path(&mut h, &item.path) {
            push_record(&mut pax, b"path", &item.path);
        }
        if let Some(link) = item.link {
            let field = &mut h.as_old_mut().linkname;
            if link.len() <= field.len() {
                field[..link.len()].copy_from_slice(link);
            } else {
                let n = field.len();
                field.copy_from_slice(&link[..n]);
                push_record(&mut pax, b"linkpath", link);
            }
        }
        for (name, value) in item.xattrs {
            let mut key = XATTR_PREFIX.to_vec();
            key.extend_from_slice(name);
            push_record(&mut pax, &key, value);
        }
        h.set_cksum();
        if !pax.is_empty() {
            let mut ph = Header::new_ustar();
            ph.set_entry_type(EntryType::XHeader);
            ph.set_mode(0o644);
            ph.set_mtime(h.mtime().unwrap_or(0));
            ph.set_size(pax.len() as u64);
            let mut name = b"PaxHeaders/".to_vec();
            let base = item
                .path
                .rsplit(|b| *b == b'/')
                .find(|c| !c.is_empty())
                .unwrap_or(b"");
            name.extend_from_slice(&base[..base.len().min(80)]);
            set_ustar_path(&mut ph, &name);
            ph.set_cksum();
            self.put(ph.as_bytes())?;
            self.put(&pax)?;
            self.pad(pax.len() as u64)?;
        }
        self.put(h.as_bytes())
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), LayerError> {
        self.out.write_all(bytes).map_err(LayerError::Write)
    }

    /// Zero-fills the last block of `len` bytes of data.
    fn pad(&mut self, len: u64) -> Result<(), LayerError> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.put(&[0; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// An empty OCI marker file (`.wh.x`, `.wh..wh..opq`) owned like `st`.
    fn marker(&mut self, path: Vec<u8>, st: &Stat) -> Result<(), LayerError> {
        self.header(&Item {
            path,
            kind: EntryType::Regular,
            mode: st.st_mode & 0o777,
            st,
            size: 0,
            link: None,
            xattrs: &[],
        })
    }

    /// Archives the contents of `dir`, whose path in the tar is `prefix`
    /// (empty or ending in '/').
    fn walk(&mut self, dir: BorrowedFd<'_>, prefix: Vec<u8>) -> Result<(), LayerError> {
        let mut names: Vec<Vec<u8>> = fsutil::list_dir(dir)
            .map_err(io_err(&prefix, "reading directory"))?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        names.sort();
        let mut children = Vec::with_capacity(names.len());
        for name in names {
            match lstat_at(dir, &name) {
                Ok(st) => children.push((name, st)),
                // Removed since listed.
                Err(Errno::NOENT) => {}
                Err(e) => {
                    let mut path = prefix.clone();
                    path.extend_from_slice(&name);
                    return Err(io_err(&path, "reading file status")(e));
                }
            }
        }
        // OCI: whiteouts before their siblings.
        for (name, st) in children.iter().filter(|(_, st)| is_whiteout(st)) {
            let mut path = prefix.clone();
            path.extend_from_slice(WHITEOUT_PREFIX);
            path.extend_from_slice(name);
            self.marker(path, st)?;
        }
        for (name, st) in children.iter().filter(|(_, st)| !is_whiteout(st)) {
            let mut path = prefix.clone();
            path.extend_from_slice(name);
            self.child(dir, name, path, st)?;
        }
        Ok(())
    }

    fn child(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        path: Vec<u8>,
        st: &Stat,
    ) -> Result<(), LayerError> {
        let file_type = FileType::from_raw_mode(st.st_mode);
        let mode = st.st_mode & 0o7777;
        if file_type == FileType::Directory {
            let fd = open_child_dir(dir, name).map_err(io_err(&path, "opening directory"))?;
            let xattrs = read_xattrs(XattrSource::Fd(fd.as_fd()))
                .map_err(io_err(&path, "reading xattrs"))?;
            let mut dir_path = path;
            dir_path.push(b'/');
            self.header(&Item {
                path: dir_path.clone(),
                kind: EntryType::Directory,
                mode,
                st,
                size: 0,
                link: None,
                xattrs: &xattrs,
            })?;
            if is_opaque(fd.as_fd()) {
                let mut marker = dir_path.clone();
                marker.extend_from_slice(OPAQUE_MARKER);
                self.marker(marker, st)?;
            }
            return self.walk(fd.as_fd(), dir_path);
        }
        if file_type == FileType::Socket {
            tracing::debug!(path = %String::from_utf8_lossy(&path), "skipping socket");
            return Ok(());
        }
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key).cloned() {
                return self.header(&Item {
                    path,
                    kind: EntryType::Link,
                    mode,
                    st,
                    size: 0,
                    link: Some(&first),
                    xattrs: &[],
                });
            }
            self.links.insert(key, path.clone());
        }
        match file_type {
            FileType::RegularFile => self.regular(dir, name, path, st),
            FileType::Symlink => {
                let target = fs::readlinkat(dir, name, Vec::new())
                    .map_err(io_err(&path, "reading symlink"))?;
                self.special(
                    dir,
                    name,
                    path,
                    st,
                    EntryType::Symlink,
                    Some(target.as_bytes()),
                )
            }
            FileType::CharacterDevice => self.special(dir, name, path, st, EntryType::Char, None),
            FileType::BlockDevice => self.special(dir, name, path, st, EntryType::Block, None),
            _ => self.special(dir, name, path, st, EntryType::Fifo, None),
        }
    }

    /// Symlinks, devices and fifos: header only, xattrs read without opening.
    fn special(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        path: Vec<u8>,
        st: &Stat,
        kind: EntryType,
        link: Option<&[u8]>,
    ) -> Result<(), LayerError> {
        let proc = fsutil::proc_path(dir, name);
        let xattrs =
            read_xattrs(XattrSource::Path(&proc)).map_err(io_err(&path, "reading xattrs"))?;
        self.header(&Item {
            path,
            kind,
            mode: st.st_mode & 0o7777,
            st,
            size: 0,
            link,
            xattrs: &xattrs,
        })
    }

    fn regular(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        path: Vec<u8>,
        st: &Stat,
    ) -> Result<(), LayerError> {
        let fd: OwnedFd = fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io_err(&path, "opening file"))?;
        let xattrs =
            read_xattrs(XattrSource::Fd(fd.as_fd())).map_err(io_err(&path, "reading xattrs"))?;
        let expected = u64::try_from(st.st_size).unwrap_or(0);
        self.header(&Item {
            path: path.clone(),
            kind: EntryType::Regular,
            mode: st.st_mode & 0o7777,
            st,
            size: expected,
            link: None,
            xattrs: &xattrs,
        })?;
        let mut got = 0u64;
        while got < expected {
            let want = usize::try_from(expected - got)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            let n = match rustix::io::read(&fd, &mut self.buf[..want]) {
                Ok(0) => {
                    return Err(LayerError::Changed {
                        path: String::from_utf8_lossy(&path).into_owned(),
                        got,
                        expected,
                    })
                }
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(io_err(&path, "reading file")(e)),
            };
            self.out
                .write_all(&self.buf[..n])
                .map_err(LayerError::Write)?;
            got += n as u64;
        }
        self.size += expected;
        self.pad(expected)
    }
}
