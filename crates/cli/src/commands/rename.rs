//! `rename` (and `container rename`).

use crate::args::{Arity, CommandSpec, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "CONTAINER NEW_NAME",
        short: "Rename a container",
        aliases: "berth container rename, berth rename",
        arity: Arity::Exact(2),
        interspersed: true,
        flags: &[],
    }
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let old = p.args[0].trim();
    let new = p.args[1].trim();
    if old.is_empty() || new.is_empty() {
        return Err(CliError::msg(
            "Error: Neither old nor new names may be empty",
        ));
    }
    let client = ctx.client().await?;
    client
        .post_json(
            &format!("/containers/{}/rename", path_escape(old)),
            &[("name", new.to_string())],
            None,
        )
        .await
        .map_err(|e| {
            CliError::msg(format!(
                "{e}\nError: failed to rename container named {old}"
            ))
        })?;
    Ok(())
}
