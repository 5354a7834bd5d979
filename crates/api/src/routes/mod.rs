mod containers;
mod images;
mod registry;
mod system;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping_head))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(system::events))
        .route("/system/df", get(system::df))
        .route("/images/json", get(images::list))
        .route("/images/search", get(registry::search))
        .route("/auth", post(registry::auth))
        .route("/images/create", post(images::create))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::save_many))
        .route("/images/prune", post(images::prune))
        .route(
            "/images/{*rest}",
            get(images::get_by_name)
                .post(images::post_by_name)
                .delete(images::remove),
        )
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/prune", post(containers::prune))
        .route(
            "/containers/{name}/{action}",
            get(containers::get).post(containers::post),
        )
        .route(
            "/containers/{name}",
            axum::routing::delete(containers::remove),
        )
        .route(
            "/exec/{id}/{action}",
            get(containers::exec_get).post(containers::exec_post),
        )
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                message: "page not found".into(),
            }
        })
}

/// The `filters` query parameter: JSON `{"key":{"value":true}}` or the legacy `{"key":["value"]}`.
pub fn parse_filters(raw: Option<&str>) -> ApiResult<BTreeMap<String, Vec<String>>> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let v: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("invalid filter: expected an object"))?;
    let mut out = BTreeMap::new();
    for (k, vals) in obj {
        let list: Vec<String> = match vals {
            serde_json::Value::Object(m) => m
                .iter()
                .filter(|(_, b)| b.as_bool() != Some(false))
                .map(|(v, _)| v.clone())
                .collect(),
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => return Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

/// docker's boolean query values: `1`, `true`, `True` … are true; empty or absent false.
/// The value of a query parameter; the last one when it is given more than once.
pub fn last_value(q: &[(String, String)], key: &str) -> Option<String> {
    q.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

pub fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|s| !matches!(s.as_str(), "" | "0" | "false" | "False" | "FALSE" | "no"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_both_shapes() {
        let f = parse_filters(Some(r#"{"dangling":{"true":true},"label":["a=b"]}"#)).unwrap();
        assert_eq!(f["dangling"], vec!["true"]);
        assert_eq!(f["label"], vec!["a=b"]);
        assert!(parse_filters(Some("{")).is_err());
        assert!(parse_filters(None).unwrap().is_empty());
    }
}
