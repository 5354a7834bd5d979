//! `run` / `create` (and `container run|create`): docker's container flags
//! turned into the `POST /containers/create` body, the pull-on-missing flow,
//! and run's attach → wait → start → resize sequence.

use std::collections::HashMap;

use berth_api_types::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, HostConfigLogConfig, Mount,
    NetworkingConfig, PortBinding, ResourcesUlimits, RestartPolicy,
};
use serde_json::{json, Value};

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed, PROG};
use crate::client::{path_escape, read_body, Client};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::opts;
use crate::stream::{StreamEnd, StreamOpts};

const fn list(long: &'static str, short: Option<char>, usage: &'static str) -> FlagSpec {
    flag(long, short, Kind::List, usage)
}

const fn s(long: &'static str, usage: &'static str) -> FlagSpec {
    flag(long, None, Kind::Str, usage)
}

const fn b(long: &'static str, short: Option<char>, usage: &'static str) -> FlagSpec {
    flag(long, short, Kind::Bool, usage)
}

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

/// Flags `run` and `create` share (docker/cli `AddFlags` and the create options).
macro_rules! container_flags {
    ($($extra:expr),* $(,)?) => {
        &[
            $($extra,)*
            list("add-host", None, "Add a custom host-to-IP mapping (host:ip)")
                .check(opts::check_extra_host),
            list("attach", Some('a'), "Attach to STDIN, STDOUT or STDERR").check(opts::check_attach),
            list("cap-add", None, "Add Linux capabilities"),
            list("cap-drop", None, "Drop Linux capabilities"),
            s("cgroup-parent", "Optional parent cgroup for the container"),
            s("cidfile", "Write the container ID to the file"),
            int("cpu-period", None, "Limit CPU CFS (Completely Fair Scheduler) period"),
            int("cpu-quota", None, "Limit CPU CFS (Completely Fair Scheduler) quota"),
            int("cpu-shares", Some('c'), "CPU shares (relative weight)"),
            s("cpus", "Number of CPUs").ty("decimal").check(opts::check_cpus),
            s("cpuset-cpus", "CPUs in which to allow execution (0-3, 0,1)"),
            s("cpuset-mems", "MEMs in which to allow execution (0-3, 0,1)"),
            b("disable-content-trust", None, "Skip image verification").def("true"),
            list("dns", None, "Set custom DNS servers").check(opts::check_ip),
            list("dns-option", None, "Set DNS options"),
            list("dns-search", None, "Set custom DNS search domains"),
            s("domainname", "Container NIS domain name"),
            s("entrypoint", "Overwrite the default ENTRYPOINT of the image"),
            list("env", Some('e'), "Set environment variables").check(opts::check_env),
            list("env-file", None, "Read in a file of environment variables"),
            list("expose", None, "Expose a port or a range of ports"),
            list("group-add", None, "Add additional groups to join"),
            b("help", None, "Print usage"),
            flag("hostname", Some('h'), Kind::Str, "Container host name"),
            b("init", None, "Run an init inside the container that forwards signals and reaps processes"),
            b("interactive", Some('i'), "Keep STDIN open even if not attached"),
            s("ipc", "IPC mode to use"),
            list("label", Some('l'), "Set meta data on a container").check(opts::check_label),
            list("label-file", None, "Read in a line delimited file of labels"),
            s("log-driver", "Logging driver for the container"),
            list("log-opt", None, "Log driver options"),
            bytes("memory", Some('m'), "Memory limit"),
            bytes("memory-reservation", None, "Memory soft limit"),
            flag("memory-swap", None, Kind::Str, "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
                .ty("bytes")
                .check(opts::check_swap),
            flag("mount", None, Kind::List, "Attach a filesystem mount to the container")
                .ty("mount")
                .check(opts::check_mount),
            s("name", "Assign a name to the container"),
            flag("network", None, Kind::List, "Connect a container to a network").ty("network"),
            list("network-alias", None, "Add network-scoped alias for the container"),
            b("oom-kill-disable", None, "Disable OOM Killer"),
            int("oom-score-adj", None, "Tune host's OOM preferences (-1000 to 1000)"),
            s("pid", "PID namespace to use"),
            int("pids-limit", None, "Tune container pids limit (set -1 for unlimited)"),
            s("platform", "Set platform if server is multi-platform capable"),
            b("privileged", None, "Give extended privileges to this container"),
            list("publish", Some('p'), "Publish a container's port(s) to the host"),
            b("publish-all", Some('P'), "Publish all exposed ports to random ports"),
            b("quiet", Some('q'), "Suppress the pull output"),
            b("read-only", None, "Mount the container's root filesystem as read only"),
            s("restart", "Restart policy to apply when a container exits").def("\"no\""),
            b("rm", None, "Automatically remove the container and its associated anonymous volumes when it exits"),
            s("runtime", "Runtime to use for this container"),
            list("security-opt", None, "Security Options"),
            bytes("shm-size", None, "Size of /dev/shm"),
            s("stop-signal", "Signal to stop the container"),
            int("stop-timeout", None, "Timeout (in seconds) to stop a container"),
            flag("sysctl", None, Kind::List, "Sysctl options")
                .ty("map")
                .def("map[]")
                .check(opts::check_sysctl),
            list("tmpfs", None, "Mount a tmpfs directory"),
            b("tty", Some('t'), "Allocate a pseudo-TTY"),
            flag("ulimit", None, Kind::List, "Ulimit options")
                .ty("ulimit")
                .def("[]")
                .check(opts::check_ulimit),
            flag("user", Some('u'), Kind::Str, "Username or UID (format: <name|uid>[:<group|gid>])"),
            s("userns", "User namespace to use"),
            s("uts", "UTS namespace to use"),
            list("volume", Some('v'), "Bind mount a volume"),
            list("volumes-from", None, "Mount volumes from the specified container(s)"),
            flag("workdir", Some('w'), Kind::Str, "Working directory inside the container"),
        ]
    };
}

const RUN_FLAGS: &[FlagSpec] = container_flags![
    b(
        "detach",
        Some('d'),
        "Run container in background and print container ID"
    ),
    s(
        "detach-keys",
        "Override the key sequence for detaching a container"
    ),
    s(
        "pull",
        "Pull image before running (\"always\", \"missing\", \"never\")"
    )
    .def("\"missing\""),
    b("sig-proxy", None, "Proxy received signals to the process").def("true"),
];

const CREATE_FLAGS: &[FlagSpec] = container_flags![s(
    "pull",
    "Pull image before creating (\"always\", \"|missing\", \"never\")"
)
.def("\"missing\"")];

pub const fn run_spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        short: "Create and run a new container from an image",
        aliases: "berth container run, berth run",
        arity: Arity::Min(1),
        interspersed: false,
        flags: RUN_FLAGS,
    }
}

pub const fn create_spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        short: "Create a new container",
        aliases: "berth container create, berth create",
        arity: Arity::Min(1),
        interspersed: false,
        flags: CREATE_FLAGS,
    }
}

/// Everything `POST /containers/create` needs, plus the client-side options.
#[derive(Debug)]
pub struct CreateRequest {
    pub body: ContainerCreateBody,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub pull: String,
    pub quiet: bool,
    pub cidfile: Option<String>,
}

fn int_of(p: &Parsed, name: &str) -> Option<i64> {
    p.str(name).and_then(|v| opts::parse_go_int(v).ok())
}

fn bytes_of(p: &Parsed, name: &str) -> Option<i64> {
    p.str(name).and_then(|v| opts::ram_in_bytes(v).ok())
}

fn some_vec(v: Vec<String>) -> Option<Vec<String>> {
    (!v.is_empty()).then_some(v)
}

/// docker/cli's `parse`: the flags as the create body, with its errors (each
/// reported as `berth: <msg>` and exit 125 by the caller).
pub fn create_request(
    p: &Parsed,
    console: Option<(u16, u16)>,
) -> std::result::Result<CreateRequest, String> {
    let pull = p.str("pull").unwrap_or("missing").to_string();
    if !matches!(pull.as_str(), "always" | "missing" | "never") {
        return Err(format!(
            "invalid pull option: '{pull}': must be one of \"always\", \"missing\" or \"never\""
        ));
    }
    let image = p.args.first().cloned().unwrap_or_default();
    let cmd = some_vec(p.args.iter().skip(1).cloned().collect());

    let attach: Vec<String> = p.list("attach").iter().map(|a| a.to_lowercase()).collect();
    let interactive = p.bool("interactive");
    let tty = p.bool("tty");
    let mut attach_stdin = attach.iter().any(|a| a == "stdin") || interactive;
    let (mut attach_stdout, mut attach_stderr) = (
        attach.iter().any(|a| a == "stdout"),
        attach.iter().any(|a| a == "stderr"),
    );
    if attach.is_empty() {
        attach_stdout = true;
        attach_stderr = true;
    }
    let detach = p.bool("detach");
    if detach {
        attach_stdin = false;
        attach_stdout = false;
        attach_stderr = false;
    }

    // Environment: files first, then -e, as docker reads them.
    let mut env = Vec::new();
    for f in p.list("env-file") {
        env.extend(opts::read_kv_file(&f, true)?);
    }
    for e in p.list("env") {
        env.push(opts::validate_env(&e)?);
    }
    let mut labels = Vec::new();
    for f in p.list("label-file") {
        labels.extend(opts::read_kv_file(&f, false)?);
    }
    labels.extend(p.list("label"));

    // Ports.
    let mut exposed: Vec<String> = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for spec in p.list("publish") {
        for m in opts::parse_port_spec(&spec)? {
            if !exposed.contains(&m.port) {
                exposed.push(m.port.clone());
            }
            bindings
                .entry(m.port)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(m.host_ip),
                    host_port: Some(m.host_port),
                });
        }
    }
    for e in p.list("expose") {
        for port in opts::parse_expose(&e)? {
            if !exposed.contains(&port) {
                exposed.push(port);
            }
        }
    }

    // Volumes: a source makes a bind (or named volume), none an anonymous volume.
    let mut binds = Vec::new();
    let mut volumes = Vec::new();
    for v in p.list("volume") {
        let parts: Vec<&str> = v.splitn(2, ':').collect();
        if parts.len() == 2 && !parts[1].is_empty() && !parts[0].is_empty() {
            let host = parts[0];
            let host = if host.starts_with('.') {
                std::path::absolute(host)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| host.to_string())
            } else {
                host.to_string()
            };
            binds.push(format!("{host}:{}", parts[1]));
        } else if !v.is_empty() {
            volumes.push(v);
        } else {
            return Err("invalid empty volume spec".to_string());
        }
    }
    let mut mounts = Vec::new();
    for m in p.list("mount") {
        let v = opts::parse_mount(&m)?;
        let mount: Mount =
            serde_json::from_value(v).map_err(|_| format!("invalid mount type in '{m}'"))?;
        mounts.push(mount);
    }
    let mut tmpfs = HashMap::new();
    for t in p.list("tmpfs") {
        let (path, o) = t.split_once(':').unwrap_or((t.as_str(), ""));
        if path.is_empty() {
            return Err(format!("invalid tmpfs: {t:?}"));
        }
        tmpfs.insert(path.to_string(), o.to_string());
    }

    let restart = opts::restart_policy(p.str("restart").unwrap_or(""))?;
    let auto_remove = p.bool("rm");
    if auto_remove && restart.as_ref().is_some_and(|(n, _)| n != "no") {
        return Err("conflicting options: cannot specify both --restart and --rm".to_string());
    }
    let restart_policy = match restart {
        None => None,
        Some((name, count)) => Some(RestartPolicy {
            name: Some(serde_json::from_value(json!(name)).map_err(|_| {
                format!("invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")
            })?),
            maximum_retry_count: count,
        }),
    };

    let log_driver = p.str("log-driver").unwrap_or("").to_string();
    let log_opts = opts::kv_map(&p.list("log-opt"));
    if log_driver == "none" && !log_opts.is_empty() {
        return Err(format!("invalid logging opts for driver {log_driver}"));
    }
    let security_opt = opts::security_opts(&p.list("security-opt"))?;

    let mut ulimits: Vec<ResourcesUlimits> = Vec::new();
    for u in p.list("ulimit") {
        let (name, soft, hard) = opts::parse_ulimit(&u)?;
        ulimits.retain(|x| x.name.as_deref() != Some(name.as_str()));
        ulimits.push(ResourcesUlimits {
            name: Some(name),
            soft: Some(soft),
            hard: Some(hard),
        });
    }
    let sysctls: HashMap<String, String> = opts::kv_map(&p.list("sysctl")).into_iter().collect();

    let mut extra_hosts = Vec::new();
    for h in p.list("add-host") {
        extra_hosts.push(opts::extra_host(&h)?);
    }

    let networks = p.list("network");
    let network_mode = networks
        .first()
        .cloned()
        .unwrap_or_else(|| "default".to_string());
    let aliases = some_vec(p.list("network-alias"));
    let mut endpoints = HashMap::new();
    if networks.is_empty() {
        endpoints.insert(
            "default".to_string(),
            EndpointSettings {
                aliases: aliases.clone(),
                ..Default::default()
            },
        );
    }
    for (i, n) in networks.iter().enumerate() {
        endpoints.insert(
            n.clone(),
            EndpointSettings {
                aliases: if i == 0 { aliases.clone() } else { None },
                ..Default::default()
            },
        );
    }

    let entrypoint = match p.str("entrypoint") {
        Some("") => Some(vec![String::new()]),
        Some(e) => Some(vec![e.to_string()]),
        None => None,
    };

    let host_config = HostConfig {
        binds: some_vec(binds),
        container_id_file: p.str("cidfile").map(str::to_string),
        log_config: Some(HostConfigLogConfig {
            typ: Some(log_driver),
            config: (!log_opts.is_empty()).then(|| log_opts.into_iter().collect()),
        }),
        network_mode: Some(network_mode),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        restart_policy,
        auto_remove: Some(auto_remove),
        volumes_from: some_vec(p.list("volumes-from")),
        mounts: (!mounts.is_empty()).then_some(mounts),
        console_size: Some(match console {
            Some((h, w)) if tty => vec![usize::from(h), usize::from(w)],
            _ => vec![0, 0],
        }),
        cap_add: some_vec(p.list("cap-add")),
        cap_drop: some_vec(p.list("cap-drop")),
        dns: some_vec(p.list("dns")),
        dns_options: some_vec(p.list("dns-option")),
        dns_search: some_vec(p.list("dns-search")),
        extra_hosts: some_vec(extra_hosts),
        group_add: some_vec(p.list("group-add")),
        ipc_mode: p.str("ipc").map(str::to_string),
        oom_score_adj: int_of(p, "oom-score-adj"),
        pid_mode: p.str("pid").map(str::to_string),
        privileged: Some(p.bool("privileged")),
        publish_all_ports: Some(p.bool("publish-all")),
        readonly_rootfs: Some(p.bool("read-only")),
        security_opt: some_vec(security_opt),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        uts_mode: p.str("uts").map(str::to_string),
        userns_mode: p.str("userns").map(str::to_string),
        shm_size: bytes_of(p, "shm-size"),
        sysctls: (!sysctls.is_empty()).then_some(sysctls),
        runtime: p.str("runtime").map(str::to_string),
        init: p.str("init").is_some().then(|| p.bool("init")),
        cpu_shares: int_of(p, "cpu-shares"),
        memory: bytes_of(p, "memory"),
        cgroup_parent: p.str("cgroup-parent").map(str::to_string),
        cpu_period: int_of(p, "cpu-period"),
        cpu_quota: int_of(p, "cpu-quota"),
        cpuset_cpus: p.str("cpuset-cpus").map(str::to_string),
        cpuset_mems: p.str("cpuset-mems").map(str::to_string),
        memory_reservation: bytes_of(p, "memory-reservation"),
        memory_swap: p
            .str("memory-swap")
            .and_then(|v| opts::mem_swap_bytes(v).ok()),
        nano_cpus: p.str("cpus").and_then(|v| opts::nano_cpus(v).ok()),
        oom_kill_disable: Some(p.bool("oom-kill-disable")),
        pids_limit: int_of(p, "pids-limit"),
        ulimits: (!ulimits.is_empty()).then_some(ulimits),
        ..Default::default()
    };

    let stop_timeout = int_of(p, "stop-timeout");
    let body = ContainerCreateBody {
        hostname: p.str("hostname").map(str::to_string),
        domainname: p.str("domainname").map(str::to_string),
        user: p.str("user").map(str::to_string),
        attach_stdin: Some(attach_stdin),
        attach_stdout: Some(attach_stdout),
        attach_stderr: Some(attach_stderr),
        exposed_ports: some_vec(exposed),
        tty: Some(tty),
        open_stdin: Some(interactive),
        // When stdin is attached, the daemon closes it when the client goes.
        stdin_once: Some(interactive && attach_stdin),
        env: some_vec(env),
        cmd,
        image: Some(image),
        volumes: some_vec(volumes),
        working_dir: p.str("workdir").map(str::to_string),
        entrypoint,
        labels: (!labels.is_empty()).then(|| opts::kv_map(&labels).into_iter().collect()),
        stop_signal: p.str("stop-signal").map(str::to_string),
        stop_timeout,
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(endpoints),
        }),
        ..Default::default()
    };
    Ok(CreateRequest {
        body,
        name: p.str("name").filter(|n| !n.is_empty()).map(str::to_string),
        platform: p
            .str("platform")
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        pull,
        quiet: p.bool("quiet"),
        cidfile: p
            .str("cidfile")
            .filter(|n| !n.is_empty())
            .map(str::to_string),
    })
}

/// docker's `reportError` for run/create: `berth: <msg>` and, for errors the
/// user can fix with other flags, the pointer to `--help`.
fn report(cmd: &str, msg: &str, with_help: bool, code: i32) -> CliError {
    let mut m = format!("{PROG}: {msg}");
    if with_help {
        m.push_str(&format!(
            "\n\nRun '{PROG} {cmd} --help' for more information"
        ));
    }
    CliError::Status { code, msg: m }
}

/// docker's `runStartContainerErr`: 127 for a missing command, 126 for one
/// that cannot be run, 125 for anything else.
pub fn start_error_code(msg: &str) -> i32 {
    let m = msg.trim_start_matches("Error response from daemon: ");
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("system cannot find the file specified")
    {
        127
    } else if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else {
        125
    }
}

/// `POST /images/create` for `image`, progress on stderr (hidden with `-q`).
async fn pull_image(ctx: &mut Ctx<'_>, client: &Client, req: &CreateRequest) -> Result<()> {
    let image = req.body.image.clone().unwrap_or_default();
    let r = berth_image::reference::Reference::parse(&image)
        .map_err(|e| CliError::msg(e.to_string()))?;
    let mut q = vec![("fromImage", r.name().to_string())];
    q.push((
        "tag",
        match (r.digest(), r.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        },
    ));
    if let Some(pl) = &req.platform {
        q.push(("platform", pl.clone()));
    }
    let resp = client
        .request(
            hyper::Method::POST,
            "/images/create",
            &q,
            &[(
                "X-Registry-Auth",
                crate::registry_auth::header_for(&ctx.opts, &r),
            )],
            crate::client::empty_body(),
        )
        .await?;
    if req.quiet {
        let mut sink = std::io::sink();
        crate::jsonmsg::display_stream(resp.into_body(), &mut sink, false).await?;
    } else {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        crate::jsonmsg::display_stream(resp.into_body(), ctx.err, terminal).await?;
    }
    Ok(())
}

/// docker/cli's `createContainer`: pull per `--pull`, create, pull and retry on
/// a missing image, print warnings; returns the new ID.
pub async fn create_container(
    ctx: &mut Ctx<'_>,
    client: &Client,
    req: &CreateRequest,
) -> Result<String> {
    if let Some(f) = &req.cidfile {
        if std::path::Path::new(f).exists() {
            return Err(CliError::msg(format!(
                "container ID file found, make sure the other container isn't running or delete {f}"
            )));
        }
    }
    if req.pull == "always" {
        pull_image(ctx, client, req).await?;
    }
    let mut q = Vec::new();
    if let Some(n) = &req.name {
        q.push(("name", n.clone()));
    }
    if let Some(pl) = &req.platform {
        q.push(("platform", pl.clone()));
    }
    let body = serde_json::to_value(&req.body).map_err(|e| CliError::msg(e.to_string()))?;
    let resp = match client
        .post_json("/containers/create", &q, Some(&body))
        .await
    {
        Ok(v) => v,
        Err(e) if e.is_not_found() && req.pull == "missing" => {
            let image = req.body.image.clone().unwrap_or_default();
            let shown = berth_image::reference::Reference::parse(&image)
                .map(|r| r.with_default_tag().familiar_string())
                .unwrap_or(image);
            if !req.quiet {
                writeln!(ctx.err, "Unable to find image '{shown}' locally")?;
            }
            pull_image(ctx, client, req).await?;
            client
                .post_json("/containers/create", &q, Some(&body))
                .await?
        }
        Err(e) => return Err(e),
    };
    for w in resp
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(w) = w.as_str() {
            writeln!(ctx.err, "WARNING: {w}")?;
        }
    }
    let id = resp
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(f) = &req.cidfile {
        std::fs::write(f, &id).map_err(|e| {
            CliError::msg(format!("failed to write the container ID to the file: {e}"))
        })?;
    }
    Ok(id)
}

pub async fn run_create(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let req =
        create_request(p, crate::term::size()).map_err(|m| report("create", &m, true, 125))?;
    // Daemon errors of `create` print as they are (exit 1), unlike run's.
    let client = ctx.client().await?;
    let id = create_container(ctx, &client, &req).await?;
    writeln!(ctx.out, "{id}")?;
    Ok(())
}

/// The detach sequence: `--detach-keys`, else config.json's `detachKeys`.
pub fn detach_keys_of(ctx: &Ctx<'_>, flag: Option<&str>) -> (Option<String>, Vec<u8>) {
    let configured = flag
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .or_else(|| {
            ctx.opts
                .config_value("detachKeys")
                .and_then(|v| v.as_str().map(str::to_string))
        });
    let bytes = match configured.as_deref().map(opts::detach_keys) {
        Some(Ok(b)) => b,
        _ => opts::DEFAULT_DETACH_KEYS.to_vec(),
    };
    (configured, bytes)
}

/// Reads the wait response body (sent by the daemon when the container exits).
pub async fn wait_status(resp: hyper::Response<hyper::body::Incoming>) -> Result<i64> {
    let bytes = read_body(resp).await?;
    let v = crate::client::parse_json(&bytes)?;
    if let Some(m) = v
        .get("Error")
        .and_then(|e| e.get("Message"))
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    {
        return Err(CliError::msg(format!("Error waiting for container: {m}")));
    }
    Ok(v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0))
}

pub async fn run_run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    if p.bool("detach") && !p.list("attach").is_empty() {
        return Err(CliError::msg(
            "conflicting options: cannot specify both --attach and --detach",
        ));
    }
    let req = create_request(p, crate::term::size()).map_err(|m| report("run", &m, true, 125))?;
    let tty = p.bool("tty");
    let detach = p.bool("detach");
    let cfg_stdin = req.body.attach_stdin == Some(true);
    let cfg_stdout = req.body.attach_stdout == Some(true);
    let cfg_stderr = req.body.attach_stderr == Some(true);
    if !detach && cfg_stdin && tty && !crate::term::stdin_is_terminal() {
        return Err(CliError::msg("the input device is not a TTY"));
    }
    let client = ctx
        .client()
        .await
        .map_err(|e| report("run", &e.to_string(), true, 125))?;
    let id = create_container(ctx, &client, &req)
        .await
        .map_err(|e| report("run", &e.to_string(), true, 125))?;
    let id_path = path_escape(&id);
    let proxy = p
        .bool_or("sig-proxy", true)
        .then(|| crate::term::spawn_signal_proxy(client.clone(), id.clone()));

    let attach = cfg_stdin || cfg_stdout || cfg_stderr;
    let (keys_str, keys) = detach_keys_of(ctx, p.str("detach-keys"));
    let mut q = vec![("stream", "1".to_string())];
    if attach {
        if cfg_stdin {
            q.push(("stdin", "1".to_string()));
        }
        if cfg_stdout {
            q.push(("stdout", "1".to_string()));
        }
        if cfg_stderr {
            q.push(("stderr", "1".to_string()));
        }
        if let Some(k) = &keys_str {
            q.push(("detachKeys", k.clone()));
        }
    }
    // Wait before start so a fast exit is not missed; headers come back at once.
    let condition = if req.body.host_config.as_ref().and_then(|h| h.auto_remove) == Some(true) {
        "removed"
    } else {
        "next-exit"
    };
    // Attach and wait are asked at once: two connections, one round trip.
    let attach_path = format!("/containers/{id_path}/attach");
    let wait_path = format!("/containers/{id_path}/wait");
    let wait_query = [("condition", condition.to_string())];
    let (hijacked, wait) = tokio::join!(
        async {
            if attach {
                client.hijack(&attach_path, &q, None).await.map(Some)
            } else {
                Ok(None)
            }
        },
        client.request(
            hyper::Method::POST,
            &wait_path,
            &wait_query,
            &[],
            crate::client::empty_body(),
        )
    );
    let hijacked = hijacked?;
    if let Err(e) = client
        .post_json(&format!("/containers/{id_path}/start"), &[], None)
        .await
    {
        let code = start_error_code(&e.to_string());
        if condition == "removed" {
            if let Ok(w) = wait {
                let _ = read_body(w).await;
            }
        }
        return Err(report("run", &e.to_string(), false, code));
    }
    if !cfg_stdout && !cfg_stderr {
        // Detached (or stdin only): the ID, then done.
        writeln!(ctx.out, "{id}")?;
        ctx.out.flush()?;
    }
    let mut monitor = None;
    if attach && tty && crate::term::stdout_is_terminal() {
        monitor =
            crate::term::monitor_size(&client, &format!("/containers/{id_path}/resize"), ctx.err)
                .await;
    }
    let mut end = StreamEnd::Closed;
    if let Some(io) = hijacked {
        let sopts = StreamOpts {
            tty,
            stdin: cfg_stdin,
            stdout: cfg_stdout,
            stderr: cfg_stderr,
            detach_keys: keys,
        };
        // With a TTY, stderr arrives in the one raw stream on stdout.
        end = crate::stream::stream(io, &sopts, ctx.out, ctx.err).await?;
    }
    if let Some(m) = monitor {
        m.abort();
    }
    if end == StreamEnd::Detached || (!cfg_stdout && !cfg_stderr) {
        if let Some(pr) = proxy {
            pr.abort();
        }
        return Ok(());
    }
    let status = match wait {
        Ok(w) => match wait_status(w).await {
            Ok(s) => s,
            Err(e) => {
                writeln!(ctx.err, "{e}")?;
                125
            }
        },
        Err(e) => {
            writeln!(ctx.err, "Error waiting for container: {e}")?;
            125
        }
    };
    if let Some(pr) = proxy {
        pr.abort();
    }
    if status != 0 {
        return Err(CliError::Status {
            code: status as i32,
            msg: String::new(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Parsed, CliError> {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        run_spec("run").parse(&argv)
    }

    fn body(args: &[&str]) -> Value {
        let p = parse(args).unwrap();
        let r = create_request(&p, Some((40, 120))).unwrap();
        serde_json::to_value(&r.body).unwrap()
    }

    #[test]
    fn interactive_tty_body() {
        let v = body(&[
            "--rm", "-it", "--name", "x", "busybox", "sh", "-c", "echo -h",
        ]);
        assert_eq!(v["Image"], "busybox");
        assert_eq!(v["Cmd"], json!(["sh", "-c", "echo -h"]));
        for k in [
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "Tty",
            "OpenStdin",
            "StdinOnce",
        ] {
            assert_eq!(v[k], true, "{k}");
        }
        assert_eq!(v["HostConfig"]["AutoRemove"], true);
        assert_eq!(v["HostConfig"]["ConsoleSize"], json!([40, 120]));
        assert_eq!(v["HostConfig"]["NetworkMode"], "default");
        assert!(v["NetworkingConfig"]["EndpointsConfig"]
            .get("default")
            .is_some());
    }

    #[test]
    fn detached_body_and_ports() {
        let v = body(&[
            "-d",
            "-p",
            "8080:80",
            "-p",
            "127.0.0.1::53/udp",
            "-P",
            "nginx",
        ]);
        for k in [
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "Tty",
            "OpenStdin",
            "StdinOnce",
        ] {
            assert_eq!(v[k], false, "{k}");
        }
        assert_eq!(v["HostConfig"]["ConsoleSize"], json!([0, 0]));
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(
            v["HostConfig"]["PortBindings"]["80/tcp"],
            json!([{"HostIp": "", "HostPort": "8080"}])
        );
        assert_eq!(
            v["HostConfig"]["PortBindings"]["53/udp"],
            json!([{"HostIp": "127.0.0.1", "HostPort": ""}])
        );
        assert_eq!(v["HostConfig"]["PublishAllPorts"], true);
    }

    #[test]
    fn resources_and_options() {
        let v = body(&[
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--memory-reservation",
            "32m",
            "--cpus",
            "1.5",
            "-c",
            "512",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "50000",
            "--cpuset-cpus",
            "0",
            "--pids-limit",
            "10",
            "--ulimit",
            "nofile=10:20",
            "--ulimit",
            "nofile=30",
            "--shm-size",
            "1g",
            "--restart",
            "on-failure:3",
            "--init",
            "--read-only",
            "--privileged",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--stop-signal",
            "SIGINT",
            "--stop-timeout",
            "5",
            "-e",
            "A=b",
            "-l",
            "k=v",
            "-l",
            "bare",
            "-w",
            "/w",
            "-u",
            "1:2",
            "--entrypoint",
            "",
            "-h",
            "host",
            "--tmpfs",
            "/t:size=1m",
            "-v",
            "/h:/c:ro",
            "-v",
            "/anon",
            "--mount",
            "type=bind,src=/a,dst=/b",
            "--network",
            "net1",
            "--add-host",
            "a:1.2.3.4",
            "--dns",
            "8.8.8.8",
            "--runtime",
            "runc",
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=1m",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--oom-kill-disable",
            "--group-add",
            "audio",
            "img",
        ]);
        let h = &v["HostConfig"];
        assert_eq!(h["Memory"], 64 << 20);
        assert_eq!(h["MemorySwap"], -1);
        assert_eq!(h["MemoryReservation"], 32 << 20);
        assert_eq!(h["NanoCpus"], 1_500_000_000i64);
        assert_eq!(h["CpuShares"], 512);
        assert_eq!(h["CpuPeriod"], 100000);
        assert_eq!(h["CpuQuota"], 50000);
        assert_eq!(h["CpusetCpus"], "0");
        assert_eq!(h["PidsLimit"], 10);
        assert_eq!(
            h["Ulimits"],
            json!([{"Name": "nofile", "Soft": 30, "Hard": 30}])
        );
        assert_eq!(h["ShmSize"], 1i64 << 30);
        assert_eq!(
            h["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(h["Init"], true);
        assert_eq!(h["ReadonlyRootfs"], true);
        assert_eq!(h["Privileged"], true);
        assert_eq!(h["CapAdd"], json!(["NET_ADMIN"]));
        assert_eq!(h["CapDrop"], json!(["ALL"]));
        assert_eq!(h["SecurityOpt"], json!(["no-new-privileges"]));
        assert_eq!(h["Tmpfs"], json!({"/t": "size=1m"}));
        assert_eq!(h["Binds"], json!(["/h:/c:ro"]));
        assert_eq!(h["Mounts"][0]["Type"], "bind");
        assert_eq!(h["Mounts"][0]["Target"], "/b");
        assert_eq!(h["NetworkMode"], "net1");
        assert_eq!(h["ExtraHosts"], json!(["a:1.2.3.4"]));
        assert_eq!(h["Dns"], json!(["8.8.8.8"]));
        assert_eq!(h["Runtime"], "runc");
        assert_eq!(
            h["LogConfig"],
            json!({"Type": "json-file", "Config": {"max-size": "1m"}})
        );
        assert_eq!(h["Sysctls"], json!({"net.ipv4.ip_forward": "1"}));
        assert_eq!(h["OomKillDisable"], true);
        assert_eq!(h["GroupAdd"], json!(["audio"]));
        assert_eq!(v["Volumes"], json!({"/anon": {}}));
        assert_eq!(v["StopSignal"], "SIGINT");
        assert_eq!(v["StopTimeout"], 5);
        assert_eq!(v["Env"], json!(["A=b"]));
        assert_eq!(v["Labels"], json!({"k": "v", "bare": ""}));
        assert_eq!(v["WorkingDir"], "/w");
        assert_eq!(v["User"], "1:2");
        assert_eq!(v["Entrypoint"], json!([""]));
        assert_eq!(v["Hostname"], "host");
        assert!(v["NetworkingConfig"]["EndpointsConfig"]
            .get("net1")
            .is_some());
        // Flags absent: fields absent (docker's pointers stay nil).
        let v = body(&["img"]);
        assert!(v["HostConfig"].get("PidsLimit").is_none());
        assert!(v["HostConfig"].get("Init").is_none());
        assert!(v.get("StopTimeout").is_none());
        assert!(v.get("Cmd").is_none());
    }

    #[test]
    fn attach_flags() {
        let v = body(&["-a", "STDERR", "img"]);
        assert_eq!(v["AttachStdout"], false);
        assert_eq!(v["AttachStderr"], true);
        assert_eq!(v["AttachStdin"], false);
        let v = body(&["-i", "img"]);
        assert_eq!(v["AttachStdin"], true);
        assert_eq!(v["StdinOnce"], true);
        assert_eq!(v["Tty"], false);
    }

    #[test]
    fn flags_stop_at_the_image() {
        let p = parse(&["-d", "img", "-d", "--rm"]).unwrap();
        assert_eq!(p.args, vec!["img", "-d", "--rm"]);
        assert!(!p.bool("rm"));
        let p = parse(&["-h", "myhost", "img"]).unwrap();
        assert_eq!(p.str("hostname"), Some("myhost"));
        assert!(parse(&["--help"]).unwrap().help);
    }

    #[test]
    fn parse_errors() {
        let err = |args: &[&str]| create_request(&parse(args).unwrap(), None).unwrap_err();
        assert_eq!(err(&["-p", "99999:80", "x"]), "invalid hostPort: 99999");
        assert_eq!(
            err(&["--pull", "foo", "x"]),
            "invalid pull option: 'foo': must be one of \"always\", \"missing\" or \"never\""
        );
        assert_eq!(
            err(&["--rm", "--restart", "always", "x"]),
            "conflicting options: cannot specify both --restart and --rm"
        );
        assert_eq!(
            err(&["--env-file", "/nonexistent/env", "x"]),
            "open /nonexistent/env: no such file or directory"
        );
        assert_eq!(
            err(&["--log-driver", "none", "--log-opt", "a=b", "x"]),
            "invalid logging opts for driver none"
        );
        let e = parse(&["-m", "1x", "x"]).unwrap_err().to_string();
        assert!(e.starts_with(
            "invalid argument \"1x\" for \"-m, --memory\" flag: invalid suffix: 'x'\n"
        ));
        assert_eq!(
            start_error_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(start_error_code("open /x: permission denied"), 126);
        assert_eq!(start_error_code("boom"), 125);
    }
}
