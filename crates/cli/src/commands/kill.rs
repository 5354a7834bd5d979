//! `kill` (and `container kill`).

use crate::args::{flag, Arity, CommandSpec, Kind, Parsed};
use crate::ctx::Ctx;
use crate::error::Result;

const KILL_FLAGS: &[crate::args::FlagSpec] = &[flag(
    "signal",
    Some('s'),
    Kind::Str,
    "Signal to send to the container",
)];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] CONTAINER [CONTAINER...]",
        short: "Kill one or more running containers",
        aliases: "berth container kill, berth kill",
        arity: Arity::Min(1),
        interspersed: true,
        flags: KILL_FLAGS,
    }
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let mut q = Vec::new();
    if let Some(s) = p.str("signal").filter(|s| !s.is_empty()) {
        q.push(("signal", s.to_string()));
    }
    super::each_container(ctx, &p.args, hyper::Method::POST, "/kill", &q).await
}
