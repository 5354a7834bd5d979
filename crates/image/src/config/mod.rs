//! The image configuration JSON as Docker writes it: the OCI image config
//! plus Docker's extra fields (`container_config`, `docker_version`, the
//! container `config`'s `Hostname`, `Healthcheck`, ...).
//!
//! Unknown fields are kept (`extra`), and [`ImageConfig::from_slice`] /
//! [`ImageConfig::to_vec`] keep the key order of the document that was read,
//! so a config that is only read and written back comes out the same. The
//! image ID is always the digest of the stored bytes ([`image_id`]), never of
//! a re-serialisation.

mod change;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Error;

pub use change::apply_changes;

/// The image ID: `sha256:` + hex(sha256(config bytes exactly as stored)).
pub fn image_id(config_bytes: &[u8]) -> String {
    crate::sha256_digest(config_bytes)
}

/// A value that serialises as `{}` and accepts anything: the values of
/// Docker's `ExposedPorts` and `Volumes` sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(std::iter::empty::<((), ())>())
    }
}

impl<'de> Deserialize<'de> for EmptyObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer)?;
        Ok(EmptyObject)
    }
}

/// Go's `strslice.StrSlice`: a JSON array of strings, or a single string.
fn str_slice<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// The whole image configuration document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    // Field order is the order dockerd marshals its image.Image struct in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// RFC 3339 timestamp, kept as written (nanoseconds and all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_config: Option<ContainerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os: String,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// Fields this struct does not name, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The document this config was read from, to restore its key order.
    #[serde(skip)]
    layout: Layout,
}

/// `rootfs`: the layer diff IDs, bottom first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diff_ids: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".to_string(),
            diff_ids: Vec::new(),
            extra: Map::new(),
        }
    }
}

/// One `history` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Docker's `container.Config` as stored in an image (`config` and
/// `container_config`). Every field is optional so that OCI configs, which
/// carry only a few of them, read back unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stdin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stdout: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stderr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, EmptyObject>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_stdin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_once: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "str_slice",
        skip_serializing_if = "Option::is_none"
    )]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, EmptyObject>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(
        default,
        deserialize_with = "str_slice",
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(
        default,
        deserialize_with = "str_slice",
        skip_serializing_if = "Option::is_none"
    )]
    pub shell: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Docker's `HealthConfig`; durations are nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The source document of a config, compared equal to any other so that it
/// does not take part in `PartialEq`.
#[derive(Clone, Default)]
struct Layout(Option<Box<Value>>);

impl PartialEq for Layout {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Layout(kept)"
        } else {
            "Layout(none)"
        })
    }
}

impl ImageConfig {
    /// Parses config bytes, remembering their key order for [`Self::to_vec`].
    pub fn from_slice(bytes: &[u8]) -> Result<ImageConfig, Error> {
        let decode = |source| Error::Decode {
            what: "image config",
            source,
        };
        let value: Value = serde_json::from_slice(bytes).map_err(decode)?;
        let mut config: ImageConfig = serde_json::from_value(value.clone()).map_err(decode)?;
        config.layout = Layout(Some(Box::new(value)));
        Ok(config)
    }

    /// Serialises the config compactly. Keys the source document had come in
    /// its order (and its `null`s for fields still unset are kept); new keys
    /// follow in Docker's order.
    pub fn to_vec(&self) -> Vec<u8> {
        let value = self.to_value();
        // Serialising a Value cannot fail.
        serde_json::to_vec(&value).unwrap_or_default()
    }

    /// The config as a JSON value, in the key order of [`Self::to_vec`].
    pub fn to_value(&self) -> Value {
        // Every field serialises infallibly (strings, numbers, maps with
        // string keys), so an error here cannot happen.
        let fresh = serde_json::to_value(self).unwrap_or(Value::Null);
        match &self.layout.0 {
            Some(old) => arrange_like(fresh, old),
            None => fresh,
        }
    }

    /// `created` as a timestamp, when present and valid RFC 3339.
    pub fn created_time(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        self.created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
    }

    /// `os/architecture[/variant]`, as docker prints platforms.
    pub fn platform_string(&self) -> String {
        match &self.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{}", self.os, self.architecture, v),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// `new` with its object keys put in the order `old` had them. A key that
/// `old` held as `null` and `new` lacks is put back as `null`, because the
/// typed fields cannot tell "absent" from `null`.
fn arrange_like(new: Value, old: &Value) -> Value {
    match (new, old) {
        (Value::Object(mut new), Value::Object(old)) => {
            let mut out = Map::with_capacity(new.len());
            for (key, old_value) in old {
                match new.remove(key) {
                    Some(v) => {
                        out.insert(key.clone(), arrange_like(v, old_value));
                    }
                    None if old_value.is_null() => {
                        out.insert(key.clone(), Value::Null);
                    }
                    None => {}
                }
            }
            out.extend(new);
            Value::Object(out)
        }
        (Value::Array(new), Value::Array(old)) => Value::Array(
            new.into_iter()
                .enumerate()
                .map(|(i, v)| match old.get(i) {
                    Some(o) => arrange_like(v, o),
                    None => v,
                })
                .collect(),
        ),
        (new, _) => new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shaped like a config dockerd 24 wrote for `docker commit`.
    const DOCKER_CONFIG: &str = r##"{"architecture":"amd64","config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"Image":"sha256:1111111111111111111111111111111111111111111111111111111111111111","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null},"container":"3f2a","container_config":{"Hostname":"3f2a","Cmd":["/bin/sh","-c","#(nop) ","CMD [\"sh\"]"],"Volumes":null},"created":"2024-05-01T12:00:00.123456789Z","docker_version":"24.0.7","history":[{"created":"2024-05-01T11:00:00Z","created_by":"/bin/sh -c #(nop) ADD file:abc in / "},{"created":"2024-05-01T12:00:00.123456789Z","created_by":"/bin/sh -c #(nop)  CMD [\"sh\"]","empty_layer":true}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:2222222222222222222222222222222222222222222222222222222222222222"]},"moby.extra":{"z":1,"a":2}}"##;

    #[test]
    fn round_trip_keeps_bytes_order_and_unknown_fields() {
        let config = ImageConfig::from_slice(DOCKER_CONFIG.as_bytes()).unwrap();
        assert_eq!(config.architecture, "amd64");
        assert_eq!(config.os, "linux");
        assert_eq!(config.docker_version.as_deref(), Some("24.0.7"));
        let c = config.config.as_ref().unwrap();
        assert_eq!(c.cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(c.volumes, None);
        assert_eq!(config.extra.get("container"), Some(&Value::from("3f2a")));
        assert!(config.extra.contains_key("moby.extra"));
        assert_eq!(config.history.len(), 2);
        assert_eq!(config.history[1].empty_layer, Some(true));
        assert_eq!(config.rootfs.diff_ids.len(), 1);
        assert_eq!(
            String::from_utf8(config.to_vec()).unwrap(),
            DOCKER_CONFIG,
            "a config read and written back is byte-identical"
        );
        assert_eq!(
            config.created_time().unwrap().timestamp_subsec_nanos(),
            123_456_789
        );
        assert_eq!(config.platform_string(), "linux/amd64");
    }

    #[test]
    fn edits_keep_order_and_new_keys_follow() {
        let mut config = ImageConfig::from_slice(DOCKER_CONFIG.as_bytes()).unwrap();
        let c = config.config.as_mut().unwrap();
        c.cmd = Some(vec!["bash".into()]);
        c.volumes = Some(BTreeMap::from([("/data".to_string(), EmptyObject)]));
        c.stop_signal = Some("SIGTERM".into());
        c.entrypoint = None;
        config.author = Some("me".into());
        let out = String::from_utf8(config.to_vec()).unwrap();
        assert!(out.contains(r#""Cmd":["bash"],"Image""#), "{out}");
        assert!(
            out.contains(r#""Volumes":{"/data":{}},"WorkingDir":"""#),
            "{out}"
        );
        assert!(out.contains(r#""Entrypoint":null"#), "{out}");
        assert!(
            out.contains(r#""Labels":null,"StopSignal":"SIGTERM"}"#),
            "{out}"
        );
        assert!(
            out.ends_with(r#""moby.extra":{"z":1,"a":2},"author":"me"}"#),
            "{out}"
        );
        assert_eq!(
            image_id(out.as_bytes()),
            crate::sha256_digest(out.as_bytes())
        );
    }

    #[test]
    fn fresh_config_uses_docker_field_order() {
        let config = ImageConfig {
            created: Some("2024-01-01T00:00:00Z".into()),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
            os: "linux".into(),
            config: Some(ContainerConfig {
                env: Some(vec!["A=1".into()]),
                cmd: Some(vec!["sh".into()]),
                ..Default::default()
            }),
            rootfs: RootFs {
                diff_ids: vec!["sha256:aa".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(config.to_vec()).unwrap(),
            r#"{"created":"2024-01-01T00:00:00Z","config":{"Env":["A=1"],"Cmd":["sh"]},"architecture":"arm64","variant":"v8","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#
        );
        assert_eq!(config.platform_string(), "linux/arm64/v8");
    }

    #[test]
    fn oci_config_and_string_cmd() {
        let oci = r#"{"architecture":"amd64","config":{"Cmd":"echo hi","Entrypoint":["/e"],"ExposedPorts":{"80/tcp":{}},"Labels":{"b":"2","a":"1"}},"created":"2024-01-01T00:00:00Z","history":[{"created_by":"x","comment":"buildkit.dockerfile.v0"}],"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config = ImageConfig::from_slice(oci.as_bytes()).unwrap();
        let c = config.config.unwrap();
        assert_eq!(c.cmd, Some(vec!["echo hi".to_string()]));
        assert_eq!(c.entrypoint, Some(vec!["/e".to_string()]));
        assert!(c.exposed_ports.unwrap().contains_key("80/tcp"));
        assert_eq!(c.labels.unwrap().len(), 2);
        assert!(ImageConfig::from_slice(b"[1]").is_err());
        let err = ImageConfig::from_slice(b"{").unwrap_err().to_string();
        assert!(err.starts_with("invalid image config:"), "{err}");
    }

    #[test]
    fn image_id_is_digest_of_bytes() {
        assert_eq!(
            image_id(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
