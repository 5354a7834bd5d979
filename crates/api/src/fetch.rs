//! `import` from a URL: the daemon downloads the tarball itself, as dockerd does.

use std::io;

use axum::body::Body;
use axum::http::{StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::error::ApiError;
use crate::stream::body_reader;

/// A blocking reader of the body at `url` (http or https, trusting the system's CAs).
pub async fn fetch(url: &str) -> Result<impl io::Read + Send + 'static, ApiError> {
    let bad = |message: String| ApiError {
        status: StatusCode::BAD_REQUEST,
        message,
    };
    let internal = |message: String| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message,
    };
    let uri: Uri = url
        .parse()
        .map_err(|e| bad(format!("invalid URL {url}: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(bad(format!(
            "invalid import source {url}: expected -, http:// or https://"
        )));
    }
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| internal(format!("loading the system's CA certificates: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build(https);
    let resp = client
        .get(uri)
        .await
        .map_err(|e| internal(format!("Get \"{url}\": {}", chain(&e))))?;
    if !resp.status().is_success() {
        return Err(internal(format!(
            "Get \"{url}\": unexpected status {}",
            resp.status()
        )));
    }
    Ok(body_reader(Body::new(resp.into_body())))
}

/// An error and its causes, `: `-separated (hyper's own text alone says little).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}
