//! cgroup helpers for `docker stats/update/top/pause` and OOM detection, on cgroup v1
//! (legacy or hybrid) and v2 (unified). Usable from any process: plain file I/O.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::Resources;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// USER_HZ: /proc/stat and cpuacct.stat count in 1/100 s.
const NS_PER_TICK: u64 = 10_000_000;

/// One `docker stats` sample of a container's cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// 1 or 2.
    pub cgroup_version: u8,
    /// Total CPU time of the container (ns).
    pub cpu_total_ns: u64,
    /// Per-CPU time (ns); empty on cgroup v2, which has no per-CPU accounting.
    pub cpu_percpu_ns: Vec<u64>,
    pub cpu_user_ns: u64,
    pub cpu_kernel_ns: u64,
    /// Host CPU time across all CPUs (ns), docker's `system_cpu_usage`.
    pub system_usage_ns: u64,
    pub online_cpus: u32,
    pub throttling_periods: u64,
    pub throttled_periods: u64,
    pub throttled_time_ns: u64,
    /// Memory in use (bytes) including page cache.
    pub memory_usage: u64,
    /// The limit, or the host's memory when unlimited (as docker shows).
    pub memory_limit: u64,
    /// Peak usage (v1 `max_usage_in_bytes`, v2 `memory.peak`); 0 when unknown.
    pub memory_max_usage: u64,
    /// Inactive page cache docker subtracts from usage (`total_inactive_file` on v1,
    /// `inactive_file` on v2).
    pub memory_cache: u64,
    /// The raw `memory.stat`.
    pub memory_stats: BTreeMap<String, u64>,
    pub pids_current: u64,
    /// 0 = unlimited.
    pub pids_limit: u64,
    pub blkio_read_bytes: u64,
    pub blkio_write_bytes: u64,
    pub blkio_entries: Vec<BlkioEntry>,
}

/// One line of docker's `io_service_bytes_recursive`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    /// "read" or "write" (v2), "Read"/"Write"/"Sync"/"Async"/"Discard"/"Total" (v1).
    pub op: String,
    pub value: u64,
}

/// Where the hierarchies are mounted.
#[derive(Debug, Clone)]
pub(crate) enum Layout {
    /// One directory per controller (e.g. `memory` → `/sys/fs/cgroup/memory`).
    V1(BTreeMap<String, PathBuf>),
    /// The unified hierarchy's root.
    V2(PathBuf),
}

/// Whether the host runs the unified (v2-only) hierarchy.
pub(crate) fn is_unified() -> bool {
    Path::new(CGROUP_ROOT).join("cgroup.controllers").exists()
}

impl Layout {
    /// This process's view, detected once: mountinfo is a few hundred microseconds of
    /// kernel text generation and parsing, asked at every stats sample and every exit.
    pub(crate) fn host() -> Result<&'static Layout> {
        static HOST: OnceLock<Layout> = OnceLock::new();
        if let Some(l) = HOST.get() {
            return Ok(l);
        }
        let l = Layout::detect()?;
        Ok(HOST.get_or_init(|| l))
    }

    pub(crate) fn detect() -> Result<Layout> {
        if is_unified() {
            return Ok(Layout::V2(PathBuf::from(CGROUP_ROOT)));
        }
        let info = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| Error::io("reading /proc/self/mountinfo", e))?;
        Ok(Layout::V1(v1_mounts(&info)))
    }

    fn dir(&self, controller: &str, cgroup: &str) -> Result<PathBuf> {
        let rel = cgroup.trim_start_matches('/');
        match self {
            Layout::V2(root) => Ok(root.join(rel)),
            Layout::V1(map) => {
                map.get(controller)
                    .map(|m| m.join(rel))
                    .ok_or_else(|| Error::Cgroup {
                        path: cgroup.to_string(),
                        message: format!("the {controller} controller is not mounted"),
                    })
            }
        }
    }
}

/// Controller → mount point of every cgroup v1 mount in a mountinfo text.
fn v1_mounts(mountinfo: &str) -> BTreeMap<String, PathBuf> {
    let mut map = BTreeMap::new();
    for line in mountinfo.lines() {
        // "<id> <parent> <maj:min> <root> <mount point> <opts> [optional…] - <fstype> <src> <super opts>"
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split_whitespace();
        if r.next() != Some("cgroup") {
            continue;
        }
        let super_opts = r.nth(1).unwrap_or("");
        let Some(mount_point) = left.split_whitespace().nth(4) else {
            continue;
        };
        for opt in super_opts.split(',') {
            let name = opt.strip_prefix("name=").unwrap_or(opt);
            if matches!(
                name,
                "cpu"
                    | "cpuacct"
                    | "cpuset"
                    | "memory"
                    | "devices"
                    | "freezer"
                    | "blkio"
                    | "pids"
                    | "net_cls"
                    | "net_prio"
                    | "perf_event"
                    | "hugetlb"
                    | "systemd"
                    | "rdma"
                    | "misc"
            ) {
                map.entry(name.to_string())
                    .or_insert_with(|| PathBuf::from(mount_point));
            }
        }
    }
    map
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))
}

fn read_opt(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn read_u64(path: &Path) -> Option<u64> {
    read_opt(path).and_then(|s| s.trim().parse().ok())
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value)
        .map_err(|e| Error::io(format!("writing {value:?} to {}", path.display()), e))
}

/// "key value" lines.
fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// Host memory from /proc/meminfo in bytes.
fn host_memory() -> u64 {
    read_opt(Path::new("/proc/meminfo"))
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// The host's total CPU time and online CPUs from /proc/stat.
fn host_cpu() -> (u64, u32) {
    let text = read_opt(Path::new("/proc/stat")).unwrap_or_default();
    let mut total = 0;
    let mut cpus = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("cpu ") {
            // user nice system idle iowait irq softirq steal (guest time is in user).
            total = rest
                .split_whitespace()
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
                * NS_PER_TICK;
        } else if line.starts_with("cpu") {
            cpus += 1;
        }
    }
    (total, cpus)
}

/// A resource usage sample of the cgroup at `cgroups_path` (the spec's `cgroupsPath`).
pub fn stats(cgroups_path: &str) -> Result<Stats> {
    stats_in(Layout::host()?, cgroups_path)
}

pub(crate) fn stats_in(layout: &Layout, cgroups_path: &str) -> Result<Stats> {
    let mut s = Stats::default();
    let (system, cpus) = host_cpu();
    s.system_usage_ns = system;
    s.online_cpus = cpus;
    let host_mem = host_memory();
    match layout {
        Layout::V1(_) => {
            s.cgroup_version = 1;
            let acct = layout.dir("cpuacct", cgroups_path)?;
            s.cpu_total_ns =
                read_u64(&acct.join("cpuacct.usage")).ok_or_else(|| Error::Cgroup {
                    path: cgroups_path.to_string(),
                    message: format!("no cpuacct.usage in {}", acct.display()),
                })?;
            s.cpu_percpu_ns = read_opt(&acct.join("cpuacct.usage_percpu"))
                .map(|t| {
                    t.split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            let stat = flat_keyed(&read_opt(&acct.join("cpuacct.stat")).unwrap_or_default());
            s.cpu_user_ns = stat.get("user").copied().unwrap_or(0) * NS_PER_TICK;
            s.cpu_kernel_ns = stat.get("system").copied().unwrap_or(0) * NS_PER_TICK;
            if let Ok(cpu) = layout.dir("cpu", cgroups_path) {
                let t = flat_keyed(&read_opt(&cpu.join("cpu.stat")).unwrap_or_default());
                s.throttling_periods = t.get("nr_periods").copied().unwrap_or(0);
                s.throttled_periods = t.get("nr_throttled").copied().unwrap_or(0);
                s.throttled_time_ns = t.get("throttled_time").copied().unwrap_or(0);
            }
            let mem = layout.dir("memory", cgroups_path)?;
            s.memory_usage = read_u64(&mem.join("memory.usage_in_bytes")).unwrap_or(0);
            s.memory_max_usage = read_u64(&mem.join("memory.max_usage_in_bytes")).unwrap_or(0);
            let limit = read_u64(&mem.join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
            s.memory_limit = cap_limit(limit, host_mem);
            s.memory_stats = flat_keyed(&read_opt(&mem.join("memory.stat")).unwrap_or_default());
            s.memory_cache = s
                .memory_stats
                .get("total_inactive_file")
                .or_else(|| s.memory_stats.get("cache"))
                .copied()
                .unwrap_or(0);
            if let Ok(pids) = layout.dir("pids", cgroups_path) {
                s.pids_current = read_u64(&pids.join("pids.current")).unwrap_or(0);
                s.pids_limit = read_u64(&pids.join("pids.max")).unwrap_or(0);
            }
            if let Ok(blkio) = layout.dir("blkio", cgroups_path) {
                let text = read_opt(&blkio.join("blkio.throttle.io_service_bytes_recursive"))
                    .filter(|t| t.lines().count() > 1)
                    .or_else(|| read_opt(&blkio.join("blkio.io_service_bytes_recursive")))
                    .unwrap_or_default();
                s.blkio_entries = parse_blkio_v1(&text);
            }
            for e in &s.blkio_entries {
                match e.op.as_str() {
                    "Read" => s.blkio_read_bytes += e.value,
                    "Write" => s.blkio_write_bytes += e.value,
                    _ => {}
                }
            }
        }
        Layout::V2(_) => {
            s.cgroup_version = 2;
            let dir = layout.dir("", cgroups_path)?;
            let cpu = flat_keyed(&read(&dir.join("cpu.stat"))?);
            s.cpu_total_ns = cpu.get("usage_usec").copied().unwrap_or(0) * 1000;
            s.cpu_user_ns = cpu.get("user_usec").copied().unwrap_or(0) * 1000;
            s.cpu_kernel_ns = cpu.get("system_usec").copied().unwrap_or(0) * 1000;
            s.throttling_periods = cpu.get("nr_periods").copied().unwrap_or(0);
            s.throttled_periods = cpu.get("nr_throttled").copied().unwrap_or(0);
            s.throttled_time_ns = cpu.get("throttled_usec").copied().unwrap_or(0) * 1000;
            s.memory_usage = read_u64(&dir.join("memory.current")).unwrap_or(0);
            s.memory_max_usage = read_u64(&dir.join("memory.peak")).unwrap_or(0);
            let limit = read_u64(&dir.join("memory.max")).unwrap_or(u64::MAX);
            s.memory_limit = cap_limit(limit, host_mem);
            s.memory_stats = flat_keyed(&read_opt(&dir.join("memory.stat")).unwrap_or_default());
            s.memory_cache = s.memory_stats.get("inactive_file").copied().unwrap_or(0);
            s.pids_current = read_u64(&dir.join("pids.current")).unwrap_or(0);
            s.pids_limit = read_u64(&dir.join("pids.max")).unwrap_or(0);
            s.blkio_entries = parse_io_stat(&read_opt(&dir.join("io.stat")).unwrap_or_default());
            for e in &s.blkio_entries {
                match e.op.as_str() {
                    "read" => s.blkio_read_bytes += e.value,
                    "write" => s.blkio_write_bytes += e.value,
                    _ => {}
                }
            }
        }
    }
    Ok(s)
}

/// Unlimited (or above the host) shows as the host's memory, like docker.
fn cap_limit(limit: u64, host: u64) -> u64 {
    if host > 0 && limit > host {
        host
    } else {
        limit
    }
}

/// "8:0 Read 4096" lines; the trailing "Total N" line has no device and is skipped.
fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (major, minor) = it.next()?.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: it.next()?.to_string(),
                value: it.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// "8:0 rbytes=1 wbytes=2 rios=3 wios=4 …" → read/write entries per device.
fn parse_io_stat(text: &str) -> Vec<BlkioEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((major, minor)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in it {
            let (op, key) = match kv.split_once('=') {
                Some(("rbytes", v)) => ("read", v),
                Some(("wbytes", v)) => ("write", v),
                _ => continue,
            };
            if let Ok(value) = key.parse() {
                out.push(BlkioEntry {
                    major,
                    minor,
                    op: op.to_string(),
                    value,
                });
            }
        }
    }
    out
}

/// Applies the limits set in `r` to a running container's cgroup (`docker update`).
pub fn update(cgroups_path: &str, r: &Resources) -> Result<()> {
    update_in(Layout::host()?, cgroups_path, r)
}

pub(crate) fn update_in(layout: &Layout, cgroups_path: &str, r: &Resources) -> Result<()> {
    let (quota, period) = r.cfs();
    match layout {
        Layout::V1(_) => {
            if r.memory.is_some()
                || r.memory_swap.is_some()
                || r.memory_reservation.is_some()
                || r.memory_swappiness.is_some()
                || r.oom_kill_disable.is_some()
            {
                let mem = layout.dir("memory", cgroups_path)?;
                update_memory_v1(&mem, r)?;
            }
            if r.cpu_shares.is_some() || quota.is_some() || period.is_some() {
                let cpu = layout.dir("cpu", cgroups_path)?;
                if let Some(v) = r.cpu_shares.filter(|v| *v > 0) {
                    write(&cpu.join("cpu.shares"), &v.to_string())?;
                }
                if let Some(v) = period.filter(|v| *v > 0) {
                    write(&cpu.join("cpu.cfs_period_us"), &v.to_string())?;
                }
                if let Some(v) = quota {
                    let v = if v > 0 { v } else { -1 };
                    write(&cpu.join("cpu.cfs_quota_us"), &v.to_string())?;
                }
            }
            if r.cpuset_cpus.is_some() || r.cpuset_mems.is_some() {
                let cpuset = layout.dir("cpuset", cgroups_path)?;
                if let Some(v) = r.cpuset_cpus.as_deref().filter(|v| !v.is_empty()) {
                    write(&cpuset.join("cpuset.cpus"), v)?;
                }
                if let Some(v) = r.cpuset_mems.as_deref().filter(|v| !v.is_empty()) {
                    write(&cpuset.join("cpuset.mems"), v)?;
                }
            }
            if let Some(v) = r.pids_limit {
                let pids = layout.dir("pids", cgroups_path)?;
                write(&pids.join("pids.max"), &pids_max(v))?;
            }
            if let Some(v) = r.blkio_weight.filter(|v| *v > 0) {
                let blkio = layout.dir("blkio", cgroups_path)?;
                let file = ["blkio.weight", "blkio.bfq.weight"]
                    .iter()
                    .map(|f| blkio.join(f))
                    .find(|p| p.exists())
                    .unwrap_or_else(|| blkio.join("blkio.weight"));
                write(&file, &v.to_string())?;
            }
        }
        Layout::V2(_) => {
            let dir = layout.dir("", cgroups_path)?;
            if let Some(v) = r.memory_reservation.filter(|v| *v > 0) {
                write(&dir.join("memory.low"), &v.to_string())?;
            }
            update_memory_v2(&dir, r)?;
            if let Some(v) = r.cpu_shares.filter(|v| *v > 0) {
                write(&dir.join("cpu.weight"), &shares_to_weight(v).to_string())?;
            }
            if quota.is_some() || period.is_some() {
                let current = read_opt(&dir.join("cpu.max")).unwrap_or_default();
                let mut parts = current.split_whitespace();
                let cur_quota = parts.next().unwrap_or("max").to_string();
                let cur_period = parts.next().unwrap_or("100000").to_string();
                let q = match quota {
                    Some(v) if v > 0 => v.to_string(),
                    Some(_) => "max".to_string(),
                    None => cur_quota,
                };
                let p = period
                    .filter(|v| *v > 0)
                    .map(|v| v.to_string())
                    .unwrap_or(cur_period);
                write(&dir.join("cpu.max"), &format!("{q} {p}"))?;
            }
            if let Some(v) = r.cpuset_cpus.as_deref().filter(|v| !v.is_empty()) {
                write(&dir.join("cpuset.cpus"), v)?;
            }
            if let Some(v) = r.cpuset_mems.as_deref().filter(|v| !v.is_empty()) {
                write(&dir.join("cpuset.mems"), v)?;
            }
            if let Some(v) = r.pids_limit {
                write(&dir.join("pids.max"), &pids_max(v))?;
            }
            if let Some(v) = r.blkio_weight.filter(|v| *v > 0) {
                // blkio 10–1000 → io 1–10000, runc's conversion.
                let weight = 1 + (v - 10) * 9999 / 990;
                write(&dir.join("io.weight"), &format!("default {weight}"))?;
            }
        }
    }
    Ok(())
}

fn pids_max(v: i64) -> String {
    if v > 0 {
        v.to_string()
    } else {
        "max".to_string()
    }
}

/// cgroup v1 `cpu.shares` (2–262144) → v2 `cpu.weight` (1–10000), runc's formula.
fn shares_to_weight(shares: i64) -> i64 {
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

fn update_memory_v1(mem: &Path, r: &Resources) -> Result<()> {
    if let Some(v) = r.memory_reservation.filter(|v| *v > 0) {
        write(&mem.join("memory.soft_limit_in_bytes"), &v.to_string())?;
    }
    let limit = r.memory.filter(|v| *v != 0).map(|v| v.to_string());
    let memsw_file = mem.join("memory.memsw.limit_in_bytes");
    let swap = r
        .memory_swap
        .filter(|v| *v != 0 && memsw_file.exists())
        .map(|v| v.to_string());
    match (limit, swap) {
        (Some(l), Some(s)) => {
            // memory ≤ memsw at all times: raising needs memsw first, lowering memory first.
            if write(&mem.join("memory.limit_in_bytes"), &l).is_err() {
                write(&memsw_file, &s)?;
                write(&mem.join("memory.limit_in_bytes"), &l)?;
            } else {
                write(&memsw_file, &s)?;
            }
        }
        (Some(l), None) => write(&mem.join("memory.limit_in_bytes"), &l)?,
        (None, Some(s)) => write(&memsw_file, &s)?,
        (None, None) => {}
    }
    if let Some(v) = r.memory_swappiness.filter(|v| (0..=100).contains(v)) {
        write(&mem.join("memory.swappiness"), &v.to_string())?;
    }
    if let Some(v) = r.oom_kill_disable {
        write(&mem.join("memory.oom_control"), if v { "1" } else { "0" })?;
    }
    Ok(())
}

fn update_memory_v2(dir: &Path, r: &Resources) -> Result<()> {
    if let Some(v) = r.memory.filter(|v| *v != 0) {
        let max = if v > 0 {
            v.to_string()
        } else {
            "max".to_string()
        };
        write(&dir.join("memory.max"), &max)?;
    }
    if let Some(swap) = r.memory_swap.filter(|v| *v != 0) {
        // v2 limits swap alone; docker's memory-swap is memory + swap.
        let value = if swap < 0 {
            "max".to_string()
        } else {
            let memory = r
                .memory
                .filter(|m| *m > 0)
                .or_else(|| read_opt(&dir.join("memory.max")).and_then(|t| t.trim().parse().ok()));
            match memory {
                Some(m) if swap >= m => (swap - m).to_string(),
                Some(m) => {
                    return Err(Error::Cgroup {
                        path: dir.display().to_string(),
                        message: format!(
                            "memory-swap {swap} must be at least the memory limit {m}"
                        ),
                    })
                }
                None => swap.to_string(),
            }
        };
        write(&dir.join("memory.swap.max"), &value)?;
    }
    Ok(())
}

/// Pids of every process in the cgroup and its descendants (`docker top`).
pub fn pids(cgroups_path: &str) -> Result<Vec<i32>> {
    pids_in(Layout::host()?, cgroups_path)
}

pub(crate) fn pids_in(layout: &Layout, cgroups_path: &str) -> Result<Vec<i32>> {
    let dir = match layout {
        Layout::V2(_) => layout.dir("", cgroups_path)?,
        Layout::V1(_) => ["pids", "memory", "freezer", "cpu", "systemd"]
            .iter()
            .find_map(|c| layout.dir(c, cgroups_path).ok().filter(|d| d.exists()))
            .ok_or_else(|| Error::Cgroup {
                path: cgroups_path.to_string(),
                message: "no cgroup v1 hierarchy has this cgroup".to_string(),
            })?,
    };
    let mut out = Vec::new();
    collect_pids(&dir, &mut out)?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let procs = read(&dir.join("cgroup.procs"))?;
    out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_pids(&entry.path(), out)?;
        }
    }
    Ok(())
}

/// Whether the kernel's OOM killer killed a process of the cgroup.
pub fn oom_killed(cgroups_path: &str) -> bool {
    Layout::host()
        .map(|l| oom_killed_in(l, cgroups_path))
        .unwrap_or(false)
}

pub(crate) fn oom_killed_in(layout: &Layout, cgroups_path: &str) -> bool {
    let file = match layout {
        Layout::V1(_) => layout
            .dir("memory", cgroups_path)
            .map(|d| d.join("memory.oom_control")),
        Layout::V2(_) => layout
            .dir("", cgroups_path)
            .map(|d| d.join("memory.events")),
    };
    file.ok()
        .and_then(|f| read_opt(&f))
        .map(|t| flat_keyed(&t).get("oom_kill").copied().unwrap_or(0) > 0)
        .unwrap_or(false)
}

/// Freezes (`true`) or thaws the cgroup and waits until the kernel reports it done.
pub fn freeze(cgroups_path: &str, frozen: bool) -> Result<()> {
    freeze_in(Layout::host()?, cgroups_path, frozen)
}

pub(crate) fn freeze_in(layout: &Layout, cgroups_path: &str, frozen: bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    match layout {
        Layout::V1(_) => {
            let dir = layout.dir("freezer", cgroups_path)?;
            let want = if frozen { "FROZEN" } else { "THAWED" };
            loop {
                write(&dir.join("freezer.state"), want)?;
                let state = read(&dir.join("freezer.state"))?;
                if state.trim() == want {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(Error::Cgroup {
                        path: cgroups_path.to_string(),
                        message: format!("freezer still {} after 5s", state.trim()),
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Layout::V2(_) => {
            let dir = layout.dir("", cgroups_path)?;
            write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
            loop {
                let events = flat_keyed(&read(&dir.join("cgroup.events"))?);
                if events.get("frozen").copied().unwrap_or(0) == u64::from(frozen) {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(Error::Cgroup {
                        path: cgroups_path.to_string(),
                        message: format!(
                            "cgroup.events does not show frozen {} after 5s",
                            u8::from(frozen)
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Any cgroup path: the manager made to read ahead is never used.
const READ_AHEAD_CGROUP: &str = "/berth";

/// Reads ahead what a container's start and exit look up about the host's cgroup
/// hierarchies (their mount points, for berth's helpers and for libcgroups', and which
/// ones this process is in), so that this process and the ones it forks find them read.
/// A spare shim calls this while it waits for its container: the reads (mountinfo and
/// /proc/self/cgroup through hardened procfs handles, about 0.6 ms) then leave the path
/// of the runtime's intermediate and init processes and of the exit.
pub fn read_ahead() {
    let _ = Layout::host();
    if !is_unified() {
        // A manager reads (and keeps) the hierarchies' mounts and this process's list of
        // hierarchies; it changes nothing.
        let _ = libcgroups::v1::manager::Manager::new(Path::new(READ_AHEAD_CGROUP));
    }
}

/// A container's cgroup directories being made ahead of its runtime (see
/// [`make_ahead`]).
#[derive(Debug)]
pub struct MadeAhead {
    dirs: Vec<PathBuf>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// On cgroup v1 hosts, makes the directories of `cgroups_path` in every hierarchy the
/// runtime will place the container in (with cpuset's CPUs and memory nodes copied from
/// the parent), on a thread of its own while the start goes on. The runtime's
/// intermediate process then finds them made.
///
/// Why: a cgroup's mkdir allocates each controller's state (~50 µs per hierarchy here,
/// eight hierarchies on this host's hybrid layout), and the intermediate made them one by
/// one on the start's critical path; made ahead, they overlap the daemon's and the
/// shim's work on the other core. Whoever would remove the container's cgroups removes
/// these; [`MadeAhead::undo`] does for a start that fails before its runtime. Nothing
/// on cgroup v2, where the container has one directory.
pub fn make_ahead(cgroups_path: &str) -> MadeAhead {
    // The hierarchies libcgroups itself would place the container in.
    let mounts = if is_unified() {
        Default::default()
    } else {
        libcgroups::v1::util::list_supported_mount_points().unwrap_or_default()
    };
    let rel = cgroups_path.trim_start_matches('/');
    let dirs = dirs_in(mounts.values(), rel);
    let cpuset = mounts
        .get(&libcgroups::v1::ControllerType::CpuSet)
        .map(|m| m.join(rel));
    let made = dirs.clone();
    let thread = (!dirs.is_empty())
        .then(|| {
            std::thread::Builder::new()
                .name("cgroup-ahead".into())
                .stack_size(64 * 1024)
                .spawn(move || {
                    for dir in made {
                        // Failures are left to the runtime, which makes them again.
                        if std::fs::create_dir_all(&dir).is_ok() && Some(&dir) == cpuset.as_ref() {
                            let _ = inherit_cpuset(&dir);
                        }
                    }
                })
                .ok()
        })
        .flatten();
    MadeAhead { dirs, thread }
}

impl MadeAhead {
    /// Waits for the thread. Called once the runtime has created the container (whose
    /// own removal then removes the directories): a thread late past that point could
    /// otherwise make them again after the container's end.
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// For a start that failed before its runtime ran: waits for the directories, then
    /// removes those that hold no process.
    pub fn undo(mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let _ = thread.join();
        for dir in &self.dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// `rel` under each hierarchy's mount point (co-mounted controllers share one).
fn dirs_in<'a>(mount_points: impl IntoIterator<Item = &'a PathBuf>, rel: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = mount_points.into_iter().map(|m| m.join(rel)).collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// A new cpuset cgroup has no CPUs and no memory nodes, and takes no task until given
/// some: its parent's, as the runtime would copy them.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    let parent = dir.parent().unwrap_or(dir);
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mine = read(&dir.join(file))?;
        let theirs = read(&parent.join(file))?;
        if mine.trim().is_empty() && !theirs.trim().is_empty() {
            write(&dir.join(file), &theirs)?;
        }
    }
    Ok(())
}

/// On cgroup v2 hosts, starts on a thread of its own a no-op write of this process into
/// its own cgroup, so that the container's first `cgroup.procs` write, a moment later,
/// finds the kernel's cgroup migration lock ready.
///
/// Why: a migration through `cgroup.procs` takes the global `cgroup_threadgroup_rwsem`
/// for writing, and taking it while idle waits for an RCU grace period (5–20 ms
/// measured here, more than all else in a `run`). After a writer leaves, the next one
/// within about a grace period gets in at once (kernel/rcu/sync.c). Started at
/// create/start, the wait overlaps the shim's start instead of following it. Moving a
/// process to the cgroup it is in changes nothing; hosts whose cgroup2 is mounted with
/// `favordynmods` pay no wait at all. On cgroup v1 nothing is needed: the runtime's
/// process moves itself through `tasks`, which skips that lock (third_party/README.md).
pub fn warm_attach_lock() {
    static IN_FLIGHT: AtomicBool = AtomicBool::new(false);
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    let Some(file) = FILE
        .get_or_init(|| {
            if !is_unified() {
                return None;
            }
            let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
            own_procs_file(Layout::host().ok()?, &own)
        })
        .clone()
    else {
        return;
    };
    if IN_FLIGHT.swap(true, Ordering::AcqRel) {
        return; // one in flight warms for every container starting meanwhile
    }
    let spawned = std::thread::Builder::new()
        .name("cgroup-warm".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            // "0" is the writing process; failures only mean no warm-up.
            let _ = std::fs::write(&file, "0");
            IN_FLIGHT.store(false, Ordering::Release);
        });
    if spawned.is_err() {
        IN_FLIGHT.store(false, Ordering::Release);
    }
}

/// The `cgroup.procs` of the cgroup this process is in (from `/proc/self/cgroup`), in a
/// hierarchy `layout` has mounted.
fn own_procs_file(layout: &Layout, proc_self_cgroup: &str) -> Option<PathBuf> {
    proc_self_cgroup.lines().find_map(|line| {
        // "<hierarchy id>:<controllers>:<path>"; v2 is "0::<path>".
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let dir = match layout {
            Layout::V2(_) if controllers.is_empty() => layout.dir("", path).ok()?,
            Layout::V2(_) => return None,
            Layout::V1(_) => controllers
                .split(',')
                .find_map(|c| layout.dir(c.strip_prefix("name=").unwrap_or(c), path).ok())?,
        };
        Some(dir.join("cgroup.procs"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn put(dir: &Path, name: &str, text: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(name), text).unwrap();
    }

    fn get(dir: &Path, name: &str) -> String {
        fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn runtime_dirs_are_one_per_mounted_hierarchy() {
        // cpu and cpuacct co-mounted (libcgroups gives the named systemd hierarchy no
        // controller, so it is not among the mount points).
        let mounts = [
            PathBuf::from("/c/cpu,cpuacct"),
            PathBuf::from("/c/cpu,cpuacct"),
            PathBuf::from("/c/memory"),
        ];
        assert_eq!(
            dirs_in(&mounts, "berth/x"),
            [
                PathBuf::from("/c/cpu,cpuacct/berth/x"),
                PathBuf::from("/c/memory/berth/x")
            ]
        );
    }

    #[test]
    fn own_procs_file_per_layout() {
        let v1 = Layout::V1(BTreeMap::from([
            ("pids".to_string(), PathBuf::from("/sys/fs/cgroup/pids")),
            (
                "systemd".to_string(),
                PathBuf::from("/sys/fs/cgroup/systemd"),
            ),
        ]));
        // Hybrid: unmounted controllers and the unified line are passed over.
        let own = "12:hugetlb:/\n3:pids:/system.slice/berth.service\n1:name=systemd:/x\n0::/y\n";
        assert_eq!(
            own_procs_file(&v1, own),
            Some(PathBuf::from(
                "/sys/fs/cgroup/pids/system.slice/berth.service/cgroup.procs"
            ))
        );
        assert_eq!(
            own_procs_file(&v1, "1:name=systemd:/x\n"),
            Some(PathBuf::from("/sys/fs/cgroup/systemd/x/cgroup.procs"))
        );
        assert_eq!(own_procs_file(&v1, "0::/y\n"), None);
        let v2 = Layout::V2(PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(
            own_procs_file(&v2, "0::/user.slice/a.scope\n"),
            Some(PathBuf::from(
                "/sys/fs/cgroup/user.slice/a.scope/cgroup.procs"
            ))
        );
    }

    /// The warm-up's write moves this process nowhere.
    #[test]
    fn warm_attach_lock_keeps_the_process_in_its_cgroup() {
        let before = fs::read_to_string("/proc/self/cgroup").unwrap();
        warm_attach_lock();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && fs::read_dir("/proc/self/task")
                .unwrap()
                .flatten()
                .any(|t| get(&t.path(), "comm").trim() == "cgroup-warm")
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(fs::read_to_string("/proc/self/cgroup").unwrap(), before);
    }

    #[test]
    fn mountinfo_v1_controllers() {
        let info = "\
30 23 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw
35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw shared:15 - cgroup cgroup rw,cpu,cpuacct
36 30 0:32 / /sys/fs/cgroup/memory rw shared:16 - cgroup cgroup rw,memory
37 30 0:33 / /sys/fs/cgroup/systemd rw shared:17 - cgroup cgroup rw,xattr,name=systemd
";
        let m = v1_mounts(info);
        assert_eq!(m["cpu"], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(m["cpuacct"], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(m["memory"], PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(m["systemd"], PathBuf::from("/sys/fs/cgroup/systemd"));
        assert!(!m.contains_key("pids"));
        let layout = Layout::V1(m);
        assert!(layout.dir("pids", "/berth/x").is_err());
        assert_eq!(
            layout.dir("memory", "/berth/x").unwrap(),
            PathBuf::from("/sys/fs/cgroup/memory/berth/x")
        );
    }

    fn v1_layout(root: &Path) -> Layout {
        let map = [
            "cpu", "cpuacct", "memory", "pids", "blkio", "cpuset", "freezer",
        ]
        .iter()
        .map(|c| (c.to_string(), root.join(c)))
        .collect();
        Layout::V1(map)
    }

    #[test]
    fn v1_stats_from_files() {
        let tmp = tempfile::tempdir().unwrap();
        let l = v1_layout(tmp.path());
        let acct = tmp.path().join("cpuacct/c");
        put(&acct, "cpuacct.usage", "3000\n");
        put(&acct, "cpuacct.usage_percpu", "1000 2000 \n");
        put(&acct, "cpuacct.stat", "user 2\nsystem 1\n");
        put(
            &tmp.path().join("cpu/c"),
            "cpu.stat",
            "nr_periods 5\nnr_throttled 2\nthrottled_time 77\n",
        );
        let mem = tmp.path().join("memory/c");
        put(&mem, "memory.usage_in_bytes", "8192\n");
        put(&mem, "memory.max_usage_in_bytes", "9000\n");
        put(&mem, "memory.limit_in_bytes", "1048576\n");
        put(
            &mem,
            "memory.stat",
            "cache 100\ntotal_inactive_file 40\nrss 7\n",
        );
        put(
            &mem,
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        );
        let pids = tmp.path().join("pids/c");
        put(&pids, "pids.current", "3\n");
        put(&pids, "pids.max", "max\n");
        put(
            &tmp.path().join("blkio/c"),
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n",
        );
        let s = stats_in(&l, "/c").unwrap();
        assert_eq!(s.cgroup_version, 1);
        assert_eq!(s.cpu_total_ns, 3000);
        assert_eq!(s.cpu_percpu_ns, vec![1000, 2000]);
        assert_eq!(s.cpu_user_ns, 20_000_000);
        assert_eq!(s.cpu_kernel_ns, 10_000_000);
        assert_eq!(
            (
                s.throttling_periods,
                s.throttled_periods,
                s.throttled_time_ns
            ),
            (5, 2, 77)
        );
        assert_eq!(s.memory_usage, 8192);
        assert_eq!(s.memory_max_usage, 9000);
        assert_eq!(s.memory_limit, 1048576);
        assert_eq!(s.memory_cache, 40);
        assert_eq!(s.memory_stats["rss"], 7);
        assert_eq!((s.pids_current, s.pids_limit), (3, 0));
        assert_eq!((s.blkio_read_bytes, s.blkio_write_bytes), (4096, 512));
        assert_eq!(s.blkio_entries.len(), 3);
        assert!(s.system_usage_ns > 0 && s.online_cpus > 0);
        assert!(oom_killed_in(&l, "/c"));
        assert!(!oom_killed_in(&l, "/other"));
        // Unlimited shows the host's memory.
        put(&mem, "memory.limit_in_bytes", "9223372036854771712\n");
        let s = stats_in(&l, "/c").unwrap();
        assert_eq!(s.memory_limit, host_memory());
    }

    #[test]
    fn v2_stats_from_files() {
        let tmp = tempfile::tempdir().unwrap();
        let l = Layout::V2(tmp.path().to_path_buf());
        let d = tmp.path().join("berth/c");
        put(&d, "cpu.stat", "usage_usec 7\nuser_usec 4\nsystem_usec 3\nnr_periods 1\nnr_throttled 0\nthrottled_usec 0\n");
        put(&d, "memory.current", "4096\n");
        put(&d, "memory.max", "max\n");
        put(&d, "memory.stat", "anon 10\nfile 20\ninactive_file 15\n");
        put(
            &d,
            "memory.events",
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n",
        );
        put(&d, "pids.current", "2\n");
        put(&d, "pids.max", "50\n");
        put(
            &d,
            "io.stat",
            "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=0\n",
        );
        let s = stats_in(&l, "/berth/c").unwrap();
        assert_eq!(s.cgroup_version, 2);
        assert_eq!(
            (s.cpu_total_ns, s.cpu_user_ns, s.cpu_kernel_ns),
            (7000, 4000, 3000)
        );
        assert!(s.cpu_percpu_ns.is_empty());
        assert_eq!(s.memory_usage, 4096);
        assert_eq!(s.memory_limit, host_memory());
        assert_eq!(s.memory_cache, 15);
        assert_eq!((s.pids_current, s.pids_limit), (2, 50));
        assert_eq!((s.blkio_read_bytes, s.blkio_write_bytes), (101, 200));
        assert!(!oom_killed_in(&l, "/berth/c"));
        put(&d, "memory.events", "oom 1\noom_kill 2\n");
        assert!(oom_killed_in(&l, "/berth/c"));
        // Errors name the missing file.
        let err = stats_in(&l, "/berth/missing").unwrap_err().to_string();
        assert!(err.contains("berth/missing/cpu.stat"), "{err}");
    }

    #[test]
    fn v2_update_writes_files() {
        let tmp = tempfile::tempdir().unwrap();
        let l = Layout::V2(tmp.path().to_path_buf());
        let d = tmp.path().join("c");
        put(&d, "cpu.max", "max 100000\n");
        put(&d, "memory.max", "max\n");
        let r = Resources {
            memory: Some(100 << 20),
            memory_swap: Some(150 << 20),
            memory_reservation: Some(50 << 20),
            cpu_shares: Some(1024),
            nano_cpus: Some(500_000_000),
            cpuset_cpus: Some("0-1".into()),
            pids_limit: Some(-1),
            blkio_weight: Some(500),
            ..Default::default()
        };
        update_in(&l, "c", &r).unwrap();
        assert_eq!(get(&d, "memory.max"), (100u64 << 20).to_string());
        assert_eq!(get(&d, "memory.swap.max"), (50u64 << 20).to_string());
        assert_eq!(get(&d, "memory.low"), (50u64 << 20).to_string());
        assert_eq!(get(&d, "cpu.weight"), "39");
        assert_eq!(get(&d, "cpu.max"), "50000 100000");
        assert_eq!(get(&d, "cpuset.cpus"), "0-1");
        assert_eq!(get(&d, "pids.max"), "max");
        assert_eq!(get(&d, "io.weight"), "default 4950");
        // Only the quota changes: the period already set is kept.
        update_in(
            &l,
            "c",
            &Resources {
                cpu_quota: Some(20_000),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(get(&d, "cpu.max"), "20000 100000");
        let bad = Resources {
            memory_swap: Some(1 << 20),
            ..Default::default()
        };
        assert!(update_in(&l, "c", &bad)
            .unwrap_err()
            .to_string()
            .contains("memory-swap"));
    }

    #[test]
    fn v1_update_writes_files() {
        let tmp = tempfile::tempdir().unwrap();
        let l = v1_layout(tmp.path());
        let mem = tmp.path().join("memory/c");
        put(&mem, "memory.memsw.limit_in_bytes", "-1\n");
        fs::create_dir_all(tmp.path().join("cpu/c")).unwrap();
        fs::create_dir_all(tmp.path().join("pids/c")).unwrap();
        let r = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            memory_reservation: Some(1 << 20),
            oom_kill_disable: Some(true),
            cpu_shares: Some(256),
            cpu_quota: Some(0),
            cpu_period: Some(50_000),
            pids_limit: Some(20),
            ..Default::default()
        };
        update_in(&l, "/c", &r).unwrap();
        assert_eq!(
            get(&mem, "memory.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            get(&mem, "memory.memsw.limit_in_bytes"),
            (128u64 << 20).to_string()
        );
        assert_eq!(
            get(&mem, "memory.soft_limit_in_bytes"),
            (1u64 << 20).to_string()
        );
        assert_eq!(get(&mem, "memory.oom_control"), "1");
        let cpu = tmp.path().join("cpu/c");
        assert_eq!(get(&cpu, "cpu.shares"), "256");
        assert_eq!(get(&cpu, "cpu.cfs_quota_us"), "-1");
        assert_eq!(get(&cpu, "cpu.cfs_period_us"), "50000");
        assert_eq!(get(&tmp.path().join("pids/c"), "pids.max"), "20");
    }

    #[test]
    fn pids_are_collected_recursively() {
        let tmp = tempfile::tempdir().unwrap();
        let l = Layout::V2(tmp.path().to_path_buf());
        put(&tmp.path().join("c"), "cgroup.procs", "12\n7\n");
        put(&tmp.path().join("c/sub"), "cgroup.procs", "30\n7\n");
        assert_eq!(pids_in(&l, "/c").unwrap(), vec![7, 12, 30]);
        assert!(pids_in(&l, "/none").is_err());
    }

    /// Unmounts and removes a cgroup2 mount made for a test, even when it fails.
    struct Cgroup2Mount {
        dir: tempfile::TempDir,
        cgroup: PathBuf,
        child: Option<std::process::Child>,
    }

    impl Drop for Cgroup2Mount {
        fn drop(&mut self) {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            let _ = fs::write(self.cgroup.join("cgroup.freeze"), "0");
            for _ in 0..100 {
                if fs::remove_dir(&self.cgroup).is_ok() || !self.cgroup.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }

    /// The v2 code on a real cgroup2 hierarchy mounted in a temp dir (on this hybrid host
    /// it has no controllers, so this covers procs, freeze and cpu.stat).
    #[test]
    fn v2_on_a_real_cgroup2_mount() {
        let dir = tempfile::tempdir().unwrap();
        if nix::mount::mount(
            Some("none"),
            dir.path(),
            Some("cgroup2"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .is_err()
        {
            eprintln!("skipping: cannot mount cgroup2 (not root?)");
            return;
        }
        let name = format!("berth-rt-test-{}", std::process::id());
        let mut guard = Cgroup2Mount {
            cgroup: dir.path().join(&name),
            dir,
            child: None,
        };
        fs::create_dir(&guard.cgroup).unwrap();
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        guard.child = Some(child);
        fs::write(guard.cgroup.join("cgroup.procs"), pid.to_string()).unwrap();
        let l = Layout::V2(guard.dir.path().to_path_buf());
        let path = format!("/{name}");
        assert_eq!(pids_in(&l, &path).unwrap(), vec![pid]);
        freeze_in(&l, &path, true).unwrap();
        assert!(get(&guard.cgroup, "cgroup.events").contains("frozen 1"));
        freeze_in(&l, &path, false).unwrap();
        assert!(get(&guard.cgroup, "cgroup.events").contains("frozen 0"));
        let s = stats_in(&l, &path).unwrap();
        assert_eq!(s.cgroup_version, 2);
        assert!(!oom_killed_in(&l, &path));
        drop(guard);
    }
}
