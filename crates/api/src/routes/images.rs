//! `/images/...`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api_types::JsonMessage;
use berth_daemon::ImportOptions;

use super::{last_value, parse_filters, truthy};
use crate::error::{ApiError, ApiResult};
use crate::stream::{body_reader, BodyWriter};
use crate::AppState;

type Q = Query<HashMap<String, String>>;

pub async fn list(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let filters = parse_filters(q.get("filters").map(String::as_str))?;
    let all = truthy(q.get("all"));
    let d = s.daemon.clone();
    let images = tokio::task::spawn_blocking(move || d.list_images(all, &filters)).await??;
    Ok(Json(images).into_response())
}

pub async fn get_by_name(
    State(s): State<AppState>,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    let d = s.daemon.clone();
    if let Some(name) = rest.strip_suffix("/json") {
        let name = name.to_string();
        let img = tokio::task::spawn_blocking(move || d.inspect_image(&name)).await??;
        return Ok(Json(img).into_response());
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let name = name.to_string();
        let h = tokio::task::spawn_blocking(move || d.image_history(&name)).await??;
        return Ok(Json(h).into_response());
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return save(s, vec![name.to_string()]).await;
    }
    Err(ApiError {
        status: StatusCode::NOT_FOUND,
        message: "page not found".into(),
    })
}

pub async fn post_by_name(
    State(s): State<AppState>,
    Path(rest): Path<String>,
    Query(q): Q,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/push") {
        return super::registry::push(s, name.to_string(), q.get("tag").cloned(), &headers).await;
    }
    if let Some(name) = rest.strip_suffix("/tag") {
        let d = s.daemon.clone();
        let name = name.to_string();
        let repo = q.get("repo").cloned().unwrap_or_default();
        let tag = q.get("tag").cloned().unwrap_or_default();
        tokio::task::spawn_blocking(move || d.tag_image(&name, &repo, &tag)).await??;
        return Ok(StatusCode::CREATED.into_response());
    }
    Err(ApiError {
        status: StatusCode::NOT_FOUND,
        message: "page not found".into(),
    })
}

pub async fn remove(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let d = s.daemon.clone();
    let force = truthy(q.get("force"));
    let no_prune = truthy(q.get("noprune"));
    let items =
        tokio::task::spawn_blocking(move || d.remove_image(&name, force, no_prune)).await??;
    Ok(Json(items).into_response())
}

pub async fn prune(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let filters = parse_filters(q.get("filters").map(String::as_str))?;
    let d = s.daemon.clone();
    let report = tokio::task::spawn_blocking(move || d.prune_images(&filters)).await??;
    Ok(Json(report).into_response())
}

pub async fn save_many(
    State(s): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let names = q
        .into_iter()
        .filter(|(k, _)| k == "names")
        .map(|(_, v)| v)
        .collect();
    save(s, names).await
}

/// Resolves every name first (so an unknown one is a clean 404), then streams the tar.
async fn save(s: AppState, names: Vec<String>) -> ApiResult<Response> {
    let d = s.daemon.clone();
    let plan = tokio::task::spawn_blocking(move || d.plan_save(&names)).await??;
    let (mut w, body) = BodyWriter::new();
    let d = s.daemon.clone();
    tokio::task::spawn_blocking(move || match d.write_save(&plan, &mut w) {
        Ok(()) => drop(w),
        Err(e) => {
            tracing::error!(error = %e, "save failed mid-stream");
            w.fail(e)
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// What a job running behind a JSON-message stream reports.
enum Report {
    Message(Box<JsonMessage>),
    Done(Result<(), berth_daemon::Error>),
}

/// Runs `job` on a blocking thread, streaming the messages it emits. As dockerd
/// does, a job that fails before its first message gets a plain HTTP error;
/// a later failure becomes the stream's last message.
pub(super) async fn message_stream<F>(job: F) -> ApiResult<Response>
where
    F: FnOnce(&mut (dyn FnMut(JsonMessage) + Send)) -> Result<(), berth_daemon::Error>
        + Send
        + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Report>(16);
    tokio::task::spawn_blocking(move || {
        // A panic must end the stream with an error message: a stream that just stops
        // reads as success to the docker CLI.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            job(&mut |m| {
                let _ = tx.blocking_send(Report::Message(Box::new(m)));
            })
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            Err(berth_daemon::Error::Internal(format!(
                "internal error: {what}"
            )))
        });
        let _ = tx.blocking_send(Report::Done(result));
    });
    let first = match rx.recv().await {
        Some(Report::Done(Err(e))) => return Err(e.into()),
        other => other,
    };
    let reports = futures_util::stream::unfold((first, rx), |(pending, mut rx)| async move {
        let report = match pending {
            Some(r) => r,
            None => rx.recv().await?,
        };
        let msg = match report {
            Report::Message(m) => *m,
            Report::Done(Ok(())) => return None,
            Report::Done(Err(e)) => JsonMessage::error(e.to_string()),
        };
        let mut line = serde_json::to_vec(&msg).unwrap_or_default();
        line.extend_from_slice(b"\r\n");
        Some((
            Ok::<_, std::convert::Infallible>(bytes::Bytes::from(line)),
            (None, rx),
        ))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(reports),
    )
        .into_response())
}

pub async fn load(State(s): State<AppState>, body: Body) -> ApiResult<Response> {
    let d = s.daemon.clone();
    let reader = body_reader(body);
    message_stream(move |emit| {
        d.load_images(reader, &mut |line: String| {
            emit(JsonMessage::stream(format!("{line}\n")))
        })
    })
    .await
}

pub async fn create(
    State(s): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let get = |k: &str| last_value(&q, k);
    if let Some(image) = get("fromImage") {
        return super::registry::pull(s, &q, &headers, image).await;
    }
    let Some(src) = get("fromSrc") else {
        return Err(ApiError::bad_request(
            "either fromImage or fromSrc must be set",
        ));
    };
    let opts = ImportOptions {
        source: src.clone(),
        repo: get("repo"),
        tag: get("tag"),
        changes: q
            .iter()
            .filter(|(k, _)| k == "changes")
            .map(|(_, v)| v.clone())
            .collect(),
        message: get("message"),
        platform: get("platform"),
    };
    let d = s.daemon.clone();
    d.check_import(&opts)?;
    let reader: Box<dyn std::io::Read + Send> = if src == "-" {
        Box::new(body_reader(body))
    } else {
        Box::new(crate::fetch::fetch(&src).await?)
    };
    message_stream(move |emit| {
        let id = d.import_image(reader, &opts)?;
        emit(JsonMessage::status(id.to_string()));
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_text(r: Response) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_panic_before_any_message_is_an_error_response() {
        let e = message_stream(|_| panic!("boom")).await.unwrap_err();
        assert!(e.message.contains("internal error: boom"), "{}", e.message);
    }

    #[tokio::test]
    async fn a_panic_mid_stream_ends_it_with_an_error_message() {
        let r = message_stream(|emit| {
            emit(JsonMessage::stream("step 1\n".to_string()));
            panic!("{}", "went wrong".to_string());
        })
        .await
        .unwrap();
        let text = body_text(r).await;
        assert!(text.contains("step 1"), "{text}");
        assert!(text.contains("internal error: went wrong"), "{text}");
        assert!(text.contains("errorDetail"), "{text}");
    }
}
