//! The spec's paths and errors, driven through the router in memory.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;
use crate::storage::fs::FsStorage;

struct T {
    app: Router,
    _dir: tempfile::TempDir,
}

impl T {
    fn new() -> T {
        Self::with(false)
    }

    fn with(read_only: bool) -> T {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(FsStorage::open(dir.path()).unwrap());
        T {
            app: Registry::new(s, None, read_only).router(),
            _dir: dir,
        }
    }

    async fn req(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.app
            .clone()
            .oneshot(b.body(Body::from(body.to_vec())).unwrap())
            .await
            .unwrap()
    }

    async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = Digest::of(Algorithm::Sha256, data).to_string();
        let r = self
            .req(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &[],
                data,
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        d
    }

    async fn push_image(&self, repo: &str, tag: &str) -> (String, String, String) {
        let config = self.push_blob(repo, b"{\"architecture\":\"amd64\"}").await;
        let layer = self.push_blob(repo, b"layer-data").await;
        let m = image_manifest(&config, &layer, None);
        let r = self
            .req(
                "PUT",
                &format!("/v2/{repo}/manifests/{tag}"),
                &[("content-type", OCI_MANIFEST)],
                m.as_bytes(),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{}", text(r).await);
        (
            config,
            layer,
            Digest::of(Algorithm::Sha256, m.as_bytes()).to_string(),
        )
    }
}

fn image_manifest(config: &str, layer: &str, subject: Option<(&str, &str)>) -> String {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 25},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 10}],
    });
    if let Some((d, at)) = subject {
        m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": d, "size": 1});
        m["artifactType"] = json!(at);
    }
    m.to_string()
}

async fn text(r: Response) -> String {
    let b = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8_lossy(&b).into_owned()
}

async fn error_code(r: Response) -> String {
    let v: Value = serde_json::from_str(&text(r).await).unwrap();
    v["errors"][0]["code"].as_str().unwrap().to_string()
}

fn hdr<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[test]
fn routes() {
    assert_eq!(parse_route("/v2/"), Some(Route::Base));
    assert_eq!(parse_route("/v2"), Some(Route::Base));
    assert_eq!(parse_route("/v2/_catalog"), Some(Route::Catalog));
    assert_eq!(parse_route("/v2/a/b/tags/list"), Some(Route::Tags("a/b")));
    assert_eq!(
        parse_route("/v2/a/manifests/x/manifests/v1"),
        Some(Route::Manifest("a/manifests/x", "v1"))
    );
    assert_eq!(
        parse_route("/v2/a/blobs/uploads/"),
        Some(Route::Upload("a", None))
    );
    assert_eq!(
        parse_route("/v2/a/blobs/uploads/abc"),
        Some(Route::Upload("a", Some("abc")))
    );
    assert_eq!(
        parse_route("/v2/a/blobs/sha256:x"),
        Some(Route::Blob("a", "sha256:x"))
    );
    assert_eq!(
        parse_route("/v2/a/referrers/sha256:x"),
        Some(Route::Referrers("a", "sha256:x"))
    );
    assert_eq!(parse_route("/v1/a"), None);
    assert_eq!(parse_route("/v2/a/blobs/"), None);
}

#[test]
fn ranges() {
    assert_eq!(parse_range(None, 10), Ok(None));
    assert_eq!(parse_range(Some("bytes=0-4"), 10), Ok(Some(0..5)));
    assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some(5..10)));
    assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some(7..10)));
    assert_eq!(parse_range(Some("bytes=8-100"), 10), Ok(Some(8..10)));
    assert!(parse_range(Some("bytes=10-"), 10).is_err());
    assert!(parse_range(Some("bytes=4-2"), 10).is_err());
    assert!(parse_range(Some("items=0-1"), 10).is_err());
    assert_eq!(parse_content_range("0-99"), Some((0, 99)));
    assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 9)));
    assert_eq!(parse_content_range("9-5"), None);
}

#[tokio::test]
async fn base_endpoint_announces_the_api_version() {
    let t = T::new();
    let r = t.req("GET", "/v2/", &[], b"").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(hdr(&r, "docker-distribution-api-version"), "registry/2.0");
    let r = t.req("GET", "/nope", &[], b"").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_names_and_digests() {
    let t = T::new();
    for uri in [
        "/v2/a/../b/tags/list",
        "/v2/Upper/tags/list",
        "/v2/a..b/manifests/x",
    ] {
        let r = t.req("GET", uri, &[], b"").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(error_code(r).await, "NAME_INVALID");
    }
    let r = t.req("GET", "/v2/a/blobs/sha256:zz", &[], b"").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let d = Digest::of(Algorithm::Sha256, b"x");
    let r = t.req("GET", &format!("/v2/a/blobs/{d}"), &[], b"").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    let r = t.req("GET", "/v2/a/manifests/latest", &[], b"").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let r = t.req("GET", "/v2/a/tags/list", &[], b"").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
}

#[tokio::test]
async fn monolithic_push_verifies_digest_and_serves_ranges() {
    let t = T::new();
    let wrong = Digest::of(Algorithm::Sha256, b"other");
    let r = t
        .req(
            "POST",
            &format!("/v2/a/blobs/uploads/?digest={wrong}"),
            &[],
            b"data",
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = t
        .req("HEAD", &format!("/v2/a/blobs/{wrong}"), &[], b"")
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let d = t.push_blob("a", b"0123456789").await;
    let r = t.req("HEAD", &format!("/v2/a/blobs/{d}"), &[], b"").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(hdr(&r, "content-length"), "10");
    assert_eq!(hdr(&r, "docker-content-digest"), d);
    let r = t
        .req(
            "GET",
            &format!("/v2/a/blobs/{d}"),
            &[("range", "bytes=2-5")],
            b"",
        )
        .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(hdr(&r, "content-range"), "bytes 2-5/10");
    assert_eq!(text(r).await, "2345");
    let r = t
        .req(
            "GET",
            &format!("/v2/a/blobs/{d}"),
            &[("range", "bytes=20-")],
            b"",
        )
        .await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(hdr(&r, "content-range"), "bytes */10");
    // Blobs are per repository.
    let r = t.req("GET", &format!("/v2/b/blobs/{d}"), &[], b"").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // sha512 works too.
    let d512 = Digest::of(Algorithm::Sha512, b"big hash");
    let r = t
        .req(
            "POST",
            &format!("/v2/a/blobs/uploads/?digest={d512}"),
            &[],
            b"big hash",
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = t.req("GET", &format!("/v2/a/blobs/{d512}"), &[], b"").await;
    assert_eq!(text(r).await, "big hash");

    let r = t.req("DELETE", &format!("/v2/a/blobs/{d}"), &[], b"").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = t.req("HEAD", &format!("/v2/a/blobs/{d}"), &[], b"").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = t.req("DELETE", &format!("/v2/a/blobs/{d}"), &[], b"").await;
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn chunked_upload_status_out_of_order_and_cancel() {
    let t = T::new();
    let r = t.req("POST", "/v2/a/blobs/uploads/", &[], b"").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let loc = hdr(&r, "location").to_string();
    let id = hdr(&r, "docker-upload-uuid").to_string();
    assert_eq!(loc, format!("/v2/a/blobs/uploads/{id}"));
    assert_eq!(hdr(&r, "range"), "0-0");

    let r = t
        .req(
            "PATCH",
            &loc,
            &[("content-range", "0-4"), ("content-length", "5")],
            b"hello",
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(hdr(&r, "range"), "0-4");
    let r = t
        .req("PATCH", &loc, &[("content-range", "9-10")], b"xx")
        .await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(hdr(&r, "range"), "0-4");
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_INVALID");
    let r = t
        .req("PATCH", &loc, &[("content-range", "5-10")], b" world")
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = t.req("GET", &loc, &[], b"").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(hdr(&r, "range"), "0-10");
    assert_eq!(hdr(&r, "docker-upload-uuid"), id);
    // The session belongs to repository a only.
    let r = t
        .req("GET", &format!("/v2/b/blobs/uploads/{id}"), &[], b"")
        .await;
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");

    let d = Digest::of(Algorithm::Sha256, b"hello world!");
    let r = t.req("PUT", &format!("{loc}?digest={d}"), &[], b"!").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(hdr(&r, "location"), format!("/v2/a/blobs/{d}"));
    let r = t.req("GET", &format!("/v2/a/blobs/{d}"), &[], b"").await;
    assert_eq!(text(r).await, "hello world!");
    let r = t.req("GET", &loc, &[], b"").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A wrong digest at the end stores nothing.
    let r = t.req("POST", "/v2/a/blobs/uploads/", &[], b"").await;
    let loc = hdr(&r, "location").to_string();
    let r = t
        .req("PUT", &format!("{loc}?digest={d}"), &[], b"not it")
        .await;
    assert_eq!(error_code(r).await, "DIGEST_INVALID");

    let r = t.req("POST", "/v2/a/blobs/uploads/", &[], b"").await;
    let loc = hdr(&r, "location").to_string();
    assert_eq!(
        t.req("DELETE", &loc, &[], b"").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.req("DELETE", &loc, &[], b"").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn cross_repository_mount() {
    let t = T::new();
    let d = t.push_blob("src", b"shared").await;
    let r = t
        .req(
            "POST",
            &format!("/v2/dst/blobs/uploads/?mount={d}&from=src"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(hdr(&r, "location"), format!("/v2/dst/blobs/{d}"));
    assert_eq!(
        t.req("HEAD", &format!("/v2/dst/blobs/{d}"), &[], b"")
            .await
            .status(),
        StatusCode::OK
    );
    // Unknown source: a new session instead.
    let r = t
        .req(
            "POST",
            &format!("/v2/dst2/blobs/uploads/?mount={d}&from=nowhere"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(hdr(&r, "location").starts_with("/v2/dst2/blobs/uploads/"));
}

#[tokio::test]
async fn manifests_by_tag_and_digest() {
    let t = T::new();
    let (config, layer, md) = t.push_image("lib/app", "v1").await;
    for reference in ["v1", md.as_str()] {
        let r = t
            .req(
                "GET",
                &format!("/v2/lib/app/manifests/{reference}"),
                &[],
                b"",
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(hdr(&r, "content-type"), OCI_MANIFEST);
        assert_eq!(hdr(&r, "docker-content-digest"), md);
        assert_eq!(text(r).await, image_manifest(&config, &layer, None));
        let r = t
            .req(
                "HEAD",
                &format!("/v2/lib/app/manifests/{reference}"),
                &[],
                b"",
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(hdr(&r, "content-length").parse::<usize>().unwrap() > 100);
    }

    // Docker schema 2 keeps its own content type.
    let docker = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config, "size": 1},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": layer, "size": 1}],
    })
    .to_string();
    let ct = "application/vnd.docker.distribution.manifest.v2+json";
    let r = t
        .req(
            "PUT",
            "/v2/lib/app/manifests/docker",
            &[("content-type", ct)],
            docker.as_bytes(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let dd = hdr(&r, "docker-content-digest").to_string();
    let r = t.req("GET", "/v2/lib/app/manifests/docker", &[], b"").await;
    assert_eq!(hdr(&r, "content-type"), ct);

    // An index of both, by digest.
    let list = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            {"mediaType": ct, "digest": dd, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": md, "size": 1},
        ],
    })
    .to_string();
    let ld = Digest::of(Algorithm::Sha256, list.as_bytes());
    let r = t
        .req(
            "PUT",
            &format!("/v2/lib/app/manifests/{ld}"),
            &[("content-type", DOCKER_LIST)],
            list.as_bytes(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(hdr(&r, "location"), format!("/v2/lib/app/manifests/{ld}"));
    let r = t
        .req("GET", &format!("/v2/lib/app/manifests/{ld}"), &[], b"")
        .await;
    assert_eq!(hdr(&r, "content-type"), DOCKER_LIST);

    // Tag deletion removes only the tag; digest deletion removes the manifest and its tags.
    assert_eq!(
        t.req("DELETE", "/v2/lib/app/manifests/docker", &[], b"")
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        t.req("GET", "/v2/lib/app/manifests/docker", &[], b"")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.req("GET", &format!("/v2/lib/app/manifests/{dd}"), &[], b"")
            .await
            .status(),
        StatusCode::OK
    );
    let r = t
        .req("DELETE", &format!("/v2/lib/app/manifests/{md}"), &[], b"")
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        t.req("GET", "/v2/lib/app/manifests/v1", &[], b"")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.req("GET", &format!("/v2/lib/app/manifests/{md}"), &[], b"")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let r = t
        .req("DELETE", &format!("/v2/lib/app/manifests/{md}"), &[], b"")
        .await;
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn manifest_errors() {
    let t = T::new();
    let config = t.push_blob("a", b"{}").await;
    let missing = Digest::of(Algorithm::Sha256, b"never pushed").to_string();
    let m = image_manifest(&config, &missing, None);
    let r = t
        .req(
            "PUT",
            "/v2/a/manifests/x",
            &[("content-type", OCI_MANIFEST)],
            m.as_bytes(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");

    let r = t
        .req(
            "PUT",
            "/v2/a/manifests/x",
            &[("content-type", OCI_MANIFEST)],
            b"{not json",
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");

    let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
    let r = t
        .req(
            "PUT",
            "/v2/a/manifests/x",
            &[("content-type", OCI_MANIFEST)],
            &big,
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(r).await, "SIZE_INVALID");

    let m = image_manifest(&config, &config, None);
    let wrong = Digest::of(Algorithm::Sha256, b"x");
    let r = t
        .req(
            "PUT",
            &format!("/v2/a/manifests/{wrong}"),
            &[("content-type", OCI_MANIFEST)],
            m.as_bytes(),
        )
        .await;
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = t
        .req(
            "PUT",
            "/v2/a/manifests/x",
            &[("content-type", OCI_INDEX)],
            m.as_bytes(),
        )
        .await;
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    let r = t
        .req("PUT", "/v2/a/manifests/.bad", &[], m.as_bytes())
        .await;
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");

    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"digest": missing, "size": 1}]});
    let r = t
        .req(
            "PUT",
            "/v2/a/manifests/i",
            &[("content-type", OCI_INDEX)],
            index.to_string().as_bytes(),
        )
        .await;
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
}

#[tokio::test]
async fn referrers_with_artifact_type_filter() {
    let t = T::new();
    let (config, layer, subject) = t.push_image("a", "v1").await;
    let mut digests = Vec::new();
    for at in [
        "application/vnd.example.sbom",
        "application/vnd.example.sig",
    ] {
        let m = image_manifest(&config, &layer, Some((&subject, at)));
        let d = Digest::of(Algorithm::Sha256, m.as_bytes()).to_string();
        let r = t
            .req(
                "PUT",
                &format!("/v2/a/manifests/{d}"),
                &[("content-type", OCI_MANIFEST)],
                m.as_bytes(),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(hdr(&r, "oci-subject"), subject);
        digests.push(d);
    }
    let r = t
        .req("GET", &format!("/v2/a/referrers/{subject}"), &[], b"")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(hdr(&r, "content-type"), OCI_INDEX);
    assert_eq!(hdr(&r, "oci-filters-applied"), "");
    let v: Value = serde_json::from_str(&text(r).await).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    let r = t
        .req(
            "GET",
            &format!("/v2/a/referrers/{subject}?artifactType=application/vnd.example.sig"),
            &[],
            b"",
        )
        .await;
    assert_eq!(hdr(&r, "oci-filters-applied"), "artifactType");
    let v: Value = serde_json::from_str(&text(r).await).unwrap();
    let m = v["manifests"].as_array().unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["digest"], digests[1]);
    assert_eq!(m[0]["artifactType"], "application/vnd.example.sig");
    // Deleting a referrer removes it from the list.
    t.req(
        "DELETE",
        &format!("/v2/a/manifests/{}", digests[0]),
        &[],
        b"",
    )
    .await;
    let r = t
        .req("GET", &format!("/v2/a/referrers/{subject}"), &[], b"")
        .await;
    let v: Value = serde_json::from_str(&text(r).await).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
    // Unknown subject: an empty index.
    let none = Digest::of(Algorithm::Sha256, b"none");
    let r = t
        .req("GET", &format!("/v2/a/referrers/{none}"), &[], b"")
        .await;
    let v: Value = serde_json::from_str(&text(r).await).unwrap();
    assert_eq!(v["manifests"], json!([]));
}

#[tokio::test]
async fn tags_and_catalog_pagination() {
    let t = T::new();
    for tag in ["c", "a", "b"] {
        t.push_image("r1", tag).await;
    }
    t.push_image("r2/x", "t").await;
    t.push_image("r0", "t").await;
    let r = t.req("GET", "/v2/r1/tags/list", &[], b"").await;
    assert_eq!(text(r).await, r#"{"name":"r1","tags":["a","b","c"]}"#);
    let r = t.req("GET", "/v2/r1/tags/list?n=2", &[], b"").await;
    assert_eq!(
        hdr(&r, "link"),
        "</v2/r1/tags/list?last=b&n=2>; rel=\"next\""
    );
    assert_eq!(text(r).await, r#"{"name":"r1","tags":["a","b"]}"#);
    let r = t.req("GET", "/v2/r1/tags/list?n=2&last=b", &[], b"").await;
    assert_eq!(hdr(&r, "link"), "");
    assert_eq!(text(r).await, r#"{"name":"r1","tags":["c"]}"#);
    let r = t.req("GET", "/v2/r1/tags/list?n=0", &[], b"").await;
    assert_eq!(text(r).await, r#"{"name":"r1","tags":[]}"#);

    let r = t.req("GET", "/v2/_catalog", &[], b"").await;
    assert_eq!(text(r).await, r#"{"repositories":["r0","r1","r2/x"]}"#);
    let r = t.req("GET", "/v2/_catalog?n=1&last=r0", &[], b"").await;
    assert_eq!(hdr(&r, "link"), "</v2/_catalog?last=r1&n=1>; rel=\"next\"");
    assert_eq!(text(r).await, r#"{"repositories":["r1"]}"#);
    let r = t.req("GET", "/v2/_catalog?n=x", &[], b"").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn read_only_refuses_writes() {
    let t = T::with(true);
    let r = t.req("POST", "/v2/a/blobs/uploads/", &[], b"").await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(r).await, "UNSUPPORTED");
    assert_eq!(
        t.req("GET", "/v2/", &[], b"").await.status(),
        StatusCode::OK
    );
}
