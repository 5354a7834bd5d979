//! `pull` / `image pull`.

use berth_image::reference::Reference;

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};

const FLAGS: &[FlagSpec] = &[
    flag(
        "all-tags",
        Some('a'),
        Kind::Bool,
        "Download all tagged images in the repository",
    ),
    FlagSpec {
        default_true: true,
        ..flag(
            "disable-content-trust",
            None,
            Kind::Bool,
            "Skip image verification",
        )
    },
    flag(
        "platform",
        None,
        Kind::Str,
        "Set platform if server is multi-platform capable",
    ),
    flag("quiet", Some('q'), Kind::Bool, "Suppress verbose output"),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] NAME[:TAG|@DIGEST]",
        short: "Download an image from a registry",
        aliases: "berth image pull, berth pull",
        arity: Arity::Exact(1),
        interspersed: true,
        flags: FLAGS,
    }
}

/// The reference docker/cli pulls: `-a` wants a bare name; without it a bare
/// name gets `latest` (`defaulted` tells whether that happened).
pub fn resolve(remote: &str, all: bool) -> Result<(Reference, bool)> {
    let r = Reference::parse(remote).map_err(|e| CliError::msg(e.to_string()))?;
    if all && !r.is_name_only() {
        return Err(CliError::msg("tag can't be used with --all-tags/-a"));
    }
    if !all && r.is_name_only() {
        return Ok((r.with_default_tag(), true));
    }
    Ok((r, false))
}

/// The query of `POST /images/create` as moby's client builds it.
pub fn query(r: &Reference, all: bool, platform: Option<&str>) -> Vec<(&'static str, String)> {
    let mut q = vec![("fromImage", r.name())];
    if !all {
        let tag = r.digest().or(r.tag()).unwrap_or_default();
        q.push(("tag", tag.to_string()));
    }
    if let Some(p) = platform.filter(|p| !p.is_empty()) {
        q.push(("platform", p.to_lowercase()));
    }
    q
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let all = p.bool("all-tags");
    let quiet = p.bool("quiet");
    let (r, defaulted) = resolve(&p.args[0], all)?;
    if defaulted && !quiet {
        writeln!(ctx.out, "Using default tag: latest")?;
    }
    let env_platform = std::env::var("DOCKER_DEFAULT_PLATFORM").ok();
    let platform = p.str("platform").or(env_platform.as_deref());
    let client = ctx.client().await?;
    let auth = crate::registry_auth::header_for(&ctx.opts, &r);
    let resp = client
        .request(
            hyper::Method::POST,
            "/images/create",
            &query(&r, all, platform),
            &[("X-Registry-Auth", auth)],
            crate::client::empty_body(),
        )
        .await?;
    if quiet {
        crate::progress::render_stream(resp.into_body(), &mut std::io::sink(), false).await?;
    } else {
        let terminal = crate::term::stdout_is_terminal();
        crate::progress::render_stream(resp.into_body(), ctx.out, terminal).await?;
    }
    writeln!(ctx.out, "{r}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_queries() {
        let (r, d) = resolve("busybox", false).unwrap();
        assert!(d);
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(
            query(&r, false, Some("linux/AMD64")),
            vec![
                ("fromImage", "docker.io/library/busybox".to_string()),
                ("tag", "latest".to_string()),
                ("platform", "linux/amd64".to_string())
            ]
        );
        let (r, d) = resolve("127.0.0.1:5000/a/b", true).unwrap();
        assert!(!d);
        assert_eq!(r.to_string(), "127.0.0.1:5000/a/b");
        assert_eq!(
            query(&r, true, None),
            vec![("fromImage", "127.0.0.1:5000/a/b".to_string())]
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        let (r, _) = resolve(&format!("a@{digest}"), false).unwrap();
        assert_eq!(query(&r, false, None)[1], ("tag", digest));
        assert_eq!(
            resolve("a:1", true).unwrap_err().to_string(),
            "tag can't be used with --all-tags/-a"
        );
        assert_eq!(
            resolve("A", false).unwrap_err().to_string(),
            "invalid reference format: repository name (library/A) must be lowercase"
        );
    }
}
