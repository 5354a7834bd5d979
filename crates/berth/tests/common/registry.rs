//! Registry fixtures shared by the `registry_*` tests: a registry process
//! (Debian's `docker-registry` or `berth registry serve`) on a free loopback
//! port, killed on drop; htpasswd files; a proxy that cuts or slows the
//! registry's responses; incompressible layer content.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::BERTH;

/// Debian's distribution/distribution build (`apt-get install -y docker-registry`).
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A loopback port nothing listens on right now, and never handed out before in this
/// process: tests run in parallel, and two servers told the same port let one test's
/// `wait_for_port` see the other's server (and then lose it when that test ends).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Waits (20 s at most) until something accepts connections on `port`.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One `user:bcrypt-hash` line, as `htpasswd -Bbn` prints it.
pub fn htpasswd_line(user: &str, pass: &str) -> String {
    let o = Command::new("htpasswd")
        .args(["-Bbn", user, pass])
        .output()
        .expect("htpasswd (apt-get install -y apache2-utils)");
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Writes `dir/htpasswd` with one line per (user, password) pair; returns its path.
pub fn write_htpasswd(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let mut lines = String::new();
    for (u, p) in users {
        lines.push_str(&htpasswd_line(u, p));
        lines.push('\n');
    }
    let path = dir.join("htpasswd");
    std::fs::write(&path, lines).unwrap();
    path
}

/// Kills and reaps a child process, if there is one.
fn stop(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Debian's `docker-registry` on a free loopback port, storing under a temp
/// dir; killed on drop.
pub struct DistributionRegistry {
    child: Option<Child>,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl DistributionRegistry {
    /// `users`: (user, password) pairs for htpasswd auth; none = open registry.
    pub fn start(users: &[(&str, &str)]) -> DistributionRegistry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: apt-get install -y docker-registry"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut auth = String::new();
        if !users.is_empty() {
            let htpasswd = write_htpasswd(dir.path(), users);
            auth = format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        // The guard exists before the wait, so a registry that never listens is still killed.
        let reg = DistributionRegistry {
            child: Some(child),
            port,
            _dir: dir,
        };
        wait_for_port(port, "registry");
        reg
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for DistributionRegistry {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// `berth registry serve` on a free loopback port, storing under a temp dir
/// (`dir/data`, log in `dir/registry.log`); killed on drop, and can be killed
/// and started again on the same port and storage.
pub struct BerthRegistry {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    config: Option<PathBuf>,
}

impl BerthRegistry {
    /// An open registry.
    pub fn start() -> BerthRegistry {
        Self::launch(Self::new_dir(), None)
    }

    /// `config`: the JSON config file's content, if any.
    pub fn start_with(config: Option<String>) -> BerthRegistry {
        Self::launch(Self::new_dir(), config)
    }

    /// `users`: (user, password) pairs for htpasswd auth (realm `berth-test`);
    /// none = open registry.
    pub fn with_users(users: &[(&str, &str)]) -> BerthRegistry {
        if users.is_empty() {
            return Self::start();
        }
        let dir = Self::new_dir();
        let htpasswd = write_htpasswd(dir.path(), users);
        let config = serde_json::json!({
            "auth": {"htpasswd": {"path": htpasswd, "realm": "berth-test"}}
        })
        .to_string();
        Self::launch(dir, Some(config))
    }

    fn new_dir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("berth-registry-test.")
            .tempdir()
            .unwrap()
    }

    fn launch(dir: tempfile::TempDir, config: Option<String>) -> BerthRegistry {
        let config = config.map(|c| {
            let p = dir.path().join("config.json");
            std::fs::write(&p, c).unwrap();
            p
        });
        let mut s = BerthRegistry {
            child: None,
            port: free_port(),
            dir,
            config,
        };
        s.spawn();
        s
    }

    /// Starts the server (again) and waits until it listens.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("registry.log"))
            .unwrap();
        let mut c = Command::new(BERTH);
        c.args(["registry", "serve", "--addr"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--root")
            .arg(self.dir.path().join("data"));
        if let Some(cfg) = &self.config {
            c.arg("--config").arg(cfg);
        }
        let child = c
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn berth registry serve");
        self.child = Some(child);
        wait_for_port(self.port, "berth registry");
    }

    pub fn kill(&mut self) {
        stop(&mut self.child);
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for BerthRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a [`Proxy`] does to the responses it passes on.
#[derive(Clone, Copy)]
pub enum Throttle {
    /// Cut every connection after this many bytes of response: a registry
    /// that dies mid-download, again and again.
    CutAfter(u64),
    /// Pass responses on at about this many bytes a second.
    Rate(u64),
}

/// A TCP proxy on a free loopback port to `127.0.0.1:target` that counts
/// the response bytes it passes on; a target that is down is simply a closed
/// connection. Stops accepting on drop.
pub struct Proxy {
    pub port: u16,
    pub served: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(target: u16, throttle: Throttle) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let served = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, st2) = (served.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st2.load(Ordering::Relaxed) {
                let Ok((client, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue; // the target is down: the client sees a closed connection
                };
                let (mut c_r, mut u_w) =
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_r, &mut u_w);
                    let _ = u_w.shutdown(Shutdown::Write);
                });
                let served = s2.clone();
                std::thread::spawn(move || pump(upstream, client, throttle, &served));
            }
        });
        Proxy { port, served, stop }
    }
}

/// Copies one response from `upstream` to `client` as `throttle` says.
fn pump(mut upstream: TcpStream, mut client: TcpStream, throttle: Throttle, served: &AtomicU64) {
    let mut sent = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match upstream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let n = match throttle {
            Throttle::CutAfter(cut) => n.min((cut - sent) as usize),
            Throttle::Rate(_) => n,
        };
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
        served.fetch_add(n as u64, Ordering::Relaxed);
        match throttle {
            Throttle::CutAfter(cut) if sent >= cut => break,
            Throttle::CutAfter(_) => {}
            Throttle::Rate(rate) => {
                std::thread::sleep(Duration::from_micros(n as u64 * 1_000_000 / rate))
            }
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = upstream.shutdown(Shutdown::Both);
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Incompressible bytes (a xorshift stream), so a layer stays as big as its file.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
