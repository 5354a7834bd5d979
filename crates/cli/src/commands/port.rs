//! `port` (and `container port`).

use serde_json::Value;

use crate::args::{Arity, CommandSpec, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "CONTAINER [PRIVATE_PORT[/PROTO]]",
        short: "List port mappings or a specific mapping for the container",
        aliases: "berth container port, berth port",
        arity: Arity::Range(1, 2),
        interspersed: true,
        flags: &[],
    }
}

fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The lines `docker port` prints for `ports` (NetworkSettings.Ports) and an
/// optional `PRIVATE_PORT[/PROTO]`; `None` when that port is not published.
pub fn port_lines(ports: &Value, filter: Option<&str>) -> Option<Vec<String>> {
    let map = ports.as_object();
    let bindings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                join_host_port(
                    b.get("HostIp").and_then(Value::as_str).unwrap_or(""),
                    b.get("HostPort").and_then(Value::as_str).unwrap_or(""),
                )
            })
            .collect()
    };
    if let Some(f) = filter {
        let key = if f.contains('/') {
            f.to_string()
        } else {
            format!("{f}/tcp")
        };
        let found = map.and_then(|m| m.get(&key)).map(bindings)?;
        return (!found.is_empty()).then_some(found);
    }
    let mut entries: Vec<(u32, String, String)> = Vec::new();
    for (k, v) in map.into_iter().flatten() {
        let (num, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
        for b in bindings(v) {
            entries.push((num.parse().unwrap_or(0), proto.to_string(), b));
        }
    }
    entries.sort();
    Some(
        entries
            .into_iter()
            .map(|(n, proto, b)| format!("{n}/{proto} -> {b}"))
            .collect(),
    )
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let client = ctx.client().await?;
    let name = &p.args[0];
    let info = client
        .get_json(&format!("/containers/{}/json", path_escape(name)), &[])
        .await?;
    let ports = info
        .get("NetworkSettings")
        .and_then(|n| n.get("Ports"))
        .cloned()
        .unwrap_or(Value::Null);
    let filter = p.args.get(1).map(String::as_str);
    match port_lines(&ports, filter) {
        Some(lines) => {
            for l in lines {
                writeln!(ctx.out, "{l}")?;
            }
            Ok(())
        }
        None => {
            let f = filter.unwrap_or("");
            let key = if f.contains('/') {
                f.to_string()
            } else {
                format!("{f}/tcp")
            };
            Err(CliError::msg(format!(
                "Error: No public port '{key}' published for {name}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_like_docker() {
        let ports = json!({
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
            "443/tcp": null
        });
        assert_eq!(
            port_lines(&ports, None).unwrap(),
            vec![
                "53/udp -> 127.0.0.1:5353",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080"
            ]
        );
        assert_eq!(
            port_lines(&ports, Some("80")).unwrap(),
            vec!["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(port_lines(&ports, Some("443/tcp")), None);
        assert_eq!(port_lines(&ports, Some("81")), None);
    }
}
