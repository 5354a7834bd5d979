//! `berth shim`: the per-container monitor. One single-threaded process per container
//! creates it through `berth_runtime`, owns its stdio (pipes or the pty master), writes
//! its json-file log, serves start/attach/exec/wait/kill/… on `<state>/shim.sock`, reaps
//! it and records its exit status in `<state>/exit.json`. The daemon's side of the
//! protocol (`ShimClient`, `spawn`, `read_exit`) lives here too, so both ends share one
//! definition of the wire format.

mod args;
mod client;
mod error;
mod monitor;
pub mod netdev;
pub mod protocol;
mod sys;

use std::ffi::OsString;
use std::os::fd::BorrowedFd;

pub use args::{ShimArgs, SPARE_FLAG};
pub use client::{
    read_exit, spawn, ShimClient, Spare, EXIT_FILE, INIT_PID_FILE, SHIM_PID_FILE, SOCKET,
};
pub use error::{Error, Result};
pub use protocol::{ContainerStats, ExecRequest, ExitStatus, Request};

/// `berth shim …` (the arguments after `shim`). Returns the process exit code: 0 in the
/// launcher once the monitor is forked off, and in the monitor when it is done.
///
/// `berth shim --spare` says `{"spare":PID}` and then takes its arguments from stdin
/// (NUL-terminated, until EOF): the daemon starts one ahead of need, so a container's start does not wait for
/// the exec of this binary. A spare whose stdin ends empty (the daemon is gone) exits.
///
/// Must be called before the process starts any thread: it forks, and the monitor forks
/// again for every container process.
pub fn main(args: &[OsString]) -> i32 {
    let spare = args == [SPARE_FLAG];
    let args = if spare {
        None
    } else {
        match ShimArgs::parse(args).and_then(ShimArgs::absolute) {
            Ok(a) => Some(a),
            Err(e) => return report_error(&e),
        }
    };
    // SAFETY: the process is single-threaded here (see above), so the child is a
    // complete copy and may go on running Rust code.
    match unsafe { libc::fork() } {
        -1 => return report_error(&Error::sys("fork", std::io::Error::last_os_error())),
        0 => {}
        // The launcher: the daemon reaps it at once; the monitor lives on.
        _ => return 0,
    }
    // A session of its own: no signals from the daemon's terminal or process group.
    // SAFETY: no arguments; cannot fail in a freshly forked child (not a group leader).
    unsafe { libc::setsid() };
    // `berth-shim` in ps and top rather than the name of the file exec'd (`exe`).
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"berth-shim".as_ptr()) };
    // Hold no directory of the daemon's busy (an unmount must not fail because of us).
    if let Err(e) = std::env::set_current_dir("/") {
        return report_error(&Error::path("chdir", "/", e));
    }
    let args = match args {
        Some(a) => a,
        None => {
            report(&serde_json::json!({ "spare": std::process::id() }));
            // While it waits (idle-class): what the container's processes would read.
            berth_runtime::read_ahead();
            match read_spare_args() {
                Ok(Some(a)) => a,
                Ok(None) => return 0,
                Err(e) => return report_error(&e),
            }
        }
    };
    let monitor = match monitor::Monitor::setup(&args) {
        Ok(m) => m,
        Err(e) => return report_error(&e),
    };
    report(&serde_json::json!({ "pid": monitor.init_pid() }));
    // Nothing may keep the daemon's pipe open, and nobody reads our output any more.
    let _ = sys::stdio_to_null();
    monitor.run();
    0
}

/// A spare's arguments: NUL-terminated on stdin up to EOF; `None` for nothing at all.
fn read_spare_args() -> Result<Option<ShimArgs>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| Error::sys("read the arguments", e))?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let args = args::from_nul_terminated(&bytes);
    ShimArgs::parse(&args)
        .and_then(ShimArgs::absolute)
        .map(Some)
}

fn report_error(e: &Error) -> i32 {
    report(&serde_json::json!({ "error": e.to_string() }));
    1
}

/// One line on stdout, written with one write(2) so the daemon reads it whole.
fn report(v: &serde_json::Value) {
    let mut line = v.to_string().into_bytes();
    line.push(b'\n');
    // SAFETY: fd 1 is open for the whole life of the process (stdio).
    let stdout = unsafe { BorrowedFd::borrow_raw(1) };
    let _ = sys::write(stdout, &line);
}
