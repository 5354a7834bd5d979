//! Pull, push, login and resumed downloads against a real registry (Debian's
//! `docker-registry`, i.e. distribution/distribution), driven by the real
//! docker CLI and by berth.

mod common;

use std::sync::atomic::Ordering;

use common::registry::{free_port, noise, DistributionRegistry, Proxy, Throttle};
use common::*;

#[test]
fn docker_cli_push_rmi_pull_round_trip() {
    let reg = DistributionRegistry::start(&[]);
    let d = TestDaemon::start();
    let id = d.import_busybox("bb:1");
    let name = format!("{}/test/bb:1", reg.host());
    d.docker(&["tag", "bb:1", &name]).ok();

    let out = d.docker(&["push", &name]).ok();
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/test/bb]",
            reg.host()
        )),
        "{out}"
    );
    assert!(out.contains("Pushed"), "{out}");
    assert!(out.contains("1: digest: sha256:"), "{out}");
    // a second push finds every layer there already
    let again = d.docker(&["push", &name]).ok();
    assert!(again.contains("Layer already exists"), "{again}");

    d.docker(&["rmi", &name, "bb:1"]).ok();
    assert!(d.docker(&["image", "inspect", &id]).code != 0);
    let out = d.docker(&["pull", &name]).ok();
    assert!(out.contains("1: Pulling from test/bb"), "{out}");
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert_eq!(out.trim().lines().last(), Some(name.as_str()), "{out}");
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .expect("a digest line");
    let got = d
        .docker(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}} {{json .RepoDigests}}",
            &name,
        ])
        .ok();
    // The same image came back, with `repo@digest` as dockerd records it (no tag).
    assert_eq!(
        got.trim(),
        format!(r#"{id} ["{}/test/bb@{digest}"]"#, reg.host()),
        "{out}"
    );
    // That reference is the image's own: it can be removed on its own.
    let by_digest = format!("{}/test/bb@{digest}", reg.host());
    let untagged = d.docker(&["rmi", &by_digest]).ok();
    assert_eq!(untagged.trim(), format!("Untagged: {by_digest}"));
    d.docker(&["image", "inspect", &name]).ok();
    let out = d.docker(&["pull", &name]).ok();
    assert!(
        out.contains(&format!("Status: Image is up to date for {name}")),
        "{out}"
    );
    // the pulled image runs through load's checks: it can be saved and re-pushed
    d.docker(&["tag", &name, &format!("{}/other/bb:2", reg.host())])
        .ok();
    let out = d
        .docker(&["push", &format!("{}/other/bb:2", reg.host())])
        .ok();
    assert!(out.contains("2: digest: sha256:"), "{out}");
}

#[test]
fn pull_errors_read_like_dockerd() {
    let reg = DistributionRegistry::start(&[]);
    let d = TestDaemon::start();
    let r = d.docker(&["pull", &format!("{}/nope/x:1", reg.host())]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("Error response from daemon: ")
            && (r.stderr.contains("not found") || r.stderr.contains("pull access denied")),
        "{}",
        r.stderr
    );
    // nothing listens there
    let port = free_port();
    let r = d.docker(&["pull", &format!("127.0.0.1:{port}/x:1")]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("connect") || r.stderr.contains("refused"),
        "{}",
        r.stderr
    );
}

#[test]
fn interrupted_pull_resumes_where_it_stopped() {
    let reg = DistributionRegistry::start(&[]);
    let d = TestDaemon::start();
    // one 24 MiB incompressible layer
    let big = noise(24 << 20, 7);
    let tar = make_tar(&[Entry::File("big.bin", &big)]);
    d.import_tar(&tar, &[], "big:1");
    let name = format!("{}/big/x:1", reg.host());
    d.docker(&["tag", "big:1", &name]).ok();
    d.docker(&["push", &name]).ok();
    d.docker(&["rmi", &name, "big:1"]).ok();

    // Through a proxy that cuts each connection after 3 MiB: one pull (three
    // attempts) cannot finish, the next goes on from where it stopped.
    let proxy = Proxy::start(reg.port, Throttle::CutAfter(3 << 20));
    let via = format!("127.0.0.1:{}/big/x:1", proxy.port);
    let first = d.docker(&["pull", &via]);
    assert_ne!(
        first.code,
        0,
        "the first pull cannot finish: {}\ndaemon log:\n{}",
        first.stdout,
        d.log()
    );
    let partial: Vec<_> = std::fs::read_dir(d.data_root().join("content/ingest"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("partial-"))
        .collect();
    assert_eq!(partial.len(), 1, "the interrupted download is kept");
    let kept = partial[0].metadata().unwrap().len();
    assert!(kept >= 6 << 20, "kept {kept} bytes");
    let before = proxy.served.load(Ordering::Relaxed);
    let mut pulls = 1;
    loop {
        let r = d.docker(&["pull", &via]);
        pulls += 1;
        if r.code == 0 {
            assert!(r.stdout.contains("Pull complete"), "{}", r.stdout);
            break;
        }
        assert!(pulls < 6, "pull never finished: {}", r.stderr);
    }
    let after = proxy.served.load(Ordering::Relaxed);
    // Resumed, not restarted: all pulls together moved about one copy of the layer.
    assert!(
        after < (24 << 20) + (4 << 20),
        "{after} bytes served in total ({before} by the first pull)"
    );
    d.docker(&["image", "inspect", &via]).ok();
}

#[test]
fn login_and_push_to_a_registry_with_basic_auth() {
    let reg = DistributionRegistry::start(&[("alice", "s3cret")]);
    let d = TestDaemon::start();
    d.import_busybox("bb:1");
    let name = format!("{}/alice/bb:1", reg.host());
    d.docker(&["tag", "bb:1", &name]).ok();

    let r = d.docker(&["push", &name]);
    assert!(
        r.code != 0 || r.stdout.contains("authentication required"),
        "push without login must fail: {} {}",
        r.stdout,
        r.stderr
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
    d.docker(&["logout", &reg.host()]).ok();
    d.docker(&["rmi", &name]).ok();
    let r = d.docker(&["pull", &name]);
    assert_ne!(r.code, 0, "pull after logout must fail: {}", r.stdout);
}

#[test]
fn info_shows_the_registry_config() {
    let d = TestDaemon::start();
    let out = d
        .docker(&[
            "info",
            "-f",
            "{{json .RegistryConfig.InsecureRegistryCIDRs}}",
        ])
        .ok();
    assert_eq!(out.trim(), r#"["::1/128","127.0.0.0/8"]"#);
}

#[test]
fn docker_hub_names_pull_through_a_mirror_after_a_dead_one() {
    // The mirror: a distribution registry holding library/bb:1.
    let reg = DistributionRegistry::start(&[]);
    let src = TestDaemon::start();
    src.import_busybox("bb:1");
    let mirrored = format!("{}/library/bb:1", reg.host());
    src.docker(&["tag", "bb:1", &mirrored]).ok();
    src.docker(&["push", &mirrored]).ok();

    // Docker Hub is out of reach here: a pull of `bb:1` can only succeed through the
    // mirrors, the first of which does not answer.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let good = format!("http://{}", reg.host());
    let d = TestDaemon::start_with(&["--registry-mirror", &dead, "--registry-mirror", &good]);
    let info = d
        .docker(&["info", "--format", "{{json .RegistryConfig.Mirrors}}"])
        .ok();
    assert!(info.contains(&dead) && info.contains(&good), "{info}");
    let out = d.docker(&["pull", "bb:1"]).ok();
    assert!(
        out.contains("Status: Downloaded newer image for bb:1"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("docker.io/library/bb:1"), "{out}");
    let ran = d
        .docker(&["run", "--rm", "bb:1", "echo", "from the mirror"])
        .ok();
    assert_eq!(ran, "from the mirror\n");
    // Names of other registries never go to the mirrors.
    let other = d.docker(&["pull", "127.0.0.1:9/library/bb:1"]);
    assert_ne!(other.code, 0);
    assert!(other.stderr.contains("127.0.0.1:9"), "{}", other.stderr);
}

#[test]
fn search_asks_the_registrys_v1_search_and_filters_as_docker() {
    // A registry index answering /v1/search (Docker Hub's shape).
    let body = serde_json::json!({
        "num_results": 3,
        "query": "bb",
        "results": [
            {"name": "library/bb", "description": "busybox, the official one",
             "star_count": 120, "is_official": true, "is_automated": false},
            {"name": "someone/bb-tools", "description": "tools around busybox for small images and more",
             "star_count": 12, "is_official": false, "is_automated": true},
            {"name": "other/bb", "description": "", "star_count": 0,
             "is_official": false, "is_automated": false},
        ]
    });
    let index = HttpServer::serve("/", serde_json::to_vec(&body).unwrap());
    let host = index
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let d = TestDaemon::start();
    let term = format!("{host}/bb");

    let all = d.docker(&["search", "--no-trunc", &term]).ok();
    let lines: Vec<&str> = all.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STARS"),
        "{all}"
    );
    assert_eq!(lines.len(), 4, "{all}");
    assert!(
        all.contains("tools around busybox for small images and more"),
        "{all}"
    );

    let names = |args: &[&str]| {
        let mut a = vec!["search", "--format", "{{.Name}} {{.StarCount}}"];
        a.extend(args);
        a.push(&term);
        d.docker(&a).ok()
    };
    assert_eq!(
        names(&["--filter", "stars=10"]),
        "library/bb 120\nsomeone/bb-tools 12\n"
    );
    assert_eq!(names(&["--filter", "is-official=true"]), "library/bb 120\n");
    // berth's own CLI prints the same.
    let berth = d
        .berth(&[
            "search",
            "--format",
            "{{.Name}} {{.StarCount}}",
            "--filter",
            "stars=10",
            &term,
        ])
        .ok();
    assert_eq!(berth, "library/bb 120\nsomeone/bb-tools 12\n");
}
