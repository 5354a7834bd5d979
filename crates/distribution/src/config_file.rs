//! The docker CLI's `config.json`: `auths` (base64 `auth`), `credsStore` and
//! `credHelpers` (the `docker-credential-<name>` protocol). Keys berth does
//! not know are kept as they were.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::{decode_basic, encode_basic, AuthConfig};
use crate::{DistError, Result};

/// A loaded `config.json` (possibly not existing yet).
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    value: Map<String, Value>,
}

/// What a credential helper reads and writes.
#[derive(Debug, Serialize, Deserialize)]
struct HelperCreds {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The user name a helper stores for an identity token.
const TOKEN_USER: &str = "<token>";

impl ConfigFile {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> PathBuf {
        if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return PathBuf::from(d).join("config.json");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"));
        home.join(".docker/config.json")
    }

    /// Reads the file; a missing one is an empty config.
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let value = match std::fs::read(path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                DistError::InvalidConfig(format!("loading config file: {}: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(DistError::io(path)(e)),
        };
        Ok(ConfigFile {
            path: path.to_path_buf(),
            value,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The helper that keeps credentials for `server`, if any.
    pub fn helper_for(&self, server: &str) -> Option<String> {
        let specific = self
            .value
            .get("credHelpers")
            .and_then(|h| h.get(server))
            .and_then(Value::as_str);
        specific
            .or_else(|| self.value.get("credsStore").and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Credentials for `server` (a key as `docker login` stores them: a host,
    /// or Hub's `https://index.docker.io/v1/`); empty when there are none.
    pub fn get(&self, server: &str) -> Result<AuthConfig> {
        if let Some(h) = self.helper_for(server) {
            return helper_get(&h, server);
        }
        let entry = self.auths().and_then(|a| {
            a.get(server).or_else(|| {
                // Keys written as URLs (`https://host/`) match the bare host too.
                a.iter()
                    .find(|(k, _)| {
                        crate::hosts::hostname_of(k) == crate::hosts::hostname_of(server)
                    })
                    .map(|(_, v)| v)
            })
        });
        let Some(entry) = entry else {
            return Ok(AuthConfig::default());
        };
        let mut a: AuthConfig = serde_json::from_value(entry.clone()).map_err(|e| {
            DistError::InvalidConfig(format!("{}: auths.{server}: {e}", self.path.display()))
        })?;
        if !a.auth.is_empty() {
            (a.username, a.password) = decode_basic(&a.auth)?;
            a.auth.clear();
        }
        a.serveraddress = server.to_string();
        Ok(a)
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.value.get("auths").and_then(Value::as_object)
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let v = self
            .value
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
        match v {
            Value::Object(m) => m,
            _ => unreachable!("made an object just above"),
        }
    }

    /// Saves credentials for `server` (in its helper, else in `auths`) and writes the file.
    pub fn store(&mut self, server: &str, a: &AuthConfig) -> Result<()> {
        if let Some(h) = self.helper_for(server) {
            let creds = if a.identitytoken.is_empty() {
                HelperCreds {
                    server_url: server.to_string(),
                    username: a.username.clone(),
                    secret: a.password.clone(),
                }
            } else {
                HelperCreds {
                    server_url: server.to_string(),
                    username: TOKEN_USER.to_string(),
                    secret: a.identitytoken.clone(),
                }
            };
            let input = serde_json::to_vec(&creds).unwrap_or_default();
            helper_run(&h, "store", &input)?;
            // The entry stays in `auths`, empty, as docker keeps it.
            self.auths_mut()
                .insert(server.to_string(), Value::Object(Map::new()));
        } else {
            let mut entry = Map::new();
            if a.identitytoken.is_empty() {
                entry.insert("auth".into(), encode_basic(&a.username, &a.password).into());
            } else {
                entry.insert("auth".into(), encode_basic(&a.username, "").into());
                entry.insert("identitytoken".into(), a.identitytoken.clone().into());
            }
            self.auths_mut()
                .insert(server.to_string(), Value::Object(entry));
        }
        self.save()
    }

    /// Forgets `server`; false when nothing was stored for it.
    pub fn erase(&mut self, server: &str) -> Result<bool> {
        let mut found = false;
        if let Some(h) = self.helper_for(server) {
            found = helper_run(&h, "erase", server.as_bytes()).is_ok();
        }
        found |= self.auths_mut().remove(server).is_some();
        if found {
            self.save()?;
        }
        Ok(found)
    }

    /// Writes the file (mode 0600, atomically).
    pub fn save(&self) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(DistError::io(dir))?;
        let mut bytes = serde_json::to_vec_pretty(&self.value).unwrap_or_default();
        bytes.push(b'\n');
        let tmp = dir.join(format!(".config.json.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            DistError::io(&self.path)(e)
        })
    }
}

fn helper_run(helper: &str, action: &str, input: &[u8]) -> Result<Vec<u8>> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DistError::CredentialHelper {
            message: format!("exec: \"{program}\": {e}"),
            out: String::new(),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading says why on stdout.
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| DistError::CredentialHelper {
            message: format!("{program} {action}: {e}"),
            out: String::new(),
        })?;
    if !out.status.success() {
        return Err(DistError::CredentialHelper {
            message: out.status.to_string(),
            out: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

fn helper_get(helper: &str, server: &str) -> Result<AuthConfig> {
    match helper_run(helper, "get", server.as_bytes()) {
        Ok(out) => {
            let c: HelperCreds =
                serde_json::from_slice(&out).map_err(|e| DistError::CredentialHelper {
                    message: format!("invalid output of docker-credential-{helper}: {e}"),
                    out: String::from_utf8_lossy(&out).into_owned(),
                })?;
            let mut a = AuthConfig {
                serveraddress: server.to_string(),
                ..Default::default()
            };
            if c.username == TOKEN_USER {
                a.identitytoken = c.secret;
            } else {
                a.username = c.username;
                a.password = c.secret;
            }
            Ok(a)
        }
        // The helpers' protocol for "nothing stored".
        Err(DistError::CredentialHelper { out, .. })
            if out.contains("credentials not found in native keychain") =>
        {
            Ok(AuthConfig {
                serveraddress: server.to_string(),
                ..Default::default()
            })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auths_round_trip_and_unknown_keys_survive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"psFormat":"table {{.ID}}","auths":{}}"#).unwrap();
        let mut c = ConfigFile::load(&path).unwrap();
        assert_eq!(c.get("127.0.0.1:5000").unwrap(), AuthConfig::default());
        c.store(
            "127.0.0.1:5000",
            &AuthConfig {
                username: "me".into(),
                password: "secret".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"psFormat\""), "{text}");
        assert!(text.contains(&encode_basic("me", "secret")), "{text}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let c = ConfigFile::load(&path).unwrap();
        let a = c.get("127.0.0.1:5000").unwrap();
        assert_eq!((a.username.as_str(), a.password.as_str()), ("me", "secret"));
        assert_eq!(a.serveraddress, "127.0.0.1:5000");
        // a URL key matches its bare host
        let mut c = c;
        c.store(
            "http://reg.example:5000/",
            &AuthConfig {
                username: "u".into(),
                password: "p".into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.get("reg.example:5000").unwrap().username, "u");
        assert!(c.erase("127.0.0.1:5000").unwrap());
        assert!(!c.erase("127.0.0.1:5000").unwrap());
        assert_eq!(
            ConfigFile::load(&path)
                .unwrap()
                .get("127.0.0.1:5000")
                .unwrap(),
            AuthConfig::default()
        );
    }

    #[test]
    fn credential_helpers_are_asked() {
        let dir = tempfile::tempdir().unwrap();
        // A helper that answers `get` for one server and says "not found" otherwise.
        let bin = dir.path().join("docker-credential-berthtest");
        std::fs::write(
            &bin,
            "#!/bin/sh\nread s\nif [ \"$1\" = get ] && [ \"$s\" = reg.example ]; then\n echo '{\"ServerURL\":\"reg.example\",\"Username\":\"<token>\",\"Secret\":\"tok\"}'\nelif [ \"$1\" = get ]; then echo 'credentials not found in native keychain'; exit 1\nelse exit 0; fi\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"credHelpers":{"reg.example":"berthtest","other.example":"berthtest"}}"#,
        )
        .unwrap();
        let c = ConfigFile::load(&path).unwrap();
        assert_eq!(c.helper_for("reg.example").as_deref(), Some("berthtest"));
        assert_eq!(c.helper_for("docker.io"), None);
        let prev = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![dir.path().to_path_buf()];
        paths.extend(std::env::split_paths(&prev));
        // Only this test runs helpers by name, so widening PATH affects no other test.
        std::env::set_var("PATH", std::env::join_paths(paths).unwrap());
        let a = c.get("reg.example").unwrap();
        assert_eq!(a.identitytoken, "tok");
        assert_eq!(
            c.get("other.example").unwrap(),
            AuthConfig {
                serveraddress: "other.example".into(),
                ..Default::default()
            }
        );
    }
}
