//! `container prune`.

use serde_json::Value;

use crate::args::{filters_json, flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::render;

const FLAGS: &[FlagSpec] = &[
    flag(
        "filter",
        None,
        Kind::Filter,
        "Provide filter values (e.g. \"until=<timestamp>\")",
    ),
    flag(
        "force",
        Some('f'),
        Kind::Bool,
        "Do not prompt for confirmation",
    ),
];

pub const SPEC: CommandSpec = CommandSpec {
    path: "container prune",
    use_args: "[OPTIONS]",
    short: "Remove all stopped containers",
    aliases: "",
    arity: Arity::None,
    interspersed: true,
    flags: FLAGS,
};

const WARNING: &str =
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?";

pub fn render_report(report: &Value) -> String {
    let mut s = String::new();
    let deleted: Vec<&str> = report
        .get("ContainersDeleted")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !deleted.is_empty() {
        s.push_str("Deleted Containers:\n");
        for d in deleted {
            s.push_str(d);
            s.push('\n');
        }
        s.push('\n');
    }
    let reclaimed = report
        .get("SpaceReclaimed")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    s.push_str(&format!(
        "Total reclaimed space: {}\n",
        render::human_size(reclaimed)
    ));
    s
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    if !p.bool("force") {
        let stdin = std::io::stdin();
        if !super::prune::confirm(ctx, WARNING, &mut stdin.lock())? {
            return Err(CliError::Cancelled);
        }
    }
    let client = ctx.client().await?;
    let q: Vec<(&str, String)> = filters_json(&p.list("filter"))
        .map(|f| vec![("filters", f)])
        .unwrap_or_default();
    let report = client.post_json("/containers/prune", &q, None).await?;
    ctx.out.write_all(render_report(&report).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn report_text() {
        assert_eq!(
            render_report(&json!({"ContainersDeleted": null, "SpaceReclaimed": 0})),
            "Total reclaimed space: 0B\n"
        );
        assert_eq!(
            render_report(&json!({"ContainersDeleted": ["abc", "def"], "SpaceReclaimed": 1500})),
            "Deleted Containers:\nabc\ndef\n\nTotal reclaimed space: 1.5kB\n"
        );
    }
}
