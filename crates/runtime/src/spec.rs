//! The OCI runtime spec for a container, with the isolation docker applies by default
//! (moby `daemon/pkg/oci/defaults.go`, `daemon/oci_linux.go`).

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::seccomp;
use crate::user::User;

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel may know, in kernel number order (index = cap number).
const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's masked paths (made unreadable unless `--privileged`).
const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths (unless `--privileged`).
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's default `/dev/shm` size (64 MiB).
const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

/// The annotation asking the built-in runtime to run a reaping init as PID 1 (`--init`).
pub(crate) const INIT_ANNOTATION: &str = "org.berth.init";

/// The seccomp filter to apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seccomp {
    /// Docker's default profile.
    #[default]
    Default,
    /// `--security-opt seccomp=unconfined`.
    Unconfined,
    /// A profile in docker's JSON format (`--security-opt seccomp=profile.json`).
    Profile(String),
}

/// A mount added to the container (volumes, binds, `--tmpfs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mount {
    Bind {
        source: PathBuf,
        destination: String,
        readonly: bool,
    },
    Tmpfs {
        destination: String,
        /// Mount options as given to `--tmpfs` (`size=64m`, `mode=1777`, `exec`…).
        options: Vec<String>,
    },
}

/// The container's network namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetNs {
    /// A new namespace that gets a veth from the network crate.
    #[default]
    New,
    /// The host's namespace (`--network host`).
    Host,
    /// A new namespace with only loopback (`--network none`).
    None,
}

/// A `--ulimit` (`nofile=1024:2048`); negative values mean unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// Resource limits with docker's HostConfig meanings; `None` leaves a setting alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// Memory limit in bytes (`--memory`).
    pub memory: Option<i64>,
    /// Memory + swap limit in bytes; -1 = unlimited swap (`--memory-swap`).
    pub memory_swap: Option<i64>,
    /// Soft limit in bytes (`--memory-reservation`).
    pub memory_reservation: Option<i64>,
    /// 0–100 (`--memory-swappiness`); -1 or `None` keeps the kernel's.
    pub memory_swappiness: Option<i64>,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: Option<bool>,
    /// Relative weight (`--cpu-shares`).
    pub cpu_shares: Option<i64>,
    /// CFS period in µs (`--cpu-period`).
    pub cpu_period: Option<i64>,
    /// CFS quota in µs (`--cpu-quota`).
    pub cpu_quota: Option<i64>,
    /// CPUs in units of 1e-9 (`--cpus`); becomes quota over a 100 ms period.
    pub nano_cpus: Option<i64>,
    /// `--cpuset-cpus` (`0-1,3`).
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    pub cpuset_mems: Option<String>,
    /// `--pids-limit`; 0 or -1 = unlimited.
    pub pids_limit: Option<i64>,
    /// 10–1000 (`--blkio-weight`).
    pub blkio_weight: Option<i64>,
}

impl Resources {
    /// CFS (quota, period) in µs: `--cpus` wins over `--cpu-quota`/`--cpu-period` as in docker.
    pub(crate) fn cfs(&self) -> (Option<i64>, Option<i64>) {
        match self.nano_cpus {
            Some(n) if n > 0 => {
                let period = 100_000;
                (Some(n * period / 1_000_000_000), Some(period))
            }
            _ => (self.cpu_quota, self.cpu_period),
        }
    }
}

/// Everything needed to write a container's `config.json`.
#[derive(Debug, Clone, Default)]
pub struct SpecInput {
    pub id: String,
    pub rootfs: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: User,
    pub hostname: String,
    pub tty: bool,
    pub read_only: bool,
    pub privileged: bool,
    /// `--cap-add` values, with or without `CAP_`, any case; `ALL` adds every capability.
    pub cap_add: Vec<String>,
    /// `--cap-drop`; `ALL` drops every default capability (then `cap_add` is the set).
    pub cap_drop: Vec<String>,
    pub seccomp: Seccomp,
    pub no_new_privileges: bool,
    pub mounts: Vec<Mount>,
    /// Host files bind-mounted over `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`.
    pub etc_files: Vec<(PathBuf, &'static str)>,
    pub resources: Resources,
    pub ulimits: Vec<Ulimit>,
    pub netns: NetNs,
    /// For `New` and `None`: a network namespace made ahead (a path the container's init
    /// can open, such as `/proc/<pid>/fd/<n>`) that the container joins instead of making
    /// its own.
    pub netns_path: Option<PathBuf>,
    pub cgroups_path: String,
    /// `/dev/shm` size in bytes (docker's default 64 MiB when `None`).
    pub shm_size: Option<i64>,
    pub oom_score_adj: Option<i32>,
    pub sysctls: HashMap<String, String>,
    /// `--init`: a reaping PID 1 runs the command (built-in runtime only).
    pub init: bool,
}

/// Builds the OCI spec for `input` with docker's default isolation.
pub fn build_spec(input: &SpecInput) -> Result<Spec> {
    let value = spec_json(input)?;
    serde_json::from_value(value).map_err(|e| Error::Spec(e.to_string()))
}

fn spec_json(input: &SpecInput) -> Result<Value> {
    if input.args.is_empty() {
        return Err(Error::Spec("no command specified".to_string()));
    }
    let caps = capabilities(input)?;
    let mut process = json!({
        "terminal": input.tty,
        "user": {
            "uid": input.user.uid,
            "gid": input.user.gid,
        },
        "args": input.args,
        "env": input.env,
        "cwd": if input.cwd.is_empty() { "/" } else { input.cwd.as_str() },
        "capabilities": {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
        },
    });
    // Only when set: libcontainer 0.7 tests presence, not value, to decide whether the
    // filter is loaded before the capability drop (needed without no_new_privs).
    if input.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if !input.user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(input.user.additional_gids);
    }
    if !input.ulimits.is_empty() {
        process["rlimits"] = Value::Array(
            input
                .ulimits
                .iter()
                .map(rlimit)
                .collect::<Result<Vec<_>>>()?,
        );
    }
    if let Some(adj) = input.oom_score_adj {
        process["oomScoreAdj"] = json!(adj);
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match (&input.netns, &input.netns_path) {
        (NetNs::Host, _) => {}
        (_, Some(path)) => namespaces.push(json!({"type": "network", "path": path})),
        (_, None) => namespaces.push(json!({"type": "network"})),
    }
    // Docker gives containers a private cgroup namespace on cgroup v2 only.
    if crate::cgroups::is_unified() {
        namespaces.push(json!({"type": "cgroup"}));
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": input.cgroups_path,
        "resources": resources_json(&input.resources, input.privileged),
    });
    if !input.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    } else {
        linux["devices"] = Value::Array(host_devices()?);
    }
    if !input.sysctls.is_empty() {
        linux["sysctl"] = json!(input.sysctls);
    }
    let seccomp = match (&input.seccomp, input.privileged) {
        // Docker applies no filter to privileged containers unless one is named.
        (Seccomp::Default, true) | (Seccomp::Unconfined, _) => None,
        (Seccomp::Default, false) => Some(seccomp::default_profile(&caps)?),
        (Seccomp::Profile(text), _) => Some(seccomp::convert(text, &caps)?),
    };
    if let Some(seccomp) = seccomp {
        linux["seccomp"] = seccomp;
    }

    let mut annotations = BTreeMap::new();
    if input.init {
        annotations.insert(INIT_ANNOTATION, "true");
    }

    Ok(json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {
            "path": input.rootfs,
            "readonly": input.read_only,
        },
        "hostname": input.hostname,
        "mounts": mounts(input),
        "linux": linux,
        "annotations": annotations,
    }))
}

/// Normalises `--cap-add/--cap-drop` values to `CAP_X` (docker accepts `x`, `cap_x`, `ALL`).
fn normalize_cap(cap: &str) -> Result<String> {
    let upper = cap.to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let name = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(Error::UnknownCapability(name))
    }
}

/// Capabilities the running kernel knows (`/proc/sys/kernel/cap_last_cap`) and this
/// process may grant (its bounding set): in a nested or restricted host, asking for a
/// capability outside it makes the runtime fail ("unable to apply caps").
pub(crate) fn known_capabilities() -> Vec<String> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL_CAPABILITIES.len() - 1);
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .take(last + 1)
        .filter(|(i, _)| bounding & (1 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// Docker's `TweakCapabilities`.
fn capabilities(input: &SpecInput) -> Result<Vec<String>> {
    let add = input
        .cap_add
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<Vec<_>>>()?;
    let drop = input
        .cap_drop
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<Vec<_>>>()?;
    let all = "ALL".to_string();
    let mut caps: Vec<String> = if input.privileged {
        known_capabilities()
    } else if add.contains(&all) {
        known_capabilities()
            .into_iter()
            .filter(|c| !drop.contains(c))
            .collect()
    } else if drop.contains(&all) {
        add
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drop.contains(c))
            .chain(add)
            .collect()
    };
    let mut seen = std::collections::HashSet::new();
    caps.retain(|c| c != "ALL" && seen.insert(c.clone()));
    Ok(caps)
}

fn rlimit(u: &Ulimit) -> Result<Value> {
    const NAMES: &[&str] = &[
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    let name = u.name.to_ascii_lowercase();
    if !NAMES.contains(&name.as_str()) {
        return Err(Error::UnknownUlimit(u.name.clone()));
    }
    // Go's uint64(-1) is RLIM_INFINITY; docker passes negatives through that way.
    let lim = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    Ok(json!({
        "type": format!("RLIMIT_{}", name.to_ascii_uppercase()),
        "soft": lim(u.soft),
        "hard": lim(u.hard),
    }))
}

fn mounts(input: &SpecInput) -> Vec<Value> {
    let shm = input
        .shm_size
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_SHM_SIZE);
    let sys_ro = if input.privileged { "rw" } else { "ro" };
    let defaults = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", sys_ro]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", sys_ro]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}),
    ];
    let user_dest = |m: &Mount| match m {
        Mount::Bind { destination, .. } | Mount::Tmpfs { destination, .. } => destination.clone(),
    };
    let overridden: Vec<String> = input
        .mounts
        .iter()
        .map(user_dest)
        .chain(input.etc_files.iter().map(|(_, d)| d.to_string()))
        .map(|d| d.trim_end_matches('/').to_string())
        .collect();
    let mut out: Vec<Value> = defaults
        .into_iter()
        .filter(|m| {
            let dest = m["destination"].as_str().unwrap_or_default();
            !overridden.iter().any(|o| o == dest)
        })
        .collect();
    for m in &input.mounts {
        out.push(match m {
            Mount::Bind {
                source,
                destination,
                readonly,
            } => {
                let mut options = vec!["rbind", "rprivate"];
                if *readonly {
                    options.push("ro");
                }
                json!({"destination": destination, "type": "bind", "source": source,
                       "options": options})
            }
            Mount::Tmpfs {
                destination,
                options,
            } => {
                let mut opts: Vec<String> = ["noexec", "nosuid", "nodev"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                for o in options {
                    // A later `exec`/`suid`/`dev` undoes the default as with docker.
                    match o.as_str() {
                        "exec" => opts.retain(|x| x != "noexec"),
                        "suid" => opts.retain(|x| x != "nosuid"),
                        "dev" => opts.retain(|x| x != "nodev"),
                        _ => {}
                    }
                    opts.push(o.clone());
                }
                json!({"destination": destination, "type": "tmpfs", "source": "tmpfs",
                       "options": opts})
            }
        });
    }
    for (source, destination) in &input.etc_files {
        let mut options = vec!["rbind", "rprivate"];
        if input.read_only {
            options.push("ro");
        }
        out.push(
            json!({"destination": destination, "type": "bind", "source": source,
                        "options": options}),
        );
    }
    out
}

/// `linux.resources`: device rules plus the limits in `r`.
pub(crate) fn resources_json(r: &Resources, privileged: bool) -> Value {
    let devices = if privileged {
        json!([{"allow": true, "access": "rwm"}])
    } else {
        // Deny all, then the devices every container gets (runc's AllowedDevices).
        let rule = |t: &str, major: Option<i64>, minor: Option<i64>, access: &str| {
            let mut v = json!({"allow": true, "type": t, "access": access});
            if let Some(m) = major {
                v["major"] = json!(m);
            }
            if let Some(m) = minor {
                v["minor"] = json!(m);
            }
            v
        };
        json!([
            {"allow": false, "access": "rwm"},
            rule("c", None, None, "m"),
            rule("b", None, None, "m"),
            rule("c", Some(1), Some(3), "rwm"),
            rule("c", Some(1), Some(8), "rwm"),
            rule("c", Some(1), Some(7), "rwm"),
            rule("c", Some(5), Some(0), "rwm"),
            rule("c", Some(1), Some(5), "rwm"),
            rule("c", Some(1), Some(9), "rwm"),
            rule("c", Some(5), Some(1), "rwm"),
            rule("c", Some(136), None, "rwm"),
            rule("c", Some(5), Some(2), "rwm"),
        ])
    };
    let mut out = json!({ "devices": devices });
    if let (Some(o), Value::Object(limits)) = (out.as_object_mut(), limits_json(r)) {
        o.extend(limits);
    }
    out
}

/// The limit sections of `linux.resources` (no device rules), as `update` needs too.
pub(crate) fn limits_json(r: &Resources) -> Value {
    let mut out = serde_json::Map::new();
    let mut memory = serde_json::Map::new();
    if let Some(v) = r.memory.filter(|v| *v > 0) {
        memory.insert("limit".into(), json!(v));
    }
    if let Some(v) = r.memory_swap.filter(|v| *v != 0) {
        memory.insert("swap".into(), json!(v));
    }
    if let Some(v) = r.memory_reservation.filter(|v| *v > 0) {
        memory.insert("reservation".into(), json!(v));
    }
    if let Some(v) = r.memory_swappiness.filter(|v| (0..=100).contains(v)) {
        memory.insert("swappiness".into(), json!(v));
    }
    if let Some(v) = r.oom_kill_disable {
        memory.insert("disableOOMKiller".into(), json!(v));
    }
    if !memory.is_empty() {
        out.insert("memory".into(), Value::Object(memory));
    }
    let mut cpu = serde_json::Map::new();
    if let Some(v) = r.cpu_shares.filter(|v| *v > 0) {
        cpu.insert("shares".into(), json!(v));
    }
    let (quota, period) = r.cfs();
    if let Some(v) = quota.filter(|v| *v != 0) {
        cpu.insert("quota".into(), json!(v));
    }
    if let Some(v) = period.filter(|v| *v > 0) {
        cpu.insert("period".into(), json!(v));
    }
    if let Some(v) = r.cpuset_cpus.as_deref().filter(|v| !v.is_empty()) {
        cpu.insert("cpus".into(), json!(v));
    }
    if let Some(v) = r.cpuset_mems.as_deref().filter(|v| !v.is_empty()) {
        cpu.insert("mems".into(), json!(v));
    }
    if !cpu.is_empty() {
        out.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(v) = r.pids_limit {
        out.insert("pids".into(), json!({"limit": if v > 0 { v } else { -1 }}));
    }
    if let Some(v) = r.blkio_weight.filter(|v| *v > 0) {
        out.insert("blockIO".into(), json!({"weight": v}));
    }
    Value::Object(out)
}

/// Every device node under the host's /dev, as `--privileged` gives them (docker skips
/// /dev/pts, /dev/shm, /dev/mqueue: the container mounts its own).
fn host_devices() -> Result<Vec<Value>> {
    let mut out = Vec::new();
    walk_dev(Path::new("/dev"), &mut out)?;
    Ok(out)
}

fn walk_dev(dir: &Path, out: &mut Vec<Value>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            let skip = ["/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/fd"];
            if !skip.iter().any(|s| Path::new(s) == path) {
                walk_dev(&path, out)?;
            }
            continue;
        }
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            continue;
        };
        // /dev/console is the container's own (pty) and ptmx comes from devpts.
        if path == Path::new("/dev/console") || path == Path::new("/dev/ptmx") {
            continue;
        }
        let rdev = meta.rdev();
        out.push(json!({
            "path": path,
            "type": kind,
            "major": libc::major(rdev),
            "minor": libc::minor(rdev),
            "fileMode": meta.mode() & 0o777,
            "uid": meta.uid(),
            "gid": meta.gid(),
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SpecInput {
        SpecInput {
            id: "c1".into(),
            rootfs: "/rootfs".into(),
            args: vec!["sh".into()],
            env: vec!["PATH=/bin".into()],
            hostname: "c1host".into(),
            cgroups_path: "/berth/c1".into(),
            ..Default::default()
        }
    }

    fn json_of(input: &SpecInput) -> Value {
        serde_json::to_value(build_spec(input).unwrap()).unwrap()
    }

    /// The bounding set, sorted (oci-spec keeps capabilities in a hash set).
    fn caps_of(v: &Value) -> Vec<String> {
        let caps = &v["process"]["capabilities"];
        let set = |k: &str| {
            let mut c: Vec<String> = serde_json::from_value(caps[k].clone()).unwrap();
            c.sort();
            c
        };
        assert_eq!(set("bounding"), set("effective"));
        assert_eq!(set("bounding"), set("permitted"));
        set("bounding")
    }

    fn sorted(list: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn default_caps_and_add_drop() {
        let v = json_of(&input());
        assert_eq!(caps_of(&v), sorted(DEFAULT_CAPABILITIES));

        let mut i = input();
        i.cap_add = vec!["net_admin".into(), "CAP_SYS_PTRACE".into(), "chown".into()];
        i.cap_drop = vec!["MKNOD".into(), "cap_kill".into()];
        let caps = caps_of(&json_of(&i));
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(caps.contains(&"CAP_SYS_PTRACE".to_string()));
        assert!(!caps.contains(&"CAP_MKNOD".to_string()));
        assert!(!caps.contains(&"CAP_KILL".to_string()));
        assert_eq!(caps.iter().filter(|c| *c == "CAP_CHOWN").count(), 1);
        assert_eq!(caps.len(), DEFAULT_CAPABILITIES.len() - 2 + 2);
    }

    #[test]
    fn all_in_add_or_drop() {
        let mut i = input();
        i.cap_drop = vec!["ALL".into()];
        i.cap_add = vec!["NET_BIND_SERVICE".into()];
        assert_eq!(caps_of(&json_of(&i)), vec!["CAP_NET_BIND_SERVICE"]);

        let mut i = input();
        i.cap_drop = vec!["all".into()];
        assert!(caps_of(&json_of(&i)).is_empty());

        let mut i = input();
        i.cap_add = vec!["ALL".into()];
        i.cap_drop = vec!["SYS_ADMIN".into()];
        let caps = caps_of(&json_of(&i));
        assert_eq!(caps.len(), known_capabilities().len() - 1);
        assert!(!caps.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(caps.contains(&"CAP_SYS_MODULE".to_string()));
    }

    #[test]
    fn unknown_capability_is_rejected() {
        let mut i = input();
        i.cap_add = vec!["FOO".into()];
        assert_eq!(
            build_spec(&i).unwrap_err().to_string(),
            r#"unknown capability: "CAP_FOO""#
        );
    }

    #[test]
    fn masks_seccomp_and_mounts_by_default() {
        let v = json_of(&input());
        assert_eq!(v["linux"]["maskedPaths"], json!(MASKED_PATHS));
        assert_eq!(v["linux"]["readonlyPaths"], json!(READONLY_PATHS));
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["root"]["readonly"], false);
        assert_eq!(v["hostname"], "c1host");
        assert_eq!(v["linux"]["cgroupsPath"], "/berth/c1");
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm"
            ]
        );
        let sys = &v["mounts"][3];
        assert!(sys["options"].as_array().unwrap().contains(&json!("ro")));
        let shm = &v["mounts"][6];
        assert!(shm["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=67108864")));
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        for t in ["pid", "ipc", "uts", "mount", "network"] {
            assert!(ns.contains(&t), "{t} namespace");
        }
        // A network namespace made ahead is joined by path; the host's is not replaced.
        let mut made = input();
        made.netns = NetNs::None;
        made.netns_path = Some("/proc/1/fd/7".into());
        let net = |v: &Value| {
            v["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["type"] == "network")
                .cloned()
        };
        assert_eq!(
            net(&json_of(&made)),
            Some(json!({"type": "network", "path": "/proc/1/fd/7"}))
        );
        made.netns = NetNs::Host;
        assert_eq!(net(&json_of(&made)), None);
        // Device cgroup: deny everything, then the default devices.
        let devices = v["linux"]["resources"]["devices"].as_array().unwrap();
        assert_eq!(devices[0], json!({"allow": false, "access": "rwm"}));
        assert!(devices.len() > 5);
        assert!(v["process"].get("noNewPrivileges").is_none());
    }

    #[test]
    fn seccomp_unconfined_and_custom() {
        let mut i = input();
        i.seccomp = Seccomp::Unconfined;
        assert!(json_of(&i)["linux"].get("seccomp").is_none());
        i.seccomp = Seccomp::Profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#
                .into(),
        );
        let v = json_of(&i);
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(
            v["linux"]["seccomp"]["syscalls"][0]["names"],
            json!(["mkdir"])
        );
        // cap_add SYS_ADMIN reaches the default profile's includes.
        let mut i = input();
        i.cap_add = vec!["SYS_ADMIN".into()];
        let v = json_of(&i);
        let allowed_mount = v["linux"]["seccomp"]["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["names"].as_array().unwrap().contains(&json!("mount")));
        assert!(allowed_mount);
    }

    #[test]
    fn privileged_as_docker() {
        let mut i = input();
        i.privileged = true;
        let v = json_of(&i);
        assert_eq!(caps_of(&v).len(), known_capabilities().len());
        assert!(v["linux"].get("seccomp").is_none());
        assert!(v["linux"].get("maskedPaths").is_none());
        assert!(v["linux"].get("readonlyPaths").is_none());
        assert_eq!(
            v["linux"]["resources"]["devices"],
            json!([{"allow": true, "access": "rwm"}])
        );
        let devices = v["linux"]["devices"].as_array().unwrap();
        assert!(devices.iter().any(|d| d["path"] == "/dev/null"));
        assert!(!devices.iter().any(|d| d["path"] == "/dev/pts/ptmx"));
        let sys = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/sys")
            .unwrap();
        assert!(sys["options"].as_array().unwrap().contains(&json!("rw")));
        // An explicit profile still applies when privileged.
        i.seccomp = Seccomp::Profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#.into());
        assert!(json_of(&i)["linux"].get("seccomp").is_some());
    }

    #[test]
    fn read_only_user_mounts_and_etc_files() {
        let mut i = input();
        i.read_only = true;
        i.shm_size = Some(1 << 20);
        i.mounts = vec![
            Mount::Bind {
                source: "/srv/data".into(),
                destination: "/data".into(),
                readonly: true,
            },
            Mount::Tmpfs {
                destination: "/run".into(),
                options: vec!["size=1m".into(), "exec".into()],
            },
            Mount::Tmpfs {
                destination: "/dev/mqueue".into(),
                options: vec![],
            },
        ];
        i.etc_files = vec![("/x/hosts".into(), "/etc/hosts")];
        let v = json_of(&i);
        assert_eq!(v["root"]["readonly"], true);
        let mounts = v["mounts"].as_array().unwrap();
        let find = |d: &str| {
            mounts
                .iter()
                .filter(|m| m["destination"] == d)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            find("/data")[0]["options"],
            json!(["rbind", "rprivate", "ro"])
        );
        assert_eq!(
            find("/run")[0]["options"],
            json!(["nosuid", "nodev", "size=1m", "exec"])
        );
        // The user's /dev/mqueue replaces the default one.
        assert_eq!(find("/dev/mqueue").len(), 1);
        assert_eq!(find("/dev/mqueue")[0]["type"], "tmpfs");
        assert_eq!(find("/etc/hosts")[0]["source"], "/x/hosts");
        assert_eq!(
            find("/etc/hosts")[0]["options"],
            json!(["rbind", "rprivate", "ro"])
        );
        assert!(find("/dev/shm")[0]["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=1048576")));
    }

    #[test]
    fn resources_become_linux_resources() {
        let mut i = input();
        i.resources = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(-1),
            memory_reservation: Some(32 << 20),
            cpu_shares: Some(512),
            nano_cpus: Some(1_500_000_000),
            cpu_quota: Some(5000),
            cpuset_cpus: Some("0".into()),
            pids_limit: Some(100),
            blkio_weight: Some(300),
            ..Default::default()
        };
        let v = json_of(&i);
        let r = &v["linux"]["resources"];
        assert_eq!(r["memory"]["limit"], 64 << 20);
        assert_eq!(r["memory"]["swap"], -1);
        assert_eq!(r["memory"]["reservation"], 32 << 20);
        assert_eq!(r["cpu"]["shares"], 512);
        // --cpus=1.5 → 150 ms per 100 ms, overriding --cpu-quota.
        assert_eq!(r["cpu"]["quota"], 150_000);
        assert_eq!(r["cpu"]["period"], 100_000);
        assert_eq!(r["cpu"]["cpus"], "0");
        assert_eq!(r["pids"]["limit"], 100);
        assert_eq!(r["blockIO"]["weight"], 300);

        let mut i = input();
        i.resources = Resources {
            cpu_quota: Some(20_000),
            cpu_period: Some(50_000),
            pids_limit: Some(0),
            ..Default::default()
        };
        let r = json_of(&i)["linux"]["resources"].clone();
        assert_eq!(r["cpu"]["quota"], 20_000);
        assert_eq!(r["cpu"]["period"], 50_000);
        assert_eq!(r["pids"]["limit"], -1);
        assert!(r.get("memory").is_none());
        // The daemon stores Resources as JSON and sends it for `update`.
        let text = serde_json::to_string(&i.resources).unwrap();
        assert_eq!(
            serde_json::from_str::<Resources>(&text).unwrap(),
            i.resources
        );
        assert_eq!(
            serde_json::from_str::<Resources>("{}").unwrap(),
            Resources::default()
        );
    }

    #[test]
    fn process_settings() {
        let mut i = input();
        i.tty = true;
        i.user = User {
            uid: 1000,
            gid: 100,
            additional_gids: vec![10, 20],
        };
        i.no_new_privileges = true;
        i.ulimits = vec![
            Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048,
            },
            Ulimit {
                name: "core".into(),
                soft: -1,
                hard: -1,
            },
        ];
        i.oom_score_adj = Some(500);
        i.sysctls = HashMap::from([("net.core.somaxconn".into(), "1024".into())]);
        i.netns = NetNs::Host;
        i.init = true;
        let v = json_of(&i);
        let p = &v["process"];
        assert_eq!(p["terminal"], true);
        assert_eq!(p["cwd"], "/");
        assert_eq!(
            p["user"],
            json!({"uid": 1000, "gid": 100, "additionalGids": [10, 20]})
        );
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(
            p["rlimits"][0],
            json!({"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048})
        );
        assert_eq!(p["rlimits"][1]["soft"], u64::MAX);
        assert_eq!(p["oomScoreAdj"], 500);
        assert_eq!(v["linux"]["sysctl"]["net.core.somaxconn"], "1024");
        assert!(!v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "network"));
        assert_eq!(v["annotations"][INIT_ANNOTATION], "true");

        i.ulimits = vec![Ulimit {
            name: "bogus".into(),
            soft: 1,
            hard: 1,
        }];
        assert!(matches!(build_spec(&i), Err(Error::UnknownUlimit(_))));
        i.ulimits.clear();
        i.args.clear();
        assert!(build_spec(&i).is_err());
    }
}
