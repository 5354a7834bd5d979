//! `stop` and `restart` (and `container stop|restart`).

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::ctx::Ctx;
use crate::error::Result;
use crate::opts;

const FLAGS: &[FlagSpec] = &[
    flag(
        "signal",
        Some('s'),
        Kind::Str,
        "Signal to send to the container",
    ),
    flag(
        "timeout",
        Some('t'),
        Kind::Str,
        "Seconds to wait before killing the container",
    )
    .ty("int")
    .check(opts::check_int),
];

pub const fn stop_spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] CONTAINER [CONTAINER...]",
        short: "Stop one or more running containers",
        aliases: "berth container stop, berth stop",
        arity: Arity::Min(1),
        interspersed: true,
        flags: FLAGS,
    }
}

pub const fn restart_spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] CONTAINER [CONTAINER...]",
        short: "Restart one or more containers",
        aliases: "berth container restart, berth restart",
        arity: Arity::Min(1),
        interspersed: true,
        flags: FLAGS,
    }
}

/// `signal=` and `t=` as docker sends them (only when given).
pub fn query(p: &Parsed) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(s) = p.str("signal").filter(|s| !s.is_empty()) {
        q.push(("signal", s.to_string()));
    }
    if let Some(t) = p.str("timeout").and_then(|t| opts::parse_go_int(t).ok()) {
        q.push(("t", t.to_string()));
    }
    q
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed, action: &str) -> Result<()> {
    super::each_container(ctx, &p.args, hyper::Method::POST, action, &query(p)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_only_has_given_flags() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = stop_spec("stop").parse(&argv(&["x"])).unwrap();
        assert!(query(&p).is_empty());
        let p = stop_spec("stop")
            .parse(&argv(&["-t", "0", "-s", "SIGINT", "x"]))
            .unwrap();
        assert_eq!(
            query(&p),
            vec![("signal", "SIGINT".to_string()), ("t", "0".to_string())]
        );
        let e = stop_spec("stop")
            .parse(&argv(&["-t", "x", "c"]))
            .unwrap_err();
        assert!(e.to_string().starts_with(
            "invalid argument \"x\" for \"-t, --timeout\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"
        ));
    }
}
