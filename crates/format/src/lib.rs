//! berth-format: prints like the docker CLI 28 does.
//!
//! - Go `text/template` rendering for `--format` / `-f` over JSON values, with
//!   Go's builtins and docker's functions (`json`, `split`, `join`, `title`,
//!   `lower`, `upper`, `pad`, `truncate`), Go's `%v` printing (`map[a:b]`,
//!   `[x y]`, `<no value>` for missing keys) and Go-style error messages.
//! - docker's list formatter: `table` layouts with a header row through docker's
//!   tabwriter (minwidth 10, padding 3), `json`, and raw templates.
//! - docker/go-units human sizes and durations.
//!
//! The template engine is our own (over `serde_json::Value`, keeping object order)
//! rather than gtmpl: gtmpl prints arrays and maps with Rust's Debug format,
//! ranges over maps in random order and loses key order for `{{json}}`.

mod exec;
mod gofmt;
mod parse;
mod tabwriter;
mod units;

use serde_json::Value;

pub use exec::query_escape;
pub use gofmt::go_print;
pub use tabwriter::tabwrite;
pub use units::{bytes_size, human_duration, human_size, human_size_precision, time_ago};

/// A template failure, worded as the docker CLI words it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// The template text does not parse (`template: :1: function "foo" not defined`).
    #[error("template parsing error: template: :{line}: {msg}")]
    Parse { line: usize, msg: String },
    /// Executing the template failed (docker reports these with the same prefix).
    #[error("template parsing error: template: :{line}:{col}: executing \"{template}\" at <{at}>: {msg}")]
    Exec {
        line: usize,
        col: usize,
        template: String,
        at: String,
        msg: String,
    },
}

/// 1-based line and 0-based byte column of `pos`, as Go's template errors count.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = &src[..pos.min(src.len())];
    let line = 1 + before.matches('\n').count();
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1);
    (line, col)
}

/// A parsed Go template, reusable across values.
#[derive(Debug)]
pub struct Template {
    src: String,
    tree: parse::Tree,
}

impl Template {
    /// Parses `src` as a Go template with docker's function set.
    pub fn parse(src: &str) -> Result<Template, FormatError> {
        match parse::parse(src) {
            Ok(tree) => Ok(Template {
                src: src.to_string(),
                tree,
            }),
            Err(e) => Err(FormatError::Parse {
                line: line_col(src, e.pos).0,
                msg: e.msg,
            }),
        }
    }

    /// Executes the template with `value` as dot.
    pub fn execute(&self, value: &Value) -> Result<String, FormatError> {
        let (out, res) = self.run(value, false, false);
        res.map(|_| out)
    }

    /// Runs with the normal or header function set; returns the output produced
    /// (even on failure, as Go's executor writes as it goes) and the outcome.
    fn run(&self, value: &Value, header: bool, row: bool) -> (String, Result<(), FormatError>) {
        let mut ex = exec::Exec::new(&self.tree, header, row);
        let res = ex.run(&exec::Val::V(value.clone())).map_err(|e| {
            let (line, col) = line_col(&self.src, e.pos);
            FormatError::Exec {
                line,
                col,
                template: e.template,
                at: e.at,
                msg: e.msg,
            }
        });
        (ex.out, res)
    }
}

/// How a list command prints its rows, as docker's formatter does
/// (cli/command/formatter):
///
/// - `""` or `"table"`: the command's `default_table` (a full format such as
///   `"table {{.ID}}\t{{.Image}}"`);
/// - `"table <tmpl>"` (any format starting with `table`): a header row, rendered by
///   running the template against `headers` (field name → column title; a field
///   without a header prints `<no value>`, as docker's header map does), then one
///   line per row, all aligned by docker's tabwriter;
/// - `"json"`: `{{json .}}` per row, one JSON object per line, keys sorted;
/// - anything else: the template once per row, each followed by `"\n"`.
///
/// The two-character sequences `\t` and `\n` in the format become a tab and a
/// newline, and surrounding spaces are trimmed, as docker does. Object keys in
/// rows are sorted (docker's list contexts marshal as Go maps).
pub fn render_list(
    format: &str,
    default_table: &str,
    rows: &[Value],
    headers: &[(&str, &str)],
) -> Result<String, FormatError> {
    let format = if format.is_empty() || format == "table" {
        default_table
    } else {
        format
    };
    let is_table = format.starts_with("table");
    let body = if is_table {
        &format["table".len()..]
    } else if format == "json" {
        "{{json .}}"
    } else {
        format
    };
    let body = body
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n");
    let tmpl = Template::parse(&body)?;

    let mut out = String::new();
    for row in rows {
        let (text, res) = tmpl.run(&gofmt::sort_keys(row), false, true);
        res?;
        out.push_str(&text);
        out.push('\n');
    }
    if !is_table {
        return Ok(out);
    }
    let header_map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(field, title)| (field.to_string(), Value::String(title.to_string())))
        .collect();
    // docker ignores header execution errors and keeps what was written.
    let (header, _) = tmpl.run(&Value::Object(header_map), true, false);
    Ok(tabwrite(&format!("{header}\n{out}")))
}

/// Renders a template against one value, for `inspect -f`, `version -f` and
/// `info -f`. No table logic, no `\t` replacement, object order kept.
///
/// Returns the template output as is; docker prints it followed by `"\n"`
/// (one line per inspected object), which is the caller's job.
pub fn render_one(template: &str, value: &Value) -> Result<String, FormatError> {
    Template::parse(template)?.execute(value)
}

/// Go's `json.Marshal` of a value: compact, `<`, `>`, `&` escaped as `\u003c`,
/// `\u003e`, `\u0026`, keys in the value's order.
pub fn go_json(value: &Value) -> String {
    gofmt::encode_json(value, true)
}

/// Go's JSON encoder with `SetEscapeHTML(false)`, as docker's `{{json}}` uses.
pub fn go_json_unescaped(value: &Value) -> String {
    gofmt::encode_json(value, false)
}

#[cfg(test)]
mod tests;
