//! `rmi` / `image rm` / `image remove`.

use serde_json::Value;

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};

const FLAGS: &[FlagSpec] = &[
        flag("force", Some('f'), Kind::Bool, "Force removal of the image"),
        flag("no-prune", None, Kind::Bool, "Do not delete untagged parents"),
        flag(
            "platform",
            None,
            Kind::Strings,
            "Remove only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")",
        ),
    ];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] IMAGE [IMAGE...]",
        short: "Remove one or more images",
        aliases: "berth image rm, berth image remove, berth rmi",
        arity: Arity::Min(1),
        interspersed: true,
        flags: FLAGS,
    }
}

pub fn query(p: &Parsed) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if p.bool("force") {
        q.push(("force", "1".to_string()));
    }
    if p.bool("no-prune") {
        q.push(("noprune", "1".to_string()));
    }
    for plat in p.list("platform") {
        q.push(("platforms", crate::commands::platform_json(&plat)));
    }
    q
}

/// `Untagged: …` / `Deleted: …` lines of a delete response.
pub fn render_deleted(items: &Value) -> String {
    let mut s = String::new();
    for item in items.as_array().into_iter().flatten() {
        let deleted = item.get("Deleted").and_then(Value::as_str).unwrap_or("");
        if !deleted.is_empty() {
            s.push_str(&format!("Deleted: {deleted}\n"));
        } else {
            let untagged = item.get("Untagged").and_then(Value::as_str).unwrap_or("");
            s.push_str(&format!("Untagged: {untagged}\n"));
        }
    }
    s
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let client = ctx.client().await?;
    let q = query(p);
    let mut errors = Vec::new();
    let mut fatal = false;
    for name in &p.args {
        match client
            .delete_json(&format!("/images/{}", path_escape(name)), &q)
            .await
        {
            Ok(items) => ctx.out.write_all(render_deleted(&items).as_bytes())?,
            Err(e) => {
                fatal |= !e.is_not_found();
                errors.push(e.to_string());
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let joined = errors.join("\n");
    // With --force, "not found" alone is reported but not a failure (docker does so).
    if !p.bool("force") || fatal {
        return Err(CliError::msg(joined));
    }
    writeln!(ctx.err, "{joined}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_and_output() {
        let argv: Vec<String> = ["-f", "--no-prune", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = spec("rmi").parse(&argv).unwrap();
        assert_eq!(
            query(&p),
            vec![("force", "1".to_string()), ("noprune", "1".to_string())]
        );
        let out =
            render_deleted(&json!([{"Untagged": "busybox:latest"}, {"Deleted": "sha256:abc"}]));
        assert_eq!(out, "Untagged: busybox:latest\nDeleted: sha256:abc\n");
    }
}
