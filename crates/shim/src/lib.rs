//! `berth shim`: the per-container monitor. One single-threaded process per container
//! creates it through `berth_runtime`, owns its stdio (pipes or the pty master), writes
//! its json-file log, serves start/attach/exec/wait/kill/… on `<state>/shim.sock`, reaps
//! it and records its exit status in `<state>/exit.json`. The daemon's side of the
//! protocol (`ShimClient`, `spawn`, `read_exit`) lives here too, so both ends share one
//! definition of the wire format.

mod args;
mod client;
mod error;
pub mod protocol;

pub use args::ShimArgs;
pub use client::{read_exit, spawn, ShimClient, EXIT_FILE, INIT_PID_FILE, SHIM_PID_FILE, SOCKET};
pub use error::{Error, Result};
pub use protocol::{ExecRequest, ExitStatus, Request};
