//! `import` from a URL: the daemon downloads the tarball itself, as dockerd does.

use std::io;

use axum::body::Body;
use axum::http::{StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::error::ApiError;
use crate::stream::body_reader;

/// A blocking reader of the body at `url` (http only; https needs TLS, which
/// arrives with the registry client).
pub async fn fetch(url: &str) -> Result<impl io::Read + Send + 'static, ApiError> {
    let bad = |m: String| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: m,
    };
    let uri: Uri = url
        .parse()
        .map_err(|e| bad(format!("invalid URL {url}: {e}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(bad(format!(
            "importing from {url}: https is not supported yet; use http or pipe the file with `-`"
        ))),
        _ => {
            return Err(bad(format!(
                "invalid import source {url}: expected -, http:// or https://"
            )))
        }
    }
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    let resp = client.get(uri).await.map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("Get \"{url}\": {e}"),
    })?;
    if !resp.status().is_success() {
        return Err(ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("Get \"{url}\": unexpected status {}", resp.status()),
        });
    }
    Ok(body_reader(Body::new(resp.into_body())))
}
