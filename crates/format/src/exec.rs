//! Executes a parsed template against a JSON value, with Go's builtin functions
//! and docker's template functions (docker/cli `templates/templates.go`).

use serde_json::{Number, Value};

use crate::gofmt::{encode_json, go_print, go_type, quote, sprint, sprintf, sprintln};
use crate::parse::{Cmd, Control, Node, Operand, Pipe, Term, Tree};

/// Go allows 100000 nested `{{template}}` calls; ours is low enough to stay
/// within a 2 MiB thread stack in debug builds.
const MAX_DEPTH: usize = 100;

/// A template value: a JSON value, or Go's invalid value (a missing map key),
/// which prints as `<no value>`.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    Missing,
    V(Value),
}

impl Val {
    fn truth(&self) -> bool {
        match self {
            Val::Missing | Val::V(Value::Null) => false,
            Val::V(Value::Bool(b)) => *b,
            Val::V(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
            Val::V(Value::String(s)) => !s.is_empty(),
            Val::V(Value::Array(a)) => !a.is_empty(),
            Val::V(Value::Object(m)) => !m.is_empty(),
        }
    }

    /// The value a Go function parameter of type `any` receives: an invalid
    /// value becomes nil.
    fn into_value(self) -> Value {
        match self {
            Val::Missing => Value::Null,
            Val::V(v) => v,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Val::Missing => "<no value>",
            Val::V(v) => go_type(v),
        }
    }
}

const FUNCTIONS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "js", "urlquery", "json", "split", "join", "title", "lower", "upper",
    "pad", "truncate",
];

/// Whether `name` is a function templates may call (checked at parse time, as Go does).
pub(crate) fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

/// An execution failure: where (byte offset and node text) and Go's message.
#[derive(Debug)]
pub(crate) struct ExecErr {
    pub pos: usize,
    pub at: String,
    pub template: String,
    pub msg: String,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

/// A function failure: a plain message, or one attributed to argument `n`.
enum FnErr {
    Call(String),
    Arg(usize, String),
    Plain(String),
}

type FnResult = Result<Val, FnErr>;

pub(crate) struct Exec<'t> {
    tree: &'t Tree,
    pub out: String,
    vars: Vec<(String, Val)>,
    /// docker's HeaderFunctions: string functions return their input unchanged.
    header: bool,
    depth: usize,
    name: String,
    /// The dot is a docker list context: its MarshalJSON uses json.Marshal, so
    /// `{{json .}}` of the whole row comes out HTML-escaped (`\u003cnone\u003e`).
    row: bool,
}

impl<'t> Exec<'t> {
    pub(crate) fn new(tree: &'t Tree, header: bool, row: bool) -> Self {
        Exec {
            tree,
            out: String::new(),
            vars: Vec::new(),
            header,
            depth: 0,
            name: String::new(),
            row,
        }
    }

    /// Runs the main template with `dot`; output accumulates in `self.out` even
    /// when an error stops execution part-way (Go writes as it goes).
    pub(crate) fn run(&mut self, dot: &Val) -> Result<(), ExecErr> {
        self.vars = vec![("$".to_string(), dot.clone())];
        let root = &self.tree.root;
        self.walk(root, dot).map(|_| ())
    }

    fn fail(&self, pos: usize, at: &str, msg: impl Into<String>) -> ExecErr {
        ExecErr {
            pos,
            at: at.to_string(),
            template: self.name.clone(),
            msg: msg.into(),
        }
    }

    fn walk(&mut self, nodes: &'t [Node], dot: &Val) -> Result<Flow, ExecErr> {
        for node in nodes {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(pipe) => {
                    let v = self.pipe(pipe, dot)?;
                    if pipe.decl.is_empty() {
                        match v {
                            Val::Missing => self.out.push_str("<no value>"),
                            Val::V(v) => self.out.push_str(&go_print(&v)),
                        }
                    }
                }
                Node::Control {
                    kind,
                    pipe,
                    list,
                    else_list,
                } => {
                    let mark = self.vars.len();
                    let flow = if *kind == Control::Range {
                        self.range(pipe, list, else_list.as_deref(), dot)?
                    } else {
                        let v = self.pipe(pipe, dot)?;
                        if v.truth() {
                            let inner = if *kind == Control::With {
                                v
                            } else {
                                dot.clone()
                            };
                            self.walk(list, &inner)?
                        } else if let Some(e) = else_list {
                            self.walk(e, dot)?
                        } else {
                            Flow::Normal
                        }
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Template {
                    name,
                    pipe,
                    pos,
                    src,
                } => self.call_template(name, pipe.as_ref(), (*pos, src), dot)?,
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn call_template(
        &mut self,
        name: &str,
        pipe: Option<&Pipe>,
        (pos, at): (usize, &str),
        dot: &Val,
    ) -> Result<(), ExecErr> {
        let Some(body) = self.tree.defines.get(name) else {
            return Err(self.fail(pos, at, format!("template {} not defined", quote(name))));
        };
        if self.depth >= MAX_DEPTH {
            return Err(self.fail(pos, at, "exceeded maximum template depth"));
        }
        let new_dot = match pipe {
            Some(p) => self.pipe(p, dot)?,
            None => Val::V(Value::Null),
        };
        let saved_vars =
            std::mem::replace(&mut self.vars, vec![("$".to_string(), new_dot.clone())]);
        let saved_name = std::mem::replace(&mut self.name, name.to_string());
        self.depth += 1;
        let res = self.walk(body, &new_dot);
        self.depth -= 1;
        self.name = saved_name;
        self.vars = saved_vars;
        res.map(|_| ())
    }

    fn range(
        &mut self,
        pipe: &'t Pipe,
        list: &'t [Node],
        else_list: Option<&'t [Node]>,
        dot: &Val,
    ) -> Result<Flow, ExecErr> {
        // Evaluate without declaring: the variables are set per iteration.
        let v = self.pipe_value(pipe, dot)?;
        let mark = self.vars.len();
        let items: Vec<(Value, Value)> = match v {
            Val::Missing | Val::V(Value::Null) => Vec::new(),
            Val::V(Value::Array(a)) => a
                .into_iter()
                .enumerate()
                .map(|(i, e)| (Value::from(i), e))
                .collect(),
            Val::V(Value::Object(m)) => {
                // Go ranges over maps in sorted key order.
                let mut entries: Vec<(String, Value)> = m.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries
                    .into_iter()
                    .map(|(k, e)| (Value::String(k), e))
                    .collect()
            }
            Val::V(Value::Number(n)) if n.is_u64() || n.is_i64() => {
                if pipe.decl.len() > 1 {
                    let at = pipe.cmds.first().map_or("", |c| c.src.as_str());
                    return Err(self.fail(
                        pipe.cmds.first().map_or(0, |c| c.pos),
                        at,
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                let n = n.as_u64().unwrap_or(0);
                (0..n).map(|i| (Value::from(i), Value::from(i))).collect()
            }
            other => {
                let cmd = pipe.cmds.first();
                return Err(self.fail(
                    cmd.map_or(0, |c| c.pos),
                    cmd.map_or("", |c| c.src.as_str()),
                    format!(
                        "range can't iterate over {}",
                        match other {
                            Val::V(v) => go_print(&v),
                            Val::Missing => "<no value>".to_string(),
                        }
                    ),
                ));
            }
        };
        if items.is_empty() {
            return match else_list {
                Some(e) => self.walk(e, dot),
                None => Ok(Flow::Normal),
            };
        }
        for (key, elem) in items {
            self.vars.truncate(mark);
            match pipe.decl.as_slice() {
                [one] => self.set_var(one, Val::V(elem.clone()), pipe.assign),
                [k, e] => {
                    self.set_var(k, Val::V(key), pipe.assign);
                    self.set_var(e, Val::V(elem.clone()), pipe.assign);
                }
                _ => {}
            }
            match self.walk(list, &Val::V(elem))? {
                Flow::Break => break,
                Flow::Continue | Flow::Normal => {}
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn set_var(&mut self, name: &str, v: Val, assign: bool) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
                return;
            }
        }
        self.vars.push((name.to_string(), v));
    }

    /// Evaluates a pipeline and applies its declarations.
    fn pipe(&mut self, pipe: &Pipe, dot: &Val) -> Result<Val, ExecErr> {
        let v = self.pipe_value(pipe, dot)?;
        for name in &pipe.decl {
            self.set_var(name, v.clone(), pipe.assign);
        }
        Ok(v)
    }

    fn pipe_value(&mut self, pipe: &Pipe, dot: &Val) -> Result<Val, ExecErr> {
        let mut val: Option<Val> = None;
        for cmd in &pipe.cmds {
            val = Some(self.command(cmd, dot, val)?);
        }
        Ok(val.unwrap_or(Val::Missing))
    }

    fn command(&mut self, cmd: &Cmd, dot: &Val, fin: Option<Val>) -> Result<Val, ExecErr> {
        let first = &cmd.args[0];
        match &first.term {
            Term::Ident(name) => return self.call(name, cmd, &cmd.args[1..], fin, dot),
            Term::Nil => return Err(self.fail(first.pos, &first.src, "nil is not a command")),
            _ => {}
        }
        if fin.is_some() || cmd.args.len() > 1 {
            // Go words this after the kind of node that got the arguments.
            let field = match &first.term {
                Term::Field(chain) | Term::Var(_, chain) | Term::Paren(_, chain) => chain.last(),
                _ => None,
            };
            let msg = match field {
                Some(f) => format!("{f} has arguments but cannot be invoked as function"),
                None => format!("can't give argument to non-function {}", first.src),
            };
            return Err(self.fail(first.pos, &first.src, msg));
        }
        self.operand(first, dot)
    }

    fn operand(&mut self, op: &Operand, dot: &Val) -> Result<Val, ExecErr> {
        match &op.term {
            Term::Dot => Ok(dot.clone()),
            Term::Field(chain) => self.fields(dot, chain, op),
            Term::Var(name, chain) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(self.fail(op.pos, &op.src, format!("undefined variable: {name}")));
                };
                let v = v.clone();
                self.fields(&v, chain, op)
            }
            Term::Paren(pipe, chain) => {
                let v = self.pipe(pipe, dot)?;
                self.fields(&v, chain, op)
            }
            Term::Lit(v) => Ok(Val::V(v.clone())),
            Term::Nil => Ok(Val::V(Value::Null)),
            Term::Ident(name) => {
                let cmd = Cmd {
                    args: Vec::new(),
                    pos: op.pos,
                    src: op.src.clone(),
                };
                self.call(name, &cmd, &[], None, dot)
            }
        }
    }

    /// Walks a field chain. Missing map keys give `<no value>` (Go's default
    /// `missingkey` option); so do fields of nil. Fields of scalars are errors.
    fn fields(&self, base: &Val, chain: &[String], op: &Operand) -> Result<Val, ExecErr> {
        let mut cur = match base {
            Val::Missing => return Ok(Val::Missing),
            Val::V(v) => v,
        };
        for name in chain {
            cur = match cur {
                Value::Object(m) => match m.get(name) {
                    Some(v) => v,
                    None => return Ok(Val::Missing),
                },
                Value::Null => return Ok(Val::Missing),
                other => {
                    return Err(self.fail(
                        op.pos,
                        &op.src,
                        format!("can't evaluate field {name} in type {}", go_type(other)),
                    ));
                }
            };
        }
        Ok(Val::V(cur.clone()))
    }

    fn call(
        &mut self,
        name: &str,
        cmd: &Cmd,
        arg_ops: &[Operand],
        fin: Option<Val>,
        dot: &Val,
    ) -> Result<Val, ExecErr> {
        // `and`/`or` evaluate their operands lazily (Go 1.18+).
        if name == "and" || name == "or" {
            let total = arg_ops.len() + usize::from(fin.is_some());
            if total == 0 {
                return Err(self.fail(
                    cmd.pos,
                    &cmd.src,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Val::Missing;
            for op in arg_ops {
                last = self.operand(op, dot)?;
                if last.truth() == (name == "or") {
                    return Ok(last);
                }
            }
            if let Some(f) = fin {
                last = f;
            }
            return Ok(last);
        }
        let mut args = Vec::with_capacity(arg_ops.len() + 1);
        for op in arg_ops {
            args.push(self.operand(op, dot)?);
        }
        if let Some(f) = fin {
            args.push(f);
        }
        match self.builtin(name, args) {
            Ok(v) => Ok(v),
            Err(FnErr::Call(msg)) => {
                Err(self.fail(cmd.pos, &cmd.src, format!("error calling {name}: {msg}")))
            }
            Err(FnErr::Plain(msg)) => Err(self.fail(cmd.pos, &cmd.src, msg)),
            Err(FnErr::Arg(i, msg)) => match arg_ops.get(i) {
                // A constant of the wrong kind is reported as Go's parser node.
                Some(
                    op @ Operand {
                        term: Term::Lit(_), ..
                    },
                ) if msg.starts_with("wrong type") => {
                    let want = if msg.contains("expected int;") {
                        "integer"
                    } else {
                        "string"
                    };
                    Err(self.fail(
                        op.pos,
                        &op.src,
                        format!("expected {want}; found {}", op.src),
                    ))
                }
                Some(op) => Err(self.fail(op.pos, &op.src, msg)),
                None => Err(self.fail(cmd.pos, &cmd.src, msg)),
            },
        }
    }

    fn builtin(&self, name: &str, args: Vec<Val>) -> FnResult {
        let argc = |want: usize| -> Result<(), FnErr> {
            if args.len() == want {
                Ok(())
            } else {
                Err(FnErr::Plain(format!(
                    "wrong number of args for {name}: want {want} got {}",
                    args.len()
                )))
            }
        };
        if self.header
            && matches!(
                name,
                "json" | "split" | "join" | "title" | "lower" | "upper" | "truncate"
            )
        {
            argc(if matches!(name, "split" | "join" | "truncate") {
                2
            } else {
                1
            })?;
            if name == "truncate" {
                int_arg(&args, 1)?;
            }
            return Ok(Val::V(Value::String(str_arg(&args, 0)?)));
        }
        let plain = |v: Vec<Val>| -> Vec<Value> { v.into_iter().map(Val::into_value).collect() };
        let s = |x: String| Ok(Val::V(Value::String(x)));
        match name {
            "not" => {
                argc(1)?;
                Ok(Val::V(Value::Bool(!args[0].truth())))
            }
            "len" => {
                argc(1)?;
                let n = match &args[0] {
                    Val::V(Value::String(s)) => s.len(),
                    Val::V(Value::Array(a)) => a.len(),
                    Val::V(Value::Object(m)) => m.len(),
                    Val::Missing | Val::V(Value::Null) => {
                        return Err(FnErr::Call("len of nil pointer".into()))
                    }
                    other => return Err(FnErr::Call(format!("len of type {}", other.type_name()))),
                };
                Ok(Val::V(Value::from(n)))
            }
            "index" => index(args),
            "slice" => slice(args),
            "print" => s(sprint(&plain(args))),
            "println" => s(sprintln(&plain(args))),
            "printf" => {
                if args.is_empty() {
                    return Err(FnErr::Plain(
                        "wrong number of args for printf: want at least 1 got 0".into(),
                    ));
                }
                let format = str_arg(&args, 0)?;
                s(sprintf(&format, &plain(args[1..].to_vec())))
            }
            "eq" => {
                if args.len() < 2 {
                    return Err(FnErr::Call("missing argument for comparison".into()));
                }
                for other in &args[1..] {
                    if equal(&args[0], other)? {
                        return Ok(Val::V(Value::Bool(true)));
                    }
                }
                Ok(Val::V(Value::Bool(false)))
            }
            "ne" => {
                argc(2)?;
                Ok(Val::V(Value::Bool(!equal(&args[0], &args[1])?)))
            }
            "lt" | "le" | "gt" | "ge" => {
                argc(2)?;
                let ord = compare(&args[0], &args[1])?;
                let b = match name {
                    "lt" => ord.is_lt(),
                    "le" => ord.is_le(),
                    "gt" => ord.is_gt(),
                    _ => ord.is_ge(),
                };
                Ok(Val::V(Value::Bool(b)))
            }
            "html" => s(html_escape(&eval_args_string(args))),
            "js" => s(js_escape(&eval_args_string(args))),
            "urlquery" => s(query_escape(&eval_args_string(args))),
            "json" => {
                argc(1)?;
                // docker's json function: Go's encoder with HTML escaping off,
                // except for a list row itself (see `row`).
                let v = args[0].clone().into_value();
                let whole_row = self.row
                    && self
                        .vars
                        .first()
                        .is_some_and(|(_, root)| root.clone().into_value() == v);
                s(encode_json(&v, whole_row))
            }
            "split" => {
                argc(2)?;
                let (text, sep) = (str_arg(&args, 0)?, str_arg(&args, 1)?);
                let parts: Vec<Value> = if sep.is_empty() {
                    text.chars().map(|c| Value::String(c.to_string())).collect()
                } else {
                    text.split(sep.as_str())
                        .map(|p| Value::String(p.to_string()))
                        .collect()
                };
                Ok(Val::V(Value::Array(parts)))
            }
            "join" => {
                argc(2)?;
                let parts = match &args[0] {
                    Val::V(Value::Array(a)) => a.iter().map(go_print).collect::<Vec<_>>(),
                    Val::V(Value::Null) => Vec::new(),
                    other => {
                        return Err(FnErr::Arg(
                            0,
                            format!(
                                "wrong type for value; expected []string; got {}",
                                other.type_name()
                            ),
                        ));
                    }
                };
                s(parts.join(&str_arg(&args, 1)?))
            }
            "title" => {
                argc(1)?;
                s(title(&str_arg(&args, 0)?))
            }
            "lower" => {
                argc(1)?;
                s(str_arg(&args, 0)?.to_lowercase())
            }
            "upper" => {
                argc(1)?;
                s(str_arg(&args, 0)?.to_uppercase())
            }
            "pad" => {
                argc(3)?;
                let text = str_arg(&args, 0)?;
                let (pre, suf) = (int_arg(&args, 1)?, int_arg(&args, 2)?);
                if text.is_empty() {
                    return s(text);
                }
                let rep = |n: i64| " ".repeat(usize::try_from(n).unwrap_or(0));
                s(format!("{}{text}{}", rep(pre), rep(suf)))
            }
            "truncate" => {
                argc(2)?;
                let text = str_arg(&args, 0)?;
                let n = int_arg(&args, 1)?;
                let Ok(n) = usize::try_from(n) else {
                    // Go panics slicing with a negative length; text/template reports it.
                    return Err(FnErr::Call(format!(
                        "runtime error: slice bounds out of range [:{n}]"
                    )));
                };
                if text.len() < n {
                    return s(text);
                }
                // Go slices bytes; stay on a character boundary.
                let mut cut = n;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                s(text[..cut].to_string())
            }
            other => Err(FnErr::Plain(format!("function \"{other}\" not defined"))),
        }
    }
}

fn str_arg(args: &[Val], i: usize) -> Result<String, FnErr> {
    match args.get(i) {
        Some(Val::V(Value::String(s))) => Ok(s.clone()),
        Some(Val::Missing) => Err(FnErr::Arg(i, "invalid value; expected string".into())),
        Some(other) => Err(FnErr::Arg(
            i,
            format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            ),
        )),
        None => Err(FnErr::Plain("missing argument".into())),
    }
}

fn int_arg(args: &[Val], i: usize) -> Result<i64, FnErr> {
    match args.get(i) {
        Some(Val::V(Value::Number(n))) if n.is_i64() => Ok(n.as_i64().unwrap_or(0)),
        Some(Val::Missing) => Err(FnErr::Arg(i, "invalid value; expected int".into())),
        Some(other) => Err(FnErr::Arg(
            i,
            format!(
                "wrong type for value; expected int; got {}",
                other.type_name()
            ),
        )),
        None => Err(FnErr::Plain("missing argument".into())),
    }
}

/// Go's `index`: arrays by integer, maps by key. A missing map key gives the
/// map's zero value: "" for string maps (labels, options), else Go's nil
/// interface, which prints as `<no value>`.
fn index(args: Vec<Val>) -> FnResult {
    let mut it = args.into_iter();
    let Some(mut cur) = it.next() else {
        return Err(FnErr::Plain(
            "wrong number of args for index: want at least 1 got 0".into(),
        ));
    };
    for key in it {
        cur = match (cur, key) {
            (Val::V(Value::Array(a)), Val::V(Value::Number(n))) => {
                let i = n.as_i64().unwrap_or(-1);
                match usize::try_from(i).ok().and_then(|i| a.get(i)) {
                    Some(v) => Val::V(v.clone()),
                    None => return Err(FnErr::Call(format!("index out of range: {i}"))),
                }
            }
            (Val::V(Value::String(s)), Val::V(Value::Number(n))) => {
                let i = n.as_i64().unwrap_or(-1);
                match usize::try_from(i).ok().and_then(|i| s.as_bytes().get(i)) {
                    Some(b) => Val::V(Value::from(*b)),
                    None => return Err(FnErr::Call(format!("index out of range: {i}"))),
                }
            }
            (Val::V(Value::Object(m)), Val::V(Value::String(k))) => match m.get(&k) {
                Some(v) => Val::V(v.clone()),
                None if m.values().next().is_none_or(Value::is_string) => {
                    Val::V(Value::String(String::new()))
                }
                None => Val::Missing,
            },
            (Val::Missing | Val::V(Value::Null), _) => {
                return Err(FnErr::Call("index of untyped nil".into()))
            }
            (Val::V(Value::Array(_) | Value::String(_)), k) => {
                return Err(FnErr::Call(format!(
                    "cannot index slice/array with type {}",
                    k.type_name()
                )));
            }
            (Val::V(Value::Object(_)), k) => {
                return Err(FnErr::Call(format!(
                    "value has type {}; should be string",
                    k.type_name()
                )));
            }
            (c, _) => {
                return Err(FnErr::Call(format!(
                    "can't index item of type {}",
                    c.type_name()
                )))
            }
        };
    }
    Ok(cur)
}

fn slice(args: Vec<Val>) -> FnResult {
    let mut it = args.into_iter();
    let Some(item) = it.next() else {
        return Err(FnErr::Plain(
            "wrong number of args for slice: want at least 1 got 0".into(),
        ));
    };
    let idx: Vec<i64> = it
        .map(|v| match v {
            Val::V(Value::Number(n)) if n.is_i64() => Ok(n.as_i64().unwrap_or(0)),
            other => Err(FnErr::Call(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ))),
        })
        .collect::<Result<_, _>>()?;
    if idx.len() > 2 {
        return Err(FnErr::Call(format!(
            "too many slice indexes: {}",
            idx.len()
        )));
    }
    let len = match &item {
        Val::V(Value::String(s)) => s.len(),
        Val::V(Value::Array(a)) => a.len(),
        other => {
            return Err(FnErr::Call(format!(
                "can't slice item of type {}",
                other.type_name()
            )))
        }
    } as i64;
    let lo = idx.first().copied().unwrap_or(0);
    let hi = idx.get(1).copied().unwrap_or(len);
    if lo < 0 || hi < lo || hi > len {
        return Err(FnErr::Call(format!(
            "index out of range: {}",
            if lo < 0 || lo > len { lo } else { hi }
        )));
    }
    let (lo, hi) = (lo as usize, hi as usize);
    match item {
        Val::V(Value::String(s)) => Ok(Val::V(Value::String(
            String::from_utf8_lossy(&s.as_bytes()[lo..hi]).into_owned(),
        ))),
        Val::V(Value::Array(a)) => Ok(Val::V(Value::Array(a[lo..hi].to_vec()))),
        _ => Err(FnErr::Call("can't slice item".into())),
    }
}

fn num_pair(a: &Number, b: &Number) -> std::cmp::Ordering {
    match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x.cmp(&y),
        (_, _, Some(x), Some(y)) => x.cmp(&y),
        _ => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
        }
    }
}

fn equal(a: &Val, b: &Val) -> Result<bool, FnErr> {
    let null = Value::Null;
    let (x, y) = match (a, b) {
        (Val::Missing, Val::Missing) => return Ok(true),
        (Val::Missing, Val::V(y)) => (&null, y),
        (Val::V(x), Val::Missing) => (x, &null),
        (Val::V(x), Val::V(y)) => (x, y),
    };
    match (x, y) {
        (Value::Null, _) | (_, Value::Null) => Ok(x.is_null() && y.is_null()),
        (Value::Number(m), Value::Number(n)) => Ok(num_pair(m, n).is_eq()),
        (Value::String(m), Value::String(n)) => Ok(m == n),
        (Value::Bool(m), Value::Bool(n)) => Ok(m == n),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            Err(FnErr::Call("non-comparable type".into()))
        }
        _ => Err(FnErr::Call("incompatible types for comparison".into())),
    }
}

fn compare(a: &Val, b: &Val) -> Result<std::cmp::Ordering, FnErr> {
    match (a, b) {
        (Val::V(Value::Number(m)), Val::V(Value::Number(n))) => Ok(num_pair(m, n)),
        (Val::V(Value::String(m)), Val::V(Value::String(n))) => Ok(m.cmp(n)),
        (
            Val::V(Value::Number(_) | Value::String(_)),
            Val::V(Value::Number(_) | Value::String(_)),
        ) => Err(FnErr::Call("incompatible types for comparison".into())),
        _ => Err(FnErr::Call("invalid type for comparison".into())),
    }
}

/// Go's evalArgs for html/js/urlquery: a lone string as is, else `fmt.Sprint`.
fn eval_args_string(args: Vec<Val>) -> String {
    match args.as_slice() {
        [Val::V(Value::String(s))] => s.clone(),
        _ => sprint(&args.into_iter().map(Val::into_value).collect::<Vec<_>>()),
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape` (space as `+`): the template `urlquery` function and
/// the CLI's query strings share it.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's deprecated `strings.Title`: upper-cases letters that follow a separator.
fn title(s: &str) -> String {
    let is_sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_sep(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}
