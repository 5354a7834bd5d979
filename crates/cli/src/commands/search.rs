//! `search`: `GET /images/search`, printed as docker's search table.

use serde_json::{json, Value};

use crate::args::{filters_json, flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::render;

const FLAGS: &[FlagSpec] = &[
    flag(
        "filter",
        Some('f'),
        Kind::Filter,
        "Filter output based on conditions provided",
    ),
    flag(
        "format",
        None,
        Kind::Str,
        "Pretty-print search using a Go template",
    ),
    flag("limit", None, Kind::Str, "Max number of search results")
        .ty("int")
        .check(crate::opts::check_int),
    flag("no-trunc", None, Kind::Bool, "Don't truncate output"),
];

pub const SPEC: CommandSpec = CommandSpec {
    path: "search",
    use_args: "[OPTIONS] TERM",
    short: "Search Docker Hub for images",
    aliases: "",
    arity: Arity::Exact(1),
    interspersed: true,
    flags: FLAGS,
};

const DEFAULT_TABLE: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";

const HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
    ("IsAutomated", "AUTOMATED"),
];

/// docker's `formatter.Ellipsis` for text without wide characters.
pub fn ellipsis(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_string();
    }
    let mut out: String = chars[..max.saturating_sub(1)].iter().collect();
    out.push('…');
    out
}

/// The registry a search term names (`host/term`), else Docker Hub.
pub fn search_domain(term: &str) -> &str {
    match term.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// One result as the template sees it; booleans are `[OK]`/empty in tables,
/// `true`/`false` in JSON.
pub fn row(r: &Value, trunc: bool, json_mode: bool) -> Value {
    let desc = r
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .replace(['\n', '\r'], " ");
    let desc = if trunc { ellipsis(&desc, 45) } else { desc };
    let flag = |k: &str| {
        let b = r.get(k).and_then(Value::as_bool).unwrap_or(false);
        match (b, json_mode) {
            (true, true) => "true",
            (true, false) => "[OK]",
            (false, true) => "false",
            (false, false) => "",
        }
    };
    json!({
        "Name": r.get("name").and_then(Value::as_str).unwrap_or(""),
        "Description": desc,
        "StarCount": r.get("star_count").and_then(Value::as_i64).unwrap_or(0).to_string(),
        "IsOfficial": flag("is_official"),
        "IsAutomated": flag("is_automated"),
    })
}

pub fn render_results(results: &[Value], format: &str, no_trunc: bool) -> Result<String> {
    let json_mode = format == "json";
    let rows: Vec<Value> = results
        .iter()
        .map(|r| row(r, !no_trunc, json_mode))
        .collect();
    render::list(format, DEFAULT_TABLE, &rows, HEADERS)
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let term = &p.args[0];
    let mut q = vec![("term", term.clone())];
    if let Some(l) = p.str("limit") {
        let n = crate::opts::parse_go_int(l).map_err(CliError::msg)?;
        if n > 0 {
            q.push(("limit", n.to_string()));
        }
    }
    if let Some(f) = filters_json(&p.list("filter")) {
        q.push(("filters", f));
    }
    let auth = crate::registry_auth::auth_for_domain(&ctx.opts, search_domain(term)).to_header();
    let client = ctx.client().await?;
    let resp = client
        .request(
            hyper::Method::GET,
            "/images/search",
            &q,
            &[("X-Registry-Auth", auth)],
            crate::client::empty_body(),
        )
        .await?;
    let v = crate::client::parse_json(&crate::client::read_body(resp).await?)?;
    let results = v.as_array().cloned().unwrap_or_default();
    let text = render_results(&results, p.str("format").unwrap_or(""), p.bool("no-trunc"))?;
    write!(ctx.out, "{text}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> Vec<Value> {
        vec![
            json!({"name":"busybox","description":"Busybox base image.","star_count":3300,"is_official":true,"is_automated":false}),
            json!({"name":"someone/tool","description":"A very long description that goes on and on\nand on","star_count":7,"is_official":false,"is_automated":true}),
        ]
    }

    #[test]
    fn table_truncates_descriptions() {
        let text = render_results(&results(), "", false).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("NAME "));
        assert!(lines[0].contains("DESCRIPTION"));
        assert!(lines[0].trim_end().ends_with("STARS     OFFICIAL"));
        assert!(lines[1].starts_with("busybox "));
        assert!(lines[1].trim_end().ends_with("3300      [OK]"));
        assert!(lines[2].contains("A very long description that goes on and on …"));
        let full = render_results(&results(), "", true).unwrap();
        assert!(full.contains("A very long description that goes on and on and on"));
    }

    #[test]
    fn templates_and_json() {
        let text = render_results(&results(), "{{.Name}}:{{.IsAutomated}}", false).unwrap();
        assert_eq!(text, "busybox:\nsomeone/tool:[OK]\n");
        let text = render_results(&results()[..1], "json", false).unwrap();
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["IsOfficial"], "true");
        assert_eq!(v["StarCount"], "3300");
    }

    #[test]
    fn helpers() {
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
        assert_eq!(search_domain("busybox"), "docker.io");
        assert_eq!(search_domain("127.0.0.1:5000/x"), "127.0.0.1:5000");
        assert_eq!(search_domain("someone/x"), "docker.io");
    }
}
