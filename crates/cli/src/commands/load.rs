//! `load` / `image load`.

use http_body_util::BodyExt;

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::client::reader_body;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};

const FLAGS: &[FlagSpec] = &[
        flag("input", Some('i'), Kind::Str, "Read from tar archive file, instead of STDIN"),
        flag(
            "platform",
            None,
            Kind::Str,
            "Load only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")",
        ),
        flag("quiet", Some('q'), Kind::Bool, "Suppress the load output"),
    ];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS]",
        short: "Load an image from a tar archive or STDIN",
        aliases: "berth image load, berth load",
        arity: Arity::None,
        interspersed: true,
        flags: FLAGS,
    }
}

/// docker asks for quiet output when -q is given or stdout is not a terminal.
pub fn query(p: &Parsed, stdout_terminal: bool) -> Vec<(&'static str, String)> {
    let quiet = p.bool("quiet") || !stdout_terminal;
    let mut q = vec![("quiet", if quiet { "1" } else { "0" }.to_string())];
    if let Some(plat) = p.str("platform") {
        q.push(("platforms", crate::commands::platform_json(plat)));
    }
    q
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> =
        match p.str("input").filter(|i| !i.is_empty()) {
            None => {
                if crate::term::stdin_is_terminal() {
                    return Err(CliError::msg(
                        "requested load from stdin, but stdin is empty",
                    ));
                }
                Box::new(tokio::io::stdin())
            }
            Some(path) => Box::new(
                tokio::fs::File::open(path)
                    .await
                    .map_err(|e| CliError::open(path, &e))?,
            ),
        };
    let terminal = crate::term::stdout_is_terminal();
    let client = ctx.client().await?;
    let headers = [("Content-Type", "application/x-tar".to_string())];
    let resp = client
        .request(
            hyper::Method::POST,
            "/images/load",
            &query(p, terminal),
            &headers,
            reader_body(reader),
        )
        .await?;
    let is_json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        crate::jsonmsg::display_stream(resp.into_body(), ctx.out, terminal).await?;
        return Ok(());
    }
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Transport(e.to_string()))?;
        if let Some(d) = frame.data_ref() {
            ctx.out.write_all(d)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_mapping() {
        let p = spec("load").parse(&[]).unwrap();
        assert_eq!(query(&p, true), vec![("quiet", "0".to_string())]);
        assert_eq!(query(&p, false), vec![("quiet", "1".to_string())]);
        let p = spec("load").parse(&["-q".to_string()]).unwrap();
        assert_eq!(query(&p, true), vec![("quiet", "1".to_string())]);
    }
}
