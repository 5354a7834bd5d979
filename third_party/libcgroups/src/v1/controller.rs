use std::fs;
use std::path::Path;

use nix::unistd::Pid;

use crate::common::{self, CGROUP_PROCS, ControllerOpt, WrapIoResult, WrappedIoError};

pub(super) trait Controller {
    type Error: From<WrappedIoError>;
    type Resource;

    /// Adds a new task specified by its pid to the cgroup
    fn add_task(pid: Pid, cgroup_path: &Path) -> Result<(), Self::Error> {
        fs::create_dir_all(cgroup_path).wrap_create_dir(cgroup_path)?;
        move_task(pid, cgroup_path)?;
        Ok(())
    }

    /// Applies resource restrictions to the cgroup
    fn apply(controller_opt: &ControllerOpt, cgroup_root: &Path) -> Result<(), Self::Error>;

    /// Checks if the controller needs to handle this request
    fn needs_to_handle<'a>(controller_opt: &'a ControllerOpt) -> Option<&'a Self::Resource>;
}

/// berth's patch: moves `pid` into the v1 cgroup at `cgroup_path`. When `pid` is the
/// calling process and it has one thread, writes "0" to `tasks` instead of the pid to
/// `cgroup.procs`: the kernel then moves the calling thread without its global
/// threadgroup lock (`cgroup_procs_write_start` in kernel/cgroup/cgroup.c), whose first
/// taking waits for an RCU grace period, 5–20 ms, unless the hierarchy is mounted with
/// `favordynmods`. With one thread, the thread is the whole process.
pub(super) fn move_task(pid: Pid, cgroup_path: &Path) -> Result<(), WrappedIoError> {
    if pid == nix::unistd::getpid() && single_threaded() {
        return common::write_cgroup_file(cgroup_path.join(CGROUP_TASKS), 0);
    }
    common::write_cgroup_file(cgroup_path.join(CGROUP_PROCS), pid)
}

/// Whether the calling process has one thread, read once per process (the pid it was
/// read for is kept: a forked child reads again). A process that moves itself once per
/// hierarchy asks a dozen times in a row; one that starts threads between its own moves
/// would have to read again, and none of libcontainer's does.
fn single_threaded() -> bool {
    use std::sync::atomic::{AtomicI64, Ordering};
    // The pid read for, shifted left one bit, plus the answer; 0 when never read.
    static KNOWN: AtomicI64 = AtomicI64::new(0);
    let me = i64::from(nix::unistd::getpid().as_raw());
    let known = KNOWN.load(Ordering::Relaxed);
    if known != 0 && known >> 1 == me {
        return known & 1 == 1;
    }
    let single = threads_of_self() == Some(1);
    KNOWN.store(me << 1 | i64::from(single), Ordering::Relaxed);
    single
}

const CGROUP_TASKS: &str = "tasks";

/// `num_threads`, field 20 of /proc/self/stat (counted after the `)` that ends `comm`,
/// which may itself hold spaces).
fn threads_of_self() -> Option<u32> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(17)?.parse().ok()
}
