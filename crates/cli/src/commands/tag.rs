//! `tag` / `image tag`.

use crate::args::{Arity, CommandSpec, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::reference::parse_normalized;

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        aliases: "berth image tag, berth tag",
        arity: Arity::Exact(2),
        flags: &[],
    }
}

/// Path and query of `POST /images/{source}/tag` as moby's client builds them:
/// `repo` is the normalized name, `tag` defaults to `latest`.
pub fn request(source: &str, target: &str) -> Result<(String, Vec<(&'static str, String)>)> {
    let r = parse_normalized(target).ok_or_else(|| {
        CliError::msg(format!(
            "Error parsing reference: \"{target}\" is not a valid repository/tag: invalid reference format"
        ))
    })?;
    if r.digest.is_some() {
        return Err(CliError::msg(
            "refusing to create a tag with a digest reference",
        ));
    }
    let tag = r.tag.unwrap_or_else(|| "latest".to_string());
    Ok((
        format!("/images/{}/tag", path_escape(source)),
        vec![("repo", r.name), ("tag", tag)],
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
        assert_eq!(
            request("a", "BAD").unwrap_err().to_string(),
            "Error parsing reference: \"BAD\" is not a valid repository/tag: invalid reference format"
        );
    }
}
