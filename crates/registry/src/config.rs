//! The registry's config file (JSON; see README.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{RegistryError, Result};

pub const DEFAULT_ADDR: &str = "127.0.0.1:5000";
pub const DEFAULT_ROOT: &str = "/var/lib/berth-registry";
/// How long a blob stays safe from garbage collection after it was written or referenced.
pub const DEFAULT_GC_GRACE_SECS: u64 = 3600;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listen address (`--addr` wins).
    pub addr: Option<SocketAddr>,
    /// Data directory of the filesystem backend (`--root` wins).
    pub root: Option<PathBuf>,
    #[serde(default)]
    pub storage: StorageConfig,
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub auth: AuthConfig,
    /// Refuse every write (405 UNSUPPORTED), e.g. while migrating.
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub gc: GcConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// An S3-compatible bucket instead of the local filesystem (feature `aws`).
    pub s3: Option<S3Config>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// e.g. `http://127.0.0.1:9000` for MinIO or moto; unset means AWS.
    pub endpoint: Option<String>,
    #[serde(default = "default_region")]
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Key prefix inside the bucket.
    #[serde(default)]
    pub prefix: String,
}

fn default_region() -> String {
    "us-east-1".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub htpasswd: Option<HtpasswdConfig>,
    pub token: Option<TokenConfig>,
    /// Let anyone pull; only writes need credentials.
    #[serde(default)]
    pub anonymous_pull: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtpasswdConfig {
    /// `user:bcrypt-hash` lines (`htpasswd -B`).
    pub path: PathBuf,
    #[serde(default = "default_realm")]
    pub realm: String,
}

fn default_realm() -> String {
    "berth-registry".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The token endpoint clients are sent to.
    pub realm: String,
    /// This registry's name: the tokens' `aud`.
    pub service: String,
    /// The tokens' `iss`.
    pub issuer: String,
    /// PEM public key (RSA or EC P-256/P-384, SubjectPublicKeyInfo) the issuer signs with.
    pub public_key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcConfig {
    #[serde(default = "default_grace")]
    pub grace_seconds: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            grace_seconds: DEFAULT_GC_GRACE_SECS,
        }
    }
}

fn default_grace() -> u64 {
    DEFAULT_GC_GRACE_SECS
}

impl Config {
    /// Reads a JSON config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read(path).map_err(RegistryError::io(path))?;
        let cfg: Config = serde_json::from_slice(&text).map_err(|e| RegistryError::Config {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })?;
        if cfg.auth.htpasswd.is_some() && cfg.auth.token.is_some() {
            return Err(RegistryError::Config {
                path: path.to_path_buf(),
                msg: "auth: choose either htpasswd or token, not both".into(),
            });
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        std::fs::write(
            &p,
            r#"{"addr":"0.0.0.0:443","root":"/srv/r","tls":{"cert":"c.pem","key":"k.pem"},
               "auth":{"htpasswd":{"path":"/etc/htpasswd"},"anonymous_pull":true},
               "read_only":true,"gc":{"grace_seconds":60},
               "storage":{"s3":{"bucket":"b","endpoint":"http://127.0.0.1:9"}}}"#,
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.addr.unwrap().port(), 443);
        assert!(c.read_only && c.auth.anonymous_pull);
        assert_eq!(c.auth.htpasswd.unwrap().realm, "berth-registry");
        assert_eq!(c.gc.grace_seconds, 60);
        assert_eq!(c.storage.s3.unwrap().region, "us-east-1");

        std::fs::write(&p, r#"{"adr":"x"}"#).unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("unknown field `adr`") && e.contains("c.json"),
            "{e}"
        );
    }
}
