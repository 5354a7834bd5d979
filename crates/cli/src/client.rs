//! HTTP/1.1 client for the Docker Engine API over a Unix socket or TCP, with
//! docker's version negotiation and berth's daemon autostart.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{CliError, Result};

/// The newest API version this client speaks.
pub const API_VERSION: &str = "1.50";
/// What docker assumes when `/_ping` carries no `API-Version`.
const FALLBACK_API_VERSION: &str = "1.24";

pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(String),
}

/// Parses `unix:///path`, `tcp://host:port` (and `http://`), as `DOCKER_HOST` allows.
pub fn parse_host(s: &str) -> Result<Host> {
    if let Some(p) = s.strip_prefix("unix://") {
        if p.is_empty() {
            return Err(CliError::msg(format!("invalid host: {s}")));
        }
        return Ok(Host::Unix(PathBuf::from(p)));
    }
    let rest = s
        .strip_prefix("tcp://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| CliError::msg(format!("unable to parse docker host `{s}`")))?;
    let hostport = rest.trim_end_matches('/');
    if hostport.is_empty() {
        return Err(CliError::msg(format!("unable to parse docker host `{s}`")));
    }
    // docker defaults the TCP port to 2375 when only a host is given.
    let hostport = if hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        hostport.to_string()
    } else {
        format!("{hostport}:2375")
    };
    Ok(Host::Tcp(hostport))
}

/// URL query encoding as Go's `url.Values.Encode` (keys sorted, space as `+`).
pub fn encode_query(params: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                berth_format::query_escape(k),
                berth_format::query_escape(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Path segment escaping as Go's `url.PathEscape`.
pub fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'$' | b'&' | b'+' | b',' | b':' | b';' | b'=' | b'@' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn empty_body() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn json_body(v: &Value) -> Body {
    Full::new(Bytes::from(v.to_string()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A request body streamed from a reader in 1 MiB chunks, never buffered whole
/// (large chunks: each read of a tokio file is a trip to the blocking pool).
pub fn reader_body(reader: Box<dyn AsyncRead + Send + Unpin>) -> Body {
    let stream = futures_util::stream::unfold(Some(reader), |state| async move {
        let mut r = state?;
        let mut buf = vec![0u8; 1 << 20];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), Some(r)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    StreamBody::new(stream).boxed_unsync()
}

#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    host_str: String,
    /// The `/vX.Y` prefix: this client's own version until a daemon says it is older.
    version: Arc<Mutex<String>>,
    /// The daemon has taken a request at `version`, or negotiation set it.
    settled: Arc<AtomicBool>,
}

impl Client {
    /// A client for `host_str` without contacting the daemon yet.
    pub fn new(host_str: &str) -> Result<Client> {
        Ok(Client {
            host: parse_host(host_str)?,
            host_str: host_str.to_string(),
            version: Arc::new(Mutex::new(API_VERSION.to_string())),
            settled: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn version(&self) -> String {
        self.version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Connects once and hangs up: whether a daemon listens, without a request.
    pub async fn probe(&self) -> Result<()> {
        match &self.host {
            Host::Unix(p) => tokio::net::UnixStream::connect(p).await.map(drop),
            Host::Tcp(a) => tokio::net::TcpStream::connect(a.as_str()).await.map(drop),
        }
        .map_err(|e| self.connect_error(e))
    }

    /// Sends one request on a fresh connection (a CLI makes few requests).
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Response<Incoming>> {
        let req = {
            let mut b = Request::builder()
                .method(method.clone())
                .uri(path_and_query)
                .header("Host", "api.moby.localhost")
                .header(
                    "User-Agent",
                    concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)"),
                );
            for (k, v) in headers {
                b = b.header(*k, v.as_str());
            }
            b.body(body)
                .map_err(|e| CliError::Transport(e.to_string()))?
        };
        tracing::debug!(%method, path = path_and_query, "api request");
        let mut sender = match &self.host {
            Host::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(|e| self.connect_error(e))?;
                handshake(s).await?
            }
            Host::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a.as_str())
                    .await
                    .map_err(|e| self.connect_error(e))?;
                handshake(s).await?
            }
        };
        sender
            .send_request(req)
            .await
            .map_err(|e| CliError::Transport(e.to_string()))
    }

    fn connect_error(&self, e: std::io::Error) -> CliError {
        match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                CliError::Connect(self.host_str.clone())
            }
            std::io::ErrorKind::PermissionDenied => CliError::msg(format!(
                "permission denied while trying to connect to the Docker daemon socket at {}: {e}",
                self.host_str
            )),
            _ => CliError::Transport(e.to_string()),
        }
    }

    /// `HEAD /_ping`; returns the server's `API-Version` header if any.
    pub async fn ping(&self) -> Result<Option<String>> {
        let resp = self.send(Method::HEAD, "/_ping", &[], empty_body()).await?;
        let v = resp
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(v)
    }

    /// Pings and downgrades to the server's version when it is older, as docker does.
    pub async fn negotiate(&self) -> Result<()> {
        let server = self.ping().await?;
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) =
            negotiated_version(server.as_deref());
        self.settled.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// The versioned path with its query string.
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        let q = encode_query(query);
        let v = self.version();
        if q.is_empty() {
            format!("/v{v}{path}")
        } else {
            format!("/v{v}{path}?{q}")
        }
    }

    /// A versioned request; error statuses become [`CliError::Daemon`]. A body that
    /// cannot be sent twice goes out only once the version is settled (a ping first).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Response<Incoming>> {
        if !self.settled.load(Ordering::Relaxed) {
            self.negotiate().await?;
        }
        self.request_once(&Call::new(method, path, query, headers), body)
            .await
    }

    async fn request_once(&self, call: &Call<'_>, body: Body) -> Result<Response<Incoming>> {
        let url = self.url(call.path, call.query);
        let resp = self
            .send(call.method.clone(), &url, call.headers, body)
            .await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            let status = resp.status();
            let bytes = read_body(resp).await?;
            return Err(daemon_error(status, &bytes));
        }
        Ok(resp)
    }

    /// A versioned request whose body can be made again: sent at once at this client's
    /// version, and only if the daemon answers that it is older, negotiated (docker's
    /// ping) and sent again. A current daemon costs no ping round trip.
    async fn request_replayable(
        &self,
        call: Call<'_>,
        body: impl Fn() -> Body,
    ) -> Result<Response<Incoming>> {
        if self.settled.load(Ordering::Relaxed) {
            return self.request_once(&call, body()).await;
        }
        match self.request_once(&call, body()).await {
            Err(CliError::Daemon { status, message }) if is_version_too_new(status, &message) => {
                self.negotiate().await?;
                self.request_once(&call, body()).await
            }
            Err(e) => Err(e),
            Ok(resp) => {
                self.settled.store(true, Ordering::Relaxed);
                Ok(resp)
            }
        }
    }

    pub async fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let resp = self
            .request_replayable(Call::new(Method::GET, path, query, &[]), empty_body)
            .await?;
        parse_json(&read_body(resp).await?)
    }

    pub async fn post_json(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let headers = match body {
            Some(_) => vec![("Content-Type", "application/json".to_string())],
            None => vec![],
        };
        let make = || body.map_or_else(empty_body, json_body);
        let resp = self
            .request_replayable(Call::new(Method::POST, path, query, &headers), make)
            .await?;
        let bytes = read_body(resp).await?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        parse_json(&bytes)
    }

    /// A hijacked request (`attach`, `exec start`): `Connection: Upgrade`,
    /// `Upgrade: tcp`; the daemon answers 101 and the connection becomes the
    /// raw or multiplexed stream.
    pub async fn hijack(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<hyper::upgrade::Upgraded> {
        let content_type = if body.is_some() {
            "application/json"
        } else {
            "text/plain"
        };
        let headers = [
            ("Connection", "Upgrade".to_string()),
            ("Upgrade", "tcp".to_string()),
            ("Content-Type", content_type.to_string()),
        ];
        let make = || body.map_or_else(empty_body, json_body);
        let resp = self
            .request_replayable(Call::new(Method::POST, path, query, &headers), make)
            .await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(CliError::msg(format!(
                "unexpected status code from the daemon for a hijacked request: {}",
                resp.status().as_u16()
            )));
        }
        hyper::upgrade::on(resp)
            .await
            .map_err(|e| CliError::Transport(e.to_string()))
    }

    pub async fn delete_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let resp = self
            .request_replayable(Call::new(Method::DELETE, path, query, &[]), empty_body)
            .await?;
        parse_json(&read_body(resp).await?)
    }
}

/// What a versioned request asks for, less its body.
struct Call<'a> {
    method: Method,
    path: &'a str,
    query: &'a [(&'a str, String)],
    headers: &'a [(&'a str, String)],
}

impl<'a> Call<'a> {
    fn new(
        method: Method,
        path: &'a str,
        query: &'a [(&'a str, String)],
        headers: &'a [(&'a str, String)],
    ) -> Self {
        Call {
            method,
            path,
            query,
            headers,
        }
    }
}

async fn handshake<S>(stream: S) -> Result<hyper::client::conn::http1::SendRequest<Body>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| CliError::Transport(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("connection ended: {e}");
        }
    });
    Ok(sender)
}

/// dockerd's answer to a path versioned newer than it speaks: "client version 1.50 is
/// too new. Maximum supported API version is 1.41".
fn is_version_too_new(status: u16, message: &str) -> bool {
    status == 400 && message.starts_with("client version ") && message.contains(" is too new")
}

/// min(client, server) as docker computes it; no header means 1.24.
pub fn negotiated_version(server: Option<&str>) -> String {
    let server = server
        .filter(|s| !s.is_empty())
        .unwrap_or(FALLBACK_API_VERSION);
    if version_less(server, API_VERSION) {
        server.to_string()
    } else {
        API_VERSION.to_string()
    }
}

/// Compares dotted versions numerically (`1.9` < `1.10`).
pub fn version_less(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}

pub async fn read_body(resp: Response<Incoming>) -> Result<Bytes> {
    let collected = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| CliError::Transport(e.to_string()))?;
    Ok(collected.to_bytes())
}

pub fn parse_json(bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| CliError::msg(format!("error reading JSON from daemon: {e}")))
}

/// The daemon's `{"message": …}` body (or its plain text) as an error.
pub fn daemon_error(status: StatusCode, body: &[u8]) -> CliError {
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(v) => match v.get("message").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None => String::from_utf8_lossy(body).trim().to_string(),
        },
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    };
    let message = if message.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("unknown error")
            .to_string()
    } else {
        message
    };
    CliError::Daemon {
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("unix:///run/berth/berth.sock").unwrap(),
            Host::Unix("/run/berth/berth.sock".into())
        );
        assert_eq!(
            parse_host("tcp://1.2.3.4:2376").unwrap(),
            Host::Tcp("1.2.3.4:2376".into())
        );
        assert_eq!(
            parse_host("tcp://example").unwrap(),
            Host::Tcp("example:2375".into())
        );
        assert!(parse_host("ftp://x").is_err());
    }

    #[test]
    fn query_and_path_encoding() {
        let q = encode_query(&[
            ("tag", "v1".into()),
            ("fromSrc", "-".into()),
            ("changes", "CMD [\"sh\"]".into()),
        ]);
        assert_eq!(q, "changes=CMD+%5B%22sh%22%5D&fromSrc=-&tag=v1");
        assert_eq!(
            path_escape("docker.io/library/busybox:latest"),
            "docker.io%2Flibrary%2Fbusybox:latest"
        );
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiated_version(Some("1.50")), "1.50");
        assert_eq!(negotiated_version(Some("1.51")), "1.50");
        assert_eq!(negotiated_version(Some("1.43")), "1.43");
        assert_eq!(negotiated_version(None), "1.24");
        assert!(version_less("1.9", "1.10"));
        let c = Client::new("unix:///x.sock").unwrap();
        assert_eq!(
            c.url(
                "/images/json",
                &[
                    ("all", "1".into()),
                    ("filters", r#"{"dangling":{"true":true}}"#.into())
                ]
            ),
            "/v1.50/images/json?all=1&filters=%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%7D"
        );
    }

    /// A daemon on a Unix socket in `dir` answering `n` requests (one per connection)
    /// from `answer(request line)`; returns the request lines it was sent.
    fn fake_daemon(
        dir: &std::path::Path,
        n: usize,
        answer: fn(&str) -> String,
    ) -> std::thread::JoinHandle<Vec<String>> {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::os::unix::net::UnixListener::bind(dir.join("d.sock")).unwrap();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while seen.len() < n && std::time::Instant::now() < deadline {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    continue; // a probe: connected and hung up
                }
                let mut h = String::new();
                while r.read_line(&mut h).unwrap_or(0) > 2 {
                    h.clear();
                }
                let req = line.trim_end().trim_end_matches(" HTTP/1.1").to_string();
                r.get_mut().write_all(answer(&req).as_bytes()).unwrap();
                seen.push(req);
            }
            seen
        })
    }

    fn http(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
            body.len()
        )
    }

    fn run_client(dir: &std::path::Path) -> (Client, Value, Value) {
        let c = Client::new(&format!("unix://{}", dir.join("d.sock").display())).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (a, b) = rt.block_on(async {
            c.probe().await.unwrap();
            let a = c.get_json("/containers/json", &[]).await.unwrap();
            let b = c.post_json("/containers/x/stop", &[], None).await.unwrap();
            (a, b)
        });
        (c, a, b)
    }

    #[test]
    fn a_current_daemon_is_asked_without_a_ping() {
        let dir = tempfile::tempdir().unwrap();
        let daemon = fake_daemon(dir.path(), 2, |req| {
            if req.starts_with("HEAD /_ping") {
                http("200 OK", "API-Version: 1.50\r\n", "")
            } else {
                http("200 OK", "", "[]")
            }
        });
        let (c, a, _) = run_client(dir.path());
        assert_eq!(a, serde_json::json!([]));
        assert_eq!(c.version(), API_VERSION);
        drop(c);
        let seen = daemon.join().unwrap();
        assert_eq!(
            seen,
            [
                "GET /v1.50/containers/json",
                "POST /v1.50/containers/x/stop"
            ]
        );
    }

    #[test]
    fn an_older_daemon_is_asked_again_at_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let daemon = fake_daemon(dir.path(), 4, |req| {
            if req.starts_with("HEAD /_ping") {
                http("200 OK", "API-Version: 1.41\r\n", "")
            } else if req.contains("/v1.50/") {
                http(
                    "400 Bad Request",
                    "",
                    r#"{"message":"client version 1.50 is too new. Maximum supported API version is 1.41"}"#,
                )
            } else {
                http("200 OK", "", "[]")
            }
        });
        let (c, a, b) = run_client(dir.path());
        assert_eq!((a, b), (serde_json::json!([]), serde_json::json!([])));
        assert_eq!(c.version(), "1.41");
        drop(c);
        let seen = daemon.join().unwrap();
        assert_eq!(
            seen,
            [
                "GET /v1.50/containers/json",
                "HEAD /_ping",
                "GET /v1.41/containers/json",
                "POST /v1.41/containers/x/stop"
            ]
        );
    }

    #[test]
    fn daemon_errors() {
        let e = daemon_error(
            StatusCode::NOT_FOUND,
            br#"{"message":"No such image: x:latest"}"#,
        );
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such image: x:latest"
        );
        assert!(e.is_not_found());
        let e = daemon_error(StatusCode::INTERNAL_SERVER_ERROR, b"boom\n");
        assert_eq!(e.to_string(), "Error response from daemon: boom");
    }
}
