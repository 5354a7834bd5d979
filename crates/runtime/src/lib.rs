//! berth's container runtime layer: the OCI runtime spec with Docker's defaults, user
//! resolution against an image's `/etc/passwd`/`/etc/group`, runners that create and
//! control containers (youki's libcontainer built in, or an external runc-compatible
//! CLI), and cgroup helpers for `stats`, `update`, `top`, `pause`.
//!
//! No async and no daemon knowledge: the runners fork, so they are called only from the
//! single-threaded shim; the cgroup helpers work from any process.

mod builtin;
pub mod cgroups;
mod error;
mod exec;
mod external;
mod io;
mod seccomp;
mod seccomp_bpf;
mod spec;
mod user;

pub use builtin::Builtin;
pub use cgroups::{freeze, oom_killed, pids, read_ahead, stats, update, BlkioEntry, Stats};
pub use error::{Error, Result};
pub use external::External;
pub use io::{receive_pty_master, ExecSpec, InitIo, Runtime};
pub use spec::{
    build_spec, Mount, NetNs, Resources, Seccomp, SpecInput, Ulimit, DEFAULT_CAPABILITIES,
};
pub use user::{resolve_user, User};
