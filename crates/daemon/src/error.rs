/// The daemon's errors. Each variant says which HTTP status the API answers with;
/// the Display text is what the user reads after `Error response from daemon: `.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    #[error(transparent)]
    Snapshot(#[from] berth_snapshot::SnapshotError),
    #[error(transparent)]
    Layer(berth_layer::LayerError),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn no_such_image(name: &str) -> Error {
        Error::NotFound(format!("No such image: {name}"))
    }
    pub fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |e| Error::Internal(format!("{what}: {e}"))
    }
}

/// A truncated tar gets dockerd's terse text (the detail goes to the log).
impl From<berth_layer::LayerError> for Error {
    fn from(e: berth_layer::LayerError) -> Error {
        if e.is_truncated() {
            tracing::warn!(error = %e, "truncated layer");
            return Error::InvalidParameter("unexpected EOF".into());
        }
        Error::Layer(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
