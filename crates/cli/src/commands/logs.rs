//! `logs` (and `container logs`).

use http_body_util::BodyExt;
use serde_json::Value;

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::stream::StdCopy;
use crate::timestamp::get_timestamp;

const FLAGS: &[FlagSpec] = &[
    flag("details", None, Kind::Bool, "Show extra details provided to logs"),
    flag("follow", Some('f'), Kind::Bool, "Follow log output"),
    flag(
        "since",
        None,
        Kind::Str,
        "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)",
    ),
    flag(
        "tail",
        Some('n'),
        Kind::Str,
        "Number of lines to show from the end of the logs",
    )
    .def("\"all\""),
    flag("timestamps", Some('t'), Kind::Bool, "Show timestamps"),
    flag(
        "until",
        None,
        Kind::Str,
        "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)",
    ),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] CONTAINER",
        short: "Fetch the logs of a container",
        aliases: "berth container logs, berth logs",
        arity: Arity::Exact(1),
        interspersed: true,
        flags: FLAGS,
    }
}

/// The `/containers/{id}/logs` query as docker's client builds it.
pub fn query(p: &Parsed, now: f64, offset: i32) -> Result<Vec<(&'static str, String)>> {
    let mut q = vec![("stdout", "1".to_string()), ("stderr", "1".to_string())];
    for key in ["since", "until"] {
        if let Some(v) = p.str(key).filter(|v| !v.is_empty()) {
            q.push((key, get_timestamp(v, now, offset).map_err(CliError::msg)?));
        }
    }
    if p.bool("timestamps") {
        q.push(("timestamps", "1".to_string()));
    }
    if p.bool("details") {
        q.push(("details", "1".to_string()));
    }
    if p.bool("follow") {
        q.push(("follow", "1".to_string()));
    }
    q.push(("tail", p.str("tail").unwrap_or("all").to_string()));
    Ok(q)
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let client = ctx.client().await?;
    let name = &p.args[0];
    let info = client
        .get_json(&format!("/containers/{}/json", path_escape(name)), &[])
        .await?;
    let id = info.get("Id").and_then(Value::as_str).unwrap_or(name);
    let tty = info
        .get("Config")
        .and_then(|c| c.get("Tty"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let offset = chrono::Local::now().offset().local_minus_utc();
    let q = query(p, crate::util::now_secs(), offset)?;
    let resp = client
        .request(
            hyper::Method::GET,
            &format!("/containers/{}/logs", path_escape(id)),
            &q,
            &[],
            crate::client::empty_body(),
        )
        .await?;
    let mut body = resp.into_body();
    let mut demux = StdCopy::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Transport(e.to_string()))?;
        if let Some(d) = frame.data_ref() {
            if tty {
                ctx.out.write_all(d)?;
                ctx.out.flush()?;
            } else {
                demux.write(d, ctx.out, ctx.err)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_like_docker() {
        let argv: Vec<String> = ["-f", "-t", "-n", "5", "--since", "1m", "c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = spec("logs").parse(&argv).unwrap();
        let q = query(&p, 1000.0, 0).unwrap();
        assert_eq!(
            q,
            vec![
                ("stdout", "1".to_string()),
                ("stderr", "1".to_string()),
                ("since", "940".to_string()),
                ("timestamps", "1".to_string()),
                ("follow", "1".to_string()),
                ("tail", "5".to_string()),
            ]
        );
        let p = spec("logs").parse(&["c".to_string()]).unwrap();
        assert_eq!(query(&p, 0.0, 0).unwrap().last().unwrap().1, "all");
    }
}
