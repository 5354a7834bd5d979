//! `inspect` (any object type) and `image inspect`.

use serde_json::Value;

use crate::args::{flag, Arity, CommandSpec, Kind, Parsed, INSPECT_FORMAT_HELP};
use crate::client::{path_escape, read_body, Client};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::render;
use crate::typed;
use crate::util::{json_compact, json_indent};

pub const SPEC: CommandSpec = CommandSpec {
    path: "inspect",
    use_args: "[OPTIONS] NAME|ID [NAME|ID...]",
    short: "Return low-level information on berth objects",
    aliases: "",
    arity: Arity::Min(1),
    interspersed: true,
    flags: &[
        flag("format", Some('f'), Kind::Str, INSPECT_FORMAT_HELP),
        flag(
            "size",
            Some('s'),
            Kind::Bool,
            "Display total file sizes if the type is container",
        ),
        flag(
            "type",
            None,
            Kind::Str,
            "Only inspect objects of the given type",
        ),
    ],
};

pub const IMAGE_SPEC: CommandSpec = CommandSpec {
    path: "image inspect",
    use_args: "[OPTIONS] IMAGE [IMAGE...]",
    short: "Display detailed information on one or more images",
    aliases: "",
    arity: Arity::Min(1),
    interspersed: true,
    flags: &[
        flag("format", Some('f'), Kind::Str, INSPECT_FORMAT_HELP),
        flag(
            "platform",
            None,
            Kind::Str,
            "Inspect a specific platform of the multi-platform image.\nIf the image or the server is not multi-platform capable, the command will error out if the platform does not match.\n'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)",
        ),
    ],
};

pub const CONTAINER_SPEC: CommandSpec = CommandSpec {
    path: "container inspect",
    use_args: "[OPTIONS] CONTAINER [CONTAINER...]",
    short: "Display detailed information on one or more containers",
    aliases: "",
    arity: Arity::Min(1),
    interspersed: true,
    flags: &[
        flag("format", Some('f'), Kind::Str, INSPECT_FORMAT_HELP),
        flag("size", Some('s'), Kind::Bool, "Display total file sizes"),
    ],
};

/// Object types `inspect` tries, in docker's order, with their API path.
const TYPES: &[(&str, &str)] = &[
    ("container", "/containers/{}/json"),
    ("image", "/images/{}/json"),
    ("network", "/networks/{}"),
    ("volume", "/volumes/{}"),
];
const VALID_TYPES: &[&str] = &[
    "config",
    "container",
    "image",
    "network",
    "node",
    "plugin",
    "secret",
    "service",
    "task",
    "volume",
];

async fn fetch(
    client: &Client,
    path_tmpl: &str,
    name: &str,
    query: &[(&str, String)],
) -> Result<Vec<u8>> {
    let path = path_tmpl.replace("{}", &path_escape(name));
    let resp = client
        .request(
            hyper::Method::GET,
            &path,
            query,
            &[],
            crate::client::empty_body(),
        )
        .await?;
    Ok(read_body(resp).await?.to_vec())
}

/// docker's inspector output: indented array, compact `json`, or a template per object.
pub struct Inspector {
    format: String,
    raw: Vec<Vec<u8>>,
    text: String,
}

impl Inspector {
    pub fn new(format: Option<&str>) -> Self {
        Inspector {
            format: format.unwrap_or("").to_string(),
            raw: Vec::new(),
            text: String::new(),
        }
    }

    /// Adds one object; `kind` is its type (`image`, `container`, …).
    /// Templates see an image as docker's typed struct ([`crate::typed`]);
    /// without a template the daemon's JSON is printed as is.
    pub fn add(&mut self, kind: &str, raw: Vec<u8>) -> Result<()> {
        if self.format.is_empty() || self.format == "json" {
            self.raw.push(raw);
            return Ok(());
        }
        let mut v: Value = serde_json::from_slice(&raw)
            .map_err(|e| CliError::msg(format!("unable to read inspect data: {e}")))?;
        if kind == "image" {
            v = typed::image_inspect(&v, typed::View::for_template(&self.format));
        }
        let s = render::one(&self.format, &v)?;
        self.text.push_str(&s);
        self.text.push('\n');
        Ok(())
    }

    pub fn finish(self) -> String {
        if !self.format.is_empty() && self.format != "json" {
            return if self.text.is_empty() {
                "\n".to_string()
            } else {
                self.text
            };
        }
        if self.raw.is_empty() {
            return "[]\n".to_string();
        }
        let mut joined = b"[".to_vec();
        for (i, r) in self.raw.iter().enumerate() {
            if i > 0 {
                joined.push(b',');
            }
            joined.extend_from_slice(r);
        }
        joined.push(b']');
        let mut s = if self.format == "json" {
            json_compact(&joined)
        } else {
            json_indent(&joined, "    ")
        };
        s.push('\n');
        s
    }
}

/// `only` is the object type of `image inspect` / `container inspect`.
pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed, only: Option<&'static str>) -> Result<()> {
    let type_filter = if only.is_some() {
        only
    } else {
        p.str("type").filter(|t| !t.is_empty())
    };
    if let Some(t) = type_filter {
        if !VALID_TYPES.contains(&t) {
            return Err(CliError::msg(format!(
                "\"{t}\" is not a valid value for --type"
            )));
        }
    }
    let client = ctx.client().await?;
    let mut inspector = Inspector::new(p.str("format"));
    let mut errors = Vec::new();
    for name in &p.args {
        match inspect_one(&client, name, type_filter, p).await {
            Ok((kind, raw)) => {
                if let Err(e) = inspector.add(kind, raw) {
                    errors.push(e.to_string());
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    ctx.out.write_all(inspector.finish().as_bytes())?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Status {
            code: 1,
            msg: errors.join("\n"),
        })
    }
}

async fn inspect_one(
    client: &Client,
    name: &str,
    type_filter: Option<&str>,
    p: &Parsed,
) -> Result<(&'static str, Vec<u8>)> {
    for (kind, path) in TYPES {
        if type_filter.is_some_and(|t| t != *kind) {
            continue;
        }
        let mut q = Vec::new();
        if *kind == "container" && p.bool("size") {
            q.push(("size", "1".to_string()));
        }
        if *kind == "image" {
            if let Some(plat) = p.str("platform") {
                q.push(("platform", crate::commands::platform_json(plat)));
            }
        }
        match fetch(client, path, name, &q).await {
            Ok(raw) => return Ok((kind, raw)),
            Err(e) if type_filter.is_none() && (e.is_not_found() || is_unsupported(&e)) => continue,
            Err(e) => return Err(e),
        }
    }
    if let Some(t) = type_filter {
        // Types berth's CLI cannot inspect yet (swarm objects, plugins).
        return Err(CliError::msg(format!("Error: No such {t}: {name}")));
    }
    Err(CliError::msg(format!("Error: No such object: {name}")))
}

fn is_unsupported(e: &CliError) -> bool {
    matches!(
        e,
        CliError::Daemon {
            status: 501 | 503,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspector_outputs() {
        let mut i = Inspector::new(None);
        i.add(
            "image",
            br#"{"Id":"sha256:1","RepoTags":["a:latest"]}"#.to_vec(),
        )
        .unwrap();
        assert_eq!(
            i.finish(),
            "[\n    {\n        \"Id\": \"sha256:1\",\n        \"RepoTags\": [\n            \"a:latest\"\n        ]\n    }\n]\n"
        );
        assert_eq!(Inspector::new(None).finish(), "[]\n");
        let mut i = Inspector::new(Some("json"));
        i.add("image", br#"{"Id": "x"}"#.to_vec()).unwrap();
        i.add("image", br#"{"Id": "y"}"#.to_vec()).unwrap();
        assert_eq!(i.finish(), "[{\"Id\":\"x\"},{\"Id\":\"y\"}]\n");
        assert_eq!(Inspector::new(Some("{{.Id}}")).finish(), "\n");
        // Templates see images typed, other objects as the daemon sent them.
        let mut i = Inspector::new(Some("{{.Config.Cmd}}"));
        i.add("image", br#"{"Config": {"Cmd": null}}"#.to_vec())
            .unwrap();
        i.add("container", br#"{"Config": {"Cmd": null}}"#.to_vec())
            .unwrap();
        assert_eq!(i.finish(), "[]\n<nil>\n");
    }
}
