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
pub use images::{ImageFilters, ImportOptions, PruneOptions, SavePlan};

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
}

impl Daemon {
    /// Opens the data root, loads the metadata and collects what a crash left unreferenced.
    pub fn open(config: Config) -> Result<Daemon> {
        let root = config.data_root.clone();
        std::fs::create_dir_all(&root).map_err(Error::io("data root"))?;
        let content = ContentStore::open(&root.join("content"))?;
        let snapshots = Snapshotter::open(&root.join("snapshots"))?;
        let image_store = ImageStore::new(root.join("image"));
        let state = image_store.load(&content)?;
        let daemon = Daemon {
            id: daemon_id(&root)?,
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
