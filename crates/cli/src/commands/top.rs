//! `top` (and `container top`).

use serde_json::Value;

use crate::args::{Arity, CommandSpec, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::Result;

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "CONTAINER [ps OPTIONS]",
        short: "Display the running processes of a container",
        aliases: "berth container top, berth top",
        arity: Arity::Min(1),
        interspersed: false,
        flags: &[],
    }
}

/// The table docker's `top` prints: Go's tabwriter with minimum width 20 and
/// padding 3 (not the formatter's settings); the last column is not padded.
pub fn render(top: &Value) -> String {
    let cells = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| c.as_str().unwrap_or("").to_string())
            .collect()
    };
    let mut rows = vec![cells(top.get("Titles"))];
    for p in top
        .get("Processes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        rows.push(cells(Some(p)));
    }
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max(c.chars().count() + 3).max(20);
            }
        }
    }
    let mut out = String::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let client = ctx.client().await?;
    let mut q = Vec::new();
    if p.args.len() > 1 {
        q.push(("ps_args", p.args[1..].join(" ")));
    }
    let top = client
        .get_json(&format!("/containers/{}/top", path_escape(&p.args[0])), &q)
        .await?;
    ctx.out.write_all(render(&top).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_like_docker() {
        let top = json!({
            "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            "Processes": [["root", "4242", "4200", "0", "10:00", "?", "00:00:00", "sleep 100"]]
        });
        assert_eq!(
            render(&top),
            "UID                 PID                 PPID                C                   STIME               TTY                 TIME                CMD\nroot                4242                4200                0                   10:00               ?                   00:00:00            sleep 100\n"
        );
    }
}
