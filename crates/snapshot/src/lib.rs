//! berth-snapshot: unpacked layers on disk, the lower directories of overlayfs.
//!
//! A committed snapshot is `<root>/<key>/` and never changes again; it is made by
//! filling a directory from [`Snapshotter::prepare`] and renaming it into place
//! with [`Prepared::commit`], so a crash never leaves a half-filled snapshot
//! under a committed key. Keys are layer chain ids (hex), chosen by the caller.
//!
//! Invariant: no knowledge of tar, images or containers; only directories.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

type Result<T> = std::result::Result<T, SnapshotError>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub struct Snapshotter {
    root: PathBuf,
    tmp: PathBuf,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl Snapshotter {
    /// Opens (creating) the snapshot root and removes preparations a crash left.
    pub fn open(root: &Path) -> Result<Snapshotter> {
        let tmp = root.join(".tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        berth_fshints::spread_subdirectories(&tmp, true);
        Ok(Snapshotter {
            root: root.to_path_buf(),
            tmp,
        })
    }

    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub fn exists(&self, key: &str) -> bool {
        self.path(key).is_dir()
    }

    /// A fresh, empty directory to fill; removed again unless committed.
    pub fn prepare(&self) -> Result<Prepared> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = self.tmp.join(format!("{}-{n}", std::process::id()));
        fs::create_dir(&dir).map_err(io_err(&dir))?;
        Ok(Prepared {
            dir,
            root: self.root.clone(),
        })
    }

    /// Removes a committed snapshot (moved aside first, so a crash midway
    /// leaves no half-deleted snapshot under its key).
    pub fn remove(&self, key: &str) -> Result<()> {
        let src = self.path(key);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let doomed = self.tmp.join(format!("rm-{}-{n}", std::process::id()));
        match fs::rename(&src, &doomed) {
            Ok(()) => fs::remove_dir_all(&doomed).map_err(io_err(&doomed)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SnapshotError::Io {
                path: src,
                source: e,
            }),
        }
    }

    /// Keys of all committed snapshots.
    pub fn list(&self) -> Result<Vec<String>> {
        let rd = fs::read_dir(&self.root).map_err(io_err(&self.root))?;
        Ok(rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect())
    }
}

/// A snapshot being filled.
pub struct Prepared {
    dir: PathBuf,
    root: PathBuf,
}

impl Prepared {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Publishes the directory under `key`. If another writer committed the same
    /// key first, that one is kept (same key, same content) and ours is dropped.
    pub fn commit(mut self, key: &str) -> Result<PathBuf> {
        let dst = self.root.join(key);
        let dir = std::mem::take(&mut self.dir);
        if dst.exists() {
            let _ = fs::remove_dir_all(&dir);
        } else if let Err(e) = fs::rename(&dir, &dst) {
            let _ = fs::remove_dir_all(&dir);
            if !dst.exists() {
                return Err(SnapshotError::Io {
                    path: dst,
                    source: e,
                });
            }
        }
        Ok(dst)
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_commit_remove() {
        let root = tempfile::tempdir().unwrap();
        let s = Snapshotter::open(root.path()).unwrap();
        let p = s.prepare().unwrap();
        fs::write(p.path().join("f"), b"x").unwrap();
        let path = p.commit("abc").unwrap();
        assert_eq!(fs::read(path.join("f")).unwrap(), b"x");
        assert_eq!(s.list().unwrap(), vec!["abc".to_string()]);
        s.remove("abc").unwrap();
        assert!(s.list().unwrap().is_empty());
        s.remove("abc").unwrap();
    }

    #[test]
    fn dropped_preparation_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let s = Snapshotter::open(root.path()).unwrap();
        let p = s.prepare().unwrap();
        fs::write(p.path().join("f"), b"x").unwrap();
        drop(p);
        assert_eq!(fs::read_dir(root.path().join(".tmp")).unwrap().count(), 0);
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn preparations_are_made_under_a_top_directory_where_the_fs_has_one() {
        use rustix::fs::{ioctl_getflags, IFlags};
        let root = tempfile::tempdir().unwrap();
        let s = Snapshotter::open(root.path()).unwrap();
        let tmp = fs::File::open(&s.tmp).unwrap();
        match ioctl_getflags(&tmp) {
            // ext4 (the test machines' /tmp) and the other file systems with inode flags.
            Ok(flags) => assert!(flags.contains(IFlags::TOPDIR), "{flags:?}"),
            Err(e) => eprintln!("no inode flags here ({e}); nothing to check"),
        }
    }
}
