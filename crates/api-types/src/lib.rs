//! berth-api-types: the Docker Engine API (v1.50) JSON models berth serves and
//! reads, with docker's field names and order. Pure data: no I/O, no async.

mod events;
mod image;
mod message;
mod system;

pub use events::{Event, EventActor};
pub use image::{
    GraphDriver, HistoryItem, ImageConfig, ImageDeleteItem, ImageInspect, ImageMetadata,
    ImagePruneReport, ImageSummary, RootFs,
};
pub use message::{ErrorDetail, JsonMessage, ProgressDetail};
pub use system::{ComponentVersion, SystemDf, Version};

/// Container, exec, network and volume models generated from the Engine API
/// swagger (bollard-stubs): every field optional, docker's JSON names. Image
/// models above stay hand-written because their output must match dockerd's
/// field order byte for byte.
pub use bollard_stubs::models;

/// The error body of every failed request: `{"message": "..."}`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}

/// The highest API version berth speaks (docker 28's).
pub const API_VERSION: &str = "1.50";
/// The lowest API version berth accepts, as dockerd 28 does.
pub const MIN_API_VERSION: &str = "1.24";
