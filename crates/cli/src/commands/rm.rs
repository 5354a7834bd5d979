//! `rm` (and `container rm|remove`).

use crate::args::{flag, Arity, CommandSpec, Kind, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};

const RM_FLAGS: &[crate::args::FlagSpec] = &[
    flag(
        "force",
        Some('f'),
        Kind::Bool,
        "Force the removal of a running container (uses SIGKILL)",
    ),
    flag("link", Some('l'), Kind::Bool, "Remove the specified link"),
    flag(
        "volumes",
        Some('v'),
        Kind::Bool,
        "Remove anonymous volumes associated with the container",
    ),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] CONTAINER [CONTAINER...]",
        short: "Remove one or more containers",
        aliases: "berth container rm, berth container remove, berth rm",
        arity: Arity::Min(1),
        interspersed: true,
        flags: RM_FLAGS,
    }
}

pub fn query(p: &Parsed) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    for (flag, key) in [("force", "force"), ("link", "link"), ("volumes", "v")] {
        if p.bool(flag) {
            q.push((key, "1".to_string()));
        }
    }
    q
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let client = super::client_for_each(ctx, &p.args).await?;
    let force = p.bool("force");
    let q = query(p);
    let mut errors = Vec::new();
    for name in &p.args {
        let name = name.trim_start_matches('/');
        if name.is_empty() {
            errors.push("Container name cannot be empty".to_string());
            continue;
        }
        let path = format!("/containers/{}", path_escape(name));
        let r = client
            .request(
                hyper::Method::DELETE,
                &path,
                &q,
                &[],
                crate::client::empty_body(),
            )
            .await;
        match r {
            Ok(_) => writeln!(ctx.out, "{name}")?,
            // With -f a missing container is no error, as with docker.
            Err(e) if e.is_not_found() && force => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}
