//! The image inspect object as docker's templates see it.
//!
//! docker decodes `GET /images/{name}/json` into its Go struct
//! (`image.InspectResponse` of docker 28) and runs `-f` templates on that, so
//! a null list prints `[]`, a null map `map[]`, an absent field its zero value,
//! times print as Go's `Time.String()`, and `{{json …}}` re-marshals the struct
//! (fields in struct order, `omitempty` fields dropped, unknown fields gone).
//! berth's template engine works on JSON values, so this module builds the
//! value that prints the way the struct does: [`View::Print`] for field
//! access and printing, [`View::Json`] for templates that marshal.

use serde_json::{Map, Value};

/// A Go type, as far as printing and marshalling tell types apart.
enum Ty {
    Str,
    Int,
    Bool,
    /// `[]T`: nil prints `[]`, marshals `null`.
    List,
    /// `map[string]T`: nil prints `map[]`, marshals `null`.
    Map,
    /// `map[string]struct{}`: as [`Ty::Map`], values print `{}`.
    Set,
    /// `*T` of a struct: nil prints `<nil>`.
    Ptr(&'static [Field]),
    Struct(&'static [Field]),
    /// `time.Time` (RFC 3339 in JSON).
    Time,
    /// `time.Duration` (integer nanoseconds in JSON).
    Duration,
    /// A type this module does not model: the daemon's value as is.
    Raw,
}

struct Field {
    /// The Go field name templates use.
    go: &'static str,
    /// The JSON key.
    json: &'static str,
    omitempty: bool,
    ty: Ty,
}

const fn f(go: &'static str, ty: Ty) -> Field {
    Field {
        go,
        json: go,
        omitempty: false,
        ty,
    }
}

const fn o(go: &'static str, ty: Ty) -> Field {
    Field {
        go,
        json: go,
        omitempty: true,
        ty,
    }
}

const fn oj(go: &'static str, json: &'static str, ty: Ty) -> Field {
    Field {
        go,
        json,
        omitempty: true,
        ty,
    }
}

/// moby/docker-image-spec `HealthcheckConfig`.
const HEALTHCHECK: &[Field] = &[
    o("Test", Ty::List),
    o("Interval", Ty::Duration),
    o("Timeout", Ty::Duration),
    o("StartPeriod", Ty::Duration),
    o("StartInterval", Ty::Duration),
    o("Retries", Ty::Int),
];

/// `DockerOCIImageConfig`: the OCI `ImageConfig` plus docker's extensions,
/// every field `omitempty`.
const IMAGE_CONFIG: &[Field] = &[
    o("User", Ty::Str),
    o("ExposedPorts", Ty::Set),
    o("Env", Ty::List),
    o("Entrypoint", Ty::List),
    o("Cmd", Ty::List),
    o("Volumes", Ty::Set),
    o("WorkingDir", Ty::Str),
    o("Labels", Ty::Map),
    o("StopSignal", Ty::Str),
    o("ArgsEscaped", Ty::Bool),
    o("Healthcheck", Ty::Ptr(HEALTHCHECK)),
    o("OnBuild", Ty::List),
    o("Shell", Ty::List),
];

/// OCI `Platform`.
const PLATFORM: &[Field] = &[
    Field {
        go: "Architecture",
        json: "architecture",
        omitempty: false,
        ty: Ty::Str,
    },
    Field {
        go: "OS",
        json: "os",
        omitempty: false,
        ty: Ty::Str,
    },
    oj("OSVersion", "os.version", Ty::Str),
    oj("OSFeatures", "os.features", Ty::List),
    oj("Variant", "variant", Ty::Str),
];

/// OCI `Descriptor`.
const DESCRIPTOR: &[Field] = &[
    Field {
        go: "MediaType",
        json: "mediaType",
        omitempty: false,
        ty: Ty::Str,
    },
    Field {
        go: "Digest",
        json: "digest",
        omitempty: false,
        ty: Ty::Str,
    },
    Field {
        go: "Size",
        json: "size",
        omitempty: false,
        ty: Ty::Int,
    },
    oj("URLs", "urls", Ty::List),
    oj("Annotations", "annotations", Ty::Map),
    oj("Data", "data", Ty::Raw),
    oj("Platform", "platform", Ty::Ptr(PLATFORM)),
    oj("ArtifactType", "artifactType", Ty::Str),
];

/// docker 28.2's `image.InspectResponse`.
const IMAGE_INSPECT: &[Field] = &[
    Field {
        go: "ID",
        json: "Id",
        omitempty: false,
        ty: Ty::Str,
    },
    f("RepoTags", Ty::List),
    f("RepoDigests", Ty::List),
    f("Parent", Ty::Str),
    f("Comment", Ty::Str),
    o("Created", Ty::Str),
    o("Container", Ty::Str),
    o("ContainerConfig", Ty::Raw),
    f("DockerVersion", Ty::Str),
    f("Author", Ty::Str),
    f("Config", Ty::Ptr(IMAGE_CONFIG)),
    f("Architecture", Ty::Str),
    o("Variant", Ty::Str),
    f("Os", Ty::Str),
    o("OsVersion", Ty::Str),
    f("Size", Ty::Int),
    o("VirtualSize", Ty::Int),
    f(
        "GraphDriver",
        Ty::Struct(&[f("Data", Ty::Map), f("Name", Ty::Str)]),
    ),
    f(
        "RootFS",
        Ty::Struct(&[o("Type", Ty::Str), o("Layers", Ty::List)]),
    ),
    f("Metadata", Ty::Struct(&[f("LastTagTime", Ty::Time)])),
    o("Descriptor", Ty::Ptr(DESCRIPTOR)),
    o("Manifests", Ty::List),
];

/// Which face of the struct a template gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Field access and `%v` printing: Go field names, zero values filled in,
    /// nil lists and maps empty. The daemon's other keys stay reachable, as
    /// docker falls back to the raw JSON when the struct lacks a field.
    Print,
    /// `json.Marshal` of the struct: JSON keys in struct order, `omitempty`
    /// fields dropped when empty, nil lists and maps `null`.
    Json,
}

impl View {
    /// [`View::Json`] for templates that call `json` (so `{{json .Config}}`
    /// marshals as docker does), [`View::Print`] otherwise.
    pub fn for_template(template: &str) -> View {
        if calls_json(template) {
            View::Json
        } else {
            View::Print
        }
    }
}

/// True when an action of `template` names the `json` function (not a field
/// or variable called json).
fn calls_json(template: &str) -> bool {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let action = &rest[start + 2..];
        let end = action.find("}}").unwrap_or(action.len());
        let body = &action[..end];
        let b = body.as_bytes();
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let mut from = 0;
        while let Some(i) = body[from..].find("json").map(|i| i + from) {
            let before = i.checked_sub(1).map(|j| b[j]);
            let after = b.get(i + 4).copied();
            if !before.is_some_and(|c| word(c) || c == b'.' || c == b'$')
                && !after.is_some_and(word)
            {
                return true;
            }
            from = i + 4;
        }
        rest = &action[end..];
    }
    false
}

/// The image inspect `raw` JSON as docker's typed struct presents it in `view`.
pub fn image_inspect(raw: &Value, view: View) -> Value {
    typed_struct(IMAGE_INSPECT, raw, view)
}

fn typed_struct(fields: &[Field], raw: &Value, view: View) -> Value {
    let obj = raw.as_object();
    let mut out = Map::new();
    for field in fields {
        let v = obj.and_then(|o| o.get(field.json)).unwrap_or(&Value::Null);
        let typed = typed_value(&field.ty, v, view);
        match view {
            View::Print => {
                out.insert(field.go.to_string(), typed);
            }
            View::Json => {
                if !(field.omitempty && is_empty(&field.ty, &typed)) {
                    out.insert(field.json.to_string(), typed);
                }
            }
        }
    }
    if view == View::Print {
        // Fields the struct lacks, reachable as docker's raw fallback reaches them.
        for (k, v) in obj.into_iter().flatten() {
            if !out.contains_key(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn typed_value(ty: &Ty, v: &Value, view: View) -> Value {
    match (ty, view) {
        (Ty::Str, _) if v.is_null() => Value::String(String::new()),
        (Ty::Int | Ty::Duration, View::Json) if v.is_null() => Value::from(0),
        (Ty::Int, View::Print) if v.is_null() => Value::from(0),
        (Ty::Bool, _) if v.is_null() => Value::Bool(false),
        (Ty::List, View::Print) if v.is_null() => Value::Array(Vec::new()),
        (Ty::Map, View::Print) if v.is_null() => Value::Object(Map::new()),
        (Ty::Set, View::Print) => match v {
            // Go prints the empty struct values as `{}`.
            Value::Object(m) => Value::Object(
                m.keys()
                    .map(|k| (k.clone(), Value::String("{}".to_string())))
                    .collect(),
            ),
            Value::Null => Value::Object(Map::new()),
            other => other.clone(),
        },
        (Ty::Ptr(_), _) if v.is_null() => Value::Null,
        (Ty::Ptr(fields) | Ty::Struct(fields), _) => typed_struct(fields, v, view),
        (Ty::Time, _) => go_time(v, view),
        (Ty::Duration, View::Print) => match v.as_i64() {
            Some(ns) => Value::String(go_duration(ns)),
            None if v.is_null() => Value::String("0s".to_string()),
            None => v.clone(),
        },
        _ => v.clone(),
    }
}

/// Go's `omitempty` test on a typed value.
fn is_empty(ty: &Ty, v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        // A struct is never empty; a map is when it has no keys.
        Value::Object(m) => !matches!(ty, Ty::Ptr(_) | Ty::Struct(_) | Ty::Time) && m.is_empty(),
    }
}

/// A `time.Time` field: the zero time when absent; `String()` in the print
/// view, RFC 3339 with nanoseconds (trailing zeros trimmed) in JSON.
fn go_time(v: &Value, view: View) -> Value {
    let t = match v {
        Value::Null => chrono::DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z").ok(),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s).ok(),
        _ => None,
    };
    let Some(t) = t else {
        return v.clone();
    };
    let frac = match t.timestamp_subsec_nanos() {
        0 => String::new(),
        n => format!(".{n:09}").trim_end_matches('0').to_string(),
    };
    let offset = t.offset().local_minus_utc();
    let s = match view {
        View::Json => {
            let zone = if offset == 0 {
                "Z".to_string()
            } else {
                t.format("%:z").to_string()
            };
            format!("{}{frac}{zone}", t.format("%Y-%m-%dT%H:%M:%S"))
        }
        View::Print => {
            // UTC prints its name; other offsets parsed from JSON get an
            // unnamed zone, which Go prints as the offset again.
            let zone = if offset == 0 {
                "+0000 UTC".to_string()
            } else {
                let z = t.format("%z").to_string();
                format!("{z} {z}")
            };
            format!("{}{frac} {zone}", t.format("%Y-%m-%d %H:%M:%S"))
        }
    };
    Value::String(s)
}

/// Go's `time.Duration.String()`: `0s`, `1.5µs`, `250ms`, `1m30s`, `1h0m0s`.
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let with_frac = |whole: u64, frac: u64, digits: usize| {
        let f = format!("{frac:0digits$}");
        let f = f.trim_end_matches('0');
        if f.is_empty() {
            whole.to_string()
        } else {
            format!("{whole}.{f}")
        }
    };
    if u < 1_000_000_000 {
        let (div, digits, unit) = match u {
            0..1_000 => (1, 0, "ns"),
            1_000..1_000_000 => (1_000, 3, "µs"),
            _ => (1_000_000, 6, "ms"),
        };
        return format!("{sign}{}{unit}", with_frac(u / div, u % div, digits));
    }
    let secs = u / 1_000_000_000;
    let s = with_frac(secs % 60, u % 1_000_000_000, 9);
    let (h, m) = (secs / 3600, secs / 60 % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, raw: &Value) -> String {
        let v = image_inspect(raw, View::for_template(template));
        berth_format::render_one(template, &v).unwrap()
    }

    #[test]
    fn null_lists_and_maps_print_empty() {
        let raw = json!({"Id": "sha256:1", "RepoTags": null, "Config": {"Cmd": null, "Env": ["A=b"], "Labels": null}});
        assert_eq!(
            render(
                "{{.Config.Cmd}} {{.Config.Env}} {{.Config.Entrypoint}} {{.Config.Labels}} {{.RepoTags}}",
                &raw
            ),
            "[] [A=b] [] map[] []"
        );
        assert_eq!(
            render("{{.ID}} {{.Id}} {{.Size}} {{.Variant}}|", &raw),
            "sha256:1 sha256:1 0 |"
        );
        assert_eq!(
            render("{{.Metadata.LastTagTime}}", &raw),
            "0001-01-01 00:00:00 +0000 UTC"
        );
        // A null pointer stays nil.
        assert_eq!(render("{{.Descriptor}}", &raw), "<nil>");
    }

    #[test]
    fn json_marshals_like_the_struct() {
        let raw = json!({
            "Id": "sha256:1",
            "RepoTags": ["a:1"],
            "Config": {"Hostname": "", "Cmd": ["sh"], "Env": null, "Entrypoint": null, "OnBuild": null, "Labels": null, "User": ""},
            "RootFS": {"Type": "layers", "Layers": []},
            "GraphDriver": {"Name": "overlay2", "Data": null},
            "Metadata": {"LastTagTime": "2024-01-02T03:04:05.120000000Z"},
            "Extra": 1
        });
        assert_eq!(render("{{json .Config}}", &raw), r#"{"Cmd":["sh"]}"#);
        assert_eq!(render("{{json .Config.Env}}", &raw), "null");
        assert_eq!(
            render("{{json .}}", &raw),
            concat!(
                r#"{"Id":"sha256:1","RepoTags":["a:1"],"RepoDigests":null,"Parent":"","Comment":"","DockerVersion":"","Author":"","#,
                r#""Config":{"Cmd":["sh"]},"Architecture":"","Os":"","Size":0,"GraphDriver":{"Data":null,"Name":"overlay2"},"#,
                r#""RootFS":{"Type":"layers"},"Metadata":{"LastTagTime":"2024-01-02T03:04:05.12Z"}}"#
            )
        );
        assert_eq!(render("{{json .Config}}", &json!({"Config": {}})), "{}");
        assert_eq!(render("{{json .Config}}", &json!({})), "null");
    }

    #[test]
    fn struct_shaped_values() {
        let raw = json!({
            "Config": {"ExposedPorts": {"80/tcp": {}}, "Healthcheck": {"Interval": 90_000_000_000_i64, "Test": ["CMD"]}},
            "Descriptor": {"mediaType": "m", "digest": "sha256:a", "size": 3},
            "Metadata": {"LastTagTime": "2024-01-02T03:04:05.5+02:00"}
        });
        assert_eq!(render("{{.Config.ExposedPorts}}", &raw), "map[80/tcp:{}]");
        assert_eq!(
            render(
                "{{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Timeout}}",
                &raw
            ),
            "1m30s 0s"
        );
        assert_eq!(
            render("{{json .Config.Healthcheck}}", &raw),
            r#"{"Test":["CMD"],"Interval":90000000000}"#
        );
        assert_eq!(
            render("{{.Descriptor.MediaType}} {{.Descriptor.mediaType}}", &raw),
            "m m"
        );
        assert_eq!(
            render("{{.Metadata.LastTagTime}}", &raw),
            "2024-01-02 03:04:05.5 +0200 +0200"
        );
        assert_eq!(
            render("{{json .Metadata}}", &raw),
            r#"{"LastTagTime":"2024-01-02T03:04:05.5+02:00"}"#
        );
    }

    #[test]
    fn json_detection() {
        assert!(calls_json("{{json .Config}}"));
        assert!(calls_json("a {{ .Id }} {{.Config | json}}"));
        assert!(!calls_json(
            "{{.Config.json}} {{$json := 1}} {{.Jsonish}} json"
        ));
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(999), "999ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(250_000_000), "250ms");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(-61_000_000_000), "-1m1s");
    }
}
