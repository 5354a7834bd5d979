//! Image commands driven through the real docker CLI 28.2.2 against a
//! throw-away berth daemon; outputs are docker's exact lines.

mod common;

use common::*;

fn inspect(d: &TestDaemon, img: &str, fmt: &str) -> String {
    d.docker(&["image", "inspect", "-f", fmt, img])
        .ok()
        .trim_end()
        .to_string()
}

#[test]
fn import_from_stdin_with_changes_message_and_tag() {
    let d = TestDaemon::start();
    let tar = busybox_rootfs_tar();
    let out = d
        .docker_in(
            &[
                "import",
                "-c",
                r#"CMD ["sh"]"#,
                "-c",
                "ENV A=b",
                "-m",
                "my message",
                "-",
                "bb:v1",
            ],
            Some(&tar),
        )
        .ok();
    let id = out.trim();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "import prints the ID: {out:?}"
    );
    assert_eq!(inspect(&d, "bb:v1", "{{.Id}}"), id);
    assert_eq!(inspect(&d, "bb:v1", "{{.Config.Cmd}}"), "[sh]");
    assert_eq!(inspect(&d, "bb:v1", "{{.Config.Env}}"), "[A=b]");
    assert_eq!(inspect(&d, "bb:v1", "{{.Comment}}"), "my message");
    assert_eq!(inspect(&d, "bb:v1", "{{.RepoTags}}"), "[bb:v1]");
    assert_eq!(
        inspect(&d, "bb:v1", "{{.Os}}/{{.Architecture}}"),
        "linux/amd64"
    );
    // The only layer's diff ID is the digest of the tar exactly as sent.
    assert_eq!(
        inspect(&d, "bb:v1", "{{.RootFS.Type}} {{.RootFS.Layers}}"),
        format!("layers [sha256:{}]", sha256_hex(&tar))
    );
    // The image ID is the digest of the config blob the daemon stores.
    let blob = d.data_root().join("content/blobs/sha256").join(&id[7..]);
    let config = std::fs::read(&blob).expect("config blob stored under its digest");
    assert_eq!(sha256_hex(&config), id[7..]);
    let v: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(
        v["rootfs"]["diff_ids"][0],
        format!("sha256:{}", sha256_hex(&tar))
    );
}

#[test]
fn import_from_file_and_gzip_gives_the_same_layer() {
    let d = TestDaemon::start();
    let tar = small_rootfs_tar("file-import");
    let plain = d.write_file("input-plain.tar", &tar);
    let gz = d.write_file("input-gz.tar.gz", &gzip(&tar));
    let id1 = d
        .docker(&["import", plain.to_str().unwrap(), "plain:1"])
        .ok()
        .trim()
        .to_string();
    let id2 = d
        .docker(&["import", gz.to_str().unwrap(), "gz:1"])
        .ok()
        .trim()
        .to_string();
    let want = format!("[sha256:{}]", sha256_hex(&tar));
    assert_eq!(inspect(&d, "plain:1", "{{.RootFS.Layers}}"), want);
    assert_eq!(inspect(&d, "gz:1", "{{.RootFS.Layers}}"), want);
    assert!(id1.starts_with("sha256:") && id2.starts_with("sha256:"));
    // No name: the image is dangling and listed as <none>.
    let id3 = d.import_tar(&zstd(&tar), &[], "");
    assert_eq!(
        inspect(&d, &id3, "{{.RootFS.Layers}}"),
        want,
        "zstd-compressed import"
    );
    assert_eq!(inspect(&d, &id3, "{{.RepoTags}}"), "[]");
    let rows = d
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
        .ok();
    assert!(
        rows.lines()
            .any(|l| l == format!("<none>:<none> {}", short(&id3))),
        "{rows}"
    );
}

#[test]
fn import_from_http_url() {
    let d = TestDaemon::start();
    let tar = small_rootfs_tar("from-http");
    let srv = HttpServer::serve("/rootfs.tar", tar.clone());
    let out = d
        .docker(&["import", "-m", "via http", &srv.url, "web:1"])
        .ok();
    let id = out.lines().last().unwrap_or_default().trim();
    assert!(id.starts_with("sha256:"), "{out}");
    assert_eq!(inspect(&d, "web:1", "{{.Id}}"), id);
    assert_eq!(
        inspect(&d, "web:1", "{{.RootFS.Layers}}"),
        format!("[sha256:{}]", sha256_hex(&tar))
    );
    assert_eq!(inspect(&d, "web:1", "{{.Comment}}"), "via http");
}

#[test]
fn import_change_instructions() {
    let d = TestDaemon::start();
    let tar = small_rootfs_tar("changes");
    d.import_tar(
        &tar,
        &[
            "-c",
            "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
            "-c",
            "EXPOSE 80/tcp",
            "-c",
            "LABEL a=b",
            "-c",
            "USER nobody",
            "-c",
            "VOLUME /data",
            "-c",
            "WORKDIR /srv",
        ],
        "chg:1",
    );
    assert_eq!(
        inspect(&d, "chg:1", "{{json .Config.Entrypoint}}"),
        r#"["/bin/sh","-c"]"#
    );
    assert_eq!(
        inspect(&d, "chg:1", "{{json .Config.ExposedPorts}}"),
        r#"{"80/tcp":{}}"#
    );
    assert_eq!(
        inspect(&d, "chg:1", "{{json .Config.Labels}}"),
        r#"{"a":"b"}"#
    );
    assert_eq!(inspect(&d, "chg:1", "{{.Config.User}}"), "nobody");
    assert_eq!(
        inspect(&d, "chg:1", "{{json .Config.Volumes}}"),
        r#"{"/data":{}}"#
    );
    assert_eq!(inspect(&d, "chg:1", "{{.Config.WorkingDir}}"), "/srv");
}

#[test]
fn tag_and_images_listing_flags() {
    let d = TestDaemon::start();
    let a = d.import_tar(
        &small_rootfs_tar("a"),
        &["-c", "LABEL tier=db"],
        "example/a:1",
    );
    let b = d.import_tar(&small_rootfs_tar("b"), &["-c", "LABEL tier=web"], "other:2");
    d.docker(&["tag", "example/a:1", "example/a:latest"]).ok();
    d.docker(&["tag", &b[..19], "exotic"]).ok(); // by short ID prefix

    let q = d.docker(&["images", "-q"]).ok();
    let mut ids: Vec<&str> = q.lines().collect();
    ids.sort();
    let mut want = vec![short(&a), short(&a), short(&b), short(&b)];
    want.sort();
    assert_eq!(ids, want, "-q prints one short ID per row");

    let all = d.docker(&["images", "-a", "-q", "--no-trunc"]).ok();
    assert!(
        all.lines().all(|l| l == a || l == b) && all.lines().count() == 4,
        "{all}"
    );

    let names = d
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "example/a:1",
            "example/a:latest",
            "exotic:latest",
            "other:2"
        ]
    );

    let refs = d
        .docker(&[
            "images",
            "-f",
            "reference=ex*",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .ok();
    assert_eq!(
        refs.trim(),
        "exotic:latest",
        "reference=ex* matches only single-component names starting with ex"
    );
    let refs = d
        .docker(&[
            "images",
            "-f",
            "reference=example/*:1",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .ok();
    assert_eq!(refs.trim(), "example/a:1");

    let lab = d
        .docker(&[
            "images",
            "-f",
            "label=tier=web",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .ok();
    let mut lab: Vec<&str> = lab.lines().collect();
    lab.sort();
    assert_eq!(lab, ["exotic:latest", "other:2"]);
    let lab = d.docker(&["images", "-f", "label=tier", "-q"]).ok();
    assert_eq!(lab.lines().count(), 4);

    let digests = d.docker(&["images", "--digests", "other"]).ok();
    let rows: Vec<&str> = digests.lines().collect();
    assert_eq!(rows.len(), 2, "{digests}");
    assert!(
        rows[0].starts_with("REPOSITORY")
            && rows[0].contains("   DIGEST   ")
            && rows[0].contains("IMAGE ID"),
        "{digests}"
    );
    let cols: Vec<&str> = rows[1].split_whitespace().collect();
    assert_eq!(&cols[..4], ["other", "2", "<none>", short(&b)], "{digests}");

    let notrunc = d
        .docker(&["images", "--no-trunc", "--format", "{{.ID}}", "other:2"])
        .ok();
    assert_eq!(notrunc.trim(), b);

    let json = d
        .docker(&["images", "--format", "{{json .}}", "other:2"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Repository"], "other");
    assert_eq!(v["Tag"], "2");
    assert_eq!(v["ID"], short(&b));
    assert_eq!(v["Digest"], "<none>");
}

fn check_before_since(d: &TestDaemon) {
    let before = d
        .docker(&[
            "images",
            "-f",
            "before=second:1",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .ok();
    assert_eq!(before, "first:1\n");
    let since = d
        .docker(&[
            "images",
            "-f",
            "since=first:1",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .ok();
    assert_eq!(since, "second:1\n");
    let none = d.docker(&["images", "-f", "since=second:1", "-q"]).ok();
    assert_eq!(none, "");
}

#[test]
fn images_before_and_since_filters() {
    // Imported within the same second: dockerd orders by full timestamps.
    let d = TestDaemon::start();
    d.import_tar(&small_rootfs_tar("1"), &[], "first:1");
    d.import_tar(&small_rootfs_tar("2"), &[], "second:1");
    check_before_since(&d);
}

#[test]
fn images_table_header_and_rows() {
    let d = TestDaemon::start();
    let id = d.import_busybox("bb");
    let out = d.docker(&["images"]).ok();
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 2, "{out}");
    // Column starts follow docker's tabwriter (min width 10, padding 3).
    assert!(
        rows[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED "),
        "{out}"
    );
    assert!(rows[0].ends_with("   SIZE"), "{out}");
    let size_col = rows[0].find("SIZE").unwrap();
    assert!(
        rows[1].starts_with(&format!("bb           latest    {}   ", short(&id))),
        "{out}"
    );
    assert_eq!(
        &rows[1][size_col..],
        "1.98MB",
        "humanised size in the SIZE column: {out}"
    );
    let created = rows[1][rows[0].find("CREATED").unwrap()..size_col].trim();
    assert!(created.ends_with("ago"), "{out}");
}

#[test]
fn moving_a_tag_leaves_a_dangling_image() {
    let d = TestDaemon::start();
    let old = d.import_tar(&small_rootfs_tar("old"), &[], "app:1");
    let new = d.import_tar(&small_rootfs_tar("new"), &[], "app:1");
    assert_ne!(old, new);
    let rows = d
        .docker(&["images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}"])
        .ok();
    let mut rows: Vec<&str> = rows.lines().collect();
    rows.sort();
    let mut want = vec![
        format!("<none> <none> {}", short(&old)),
        format!("app 1 {}", short(&new)),
    ];
    want.sort();
    assert_eq!(rows, want);
    let dangling = d
        .docker(&["images", "-f", "dangling=true", "-q", "--no-trunc"])
        .ok();
    assert_eq!(dangling.trim(), old);
    let not_dangling = d
        .docker(&["images", "-f", "dangling=false", "-q", "--no-trunc"])
        .ok();
    assert_eq!(not_dangling.trim(), new);
}

#[test]
fn rmi_by_name_short_prefix_and_full_id() {
    let d = TestDaemon::start();
    let a = d.import_tar(&small_rootfs_tar("a"), &[], "a");
    let b = d.import_tar(&small_rootfs_tar("b"), &[], "b:7");
    let c = d.import_tar(&small_rootfs_tar("c"), &[], "c");

    let out = d.docker(&["rmi", "a"]).ok();
    assert_eq!(out.lines().next(), Some("Untagged: a:latest"), "{out}");
    assert!(out.lines().any(|l| l == format!("Deleted: {a}")), "{out}");
    assert!(
        out.lines()
            .all(|l| l.starts_with("Untagged: ") || l.starts_with("Deleted: sha256:")),
        "{out}"
    );

    let out = d.docker(&["rmi", &short(&b)[..5]]).ok();
    assert_eq!(out.lines().next(), Some("Untagged: b:7"), "{out}");
    assert!(out.lines().any(|l| l == format!("Deleted: {b}")), "{out}");

    let out = d.docker(&["image", "rm", &c]).ok();
    assert_eq!(out.lines().next(), Some("Untagged: c:latest"), "{out}");
    assert!(out.lines().any(|l| l == format!("Deleted: {c}")), "{out}");

    assert_eq!(d.image_ids(), Vec::<String>::new());
    // Nothing of the three images is left in the store.
    let left: Vec<String> = d
        .store_listing()
        .into_iter()
        .filter(|p| {
            p.starts_with("content/blobs/sha256/")
                || p.starts_with("snapshots/") && p.matches('/').count() == 1
        })
        .collect();
    assert!(
        left.iter().all(|p| p == "snapshots/.tmp"),
        "garbage left: {left:?}"
    );
}

#[test]
fn rmi_conflict_with_two_repositories_and_force() {
    let d = TestDaemon::start();
    let id = d.import_tar(&small_rootfs_tar("x"), &[], "one:1");
    d.docker(&["tag", "one:1", "two:2"]).ok();
    let before = d.store_listing();
    let r = d.docker(&["rmi", &id]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "Error response from daemon: conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            short(&id)
        )
    );
    assert_eq!(d.store_listing(), before, "a refused rmi changes nothing");
    let curl = d.curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "DELETE",
        &format!("http://x/v1.50/images/{id}"),
    ]);
    assert_eq!(curl.stdout, "409");

    // Removing by name only untags while another tag remains.
    assert_eq!(d.docker(&["rmi", "two:2"]).ok(), "Untagged: two:2\n");
    d.docker(&["tag", "one:1", "two:2"]).ok();

    let out = d.docker(&["rmi", "-f", &id]).ok();
    let mut untagged: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("Untagged: "))
        .collect();
    untagged.sort();
    assert_eq!(untagged, ["Untagged: one:1", "Untagged: two:2"], "{out}");
    assert!(out.lines().any(|l| l == format!("Deleted: {id}")), "{out}");
    assert!(d.image_ids().is_empty());
}

#[test]
fn image_prune_dangling_and_all() {
    let d = TestDaemon::start();
    let old = d.import_tar(&small_rootfs_tar("old"), &[], "p:1");
    let _new = d.import_tar(&small_rootfs_tar("new"), &[], "p:1");
    let keep = d.import_tar(&small_rootfs_tar("keep"), &[], "keep:1");

    let out = d.docker(&["image", "prune", "-f"]).ok();
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.first(), Some(&"Deleted Images:"), "{out}");
    assert!(rows.contains(&format!("deleted: {old}").as_str()), "{out}");
    assert!(
        rows.last().unwrap().starts_with("Total reclaimed space: "),
        "{out}"
    );
    assert_ne!(*rows.last().unwrap(), "Total reclaimed space: 0B", "{out}");
    assert_eq!(
        rows[rows.len() - 2],
        "",
        "blank line before the total: {out}"
    );
    assert_eq!(d.image_ids().len(), 2);
    assert!(!d.image_ids().contains(&old));

    let again = d.docker(&["image", "prune", "-f"]).ok();
    assert_eq!(again, "Total reclaimed space: 0B\n");
    assert!(d.image_ids().contains(&keep));
}

#[test]
fn image_prune_all_removes_tagged_images() {
    let d = TestDaemon::start();
    let keep = d.import_tar(&small_rootfs_tar("keep"), &[], "keep:1");

    let out = d.docker(&["image", "prune", "-a", "-f"]).ok();
    assert!(out.lines().any(|l| l == "untagged: keep:1"), "{out}");
    assert!(
        out.lines().any(|l| l == format!("deleted: {keep}")),
        "{out}"
    );
    assert!(
        out.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("Total reclaimed space: "),
        "{out}"
    );
    assert!(
        d.image_ids().is_empty(),
        "prune -a removes every unused image"
    );
}

#[test]
fn image_prune_with_label_filter() {
    let d = TestDaemon::start();
    let gone = d.import_tar(&small_rootfs_tar("g"), &["-c", "LABEL junk=yes"], "");
    let stays = d.import_tar(&small_rootfs_tar("s"), &[], "");
    let out = d
        .docker(&["image", "prune", "-f", "--filter", "label=junk"])
        .ok();
    assert!(
        out.lines().any(|l| l == format!("deleted: {gone}")),
        "{out}"
    );
    assert_eq!(d.image_ids(), vec![stays]);
}

#[test]
fn save_rmi_load_round_trip_single_image_file_and_stdout() {
    let d = TestDaemon::start();
    let id = d.import_tar(&busybox_rootfs_tar(), &["-c", r#"CMD ["sh"]"#], "rt:1");
    let created = inspect(&d, "rt:1", "{{.Created}}");
    let file = d.scratch().join("rt.tar");
    assert_eq!(
        d.docker(&["save", "-o", file.to_str().unwrap(), "rt:1"])
            .ok(),
        ""
    );
    let (code, stdout_tar) = d.docker_raw(&["save", "rt:1"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout_tar,
        std::fs::read(&file).unwrap(),
        "save to stdout and -o give the same bytes"
    );

    // The archive carries docker's manifest.json and an OCI index.json.
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(stdout_tar.as_slice());
    for e in ar.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    for want in [
        "manifest.json",
        "index.json",
        "oci-layout",
        &format!("blobs/sha256/{}", &id[7..]),
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }

    d.docker(&["rmi", "rt:1"]).ok();
    assert!(d.image_ids().is_empty());
    let out = d.docker(&["load", "-i", file.to_str().unwrap()]).ok();
    assert_eq!(out, "Loaded image: rt:1\n");
    assert_eq!(inspect(&d, "rt:1", "{{.Id}}"), id);
    assert_eq!(inspect(&d, "rt:1", "{{.Created}}"), created);
    assert_eq!(inspect(&d, "rt:1", "{{.Config.Cmd}}"), "[sh]");

    d.docker(&["rmi", "rt:1"]).ok();
    let out = d.docker_in(&["load"], Some(&stdout_tar)).ok();
    assert_eq!(out, "Loaded image: rt:1\n");
    let out = d.docker_in(&["load", "-q"], Some(&stdout_tar)).ok();
    assert_eq!(out, "Loaded image: rt:1\n", "loading again is idempotent");
    assert_eq!(d.image_ids(), vec![id]);
}

#[test]
fn save_and_load_several_images_and_by_id() {
    let d = TestDaemon::start();
    let a = d.import_tar(&small_rootfs_tar("a"), &[], "multi/a:1");
    let b = d.import_tar(&small_rootfs_tar("b"), &[], "multi/b:2");
    d.docker(&["tag", "multi/b:2", "multi/b:3"]).ok();
    let file = d.scratch().join("multi.tar");
    d.docker(&[
        "save",
        "-o",
        file.to_str().unwrap(),
        "multi/a:1",
        "multi/b:2",
        "multi/b:3",
    ])
    .ok();
    d.docker(&["rmi", "-f", &a, &b]).ok();
    assert!(d.image_ids().is_empty());
    let out = d.docker(&["load", "-i", file.to_str().unwrap()]).ok();
    let mut rows: Vec<&str> = out.lines().collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            "Loaded image: multi/a:1",
            "Loaded image: multi/b:2",
            "Loaded image: multi/b:3"
        ]
    );
    let mut ids = d.image_ids();
    ids.sort();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(ids, want);

    // Saved by ID: no names in the archive, load reports the ID.
    let by_id = d.scratch().join("byid.tar");
    d.docker(&["save", "-o", by_id.to_str().unwrap(), &a]).ok();
    d.docker(&["rmi", "multi/a:1"]).ok();
    let out = d.docker(&["load", "-i", by_id.to_str().unwrap()]).ok();
    assert_eq!(out, format!("Loaded image ID: {a}\n"));
    assert_eq!(inspect(&d, &a, "{{.RepoTags}}"), "[]");
}

#[test]
fn load_gzip_and_zstd_compressed_archives() {
    let d = TestDaemon::start();
    let id = d.import_tar(&small_rootfs_tar("z"), &[], "comp:1");
    let (code, tar) = d.docker_raw(&["save", "comp:1"]);
    assert_eq!(code, 0);
    d.docker(&["rmi", "comp:1"]).ok();
    for (what, bytes) in [("gzip", gzip(&tar)), ("zstd", zstd(&tar))] {
        let out = d.docker_in(&["load"], Some(&bytes)).ok();
        assert_eq!(out, "Loaded image: comp:1\n", "{what}");
        assert_eq!(d.image_ids(), vec![id.clone()], "{what}");
        d.docker(&["rmi", "comp:1"]).ok();
    }
}

#[test]
fn load_docker20_style_archive() {
    let d = TestDaemon::start();
    let l1 = small_rootfs_tar("layer one");
    let l2 = make_tar(&[Entry::Dir("srv"), Entry::File("srv/two", b"second layer")]);
    let config = image_config(&[&l1, &l2], "sh");
    let ar = docker20_archive(&[&l1, &l2], &config, Some("old/style:20"));
    let out = d.docker_in(&["load"], Some(&ar)).ok();
    assert_eq!(out, "Loaded image: old/style:20\n");
    let id = format!("sha256:{}", sha256_hex(&config));
    assert_eq!(d.image_ids(), vec![id.clone()]);
    assert_eq!(
        inspect(&d, "old/style:20", "{{.RootFS.Layers}}"),
        format!("[sha256:{} sha256:{}]", sha256_hex(&l1), sha256_hex(&l2))
    );
    // Two layers: only the top history row carries the image ID.
    let h = d
        .docker(&[
            "history",
            "--format",
            "{{.ID}}|{{.CreatedBy}}",
            "old/style:20",
        ])
        .ok();
    assert_eq!(h, format!("{}|layer 1\n<missing>|layer 0\n", short(&id)));

    // Untagged docker-20 archive: loaded by ID.
    let cfg2 = image_config(&[&l1], "true");
    let out = d
        .docker_in(&["load"], Some(&docker20_archive(&[&l1], &cfg2, None)))
        .ok();
    assert_eq!(
        out,
        format!("Loaded image ID: sha256:{}\n", sha256_hex(&cfg2))
    );
}

#[test]
fn load_bare_oci_layout() {
    let d = TestDaemon::start();
    let layer = small_rootfs_tar("oci");
    let config = image_config(&[&layer], "sh");
    let ar = oci_layout_archive(&[&layer], &config, Some("docker.io/library/ocimg:3"));
    let out = d.docker_in(&["load"], Some(&ar)).ok();
    assert_eq!(out, "Loaded image: ocimg:3\n");
    assert_eq!(
        inspect(&d, "ocimg:3", "{{.Id}}"),
        format!("sha256:{}", sha256_hex(&config))
    );
    assert_eq!(inspect(&d, "ocimg:3", "{{.Config.Cmd}}"), "[sh]");

    let config2 = image_config(&[&layer], "true");
    let out = d
        .docker_in(
            &["load"],
            Some(&oci_layout_archive(&[&layer], &config2, None)),
        )
        .ok();
    assert_eq!(
        out,
        format!("Loaded image ID: sha256:{}\n", sha256_hex(&config2))
    );
}

#[test]
fn history_of_an_imported_image() {
    let d = TestDaemon::start();
    let id = d.import_busybox("hist");
    let out = d.docker(&["history", "hist"]).ok();
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows[0].starts_with("IMAGE          CREATED "), "{out}");
    for col in ["   CREATED BY   ", "   SIZE      ", "   COMMENT"] {
        assert!(rows[0].contains(col), "{col} missing: {out}");
    }
    assert!(rows[1].starts_with(&format!("{}   ", short(&id))), "{out}");
    let size_col = rows[0].find("SIZE").unwrap();
    assert!(rows[1][size_col..].starts_with("1.98MB"), "{out}");

    let q = d.docker(&["history", "-q", "hist"]).ok();
    assert_eq!(q, format!("{}\n", short(&id)));
    let q = d.docker(&["history", "-q", "--no-trunc", "hist"]).ok();
    assert_eq!(q, format!("{id}\n"));
    let raw = d
        .docker(&["history", "-H=false", "--format", "{{.Size}}", "hist"])
        .ok();
    let bytes: u64 = raw.trim().parse().expect("-H=false gives bytes");
    assert!(bytes > 1_900_000 && bytes < 2_100_000, "{raw}");
}

#[test]
fn system_df_version_info() {
    let d = TestDaemon::start();
    d.import_busybox("df");
    let out = d.docker(&["system", "df"]).ok();
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(
        rows[0], "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE",
        "{out}"
    );
    let images: Vec<&str> = rows[1].split_whitespace().collect();
    assert_eq!(
        images,
        ["Images", "1", "0", "1.982MB", "1.982MB", "(100%)"],
        "{out}"
    );
    assert!(
        rows[2].starts_with("Containers      0         0         0B"),
        "{out}"
    );
    assert!(
        rows[3].starts_with("Local Volumes   0         0         0B"),
        "{out}"
    );
    assert!(
        rows[4].starts_with("Build Cache     0         0         0B"),
        "{out}"
    );

    let v = d.docker(&["system", "df", "-v"]).ok();
    assert!(
        v.starts_with("Images space usage:\n\nREPOSITORY   TAG       IMAGE ID       CREATED"),
        "{v}"
    );
    assert!(
        v.lines().any(|l| l.starts_with("df           latest    ")),
        "{v}"
    );

    assert_eq!(
        d.docker(&["version", "--format", "{{.Server.APIVersion}}"])
            .ok(),
        "1.50\n"
    );
    assert_eq!(
        d.docker(&["version", "--format", "{{.Server.MinAPIVersion}}"])
            .ok(),
        "1.24\n"
    );
    assert_eq!(d.docker(&["info", "--format", "{{.Images}}"]).ok(), "1\n");
    let info = d.docker(&["info"]).ok();
    assert!(info.lines().any(|l| l == " Images: 1"), "{info}");
    assert!(
        info.lines()
            .any(|l| l == format!(" Docker Root Dir: {}", d.data_root().display())),
        "{info}"
    );
}

#[test]
fn events_lists_image_actions() {
    let d = TestDaemon::start();
    let id = d.import_tar(&small_rootfs_tar("ev"), &[], "ev:1");
    d.docker(&["tag", "ev:1", "ev:2"]).ok();
    d.docker(&["rmi", "ev:2"]).ok();
    let file = d.scratch().join("ev.tar");
    d.docker(&["save", "-o", file.to_str().unwrap(), "ev:1"])
        .ok();
    d.docker(&["rmi", "ev:1"]).ok();
    d.docker(&["load", "-i", file.to_str().unwrap()]).ok();
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let out = d
        .docker(&[
            "events",
            "--since",
            "0",
            "--until",
            &until,
            "--format",
            "{{.Type}} {{.Action}}",
        ])
        .ok();
    let rows: Vec<&str> = out.lines().collect();
    let want = [
        "image import",
        "image tag",
        "image untag",
        "image save",
        "image untag",
        "image delete",
        "image load",
    ];
    assert_eq!(rows, want, "{out}");

    let f = d
        .docker(&[
            "events",
            "--since",
            "0",
            "--until",
            &until,
            "--filter",
            "event=tag",
            "--format",
            "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}",
        ])
        .ok();
    assert_eq!(f, format!("tag {id} ev:2\n"));
}

#[test]
fn unknown_images_give_docker_errors() {
    let d = TestDaemon::start();
    let before = d.store_listing();
    for args in [
        &["image", "inspect", "nope"][..],
        &["history", "nope"],
        &["rmi", "nope"],
        &["save", "nope"],
    ] {
        let r = d.docker(args);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(
            r.stderr
                .lines()
                .any(|l| l == "Error response from daemon: No such image: nope:latest"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = d.docker(&["tag", "nope", "x"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim_end(),
        "Error response from daemon: No such image: nope:latest"
    );
    assert_eq!(d.store_listing(), before);
}

#[test]
fn import_tar_with_empty_numeric_header_fields() {
    let d = TestDaemon::start();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "etc", std::io::empty()).unwrap();
    let tar = b.into_inner().unwrap();
    let id = d.import_tar(&tar, &[], "emptyuid:1");
    assert_eq!(inspect(&d, "emptyuid:1", "{{.Id}}"), id);
}

#[test]
fn shared_layers_are_freed_only_with_their_last_image() {
    let d = TestDaemon::start();
    let tar = small_rootfs_tar("shared");
    let diff = sha256_hex(&tar);
    let a = d.import_tar(&tar, &["-c", "ENV WHO=a"], "share/a:1");
    let b = d.import_tar(&tar, &["-c", "ENV WHO=b"], "share/b:1");
    assert_ne!(a, b, "different configs, different images");
    let layer_blob = format!("content/blobs/sha256/{diff}");
    let has = |d: &TestDaemon, p: &str| d.store_listing().iter().any(|x| x == p);
    assert!(has(&d, &layer_blob));

    d.docker(&["rmi", "share/a:1"]).ok();
    assert!(has(&d, &layer_blob), "the layer is still used by share/b");
    assert!(
        !has(&d, &format!("content/blobs/sha256/{}", &a[7..])),
        "a's config is gone"
    );
    // The survivor is whole: it saves and loads back.
    let (code, ar) = d.docker_raw(&["save", "share/b:1"]);
    assert_eq!(code, 0);
    d.docker(&["rmi", "share/b:1"]).ok();
    let left: Vec<String> = d
        .store_listing()
        .into_iter()
        .filter(|p| {
            p.starts_with("content/blobs/sha256/")
                || (p.starts_with("snapshots/")
                    && p.matches('/').count() == 1
                    && p != "snapshots/.tmp")
        })
        .collect();
    assert!(
        left.is_empty(),
        "everything freed with the last image: {left:?}"
    );
    assert_eq!(
        d.docker_in(&["load"], Some(&ar)).ok(),
        "Loaded image: share/b:1\n"
    );
    assert_eq!(inspect(&d, "share/b:1", "{{.Config.Env}}"), "[WHO=b]");
}

#[test]
fn import_with_platform() {
    let d = TestDaemon::start();
    d.import_tar(
        &small_rootfs_tar("arm"),
        &["--platform", "linux/arm64"],
        "arm:1",
    );
    assert_eq!(
        inspect(&d, "arm:1", "{{.Os}}/{{.Architecture}}"),
        "linux/arm64"
    );
}

#[test]
fn images_until_filter() {
    let d = TestDaemon::start();
    d.import_busybox("until/img:1");
    let listed = |until: &str| {
        d.docker(&["images", "-q", "-f", &format!("until={until}")])
            .ok()
            .lines()
            .count()
    };
    assert_eq!(listed("1"), 0, "nothing was created before 1970");
    assert_eq!(
        listed("4102444800"),
        1,
        "everything was created before 2100"
    );
    assert_eq!(listed("2100-01-01T00:00:00Z"), 1);
    let r = d.docker(&["images", "-f", "until=soon"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("invalid filter 'until=soon'"),
        "{}",
        r.stderr
    );
}
