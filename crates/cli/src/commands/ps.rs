//! `ps` / `container ls|list|ps`: docker's container formatter over
//! `GET /containers/json`.

use serde_json::{json, Map, Value};

use crate::args::{filters_json, flag, Arity, CommandSpec, FlagSpec, Kind, Parsed, FORMAT_HELP};
use crate::ctx::Ctx;
use crate::error::Result;
use crate::render;
use crate::util::{ellipsis, go_time_string, truncate_id};

const FLAGS: &[FlagSpec] = &[
    flag(
        "all",
        Some('a'),
        Kind::Bool,
        "Show all containers (default shows just running)",
    ),
    flag(
        "filter",
        Some('f'),
        Kind::Filter,
        "Filter output based on conditions provided",
    ),
    flag("format", None, Kind::Str, FORMAT_HELP),
    flag(
        "last",
        Some('n'),
        Kind::Str,
        "Show n last created containers (includes all states)",
    )
    .ty("int")
    .def("-1")
    .check(crate::opts::check_int),
    flag(
        "latest",
        Some('l'),
        Kind::Bool,
        "Show the latest created container (includes all states)",
    ),
    flag("no-trunc", None, Kind::Bool, "Don't truncate output"),
    flag("quiet", Some('q'), Kind::Bool, "Only display container IDs"),
    flag("size", Some('s'), Kind::Bool, "Display total file sizes"),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS]",
        short: "List containers",
        aliases: "berth container ls, berth container list, berth container ps, berth ps",
        arity: Arity::None,
        interspersed: true,
        flags: FLAGS,
    }
}

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Networks", "NETWORKS"),
];

/// docker's `NewContainerFormat`.
pub fn effective_format(source: &str, quiet: bool, size: bool) -> String {
    match source {
        "table" if quiet => "{{.ID}}".to_string(),
        "table" if size => format!("{DEFAULT_TABLE}\t{{{{.Size}}}}"),
        "table" => DEFAULT_TABLE.to_string(),
        "raw" if quiet => "container_id: {{.ID}}".to_string(),
        "raw" => {
            let mut f = "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n".to_string();
            if size {
                f.push_str("size: {{.Size}}\n");
            }
            f
        }
        other => other.to_string(),
    }
}

/// Query of `GET /containers/json`.
pub fn query(p: &Parsed, format: &str) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if p.bool("all") {
        q.push(("all", "1".to_string()));
    }
    let mut limit = p
        .str("last")
        .and_then(|n| crate::opts::parse_go_int(n).ok())
        .unwrap_or(-1);
    if p.bool("latest") && limit == -1 {
        limit = 1;
    }
    if limit > 0 {
        q.push(("limit", limit.to_string()));
    }
    // docker asks for sizes when the template shows them.
    if p.bool("size") || format.contains(".Size") {
        q.push(("size", "1".to_string()));
    }
    if let Some(f) = filters_json(&p.list("filter")) {
        q.push(("filters", f));
    }
    q
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// docker's `DisplayablePorts`: consecutive ports grouped into ranges, published
/// ports as `ip:public->private/proto`.
pub fn displayable_ports(ports: &[Value]) -> String {
    struct P {
        ip: String,
        private: u64,
        public: u64,
        ty: String,
    }
    let mut ps: Vec<P> = ports
        .iter()
        .map(|p| P {
            ip: p
                .get("IP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            private: p.get("PrivatePort").and_then(Value::as_u64).unwrap_or(0),
            public: p.get("PublicPort").and_then(Value::as_u64).unwrap_or(0),
            ty: p
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
        .collect();
    ps.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.ty).cmp(&(b.private, &b.ip, b.public, &b.ty))
    });
    let form = |key: &str, first: u64, last: u64| {
        let (ip, ty) = match key.split_once('/') {
            Some((ip, ty)) => (ip, ty),
            None => ("", key),
        };
        let mut group = first.to_string();
        if first != last {
            group = format!("{group}-{last}");
        }
        if !ip.is_empty() {
            group = format!("{ip}:{group}->{group}");
        }
        format!("{group}/{ty}")
    };
    let mut groups: Vec<(String, u64, u64)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &ps {
        let mut key = p.ty.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                let host = if p.ip.contains(':') {
                    format!("[{}]:{}", p.ip, p.public)
                } else {
                    format!("{}:{}", p.ip, p.public)
                };
                host_mappings.push(format!("{host}->{}/{}", p.private, p.ty));
                continue;
            }
            key = format!("{}/{}", p.ip, p.ty);
        }
        match groups.iter_mut().find(|g| g.0 == key) {
            None => groups.push((key, p.private, p.private)),
            Some(g) if p.private == g.2 + 1 => g.2 = p.private,
            Some(g) => {
                result.push(form(&g.0, g.1, g.2));
                g.1 = p.private;
                g.2 = p.private;
            }
        }
    }
    for g in &groups {
        result.push(form(&g.0, g.1, g.2));
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The template fields of one container (keys sorted, as docker's JSON is).
pub fn row_value(c: &Value, trunc: bool, now: i64) -> Value {
    let id = str_of(c, "Id");
    let mut names: Vec<String> = c
        .get("Names")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    if trunc {
        // Link names (`other/alias`) are hidden unless --no-trunc.
        if let Some(n) = names.iter().find(|n| !n.contains('/')) {
            names = vec![n.clone()];
        }
    }
    let mut image = str_of(c, "Image").to_string();
    if image.is_empty() {
        image = "<no image>".to_string();
    } else if trunc {
        if image.starts_with("sha256:") {
            image = truncate_id(&image);
        } else if let Some((name, _)) = image.split_once('@') {
            // A reference with a digest shows without it.
            image = name.to_string();
        }
    }
    let mut command = str_of(c, "Command").to_string();
    if trunc {
        command = ellipsis(&command, 20);
    }
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let size_rw = c.get("SizeRw").and_then(Value::as_f64).unwrap_or(0.0);
    let size_root = c.get("SizeRootFs").and_then(Value::as_f64).unwrap_or(0.0);
    let size = if size_root > 0.0 {
        format!(
            "{} (virtual {})",
            render::human_size3(size_rw),
            render::human_size3(size_root)
        )
    } else {
        render::human_size3(size_rw)
    };
    let mut labels: Vec<String> = c
        .get("Labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    labels.sort();
    let mounts_v: Vec<&Value> = c
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let mounts: Vec<String> = mounts_v
        .iter()
        .map(|m| {
            let name = match str_of(m, "Name") {
                "" => str_of(m, "Source"),
                n => n,
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local_volumes = mounts_v
        .iter()
        .filter(|m| str_of(m, "Driver") == "local")
        .count();
    let mut networks: Vec<String> = c
        .get("NetworkSettings")
        .and_then(|n| n.get("Networks"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let ports: Vec<Value> = c
        .get("Ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut m = Map::new();
    m.insert("Command".into(), json!(go_quote(&command)));
    m.insert("CreatedAt".into(), json!(go_time_string(created)));
    m.insert(
        "ID".into(),
        json!(if trunc {
            truncate_id(id)
        } else {
            id.to_string()
        }),
    );
    m.insert("Image".into(), json!(image));
    m.insert("Labels".into(), json!(labels.join(",")));
    m.insert("LocalVolumes".into(), json!(local_volumes.to_string()));
    m.insert("Mounts".into(), json!(mounts.join(",")));
    m.insert("Names".into(), json!(names.join(",")));
    m.insert("Networks".into(), json!(networks.join(",")));
    m.insert("Ports".into(), json!(displayable_ports(&ports)));
    m.insert("RunningFor".into(), json!(render::time_ago(created, now)));
    m.insert("Size".into(), json!(size));
    m.insert("State".into(), json!(str_of(c, "State")));
    m.insert("Status".into(), json!(str_of(c, "Status")));
    Value::Object(m)
}

/// The source format: `--format`, config.json's `psFormat`, or `table`.
pub fn source_format(p: &Parsed, config_format: Option<&str>) -> String {
    match p.str("format").filter(|f| !f.is_empty()) {
        Some(f) => f.to_string(),
        None => match config_format.filter(|f| !f.is_empty() && !p.bool("quiet")) {
            Some(f) => f.to_string(),
            None => "table".to_string(),
        },
    }
}

pub fn render_ps(containers: &[Value], p: &Parsed, source: &str, now: i64) -> Result<String> {
    let format = effective_format(source, p.bool("quiet"), p.bool("size"));
    let trunc = !p.bool("no-trunc");
    let rows: Vec<Value> = containers
        .iter()
        .map(|c| row_value(c, trunc, now))
        .collect();
    render::list(&format, DEFAULT_TABLE, &rows, HEADERS)
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let config_format = ctx.opts.config_value("psFormat");
    let source = source_format(p, config_format.as_ref().and_then(Value::as_str));
    let format = effective_format(&source, p.bool("quiet"), p.bool("size"));
    let client = ctx.client().await?;
    let list = client
        .get_json("/containers/json", &query(p, &format))
        .await?;
    let containers = list.as_array().cloned().unwrap_or_default();
    let text = render_ps(&containers, p, &source, crate::util::now_secs() as i64)?;
    ctx.out.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Parsed {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        spec("ps").parse(&argv).unwrap()
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn fixture() -> Vec<Value> {
        vec![
            json!({
                "Id": ID, "Names": ["/web", "/other/alias"], "Image": "nginx@sha256:abcd",
                "Command": "/docker-entrypoint.sh nginx -g 'daemon off;'", "Created": 1_700_000_000,
                "State": "running", "Status": "Up 2 seconds",
                "Ports": [
                    {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                    {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                    {"PrivatePort": 443, "Type": "tcp"}
                ],
                "Labels": {"b": "2", "a": "1"},
                "NetworkSettings": {"Networks": {"bridge": {}}},
                "Mounts": [{"Name": "", "Source": "/very/long/host/path", "Driver": ""}],
                "SizeRw": 12, "SizeRootFs": 4_261_550
            }),
            json!({
                "Id": "fedcba9876543210", "Names": ["/done"], "Image": "sha256:fedcba9876543210fedcba",
                "Command": "true", "Created": 1_700_000_000 - 3600 * 3, "State": "exited",
                "Status": "Exited (0) 3 seconds ago", "Ports": [], "Labels": null
            }),
        ]
    }

    #[test]
    fn default_table() {
        let now = 1_700_000_002;
        let out = render_ps(&fixture(), &parse(&[]), "table", now).unwrap();
        let expected = "\
CONTAINER ID   IMAGE          COMMAND                  CREATED         STATUS                     PORTS                                              NAMES
0123456789ab   nginx          \"/docker-entrypoint.…\"   2 seconds ago   Up 2 seconds               443/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp   web
fedcba987654   fedcba987654   \"true\"                   3 hours ago     Exited (0) 3 seconds ago                                                      done
";
        assert_eq!(out, expected);
        let out = render_ps(&fixture(), &parse(&["-q"]), "table", now).unwrap();
        assert_eq!(out, "0123456789ab\nfedcba987654\n");
        let out = render_ps(&fixture(), &parse(&["-s"]), "table", now).unwrap();
        assert!(out.lines().next().unwrap().ends_with("NAMES     SIZE"));
        assert!(out.contains("12B (virtual 4.26MB)"));
    }

    #[test]
    fn templates_and_json() {
        let now = 1_700_000_002;
        let out = render_ps(
            &fixture(),
            &parse(&["--no-trunc"]),
            "{{.Names}}|{{.Labels}}|{{.Mounts}}|{{.Networks}}|{{.Image}}|{{.Command}}",
            now,
        )
        .unwrap();
        assert_eq!(
            out.lines().next().unwrap(),
            "web,other/alias|a=1,b=2|/very/long/host/path|bridge|nginx@sha256:abcd|\"/docker-entrypoint.sh nginx -g 'daemon off;'\""
        );
        let out = render_ps(&fixture()[1..], &parse(&[]), "json", now).unwrap();
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["Names"], "done");
        assert_eq!(v["LocalVolumes"], "0");
        assert_eq!(v["Size"], "0B");
        assert_eq!(v["Command"], "\"true\"");
    }

    #[test]
    fn request_mapping() {
        assert!(query(&parse(&[]), "table").is_empty());
        let q = query(&parse(&["-a", "-n", "3", "-f", "status=exited"]), "table");
        assert_eq!(
            q,
            vec![
                ("all", "1".to_string()),
                ("limit", "3".to_string()),
                ("filters", r#"{"status":{"exited":true}}"#.to_string())
            ]
        );
        assert_eq!(
            query(&parse(&["-l"]), "x"),
            vec![("limit", "1".to_string())]
        );
        assert_eq!(
            query(&parse(&[]), "{{.Size}}"),
            vec![("size", "1".to_string())]
        );
    }

    #[test]
    fn ports_text() {
        let ports = json!([
            {"PrivatePort": 8000, "Type": "tcp"},
            {"PrivatePort": 8001, "Type": "tcp"},
            {"PrivatePort": 8002, "Type": "tcp"},
            {"PrivatePort": 53, "Type": "udp"},
            {"IP": "127.0.0.1", "PrivatePort": 9000, "PublicPort": 9000, "Type": "tcp"}
        ]);
        assert_eq!(
            displayable_ports(ports.as_array().unwrap()),
            "53/udp, 8000-8002/tcp, 127.0.0.1:9000->9000/tcp"
        );
        assert_eq!(go_quote("a\"b\\\n…"), "\"a\\\"b\\\\\\n…\"");
    }
}
