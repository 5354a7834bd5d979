use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ImageSummary;

/// `GET /version`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    pub platform: Value,
    pub components: Vec<ComponentVersion>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub build_time: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    pub details: Value,
}

/// `GET /system/df` in the v1.50 shape.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct SystemDf {
    pub layers_size: i64,
    pub images: Vec<ImageSummary>,
    pub containers: Vec<Value>,
    pub volumes: Vec<Value>,
    pub build_cache: Vec<Value>,
}
