//! `stats` (and `container stats`): samples from `GET /containers/{id}/stats`
//! turned into docker's columns as its `stats_helpers.go` computes them.

use serde_json::{json, Map, Value};

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed, FORMAT_HELP};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::Result;
use crate::render;
use crate::util::truncate_id;

const FLAGS: &[FlagSpec] = &[
    flag(
        "all",
        Some('a'),
        Kind::Bool,
        "Show all containers (default shows just running)",
    ),
    flag("format", None, Kind::Str, FORMAT_HELP),
    flag(
        "no-stream",
        None,
        Kind::Bool,
        "Disable streaming stats and only pull the first result",
    ),
    flag("no-trunc", None, Kind::Bool, "Do not truncate output"),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] [CONTAINER...]",
        short: "Display a live stream of container(s) resource usage statistics",
        aliases: "berth container stats, berth stats",
        arity: Arity::Min(0),
        interspersed: true,
        flags: FLAGS,
    }
}

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

fn f64_at(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(n) => cur = n,
            None => return 0.0,
        }
    }
    cur.as_f64().unwrap_or(0.0)
}

/// The numbers docker derives from one stats sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub cpu_percent: f64,
    pub memory: f64,
    pub memory_limit: f64,
    pub memory_percent: f64,
    pub net_rx: f64,
    pub net_tx: f64,
    pub block_read: f64,
    pub block_write: f64,
    pub pids: u64,
}

/// `calculateCPUPercentUnix`, `calculateMemUsageUnixNoCache`,
/// `calculateBlockIO` and `calculateNetwork` over one sample.
pub fn compute(v: &Value) -> Sample {
    let cpu_delta = f64_at(v, &["cpu_stats", "cpu_usage", "total_usage"])
        - f64_at(v, &["precpu_stats", "cpu_usage", "total_usage"]);
    let system_delta = f64_at(v, &["cpu_stats", "system_cpu_usage"])
        - f64_at(v, &["precpu_stats", "system_cpu_usage"]);
    let mut online = f64_at(v, &["cpu_stats", "online_cpus"]);
    if online == 0.0 {
        online = v
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map_or(0.0, |a| a.len() as f64);
    }
    let cpu_percent = if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    };
    let usage = f64_at(v, &["memory_stats", "usage"]);
    let stat = |k: &str| {
        v.pointer(&format!("/memory_stats/stats/{k}"))
            .and_then(Value::as_f64)
    };
    // cgroup v1 reports total_inactive_file, v2 inactive_file: page cache is not "used".
    let memory = match (stat("total_inactive_file"), stat("inactive_file")) {
        (Some(i), _) if i < usage => usage - i,
        (_, Some(i)) if i < usage => usage - i,
        _ => usage,
    };
    let memory_limit = f64_at(v, &["memory_stats", "limit"]);
    let memory_percent = if memory_limit != 0.0 {
        memory / memory_limit * 100.0
    } else {
        0.0
    };
    let (mut net_rx, mut net_tx) = (0.0, 0.0);
    for n in v
        .get("networks")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
    {
        net_rx += f64_at(n, &["rx_bytes"]);
        net_tx += f64_at(n, &["tx_bytes"]);
    }
    let (mut block_read, mut block_write) = (0.0, 0.0);
    for e in v
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let value = f64_at(e, &["value"]);
        match e
            .get("op")
            .and_then(Value::as_str)
            .map(str::to_lowercase)
            .as_deref()
        {
            Some("read") => block_read += value,
            Some("write") => block_write += value,
            _ => {}
        }
    }
    Sample {
        cpu_percent,
        memory,
        memory_limit,
        memory_percent,
        net_rx,
        net_tx,
        block_read,
        block_write,
        pids: v
            .pointer("/pids_stats/current")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    }
}

/// The template fields of one row (`sample` `None`: docker's `--` placeholders).
pub fn row_value(
    container: &str,
    id: &str,
    name: &str,
    sample: Option<&Sample>,
    trunc: bool,
) -> Value {
    let mut m = Map::new();
    let pair = |a: f64, b: f64| format!("{} / {}", render::human_size3(a), render::human_size3(b));
    let name = name.trim_start_matches('/');
    m.insert(
        "BlockIO".into(),
        json!(sample.map_or("--".into(), |s| pair(s.block_read, s.block_write))),
    );
    m.insert(
        "CPUPerc".into(),
        json!(sample.map_or("--".into(), |s| format!("{:.2}%", s.cpu_percent))),
    );
    m.insert("Container".into(), json!(container));
    m.insert(
        "ID".into(),
        json!(if trunc {
            truncate_id(id)
        } else {
            id.to_string()
        }),
    );
    m.insert(
        "MemPerc".into(),
        json!(sample.map_or("--".into(), |s| format!("{:.2}%", s.memory_percent))),
    );
    m.insert(
        "MemUsage".into(),
        json!(sample.map_or("-- / --".into(), |s| format!(
            "{} / {}",
            render::bytes_size(s.memory),
            render::bytes_size(s.memory_limit)
        ))),
    );
    m.insert(
        "Name".into(),
        json!(if name.is_empty() { "--" } else { name }),
    );
    m.insert(
        "NetIO".into(),
        json!(sample.map_or("--".into(), |s| pair(s.net_rx, s.net_tx))),
    );
    m.insert(
        "PIDs".into(),
        json!(sample.map_or("--".into(), |s| s.pids.to_string())),
    );
    Value::Object(m)
}

pub fn render_rows(p: &Parsed, rows: &[Value]) -> Result<String> {
    let format = match p.str("format").filter(|f| !f.is_empty()) {
        Some("table") | None => DEFAULT_TABLE,
        Some(f) => f,
    };
    render::list(format, DEFAULT_TABLE, rows, HEADERS)
}

async fn sample_all(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<Vec<Value>> {
    let client = ctx.client().await?;
    let targets: Vec<String> = if p.args.is_empty() {
        let q = if p.bool("all") {
            vec![("all", "1".to_string())]
        } else {
            Vec::new()
        };
        client
            .get_json("/containers/json", &q)
            .await?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("Id").and_then(Value::as_str).map(str::to_string))
            .collect()
    } else {
        p.args.clone()
    };
    let trunc = !p.bool("no-trunc");
    let mut rows = Vec::new();
    for t in &targets {
        let v = client
            .get_json(
                &format!("/containers/{}/stats", path_escape(t)),
                &[("stream", "0".to_string())],
            )
            .await?;
        let id = v.get("id").and_then(Value::as_str).unwrap_or(t);
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        // A stopped container's sample has no read time: docker shows dashes.
        let valid = v
            .get("read")
            .and_then(Value::as_str)
            .is_some_and(|r| !r.starts_with("0001-01-01"));
        let s = valid.then(|| compute(&v));
        let shown = if p.args.is_empty() { id } else { t.as_str() };
        rows.push(row_value(shown, id, name, s.as_ref(), trunc));
    }
    Ok(rows)
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    if p.bool("no-stream") {
        let rows = sample_all(ctx, p).await?;
        ctx.out.write_all(render_rows(p, &rows)?.as_bytes())?;
        return Ok(());
    }
    // Streaming: a fresh sample set each round, the screen redrawn on a terminal.
    let terminal = crate::term::stdout_is_terminal();
    loop {
        let rows = sample_all(ctx, p).await?;
        let text = render_rows(p, &rows)?;
        if terminal {
            ctx.out.write_all(b"\x1b[2J\x1b[H")?;
        }
        ctx.out.write_all(text.as_bytes())?;
        ctx.out.flush()?;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        json!({
            "read": "2024-01-01T00:00:01Z", "id": "0123456789abcdef0123", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000u64}, "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000u64}, "system_cpu_usage": 10_000_000_000u64},
            "memory_stats": {"usage": 10_485_760, "limit": 104_857_600, "stats": {"total_inactive_file": 2_097_152}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 500}, "eth1": {"rx_bytes": 500, "tx_bytes": 0}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 8192},
                {"major": 8, "minor": 0, "op": "Total", "value": 12288}
            ]},
            "pids_stats": {"current": 3}
        })
    }

    #[test]
    fn numbers_like_stats_helpers() {
        let s = compute(&sample());
        assert!((s.cpu_percent - 20.0).abs() < 1e-9);
        assert_eq!(s.memory, 8_388_608.0);
        assert!((s.memory_percent - 8.0).abs() < 1e-9);
        assert_eq!((s.net_rx, s.net_tx), (2000.0, 500.0));
        assert_eq!((s.block_read, s.block_write), (4096.0, 8192.0));
        assert_eq!(s.pids, 3);
    }

    #[test]
    fn table_like_docker() {
        let p = spec("stats").parse(&["--no-stream".to_string()]).unwrap();
        let s = compute(&sample());
        let rows = vec![
            row_value("x", "0123456789abcdef0123", "/web", Some(&s), true),
            row_value("y", "fedcba9876543210", "/gone", None, true),
        ];
        let out = render_rows(&p, &rows).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O      BLOCK I/O        PIDS\n\
0123456789ab   web       20.00%    8MiB / 100MiB       8.00%     2kB / 500B   4.1kB / 8.19kB   3\n\
fedcba987654   gone      --        -- / --             --        --           --               --\n"
        );
    }
}
