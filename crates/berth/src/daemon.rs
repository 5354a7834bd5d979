//! `berth daemon`: dockerd's flags, the config file, the pidfile, signals.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use berth_daemon::{Config, Daemon, Flags};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "berth daemon",
    about = "A self-sufficient runtime for containers",
    version
)]
struct DaemonArgs {
    /// Daemon socket(s) to connect to
    #[arg(short = 'H', long = "host")]
    host: Vec<String>,
    /// Root directory of persistent state
    #[arg(long = "data-root")]
    data_root: Option<PathBuf>,
    /// Root directory for execution state files
    #[arg(long = "exec-root")]
    exec_root: Option<PathBuf>,
    /// Daemon configuration file
    #[arg(long = "config-file")]
    config_file: Option<PathBuf>,
    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")
    #[arg(short = 'l', long = "log-level")]
    log_level: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    debug: bool,
    /// Path to use for daemon PID file
    #[arg(short = 'p', long = "pidfile")]
    pidfile: Option<PathBuf>,
    /// Group for the unix socket
    #[arg(short = 'G', long = "group")]
    group: Option<String>,
    /// Attach containers to a network bridge ("none" disables it)
    #[arg(short = 'b', long = "bridge")]
    bridge: Option<String>,
    /// Specify network bridge IP
    #[arg(long = "bip")]
    bip: Option<String>,
    /// Register an additional OCI compatible runtime (name=path)
    #[arg(long = "add-runtime")]
    add_runtime: Vec<String>,
    /// Default OCI runtime for containers
    #[arg(long = "default-runtime")]
    default_runtime: Option<String>,
    /// Preferred registry mirror
    #[arg(long = "registry-mirror")]
    registry_mirror: Vec<String>,
    /// Enable insecure registry communication
    #[arg(long = "insecure-registry")]
    insecure_registry: Vec<String>,
    /// Set the max concurrent downloads
    #[arg(long = "max-concurrent-downloads")]
    max_concurrent_downloads: Option<u64>,
    /// Set the max concurrent uploads
    #[arg(long = "max-concurrent-uploads")]
    max_concurrent_uploads: Option<u64>,
}

pub fn main(args: &[OsString]) -> i32 {
    let parsed = match DaemonArgs::try_parse_from(
        std::iter::once(OsString::from("berth daemon")).chain(args.iter().cloned()),
    ) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 125 } else { 0 };
        }
    };
    match run(parsed) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth daemon: {e:#}");
            1
        }
    }
}

fn run(args: DaemonArgs) -> anyhow::Result<()> {
    let log_level = if args.debug {
        Some("debug".to_string())
    } else {
        args.log_level
    };
    let mut add_runtimes = Vec::new();
    for r in &args.add_runtime {
        let (name, path) = r
            .split_once('=')
            .with_context(|| format!("invalid --add-runtime {r}: expected name=path"))?;
        add_runtimes.push((name.to_string(), PathBuf::from(path)));
    }
    let config = Config::load(Flags {
        bridge: args.bridge,
        bip: args.bip,
        add_runtimes,
        default_runtime: args.default_runtime,
        registry_mirrors: args.registry_mirror,
        insecure_registries: args.insecure_registry,
        max_concurrent_downloads: args.max_concurrent_downloads,
        max_concurrent_uploads: args.max_concurrent_uploads,
        hosts: args.host,
        data_root: args.data_root,
        exec_root: args.exec_root,
        pidfile: args.pidfile,
        log_level,
        group: args.group,
        config_file: args.config_file,
    })?;
    let filter = tracing_subscriber::EnvFilter::try_new(match config.log_level.as_str() {
        "fatal" => "error",
        other => other,
    })
    .context("invalid --log-level")?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    std::fs::create_dir_all(&config.exec_root)
        .with_context(|| format!("creating {}", config.exec_root.display()))?;
    let pidfile = config
        .pidfile
        .clone()
        .unwrap_or_else(|| config.exec_root.join("berth.pid"));
    claim_pidfile(&pidfile)?;
    let result = serve(config);
    let _ = std::fs::remove_file(&pidfile);
    result
}

fn serve(config: Config) -> anyhow::Result<()> {
    let hosts = config.hosts.clone();
    let group = config.group.clone();
    let daemon: Arc<Daemon> = Daemon::open(config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .thread_stack_size(512 * 1024)
        .enable_all()
        .build()?;
    let serving = daemon.clone();
    let result = rt.block_on(async move {
        let shutdown = async {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tracing::info!("shutting down");
        };
        tracing::info!(hosts = ?hosts, "API listening");
        berth_api::serve(serving, &hosts, &group, shutdown).await
    });
    // An `rm` answered just before the signal leaves no rootfs mounted behind us.
    daemon.finish_removals(std::time::Duration::from_secs(10));
    // Blocking jobs still following a stream must not keep the process alive.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    result?;
    Ok(())
}

/// Refuses to start when the pidfile names a live process (another daemon on the same exec
/// root). A zombie is not one: a killed daemon whose parent has not reaped it yet.
fn claim_pidfile(path: &std::path::Path) -> anyhow::Result<()> {
    if let Ok(old) = std::fs::read_to_string(path) {
        if let Ok(pid) = old.trim().parse::<i32>() {
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                st.rsplit_once(") ")
                    .is_some_and(|(_, rest)| !rest.starts_with('Z'))
            });
            if pid != std::process::id() as i32 && alive {
                anyhow::bail!(
                    "pid file found, ensure berth is not running or delete {}",
                    path.display()
                );
            }
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, std::process::id().to_string())
        .with_context(|| format!("writing {}", path.display()))
}
