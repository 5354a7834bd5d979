//! Hijacked connections (attach, exec start): the HTTP connection becomes a
//! raw byte stream joined to the shim's stream for the container or exec.

use std::os::unix::net::UnixStream as StdUnixStream;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The client's side of the connection once the 101 has gone out.
pub struct Upgrade(Option<OnUpgrade>);

impl Upgrade {
    pub fn take(mut req: Request) -> Upgrade {
        Upgrade(req.extensions_mut().remove::<OnUpgrade>())
    }

    /// The upgrade and the request body (exec start carries JSON before hijacking).
    pub fn take_parts(req: Request) -> (Upgrade, Body) {
        let (mut parts, body) = req.into_parts();
        (Upgrade(parts.extensions.remove::<OnUpgrade>()), body)
    }

    pub async fn wait(self) -> Option<TokioIo<Upgraded>> {
        match self.0?.await {
            Ok(u) => Some(TokioIo::new(u)),
            Err(e) => {
                tracing::debug!(error = %e, "hijack failed");
                None
            }
        }
    }
}

/// docker's 101: raw stream with a TTY, multiplexed frames without one.
pub fn response(tty: bool) -> Response {
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    resp
}

/// `ctrl-p,ctrl-q` → `[0x10, 0x11]`, docker's term.ToBytes rules.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in spec.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [x] if x.is_ascii_lowercase() => x - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(format!("Invalid escape keys ({spec}) provided")),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("Invalid escape keys ({spec}) provided"));
        }
    }
    Ok(out)
}

/// Joins the client and the shim until the container's output ends (or the
/// client types the detach keys). The client's half-close becomes stdin EOF.
/// `before_close` runs after the output ended and before the client sees EOF
/// (exec records its exit code there, so `exec inspect` right after is correct).
pub async fn pump(
    client: TokioIo<Upgraded>,
    shim: StdUnixStream,
    keys: Vec<u8>,
    stdin: bool,
    before_close: impl std::future::Future<Output = ()>,
) {
    if shim.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(shim) = tokio::net::UnixStream::from_std(shim) else {
        return;
    };
    let (mut shim_r, mut shim_w) = shim.into_split();
    let (mut cli_r, mut cli_w) = tokio::io::split(client);
    let output = async {
        let _ = tokio::io::copy(&mut shim_r, &mut cli_w).await;
        before_close.await;
        let _ = cli_w.shutdown().await;
    };
    let input = async {
        if !stdin {
            // Still read the client: a close tells us it left.
            let mut sink = [0u8; 4096];
            while matches!(cli_r.read(&mut sink).await, Ok(n) if n > 0) {}
            return false;
        }
        let mut buf = vec![0u8; 32 * 1024];
        let mut matched = 0usize;
        loop {
            let n = match cli_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut out = Vec::with_capacity(n);
            for &b in &buf[..n] {
                if !keys.is_empty() && b == keys[matched] {
                    matched += 1;
                    if matched == keys.len() {
                        return true;
                    }
                    continue;
                }
                if matched > 0 {
                    out.extend_from_slice(&keys[..matched]);
                    matched = 0;
                }
                out.push(b);
            }
            if !out.is_empty() && shim_w.write_all(&out).await.is_err() {
                break;
            }
        }
        let _ = shim_w.shutdown().await;
        false
    };
    tokio::pin!(output);
    tokio::pin!(input);
    tokio::select! {
        _ = &mut output => {}
        detached = &mut input => {
            if !detached {
                // stdin ended: keep delivering output until the process is done.
                output.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").unwrap(),
            vec![0x10, 0x11]
        );
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-pp").is_err());
    }
}
