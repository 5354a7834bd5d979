//! `info` / `system info`.

use serde_json::{json, Value};

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed, INSPECT_FORMAT_HELP};
use crate::ctx::Ctx;
use crate::error::Result;
use crate::render;

const FLAGS: &[FlagSpec] = &[flag("format", Some('f'), Kind::Str, INSPECT_FORMAT_HELP)];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS]",
        short: "Display system-wide information",
        aliases: "berth system info, berth info",
        arity: Arity::None,
        interspersed: true,
        flags: FLAGS,
    }
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// docker's human-readable info layout (the parts berth's daemon reports).
pub fn render_default(info: &Value, debug: bool) -> String {
    let mut o = String::new();
    o.push_str("Client:\n");
    o.push_str(&format!(" Version:    {}\n", super::version::VERSION));
    o.push_str(" Context:    default\n");
    o.push_str(&format!(" Debug Mode: {debug}\n\n"));
    o.push_str("Server:\n");
    o.push_str(&format!(" Containers: {}\n", s(info, "Containers")));
    o.push_str(&format!("  Running: {}\n", s(info, "ContainersRunning")));
    o.push_str(&format!("  Paused: {}\n", s(info, "ContainersPaused")));
    o.push_str(&format!("  Stopped: {}\n", s(info, "ContainersStopped")));
    o.push_str(&format!(" Images: {}\n", s(info, "Images")));
    o.push_str(&format!(" Server Version: {}\n", s(info, "ServerVersion")));
    o.push_str(&format!(" Storage Driver: {}\n", s(info, "Driver")));
    for pair in info
        .get("DriverStatus")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some([k, v]) = pair.as_array().map(Vec::as_slice) {
            o.push_str(&format!(
                "  {}: {}\n",
                k.as_str().unwrap_or(""),
                v.as_str().unwrap_or("")
            ));
        }
    }
    for (label, key) in [
        ("Logging Driver", "LoggingDriver"),
        ("Cgroup Driver", "CgroupDriver"),
        ("Cgroup Version", "CgroupVersion"),
    ] {
        if info.get(key).is_some_and(|v| !v.is_null()) {
            o.push_str(&format!(" {label}: {}\n", s(info, key)));
        }
    }
    if let Some(plugins) = info.get("Plugins").filter(|p| p.is_object()) {
        o.push_str(" Plugins:\n");
        for (label, key) in [
            ("Volume", "Volume"),
            ("Network", "Network"),
            ("Authorization", "Authorization"),
            ("Log", "Log"),
        ] {
            let names = strings(plugins, key);
            if !names.is_empty() {
                o.push_str(&format!("  {label}: {}\n", names.join(" ")));
            }
        }
    }
    let swarm = info
        .pointer("/Swarm/LocalNodeState")
        .and_then(Value::as_str)
        .unwrap_or("inactive");
    o.push_str(&format!(" Swarm: {swarm}\n"));
    if let Some(runtimes) = info.get("Runtimes").and_then(Value::as_object) {
        let mut names: Vec<&String> = runtimes.keys().collect();
        names.sort();
        let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        o.push_str(&format!(" Runtimes: {}\n", names.join(" ")));
    }
    if info.get("DefaultRuntime").is_some() {
        o.push_str(&format!(
            " Default Runtime: {}\n",
            s(info, "DefaultRuntime")
        ));
    }
    if s(info, "OSType") == "linux" {
        o.push_str(&format!(" Init Binary: {}\n", s(info, "InitBinary")));
        for (label, key) in [
            ("containerd", "ContainerdCommit"),
            ("runc", "RuncCommit"),
            ("init", "InitCommit"),
        ] {
            let id = info
                .pointer(&format!("/{key}/ID"))
                .and_then(Value::as_str)
                .unwrap_or("");
            o.push_str(&format!(" {label} version: {id}\n"));
        }
    }
    let security = strings(info, "SecurityOptions");
    if !security.is_empty() {
        o.push_str(" Security Options:\n");
        for opt in security {
            for (i, kv) in opt.split(',').enumerate() {
                let (k, v) = kv.split_once('=').unwrap_or(("name", kv));
                if i == 0 || k == "name" {
                    o.push_str(&format!("  {v}\n"));
                } else {
                    let mut c = k.chars();
                    let key = c
                        .next()
                        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                        .unwrap_or_default();
                    o.push_str(&format!("   {key}: {v}\n"));
                }
            }
        }
    }
    for (label, key) in [
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("OSType", "OSType"),
        ("Architecture", "Architecture"),
        ("CPUs", "NCPU"),
    ] {
        if info.get(key).is_some_and(|v| !v.is_null()) {
            o.push_str(&format!(" {label}: {}\n", s(info, key)));
        }
    }
    if let Some(mem) = info.get("MemTotal").and_then(Value::as_f64) {
        o.push_str(&format!(" Total Memory: {}\n", render::bytes_size(mem)));
    }
    for (label, key) in [
        ("Name", "Name"),
        ("ID", "ID"),
        ("Docker Root Dir", "DockerRootDir"),
    ] {
        if info.get(key).is_some_and(|v| !v.is_null()) {
            o.push_str(&format!(" {label}: {}\n", s(info, key)));
        }
    }
    o.push_str(&format!(
        " Debug Mode: {}\n",
        info.get("Debug").and_then(Value::as_bool).unwrap_or(false)
    ));
    let labels = strings(info, "Labels");
    if !labels.is_empty() {
        o.push_str(" Labels:\n");
        for l in labels {
            o.push_str(&format!("  {l}\n"));
        }
    }
    o.push_str(&format!(
        " Experimental: {}\n",
        info.get("ExperimentalBuild")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    ));
    let insecure = info
        .get("RegistryConfig")
        .map(|r| strings(r, "InsecureRegistryCIDRs"))
        .unwrap_or_default();
    if !insecure.is_empty() {
        o.push_str(" Insecure Registries:\n");
        for r in insecure {
            o.push_str(&format!("  {r}\n"));
        }
    }
    let mirrors = info
        .get("RegistryConfig")
        .map(|r| strings(r, "Mirrors"))
        .unwrap_or_default();
    if !mirrors.is_empty() {
        o.push_str(" Registry Mirrors:\n");
        for m in mirrors {
            o.push_str(&format!("  {m}\n"));
        }
    }
    o.push_str(&format!(
        " Live Restore Enabled: {}\n",
        info.get("LiveRestoreEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    ));
    o.push('\n');
    o
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let client = ctx.client().await?;
    let info = client.get_json("/info", &[]).await?;
    match p.str("format").filter(|f| !f.is_empty()) {
        Some(f) => {
            let mut v = info.clone();
            if let Some(m) = v.as_object_mut() {
                m.insert(
                    "ClientInfo".into(),
                    json!({"Debug": ctx.opts.debug, "Version": super::version::VERSION, "Context": "default"}),
                );
            }
            let text = render::one_or_json(f, &v)?;
            writeln!(ctx.out, "{text}")?;
        }
        None => ctx
            .out
            .write_all(render_default(&info, ctx.opts.debug).as_bytes())?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let info = json!({
            "Containers": 2, "ContainersRunning": 1, "ContainersPaused": 0, "ContainersStopped": 1,
            "Images": 3, "ServerVersion": "0.1.0", "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"]], "NCPU": 2, "MemTotal": 2147483648u64,
            "Name": "host", "LiveRestoreEnabled": false,
        });
        let text = render_default(&info, false);
        assert!(text.starts_with("Client:\n Version:    "));
        assert!(text.contains(
            "\nServer:\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 3\n"
        ));
        assert!(text.contains(" Storage Driver: overlay2\n  Backing Filesystem: extfs\n"));
        assert!(text.contains(" CPUs: 2\n Total Memory: 2GiB\n Name: host\n"));
        assert!(!text.contains("Kernel Version"));
    }
}
