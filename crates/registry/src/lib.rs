//! berth's built-in OCI Distribution registry server (`berth registry serve|gc`).
//!
//! [`Registry`] answers the OCI Distribution Spec v1.1 over a [`Storage`] backend (the
//! local filesystem, or S3 with the `aws` feature); [`gc::collect`] sweeps unreferenced
//! blobs. The config file is described in README.md.

mod api_error;
pub mod auth;
mod cache;
pub mod config;
pub mod digest;
pub mod error;
pub mod gc;
pub mod name;
pub mod net;
pub mod server;
pub mod storage;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use api_error::ApiError;
pub use auth::Auth;
pub use config::Config;
pub use error::{RegistryError, Result};
pub use server::Registry;
pub use storage::Storage;

const USAGE: &str = "Usage:
  berth registry serve [--addr HOST:PORT] [--root DIR] [--config FILE]
  berth registry gc [--root DIR] [--config FILE] [--dry-run] [--delete-untagged]

Defaults: --addr 127.0.0.1:5000, --root /var/lib/berth-registry";

/// Parsed command-line options.
#[derive(Debug, Default, PartialEq, Eq)]
struct Opts {
    command: String,
    addr: Option<String>,
    root: Option<PathBuf>,
    config: Option<PathBuf>,
    dry_run: bool,
    delete_untagged: bool,
}

fn parse_args(args: &[OsString]) -> std::result::Result<Opts, String> {
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    let command = it.next().ok_or("missing command")?;
    if command != "serve" && command != "gc" {
        return Err(format!("unknown command {command:?}"));
    }
    let mut o = Opts {
        command,
        ..Opts::default()
    };
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |flag: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("flag needs an argument: {flag}"))
        };
        match flag.as_str() {
            "--addr" if o.command == "serve" => o.addr = Some(value("--addr")?),
            "--root" => o.root = Some(value("--root")?.into()),
            "--config" => o.config = Some(value("--config")?.into()),
            "--dry-run" if o.command == "gc" => o.dry_run = true,
            "--delete-untagged" if o.command == "gc" => o.delete_untagged = true,
            _ => return Err(format!("unknown flag: {a}")),
        }
    }
    Ok(o)
}

/// Opens the storage backend the config selects.
pub async fn open_storage(cfg: &Config, root: &std::path::Path) -> Result<Arc<dyn Storage>> {
    if let Some(s3) = &cfg.storage.s3 {
        #[cfg(feature = "aws")]
        {
            return Ok(Arc::new(storage::s3::S3Storage::new(s3)?));
        }
        #[cfg(not(feature = "aws"))]
        {
            return Err(RegistryError::Config {
                path: PathBuf::from("storage.s3"),
                msg: format!(
                    "bucket {:?}: this berth was built without the `aws` feature",
                    s3.bucket
                ),
            });
        }
    }
    Ok(Arc::new(storage::fs::FsStorage::open(root)?))
}

/// Binds `addr` and serves the registry `cfg` describes until the process ends.
pub async fn run_server(cfg: &Config, addr: SocketAddr, root: &std::path::Path) -> Result<()> {
    let storage = open_storage(cfg, root).await?;
    let auth = Auth::from_config(&cfg.auth)?;
    let tls = cfg.tls.as_ref().map(net::tls_acceptor).transpose()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RegistryError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    tracing::info!(
        "berth registry listening on {}://{addr}",
        if tls.is_some() { "https" } else { "http" }
    );
    let app = Registry::new(storage, auth, cfg.read_only).router();
    net::serve(listener, tls, app).await;
    Ok(())
}

/// Entry point of `berth registry …`; returns the process exit code.
pub fn main(args: &[OsString]) -> i32 {
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("berth registry: {e}\n\n{USAGE}");
            return 2;
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match run(opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth registry: {e}");
            1
        }
    }
}

fn run(opts: Opts) -> Result<()> {
    let cfg = match &opts.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let root = opts
        .root
        .clone()
        .or_else(|| cfg.root.clone())
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_ROOT));
    // Two workers: the registry is I/O bound, and the idle footprint stays small.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .map_err(RegistryError::io("<tokio runtime>"))?;
    rt.block_on(async {
        if opts.command == "gc" {
            let storage = open_storage(&cfg, &root).await?;
            let r = gc::collect(
                storage.as_ref(),
                gc::GcOptions {
                    grace: Duration::from_secs(cfg.gc.grace_seconds),
                    dry_run: opts.dry_run,
                    delete_untagged: opts.delete_untagged,
                },
            )
            .await?;
            let verb = if opts.dry_run { "would delete" } else { "deleted" };
            for m in &r.manifests_deleted {
                println!("{verb} manifest {m}");
            }
            for d in &r.blobs_deleted {
                println!("{verb} blob {d}");
            }
            println!(
                "{} manifests ({} {} untagged), {} blobs in use, {} {} blobs ({} bytes), {} kept as recent, {} stale uploads removed",
                r.manifests,
                verb,
                r.manifests_deleted.len(),
                r.blobs_marked,
                verb,
                r.blobs_deleted.len(),
                r.bytes_freed,
                r.blobs_kept_young,
                r.uploads_deleted
            );
            return Ok(());
        }
        let addr_text = opts
            .addr
            .clone()
            .or_else(|| cfg.addr.map(|a| a.to_string()))
            .unwrap_or_else(|| config::DEFAULT_ADDR.to_string());
        let addr = tokio::net::lookup_host(&addr_text)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| RegistryError::Config {
                path: PathBuf::from("--addr"),
                msg: format!("{addr_text:?} is not a HOST:PORT address"),
            })?;
        run_server(&cfg, addr, &root).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_serve_and_gc_flags() {
        let o = parse_args(&args(&["serve", "--addr", "0.0.0.0:80", "--root=/r"])).unwrap();
        assert_eq!(o.addr.as_deref(), Some("0.0.0.0:80"));
        assert_eq!(o.root, Some(PathBuf::from("/r")));
        let o = parse_args(&args(&["gc", "--dry-run", "--config", "c.json"])).unwrap();
        assert!(o.dry_run);
        assert!(!o.delete_untagged);
        assert!(
            parse_args(&args(&["gc", "--delete-untagged"]))
                .unwrap()
                .delete_untagged
        );
        assert!(parse_args(&args(&["serve", "--delete-untagged"])).is_err());
        assert_eq!(o.config, Some(PathBuf::from("c.json")));
        assert!(parse_args(&args(&["gc", "--addr", "x"])).is_err());
        assert!(parse_args(&args(&["serve", "--dry-run"])).is_err());
        assert!(parse_args(&args(&["serve", "--root"])).is_err());
        assert!(parse_args(&args(&["push"])).is_err());
        assert!(parse_args(&args(&[])).is_err());
    }
}
