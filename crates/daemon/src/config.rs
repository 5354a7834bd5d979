//! The daemon's configuration: dockerd's flags merged with a daemon.json that uses
//! Docker's keys. As dockerd, an unknown key or a key given both as a flag and in
//! the file is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Every key dockerd's daemon.json accepts (berth honours a growing subset; the
/// rest are accepted so existing files keep working).
const KNOWN_KEYS: &[&str] = &[
    "allow-nondistributable-artifacts",
    "api-cors-header",
    "authorization-plugins",
    "bip",
    "bip6",
    "bridge",
    "builder",
    "cgroup-parent",
    "containerd",
    "containerd-namespace",
    "containerd-plugins-namespace",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "data-root",
    "debug",
    "default-address-pools",
    "default-cgroupns-mode",
    "default-gateway",
    "default-gateway-v6",
    "default-ipc-mode",
    "default-network-opts",
    "default-runtime",
    "default-shm-size",
    "default-ulimits",
    "dns",
    "dns-opts",
    "dns-search",
    "exec-opts",
    "exec-root",
    "experimental",
    "features",
    "fixed-cidr",
    "fixed-cidr-v6",
    "group",
    "host-gateway-ip",
    "host-gateway-ips",
    "hosts",
    "icc",
    "init",
    "init-path",
    "insecure-registries",
    "ip",
    "ip-forward",
    "ip-forward-no-drop",
    "ip-masq",
    "ip6tables",
    "iptables",
    "ipv6",
    "labels",
    "live-restore",
    "log-driver",
    "log-format",
    "log-level",
    "log-opts",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "metrics-addr",
    "min-api-version",
    "mtu",
    "no-new-privileges",
    "node-generic-resources",
    "oom-score-adjust",
    "pidfile",
    "proxies",
    "raw-logs",
    "registry-mirrors",
    "runtimes",
    "seccomp-profile",
    "selinux-enabled",
    "shutdown-timeout",
    "storage-driver",
    "storage-opts",
    "swarm-default-advertise-addr",
    "tls",
    "tlscacert",
    "tlscert",
    "tlskey",
    "tlsverify",
    "userland-proxy",
    "userland-proxy-path",
    "userns-remap",
];

/// What the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub hosts: Vec<String>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: Option<PathBuf>,
    pub log_level: String,
    pub group: String,
    /// The default bridge (`-b/--bridge`, `bridge`); "none" turns it off.
    pub bridge: String,
    /// The bridge's address and subnet (`--bip`, `bip`), e.g. `172.30.0.1/16`.
    pub bip: Option<String>,
    /// External OCI runtimes by name (`runtimes` in daemon.json, `--add-runtime`).
    pub runtimes: BTreeMap<String, PathBuf>,
    /// The runtime containers get without `--runtime` (`berth` = the built-in one).
    pub default_runtime: String,
    /// The daemon.json keys as read, for the parts other subsystems pick up later.
    pub file: BTreeMap<String, Value>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hosts: vec![DEFAULT_HOST.to_string()],
            data_root: PathBuf::from("/var/lib/berth"),
            exec_root: PathBuf::from("/run/berth"),
            pidfile: None,
            log_level: "info".into(),
            group: "docker".into(),
            bridge: DEFAULT_BRIDGE.into(),
            bip: None,
            runtimes: BTreeMap::new(),
            default_runtime: "berth".into(),
            file: BTreeMap::new(),
        }
    }
}

pub const DEFAULT_BRIDGE: &str = "berth0";
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// The flags given on the command line (None = not given).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub hosts: Vec<String>,
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub log_level: Option<String>,
    pub group: Option<String>,
    pub config_file: Option<PathBuf>,
    pub bridge: Option<String>,
    pub bip: Option<String>,
    /// `--add-runtime name=path`
    pub add_runtimes: Vec<(String, PathBuf)>,
    pub default_runtime: Option<String>,
    /// `--registry-mirror` (repeatable): daemon.json `registry-mirrors`.
    pub registry_mirrors: Vec<String>,
    /// `--insecure-registry` (repeatable): daemon.json `insecure-registries`.
    pub insecure_registries: Vec<String>,
    pub max_concurrent_downloads: Option<u64>,
    pub max_concurrent_uploads: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unable to configure the Docker daemon with file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

impl Config {
    /// Flags over daemon.json over defaults. A missing default config file is fine;
    /// a missing file named with --config-file is not.
    pub fn load(flags: Flags) -> Result<Config, ConfigError> {
        let (path, explicit) = match &flags.config_file {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let file = read_file(&path, explicit)?;
        let fail = |reason: String| ConfigError::File {
            path: path.clone(),
            reason,
        };

        let unknown: Vec<&str> = file
            .keys()
            .map(String::as_str)
            .filter(|k| !KNOWN_KEYS.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(fail(format!(
                "the following directives don't match any configuration option: {}",
                unknown.join(", ")
            )));
        }
        let mut both = Vec::new();
        let mut check = |key: &str, flag: Option<String>| {
            if let (Some(f), Some(v)) = (flag, file.get(key)) {
                both.push(format!("{key}: (from flag: {f}, from file: {})", show(v)));
            }
        };
        check(
            "data-root",
            flags.data_root.as_ref().map(|p| p.display().to_string()),
        );
        check(
            "exec-root",
            flags.exec_root.as_ref().map(|p| p.display().to_string()),
        );
        check(
            "pidfile",
            flags.pidfile.as_ref().map(|p| p.display().to_string()),
        );
        check("log-level", flags.log_level.clone());
        check("group", flags.group.clone());
        check("bridge", flags.bridge.clone());
        check("bip", flags.bip.clone());
        check("default-runtime", flags.default_runtime.clone());
        let list = |l: &[String]| (!l.is_empty()).then(|| format!("[{}]", l.join(" ")));
        check("hosts", list(&flags.hosts));
        check("registry-mirrors", list(&flags.registry_mirrors));
        check("insecure-registries", list(&flags.insecure_registries));
        check(
            "max-concurrent-downloads",
            flags.max_concurrent_downloads.map(|n| n.to_string()),
        );
        check(
            "max-concurrent-uploads",
            flags.max_concurrent_uploads.map(|n| n.to_string()),
        );
        if !both.is_empty() {
            return Err(fail(format!(
                "the following directives are specified both as a flag and in the configuration file: {}",
                both.join(", ")
            )));
        }

        // Registry settings are read from the file's keys by the registry code: the flags
        // join them there.
        let mut file = file;
        for (key, l) in [
            ("registry-mirrors", &flags.registry_mirrors),
            ("insecure-registries", &flags.insecure_registries),
        ] {
            if !l.is_empty() {
                file.insert(key.into(), Value::from(l.clone()));
            }
        }
        for (key, n) in [
            ("max-concurrent-downloads", flags.max_concurrent_downloads),
            ("max-concurrent-uploads", flags.max_concurrent_uploads),
        ] {
            if let Some(n) = n {
                file.insert(key.into(), Value::from(n));
            }
        }
        let string = |key: &str| -> Result<Option<String>, ConfigError> {
            match file.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(fail(format!(
                    "invalid value for {key}: {v} (expected a string)"
                ))),
            }
        };
        let d = Config::default();
        let hosts = if !flags.hosts.is_empty() {
            flags.hosts
        } else if let Some(v) = file.get("hosts") {
            serde_json::from_value(v.clone())
                .map_err(|e| fail(format!("invalid value for hosts: {e}")))?
        } else {
            d.hosts
        };
        let mut runtimes = BTreeMap::new();
        if let Some(v) = file.get("runtimes") {
            let map: BTreeMap<String, RuntimeEntry> = serde_json::from_value(v.clone())
                .map_err(|e| fail(format!("invalid value for runtimes: {e}")))?;
            for (name, r) in map {
                runtimes.insert(name, PathBuf::from(r.path));
            }
        }
        for (name, path) in flags.add_runtimes {
            if runtimes.contains_key(&name) {
                return Err(fail(format!("runtime name '{name}' is already defined")));
            }
            runtimes.insert(name, path);
        }
        Ok(Config {
            hosts,
            bridge: flags.bridge.or(string("bridge")?).unwrap_or(d.bridge),
            bip: flags.bip.or(string("bip")?),
            default_runtime: flags
                .default_runtime
                .or(string("default-runtime")?)
                .unwrap_or(d.default_runtime),
            runtimes,
            data_root: flags
                .data_root
                .or(string("data-root")?.map(PathBuf::from))
                .unwrap_or(d.data_root),
            exec_root: flags
                .exec_root
                .or(string("exec-root")?.map(PathBuf::from))
                .unwrap_or(d.exec_root),
            pidfile: flags.pidfile.or(string("pidfile")?.map(PathBuf::from)),
            log_level: flags
                .log_level
                .or(string("log-level")?)
                .unwrap_or(d.log_level),
            group: flags.group.or(string("group")?).unwrap_or(d.group),
            file,
        })
    }
}

/// One entry of daemon.json's `runtimes`: `{"crun": {"path": "/usr/bin/crun"}}`.
#[derive(serde::Deserialize)]
struct RuntimeEntry {
    path: String,
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

fn read_file(path: &Path, explicit: bool) -> Result<BTreeMap<String, Value>, ConfigError> {
    let fail = |reason: String| ConfigError::File {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(BTreeMap::new())
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(BTreeMap::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(json: &str, flags: Flags) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(&p, json).unwrap();
        Config::load(Flags {
            config_file: Some(p),
            ..flags
        })
    }

    #[test]
    fn registry_flags_join_the_file_keys_and_conflict_with_them() {
        let flags = Flags {
            registry_mirrors: vec!["https://m.example".into()],
            insecure_registries: vec!["r.local:5000".into()],
            max_concurrent_downloads: Some(7),
            ..Default::default()
        };
        let c = with_file(r#"{"max-concurrent-uploads":2}"#, flags.clone()).unwrap();
        assert_eq!(
            c.file["registry-mirrors"],
            serde_json::json!(["https://m.example"])
        );
        assert_eq!(
            c.file["insecure-registries"],
            serde_json::json!(["r.local:5000"])
        );
        assert_eq!(c.file["max-concurrent-downloads"], serde_json::json!(7));
        assert_eq!(c.file["max-concurrent-uploads"], serde_json::json!(2));
        let e = with_file(r#"{"registry-mirrors":["https://o.example"]}"#, flags).unwrap_err();
        assert!(
            e.to_string().contains(
                "specified both as a flag and in the configuration file: registry-mirrors: (from flag: [https://m.example], from file: [https://o.example])"
            ),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_is_rejected() {
        let e = with_file(r#"{"data-root":"/x","bogus":1}"#, Flags::default()).unwrap_err();
        assert!(e
            .to_string()
            .ends_with("the following directives don't match any configuration option: bogus"));
    }

    #[test]
    fn flag_and_file_conflict() {
        let flags = Flags {
            data_root: Some("/a".into()),
            ..Default::default()
        };
        let e = with_file(r#"{"data-root":"/b"}"#, flags).unwrap_err();
        assert!(e
            .to_string()
            .contains("specified both as a flag and in the configuration file: data-root: (from flag: /a, from file: /b)"));
    }

    #[test]
    fn file_values_apply() {
        let c = with_file(
            r#"{"data-root":"/b","hosts":["unix:///tmp/s.sock"],"bip":"10.1.0.1/24"}"#,
            Flags::default(),
        )
        .unwrap();
        assert_eq!(c.data_root, PathBuf::from("/b"));
        assert_eq!(c.hosts, vec!["unix:///tmp/s.sock"]);
        assert_eq!(c.exec_root, PathBuf::from("/run/berth"));
    }

    #[test]
    fn explicit_missing_file_fails() {
        let e = Config::load(Flags {
            config_file: Some("/nonexistent/daemon.json".into()),
            ..Default::default()
        });
        assert!(e.is_err());
    }
}
