//! A small flag parser with the semantics (and the error texts) of spf13/pflag and
//! cobra as the docker CLI uses them: interspersed flags, `--` ends flags, `-abc`
//! groups of booleans, `-fvalue`/`-f value`/`-f=value`, `--name=value`.

use std::collections::BTreeMap;

use crate::error::CliError;

/// Name the CLI calls itself in usage texts.
pub const PROG: &str = "berth";

/// What a flag holds; also gives the type word shown in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// A single string; a later occurrence replaces an earlier one.
    Str,
    /// Repeated string values (`docker`'s `list` type).
    List,
    /// Repeated comma-separated values (`strings`).
    Strings,
    /// Repeated `name=value` filters.
    Filter,
}

#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    pub long: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
    pub usage: &'static str,
    /// Default shown in help for non-zero defaults (bool `true`).
    pub default_true: bool,
    /// The type word pflag shows in `--help` when it is not the kind's own
    /// (`bytes`, `int`, `decimal`, `duration`, …).
    pub type_name: Option<&'static str>,
    /// The default as `--help` prints it after `(default `, already quoted
    /// as pflag quotes it (`"no"`, `0s`, `map[]`).
    pub default_text: Option<&'static str>,
    /// Validates a value as the pflag `Value.Set` of the docker flag does; the
    /// error text follows `invalid argument "v" for "--f" flag: `.
    pub check: Option<Validator>,
}

/// A flag value check returning docker's error detail.
pub type Validator = fn(&str) -> Result<(), String>;

impl FlagSpec {
    pub const fn ty(mut self, name: &'static str) -> Self {
        self.type_name = Some(name);
        self
    }

    pub const fn def(mut self, text: &'static str) -> Self {
        self.default_text = Some(text);
        self
    }

    pub const fn check(mut self, f: Validator) -> Self {
        self.check = Some(f);
        self
    }
}

pub const fn flag(
    long: &'static str,
    short: Option<char>,
    kind: Kind,
    usage: &'static str,
) -> FlagSpec {
    FlagSpec {
        long,
        short,
        kind,
        usage,
        default_true: false,
        type_name: None,
        default_text: None,
        check: None,
    }
}

/// How many positional arguments a command takes, with cobra's message for each rule.
#[derive(Debug, Clone, Copy)]
pub enum Arity {
    None,
    Exact(usize),
    Min(usize),
    Max(usize),
    /// Between the two counts, inclusive.
    Range(usize, usize),
}

#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// Full command path without the program name, e.g. `image ls`.
    pub path: &'static str,
    /// Cobra `Use` after the command name, e.g. `[OPTIONS] [REPOSITORY[:TAG]]`.
    pub use_args: &'static str,
    pub short: &'static str,
    /// `aliases` annotation shown in help (already spelled with the program name).
    pub aliases: &'static str,
    pub arity: Arity,
    /// False for commands that stop parsing flags at the first positional
    /// argument (`run`, `exec`: the rest is the container's command line).
    pub interspersed: bool,
    pub flags: &'static [FlagSpec],
}

/// The result of parsing one command's arguments.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Parsed {
    values: BTreeMap<&'static str, Vec<String>>,
    pub args: Vec<String>,
    pub help: bool,
}

impl Parsed {
    pub fn bool(&self, long: &str) -> bool {
        self.values
            .get(long)
            .and_then(|v| v.last())
            .is_some_and(|v| v == "true")
    }

    /// Like [`Parsed::bool`] but with a default when the flag is absent.
    pub fn bool_or(&self, long: &str, default: bool) -> bool {
        match self.values.get(long).and_then(|v| v.last()) {
            Some(v) => v == "true",
            None => default,
        }
    }

    pub fn str(&self, long: &str) -> Option<&str> {
        self.values
            .get(long)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    pub fn list(&self, long: &str) -> Vec<String> {
        self.values.get(long).cloned().unwrap_or_default()
    }
}

impl CommandSpec {
    pub fn command_path(&self) -> String {
        if self.path.is_empty() {
            PROG.to_string()
        } else {
            format!("{PROG} {}", self.path)
        }
    }

    /// Where the command name starts: flags before it belong to this (root) spec,
    /// as cobra's `TraverseChildren` does for docker's global flags.
    pub fn split_at_command(&self, argv: &[String]) -> usize {
        let mut i = 0;
        while i < argv.len() {
            let a = &argv[i];
            if a == "--" || !a.starts_with('-') || a == "-" {
                return i;
            }
            i += 1;
            let takes_value = if let Some(body) = a.strip_prefix("--") {
                !body.contains('=') && self.lookup_long(body).is_some_and(|f| f.kind != Kind::Bool)
            } else {
                // In a group like `-DH host` only the last letter may take the next arg.
                let last = a.chars().last();
                a.len() == 2
                    && last
                        .and_then(|c| self.lookup_short(c))
                        .is_some_and(|f| f.kind != Kind::Bool)
            };
            if takes_value {
                i += 1;
            }
        }
        argv.len()
    }

    pub fn use_line(&self) -> String {
        if self.use_args.is_empty() {
            self.command_path()
        } else {
            format!("{} {}", self.command_path(), self.use_args)
        }
    }

    /// Error for a bad flag: message, usage line, exit 125.
    fn flag_error(&self, msg: String) -> CliError {
        CliError::Status {
            code: 125,
            msg: format!(
                "{msg}\n\nUsage:  {}\n\nRun '{} --help' for more information",
                self.use_line(),
                self.command_path()
            ),
        }
    }

    fn lookup_long(&self, name: &str) -> Option<&FlagSpec> {
        self.flags.iter().find(|f| f.long == name)
    }

    fn lookup_short(&self, c: char) -> Option<&FlagSpec> {
        self.flags.iter().find(|f| f.short == Some(c))
    }

    pub fn parse(&self, argv: &[String]) -> Result<Parsed, CliError> {
        let mut p = Parsed::default();
        let mut i = 0;
        while i < argv.len() {
            let a = &argv[i];
            i += 1;
            if a == "--" {
                p.args.extend(argv[i..].iter().cloned());
                break;
            }
            if let Some(body) = a.strip_prefix("--") {
                let (name, inline) = match body.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (body, None),
                };
                if name == "help" {
                    p.help = true;
                    continue;
                }
                let Some(spec) = self.lookup_long(name) else {
                    return Err(self.flag_error(format!("unknown flag: --{name}")));
                };
                let value = if spec.kind == Kind::Bool {
                    inline.unwrap_or_else(|| "true".to_string())
                } else if let Some(v) = inline {
                    v
                } else if i < argv.len() {
                    i += 1;
                    argv[i - 1].clone()
                } else {
                    return Err(self.flag_error(format!("flag needs an argument: --{name}")));
                };
                self.set(&mut p, spec, value)?;
            } else if a.len() > 1 && a.starts_with('-') {
                let shorts: Vec<char> = a[1..].chars().collect();
                let mut j = 0;
                while j < shorts.len() {
                    let c = shorts[j];
                    j += 1;
                    if c == 'h' && self.lookup_short('h').is_none() {
                        p.help = true;
                        continue;
                    }
                    let Some(spec) = self.lookup_short(c) else {
                        let rest: String = shorts[j - 1..].iter().collect();
                        return Err(
                            self.flag_error(format!("unknown shorthand flag: '{c}' in -{rest}"))
                        );
                    };
                    let rest: String = shorts[j..].iter().collect();
                    let value = if let Some(v) = rest.strip_prefix('=') {
                        j = shorts.len();
                        v.to_string()
                    } else if spec.kind == Kind::Bool {
                        "true".to_string()
                    } else if !rest.is_empty() {
                        j = shorts.len();
                        rest
                    } else if i < argv.len() {
                        i += 1;
                        argv[i - 1].clone()
                    } else {
                        return Err(
                            self.flag_error(format!("flag needs an argument: '{c}' in -{c}"))
                        );
                    };
                    self.set(&mut p, spec, value)?;
                }
            } else {
                p.args.push(a.clone());
                if !self.interspersed {
                    p.args.extend(argv[i..].iter().cloned());
                    break;
                }
            }
        }
        if !p.help {
            self.check_arity(p.args.len())?;
        }
        Ok(p)
    }

    fn set(&self, p: &mut Parsed, spec: &FlagSpec, value: String) -> Result<(), CliError> {
        let invalid = |detail: String| {
            let name = match spec.short {
                Some(s) => format!("-{s}, --{}", spec.long),
                None => format!("--{}", spec.long),
            };
            self.flag_error(format!(
                "invalid argument \"{value}\" for \"{name}\" flag: {detail}"
            ))
        };
        let entry = p.values.entry(spec.long).or_default();
        match spec.kind {
            Kind::Bool => {
                let b = parse_go_bool(&value).ok_or_else(|| {
                    invalid(format!(
                        "strconv.ParseBool: parsing \"{value}\": invalid syntax"
                    ))
                })?;
                entry.push(b.to_string());
            }
            Kind::Str | Kind::List => {
                if let Some(check) = spec.check {
                    check(&value).map_err(invalid)?;
                }
                entry.push(value);
            }
            Kind::Strings => entry.extend(value.split(',').map(str::to_string)),
            Kind::Filter => {
                if !value.is_empty() {
                    if !value.contains('=') {
                        return Err(invalid("bad format of filter (expected name=value)".into()));
                    }
                    entry.push(value);
                }
            }
        }
        Ok(())
    }

    pub fn check_arity(&self, n: usize) -> Result<(), CliError> {
        let path = self.command_path();
        let plural = |k: usize| if k == 1 { "argument" } else { "arguments" };
        // The texts (including "See" vs "Run" and the stray "S" of the max rule) are
        // what docker 28.2.2 prints, so scripts matching on them keep working.
        let (head, tail) = match self.arity {
            Arity::None if n > 0 => (format!("'{path}' accepts no arguments"), "Run"),
            Arity::Exact(k) if n != k => (format!("'{path}' requires {k} {}", plural(k)), "Run"),
            Arity::Min(k) if n < k => (
                format!("'{path}' requires at least {k} {}", plural(k)),
                "See",
            ),
            Arity::Max(k) if n > k => (
                format!("'{path}' requires at most {k} {}", plural(k)),
                "SRun",
            ),
            Arity::Range(lo, hi) if n < lo || n > hi => (
                format!(
                    "'{path}' requires at least {lo} and at most {hi} {}",
                    plural(hi)
                ),
                "Run",
            ),
            _ => return Ok(()),
        };
        Err(CliError::Status {
            code: 1,
            msg: format!(
                "{PROG}: {head}\n\nUsage:  {}\n\n{tail} '{path} --help' for more information",
                self.use_line()
            ),
        })
    }

    /// The `--help` text, laid out as docker's cobra template does.
    pub fn help(&self) -> String {
        let mut s = format!("Usage:  {}\n\n{}\n", self.use_line(), self.short);
        if !self.aliases.is_empty() {
            s.push_str(&format!("\nAliases:\n  {}\n", self.aliases));
        }
        if !self.flags.is_empty() {
            s.push_str("\nOptions:\n");
            s.push_str(&flag_usages(self.flags, 79));
        }
        s
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// pflag's `FlagUsagesWrapped`: flags sorted by name, descriptions aligned and wrapped.
pub fn flag_usages(flags: &[FlagSpec], cols: usize) -> String {
    let mut sorted: Vec<&FlagSpec> = flags.iter().collect();
    sorted.sort_by_key(|f| f.long);
    let mut lines = Vec::new();
    let mut maxlen = 0;
    for f in sorted {
        let mut head = match f.short {
            Some(c) => format!("  -{c}, --{}", f.long),
            None => format!("      --{}", f.long),
        };
        let varname = match f.type_name {
            Some(t) => t,
            None => match f.kind {
                Kind::Bool => "",
                Kind::Str => "string",
                Kind::List => "list",
                Kind::Strings => "strings",
                Kind::Filter => "filter",
            },
        };
        if !varname.is_empty() {
            head.push(' ');
            head.push_str(varname);
        }
        // +1 stands for pflag's NUL separator, which counts in its width.
        maxlen = maxlen.max(head.len() + 1);
        let mut usage = f.usage.to_string();
        if f.default_true {
            usage.push_str(" (default true)");
        }
        if let Some(d) = f.default_text {
            usage.push_str(&format!(" (default {d})"));
        }
        lines.push((head, usage));
    }
    let mut out = String::new();
    for (head, usage) in lines {
        let spacing = " ".repeat(maxlen - head.len());
        out.push_str(&format!(
            "{head} {spacing} {}\n",
            wrap(maxlen + 2, cols, &usage)
        ));
    }
    out
}

fn wrap_n(i: usize, slop: usize, s: &str) -> (String, String) {
    if i + slop > s.len() {
        return (s.to_string(), String::new());
    }
    let head = &s[..i];
    let Some(w) = head.rfind([' ', '\t', '\n']).filter(|&w| w > 0) else {
        return (s.to_string(), String::new());
    };
    if let Some(nl) = head.rfind('\n') {
        if nl > 0 && nl < w {
            return (s[..nl].to_string(), s[nl + 1..].to_string());
        }
    }
    (s[..w].to_string(), s[w + 1..].to_string())
}

fn wrap(mut i: usize, w: usize, s: &str) -> String {
    let mut r = String::new();
    let mut width = w.saturating_sub(i);
    if width < 24 {
        i = 16;
        width = w.saturating_sub(i);
        r.push('\n');
        r.push_str(&" ".repeat(i));
    }
    let indent = format!("\n{}", " ".repeat(i));
    if width < 24 {
        return s.replace('\n', &r);
    }
    let slop = 5;
    let width = width - slop;
    let (l, mut rest) = wrap_n(width, slop, s);
    r.push_str(&l.replace('\n', &indent));
    while !rest.is_empty() {
        let (t, next) = wrap_n(width, slop, &rest);
        r.push_str(&indent);
        r.push_str(&t.replace('\n', &indent));
        rest = next;
    }
    r
}

/// docker's `--format` help text.
pub const FORMAT_HELP: &str = "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates";

/// docker's `--format` help text for commands without tables.
pub const INSPECT_FORMAT_HELP: &str = "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates";

/// Filters given as repeated `name=value` flags, in the API's JSON shape
/// `{"name":{"value":true}}` (keys sorted, as Go marshals maps).
pub fn filters_json(filters: &[String]) -> Option<String> {
    let mut map: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for f in filters {
        if let Some((k, v)) = f.split_once('=') {
            map.entry(k.trim().to_lowercase())
                .or_default()
                .insert(v.trim().to_string(), true);
        }
    }
    if map.is_empty() {
        None
    } else {
        serde_json::to_string(&map).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: CommandSpec = CommandSpec {
        path: "tag",
        use_args: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        aliases: "berth image tag, berth tag",
        arity: Arity::Exact(2),
        interspersed: true,
        flags: &[],
    };

    const IMAGES: CommandSpec = CommandSpec {
        path: "images",
        use_args: "[OPTIONS] [REPOSITORY[:TAG]]",
        short: "List images",
        aliases: "",
        arity: Arity::Max(1),
        interspersed: true,
        flags: &[
            flag("all", Some('a'), Kind::Bool, "Show all"),
            flag("filter", Some('f'), Kind::Filter, "Filter"),
            flag("format", None, Kind::Str, "Format"),
            flag("quiet", Some('q'), Kind::Bool, "Quiet"),
        ],
    };

    fn sv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn err_text(e: CliError) -> (i32, String) {
        match e {
            CliError::Status { code, msg } => (code, msg),
            other => (-1, other.to_string()),
        }
    }

    #[test]
    fn parses_interspersed_and_grouped_flags() {
        let p = IMAGES
            .parse(&sv(&[
                "-aq",
                "x",
                "--filter",
                "dangling=true",
                "-freference=a",
                "--format={{.ID}}",
            ]))
            .unwrap();
        assert!(p.bool("all") && p.bool("quiet"));
        assert_eq!(p.args, vec!["x"]);
        assert_eq!(p.list("filter"), vec!["dangling=true", "reference=a"]);
        assert_eq!(p.str("format"), Some("{{.ID}}"));
        let p = IMAGES.parse(&sv(&["--all=false", "--", "-q"])).unwrap();
        assert!(!p.bool("all"));
        assert_eq!(p.args, vec!["-q"]);
    }

    #[test]
    fn flag_errors_match_docker() {
        let (code, msg) = err_text(IMAGES.parse(&sv(&["--bogus"])).unwrap_err());
        assert_eq!(code, 125);
        assert_eq!(
            msg,
            "unknown flag: --bogus\n\nUsage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'berth images --help' for more information"
        );
        let (_, msg) = err_text(IMAGES.parse(&sv(&["-x"])).unwrap_err());
        assert!(msg.starts_with("unknown shorthand flag: 'x' in -x\n"));
        let (_, msg) = err_text(IMAGES.parse(&sv(&["-f"])).unwrap_err());
        assert!(msg.starts_with("flag needs an argument: 'f' in -f\n"));
        let (_, msg) = err_text(IMAGES.parse(&sv(&["--format"])).unwrap_err());
        assert!(msg.starts_with("flag needs an argument: --format\n"));
        let (_, msg) = err_text(IMAGES.parse(&sv(&["--all=foo"])).unwrap_err());
        assert!(msg.starts_with(
            "invalid argument \"foo\" for \"-a, --all\" flag: strconv.ParseBool: parsing \"foo\": invalid syntax\n"
        ));
        let (_, msg) = err_text(IMAGES.parse(&sv(&["-f", "bogus"])).unwrap_err());
        assert!(msg.starts_with(
            "invalid argument \"bogus\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\n"
        ));
    }

    #[test]
    fn arity_errors_match_docker() {
        let (code, msg) = err_text(TAG.parse(&sv(&["a"])).unwrap_err());
        assert_eq!(code, 1);
        assert_eq!(
            msg,
            "berth: 'berth tag' requires 2 arguments\n\nUsage:  berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n\nRun 'berth tag --help' for more information"
        );
        let (_, msg) = err_text(IMAGES.parse(&sv(&["a", "b"])).unwrap_err());
        assert!(msg.starts_with("berth: 'berth images' requires at most 1 argument\n"));
        assert!(msg.ends_with("\n\nSRun 'berth images --help' for more information"));
    }

    #[test]
    fn help_wraps_like_pflag() {
        let flags = [
            flag(
                "all",
                Some('a'),
                Kind::Bool,
                "Show all images (default hides intermediate images)",
            ),
            flag(
                "filter",
                Some('f'),
                Kind::Filter,
                "Filter output based on conditions provided",
            ),
            flag("format", None, Kind::Str, FORMAT_HELP),
        ];
        let text = flag_usages(&flags, 79);
        let expected = "  -a, --all             Show all images (default hides intermediate images)
  -f, --filter filter   Filter output based on conditions provided
      --format string   Format output using a custom template:
                        'table':            Print output in table format
                        with column headers (default)
                        'table TEMPLATE':   Print output in table format
                        using the given Go template
                        'json':             Print in JSON format
                        'TEMPLATE':         Print output using the given
                        Go template.
                        Refer to https://docs.docker.com/go/formatting/
                        for more information about formatting output with
                        templates
";
        assert_eq!(text, expected);
    }

    #[test]
    fn filters_become_api_json() {
        assert_eq!(filters_json(&[]), None);
        assert_eq!(
            filters_json(&sv(&["dangling=true", "Label=a=b", "label=c"])).unwrap(),
            r#"{"dangling":{"true":true},"label":{"a=b":true,"c":true}}"#
        );
    }
}
