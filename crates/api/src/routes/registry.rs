//! Registry routes: pull (`POST /images/create?fromImage=`), push, search and
//! `POST /auth`. Progress events of the daemon become docker's JSON messages.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api_types::{JsonMessage, ProgressDetail};
use berth_daemon::{PullOptions, PushOptions};
use berth_distribution::{progress_bar, AuthConfig, Progress};

use super::images::message_stream;
use super::last_value;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The credentials the client sent in `X-Registry-Auth` (anonymous without it).
fn registry_auth(headers: &HeaderMap) -> ApiResult<AuthConfig> {
    let Some(v) = headers.get("x-registry-auth") else {
        return Ok(AuthConfig::default());
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::bad_request("invalid X-Registry-Auth header: not ASCII"))?;
    AuthConfig::from_header(v).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// One progress event as docker's daemon writes it.
pub fn to_message(p: Progress) -> JsonMessage {
    match p {
        Progress::Message { id, status } => JsonMessage {
            status: Some(status),
            id,
            ..Default::default()
        },
        Progress::Layer { id, status } => {
            let (detail, bar) = match status.bytes() {
                Some((current, total)) => (
                    ProgressDetail {
                        current: Some(current),
                        total: (total > 0).then_some(total),
                    },
                    Some(progress_bar(current, total)).filter(|b| !b.is_empty()),
                ),
                None => (ProgressDetail::default(), None),
            };
            JsonMessage {
                status: Some(status.status()),
                progress_detail: Some(detail),
                progress: bar,
                id: Some(id),
                ..Default::default()
            }
        }
        Progress::Aux(v) => JsonMessage {
            progress_detail: Some(ProgressDetail::default()),
            aux: Some(v),
            ..Default::default()
        },
    }
}

/// `POST /images/create?fromImage=&tag=&platform=`.
pub async fn pull(
    s: AppState,
    q: &[(String, String)],
    headers: &HeaderMap,
    image: String,
) -> ApiResult<Response> {
    let get = |k: &str| last_value(q, k);
    let opts = PullOptions {
        tag: get("tag").unwrap_or_default(),
        platform: get("platform"),
        auth: registry_auth(headers)?,
    };
    let d = s.daemon.clone();
    message_stream(move |emit| d.pull(&image, &opts, &mut |p| emit(to_message(p)))).await
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(
    s: AppState,
    name: String,
    tag: Option<String>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let opts = PushOptions {
        tag: tag.unwrap_or_default(),
        auth: registry_auth(headers)?,
    };
    let d = s.daemon.clone();
    message_stream(move |emit| d.push(&name, &opts, &mut |p| emit(to_message(p)))).await
}

/// `GET /images/search?term=&limit=&filters=`.
pub async fn search(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> ApiResult<Response> {
    let filters = super::parse_filters(q.get("filters").map(String::as_str))?;
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(
            l.parse::<u32>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
        ),
    };
    let term = q.get("term").cloned().unwrap_or_default();
    let auth = registry_auth(&headers)?;
    let d = s.daemon.clone();
    let results =
        tokio::task::spawn_blocking(move || d.search_images(&term, limit, &filters, &auth))
            .await??;
    Ok(Json(results).into_response())
}

/// `POST /auth`: checks the credentials with the registry.
pub async fn auth(State(s): State<AppState>, body: axum::body::Bytes) -> ApiResult<Response> {
    let auth: AuthConfig = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid auth configuration: {e}")))?;
    let d = s.daemon.clone();
    match tokio::task::spawn_blocking(move || d.login(&auth)).await?? {
        Ok(token) => Ok(Json(serde_json::json!({
            "Status": "Login Succeeded",
            "IdentityToken": token.unwrap_or_default(),
        }))
        .into_response()),
        Err(message) => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_distribution::LayerStatus;

    #[test]
    fn progress_reads_like_dockerd() {
        let m = to_message(Progress::Layer {
            id: "abc".into(),
            status: LayerStatus::PullingFsLayer,
        });
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}"#
        );
        let m = to_message(Progress::Layer {
            id: "abc".into(),
            status: LayerStatus::Downloading {
                current: 1,
                total: 2,
            },
        });
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v["progressDetail"],
            serde_json::json!({"current":1,"total":2})
        );
        assert!(v["progress"].as_str().unwrap().starts_with("[="));
        let m = to_message(Progress::Message {
            id: Some("latest".into()),
            status: "Pulling from library/busybox".into(),
        });
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"status":"Pulling from library/busybox","id":"latest"}"#
        );
        assert!(registry_auth(&HeaderMap::new()).unwrap() == AuthConfig::default());
    }
}
