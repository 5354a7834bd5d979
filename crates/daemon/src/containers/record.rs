//! What the daemon keeps of a container on disk: one JSON file per container
//! under `<data-root>/containers/<id>/`, replaced atomically on every change,
//! so a crash leaves the old record or the new one.

use std::path::{Path, PathBuf};

use berth_api_types::models::{ContainerConfig, HostConfig};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub const RECORD_FILE: &str = "container.json";

/// A container's lifecycle state, as `inspect` shows it under `State`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunState {
    pub status: Status,
    pub paused: bool,
    pub oom_killed: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// A published port as it was actually bound (random host ports resolved).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BoundPort {
    /// `80/tcp`
    pub container: String,
    pub host_ip: String,
    pub host_port: u16,
}

/// The container's address on the default bridge while it runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Endpoint {
    pub ip: String,
    pub prefix_len: u8,
    pub gateway: String,
    pub mac: String,
    pub ports: Vec<BoundPort>,
}

/// The persisted container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// With docker's leading slash: `/name`.
    pub name: String,
    pub created: String,
    /// `sha256:…` of the image the container was created from.
    pub image: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub state: RunState,
    pub restart_count: i64,
    /// Set by `stop`/`kill` from a user: restart policies must not bring it back.
    pub manually_stopped: bool,
    pub endpoint: Option<Endpoint>,
    /// Lower directories of the overlay, top-most first.
    pub lower_dirs: Vec<PathBuf>,
}

impl Record {
    /// Saves a change of configuration (create, rename, update): durably.
    pub fn save(&self, dir: &Path) -> Result<()> {
        berth_store::atomic_write_json(&dir.join(RECORD_FILE), self).map_err(Error::from)
    }

    /// Saves a change of run state (started, exited, stopping, paused): atomically but
    /// without fsync. After a daemon crash the file is whole; after a power loss no
    /// container runs any more, and the daemon re-derives the state from its shims and
    /// their exit files at start, so an older state here is corrected, never trusted.
    pub fn save_state(&self, dir: &Path) -> Result<()> {
        berth_store::replace_file_json(&dir.join(RECORD_FILE), self).map_err(Error::from)
    }

    pub fn load(dir: &Path) -> Result<Option<Record>> {
        berth_store::read_json(&dir.join(RECORD_FILE)).map_err(Error::from)
    }

    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    pub fn running(&self) -> bool {
        matches!(self.state.status, Status::Running | Status::Restarting)
    }

    pub fn tty(&self) -> bool {
        self.config.tty.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Record {
            id: "a".repeat(64),
            name: "/x".into(),
            created: "2026-11-23T00:00:00Z".into(),
            image: "sha256:00".into(),
            path: "sh".into(),
            args: vec!["-c".into(), "true".into()],
            config: ContainerConfig {
                tty: Some(true),
                ..Default::default()
            },
            host_config: HostConfig::default(),
            state: RunState {
                status: Status::Exited,
                exit_code: 3,
                ..Default::default()
            },
            restart_count: 0,
            manually_stopped: false,
            endpoint: None,
            lower_dirs: vec![],
        };
        rec.save(dir.path()).unwrap();
        let back = Record::load(dir.path()).unwrap().unwrap();
        assert_eq!(back.state, rec.state);
        assert!(back.tty());
        assert_eq!(back.short_name(), "x");
    }
}
