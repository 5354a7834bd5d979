//! The shim crate's one error type.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad `berth shim` command line.
    #[error("berth shim: {0}")]
    Usage(String),
    /// A file or socket operation on a named path failed.
    #[error("{op} {}: {source}", path.display())]
    Path {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A system call without a path failed.
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        source: std::io::Error,
    },
    /// The shim answered `{"error":…}`: its text is passed on unchanged (docker's texts).
    #[error("{0}")]
    Shim(String),
    /// The peer does not speak the protocol.
    #[error("shim protocol error: {0}")]
    Protocol(String),
    /// The runtime refused (its text carries docker's wording where there is one).
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    /// The container's log could not be opened.
    #[error(transparent)]
    Log(#[from] berth_logs::Error),
    /// The shim did not come up.
    #[error("starting the shim for container {id} failed: {reason}")]
    Spawn { id: String, reason: String },
}

impl Error {
    pub(crate) fn path(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Path {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sys(op: &'static str, source: std::io::Error) -> Self {
        Error::Sys { op, source }
    }
}
