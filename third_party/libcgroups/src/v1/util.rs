use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use pathrs::flags::OpenFlags;
use pathrs::procfs::{ProcfsBase, ProcfsHandle};
use procfs::ProcError;
use procfs::process::MountInfo;

use super::ControllerType;
use super::controller_type::CONTROLLERS;

#[derive(thiserror::Error, Debug)]
pub enum V1MountPointError {
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("failed to get mountinfo: {0}")]
    MountInfo(ProcError),
    #[error("could not find mountpoint for {subsystem}")]
    NotFound { subsystem: ControllerType },
    #[error(transparent)]
    Pathrs(#[from] pathrs::error::Error),
}

/// List all cgroup v1 subsystem mount points on the system. This can include unsupported
/// subsystems, comounted controllers and named hierarchies.
///
/// berth's patch: from [`cgroup_mounts`], read once per process.
pub fn list_subsystem_mount_points() -> Result<Vec<PathBuf>, V1MountPointError> {
    Ok(cgroup_mounts()?
        .iter()
        .map(|m| m.mount_point.clone())
        .collect())
}

/// List the mount points of all currently supported cgroup subsystems.
pub fn list_supported_mount_points() -> Result<HashMap<ControllerType, PathBuf>, V1MountPointError>
{
    let mut mount_paths = HashMap::with_capacity(CONTROLLERS.len());

    for controller in CONTROLLERS {
        if let Ok(mount_point) = get_subsystem_mount_point(controller) {
            mount_paths.insert(controller.to_owned(), mount_point);
        }
    }

    Ok(mount_paths)
}

pub fn get_subsystem_mount_point(subsystem: &ControllerType) -> Result<PathBuf, V1MountPointError> {
    subsystem_mount_point(subsystem, cgroup_mounts()?)
}

/// berth's patch: the cgroup v1 mounts of /proc/self/mountinfo, read once per process
/// (and inherited by its forks) for all the controllers and managers that look them up.
/// It was read, through a new hardened procfs handle, per controller: a dozen times per
/// container create and delete, and again by the container's init for its
/// /sys/fs/cgroup. A process that calls this before it forks (berth's spare shim, while
/// it waits for a container) spares its children the read. cgroup hierarchies are
/// mounted at boot and stay; a process that outlives a change would need a new read.
/// A failed read is not kept: the next call tries again.
pub(crate) fn cgroup_mounts() -> Result<&'static [MountInfo], V1MountPointError> {
    static MOUNTS: std::sync::OnceLock<Vec<MountInfo>> = std::sync::OnceLock::new();
    if let Some(m) = MOUNTS.get() {
        return Ok(m);
    }
    let reader = BufReader::new(ProcfsHandle::new()?.open(
        ProcfsBase::ProcSelf,
        "mountinfo",
        OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC,
    )?);
    let mut mounts = Vec::new();
    for line in reader.lines() {
        let m = MountInfo::from_line(&line?).map_err(V1MountPointError::MountInfo)?;
        if m.fs_type == "cgroup" {
            mounts.push(m);
        }
    }
    Ok(MOUNTS.get_or_init(|| mounts))
}

pub(crate) fn subsystem_mount_point(
    subsystem: &ControllerType,
    cgroup_mounts: &[MountInfo],
) -> Result<PathBuf, V1MountPointError> {
    let subsystem_name = subsystem.to_string();
    cgroup_mounts
        .iter()
        .find_map(|m| {
            // Some systems mount net_prio and net_cls in the same directory
            // other systems mount them in their own directories. This
            // should handle both cases.
            let ok = match subsystem_name.as_str() {
                "net_cls" => ["net_cls,net_prio", "net_prio,net_cls", "net_cls"]
                    .iter()
                    .any(|s| m.mount_point.ends_with(s)),
                "net_prio" => ["net_cls,net_prio", "net_prio,net_cls", "net_prio"]
                    .iter()
                    .any(|s| m.mount_point.ends_with(s)),
                "cpu" => ["cpu,cpuacct", "cpu"]
                    .iter()
                    .any(|s| m.mount_point.ends_with(s)),
                "cpuacct" => ["cpu,cpuacct", "cpuacct"]
                    .iter()
                    .any(|s| m.mount_point.ends_with(s)),
                _ => m.mount_point.ends_with(&subsystem_name),
            };
            ok.then(|| m.mount_point.clone())
        })
        .ok_or(V1MountPointError::NotFound {
            subsystem: *subsystem,
        })
}
