//! Containers: records, the lifecycle state machine and the waiting around it.
//! Processes are never cloned here: `start` hands a container to its own
//! `berth shim` (see `run.rs`), which outlives the daemon; a monitor thread per
//! running container waits on the shim and applies exits, restart policies and
//! `--rm`.

mod create;
mod exec;
mod list;
mod names;
mod record;
mod run;
mod signal;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use berth_api_types::models::{ContainerCreateBody, RestartPolicyNameEnum};
use tokio::sync::watch;

use crate::{Daemon, Error, Result};
pub use exec::{ExecStart, ExecStream};
pub use list::ContainerFilters;
use list::PruneFilter;
pub use record::{Record, Status};
pub use run::{AttachStream, AttachTarget};
pub use signal::parse_signal;

/// What waiters see change: `wait` and `stop` key off it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Counts exits since the daemon loaded the container (`next-exit`).
    pub exits: u64,
    pub running: bool,
    pub removed: bool,
    pub exit_code: i64,
}

/// One container in memory: its record, an operation lock and its waiters.
pub struct Container {
    pub id: String,
    rec: Mutex<Record>,
    /// Lifecycle operations (start, stop, rm, …) one at a time.
    op: Mutex<()>,
    progress_tx: watch::Sender<Progress>,
    progress_cv: (Mutex<Progress>, Condvar),
    /// Attach requests that arrived before the shim exists (docker attaches before it starts).
    pending_attach: Mutex<Vec<run::PendingAttach>>,
}

impl Container {
    fn new(rec: Record) -> Arc<Container> {
        let p = Progress {
            running: rec.running(),
            exit_code: rec.state.exit_code,
            ..Default::default()
        };
        Arc::new(Container {
            id: rec.id.clone(),
            rec: Mutex::new(rec),
            op: Mutex::new(()),
            progress_tx: watch::channel(p.clone()).0,
            progress_cv: (Mutex::new(p), Condvar::new()),
            pending_attach: Mutex::new(Vec::new()),
        })
    }

    pub fn record(&self) -> MutexGuard<'_, Record> {
        self.rec.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_op(&self) -> MutexGuard<'_, ()> {
        self.op.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscribe(&self) -> watch::Receiver<Progress> {
        self.progress_tx.subscribe()
    }

    fn publish(&self, f: impl FnOnce(&mut Progress)) {
        let (lock, cv) = &self.progress_cv;
        let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut p);
        self.progress_tx.send_replace(p.clone());
        cv.notify_all();
    }

    /// Blocks until the container is not running or `timeout` passes; true if it stopped.
    fn wait_stopped(&self, timeout: Duration) -> bool {
        let (lock, cv) = &self.progress_cv;
        let deadline = Instant::now() + timeout;
        let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
        while p.running {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            p = cv
                .wait_timeout(p, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// All containers, by id.
pub(crate) struct Containers {
    /// `<data-root>/containers`
    data_dir: PathBuf,
    /// `<exec-root>/c`
    run_dir: PathBuf,
    /// Why no container can start here, when the exec root leaves no room for socket paths.
    exec_root_too_long: Option<String>,
    map: RwLock<BTreeMap<String, Arc<Container>>>,
    execs: Mutex<BTreeMap<String, Arc<exec::Exec>>>,
    /// A shim started ahead of the next container start (see [`Containers::ready_spare`]).
    spare: Arc<Mutex<SpareShim>>,
    /// Removed containers' files being deleted (see `run::remove_rw`).
    purges: Arc<run::InFlight>,
}

#[derive(Default)]
struct SpareShim {
    shim: Option<berth_shim::Spare>,
    /// A network namespace made ahead (`lo` up) for the next container that wants one.
    netns: Option<std::os::fd::OwnedFd>,
    /// A thread is making what is missing.
    starting: bool,
}

/// The runtime's state directory (libcontainer makes one per container in it).
pub(crate) fn runtime_dir(exec_root: &Path) -> PathBuf {
    exec_root.join("runtime")
}

/// The longest path a Unix socket can be bound at (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

impl Containers {
    pub fn open(data_root: &Path, exec_root: &Path) -> Result<Containers> {
        let data_dir = data_root.join("containers");
        // Short on purpose: `<run>/<64-hex id>/shim.sock` must fit a socket path (108 bytes).
        let run_dir = exec_root.join("c");
        // Images and registries work with any exec root; containers need their sockets.
        let longest = run_dir.join("0".repeat(64)).join(berth_shim::SOCKET);
        let exec_root_too_long = (longest.as_os_str().len() > MAX_SOCKET_PATH).then(|| {
            let room = MAX_SOCKET_PATH + exec_root.as_os_str().len() - longest.as_os_str().len();
            let why = format!(
                "exec root {} is too long: a container's shim socket, {}, must fit in {MAX_SOCKET_PATH} bytes; use an exec root of at most {room} bytes",
                exec_root.display(),
                longest.display()
            );
            tracing::warn!("{why}; containers cannot start");
            why
        });
        std::fs::create_dir_all(&data_dir).map_err(Error::io("containers directory"))?;
        std::fs::create_dir_all(&run_dir).map_err(Error::io("containers run directory"))?;
        let runtime_dir = runtime_dir(exec_root);
        std::fs::create_dir_all(&runtime_dir).map_err(Error::io("runtime state directory"))?;
        // A container's few directories are made in their parent's block group: a
        // spread of each cost a start 0.6 ms here (bench/README.md). Earlier
        // versions set the mark; it is cleared.
        for dir in [&data_dir, &run_dir, &runtime_dir] {
            berth_fshints::spread_subdirectories(dir, false);
        }
        let mut map = BTreeMap::new();
        for entry in std::fs::read_dir(&data_dir).map_err(Error::io("containers directory"))? {
            let entry = entry.map_err(Error::io("containers directory"))?;
            if entry.path().extension() == Some(std::ffi::OsStr::new(run::REMOVING)) {
                run::purge_removed(&entry.path());
                continue;
            }
            match Record::load(&entry.path()) {
                Ok(Some(rec)) => {
                    map.insert(rec.id.clone(), Container::new(rec));
                }
                // A directory without a record is a create that crashed half-way.
                Ok(None) => {
                    tracing::warn!(dir = %entry.path().display(), "removing incomplete container");
                    let _ = std::fs::remove_dir_all(entry.path());
                }
                Err(e) => {
                    tracing::error!(dir = %entry.path().display(), error = %e, "unreadable container record")
                }
            }
        }
        // Run directories of containers removed before a crash finished deleting them.
        for entry in std::fs::read_dir(&run_dir).into_iter().flatten().flatten() {
            if !map.contains_key(entry.file_name().to_string_lossy().as_ref()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(Containers {
            data_dir,
            run_dir,
            exec_root_too_long,
            map: RwLock::new(map),
            execs: Mutex::new(BTreeMap::new()),
            spare: Arc::default(),
            purges: Arc::default(),
        })
    }

    /// Makes sure a spare shim and a network namespace are waiting or on their way, made
    /// on a thread of its own: exec'ing this binary (dynamic loading, relocations: ~2 ms
    /// of CPU) and creating a namespace (~0.5 ms) then happen between container starts
    /// instead of inside one.
    pub fn ready_spare(&self) {
        let (need_shim, need_netns) = {
            let mut slot = self.spare.lock().unwrap_or_else(|e| e.into_inner());
            let need = (slot.shim.is_none(), slot.netns.is_none());
            if slot.starting || need == (false, false) {
                return;
            }
            slot.starting = true;
            need
        };
        let spare = self.spare.clone();
        let started = std::thread::Builder::new()
            .name("spare-shim".into())
            .spawn(move || {
                // Below the containers and requests at work.
                lower_priority();
                let netns = need_netns.then(berth_network::new_namespace);
                // The spare's exec and start (~2.5 ms of CPU) take no lock a start needs:
                // idle class, which the spare keeps until it is handed a container.
                idle_class();
                // The running binary itself, even when an upgrade replaced the file.
                let shim = need_shim.then(|| berth_shim::Spare::start(Path::new("/proc/self/exe")));
                let mut slot = spare.lock().unwrap_or_else(|e| e.into_inner());
                slot.starting = false;
                match shim {
                    Some(Ok(s)) => slot.shim = Some(s),
                    Some(Err(e)) => tracing::warn!(error = %e, "cannot start a spare shim"),
                    None => {}
                }
                match netns {
                    Some(Ok(ns)) => slot.netns = Some(ns),
                    Some(Err(e)) => tracing::warn!(error = %e, "cannot make a network namespace"),
                    None => {}
                }
            });
        if let Err(e) = started {
            tracing::warn!(error = %e, "cannot start a thread for a spare shim");
            self.spare
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .starting = false;
        }
    }

    /// The waiting spare shim, if there is one.
    pub fn take_spare(&self) -> Option<berth_shim::Spare> {
        self.spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .shim
            .take()
    }

    /// The network namespace made ahead, or a new one now.
    pub fn take_netns(&self) -> berth_network::Result<std::os::fd::OwnedFd> {
        let made = self
            .spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .netns
            .take();
        made.map_or_else(berth_network::new_namespace, Ok)
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.data_dir.join(id)
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.run_dir.join(id)
    }

    pub fn all(&self) -> Vec<Arc<Container>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Finds a container by full id, name, or unique id prefix, as dockerd does.
    pub fn get(&self, name: &str) -> Result<Arc<Container>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(name) {
            return Ok(c.clone());
        }
        let wanted = format!("/{}", name.trim_start_matches('/'));
        if let Some(c) = map.values().find(|c| c.record().name == wanted) {
            return Ok(c.clone());
        }
        let mut hits = map
            .range(name.to_string()..)
            .take_while(|(k, _)| k.starts_with(name));
        match (hits.next(), hits.next()) {
            (Some((_, c)), None) if !name.is_empty() => Ok(c.clone()),
            (Some(_), Some(_)) => Err(Error::InvalidParameter(format!(
                "multiple IDs found with provided prefix: {name}"
            ))),
            _ => Err(no_such_container(name)),
        }
    }

    fn name_owner(&self, name: &str) -> Option<String> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .find(|c| c.record().name == name)
            .map(|c| c.id.clone())
    }

    fn insert(&self, c: Arc<Container>) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(c.id.clone(), c);
    }

    fn forget(&self, id: &str) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Snapshot keys that containers' overlays stack on: kept even when their image goes.
    pub fn snapshots_in_use(&self) -> Vec<String> {
        self.all()
            .iter()
            .flat_map(|c| {
                c.record()
                    .lower_dirs
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Ids of images that containers use (they cannot be deleted without -f).
    pub fn images_in_use(&self) -> BTreeMap<String, Vec<(String, bool)>> {
        let mut out: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
        for c in self.all() {
            let r = c.record();
            out.entry(r.image.clone())
                .or_default()
                .push((r.id.clone(), r.running()));
        }
        out
    }
}

pub fn no_such_container(name: &str) -> Error {
    Error::NotFound(format!("No such container: {name}"))
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Docker's zero time, shown for a container that never started or finished.
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// How long `stop` waits before SIGKILL when neither the request nor the container says.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

impl Daemon {
    fn container(&self, name: &str) -> Result<Arc<Container>> {
        self.containers.get(name)
    }

    fn container_event(&self, action: &str, c: &Record, extra: &[(&str, String)]) {
        let mut attrs = BTreeMap::new();
        attrs.insert(
            "image".to_string(),
            c.config.image.clone().unwrap_or_default(),
        );
        attrs.insert("name".to_string(), c.short_name().to_string());
        for (k, v) in c.config.labels.iter().flatten() {
            attrs.insert(k.clone(), v.clone());
        }
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.events.emit("container", action, &c.id, attrs);
    }

    /// `POST /containers/create`: returns the new id and dockerd's warnings.
    pub fn create_container(
        &self,
        name: Option<&str>,
        body: ContainerCreateBody,
    ) -> Result<(String, Vec<String>)> {
        let image_name = body.image.clone().unwrap_or_default();
        if image_name.is_empty() {
            return Err(Error::InvalidParameter(
                "config cannot be empty in order to create a container".into(),
            ));
        }
        let image = self.resolve_image_for_run(&image_name)?;
        let host_config = body.host_config.clone().unwrap_or_default();
        create::validate_host_config(&host_config, num_cpus())?;
        run::validate_log_config(&host_config)?;
        let (config, path, args) = create::merge_config(&body, &image.config)?;
        // `run` starts what it creates right away: the kernel's migration lock and a shim
        // get ready meanwhile.
        berth_runtime::cgroups::warm_attach_lock();
        self.containers.ready_spare();
        let mut warnings = Vec::new();
        if host_config.memory.unwrap_or(0) > 0 && !run::swap_accounting() {
            warnings.push(
                "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."
                    .to_string(),
            );
        }
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = create::validate_name(n)?;
                if let Some(owner) = self.containers.name_owner(&n) {
                    return Err(Error::Conflict(format!(
                        "Conflict. The container name \"{n}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                n
            }
            None => {
                let mut retry = 0;
                loop {
                    let n = format!("/{}", names::random_name(retry));
                    if self.containers.name_owner(&n).is_none() {
                        break n;
                    }
                    retry += 1;
                }
            }
        };
        let id = format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        );
        let lower_dirs = image
            .chain_ids()
            .iter()
            .rev()
            .map(|c| self.snapshots.path(c.hex()))
            .collect();
        let mut config = config;
        config.image = Some(image_name.clone());
        let rec = Record {
            id: id.clone(),
            name,
            created: now_rfc3339(),
            image: image.id().to_string(),
            path,
            args,
            config,
            host_config,
            state: record::RunState {
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                ..Default::default()
            },
            restart_count: 0,
            manually_stopped: false,
            endpoint: None,
            lower_dirs,
        };
        let dir = self.containers.dir(&id);
        run::prepare_dirs(&dir).map_err(Error::io("container directory"))?;
        // A `--rm` container is gone once it has run (after a daemon crash too: see
        // `restore_containers`): waiting for the disk at its create buys nothing.
        let saved = if rec.host_config.auto_remove == Some(true) {
            rec.save_state(&dir)
        } else {
            rec.save(&dir)
        };
        if let Err(e) = saved {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        self.container_event("create", &rec, &[]);
        self.containers.insert(Container::new(rec));
        Ok((id, warnings))
    }

    fn resolve_image_for_run(&self, name: &str) -> Result<Arc<crate::images::store::Image>> {
        self.read().resolve(name)
    }

    /// For a shutdown: waits up to `timeout` for the deletion of removed containers'
    /// files under way (their rootfs unmounts first), so that an `rm` just answered
    /// leaves no rootfs mounted behind the daemon. What is left is purged at the next
    /// start.
    pub fn finish_removals(&self, timeout: std::time::Duration) {
        if !self.containers.purges.wait(timeout) {
            tracing::warn!("removed containers' files are left for the next start to delete");
        }
    }

    /// `POST /containers/{id}/start`. `Ok(false)`: it was already running (304).
    pub fn start_container(&self, name: &str) -> Result<bool> {
        let c = self.container(name)?;
        berth_runtime::cgroups::warm_attach_lock();
        let _op = c.lock_op();
        if c.record().running() {
            return Ok(false);
        }
        if c.record().state.status == Status::Removing {
            return Err(Error::Conflict(format!(
                "cannot start container {}: removal in progress",
                c.id
            )));
        }
        {
            let mut r = c.record();
            r.manually_stopped = false;
        }
        if let Err(e) = self.start_locked(&c) {
            // dockerd removes an AutoRemove container whose start failed; its waiters return.
            if c.record().host_config.auto_remove == Some(true) {
                drop(_op);
                if let Err(rm) = self.remove_container(&c.id, true, false) {
                    tracing::warn!(container = %c.id, error = %rm, "cannot auto-remove");
                }
            }
            return Err(e);
        }
        Ok(true)
    }

    /// Starts a container whose op lock the caller holds; records and publishes the outcome.
    fn start_locked(&self, c: &Arc<Container>) -> Result<()> {
        if let Some(why) = &self.containers.exec_root_too_long {
            return Err(Error::InvalidParameter(why.clone()));
        }
        let dir = self.containers.dir(&c.id);
        let run_dir = self.containers.run_dir(&c.id);
        let rec = c.record().clone();
        match run::start(self, &rec, &dir, &run_dir, &c.pending_attach) {
            Ok(started) => {
                let mut r = c.record();
                r.state = record::RunState {
                    status: Status::Running,
                    pid: started.pid as i64,
                    started_at: now_rfc3339(),
                    finished_at: r.state.finished_at.clone(),
                    ..Default::default()
                };
                r.endpoint = started.endpoint;
                r.save_state(&dir)?;
                c.publish(|p| p.running = true);
                self.container_event("start", &r, &[]);
                drop(r);
                self.spawn_monitor(c.clone());
                Ok(())
            }
            Err(e) => {
                let mut r = c.record();
                let code = run::exit_code_of_start_error(&e.to_string());
                r.state.status = if r.state.started_at == ZERO_TIME {
                    Status::Created
                } else {
                    Status::Exited
                };
                r.state.exit_code = code;
                r.state.error = e.to_string();
                r.endpoint = None;
                let _ = r.save_state(&dir);
                c.publish(|p| p.exit_code = code);
                Err(e)
            }
        }
    }

    /// A thread per running container waits for its exit through the shim.
    fn spawn_monitor(&self, c: Arc<Container>) {
        let Some(me) = self.me.upgrade() else { return };
        let run_dir = self.containers.run_dir(&c.id);
        let spawned = std::thread::Builder::new()
            .name(format!("monitor-{}", &c.id[..12]))
            .stack_size(256 * 1024)
            .spawn(move || {
                let exit = run::wait_exit(&run_dir);
                me.on_exit(&c, exit);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a monitor thread");
        }
    }

    /// Applies an exit: state, network, log event, `--rm`, restart policy.
    fn on_exit(&self, c: &Arc<Container>, exit: run::Exit) {
        tracing::debug!(container = %c.id, code = exit.exit_code, "exit observed");
        let dir = self.containers.dir(&c.id);
        let (auto_remove, restart) = {
            let _op = c.lock_op();
            let mut r = c.record();
            if !r.running() {
                return;
            }
            run::cleanup(self, &r, &self.containers.run_dir(&c.id));
            r.state.status = Status::Exited;
            r.state.paused = false;
            r.state.pid = 0;
            r.state.exit_code = exit.exit_code;
            r.state.oom_killed = exit.oom_killed;
            r.state.finished_at = exit.finished_at.clone();
            r.endpoint = None;
            // A `--rm` container is removed next; should the daemon die first, its record
            // still says running and the restore path applies this exit again.
            let auto_remove = r.host_config.auto_remove == Some(true);
            if !auto_remove {
                if let Err(e) = r.save_state(&dir) {
                    tracing::error!(container = %c.id, error = %e, "cannot record the exit");
                }
            }
            if exit.oom_killed {
                self.container_event("oom", &r, &[]);
            }
            self.container_event("die", &r, &[("exitCode", exit.exit_code.to_string())]);
            let restart = self.restart_delay(&r, &exit);
            (auto_remove, restart)
        };
        c.publish(|p| {
            p.running = false;
            p.exits += 1;
            p.exit_code = exit.exit_code;
        });
        if auto_remove {
            if let Err(e) = self.remove_container(&c.id, true, true) {
                tracing::error!(container = %c.id, error = %e, "cannot auto-remove");
            }
            return;
        }
        if let Some(delay) = restart {
            self.schedule_restart(c.clone(), delay);
        }
    }

    /// Docker's restart manager: which exits restart, after how long.
    fn restart_delay(&self, r: &Record, exit: &run::Exit) -> Option<Duration> {
        if r.manually_stopped {
            return None;
        }
        let policy = r.host_config.restart_policy.as_ref()?;
        let retry = match policy.name? {
            RestartPolicyNameEnum::ALWAYS | RestartPolicyNameEnum::UNLESS_STOPPED => true,
            RestartPolicyNameEnum::ON_FAILURE => {
                let max = policy.maximum_retry_count.unwrap_or(0);
                exit.exit_code != 0 && (max == 0 || r.restart_count < max)
            }
            _ => false,
        };
        if !retry {
            return None;
        }
        // 100 ms doubling per restart, capped at a minute; a run of 10 s resets it.
        let ran = chrono::DateTime::parse_from_rfc3339(&r.state.started_at)
            .ok()
            .map(|t| chrono::Utc::now().signed_duration_since(t))
            .and_then(|d| d.to_std().ok())
            .unwrap_or_default();
        let n = if ran >= Duration::from_secs(10) {
            0
        } else {
            r.restart_count.min(10) as u32
        };
        Some(Duration::from_millis(100u64 << n).min(Duration::from_secs(60)))
    }

    fn schedule_restart(&self, c: Arc<Container>, delay: Duration) {
        let Some(me) = self.me.upgrade() else { return };
        {
            let mut r = c.record();
            r.state.status = Status::Restarting;
            r.restart_count += 1;
            let _ = r.save_state(&self.containers.dir(&c.id));
        }
        c.publish(|p| p.running = true);
        let _ = std::thread::Builder::new()
            .name("restart".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                std::thread::sleep(delay);
                let _op = c.lock_op();
                let still = {
                    let r = c.record();
                    r.state.status == Status::Restarting && !r.manually_stopped
                };
                if still {
                    if let Err(e) = me.start_locked(&c) {
                        tracing::warn!(container = %c.id, error = %e, "restart failed");
                        c.publish(|p| p.running = false);
                        if let Some(d) = me.restart_delay(&c.record(), &run::Exit::default()) {
                            drop(_op);
                            me.schedule_restart(c.clone(), d);
                        }
                    }
                }
            });
    }

    /// `POST /containers/{id}/stop`. `Ok(false)`: it was not running (304).
    pub fn stop_container(
        &self,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<bool> {
        let c = self.container(name)?;
        let (sig, default_timeout, status) = {
            let r = c.record();
            let sig = signal
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .or_else(|| r.config.stop_signal.clone())
                .unwrap_or_else(|| "SIGTERM".into());
            (
                sig,
                r.config.stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT),
                r.state.status,
            )
        };
        let sig = parse_signal(&sig)?;
        {
            let mut r = c.record();
            r.manually_stopped = true;
            let _ = r.save_state(&self.containers.dir(&c.id));
        }
        if status == Status::Restarting {
            let mut r = c.record();
            r.state.status = Status::Exited;
            let _ = r.save_state(&self.containers.dir(&c.id));
            drop(r);
            c.publish(|p| p.running = false);
            return Ok(true);
        }
        if status != Status::Running {
            return Ok(false);
        }
        let timeout = timeout.unwrap_or(default_timeout);
        if c.record().state.paused {
            let _ = run::shim_call(&self.containers.run_dir(&c.id), run::ShimOp::Resume);
        }
        let run_dir = self.containers.run_dir(&c.id);
        if timeout != 0 {
            run::kill(&run_dir, sig, false)?;
        }
        let waited = timeout < 0 || c.wait_stopped(Duration::from_secs(timeout.max(0) as u64));
        if !waited || timeout == 0 {
            if timeout > 0 {
                tracing::info!(container = %c.id, timeout, "container did not stop in time; killing it");
            }
            run::kill(&run_dir, libc::SIGKILL, true)?;
            c.wait_stopped(Duration::from_secs(30));
        }
        let r = c.record();
        self.container_event("stop", &r, &[]);
        Ok(true)
    }

    /// `POST /containers/{id}/kill`.
    pub fn kill_container(&self, name: &str, signal: Option<&str>) -> Result<()> {
        let c = self.container(name)?;
        let sig = parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
        let r = c.record();
        if r.state.status != Status::Running {
            return Err(Error::Conflict(format!(
                "cannot kill container: {name}: container {} is not running",
                r.id
            )));
        }
        drop(r);
        if sig == libc::SIGKILL {
            let mut r = c.record();
            r.manually_stopped = true;
            let _ = r.save_state(&self.containers.dir(&c.id));
        }
        run::kill(&self.containers.run_dir(&c.id), sig, false)?;
        let r = c.record();
        self.container_event("kill", &r, &[("signal", sig.to_string())]);
        Ok(())
    }

    /// `POST /containers/{id}/restart`.
    pub fn restart_container(
        &self,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        self.stop_container(name, signal, timeout)?;
        let c = self.container(name)?;
        let _op = c.lock_op();
        if c.record().running() {
            return Ok(());
        }
        c.record().manually_stopped = false;
        self.start_locked(&c)?;
        let r = c.record();
        self.container_event("restart", &r, &[]);
        Ok(())
    }

    /// `POST /containers/{id}/pause` and `/unpause`.
    pub fn pause_container(&self, name: &str, pause: bool) -> Result<()> {
        let c = self.container(name)?;
        let _op = c.lock_op();
        let mut r = c.record();
        if r.state.status != Status::Running {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                r.id
            )));
        }
        if pause && r.state.paused {
            return Err(Error::Conflict(format!(
                "Container {} is already paused",
                r.id
            )));
        }
        if !pause && !r.state.paused {
            return Err(Error::Conflict(format!("Container {} is not paused", r.id)));
        }
        let op = if pause {
            run::ShimOp::Pause
        } else {
            run::ShimOp::Resume
        };
        run::shim_call(&self.containers.run_dir(&c.id), op)?;
        r.state.paused = pause;
        r.save_state(&self.containers.dir(&c.id))?;
        self.container_event(if pause { "pause" } else { "unpause" }, &r, &[]);
        Ok(())
    }

    /// `DELETE /containers/{id}`.
    pub fn remove_container(&self, name: &str, force: bool, _volumes: bool) -> Result<()> {
        let c = self.container(name)?;
        let running = {
            let r = c.record();
            if r.state.status == Status::Removing && !force {
                return Err(Error::Conflict(format!(
                    "removal of container {} is already in progress",
                    r.id
                )));
            }
            r.running()
        };
        if running {
            if !force {
                let r = c.record();
                let state = if r.state.paused {
                    "paused"
                } else if r.state.status == Status::Restarting {
                    "restarting"
                } else {
                    "running"
                };
                return Err(Error::Conflict(format!(
                    "cannot remove container \"{}\": container is {state}: stop the container before removing or force remove",
                    r.short_name()
                )));
            }
            self.stop_container(&c.id, Some("SIGKILL"), Some(0))?;
        }
        let _op = c.lock_op();
        let dir = self.containers.dir(&c.id);
        // In memory only: the rename in remove_rw is what commits the removal, and a
        // crash before it leaves the container as it was, to be removed again.
        c.record().state.status = Status::Removing;
        let rec = c.record().clone();
        let t0 = std::time::Instant::now();
        run::remove_rw(
            &dir,
            &self.containers.run_dir(&c.id),
            &self.containers.purges,
        )?;
        tracing::debug!(container = %c.id, took = ?t0.elapsed(), "container removed");
        self.containers.forget(&c.id);
        self.container_event("destroy", &rec, &[]);
        c.publish(|p| {
            p.removed = true;
            p.running = false;
        });
        Ok(())
    }

    /// `POST /containers/{id}/rename?name=`.
    pub fn rename_container(&self, name: &str, new_name: &str) -> Result<()> {
        if new_name.is_empty() {
            return Err(Error::InvalidParameter(
                "Neither old nor new names may be empty".into(),
            ));
        }
        let c = self.container(name)?;
        let new = create::validate_name(new_name)?;
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        // name_owner locks every record: ask before taking this one's lock.
        let owner = self.containers.name_owner(&new);
        let mut r = c.record();
        if r.name == new {
            return Err(Error::InvalidParameter(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Some(owner) = owner {
            return Err(Error::Conflict(format!(
                "Conflict. The container name \"{new}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        let old = std::mem::replace(&mut r.name, new);
        r.save(&self.containers.dir(&c.id))?;
        self.container_event("rename", &r, &[("oldName", old)]);
        Ok(())
    }

    /// `POST /containers/{id}/update`: new limits, applied at once when running.
    pub fn update_container(
        &self,
        name: &str,
        update: berth_api_types::models::ContainerUpdateBody,
    ) -> Result<Vec<String>> {
        let c = self.container(name)?;
        let _op = c.lock_op();
        let mut r = c.record();
        let mut hc = r.host_config.clone();
        // As dockerd: the docker CLI sends every field, zero (or empty) for the flags
        // not given, and those leave the setting as it is; the nullable ones are null
        // when not given (a pids limit of 0 means unlimited).
        macro_rules! set_given {
            ($($f:ident),*) => { $(
                if let Some(v) = given(update.$f.clone()) {
                    hc.$f = Some(v);
                }
            )* };
        }
        macro_rules! set_present {
            ($($f:ident),*) => { $( if update.$f.is_some() { hc.$f = update.$f; } )* };
        }
        set_given!(
            memory,
            memory_swap,
            memory_reservation,
            nano_cpus,
            cpu_shares,
            cpu_period,
            cpu_quota,
            cpuset_cpus,
            cpuset_mems,
            blkio_weight
        );
        set_present!(pids_limit, oom_kill_disable);
        if let Some(policy) = update
            .restart_policy
            .filter(|p| !matches!(p.name, None | Some(RestartPolicyNameEnum::EMPTY)))
        {
            if hc.auto_remove == Some(true) && policy.name != Some(RestartPolicyNameEnum::NO) {
                return Err(Error::Conflict(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                ));
            }
            hc.restart_policy = Some(policy);
        }
        create::validate_host_config(&hc, num_cpus())?;
        if r.state.status == Status::Running {
            run::update(&self.containers.run_dir(&c.id), &hc)?;
        }
        r.host_config = hc;
        r.save(&self.containers.dir(&c.id))?;
        self.container_event("update", &r, &[]);
        Ok(Vec::new())
    }

    /// `POST /containers/{id}/wait`: the receiver to await, after checking the condition.
    pub fn container_waiter(
        &self,
        name: &str,
    ) -> Result<(Arc<Container>, watch::Receiver<Progress>)> {
        let c = self.container(name)?;
        let rx = c.subscribe();
        Ok((c, rx))
    }

    /// `POST /containers/prune`: removes stopped containers matching the filters.
    pub fn prune_containers(&self, filters: &ContainerFilters) -> Result<(Vec<String>, u64)> {
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for c in self.containers.all() {
            let candidate = {
                let r = c.record();
                !r.running() && filters.matches_prune(&r)
            };
            if candidate {
                reclaimed += run::rw_size(&self.containers.dir(&c.id));
                if self.remove_container(&c.id, false, false).is_ok() {
                    deleted.push(c.id.clone());
                }
            }
        }
        if !deleted.is_empty() {
            self.events.emit(
                "container",
                "prune",
                "",
                BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]),
            );
        }
        Ok((deleted, reclaimed))
    }

    /// At start: reconnect to shims that are still running, record the exits
    /// that happened while the daemon was away, and apply restart policies.
    pub(crate) fn restore_containers(&self) {
        for c in self.containers.all() {
            let (running, policy_always, unless_stopped, manually) = {
                let r = c.record();
                let name = r.host_config.restart_policy.as_ref().and_then(|p| p.name);
                (
                    r.running(),
                    name == Some(RestartPolicyNameEnum::ALWAYS),
                    name == Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    r.manually_stopped,
                )
            };
            let run_dir = self.containers.run_dir(&c.id);
            if running {
                if run::shim_alive(&run_dir) {
                    let mut r = c.record();
                    if r.state.status == Status::Restarting {
                        r.state.status = Status::Running;
                    }
                    let publishes = r.endpoint.as_ref().is_some_and(|e| !e.ports.is_empty());
                    drop(r);
                    // Setting up the network holds its published ports again.
                    if publishes {
                        if let Err(e) = self.network() {
                            tracing::warn!(container = %c.id, error = %e, "network setup failed");
                        }
                    }
                    self.spawn_monitor(c.clone());
                    continue;
                }
                let exit = run::read_exit(&run_dir).unwrap_or(run::Exit {
                    exit_code: 255,
                    oom_killed: false,
                    finished_at: now_rfc3339(),
                });
                self.on_exit(&c, exit);
                continue;
            }
            if policy_always || (unless_stopped && !manually) {
                let _op = c.lock_op();
                if let Err(e) = self.start_locked(&c) {
                    tracing::warn!(container = %c.id, error = %e, "restart at daemon start failed");
                }
            }
        }
    }
}

/// The nice value of work done ahead or after the fact (spare shims, namespaces made
/// ahead, deleting removed containers): it takes idle time, not time from containers
/// and requests at work. Not `SCHED_IDLE`: this work takes kernel locks a start needs
/// too (the mount namespace's, the parent directory's, rtnl), and a starved holder
/// would stall the start; the spare shim's exec, which takes none, runs [`idle_class`].
const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread (only: Linux keeps a nice value per thread) to
/// [`BACKGROUND_NICE`].
pub(crate) fn lower_priority() {
    // SAFETY: setpriority on the calling thread (who = 0), no pointers.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, BACKGROUND_NICE) };
}

/// Moves the calling thread to `SCHED_IDLE`: it runs only on a CPU nothing else wants.
/// For work that holds no lock others wait on (see [`BACKGROUND_NICE`]).
pub(crate) fn idle_class() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid param.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
}

/// Read once: std asks the cgroup files (mountinfo, quotas) at every call.
pub(crate) fn num_cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// An update's value when it was given: docker's zero (or empty) means "leave as is".
fn given<T: Default + PartialEq>(v: Option<T>) -> Option<T> {
    v.filter(|v| *v != T::default())
}
