//! Unpacking a layer tar into a directory.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use berth_fshints::FrontToBack;
use rustix::fs::{
    self, AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;
use tar::EntryType;

use crate::fsutil::{self, lstat_at, open_child_dir, open_dir_beneath};
use crate::hash::HashReader;
use crate::path::{join, normalise};
use crate::pax::{parse_time, Xattrs, XATTR_PREFIX};
use crate::{decompress, Applied, LayerError, BUF_SIZE};

/// Prefix of OCI whiteout files.
pub(crate) const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// OCI opaque-directory marker.
pub(crate) const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Prefix of aufs metadata names (`.wh..wh.plnk`...), skipped like docker does.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";
/// overlayfs xattr marking a directory opaque.
pub(crate) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// xattrs overlayfs interprets; a layer must not smuggle them in (redirects
/// and metacopy could expose other layers' data).
pub(crate) const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";

/// Unpacks a layer tar (plain, gzip or zstd; detected) into `target`, an
/// existing directory, normally empty.
///
/// OCI whiteouts become overlayfs whiteouts: `d/.wh.x` creates a 0:0
/// character device `d/x` (removing an existing `d/x` first, so several layers
/// can be flattened into one directory) and `d/.wh..wh..opq` sets
/// `trusted.overlay.opaque=y` on `d` (removing what earlier layers put there
/// when flattening). Nothing is ever written outside `target`: entries whose
/// path climbs above it, whose parent resolves through a symlink leading out
/// of it, or hard links to files outside it fail with
/// [`LayerError::Breakout`] / [`LayerError::LinkBreakout`].
///
/// Files are not fsync'ed; sync the filesystem once afterwards if needed. On
/// error the target is left half-written: the caller deletes it.
pub fn apply(reader: impl BufRead, target: &Path) -> Result<Applied, LayerError> {
    let target_err = |e: Errno| LayerError::Target {
        path: target.to_path_buf(),
        source: e.into(),
    };
    let root = fs::open(
        target,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(target_err)?;
    let flatten = !fsutil::list_dir(root.as_fd())
        .map_err(target_err)?
        .is_empty();
    let (_, stream) = decompress(reader).map_err(|source| LayerError::Read {
        after: String::new(),
        source,
    })?;
    let mut hashed = HashReader::new(stream);
    let mut applier = Applier {
        root,
        flatten,
        cache: None,
        written: HashSet::new(),
        whiteouts: HashSet::new(),
        dir_times: Vec::new(),
        buf: vec![0; BUF_SIZE],
        size: 0,
    };
    let mut last = String::new();
    {
        let mut archive = tar::Archive::new(&mut hashed);
        let entries = archive.entries().map_err(|source| LayerError::Read {
            after: String::new(),
            source,
        })?;
        for entry in entries {
            let mut entry = entry.map_err(|source| LayerError::Read {
                after: last.clone(),
                source,
            })?;
            last = applier.entry(&mut entry)?;
        }
    }
    // The diff id covers the whole stream, trailing zero blocks included.
    io::copy(&mut hashed, &mut io::sink()).map_err(|source| LayerError::Read {
        after: last.clone(),
        source,
    })?;
    applier.set_dir_times()?;
    let diff_id = hashed.digest().map_err(|source| LayerError::Read {
        after: last,
        source,
    })?;
    Ok(Applied {
        diff_id,
        size: applier.size,
    })
}

/// Ownership, permissions, times and xattrs of an entry.
struct Meta {
    mode: u32,
    uid: Uid,
    gid: Gid,
    mtime: Timespec,
    xattrs: Xattrs,
}

impl Meta {
    fn times(&self) -> Timestamps {
        Timestamps {
            last_access: self.mtime,
            last_modification: self.mtime,
        }
    }
}

struct Applier {
    root: OwnedFd,
    /// The target held entries before this layer (flattening several layers).
    flatten: bool,
    /// Last parent directory resolved: tar entries come grouped by directory.
    /// Invalidated whenever a directory is removed.
    cache: Option<(Vec<u8>, Rc<OwnedFd>)>,
    /// Paths (relative, `/`-joined) created by this layer, for the OCI rule
    /// that whiteouts only hide lower layers.
    written: HashSet<Vec<u8>>,
    /// Whiteout devices created by this layer.
    whiteouts: HashSet<Vec<u8>>,
    /// Directory mtimes, set at the end since creating children changes them.
    dir_times: Vec<(Vec<u8>, Timestamps)>,
    buf: Vec<u8>,
    size: u64,
}

fn io_err<'a>(path: &'a str, op: &'static str) -> impl FnOnce(Errno) -> LayerError + 'a {
    move |e| LayerError::Io {
        path: path.to_owned(),
        op,
        source: e.into(),
    }
}

fn invalid(path: &str, reason: &'static str) -> LayerError {
    LayerError::Invalid {
        path: path.to_owned(),
        reason,
    }
}

/// Maps a failure to resolve an entry's parent directory.
fn resolve_err(path: &str, e: Errno) -> LayerError {
    if e == Errno::XDEV {
        LayerError::Breakout {
            path: path.to_owned(),
            reason: "its parent path goes through a symlink leading outside the target",
        }
    } else {
        io_err(path, "resolving parent directory")(e)
    }
}

fn header_err(path: &str) -> impl FnOnce(io::Error) -> LayerError + '_ {
    move |source| LayerError::Io {
        path: path.to_owned(),
        op: "parsing tar header",
        source,
    }
}

/// A numeric header field as Go's archive/tar (and so dockerd) reads it: a field
/// of only NULs and spaces is 0 rather than an error.
fn lenient(field: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    match parsed {
        Err(_) if field.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        other => other,
    }
}

fn id_from(raw: u64, path: &str) -> Result<u32, LayerError> {
    // u32::MAX is -1 for chown ("leave unchanged"): refuse it too.
    u32::try_from(raw)
        .ok()
        .filter(|id| *id != u32::MAX)
        .ok_or_else(|| invalid(path, "uid or gid out of range"))
}

/// Whether `name` may be used as a whiteout target.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".."
}

fn is_ignorable_xattr_error(e: Errno) -> bool {
    e == Errno::PERM || e == Errno::NOTSUP
}

impl Applier {
    /// Applies one entry; returns its path for error messages.
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<String, LayerError> {
        let raw = entry.path_bytes().into_owned();
        let epath = String::from_utf8_lossy(&raw).into_owned();
        let mut kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            // Like docker: global PAX headers carry nothing a layer needs.
            return Ok(epath);
        }
        if kind == EntryType::Regular && raw.ends_with(b"/") {
            // Pre-POSIX tars mark directories as regular files with a '/'.
            kind = EntryType::Directory;
        }
        let comps = normalise(&raw).ok_or_else(|| LayerError::Breakout {
            path: epath.clone(),
            reason: "its path climbs above the root with `..`",
        })?;
        let meta = read_meta(entry, &epath)?;
        let link = entry.link_name_bytes().map(Cow::into_owned);

        let Some((name, parent)) = comps.split_last() else {
            if kind != EntryType::Directory {
                return Err(invalid(
                    &epath,
                    "entry names the root but is not a directory",
                ));
            }
            let fd =
                open_dir_beneath(self.root.as_fd(), b"").map_err(io_err(&epath, "opening root"))?;
            self.set_meta_fd(fd.as_fd(), &meta, &epath, false)?;
            self.dir_times.push((Vec::new(), meta.times()));
            return Ok(epath);
        };

        if name.starts_with(WHITEOUT_PREFIX) {
            if *name == OPAQUE_MARKER {
                self.opaque(parent, &epath)?;
            } else if !name.starts_with(AUFS_META_PREFIX) {
                let hidden = &name[WHITEOUT_PREFIX.len()..];
                if !valid_name(hidden) {
                    return Err(invalid(&epath, "malformed whiteout name"));
                }
                self.whiteout(parent, hidden, &meta, &epath)?;
            }
            return Ok(epath);
        }

        let parent_fd = self.parent(parent, &epath)?;
        let parent_fd = parent_fd.as_fd();
        let rel = join(&comps);
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.file(entry, parent_fd, name, &meta, &epath)?;
            }
            EntryType::Directory => self.dir(parent_fd, name, &rel, &meta, &epath)?,
            EntryType::Symlink => {
                let target = link
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| invalid(&epath, "symlink without a target"))?;
                self.create_at(parent_fd, name, &epath, "creating symlink", |p, n| {
                    fs::symlinkat(target.as_slice(), p, n)
                })?;
                // docker's layer size counts a symlink as lstat does: its target's length
                self.size += target.len() as u64;
                self.set_meta_at(parent_fd, name, &meta, &epath, true)?;
            }
            EntryType::Link => {
                let target = link
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| invalid(&epath, "hard link without a target"))?;
                self.hard_link(parent_fd, name, &target, &epath)?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (file_type, dev) = if kind == EntryType::Fifo {
                    (FileType::Fifo, 0)
                } else {
                    let h = entry.header();
                    let major = h.device_major().map_err(header_err(&epath))?.unwrap_or(0);
                    let minor = h.device_minor().map_err(header_err(&epath))?.unwrap_or(0);
                    let file_type = if kind == EntryType::Char {
                        FileType::CharacterDevice
                    } else {
                        FileType::BlockDevice
                    };
                    (file_type, fs::makedev(major, minor))
                };
                self.create_at(parent_fd, name, &epath, "creating device node", |p, n| {
                    fs::mknodat(p, n, file_type, Mode::empty(), dev)
                })?;
                self.set_meta_at(parent_fd, name, &meta, &epath, false)?;
            }
            other => {
                return Err(LayerError::Unsupported {
                    path: epath,
                    kind: char::from(other.as_byte()),
                })
            }
        }
        self.written.insert(rel);
        Ok(epath)
    }

    /// Returns the directory holding `comps` (relative to the root), creating
    /// missing directories like docker does.
    fn parent(&mut self, comps: &[&[u8]], epath: &str) -> Result<Rc<OwnedFd>, LayerError> {
        let key = join(comps);
        if let Some((cached, fd)) = &self.cache {
            if *cached == key {
                return Ok(Rc::clone(fd));
            }
        }
        let fd = match open_dir_beneath(self.root.as_fd(), &key) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => self.create_parents(comps, epath)?,
            Err(e) => return Err(resolve_err(epath, e)),
        };
        let fd = Rc::new(fd);
        self.cache = Some((key, Rc::clone(&fd)));
        Ok(fd)
    }

    fn create_parents(&mut self, comps: &[&[u8]], epath: &str) -> Result<OwnedFd, LayerError> {
        let mut cur =
            open_dir_beneath(self.root.as_fd(), b"").map_err(io_err(epath, "opening root"))?;
        for i in 0..comps.len() {
            let prefix = join(&comps[..=i]);
            cur = match open_dir_beneath(self.root.as_fd(), &prefix) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    let op = "creating parent directory";
                    fs::mkdirat(&cur, comps[i], Mode::from_raw_mode(0o755))
                        .map_err(io_err(epath, op))?;
                    let fd = open_child_dir(cur.as_fd(), comps[i]).map_err(io_err(epath, op))?;
                    // Not subject to the umask, like docker's 0755.
                    fs::fchmod(&fd, Mode::from_raw_mode(0o755)).map_err(io_err(epath, op))?;
                    self.written.insert(prefix);
                    fd
                }
                Err(e) => return Err(resolve_err(epath, e)),
            };
        }
        Ok(cur)
    }

    /// Removes whatever is at `name` (a directory recursively), never
    /// following symlinks.
    fn remove_existing(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        epath: &str,
    ) -> Result<(), LayerError> {
        let op = "removing existing entry";
        let st = match lstat_at(parent, name) {
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(io_err(epath, op)(e)),
            Ok(st) => st,
        };
        // The cached directory may be the one removed, lie below it, or have
        // been reached through a symlink being removed.
        self.cache = None;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            fsutil::remove_all_at(parent, name).map_err(io_err(epath, op))
        } else {
            fs::unlinkat(parent, name, AtFlags::empty()).map_err(io_err(epath, op))
        }
    }

    /// Runs `create`; if `name` already exists, removes it and retries once.
    fn create_at<T>(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        epath: &str,
        op: &'static str,
        create: impl Fn(BorrowedFd<'_>, &[u8]) -> Result<T, Errno>,
    ) -> Result<T, LayerError> {
        match create(parent, name) {
            Err(Errno::EXIST) => {
                self.remove_existing(parent, name, epath)?;
                create(parent, name).map_err(io_err(epath, op))
            }
            other => other.map_err(io_err(epath, op)),
        }
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: BorrowedFd<'_>,
        name: &[u8],
        meta: &Meta,
        epath: &str,
    ) -> Result<(), LayerError> {
        let fd = self.create_at(parent, name, epath, "creating file", |p, n| {
            fs::openat(
                p,
                n,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        })?;
        let mut file = File::from(fd);
        let expected = entry.size();
        let mut hints = FrontToBack::new(0, expected);
        let mut got = 0u64;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(LayerError::Read {
                        after: epath.to_owned(),
                        source,
                    })
                }
            };
            hints.reserve(file.as_fd(), got + n as u64);
            file.write_all(&self.buf[..n])
                .map_err(|source| LayerError::Io {
                    path: epath.to_owned(),
                    op: "writing file",
                    source,
                })?;
            got += n as u64;
        }
        if got != expected {
            return Err(LayerError::Truncated {
                path: epath.to_owned(),
                got,
                expected,
            });
        }
        self.size += got;
        // The writeback starts now, so the caller's one `syncfs` finds little left.
        hints.finish(file.as_fd(), got);
        self.set_meta_fd(file.as_fd(), meta, epath, true)
    }

    fn dir(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        rel: &[u8],
        meta: &Meta,
        epath: &str,
    ) -> Result<(), LayerError> {
        let op = "creating directory";
        let mut replaced_whiteout = false;
        match fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let st = lstat_at(parent, name).map_err(io_err(epath, op))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    replaced_whiteout = self.whiteouts.contains(rel);
                    self.remove_existing(parent, name, epath)?;
                    fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                        .map_err(io_err(epath, op))?;
                }
            }
            Err(e) => return Err(io_err(epath, op)(e)),
        }
        let fd = open_child_dir(parent, name).map_err(io_err(epath, op))?;
        self.set_meta_fd(fd.as_fd(), meta, epath, false)?;
        if replaced_whiteout {
            // `.wh.d` then `d/` in one layer: a new directory replacing the
            // lower one, which overlayfs expresses as an opaque directory.
            set_opaque(fd.as_fd(), epath)?;
        }
        self.dir_times.push((rel.to_vec(), meta.times()));
        // Its children usually follow.
        self.cache = Some((rel.to_vec(), Rc::new(fd)));
        Ok(())
    }

    fn hard_link(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        target: &[u8],
        epath: &str,
    ) -> Result<(), LayerError> {
        let breakout = || LayerError::LinkBreakout {
            path: epath.to_owned(),
            target: String::from_utf8_lossy(target).into_owned(),
        };
        let tcomps = normalise(target).ok_or_else(breakout)?;
        let Some((tname, tparent)) = tcomps.split_last() else {
            return Err(invalid(epath, "hard link to the root directory"));
        };
        let tdir = match open_dir_beneath(self.root.as_fd(), &join(tparent)) {
            Ok(fd) => fd,
            Err(Errno::XDEV) => return Err(breakout()),
            Err(e) => return Err(io_err(epath, "resolving hard link target")(e)),
        };
        let op = "creating hard link";
        match fs::linkat(&tdir, *tname, parent, name, AtFlags::empty()) {
            Err(Errno::EXIST) => {
                let a = lstat_at(tdir.as_fd(), tname).map_err(io_err(epath, op))?;
                let b = lstat_at(parent, name).map_err(io_err(epath, op))?;
                if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) {
                    return Ok(());
                }
                self.remove_existing(parent, name, epath)?;
                fs::linkat(&tdir, *tname, parent, name, AtFlags::empty()).map_err(io_err(epath, op))
            }
            other => other.map_err(io_err(epath, op)),
        }
    }

    /// `dir/.wh.name`: hide `name` of lower layers.
    fn whiteout(
        &mut self,
        parent: &[&[u8]],
        hidden: &[u8],
        meta: &Meta,
        epath: &str,
    ) -> Result<(), LayerError> {
        let parent_fd = self.parent(parent, epath)?;
        let parent_fd = parent_fd.as_fd();
        let mut comps = parent.to_vec();
        comps.push(hidden);
        let rel = join(&comps);
        if self.written.contains(&rel) {
            // OCI: a whiteout only applies to lower layers; this layer's own
            // `name` stays. If it is a directory, the lower one it replaces
            // must not show through.
            if !self.whiteouts.contains(&rel) {
                if let Ok(fd) = open_child_dir(parent_fd, hidden) {
                    set_opaque(fd.as_fd(), epath)?;
                }
            }
            return Ok(());
        }
        self.remove_existing(parent_fd, hidden, epath)?;
        fs::mknodat(
            parent_fd,
            hidden,
            FileType::CharacterDevice,
            Mode::empty(),
            fs::makedev(0, 0),
        )
        .map_err(io_err(epath, "creating whiteout device"))?;
        fs::chownat(
            parent_fd,
            hidden,
            Some(meta.uid),
            Some(meta.gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(io_err(epath, "changing whiteout owner"))?;
        // Keeps a re-exported layer byte-identical.
        fs::utimensat(parent_fd, hidden, &meta.times(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(io_err(epath, "setting whiteout times"))?;
        self.written.insert(rel.clone());
        self.whiteouts.insert(rel);
        Ok(())
    }

    /// `dir/.wh..wh..opq`: hide everything lower layers have in `dir`.
    fn opaque(&mut self, dir: &[&[u8]], epath: &str) -> Result<(), LayerError> {
        let fd = self.parent(dir, epath)?;
        if self.flatten {
            self.prune(fd.as_fd(), &join(dir), epath)?;
        }
        set_opaque(fd.as_fd(), epath)
    }

    /// Removes from `dir` everything this layer did not write (flattening).
    fn prune(&mut self, dir: BorrowedFd<'_>, rel: &[u8], epath: &str) -> Result<(), LayerError> {
        let op = "removing entries hidden by an opaque directory";
        for (child, kind) in fsutil::list_dir(dir).map_err(io_err(epath, op))? {
            let mut child_rel = rel.to_vec();
            if !child_rel.is_empty() {
                child_rel.push(b'/');
            }
            child_rel.extend_from_slice(&child);
            if !self.written.contains(&child_rel) {
                self.remove_existing(dir, &child, epath)?;
            } else if kind == FileType::Directory {
                let sub = open_child_dir(dir, &child).map_err(io_err(epath, op))?;
                self.prune(sub.as_fd(), &child_rel, epath)?;
            }
        }
        Ok(())
    }

    /// Owner, mode, xattrs and (unless a directory) times through an fd.
    fn set_meta_fd(
        &self,
        fd: BorrowedFd<'_>,
        meta: &Meta,
        epath: &str,
        times: bool,
    ) -> Result<(), LayerError> {
        // chown first: it clears setuid bits and security.capability.
        fs::fchown(fd, Some(meta.uid), Some(meta.gid)).map_err(io_err(epath, "changing owner"))?;
        fs::fchmod(fd, Mode::from_raw_mode(meta.mode)).map_err(io_err(epath, "changing mode"))?;
        for (name, value) in &meta.xattrs {
            set_xattr(
                || fs::fsetxattr(fd, name.as_slice(), value, XattrFlags::empty()),
                name,
                epath,
            )?;
        }
        if times {
            fs::futimens(fd, &meta.times()).map_err(io_err(epath, "setting times"))?;
        }
        Ok(())
    }

    /// Metadata of a symlink, device or fifo, without following symlinks.
    fn set_meta_at(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        meta: &Meta,
        epath: &str,
        symlink: bool,
    ) -> Result<(), LayerError> {
        fs::chownat(
            parent,
            name,
            Some(meta.uid),
            Some(meta.gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(io_err(epath, "changing owner"))?;
        if !symlink {
            // Just created by us as a device node or fifo: not a symlink.
            fs::chmodat(
                parent,
                name,
                Mode::from_raw_mode(meta.mode),
                AtFlags::empty(),
            )
            .map_err(io_err(epath, "changing mode"))?;
        }
        if !meta.xattrs.is_empty() {
            let path = fsutil::proc_path(parent, name);
            for (xname, value) in &meta.xattrs {
                set_xattr(
                    || {
                        fs::lsetxattr(
                            path.as_slice(),
                            xname.as_slice(),
                            value,
                            XattrFlags::empty(),
                        )
                    },
                    xname,
                    epath,
                )?;
            }
        }
        fs::utimensat(parent, name, &meta.times(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(io_err(epath, "setting times"))
    }

    /// Sets directory times once all entries are in place. A directory that
    /// a later entry replaced is skipped.
    fn set_dir_times(&self) -> Result<(), LayerError> {
        for (rel, times) in &self.dir_times {
            let path: &[u8] = if rel.is_empty() { b"." } else { rel };
            let fd = match fs::openat2(
                &self.root,
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            ) {
                Ok(fd) => fd,
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV | Errno::AGAIN) => {
                    continue
                }
                Err(e) => {
                    return Err(io_err(&String::from_utf8_lossy(rel), "opening directory")(
                        e,
                    ))
                }
            };
            fs::futimens(&fd, times)
                .map_err(io_err(&String::from_utf8_lossy(rel), "setting times"))?;
        }
        Ok(())
    }
}

/// Reads owner, mode, times and PAX xattrs of an entry.
fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, epath: &str) -> Result<Meta, LayerError> {
    let h = entry.header();
    let old = h.as_old();
    let mode =
        lenient(&old.mode, h.mode().map(u64::from)).map_err(header_err(epath))? as u32 & 0o7777;
    // PAX uid/gid were already folded into the header by the tar crate.
    let uid = Uid::from_raw(id_from(
        lenient(&old.uid, h.uid()).map_err(header_err(epath))?,
        epath,
    )?);
    let gid = Gid::from_raw(id_from(
        lenient(&old.gid, h.gid()).map_err(header_err(epath))?,
        epath,
    )?);
    let secs = lenient(&old.mtime, h.mtime()).map_err(header_err(epath))?;
    let mut mtime = Timespec {
        tv_sec: i64::try_from(secs).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(header_err(epath))? {
        for ext in exts {
            let ext = ext.map_err(header_err(epath))?;
            let key = ext.key_bytes();
            if let Some(name) = key.strip_prefix(XATTR_PREFIX) {
                if name.starts_with(OVERLAY_XATTR_PREFIX) {
                    tracing::warn!(path = %epath, xattr = %String::from_utf8_lossy(name), "ignoring overlayfs xattr in layer");
                } else {
                    xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
                }
            } else if key == b"mtime" {
                if let Some((s, ns)) = parse_time(ext.value_bytes()) {
                    mtime = Timespec {
                        tv_sec: s,
                        tv_nsec: i64::from(ns),
                    };
                }
            }
        }
    }
    Ok(Meta {
        mode,
        uid,
        gid,
        mtime,
        xattrs,
    })
}

/// Sets an xattr; like docker, a filesystem or privilege that does not allow
/// it (EPERM, ENOTSUP) only warns.
fn set_xattr(
    set: impl FnOnce() -> Result<(), Errno>,
    name: &[u8],
    epath: &str,
) -> Result<(), LayerError> {
    match set() {
        Ok(()) => Ok(()),
        Err(e) if is_ignorable_xattr_error(e) => {
            tracing::warn!(path = %epath, xattr = %String::from_utf8_lossy(name), error = %e, "cannot set extended attribute; ignored");
            Ok(())
        }
        Err(e) => Err(io_err(epath, "setting extended attribute")(e)),
    }
}

/// Marks a directory opaque for overlayfs. Not optional: without it lower
/// layers would show through.
fn set_opaque(fd: BorrowedFd<'_>, epath: &str) -> Result<(), LayerError> {
    fs::fsetxattr(fd, OPAQUE_XATTR, b"y", XattrFlags::empty())
        .map_err(io_err(epath, "marking directory opaque"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_numeric_header_fields_read_as_zero() {
        assert_eq!(
            super::lenient(&[0; 8], Err(std::io::Error::other("x"))).unwrap(),
            0
        );
        assert_eq!(
            super::lenient(b"       \0", Err(std::io::Error::other("x"))).unwrap(),
            0
        );
        assert!(super::lenient(b"zz     \0", Err(std::io::Error::other("x"))).is_err());
        assert_eq!(super::lenient(b"0000017\0", Ok(15)).unwrap(), 15);
    }

    use std::io::Write as _;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::path::PathBuf;

    use super::*;
    use crate::testutil::{is_whiteout, sha256, xattr, RawTar, Spec};

    /// A target directory next to a sentinel directory holding `secret`.
    struct Sandbox {
        _base: tempfile::TempDir,
        target: PathBuf,
        outside: PathBuf,
    }

    impl Sandbox {
        fn new() -> Self {
            let base = tempfile::tempdir().unwrap();
            let target = base.path().join("target");
            let outside = base.path().join("outside");
            std::fs::create_dir(&target).unwrap();
            std::fs::create_dir(&outside).unwrap();
            std::fs::write(outside.join("secret"), b"secret").unwrap();
            Sandbox {
                target,
                outside,
                _base: base,
            }
        }

        fn apply(&self, tar: &RawTar) -> Result<Applied, LayerError> {
            apply(&tar.finish()[..], &self.target)
        }

        /// Nothing outside the target changed.
        fn assert_outside_untouched(&self) {
            let names: Vec<_> = std::fs::read_dir(&self.outside)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["secret"], "files appeared outside the target");
            let secret = self.outside.join("secret");
            assert_eq!(std::fs::read(&secret).unwrap(), b"secret");
            let md = std::fs::symlink_metadata(&secret).unwrap();
            assert!(md.is_file());
            assert_eq!(md.nlink(), 1, "secret was hard-linked");
            assert_eq!(xattr(&self.outside, OPAQUE_XATTR), None);
            let base_names: Vec<_> = std::fs::read_dir(self.outside.parent().unwrap())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                base_names.len(),
                2,
                "files appeared next to the target: {base_names:?}"
            );
        }
    }

    #[test]
    fn applies_types_and_metadata() {
        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.entry(
            b"etc/",
            b"",
            Spec {
                kind: EntryType::Directory,
                mode: 0o1775,
                uid: 7,
                gid: 8,
                mtime: 1000,
                ..Spec::default()
            },
        );
        tar.entry(
            b"etc/passwd",
            b"root:x:0:0",
            Spec {
                mode: 0o4755,
                uid: 1000,
                gid: 1001,
                mtime: 1_234_567_890,
                pax: &[
                    (b"SCHILY.xattr.user.test", b"v\0bin"),
                    (b"mtime", b"1234567890.25"),
                ],
                ..Spec::default()
            },
        );
        tar.hardlink("etc/passwd2", "/etc/passwd");
        tar.symlink("bin", "usr/bin");
        tar.entry(
            b"dev/null",
            b"",
            Spec {
                kind: EntryType::Char,
                mode: 0o666,
                dev: (1, 3),
                ..Spec::default()
            },
        );
        tar.entry(
            b"dev/loop0",
            b"",
            Spec {
                kind: EntryType::Block,
                mode: 0o660,
                dev: (7, 0),
                gid: 6,
                ..Spec::default()
            },
        );
        tar.entry(
            b"run/p",
            b"",
            Spec {
                kind: EntryType::Fifo,
                mode: 0o600,
                ..Spec::default()
            },
        );
        let bytes = tar.finish();
        let applied = apply(&bytes[..], &sb.target).unwrap();
        assert_eq!(applied.diff_id, sha256(&bytes));
        // 10 bytes of file data and a 7-character symlink target
        assert_eq!(applied.size, 17);

        let t = &sb.target;
        let etc = std::fs::symlink_metadata(t.join("etc")).unwrap();
        assert!(etc.is_dir());
        assert_eq!(etc.mode() & 0o7777, 0o1775);
        assert_eq!((etc.uid(), etc.gid()), (7, 8));
        // Set after its children were created.
        assert_eq!(etc.mtime(), 1000);

        let passwd = std::fs::symlink_metadata(t.join("etc/passwd")).unwrap();
        assert_eq!(std::fs::read(t.join("etc/passwd")).unwrap(), b"root:x:0:0");
        assert_eq!(passwd.mode() & 0o7777, 0o4755);
        assert_eq!((passwd.uid(), passwd.gid()), (1000, 1001));
        assert_eq!(
            (passwd.mtime(), passwd.mtime_nsec()),
            (1_234_567_890, 250_000_000)
        );
        assert_eq!(passwd.nlink(), 2);
        assert_eq!(
            xattr(&t.join("etc/passwd"), "user.test").as_deref(),
            Some(&b"v\0bin"[..])
        );
        let link = std::fs::symlink_metadata(t.join("etc/passwd2")).unwrap();
        assert_eq!(link.ino(), passwd.ino());

        assert_eq!(
            std::fs::read_link(t.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        let null = std::fs::symlink_metadata(t.join("dev/null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), fs::makedev(1, 3));
        assert_eq!(null.mode() & 0o7777, 0o666);
        let lo = std::fs::symlink_metadata(t.join("dev/loop0")).unwrap();
        assert!(lo.file_type().is_block_device());
        assert_eq!((lo.rdev(), lo.gid()), (fs::makedev(7, 0), 6));
        // Implicit parents are created 0755.
        let dev = std::fs::symlink_metadata(t.join("dev")).unwrap();
        assert_eq!(dev.mode() & 0o7777, 0o755);
        assert!(std::fs::symlink_metadata(t.join("run/p"))
            .unwrap()
            .file_type()
            .is_fifo());
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.dir("a/")
            .file("a/.wh.gone", b"")
            .dir("c/")
            .file("c/.wh..wh..opq", b"")
            .file("c/new", b"n");
        tar.file("a/.wh..wh.plnk", b"");
        sb.apply(&tar).unwrap();
        let t = &sb.target;
        assert!(is_whiteout(&t.join("a/gone")));
        assert!(!t.join("a/.wh.gone").exists());
        assert!(!t.join("a/.wh..wh.plnk").exists());
        assert_eq!(
            xattr(&t.join("c"), OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(xattr(&t.join("a"), OPAQUE_XATTR), None);
        assert_eq!(std::fs::read(t.join("c/new")).unwrap(), b"n");
        assert!(!t.join("c/.wh..wh..opq").exists());
    }

    #[test]
    fn whiteout_then_directory_in_one_layer_is_opaque() {
        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.file(".wh.d", b"").dir("d/").file("d/x", b"x");
        // Spec: a whiteout does not hide this layer's own entries.
        tar.dir("e/").file("e/y", b"y").file(".wh.e", b"");
        sb.apply(&tar).unwrap();
        let t = &sb.target;
        assert!(t.join("d").is_dir());
        assert_eq!(
            xattr(&t.join("d"), OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(std::fs::read(t.join("e/y")).unwrap(), b"y");
        assert_eq!(
            xattr(&t.join("e"), OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..])
        );
    }

    #[test]
    fn flattening_layers_applies_whiteouts_to_lower_content() {
        let sb = Sandbox::new();
        let mut lower = RawTar::new();
        lower.dir("a/").file("a/x", b"x").file("a/y", b"y");
        lower
            .dir("d/")
            .file("d/old", b"o")
            .dir("d/sub/")
            .file("d/sub/deep", b"d");
        lower.dir("gone/").file("gone/f", b"f");
        sb.apply(&lower).unwrap();

        let mut upper = RawTar::new();
        upper.file("a/.wh.x", b"").file(".wh.gone", b"");
        upper
            .dir("d/")
            .file("d/keep", b"k")
            .file("d/.wh..wh..opq", b"")
            .dir("d/sub/")
            .file("d/sub/new", b"n");
        sb.apply(&upper).unwrap();
        let t = &sb.target;
        assert!(is_whiteout(&t.join("a/x")));
        assert_eq!(std::fs::read(t.join("a/y")).unwrap(), b"y");
        assert!(is_whiteout(&t.join("gone")));
        assert_eq!(
            xattr(&t.join("d"), OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..])
        );
        assert!(!t.join("d/old").exists());
        assert!(!t.join("d/sub/deep").exists());
        // Written by the upper layer itself (before and after the marker).
        assert_eq!(std::fs::read(t.join("d/keep")).unwrap(), b"k");
        assert_eq!(std::fs::read(t.join("d/sub/new")).unwrap(), b"n");
    }

    #[test]
    fn replaces_existing_entries() {
        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.file("f", b"old").file("f", b"new");
        tar.dir("d/").file("d/inner", b"i").file("d", b"now a file");
        tar.dir("k/").file("k/a", b"a").entry(
            b"k/",
            b"",
            Spec {
                kind: EntryType::Directory,
                mode: 0o700,
                ..Spec::default()
            },
        );
        tar.file("s", b"file").dir("s/").file("s/in", b"in");
        tar.symlink("l", "/etc/shadow").file("l", b"plain");
        sb.apply(&tar).unwrap();
        let t = &sb.target;
        assert_eq!(std::fs::read(t.join("f")).unwrap(), b"new");
        assert_eq!(std::fs::read(t.join("d")).unwrap(), b"now a file");
        assert_eq!(std::fs::read(t.join("k/a")).unwrap(), b"a");
        assert_eq!(
            std::fs::symlink_metadata(t.join("k")).unwrap().mode() & 0o7777,
            0o700
        );
        assert_eq!(std::fs::read(t.join("s/in")).unwrap(), b"in");
        let l = std::fs::symlink_metadata(t.join("l")).unwrap();
        assert!(l.is_file());
    }

    #[test]
    fn dot_dot_inside_root_is_normalised() {
        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.file("./a/../b", b"b").file("/abs", b"abs").dir("./");
        sb.apply(&tar).unwrap();
        assert_eq!(std::fs::read(sb.target.join("b")).unwrap(), b"b");
        assert_eq!(std::fs::read(sb.target.join("abs")).unwrap(), b"abs");
        assert!(!sb.target.join("a").exists());
        sb.assert_outside_untouched();
    }

    fn assert_breakout(sb: &Sandbox, tar: &RawTar, entry: &str) {
        let err = sb.apply(tar).expect_err("escape must fail");
        let text = err.to_string();
        assert!(
            matches!(
                err,
                LayerError::Breakout { .. } | LayerError::LinkBreakout { .. }
            ),
            "unexpected error {text}"
        );
        assert!(text.contains(entry), "{text:?} does not name {entry:?}");
        sb.assert_outside_untouched();
    }

    /// Random layers built from hostile pieces (`..`, absolute paths, symlinks
    /// and hard links into the outside directory, whiteouts), applied one over
    /// the other into the same target: whatever each one does, succeed or fail,
    /// nothing outside the target may change.
    #[test]
    fn random_hostile_layers_never_touch_the_outside() {
        let sb = Sandbox::new();
        let outside = sb.outside.to_str().unwrap().to_owned();
        let parts = [
            "..",
            ".",
            "a",
            "b",
            "evil",
            "outside",
            "secret",
            ".wh.a",
            ".wh.secret",
            ".wh..wh..opq",
        ];
        let links = [
            outside.clone(),
            format!("{outside}/secret"),
            "../outside".into(),
            "../../..".into(),
            "a".into(),
            "evil/secret".into(),
            "/".into(),
        ];
        // xorshift: deterministic, so a failure replays
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut applied, mut refused) = (0, 0);
        for _ in 0..300 {
            let mut tar = RawTar::new();
            for _ in 0..1 + next(6) {
                let depth = 1 + next(3);
                let path: Vec<&str> = (0..depth).map(|_| parts[next(parts.len())]).collect();
                let mut path = path.join("/");
                if next(8) == 0 {
                    path.insert(0, '/');
                }
                match next(5) {
                    0 => tar.dir(&path),
                    1 => tar.symlink(&path, &links[next(links.len())]),
                    2 => tar.hardlink(&path, &links[next(links.len())]),
                    _ => tar.file(&path, b"pwned"),
                };
            }
            match sb.apply(&tar) {
                Ok(_) => applied += 1,
                Err(_) => refused += 1,
            }
            sb.assert_outside_untouched();
        }
        // both paths were exercised
        assert!(
            applied > 20 && refused > 20,
            "applied {applied}, refused {refused}"
        );
    }

    #[test]
    fn escapes_with_dot_dot_fail() {
        for path in [
            "../outside/new",
            "a/../../outside/new",
            "/../outside/new",
            "./x/./../../outside/new",
        ] {
            let sb = Sandbox::new();
            let mut tar = RawTar::new();
            tar.file(path, b"pwned");
            assert_breakout(&sb, &tar, path);
        }
        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.dir("../outside/newdir/");
        assert_breakout(&sb, &tar, "../outside/newdir/");
    }

    #[test]
    fn escapes_through_symlinks_fail() {
        let cases = |outside: &str| {
            vec![
                // Absolute and relative symlinks used as a parent.
                (outside.to_owned(), "evil/passwd", EntryType::Regular),
                ("../outside".to_owned(), "evil/passwd", EntryType::Regular),
                (
                    "../../../../../../../..".to_owned(),
                    "evil/passwd",
                    EntryType::Regular,
                ),
                (outside.to_owned(), "evil/sub/", EntryType::Directory),
                (outside.to_owned(), "evil/deep/er/file", EntryType::Regular),
                (outside.to_owned(), "evil/l", EntryType::Symlink),
                (outside.to_owned(), "evil/fifo", EntryType::Fifo),
                // Whiteouts must not delete or mark anything outside.
                (outside.to_owned(), "evil/.wh.secret", EntryType::Regular),
                (outside.to_owned(), "evil/.wh..wh..opq", EntryType::Regular),
                (
                    "../outside".to_owned(),
                    "evil/.wh.secret",
                    EntryType::Regular,
                ),
            ]
        };
        let probe = Sandbox::new();
        for (target, path, kind) in cases(probe.outside.to_str().unwrap()) {
            let sb = Sandbox::new();
            let mut tar = RawTar::new();
            tar.symlink(
                "evil",
                &target.replace(
                    probe.outside.to_str().unwrap(),
                    sb.outside.to_str().unwrap(),
                ),
            );
            tar.entry(
                path.as_bytes(),
                b"",
                Spec {
                    kind,
                    link: Some(b"x"),
                    ..Spec::default()
                },
            );
            assert_breakout(&sb, &tar, path);
        }
    }

    #[test]
    fn hard_links_outside_fail() {
        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.hardlink("l", "../outside/secret");
        assert_breakout(&sb, &tar, "l");

        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        let abs = format!("{}/secret", sb.outside.display());
        tar.symlink("evil", sb.outside.to_str().unwrap())
            .hardlink("l", "evil/secret");
        assert_breakout(&sb, &tar, "l");

        // An absolute target is taken inside the root, where it does not exist.
        let sb2 = Sandbox::new();
        let mut tar = RawTar::new();
        tar.hardlink(
            "l",
            &abs.replace(sb.outside.to_str().unwrap(), sb2.outside.to_str().unwrap()),
        );
        let err = sb2.apply(&tar).unwrap_err();
        assert!(matches!(err, LayerError::Io { .. }), "{err}");
        sb2.assert_outside_untouched();

        // A symlink being the final component is replaced, not followed.
        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.symlink("s", &format!("{}/secret", sb.outside.display()))
            .file("s", b"pwned");
        tar.symlink("t", &format!("{}/secret", sb.outside.display()))
            .hardlink("t", "s");
        sb.apply(&tar).unwrap();
        assert_eq!(std::fs::read(sb.target.join("t")).unwrap(), b"pwned");
        sb.assert_outside_untouched();
    }

    #[test]
    fn symlink_inside_root_is_followed_for_parents() {
        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.dir("usr/lib/")
            .symlink("lib", "usr/lib")
            .file("lib/x", b"x");
        sb.apply(&tar).unwrap();
        assert_eq!(std::fs::read(sb.target.join("usr/lib/x")).unwrap(), b"x");
    }

    #[test]
    fn replaced_symlink_is_not_used_as_parent_afterwards() {
        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.dir("usr/lib/")
            .symlink("lib", "usr/lib")
            .file("lib/x", b"x");
        tar.file("lib", b"now a file").file("lib/y", b"y");
        let err = sb.apply(&tar).unwrap_err();
        assert!(err.to_string().contains("lib/y"), "{err}");
        assert!(!sb.target.join("usr/lib/y").exists());
    }

    #[test]
    fn compressed_layers_have_the_plain_diff_id() {
        let mut tar = RawTar::new();
        tar.dir("d/")
            .file("d/f", &vec![7u8; 300_000])
            .symlink("d/l", "f");
        let plain = tar.finish();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&plain[..], 3).unwrap();
        let mut ids = Vec::new();
        for bytes in [&plain, &gz, &zst] {
            let sb = Sandbox::new();
            let applied = apply(&bytes[..], &sb.target).unwrap();
            assert_eq!(std::fs::read(sb.target.join("d/f")).unwrap().len(), 300_000);
            assert_eq!(applied.size, 300_001); // the file and a 1-character symlink target
            ids.push(applied.diff_id);
        }
        assert_eq!(ids, vec![sha256(&plain); 3]);
    }

    #[test]
    fn diff_id_covers_trailing_bytes() {
        let mut tar = RawTar::new();
        tar.file("f", b"data");
        let mut bytes = tar.finish();
        bytes.extend_from_slice(&[0u8; 10 * 1024]);
        bytes.extend_from_slice(b"junk after the archive");
        let sb = Sandbox::new();
        let applied = apply(&bytes[..], &sb.target).unwrap();
        assert_eq!(applied.diff_id, sha256(&bytes));
        assert_eq!(applied.size, 4);
    }

    #[test]
    fn truncated_layers_fail() {
        let mut tar = RawTar::new();
        tar.file("a", b"a").file("big", &vec![1u8; 5000]);
        let bytes = tar.finish();
        // Inside big's data, inside its header, inside a's header.
        for cut in [512 * 3 + 100, 512 * 2 + 100, 200] {
            let sb = Sandbox::new();
            let err = apply(&bytes[..cut], &sb.target).unwrap_err();
            assert!(
                matches!(err, LayerError::Truncated { .. } | LayerError::Read { .. }),
                "{err}"
            );
        }
        let sb = Sandbox::new();
        let err = apply(&bytes[..512 * 3 + 100], &sb.target).unwrap_err();
        assert!(err.to_string().contains("big"), "{err}");
        // A corrupt gzip stream fails too.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        let gz = gz.finish().unwrap();
        let sb = Sandbox::new();
        assert!(apply(&gz[..gz.len() / 2], &sb.target).is_err());
    }

    #[test]
    fn bad_entries_fail_with_their_path() {
        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.file("a/.wh.", b"");
        let err = sb.apply(&tar).unwrap_err();
        assert!(err.to_string().contains("a/.wh."), "{err}");

        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.hardlink("l", "missing");
        let err = sb.apply(&tar).unwrap_err();
        assert!(err.to_string().contains("\"l\""), "{err}");

        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.file("f", b"").entry(b"f/x", b"", Spec::default());
        assert!(sb.apply(&tar).unwrap_err().to_string().contains("f/x"));

        let target = sb.target.join("nonexistent");
        assert!(matches!(
            apply(&b""[..], &target),
            Err(LayerError::Target { .. })
        ));
    }

    #[test]
    fn overlay_xattrs_from_layers_are_dropped() {
        let sb = Sandbox::new();
        let mut tar = RawTar::new();
        tar.entry(
            b"d/",
            b"",
            Spec {
                kind: EntryType::Directory,
                pax: &[
                    (b"SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
                    (b"SCHILY.xattr.trusted.t", b"1"),
                ],
                ..Spec::default()
            },
        );
        sb.apply(&tar).unwrap();
        assert_eq!(
            xattr(&sb.target.join("d"), "trusted.overlay.redirect"),
            None
        );
        assert_eq!(
            xattr(&sb.target.join("d"), "trusted.t").as_deref(),
            Some(&b"1"[..])
        );
    }
}
