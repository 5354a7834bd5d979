//! The real shim binary against real containers: a busybox rootfs, a bundle from
//! `berth_runtime::build_spec`, the built-in runtime. Needs root (as the engine does).
//!
//! Every test owns a `Fixture` whose Drop kills the container and the shim and removes
//! the runtime state, the cgroups and the temp dir, whatever happened in the test.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_logs::FrameDecoder;
use berth_runtime::{build_spec, NetNs, Runtime, Seccomp, SpecInput};
use berth_shim::{spawn, ExecRequest, Request, ShimArgs, ShimClient, Spare, SHIM_PID_FILE, SOCKET};

const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim");
const IO_TIMEOUT: Duration = Duration::from_secs(20);

struct Fixture {
    id: String,
    cgroups_path: String,
    args: ShimArgs,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(name: &str, cmd: &[&str], tty: bool, stdin: bool) -> Fixture {
        // Short paths: the sockets live in here (108-byte sun_path limit).
        let dir = tempfile::Builder::new()
            .prefix("bshim")
            .tempdir_in("/tmp")
            .unwrap();
        let id = format!("shimtest-{name}-{}", std::process::id());
        let rootfs = dir.path().join("rootfs");
        make_rootfs(&rootfs);
        let bundle = dir.path().join("bundle");
        fs::create_dir(&bundle).unwrap();
        let cgroups_path = format!("/berth-shimtest-{name}-{}", std::process::id());
        let input = SpecInput {
            id: id.clone(),
            rootfs: rootfs.clone(),
            args: cmd.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/bin".into(), "HOME=/".into()],
            cwd: "/".into(),
            hostname: "shimtest".into(),
            tty,
            netns: NetNs::None,
            // The seccomp profile is the runtime's business; these tests are the shim's.
            seccomp: Seccomp::Unconfined,
            cgroups_path: cgroups_path.clone(),
            ..SpecInput::default()
        };
        let spec = build_spec(&input).unwrap();
        fs::write(
            bundle.join("config.json"),
            serde_json::to_vec(&spec).unwrap(),
        )
        .unwrap();
        let args = ShimArgs {
            id: id.clone(),
            bundle,
            state: dir.path().join("state"),
            log_path: dir.path().join(format!("{id}-json.log")),
            tty,
            stdin,
            stdin_once: stdin,
            runtime_root: dir.path().join("rt"),
            ..ShimArgs::default()
        };
        Fixture {
            id,
            cgroups_path,
            args,
            dir,
        }
    }

    fn spawn(&self) -> (i32, ShimClient) {
        let pid = spawn(&self.args, Path::new(SHIM), None).unwrap();
        assert!(pid > 0);
        (pid, ShimClient::connect(&self.args.state).unwrap())
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.args.log_path).unwrap()
    }

    fn shim_pid(&self) -> Option<i32> {
        fs::read_to_string(self.args.state.join(SHIM_PID_FILE))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Ok(c) = ShimClient::connect(&self.args.state) {
            let _ = c.kill(libc::SIGKILL, true);
        }
        if let Some(pid) = self.shim_pid() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if alive(pid) {
                // SAFETY: plain kill(2) of the shim this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let root = self.args.runtime_root.clone();
        let _ = match &self.args.runtime_binary {
            Some(bin) => berth_runtime::External::new(bin.clone(), root).delete(&self.id, true),
            None => berth_runtime::Builtin::new(root).delete(&self.id, true),
        };
        // Cgroups the runtime may have left (a failed test, a killed shim).
        if let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") {
            for h in hierarchies.flatten() {
                let _ = fs::remove_dir(h.path().join(self.cgroups_path.trim_start_matches('/')));
            }
        }
        let _ = fs::remove_dir(
            Path::new("/sys/fs/cgroup").join(self.cgroups_path.trim_start_matches('/')),
        );
    }
}

/// The one-letter state of a process (R, S, D, Z…), waiting up to a second for it to
/// leave the transient states a freeze or a thaw passes through.
fn proc_state(pid: i32) -> char {
    let read = || {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        stat.rsplit_once(") ").unwrap().1.chars().next().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut st = read();
    while !matches!(st, 'S' | 'D' | 'Z') && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        st = read();
    }
    st
}

/// Alive and not a zombie (nobody may reap a shim that is not our child at once).
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn make_rootfs(root: &Path) {
    let bin = root.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    for tool in ["sh", "echo", "cat", "sleep", "true", "seq"] {
        symlink("busybox", bin.join(tool)).unwrap();
    }
    for d in ["proc", "dev", "sys", "etc", "tmp"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
}

fn attach(client: &ShimClient, stdin: bool) -> UnixStream {
    let s = client
        .open_stream(&Request::Attach {
            stdin,
            stdout: true,
            stderr: true,
        })
        .unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Reads a multiplexed stream to its end: (stdout, stderr).
fn demux(mut s: UnixStream) -> (String, String) {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let mut d = FrameDecoder::new();
    d.push(&raw);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some((kind, data)) = d.next_frame() {
        match kind {
            1 => out.extend(data),
            2 => err.extend(data),
            k => panic!("unexpected stream byte {k}"),
        }
    }
    assert_eq!(d.pending(), 0, "trailing partial frame");
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn echo_is_logged_as_docker_json_file_and_exits_zero() {
    let f = Fixture::new("echo", &["echo", "hello"], false, false);
    let (_, client) = f.spawn();
    client.start().unwrap();
    let st = client.wait().unwrap();
    assert_eq!((st.exit_code, st.oom_killed), (0, false));
    let log = f.log();
    let rec: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(rec["log"], "hello\n");
    assert_eq!(rec["stream"], "stdout");
    assert!(rec["time"].as_str().unwrap().ends_with('Z'), "{log}");
    assert!(
        log.starts_with(r#"{"log":"hello\n","stream":"stdout","time":""#),
        "{log}"
    );
    // exit.json is there, the socket is gone once the shim is done.
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.args.state.join(SOCKET).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!f.args.state.join(SOCKET).exists());
    assert_eq!(berth_shim::read_exit(&f.args.state), Some(st));
}

#[test]
fn a_spare_shim_runs_the_container_it_is_given() {
    let f = Fixture::new(
        "spare",
        &["sh", "-c", "echo from-spare; exit 4"],
        false,
        false,
    );
    // Started idle-class (as the daemon starts spares), it runs its container with the
    // policy of the thread that hands it over.
    let set = |policy| {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler on this test's own thread.
        assert_eq!(unsafe { libc::sched_setscheduler(0, policy, &param) }, 0);
    };
    set(libc::SCHED_IDLE);
    let spare = Spare::start(Path::new(SHIM));
    set(libc::SCHED_OTHER);
    let spare = spare.unwrap();
    // SAFETY: sched_getscheduler on pids of ours.
    assert_eq!(
        unsafe { libc::sched_getscheduler(spare.pid()) },
        libc::SCHED_IDLE
    );
    let pid = spawn(&f.args, Path::new(SHIM), Some(spare)).unwrap();
    assert!(pid > 0);
    assert_eq!(
        unsafe { libc::sched_getscheduler(pid) },
        unsafe { libc::sched_getscheduler(0) },
        "the container kept the spare's policy"
    );
    let client = ShimClient::connect(&f.args.state).unwrap();
    client.start().unwrap();
    assert_eq!(client.wait().unwrap().exit_code, 4);
    assert!(f.log().contains("from-spare"), "{}", f.log());
}

#[test]
fn a_spare_shim_ends_when_dropped_and_a_dead_one_is_replaced() {
    let spare = Spare::start(Path::new(SHIM)).unwrap();
    let pid = spare.pid();
    assert!(alive(pid));
    drop(spare);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!alive(pid), "the spare shim outlived its pipe");

    // A spare killed before it is used: the container still starts, in a new shim.
    let spare = Spare::start(Path::new(SHIM)).unwrap();
    let pid = spare.pid();
    // SAFETY: kill(2) on a pid of ours.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let f = Fixture::new("spare-dead", &["true"], false, false);
    spawn(&f.args, Path::new(SHIM), Some(spare)).unwrap();
    let client = ShimClient::connect(&f.args.state).unwrap();
    client.start().unwrap();
    assert_eq!(client.wait().unwrap().exit_code, 0);
}

#[test]
fn exit_code_is_passed_through() {
    let f = Fixture::new("exit3", &["sh", "-c", "exit 3"], false, false);
    let (_, client) = f.spawn();
    client.start().unwrap();
    assert_eq!(client.wait().unwrap().exit_code, 3);
}

#[test]
fn killed_by_sigkill_is_137_and_cgroup_ops_work_while_running() {
    let f = Fixture::new("kill", &["sleep", "100"], false, false);
    let (pid, client) = f.spawn();
    client.start().unwrap();
    let pids = client.pids().unwrap();
    assert!(pids.contains(&pid), "{pids:?} lacks the init {pid}");
    let stats = client.stats().unwrap();
    assert_eq!(stats.cgroup.pids_current, 1, "{stats:?}");
    assert!(stats.cgroup.memory_usage > 0, "{stats:?}");
    // --network none: loopback only, which docker leaves out.
    assert!(stats.networks.is_empty(), "{stats:?}");
    // update reaches the cgroup.
    let limits = berth_runtime::Resources {
        pids_limit: Some(42),
        ..Default::default()
    };
    client.update(&limits).unwrap();
    // cgroup v1 (pids hierarchy) or v2 (unified): one of them holds the limit.
    let rel = f.cgroups_path.trim_start_matches('/');
    let pids_max = [
        Path::new("/sys/fs/cgroup/pids").join(rel),
        Path::new("/sys/fs/cgroup").join(rel),
    ]
    .into_iter()
    .map(|d| d.join("pids.max"))
    .find(|p| p.exists())
    .expect("no pids.max for the container's cgroup");
    assert_eq!(fs::read_to_string(&pids_max).unwrap().trim(), "42");
    // pause freezes the init, resume thaws it.
    client.pause().unwrap();
    assert_eq!(proc_state(pid), 'D', "paused init should be frozen");
    client.resume().unwrap();
    assert_eq!(proc_state(pid), 'S');
    client.kill(libc::SIGKILL, false).unwrap();
    let st = client.wait().unwrap();
    assert_eq!(st.exit_code, 137);
    // The cgroup goes with the container, right after the exit is answered.
    let cgroup = Path::new("/sys/fs/cgroup/pids").join(f.cgroups_path.trim_start_matches('/'));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while cgroup.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(!cgroup.exists(), "{} is still there", cgroup.display());
}

#[test]
fn attach_before_start_sees_all_output_as_frames() {
    let script = "echo out1; echo err1 >&2; echo out2";
    let f = Fixture::new("attach", &["sh", "-c", script], false, false);
    let (_, client) = f.spawn();
    let a = attach(&client, false);
    let b = attach(&client, false);
    client.start().unwrap();
    let (out, err) = demux(a);
    assert_eq!((out.as_str(), err.as_str()), ("out1\nout2\n", "err1\n"));
    assert_eq!(demux(b), (out, err));
    assert_eq!(client.wait().unwrap().exit_code, 0);
    let log = f.log();
    assert!(
        log.contains(r#"{"log":"err1\n","stream":"stderr""#),
        "{log}"
    );
}

#[test]
fn a_slow_attacher_loses_nothing_and_neither_does_the_log() {
    // ~1.3 MB: more than the pipe and the attacher high-water mark hold.
    const N: usize = 200_000;
    let f = Fixture::new("bulk", &["seq", "1", &N.to_string()], false, false);
    let (_, client) = f.spawn();
    let s = attach(&client, false);
    client.start().unwrap();
    // Not reading for a while: the shim has to hold the container back, not drop.
    std::thread::sleep(Duration::from_millis(2500));
    let (out, err) = demux(s);
    assert!(err.is_empty());
    let expected: String = (1..=N).map(|i| format!("{i}\n")).collect();
    assert!(
        out == expected,
        "attach got {} bytes, want {}",
        out.len(),
        expected.len()
    );
    assert_eq!(client.wait().unwrap().exit_code, 0);
    let log = f.log();
    assert_eq!(log.lines().count(), N);
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["log"], format!("{N}\n"));
}

#[test]
fn stdin_through_attach_reaches_cat() {
    let f = Fixture::new("stdin", &["cat"], false, true);
    let (_, client) = f.spawn();
    let mut s = attach(&client, true);
    client.start().unwrap();
    s.write_all(b"ping\npong").unwrap();
    // Half-close = stdin EOF; with stdin-once cat sees EOF and exits.
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let (out, err) = demux(s);
    assert_eq!((out.as_str(), err.as_str()), ("ping\npong", ""));
    assert_eq!(client.wait().unwrap().exit_code, 0);
}

#[test]
fn tty_stream_is_raw() {
    let f = Fixture::new("tty", &["sh", "-c", "echo tty-ok"], true, false);
    let (_, client) = f.spawn();
    client.resize(None, 40, 132).unwrap();
    let mut s = attach(&client, false);
    client.start().unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    assert_eq!(raw, b"tty-ok\r\n");
    assert_eq!(client.wait().unwrap().exit_code, 0);
    assert!(f.log().contains(r#""log":"tty-ok\r\n","stream":"stdout""#));
}

#[test]
fn tty_stdin_drives_an_interactive_shell() {
    let f = Fixture::new("ttyin", &["sh"], true, true);
    let (_, client) = f.spawn();
    let mut s = attach(&client, true);
    client.start().unwrap();
    s.write_all(b"echo marker-$((6*7))\nexit 7\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    // The terminal echoes the input and shows the result of the expansion.
    assert!(text.contains("marker-42\r\n"), "{text:?}");
    assert_eq!(client.wait().unwrap().exit_code, 7);
}

#[test]
fn external_runtime_runs_the_same_protocol() {
    let Some(runc) = ["/usr/sbin/runc", "/usr/bin/runc"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("runc not installed: skipping the external runtime test");
        return;
    };
    let mut f = Fixture::new("runc", &["sh", "-c", "echo via-runc; exit 4"], false, false);
    f.args.runtime_binary = Some(runc.into());
    let (_, client) = f.spawn();
    let a = attach(&client, false);
    client.start().unwrap();
    assert_eq!(demux(a).0, "via-runc\n");
    assert_eq!(client.wait().unwrap().exit_code, 4);
}

#[test]
fn exec_runs_inside_a_running_container() {
    let f = Fixture::new("exec", &["sleep", "100"], false, false);
    let (init, client) = f.spawn();
    client.start().unwrap();
    let req = ExecRequest {
        exec_id: "e1".into(),
        args: vec![
            "sh".into(),
            "-c".into(),
            "echo from-exec; echo $$ >&2; exit 5".into(),
        ],
        ..ExecRequest::default()
    };
    let (pid, stream) = client.exec(&req).unwrap();
    assert!(pid > 0 && pid != init);
    let stream = stream.unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let (out, err) = demux(stream);
    assert_eq!(out, "from-exec\n");
    // A new pid namespace: the exec is not pid 1 there.
    assert_ne!(err.trim(), "1");
    assert_eq!(client.exec_wait("e1").unwrap(), 5);
    // Exec output is not the container's log.
    assert!(!f.log().contains("from-exec"));

    // A TTY exec gets raw bytes and its own terminal.
    let req = ExecRequest {
        exec_id: "e2".into(),
        args: vec!["sh".into(), "-c".into(), "echo tty-exec".into()],
        tty: true,
        ..ExecRequest::default()
    };
    let (_, stream) = client.exec(&req).unwrap();
    let mut stream = stream.unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    assert_eq!(raw, b"tty-exec\r\n");
    assert_eq!(client.exec_wait("e2").unwrap(), 0);

    // Exec stdin: the stream's half-close is the exec's stdin EOF.
    let req = ExecRequest {
        exec_id: "e3".into(),
        args: vec!["cat".into()],
        stdin: true,
        ..ExecRequest::default()
    };
    let (_, stream) = client.exec(&req).unwrap();
    let mut stream = stream.unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(b"via-exec-stdin").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(demux(stream), ("via-exec-stdin".to_string(), String::new()));
    assert_eq!(client.exec_wait("e3").unwrap(), 0);

    // A missing executable is an error with docker's text, not a process.
    let req = ExecRequest {
        exec_id: "e4".into(),
        args: vec!["no-such-tool".into()],
        ..ExecRequest::default()
    };
    let err = client.exec(&req).unwrap_err().to_string();
    assert!(
        err.contains(r#"exec: "no-such-tool": executable file not found in $PATH"#),
        "{err}"
    );

    let err = client.exec_wait("nope").unwrap_err().to_string();
    assert_eq!(err, "No such exec instance: nope");
    client.kill(libc::SIGKILL, true).unwrap();
    assert_eq!(client.wait().unwrap().exit_code, 137);
}

#[test]
fn shim_outlives_the_process_that_spawned_it() {
    let f = Fixture::new("orphan", &["sleep", "100"], false, false);
    fs::create_dir_all(&f.args.state).unwrap();
    // A short-lived spawner (standing in for the daemon) that exits right away.
    let report = f.dir.path().join("report");
    let mut cmd = format!("exec >{} '{SHIM}' shim", report.display());
    for a in f.args.to_args() {
        cmd.push_str(&format!(" '{}'", a.to_str().unwrap()));
    }
    let status = Command::new("sh").arg("-c").arg(&cmd).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + IO_TIMEOUT;
    while !fs::read_to_string(&report)
        .unwrap_or_default()
        .ends_with('\n')
    {
        assert!(Instant::now() < deadline, "no report from the shim");
        std::thread::sleep(Duration::from_millis(20));
    }
    let line = fs::read_to_string(&report).unwrap();
    assert!(line.starts_with("{\"pid\":"), "{line}");
    let shim = f.shim_pid().unwrap();
    assert!(alive(shim));
    // Its own session, so the spawner's signals and terminal do not reach it.
    // SAFETY: getsid with a pid only.
    assert_eq!(unsafe { libc::getsid(shim) }, shim);
    let client = ShimClient::connect(&f.args.state).unwrap();
    client.start().unwrap();
    client.kill(libc::SIGTERM, false).unwrap();
    // sleep as pid 1 ignores SIGTERM (no handler): SIGKILL ends it.
    client.kill(libc::SIGKILL, false).unwrap();
    assert_eq!(client.wait().unwrap().exit_code, 137);
}

#[test]
fn missing_command_fails_spawn_with_dockers_text() {
    let f = Fixture::new("nocmd", &["definitely-not-here"], false, false);
    let err = spawn(&f.args, Path::new(SHIM), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"exec: "definitely-not-here": executable file not found in $PATH"#),
        "{err}"
    );
    // Nothing left behind: no socket, no runtime state.
    assert!(!f.args.state.join(SOCKET).exists());
    assert!(!f.args.runtime_root.join(&f.id).exists());
}
