//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api_types::{ComponentVersion, Event, SystemDf, Version, API_VERSION, MIN_API_VERSION};
use serde_json::json;

use super::parse_filters;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

fn ping_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h
}

pub async fn ping() -> impl IntoResponse {
    let mut h = ping_headers();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    (h, "OK")
}

pub async fn ping_head() -> impl IntoResponse {
    let mut h = ping_headers();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    h
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub async fn version() -> Json<Version> {
    let v = env!("CARGO_PKG_VERSION");
    let details = json!({
        "ApiVersion": API_VERSION,
        "Arch": arch(),
        "BuildTime": "",
        "Experimental": "false",
        "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or("dev"),
        "GoVersion": "none (rust)",
        "KernelVersion": kernel_version(),
        "MinAPIVersion": MIN_API_VERSION,
        "Os": "linux",
    });
    Json(Version {
        platform: json!({"Name": "berth"}),
        components: vec![ComponentVersion {
            name: "Engine".into(),
            version: v.into(),
            details,
        }],
        version: v.into(),
        api_version: API_VERSION.into(),
        min_api_version: MIN_API_VERSION.into(),
        git_commit: option_env!("BERTH_GIT_COMMIT").unwrap_or("dev").into(),
        go_version: "none (rust)".into(),
        os: "linux".into(),
        arch: arch().into(),
        kernel_version: kernel_version(),
        build_time: String::new(),
    })
}

fn os_name() -> String {
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|s| s.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

pub async fn info(State(s): State<AppState>) -> Json<serde_json::Value> {
    let d = &s.daemon;
    let root = d.config.data_root.display().to_string();
    Json(json!({
        "ID": d.id,
        "Containers": 0,
        "ContainersRunning": 0,
        "ContainersPaused": 0,
        "ContainersStopped": 0,
        "Images": d.image_count(),
        "Driver": "overlayfs",
        "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": null, "Log": ["json-file"]},
        "MemoryLimit": true,
        "SwapLimit": true,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "IPv4Forwarding": true,
        "Debug": d.config.log_level == "debug",
        "NFd": std::fs::read_dir("/proc/self/fd").map(|r| r.count()).unwrap_or(0),
        "OomKillDisable": false,
        "NGoroutines": 0,
        "SystemTime": chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "NEventsListener": 0,
        "KernelVersion": kernel_version(),
        "OperatingSystem": os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": s.daemon.registry_config().unwrap_or_default(),
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem_total(),
        "DockerRootDir": root,
        "Name": hostname(),
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Runtimes": {"berth": {"path": "berth"}},
        "DefaultRuntime": "berth",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Warnings": null,
    }))
}

pub async fn df(State(s): State<AppState>) -> ApiResult<Json<SystemDf>> {
    let d = s.daemon.clone();
    Ok(Json(
        tokio::task::spawn_blocking(move || d.disk_usage()).await??,
    ))
}

/// `since`/`until`: unix seconds with an optional fraction, or RFC 3339.
fn parse_time(v: &str) -> Result<i64, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp_nanos_opt().unwrap_or_default());
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, "0"));
    let s: i64 = secs
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid timestamp: {v}")))?;
    let f: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let n: i64 = f
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid timestamp: {v}")))?;
    Ok(s * 1_000_000_000 + n)
}

fn event_matches(e: &Event, filters: &std::collections::BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(k, vals)| {
        let any = |f: &dyn Fn(&str) -> bool| vals.iter().any(|v| f(v));
        match k.as_str() {
            "type" => any(&|v| v == e.kind),
            "event" => any(&|v| v == e.action),
            "image" | "container" | "volume" | "network" => {
                e.kind == *k
                    && any(&|v| {
                        v == e.actor.id || e.actor.attributes.get("name").is_some_and(|n| n == v)
                    })
            }
            "label" => any(&|v| match v.split_once('=') {
                Some((a, b)) => e.actor.attributes.get(a).is_some_and(|x| x == b),
                None => e.actor.attributes.contains_key(v),
            }),
            "scope" => any(&|v| v == e.scope),
            _ => true,
        }
    })
}

pub async fn events(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let filters = parse_filters(q.get("filters").map(String::as_str))?;
    let since = q
        .get("since")
        .filter(|v| !v.is_empty())
        .map(|v| parse_time(v))
        .transpose()?;
    let until = q
        .get("until")
        .filter(|v| !v.is_empty())
        .map(|v| parse_time(v))
        .transpose()?;
    let (past, rx) = s.daemon.events.subscribe(since);
    use futures_util::StreamExt;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let past = futures_util::stream::iter(past);
    let events: futures_util::stream::BoxStream<'static, Event> = match until {
        // Nothing live can fall before an `until` already past.
        Some(u) if u <= now => past.boxed(),
        _ => {
            let live = futures_util::stream::unfold(rx, |mut rx| async move {
                loop {
                    match rx.recv().await {
                        Ok(e) => return Some((e, rx)),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => return None,
                    }
                }
            });
            let deadline = async move {
                match until {
                    Some(u) => {
                        tokio::time::sleep(std::time::Duration::from_nanos((u - now) as u64)).await
                    }
                    None => std::future::pending().await,
                }
            };
            past.chain(live.take_until(deadline)).boxed()
        }
    };
    let stream = events
        .filter(move |e| {
            std::future::ready(until.is_none_or(|u| e.time_nano <= u) && event_matches(e, &filters))
        })
        .map(|e| {
            let mut line = serde_json::to_vec(&e).unwrap_or_default();
            line.push(b'\n');
            Ok::<_, Infallible>(bytes::Bytes::from(line))
        });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}
