//! The same image flows through the `berth` CLI, compared with what the real
//! docker CLI prints for the same daemon state.

mod common;

use common::*;

/// Runs `args` through docker and berth against the same state and asserts
/// identical exit code, stdout and stderr. Outputs with relative times
/// ("2 seconds ago") may tick between the runs, so docker runs before and
/// after berth and berth must match one of them.
#[track_caller]
/// Runs `args` through docker, berth, docker again: berth must print what one of
/// the docker runs printed. Lines are compared as a multiset, because docker
/// lists the tags of an image that is in several repositories in random order
/// (it walks a Go map); column widths do not depend on that order.
fn same(d: &TestDaemon, args: &[&str]) -> String {
    let first = d.docker(args);
    let b = d.berth(args);
    let second = d.docker(args);
    let lines = |s: &str| {
        let mut l: Vec<String> = s.lines().map(str::to_string).collect();
        l.sort();
        l
    };
    let matches =
        |x: &Run| x.code == b.code && lines(&x.stdout) == lines(&b.stdout) && x.stderr == b.stderr;
    if !matches(&first) && !matches(&second) {
        panic!(
            "berth differs from docker for {args:?}\n--- docker (exit {}):\n{}{}\n--- berth (exit {}):\n{}{}",
            first.code, first.stdout, first.stderr, b.code, b.stdout, b.stderr
        );
    }
    b.stdout
}

#[test]
fn import_through_berth() {
    let d = TestDaemon::start();
    let tar = busybox_rootfs_tar();
    let out = d
        .berth_in(
            &[
                "import",
                "-c",
                r#"CMD ["sh"]"#,
                "--change",
                "ENV A=b",
                "-m",
                "via berth",
                "-",
                "bb:1",
            ],
            Some(&tar),
        )
        .ok();
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    assert_eq!(
        d.docker(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}} {{.Config.Cmd}} {{.Config.Env}} {{.Comment}}",
            "bb:1"
        ])
        .ok(),
        format!("{id} [sh] [A=b] via berth\n")
    );
    assert_eq!(
        d.docker(&["image", "inspect", "-f", "{{.RootFS.Layers}}", "bb:1"])
            .ok(),
        format!("[sha256:{}]\n", sha256_hex(&tar))
    );
    // From a file and from a URL.
    let small = small_rootfs_tar("berth-file");
    let f = d.write_file("input.tar", &small);
    let out = d.berth(&["import", f.to_str().unwrap(), "fromfile:1"]).ok();
    assert!(out.starts_with("sha256:"), "{out}");
    let srv = HttpServer::serve("/x.tar", small_rootfs_tar("berth-url"));
    let out = d.berth(&["image", "import", &srv.url, "fromurl:1"]).ok();
    assert!(
        out.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("sha256:"),
        "{out}"
    );
    assert_eq!(
        d.docker(&["images", "-q", "fromurl:1"])
            .ok()
            .lines()
            .count(),
        1
    );
}

#[test]
fn listing_matches_docker() {
    let d = TestDaemon::start();
    let a = d.import_tar(
        &small_rootfs_tar("a"),
        &["-c", "LABEL tier=db"],
        "example/a:1",
    );
    d.import_tar(&small_rootfs_tar("b"), &["-c", "LABEL tier=web"], "other:2");
    d.import_tar(&small_rootfs_tar("old"), &[], "other:2"); // leaves a dangling image
    d.berth(&["tag", "example/a:1", "example/a:latest"]).ok();
    d.berth(&["image", "tag", short(&a), "exotic"]).ok();
    let table = same(&d, &["images"]);
    assert!(
        table.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 6, "{table}");
    same(&d, &["image", "ls"]);
    same(&d, &["images", "-a"]);
    same(&d, &["images", "-q"]);
    same(&d, &["images", "-aq", "--no-trunc"]);
    same(&d, &["images", "--digests"]);
    same(&d, &["images", "--no-trunc"]);
    same(&d, &["images", "example/a"]);
    same(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    same(
        &d,
        &[
            "images",
            "--format",
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}",
        ],
    );
    same(&d, &["images", "--format", "{{json .}}"]);
    same(&d, &["images", "--format", "json"]);
    same(&d, &["images", "-f", "dangling=true"]);
    same(&d, &["images", "-f", "dangling=false", "-q"]);
    same(&d, &["images", "-f", "reference=ex*"]);
    same(&d, &["images", "--filter", "label=tier=web"]);
    same(&d, &["images", "-f", "label=tier"]);
    same(&d, &["images", "-f", "bogus=1"]);
    same(&d, &["images", "-f", "dangling=maybe"]);
}

#[test]
fn tag_and_rmi_through_berth() {
    let d = TestDaemon::start();
    let id = d.import_tar(&small_rootfs_tar("x"), &[], "one:1");
    assert_eq!(d.berth(&["tag", "one:1", "two:2"]).ok(), "");
    assert_eq!(d.berth(&["tag", "one:1", "two:3"]).ok(), "");
    // Conflict: same error text and exit code as docker.
    same(&d, &["rmi", &id]);
    let r = d.berth(&["rmi", &id]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim_end(),
        format!("Error response from daemon: conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", short(&id))
    );
    assert_eq!(d.berth(&["rmi", "two:3"]).ok(), "Untagged: two:3\n");
    let out = d.berth(&["image", "rm", "-f", &id]).ok();
    let mut untagged: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("Untagged: "))
        .collect();
    untagged.sort();
    assert_eq!(untagged, ["Untagged: one:1", "Untagged: two:2"], "{out}");
    assert!(out.lines().any(|l| l == format!("Deleted: {id}")), "{out}");
    assert!(d.image_ids().is_empty());

    // Removing several names: one line block per argument; unknown names fail at the end.
    let a = d.import_tar(&small_rootfs_tar("a"), &[], "a");
    let r = d.berth(&["rmi", "a", "nope"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.starts_with("Untagged: a:latest\n")
            && r.stdout.contains(&format!("Deleted: {a}\n")),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.stderr.trim_end(),
        "Error response from daemon: No such image: nope:latest"
    );
}

#[test]
fn prune_through_berth() {
    let d = TestDaemon::start();
    let old = d.import_tar(&small_rootfs_tar("old"), &[], "p:1");
    d.import_tar(&small_rootfs_tar("new"), &[], "p:1");
    let out = d.berth(&["image", "prune", "-f"]).ok();
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows[0], "Deleted Images:", "{out}");
    assert_eq!(rows[1], format!("deleted: {old}"), "{out}");
    assert_eq!(rows[rows.len() - 2], "", "{out}");
    assert!(
        rows[rows.len() - 1].starts_with("Total reclaimed space: "),
        "{out}"
    );
    same(&d, &["image", "prune", "-f"]);
}

#[test]
fn save_and_load_through_berth() {
    let d = TestDaemon::start();
    let id = d.import_tar(&small_rootfs_tar("s"), &["-c", r#"CMD ["sh"]"#], "sv:1");
    d.docker(&["tag", "sv:1", "sv:2"]).ok();
    let (code, docker_bytes) = d.docker_raw(&["save", "sv:1"]);
    assert_eq!(code, 0);
    let (code, berth_bytes) = d.berth_raw(&["save", "sv:1"]);
    assert_eq!(code, 0);
    assert_eq!(
        berth_bytes, docker_bytes,
        "berth save to stdout writes the daemon's archive unchanged"
    );

    let file = d.scratch().join("sv.tar");
    assert_eq!(
        d.berth(&["save", "-o", file.to_str().unwrap(), "sv:1", "sv:2"])
            .ok(),
        ""
    );
    d.berth(&["rmi", "sv:1", "sv:2"]).ok();
    assert!(d.image_ids().is_empty());
    assert_eq!(
        d.berth(&["load", "-i", file.to_str().unwrap()]).ok(),
        "Loaded image: sv:1\nLoaded image: sv:2\n"
    );
    assert_eq!(d.image_ids(), vec![id.clone()]);
    d.berth(&["rmi", "sv:1", "sv:2"]).ok();
    assert_eq!(
        d.berth_in(&["load", "-q"], Some(&gzip(&docker_bytes))).ok(),
        "Loaded image: sv:1\n"
    );
    d.berth(&["rmi", "sv:1"]).ok();
    assert_eq!(
        d.berth_in(&["image", "load"], Some(&zstd(&docker_bytes)))
            .ok(),
        "Loaded image: sv:1\n"
    );

    // By ID.
    let (code, by_id) = d.berth_raw(&["image", "save", &id]);
    assert_eq!(code, 0);
    d.berth(&["rmi", "sv:1"]).ok();
    assert_eq!(
        d.berth_in(&["load"], Some(&by_id)).ok(),
        format!("Loaded image ID: {id}\n")
    );

    // Refusing to write an archive to a terminal-less stdout is fine; unknown names are not.
    same(&d, &["save", "nope"]);
    let r = d.berth(&[
        "save",
        "-o",
        d.scratch().join("x.tar").to_str().unwrap(),
        "nope",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        !d.scratch().join("x.tar").exists(),
        "no archive for a failed save"
    );
}

#[test]
fn load_errors_through_berth() {
    let d = TestDaemon::start();
    let tar = busybox_rootfs_tar();
    let f = d.write_file("input-cut.tar", &tar[..4000]);
    same(&d, &["load", "-i", f.to_str().unwrap()]);
    same(&d, &["load", "-i", "/nonexistent/archive.tar"]);
    same(&d, &["import", "/nonexistent/rootfs.tar"]);
}

#[test]
fn history_inspect_and_system_through_berth() {
    let d = TestDaemon::start();
    d.import_busybox("hist");
    let l1 = small_rootfs_tar("one");
    let l2 = small_rootfs_tar("two");
    let cfg = image_config(&[&l1, &l2], "sh");
    d.docker_in(
        &["load"],
        Some(&docker20_archive(&[&l1, &l2], &cfg, Some("two:layers"))),
    )
    .ok();
    for img in ["hist", "two:layers"] {
        same(&d, &["history", img]);
        same(&d, &["image", "history", "--no-trunc", img]);
        same(&d, &["history", "-q", img]);
        same(&d, &["history", "-H=false", img]);
        same(
            &d,
            &[
                "history",
                "--format",
                "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
                img,
            ],
        );
        same(&d, &["history", "--format", "json", img]);
        same(&d, &["image", "inspect", img]);
        same(&d, &["inspect", img]);
        same(
            &d,
            &[
                "image",
                "inspect",
                "-f",
                "{{.Id}} {{.RepoTags}} {{.Os}}",
                img,
            ],
        );
        same(
            &d,
            &[
                "image",
                "inspect",
                "--format",
                "{{index .RootFS.Layers 0}}",
                img,
            ],
        );
    }
    same(&d, &["image", "inspect", "hist", "two:layers"]);
    same(&d, &["image", "inspect", "nope"]);
    same(&d, &["image", "inspect", "hist", "nope"]);
    same(&d, &["history", "nope"]);
    same(&d, &["system", "df"]);
    same(&d, &["system", "df", "-v"]);
    same(
        &d,
        &[
            "system",
            "df",
            "--format",
            "{{.Type}} {{.TotalCount}} {{.Size}}",
        ],
    );
    same(
        &d,
        &["info", "--format", "{{.Images}} {{.DockerRootDir}} {{.ID}}"],
    );
    same(
        &d,
        &[
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Server.Version}} {{.Server.Os}}",
        ],
    );
    assert_eq!(
        d.berth(&["version", "--format", "{{.Server.APIVersion}}"])
            .ok(),
        "1.50\n"
    );
    let v = d.berth(&["version"]).ok();
    let server_b = &v[v.find("Server:").expect("server section")..];
    let dv = d.docker(&["version"]).ok();
    let server_d = &dv[dv.find("Server:").unwrap()..];
    assert_eq!(
        server_b, server_d,
        "the Server section of `version` matches docker's"
    );
    let info = d.berth(&["info"]).ok();
    assert!(info.lines().any(|l| l == " Images: 2"), "{info}");
}

#[test]
fn events_through_berth() {
    let d = TestDaemon::start();
    d.import_tar(&small_rootfs_tar("ev"), &[], "ev:1");
    d.docker(&["tag", "ev:1", "ev:2"]).ok();
    d.docker(&["rmi", "ev:2"]).ok();
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let out = same(
        &d,
        &[
            "events",
            "--since",
            "0",
            "--until",
            &until,
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ],
    );
    assert_eq!(out, "image import ev:1\nimage tag ev:2\nimage untag ev:2\n");
    same(
        &d,
        &[
            "events",
            "--since",
            "0",
            "--until",
            &until,
            "-f",
            "event=tag",
            "--format",
            "{{json .}}",
        ],
    );
    same(
        &d,
        &[
            "events",
            "--since",
            "0",
            "--until",
            &until,
            "--filter",
            "type=image",
            "--filter",
            "event=untag",
        ],
    );
    // Bad times and templates fail as docker's do.
    same(&d, &["events", "--since", "2024-13-01"]);
    same(&d, &["events", "--until", "1", "--since", "foo"]);
    same(&d, &["events", "--until", "1", "--format", "{{.Type"]);
}

#[test]
fn unknown_images_and_bad_references_through_berth() {
    let d = TestDaemon::start();
    d.import_tar(&small_rootfs_tar("x"), &[], "x:1");
    let before = d.store_listing();
    same(&d, &["rmi", "nope"]);
    same(&d, &["tag", "nope", "y"]);
    same(&d, &["tag", "x:1", "a:b:c"]);
    same(&d, &["images", "UPPER"]);
    same(&d, &["history", "sha256:0123"]);
    assert_eq!(d.store_listing(), before);
}

#[test]
fn tag_uppercase_error_text() {
    let d = TestDaemon::start();
    d.import_tar(&small_rootfs_tar("x"), &[], "x:1");
    same(&d, &["tag", "x:1", "UPPER"]);
    same(&d, &["tag", "UPPER", "y"]);
    same(&d, &["tag", "x:1", "me/Upper"]);
    let f = d.write_file("in.tar", &small_rootfs_tar("y"));
    same(&d, &["import", f.to_str().unwrap(), "UPPER"]);
}

#[test]
fn inspect_template_of_null_fields() {
    let d = TestDaemon::start();
    d.import_tar(&small_rootfs_tar("x"), &[], "x:1");
    // docker decodes into its typed struct: omitempty fields vanish.
    same(&d, &["image", "inspect", "-f", "{{json .Config}}", "x:1"]);
    same(
        &d,
        &[
            "image",
            "inspect",
            "-f",
            "{{.Config.Cmd}} {{.Config.Env}} {{.Config.Entrypoint}}",
            "x:1",
        ],
    );
    same(&d, &["image", "inspect", "-f", "{{json .}}", "x:1"]);
    same(
        &d,
        &[
            "inspect",
            "-f",
            "{{.Config.Labels}} {{.RepoDigests}} {{.Metadata.LastTagTime}}",
            "x:1",
        ],
    );
}
