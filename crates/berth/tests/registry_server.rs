//! berth's own registry (`berth registry serve`) against the berth daemon
//! driven by the real docker CLI, and against skopeo: push/pull round trips,
//! cross-repository mounts, concurrent pushes, htpasswd and token auth, and a
//! pull that survives the registry being killed and restarted.
//!
//! Needs: the docker CLI, `openssl` and `htpasswd` (apache2-utils); skopeo
//! for the skopeo test (skipped with a message when absent), curl.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::registry::{noise, BerthRegistry, Proxy, Throttle};
use common::*;

/// `curl -s` with extra arguments; returns (status, headers+body as text).
fn curl(args: &[&str]) -> String {
    let o = Command::new("curl")
        .args(["-s", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The `digest: sha256:…` a push printed for `tag`.
fn pushed_digest(out: &str, tag: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{tag}: digest: ")))
        .unwrap_or_else(|| panic!("no digest line for {tag}: {out}"));
    line.split_whitespace().nth(2).unwrap().to_string()
}

#[test]
fn private_registry_push_rmi_pull_keeps_the_image_id() {
    let reg = BerthRegistry::start();
    let d = TestDaemon::start();
    let id = d.import_busybox("hello-src:1");
    let name = format!("{}/hello:1.0", reg.host());
    d.docker(&["tag", "hello-src:1", &name]).ok();
    let out = d.docker(&["push", &name]).ok();
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/hello]",
            reg.host()
        )),
        "{out}"
    );
    assert!(out.contains("Pushed"), "{out}");
    let digest = pushed_digest(&out, "1.0");
    // The push recorded the repository digest, as dockerd does.
    let digests = d
        .docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", &name])
        .ok();
    assert!(
        digests.contains(&format!("{}/hello@{digest}", reg.host())),
        "{digests}"
    );
    // The registry serves that very manifest.
    let served = curl(&[
        "-I",
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
        &format!("http://{}/v2/hello/manifests/1.0", reg.host()),
    ]);
    assert!(
        served
            .to_ascii_lowercase()
            .contains(&format!("docker-content-digest: {digest}")),
        "{served}"
    );

    d.docker(&["rmi", &name, "hello-src:1"]).ok();
    assert_ne!(d.docker(&["image", "inspect", &id]).code, 0);
    let out = d.docker(&["pull", &name]).ok();
    assert!(out.contains("1.0: Pulling from hello"), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    let got = d.docker(&["image", "inspect", "-f", "{{.Id}}", &name]).ok();
    assert_eq!(got.trim(), id, "the same image came back");
}

#[test]
fn push_to_a_second_repository_mounts_the_layers() {
    let reg = BerthRegistry::start();
    let d = TestDaemon::start();
    d.import_busybox("bb:1");
    let first = format!("{}/hello:1.0", reg.host());
    let second = format!("{}/team/copy:2", reg.host());
    d.docker(&["tag", "bb:1", &first]).ok();
    d.docker(&["push", &first]).ok();
    d.docker(&["tag", "bb:1", &second]).ok();
    let out = d.docker(&["push", &second]).ok();
    assert!(out.contains("Mounted from hello"), "{out}");
    assert!(!out.contains("Pushed"), "nothing uploaded again: {out}");
    let digest = pushed_digest(&out, "2");
    // The mounted repository is complete: a fresh daemon pulls it.
    let d2 = TestDaemon::start();
    let out = d2.docker(&["pull", &second]).ok();
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    let a = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "bb:1"])
        .ok();
    let b = d2
        .docker(&["image", "inspect", "-f", "{{.Id}}", &second])
        .ok();
    assert_eq!(a, b);
}

#[test]
fn two_pushes_of_one_image_at_once() {
    let reg = BerthRegistry::start();
    let d = TestDaemon::start();
    // Two layers of 6 MiB each, so both pushes are in flight together.
    let base = make_tar(&[Entry::File("a.bin", &noise(6 << 20, 3))]);
    d.import_tar(&base, &[], "para:1");
    let name = format!("{}/para/img:1", reg.host());
    d.docker(&["tag", "para:1", &name]).ok();
    let runs: Vec<Run> = std::thread::scope(|s| {
        let h: Vec<_> = (0..2)
            .map(|_| s.spawn(|| d.docker(&["push", &name])))
            .collect();
        h.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut digests = Vec::new();
    for r in runs {
        assert_eq!(
            r.code,
            0,
            "{} {}\nregistry log:\n{}",
            r.stdout,
            r.stderr,
            reg.log()
        );
        digests.push(pushed_digest(&r.stdout, "1"));
    }
    assert_eq!(digests[0], digests[1]);
    let manifest = curl(&[
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
        &format!("http://{}/v2/para/img/manifests/1", reg.host()),
    ]);
    assert_eq!(
        format!("sha256:{}", sha256_hex(manifest.as_bytes())),
        digests[0]
    );
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    for l in m["layers"].as_array().unwrap() {
        let digest = l["digest"].as_str().unwrap();
        let blob = Command::new("curl")
            .args(["-s", "--max-time", "30"])
            .arg(format!("http://{}/v2/para/img/blobs/{digest}", reg.host()))
            .output()
            .unwrap()
            .stdout;
        assert_eq!(format!("sha256:{}", sha256_hex(&blob)), digest);
        assert_eq!(blob.len() as u64, l["size"].as_u64().unwrap());
    }
    // Nothing half-written is left in the registry's upload area.
    let uploads = reg.dir.path().join("data/uploads");
    let left: Vec<_> = std::fs::read_dir(&uploads)
        .map(|rd| rd.filter_map(|e| e.ok()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "upload sessions left: {left:?}");
}

#[test]
fn htpasswd_auth_push_needs_login() {
    let reg = BerthRegistry::with_users(&[("alice", "s3cret")]);
    let d = TestDaemon::start();
    let id = d.import_busybox("bb:1");
    let name = format!("{}/alice/bb:1", reg.host());
    d.docker(&["tag", "bb:1", &name]).ok();

    let r = d.docker(&["push", &name]);
    assert_ne!(r.code, 0, "push without login must fail: {}", r.stdout);
    assert!(
        r.stderr.contains("no basic auth credentials"),
        "{} {}",
        r.stdout,
        r.stderr
    );
    // The server refuses it too, with a challenge docker understands.
    let raw = curl(&[
        "-i",
        "-X",
        "POST",
        &format!("http://{}/v2/alice/bb/blobs/uploads/", reg.host()),
    ]);
    assert!(raw.starts_with("HTTP/1.1 401"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("www-authenticate: basic realm=\"berth-test\""),
        "{raw}"
    );

    let bad = d.docker(&["login", "-u", "alice", "-p", "wrong", &reg.host()]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("401"), "{}", bad.stderr);
    let ok = d.docker(&["login", "-u", "alice", "-p", "s3cret", &reg.host()]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("Login Succeeded"), "{}", ok.stdout);
    let out = d.docker(&["push", &name]).ok();
    assert!(out.contains("1: digest: sha256:"), "{out}");
    d.docker(&["rmi", &name, "bb:1"]).ok();
    let out = d.docker(&["pull", &name]).ok();
    assert!(out.contains("Pull complete"), "{out}");
    let got = d.docker(&["image", "inspect", "-f", "{{.Id}}", &name]).ok();
    assert_eq!(got.trim(), id);
}

/// base64url without padding (JWT's encoding).
fn b64url(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (c.get(1).copied().unwrap_or(0) as u32) << 8
            | c.get(2).copied().unwrap_or(0) as u32;
        for i in 0..=c.len() {
            out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn b64(data: &[u8]) -> String {
    let mut s = b64url(data).replace('-', "+").replace('_', "/");
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    s
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A token issuer on a thread: answers `GET /token?service=…&scope=…` for
/// one user (basic auth) with an RS256 JWT granting the scopes asked for,
/// signed by `openssl` with a key generated for the test.
struct Issuer {
    port: u16,
    stop: Arc<AtomicBool>,
    public_key: PathBuf,
}

impl Issuer {
    fn start(dir: &Path, user: &str, pass: &str) -> Issuer {
        let key = dir.join("issuer.key");
        let public_key = dir.join("issuer.pem");
        let o = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key)
            .output()
            .expect("openssl");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&public_key)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let expected = format!("Basic {}", b64(format!("{user}:{pass}").as_bytes()));
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let Ok((conn, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                let _ = serve_token(conn, &key, &expected);
            }
        });
        Issuer {
            port,
            stop,
            public_key,
        }
    }

    fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_token(mut conn: TcpStream, key: &Path, expected: &str) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut authorized = false;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") && v.trim() == expected {
                authorized = true;
            }
        }
    }
    if !authorized {
        let body = r#"{"details":"incorrect username or password"}"#;
        write!(
            conn,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut access = Vec::new();
    for kv in query.split('&') {
        let Some(("scope", v)) = kv.split_once('=') else {
            continue;
        };
        for scope in url_decode(v).split(' ') {
            // repository:<name>:<actions>
            let mut parts = scope.rsplitn(2, ':');
            let (Some(actions), Some(rest)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Some((kind, name)) = rest.split_once(':') else {
                continue;
            };
            access.push(serde_json::json!({
                "type": kind, "name": name,
                "actions": actions.split(',').collect::<Vec<_>>()
            }));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = b64url(
        serde_json::json!({
            "iss": "test-issuer", "aud": "berth-test", "sub": "bob",
            "iat": now, "exp": now + 300, "access": access
        })
        .to_string()
        .as_bytes(),
    );
    let input = format!("{header}.{claims}");
    let mut sign = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    sign.stdin.take().unwrap().write_all(input.as_bytes())?;
    let o = sign.wait_with_output()?;
    let token = format!("{input}.{}", b64url(&o.stdout));
    let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    Ok(())
}

#[test]
fn token_auth_pull_with_login() {
    assert_eq!(b64url(b"any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw");
    assert_eq!(b64(b"ab"), "YWI=");
    assert_eq!(
        url_decode("repository%3Aa%2Fb%3Apull%2Cpush"),
        "repository:a/b:pull,push"
    );
    let dir = tempfile::tempdir().unwrap();
    let issuer = Issuer::start(dir.path(), "bob", "pw");
    let reg = BerthRegistry::start_with(Some(
        serde_json::json!({"auth": {"token": {
            "realm": issuer.realm(), "service": "berth-test",
            "issuer": "test-issuer", "public_key": issuer.public_key
        }}})
        .to_string(),
    ));
    let d = TestDaemon::start();
    let id = d.import_busybox("bb:1");
    let name = format!("{}/bob/bb:1", reg.host());
    d.docker(&["tag", "bb:1", &name]).ok();
    let r = d.docker(&["push", &name]);
    assert_ne!(r.code, 0, "push without login must fail: {}", r.stdout);

    let bad = d.docker(&["login", "-u", "bob", "-p", "nope", &reg.host()]);
    assert_ne!(bad.code, 0, "{}", bad.stdout);
    let ok = d.docker(&["login", "-u", "bob", "-p", "pw", &reg.host()]);
    assert_eq!(ok.code, 0, "{}\n{}", ok.stderr, reg.log());
    assert!(ok.stdout.contains("Login Succeeded"), "{}", ok.stdout);
    let out = d.docker(&["push", &name]).ok();
    assert!(out.contains("1: digest: sha256:"), "{out}");
    d.docker(&["rmi", &name, "bb:1"]).ok();
    let out = d.docker(&["pull", &name]).ok();
    assert!(out.contains("Pull complete"), "{out}");
    let got = d.docker(&["image", "inspect", "-f", "{{.Id}}", &name]).ok();
    assert_eq!(got.trim(), id);
    // Without credentials the issuer refuses, so the pull does too.
    d.docker(&["logout", &reg.host()]).ok();
    d.docker(&["rmi", &name]).ok();
    let r = d.docker(&["pull", &name]);
    assert_ne!(r.code, 0, "pull after logout must fail: {}", r.stdout);
}

#[test]
fn skopeo_copies_both_ways() {
    let Ok(v) = Command::new("skopeo").arg("--version").output() else {
        eprintln!("skipping: skopeo is not installed (apt-get install -y skopeo)");
        return;
    };
    assert!(v.status.success());
    let reg = BerthRegistry::start();
    let d = TestDaemon::start();
    let id = d.import_busybox("bb:1");
    let archive = d.scratch().join("bb.tar");
    let (code, tar) = d.docker_raw(&["save", "bb:1"]);
    assert_eq!(code, 0);
    std::fs::write(&archive, tar).unwrap();
    let skopeo = |args: &[&str]| {
        let o = Command::new("skopeo")
            .arg("--insecure-policy")
            .args(args)
            .env("HOME", d.scratch())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "skopeo {args:?}: {}\nregistry log:\n{}",
            String::from_utf8_lossy(&o.stderr),
            reg.log()
        );
    };
    let remote = format!("docker://{}/x:1", reg.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-archive:{}", archive.display()),
        &remote,
    ]);
    let oci = d.scratch().join("oci");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &remote,
        &format!("oci:{}:x", oci.display()),
    ]);
    // The OCI layout holds the same layers (skopeo rewrites the config into
    // OCI's form, so compare what the layers unpack to).
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(oci.join("index.json")).unwrap()).unwrap();
    let blob = |d: &str| {
        std::fs::read(
            oci.join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    let layers = d
        .docker(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", "bb:1"])
        .ok();
    let layers: serde_json::Value = serde_json::from_str(&layers).unwrap();
    assert_eq!(config["rootfs"]["diff_ids"], layers);
    // And the daemon pulls what skopeo pushed.
    let name = format!("{}/x:1", reg.host());
    d.docker(&["pull", &name]).ok();
    let got = d.docker(&["image", "inspect", "-f", "{{.Id}}", &name]).ok();
    assert_eq!(got.trim(), id);
}

fn partial_download(d: &TestDaemon) -> u64 {
    std::fs::read_dir(d.data_root().join("content/ingest"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("partial-"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

#[test]
fn pull_survives_the_registry_being_killed_and_restarted() {
    let mut reg = BerthRegistry::start();
    let d = TestDaemon::start();
    const SIZE: usize = 24 << 20;
    let tar = make_tar(&[Entry::File("big.bin", &noise(SIZE, 11))]);
    let id = d.import_tar(&tar, &[], "big:1");
    d.docker(&["tag", "big:1", &format!("{}/big/x:1", reg.host())])
        .ok();
    d.docker(&["push", &format!("{}/big/x:1", reg.host())]).ok();

    // A second daemon pulls through a slow proxy (8 MiB/s), so the pull is
    // surely in flight when the registry is killed.
    let d2 = TestDaemon::start();
    let proxy = Proxy::start(reg.port, Throttle::Rate(8 << 20));
    let via = format!("127.0.0.1:{}/big/x:1", proxy.port);
    let first = std::thread::scope(|s| {
        let pull = s.spawn(|| d2.docker(&["pull", &via]));
        let deadline = Instant::now() + Duration::from_secs(60);
        while partial_download(&d2) < 4 << 20 {
            assert!(Instant::now() < deadline, "the pull never got going");
            std::thread::sleep(Duration::from_millis(20));
        }
        reg.kill();
        // Down for longer than the daemon's retries (1 s, then 2 s).
        std::thread::sleep(Duration::from_secs(5));
        reg.spawn();
        pull.join().unwrap()
    });
    let kept = partial_download(&d2);
    let before = proxy.served.load(Ordering::Relaxed);
    if first.code == 0 {
        // The daemon's retries outlasted the outage: it resumed by itself.
        assert!(first.stdout.contains("Pull complete"), "{}", first.stdout);
    } else {
        assert!(kept >= 4 << 20, "the interrupted download is kept: {kept}");
        let again = d2.docker(&["pull", &via]);
        assert_eq!(
            again.code,
            0,
            "{} {}\ndaemon log:\n{}",
            again.stdout,
            again.stderr,
            d2.log()
        );
        assert!(again.stdout.contains("Pull complete"), "{}", again.stdout);
    }
    let after = proxy.served.load(Ordering::Relaxed);
    // Resumed, not restarted: about one copy of the layer went through in all.
    assert!(
        after < (SIZE as u64) + (3 << 20),
        "{after} bytes served ({before} before the second pull)"
    );
    let got = d2.docker(&["image", "inspect", "-f", "{{.Id}}", &via]).ok();
    assert_eq!(got.trim(), id);
}
