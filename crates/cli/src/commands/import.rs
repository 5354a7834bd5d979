//! `import` / `image import`.

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::client::{empty_body, reader_body};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use berth_image::reference::Reference;

const FLAGS: &[FlagSpec] = &[
    flag(
        "change",
        Some('c'),
        Kind::List,
        "Apply Dockerfile instruction to the created image",
    ),
    flag(
        "message",
        Some('m'),
        Kind::Str,
        "Set commit message for imported image",
    ),
    flag(
        "platform",
        None,
        Kind::Str,
        "Set platform if server is multi-platform capable",
    ),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        short: "Import the contents from a tarball to create a filesystem image",
        aliases: "berth image import, berth import",
        arity: Arity::Min(1),
        interspersed: true,
        flags: FLAGS,
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    Stdin,
    Url(String),
    File(String),
}

/// Where the archive comes from: `-`, a URL or a file.
fn source(src: &str) -> Source {
    if src == "-" {
        Source::Stdin
    } else if src.starts_with("http://") || src.starts_with("https://") {
        Source::Url(src.to_string())
    } else {
        Source::File(src.to_string())
    }
}

/// The source and the query of `POST /images/create` as moby's client sends them.
pub fn request(
    p: &Parsed,
    env_platform: Option<String>,
) -> Result<(Source, Vec<(&'static str, String)>)> {
    let source = source(&p.args[0]);
    let from = match &source {
        Source::Url(u) => u.clone(),
        _ => "-".to_string(),
    };
    let mut q = vec![("fromSrc", from)];
    if let Some(r) = p.args.get(1) {
        // moby's client checks the name before sending anything.
        Reference::parse(r).map_err(|e| CliError::msg(e.to_string()))?;
        q.push(("repo", r.clone()));
    }
    if let Some(m) = p.str("message").filter(|m| !m.is_empty()) {
        q.push(("message", m.to_string()));
    }
    let platform = p
        .str("platform")
        .map(str::to_string)
        .or(env_platform)
        .filter(|s| !s.is_empty());
    if let Some(plat) = platform {
        q.push(("platform", plat.to_lowercase()));
    }
    for c in p.list("change") {
        q.push(("changes", c));
    }
    Ok((source, q))
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    // docker opens the file before it checks the reference.
    let file = match source(&p.args[0]) {
        Source::File(path) => Some(
            tokio::fs::File::open(&path)
                .await
                .map_err(|e| CliError::open(&path, &e))?,
        ),
        _ => None,
    };
    let (source, q) = request(p, std::env::var("DOCKER_DEFAULT_PLATFORM").ok())?;
    let body = match (&source, file) {
        (Source::File(_), Some(f)) => reader_body(Box::new(f)),
        (Source::Url(_), _) => empty_body(),
        _ => reader_body(Box::new(tokio::io::stdin())),
    };
    let client = ctx.client().await?;
    let resp = client
        .request(hyper::Method::POST, "/images/create", &q, &[], body)
        .await?;
    crate::jsonmsg::display_stream(resp.into_body(), ctx.out, crate::term::stdout_is_terminal())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Parsed {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        spec("import").parse(&argv).unwrap()
    }

    #[test]
    fn request_mapping() {
        let (src, q) = request(
            &parse(&[
                "x.tar",
                "me/app:v1",
                "-c",
                "CMD [\"sh\"]",
                "-c",
                "ENV A=1",
                "-m",
                "hi",
            ]),
            None,
        )
        .unwrap();
        assert_eq!(src, Source::File("x.tar".into()));
        assert_eq!(
            q,
            vec![
                ("fromSrc", "-".to_string()),
                ("repo", "me/app:v1".to_string()),
                ("message", "hi".to_string()),
                ("changes", "CMD [\"sh\"]".to_string()),
                ("changes", "ENV A=1".to_string()),
            ]
        );
        let (src, q) = request(&parse(&["https://h/x.tar"]), Some("Linux/AMD64".into())).unwrap();
        assert_eq!(src, Source::Url("https://h/x.tar".into()));
        assert_eq!(
            q,
            vec![
                ("fromSrc", "https://h/x.tar".to_string()),
                ("platform", "linux/amd64".to_string())
            ]
        );
        assert_eq!(request(&parse(&["-"]), None).unwrap().0, Source::Stdin);
    }

    #[test]
    fn reference_errors_are_docker_texts() {
        let err = |r: &str| request(&parse(&["-", r]), None).unwrap_err().to_string();
        assert_eq!(
            err("UPPER"),
            "invalid reference format: repository name (library/UPPER) must be lowercase"
        );
        assert_eq!(err("a:b:c"), "invalid reference format");
        let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            err(hex),
            format!("invalid repository name ({hex}), cannot specify 64-byte hexadecimal strings")
        );
    }
}
