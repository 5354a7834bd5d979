//! berth-daemon: the engine behind the API. It owns the stores, keeps the
//! in-memory view of images (and, later, containers), and carries out every
//! operation as a plain blocking function; the `api` crate calls them from
//! `spawn_blocking` and knows all the HTTP.
//!
//! Invariant: no HTTP here; the stores below know nothing of the daemon.

mod config;
mod error;
mod events;
mod images;

use std::path::Path;
use std::sync::{Mutex, RwLock, RwLockReadGuard};

pub use berth_image::Reference;
pub use config::{Config, ConfigError, Flags, DEFAULT_CONFIG_FILE, DEFAULT_HOST};
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
    /// Serialises metadata changes: one writer at a time, readers never wait on it.
    write: Mutex<()>,
    /// Held for the daemon's life: one daemon per data root.
    _lock: std::fs::File,
}

impl Daemon {
    /// Opens the data root, loads the metadata and collects what a crash left unreferenced.
    pub fn open(config: Config) -> Result<Daemon> {
        let root = config.data_root.clone();
        std::fs::create_dir_all(&root).map_err(Error::io("data root"))?;
        let lock = lock_data_root(&root)?;
        let content = ContentStore::open(&root.join("content"))?;
        let snapshots = Snapshotter::open(&root.join("snapshots"))?;
        let image_store = ImageStore::new(root.join("image"));
        let state = image_store.load(&content)?;
        let daemon = Daemon {
            id: daemon_id(&root)?,
            _lock: lock,
            config,
            events: Events::default(),
            content,
            snapshots,
            image_store,
            state: RwLock::new(state),
            write: Mutex::new(()),
        };
        daemon.collect_garbage()?;
        Ok(daemon)
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes blobs and snapshots no image references.
    pub fn collect_garbage(&self) -> Result<()> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let (blobs, snaps) = images::store::referenced(&self.read());
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
        let config = Config {
            data_root: dir.path().to_path_buf(),
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
