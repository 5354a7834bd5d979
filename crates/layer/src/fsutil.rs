//! Small fd-relative filesystem helpers shared by apply and write.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{self, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Opens the directory `rel` (components joined by `/`, empty for the root)
/// below `root`. The kernel refuses to leave `root`: absolute symlinks and
/// `..` escapes fail with `EXDEV`, procfs magic links with `ELOOP`.
pub(crate) fn open_dir_beneath(root: BorrowedFd<'_>, rel: &[u8]) -> Result<OwnedFd, Errno> {
    let path: &[u8] = if rel.is_empty() { b"." } else { rel };
    let mut tries = 0;
    loop {
        match fs::openat2(
            root,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        ) {
            // EAGAIN: a concurrent rename somewhere on the system; retry.
            Err(Errno::AGAIN) if tries < 16 => tries += 1,
            other => return other,
        }
    }
}

/// Opens the directory `name` in `dir` without following a symlink.
pub(crate) fn open_child_dir(dir: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, Errno> {
    fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// `lstat` of `name` in `dir`.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<fs::Stat, Errno> {
    fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
}

/// Lists the names in a directory, without `.` and `..`.
pub(crate) fn list_dir(dir: BorrowedFd<'_>) -> Result<Vec<(Vec<u8>, FileType)>, Errno> {
    let mut it = fs::Dir::read_from(dir)?;
    let mut names = Vec::new();
    while let Some(entry) = it.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push((name.to_vec(), entry.file_type()));
        }
    }
    Ok(names)
}

/// Removes `name` from `dir`, recursively if it is a directory. Never follows
/// symlinks. A missing `name` is not an error.
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), Errno> {
    let st = match lstat_at(dir, name) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let sub = open_child_dir(dir, name)?;
        // Collect first: removing while reading a directory may skip entries.
        for (child, kind) in list_dir(sub.as_fd())? {
            if kind == FileType::Directory || kind == FileType::Unknown {
                remove_all_at(sub.as_fd(), &child)?;
            } else {
                match fs::unlinkat(&sub, child.as_slice(), AtFlags::empty()) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
    } else {
        fs::unlinkat(dir, name, AtFlags::empty())
    }
}

/// A path naming `name` inside the directory open as `dir` through procfs,
/// for the few calls with no fd-relative form (`l*xattr`). The fd's magic
/// link is resolved by the kernel to that very directory and `name`, the
/// final component, is not followed by the `l*` calls.
pub(crate) fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> Vec<u8> {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_all_does_not_follow_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), b"x").unwrap();
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("d");
        std::fs::create_dir_all(d.join("sub/deeper")).unwrap();
        std::fs::write(d.join("sub/f"), b"y").unwrap();
        std::os::unix::fs::symlink(outside.path(), d.join("link")).unwrap();
        let fd = std::fs::File::open(root.path()).unwrap();
        remove_all_at(fd.as_fd(), b"d").unwrap();
        assert!(!d.exists());
        assert!(outside.path().join("keep").exists());
        remove_all_at(fd.as_fd(), b"missing").unwrap();
    }

    #[test]
    fn open_beneath_refuses_escaping_symlinks() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("real")).unwrap();
        std::os::unix::fs::symlink("/etc", root.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../..", root.path().join("up")).unwrap();
        std::os::unix::fs::symlink("real", root.path().join("inside")).unwrap();
        let fd = std::fs::File::open(root.path()).unwrap();
        assert_eq!(
            open_dir_beneath(fd.as_fd(), b"abs").err(),
            Some(Errno::XDEV)
        );
        assert_eq!(open_dir_beneath(fd.as_fd(), b"up").err(), Some(Errno::XDEV));
        assert!(open_dir_beneath(fd.as_fd(), b"inside").is_ok());
        assert!(open_dir_beneath(fd.as_fd(), b"").is_ok());
    }
}
