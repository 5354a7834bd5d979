//! `docker commit --change` / `docker import --change`: Dockerfile
//! instructions applied to a container config, as dockerd's
//! `dockerfile.BuildFromConfig` does (parse everything, check every
//! instruction is allowed, then apply them in order to a copy).

use std::collections::BTreeMap;

use super::{ContainerConfig, EmptyObject, Healthcheck};
use crate::Error;

/// The instructions a change may use (dockerd's `validCommitCommands`).
const VALID: [&str; 11] = [
    "cmd",
    "entrypoint",
    "healthcheck",
    "env",
    "expose",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Linux signal names `STOPSIGNAL` accepts (moby's `signal.SignalMap`),
/// without the `SIG` prefix.
const SIGNALS: [&str; 35] = [
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "UNUSED",
];

/// A command line of `CMD`, `ENTRYPOINT` or `HEALTHCHECK CMD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdLine {
    /// The JSON array's items, or the shell form's whole text as one item.
    pub args: Vec<String>,
    /// Shell form: run through the config's shell (`/bin/sh -c` by default).
    pub shell: bool,
}

/// `HEALTHCHECK` settings, durations as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthArgs {
    /// `None` for `HEALTHCHECK NONE`.
    pub cmd: Option<CmdLine>,
    /// `(flag name, value)` pairs, e.g. `("interval", "30s")`.
    pub flags: Vec<(String, String)>,
}

/// One parsed change instruction. Arguments are as written; variables are
/// expanded when the change is applied, against the config's `Env` then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Cmd(CmdLine),
    Entrypoint(CmdLine),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    User(String),
    Volume(Vec<String>),
    Workdir(String),
    StopSignal(String),
    /// The trigger text after `ONBUILD`.
    OnBuild(String),
    Healthcheck(HealthArgs),
}

fn err(msg: impl Into<String>) -> Error {
    Error::Change(msg.into())
}

/// Parses `changes` (each a Dockerfile line; they are joined with newlines,
/// so line continuations work across them). Fails with dockerd's text,
/// e.g. `from is not a valid change command`.
pub fn parse_changes(changes: &[String]) -> Result<Vec<Change>, Error> {
    let text = changes.join("\n");
    let mut parsed = Vec::new();
    for line in logical_lines(&text) {
        let (word, rest) = split_first_word(&line);
        let name = word.to_lowercase();
        parsed.push((name.clone(), parse_instruction(&name, rest, &line)?));
    }
    // Every instruction is checked before any is applied.
    let mut out = Vec::with_capacity(parsed.len());
    for (name, change) in parsed {
        match change {
            Some(c) if VALID.contains(&name.as_str()) => out.push(c),
            _ => return Err(err(format!("{name} is not a valid change command"))),
        }
    }
    Ok(out)
}

/// Applies `changes` to a copy of `config` and returns it; `config` is left
/// as it was when any change fails.
pub fn apply_changes(
    config: &ContainerConfig,
    changes: &[String],
) -> Result<ContainerConfig, Error> {
    let parsed = parse_changes(changes)?;
    let mut out = config.clone();
    let mut cmd_set = false;
    for change in parsed {
        apply_one(&mut out, change, &mut cmd_set)?;
    }
    Ok(out)
}

/// Lines with continuations (`\` at the end) joined, comments and blank
/// lines dropped, like buildkit's parser.
fn logical_lines(text: &str) -> Vec<String> {
    // The line without its continuation mark, and whether it had one.
    fn trim_continuation(s: &str) -> (&str, bool) {
        let r = s.trim_end_matches([' ', '\t']);
        match r.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (s, false),
        }
    }
    let mut lines = Vec::new();
    let mut acc = String::new();
    let mut open = false;
    for raw in text.lines() {
        let trimmed = raw.trim_start();
        if trimmed.starts_with('#') || trimmed.trim_end().is_empty() {
            continue;
        }
        // Continuation lines keep their leading whitespace.
        let (body, continues) = trim_continuation(if open { raw } else { trimmed });
        if !open {
            acc.clear();
        }
        acc.push_str(body);
        open = continues;
        if !continues {
            lines.push(std::mem::take(&mut acc));
        }
    }
    if open && !acc.trim().is_empty() {
        lines.push(acc);
    }
    lines
}

fn split_first_word(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    }
}

/// `None` for instructions that are not changes at all (reported later, in
/// order, as not valid).
fn parse_instruction(name: &str, rest: &str, line: &str) -> Result<Option<Change>, Error> {
    let upper = name.to_uppercase();
    let change = match name {
        "cmd" => Change::Cmd(parse_cmd_line(rest)),
        "entrypoint" => Change::Entrypoint(parse_cmd_line(rest)),
        "env" | "label" => {
            let pairs = parse_name_val(rest, &upper)?;
            if pairs.is_empty() {
                return Err(err(format!("{upper} requires at least one argument")));
            }
            if pairs.iter().any(|(k, _)| k.is_empty()) {
                return Err(err(format!("{upper} names can not be blank")));
            }
            if name == "env" {
                Change::Env(pairs)
            } else {
                Change::Label(pairs)
            }
        }
        "expose" => {
            let ports: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
            if ports.is_empty() {
                return Err(err("EXPOSE requires at least one argument"));
            }
            Change::Expose(ports)
        }
        "volume" => {
            let cmd = parse_cmd_line(rest);
            let vols = if cmd.shell {
                rest.split_whitespace().map(str::to_string).collect()
            } else {
                cmd.args
            };
            if vols.is_empty() {
                return Err(err("VOLUME requires at least one argument"));
            }
            Change::Volume(vols)
        }
        "user" | "workdir" | "stopsignal" => {
            if rest.is_empty() {
                return Err(err(format!("{upper} requires exactly one argument")));
            }
            match name {
                "user" => Change::User(rest.to_string()),
                "workdir" => Change::Workdir(rest.to_string()),
                _ => Change::StopSignal(rest.to_string()),
            }
        }
        "onbuild" => {
            if rest.is_empty() {
                return Err(err("ONBUILD requires at least one argument"));
            }
            let trigger = split_first_word(rest).0.to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err(err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"))
                }
                "FROM" | "MAINTAINER" => {
                    return Err(err(format!(
                        "{trigger} isn't allowed as an ONBUILD trigger"
                    )))
                }
                _ => {}
            }
            // The expression is the original text after the keyword.
            let (_, expr) = split_first_word(line);
            Change::OnBuild(expr.to_string())
        }
        "healthcheck" => Change::Healthcheck(parse_healthcheck(rest)?),
        _ => return Ok(None),
    };
    Ok(Some(change))
}

/// JSON array form when the text is a JSON array of strings, else shell form.
fn parse_cmd_line(rest: &str) -> CmdLine {
    if rest.starts_with('[') {
        if let Ok(args) = serde_json::from_str::<Vec<String>>(rest) {
            return CmdLine { args, shell: false };
        }
    }
    CmdLine {
        args: if rest.is_empty() {
            Vec::new()
        } else {
            vec![rest.to_string()]
        },
        shell: true,
    }
}

/// Words split on whitespace outside quotes; quotes and escapes are kept
/// (buildkit's `parseWords`).
fn parse_words(rest: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for ch in rest.chars() {
        if escaped {
            word.push(ch);
            escaped = false;
            continue;
        }
        match quote {
            Some(q) => {
                if ch == q {
                    quote = None;
                } else if ch == '\\' && q == '"' {
                    escaped = true;
                }
                word.push(ch);
            }
            None if ch.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => {
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                } else if ch == '\\' {
                    escaped = true;
                }
                word.push(ch);
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `KEY value` (old form) or `KEY=value KEY2="v 2"` (buildkit's
/// `parseNameVal`).
fn parse_name_val(rest: &str, instruction: &str) -> Result<Vec<(String, String)>, Error> {
    let words = parse_words(rest);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let (key, value) = split_first_word(rest);
        if value.is_empty() {
            return Err(err(format!("{instruction} must have two arguments")));
        }
        return Ok(vec![(key.to_string(), value.to_string())]);
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            ))),
        })
        .collect()
}

fn parse_healthcheck(rest: &str) -> Result<HealthArgs, Error> {
    let mut flags = Vec::new();
    let mut rest = rest.trim();
    while let Some(after) = rest.strip_prefix("--") {
        let (word, tail) = split_first_word(after);
        if word.is_empty() {
            // A lone `--` ends the flags.
            rest = tail;
            break;
        }
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n, v),
            None => return Err(err(format!("Missing a value on flag: {word}"))),
        };
        if ![
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ]
        .contains(&name)
        {
            return Err(err(format!("Unknown flag: {name}")));
        }
        flags.push((name.to_string(), value.to_string()));
        rest = tail;
    }
    let (typ, args) = split_first_word(rest);
    if typ.is_empty() {
        return Err(err("HEALTHCHECK requires at least one argument"));
    }
    match typ.to_uppercase().as_str() {
        "NONE" => {
            if !args.is_empty() || !flags.is_empty() {
                return Err(err("HEALTHCHECK NONE takes no arguments"));
            }
            Ok(HealthArgs { cmd: None, flags })
        }
        "CMD" => {
            let cmd = parse_cmd_line(args);
            if cmd.args.is_empty() {
                return Err(err("Missing command after HEALTHCHECK CMD"));
            }
            Ok(HealthArgs {
                cmd: Some(cmd),
                flags,
            })
        }
        other => Err(err(format!(
            "Unknown type \"{other}\" in HEALTHCHECK (try CMD)"
        ))),
    }
}

fn apply_one(
    config: &mut ContainerConfig,
    change: Change,
    cmd_set: &mut bool,
) -> Result<(), Error> {
    let env = config.env.clone().unwrap_or_default();
    let expand = |s: &str| process_word(s, &env);
    match change {
        Change::Cmd(c) => {
            if !c.args.is_empty() {
                *cmd_set = true;
            }
            config.cmd = Some(resolve_cmd_line(c, config));
            config.args_escaped = None;
        }
        Change::Entrypoint(c) => {
            config.entrypoint = Some(resolve_cmd_line(c, config));
            config.args_escaped = None;
            // An ENTRYPOINT clears the CMD unless a CMD came earlier.
            if !*cmd_set {
                config.cmd = None;
            }
        }
        Change::Env(pairs) => {
            let mut expanded = Vec::with_capacity(pairs.len());
            for (k, v) in &pairs {
                expanded.push((expand(k)?, expand(v)?));
            }
            let list = config.env.get_or_insert_with(Vec::new);
            for (k, v) in expanded {
                let entry = format!("{k}={v}");
                let prefix = format!("{k}=");
                match list.iter_mut().find(|e| e.starts_with(&prefix) || **e == k) {
                    Some(existing) => *existing = entry,
                    None => list.push(entry),
                }
            }
        }
        Change::Label(pairs) => {
            let mut expanded = Vec::with_capacity(pairs.len());
            for (k, v) in &pairs {
                expanded.push((expand(k)?, expand(v)?));
            }
            config
                .labels
                .get_or_insert_with(BTreeMap::new)
                .extend(expanded);
        }
        Change::Expose(ports) => {
            let mut keys = Vec::new();
            for p in &ports {
                keys.extend(parse_port_spec(&expand(p)?)?);
            }
            let set = config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for k in keys {
                set.insert(k, EmptyObject);
            }
        }
        Change::User(u) => config.user = Some(expand(&u)?),
        Change::Volume(vols) => {
            let mut expanded = Vec::with_capacity(vols.len());
            for v in &vols {
                let v = expand(v)?;
                if v.is_empty() {
                    return Err(err("VOLUME specified can not be an empty string"));
                }
                expanded.push(v);
            }
            let set = config.volumes.get_or_insert_with(BTreeMap::new);
            for v in expanded {
                set.insert(v, EmptyObject);
            }
        }
        Change::Workdir(w) => {
            let requested = expand(&w)?;
            let current = config.working_dir.clone().unwrap_or_default();
            config.working_dir = Some(normalize_workdir(&current, &requested)?);
        }
        Change::StopSignal(s) => {
            let s = expand(&s)?;
            check_signal(&s)?;
            config.stop_signal = Some(s);
        }
        Change::OnBuild(expr) => config.on_build.get_or_insert_with(Vec::new).push(expr),
        Change::Healthcheck(h) => config.healthcheck = Some(resolve_healthcheck(h)?),
    }
    Ok(())
}

/// Shell form gets the config's `Shell` (or `/bin/sh -c`) in front.
fn resolve_cmd_line(c: CmdLine, config: &ContainerConfig) -> Vec<String> {
    if c.args.is_empty() {
        return Vec::new();
    }
    if !c.shell {
        return c.args;
    }
    let mut out = match &config.shell {
        Some(shell) if !shell.is_empty() => shell.clone(),
        _ => vec!["/bin/sh".to_string(), "-c".to_string()],
    };
    out.extend(c.args);
    out
}

fn resolve_healthcheck(h: HealthArgs) -> Result<Healthcheck, Error> {
    let Some(cmd) = h.cmd else {
        return Ok(Healthcheck {
            test: Some(vec!["NONE".to_string()]),
            ..Default::default()
        });
    };
    let mut test = vec![if cmd.shell { "CMD-SHELL" } else { "CMD" }.to_string()];
    test.extend(cmd.args);
    let mut hc = Healthcheck {
        test: Some(test),
        ..Default::default()
    };
    for (name, value) in h.flags {
        if name == "retries" {
            let n: i64 = value.parse().map_err(|_| {
                err(format!(
                    "strconv.ParseInt: parsing {value:?}: invalid syntax"
                ))
            })?;
            if n < 0 {
                return Err(err(format!("--retries cannot be negative ({n})")));
            }
            hc.retries = (n != 0).then_some(n);
            continue;
        }
        let d = parse_go_duration(&value)?;
        if d != 0 && d < 1_000_000 {
            return Err(err(format!("Interval \"{name}\" cannot be less than 1ms")));
        }
        let d = (d != 0).then_some(d);
        match name.as_str() {
            "interval" => hc.interval = d,
            "timeout" => hc.timeout = d,
            "start-period" => hc.start_period = d,
            _ => hc.start_interval = d,
        }
    }
    Ok(hc)
}

/// Go's `time.ParseDuration`, in nanoseconds.
fn parse_go_duration(s: &str) -> Result<i64, Error> {
    let bad = || err(format!("time: invalid duration {s:?}"));
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err(format!("time: missing unit in duration {s:?}")))?;
        let number = &rest[..num_end];
        if number.is_empty() || number == "." {
            return Err(bad());
        }
        let value: f64 = number.parse().map_err(|_| bad())?;
        let after = &rest[num_end..];
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let scale = match &after[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            unit => {
                return Err(err(format!(
                    "time: unknown unit {unit:?} in duration {s:?}"
                )))
            }
        };
        total += value * scale;
        rest = &after[unit_end..];
    }
    if total > i64::MAX as f64 {
        return Err(bad());
    }
    let n = total.round() as i64;
    Ok(if neg { -n } else { n })
}

/// `nat.ParsePortSpecs` for one EXPOSE item: `80`, `80/udp`, `8000-8002`.
fn parse_port_spec(spec: &str) -> Result<Vec<String>, Error> {
    let (port, proto) = match spec.split_once('/') {
        Some((p, proto)) if !proto.is_empty() => (p, proto.to_lowercase()),
        Some((p, _)) => (p, "tcp".to_string()),
        None => (spec, "tcp".to_string()),
    };
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(err(format!("invalid proto: {proto}")));
    }
    // ip:hostPort:containerPort forms expose the container port.
    let port = port.rsplit(':').next().unwrap_or(port);
    let bad = || err(format!("invalid containerPort: {port}"));
    let parse = |s: &str| s.parse::<u16>().map_err(|_| bad());
    let (start, end) = match port.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(port)?;
            (p, p)
        }
    };
    if end < start {
        return Err(bad());
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

fn check_signal(s: &str) -> Result<(), Error> {
    let invalid = || err(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i64>() {
        return if n == 0 { Err(invalid()) } else { Ok(()) };
    }
    let upper = s.to_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let realtime = |base: &str, sign: char| -> bool {
        match name.strip_prefix(base) {
            Some("") => true,
            Some(off) => off
                .strip_prefix(sign)
                .and_then(|n| n.parse::<u8>().ok())
                .is_some_and(|n| (1..=15).contains(&n) || (sign == '-' && n == 14)),
            None => false,
        }
    };
    if SIGNALS.contains(&name) || realtime("RTMIN", '+') || realtime("RTMAX", '-') {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// dockerd's `normalizeWorkdir` on Linux: relative paths join the current
/// working directory (and are cleaned); absolute ones are kept as written.
fn normalize_workdir(current: &str, requested: &str) -> Result<String, Error> {
    if requested.is_empty() {
        return Err(err("cannot normalize nothing"));
    }
    if requested.starts_with('/') {
        return Ok(requested.to_string());
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in current.split('/').chain(requested.split('/')) {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The shell lexer's `ProcessWord`: quote removal, escapes and `$VAR`,
/// `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`
/// expansion against `env` (`KEY=value` entries, the last one wins).
fn process_word(word: &str, env: &[String]) -> Result<String, Error> {
    let lookup = |name: &str| -> Option<String> {
        env.iter().rev().find_map(|e| match e.split_once('=') {
            Some((k, v)) if k == name => Some(v.to_string()),
            _ => None,
        })
    };
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '\'' => {
                let end = chars[i..].iter().position(|&c| c == '\'').ok_or_else(|| {
                    err("unexpected end of statement while looking for matching single-quote")
                })?;
                out.extend(&chars[i..i + end]);
                i += end + 1;
            }
            '"' => loop {
                let Some(&c) = chars.get(i) else {
                    return Err(err(
                        "unexpected end of statement while looking for matching double-quote",
                    ));
                };
                i += 1;
                match c {
                    '"' => break,
                    '\\' if matches!(chars.get(i), Some('"' | '$' | '\\')) => {
                        out.push(chars[i]);
                        i += 1;
                    }
                    '$' => i = expand_var(&chars, i, &lookup, env, &mut out)?,
                    c => out.push(c),
                }
            },
            '\\' => {
                if let Some(&c) = chars.get(i) {
                    out.push(c);
                    i += 1;
                }
            }
            '$' => i = expand_var(&chars, i, &lookup, env, &mut out)?,
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Expands the variable after a `$` at `chars[i..]`; returns the index after
/// it.
fn expand_var(
    chars: &[char],
    i: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    env: &[String],
    out: &mut String,
) -> Result<usize, Error> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.get(i) {
        Some('{') => {
            let close = chars[i..]
                .iter()
                .position(|&c| c == '}')
                .ok_or_else(|| err("missing '}'"))?;
            let inner: String = chars[i + 1..i + close].iter().collect();
            let name_len = inner.find(|c: char| !is_name(c)).unwrap_or(inner.len());
            let (name, modifier) = inner.split_at(name_len);
            let value = lookup(name);
            let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
            let text = match modifier {
                "" => value.unwrap_or_default(),
                m if m.starts_with(":-") => {
                    if set_nonempty {
                        value.unwrap_or_default()
                    } else {
                        process_word(&m[2..], env)?
                    }
                }
                m if m.starts_with('-') => match value {
                    Some(v) => v,
                    None => process_word(&m[1..], env)?,
                },
                m if m.starts_with(":+") => {
                    if set_nonempty {
                        process_word(&m[2..], env)?
                    } else {
                        String::new()
                    }
                }
                m if m.starts_with('+') => {
                    if value.is_some() {
                        process_word(&m[1..], env)?
                    } else {
                        String::new()
                    }
                }
                m => return Err(err(format!("unsupported modifier ({m}) in substitution"))),
            };
            out.push_str(&text);
            Ok(i + close + 1)
        }
        Some(&c) if is_name(c) => {
            let len = chars[i..].iter().take_while(|&&c| is_name(c)).count();
            let name: String = chars[i..i + len].iter().collect();
            out.push_str(&lookup(&name).unwrap_or_default());
            Ok(i + len)
        }
        _ => {
            out.push('$');
            Ok(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(config: &ContainerConfig, changes: &[&str]) -> Result<ContainerConfig, Error> {
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(config, &changes)
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let base = ContainerConfig::default();
        let c = apply(&base, &[r#"CMD ["a","b"]"#]).unwrap();
        assert_eq!(c.cmd, Some(strings(&["a", "b"])));
        let c = apply(&base, &["CMD a b"]).unwrap();
        assert_eq!(c.cmd, Some(strings(&["/bin/sh", "-c", "a b"])));
        let shell = ContainerConfig {
            shell: Some(strings(&["/bin/bash", "-lc"])),
            cmd: Some(strings(&["old"])),
            ..Default::default()
        };
        let c = apply(&shell, &["entrypoint echo hi"]).unwrap();
        assert_eq!(
            c.entrypoint,
            Some(strings(&["/bin/bash", "-lc", "echo hi"]))
        );
        assert_eq!(c.cmd, None, "ENTRYPOINT resets CMD");
        let c = apply(&shell, &["CMD [\"x\"]", "ENTRYPOINT [\"/e\"]"]).unwrap();
        assert_eq!(c.cmd, Some(strings(&["x"])), "an earlier CMD survives");
        // Not a JSON array of strings: shell form.
        let c = apply(&base, &["CMD [oops"]).unwrap();
        assert_eq!(c.cmd, Some(strings(&["/bin/sh", "-c", "[oops"])));
        let c = apply(&base, &["CMD []"]).unwrap();
        assert_eq!(c.cmd, Some(vec![]));
    }

    #[test]
    fn env_label_forms_and_expansion() {
        let base = ContainerConfig {
            env: Some(strings(&["PATH=/bin", "A=1"])),
            ..Default::default()
        };
        let c = apply(
            &base,
            &[
                "ENV A=2 B=\"two words\" C=$PATH:/x",
                "ENV D the rest of it",
                "LABEL version=1.0 \"com.example.k\"='v w' E=${A}",
                "label old style",
            ],
        )
        .unwrap();
        assert_eq!(
            c.env,
            Some(strings(&[
                "PATH=/bin",
                "A=2",
                "B=two words",
                "C=/bin:/x",
                "D=the rest of it"
            ]))
        );
        let labels = c.labels.unwrap();
        assert_eq!(labels["version"], "1.0");
        assert_eq!(labels["com.example.k"], "v w");
        assert_eq!(labels["E"], "2", "expansion sees the env of earlier lines");
        assert_eq!(labels["old"], "style");
        let c = apply(&base, &["ENV X=${UNSET:-dflt} Y=${A:+set} Z=\\$A"]).unwrap();
        assert!(c
            .env
            .unwrap()
            .ends_with(&strings(&["X=dflt", "Y=set", "Z=$A"])));
    }

    #[test]
    fn expose_volume_user_workdir_stopsignal_onbuild() {
        let base = ContainerConfig {
            working_dir: Some("/app".into()),
            ..Default::default()
        };
        let c = apply(
            &base,
            &[
                "EXPOSE 80 53/UDP 8000-8001",
                "VOLUME [\"/a\", \"/b\"]",
                "VOLUME /c /d",
                "USER nobody:nogroup",
                "WORKDIR sub/../src",
                "STOPSIGNAL SIGKILL",
                "ONBUILD RUN echo  hi",
            ],
        )
        .unwrap();
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(
            ports,
            strings(&["53/udp", "80/tcp", "8000/tcp", "8001/tcp"])
        );
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, strings(&["/a", "/b", "/c", "/d"]));
        assert_eq!(c.user.as_deref(), Some("nobody:nogroup"));
        assert_eq!(c.working_dir.as_deref(), Some("/app/src"));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGKILL"));
        assert_eq!(c.on_build, Some(strings(&["RUN echo  hi"])));
        let c = apply(&base, &["WORKDIR /abs/./x"]).unwrap();
        assert_eq!(c.working_dir.as_deref(), Some("/abs/./x"));
        for sig in ["9", "TERM", "sigrtmin+3", "SIGRTMAX-14", "RTMAX"] {
            assert!(
                apply(&base, &[&format!("STOPSIGNAL {sig}")]).is_ok(),
                "{sig}"
            );
        }
    }

    #[test]
    fn healthcheck() {
        let base = ContainerConfig::default();
        let c = apply(
            &base,
            &["HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD curl -f http://x/"],
        )
        .unwrap();
        let hc = c.healthcheck.unwrap();
        assert_eq!(hc.test, Some(strings(&["CMD-SHELL", "curl -f http://x/"])));
        assert_eq!(hc.interval, Some(30_000_000_000));
        assert_eq!(hc.timeout, Some(90_000_000_000));
        assert_eq!(hc.retries, Some(3));
        assert_eq!(hc.start_period, None);
        let c = apply(&base, &["HEALTHCHECK CMD [\"/ok\"]"]).unwrap();
        assert_eq!(c.healthcheck.unwrap().test, Some(strings(&["CMD", "/ok"])));
        let c = apply(&base, &["HEALTHCHECK NONE"]).unwrap();
        assert_eq!(c.healthcheck.unwrap().test, Some(strings(&["NONE"])));
        let e = |s: &str| apply(&base, &[s]).unwrap_err().to_string();
        assert_eq!(
            e("HEALTHCHECK NONE x"),
            "HEALTHCHECK NONE takes no arguments"
        );
        assert_eq!(
            e("HEALTHCHECK FOO x"),
            "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"
        );
        assert_eq!(
            e("HEALTHCHECK CMD"),
            "Missing command after HEALTHCHECK CMD"
        );
        assert_eq!(
            e("HEALTHCHECK --interval=10us CMD x"),
            "Interval \"interval\" cannot be less than 1ms"
        );
        assert_eq!(
            e("HEALTHCHECK --retries=-1 CMD x"),
            "--retries cannot be negative (-1)"
        );
        assert_eq!(
            e("HEALTHCHECK --interval=5 CMD x"),
            "time: missing unit in duration \"5\""
        );
    }

    #[test]
    fn continuations_and_comments() {
        let c = apply(
            &ContainerConfig::default(),
            &[
                "# a comment",
                "ENV A=1 \\",
                "  B=2",
                "",
                "CMD echo \\",
                "hi",
            ],
        )
        .unwrap();
        assert_eq!(c.env, Some(strings(&["A=1", "B=2"])));
        assert_eq!(c.cmd, Some(strings(&["/bin/sh", "-c", "echo hi"])));
    }

    #[test]
    fn errors_use_dockerd_texts_and_leave_config_alone() {
        let base = ContainerConfig {
            user: Some("root".into()),
            ..Default::default()
        };
        let e = |changes: &[&str]| apply(&base, changes).unwrap_err().to_string();
        assert_eq!(
            e(&["USER x", "FROM busybox"]),
            "from is not a valid change command"
        );
        assert_eq!(e(&["RUN true"]), "run is not a valid change command");
        assert_eq!(e(&["ENV"]), "ENV requires at least one argument");
        assert_eq!(e(&["ENV A"]), "ENV must have two arguments");
        assert_eq!(
            e(&["LABEL a=1 b"]),
            "Syntax error - can't find = in \"b\". Must be of the form: name=value"
        );
        assert_eq!(e(&["ENV =x"]), "ENV names can not be blank");
        assert_eq!(e(&["USER"]), "USER requires exactly one argument");
        assert_eq!(e(&["EXPOSE"]), "EXPOSE requires at least one argument");
        assert_eq!(e(&["EXPOSE abc"]), "invalid containerPort: abc");
        assert_eq!(e(&["EXPOSE 80/xyz"]), "invalid proto: xyz");
        assert_eq!(
            e(&["VOLUME [\"\"]"]),
            "VOLUME specified can not be an empty string"
        );
        assert_eq!(e(&["STOPSIGNAL SIGNOPE"]), "Invalid signal: SIGNOPE");
        assert_eq!(
            e(&["ONBUILD ONBUILD RUN x"]),
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
        );
        assert_eq!(
            e(&["ONBUILD FROM x"]),
            "FROM isn't allowed as an ONBUILD trigger"
        );
        assert_eq!(base.user.as_deref(), Some("root"));
        assert_eq!(apply(&base, &[]).unwrap(), base);
    }

    #[test]
    fn parse_changes_exposes_instructions() {
        let parsed = parse_changes(&strings(&["cmd [\"a\"]", "Expose 80"])).unwrap();
        assert_eq!(
            parsed,
            vec![
                Change::Cmd(CmdLine {
                    args: strings(&["a"]),
                    shell: false
                }),
                Change::Expose(strings(&["80"]))
            ]
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h2m3.5s").unwrap(), 3_723_500_000_000);
        assert_eq!(parse_go_duration("0").unwrap(), 0);
        assert_eq!(parse_go_duration("-1.5ms").unwrap(), -1_500_000);
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("3x").is_err());
    }
}
