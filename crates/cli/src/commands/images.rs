//! `images` / `image ls` / `image list`.

use serde_json::{json, Map, Value};

use crate::args::{filters_json, flag, Arity, CommandSpec, FlagSpec, Kind, Parsed, FORMAT_HELP};
use crate::ctx::Ctx;
use crate::error::Result;
use crate::render;
use crate::util::{go_time_string, truncate_id};
use berth_image::reference::Reference;

const FLAGS: &[FlagSpec] = &[
    flag(
        "all",
        Some('a'),
        Kind::Bool,
        "Show all images (default hides intermediate images)",
    ),
    flag("digests", None, Kind::Bool, "Show digests"),
    flag(
        "filter",
        Some('f'),
        Kind::Filter,
        "Filter output based on conditions provided",
    ),
    flag("format", None, Kind::Str, FORMAT_HELP),
    flag("no-trunc", None, Kind::Bool, "Don't truncate output"),
    flag("quiet", Some('q'), Kind::Bool, "Only show image IDs"),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] [REPOSITORY[:TAG]]",
        short: "List images",
        aliases: "berth image ls, berth image list, berth images",
        arity: Arity::Max(1),
        interspersed: true,
        flags: FLAGS,
    }
}

const DEFAULT_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
const DEFAULT_TABLE_DIGEST: &str = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";

pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("VirtualSize", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
];

/// Query of `GET /images/json`; a positional name becomes a `reference` filter.
pub fn query(p: &Parsed) -> Vec<(&'static str, String)> {
    let mut filters = p.list("filter");
    if let Some(name) = p.args.first() {
        filters.push(format!("reference={name}"));
    }
    let mut q = Vec::new();
    if p.bool("all") {
        q.push(("all", "1".to_string()));
    }
    if let Some(f) = filters_json(&filters) {
        q.push(("filters", f));
    }
    q
}

/// docker's `NewImageFormat`: the effective format for the flags given.
pub fn effective_format(source: &str, quiet: bool, digests: bool) -> String {
    match source {
        "table" => {
            if quiet {
                "{{.ID}}".to_string()
            } else if digests {
                DEFAULT_TABLE_DIGEST.to_string()
            } else {
                DEFAULT_TABLE.to_string()
            }
        }
        "raw" => {
            if quiet {
                "image_id: {{.ID}}".to_string()
            } else if digests {
                "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n".to_string()
            } else {
                "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n".to_string()
            }
        }
        _ => {
            let mut f = source.to_string();
            if f.starts_with("table") && digests && !f.contains("{{.Digest}}") {
                f.push_str("\t{{.Digest}}");
            }
            f
        }
    }
}

fn is_dangling(img: &Value) -> bool {
    let tags = strs(img, "RepoTags");
    let digests = strs(img, "RepoDigests");
    (tags.is_empty() && digests.is_empty())
        || (tags == ["<none>:<none>"] && digests == ["<none>@<none>"])
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn i64_field(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// (repository, tag, digest) rows for one image, by docker's rules: a row per tag
/// (times digests when they are shown), digest-only repos get a `<none>` tag.
/// docker walks Go maps here (random order); berth keeps the daemon's order.
pub fn image_rows(
    img: &Value,
    show_digests: bool,
    need_digest: bool,
) -> Vec<(String, String, String)> {
    if is_dangling(img) {
        return vec![("<none>".into(), "<none>".into(), "<none>".into())];
    }
    let mut repo_tags: Vec<(String, Vec<String>)> = Vec::new();
    let mut repo_digests: Vec<(String, Vec<String>)> = Vec::new();
    fn push(list: &mut Vec<(String, Vec<String>)>, key: String, val: String) {
        match list.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(val),
            None => list.push((key, vec![val])),
        }
    }
    for s in strs(img, "RepoTags") {
        // A reference with a tag is a NamedTagged even when it has a digest too.
        if let Ok(r) = Reference::parse(&s) {
            if let Some(tag) = r.tag() {
                push(&mut repo_tags, r.familiar_name(), tag.to_string());
            }
        }
    }
    for s in strs(img, "RepoDigests") {
        if let Ok(r) = Reference::parse(&s) {
            if let Some(d) = r.digest() {
                push(&mut repo_digests, r.familiar_name(), d.to_string());
            }
        }
    }
    let mut rows = Vec::new();
    for (repo, tags) in repo_tags {
        let digests = match repo_digests.iter().position(|(k, _)| *k == repo) {
            Some(i) => repo_digests.remove(i).1,
            None => Vec::new(),
        };
        let digests = if need_digest { digests } else { Vec::new() };
        for tag in tags {
            if digests.is_empty() {
                rows.push((repo.clone(), tag.clone(), "<none>".to_string()));
            }
            for d in &digests {
                rows.push((repo.clone(), tag.clone(), d.clone()));
            }
        }
    }
    for (repo, digests) in repo_digests {
        if show_digests {
            for d in digests {
                rows.push((repo.clone(), "<none>".to_string(), d));
            }
        } else {
            rows.push((repo, "<none>".to_string(), String::new()));
        }
    }
    rows
}

/// The template fields of one row (keys sorted, as docker's JSON output is).
pub fn row_value(img: &Value, repo: &str, tag: &str, digest: &str, trunc: bool, now: i64) -> Value {
    let id = img.get("Id").and_then(Value::as_str).unwrap_or("");
    let created = i64_field(img, "Created");
    let size = i64_field(img, "Size");
    let shared = img.get("SharedSize").and_then(Value::as_i64).unwrap_or(-1);
    let containers = img.get("Containers").and_then(Value::as_i64).unwrap_or(-1);
    let mut m = Map::new();
    m.insert(
        "Containers".into(),
        json!(if containers == -1 {
            "N/A".to_string()
        } else {
            containers.to_string()
        }),
    );
    m.insert("CreatedAt".into(), json!(go_time_string(created)));
    m.insert("CreatedSince".into(), json!(render::time_ago(created, now)));
    m.insert("Digest".into(), json!(digest));
    m.insert(
        "ID".into(),
        json!(if trunc {
            truncate_id(id)
        } else {
            id.to_string()
        }),
    );
    m.insert("Repository".into(), json!(repo));
    m.insert(
        "SharedSize".into(),
        json!(if shared == -1 {
            "N/A".to_string()
        } else {
            render::human_size(shared as f64)
        }),
    );
    m.insert("Size".into(), json!(render::human_size3(size as f64)));
    m.insert("Tag".into(), json!(tag));
    m.insert(
        "UniqueSize".into(),
        json!(if size == -1 || shared == -1 {
            "N/A".to_string()
        } else {
            render::human_size((size - shared) as f64)
        }),
    );
    m.insert("VirtualSize".into(), json!(render::human_size(size as f64)));
    Value::Object(m)
}

/// Formats the API's image list as `docker images` prints it.
pub fn render_images(
    images: &[Value],
    p: &Parsed,
    config_format: Option<&str>,
    now: i64,
) -> Result<String> {
    let quiet = p.bool("quiet");
    let digests = p.bool("digests");
    let source = match p.str("format").filter(|f| !f.is_empty()) {
        Some(f) => f.to_string(),
        None => match config_format.filter(|f| !f.is_empty() && !quiet) {
            Some(f) => f.to_string(),
            None => "table".to_string(),
        },
    };
    let format = effective_format(&source, quiet, digests);
    let need_digest = digests || format.contains("{{.Digest}}");
    let trunc = !p.bool("no-trunc");
    let rows: Vec<Value> = images
        .iter()
        .flat_map(|img| {
            image_rows(img, digests, need_digest)
                .into_iter()
                .map(move |(r, t, d)| row_value(img, &r, &t, &d, trunc, now))
        })
        .collect();
    render::list(&format, DEFAULT_TABLE, &rows, HEADERS)
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let client = ctx.client().await?;
    let list = client.get_json("/images/json", &query(p)).await?;
    let images = list.as_array().cloned().unwrap_or_default();
    let config_format = ctx.opts.config_value("imagesFormat");
    let text = render_images(
        &images,
        p,
        config_format.as_ref().and_then(Value::as_str),
        crate::util::now_secs() as i64,
    )?;
    ctx.out.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Parsed {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        spec("images").parse(&argv).unwrap()
    }

    #[test]
    fn request_mapping() {
        assert!(query(&parse(&[])).is_empty());
        let q = query(&parse(&["-a", "-f", "dangling=true", "busybox"]));
        assert_eq!(
            q,
            vec![
                ("all", "1".to_string()),
                (
                    "filters",
                    r#"{"dangling":{"true":true},"reference":{"busybox":true}}"#.to_string()
                )
            ]
        );
    }

    #[test]
    fn formats() {
        assert_eq!(effective_format("table", true, true), "{{.ID}}");
        assert!(effective_format("table", false, true).contains("{{.Digest}}"));
        assert_eq!(
            effective_format("table {{.ID}}", false, true),
            "table {{.ID}}\t{{.Digest}}"
        );
        assert_eq!(effective_format("{{.ID}}", true, false), "{{.ID}}");
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn rows_follow_docker_rules() {
        let img = json!({
            "Id": "sha256:abc",
            "RepoTags": ["busybox:latest", "busybox:1.36", "docker.io/me/app:v1"],
            "RepoDigests": [format!("busybox@{DIGEST}"), format!("other@{DIGEST}")],
        });
        let rows = image_rows(&img, false, false);
        assert_eq!(
            rows,
            vec![
                ("busybox".into(), "latest".into(), "<none>".into()),
                ("busybox".into(), "1.36".into(), "<none>".into()),
                ("me/app".into(), "v1".into(), "<none>".into()),
                ("other".into(), "<none>".into(), String::new()),
            ]
        );
        let rows = image_rows(&img, true, true);
        assert_eq!(rows[0], ("busybox".into(), "latest".into(), DIGEST.into()));
        assert_eq!(rows[3], ("other".into(), "<none>".into(), DIGEST.into()));
        let dangling = json!({"Id": "sha256:abc", "RepoTags": [], "RepoDigests": []});
        assert_eq!(
            image_rows(&dangling, false, false),
            vec![("<none>".into(), "<none>".into(), "<none>".into())]
        );
    }

    #[test]
    fn row_fields() {
        let img = json!({
            "Id": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "Created": 1_700_000_000, "Size": 4_261_550, "SharedSize": -1, "Containers": -1,
        });
        let v = row_value(
            &img,
            "busybox",
            "latest",
            "<none>",
            true,
            1_700_000_000 + 3 * 86400,
        );
        assert_eq!(v["ID"], "0123456789ab");
        assert_eq!(v["Size"], "4.26MB");
        assert_eq!(v["CreatedSince"], "3 days ago");
        assert_eq!(v["SharedSize"], "N/A");
        assert_eq!(v["UniqueSize"], "N/A");
        assert_eq!(v["Containers"], "N/A");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }
}
