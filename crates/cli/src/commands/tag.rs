//! `tag` / `image tag`.

use crate::args::{Arity, CommandSpec, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use berth_image::reference::Reference;

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        aliases: "berth image tag, berth tag",
        arity: Arity::Exact(2),
        interspersed: true,
        flags: &[],
    }
}

/// docker's wording for a source or target that is not a reference.
fn invalid(s: &str, e: impl std::fmt::Display) -> CliError {
    CliError::msg(format!(
        "Error parsing reference: \"{s}\" is not a valid repository/tag: {e}"
    ))
}

/// Path and query of `POST /images/{source}/tag` as moby's client builds them
/// (before contacting the daemon): the source must be an ID, digest or name,
/// the target a name without digest; `repo` is the normalized name and `tag`
/// defaults to `latest`.
pub fn request(source: &str, target: &str) -> Result<(String, Vec<(&'static str, String)>)> {
    Reference::parse_any(source).map_err(|e| invalid(source, e))?;
    let r = Reference::parse(target).map_err(|e| invalid(target, e))?;
    if r.digest().is_some() {
        return Err(CliError::msg(
            "refusing to create a tag with a digest reference",
        ));
    }
    let r = r.with_default_tag();
    let tag = r.tag().unwrap_or_default().to_string();
    Ok((
        format!("/images/{}/tag", path_escape(source)),
        vec![("repo", r.name()), ("tag", tag)],
    ))
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let (path, query) = request(&p.args[0], &p.args[1])?;
    let client = ctx.client().await?;
    client.post_json(&path, &query, None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_mapping() {
        let (path, q) = request("busybox", "me/app").unwrap();
        assert_eq!(path, "/images/busybox/tag");
        assert_eq!(
            q,
            vec![
                ("repo", "docker.io/me/app".to_string()),
                ("tag", "latest".to_string())
            ]
        );
        let (path, q) = request("sha256:abc", "localhost:5000/x:v2").unwrap();
        assert_eq!(path, "/images/sha256:abc/tag");
        assert_eq!(q[1].1, "v2");
        // docker's texts (distribution/reference errors, wrapped).
        let err = |s: &str, t: &str| request(s, t).unwrap_err().to_string();
        assert_eq!(
            err("a", "BAD"),
            "Error parsing reference: \"BAD\" is not a valid repository/tag: invalid reference format: repository name (library/BAD) must be lowercase"
        );
        assert_eq!(
            err("a", "foo/Bar"),
            "Error parsing reference: \"foo/Bar\" is not a valid repository/tag: invalid reference format: repository name (foo/Bar) must be lowercase"
        );
        assert_eq!(
            err("UPPER", "x"),
            "Error parsing reference: \"UPPER\" is not a valid repository/tag: invalid reference format: repository name (library/UPPER) must be lowercase"
        );
        assert_eq!(
            err("a", "a:b:c"),
            "Error parsing reference: \"a:b:c\" is not a valid repository/tag: invalid reference format"
        );
        assert_eq!(
            err("x@sha256:12", "y"),
            "Error parsing reference: \"x@sha256:12\" is not a valid repository/tag: invalid reference format"
        );
        let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            err("a", hex),
            format!("Error parsing reference: \"{hex}\" is not a valid repository/tag: invalid repository name ({hex}), cannot specify 64-byte hexadecimal strings")
        );
        assert_eq!(
            err("a", &format!("y:1@sha256:{hex}")),
            "refusing to create a tag with a digest reference"
        );
        // IDs, digests and registry hosts with capitals are valid sources.
        assert!(request(hex, "y").is_ok());
        assert!(request(&format!("sha256:{hex}"), "y").is_ok());
        assert!(request("sha256:0123", "y").is_ok());
        assert_eq!(request("a", "Foo/bar").unwrap().1[0].1, "Foo/bar");
    }
}
