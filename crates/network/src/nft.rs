//! berth's own `table inet <name>`, driven through `nft -j -f -` (one atomic batch per
//! change).
//!
//! Layout:
//! - `prerouting` / `output` (nat, priority dstnat): traffic to any local address jumps to
//!   `publish`, so published ports work from outside, from containers and from the host
//!   itself (incl. 127.0.0.1, with `route_localnet` on the bridge).
//! - `postrouting` (nat, priority srcnat): masquerade the subnet leaving through another
//!   interface; masquerade localhost and hairpin traffic DNATed onto the bridge so the
//!   replies come back through us.
//! - `publish`: one DNAT rule per published port, commented `berth:<container id>`; the
//!   comment is how detach finds a container's rules, even after a crash.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::{Ipv4Cidr, PortBinding};

const NFT: &str = "/usr/sbin/nft";
const PUBLISH: &str = "publish";

fn nft_program() -> &'static str {
    if std::path::Path::new(NFT).exists() {
        NFT
    } else {
        "nft"
    }
}

fn run_nft(args: &[&str], stdin: Option<&[u8]>, action: &str) -> Result<std::process::Output> {
    let program = nft_program();
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: program.into(),
            source,
        })?;
    // A write error (nft exited early) matters only if nft did not say why itself.
    let written = match (stdin, child.stdin.take()) {
        (Some(input), Some(mut pipe)) => pipe.write_all(input),
        _ => Ok(()),
    };
    let out = child.wait_with_output().map_err(|source| Error::Spawn {
        program: program.into(),
        source,
    })?;
    if !out.status.success() {
        return Err(Error::Nft {
            action: action.into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    written.map_err(|source| Error::Spawn {
        program: program.into(),
        source,
    })?;
    Ok(out)
}

/// Applies `commands` as one atomic transaction.
fn apply(commands: Vec<Value>, action: &str) -> Result<()> {
    if commands.is_empty() {
        return Ok(());
    }
    let batch = json!({ "nftables": commands });
    run_nft(
        &["-j", "-f", "-"],
        Some(batch.to_string().as_bytes()),
        action,
    )
    .map(|_| ())
}

fn is_missing(err: &Error) -> bool {
    matches!(err, Error::Nft { stderr, .. } if stderr.contains("No such file or directory"))
}

/// The comment that tags a container's rules.
pub(crate) fn tag(container_id: &str) -> String {
    format!("berth:{container_id}")
}

fn m(op: &str, left: Value, right: Value) -> Value {
    json!({ "match": { "op": op, "left": left, "right": right } })
}

fn meta(key: &str) -> Value {
    json!({ "meta": { "key": key } })
}

fn payload(protocol: &str, field: &str) -> Value {
    json!({ "payload": { "protocol": protocol, "field": field } })
}

fn prefix(cidr: Ipv4Cidr) -> Value {
    json!({ "prefix": { "addr": cidr.network().to_string(), "len": cidr.prefix_len } })
}

fn base_chain(table: &str, name: &str, hook: &str, prio: i32) -> Value {
    json!({ "add": { "chain": {
        "family": "inet", "table": table, "name": name,
        "type": "nat", "hook": hook, "prio": prio, "policy": "accept"
    } } })
}

fn rule(table: &str, chain: &str, expr: Vec<Value>, comment: Option<String>) -> Value {
    let mut r = json!({ "family": "inet", "table": table, "chain": chain, "expr": expr });
    if let Some(c) = comment {
        r["comment"] = Value::String(c);
    }
    json!({ "add": { "rule": r } })
}

/// Creates (or refreshes) the table with its static rules. Idempotent: the hooked chains
/// are flushed and refilled in the same transaction, `publish` is left as it is.
pub(crate) fn setup(table: &str, bridge: &str, subnet: Ipv4Cidr) -> Result<()> {
    let local_dst = || {
        m(
            "==",
            json!({ "fib": { "result": "type", "flags": ["daddr"] } }),
            json!("local"),
        )
    };
    let jump = json!({ "jump": { "target": PUBLISH } });
    let mut cmds = vec![
        json!({ "add": { "table": { "family": "inet", "name": table } } }),
        base_chain(table, "prerouting", "prerouting", -100),
        base_chain(table, "output", "output", -100),
        base_chain(table, "postrouting", "postrouting", 100),
        json!({ "add": { "chain": { "family": "inet", "table": table, "name": PUBLISH } } }),
    ];
    for chain in ["prerouting", "output", "postrouting"] {
        cmds.push(
            json!({ "flush": { "chain": { "family": "inet", "table": table, "name": chain } } }),
        );
    }
    cmds.push(rule(
        table,
        "prerouting",
        vec![local_dst(), jump.clone()],
        None,
    ));
    cmds.push(rule(table, "output", vec![local_dst(), jump], None));
    let masq = json!({ "masquerade": null });
    // Outbound: the subnet leaving through any other interface.
    cmds.push(rule(
        table,
        "postrouting",
        vec![
            m("==", payload("ip", "saddr"), prefix(subnet)),
            m("!=", meta("oifname"), json!(bridge)),
            masq.clone(),
        ],
        None,
    ));
    // The host's own 127.0.0.1 connections DNATed onto the bridge: the container could
    // not answer 127.0.0.1.
    cmds.push(rule(
        table,
        "postrouting",
        vec![
            m("==", meta("oifname"), json!(bridge)),
            m(
                "==",
                payload("ip", "saddr"),
                json!({ "prefix": { "addr": "127.0.0.0", "len": 8 } }),
            ),
            masq.clone(),
        ],
        None,
    ));
    // Hairpin: a container reaching a published port that lands on the same bridge would
    // otherwise get the reply straight from the peer, with the wrong source.
    cmds.push(rule(
        table,
        "postrouting",
        vec![
            m("==", meta("oifname"), json!(bridge)),
            m("==", payload("ip", "saddr"), prefix(subnet)),
            m("in", json!({ "ct": { "key": "status" } }), json!("dnat")),
            masq,
        ],
        None,
    ));
    apply(cmds, &format!("setting up table inet {table}"))
}

/// DNAT rules for `bindings` (host ports already resolved), tagged with the container id.
pub(crate) fn publish(
    table: &str,
    container_id: &str,
    container_ip: Ipv4Addr,
    bindings: &[PortBinding],
) -> Result<()> {
    let cmds = bindings
        .iter()
        .map(|b| {
            let proto = b.proto.as_str();
            let mut expr = vec![m("==", meta("nfproto"), json!("ipv4"))];
            if let Some(IpAddr::V4(ip)) = b.host_ip.filter(|ip| !ip.is_unspecified()) {
                expr.push(m("==", payload("ip", "daddr"), json!(ip.to_string())));
            }
            expr.push(m("==", payload(proto, "dport"), json!(b.host_port)));
            expr.push(json!({ "dnat": {
                "family": "ip", "addr": container_ip.to_string(), "port": b.container_port
            } }));
            rule(table, PUBLISH, expr, Some(tag(container_id)))
        })
        .collect();
    apply(
        cmds,
        &format!("publishing ports of container {container_id}"),
    )
}

/// The rules in `publish` (none if the table is gone).
fn publish_rules(table: &str) -> Result<Vec<Value>> {
    let action = format!("listing chain inet {table} {PUBLISH}");
    let out = match run_nft(
        &["-j", "list", "chain", "inet", table, PUBLISH],
        None,
        &action,
    ) {
        Ok(out) => out,
        Err(e) if is_missing(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut listing: Value = serde_json::from_slice(&out.stdout).map_err(|e| Error::NftOutput {
        action: action.clone(),
        reason: e.to_string(),
    })?;
    let items = listing["nftables"]
        .as_array_mut()
        .ok_or_else(|| Error::NftOutput {
            action: action.clone(),
            reason: "no \"nftables\" array".into(),
        })?;
    Ok(items
        .iter_mut()
        .filter_map(|item| item.get_mut("rule").map(Value::take))
        .collect())
}

/// Handles of the rules in `publish` tagged with `container_id` (none if the table is gone).
pub(crate) fn rule_handles(table: &str, container_id: &str) -> Result<Vec<u64>> {
    let want = tag(container_id);
    Ok(publish_rules(table)?
        .iter()
        .filter(|r| r["comment"].as_str() == Some(want.as_str()))
        .filter_map(|r| r["handle"].as_u64())
        .collect())
}

/// The ids of the containers that have rules in `publish`.
pub(crate) fn tagged_containers(table: &str) -> Result<std::collections::HashSet<String>> {
    Ok(publish_rules(table)?
        .iter()
        .filter_map(|r| r["comment"].as_str()?.strip_prefix("berth:"))
        .map(str::to_string)
        .collect())
}

/// Removes every rule tagged with `container_id`. Idempotent.
pub(crate) fn unpublish(table: &str, container_id: &str) -> Result<()> {
    let cmds = rule_handles(table, container_id)?
        .into_iter()
        .map(|handle| {
            json!({ "delete": { "rule": {
                "family": "inet", "table": table, "chain": PUBLISH, "handle": handle
            } } })
        })
        .collect();
    apply(
        cmds,
        &format!("removing port rules of container {container_id}"),
    )
}

/// Whether the table exists.
pub(crate) fn table_exists(table: &str) -> Result<bool> {
    match run_nft(
        &["-j", "list", "table", "inet", table],
        None,
        &format!("listing table inet {table}"),
    ) {
        Ok(_) => Ok(true),
        Err(e) if is_missing(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes the whole table. Idempotent.
pub(crate) fn delete_table(table: &str) -> Result<()> {
    if !table_exists(table)? {
        return Ok(());
    }
    apply(
        vec![json!({ "delete": { "table": { "family": "inet", "name": table } } })],
        &format!("deleting table inet {table}"),
    )
}
