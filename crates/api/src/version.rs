//! `/v1.xx/...` prefixes: checked, stripped, and remembered for handlers that
//! behave differently per version.

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, Uri};
use berth_api_types::{API_VERSION, MIN_API_VERSION};

use crate::error::ApiError;

/// The API version of a request (unversioned requests get the newest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.split_once('.')?;
        Some(ApiVersion(a.parse().ok()?, b.parse().ok()?))
    }
}

pub fn max() -> ApiVersion {
    ApiVersion::parse(API_VERSION).unwrap_or(ApiVersion(1, 50))
}

fn min() -> ApiVersion {
    ApiVersion::parse(MIN_API_VERSION).unwrap_or(ApiVersion(1, 24))
}

/// Strips the version prefix into an extension; answers out-of-range versions as dockerd does.
pub fn negotiate(mut req: Request<Body>) -> Result<Request<Body>, ApiError> {
    let path = req.uri().path();
    let mut version = max();
    if let Some(rest) = path.strip_prefix("/v") {
        let (v, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some(parsed) = ApiVersion::parse(v) {
            if parsed > max() {
                return Err(ApiError::bad_request(format!(
                    "client version {v} is too new. Maximum supported API version is {API_VERSION}"
                )));
            }
            if parsed < min() {
                return Err(ApiError::bad_request(format!(
                    "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
                )));
            }
            version = parsed;
            let new = match req.uri().query() {
                Some(q) => format!("{tail}?{q}"),
                None => tail.to_string(),
            };
            if let Ok(uri) = new.parse::<Uri>() {
                *req.uri_mut() = uri;
            }
        }
    }
    req.extensions_mut().insert(version);
    Ok(req)
}

/// Headers dockerd puts on every response.
pub fn stamp(resp: &mut Response<Body>) {
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_stripped() {
        let req = Request::builder()
            .uri("/v1.41/images/json?all=1")
            .body(Body::empty())
            .unwrap();
        let req = negotiate(req).unwrap();
        assert_eq!(req.uri().path(), "/images/json");
        assert_eq!(req.uri().query(), Some("all=1"));
        assert_eq!(
            req.extensions().get::<ApiVersion>(),
            Some(&ApiVersion(1, 41))
        );
    }

    #[test]
    fn out_of_range_versions() {
        for v in ["/v1.51/_ping", "/v1.12/_ping", "/v2.0/_ping"] {
            let req = Request::builder().uri(v).body(Body::empty()).unwrap();
            assert_eq!(negotiate(req).unwrap_err().status, 400);
        }
        let req = Request::builder()
            .uri("/_ping")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            negotiate(req).unwrap().extensions().get::<ApiVersion>(),
            Some(&max())
        );
    }
}
