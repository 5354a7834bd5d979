//! The container commands of the `berth` CLI against the real docker CLI, for
//! what needs no running container: usage errors, flag value errors and
//! `--help`. Both point at a socket nobody listens on, so nothing reaches a
//! daemon; outputs must match byte for byte (docker's name replaced).

use std::process::{Command, Stdio};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const NOWHERE: &str = "unix:///nonexistent/berth-test.sock";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(bin: &str, args: &[&str]) -> Option<Out> {
    let o = Command::new(bin)
        .args(["-H", NOWHERE])
        .args(args)
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", "/nonexistent/docker-config")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    Some(Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    })
}

/// docker's text with its own name replaced by berth's (berth keeps docker's
/// wording of the connect error).
fn as_berth(s: &str) -> String {
    s.replace("docker", "berth")
        .replace("Docker", "berth")
        .replace("docs.berth.com", "docs.docker.com")
        .replace("the berth daemon at", "the Docker daemon at")
        .replace("Is the berth daemon", "Is the docker daemon")
}

#[track_caller]
fn same(args: &[&str]) {
    let Some(d) = run("docker", args) else {
        eprintln!("docker CLI not installed; skipping {args:?}");
        return;
    };
    let b = run(BERTH, args).expect("run berth");
    assert_eq!(
        (b.code, b.stdout.as_str(), b.stderr.as_str()),
        (
            d.code,
            as_berth(&d.stdout).as_str(),
            as_berth(&d.stderr).as_str()
        ),
        "berth differs from docker for {args:?}"
    );
}

#[test]
fn arity_errors_match_docker() {
    for args in [
        &["run"][..],
        &["create"],
        &["container", "run"],
        &["start"],
        &["stop"],
        &["restart"],
        &["kill"],
        &["pause"],
        &["unpause"],
        &["wait"],
        &["rm"],
        &["container", "rm"],
        &["rename", "a"],
        &["rename", "a", "b", "c"],
        &["update"],
        &["ps", "x"],
        &["container", "ls", "x"],
        &["top"],
        &["port"],
        &["port", "a", "b", "c"],
        &["logs"],
        &["logs", "a", "b"],
        &["exec"],
        &["exec", "c"],
        &["attach"],
        &["container", "prune", "x"],
        &["container", "inspect"],
        &["container", "bogus"],
    ] {
        same(args);
    }
}

#[test]
fn flag_errors_match_docker() {
    for args in [
        &["run", "--bogus", "img"][..],
        &["run", "-m", "1x", "img"],
        &["run", "-m", "1kbb", "img"],
        &["run", "-m", "-1", "img"],
        &["run", "--memory-reservation", "x", "img"],
        &["run", "--shm-size", "x", "img"],
        &["run", "--cpus", "1x", "img"],
        &["run", "--cpus", "1.0000000001", "img"],
        &["run", "--cpu-shares", "x", "img"],
        &["run", "--pids-limit", "x", "img"],
        &["run", "--stop-timeout", "1.5", "img"],
        &["run", "--ulimit", "nofile", "img"],
        &["run", "--ulimit", "foo=1", "img"],
        &["run", "--ulimit", "nofile=2:1", "img"],
        &["run", "--ulimit", "nofile=x", "img"],
        &["run", "--add-host", "foo", "img"],
        &["run", "--add-host", "foo:bar", "img"],
        &["run", "--dns", "1.2", "img"],
        &["run", "--sysctl", "a", "img"],
        &["run", "-a", "foo", "img"],
        &["run", "-e", "=x", "img"],
        &["run", "-l", "=a", "img"],
        &["run", "--mount", "type=bind,source=/a", "img"],
        &["run", "--mount", "type=bind,src=/a,target=/x,foo=1", "img"],
        &[
            "run",
            "--mount",
            "type=tmpfs,target=/x,tmpfs-size=1x",
            "img",
        ],
        &["run", "--mount", "target=/a,readonly=x", "img"],
        &["run", "--tty=maybe", "img"],
        &["create", "-m", "1x", "img"],
        &["exec", "--bogus", "c", "ls"],
        &["stop", "-t", "x", "c"],
        &["ps", "-n", "x"],
        &["ps", "-f", "bogus"],
        &["logs", "--bogus", "c"],
        &["update", "-m", "1x", "c"],
        &["stats", "--bogus"],
    ] {
        same(args);
    }
}

#[test]
fn run_parse_errors_match_docker() {
    // Errors of docker/cli's `parse`, reported before any daemon contact.
    for args in [
        &["run", "-p", "99999:80", "img"][..],
        &["run", "-p", "1:2:3:4", "img"],
        &["run", "-p", "80:80:80", "img"],
        &["run", "-p", "abc", "img"],
        &["run", "-p", "8080:80/xyz", "img"],
        &["run", "-p", "1-3:4-5", "img"],
        &["run", "--pull", "foo", "img"],
        &["run", "--rm", "--restart", "always", "img"],
        &["run", "--restart=:3", "img"],
        &["run", "--restart=on-failure:x", "img"],
        &["run", "--security-opt", "foo", "img"],
        &["run", "--log-driver", "none", "--log-opt", "a=b", "img"],
        &["run", "--env-file", "/nonexistent/env", "img"],
        &["run", "--label-file", "/nonexistent/labels", "img"],
        &["create", "-p", "99999:80", "img"],
        &["run", "-d", "-a", "stdout", "img"],
    ] {
        same(args);
    }
}

#[test]
fn connect_errors_match_docker() {
    for args in [
        &["run", "img"][..],
        &["create", "img"],
        &["ps"],
        &["stop", "c"],
        &["rm", "a", "b"],
        &["logs", "c"],
        &["exec", "c", "ls"],
    ] {
        same(args);
    }
}

#[test]
fn help_matches_docker() {
    for args in [
        &["stop", "--help"][..],
        &["restart", "--help"],
        &["kill", "--help"],
        &["pause", "--help"],
        &["unpause", "--help"],
        &["wait", "--help"],
        &["rm", "--help"],
        &["container", "rm", "--help"],
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
    ] {
        same(args);
    }
}
