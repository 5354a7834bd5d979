//! Test harness: a throw-away daemon per test (own socket, data root and exec
//! root under a temp dir) and helpers to drive it with the real docker CLI and
//! with berth. Everything is removed when the handle drops.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod registry;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// An image ID as docker shows it: 12 hex digits, no `sha256:`.
pub fn short(id: &str) -> &str {
    &id.trim_start_matches("sha256:")[..12]
}

pub struct TestDaemon {
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    /// This daemon's own bridge (and nft table `berth_<bridge>`).
    pub bridge: String,
    child: Option<Child>,
    /// Extra daemon flags, kept for restarts.
    extra: Vec<String>,
}

/// What a command printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "command failed: stdout={} stderr={}",
            self.stdout, self.stderr
        );
        self.stdout
    }
}

impl TestDaemon {
    pub fn start() -> TestDaemon {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> TestDaemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-test.")
            .tempdir()
            .expect("tempdir");
        let sock = dir.path().join("berth.sock");
        let n: u32 = rand_u32();
        let bridge = format!("bt{:08x}", n);
        let mut args: Vec<String> = vec![
            "--bridge".into(),
            bridge.clone(),
            "--bip".into(),
            format!("10.{}.{}.1/24", 100 + (n >> 8) % 100, n % 256),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut d = TestDaemon {
            dir,
            sock,
            bridge,
            child: None,
            extra: args,
        };
        d.spawn();
        d
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    fn spawn(&mut self) {
        let empty_config = self.dir.path().join("daemon.json");
        if !empty_config.exists() {
            std::fs::write(&empty_config, "{}").unwrap();
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .unwrap();
        let child = Command::new(BERTH)
            .arg("daemon")
            .arg("-H")
            .arg(self.host())
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.dir.path().join("exec"))
            .arg("--config-file")
            .arg(&empty_config)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn berth daemon");
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if std::os::unix::net::UnixStream::connect(&self.sock).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("daemon did not come up: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// SIGKILLs the daemon (a crash) and starts it again on the same data root.
    pub fn crash_and_restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// SIGKILLs the daemon and reaps it, leaving the data root as the crash left it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the daemon again (after `kill9` or `stop`) on the same data root.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "daemon still running");
        self.spawn();
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    /// SIGTERM and wait: the clean way out.
    pub fn stop(&mut self) -> i32 {
        let Some(mut c) = self.child.take() else {
            return 0;
        };
        send_signal(c.id() as i32, 15);
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code().unwrap_or(-1);
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = c.kill();
                let _ = c.wait();
                return -1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs the real docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Run {
        self.docker_in(args, None)
    }

    pub fn docker_in(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .args(args);
        run(c, stdin)
    }

    /// Runs the real docker CLI and returns its exit code and raw stdout (for binary output like `save`).
    pub fn docker_raw(&self, args: &[&str]) -> (i32, Vec<u8>) {
        let o = Command::new("docker")
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn docker");
        (o.status.code().unwrap_or(-1), o.stdout)
    }

    /// Runs the berth CLI and returns its exit code and raw stdout.
    pub fn berth_raw(&self, args: &[&str]) -> (i32, Vec<u8>) {
        let o = Command::new(BERTH)
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn berth");
        (o.status.code().unwrap_or(-1), o.stdout)
    }

    /// Runs the berth CLI against this daemon.
    pub fn berth(&self, args: &[&str]) -> Run {
        self.berth_in(args, None)
    }

    pub fn berth_in(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut c = Command::new(BERTH);
        c.env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .arg("-H")
            .arg(self.host())
            .args(args);
        run(c, stdin)
    }

    /// Imports the busybox-static example image as `name` and returns its ID.
    pub fn import_busybox(&self, name: &str) -> String {
        let tar = busybox_rootfs_tar();
        let out = self.docker_in(&["import", "-", name], Some(&tar)).ok();
        out.trim().to_string()
    }

    /// Every file under the data root (relative paths), for "nothing changed" checks.
    pub fn store_listing(&self) -> Vec<String> {
        let mut out = Vec::new();
        list_files(&self.data_root(), &self.data_root(), &mut out);
        out.sort();
        out
    }
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.strip_prefix(root).unwrap().display().to_string());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            list_files(root, &p, out);
        }
    }
}

/// Sends `sig` to `pid` with kill(1).
pub fn send_signal(pid: i32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// No command of these tests takes this long; a hang fails the test instead of the suite.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

pub fn run(mut c: Command, stdin: Option<&[u8]>) -> Run {
    use std::io::Read;
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let what = format!("{c:?}");
    let mut child = c.spawn().expect("spawn");
    if let Some(data) = stdin {
        let mut sin = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = sin.write_all(&data);
        });
    }
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command hung for {COMMAND_TIMEOUT:?}: {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run::from(Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    })
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        // Containers outlive daemons by design: remove them through the API first,
        // then sweep whatever a crash left (shims, mounts, the bridge, the nft table).
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]).stdout;
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.docker(&args);
            }
        }
        self.stop();
        sweep(self.dir.path(), &self.bridge);
    }
}

/// Kills leftover shims and their containers, unmounts overlays, removes cgroups,
/// the bridge and the nft table of a test daemon.
fn sweep(dir: &Path, bridge: &str) {
    let run = dir.join("exec/c");
    for e in std::fs::read_dir(&run).into_iter().flatten().flatten() {
        for f in ["init.pid", "shim.pid"] {
            if let Ok(pid) = std::fs::read_to_string(e.path().join(f)) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    send_signal(pid, 9);
                }
            }
        }
        let id = e.file_name().to_string_lossy().into_owned();
        std::thread::sleep(Duration::from_millis(50));
        for ctl in [
            "memory",
            "pids",
            "cpu,cpuacct",
            "cpuset",
            "blkio",
            "devices",
            "freezer",
            "hugetlb",
            "net_cls,net_prio",
            "perf_event",
            "systemd",
            "unified",
            "",
        ] {
            let p = Path::new("/sys/fs/cgroup")
                .join(ctl)
                .join("berth")
                .join(&id);
            let _ = std::fs::remove_dir(&p);
        }
    }
    let data = dir.join("data/containers");
    for e in std::fs::read_dir(&data).into_iter().flatten().flatten() {
        let merged = e.path().join("rw/merged");
        let _ = Command::new("umount").arg("-l").arg(&merged).output();
    }
    let _ = Command::new("ip").args(["link", "del", bridge]).output();
    let _ = Command::new("nft")
        .args(["delete", "table", "inet", &format!("berth_{bridge}")])
        .output();
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    u32::from_le_bytes(b)
}

/// A root filesystem tar of Debian's busybox-static with its applet links.
pub fn busybox_rootfs_tar() -> Vec<u8> {
    let busybox =
        std::fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, p: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, p, std::io::empty()).unwrap();
    };
    for d in ["bin", "etc", "tmp", "root"] {
        dir(&mut b, d);
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(busybox.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "bin/busybox", busybox.as_slice())
        .unwrap();
    for applet in [
        "sh", "echo", "ls", "cat", "true", "false", "sleep", "id", "env", "ps", "dd", "seq", "nc",
        "tr", "head", "kill", "mkdir", "pwd", "hostname", "wc", "grep", "unshare", "mount",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(passwd.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "etc/passwd", &passwd[..]).unwrap();
    b.into_inner().unwrap()
}

impl TestDaemon {
    /// Imports `tar` (from stdin) as `name` (may be empty) with extra import flags; returns the ID.
    pub fn import_tar(&self, tar: &[u8], flags: &[&str], name: &str) -> String {
        let mut args = vec!["import"];
        args.extend_from_slice(flags);
        args.push("-");
        if !name.is_empty() {
            args.push(name);
        }
        self.docker_in(&args, Some(tar)).ok().trim().to_string()
    }

    /// Writes `bytes` to a file in the test's temp dir (outside the data root).
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// The test's own scratch dir (inside the temp dir, outside the data root).
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.path().join("scratch");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Raw HTTP through the daemon's socket with curl; `-s` and the socket are added.
    pub fn curl(&self, args: &[&str]) -> Run {
        let mut c = Command::new("curl");
        c.arg("-s").arg("--unix-socket").arg(&self.sock).args(args);
        run(c, None)
    }

    /// Every path under the temp dir that is not the data root, exec root,
    /// log, config or scratch: things a bad input must never create.
    pub fn stray_files(&self) -> Vec<String> {
        let keep = [
            "data",
            "exec",
            "daemon.log",
            "daemon.json",
            "docker-config",
            "scratch",
            "berth.sock",
        ];
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name.as_str()) && !name.starts_with("input") {
                out.push(name);
            }
        }
        let scratch = self.dir.path().join("scratch");
        list_files(&scratch, &scratch, &mut out);
        out.sort();
        out
    }

    /// The distinct image IDs (full, sorted) of `docker images -a -q --no-trunc`.
    pub fn image_ids(&self) -> Vec<String> {
        let out = self.docker(&["images", "-a", "-q", "--no-trunc"]).ok();
        let mut ids: Vec<String> = out.lines().map(str::to_string).collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

pub fn zstd(b: &[u8]) -> Vec<u8> {
    zstd::encode_all(b, 3).unwrap()
}

/// One entry of a hand-made tar; names are written raw (`../x` allowed) so
/// tests can build hostile archives.
pub enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// A ustar archive with exactly these entries (no path checks).
pub fn make_tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let (name, data, link): (&str, &[u8], Option<&str>) = match e {
            Entry::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (n, &[], None)
            }
            Entry::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (n, d, None)
            }
            Entry::Symlink(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                (n, &[], Some(t))
            }
            Entry::Hardlink(n, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                (n, &[], Some(t))
            }
        };
        h.set_size(data.len() as u64);
        let raw = h.as_ustar_mut().unwrap();
        assert!(name.len() < 100, "name too long for a raw ustar name");
        raw.name = [0; 100];
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = link {
            raw.linkname = [0; 100];
            raw.linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A tiny root filesystem whose content depends on `marker`, so each marker
/// gives a distinct image (fast: no busybox inside).
pub fn small_rootfs_tar(marker: &str) -> Vec<u8> {
    make_tar(&[
        Entry::Dir("etc"),
        Entry::File("etc/marker", marker.as_bytes()),
    ])
}

/// A minimal image config for these layer tars (uncompressed).
pub fn image_config(layers: &[&[u8]], cmd: &str) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    let history: Vec<serde_json::Value> = layers
        .iter()
        .enumerate()
        .map(|(i, _)| serde_json::json!({"created": "2024-01-02T03:04:05Z", "created_by": format!("layer {i}")}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": [cmd]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }))
    .unwrap()
}

fn tar_of_files(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// A docker-archive as dockerd 20 writes it: `<id>/layer.tar`, `<id>/json`,
/// `<id>/VERSION`, `<config>.json`, `manifest.json`, `repositories`.
/// `config` is the image config (its sha256 is the image ID). Returns the tar.
pub fn docker20_archive(layers: &[&[u8]], config: &[u8], repo_tag: Option<&str>) -> Vec<u8> {
    let config_hex = sha256_hex(config);
    let mut files = Vec::new();
    let mut layer_paths = Vec::new();
    let mut last_id = String::new();
    for (i, l) in layers.iter().enumerate() {
        let id = sha256_hex(format!("v1-{i}-{}", sha256_hex(l)).as_bytes());
        files.push((format!("{id}/VERSION"), b"1.0".to_vec()));
        files.push((
            format!("{id}/json"),
            format!("{{\"id\":\"{id}\"}}").into_bytes(),
        ));
        files.push((format!("{id}/layer.tar"), l.to_vec()));
        layer_paths.push(format!("{id}/layer.tar"));
        last_id = id;
    }
    files.push((format!("{config_hex}.json"), config.to_vec()));
    let tags: Vec<&str> = repo_tag.into_iter().collect();
    let manifest = serde_json::json!([{"Config": format!("{config_hex}.json"), "RepoTags": tags, "Layers": layer_paths}]);
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    if let Some(rt) = repo_tag {
        let (repo, tag) = rt.rsplit_once(':').unwrap();
        let repos = serde_json::json!({ repo: { tag: last_id } });
        files.push(("repositories".into(), serde_json::to_vec(&repos).unwrap()));
    }
    tar_of_files(&files)
}

/// A bare OCI image layout tar (`oci-layout`, `index.json`, `blobs/sha256/…`)
/// holding one image; `name` goes into `io.containerd.image.name`.
pub fn oci_layout_archive(layers: &[&[u8]], config: &[u8], name: Option<&str>) -> Vec<u8> {
    let mut files = vec![(
        "oci-layout".to_string(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    )];
    let desc = |media: &str, b: &[u8]| serde_json::json!({"mediaType": media, "digest": format!("sha256:{}", sha256_hex(b)), "size": b.len()});
    let mut layer_descs = Vec::new();
    for l in layers {
        files.push((format!("blobs/sha256/{}", sha256_hex(l)), l.to_vec()));
        layer_descs.push(desc("application/vnd.oci.image.layer.v1.tar", l));
    }
    files.push((
        format!("blobs/sha256/{}", sha256_hex(config)),
        config.to_vec(),
    ));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", config),
        "layers": layer_descs,
    }))
    .unwrap();
    files.push((
        format!("blobs/sha256/{}", sha256_hex(&manifest)),
        manifest.clone(),
    ));
    let mut mdesc = desc("application/vnd.oci.image.manifest.v1+json", &manifest);
    if let Some(n) = name {
        mdesc["annotations"] = serde_json::json!({
            "io.containerd.image.name": n,
            "org.opencontainers.image.ref.name": n.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest"),
        });
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [mdesc]});
    files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
    tar_of_files(&files)
}

/// A one-file HTTP server on 127.0.0.1 serving `body` for any GET until dropped (a TLS
/// handshake gets the connection closed).
pub struct HttpServer {
    pub url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    pub fn serve(path: &str, body: Vec<u8>) -> HttpServer {
        use std::io::{BufRead, BufReader};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                // A TLS handshake (clients that try https first): plain HTTP only here,
                // so hang up, and the client falls back to http.
                let mut byte = [0u8; 1];
                if conn.peek(&mut byte).is_ok_and(|n| n == 1) && byte[0] == 0x16 {
                    continue;
                }
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                        break;
                    }
                }
                let mut conn = conn;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                if !first.starts_with("HEAD") {
                    let _ = conn.write_all(&body);
                }
            }
        });
        HttpServer {
            url,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
