//! Go's `fmt` and `encoding/json` renderings of JSON values: `%v` printing
//! (`map[a:b]`, `[x y]`, `<nil>`), `%g`/`%e`/`%f` float formatting, `Printf`, and
//! the compact JSON encoder with Go's string escaping.

use serde_json::{Map, Number, Value};

/// Splits `|v|` into its decimal digits (no trailing zeros, at least one digit) and
/// the decimal exponent of the first digit. `sig` rounds to that many significant
/// digits (half to even on exact ties, like Go); `None` gives the shortest digits
/// that round-trip.
fn decimal_digits(v: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    let s = match sig {
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
        None => format!("{:e}", v.abs()),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    (digits, exp)
}

/// `d.ddde±XX` with exactly `decimals` fraction digits (Go pads the exponent to two).
fn fmt_e(digits: &[u8], exp: i32, decimals: usize, upper: bool) -> String {
    let mut out = String::new();
    out.push(digits[0] as char);
    if decimals > 0 {
        out.push('.');
        for i in 1..=decimals {
            out.push(*digits.get(i).unwrap_or(&b'0') as char);
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.unsigned_abs()));
    out
}

/// Fixed notation of the digits with `decimals` fraction digits; `dp` is the
/// position of the decimal point relative to the first digit.
fn fmt_f(digits: &[u8], dp: i32, decimals: usize) -> String {
    let digit = |i: i32| -> char {
        if i >= 0 && (i as usize) < digits.len() {
            digits[i as usize] as char
        } else {
            '0'
        }
    };
    let mut out = String::new();
    if dp > 0 {
        for i in 0..dp {
            out.push(digit(i));
        }
    } else {
        out.push('0');
    }
    if decimals > 0 {
        out.push('.');
        for i in 0..decimals as i32 {
            out.push(digit(dp + i));
        }
    }
    out
}

fn non_finite(v: f64, plus_inf: bool) -> Option<String> {
    if v.is_nan() {
        Some("NaN".to_string())
    } else if v.is_infinite() {
        Some(if v > 0.0 {
            if plus_inf { "+Inf" } else { "Inf" }.to_string()
        } else {
            "-Inf".to_string()
        })
    } else {
        None
    }
}

/// Go's `%g` (`precision` = `Some(n)` for `%.ng`, `None` for the shortest form that
/// `%v` uses). The sign is included.
pub(crate) fn format_g(v: f64, precision: Option<usize>, upper: bool) -> String {
    if let Some(s) = non_finite(v, true) {
        return s;
    }
    let (digits, exp) = decimal_digits(v, precision.map(|p| p.max(1)));
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let mut prec = match precision {
        Some(p) => p.max(1) as i32,
        None => nd,
    };
    let mut eprec = prec;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if precision.is_none() {
        eprec = 6;
    }
    let body = if exp < -4 || exp >= eprec {
        if prec > nd {
            prec = nd;
        }
        fmt_e(&digits, exp, (prec - 1).max(0) as usize, upper)
    } else {
        if prec > dp {
            prec = nd;
        }
        fmt_f(&digits, dp, (prec - dp).max(0) as usize)
    };
    if v.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

/// Go's `%e` with the given number of fraction digits (default 6).
fn format_e(v: f64, decimals: usize, upper: bool) -> String {
    if let Some(s) = non_finite(v, true) {
        return s;
    }
    let (digits, exp) = decimal_digits(v, Some(decimals + 1));
    let body = fmt_e(&digits, if v == 0.0 { 0 } else { exp }, decimals, upper);
    if v.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

/// Go's `%f` with the given number of fraction digits (default 6).
fn format_f(v: f64, decimals: usize) -> String {
    non_finite(v, true).unwrap_or_else(|| format!("{v:.decimals$}"))
}

/// Go's `%v` of a number: integers plainly, floats in shortest `%g`.
pub(crate) fn number_v(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        n.to_string()
    } else {
        format_g(n.as_f64().unwrap_or(0.0), None, false)
    }
}

/// Go's `%v` of a value as `text/template` prints it: strings raw, `null` as
/// `<nil>`, arrays as `[a b]`, objects as `map[k:v]` with sorted keys (Go sorts map
/// keys when printing).
pub fn go_print(v: &Value) -> String {
    let mut out = String::new();
    print_into(&mut out, v);
    out
}

fn print_into(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_v(n)),
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_into(out, e);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                if let Some(e) = m.get(k) {
                    print_into(out, e);
                }
            }
            out.push(']');
        }
    }
}

/// Go's `encoding/json` compact encoding. Object keys keep the value's order.
/// `escape_html` escapes `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026` (the
/// `json.Marshal` default; docker's `{{json}}` template function turns it off).
pub fn encode_json(v: &Value, escape_html: bool) -> String {
    let mut out = String::new();
    json_into(&mut out, v, escape_html);
    out
}

fn json_into(out: &mut String, v: &Value, html: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&json_number(n)),
        Value::String(s) => json_string(out, s, html),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_into(out, e, html);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, k, html);
                out.push(':');
                json_into(out, e, html);
            }
            out.push('}');
        }
    }
}

/// Go encodes floats in fixed notation unless the exponent is below -6 or at
/// least 21, and then writes `1e+21` / `1e-7`.
fn json_number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if e.starts_with('-') => format!("{m}e{e}"),
            Some((m, e)) => format!("{m}e+{e}"),
            None => s,
        }
    } else {
        format!("{f}")
    }
}

fn json_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Returns a copy with the keys of every object sorted, as Go's encoder orders
/// the keys of maps.
pub(crate) fn sort_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut sorted = Map::new();
            for k in keys {
                if let Some(e) = m.get(k) {
                    sorted.insert(k.clone(), sort_keys(e));
                }
            }
            Value::Object(sorted)
        }
        Value::Array(a) => Value::Array(a.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// Go's name for the dynamic type of a decoded JSON value, for error messages.
pub(crate) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `strconv.Quote`: double-quoted with Go escapes, printable Unicode kept.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    /// Pads `body` to the width; zero padding goes after a sign.
    fn pad(&self, body: String, numeric: bool) -> String {
        let len = body.chars().count();
        let Some(w) = self.width.filter(|w| *w > len) else {
            return body;
        };
        let fill = w - len;
        if self.minus {
            format!("{body}{}", " ".repeat(fill))
        } else if self.zero && numeric {
            let (sign, rest) = match body.chars().next() {
                Some(c @ ('-' | '+' | ' ')) => (c.to_string(), body[1..].to_string()),
                _ => (String::new(), body),
            };
            format!("{sign}{}{rest}", "0".repeat(fill))
        } else {
            format!("{}{body}", " ".repeat(fill))
        }
    }

    fn sign(&self, negative: bool) -> &'static str {
        if negative {
            "-"
        } else if self.plus {
            "+"
        } else if self.space {
            " "
        } else {
            ""
        }
    }
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Null => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", go_type(v), go_print(v)),
    }
}

fn format_int(spec: &Spec, verb: char, n: &Number) -> String {
    let (neg, mag) = match (n.as_i64(), n.as_u64()) {
        (_, Some(u)) => (false, u as u128),
        (Some(i), None) => (i < 0, i.unsigned_abs() as u128),
        (None, None) => (false, 0),
    };
    let digits = match verb {
        'd' | 'v' => mag.to_string(),
        'x' => format!("{mag:x}"),
        'X' => format!("{mag:X}"),
        'o' => format!("{mag:o}"),
        'b' => format!("{mag:b}"),
        _ => mag.to_string(),
    };
    let digits = match spec.prec {
        Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    };
    let prefix = match (spec.sharp, verb) {
        (true, 'x') => "0x",
        (true, 'X') => "0X",
        (true, 'o') => "0",
        _ => "",
    };
    spec.pad(
        format!("{}{prefix}{digits}", spec.sign(neg)),
        spec.prec.is_none(),
    )
}

fn format_float(spec: &Spec, verb: char, f: f64) -> String {
    let body = match verb {
        'e' | 'E' => format_e(f, spec.prec.unwrap_or(6), verb == 'E'),
        'f' | 'F' => format_f(f, spec.prec.unwrap_or(6)),
        'G' => format_g(f, spec.prec, true),
        _ => format_g(f, spec.prec, false),
    };
    let body = if body.starts_with('-') || body.starts_with('+') {
        body
    } else {
        format!("{}{body}", spec.sign(false))
    };
    spec.pad(body, f.is_finite())
}

fn format_one(spec: &Spec, verb: char, v: &Value) -> String {
    match (verb, v) {
        ('v', Value::Number(n)) if n.is_i64() || n.is_u64() => format_int(spec, 'd', n),
        ('v', Value::Number(n)) => format_float(spec, 'g', n.as_f64().unwrap_or(0.0)),
        ('v', _) => {
            let s = go_print(v);
            spec.pad(s, false)
        }
        ('s', Value::String(s)) => {
            let s = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            };
            spec.pad(s, false)
        }
        ('s', Value::Array(_) | Value::Object(_)) => spec.pad(go_print(v), false),
        ('q', Value::String(s)) => spec.pad(quote(s), false),
        ('q', Value::Number(n)) if n.is_i64() || n.is_u64() => {
            let c = n
                .as_u64()
                .and_then(|u| char::from_u32(u as u32))
                .unwrap_or('\u{fffd}');
            spec.pad(format!("'{c}'"), false)
        }
        ('t', Value::Bool(b)) => spec.pad(b.to_string(), false),
        ('T', _) => spec.pad(go_type(v).to_string(), false),
        ('c', Value::Number(n)) if n.is_u64() => {
            let c = n
                .as_u64()
                .and_then(|u| char::from_u32(u as u32))
                .unwrap_or('\u{fffd}');
            spec.pad(c.to_string(), false)
        }
        ('U', Value::Number(n)) if n.is_u64() => {
            spec.pad(format!("U+{:04X}", n.as_u64().unwrap_or(0)), false)
        }
        ('d' | 'o' | 'b', Value::Number(n)) if n.is_i64() || n.is_u64() => {
            format_int(spec, verb, n)
        }
        ('x' | 'X', Value::Number(n)) if n.is_i64() || n.is_u64() => format_int(spec, verb, n),
        ('x' | 'X', Value::String(s)) => {
            let hex: String = s
                .bytes()
                .map(|b| {
                    if verb == 'x' {
                        format!("{b:02x}")
                    } else {
                        format!("{b:02X}")
                    }
                })
                .collect();
            spec.pad(hex, false)
        }
        ('e' | 'E' | 'f' | 'F' | 'g' | 'G', Value::Number(n)) => {
            format_float(spec, verb, n.as_f64().unwrap_or(0.0))
        }
        _ => bad_verb(verb, v),
    }
}

/// Go's `fmt.Sprintf` over JSON values, including Go's `%!verb(type=value)`,
/// `%!v(MISSING)` and `%!(EXTRA ...)` markers for mismatches.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next = 0usize;
    // Go reports unused arguments only when no explicit index was used.
    let mut reordered = false;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        // Explicit argument index, e.g. %[2]s.
        if chars.peek() == Some(&'[') {
            chars.next();
            let idx: String = chars.by_ref().take_while(|c| *c != ']').collect();
            if let Ok(i) = idx.parse::<usize>() {
                next = i.saturating_sub(1);
                reordered = true;
            }
        }
        let read_num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
                        next: &mut usize|
         -> Option<usize> {
            if chars.peek() == Some(&'*') {
                chars.next();
                let n = args.get(*next).and_then(Value::as_u64).map(|n| n as usize);
                *next += 1;
                return n;
            }
            let mut digits = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(d);
                chars.next();
            }
            digits.parse().ok()
        };
        spec.width = read_num(&mut chars, &mut next);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(read_num(&mut chars, &mut next).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next) {
            Some(v) => out.push_str(&format_one(&spec, verb, v)),
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
        next += 1;
    }
    if !reordered && next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|v| format!("{}={}", go_type(v), go_print(v)))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

/// Go's `fmt.Sprint`: operands concatenated, with a space between two operands
/// when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&go_print(a));
    }
    out
}

/// Go's `fmt.Sprintln`: operands separated by spaces, newline-terminated.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(go_print).collect();
    format!("{}\n", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn g_formatting_matches_go() {
        let cases: &[(f64, Option<usize>, &str)] = &[
            (1.0, Some(4), "1"),
            (1.024, Some(4), "1.024"),
            (1.048576, Some(4), "1.049"),
            (999.999, Some(4), "1000"),
            (1000.0, Some(3), "1e+03"),
            (100.0, Some(3), "100"),
            (1.2345e3, Some(4), "1234"),
            (0.000012345, Some(3), "1.23e-05"),
            (0.0, Some(4), "0"),
            (-2.5, Some(4), "-2.5"),
            (1e6, None, "1e+06"),
            (123456.0, None, "123456"),
            (1.5, None, "1.5"),
            (0.0001, None, "0.0001"),
            (0.00001, None, "1e-05"),
            (f64::INFINITY, None, "+Inf"),
        ];
        for (v, p, want) in cases {
            assert_eq!(format_g(*v, *p, false), *want, "%g of {v} prec {p:?}");
        }
    }

    #[test]
    fn print_like_go_fmt() {
        assert_eq!(go_print(&json!({"b": "2", "a": "1"})), "map[a:1 b:2]");
        assert_eq!(go_print(&json!(["x", 1, true, null])), "[x 1 true <nil>]");
        assert_eq!(
            go_print(&json!({"m": {"k": [1, 2]}})),
            "map[m:map[k:[1 2]]]"
        );
        assert_eq!(go_print(&json!(2.5)), "2.5");
        assert_eq!(go_print(&json!(null)), "<nil>");
    }

    #[test]
    fn json_escapes_like_go() {
        let v = json!({"z": "<a&b>", "a": "tab\tnl\n\u{1}", "n": 1.5, "u": "\u{2028}"});
        assert_eq!(
            encode_json(&v, true),
            r#"{"z":"\u003ca\u0026b\u003e","a":"tab\tnl\n\u0001","n":1.5,"u":"\u2028"}"#
        );
        assert_eq!(encode_json(&json!("<x>"), false), r#""<x>""#);
        assert_eq!(encode_json(&json!(1e21), false), "1e+21");
        assert_eq!(encode_json(&json!(1.5e-7), false), "1.5e-7");
        assert_eq!(encode_json(&json!(100000.0), false), "100000");
    }

    #[test]
    fn sprintf_verbs() {
        assert_eq!(sprintf("%-6s|", &[json!("ab")]), "ab    |");
        assert_eq!(sprintf("%5d|%05d", &[json!(42), json!(-42)]), "   42|-0042");
        assert_eq!(
            sprintf("%x %X %o", &[json!(255), json!(255), json!(8)]),
            "ff FF 10"
        );
        assert_eq!(
            sprintf("%.2f %e", &[json!(1.23456), json!(1234.5)]),
            "1.23 1.234500e+03"
        );
        assert_eq!(
            sprintf("%q %v %t", &[json!("a\"b"), json!([1, 2]), json!(true)]),
            "\"a\\\"b\" [1 2] true"
        );
        assert_eq!(sprintf("%d", &[json!("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%s %s", &[json!("x")]), "x %!s(MISSING)");
        assert_eq!(sprintf("%s", &[json!("x"), json!(1)]), "x%!(EXTRA int=1)");
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(
            sprintf("%T|%T|%T", &[json!("s"), json!(1), json!(1.5)]),
            "string|int|float64"
        );
        assert_eq!(sprintf("%[2]s %[1]s", &[json!("a"), json!("b")]), "b a");
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(sprint(&[json!("a"), json!("b")]), "ab");
        assert_eq!(sprint(&[json!(1), json!(2)]), "1 2");
        assert_eq!(sprint(&[json!("a"), json!(2)]), "a2");
        assert_eq!(sprintln(&[json!("a"), json!(2)]), "a 2\n");
    }
}
