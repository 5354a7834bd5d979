//! The Engine API on the wire, with curl: version negotiation, ping headers,
//! error bodies and status codes as dockerd sends them.

mod common;

use common::*;

/// Status code and body of one request.
fn call(d: &TestDaemon, method: &str, path: &str) -> (String, String) {
    let r = d.curl(&[
        "-X",
        method,
        "-w",
        "\n%{http_code}",
        &format!("http://x{path}"),
    ]);
    assert_eq!(r.code, 0, "curl failed: {}", r.stderr);
    let (body, code) = r.stdout.rsplit_once('\n').unwrap();
    (code.to_string(), body.to_string())
}

fn message(body: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    v["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {body}"))
        .to_string()
}

#[test]
fn api_version_out_of_range_is_refused() {
    let d = TestDaemon::start();
    let (code, body) = call(&d, "GET", "/v1.99/_ping");
    assert_eq!(code, "400");
    assert_eq!(
        message(&body),
        "client version 1.99 is too new. Maximum supported API version is 1.50"
    );
    let (code, body) = call(&d, "GET", "/v1.51/version");
    assert_eq!(code, "400");
    assert_eq!(
        message(&body),
        "client version 1.51 is too new. Maximum supported API version is 1.50"
    );
    let (code, body) = call(&d, "GET", "/v1.12/version");
    assert_eq!(code, "400");
    assert_eq!(
        message(&body),
        "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
    );
}

#[test]
fn versioned_and_unversioned_paths_work() {
    let d = TestDaemon::start();
    for path in [
        "/version",
        "/v1.24/version",
        "/v1.41/version",
        "/v1.50/version",
    ] {
        let (code, body) = call(&d, "GET", path);
        assert_eq!(code, "200", "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["ApiVersion"], "1.50", "{path}");
        assert_eq!(v["MinAPIVersion"], "1.24", "{path}");
        assert_eq!(v["Os"], "linux", "{path}");
    }
    let (code, body) = call(&d, "GET", "/_ping");
    assert_eq!((code.as_str(), body.as_str()), ("200", "OK"));
    let (code, body) = call(&d, "GET", "/v1.50/images/json");
    assert_eq!((code.as_str(), body.as_str()), ("200", "[]"));
}

#[test]
fn ping_headers() {
    let d = TestDaemon::start();
    let r = d.curl(&["-I", "http://x/_ping"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let head = r.stdout.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{}", r.stdout);
    for h in [
        "api-version: 1.50\r\n",
        "ostype: linux\r\n",
        "content-length: 0\r\n",
        "cache-control: no-cache, no-store, must-revalidate\r\n",
        "pragma: no-cache\r\n",
    ] {
        assert!(head.contains(h), "missing {h:?} in {}", r.stdout);
    }
    // Every response carries the API version, errors included.
    let r = d.curl(&["-i", "http://x/v1.50/images/nope/json"]);
    assert!(
        r.stdout
            .to_ascii_lowercase()
            .contains("api-version: 1.50\r\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn errors_are_json_messages_with_dockers_status_codes() {
    let d = TestDaemon::start();
    let (code, body) = call(&d, "GET", "/v1.50/no/such/path");
    assert_eq!(code, "404");
    assert_eq!(body.trim_end(), r#"{"message":"page not found"}"#);
    let (code, body) = call(&d, "GET", "/v1.50/images/nope/json");
    assert_eq!(code, "404");
    assert_eq!(message(&body), "No such image: nope:latest");
    let (code, body) = call(&d, "DELETE", "/v1.50/images/nope");
    assert_eq!(code, "404");
    assert_eq!(message(&body), "No such image: nope:latest");
    let (code, body) = call(
        &d,
        "GET",
        "/v1.50/images/json?filters=%7B%22bogus%22%3A%7B%22x%22%3Atrue%7D%7D",
    );
    assert_eq!(code, "400");
    assert_eq!(message(&body), "invalid filter 'bogus'");
    let (code, body) = call(&d, "POST", "/v1.50/images/nope/tag?repo=UPPER");
    assert_eq!(code, "400", "{body}");
    assert_eq!(
        message(&body),
        "invalid reference format: repository name (library/UPPER) must be lowercase"
    );
}

#[test]
fn image_inspect_json_shape() {
    let d = TestDaemon::start();
    let id = d.import_tar(&small_rootfs_tar("shape"), &["-c", "ENV A=b"], "shape:1");
    let (code, body) = call(&d, "GET", "/v1.50/images/shape:1/json");
    assert_eq!(code, "200");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Id"], id);
    assert_eq!(v["RepoTags"], serde_json::json!(["shape:1"]));
    assert_eq!(v["RepoDigests"], serde_json::json!([]));
    assert_eq!(v["Config"]["Env"], serde_json::json!(["A=b"]));
    assert_eq!(v["RootFS"]["Type"], "layers");
    for key in [
        "Parent",
        "Comment",
        "Created",
        "Architecture",
        "Os",
        "Size",
        "GraphDriver",
        "Metadata",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {body}");
    }
    // The listing's summary for the same image.
    let (_, list) = call(&d, "GET", "/v1.50/images/json");
    let l: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(l[0]["Id"], id);
    assert_eq!(l[0]["RepoTags"], serde_json::json!(["shape:1"]));
    assert_eq!(l[0]["Containers"], -1);
    assert_eq!(l[0]["Size"], v["Size"]);
}

#[test]
fn events_endpoint_streams_json_with_filters() {
    let d = TestDaemon::start();
    let id = d.import_tar(&small_rootfs_tar("ev"), &[], "ev:1");
    d.docker(&["tag", "ev:1", "ev:2"]).ok();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let filters = "%7B%22event%22%3A%7B%22tag%22%3Atrue%7D%7D";
    let r = d.curl(&[&format!(
        "http://x/v1.50/events?since=0&until={now}&filters={filters}"
    )]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{}", r.stdout);
    assert_eq!(rows[0]["Type"], "image");
    assert_eq!(rows[0]["Action"], "tag");
    assert_eq!(rows[0]["Actor"]["ID"], id);
    assert_eq!(rows[0]["Actor"]["Attributes"]["name"], "ev:2");
    assert_eq!(rows[0]["scope"], "local");
    assert!(rows[0]["timeNano"].as_i64().unwrap() > 0);
}
