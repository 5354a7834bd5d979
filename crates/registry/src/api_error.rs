//! OCI error bodies: `{"errors":[{"code":…,"message":…,"detail":…}]}`.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};

use crate::error::RegistryError;

/// One error answer of the HTTP API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    // Boxed: keeps `Result<_, ApiError>` small on the hot path.
    pub detail: Option<Box<Value>>,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }
    }

    pub fn detail(mut self, detail: Value) -> ApiError {
        self.detail = Some(Box::new(detail));
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> ApiError {
        self.headers.push((name, value.into()));
        self
    }

    pub fn blob_unknown(digest: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
        )
        .detail(json!({ "digest": digest }))
    }

    pub fn manifest_unknown(reference: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
        )
        .detail(json!({ "reference": reference }))
    }

    pub fn upload_unknown(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
        )
        .detail(json!({ "uuid": id }))
    }

    pub fn digest_invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", message)
    }

    pub fn manifest_invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", message)
    }

    pub fn upload_invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", message)
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> ApiError {
        match e {
            RegistryError::DigestMismatch { .. } | RegistryError::InvalidDigest(_) => {
                ApiError::digest_invalid(e.to_string())
            }
            RegistryError::UploadUnknown(id) => ApiError::upload_unknown(&id),
            RegistryError::Body(_) => ApiError::upload_invalid(e.to_string()),
            other => {
                tracing::error!("{other}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN",
                    other.to_string(),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let body = json!({"errors": [{
            "code": self.code,
            "message": self.message,
            "detail": self.detail.map(|d| *d).unwrap_or(Value::Null),
        }]});
        let mut resp = Response::new(Body::from(body.to_string()));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        resp
    }
}
