//! berth's own pull/push/login/logout against berth's built-in registry
//! (`berth registry serve`), checked like the docker CLI's output and
//! `config.json` handling.

mod common;

use std::path::PathBuf;

use common::registry::BerthRegistry;
use common::*;

fn config_json(d: &TestDaemon) -> serde_json::Value {
    let p: PathBuf = d.dir.path().join("docker-config/config.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn berth_push_rmi_pull_round_trip() {
    let reg = BerthRegistry::with_users(&[]);
    let d = TestDaemon::start();
    let id = d.import_busybox("bb:1");
    let repo = format!("{}/test/bb", reg.host());
    let name = format!("{repo}:1");
    d.berth(&["tag", "bb:1", &name]).ok();

    let out = d.berth(&["push", &name]).ok();
    assert!(
        out.contains(&format!("The push refers to repository [{repo}]")),
        "{out}"
    );
    assert!(out.contains("Pushed"), "{out}");
    let digest_line = out
        .lines()
        .find(|l| l.starts_with("1: digest: sha256:"))
        .unwrap_or_else(|| panic!("no digest line: {out}"));
    assert!(digest_line.contains(" size: "), "{digest_line}");
    // -q prints only the reference.
    let q = d.berth(&["push", "-q", &name]).ok();
    assert_eq!(q.trim(), name);

    d.berth(&["rmi", &name, "bb:1"]).ok();
    assert_ne!(d.berth(&["image", "inspect", &id]).code, 0);
    let out = d.berth(&["pull", &name]).ok();
    assert!(out.contains("1: Pulling from test/bb"), "{out}");
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert_eq!(out.trim().lines().last(), Some(name.as_str()), "{out}");
    let got = d.berth(&["image", "inspect", "-f", "{{.Id}}", &name]).ok();
    assert_eq!(got.trim(), id, "the same image came back");

    // A bare name gets `latest`, announced first; -q prints the reference only.
    d.berth(&["tag", &name, &repo]).ok();
    d.berth(&["push", &repo]).ok();
    let out = d.berth(&["pull", &repo]).ok();
    assert!(out.starts_with("Using default tag: latest\n"), "{out}");
    assert_eq!(
        out.trim().lines().last(),
        Some(format!("{repo}:latest").as_str())
    );
    let q = d.berth(&["pull", "-q", &name]).ok();
    assert_eq!(q, format!("{name}\n"));
    // -a pulls every tag and ends with the bare name.
    let out = d.berth(&["pull", "-a", &repo]).ok();
    assert_eq!(out.trim().lines().last(), Some(repo.as_str()), "{out}");
    let r = d.berth(&["pull", "-a", &name]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "tag can't be used with --all-tags/-a\n");
    // A missing tag is the daemon's error, exit 1.
    let r = d.berth(&["pull", &format!("{repo}:nope")]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
}

#[test]
fn berth_login_logout_with_basic_auth() {
    let reg = BerthRegistry::with_users(&[("alice", "s3cret")]);
    let d = TestDaemon::start();
    d.import_busybox("bb:1");
    let name = format!("{}/alice/bb:1", reg.host());
    d.berth(&["tag", "bb:1", &name]).ok();

    let r = d.berth(&["push", &name]);
    assert_ne!(r.code, 0, "push without login must fail: {}", r.stdout);

    let bad = d.berth(&["login", "-u", "alice", "-p", "wrong", &reg.host()]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.starts_with(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n"
        ),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.contains("Error response from daemon"),
        "{}",
        bad.stderr
    );

    let ok = d.berth_in(
        &["login", "-u", "alice", "--password-stdin", &reg.host()],
        Some(b"s3cret\n"),
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(ok.stdout, "Login Succeeded\n");
    assert_eq!(ok.stderr, "");
    let cfg = config_json(&d);
    // base64("alice:s3cret")
    assert_eq!(
        cfg["auths"][reg.host()]["auth"],
        "YWxpY2U6czNjcmV0",
        "{cfg}"
    );
    // Mode 0600, as docker writes it.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.dir.path().join("docker-config/config.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // Stored credentials go along with push, pull and run's pull.
    let out = d.berth(&["push", &name]).ok();
    assert!(out.contains("1: digest: sha256:"), "{out}");
    d.berth(&["rmi", &name, "bb:1"]).ok();
    let out = d.berth(&["pull", &name]).ok();
    assert!(out.contains("Pull complete"), "{out}");
    d.berth(&["rmi", &name]).ok();
    let r = d.berth(&["create", &name, "sh"]);
    assert_eq!(
        r.code, 0,
        "create pulls with the stored credentials: {}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("Unable to find image '{name}' locally")),
        "{}",
        r.stderr
    );
    d.berth(&["rm", r.stdout.trim()]).ok();

    let out = d.berth(&["logout", &reg.host()]).ok();
    assert_eq!(
        out,
        format!("Removing login credentials for {}\n", reg.host())
    );
    let cfg = config_json(&d);
    assert!(cfg["auths"].get(reg.host()).is_none(), "{cfg}");
    d.berth(&["rmi", &name]).ok();
    let r = d.berth(&["pull", &name]);
    assert_ne!(r.code, 0, "pull after logout must fail: {}", r.stdout);

    // --config chooses another config directory.
    let other = d.dir.path().join("other-config");
    let other_s = other.to_str().unwrap();
    d.berth(&[
        "--config",
        other_s,
        "login",
        "-u",
        "alice",
        "-p",
        "s3cret",
        &reg.host(),
    ])
    .ok();
    let text = std::fs::read_to_string(other.join("config.json")).unwrap();
    assert!(text.contains("YWxpY2U6czNjcmV0"), "{text}");
    d.berth(&["--config", other_s, "logout", &reg.host()]).ok();
    let text = std::fs::read_to_string(other.join("config.json")).unwrap();
    assert!(!text.contains("YWxpY2U6czNjcmV0"), "{text}");
}
