//! `update` (and `container update`).

use berth_api_types::models::{ContainerUpdateBody, RestartPolicy};
use serde_json::{json, Value};

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::client::path_escape;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::opts;

const fn int(long: &'static str, short: Option<char>, usage: &'static str) -> FlagSpec {
    flag(long, short, Kind::Str, usage)
        .ty("int")
        .check(opts::check_int)
}

const fn bytes(long: &'static str, short: Option<char>, usage: &'static str) -> FlagSpec {
    flag(long, short, Kind::Str, usage)
        .ty("bytes")
        .check(opts::check_bytes)
}

fn check_u16(s: &str) -> std::result::Result<(), String> {
    s.parse::<u16>()
        .map(|_| ())
        .map_err(|_| format!("strconv.ParseUint: parsing \"{s}\": invalid syntax"))
}

const FLAGS: &[FlagSpec] = &[
    flag(
        "blkio-weight",
        None,
        Kind::Str,
        "Block IO (relative weight), between 10 and 1000, or 0 to disable",
    )
    .ty("uint16")
    .def("0")
    .check(check_u16),
    int(
        "cpu-period",
        None,
        "Limit CPU CFS (Completely Fair Scheduler) period",
    ),
    int(
        "cpu-quota",
        None,
        "Limit CPU CFS (Completely Fair Scheduler) quota",
    ),
    int(
        "cpu-rt-period",
        None,
        "Limit the CPU real-time period in microseconds",
    ),
    int(
        "cpu-rt-runtime",
        None,
        "Limit the CPU real-time runtime in microseconds",
    ),
    int("cpu-shares", Some('c'), "CPU shares (relative weight)"),
    flag("cpus", None, Kind::Str, "Number of CPUs")
        .ty("decimal")
        .check(opts::check_cpus),
    flag(
        "cpuset-cpus",
        None,
        Kind::Str,
        "CPUs in which to allow execution (0-3, 0,1)",
    ),
    flag(
        "cpuset-mems",
        None,
        Kind::Str,
        "MEMs in which to allow execution (0-3, 0,1)",
    ),
    bytes("memory", Some('m'), "Memory limit"),
    bytes("memory-reservation", None, "Memory soft limit"),
    flag(
        "memory-swap",
        None,
        Kind::Str,
        "Swap limit equal to memory plus swap: -1 to enable unlimited swap",
    )
    .ty("bytes")
    .check(opts::check_swap),
    int(
        "pids-limit",
        None,
        "Tune container pids limit (set -1 for unlimited)",
    ),
    flag(
        "restart",
        None,
        Kind::Str,
        "Restart policy to apply when a container exits",
    ),
];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] CONTAINER [CONTAINER...]",
        short: "Update configuration of one or more containers",
        aliases: "berth container update, berth update",
        arity: Arity::Min(1),
        interspersed: true,
        flags: FLAGS,
    }
}

/// The update body; only the flags given are set (docker sends zero values,
/// which the daemon reads as "unchanged").
pub fn update_body(p: &Parsed) -> std::result::Result<ContainerUpdateBody, String> {
    let given = FLAGS.iter().any(|f| p.str(f.long).is_some());
    if !given {
        return Err("you must provide one or more flags when using this command".to_string());
    }
    let int_of = |k: &str| p.str(k).and_then(|v| opts::parse_go_int(v).ok());
    let bytes_of = |k: &str| p.str(k).and_then(|v| opts::ram_in_bytes(v).ok());
    let restart_policy = match p.str("restart") {
        Some(r) => match opts::restart_policy(r)? {
            Some((name, count)) => Some(RestartPolicy {
                name: Some(serde_json::from_value(json!(name)).map_err(|_| {
                    format!("invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")
                })?),
                maximum_retry_count: count,
            }),
            None => None,
        },
        None => None,
    };
    Ok(ContainerUpdateBody {
        blkio_weight: p.str("blkio-weight").and_then(|v| v.parse().ok()),
        cpu_period: int_of("cpu-period"),
        cpu_quota: int_of("cpu-quota"),
        cpu_realtime_period: int_of("cpu-rt-period"),
        cpu_realtime_runtime: int_of("cpu-rt-runtime"),
        cpu_shares: int_of("cpu-shares"),
        nano_cpus: p.str("cpus").and_then(|v| opts::nano_cpus(v).ok()),
        cpuset_cpus: p.str("cpuset-cpus").map(str::to_string),
        cpuset_mems: p.str("cpuset-mems").map(str::to_string),
        memory: bytes_of("memory"),
        memory_reservation: bytes_of("memory-reservation"),
        memory_swap: p
            .str("memory-swap")
            .and_then(|v| opts::mem_swap_bytes(v).ok()),
        pids_limit: int_of("pids-limit"),
        restart_policy,
        ..Default::default()
    })
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let body = update_body(p).map_err(CliError::msg)?;
    let body = serde_json::to_value(&body).map_err(|e| CliError::msg(e.to_string()))?;
    let client = super::client_for_each(ctx, &p.args).await?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for name in &p.args {
        match client
            .post_json(
                &format!("/containers/{}/update", path_escape(name)),
                &[],
                Some(&body),
            )
            .await
        {
            Ok(r) => {
                writeln!(ctx.out, "{name}")?;
                warnings.extend(
                    r.get("Warnings")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string),
                );
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    for w in warnings {
        writeln!(ctx.err, "{w}")?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Parsed {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        spec("update").parse(&argv).unwrap()
    }

    #[test]
    fn body_has_only_given_flags() {
        let v = serde_json::to_value(
            update_body(&parse(&[
                "-m",
                "256m",
                "--cpus",
                "0.5",
                "--restart",
                "always",
                "c",
            ]))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"Memory": 268435456, "NanoCpus": 500000000, "RestartPolicy": {"Name": "always"}})
        );
        assert_eq!(
            update_body(&parse(&["c"])).unwrap_err(),
            "you must provide one or more flags when using this command"
        );
    }
}
