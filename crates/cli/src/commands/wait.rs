//! `wait` (and `container wait`).

use crate::args::{Arity, CommandSpec, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "CONTAINER [CONTAINER...]",
        short: "Block until one or more containers stop, then print their exit codes",
        aliases: "berth container wait, berth wait",
        arity: Arity::Min(1),
        interspersed: true,
        flags: &[],
    }
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let client = super::client_for_each(ctx, &p.args).await?;
    let mut errors = Vec::new();
    for name in &p.args {
        let resp = client
            .request(
                hyper::Method::POST,
                &format!("/containers/{}/wait", path_escape(name)),
                &[],
                &[],
                crate::client::empty_body(),
            )
            .await;
        match resp {
            Ok(r) => match super::run::wait_status(r).await {
                Ok(code) => {
                    writeln!(ctx.out, "{code}")?;
                    ctx.out.flush()?;
                }
                Err(e) => errors.push(e.to_string()),
            },
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}
