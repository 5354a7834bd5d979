//! `exec` (and `container exec`): exec create → hijacked start → resize →
//! exit code from `GET /exec/{id}/json`.

use berth_api_types::models::ExecConfig;
use serde_json::{json, Value};

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::opts;
use crate::stream::{StreamEnd, StreamOpts};

const FLAGS: &[FlagSpec] = &[
    flag(
        "detach",
        Some('d'),
        Kind::Bool,
        "Detached mode: run command in the background",
    ),
    flag(
        "detach-keys",
        None,
        Kind::Str,
        "Override the key sequence for detaching a container",
    ),
    flag("env", Some('e'), Kind::List, "Set environment variables").check(opts::check_env),
    flag(
        "env-file",
        None,
        Kind::List,
        "Read in a file of environment variables",
    ),
    flag(
        "interactive",
        Some('i'),
        Kind::Bool,
        "Keep STDIN open even if not attached",
    ),
    flag(
        "privileged",
        None,
        Kind::Bool,
        "Give extended privileges to the command",
    ),
    flag("tty", Some('t'), Kind::Bool, "Allocate a pseudo-TTY"),
    flag(
        "user",
        Some('u'),
        Kind::Str,
        "Username or UID (format: \"<name|uid>[:<group|gid>]\")",
    ),
    flag(
        "workdir",
        Some('w'),
        Kind::Str,
        "Working directory inside the container",
    ),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] CONTAINER COMMAND [ARG...]",
        short: "Execute a command in a running container",
        aliases: "berth container exec, berth exec",
        arity: Arity::Min(2),
        interspersed: false,
        flags: FLAGS,
    }
}

/// The `POST /containers/{id}/exec` body docker builds from the flags.
pub fn exec_config(
    p: &Parsed,
    detach_keys: Option<String>,
    console: Option<(u16, u16)>,
) -> std::result::Result<ExecConfig, String> {
    let mut env = Vec::new();
    for f in p.list("env-file") {
        env.extend(opts::read_kv_file(&f, true)?);
    }
    for e in p.list("env") {
        env.push(opts::validate_env(&e)?);
    }
    let detach = p.bool("detach");
    let tty = p.bool("tty");
    let stdin = p.bool("interactive") && !detach;
    Ok(ExecConfig {
        attach_stdin: Some(stdin),
        attach_stdout: Some(!detach),
        attach_stderr: Some(!detach),
        console_size: match console {
            Some((h, w)) if tty && !detach => Some(vec![usize::from(h), usize::from(w)]),
            _ => None,
        },
        detach_keys,
        tty: Some(tty),
        env: (!env.is_empty()).then_some(env),
        cmd: Some(p.args[1..].to_vec()),
        privileged: Some(p.bool("privileged")),
        user: p.str("user").map(str::to_string),
        working_dir: p.str("workdir").map(str::to_string),
    })
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let (keys_str, keys) = super::run::detach_keys_of(ctx, p.str("detach-keys"));
    let cfg = exec_config(p, keys_str, crate::term::size()).map_err(CliError::msg)?;
    let client = ctx.client().await?;
    let name = &p.args[0];
    // docker inspects first: a missing container fails before anything is created.
    client
        .get_json(&format!("/containers/{}/json", path_escape(name)), &[])
        .await?;
    let body = serde_json::to_value(&cfg).map_err(|e| CliError::msg(e.to_string()))?;
    let created = client
        .post_json(
            &format!("/containers/{}/exec", path_escape(name)),
            &[],
            Some(&body),
        )
        .await?;
    let exec_id = created
        .get("Id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| CliError::msg("exec ID empty"))?
        .to_string();
    let tty = cfg.tty == Some(true);
    let start_path = format!("/exec/{}/start", path_escape(&exec_id));
    if p.bool("detach") {
        client
            .post_json(
                &start_path,
                &[],
                Some(&json!({"Detach": true, "Tty": tty, "ConsoleSize": cfg.console_size})),
            )
            .await?;
        return Ok(());
    }
    let stdin = cfg.attach_stdin == Some(true);
    if tty && stdin && !crate::term::stdin_is_terminal() {
        return Err(CliError::msg("the input device is not a TTY"));
    }
    let io = client
        .hijack(
            &start_path,
            &[],
            Some(&json!({"Detach": false, "Tty": tty, "ConsoleSize": cfg.console_size})),
        )
        .await?;
    let mut monitor = None;
    if tty && crate::term::stdout_is_terminal() {
        monitor = crate::term::monitor_size(
            &client,
            &format!("/exec/{}/resize", path_escape(&exec_id)),
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
    if end? == StreamEnd::Detached {
        return Ok(());
    }
    let info = client
        .get_json(&format!("/exec/{}/json", path_escape(&exec_id)), &[])
        .await?;
    let code = info.get("ExitCode").and_then(Value::as_i64).unwrap_or(0);
    if code != 0 {
        return Err(CliError::Status {
            code: code as i32,
            msg: String::new(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Parsed {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        spec("exec").parse(&argv).unwrap()
    }

    #[test]
    fn body_like_docker() {
        let p = parse(&[
            "-it", "-e", "A=b", "-u", "1", "-w", "/x", "c", "sh", "-c", "ls -l",
        ]);
        let v = serde_json::to_value(exec_config(&p, None, Some((24, 80))).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({
                "AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
                "ConsoleSize": [24, 80], "Tty": true, "Env": ["A=b"],
                "Cmd": ["sh", "-c", "ls -l"], "Privileged": false, "User": "1", "WorkingDir": "/x"
            })
        );
        let p = parse(&["-d", "-i", "c", "true"]);
        let v =
            serde_json::to_value(exec_config(&p, Some("ctrl-a".into()), None).unwrap()).unwrap();
        assert_eq!(v["AttachStdin"], false);
        assert_eq!(v["AttachStdout"], false);
        assert_eq!(v["DetachKeys"], "ctrl-a");
        // Flags after the command belong to it.
        assert_eq!(parse(&["c", "ls", "-t"]).args, vec!["c", "ls", "-t"]);
    }
}
