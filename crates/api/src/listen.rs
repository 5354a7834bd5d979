//! Listening sockets (`unix://` and `tcp://`) and the serve loop.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use berth_daemon::Daemon;
use tower::ServiceExt as _;

use crate::version;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("invalid host {0}: expected unix:///path or tcp://host:port")]
    BadHost(String),
    #[error("can't listen on {host}: {source}")]
    Bind {
        host: String,
        source: std::io::Error,
    },
}

enum Listener {
    Unix(tokio::net::UnixListener, PathBuf),
    Tcp(tokio::net::TcpListener),
}

/// Binds every host, then serves until `shutdown` resolves; unix socket files are
/// removed on the way out. Sockets are mode 0660, group `group` when it exists.
pub async fn serve(
    daemon: Arc<Daemon>,
    hosts: &[String],
    group: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ListenError> {
    let mut listeners = Vec::new();
    for host in hosts {
        listeners.push(bind(host, group).await?);
    }
    let router = crate::router(daemon);
    let app = tower::service_fn(move |req: Request<Body>| {
        let router = router.clone();
        async move {
            let mut resp = match version::negotiate(req) {
                Ok(req) => router.oneshot(req).await?,
                Err(e) => axum::response::IntoResponse::into_response(e),
            };
            version::stamp(&mut resp);
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let mut sockets = Vec::new();
    for l in listeners {
        let mut rx = rx.clone();
        let stop = async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let svc = app.clone();
        match l {
            Listener::Unix(l, path) => {
                sockets.push(path);
                let mk = axum::ServiceExt::<Request<Body>>::into_make_service(svc);
                tasks.push(tokio::spawn(async move {
                    axum::serve(l, mk).with_graceful_shutdown(stop).await
                }));
            }
            Listener::Tcp(l) => {
                let mk = axum::ServiceExt::<Request<Body>>::into_make_service(svc);
                tasks.push(tokio::spawn(async move {
                    axum::serve(l, mk).with_graceful_shutdown(stop).await
                }));
            }
        }
    }
    shutdown.await;
    let _ = tx.send(true);
    // Long-lived requests (wait, logs -f, attach) would hold a graceful shutdown
    // forever; containers do not need them, so give them a moment and go.
    let all = futures_util::future::join_all(tasks);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), all).await;
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
    Ok(())
}

async fn bind(host: &str, group: &str) -> Result<Listener, ListenError> {
    let fail = |source| ListenError::Bind {
        host: host.to_string(),
        source,
    };
    if let Some(path) = host.strip_prefix("unix://") {
        let path = Path::new(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        // A socket file left by a daemon that died: nobody answers on it.
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(fail(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another daemon is listening on this socket",
                )));
            }
            std::fs::remove_file(path).map_err(fail)?;
        }
        let l = tokio::net::UnixListener::bind(path).map_err(fail)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(fail)?;
        if let Some(gid) = group_id(group) {
            std::os::unix::fs::chown(path, Some(0), Some(gid)).map_err(fail)?;
        }
        return Ok(Listener::Unix(l, path.to_path_buf()));
    }
    if let Some(addr) = host.strip_prefix("tcp://") {
        let l = tokio::net::TcpListener::bind(addr).await.map_err(fail)?;
        return Ok(Listener::Tcp(l));
    }
    Err(ListenError::BadHost(host.to_string()))
}

/// The gid of a group from /etc/group, if the group exists.
fn group_id(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then(|| f.nth(1)?.parse().ok())?
    })
}
