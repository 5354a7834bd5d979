//! `system df`.

use serde_json::{json, Value};

use crate::args::{flag, Arity, CommandSpec, Kind, Parsed, FORMAT_HELP};
use crate::ctx::Ctx;
use crate::error::Result;
use crate::render;

pub const SPEC: CommandSpec = CommandSpec {
    path: "system df",
    use_args: "[OPTIONS]",
    short: "Show berth disk usage",
    aliases: "",
    arity: Arity::None,
    interspersed: true,
    flags: &[
        flag("format", None, Kind::Str, FORMAT_HELP),
        flag(
            "verbose",
            Some('v'),
            Kind::Bool,
            "Show detailed information on space usage",
        ),
    ],
};

const DEFAULT_TABLE: &str =
    "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const HEADERS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];

fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn num(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn with_pct(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            render::human_size(reclaimable as f64),
            reclaimable * 100 / total
        )
    } else {
        render::human_size(reclaimable as f64)
    }
}

fn row(kind: &str, total: usize, active: usize, size: i64, reclaimable: String) -> Value {
    json!({
        "Active": active.to_string(),
        "Reclaimable": reclaimable,
        "Size": render::human_size(size as f64),
        "TotalCount": total.to_string(),
        "Type": kind,
    })
}

/// The four summary rows docker computes from `GET /system/df`.
pub fn summary_rows(df: &Value) -> Vec<Value> {
    let images = arr(df, "Images");
    let layers = num(df, "/LayersSize");
    let used: i64 = images
        .iter()
        .filter(|i| num(i, "/Containers") != 0)
        .filter(|i| num(i, "/Size") != -1 && num(i, "/SharedSize") != -1)
        .map(|i| num(i, "/Size") - num(i, "/SharedSize"))
        .sum();
    let images_active = images.iter().filter(|i| num(i, "/Containers") > 0).count();

    let containers = arr(df, "Containers");
    let is_active = |c: &Value| {
        matches!(
            c.get("State").and_then(Value::as_str),
            Some("running" | "paused" | "restarting")
        )
    };
    let c_size: i64 = containers.iter().map(|c| num(c, "/SizeRw")).sum();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| !is_active(c))
        .map(|c| num(c, "/SizeRw"))
        .sum();

    let volumes = arr(df, "Volumes");
    let v_size_of = |v: &Value| num(v, "/UsageData/Size").max(0);
    let v_active = volumes
        .iter()
        .filter(|v| num(v, "/UsageData/RefCount") > 0)
        .count();
    let v_size: i64 = volumes.iter().map(v_size_of).sum();
    let v_reclaim: i64 = volumes
        .iter()
        .filter(|v| num(v, "/UsageData/RefCount") == 0)
        .map(v_size_of)
        .sum();

    let cache = arr(df, "BuildCache");
    let in_use = |b: &Value| b.get("InUse").and_then(Value::as_bool).unwrap_or(false);
    let shared = |b: &Value| b.get("Shared").and_then(Value::as_bool).unwrap_or(false);
    let b_size: i64 = cache
        .iter()
        .filter(|b| !shared(b))
        .map(|b| num(b, "/Size"))
        .sum();
    let b_reclaim: i64 = cache
        .iter()
        .filter(|b| !in_use(b) && !shared(b))
        .map(|b| num(b, "/Size"))
        .sum();

    vec![
        row(
            "Images",
            images.len(),
            images_active,
            layers,
            with_pct(layers - used, layers),
        ),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(|c| is_active(c)).count(),
            c_size,
            with_pct(c_reclaim, c_size),
        ),
        row(
            "Local Volumes",
            volumes.len(),
            v_active,
            v_size,
            with_pct(v_reclaim, v_size),
        ),
        row(
            "Build Cache",
            cache.len(),
            cache.iter().filter(|b| in_use(b)).count(),
            b_size,
            render::human_size(b_reclaim as f64),
        ),
    ]
}

/// `-v`: docker's four detailed tables (images show their first tag only).
pub fn render_verbose(df: &Value, now: i64) -> Result<String> {
    let mut out = String::from("Images space usage:\n\n");
    let rows: Vec<Value> = arr(df, "Images")
        .iter()
        .map(|img| {
            let (repo, tag) = super::images::image_rows(img, false, false)
                .into_iter()
                .next()
                .filter(|(_, t, _)| t != "<none>")
                .map(|(r, t, _)| (r, t))
                .unwrap_or_else(|| ("<none>".into(), "<none>".into()));
            let mut v = super::images::row_value(img, &repo, &tag, "", true, now);
            v["Containers"] = json!(num(img, "/Containers").to_string());
            v
        })
        .collect();
    out.push_str(&render::list(
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
        "",
        &rows,
        super::images::HEADERS,
    )?);

    out.push_str("\nContainers space usage:\n\n");
    let rows: Vec<Value> = arr(df, "Containers")
        .iter()
        .map(|c| {
            let g = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let name = c
                .pointer("/Names/0")
                .and_then(Value::as_str)
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default();
            let volumes = c.get("Mounts").and_then(Value::as_array).map_or(0, |m| {
                m.iter()
                    .filter(|m| m.get("Type").and_then(Value::as_str) == Some("volume"))
                    .count()
            });
            json!({
                "Command": format!("\"{}\"", crate::util::ellipsis(&g("Command"), 20)),
                "ID": crate::util::truncate_id(&g("Id")),
                "Image": g("Image"),
                "LocalVolumes": volumes.to_string(),
                "Names": name,
                "RunningFor": render::time_ago(num(c, "/Created"), now),
                "Size": render::human_size(num(c, "/SizeRw") as f64),
                "Status": g("Status"),
            })
        })
        .collect();
    out.push_str(&render::list(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
        "",
        &rows,
        &[
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("LocalVolumes", "LOCAL VOLUMES"),
            ("Size", "SIZE"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("Names", "NAMES"),
        ],
    )?);

    out.push_str("\nLocal Volumes space usage:\n\n");
    let rows: Vec<Value> = arr(df, "Volumes")
        .iter()
        .map(|v| {
            let size = num(v, "/UsageData/Size");
            json!({
                "Links": num(v, "/UsageData/RefCount").to_string(),
                "Name": v.get("Name").and_then(Value::as_str).unwrap_or(""),
                "Size": if size == -1 { "N/A".to_string() } else { render::human_size(size as f64) },
            })
        })
        .collect();
    out.push_str(&render::list(
        "table {{.Name}}\t{{.Links}}\t{{.Size}}",
        "",
        &rows,
        &[
            ("Name", "VOLUME NAME"),
            ("Links", "LINKS"),
            ("Size", "SIZE"),
        ],
    )?);

    let cache = arr(df, "BuildCache");
    let total: i64 = cache.iter().map(|b| num(b, "/Size")).sum();
    out.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        render::human_size(total as f64)
    ));
    let rows: Vec<Value> = cache
        .iter()
        .map(|b| {
            let ts = |k: &str| {
                b.get(k)
                    .and_then(Value::as_str)
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| render::time_ago(t.timestamp(), now))
                    .unwrap_or_default()
            };
            json!({
                "CacheType": b.get("Type").and_then(Value::as_str).unwrap_or(""),
                "CreatedSince": ts("CreatedAt"),
                "ID": b.get("ID").and_then(Value::as_str).unwrap_or("").chars().take(12).collect::<String>(),
                "LastUsedSince": ts("LastUsedAt"),
                "Shared": b.get("Shared").and_then(Value::as_bool).unwrap_or(false).to_string(),
                "Size": render::human_size(num(b, "/Size") as f64),
                "UsageCount": num(b, "/UsageCount").to_string(),
            })
        })
        .collect();
    out.push_str(&render::list(
        "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
        "",
        &rows,
        &[
            ("ID", "CACHE ID"),
            ("CacheType", "CACHE TYPE"),
            ("Size", "SIZE"),
            ("CreatedSince", "CREATED"),
            ("LastUsedSince", "LAST USED"),
            ("UsageCount", "USAGE"),
            ("Shared", "SHARED"),
        ],
    )?);
    Ok(out)
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let client = ctx.client().await?;
    let df = client.get_json("/system/df", &[]).await?;
    let text = if p.bool("verbose") && p.str("format").is_none() {
        render_verbose(&df, crate::util::now_secs() as i64)?
    } else {
        let format = p.str("format").filter(|f| !f.is_empty()).unwrap_or("table");
        let format = if format == "table" {
            DEFAULT_TABLE
        } else {
            format
        };
        render::list(format, DEFAULT_TABLE, &summary_rows(&df), HEADERS)?
    };
    ctx.out.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_layout() {
        let df = json!({
            "LayersSize": 3,
            "Images": [{"Id": "sha256:0123456789abcdef", "RepoTags": ["test:2", "test:3"], "Created": 100, "Size": 3, "SharedSize": 3, "Containers": 0}],
            "Containers": [], "Volumes": [], "BuildCache": [],
        });
        let text = render_verbose(&df, 100).unwrap();
        assert_eq!(
            text,
            "Images space usage:\n\nREPOSITORY   TAG       IMAGE ID       CREATED                  SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS\n\
test         2         0123456789ab   Less than a second ago   3B        3B            0B            0\n\n\
Containers space usage:\n\nCONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES   SIZE      CREATED   STATUS    NAMES\n\n\
Local Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\n\n\
Build cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n"
        );
    }

    #[test]
    fn summary() {
        let df = json!({
            "LayersSize": 4261550,
            "Images": [{"Containers": 0, "Size": 4261550, "SharedSize": -1}],
            "Containers": [{"State": "running", "SizeRw": 10}, {"State": "exited", "SizeRw": 30}],
            "Volumes": [{"UsageData": {"Size": 100, "RefCount": 1}}, {"UsageData": {"Size": -1, "RefCount": 0}}],
            "BuildCache": [],
        });
        let rows = summary_rows(&df);
        assert_eq!(rows[0]["Reclaimable"], "4.262MB (100%)");
        assert_eq!(rows[0]["Size"], "4.262MB");
        assert_eq!(rows[0]["Active"], "0");
        assert_eq!(rows[1]["Active"], "1");
        assert_eq!(rows[1]["Reclaimable"], "30B (75%)");
        assert_eq!(rows[2]["Size"], "100B");
        assert_eq!(rows[2]["Reclaimable"], "0B (0%)");
        assert_eq!(rows[3]["Reclaimable"], "0B");
        assert_eq!(rows[3]["TotalCount"], "0");
    }
}
