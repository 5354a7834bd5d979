//! `history` / `image history`.

use serde_json::{json, Map, Value};

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed, FORMAT_HELP};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::Result;
use crate::render;
use crate::util::{ellipsis, rfc3339, truncate_id};

const FLAGS: &[FlagSpec] = &[
        flag("format", None, Kind::Str, FORMAT_HELP),
        FlagSpec {
            default_true: true,
            ..flag("human", Some('H'), Kind::Bool, "Print sizes and dates in human readable format")
        },
        flag("no-trunc", None, Kind::Bool, "Don't truncate output"),
        flag(
            "platform",
            None,
            Kind::Str,
            "Show history for the given platform. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")",
        ),
        flag("quiet", Some('q'), Kind::Bool, "Only show image IDs"),
    ];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] IMAGE",
        short: "Show the history of an image",
        aliases: "berth image history, berth history",
        arity: Arity::Exact(1),
        interspersed: true,
        flags: FLAGS,
    }
}

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const NON_HUMAN_TABLE: &str =
    "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];
/// Created times before 2000-01-01 are shown empty in human mode.
const EPOCH_2000: i64 = 946_684_800;

pub fn request(p: &Parsed) -> (String, Vec<(&'static str, String)>) {
    let mut q = Vec::new();
    if let Some(plat) = p.str("platform") {
        q.push(("platform", crate::commands::platform_json(plat)));
    }
    (format!("/images/{}/history", path_escape(&p.args[0])), q)
}

pub fn row(h: &Value, human: bool, trunc: bool, now: i64) -> Value {
    let s = |k: &str| h.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let created = h.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let size = h.get("Size").and_then(Value::as_i64).unwrap_or(0);
    let created_at = rfc3339(created);
    let since = if !human {
        created_at.clone()
    } else if created <= EPOCH_2000 {
        String::new()
    } else {
        render::time_ago(created, now)
    };
    let by = s("CreatedBy").replace('\t', " ");
    let mut m = Map::new();
    m.insert("Comment".into(), json!(s("Comment")));
    m.insert("CreatedAt".into(), json!(created_at));
    m.insert(
        "CreatedBy".into(),
        json!(if trunc { ellipsis(&by, 45) } else { by }),
    );
    m.insert("CreatedSince".into(), json!(since));
    m.insert(
        "ID".into(),
        json!(if trunc {
            truncate_id(&s("Id"))
        } else {
            s("Id")
        }),
    );
    m.insert(
        "Size".into(),
        json!(if human {
            render::human_size3(size as f64)
        } else {
            size.to_string()
        }),
    );
    Value::Object(m)
}

pub fn render_history(items: &[Value], p: &Parsed, now: i64) -> Result<String> {
    let human = p.bool_or("human", true);
    let trunc = !p.bool("no-trunc");
    let source = p.str("format").filter(|f| !f.is_empty()).unwrap_or("table");
    let format = match source {
        "table" if p.bool("quiet") => "{{.ID}}",
        "table" if !human => NON_HUMAN_TABLE,
        "table" => DEFAULT_TABLE,
        other => other,
    };
    let rows: Vec<Value> = items.iter().map(|h| row(h, human, trunc, now)).collect();
    render::list(format, DEFAULT_TABLE, &rows, HEADERS)
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let client = ctx.client().await?;
    let (path, q) = request(p);
    let items = client.get_json(&path, &q).await?;
    let items = items.as_array().cloned().unwrap_or_default();
    let text = render_history(&items, p, crate::util::now_secs() as i64)?;
    ctx.out.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_rows() {
        let argv: Vec<String> = ["busybox"].iter().map(|s| s.to_string()).collect();
        let p = spec("history").parse(&argv).unwrap();
        assert_eq!(request(&p).0, "/images/busybox/history");
        assert!(p.bool_or("human", true));
        let h = json!({
            "Id": "sha256:0123456789abcdef0123", "Created": 1_700_000_000,
            "CreatedBy": "/bin/sh -c #(nop)\tCMD [\"sh\"] and a very long tail of text here",
            "Size": 0, "Comment": "",
        });
        let r = row(&h, true, true, 1_700_000_000 + 7200);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["CreatedSince"], "2 hours ago");
        assert_eq!(r["CreatedBy"].as_str().unwrap().chars().count(), 45);
        assert!(r["CreatedBy"]
            .as_str()
            .unwrap()
            .starts_with("/bin/sh -c #(nop) CMD"));
        assert_eq!(r["Size"], "0B");
        let r = row(
            &json!({"Id": "<missing>", "Created": 0, "Size": 1234}),
            false,
            true,
            0,
        );
        assert_eq!(r["ID"], "<missing>");
        assert_eq!(r["Size"], "1234");
        assert_eq!(r["CreatedSince"], r["CreatedAt"]);
        let r = row(&json!({"Id": "<missing>", "Created": 0}), true, true, 0);
        assert_eq!(r["CreatedSince"], "");
    }
}
