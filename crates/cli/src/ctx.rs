//! Global options and the per-invocation context commands run with.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::args::{flag, Arity, CommandSpec, Kind, Parsed};
use crate::client::Client;
use crate::error::{CliError, Result};

pub const ROOT: CommandSpec = CommandSpec {
    path: "",
    use_args: "[OPTIONS] COMMAND [ARG...]",
    short: "A self-sufficient runtime for containers",
    aliases: "",
    arity: Arity::Min(0),
    interspersed: true,
    flags: &[
        flag("config", None, Kind::Str, "Location of client config files"),
        flag(
            "context",
            Some('c'),
            Kind::Str,
            "Name of the context to use to connect to the daemon",
        ),
        flag("debug", Some('D'), Kind::Bool, "Enable debug mode"),
        flag("host", Some('H'), Kind::List, "Daemon socket to connect to"),
        flag(
            "log-level",
            Some('l'),
            Kind::Str,
            "Set the logging level (\"debug\", \"info\", \"warn\", \"error\", \"fatal\")",
        ),
        flag("tls", None, Kind::Bool, "Use TLS; implied by --tlsverify"),
        flag(
            "tlscacert",
            None,
            Kind::Str,
            "Trust certs signed only by this CA",
        ),
        flag("tlscert", None, Kind::Str, "Path to TLS certificate file"),
        flag("tlskey", None, Kind::Str, "Path to TLS key file"),
        flag(
            "tlsverify",
            None,
            Kind::Bool,
            "Use TLS and verify the remote",
        ),
        flag(
            "version",
            Some('v'),
            Kind::Bool,
            "Print version information and quit",
        ),
    ],
};

/// docker's global options, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalOpts {
    pub host: String,
    /// True when neither `-H` nor `DOCKER_HOST` chose the host (autostart allowed).
    pub host_is_default: bool,
    pub config_dir: PathBuf,
    pub debug: bool,
}

impl GlobalOpts {
    pub fn from_parsed(
        p: &Parsed,
        env_host: Option<String>,
        home: Option<PathBuf>,
    ) -> Result<GlobalOpts> {
        if let Some(level) = p.str("log-level") {
            const LEVELS: [&str; 8] = [
                "trace", "debug", "info", "warn", "warning", "error", "fatal", "panic",
            ];
            if !LEVELS.contains(&level.to_lowercase().as_str()) {
                return Err(CliError::msg(format!(
                    "Unable to parse logging level: {level}"
                )));
            }
        }
        let hosts = p.list("host");
        if hosts.len() > 1 {
            return Err(CliError::msg("Specify only one -H"));
        }
        let (host, host_is_default) =
            match (hosts.into_iter().next(), env_host.filter(|h| !h.is_empty())) {
                (Some(h), _) => (h, false),
                (None, Some(h)) => (h, false),
                (None, None) => (crate::default_host(), true),
            };
        let config_dir = match p.str("config") {
            Some(c) => PathBuf::from(c),
            None => match std::env::var_os("DOCKER_CONFIG") {
                Some(d) => PathBuf::from(d),
                None => home
                    .unwrap_or_else(|| PathBuf::from("/root"))
                    .join(".docker"),
            },
        };
        Ok(GlobalOpts {
            host,
            host_is_default,
            config_dir,
            debug: p.bool("debug"),
        })
    }

    /// One key of `config.json`, if the file exists and has it.
    pub fn config_value(&self, key: &str) -> Option<Value> {
        let text = std::fs::read(self.config_dir.join("config.json")).ok()?;
        let v: Value = serde_json::from_slice(&text).ok()?;
        v.get(key).cloned()
    }
}

pub struct Ctx<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub opts: GlobalOpts,
    client: Option<Client>,
}

impl<'a> Ctx<'a> {
    pub fn new(out: &'a mut dyn Write, err: &'a mut dyn Write, opts: GlobalOpts) -> Self {
        Ctx {
            out,
            err,
            opts,
            client: None,
        }
    }

    /// The client, once a daemon is found listening (started if allowed). The API
    /// version is settled by the first request (see `Client::request`).
    pub async fn client(&mut self) -> Result<Client> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let c = Client::new(&self.opts.host)?;
        match c.probe().await {
            Ok(()) => {}
            Err(CliError::Connect(h))
                if self.opts.host_is_default && crate::autostart::is_root() =>
            {
                tracing::debug!("no daemon at {h}; starting one");
                let mut child = crate::autostart::spawn_daemon()
                    .map_err(|e| CliError::msg(format!("failed to start the berth daemon: {e}")))?;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                loop {
                    if c.probe().await.is_ok() {
                        break;
                    }
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(CliError::msg(format!(
                            "failed to start the berth daemon ({status}); see {}",
                            crate::autostart::LOG_FILE
                        )));
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(CliError::Connect(h));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Err(e) => return Err(e),
        }
        self.client = Some(c.clone());
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str], env: Option<&str>) -> Result<GlobalOpts> {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let n = ROOT.split_at_command(&argv);
        let p = ROOT.parse(&argv[..n])?;
        GlobalOpts::from_parsed(&p, env.map(str::to_string), Some(PathBuf::from("/home/u")))
    }

    #[test]
    fn host_resolution() {
        let o = opts(&[], None).unwrap();
        assert_eq!(o.host, "unix:///run/berth/berth.sock");
        assert!(o.host_is_default);
        let o = opts(&["-H", "unix:///tmp/x.sock"], Some("tcp://h:1")).unwrap();
        assert_eq!(o.host, "unix:///tmp/x.sock");
        assert!(!o.host_is_default);
        let o = opts(&[], Some("tcp://h:1")).unwrap();
        assert_eq!(o.host, "tcp://h:1");
        let o = opts(&["--config", "/cfg", "-D"], None).unwrap();
        assert_eq!(o.config_dir, PathBuf::from("/cfg"));
        assert!(o.debug);
        let e = opts(&["-l", "bogus"], None).unwrap_err();
        assert_eq!(e.to_string(), "Unable to parse logging level: bogus");
    }

    #[test]
    fn split_finds_command() {
        let argv: Vec<String> = ["-D", "-H", "x", "--config=/c", "images", "-a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(ROOT.split_at_command(&argv), 4);
    }
}
