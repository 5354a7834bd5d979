//! The CLI's error type; `Display` is exactly the text docker prints on stderr.

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A message and exit code of its own (usage errors, inspect's collected errors).
    #[error("{msg}")]
    Status { code: i32, msg: String },
    /// The daemon answered with an error status; `message` comes from its JSON body.
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    #[error("Cannot connect to the Docker daemon at {0}. Is the docker daemon running?")]
    Connect(String),
    /// A plain message, exit code 1.
    #[error("{0}")]
    Message(String),
    /// A local file could not be opened (docker prints Go's `open <path>: <reason>`).
    #[error("open {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("error during connect: {0}")]
    Transport(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The user declined a confirmation prompt: exit 0 without a message.
    #[error("")]
    Cancelled,
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Status { code, .. } => *code,
            CliError::Cancelled => 0,
            _ => 1,
        }
    }

    pub fn msg(s: impl Into<String>) -> Self {
        CliError::Message(s.into())
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, CliError::Daemon { status: 404, .. })
    }

    /// Error for opening a local file, worded as Go's `*PathError`.
    pub fn open(path: &str, e: &std::io::Error) -> Self {
        CliError::Open {
            path: path.to_string(),
            reason: go_errno_text(e),
        }
    }
}

/// Go prints errno texts in lower case without the Rust suffix `(os error N)`.
pub fn go_errno_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let s = e.to_string();
            let s = match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            };
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
                None => s,
            }
        }
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_codes() {
        let e = CliError::Daemon {
            status: 404,
            message: "No such image: x:latest".into(),
        };
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such image: x:latest"
        );
        assert!(e.is_not_found());
        assert_eq!(e.exit_code(), 1);
        let e = CliError::open(
            "/nonexist",
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(e.to_string(), "open /nonexist: no such file or directory");
        assert_eq!(CliError::Cancelled.exit_code(), 0);
        assert_eq!(
            CliError::Connect("unix:///x.sock".into()).to_string(),
            "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?"
        );
    }
}
