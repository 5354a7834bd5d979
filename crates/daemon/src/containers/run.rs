//! Running a container: the rw layer, the generated /etc files, the OCI
//! bundle, the shim, the network, and the way back (exit, cleanup). The only
//! place in the daemon that talks to `berth-shim`, `berth-runtime` and
//! `berth-network`.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_api_types::models::HostConfig;
use berth_runtime::{Mount, NetNs, Resources, Seccomp, SpecInput, Ulimit};
use berth_shim::{Request, ShimArgs, ShimClient};

use super::record::{BoundPort, Endpoint, Record};
use crate::{Daemon, Error, Result};

/// What a started container got.
pub struct Started {
    pub pid: i32,
    pub endpoint: Option<Endpoint>,
}

/// How a container ended.
#[derive(Debug, Clone, Default)]
pub struct Exit {
    pub exit_code: i64,
    pub oom_killed: bool,
    pub finished_at: String,
}

impl From<berth_shim::ExitStatus> for Exit {
    fn from(s: berth_shim::ExitStatus) -> Exit {
        Exit {
            exit_code: s.exit_code as i64,
            oom_killed: s.oom_killed,
            finished_at: berth_shim::protocol::format_rfc3339_nano(&s.finished_at),
        }
    }
}

/// Which streams an attach wants.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachStream {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// An attach that arrives before the shim exists gets its stream at start.
pub(crate) struct PendingAttach {
    streams: AttachStream,
    tx: tokio::sync::oneshot::Sender<UnixStream>,
}

/// Where an attach's bytes come from.
pub enum AttachTarget {
    /// The shim's stream: output frames (raw with a TTY) in, stdin out.
    Now(UnixStream),
    /// The container is not running yet: the stream arrives when it starts.
    AtStart(tokio::sync::oneshot::Receiver<UnixStream>),
}

pub(crate) enum ShimOp {
    Pause,
    Resume,
}

const RW: &str = "rw";

/// The rw layer's directories. A new upper directory gets the mount points of every
/// container, as docker's init layer has them (ext4 creates here are cheaper than the
/// overlay's copy-ups and creates inside the container's init).
pub fn prepare_dirs(dir: &Path) -> std::io::Result<()> {
    let rw = dir.join(RW);
    std::fs::create_dir_all(&rw)?;
    match std::fs::create_dir(rw.join("upper")) {
        Ok(()) => init_entries(&rw.join("upper"))?,
        // Used before: what is in it is the container's (and may be a symlink now).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for sub in ["work", "merged"] {
        std::fs::create_dir_all(rw.join(sub))?;
    }
    Ok(())
}

/// Mount points that every container gets, in an upper directory just made (nothing of
/// the container's can be in it yet): the kernel file systems' directories and the
/// targets of the generated /etc files, which shadow whatever the image has there (a
/// symlink included), as docker's init layer does.
fn init_entries(upper: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let mut dirs = std::fs::DirBuilder::new();
    dirs.mode(0o755);
    for d in ["proc", "sys", "dev", "etc"] {
        dirs.create(upper.join(d))?;
    }
    for f in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(upper.join(f))?;
    }
    Ok(())
}

pub fn log_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
}

fn merged(dir: &Path) -> PathBuf {
    dir.join(RW).join("merged")
}

fn is_mounted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) {
        (Ok(a), Some(Ok(b))) => a.dev() != b.dev(),
        _ => false,
    }
}

/// Mounts the container's overlay: its rw layer over the image's snapshots.
fn mount_rootfs(rec: &Record, dir: &Path) -> Result<PathBuf> {
    let target = merged(dir);
    if is_mounted(&target) {
        return Ok(target);
    }
    prepare_dirs(dir).map_err(Error::io("container directory"))?;
    let mut lower: Vec<String> = rec
        .lower_dirs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    if lower.is_empty() {
        // An image without layers: overlay needs one lower directory.
        let empty = dir.join(RW).join("empty");
        std::fs::create_dir_all(&empty).map_err(Error::io("container directory"))?;
        lower.push(empty.display().to_string());
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        dir.join(RW).join("upper").display(),
        dir.join(RW).join("work").display()
    );
    let data = std::ffi::CString::new(data)
        .map_err(|_| Error::Internal("overlay options contain a NUL byte".into()))?;
    rustix::mount::mount(
        "overlay",
        &target,
        "overlay",
        rustix::mount::MountFlags::empty(),
        Some(data.as_c_str()),
    )
    .map_err(|e| Error::Internal(format!("mounting the container's rootfs: {e}")))?;
    Ok(target)
}

fn unmount_rootfs(dir: &Path) {
    let target = merged(dir);
    if is_mounted(&target) {
        if let Err(e) = rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH) {
            tracing::warn!(path = %target.display(), error = %e, "cannot unmount rootfs");
        }
    }
}

/// The network mode, with docker's default.
fn network_mode(hc: &HostConfig) -> &str {
    match hc.network_mode.as_deref() {
        None | Some("") | Some("default") => "bridge",
        Some(m) => m,
    }
}

/// The ports to publish: `-p` bindings plus `-P` for every exposed port.
fn port_bindings(rec: &Record) -> Result<Vec<berth_network::PortBinding>> {
    let mut out = Vec::new();
    let mut add = |spec: &str, host_ip: Option<&str>, host_port: Option<&str>| -> Result<()> {
        let (port, proto) = super::create::parse_port_proto(spec)?;
        let proto = match proto.as_str() {
            "udp" => berth_network::Proto::Udp,
            _ => berth_network::Proto::Tcp,
        };
        let host_ip =
            match host_ip.filter(|s| !s.is_empty()) {
                Some(ip) => Some(ip.parse().map_err(|_| {
                    Error::InvalidParameter(format!("invalid host IP address: {ip}"))
                })?),
                None => None,
            };
        let host_port = match host_port.filter(|s| !s.is_empty()) {
            Some(p) => super::create::parse_host_port(p)?,
            None => 0,
        };
        out.push(berth_network::PortBinding {
            host_ip,
            host_port,
            container_port: port,
            proto,
        });
        Ok(())
    };
    let hc = &rec.host_config;
    let mut keys: Vec<_> = hc.port_bindings.iter().flatten().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (spec, bindings) in &keys {
        match bindings {
            Some(list) if !list.is_empty() => {
                for b in list {
                    add(spec, b.host_ip.as_deref(), b.host_port.as_deref())?;
                }
            }
            _ => add(spec, None, None)?,
        }
    }
    if hc.publish_all_ports == Some(true) {
        for e in rec.config.exposed_ports.iter().flatten() {
            if !keys.iter().any(|(k, _)| *k == e) {
                add(e, None, None)?;
            }
        }
    }
    Ok(out)
}

/// Binds and tmpfs mounts from `-v`, `--mount` and `--tmpfs`.
fn mounts(hc: &HostConfig) -> Result<Vec<Mount>> {
    let mut out = Vec::new();
    for b in hc.binds.iter().flatten() {
        let parts: Vec<&str> = b.split(':').collect();
        let (src, dst, mode) = match parts.as_slice() {
            [s, d] => (*s, *d, ""),
            [s, d, m] => (*s, *d, *m),
            _ => {
                return Err(Error::InvalidParameter(format!(
                    "invalid volume specification: '{b}'"
                )))
            }
        };
        if !src.starts_with('/') {
            return Err(Error::InvalidParameter(format!(
                "invalid volume specification: '{b}': named volumes are not supported yet"
            )));
        }
        if !dst.starts_with('/') {
            return Err(Error::InvalidParameter(format!(
                "invalid volume specification: '{b}': invalid mount config for type \"bind\": invalid mount path: '{dst}' mount path must be absolute"
            )));
        }
        // docker creates a missing bind source directory for -v.
        std::fs::create_dir_all(src).ok();
        out.push(Mount::Bind {
            source: PathBuf::from(src),
            destination: dst.to_string(),
            readonly: mode.split(',').any(|m| m == "ro"),
        });
    }
    for m in hc.mounts.iter().flatten() {
        use berth_api_types::models::MountType as MountTypeEnum;
        let dst = m.target.clone().unwrap_or_default();
        match m.typ {
            Some(MountTypeEnum::BIND) => {
                let src = m.source.clone().unwrap_or_default();
                if !Path::new(&src).exists() {
                    return Err(Error::InvalidParameter(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {src}"
                    )));
                }
                out.push(Mount::Bind {
                    source: PathBuf::from(src),
                    destination: dst,
                    readonly: m.read_only.unwrap_or(false),
                });
            }
            Some(MountTypeEnum::TMPFS) => {
                let mut options = Vec::new();
                if let Some(o) = &m.tmpfs_options {
                    if let Some(s) = o.size_bytes {
                        options.push(format!("size={s}"));
                    }
                    if let Some(mode) = o.mode {
                        options.push(format!("mode={mode:o}"));
                    }
                }
                out.push(Mount::Tmpfs {
                    destination: dst,
                    options,
                });
            }
            other => {
                return Err(Error::InvalidParameter(format!(
                    "mount type {other:?} is not supported"
                )))
            }
        }
    }
    for (dst, opts) in hc.tmpfs.iter().flatten() {
        out.push(Mount::Tmpfs {
            destination: dst.clone(),
            options: opts
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        });
    }
    Ok(out)
}

fn resources(hc: &HostConfig) -> Resources {
    Resources {
        memory: hc.memory.filter(|v| *v > 0),
        memory_swap: hc.memory_swap.filter(|v| *v != 0),
        memory_reservation: hc.memory_reservation.filter(|v| *v > 0),
        memory_swappiness: hc.memory_swappiness.filter(|v| *v >= 0),
        oom_kill_disable: hc.oom_kill_disable,
        cpu_shares: hc.cpu_shares.filter(|v| *v > 0),
        cpu_period: hc.cpu_period.filter(|v| *v > 0),
        cpu_quota: hc.cpu_quota.filter(|v| *v != 0),
        nano_cpus: hc.nano_cpus.filter(|v| *v > 0),
        cpuset_cpus: hc.cpuset_cpus.clone().filter(|s| !s.is_empty()),
        cpuset_mems: hc.cpuset_mems.clone().filter(|s| !s.is_empty()),
        pids_limit: hc.pids_limit.filter(|v| *v != 0),
        blkio_weight: hc.blkio_weight.map(i64::from).filter(|v| *v > 0),
    }
}

fn security(hc: &HostConfig) -> Result<(Seccomp, bool)> {
    let mut seccomp = Seccomp::Default;
    let mut nnp = false;
    for opt in hc.security_opt.iter().flatten() {
        let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        match k {
            "seccomp" if v == "unconfined" => seccomp = Seccomp::Unconfined,
            // The docker CLI sends the profile's JSON text, not its path.
            "seccomp" => seccomp = Seccomp::Profile(v.to_string()),
            "no-new-privileges" => nnp = v.is_empty() || v == "true",
            "label" | "apparmor" => {}
            _ => {
                return Err(Error::InvalidParameter(format!(
                    "Invalid --security-opt: \"{opt}\""
                )))
            }
        }
    }
    Ok((seccomp, nnp))
}

pub fn cgroups_path(id: &str) -> String {
    format!("/berth/{id}")
}

/// Brings a created container to running; on error everything set up is undone.
pub fn start(
    d: &Daemon,
    rec: &Record,
    dir: &Path,
    run_dir: &Path,
    pending: &Mutex<Vec<PendingAttach>>,
) -> Result<Started> {
    let t0 = std::time::Instant::now();
    let rootfs = mount_rootfs(rec, dir)?;
    let mut undo = Undo {
        d,
        id: &rec.id,
        dir,
        run_dir,
        // While the rest of the start goes on, for the runtime to find.
        cgroups: Some(berth_runtime::cgroups::make_ahead(&cgroups_path(&rec.id))),
        network: false,
        shim: false,
        armed: true,
    };
    let hc = &rec.host_config;
    let user = berth_runtime::resolve_user(&rootfs, rec.config.user.as_deref().unwrap_or(""))
        .map_err(|e| Error::InvalidParameter(e.to_string()))?;
    let hostname = rec
        .config
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| rec.id[..12].to_string());
    let mode = network_mode(hc).to_string();
    let ports = port_bindings(rec)?;
    let netns = match mode.as_str() {
        "host" => NetNs::Host,
        "none" => NetNs::None,
        _ => NetNs::New,
    };
    let ip = if netns == NetNs::New {
        let net = d.network()?;
        undo.network = true;
        Some(net.allocate(&rec.id).map_err(net_error)?)
    } else {
        None
    };
    let extra_hosts = parse_extra_hosts(hc.extra_hosts.as_deref().unwrap_or(&[]))?;
    let hosts = if netns == NetNs::Host {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        berth_network::hosts_file(&hostname, ip, &extra_hosts)
    };
    let dns: Vec<std::net::IpAddr> = hc
        .dns
        .iter()
        .flatten()
        .map(|s| {
            s.parse()
                .map_err(|_| Error::InvalidParameter(format!("{s} is not an ip address")))
        })
        .collect::<Result<_>>()?;
    let resolv = berth_network::resolv_conf(
        &dns,
        hc.dns_search.as_deref().unwrap_or(&[]),
        hc.dns_options.as_deref().unwrap_or(&[]),
    );
    // Generated again at every start: replaced atomically, no fsync needed.
    let write = |name: &str, body: &str| {
        berth_store::replace_file(&dir.join(name), body.as_bytes()).map_err(Error::from)
    };
    write("hostname", &format!("{hostname}\n"))?;
    write("hosts", &hosts)?;
    write("resolv.conf", &resolv)?;
    let (seccomp, no_new_privileges) = security(hc)?;
    let mut env = rec.config.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.insert(0, format!("HOSTNAME={hostname}"));
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        );
    }
    if rec.tty() && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_string());
    }
    let mut args = vec![rec.path.clone()];
    args.extend(rec.args.iter().cloned());
    // The container joins a network namespace made ahead (or now), with `lo` up as docker
    // has it; this descriptor keeps it alive until the container is in it.
    let netns_fd = match netns {
        NetNs::Host => None,
        NetNs::New | NetNs::None => Some(d.containers.take_netns().map_err(net_error)?),
    };
    let netns_path = netns_fd.as_ref().map(|fd| {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            fd.as_raw_fd()
        ))
    });
    let input = SpecInput {
        id: rec.id.clone(),
        rootfs: rootfs.clone(),
        args,
        env,
        cwd: rec
            .config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
        user,
        hostname,
        tty: rec.tty(),
        read_only: hc.readonly_rootfs.unwrap_or(false),
        privileged: hc.privileged.unwrap_or(false),
        cap_add: hc.cap_add.clone().unwrap_or_default(),
        cap_drop: hc.cap_drop.clone().unwrap_or_default(),
        seccomp,
        no_new_privileges,
        mounts: mounts(hc)?,
        etc_files: vec![
            (dir.join("hostname"), "/etc/hostname"),
            (dir.join("hosts"), "/etc/hosts"),
            (dir.join("resolv.conf"), "/etc/resolv.conf"),
        ],
        resources: resources(hc),
        ulimits: hc
            .ulimits
            .iter()
            .flatten()
            .map(|u| Ulimit {
                name: u.name.clone().unwrap_or_default(),
                soft: u.soft.unwrap_or(0),
                hard: u.hard.unwrap_or(0),
            })
            .collect(),
        netns,
        netns_path,
        cgroups_path: cgroups_path(&rec.id),
        shm_size: hc.shm_size.filter(|s| *s > 0),
        oom_score_adj: hc.oom_score_adj.map(|v| v as i32),
        sysctls: hc.sysctls.clone().unwrap_or_default().into_iter().collect(),
        init: hc.init.unwrap_or(false),
    };
    let spec =
        berth_runtime::build_spec(&input).map_err(|e| Error::InvalidParameter(e.to_string()))?;
    std::fs::create_dir_all(run_dir).map_err(Error::io("container run directory"))?;
    // A previous run's exit must not be read as this one's.
    let _ = std::fs::remove_file(run_dir.join(berth_shim::EXIT_FILE));
    let bundle = serde_json::to_vec(&spec).map_err(|e| Error::Internal(e.to_string()))?;
    berth_store::replace_file(&run_dir.join("config.json"), &bundle)?;
    let log = log_config(hc)?;
    let runtime_binary = d.runtime_binary(hc.runtime.as_deref())?;
    let args = ShimArgs {
        id: rec.id.clone(),
        bundle: run_dir.to_path_buf(),
        state: run_dir.to_path_buf(),
        log_path: log_path(dir, &rec.id),
        log_max_size: log.max_size,
        log_max_file: Some(log.max_file),
        tty: rec.tty(),
        stdin: rec.config.open_stdin.unwrap_or(false),
        stdin_once: rec.config.stdin_once.unwrap_or(false),
        runtime_binary,
        runtime_root: d.runtime_root(),
    };
    // The running binary itself, even when an upgrade replaced the file on disk.
    let exe = PathBuf::from("/proc/self/exe");
    let t_prepared = t0.elapsed();
    let spawned = berth_shim::spawn(&args, &exe, d.containers.take_spare());
    // The next start's shim, started while this container runs.
    d.containers.ready_spare();
    let pid = spawned.map_err(start_error)?;
    if let Some(cgroups) = undo.cgroups.take() {
        cgroups.wait();
    }
    drop(netns_fd);
    let t_created = t0.elapsed();
    undo.shim = true;
    let endpoint = match ip {
        Some(ip) => {
            let net = d.network()?;
            let ep = net.attach(&rec.id, pid, ip).map_err(net_error)?;
            let bound = net.publish(&rec.id, ip, &ports).map_err(net_error)?;
            Some(Endpoint {
                ip: ep.ip.to_string(),
                prefix_len: ep.prefix_len,
                gateway: ep.gateway.to_string(),
                mac: ep.mac.clone(),
                ports: bound
                    .iter()
                    .map(|b| BoundPort {
                        container: format!("{}/{}", b.container_port, b.proto.as_str()),
                        host_ip: b.display_host_ip().to_string(),
                        host_port: b.host_port,
                    })
                    .collect(),
            })
        }
        None => None,
    };
    let client = ShimClient::connect(run_dir).map_err(start_error)?;
    for p in pending.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let req = Request::Attach {
            stdin: p.streams.stdin,
            stdout: p.streams.stdout,
            stderr: p.streams.stderr,
        };
        match client.open_stream(&req) {
            Ok(s) => {
                let _ = p.tx.send(s);
            }
            Err(e) => tracing::warn!(error = %e, "attach at start failed"),
        }
    }
    let t_network = t0.elapsed();
    client.start().map_err(start_error)?;
    undo.armed = false;
    tracing::debug!(
        container = %rec.id,
        prepared = ?t_prepared,
        created = ?t_created,
        network = ?t_network,
        started = ?t0.elapsed(),
        "container started"
    );
    Ok(Started { pid, endpoint })
}

/// Undoes a half-done start.
struct Undo<'a> {
    d: &'a Daemon,
    id: &'a str,
    dir: &'a Path,
    run_dir: &'a Path,
    cgroups: Option<berth_runtime::cgroups::MadeAhead>,
    network: bool,
    shim: bool,
    armed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.shim {
            if let Ok(c) = ShimClient::connect(self.run_dir) {
                let _ = c.kill(libc::SIGKILL, true);
                let _ = c.wait();
            }
        }
        if self.network {
            if let Ok(net) = self.d.network() {
                let _ = net.detach(self.id);
            }
        }
        if let Some(cgroups) = self.cgroups.take() {
            cgroups.undo();
        }
        unmount_rootfs(self.dir);
    }
}

fn log_config(hc: &HostConfig) -> Result<berth_logs::LogConfig> {
    let lc = hc.log_config.clone().unwrap_or_default();
    match lc.typ.as_deref() {
        None | Some("") | Some("json-file") => {}
        Some(other) => {
            return Err(Error::InvalidParameter(format!(
                "logging driver {other} is not supported; berth writes json-file logs"
            )))
        }
    }
    let opts = lc.config.unwrap_or_default().into_iter().collect();
    berth_logs::parse_log_opts(&opts).map_err(|e| Error::InvalidParameter(e.to_string()))
}

pub fn validate_log_config(hc: &HostConfig) -> Result<()> {
    log_config(hc).map(drop)
}

fn parse_extra_hosts(list: &[String]) -> Result<Vec<(String, std::net::IpAddr)>> {
    list.iter()
        .map(|h| {
            let (name, ip) = h
                .split_once(':')
                .ok_or_else(|| Error::InvalidParameter(format!("invalid extra host: {h}")))?;
            let ip = if ip == "host-gateway" {
                std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1))
            } else {
                ip.parse().map_err(|_| {
                    Error::InvalidParameter(format!("invalid IP address in add-host: \"{ip}\""))
                })?
            };
            Ok((name.to_string(), ip))
        })
        .collect()
}

fn net_error(e: berth_network::Error) -> Error {
    let msg = e.to_string();
    if msg.contains("already allocated") || msg.contains("invalid") {
        Error::InvalidParameter(msg)
    } else {
        Error::Internal(msg)
    }
}

fn start_error(e: berth_shim::Error) -> Error {
    let msg = match &e {
        berth_shim::Error::Spawn { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    Error::Internal(format!(
        "failed to create task for container: OCI runtime create failed: {msg}: unknown"
    ))
}

/// The exit code dockerd records when the process could not be started.
pub fn exit_code_of_start_error(msg: &str) -> i64 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") || msg.contains("exec format error") {
        126
    } else {
        128
    }
}

/// Blocks until the container's init exits (through the shim, or its exit file).
pub fn wait_exit(run_dir: &Path) -> Exit {
    match ShimClient::connect(run_dir).and_then(|c| c.wait()) {
        Ok(s) => s.into(),
        Err(e) => {
            if let Some(s) = berth_shim::read_exit(run_dir) {
                return s.into();
            }
            // The shim is gone without a word: docker reports 255 for a lost task.
            tracing::warn!(dir = %run_dir.display(), error = %e, "shim lost");
            Exit {
                exit_code: 255,
                oom_killed: false,
                finished_at: super::now_rfc3339(),
            }
        }
    }
}

pub fn read_exit(run_dir: &Path) -> Option<Exit> {
    berth_shim::read_exit(run_dir).map(Exit::from)
}

pub fn shim_alive(run_dir: &Path) -> bool {
    ShimClient::connect(run_dir).is_ok()
}

pub fn kill(run_dir: &Path, signal: i32, all: bool) -> Result<()> {
    ShimClient::connect(run_dir)
        .and_then(|c| c.kill(signal, all))
        .map_err(|e| Error::Internal(format!("cannot signal the container: {e}")))
}

pub(crate) fn shim_call(run_dir: &Path, op: ShimOp) -> Result<()> {
    let c = ShimClient::connect(run_dir).map_err(|e| Error::Internal(e.to_string()))?;
    match op {
        ShimOp::Pause => c.pause(),
        ShimOp::Resume => c.resume(),
    }
    .map_err(|e| Error::Internal(e.to_string()))
}

pub fn update(run_dir: &Path, hc: &HostConfig) -> Result<()> {
    ShimClient::connect(run_dir)
        .and_then(|c| c.update(&resources(hc)))
        .map_err(|e| Error::Internal(format!("cannot update the container: {e}")))
}

pub fn pids(run_dir: &Path) -> Result<Vec<i32>> {
    ShimClient::connect(run_dir)
        .and_then(|c| c.pids())
        .map_err(|e| Error::Internal(e.to_string()))
}

pub fn stats(run_dir: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let s = ShimClient::connect(run_dir)
        .and_then(|c| c.stats())
        .map_err(|e| Error::Internal(e.to_string()))?;
    match serde_json::to_value(s) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Ok(Default::default()),
    }
}

pub fn resize(run_dir: &Path, exec_id: Option<&str>, h: u16, w: u16) -> Result<()> {
    ShimClient::connect(run_dir)
        .and_then(|c| c.resize(exec_id, h, w))
        .map_err(|e| Error::Internal(e.to_string()))
}

pub fn client(run_dir: &Path) -> Result<ShimClient> {
    ShimClient::connect(run_dir).map_err(|e| Error::Internal(e.to_string()))
}

/// After an exit: network and rootfs go, the rw layer stays for `start`, `diff`, `commit`.
pub fn cleanup(d: &Daemon, rec: &Record, _run_dir: &Path) {
    if rec.endpoint.is_some() || network_mode(&rec.host_config) == "bridge" {
        if let Ok(net) = d.network() {
            if let Err(e) = net.detach(&rec.id) {
                tracing::warn!(container = %rec.id, error = %e, "network cleanup failed");
            }
        }
    }
}

/// `rm`: the rootfs mount, the rw layer, the run directory. The container is gone
/// once its directory is renamed aside (a directory holding a mount point may be
/// renamed); unmounting (the kernel waits for an RCU grace period) and deleting the
/// files (every unlink waits for the file system's journal: tens of ms for a small
/// container on a busy disk) then happen on a thread of its own, and after a crash at
/// the next start ([`purge_removed`]).
pub fn remove_rw(dir: &Path, run_dir: &Path, purges: &Arc<InFlight>) -> Result<()> {
    let trash = dir.with_extension(REMOVING);
    std::fs::rename(dir, &trash).map_err(Error::io("removing container"))?;
    let run_dir = run_dir.to_path_buf();
    let under_way = purges.clone();
    let purge = move || {
        super::lower_priority();
        // The mount first: of all this, only it would outlive a daemon gone meanwhile.
        purge_removed(&trash);
        let _ = std::fs::remove_dir_all(&run_dir);
        under_way.finish();
    };
    purges.begin();
    if let Err(e) = std::thread::Builder::new()
        .name("purge".into())
        .spawn(purge)
    {
        purges.finish();
        // The files stay until the next start purges them.
        tracing::warn!(error = %e, "cannot start a thread to delete a container's files");
    }
    Ok(())
}

/// A count of work under way that can be waited for (the purges [`remove_rw`] starts).
#[derive(Default)]
pub struct InFlight {
    count: Mutex<usize>,
    done: std::sync::Condvar,
}

impl InFlight {
    fn begin(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    fn finish(&self) {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.done.notify_all();
        }
    }

    /// Whether all work ended within `timeout`.
    pub fn wait(&self, timeout: std::time::Duration) -> bool {
        let n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        let (n, _) = self
            .done
            .wait_timeout_while(n, timeout, |n| *n > 0)
            .unwrap_or_else(|e| e.into_inner());
        *n == 0
    }
}

/// The extension of a container directory being deleted.
pub const REMOVING: &str = "removing";

/// Deletes what a crash left of removed containers: a directory renamed aside by
/// [`remove_rw`] (its rootfs possibly still mounted).
pub fn purge_removed(trash: &Path) {
    unmount_rootfs(trash);
    if let Err(e) = std::fs::remove_dir_all(trash) {
        tracing::warn!(dir = %trash.display(), error = %e, "cannot delete a removed container");
    }
}

/// Bytes in the rw layer (docker's SizeRw).
pub fn rw_size(dir: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        rd.flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) if m.is_file() => m.len(),
                _ => 0,
            })
            .sum()
    }
    walk(&dir.join(RW).join("upper"))
}

/// Whether the kernel accounts swap (dockerd warns when `-m` is given without it).
pub fn swap_accounting() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        || Path::new("/sys/fs/cgroup/memory.swap.max").exists()
        || std::fs::read_dir("/sys/fs/cgroup")
            .map(|_| Path::new("/sys/fs/cgroup/cgroup.controllers").exists())
            .unwrap_or(false)
}

impl Daemon {
    /// `POST /containers/{id}/attach`: a stream now, or one handed over at start.
    pub fn attach_container(
        &self,
        name: &str,
        streams: AttachStream,
    ) -> Result<(bool, AttachTarget)> {
        let c = self.containers.get(name)?;
        let r = c.record();
        let tty = r.tty();
        if r.running() {
            let req = Request::Attach {
                stdin: streams.stdin,
                stdout: streams.stdout,
                stderr: streams.stderr,
            };
            let s = client(&self.containers.run_dir(&c.id))?
                .open_stream(&req)
                .map_err(|e| Error::Internal(e.to_string()))?;
            return Ok((tty, AttachTarget::Now(s)));
        }
        drop(r);
        let (tx, rx) = tokio::sync::oneshot::channel();
        c.pending_attach
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PendingAttach { streams, tx });
        Ok((tty, AttachTarget::AtStart(rx)))
    }

    /// `POST /containers/{id}/resize`.
    pub fn resize_container(&self, name: &str, h: u16, w: u16) -> Result<()> {
        let c = self.containers.get(name)?;
        if !c.record().running() {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        resize(&self.containers.run_dir(&c.id), None, h, w)
    }

    /// The log file and whether the container has a TTY (logs are not multiplexed then).
    pub fn container_log(
        &self,
        name: &str,
    ) -> Result<(PathBuf, bool, std::sync::Arc<super::Container>)> {
        let c = self.containers.get(name)?;
        let r = c.record();
        let path = log_path(&self.containers.dir(&r.id), &r.id);
        let tty = r.tty();
        drop(r);
        Ok((path, tty, c))
    }

    /// One sample of docker's stats JSON; `prev` (the last sample) fills `precpu_stats`.
    pub fn container_stats(
        &self,
        name: &str,
        prev: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let c = self.containers.get(name)?;
        let r = c.record().clone();
        let raw = if r.state.status == super::Status::Running {
            stats(&self.containers.run_dir(&r.id)).unwrap_or_default()
        } else {
            Default::default()
        };
        Ok(stats_json(&r, &raw, prev))
    }
}

/// docker's StatsJSON from the shim's cgroup numbers.
fn stats_json(
    r: &Record,
    raw: &serde_json::Map<String, serde_json::Value>,
    prev: Option<&serde_json::Value>,
) -> serde_json::Value {
    use serde_json::{json, Value};
    let n = |k: &str| raw.get(k).and_then(Value::as_u64).unwrap_or(0);
    let running = !raw.is_empty();
    let blkio: Vec<Value> = raw
        .get("blkio_entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let cpu = json!({
        "cpu_usage": {
            "total_usage": n("cpu_total_ns"),
            "percpu_usage": raw.get("cpu_percpu_ns").cloned().unwrap_or(json!([])),
            "usage_in_kernelmode": n("cpu_kernel_ns"),
            "usage_in_usermode": n("cpu_user_ns"),
        },
        "system_cpu_usage": n("system_usage_ns"),
        "online_cpus": n("online_cpus"),
        "throttling_data": {
            "periods": n("throttling_periods"),
            "throttled_periods": n("throttled_periods"),
            "throttled_time": n("throttled_time_ns"),
        }
    });
    let zero_time = super::ZERO_TIME;
    let (precpu, preread) = match prev {
        Some(p) => (
            p.get("cpu_stats").cloned().unwrap_or(json!({})),
            p.get("read").cloned().unwrap_or(json!(zero_time)),
        ),
        None => (
            json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                   "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}),
            json!(zero_time),
        ),
    };
    let mut out = json!({
        "read": if running { super::now_rfc3339() } else { zero_time.to_string() },
        "preread": preread,
        "pids_stats": if running { json!({"current": n("pids_current"), "limit": n("pids_limit")}) } else { json!({}) },
        "blkio_stats": {
            "io_service_bytes_recursive": if running { Value::Array(blkio) } else { Value::Null },
            "io_serviced_recursive": null,
            "io_queue_recursive": null,
            "io_service_time_recursive": null,
            "io_wait_time_recursive": null,
            "io_merged_recursive": null,
            "io_time_recursive": null,
            "sectors_recursive": null
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": if running { cpu } else { json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}) },
        "precpu_stats": precpu,
        "memory_stats": if running { json!({
            "usage": n("memory_usage"),
            "max_usage": n("memory_max_usage"),
            "stats": raw.get("memory_stats").cloned().unwrap_or(json!({})),
            "limit": n("memory_limit"),
        }) } else { json!({}) },
        "name": r.name,
        "id": r.id,
    });
    if let Some(nets) = raw
        .get("networks")
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    {
        out["networks"] = nets.clone();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::InFlight;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn in_flight_work_is_waited_for_up_to_the_timeout() {
        let work = Arc::new(InFlight::default());
        assert!(work.wait(Duration::ZERO), "nothing under way");
        work.begin();
        work.begin();
        let t = Instant::now();
        assert!(!work.wait(Duration::from_millis(50)), "two under way");
        assert!(t.elapsed() >= Duration::from_millis(50));
        let w = work.clone();
        let done = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w.finish();
            w.finish();
        });
        assert!(work.wait(Duration::from_secs(5)), "both finished");
        done.join().unwrap();
    }
}
