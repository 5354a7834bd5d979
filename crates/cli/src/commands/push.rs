//! `push` / `image push`.

use berth_image::reference::Reference;

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};

const FLAGS: &[FlagSpec] = &[
    flag(
        "all-tags",
        Some('a'),
        Kind::Bool,
        "Push all tags of an image to the repository",
    ),
    FlagSpec {
        default_true: true,
        ..flag(
            "disable-content-trust",
            None,
            Kind::Bool,
            "Skip image signing",
        )
    },
    flag(
        "platform",
        None,
        Kind::Str,
        "Push a platform-specific manifest as a single-platform image to the registry.\nImage index won't be pushed, meaning that other manifests, including attestations won't be preserved.\n'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)",
    ),
    flag("quiet", Some('q'), Kind::Bool, "Suppress verbose output"),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] NAME[:TAG]",
        short: "Upload an image to a registry",
        aliases: "berth image push, berth push",
        arity: Arity::Exact(1),
        interspersed: true,
        flags: FLAGS,
    }
}

/// `POST /images/{name}/push` as docker/cli and moby's client build it.
#[derive(Debug)]
pub struct PushRequest {
    pub reference: Reference,
    /// `latest` was filled in for a bare name.
    pub defaulted: bool,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
}

pub fn request(remote: &str, all: bool, platform: Option<&str>) -> Result<PushRequest> {
    let r = Reference::parse(remote).map_err(|e| CliError::msg(e.to_string()))?;
    if all && !r.is_name_only() {
        return Err(CliError::msg("tag can't be used with --all-tags/-a"));
    }
    let defaulted = !all && r.is_name_only();
    let r = if defaulted { r.with_default_tag() } else { r };
    if r.digest().is_some() {
        return Err(CliError::msg("cannot push a digest reference"));
    }
    let mut q = Vec::new();
    if !all {
        q.push(("tag", r.tag().unwrap_or_default().to_string()));
    }
    if let Some(p) = platform.filter(|p| !p.is_empty()) {
        q.push(("platform", crate::commands::platform_json(p)));
    }
    // moby's client puts the familiar name into the path as it is.
    let path = format!("/images/{}/push", r.familiar_name());
    Ok(PushRequest {
        reference: r,
        defaulted,
        path,
        query: q,
    })
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let all = p.bool("all-tags");
    let quiet = p.bool("quiet");
    let PushRequest {
        reference: r,
        defaulted,
        path,
        query: q,
    } = request(&p.args[0], all, p.str("platform"))?;
    if defaulted && !quiet {
        writeln!(ctx.out, "Using default tag: latest")?;
    }
    let client = ctx.client().await?;
    let auth = crate::registry_auth::header_for(&ctx.opts, &r);
    let resp = client
        .request(
            hyper::Method::POST,
            &path,
            &q,
            &[("X-Registry-Auth", auth)],
            crate::client::empty_body(),
        )
        .await?;
    if quiet {
        crate::progress::render_stream(resp.into_body(), &mut std::io::sink(), false).await?;
        writeln!(ctx.out, "{r}")?;
    } else {
        let terminal = crate::term::stdout_is_terminal();
        crate::progress::render_stream(resp.into_body(), ctx.out, terminal).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_requests() {
        let r = request("127.0.0.1:5000/a/b", false, None).unwrap();
        assert!(r.defaulted);
        assert_eq!(r.reference.to_string(), "127.0.0.1:5000/a/b:latest");
        assert_eq!(r.path, "/images/127.0.0.1:5000/a/b/push");
        assert_eq!(r.query, vec![("tag", "latest".to_string())]);
        let r = request("busybox", true, Some("linux/amd64")).unwrap();
        assert!(!r.defaulted);
        assert_eq!(r.path, "/images/busybox/push");
        assert_eq!(
            r.query,
            vec![(
                "platform",
                r#"{"os":"linux","architecture":"amd64"}"#.to_string()
            )]
        );
        assert_eq!(
            request("a:1", true, None).unwrap_err().to_string(),
            "tag can't be used with --all-tags/-a"
        );
        let digest = format!("a@sha256:{}", "b".repeat(64));
        assert_eq!(
            request(&digest, false, None).unwrap_err().to_string(),
            "cannot push a digest reference"
        );
    }
}
