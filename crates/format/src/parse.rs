//! Lexer and parser for Go's `text/template` language (the subset docker users
//! write: actions, pipelines, variables, `if`/`else if`/`range`/`with`/`else with`,
//! `define`/`template`/`block`, `break`/`continue`, comments and trim markers).

use std::collections::HashMap;

use serde_json::{Number, Value};

use crate::exec::is_function;

/// A parse failure: byte offset in the source and Go's message text.
#[derive(Debug)]
pub(crate) struct ParseErr {
    pub pos: usize,
    pub msg: String,
}

fn err<T>(pos: usize, msg: impl Into<String>) -> Result<T, ParseErr> {
    Err(ParseErr {
        pos,
        msg: msg.into(),
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Tk {
    Dot,
    Field(String),
    Var(String),
    Ident(String),
    Str(String),
    Num(Number),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    /// Any other printable ASCII character; the parser reports it in context.
    Char(char),
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Tk,
    pos: usize,
    end: usize,
    space_before: bool,
}

enum Item {
    Text(String),
    Action { toks: Vec<Tok>, pos: usize },
}

#[derive(Debug)]
pub(crate) enum Term {
    Dot,
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Lit(Value),
    Nil,
    Paren(Box<Pipe>, Vec<String>),
}

/// One operand with its source text, for Go-style error locations.
#[derive(Debug)]
pub(crate) struct Operand {
    pub term: Term,
    pub pos: usize,
    pub src: String,
}

#[derive(Debug)]
pub(crate) struct Cmd {
    pub args: Vec<Operand>,
    pub pos: usize,
    pub src: String,
}

#[derive(Debug)]
pub(crate) struct Pipe {
    pub decl: Vec<String>,
    /// `=` (assign existing variables) rather than `:=`.
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Control {
    If,
    Range,
    With,
}

#[derive(Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    Control {
        kind: Control,
        pipe: Pipe,
        list: Vec<Node>,
        else_list: Option<Vec<Node>>,
    },
    Template {
        name: String,
        pipe: Option<Pipe>,
        /// Position of the name, and Go's rendering of the node, for errors.
        pos: usize,
        src: String,
    },
    Break,
    Continue,
}

/// A parsed template: the main body and the `define`d ones.
#[derive(Debug)]
pub(crate) struct Tree {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn trim_space_end(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

fn trim_space_start(s: &str) -> &str {
    s.trim_start_matches(is_space)
}

/// Whether a right delimiter (`}}` or a space, `-`, `}}`) starts at `i`;
/// returns its length and whether it trims.
fn right_delim(src: &str, i: usize) -> Option<(usize, bool)> {
    let rest = &src[i..];
    if rest.starts_with("}}") {
        return Some((2, false));
    }
    let mut chars = rest.chars();
    if chars.next().is_some_and(is_space) && rest[1..].starts_with("-}}") {
        return Some((4, true));
    }
    None
}

fn lex(src: &str) -> Result<Vec<Item>, ParseErr> {
    let mut items = Vec::new();
    let mut i = 0;
    let mut trim_next = false;
    loop {
        let Some(rel) = src[i..].find("{{") else {
            let mut text = &src[i..];
            if trim_next {
                text = trim_space_start(text);
            }
            if !text.is_empty() {
                items.push(Item::Text(text.to_string()));
            }
            return Ok(items);
        };
        let open = i + rel;
        let mut text = &src[i..open];
        if trim_next {
            text = trim_space_start(text);
        }
        let mut j = open + 2;
        let rest = &src[j..];
        if rest.starts_with('-') && rest[1..].starts_with(is_space) {
            text = trim_space_end(text);
            j += 1;
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_string()));
        }
        // A comment must follow the delimiter (and trim marker) directly.
        let after_ws = if j > open + 2 {
            j + (src[j..].len() - trim_space_start(&src[j..]).len())
        } else {
            j
        };
        if src[after_ws..].starts_with("/*") {
            let Some(close) = src[after_ws + 2..].find("*/") else {
                return err(open, "unclosed comment");
            };
            let k = after_ws + 2 + close + 2;
            let Some((len, trims)) = right_delim(src, k) else {
                return err(open, "comment ends before closing delimiter");
            };
            trim_next = trims;
            i = k + len;
            continue;
        }
        let (toks, end, trims) = lex_action(src, j, open)?;
        items.push(Item::Action { toks, pos: open });
        trim_next = trims;
        i = end;
    }
}

/// Tokenizes one action starting at `start`; returns the tokens, the offset after
/// the closing delimiter and whether it was a trimming one.
fn lex_action(src: &str, start: usize, open: usize) -> Result<(Vec<Tok>, usize, bool), ParseErr> {
    let bytes = src.as_bytes();
    let mut toks = Vec::new();
    let mut i = start;
    let mut space = false;
    let mut paren_depth = 0i32;
    loop {
        if let Some((len, trims)) = right_delim(src, i) {
            if paren_depth > 0 {
                return err(i, "unclosed left paren");
            }
            return Ok((toks, i + len, trims));
        }
        let Some(c) = src[i..].chars().next() else {
            return err(open, "unclosed action");
        };
        if is_space(c) {
            space = true;
            i += 1;
            continue;
        }
        let tok_start = i;
        let kind = match c {
            '|' => {
                i += 1;
                Tk::Pipe
            }
            '(' => {
                i += 1;
                paren_depth += 1;
                Tk::LParen
            }
            ')' => {
                i += 1;
                paren_depth -= 1;
                if paren_depth < 0 {
                    return err(tok_start, "unexpected right paren");
                }
                Tk::RParen
            }
            ',' => {
                i += 1;
                Tk::Comma
            }
            ':' => {
                if bytes.get(i + 1) != Some(&b'=') {
                    return err(tok_start, "expected :=");
                }
                i += 2;
                Tk::Declare
            }
            '=' => {
                i += 1;
                Tk::Assign
            }
            '"' => {
                let (s, end) = lex_quoted(src, i)?;
                i = end;
                Tk::Str(s)
            }
            '`' => {
                let Some(close) = src[i + 1..].find('`') else {
                    return err(tok_start, "unterminated raw quoted string");
                };
                let s = src[i + 1..i + 1 + close].replace('\r', "");
                i += close + 2;
                Tk::Str(s)
            }
            '\'' => {
                let (ch, end) = lex_char(src, i)?;
                i = end;
                Tk::Num(Number::from(ch as u32))
            }
            '.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let (n, end) = lex_number(src, i)?;
                i = end;
                Tk::Num(n)
            }
            '.' => {
                let end = ident_end(src, i + 1);
                let name = &src[i + 1..end];
                i = end;
                if name.is_empty() {
                    Tk::Dot
                } else {
                    Tk::Field(name.to_string())
                }
            }
            '$' => {
                let end = ident_end(src, i + 1);
                let name = &src[i..end];
                i = end;
                Tk::Var(name.to_string())
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && bytes
                        .get(i + 1)
                        .is_some_and(|b| b.is_ascii_digit() || *b == b'.')) =>
            {
                let (n, end) = lex_number(src, i)?;
                i = end;
                Tk::Num(n)
            }
            c if c.is_alphabetic() || c == '_' => {
                let end = ident_end(src, i);
                let word = &src[i..end];
                i = end;
                match word {
                    "true" => Tk::Bool(true),
                    "false" => Tk::Bool(false),
                    "nil" => Tk::Nil,
                    w => Tk::Ident(w.to_string()),
                }
            }
            c if c.is_ascii_graphic() => {
                i += 1;
                Tk::Char(c)
            }
            c => {
                return err(
                    tok_start,
                    format!("unrecognized character in action: U+{:04X} '{c}'", c as u32),
                )
            }
        };
        toks.push(Tok {
            kind,
            pos: tok_start,
            end: i,
            space_before: space,
        });
        space = false;
    }
}

fn ident_end(src: &str, from: usize) -> usize {
    src[from..]
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(src.len(), |(k, _)| from + k)
}

/// Reads one escape sequence after a backslash at `i`; returns the char and the
/// offset after it.
fn unescape(src: &str, i: usize, quote: char) -> Result<(char, usize), ParseErr> {
    let rest = &src[i + 1..];
    let Some(c) = rest.chars().next() else {
        return err(i, "unterminated quoted string");
    };
    let simple = match c {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        c if c == quote => Some(c),
        _ => None,
    };
    if let Some(s) = simple {
        return Ok((s, i + 2));
    }
    let (digits, radix, skip) = match c {
        'x' => (2, 16, 1),
        'u' => (4, 16, 1),
        'U' => (8, 16, 1),
        '0'..='7' => (3, 8, 0),
        _ => return err(i, format!("invalid syntax: unknown escape sequence \\{c}")),
    };
    let start = i + 1 + skip;
    let hex = src.get(start..start + digits).unwrap_or("");
    let code = u32::from_str_radix(hex, radix)
        .ok()
        .filter(|_| hex.len() == digits)
        .and_then(char::from_u32);
    match code {
        Some(ch) => Ok((ch, start + digits)),
        None => err(i, "invalid syntax in escape sequence"),
    }
}

fn lex_quoted(src: &str, start: usize) -> Result<(String, usize), ParseErr> {
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        let Some(c) = src[i..].chars().next() else {
            return err(start, "unterminated quoted string");
        };
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => return err(start, "unterminated quoted string"),
            '\\' => {
                let (ch, next) = unescape(src, i, '"')?;
                out.push(ch);
                i = next;
            }
            c => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
}

fn lex_char(src: &str, start: usize) -> Result<(char, usize), ParseErr> {
    let i = start + 1;
    let Some(c) = src[i..].chars().next() else {
        return err(start, "unterminated character constant");
    };
    let (ch, next) = if c == '\\' {
        unescape(src, i, '\'')?
    } else {
        (c, i + c.len_utf8())
    };
    if !src[next..].starts_with('\'') {
        return err(start, "unterminated character constant");
    }
    Ok((ch, next + 1))
}

fn lex_number(src: &str, start: usize) -> Result<(Number, usize), ParseErr> {
    let mut end = start;
    let bytes = src.as_bytes();
    if matches!(bytes.get(end), Some(b'+' | b'-')) {
        end += 1;
    }
    while let Some(&b) = bytes.get(end) {
        let exp_sign = matches!(b, b'+' | b'-')
            && matches!(bytes.get(end - 1), Some(b'e' | b'E' | b'p' | b'P'))
            && !src[start..end].contains(['x', 'X']);
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || exp_sign {
            end += 1;
        } else {
            break;
        }
    }
    let text = &src[start..end];
    match parse_number(text) {
        Some(n) => Ok((n, end)),
        None => err(start, format!("bad number syntax: \"{text}\"")),
    }
}

fn parse_number(text: &str) -> Option<Number> {
    let clean = text.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let lower = digits.to_ascii_lowercase();
    let radix_int = if let Some(h) = lower.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        u64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse::<u64>().ok()
    } else {
        None
    };
    if let Some(u) = radix_int {
        return if neg {
            i64::try_from(u).ok().map(|i| Number::from(-i))
        } else {
            Some(Number::from(u))
        };
    }
    let f: f64 = lower.parse().ok()?;
    Number::from_f64(if neg { -f } else { f })
}

struct Parser<'s> {
    src: &'s str,
    items: std::vec::IntoIter<Item>,
    defines: HashMap<String, Vec<Node>>,
    range_depth: usize,
    /// Variables in scope, for Go's parse-time "undefined variable" check.
    vars: Vec<String>,
}

enum Stop {
    Eof,
    End(usize),
    Else(Vec<Tok>, usize),
}

fn keyword(t: &Tok) -> Option<&str> {
    match &t.kind {
        Tk::Ident(w)
            if matches!(
                w.as_str(),
                "if" | "else"
                    | "end"
                    | "range"
                    | "with"
                    | "define"
                    | "template"
                    | "block"
                    | "break"
                    | "continue"
            ) =>
        {
            Some(w.as_str())
        }
        _ => None,
    }
}

fn describe(t: &Tok, src: &str) -> String {
    match &t.kind {
        Tk::Ident(w) if keyword(t).is_some() => format!("<{w}>"),
        _ => format!("\"{}\"", &src[t.pos..t.end]),
    }
}

impl Parser<'_> {
    fn list(&mut self, top: bool) -> Result<(Vec<Node>, Stop), ParseErr> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.next() {
            let (toks, pos) = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action { toks, pos } => (toks, pos),
            };
            let Some(first) = toks.first() else {
                return err(pos, "missing value for command");
            };
            match keyword(first) {
                Some("end") => {
                    if let Some(t) = toks.get(1) {
                        return err(
                            t.pos,
                            format!("unexpected {} in end", describe(t, self.src)),
                        );
                    }
                    return Ok((nodes, Stop::End(pos)));
                }
                Some("else") => return Ok((nodes, Stop::Else(toks[1..].to_vec(), pos))),
                Some("if") => nodes.push(self.control(Control::If, &toks[1..], pos)?),
                Some("range") => nodes.push(self.control(Control::Range, &toks[1..], pos)?),
                Some("with") => nodes.push(self.control(Control::With, &toks[1..], pos)?),
                Some("define") => {
                    if !top {
                        return err(first.pos, "unexpected <define> in command");
                    }
                    let name = self.template_name(&toks, "define")?;
                    if toks.len() > 2 {
                        return err(toks[2].pos, "unexpected token in define clause");
                    }
                    let body = self.body_until_end("define", pos)?;
                    self.defines.insert(name, body);
                }
                Some("block") => {
                    let name = self.template_name(&toks, "block")?;
                    let pipe = self.pipe(&toks[2..], pos, "block", false)?;
                    let body = self.body_until_end("block", pos)?;
                    self.defines.insert(name.clone(), body);
                    nodes.push(Node::Template {
                        name,
                        pipe: Some(pipe),
                        pos: toks[1].pos,
                        src: self.action_src(&toks),
                    });
                }
                Some("template") => {
                    let name = self.template_name(&toks, "template")?;
                    if let Some(t @ Tok { kind: Tk::Pipe, .. }) = toks.get(2) {
                        return err(t.pos, "unexpected \"|\" in template clause");
                    }
                    let pipe = if toks.len() > 2 {
                        Some(self.pipe(&toks[2..], pos, "template", false)?)
                    } else {
                        None
                    };
                    nodes.push(Node::Template {
                        name,
                        pipe,
                        pos: toks[1].pos,
                        src: self.action_src(&toks),
                    });
                }
                Some(k @ ("break" | "continue")) => {
                    if self.range_depth == 0 {
                        return err(first.pos, format!("{{{{{k}}}}} outside {{{{range}}}}"));
                    }
                    if let Some(t) = toks.get(1) {
                        return err(
                            t.pos,
                            format!("unexpected {} in {{{{{k}}}}}", describe(t, self.src)),
                        );
                    }
                    nodes.push(if k == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                _ => {
                    let pipe = self.pipe(&toks, pos, "command", true)?;
                    nodes.push(Node::Action(pipe));
                }
            }
        }
        Ok((nodes, Stop::Eof))
    }

    /// `{{template "name" pipe}}` as Go prints the node.
    fn action_src(&self, toks: &[Tok]) -> String {
        match (toks.first(), toks.last()) {
            (Some(a), Some(b)) => format!("{{{{{}}}}}", &self.src[a.pos..b.end]),
            _ => String::new(),
        }
    }

    fn template_name(&self, toks: &[Tok], ctx: &str) -> Result<String, ParseErr> {
        match toks.get(1).map(|t| &t.kind) {
            Some(Tk::Str(s)) => Ok(s.clone()),
            Some(_) => err(
                toks[1].pos,
                format!(
                    "unexpected {} in {ctx} clause",
                    describe(&toks[1], self.src)
                ),
            ),
            None => err(toks[0].pos, format!("unexpected end of {ctx} clause")),
        }
    }

    fn body_until_end(&mut self, ctx: &str, pos: usize) -> Result<Vec<Node>, ParseErr> {
        let saved = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (body, stop) = self.list(false)?;
        self.vars = saved;
        match stop {
            Stop::End(_) => Ok(body),
            Stop::Else(_, p) => err(p, format!("unexpected <else> in {ctx}")),
            Stop::Eof => err(pos, "unexpected EOF"),
        }
    }

    fn control(&mut self, kind: Control, toks: &[Tok], pos: usize) -> Result<Node, ParseErr> {
        let mark = self.vars.len();
        let ctx = match kind {
            Control::If => "if",
            Control::Range => "range",
            Control::With => "with",
        };
        let pipe = self.pipe(toks, pos, ctx, true)?;
        if kind == Control::Range {
            self.range_depth += 1;
        }
        let res = self.list(false);
        if kind == Control::Range {
            self.range_depth -= 1;
        }
        let (list, stop) = res?;
        let else_list = match stop {
            Stop::End(_) => None,
            Stop::Eof => return err(self.src.len(), "unexpected EOF"),
            Stop::Else(rest, epos) => {
                let chained = match (kind, rest.first().and_then(keyword)) {
                    (Control::If, Some("if")) => Some(Control::If),
                    (Control::With, Some("with")) => Some(Control::With),
                    _ => None,
                };
                if let Some(k) = chained {
                    // `{{else if ...}}` is a nested if that consumes the final {{end}}.
                    self.vars.truncate(mark);
                    Some(vec![self.control(k, &rest[1..], epos)?])
                } else if let Some(t) = rest.first() {
                    return err(
                        t.pos,
                        format!("unexpected {} in else", describe(t, self.src)),
                    );
                } else {
                    self.vars.truncate(mark);
                    let (else_list, stop) = self.list(false)?;
                    match stop {
                        Stop::End(_) => Some(else_list),
                        Stop::Else(_, p) => return err(p, "expected end; found {{else}}"),
                        Stop::Eof => return err(self.src.len(), "unexpected EOF"),
                    }
                }
            }
        };
        self.vars.truncate(mark);
        Ok(Node::Control {
            kind,
            pipe,
            list,
            else_list,
        })
    }

    fn pipe(
        &mut self,
        toks: &[Tok],
        pos: usize,
        ctx: &str,
        allow_decl: bool,
    ) -> Result<Pipe, ParseErr> {
        let mut decl = Vec::new();
        let mut assign = false;
        let mut rest = toks;
        if allow_decl {
            let var = |t: Option<&Tok>| match t.map(|t| &t.kind) {
                Some(Tk::Var(v)) => Some(v.clone()),
                _ => None,
            };
            let is = |t: Option<&Tok>, k: &Tk| t.is_some_and(|t| &t.kind == k);
            if let Some(v) = var(toks.first()) {
                if is(toks.get(1), &Tk::Declare) || is(toks.get(1), &Tk::Assign) {
                    assign = is(toks.get(1), &Tk::Assign);
                    decl.push(v);
                    rest = &toks[2..];
                } else if is(toks.get(1), &Tk::Comma) && ctx == "range" {
                    if let Some(v2) = var(toks.get(2)) {
                        if is(toks.get(3), &Tk::Declare) || is(toks.get(3), &Tk::Assign) {
                            assign = is(toks.get(3), &Tk::Assign);
                            decl.push(v);
                            decl.push(v2);
                            rest = &toks[4..];
                        }
                    }
                }
            }
        }
        let cmds = self.commands(rest, pos, ctx)?;
        for v in &decl {
            if assign {
                if !self.vars.contains(v) {
                    return err(pos, format!("undefined variable \"{v}\""));
                }
            } else {
                self.vars.push(v.clone());
            }
        }
        Ok(Pipe { decl, assign, cmds })
    }

    fn commands(&mut self, toks: &[Tok], pos: usize, ctx: &str) -> Result<Vec<Cmd>, ParseErr> {
        if toks.is_empty() {
            return err(pos, format!("missing value for {ctx}"));
        }
        let mut cmds = Vec::new();
        let mut i = 0;
        loop {
            let start = i;
            let mut args = Vec::new();
            while i < toks.len() && toks[i].kind != Tk::Pipe {
                let (op, next) = self.operand(toks, i, args.is_empty())?;
                args.push(op);
                i = next;
            }
            if args.is_empty() {
                return match toks.get(i) {
                    Some(t) => err(
                        t.pos,
                        format!("unexpected {} in command", describe(t, self.src)),
                    ),
                    None => err(pos, "missing value for command"),
                };
            }
            let (p0, p1) = (toks[start].pos, toks[i - 1].end);

            cmds.push(Cmd {
                args,
                pos: p0,
                src: self.src[p0..p1].to_string(),
            });
            if i >= toks.len() {
                return Ok(cmds);
            }
            i += 1;
            // Go accepts a trailing `|` before the closing delimiter.
            if i >= toks.len() {
                return Ok(cmds);
            }
        }
    }

    fn operand(
        &mut self,
        toks: &[Tok],
        i: usize,
        first: bool,
    ) -> Result<(Operand, usize), ParseErr> {
        let t = &toks[i];
        let mut next = i + 1;
        let mut term = match &t.kind {
            Tk::Dot => Term::Dot,
            Tk::Field(f) => Term::Field(vec![f.clone()]),
            Tk::Var(v) => {
                if !self.vars.contains(v) {
                    return err(t.pos, format!("undefined variable \"{v}\""));
                }
                Term::Var(v.clone(), Vec::new())
            }
            Tk::Ident(name) => {
                if keyword(t).is_some() {
                    return err(
                        t.pos,
                        format!("unexpected {} in operand", describe(t, self.src)),
                    );
                }
                if !is_function(name) {
                    return err(t.pos, format!("function \"{name}\" not defined"));
                }
                Term::Ident(name.clone())
            }
            Tk::Str(s) => Term::Lit(Value::String(s.clone())),
            Tk::Num(n) => Term::Lit(Value::Number(n.clone())),
            Tk::Bool(b) => Term::Lit(Value::Bool(*b)),
            Tk::Nil => Term::Nil,
            Tk::LParen => {
                let mut depth = 0;
                let mut close = None;
                for (k, tok) in toks.iter().enumerate().skip(i) {
                    match tok.kind {
                        Tk::LParen => depth += 1,
                        Tk::RParen => {
                            depth -= 1;
                            if depth == 0 {
                                close = Some(k);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let Some(close) = close else {
                    return err(t.pos, "unclosed left paren");
                };
                let inner =
                    self.pipe(&toks[i + 1..close], t.pos, "parenthesized pipeline", true)?;
                next = close + 1;
                Term::Paren(Box::new(inner), Vec::new())
            }
            _ => {
                let place = if first { "command" } else { "operand" };
                return err(
                    t.pos,
                    format!("unexpected {} in {place}", describe(t, self.src)),
                );
            }
        };
        // Field chains (`.A.B`, `$x.A`, `(pipe).A`) are fields glued to the term;
        // Go locates a chain at its first glued field.
        let mut pos = t.pos;
        if let Some(Tok {
            kind: Tk::Field(_),
            space_before: false,
            pos: p,
            ..
        }) = toks.get(next)
        {
            pos = *p;
        }
        while let Some(Tok {
            kind: Tk::Field(f),
            space_before: false,
            ..
        }) = toks.get(next)
        {
            match &mut term {
                Term::Field(chain) | Term::Var(_, chain) | Term::Paren(_, chain) => {
                    chain.push(f.clone())
                }
                _ => {
                    return err(
                        toks[next].pos,
                        format!("unexpected . after term \"{}\"", &self.src[t.pos..t.end]),
                    )
                }
            }
            next += 1;
        }
        let end = toks[next - 1].end;
        Ok((
            Operand {
                term,
                pos,
                src: self.src[t.pos..end].to_string(),
            },
            next,
        ))
    }
}

/// Parses a template text into its main body and defined templates.
pub(crate) fn parse(src: &str) -> Result<Tree, ParseErr> {
    let items = lex(src)?;
    let mut p = Parser {
        src,
        items: items.into_iter(),
        defines: HashMap::new(),
        range_depth: 0,
        vars: vec!["$".to_string()],
    };
    let (root, stop) = p.list(true)?;
    match stop {
        Stop::Eof => Ok(Tree {
            root,
            defines: p.defines,
        }),
        Stop::End(pos) => err(pos, "unexpected {{end}}"),
        Stop::Else(_, pos) => err(pos, "unexpected {{else}}"),
    }
}
