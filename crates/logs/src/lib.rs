//! docker's `json-file` log driver: the writer the shim feeds with container output,
//! the reader behind `docker logs` (since/until/tail/follow across rotated files),
//! `--log-opt` parsing, and the 8-byte stream multiplexing used by logs, attach and exec.

mod frame;
mod json;
mod opts;
mod reader;
mod writer;

use std::path::PathBuf;

pub use frame::{frame, frame_into, FrameDecoder, STDERR, STDIN, STDOUT, SYSTEMERR};
pub use json::{format_time, format_time_fixed, parse_time};
pub use opts::{extra_attrs, parse_log_opts, parse_size, LogConfig};
pub use reader::{format_attrs, read, LogRecord, ReadOptions};
pub use writer::{JsonFileWriter, DEFAULT_MAX_FILE, DEFAULT_MAX_SIZE, MAX_RECORD_BYTES};

/// A point in time as the log stores it (UTC, nanosecond precision).
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// The output stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The name docker writes in the record's `stream` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// The stream byte of docker's multiplexed framing.
    pub fn frame_byte(self) -> u8 {
        match self {
            Stream::Stdout => STDOUT,
            Stream::Stderr => STDERR,
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// go-units' FromHumanSize: not a number with an optional unit.
    #[error("invalid size: '{0}'")]
    InvalidSize(String),
    /// go-units' FromHumanSize: a number followed by an unknown unit.
    #[error("invalid suffix: '{0}'")]
    InvalidSuffix(String),
    /// Go's strconv.ParseFloat failure text for the number part of a size.
    #[error("strconv.ParseFloat: parsing {0:?}: {1}")]
    InvalidFloat(String, &'static str),
    #[error("max-size must be a positive number")]
    MaxSizeNotPositive,
    /// Go's strconv.Atoi failure text, as dockerd reports a bad `max-file`.
    #[error("strconv.Atoi: parsing {0:?}: {1}")]
    InvalidInt(String, &'static str),
    #[error("max-file cannot be less than 1")]
    MaxFileLessThanOne,
    /// Go's strconv.ParseBool failure text, as dockerd reports a bad `compress`.
    #[error("strconv.ParseBool: parsing {0:?}: invalid syntax")]
    InvalidBool(String),
    #[error("compress cannot be true when max-file is less than 2 or max-size is not set")]
    CompressNeedsRotation,
    #[error("log-opt compress=true is not supported by berth's json-file driver; rotated files are kept uncompressed")]
    CompressNotSupported,
    #[error("unknown log opt '{0}' for json-file log driver")]
    UnknownOpt(String),
    #[error("error parsing regexp in log-opt {opt}={value}: {message}")]
    InvalidRegex {
        opt: &'static str,
        value: String,
        message: String,
    },
}

impl Error {
    fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
