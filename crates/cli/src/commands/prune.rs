//! `image prune`.

use std::io::BufRead;

use serde_json::Value;

use crate::args::{filters_json, flag, Arity, CommandSpec, Kind, Parsed};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::render;

pub const SPEC: CommandSpec = CommandSpec {
    path: "image prune",
    use_args: "[OPTIONS]",
    short: "Remove unused images",
    aliases: "",
    arity: Arity::None,
    interspersed: true,
    flags: &[
        flag(
            "all",
            Some('a'),
            Kind::Bool,
            "Remove all unused images, not just dangling ones",
        ),
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
    ],
};

const ALL_WARNING: &str =
    "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?";
const DANGLING_WARNING: &str =
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue?";

pub fn query(p: &Parsed) -> Vec<(&'static str, String)> {
    let mut filters = p.list("filter");
    filters.push(format!("dangling={}", !p.bool("all")));
    filters_json(&filters)
        .map(|f| vec![("filters", f)])
        .unwrap_or_default()
}

/// The report lines docker prints after pruning.
pub fn render_report(report: &Value) -> String {
    let deleted = report
        .get("ImagesDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut s = String::new();
    let mut reclaimed = 0.0;
    if !deleted.is_empty() {
        s.push_str("Deleted Images:\n");
        for d in &deleted {
            match d
                .get("Untagged")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty())
            {
                Some(u) => s.push_str(&format!("untagged: {u}\n")),
                None => s.push_str(&format!(
                    "deleted: {}\n",
                    d.get("Deleted").and_then(Value::as_str).unwrap_or("")
                )),
            }
        }
        s.push('\n');
        reclaimed = report
            .get("SpaceReclaimed")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
    }
    s.push_str(&format!(
        "Total reclaimed space: {}\n",
        render::human_size(reclaimed)
    ));
    s
}

/// docker's `prompt.Confirm`: only `y`/`Y` agrees; EOF declines.
pub fn confirm(ctx: &mut Ctx<'_>, warning: &str, input: &mut dyn BufRead) -> Result<bool> {
    write!(ctx.out, "{warning} [y/N] ")?;
    ctx.out.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    Ok(line.trim().eq_ignore_ascii_case("y"))
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    if !p.bool("force") {
        let warning = if p.bool("all") {
            ALL_WARNING
        } else {
            DANGLING_WARNING
        };
        let stdin = std::io::stdin();
        if !confirm(ctx, warning, &mut stdin.lock())? {
            return Err(CliError::Cancelled);
        }
    }
    let client = ctx.client().await?;
    let report = client.post_json("/images/prune", &query(p), None).await?;
    ctx.out.write_all(render_report(&report).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_mapping() {
        let p = SPEC.parse(&[]).unwrap();
        assert_eq!(
            query(&p),
            vec![("filters", r#"{"dangling":{"true":true}}"#.to_string())]
        );
        let argv: Vec<String> = ["-a", "--filter", "until=24h"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = SPEC.parse(&argv).unwrap();
        assert_eq!(
            query(&p),
            vec![(
                "filters",
                r#"{"dangling":{"false":true},"until":{"24h":true}}"#.to_string()
            )]
        );
    }

    #[test]
    fn report_text() {
        assert_eq!(
            render_report(&json!({"ImagesDeleted": null, "SpaceReclaimed": 0})),
            "Total reclaimed space: 0B\n"
        );
        let r = json!({"ImagesDeleted": [{"Untagged": "a:latest"}, {"Deleted": "sha256:1"}], "SpaceReclaimed": 4261550});
        assert_eq!(
            render_report(&r),
            "Deleted Images:\nuntagged: a:latest\ndeleted: sha256:1\n\nTotal reclaimed space: 4.262MB\n"
        );
    }

    #[test]
    fn prompt() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let opts = crate::ctx::GlobalOpts {
            host: crate::default_host(),
            host_is_default: true,
            config_dir: "/nonexistent".into(),
            debug: false,
        };
        let mut ctx = Ctx::new(&mut out, &mut err, opts);
        assert!(confirm(&mut ctx, DANGLING_WARNING, &mut &b"y\n"[..]).unwrap());
        assert!(!confirm(&mut ctx, DANGLING_WARNING, &mut &b""[..]).unwrap());
        assert!(!confirm(&mut ctx, DANGLING_WARNING, &mut &b"yes\n"[..]).unwrap());
        drop(ctx);
        assert!(String::from_utf8(out).unwrap().starts_with(
            "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
        ));
    }
}
