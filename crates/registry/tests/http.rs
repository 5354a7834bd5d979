//! The whole push/pull flow over real HTTP: both storage backends, auth, TLS and GC.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use berth_registry::config::{AuthConfig, HtpasswdConfig, TlsConfig, TokenConfig};
use berth_registry::digest::{Algorithm, Digest};
use berth_registry::storage::fs::FsStorage;
use berth_registry::{gc, net, Auth, Registry, Storage};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio_rustls::rustls;

#[cfg(feature = "aws")]
#[path = "../src/storage/moto.rs"]
mod moto;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(
    storage: Arc<dyn Storage>,
    auth: Option<Auth>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Registry::new(storage, auth, false).router();
    Server {
        addr,
        task: tokio::spawn(net::serve(listener, tls, app)),
    }
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn h(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A one-request HTTP/1.1 client (plain or TLS).
struct Client {
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsConnector>,
    auth: Option<String>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            tls: None,
            auth: None,
        }
    }

    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        if let Some(a) = &self.auth {
            b = b.header("authorization", a);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let resp = match &self.tls {
            Some(c) => {
                let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
                let s = c.connect(name, tcp).await.unwrap();
                let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
                    .await
                    .unwrap();
                tokio::spawn(conn);
                tx.send_request(req).await.unwrap()
            }
            None => {
                let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .unwrap();
                tokio::spawn(conn);
                tx.send_request(req).await.unwrap()
            }
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }
}

fn digest(data: &[u8]) -> String {
    Digest::of(Algorithm::Sha256, data).to_string()
}

fn manifest(config: &str, layers: &[&str], subject: Option<&str>) -> String {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": 1})).collect::<Vec<_>>(),
    });
    if let Some(s) = subject {
        m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": s, "size": 1});
        m["artifactType"] = json!("application/vnd.example.sbom");
    }
    m.to_string()
}

async fn push_monolithic(c: &Client, repo: &str, data: &[u8]) -> String {
    let d = digest(data);
    let r = c
        .send(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            &[],
            data,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    d
}

/// PUTs an OCI manifest by its digest; returns the digest and the response.
async fn put_manifest(c: &Client, repo: &str, body: &str) -> (String, Resp) {
    let d = digest(body.as_bytes());
    let r = c
        .send(
            "PUT",
            &format!("/v2/{repo}/manifests/{d}"),
            &[("content-type", OCI_MANIFEST)],
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    (d, r)
}

/// Push, pull, mount, ranges, referrers, catalog and delete, as a client sees them.
async fn flow(c: &Client, storage: &dyn Storage) {
    let r = c.send("GET", "/v2/", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.h("docker-distribution-api-version"), "registry/2.0");

    // A chunked upload, with one chunk out of order.
    let layer: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let ld = digest(&layer);
    let r = c
        .send("POST", "/v2/team/app/blobs/uploads/", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let loc = r.h("location").to_string();
    let r = c
        .send(
            "PATCH",
            &loc,
            &[("content-range", "0-99999")],
            &layer[..100_000],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.h("range"), "0-99999");
    let r = c
        .send(
            "PATCH",
            &loc,
            &[("content-range", "150000-199999")],
            &layer[150_000..],
        )
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    let r = c.send("GET", &loc, &[], b"").await;
    assert_eq!(
        (r.status, r.h("range")),
        (StatusCode::NO_CONTENT, "0-99999")
    );
    let r = c
        .send(
            "PATCH",
            &loc,
            &[("content-range", "100000-199999")],
            &layer[100_000..],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = c.send("PUT", &format!("{loc}?digest={ld}"), &[], b"").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.h("docker-content-digest"), ld);

    // POST then PUT with the whole body.
    let config = b"{}".to_vec();
    let r = c
        .send("POST", "/v2/team/app/blobs/uploads/", &[], b"")
        .await;
    let loc = r.h("location").to_string();
    let cd = digest(&config);
    let r = c
        .send("PUT", &format!("{loc}?digest={cd}"), &[], &config)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // A blob whose bytes do not match: nothing stored.
    let bogus = digest(b"claimed");
    let r = c
        .send(
            "POST",
            &format!("/v2/team/app/blobs/uploads/?digest={bogus}"),
            &[],
            b"actual",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["errors"][0]["code"], "DIGEST_INVALID");
    assert!(storage
        .blob_stat(&bogus.parse().unwrap())
        .await
        .unwrap()
        .is_none());

    // Manifest by tag, pulled back by tag and digest.
    let m = manifest(&cd, &[&ld], None);
    let md = digest(m.as_bytes());
    let r = c
        .send(
            "PUT",
            "/v2/team/app/manifests/v1",
            &[("content-type", OCI_MANIFEST)],
            m.as_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.h("docker-content-digest"), md);
    let r = c
        .send(
            "GET",
            "/v2/team/app/manifests/v1",
            &[("accept", OCI_MANIFEST)],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.h("content-type"), OCI_MANIFEST);
    assert_eq!(r.body, m.as_bytes());
    let r = c
        .send("HEAD", &format!("/v2/team/app/manifests/{md}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.h("content-length"), m.len().to_string());
    assert!(r.body.is_empty());

    // Pull the layer whole and by range.
    let r = c
        .send("GET", &format!("/v2/team/app/blobs/{ld}"), &[], b"")
        .await;
    assert_eq!(r.body, layer);
    let r = c
        .send(
            "GET",
            &format!("/v2/team/app/blobs/{ld}"),
            &[("range", "bytes=1000-1999")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.h("content-range"), "bytes 1000-1999/200000");
    assert_eq!(r.body, &layer[1000..2000]);
    let r = c
        .send("HEAD", &format!("/v2/team/app/blobs/{ld}"), &[], b"")
        .await;
    assert_eq!(r.h("content-length"), "200000");

    // Mount into another repository, push there by digest.
    let r = c
        .send(
            "POST",
            &format!("/v2/team/copy/blobs/uploads/?mount={ld}&from=team/app"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = c
        .send(
            "POST",
            &format!("/v2/team/copy/blobs/uploads/?mount={cd}&from=team/app"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    put_manifest(c, "team/copy", &m).await;

    // A referrer (an SBOM with its own blob) and the referrers API.
    let sbom = push_monolithic(c, "team/app", b"sbom-data").await;
    let (ad, r) = put_manifest(c, "team/app", &manifest(&cd, &[&sbom], Some(&md))).await;
    assert_eq!(r.h("oci-subject"), md);
    let r = c
        .send(
            "GET",
            &format!("/v2/team/app/referrers/{md}?artifactType=application/vnd.example.sbom"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.h("oci-filters-applied"), "artifactType");
    assert_eq!(r.json()["manifests"][0]["digest"], ad);

    // Catalog with pagination.
    let r = c.send("GET", "/v2/_catalog?n=1", &[], b"").await;
    assert_eq!(r.json()["repositories"], json!(["team/app"]));
    assert_eq!(
        r.h("link"),
        "</v2/_catalog?last=team/app&n=1>; rel=\"next\""
    );
    let r = c
        .send("GET", "/v2/_catalog?n=1&last=team/app", &[], b"")
        .await;
    assert_eq!(r.json()["repositories"], json!(["team/copy"]));
    let r = c.send("GET", "/v2/team/app/tags/list", &[], b"").await;
    assert_eq!(r.json()["tags"], json!(["v1"]));

    // Delete the referrer: its SBOM blob becomes garbage; everything else stays.
    let r = c
        .send("DELETE", &format!("/v2/team/app/manifests/{ad}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = c
        .send("GET", &format!("/v2/team/app/manifests/{ad}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = gc::collect(storage, gc_opts(3600, false)).await.unwrap();
    assert!(r.blobs_deleted.is_empty(), "young blobs are kept: {r:?}");
    // Recent push markers keep blobs for one more run; the next one sweeps.
    gc::collect(storage, gc_opts(0, false)).await.unwrap();
    let r = gc::collect(storage, gc_opts(0, false)).await.unwrap();
    let mut expected: Vec<Digest> = vec![sbom.parse().unwrap(), ad.parse().unwrap()];
    expected.sort();
    assert_eq!(r.blobs_deleted, expected);
    let r = c
        .send("GET", &format!("/v2/team/app/blobs/{ld}"), &[], b"")
        .await;
    assert_eq!(r.body, layer);
    let r = c
        .send("GET", &format!("/v2/team/copy/manifests/{md}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Servers notice a collection within a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = c
        .send("HEAD", &format!("/v2/team/app/blobs/{sbom}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // --delete-untagged: team/copy's manifest (pushed by digest, no tag) goes, and a
    // referrer of it there; team/app's tagged manifest and a referrer of it stay.
    let kept_sbom = push_monolithic(c, "team/app", b"kept-sbom").await;
    let (kd, _) = put_manifest(c, "team/app", &manifest(&cd, &[&kept_sbom], Some(&md))).await;
    let dropped_sbom = push_monolithic(c, "team/copy", b"dropped-sbom").await;
    let (xd, _) = put_manifest(c, "team/copy", &manifest(&cd, &[&dropped_sbom], Some(&md))).await;
    let mut untagged = vec![format!("team/copy@{md}"), format!("team/copy@{xd}")];
    untagged.sort();
    let r = gc::collect(
        storage,
        gc::GcOptions {
            dry_run: true,
            ..untagged_opts()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.manifests_deleted, untagged);
    let r = c
        .send("GET", &format!("/v2/team/copy/manifests/{md}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK, "a dry run deletes nothing");
    let r = gc::collect(storage, untagged_opts()).await.unwrap();
    assert_eq!(r.manifests_deleted, untagged);
    // The push markers keep the new blobs for one more run, as above.
    let r = gc::collect(storage, untagged_opts()).await.unwrap();
    let mut swept: Vec<Digest> = vec![dropped_sbom.parse().unwrap(), xd.parse().unwrap()];
    swept.sort();
    assert_eq!(r.blobs_deleted, swept);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for (path, status) in [
        (
            format!("/v2/team/copy/manifests/{md}"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/v2/team/copy/manifests/{xd}"),
            StatusCode::NOT_FOUND,
        ),
        ("/v2/team/app/manifests/v1".to_string(), StatusCode::OK),
        (format!("/v2/team/app/manifests/{kd}"), StatusCode::OK),
        (format!("/v2/team/app/blobs/{kept_sbom}"), StatusCode::OK),
    ] {
        let r = c.send("GET", &path, &[("accept", OCI_MANIFEST)], b"").await;
        assert_eq!(r.status, status, "{path}");
    }
    let r = c
        .send("GET", &format!("/v2/team/app/referrers/{md}"), &[], b"")
        .await;
    assert_eq!(r.json()["manifests"][0]["digest"], kd);
}

fn gc_opts(grace_secs: u64, delete_untagged: bool) -> gc::GcOptions {
    gc::GcOptions {
        grace: Duration::from_secs(grace_secs),
        dry_run: false,
        delete_untagged,
    }
}

fn untagged_opts() -> gc::GcOptions {
    gc_opts(0, true)
}

#[tokio::test]
async fn push_pull_flow_on_the_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::open(dir.path()).unwrap());
    let s = start(storage.clone(), None, None).await;
    flow(&Client::new(s.addr), storage.as_ref()).await;

    // The CLI's gc on the same root.
    let args: Vec<std::ffi::OsString> = ["gc", "--dry-run", "--delete-untagged", "--root"]
        .iter()
        .map(Into::into)
        .chain([dir.path().as_os_str().to_owned()])
        .collect();
    let code = tokio::task::spawn_blocking(move || berth_registry::main(&args))
        .await
        .unwrap();
    assert_eq!(code, 0);
}

#[cfg(feature = "aws")]
#[tokio::test]
async fn push_pull_flow_on_s3() {
    let Some(moto) = moto::Moto::start("flow") else {
        return;
    };
    let cfg = berth_registry::config::S3Config {
        bucket: "flow".into(),
        endpoint: Some(format!("http://127.0.0.1:{}", moto.port)),
        region: "us-east-1".into(),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        prefix: String::new(),
    };
    let storage: Arc<dyn Storage> =
        Arc::new(berth_registry::storage::s3::S3Storage::new(&cfg).unwrap());
    let s = start(storage.clone(), None, None).await;
    flow(&Client::new(s.addr), storage.as_ref()).await;
}

#[tokio::test]
async fn htpasswd_auth_with_anonymous_pull() {
    let dir = tempfile::tempdir().unwrap();
    let htp = dir.path().join("htpasswd");
    std::fs::write(&htp, format!("ci:{}\n", bcrypt::hash("pw", 4).unwrap())).unwrap();
    let auth = Auth::from_config(&AuthConfig {
        htpasswd: Some(HtpasswdConfig {
            path: htp,
            realm: "berth".into(),
        }),
        token: None,
        anonymous_pull: true,
    })
    .unwrap();
    let storage = Arc::new(FsStorage::open(&dir.path().join("data")).unwrap());
    let s = start(storage, auth, None).await;
    let mut c = Client::new(s.addr);
    let d = digest(b"x");
    let r = c
        .send(
            "POST",
            &format!("/v2/a/blobs/uploads/?digest={d}"),
            &[],
            b"x",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.h("www-authenticate"), "Basic realm=\"berth\"");
    assert_eq!(r.json()["errors"][0]["code"], "UNAUTHORIZED");
    c.auth = Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ci:wrong")
    ));
    let r = c
        .send(
            "POST",
            &format!("/v2/a/blobs/uploads/?digest={d}"),
            &[],
            b"x",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    c.auth = Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ci:pw")
    ));
    push_monolithic(&c, "a", b"x").await;
    c.auth = None;
    let r = c.send("GET", &format!("/v2/a/blobs/{d}"), &[], b"").await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"x"[..]));
}

#[tokio::test]
async fn token_auth_from_an_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let pubkey = dir.path().join("issuer.pem");
    std::fs::write(&pubkey, key.public_key_pem()).unwrap();
    let auth = Auth::from_config(&AuthConfig {
        htpasswd: None,
        token: Some(TokenConfig {
            realm: "https://auth.test/token".into(),
            service: "berth-test".into(),
            issuer: "test-issuer".into(),
            public_key: pubkey,
        }),
        anonymous_pull: false,
    })
    .unwrap();
    let storage = Arc::new(FsStorage::open(&dir.path().join("data")).unwrap());
    let s = start(storage, auth, None).await;
    let mut c = Client::new(s.addr);

    let r = c.send("POST", "/v2/org/img/blobs/uploads/", &[], b"").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.h("www-authenticate"),
        "Bearer realm=\"https://auth.test/token\",service=\"berth-test\",scope=\"repository:org/img:pull,push\""
    );
    // The issuer, inside the test.
    let enc = jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = |access: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &json!({"iss": "test-issuer", "aud": "berth-test", "sub": "ci", "exp": now + 60, "access": access}),
            &enc,
        )
        .unwrap()
    };
    c.auth = Some(format!(
        "Bearer {}",
        token(json!([{"type": "repository", "name": "org/img", "actions": ["pull", "push"]}]))
    ));
    push_monolithic(&c, "org/img", b"layer").await;
    let r = c.send("GET", "/v2/_catalog", &[], b"").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r
        .h("www-authenticate")
        .contains("scope=\"registry:catalog:*\""));
    c.auth = Some(format!(
        "Bearer {}",
        token(json!([{"type": "registry", "name": "catalog", "actions": ["*"]}]))
    ));
    let r = c.send("GET", "/v2/_catalog", &[], b"").await;
    assert_eq!(r.json()["repositories"], json!(["org/img"]));
}

#[tokio::test]
async fn tls_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cp, kp) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cp, cert.cert.pem()).unwrap();
    std::fs::write(&kp, cert.key_pair.serialize_pem()).unwrap();
    let acceptor = net::tls_acceptor(&TlsConfig { cert: cp, key: kp }).unwrap();
    let storage = Arc::new(FsStorage::open(&dir.path().join("data")).unwrap());
    let s = start(storage, None, Some(acceptor)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut c = Client::new(s.addr);
    c.tls = Some(tokio_rustls::TlsConnector::from(Arc::new(config)));
    let r = c.send("GET", "/v2/", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    let d = push_monolithic(&c, "secure", b"over tls").await;
    let r = c
        .send("GET", &format!("/v2/secure/blobs/{d}"), &[], b"")
        .await;
    assert_eq!(r.body, &b"over tls"[..]);
}
