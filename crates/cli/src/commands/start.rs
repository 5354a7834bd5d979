//! `start` (and `container start`).

use serde_json::Value;

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::stream::StreamEnd;

const FLAGS: &[FlagSpec] = &[
    flag(
        "attach",
        Some('a'),
        Kind::Bool,
        "Attach STDOUT/STDERR and forward signals",
    ),
    flag(
        "detach-keys",
        None,
        Kind::Str,
        "Override the key sequence for detaching a container",
    ),
    flag(
        "interactive",
        Some('i'),
        Kind::Bool,
        "Attach container's STDIN",
    ),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] CONTAINER [CONTAINER...]",
        short: "Start one or more stopped containers",
        aliases: "berth container start, berth start",
        arity: Arity::Min(1),
        interspersed: true,
        flags: FLAGS,
    }
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let attach = p.bool("attach");
    let interactive = p.bool("interactive");
    if !attach && !interactive {
        return super::each_container(ctx, &p.args, hyper::Method::POST, "/start", &[]).await;
    }
    if p.args.len() > 1 {
        return Err(CliError::msg(
            "you cannot attach to multiple containers at once",
        ));
    }
    let client = ctx.client().await?;
    let name = &p.args[0];
    let info = client
        .get_json(&format!("/containers/{}/json", path_escape(name)), &[])
        .await?;
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(name)
        .to_string();
    let tty = info
        .get("Config")
        .and_then(|c| c.get("Tty"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let proxy = (!tty).then(|| crate::term::spawn_signal_proxy(client.clone(), id.clone()));
    let end = super::attach::attach_and_stream(
        ctx,
        &client,
        &info,
        interactive,
        p.str("detach-keys"),
        true,
    )
    .await;
    if let Some(pr) = proxy {
        pr.abort();
    }
    if end? == StreamEnd::Detached {
        return Ok(());
    }
    match super::attach::exit_status(&client, &id).await? {
        0 => Ok(()),
        code => Err(CliError::Status {
            code,
            msg: String::new(),
        }),
    }
}
