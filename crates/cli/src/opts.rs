//! Value parsers of docker's container flags (docker/cli `opts`, go-units,
//! go-connections `nat`), with the error texts docker prints. Each `check_*`
//! has the shape of a flag validator ([`crate::args::FlagSpec::check`]).

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Go's `strconv.ParseInt(s, 0, 64)` (base prefixes `0x`, `0o`, `0b`, `0`).
pub fn parse_go_int(s: &str) -> Result<i64, String> {
    let syntax = || format!("strconv.ParseInt: parsing \"{s}\": invalid syntax");
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    // Underscores are allowed only with a base prefix, between digits.
    let digits = if radix != 10 && lower.len() > 1 {
        if digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
            return Err(syntax());
        }
        digits.replace('_', "")
    } else {
        digits
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(syntax());
    }
    let v = i128::from_str_radix(&digits, radix).map_err(|_| syntax())?;
    let v = if neg { -v } else { v };
    i64::try_from(v).map_err(|_| format!("strconv.ParseInt: parsing \"{s}\": value out of range"))
}

pub fn check_int(s: &str) -> Result<(), String> {
    parse_go_int(s).map(|_| ())
}

/// go-units `RAMInBytes`: binary multiples, suffixes `b`, `k`, `kb`, `kib`, ….
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(format!("invalid size: '{s}'"));
    };
    let (num, sfx) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..sep + 1], &s[sep + 1..])
    };
    let size = parse_go_float(num)?;
    if size < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad = |x: &str| Err(format!("invalid suffix: '{x}'"));
    if sfx.len() > 3 {
        return bad(sfx);
    }
    let lower = sfx.to_ascii_lowercase();
    let b = lower.as_bytes();
    if b[0] == b'b' {
        return if b.len() > 1 {
            bad(&lower)
        } else {
            Ok(size as i64)
        };
    }
    let mult: f64 = match b[0] {
        b'k' => 1024.0,
        b'm' => 1024.0 * 1024.0,
        b'g' => 1024.0 * 1024.0 * 1024.0,
        b't' => 1024f64.powi(4),
        b'p' => 1024f64.powi(5),
        _ => return bad(&lower),
    };
    if (b.len() == 2 && b[1] != b'b') || (b.len() == 3 && &lower[1..] != "ib") {
        return bad(&lower);
    }
    Ok((size * mult) as i64)
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms sizes use.
fn parse_go_float(s: &str) -> Result<f64, String> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && s.chars().filter(|&c| c == '.').count() <= 1;
    match s.parse::<f64>() {
        Ok(v) if ok => Ok(v),
        _ => Err(format!(
            "strconv.ParseFloat: parsing \"{s}\": invalid syntax"
        )),
    }
}

pub fn check_bytes(s: &str) -> Result<(), String> {
    ram_in_bytes(s).map(|_| ())
}

/// `--memory-swap`: `-1` means unlimited, anything else is a size.
pub fn mem_swap_bytes(s: &str) -> Result<i64, String> {
    if s == "-1" {
        Ok(-1)
    } else {
        ram_in_bytes(s)
    }
}

pub fn check_swap(s: &str) -> Result<(), String> {
    mem_swap_bytes(s).map(|_| ())
}

/// `--cpus` as docker's `NanoCPUs`: an exact rational times 1e9, which must be whole.
pub fn nano_cpus(s: &str) -> Result<i64, String> {
    let fail = || format!("failed to parse {s} as a rational number");
    // big.Rat's SetString: `a/b` or a decimal with an optional exponent.
    let (num, den): (i128, i128) = if let Some((a, b)) = s.split_once('/') {
        let a: i128 = a.parse().map_err(|_| fail())?;
        let b: i128 = b.parse().map_err(|_| fail())?;
        if b == 0 {
            return Err(fail());
        }
        (a * 1_000_000_000, b)
    } else {
        let (mant, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().map_err(|_| fail())?),
            None => (s, 0),
        };
        let (neg, mant) = match mant.strip_prefix('-') {
            Some(m) => (true, m),
            None => (false, mant.strip_prefix('+').unwrap_or(mant)),
        };
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
        {
            return Err(fail());
        }
        let digits = format!("{int}{frac}");
        let mut n: i128 = digits.parse().map_err(|_| fail())?;
        if neg {
            n = -n;
        }
        // value = n * 10^(exp - frac.len()); times 1e9.
        let scale = exp + 9 - frac.len() as i32;
        if scale >= 0 {
            let m = 10i128
                .checked_pow(scale as u32)
                .ok_or_else(|| "value is too big".to_string())?;
            (
                n.checked_mul(m)
                    .ok_or_else(|| "value is too big".to_string())?,
                1,
            )
        } else {
            (n, 10i128.checked_pow((-scale) as u32).ok_or_else(fail)?)
        }
    };
    if num % den != 0 {
        return Err("value is too precise".to_string());
    }
    i64::try_from(num / den).map_err(|_| "value is too big".to_string())
}

pub fn check_cpus(s: &str) -> Result<(), String> {
    nano_cpus(s).map(|_| ())
}

const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// go-units `ParseUlimit`: `name=soft[:hard]`.
pub fn parse_ulimit(s: &str) -> Result<(String, i64, i64), String> {
    let Some((name, vals)) = s.split_once('=') else {
        return Err(format!("invalid ulimit argument: {s}"));
    };
    if !ULIMIT_NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let parse = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| format!("strconv.ParseInt: parsing \"{v}\": invalid syntax"))
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let v = parse(vals)?;
            (v, v)
        }
    };
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok((name.to_string(), soft, hard))
}

pub fn check_ulimit(s: &str) -> Result<(), String> {
    parse_ulimit(s).map(|_| ())
}

/// docker's `ValidateEnv`: a name without a value takes the client's value if set.
pub fn validate_env(s: &str) -> Result<String, String> {
    let (k, has_value) = match s.split_once('=') {
        Some((k, _)) => (k, true),
        None => (s, false),
    };
    if k.is_empty() {
        return Err(format!("invalid environment variable: {s}"));
    }
    if has_value {
        return Ok(s.to_string());
    }
    Ok(match std::env::var(k) {
        Ok(v) => format!("{k}={v}"),
        Err(_) => s.to_string(),
    })
}

pub fn check_env(s: &str) -> Result<(), String> {
    validate_env(s).map(|_| ())
}

pub fn check_label(s: &str) -> Result<(), String> {
    if s.split_once('=').is_some_and(|(k, _)| k.is_empty()) {
        return Err(format!("invalid label '{s}': empty name"));
    }
    Ok(())
}

/// docker's `ValidateIPAddress`.
pub fn check_ip(s: &str) -> Result<(), String> {
    s.trim()
        .parse::<IpAddr>()
        .map(|_| ())
        .map_err(|_| format!("IP address is not correctly formatted: {s}"))
}

/// docker's `ValidateExtraHost`; returns the `host:ip` form the API takes.
pub fn extra_host(s: &str) -> Result<String, String> {
    let split = s.split_once('=').or_else(|| s.split_once(':'));
    let Some((k, v)) = split.filter(|(k, _)| !k.is_empty() && !k.contains(':')) else {
        return Err(format!("bad format for add-host: {s:?}"));
    };
    let mut ip = v;
    if ip != "host-gateway" {
        if ip.len() > 2 && ip.starts_with('[') && ip.ends_with(']') {
            ip = &ip[1..ip.len() - 1];
        }
        if ip.parse::<IpAddr>().is_err() {
            return Err(format!("invalid IP address in add-host: {ip:?}"));
        }
    }
    Ok(format!("{k}:{ip}"))
}

pub fn check_extra_host(s: &str) -> Result<(), String> {
    extra_host(s).map(|_| ())
}

/// docker's `ValidateSysctl`: IPC and network namespaced keys only.
pub fn check_sysctl(s: &str) -> Result<(), String> {
    const KEYS: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let allowed = s.split_once('=').is_some_and(|(k, _)| {
        KEYS.contains(&k) || k.starts_with("fs.mqueue.") || k.starts_with("net.")
    });
    if allowed {
        Ok(())
    } else {
        Err(format!("sysctl '{s}' is not allowed"))
    }
}

pub fn check_attach(s: &str) -> Result<(), String> {
    match s.to_ascii_lowercase().as_str() {
        "stdin" | "stdout" | "stderr" => Ok(()),
        _ => Err("valid streams are STDIN, STDOUT and STDERR".to_string()),
    }
}

/// `--restart`: `name[:max-retries]`.
pub fn restart_policy(s: &str) -> Result<Option<(String, Option<i64>)>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let (k, v) = s.split_once(':').unwrap_or((s, ""));
    if s.contains(':') && k.is_empty() {
        return Err("invalid restart policy format: no policy provided before colon".into());
    }
    let count = if v.is_empty() {
        None
    } else {
        Some(v.parse::<i64>().map_err(|_| {
            "invalid restart policy format: maximum retry count must be an integer".to_string()
        })?)
    };
    Ok(Some((k.to_string(), count)))
}

/// One published port as the API takes it: container `port/proto` and its binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub port: String,
    pub host_ip: String,
    pub host_port: String,
}

fn port_range(s: &str) -> Result<(u64, u64), ()> {
    if s.is_empty() {
        return Err(());
    }
    let p = |x: &str| x.parse::<u16>().map(u64::from).map_err(|_| ());
    match s.split_once('-') {
        None => {
            let v = p(s)?;
            Ok((v, v))
        }
        Some((a, b)) => {
            let (a, b) = (p(a)?, p(b)?);
            if b < a {
                Err(())
            } else {
                Ok((a, b))
            }
        }
    }
}

/// go-connections `nat.ParsePortSpec`: `[ip:][hostPort:]containerPort[/proto]`.
pub fn parse_port_spec(raw: &str) -> Result<Vec<PortMapping>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let (mut ip, host_port, container) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        3 => (parts[0].to_string(), parts[1], parts[2]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (container, proto) = match container.split_once('/') {
        Some((c, p)) => (c, p.to_string()),
        None => (container, "tcp".to_string()),
    };
    if ip.starts_with('[') {
        match ip.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Some(inner) => ip = inner.to_string(),
            None => return Err(format!("invalid IP address {ip}: missing ']' in address")),
        }
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) =
        port_range(container).map_err(|_| format!("invalid containerPort: {container}"))?;
    let (hstart, hend) = if host_port.is_empty() {
        (0, 0)
    } else {
        port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?
    };
    if !host_port.is_empty() && end - start != hend - hstart && end != start {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {container} and {host_port}"
        ));
    }
    let proto = proto.to_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let mut out = Vec::new();
    for i in 0..=(end - start) {
        let mut hp = if host_port.is_empty() {
            String::new()
        } else {
            (hstart + i).to_string()
        };
        if start == end && hstart != hend {
            hp = format!("{hp}-{hend}");
        }
        out.push(PortMapping {
            port: format!("{}/{proto}", start + i),
            host_ip: ip.clone(),
            host_port: hp,
        });
    }
    Ok(out)
}

/// `--expose`: `port[-port][/proto]` into `port/proto` keys.
pub fn parse_expose(raw: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match raw.split_once('/') {
        Some((p, pr)) => (p, pr),
        None => (raw, "tcp"),
    };
    let (start, end) =
        port_range(ports).map_err(|_| format!("invalid range format for --expose: {raw}"))?;
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// A `--mount` value as the API's `Mount` object.
pub fn parse_mount(s: &str) -> Result<serde_json::Value, String> {
    use serde_json::{json, Map, Value};
    let mut m = Map::new();
    let mut ty = "volume".to_string();
    let mut bind = Map::new();
    let mut volume = Map::new();
    let mut tmpfs = Map::new();
    let bool_val = |k: &str, v: &str| -> Result<bool, String> {
        match v.to_ascii_lowercase().as_str() {
            "" | "1" | "true" => Ok(true),
            "0" | "false" => Ok(false),
            _ => Err(format!("invalid value for {k}: {v}")),
        }
    };
    for field in s.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim()),
            None => {
                let k = field.trim().to_ascii_lowercase();
                match k.as_str() {
                    "readonly" | "ro" => {
                        m.insert("ReadOnly".into(), json!(true));
                        continue;
                    }
                    "volume-nocopy" => {
                        volume.insert("NoCopy".into(), json!(true));
                        continue;
                    }
                    "bind-nonrecursive" => {
                        bind.insert("NonRecursive".into(), json!(true));
                        continue;
                    }
                    _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
                }
            }
        };
        match k.as_str() {
            "type" => ty = v.to_ascii_lowercase(),
            "source" | "src" => {
                m.insert("Source".into(), json!(v));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(v));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(bool_val(&k, v)?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(v));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(v.to_lowercase()));
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), json!(bool_val(&k, v)?));
            }
            "volume-nocopy" => {
                volume.insert("NoCopy".into(), json!(bool_val(&k, v)?));
            }
            "volume-subpath" => {
                volume.insert("Subpath".into(), json!(v));
            }
            "volume-driver" => {
                volume.insert("DriverConfig".into(), json!({ "Name": v }));
            }
            "volume-label" => {
                let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                let labels = volume.entry("Labels").or_insert_with(|| json!({}));
                labels[lk] = json!(lv);
            }
            "volume-opt" => {
                let (ok, ov) = v.split_once('=').unwrap_or((v, ""));
                let dc = volume
                    .entry("DriverConfig")
                    .or_insert_with(|| json!({ "Name": "" }));
                if dc.get("Options").is_none() {
                    dc["Options"] = json!({});
                }
                dc["Options"][ok] = json!(ov);
            }
            "tmpfs-size" => {
                let n = ram_in_bytes(v).map_err(|_| format!("invalid value for {k}: {v}"))?;
                tmpfs.insert("SizeBytes".into(), json!(n));
            }
            "tmpfs-mode" => {
                let n =
                    u32::from_str_radix(v, 8).map_err(|_| format!("invalid value for {k}: {v}"))?;
                tmpfs.insert("Mode".into(), json!(n));
            }
            _ => return Err(format!("unexpected key '{k}' in '{field}'")),
        }
    }
    if m.get("Target")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("target is required".to_string());
    }
    if !bind.is_empty() && ty != "bind" {
        return Err(format!(
            "cannot mix 'bind-*' options with mount type '{ty}'"
        ));
    }
    if !volume.is_empty() && ty != "volume" {
        return Err(format!(
            "cannot mix 'volume-*' options with mount type '{ty}'"
        ));
    }
    if !tmpfs.is_empty() && ty != "tmpfs" {
        return Err(format!(
            "cannot mix 'tmpfs-*' options with mount type '{ty}'"
        ));
    }
    m.insert("Type".into(), json!(ty));
    if !bind.is_empty() {
        m.insert("BindOptions".into(), Value::Object(bind));
    }
    if !volume.is_empty() {
        m.insert("VolumeOptions".into(), Value::Object(volume));
    }
    if !tmpfs.is_empty() {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    Ok(Value::Object(m))
}

pub fn check_mount(s: &str) -> Result<(), String> {
    parse_mount(s).map(|_| ())
}

/// docker's `parseSecurityOpts`: a seccomp profile path is read and inlined.
pub fn security_opts(opts: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for opt in opts {
        let mut kv = opt.split_once('=');
        if kv.is_none() && opt != "no-new-privileges" {
            kv = opt.split_once(':');
        }
        let (k, v) = kv.unwrap_or((opt.as_str(), ""));
        if v.is_empty() && k != "no-new-privileges" {
            return Err(format!("Invalid --security-opt: {opt:?}"));
        }
        if k == "seccomp" && v != "builtin" && v != "unconfined" {
            let bytes = std::fs::read(v).map_err(|e| {
                format!(
                    "opening seccomp profile ({v}) failed: open {v}: {}",
                    crate::error::go_errno_text(&e)
                )
            })?;
            let compact = serde_json::from_slice::<serde_json::Value>(&bytes)
                .map(|_| crate::util::json_compact(&bytes))
                .map_err(|e| format!("compacting json for seccomp profile ({v}) failed: {e}"))?;
            out.push(format!("seccomp={compact}"));
        } else {
            out.push(opt.clone());
        }
    }
    Ok(out)
}

/// docker's `ReadKVStrings`-style files (`--env-file`, `--label-file`): one
/// `KEY=value` per line, `#` comments; with `lookup`, a bare name takes the
/// client's environment value if it has one.
pub fn read_kv_file(path: &str, lookup: bool) -> Result<Vec<String>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("open {path}: {}", crate::error::go_errno_text(&e)))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("env file {path} contains invalid utf8 bytes"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (line, None),
        };
        let name = name.trim_start();
        if name.is_empty() {
            return Err(format!("no variable name on line '{line}'"));
        }
        if name.contains(char::is_whitespace) {
            return Err(format!("variable '{name}' contains whitespaces"));
        }
        match value {
            Some(v) => out.push(format!("{name}={v}")),
            None if lookup => {
                if let Ok(v) = std::env::var(name) {
                    out.push(format!("{name}={v}"));
                }
            }
            None => out.push(name.to_string()),
        }
    }
    Ok(out)
}

/// `KEY=value` strings as a map; a bare key maps to `""`.
pub fn kv_map(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

/// moby/term `ToBytes`: `ctrl-p,ctrl-q` or single characters into key codes.
pub fn detach_keys(keys: &str) -> Result<Vec<u8>, String> {
    let mut codes = Vec::new();
    for key in keys.split(',') {
        let chars: Vec<char> = key.chars().collect();
        if chars.len() == 1 && chars[0].is_ascii() {
            codes.push(chars[0] as u8);
            continue;
        }
        let ctrl = key
            .strip_prefix("ctrl-")
            .filter(|r| r.chars().count() == 1)
            .and_then(|r| r.chars().next())
            .and_then(|c| match c.to_ascii_lowercase() {
                c @ 'a'..='z' => Some(c as u8 - b'a' + 1),
                '@' => Some(0),
                '[' => Some(27),
                '\\' => Some(28),
                ']' => Some(29),
                '^' => Some(30),
                '_' => Some(31),
                _ => None,
            });
        match ctrl {
            Some(c) => codes.push(c),
            None => return Err(format!("Unknown character: '{key}'")),
        }
    }
    Ok(codes)
}

/// The default detach sequence, ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: [u8; 2] = [16, 17];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_ints() {
        assert_eq!(parse_go_int("10"), Ok(10));
        assert_eq!(parse_go_int("0x10"), Ok(16));
        assert_eq!(parse_go_int("-010"), Ok(-8));
        assert_eq!(
            parse_go_int("1.5"),
            Err("strconv.ParseInt: parsing \"1.5\": invalid syntax".into())
        );
        assert_eq!(
            parse_go_int("99999999999999999999"),
            Err("strconv.ParseInt: parsing \"99999999999999999999\": value out of range".into())
        );
    }

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(ram_in_bytes("1.5g"), Ok(1_610_612_736));
        assert_eq!(ram_in_bytes("1KiB"), Ok(1024));
        assert_eq!(ram_in_bytes("64m"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("10"), Ok(10));
        assert_eq!(ram_in_bytes("10 MB"), Ok(10 << 20));
        assert_eq!(ram_in_bytes("1x"), Err("invalid suffix: 'x'".into()));
        assert_eq!(ram_in_bytes("1kbb"), Err("invalid suffix: 'kbb'".into()));
        assert_eq!(ram_in_bytes("x"), Err("invalid size: 'x'".into()));
        assert_eq!(ram_in_bytes("-1"), Err("invalid size: '-1'".into()));
        assert_eq!(
            ram_in_bytes("1..2"),
            Err("strconv.ParseFloat: parsing \"1..2\": invalid syntax".into())
        );
        assert_eq!(mem_swap_bytes("-1"), Ok(-1));
    }

    #[test]
    fn cpus() {
        assert_eq!(nano_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(nano_cpus("3/2"), Ok(1_500_000_000));
        assert_eq!(nano_cpus("-1"), Ok(-1_000_000_000));
        assert_eq!(nano_cpus("2e-1"), Ok(200_000_000));
        assert_eq!(
            nano_cpus("1x"),
            Err("failed to parse 1x as a rational number".into())
        );
        assert_eq!(
            nano_cpus("1.0000000001"),
            Err("value is too precise".into())
        );
    }

    #[test]
    fn ulimits() {
        assert_eq!(
            parse_ulimit("nofile=1024:2048"),
            Ok(("nofile".into(), 1024, 2048))
        );
        assert_eq!(parse_ulimit("nproc=5"), Ok(("nproc".into(), 5, 5)));
        assert_eq!(
            parse_ulimit("nofile"),
            Err("invalid ulimit argument: nofile".into())
        );
        assert_eq!(
            parse_ulimit("foo=1"),
            Err("invalid ulimit type: foo".into())
        );
        assert_eq!(
            parse_ulimit("nofile=2:1"),
            Err("ulimit soft limit must be less than or equal to hard limit: 2 > 1".into())
        );
    }

    #[test]
    fn ports_like_nat() {
        assert_eq!(
            parse_port_spec("8080:80"),
            Ok(vec![PortMapping {
                port: "80/tcp".into(),
                host_ip: String::new(),
                host_port: "8080".into()
            }])
        );
        let v = parse_port_spec("127.0.0.1::53/UDP").unwrap();
        assert_eq!(v[0].port, "53/udp");
        assert_eq!(v[0].host_ip, "127.0.0.1");
        assert_eq!(v[0].host_port, "");
        let v = parse_port_spec("[::1]:80:80").unwrap();
        assert_eq!(v[0].host_ip, "::1");
        let v = parse_port_spec("1000-1001:2000-2001").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].port, "2001/tcp");
        assert_eq!(v[1].host_port, "1001");
        assert_eq!(
            parse_port_spec("8000-8010:80").unwrap()[0].host_port,
            "8000-8010"
        );
        assert_eq!(
            parse_port_spec("99999:80"),
            Err("invalid hostPort: 99999".into())
        );
        assert_eq!(
            parse_port_spec("abc"),
            Err("invalid containerPort: abc".into())
        );
        assert_eq!(
            parse_port_spec("1:2:3:4"),
            Err("invalid IP address: 1:2".into())
        );
        assert_eq!(
            parse_port_spec("80:80:80"),
            Err("invalid IP address: 80".into())
        );
        assert_eq!(
            parse_port_spec("8080:80/xyz"),
            Err("invalid proto: xyz".into())
        );
        assert_eq!(
            parse_port_spec("1-3:4-5"),
            Err("invalid ranges specified for container and host Ports: 4-5 and 1-3".into())
        );
        assert_eq!(
            parse_expose("80-81/udp"),
            Ok(vec!["80/udp".into(), "81/udp".into()])
        );
    }

    #[test]
    fn mounts() {
        let m = parse_mount("type=bind,src=/a,target=/b,readonly").unwrap();
        assert_eq!(
            m,
            serde_json::json!({"Source": "/a", "Target": "/b", "ReadOnly": true, "Type": "bind"})
        );
        let m = parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777").unwrap();
        assert_eq!(m["TmpfsOptions"]["SizeBytes"], 1 << 20);
        assert_eq!(m["TmpfsOptions"]["Mode"], 0o1777);
        assert_eq!(parse_mount("type=foo"), Err("target is required".into()));
        assert_eq!(
            parse_mount("type=bind,src=/a,target=/x,foo=1"),
            Err("unexpected key 'foo' in 'foo=1'".into())
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/x,tmpfs-size=1x"),
            Err("invalid value for tmpfs-size: 1x".into())
        );
        assert_eq!(
            parse_mount("target=/a,readonly=x"),
            Err("invalid value for readonly: x".into())
        );
    }

    #[test]
    fn small_validators() {
        assert_eq!(extra_host("a:1.2.3.4"), Ok("a:1.2.3.4".into()));
        assert_eq!(extra_host("a=[::1]"), Ok("a:::1".into()));
        assert_eq!(extra_host("gw:host-gateway"), Ok("gw:host-gateway".into()));
        assert_eq!(
            extra_host("foo"),
            Err("bad format for add-host: \"foo\"".into())
        );
        assert_eq!(
            extra_host("foo:bar"),
            Err("invalid IP address in add-host: \"bar\"".into())
        );
        assert_eq!(
            check_ip("1.2"),
            Err("IP address is not correctly formatted: 1.2".into())
        );
        assert!(check_sysctl("net.ipv4.ip_forward=1").is_ok());
        assert_eq!(check_sysctl("a"), Err("sysctl 'a' is not allowed".into()));
        assert!(check_attach("STDOUT").is_ok());
        assert!(check_attach("foo").is_err());
        assert_eq!(
            validate_env("=x"),
            Err("invalid environment variable: =x".into())
        );
        assert_eq!(validate_env("A=b"), Ok("A=b".into()));
        assert_eq!(
            validate_env("BERTH_SURELY_UNSET_VAR"),
            Ok("BERTH_SURELY_UNSET_VAR".into())
        );
        assert_eq!(
            check_label("=a"),
            Err("invalid label '=a': empty name".into())
        );
        assert_eq!(
            restart_policy("on-failure:3"),
            Ok(Some(("on-failure".into(), Some(3))))
        );
        assert_eq!(restart_policy(""), Ok(None));
        assert!(restart_policy("on-failure:x").is_err());
        assert!(restart_policy(":3").is_err());
        assert_eq!(
            security_opts(&["foo".into()]),
            Err("Invalid --security-opt: \"foo\"".into())
        );
        assert_eq!(
            security_opts(&["no-new-privileges".into(), "label=disable".into()])
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn detach_key_codes() {
        assert_eq!(
            detach_keys("ctrl-p,ctrl-q"),
            Ok(DEFAULT_DETACH_KEYS.to_vec())
        );
        assert_eq!(detach_keys("a,ctrl-@,ctrl-["), Ok(vec![b'a', 0, 27]));
        assert_eq!(detach_keys("foo"), Err("Unknown character: 'foo'".into()));
    }

    #[test]
    fn kv_files() {
        let dir = std::env::temp_dir().join(format!("berth-cli-kv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("env");
        std::fs::write(&f, "# c\n\nA=1\n  B=two words\nBERTH_SURELY_UNSET_VAR\n").unwrap();
        let p = f.to_str().unwrap();
        assert_eq!(read_kv_file(p, true).unwrap(), vec!["A=1", "B=two words"]);
        assert_eq!(
            read_kv_file(p, false).unwrap(),
            vec!["A=1", "B=two words", "BERTH_SURELY_UNSET_VAR"]
        );
        std::fs::write(&f, "A B=1\n").unwrap();
        assert_eq!(
            read_kv_file(p, true),
            Err("variable 'A B' contains whitespaces".into())
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            read_kv_file("/nonexistent/x", true),
            Err("open /nonexistent/x: no such file or directory".into())
        );
        assert_eq!(kv_map(&["a=b".into(), "c".into()])["c"], "");
    }
}
