//! berth-fshints: hints to the file system about where and how berth writes.
//! Directories made for layers and containers are placed by [`spread_subdirectories`];
//! large files written front to back (blobs, a layer's files) get their disk space
//! reserved ahead of the writes and their writeback started behind them
//! ([`FrontToBack`]).
//!
//! Invariant: hints only. A file system that ignores one, or fails it, gives the same
//! result, only more slowly; nothing here returns an error.

mod dirs;

use std::os::fd::{AsRawFd, BorrowedFd};

pub use dirs::spread_subdirectories;

/// Writeback is started every this many bytes.
const WRITEBACK_EVERY: u64 = 8 << 20;
/// Disk space is reserved this far ahead of the writes, at most: a size that a
/// manifest or tar header only claims never reserves more than this at once.
const RESERVE_AHEAD: u64 = 32 << 20;
/// Files smaller than this get no hints: for them, the extra system call costs more
/// than it spares.
const HINT_MIN: u64 = 1 << 20;

/// Asks the kernel to start writing a file's dirty pages from `offset` on
/// (`len` bytes; 0: to the end), without waiting: the sync that later makes the
/// file durable then finds little left to do, instead of flushing all of it.
pub fn start_writeback(fd: BorrowedFd<'_>, offset: u64, len: u64) {
    // SAFETY: sync_file_range only reads its integer arguments; `fd` is open.
    let rc = unsafe {
        libc::sync_file_range(
            fd.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "sync_file_range");
    }
}

/// A file written front to back, towards a size known up front or not.
///
/// Why reserve: page by page, ext4's delayed allocation (space reservation and
/// extent bookkeeping for every 4 KiB written) cost more CPU than copying the
/// bytes in a 100 MB pull; space reserved in one call up front (`fallocate`,
/// keeping the file's size) spares that, and leaves less for the writeback to
/// allocate.
#[derive(Debug)]
pub struct FrontToBack {
    /// The size the file should end at (0: unknown, nothing is reserved).
    expected: u64,
    /// Space is reserved up to here.
    reserved: u64,
    /// Writeback was started up to here.
    kicked: u64,
}

impl FrontToBack {
    /// A file that holds `written` bytes already and should end at `expected`
    /// (0 when unknown).
    pub fn new(written: u64, expected: u64) -> FrontToBack {
        FrontToBack {
            expected: if expected >= HINT_MIN { expected } else { 0 },
            reserved: written,
            kicked: written,
        }
    }

    /// Before the file is written up to `end`: reserves the space for it and
    /// ahead of it, up to [`RESERVE_AHEAD`] and never past the expected size.
    pub fn reserve(&mut self, fd: BorrowedFd<'_>, end: u64) {
        if end <= self.reserved || self.reserved >= self.expected {
            return;
        }
        let to = self
            .expected
            .min(end.max(self.reserved.saturating_add(RESERVE_AHEAD)));
        let keep_size = rustix::fs::FallocateFlags::KEEP_SIZE;
        if let Err(e) = rustix::fs::fallocate(fd, keep_size, self.reserved, to - self.reserved) {
            tracing::debug!(error = %e, "fallocate");
            // Not supported here (or no space): stop asking.
            self.expected = 0;
            return;
        }
        self.reserved = to;
    }

    /// The file was cut back to nothing, and its reserved space with it.
    pub fn emptied(&mut self) {
        self.reserved = 0;
        self.kicked = 0;
    }

    /// Whether [`FrontToBack::wrote`] would start writeback at `written` (a
    /// buffered writer flushes first).
    pub fn writeback_due(&self, written: u64) -> bool {
        written >= self.kicked + WRITEBACK_EVERY
    }

    /// After the file was written up to `written`: starts the writeback of what
    /// came since the last start, every [`WRITEBACK_EVERY`] bytes.
    pub fn wrote(&mut self, fd: BorrowedFd<'_>, written: u64) {
        if self.writeback_due(written) {
            start_writeback(fd, self.kicked, written - self.kicked);
            self.kicked = written;
        }
    }

    /// The file is complete at `written` bytes: starts the writeback of everything
    /// not yet started (of a file of at least [`HINT_MIN`]).
    pub fn finish(&mut self, fd: BorrowedFd<'_>, written: u64) {
        if written >= HINT_MIN && written > self.kicked {
            start_writeback(fd, self.kicked, written - self.kicked);
            self.kicked = written;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;

    /// Bytes of disk the file holds.
    fn allocated(f: &std::fs::File) -> u64 {
        f.metadata().unwrap().blocks() * 512
    }

    #[test]
    fn space_is_reserved_a_window_ahead_and_the_size_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = std::fs::File::create(dir.path().join("f")).unwrap();
        let mut h = FrontToBack::new(0, 100 << 20);
        h.reserve(f.as_fd(), 1 << 20);
        if allocated(&f) == 0 {
            // A file system without fallocate (tmpfs has it; some do not).
            return;
        }
        assert_eq!(allocated(&f), RESERVE_AHEAD, "one window reserved");
        assert_eq!(
            f.metadata().unwrap().len(),
            0,
            "the size is the bytes written"
        );
        f.write_all(&vec![7u8; 1 << 20]).unwrap();
        h.wrote(f.as_fd(), 1 << 20);
        // Within the window: nothing more.
        h.reserve(f.as_fd(), 2 << 20);
        assert_eq!(allocated(&f), RESERVE_AHEAD);
        // Past it: up to the write, or a window on, but never past the expected size.
        h.reserve(f.as_fd(), 60 << 20);
        assert_eq!(allocated(&f), 64 << 20);
        h.reserve(f.as_fd(), 65 << 20);
        assert_eq!(allocated(&f), 96 << 20);
        h.reserve(f.as_fd(), 97 << 20);
        assert_eq!(allocated(&f), 100 << 20);
        h.reserve(f.as_fd(), 200 << 20);
        assert_eq!(allocated(&f), 100 << 20);
        assert_eq!(f.metadata().unwrap().len(), 1 << 20);
    }

    #[test]
    fn an_unknown_or_small_size_reserves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("f")).unwrap();
        let mut h = FrontToBack::new(0, 0);
        h.reserve(f.as_fd(), 50 << 20);
        assert_eq!(allocated(&f), 0);
        let mut h = FrontToBack::new(0, HINT_MIN - 1);
        h.reserve(f.as_fd(), 4096);
        assert_eq!(allocated(&f), 0);
    }

    #[test]
    fn writeback_starts_every_few_mib_and_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("f")).unwrap();
        let mut h = FrontToBack::new(0, 0);
        h.wrote(f.as_fd(), WRITEBACK_EVERY - 1);
        assert_eq!(h.kicked, 0);
        h.wrote(f.as_fd(), WRITEBACK_EVERY + 5);
        assert_eq!(h.kicked, WRITEBACK_EVERY + 5);
        h.finish(f.as_fd(), WRITEBACK_EVERY + 9);
        assert_eq!(h.kicked, WRITEBACK_EVERY + 9);
    }
}
