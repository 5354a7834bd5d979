//! Starting the daemon on demand when the default socket does not answer.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

const RUN_DIR: &str = "/run/berth";
pub const LOG_FILE: &str = "/run/berth/daemon.log";

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Starts `<current exe> daemon` in its own session, output appended to the log.
pub fn spawn_daemon() -> std::io::Result<Child> {
    std::fs::create_dir_all(RUN_DIR)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(LOG_FILE)?;
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("daemon")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: the closure only calls setsid, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // The caller polls it only to notice an early exit; it outlives us.
    cmd.spawn()
}
