//! `version`.

use serde_json::{json, Value};

use crate::args::{flag, Arity, CommandSpec, Kind, Parsed, INSPECT_FORMAT_HELP};
use crate::client::API_VERSION;
use crate::ctx::Ctx;
use crate::error::Result;
use crate::render;

pub const SPEC: CommandSpec = CommandSpec {
    path: "version",
    use_args: "[OPTIONS]",
    short: "Show the berth version information",
    aliases: "",
    arity: Arity::None,
    interspersed: true,
    flags: &[flag("format", Some('f'), Kind::Str, INSPECT_FORMAT_HELP)],
};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Build commit baked in at compile time, if the build provided one.
pub fn git_commit() -> &'static str {
    option_env!("BERTH_GIT_COMMIT").unwrap_or("dev")
}

/// Go's GOARCH spelling of the machine architecture.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The client half, with the Go field names templates use.
pub fn client_value(negotiated: &str) -> Value {
    json!({
        "Platform": {"Name": ""},
        "Version": VERSION,
        "APIVersion": negotiated,
        "DefaultAPIVersion": API_VERSION,
        "GitCommit": git_commit(),
        "GoVersion": "",
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "BuildTime": "",
        "Context": "default",
    })
}

/// Lines of `label:\tvalue` laid out as tabwriter(minwidth 20, padding 1) does;
/// lines without a tab separate alignment blocks.
pub fn tab_block(lines: &[String]) -> String {
    let mut out = String::new();
    let mut block: Vec<(&str, &str)> = Vec::new();
    let flush = |block: &mut Vec<(&str, &str)>, out: &mut String| {
        let width = block
            .iter()
            .map(|(l, _)| l.chars().count() + 1)
            .max()
            .unwrap_or(0)
            .max(20);
        for (l, v) in block.drain(..) {
            out.push_str(&format!("{l:<width$}{v}\n"));
        }
    };
    for line in lines {
        match line.split_once('\t') {
            Some((l, v)) => block.push((l, v)),
            None => {
                flush(&mut block, &mut out);
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    flush(&mut block, &mut out);
    out
}

pub fn render_default(client: &Value, server: Option<&Value>) -> String {
    let s = |v: &Value, k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let mut api = s(client, "APIVersion");
    if api != s(client, "DefaultAPIVersion") {
        api = format!("{api} (downgraded from {})", s(client, "DefaultAPIVersion"));
    }
    let mut lines = vec![
        "Client:".to_string(),
        format!(" Version:\t{}", s(client, "Version")),
        format!(" API version:\t{api}"),
        format!(" Git commit:\t{}", s(client, "GitCommit")),
        format!(" OS/Arch:\t{}/{}", s(client, "Os"), s(client, "Arch")),
        format!(" Context:\t{}", s(client, "Context")),
    ];
    if let Some(server) = server {
        lines.push(String::new());
        let platform = server
            .pointer("/Platform/Name")
            .and_then(Value::as_str)
            .unwrap_or("");
        lines.push(if platform.is_empty() {
            "Server:".to_string()
        } else {
            format!("Server: {platform}")
        });
        for c in server
            .get("Components")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = s(c, "Name");
            let details = c.get("Details").cloned().unwrap_or(Value::Null);
            lines.push(format!(" {name}:"));
            if name == "Engine" {
                lines.push(format!("  Version:\t{}", s(c, "Version")));
                lines.push(format!(
                    "  API version:\t{} (minimum version {})",
                    s(&details, "ApiVersion"),
                    s(&details, "MinAPIVersion")
                ));
                lines.push(format!("  Go version:\t{}", s(&details, "GoVersion")));
                lines.push(format!("  Git commit:\t{}", s(&details, "GitCommit")));
                lines.push(format!("  Built:\t{}", s(&details, "BuildTime")));
                lines.push(format!(
                    "  OS/Arch:\t{}/{}",
                    s(&details, "Os"),
                    s(&details, "Arch")
                ));
                lines.push(format!("  Experimental:\t{}", s(&details, "Experimental")));
            } else {
                lines.push(format!("  Version:\t{}", s(c, "Version")));
                let mut keys: Vec<&String> = details
                    .as_object()
                    .map(|m| m.keys().collect())
                    .unwrap_or_default();
                keys.sort();
                for k in keys {
                    lines.push(format!("  {k}:\t{}", s(&details, k)));
                }
            }
        }
    }
    tab_block(&lines)
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    // The client's column shows the negotiated version, as docker's does.
    let client = match ctx.client().await {
        Ok(c) => c.negotiate().await.map(|()| c),
        Err(e) => Err(e),
    };
    let (server, err) = match client {
        Ok(c) => match c.get_json("/version", &[]).await {
            Ok(mut v) => {
                // Templates use Go's field name APIVersion.
                if let Some(api) = v.get("ApiVersion").cloned() {
                    v["APIVersion"] = api;
                }
                (Some((v, c.version())), None)
            }
            Err(e) => (None, Some(e)),
        },
        Err(e) => (None, Some(e)),
    };
    let negotiated = server
        .as_ref()
        .map_or(API_VERSION.to_string(), |(_, v)| v.clone());
    let client = client_value(&negotiated);
    let server = server.map(|(v, _)| v);
    match p.str("format").filter(|f| !f.is_empty()) {
        Some(f) => {
            let v = json!({"Client": client, "Server": server});
            let text = render::one_or_json(f, &v)?;
            writeln!(ctx.out, "{text}")?;
        }
        None => ctx
            .out
            .write_all(render_default(&client, server.as_ref()).as_bytes())?,
    }
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `-v/--version`.
pub fn short_version() -> String {
    format!("berth version {VERSION}, build {}", git_commit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout() {
        let client = client_value("1.50");
        let server = json!({
            "Components": [
                {"Name": "Engine", "Version": "0.1.0", "Details": {
                    "ApiVersion": "1.50", "MinAPIVersion": "1.24", "GoVersion": "rust", "GitCommit": "abc",
                    "BuildTime": "today", "Os": "linux", "Arch": "amd64", "Experimental": "false"}},
                {"Name": "runc", "Version": "1.1", "Details": {"GitCommit": "x"}}
            ]
        });
        let text = render_default(&client, Some(&server));
        assert!(text.starts_with(&format!(
            "Client:\n Version:           {VERSION}\n API version:       1.50\n"
        )));
        assert!(text.contains("\n\nServer:\n Engine:\n  Version:          0.1.0\n  API version:      1.50 (minimum version 1.24)\n"));
        assert!(text.ends_with(" runc:\n  Version:          1.1\n  GitCommit:        x\n"));
        let down = render_default(&client_value("1.43"), None);
        assert!(down.contains(" API version:       1.43 (downgraded from 1.50)\n"));
    }
}
