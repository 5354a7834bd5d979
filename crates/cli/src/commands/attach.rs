//! `attach` (and `container attach`).

use serde_json::Value;

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::stream::{StreamEnd, StreamOpts};

const FLAGS: &[FlagSpec] = &[
    flag(
        "detach-keys",
        None,
        Kind::Str,
        "Override the key sequence for detaching a container",
    ),
    flag("no-stdin", None, Kind::Bool, "Do not attach STDIN"),
    flag(
        "sig-proxy",
        None,
        Kind::Bool,
        "Proxy all received signals to the process",
    )
    .def("true"),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] CONTAINER",
        short: "Attach local standard input, output, and error streams to a running container",
        aliases: "berth container attach, berth attach",
        arity: Arity::Exact(1),
        interspersed: true,
        flags: FLAGS,
    }
}

/// Attaches to container `info` (its inspect JSON) and streams until it ends;
/// shared by `attach` and `start -a` (which starts the container once the
/// stream is attached, so no output is lost). Returns how the stream ended.
pub async fn attach_and_stream(
    ctx: &mut Ctx<'_>,
    client: &crate::client::Client,
    info: &Value,
    stdin: bool,
    detach_keys: Option<&str>,
    start: bool,
) -> Result<StreamEnd> {
    let id = info.get("Id").and_then(Value::as_str).unwrap_or("");
    let config = info.get("Config");
    let tty = config
        .and_then(|c| c.get("Tty"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let open_stdin = config
        .and_then(|c| c.get("OpenStdin"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stdin = stdin && open_stdin;
    if tty && stdin && !crate::term::stdin_is_terminal() {
        return Err(CliError::msg("the input device is not a TTY"));
    }
    let (keys_str, keys) = super::run::detach_keys_of(ctx, detach_keys);
    let mut q = vec![
        ("stream", "1".to_string()),
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
    ];
    if stdin {
        q.push(("stdin", "1".to_string()));
    }
    if let Some(k) = keys_str {
        q.push(("detachKeys", k));
    }
    let io = client
        .hijack(&format!("/containers/{}/attach", path_escape(id)), &q, None)
        .await?;
    if start {
        client
            .post_json(&format!("/containers/{}/start", path_escape(id)), &[], None)
            .await?;
    }
    let mut monitor = None;
    if tty && crate::term::stdout_is_terminal() {
        monitor = crate::term::monitor_size(
            client,
            &format!("/containers/{}/resize", path_escape(id)),
            ctx.err,
        )
        .await;
    }
    let sopts = StreamOpts {
        tty,
        stdin,
        stdout: true,
        stderr: true,
        detach_keys: keys,
    };
    let end = crate::stream::stream(io, &sopts, ctx.out, ctx.err).await;
    if let Some(m) = monitor {
        m.abort();
    }
    end
}

/// docker's `getExitStatus` after an attach: the container's exit code, if it
/// is no longer running.
pub async fn exit_status(client: &crate::client::Client, id: &str) -> Result<i32> {
    let info = client
        .get_json(&format!("/containers/{}/json", path_escape(id)), &[])
        .await?;
    let state = info.get("State");
    let running = state
        .and_then(|s| s.get("Running"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if running {
        return Ok(0);
    }
    Ok(state
        .and_then(|s| s.get("ExitCode"))
        .and_then(Value::as_i64)
        .unwrap_or(0) as i32)
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let client = ctx.client().await?;
    let name = &p.args[0];
    let info = client
        .get_json(&format!("/containers/{}/json", path_escape(name)), &[])
        .await?;
    let state = info.get("State");
    let flag = |k: &str| {
        state
            .and_then(|s| s.get(k))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    if !flag("Running") {
        return Err(CliError::msg(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if flag("Paused") {
        return Err(CliError::msg(
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    if flag("Restarting") {
        return Err(CliError::msg(
            "You cannot attach to a restarting container, wait until it is running",
        ));
    }
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
    // With a TTY the terminal driver sends the signals as bytes.
    let proxy = (p.bool_or("sig-proxy", true) && !tty)
        .then(|| crate::term::spawn_signal_proxy(client.clone(), id.clone()));
    let end = attach_and_stream(
        ctx,
        &client,
        &info,
        !p.bool("no-stdin"),
        p.str("detach-keys"),
        false,
    )
    .await;
    if let Some(pr) = proxy {
        pr.abort();
    }
    if end? == StreamEnd::Detached {
        return Ok(());
    }
    match exit_status(&client, &id).await? {
        0 => Ok(()),
        code => Err(CliError::Status {
            code,
            msg: String::new(),
        }),
    }
}
