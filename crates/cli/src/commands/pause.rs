//! `pause` and `unpause` (and `container pause|unpause`).

use crate::args::{Arity, CommandSpec, Parsed};
use crate::ctx::Ctx;
use crate::error::Result;

pub const fn pause_spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "CONTAINER [CONTAINER...]",
        short: "Pause all processes within one or more containers",
        aliases: "berth container pause, berth pause",
        arity: Arity::Min(1),
        interspersed: true,
        flags: &[],
    }
}

pub const fn unpause_spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "CONTAINER [CONTAINER...]",
        short: "Unpause all processes within one or more containers",
        aliases: "berth container unpause, berth unpause",
        arity: Arity::Min(1),
        interspersed: true,
        flags: &[],
    }
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed, action: &str) -> Result<()> {
    super::each_container(ctx, &p.args, hyper::Method::POST, action, &[]).await
}
