//! Registry credentials from the CLI's `config.json` (`--config`, `DOCKER_CONFIG`
//! or `~/.docker`), as docker/cli resolves them for pull, push, search and run.

use berth_distribution::{auth_key, AuthConfig, ConfigFile};
use berth_image::reference::Reference;

use crate::ctx::GlobalOpts;
use crate::error::{CliError, Result};

/// Docker Hub's key in `config.json` and the default login server.
pub const INDEX_SERVER: &str = "https://index.docker.io/v1/";

/// The CLI's config file, loaded (a missing file is an empty config).
pub fn load_config(opts: &GlobalOpts) -> Result<ConfigFile> {
    ConfigFile::load(&opts.config_dir.join("config.json")).map_err(|e| CliError::msg(e.to_string()))
}

/// The stored credentials for a registry domain (`docker.io` → Hub's key);
/// anonymous when none are stored or the config cannot be read, as docker's
/// `ResolveAuthConfig` ignores those errors.
pub fn auth_for_domain(opts: &GlobalOpts, domain: &str) -> AuthConfig {
    let key = auth_key(domain);
    let mut a = load_config(opts)
        .and_then(|c| c.get(&key).map_err(|e| CliError::msg(e.to_string())))
        .unwrap_or_else(|e| {
            tracing::debug!("no credentials for {key}: {e}");
            AuthConfig::default()
        });
    a.serveraddress = key;
    a
}

/// `X-Registry-Auth` for an image reference.
pub fn header_for(opts: &GlobalOpts, r: &Reference) -> String {
    auth_for_domain(opts, r.domain()).to_header()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn opts(dir: &std::path::Path) -> GlobalOpts {
        GlobalOpts {
            host: crate::default_host(),
            host_is_default: true,
            config_dir: PathBuf::from(dir),
            debug: false,
        }
    }

    #[test]
    fn credentials_come_from_config_json() {
        let dir = std::env::temp_dir().join(format!("berth-cli-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        struct Cleanup(PathBuf);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let _c = Cleanup(dir.clone());
        // base64("alice:s3cret") and base64("bob:pw")
        std::fs::write(
            dir.join("config.json"),
            r#"{"auths":{"127.0.0.1:5000":{"auth":"YWxpY2U6czNjcmV0"},"https://index.docker.io/v1/":{"auth":"Ym9iOnB3"}},"other":1}"#,
        )
        .unwrap();
        let o = opts(&dir);
        let a = auth_for_domain(&o, "127.0.0.1:5000");
        assert_eq!(
            (a.username.as_str(), a.password.as_str()),
            ("alice", "s3cret")
        );
        assert_eq!(a.serveraddress, "127.0.0.1:5000");
        let hub = auth_for_domain(&o, "docker.io");
        assert_eq!(hub.username, "bob");
        assert_eq!(hub.serveraddress, INDEX_SERVER);
        let none = auth_for_domain(&o, "example.com");
        assert!(none.username.is_empty());
        let r = Reference::parse("127.0.0.1:5000/a/b:1").unwrap();
        let back = AuthConfig::from_header(&header_for(&o, &r)).unwrap();
        assert_eq!(back.username, "alice");
        assert_eq!(back.password, "s3cret");
        // An unreadable config is anonymous, not an error.
        std::fs::write(dir.join("config.json"), "{not json").unwrap();
        assert!(auth_for_domain(&o, "127.0.0.1:5000").username.is_empty());
    }
}
