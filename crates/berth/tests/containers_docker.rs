//! Containers through the real docker CLI: run, logs, exec, stdin, ports,
//! limits, exit codes, daemon crashes under running containers, bad input and
//! the host left clean afterwards.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::TestDaemon;

fn daemon_with_busybox() -> TestDaemon {
    let d = TestDaemon::start();
    d.import_busybox("bb:latest");
    d
}

/// Polls `f` until it returns true or 10 s pass.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// Interfaces enslaved to the test daemon's bridge (veths of its containers).
fn bridge_ports(d: &TestDaemon) -> String {
    let o = Command::new("ip")
        .args(["-o", "link", "show", "master", &d.bridge])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Rules of the daemon's nft table that name a container.
fn container_rules(d: &TestDaemon) -> String {
    let o = Command::new("nft")
        .args(["list", "table", "inet", &format!("berth_{}", d.bridge)])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains("berth:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Overlay mounts under this daemon's data root.
fn mounts_under(d: &TestDaemon) -> Vec<String> {
    let root = d.data_root().display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&root))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_daemon_stopped_right_after_rm_leaves_no_mount() {
    let mut d = daemon_with_busybox();
    let ids: Vec<String> = (0..8)
        .map(|_| {
            let id = d.docker(&["run", "-d", "--network", "none", "bb", "sleep", "60"]);
            id.ok().trim().to_string()
        })
        .collect();
    for cmd in [&["stop", "-t", "0"][..], &["rm", "-f"]] {
        let mut args = cmd.to_vec();
        args.extend(ids.iter().map(String::as_str));
        d.docker(&args).ok();
    }
    // SIGTERM at once: the purges the rm started (unmount, delete) finish first.
    assert_eq!(d.stop(), 0);
    assert_eq!(mounts_under(&d), Vec::<String>::new());
}

#[test]
fn run_echo_prints_and_rm_removes() {
    let d = daemon_with_busybox();
    let r = d.docker(&["run", "--rm", "bb", "echo", "hello"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "hello\n");
    eventually("container removal", || {
        d.docker(&["ps", "-aq"]).stdout.trim().is_empty()
    });
    // rm unmounts on a thread of its own, right after it answers.
    eventually("the rootfs mounts to go", || mounts_under(&d).is_empty());
    eventually("the veths to go", || bridge_ports(&d).trim().is_empty());
}

#[test]
fn exit_codes_follow_docker() {
    let d = daemon_with_busybox();
    let r = d.docker(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(r.code, 3);
    assert_eq!(r.stdout, "out\n");
    assert_eq!(r.stderr, "err\n");
    let r = d.docker(&["run", "--name", "nf", "bb", "nope-cmd"]);
    assert_eq!(r.code, 127, "{}", r.stderr);
    assert!(
        r.stderr.contains("executable file not found"),
        "{}",
        r.stderr
    );
    let code = d
        .docker(&["inspect", "-f", "{{.State.ExitCode}}", "nf"])
        .ok();
    assert_eq!(code.trim(), "127");
    eventually("the veths to go", || bridge_ports(&d).trim().is_empty());
    assert!(container_rules(&d).is_empty());
}

#[test]
fn detached_container_logs_stop_and_ps() {
    let d = daemon_with_busybox();
    let id = d
        .docker(&[
            "run",
            "-d",
            "--name",
            "talker",
            "bb",
            "sh",
            "-c",
            "while true; do echo hello world; sleep 0.2; done",
        ])
        .ok();
    let id = id.trim();
    assert_eq!(id.len(), 64);
    eventually("log lines", || {
        d.docker(&["logs", "talker"])
            .stdout
            .matches("hello world")
            .count()
            >= 2
    });
    let ps = d
        .docker(&["ps", "--format", "{{.Names}} {{.Status}} {{.Command}}"])
        .ok();
    assert!(ps.starts_with("talker Up "), "{ps}");
    assert!(ps.contains("\"sh -c while true;"), "{ps}");
    let tail = d.docker(&["logs", "--tail", "1", "-t", "talker"]).ok();
    assert_eq!(tail.lines().count(), 1, "{tail}");
    assert!(tail.contains("Z hello world"), "{tail}");
    let out = d.docker(&["stop", "-t", "1", "talker"]).ok();
    assert_eq!(out, "talker\n");
    let st = d
        .docker(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}} {{.Status}}",
        ])
        .ok();
    assert!(st.starts_with("talker Exited (137)"), "{st}");
    assert_eq!(d.docker(&["ps", "-q"]).ok(), "");
    let df = d
        .docker(&[
            "system",
            "df",
            "--format",
            "{{.Type}} {{.TotalCount}} {{.Active}}",
        ])
        .ok();
    assert!(df.contains("Containers 1 0"), "{df}");
    assert!(df.contains("Images 1 1"), "{df}");
    d.docker(&["rm", "talker"]).ok();
    eventually("the rootfs mount to go", || mounts_under(&d).is_empty());
}

#[test]
fn exec_runs_inside_and_reports_exit_codes() {
    let d = daemon_with_busybox();
    d.docker(&["run", "-d", "--name", "box", "bb", "sleep", "60"])
        .ok();
    let out = d
        .docker(&[
            "exec",
            "box",
            "sh",
            "-c",
            "echo $HOSTNAME; cat /proc/1/cmdline",
        ])
        .ok();
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap().len(), 12);
    assert!(lines.next().unwrap().starts_with("sleep"));
    let r = d.docker(&["exec", "box", "sh", "-c", "exit 7"]);
    assert_eq!(r.code, 7);
    let r = d.docker(&[
        "exec",
        "-e",
        "X=42",
        "-w",
        "/tmp",
        "box",
        "sh",
        "-c",
        "echo $X $(pwd)",
    ]);
    assert_eq!(r.ok(), "42 /tmp\n");
    let top = d.docker(&["top", "box"]).ok();
    assert!(top.contains("sleep 60"), "{top}");
    d.docker(&["kill", "box"]).ok();
    let code = d.docker(&["wait", "box"]).ok();
    assert_eq!(code.trim(), "137");
}

#[test]
fn stdin_reaches_the_container() {
    let d = daemon_with_busybox();
    let r = d.docker_in(
        &["run", "-i", "--rm", "bb", "sh", "-c", "tr a-z A-Z"],
        Some(b"piped data\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "PIPED DATA\n");
}

#[test]
fn published_port_answers_on_loopback() {
    let d = daemon_with_busybox();
    let port = common::registry::free_port();
    let spec = format!("{port}:8080");
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &spec,
        "bb",
        "sh",
        "-c",
        "while true; do echo served | nc -l -p 8080; done",
    ])
    .ok();
    let ports = d.docker(&["port", "web"]).ok();
    assert!(
        ports.contains(&format!("8080/tcp -> 0.0.0.0:{port}")),
        "{ports}"
    );
    let mut got = String::new();
    eventually("a TCP answer", || {
        got.clear();
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let _ = s.read_to_string(&mut got);
                got.contains("served")
            }
            Err(_) => false,
        }
    });
    assert!(!container_rules(&d).is_empty());
    // The deprecated top-level fields (API <= 1.51) repeat the bridge endpoint.
    let ips = d
        .docker(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Networks.bridge.IPAddress}} {{.NetworkSettings.IPPrefixLen}}",
            "web",
        ])
        .ok();
    let ips: Vec<&str> = ips.split_whitespace().collect();
    assert!(
        ips.len() == 3 && ips[0] == ips[1] && ips[0].parse::<std::net::Ipv4Addr>().is_ok(),
        "{ips:?}"
    );
    d.docker(&["rm", "-f", "web"]).ok();
    assert!(container_rules(&d).is_empty(), "{}", container_rules(&d));
    eventually("the veths to go", || bridge_ports(&d).trim().is_empty());
}

#[test]
fn network_none_has_loopback_up_and_host_shares_the_hosts() {
    let d = daemon_with_busybox();
    // `run --rm [--network MODE] bb busybox CMD…`
    let run = |mode: Option<&str>, cmd: &[&str]| {
        let mut args = vec!["run", "--rm"];
        if let Some(m) = mode {
            args.extend(["--network", m]);
        }
        args.extend(["bb", "busybox"]);
        args.extend(cmd);
        d.docker(&args)
    };
    let links = ["ip", "-o", "link"];
    // none: loopback only, and up (as docker has it).
    let none = run(Some("none"), &links).ok();
    assert_eq!(none.lines().count(), 1, "{none}");
    assert!(none.contains("lo:") && none.contains("UP"), "{none}");
    let ping = run(Some("none"), &["ping", "-c", "1", "-W", "2", "127.0.0.1"]);
    assert_eq!(ping.code, 0, "{}{}", ping.stdout, ping.stderr);
    // bridge (the default): eth0 beside lo; the daemon's bridge is up from then on.
    let bridge = run(None, &links).ok();
    assert!(bridge.contains("eth0"), "{bridge}");
    // host: the host's interfaces, the test daemon's bridge among them.
    let host = run(Some("host"), &links).ok();
    assert!(host.contains(&format!(": {}:", d.bridge)), "{host}");
}

#[test]
fn memory_limit_oom_kills_and_pids_limit_stops_fork_bombs() {
    let d = daemon_with_busybox();
    let r = d.docker(&[
        "run",
        "--name",
        "hog",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "bb",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=128M",
        "count=1",
    ]);
    assert_eq!(r.code, 137, "{} {}", r.stdout, r.stderr);
    let oom = d
        .docker(&["inspect", "-f", "{{.State.OOMKilled}}", "hog"])
        .ok();
    assert_eq!(oom.trim(), "true");
    let r = d.docker(&[
        "run",
        "--rm",
        "--pids-limit",
        "8",
        "bb",
        "sh",
        "-c",
        "for i in $(seq 1 30); do sleep 2 & done; wait",
    ]);
    assert!(
        r.stderr.contains("can't fork") || r.stderr.contains("Resource temporarily unavailable"),
        "{}",
        r.stderr
    );
}

#[test]
fn containers_survive_a_daemon_crash() {
    let mut d = daemon_with_busybox();
    let port = common::registry::free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    d.docker(&[
        "run",
        "-d",
        "--name",
        "long",
        "-p",
        &publish,
        "bb",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.2; done",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "short",
        "bb",
        "sh",
        "-c",
        "sleep 1; exit 5",
    ])
    .ok();
    d.kill9();
    std::thread::sleep(Duration::from_millis(1500));
    d.restart();
    let ps = d.docker(&["ps", "--format", "{{.Names}}"]).ok();
    assert_eq!(ps, "long\n");
    // The restarted daemon holds the published port again.
    let bound = std::net::TcpListener::bind(("127.0.0.1", port));
    assert!(bound.is_err(), "port {port} is free after the restart");
    let code = d
        .docker(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.State.Status}}",
            "short",
        ])
        .ok();
    assert_eq!(code.trim(), "5 exited");
    assert_eq!(
        d.docker(&["exec", "long", "echo", "still here"]).ok(),
        "still here\n"
    );
    assert!(d.docker(&["logs", "long"]).ok().contains("tick"));
    d.docker(&["stop", "-t", "0", "long"]).ok();
    let code = d.docker(&["wait", "long"]).ok();
    assert_eq!(code.trim(), "137");
}

#[test]
fn restart_always_comes_back() {
    let d = daemon_with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "phoenix",
        "--restart",
        "always",
        "bb",
        "sh",
        "-c",
        "sleep 0.3; exit 1",
    ])
    .ok();
    eventually("a restart", || {
        d.docker(&["inspect", "-f", "{{.RestartCount}}", "phoenix"])
            .stdout
            .trim()
            .parse::<u32>()
            .unwrap_or(0)
            >= 2
    });
    d.docker(&["stop", "-t", "0", "phoenix"]).ok();
    let st = d
        .docker(&["inspect", "-f", "{{.State.Status}}", "phoenix"])
        .ok();
    assert_eq!(st.trim(), "exited");
}

#[test]
fn bad_input_gets_dockers_errors_and_leaves_nothing() {
    let d = daemon_with_busybox();
    let r = d.docker(&["run", "--name", "dup", "bb", "true"]);
    assert_eq!(r.code, 0);
    let r = d.docker(&["run", "--name", "dup", "bb", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr
            .contains("Conflict. The container name \"/dup\" is already in use by container"),
        "{}",
        r.stderr
    );
    let r = d.docker(&["run", "--cpus", "-1", "bb", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr.contains("Range of CPUs is from 0.01 to"),
        "{}",
        r.stderr
    );
    let r = d.docker(&["run", "-m", "1x", "bb", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr
            .contains("invalid argument \"1x\" for \"-m, --memory\" flag"),
        "{}",
        r.stderr
    );
    let r = d.docker(&["run", "-p", "99999:80", "bb", "true"]);
    assert_eq!(r.code, 125);
    assert!(r.stderr.contains("99999"), "{}", r.stderr);
    let r = d.docker(&["create", "nosuchimage"]);
    assert_ne!(r.code, 0);
    d.docker(&["run", "-d", "--name", "busy", "bb", "sleep", "60"])
        .ok();
    let r = d.docker(&["rm", "busy"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("cannot remove container \"busy\": container is running: stop the container before removing or force remove"),
        "{}",
        r.stderr
    );
    let r = d.docker(&["rmi", "bb"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("(must force) - container"),
        "{}",
        r.stderr
    );
    let r = d.docker(&["run", "-p", "8080", "bb", "nope-cmd"]);
    assert_eq!(r.code, 127);
    // Refused by the daemon's start, before the runtime: the cgroups made ahead go.
    let r = d.docker(&["run", "--name", "nouser", "-u", "nosuchuser", "bb", "true"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("nosuchuser"), "{}", r.stderr);
    let id = d.docker(&["inspect", "-f", "{{.Id}}", "nouser"]).ok();
    assert_eq!(cgroup_dirs(id.trim()), Vec::<String>::new());
    d.docker(&["rm", "-f", "busy"]).ok();
    let all = d.docker(&["ps", "-aq", "--no-trunc"]).ok();
    let ids: Vec<&str> = all.split_whitespace().collect();
    let mut args = vec!["rm"];
    args.extend(&ids);
    d.docker(&args).ok();
    // rm unmounts on a thread of its own, right after it answers.
    eventually("the rootfs mounts to go", || mounts_under(&d).is_empty());
    eventually("the veths to go", || bridge_ports(&d).trim().is_empty());
    assert!(container_rules(&d).is_empty());
    for id in ids {
        eventually("the cgroups to go", || cgroup_dirs(id).is_empty());
    }
}

/// The cgroup directories of container `id` in any hierarchy.
fn cgroup_dirs(id: &str) -> Vec<String> {
    let mut found = Vec::new();
    let hierarchies = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten();
    for dir in hierarchies
        .map(|h| h.path())
        .chain([std::path::PathBuf::from("/sys/fs/cgroup")])
    {
        let p = dir.join("berth").join(id);
        if p.is_dir() {
            found.push(p.display().to_string());
        }
    }
    found
}

/// Runs the docker CLI under a pseudo-terminal (python's pty module), feeding
/// `input` after a short pause; returns (exit code, everything the terminal showed).
fn docker_tty(d: &TestDaemon, args: &[&str], input: &str) -> (i32, String) {
    let script = r#"
import os, pty, sys, time, select
args, data = sys.argv[2:], sys.argv[1].encode().decode('unicode_escape').encode('latin-1')
pid, fd = pty.fork()
if pid == 0:
    os.execvp(args[0], args)
out = b''
time.sleep(1.0)
os.write(fd, data)
deadline = time.time() + 20
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if fd in r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.exit(os.waitstatus_to_exitcode(status) & 0xff)
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(input)
        .arg("docker")
        .args(args)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn run_it_and_exec_it_through_a_terminal() {
    let d = daemon_with_busybox();
    let (code, out) = docker_tty(
        &d,
        &["run", "-it", "--rm", "bb", "sh"],
        "echo tty-$((40+2)); tty; exit 3\\r",
    );
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("tty-42"), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    d.docker(&["run", "-d", "--name", "tt", "bb", "sleep", "60"])
        .ok();
    let (code, out) = docker_tty(
        &d,
        &["exec", "-it", "tt", "sh"],
        "echo in-$((2*3)); exit 4\\r",
    );
    assert_eq!(code, 4, "{out} {}", d.log());
    assert!(out.contains("in-6"), "{out}");
    // ctrl-p ctrl-q detaches and leaves the container running.
    let (code, out) = docker_tty(
        &d,
        &["run", "-it", "--name", "det", "bb", "sh"],
        "\\x10\\x11",
    );
    assert_eq!(code, 0, "{out}");
    let st = d
        .docker(&["inspect", "-f", "{{.State.Running}}", "det"])
        .ok();
    assert_eq!(st.trim(), "true");
}

#[test]
fn attach_detaches_with_keys_and_proxies_signals() {
    let d = daemon_with_busybox();
    d.docker(&["run", "-d", "-it", "--name", "at", "bb", "sh"])
        .ok();
    let running = |name: &str| {
        d.docker(&["inspect", "-f", "{{.State.Running}}", name])
            .ok()
            .trim()
            == "true"
    };
    // The default keys, ctrl-p ctrl-q, after a command typed into the attached shell.
    let (code, out) = docker_tty(
        &d,
        &["attach", "at"],
        "echo att-$((5+5)) >/tmp/typed\\r\\x10\\x11",
    );
    // The docker CLI reports a detach from `attach` as this error (exit 1), as with dockerd.
    assert_eq!(code, 1, "{out} {}", d.log());
    assert!(out.contains("read escape sequence"), "{out}");
    assert!(running("at"), "detaching must leave the container running");
    // What was typed before the keys reached the shell.
    eventually("the typed command to run", || {
        d.docker(&["exec", "at", "cat", "/tmp/typed"]).ok().trim() == "att-10"
    });
    // Keys of the user's choice.
    let (code, out) = docker_tty(&d, &["attach", "--detach-keys", "ctrl-x,x", "at"], "\\x18x");
    assert!(
        code == 1 && out.contains("read escape sequence"),
        "{code} {out}"
    );
    assert!(running("at"));

    // --sig-proxy (the default): a signal to the attached client reaches the container.
    let script = "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.1; done";
    let attach_and_signal = |name: &str, extra: &[&str]| {
        d.docker(&["run", "-d", "--name", name, "bb", "sh", "-c", script])
            .ok();
        eventually("the trap to be set", || {
            d.docker(&["logs", name]).ok().contains("ready")
        });
        let mut child = Command::new("docker")
            .arg("attach")
            .args(extra)
            .arg(name)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        common::send_signal(child.id() as i32, 15);
        // Without the proxy the docker CLI may go on waiting on the stream: after 2 s
        // it is killed (the container's fate is what this is about).
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        (status, out)
    };
    let (status, out) = attach_and_signal("sp", &[]);
    assert_eq!(status.code(), Some(7), "{out} {}", d.log());
    assert!(out.contains("got-term"), "{out}");
    eventually("the container to exit", || !running("sp"));
    let code = d
        .docker(&["inspect", "-f", "{{.State.ExitCode}}", "sp"])
        .ok();
    assert_eq!(code.trim(), "7");
    // --sig-proxy=false: the signal stays with the client, the container goes on.
    let (status, _) = attach_and_signal("nsp", &["--sig-proxy=false"]);
    assert_ne!(status.code(), Some(7));
    assert!(running("nsp"), "the signal must not reach the container");
}

#[test]
fn logs_follow_pause_rename_update_and_stats() {
    let d = daemon_with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "ff",
        "bb",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 0.3; done",
    ])
    .ok();
    let out = d.docker(&["logs", "-f", "ff"]).ok();
    assert_eq!(out, "line1\nline2\nline3\n");
    d.docker(&["run", "-d", "--name", "pp", "bb", "sleep", "60"])
        .ok();
    d.docker(&["pause", "pp"]).ok();
    let st = d
        .docker(&["ps", "--format", "{{.Status}}", "-f", "name=pp"])
        .ok();
    assert!(st.contains("(Paused)"), "{st}");
    d.docker(&["unpause", "pp"]).ok();
    d.docker(&["rename", "pp", "qq"]).ok();
    d.docker(&["update", "--memory", "64m", "--memory-swap", "64m", "qq"])
        .ok();
    let mem = d
        .docker(&["inspect", "-f", "{{.HostConfig.Memory}}", "qq"])
        .ok();
    assert_eq!(mem.trim(), "67108864");
    let stats = d
        .docker(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.MemUsage}} {{.PIDs}}",
            "qq",
        ])
        .ok();
    assert!(stats.starts_with("qq "), "{stats}");
    assert!(stats.contains("/ 64MiB"), "{stats}");
    assert!(stats.trim().ends_with(" 1"), "{stats}");
    // The flags not given leave their settings as they are (the CLI sends them as zero).
    d.docker(&["update", "--cpus", "0.5", "--restart", "always", "qq"])
        .ok();
    d.docker(&["update", "--cpu-shares", "512", "qq"]).ok();
    let hc = d
        .docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.RestartPolicy.Name}}",
            "qq",
        ])
        .ok();
    assert_eq!(hc.trim(), "67108864 500000000 512 always");
}

#[test]
fn external_runtime_runs_the_same_bundle() {
    if !std::path::Path::new("/usr/sbin/runc").exists() {
        eprintln!("skipped: runc is not installed");
        return;
    }
    let d = TestDaemon::start_with(&["--add-runtime", "myrunc=/usr/sbin/runc"]);
    d.import_busybox("bb:latest");
    let r = d.docker(&[
        "run",
        "--rm",
        "--runtime",
        "myrunc",
        "bb",
        "sh",
        "-c",
        "echo via runc; exit 2",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stdout, "via runc\n");
    let r = d.docker(&["run", "--rm", "--runtime", "nope", "bb", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr.contains("unknown or invalid runtime name: nope"),
        "{}",
        r.stderr
    );
}
