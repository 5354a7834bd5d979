//! `--log-opt` values of the json-file driver, checked as dockerd does.

use std::collections::BTreeMap;

use crate::{Error, Result, DEFAULT_MAX_FILE};

/// Rotation settings of one container's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// `max-size` in bytes; None = not given, [`crate::DEFAULT_MAX_SIZE`] applies.
    pub max_size: Option<u64>,
    /// `max-file`: files kept, counting the current one.
    pub max_file: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            max_size: None,
            max_file: DEFAULT_MAX_FILE,
        }
    }
}

/// The option keys dockerd's json-file driver accepts.
const KNOWN: &[&str] = &[
    "max-file",
    "max-size",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

/// Validates a container's `--log-opt`s for json-file and returns its rotation settings.
/// Errors carry dockerd's texts (`unknown log opt 'x' for json-file log driver`,
/// `invalid size: '…'`, `max-file cannot be less than 1`, …). `max-size` uses go-units'
/// FromHumanSize as dockerd does (decimal: `10m` = 10,000,000 bytes). With `max-size` alone
/// docker keeps one file; with neither, berth's default cap applies.
pub fn parse_log_opts(opts: &BTreeMap<String, String>) -> Result<LogConfig> {
    if let Some(key) = opts.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(Error::UnknownOpt(key.clone()));
    }
    for opt in ["labels-regex", "env-regex"] {
        if let Some(v) = opts.get(opt) {
            compile(opt, v)?;
        }
    }
    let max_size = match opts.get("max-size") {
        Some(v) => {
            let n = parse_size(v)?;
            if n <= 0 {
                return Err(Error::MaxSizeNotPositive);
            }
            Some(n as u64)
        }
        None => None,
    };
    let max_file = match opts.get("max-file") {
        Some(v) => {
            let n = go_atoi(v)?;
            if n < 1 {
                return Err(Error::MaxFileLessThanOne);
            }
            u32::try_from(n).unwrap_or(u32::MAX)
        }
        // docker keeps a single file when only max-size is given.
        None if max_size.is_some() => 1,
        None => DEFAULT_MAX_FILE,
    };
    if let Some(v) = opts.get("compress") {
        if go_parse_bool(v)? {
            if max_file == 1 || max_size.is_none() {
                return Err(Error::CompressNeedsRotation);
            }
            return Err(Error::CompressNotSupported);
        }
    }
    Ok(LogConfig { max_size, max_file })
}

/// go-units' `FromHumanSize` (v0.5): a decimal number, an optional space, and an optional
/// unit `b`, `k`/`kb`/`kib`, `m`…, `g`, `t`, `p` (any case; multiples of 1000).
pub fn parse_size(s: &str) -> Result<i64> {
    let sep = s
        .rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        .ok_or_else(|| Error::InvalidSize(s.to_string()))?;
    let (num, sfx) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..=sep], &s[sep + 1..])
    };
    let size = go_parse_float(num)?;
    if size < 0.0 {
        return Err(Error::InvalidSize(s.to_string()));
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    if sfx.len() > 3 {
        return Err(Error::InvalidSuffix(sfx.to_string()));
    }
    let lower = sfx.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let bad = || Error::InvalidSuffix(lower.clone());
    if bytes[0] == b'b' {
        return if bytes.len() > 1 {
            Err(bad())
        } else {
            Ok(size as i64)
        };
    }
    let mul: f64 = match bytes[0] {
        b'k' => 1e3,
        b'm' => 1e6,
        b'g' => 1e9,
        b't' => 1e12,
        b'p' => 1e15,
        _ => return Err(bad()),
    };
    if (bytes.len() == 2 && bytes[1] != b'b') || (bytes.len() == 3 && &bytes[1..] != b"ib") {
        return Err(bad());
    }
    Ok((size * mul) as i64)
}

/// Go's strconv.ParseFloat for the decimal forms FromHumanSize can pass it.
fn go_parse_float(num: &str) -> Result<f64> {
    let ok = !num.is_empty()
        && num
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-' | b'e' | b'E' | b'_'))
        && !num.contains('_');
    match num.parse::<f64>() {
        Ok(v) if ok && v.is_finite() => Ok(v),
        Ok(_) if ok => Err(Error::InvalidFloat(num.to_string(), "value out of range")),
        _ => Err(Error::InvalidFloat(num.to_string(), "invalid syntax")),
    }
}

/// Go's strconv.Atoi.
fn go_atoi(s: &str) -> Result<i64> {
    use std::num::IntErrorKind;
    s.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => "value out of range",
            _ => "invalid syntax",
        };
        Error::InvalidInt(s.to_string(), why)
    })
}

/// Go's strconv.ParseBool.
fn go_parse_bool(s: &str) -> Result<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(Error::InvalidBool(s.to_string())),
    }
}

fn compile(opt: &'static str, value: &str) -> Result<regex::Regex> {
    regex::Regex::new(value).map_err(|e| Error::InvalidRegex {
        opt,
        value: value.to_string(),
        message: e.to_string(),
    })
}

/// The attributes dockerd adds to every record from the `labels`, `labels-regex`, `env`
/// and `env-regex` options (comma-separated names picked from the container's labels and
/// `KEY=value` environment).
pub fn extra_attrs(
    opts: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    env: &[String],
) -> Result<BTreeMap<String, String>> {
    let mut extra = BTreeMap::new();
    if let Some(keys) = opts.get("labels").filter(|v| !v.is_empty()) {
        for k in keys.split(',') {
            if let Some(v) = labels.get(k) {
                extra.insert(k.to_string(), v.clone());
            }
        }
    }
    if let Some(re) = opts.get("labels-regex").filter(|v| !v.is_empty()) {
        let re = compile("labels-regex", re)?;
        for (k, v) in labels {
            if re.is_match(k) {
                extra.insert(k.clone(), v.clone());
            }
        }
    }
    let env: BTreeMap<&str, &str> = env.iter().filter_map(|e| e.split_once('=')).collect();
    if let Some(keys) = opts.get("env").filter(|v| !v.is_empty()) {
        for k in keys.split(',') {
            if let Some(v) = env.get(k) {
                extra.insert(k.to_string(), v.to_string());
            }
        }
    }
    if let Some(re) = opts.get("env-regex").filter(|v| !v.is_empty()) {
        let re = compile("env-regex", re)?;
        for (k, v) in &env {
            if re.is_match(k) {
                extra.insert(k.to_string(), v.to_string());
            }
        }
    }
    Ok(extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        parse_log_opts(&opts(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn sizes_follow_go_units_from_human_size() {
        assert_eq!(parse_size("10m").unwrap(), 10_000_000);
        assert_eq!(parse_size("1g").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("500k").unwrap(), 500_000);
        assert_eq!(parse_size("500KB").unwrap(), 500_000);
        assert_eq!(parse_size("2MiB").unwrap(), 2_000_000);
        assert_eq!(parse_size("1.5 m").unwrap(), 1_500_000);
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("64b").unwrap(), 64);
        assert_eq!(
            parse_size("abc").unwrap_err().to_string(),
            "invalid size: 'abc'"
        );
        assert_eq!(parse_size("").unwrap_err().to_string(), "invalid size: ''");
        assert_eq!(
            parse_size("-1").unwrap_err().to_string(),
            "invalid size: '-1'"
        );
        assert_eq!(
            parse_size("10x").unwrap_err().to_string(),
            "invalid suffix: 'x'"
        );
        assert_eq!(
            parse_size("10kk").unwrap_err().to_string(),
            "invalid suffix: 'kk'"
        );
        assert_eq!(
            parse_size("10bb").unwrap_err().to_string(),
            "invalid suffix: 'bb'"
        );
        assert_eq!(
            parse_size("10mbyte").unwrap_err().to_string(),
            "invalid suffix: 'mbyte'"
        );
        assert_eq!(
            parse_size("1.2.3").unwrap_err().to_string(),
            r#"strconv.ParseFloat: parsing "1.2.3": invalid syntax"#
        );
    }

    #[test]
    fn parses_rotation_settings() {
        assert_eq!(
            parse_log_opts(&opts(&[("max-size", "10m"), ("max-file", "3")])).unwrap(),
            LogConfig {
                max_size: Some(10_000_000),
                max_file: 3
            }
        );
        // max-size alone: docker keeps a single file.
        assert_eq!(
            parse_log_opts(&opts(&[("max-size", "1k")])).unwrap(),
            LogConfig {
                max_size: Some(1000),
                max_file: 1
            }
        );
        // Nothing given: berth's default cap.
        assert_eq!(
            parse_log_opts(&BTreeMap::new()).unwrap(),
            LogConfig::default()
        );
        assert_eq!(LogConfig::default().max_file, DEFAULT_MAX_FILE);
        assert!(parse_log_opts(&opts(&[
            ("compress", "false"),
            ("labels", "a"),
            ("tag", "x")
        ]))
        .is_ok());
    }

    #[test]
    fn rejects_bad_options_with_dockers_texts() {
        assert_eq!(
            err(&[("max-sise", "1m")]),
            "unknown log opt 'max-sise' for json-file log driver"
        );
        assert_eq!(
            err(&[("max-size", "0")]),
            "max-size must be a positive number"
        );
        assert_eq!(err(&[("max-size", "ten")]), "invalid size: 'ten'");
        assert_eq!(err(&[("max-file", "0")]), "max-file cannot be less than 1");
        assert_eq!(err(&[("max-file", "-2")]), "max-file cannot be less than 1");
        assert_eq!(
            err(&[("max-file", "x")]),
            r#"strconv.Atoi: parsing "x": invalid syntax"#
        );
        assert_eq!(
            err(&[("max-file", "99999999999999999999")]),
            r#"strconv.Atoi: parsing "99999999999999999999": value out of range"#
        );
        assert_eq!(
            err(&[("compress", "yes")]),
            r#"strconv.ParseBool: parsing "yes": invalid syntax"#
        );
        assert_eq!(
            err(&[("compress", "true"), ("max-size", "1m")]),
            "compress cannot be true when max-file is less than 2 or max-size is not set"
        );
        assert!(
            err(&[("compress", "1"), ("max-size", "1m"), ("max-file", "2")])
                .contains("not supported")
        );
        assert!(err(&[("env-regex", "(")]).contains("env-regex=("));
    }

    #[test]
    fn extra_attrs_pick_labels_and_env() {
        let labels: BTreeMap<String, String> = [("com.a", "1"), ("com.b", "2"), ("other", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = vec![
            "FOO=bar".to_string(),
            "EMPTY=".to_string(),
            "NOEQ".to_string(),
            "X_1=y=z".to_string(),
        ];
        let got = extra_attrs(
            &opts(&[
                ("labels", "com.a,missing"),
                ("env", "FOO,EMPTY,NOEQ"),
                ("env-regex", "^X_"),
            ]),
            &labels,
            &env,
        )
        .unwrap();
        let want: BTreeMap<String, String> = [
            ("com.a", "1"),
            ("FOO", "bar"),
            ("EMPTY", ""),
            ("X_1", "y=z"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
        let got = extra_attrs(&opts(&[("labels-regex", "^com\\.")]), &labels, &env).unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), vec!["com.a", "com.b"]);
        assert!(extra_attrs(&BTreeMap::new(), &labels, &env)
            .unwrap()
            .is_empty());
    }
}
