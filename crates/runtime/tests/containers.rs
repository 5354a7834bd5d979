//! End-to-end container scenarios through the built-in (libcontainer) and external (runc)
//! runtimes. libcontainer forks, so each scenario runs in a fresh single-threaded child
//! process (this binary re-executed with `BERTH_RT_SCENARIO=<name>:<runtime>`); the
//! parent only collects results. Needs root and a static busybox; skips otherwise.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Output};
use std::time::{Duration, Instant};

use berth_runtime::{
    build_spec, cgroups, receive_pty_master, resolve_user, Builtin, Error, ExecSpec, External,
    InitIo, Resources, Runtime, Seccomp, SpecInput,
};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

const RUNC: &str = "/usr/sbin/runc";
const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "echo", "true", "sleep", "cat", "mkdir", "id", "unshare", "mount", "tty", "ls",
];
const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

type Scenario = fn(&Fixture) -> Result<(), String>;

/// A scenario taking longer is killed and counted as failed.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);

const SCENARIOS: &[(&str, Scenario)] = &[
    ("exit_code", exit_code),
    ("stdout_pipe", stdout_pipe),
    ("tty", tty),
    ("exec", exec),
    ("missing_executable", missing_executable),
    ("seccomp", seccomp),
    ("cgroup_limits", cgroup_limits),
    ("user", user),
    ("init", init),
    ("privileged_and_read_only", privileged_and_read_only),
];

fn main() -> ExitCode {
    if let Ok(which) = std::env::var("BERTH_RT_SCENARIO") {
        return run_child(&which);
    }
    if !nix::unistd::geteuid().is_root() || !Path::new(BUSYBOX).exists() {
        println!("skipping container scenarios: needs root and {BUSYBOX} (busybox-static)");
        return ExitCode::SUCCESS;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let exe = std::env::current_exe().expect("test binary path");
    let mut children = Vec::new();
    for (name, _) in SCENARIOS {
        for runtime in ["builtin", "runc"] {
            if runtime == "runc" && !Path::new(RUNC).exists() {
                continue;
            }
            let label = format!("{name}:{runtime}");
            if !filter.is_empty() && !filter.iter().any(|f| label.contains(f.as_str())) {
                continue;
            }
            let child = Command::new(&exe)
                .env("BERTH_RT_SCENARIO", &label)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawning a scenario");
            children.push((label, child));
        }
    }
    let mut failed = 0;
    for (label, child) in children {
        let out = wait_with_timeout(child, SCENARIO_TIMEOUT);
        if out.status.success() {
            println!("test {label} ... ok");
        } else {
            failed += 1;
            println!("test {label} ... FAILED ({})", out.status);
            println!("{}", String::from_utf8_lossy(&out.stdout));
            println!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    println!("container scenarios: {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Collects a scenario's output; a hung one is killed and its containers' processes and
/// cgroups (named `brt-*-<its pid>`) removed, since its own cleanup could not run.
fn wait_with_timeout(mut child: Child, timeout: Duration) -> Output {
    let deadline = Instant::now() + timeout;
    // The pipes are small; drain them on threads so the child never blocks on them.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().expect("waiting for a killed scenario");
            remove_cgroups_of(child.id());
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn remove_cgroups_of(pid: u32) {
    let suffix = format!("-{pid}");
    let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for c in controllers.flatten() {
        let Ok(groups) = std::fs::read_dir(c.path()) else {
            continue;
        };
        for g in groups.flatten() {
            let name = g.file_name().to_string_lossy().into_owned();
            if name.starts_with("brt-") && name.ends_with(&suffix) {
                let procs =
                    std::fs::read_to_string(g.path().join("cgroup.procs")).unwrap_or_default();
                for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ =
                        nix::sys::signal::kill(Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
                }
                for _ in 0..50 {
                    if std::fs::remove_dir(g.path()).is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

fn run_child(which: &str) -> ExitCode {
    let (name, runtime) = which.split_once(':').expect("name:runtime");
    let scenario = SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .expect("known scenario");
    let fixture = Fixture::new(name, runtime);
    match scenario(&fixture) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{which}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A rootfs, a bundle dir and a runtime state root; deletes the container and its
/// cgroups on drop, whatever the scenario did.
struct Fixture {
    dir: tempfile::TempDir,
    id: String,
    runtime: Box<dyn Runtime>,
    is_builtin: bool,
}

impl Fixture {
    fn new(name: &str, runtime: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "proc", "dev", "sys", "tmp", "mnt"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("rootfs dirs");
        }
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copy busybox");
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .expect("applet link");
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
        )
        .expect("group");
        std::fs::create_dir_all(dir.path().join("bundle")).expect("bundle dir");
        let state = dir.path().join("state");
        let is_builtin = runtime == "builtin";
        let runtime: Box<dyn Runtime> = if is_builtin {
            Box::new(Builtin::new(&state))
        } else {
            Box::new(External::new(RUNC, &state))
        };
        // Short, unique: runc and libcontainer put the id into socket paths.
        let id = format!(
            "brt-{name}-{}-{}",
            &runtime_tag(is_builtin),
            std::process::id()
        );
        Fixture {
            dir,
            id,
            runtime,
            is_builtin,
        }
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn cgroups_path(&self) -> String {
        format!("/{}", self.id)
    }

    fn input(&self, args: &[&str]) -> SpecInput {
        SpecInput {
            id: self.id.clone(),
            rootfs: self.rootfs(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![PATH_ENV.to_string()],
            cwd: "/".into(),
            hostname: "brt".into(),
            cgroups_path: self.cgroups_path(),
            ..Default::default()
        }
    }

    fn write_bundle(&self, input: &SpecInput) -> Result<(), String> {
        let spec = build_spec(input).map_err(|e| e.to_string())?;
        spec.save(self.bundle().join("config.json"))
            .map_err(|e| e.to_string())
    }

    /// Bundle + create + start with the given io; returns the init pid.
    fn run(&self, input: &SpecInput, io: InitIo) -> Result<i32, String> {
        self.write_bundle(input)?;
        let pid = self
            .runtime
            .create(&self.id, &self.bundle(), io)
            .map_err(|e| format!("create: {e}"))?;
        self.runtime
            .start(&self.id)
            .map_err(|e| format!("start: {e}"))?;
        Ok(pid)
    }
}

fn runtime_tag(builtin: bool) -> &'static str {
    if builtin {
        "b"
    } else {
        "r"
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.runtime.delete(&self.id, true);
        // Belt and braces: no cgroup of ours may survive a failed scenario.
        let rel = self.id.clone();
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path().join(&rel));
            }
        }
    }
}

/// Waits for `pid` (our child) and returns docker's exit code.
fn wait_exit(pid: i32) -> Result<i32, String> {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => continue,
            Err(e) => return Err(format!("waitpid {pid}: {e}")),
        }
    }
}

fn null_io() -> Result<InitIo, String> {
    let null = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|e| e.to_string())
    };
    Ok(InitIo::Stdio {
        stdin: None,
        stdout: null()?,
        stderr: null()?,
    })
}

/// Stdio whose stdout and stderr go to one pipe; returns the read end.
fn pipe_io() -> Result<(InitIo, std::fs::File), String> {
    let (r, w) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    let w2 = w.try_clone().map_err(|e| e.to_string())?;
    Ok((
        InitIo::Stdio {
            stdin: None,
            stdout: w,
            stderr: w2,
        },
        std::fs::File::from(r),
    ))
}

fn read_all(mut f: std::fs::File) -> Result<String, String> {
    let mut out = String::new();
    f.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

fn exit_code(f: &Fixture) -> Result<(), String> {
    let pid = f.run(&f.input(&["sh", "-c", "exit 3"]), null_io()?)?;
    let code = wait_exit(pid)?;
    check(code == 3, || format!("exit code {code}, want 3"))
}

fn stdout_pipe(f: &Fixture) -> Result<(), String> {
    let (io, out) = pipe_io()?;
    let pid = f.run(&f.input(&["sh", "-c", "echo hello; echo oops >&2"]), io)?;
    let text = read_all(out)?;
    let code = wait_exit(pid)?;
    check(code == 0, || format!("exit code {code}"))?;
    check(text == "hello\noops\n", || format!("output {text:?}"))
}

fn tty(f: &Fixture) -> Result<(), String> {
    let socket = f.dir.path().join("console.sock");
    let listener = UnixListener::bind(&socket).map_err(|e| e.to_string())?;
    let mut input = f.input(&["sh", "-c", "echo tty-ok; tty"]);
    input.tty = true;
    f.write_bundle(&input)?;
    let pid = f
        .runtime
        .create(&f.id, &f.bundle(), InitIo::Console { socket })
        .map_err(|e| format!("create: {e}"))?;
    let master = receive_pty_master(&listener).map_err(|e| e.to_string())?;
    f.runtime.start(&f.id).map_err(|e| format!("start: {e}"))?;
    // Read until the slave side closes (EIO), i.e. the container exited.
    let mut master = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    let code = wait_exit(pid)?;
    let text = String::from_utf8_lossy(&out);
    check(code == 0, || format!("exit code {code}"))?;
    check(text.contains("tty-ok\r\n"), || {
        format!("tty output {text:?}")
    })?;
    check(text.contains("/dev/pts/"), || format!("no pts in {text:?}"))
}

fn exec(f: &Fixture) -> Result<(), String> {
    let init = f.run(&f.input(&["sleep", "30"]), null_io()?)?;
    let (io, out) = pipe_io()?;
    let user = resolve_user(&f.rootfs(), "app").map_err(|e| e.to_string())?;
    let spec = ExecSpec {
        args: vec![
            "sh".into(),
            "-c".into(),
            "echo exec-$((1+1)); id -u; id -G; ls /proc | grep -c '^[0-9]'; cat /proc/self/status"
                .into(),
        ],
        env: vec![PATH_ENV.into()],
        user,
        ..Default::default()
    };
    let pid = f
        .runtime
        .exec(&f.id, &spec, io)
        .map_err(|e| format!("exec: {e}"))?;
    let text = read_all(out)?;
    let code = wait_exit(pid)?;
    check(code == 0, || {
        format!("exec exit code {code}, output {text:?}")
    })?;
    // Same pid namespace: sleep (1) and the exec'd sh at least.
    let lines: Vec<&str> = text.lines().collect();
    check(
        lines.len() > 4 && lines[0] == "exec-2" && lines[1] == "1000",
        || format!("exec output {text:?}"),
    )?;
    // The container's seccomp filter applies to exec'd processes too, and a non-root
    // user holds no capability (nothing left over from loading the filter).
    for (name, want) in [
        ("Seccomp:", "2"),
        ("CapPrm:", "0000000000000000"),
        ("CapEff:", "0000000000000000"),
    ] {
        check(
            lines
                .iter()
                .any(|l| l.strip_prefix(name).map(str::trim) == Some(want)),
            || format!("{name} want {want}: {text}"),
        )?;
    }
    check(lines[2].split(' ').any(|g| g == "2000"), || {
        format!("groups {text:?}")
    })?;
    // A missing command fails with docker's text.
    let missing = ExecSpec {
        args: vec!["nope".into()],
        env: vec![PATH_ENV.into()],
        ..Default::default()
    };
    match f.runtime.exec(&f.id, &missing, null_io()?) {
        Err(e @ Error::ExecutableNotFound(_)) => check(
            e.to_string() == r#"exec: "nope": executable file not found in $PATH"#,
            || format!("text {e}"),
        )?,
        other => return Err(format!("exec nope: {other:?}")),
    }
    // A TTY exec through the console socket.
    let socket = f.dir.path().join("exec.sock");
    let listener = UnixListener::bind(&socket).map_err(|e| e.to_string())?;
    let tty_spec = ExecSpec {
        args: vec!["tty".into()],
        env: vec![PATH_ENV.into()],
        tty: true,
        ..Default::default()
    };
    let pid = f
        .runtime
        .exec(&f.id, &tty_spec, InitIo::Console { socket })
        .map_err(|e| format!("tty exec: {e}"))?;
    let mut master = std::fs::File::from(receive_pty_master(&listener).map_err(|e| e.to_string())?);
    let mut out = Vec::new();
    let _ = master.read_to_end(&mut out);
    wait_exit(pid)?;
    let text = String::from_utf8_lossy(&out);
    check(text.contains("/dev/pts/"), || {
        format!("tty exec output {text:?}")
    })?;
    f.runtime
        .kill(&f.id, libc::SIGKILL, true)
        .map_err(|e| format!("kill: {e}"))?;
    let code = wait_exit(init)?;
    check(code == 137, || format!("init exit code {code}, want 137"))
}

fn missing_executable(f: &Fixture) -> Result<(), String> {
    f.write_bundle(&f.input(&["nope"]))?;
    match f.runtime.create(&f.id, &f.bundle(), null_io()?) {
        Err(e @ Error::ExecutableNotFound(_)) => check(
            e.to_string() == r#"exec: "nope": executable file not found in $PATH"#,
            || format!("text {e}"),
        ),
        other => Err(format!("create nope: {other:?}")),
    }
}

fn seccomp(f: &Fixture) -> Result<(), String> {
    // The default profile refuses unshare without CAP_SYS_ADMIN (user namespaces need
    // no capability, so only seccomp can refuse this one).
    let script = "unshare -U true 2>/dev/null && echo unshare-ok || echo unshare-denied";
    let (io, out) = pipe_io()?;
    let probe = format!("{script}; cat /proc/self/status");
    let pid = f.run(&f.input(&["sh", "-c", &probe]), io)?;
    let text = read_all(out)?;
    wait_exit(pid)?;
    check(text.starts_with("unshare-denied\n"), || {
        format!("default profile: {text:?}")
    })?;
    // The filter is loaded by the container's process itself (precompiled by the
    // built-in runtime): it must be in filter mode and hold no capability beyond the
    // bounding set — CAP_SYS_ADMIN (bit 21) raised for loading it is gone again.
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    check(field("Seccomp:") == "2", || format!("Seccomp: {text}"))?;
    let caps = ["CapPrm:", "CapEff:", "CapBnd:"]
        .map(|n| u64::from_str_radix(&field(n), 16).unwrap_or(u64::MAX));
    check(
        caps[0] == caps[2] && caps[1] == caps[2] && caps[2] & (1 << 21) == 0,
        || format!("capabilities {caps:x?}: {text}"),
    )?;
    f.runtime
        .delete(&f.id, true)
        .map_err(|e| format!("delete: {e}"))?;

    let mut input = f.input(&["sh", "-c", script]);
    input.seccomp = Seccomp::Unconfined;
    let (io, out) = pipe_io()?;
    let pid = f.run(&input, io)?;
    let text = read_all(out)?;
    wait_exit(pid)?;
    check(text.trim() == "unshare-ok", || {
        format!("unconfined: {text:?}")
    })?;
    f.runtime
        .delete(&f.id, true)
        .map_err(|e| format!("delete: {e}"))?;

    // A custom profile in docker's format.
    let mut input = f.input(&["sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"]);
    input.seccomp = Seccomp::Profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#
            .into(),
    );
    let (io, out) = pipe_io()?;
    let pid = f.run(&input, io)?;
    let text = read_all(out)?;
    wait_exit(pid)?;
    check(
        text.contains("Operation not permitted") && text.contains("rc=1"),
        || format!("custom profile: {text:?}"),
    )
}

fn cgroup_limits(f: &Fixture) -> Result<(), String> {
    let mut input = f.input(&["sleep", "30"]);
    input.resources = Resources {
        memory: Some(64 << 20),
        pids_limit: Some(50),
        nano_cpus: Some(500_000_000),
        ..Default::default()
    };
    let init = f.run(&input, null_io()?)?;
    let path = f.cgroups_path();
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let limit_file = if unified {
        format!("/sys/fs/cgroup{path}/memory.max")
    } else {
        format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
    };
    let limit = std::fs::read_to_string(&limit_file).map_err(|e| format!("{limit_file}: {e}"))?;
    check(limit.trim() == (64u64 << 20).to_string(), || {
        format!("memory limit {limit:?}")
    })?;
    let s = cgroups::stats(&path).map_err(|e| format!("stats: {e}"))?;
    check(s.memory_limit == 64 << 20, || {
        format!("stats limit {}", s.memory_limit)
    })?;
    check(s.pids_current >= 1 && s.pids_limit == 50, || {
        format!("pids {s:?}")
    })?;
    check(s.memory_usage > 0, || format!("memory usage {s:?}"))?;
    let pids = cgroups::pids(&path).map_err(|e| format!("pids: {e}"))?;
    check(pids.contains(&init), || {
        format!("pids {pids:?} lack {init}")
    })?;
    // In the container's cgroup in every hierarchy the runtime manages (on cgroup v1 the
    // intermediate process moves itself through `tasks`: see third_party/README.md).
    let own = std::fs::read_to_string(format!("/proc/{init}/cgroup")).map_err(|e| e.to_string())?;
    const MANAGED: [&str; 8] = [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
    ];
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, cgroup) = (parts.next(), parts.next(), parts.next());
        let managed = match controllers {
            Some("") => unified,
            Some(c) => c.split(',').any(|c| MANAGED.contains(&c)),
            None => false,
        };
        check(!managed || cgroup == Some(path.as_str()), || {
            format!("init's cgroup line {line:?}, want {path}")
        })?;
    }
    cgroups::update(
        &path,
        &Resources {
            memory: Some(128 << 20),
            ..Default::default()
        },
    )
    .map_err(|e| format!("update: {e}"))?;
    let s = cgroups::stats(&path).map_err(|e| format!("stats: {e}"))?;
    check(s.memory_limit == 128 << 20, || {
        format!("updated limit {}", s.memory_limit)
    })?;
    // pause/resume through the runtime, and the freeze helper.
    f.runtime.pause(&f.id).map_err(|e| format!("pause: {e}"))?;
    f.runtime
        .resume(&f.id)
        .map_err(|e| format!("resume: {e}"))?;
    cgroups::freeze(&path, true).map_err(|e| format!("freeze: {e}"))?;
    cgroups::freeze(&path, false).map_err(|e| format!("thaw: {e}"))?;
    check(!cgroups::oom_killed(&path), || {
        "oom_killed without OOM".into()
    })?;
    // PID 1 ignores SIGTERM without a handler: SIGKILL it.
    f.runtime
        .kill(&f.id, libc::SIGKILL, false)
        .map_err(|e| format!("kill: {e}"))?;
    let code = wait_exit(init)?;
    check(code == 137, || format!("exit code {code}, want 137"))
}

fn user(f: &Fixture) -> Result<(), String> {
    let mut input = f.input(&["id"]);
    input.user = resolve_user(&f.rootfs(), "app").map_err(|e| e.to_string())?;
    let (io, out) = pipe_io()?;
    let pid = f.run(&input, io)?;
    let text = read_all(out)?;
    wait_exit(pid)?;
    check(
        text.starts_with("uid=1000") && text.contains("gid=1000") && text.contains("2000"),
        || format!("id: {text:?}"),
    )
}

fn init(f: &Fixture) -> Result<(), String> {
    let mut input = f.input(&["sh", "-c", "echo pid=$$; exit 7"]);
    input.init = true;
    if !f.is_builtin {
        // --init is the built-in runtime's executor; runc refuses rather than ignore it.
        f.write_bundle(&input)?;
        let err = f.runtime.create(&f.id, &f.bundle(), null_io()?);
        return check(
            matches!(&err, Err(e) if e.to_string().contains("--init")),
            || format!("runc with --init: {err:?}"),
        );
    }
    let (io, out) = pipe_io()?;
    let pid = f.run(&input, io)?;
    let text = read_all(out)?;
    let code = wait_exit(pid)?;
    check(text.trim() == "pid=2", || format!("init output {text:?}"))?;
    check(code == 7, || format!("exit code {code}, want 7"))
}

/// Runs `script` with `input` and returns (exit code, output).
fn run_script(f: &Fixture, input: &SpecInput) -> Result<(i32, String), String> {
    let (io, out) = pipe_io()?;
    let pid = f.run(input, io)?;
    let text = read_all(out)?;
    let code = wait_exit(pid)?;
    f.runtime
        .delete(&f.id, true)
        .map_err(|e| format!("delete: {e}"))?;
    Ok((code, text))
}

fn privileged_and_read_only(f: &Fixture) -> Result<(), String> {
    // Each run makes its own directory: the runs share one rootfs.
    let script = |dir: &str| {
        format!(
            "mount -t tmpfs x /mnt 2>&1 && echo mounted; mkdir /{dir} 2>&1 && echo made; \
             cat /proc/kcore >/dev/null 2>&1 && echo kcore; ls /dev | grep -c ."
        )
    };
    // Default: no mount (seccomp + caps), rootfs writable, kcore masked.
    let (_, text) = run_script(f, &f.input(&["sh", "-c", &script("d1")]))?;
    check(
        !text.contains("mounted") && text.contains("made") && !text.contains("kcore"),
        || format!("default: {text:?}"),
    )?;
    let default_devices: usize = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    // Read-only rootfs.
    let mut input = f.input(&["sh", "-c", &script("d2")]);
    input.read_only = true;
    let (_, text) = run_script(f, &input)?;
    check(
        text.contains("Read-only file system") && !text.contains("made"),
        || format!("read-only: {text:?}"),
    )?;
    // no_new_privileges loads the filter after the capability drop: still enforced.
    let mut input = f.input(&[
        "sh",
        "-c",
        "unshare -U true 2>/dev/null && echo ok || echo denied",
    ]);
    input.no_new_privileges = true;
    let (_, text) = run_script(f, &input)?;
    check(text.trim() == "denied", || {
        format!("no-new-privileges: {text:?}")
    })?;
    // Privileged: mount works and the host's devices are there.
    let mut input = f.input(&["sh", "-c", &script("d3")]);
    input.privileged = true;
    let (_, text) = run_script(f, &input)?;
    let devices: usize = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    check(text.contains("mounted") && text.contains("made"), || {
        format!("privileged: {text:?}")
    })?;
    check(devices > default_devices, || {
        format!("privileged sees {devices} devices, default {default_devices}")
    })
}
