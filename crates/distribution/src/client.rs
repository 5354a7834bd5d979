//! The HTTP side: endpoints, authentication and the registry API calls.
//!
//! Built on hyper + hyper-rustls (already in the workspace) rather than
//! oci-client: we need to write blob bytes as they arrive into the daemon's
//! synchronous content store, resume with `Range` from whatever an earlier
//! attempt left, report progress per chunk, stream uploads from blob files,
//! talk to insecure registries over https without verification and then
//! plain http, and keep the registry's error bodies for docker's messages.
//! oci-client buffers or hides several of these, and would bring reqwest.
//!
//! Every public call blocks; the client runs its own small tokio runtime, so
//! the daemon (whose operations are blocking functions) can call it from any
//! thread that is not itself inside an async task.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, watch};

use crate::auth::{parse_challenge, Challenge, Credentials};
use crate::error::parse_errors;
use crate::hosts::{Endpoint, RegistryHosts, DOCKER_HUB, DOCKER_HUB_INDEX};
use crate::{DistError, Result};

type Body = BoxBody<Bytes, std::io::Error>;
type Http = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Body>;

/// Manifests larger than this are refused (dockerd's limit).
const MAX_MANIFEST: usize = 4 << 20;
/// A registry that sends nothing for this long is taken as gone: no
/// response head this long after the request (its body included) was sent,
/// or no body data for this long. [`Client`]'s `stall` starts as this.
const STALL: Duration = Duration::from_secs(60);
const UPLOAD_CHUNK: usize = 1 << 20;
/// Response frames of a blob download read ahead of the sink.
const READ_AHEAD: usize = 16;
/// Pieces queued for an upload's PATCH body.
const UPLOAD_QUEUE: usize = 8;
const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));

/// Media types a pull accepts, most preferred first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A registry client: connections, the token cache and the daemon's registry settings.
pub struct Client {
    rt: Option<tokio::runtime::Runtime>,
    verified: Http,
    unverified: Http,
    hosts: RegistryHosts,
    /// Bearer tokens by realm, service, scopes and user.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// How long a response head or the next piece of a response body may
    /// take before the registry is taken as gone ([`STALL`]; tests shorten it).
    stall: Duration,
}

impl Drop for Client {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids inside async code.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Accepts any server certificate: for registries the user declared insecure.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn http_connector() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(15)));
    http
}

/// What a manifest GET returned.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    /// The `Content-Type` the registry sent.
    pub media_type: String,
    /// sha256 of `bytes` (checked against the reference when it was a digest).
    pub digest: String,
}

/// An upload session the registry opened (its `Location`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession(String);

/// The outcome of a cross-repository mount request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// The blob is now linked into the repository.
    Mounted,
    /// Not mounted; the upload session the registry opened instead, if any.
    Refused(Option<UploadSession>),
}

/// Receives a blob's bytes as they arrive.
pub trait BlobSink {
    /// Called once before the first byte: where the bytes start (the offset
    /// asked for, or 0 when the registry sent the whole blob after all), and
    /// the blob's full size when known.
    fn start(&mut self, offset: u64, total: Option<u64>) -> std::io::Result<()>;
    fn write(&mut self, data: &[u8]) -> std::io::Result<()>;
    /// [`BlobSink::write`] with the frame itself, for a sink that keeps or
    /// hands on the bytes without copying them.
    fn write_bytes(&mut self, data: Bytes) -> std::io::Result<()> {
        self.write(&data)
    }
}

/// One result of `/v1/search`, in the Engine API's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    #[serde(default)]
    pub star_count: i64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_automated: bool,
    #[serde(default)]
    pub description: String,
}

/// The outcome of a login check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginResult {
    /// A refresh token the registry handed out, to be kept instead of the password.
    pub identity_token: Option<String>,
}

impl Client {
    pub fn new(hosts: RegistryHosts) -> Result<Client> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("berth-registry")
            .enable_all()
            .build()
            .map_err(|e| DistError::Protocol(format!("starting the registry client: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verified_conn = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(b) => b
                .https_or_http()
                .enable_http1()
                .wrap_connector(http_connector()),
            Err(e) => {
                // No system CAs: secure registries fail at the handshake with
                // a clear error; insecure and plain-http ones still work.
                tracing::warn!(error = %e, "no system CA certificates found");
                let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| DistError::Protocol(format!("TLS setup: {e}")))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(cfg)
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(http_connector())
            }
        };
        let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| DistError::Protocol(format!("TLS setup: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth();
        let unverified_conn = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(cfg)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http_connector());
        let _enter = rt.enter();
        let verified = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(verified_conn);
        let unverified = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(unverified_conn);
        drop(_enter);
        Ok(Client {
            rt: Some(rt),
            verified,
            unverified,
            hosts,
            tokens: Mutex::new(HashMap::new()),
            stall: STALL,
        })
    }

    pub fn hosts(&self) -> &RegistryHosts {
        &self.hosts
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match &self.rt {
            Some(rt) => rt.block_on(f),
            // Only `drop` takes the runtime.
            None => unreachable!("registry client used after drop"),
        }
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        match &self.rt {
            Some(rt) => rt,
            None => unreachable!("registry client used after drop"),
        }
    }

    fn http(&self, insecure: bool) -> &Http {
        if insecure {
            &self.unverified
        } else {
            &self.verified
        }
    }

    /// Connects to a repository at one endpoint: finds a base URL that
    /// answers `/v2/` (https, then http for insecure registries) and learns
    /// how it wants to be authenticated.
    pub fn repository(
        &self,
        endpoint: &Endpoint,
        name: &str,
        creds: &Credentials,
        push: bool,
    ) -> Result<Repository<'_>> {
        let (base, challenge) = self.block_on(self.ping(endpoint))?;
        Ok(Repository {
            client: self,
            base,
            insecure: endpoint.insecure,
            name: name.to_string(),
            creds: creds.clone(),
            push,
            challenge: Mutex::new(challenge),
            extra_scopes: Mutex::new(Vec::new()),
        })
    }

    async fn ping(&self, endpoint: &Endpoint) -> Result<(String, Option<Challenge>)> {
        let mut last = None;
        for base in &endpoint.bases {
            let url = format!("{base}/v2/");
            let req = Request::get(&url)
                .header(header::USER_AGENT, USER_AGENT)
                .body(empty())
                .map_err(|e| DistError::Protocol(e.to_string()))?;
            match self.send(endpoint.insecure, req).await {
                Ok(resp) => {
                    let challenge = resp
                        .headers()
                        .get_all(header::WWW_AUTHENTICATE)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .find_map(parse_challenge);
                    let status = resp.status();
                    if status.is_success() || status == StatusCode::UNAUTHORIZED {
                        return Ok((base.clone(), challenge));
                    }
                    last = Some(self.error_of(resp).await);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| DistError::Protocol("no endpoint to try".into())))
    }

    /// Sends a request whose body is small and in memory, and waits for the
    /// response head: at most `stall` for all of it (connecting included),
    /// so a registry that takes the connection and never answers is an error
    /// rather than a hang.
    async fn send(&self, insecure: bool, req: Request<Body>) -> Result<Response<Incoming>> {
        let url = request_label(req.method(), &req.uri().to_string());
        match tokio::time::timeout(self.stall, self.http(insecure).request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(DistError::Connect {
                url,
                message: chain(&e),
            }),
            Err(_) => Err(self.no_response(url)),
        }
    }

    /// The error for a response head that did not come within `stall`.
    fn no_response(&self, url: String) -> DistError {
        DistError::Connect {
            url,
            message: format!("no response within {}", span(self.stall)),
        }
    }

    /// The error for a response body that sent nothing for `stall`.
    fn no_data(&self, url: String) -> DistError {
        DistError::Connect {
            url,
            message: format!("no data for {}", span(self.stall)),
        }
    }

    /// The registry's error for a response that is not a success: its error
    /// body, read up to 64 KiB (while it keeps coming), in the spec's format,
    /// or the status alone.
    async fn error_of(&self, resp: Response<Incoming>) -> DistError {
        let status = resp.status().as_u16();
        let body = self
            .read_limited(resp.into_body(), 64 << 10, String::new())
            .await
            .unwrap_or_default();
        parse_errors(status, &body)
    }

    /// Reads a whole response body of at most `limit` bytes; `url` (the
    /// request's, as [`request_label`] gives it) names it if the registry
    /// stops sending for `stall`.
    async fn read_limited(&self, mut body: Incoming, limit: usize, url: String) -> Result<Bytes> {
        let mut out = bytes::BytesMut::new();
        while let Some(frame) = tokio::time::timeout(self.stall, body.frame())
            .await
            .map_err(|_| self.no_data(url.clone()))?
        {
            let frame = frame
                .map_err(|e| DistError::Protocol(format!("reading response: {}", chain(&e))))?;
            if let Some(d) = frame.data_ref() {
                if out.len() + d.len() > limit {
                    return Err(DistError::Protocol(format!(
                        "response larger than {limit} bytes"
                    )));
                }
                out.extend_from_slice(d);
            }
        }
        Ok(out.freeze())
    }

    /// Fetches (or reuses) a bearer token for `scopes` at `realm`.
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        creds: &Credentials,
        refresh: bool,
    ) -> Result<(String, Option<String>)> {
        let key = format!("{realm}|{service:?}|{scopes:?}|{}", creds.username);
        if !refresh {
            if let Some((t, until)) = self.lock_tokens().get(&key) {
                if Instant::now() < *until {
                    return Ok((t.clone(), None));
                }
            }
        }
        let realm_host = realm
            .split_once("://")
            .map(|(_, r)| r.split('/').next().unwrap_or(r))
            .unwrap_or(realm);
        let insecure = self.hosts.is_insecure(realm_host);
        let enc = |s: &str| urlencode(s);
        let req = if !creds.identity_token.is_empty() {
            let mut form = format!(
                "grant_type=refresh_token&client_id=berth&refresh_token={}",
                enc(&creds.identity_token)
            );
            if let Some(s) = service {
                form.push_str(&format!("&service={}", enc(s)));
            }
            if !scopes.is_empty() {
                form.push_str(&format!("&scope={}", enc(&scopes.join(" "))));
            }
            Request::post(realm)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::USER_AGENT, USER_AGENT)
                .body(full(Bytes::from(form)))
        } else {
            let mut url = realm.to_string();
            let mut sep = if url.contains('?') { '&' } else { '?' };
            let mut add = |k: &str, v: &str| {
                url.push(sep);
                url.push_str(&format!("{k}={}", enc(v)));
                sep = '&';
            };
            if let Some(s) = service {
                add("service", s);
            }
            for s in scopes {
                add("scope", s);
            }
            if !creds.username.is_empty() {
                add("account", &creds.username);
                // ask for a refresh token to keep instead of the password (docker login)
                if scopes.is_empty() {
                    add("offline_token", "true");
                    add("client_id", "berth");
                }
            }
            let mut b = Request::get(url).header(header::USER_AGENT, USER_AGENT);
            if let Some(h) = creds.basic_header() {
                b = b.header(header::AUTHORIZATION, h);
            }
            b.body(empty())
        }
        .map_err(|e| DistError::Protocol(format!("token request to {realm}: {e}")))?;
        let url = request_label(req.method(), &req.uri().to_string());
        let resp = self.send(insecure, req).await?;
        let status = resp.status();
        let body = self.read_limited(resp.into_body(), 1 << 20, url).await?;
        if !status.is_success() {
            #[derive(Deserialize)]
            struct Details {
                details: String,
            }
            if let Ok(d) = serde_json::from_slice::<Details>(&body) {
                return Err(DistError::Registry {
                    status: status.as_u16(),
                    errors: vec![crate::RegistryErrorItem {
                        code: "UNAUTHORIZED".into(),
                        message: d.details,
                    }],
                });
            }
            return Err(parse_errors(status.as_u16(), &body));
        }
        #[derive(Deserialize)]
        struct Token {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
            #[serde(default)]
            expires_in: u64,
            #[serde(default)]
            refresh_token: String,
        }
        let t: Token = serde_json::from_slice(&body).map_err(|e| {
            DistError::Protocol(format!("token response from {realm} is not JSON: {e}"))
        })?;
        let token = if t.token.is_empty() {
            t.access_token
        } else {
            t.token
        };
        if token.is_empty() {
            return Err(DistError::Protocol(format!(
                "token response from {realm} holds no token"
            )));
        }
        // Renew a little early so a token never expires mid-request.
        let life =
            Duration::from_secs(t.expires_in.max(60)).saturating_sub(Duration::from_secs(10));
        self.lock_tokens()
            .insert(key, (token.clone(), Instant::now() + life));
        Ok((
            token,
            (!t.refresh_token.is_empty()).then_some(t.refresh_token),
        ))
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `GET /v1/search` on the index of `domain` (docker.io → index.docker.io).
    pub fn search(
        &self,
        domain: &str,
        term: &str,
        limit: u32,
        creds: &Credentials,
    ) -> Result<Vec<SearchResult>> {
        let host = if domain == DOCKER_HUB {
            DOCKER_HUB_INDEX
        } else {
            domain
        };
        let ep = self.hosts.host_endpoint(host);
        self.block_on(async {
            let mut last = None;
            for base in &ep.bases {
                let url = format!("{base}/v1/search?q={}&n={limit}", urlencode(term));
                let mut b = Request::get(&url).header(header::USER_AGENT, USER_AGENT);
                if let Some(h) = creds.basic_header() {
                    b = b.header(header::AUTHORIZATION, h);
                }
                let req = b
                    .body(empty())
                    .map_err(|e| DistError::Protocol(e.to_string()))?;
                let resp = match self.send(ep.insecure, req).await {
                    Ok(r) => r,
                    Err(e) => {
                        last = Some(e);
                        continue;
                    }
                };
                let status = resp.status();
                let body = self
                    .read_limited(resp.into_body(), 16 << 20, url.clone())
                    .await?;
                if !status.is_success() {
                    return Err(DistError::Protocol(format!(
                        "Unexpected status code {}",
                        status.as_u16()
                    )));
                }
                #[derive(Deserialize)]
                struct Results {
                    #[serde(default)]
                    results: Vec<SearchResult>,
                }
                let r: Results = serde_json::from_slice(&body).map_err(|e| {
                    DistError::Protocol(format!("search results from {url} are not JSON: {e}"))
                })?;
                return Ok(r.results);
            }
            Err(last.unwrap_or_else(|| DistError::Protocol("no endpoint to try".into())))
        })
    }

    /// Checks credentials against `server` (a `docker login` argument: a host
    /// or a URL) the way dockerd's `POST /auth` does.
    pub fn login(&self, server: &str, creds: &Credentials) -> Result<LoginResult> {
        let host = crate::hosts::hostname_of(server);
        let host = if host == DOCKER_HUB {
            crate::hosts::DOCKER_HUB_REGISTRY.to_string()
        } else {
            host
        };
        let ep = self.hosts.host_endpoint(&host);
        self.block_on(async {
            let (base, challenge) = self.ping(&ep).await?;
            let url = format!("{base}/v2/");
            let auth = match &challenge {
                None => {
                    return Ok(LoginResult {
                        identity_token: None,
                    })
                }
                Some(Challenge::Basic) => creds.basic_header(),
                Some(Challenge::Bearer { realm, service }) => {
                    let (token, refresh) = self
                        .token(realm, service.as_deref(), &[], creds, true)
                        .await
                        .map_err(|e| DistError::Connect {
                            url: url.clone(),
                            message: e.to_string(),
                        })?;
                    if refresh.is_some() {
                        return Ok(LoginResult {
                            identity_token: refresh,
                        });
                    }
                    Some(format!("Bearer {token}"))
                }
            };
            let mut b = Request::get(&url).header(header::USER_AGENT, USER_AGENT);
            if let Some(a) = auth {
                b = b.header(header::AUTHORIZATION, a);
            }
            let req = b
                .body(empty())
                .map_err(|e| DistError::Protocol(e.to_string()))?;
            let resp = self.send(ep.insecure, req).await?;
            let status = resp.status();
            if status.is_success() {
                return Ok(LoginResult {
                    identity_token: None,
                });
            }
            Err(DistError::Protocol(format!(
                "login attempt to {url} failed with status: {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )))
        })
    }
}

/// A repository at one registry endpoint, with its authentication state.
pub struct Repository<'c> {
    client: &'c Client,
    base: String,
    insecure: bool,
    name: String,
    creds: Credentials,
    push: bool,
    challenge: Mutex<Option<Challenge>>,
    /// Scopes added for cross-repository mounts (`repository:<from>:pull`).
    extra_scopes: Mutex<Vec<String>>,
}

impl Repository<'_> {
    /// `scheme://host[:port]` this repository is reached at.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn scopes(&self) -> Vec<String> {
        let actions = if self.push { "pull,push" } else { "pull" };
        let mut s = vec![format!("repository:{}:{actions}", self.name)];
        s.extend(
            self.extra_scopes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        s
    }

    async fn authorization(&self, refresh: bool) -> Result<Option<String>> {
        let challenge = self
            .challenge
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => match self.creds.basic_header() {
                Some(h) => Ok(Some(h)),
                // A pull may still be allowed anonymously; a push never is.
                None if self.push => Err(DistError::NoBasicAuthCredentials),
                None => Ok(None),
            },
            Some(Challenge::Bearer { .. }) if !self.creds.registry_token.is_empty() => {
                Ok(Some(format!("Bearer {}", self.creds.registry_token)))
            }
            Some(Challenge::Bearer { realm, service }) => {
                let (t, _) = self
                    .client
                    .token(
                        &realm,
                        service.as_deref(),
                        &self.scopes(),
                        &self.creds,
                        refresh,
                    )
                    .await?;
                Ok(Some(format!("Bearer {t}")))
            }
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/v2/{}/{path}", self.base, self.name)
        }
    }

    /// Sends a request with a replayable body, authenticating as the registry
    /// asks (a 401 with a new challenge is answered once).
    async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, String)],
        body: Bytes,
    ) -> Result<Response<Incoming>> {
        let url = self.url(path);
        let mut refresh = false;
        for attempt in 0..2 {
            let mut b = Request::builder()
                .method(method.clone())
                .uri(&url)
                .header(header::USER_AGENT, USER_AGENT);
            for (k, v) in headers {
                b = b.header(k, v);
            }
            if let Some(a) = self.authorization(refresh).await? {
                b = b.header(header::AUTHORIZATION, a);
            }
            let req = b
                .body(if body.is_empty() {
                    empty()
                } else {
                    full(body.clone())
                })
                .map_err(|e| DistError::Protocol(format!("{method} {url}: {e}")))?;
            let resp = self.client.send(self.insecure, req).await?;
            if resp.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                let fresh = resp
                    .headers()
                    .get_all(header::WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(parse_challenge);
                if let Some(c) = fresh {
                    *self.challenge.lock().unwrap_or_else(|e| e.into_inner()) = Some(c);
                    refresh = true;
                    continue;
                }
            }
            return Ok(resp);
        }
        Err(DistError::Protocol(format!(
            "{method} {url}: authentication loop"
        )))
    }

    /// GETs following redirects (blob downloads are often sent to a CDN); the
    /// credentials go only to the registry itself.
    async fn get_following(
        &self,
        path: &str,
        headers: &[(header::HeaderName, String)],
    ) -> Result<Response<Incoming>> {
        let mut resp = self
            .request(Method::GET, path, headers, Bytes::new())
            .await?;
        for _ in 0..8 {
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            let Some(loc) = location(resp.headers()) else {
                return Ok(resp);
            };
            let url = if loc.starts_with('/') {
                format!("{}{loc}", self.base)
            } else {
                loc
            };
            let mut b = Request::get(&url).header(header::USER_AGENT, USER_AGENT);
            for (k, v) in headers {
                b = b.header(k, v);
            }
            let req = b
                .body(empty())
                .map_err(|e| DistError::Protocol(e.to_string()))?;
            let insecure = self.insecure || url.starts_with("http://");
            resp = self.client.send(insecure, req).await?;
        }
        Err(DistError::Protocol(format!(
            "too many redirects fetching {}",
            self.url(path)
        )))
    }

    /// Fetches a manifest or index by tag or digest.
    pub fn get_manifest(&self, reference: &str) -> Result<FetchedManifest> {
        let path = format!("manifests/{reference}");
        self.client.block_on(async {
            let resp = self
                .request(
                    Method::GET,
                    &path,
                    &[(header::ACCEPT, MANIFEST_ACCEPT.to_string())],
                    Bytes::new(),
                )
                .await?;
            let status = resp.status();
            let media_type = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = self
                .client
                .read_limited(resp.into_body(), MAX_MANIFEST, self.url(&path))
                .await?;
            if !status.is_success() {
                return Err(parse_errors(status.as_u16(), &body));
            }
            let digest = berth_image::sha256_digest(&body);
            if reference.contains(':') && reference != digest {
                return Err(DistError::DigestMismatch {
                    digest: reference.to_string(),
                    actual: digest,
                });
            }
            Ok(FetchedManifest {
                bytes: body.to_vec(),
                media_type,
                digest,
            })
        })
    }

    /// Fetches a small blob (a config) into memory, verified.
    pub fn get_blob_bytes(&self, digest: &str, limit: usize) -> Result<Vec<u8>> {
        let path = format!("blobs/{digest}");
        self.client.block_on(async {
            let resp = self.get_following(&path, &[]).await?;
            let status = resp.status();
            let body = self
                .client
                .read_limited(resp.into_body(), limit, self.url(&path))
                .await?;
            if !status.is_success() {
                return Err(parse_errors(status.as_u16(), &body));
            }
            let actual = berth_image::sha256_digest(&body);
            if actual != digest {
                return Err(DistError::DigestMismatch {
                    digest: digest.to_string(),
                    actual,
                });
            }
            Ok(body.to_vec())
        })
    }

    /// Streams a blob into `sink`, from byte `offset` when the registry
    /// supports ranges (else from 0; `sink.start` says which). The sink is
    /// called outside the client's runtime, so it may block.
    pub fn fetch_blob(&self, digest: &str, offset: u64, sink: &mut dyn BlobSink) -> Result<()> {
        let path = format!("blobs/{digest}");
        let url = self.url(&path);
        let resp = self.client.block_on(async {
            let mut headers = Vec::new();
            if offset > 0 {
                headers.push((header::RANGE, format!("bytes={offset}-")));
            }
            let mut resp = self.get_following(&path, &headers).await?;
            if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
                // What we kept is not a prefix of this blob: start over.
                resp = self.get_following(&path, &[]).await?;
            }
            let status = resp.status();
            if !status.is_success() {
                return Err(self.client.error_of(resp).await);
            }
            Ok(resp)
        })?;
        let sink_err = |source| DistError::Sink {
            digest: digest.to_string(),
            source,
        };
        let length = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if resp.status() == StatusCode::PARTIAL_CONTENT {
            let range = resp
                .headers()
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range);
            match range {
                Some((start, total)) if start == offset => sink
                    .start(offset, total.or(length.map(|l| l + offset)))
                    .map_err(sink_err)?,
                _ => {
                    return Err(DistError::Protocol(format!(
                        "registry answered the range request for {digest} with another range"
                    )))
                }
            }
        } else {
            sink.start(0, length).map_err(sink_err)?;
        }
        // Frames are read ahead on the runtime while this thread writes and
        // hashes the ones before: hyper reads the socket only when asked for
        // the next frame, which had left each side idle half of a pull.
        let mut body = resp.into_body();
        let stall = self.client.stall;
        let stalled = self.client.no_data(url.clone());
        let failed = url.clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel(READ_AHEAD);
        self.client.runtime().spawn(async move {
            let last = loop {
                let frame = match tokio::time::timeout(stall, body.frame()).await {
                    Err(_) => break Err(stalled),
                    Ok(None) => break Ok(None),
                    Ok(Some(Err(e))) => {
                        break Err(DistError::Connect {
                            url: failed,
                            message: chain(&e),
                        })
                    }
                    Ok(Some(Ok(f))) => f,
                };
                if let Ok(data) = frame.into_data() {
                    if tx.send(Ok(Some(data))).await.is_err() {
                        // The sink failed and stopped reading.
                        return;
                    }
                }
            };
            let _ = tx.send(last).await;
        });
        loop {
            match rx.blocking_recv() {
                Some(Ok(Some(data))) => sink.write_bytes(data).map_err(sink_err)?,
                Some(Ok(None)) => return Ok(()),
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(DistError::Connect {
                        url,
                        message: "the download stopped before the end of the blob".into(),
                    })
                }
            }
        }
    }

    /// The size of a blob if the repository has it.
    pub fn blob_exists(&self, digest: &str) -> Result<Option<u64>> {
        self.client.block_on(async {
            let resp = self
                .request(Method::HEAD, &format!("blobs/{digest}"), &[], Bytes::new())
                .await?;
            match resp.status() {
                s if s.is_success() => Ok(Some(
                    resp.headers()
                        .get(header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                )),
                StatusCode::NOT_FOUND => Ok(None),
                s => Err(DistError::Registry {
                    status: s.as_u16(),
                    errors: Vec::new(),
                }),
            }
        })
    }

    /// Asks the registry to link a blob from another of its repositories.
    /// A registry that will not mount starts an upload session instead
    /// (202); it is returned so the upload goes on there rather than being
    /// left behind.
    pub fn mount_blob(&self, digest: &str, from: &str) -> Result<Mount> {
        {
            let mut extra = self.extra_scopes.lock().unwrap_or_else(|e| e.into_inner());
            let scope = format!("repository:{from}:pull");
            if !extra.contains(&scope) {
                extra.push(scope);
            }
        }
        self.client.block_on(async {
            let resp = self
                .request(
                    Method::POST,
                    &format!("blobs/uploads/?mount={digest}&from={}", urlencode(from)),
                    &[(header::CONTENT_LENGTH, "0".into())],
                    Bytes::new(),
                )
                .await?;
            match resp.status() {
                StatusCode::CREATED => Ok(Mount::Mounted),
                StatusCode::ACCEPTED => Ok(Mount::Refused(Some(UploadSession(
                    upload_location(self.client, resp).await?,
                )))),
                s if s.is_success() => Ok(Mount::Refused(None)),
                _ => Err(self.client.error_of(resp).await),
            }
        })
    }

    /// Uploads a blob as docker does: start a session (or go on with one a
    /// refused mount started), stream the bytes in one PATCH, then close it
    /// with the digest. `progress` gets the bytes sent so far.
    pub fn upload_blob(
        &self,
        digest: &str,
        size: u64,
        session: Option<UploadSession>,
        reader: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let mut up = self.start_upload(session, Some(size))?;
        let mut total = 0u64;
        let mut fed = Ok(());
        while total < size {
            let mut buf = bytes::BytesMut::zeroed(UPLOAD_CHUNK.min((size - total) as usize));
            let n = match reader.read(&mut buf) {
                Ok(0) => {
                    fed = Err(DistError::Protocol(format!(
                        "blob {digest} ended after {total} of {size} bytes"
                    )));
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    fed = Err(DistError::Sink {
                        digest: digest.to_string(),
                        source: e,
                    });
                    break;
                }
            };
            buf.truncate(n);
            if !up.send(buf.freeze()) {
                break; // the request ended early; its result says why
            }
            total += n as u64;
            progress(total);
        }
        up.finish(Some(digest), fed).map(|_| ())
    }

    /// Starts uploading a blob whose bytes are produced as it goes (a layer
    /// compressed on the way): a session is opened (or the one a refused
    /// mount started is used) and one PATCH streams what
    /// [`BlobUpload::send`] gets, with a `Content-Length` when `size` is known
    /// and chunked otherwise. [`BlobUpload::finish`] closes it.
    pub fn start_upload(
        &self,
        session: Option<UploadSession>,
        size: Option<u64>,
    ) -> Result<BlobUpload<'_>> {
        let start = match session {
            Some(UploadSession(location)) => location,
            None => self.client.block_on(async {
                let resp = self
                    .request(
                        Method::POST,
                        "blobs/uploads/",
                        &[(header::CONTENT_LENGTH, "0".into())],
                        Bytes::new(),
                    )
                    .await?;
                upload_location(self.client, resp).await
            })?,
        };
        let auth = self.client.block_on(self.authorization(false))?;
        let url = self.url(&start);
        let (tx, rx) = mpsc::channel::<Bytes>(UPLOAD_QUEUE);
        let (progress_tx, progress_rx) = watch::channel(false);
        let mut b = Request::patch(&url)
            .header(header::USER_AGENT, USER_AGENT)
            .header(header::CONTENT_TYPE, "application/octet-stream");
        if let Some(size) = size {
            b = b.header(header::CONTENT_LENGTH, size.to_string());
        }
        if let Some(a) = &auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        let req = b
            .body(BodyExt::boxed(ChannelBody {
                rx,
                progress: progress_tx,
            }))
            .map_err(|e| DistError::Protocol(format!("PATCH {url}: {e}")))?;
        let http = self.client.http(self.insecure).clone();
        let sent = self
            .client
            .runtime()
            .spawn(async move { http.request(req).await });
        Ok(BlobUpload {
            repo: self,
            url,
            tx: Some(tx),
            sent,
            progress: progress_rx,
            hasher: size.is_none().then(Sha256::new),
            size: 0,
            stalled: false,
        })
    }

    /// Abandons an upload session (one a refused mount opened and that is
    /// not used), so the registry need not wait for its expiry.
    pub fn cancel_upload(&self, session: UploadSession) -> Result<()> {
        self.client.block_on(async {
            let resp = self
                .request(Method::DELETE, &session.0, &[], Bytes::new())
                .await?;
            let status = resp.status();
            // Already gone is as good as cancelled.
            if status.is_success() || status == StatusCode::NOT_FOUND {
                return Ok(());
            }
            Err(self.client.error_of(resp).await)
        })
    }

    /// Stores a manifest under a tag or digest; returns its digest.
    pub fn put_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<String> {
        let digest = berth_image::sha256_digest(bytes);
        self.client.block_on(async {
            let resp = self
                .request(
                    Method::PUT,
                    &format!("manifests/{reference}"),
                    &[(header::CONTENT_TYPE, media_type.to_string())],
                    Bytes::copy_from_slice(bytes),
                )
                .await?;
            let status = resp.status();
            if !status.is_success() {
                return Err(self.client.error_of(resp).await);
            }
            Ok(digest)
        })
    }

    /// Every tag of the repository (`docker pull -a`), following pagination.
    pub fn tags(&self) -> Result<Vec<String>> {
        self.client.block_on(async {
            let mut out = Vec::new();
            let mut next = Some("tags/list".to_string());
            while let Some(path) = next.take() {
                let resp = self.request(Method::GET, &path, &[], Bytes::new()).await?;
                let status = resp.status();
                let link = resp
                    .headers()
                    .get(header::LINK)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| l.split_once('<'))
                    .and_then(|(_, r)| r.split_once('>'))
                    .map(|(u, _)| u.to_string());
                let body = self
                    .client
                    .read_limited(resp.into_body(), 16 << 20, self.url(&path))
                    .await?;
                if !status.is_success() {
                    return Err(parse_errors(status.as_u16(), &body));
                }
                #[derive(Deserialize)]
                struct Tags {
                    #[serde(default)]
                    tags: Option<Vec<String>>,
                }
                let t: Tags = serde_json::from_slice(&body).map_err(|e| {
                    DistError::Protocol(format!("tag list of {} is not JSON: {e}", self.name))
                })?;
                out.extend(t.tags.unwrap_or_default());
                next = link;
            }
            Ok(out)
        })
    }
}

/// A blob upload in progress (see [`Repository::start_upload`]).
pub struct BlobUpload<'r> {
    repo: &'r Repository<'r>,
    url: String,
    tx: Option<mpsc::Sender<Bytes>>,
    sent: PatchTask,
    /// How far hyper has taken the PATCH body, which it does as the registry
    /// reads: `finish` bounds the wait for each next piece, then for the answer.
    progress: watch::Receiver<bool>,
    /// Hashes what is sent when the digest is not known in advance.
    hasher: Option<Sha256>,
    size: u64,
    /// The registry took none of the body for `stall`: the PATCH was abandoned.
    stalled: bool,
}

impl BlobUpload<'_> {
    /// Queues the next bytes; false when the request has already ended (its
    /// outcome comes from [`BlobUpload::finish`]).
    pub fn send(&mut self, bytes: Bytes) -> bool {
        if let Some(h) = &mut self.hasher {
            h.update(&bytes);
        }
        self.size += bytes.len() as u64;
        let Some(tx) = &self.tx else { return false };
        let bytes = match tx.try_send(bytes) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
            Err(mpsc::error::TrySendError::Full(bytes)) => bytes,
        };
        // The queue is full: the registry is reading slower than this feeds it. It
        // gets `stall` to take the next piece; a registry that stops reading would
        // otherwise hold the push forever.
        let client = self.repo.client;
        match client.block_on(async { tokio::time::timeout(client.stall, tx.send(bytes)).await }) {
            Ok(sent) => sent.is_ok(),
            Err(_) => {
                self.stalled = true;
                self.tx = None;
                self.sent.abort();
                false
            }
        }
    }

    /// Bytes queued so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Ends the PATCH and closes the session under `digest` (or the digest of
    /// what was sent, when it was not known); returns the digest and size.
    /// `fed` is how feeding the upload ended: an error there abandons it.
    pub fn finish(mut self, digest: Option<&str>, fed: Result<()>) -> Result<(String, u64)> {
        drop(self.tx.take());
        let url = std::mem::take(&mut self.url);
        let repo = self.repo;
        let client = repo.client;
        let end = if self.stalled {
            PatchEnd::Stalled
        } else {
            client.block_on(patch_end(&mut self.progress, &mut self.sent, client.stall))
        };
        let resp = match end {
            PatchEnd::Stalled => {
                self.sent.abort();
                return Err(DistError::Connect {
                    url: format!("PATCH {url}"),
                    message: format!("the registry took no data for {}", span(client.stall)),
                });
            }
            PatchEnd::NoAnswer => Err(client.no_response(format!("PATCH {url}"))),
            PatchEnd::Answered(joined) => joined
                .map_err(|e| DistError::Protocol(format!("PATCH {url}: {e}")))?
                .map_err(|e| DistError::Connect {
                    url: format!("PATCH {url}"),
                    message: chain(&e),
                }),
        };
        fed?;
        let resp = resp?;
        let digest = match (digest, self.hasher.take()) {
            (Some(d), _) => d.to_string(),
            (None, Some(h)) => format!("sha256:{}", hex_lower(&h.finalize())),
            (None, None) => {
                return Err(DistError::Protocol(
                    "an upload of known size needs its digest".into(),
                ))
            }
        };
        client.block_on(async {
            let next = upload_location(client, resp).await?;
            let sep = if next.contains('?') { '&' } else { '?' };
            let resp = repo
                .request(
                    Method::PUT,
                    &format!("{next}{sep}digest={digest}"),
                    &[(header::CONTENT_LENGTH, "0".into())],
                    Bytes::new(),
                )
                .await?;
            let status = resp.status();
            if !status.is_success() {
                return Err(client.error_of(resp).await);
            }
            Ok(())
        })?;
        Ok((digest, self.size))
    }
}

impl Drop for BlobUpload<'_> {
    fn drop(&mut self) {
        // Unfinished: the PATCH is dropped with its body, so the registry
        // sees the upload end early and discards it.
        self.sent.abort();
    }
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What the PATCH request of an upload comes to, and the task sending it.
type PatchOutcome = std::result::Result<Response<Incoming>, hyper_util::client::legacy::Error>;
type PatchTask = tokio::task::JoinHandle<PatchOutcome>;

/// How an upload's PATCH ended.
enum PatchEnd {
    Answered(std::result::Result<PatchOutcome, tokio::task::JoinError>),
    /// The body went out, and no answer came within the stall.
    NoAnswer,
    /// The registry took no piece of the body for the stall.
    Stalled,
}

/// Waits for `sent` while its body goes out: the body (a whole blob) may take as long
/// as it takes while the registry keeps reading, each next piece getting `stall`; once
/// hyper has taken the last one, the registry is given `stall` to answer.
async fn patch_end(
    progress: &mut watch::Receiver<bool>,
    sent: &mut PatchTask,
    stall: Duration,
) -> PatchEnd {
    while !*progress.borrow_and_update() {
        tokio::select! {
            r = &mut *sent => return PatchEnd::Answered(r),
            taken = tokio::time::timeout(stall, progress.changed()) => match taken {
                Ok(Ok(())) => {}
                // The body is gone with its request, whose outcome `sent` has.
                Ok(Err(_)) => break,
                Err(_) => return PatchEnd::Stalled,
            },
        }
    }
    match tokio::time::timeout(stall, sent).await {
        Ok(r) => PatchEnd::Answered(r),
        Err(_) => PatchEnd::NoAnswer,
    }
}

/// A request body fed from the blocking side.
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
    /// Told of each piece taken, and set once the body has ended (dropped
    /// unset if it never does).
    progress: watch::Sender<bool>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        let frame = self.rx.poll_recv(cx);
        match &frame {
            Poll::Ready(Some(_)) => self.progress.send_modify(|_| {}),
            Poll::Ready(None) => self.progress.send_modify(|ended| *ended = true),
            Poll::Pending => {}
        }
        frame.map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

async fn upload_location(client: &Client, resp: Response<Incoming>) -> Result<String> {
    let status = resp.status();
    if !status.is_success() {
        return Err(client.error_of(resp).await);
    }
    location(resp.headers())
        .ok_or_else(|| DistError::Protocol("registry started an upload without a Location".into()))
}

fn location(h: &HeaderMap<HeaderValue>) -> Option<String> {
    h.get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `bytes 100-199/1000` → (100, Some(1000)).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

/// How a request is named in errors: the URL for a GET, else `METHOD URL`.
fn request_label(method: &Method, url: &str) -> String {
    if method == Method::GET {
        url.to_string()
    } else {
        format!("{method} {url}")
    }
}

/// `60 seconds`, `1 second`, `300 ms`.
fn span(d: Duration) -> String {
    match (d.as_secs(), d.subsec_nanos()) {
        (1, 0) => "1 second".into(),
        (s, 0) => format!("{s} seconds"),
        _ => format!("{} ms", d.as_millis()),
    }
}

fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// Percent-encodes a query value.
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An error and its causes, `: `-separated (hyper's own text alone says little).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            parse_content_range("bytes 100-199/1000"),
            Some((100, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(urlencode("a b/c:d"), "a%20b%2Fc%3Ad");
        assert_eq!(span(STALL), "60 seconds");
        assert_eq!(span(Duration::from_secs(1)), "1 second");
        assert_eq!(span(Duration::from_millis(300)), "300 ms");
    }

    use std::io::{BufRead, BufReader, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread::JoinHandle;

    /// What the test registry does with one request.
    enum Answer {
        /// Nothing, ever: the connection stays open until the server stops.
        Nothing,
        /// A response head promising a body that never comes.
        HeadOnly(String),
        /// `delay`, the head, `delay` again, the body.
        Reply {
            delay: Duration,
            head: String,
            body: Vec<u8>,
        },
    }

    /// A response of `status` with `headers` and `body`, sent after `delay`
    /// and its body after another `delay`.
    fn reply(status: &str, headers: &[(&str, &str)], body: &[u8], delay: Duration) -> Answer {
        Answer::Reply {
            delay,
            head: head(status, headers, body.len()),
            body: body.to_vec(),
        }
    }

    fn head(status: &str, headers: &[(&str, &str)], len: usize) -> String {
        let mut h = format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\n");
        for (k, v) in headers {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
        h + "\r\n"
    }

    /// Reads and drops a request body of `len` bytes.
    fn drain(body: &mut dyn Read, len: u64) {
        let _ = std::io::copy(&mut body.take(len), &mut std::io::sink());
    }

    /// Method, path, body length and the body to read; returns the answer.
    type Handler = dyn Fn(&str, &str, u64, &mut dyn Read) -> Answer + Send + Sync;

    /// A registry on 127.0.0.1 that answers as told, or (`silent`) takes
    /// connections and never writes a byte. Dropping it closes every
    /// connection and joins every thread it started.
    struct Server {
        addr: String,
        stop: Arc<AtomicBool>,
        conns: Arc<Mutex<Vec<TcpStream>>>,
        threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
        acceptor: Option<JoinHandle<()>>,
    }

    impl Server {
        fn silent() -> Server {
            Server::start(None)
        }

        fn answering(
            h: impl Fn(&str, &str, u64, &mut dyn Read) -> Answer + Send + Sync + 'static,
        ) -> Server {
            Server::start(Some(Arc::new(h)))
        }

        fn start(handler: Option<Arc<Handler>>) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let stop = Arc::new(AtomicBool::new(false));
            let conns = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
            let threads = Arc::new(Mutex::new(Vec::new()));
            let acceptor = {
                let (stop, conns, threads) = (stop.clone(), conns.clone(), threads.clone());
                std::thread::spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        let Ok(stream) = stream else { continue };
                        let kept = stream.try_clone().unwrap();
                        conns.lock().unwrap().push(stream.try_clone().unwrap());
                        let handler = handler.clone();
                        threads.lock().unwrap().push(std::thread::spawn(move || {
                            serve(stream, handler);
                            // Hang up for real (the server keeps a handle).
                            let _ = kept.shutdown(Shutdown::Both);
                        }));
                    }
                })
            };
            Server {
                addr,
                stop,
                conns,
                threads,
                acceptor: Some(acceptor),
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(&self.addr); // wakes the acceptor
            if let Some(a) = self.acceptor.take() {
                let _ = a.join();
            }
            for c in self.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
            let threads: Vec<_> = self.threads.lock().unwrap().drain(..).collect();
            for t in threads {
                let _ = t.join();
            }
        }
    }

    /// One connection: requests one after another until it closes.
    fn serve(stream: TcpStream, handler: Option<Arc<Handler>>) {
        let mut out = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        let hold = |r: &mut BufReader<TcpStream>| {
            // Keeps the connection without answering, until it is shut down.
            let _ = std::io::copy(r, &mut std::io::sink());
        };
        let Some(handler) = handler else {
            return hold(&mut r);
        };
        // Hang up on a TLS handshake, so the client goes on to plain http.
        match r.fill_buf() {
            Ok(b) if b.first() == Some(&0x16) => return,
            Ok(b) if !b.is_empty() => {}
            _ => return,
        }
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            );
            let mut len = 0u64;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                if h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            match handler(&method, &path, len, &mut r) {
                Answer::Nothing => return hold(&mut r),
                Answer::HeadOnly(head) => {
                    let _ = out.write_all(head.as_bytes());
                    return hold(&mut r);
                }
                Answer::Reply { delay, head, body } => {
                    std::thread::sleep(delay);
                    if out.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    std::thread::sleep(delay);
                    if out.write_all(&body).is_err() {
                        return;
                    }
                }
            }
        }
    }

    fn client(stall: Duration) -> Client {
        let mut c = Client::new(RegistryHosts::default()).unwrap();
        c.stall = stall;
        c
    }

    const SHORT: Duration = Duration::from_millis(300);

    /// Fails `f`'s call if it did not end within a few stalls.
    fn timed<T>(f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        let took = t.elapsed();
        assert!(took < Duration::from_secs(3), "took {took:?}");
        out
    }

    #[test]
    fn a_registry_that_never_answers_fails_a_pull_instead_of_hanging() {
        let s = Server::silent();
        let c = client(SHORT);
        let ep = &c.hosts().pull_endpoints(&s.addr)[0];
        // https (a TLS handshake with no answer), then http: each bounded.
        let e = timed(|| c.repository(ep, "library/x", &Credentials::default(), false))
            .err()
            .expect("a registry that never answers");
        assert!(e.is_connect(), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("Get \"http://{}/v2/\": no response within 300 ms", s.addr)
        );
    }

    #[test]
    fn an_index_that_never_answers_fails_a_search_instead_of_hanging() {
        let s = Server::silent();
        let c = client(SHORT);
        let e = timed(|| c.search(&s.addr, "busybox", 25, &Credentials::default()))
            .expect_err("an index that never answers");
        assert_eq!(
            e.to_string(),
            format!(
                "Get \"http://{}/v1/search?q=busybox&n=25\": no response within 300 ms",
                s.addr
            )
        );
    }

    /// `/v2/` answers; a manifest request gets no head (`silent`), or a head
    /// and no body (`headless`).
    fn manifest_server() -> Server {
        Server::answering(|method, path, len, body| {
            drain(body, len);
            match (method, path) {
                ("GET", "/v2/") => reply("200 OK", &[], b"{}", Duration::ZERO),
                (_, p) if p.ends_with("/manifests/silent") => Answer::Nothing,
                (_, p) if p.ends_with("/manifests/headless") => Answer::HeadOnly(head(
                    "200 OK",
                    &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                    100,
                )),
                _ => reply("404 Not Found", &[], b"", Duration::ZERO),
            }
        })
    }

    #[test]
    fn a_manifest_that_never_comes_fails_instead_of_hanging() {
        let s = manifest_server();
        let c = client(SHORT);
        let ep = &c.hosts().pull_endpoints(&s.addr)[0];
        let repo = c
            .repository(ep, "library/x", &Credentials::default(), false)
            .unwrap();
        let e = timed(|| repo.get_manifest("silent")).expect_err("no response head");
        assert!(e.is_connect(), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "Get \"http://{}/v2/library/x/manifests/silent\": no response within 300 ms",
                s.addr
            )
        );
        let e = timed(|| repo.get_manifest("headless")).expect_err("no body");
        assert!(e.is_connect(), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "Get \"http://{}/v2/library/x/manifests/headless\": no data for 300 ms",
                s.addr
            )
        );
    }

    #[test]
    fn a_slow_registry_within_the_bound_still_answers() {
        let slow = Duration::from_millis(300);
        let s = Server::answering(move |method, path, len, body| {
            drain(body, len);
            match (method, path) {
                ("GET", "/v2/") => reply("200 OK", &[], b"{}", slow),
                ("GET", "/v2/library/x/manifests/latest") => reply(
                    "200 OK",
                    &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                    br#"{"schemaVersion":2}"#,
                    slow,
                ),
                ("GET", p) if p.starts_with("/v1/search?") => reply(
                    "200 OK",
                    &[("Content-Type", "application/json")],
                    br#"{"results":[{"name":"library/x","star_count":3}]}"#,
                    slow,
                ),
                _ => reply("404 Not Found", &[], b"", Duration::ZERO),
            }
        });
        // Each head and each body comes 300 ms after the last thing sent.
        let c = client(Duration::from_secs(1));
        let ep = &c.hosts().pull_endpoints(&s.addr)[0];
        let repo = c
            .repository(ep, "library/x", &Credentials::default(), false)
            .unwrap();
        let m = repo.get_manifest("latest").unwrap();
        assert_eq!(m.bytes, br#"{"schemaVersion":2}"#);
        assert_eq!(m.media_type, "application/vnd.oci.image.manifest.v1+json");
        let found = c.search(&s.addr, "x", 25, &Credentials::default()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "library/x");
        assert_eq!(found[0].star_count, 3);
    }

    /// `/v2/` and upload sessions answer; a PATCH body is read only once
    /// `go` is set and `wait` has passed after it, a MiB at a time with
    /// `pause` before each, then answered with `patch`; the closing PUT is
    /// answered.
    fn upload_server(
        go: Arc<AtomicBool>,
        wait: Duration,
        pause: Duration,
        patch: impl Fn() -> Answer + Send + Sync + 'static,
    ) -> Server {
        Server::answering(move |method, path, len, body| {
            let location = [("Location", "/v2/library/x/blobs/uploads/u1")];
            match (method, path) {
                ("PATCH", "/v2/library/x/blobs/uploads/u1") => {
                    let t = Instant::now();
                    while !go.load(Ordering::SeqCst) && t.elapsed() < Duration::from_secs(10) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    std::thread::sleep(wait);
                    let mut left = len;
                    while left > 0 {
                        std::thread::sleep(pause);
                        let piece = left.min(1 << 20);
                        drain(body, piece);
                        left -= piece;
                    }
                    patch()
                }
                ("POST", "/v2/library/x/blobs/uploads/") => {
                    drain(body, len);
                    reply("202 Accepted", &location, b"", Duration::ZERO)
                }
                ("PUT", p) if p.starts_with("/v2/library/x/blobs/uploads/u1?digest=") => {
                    drain(body, len);
                    reply("201 Created", &[], b"", Duration::ZERO)
                }
                _ => {
                    drain(body, len);
                    reply("200 OK", &[], b"{}", Duration::ZERO)
                }
            }
        })
    }

    #[test]
    fn an_upload_that_gets_no_answer_fails_once_its_body_is_sent() {
        let go = Arc::new(AtomicBool::new(true));
        let s = upload_server(go, Duration::ZERO, Duration::ZERO, || Answer::Nothing);
        let c = client(SHORT);
        let ep = c.hosts().push_endpoint(&s.addr);
        let repo = c
            .repository(&ep, "library/x", &Credentials::default(), true)
            .unwrap();
        let data = vec![7u8; 4096];
        let digest = berth_image::sha256_digest(&data);
        let e = timed(|| repo.upload_blob(&digest, 4096, None, &mut &data[..], &mut |_| {}))
            .expect_err("no answer to the PATCH");
        assert!(e.is_connect(), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "Get \"PATCH http://{}/v2/library/x/blobs/uploads/u1\": no response within 300 ms",
                s.addr
            )
        );
    }

    /// An [`upload_server`] that reads a PATCH body only once `go` is set and
    /// `wait` has passed, with `pause` before each MiB, and a client with the
    /// short stall.
    fn held_upload_server(
        go: Arc<AtomicBool>,
        wait: Duration,
        pause: Duration,
    ) -> (Server, Client) {
        let s = upload_server(go, wait, pause, || {
            reply(
                "202 Accepted",
                &[("Location", "/v2/library/x/blobs/uploads/u1")],
                b"",
                Duration::ZERO,
            )
        });
        (s, client(SHORT))
    }

    fn upload_repo<'c>(c: &'c Client, s: &Server) -> Repository<'c> {
        let ep = c.hosts().push_endpoint(&s.addr);
        c.repository(&ep, "library/x", &Credentials::default(), true)
            .unwrap()
    }

    /// `e` is the error of a PATCH to `s` whose body the registry stopped reading.
    fn assert_took_no_data(e: &DistError, s: &Server) {
        assert!(e.is_connect(), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "Get \"PATCH http://{}/v2/library/x/blobs/uploads/u1\": the registry took no data for 300 ms",
                s.addr
            )
        );
    }

    #[test]
    fn an_upload_the_registry_stops_reading_fails_instead_of_hanging() {
        // The registry takes the PATCH's head and none of its body: once the
        // sockets and the upload queue are full, a send waits `stall` for room.
        let go = Arc::new(AtomicBool::new(false));
        let (s, c) = held_upload_server(go.clone(), Duration::ZERO, Duration::ZERO);
        let repo = upload_repo(&c, &s);
        const SIZE: usize = 256 << 20;
        let mut up = repo.start_upload(None, Some(SIZE as u64)).unwrap();
        let t = Instant::now();
        let taken = (0..SIZE / UPLOAD_CHUNK)
            .take_while(|_| up.send(Bytes::from(vec![1u8; UPLOAD_CHUNK])))
            .count();
        assert!(
            taken < SIZE / UPLOAD_CHUNK,
            "a registry reading nothing took it all"
        );
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let e = up
            .finish(Some("sha256:0000"), Ok(()))
            .expect_err("the registry stopped reading");
        go.store(true, Ordering::SeqCst);
        assert_took_no_data(&e, &s);
    }

    #[test]
    fn an_upload_the_registry_stops_reading_after_the_last_piece_fails() {
        // The whole body is queued (more than the sockets buffer, less than
        // they and the upload queue hold) and the registry reads none of it
        // for 3 stalls: `finish` waits `stall` for the next piece, not forever.
        let go = Arc::new(AtomicBool::new(false));
        let (s, c) = held_upload_server(go.clone(), SHORT * 3, Duration::ZERO);
        let repo = upload_repo(&c, &s);
        const SIZE: usize = 6 << 20;
        let mut up = repo.start_upload(None, Some(SIZE as u64)).unwrap();
        for _ in 0..SIZE / UPLOAD_CHUNK {
            assert!(up.send(Bytes::from(vec![1u8; UPLOAD_CHUNK])));
        }
        go.store(true, Ordering::SeqCst);
        let t = Instant::now();
        let e = up
            .finish(Some("sha256:0000"), Ok(()))
            .expect_err("the registry stopped reading");
        assert!(t.elapsed() < SHORT * 3, "{:?}", t.elapsed());
        assert_took_no_data(&e, &s);
    }

    #[test]
    fn an_upload_the_registry_reads_slowly_is_not_cut_short() {
        // A MiB every 30 ms: the body takes several stalls to go out, but no
        // wait for a piece comes near one.
        let go = Arc::new(AtomicBool::new(true));
        let (s, c) = held_upload_server(go, Duration::ZERO, Duration::from_millis(30));
        let repo = upload_repo(&c, &s);
        const SIZE: usize = 48 << 20;
        let t = Instant::now();
        let mut up = repo.start_upload(None, Some(SIZE as u64)).unwrap();
        for _ in 0..SIZE / UPLOAD_CHUNK {
            assert!(up.send(Bytes::from(vec![1u8; UPLOAD_CHUNK])));
        }
        let (digest, size) = up
            .finish(Some("sha256:0000"), Ok(()))
            .expect("the upload completes at the registry's pace");
        assert_eq!((digest.as_str(), size), ("sha256:0000", SIZE as u64));
        assert!(t.elapsed() >= SHORT * 3, "{:?}", t.elapsed());
    }
}
