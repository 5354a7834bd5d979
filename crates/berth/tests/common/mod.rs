//! Test harness: a throw-away daemon per test (own socket, data root and exec
//! root under a temp dir) and helpers to drive it with the real docker CLI and
//! with berth. Everything is removed when the handle drops.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

pub struct TestDaemon {
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    child: Option<Child>,
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
        assert_eq!(self.code, 0, "command failed: stdout={} stderr={}", self.stdout, self.stderr);
        self.stdout
    }
}

impl TestDaemon {
    pub fn start() -> TestDaemon {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> TestDaemon {
        let dir = tempfile::Builder::new().prefix("berth-test.").tempdir().expect("tempdir");
        let sock = dir.path().join("berth.sock");
        let mut d = TestDaemon { dir, sock, child: None };
        d.spawn(extra);
        d
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    fn spawn(&mut self, extra: &[&str]) {
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
            .args(extra)
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
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn(&[]);
    }

    /// SIGTERM and wait: the clean way out.
    pub fn stop(&mut self) -> i32 {
        let Some(mut c) = self.child.take() else { return 0 };
        unsafe_kill(c.id() as i32, 15);
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
        c.env("DOCKER_HOST", self.host()).env("DOCKER_CONFIG", self.dir.path().join("docker-config")).args(args);
        run(c, stdin)
    }

    /// Runs the berth CLI against this daemon.
    pub fn berth(&self, args: &[&str]) -> Run {
        self.berth_in(args, None)
    }

    pub fn berth_in(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut c = Command::new(BERTH);
        c.env_remove("DOCKER_HOST").env("DOCKER_CONFIG", self.dir.path().join("docker-config")).arg("-H").arg(self.host()).args(args);
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
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.strip_prefix(root).unwrap().display().to_string());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            list_files(root, &p, out);
        }
    }
}

fn unsafe_kill(pid: i32, sig: i32) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

fn run(mut c: Command, stdin: Option<&[u8]>) -> Run {
    c.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    if let Some(data) = stdin {
        let mut sin = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = sin.write_all(&data);
        });
    }
    Run::from(child.wait_with_output().expect("wait"))
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A root filesystem tar of Debian's busybox-static with its applet links.
pub fn busybox_rootfs_tar() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, p: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, p, std::io::empty()).unwrap();
    };
    for d in ["bin", "etc", "tmp", "root"] {
        dir(&mut b, d);
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "bin/busybox", busybox.as_slice()).unwrap();
    for applet in ["sh", "echo", "ls", "cat", "true", "false", "sleep", "id", "env", "ps"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox").unwrap();
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(passwd.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "etc/passwd", &passwd[..]).unwrap();
    b.into_inner().unwrap()
}
