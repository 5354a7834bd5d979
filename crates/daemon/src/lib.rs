//! berth-daemon: the engine behind the API. It owns the stores, keeps the
//! in-memory view of images (and, later, containers), and carries out every
//! operation as a plain blocking function; the `api` crate calls them from
//! `spawn_blocking` and knows all the HTTP.
//!
//! Invariant: no HTTP here; the stores below know nothing of the daemon.

mod config;
mod containers;
mod error;
mod events;
mod images;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, Weak};

pub use berth_image::Reference;
pub use config::{Config, ConfigError, Flags, DEFAULT_BRIDGE, DEFAULT_CONFIG_FILE, DEFAULT_HOST};
pub use containers::{
    parse_signal, AttachStream, AttachTarget, Container, ContainerFilters, ExecStart, ExecStream,
    Progress, Record as ContainerRecord, Status as ContainerStatus,
};
pub use error::{Error, Result};
pub use events::Events;
pub use images::{ImageFilters, ImportOptions, PullOptions, PushOptions, SavePlan};

use berth_snapshot::Snapshotter;
use berth_store::ContentStore;
use images::store::{ImageStore, State};

/// The engine: stores, metadata and the event bus.
pub struct Daemon {
    pub config: Config,
    pub events: Events,
    /// A stable identifier of this daemon's data root (docker's `ID` in /info).
    pub id: String,
    content: ContentStore,
    snapshots: Snapshotter,
    image_store: ImageStore,
    state: RwLock<State>,
    containers: containers::Containers,
    /// The default bridge, set up on first use.
    network: Mutex<Option<Arc<berth_network::Network>>>,
    /// Serialises metadata changes: one writer at a time, readers never wait on it.
    write: Mutex<()>,
    /// Monitor threads hold the daemon through this.
    me: Weak<Daemon>,
    /// Held for the daemon's life: one daemon per data root.
    _lock: std::fs::File,
}

impl Daemon {
    /// Opens the data root, loads the metadata and collects what a crash left unreferenced.
    pub fn open(config: Config) -> Result<Arc<Daemon>> {
        // A bad mirror or insecure-registry entry stops the start, as with dockerd.
        images::RegistrySettings::from_config(&config)?;
        let root = config.data_root.clone();
        std::fs::create_dir_all(&root).map_err(Error::io("data root"))?;
        let lock = lock_data_root(&root)?;
        let content = ContentStore::open(&root.join("content"))?;
        let snapshots = Snapshotter::open(&root.join("snapshots"))?;
        let image_store = ImageStore::new(root.join("image"));
        let state = image_store.load(&content)?;
        let containers = containers::Containers::open(&root, &config.exec_root)?;
        let id = daemon_id(&root)?;
        let daemon = Arc::new_cyclic(|me| Daemon {
            me: me.clone(),
            containers,
            network: Mutex::new(None),
            id,
            _lock: lock,
            config,
            events: Events::default(),
            content,
            snapshots,
            image_store,
            state: RwLock::new(state),
            write: Mutex::new(()),
        });
        daemon.collect_garbage()?;
        daemon.restore_containers();
        Ok(daemon)
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes blobs and snapshots no image references.
    pub fn collect_garbage(&self) -> Result<()> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let (blobs, mut snaps) = images::store::referenced(&self.read());
        snaps.extend(self.containers.snapshots_in_use());
        for d in self.content.list()? {
            if !blobs.contains(&d) {
                tracing::debug!(blob = %d, "removing unreferenced blob");
                self.content.delete(&d)?;
            }
        }
        for s in self.snapshots.list()? {
            if !snaps.contains(&s) {
                tracing::debug!(snapshot = %s, "removing unreferenced snapshot");
                self.snapshots.remove(&s)?;
            }
        }
        Ok(())
    }

    pub fn image_count(&self) -> usize {
        self.read().images.len()
    }

    /// The default bridge network, created on first use.
    pub(crate) fn network(&self) -> Result<Arc<berth_network::Network>> {
        let mut slot = self.network.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = slot.as_ref() {
            return Ok(n.clone());
        }
        if self.config.bridge == "none" {
            return Err(Error::InvalidParameter(
                "the default bridge is disabled (--bridge none); use --network none or host".into(),
            ));
        }
        let mut cfg = berth_network::BridgeConfig {
            name: self.config.bridge.clone(),
            state_dir: self.config.data_root.join("network"),
            ..Default::default()
        };
        // One nftables table per bridge, so daemons side by side never share rules.
        if self.config.bridge != DEFAULT_BRIDGE {
            cfg.nft_table = format!("berth_{}", self.config.bridge.replace(['-', '.'], "_"));
        }
        if let Some(bip) = &self.config.bip {
            cfg.cidr = bip
                .parse()
                .map_err(|e| Error::InvalidParameter(format!("invalid bip {bip}: {e}")))?;
        }
        let net = Arc::new(
            berth_network::Network::setup(cfg)
                .map_err(|e| Error::Internal(format!("setting up the bridge network: {e}")))?,
        );
        *slot = Some(net.clone());
        Ok(net)
    }

    /// Where the runtime keeps its per-container state.
    pub(crate) fn runtime_root(&self) -> PathBuf {
        containers::runtime_dir(&self.config.exec_root)
    }

    /// The binary of an external runtime, or None for the built-in one.
    pub(crate) fn runtime_binary(&self, name: Option<&str>) -> Result<Option<PathBuf>> {
        let name = name
            .filter(|n| !n.is_empty())
            .unwrap_or(self.config.default_runtime.as_str());
        if name == "berth" {
            return Ok(None);
        }
        if let Some(p) = self.config.runtimes.get(name) {
            return Ok(Some(p.clone()));
        }
        // As dockerd, runc is known without configuration.
        if name == "runc" {
            for dir in [
                "/usr/sbin",
                "/usr/bin",
                "/usr/local/sbin",
                "/usr/local/bin",
                "/sbin",
            ] {
                let p = Path::new(dir).join("runc");
                if p.exists() {
                    return Ok(Some(p));
                }
            }
        }
        Err(Error::InvalidParameter(format!(
            "unknown or invalid runtime name: {name}"
        )))
    }
}

/// Two daemons on one data root would collect each other's new blobs as
/// garbage; an exclusive lock on `<root>/lock` keeps it to one.
fn lock_data_root(root: &Path) -> Result<std::fs::File> {
    let path = root.join("lock");
    let file = std::fs::File::create(&path).map_err(Error::io("data root lock"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Conflict(format!(
            "data root {} is in use by another berth daemon",
            root.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("data root lock")(e)),
    }
}

/// Docker's daemon ID is random and kept with the data; so is ours.
fn daemon_id(root: &Path) -> Result<String> {
    let path = root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        return Ok(id.trim().to_string());
    }
    let id = format!("{:032x}", rand::random::<u128>());
    berth_store::atomic_write(&path, id.as_bytes())?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_daemon_per_data_root() {
        let dir = tempfile::tempdir().unwrap();
        // Both roots of its own: the default exec root would be left behind in /run.
        let config = Config {
            data_root: dir.path().join("data"),
            exec_root: dir.path().join("exec"),
            ..Config::default()
        };
        let first = Daemon::open(config.clone()).unwrap();
        let second = Daemon::open(config.clone());
        assert!(
            matches!(second, Err(Error::Conflict(m)) if m.contains("in use by another berth daemon"))
        );
        drop(first);
        Daemon::open(config).unwrap();
    }
}
