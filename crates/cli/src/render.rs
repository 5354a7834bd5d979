//! The one place that calls berth-format's template and table rendering.

use serde_json::Value;

use crate::error::{CliError, Result};

/// Renders rows with a `--format` value (`table …`, `json`, or a Go template).
pub fn list(
    format: &str,
    default_table: &str,
    rows: &[Value],
    headers: &[(&str, &str)],
) -> Result<String> {
    berth_format::render_list(format, default_table, rows, headers)
        .map_err(|e| CliError::msg(e.to_string()))
}

/// `-f/--format` for single-object commands (version, info): `json` prints the
/// whole value, anything else is a template.
pub fn one_or_json(format: &str, v: &Value) -> Result<String> {
    if format == "json" {
        return Ok(v.to_string());
    }
    one(format, v)
}

/// Renders one object with a Go template (no table handling).
pub fn one(template: &str, v: &Value) -> Result<String> {
    berth_format::render_one(template, v).map_err(|e| CliError::msg(e.to_string()))
}

pub fn human_size(bytes: f64) -> String {
    berth_format::human_size(bytes)
}

pub fn human_size3(bytes: f64) -> String {
    berth_format::human_size_precision(bytes, 3)
}

pub fn time_ago(unix_secs: i64, now_secs: i64) -> String {
    berth_format::time_ago(unix_secs, now_secs)
}

pub fn bytes_size(bytes: f64) -> String {
    berth_format::bytes_size(bytes)
}
