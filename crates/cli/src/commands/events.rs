//! `events` / `system events`.

use serde_json::Value;

use crate::args::{
    filters_json, flag, Arity, CommandSpec, FlagSpec, Kind, Parsed, INSPECT_FORMAT_HELP,
};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::jsonmsg::MessageStream;
use crate::render;
use crate::timestamp::get_timestamp;
use crate::util::{now_secs, rfc3339_nano_fixed};

const FLAGS: &[FlagSpec] = &[
    flag(
        "filter",
        Some('f'),
        Kind::Filter,
        "Filter output based on conditions provided",
    ),
    flag("format", None, Kind::Str, INSPECT_FORMAT_HELP),
    flag(
        "since",
        None,
        Kind::Str,
        "Show all events created since timestamp",
    ),
    flag(
        "until",
        None,
        Kind::Str,
        "Stream events until this timestamp",
    ),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS]",
        short: "Get real time events from the server",
        aliases: "berth system events, berth events",
        arity: Arity::None,
        interspersed: true,
        flags: FLAGS,
    }
}

/// The `/events` query in the order Go's `url.Values` encodes it (sorted);
/// `now` and `local_offset` are the reference time and zone for
/// [`get_timestamp`].
pub fn query(p: &Parsed, now: f64, local_offset: i32) -> Result<Vec<(&'static str, String)>> {
    let mut q = Vec::new();
    if let Some(f) = filters_json(&p.list("filter")) {
        q.push(("filters", f));
    }
    for key in ["since", "until"] {
        if let Some(v) = p.str(key).filter(|v| !v.is_empty()) {
            q.push((
                key,
                get_timestamp(v, now, local_offset).map_err(CliError::msg)?,
            ));
        }
    }
    Ok(q)
}

/// docker checks `--format` before anything else by parsing it and running it
/// on an empty message; a failure exits 64.
pub fn check_format(format: &str) -> Result<()> {
    if format == "json" {
        return Ok(());
    }
    let empty = serde_json::json!({
        "Type": "", "Action": "", "Actor": {"ID": "", "Attributes": null},
        "scope": "", "time": 0, "timeNano": 0
    });
    render::one(format, &empty).map(|_| ()).map_err(|e| {
        let text = e.to_string();
        let text = text
            .strip_prefix("template parsing error: ")
            .unwrap_or(&text);
        CliError::Status {
            code: 64,
            msg: format!("Error parsing format: {text}"),
        }
    })
}

/// docker's default event line: time, type, action, actor and sorted attributes.
pub fn pretty(ev: &Value) -> String {
    let mut s = String::new();
    let nano = ev.get("timeNano").and_then(Value::as_i64).unwrap_or(0);
    let secs = ev.get("time").and_then(Value::as_i64).unwrap_or(0);
    if nano != 0 {
        s.push_str(&format!("{} ", rfc3339_nano_fixed(nano)));
    } else if secs != 0 {
        s.push_str(&format!("{} ", rfc3339_nano_fixed(secs * 1_000_000_000)));
    }
    let g = |k: &str| ev.get(k).and_then(Value::as_str).unwrap_or("");
    let actor_id = ev
        .pointer("/Actor/ID")
        .and_then(Value::as_str)
        .unwrap_or("");
    s.push_str(&format!("{} {} {actor_id}", g("Type"), g("Action")));
    if let Some(attrs) = ev.pointer("/Actor/Attributes").and_then(Value::as_object) {
        if !attrs.is_empty() {
            let mut kv: Vec<(&String, &Value)> = attrs.iter().collect();
            kv.sort_by(|a, b| a.0.cmp(b.0));
            let parts: Vec<String> = kv
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            s.push_str(&format!(" ({})", parts.join(", ")));
        }
    }
    s.push('\n');
    s
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let format = p
        .str("format")
        .filter(|f| !f.is_empty())
        .map(str::to_string);
    if let Some(f) = format.as_deref() {
        check_format(f)?;
    }
    // docker reaches the daemon before it reads the times.
    let client = ctx.client().await?;
    let offset = chrono::Local::now().offset().local_minus_utc();
    let q = query(p, now_secs(), offset)?;
    let resp = client
        .request(
            hyper::Method::GET,
            "/events",
            &q,
            &[],
            crate::client::empty_body(),
        )
        .await?;
    let mut stream = MessageStream::new(resp.into_body());
    while let Some(ev) = stream.next().await? {
        let line = match format.as_deref() {
            None => pretty(&ev),
            Some("json") => format!("{ev}\n"),
            Some(f) => format!("{}\n", render::one(f, &ev)?),
        };
        ctx.out.write_all(line.as_bytes())?;
        ctx.out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_mapping() {
        let argv: Vec<String> = [
            "--since",
            "10m",
            "--until",
            "1700000000",
            "-f",
            "type=image",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let p = spec("events").parse(&argv).unwrap();
        let q = query(&p, 1000.5, 0).unwrap();
        assert_eq!(
            q,
            vec![
                ("filters", r#"{"type":{"image":true}}"#.to_string()),
                ("since", "400".to_string()),
                ("until", "1700000000".to_string()),
            ]
        );
        // `--since 0` is the epoch: every past event.
        let p = spec("events")
            .parse(&["--since".to_string(), "0".to_string()])
            .unwrap();
        assert_eq!(
            query(&p, 1000.5, 0).unwrap(),
            vec![("since", "0".to_string())]
        );
        let p = spec("events")
            .parse(&["--since".to_string(), "foo".to_string()])
            .unwrap();
        assert_eq!(
            query(&p, 0.0, 0).unwrap_err().to_string(),
            "failed to parse value as time or duration: \"foo\""
        );
    }

    #[test]
    fn bad_formats_exit_64() {
        assert!(check_format("json").is_ok());
        assert!(check_format("{{.Type}} {{json .}}").is_ok());
        for (f, text) in [
            (
                "{{.Foo",
                "Error parsing format: template: :1: unclosed action",
            ),
            (
                "{{foo}}",
                "Error parsing format: template: :1: function \"foo\" not defined",
            ),
        ] {
            let e = check_format(f).unwrap_err();
            assert_eq!((e.exit_code(), e.to_string().as_str()), (64, text));
        }
    }

    #[test]
    fn pretty_line() {
        let ev = json!({"Type": "image", "Action": "tag", "Actor": {"ID": "sha256:1", "Attributes": {"name": "a:1", "b": "2"}}});
        assert_eq!(pretty(&ev), "image tag sha256:1 (b=2, name=a:1)\n");
    }
}
