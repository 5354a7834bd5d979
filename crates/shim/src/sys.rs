//! Thin wrappers over the few system calls the single-threaded shim needs.

use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        // Non-negative ssize_t always fits usize.
        Ok(ret as usize)
    }
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid two-element array for pipe2 to fill.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fcntl on a live descriptor, no pointers.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}

pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of writes.
    cvt_size(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of reads.
    cvt_size(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

pub fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

/// Sets a terminal's window size (the pty master we own).
pub fn set_winsize(fd: BorrowedFd<'_>, height: u16, width: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which outlives the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) })?;
    Ok(())
}

pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: the slice is a valid array of `fds.len()` pollfds.
    let n = cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })?;
    Ok(n as usize)
}

/// Every child that has changed state: (pid, raw wait status).
pub fn reap_children() -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes one int through a valid pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            // 0: children left but none changed; -1: ECHILD (none at all) or EINTR,
            // and the self-pipe will wake us again for anything that follows.
            return out;
        }
        out.push((pid, status));
    }
}

/// The write end of the SIGCHLD self-pipe, for the signal handler.
static SIGCHLD_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigchld(_: libc::c_int) {
    let fd = SIGCHLD_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; errno is saved around it so the
        // interrupted code does not see ours. A full pipe (EAGAIN) already wakes poll.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, b"c".as_ptr().cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

extern "C" fn on_sigpipe(_: libc::c_int) {}

/// Turns SIGCHLD into a readable byte on the returned pipe, and SIGPIPE into EPIPE.
///
/// A handler rather than a blocked mask (signalfd) or SIG_IGN: handlers are reset by
/// execve, while a blocked mask or an ignored SIGPIPE would be inherited by every
/// process of the container.
pub fn install_signal_handlers() -> io::Result<OwnedFd> {
    let (rd, wr) = pipe()?;
    set_nonblocking(rd.as_fd())?;
    set_nonblocking(wr.as_fd())?;
    // The write end lives for the whole process: the handler may fire at any time.
    SIGCHLD_FD.store(wr.into_raw_fd(), Ordering::Relaxed);
    set_handler(
        libc::SIGCHLD,
        on_sigchld,
        libc::SA_RESTART | libc::SA_NOCLDSTOP,
    )?;
    set_handler(libc::SIGPIPE, on_sigpipe, libc::SA_RESTART)?;
    Ok(rd)
}

fn set_handler(
    sig: libc::c_int,
    handler: extern "C" fn(libc::c_int),
    flags: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we fill in a
    // handler with the C ABI that only calls async-signal-safe functions.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as libc::sighandler_t;
        sa.sa_flags = flags;
        libc::sigemptyset(&mut sa.sa_mask);
        cvt(libc::sigaction(sig, &sa, std::ptr::null_mut()))?;
    }
    Ok(())
}

/// Drains the SIGCHLD self-pipe.
pub fn drain(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 64];
    while matches!(read(fd, &mut buf), Ok(n) if n > 0) {}
}

/// Points fds 0, 1 and 2 at /dev/null (the daemon's pipe must not stay open).
pub fn stdio_to_null() -> io::Result<()> {
    let null = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors; `null` stays open meanwhile.
        cvt(unsafe { libc::dup2(null.as_raw_fd(), target) })?;
    }
    Ok(())
}

/// Writes `bytes` to `path` so that readers see the old file or the whole new one:
/// temp file, then rename. No fsync: these files (pid files, exit status) live in the
/// exec root, describe processes that a reboot ends anyway, and must only survive a
/// crash of the daemon or the shim, for which the rename's atomicity is enough.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Takes an exclusive `flock` on `path` (created if missing), waiting while another
/// process holds it, at most `patience`; after that the lock is taken as free (a holder
/// stuck that long is not worth waiting for). The lock lasts as long as the file.
pub fn lock_file(path: &Path, patience: std::time::Duration) -> io::Result<fs::File> {
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    let deadline = std::time::Instant::now() + patience;
    loop {
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(file);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(e);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(file);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_waits_for_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shim.lock");
        let held = lock_file(&p, std::time::Duration::from_secs(1)).unwrap();
        // A second open file description conflicts even within one process.
        let t = std::time::Instant::now();
        let _second = lock_file(&p, std::time::Duration::from_millis(50)).unwrap();
        assert!(t.elapsed() >= std::time::Duration::from_millis(50));
        drop(_second);
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            drop(held);
        });
        let t = std::time::Instant::now();
        let _third = lock_file(&p, std::time::Duration::from_secs(5)).unwrap();
        let waited = t.elapsed();
        releaser.join().unwrap();
        assert!(waited >= std::time::Duration::from_millis(20), "{waited:?}");
        assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("exit.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["exit.json"]);
    }

    #[test]
    fn pipe_round_trip_nonblocking() {
        let (r, w) = pipe().unwrap();
        set_nonblocking(r.as_fd()).unwrap();
        let mut buf = [0u8; 8];
        let err = read(r.as_fd(), &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(write(w.as_fd(), b"abc").unwrap(), 3);
        assert_eq!(read(r.as_fd(), &mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        drop(w);
        assert_eq!(read(r.as_fd(), &mut buf).unwrap(), 0);
    }
}
