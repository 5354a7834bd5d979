//! Placement hints for directories.

use std::path::Path;

/// Marks `dir` as the top of a hierarchy (`FS_TOPDIR_FL`, `chattr +T`), or
/// clears the mark, so ext4 places each directory made in it in a block group
/// of its own choosing, or in `dir`'s group.
///
/// Why: ext4 without a journal never reuses an inode freed in the last seconds,
/// and a new inode is found by scanning past every such inode of its group.
/// Unpacking a layer right after removing one (`rmi` then `pull`) in the same
/// group made each of busybox's 400 symlinks scan the 400 just freed: a third
/// of the pull's CPU. The choice has its own cost, a scan of the file system's
/// groups per directory made, which outweighs that for a few small
/// directories at a time. Other file systems have no such flag; nothing to do
/// there.
pub fn spread_subdirectories(dir: &Path, spread: bool) {
    use rustix::fs::{ioctl_getflags, ioctl_setflags, open, IFlags, Mode, OFlags};
    let _ = (|| -> rustix::io::Result<()> {
        let fd = open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let flags = ioctl_getflags(&fd)?;
        if flags.contains(IFlags::TOPDIR) != spread {
            ioctl_setflags(&fd, flags ^ IFlags::TOPDIR)?;
        }
        Ok(())
    })();
}
