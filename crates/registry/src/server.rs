//! The HTTP API of the OCI Distribution Spec v1.1.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};

use crate::api_error::ApiError;
use crate::auth::{Auth, Need};
use crate::cache::Cache;
use crate::digest::{Algorithm, Digest};
use crate::name::{valid_name, valid_tag};
use crate::storage::{ByteStream, Storage};

/// Manifests larger than this are refused with 413.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

type ApiResult = Result<Response, ApiError>;

/// The registry: storage, caches, auth and mode.
pub struct Registry {
    storage: Arc<dyn Storage>,
    cache: Cache,
    auth: Option<Auth>,
    read_only: bool,
}

/// A parsed `/v2/…` path.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Base,
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Upload(&'a str, Option<&'a str>),
    Referrers(&'a str, &'a str),
}

fn parse_route<'a>(path: &'a str) -> Option<Route<'a>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    if let Some(i) = rest.rfind("/blobs/uploads") {
        let (name, tail) = (&rest[..i], &rest[i + "/blobs/uploads".len()..]);
        return match tail.strip_prefix('/') {
            None if tail.is_empty() => Some(Route::Upload(name, None)),
            Some("") => Some(Route::Upload(name, None)),
            Some(id) if !id.contains('/') => Some(Route::Upload(name, Some(id))),
            _ => None,
        };
    }
    for (marker, make) in [
        (
            "/manifests/",
            Route::Manifest as fn(&'a str, &'a str) -> Route<'a>,
        ),
        ("/blobs/", Route::Blob),
        ("/referrers/", Route::Referrers),
    ] {
        if let Some(i) = rest.rfind(marker) {
            let (name, reference) = (&rest[..i], &rest[i + marker.len()..]);
            if reference.is_empty() || reference.contains('/') {
                return None;
            }
            return Some(make(name, reference));
        }
    }
    None
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn body_stream(body: Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}

fn respond(status: StatusCode, headers: &[(&str, String)], body: Body) -> Response {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(body).unwrap_or_else(|e| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string()).into_response()
    })
}

fn query(req: &Request) -> HashMap<String, String> {
    Query::<HashMap<String, String>>::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default()
}

/// A `Range: bytes=…` request header against a blob of `size` bytes: `Ok(None)` for
/// none, `Err(())` when unsatisfiable or malformed.
fn parse_range(value: Option<&str>, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(v) = value else { return Ok(None) };
    let spec = v.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (s, "") => (s.parse().map_err(|_| ())?, size.saturating_sub(1)),
        (s, e) => {
            let e: u64 = e.parse().map_err(|_| ())?;
            (s.parse().map_err(|_| ())?, e.min(size.saturating_sub(1)))
        }
    };
    if size == 0 || start > end || start >= size {
        return Err(());
    }
    Ok(Some(start..end + 1))
}

/// A PATCH `Content-Range: <start>-<end>` header.
fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim();
    let v = v.strip_prefix("bytes ").unwrap_or(v);
    let v = v.split('/').next()?;
    let (a, b) = v.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse::<Digest>()
        .map_err(|e| ApiError::digest_invalid(e.to_string()).detail(json!({ "digest": s })))
}

/// Paginates a sorted list: entries after `last`, at most `n`; the second value tells
/// whether more remain.
fn paginate(
    items: Vec<String>,
    q: &HashMap<String, String>,
) -> Result<(Vec<String>, Option<usize>), ApiError> {
    let n = match q.get("n") {
        None => None,
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                format!("invalid number of results requested: {n:?}"),
            )
        })?),
    };
    let mut items: Vec<String> = match q.get("last") {
        Some(last) => items.into_iter().filter(|t| t > last).collect(),
        None => items,
    };
    match n {
        Some(n) if items.len() > n => {
            items.truncate(n);
            Ok((items, Some(n)))
        }
        _ => Ok((items, None)),
    }
}

fn link_header(path: &str, items: &[String], n: usize) -> Option<(&'static str, String)> {
    let last = items.last()?;
    Some(("link", format!("<{path}?last={last}&n={n}>; rel=\"next\"")))
}

impl Registry {
    pub fn new(storage: Arc<dyn Storage>, auth: Option<Auth>, read_only: bool) -> Arc<Registry> {
        let cache = Cache::new(storage.cacheable());
        Arc::new(Registry {
            storage,
            cache,
            auth,
            read_only,
        })
    }

    /// The axum router serving `/v2/…`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self)
    }

    async fn authorize(&self, headers: &HeaderMap, need: &Need) -> Result<(), ApiError> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        auth.check(headers, need).await.map_err(|d| {
            ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", d.message)
                .header("www-authenticate", d.challenge)
        })
    }

    async fn ensure_repo(&self, repo: &str) -> Result<(), ApiError> {
        if !self.cache.repo_known(repo) {
            self.storage.repo_register(repo).await?;
            self.cache.set_repo_known(repo);
        }
        Ok(())
    }

    /// Drops cached blob and manifest facts when a garbage collection has run since
    /// the last look.
    async fn check_gc_epoch(&self) -> Result<(), ApiError> {
        if self.cache.epoch_due() {
            self.cache.set_epoch(self.storage.gc_epoch().await?);
        }
        Ok(())
    }

    async fn linked(&self, repo: &str, d: &Digest) -> Result<bool, ApiError> {
        self.check_gc_epoch().await?;
        if self.cache.linked(repo, d) {
            return Ok(true);
        }
        let linked = self.storage.blob_linked(repo, d).await?;
        self.cache.set_linked(repo, d, linked);
        Ok(linked)
    }

    async fn blob_size(&self, d: &Digest) -> Result<Option<u64>, ApiError> {
        if let Some(s) = self.cache.size(d) {
            return Ok(Some(s));
        }
        let s = self.storage.blob_stat(d).await?;
        if let Some(s) = s {
            self.cache.set_size(d, s);
        }
        Ok(s)
    }

    async fn link(&self, repo: &str, d: &Digest, size: u64) -> Result<(), ApiError> {
        self.storage.link_blob(repo, d).await?;
        self.ensure_repo(repo).await?;
        self.cache.set_linked(repo, d, true);
        self.cache.set_size(d, size);
        Ok(())
    }

    async fn read_small_blob(&self, d: &Digest) -> Result<Option<Bytes>, ApiError> {
        if let Some(b) = self.cache.manifest(d) {
            return Ok(Some(b));
        }
        let Some(mut r) = self.storage.blob_get(d, None).await? else {
            return Ok(None);
        };
        let mut buf = Vec::with_capacity(r.size.min(MAX_MANIFEST_BYTES as u64) as usize);
        while let Some(c) = r.stream.next().await {
            let c = c.map_err(|e| crate::error::RegistryError::Io {
                path: d.to_string().into(),
                source: e,
            })?;
            buf.extend_from_slice(&c);
        }
        let b = Bytes::from(buf);
        self.cache.set_manifest(d, &b);
        Ok(Some(b))
    }

    /// The digest a manifest reference (tag or digest) names in `repo`, with its media type.
    async fn resolve(&self, repo: &str, reference: &str) -> Result<(Digest, String), ApiError> {
        let digest = if reference.contains(':') {
            parse_digest(reference)?
        } else {
            if !valid_tag(reference) {
                return Err(ApiError::manifest_unknown(reference));
            }
            match self.cache.tag(repo, reference) {
                Some(d) => d,
                None => {
                    let d = self
                        .storage
                        .tag_get(repo, reference)
                        .await?
                        .ok_or_else(|| ApiError::manifest_unknown(reference))?;
                    self.cache.set_tag(repo, reference, Some(&d));
                    d
                }
            }
        };
        // `gc --delete-untagged` in another process may have removed the revision.
        self.check_gc_epoch().await?;
        let media_type = match self.cache.revision(repo, &digest) {
            Some(t) => t,
            None => {
                let t = self
                    .storage
                    .manifest_media_type(repo, &digest)
                    .await?
                    .ok_or_else(|| ApiError::manifest_unknown(reference))?;
                self.cache.set_revision(repo, &digest, Some(&t));
                t
            }
        };
        Ok((digest, media_type))
    }

    // --- blobs ----------------------------------------------------------------------

    async fn blob_get(
        &self,
        name: &str,
        reference: &str,
        headers: &HeaderMap,
        head: bool,
    ) -> ApiResult {
        let d = parse_digest(reference)?;
        if !self.linked(name, &d).await? {
            return Err(ApiError::blob_unknown(reference));
        }
        let size = self
            .blob_size(&d)
            .await?
            .ok_or_else(|| ApiError::blob_unknown(reference))?;
        let range = parse_range(header_str(headers, header::RANGE), size).map_err(|_| {
            ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UNKNOWN",
                format!("requested range not satisfiable for a blob of {size} bytes"),
            )
            .header("content-range", format!("bytes */{size}"))
        })?;
        let mut headers = vec![
            ("docker-content-digest", d.to_string()),
            ("accept-ranges", "bytes".to_string()),
            ("content-type", "application/octet-stream".to_string()),
            ("etag", format!("\"{d}\"")),
        ];
        let status = match &range {
            Some(r) => {
                headers.push((
                    "content-range",
                    format!("bytes {}-{}/{size}", r.start, r.end - 1),
                ));
                headers.push(("content-length", (r.end - r.start).to_string()));
                StatusCode::PARTIAL_CONTENT
            }
            None => {
                headers.push(("content-length", size.to_string()));
                StatusCode::OK
            }
        };
        if head {
            return Ok(respond(status, &headers, Body::empty()));
        }
        let read = self
            .storage
            .blob_get(&d, range)
            .await?
            .ok_or_else(|| ApiError::blob_unknown(reference))?;
        Ok(respond(status, &headers, Body::from_stream(read.stream)))
    }

    async fn blob_delete(&self, name: &str, reference: &str) -> ApiResult {
        let d = parse_digest(reference)?;
        self.cache.set_linked(name, &d, false);
        if !self.storage.unlink_blob(name, &d).await? {
            return Err(ApiError::blob_unknown(reference));
        }
        Ok(respond(
            StatusCode::ACCEPTED,
            &[("docker-content-digest", d.to_string())],
            Body::empty(),
        ))
    }

    fn blob_created(name: &str, d: &Digest) -> Response {
        respond(
            StatusCode::CREATED,
            &[
                ("location", format!("/v2/{name}/blobs/{d}")),
                ("docker-content-digest", d.to_string()),
                ("content-length", "0".into()),
            ],
            Body::empty(),
        )
    }

    fn upload_headers(name: &str, id: &str, size: u64) -> Vec<(&'static str, String)> {
        vec![
            ("location", format!("/v2/{name}/blobs/uploads/{id}")),
            ("range", range_header(size)),
            ("docker-upload-uuid", id.to_string()),
            ("content-length", "0".into()),
        ]
    }

    async fn upload_post(&self, name: &str, req: Request) -> ApiResult {
        let q = query(&req);
        if let Some(mount) = q.get("mount") {
            let d = parse_digest(mount)?;
            if let Some(from) = q.get("from").filter(|f| valid_name(f)) {
                let may_pull = self
                    .authorize(
                        req.headers(),
                        &Need::Repo {
                            name: from.clone(),
                            actions: vec!["pull"],
                        },
                    )
                    .await
                    .is_ok();
                if may_pull && self.storage.blob_linked(from, &d).await? {
                    if let Some(size) = self.storage.blob_stat(&d).await? {
                        self.storage.touch(&d).await?;
                        self.link(name, &d, size).await?;
                        return Ok(Self::blob_created(name, &d));
                    }
                }
            }
            // Not mountable: fall back to a new upload session (202), as the spec allows.
        } else if let Some(digest) = q.get("digest") {
            let d = parse_digest(digest)?;
            let size = self
                .storage
                .blob_put(&d, body_stream(req.into_body()))
                .await?;
            self.link(name, &d, size).await?;
            return Ok(Self::blob_created(name, &d));
        }
        let id = self.storage.upload_start(name).await?;
        Ok(respond(
            StatusCode::ACCEPTED,
            &Self::upload_headers(name, &id, 0),
            Body::empty(),
        ))
    }

    /// The size of session `id`, which must belong to `name`.
    async fn session(&self, name: &str, id: &str) -> Result<u64, ApiError> {
        match self.storage.upload_info(id).await? {
            Some(info) if info.repo == name => Ok(info.size),
            _ => Err(ApiError::upload_unknown(id)),
        }
    }

    /// Appends a request body to a session after checking its `Content-Range`.
    async fn append(&self, name: &str, id: &str, req: Request) -> Result<u64, ApiError> {
        let size = self.session(name, id).await?;
        let headers = req.headers();
        if let Some(cr) = header_str(headers, header::CONTENT_RANGE) {
            let (start, end) = parse_content_range(cr).ok_or_else(|| {
                ApiError::upload_invalid(format!("malformed Content-Range {cr:?}"))
            })?;
            if start != size {
                return Err(ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "BLOB_UPLOAD_INVALID",
                    format!("chunk starts at {start} but the upload holds {size} bytes"),
                )
                .header("location", format!("/v2/{name}/blobs/uploads/{id}"))
                .header("range", range_header(size))
                .header("docker-upload-uuid", id));
            }
            let declared =
                header_str(headers, header::CONTENT_LENGTH).and_then(|l| l.parse::<u64>().ok());
            if declared.is_some_and(|l| l != end - start + 1) {
                return Err(ApiError::upload_invalid(format!(
                    "Content-Range {cr:?} does not match Content-Length"
                )));
            }
        }
        let empty = header_str(headers, header::CONTENT_LENGTH) == Some("0");
        if empty {
            return Ok(size);
        }
        Ok(self
            .storage
            .upload_append(id, body_stream(req.into_body()))
            .await?)
    }

    async fn upload_patch(&self, name: &str, id: &str, req: Request) -> ApiResult {
        let size = self.append(name, id, req).await?;
        Ok(respond(
            StatusCode::ACCEPTED,
            &Self::upload_headers(name, id, size),
            Body::empty(),
        ))
    }

    async fn upload_put(&self, name: &str, id: &str, req: Request) -> ApiResult {
        let q = query(&req);
        let d = parse_digest(q.get("digest").map(String::as_str).unwrap_or(""))?;
        self.append(name, id, req).await?;
        let size = self.storage.upload_finish(id, &d).await?;
        self.link(name, &d, size).await?;
        Ok(Self::blob_created(name, &d))
    }

    async fn upload_status(&self, name: &str, id: &str) -> ApiResult {
        let size = self.session(name, id).await?;
        let mut h = Self::upload_headers(name, id, size);
        h.retain(|(k, _)| *k != "content-length");
        Ok(respond(StatusCode::NO_CONTENT, &h, Body::empty()))
    }

    async fn upload_delete(&self, name: &str, id: &str) -> ApiResult {
        self.session(name, id).await?;
        self.storage.upload_cancel(id).await?;
        Ok(respond(StatusCode::NO_CONTENT, &[], Body::empty()))
    }

    // --- manifests ------------------------------------------------------------------

    async fn manifest_get(&self, name: &str, reference: &str, head: bool) -> ApiResult {
        let (d, media_type) = self.resolve(name, reference).await?;
        let body = self
            .read_small_blob(&d)
            .await?
            .ok_or_else(|| ApiError::manifest_unknown(reference))?;
        let headers = [
            ("content-type", media_type),
            ("docker-content-digest", d.to_string()),
            ("content-length", body.len().to_string()),
            ("etag", format!("\"{d}\"")),
        ];
        let body = if head {
            Body::empty()
        } else {
            Body::from(body)
        };
        Ok(respond(StatusCode::OK, &headers, body))
    }

    /// Checks that `d`, referenced by a manifest, is a blob `repo` may use.
    async fn require_blob(&self, repo: &str, d: &Digest) -> Result<(), ApiError> {
        // Straight from storage: a cached entry may predate a concurrent garbage collection.
        let ok =
            self.storage.blob_linked(repo, d).await? && self.storage.blob_stat(d).await?.is_some();
        if ok {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "MANIFEST_BLOB_UNKNOWN",
                format!("manifest references blob {d}, which is unknown to repository {repo}"),
            )
            .detail(json!({ "digest": d.to_string() })))
        }
    }

    async fn manifest_put(&self, name: &str, reference: &str, req: Request) -> ApiResult {
        let by_digest = if reference.contains(':') {
            Some(parse_digest(reference)?)
        } else if valid_tag(reference) {
            None
        } else {
            return Err(ApiError::manifest_invalid(format!(
                "invalid tag {reference:?}: tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}"
            ))
            .detail(json!({ "tag": reference })));
        };
        let too_big = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "SIZE_INVALID",
                format!("manifest exceeds the limit of {MAX_MANIFEST_BYTES} bytes"),
            )
        };
        let declared =
            header_str(req.headers(), header::CONTENT_LENGTH).and_then(|l| l.parse::<u64>().ok());
        if declared.is_some_and(|l| l > MAX_MANIFEST_BYTES as u64) {
            return Err(too_big());
        }
        let content_type = header_str(req.headers(), header::CONTENT_TYPE)
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .filter(|c| !c.is_empty());
        let body = axum::body::to_bytes(req.into_body(), MAX_MANIFEST_BYTES)
            .await
            .map_err(|_| too_big())?;
        let algorithm = by_digest
            .as_ref()
            .map(Digest::algorithm)
            .unwrap_or(Algorithm::Sha256);
        let d = Digest::of(algorithm, &body);
        if let Some(want) = &by_digest {
            if want != &d {
                return Err(ApiError::digest_invalid(format!(
                    "manifest digest {d} does not match {want} in the URL"
                ))
                .detail(json!({ "digest": want.to_string() })));
            }
        }
        let parsed = Manifest::parse(&body, content_type.as_deref())?;

        // Mark first, check second: a garbage collection that starts in between then
        // keeps the blobs this manifest needs.
        for b in parsed.blobs.iter().chain(&parsed.children) {
            self.storage.touch(b).await?;
        }
        for b in &parsed.blobs {
            self.require_blob(name, b).await?;
        }
        for c in &parsed.children {
            if self.storage.manifest_media_type(name, c).await?.is_none() {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_BLOB_UNKNOWN",
                    format!("index references manifest {c}, which is unknown to repository {name}"),
                )
                .detail(json!({ "digest": c.to_string() })));
            }
        }

        if self.storage.blob_stat(&d).await?.is_none() {
            let body = body.clone();
            let stream: ByteStream = Box::pin(futures_util::stream::once(async move { Ok(body) }));
            self.storage.blob_put(&d, stream).await?;
        }
        self.storage.touch(&d).await?;
        self.storage
            .manifest_link(name, &d, &parsed.media_type)
            .await?;
        self.cache.set_revision(name, &d, Some(&parsed.media_type));
        self.cache.set_manifest(&d, &body);
        if by_digest.is_none() {
            self.storage.tag_put(name, reference, &d).await?;
            self.cache.set_tag(name, reference, Some(&d));
        }
        let mut headers = vec![
            ("location", format!("/v2/{name}/manifests/{d}")),
            ("docker-content-digest", d.to_string()),
            ("content-length", "0".into()),
        ];
        if let Some(subject) = &parsed.subject {
            let desc = parsed.descriptor(&d, body.len());
            self.storage
                .referrer_put(name, subject, &d, Bytes::from(desc.to_string()))
                .await?;
            headers.push(("oci-subject", subject.to_string()));
        }
        self.ensure_repo(name).await?;
        Ok(respond(StatusCode::CREATED, &headers, Body::empty()))
    }

    async fn manifest_delete(&self, name: &str, reference: &str) -> ApiResult {
        if !reference.contains(':') {
            // Deleting a tag removes only the tag.
            if !valid_tag(reference) || !self.storage.tag_delete(name, reference).await? {
                return Err(ApiError::manifest_unknown(reference));
            }
            self.cache.set_tag(name, reference, None);
            return Ok(respond(StatusCode::ACCEPTED, &[], Body::empty()));
        }
        let d = parse_digest(reference)?;
        if self.storage.manifest_media_type(name, &d).await?.is_none() {
            return Err(ApiError::manifest_unknown(reference));
        }
        if let Some(body) = self.read_small_blob(&d).await? {
            if let Ok(m) = Manifest::parse(&body, None) {
                if let Some(subject) = m.subject {
                    self.storage.referrer_delete(name, &subject, &d).await?;
                }
            }
        }
        for tag in self.storage.tag_list(name).await? {
            if self.storage.tag_get(name, &tag).await?.as_ref() == Some(&d) {
                self.storage.tag_delete(name, &tag).await?;
            }
        }
        self.cache.drop_tags_to(name, &d);
        self.storage.manifest_unlink(name, &d).await?;
        self.cache.set_revision(name, &d, None);
        Ok(respond(StatusCode::ACCEPTED, &[], Body::empty()))
    }

    // --- listings -------------------------------------------------------------------

    async fn tags_list(&self, name: &str, q: &HashMap<String, String>) -> ApiResult {
        if !self.storage.repo_exists(name).await? {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                "repository name not known to registry",
            )
            .detail(json!({ "name": name })));
        }
        let (tags, more) = paginate(self.storage.tag_list(name).await?, q)?;
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(n) = more {
            headers.extend(link_header(&format!("/v2/{name}/tags/list"), &tags, n));
        }
        let body = json!({ "name": name, "tags": tags });
        Ok(respond(
            StatusCode::OK,
            &headers,
            Body::from(body.to_string()),
        ))
    }

    async fn catalog(&self, q: &HashMap<String, String>) -> ApiResult {
        let (repos, more) = paginate(self.storage.repo_list().await?, q)?;
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(n) = more {
            headers.extend(link_header("/v2/_catalog", &repos, n));
        }
        let body = json!({ "repositories": repos });
        Ok(respond(
            StatusCode::OK,
            &headers,
            Body::from(body.to_string()),
        ))
    }

    async fn referrers(
        &self,
        name: &str,
        reference: &str,
        q: &HashMap<String, String>,
    ) -> ApiResult {
        let subject = parse_digest(reference)?;
        let filter = q.get("artifactType");
        let mut manifests = Vec::new();
        for raw in self.storage.referrers(name, &subject).await? {
            let Ok(desc) = serde_json::from_slice::<Value>(&raw) else {
                continue;
            };
            let matches =
                filter.is_none_or(|f| desc.get("artifactType").and_then(Value::as_str) == Some(f));
            if matches {
                manifests.push(desc);
            }
        }
        let body = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        });
        let mut headers = vec![("content-type", OCI_INDEX.to_string())];
        if filter.is_some() {
            headers.push(("oci-filters-applied", "artifactType".into()));
        }
        Ok(respond(
            StatusCode::OK,
            &headers,
            Body::from(body.to_string()),
        ))
    }
}

/// What a pushed manifest refers to.
struct Manifest {
    media_type: String,
    blobs: Vec<Digest>,
    children: Vec<Digest>,
    subject: Option<Digest>,
    artifact_type: Option<String>,
    annotations: Option<Value>,
}

fn descriptor_digest(v: &Value, what: &str) -> Result<Digest, ApiError> {
    let s = v
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::manifest_invalid(format!("{what}: descriptor has no digest")))?;
    s.parse()
        .map_err(|e| ApiError::manifest_invalid(format!("{what}: {e}")))
}

impl Manifest {
    fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, ApiError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::manifest_invalid(format!("manifest is not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| ApiError::manifest_invalid("manifest is not a JSON object"))?;
        if obj.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
            return Err(ApiError::manifest_invalid(
                "only schemaVersion 2 manifests are accepted (Docker schema 1 is not supported)",
            ));
        }
        let body_type = obj.get("mediaType").and_then(Value::as_str);
        if let (Some(ct), Some(bt)) = (content_type, body_type) {
            if ct != bt {
                return Err(ApiError::manifest_invalid(format!(
                    "Content-Type {ct} does not match the manifest's mediaType {bt}"
                )));
            }
        }
        let is_index = obj.contains_key("manifests");
        let media_type = content_type
            .or(body_type)
            .unwrap_or(if is_index { OCI_INDEX } else { OCI_MANIFEST })
            .to_string();
        let mut m = Manifest {
            media_type,
            blobs: Vec::new(),
            children: Vec::new(),
            subject: None,
            artifact_type: obj
                .get("artifactType")
                .and_then(Value::as_str)
                .map(str::to_string),
            annotations: obj.get("annotations").cloned(),
        };
        if is_index || m.media_type == OCI_INDEX || m.media_type == DOCKER_LIST {
            let list = obj
                .get("manifests")
                .and_then(Value::as_array)
                .ok_or_else(|| ApiError::manifest_invalid("index has no manifests array"))?;
            for (i, c) in list.iter().enumerate() {
                m.children
                    .push(descriptor_digest(c, &format!("manifests[{i}]"))?);
            }
        } else {
            let config = obj
                .get("config")
                .ok_or_else(|| ApiError::manifest_invalid("manifest has no config descriptor"))?;
            m.blobs.push(descriptor_digest(config, "config")?);
            if m.artifact_type.is_none() {
                m.artifact_type = config
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            let layers = match obj.get("layers") {
                None => &Vec::new(),
                Some(l) => l
                    .as_array()
                    .ok_or_else(|| ApiError::manifest_invalid("layers is not an array"))?,
            };
            for (i, l) in layers.iter().enumerate() {
                let d = descriptor_digest(l, &format!("layers[{i}]"))?;
                // Foreign layers live elsewhere (their `urls`); they need not be pushed.
                let foreign = l
                    .get("urls")
                    .and_then(Value::as_array)
                    .is_some_and(|u| !u.is_empty());
                if !foreign {
                    m.blobs.push(d);
                }
            }
        }
        if let Some(s) = obj.get("subject") {
            m.subject = Some(descriptor_digest(s, "subject")?);
        }
        Ok(m)
    }

    /// The descriptor the referrers API lists for this manifest.
    fn descriptor(&self, d: &Digest, size: usize) -> Value {
        let mut o = Map::new();
        o.insert("mediaType".into(), json!(self.media_type));
        o.insert("digest".into(), json!(d.to_string()));
        o.insert("size".into(), json!(size));
        if let Some(t) = &self.artifact_type {
            o.insert("artifactType".into(), json!(t));
        }
        if let Some(a) = &self.annotations {
            o.insert("annotations".into(), a.clone());
        }
        Value::Object(o)
    }
}

async fn handle(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    let mut resp = match route(&reg, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        axum::http::HeaderValue::from_static("registry/2.0"),
    );
    resp
}

async fn route(reg: &Registry, req: Request) -> ApiResult {
    let path = req.uri().path().to_string();
    let Some(r) = parse_route(&path) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no such endpoint: {path}"),
        ));
    };
    let method = req.method().clone();
    let name = match &r {
        Route::Base | Route::Catalog => None,
        Route::Tags(n)
        | Route::Manifest(n, _)
        | Route::Blob(n, _)
        | Route::Upload(n, _)
        | Route::Referrers(n, _) => Some(*n),
    };
    if let Some(n) = name {
        if !valid_name(n) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "NAME_INVALID",
                format!("invalid repository name {n:?}"),
            )
            .detail(json!({ "name": n })));
        }
    }
    let read = method == Method::GET || method == Method::HEAD;
    if !read && reg.read_only {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "the registry is in read-only mode",
        ));
    }
    let need = match (&r, name) {
        (Route::Base, _) => Need::Base,
        (Route::Catalog, _) => Need::Catalog,
        (_, Some(n)) => Need::Repo {
            name: n.to_string(),
            actions: if read {
                vec!["pull"]
            } else if method == Method::DELETE {
                vec!["delete"]
            } else {
                vec!["pull", "push"]
            },
        },
        (_, None) => Need::Base,
    };
    reg.authorize(req.headers(), &need).await?;
    let q = query(&req);

    let unsupported = || {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            format!("{method} is not supported on {path}"),
        )
    };
    match r {
        Route::Base if read => Ok(respond(
            StatusCode::OK,
            &[("content-type", "application/json".into())],
            Body::from("{}"),
        )),
        Route::Catalog if read => reg.catalog(&q).await,
        Route::Tags(n) if read => reg.tags_list(n, &q).await,
        Route::Referrers(n, d) if read => reg.referrers(n, d, &q).await,
        Route::Blob(n, d) if read => {
            reg.blob_get(n, d, req.headers(), method == Method::HEAD)
                .await
        }
        Route::Blob(n, d) if method == Method::DELETE => reg.blob_delete(n, d).await,
        Route::Manifest(n, rf) if read => reg.manifest_get(n, rf, method == Method::HEAD).await,
        Route::Manifest(n, rf) if method == Method::PUT => reg.manifest_put(n, rf, req).await,
        Route::Manifest(n, rf) if method == Method::DELETE => reg.manifest_delete(n, rf).await,
        Route::Upload(n, None) if method == Method::POST => reg.upload_post(n, req).await,
        Route::Upload(n, Some(id)) => match method {
            Method::GET => reg.upload_status(n, id).await,
            Method::PATCH => reg.upload_patch(n, id, req).await,
            Method::PUT => reg.upload_put(n, id, req).await,
            Method::DELETE => reg.upload_delete(n, id).await,
            _ => Err(unsupported()),
        },
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests;
