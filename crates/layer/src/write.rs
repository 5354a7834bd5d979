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
use crate::pax::{push_record, Xattrs, XATTR_PREFIX};
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
fn read_xattrs(src: XattrSource<'_>) -> Result<Xattrs, Errno> {
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
                self.size += target.as_bytes().len() as u64;
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read as _;
    use std::os::unix::fs::{symlink, MetadataExt};
    use std::path::Path;

    use rustix::fs::{AtFlags, Gid, Timespec, Timestamps, Uid, XattrFlags, CWD};

    use super::*;
    use crate::apply;
    use crate::testutil::{is_whiteout, sha256, xattr};

    fn set_times(path: &Path, secs: i64) {
        let t = Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        };
        let times = Timestamps {
            last_access: t,
            last_modification: t,
        };
        fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).unwrap();
    }

    fn chown(path: &Path, uid: u32, gid: u32) {
        fs::chownat(
            CWD,
            path,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }

    fn set_xattr(path: &Path, name: &str, value: &[u8]) {
        fs::lsetxattr(path, name, value, XattrFlags::empty()).unwrap();
    }

    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mknod(path: &Path, kind: FileType, major: u32, minor: u32) {
        fs::mknodat(
            CWD,
            path,
            kind,
            Mode::from_raw_mode(0o640),
            fs::makedev(major, minor),
        )
        .unwrap();
    }

    /// A tree exercising every kind of entry and metadata.
    fn build_tree(root: &Path) {
        let p = |rel: &str| root.join(rel);
        std::fs::create_dir(p("d")).unwrap();
        std::fs::write(p("d/suid"), b"setuid program").unwrap();
        chown(&p("d/suid"), 1000, 1000);
        chmod(&p("d/suid"), 0o4755);
        set_xattr(&p("d/suid"), "user.a", b"1");
        set_xattr(&p("d/suid"), "trusted.b", b"\x00\x01binary");
        std::fs::write(p("d/plain"), b"shared by three names").unwrap();
        chmod(&p("d/plain"), 0o600);
        std::fs::hard_link(p("d/plain"), p("d/hl")).unwrap();
        std::fs::hard_link(p("d/plain"), p("top_hl")).unwrap();
        let big: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(p("big"), &big).unwrap();
        symlink("/etc/passwd", p("abs")).unwrap();
        symlink("d/plain", p("rel")).unwrap();
        chown(&p("rel"), 3, 4);
        symlink("x".repeat(200), p("longlink")).unwrap();
        mknod(&p("cdev"), FileType::CharacterDevice, 1, 3);
        mknod(&p("bdev"), FileType::BlockDevice, 7, 0);
        mknod(&p("fifo"), FileType::Fifo, 0, 0);
        // Overlay upperdir artefacts.
        mknod(&p("d/wh"), FileType::CharacterDevice, 0, 0);
        chmod(&p("d/wh"), 0);
        std::fs::create_dir(p("o")).unwrap();
        std::fs::write(p("o/f"), b"f").unwrap();
        set_xattr(&p("o"), OPAQUE_XATTR, b"y");
        set_xattr(&p("o"), "user.dir", b"attr");
        std::fs::create_dir(p("empty")).unwrap();
        let long_dir = format!("long/{}", "n".repeat(150));
        std::fs::create_dir_all(p(&long_dir)).unwrap();
        std::fs::write(p(&format!("{long_dir}/{}", "f".repeat(120))), b"long").unwrap();
        // Metadata of directories last: creating entries changes them.
        for (i, rel) in [
            "d/suid", "d/plain", "big", "abs", "rel", "cdev", "fifo", "d/wh", "o/f",
        ]
        .iter()
        .enumerate()
        {
            set_times(&p(rel), 1_500_000_000 + i as i64);
        }
        chown(&p("d"), 5, 6);
        chmod(&p("d"), 0o1777);
        for (i, rel) in ["d", "o", "empty", "long", long_dir.as_str()]
            .iter()
            .enumerate()
        {
            set_times(&p(rel), 1_400_000_000 + i as i64);
        }
    }

    #[derive(Debug, PartialEq)]
    struct Desc {
        mode: u32,
        uid: u32,
        gid: u32,
        mtime: i64,
        rdev: u64,
        nlink: u64,
        content: Option<String>,
        link: Option<std::path::PathBuf>,
        xattrs: Vec<(String, Option<Vec<u8>>)>,
    }

    /// Everything `write_tar` and `apply` must carry, by relative path.
    fn describe(root: &Path) -> BTreeMap<String, Desc> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let path = e.unwrap().path();
                let md = std::fs::symlink_metadata(&path).unwrap();
                if md.is_dir() {
                    stack.push(path.clone());
                }
                let names = ["user.a", "trusted.b", "user.dir", OPAQUE_XATTR];
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(
                    rel,
                    Desc {
                        mode: md.mode(),
                        uid: md.uid(),
                        gid: md.gid(),
                        mtime: md.mtime(),
                        rdev: md.rdev(),
                        nlink: if md.is_dir() { 0 } else { md.nlink() },
                        content: md.is_file().then(|| sha256(&std::fs::read(&path).unwrap())),
                        link: md.is_symlink().then(|| std::fs::read_link(&path).unwrap()),
                        xattrs: names
                            .iter()
                            .map(|n| (n.to_string(), xattr(&path, n)))
                            .collect(),
                    },
                );
            }
        }
        out
    }

    fn entry_names(tar: &[u8]) -> Vec<(String, EntryType)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                (name, e.header().entry_type())
            })
            .collect()
    }

    #[test]
    fn round_trip_preserves_everything() {
        let src = tempfile::tempdir().unwrap();
        build_tree(src.path());
        let mut bytes = Vec::new();
        let written = write_tar(src.path(), &mut bytes).unwrap();
        assert_eq!(written.diff_id, sha256(&bytes));
        // suid + plain (once for three links) + big + long file + o/f.
        // files, then the symlink targets "/etc/passwd", "d/plain" and 200 x's
        assert_eq!(written.size, 14 + 21 + 1_000_003 + 4 + 1 + 11 + 7 + 200);

        let names = entry_names(&bytes);
        let pos = |n: &str| {
            names
                .iter()
                .position(|(x, _)| x == n)
                .unwrap_or_else(|| panic!("{n} missing: {names:?}"))
        };
        assert_eq!(names[pos("d/.wh.wh")].1, EntryType::Regular);
        assert!(pos("d/") < pos("d/.wh.wh") && pos("d/.wh.wh") < pos("d/hl"));
        assert!(!names.iter().any(|(n, _)| n == "d/wh"));
        assert_eq!(pos("o/.wh..wh..opq"), pos("o/") + 1);
        assert_eq!(names[pos("d/plain")].1, EntryType::Link);
        assert_eq!(names[pos("top_hl")].1, EntryType::Link);
        assert_eq!(names[pos("d/hl")].1, EntryType::Regular);
        assert!(!names.iter().any(|(n, _)| n.is_empty() || n == "./"));

        let dst = tempfile::tempdir().unwrap();
        let applied = apply(&bytes[..], dst.path()).unwrap();
        assert_eq!(applied, written);
        assert!(is_whiteout(&dst.path().join("d/wh")));
        let (a, b) = (describe(src.path()), describe(dst.path()));
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (path, desc) in &a {
            assert_eq!(Some(desc), b.get(path), "{path} differs");
        }

        // Deterministic: the copy archives to the very same bytes.
        let mut again = Vec::new();
        let rewritten = write_tar(dst.path(), &mut again).unwrap();
        assert_eq!(rewritten, written);
        assert!(again == bytes, "second archive differs");
    }

    #[test]
    fn pax_records_carry_long_names_and_xattrs() {
        let src = tempfile::tempdir().unwrap();
        build_tree(src.path());
        let mut bytes = Vec::new();
        write_tar(src.path(), &mut bytes).unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = 0;
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path_bytes().into_owned();
            if path == b"longlink" {
                assert_eq!(e.link_name_bytes().unwrap().len(), 200);
                seen += 1;
            } else if path.len() > 270 {
                let mut data = String::new();
                e.read_to_string(&mut data).unwrap();
                assert_eq!(data, "long");
                seen += 1;
            } else if path == b"d/suid" {
                let keys: Vec<Vec<u8>> = e
                    .pax_extensions()
                    .unwrap()
                    .unwrap()
                    .map(|x| x.unwrap().key_bytes().to_vec())
                    .collect();
                assert_eq!(
                    keys,
                    [
                        b"SCHILY.xattr.trusted.b".to_vec(),
                        b"SCHILY.xattr.user.a".to_vec()
                    ]
                );
                seen += 1;
            } else if path == b"o/" {
                let keys: Vec<Vec<u8>> = e
                    .pax_extensions()
                    .unwrap()
                    .unwrap()
                    .map(|x| x.unwrap().key_bytes().to_vec())
                    .collect();
                // The overlay xattr became the .wh..wh..opq entry.
                assert_eq!(keys, [b"SCHILY.xattr.user.dir".to_vec()]);
                seen += 1;
            }
        }
        assert_eq!(seen, 4);
    }

    #[test]
    fn opaque_root_and_sockets() {
        let src = tempfile::tempdir().unwrap();
        set_xattr(src.path(), OPAQUE_XATTR, b"y");
        std::fs::write(src.path().join("f"), b"x").unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(src.path().join("sock")).unwrap();
        let mut bytes = Vec::new();
        write_tar(src.path(), &mut bytes).unwrap();
        let names: Vec<String> = entry_names(&bytes).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [".wh..wh..opq", "f"]);
        assert_eq!(bytes.len() % 512, 0);
        assert!(bytes.ends_with(&[0; 1024]));
        assert!(matches!(
            write_tar(&src.path().join("missing"), Vec::new()),
            Err(LayerError::Target { .. })
        ));
    }

    #[test]
    fn ustar_path_splitting() {
        let mut h = Header::new_ustar();
        assert!(set_ustar_path(&mut h, b"short"));
        let long = format!("{}/{}", "a".repeat(150), "b".repeat(99));
        let mut h = Header::new_ustar();
        assert!(set_ustar_path(&mut h, long.as_bytes()));
        assert_eq!(h.path_bytes().as_ref(), long.as_bytes());
        let too_long = format!("{}/{}", "a".repeat(160), "b".repeat(99));
        assert!(!set_ustar_path(
            &mut Header::new_ustar(),
            too_long.as_bytes()
        ));
        let no_slash = "c".repeat(120);
        assert!(!set_ustar_path(
            &mut Header::new_ustar(),
            no_slash.as_bytes()
        ));
    }
}
