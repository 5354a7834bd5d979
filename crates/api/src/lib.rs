#![recursion_limit = "256"]

//! berth-api: the Docker Engine API server. Routes, version negotiation, stream
//! framing and the mapping of daemon errors to docker's status codes live here
//! and only here; handlers translate HTTP to daemon calls and back.
//!
//! Invariant: no engine logic in handlers; the daemon knows nothing of HTTP.

mod error;
mod fetch;
mod hijack;
mod listen;
mod routes;
mod stream;
mod version;

use std::sync::Arc;

use axum::Router;
use berth_daemon::Daemon;

pub use error::ApiError;
pub use listen::{serve, ListenError};

/// Shared state of all handlers.
#[derive(Clone)]
pub(crate) struct AppState {
    pub daemon: Arc<Daemon>,
}

/// The whole API, before version-prefix handling.
pub(crate) fn router(daemon: Arc<Daemon>) -> Router {
    routes::routes().with_state(AppState { daemon })
}
