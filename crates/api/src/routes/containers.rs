//! `/containers/...` and `/exec/...`: translation between HTTP (incl. the
//! hijacked attach/exec streams) and the daemon's container calls.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api_types::models::{ContainerCreateBody, ContainerUpdateBody, ExecConfig};
use berth_daemon::{AttachStream, AttachTarget};
use serde_json::json;

use super::{parse_filters, truthy};
use crate::error::{ApiError, ApiResult};
use crate::hijack;
use crate::stream::BodyWriter;
use crate::AppState;

type Q = Query<HashMap<String, String>>;

fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "page not found".into(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> berth_daemon::Result<T> + Send + 'static,
) -> ApiResult<T> {
    Ok(tokio::task::spawn_blocking(f).await??)
}

async fn json_body<T: serde::de::DeserializeOwned + Default>(req: Request) -> ApiResult<T> {
    let bytes = axum::body::to_bytes(req.into_body(), 16 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

fn int(q: &HashMap<String, String>, key: &str) -> ApiResult<Option<i64>> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v}"))),
    }
}

pub async fn list(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let filters = parse_filters(q.get("filters").map(String::as_str))?;
    let all = truthy(q.get("all"));
    let size = truthy(q.get("size"));
    let limit = int(&q, "limit")?.filter(|l| *l > 0).map(|l| l as usize);
    let d = s.daemon.clone();
    let list = blocking(move || d.list_containers(all, limit, size, &filters)).await?;
    Ok(Json(list).into_response())
}

pub async fn create(State(s): State<AppState>, Query(q): Q, req: Request) -> ApiResult<Response> {
    let body: ContainerCreateBody = json_body(req).await?;
    let name = q.get("name").cloned();
    let d = s.daemon.clone();
    let (id, warnings) = blocking(move || d.create_container(name.as_deref(), body)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": id, "Warnings": warnings})),
    )
        .into_response())
}

pub async fn prune(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let filters = parse_filters(q.get("filters").map(String::as_str))?;
    let d = s.daemon.clone();
    let (deleted, reclaimed) = blocking(move || d.prune_containers(&filters)).await?;
    Ok(Json(json!({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed})).into_response())
}

pub async fn get(
    State(s): State<AppState>,
    Path((name, action)): Path<(String, String)>,
    Query(q): Q,
) -> ApiResult<Response> {
    let d = s.daemon.clone();
    match action.as_str() {
        "json" => {
            let size = truthy(q.get("size"));
            let c = blocking(move || d.inspect_container(&name, size)).await?;
            let mut v = serde_json::to_value(c)
                .map_err(|e| ApiError::from(berth_daemon::Error::Internal(e.to_string())))?;
            add_legacy_network_settings(&mut v);
            Ok(Json(v).into_response())
        }
        "top" => {
            let args = q.get("ps_args").cloned();
            let t = blocking(move || d.top_container(&name, args.as_deref())).await?;
            Ok(Json(t).into_response())
        }
        "logs" => logs(s, name, q).await,
        "stats" => stats(s, name, q).await,
        _ => Err(not_found()),
    }
}

pub async fn post(
    State(s): State<AppState>,
    Path((name, action)): Path<(String, String)>,
    Query(q): Q,
    req: Request,
) -> ApiResult<Response> {
    let d = s.daemon.clone();
    let no_content = || StatusCode::NO_CONTENT.into_response();
    let not_modified = || StatusCode::NOT_MODIFIED.into_response();
    match action.as_str() {
        "start" => {
            let started = blocking(move || d.start_container(&name)).await?;
            Ok(if started {
                no_content()
            } else {
                not_modified()
            })
        }
        "stop" => {
            let t = int(&q, "t")?;
            let sig = q.get("signal").cloned();
            let stopped = blocking(move || d.stop_container(&name, sig.as_deref(), t)).await?;
            Ok(if stopped {
                no_content()
            } else {
                not_modified()
            })
        }
        "restart" => {
            let t = int(&q, "t")?;
            let sig = q.get("signal").cloned();
            blocking(move || d.restart_container(&name, sig.as_deref(), t)).await?;
            Ok(no_content())
        }
        "kill" => {
            let sig = q.get("signal").cloned();
            blocking(move || d.kill_container(&name, sig.as_deref())).await?;
            Ok(no_content())
        }
        "pause" | "unpause" => {
            let pause = action == "pause";
            blocking(move || d.pause_container(&name, pause)).await?;
            Ok(no_content())
        }
        "rename" => {
            let new = q.get("name").cloned().unwrap_or_default();
            blocking(move || d.rename_container(&name, &new)).await?;
            Ok(no_content())
        }
        "update" => {
            let body: ContainerUpdateBody = json_body(req).await?;
            let warnings = blocking(move || d.update_container(&name, body)).await?;
            Ok(Json(json!({"Warnings": warnings})).into_response())
        }
        "resize" => {
            let (h, w) = size_of(&q)?;
            blocking(move || d.resize_container(&name, h, w)).await?;
            Ok(StatusCode::OK.into_response())
        }
        "wait" => wait(s, name, q).await,
        "attach" => attach(s, name, q, req).await,
        "exec" => {
            let body: ExecConfig = json_body(req).await?;
            let id = blocking(move || d.create_exec(&name, body)).await?;
            Ok((StatusCode::CREATED, Json(json!({"Id": id}))).into_response())
        }
        _ => Err(not_found()),
    }
}

pub async fn remove(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let d = s.daemon.clone();
    let force = truthy(q.get("force"));
    let volumes = truthy(q.get("v"));
    blocking(move || d.remove_container(&name, force, volumes)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn size_of(q: &HashMap<String, String>) -> ApiResult<(u16, u16)> {
    let get = |k: &str| -> ApiResult<u16> {
        q.get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ApiError::bad_request(format!("invalid value for {k}")))
    };
    Ok((get("h")?, get("w")?))
}

/// `POST /containers/{id}/wait`: headers at once, the body when the condition is met.
/// The default bridge network's endpoint, repeated at the top of NetworkSettings as
/// dockerd does up to API 1.51 (deprecated fields that SDKs still read, such as
/// docker-py's `attrs["NetworkSettings"]["IPAddress"]`); empty when not on `bridge`.
fn add_legacy_network_settings(inspect: &mut serde_json::Value) {
    let Some(ns) = inspect
        .get_mut("NetworkSettings")
        .and_then(|n| n.as_object_mut())
    else {
        return;
    };
    let bridge = ns
        .get("Networks")
        .and_then(|n| n.get("bridge"))
        .cloned()
        .unwrap_or_default();
    let text = |k: &str| bridge.get(k).cloned().unwrap_or_else(|| json!(""));
    let number = |k: &str| bridge.get(k).cloned().unwrap_or_else(|| json!(0));
    let legacy = [
        ("Bridge", json!("")),
        ("HairpinMode", json!(false)),
        ("LinkLocalIPv6Address", json!("")),
        ("LinkLocalIPv6PrefixLen", json!(0)),
        ("SecondaryIPAddresses", json!(null)),
        ("SecondaryIPv6Addresses", json!(null)),
        ("EndpointID", text("EndpointID")),
        ("Gateway", text("Gateway")),
        ("GlobalIPv6Address", text("GlobalIPv6Address")),
        ("GlobalIPv6PrefixLen", number("GlobalIPv6PrefixLen")),
        ("IPAddress", text("IPAddress")),
        ("IPPrefixLen", number("IPPrefixLen")),
        ("IPv6Gateway", text("IPv6Gateway")),
        ("MacAddress", text("MacAddress")),
    ];
    for (k, v) in legacy {
        ns.entry(k).or_insert(v);
    }
}

async fn wait(s: AppState, name: String, q: HashMap<String, String>) -> ApiResult<Response> {
    let condition = q.get("condition").cloned().unwrap_or_default();
    if !matches!(
        condition.as_str(),
        "" | "not-running" | "next-exit" | "removed"
    ) {
        return Err(ApiError::bad_request(format!(
            "invalid condition: \"{condition}\""
        )));
    }
    let d = s.daemon.clone();
    let (_c, mut rx) = blocking(move || d.container_waiter(&name)).await?;
    let start = rx.borrow().clone();
    let fut = async move {
        let res = rx
            .wait_for(|p| match condition.as_str() {
                "next-exit" => p.exits > start.exits || p.removed,
                "removed" => p.removed,
                _ => !p.running,
            })
            .await
            .map(|p| p.exit_code);
        let code = match res {
            Ok(c) => c,
            // The container went away with its sender: it was removed.
            Err(_) => start.exit_code,
        };
        let body =
            serde_json::to_vec(&json!({"StatusCode": code, "Error": null})).unwrap_or_default();
        Ok::<_, std::io::Error>(bytes::Bytes::from(body))
    };
    let stream = futures_util::stream::once(fut);
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

/// The detach sequence: docker's `ctrl-p,ctrl-q` syntax.
fn detach_keys(q: &HashMap<String, String>) -> ApiResult<Vec<u8>> {
    let spec = q
        .get("detachKeys")
        .filter(|s| !s.is_empty())
        .map(String::as_str)
        .unwrap_or("ctrl-p,ctrl-q");
    hijack::parse_detach_keys(spec).map_err(ApiError::bad_request)
}

async fn attach(
    s: AppState,
    name: String,
    q: HashMap<String, String>,
    req: Request,
) -> ApiResult<Response> {
    let streams = AttachStream {
        stdin: truthy(q.get("stdin")),
        stdout: truthy(q.get("stdout")),
        stderr: truthy(q.get("stderr")),
    };
    let keys = detach_keys(&q)?;
    let d = s.daemon.clone();
    let (tty, target) = blocking(move || d.attach_container(&name, streams)).await?;
    let upgrade = hijack::Upgrade::take(req);
    let resp = hijack::response(tty);
    tokio::spawn(async move {
        let Some(client) = upgrade.wait().await else {
            return;
        };
        let shim = match target {
            AttachTarget::Now(s) => s,
            AttachTarget::AtStart(rx) => match rx.await {
                Ok(s) => s,
                Err(_) => return,
            },
        };
        hijack::pump(client, shim, keys, streams.stdin, async {}).await;
    });
    Ok(resp)
}

pub async fn exec_post(
    State(s): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    Query(q): Q,
    req: Request,
) -> ApiResult<Response> {
    let d = s.daemon.clone();
    match action.as_str() {
        "resize" => {
            let (h, w) = size_of(&q)?;
            blocking(move || d.resize_exec(&id, h, w)).await?;
            Ok(StatusCode::OK.into_response())
        }
        "start" => {
            let upgrade = hijack::Upgrade::take_parts(req);
            let (upgrade, body) = upgrade;
            let bytes = axum::body::to_bytes(body, 1 << 20)
                .await
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let v: serde_json::Value = if bytes.iter().all(u8::is_ascii_whitespace) {
                json!({})
            } else {
                serde_json::from_slice(&bytes)
                    .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
            };
            let detach = v.get("Detach").and_then(|b| b.as_bool()).unwrap_or(false);
            let d2 = d.clone();
            let id2 = id.clone();
            let started = blocking(move || d2.start_exec(&id2, detach)).await?;
            let Some(stream) = started.stream else {
                return Ok(StatusCode::OK.into_response());
            };
            let keys = detach_keys(&q)?;
            let resp = hijack::response(started.tty);
            tokio::spawn(async move {
                let Some(client) = upgrade.wait().await else {
                    return;
                };
                let exec_id = stream.exec_id.clone();
                let record = async move {
                    let _ = tokio::task::spawn_blocking(move || d.exec_finished(&exec_id)).await;
                };
                hijack::pump(client, stream.stream, keys, true, record).await;
            });
            Ok(resp)
        }
        _ => Err(not_found()),
    }
}

pub async fn exec_get(
    State(s): State<AppState>,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult<Response> {
    if action != "json" {
        return Err(not_found());
    }
    let d = s.daemon.clone();
    let e = blocking(move || d.inspect_exec(&id)).await?;
    Ok(Json(e).into_response())
}

/// `GET /containers/{id}/logs`: records from the json-file log, framed unless TTY.
async fn logs(s: AppState, name: String, q: HashMap<String, String>) -> ApiResult<Response> {
    let stdout = truthy(q.get("stdout"));
    let stderr = truthy(q.get("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let follow = truthy(q.get("follow"));
    let timestamps = truthy(q.get("timestamps"));
    let details = truthy(q.get("details"));
    let since = parse_time_param(q.get("since"))?;
    let until = parse_time_param(q.get("until"))?;
    let tail = match q.get("tail").map(String::as_str) {
        None | Some("") | Some("all") => None,
        Some(n) => Some(
            n.parse::<i64>()
                .map(|n| n.max(0) as usize)
                .unwrap_or(usize::MAX),
        ),
    };
    let d = s.daemon.clone();
    let (path, tty, c) = blocking(move || d.container_log(&name)).await?;
    let rx = c.subscribe();
    let (mut w, body) = BodyWriter::new();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let opts = berth_logs::ReadOptions {
            since,
            until,
            tail,
            follow,
            details,
        };
        let stop = || !rx.borrow().running;
        let res = berth_logs::read(&path, &opts, stop, |rec| {
            let wanted = match rec.stream {
                berth_logs::Stream::Stdout => stdout,
                berth_logs::Stream::Stderr => stderr,
            };
            if !wanted {
                return true;
            }
            let line = rec.render(timestamps, details);
            let ok = if tty {
                w.write_all(&line)
            } else {
                w.write_all(&berth_logs::frame(rec.stream, &line))
            };
            // Followers see each record at once.
            ok.and_then(|_| if follow { w.flush() } else { Ok(()) })
                .is_ok()
        });
        if let Err(e) = res {
            w.fail(e);
        }
    });
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, HeaderValue::from_static(ctype))
        .body(body)
        .unwrap_or_default())
}

/// docker's `since`/`until`: unix seconds with an optional `.nanoseconds`.
fn parse_time_param(v: Option<&String>) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    let Some(v) = v.filter(|v| !v.is_empty() && v.as_str() != "0") else {
        return Ok(None);
    };
    let (secs, nanos) = v.split_once('.').unwrap_or((v, "0"));
    let secs: i64 = secs
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid time value: {v}")))?;
    let nanos: u32 = format!("{nanos:0<9}")[..9]
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid time value: {v}")))?;
    Ok(chrono::DateTime::from_timestamp(secs, nanos))
}

/// `GET /containers/{id}/stats`: one sample, or one a second while `stream=1`.
async fn stats(s: AppState, name: String, q: HashMap<String, String>) -> ApiResult<Response> {
    let stream = q.get("stream").is_none_or(|v| truthy(Some(v)));
    let one_shot = truthy(q.get("one-shot"));
    let d = s.daemon.clone();
    let n2 = name.clone();
    // Fail early (404) before the streaming body starts.
    let first = blocking(move || d.container_stats(&n2, None)).await?;
    if !stream {
        let d = s.daemon.clone();
        let sample = if one_shot {
            first
        } else {
            // docker waits for a second sample so CPU % has a base.
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let prev = first;
            blocking(move || d.container_stats(&name, Some(&prev))).await?
        };
        return Ok(Json(sample).into_response());
    }
    let d = s.daemon.clone();
    let body = futures_util::stream::unfold(Some(first), move |prev| {
        let d = d.clone();
        let name = name.clone();
        async move {
            let prev = prev?;
            let mut line = serde_json::to_vec(&prev).unwrap_or_default();
            line.push(b'\n');
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let next = tokio::task::spawn_blocking(move || d.container_stats(&name, Some(&prev)))
                .await
                .ok()
                .and_then(|r| r.ok());
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from(line)), next))
        }
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_network_settings_repeat_the_bridge_endpoint() {
        let mut v = json!({"NetworkSettings": {"Networks": {"bridge": {
            "IPAddress": "10.1.2.3", "IPPrefixLen": 24, "Gateway": "10.1.2.1",
            "MacAddress": "02:42:0a:01:02:03", "EndpointID": ""}}}});
        add_legacy_network_settings(&mut v);
        let ns = &v["NetworkSettings"];
        assert_eq!(ns["IPAddress"], "10.1.2.3");
        assert_eq!(ns["IPPrefixLen"], 24);
        assert_eq!(ns["Gateway"], "10.1.2.1");
        assert_eq!(ns["MacAddress"], "02:42:0a:01:02:03");
        assert_eq!(ns["GlobalIPv6PrefixLen"], 0);
        assert_eq!(ns["SecondaryIPAddresses"], serde_json::Value::Null);
        assert!(ns.get("Networks").is_some());

        let mut none = json!({"NetworkSettings": {"Networks": {"none": {"IPAddress": ""}}}});
        add_legacy_network_settings(&mut none);
        assert_eq!(none["NetworkSettings"]["IPAddress"], "");
        assert_eq!(none["NetworkSettings"]["IPPrefixLen"], 0);
    }
}
