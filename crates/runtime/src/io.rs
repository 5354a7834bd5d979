//! The runner interface shared by the built-in and external runtimes.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::user::User;

/// Where a container process's standard streams go.
#[derive(Debug)]
pub enum InitIo {
    /// Pipes or files: dup'ed to 0/1/2 of the process (`/dev/null` when `stdin` is `None`).
    Stdio {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A TTY: the runtime sends the pty master over this listening Unix socket (runc's
    /// console-socket protocol); take it with [`receive_pty_master`].
    Console { socket: PathBuf },
}

/// A process to run inside a running container (`docker exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSpec {
    pub args: Vec<String>,
    /// The complete environment (the caller merges the container's with the exec's).
    pub env: Vec<String>,
    /// Working directory; empty = the container's.
    pub cwd: String,
    pub user: User,
    pub tty: bool,
    /// All capabilities and no seccomp filter beyond the container's (`exec --privileged`).
    pub privileged: bool,
    pub no_new_privileges: bool,
}

/// Creates and controls containers. Implementations fork: call them only from a
/// single-threaded process (the shim). Processes returned by `create` and `exec` are
/// children of the caller, who reaps them with `waitpid`. When `create`/`exec` fail after
/// forking, helper processes may be left as the caller's zombies: the caller, a child
/// subreaper, reaps every child anyway.
pub trait Runtime {
    /// Creates the container from `bundle/config.json`; the init is left blocked until
    /// [`Runtime::start`]. Returns the init's pid.
    fn create(&self, id: &str, bundle: &Path, io: InitIo) -> Result<i32>;
    /// Lets the init run the container's command.
    fn start(&self, id: &str) -> Result<()>;
    /// Sends `signal` to the init (to every process of the container with `all`).
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()>;
    /// Removes the runtime's state and the container's cgroup; `force` kills it first.
    fn delete(&self, id: &str, force: bool) -> Result<()>;
    /// Starts `spec` inside the running container; returns its pid.
    fn exec(&self, id: &str, spec: &ExecSpec, io: InitIo) -> Result<i32>;
    /// Freezes every process of the container.
    fn pause(&self, id: &str) -> Result<()>;
    /// Thaws a paused container.
    fn resume(&self, id: &str) -> Result<()>;
}

/// Accepts one connection on a console socket and receives the pty master sent over it
/// with `SCM_RIGHTS`.
pub fn receive_pty_master(listener: &UnixListener) -> Result<OwnedFd> {
    let (conn, _) = listener
        .accept()
        .map_err(|e| Error::Console(format!("accepting a connection: {e}")))?;
    // runc sends the pty's name as data and the fd as ancillary data.
    let mut name = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| Error::Console(format!("receiving the pty master: {e}")))?;
    let cmsgs = msg
        .cmsgs()
        .map_err(|e| Error::Console(format!("reading control messages: {e}")))?;
    let mut fds = Vec::new();
    for c in cmsgs {
        if let ControlMessageOwned::ScmRights(received) = c {
            fds.extend(received);
        }
    }
    let mut owned = fds
        .into_iter()
        // SAFETY: the kernel just installed these descriptors in our table for us.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect::<Vec<_>>();
    if owned.is_empty() {
        return Err(Error::Console(
            "the runtime closed the console socket without sending a pty master".to_string(),
        ));
    }
    // Extra descriptors (none are expected) are closed when dropped.
    Ok(owned.swap_remove(0))
}
