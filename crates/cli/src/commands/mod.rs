//! Command table and dispatch. Each command lives in its own module with its
//! `CommandSpec` (flags, arity, help) and an async `run`.

mod attach;
mod container_prune;
mod df;
mod events;
mod exec;
mod history;
mod images;
mod import;
mod info;
mod inspect;
mod kill;
mod load;
mod login;
mod logout;
mod logs;
mod pause;
mod port;
mod prune;
mod ps;
mod pull;
mod push;
mod rename;
mod rm;
mod rmi;
mod run;
mod save;
mod search;
mod start;
mod stats;
mod stop;
mod tag;
mod top;
mod update;
mod version;
mod wait;

use std::io::Write;

use serde_json::json;

use crate::args::{flag_usages, CommandSpec, Parsed, PROG};
use crate::ctx::{Ctx, GlobalOpts, ROOT};
use crate::error::{CliError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Df,
    Events,
    History,
    Images,
    Import,
    Info,
    Inspect,
    ImageInspect,
    Load,
    Prune,
    Rmi,
    Run,
    Create,
    Stop,
    Restart,
    Kill,
    Pause,
    Unpause,
    Rm,
    Wait,
    Rename,
    Ps,
    Logs,
    Exec,
    Attach,
    Start,
    Top,
    Stats,
    Port,
    ContainerPrune,
    Update,
    ContainerInspect,
    Save,
    Tag,
    Version,
    Pull,
    Push,
    Login,
    Logout,
    Search,
}

struct Entry {
    names: &'static [&'static str],
    cmd: Cmd,
    spec: CommandSpec,
}

const fn e(names: &'static [&'static str], cmd: Cmd, spec: CommandSpec) -> Entry {
    Entry { names, cmd, spec }
}

const TOP: &[Entry] = &[
    e(&["events"], Cmd::Events, events::spec("events")),
    e(&["history"], Cmd::History, history::spec("history")),
    e(&["images"], Cmd::Images, images::spec("images")),
    e(&["import"], Cmd::Import, import::spec("import")),
    e(&["info"], Cmd::Info, info::spec("info")),
    e(&["inspect"], Cmd::Inspect, inspect::SPEC),
    e(&["load"], Cmd::Load, load::spec("load")),
    e(&["login"], Cmd::Login, login::SPEC),
    e(&["logout"], Cmd::Logout, logout::SPEC),
    e(&["pull"], Cmd::Pull, pull::spec("pull")),
    e(&["push"], Cmd::Push, push::spec("push")),
    e(&["search"], Cmd::Search, search::SPEC),
    e(&["rmi"], Cmd::Rmi, rmi::spec("rmi")),
    e(&["run"], Cmd::Run, run::run_spec("run")),
    e(&["create"], Cmd::Create, run::create_spec("create")),
    e(&["attach"], Cmd::Attach, attach::spec("attach")),
    e(&["exec"], Cmd::Exec, exec::spec("exec")),
    e(&["kill"], Cmd::Kill, kill::spec("kill")),
    e(&["logs"], Cmd::Logs, logs::spec("logs")),
    e(&["port"], Cmd::Port, port::spec("port")),
    e(&["start"], Cmd::Start, start::spec("start")),
    e(&["ps"], Cmd::Ps, ps::spec("ps")),
    e(&["pause"], Cmd::Pause, pause::pause_spec("pause")),
    e(&["rename"], Cmd::Rename, rename::spec("rename")),
    e(&["restart"], Cmd::Restart, stop::restart_spec("restart")),
    e(&["rm"], Cmd::Rm, rm::spec("rm")),
    e(&["stop"], Cmd::Stop, stop::stop_spec("stop")),
    e(&["unpause"], Cmd::Unpause, pause::unpause_spec("unpause")),
    e(&["update"], Cmd::Update, update::spec("update")),
    e(&["wait"], Cmd::Wait, wait::spec("wait")),
    e(&["save"], Cmd::Save, save::spec("save")),
    e(&["tag"], Cmd::Tag, tag::spec("tag")),
    e(&["stats"], Cmd::Stats, stats::spec("stats")),
    e(&["top"], Cmd::Top, top::spec("top")),
    e(&["version"], Cmd::Version, version::SPEC),
];

const IMAGE: &[Entry] = &[
    e(&["history"], Cmd::History, history::spec("image history")),
    e(&["import"], Cmd::Import, import::spec("image import")),
    e(&["inspect"], Cmd::ImageInspect, inspect::IMAGE_SPEC),
    e(&["load"], Cmd::Load, load::spec("image load")),
    e(&["ls", "list"], Cmd::Images, images::spec("image ls")),
    e(&["prune"], Cmd::Prune, prune::SPEC),
    e(&["pull"], Cmd::Pull, pull::spec("image pull")),
    e(&["push"], Cmd::Push, push::spec("image push")),
    e(&["rm", "rmi", "remove"], Cmd::Rmi, rmi::spec("image rm")),
    e(&["save"], Cmd::Save, save::spec("image save")),
    e(&["tag"], Cmd::Tag, tag::spec("image tag")),
];

const CONTAINER: &[Entry] = &[
    e(
        &["create"],
        Cmd::Create,
        run::create_spec("container create"),
    ),
    e(&["run"], Cmd::Run, run::run_spec("container run")),
    e(&["attach"], Cmd::Attach, attach::spec("container attach")),
    e(&["exec"], Cmd::Exec, exec::spec("container exec")),
    e(&["kill"], Cmd::Kill, kill::spec("container kill")),
    e(&["inspect"], Cmd::ContainerInspect, inspect::CONTAINER_SPEC),
    e(&["logs"], Cmd::Logs, logs::spec("container logs")),
    e(&["port"], Cmd::Port, port::spec("container port")),
    e(&["prune"], Cmd::ContainerPrune, container_prune::SPEC),
    e(&["start"], Cmd::Start, start::spec("container start")),
    e(&["ls", "list", "ps"], Cmd::Ps, ps::spec("container ls")),
    e(&["pause"], Cmd::Pause, pause::pause_spec("container pause")),
    e(&["rename"], Cmd::Rename, rename::spec("container rename")),
    e(
        &["restart"],
        Cmd::Restart,
        stop::restart_spec("container restart"),
    ),
    e(&["rm", "remove"], Cmd::Rm, rm::spec("container rm")),
    e(&["stop"], Cmd::Stop, stop::stop_spec("container stop")),
    e(
        &["unpause"],
        Cmd::Unpause,
        pause::unpause_spec("container unpause"),
    ),
    e(&["wait"], Cmd::Wait, wait::spec("container wait")),
];

const SYSTEM: &[Entry] = &[
    e(&["df"], Cmd::Df, df::SPEC),
    e(&["events"], Cmd::Events, events::spec("system events")),
    e(&["info"], Cmd::Info, info::spec("system info")),
];

struct Group {
    name: &'static str,
    short: &'static str,
    entries: &'static [Entry],
}

const GROUPS: &[Group] = &[
    Group {
        name: "container",
        short: "Manage containers",
        entries: CONTAINER,
    },
    Group {
        name: "image",
        short: "Manage images",
        entries: IMAGE,
    },
    Group {
        name: "system",
        short: "Manage berth",
        entries: SYSTEM,
    },
];

fn group_help(g: &Group) -> String {
    let mut s = format!(
        "Usage:  {PROG} {} COMMAND\n\n{}\n\nCommands:\n",
        g.name, g.short
    );
    for entry in g.entries {
        s.push_str(&format!(
            "  {:<12}{}\n",
            entry.names[0],
            listing_short(&entry.spec)
        ));
    }
    s.push_str(&format!(
        "\nRun '{PROG} {} COMMAND --help' for more information on a command.\n",
        g.name
    ));
    s
}

/// The one-line description in command lists: a command whose description has
/// several lines (cobra's `Long`, e.g. `login`) is listed by its first line,
/// without the final period, which is its cobra `Short`.
fn listing_short(spec: &CommandSpec) -> &str {
    match spec.short.split_once('\n') {
        Some((first, _)) => first.trim_end_matches('.'),
        None => spec.short,
    }
}

fn root_help() -> String {
    let mut s = format!(
        "Usage:  {PROG} [OPTIONS] COMMAND [ARG...]\n\n{}\n\nCommands:\n",
        ROOT.short
    );
    for entry in TOP {
        s.push_str(&format!(
            "  {:<12}{}\n",
            entry.names[0],
            listing_short(&entry.spec)
        ));
    }
    s.push_str("\nManagement Commands:\n");
    for g in GROUPS {
        s.push_str(&format!("  {:<12}{}\n", g.name, g.short));
    }
    s.push_str("\nGlobal Options:\n");
    s.push_str(&flag_usages(ROOT.flags, 79));
    s.push_str(&format!(
        "\nRun '{PROG} COMMAND --help' for more information on a command.\n"
    ));
    s
}

fn find<'a>(entries: &'a [Entry], name: &str) -> Option<&'a Entry> {
    entries.iter().find(|e| e.names.contains(&name))
}

/// Parses everything after the program name and runs the command.
pub async fn dispatch(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let n = ROOT.split_at_command(args);
    let root = ROOT.parse(&args[..n])?;
    if root.bool("version") {
        writeln!(out, "{}", version::short_version())?;
        return Ok(());
    }
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let opts = GlobalOpts::from_parsed(&root, std::env::var("DOCKER_HOST").ok(), home)?;
    let mut rest = &args[n..];
    if rest.first().is_some_and(|a| a == "--") {
        rest = &rest[1..];
    }
    let Some((name, cmd_args)) = rest.split_first() else {
        out.write_all(root_help().as_bytes())?;
        return Ok(());
    };
    if root.help {
        out.write_all(root_help().as_bytes())?;
        return Ok(());
    }
    let entry = if let Some(g) = GROUPS.iter().find(|g| g.name == name) {
        let Some((sub, sub_args)) = cmd_args.split_first() else {
            out.write_all(group_help(g).as_bytes())?;
            return Ok(());
        };
        if sub == "--help" || sub == "-h" {
            out.write_all(group_help(g).as_bytes())?;
            return Ok(());
        }
        let Some(entry) = find(g.entries, sub) else {
            return Err(CliError::msg(format!(
                "{PROG}: unknown command: {PROG} {} {sub}\n\nUsage:  {PROG} {}\n\nRun '{PROG} {} --help' for more information",
                g.name, g.name, g.name
            )));
        };
        (entry, sub_args)
    } else {
        let Some(entry) = find(TOP, name) else {
            return Err(CliError::msg(format!(
                "{PROG}: unknown command: {PROG} {name}\n\nRun '{PROG} --help' for more information"
            )));
        };
        (entry, cmd_args)
    };
    let (entry, cmd_args) = entry;
    let parsed = entry.spec.parse(cmd_args)?;
    if parsed.help {
        out.write_all(entry.spec.help().as_bytes())?;
        return Ok(());
    }
    let mut ctx = Ctx::new(out, err, opts);
    run(entry.cmd, &mut ctx, &parsed).await
}

async fn run(cmd: Cmd, ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    match cmd {
        Cmd::Df => df::run(ctx, p).await,
        Cmd::Events => events::run(ctx, p).await,
        Cmd::History => history::run(ctx, p).await,
        Cmd::Images => images::run(ctx, p).await,
        Cmd::Import => import::run(ctx, p).await,
        Cmd::Info => info::run(ctx, p).await,
        Cmd::Inspect => inspect::run(ctx, p, None).await,
        Cmd::ImageInspect => inspect::run(ctx, p, Some("image")).await,
        Cmd::Load => load::run(ctx, p).await,
        Cmd::Prune => prune::run(ctx, p).await,
        Cmd::Rmi => rmi::run(ctx, p).await,
        Cmd::Run => run::run_run(ctx, p).await,
        Cmd::Stop => stop::run(ctx, p, "/stop").await,
        Cmd::Restart => stop::run(ctx, p, "/restart").await,
        Cmd::Kill => kill::run(ctx, p).await,
        Cmd::Pause => pause::run(ctx, p, "/pause").await,
        Cmd::Unpause => pause::run(ctx, p, "/unpause").await,
        Cmd::Rm => rm::run(ctx, p).await,
        Cmd::Wait => wait::run(ctx, p).await,
        Cmd::Rename => rename::run(ctx, p).await,
        Cmd::Ps => ps::run(ctx, p).await,
        Cmd::Logs => logs::run(ctx, p).await,
        Cmd::Exec => exec::run(ctx, p).await,
        Cmd::Attach => attach::run(ctx, p).await,
        Cmd::Start => start::run(ctx, p).await,
        Cmd::Top => top::run(ctx, p).await,
        Cmd::Stats => stats::run(ctx, p).await,
        Cmd::Port => port::run(ctx, p).await,
        Cmd::ContainerPrune => container_prune::run(ctx, p).await,
        Cmd::Update => update::run(ctx, p).await,
        Cmd::ContainerInspect => inspect::run(ctx, p, Some("container")).await,
        Cmd::Create => run::run_create(ctx, p).await,
        Cmd::Save => save::run(ctx, p).await,
        Cmd::Tag => tag::run(ctx, p).await,
        Cmd::Version => version::run(ctx, p).await,
        Cmd::Pull => pull::run(ctx, p).await,
        Cmd::Push => push::run(ctx, p).await,
        Cmd::Login => login::run(ctx, p).await,
        Cmd::Logout => logout::run(ctx, p).await,
        Cmd::Search => search::run(ctx, p).await,
    }
}

/// The client for a command that works on several containers: docker connects
/// per container, so a daemon that does not answer is one error per name.
pub async fn client_for_each(ctx: &mut Ctx<'_>, names: &[String]) -> Result<crate::client::Client> {
    match ctx.client().await {
        Err(e @ CliError::Connect(_)) => Err(CliError::msg(
            vec![e.to_string(); names.len().max(1)].join("\n"),
        )),
        other => other,
    }
}

/// Sends `method /containers/{name}{action}` for each name, printing each name
/// that succeeded; failures are collected and reported together (exit 1), as
/// docker's stop/kill/pause/… do.
pub async fn each_container(
    ctx: &mut Ctx<'_>,
    names: &[String],
    method: hyper::Method,
    action: &str,
    query: &[(&str, String)],
) -> Result<()> {
    let client = client_for_each(ctx, names).await?;
    let mut errors = Vec::new();
    for name in names {
        let path = format!("/containers/{}{action}", crate::client::path_escape(name));
        let r = client
            .request(
                method.clone(),
                &path,
                query,
                &[],
                crate::client::empty_body(),
            )
            .await;
        match r {
            Ok(resp) => {
                crate::client::read_body(resp).await?;
                writeln!(ctx.out, "{name}")?;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}

/// An `os[/arch[/variant]]` string as the OCI platform JSON the API takes.
pub fn platform_json(s: &str) -> String {
    let mut parts = s.split('/');
    let os = parts.next().unwrap_or("").to_lowercase();
    let arch = parts.next().map(str::to_lowercase);
    let variant = parts.next().map(str::to_lowercase);
    let mut v = json!({ "os": os });
    if let Some(a) = arch {
        v["architecture"] = json!(a);
    }
    if let Some(var) = variant {
        v["variant"] = json!(var);
    }
    v.to_string()
}

#[cfg(test)]
mod tests_support {
    pub(super) use super::tests::docker;

    /// Runs `dispatch` and returns its result, stdout and stderr.
    pub(super) fn run_args_full(args: &[&str]) -> (super::Result<()>, String, String) {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        let mut err = Vec::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(super::dispatch(&argv, &mut out, &mut err));
        (
            r,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> (Result<()>, String) {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        let mut err = Vec::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(dispatch(&argv, &mut out, &mut err));
        (r, String::from_utf8(out).unwrap())
    }

    #[test]
    fn unknown_commands() {
        let (r, _) = run_args(&["bogus"]);
        assert_eq!(
            r.unwrap_err().to_string(),
            "berth: unknown command: berth bogus\n\nRun 'berth --help' for more information"
        );
        let (r, _) = run_args(&["image", "bogus"]);
        let e = r.unwrap_err();
        assert_eq!(
            e.to_string(),
            "berth: unknown command: berth image bogus\n\nUsage:  berth image\n\nRun 'berth image --help' for more information"
        );
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn help_and_version_need_no_daemon() {
        let (r, out) = run_args(&["-v"]);
        assert!(r.is_ok());
        assert!(out.starts_with("berth version 0.1.0, build "));
        let (r, out) = run_args(&["image"]);
        assert!(r.is_ok());
        assert!(out.starts_with("Usage:  berth image COMMAND\n\nManage images\n\nCommands:\n  history     Show the history"));
        let (r, out) = run_args(&["tag", "--help"]);
        assert!(r.is_ok());
        assert_eq!(
            out,
            "Usage:  berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n\nCreate a tag TARGET_IMAGE that refers to SOURCE_IMAGE\n\nAliases:\n  berth image tag, berth tag\n"
        );
        let (r, _) = run_args(&["image", "list", "--bogus"]);
        assert!(r
            .unwrap_err()
            .to_string()
            .contains("Usage:  berth image ls [OPTIONS]"));
    }

    #[test]
    fn connect_error_text() {
        let (r, _) = run_args(&["-H", "unix:///nonexistent/berth.sock", "images"]);
        let e = r.unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot connect to the Docker daemon at unix:///nonexistent/berth.sock. Is the docker daemon running?"
        );
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn platforms() {
        assert_eq!(
            platform_json("linux/amd64"),
            r#"{"os":"linux","architecture":"amd64"}"#
        );
        assert_eq!(
            platform_json("linux/arm64/v8"),
            r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#
        );
    }

    /// Runs the real docker CLI (no daemon needed for usage errors and help).
    pub(super) fn docker(args: &[&str]) -> Option<(i32, String, String)> {
        let out = std::process::Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .ok()?;
        let fix = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .replace("docker", "berth")
                .replace("Docker", "berth")
                .replace("docs.berth.com", "docs.docker.com")
                .replace("berthfile", "Dockerfile")
                .replace("berth Hub", "Docker Hub")
        };
        Some((
            out.status.code().unwrap_or(-1),
            fix(&out.stdout),
            fix(&out.stderr),
        ))
    }

    #[test]
    fn usage_errors_match_real_docker() {
        let cases: &[&[&str]] = &[
            &["tag", "a"],
            &["images", "--bogus"],
            &["images", "-qx"],
            &["images", "a", "b"],
            &["images", "-f"],
            &["images", "--format"],
            &["images", "-f", "bogus"],
            &["images", "--all=foo"],
            &["image", "ls", "-q", "--filter"],
            &["image", "list", "--bogus"],
            &["rmi"],
            &["image", "rm"],
            &["history"],
            &["history", "a", "b"],
            &["history", "-H=maybe", "x"],
            &["inspect"],
            &["image", "inspect"],
            &["save"],
            &["load", "a"],
            &["import"],
            &["version", "a"],
            &["info", "a"],
            &["system", "df", "a"],
            &["events", "a"],
            &["image", "prune", "a"],
            &["pull"],
            &["pull", "a", "b"],
            &["pull", "--bogus"],
            &["pull", "-a", "a:b"],
            &["pull", "A"],
            &["image", "pull"],
            &["push"],
            &["push", "a", "b"],
            &["push", "-a", "a:b"],
            &["push", "A"],
            &["image", "push"],
            &["login", "a", "b"],
            &["login", "-p", "x", "--password-stdin"],
            &["login", "--password-stdin"],
            &["login", "-u", "", "-p", "x", "h"],
            &["login", "-u", "x", "-p", "", "h"],
            &["logout", "a", "b"],
            &["search"],
            &["search", "a", "b"],
            &["search", "--limit", "x", "a"],
            &["search", "-f", "bogus", "a"],
            &["image", "bogus"],
            &["bogus"],
            &["--bogus"],
            &["-H"],
        ];
        for args in cases {
            let Some((code, _, stderr)) = docker(args) else {
                eprintln!("docker CLI not installed; comparing against recorded text only");
                assert_eq!(
                    run_args(&["tag", "a"]).0.unwrap_err().to_string(),
                    "berth: 'berth tag' requires 2 arguments\n\nUsage:  berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n\nRun 'berth tag --help' for more information"
                );
                return;
            };
            let (r, _) = run_args(args);
            let e = r.expect_err("usage error expected");
            assert_eq!(format!("{e}\n"), stderr, "stderr of {args:?}");
            assert_eq!(e.exit_code(), code, "exit code of {args:?}");
        }
    }

    #[test]
    fn help_matches_real_docker() {
        let cases: &[&[&str]] = &[
            &["tag", "--help"],
            &["rmi", "--help"],
            &["image", "rm", "--help"],
            &["history", "--help"],
            &["inspect", "--help"],
            &["image", "inspect", "--help"],
            &["save", "--help"],
            &["load", "--help"],
            &["import", "--help"],
            &["image", "prune", "--help"],
            &["system", "df", "--help"],
            &["events", "--help"],
            &["version", "--help"],
            &["info", "--help"],
            &["pull", "--help"],
            &["image", "pull", "--help"],
            &["push", "--help"],
            &["image", "push", "--help"],
            &["login", "--help"],
            &["logout", "--help"],
            &["search", "--help"],
        ];
        for args in cases {
            let (r, out) = run_args(args);
            assert!(r.is_ok());
            assert!(out.starts_with("Usage:  berth "));
            if let Some((code, stdout, _)) = docker(args) {
                assert_eq!(code, 0);
                assert_eq!(out, stdout, "help of {args:?}");
            }
        }
    }
}

#[cfg(test)]
mod container_tests {
    use super::tests_support::*;

    /// Container commands against the real docker CLI: usage and flag errors,
    /// run's parse errors, connect errors and `--help` (the same cases as
    /// crates/berth/tests/containers_berth.rs, through `dispatch`).
    #[test]
    fn container_commands_match_real_docker() {
        let cases: &[&[&str]] = &[
            &["run"],
            &["create"],
            &["container", "run"],
            &["start"],
            &["stop"],
            &["kill"],
            &["wait"],
            &["rm"],
            &["container", "rm"],
            &["rename", "a"],
            &["update"],
            &["ps", "x"],
            &["container", "ls", "x"],
            &["top"],
            &["port"],
            &["port", "a", "b", "c"],
            &["logs", "a", "b"],
            &["exec", "c"],
            &["attach"],
            &["container", "prune", "x"],
            &["container", "inspect"],
            &["run", "--bogus", "img"],
            &["run", "-m", "1x", "img"],
            &["run", "-m", "-1", "img"],
            &["run", "--cpus", "1x", "img"],
            &["run", "--cpus", "1.0000000001", "img"],
            &["run", "--cpu-shares", "x", "img"],
            &["run", "--ulimit", "nofile=2:1", "img"],
            &["run", "--add-host", "foo:bar", "img"],
            &["run", "--dns", "1.2", "img"],
            &["run", "--sysctl", "a", "img"],
            &["run", "-a", "foo", "img"],
            &["run", "-e", "=x", "img"],
            &["run", "-l", "=a", "img"],
            &["run", "--mount", "type=bind,src=/a,target=/x,foo=1", "img"],
            &["run", "--mount", "target=/a,readonly=x", "img"],
            &["stop", "-t", "x", "c"],
            &["ps", "-n", "x"],
            &["run", "-p", "99999:80", "img"],
            &["run", "-p", "1:2:3:4", "img"],
            &["run", "-p", "8080:80/xyz", "img"],
            &["run", "--pull", "foo", "img"],
            &["run", "--rm", "--restart", "always", "img"],
            &["run", "--restart=on-failure:x", "img"],
            &["run", "--security-opt", "foo", "img"],
            &["run", "--env-file", "/nonexistent/env", "img"],
            &["create", "-p", "99999:80", "img"],
            &["run", "-d", "-a", "stdout", "img"],
            &["run", "img"],
            &["create", "img"],
            &["ps"],
            &["rm", "a", "b"],
            &["logs", "c"],
            &["exec", "c", "ls"],
            &["stop", "--help"],
            &["restart", "--help"],
            &["kill", "--help"],
            &["pause", "--help"],
            &["wait", "--help"],
            &["rm", "--help"],
            &["rename", "--help"],
            &["update", "--help"],
            &["ps", "--help"],
            &["container", "ls", "--help"],
            &["top", "--help"],
            &["port", "--help"],
            &["logs", "--help"],
            &["exec", "--help"],
            &["attach", "--help"],
            &["stats", "--help"],
            &["container", "prune", "--help"],
            &["container", "inspect", "--help"],
            &["restart"],
            &["pause"],
            &["unpause"],
            &["rename", "a", "b", "c"],
            &["logs"],
            &["exec"],
            &["container", "bogus"],
            &["run", "-m", "1kbb", "img"],
            &["run", "--ulimit", "nofile=x", "img"],
            &["run", "--ulimit", "nofile", "img"],
            &["run", "--tty=maybe", "img"],
            &["run", "--stop-timeout", "1.5", "img"],
            &["run", "--mount", "type=bind,source=/a", "img"],
            &[
                "run",
                "--mount",
                "type=tmpfs,target=/x,tmpfs-size=1x",
                "img",
            ],
            &["create", "-m", "1x", "img"],
            &["exec", "--bogus", "c", "ls"],
            &["ps", "-f", "bogus"],
            &["logs", "--bogus", "c"],
            &["update", "-m", "1x", "c"],
            &["stats", "--bogus"],
            &["run", "-p", "80:80:80", "img"],
            &["run", "-p", "abc", "img"],
            &["run", "-p", "1-3:4-5", "img"],
            &["run", "--restart=:3", "img"],
            &["run", "--log-driver", "none", "--log-opt", "a=b", "img"],
            &["run", "--label-file", "/nonexistent/labels", "img"],
            &["unpause", "--help"],
            &["container", "rm", "--help"],
            &["stop", "c"],
        ];
        for args in cases {
            let mut full = vec!["-H", "unix:///nonexistent/x.sock"];
            full.extend_from_slice(args);
            let Some((code, stdout, stderr)) = docker(&full) else {
                eprintln!("docker CLI not installed; skipping");
                return;
            };
            // berth keeps docker's own wording of the connect error.
            let stderr = stderr
                .replace("the berth daemon at", "the Docker daemon at")
                .replace("Is the berth daemon", "Is the docker daemon");
            let (r, out, err) = run_args_full(&full);
            let (bcode, berr) = match r {
                Ok(()) => (0, err),
                Err(e) => {
                    let t = e.to_string();
                    let mut s = err;
                    if !t.is_empty() {
                        s.push_str(&t);
                        s.push('\n');
                    }
                    (e.exit_code(), s)
                }
            };
            assert_eq!(
                (bcode, out.as_str(), berr.as_str()),
                (code, stdout.as_str(), stderr.as_str()),
                "berth differs from docker for {args:?}"
            );
        }
    }
}
