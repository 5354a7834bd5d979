//! HTTP/1.1 client for the Docker Engine API over a Unix socket or TCP, with
//! docker's version negotiation and berth's daemon autostart.

use std::path::PathBuf;

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
    /// Negotiated API version, used as the `/vX.Y` prefix.
    version: String,
}

impl Client {
    /// A client for `host_str` without contacting the daemon yet.
    pub fn new(host_str: &str) -> Result<Client> {
        Ok(Client {
            host: parse_host(host_str)?,
            host_str: host_str.to_string(),
            version: API_VERSION.to_string(),
        })
    }

    pub fn version(&self) -> &str {
        &self.version
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
    pub async fn negotiate(&mut self) -> Result<()> {
        let server = self.ping().await?;
        self.version = negotiated_version(server.as_deref());
        Ok(())
    }

    /// The versioned path with its query string.
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        let q = encode_query(query);
        if q.is_empty() {
            format!("/v{}{path}", self.version)
        } else {
            format!("/v{}{path}?{q}", self.version)
        }
    }

    /// A versioned request; error statuses become [`CliError::Daemon`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Response<Incoming>> {
        let resp = self
            .send(method, &self.url(path, query), headers, body)
            .await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            let status = resp.status();
            let bytes = read_body(resp).await?;
            return Err(daemon_error(status, &bytes));
        }
        Ok(resp)
    }

    pub async fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let resp = self
            .request(Method::GET, path, query, &[], empty_body())
            .await?;
        parse_json(&read_body(resp).await?)
    }

    pub async fn post_json(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let (headers, b) = match body {
            Some(v) => (
                vec![("Content-Type", "application/json".to_string())],
                json_body(v),
            ),
            None => (vec![], empty_body()),
        };
        let resp = self.request(Method::POST, path, query, &headers, b).await?;
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
        let (content_type, b) = match body {
            Some(v) => ("application/json", json_body(v)),
            None => ("text/plain", empty_body()),
        };
        let headers = [
            ("Connection", "Upgrade".to_string()),
            ("Upgrade", "tcp".to_string()),
            ("Content-Type", content_type.to_string()),
        ];
        let resp = self.request(Method::POST, path, query, &headers, b).await?;
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
            .request(Method::DELETE, path, query, &[], empty_body())
            .await?;
        parse_json(&read_body(resp).await?)
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
