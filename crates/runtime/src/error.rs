use std::path::PathBuf;

/// Every failure of this crate; messages name the path, value or container involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UserNotFound(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    GroupNotFound(String),
    #[error("invalid user specification {0:?}: {1}")]
    InvalidUser(String, String),
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),
    #[error("invalid seccomp profile: {0}")]
    SeccompProfile(String),
    #[error("invalid container spec: {0}")]
    Spec(String),
    #[error("invalid ulimit {0:?}: unknown resource name")]
    UnknownUlimit(String),
    /// The process to run does not exist (docker maps this text to exit code 127).
    #[error("exec: {0:?}: executable file not found in $PATH")]
    ExecutableNotFound(String),
    /// A path given to exec does not exist (127).
    #[error("exec: {0:?}: stat {0}: no such file or directory")]
    NoSuchFile(String),
    /// The executable exists but cannot be run (126).
    #[error("exec: {0:?}: permission denied")]
    PermissionDenied(String),
    #[error("container {id}: {op} failed: {message}")]
    Runtime {
        id: String,
        op: &'static str,
        message: String,
    },
    #[error("{binary} {op} {id} failed ({status}): {stderr}")]
    External {
        binary: PathBuf,
        op: &'static str,
        id: String,
        status: String,
        stderr: String,
    },
    #[error("cgroup {path}: {message}")]
    Cgroup { path: String, message: String },
    #[error("console socket: {0}")]
    Console(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
