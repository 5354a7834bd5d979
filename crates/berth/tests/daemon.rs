//! `berth daemon` itself: config file checks, the socket, the pidfile,
//! side-by-side daemons, clean shutdown and crashes at awkward moments.

mod common;

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Runs `berth daemon` with this daemon.json in a fresh temp dir; it must exit by itself.
fn daemon_with_config(json: &str) -> (Run, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix("berth-test.")
        .tempdir()
        .unwrap();
    let cfg = dir.path().join("daemon.json");
    std::fs::write(&cfg, json).unwrap();
    let mut c = Command::new(BERTH);
    c.arg("daemon")
        .arg("-H")
        .arg(format!("unix://{}/s.sock", dir.path().display()))
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("exec"))
        .arg("--config-file")
        .arg(&cfg);
    (run(c, None), dir)
}

#[test]
fn unknown_config_key_is_an_error() {
    let (r, dir) = daemon_with_config(r#"{"bogus": true, "debug": false}"#);
    assert_ne!(r.code, 0);
    let cfg = dir.path().join("daemon.json");
    assert!(
        r.stderr.contains(&format!(
            "unable to configure the Docker daemon with file {}: the following directives don't match any configuration option: bogus\n",
            cfg.display()
        )),
        "{}",
        r.stderr
    );
    assert!(
        !dir.path().join("s.sock").exists(),
        "no socket for a daemon that refused to start"
    );
    assert!(
        !dir.path().join("data").exists(),
        "no data root for a daemon that refused to start"
    );

    let (r, _dir) = daemon_with_config(r#"{"bogus": 1, "zzz": 2}"#);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("the following directives don't match any configuration option: bogus, zzz"),
        "{}",
        r.stderr
    );

    let (r, _dir) = daemon_with_config("{ not json");
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("daemon.json"), "{}", r.stderr);
}

/// Waits for a spawned daemon's API socket; a daemon that exits first fails the test
/// with what it printed on stderr.
fn wait_for_socket(child: &mut std::process::Child, sock: &std::path::Path) {
    let start = Instant::now();
    while !sock.exists() && start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(st)) = child.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("daemon exited with {st}: {err}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(sock.exists(), "no socket at {} after 10 s", sock.display());
}

#[test]
fn known_config_keys_are_accepted() {
    let d = TestDaemon::start();
    let dir = d.scratch();
    let cfg = dir.join("ok.json");
    std::fs::write(&cfg, r#"{"debug": false, "log-level": "warn", "registry-mirrors": [], "insecure-registries": ["localhost:5000"], "live-restore": true}"#).unwrap();
    let sock = dir.join("ok.sock");
    let mut child = Command::new(BERTH)
        .arg("daemon")
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--config-file")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_socket(&mut child, &sock);
    let r = run(
        {
            let mut c = Command::new("docker");
            c.env("DOCKER_HOST", format!("unix://{}", sock.display()))
                .env("DOCKER_CONFIG", dir.join("docker-config"))
                .args(["version", "--format", "{{.Server.APIVersion}}"]);
            c
        },
        None,
    );
    assert_eq!(r.ok(), "1.50\n");
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn socket_is_mode_0660_with_docker_group() {
    let d = TestDaemon::start();
    let meta = std::fs::metadata(&d.sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
    let group = std::fs::read_to_string("/etc/group").unwrap();
    if let Some(line) = group.lines().find(|l| l.starts_with("docker:")) {
        let gid: u32 = line.split(':').nth(2).unwrap().parse().unwrap();
        assert_eq!(meta.gid(), gid, "socket group is docker");
    } else {
        assert_eq!(meta.gid(), 0);
    }
}

#[test]
fn two_daemons_side_by_side_do_not_share_images() {
    let a = TestDaemon::start();
    let b = TestDaemon::start();
    let ida = a.import_tar(&small_rootfs_tar("a"), &[], "only-in-a:1");
    let idb = b.import_tar(&small_rootfs_tar("b"), &[], "only-in-b:1");
    assert_eq!(a.image_ids(), vec![ida]);
    assert_eq!(b.image_ids(), vec![idb]);
    assert_eq!(
        a.docker(&["images", "--format", "{{.Repository}}"]).ok(),
        "only-in-a\n"
    );
    assert_eq!(
        b.docker(&["images", "--format", "{{.Repository}}"]).ok(),
        "only-in-b\n"
    );
    let r = b.docker(&["image", "inspect", "only-in-a:1"]);
    assert_eq!(r.code, 1);
    let ia = a
        .docker(&["info", "--format", "{{.ID}} {{.DockerRootDir}}"])
        .ok();
    let ib = b
        .docker(&["info", "--format", "{{.ID}} {{.DockerRootDir}}"])
        .ok();
    assert_ne!(
        ia.split(' ').next(),
        ib.split(' ').next(),
        "each data root has its own engine ID"
    );
    assert_eq!(
        ia.trim().split(' ').nth(1).unwrap(),
        a.data_root().display().to_string()
    );
}

#[test]
fn sigterm_exits_zero_and_removes_socket_and_pidfile() {
    let mut d = TestDaemon::start();
    d.import_tar(&small_rootfs_tar("t"), &[], "term:1");
    let pidfile = d.dir.path().join("exec/berth.pid");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        d.pid().to_string()
    );
    assert_eq!(d.stop(), 0);
    assert!(!d.sock.exists(), "socket removed on shutdown");
    assert!(!pidfile.exists(), "pidfile removed on shutdown");
    d.restart();
    assert_eq!(
        d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .ok(),
        "term:1\n"
    );
}

#[test]
fn a_second_daemon_on_the_same_exec_root_is_refused() {
    let d = TestDaemon::start();
    let mut c = Command::new(BERTH);
    c.arg("daemon")
        .arg("-H")
        .arg(format!("unix://{}/second.sock", d.scratch().display()))
        .arg("--data-root")
        .arg(d.scratch().join("data2"))
        .arg("--exec-root")
        .arg(d.dir.path().join("exec"))
        .arg("--config-file")
        .arg(d.dir.path().join("daemon.json"));
    let r = run(c, None);
    assert_ne!(r.code, 0);
    let pidfile = d.dir.path().join("exec/berth.pid");
    assert!(
        r.stderr.contains(&format!(
            "pid file found, ensure berth is not running or delete {}",
            pidfile.display()
        )),
        "{}",
        r.stderr
    );
    // The first daemon is untouched.
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        d.pid().to_string()
    );
    assert_eq!(
        d.docker(&["version", "--format", "{{.Server.APIVersion}}"])
            .ok(),
        "1.50\n"
    );
}

#[test]
fn an_exec_root_too_long_for_the_shim_sockets_serves_images_but_no_container() {
    let dir = tempfile::Builder::new()
        .prefix("berth-test.")
        .tempdir()
        .unwrap();
    let exec_root = dir
        .path()
        .join("an-exec-root-whose-name-leaves-no-room-for-socket-paths");
    let sock = dir.path().join("s.sock");
    std::fs::write(dir.path().join("daemon.json"), "{}").unwrap();
    let mut child = Command::new(BERTH)
        .arg("daemon")
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(&exec_root)
        .arg("--bridge")
        .arg("none")
        .arg("--config-file")
        .arg(dir.path().join("daemon.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_socket(&mut child, &sock);
    let docker = |args: &[&str], stdin: Option<&[u8]>| {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .env("DOCKER_CONFIG", dir.path().join("docker-config"))
            .args(args);
        run(c, stdin)
    };
    let tar = busybox_rootfs_tar();
    assert_eq!(docker(&["import", "-", "bb"], Some(&tar)).code, 0);
    let r = docker(&["run", "--rm", "--network", "none", "bb", "true"], None);
    assert_eq!(r.code, 125, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "exec root {} is too long: a container's shim socket, {}/c/",
            exec_root.display(),
            exec_root.display()
        )) && r
            .stderr
            .contains("must fit in 107 bytes; use an exec root of at most"),
        "{}",
        r.stderr
    );
    assert_eq!(docker(&["images", "-q"], None).code, 0);
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    assert!(child.wait().unwrap().success());
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(log.contains("containers cannot start"), "{log}");
}

#[test]
fn kill9_after_acknowledged_changes_loses_nothing() {
    let mut d = TestDaemon::start();
    let a = d.import_tar(&small_rootfs_tar("a"), &["-c", "ENV K=v"], "crash/a:1");
    d.crash_and_restart();
    assert_eq!(d.image_ids(), vec![a.clone()]);
    d.docker(&["tag", "crash/a:1", "crash/a:2"]).ok();
    d.crash_and_restart();
    let b = d.import_tar(&small_rootfs_tar("b"), &[], "crash/b:1");
    d.docker(&["rmi", "crash/a:1"]).ok();
    d.crash_and_restart();
    let rows = d
        .docker(&[
            "images",
            "--no-trunc",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
        ])
        .ok();
    let mut rows: Vec<&str> = rows.lines().collect();
    rows.sort();
    assert_eq!(rows, [format!("crash/a:2 {a}"), format!("crash/b:1 {b}")]);
    assert_eq!(
        d.docker(&["image", "inspect", "-f", "{{.Config.Env}}", "crash/a:2"])
            .ok(),
        "[K=v]\n"
    );
    // The images still save and load after the crashes.
    let (code, tar) = d.docker_raw(&["save", "crash/a:2", "crash/b:1"]);
    assert_eq!(code, 0);
    d.docker(&["rmi", "crash/a:2", "crash/b:1"]).ok();
    d.crash_and_restart();
    assert!(d.image_ids().is_empty());
    let out = d.docker_in(&["load"], Some(&tar)).ok();
    assert_eq!(out, "Loaded image: crash/a:2\nLoaded image: crash/b:1\n");
}

/// Incompressible bytes, fast to make.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

#[test]
fn kill9_during_a_large_load_leaves_no_partial_image() {
    let mut d = TestDaemon::start();
    d.import_tar(&small_rootfs_tar("kept"), &[], "kept:1");
    let before = d.store_listing();
    let before_ids = d.image_ids();

    let big = noise(50 << 20, 7);
    let layer = make_tar(&[Entry::Dir("data"), Entry::File("data/blob", &big)]);
    let small_layer = small_rootfs_tar("second");
    let config = image_config(&[&small_layer, &layer], "sh");
    let archive = docker20_archive(&[&small_layer, &layer], &config, Some("big:1"));

    // Feed the archive through a pipe and stop half-way: the daemon is
    // guaranteed to be mid-load when it dies.
    let mut load = Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = load.stdin.take().unwrap();
    stdin.write_all(&archive[..archive.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let ingest = d.data_root().join("content/ingest");
    let start = Instant::now();
    let ingest_bytes = || -> u64 {
        std::fs::read_dir(&ingest)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    while ingest_bytes() < (8 << 20) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the load never reached the ingest dir"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    d.kill9();
    drop(stdin);
    let st = load.wait().unwrap();
    assert!(!st.success(), "the interrupted load cannot have succeeded");

    // The crash left partial data behind; a restart must clean it up.
    d.restart();
    assert_eq!(d.image_ids(), before_ids, "no partial image");
    assert_eq!(
        d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .ok(),
        "kept:1\n"
    );
    assert_eq!(
        std::fs::read_dir(&ingest).unwrap().count(),
        0,
        "ingest is empty after restart"
    );
    let tmp = d.data_root().join("snapshots/.tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).map(|r| r.count()).unwrap_or(0),
        0,
        "snapshots/.tmp is empty after restart"
    );
    assert_eq!(
        d.store_listing(),
        before,
        "the store is exactly as before the load"
    );

    // And the same archive loads fine afterwards.
    let file = d.write_file("input-big.tar", &archive);
    let out = d.docker(&["load", "-i", file.to_str().unwrap()]).ok();
    assert_eq!(out, "Loaded image: big:1\n");
}
